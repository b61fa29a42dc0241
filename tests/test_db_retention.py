"""Pruning on real SQLite and PostgreSQL: old finished rows go, unfinished and recent ones stay."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from salesbot.db import Repositories, open_database
from salesbot.db.enums import InboxStatus, OutboxStatus
from salesbot.db.outbox import INLINE_SENDER
from salesbot.db.schema import outbox_attempts
from tests.db_helpers import scratch_database
from tests.test_db_repositories import FixedClock

DAY = 86400.0
CHAT = "77011234567@c.us"


@pytest.fixture(params=["sqlite", "postgresql"])
def repos(request, tmp_path):
    with scratch_database(request.param, tmp_path) as url:
        clock = FixedClock(1_000_000.0)
        db = open_database(url, clock)
        result = Repositories(db)
        result.clock = clock  # type: ignore[attr-defined]
        yield result
        db.dispose()


def fill(repos, tag: str) -> None:
    """One of each kind of row, at the clock's time: finished and unfinished."""
    done = repos.inbox.accept(CHAT, f"{tag}-done", "incomingMessageReceived", {"text": "привет"})
    repos.inbox.done(done)
    repos.inbox.accept(CHAT, f"{tag}-received", "incomingMessageReceived", {"text": "ждёт"})
    repos.messages.claim(CHAT, f"{tag}-dedupe")
    repos.messages.remember_sent(CHAT, [f"{tag}-sent"])
    repos.outbox.enqueue(f"{tag}-pending", "greenapi_message", CHAT, {"message": "ждёт"})
    for status in ("sent", "dropped", "failed", "sending"):   # claimed by key, each with one attempt
        row = repos.outbox.claim_effect(f"{tag}-{status}", "greenapi_message", CHAT, {"message": status})
        if status == "sent":
            repos.outbox.finish_effect(row["effect_key"], OutboxStatus.SENT, "ID")
        elif status == "failed":
            repos.outbox.finish_effect(row["effect_key"], OutboxStatus.FAILED, error="400")
        elif status == "dropped":
            repos.outbox.mark_dropped(row["id"], INLINE_SENDER, "manager")
    repos.handoffs.pause(CHAT, "command", "manager")
    repos.handoffs.resume(CHAT, "command", "manager")
    repos.llm_calls.record(CHAT, f"{tag}-done", "stub", "answered", 10, 1, 1)


def test_prune_deletes_old_finished_rows_and_keeps_unfinished_and_recent_ones(repos):
    fill(repos, "old")
    repos.clock.value += 40 * DAY
    fill(repos, "new")
    repos.clock.value += 1 * DAY

    counts = repos.retention.prune(older_than=repos.clock.value - 30 * DAY)

    assert counts == {"inbox": 1, "processed_messages": 1, "sent_messages": 1, "outbox_attempts": 3, "outbox": 3,
                      "handoff_log": 2, "llm_calls": 1}
    assert repos.inbox.get(CHAT, "old-done") is None
    assert repos.inbox.get(CHAT, "old-received")["status"] == InboxStatus.RECEIVED   # never pruned, however old
    assert repos.inbox.get(CHAT, "new-done")["status"] == InboxStatus.DONE
    assert repos.messages.claim(CHAT, "old-dedupe") and not repos.messages.claim(CHAT, "new-dedupe")
    assert not repos.messages.was_sent_by_bot("old-sent") and repos.messages.was_sent_by_bot("new-sent")
    left = {row["effect_key"]: row["status"] for row in repos.outbox.list()}
    assert left["old-pending"] == OutboxStatus.PENDING and left["old-sending"] == OutboxStatus.SENDING
    assert not {"old-sent", "old-dropped", "old-failed"} & set(left)
    assert {"new-sent", "new-dropped", "new-failed"} <= set(left)
    with repos.db.read() as connection:   # no attempt is left without its row
        orphans = connection.execute(sa.select(sa.func.count()).select_from(outbox_attempts).where(
            outbox_attempts.c.outbox_id.not_in(sa.select(sa.text("id")).select_from(sa.table("outbox"))))).scalar()
    assert orphans == 0
    assert len(repos.handoffs.history(CHAT)) == 2 and len(repos.llm_calls.list(CHAT)) == 1
    assert repos.retention.prune(older_than=repos.clock.value - 30 * DAY) == dict.fromkeys(counts, 0)
