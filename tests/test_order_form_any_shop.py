"""The order form on the second demo shop (sportswear, letter and height sizes, roubles): corrections at every
step, no slot leaks, no silent swaps. Run on Trackers shaped like Rasa's, with exact events."""
import shutil
from pathlib import Path

import pytest
from rasa_sdk.events import SlotSet

from actions.order_form import ActionAskColor, ActionAskOrderConfirmed, ValidateOrderForm
from tests.actions_helpers import make_tracker, run_action, texts

ROOT = Path(__file__).resolve().parent.parent
HOODIE = {"city": "Пермь", "product": "Puma худи Essentials", "size": "M", "color": "серый"}


@pytest.fixture(autouse=True)
def sport_env(shop_env, monkeypatch):
    inventory = shop_env["tmp"] / "sport.csv"
    shutil.copy(ROOT / "shops" / "sport" / "inventory.csv", inventory)
    shutil.copy(ROOT / "shops" / "sport" / "shop.yml", shop_env["tmp"] / "shop.yml")
    monkeypatch.setenv("INVENTORY_PATH", str(inventory))
    from tests.conftest import _clear_caches

    _clear_caches()


async def validate(text, slots, intent="inform", new_slots=None):
    return await run_action(ValidateOrderForm(), make_tracker(text, intent, slots=slots, new_slots=new_slots))


async def test_a_size_correction_at_the_address_step_changes_the_size_and_asks_the_address_again():
    events, messages = await validate("ой нет, лучше L", dict(HOODIE, requested_slot="address"))
    assert events == [SlotSet("size", "L"), SlotSet("color", "серый")]
    assert texts(messages) == ["Хорошо, поменяла: размер — L."]


async def test_a_colour_correction_at_the_address_step_is_not_stored_as_the_address():
    events, messages = await validate("давайте всё-таки черное", dict(HOODIE, size="L", requested_slot="address"))
    assert events == [SlotSet("color", "черный")]
    assert texts(messages) == ["Хорошо, поменяла: цвет — черный."]
    # black is sold out in M: said plainly, the colour is asked again, the grey is not kept silently
    events, messages = await validate("давайте всё-таки черное", dict(HOODIE, requested_slot="address"))
    assert events == [SlotSet("color", None)]
    assert texts(messages) == ["Цвета «черный» в размере M сейчас нет 😔 Есть: серый. "
                               "В цвете «черный» есть размеры: S, L, XL."]


async def test_anything_else_at_the_address_step_is_asked_again():
    events, messages = await validate("нет", dict(HOODIE, requested_slot="address"), intent="deny")
    assert events == [SlotSet("address", None)]
    assert texts(messages) == ["utter_form_not_understood"]


async def test_an_address_is_taken_and_a_house_number_is_not_a_size():
    events, messages = await validate("ул Ленина 48 кв 1", dict(HOODIE, requested_slot="address"),
                                      new_slots={"size": "48"})
    assert events == [SlotSet("size", "M"), SlotSet("color", "серый"), SlotSet("address", "ул Ленина 48 кв 1")]
    assert messages == []


async def test_pickup_is_the_shops_own_pickup_point():
    events, _ = await validate("заберу сама", dict(HOODIE, requested_slot="address"))
    assert events == [SlotSet("address", "Самовывоз: пункт выдачи на ул. Малышева 51 (ТЦ «Высоцкий», 1 этаж)")]


async def test_an_address_in_another_city_asks_which_city_is_right():
    events, messages = await validate("Казань, ул Баумана 5", dict(HOODIE, requested_slot="address"))
    assert events == [SlotSet("address", "Казань, ул Баумана 5"), SlotSet("city", None)]
    assert texts(messages) == ["В адресе указан город Казань, а раньше вы написали Пермь. Какой город верный?"]


async def test_a_brand_tagged_as_a_city_by_the_nlu_does_not_become_the_city():
    events, _ = await validate("кроссовки асикс есть?", {"requested_slot": "city"}, new_slots={"city": "асикс"})
    assert SlotSet("product", "Asics кроссовки Gel-Kayano 30") in events
    assert SlotSet("city", None) in events


async def test_a_town_of_russia_is_a_city_answer():
    events, _ = await validate("в екатеринбург", {"requested_slot": "city"})
    assert events == [SlotSet("city", "Екатеринбург")]


async def test_a_height_is_a_size_and_one_the_product_lacks_is_said_plainly():
    slots = {"city": "Пермь", "product": "Reebok детский костюм", "requested_slot": "size"}
    events, messages = await validate("на 104 рост", slots)
    assert events == [SlotSet("size", None)]
    assert texts(messages) == ["Размера 104 у модели Reebok детский костюм нет. Есть размеры: 80, 86, 92, 98."]
    events, messages = await validate("на 80 рост", slots)  # 80 is left in pink only: that colour, no question
    assert events == [SlotSet("size", "80"), SlotSet("color", "розовый")]


async def test_a_colour_not_in_stock_is_not_swapped_for_the_only_one():
    # the scarf comes in one colour only; the customer asked for another
    events, messages = await validate("шарф хуго босс красный", {"city": "Пермь", "requested_slot": "product"})
    assert SlotSet("product", "Hugo Boss шарф") in events and SlotSet("color", None) in events
    assert texts(messages)[0].startswith("Цвета «красный» сейчас нет. Есть: ")
    tracker = make_tracker("", slots={"city": "Пермь", "product": "Hugo Boss шарф", "requested_slot": "color"})
    _, asked = await run_action(ActionAskColor(), tracker)
    assert texts(asked)[0].startswith("Есть только в цвете «")
    slots = {"city": "Пермь", "product": "Hugo Boss шарф", "requested_slot": "color"}
    events, _ = await validate("да", slots, intent="affirm")
    assert events[0] == SlotSet("color", "серый")


async def test_an_unknown_brand_offers_the_closest_product_instead_of_ordering_it():
    events, messages = await validate("хочу сумку гуччи", {"city": "Пермь", "requested_slot": "product"})
    assert events == [SlotSet("product", None), SlotSet("product_candidates", ["Asics спортивная сумка"])]
    assert texts(messages) == ["«Гуччи» у нас нет 🙈 Возможно, вам подойдёт:\n1. Asics спортивная сумка — 4 990 ₽"]


async def test_the_summary_is_in_the_shops_currency():
    slots = dict(HOODIE, address="ул Ленина 20 кв 1", requested_slot="order_confirmed")
    _, messages = await run_action(ActionAskOrderConfirmed(), make_tracker("", slots=slots))
    summary = texts(messages)[0]
    assert "Puma худи Essentials" in summary and "Размер: M" in summary and "₽" in summary and "₸" not in summary


async def test_availability_of_a_brand_the_shop_does_not_carry_is_said_plainly():
    from actions.catalog import ActionCheckAvailability

    tracker = make_tracker("сумка гуччи есть?", intent="ask_product", active_loop=None)
    events, messages = await run_action(ActionCheckAvailability(), tracker)
    assert texts(messages) == ["«Гуччи» у нас нет 🙈 Могу предложить:\n1. Asics спортивная сумка — 4 990 ₽"]
    assert events == [SlotSet("product_candidates", ["Asics спортивная сумка"])]


# -- found by the customer simulator (tests/e2e/test_simulator.py) ------------------------------------------
async def test_a_letter_size_tagged_as_a_product_by_the_nlu_changes_the_size_not_the_product():
    # «тогда S» after «чёрной M нет»: the NLU tagged «S» as a product; only the size changes
    slots = {"product": "Puma худи Essentials", "size": None, "color": "черный", "requested_slot": "city"}
    events, messages = await validate("тогда S", slots, new_slots={"product": "S"})
    assert events == [SlotSet("product", "Puma худи Essentials"), SlotSet("size", "S"), SlotSet("color", "черный")]
    assert messages == []


async def test_a_size_named_at_the_summary_is_not_taken_for_a_model():
    slots = dict(HOODIE, city="Екатеринбург", size="L", address="ул Малышева 10 кв 5",
                 requested_slot="order_confirmed")
    events, messages = await validate("нет, размер M", slots, intent="deny", new_slots={"product": "M"})
    assert SlotSet("product", "Puma худи Essentials") in events and SlotSet("size", "M") in events
    assert "Модели" not in " ".join(texts(messages))
    assert texts(messages) == ["Хорошо, поменяла: размер — M."]


async def test_a_sold_out_pair_named_together_keeps_the_colour_and_offers_its_sizes():
    # black M is sold out, black is sold in S, L, XL: «80 нет, есть 86, 92», never a silent swap
    events, messages = await validate("худи пума черное M", {"requested_slot": None})
    assert events == [SlotSet("product", "Puma худи Essentials"), SlotSet("product_candidates", None),
                      SlotSet("size", None), SlotSet("color", "черный")]
    assert texts(messages) == ["Размера M в цвете «черный» сейчас нет 😔 В цвете «черный» есть: S, L, XL."]


async def test_a_kids_height_sold_out_in_the_colour_offers_the_heights_of_that_colour():
    events, messages = await validate("детский костюм рибок синий на 80 рост", {"requested_slot": None})
    assert SlotSet("size", None) in events and SlotSet("color", "синий") in events
    assert texts(messages) == ["Размера 80 в цвете «синий» сейчас нет 😔 В цвете «синий» есть: 86, 92."]


async def test_a_new_product_does_not_inherit_a_colour_said_for_the_old_one():
    # grey was said for the hoodie; the t-shirt comes in white only, so white, without a question
    slots = {"product": "Puma худи Essentials", "size": "M", "color": "серый", "requested_slot": "city"}
    events, messages = await validate("нет, лучше футболку пума M", slots)
    assert events == [SlotSet("product", "Puma футболка Active"), SlotSet("product_candidates", None),
                      SlotSet("color", "белый")]
    assert texts(messages) == ["Хорошо, поменяла: модель — Puma футболка Active, цвет — белый."]


async def test_an_address_with_its_town_at_the_city_step_fills_both():
    slots = {"product": "Under Armour шорты Launch", "size": "L", "color": "черный", "requested_slot": "city"}
    events, messages = await validate("ул Ленина 5 кв 2, екатеринбург", slots)
    assert events == [SlotSet("city", "Екатеринбург"), SlotSet("address", "ул Ленина 5 кв 2")]
    assert messages == []


async def test_a_brand_with_a_typo_and_a_misspelt_colour_are_read():
    events, messages = await validate("кросовки асиск синии 40", {"requested_slot": None})
    assert events[:2] == [SlotSet("product", "Asics кроссовки Gel-Kayano 30"), SlotSet("product_candidates", None)]
    assert SlotSet("size", "40") in events and SlotSet("color", "синий") in events
    assert messages == []


async def test_not_this_town_but_that_one_at_the_address_step_changes_the_city():
    slots = dict(HOODIE, city="Самара", requested_slot="address")
    events, messages = await validate("не самара, а уфа", slots, new_slots={"city": "самара"})
    assert events == [SlotSet("city", "Уфа")]
    assert texts(messages) == ["Хорошо, поменяла: город — Уфа."]


async def test_a_street_named_after_a_town_in_a_new_address_at_the_summary_keeps_the_city():
    # «ул Пушкина» is a street, not the town Пушкин
    slots = dict(HOODIE, city="Казань", address="ул Баумана 5", requested_slot="order_confirmed")
    events, messages = await validate("нет, адрес ул Пушкина 10 кв 3", slots, intent="deny",
                                      new_slots={"order_confirmed": False})
    assert events == [SlotSet("address", "ул Пушкина 10 кв 3"), SlotSet("order_confirmed", None),
                      SlotSet("order_edit_requested", None)]
    assert texts(messages) == ["Хорошо, поменяла: адрес — ул Пушкина 10 кв 3."]


@pytest.mark.parametrize("text", ["нет, передумал, отмена", "нет, спасибо, не надо", "отмените заказ"])
async def test_calling_the_order_off_ends_the_form_unconfirmed(text):
    events, messages = await validate(text, dict(HOODIE, requested_slot="city"), intent="deny")
    assert events == [SlotSet("order_confirmed", False), SlotSet("requested_slot", None)]
    assert messages == []


async def test_not_this_colour_is_a_change_not_a_cancel():
    events, _ = await validate("не надо серое, давайте черное L", dict(HOODIE, requested_slot="address"))
    assert SlotSet("requested_slot", None) not in events and SlotSet("color", "черный") in events
