"""The handover webhook from the desk (a real uvicorn process) to a local receiver that verifies every delivery
with the `standardwebhooks` reference package: arrives once, signed correctly, retried through a receiver that
fails twice, switched off by a 410; the test-webhook endpoint; analytics that match the log."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import pytest
from standardwebhooks import Webhook

from devstack.stack import Stack, free_port, http, wait_until
from salesbot.db import Repositories, open_database
from salesbot.handover import HandoverTargets, request_handover

TOKEN = "desk-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "whsec_" + base64.b64encode(b"a-test-key-of-32-bytes-exactly!!").decode()


class Receiver:
    """A CRM's webhook endpoint: verifies signatures, answers the queued statuses first, then 200."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answers: List[int] = []
        self.received: List[Dict[str, Any]] = []  # every request: verified or not
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(SECRET).verify(body, headers)
                    verified = True
                except Exception:  # the reference package's verification error
                    payload, verified = None, False
                receiver.received.append({"id": headers.get("webhook-id"), "verified": verified, "payload": payload})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status if verified else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/crm/handover"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("handover")
    receiver = Receiver()
    stack = Stack(tmp, model="")
    try:
        stack.start(with_rasa=False, with_actions=False)
        stack.start_desk({"NOTIFY_API_TOKEN": TOKEN, "HANDOVER_METHODS": "whatsapp_group,webhook",
                          "HANDOVER_WEBHOOK_URL": receiver.url, "HANDOVER_WEBHOOK_SECRET": SECRET,
                          "HANDOVER_WEBHOOK_RETRY_SECONDS": "0.2,0.2,0.2,0.2", "DESK_RELAY_POLL_SECONDS": "0.1"})
        repos = Repositories(open_database(stack.env["DATABASE_URL"]))
        yield stack, receiver, repos
        repos.db.dispose()
    finally:
        stack.stop()
        receiver.close()


def hand_over(repos, key: str, chat: str, receiver: Receiver):
    return request_handover(repos, key, chat, "customer_request", ["whatsapp_group", "webhook"],
                            HandoverTargets(webhook_url=receiver.url), phone="77011234567", name="Айгуль",
                            summary="Клиент просит менеджера", preferred_contact="whatsapp",
                            messages=[{"from": "customer", "text": "позовите менеджера"}])


def rows_of(repos, key: str) -> Dict[str, Dict[str, Any]]:
    return {r["method"]: r for r in repos.handovers.list() if r["request_key"] == key}


def test_a_handover_arrives_once_signed_after_two_failures(setup):
    stack, receiver, repos = setup
    receiver.answers[:] = [503, 500]
    before = len(receiver.received)
    hand_over(repos, "chat-1:msg-1", "77011234567@c.us", receiver)
    hand_over(repos, "chat-1:msg-1", "77011234567@c.us", receiver)  # the same handover again: nothing new
    row = wait_until(lambda: (lambda r: r if r["status"] == "notified" else None)(
        rows_of(repos, "chat-1:msg-1")["webhook"]), timeout=15, what="webhook notified")
    deliveries = receiver.received[before:]
    assert [d["verified"] for d in deliveries] == [True, True, True]
    assert len({d["id"] for d in deliveries}) == 1  # one webhook-id across the retries
    payload = deliveries[-1]["payload"]
    assert payload["type"] == "handover.requested" and payload["timestamp"].endswith("Z")
    assert payload["data"] == {"chat_id": "77011234567@c.us", "phone": "77011234567", "name": "Айгуль",
                               "reason": "customer_request", "method": "webhook", "preferred_contact": "whatsapp",
                               "summary": "Клиент просит менеджера",
                               "messages": [{"from": "customer", "text": "позовите менеджера"}]}
    assert (row["attempts"], row["response_code"], row["notified_at"] is not None) == (3, 200, True)
    assert rows_of(repos, "chat-1:msg-1")["whatsapp_group"]["status"] == "notified"


def test_analytics_match_the_log(setup):
    stack, receiver, repos = setup
    hand_over(repos, "chat-2:msg-1", "77011234568@c.us", receiver)
    wait_until(lambda: rows_of(repos, "chat-2:msg-1")["webhook"]["status"] == "notified", timeout=15)
    first = rows_of(repos, "chat-1:msg-1")["webhook"]
    repos.handovers.record_manager_reply("77011234567@c.us", at=first["created_at"] + 90)
    status, answer = http("GET", f"{stack.desk}/api/v1/handover/analytics?days=30", headers=AUTH)
    assert status == 200
    log = [r for r in repos.handovers.list()]
    webhook = answer["methods"]["webhook"]
    assert webhook["requests"] == len([r for r in log if r["method"] == "webhook"])
    assert webhook["answered"] == 1 and webhook["median_first_reply_seconds"] == pytest.approx(90, abs=0.2)
    assert webhook["unanswered"] == webhook["requests"] - 1
    assert answer["methods"]["whatsapp_group"]["success_rate"] == 1.0
    assert http("GET", f"{stack.desk}/api/v1/handover/analytics?days=0", headers=AUTH)[0] == 422


def test_the_test_webhook_returns_the_receivers_status(setup):
    stack, receiver, repos = setup
    status, answer = http("POST", f"{stack.desk}/api/v1/handover/test-webhook", headers=AUTH)
    assert (status, answer["ok"], answer["status"]) == (200, True, 200)
    assert receiver.received[-1]["verified"] and receiver.received[-1]["payload"]["type"] == "handover.test"
    receiver.answers[:] = [418]
    status, answer = http("POST", f"{stack.desk}/api/v1/handover/test-webhook", headers=AUTH)
    assert (answer["ok"], answer["status"]) == (False, 418)
    assert http("POST", f"{stack.desk}/api/v1/handover/test-webhook")[0] == 401


def test_a_410_switches_the_webhook_off(setup):
    stack, receiver, repos = setup
    receiver.answers[:] = [410]
    hand_over(repos, "chat-3:msg-1", "77011234569@c.us", receiver)
    row = wait_until(lambda: (lambda r: r if r["status"] == "failed" else None)(
        rows_of(repos, "chat-3:msg-1")["webhook"]), timeout=15)
    assert row["response_code"] == 410 and "410" in row["last_error"]
    count = len(receiver.received)
    hand_over(repos, "chat-4:msg-1", "77011234560@c.us", receiver)
    wait_until(lambda: rows_of(repos, "chat-4:msg-1")["webhook"]["status"] == "failed", timeout=15)
    assert len(receiver.received) == count  # not even tried while switched off
    assert "switched off" in rows_of(repos, "chat-4:msg-1")["webhook"]["last_error"]
    repos.handovers.enable("handover_webhook")


def test_a_receiver_that_keeps_failing_is_given_up_after_five_attempts(setup):
    stack, receiver, repos = setup
    receiver.answers[:] = [503] * 6
    before = len(receiver.received)
    hand_over(repos, "chat-5:msg-1", "77011234561@c.us", receiver)
    row = wait_until(lambda: (lambda r: r if r["status"] == "failed" else None)(
        rows_of(repos, "chat-5:msg-1")["webhook"]), timeout=15)
    assert row["attempts"] == 5 and len(receiver.received) - before == 5 and row["response_code"] == 503
    receiver.answers.clear()
    log = json.loads(rows_of(repos, "chat-5:msg-1")["webhook"]["messages"])
    assert log == [{"from": "customer", "text": "позовите менеджера"}]
