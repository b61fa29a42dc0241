from pathlib import Path

import pytest

from salesbot.inventory import InventoryError, InventoryStore, load_inventory, normalize_size
from salesbot.textnorm import phonetic_key

FIXTURE = Path(__file__).parent / "fixtures" / "inventory.csv"
DEMO = Path(__file__).parent.parent / "shop" / "inventory.xlsx"


@pytest.fixture(scope="module")
def inventory():
    return load_inventory(FIXTURE)


@pytest.mark.parametrize("latin, cyrillic", [
    ("chanel", "шанель"), ("chanel", "шанэль"), ("gucci", "гуччи"), ("gucci", "гучи"), ("prada", "прада"),
    ("zara", "зара"), ("dior", "диор"), ("balenciaga", "баленсиага"), ("jimmy", "джимми"), ("choo", "чу"),
    ("versace", "версаче"), ("nike", "найк"), ("hermes", "эрмес"), ("force", "форс"), ("air", "эйр"),
])
def test_latin_brands_and_their_cyrillic_spellings_share_a_key(latin, cyrillic):
    assert phonetic_key(latin) == phonetic_key(cyrillic)


@pytest.mark.parametrize("text, expected", [
    ("балетки шанель", "Chanel балетки"),
    ("хочу шанэль балетки 37 черные", "Chanel балетки"),
    ("гучи хорсбит", "Gucci лоферы Horsebit"),
    ("гуччи лоферы", "Gucci лоферы Horsebit"),
    ("кеды гуччи", "Gucci кеды Ace"),
    ("найк аир форс", "Nike кроссовки Air Force 1"),
    ("кроссы найки эйр макс", "Nike кроссовки Air Max 90"),
    ("очки прада", "Prada очки"),
    ("сумку шанель", "Chanel сумка Classic Flap"),
    ("лв спиди", "Louis Vuitton сумка Speedy"),
    ("Chanel балетки", "Chanel балетки"),
])
def test_match_product_finds_the_product(inventory, text, expected):
    product, alternatives = inventory.match_product(text)
    assert product is not None and product.name == expected
    assert alternatives == []


def test_ambiguous_brand_returns_every_candidate(inventory):
    product, alternatives = inventory.match_product("шанель")
    assert product is None
    assert [p.name for p in alternatives] == ["Chanel балетки", "Chanel сумка Classic Flap"]


def test_ambiguous_item_word_returns_both_brands(inventory):
    product, alternatives = inventory.match_product("найки")
    assert product is None
    assert {p.name for p in alternatives} == {"Nike кроссовки Air Force 1", "Nike кроссовки Air Max 90"}


def test_text_without_a_product_matches_nothing(inventory):
    for text in ("здравствуйте хочу заказать", "алматы", "ул абая 10 кв 5", "сколько стоит доставка"):
        assert inventory.match_product(text) == (None, [])


def test_product_added_to_the_spreadsheet_is_found_without_retraining(tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_text(FIXTURE.read_text(encoding="utf-8")
                    + "Bottega Veneta сапоги,38,зеленый,2,89000,обувь,BV-1\n", encoding="utf-8")
    store = InventoryStore(path)
    product, _ = store.get().match_product("сапоги боттега")
    assert product.name == "Bottega Veneta сапоги"


def test_stock_queries(inventory):
    ballet = inventory.get("chanel БАЛЕТКИ")
    assert ballet.has_sizes
    assert ballet.sizes_in_stock() == ["37", "38", "39"]
    assert ballet.sizes_in_stock("черный") == ["37", "38"]
    assert ballet.colors_in_stock("39") == ["бежевый"]
    assert ballet.colors_in_stock() == ["черный", "бежевый"]
    bag = inventory.get("Chanel сумка Classic Flap")
    assert not bag.has_sizes and bag.colors_in_stock() == ["черный"]
    assert not inventory.get("Louis Vuitton сумка Speedy").in_stock


@pytest.mark.parametrize("raw, expected", [(37, "37"), (37.0, "37"), ("37й", "37"), ("37-го", "37"),
                                           ("38,5", "38.5"), (float("nan"), None), ("", None)])
def test_normalize_size(raw, expected):
    assert normalize_size(raw) == expected


def test_demo_inventory_loads_and_every_product_has_stock():
    inventory = load_inventory(DEMO)
    assert len(inventory) >= 25
    assert all(p.in_stock for p in inventory.products.values())
    assert inventory.get("Chanel балетки").sizes() == ["35", "36", "37", "38", "39", "40", "41"]


# -- broken spreadsheets ---------------------------------------------------------------------------------

def test_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("product_name,size,color,quantity\nX,37,черный,1\n", encoding="utf-8")
    with pytest.raises(InventoryError, match=r"missing column\(s\): price"):
        load_inventory(path)


def test_non_numeric_quantity_is_named_with_row_and_product(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("product_name,size,color,quantity,price\nA,37,черный,1,100\nB,38,белый,много,100\n",
                    encoding="utf-8")
    with pytest.raises(InventoryError, match=r"row 3 \('B'\): quantity 'много' is not a number"):
        load_inventory(path)


def test_broken_edit_keeps_serving_the_last_good_inventory(tmp_path, caplog):
    path = tmp_path / "inventory.csv"
    path.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    store = InventoryStore(path, reload_seconds=300)
    good = store.get()
    path.write_text("product_name,size,color\nбез цены,37,черный\n", encoding="utf-8")
    with caplog.at_level("ERROR"):
        assert store.get() is good
    assert "missing column(s): quantity, price" in store.last_error
    assert "keeping the last good one" in caplog.text
    path.write_text(FIXTURE.read_text(encoding="utf-8").replace(",2,42000,", ",9,42000,", 1), encoding="utf-8")
    fixed = store.get()
    assert fixed is not good and fixed.get("Chanel балетки").quantity("37", "черный") == 9
    assert store.last_error is None


def test_unchanged_file_is_reread_after_the_reload_period(tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    now = [0.0]
    store = InventoryStore(path, reload_seconds=300, clock=lambda: now[0])
    first = store.get()
    now[0] = 299
    assert store.get() is first
    now[0] = 301
    assert store.get() is not first


def test_first_load_of_a_broken_file_raises_a_clear_error(tmp_path):
    path = tmp_path / "inventory.xlsx"
    path.write_bytes(b"not a spreadsheet")
    with pytest.raises(InventoryError, match="cannot be read"):
        InventoryStore(path).get()


async def test_async_reads_a_changed_file_at_once_and_refreshes_an_unchanged_one_in_the_background(tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    now = [0.0]
    store = InventoryStore(path, reload_seconds=300, clock=lambda: now[0])
    first = await store.get_async()
    path.write_text(FIXTURE.read_text(encoding="utf-8") + "Новинка туфли,38,черный,1,1000,обувь,N-1\n",
                    encoding="utf-8")
    changed = await store.get_async()
    assert changed is not first and changed.get("Новинка туфли") is not None  # the edit counts immediately
    now[0] = 400
    assert await store.get_async() is changed  # answered from memory while re-reading
    await store._background
    assert store._inventory is not changed and store._checked_at == 400
