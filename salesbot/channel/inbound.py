"""What happens to a parsed GREEN-API notification, without Rasa: the dialogue engine is a `Conversation`.

* deduplicated on chatId + idMessage in the database (a redelivered webhook or a polled copy is processed once);
* groups never get an answer and never pause;
* a manager typing on the shop's phone pauses the chat AT ONCE, not behind the chat's queue, so a turn in flight
  sees the pause before it sends (its replies are dropped, see `HandoffService.taken_by_people`); the manager's
  text is then recorded in the conversation in the chat's order;
* a manager's `/handoff` command is answered; anything else is a customer turn, unless the chat is paused.

Durable inbox (to come): `accept` is where a message is stored RECEIVED before the webhook's 200 (or before
`deleteNotification`); `_process` marks it DONE in the same step that records the turn's result (after
`Conversation.run_turn` returns); start-up replays RECEIVED rows through `ChatWorker.submit` in order per chat.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, List, Optional, Protocol

from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import MANAGER_TYPED, HandoffService
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends
from salesbot.channel.worker import ChatWorker
from salesbot.greenapi.webhooks import NON_TEXT_REPLY, RESEND_REPLY, InboundMessage

logger = logging.getLogger(__name__)


@dataclass
class TurnResult:
    sent_texts: List[str] = field(default_factory=list)     # what reached the customer, in order
    dropped_texts: List[str] = field(default_factory=list)  # computed, but not sent: a manager took the chat
    last_intent: Optional[str] = None


class Conversation(Protocol):
    """The dialogue engine as the channel needs it (Rasa in production: connectors/greenapi.py)."""

    async def run_turn(self, message: InboundMessage) -> TurnResult: ...
    async def record_while_paused(self, message: InboundMessage) -> None: ...
    async def record_manager_message(self, message: InboundMessage) -> None: ...
    async def send_text(self, chat_id: str, text: str) -> None: ...


@dataclass
class _Item:
    message: InboundMessage
    claimed: bool = False  # the dedupe claim was already made (manager messages)


class InboundRouter:
    def __init__(self, storage, handoff: HandoffService, commands: ManagerCommands, nudges: NudgeScheduler,
                 own_sends: OwnSends, conversation: Conversation):
        self.storage = storage
        self.handoff = handoff
        self.commands = commands
        self.nudges = nudges
        self.own_sends = own_sends
        self.conversation = conversation
        self.worker = ChatWorker(self._process)

    async def accept(self, message: InboundMessage) -> Optional[Awaitable[None]]:
        """Take a parsed notification; returns what completes when it was processed (None: nothing to do)."""
        if message.kind == "ignore":
            logger.info("webhook %s chat=%s id=%s ignored (%s)", message.type_webhook, message.chat_id or "-",
                        message.id_message or "-", message.reason)
            return None
        if message.kind == "manager" and not message.is_group:
            if not await self._manager_typed(message):
                return None
            return self.worker.submit(message.chat_id, _Item(message, claimed=True))
        return self.worker.submit(message.chat_id, _Item(message))

    async def _claim(self, message: InboundMessage) -> bool:
        fresh = await asyncio.to_thread(self.storage.claim_message, message.chat_id, message.id_message,
                                        message.type_webhook)
        if not fresh:
            logger.info("webhook %s chat=%s id=%s duplicate, skipped", message.type_webhook, message.chat_id,
                        message.id_message)
        return fresh

    async def _manager_typed(self, message: InboundMessage) -> bool:
        """Someone typed on the shop's phone: pause now. True when the text is to be recorded in the chat."""
        if not await self._claim(message):
            return False
        logger.info("webhook %s chat=%s id=%s kind=manager", message.type_webhook, message.chat_id,
                    message.id_message)
        if self.commands.is_manager_chat(message.chat_id):
            return False
        if await self.own_sends.is_own(message.id_message):
            logger.info("chat=%s id=%s is the bot's own send reported as typed: ignored", message.chat_id,
                        message.id_message)
            return False
        try:
            paused = await self.handoff.pause(message.chat_id, MANAGER_TYPED, message.sender or "shop phone",
                                              mirror=False)  # the conversation gets it with the manager's text
        except Exception:
            await asyncio.to_thread(self.storage.release_message, message.chat_id, message.id_message)
            raise
        logger.info("chat=%s id=%s manager typed: %s", message.chat_id, message.id_message,
                    "bot paused" if paused else "already paused")
        return True

    async def _process(self, item: _Item) -> None:
        message = item.message
        if not item.claimed:
            if not await self._claim(message):
                return
            logger.info("webhook %s chat=%s id=%s kind=%s", message.type_webhook, message.chat_id,
                        message.id_message, message.kind)
        if message.is_group:
            return  # the managers' group and other groups never get an answer, never pause
        try:
            if message.kind == "manager":
                await self.conversation.record_manager_message(message)
            elif self.commands.is_command(message.chat_id, message.text):
                reply = await self.commands.reply(message.chat_id, message.text)
                await self.conversation.send_text(message.chat_id, reply)
            else:
                await self._customer_message(message)
        except Exception:
            if not item.claimed:
                await asyncio.to_thread(self.storage.release_message, message.chat_id, message.id_message)
            raise

    async def _customer_message(self, message: InboundMessage) -> None:
        if await self.handoff.customer_wrote(message.chat_id):
            # recorded in the conversation for the managers' transcript; no NLU turn, no reply, no nudge
            await self.conversation.record_while_paused(message)
            logger.info("chat=%s id=%s paused: recorded, no reply", message.chat_id, message.id_message)
            return
        if message.kind in ("non_text", "error_marker"):
            await self.conversation.send_text(message.chat_id,
                                              NON_TEXT_REPLY if message.kind == "non_text" else RESEND_REPLY)
            return
        result = await self.conversation.run_turn(message)
        if result.dropped_texts:
            logger.info("chat=%s id=%s %d replies dropped: a manager took the chat during the turn",
                        message.chat_id, message.id_message, len(result.dropped_texts))
            return
        await self.nudges.after_turn(message.chat_id, result.sent_texts, result.last_intent)
