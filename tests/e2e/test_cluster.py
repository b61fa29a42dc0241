"""Two real Rasa replicas over PostgreSQL (tracker store and the app's database) and Redis (lock store) behind
nginx, started by the README's command (`scripts/cluster.sh`, i.e. `make cluster REPLICAS=2`) with the sandbox:
a chat's burst, spread over both replicas by nginx, is answered once and in order."""
from __future__ import annotations

import os
import re
import socket
import time

import pytest

from devstack.cluster import Cluster
from devstack.stack import http
from tests.e2e.conftest import trained_model

BURST = ["здравствуйте", "рассрочка без переплаты есть?", "хочу заказать балетки шанель 37 черные", "алматы"]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, knowledge_dir):
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _answers(port)]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"{' and '.join(missing)} not reachable on 127.0.0.1: the cluster needs them")
    running = Cluster(2, tmp_path_factory.mktemp("cluster"), trained_model(),
                      env={"KNOWLEDGE_DIR": str(knowledge_dir)}, start_timeout=360).start()
    yield running
    running.stop()


def bot_texts(cluster: Cluster, chat_id: str):
    messages = http("GET", f"{cluster.sandbox}/sandbox/chats/{chat_id}/messages")[1]
    return [re.sub(r"\d+", "#", m.get("text") or m.get("fileName") or "") for m in messages if m.get("by") == "bot"]


def settled(cluster: Cluster, chat_id: str, at_least: int, quiet: float = 1.5, timeout: float = 90):
    deadline = time.monotonic() + timeout
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        texts = bot_texts(cluster, chat_id)
        if texts != seen:
            seen, since = texts, time.monotonic()
        elif len(texts) >= at_least and time.monotonic() - since >= quiet:
            return texts
        time.sleep(0.2)
    raise AssertionError(f"chat {chat_id} did not settle: {seen}")


def say(cluster: Cluster, chat_id: str, text: str) -> None:
    status, reply = http("POST", f"{cluster.sandbox}/sandbox/customer", {"chatId": chat_id, "text": text})
    assert status == 200, reply


def test_a_burst_spread_over_two_replicas_is_answered_once_and_in_order(cluster):
    reference_chat, burst_chat = "77019810001@c.us", "77019810002@c.us"
    for text in BURST:   # one message at a time: the order the replies must have
        before = len(bot_texts(cluster, reference_chat))
        say(cluster, reference_chat, text)
        settled(cluster, reference_chat, before + 1, quiet=0.8, timeout=60)
    reference = bot_texts(cluster, reference_chat)
    for text in BURST:   # all at once: the sandbox delivers the webhooks concurrently, nginx alternates replicas
        say(cluster, burst_chat, text)
    assert settled(cluster, burst_chat, len(reference)) == reference
    stored_by = [name for name in ("rasa-1", "rasa-2") if f"chat={burst_chat}" in cluster.log(name)
                 and re.search(rf"chat={re.escape(burst_chat)} id=\S+ kind=\S+ stored", cluster.log(name))]
    assert stored_by == ["rasa-1", "rasa-2"]   # the burst really was split between the replicas
