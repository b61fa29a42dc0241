"""A small async client of the amoCRM Chats API (amojo) over httpx: connect, import a message, delivery status.

Errors are the outbox's: 429/5xx and a connection that never opened are RetryableError, a timeout after the
request went out is OutcomeUnknown, any other 4xx (401/403 = a bad signature or secret) is TerminalError.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional

import httpx

from salesbot.amocrm.signing import encode_body, signed_headers
from salesbot.outbox import OutcomeUnknown, RetryableError, SendError, TerminalError

logger = logging.getLogger(__name__)

# delivery_status codes of amojo
STATUS_DELIVERED = 1
STATUS_READ = 2
STATUS_ERROR = -1
ERROR_NOT_ON_WHATSAPP = 904  # "cannot create the conversation (e.g. the user is not on WhatsApp)"
ERROR_OTHER = 905            # any other: sent with its text


class AmojoClient:
    def __init__(self, base_url: str, channel_id: str, secret: str, account_id: str, timeout: float = 15.0,
                 clock: Callable[[], float] = time.time, transport: Optional[httpx.AsyncBaseTransport] = None):
        self.base_url = base_url.rstrip("/")
        self.channel_id = channel_id
        self._secret = secret
        self.account_id = account_id
        self.clock = clock
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: Dict[str, Any]) -> Any:
        raw = encode_body(body)
        headers = signed_headers(self._secret, "POST", path, raw, self.clock())
        try:
            response = await self._http.post(path, content=raw, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(f"amojo unreachable: {type(exc).__name__}") from exc
        except httpx.TimeoutException as exc:
            raise OutcomeUnknown(f"amojo timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(f"amojo connection failed: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After", "")
            raise RetryableError(f"amojo answered {response.status_code}", response.status_code,
                                 float(retry_after) if retry_after.isdigit() else None)
        if response.status_code >= 400:
            raise TerminalError(f"amojo answered {response.status_code}: {response.text[:300]}",
                                response.status_code)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def connect(self, title: str) -> str:
        """Connect the channel to the account; returns the scope_id for the account's messages."""
        answer = await self._post(f"/v2/origin/custom/{self.channel_id}/connect",
                                  {"account_id": self.account_id, "title": title, "hook_api_version": "v2"})
        scope_id = answer.get("scope_id") if isinstance(answer, dict) else None
        if not isinstance(scope_id, str) or not scope_id:
            raise SendError("amojo connect answered without a scope_id")
        return scope_id

    async def import_message(self, scope_id: str, payload: Dict[str, Any]) -> Optional[str]:
        """POST /v2/origin/custom/{scope_id} with event_type new_message; returns amojo's id of the message."""
        answer = await self._post(f"/v2/origin/custom/{scope_id}", {"event_type": "new_message", "payload": payload})
        new = answer.get("new_message") if isinstance(answer, dict) else None
        return str(new.get("msgid")) if isinstance(new, dict) and new.get("msgid") else None

    async def delivery_status(self, scope_id: str, msgid: str, status_code: int, error_code: Optional[int] = None,
                              error: str = "") -> None:
        body: Dict[str, Any] = {"msgid": msgid, "delivery_status": status_code, "status_code": status_code}
        if status_code == STATUS_ERROR:
            body.update(error_code=error_code or ERROR_OTHER, error=error or "not delivered")
        await self._post(f"/v2/origin/custom/{scope_id}/{msgid}/delivery_status", body)
