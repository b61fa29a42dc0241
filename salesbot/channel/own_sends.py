"""The ids of the bot's own sends: GREEN-API may report them as outgoingMessageReceived, which must never pause."""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Iterable, Optional, Set

from salesbot.clock import Clock

logger = logging.getLogger(__name__)


class RecentIds:
    """The last ids the bot sent, in memory (bounded)."""

    def __init__(self, limit: int = 20000):
        self._ids: "OrderedDict[str, None]" = OrderedDict()
        self.limit = limit

    def add_all(self, ids: Iterable[str]) -> None:
        for id_message in ids:
            self._ids[id_message] = None
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __contains__(self, id_message: object) -> bool:
        return id_message in self._ids


class OwnSends:
    """In memory at once (the echo may arrive before the database write) and in the database (after a restart, and
    for the other replicas: `remember_now` waits for that write)."""

    def __init__(self, storage, clock: Clock):
        self.storage = storage
        self.clock = clock
        self.recent = RecentIds()
        self._writes: Set[asyncio.Task] = set()

    def remember(self, chat_id: str, ids: Iterable[str], text: Optional[str] = None,
                 author: Optional[str] = None) -> None:
        """`text` and `author` (None = the bot) are kept for the managers' page transcript."""
        ids = [i for i in ids if i]
        if not ids:
            return
        self.recent.add_all(ids)
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self.storage.remember_sent, chat_id, ids, self.clock.now(), text, author))
        self._writes.add(task)  # kept referenced until done; the turn does not wait for it
        task.add_done_callback(self._written)

    async def remember_now(self, chat_id: str, ids: Iterable[str], text: Optional[str] = None,
                           author: Optional[str] = None) -> None:
        """Remember ids and wait for the database write: another replica may receive the echo, and it only sees
        the database. A failed write is logged, never raised (the message went out; the turn must not re-run).
        `text` and `author` (None = the bot) are kept for the managers' page transcript."""
        ids = [i for i in ids if i]
        if not ids:
            return
        self.recent.add_all(ids)
        try:
            await asyncio.to_thread(self.storage.remember_sent, chat_id, ids, self.clock.now(), text, author)
        except Exception as exc:
            logger.error("chat=%s remembering sent ids failed: %s", chat_id, exc)

    def _written(self, task: asyncio.Task) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception():
            logger.error("remembering sent ids failed: %s", task.exception())

    async def is_own(self, id_message: str) -> bool:
        return id_message in self.recent or await asyncio.to_thread(self.storage.was_sent_by_bot, id_message)
