"""The Rasa server's background round: auto-resume of quiet handoffs, then due reminders. State is in the database,
so a round after a restart picks up what fell due while the server was down."""
from __future__ import annotations

import asyncio
import logging

from salesbot.channel.handoff import HandoffService
from salesbot.channel.nudges import NudgeScheduler

logger = logging.getLogger(__name__)


async def run_scheduled_work(handoff: HandoffService, nudges: NudgeScheduler) -> None:
    await handoff.resume_overdue()
    await nudges.send_due()


async def run_periodically(handoff: HandoffService, nudges: NudgeScheduler, interval_seconds: float) -> None:
    while True:
        try:
            await run_scheduled_work(handoff, nudges)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("scheduler round failed")
        await asyncio.sleep(interval_seconds)
