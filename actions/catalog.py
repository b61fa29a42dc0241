"""Questions about the stock outside the order form: availability, price, photos."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import current_inventory, latest_text
from salesbot.catalog import catalogue_overview, describe_product, numbered
from salesbot.extract import extract_colors, format_price
from salesbot.inventory import Inventory, Product
from salesbot.order_reading import choose_product, name_numbers
from salesbot.sizes import last_size


async def product_in_question(tracker: Tracker, inventory: Inventory) -> Tuple[Optional[Product], List[Product]]:
    """The product the latest message is about; else the one the conversation is about."""
    product, alternatives, _ = await product_or_foreign_brand(tracker, inventory)
    return product, alternatives


async def product_or_foreign_brand(tracker: Tracker, inventory: Inventory):
    """(product, alternatives, a brand-like word the shop does not carry or None) for the latest message."""
    text = latest_text(tracker)
    product, alternatives, foreign = choose_product(inventory, text)
    if product or alternatives:
        return product, alternatives, foreign
    for entity in (tracker.latest_message or {}).get("entities", []):
        if entity.get("entity") == "product":
            product, alternatives, foreign = choose_product(inventory, str(entity.get("value")))
            if product or alternatives:
                return product, alternatives, foreign
    return inventory.get(tracker.get_slot("product")), [], None


def names_a_product(inventory: Inventory, text: str) -> bool:
    """The message names a product of the inventory, in any spelling the matcher accepts: a catalogue turn."""
    product, alternatives = inventory.match_product(text)
    return product is not None or bool(alternatives)


ORDER_OFFER = "Оформим заказ? 🙂"


class ActionCheckAvailability(Action):
    def name(self) -> Text:
        return "action_check_availability"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        inventory = await current_inventory()
        product, alternatives, foreign = await product_or_foreign_brand(tracker, inventory)
        text = latest_text(tracker)
        if product is None and foreign:
            in_stock = [p for p in alternatives if p.in_stock][:3]
            message = f"«{foreign.capitalize()}» у нас нет 🙈"
            if in_stock:
                message += " Могу предложить:\n" + numbered(in_stock)
            dispatcher.utter_message(text=message)
            return [SlotSet("product_candidates", [p.name for p in in_stock] or None)]
        if product is None:
            if alternatives:
                in_stock = [p for p in alternatives if p.in_stock][:6]
                dispatcher.utter_message(text="Есть такие модели:\n" + numbered(in_stock) + "\nКакая интересует?")
                return [SlotSet("product_candidates", [p.name for p in in_stock])]
            dispatcher.utter_message(text=catalogue_overview(inventory))
            return []
        size = last_size(text, product.sizes(), ignore_numbers=name_numbers([product])) if product.has_sizes else None
        colors = extract_colors(text, inventory.all_colors())
        color = colors[-1] if colors else None
        dispatcher.utter_message(text=describe_product(product, size, color))
        events: List[EventType] = [SlotSet("product", product.name), SlotSet("product_candidates", None)]
        if product.in_stock:
            dispatcher.utter_message(text=ORDER_OFFER)
            if size and size in product.sizes_in_stock():
                events.append(SlotSet("size", size))
            if color and color in product.colors_in_stock(size):
                events.append(SlotSet("color", color))
        return events


class ActionTellPrice(Action):
    def name(self) -> Text:
        return "action_tell_price"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        inventory = await current_inventory()
        product, alternatives = await product_in_question(tracker, inventory)
        if product is not None:
            dispatcher.utter_message(text=f"{product.name} — {format_price(product.price)}.")
            return [SlotSet("product", product.name)] if tracker.active_loop.get("name") is None else []
        if alternatives:
            dispatcher.utter_message(text="Цены:\n" + numbered(alternatives[:6]))
            return []
        lowest = min(p.price for p in inventory.products.values())
        dispatcher.utter_message(
            text=f"Цены от {format_price(lowest)}. Напишите модель, и я скажу точную цену 🙂"
        )
        return []


class ActionShowPhotos(Action):
    """Up to three photos of the product under discussion: one per colour, or only the colour asked for."""

    def name(self) -> Text:
        return "action_show_photos"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        from actions.photos import photo_library  # the Drive client is only built when configured

        inventory = await current_inventory()
        product, alternatives = await product_in_question(tracker, inventory)
        if product is None:
            if alternatives:
                dispatcher.utter_message(text="Фото какой модели показать?\n" + numbered(alternatives[:6]))
                return [SlotSet("product_candidates", [p.name for p in alternatives[:6]])]
            dispatcher.utter_message(text="Напишите, пожалуйста, какую модель показать 🙂")
            return []
        colors = extract_colors(latest_text(tracker), inventory.all_colors())
        color = colors[-1] if colors else None
        photos = await photo_library().photos_for(product.name, inventory.all_colors(), color)
        if not photos:
            what = f"{product.name} цвета «{color}»" if color else product.name
            dispatcher.utter_message(text=f"Фото {what} у меня пока нет 🙈 Могу попросить менеджера прислать.")
            return []
        dispatcher.utter_message(text=f"{product.name}, {format_price(product.price)}:")
        for photo in photos:
            dispatcher.utter_message(image=photo.url)
        return [SlotSet("product", product.name)] if not tracker.active_loop.get("name") else []
