"""The simulator's scripted customers and its order comparison, checked without servers.

Every expected order must be something the shop can sell (the product, size and colour in stock in
shops/sport/inventory.csv, the price the spreadsheet says), and every customer who orders must confirm at the
summary, as real customers do; otherwise the simulator would measure its own mistakes."""
import csv

import pytest

from devstack.simulator import SPORT_SHOP, Customer, compare, load_customers, parse_order_post
from salesbot.shop_profile import load_profile

CUSTOMERS = load_customers()
STOCK = list(csv.DictReader((SPORT_SHOP / "inventory.csv").open(encoding="utf-8")))


def rub(amount: str) -> str:
    return f"{int(amount):,}".replace(",", " ") + " ₽"


def test_there_are_at_least_forty_customers_with_unique_names():
    assert len(CUSTOMERS) >= 40
    assert len({c.name for c in CUSTOMERS}) == len(CUSTOMERS)


@pytest.mark.parametrize("customer", [c for c in CUSTOMERS if c.order], ids=lambda c: c.name)
def test_expected_order_is_in_stock_at_the_spreadsheet_price(customer: Customer):
    order = customer.order
    rows = [r for r in STOCK if r["product_name"] == order["product"]]
    assert rows, f"no product {order['product']!r}"
    assert order["price"] == rub(rows[0]["price"])
    has_sizes = any(r["size"] for r in rows)
    assert ("size" in order) == has_sizes
    in_stock = [r for r in rows if r["color"] == order["color"] and r["size"] == order.get("size", "")
                and int(r["quantity"]) > 0]
    assert in_stock, f"{order} is not in stock"
    assert customer.messages[-1] == "да"


def test_pickup_orders_expect_the_profile_pickup_point():
    pickup = load_profile(SPORT_SHOP / "shop.yml").pickup_address
    for customer in CUSTOMERS:
        if customer.order and customer.order["address"].lower().startswith("самовывоз"):
            assert customer.order["address"] == pickup


POST = ("Новый заказ от Айгуль (+79000000001), № 7\nТовар: Puma худи Essentials\nРазмер: L\nЦвет: серый\n"
        "Город: Екатеринбург\nАдрес: ул Ленина 5 кв 2, Екатеринбург\nЦена: 5 490 ₽")
EXPECTED = {"product": "Puma худи Essentials", "size": "L", "color": "серый", "city": "Екатеринбург",
            "address": "ул Ленина 5 кв 2", "price": "5 490 ₽"}


def test_a_post_with_the_same_fields_matches():
    assert compare(EXPECTED, parse_order_post(POST)) == {}


@pytest.mark.parametrize("field, posted", [("Размер", "M"), ("Цвет", "черный"), ("Город", "Пермь"),
                                           ("Адрес", "ул Ленина 5"), ("Цена", "5 990 ₽"),
                                           ("Товар", "Puma футболка Active")])
def test_any_differing_field_is_reported(field, posted):
    lines = [f"{field}: {posted}" if line.startswith(field + ":") else line for line in POST.splitlines()]
    diff = compare(EXPECTED, parse_order_post("\n".join(lines)))
    assert len(diff) == 1


def test_a_size_nobody_asked_for_is_a_difference():
    expected = {k: v for k, v in EXPECTED.items() if k != "size"}
    assert set(compare(expected, parse_order_post(POST))) == {"size"}

