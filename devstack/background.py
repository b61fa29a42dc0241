"""An aiohttp app served on 127.0.0.1 from its own thread and event loop: the local stand-ins for outside services
(the LLM, amoCRM's amojo) that tests and benches start beside the real servers."""
from __future__ import annotations

import asyncio
import threading
from typing import Callable, Optional

from aiohttp import web


class BackgroundServer:
    def __init__(self, make_app: Callable[[], web.Application], port: int, name: str):
        self.make_app = make_app  # called in the server's own loop
        self.port = port
        self.name = name
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "BackgroundServer":
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            runner = web.AppRunner(self.make_app(), access_log=None)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
