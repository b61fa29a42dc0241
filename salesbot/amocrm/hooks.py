"""An operator's reply written in amoCRM: amoCRM posts a hook (v2) to the desk's POST /webhooks/amocrm/{scope_id}.

amoCRM sends each hook once and never retries, so the desk checks the X-Signature (HMAC-SHA1 of the raw body with
the channel secret; 401 otherwise), stores the hook in the durable inbox and answers 200 at once. Then, in order per
chat: the bot pauses in the chat (reason `operator_crm`, resumed like any pause) and the reply goes to the customer
through the outbox (text; a picture or file by URL, with the text as its caption). A repeated hook (same amojo
message id) is stored once and sent once. The send's id is remembered as the bot's own, so its echo neither pauses
the chat as a manager's message nor is imported back into amoCRM. A send GREEN-API refuses is reported to amoCRM as
a delivery error. Hooks stored and not finished before a crash are processed at the next start.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Set, Tuple

from salesbot.amocrm import HOOK_KIND
from salesbot.amocrm.mirror import (
    AMOCRM_REPLY_FILE,
    AMOCRM_REPLY_TEXT,
    AMOCRM_STATUS,
    ScopeStore,
    chat_sequence,
)
from salesbot.amocrm.signing import hook_signed
from salesbot.channel.handoff import OPERATOR_CRM, HandoffService
from salesbot.db import Repositories
from salesbot.outbox import GREENAPI_FILE_URL, GREENAPI_MESSAGE, GreenApiDelivery, OutboxItem, Sender, TerminalError

logger = logging.getLogger(__name__)

CHAT_ID = re.compile(r"^[0-9A-Za-z_.-]{1,100}@(c\.us|lid)$")
MAX_HOOK_BYTES = 64 * 1024


class HookError(ValueError):
    """A hook that cannot be used: answered 400 with the reason."""


@dataclass(frozen=True)
class OperatorReply:
    chat_id: str
    amojo_id: str      # amoCRM's id of the message (the key of the hook)
    operator: str      # amoCRM's id of the sender
    text: str
    media: str
    file_name: str


def _object(parent: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _string(parent: Dict[str, Any], key: str) -> str:
    value = parent.get(key)
    return value if isinstance(value, str) else ""


def parse_hook(body: Any) -> OperatorReply:
    """The reply in a v2 message hook: message.conversation.client_id is our conversation_id (the chatId); a chat
    started in amoCRM («Написать первым») has none, and the receiver's phone names the chat."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        raise HookError("the hook has no message object")
    conversation, receiver, sender = (_object(message, key) for key in ("conversation", "receiver", "sender"))
    content = message.get("message")
    if not isinstance(content, dict):
        raise HookError("the hook has no message.message object")
    chat_id = conversation.get("client_id")
    if not isinstance(chat_id, str) or not chat_id:
        digits = "".join(ch for ch in str(receiver.get("phone") or "") if ch.isdigit())
        chat_id = f"{digits}@c.us" if digits else ""
    if not CHAT_ID.match(chat_id):
        raise HookError("message.conversation.client_id is not a WhatsApp chat of this channel")
    amojo_id = content.get("id")
    if not isinstance(amojo_id, str) or not amojo_id or len(amojo_id) > 100:
        raise HookError("message.message.id is missing")
    text, media = _string(content, "text"), _string(content, "media")
    if media and not media.startswith(("https://", "http://")):
        raise HookError("message.message.media is not a link")
    if not text.strip() and not media:
        raise HookError("the message has neither text nor media")
    file_name = _string(content, "file_name")
    return OperatorReply(chat_id, amojo_id, str(sender.get("id") or "amoCRM")[:100], text, media,
                         file_name or (media.rsplit("/", 1)[-1].split("?", 1)[0] if media else ""))


class OperatorHooks:
    """Takes hooks (verify, store, answer) and processes them in order per chat in the background."""

    def __init__(self, repos: Repositories, secret: str, scopes: ScopeStore, handoff: HandoffService):
        self.repos = repos
        self._secret = secret
        self.scopes = scopes
        self.handoff = handoff
        self._tasks: Set[asyncio.Task] = set()
        self._chat_locks: Dict[str, asyncio.Lock] = {}

    async def take(self, scope_id: str, raw: bytes, signature: Optional[str]) -> Tuple[int, Dict[str, Any]]:
        """(status, answer) for one POST; the work after storing is scheduled, not awaited."""
        if not hook_signed(self._secret, raw, signature):
            logger.warning("amoCRM hook rejected: missing or wrong X-Signature")
            return 401, {"error": "bad signature"}
        known = await self.scopes.known()
        if known is not None and scope_id != known:
            logger.warning("amoCRM hook rejected: unknown scope")
            return 404, {"error": "unknown scope_id"}
        try:
            body = json.loads(raw)
            reply = parse_hook(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # HookError is a ValueError
            reason = str(exc) if isinstance(exc, HookError) else "the body is not valid JSON"
            logger.warning("amoCRM hook rejected: %s", reason)
            return 400, {"error": reason}
        inbox_id = await asyncio.to_thread(self.repos.inbox.accept, reply.chat_id, f"amojo:{reply.amojo_id}",
                                           HOOK_KIND, body)
        if inbox_id is None:
            logger.info("amoCRM hook chat=%s amojo=%s repeated: not sent again", reply.chat_id, reply.amojo_id)
            return 200, {"status": "duplicate"}
        logger.info("amoCRM hook chat=%s amojo=%s stored inbox=%s", reply.chat_id, reply.amojo_id, inbox_id)
        self._schedule(inbox_id, reply)
        return 200, {"status": "accepted"}

    def _schedule(self, inbox_id: int, reply: OperatorReply) -> None:
        task = asyncio.get_running_loop().create_task(self._process(inbox_id, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, inbox_id: int, reply: OperatorReply) -> None:
        lock = self._chat_locks.setdefault(reply.chat_id, asyncio.Lock())
        async with lock:  # a chat's hooks in the order they were stored
            try:
                await asyncio.to_thread(self.repos.inbox.start, inbox_id)
                # the pause first: a bot reply computed meanwhile is dropped, not sent after the operator's
                await self.handoff.pause(reply.chat_id, OPERATOR_CRM, reply.operator)
                await asyncio.to_thread(self._enqueue, reply)
                await asyncio.to_thread(self.repos.inbox.done, inbox_id)
                logger.info("amoCRM hook chat=%s amojo=%s: bot paused, reply queued", reply.chat_id, reply.amojo_id)
            except Exception as exc:
                logger.exception("amoCRM hook chat=%s amojo=%s failed", reply.chat_id, reply.amojo_id)
                await asyncio.to_thread(self.repos.inbox.failed, inbox_id, f"{type(exc).__name__}: {exc}")

    def _enqueue(self, reply: OperatorReply) -> None:
        key = f"amocrm:reply:{reply.amojo_id}"
        if reply.media:
            payload = {"url": reply.media, "file_name": reply.file_name or "file", "caption": reply.text,
                       "amojo_id": reply.amojo_id}
            kind = AMOCRM_REPLY_FILE
        else:
            payload, kind = {"message": reply.text, "amojo_id": reply.amojo_id}, AMOCRM_REPLY_TEXT
        self.repos.outbox.enqueue(key, kind, reply.chat_id, payload, reply.chat_id,
                                  sequence_key=f"amocrm-reply:{reply.chat_id}")

    async def replay(self) -> int:
        """Process the hooks stored before a crash and not finished (at start-up)."""
        rows = await asyncio.to_thread(self.repos.inbox.received, 1000, HOOK_KIND)
        for row in rows:
            try:
                reply = parse_hook(row["body"])
            except HookError as exc:
                await asyncio.to_thread(self.repos.inbox.failed, row["id"], f"unreadable: {exc}")
                continue
            self._schedule(row["id"], reply)
        return len(rows)

    async def join(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class ReplyDelivery:
    """Senders of the operator replies to WhatsApp: GREEN-API's message and file senders, remembering the sent id as
    the bot's own (its echo is not a manager's message) and reporting a refused send to amoCRM."""

    def __init__(self, repos: Repositories, greenapi: GreenApiDelivery):
        self.repos = repos
        self.greenapi = greenapi

    def _wrap(self, sender: Sender) -> Sender:
        async def send(item: OutboxItem) -> Optional[str]:
            try:
                id_message = await sender.send(item)
            except TerminalError as exc:
                await asyncio.to_thread(self._report_failure, item, str(exc))
                raise
            if id_message:
                await asyncio.to_thread(self.repos.messages.remember_sent, item.target, [id_message])
            return id_message

        return Sender(send, sender.was_delivered, sender.idempotent)

    def _report_failure(self, item: OutboxItem, error: str) -> None:
        amojo_id = str(item.payload.get("amojo_id") or "")
        self.repos.outbox.enqueue(f"amocrm:reply-failed:{amojo_id}", AMOCRM_STATUS, item.target,
                                  {"id_message": "", "amojo_id": amojo_id, "status": "failed",
                                   "description": error[:500]}, item.target, chat_sequence(item.target))

    def senders(self) -> Dict[str, Sender]:
        greenapi = self.greenapi.senders()
        return {AMOCRM_REPLY_TEXT: self._wrap(greenapi[GREENAPI_MESSAGE]),
                AMOCRM_REPLY_FILE: self._wrap(greenapi[GREENAPI_FILE_URL])}

