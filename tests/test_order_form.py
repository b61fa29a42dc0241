"""The order form's validation and actions, run on Trackers shaped like the ones Rasa sends."""
import pytest
from rasa_sdk.events import SlotSet

from actions.catalog import ActionCheckAvailability, ActionShowPhotos, ActionTellPrice
from actions.common import storage
from actions.order_form import ActionAskOrderConfirmed, ActionSubmitOrder, ValidateOrderForm
from tests.actions_helpers import make_tracker, run_action, texts, tracker_from_fixture

pytestmark = pytest.mark.usefixtures("shop_env")

CHOSEN = {"city": "Алматы", "product": "Chanel балетки", "size": "37", "color": "черный", "address": "Абая 10"}


async def required(slots):
    from tests.actions_helpers import DOMAIN

    form = ValidateOrderForm()
    return await form.required_slots(form.domain_slots(DOMAIN), None, make_tracker("", slots=slots), DOMAIN)


async def test_size_only_for_products_with_sizes_and_colour_for_products_with_colours():
    assert await required({}) == ["city", "product", "size", "color", "address", "order_confirmed"]
    assert await required({"product": "Chanel балетки"}) == [
        "city", "product", "size", "color", "address", "order_confirmed"]
    # a bag: no size. Its colour is required, but validate_product fills the only one in stock without a
    # question when the customer named no other (see the candidates test below)
    assert await required({"product": "Chanel сумка Classic Flap"}) == [
        "city", "product", "color", "address", "order_confirmed"]
    assert await required({"product": "Gucci кеды Ace"}) == [
        "city", "product", "size", "color", "address", "order_confirmed"]


async def test_several_details_in_one_message_fill_several_slots():
    tracker = make_tracker("хочу балетки шанель 37 черные", new_slots={
        "product": "балетки шанель", "size": "37", "color": "черные"})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("product", "Chanel балетки"), SlotSet("product_candidates", None),
                      SlotSet("color", "черный"), SlotSet("size", "37")]
    assert messages == []


async def test_products_are_found_in_text_the_nlu_did_not_tag():
    tracker = make_tracker("а есть кеды гуччи 38", slots={"requested_slot": "product", "city": "Алматы"})
    events, _ = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("product", "Gucci кеды Ace"), SlotSet("product_candidates", None),
                      SlotSet("color", "белый"), SlotSet("size", "38")]


async def test_ambiguous_product_offers_the_candidates_and_the_answer_picks_one():
    tracker = make_tracker("шанель", slots={"requested_slot": "product", "city": "Алматы"},
                           new_slots={"product": "шанель"})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    candidates = ["Chanel балетки", "Chanel сумка Classic Flap"]
    assert events == [SlotSet("product", None), SlotSet("product_candidates", candidates)]
    assert texts(messages) == ["Уточните, пожалуйста, какую модель:\n"
                               "1. Chanel балетки — 42 000 ₸\n2. Chanel сумка Classic Flap — 95 000 ₸"]
    answer = make_tracker("2", slots={"requested_slot": "product", "city": "Алматы", "product_candidates": candidates})
    events, _ = await run_action(ValidateOrderForm(), answer)
    assert events == [SlotSet("product", "Chanel сумка Classic Flap"), SlotSet("product_candidates", None),
                      SlotSet("size", None), SlotSet("color", "черный"), SlotSet("requested_slot", "address")]


async def test_unknown_product_is_refused_with_the_closest_matches():
    tracker = make_tracker("туфли версаче", slots={"requested_slot": "product", "city": "Алматы"})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("product", None), SlotSet("product_candidates", None)]
    assert texts(messages) == ["Модели «туфли версаче» у нас нет 🙈"]


async def test_sold_out_product_is_refused():
    tracker = make_tracker("сумку луи виттон спиди", slots={"requested_slot": "product", "city": "Алматы"})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    assert events[0] == SlotSet("product", None)
    assert texts(messages)[0].startswith("Louis Vuitton сумка Speedy сейчас, к сожалению, нет в наличии")


async def test_out_of_stock_size_is_refused_with_the_sizes_in_stock():
    slots = {"requested_slot": "size", "city": "Алматы", "product": "Gucci кеды Ace"}
    events, messages = await run_action(ValidateOrderForm(), make_tracker("39", slots=slots, new_slots={"size": "39"}))
    assert events == [SlotSet("size", None)]
    assert texts(messages) == ["Размера 39 сейчас нет в наличии 😔 Есть: 38."]


async def test_size_the_model_never_has_is_refused():
    slots = {"requested_slot": "size", "city": "Алматы", "product": "Chanel балетки"}
    events, messages = await run_action(ValidateOrderForm(), make_tracker("44й", slots=slots))
    assert events == [SlotSet("size", None)]
    assert texts(messages) == ["Размера 44 у модели Chanel балетки нет. Есть размеры: 37, 38, 39."]


async def test_out_of_stock_colour_is_refused_with_the_colours_in_stock():
    slots = {"requested_slot": "color", "city": "Алматы", "product": "Chanel балетки", "size": "39"}
    events, messages = await run_action(ValidateOrderForm(), make_tracker("черные", slots=slots))
    assert events == [SlotSet("color", None)]
    assert texts(messages) == ["Цвета «черный» в размере 39 сейчас нет 😔 Есть: бежевый. "
                               "В цвете «черный» есть размеры: 37, 38."]


async def test_size_with_one_colour_left_fills_the_colour():
    slots = {"requested_slot": "size", "city": "Алматы", "product": "Chanel балетки"}
    events, _ = await run_action(ValidateOrderForm(), make_tracker("39й", slots=slots))
    assert events == [SlotSet("size", "39"), SlotSet("color", "бежевый")]


async def test_a_house_number_is_not_a_shoe_size():
    slots = dict(CHOSEN, size="38", address=None, requested_slot="address")
    events, _ = await run_action(ValidateOrderForm(), make_tracker("ул абая 37 кв 5", slots=slots,
                                                                    new_slots={"size": "37"}))
    assert events == [SlotSet("size", "38"), SlotSet("color", "черный"), SlotSet("address", "ул абая 37 кв 5")]


async def test_a_question_during_the_form_fills_nothing_so_the_form_is_rejected():
    slots = {"requested_slot": "size", "city": "Алматы", "product": "Chanel балетки"}
    events, messages = await run_action(ValidateOrderForm(), make_tracker("а доставка сколько", "ask_delivery", slots))
    assert events == [] and messages == []


async def test_correction_at_confirmation_changes_the_slot_and_asks_again():
    tracker = tracker_from_fixture("confirm_step.json", "нет лучше 38", "inform", new_slots={"size": "38"})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("size", "38"), SlotSet("color", "черный")]
    assert texts(messages) == ["Хорошо, поменяла: размер — 38."]


async def test_no_at_confirmation_asks_what_to_change_and_a_second_no_cancels():
    tracker = tracker_from_fixture("confirm_step.json", "нет", "deny", new_slots={"order_confirmed": False})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("order_confirmed", None), SlotSet("order_edit_requested", True)]
    assert texts(messages) == ["utter_edit_order"]
    again = make_tracker("нет", "deny", slots=dict(tracker.slots, order_confirmed=None, order_edit_requested=True),
                         new_slots={"order_confirmed": False})
    events, _ = await run_action(ValidateOrderForm(), again)
    assert events == [SlotSet("order_confirmed", False)]


async def test_naming_a_field_at_confirmation_asks_for_it_again():
    tracker = tracker_from_fixture("confirm_step.json", "поменяйте адрес", "inform")
    events, _ = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("address", None), SlotSet("requested_slot", "address")] or \
        events == [SlotSet("address", None)]


async def test_summary_shows_price_and_only_the_fields_the_product_has():
    _, messages = await run_action(ActionAskOrderConfirmed(), make_tracker("", slots=CHOSEN))
    assert texts(messages) == ["Проверьте, пожалуйста, заказ:\nТовар: Chanel балетки\nРазмер: 37\nЦвет: черный\n"
                               "Город: Алматы\nАдрес: Абая 10\nЦена: 42 000 ₸\nВсё верно? (да / нет)"]
    _, messages = await run_action(ActionAskOrderConfirmed(), make_tracker("", slots=dict(CHOSEN,
                                                                                          order_edit_requested=True)))
    assert messages == []  # right after «что поменять?» the summary is not repeated
    bag = dict(CHOSEN, product="Chanel сумка Classic Flap", size=None)
    _, messages = await run_action(ActionAskOrderConfirmed(), make_tracker("", slots=bag))
    assert "Размер" not in texts(messages)[0] and "Цена: 95 000 ₸" in texts(messages)[0]


async def test_confirmed_order_is_stored_once_and_slots_are_reset():
    slots = dict(CHOSEN, order_confirmed=True)
    tracker = make_tracker("да", "affirm", slots=slots, active_loop=None,
                           metadata={"chat_id": "77011234567@c.us", "sender_name": "Айгуль"}, message_id="ABC")
    events, messages = await run_action(ActionSubmitOrder(), tracker)
    assert texts(messages) == ["Спасибо! Заказ № 1 сохранён ✅ Сумма 42 000 ₸. "
                               "Мы передаём его менеджерам — они свяжутся с вами, чтобы подтвердить доставку и оплату."]
    assert events == [SlotSet(s, None) for s in ("product", "size", "color", "address", "order_confirmed",
                                                 "order_edit_requested", "product_candidates")] + [
        SlotSet("last_order_id", 1.0)]
    await run_action(ActionSubmitOrder(), tracker)  # a retry of the same turn
    orders = storage().list_orders()
    assert len(orders) == 1
    order = orders[0]
    assert (order["product"], order["size"], order["color"], order["city"], order["address"], order["price"],
            order["customer_name"], order["phone"], order["status"]) == (
        "Chanel балетки", "37", "черный", "Алматы", "Абая 10", 42000, "Айгуль", "77011234567", "NOTIFIED")


async def test_the_same_order_confirmed_again_in_another_message_is_not_a_second_order():
    slots = dict(CHOSEN, order_confirmed=True)
    metadata = {"chat_id": "77011234568@c.us", "sender_name": "Айгуль"}
    for message_id in ("FIRST", "AGAIN"):  # «да», the turn failed, «да» again
        tracker = make_tracker("да", "affirm", slots=slots, active_loop=None, metadata=metadata,
                               message_id=message_id)
        _, messages = await run_action(ActionSubmitOrder(), tracker)
        assert texts(messages)[0].startswith("Спасибо! Заказ № 1 сохранён")
    assert len(storage().list_orders()) == 1
    other = make_tracker("да", "affirm", slots=dict(slots, size="38"), active_loop=None, metadata=metadata,
                         message_id="THIRD")
    await run_action(ActionSubmitOrder(), other)
    assert len(storage().list_orders()) == 2  # another size is another order


async def test_declined_order_is_not_stored():
    tracker = make_tracker("нет", "deny", slots=dict(CHOSEN, order_confirmed=False), active_loop=None)
    _, messages = await run_action(ActionSubmitOrder(), tracker)
    assert texts(messages) == ["utter_order_cancelled"]
    assert storage().list_orders() == []


async def test_availability_answer_prefills_the_order():
    tracker = make_tracker("есть балетки шанель 37 черные?", "ask_product", active_loop=None)
    events, messages = await run_action(ActionCheckAvailability(), tracker)
    assert texts(messages) == ["Chanel балетки в 37 размере есть ✅ Цвет: черный. Цена 42 000 ₸.", "Оформим заказ? 🙂"]
    assert events == [SlotSet("product", "Chanel балетки"), SlotSet("product_candidates", None),
                      SlotSet("size", "37"), SlotSet("color", "черный")]


async def test_price_of_a_product_named_in_cyrillic():
    _, messages = await run_action(ActionTellPrice(), make_tracker("скок стоят очки прада", "ask_price",
                                                                   active_loop=None))
    assert texts(messages) == ["Prada очки — 34 000 ₸."]


async def test_photos_one_per_colour_at_most_three(shop_env):
    folder = shop_env["photos"] / "Chanel балетки"
    folder.mkdir()
    for name in ("черный.jpg", "черный-2.jpg", "бежевый.jpg", "белый.jpg", "красный.jpg"):
        (folder / name).write_bytes(b"\xff\xd8\xff")
    _, messages = await run_action(ActionShowPhotos(), make_tracker("фото балеток шанель", "ask_photo",
                                                                    active_loop=None))
    images = [m["image"] for m in messages if m.get("image")]
    assert [i.rsplit("/", 1)[-1] for i in images] == [
        "%D0%B1%D0%B5%D0%B6%D0%B5%D0%B2%D1%8B%D0%B9.jpg",  # бежевый, белый, красный, черный: sorted, one each
        "%D0%B1%D0%B5%D0%BB%D1%8B%D0%B9.jpg",
        "%D0%BA%D1%80%D0%B0%D1%81%D0%BD%D1%8B%D0%B9.jpg",
    ]
    _, messages = await run_action(ActionShowPhotos(), make_tracker("покажите черные балетки шанель", "ask_photo",
                                                                    active_loop=None))
    assert len([m for m in messages if m.get("image")]) == 2
    _, messages = await run_action(ActionShowPhotos(), make_tracker("фото очков прада", "ask_photo", active_loop=None))
    assert texts(messages) == ["Фото Prada очки у меня пока нет 🙈 Могу попросить менеджера прислать."]


async def test_an_answer_the_form_cannot_use_is_asked_again_not_rejected():
    # «Какой цвет?» answered with an address: nothing to validate. The form says so and keeps the question,
    # instead of letting Rasa reject the form and send the message to the fallback.
    tracker = make_tracker("абая 150 кв 7", slots={"city": "Алматы", "product": "Chanel балетки", "size": "37",
                                                   "requested_slot": "color"})
    events, messages = await run_action(ValidateOrderForm(), tracker)
    assert events == [SlotSet("color", None)]   # Rasa's form then asks for the colour again
    assert texts(messages) == ["utter_form_not_understood"]
