"""The outbox relay against the real GREEN-API sandbox (in-process aiohttp app on a free port) with its fault
injection: 503s, 429 with Retry-After, 466, timeouts whose send went through or not, a relay that died mid-send,
several relays at once, a reply dropped because a manager took the chat, and order per sequence key."""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Dict, List

import aiohttp
import pytest
from aiohttp import web

from salesbot.db import Repositories, open_database
from salesbot.db.enums import AttemptOutcome
from salesbot.greenapi.client import GreenApiClient, GreenApiConfig
from salesbot.outbox import (
    GREENAPI_CONTACT,
    GREENAPI_MESSAGE,
    GREENAPI_REPLY,
    GreenApiDelivery,
    OutboxItem,
    OutboxRelay,
    OutcomeUnknown,
    RetryPolicy,
    Sender,
)
from sandbox.server import SandboxConfig, create_app
from tests.db_helpers import scratch_database

INSTANCE, TOKEN = 1101000001, "sandbox-token"
CUSTOMER, GROUP = "77011234567@c.us", "120363000000000001@g.us"


class Stack:
    def __init__(self, repos: Repositories, base_url: str, session: aiohttp.ClientSession):
        self.repos, self.base_url, self.session = repos, base_url, session
        self.client = GreenApiClient(GreenApiConfig(base_url, base_url, str(INSTANCE), TOKEN, retries=0,
                                                    timeout=5.0))
        self.delivery = GreenApiDelivery(self.client, repos.outbox, repos.handoffs, call_timeout=5.0)

    def relay(self, send_timeout: float = 2.0, **kw: Any) -> OutboxRelay:
        policy = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, check_delay_seconds=0.0, rng=random.Random(7))
        return OutboxRelay(self.repos.outbox, self.delivery.senders(), policy=policy, send_timeout=send_timeout,
                           lease_seconds=max(10.0, send_timeout * 3), **kw)

    async def ctl(self, method: str, path: str, **kw: Any) -> Any:
        async with self.session.request(method, self.base_url + path, **kw) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def fault(self, **fault: Any) -> None:
        await self.ctl("POST", "/sandbox/faults", json=fault)

    async def transcript(self, chat_id: str) -> List[Dict[str, Any]]:
        return [m for m in await self.ctl("GET", f"/sandbox/chats/{chat_id}/messages") if m["by"] == "bot"]

    async def texts(self, chat_id: str) -> List[str]:
        return [m["text"] for m in await self.transcript(chat_id)]

    def row(self, key: str) -> Dict[str, Any]:
        row = self.repos.outbox.get(key)
        assert row is not None
        return row

    def outcomes(self, key: str) -> List[str]:
        return [a["outcome"] for a in self.repos.outbox.attempts(self.row(key)["id"])]

    async def until_finished(self, relay: OutboxRelay, key: str, timeout: float = 10.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await relay.run_once()
            row = self.row(key)
            if row["status"] in ("SENT", "FAILED", "DROPPED"):
                return row
            await asyncio.sleep(0.05)
        raise AssertionError(f"{key} still {self.row(key)['status']}")


@pytest.fixture(params=["sqlite"])
async def stack(request, tmp_path):
    with scratch_database(request.param, tmp_path) as url:
        db = open_database(url)
        runner = web.AppRunner(create_app(SandboxConfig(instance_id=INSTANCE, token=TOKEN, webhook_url="")))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        async with aiohttp.ClientSession() as session:
            result = Stack(Repositories(db), f"http://127.0.0.1:{port}", session)
            yield result
            await result.client.close()
        await runner.cleanup()
        db.dispose()


async def test_due_rows_are_sent_once_and_every_attempt_is_recorded(stack):
    stack.repos.outbox.enqueue("order:1:contact", GREENAPI_CONTACT, GROUP, {"phone": "77011234567", "name": "Айгуль"})
    stack.repos.outbox.enqueue("order:1:details", GREENAPI_MESSAGE, GROUP, {"message": "Новый заказ № 1"})
    _, again = stack.repos.outbox.enqueue("order:1:details", GREENAPI_MESSAGE, GROUP, {"message": "другой"})
    assert again is False  # one row per idempotency key
    relay = stack.relay()
    assert await relay.run_once() == 2
    assert await relay.run_once() == 0
    sent = await stack.transcript(GROUP)
    assert [m["type"] for m in sent] == ["contact", "text"] and sent[1]["text"] == "Новый заказ № 1"
    row = stack.row("order:1:details")
    assert (row["status"], row["id_message"], row["attempts"]) == ("SENT", sent[1]["idMessage"], 1)
    assert stack.outcomes("order:1:details") == ["SENT"]


async def test_503s_are_retried_with_backoff_until_sent_once(stack):
    await stack.fault(method="sendMessage", status=503, count=3)
    stack.repos.outbox.enqueue("k1", GREENAPI_MESSAGE, GROUP, {"message": "Новый заказ № 2"})
    row = await stack.until_finished(stack.relay(), "k1")
    assert row["status"] == "SENT" and row["attempts"] == 4
    attempts = stack.repos.outbox.attempts(row["id"])
    assert [(a["outcome"], a["http_status"]) for a in attempts] == [("RETRY", 503)] * 3 + [("SENT", None)]
    assert await stack.texts(GROUP) == ["Новый заказ № 2"]


async def test_retry_after_of_a_429_is_honoured(stack):
    await stack.fault(method="sendMessage", status=429, headers={"Retry-After": "1"})
    stack.repos.outbox.enqueue("k429", GREENAPI_MESSAGE, CUSTOMER, {"message": "Здравствуйте!"})
    relay = stack.relay()
    before = stack.repos.db.now()
    await relay.run_once()
    row = stack.row("k429")
    assert row["status"] == "RETRYING" and 0.9 <= row["next_attempt_at"] - before <= 1.5
    assert await relay.run_once() == 0  # not due before the server said
    await asyncio.sleep(1.1)
    assert await relay.run_once() == 1
    assert stack.row("k429")["status"] == "SENT" and await stack.texts(CUSTOMER) == ["Здравствуйте!"]


@pytest.mark.parametrize("status", [400, 466])
async def test_a_terminal_error_stops_at_once(stack, status):
    await stack.fault(method="sendContact", status=status, count=-1)
    stack.repos.outbox.enqueue("kt", GREENAPI_CONTACT, GROUP, {"phone": "77011234567", "name": "Айгуль"})
    relay = stack.relay()
    await relay.run_once()
    row = stack.row("kt")
    assert row["status"] == "FAILED" and row["attempts"] == 1
    assert ("quota" in row["last_error"]) == (status == 466)
    assert await relay.run_once() == 0 and await stack.transcript(GROUP) == []


async def test_a_timed_out_send_that_went_through_is_not_sent_again(stack):
    await stack.fault(method="sendMessage", delay_ms=800)  # performed after the relay stopped waiting
    stack.repos.outbox.enqueue("kto", GREENAPI_MESSAGE, CUSTOMER, {"message": "Заказ № 3 оформлен"})
    relay = stack.relay(send_timeout=0.3)
    await relay.run_once()
    row = stack.row("kto")
    assert row["status"] == "RETRYING" and row["check_delivery"]
    await asyncio.sleep(0.8)  # the sandbox performs the send now
    row = await stack.until_finished(relay, "kto")
    sent = await stack.transcript(CUSTOMER)
    assert [m["text"] for m in sent] == ["Заказ № 3 оформлен"]  # once, not twice
    assert row["status"] == "SENT" and row["id_message"] == sent[0]["idMessage"]
    assert stack.outcomes("kto") == ["TIMEOUT", "ALREADY_DELIVERED"]
    calls = await stack.ctl("GET", "/sandbox/calls?method=lastOutgoingMessages")
    assert len(calls) == 1


async def test_a_timed_out_send_that_did_not_go_through_is_checked_then_sent(stack):
    await stack.fault(method="sendMessage", delay_ms=600, status=503)  # never performed
    stack.repos.outbox.enqueue("kn", GREENAPI_MESSAGE, CUSTOMER, {"message": "Ваш заказ в пути"})
    relay = stack.relay(send_timeout=0.3)
    await relay.run_once()
    await asyncio.sleep(0.4)
    row = await stack.until_finished(relay, "kn")
    assert row["status"] == "SENT" and await stack.texts(CUSTOMER) == ["Ваш заказ в пути"]
    assert stack.outcomes("kn") == ["TIMEOUT", "NOT_DELIVERED", "SENT"]


@pytest.mark.parametrize("it_had_sent", [True, False])
async def test_a_row_of_a_relay_that_died_mid_send_is_recovered_once(stack, it_had_sent):
    stack.repos.outbox.enqueue("kd", GREENAPI_CONTACT, GROUP, {"phone": "77011234567", "name": "Айгуль"})
    [claimed] = stack.repos.outbox.claim_due("dead-relay", lease_seconds=0.3)
    stack.repos.outbox.start_attempt(claimed["id"], "dead-relay")
    if it_had_sent:  # the dead relay's request reached GREEN-API before the crash
        await stack.client.send_contact(GROUP, "77011234567", "Айгуль")
    relay = stack.relay()
    assert await relay.run_once() == 0  # still leased
    await asyncio.sleep(0.35)
    row = await stack.until_finished(relay, "kd")
    assert row["status"] == "SENT" and len(await stack.transcript(GROUP)) == 1
    expected = ["LOST", "ALREADY_DELIVERED"] if it_had_sent else ["LOST", "NOT_DELIVERED", "SENT"]
    assert stack.outcomes("kd") == expected


async def test_several_relays_send_each_row_exactly_once(stack):
    for n in range(30):
        stack.repos.outbox.enqueue(f"bulk:{n}", GREENAPI_MESSAGE, CUSTOMER, {"message": f"Сообщение {n}"})
    await stack.fault(method="sendMessage", status=503, count=5)
    relays = [stack.relay(batch_size=4) for _ in range(3)]
    for _ in range(60):
        await asyncio.gather(*(relay.run_once() for relay in relays))
        if all(r["status"] == "SENT" for r in stack.repos.outbox.list()):
            break
        await asyncio.sleep(0.05)
    texts = await stack.texts(CUSTOMER)
    assert sorted(texts) == sorted(f"Сообщение {n}" for n in range(30)) and len(set(texts)) == 30


async def test_a_reply_made_before_a_manager_took_the_chat_is_dropped(stack):
    stack.repos.outbox.enqueue("reply:1", GREENAPI_REPLY, CUSTOMER, {"message": "Какой размер?"})
    stack.repos.handoffs.pause(CUSTOMER, "manager_typed", "shop phone")
    await stack.relay().run_once()
    row = stack.row("reply:1")
    assert row["status"] == "DROPPED" and "manager_typed" in row["last_error"]
    assert await stack.transcript(CUSTOMER) == [] and stack.outcomes("reply:1") == ["DROPPED"]


async def test_rows_of_one_sequence_key_go_out_in_order(stack):
    await stack.fault(method="sendMessage", status=503, count=2)
    for n in range(3):
        stack.repos.outbox.enqueue(f"seq:{n}", GREENAPI_MESSAGE, CUSTOMER, {"message": f"часть {n}"},
                                   sequence_key=CUSTOMER)
    await stack.until_finished(stack.relay(), "seq:2")
    assert await stack.texts(CUSTOMER) == ["часть 0", "часть 1", "часть 2"]


async def test_a_kind_without_a_delivery_check_is_not_resent_after_a_timeout(stack):
    calls = []

    async def send(item: OutboxItem):
        calls.append(item.effect_key)
        raise OutcomeUnknown("connection lost after the request was written")

    stack.repos.outbox.enqueue("mail:1", "email", "shop@example.com", {"subject": "Заказ"})
    policy = RetryPolicy(base_seconds=0.01, cap_seconds=0.01, check_delay_seconds=0.0)
    relay = OutboxRelay(stack.repos.outbox, {"email": Sender(send)}, policy=policy, send_timeout=1.0)
    row = await stack.until_finished(relay, "mail:1")
    assert calls == ["mail:1"] and row["status"] == "FAILED" and "outcome" in row["last_error"]
    assert stack.outcomes("mail:1") == [AttemptOutcome.TIMEOUT.value]
