"""Customers' phone numbers: parsed with `phonenumbers`, stored in E.164 and as a GREEN-API chatId."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence, Set

import phonenumbers
from phonenumbers import PhoneNumberType

MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
COUNTRY_CODES = {"казахстан": "KZ", "kazakhstan": "KZ", "россия": "RU", "russia": "RU", "рф": "RU",
                 "кыргызстан": "KG", "киргизия": "KG", "узбекистан": "UZ", "беларусь": "BY"}


class PhoneError(ValueError):
    """Not a phone a notification can go to; the message says why (in English, for the API's caller)."""


def region_of_country(country: str, default: str = "KZ") -> str:
    """The profile's country ('Казахстан', 'KZ') as a region code for parsing national numbers."""
    text = (country or "").strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return COUNTRY_CODES.get(text.lower(), default)


def _parse(text: str, default_region: str) -> Optional[phonenumbers.PhoneNumber]:
    candidates = [text]
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and not text.strip().startswith("+"):
        candidates.append("+" + digits)  # '77011234567': the country code without its plus
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def normalise_phone(text: str, default_region: str = "KZ", allowed_regions: Sequence[str] = ("KZ", "RU")) -> str:
    """'8 701 123 45 67', '+7 (701) 123-45-67', '77011234567' → '+77011234567'. Raises PhoneError for a number
    that is not valid, not a mobile, or of a region not in `allowed_regions`."""
    if not isinstance(text, str) or not text.strip():
        raise PhoneError("phone is required")
    if len(text) > 40:
        raise PhoneError("phone is too long")
    number = _parse(text, default_region)
    if number is None:
        raise PhoneError("not a valid phone number")
    region = phonenumbers.region_code_for_number(number)
    if region not in set(allowed_regions):
        raise PhoneError(f"phone of region {region or 'unknown'} is not allowed (NOTIFY_COUNTRIES)")
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise PhoneError("not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def chat_id_of(e164: str) -> str:
    return e164.lstrip("+") + "@c.us"


def phone_keys(phones: Iterable[str], default_region: str = "KZ") -> Set[str]:
    """Digits in international form of each phone (any country, any type): the staff list."""
    keys: Set[str] = set()
    for phone in phones:
        number = _parse(phone, default_region)
        if number is not None:
            keys.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+"))
        else:
            digits = "".join(ch for ch in phone if ch.isdigit())
            if digits:
                keys.add(digits)
    return keys
