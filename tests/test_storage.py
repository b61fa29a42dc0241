"""The app's tables on real SQLite and real PostgreSQL (127.0.0.1:5432, as on every machine of the project)."""
from __future__ import annotations

import os
import threading
import uuid

import pytest
import sqlalchemy as sa

from salesbot.storage import EFFECT_SENT, Storage

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield Storage(f"sqlite:///{tmp_path / 'app.db'}")
        return
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg2://"),
                             isolation_level="AUTOCOMMIT")
    name = f"salesbot_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        if os.environ.get("CI"):
            raise   # PostgreSQL runs on every machine of the project, CI's included
        pytest.skip(f"PostgreSQL not reachable: {error.__class__.__name__}")
    storage = Storage(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")   # the plain postgresql:// form of the README
    yield storage
    storage.engine.dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}"'))
    admin.dispose()


def test_a_message_is_claimed_exactly_once_under_concurrency(store):
    results = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(store.claim_message("77011234567@c.us", "BAE5F4886AD1A8", "incomingMessageReceived"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    store.release_message("77011234567@c.us", "BAE5F4886AD1A8")
    assert store.claim_message("77011234567@c.us", "BAE5F4886AD1A8") is True


def test_orders_and_side_effects_are_idempotent(store):
    fields = dict(chat_id="77011234567@c.us", customer_name="Айгерим", phone="77011234567", product="Chanel балетки",
                  size="37", color="черный", city="Алматы", address="Абая 10", price=42000)
    first = store.create_order("order:77011234567@c.us:MSG1", **fields)
    again = store.create_order("order:77011234567@c.us:MSG1", **fields)
    assert first == again and len(store.list_orders()) == 1
    effect = store.claim_effect("group:order:1:text", "order_text", "120363@g.us", {"text": "Новый заказ"})
    assert effect["status"] == "SENDING"  # claimed for the caller, under a lease
    store.finish_effect("group:order:1:text", EFFECT_SENT, id_message="BAE5")
    assert store.claim_effect("group:order:1:text", "order_text", "120363@g.us", {"text": "Новый заказ"}) is None


def test_pause_resume_and_the_handoff_log(store):
    chat = "77011234567@c.us"
    assert store.pause_chat(chat, "llm_unsure", "bot", 100.0) is True
    assert store.pause_chat(chat, "manager_typed", "shop phone", 110.0) is False   # already paused
    assert [c["chat_id"] for c in store.paused_chats()] == [chat]
    assert store.resume_chat(chat, "command", "77017770000", 120.0) is True
    assert [(r["action"], r["reason"]) for r in store.handoff_history(chat)] == [
        ("pause", "llm_unsure"), ("resume", "command")]


def test_llm_calls_are_recorded(store):
    store.record_llm_call("77011234567@c.us", "MSG1", "gpt-4o-mini", "answered", 840, 512, 40, 100.0)
    store.record_llm_call("77011234567@c.us", "MSG2", "gpt-4o-mini", "timeout", 12000, None, None, 101.0)
    calls = store.llm_calls("77011234567@c.us")
    assert [(c["outcome"], c["latency_ms"], c["prompt_tokens"]) for c in calls] == [
        ("answered", 840, 512), ("timeout", 12000, None)]


def test_a_due_nudge_is_claimed_by_one_caller(store):
    store.schedule_nudge("77011234567@c.us", 1, due_at=50.0, now=10.0)
    assert store.claim_due_nudges(40.0) == []
    [claimed] = store.claim_due_nudges(60.0)
    assert claimed["stage"] == 1 and store.claim_due_nudges(61.0) == []
    store.finish_nudge("77011234567@c.us", 1, "sent", 62.0, next_due=200.0)
    assert (store.nudge("77011234567@c.us")["stage"], store.nudge("77011234567@c.us")["status"]) == (2, "pending")
