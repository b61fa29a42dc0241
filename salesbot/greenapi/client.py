"""Async GREEN-API client: `{apiUrl}/waInstance{id}/{method}/{token}`, uploads on mediaUrl.

Retries with exponential backoff where the request surely was not performed: 429, 5xx and a connection that
never opened. A timeout (or a connection lost after the request went out) of a send is never retried here: the
message may have gone through, and sending it again could reach the customer twice; the outbox relay decides
after checking `lastOutgoingMessages`. Reads (GET) and deleteNotification may be repeated safely. Never on other
4xx. The token only ever appears in the URL path and is masked in every log line and error message.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import unquote, urlparse

import aiohttp

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4000  # GREEN-API takes 20000; shorter pieces read better on a phone
IDEMPOTENT_VERBS = ("GET", "DELETE")  # repeating them after a timeout does no harm


class GreenApiError(Exception):
    """`status` None = no HTTP answer: `connect_failed` (the request never left) or `timed_out` (it may have
    been performed); `retry_after` = seconds from a Retry-After header."""

    def __init__(self, method: str, status: Optional[int], body: str, retry_after: Optional[float] = None,
                 timed_out: bool = False, connect_failed: bool = False):
        super().__init__(f"GREEN-API {method} failed: HTTP {status}: {body[:300]}")
        self.method, self.status, self.body = method, status, body
        self.retry_after, self.timed_out, self.connect_failed = retry_after, timed_out, connect_failed

    @property
    def retryable(self) -> bool:
        """Safe to repeat whatever the method: the server did not perform the request."""
        if self.status is None:
            return self.connect_failed
        return self.status == 429 or self.status >= 500

    @property
    def outcome_unknown(self) -> bool:
        """No answer after the request went out (timeout, connection dropped): it may have been performed."""
        return self.status is None and not self.connect_failed


@dataclass(frozen=True)
class GreenApiConfig:
    api_url: str
    media_url: str
    instance_id: str
    token: str = field(repr=False)    # the token is part of every URL: never in a repr, a log line or an error
    retries: int = 4
    backoff_base: float = 0.5
    timeout: float = 15.0


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds of a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> List[str]:
    """Split at paragraph, line, sentence or word boundaries so no piece exceeds `limit`."""
    text = text.strip()
    pieces: List[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
            cut = cut + 1 if cut >= limit // 2 else window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces


class GreenApiClient:
    def __init__(self, config: GreenApiConfig, session: Optional[aiohttp.ClientSession] = None, sleep=asyncio.sleep):
        self.config = config
        self._session = session
        self._own_session = session is None
        self._sleep = sleep

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    def url(self, method: str, media: bool = False, suffix: str = "") -> str:
        base = self.config.media_url if media else self.config.api_url
        return f"{base}/waInstance{self.config.instance_id}/{method}/{self.config.token}{suffix}"

    def _mask(self, text: str) -> str:
        return text.replace(self.config.token, "***") if self.config.token else text

    async def call(self, method: str, http_method: str = "POST", json: Any = None, data: Any = None,
                   media: bool = False, suffix: str = "", params: Optional[Dict[str, Any]] = None,
                   timeout: Optional[float] = None, retries: Optional[int] = None) -> Any:
        """One API call with retries; returns the parsed JSON (None for an empty body)."""
        attempts = (self.config.retries if retries is None else retries) + 1
        session = await self._get_session()
        last_error: Optional[GreenApiError] = None
        for attempt in range(attempts):
            try:
                request_timeout = aiohttp.ClientTimeout(total=timeout or self.config.timeout)
                payload = data() if callable(data) else data  # multipart bodies cannot be re-sent
                async with session.request(http_method, self.url(method, media, suffix), json=json, data=payload,
                                           params=params, timeout=request_timeout) as response:
                    body = await response.text()
                    if response.status == 200:
                        if not body.strip():
                            return None
                        try:
                            return await response.json(content_type=None)
                        except ValueError:
                            return body
                    last_error = GreenApiError(method, response.status, self._mask(body),
                                               retry_after=parse_retry_after(response.headers.get("Retry-After")))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last_error = GreenApiError(method, None, self._mask(f"{type(exc).__name__}: {exc}"),
                                           timed_out=isinstance(exc, asyncio.TimeoutError),
                                           connect_failed=isinstance(exc, aiohttp.ClientConnectorError))
            repeatable = last_error.retryable or (last_error.outcome_unknown and http_method in IDEMPOTENT_VERBS)
            if not repeatable or attempt == attempts - 1:
                break
            delay = self.config.backoff_base * (2 ** attempt) * (1 + random.random() * 0.2)
            delay = max(delay, min(last_error.retry_after or 0.0, 60.0))
            logger.warning("greenapi %s attempt %d failed (%s), retrying in %.2fs",
                           method, attempt + 1, last_error.status or "network", delay)
            await self._sleep(delay)
        assert last_error is not None
        raise last_error

    # -- sends ------------------------------------------------------------------------------------------------
    async def send_message(self, chat_id: str, message: str) -> List[str]:
        ids = []
        for piece in split_text(message):
            reply = await self.call("sendMessage", json={"chatId": chat_id, "message": piece})
            ids.append(str((reply or {}).get("idMessage", "")))
        return ids

    async def send_contact(self, chat_id: str, phone: str, first_name: str) -> str:
        contact = {"phoneContact": int(phone), "firstName": first_name or "Клиент"}
        reply = await self.call("sendContact", json={"chatId": chat_id, "contact": contact})
        return str((reply or {}).get("idMessage", ""))

    async def send_file_by_url(self, chat_id: str, url: str, caption: str = "") -> str:
        file_name = Path(unquote(urlparse(url).path)).name or "photo.jpg"
        body = {"chatId": chat_id, "urlFile": url, "fileName": file_name}
        if caption:
            body["caption"] = caption
        reply = await self.call("sendFileByUrl", json=body)
        return str((reply or {}).get("idMessage", ""))

    async def send_file_by_upload(self, chat_id: str, path: Path, caption: str = "") -> str:
        content = await asyncio.to_thread(Path(path).read_bytes)

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("chatId", chat_id)
            data.add_field("file", content, filename=Path(path).name)
            data.add_field("fileName", Path(path).name)
            if caption:
                data.add_field("caption", caption)
            return data

        reply = await self.call("sendFileByUpload", data=form, media=True)
        return str((reply or {}).get("idMessage", ""))

    async def send_typing(self, chat_id: str, typing_time_ms: int = 2000) -> None:
        await self.call("sendTyping", json={"chatId": chat_id, "typingTime": typing_time_ms}, retries=0)

    # -- journals ---------------------------------------------------------------------------------------------
    async def last_outgoing_messages(self, minutes: int = 60, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """The instance's outgoing messages of the last `minutes` (GREEN-API's journal; may lag a send)."""
        reply = await self.call("lastOutgoingMessages", http_method="GET", params={"minutes": int(minutes)},
                                timeout=timeout, retries=0)
        return [entry for entry in reply if isinstance(entry, dict)] if isinstance(reply, list) else []

    # -- polling ----------------------------------------------------------------------------------------------
    async def receive_notification(self, receive_timeout: int = 20) -> Optional[Dict[str, Any]]:
        return await self.call("receiveNotification", http_method="GET", params={"receiveTimeout": receive_timeout},
                               timeout=receive_timeout + 10, retries=0)

    async def delete_notification(self, receipt_id: int) -> None:
        await self.call("deleteNotification", http_method="DELETE", suffix=f"/{receipt_id}")
