"""The chat worker and the handoff service, without Rasa: real asyncio, real SQLite."""
import asyncio

import pytest

from salesbot.channel.handoff import HandoffService
from salesbot.channel.worker import ChatWorker
from tests.channel.helpers import FileClock, storage_in


def test_worker_keeps_each_chats_order_and_runs_chats_in_parallel():
    async def scenario():
        log = []

        async def handle(item):
            chat, n, hold = item
            log.append(("start", chat, n))
            await asyncio.sleep(hold)
            log.append(("end", chat, n))

        worker = ChatWorker(handle)
        done = [worker.submit("a", ("a", 1, 0.2)), worker.submit("a", ("a", 2, 0)), worker.submit("b", ("b", 1, 0))]
        await asyncio.gather(*done)
        a = [entry for entry in log if entry[1] == "a"]
        assert a == [("start", "a", 1), ("end", "a", 1), ("start", "a", 2), ("end", "a", 2)]
        assert log.index(("end", "b", 1)) < log.index(("end", "a", 1))  # b was not held up by a
        await worker.stop()

    asyncio.run(scenario())


def test_worker_survives_a_failing_item_and_reports_it_on_the_future():
    async def scenario():
        handled = []

        async def handle(item):
            if item == "bad":
                raise ValueError("broken message")
            handled.append(item)

        worker = ChatWorker(handle)
        bad = worker.submit("a", "bad")
        good = worker.submit("a", "good")
        with pytest.raises(ValueError):
            await bad
        await good
        assert handled == ["good"]
        await worker.stop()

    asyncio.run(scenario())


class RecordingMirror:
    def __init__(self):
        self.calls = []

    async def paused(self, chat_id):
        self.calls.append(("paused", chat_id))

    async def resumed(self, chat_id):
        self.calls.append(("resumed", chat_id))


def test_pause_and_resume_are_logged_and_mirrored_once(tmp_path):
    async def scenario():
        storage, clock, mirror = storage_in(tmp_path), FileClock(tmp_path), RecordingMirror()
        service = HandoffService(storage, clock, auto_resume_minutes=30, mirror=mirror)
        chat = "77011230001@c.us"
        assert await service.pause(chat, "command", "+77017770000") is True
        assert await service.pause(chat, "manager_typed", "shop phone") is False  # already paused
        assert await service.pause("77011230002@c.us", "manager_typed", "shop phone", mirror=False) is True
        assert await service.resume(chat, "command", "+77017770000") is True
        assert await service.resume(chat, "command", "+77017770000") is False
        assert mirror.calls == [("paused", chat), ("resumed", chat)]
        assert [(r["action"], r["reason"]) for r in storage.handoff_history(chat)] == [
            ("pause", "command"), ("resume", "command")]

    asyncio.run(scenario())


def test_auto_resume_counts_from_the_managers_last_message(tmp_path):
    async def scenario():
        storage, clock, mirror = storage_in(tmp_path), FileClock(tmp_path), RecordingMirror()
        service = HandoffService(storage, clock, auto_resume_minutes=30, mirror=mirror)
        chat = "77011230003@c.us"
        await service.pause(chat, "manager_typed", "shop phone")
        clock.advance(20 * 60)
        await service.pause(chat, "manager_typed", "shop phone")  # the manager wrote again
        clock.advance(20 * 60)
        await service.resume_overdue()
        assert await service.is_paused(chat) is True  # 20 minutes since the last manager message
        clock.advance(11 * 60)
        await service.resume_overdue()
        assert (await service.state(chat))["paused"] is False
        assert storage.handoff_history(chat)[-1]["reason"] == "auto_resume"
        assert mirror.calls[-1] == ("resumed", chat)

    asyncio.run(scenario())


def test_only_a_pause_by_people_stops_a_computed_reply(tmp_path):
    async def scenario():
        storage, clock = storage_in(tmp_path), FileClock(tmp_path)
        service = HandoffService(storage, clock, auto_resume_minutes=0)
        by_bot, by_manager, running = "77011230004@c.us", "77011230005@c.us", "77011230006@c.us"
        await service.pause(by_bot, "customer_request", "bot")
        await service.pause(by_manager, "manager_typed", "shop phone")
        assert await service.taken_by_people(by_bot) is False  # the escalation's own answer still goes out
        assert await service.taken_by_people(by_manager) is True
        assert await service.taken_by_people(running) is False

    asyncio.run(scenario())


def test_customer_writing_cancels_the_reminder_and_says_whether_paused(tmp_path):
    async def scenario():
        storage, clock = storage_in(tmp_path), FileClock(tmp_path)
        service = HandoffService(storage, clock, auto_resume_minutes=0)
        chat = "77011230007@c.us"
        storage.schedule_nudge(chat, 1, clock.now() + 3600, clock.now())
        assert await service.customer_wrote(chat) is False
        assert storage.nudge(chat)["status"] == "cancelled"
        await service.pause(chat, "command", "+77017770000")
        assert await service.customer_wrote(chat) is True

    asyncio.run(scenario())


def test_an_idle_chats_task_is_reaped_and_a_new_message_starts_it_again():
    async def scenario():
        handled = []

        async def handle(item):
            handled.append(item)

        worker = ChatWorker(handle, idle_seconds=0.05)
        await worker.submit("77011270001@c.us", "первое")
        await worker.submit("77011270002@c.us", "другой чат")
        assert worker.active_chats() == 2
        await asyncio.sleep(0.2)
        assert worker.active_chats() == 0          # nothing grows with every chat ever seen
        await worker.submit("77011270001@c.us", "второе")
        assert handled == ["первое", "другой чат", "второе"]
        await worker.stop()

    asyncio.run(scenario())
