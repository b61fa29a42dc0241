"""The app's own tables (not Rasa's tracker store): SQLAlchemy Core schema, status enums, Alembic migrations and
one small repository per aggregate. `open_database(url)` gives a migrated `Database`; `Repositories(db)` the lot.
"""
from __future__ import annotations

from salesbot.db.dead_letters import DeadLetterRepository
from salesbot.db.engine import DEFAULT_DATABASE_URL, ClockLike, Database, create_engine
from salesbot.db.enums import (
    AttemptOutcome,
    HandoffAction,
    HandoffReason,
    InboxStatus,
    LlmOutcome,
    NotificationStatus,
    NudgeStatus,
    OptOutState,
    OrderStatus,
    OutboxStatus,
)
from salesbot.db.handoffs import HandoffRepository
from salesbot.db.handovers import HandoverRepository
from salesbot.db.leases import LeaseRepository
from salesbot.db.llm_calls import LlmCallRepository
from salesbot.db.messages import InboxRepository, MessageRepository
from salesbot.db.migrate import upgrade_to_head
from salesbot.db.notifications import NotificationRepository, OptOutRepository
from salesbot.db.nudges import NudgeRepository
from salesbot.db.orders import OrderRepository
from salesbot.db.outbox import OutboxRepository
from salesbot.db.retention import RetentionRepository


def open_database(database_url: str, clock: ClockLike = None, migrate: bool = True) -> Database:
    """An engine over `database_url`, migrated to the newest revision (Alembic `upgrade head`)."""
    db = Database(database_url, clock)
    if migrate:
        upgrade_to_head(db.engine)
    return db


class Repositories:
    """Every repository over one Database."""

    def __init__(self, db: Database):
        self.db = db
        self.messages = MessageRepository(db)
        self.inbox = InboxRepository(db)
        self.orders = OrderRepository(db)
        self.outbox = OutboxRepository(db)
        self.handoffs = HandoffRepository(db)
        self.nudges = NudgeRepository(db)
        self.llm_calls = LlmCallRepository(db)
        self.notifications = NotificationRepository(db)
        self.opt_outs = OptOutRepository(db)
        self.handovers = HandoverRepository(db)
        self.retention = RetentionRepository(db)
        self.dead_letters = DeadLetterRepository(db)
        self.leases = LeaseRepository(db)


__all__ = [
    "DEFAULT_DATABASE_URL", "AttemptOutcome", "Database", "DeadLetterRepository",
    "HandoffAction", "HandoffReason", "HandoffRepository",
    "HandoverRepository",
    "InboxRepository", "InboxStatus",
    "LeaseRepository", "LlmCallRepository", "LlmOutcome", "MessageRepository", "NotificationRepository",
    "NotificationStatus", "NudgeRepository", "OptOutRepository", "OptOutState",
    "NudgeStatus", "OrderRepository", "OrderStatus", "OutboxRepository", "OutboxStatus", "Repositories",
    "RetentionRepository",
    "create_engine", "open_database", "upgrade_to_head",
]
