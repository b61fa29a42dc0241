"""Reading a customer's message for the order on both demo shops: sizes of any kind, towns, addresses,
products that must not be swapped for another one."""
from pathlib import Path

import pytest

from salesbot.addresses import looks_like_address
from salesbot.inventory import load_inventory
from salesbot.order_reading import choose_product, read_message
from salesbot.places import find_city
from salesbot.sizes import find_sizes, last_size, normalize_size, size_sort_key

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sport():
    return load_inventory(ROOT / "shops" / "sport" / "inventory.csv")


@pytest.fixture(scope="module")
def shoes():
    return load_inventory(ROOT / "shop" / "inventory.csv")


@pytest.mark.parametrize("raw, expected", [("xl", "XL"), ("2xl", "XXL"), (" m ", "M"), ("48", "48"), (48.0, "48"),
                                           ("38,5", "38.5"), ("one size", "ONE SIZE"), ("98-104", "98-104")])
def test_sizes_are_normalised_for_display(raw, expected):
    assert normalize_size(raw) == expected


def test_letter_sizes_sort_in_garment_order():
    assert sorted(["XL", "S", "L", "M", "XS"], key=size_sort_key) == ["XS", "S", "M", "L", "XL"]
    assert sorted(["92", "80", "86"], key=size_sort_key) == ["80", "86", "92"]


@pytest.mark.parametrize("text, known, expecting, size", [
    ("худи пума серое L", ["S", "M", "L", "XL"], False, "L"),
    ("давайте m", ["S", "M", "L"], True, "M"),
    ("м", ["S", "M", "L"], True, "M"),
    ("худи с капюшоном", ["S", "M", "L"], True, None),
    ("на 80 рост", ["86", "92", "98"], False, "80"),      # not in stock, but said to be a size: told plainly
    ("рост 92", ["86", "92", "98"], False, "92"),
    ("кроссовки нью баланс 574 бежевые 42", ["40", "41", "42", "43"], False, "42"),
    ("носки 3 пары", ["36-39", "40-43"], False, None),
    ("брюки 48 размера", ["46", "48", "50"], False, "48"),
    ("ой нет, не 48 а 50", ["46", "48", "50"], False, "50"),
    ("35", ["37", "38"], True, "35"),
    ("40000 тг", ["40"], False, None),
    ("87011234567", ["40"], True, None),
])
def test_sizes_come_from_the_products_sizes(text, known, expecting, size):
    assert last_size(text, known, expecting, ignore_numbers=["574", "3"]) == size


def test_a_number_of_the_product_name_is_not_a_size():
    assert find_sizes("air force 1 42", ["40", "41", "42"], ignore_numbers=["1"]) == ["42"]


@pytest.mark.parametrize("text, city", [
    ("в екатеринбург", "Екатеринбург"), ("в казани", "Казань"), ("пермь", "Пермь"), ("в алмату", "Алматы"),
    ("Астану", "Астана"), ("нур-султан", "Астана"), ("усть каменогорск", "Усть-Каменогорск"),
    ("екатеринбур", "Екатеринбург"), ("питер", "Санкт-Петербург"), ("москву", "Москва"), ("Караганды", "Караганда"),
    ("белые", None), ("всё верно", None), ("кроссовки асикс есть?", None), ("давайте синий", None),
])
def test_towns_of_kazakhstan_and_russia_in_any_case_form(text, city):
    assert find_city(text) == city


def test_in_an_address_a_word_before_a_house_number_is_a_street():
    assert find_city("абая 12 кв 5", in_address=True) is None
    assert find_city("Астана, Абая 12", in_address=True) == "Астана"
    assert find_city("г. Шымкент ул Абая 12", in_address=True) == "Шымкент"


@pytest.mark.parametrize("text, is_address", [
    ("ул Малышева 10 кв 5", True), ("Абая 150", True), ("мкр Самал-2, д 5", True), ("самовывоз", True),
    ("Тверская 7а", True), ("ой нет, лучше 39", False), ("давайте чёрные", False), ("нет", False), ("40", False),
    ("не 38 а 39", False), ("размер 40", False),
])
def test_what_looks_like_an_address(text, is_address):
    assert looks_like_address(text) is is_address


def test_a_brand_the_shop_does_not_carry_is_not_replaced_by_another_product(sport):
    product, candidates, foreign = choose_product(sport, "хочу сумку гуччи")
    assert product is None and foreign == "гуччи"
    assert [p.name for p in candidates] == ["Asics спортивная сумка"]
    assert choose_product(sport, "сумку асикс")[0].name == "Asics спортивная сумка"
    assert choose_product(sport, "хочу лоферы гуччи коричневые 38 в астану")[0] is None


def test_an_all_in_one_message_is_read_whole(sport):
    reading = read_message("хочу кроссовки new balance 574 бежевые 42 в екатеринбург", sport, None, {})
    assert (reading.product, reading.size, reading.color, reading.city) == (
        "New Balance кроссовки 574", "42", "бежевый", "Екатеринбург")


def test_a_brand_in_cyrillic_is_never_a_city(sport):
    reading = read_message("кроссовки асикс есть?", sport, "city", {})
    assert reading.product == "Asics кроссовки Gel-Kayano 30" and reading.city is None


def test_at_the_address_step_a_correction_is_not_an_address(sport):
    current = {"product": "Puma худи Essentials", "size": "M", "color": "серый", "city": "Пермь"}
    reading = read_message("ой нет, лучше L", sport, "address", current)
    assert reading.address is None and reading.size == "L" and reading.not_an_address
    reading = read_message("давайте всё-таки черное", sport, "address", current)
    assert reading.address is None and reading.color == "черный"
    reading = read_message("ул Ленина 20 кв 1", sport, "address", current)
    assert reading.address == "ул Ленина 20 кв 1" and reading.size is None and reading.city is None


def test_kids_height_and_shoe_sizes(sport):
    current = {"product": "Reebok детский костюм"}
    assert read_message("на 80 рост", sport, None, current).size == "80"
    assert read_message("86", sport, "size", current).size == "86"
