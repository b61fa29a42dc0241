"""Incoming notifications (dedupe and the durable inbox) and the bot's own sends."""
from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database, json_text
from salesbot.db.enums import InboxStatus
from salesbot.db.schema import inbox, processed_messages, sent_messages


class MessageRepository:
    """Dedupe on (chat_id, id_message) and the ids the bot sent (GREEN-API echoes them as outgoing messages)."""

    def __init__(self, db: Database):
        self.db = db

    def claim(self, chat_id: str, id_message: str, type_webhook: str = "") -> bool:
        """Atomically record (chat_id, id_message). True the first time, False for a duplicate."""
        statement = self.db.insert(processed_messages).values(
            chat_id=chat_id, id_message=id_message, type_webhook=type_webhook, received_at=self.db.now()
        ).on_conflict_do_nothing()
        with self.db.write() as connection:
            return bool(connection.execute(statement).rowcount == 1)

    def release(self, chat_id: str, id_message: str) -> None:
        """Forget a claim whose processing failed, so a redelivery is processed again."""
        with self.db.write() as connection:
            connection.execute(processed_messages.delete().where(
                (processed_messages.c.chat_id == chat_id) & (processed_messages.c.id_message == id_message)))

    def remember_sent(self, chat_id: str, ids: List[str], now: Optional[float] = None, text: Optional[str] = None,
                      author: Optional[str] = None) -> None:
        """`text`: what was sent (the managers' transcript); `author`: None = the bot, `desk:<user>`..."""
        ids = [i for i in ids if i]
        if not ids:
            return
        at = self.db.now() if now is None else now
        with self.db.write() as connection:
            for id_message in ids:
                connection.execute(self.db.insert(sent_messages).values(
                    id_message=id_message, chat_id=chat_id, at=at, text=text, author=author).on_conflict_do_nothing())

    def sent_ids_until(self, chat_id: str, until: float) -> List[str]:
        """The ids the bot recorded as sent to `chat_id` at or before `until`."""
        query = sa.select(sent_messages.c.id_message).where(
            (sent_messages.c.chat_id == chat_id) & (sent_messages.c.at <= until))
        with self.db.read() as connection:
            return [row[0] for row in connection.execute(query)]

    def was_sent_by_bot(self, id_message: str) -> bool:
        with self.db.read() as connection:
            return connection.execute(sa.select(sent_messages.c.id_message)
                                      .where(sent_messages.c.id_message == id_message)).first() is not None


class InboxRepository:
    """Every accepted notification is stored RECEIVED before it is acknowledged; a turn marks it DONE.

    `accept` is also the dedupe: a second copy of (chat_id, id_message) is not stored again."""

    def __init__(self, db: Database):
        self.db = db

    def accept(self, chat_id: str, id_message: str, kind: str, body: Any,
               connection: Optional[sa.engine.Connection] = None) -> Optional[int]:
        """Store a new notification; returns its id, or None when (chat_id, id_message) was already stored.
        Pass `connection` to store it in the caller's transaction."""
        statement = self.db.insert(inbox).values(
            chat_id=chat_id, id_message=id_message, kind=kind,
            body=json_text(body),   # a hostile body (lone surrogates, NUL) is stored too, never a 500
            status=InboxStatus.RECEIVED.value, attempts=0, received_at=self.db.now(),
        ).on_conflict_do_nothing()
        with nullcontext(connection) if connection is not None else self.db.write() as own:
            result = own.execute(statement)
            if result.rowcount != 1:
                return None
            # the new row's id comes with the insert (SQLite's lastrowid, PostgreSQL's RETURNING): no second query
            key = result.inserted_primary_key
            return int(key[0]) if key else None

    def start(self, inbox_id: int) -> None:
        """Count a processing attempt (so a message that keeps failing can be given up on)."""
        with self.db.write() as connection:
            connection.execute(inbox.update().where(inbox.c.id == inbox_id).values(attempts=inbox.c.attempts + 1))

    def done(self, inbox_id: int, connection: Optional[sa.engine.Connection] = None) -> bool:
        """Mark processed. Pass `connection` to do it in the transaction that records the turn's result."""
        statement = inbox.update().where(
            (inbox.c.id == inbox_id) & (inbox.c.status == InboxStatus.RECEIVED.value)
        ).values(status=InboxStatus.DONE.value, done_at=self.db.now())
        if connection is not None:
            return bool(connection.execute(statement).rowcount == 1)
        with self.db.write() as own:
            return bool(own.execute(statement).rowcount == 1)

    def failed(self, inbox_id: int, error: str) -> None:
        with self.db.write() as connection:
            connection.execute(inbox.update().where(inbox.c.id == inbox_id).values(
                status=InboxStatus.FAILED.value, last_error=error[:2000], done_at=self.db.now()))

    def received(self, limit: int = 1000, kind: Optional[str] = None,
                 exclude_kind: Optional[str] = None) -> List[Dict[str, Any]]:
        """Notifications not yet processed, oldest first (so per chat in arrival order), bodies decoded; only of
        `kind`, or of any kind but `exclude_kind` (each process replays its own)."""
        query = sa.select(inbox).where(inbox.c.status == InboxStatus.RECEIVED.value).order_by(inbox.c.id).limit(limit)
        if kind is not None:
            query = query.where(inbox.c.kind == kind)
        if exclude_kind is not None:
            query = query.where(inbox.c.kind != exclude_kind)
        with self.db.read() as connection:
            return [_decoded(row) for row in connection.execute(query).mappings()]

    def pending(self, chat_id: str, limit: int = 50, exclude_kind: Optional[str] = None) -> List[Dict[str, Any]]:
        """The chat's RECEIVED notifications, oldest first, bodies decoded (but those of `exclude_kind`, which
        another process handles)."""
        query = sa.select(inbox).where((inbox.c.chat_id == chat_id) & (inbox.c.status == InboxStatus.RECEIVED.value)
                                       ).order_by(inbox.c.id).limit(limit)
        if exclude_kind is not None:
            query = query.where(inbox.c.kind != exclude_kind)
        with self.db.read() as connection:
            return [_decoded(row) for row in connection.execute(query).mappings()]

    def previous_done_at(self, chat_id: str, before_id: int) -> Optional[float]:
        """When the chat's last message stored before `before_id` was finished (None: there is none)."""
        query = sa.select(sa.func.max(inbox.c.done_at)).where(
            (inbox.c.chat_id == chat_id) & (inbox.c.id < before_id) & inbox.c.done_at.isnot(None))
        with self.db.read() as connection:
            value = connection.execute(query).scalar()
            return float(value) if value is not None else None

    def get(self, chat_id: str, id_message: str) -> Optional[Dict[str, Any]]:
        query = sa.select(inbox).where((inbox.c.chat_id == chat_id) & (inbox.c.id_message == id_message))
        with self.db.read() as connection:
            row = connection.execute(query).mappings().first()
            return _decoded(row) if row else None


def _decoded(row: Any) -> Dict[str, Any]:
    item = dict(row)
    item["body"] = json.loads(item["body"])
    return item
