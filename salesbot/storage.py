"""The app's tables behind the API the channel and the actions have always used: a thin facade over the
repositories of salesbot/db (schema, status enums, Alembic migrations applied at start).

New code may use the repositories directly: `storage.repos.outbox`, `storage.repos.inbox`, ...
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

from salesbot.db import Database, Repositories, open_database
from salesbot.db.engine import ClockLike
from salesbot.db.enums import OrderStatus, OutboxStatus
from salesbot.db.schema import (  # noqa: F401  (re-exported for callers of the previous release)
    handoff_log,
    handoffs,
    llm_calls,
    metadata,
    nudges,
    orders,
    outbox,
    processed_messages,
    sent_messages,
)

ORDER_NEW = OrderStatus.NEW.value
ORDER_NOTIFIED = OrderStatus.NOTIFIED.value
ORDER_NOTIFY_FAILED = OrderStatus.NOTIFY_FAILED.value

EFFECT_PENDING = OutboxStatus.PENDING.value
EFFECT_SENT = OutboxStatus.SENT.value
EFFECT_FAILED = OutboxStatus.FAILED.value
EFFECT_SKIPPED = OutboxStatus.SKIPPED.value


class Storage:
    """Opens (and migrates) the database; every method delegates to one repository."""

    def __init__(self, database_url: str, clock: ClockLike = None):
        self.database_url = database_url
        self.db: Database = open_database(database_url, clock)
        self.engine = self.db.engine
        self.repos = Repositories(self.db)

    # -- deduplication -------------------------------------------------------------------------------------
    def claim_message(self, chat_id: str, id_message: str, type_webhook: str = "") -> bool:
        return self.repos.messages.claim(chat_id, id_message, type_webhook)

    def release_message(self, chat_id: str, id_message: str) -> None:
        self.repos.messages.release(chat_id, id_message)

    # -- orders --------------------------------------------------------------------------------------------
    def create_order(self, order_key: str, **fields: Any) -> Dict[str, Any]:
        return self.repos.orders.create(order_key, **fields)

    def set_order_status(self, order_id: int, status: str) -> None:
        self.repos.orders.set_status(order_id, status)

    def list_orders(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        return self.repos.orders.list(chat_id)

    # -- outbox of side effects ----------------------------------------------------------------------------
    def claim_effect(self, effect_key: str, kind: str, chat_id: str,
                     payload: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Register a side effect once. Returns the row to perform, or None when it was already SENT/SKIPPED."""
        return self.repos.outbox.claim_effect(effect_key, kind, chat_id, payload)

    def finish_effect(self, effect_key: str, status: str, id_message: Optional[str] = None,
                      error: Optional[str] = None) -> None:
        self.repos.outbox.finish_effect(effect_key, status, id_message, error)

    # -- handoff -----------------------------------------------------------------------------------------------
    def pause_chat(self, chat_id: str, reason: str, by: str, now: float) -> bool:
        """Pause the bot in a chat. True when it was running before (a log row is written then)."""
        return self.repos.handoffs.pause(chat_id, reason, by, now)

    def resume_chat(self, chat_id: str, reason: str, by: str, now: float) -> bool:
        return self.repos.handoffs.resume(chat_id, reason, by, now)

    def handoff(self, chat_id: str) -> Optional[Dict[str, Any]]:
        return self.repos.handoffs.get(chat_id)

    def paused_chats(self) -> List[Dict[str, Any]]:
        return self.repos.handoffs.paused()

    def handoff_history(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        return self.repos.handoffs.history(chat_id)

    # -- LLM calls: what the fallback cost ------------------------------------------------------------------
    def record_llm_call(self, chat_id: str, id_message: Optional[str], model: str, outcome: str, latency_ms: int,
                        prompt_tokens: Optional[int], completion_tokens: Optional[int], now: float) -> None:
        self.repos.llm_calls.record(chat_id, id_message, model, outcome, latency_ms, prompt_tokens,
                                    completion_tokens, now)

    def llm_calls(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        return self.repos.llm_calls.list(chat_id)

    # -- the bot's own sends (GREEN-API may echo them as outgoingMessageReceived) ---------------------------
    def remember_sent(self, chat_id: str, ids: List[str], now: float, text: Optional[str] = None,
                      author: Optional[str] = None) -> None:
        self.repos.messages.remember_sent(chat_id, ids, now, text, author)

    def was_sent_by_bot(self, id_message: str) -> bool:
        return self.repos.messages.was_sent_by_bot(id_message)

    # -- nudges ---------------------------------------------------------------------------------------------
    def schedule_nudge(self, chat_id: str, stage: int, due_at: float, now: float) -> None:
        self.repos.nudges.schedule(chat_id, stage, due_at, now)

    def customer_wrote(self, chat_id: str, now: float) -> Optional[Dict[str, Any]]:
        """The customer wrote: cancel a pending nudge and return the chat's handoff row (a write only when needed)."""
        row = self.repos.handoffs.get(chat_id)
        self.repos.nudges.cancel_pending(chat_id, now)
        return row

    def nudge(self, chat_id: str) -> Optional[Dict[str, Any]]:
        return self.repos.nudges.get(chat_id)

    def claim_due_nudges(self, now: float) -> List[Dict[str, Any]]:
        """Atomically move due pending nudges to 'sending'; each is returned to exactly one caller."""
        return self.repos.nudges.claim_due(now)

    def finish_nudge(self, chat_id: str, stage: int, status: str, now: float,
                     next_due: Optional[float] = None) -> None:
        self.repos.nudges.finish(chat_id, stage, status, now, next_due)


_storages: Dict[str, Storage] = {}
_storages_lock = threading.Lock()


def get_storage(database_url: str) -> Storage:
    """One Storage (engine and pool) per URL per process, created (and the database migrated) on first use."""
    with _storages_lock:
        storage = _storages.get(database_url)
        if storage is None:
            storage = _storages[database_url] = Storage(database_url)
        return storage
