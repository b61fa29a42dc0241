"""The shop's identity: names, tone, city, pickup point, hours and money, from a `shop.yml` beside the inventory.

A new shop brings its spreadsheet, photos, documents and this file; nothing in `domain.yml` or the code names a
shop. `SHOP_PROFILE_PATH` points elsewhere when the file does not sit beside `INVENTORY_PATH`. Shop *facts*
(delivery terms, prices of services, returns) are not here: they are answered from the shop's documents.
"""
from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

logger = logging.getLogger(__name__)

PROFILE_FILE_NAME = "shop.yml"
REQUIRED_FIELDS = ("shop_name", "assistant_name", "city")


class ShopProfileError(ValueError):
    """shop.yml cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Currency:
    code: str = "KZT"
    symbol: str = "₸"
    format: str = "{amount} {symbol}"
    thousands_separator: str = " "
    decimals: int = 0

    def format_amount(self, amount: float) -> str:
        """42000 -> '42 000 ₸' (a plain space: narrow spaces are not rendered by every phone)."""
        grouped = f"{amount:,.{int(self.decimals)}f}"  # '1,234.50'
        decimal_mark = "." if self.thousands_separator == "," else ","
        number = grouped.replace(",", "\x00").replace(".", decimal_mark).replace("\x00", self.thousands_separator)
        return self.format.format(amount=number, symbol=self.symbol, code=self.code)


@dataclass(frozen=True)
class ShopProfile:
    shop_name: str
    assistant_name: str
    city: str
    assistant_role: str = "помощница"
    tone: str = "дружелюбно и коротко, на «вы»"
    emoji: str = ""
    goods: str = ""
    country: str = ""
    timezone: str = ""
    pickup_point: str = ""
    working_hours: str = ""
    manager_hours: str = ""
    currency: Currency = field(default_factory=Currency)
    source: str = ""

    @property
    def pickup_address(self) -> str:
        """What the order says when the customer collects it herself."""
        return f"Самовывоз: {self.pickup_point}" if self.pickup_point else "Самовывоз"

    def format_money(self, amount: float) -> str:
        return self.currency.format_amount(amount)

    @property
    def assistant_intro(self) -> str:
        """«Я Алина, помощница магазина «Оттенок»», or without names what is known: «Я помощник магазина»."""
        shop = f"магазина «{self.shop_name}»" if self.shop_name else "магазина"
        if self.assistant_name:
            return f"Я {self.assistant_name}, {self.assistant_role} {shop}"
        return f"Я виртуальный помощник {shop}"

    def slots(self) -> Dict[str, str]:
        """The values the responses of domain.yml use as {placeholders}; each reads well when unknown."""
        return {
            "shop_name": self.shop_name or "магазин", "assistant_name": self.assistant_name or "помощник",
            "assistant_role": self.assistant_role, "assistant_intro": self.assistant_intro,
            "shop_emoji": self.emoji, "shop_city": self.city,
            "pickup_point": self.pickup_point or "—", "working_hours": self.working_hours or "—",
            "manager_hours": self.manager_hours or self.working_hours or "в рабочее время",
            "pickup_hint": f" (или «самовывоз»: {self.pickup_point})" if self.pickup_point else " (или «самовывоз»)",
        }


def parse_profile(data: Mapping[str, Any], source: str = "shop.yml") -> ShopProfile:
    if not isinstance(data, Mapping):
        raise ShopProfileError(f"Shop profile {source}: expected a mapping of fields, got {type(data).__name__}")
    missing = [name for name in REQUIRED_FIELDS if not str(data.get(name) or "").strip()]
    if missing:
        raise ShopProfileError(f"Shop profile {source}: missing field(s): {', '.join(missing)}")
    known = {f for f in ShopProfile.__dataclass_fields__ if f not in ("currency", "source")}
    unknown = sorted(set(data) - known - {"currency"})
    if unknown:
        logger.warning("shop profile %s: unknown field(s) ignored: %s", source, ", ".join(unknown))
    values = {name: " ".join(str(data[name]).split()) for name in known if data.get(name) is not None}
    currency_data = data.get("currency") or {}
    if not isinstance(currency_data, Mapping):
        raise ShopProfileError(f"Shop profile {source}: currency must be a mapping (code, symbol, format)")
    try:
        currency = Currency(**{k: currency_data[k] for k in Currency.__dataclass_fields__ if k in currency_data})
        currency.format_amount(1000)
    except (TypeError, KeyError, ValueError) as exc:
        raise ShopProfileError(f"Shop profile {source}: currency is not usable: {exc}") from exc
    return ShopProfile(currency=currency, source=source, **values)


def load_profile(path: Path) -> ShopProfile:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShopProfileError(f"Shop profile {path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ShopProfileError(f"Shop profile {path} is not valid YAML: {exc}") from exc
    return parse_profile(data or {}, str(path))


def profile_path(inventory_path: Path, override: Optional[str] = None) -> Path:
    """SHOP_PROFILE_PATH if set, else shop.yml in the inventory's folder."""
    if override:
        return Path(override).expanduser()
    return Path(inventory_path).parent / PROFILE_FILE_NAME


_QUOTED_NAME = re.compile(r"«([^«»\n]{2,40})»")
_CHAT_MANAGER = re.compile(r"^\S.{0,60}? - (.{2,40}?) (?:[Мм]енеджер|[Mm]anager|[Аа]дминистратор)\s*:", re.M)
_CURRENCY_SIGNS = {
    "KZT": (re.compile(r"₸|\d\s*тг\b|тенге", re.I), "₸"),
    "RUB": (re.compile(r"₽|\d\s*руб|\d\s*р\.", re.I), "₽"),
    "KGS": (re.compile(r"\d\s*сом\b", re.I), "сом"),
    "UZS": (re.compile(r"\d\s*сум\b", re.I), "сум"),
}


def profile_from_documents(docs_dir: Path) -> ShopProfile:
    """A shop that brought no shop.yml: its name and currency as its own documents write them.

    The name is the one the shop's managers sign with in a chat export («СпортЛайн Менеджер: …»), else the name
    quoted most often in the documents; the currency is the one their prices are written in. Everything else
    stays unknown, and the responses read well without it.
    """
    texts: List[str] = []
    names: Counter = Counter()
    for path in sorted(Path(docs_dir).glob("**/*")) if Path(docs_dir).is_dir() else []:
        if path.suffix.lower() in (".md", ".txt"):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            texts.append(text)
            names.update({name.strip(): 3 for name in _CHAT_MANAGER.findall(text)})
    all_text = "\n".join(texts)
    if not names:
        names.update(name.strip() for name in _QUOTED_NAME.findall(all_text) if name.strip()[:1].isupper())
    shop_name = names.most_common(1)[0][0] if names else ""
    counts = {code: len(pattern.findall(all_text)) for code, (pattern, _) in _CURRENCY_SIGNS.items()}
    code = max(counts, key=lambda c: counts[c]) if any(counts.values()) else ""
    currency = Currency(code=code, symbol=_CURRENCY_SIGNS[code][1]) if code else Currency(
        code="", symbol="", format="{amount}")
    return ShopProfile(shop_name=shop_name, assistant_name="", city="", assistant_role="помощник",
                       currency=currency, source=f"documents in {docs_dir}")


@lru_cache(maxsize=1)
def get_profile() -> ShopProfile:
    """The profile of the shop this process serves (read once; a restart picks up edits).

    Never raises: without a usable shop.yml the identity comes from the shop's documents, and the reason is logged
    once with the file and the field to fix.
    """
    from salesbot.settings import PROJECT_ROOT, get_settings

    settings = get_settings()
    path = profile_path(settings.inventory_path, os.environ.get("SHOP_PROFILE_PATH", "").strip() or None)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return profile_or_documents(path, settings.knowledge_docs_dir)


def profile_or_documents(path: Path, docs_dir: Path) -> ShopProfile:
    """The profile in `path`, or, when it is missing or broken, the identity the shop's documents give (logged)."""
    try:
        return load_profile(path)
    except ShopProfileError as error:
        profile = profile_from_documents(docs_dir)
        logger.warning("%s; the shop's identity is read from its documents instead: name %r, currency %r. "
                       "Put a shop.yml beside the inventory (see shop/shop.yml) to set it.", error,
                       profile.shop_name, profile.currency.code)
        return profile
