"""Pruning: what is finished and older than the retention period goes, so no table grows forever. Only rows that
nothing will read again: DONE inbox rows (never RECEIVED or FAILED ones), dedupe keys and the bot's sent ids,
finished outbox rows (never PENDING/SENDING/RETRYING ones) with their attempts, and the handoff and LLM logs."""
from __future__ import annotations

from typing import Dict

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import OUTBOX_FINISHED, InboxStatus
from salesbot.db.schema import handoff_log, inbox, llm_calls, outbox, outbox_attempts, processed_messages, sent_messages


class RetentionRepository:
    def __init__(self, db: Database):
        self.db = db

    def prune(self, older_than: float) -> Dict[str, int]:
        """Delete the finished rows last touched before `older_than` (epoch seconds); the count per table."""
        finished_outbox = sa.select(outbox.c.id).where(
            outbox.c.status.in_([s.value for s in OUTBOX_FINISHED]) & (outbox.c.updated_at < older_than))
        statements = {
            "inbox": inbox.delete().where((inbox.c.status == InboxStatus.DONE.value)
                                          & (sa.func.coalesce(inbox.c.done_at, inbox.c.received_at) < older_than)),
            "processed_messages": processed_messages.delete().where(processed_messages.c.received_at < older_than),
            "sent_messages": sent_messages.delete().where(sent_messages.c.at < older_than),
            # attempts first: SQLite enforces no ON DELETE CASCADE unless its foreign keys are switched on
            "outbox_attempts": outbox_attempts.delete().where(outbox_attempts.c.outbox_id.in_(finished_outbox)),
            "outbox": outbox.delete().where(outbox.c.id.in_(finished_outbox)),
            "handoff_log": handoff_log.delete().where(handoff_log.c.at < older_than),
            "llm_calls": llm_calls.delete().where(llm_calls.c.at < older_than),
        }
        counts: Dict[str, int] = {}
        for table, statement in statements.items():   # one short transaction per table: writers are not held up
            with self.db.write() as connection:
                counts[table] = int(connection.execute(statement).rowcount or 0)
        return counts
