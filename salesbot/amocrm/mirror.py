"""Every message of every customer chat, imported into amoCRM once and in order, through the durable outbox.

Where the messages come from: GREEN-API reports each one as a notification, and the channel stores every
notification before it acknowledges it. The mirror turns them into `amocrm.import` outbox rows in the same step:
* incomingMessageReceived: the customer wrote (also while the bot is paused) → sender = the customer;
* outgoingAPIMessageReceived: a send through the API (the bot's replies, nudges, the desk's notifications) and
  outgoingMessageReceived: a manager typed on the shop's phone → receiver = the customer.
The row's effect key is the GREEN-API idMessage, so a notification delivered twice adds nothing; rows of one chat
share a sequence key, so the relay imports them in the order they arrived. An echo of an operator's reply (it came
from amoCRM) is dropped at send time, never imported back. `outgoingMessageStatus` becomes a delivery status.

A handover's summary is imported too (`enqueue_handover_summary`, called by the handover action). Group chats and
the managers' command chat are not customer chats: not mirrored.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from typing import Any, Callable, Dict, List, Optional

import sqlalchemy as sa

from salesbot.amocrm.client import (
    ERROR_NOT_ON_WHATSAPP,
    ERROR_OTHER,
    STATUS_DELIVERED,
    STATUS_ERROR,
    STATUS_READ,
    AmojoClient,
)
from salesbot.db import Repositories
from salesbot.db.schema import amocrm_connections, outbox
from salesbot.greenapi.webhooks import API_ECHO, INCOMING, MANAGER_TYPED, WebhookError, message_content
from salesbot.outbox import OutboxItem, Sender, TerminalError

logger = logging.getLogger(__name__)

AMOCRM_IMPORT = "amocrm.import"        # payload {"payload": amojo new_message payload}
AMOCRM_STATUS = "amocrm.status"        # payload {"id_message", "status", "description"}
AMOCRM_REPLY_TEXT = "amocrm.reply_text"  # an operator's reply to WhatsApp: {"message", "amojo_id"}
AMOCRM_REPLY_FILE = "amocrm.reply_file"  # {"url", "file_name", "caption", "amojo_id"}
REPLY_KINDS = (AMOCRM_REPLY_TEXT, AMOCRM_REPLY_FILE)
ECHO_SETTLE_SECONDS = 3.0  # an outgoing message is imported this late: an operator reply's id is recorded by then

BOT_SENDER = {"id": "salesbot-bot", "name": "Бот"}
PHONE_SENDER_ID = "salesbot-shop-phone"
MEDIA_TYPES = {"imageMessage": "picture", "videoMessage": "video", "documentMessage": "file",
               "audioMessage": "voice", "stickerMessage": "sticker"}
STATUS_CODES = {"delivered": STATUS_DELIVERED, "read": STATUS_READ}
ERROR_STATUSES = {"failed": ERROR_OTHER, "noAccount": ERROR_NOT_ON_WHATSAPP, "notInGroup": ERROR_OTHER}
_PHONE_IN_VCARD = re.compile(r"waid=(\d+)|TEL[^:]*:([+\d][\d \-()]+)")


def import_key(id_message: str) -> str:
    return f"amocrm:import:{id_message}"


def chat_sequence(chat_id: str) -> str:
    return f"amocrm:{chat_id}"


def customer_of(chat_id: str, name: str) -> Dict[str, Any]:
    """The customer as amojo's sender/receiver: the chatId is the id; the phone when the chat has one."""
    user: Dict[str, Any] = {"id": f"wa-{chat_id}", "name": name or chat_id.split("@", 1)[0]}
    if chat_id.endswith("@c.us"):
        user["profile"] = {"phone": "+" + chat_id.split("@", 1)[0]}
        if not name:
            user["name"] = user["profile"]["phone"]
    return user


def message_of(message_data: Dict[str, Any]) -> Dict[str, Any]:
    """amojo's `message` object for a GREEN-API messageData: text, media as a link where GREEN-API gives one."""
    text, attachment = message_content(message_data)
    if not attachment:
        return {"type": "text", "text": text or "…"}
    kind = attachment.get("type")
    if kind in MEDIA_TYPES and attachment.get("url"):
        return {"type": MEDIA_TYPES[kind], "text": text, "media": attachment["url"],
                "file_name": attachment.get("file_name") or attachment["url"].rsplit("/", 1)[-1] or "file",
                "file_size": 0}  # GREEN-API does not say; amoCRM reads the size from the link
    if kind == "location" and attachment.get("latitude") is not None and attachment.get("longitude") is not None:
        return {"type": "location", "text": text,
                "location": {"lat": attachment["latitude"], "lon": attachment["longitude"]}}
    if kind == "contact":
        match = _PHONE_IN_VCARD.search(str(attachment.get("vcard") or ""))
        phone = "".join(ch for ch in (match.group(1) or match.group(2)) if ch.isdigit()) if match else ""
        if phone:
            return {"type": "contact", "text": text,
                    "contact": {"name": str(attachment.get("displayName") or phone), "phone": "+" + phone}}
    label = {"reaction": attachment.get("emoji") or "реакция"}.get(str(kind), f"[{kind}]")
    return {"type": "text", "text": " ".join(part for part in (text, str(label)) if part)}


def build_import(body: Dict[str, Any], now: float) -> Optional[Dict[str, Any]]:
    """amojo's new_message payload for a GREEN-API message notification, or None when it is not one."""
    type_webhook = body.get("typeWebhook")
    sender_data = body.get("senderData")
    message_data = body.get("messageData")
    id_message = body.get("idMessage")
    if type_webhook not in (INCOMING, MANAGER_TYPED, API_ECHO) or not isinstance(sender_data, dict) \
            or not isinstance(message_data, dict) or not isinstance(id_message, str) or not id_message:
        return None
    chat_id = sender_data.get("chatId")
    if not isinstance(chat_id, str) or not chat_id or chat_id.endswith("@g.us"):
        return None
    timestamp = body.get("timestamp")
    seconds = int(timestamp) if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool) \
        and timestamp > 0 else int(now)
    payload: Dict[str, Any] = {"timestamp": seconds, "msec_timestamp": seconds * 1000, "msgid": id_message,
                               "conversation_id": chat_id, "message": message_of(message_data)}
    if type_webhook == INCOMING:
        name = str(sender_data.get("senderName") or sender_data.get("chatName") or "")
        payload.update(sender=customer_of(chat_id, name[:200]), silent=False)
    else:
        name = str(sender_data.get("chatName") or "")
        payload["receiver"] = customer_of(chat_id, name[:200])
        payload["sender"] = dict(BOT_SENDER) if type_webhook == API_ECHO else {
            "id": PHONE_SENDER_ID, "name": str(sender_data.get("senderName") or "Менеджер")[:200]}
        payload["silent"] = True  # the shop's own message: no new lead, no notification
    return payload


class ScopeStore:
    """The scope_id of the channel in the account: AMOCRM_SCOPE_ID, else the one stored, else `connect` (once)."""

    def __init__(self, repos: Repositories, client: Optional[AmojoClient], channel_id: str, account_id: str,
                 configured: str = "", title: str = "WhatsApp"):
        self.repos = repos
        self.client = client
        self.channel_id = channel_id
        self.account_id = account_id
        self.title = title
        self._scope_id = configured or None
        self._lock = asyncio.Lock()

    def stored(self) -> Optional[str]:
        query = sa.select(amocrm_connections.c.scope_id).where(
            (amocrm_connections.c.channel_id == self.channel_id)
            & (amocrm_connections.c.account_id == self.account_id))
        with self.repos.db.read() as connection:
            return connection.execute(query).scalar()

    def _store(self, scope_id: str) -> None:
        statement = self.repos.db.insert(amocrm_connections).values(
            channel_id=self.channel_id, account_id=self.account_id, scope_id=scope_id,
            connected_at=self.repos.db.now()).on_conflict_do_nothing()
        with self.repos.db.write() as connection:
            connection.execute(statement)

    async def known(self) -> Optional[str]:
        """The scope_id if configured or stored; never calls amojo."""
        if self._scope_id is None:
            self._scope_id = await asyncio.to_thread(self.stored)
        return self._scope_id

    async def get(self) -> str:
        """The scope_id, connecting the channel to the account the first time (raises the client's errors)."""
        async with self._lock:
            if await self.known() is None:
                if self.client is None:
                    raise TerminalError("no scope_id: set AMOCRM_SCOPE_ID or let the bot connect first")
                scope_id = await self.client.connect(self.title)
                await asyncio.to_thread(self._store, scope_id)
                logger.info("amoCRM: channel %s connected to account %s (scope stored)", self.channel_id,
                            self.account_id)
                self._scope_id = await asyncio.to_thread(self.stored) or scope_id
            assert self._scope_id is not None
            return self._scope_id


def operator_reply_of(repos: Repositories, id_message: str) -> Optional[Dict[str, Any]]:
    """The payload of the operator reply (from amoCRM) that GREEN-API sent as `id_message`, or None."""
    query = sa.select(outbox.c.payload).where((outbox.c.id_message == id_message) & outbox.c.kind.in_(REPLY_KINDS))
    with repos.db.read() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    try:
        payload = json.loads(row[0])
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


class AmocrmMirror:
    """Observes every GREEN-API notification the channel stores and enqueues what amoCRM must get."""

    def __init__(self, repos: Repositories, skip_chat: Callable[[str], bool] = lambda chat_id: False):
        self.repos = repos
        self.skip_chat = skip_chat

    def rows_for(self, body: Any, now: float) -> List[Dict[str, Any]]:
        """The outbox rows (as enqueue's keyword arguments) one notification asks for."""
        if not isinstance(body, dict):
            return []
        if body.get("typeWebhook") == "outgoingMessageStatus":
            return self._status_rows(body)
        payload = build_import(body, now)
        if payload is None or self.skip_chat(payload["conversation_id"]):
            return []
        chat_id = payload["conversation_id"]
        outgoing = body.get("typeWebhook") != INCOMING
        return [dict(effect_key=import_key(payload["msgid"]), kind=AMOCRM_IMPORT, target=chat_id,
                     payload={"payload": payload}, chat_id=chat_id, sequence_key=chat_sequence(chat_id),
                     due_at=now + ECHO_SETTLE_SECONDS if outgoing else None)]

    def _status_rows(self, body: Dict[str, Any]) -> List[Dict[str, Any]]:
        status, id_message, chat_id = body.get("status"), body.get("idMessage"), body.get("chatId")
        if status not in STATUS_CODES and status not in ERROR_STATUSES:
            return []  # "sent" (and "pending"): amoCRM shows its own «sent»
        if not isinstance(id_message, str) or not id_message or not isinstance(chat_id, str) or not chat_id \
                or chat_id.endswith("@g.us") or self.skip_chat(chat_id):
            return []
        description = body.get("description")
        description = description if isinstance(description, str) else ""
        return [dict(effect_key=f"amocrm:status:{id_message}:{status}", kind=AMOCRM_STATUS, target=chat_id,
                     payload={"id_message": id_message, "status": status, "description": description[:500]},
                     chat_id=chat_id, sequence_key=chat_sequence(chat_id), due_at=None)]

    def enqueue(self, body: Any, now: Optional[float] = None) -> int:
        """Blocking: add the rows for one notification (a second copy adds nothing). Returns how many are new."""
        with self.repos.db.write() as connection:
            return self.store(connection, body, now)

    def store(self, connection: Any, body: Any, now: Optional[float] = None) -> int:
        """`enqueue` in the caller's transaction (the channel's, which stores the notification in the inbox too)."""
        try:
            rows = self.rows_for(body, self.repos.db.now() if now is None else now)
        except (WebhookError, TypeError, ValueError, KeyError) as exc:  # an odd body must never cost the message
            logger.warning("amoCRM mirror: notification %s not mirrored: %s",
                           body.get("idMessage") if isinstance(body, dict) else "-", exc)
            return 0
        added = sum(int(self.repos.outbox.add(connection, **row)) for row in rows)
        if added:
            logger.info("amoCRM mirror: chat=%s id=%s queued for import",
                        (body.get("senderData") or {}).get("chatId") or body.get("chatId"), body.get("idMessage"))
        return added


def enqueue_handover_summary(repos: Repositories, request_key: str, chat_id: str, name: str, summary: str) -> bool:
    """Blocking: the handover's summary into the chat's amoCRM conversation (once per handover, after the
    customer's message that caused it), so the operator sees why the bot stepped back. Not silent: amoCRM notifies.
    True when it was added now."""
    now = repos.db.now()
    msgid = "handover-" + hashlib.sha1(request_key.encode("utf-8")).hexdigest()[:20]
    payload = {"timestamp": int(now), "msec_timestamp": int(now * 1000), "msgid": msgid, "conversation_id": chat_id,
               "sender": dict(BOT_SENDER), "receiver": customer_of(chat_id, name[:200]),
               "message": {"type": "text", "text": f"🔔 Чат передан менеджеру: {summary}"[:4000]}, "silent": False}
    _, created = repos.outbox.enqueue(import_key(msgid), AMOCRM_IMPORT, chat_id, {"payload": payload}, chat_id,
                                      sequence_key=chat_sequence(chat_id))
    return created


class AmojoDelivery:
    """The senders of the amoCRM kinds (imports and delivery statuses) over one client."""

    def __init__(self, repos: Repositories, client: AmojoClient, scopes: ScopeStore):
        self.repos = repos
        self.client = client
        self.scopes = scopes

    async def echo_of_operator(self, item: OutboxItem) -> Optional[str]:
        msgid = str((item.payload.get("payload") or {}).get("msgid") or "")
        if msgid and await asyncio.to_thread(operator_reply_of, self.repos, msgid) is not None:
            return "the echo of an operator's reply: it came from amoCRM"
        return None

    async def send_import(self, item: OutboxItem) -> Optional[str]:
        payload = item.payload.get("payload")
        if not isinstance(payload, dict) or not payload.get("msgid"):
            raise TerminalError("payload has no amojo message")
        return await self.client.import_message(await self.scopes.get(), payload)

    async def send_status(self, item: OutboxItem) -> Optional[str]:
        id_message, status = str(item.payload.get("id_message") or ""), str(item.payload.get("status") or "")
        # amoCRM knows an operator's message by its own id, an imported one by ours
        msgid = str(item.payload.get("amojo_id") or "")
        if not msgid:
            reply = await asyncio.to_thread(operator_reply_of, self.repos, id_message) if id_message else None
            msgid = str(reply.get("amojo_id") or "") if reply else id_message
        if not msgid:
            raise TerminalError("no amojo id for the message")
        if status in STATUS_CODES:
            await self.client.delivery_status(await self.scopes.get(), msgid, STATUS_CODES[status])
        else:
            await self.client.delivery_status(await self.scopes.get(), msgid, STATUS_ERROR, ERROR_STATUSES[status],
                                              str(item.payload.get("description") or status))
        return None

    async def not_mirrored(self, item: OutboxItem) -> Optional[str]:
        """A status of a message amoCRM never got (neither imported nor an operator's): nothing to report."""
        if item.payload.get("amojo_id"):
            return None  # an operator's reply that GREEN-API refused
        id_message = str(item.payload.get("id_message") or "")
        imported = await asyncio.to_thread(self.repos.outbox.get, import_key(id_message))
        if imported is not None and imported["status"] == "SENT":
            return None
        if await asyncio.to_thread(operator_reply_of, self.repos, id_message) is not None:
            return None
        return "the message was not mirrored to amoCRM"

    def senders(self) -> Dict[str, Sender]:
        # amojo knows a message by its msgid: a repeated import or status after a timeout changes nothing
        return {AMOCRM_IMPORT: Sender(self.send_import, idempotent=True, drop_reason=self.echo_of_operator),
                AMOCRM_STATUS: Sender(self.send_status, idempotent=True, drop_reason=self.not_mirrored)}
