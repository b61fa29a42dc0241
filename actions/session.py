"""A new conversation session: the slots carried over, plus the shop's identity from its profile (shop.yml).

The responses in domain.yml speak as {assistant_name} of «{shop_name}»; those slots are set here at the start of
every session, so the same trained model greets each shop's customers as that shop. The pause of a chat is not
carried here: its one authority is the app's database, and the channel applies it to every turn.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from salesbot.shop_profile import get_profile


def profile_slot_events() -> List[EventType]:
    # without a usable shop.yml the profile comes from the shop's documents (logged once by get_profile)
    return [SlotSet(name, value) for name, value in get_profile().slots().items()]


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        carry_over = (domain.get("session_config") or {}).get("carry_over_slots_to_new_session", True)
        carried = [SlotSet(name, value) for name, value in tracker.slots.items()
                   if carry_over and value is not None and name != "session_started_metadata"]
        return [SessionStarted(), *carried, *profile_slot_events(), ActionExecuted("action_listen")]
