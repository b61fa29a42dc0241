"""Several replicas over one real PostgreSQL database, without Rasa: each replica is its own InboundRouter over
its own engine (its own `Storage`), as two Rasa processes would be. The dialogue engine is a recording
`Conversation` shared by the replicas' routers (it is not what these tests check). The kill -9 test runs one
replica in a child process and kills it with SIGKILL in the middle of a turn."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import AUTO_RESUME, MANAGER_TYPED, HandoffService
from salesbot.channel.inbound import InboundRouter, TurnResult
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends
from salesbot.db.leases import POLLER, chat_lease
from salesbot.greenapi.webhooks import parse_webhook
from salesbot.storage import Storage
from tests.channel.helpers import FileClock, webhook
from tests.db_helpers import scratch_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request, tmp_path):
    with scratch_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def pg_url(tmp_path):
    with scratch_database("postgresql", tmp_path) as url:
        yield url


class SharedConversation:
    """Records every turn with the replica that ran it, and notices two turns of one chat running at once."""

    def __init__(self, turn_seconds: float = 0.0):
        self.log = []
        self.turn_seconds = turn_seconds
        self.running = {}
        self.overlaps = 0

    def for_replica(self, name: str) -> "ReplicaConversation":
        return ReplicaConversation(self, name)


class ReplicaConversation:
    def __init__(self, shared: SharedConversation, name: str):
        self.shared, self.name = shared, name
        self.before_reply = None  # an async hook run inside the turn (the test's in-flight send)

    async def run_turn(self, message, already_sent=None):
        shared = self.shared
        if shared.running.get(message.chat_id):
            shared.overlaps += 1
        shared.running[message.chat_id] = True
        try:
            await asyncio.sleep(shared.turn_seconds * random.random())
            if self.before_reply is not None:
                await self.before_reply(message)
            shared.log.append((self.name, message.chat_id, message.text))
        finally:
            shared.running[message.chat_id] = False
        return TurnResult([f"ответ на «{message.text}»"], [], "inform")

    async def record_while_paused(self, message):
        self.shared.log.append((self.name, message.chat_id, f"paused:{message.text}"))

    async def record_manager_message(self, message):
        self.shared.log.append((self.name, message.chat_id, f"manager:{message.text}"))

    async def send_text(self, chat_id, text):
        self.shared.log.append((self.name, chat_id, f"sent:{text}"))

    async def record_nudge(self, chat_id, text, stage):
        self.shared.log.append((self.name, chat_id, f"nudge:{stage}"))


def replica(database_url: str, name: str, conversation, clock, lease_seconds: float = 15.0):
    storage = Storage(database_url)   # one engine per replica, as in separate processes
    handoff = HandoffService(storage, clock, auto_resume_minutes=30)

    async def known(chat_id):
        return True

    commands = ManagerCommands(handoff, ["77017770000"], "Asia/Almaty", known)
    nudges = NudgeScheduler(storage, clock, handoff, True, "Asia/Almaty", (0, 24), conversation.send_text,
                            conversation.record_nudge)
    own = OwnSends(storage, clock)
    router = InboundRouter(storage, handoff, commands, nudges, own, conversation, replica_id=name,
                           lease_seconds=lease_seconds)
    return storage, router


async def settle(*routers, rounds: int = 3) -> None:
    for _ in range(rounds):
        for router in routers:
            await router.worker.join()
        await asyncio.sleep(0.05)


def test_a_chats_burst_split_between_two_replicas_is_processed_once_and_in_order(database_url, tmp_path):
    async def scenario():
        shared = SharedConversation(turn_seconds=0.03)
        clock = FileClock(tmp_path)
        storage_a, a = replica(database_url, "replica-a", shared.for_replica("replica-a"), clock)
        storage_b, b = replica(database_url, "replica-b", shared.for_replica("replica-b"), clock)
        chats = [f"7701130{n:04d}@c.us" for n in range(8)]
        script = [f"сообщение {i}" for i in range(6)]
        rng = random.Random(7)
        waits = []
        for text in script:           # each chat's messages arrive in order, each at a random replica,
            for chat in chats:        # the chats interleaved, nothing waits for a turn
                waits.append(await rng.choice([a, b]).accept(parse_webhook(webhook("incomingMessageReceived",
                                                                                   chat, text))))
        await asyncio.gather(*waits)
        await settle(a, b)
        for chat in chats:
            assert [text for _, c, text in shared.log if c == chat] == script, chat  # once, in order
        assert shared.overlaps == 0                             # never two turns of a chat at once
        assert {name for name, _, _ in shared.log} == {"replica-a", "replica-b"}
        assert storage_a.repos.inbox.received() == []
        assert storage_a.repos.leases.holder(chat_lease(chats[0])) == ""   # released when drained
        for router in (a, b):
            await router.worker.stop()
        storage_a.db.dispose()
        storage_b.db.dispose()

    asyncio.run(scenario())


def test_a_lease_is_held_by_one_replica_until_it_runs_out(database_url):
    storage = Storage(database_url)
    leases, now = storage.repos.leases, [1000.0]
    leases.wall_clock = lambda: now[0]
    assert leases.acquire(POLLER, "replica-a", 30) and leases.acquire(POLLER, "replica-a", 30)  # taken, renewed
    assert not leases.acquire(POLLER, "replica-b", 30) and leases.holder(POLLER) == "replica-a"
    now[0] += 31   # replica-a died: its lease ran out
    assert leases.acquire(POLLER, "replica-b", 30) and not leases.acquire(POLLER, "replica-a", 30)
    assert leases.renew_all("replica-b", 60) == 1
    now[0] += 45
    assert leases.holder(POLLER) == "replica-b"
    leases.release(POLLER, "replica-a")   # not its lease: nothing happens
    assert leases.holder(POLLER) == "replica-b"
    leases.release(POLLER, "replica-b")
    assert leases.holder(POLLER) == "" and leases.acquire(POLLER, "replica-a", 30)
    storage.db.dispose()


def test_the_bots_own_send_seen_by_the_other_replica_never_pauses(pg_url, tmp_path):
    async def scenario():
        shared = SharedConversation()
        clock = FileClock(tmp_path)
        conversation_a = shared.for_replica("replica-a")
        storage_a, a = replica(pg_url, "replica-a", conversation_a, clock)
        storage_b, b = replica(pg_url, "replica-b", shared.for_replica("replica-b"), clock)
        chat = "77011310001@c.us"
        # 1. a send of replica-a, its echo reported as typed on the phone to replica-b: not a manager
        await a.own_sends.remember_now(chat, ["OWN00000000000000000000000000001"])
        echo = webhook("outgoingMessageReceived", chat, "эхо", id_message="OWN00000000000000000000000000001",
                       sender="77010000000@c.us")
        assert await b.accept(parse_webhook(echo)) is None
        assert await b.handoff.state(chat) is None
        # 2. the echo reaches replica-b while replica-a's turn is still writing the id down
        echo_id = "OWN00000000000000000000000000002"
        echoed = asyncio.Event()

        async def send_whose_echo_overtakes_it(message):
            echoed.set()
            await asyncio.sleep(0.4)   # the send returns (and the id is written) only after the echo came
            await a.own_sends.remember_now(chat, [echo_id])

        conversation_a.before_reply = send_whose_echo_overtakes_it
        turn = await a.accept(parse_webhook(webhook("incomingMessageReceived", chat, "привет")))
        await echoed.wait()
        assert storage_b.repos.leases.holder(chat_lease(chat)) == "replica-a"
        late_echo = webhook("outgoingMessageReceived", chat, "ответ", id_message=echo_id, sender="77010000000@c.us")
        assert await b.accept(parse_webhook(late_echo)) is None
        await turn
        assert await b.handoff.state(chat) is None
        # 3. a manager really typing is seen by either replica: paused at once
        await b.accept(parse_webhook(webhook("outgoingMessageReceived", chat, "Я менеджер", sender="77010000000@c.us")))
        assert (await a.handoff.state(chat))["reason"] == MANAGER_TYPED
        await settle(a, b)
        for router in (a, b):
            await router.worker.stop()
        storage_a.db.dispose()
        storage_b.db.dispose()

    asyncio.run(scenario())


def test_scheduler_claims_with_two_claimants(pg_url, tmp_path):
    """Both replicas run the scheduler's round at the same moment: each reminder goes out once, each overdue
    handoff is resumed once."""
    async def scenario():
        shared = SharedConversation()
        clock = FileClock(tmp_path)
        storage_a, a = replica(pg_url, "replica-a", shared.for_replica("replica-a"), clock)
        storage_b, b = replica(pg_url, "replica-b", shared.for_replica("replica-b"), clock)
        chats = [f"7701132{n:04d}@c.us" for n in range(20)]
        now = clock.now()
        for chat in chats[:10]:
            storage_a.schedule_nudge(chat, 1, now - 1, now - 100)
        for chat in chats[10:]:
            storage_a.pause_chat(chat, MANAGER_TYPED, "77010000000@c.us", now - 3600)
        for _ in range(3):
            await asyncio.gather(a.nudges.send_due(), b.nudges.send_due(), a.handoff.resume_overdue(),
                                 b.handoff.resume_overdue())
        sent = sorted(chat for _, chat, text in shared.log if text.startswith("sent:"))
        assert sent == sorted(chats[:10])   # once each, by whichever replica claimed it
        resumed = [row for row in storage_a.handoff_history() if row["reason"] == AUTO_RESUME]
        assert sorted(row["chat_id"] for row in resumed) == sorted(chats[10:])
        for router in (a, b):
            await router.worker.stop()
        storage_a.db.dispose()
        storage_b.db.dispose()

    asyncio.run(scenario())


CHILD_REPLICA = r"""
import asyncio, json, sys
from salesbot.channel.inbound import TurnResult
from tests.channel.test_replicas import SharedConversation, replica
from tests.channel.helpers import FileClock
from pathlib import Path

url, folder, log_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

async def main():
    shared = SharedConversation()
    conversation = shared.for_replica("replica-a")

    async def hang_on_two(message):
        with open(log_path, "a") as log:
            log.write(json.dumps(["started", message.text]) + "\n")
        if message.text == "два":
            await asyncio.Event().wait()   # killed here, in the middle of the turn
        with open(log_path, "a") as log:
            log.write(json.dumps(["replica-a", message.text]) + "\n")

    conversation.before_reply = hang_on_two
    storage, router = replica(url, "replica-a", conversation, FileClock(folder), lease_seconds=1.5)
    keeper = asyncio.create_task(router.maintain(interval_seconds=0.2))
    await router.replay()
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_kill_9_of_a_replica_mid_burst_the_other_takes_its_chat_over(pg_url, tmp_path):
    async def scenario():
        chat = "77011330001@c.us"
        texts = ["раз", "два", "три", "четыре"]
        shared = SharedConversation()
        clock = FileClock(tmp_path)
        storage_b, b = replica(pg_url, "replica-b", shared.for_replica("replica-b"), clock, lease_seconds=1.5)
        rows = []
        for text in texts:   # stored by replica-b's webhook handler; replica-a is the one that drains the chat
            body = webhook("incomingMessageReceived", chat, text)
            storage_b.repos.inbox.accept(chat, body["idMessage"], body["typeWebhook"], body)
            rows.append((body["idMessage"], text))
        log_path = tmp_path / "replica-a.log"
        log_path.write_text("")
        (tmp_path / "a").mkdir()
        child = subprocess.Popen([sys.executable, "-c", CHILD_REPLICA, pg_url, str(tmp_path / "a"), str(log_path)],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 60
            while ["started", "два"] not in [json.loads(line) for line in log_path.read_text().splitlines()]:
                assert time.monotonic() < deadline and child.poll() is None, "replica-a never started «два»"
                await asyncio.sleep(0.1)
            # replica-a holds the chat (its heartbeat renews the lease): replica-b's sweep leaves it alone
            await asyncio.sleep(2.0)
            assert await b.sweep() == 0 and storage_b.repos.leases.holder(chat_lease(chat)) == "replica-a"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        deadline = time.monotonic() + 20
        while len(shared.log) < 3:   # the lease runs out; the sweep takes the chat over
            assert time.monotonic() < deadline, shared.log
            await b.sweep()
            await settle(b, rounds=1)
            await asyncio.sleep(0.2)
        done_by_a = [json.loads(line)[1] for line in log_path.read_text().splitlines()
                     if json.loads(line)[0] == "replica-a"]
        assert done_by_a == ["раз"]
        assert [text for _, _, text in shared.log] == ["два", "три", "четыре"]   # once each, in order
        assert storage_b.repos.inbox.received() == []
        assert storage_b.repos.inbox.get(chat, [r for r in rows if r[1] == "два"][0][0])["attempts"] == 2
        await b.worker.stop()
        storage_b.db.dispose()

    asyncio.run(scenario())
