"""A local GREEN-API-compatible server with a control API and a chat page.

The sandbox plays three roles at once:

* the GREEN-API instance (``{base}/waInstance{id}/{method}/{token}``) that the bot calls;
* WhatsApp itself: customers, the shop's phone (managers) and the managers' group, driven through
  the control API under ``/sandbox/`` or through the chat page at ``/``;
* GREEN-API's notification side: webhooks are pushed to ``webhookUrl`` (in order per chat; a webhook that is
  not accepted is re-delivered for minutes with growing delays) or, when ``webhookUrl`` is empty, queued for
  ``receiveNotification`` / ``deleteNotification``. It also tells whether the bot is up (``/sandbox/bot``).

Only aiohttp is required.  Nothing happens at import time: the state lives in a :class:`Sandbox` object
that :func:`create_app` builds.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import dataclasses
import json
import logging
import re
import struct
import time
import uuid
import zlib
from functools import partial
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Tuple
from urllib.parse import quote

import aiohttp
from aiohttp import web

log = logging.getLogger("sandbox")

STATIC_DIR = Path(__file__).parent / "static"

_dumps = partial(json.dumps, ensure_ascii=False)

CHAT_ID_RE = re.compile(r"^(\d{3,20}@c\.us|[\d-]{3,50}@g\.us|\d{3,30}@lid)$")
FLAG_SETTINGS = (
    "incomingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "outgoingWebhook",
    "markIncomingMessagesReaded",
    "markIncomingMessagesReadedOnReply",
    "deviceWebhook",
    "stateWebhook",
    "statusInstanceWebhook",
    "incomingCallWebhook",
    "pollMessageWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
    "keepOnlineStatus",
)
MAX_MESSAGE_CHARS = 20000


@dataclasses.dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 7700
    instance_id: int = 1101000001
    token: str = "sandbox-token"
    webhook_url: str = ""  # empty = polling mode (notifications are queued)
    webhook_token: str = ""
    wid: str = "77010000000@c.us"
    group_id: str = "120363000000000001@g.us"
    group_name: str = "Менеджеры магазина"
    shop_name: str = "Оттенок"
    group_member: str = "77015550001@c.us"  # default sender of customer-side messages in a group
    public_url: str = ""  # base URL for urlFile/downloadUrl; default: the URL the request came to
    # A webhook that was not accepted (connection error, timeout, 5xx) is re-delivered after retry_initial
    # seconds, doubling up to retry_max_delay, until retry_window seconds have passed since its first attempt
    # (GREEN-API, too, keeps re-sending instead of giving up at once). An explicit retry_backoff tuple
    # replaces that schedule with fixed delays (one retry per entry), for tests.
    retry_backoff: Optional[Tuple[float, ...]] = None
    retry_initial: float = 0.5
    retry_max_delay: float = 30.0
    retry_window: float = 600.0
    webhook_timeout: float = 15.0  # seconds for one webhook POST
    bot_health_url: str = ""  # probed to tell whether the bot is up; default: webhookUrl's folder
    bot_probe_seconds: float = 1.0  # how often the bot's health is probed while it is down (5x that while up)
    max_log: int = 5000  # calls / deliveries kept in memory

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


# canonical camelCase name -> HTTP method
METHODS: Dict[str, str] = {
    "sendMessage": "POST",
    "sendContact": "POST",
    "sendFileByUrl": "POST",
    "sendFileByUpload": "POST",
    "uploadFile": "POST",
    "sendTyping": "POST",
    "readChat": "POST",
    "receiveNotification": "GET",
    "deleteNotification": "DELETE",
    "getSettings": "GET",
    "setSettings": "POST",
    "getStateInstance": "GET",
    "getWaSettings": "GET",
    "lastOutgoingMessages": "GET",
}
_CANONICAL = {name.lower(): name for name in METHODS}

_EXT_KIND = {
    "jpg": "image", "jpeg": "image", "png": "image", "gif": "image", "webp": "image", "bmp": "image",
    "mp4": "video", "mov": "video", "avi": "video", "3gp": "video", "mkv": "video", "webm": "video",
    "mp3": "audio", "ogg": "audio", "opus": "audio", "m4a": "audio", "wav": "audio", "aac": "audio", "oga": "audio",
}
_EXT_MIME = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
    "bmp": "image/bmp", "mp4": "video/mp4", "mov": "video/quicktime", "avi": "video/x-msvideo",
    "3gp": "video/3gpp", "webm": "video/webm", "mkv": "video/x-matroska", "mp3": "audio/mpeg",
    "ogg": "audio/ogg", "opus": "audio/ogg", "oga": "audio/ogg", "m4a": "audio/mp4", "wav": "audio/wav",
    "aac": "audio/aac", "pdf": "application/pdf", "txt": "text/plain", "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "zip": "application/zip", "json": "application/json",
}
_MEDIA_TYPES = ("imageMessage", "videoMessage", "documentMessage", "audioMessage", "stickerMessage")
_PLACEHOLDER = {
    "imageMessage": ("image.png", "image/png"),
    "videoMessage": ("video.mp4", "video/mp4"),
    "documentMessage": ("document.pdf", "application/pdf"),
    "audioMessage": ("voice.ogg", "audio/ogg; codecs=opus"),
    "stickerMessage": ("sticker.webp", "image/webp"),
}
INCOMING_TYPES = (
    "textMessage", "extendedTextMessage", "quotedMessage", "reactionMessage",
    *_MEDIA_TYPES,
    "locationMessage", "contactMessage",
    "interactiveButtonsResponse", "buttonsResponseMessage", "listResponseMessage",
)


def new_message_id() -> str:
    return uuid.uuid4().hex.upper()


def _ext(file_name: str) -> str:
    return file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""


def file_kind(file_name: str, mime: str = "") -> str:
    """image / video / audio / document, decided by the extension like GREEN-API does."""
    kind = _EXT_KIND.get(_ext(file_name))
    if kind:
        return kind
    for prefix in ("image", "video", "audio"):
        if mime.startswith(prefix + "/"):
            return prefix
    return "document"


def guess_mime(file_name: str) -> str:
    return _EXT_MIME.get(_ext(file_name), "application/octet-stream")


def make_png(width: int = 96, height: int = 96, seed: int = 0) -> bytes:
    """A small gradient PNG made with zlib only (used as the placeholder photo of a customer)."""
    r0, g0, b0 = (90 + seed * 37) % 256, (160 + seed * 53) % 256, (200 + seed * 71) % 256
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((r0 + x) % 256, (g0 + y) % 256, (b0 + (x + y) // 2) % 256))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def make_vcard(contact: Dict[str, Any]) -> str:
    first = str(contact.get("firstName") or "")
    middle = str(contact.get("middleName") or "")
    last = str(contact.get("lastName") or "")
    company = str(contact.get("company") or "")
    phone = str(contact.get("phoneContact") or "")
    full = " ".join(p for p in (first, middle, last) if p) or phone
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:{last};{first};{middle};;", f"FN:{full}"]
    if company:
        lines.append(f"ORG:{company};")
    lines.append(f"TEL;type=CELL;type=VOICE;waid={phone}:+{phone}")
    lines.append("END:VCARD")
    return "\n".join(lines)


def _phone_from_vcard(vcard: str) -> str:
    m = re.search(r"waid=(\d+)", vcard or "")
    if m:
        return m.group(1)
    m = re.search(r"TEL[^:]*:([+\d\s()-]+)", vcard or "")
    return re.sub(r"\D", "", m.group(1)) if m else ""


def describe_message_data(md: Any) -> Dict[str, Any]:
    """Transcript fields (type, text, caption, file, contact, location) of any GREEN-API messageData."""
    out: Dict[str, Any] = {"typeMessage": None, "type": "other", "text": None}
    if not isinstance(md, dict):
        return out
    t = md.get("typeMessage")
    out["typeMessage"] = t
    ext = md.get("extendedTextMessageData") if isinstance(md.get("extendedTextMessageData"), dict) else {}
    if t == "textMessage":
        out["type"] = "text"
        out["text"] = (md.get("textMessageData") or {}).get("textMessage")
    elif t in ("extendedTextMessage", "quotedMessage"):
        out["type"] = "text"
        out["text"] = ext.get("text")
        if isinstance(md.get("quotedMessage"), dict):
            out["quoted"] = md["quotedMessage"]
    elif t == "reactionMessage":
        out["type"] = "reaction"
        out["text"] = ext.get("text")
    elif t in _MEDIA_TYPES:
        f = md.get("fileMessageData") or {}
        out["type"] = "file"
        out["fileKind"] = t[: -len("Message")]
        out["urlFile"] = f.get("downloadUrl")
        out["caption"] = f.get("caption") or None
        out["fileName"] = f.get("fileName")
        out["mimeType"] = f.get("mimeType")
    elif t == "locationMessage":
        loc = md.get("locationMessageData") or {}
        out["type"] = "location"
        out["location"] = loc
        out["text"] = loc.get("nameLocation") or loc.get("address") or None
    elif t == "contactMessage":
        c = md.get("contactMessageData") or {}
        out["type"] = "contact"
        out["contact"] = {
            "displayName": c.get("displayName"),
            "vcard": c.get("vcard"),
            "phoneContact": _phone_from_vcard(c.get("vcard") or ""),
        }
    elif t == "interactiveButtonsResponse":
        out["type"] = "button"
        out["text"] = (md.get("interactiveButtonsResponse") or {}).get("selectedDisplayText")
    elif t == "buttonsResponseMessage":
        out["type"] = "button"
        out["text"] = (md.get("buttonsResponseMessage") or {}).get("selectedButtonText")
    elif t == "listResponseMessage":
        out["type"] = "button"
        out["text"] = (md.get("listResponseMessage") or {}).get("title")
    elif t == "templateButtonsReplyMessage":
        out["type"] = "button"
        out["text"] = (md.get("templateButtonsReplyMessage") or {}).get("selectedDisplayText")
    return out


class BadRequest(Exception):
    """A control-API request that cannot be served (answered 400 with {"error": ...})."""


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.settings: Dict[str, Any] = {
            "wid": config.wid,
            "countryInstance": "kz",
            "typeAccount": "sandbox",
            "webhookUrl": config.webhook_url,
            "webhookUrlToken": config.webhook_token,
            "delaySendMessagesMilliseconds": 0,
            "markIncomingMessagesReaded": "no",
            "markIncomingMessagesReadedOnReply": "no",
            "outgoingWebhook": "no",
            "outgoingMessageWebhook": "yes",
            "outgoingAPIMessageWebhook": "yes",
            "incomingWebhook": "yes",
            "deviceWebhook": "no",
            "statusInstanceWebhook": "no",
            "stateWebhook": "no",
            "incomingCallWebhook": "no",
            "pollMessageWebhook": "no",
            "editedMessageWebhook": "no",
            "deletedMessageWebhook": "no",
            "keepOnlineStatus": "no",
        }
        self.files: Dict[str, Tuple[bytes, str, str]] = {}
        self._receipt_seq = 0  # never reset, so an old receiptId never deletes a new item
        self._session: Optional[aiohttp.ClientSession] = None
        # Whether the bot answers: learnt from webhook deliveries and from probing its health URL (push mode),
        # or from its receiveNotification calls (polling mode). Kept across /sandbox/reset.
        self.bot_up = False
        self.bot_changed_at = time.time()
        self.bot_checked_at: Optional[float] = None
        self.bot_source = "not checked yet"
        self._last_poll_at: Optional[float] = None
        self._last_poll_timeout = 0.0
        self._bot_came_up: Optional["asyncio.Future[None]"] = None
        self._prober: Optional["asyncio.Task[None]"] = None
        self._closing = False   # shutting down: long polls in progress return at once
        self._reset_state()

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self.chats: Dict[str, Dict[str, Any]] = {}
        self.calls: Deque[Dict[str, Any]] = collections.deque(maxlen=self.config.max_log)
        self.deliveries: Deque[Dict[str, Any]] = collections.deque(maxlen=self.config.max_log)
        self.queue: List[Dict[str, Any]] = []
        self.faults: List[Dict[str, Any]] = []
        self.webhook_duplicates = 0
        self.webhook_delay_ms = 0
        self._msg_seq = 0
        self._call_seq = 0
        self._delivery_seq = 0
        self._push_queues: Dict[str, Deque[Tuple[bytes, Dict[str, Any]]]] = {}
        self._workers: Dict[str, "asyncio.Task[None]"] = {}
        self._queue_waiters: set = set()
        if self.config.group_id:
            self._chat(self.config.group_id, self.config.group_name)

    def reset(self) -> None:
        for task in list(getattr(self, "_workers", {}).values()):
            task.cancel()
        waiters = self._queue_waiters
        self._reset_state()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _chat(self, chat_id: str, name: Optional[str] = None) -> Dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is None:
            is_group = chat_id.endswith("@g.us")
            if not name:
                if chat_id == self.config.group_id:
                    name = self.config.group_name
                elif chat_id.endswith("@c.us"):
                    name = "+" + chat_id.split("@", 1)[0]
                else:
                    name = chat_id
            chat = {"chatId": chat_id, "name": name, "isGroup": is_group, "messages": [],
                    "typingUntil": 0.0, "created": time.time()}
            self.chats[chat_id] = chat
        elif name:
            chat["name"] = name
        return chat

    def chat_summary(self, chat: Dict[str, Any]) -> Dict[str, Any]:
        msgs = chat["messages"]
        return {
            "chatId": chat["chatId"],
            "name": chat["name"],
            "isGroup": chat["isGroup"],
            "last": msgs[-1] if msgs else None,
            "count": len(msgs),
            "typing": chat["typingUntil"] > time.time(),
        }

    def _record_message(self, chat_id: str, id_message: str, direction: str, by: str, md: Dict[str, Any],
                        sender: str = "", sender_name: str = "", timestamp: Optional[int] = None,
                        chat_name: Optional[str] = None) -> Dict[str, Any]:
        chat = self._chat(chat_id, chat_name)
        self._msg_seq += 1
        desc = describe_message_data(md)
        entry = {
            "seq": self._msg_seq,
            "idMessage": id_message,
            "chatId": chat_id,
            "direction": direction,
            "by": by,
            "type": desc.get("type"),
            "typeMessage": desc.get("typeMessage"),
            "text": desc.get("text"),
            "caption": desc.get("caption"),
            "fileName": desc.get("fileName"),
            "fileKind": desc.get("fileKind"),
            "mimeType": desc.get("mimeType"),
            "urlFile": desc.get("urlFile"),
            "contact": desc.get("contact"),
            "location": desc.get("location"),
            "quoted": desc.get("quoted"),
            "sender": sender,
            "senderName": sender_name,
            "timestamp": int(timestamp if timestamp is not None else time.time()),
        }
        chat["messages"].append(entry)
        if direction == "out":
            chat["typingUntil"] = 0.0
        return entry

    # --------------------------------------------------------------- webhooks
    def instance_data(self) -> Dict[str, Any]:
        return {"idInstance": int(self.config.instance_id), "wid": self.config.wid, "typeInstance": "whatsapp"}

    def message_webhook(self, type_webhook: str, id_message: str, sender_data: Dict[str, Any],
                        message_data: Dict[str, Any], timestamp: Optional[int] = None) -> Dict[str, Any]:
        return {
            "typeWebhook": type_webhook,
            "instanceData": self.instance_data(),
            "timestamp": int(timestamp if timestamp is not None else time.time()),
            "idMessage": id_message,
            "senderData": sender_data,
            "messageData": message_data,
        }

    def outgoing_sender_data(self, chat_id: str) -> Dict[str, Any]:
        return {
            "chatId": chat_id,
            "chatName": self._chat(chat_id)["name"],
            "sender": self.config.wid,
            "senderName": self.config.shop_name,
            "senderContactName": "",
        }

    @staticmethod
    def _webhook_chat(body: Any) -> str:
        if not isinstance(body, dict):
            return ""
        sd = body.get("senderData")
        if isinstance(sd, dict) and sd.get("chatId"):
            return str(sd["chatId"])
        return str(body.get("chatId") or "")

    def emit(self, body: Dict[str, Any], duplicates: Optional[int] = None) -> None:
        """Hand a webhook to GREEN-API's notification side: push it or queue it for polling."""
        copies = 1 + (self.webhook_duplicates if duplicates is None else duplicates)
        payload = _dumps(body).encode("utf-8")
        for n in range(copies):
            meta = {
                "typeWebhook": body.get("typeWebhook") if isinstance(body, dict) else None,
                "idMessage": body.get("idMessage") if isinstance(body, dict) else None,
                "chatId": self._webhook_chat(body),
                "duplicate": n > 0,
            }
            if self.settings.get("webhookUrl"):
                self._enqueue_push(meta["chatId"], payload, meta)
            else:
                self._enqueue_poll(body, meta)

    def _enqueue_poll(self, body: Any, meta: Dict[str, Any]) -> None:
        self._receipt_seq += 1
        self.queue.append({"receiptId": self._receipt_seq, "body": body})
        self._record_delivery(meta, attempt=1, status="queued", latency_ms=0, receiptId=self._receipt_seq)
        waiters, self._queue_waiters = self._queue_waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _enqueue_push(self, key: str, payload: bytes, meta: Dict[str, Any]) -> None:
        dq = self._push_queues.setdefault(key, collections.deque())
        dq.append((payload, meta))
        task = self._workers.get(key)
        if task is None or task.done():
            self._workers[key] = asyncio.get_running_loop().create_task(self._push_worker(key, dq))

    async def _push_worker(self, key: str, dq: Deque[Tuple[bytes, Dict[str, Any]]]) -> None:
        try:
            while dq:
                payload, meta = dq.popleft()
                await self._deliver(payload, meta)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if self._push_queues.get(key) is dq and not dq:
                    del self._push_queues[key]

    def _record_delivery(self, meta: Dict[str, Any], attempt: int, status: Any, latency_ms: float,
                         **extra: Any) -> None:
        self._delivery_seq += 1
        rec = {
            "seq": self._delivery_seq,
            "time": time.time(),
            "typeWebhook": meta.get("typeWebhook"),
            "idMessage": meta.get("idMessage"),
            "chatId": meta.get("chatId"),
            "attempt": attempt,
            "status": status,
            "latency_ms": round(latency_ms, 1),
            "duplicate": meta.get("duplicate", False),
        }
        rec.update(extra)
        self.deliveries.append(rec)

    # ------------------------------------------------------------ bot status
    def bot_health_url(self) -> str:
        if self.config.bot_health_url:
            return self.config.bot_health_url
        url = self.settings.get("webhookUrl") or ""
        return url.rsplit("/", 1)[0] + "/" if url else ""

    def _mark_bot(self, up: bool, source: str) -> None:
        self.bot_checked_at = time.time()
        self.bot_source = source
        if up == self.bot_up:
            return
        self.bot_up = up
        self.bot_changed_at = self.bot_checked_at
        log.info("the bot is %s (%s)", "up" if up else "down", source)
        if up and self._bot_came_up is not None and not self._bot_came_up.done():
            self._bot_came_up.set_result(None)  # wake the webhooks waiting to be re-delivered
            self._bot_came_up = None

    def bot_status(self) -> Dict[str, Any]:
        if not self.settings.get("webhookUrl"):
            # polling: the bot is up while it keeps asking for notifications
            recent = self._last_poll_at is not None and \
                time.time() - self._last_poll_at <= self._last_poll_timeout + 10
            if recent != self.bot_up:
                self._mark_bot(recent, "receiveNotification calls")
        return {"up": self.bot_up, "since": self.bot_changed_at, "checkedAt": self.bot_checked_at,
                "source": self.bot_source, "mode": "webhook" if self.settings.get("webhookUrl") else "polling",
                "healthUrl": self.bot_health_url() or None,
                "pendingWebhooks": sum(len(dq) for dq in self._push_queues.values()) + len(self._workers)}

    async def probe_bot_forever(self) -> None:
        """GET the bot's health URL: every bot_probe_seconds while it is down, five times slower while up."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
            while True:
                url = self.bot_health_url() if self.settings.get("webhookUrl") else ""
                if url:
                    try:
                        async with session.get(url) as resp:
                            await resp.read()
                            self._mark_bot(resp.status == 200, f"GET {url} → {resp.status}")
                    except asyncio.CancelledError:
                        raise
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                        self._mark_bot(False, f"GET {url}: {exc.__class__.__name__}")
                else:
                    self.bot_status()
                await asyncio.sleep(self.config.bot_probe_seconds * (5 if self.bot_up else 1))

    def _retry_delay(self, attempt: int, first_attempt_at: float) -> Optional[float]:
        """Seconds before re-delivering after `attempt` failed, or None to give up."""
        if self.config.retry_backoff is not None:
            backoff = tuple(self.config.retry_backoff)
            return backoff[attempt - 1] if attempt <= len(backoff) else None
        if time.monotonic() - first_attempt_at >= self.config.retry_window:
            return None
        return min(self.config.retry_initial * 2 ** (attempt - 1), self.config.retry_max_delay)

    async def _wait_before_retry(self, delay: float) -> None:
        """Sleep `delay`, or less when the bot comes up meanwhile (no need to wait out a long delay then)."""
        if self.bot_up:
            await asyncio.sleep(delay)
            return
        if self._bot_came_up is None or self._bot_came_up.done():
            self._bot_came_up = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._bot_came_up), delay)
        except asyncio.TimeoutError:
            pass

    async def _deliver(self, payload: bytes, meta: Dict[str, Any]) -> None:
        if self.webhook_delay_ms:
            await asyncio.sleep(self.webhook_delay_ms / 1000.0)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout))
        first_attempt_at = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            url = self.settings.get("webhookUrl") or ""
            if not url:  # switched to polling meanwhile
                self._enqueue_poll(json.loads(payload.decode("utf-8")), meta)
                return
            headers = {"Content-Type": "application/json"}
            token = self.settings.get("webhookUrlToken") or ""
            if token:
                headers["Authorization"] = f"Bearer {token}"
            started = time.monotonic()
            status: Any
            try:
                async with self._session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                status = "error"
                log.info("webhook %s chat=%s id=%s attempt=%d error: %s", meta.get("typeWebhook"),
                         meta.get("chatId"), meta.get("idMessage"), attempt, exc.__class__.__name__)
                self._mark_bot(False, f"webhook delivery: {exc.__class__.__name__}")
            latency = (time.monotonic() - started) * 1000
            self._record_delivery(meta, attempt, status, latency)
            ok = isinstance(status, int) and 200 <= status < 300
            log.info("webhook %s chat=%s id=%s attempt=%d status=%s", meta.get("typeWebhook"),
                     meta.get("chatId"), meta.get("idMessage"), attempt, status)
            if ok:
                self._mark_bot(True, f"webhook accepted ({status})")
                return
            # a 4xx is the bot refusing this webhook (bad token, bad body): sending it again changes nothing
            retryable = status == "error" or (isinstance(status, int) and (status >= 500 or status == 429))
            delay = self._retry_delay(attempt, first_attempt_at) if retryable else None
            if delay is None:
                log.warning("webhook %s chat=%s id=%s given up after %d attempts (last status %s)",
                            meta.get("typeWebhook"), meta.get("chatId"), meta.get("idMessage"), attempt, status)
                return
            await self._wait_before_retry(delay)

    async def wait_notification(self, timeout: float) -> Optional[Dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.queue:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                return None
            fut = loop.create_future()
            self._queue_waiters.add(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                self._queue_waiters.discard(fut)
        return self.queue[0]

    def stop_waiting(self) -> None:
        """The server is shutting down: the long polls in progress return their empty answer now instead of holding
        the shutdown for up to their receiveTimeout (the bot's is 20 s)."""
        self._closing = True
        waiters, self._queue_waiters = self._queue_waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def close(self) -> None:
        for task in list(self._workers.values()):
            task.cancel()
        for task in list(self._workers.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for fut in self._queue_waiters:
            if not fut.done():
                fut.set_result(None)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every pushed webhook has been delivered (or given up). For tests."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._workers and loop.time() < deadline:
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ files
    def store_file(self, data: bytes, file_name: str, mime: str, base: str) -> str:
        fid = uuid.uuid4().hex
        file_name = file_name or "file"
        self.files[fid] = (data, mime or guess_mime(file_name), file_name)
        return f"{base}/sandbox/files/{fid}/{quote(file_name)}"

    def base(self, request: web.Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    # ------------------------------------------------------------- API calls
    def _take_fault(self, method: str) -> Optional[Dict[str, Any]]:
        for fault in self.faults:
            if fault["method"] == "*" or fault["method"].lower() == method.lower():
                if fault["count"] > 0:  # -1 = until cleared
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _record_call(self, method: str, status: int, body: Any, chat_id: Optional[str]) -> None:
        self._call_seq += 1
        self.calls.append({"seq": self._call_seq, "time": time.time(), "method": method, "httpStatus": status,
                           "body": body, "chatId": chat_id})

    async def _parse_api_body(self, request: web.Request) -> Tuple[Any, Any, Dict[str, Any]]:
        """Returns (parsed body for the handler, body for the call log, uploaded files)."""
        files: Dict[str, Any] = {}
        if request.method in ("GET", "DELETE", "HEAD"):
            q = dict(request.query)
            return q, (q or None), files
        ctype = request.content_type or ""
        if ctype.startswith("multipart/"):
            try:
                form = await request.post()
            except Exception as exc:  # malformed multipart
                return _Invalid(f"Invalid multipart body: {exc}"), None, files
            fields: Dict[str, Any] = {}
            logged: Dict[str, Any] = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    files[key] = (data, value.filename or "", value.content_type or "")
                    logged[key] = {"fileName": value.filename, "size": len(data), "contentType": value.content_type}
                else:
                    fields[key] = value
                    logged[key] = value
            return fields, logged, files
        raw = await request.read()
        if ctype == "application/x-www-form-urlencoded":
            form = await request.post()
            d = {k: v for k, v in form.items()}
            return d, d, files
        if not ctype.startswith("application/json") and ctype not in ("", "text/plain"):
            # raw upload (uploadFile)
            files["__raw__"] = (raw, request.headers.get("GA-Filename", ""), ctype)
            return {}, {"size": len(raw), "contentType": ctype}, files
        if not raw.strip():
            return None, None, files
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _Invalid("Invalid JSON body"), raw.decode("utf-8", "replace")[:2000], files
        return parsed, parsed, files

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        inst = request.match_info["instance"]
        raw_method = request.match_info["method"]
        token = request.match_info["token"]
        extra = request.match_info.get("extra")
        method = _CANONICAL.get(raw_method.lower(), raw_method)
        body, logged, files = await self._parse_api_body(request)
        chat_id = body.get("chatId") if isinstance(body, dict) else None
        if chat_id is not None and not isinstance(chat_id, str):
            chat_id = str(chat_id)

        def finish(resp: web.StreamResponse) -> web.StreamResponse:
            self._record_call(method, resp.status, logged, chat_id)
            if method not in ("receiveNotification", "getSettings", "getStateInstance"):
                log.info("api %s chat=%s status=%s", method, chat_id, resp.status)
            return resp

        if inst != str(self.config.instance_id):
            return finish(web.Response(status=403, text="Forbidden"))
        if token != self.config.token:
            return finish(web.Response(status=401, text="Unauthorized"))
        if method not in METHODS or (extra is not None and method != "deleteNotification"):
            return finish(web.Response(status=404, text="Not Found"))
        if request.method != METHODS[method]:
            return finish(web.Response(status=405, text="Method Not Allowed"))
        fault = self._take_fault(method)
        if fault is not None:
            if fault.get("delay_ms"):
                await asyncio.sleep(fault["delay_ms"] / 1000.0)
            if fault.get("status"):
                return finish(web.Response(status=fault["status"], text=fault.get("body") or "",
                                           headers=fault.get("headers") or None))
        if isinstance(body, _Invalid):
            return finish(web.Response(status=400, text=body.message))
        handler = getattr(self, "api_" + method)
        try:
            resp = await handler(request, body, files, extra)
        except _ApiError as exc:
            resp = web.Response(status=exc.status, text=exc.text)
        return finish(resp)

    # --- validation helpers
    @staticmethod
    def _require_object(body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict):
            raise _ApiError(400, "Validation failed. Details: request body must be a JSON object")
        return body

    @staticmethod
    def _require_chat_id(body: Dict[str, Any]) -> str:
        chat_id = body.get("chatId")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Validation failed. Details: 'chatId' is required")
        if not isinstance(chat_id, str) or not CHAT_ID_RE.match(chat_id):
            raise _ApiError(400, f"Validation failed. Details: 'chatId' with value '{chat_id}' "
                                 "fails to match the required pattern")
        return chat_id

    @staticmethod
    def _require_str(body: Dict[str, Any], key: str, required: bool = True, max_len: int = 0) -> Optional[str]:
        value = body.get(key)
        if value is None or (value == "" and required):
            if required:
                raise _ApiError(400, f"Validation failed. Details: '{key}' is required")
            return None
        if not isinstance(value, str):
            raise _ApiError(400, f"Validation failed. Details: '{key}' must be a string")
        if max_len and len(value) > max_len:
            raise _ApiError(400, f"Validation failed. Details: '{key}' length must be less than or equal "
                                 f"to {max_len} characters long")
        return value

    def _bot_send(self, chat_id: str, md: Dict[str, Any]) -> str:
        id_message = new_message_id()
        self._record_message(chat_id, id_message, "out", "bot", md, sender=self.config.wid,
                             sender_name=self.config.shop_name)
        if self.settings.get("outgoingAPIMessageWebhook") == "yes":
            self.emit(self.message_webhook("outgoingAPIMessageReceived", id_message,
                                           self.outgoing_sender_data(chat_id), md))
        if self.settings.get("outgoingWebhook") == "yes":
            self.emit({
                "typeWebhook": "outgoingMessageStatus",
                "chatId": chat_id,
                "instanceData": self.instance_data(),
                "timestamp": int(time.time()),
                "idMessage": id_message,
                "status": "sent",
                "sendByApi": True,
            })
        return id_message

    @staticmethod
    def _file_md(kind: str, url: str, file_name: str, caption: str, mime: str) -> Dict[str, Any]:
        return {
            "typeMessage": kind + "Message",
            "fileMessageData": {
                "downloadUrl": url,
                "caption": caption or "",
                "fileName": file_name,
                "jpegThumbnail": "",
                "mimeType": mime,
                "isAnimated": False,
                "forwardingScore": 0,
                "isForwarded": False,
            },
        }

    # --- methods
    async def api_sendMessage(self, request, body, files, extra):
        body = self._require_object(body)
        chat_id = self._require_chat_id(body)
        message = self._require_str(body, "message", max_len=MAX_MESSAGE_CHARS)
        quoted_id = self._require_str(body, "quotedMessageId", required=False)
        if "linkPreview" in body and not isinstance(body["linkPreview"], bool):
            raise _ApiError(400, "Validation failed. Details: 'linkPreview' must be a boolean")
        ext = {"text": message, "description": "", "title": "", "previewType": "None", "jpegThumbnail": "",
               "forwardingScore": 0, "isForwarded": False}
        md: Dict[str, Any] = {"typeMessage": "extendedTextMessage", "extendedTextMessageData": ext}
        if quoted_id:
            quoted = self._find_message(chat_id, quoted_id)
            md["typeMessage"] = "quotedMessage"
            ext["stanzaId"] = quoted_id
            ext["participant"] = (quoted or {}).get("sender") or chat_id
            md["quotedMessage"] = {"stanzaId": quoted_id, "participant": ext["participant"],
                                   "typeMessage": "textMessage", "textMessage": (quoted or {}).get("text") or ""}
        return web.json_response({"idMessage": self._bot_send(chat_id, md)})

    async def api_sendContact(self, request, body, files, extra):
        body = self._require_object(body)
        chat_id = self._require_chat_id(body)
        contact = body.get("contact")
        if not isinstance(contact, dict):
            raise _ApiError(400, "Validation failed. Details: 'contact' is required")
        phone = contact.get("phoneContact")
        if phone is None:
            raise _ApiError(400, "Validation failed. Details: 'contact.phoneContact' is required")
        if isinstance(phone, bool) or not isinstance(phone, int) or phone <= 0:
            raise _ApiError(400, "Validation failed. Details: 'contact.phoneContact' must be a number")
        for key in ("firstName", "lastName", "middleName", "company"):
            if key in contact and contact[key] is not None and not isinstance(contact[key], str):
                raise _ApiError(400, f"Validation failed. Details: 'contact.{key}' must be a string")
        first = contact.get("firstName") or ""
        last = contact.get("lastName") or ""
        display = " ".join(p for p in (first, contact.get("middleName") or "", last) if p) or f"+{phone}"
        md = {"typeMessage": "contactMessage",
              "contactMessageData": {"displayName": display, "vcard": make_vcard(contact),
                                     "forwardingScore": 0, "isForwarded": False}}
        id_message = self._bot_send(chat_id, md)
        entry = self._find_message(chat_id, id_message)
        if entry is not None:
            entry["contact"] = {"phoneContact": phone, "firstName": first, "lastName": last,
                                "middleName": contact.get("middleName") or "",
                                "company": contact.get("company") or "",
                                "displayName": display, "vcard": md["contactMessageData"]["vcard"]}
        return web.json_response({"idMessage": id_message})

    async def api_sendFileByUrl(self, request, body, files, extra):
        body = self._require_object(body)
        chat_id = self._require_chat_id(body)
        url = self._require_str(body, "urlFile")
        if not re.match(r"^https?://", url or ""):
            raise _ApiError(400, "Validation failed. Details: 'urlFile' must be a valid uri")
        file_name = self._require_str(body, "fileName")
        caption = self._require_str(body, "caption", required=False) or ""
        mime = guess_mime(file_name)
        md = self._file_md(file_kind(file_name, mime), url, file_name, caption, mime)
        return web.json_response({"idMessage": self._bot_send(chat_id, md)})

    async def api_sendFileByUpload(self, request, body, files, extra):
        if not (request.content_type or "").startswith("multipart/"):
            raise _ApiError(400, "Validation failed. Details: multipart/form-data body is required")
        body = self._require_object(body)
        chat_id = self._require_chat_id(body)
        if "file" not in files:
            raise _ApiError(400, "Validation failed. Details: 'file' is required")
        data, upload_name, ctype = files["file"]
        file_name = body.get("fileName") or upload_name or "file"
        caption = body.get("caption") or ""
        mime = ctype if ctype and ctype != "application/octet-stream" else guess_mime(file_name)
        url = self.store_file(data, file_name, mime, self.base(request))
        md = self._file_md(file_kind(file_name, mime), url, file_name, caption, mime)
        return web.json_response({"idMessage": self._bot_send(chat_id, md), "urlFile": url})

    async def api_uploadFile(self, request, body, files, extra):
        item = files.get("file") or files.get("__raw__")
        if item is None or not item[0]:
            raise _ApiError(400, "Validation failed. Details: file body is required")
        data, name, ctype = item
        if not name:
            name = "file" + ("." + next((e for e, m in _EXT_MIME.items() if m == ctype), "bin"))
        return web.json_response({"urlFile": self.store_file(data, name, ctype or guess_mime(name),
                                                             self.base(request))})

    async def api_sendTyping(self, request, body, files, extra):
        body = self._require_object(body)
        chat_id = self._require_chat_id(body)
        typing = body.get("typingTime", 5000)
        if isinstance(typing, bool) or not isinstance(typing, int):
            raise _ApiError(400, "Validation failed. Details: 'typingTime' must be a number")
        typing = max(1000, min(20000, typing))
        self._chat(chat_id)["typingUntil"] = time.time() + typing / 1000.0
        return web.Response(status=200, body=b"")

    async def api_readChat(self, request, body, files, extra):
        body = self._require_object(body)
        self._require_chat_id(body)
        return web.json_response({"setRead": True})

    async def api_receiveNotification(self, request, body, files, extra):
        raw = request.query.get("receiveTimeout", "5")
        try:
            timeout = float(raw)
        except ValueError:
            raise _ApiError(400, "Validation failed. Details: 'receiveTimeout' must be a number")
        timeout = max(0.0, min(60.0, timeout))
        self._last_poll_at, self._last_poll_timeout = time.time(), timeout
        self.bot_status()
        item = await self.wait_notification(timeout)
        self._last_poll_at = time.time()
        return web.json_response(item, dumps=_dumps)

    async def api_deleteNotification(self, request, body, files, extra):
        if not extra:
            raise _ApiError(400, "Validation failed. Details: 'receiptId' is required")
        try:
            receipt = int(extra)
        except ValueError:
            raise _ApiError(400, "Validation failed. Details: 'receiptId' must be a number")
        for i, item in enumerate(self.queue):
            if item["receiptId"] == receipt:
                del self.queue[i]
                return web.json_response({"result": True})
        return web.json_response({"result": False})

    async def api_getSettings(self, request, body, files, extra):
        return web.json_response(self.settings, dumps=_dumps)

    async def api_setSettings(self, request, body, files, extra):
        body = self._require_object(body)
        updates: Dict[str, Any] = {}
        for key, value in body.items():
            if key in FLAG_SETTINGS:
                if value not in ("yes", "no"):
                    raise _ApiError(400, f"Validation failed. Details: '{key}' must be one of [yes, no]")
                updates[key] = value
            elif key in ("webhookUrl", "webhookUrlToken"):
                if value is None:
                    value = ""
                if not isinstance(value, str):
                    raise _ApiError(400, f"Validation failed. Details: '{key}' must be a string")
                if key == "webhookUrl" and value and not re.match(r"^https?://", value):
                    raise _ApiError(400, "Validation failed. Details: 'webhookUrl' must be a valid uri")
                updates[key] = value
            elif key == "delaySendMessagesMilliseconds":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _ApiError(400, f"Validation failed. Details: '{key}' must be a number")
                updates[key] = value
        self.settings.update(updates)
        log.info("settings updated: %s", ", ".join(sorted(k for k in updates if k != "webhookUrlToken")))
        return web.json_response({"saveSettings": True})

    async def api_lastOutgoingMessages(self, request, body, files, extra):
        """Outgoing messages (the bot's API sends and the shop phone's) of the last `minutes` (default 1440),
        newest first, in GREEN-API's journal shape."""
        raw = request.query.get("minutes", "1440")
        try:
            minutes = float(raw)
        except ValueError:
            raise _ApiError(400, "Validation failed. Details: 'minutes' must be a number")
        since = time.time() - minutes * 60
        entries = [m for chat in self.chats.values() for m in chat["messages"]
                   if m["direction"] == "out" and m["timestamp"] >= since]
        entries.sort(key=lambda m: m["seq"], reverse=True)
        return web.json_response([self._journal_entry(m) for m in entries], dumps=_dumps)

    @staticmethod
    def _journal_entry(message: Dict[str, Any]) -> Dict[str, Any]:
        entry: Dict[str, Any] = {
            "type": "outgoing", "idMessage": message["idMessage"], "timestamp": message["timestamp"],
            "typeMessage": message["typeMessage"], "chatId": message["chatId"], "statusMessage": "sent",
            "sendByApi": message["by"] == "bot", "isForwarded": False, "forwardingScore": 0,
        }
        if message["typeMessage"] == "textMessage":
            entry["textMessage"] = message["text"]
        elif message["typeMessage"] in ("extendedTextMessage", "quotedMessage"):
            entry["extendedTextMessage"] = {"text": message["text"]}
        elif message.get("contact"):
            contact = message["contact"]
            entry["contactMessage"] = {"displayName": contact.get("displayName"), "vcard": contact.get("vcard")}
        elif message.get("urlFile"):
            entry.update(downloadUrl=message["urlFile"], caption=message.get("caption") or "",
                         fileName=message.get("fileName"))
        return entry

    async def api_getStateInstance(self, request, body, files, extra):
        return web.json_response({"stateInstance": "authorized"})

    async def api_getWaSettings(self, request, body, files, extra):
        return web.json_response({"avatar": "", "phone": self.config.wid.split("@", 1)[0],
                                  "stateInstance": "authorized", "deviceId": "sandbox"})

    def _find_message(self, chat_id: str, id_message: str) -> Optional[Dict[str, Any]]:
        chat = self.chats.get(chat_id)
        if chat is None:
            return None
        for m in reversed(chat["messages"]):
            if m["idMessage"] == id_message:
                return m
        return None

    # ------------------------------------------------------------ control API
    @staticmethod
    async def _json(request: web.Request) -> Dict[str, Any]:
        try:
            data = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body must be valid JSON")
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    @staticmethod
    def _control_chat_id(data: Dict[str, Any]) -> str:
        chat_id = data.get("chatId")
        if not chat_id:
            raise BadRequest("'chatId' is required")
        if not isinstance(chat_id, str) or not CHAT_ID_RE.match(chat_id):
            raise BadRequest(f"'chatId' must look like 77011234567@c.us or ...@g.us, got {chat_id!r}")
        return chat_id

    def _customer_message_data(self, request: web.Request, data: Dict[str, Any], chat_id: str) -> Dict[str, Any]:
        if "messageData" in data and data["messageData"] is not None:
            if not isinstance(data["messageData"], dict):
                raise BadRequest("'messageData' must be an object")
            return data["messageData"]
        t = data.get("typeMessage") or "textMessage"
        if t not in INCOMING_TYPES:
            raise BadRequest(f"unknown typeMessage {t!r}; one of: {', '.join(INCOMING_TYPES)}")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise BadRequest("'text' must be a string")

        def need_text() -> str:
            if not text:
                raise BadRequest(f"'text' is required for {t}")
            return text

        if t == "textMessage":
            return {"typeMessage": t, "textMessageData": {"textMessage": need_text()}}
        if t == "extendedTextMessage":
            return {"typeMessage": t, "extendedTextMessageData": {
                "text": need_text(), "description": data.get("description", ""), "title": data.get("title", ""),
                "previewType": "None", "jpegThumbnail": "", "forwardingScore": 0, "isForwarded": False}}
        if t in ("quotedMessage", "reactionMessage"):
            q_id = data.get("quotedMessageId")
            quoted = self._find_message(chat_id, q_id) if q_id else None
            if quoted is None and not q_id:
                chat = self.chats.get(chat_id)
                quoted = next((m for m in reversed(chat["messages"]) if m["direction"] == "out"), None) \
                    if chat else None
                q_id = quoted["idMessage"] if quoted else new_message_id()
            participant = (quoted or {}).get("sender") or self.config.wid
            q_text = data.get("quotedText")
            if q_text is None:
                q_text = (quoted or {}).get("text") or (quoted or {}).get("caption") or ""
            md = {"typeMessage": t,
                  "extendedTextMessageData": {"text": need_text(), "stanzaId": q_id, "participant": participant},
                  "quotedMessage": {"stanzaId": q_id, "participant": participant,
                                    "typeMessage": "textMessage", "textMessage": q_text}}
            return md
        if t in _MEDIA_TYPES:
            default_name, default_mime = _PLACEHOLDER[t]
            file_name = data.get("fileName") or default_name
            mime = data.get("mimeType") or (default_mime if file_name == default_name else guess_mime(file_name))
            url = data.get("downloadUrl") or data.get("urlFile")
            if not url:
                if data.get("fileBase64"):
                    try:
                        raw = base64.b64decode(str(data["fileBase64"]).split(",")[-1], validate=False)
                    except (binascii.Error, ValueError):
                        raise BadRequest("'fileBase64' is not valid base64")
                elif t == "imageMessage":
                    raw = make_png(seed=self._msg_seq)
                else:
                    raw = f"sandbox placeholder for {t}".encode()
                url = self.store_file(raw, file_name, mime, self.base(request))
            caption = data.get("caption")
            if caption is None:
                caption = text or ""
            if t in ("audioMessage", "stickerMessage"):
                caption = ""
            md = self._file_md(t[: -len("Message")], url, file_name, caption, mime)
            if t == "stickerMessage":
                md["fileMessageData"]["isAnimated"] = bool(data.get("isAnimated", False))
            return md
        if t == "locationMessage":
            try:
                lat = float(data.get("latitude", 43.238949))
                lon = float(data.get("longitude", 76.889709))
            except (TypeError, ValueError):
                raise BadRequest("'latitude' and 'longitude' must be numbers")
            return {"typeMessage": t, "locationMessageData": {
                "nameLocation": data.get("nameLocation", text or ""), "address": data.get("address", ""),
                "latitude": lat, "longitude": lon, "jpegThumbnail": ""}}
        if t == "contactMessage":
            contact = data.get("contact")
            if isinstance(contact, dict) and contact.get("phoneContact"):
                display = data.get("displayName") or " ".join(
                    str(contact.get(k)) for k in ("firstName", "lastName") if contact.get(k)) \
                    or f"+{contact['phoneContact']}"
                vcard = make_vcard(contact)
            elif data.get("vcard"):
                vcard = str(data["vcard"])
                display = data.get("displayName") or ""
            else:
                raise BadRequest("contactMessage needs 'contact': {'phoneContact': ..., 'firstName': ...} "
                                 "or 'vcard'")
            return {"typeMessage": t, "contactMessageData": {"displayName": display, "vcard": vcard,
                                                             "forwardingScore": 0, "isForwarded": False}}
        if t == "interactiveButtonsResponse":
            return {"typeMessage": t, "interactiveButtonsResponse": {
                "stanzaId": data.get("stanzaId", ""), "selectedId": str(data.get("selectedId", "1")),
                "selectedDisplayText": need_text()}}
        if t == "buttonsResponseMessage":
            return {"typeMessage": t, "buttonsResponseMessage": {
                "stanzaId": data.get("stanzaId", ""), "selectedButtonId": str(data.get("selectedId", "1")),
                "selectedButtonText": need_text()}}
        # listResponseMessage
        return {"typeMessage": t, "listResponseMessage": {
            "stanzaId": data.get("stanzaId", ""), "title": need_text(), "listType": 1,
            "singleSelectReply": str(data.get("selectedId", "1")), "description": data.get("description", "")}}

    async def ctl_customer(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        chat_id = self._control_chat_id(data)
        is_group = chat_id.endswith("@g.us")
        existing = self.chats.get(chat_id)
        sender_name = data.get("senderName")
        if sender_name is not None and not isinstance(sender_name, str):
            raise BadRequest("'senderName' must be a string")
        if is_group:
            sender = data.get("sender") or self.config.group_member
            if not isinstance(sender, str) or not CHAT_ID_RE.match(sender):
                raise BadRequest("'sender' must look like 77011234567@c.us")
            sender_name = sender_name or "+" + sender.split("@", 1)[0]
            chat_name = self._chat(chat_id)["name"]
        else:
            sender = chat_id
            if sender_name:
                chat_name = sender_name
            elif existing and not existing["name"].startswith("+"):
                sender_name = chat_name = existing["name"]
            else:
                sender_name = "Клиент"
                chat_name = existing["name"] if existing else "+" + chat_id.split("@", 1)[0]
        md = self._customer_message_data(request, data, chat_id)
        id_message = data.get("idMessage") or new_message_id()
        ts = int(time.time())
        sender_data = {"chatId": chat_id, "sender": sender, "chatName": chat_name, "senderName": sender_name,
                       "senderContactName": data.get("senderContactName", "")}
        webhook = self.message_webhook("incomingMessageReceived", id_message, sender_data, md, ts)
        self._record_message(chat_id, id_message, "in", "customer", md, sender=sender, sender_name=sender_name,
                             timestamp=ts, chat_name=None if is_group else chat_name)
        if self.settings.get("incomingWebhook") == "yes":
            self.emit(webhook)
        return web.json_response({"idMessage": id_message, "webhook": webhook}, dumps=_dumps)

    async def ctl_manager(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        chat_id = self._control_chat_id(data)
        if data.get("messageData") is not None:
            md = data["messageData"]
            if not isinstance(md, dict):
                raise BadRequest("'messageData' must be an object")
        else:
            text = data.get("text")
            if not text or not isinstance(text, str):
                raise BadRequest("'text' is required")
            md = {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}
        id_message = data.get("idMessage") or new_message_id()
        ts = int(time.time())
        self._record_message(chat_id, id_message, "out", "manager", md, sender=self.config.wid,
                             sender_name=self.config.shop_name, timestamp=ts)
        webhook = self.message_webhook("outgoingMessageReceived", id_message, self.outgoing_sender_data(chat_id),
                                       md, ts)
        if self.settings.get("outgoingMessageWebhook") == "yes":
            self.emit(webhook)
        return web.json_response({"idMessage": id_message, "webhook": webhook}, dumps=_dumps)

    async def ctl_webhook(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        dup = data.pop("_duplicates", None) if "_duplicates" in data else None
        self.emit(data, duplicates=dup if isinstance(dup, int) and dup >= 0 else None)
        return web.json_response({"delivered": True})

    async def ctl_chats(self, request: web.Request) -> web.Response:
        chats = sorted(self.chats.values(),
                       key=lambda c: (c["messages"][-1]["seq"] if c["messages"] else 0, c["created"]),
                       reverse=True)
        return web.json_response([self.chat_summary(c) for c in chats], dumps=_dumps)

    async def ctl_new_chat(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        chat_id = self._control_chat_id(data)
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise BadRequest("'name' must be a string")
        return web.json_response(self.chat_summary(self._chat(chat_id, name or None)), dumps=_dumps)

    async def ctl_messages(self, request: web.Request) -> web.Response:
        chat_id = request.match_info["chatId"]
        chat = self.chats.get(chat_id)
        msgs = chat["messages"] if chat else []
        since = _int_query(request, "since")
        if since is not None:
            msgs = [m for m in msgs if m["seq"] > since]
        return web.json_response(msgs, dumps=_dumps)

    async def ctl_calls(self, request: web.Request) -> web.Response:
        items = list(self.calls)
        method = request.query.get("method")
        if method:
            items = [c for c in items if c["method"].lower() == method.lower()]
        if request.query.get("chatId"):
            items = [c for c in items if c["chatId"] == request.query["chatId"]]
        since = _int_query(request, "since")
        if since is not None:
            items = [c for c in items if c["seq"] > since]
        return web.json_response(items, dumps=_dumps)

    async def ctl_deliveries(self, request: web.Request) -> web.Response:
        items = list(self.deliveries)
        for key in ("typeWebhook", "chatId", "idMessage"):
            if request.query.get(key):
                items = [d for d in items if d.get(key) == request.query[key]]
        since = _int_query(request, "since")
        if since is not None:
            items = [d for d in items if d["seq"] > since]
        return web.json_response(items, dumps=_dumps)

    async def ctl_queue(self, request: web.Request) -> web.Response:
        return web.json_response(self.queue, dumps=_dumps)

    def faults_state(self) -> Dict[str, Any]:
        return {"calls": self.faults, "webhook_duplicates": self.webhook_duplicates,
                "webhook_delay_ms": self.webhook_delay_ms}

    async def ctl_get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults_state(), dumps=_dumps)

    async def ctl_post_faults(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        known = False

        def non_negative_int(key: str, default: int = 0) -> int:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadRequest(f"'{key}' must be a non-negative integer")
            return value

        fault: Optional[Dict[str, Any]] = None
        if "method" in data:
            method = data["method"]
            if not isinstance(method, str) or not method:
                raise BadRequest("'method' must be a method name or '*'")
            if method != "*":
                if method.lower() not in _CANONICAL:
                    raise BadRequest(f"unknown method {method!r}")
                method = _CANONICAL[method.lower()]
            status = data.get("status")
            if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                                       or not 100 <= status <= 599):
                raise BadRequest("'status' must be an HTTP status code")
            count = data.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count == 0 or count < -1:
                raise BadRequest("'count' must be a positive integer (or -1 = until cleared)")
            delay_ms = non_negative_int("delay_ms")
            if status is None and not delay_ms:
                raise BadRequest("a call fault needs 'status' and/or 'delay_ms'")
            body = data.get("body")
            if body is None:
                body = _reason(status) if status else ""
            elif not isinstance(body, str):
                body = _dumps(body)
            headers = data.get("headers") or {}
            if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, (str, int))
                                                        for k, v in headers.items()):
                raise BadRequest("'headers' must be an object of header names to strings")
            fault = {"method": method, "status": status, "count": count, "delay_ms": delay_ms, "body": body,
                     "headers": {k: str(v) for k, v in headers.items()}}
            known = True
        if "webhook_duplicates" in data:
            self.webhook_duplicates = non_negative_int("webhook_duplicates")
            known = True
        if "webhook_delay_ms" in data:
            self.webhook_delay_ms = non_negative_int("webhook_delay_ms")
            known = True
        if not known:
            raise BadRequest("expected 'method' (+ 'status'/'delay_ms'/'count'/'body'), "
                             "'webhook_duplicates' or 'webhook_delay_ms'")
        if fault is not None:
            self.faults.append(fault)
        return web.json_response(self.faults_state(), dumps=_dumps)

    async def ctl_delete_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        self.webhook_duplicates = 0
        self.webhook_delay_ms = 0
        return web.json_response(self.faults_state())

    async def ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def ctl_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def ctl_bot(self, request: web.Request) -> web.Response:
        return web.json_response(self.bot_status(), dumps=_dumps)

    async def ctl_info(self, request: web.Request) -> web.Response:
        base = self.base(request)
        return web.json_response({
            "instanceId": int(self.config.instance_id),
            "wid": self.config.wid,
            "shopName": self.config.shop_name,
            "groupId": self.config.group_id,
            "groupName": self.config.group_name,
            "apiUrl": base,
            "mediaUrl": base,
            "mode": "webhook" if self.settings.get("webhookUrl") else "polling",
            "webhookUrl": self.settings.get("webhookUrl"),
            "webhookTokenSet": bool(self.settings.get("webhookUrlToken")),
            "queued": len(self.queue),
            "bot": self.bot_status(),
        }, dumps=_dumps)

    async def ctl_file(self, request: web.Request) -> web.StreamResponse:
        item = self.files.get(request.match_info["fid"])
        if item is None:
            raise web.HTTPNotFound(text="file not found")
        data, mime, name = item
        return web.Response(body=data, content_type=mime.split(";")[0].strip() or "application/octet-stream",
                            headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
                                     "Cache-Control": "max-age=3600"})

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


class _Invalid:
    def __init__(self, message: str) -> None:
        self.message = message


class _ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _int_query(request: web.Request, key: str) -> Optional[int]:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"'{key}' must be an integer")


def _reason(status: int) -> str:
    try:
        from http import HTTPStatus
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@web.middleware
async def _control_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400, dumps=_dumps)


try:  # aiohttp >= 3.9
    SANDBOX_KEY: Any = web.AppKey("sandbox", Sandbox)
except AttributeError:  # pragma: no cover - aiohttp 3.8
    SANDBOX_KEY = "sandbox"


def create_app(config: Optional[SandboxConfig] = None) -> web.Application:
    """Build the aiohttp application. ``app[SANDBOX_KEY]`` (or :func:`get_sandbox`) gives the state object."""
    config = config or SandboxConfig()
    sandbox = Sandbox(config)
    app = web.Application(middlewares=[_control_errors], client_max_size=100 * 1024 * 1024)
    app[SANDBOX_KEY] = sandbox

    async def _start_prober(_app: web.Application) -> None:
        sandbox._prober = asyncio.get_running_loop().create_task(sandbox.probe_bot_forever())

    async def _cleanup(_app: web.Application) -> None:
        if sandbox._prober is not None:
            sandbox._prober.cancel()
            try:
                await sandbox._prober
            except (asyncio.CancelledError, Exception):
                pass
        await sandbox.close()

    async def _shutdown(_app: web.Application) -> None:   # before aiohttp waits for the requests in progress
        sandbox.stop_waiting()

    app.on_startup.append(_start_prober)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    r = app.router
    r.add_get("/", sandbox.index)
    r.add_get("/sandbox/health", sandbox.ctl_health)
    r.add_get("/sandbox/info", sandbox.ctl_info)
    r.add_get("/sandbox/bot", sandbox.ctl_bot)
    r.add_post("/sandbox/customer", sandbox.ctl_customer)
    r.add_post("/sandbox/manager", sandbox.ctl_manager)
    r.add_post("/sandbox/webhook", sandbox.ctl_webhook)
    r.add_get("/sandbox/chats", sandbox.ctl_chats)
    r.add_post("/sandbox/chats", sandbox.ctl_new_chat)
    r.add_get("/sandbox/chats/{chatId}/messages", sandbox.ctl_messages)
    r.add_get("/sandbox/calls", sandbox.ctl_calls)
    r.add_get("/sandbox/deliveries", sandbox.ctl_deliveries)
    r.add_get("/sandbox/queue", sandbox.ctl_queue)
    r.add_get("/sandbox/faults", sandbox.ctl_get_faults)
    r.add_post("/sandbox/faults", sandbox.ctl_post_faults)
    r.add_delete("/sandbox/faults", sandbox.ctl_delete_faults)
    r.add_post("/sandbox/reset", sandbox.ctl_reset)
    r.add_get("/sandbox/files/{fid}/{name}", sandbox.ctl_file)
    r.add_get("/sandbox/files/{fid}", sandbox.ctl_file)
    r.add_route("*", "/waInstance{instance}/{method}/{token}", sandbox.handle_api)
    r.add_route("*", "/waInstance{instance}/{method}/{token}/{extra}", sandbox.handle_api)
    return app


def get_sandbox(app: web.Application) -> Sandbox:
    return app[SANDBOX_KEY]
