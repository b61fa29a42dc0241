"""Finding sizes, colours and cities in free Russian text, independent of NLU entities.

NLU entities are a hint; these functions make the order form work for spellings and products the model
never saw. Everything returns canonical values: sizes as '37', colours as masculine singular 'черный',
cities as their official name.
"""
from __future__ import annotations

import re
from typing import Iterable, List, Optional

from salesbot.textnorm import normalize, words

_SIZE_RE = re.compile(
    r"(?<![\d.,])(3[3-9]|4[0-6])(?:[.,](5))?(?![\d.,]*\d)"
    r"(?:\s*-?\s*(?:й|ой|ый|го|ого|ом|ым|размер\w*|р\b|eu\b))?",
)
_SIZE_CONTEXT_RE = re.compile(r"размер\w*\s*(3[3-9]|4[0-6])(?:[.,](5))?(?!\d)")

# Canonical colour -> regular expression of its stem in any gender, number and case (ё already folded to е).
COLOR_STEMS = {
    "черный": r"черн(?:ый|ая|ое|ые|ую|ого|ой|ых|ым|ыми|еньк\w*)?|black",
    "белый": r"бел(?:ый|ая|ое|ые|ую|ого|ой|ых|ым|ыми|еньк\w*)|white",
    "бежевый": r"беж(?:ев\w*)?|beige",
    "красный": r"красн\w*|red",
    "розовый": r"розов\w*|pink",
    "коричневый": r"коричн\w*|brown",
    "синий": r"син(?:ий|яя|ее|ие|юю|его|ей|их|им|ими)|blue|navy",
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

# Canonical city -> stems of its spellings; a word matches when it starts with a stem.
CITY_STEMS = {
    "Алматы": ("алмат", "алма-ат", "алмаат", "almaty", "alma-ata"),
    "Астана": ("астан", "нур-султан", "нурсултан", "astana"),
    "Шымкент": ("шымкент", "чимкент", "shymkent"),
    "Караганда": ("караганд", "карагандинск", "karaganda"),
    "Актобе": ("актобе", "актюбинск", "aktobe"),
    "Тараз": ("тараз", "taraz"),
    "Павлодар": ("павлодар", "pavlodar"),
    "Усть-Каменогорск": ("усть-каменогорск", "усть каменогорск", "устькаменогорск", "оскемен", "өскемен"),
    "Семей": ("семей", "семипалатинск"),
    "Атырау": ("атырау", "atyrau"),
    "Костанай": ("костана", "кустанай"),
    "Кызылорда": ("кызылорд", "кызыл-орд"),
    "Уральск": ("уральск", "орал"),
    "Петропавловск": ("петропавловск", "петропавл"),
    "Актау": ("актау", "aktau"),
    "Талдыкорган": ("талдыкорган", "талдык"),
    "Туркестан": ("туркестан",),
    "Кокшетау": ("кокшетау", "кокчетав"),
    "Экибастуз": ("экибастуз",),
    "Жезказган": ("жезказган",),
    "Конаев": ("конаев", "капчагай", "капшагай"),
    "Темиртау": ("темиртау",),
    "Рудный": ("рудн",),
    "Балхаш": ("балхаш",),
    "Жанаозен": ("жанаозен",),
    "Каскелен": ("каскелен",),
    "Талгар": ("талгар",),
    "Есик": ("есик", "иссык"),
}


def extract_sizes(text: str) -> List[str]:
    """All shoe sizes mentioned: «37», «37й», «37-го размера», «размер 38,5» -> ['37', ...]."""
    lowered = text.lower().replace("ё", "е")
    found: List[str] = []
    for pattern in (_SIZE_CONTEXT_RE, _SIZE_RE):
        for match in pattern.finditer(lowered):
            size = match.group(1) + ("." + match.group(2) if match.group(2) else "")
            if size not in found:
                found.append(size)
    return found


def extract_size(text: str) -> Optional[str]:
    """The size the customer means: the last one mentioned («нет, не 37, лучше 38» -> '38')."""
    sizes = extract_sizes(text)
    if not sizes:
        return None
    lowered = text.lower()
    return max(sizes, key=lambda s: lowered.rfind(s.split(".")[0]))


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


def canonical_city(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    return extract_city(value)


def extract_city(text: str) -> Optional[str]:
    """A Kazakhstan city named in the text, in any case form («в алмате», «астану») -> 'Алматы'."""
    lowered = normalize(text)
    tokens = words(lowered)
    candidates = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
    for token in candidates:
        for canonical, stems in CITY_STEMS.items():
            if any(token.startswith(stem) for stem in stems):
                if canonical == "Уральск" and token.startswith("орал") and len(token) > 5:
                    continue
                return canonical
    return None


def format_price(amount: int) -> str:
    """42000 -> '42 000 ₸' in the currency of the shop's profile (shop.yml)."""
    from salesbot.shop_profile import get_profile  # lazy: reading shop.yml is I/O, never at import time

    return get_profile().format_money(amount)
