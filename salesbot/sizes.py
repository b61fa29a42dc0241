"""Sizes of any kind of goods: shoe sizes, letter sizes (XS…3XL), Russian clothing sizes, kids' heights, volumes.

What counts as a size comes from the spreadsheet, not from a fixed range: a number is read as a size when the
product (or the shop) has that size, or when the customer says it is one («размер 39», «на 80 рост», «39-й»).
So «кроссовки 574 42» finds 42 for a shop whose sneakers come in 40–46, and «носки 3 пары» finds no size at all.
"""
from __future__ import annotations

import math
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

LETTER_ORDER = ("XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "XXXXL")
# «2XL» and «XXL» are the same size; the spreadsheet's spelling is what the customer sees.
_LETTER_ALIASES = {"2XS": "XXS", "2XL": "XXL", "3XL": "XXXL", "4XL": "XXXXL"}
_LETTER_RE = re.compile(r"(?<![\w])(x{0,4}s|m|x{0,4}l|[2-4]x[sl])(?![\w])", re.IGNORECASE)
# Cyrillic letters customers type for S/M/L on a Russian keyboard; only trusted when a size is expected.
_CYRILLIC_LETTERS = {"с": "S", "м": "M", "л": "L", "хс": "XS", "хл": "XL", "ххл": "XXL", "эс": "S", "эм": "M",
                     "эль": "L"}
_NUMBER_RE = re.compile(r"(?<![\d.,])(\d{1,3})(?:[.,](5))?(?![\d]|[.,]\d)")
# Words around a number that make it a size whatever the spreadsheet says.
_BEFORE = re.compile(r"(?:размер\w*|разм\.?|р-р|рост\w*|на\s+рост\w*|eu|ru)\s*[:\-]?\s*$")
_AFTER = re.compile(r"^\s*(?:-?\s*(?:й|ой|ый|го|ого|ом|ым)\b|размер\w*|р\b|разм\w*|рост\w*|см\b|eu\b)")
_PHONE_RE = re.compile(r"\+?\d[\d\s\-()]{8,}\d")


def letter_size(token: str) -> Optional[str]:
    upper = token.strip().upper().replace("Х", "X")
    upper = _LETTER_ALIASES.get(upper, upper)
    return upper if upper in LETTER_ORDER else None


def normalize_size(value: object) -> Optional[str]:
    """Spreadsheet or customer spelling -> the shop's canonical text: 37.0 -> '37', '38,5' -> '38.5',
    'xl' -> 'XL', '37-го' -> '37', 'One Size' -> 'ONE SIZE'; empty -> None."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    text = " ".join(str(value).strip().split())
    if not text or text.lower() == "nan":
        return None
    letter = letter_size(text)
    if letter:
        return letter
    match = re.fullmatch(r"(\d{1,3})(?:[.,](\d))?\s*(?:-?\s*(?:й|ой|ый|го|ого|ом|ым)|р\.?|размер\w*|см)?",
                         text.lower())
    if match:
        whole, fraction = match.group(1), match.group(2)
        return whole if not fraction or fraction == "0" else f"{whole}.{fraction}"
    return text.upper() if re.search(r"[a-zA-Z]", text) else text


def size_key(size: str) -> str:
    """Two spellings of one size compare equal: 'XXL' == '2XL', '38,5' == '38.5'."""
    normalized = normalize_size(size) or ""
    return _LETTER_ALIASES.get(normalized, normalized)


def size_sort_key(size: str) -> Tuple[int, float, str]:
    """Numbers by value, letters in garment order (XS < S < M < L < XL), anything else after them."""
    key = size_key(size)
    if key in LETTER_ORDER:
        return (1, float(LETTER_ORDER.index(key)), key)
    try:
        return (0, float(key.replace(",", ".")), key)
    except ValueError:
        return (2, math.inf, key)


def _known_by_key(known: Iterable[str]) -> Dict[str, str]:
    return {size_key(size): size for size in known if size}


def find_sizes(text: str, known: Sequence[str] = (), expecting: bool = False,
               ignore_numbers: Iterable[str] = ()) -> List[str]:
    """Sizes the text names, in order of appearance, in the spreadsheet's spelling when the shop has them.

    `known`: the sizes of the product (or of the shop) the customer may mean. `expecting`: the bot has just
    asked for the size, so a bare number or a Cyrillic «м» is an answer. `ignore_numbers`: numbers that are
    part of a product's name («574», «Air Force 1»), never a size.
    """
    lowered = text.lower().replace("ё", "е")
    by_key = _known_by_key(known)
    ignored = {str(n) for n in ignore_numbers}
    hits: List[Tuple[int, str]] = []
    # Sizes of the spreadsheet that are neither numbers nor letters («98-104», «ONE SIZE», «S/M»): literally.
    for key, spelled in by_key.items():
        if not re.fullmatch(r"\d+(\.\d)?", key) and key not in LETTER_ORDER and len(key) >= 3:
            position = lowered.find(key.lower())
            if position >= 0:
                hits.append((position, spelled))
    for match in _LETTER_RE.finditer(text):
        letter = letter_size(match.group(1))
        if letter and (letter in by_key or expecting or not by_key or _BEFORE.search(lowered[:match.start()])):
            hits.append((match.start(), by_key.get(letter, letter)))
    if expecting or re.search(r"размер\w*\s*$", lowered):
        for word, letter in _CYRILLIC_LETTERS.items():
            # only as the last word or right after «размер»: «худи с капюшоном» has no size S in it
            for match in re.finditer(rf"(?<!\w){word}(?=\W*$)", lowered):
                if len(lowered.split()) <= 4 or _BEFORE.search(lowered[:match.start()]):
                    hits.append((match.start(), by_key.get(letter, letter)))
    phones = [m.span() for m in _PHONE_RE.finditer(lowered)]
    for match in _NUMBER_RE.finditer(lowered):
        if any(start <= match.start() < end for start, end in phones):
            continue
        whole, half = match.group(1), match.group(2)
        if whole in ignored and not half:
            continue
        value = f"{whole}.5" if half else whole
        before, after = lowered[:match.start()], lowered[match.end():]
        if re.match(r"\s*(?:тг|тенге|руб|р\.|₽|₸|тыс|к\b|%|шт|пар)", after):
            continue  # prices, quantities, phone numbers
        explicit = bool(_BEFORE.search(before) or _AFTER.match(after))
        if value in by_key or explicit or (expecting and not by_key):
            hits.append((match.start(), by_key.get(value, value)))
        elif expecting and len(lowered.split()) <= 3:
            hits.append((match.start(), value))  # «35» to «Какой размер?»: an answer, even if not in stock
    hits.sort()
    result: List[str] = []
    for _, size in hits:
        if size not in result:
            result.append(size)
    return result


def last_size(text: str, known: Sequence[str] = (), expecting: bool = False,
              ignore_numbers: Iterable[str] = ()) -> Optional[str]:
    """The size the customer means: the last one named («не 38, а 39» -> '39')."""
    sizes = find_sizes(text, known, expecting, ignore_numbers)
    return sizes[-1] if sizes else None
