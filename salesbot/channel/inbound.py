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

Several replicas over one database: whichever replica stores a message, the chat's messages are processed by one
replica at a time, in inbox order, once. The processor holds the chat's lease (`salesbot.db.leases`) and drains
the chat's RECEIVED rows from the database, not only those it received itself; after releasing it looks once
more, so a row stored by another replica while the lease was still held is never stranded. A replica that dies
(kill -9) keeps its leases only until they run out; then `sweep` (every replica runs it) finds the chats with
RECEIVED rows that nobody holds and drains them, the unfinished turn replayed as after a restart. In the
single-process default the same code runs over SQLite.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from salesbot.amocrm import HOOK_KIND
from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import MANAGER_TYPED, HandoffService
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends
from salesbot.channel.worker import ChatWorker
from salesbot.db.enums import InboxStatus
from salesbot.db.leases import chat_lease
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
LEASE_SECONDS = 15.0   # a chat's lease: renewed before a message (see RENEW_AFTER_SECONDS) and by `maintain`
RENEW_AFTER_SECONDS = 2.0   # taken or renewed less than this ago: ours for 13 s more, no write needed to know it
PAGE = 50   # pending rows read at once
SWEEP_GRACE_SECONDS = 2.0   # a RECEIVED row this old that no replica holds is picked up by the sweep
OWN_SEND_GRACE_SECONDS = 1.0   # an unknown "typed" echo while another replica runs the chat's turn: look again


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
    replayed: bool = False  # it may have been (partly) processed before: a restart, a dead replica, a failure
    paused_now: bool = False  # a manager's message whose pause was applied at accept
    row: Optional[Dict[str, Any]] = None  # its inbox row


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
    """Sees every notification before it is acknowledged (the amoCRM mirror: salesbot/amocrm/mirror.py). Blocking:
    `store` adds the notification's rows in the caller's transaction, the one that stores it in the inbox."""

    def store(self, connection: Any, body: Any) -> int: ...


class InboundRouter:
    def __init__(self, storage, handoff: HandoffService, commands: ManagerCommands, nudges: NudgeScheduler,
                 own_sends: OwnSends, conversation: Conversation, contact_choices: Sequence[str] = (),
                 choice_wait_seconds: float = 300.0, mirror: Optional[Mirror] = None,
                 replica_id: str = "single", lease_seconds: float = LEASE_SECONDS):
        self.storage = storage
        self.mirror = mirror
        self.replica_id = replica_id  # the lease holder's name: one per process that serves the chats
        self.lease_seconds = lease_seconds
        # HANDOVER_CUSTOMER_CHOICES: a paused chat's next messages may answer «как вам удобнее»
        self.contact_choices = tuple(contact_choices)
        self.choice_wait_seconds = choice_wait_seconds
        self.handoff = handoff
        self.commands = commands
        self.nudges = nudges
        self.own_sends = own_sends
        self.conversation = conversation
        self.worker = ChatWorker(self._drain)
        self.retry_delays = RETRY_DELAYS
        self._waiters: Dict[int, "asyncio.Future[None]"] = {}  # inbox id -> resolved when it was handled
        self._paused_at_accept: Set[int] = set()  # manager messages whose pause was applied when they came
        self._replaying: Set[int] = set()  # rows found at start-up: they may have been processed before
        self._renewed: Dict[str, float] = {}   # chat -> when its lease was last taken or renewed (wall clock)

    async def accept(self, message: InboundMessage) -> Optional[Awaitable[None]]:
        """Take a parsed notification: store it (RECEIVED) and queue it; returns what completes when it was
        processed (None: nothing to do). When this returns, the message survives a crash."""
        if message.type_webhook == "outgoingMessageStatus":
            # sent/delivered/read/failed of a customer notification moves its status forward (never back)
            await asyncio.to_thread(record_status_webhook, self.storage, message.raw)
        if message.kind == "ignore":
            if self.mirror is not None:  # the CRM gets echoes and statuses too, before the 200
                await asyncio.to_thread(self._store, message, False)
            logger.info("webhook %s chat=%s id=%s ignored (%s)", message.type_webhook, message.chat_id or "-",
                        message.id_message or "-", message.reason)
            return None
        inbox_id = await asyncio.to_thread(self._store, message)
        if inbox_id is None:
            return await self._duplicate(message)
        logger.info("webhook %s chat=%s id=%s kind=%s stored inbox=%s", message.type_webhook, message.chat_id,
                    message.id_message, message.kind, inbox_id)
        if message.kind == "manager" and not message.is_group:
            if not await self._manager_typed(message):
                await self._done(_Item(message, inbox_id))
                return None
            self._paused_at_accept.add(inbox_id)
        return self._trigger(message.chat_id, inbox_id)

    def _store(self, message: InboundMessage, into_inbox: bool = True) -> Optional[int]:
        """Blocking: the notification into the inbox and its amoCRM rows (paused chats', managers' too) in one
        transaction; the inbox row's id, None for a copy already stored (or with `into_inbox=False`)."""
        with self.storage.db.write() as connection:
            if self.mirror is not None:
                self.mirror.store(connection, message.raw)
            if not into_inbox:
                return None
            return self.storage.repos.inbox.accept(message.chat_id, message.id_message, message.type_webhook,
                                                   message.raw, connection)

    async def replay(self) -> int:
        """Drain every chat with RECEIVED rows (at start-up, before new notifications are accepted); a chat that
        another live replica holds is left to it. Returns how many rows were waiting."""
        rows = await asyncio.to_thread(self.storage.repos.inbox.received, 1000, None, HOOK_KIND)
        chats: Dict[str, None] = {}
        for row in rows:
            self._replaying.add(row["id"])
            chats.setdefault(row["chat_id"], None)
        for chat_id in chats:
            logger.info("chat=%s has messages received before the restart: drained", chat_id)
            self._trigger(chat_id, None)
        return len(rows)

    async def sweep(self) -> int:
        """Drain the chats whose RECEIVED rows nobody holds (their replica died, or a row slipped past a
        release); returns how many chats were taken up."""
        before = self.storage.db.now() - SWEEP_GRACE_SECONDS
        chats = await asyncio.to_thread(self.storage.repos.leases.orphaned_chats, before, 500, HOOK_KIND)
        taken = 0
        for chat_id in chats:
            if not self.worker.has_work(chat_id):
                logger.info("chat=%s has messages nobody processes: taken up by %s", chat_id, self.replica_id)
                self._trigger(chat_id, None)
                taken += 1
        return taken

    async def maintain(self, interval_seconds: float = 2.0) -> None:
        """Forever: renew this replica's leases (a long turn keeps its chat) and sweep for orphaned chats."""
        while True:
            try:
                await asyncio.to_thread(self.storage.repos.leases.renew_all, self.replica_id, self.lease_seconds)
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("lease upkeep failed")
            await asyncio.sleep(interval_seconds)

    def _trigger(self, chat_id: str, inbox_id: Optional[int]) -> "asyncio.Future[None]":
        """Queue a drain of the chat; the future resolves when `inbox_id` was handled here, or when the drain
        found it in another replica's hands."""
        waiter: "asyncio.Future[None]"
        if inbox_id is not None and inbox_id in self._waiters:
            waiter = self._waiters[inbox_id]
        else:
            waiter = asyncio.get_running_loop().create_future()
            if inbox_id is not None:
                self._waiters[inbox_id] = waiter
            else:
                waiter.set_result(None)
        self.worker.submit(chat_id, (chat_id, inbox_id, waiter))
        return waiter

    def _resolve(self, inbox_id: Optional[int], error: Optional[BaseException] = None) -> None:
        waiter = self._waiters.pop(inbox_id, None) if inbox_id is not None else None
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
            waiter.exception()  # retrieved: the failure is logged where it happened

    def _settle(self, waiter: "asyncio.Future[None]", inbox_id: Optional[int],
                error: Optional[BaseException]) -> None:
        """The end of a drain settles the waiter it was queued for (a redelivery may have registered a newer one
        for the same row meanwhile: that one waits for its own drain)."""
        if inbox_id is not None and self._waiters.get(inbox_id) is waiter:
            del self._waiters[inbox_id]
        if waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
            waiter.exception()

    async def _duplicate(self, message: InboundMessage) -> "asyncio.Future[None]":
        """A copy of a stored message. One that is still RECEIVED (queued, or its processing failed) gets its
        chat drained; otherwise it is skipped."""
        row = await asyncio.to_thread(self.storage.repos.inbox.get, message.chat_id, message.id_message)
        if row is not None and row["status"] == InboxStatus.RECEIVED:
            logger.info("webhook %s chat=%s id=%s redelivered while not yet processed", message.type_webhook,
                        message.chat_id, message.id_message)
            return self._trigger(message.chat_id, row["id"])
        logger.info("webhook %s chat=%s id=%s duplicate, skipped", message.type_webhook, message.chat_id,
                    message.id_message)
        skipped: asyncio.Future = asyncio.get_running_loop().create_future()
        skipped.set_result(None)
        return skipped

    async def _hold(self, chat_id: str) -> bool:
        """Take or renew the chat's lease; False when another replica holds it. A lease this replica took or
        renewed less than RENEW_AFTER_SECONDS ago is still its own (nobody can take it before it expires), so
        it is not written again: messages drained back to back cost one write, not one each."""
        leases = self.storage.repos.leases
        now = leases.wall_clock()
        if now - self._renewed.get(chat_id, float("-inf")) < min(RENEW_AFTER_SECONDS, self.lease_seconds / 2):
            return True
        held = await asyncio.to_thread(leases.acquire, chat_lease(chat_id), self.replica_id, self.lease_seconds)
        if held:
            self._renewed[chat_id] = now
        else:
            self._renewed.pop(chat_id, None)
        return held

    async def _release(self, chat_id: str) -> None:
        self._renewed.pop(chat_id, None)   # before the write: from here on the lease is not taken for granted
        await asyncio.to_thread(self.storage.repos.leases.release, chat_lease(chat_id), self.replica_id)

    async def _drain(self, trigger: Tuple[str, Optional[int], "asyncio.Future[None]"]) -> None:
        """Process the chat's RECEIVED rows in order while holding its lease; then release it and look once more
        (a row another replica stored while we held the lease could not be taken by it)."""
        chat_id, inbox_id, waiter = trigger
        if inbox_id is not None and waiter.done() and waiter.exception() is None:
            return  # an earlier drain handled the row this one was queued for (the chat's backlog, at once)
        failed: Dict[int, BaseException] = {}   # rows that failed in this drain: left RECEIVED for a later retry
        try:
            while await self._hold(chat_id):
                try:
                    lost = await self._process_pending(chat_id, failed)
                finally:
                    await self._release(chat_id)
                if lost:
                    break
                left = await asyncio.to_thread(self.storage.repos.inbox.pending, chat_id, len(failed) + 1,
                                              HOOK_KIND)
                if all(row["id"] in failed for row in left):
                    break
        except Exception as exc:
            self._settle(waiter, inbox_id, exc)
            raise
        self._settle(waiter, inbox_id, failed.get(inbox_id) if inbox_id is not None else None)

    async def _process_pending(self, chat_id: str, failed: Dict[int, BaseException]) -> bool:
        """The chat's RECEIVED rows, oldest first, until none is left; True when the lease was lost meanwhile."""
        while True:
            page = await asyncio.to_thread(self.storage.repos.inbox.pending, chat_id, PAGE, HOOK_KIND)
            rows = [row for row in page if row["id"] not in failed]
            if not rows:
                return False
            for row in rows:
                if not await self._hold(chat_id):   # it ran out (a stall longer than the lease): stop here
                    logger.warning("chat=%s lease lost by %s: left to its new holder", chat_id, self.replica_id)
                    return True
                item = await self._item(row)
                if item is None:
                    continue
                try:
                    await self._process(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one bad message must not stop the chat
                    logger.exception("chat=%s id=%s processing failed", chat_id, item.message.id_message)
                    failed[row["id"]] = exc
                self._resolve(row["id"], failed.get(row["id"]))
            if len(page) < PAGE and not self.worker.queued_behind(chat_id):
                # nothing came here meanwhile (a new row queues a drain behind this one); a row another replica
                # stored is found by the look after the release (`_drain`)
                return False

    async def _item(self, row: Dict[str, Any]) -> Optional[_Item]:
        try:
            message = parse_webhook(row["body"])
        except WebhookError as exc:
            await asyncio.to_thread(self.storage.repos.inbox.failed, row["id"], f"unreadable: {exc}")
            self._resolve(row["id"])
            return None
        replayed = row["attempts"] > 0 or row["id"] in self._replaying
        if replayed:
            logger.info("chat=%s id=%s inbox=%s taken up again (attempts before: %d)", message.chat_id,
                        message.id_message, row["id"], row["attempts"])
        return _Item(message, row["id"], replayed=replayed, paused_now=row["id"] in self._paused_at_accept,
                     row=row)

    async def _manager_typed(self, message: InboundMessage) -> bool:
        """Someone typed on the shop's phone: pause now. True when the text is to be recorded in the chat."""
        if self.commands.is_manager_chat(message.chat_id):
            return False
        if await self.own_sends.is_own(message.id_message) or await self._own_send_in_flight(message):
            logger.info("chat=%s id=%s is the bot's own send reported as typed: ignored", message.chat_id,
                        message.id_message)
            return False
        paused = await self.handoff.pause(message.chat_id, MANAGER_TYPED, message.sender or "shop phone",
                                          mirror=False)  # the conversation gets it with the manager's text
        logger.info("chat=%s id=%s manager typed: %s", message.chat_id, message.id_message,
                    "bot paused" if paused else "already paused")
        return True

    async def _own_send_in_flight(self, message: InboundMessage) -> bool:
        """Another replica is running this chat's turn: the echo of its send may come here before that replica
        has written the id down (it learns the id only when the send returns). Look again after a moment."""
        holder = await asyncio.to_thread(self.storage.repos.leases.holder, chat_lease(message.chat_id))
        if holder in ("", self.replica_id):
            return False
        await asyncio.sleep(OWN_SEND_GRACE_SECONDS)
        return await self.own_sends.is_own(message.id_message)

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
            self._paused_at_accept.discard(item.inbox_id)
            self._replaying.discard(item.inbox_id)

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
            row = item.row
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
