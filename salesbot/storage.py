"""The app's own tables (not Rasa's tracker store): orders, message dedup, outbox of side effects.

SQLAlchemy Core, compatible with SQLAlchemy 1.4 (Rasa 3.6's pin) and 2.x (the action server). SQLite by default,
PostgreSQL through DATABASE_URL. Calls are blocking and short; async callers wrap them in `asyncio.to_thread`.
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import sqlalchemy as sa

metadata = sa.MetaData()

processed_messages = sa.Table(
    "processed_messages", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("id_message", sa.String(128), primary_key=True),
    sa.Column("type_webhook", sa.String(64), nullable=False, default=""),
    sa.Column("received_at", sa.Float, nullable=False),
)

orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_key", sa.String(255), nullable=False, unique=True),
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("customer_name", sa.String(255), nullable=False, default=""),
    sa.Column("phone", sa.String(32), nullable=True),
    sa.Column("product", sa.String(255), nullable=False),
    sa.Column("size", sa.String(16), nullable=True),
    sa.Column("color", sa.String(64), nullable=True),
    sa.Column("city", sa.String(128), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("price", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("effect_key", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("id_message", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("by", sa.String(128), nullable=False, default=""),
    sa.Column("last_manager_at", sa.Float, nullable=True),
)

handoff_log = sa.Table(
    "handoff_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),  # pause | resume
    sa.Column("reason", sa.String(32), nullable=False),  # manager_typed, command, customer_request, llm_unsure, auto_resume
    sa.Column("by", sa.String(128), nullable=False, default=""),
    sa.Column("at", sa.Float, nullable=False),
)

sent_messages = sa.Table(
    "sent_messages", metadata,
    sa.Column("id_message", sa.String(128), primary_key=True),
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

nudges = sa.Table(
    "nudges", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("due_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sending | sent | cancelled
    sa.Column("updated_at", sa.Float, nullable=False),
)

llm_calls = sa.Table(
    "llm_calls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("id_message", sa.String(128), nullable=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),  # answered | unsure | timeout | error | invalid | ungrounded
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=True),
    sa.Column("completion_tokens", sa.Integer, nullable=True),
    sa.Column("at", sa.Float, nullable=False),
)

ORDER_NEW = "NEW"
ORDER_NOTIFIED = "NOTIFIED"
ORDER_NOTIFY_FAILED = "NOTIFY_FAILED"

EFFECT_PENDING = "PENDING"
EFFECT_SENT = "SENT"
EFFECT_FAILED = "FAILED"
EFFECT_SKIPPED = "SKIPPED"


def _insert(engine: sa.engine.Engine, table: sa.Table):
    """INSERT ... ON CONFLICT DO NOTHING for the engine's dialect."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ValueError(f"unsupported database dialect {engine.dialect.name!r}; use SQLite or PostgreSQL")
    return insert(table)


class Storage:
    def __init__(self, database_url: str, clock=time.time):
        self.database_url = database_url
        self._clock = clock
        if database_url.startswith("sqlite:///"):
            Path(database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            # Two processes share the file: wait for a lock instead of failing at once.
            # A pool of open connections: SQLAlchemy 1.4 would open (and set up) a new one for every call.
            self.engine = sa.create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False},
                                           poolclass=sa.pool.QueuePool, pool_size=4, max_overflow=8)
        else:
            if database_url.startswith(("postgresql://", "postgres://")):
                # psycopg2 is installed in both venvs; SQLAlchemy 2.1 would otherwise pick psycopg 3.
                database_url = "postgresql+psycopg2://" + database_url.split("://", 1)[1]
            self.engine = sa.create_engine(database_url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        # SQLite has one writer at a time and its busy handler sleeps in growing steps (up to 100 ms) while it
        # waits: one in-process lock around write transactions keeps turns from sleeping on each other.
        self._write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def _write(self) -> Iterator[Any]:
        if self._write_lock is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    # -- deduplication -------------------------------------------------------------------------------------
    def claim_message(self, chat_id: str, id_message: str, type_webhook: str = "") -> bool:
        """Atomically record (chat_id, id_message). True the first time, False for a duplicate."""
        statement = _insert(self.engine, processed_messages).values(
            chat_id=chat_id, id_message=id_message, type_webhook=type_webhook, received_at=self._clock()
        ).on_conflict_do_nothing()
        with self._write() as connection:
            return connection.execute(statement).rowcount == 1

    def release_message(self, chat_id: str, id_message: str) -> None:
        """Forget a claim whose processing failed, so a redelivery is processed again."""
        with self._write() as connection:
            connection.execute(
                processed_messages.delete().where(
                    (processed_messages.c.chat_id == chat_id) & (processed_messages.c.id_message == id_message)
                )
            )

    # -- orders --------------------------------------------------------------------------------------------
    def create_order(self, order_key: str, **fields: Any) -> Dict[str, Any]:
        """Store an order once per key; a repeated call returns the stored row unchanged."""
        now = self._clock()
        statement = _insert(self.engine, orders).values(
            order_key=order_key, status=ORDER_NEW, created_at=now, updated_at=now, **fields
        ).on_conflict_do_nothing()
        with self._write() as connection:
            connection.execute(statement)
            row = connection.execute(sa.select(orders).where(orders.c.order_key == order_key)).mappings().one()
        return dict(row)

    def set_order_status(self, order_id: int, status: str) -> None:
        with self._write() as connection:
            connection.execute(
                orders.update().where(orders.c.id == order_id).values(status=status, updated_at=self._clock())
            )

    def list_orders(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(orders).order_by(orders.c.id)
        if chat_id:
            query = query.where(orders.c.chat_id == chat_id)
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    # -- outbox of side effects ----------------------------------------------------------------------------
    def claim_effect(self, effect_key: str, kind: str, chat_id: str, payload: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Register a side effect once. Returns the row to perform, or None when it was already SENT/SKIPPED."""
        now = self._clock()
        statement = _insert(self.engine, outbox).values(
            effect_key=effect_key, kind=kind, chat_id=chat_id, payload=json.dumps(payload, ensure_ascii=False),
            status=EFFECT_PENDING, attempts=0, created_at=now, updated_at=now,
        ).on_conflict_do_nothing()
        with self._write() as connection:
            connection.execute(statement)
            row = dict(connection.execute(sa.select(outbox).where(outbox.c.effect_key == effect_key)).mappings().one())
        if row["status"] in (EFFECT_SENT, EFFECT_SKIPPED):
            return None
        return row

    def finish_effect(self, effect_key: str, status: str, id_message: Optional[str] = None,
                      error: Optional[str] = None) -> None:
        with self._write() as connection:
            connection.execute(
                outbox.update().where(outbox.c.effect_key == effect_key).values(
                    status=status, id_message=id_message, last_error=error,
                    attempts=outbox.c.attempts + 1, updated_at=self._clock(),
                )
            )

    # -- handoff -----------------------------------------------------------------------------------------------
    def pause_chat(self, chat_id: str, reason: str, by: str, now: float) -> bool:
        """Pause the bot in a chat. True when it was running before (a log row is written then)."""
        with self._write() as connection:
            row = connection.execute(sa.select(handoffs).where(handoffs.c.chat_id == chat_id)).mappings().first()
            manager_at = now if reason == "manager_typed" else (row["last_manager_at"] if row else None)
            if row and row["paused"]:
                if reason == "manager_typed":
                    connection.execute(handoffs.update().where(handoffs.c.chat_id == chat_id)
                                       .values(last_manager_at=now))
                return False
            values = dict(paused=True, since=now, reason=reason, by=by, last_manager_at=manager_at)
            if row:
                connection.execute(handoffs.update().where(handoffs.c.chat_id == chat_id).values(**values))
            else:
                connection.execute(handoffs.insert().values(chat_id=chat_id, **values))
            connection.execute(handoff_log.insert().values(chat_id=chat_id, action="pause", reason=reason, by=by,
                                                           at=now))
            connection.execute(nudges.update().where((nudges.c.chat_id == chat_id) & (nudges.c.status == "pending"))
                               .values(status="cancelled", updated_at=now))
            return True

    def resume_chat(self, chat_id: str, reason: str, by: str, now: float) -> bool:
        with self._write() as connection:
            result = connection.execute(
                handoffs.update().where((handoffs.c.chat_id == chat_id) & (handoffs.c.paused == sa.true()))
                .values(paused=False, since=now, reason=reason, by=by))
            if result.rowcount != 1:
                return False
            connection.execute(handoff_log.insert().values(chat_id=chat_id, action="resume", reason=reason, by=by,
                                                           at=now))
            return True

    def handoff(self, chat_id: str) -> Optional[Dict[str, Any]]:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(handoffs).where(handoffs.c.chat_id == chat_id)).mappings().first()
            return dict(row) if row else None

    def paused_chats(self) -> List[Dict[str, Any]]:
        with self.engine.connect() as connection:
            query = sa.select(handoffs).where(handoffs.c.paused == sa.true()).order_by(handoffs.c.since)
            return [dict(r) for r in connection.execute(query).mappings()]

    def handoff_history(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(handoff_log).order_by(handoff_log.c.id)
        if chat_id:
            query = query.where(handoff_log.c.chat_id == chat_id)
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    # -- LLM calls: what the fallback cost ------------------------------------------------------------------
    def record_llm_call(self, chat_id: str, id_message: Optional[str], model: str, outcome: str, latency_ms: int,
                        prompt_tokens: Optional[int], completion_tokens: Optional[int], now: float) -> None:
        with self._write() as connection:
            connection.execute(llm_calls.insert().values(
                chat_id=chat_id, id_message=id_message, model=model, outcome=outcome, latency_ms=latency_ms,
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, at=now))

    def llm_calls(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(llm_calls).order_by(llm_calls.c.id)
        if chat_id:
            query = query.where(llm_calls.c.chat_id == chat_id)
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    # -- the bot's own sends (GREEN-API may echo them as outgoingMessageReceived) ---------------------------
    def remember_sent(self, chat_id: str, ids: List[str], now: float) -> None:
        ids = [i for i in ids if i]
        if not ids:
            return
        with self._write() as connection:
            for id_message in ids:
                connection.execute(_insert(self.engine, sent_messages).values(
                    id_message=id_message, chat_id=chat_id, at=now).on_conflict_do_nothing())

    def was_sent_by_bot(self, id_message: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sent_messages.c.id_message)
                                      .where(sent_messages.c.id_message == id_message)).first() is not None

    # -- nudges ---------------------------------------------------------------------------------------------
    def schedule_nudge(self, chat_id: str, stage: int, due_at: float, now: float) -> None:
        with self._write() as connection:
            connection.execute(nudges.delete().where(nudges.c.chat_id == chat_id))
            connection.execute(nudges.insert().values(chat_id=chat_id, stage=stage, due_at=due_at, status="pending",
                                                      updated_at=now))

    def customer_wrote(self, chat_id: str, now: float) -> Optional[Dict[str, Any]]:
        """The customer wrote: cancel a pending nudge and return the chat's handoff row (a write only when needed)."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(handoffs).where(handoffs.c.chat_id == chat_id)).mappings().first()
            pending = connection.execute(sa.select(nudges.c.chat_id).where(
                (nudges.c.chat_id == chat_id) & (nudges.c.status == "pending"))).first()
        if pending:
            with self._write() as connection:
                connection.execute(nudges.update().where(
                    (nudges.c.chat_id == chat_id) & (nudges.c.status == "pending"))
                    .values(status="cancelled", updated_at=now))
        return dict(row) if row else None

    def nudge(self, chat_id: str) -> Optional[Dict[str, Any]]:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(nudges).where(nudges.c.chat_id == chat_id)).mappings().first()
            return dict(row) if row else None

    def claim_due_nudges(self, now: float) -> List[Dict[str, Any]]:
        """Atomically move due pending nudges to 'sending'; each is returned to exactly one caller."""
        with self.engine.connect() as connection:
            due = [dict(r) for r in connection.execute(
                sa.select(nudges).where((nudges.c.status == "pending") & (nudges.c.due_at <= now))).mappings()]
        claimed = []
        for row in due:
            with self._write() as connection:
                result = connection.execute(nudges.update().where(
                    (nudges.c.chat_id == row["chat_id"]) & (nudges.c.status == "pending")
                    & (nudges.c.stage == row["stage"])).values(status="sending", updated_at=now))
                if result.rowcount == 1:
                    claimed.append(row)
        return claimed

    def finish_nudge(self, chat_id: str, stage: int, status: str, now: float,
                     next_due: Optional[float] = None) -> None:
        """Mark a claimed nudge done; with `next_due`, the next stage is scheduled in the same transaction,
        so a crash right after a send can never lose the follow-up."""
        values = dict(status=status, updated_at=now)
        if next_due is not None:
            values.update(stage=stage + 1, due_at=next_due, status="pending")
        with self._write() as connection:
            connection.execute(nudges.update().where((nudges.c.chat_id == chat_id) & (nudges.c.stage == stage)
                                                     & (nudges.c.status == "sending")).values(**values))


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_storages: Dict[str, Storage] = {}
_storages_lock = threading.Lock()


def get_storage(database_url: str) -> Storage:
    """One Storage (engine and pool) per URL per process, created on first use."""
    with _storages_lock:
        storage = _storages.get(database_url)
        if storage is None:
            storage = _storages[database_url] = Storage(database_url)
        return storage
