"""The customer asks for a person: a short answer, the contact card and recent messages to the managers' group,
and the chat is paused until a manager hands it back."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_from_tracker, storage
from actions.notifier import group_poster
from salesbot.channel.handoff import BY_BOT, HandoffService
from salesbot.clock import system_clock
from salesbot.handover.choices import question
from salesbot.handover.requests import process_choices, process_configuration, request_handover
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


def _as_message(line: str) -> Dict[str, str]:
    author, _, text = line.removeprefix("— ").partition(": ")
    return {"from": {"клиент": "customer", "бот": "bot", "менеджер": "manager"}.get(author, author), "text": text}


async def hand_over(tracker: Tracker, reason: str, headline: str) -> Optional[str]:
    """Announce the handover by every HANDOVER_METHODS way (the managers' group as before, once per customer
    message; the desk's queue, e-mail, SMS and the CRM webhook through the outbox, sent by the desk) and pause
    the chat in the shared database. Returns the question «как вам удобнее…» to end the bot's answer with when
    HANDOVER_CUSTOMER_CHOICES offers several ways (the channel reads the reply; meanwhile the e-mail, SMS and
    webhook wait up to HANDOVER_CHOICE_WAIT_SECONDS for it), else None."""
    customer = customer_from_tracker(tracker)
    message_id = (tracker.latest_message or {}).get("message_id") or "-"
    request_key = f"{reason}:{customer.chat_id}:{message_id}"
    lines = recent_messages(tracker)
    methods, targets = process_configuration()
    if "whatsapp_group" in methods:
        await escalate_to_group(group_poster(), customer, request_key, headline, lines)
    phone = customer.chat_id.split("@", 1)[0] if customer.chat_id.endswith("@c.us") else ""
    choices, wait_seconds = process_choices()
    ask = question(choices)
    try:
        await asyncio.to_thread(request_handover, storage().repos, request_key, customer.chat_id, reason, methods,
                                targets, phone=phone, name=customer.name, summary=headline,
                                messages=[_as_message(line) for line in lines],
                                # one way offered: nothing to ask, it is the way
                                preferred_contact=choices[0] if len(choices) == 1 else None,
                                hold_seconds=wait_seconds if ask else 0.0)
    except Exception:  # the log of the other ways must never cost the customer the pause
        logger.exception("handover %s: recording it failed", request_key)
    if get_settings().amocrm_enabled:  # the summary into the chat's amoCRM conversation too
        from salesbot.amocrm.mirror import enqueue_handover_summary

        try:
            await asyncio.to_thread(enqueue_handover_summary, storage().repos, request_key, customer.chat_id,
                                    customer.name, headline)
        except Exception:
            logger.exception("handover %s: the amoCRM summary was not queued", request_key)
    # through the one pause authority; the action's ConversationPaused is Rasa's copy of it
    handoff = HandoffService(storage(), system_clock(), get_settings().handoff_auto_resume_minutes)
    await handoff.pause(customer.chat_id, reason, BY_BOT)
    return ask


class ActionRequestManager(Action):
    def name(self) -> Text:
        return "action_request_manager"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_manager")
        ask = await hand_over(tracker, "customer_request", "Клиент просит менеджера")
        if ask:
            dispatcher.utter_message(text=ask)
        return [ConversationPaused()]
