"""When to remind a customer who went silent after the bot asked something.

Nudge 1: three hours after the bot's question; if that moment falls outside working hours, at the next opening.
Nudge 2: the next day at 13:00 (shop time) after nudge 1. At most two; the schedule lives in the database.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Tuple
from zoneinfo import ZoneInfo

NUDGE_DELAY = timedelta(hours=3)
SECOND_NUDGE_AT = dtime(13, 0)

NUDGE_TEXTS = {
    1: "Вы ещё здесь? 🙂 Если остались вопросы или хотите оформить заказ, я на связи.",
    2: "Добрый день! Напоминаю о себе: могу помочь с выбором или оформить заказ 🙂",
}


def next_opening(moment: datetime, work_hours: Tuple[int, int]) -> datetime:
    """`moment` if the shop is open then, else the next opening time (same tz as `moment`)."""
    start, end = work_hours
    opening_today = moment.replace(hour=start, minute=0, second=0, microsecond=0)
    if moment < opening_today:
        return opening_today
    closing_today = opening_today + timedelta(hours=end - start)
    if moment < closing_today:
        return moment
    return opening_today + timedelta(days=1)


def next_opening_at(moment: float, tz_name: str, work_hours: Tuple[int, int]) -> float:
    """`moment` (epoch seconds) if the shop is open then, else its next opening."""
    return next_opening(datetime.fromtimestamp(moment, tz=ZoneInfo(tz_name)), work_hours).timestamp()


def first_nudge_at(asked_at: float, tz_name: str, work_hours: Tuple[int, int]) -> float:
    local = datetime.fromtimestamp(asked_at, tz=ZoneInfo(tz_name))
    return next_opening(local + NUDGE_DELAY, work_hours).timestamp()


def second_nudge_at(first_sent_at: float, tz_name: str, work_hours: Tuple[int, int]) -> float:
    local = datetime.fromtimestamp(first_sent_at, tz=ZoneInfo(tz_name))
    next_day = (local + timedelta(days=1)).replace(hour=SECOND_NUDGE_AT.hour, minute=SECOND_NUDGE_AT.minute,
                                                   second=0, microsecond=0)
    return next_opening(next_day, work_hours).timestamp()
