"""Reminders to a customer who went silent after the bot's question (the schedule is the `nudges` table)."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, List, Optional, Sequence, Tuple

from salesbot.channel.handoff import HandoffService
from salesbot.clock import Clock
from salesbot.nudges import NUDGE_TEXTS, first_nudge_at, next_opening_at, second_nudge_at

logger = logging.getLogger(__name__)

MAX_LATENESS_SECONDS = 86400.0   # a reminder this late (e.g. the server was down) would only confuse: dropped

Send = Callable[[str, str], Awaitable[None]]            # (chat_id, text): send to WhatsApp
Record = Callable[[str, str, int], Awaitable[None]]     # (chat_id, text, stage): record in the conversation


class NudgeScheduler:
    def __init__(self, storage, clock: Clock, handoff: HandoffService, enabled: bool, tz_name: str,
                 work_hours: Tuple[int, int], send: Send, record: Optional[Record] = None):
        self.storage = storage
        self.clock = clock
        self.handoff = handoff
        self.enabled = enabled
        self.tz_name = tz_name
        self.work_hours = work_hours
        self.send = send
        self.record = record

    async def after_turn(self, chat_id: str, sent_texts: Sequence[str], last_intent: Optional[str]) -> bool:
        """A turn ended: when its last message was a question, remind the customer later. Never while paused
        (the pause's authority is the database) or after the customer said no. True when one was scheduled."""
        if not self.enabled or not sent_texts or "?" not in sent_texts[-1]:
            return False
        if last_intent == "deny" or await self.handoff.is_paused(chat_id):
            return False
        now = self.clock.now()
        due = first_nudge_at(now, self.tz_name, self.work_hours)
        await asyncio.to_thread(self.storage.schedule_nudge, chat_id, 1, due, now)
        return True

    async def send_due(self) -> List[str]:
        """Send every due reminder once (claimed atomically first); the chats it went to."""
        now = self.clock.now()
        sent: List[str] = []
        for nudge in await asyncio.to_thread(self.storage.claim_due_nudges, now):
            chat_id, stage = nudge["chat_id"], nudge["stage"]
            if await self.handoff.is_paused(chat_id):
                await asyncio.to_thread(self.storage.finish_nudge, chat_id, stage, "cancelled", now)
                continue
            late = now - float(nudge["due_at"])
            if late > MAX_LATENESS_SECONDS:
                await asyncio.to_thread(self.storage.finish_nudge, chat_id, stage, "cancelled", now)
                logger.info("chat=%s nudge %d dropped: %.1f h late", chat_id, stage, late / 3600)
                continue
            opening = next_opening_at(now, self.tz_name, self.work_hours)
            if opening > now:   # fell due while the server was down, and the shop is closed now
                await asyncio.to_thread(self.storage.repos.nudges.postpone, chat_id, stage, opening, now)
                logger.info("chat=%s nudge %d moved to the next opening", chat_id, stage)
                continue
            text = NUDGE_TEXTS[stage]
            await self.send(chat_id, text)
            next_due = second_nudge_at(now, self.tz_name, self.work_hours) if stage == 1 else None
            await asyncio.to_thread(self.storage.finish_nudge, chat_id, stage, "sent", now, next_due)
            logger.info("chat=%s nudge %d sent", chat_id, stage)
            sent.append(chat_id)
            if self.record is not None:
                await self.record(chat_id, text, stage)
        return sent
