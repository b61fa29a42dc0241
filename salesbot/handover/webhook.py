"""The handover webhook into the shop's CRM, signed as Standard Webhooks (https://www.standardwebhooks.com):
headers `webhook-id` (the same on every retry, so the receiver can drop repeats), `webhook-timestamp` (epoch
seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. The secret is
`whsec_<base64 key>` (the standard's form) or any other text, used as the key's bytes.

Sent through the outbox relay (kind `handover.webhook`): 2xx = delivered; 429, 5xx and network errors are retried
on a schedule (5 attempts over about 2.6 hours by default); 410 Gone switches the webhook off until re-enabled;
any other answer fails at once. A repeat after a timeout is harmless (same webhook-id), so it is not checked.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any, Dict, Optional

import aiohttp

from salesbot.outbox import OutboxItem, OutcomeUnknown, RetryableError, Sender, TerminalError

WEBHOOK_KIND = "handover.webhook"
INTEGRATION_NAME = "handover_webhook"
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0)  # waits after attempts 1-4: the 5th is the last


def secret_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode("utf-8")


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(secret_key(secret), f"{webhook_id}.{timestamp}.{body}".encode("utf-8"), hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode("ascii")


def event_body(event_type: str, data: Dict[str, Any], at: Optional[float] = None) -> str:
    moment = time.gmtime(at if at is not None else time.time())
    return json.dumps({"type": event_type, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment), "data": data},
                      ensure_ascii=False, separators=(",", ":"))


def new_webhook_id() -> str:
    return "msg_" + uuid.uuid4().hex


async def post_signed(session: aiohttp.ClientSession, url: str, secret: str, webhook_id: str, body: str,
                      timeout: float = 15.0) -> int:
    """One signed POST; returns the receiver's HTTP status (raises aiohttp/asyncio errors)."""
    timestamp = int(time.time())
    headers = {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, webhook_id, timestamp, body)}
    async with session.post(url, data=body.encode("utf-8"), headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        await response.read()
        return response.status


class WebhookDelivery:
    """The outbox sender of `handover.webhook` rows: payload {"webhook_id", "body"}, target = the URL."""

    def __init__(self, secret: str, handovers: Any, timeout: float = 15.0):
        self.secret = secret
        self.handovers = handovers  # HandoverRepository: the 410 switch
        self.timeout = timeout
        self._session: Optional[aiohttp.ClientSession] = None

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, item: OutboxItem) -> Optional[str]:
        body, webhook_id = item.payload.get("body"), item.payload.get("webhook_id")
        if not isinstance(body, str) or not isinstance(webhook_id, str):
            raise TerminalError("payload has no 'body' or 'webhook_id'")
        try:
            status = await post_signed(await self.session(), item.target, self.secret, webhook_id, body,
                                       self.timeout)
        except aiohttp.ClientConnectorError as exc:
            raise RetryableError(f"no connection: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return str(status)
        if status == 410:
            import asyncio

            await asyncio.to_thread(self.handovers.disable, INTEGRATION_NAME, f"{item.target} answered 410 Gone")
            raise TerminalError("the receiver answered 410 Gone: the webhook is switched off", status)
        if status == 429 or status >= 500:
            raise RetryableError(f"HTTP {status}", status)
        raise TerminalError(f"HTTP {status}", status)

    async def drop_reason(self, item: OutboxItem) -> Optional[str]:
        import asyncio

        reason = await asyncio.to_thread(self.handovers.disabled_reason, INTEGRATION_NAME)
        return f"webhook switched off: {reason}" if reason else None

    def sender(self) -> Sender:
        return Sender(self.send, idempotent=True, drop_reason=self.drop_reason)
