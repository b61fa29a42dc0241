"""Build rasa-sdk Trackers the way the Rasa server sends them, and run actions against them."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
SLOT_NAMES = list(DOMAIN["slots"]) + ["requested_slot"]


def make_tracker(text: str, intent: str = "inform", slots: Optional[Dict[str, Any]] = None,
                 new_slots: Optional[Dict[str, Any]] = None, entities: Optional[List[dict]] = None,
                 active_loop: Optional[str] = "order_form", sender_id: str = "77011234567@c.us",
                 metadata: Optional[dict] = None, message_id: str = "MSG1") -> Tracker:
    """A tracker after the customer wrote `text`. `slots` held before the message; `new_slots` were set by
    Rasa's slot mappings in this turn (they become the trailing SlotSet events rasa-sdk validates)."""
    before = {name: None for name in SLOT_NAMES}
    before.update(slots or {})
    events: List[dict] = [{"event": "action", "name": "action_session_start", "timestamp": 1.0}]
    events += [{"event": "slot", "name": k, "value": v, "timestamp": 1.0} for k, v in before.items() if v is not None]
    user_event = {
        "event": "user", "text": text, "timestamp": time.time(), "message_id": message_id,
        "parse_data": {"intent": {"name": intent, "confidence": 0.99}, "entities": entities or []},
        "metadata": metadata or {},
    }
    events.append(user_event)
    events.append({"event": "action", "name": "action_extract_slots", "timestamp": time.time()})
    after = dict(before)
    if active_loop:
        events.append({"event": "slot", "name": "requested_slot", "value": before.get("requested_slot")})
        events.append({"event": "action", "name": active_loop})
    for key, value in (new_slots or {}).items():
        events.append({"event": "slot", "name": key, "value": value})
        after[key] = value
    return Tracker(
        sender_id=sender_id, slots=after,
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or [],
                        "message_id": message_id, "metadata": metadata or {}},
        events=events, paused=False, followup_action=None,
        active_loop={"name": active_loop} if active_loop else {}, latest_action_name="action_listen",
    )


def tracker_from_fixture(name: str, text: str, intent: str, new_slots: Optional[Dict[str, Any]] = None) -> Tracker:
    data = json.loads((ROOT / "tests" / "fixtures" / "trackers" / name).read_text(encoding="utf-8"))
    return make_tracker(text, intent, slots=data["slots"], new_slots=new_slots, sender_id=data["sender_id"],
                        active_loop=data["active_loop"]["name"])


async def run_action(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def texts(messages: List[dict]) -> List[str]:
    return [m.get("text") or m.get("response") or m.get("image") for m in messages]
