"""Manager commands and the nudge scheduler, without Rasa: real SQLite, real clock file."""
import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import HandoffService
from salesbot.channel.nudges import NudgeScheduler
from salesbot.nudges import NUDGE_TEXTS
from tests.channel.helpers import FileClock, storage_in

MANAGER = "77017770000"
ALMATY = ZoneInfo("Asia/Almaty")


def test_commands_pause_resume_and_report(tmp_path):
    async def scenario():
        storage, clock = storage_in(tmp_path), FileClock(tmp_path)
        handoff = HandoffService(storage, clock, auto_resume_minutes=0)
        known = {"77011240001@c.us"}

        async def chat_known(chat_id):
            return chat_id in known

        commands = ManagerCommands(handoff, [MANAGER], "Asia/Almaty", chat_known)
        me = f"{MANAGER}@c.us"
        assert commands.is_command(me, "/handoff list")
        assert not commands.is_command("77011240009@c.us", "/handoff off 77011240001")  # not a manager
        assert not commands.is_command(me, "привет")
        assert await commands.reply(me, "/handoff on 77011240001") == "Бот остановлен в чате +77011240001 ✋"
        assert await commands.reply(me, "/handoff on +7 701 124 00 01") == "Бот уже на паузе в чате +77011240001."
        assert "команда менеджера" in await commands.reply(me, "/handoff status 87011240001")
        assert "• +77011240001 — с " in await commands.reply(me, "/handoff list")
        assert (await commands.reply(me, "/handoff off 77000000001")).startswith("Чат +77000000001 мне неизвестен.")
        assert (await commands.reply(me, "/handoff pause")).startswith("Команды: /handoff on")
        assert await commands.reply(me, "/handoff off 77011240001") == "Бот снова отвечает в чате +77011240001 ✅"
        assert await commands.reply(me, "/handoff off 77011240001") == "Бот и так отвечает в чате +77011240001."
        assert [(r["action"], r["by"]) for r in storage.handoff_history("77011240001@c.us")] == [
            ("pause", f"+{MANAGER}"), ("resume", f"+{MANAGER}")]

    asyncio.run(scenario())


def nudge_scheduler(tmp_path, sent, recorded, enabled=True):
    storage, clock = storage_in(tmp_path), FileClock(tmp_path)
    handoff = HandoffService(storage, clock, auto_resume_minutes=0)

    async def send(chat_id, text):
        sent.append((chat_id, text))

    async def record(chat_id, text, stage):
        recorded.append((chat_id, stage))

    return storage, clock, handoff, NudgeScheduler(storage, clock, handoff, enabled, "Asia/Almaty", (9, 19),
                                                   send, record)


def test_a_question_schedules_a_reminder_unless_paused_declined_or_not_a_question(tmp_path):
    async def scenario():
        storage, clock, handoff, nudges = nudge_scheduler(tmp_path, [], [])
        clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=ALMATY).timestamp())
        asked, statement, declined, paused = (f"7701125000{n}@c.us" for n in range(1, 5))
        assert await nudges.after_turn(asked, ["Какой размер?"], "order") is True
        assert storage.nudge(asked)["due_at"] == datetime(2026, 11, 23, 13, 0, tzinfo=ALMATY).timestamp()
        assert await nudges.after_turn(statement, ["Заказ № 5 оформлен ✅"], "affirm") is False
        assert await nudges.after_turn(declined, ["Что-то ещё?"], "deny") is False
        await handoff.pause(paused, "manager_typed", "shop phone")
        assert await nudges.after_turn(paused, ["Какой размер?"], "order") is False
        assert [storage.nudge(c) for c in (statement, declined, paused)] == [None, None, None]

    asyncio.run(scenario())


def test_due_reminders_are_sent_once_then_stage_two_and_never_while_paused(tmp_path):
    async def scenario():
        sent, recorded = [], []
        storage, clock, handoff, nudges = nudge_scheduler(tmp_path, sent, recorded)
        clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=ALMATY).timestamp())
        quiet, taken = "77011250005@c.us", "77011250006@c.us"
        for chat in (quiet, taken):
            await nudges.after_turn(chat, ["Какой размер?"], "order")
        await handoff.pause(taken, "command", "+77017770000")
        storage.schedule_nudge(taken, 1, clock.now() + 3 * 3600, clock.now())  # scheduled before the pause
        clock.set(datetime(2026, 11, 23, 13, 5, tzinfo=ALMATY).timestamp())
        assert await nudges.send_due() == [quiet]
        assert await nudges.send_due() == []  # claimed once
        assert sent == [(quiet, NUDGE_TEXTS[1])] and recorded == [(quiet, 1)]
        assert storage.nudge(taken)["status"] == "cancelled"
        second = storage.nudge(quiet)
        assert (second["stage"], second["status"]) == (2, "pending")
        assert second["due_at"] == datetime(2026, 11, 24, 13, 0, tzinfo=ALMATY).timestamp()

    asyncio.run(scenario())


def test_a_late_reminder_waits_for_the_next_opening_or_is_dropped_after_a_day_and_a_stuck_claim_is_reaped(tmp_path):
    async def scenario():
        sent, recorded = [], []
        storage, clock, handoff, nudges = nudge_scheduler(tmp_path, sent, recorded)
        monday_13 = datetime(2026, 11, 23, 13, 0, tzinfo=ALMATY).timestamp()
        tonight, stale, stuck = "77011250011@c.us", "77011250012@c.us", "77011250013@c.us"
        storage.schedule_nudge(tonight, 1, monday_13, monday_13 - 3 * 3600)
        storage.schedule_nudge(stale, 1, monday_13 - 2 * 86400, monday_13 - 2 * 86400)
        # the server comes back at 23:00, after closing (9-19): nothing is sent at night
        clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=ALMATY).timestamp())
        assert await nudges.send_due() == [] and sent == []
        assert storage.nudge(stale)["status"] == "cancelled"   # two days late: dropped
        moved = storage.nudge(tonight)
        tuesday_9 = datetime(2026, 11, 24, 9, 0, tzinfo=ALMATY).timestamp()
        assert (moved["status"], moved["due_at"]) == ("pending", tuesday_9)
        clock.set(datetime(2026, 11, 24, 9, 1, tzinfo=ALMATY).timestamp())
        assert await nudges.send_due() == [tonight] and sent == [(tonight, NUDGE_TEXTS[1])]

        # a claim whose sender died (status 'sending' for good) is due again after a while
        storage.schedule_nudge(stuck, 1, clock.now(), clock.now())
        assert [n["chat_id"] for n in storage.repos.nudges.claim_due(clock.now())] == [stuck]   # then the crash
        clock.advance(60)
        assert await nudges.send_due() == []
        clock.advance(15 * 60)
        assert await nudges.send_due() == [stuck]

    asyncio.run(scenario())
