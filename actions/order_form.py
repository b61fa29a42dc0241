"""The order form: which slots each product needs, validation against the live stock, summary, submit."""
from __future__ import annotations

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
from salesbot.extract import (
    canonical_city, canonical_color, extract_city, extract_colors, extract_size, format_price,
)
from salesbot.inventory import Inventory, Product, normalize_size
from salesbot.orders import OrderDraft, place_order
from salesbot.textnorm import words

logger = logging.getLogger(__name__)

PICKUP_WORDS = ("самовывоз", "заберу сама", "заберу сам", "шоурум")
PICKUP_ADDRESS = "Самовывоз из шоурума (Панфилова 98)"
# At the confirmation step a customer may name a field to change without its new value.
EDIT_KEYWORDS = {
    "address": re.compile(r"\bадрес\w*"),
    "city": re.compile(r"\bгород\w*"),
    "size": re.compile(r"\bразмер\w*"),
    "color": re.compile(r"\bцвет\w*"),
    "product": re.compile(r"\b(модел\w*|товар\w*|друг(ую|ие|ой) (пару|модель|сумку))"),
}
ORDER_SLOTS = ("product", "size", "color", "address", "order_confirmed", "order_edit_requested",
               "product_candidates")


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
        if product is None or len(product.colors_in_stock()) > 1:
            required.append("color")
        required += ["address", "order_confirmed"]
        return [slot for slot in required if slot in domain_slots]

    # -- extraction from the customer's own words (NLU entities are only a hint) --------------------------
    async def extract_product(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = self.requested_slot(tracker)
        if requested == "address":
            return {}
        text = latest_text(tracker)
        inventory = await current_inventory()
        candidates = tracker.get_slot("product_candidates") or []
        if candidates and requested == "product":
            chosen = _choose_among(text, candidates, inventory)
            if chosen:
                return {"product": chosen.name}
        product, alternatives = inventory.match_product(text)
        current = tracker.get_slot("product")
        if product:
            return {"product": product.name} if product.name != current else {}
        if requested == "product" and not self.is_question(tracker) and latest_intent(tracker) not in ("affirm", "deny"):
            return {"product": text.strip()}  # validate_product explains what is wrong with it
        return {}

    async def extract_size(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if self.requested_slot(tracker) == "address":
            return {}
        text = latest_text(tracker)
        size = extract_size(text)
        if size is None and self.requested_slot(tracker) == "size":
            digits = re.fullmatch(r"\s*(\d{1,3})\s*\D{0,12}", text)
            size = digits.group(1) if digits else None
        if size and size != tracker.get_slot("size"):
            return {"size": size}
        return {}

    async def extract_color(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if self.requested_slot(tracker) == "address":
            return {}
        inventory = await current_inventory()
        colors = extract_colors(latest_text(tracker), inventory.all_colors())
        if colors and colors[-1] != tracker.get_slot("color"):
            return {"color": colors[-1]}
        return {}

    async def extract_city(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        text = latest_text(tracker)
        city = extract_city(text)
        if city:
            return {"city": city} if city != tracker.get_slot("city") else {}
        if self.requested_slot(tracker) == "city" and not self.is_question(tracker):
            name = text.strip(" .,!")
            if re.fullmatch(r"[^\W\d_]+(?:[ -][^\W\d_]+){0,2}", name) and latest_intent(tracker) not in ("affirm", "deny"):
                return {"city": name[:1].upper() + name[1:]}
        return {}

    async def extract_address(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = self.requested_slot(tracker)
        text = latest_text(tracker).strip()
        if requested == "address" and not self.is_question(tracker):
            return {"address": text}
        if requested == "order_confirmed":
            match = EDIT_KEYWORDS["address"].search(text.lower())
            if match:
                rest = text[match.end():].strip(" :,-—.")
                rest = re.sub(r"^(на|другой|новый)\s+", "", rest, flags=re.IGNORECASE)
                return {"address": rest if len(rest) >= 5 else None}
        return {}

    async def extract_order_confirmed(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        """«поменяйте размер» at the confirmation: forget that field so the form asks it again."""
        if self.requested_slot(tracker) != "order_confirmed":
            return {}
        lowered = latest_text(tracker).lower()
        changes: Dict[Text, Any] = {}
        inventory = await current_inventory()
        has_value = {
            "city": extract_city(lowered) is not None,
            "size": extract_size(lowered) is not None,
            "color": bool(extract_colors(lowered, inventory.all_colors())),
            "product": inventory.match_product(lowered)[0] is not None,
        }
        for slot, pattern in EDIT_KEYWORDS.items():
            if slot != "address" and pattern.search(lowered) and not has_value[slot]:
                changes[slot] = None
        return changes

    # -- validation against the live inventory ------------------------------------------------------------
    async def validate_product(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        if value is None:
            return {"product": None}
        inventory = await current_inventory()
        product = inventory.get(value)
        alternatives: List[Product] = []
        if product is None:
            candidates = tracker.get_slot("product_candidates") or []
            product = _choose_among(str(value), candidates, inventory) if candidates else None
        if product is None:
            product, alternatives = inventory.match_product(str(value))
        if product is None and not alternatives:
            product, alternatives = inventory.match_product(latest_text(tracker))
        if product is None:
            if alternatives:
                shown = alternatives[:5]
                dispatcher.utter_message(text="Уточните, пожалуйста, какую модель:\n" + numbered(shown))
                return {"product": None, "product_candidates": [p.name for p in shown]}
            closest = [p for p in inventory.closest_products(str(value)) if p.in_stock]
            message = f"Модели «{value}» у нас нет 🙈"
            if closest:
                message += " Возможно, вам подойдёт:\n" + numbered(closest)
            dispatcher.utter_message(text=message)
            return {"product": None, "product_candidates": [p.name for p in closest] or None}
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
                text=f"{product.name} в {size} размере сейчас нет. В наличии: {', '.join(product.sizes_in_stock())}."
            )
            result["size"] = size = None
        result.update(self._settle_color(product, size, tracker.get_slot("color"), dispatcher))
        return result

    def _settle_color(self, product: Product, size: Optional[str], color: Optional[str],
                      dispatcher: CollectingDispatcher) -> Dict[Text, Any]:
        """Drop a colour that is not in stock for the size; pick the only one when there is one."""
        available = product.colors_in_stock(size if product.has_sizes else None)
        if color and color not in available:
            where = f" в {size} размере" if size else ""
            dispatcher.utter_message(text=f"Цвета «{color}»{where} сейчас нет. Есть: {join_ru(available)}.")
            color = None
        if color is None and len(available) == 1:
            color = available[0]
        return {"color": color}

    async def validate_size(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        previous = self.previous_value(tracker, "size")
        if self.requested_slot(tracker) == "address":
            return {"size": previous}  # a house number is not a shoe size
        size = normalize_size(value)
        if size is None:
            return {"size": None}
        inventory = await current_inventory()
        product = inventory.get(tracker.get_slot("product"))
        if product is None:
            return {"size": size if re.fullmatch(r"\d{2}(\.5)?", size) else None}
        if not product.has_sizes:
            return {"size": None}
        if size not in product.sizes():
            dispatcher.utter_message(
                text=f"Размера {size} у модели {product.name} нет. Есть размеры: {', '.join(product.sizes_in_stock())}."
            )
            return {"size": None}
        if size not in product.sizes_in_stock():
            dispatcher.utter_message(
                text=f"{size} размера сейчас нет в наличии 😔 Есть: {', '.join(product.sizes_in_stock())}."
            )
            return {"size": None}
        result: Dict[Text, Any] = {"size": size}
        result.update(self._settle_color(product, size, tracker.get_slot("color"), dispatcher))
        return result

    async def validate_color(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        previous = self.previous_value(tracker, "color")
        if self.requested_slot(tracker) == "address":
            return {"color": previous}
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
            where = f" в {size} размере" if size else ""
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
        if not value:
            return {"city": None}
        city = canonical_city(str(value))
        if city:
            return {"city": city}
        text = str(value).strip()
        if re.fullmatch(r"[^\W\d_]+(?:[ -][^\W\d_]+){0,2}", text):
            return {"city": text[:1].upper() + text[1:]}
        return {"city": None}

    async def validate_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        if not value:
            return {"address": None}
        text = " ".join(str(value).split())
        if any(word in text.lower() for word in PICKUP_WORDS):
            return {"address": PICKUP_ADDRESS}
        if len(text) < 5 or not re.search(r"[^\W\d_]", text):
            dispatcher.utter_message(text="Напишите, пожалуйста, адрес полностью: улица, дом и квартира 🙏")
            return {"address": None}
        return {"address": text}

    async def validate_order_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        if value is True:
            return {"order_confirmed": True, "order_edit_requested": None}
        if value is None:
            return {"order_confirmed": None}
        changed = [s for s in ("product", "size", "color", "city", "address")
                   if tracker.get_slot(s) != self.previous_value(tracker, s)]
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
        else:
            dispatcher.utter_message(
                text="Какую модель хотите заказать? Например: «балетки Chanel» или «сумка Prada»."
            )
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
            text=f"Спасибо! Заказ № {order.id} оформлен ✅ Сумма {format_price(draft.price)}. "
                 "Менеджер свяжется с вами, чтобы подтвердить доставку и оплату."
        )
        return reset + [SlotSet("last_order_id", float(order.id))]


def _order_key(tracker: Tracker) -> str:
    """One order per confirming message: a retried action or a redelivered message reuses the key."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            message_id = event.get("message_id") or f"t{event.get('timestamp')}"
            return f"{tracker.sender_id}:{message_id}"
    return f"{tracker.sender_id}:no-message"
