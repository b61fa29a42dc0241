"""Who has the chat: the bot, or a manager (paused). A pause cancels the chat's pending nudge in the same step."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import HandoffAction, HandoffReason, NudgeStatus, as_text
from salesbot.db.schema import handoff_log, handoffs, nudges


class HandoffRepository:
    def __init__(self, db: Database):
        self.db = db

    def pause(self, chat_id: str, reason: str, by: str, now: Optional[float] = None) -> bool:
        """Pause the bot in a chat. True when it was running before (a log row is written then)."""
        now = self.db.now() if now is None else now
        reason = as_text(reason)
        # a person wrote (on the shop's phone, the managers' page or from amoCRM): auto-resume counts from now
        manager_typed = reason in (HandoffReason.MANAGER_TYPED.value, HandoffReason.OPERATOR_CRM.value,
                                   HandoffReason.DESK.value)
        with self.db.write() as connection:
            row = connection.execute(sa.select(handoffs).where(handoffs.c.chat_id == chat_id)).mappings().first()
            manager_at = now if manager_typed else (row["last_manager_at"] if row else None)
            if row and row["paused"]:
                if manager_typed:
                    connection.execute(handoffs.update().where(handoffs.c.chat_id == chat_id)
                                       .values(last_manager_at=now))
                return False
            values = dict(paused=True, since=now, reason=reason, by=by, last_manager_at=manager_at)
            if row:
                connection.execute(handoffs.update().where(handoffs.c.chat_id == chat_id).values(**values))
            else:
                connection.execute(handoffs.insert().values(chat_id=chat_id, **values))
            connection.execute(handoff_log.insert().values(
                chat_id=chat_id, action=HandoffAction.PAUSE.value, reason=reason, by=by, at=now))
            connection.execute(nudges.update().where(
                (nudges.c.chat_id == chat_id) & (nudges.c.status == NudgeStatus.PENDING.value)
            ).values(status=NudgeStatus.CANCELLED.value, updated_at=now))
            return True

    def resume(self, chat_id: str, reason: str, by: str, now: Optional[float] = None) -> bool:
        """Hand the chat back to the bot. True when it was paused (a log row is written then)."""
        now = self.db.now() if now is None else now
        reason = as_text(reason)
        with self.db.write() as connection:
            result = connection.execute(
                handoffs.update().where((handoffs.c.chat_id == chat_id) & (handoffs.c.paused == sa.true()))
                .values(paused=False, since=now, reason=reason, by=by))
            if result.rowcount != 1:
                return False
            connection.execute(handoff_log.insert().values(
                chat_id=chat_id, action=HandoffAction.RESUME.value, reason=reason, by=by, at=now))
            return True

    def get(self, chat_id: str) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(handoffs).where(handoffs.c.chat_id == chat_id)).mappings().first()
            return dict(row) if row else None

    def is_paused(self, chat_id: str) -> bool:
        row = self.get(chat_id)
        return bool(row and row["paused"])

    def paused(self) -> List[Dict[str, Any]]:
        query = sa.select(handoffs).where(handoffs.c.paused == sa.true()).order_by(handoffs.c.since)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def history(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(handoff_log).order_by(handoff_log.c.id)
        if chat_id:
            query = query.where(handoff_log.c.chat_id == chat_id)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]
