"""The customer asks for a person: a short answer, the contact card and recent messages to the managers' group,
and the chat is paused until a manager hands it back."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_from_tracker, storage
from actions.notifier import group_poster
from salesbot.channel.handoff import BY_BOT, HandoffService
from salesbot.clock import system_clock
from salesbot.notifications import escalate_to_group
from salesbot.settings import get_settings

logger = logging.getLogger(__name__)


def recent_messages(tracker: Tracker, limit: int = 6) -> List[str]:
    lines: List[str] = []
    for event in tracker.events:
        metadata = event.get("metadata") or {}
        if event.get("event") == "user" and event.get("text"):
            lines.append(f"— клиент: {event['text']}")
        elif event.get("event") == "bot" and metadata.get("dropped"):
            # a reply computed but never sent (a manager took the chat): the customer did not see it
            unsent = f"— бот: {str(metadata.get('dropped_text') or '')[:200]}"
            if unsent in lines:
                del lines[len(lines) - 1 - lines[::-1].index(unsent)]
        elif event.get("event") == "bot" and event.get("text"):
            author = "менеджер" if metadata.get("author") == "manager" else "бот"
            lines.append(f"— {author}: {event['text'][:200]}")
    return lines[-limit:]


async def hand_over(tracker: Tracker, reason: str, headline: str) -> None:
    """Post to the group (once per customer message) and pause the chat in the shared database."""
    customer = customer_from_tracker(tracker)
    message_id = (tracker.latest_message or {}).get("message_id") or "-"
    await escalate_to_group(group_poster(), customer, f"{reason}:{customer.chat_id}:{message_id}", headline,
                            recent_messages(tracker))
    # through the one pause authority; the action's ConversationPaused is Rasa's copy of it
    handoff = HandoffService(storage(), system_clock(), get_settings().handoff_auto_resume_minutes)
    await handoff.pause(customer.chat_id, reason, BY_BOT)


class ActionRequestManager(Action):
    def name(self) -> Text:
        return "action_request_manager"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_manager")
        await hand_over(tracker, "customer_request", "Клиент просит менеджера")
        return [ConversationPaused()]
