"""A reusable base for the shop's forms.

rasa-sdk validates the slots of a turn in the order their events arrived. Here they are validated in the
form's own order (product before size before colour), each validator seeing the values already accepted this
turn, so a size is checked against the product named in the same message.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import latest_intent, slot_before_latest_message

# Intents that ask something instead of answering the form's question: the form lets the rules answer them.
QUESTION_INTENTS = frozenset({
    "ask_price", "ask_photo", "ask_delivery", "ask_payment", "ask_returns", "ask_hours", "ask_shop_info",
    "request_manager", "greet", "goodbye", "thanks", "out_of_scope", "nlu_fallback",
})


class ShopFormValidationAction(FormValidationAction, ABC):
    #: slots validated first come first; slots not listed keep their arrival order after these
    validation_order: tuple = ()

    @abstractmethod
    def name(self) -> Text:
        """Abstract, so the action server does not register this base class as an action."""

    def is_question(self, tracker: Tracker) -> bool:
        return latest_intent(tracker) in QUESTION_INTENTS

    @staticmethod
    def requested_slot(tracker: Tracker) -> Optional[str]:
        return tracker.get_slot("requested_slot")

    @staticmethod
    def previous_value(tracker: Tracker, slot: str) -> Any:
        return slot_before_latest_message(tracker, slot)

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        candidates: Dict[Text, Any] = tracker.slots_to_validate()
        order = list(self.validation_order)
        pending = sorted(candidates, key=lambda s: order.index(s) if s in order else len(order))
        form_slots = self.domain_slots(domain)
        result: Dict[Text, Any] = {}
        for slot in pending:
            required = await self.required_slots(form_slots, dispatcher, tracker, domain)
            validate = getattr(self, f"validate_{slot}", None)
            if slot not in form_slots or (slot in required and validate is None):
                result[slot] = tracker.slots.get(slot)  # helper slots and unvalidated ones pass through
                continue
            if slot not in required:
                continue
            output = await validate(tracker.slots.get(slot), dispatcher, tracker, domain)
            result.update(output)
            tracker.slots.update(output)
        requested = self.requested_slot(tracker)
        if not result and requested in form_slots and not self.is_question(tracker):
            # An answer the form cannot use («абая 150» to «Какой цвет?»): say so and ask again. Without a
            # SlotSet Rasa rejects the form and its core fallback would send a plain answer to the LLM.
            dispatcher.utter_message(response="utter_form_not_understood")
            return [SlotSet(requested, None)]
        return [SlotSet(slot, value) for slot, value in result.items()]
