"""The sandbox keeps re-delivering webhooks the bot did not accept, in order per chat, and tells whether the bot
is up. Real servers on free local ports: the sandbox, and a bot stand-in that starts late."""
from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import SandboxConfig, create_app, get_sandbox  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LateBot:
    """A webhook receiver with the channel's health route, started only when the test says so."""

    def __init__(self, port: int, status: int = 200) -> None:
        self.port = port
        self.status = status
        self.received: List[Dict[str, Any]] = []
        self.server = None

    async def webhook(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        return web.Response(status=self.status, text="{}")

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/greenapi/webhook", self.webhook)
        app.router.add_get("/webhooks/greenapi/", self.health)
        self.server = TestServer(app, port=self.port)
        await self.server.start_server()


async def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_webhooks_sent_while_the_bot_is_down_arrive_in_order_once_it_is_up():
    async def scenario():
        port = free_port()
        bot = LateBot(port)
        config = SandboxConfig(webhook_url=f"http://127.0.0.1:{port}/webhooks/greenapi/webhook",
                               retry_initial=0.05, retry_max_delay=0.5, bot_probe_seconds=0.05)
        app = create_app(config)
        sandbox = get_sandbox(app)
        server = TestServer(app)
        await server.start_server()
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession() as http:
                async def bot_status() -> Dict[str, Any]:
                    async with http.get(f"{base}/sandbox/bot") as response:
                        return await response.json()

                sent = {"77011110001@c.us": [], "77011110002@c.us": []}
                for n in range(3):
                    for chat in sent:
                        async with http.post(f"{base}/sandbox/customer",
                                             json={"chatId": chat, "text": f"сообщение {n}"}) as response:
                            sent[chat].append((await response.json())["idMessage"])
                await asyncio.sleep(2.5)  # retries with growing delays, beyond the old limit of 6 attempts
                status = await bot_status()
                assert status["up"] is False and status["pendingWebhooks"] >= 2
                failed = [d for d in sandbox.deliveries if d["status"] == "error"]
                assert max(d["attempt"] for d in failed) > 6
                assert bot.received == []

                await bot.start()
                await wait_for(lambda: len(bot.received) == 6)
                for chat, ids in sent.items():
                    got = [b["idMessage"] for b in bot.received if b["senderData"]["chatId"] == chat]
                    assert got == ids  # in order, each once
                await wait_for(lambda: sandbox.bot_up)
                status = await bot_status()
                assert status["up"] is True and status["pendingWebhooks"] == 0
                async with http.get(f"{base}/sandbox/info") as response:
                    assert (await response.json())["bot"]["up"] is True
        finally:
            await server.close()
            if bot.server is not None:
                await bot.server.close()

    asyncio.run(scenario())


def test_a_refused_webhook_4xx_is_not_sent_again_and_redelivery_gives_up_after_its_window():
    async def scenario():
        port = free_port()
        bot = LateBot(port, status=401)
        await bot.start()
        config = SandboxConfig(webhook_url=f"http://127.0.0.1:{port}/webhooks/greenapi/webhook",
                               retry_initial=0.05, retry_window=0.5, bot_probe_seconds=0.05)
        app = create_app(config)
        sandbox = get_sandbox(app)
        server = TestServer(app)
        await server.start_server()
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession() as http:
                await http.post(f"{base}/sandbox/customer", json={"chatId": "77011110003@c.us", "text": "а"})
                await wait_for(lambda: len(bot.received) == 1)
                await asyncio.sleep(0.5)
                assert len(bot.received) == 1
                await bot.server.close()  # now nobody listens: re-delivered until the window closes
                await http.post(f"{base}/sandbox/customer", json={"chatId": "77011110003@c.us", "text": "б"})
                await sandbox.drain(timeout=5)
                assert not sandbox._workers
                attempts = [d["attempt"] for d in sandbox.deliveries if d["status"] == "error"]
                assert len(attempts) >= 3 and attempts == sorted(attempts)
        finally:
            await server.close()

    asyncio.run(scenario())
