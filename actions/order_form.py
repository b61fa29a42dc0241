"""The order form: which slots each product needs, validation against the live stock, summary, submit."""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    current_inventory, customer_from_tracker, latest_intent, latest_text, storage,
)
from actions.form_validation import ShopFormValidationAction
from actions.notifier import order_notifier
from salesbot.catalog import join_ru, numbered
from salesbot.addresses import is_pickup, looks_like_address
from salesbot.extract import canonical_color, format_price
from salesbot.inventory import Inventory, Product
from salesbot.order_reading import SLOT_LABELS, Reading, choose_product, read_message
from salesbot.orders import OrderDraft, place_order
from salesbot.shop_profile import get_profile
from salesbot.sizes import normalize_size, size_key
from salesbot.textnorm import words

logger = logging.getLogger(__name__)

# At the confirmation step a customer may name a field to change without its new value.
EDIT_KEYWORDS = {
    "address": re.compile(r"\bадрес\w*"),
    "city": re.compile(r"\bгород\w*"),
    "size": re.compile(r"\bразмер\w*"),
    "color": re.compile(r"\bцвет\w*"),
    "product": re.compile(r"\b(модел\w*|товар\w*|друг(ую|ие|ой) (пару|модель|сумку|вещь))"),
}
ORDER_SLOTS = ("product", "size", "color", "address", "order_confirmed", "order_edit_requested",
               "product_candidates")
CORRECTABLE = ("product", "size", "color", "city", "address")


def _choose_among(text: str, candidates: List[str], inventory: Inventory) -> Optional[Product]:
    """The customer's answer to «which one?»: a number from the list or words of one candidate."""
    tokens = words(text)
    for token in tokens:
        if token.isdigit() and 1 <= int(token) <= len(candidates) and len(tokens) <= 3:
            return inventory.get(candidates[int(token) - 1])
    sub = Inventory([row for name in candidates if inventory.get(name) for row in inventory.get(name).rows])
    product, _ = sub.match_product(text)
    return inventory.get(product.name) if product else None


class ValidateOrderForm(ShopFormValidationAction):
    validation_order = ("product", "size", "color", "city", "address", "order_confirmed")

    def name(self) -> Text:
        return "validate_order_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        inventory = await current_inventory()
        product = inventory.get(tracker.slots.get("product"))
        required = ["city", "product"]
        if product is None or product.has_sizes:
            required.append("size")
        if product is None or product.colors():
            required.append("color")  # filled without a question when one colour is in stock
        required += ["address", "order_confirmed"]
        return [slot for slot in required if slot in domain_slots]

    async def reading(self, tracker: Tracker) -> Reading:
        """The latest message read once per turn (the extract_* methods share it)."""
        key = (tracker.sender_id, (tracker.latest_message or {}).get("message_id"), latest_text(tracker),
               self.requested_slot(tracker))
        cached = getattr(self, "_reading", None)
        if cached and cached[0] == key:
            return cached[1]
        inventory = await current_inventory()
        current = {slot: tracker.get_slot(slot) for slot in CORRECTABLE}
        reading = await asyncio.to_thread(read_message, latest_text(tracker), inventory,
                                          self.requested_slot(tracker), current, latest_intent(tracker))
        self._reading = (key, reading)
        return reading

    # -- extraction from the customer's own words (NLU entities are only a hint) --------------------------
    async def extract_product(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = self.requested_slot(tracker)
        reading = await self.reading(tracker)
        if reading.address:
            return {}
        text = latest_text(tracker)
        inventory = await current_inventory()
        candidates = tracker.get_slot("product_candidates") or []
        if candidates and requested == "product":
            chosen = _choose_among(text, candidates, inventory)
            if chosen:
                return {"product": chosen.name}
        current = tracker.get_slot("product")
        if reading.product:
            return {"product": reading.product} if reading.product != current else {}
        if reading.candidates and (requested == "product" or current is None):
            return {"product": text.strip()}  # validate_product offers the candidates
        if requested == "product" and not self.is_question(tracker) and latest_intent(tracker) not in ("affirm", "deny") \
                and not reading.named():
            return {"product": text.strip()}  # validate_product explains what is wrong with it
        return {}

    async def extract_size(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        reading = await self.reading(tracker)
        if reading.size and reading.size != tracker.get_slot("size"):
            return {"size": reading.size}
        return {}

    async def extract_color(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        reading = await self.reading(tracker)
        if reading.color:
            return {"color": reading.color} if reading.color != tracker.get_slot("color") else {}
        if self.requested_slot(tracker) == "color" and latest_intent(tracker) == "affirm":
            # «да» to «Есть только чёрный, оформляем в нём?»
            product = (await current_inventory()).get(tracker.get_slot("product"))
            size = tracker.get_slot("size") if product and product.has_sizes else None
            available = product.colors_in_stock(size) if product else []
            if len(available) == 1:
                return {"color": available[0]}
        return {}

    async def extract_city(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        reading = await self.reading(tracker)
        current = tracker.get_slot("city")
        if reading.address and current:
            return {}  # a town inside the address never overrides the city given; validate_address asks
        if reading.city and reading.city != current:
            return {"city": reading.city}
        return {}

    async def trusted(self, tracker: Tracker, slot: str, value: Any) -> Any:
        """NLU entities are a hint only: a value the message reading did not find keeps the slot as it was
        («асикс» tagged as a city, a house number tagged as a size)."""
        reading = await self.reading(tracker)
        previous = self.previous_value(tracker, slot)
        if value is None or value == previous or value == getattr(reading, slot):
            return value
        if slot == "color" and value in reading.colors:
            return value
        if slot == "color" and self.requested_slot(tracker) == "color" and latest_intent(tracker) == "affirm":
            return value
        return previous

    async def extract_address(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = self.requested_slot(tracker)
        text = latest_text(tracker).strip()
        reading = await self.reading(tracker)
        if requested == "address":
            return {"address": reading.address} if reading.address else {}
        if reading.address and not tracker.get_slot("address") and requested != "order_confirmed":
            return {"address": reading.address}   # given with the town before the form asked for it
        if requested == "order_confirmed":
            match = EDIT_KEYWORDS["address"].search(text.lower())
            if match:
                rest = text[match.end():].strip(" :,-—.")
                rest = re.sub(r"^(на|другой|новый)\s+", "", rest, flags=re.IGNORECASE)
                return {"address": rest if looks_like_address(rest) else None}
        return {}

    async def extract_order_confirmed(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        """«поменяйте размер» at the confirmation: forget that field so the form asks it again."""
        if self.requested_slot(tracker) != "order_confirmed":
            return {}
        lowered = latest_text(tracker).lower()
        named = (await self.reading(tracker)).named()
        changes: Dict[Text, Any] = {}
        for slot, pattern in EDIT_KEYWORDS.items():
            if slot != "address" and pattern.search(lowered) and slot not in named:
                changes[slot] = None
        return changes

    async def get_validation_events(self, dispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """After validation: a changed earlier answer is said back in a few words before the pending question."""
        if (await self.reading(tracker)).cancel and (not self.is_question(tracker)
                                                     or latest_intent(tracker) in ("thanks", "goodbye")):
            # «нет, передумал, отмена»: the form ends unconfirmed and action_submit_order says it is not placed
            return [SlotSet("order_confirmed", False), SlotSet("requested_slot", None)]
        events = await super().get_validation_events(dispatcher, tracker, domain)
        changed = []
        for event in events:
            slot, value = event.get("name"), event.get("value")
            if slot in CORRECTABLE and value and self.previous_value(tracker, slot) not in (None, value):
                changed.append(f"{SLOT_LABELS[slot]} — {value}")
        if changed:
            dispatcher.utter_message(text="Хорошо, поменяла: " + ", ".join(changed) + ".")
        return events

    # -- validation against the live inventory ------------------------------------------------------------
    async def validate_product(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        if value is None:
            return {"product": None}
        inventory = await current_inventory()
        previous = self.previous_value(tracker, "product")
        if value != previous and not await self._product_value_is_read(tracker, inventory, value):
            # an NLU entity the reading did not confirm («тогда S» tagged S as a product): the slot stays
            return {"product": previous}
        product = inventory.get(value)
        alternatives: List[Product] = []
        foreign: Optional[str] = None
        if product is None:
            candidates = tracker.get_slot("product_candidates") or []
            product = _choose_among(str(value), candidates, inventory) if candidates else None
        if product is None:
            product, alternatives, foreign = choose_product(inventory, str(value))
        if product is None:
            if alternatives and not foreign:
                shown = alternatives[:5]
                dispatcher.utter_message(text="Уточните, пожалуйста, какую модель:\n" + numbered(shown))
                return {"product": None, "product_candidates": [p.name for p in shown]}
            closest = [p for p in (alternatives or inventory.closest_products(str(value))) if p.in_stock]
            message = f"«{foreign.capitalize()}» у нас нет 🙈" if foreign else f"Модели «{value}» у нас нет 🙈"
            if closest:
                message += " Возможно, вам подойдёт:\n" + numbered(closest[:3])
            dispatcher.utter_message(text=message)
            return {"product": None, "product_candidates": [p.name for p in closest[:3]] or None}
        if not product.in_stock:
            similar = [p for p in inventory.closest_products(product.name, limit=4) if p.in_stock and p is not product]
            message = f"{product.name} сейчас, к сожалению, нет в наличии 😔"
            if similar:
                message += " Могу предложить:\n" + numbered(similar[:3])
            dispatcher.utter_message(text=message)
            return {"product": None, "product_candidates": [p.name for p in similar[:3]] or None}
        result: Dict[Text, Any] = {"product": product.name, "product_candidates": None}
        size = tracker.get_slot("size")
        if not product.has_sizes:
            result["size"] = None
            size = None
        elif size and size not in product.sizes_in_stock():
            dispatcher.utter_message(
                text=f"{product.name} в размере {size} сейчас нет. В наличии: {', '.join(product.sizes_in_stock())}."
            )
            result["size"] = size = None
        reading = await self.reading(tracker)
        # a colour said for another product is not a request for this one (the new product may have one colour)
        carried = previous not in (None, product.name) and not reading.color
        result.update(self._settle_color(product, size, tracker.get_slot("color"), dispatcher,
                                         named=bool(reading.color), size_named=bool(reading.size), carried=carried))
        return result

    async def _product_value_is_read(self, tracker: Tracker, inventory: Inventory, value: Any) -> bool:
        """The value came from the message reading (extract_product), not from an NLU entity alone."""
        reading = await self.reading(tracker)
        return value in (reading.product, latest_text(tracker).strip()) or inventory.get(str(value)) is not None

    def _settle_color(self, product: Product, size: Optional[str], color: Optional[str],
                      dispatcher: CollectingDispatcher, named: bool, size_named: bool = False,
                      carried: bool = False) -> Dict[Text, Any]:
        """Settle the colour against the size, never swapping silently:
        - colour and size named together and that pair sold out, the colour still sold in other sizes: the size is
          refused with the sizes of that colour («80 нет, есть 86, 92»), the colour kept;
        - otherwise a colour not in stock for the size is said plainly and dropped (asked again);
        - a colour carried over from another product is dropped without a word;
        - when the customer named no colour and one is in stock, that one."""
        available = product.colors_in_stock(size if product.has_sizes else None)
        if color and color not in available:
            if carried:
                color = None
            elif named and size_named and size and product.sizes_in_stock(color):
                dispatcher.utter_message(text=f"Размера {size} в цвете «{color}» сейчас нет 😔 В цвете «{color}» "
                                              f"есть: {', '.join(product.sizes_in_stock(color))}.")
                return {"size": None, "color": color}
            else:
                where = f" в размере {size}" if size else ""
                dispatcher.utter_message(text=f"Цвета «{color}»{where} сейчас нет. Есть: {join_ru(available)}.")
                return {"color": None}
        if color is None and len(available) == 1 and not named:
            color = available[0]
        return {"color": color}

    async def validate_size(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        value = await self.trusted(tracker, "size", value)
        size = normalize_size(value)
        if size is None:
            return {"size": None}
        inventory = await current_inventory()
        product = inventory.get(tracker.get_slot("product"))
        if product is None:
            return {"size": size}
        if not product.has_sizes:
            return {"size": None}
        by_key = {size_key(s): s for s in product.sizes()}
        size = by_key.get(size_key(size), size)
        if size not in product.sizes():
            dispatcher.utter_message(
                text=f"Размера {size} у модели {product.name} нет. Есть размеры: {', '.join(product.sizes_in_stock())}."
            )
            return {"size": None}
        if size not in product.sizes_in_stock():
            dispatcher.utter_message(
                text=f"Размера {size} сейчас нет в наличии 😔 Есть: {', '.join(product.sizes_in_stock())}."
            )
            return {"size": None}
        result: Dict[Text, Any] = {"size": size}
        reading = await self.reading(tracker)
        result.update(self._settle_color(product, size, tracker.get_slot("color"), dispatcher,
                                         named=bool(reading.color), size_named=bool(reading.size)))
        return result

    async def validate_color(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        value = await self.trusted(tracker, "color", value)
        inventory = await current_inventory()
        color = canonical_color(str(value), inventory.all_colors()) if value else None
        product = inventory.get(tracker.get_slot("product"))
        if color is None:
            if value and self.requested_slot(tracker) == "color" and product:
                dispatcher.utter_message(
                    text=f"Не поняла цвет 🙈 Есть: {join_ru(product.colors_in_stock(tracker.get_slot('size')))}."
                )
            return {"color": None}
        if product is None:
            return {"color": color}
        size = tracker.get_slot("size") if product.has_sizes else None
        if color not in product.colors():
            dispatcher.utter_message(
                text=f"У модели {product.name} нет цвета «{color}». Есть: {join_ru(product.colors_in_stock(size))}."
            )
            return {"color": None}
        available = product.colors_in_stock(size)
        if color not in available:
            where = f" в размере {size}" if size else ""
            message = f"Цвета «{color}»{where} сейчас нет 😔"
            if available:
                message += f" Есть: {join_ru(available)}."
            if size and product.sizes_in_stock(color):
                message += f" В цвете «{color}» есть размеры: {', '.join(product.sizes_in_stock(color))}."
            dispatcher.utter_message(text=message)
            return {"color": None}
        return {"color": color}

    async def validate_city(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        value = await self.trusted(tracker, "city", value)
        if not value:
            return {"city": None}
        return {"city": " ".join(str(value).split())}

    async def validate_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        if not value:
            return {"address": None}
        text = " ".join(str(value).split())
        if is_pickup(text):
            return {"address": get_profile().pickup_address}
        if not looks_like_address(text):
            dispatcher.utter_message(text="Напишите, пожалуйста, адрес полностью: улица, дом и квартира 🙏")
            return {"address": None}
        result: Dict[Text, Any] = {"address": text}
        reading = await self.reading(tracker)
        city = tracker.get_slot("city")
        if reading.address and reading.city and city and reading.city != city:
            # «Астана, Абая 12» after «Алматы»: an address never overrides the city the customer gave
            dispatcher.utter_message(text=f"В адресе указан город {reading.city}, а раньше вы написали {city}. "
                                          "Какой город верный?")
            result["city"] = None
        return result

    async def validate_order_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        if value is True:
            return {"order_confirmed": True, "order_edit_requested": None}
        if value is None:
            return {"order_confirmed": None}
        changed = [s for s in CORRECTABLE if tracker.get_slot(s) != self.previous_value(tracker, s)]
        if changed:  # «нет, размер 38»: the change is made, the summary is shown again
            return {"order_confirmed": None, "order_edit_requested": None}
        if tracker.get_slot("order_edit_requested"):
            return {"order_confirmed": False}  # a second «нет»: the customer does not want the order
        dispatcher.utter_message(response="utter_edit_order")
        return {"order_confirmed": None, "order_edit_requested": True}


class ActionAskProduct(Action):
    def name(self) -> Text:
        return "action_ask_product"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        if tracker.get_slot("product_candidates"):
            dispatcher.utter_message(text="Напишите номер или название модели.")
            return []
        inventory = await current_inventory()
        examples = [p.name for p in inventory.products.values() if p.in_stock][:2]
        hint = f" Например: {' или '.join(f'«{name}»' for name in examples)}." if examples else ""
        dispatcher.utter_message(text="Какую модель хотите заказать?" + hint)
        return []


class ActionAskSize(Action):
    def name(self) -> Text:
        return "action_ask_size"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        inventory = await current_inventory()
        product = inventory.get(tracker.get_slot("product"))
        if product is None:
            dispatcher.utter_message(text="Какой размер нужен?")
        else:
            sizes = product.sizes_in_stock(tracker.get_slot("color"))
            dispatcher.utter_message(text=f"Какой размер нужен? В наличии: {', '.join(sizes)}.")
        return []


class ActionAskColor(Action):
    def name(self) -> Text:
        return "action_ask_color"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        inventory = await current_inventory()
        product = inventory.get(tracker.get_slot("product"))
        if product is None:
            dispatcher.utter_message(text="Какой цвет нужен?")
        else:
            size = tracker.get_slot("size") if product.has_sizes else None
            colors = product.colors_in_stock(size)
            if len(colors) == 1:
                dispatcher.utter_message(text=f"Есть только в цвете «{colors[0]}». Оформляем в нём? (да / нет)")
            else:
                dispatcher.utter_message(text=f"Какой цвет? Есть: {join_ru(colors)}.")
        return []


async def draft_from_slots(tracker: Tracker) -> Optional[OrderDraft]:
    inventory = await current_inventory()
    product = inventory.get(tracker.get_slot("product"))
    if product is None:
        return None
    size = tracker.get_slot("size") if product.has_sizes else None
    color = tracker.get_slot("color")
    return OrderDraft(
        product=product.name, size=size, color=color, city=tracker.get_slot("city") or "",
        address=tracker.get_slot("address") or "", price=product.price_for(size, color),
    )


class ActionAskOrderConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_order_confirmed"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        if tracker.get_slot("order_edit_requested"):
            return []  # «что поменять?» was just asked; the summary comes again after the change
        draft = await draft_from_slots(tracker)
        if draft is None:
            dispatcher.utter_message(text="Какую модель хотите заказать?")
            return [SlotSet("requested_slot", "product")]
        dispatcher.utter_message(
            text="Проверьте, пожалуйста, заказ:\n" + "\n".join(draft.lines()) + "\nВсё верно? (да / нет)"
        )
        return []


class ActionSubmitOrder(Action):
    def name(self) -> Text:
        return "action_submit_order"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        reset = [SlotSet(slot, None) for slot in ORDER_SLOTS]
        if tracker.get_slot("order_confirmed") is not True:
            dispatcher.utter_message(response="utter_order_cancelled")
            return reset
        draft = await draft_from_slots(tracker)
        if draft is None:
            dispatcher.utter_message(text="Не получилось оформить заказ: модель не выбрана. Давайте начнём заново 🙏")
            return reset
        customer = customer_from_tracker(tracker)
        order = await place_order(storage(), order_notifier(), _order_key(tracker), customer, draft)
        logger.info("order %s placed chat=%s product=%s", order.id, customer.chat_id, draft.product)
        dispatcher.utter_message(
            # true whatever the group's state: the order is stored, and the outbox relay delivers its post
            text=f"Спасибо! Заказ № {order.id} сохранён ✅ Сумма {format_price(draft.price)}. "
                 "Мы передаём его менеджерам — они свяжутся с вами, чтобы подтвердить доставку и оплату."
        )
        return reset + [SlotSet("last_order_id", float(order.id))]


def _order_key(tracker: Tracker) -> str:
    """One order per confirming message: a retried action or a redelivered message reuses the key."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            message_id = event.get("message_id") or f"t{event.get('timestamp')}"
            return f"{tracker.sender_id}:{message_id}"
    return f"{tracker.sender_id}:no-message"
