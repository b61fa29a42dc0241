"""Leases: exclusive, expiring claims shared by every replica over the app's database.

`chat:<chatId>` says which replica processes the chat's inbox now (its messages in order, once); `poller` which
one polls GREEN-API. A lease is taken with one atomic upsert that succeeds only when the row is free, expired or
already ours, so two replicas never both hold it; a replica killed with -9 loses its leases when they run out.
Times are wall-clock epochs (`time.time()`), never the app's settable clock: a lease is about processes being
alive, and a test that moves the business clock must not expire or freeze them.
"""
from __future__ import annotations

import time
from typing import Callable, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import InboxStatus
from salesbot.db.schema import inbox, leases

CHAT_PREFIX = "chat:"
POLLER = "poller"


def chat_lease(chat_id: str) -> str:
    return CHAT_PREFIX + chat_id


class LeaseRepository:
    def __init__(self, db: Database, wall_clock: Callable[[], float] = time.time):
        self.db = db
        self.wall_clock = wall_clock

    def acquire(self, name: str, holder: str, seconds: float) -> bool:
        """Take (or renew) the lease for `seconds`. True when `holder` has it now."""
        now = self.wall_clock()
        statement = self.db.insert(leases).values(name=name, holder=holder, expires_at=now + seconds)
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
            where=(leases.c.expires_at <= now) | (leases.c.holder == holder),
        )
        with self.db.write() as connection:
            return bool(connection.execute(statement).rowcount == 1)

    def release(self, name: str, holder: str) -> None:
        with self.db.write() as connection:
            connection.execute(leases.delete().where((leases.c.name == name) & (leases.c.holder == holder)))

    def renew_all(self, holder: str, seconds: float) -> int:
        """Extend every live lease of `holder` (its heartbeat); returns how many."""
        now = self.wall_clock()
        with self.db.write() as connection:
            return int(connection.execute(leases.update().where(
                (leases.c.holder == holder) & (leases.c.expires_at > now)).values(expires_at=now + seconds)).rowcount)

    def holder(self, name: str) -> str:
        """Who holds the lease now ('' when nobody does)."""
        query = sa.select(leases.c.holder).where((leases.c.name == name) & (leases.c.expires_at > self.wall_clock()))
        with self.db.read() as connection:
            return str(connection.execute(query).scalar() or "")

    def orphaned_chats(self, received_before: float, limit: int = 500,
                       exclude_kind: Optional[str] = None) -> List[str]:
        """Chats with RECEIVED inbox rows (stored before `received_before`, app clock) that no replica holds:
        their processor died, or released the chat just before a row came. Oldest first."""
        live = sa.and_(leases.c.name == sa.literal(CHAT_PREFIX) + inbox.c.chat_id,
                       leases.c.expires_at > self.wall_clock())
        first_id = sa.func.min(inbox.c.id)
        query = (sa.select(inbox.c.chat_id).select_from(inbox.outerjoin(leases, live))
                 .where((inbox.c.status == InboxStatus.RECEIVED.value) & (inbox.c.received_at < received_before)
                        & leases.c.name.is_(None)
                        & (inbox.c.kind != exclude_kind if exclude_kind is not None else sa.true()))
                 .group_by(inbox.c.chat_id).order_by(first_id).limit(limit))
        with self.db.read() as connection:
            return [row[0] for row in connection.execute(query)]
