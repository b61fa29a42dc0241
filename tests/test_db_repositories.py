"""Each repository of salesbot/db on real SQLite and real PostgreSQL (a scratch database per test)."""
from __future__ import annotations

import threading

import pytest

from salesbot.db import Repositories, open_database
from salesbot.db.enums import InboxStatus, OutboxStatus
from tests.db_helpers import scratch_database

CHAT = "77011234567@c.us"


class FixedClock:
    def __init__(self, now: float = 1000.0):
        self.value = now

    def __call__(self) -> float:
        return self.value


@pytest.fixture(params=["sqlite", "postgresql"])
def repos(request, tmp_path):
    with scratch_database(request.param, tmp_path) as url:
        clock = FixedClock()
        db = open_database(url, clock)
        result = Repositories(db)
        result.clock = clock  # type: ignore[attr-defined]
        result.url = url  # type: ignore[attr-defined]
        yield result
        db.dispose()


def test_inbox_stores_each_notification_once_and_replays_received_ones_in_order(repos):
    first = repos.inbox.accept(CHAT, "A1", "incomingMessageReceived", {"text": "привет"})
    assert first is not None and repos.inbox.accept(CHAT, "A1", "incomingMessageReceived", {"text": "x"}) is None
    second = repos.inbox.accept("77019998877@c.us", "A1", "incomingMessageReceived", {"text": "другой чат"})
    third = repos.inbox.accept(CHAT, "A2", "incomingMessageReceived", {"text": "есть кроссовки?"})
    repos.inbox.start(first)
    assert repos.inbox.done(first) is True and repos.inbox.done(first) is False  # DONE once
    repos.inbox.failed(second, "parser error")
    [pending] = repos.inbox.received()
    assert (pending["id"], pending["body"], pending["status"]) == (third, {"text": "есть кроссовки?"}, "RECEIVED")
    done = repos.inbox.get(CHAT, "A1")
    assert (done["status"], done["attempts"], done["done_at"]) == (InboxStatus.DONE, 1, 1000.0)
    with repos.db.write() as connection:  # DONE in the caller's transaction
        assert repos.inbox.done(third, connection) is True
    assert repos.inbox.received() == []


def test_dedupe_and_the_bots_own_sends(repos):
    assert repos.messages.claim(CHAT, "M1", "incomingMessageReceived") is True
    assert repos.messages.claim(CHAT, "M1") is False
    repos.messages.release(CHAT, "M1")
    assert repos.messages.claim(CHAT, "M1") is True
    repos.messages.remember_sent(CHAT, ["S1", "", "S1"])
    assert repos.messages.was_sent_by_bot("S1") and not repos.messages.was_sent_by_bot("S2")


def test_orders_are_stored_once_per_key(repos):
    fields = dict(chat_id=CHAT, customer_name="Айгерим", phone="77011234567", product="Chanel балетки", size="37",
                  color="черный", city="Алматы", address="Абая 10", price=42000)
    first = repos.orders.create("order:1", **fields)
    assert repos.orders.create("order:1", **fields) == first and first["status"] == "NEW"
    repos.orders.set_status(first["id"], "NOTIFIED")
    assert [o["status"] for o in repos.orders.list(CHAT)] == ["NOTIFIED"]
    with pytest.raises(ValueError):
        repos.orders.set_status(first["id"], "SHIPPED-ISH")  # only the statuses of OrderStatus


def test_handoffs_nudges_and_llm_calls(repos):
    repos.nudges.schedule(CHAT, 1, due_at=2000.0, now=1000.0)
    assert repos.handoffs.pause(CHAT, "customer_request", "bot") is True
    assert repos.nudges.get(CHAT)["status"] == "cancelled" and repos.handoffs.is_paused(CHAT)
    assert repos.handoffs.resume(CHAT, "auto_resume", "scheduler") is True
    assert [h["action"] for h in repos.handoffs.history(CHAT)] == ["pause", "resume"]
    repos.nudges.schedule(CHAT, 1, due_at=2000.0)
    assert repos.nudges.claim_due(1999.0) == [] and len(repos.nudges.claim_due(2000.0)) == 1
    repos.nudges.finish(CHAT, 1, "sent", next_due=3000.0)
    assert (repos.nudges.get(CHAT)["stage"], repos.nudges.get(CHAT)["status"]) == (2, "pending")
    assert repos.nudges.cancel_pending(CHAT) is True and repos.nudges.cancel_pending(CHAT) is False
    repos.llm_calls.record(CHAT, "M1", "gpt-4o-mini", "answered", 800, 500, 40)
    assert repos.llm_calls.list(CHAT)[0]["at"] == 1000.0


def test_outbox_claims_are_exclusive_across_connections_and_leases_expire(repos):
    for n in range(20):
        repos.outbox.enqueue(f"k{n}", "greenapi.message", CHAT, {"message": str(n)})
    other = Repositories(open_database(repos.url, repos.clock))  # a second process's engine
    claimed, barrier = [], threading.Barrier(4)

    def claim(repositories, worker):
        barrier.wait()
        for _ in range(10):
            claimed.extend((worker, row["id"]) for row in repositories.outbox.claim_due(worker, limit=3))

    threads = [threading.Thread(target=claim, args=(r, f"w{i}")) for i, r in enumerate([repos, other] * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [row_id for _, row_id in claimed]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 20  # every row once
    worker, row_id = claimed[0]
    assert repos.outbox.mark_sent(row_id, "somebody-else") is False  # only the holder settles it
    assert repos.outbox.mark_sent(row_id, worker, "ID1") is True
    repos.clock.value += 121  # past the default lease: the other 19 go back to due, outcome unknown
    again = repos.outbox.claim_due("w-new", limit=50)
    assert len(again) == 19 and all(r["check_delivery"] for r in again)
    other.db.dispose()


def test_legacy_claim_effect_and_finish_effect_keep_their_meaning(repos):
    row = repos.outbox.claim_effect("group:1", "order_details", "120363@g.us", {"message": "Заказ"})
    assert row["status"] == "SENDING"
    assert repos.outbox.claim_due("relay") == []  # a relay never takes a row its caller is sending
    repos.outbox.finish_effect("group:1", "FAILED", error="HTTP 503")
    again = repos.outbox.claim_effect("group:1", "order_details", "120363@g.us", {"message": "Заказ"})
    assert again is not None and again["attempts"] == 2  # a FAILED one may be tried again by its caller
    repos.outbox.finish_effect("group:1", "SENT", id_message="BAE5")
    assert repos.outbox.claim_effect("group:1", "order_details", "120363@g.us", {}) is None
    stored = repos.outbox.get("group:1")
    assert [a["outcome"] for a in repos.outbox.attempts(stored["id"])] == ["FAILED", "SENT"]
    repos.outbox.claim_effect("group:2:contact", "order_contact", "120363@g.us", {"reason": "no phone"})
    repos.outbox.finish_effect("group:2:contact", "SKIPPED", error="no phone")
    skipped = repos.outbox.get("group:2:contact")
    assert skipped["status"] == OutboxStatus.SKIPPED and repos.outbox.attempts(skipped["id"]) == []


def test_a_later_row_of_a_sequence_waits_for_the_earlier_one(repos):
    repos.outbox.enqueue("s1", "crm.import", "amo", {"n": 1}, sequence_key=CHAT)
    repos.outbox.enqueue("s2", "crm.import", "amo", {"n": 2}, sequence_key=CHAT)
    repos.outbox.enqueue("free", "crm.import", "amo", {"n": 3})
    assert [r["effect_key"] for r in repos.outbox.claim_due("w")] == ["s1", "free"]
    first = repos.outbox.get("s1")
    repos.outbox.mark_sent(repos.outbox.get("free")["id"], "w", "X")
    repos.outbox.mark_retry(first["id"], "w", next_attempt_at=5000.0, error="503")
    assert repos.outbox.claim_due("w") == []  # s1 is not due yet and s2 must not overtake it
    repos.clock.value = 5000.0
    [again] = repos.outbox.claim_due("w")
    repos.outbox.mark_failed(again["id"], "w", "400")  # a finished (even failed) row no longer blocks
    assert [r["effect_key"] for r in repos.outbox.claim_due("w")] == ["s2"]
    assert repos.outbox.retry_now("s1") is True and repos.outbox.get("s1")["status"] == "RETRYING"


def test_the_inbox_stores_a_hostile_body_with_lone_surrogates_and_nul(repos):
    """A webhook body the parser has cleaned for the bot is still stored raw: lone surrogates and NUL characters
    (valid JSON escapes) must not make storing it fail (a 500 to GREEN-API)."""
    body = {"typeWebhook": "incomingMessageReceived", "idMessage": "HOSTILE1",
            "messageData": {"textMessageData": {"textMessage": "a\ud800b\x00c"}}}
    inbox_id = repos.inbox.accept("77011110777@c.us", "HOSTILE1", "incomingMessageReceived", body)
    assert inbox_id is not None
    [row] = [r for r in repos.inbox.received() if r["id"] == inbox_id]
    assert row["id_message"] == "HOSTILE1"
