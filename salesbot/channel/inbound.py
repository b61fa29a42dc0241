"""What happens to a parsed GREEN-API notification, without Rasa: the dialogue engine is a `Conversation`.

* deduplicated on chatId + idMessage in the database (a redelivered webhook or a polled copy is processed once);
* groups never get an answer and never pause;
* a manager typing on the shop's phone pauses the chat AT ONCE, not behind the chat's queue, so a turn in flight
  sees the pause before it sends (its replies are dropped, see `HandoffService.taken_by_people`); the manager's
  text is then recorded in the conversation in the chat's order;
* a manager's `/handoff` command is answered; anything else is a customer turn, unless the chat is paused.

Durable inbox: `accept` stores the notification RECEIVED (chat, idMessage, body) before it returns, so before the
webhook's 200 or `deleteNotification`; the unique (chat, idMessage) row is also the atomic dedupe. `_process` marks
it DONE as soon as the turn's result is recorded (Rasa saved the turn). `replay` (at start-up, before new webhooks
are taken) submits the RECEIVED rows again in their order per chat; a row whose turn Rasa had already saved
(a crash between the save and DONE) is only marked DONE, and a turn whose replies partly went out before the crash
is run again without sending those replies a second time (`Conversation.delivered_before_crash`).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Dict, List, Optional, Protocol, Sequence, Set

from salesbot.amocrm import HOOK_KIND
from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import MANAGER_TYPED, HandoffService
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends
from salesbot.channel.worker import ChatWorker
from salesbot.db.enums import InboxStatus
from salesbot.greenapi.webhooks import NON_TEXT_REPLY, RESEND_REPLY, InboundMessage, WebhookError, parse_webhook
from salesbot.handover.choices import ACKNOWLEDGEMENTS
from salesbot.handover.requests import record_customer_choice
from salesbot.notify.optout import handle_opt_out_text
from salesbot.notify.status import record_message_status

logger = logging.getLogger(__name__)


@dataclass
class TurnResult:
    sent_texts: List[str] = field(default_factory=list)     # what reached the customer, in order
    dropped_texts: List[str] = field(default_factory=list)  # computed, but not sent: a manager took the chat
    last_intent: Optional[str] = None


class Conversation(Protocol):
    """The dialogue engine as the channel needs it (Rasa in production: connectors/greenapi.py).

    Optional, for the replay after a crash: `already_recorded(message) -> bool` (the turn was saved) and
    `delivered_before_crash(message, inbox_row) -> List[str]` (replies of the unfinished turn that went out);
    `run_turn(message, already_sent=[...])` then does not send those again."""

    async def run_turn(self, message: InboundMessage, already_sent: Optional[List[str]] = None) -> TurnResult: ...
    async def record_while_paused(self, message: InboundMessage) -> None: ...
    async def record_manager_message(self, message: InboundMessage) -> None: ...
    async def send_text(self, chat_id: str, text: str) -> None: ...


MAX_ATTEMPTS = 3  # a message whose processing failed this often is FAILED, not replayed at every start
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # a turn that may be run again waits for these, the chat with it


class RetryTurn(Exception):
    """The turn was not recorded and may be run again (e.g. the action server was unreachable). `already_sent`:
    its messages that went out, not to be sent again."""

    def __init__(self, reason: str, already_sent: List[str]):
        super().__init__(reason)
        self.already_sent = list(already_sent)


@dataclass
class _Item:
    message: InboundMessage
    inbox_id: Optional[int] = None
    replayed: bool = False  # taken from the inbox at start-up: it may have been (partly) processed before
    paused_now: bool = False  # a manager's message whose pause was applied at accept


def record_status_webhook(storage: Any, body: Any) -> None:
    """An outgoingMessageStatus webhook: the status of one message the bot sent (only notifications track it)."""
    if not isinstance(body, dict) or not isinstance(body.get("idMessage"), str) \
            or not isinstance(body.get("status"), str):
        return
    description = body.get("description") if isinstance(body.get("description"), str) else None
    try:
        record_message_status(storage.db, body["idMessage"], body["status"], description, body.get("timestamp"))
    except Exception:  # a status we cannot record must never cost a customer's message
        logger.exception("status webhook for %s not recorded", body.get("idMessage"))


class Mirror(Protocol):
    """Sees every notification before it is acknowledged (the amoCRM mirror: salesbot/amocrm/mirror.py)."""

    async def observe(self, body: Any) -> None: ...


class InboundRouter:
    def __init__(self, storage, handoff: HandoffService, commands: ManagerCommands, nudges: NudgeScheduler,
                 own_sends: OwnSends, conversation: Conversation, contact_choices: Sequence[str] = (),
                 choice_wait_seconds: float = 300.0, mirror: Optional[Mirror] = None):
        self.storage = storage
        self.mirror = mirror
        # HANDOVER_CUSTOMER_CHOICES: a paused chat's next messages may answer «как вам удобнее»
        self.contact_choices = tuple(contact_choices)
        self.choice_wait_seconds = choice_wait_seconds
        self.handoff = handoff
        self.commands = commands
        self.nudges = nudges
        self.own_sends = own_sends
        self.conversation = conversation
        self.worker = ChatWorker(self._process)
        self.retry_delays = RETRY_DELAYS
        self._queued: Set[int] = set()  # inbox ids queued or in process here
        self._rows: Dict[int, Dict[str, Any]] = {}  # inbox rows of replayed items (their attempts before)

    async def accept(self, message: InboundMessage) -> Optional[Awaitable[None]]:
        """Take a parsed notification: store it (RECEIVED) and queue it; returns what completes when it was
        processed (None: nothing to do). When this returns, the message survives a crash."""
        if self.mirror is not None:  # queued for the CRM in any case (paused, echoes, manager's), before the 200
            await self.mirror.observe(message.raw)
        if message.type_webhook == "outgoingMessageStatus":
            # sent/delivered/read/failed of a customer notification moves its status forward (never back)
            await asyncio.to_thread(record_status_webhook, self.storage, message.raw)
        if message.kind == "ignore":
            logger.info("webhook %s chat=%s id=%s ignored (%s)", message.type_webhook, message.chat_id or "-",
                        message.id_message or "-", message.reason)
            return None
        inbox_id = await asyncio.to_thread(self.storage.repos.inbox.accept, message.chat_id, message.id_message,
                                           message.type_webhook, message.raw)
        if inbox_id is None:
            return await self._duplicate(message)
        logger.info("webhook %s chat=%s id=%s kind=%s stored inbox=%s", message.type_webhook, message.chat_id,
                    message.id_message, message.kind, inbox_id)
        item = _Item(message, inbox_id)
        if message.kind == "manager" and not message.is_group:
            if not await self._manager_typed(message):
                await self._done(item)
                return None
            item.paused_now = True
        return self._submit(item)

    async def replay(self) -> int:
        """Queue the inbox's RECEIVED rows again, oldest first (so in order per chat). Call before new
        notifications are accepted. Returns how many were queued."""
        rows = await asyncio.to_thread(self.storage.repos.inbox.received, 1000, None, HOOK_KIND)
        for row in rows:
            try:
                message = parse_webhook(row["body"])
            except WebhookError as exc:
                await asyncio.to_thread(self.storage.repos.inbox.failed, row["id"], f"unreadable: {exc}")
                continue
            logger.info("chat=%s id=%s inbox=%s replayed after a restart", message.chat_id, message.id_message,
                        row["id"])
            self._submit(_Item(message, row["id"], replayed=True), row)
        return len(rows)

    def _submit(self, item: _Item, row: Optional[Dict[str, Any]] = None) -> "asyncio.Future[None]":
        assert item.inbox_id is not None
        self._queued.add(item.inbox_id)
        if row is not None:
            self._rows[item.inbox_id] = row
        return self.worker.submit(item.message.chat_id, item)

    async def _duplicate(self, message: InboundMessage) -> "asyncio.Future[None]":
        """A copy of a stored message. One that is still RECEIVED and queued nowhere (its processing failed)
        is queued again; otherwise it is skipped."""
        row = await asyncio.to_thread(self.storage.repos.inbox.get, message.chat_id, message.id_message)
        if row is not None and row["status"] == InboxStatus.RECEIVED and row["id"] not in self._queued \
                and row["attempts"] > 0:
            logger.info("webhook %s chat=%s id=%s redelivered after a failure: processed again",
                        message.type_webhook, message.chat_id, message.id_message)
            return self._submit(_Item(message, row["id"], replayed=True), row)
        logger.info("webhook %s chat=%s id=%s duplicate, skipped", message.type_webhook, message.chat_id,
                    message.id_message)
        skipped: asyncio.Future = asyncio.get_running_loop().create_future()
        skipped.set_result(None)
        return skipped

    async def _manager_typed(self, message: InboundMessage) -> bool:
        """Someone typed on the shop's phone: pause now. True when the text is to be recorded in the chat."""
        if self.commands.is_manager_chat(message.chat_id):
            return False
        if await self.own_sends.is_own(message.id_message):
            logger.info("chat=%s id=%s is the bot's own send reported as typed: ignored", message.chat_id,
                        message.id_message)
            return False
        paused = await self.handoff.pause(message.chat_id, MANAGER_TYPED, message.sender or "shop phone",
                                          mirror=False)  # the conversation gets it with the manager's text
        logger.info("chat=%s id=%s manager typed: %s", message.chat_id, message.id_message,
                    "bot paused" if paused else "already paused")
        return True

    async def _done(self, item: _Item) -> None:
        if item.inbox_id is not None:
            await asyncio.to_thread(self.storage.repos.inbox.done, item.inbox_id)

    async def _process(self, item: _Item) -> None:
        message = item.message
        assert item.inbox_id is not None
        try:
            await asyncio.to_thread(self.storage.repos.inbox.start, item.inbox_id)
            if item.replayed and await self._recorded_before(message):
                logger.info("chat=%s id=%s was processed before the restart: not again", message.chat_id,
                            message.id_message)
            elif not message.is_group:  # the managers' group and other groups never get an answer, never pause
                await self._dispatch(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(item, exc)
            raise
        else:
            await self._done(item)
        finally:
            self._queued.discard(item.inbox_id)
            self._rows.pop(item.inbox_id, None)

    async def _recorded_before(self, message: InboundMessage) -> bool:
        check = getattr(self.conversation, "already_recorded", None)
        return bool(check is not None and await check(message))

    async def _failed(self, item: _Item, error: BaseException) -> None:
        row = await asyncio.to_thread(self.storage.repos.inbox.get, item.message.chat_id, item.message.id_message)
        if row is not None and row["attempts"] >= MAX_ATTEMPTS:
            await asyncio.to_thread(self.storage.repos.inbox.failed, item.inbox_id, f"{type(error).__name__}: {error}")
            logger.error("chat=%s id=%s failed %d times: given up", item.message.chat_id, item.message.id_message,
                         row["attempts"])

    async def _dispatch(self, item: _Item) -> None:
        message = item.message
        if message.kind == "manager":
            if item.paused_now or await self._manager_typed(message):
                await self.conversation.record_manager_message(message)
                # the handover analytics' time to the first manager reply
                await asyncio.to_thread(self.storage.repos.handovers.record_manager_reply, message.chat_id)
        elif self.commands.is_command(message.chat_id, message.text):
            reply = await self.commands.reply(message.chat_id, message.text)
            await self.conversation.send_text(message.chat_id, reply)
        else:
            await self._customer_message(item)

    async def _run_turn(self, message: InboundMessage, already_sent: List[str]) -> TurnResult:
        """Run the turn; one that may be run again is, after a pause (later messages of the chat wait)."""
        for delay in (*self.retry_delays, None):
            try:
                if already_sent:
                    return await self.conversation.run_turn(message, already_sent=already_sent)
                return await self.conversation.run_turn(message)
            except RetryTurn as exc:
                if delay is None:
                    raise
                already_sent = exc.already_sent
                logger.warning("chat=%s id=%s turn not recorded (%s): run again in %.0fs", message.chat_id,
                               message.id_message, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _contact_choice(self, message: InboundMessage) -> None:
        """After a handover that asked how to contact the customer: a message naming a way is recorded as the
        choice (and releases the held e-mail/SMS/webhook) and gets a short answer; anything else is left as is."""
        if len(self.contact_choices) < 2 or message.kind != "text" or not message.text:
            return
        try:
            choice = await asyncio.to_thread(record_customer_choice, self.storage.repos, message.chat_id,
                                             message.text, self.contact_choices, self.choice_wait_seconds)
        except Exception:  # the choice is a nicety: it must never cost the customer's message
            logger.exception("chat=%s id=%s contact choice not recorded", message.chat_id, message.id_message)
            return
        if choice is not None:
            logger.info("chat=%s id=%s preferred contact: %s", message.chat_id, message.id_message, choice)
            await self.conversation.send_text(message.chat_id, ACKNOWLEDGEMENTS[choice])

    async def _customer_message(self, item: _Item) -> None:
        message = item.message
        if await self.handoff.customer_wrote(message.chat_id):
            # recorded in the conversation for the managers' transcript; no NLU turn, no reply, no nudge
            await self.conversation.record_while_paused(message)
            logger.info("chat=%s id=%s paused: recorded, no reply", message.chat_id, message.id_message)
            await self._contact_choice(message)
            return
        if message.kind in ("non_text", "error_marker"):
            await self.conversation.send_text(message.chat_id,
                                              NON_TEXT_REPLY if message.kind == "non_text" else RESEND_REPLY)
            return
        opt_out_reply = await asyncio.to_thread(handle_opt_out_text, self.storage.repos.opt_outs, message.chat_id,
                                                message.text or "")
        if opt_out_reply:   # «стоп» / «да» to its question: the notifications opt-out, not a sales turn
            await self.conversation.send_text(message.chat_id, opt_out_reply)
            return
        already_sent: List[str] = []
        if item.replayed:
            find = getattr(self.conversation, "delivered_before_crash", None)
            row = self._rows.get(item.inbox_id or 0)
            if find is not None and row is not None and row["attempts"] > 0:
                already_sent = await find(message, row)
        if already_sent:
            logger.info("chat=%s id=%s %d replies went out before the restart: the turn runs again without them",
                        message.chat_id, message.id_message, len(already_sent))
        result = await self._run_turn(message, already_sent)
        if result.dropped_texts:
            logger.info("chat=%s id=%s %d replies dropped: a manager took the chat during the turn",
                        message.chat_id, message.id_message, len(result.dropped_texts))
            return
        await self.nudges.after_turn(message.chat_id, result.sent_texts, result.last_intent)
