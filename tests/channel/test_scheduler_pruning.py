"""The scheduler's pruning: a real SQLite database and the file clock, through the scheduler's round."""
from __future__ import annotations

import asyncio

from salesbot.channel.handoff import HandoffService
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.scheduler import DAY_SECONDS, Pruner, run_scheduled_work
from salesbot.db.enums import InboxStatus
from salesbot.storage import Storage
from tests.channel.helpers import FileClock

CHAT = "77011260001@c.us"


def test_the_scheduler_round_prunes_old_finished_rows_at_most_once_an_hour(tmp_path):
    async def scenario():
        clock = FileClock(tmp_path)
        storage = Storage(f"sqlite:///{tmp_path / 'app.db'}", clock.now)
        handoff = HandoffService(storage, clock, auto_resume_minutes=0)

        async def never(*_):
            raise AssertionError("no nudge is due")

        nudges = NudgeScheduler(storage, clock, handoff, True, "Asia/Almaty", (9, 19), never, never)
        pruner = Pruner(storage, clock, retention_days=30)
        old = storage.repos.inbox.accept(CHAT, "OLD", "incomingMessageReceived", {"text": "привет"})
        storage.repos.inbox.done(old)
        storage.repos.inbox.accept(CHAT, "WAITING", "incomingMessageReceived", {"text": "ещё не обработано"})
        clock.advance(31 * DAY_SECONDS)
        young = storage.repos.inbox.accept(CHAT, "YOUNG", "incomingMessageReceived", {"text": "вчера"})
        storage.repos.inbox.done(young)

        await run_scheduled_work(handoff, nudges, pruner)
        assert storage.repos.inbox.get(CHAT, "OLD") is None
        assert storage.repos.inbox.get(CHAT, "WAITING")["status"] == InboxStatus.RECEIVED
        assert storage.repos.inbox.get(CHAT, "YOUNG")["status"] == InboxStatus.DONE

        clock.advance(30 * DAY_SECONDS)     # YOUNG is now old, but the last pruning was under an hour ago...
        pruner.last_run = clock.now() - 60
        assert await pruner.run_if_due() is None
        assert storage.repos.inbox.get(CHAT, "YOUNG") is not None
        clock.advance(3600)                 # ...and an hour later it goes
        assert (await pruner.run_if_due())["inbox"] == 1
        assert storage.repos.inbox.get(CHAT, "YOUNG") is None
        assert storage.repos.inbox.get(CHAT, "WAITING")["status"] == InboxStatus.RECEIVED

    asyncio.run(scenario())
