"""Customers' personal data out of chat exports before they enter the knowledge base.

Retrieval can return any chunk to anyone who asks, so a chat export must not carry another customer's phone,
address, door code, e-mail, parcel number or name. The shop's own answers (prices, terms, hours, its showroom)
are what the export is there for and stay as written, minus anything personal in them.

Who is the shop: an author whose name contains one of `shop_names` (the shop profile's name, KNOWLEDGE_SHOP_AUTHORS)
or a role word («менеджер», «магазин», «manager», …). Every other author is a customer and is written «Клиент».
A street address is cut from customers' messages, and from the shop's only when a customer of the same export
wrote it (the shop's showroom address stays).
"""
from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Iterable, List, Sequence, Set

if TYPE_CHECKING:
    from salesbot.knowledge.documents import ChatMessage

CUSTOMER = "Клиент"
PHONE, EMAIL, ADDRESS, APARTMENT, DOOR_CODE, TRACK, NAME = (
    "[телефон]", "[e-mail]", "[адрес]", "[кв.]", "[код]", "[трек-номер]", "[имя]")
SHOP_ROLE_WORDS = ("менеджер", "магазин", "админ", "консультант", "продавец", "поддержка", "manager", "shop",
                   "store", "admin", "support")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.U)
# A parcel number: after a word that announces it, or an S10 (UPU) code like RR123456789KZ.
_TRACK = re.compile(r"(?i)(трек[\s-]*(?:номер|код)?|track(?:ing)?(?:\s*(?:number|no\.?))?|накладн\w*|отправлени\w*)"
                    r"([^0-9\n]{0,25}?)([A-Za-z]{0,3}\d[\dA-Za-z-]{5,})|\b[A-Z]{2}\d{9}[A-Z]{2}\b")
# The +7 numbers people type («8 (701) 123-45-67», «+7 701 1234567») that phonenumbers did not take.
_DIGIT_RUN = re.compile(r"(?<![\d+])(?:\+7|8|7)[\s(-]{0,2}\d{3}[\s)-]{0,2}\d{3}[\s-]?\d{2}[\s-]?\d{2}(?!\d)")
_STREET = (r"(?:ул(?:\.|ица\b|\b)|пр(?:\.|оспект\b|-т\b|-кт\b)|пер(?:\.|еулок\b)|б-р\b|бульвар\b|ш(?:\.|оссе\b)|"
           r"мкр(?:\.|н\.?|\b)|микрорайон\b|наб(?:\.|ережная\b)|пл(?:\.|ощадь\b)|тупик\b|проезд\b|"
           r"аллея\b|трасса\b|дом\b|д\.)")
# «ул. Розыбакиева 247», «пр. Мангилик Ел 55/8», «мкр Самал-2, д. 5»: a street marker, a name, a house number.
_ADDRESS = re.compile(rf"(?i)(?<!\w){_STREET}\s*[^\n,;:!?]{{0,40}}?\d+[\w/-]*")
_APARTMENT = re.compile(r"(?i)(?<!\w)(?:кв(?:\.|артира\b|\b)|офис\b|оф\.|подъезд\b|под\.|блок\b|корпус\b|корп\.)"
                        r"\s*№?\s*\d+[\w/-]*")
_DOOR_CODE = re.compile(r"(?i)(?<!\w)(?:домофон\w*|код\w*(?:\s+(?:домофона|двери|подъезда|от\s+двери))?|"
                        r"дверь\s+код)\s*[:-]?\s*[\d#*№]+[\d#*кК]*")


def default_shop_names() -> List[str]:
    """KNOWLEDGE_SHOP_AUTHORS (comma-separated) and the shop profile's name, when there is a profile."""
    names = [name.strip() for name in os.environ.get("KNOWLEDGE_SHOP_AUTHORS", "").split(",") if name.strip()]
    try:
        from salesbot.shop_profile import get_profile

        names.append(get_profile().shop_name)
    except Exception:  # no or a broken shop.yml: the role words still find the shop's account
        pass
    return names


def is_shop_author(author: str, shop_names: Sequence[str]) -> bool:
    lowered = author.lower()
    return any(name and name.lower() in lowered for name in shop_names) or any(
        word in lowered for word in SHOP_ROLE_WORDS)


def _looks_like_a_phone(raw: str) -> bool:
    """A number phonenumbers found, written the way phones are: «+…», «8 …»/«7 …», or with a 3-digit group.
    A list of sizes («36 37 38 39 40») or an article number («100200300400») is no phone."""
    digits = re.sub(r"\D", "", raw)
    if not 10 <= len(digits) <= 12:
        return False
    groups = re.findall(r"\d+", raw)
    return raw.startswith("+") or digits[0] in "78" or any(len(group) == 3 for group in groups)


def _phones(text: str) -> str:
    import phonenumbers

    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
        text, "KZ", leniency=phonenumbers.Leniency.POSSIBLE, max_tries=200) if _looks_like_a_phone(m.raw_string)]
    for start, end in reversed(spans):
        text = text[:start] + PHONE + text[end:]
    return _DIGIT_RUN.sub(PHONE, text)


def _names_pattern(names: Iterable[str]):
    """Customers' first names and their case forms («Дана», «Даны», «Дане»)."""
    stems = set()
    for name in names:
        for word in re.findall(r"[^\W\d_]{3,}", name):
            stems.add(word if len(word) <= 4 else word[:-1])
    if not stems:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(s) for s in sorted(stems, key=len, reverse=True))
                      + r")\w{0,3}(?!\w)")


def redact_text(text: str, addresses: bool = True) -> str:
    """Phones, e-mails, parcel numbers, door codes and apartments out of one text; street addresses too when asked."""
    text = _EMAIL.sub(EMAIL, text)
    text = _TRACK.sub(lambda m: f"{m.group(1)}{m.group(2)}{TRACK}" if m.group(1) else TRACK, text)
    text = _DOOR_CODE.sub(DOOR_CODE, text)
    text = _phones(text)
    if addresses:
        text = _ADDRESS.sub(ADDRESS, text)
    return _APARTMENT.sub(APARTMENT, text)


def redact_chat(messages: Sequence["ChatMessage"], shop_names: Sequence[str] = ()) -> List["ChatMessage"]:
    """The export with customers renamed «Клиент» and personal data replaced by markers."""
    customers = {m.author for m in messages if not is_shop_author(m.author, shop_names)}
    names = _names_pattern(author for author in customers if not re.search(r"\d", author))
    customer_addresses: Set[str] = {match.group(0).lower() for m in messages if m.author in customers
                                    for match in _ADDRESS.finditer(m.text)}
    redacted = []
    for message in messages:
        by_customer = message.author in customers
        text = message.text
        if not by_customer:   # the shop repeating a customer's address loses it; its own showroom stays
            for address in customer_addresses:
                text = re.sub(re.escape(address), ADDRESS, text, flags=re.I)
        text = redact_text(text, addresses=by_customer)
        if names is not None:
            text = names.sub(NAME, text)
        redacted.append(replace(message, author=CUSTOMER if by_customer else message.author, text=text))
    return redacted
