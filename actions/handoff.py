"""The customer asks for a person: a short answer, the contact card and recent messages to the managers' group,
and the chat is paused until a manager hands it back."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_from_tracker, storage
from actions.notifier import group_poster
from salesbot.clock import system_clock
from salesbot.notifications import escalate_to_group

logger = logging.getLogger(__name__)


def recent_messages(tracker: Tracker, limit: int = 6) -> List[str]:
    lines = []
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            lines.append(f"— клиент: {event['text']}")
        elif event.get("event") == "bot" and event.get("text"):
            author = "менеджер" if (event.get("metadata") or {}).get("author") == "manager" else "бот"
            lines.append(f"— {author}: {event['text'][:200]}")
    return lines[-limit:]


async def hand_over(tracker: Tracker, reason: str, headline: str) -> None:
    """Post to the group (once per customer message) and pause the chat in the shared database."""
    customer = customer_from_tracker(tracker)
    message_id = (tracker.latest_message or {}).get("message_id") or "-"
    await escalate_to_group(group_poster(), customer, f"{reason}:{customer.chat_id}:{message_id}", headline,
                            recent_messages(tracker))
    await asyncio.to_thread(storage().pause_chat, customer.chat_id, reason, "bot", system_clock().now())


class ActionRequestManager(Action):
    def name(self) -> Text:
        return "action_request_manager"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_manager")
        await hand_over(tracker, "customer_request", "Клиент просит менеджера")
        return [ConversationPaused()]
