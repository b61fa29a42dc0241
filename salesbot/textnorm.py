"""Text normalisation for matching what customers type against the spreadsheet.

Customers write Latin brands in Cyrillic («шанель», «гуччи», «найк») and make typos. Both sides are mapped
to one rough phonetic Latin key, so «шанель» and "Chanel" meet at "sanel" without a hand-written map per brand.
"""
from __future__ import annotations

import re
from typing import Any, List, Tuple

_CYR_TO_LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "қ": "k", "ә": "a", "ө": "o", "ү": "u", "ұ": "u", "ғ": "g", "ң": "n",
    "һ": "h", "і": "i",
}

# Ordered: longer spellings first, so "ch" is consumed before the lone "c" and "h" rules.
_PHONETIC_RULES: List[Tuple["re.Pattern[str]", Any]] = [  # (pattern, text or function)
    (re.compile(r"dzh|dz|dj"), "z"),
    (re.compile(r"sch|tch"), "ch"),
    (re.compile(r"(ch)+"), "ch"),
    (re.compile(r"c+(?=[iey])"), "s"),
    (re.compile(r"ch|sh|zh"), lambda m: "s" if m.group(0) != "zh" else "z"),
    (re.compile(r"ts|tz"), "s"),
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck|q|c|kh"), "k"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"w"), "v"),
    (re.compile(r"j"), "z"),
    (re.compile(r"h"), ""),
    (re.compile(r"y"), "i"),
    (re.compile(r"ou|oo"), "u"),
    (re.compile(r"[ae]i"), "i"),
    (re.compile(r"(.)\1+"), r"\1"),
    (re.compile(r"(?<=[^aeiou])e$"), ""),
]

_WORD_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)?|[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)


def normalize(text: str) -> str:
    """Lower case, ё→е, punctuation and emoji dropped, single spaces."""
    text = text.lower().replace("ё", "е")
    return " ".join(_WORD_RE.findall(text))


def words(text: str) -> List[str]:
    return _WORD_RE.findall(text.lower().replace("ё", "е"))


def to_latin(text: str) -> str:
    return "".join(_CYR_TO_LAT.get(ch, ch) for ch in text.lower().replace("ё", "е"))


def phonetic_key(word: str) -> str:
    """A rough sound key of one word in either script: chanel/шанель -> 'sanel', gucci/гуччи -> 'gusi'."""
    key = to_latin(word)
    key = re.sub(r"[^a-z0-9]", "", key)
    if key.isdigit():
        return key
    for pattern, replacement in _PHONETIC_RULES:
        key = pattern.sub(replacement, key)
    return key


def has_latin(text: str) -> bool:
    return bool(re.search(r"[a-zA-Z]", text))
