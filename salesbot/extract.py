"""Finding colours in free Russian text, independent of NLU entities, and formatting prices.

NLU entities are a hint; these functions make the order form work for spellings the model never saw. Colours
are returned as masculine singular 'черный'. Sizes are in salesbot.sizes, towns in salesbot.places.
"""
from __future__ import annotations

import re
from typing import Iterable, List, Optional

from salesbot.textnorm import normalize

# Canonical colour -> regular expression of its stem in any gender, number and case (ё already folded to е).
COLOR_STEMS = {
    "черный": r"черн(?:ый|ая|ое|ые|ую|ого|ой|ых|ым|ыми|еньк\w*)?|black",
    "белый": r"бел(?:ый|ая|ое|ые|ую|ого|ой|ых|ым|ыми|еньк\w*)|white",
    "бежевый": r"беж(?:ев\w*)?|beige",
    "красный": r"красн\w*|red",
    "розовый": r"розов\w*|pink",
    "коричневый": r"коричн\w*|brown",
    # «синии», «синея», «синию»: unstressed endings as customers misspell them (синие, синяя, синюю)
    "синий": r"син(?:ий|яя|ее|ие|юю|его|ей|их|им|ими|ии|ия|ея|ию|ую)|blue|navy",
    "серый": r"сер(?:ый|ая|ое|ые|ую|ого|ой|ых|ым|еньк\w*)|grey|gray",
    "зеленый": r"зелен\w*|green",
    "золотой": r"золот\w*|gold",
    "серебристый": r"серебр\w*|silver",
    "пудровый": r"пудр\w*",
    "бордовый": r"бордо\w*|burgundy",
    "оранжевый": r"оранж\w*|orange",
    "голубой": r"голуб\w*",
    "желтый": r"желт\w*|yellow",
    "фиолетовый": r"фиолет\w*|purple",
    "молочный": r"молочн\w*",
    "леопардовый": r"леопард\w*",
}
_COLOR_RES = {canonical: re.compile(rf"(?<!\w)(?:{stem})(?!\w)") for canonical, stem in COLOR_STEMS.items()}

def canonical_color(value: Optional[str], known: Iterable[str] = ()) -> Optional[str]:
    """Map any form of a colour to its canonical name; `known` adds the colours of the live inventory."""
    if not value:
        return None
    colors = extract_colors(value, known)
    if colors:
        return colors[-1]
    return None


def extract_colors(text: str, known: Iterable[str] = ()) -> List[str]:
    """Colours mentioned, in order of appearance, canonical names."""
    lowered = normalize(text)
    hits = []
    for canonical, pattern in _COLOR_RES.items():
        for match in pattern.finditer(lowered):
            hits.append((match.start(), canonical))
    # Colours of the live spreadsheet that the lexicon does not know («лавандовый»): match by stem.
    for color in known:
        color = color.lower().replace("ё", "е")
        if color in _COLOR_RES:
            continue
        stem = re.sub(r"(ый|ий|ой|ая|яя|ое|ее|ые|ие)$", "", color)
        if len(stem) < 3:
            continue
        for match in re.finditer(rf"(?<!\w){re.escape(stem)}\w*", lowered):
            hits.append((match.start(), color))
    hits.sort()
    result: List[str] = []
    for _, canonical in hits:
        if canonical not in result:
            result.append(canonical)
    return result


def format_price(amount: int) -> str:
    """42000 -> '42 000 ₸' in the currency of the shop's profile (shop.yml)."""
    from salesbot.shop_profile import get_profile  # lazy: reading shop.yml is I/O, never at import time

    return get_profile().format_money(amount)
