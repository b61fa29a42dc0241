"""The outbox relay: sends due outbox rows through a sender per kind, and never twice.

* Rows are claimed atomically with a lease (several relays, in one process or many, never take the same row); a
  row left SENDING past its lease by a dead relay goes back to due, its outcome marked unknown.
* Transient errors (429, 5xx, a connection that never opened) are retried with capped exponential backoff and
  full jitter; a Retry-After header is honoured. Terminal errors (any other 4xx; 466 = GREEN-API's monthly quota)
  stop at once: FAILED. After `give_up_after` seconds a row stops being retried: FAILED.
* After a timeout the send may have gone through. A non-idempotent send is not repeated blindly: the next attempt
  first asks the kind's delivery check ("was it delivered?"; GREEN-API: `lastOutgoingMessages`) and re-sends only
  when the check does not find it. A kind without a check is FAILED instead (at most once).
* Every attempt and every check is a row in `outbox_attempts`.

Plain asyncio, no Rasa: `OutboxRelay(repository, senders).run(stop_event)`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional

from salesbot.db.enums import AttemptOutcome
from salesbot.db.handoffs import HandoffRepository
from salesbot.db.outbox import OutboxRepository
from salesbot.greenapi.client import GreenApiClient, GreenApiError

logger = logging.getLogger(__name__)

GREENAPI_QUOTA_STATUS = 466


# -- what a sender reports ---------------------------------------------------------------------------------------
class SendError(Exception):
    def __init__(self, message: str, http_status: Optional[int] = None):
        super().__init__(message)
        self.http_status = http_status


class RetryableError(SendError):
    """Not sent; try again later (429, 5xx, no connection). `retry_after` in seconds when the server said."""

    def __init__(self, message: str, http_status: Optional[int] = None, retry_after: Optional[float] = None):
        super().__init__(message, http_status)
        self.retry_after = retry_after


class TerminalError(SendError):
    """Will never succeed as it is (4xx other than 429, quota exhausted): FAILED, no retry."""


class OutcomeUnknown(SendError):
    """The request may or may not have been performed (timeout, connection lost after sending)."""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    effect_key: str
    kind: str
    target: str
    chat_id: str
    payload: Dict[str, Any]
    attempts: int
    created_at: float
    check_delivery: bool

    @classmethod
    def from_row(cls, row: Dict[str, Any]) -> "OutboxItem":
        try:
            payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else dict(row["payload"])
        except ValueError:
            payload = {}
        return cls(id=row["id"], effect_key=row["effect_key"], kind=row["kind"], target=row["target"] or row["chat_id"],
                   chat_id=row["chat_id"], payload=payload if isinstance(payload, dict) else {},
                   attempts=row["attempts"], created_at=row["created_at"], check_delivery=bool(row["check_delivery"]))


SendFunction = Callable[[OutboxItem], Awaitable[Optional[str]]]
CheckFunction = Callable[[OutboxItem], Awaitable[Optional[str]]]
DropFunction = Callable[[OutboxItem], Awaitable[Optional[str]]]


@dataclass
class Sender:
    """How one kind is sent. `send` returns the receiver's id for it (or None) or raises a SendError.
    `was_delivered` returns the id of an earlier send it finds, else None. `idempotent` sends may be repeated
    after a timeout without a check. `drop_reason` returns why the row is no longer wanted, or None."""

    send: SendFunction
    was_delivered: Optional[CheckFunction] = None
    idempotent: bool = False
    drop_reason: Optional[DropFunction] = None


@dataclass
class RetryPolicy:
    """Capped exponential backoff with full jitter, or a fixed `schedule` of waits (after attempt 1, 2, ...)."""
    base_seconds: float = 2.0
    cap_seconds: float = 300.0  # the longest wait between two attempts
    max_retry_after_seconds: float = 3600.0
    give_up_after_seconds: float = 24 * 3600.0
    check_delay_seconds: float = 5.0  # after a timeout, wait this long before checking (journals lag a send)
    rng: random.Random = field(default_factory=random.Random)
    max_attempts: Optional[int] = None  # give up after this many attempts as well

    schedule: Optional[List[float]] = None

    def backoff(self, attempts: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempts-1))]; or the schedule's wait."""
        if self.schedule:
            return self.schedule[min(max(attempts, 1), len(self.schedule)) - 1]
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        return self.rng.uniform(0, ceiling)


class OutboxRelay:
    def __init__(self, repository: OutboxRepository, senders: Dict[str, Sender], policy: Optional[RetryPolicy] = None,
                 worker_id: Optional[str] = None, lease_seconds: float = 120.0, send_timeout: float = 30.0,
                 batch_size: int = 20, poll_seconds: float = 1.0):
        if send_timeout * 2 >= lease_seconds:
            raise ValueError("lease_seconds must exceed twice send_timeout (a delivery check plus a send)")
        self.repository = repository
        self.senders = senders
        self.policy = policy or RetryPolicy()
        self.worker_id = worker_id or f"relay-{uuid.uuid4().hex[:12]}"
        self.lease_seconds = lease_seconds
        self.send_timeout = send_timeout
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds

    def now(self) -> float:
        return self.repository.db.now()

    async def run(self, stop: asyncio.Event) -> None:
        """Send due rows until `stop` is set; a failing database is logged and retried, never fatal."""
        logger.info("outbox relay %s started (kinds: %s)", self.worker_id, ", ".join(sorted(self.senders)))
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:
                logger.exception("outbox relay %s: a round failed", self.worker_id)
                busy = 0
            if busy < self.batch_size:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
                except asyncio.TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Claim due rows and process them concurrently; returns how many were claimed."""
        rows = await asyncio.to_thread(self.repository.claim_due, self.worker_id, self.lease_seconds,
                                       self.batch_size, list(self.senders))
        if rows:
            await asyncio.gather(*(self._process(OutboxItem.from_row(row)) for row in rows))
        return len(rows)

    async def _process(self, item: OutboxItem) -> None:
        try:
            await self._deliver(item)
        except Exception as exc:  # a bug in a sender or the database: the lease brings the row back
            logger.exception("outbox %s (%s): processing failed", item.effect_key, item.kind)
            await asyncio.to_thread(self.repository.mark_retry, item.id, self.worker_id,
                                    self.now() + self.policy.backoff(item.attempts + 1), f"internal error: {exc!r}",
                                    True)

    async def _deliver(self, item: OutboxItem) -> None:
        sender = self.senders[item.kind]
        repo, worker = self.repository, self.worker_id
        if sender.drop_reason is not None:
            reason = await sender.drop_reason(item)
            if reason:
                await asyncio.to_thread(repo.record_check, item.id, worker, AttemptOutcome.DROPPED, reason)
                await asyncio.to_thread(repo.mark_dropped, item.id, worker, reason)
                logger.info("outbox %s dropped: %s", item.effect_key, reason)
                return
        if item.check_delivery and not sender.idempotent:
            if sender.was_delivered is None:
                error = "outcome of an earlier attempt unknown and the kind has no delivery check: not re-sent"
                await asyncio.to_thread(repo.mark_failed, item.id, worker, error)
                logger.error("outbox %s: %s", item.effect_key, error)
                return
            try:
                found = await asyncio.wait_for(sender.was_delivered(item), timeout=self.send_timeout)
            except (SendError, asyncio.TimeoutError, OSError) as exc:
                error = f"delivery check failed: {type(exc).__name__}: {exc}"
                await asyncio.to_thread(repo.record_check, item.id, worker, AttemptOutcome.RETRY, error)
                await self._retry(item, error, check_delivery=True, delay=self.policy.backoff(item.attempts))
                return
            if found is not None:
                await asyncio.to_thread(repo.record_check, item.id, worker, AttemptOutcome.ALREADY_DELIVERED,
                                        f"found {found}")
                await asyncio.to_thread(repo.mark_sent, item.id, worker, found)
                logger.info("outbox %s: the earlier attempt was delivered (%s); not sent again", item.effect_key,
                            found)
                return
            await asyncio.to_thread(repo.record_check, item.id, worker, AttemptOutcome.NOT_DELIVERED, None)
        attempt_id = await asyncio.to_thread(repo.start_attempt, item.id, worker)
        attempts = item.attempts + 1
        try:
            id_message = await asyncio.wait_for(sender.send(item), timeout=self.send_timeout)
        except (asyncio.TimeoutError, OutcomeUnknown) as exc:
            error = f"outcome unknown: {type(exc).__name__}: {exc}"
            await asyncio.to_thread(repo.finish_attempt, attempt_id, AttemptOutcome.TIMEOUT, None, error)
            delay = max(self.policy.check_delay_seconds, self.policy.backoff(attempts))
            await self._retry(item, error, check_delivery=not sender.idempotent, delay=delay, attempts=attempts)
        except RetryableError as exc:
            await asyncio.to_thread(repo.finish_attempt, attempt_id, AttemptOutcome.RETRY, exc.http_status, str(exc))
            if exc.retry_after is not None:
                delay = min(exc.retry_after, self.policy.max_retry_after_seconds)
            else:
                delay = self.policy.backoff(attempts)
            await self._retry(item, str(exc), check_delivery=False, delay=delay, attempts=attempts)
        except TerminalError as exc:
            await asyncio.to_thread(repo.finish_attempt, attempt_id, AttemptOutcome.FAILED, exc.http_status, str(exc))
            await asyncio.to_thread(repo.mark_failed, item.id, worker, str(exc))
            logger.error("outbox %s (%s) failed for good: %s", item.effect_key, item.kind, exc)
        else:
            await asyncio.to_thread(repo.finish_attempt, attempt_id, AttemptOutcome.SENT, None, None)
            if not await asyncio.to_thread(repo.mark_sent, item.id, worker, id_message):
                logger.warning("outbox %s sent, but its lease had passed to another relay", item.effect_key)
            logger.info("outbox %s (%s) sent id=%s", item.effect_key, item.kind, id_message)

    async def _retry(self, item: OutboxItem, error: str, check_delivery: bool, delay: float,
                     attempts: Optional[int] = None) -> None:
        now = self.now()
        if self.policy.max_attempts is not None and (attempts or item.attempts) >= self.policy.max_attempts:
            await asyncio.to_thread(self.repository.mark_failed, item.id, self.worker_id,
                                    f"gave up after {attempts or item.attempts} attempts: {error}")
            logger.error("outbox %s (%s): gave up after %s attempts: %s", item.effect_key, item.kind,
                         attempts or item.attempts, error)
            return
        if now - item.created_at >= self.policy.give_up_after_seconds:
            await asyncio.to_thread(self.repository.mark_failed, item.id, self.worker_id,
                                    f"gave up after {self.policy.give_up_after_seconds:.0f}s: {error}")
            logger.error("outbox %s (%s): gave up: %s", item.effect_key, item.kind, error)
            return
        await asyncio.to_thread(self.repository.mark_retry, item.id, self.worker_id, now + delay, error,
                                check_delivery)
        logger.warning("outbox %s (%s) attempt %s: %s; next in %.1fs", item.effect_key, item.kind,
                       attempts or item.attempts, error, delay)


# -- GREEN-API ---------------------------------------------------------------------------------------------------
GREENAPI_MESSAGE = "greenapi.message"  # payload {"message": text} to target (a chatId)
GREENAPI_REPLY = "greenapi.reply"  # the same, to a customer; dropped when a manager took the chat after it was made
GREENAPI_CONTACT = "greenapi.contact"  # payload {"phone": digits, "name": first name}
GREENAPI_FILE_URL = "greenapi.file_url"  # payload {"url", "caption"?}
# Kinds the current release writes with claim_effect (same payloads), so their rows can be relayed too.
LEGACY_MESSAGE_KINDS = ("order_details", "escalation_details", "text")
LEGACY_CONTACT_KINDS = ("order_contact", "escalation_contact")


def classify_greenapi_error(error: GreenApiError) -> SendError:
    if error.status is None:
        if error.connect_failed:
            return RetryableError(str(error))
        return OutcomeUnknown(str(error))
    if error.status == 429 or error.status >= 500:
        return RetryableError(str(error), error.status, error.retry_after)
    if error.status == GREENAPI_QUOTA_STATUS:
        return TerminalError(f"GREEN-API quota exhausted: {error}", error.status)
    return TerminalError(str(error), error.status)


def _entry_text(entry: Dict[str, Any]) -> Optional[str]:
    if isinstance(entry.get("textMessage"), str):
        return entry["textMessage"]
    extended = entry.get("extendedTextMessage")
    if isinstance(extended, dict) and isinstance(extended.get("text"), str):
        return extended["text"]
    return None


entry_text = _entry_text  # the text of a `lastOutgoingMessages` entry (None for media without a caption)


class GreenApiDelivery:
    """Senders of GREEN-API kinds over one client, with `lastOutgoingMessages` as the delivery check."""

    CLOCK_SKEW_SECONDS = 120.0  # GREEN-API's timestamps against ours

    def __init__(self, client: GreenApiClient, repository: OutboxRepository,
                 handoffs: Optional[HandoffRepository] = None, call_timeout: float = 20.0):
        self.client = client
        self.repository = repository
        self.handoffs = handoffs
        self.call_timeout = call_timeout

    async def _call(self, method: str, body: Dict[str, Any]) -> Optional[str]:
        try:
            reply = await self.client.call(method, json=body, retries=0, timeout=self.call_timeout)
        except GreenApiError as error:
            raise classify_greenapi_error(error) from error
        return str((reply or {}).get("idMessage") or "") or None if isinstance(reply, dict) else None

    async def send_message(self, item: OutboxItem) -> Optional[str]:
        message = item.payload.get("message")
        if not isinstance(message, str) or not message.strip():
            raise TerminalError("payload has no 'message' text")
        return await self._call("sendMessage", {"chatId": item.target, "message": message})

    async def send_contact(self, item: OutboxItem) -> Optional[str]:
        phone = "".join(ch for ch in str(item.payload.get("phone") or "") if ch.isdigit())
        if not phone:
            raise TerminalError("payload has no 'phone'")
        contact = {"phoneContact": int(phone), "firstName": str(item.payload.get("name") or "Клиент")}
        return await self._call("sendContact", {"chatId": item.target, "contact": contact})

    async def send_file_url(self, item: OutboxItem) -> Optional[str]:
        url = item.payload.get("url")
        if not isinstance(url, str) or not url:
            raise TerminalError("payload has no 'url'")
        body: Dict[str, Any] = {"chatId": item.target, "urlFile": url,
                                "fileName": item.payload.get("file_name") or url.rsplit("/", 1)[-1] or "file"}
        if item.payload.get("caption"):
            body["caption"] = item.payload["caption"]
        return await self._call("sendFileByUrl", body)

    async def _journal(self, item: OutboxItem) -> List[Dict[str, Any]]:
        since = item.created_at - self.CLOCK_SKEW_SECONDS
        minutes = max(1, math.ceil((self.repository.db.now() - since) / 60) + 1)
        try:
            entries = await self.client.last_outgoing_messages(minutes, timeout=self.call_timeout)
        except GreenApiError as error:
            raise classify_greenapi_error(error) from error
        taken = set(await asyncio.to_thread(self.repository.sent_ids, item.target, since))
        return [e for e in entries if e.get("chatId") == item.target and e.get("sendByApi", True) is not False
                and str(e.get("idMessage") or "") not in taken
                and (not isinstance(e.get("timestamp"), (int, float)) or e["timestamp"] >= since)]

    async def message_delivered(self, item: OutboxItem) -> Optional[str]:
        text = item.payload.get("message")
        for entry in await self._journal(item):
            if _entry_text(entry) == text:
                return str(entry.get("idMessage") or "") or "unknown"
        return None

    async def contact_delivered(self, item: OutboxItem) -> Optional[str]:
        phone = "".join(ch for ch in str(item.payload.get("phone") or "") if ch.isdigit())
        for entry in await self._journal(item):
            if entry.get("typeMessage") == "contactMessage" and phone and phone in json.dumps(entry):
                return str(entry.get("idMessage") or "") or "unknown"
        return None

    async def file_delivered(self, item: OutboxItem) -> Optional[str]:
        url, caption = item.payload.get("url"), item.payload.get("caption") or ""
        for entry in await self._journal(item):
            if entry.get("downloadUrl") == url or (caption and entry.get("caption") == caption):
                return str(entry.get("idMessage") or "") or "unknown"
        return None

    async def paused_since_made(self, item: OutboxItem) -> Optional[str]:
        """A reply computed before a manager took the chat is not sent after the manager's message."""
        if self.handoffs is None:
            return None
        row = await asyncio.to_thread(self.handoffs.get, item.target)
        if row and row["paused"]:
            return f"chat paused ({row['reason']}) before the reply went out"
        return None

    def senders(self) -> Dict[str, Sender]:
        message = Sender(self.send_message, self.message_delivered)
        contact = Sender(self.send_contact, self.contact_delivered)
        senders = {
            GREENAPI_MESSAGE: message,
            GREENAPI_REPLY: Sender(self.send_message, self.message_delivered, drop_reason=self.paused_since_made),
            GREENAPI_CONTACT: contact,
            GREENAPI_FILE_URL: Sender(self.send_file_url, self.file_delivered),
        }
        senders.update({kind: message for kind in LEGACY_MESSAGE_KINDS})
        senders.update({kind: contact for kind in LEGACY_CONTACT_KINDS})
        return senders
