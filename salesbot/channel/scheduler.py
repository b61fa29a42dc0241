"""The Rasa server's background round: auto-resume of quiet handoffs, then due reminders, and now and then the
pruning of finished rows. State is in the database, so a round after a restart picks up what fell due while the
server was down."""
from __future__ import annotations

import asyncio
import logging
from typing import Dict, Optional

from salesbot.channel.handoff import HandoffService
from salesbot.channel.nudges import NudgeScheduler
from salesbot.clock import Clock
from salesbot.storage import Storage

logger = logging.getLogger(__name__)

DAY_SECONDS = 86400.0


class Pruner:
    """Deletes finished rows older than `retention_days`, at most once per `every_seconds` (the first round
    prunes at once, so a server restarted daily still prunes)."""

    def __init__(self, storage: Storage, clock: Clock, retention_days: float, every_seconds: float = 3600.0):
        self.storage = storage
        self.clock = clock
        self.retention_days = retention_days
        self.every_seconds = every_seconds
        self.last_run: Optional[float] = None

    async def run_if_due(self) -> Optional[Dict[str, int]]:
        now = self.clock.now()
        if self.last_run is not None and now - self.last_run < self.every_seconds:
            return None
        self.last_run = now
        counts = await asyncio.to_thread(self.storage.repos.retention.prune, now - self.retention_days * DAY_SECONDS)
        if any(counts.values()):
            logger.info("pruned rows older than %g days: %s", self.retention_days,
                        ", ".join(f"{table}={count}" for table, count in counts.items() if count))
        return counts


async def run_scheduled_work(handoff: HandoffService, nudges: NudgeScheduler, pruner: Optional[Pruner] = None) -> None:
    await handoff.resume_overdue()
    await nudges.send_due()
    if pruner is not None:
        await pruner.run_if_due()


async def run_periodically(handoff: HandoffService, nudges: NudgeScheduler, interval_seconds: float,
                           pruner: Optional[Pruner] = None) -> None:
    while True:
        try:
            await run_scheduled_work(handoff, nudges, pruner)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("scheduler round failed")
        await asyncio.sleep(interval_seconds)
