"""The notifications tables on real SQLite and PostgreSQL: one row and one outbox row per (event, reference),
statuses that only move forward (also when two writers race), a status webhook that outruns the sync, an
operator's retry in a new round, and the opt-out conversation."""
from __future__ import annotations

import threading

import pytest

from salesbot.db import Repositories, open_database
from salesbot.db.enums import OptOutState
from salesbot.notify import handle_opt_out_text, record_message_status
from tests.db_helpers import scratch_database

CHAT = "77011234567@c.us"


@pytest.fixture(params=["sqlite", "postgresql"])
def repos(request, tmp_path):
    with scratch_database(request.param, tmp_path) as url:
        db = open_database(url)
        yield Repositories(db)
        db.dispose()


def make(repos, reference="ORD-1", status="PENDING", reason=None, fingerprint="f1"):
    return repos.notifications.create("order_shipped", reference, fingerprint, "+77011234567", CHAT, "Айгуль",
                                      {"track": "CDEK1"}, False, "Ваш заказ отправлен", status, reason)


def test_one_notification_and_one_outbox_row_per_key(repos):
    row, created = make(repos)
    again, created_again = make(repos, fingerprint="other")
    assert created and not created_again and again["id"] == row["id"] and again["fingerprint"] == "f1"
    outbox = repos.outbox.list(kind="greenapi.message")
    assert [(o["effect_key"], o["target"], o["status"]) for o in outbox] == [
        (f"notification:{row['id']}:1", CHAT, "PENDING")]
    blocked, _ = make(repos, reference="ORD-2", status="BLOCKED", reason="staff_phone")
    assert blocked["effect_key"] is None and len(repos.outbox.list()) == 1


def test_statuses_only_move_forward(repos):
    row, _ = make(repos)
    n = repos.notifications
    assert n.advance(row["id"], "SENT", "outbox", id_message="ID1")
    assert not n.advance(row["id"], "RETRYING", "outbox")
    assert n.advance(row["id"], "READ", "webhook")
    for late in ("SENT", "DELIVERED", "FAILED", "PENDING"):
        assert not n.advance(row["id"], late, "webhook")
    current = n.get(row["id"])
    assert current["status"] == "READ" and current["sent_at"] and current["read_at"]
    assert [h["status"] for h in n.history(row["id"])] == ["PENDING", "SENT", "READ"]
    blocked, _ = make(repos, reference="ORD-2", status="BLOCKED", reason="opted_out")
    assert not n.advance(blocked["id"], "SENT", "outbox") and n.get(blocked["id"])["status"] == "BLOCKED"


def test_racing_writers_apply_each_step_once(repos, tmp_path):
    row, _ = make(repos)
    results = []
    barrier = threading.Barrier(6)

    def deliver():
        barrier.wait()
        results.append(repos.notifications.advance(row["id"], "DELIVERED", "webhook"))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert [h["status"] for h in repos.notifications.history(row["id"])] == ["PENDING", "DELIVERED"]


def test_the_relay_outcome_and_a_webhook_that_outruns_the_sync(repos):
    row, _ = make(repos)
    claimed = repos.outbox.claim_due("relay-1", kinds=["greenapi.message"])
    assert [c["effect_key"] for c in claimed] == [row["effect_key"]]
    repos.outbox.mark_sent(claimed[0]["id"], "relay-1", "ABC123")
    # the delivered webhook comes before the desk synced the outbox: found through the outbox row
    assert record_message_status(repos.db, "ABC123", "delivered") == "DELIVERED"
    assert repos.notifications.sync_from_outbox() == 0  # SENT would be a step back
    assert record_message_status(repos.db, "ABC123", "sent") == "DELIVERED"
    assert record_message_status(repos.db, "ABC123", "bogus") is None
    assert record_message_status(repos.db, "UNKNOWN", "read") is None
    current = repos.notifications.get(row["id"])
    assert (current["status"], current["id_message"]) == ("DELIVERED", "ABC123")


def test_a_failed_one_is_retried_in_a_new_round(repos):
    row, _ = make(repos)
    claimed = repos.outbox.claim_due("relay-1")
    repos.outbox.mark_failed(claimed[0]["id"], "relay-1", "HTTP 400: bad chatId")
    assert repos.notifications.sync_from_outbox() == 1
    failed = repos.notifications.get(row["id"])
    assert (failed["status"], failed["reason"]) == ("FAILED", "HTTP 400: bad chatId")
    retried = repos.notifications.retry(row["id"])
    assert retried["send_round"] == 2 and retried["effect_key"] == f"notification:{row['id']}:2"
    assert repos.notifications.retry(row["id"]) is None  # PENDING now
    assert [o["status"] for o in repos.outbox.list(kind="greenapi.message")] == ["FAILED", "PENDING"]


def test_search_and_stats(repos):
    make(repos, "A")
    make(repos, "B", status="BLOCKED", reason="staff_phone")
    rows, total = repos.notifications.search(page=1, per_page=10, q="АЙГУЛЬ")
    assert total == 2 and [r["reference"] for r in rows] == ["B", "A"]
    assert repos.notifications.search(q="нет такой")[1] == 0
    stats = repos.notifications.stats(status="BLOCKED")
    assert (stats["total"], stats["PENDING"], stats["BLOCKED"]) == (2, 1, 1)


def test_the_opt_out_conversation(repos):
    opt = repos.opt_outs
    assert handle_opt_out_text(opt, CHAT, "хочу кроссовки") is None
    assert handle_opt_out_text(opt, CHAT, "старт") is None  # not opted out: an ordinary message
    assert handle_opt_out_text(opt, CHAT, "STOP!") is not None and opt.state(CHAT) == OptOutState.ASKED.value
    assert handle_opt_out_text(opt, CHAT, "нет") is not None and not opt.is_opted_out(CHAT)
    assert handle_opt_out_text(opt, CHAT, "стоп, пожалуйста хватит") is None  # not only «стоп»
    handle_opt_out_text(opt, CHAT, "Отписаться")
    assert handle_opt_out_text(opt, CHAT, "да") is not None and opt.is_opted_out(CHAT)
    assert "старт" in handle_opt_out_text(opt, CHAT, "стоп")
    assert handle_opt_out_text(opt, CHAT, "Старт") is not None and not opt.is_opted_out(CHAT)
    handle_opt_out_text(opt, CHAT, "стоп")
    assert handle_opt_out_text(opt, CHAT, "а размер 38 есть?") is None and not opt.is_opted_out(CHAT)


def test_an_opted_out_customer_gets_no_nudges(repos):
    now = repos.db.now()
    repos.nudges.schedule(CHAT, 1, now - 1)
    repos.nudges.schedule("77019998877@c.us", 1, now - 1)
    handle_opt_out_text(repos.opt_outs, CHAT, "стоп")
    handle_opt_out_text(repos.opt_outs, CHAT, "да")
    assert [row["chat_id"] for row in repos.nudges.claim_due(now)] == ["77019998877@c.us"]
    assert repos.nudges.get(CHAT)["status"] == "cancelled"


def test_handover_rows_once_per_method_and_the_analytics(repos):
    webhook = {"kind": "handover.webhook", "target": "http://crm.local/hook", "payload": {"webhook_id": "msg_1",
                                                                                        "body": "{}"}}
    rows = repos.handovers.create("chat:1", CHAT, "llm_unsure", {"desk": None, "webhook": webhook})
    again = repos.handovers.create("chat:1", CHAT, "llm_unsure", {"desk": None, "webhook": webhook})
    assert [r["id"] for r in rows] == [r["id"] for r in again]
    assert [o["effect_key"] for o in repos.outbox.list(kind="handover.webhook")] == [f"handover:{rows[1]['id']}:webhook"]
    assert {r["method"]: r["status"] for r in repos.handovers.list()} == {"desk": "notified", "webhook": "pending"}
    claimed = repos.outbox.claim_due("w", kinds=["handover.webhook"])
    repos.outbox.mark_sent(claimed[0]["id"], "w", "204")
    assert repos.handovers.sync_from_outbox() == 1
    created = rows[0]["created_at"]
    assert repos.handovers.record_manager_reply(CHAT, at=created + 60) == 2
    assert repos.handovers.record_manager_reply(CHAT, at=created + 600) == 0  # only the first reply counts
    repos.handovers.create("chat:2", "other@c.us", "command", {"desk": None})
    stats = repos.handovers.analytics(since=created - 1)
    assert stats["webhook"] == {"requests": 1, "notified": 1, "failed": 0, "success_rate": 1.0, "answered": 1,
                                "unanswered": 0, "median_first_reply_seconds": 60.0, "p90_first_reply_seconds": 60.0}
    assert (stats["desk"]["requests"], stats["desk"]["answered"], stats["desk"]["unanswered"]) == (2, 1, 1)
    webhook_row = [r for r in repos.handovers.list() if r["method"] == "webhook"][0]
    assert (webhook_row["status"], webhook_row["response_code"]) == ("completed", 204)
