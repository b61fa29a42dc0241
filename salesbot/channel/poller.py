"""Polling mode: receiveNotification long-poll; a notification is deleted only after it was processed, so one that
failed (or was in flight when the process died) is received again."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional

from salesbot.greenapi.webhooks import InboundMessage, WebhookError, parse_webhook

logger = logging.getLogger(__name__)

# accept(message) -> an awaitable that completes when the message was processed (None: nothing to wait for)
Accept = Callable[[InboundMessage], Awaitable[Optional[Awaitable[Any]]]]


class Poller:
    def __init__(self, client, accept: Accept, receive_timeout: int = 20, sleep=asyncio.sleep):
        self.client = client
        self.accept = accept
        self.receive_timeout = receive_timeout
        self.sleep = sleep

    async def poll_once(self) -> bool:
        """Take one notification, process it, delete it. False when the queue was empty or processing failed."""
        item = await self.client.receive_notification(receive_timeout=self.receive_timeout)
        if not item:
            return False
        receipt_id = item.get("receiptId")
        try:
            message = parse_webhook(item.get("body"))
        except WebhookError as exc:
            logger.warning("polled notification %s dropped: %s", receipt_id, exc)
        else:
            done = await self.accept(message)
            if done is not None:
                try:
                    await done
                except Exception:
                    logger.warning("notification %s failed; it is kept for a retry", receipt_id)
                    await self.sleep(1.0)
                    return False
        await self.client.delete_notification(receipt_id)
        return True

    async def run_forever(self) -> None:
        backoff = 1.0
        while True:
            try:
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
