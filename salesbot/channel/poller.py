"""Polling mode: receiveNotification long-poll; a notification is deleted only after it was processed, so one that
failed (or was in flight when the process died) is received again. One that cannot be parsed, or fails
`max_attempts` times, is moved to the dead-letter table and deleted, so it never holds up the queue (GREEN-API
hands out the oldest notification first: a poisoned one would block every chat)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from salesbot.greenapi.webhooks import InboundMessage, parse_webhook

logger = logging.getLogger(__name__)

# accept(message) -> an awaitable that completes when the message was processed (None: nothing to wait for)
Accept = Callable[[InboundMessage], Awaitable[Optional[Awaitable[Any]]]]
# dead_letter(receipt_id, body, error, attempts): keep what was taken off the queue (the dead-letter table)
DeadLetter = Callable[[Optional[str], Any, str, int], None]
# hold_lease() -> True while this replica is the one poller (several replicas poll one instance's queue)
HoldLease = Callable[[], Awaitable[bool]]
LEASE_WAIT_SECONDS = 5.0   # a replica that is not the poller looks again this often (it takes over a dead one's)

DEAD_LETTER_SOURCE = "polling"
MAX_TRACKED_FAILURES = 1000   # failure counts kept in memory; a notification received again is at the front


def _log_failure(done: "asyncio.Future[None]") -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("a polled message failed in processing; it stays in the inbox for a retry: %s",
                       done.exception())


class Poller:
    def __init__(self, client, accept: Accept, receive_timeout: int = 20, sleep=asyncio.sleep,
                 dead_letter: Optional[DeadLetter] = None, max_attempts: int = 5,
                 hold_lease: Optional[HoldLease] = None):
        self.client = client
        self.accept = accept
        self.receive_timeout = receive_timeout
        self.sleep = sleep
        self.dead_letter = dead_letter
        self.max_attempts = max(1, max_attempts)
        self.failures: Dict[Any, int] = {}   # receiptId -> failed attempts so far
        self.hold_lease = hold_lease
        self.polling = False   # this replica holds the poller's lease (or needs none)

    async def _bury(self, receipt_id: Any, body: Any, error: str, attempts: int) -> None:
        logger.warning("polled notification %s moved to the dead letters after %d attempt(s): %s", receipt_id,
                       attempts, error)
        if self.dead_letter is not None:
            await asyncio.to_thread(self.dead_letter, None if receipt_id is None else str(receipt_id)[:64], body,
                                    error, attempts)

    async def poll_once(self) -> bool:
        """Take one notification, store it, delete it. False when the queue was empty or storing failed."""
        item = await self.client.receive_notification(receive_timeout=self.receive_timeout)
        if not item:
            return False
        receipt_id = item.get("receiptId") if isinstance(item, dict) else None
        body = item.get("body") if isinstance(item, dict) else item
        try:
            message = parse_webhook(body)
        except Exception as exc:   # WebhookError, or anything a hostile body provokes: never retried
            await self._bury(receipt_id, body, f"unparseable: {exc}", 1)
        else:
            try:
                # accept() returns once the message is stored in the durable inbox: from then on the inbox owns it
                # (processing, retries, replay at start-up), so it is deleted from GREEN-API's queue at once and
                # chats are processed concurrently, each in order, instead of one poll waiting for a slow turn
                done = await self.accept(message)
                if done is not None:
                    asyncio.ensure_future(done).add_done_callback(_log_failure)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempts = self.failures.get(receipt_id, 0) + 1
                if attempts < self.max_attempts:
                    self.failures[receipt_id] = attempts
                    if len(self.failures) > MAX_TRACKED_FAILURES:
                        self.failures.pop(next(iter(self.failures)))
                    logger.warning("notification %s failed (attempt %d of %d); it is kept for a retry",
                                   receipt_id, attempts, self.max_attempts)
                    await self.sleep(1.0)
                    return False
                await self._bury(receipt_id, body, f"failed: {type(exc).__name__}: {exc}", attempts)
        self.failures.pop(receipt_id, None)
        if receipt_id is None:
            logger.warning("polled notification without a receiptId: it cannot be deleted")
            return True
        await self.client.delete_notification(receipt_id)
        return True

    async def run_forever(self) -> None:
        backoff = 1.0
        while True:
            try:
                if self.hold_lease is not None:
                    holding = await self.hold_lease()
                    if holding != self.polling:
                        logger.info("GREEN-API polling %s here", "taken up" if holding else "left to another replica")
                        self.polling = holding
                    if not holding:
                        await self.sleep(LEASE_WAIT_SECONDS)
                        continue
                processed = await self.poll_once()
                backoff = 1.0
                if not processed:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("polling error: %s; retrying in %.0fs", exc, backoff)
                await self.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
