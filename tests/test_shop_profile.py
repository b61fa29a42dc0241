"""The shop profile: parsing, errors that name the field, money in the shop's currency."""
from pathlib import Path

import pytest

from salesbot.shop_profile import Currency, ShopProfileError, load_profile, parse_profile, profile_path

ROOT = Path(__file__).resolve().parent.parent


def test_both_demo_shops_have_a_usable_profile():
    first = load_profile(ROOT / "shop" / "shop.yml")
    second = load_profile(ROOT / "shops" / "sport" / "shop.yml")
    assert (first.shop_name, first.city, first.format_money(42000)) == ("Оттенок", "Алматы", "42 000 ₸")
    assert (second.shop_name, second.city, second.format_money(15990)) == ("СпортЛайн", "Екатеринбург", "15 990 ₽")
    assert second.pickup_address == "Самовывоз: пункт выдачи на ул. Малышева 51 (ТЦ «Высоцкий», 1 этаж)"
    assert second.slots()["assistant_name"] == "Макс"


def test_the_profile_sits_beside_the_inventory_unless_overridden(tmp_path):
    assert profile_path(tmp_path / "stock.xlsx") == tmp_path / "shop.yml"
    assert profile_path(tmp_path / "stock.xlsx", str(tmp_path / "other.yml")) == tmp_path / "other.yml"


def test_missing_fields_and_bad_files_are_named(tmp_path):
    with pytest.raises(ShopProfileError, match="missing field.*assistant_name"):
        parse_profile({"shop_name": "X", "city": "Y"})
    broken = tmp_path / "shop.yml"
    broken.write_text("shop_name: [unclosed", encoding="utf-8")
    with pytest.raises(ShopProfileError, match="not valid YAML"):
        load_profile(broken)
    with pytest.raises(ShopProfileError, match="cannot be read"):
        load_profile(tmp_path / "absent.yml")
    with pytest.raises(ShopProfileError, match="currency"):
        parse_profile({"shop_name": "X", "assistant_name": "A", "city": "Y", "currency": "rubles"})


def test_currency_formats():
    cents = Currency(code="USD", symbol="$", format="{symbol}{amount}", thousands_separator=",", decimals=2)
    assert cents.format_amount(1234.5) == "$1,234.50"
    euros = Currency(code="EUR", symbol="€", thousands_separator=".", decimals=2)
    assert euros.format_amount(1234.5) == "1.234,50 €"
    dollars = Currency(code="USD", symbol="$", format="{symbol}{amount}", thousands_separator=",", decimals=0)
    assert dollars.format_amount(1234567) == "$1,234,567"
    assert Currency().format_amount(1500) == "1 500 ₸"
