from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from salesbot.handoff import USAGE, HandoffCommand, list_text, parse_command, status_text
from salesbot.nudges import first_nudge_at, second_nudge_at
from salesbot.storage import Storage

ALMATY = ZoneInfo("Asia/Almaty")
HOURS = (9, 19)


def at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ALMATY).timestamp()


def show(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=ALMATY).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("asked, first", [
    ("2026-11-23 10:00", "2026-11-23 13:00"),   # well inside the day
    ("2026-11-23 15:59", "2026-11-23 18:59"),   # last minute that still fits
    ("2026-11-23 16:00", "2026-11-24 09:00"),   # would be 19:00, the closing time: next opening
    ("2026-11-23 18:30", "2026-11-24 09:00"),
    ("2026-11-23 23:30", "2026-11-24 09:00"),   # night: 02:30 -> opening
    ("2026-11-23 05:00", "2026-11-23 09:00"),   # 08:00 is before opening
    ("2026-11-23 06:00", "2026-11-23 09:00"),   # exactly the opening
    ("2026-11-23 06:01", "2026-11-23 09:01"),
    ("2026-12-31 17:00", "2027-01-01 09:00"),   # across the year
])
def test_first_nudge_three_hours_later_within_working_hours(asked, first):
    assert show(first_nudge_at(at(asked), "Asia/Almaty", HOURS)) == first


@pytest.mark.parametrize("sent, second", [
    ("2026-11-23 13:00", "2026-11-24 13:00"),
    ("2026-11-23 09:00", "2026-11-24 13:00"),
    ("2026-11-23 18:59", "2026-11-24 13:00"),
    ("2026-11-30 10:00", "2026-12-01 13:00"),
])
def test_second_nudge_next_day_at_13(sent, second):
    assert show(second_nudge_at(at(sent), "Asia/Almaty", HOURS)) == second


def test_second_nudge_respects_short_working_hours():
    assert show(second_nudge_at(at("2026-11-23 10:00"), "Asia/Almaty", (14, 18))) == "2026-11-24 14:00"


def test_other_time_zone():
    ts = datetime(2026, 11, 23, 17, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
    assert datetime.fromtimestamp(first_nudge_at(ts, "Europe/Moscow", HOURS), ZoneInfo("Europe/Moscow")).hour == 9


@pytest.mark.parametrize("text, command", [
    ("/handoff on 77011234567", HandoffCommand("on", "77011234567@c.us", "77011234567")),
    ("/handoff off +7 701 123 45 67", HandoffCommand("off", "77011234567@c.us", "77011234567")),
    ("/HANDOFF status 87011234567", HandoffCommand("status", "77011234567@c.us", "77011234567")),
    ("/handoff list", HandoffCommand("list", None, None)),
])
def test_commands(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["/handoff", "/handoff on", "/handoff pause 77011234567", "/handoff on abc",
                                  "/handoff list 123", "/handoff off 12345"])
def test_bad_syntax_gives_none(text):
    assert parse_command(text) is None
    assert "/handoff on <телефон>" in USAGE


def test_status_and_list_texts():
    row = {"chat_id": "77011234567@c.us", "paused": True, "since": at("2026-11-23 14:05"),
           "reason": "manager_typed", "by": "77010000000@c.us"}
    assert status_text(row["chat_id"], row, "Asia/Almaty") == (
        "Чат +77011234567: бот на паузе с 23.11 14:05 (менеджер написал с телефона магазина, 77010000000@c.us) ✋")
    assert status_text(row["chat_id"], None, "Asia/Almaty") == "Чат +77011234567: бот отвечает ✅"
    assert list_text([row], "Asia/Almaty") == (
        "Чаты на паузе (1):\n• +77011234567 — с 23.11 14:05, менеджер написал с телефона магазина")


def test_pause_log_and_nudge_schedule_in_the_database(tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage.schedule_nudge("c@c.us", 1, 100.0, 1.0)
    assert storage.pause_chat("c@c.us", "manager_typed", "shop", 10.0) is True
    assert storage.nudge("c@c.us")["status"] == "cancelled"  # never a nudge while paused
    assert storage.pause_chat("c@c.us", "manager_typed", "shop", 20.0) is False
    assert storage.handoff("c@c.us")["last_manager_at"] == 20.0
    assert storage.resume_chat("c@c.us", "command", "+7701", 30.0) is True
    assert storage.resume_chat("c@c.us", "command", "+7701", 31.0) is False
    assert [(r["action"], r["reason"], r["by"], r["at"]) for r in storage.handoff_history("c@c.us")] == [
        ("pause", "manager_typed", "shop", 10.0), ("resume", "command", "+7701", 30.0)]
    storage.schedule_nudge("c@c.us", 1, 100.0, 40.0)
    assert storage.claim_due_nudges(99.0) == []
    claimed = storage.claim_due_nudges(100.0)
    assert [(n["chat_id"], n["stage"]) for n in claimed] == [("c@c.us", 1)]
    assert storage.claim_due_nudges(100.0) == []  # claimed once only
    storage.schedule_nudge("d@c.us", 1, 100.0, 40.0)
    assert storage.customer_wrote("d@c.us", 50.0) is None  # not paused, and the reminder is cancelled
    assert storage.nudge("d@c.us")["status"] == "cancelled"
    storage.finish_nudge("c@c.us", 1, "sent", 101.0, next_due=500.0)  # the follow-up in the same transaction
    assert (lambda n: (n["stage"], n["status"], n["due_at"]))(storage.nudge("c@c.us")) == (2, "pending", 500.0)
    assert [n["stage"] for n in storage.claim_due_nudges(500.0)] == [2]
    storage.finish_nudge("c@c.us", 2, "sent", 501.0)
    assert storage.nudge("c@c.us")["status"] == "sent" and storage.claim_due_nudges(10_000.0) == []
