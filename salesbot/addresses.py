"""Whether a customer's message is a delivery address, a pickup, or something else typed at the address step.

«ул Малышева 10 кв 5», «Абая 150», «мкр Самал-2, д 5», «самовывоз» are addresses; «ой нет, лучше 39»,
«давайте чёрные», «нет», «40» are not: they are corrections or answers to another question.
"""
from __future__ import annotations

import re
from typing import Iterable

from salesbot.textnorm import normalize, words

PICKUP_RE = re.compile(r"самовывоз|заберу\s+(?:сам|сама|лично)|сам[аи]?\s+заберу|пункт\w*\s+выдач|шоу\s?рум|"
                       r"из\s+магазин|в\s+магазин\w*\s+заберу|приеду\s+сам")
STREET_MARKERS = re.compile(
    r"(?<!\w)(?:ул|улица|улице|пр|пр-т|просп|проспект\w*|пер|переул\w*|б-р|бульвар\w*|шоссе|ш|пл|площад\w*|"
    r"мкр|мкрн|микрорайон\w*|мкр-н|наб|набережн\w*|тракт\w*|проезд\w*|аллея|аллее|д|дом|кв|квартир\w*|"
    r"корп|корпус\w*|стр|строение|подъезд\w*|этаж\w*|офис\w*|жк|жилой|район\w*|р-н|село|посел\w*|пос|аул\w*|"
    r"деревн\w*|снт|тц|бц|индекс)(?!\w)")
# Words that start a correction or an answer, never a street name («лучше 39», «давайте 40», «нет 38»).
NOT_A_STREET = frozenset("""
    нет не да ой лучше давайте давай можно хочу возьму беру поменяйте поменять замените измените другой другую
    другое размер размера размеру цвет цвета модель пожалуйста а и или тогда все всё таки всетаки только на в
    у с по за от до мне нам есть ещё еще вот это этот эту уже ну так же бы если какой какая какие сколько
""".split())


def is_pickup(text: str) -> bool:
    return bool(PICKUP_RE.search(normalize(text)))


def looks_like_address(text: str, not_streets: Iterable[str] = ()) -> bool:
    """A street with a house number, a district or settlement marker, or a pickup; not a bare size or word.

    `not_streets`: words that mean something else in this shop (colours, product words), so «черные 39» is not
    «street Черные, house 39».
    """
    if is_pickup(text):
        return True
    lowered = normalize(text)
    if STREET_MARKERS.search(lowered) and re.search(r"\d|[^\W\d_]{3,}", lowered):
        return True
    excluded = NOT_A_STREET | {w.lower().replace("ё", "е") for w in not_streets}
    tokens = words(lowered)
    for index, token in enumerate(tokens[:-1]):
        number = tokens[index + 1]
        # «Абая 150», «Малышева 10/2», «Тверская 7а»: a word of 3+ letters followed by a house number
        if re.fullmatch(r"[^\W\d_]{3,}(?:-[^\W\d_]+)?", token) and token not in excluded \
                and re.match(r"\d{1,4}", number):
            return True
    return False


def names_a_street_and_number(text: str) -> bool:
    """A street marker and a number («ул Ленина 5 кв 2»): an address even when the form asked something else."""
    lowered = normalize(text)
    return bool(STREET_MARKERS.search(lowered) and re.search(r"\d", lowered))
