"""The managers' page's own state: its users, and when each chat was last read there. Also the read-only views
the page needs over the channel's tables (the chat list and a chat's transcript), kept here in SQLAlchemy Core.

The transcript comes from the app's database, not from Rasa's tracker: the customer's and the shop phone's
messages are the durable inbox's rows (webhook bodies), what the bot, the desk and the notifications sent is
`sent_messages` (id, text, author; written by every sender when GREEN-API accepts a send), and what is still
queued or failed is the outbox.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Sequence

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.schema import desk_chat_reads, desk_users, handoffs, inbox, orders, outbox, sent_messages

CUSTOMER_KIND = "incomingMessageReceived"
SHOP_PHONE_KIND = "outgoingMessageReceived"  # typed on the shop's phone (or the echo of an API send)
MESSAGE_KINDS = ("greenapi.message", "greenapi.reply", "greenapi.file_url")  # salesbot.outbox's kinds
ROLES = ("admin", "manager")


class DeskUserRepository:
    def __init__(self, db: Database):
        self.db = db

    def count(self) -> int:
        with self.db.read() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(desk_users)).scalar() or 0)

    def create(self, name: str, password_hash: str, role: str, must_change_password: bool = False) -> Optional[int]:
        """The new user's id, or None when the name is taken."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        statement = self.db.insert(desk_users).values(
            name=name, password_hash=password_hash, role=role, must_change_password=must_change_password,
            active=True, created_at=self.db.now()).on_conflict_do_nothing()
        with self.db.write() as connection:
            if connection.execute(statement).rowcount != 1:
                return None
            return int(connection.execute(sa.select(desk_users.c.id).where(desk_users.c.name == name)).scalar_one())

    def by_name(self, name: str) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(desk_users).where(desk_users.c.name == name)).mappings().first()
            return dict(row) if row else None

    def get(self, user_id: int) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(desk_users).where(desk_users.c.id == user_id)).mappings().first()
            return dict(row) if row else None

    def list(self) -> List[Dict[str, Any]]:
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(sa.select(desk_users).order_by(desk_users.c.name)).mappings()]

    def update(self, user_id: int, **values: Any) -> None:
        with self.db.write() as connection:
            connection.execute(desk_users.update().where(desk_users.c.id == user_id).values(**values))


class DeskChatRepository:
    """The chat list and transcripts, read from the channel's tables; the read marks are the desk's own."""

    def __init__(self, db: Database):
        self.db = db

    def mark_read(self, chat_id: str, by: str, at: Optional[float] = None) -> None:
        at = self.db.now() if at is None else at
        with self.db.write() as connection:
            if connection.execute(desk_chat_reads.update().where(desk_chat_reads.c.chat_id == chat_id)
                                  .values(read_at=at, by=by)).rowcount == 0:
                connection.execute(self.db.insert(desk_chat_reads).values(chat_id=chat_id, read_at=at, by=by)
                                   .on_conflict_do_nothing())

    def chats(self, exclude: Iterable[str] = (), limit: int = 300) -> List[Dict[str, Any]]:
        """Every customer chat (newest activity first): last customer message, unread count, the bot's state,
        orders. `exclude`: chats that are not customers' (the managers' own numbers)."""
        excluded = list(exclude)
        customer = (inbox.c.kind == CUSTOMER_KIND) & ~inbox.c.chat_id.like("%@g.us")
        if excluded:
            customer = customer & inbox.c.chat_id.notin_(excluded)
        with self.db.read() as connection:
            read_at = sa.func.coalesce(desk_chat_reads.c.read_at, 0.0)
            rows = connection.execute(
                sa.select(inbox.c.chat_id, sa.func.max(inbox.c.id).label("last_id"),
                          sa.func.max(inbox.c.received_at).label("last_in_at"),
                          sa.func.sum(sa.case((inbox.c.received_at > read_at, 1), else_=0)).label("unread"))
                .select_from(inbox.outerjoin(desk_chat_reads, desk_chat_reads.c.chat_id == inbox.c.chat_id))
                .where(customer).group_by(inbox.c.chat_id)
                .order_by(sa.func.max(inbox.c.received_at).desc()).limit(limit)).mappings().all()
            chat_ids = [r["chat_id"] for r in rows]
            if not chat_ids:
                return []
            bodies = {r["id"]: r["body"] for r in connection.execute(
                sa.select(inbox.c.id, inbox.c.body).where(inbox.c.id.in_([r["last_id"] for r in rows]))).mappings()}
            last_out = {r["chat_id"]: r for r in connection.execute(
                sa.select(sent_messages.c.chat_id, sa.func.max(sent_messages.c.at).label("at"))
                .where(sent_messages.c.chat_id.in_(chat_ids)).group_by(sent_messages.c.chat_id)).mappings()}
            shop_typed = {r["chat_id"]: r["at"] for r in connection.execute(
                sa.select(inbox.c.chat_id, sa.func.max(inbox.c.received_at).label("at"))
                .where(inbox.c.chat_id.in_(chat_ids) & (inbox.c.kind == SHOP_PHONE_KIND)
                       & inbox.c.id_message.notin_(sa.select(sent_messages.c.id_message)))
                .group_by(inbox.c.chat_id)).mappings()}
            states = {r["chat_id"]: dict(r) for r in connection.execute(
                sa.select(handoffs).where(handoffs.c.chat_id.in_(chat_ids))).mappings()}
            order_counts = {r["chat_id"]: r["n"] for r in connection.execute(
                sa.select(orders.c.chat_id, sa.func.count().label("n")).where(orders.c.chat_id.in_(chat_ids))
                .group_by(orders.c.chat_id)).mappings()}
            last_texts = self._last_sent_texts(connection, chat_ids)
        result = []
        for row in rows:
            chat_id = row["chat_id"]
            body = _json(bodies.get(row["last_id"]))
            out_row = last_out.get(chat_id)
            last_out_at = max([x for x in (out_row["at"] if out_row else None, shop_typed.get(chat_id))
                               if x is not None], default=None)
            state = states.get(chat_id)
            if last_out_at is not None and last_out_at > row["last_in_at"] and chat_id in last_texts:
                last_text, last_at, last_by = last_texts[chat_id], last_out_at, "out"
            else:
                last_text, last_at, last_by = message_text(body), row["last_in_at"], "customer"
            result.append({
                "chat_id": chat_id, "phone": phone_of(chat_id), "name": sender_name(body),
                "last_text": last_text, "last_at": last_at, "last_by": last_by, "last_in_at": row["last_in_at"],
                "unread": int(row["unread"] or 0), "paused": bool(state and state["paused"]),
                "reason": state["reason"] if state else None, "since": state["since"] if state else None,
                "by": state["by"] if state else "", "last_manager_at": state["last_manager_at"] if state else None,
                "orders": int(order_counts.get(chat_id, 0)),
            })
        self._waiting(result)
        return result

    def _last_sent_texts(self, connection: sa.engine.Connection, chat_ids: Sequence[str]) -> Dict[str, str]:
        newest = sa.select(sent_messages.c.chat_id, sa.func.max(sent_messages.c.at).label("at")).where(
            sent_messages.c.chat_id.in_(chat_ids) & sent_messages.c.text.isnot(None)
        ).group_by(sent_messages.c.chat_id).subquery()
        query = sa.select(sent_messages.c.chat_id, sent_messages.c.text).join(
            newest, (newest.c.chat_id == sent_messages.c.chat_id) & (newest.c.at == sent_messages.c.at))
        return {r["chat_id"]: r["text"] for r in connection.execute(query).mappings()}

    def _waiting(self, chats: List[Dict[str, Any]]) -> None:
        """A paused chat waits for a manager from the customer's first message after the managers' last one
        (or from the pause, when no manager has written since it)."""
        with self.db.read() as connection:
            for chat in chats:
                chat["waiting_since"] = None
                if not chat["paused"]:
                    continue
                manager_at = chat["last_manager_at"]
                if manager_at is None or manager_at < chat["since"]:
                    chat["waiting_since"] = chat["since"]
                elif chat["last_in_at"] > manager_at:
                    chat["waiting_since"] = connection.execute(
                        sa.select(sa.func.min(inbox.c.received_at)).where(
                            (inbox.c.chat_id == chat["chat_id"]) & (inbox.c.kind == CUSTOMER_KIND)
                            & (inbox.c.received_at > manager_at))).scalar()

    def transcript(self, chat_id: str, limit: int = 500) -> List[Dict[str, Any]]:
        """The chat's messages, oldest first: {at, author (customer|bot|manager_phone|desk|notification|
        operator), by, text, photo (inbox id with an image), status (outbox status of one not sent yet)}."""
        with self.db.read() as connection:
            sent = connection.execute(
                sa.select(sent_messages.c.id_message, sent_messages.c.at, sent_messages.c.text,
                          sent_messages.c.author, outbox.c.effect_key)
                .select_from(sent_messages.outerjoin(outbox, outbox.c.id_message == sent_messages.c.id_message))
                .where(sent_messages.c.chat_id == chat_id).order_by(sent_messages.c.at.desc()).limit(limit)
            ).mappings().all()
            own_ids = {r["id_message"] for r in sent}
            received = connection.execute(
                sa.select(inbox.c.id, inbox.c.id_message, inbox.c.kind, inbox.c.body, inbox.c.received_at)
                .where((inbox.c.chat_id == chat_id) & inbox.c.kind.in_([CUSTOMER_KIND, SHOP_PHONE_KIND]))
                .order_by(inbox.c.id.desc()).limit(limit)).mappings().all()
            queued = connection.execute(
                sa.select(outbox.c.effect_key, outbox.c.payload, outbox.c.status, outbox.c.created_at,
                          outbox.c.last_error)
                .where((outbox.c.target == chat_id) & outbox.c.kind.in_(MESSAGE_KINDS)
                       & (outbox.c.status != "SENT")).order_by(outbox.c.id.desc()).limit(limit)).mappings().all()
        entries: List[Dict[str, Any]] = []
        for row in received:
            if row["kind"] == SHOP_PHONE_KIND and row["id_message"] in own_ids:
                continue  # the echo of the bot's own send
            body = _json(row["body"])
            photo = row["id"] if attachment_url(body) and "image" in message_type(body).lower() else None
            entries.append({"at": row["received_at"], "author": "customer" if row["kind"] == CUSTOMER_KIND
                            else "manager_phone", "by": sender_name(body), "text": message_text(body),
                            "photo": photo, "status": None})
        for row in sent:
            author = row["author"] or ""
            if (row["effect_key"] or "").startswith("notification:"):
                kind = "notification"
            elif author.startswith("desk:"):
                kind = "desk"
            elif author.startswith("operator"):
                kind = "operator"
            else:
                kind = "bot"
            entries.append({"at": row["at"], "author": kind, "by": author.split(":", 1)[-1] if ":" in author else "",
                            "text": row["text"] or "(сообщение без текста)", "photo": None, "status": None})
        for row in queued:
            payload = _json(row["payload"])
            key = row["effect_key"] or ""
            author = str(payload.get("author") or "")
            kind = "notification" if key.startswith("notification:") else "desk" if author.startswith("desk:") \
                else "bot"
            entries.append({"at": row["created_at"], "author": kind, "by": author.split(":", 1)[-1],
                            "text": str(payload.get("message") or payload.get("url") or ""), "photo": None,
                            "status": row["status"], "error": row["last_error"]})
        entries.sort(key=lambda e: e["at"])
        return entries[-limit:]

    def photo_url(self, chat_id: str, inbox_id: int) -> Optional[str]:
        with self.db.read() as connection:
            body = connection.execute(sa.select(inbox.c.body).where(
                (inbox.c.id == inbox_id) & (inbox.c.chat_id == chat_id))).scalar()
        return attachment_url(_json(body)) if body else None

    def customer_name(self, chat_id: str) -> str:
        with self.db.read() as connection:
            body = connection.execute(sa.select(inbox.c.body).where(
                (inbox.c.chat_id == chat_id) & (inbox.c.kind == CUSTOMER_KIND)).order_by(inbox.c.id.desc())
                .limit(1)).scalar()
        return sender_name(_json(body)) if body else ""


# -- reading a stored GREEN-API webhook body ------------------------------------------------------------------------
def _json(text: Any) -> Dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _message_data(body: Dict[str, Any]) -> Dict[str, Any]:
    data = body.get("messageData")
    return data if isinstance(data, dict) else {}


def message_type(body: Dict[str, Any]) -> str:
    return str(_message_data(body).get("typeMessage") or "")


def attachment_url(body: Dict[str, Any]) -> Optional[str]:
    file_data = _message_data(body).get("fileMessageData")
    if isinstance(file_data, dict) and isinstance(file_data.get("downloadUrl"), str):
        return file_data["downloadUrl"]
    return None


def message_text(body: Dict[str, Any]) -> str:
    data = _message_data(body)
    for key, field in (("textMessageData", "textMessage"), ("extendedTextMessageData", "text"),
                       ("fileMessageData", "caption"), ("quotedMessage", "textMessage")):
        inner = data.get(key)
        if isinstance(inner, dict) and isinstance(inner.get(field), str) and inner[field]:
            return inner[field]
    kind = message_type(body)
    return {"imageMessage": "📷 фото", "videoMessage": "🎬 видео", "audioMessage": "🎤 голосовое",
            "documentMessage": "📎 файл", "locationMessage": "📍 место", "contactMessage": "📇 контакт",
            "stickerMessage": "стикер"}.get(kind, f"({kind or 'сообщение'})")


def sender_name(body: Dict[str, Any]) -> str:
    data = body.get("senderData")
    if not isinstance(data, dict):
        return ""
    for key in ("senderContactName", "senderName", "chatName"):
        if isinstance(data.get(key), str) and data[key].strip():
            return data[key].strip()
    return ""


def phone_of(chat_id: str) -> str:
    number = chat_id.split("@", 1)[0]
    return f"+{number}" if chat_id.endswith("@c.us") and number.isdigit() else chat_id
