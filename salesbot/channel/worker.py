"""Per-chat ordered processing: one queue and one task per chat, chats in parallel.

Where the durable inbox slots in: the channel stores a message (RECEIVED) before it answers 200 and then calls
`submit`; the handler marks it DONE in the step that records the turn's result; at start-up the RECEIVED rows
are `submit`ted again in their order per chat, before new webhooks are accepted.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Tuple

logger = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]


IDLE_SECONDS = 300.0   # a chat's task ends after this long without a message (a new one starts on the next)


class ChatWorker:
    def __init__(self, handle: Handler, idle_seconds: float = IDLE_SECONDS):
        self._handle = handle
        self.idle_seconds = idle_seconds
        self._queues: Dict[str, "asyncio.Queue[Tuple[Any, asyncio.Future]]"] = {}
        self._tasks: Dict[str, asyncio.Task] = {}
        self._unfinished: Dict[str, int] = {}   # items queued or being handled, per chat

    def active_chats(self) -> int:
        return len(self._tasks)

    def has_work(self, chat_id: str) -> bool:
        """Something of the chat is queued or being handled here."""
        return self._unfinished.get(chat_id, 0) > 0

    def queued_behind(self, chat_id: str) -> bool:
        """Something of the chat waits behind the item being handled now."""
        return self._unfinished.get(chat_id, 0) > 1

    def submit(self, chat_id: str, item: Any) -> "asyncio.Future[None]":
        """Queue `item` behind the chat's earlier items. The future resolves when it was handled (with the
        handler's exception if it failed); nobody has to await it."""
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        queue = self._queues.get(chat_id)
        if queue is None:
            queue = self._queues[chat_id] = asyncio.Queue()
            self._tasks[chat_id] = asyncio.create_task(self._run(chat_id, queue))
        queue.put_nowait((item, done))
        self._unfinished[chat_id] = self._unfinished.get(chat_id, 0) + 1
        return done

    async def _run(self, chat_id: str, queue: "asyncio.Queue[Tuple[Any, asyncio.Future]]") -> None:
        while True:
            try:
                item, done = await asyncio.wait_for(queue.get(), timeout=self.idle_seconds)
            except asyncio.TimeoutError:
                # reaped when idle, so per-chat tasks do not grow with every chat ever seen; no await between the
                # check and the removal, so a message submitted meanwhile is never stranded
                if queue.empty() and self._queues.get(chat_id) is queue:
                    del self._queues[chat_id]
                    self._tasks.pop(chat_id, None)
                    return
                continue
            try:
                await self._handle(item)
                if not done.done():
                    done.set_result(None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad message must not stop the chat's worker
                logger.exception("chat=%s processing failed", chat_id)
                if not done.done():
                    done.set_exception(exc)
                    done.exception()  # retrieved: an unawaited failure is already logged above
            finally:
                queue.task_done()
                left = self._unfinished.get(chat_id, 1) - 1
                if left > 0:
                    self._unfinished[chat_id] = left
                else:
                    self._unfinished.pop(chat_id, None)

    async def join(self) -> None:
        """Wait until every queued item was handled (for tests and a graceful stop)."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()
        self._unfinished.clear()
