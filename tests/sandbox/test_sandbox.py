"""End-to-end tests of the GREEN-API sandbox: real HTTP servers on 127.0.0.1, no plugins needed.

Each test runs one asyncio scenario with ``asyncio.run``: the sandbox and a tiny webhook receiver are real
aiohttp servers on free local ports.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import SandboxConfig, create_app, get_sandbox  # noqa: E402

INSTANCE = 1101000001
TOKEN = "sandbox-token"
WID = "77010000000@c.us"
GROUP = "120363000000000001@g.us"
CUSTOMER = "77011234567@c.us"
ID_RE = re.compile(r"^[0-9A-F]{32}$")


class Receiver:
    """A webhook target that records every request and answers from a script."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.statuses: List[int] = []  # answered in order, then 200
        self.delays: Dict[str, float] = {}  # idMessage -> seconds to hold the answer
        self.events: List[tuple] = []  # ("start"|"end", idMessage, monotonic)
        self.server: Optional[TestServer] = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        idm = body.get("idMessage")
        self.events.append(("start", idm, time.monotonic()))
        self.requests.append({"headers": dict(request.headers), "raw": raw, "body": body})
        delay = self.delays.pop(idm, 0)
        if delay:
            await asyncio.sleep(delay)
        self.events.append(("end", idm, time.monotonic()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhook", self.handle)
        self.server = TestServer(app)
        await self.server.start_server()
        return f"http://127.0.0.1:{self.server.port}/webhook"

    def bodies(self, type_webhook: Optional[str] = None) -> List[Dict[str, Any]]:
        return [r["body"] for r in self.requests if type_webhook in (None, r["body"].get("typeWebhook"))]

    async def wait_for(self, n: int, timeout: float = 5.0, type_webhook: Optional[str] = None) -> None:
        deadline = time.monotonic() + timeout
        while len(self.bodies(type_webhook)) < n:
            assert time.monotonic() < deadline, f"expected {n} webhooks, got {self.bodies(type_webhook)}"
            await asyncio.sleep(0.01)


class Env:
    """Sandbox (+ optional receiver) running on free ports, with a client session."""

    def __init__(self, push: bool = True, webhook_token: str = "SECRET") -> None:
        self.push = push
        self.webhook_token = webhook_token
        self.receiver = Receiver()

    async def __aenter__(self) -> "Env":
        url = await self.receiver.start() if self.push else ""
        self.app = create_app(SandboxConfig(webhook_url=url, webhook_token=self.webhook_token))
        self.sandbox = get_sandbox(self.app)
        self.server = TestServer(self.app)
        await self.server.start_server()
        self.base = f"http://127.0.0.1:{self.server.port}"
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.close()
        await self.server.close()
        if self.receiver.server is not None:
            await self.receiver.server.close()

    def api(self, method: str, token: str = TOKEN, instance: int = INSTANCE) -> str:
        return f"{self.base}/waInstance{instance}/{method}/{token}"

    async def call(self, http_method: str, method: str, expect: Optional[int] = 200, **kw: Any):
        async with self.http.request(http_method, self.api(method, **{k: kw.pop(k) for k in ("token", "instance")
                                                                       if k in kw}), **kw) as r:
            text = await r.text()
            if expect is not None:
                assert r.status == expect, (r.status, text)
            return r.status, (json.loads(text) if text and r.content_type == "application/json" else text)

    async def ctl(self, http_method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        async with self.http.request(http_method, self.base + path, **kw) as r:
            data = await r.json(content_type=None)
            assert r.status == expect, (r.status, data)
            return data


def run(coro) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------------------------------------------
def test_send_methods_record_transcript_and_echo_webhooks():
    async def scenario():
        async with Env() as env:
            _, r1 = await env.call("POST", "sendMessage", json={"chatId": CUSTOMER, "message": "Здравствуйте!"})
            _, r2 = await env.call("POST", "sendContact", json={
                "chatId": GROUP, "contact": {"phoneContact": 77011234567, "firstName": "Айгуль"}})
            _, r3 = await env.call("POST", "sendFileByUrl", json={
                "chatId": CUSTOMER, "urlFile": "https://example.org/p/shoe_black.jpg", "fileName": "shoe_black.jpg",
                "caption": "Лоферы, чёрные"})
            form = aiohttp.FormData()
            form.add_field("chatId", CUSTOMER)
            form.add_field("caption", "Фото")
            form.add_field("file", b"\x89PNG fake bytes", filename="red.png", content_type="image/png")
            _, r4 = await env.call("POST", "SendFileByUpload", data=form)
            status, r5 = await env.call("POST", "sendTyping", json={"chatId": CUSTOMER, "typingTime": 3000})
            assert r5 == ""

            ids = [r["idMessage"] for r in (r1, r2, r3, r4)]
            assert all(ID_RE.match(i) for i in ids) and len(set(ids)) == 4
            async with env.http.get(r4["urlFile"]) as f:
                assert f.status == 200 and await f.read() == b"\x89PNG fake bytes"

            msgs = await env.ctl("GET", f"/sandbox/chats/{CUSTOMER}/messages")
            assert [(m["direction"], m["by"], m["type"]) for m in msgs] == [("out", "bot", "text")] + \
                [("out", "bot", "file")] * 2
            assert msgs[0]["text"] == "Здравствуйте!" and msgs[0]["idMessage"] == ids[0]
            assert msgs[1]["fileKind"] == "image" and msgs[1]["caption"] == "Лоферы, чёрные"
            assert msgs[2]["urlFile"] == r4["urlFile"] and msgs[2]["fileName"] == "red.png"
            group = await env.ctl("GET", f"/sandbox/chats/{GROUP}/messages")
            assert group[0]["type"] == "contact" and group[0]["contact"]["phoneContact"] == 77011234567
            assert group[0]["contact"]["firstName"] == "Айгуль"

            chats = await env.ctl("GET", "/sandbox/chats")
            by_id = {c["chatId"]: c for c in chats}
            assert by_id[CUSTOMER]["count"] == 3 and not by_id[CUSTOMER]["isGroup"]
            assert by_id[GROUP]["isGroup"] and by_id[GROUP]["last"]["idMessage"] == ids[1]

            await env.receiver.wait_for(4)
            echoes = env.receiver.bodies("outgoingAPIMessageReceived")
            assert [e["idMessage"] for e in echoes] == ids  # per-chat order + these were spaced
            for e in echoes:
                assert e["instanceData"] == {"idInstance": INSTANCE, "wid": WID, "typeInstance": "whatsapp"}
                assert e["senderData"]["sender"] == WID
                assert isinstance(e["timestamp"], int)
            assert echoes[0]["senderData"]["chatId"] == CUSTOMER
            assert echoes[0]["messageData"]["extendedTextMessageData"]["text"] == "Здравствуйте!"
            assert echoes[1]["senderData"]["chatId"] == GROUP
            assert echoes[1]["messageData"]["typeMessage"] == "contactMessage"
            assert "waid=77011234567" in echoes[1]["messageData"]["contactMessageData"]["vcard"]
            assert echoes[2]["messageData"]["typeMessage"] == "imageMessage"
            assert echoes[2]["messageData"]["fileMessageData"]["downloadUrl"].endswith("shoe_black.jpg")
            assert echoes[3]["messageData"]["fileMessageData"]["downloadUrl"] == r4["urlFile"]

            calls = await env.ctl("GET", "/sandbox/calls")
            assert [c["method"] for c in calls] == ["sendMessage", "sendContact", "sendFileByUrl",
                                                   "sendFileByUpload", "sendTyping"]
            assert all(c["httpStatus"] == 200 for c in calls)
            assert calls[3]["body"]["file"]["size"] == len(b"\x89PNG fake bytes")
            assert calls[3]["chatId"] == CUSTOMER and calls[1]["chatId"] == GROUP
    run(scenario())


def test_auth_errors_and_validation():
    async def scenario():
        async with Env(push=False) as env:
            status, text = await env.call("POST", "sendMessage", expect=401, token="wrong",
                                          json={"chatId": CUSTOMER, "message": "x"})
            assert isinstance(text, str)
            await env.call("POST", "sendMessage", expect=403, instance=1101999999,
                           json={"chatId": CUSTOMER, "message": "x"})
            _, text = await env.call("POST", "sendMessage", expect=400, json={"chatId": CUSTOMER})
            assert "message" in text
            _, text = await env.call("POST", "sendMessage", expect=400, json={"message": "hi"})
            assert "chatId" in text
            await env.call("POST", "sendMessage", expect=400, json={"chatId": "not-a-chat", "message": "x"})
            await env.call("POST", "sendMessage", expect=400, data=b"{broken", headers={"Content-Type":
                                                                                      "application/json"})
            await env.call("POST", "sendContact", expect=400,
                           json={"chatId": CUSTOMER, "contact": {"phoneContact": "+7701"}})
            await env.call("POST", "noSuchMethod", expect=404, json={})
            await env.call("GET", "sendMessage", expect=405)
            _, state = await env.call("GET", "GETSTATEINSTANCE")  # case-insensitive
            assert state == {"stateInstance": "authorized"}
            assert await env.ctl("GET", f"/sandbox/chats/{CUSTOMER}/messages") == []
            assert env.sandbox.queue == []
            calls = await env.ctl("GET", "/sandbox/calls")
            assert [c["httpStatus"] for c in calls] == [401, 403, 400, 400, 400, 400, 400, 404, 405, 200]
            assert calls[-1]["method"] == "getStateInstance"
    run(scenario())


def test_settings_roundtrip_and_effect():
    async def scenario():
        async with Env() as env:
            _, s = await env.call("GET", "getSettings")
            assert s["incomingWebhook"] == "yes" and s["outgoingAPIMessageWebhook"] == "yes"
            assert s["webhookUrlToken"] == "SECRET" and s["webhookUrl"].endswith("/webhook")
            _, r = await env.call("POST", "setSettings", json={"outgoingAPIMessageWebhook": "no"})
            assert r == {"saveSettings": True}
            await env.call("POST", "setSettings", expect=400, json={"incomingWebhook": "true"})
            await env.call("POST", "sendMessage", json={"chatId": CUSTOMER, "message": "без эха"})
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "привет"})
            await env.receiver.wait_for(1)
            await env.sandbox.drain()
            assert [b["typeWebhook"] for b in env.receiver.bodies()] == ["incomingMessageReceived"]
            # switch to polling at once
            await env.call("POST", "setSettings", json={"webhookUrl": ""})
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "ещё"})
            _, item = await env.call("GET", "receiveNotification", params={"receiveTimeout": "1"})
            assert item["body"]["messageData"]["textMessageData"]["textMessage"] == "ещё"
    run(scenario())


def test_polling_queue_same_item_until_deleted_then_null():
    async def scenario():
        async with Env(push=False) as env:
            _, empty = await env.call("GET", "receiveNotification", params={"receiveTimeout": "0"})
            assert empty is None
            sent = await env.ctl("POST", "/sandbox/customer",
                                 json={"chatId": CUSTOMER, "text": "Есть лоферы 38?", "senderName": "Айгуль"})
            assert ID_RE.match(sent["idMessage"])
            _, first = await env.call("GET", "receiveNotification", params={"receiveTimeout": "1"})
            _, again = await env.call("GET", "receiveNotification", params={"receiveTimeout": "1"})
            assert first == again and isinstance(first["receiptId"], int)
            body = first["body"]
            assert body == sent["webhook"]
            assert body["typeWebhook"] == "incomingMessageReceived" and body["idMessage"] == sent["idMessage"]
            assert body["senderData"] == {"chatId": CUSTOMER, "sender": CUSTOMER, "chatName": "Айгуль",
                                          "senderName": "Айгуль", "senderContactName": ""}
            assert body["messageData"] == {"typeMessage": "textMessage",
                                           "textMessageData": {"textMessage": "Есть лоферы 38?"}}
            # the bot's reply echo queues behind it
            await env.call("POST", "sendMessage", json={"chatId": CUSTOMER, "message": "Да, есть"})
            async with env.http.delete(f"{env.api('deleteNotification')}/{first['receiptId']}") as resp:
                assert resp.status == 200 and await resp.json() == {"result": True}
            _, nxt = await env.call("GET", "receivenotification", params={"receiveTimeout": "1"})
            assert nxt["receiptId"] > first["receiptId"]
            assert nxt["body"]["typeWebhook"] == "outgoingAPIMessageReceived"
            async with env.http.delete(f"{env.api('deleteNotification')}/{nxt['receiptId']}") as resp:
                assert await resp.json() == {"result": True}
            async with env.http.delete(f"{env.api('deleteNotification')}/{nxt['receiptId']}") as resp:
                assert await resp.json() == {"result": False}
            t0 = time.monotonic()
            _, empty = await env.call("GET", "receiveNotification", params={"receiveTimeout": "1"})
            assert empty is None and 0.8 < time.monotonic() - t0 < 3
            deliveries = await env.ctl("GET", "/sandbox/deliveries")
            assert [d["status"] for d in deliveries] == ["queued", "queued"]
    run(scenario())


def test_long_poll_returns_as_soon_as_an_item_arrives():
    async def scenario():
        async with Env(push=False) as env:
            async def poll():
                t0 = time.monotonic()
                _, item = await env.call("GET", "receiveNotification", params={"receiveTimeout": "20"})
                return item, time.monotonic() - t0

            task = asyncio.ensure_future(poll())
            await asyncio.sleep(0.3)
            assert not task.done()
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "алло"})
            item, elapsed = await asyncio.wait_for(task, 5)
            assert item["body"]["messageData"]["textMessageData"]["textMessage"] == "алло"
            assert elapsed < 2
    run(scenario())


def test_shutdown_answers_a_long_poll_in_progress_at_once():
    """Stopping the sandbox does not wait out the bot's long poll (its receiveTimeout is 20 s): the poll gets its
    empty answer and the server closes."""
    async def scenario():
        async with Env(push=False) as env:
            task = asyncio.ensure_future(env.call("GET", "receiveNotification", params={"receiveTimeout": "20"}))
            await asyncio.sleep(0.3)
            assert not task.done()
            await asyncio.wait_for(env.server.close(), 5)
            assert await asyncio.wait_for(task, 5) == (200, None)
    run(scenario())


def test_fault_injection_429_then_success_and_delay_only():
    async def scenario():
        async with Env() as env:
            faults = await env.ctl("POST", "/sandbox/faults", json={"method": "sendMessage", "status": 429,
                                                                    "count": 1, "body": "Too Many Requests"})
            assert faults["calls"][0]["method"] == "sendMessage"
            payload = {"chatId": CUSTOMER, "message": "Ваш заказ принят"}
            _, text = await env.call("POST", "sendMessage", expect=429, json=payload)
            assert text == "Too Many Requests"
            assert await env.ctl("GET", f"/sandbox/chats/{CUSTOMER}/messages") == []
            _, ok = await env.call("POST", "sendMessage", json=payload)
            assert ID_RE.match(ok["idMessage"])
            assert len(await env.ctl("GET", f"/sandbox/chats/{CUSTOMER}/messages")) == 1
            assert (await env.ctl("GET", "/sandbox/faults"))["calls"] == []

            # delay only, on any method, twice
            await env.ctl("POST", "/sandbox/faults", json={"method": "*", "delay_ms": 300, "count": 2})
            t0 = time.monotonic()
            await env.call("GET", "getStateInstance")
            await env.call("POST", "sendMessage", json=payload)
            assert time.monotonic() - t0 >= 0.55
            t0 = time.monotonic()
            await env.call("GET", "getStateInstance")
            assert time.monotonic() - t0 < 0.25

            # 5xx with a JSON-ish body, on every call until cleared
            await env.ctl("POST", "/sandbox/faults", json={"method": "sendContact", "status": 502, "count": -1})
            for _ in range(2):
                await env.call("POST", "sendContact", expect=502, json={"chatId": CUSTOMER, "contact": {}})
            await env.ctl("DELETE", "/sandbox/faults")
            await env.call("POST", "sendContact",
                           json={"chatId": CUSTOMER, "contact": {"phoneContact": 77011234567}})
            calls = await env.ctl("GET", "/sandbox/calls", params={"method": "sendMessage"})
            assert [c["httpStatus"] for c in calls] == [429, 200, 200]
            await env.ctl("POST", "/sandbox/faults", expect=400, json={"method": "sendMessage"})
            await env.ctl("POST", "/sandbox/faults", expect=400, json={"method": "nope", "status": 500})
    run(scenario())


def test_webhook_push_carries_bearer_and_retries_on_500():
    async def scenario():
        async with Env() as env:
            env.receiver.statuses = [500, 503]
            sent = await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "Здравствуйте"})
            await env.receiver.wait_for(3)
            await env.sandbox.drain()
            reqs = env.receiver.requests
            assert len(reqs) == 3
            assert all(r["headers"].get("Authorization") == "Bearer SECRET" for r in reqs)
            assert all(r["raw"] == reqs[0]["raw"] for r in reqs)
            assert reqs[0]["body"]["idMessage"] == sent["idMessage"]
            deliveries = await env.ctl("GET", "/sandbox/deliveries")
            assert [(d["attempt"], d["status"]) for d in deliveries] == [(1, 500), (2, 503), (3, 200)]
            assert all(d["chatId"] == CUSTOMER and d["typeWebhook"] == "incomingMessageReceived"
                       for d in deliveries)
            assert all(isinstance(d["latency_ms"], (int, float)) for d in deliveries)
    run(scenario())


def test_webhook_push_without_token_and_unreachable_target():
    async def scenario():
        async with Env(webhook_token="") as env:
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "a"})
            await env.receiver.wait_for(1)
            assert "Authorization" not in env.receiver.requests[0]["headers"]
            # a port nobody listens on: attempts are recorded as "error", then given up after 1 + 5 tries
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                dead = f"http://127.0.0.1:{s.getsockname()[1]}/x"
            env.sandbox.config.retry_backoff = (0.01, 0.01, 0.01, 0.01, 0.01)
            await env.call("POST", "setSettings", json={"webhookUrl": dead})
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "b"})
            await asyncio.sleep(0.05)
            await env.sandbox.drain()
            failed = [d for d in await env.ctl("GET", "/sandbox/deliveries") if d["status"] == "error"]
            assert [d["attempt"] for d in failed] == [1, 2, 3, 4, 5, 6]
    run(scenario())


def test_duplicates_fault_delivers_the_same_body_twice():
    async def scenario():
        async with Env() as env:
            await env.ctl("POST", "/sandbox/faults", json={"webhook_duplicates": 1})
            assert (await env.ctl("GET", "/sandbox/faults"))["webhook_duplicates"] == 1
            sent = await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "дубль"})
            await env.receiver.wait_for(2)
            await env.sandbox.drain()
            reqs = env.receiver.requests
            assert len(reqs) == 2 and reqs[0]["raw"] == reqs[1]["raw"]
            assert reqs[0]["body"]["idMessage"] == sent["idMessage"]
            await env.ctl("DELETE", "/sandbox/faults")
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "один"})
            await env.receiver.wait_for(3)
            await env.sandbox.drain()
            assert len(env.receiver.requests) == 3
            # the transcript has the message once
            assert len(await env.ctl("GET", f"/sandbox/chats/{CUSTOMER}/messages")) == 2
    run(scenario())


def test_deliveries_are_ordered_per_chat_and_concurrent_across_chats():
    async def scenario():
        async with Env() as env:
            other = "77019876543@c.us"
            a1 = new_id()
            env.receiver.delays[a1] = 0.4  # the receiver holds the first message of chat A
            await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "A1", "idMessage": a1})
            a2 = (await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "text": "A2"}))["idMessage"]
            a3 = (await env.ctl("POST", "/sandbox/manager", json={"chatId": CUSTOMER, "text": "A3"}))["idMessage"]
            b1 = (await env.ctl("POST", "/sandbox/customer", json={"chatId": other, "text": "B1"}))["idMessage"]
            await env.receiver.wait_for(4)
            await env.sandbox.drain()
            ev = env.receiver.events
            starts = [e[1] for e in ev if e[0] == "start"]
            assert [i for i in starts if i != b1] == [a1, a2, a3]
            t = {(kind, idm): ts for kind, idm, ts in ev}
            assert t[("start", a2)] >= t[("end", a1)]  # one at a time within a chat
            assert t[("end", b1)] < t[("end", a1)]  # chat B was not held up by chat A
            manager = env.receiver.bodies("outgoingMessageReceived")[0]
            assert manager["senderData"]["chatId"] == CUSTOMER and manager["senderData"]["sender"] == WID
            assert manager["messageData"]["textMessageData"]["textMessage"] == "A3"
    run(scenario())


def test_customer_message_types_and_group_sender():
    async def scenario():
        async with Env(push=False) as env:
            img = await env.ctl("POST", "/sandbox/customer", json={
                "chatId": CUSTOMER, "typeMessage": "imageMessage", "caption": "такие есть?"})
            fmd = img["webhook"]["messageData"]["fileMessageData"]
            assert fmd["caption"] == "такие есть?" and fmd["mimeType"] == "image/png"
            async with env.http.get(fmd["downloadUrl"]) as r:
                assert r.status == 200 and (await r.read()).startswith(b"\x89PNG")
            loc = await env.ctl("POST", "/sandbox/customer", json={"chatId": CUSTOMER, "typeMessage": "locationMessage"})
            assert loc["webhook"]["messageData"]["locationMessageData"]["latitude"] == pytest.approx(43.238949)
            con = await env.ctl("POST", "/sandbox/customer", json={
                "chatId": CUSTOMER, "typeMessage": "contactMessage",
                "contact": {"phoneContact": 77012223344, "firstName": "Дана"}})
            assert con["webhook"]["messageData"]["contactMessageData"]["displayName"] == "Дана"
            btn = await env.ctl("POST", "/sandbox/customer", json={
                "chatId": CUSTOMER, "typeMessage": "interactiveButtonsResponse", "text": "Оформить"})
            assert btn["webhook"]["messageData"]["interactiveButtonsResponse"]["selectedDisplayText"] == "Оформить"
            lst = await env.ctl("POST", "/sandbox/customer", json={
                "chatId": CUSTOMER, "typeMessage": "listResponseMessage", "text": "Алматы"})
            assert lst["webhook"]["messageData"]["listResponseMessage"]["title"] == "Алматы"
            quo = await env.ctl("POST", "/sandbox/customer", json={
                "chatId": CUSTOMER, "typeMessage": "quotedMessage", "text": "да, этот"})
            assert quo["webhook"]["messageData"]["extendedTextMessageData"]["text"] == "да, этот"
            raw = await env.ctl("POST", "/sandbox/customer", json={
                "chatId": CUSTOMER, "messageData": {"typeMessage": "textMessage",
                                                    "textMessageData": {"textMessage": "{{SWE001}}"}}})
            assert raw["webhook"]["messageData"]["textMessageData"]["textMessage"] == "{{SWE001}}"
            grp = await env.ctl("POST", "/sandbox/customer", json={"chatId": GROUP, "text": "/bot on 77011234567"})
            sd = grp["webhook"]["senderData"]
            assert sd["chatId"] == GROUP and sd["sender"] != GROUP and sd["sender"].endswith("@c.us")
            msgs = await env.ctl("GET", f"/sandbox/chats/{CUSTOMER}/messages")
            assert [m["type"] for m in msgs] == ["file", "location", "contact", "button", "button", "text", "text"]
            assert msgs[0]["by"] == "customer" and msgs[0]["direction"] == "in" and msgs[0]["fileKind"] == "image"
            assert msgs[2]["contact"]["phoneContact"] == "77012223344"
            assert len(env.sandbox.queue) == 8
            # a raw webhook is delivered as is
            odd = {"typeWebhook": "stateInstanceChanged", "instanceData": {"idInstance": INSTANCE},
                   "timestamp": 1, "stateInstance": "notAuthorized"}
            assert await env.ctl("POST", "/sandbox/webhook", json=odd) == {"delivered": True}
            assert env.sandbox.queue[-1]["body"] == odd
    run(scenario())


def test_control_api_errors_and_reset():
    async def scenario():
        async with Env(push=False) as env:
            for path in ("/sandbox/customer", "/sandbox/manager", "/sandbox/faults", "/sandbox/webhook",
                         "/sandbox/chats"):
                data = await env.ctl("POST", path, expect=400, data=b"{not json",
                                     headers={"Content-Type": "application/json"})
                assert "error" in data
            assert "chatId" in (await env.ctl("POST", "/sandbox/customer", expect=400, json={"text": "x"}))["error"]
            await env.ctl("POST", "/sandbox/customer", expect=400, json={"chatId": CUSTOMER})
            await env.ctl("POST", "/sandbox/customer", expect=400, json={"chatId": CUSTOMER, "text": "x",
                                                                         "typeMessage": "weird"})
            await env.ctl("POST", "/sandbox/manager", expect=400, json={"chatId": CUSTOMER})
            await env.ctl("POST", "/sandbox/faults", expect=400, json={})
            assert await env.ctl("GET", "/sandbox/health") == {"ok": True}

            new = await env.ctl("POST", "/sandbox/chats", json={"chatId": "77015554433@c.us", "name": "Жанар"})
            assert new["name"] == "Жанар" and new["count"] == 0
            sent = await env.ctl("POST", "/sandbox/customer", json={"chatId": "77015554433@c.us", "text": "Салем"})
            assert sent["webhook"]["senderData"]["senderName"] == "Жанар"
            await env.ctl("POST", "/sandbox/faults", json={"webhook_delay_ms": 10})
            await env.ctl("POST", "/sandbox/reset")
            assert await env.ctl("GET", "/sandbox/calls") == []
            assert await env.ctl("GET", "/sandbox/deliveries") == []
            assert (await env.ctl("GET", "/sandbox/faults"))["webhook_delay_ms"] == 0
            chats = await env.ctl("GET", "/sandbox/chats")
            assert [c["chatId"] for c in chats] == [GROUP]  # the managers' group always exists
            _, item = await env.call("GET", "receiveNotification", params={"receiveTimeout": "0"})
            assert item is None
            info = await env.ctl("GET", "/sandbox/info")
            assert info["mode"] == "polling" and info["groupId"] == GROUP
            async with env.http.get(env.base + "/") as r:
                page = await r.text()
                assert r.status == 200 and "Новый чат" in page
    run(scenario())


def test_cli_starts_and_prints_the_banner():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(port)], cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}"
        assert line == f"GREEN-API sandbox: {base}/ (apiUrl=mediaUrl={base})"

        async def check():
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/waInstance1101000001/getStateInstance/sandbox-token") as r:
                    assert await r.json() == {"stateInstance": "authorized"}
        run(check())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def new_id() -> str:
    import uuid
    return uuid.uuid4().hex.upper()
