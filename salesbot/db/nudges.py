"""Reminders to silent customers: one row per chat, claimed atomically before it is sent."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import NudgeStatus, OptOutState, as_text
from salesbot.db.schema import nudges, opt_outs

STUCK_CLAIM_SECONDS = 600.0


class NudgeRepository:
    def __init__(self, db: Database):
        self.db = db

    def schedule(self, chat_id: str, stage: int, due_at: float, now: Optional[float] = None) -> None:
        now = self.db.now() if now is None else now
        values = dict(stage=stage, due_at=due_at, status=NudgeStatus.PENDING.value, updated_at=now)
        # one row per chat: a new reminder replaces the chat's last one (one upsert, after most turns)
        statement = self.db.insert(nudges).values(chat_id=chat_id, **values)
        with self.db.write() as connection:
            connection.execute(statement.on_conflict_do_update(index_elements=[nudges.c.chat_id], set_=values))

    def cancel_pending(self, chat_id: str, now: Optional[float] = None) -> bool:
        """Cancel the chat's pending nudge (a write only when there is one). True when one was cancelled."""
        now = self.db.now() if now is None else now
        pending = (nudges.c.chat_id == chat_id) & (nudges.c.status == NudgeStatus.PENDING.value)
        with self.db.read() as connection:
            if connection.execute(sa.select(nudges.c.chat_id).where(pending)).first() is None:
                return False
        with self.db.write() as connection:
            return bool(connection.execute(nudges.update().where(pending).values(
                status=NudgeStatus.CANCELLED.value, updated_at=now)).rowcount == 1)

    def get(self, chat_id: str) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(nudges).where(nudges.c.chat_id == chat_id)).mappings().first()
            return dict(row) if row else None

    def claim_due(self, now: float) -> List[Dict[str, Any]]:
        """Atomically move due pending nudges to 'sending'; each is returned to exactly one caller. The nudges of
        customers who opted out («стоп») are cancelled instead."""
        pending_due = (nudges.c.status == NudgeStatus.PENDING.value) & (nudges.c.due_at <= now)
        stuck = (nudges.c.status == NudgeStatus.SENDING.value) & (nudges.c.updated_at < now - STUCK_CLAIM_SECONDS)
        with self.db.read() as connection:   # most rounds find nothing: no write transaction for them
            if connection.execute(sa.select(nudges.c.chat_id).where(pending_due | stuck).limit(1)).first() is None:
                return []
        opted_out = sa.select(opt_outs.c.chat_id).where(opt_outs.c.state == OptOutState.OUT.value)
        with self.db.write() as connection:
            # a claim whose sender died before finishing it is due again (sending takes seconds, not minutes)
            connection.execute(nudges.update().where(stuck).values(status=NudgeStatus.PENDING.value, updated_at=now))
            connection.execute(nudges.update().where(pending_due & nudges.c.chat_id.in_(opted_out)).values(
                status=NudgeStatus.CANCELLED.value, updated_at=now))
        with self.db.read() as connection:
            due = [dict(r) for r in connection.execute(sa.select(nudges).where(pending_due)).mappings()]
        claimed = []
        for row in due:
            with self.db.write() as connection:
                result = connection.execute(nudges.update().where(
                    (nudges.c.chat_id == row["chat_id"]) & (nudges.c.status == NudgeStatus.PENDING.value)
                    & (nudges.c.stage == row["stage"])).values(status=NudgeStatus.SENDING.value, updated_at=now))
                if result.rowcount == 1:
                    claimed.append(row)
        return claimed

    def postpone(self, chat_id: str, stage: int, due_at: float, now: Optional[float] = None) -> bool:
        """A claimed nudge goes back to pending, due at `due_at` (e.g. the shop is closed at the moment)."""
        now = self.db.now() if now is None else now
        with self.db.write() as connection:
            return bool(connection.execute(nudges.update().where(
                (nudges.c.chat_id == chat_id) & (nudges.c.stage == stage)
                & (nudges.c.status == NudgeStatus.SENDING.value)).values(
                status=NudgeStatus.PENDING.value, due_at=due_at, updated_at=now)).rowcount == 1)

    def finish(self, chat_id: str, stage: int, status: str, now: Optional[float] = None,
               next_due: Optional[float] = None) -> None:
        """Mark a claimed nudge done; with `next_due`, the next stage is scheduled in the same transaction,
        so a crash right after a send can never lose the follow-up."""
        now = self.db.now() if now is None else now
        values: Dict[str, Any] = dict(status=NudgeStatus(as_text(status)).value, updated_at=now)
        if next_due is not None:
            values.update(stage=stage + 1, due_at=next_due, status=NudgeStatus.PENDING.value)
        with self.db.write() as connection:
            connection.execute(nudges.update().where(
                (nudges.c.chat_id == chat_id) & (nudges.c.stage == stage)
                & (nudges.c.status == NudgeStatus.SENDING.value)).values(**values))
