"""What every action needs: the live inventory, the database, and facts about the current conversation."""
from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker

from salesbot.inventory import Inventory, InventoryStore
from salesbot.orders import DEFAULT_CUSTOMER_NAME, Customer
from salesbot.settings import get_settings
from salesbot.storage import Storage, get_storage

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def inventory_store() -> InventoryStore:
    settings = get_settings()
    return InventoryStore(settings.inventory_path, settings.inventory_reload_seconds)


async def current_inventory() -> Inventory:
    warm_up_order_reading()
    return await inventory_store().get_async()


_warm_up_started = threading.Event()


def warm_up_order_reading() -> None:
    """Load the gazetteer and the morphology dictionary (a few seconds) in the background on the first action,
    so the first order form turn does not wait for them."""
    if _warm_up_started.is_set():
        return
    _warm_up_started.set()
    from salesbot.places import gazetteer

    threading.Thread(target=gazetteer, name="gazetteer-warm-up", daemon=True).start()


def storage() -> Storage:
    return get_storage(get_settings().database_url)


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def latest_metadata(tracker: Tracker) -> Dict[str, Any]:
    metadata = (tracker.latest_message or {}).get("metadata")
    if metadata:
        return metadata
    for event in reversed(tracker.events):
        if event.get("event") == "user" and event.get("metadata"):
            return event["metadata"]
    return {}


def customer_from_tracker(tracker: Tracker) -> Customer:
    """The chat id and WhatsApp name the channel put into the message metadata (else the sender id)."""
    metadata = latest_metadata(tracker)
    chat_id = metadata.get("chat_id") or tracker.sender_id
    name = (metadata.get("sender_name") or "").strip() or DEFAULT_CUSTOMER_NAME
    return Customer(chat_id=chat_id, name=name)


def slot_before_latest_message(tracker: Tracker, slot: str) -> Any:
    """The value `slot` had before the customer's latest message (slot events of this turn ignored)."""
    events: List[Dict[str, Any]] = list(tracker.events)
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    value: Optional[Any] = None
    for event in events[:last_user]:
        if event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
        elif event.get("event") in ("restart", "session_started"):
            value = None
    return value
