import pytest

from salesbot.extract import extract_colors, format_price
from salesbot.sizes import last_size

SHOE_SIZES = [str(n) for n in range(35, 42)] + ["38.5"]


@pytest.mark.parametrize("text, size", [
    ("37", "37"), ("37й", "37"), ("хочу 37-го размера", "37"), ("размер 38,5", "38.5"),
    ("нет лучше 38", "38"), ("нет, не 37, а 38", "38"), ("шанель 37 черные", "37"),
    ("87011234567", None), ("дом 137", None), ("40000 тг", None), ("привет", None),
])
def test_shoe_sizes(text, size):
    assert last_size(text, SHOE_SIZES) == size


@pytest.mark.parametrize("text, colors", [
    ("черные", ["черный"]), ("Чёрную", ["черный"]), ("белые", ["белый"]), ("беж", ["бежевый"]),
    ("синяя", ["синий"]), ("серые", ["серый"]), ("серебристые", ["серебристый"]), ("бордовые", ["бордовый"]),
    ("черненькие", ["черный"]), ("не черные а белые", ["черный", "белый"]), ("сердце", []), ("белье", []),
])
def test_colors(text, colors):
    assert extract_colors(text) == colors


def test_colors_of_the_live_inventory_are_found_by_stem():
    assert extract_colors("хочу лавандовые", known=["лавандовый"]) == ["лавандовый"]


def test_price_format():
    assert format_price(42000) == "42 000 ₸"
