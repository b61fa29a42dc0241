"""The desk's notifications API as a real process (uvicorn) over a real SQLite file, sending through the real
GREEN-API sandbox (its own process, with fault injection): one WhatsApp message per (event, reference), every
rejection a 4xx naming the field, staff and opted-out phones blocked, a 503 burst retried to one message, status
webhooks that only move forward, and an operator's retry of a failed one."""
from __future__ import annotations

import datetime as dt
import time
from typing import Any, Dict, List
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from devstack.stack import MANAGER_NUMBER, Stack, http, wait_until
from salesbot.db import Repositories, open_database
from salesbot.notify import handle_opt_out_text

TOKEN = "desk-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STAFF_PHONE = "+7 701 555 00 11"
API = "/api/v1/notifications"
DESK_ENV = {"NOTIFY_API_TOKEN": TOKEN, "STAFF_PHONES": STAFF_PHONE, "NOTIFY_QUIET_HOURS": "off",
            "DESK_RELAY_POLL_SECONDS": "0.1", "NOTIFY_RETRY_BASE_SECONDS": "0.1", "NOTIFY_SEND_INTERVAL_SECONDS": "0"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk")
    running = Stack(tmp, model="")
    try:
        running.start(with_rasa=False, with_actions=False)
        running.start_desk(DESK_ENV)
        yield running
    finally:
        running.stop()
        log = tmp / "desk.log"
        if log.exists():
            assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def post(stack: Stack, body: Any, headers: Dict[str, str] = AUTH, raw: bytes = None):
    return http("POST", stack.desk + API, body, headers=headers, raw=raw)


def get(stack: Stack, path: str = "", **query: Any):
    return http("GET", stack.desk + API + path + ("?" + urlencode(query) if query else ""), headers=AUTH)


def texts_in(stack: Stack, chat_id: str) -> List[str]:
    return [m["text"] for m in stack.bot_messages(chat_id)]


def until_status(stack: Stack, notification_id: int, status: str, timeout: float = 15.0) -> Dict[str, Any]:
    return wait_until(lambda: (lambda r: r if r["status"] == status else None)(get(stack, f"/{notification_id}")[1]),
                      timeout=timeout, interval=0.1, what=f"notification {notification_id} {status}")


def status_webhook(stack: Stack, id_message: str, status: str, **extra: Any):
    body = {"typeWebhook": "outgoingMessageStatus", "chatId": "x@c.us", "idMessage": id_message, "status": status,
            "timestamp": int(time.time()), "sendByApi": True, **extra}
    return http("POST", stack.desk + API + "/status-webhook", body, headers=AUTH)


def shipped(reference: str, phone: str = "+7 701 123 45 67", **extra: Any) -> Dict[str, Any]:
    return {"event": "order_shipped", "reference": reference, "phone": phone, "name": "Айгуль",
            "vars": {"track": "CDEK123"}, "urgent": False, **extra}


def test_a_notification_reaches_the_customer_once(stack):
    body = shipped("ORD-1001", phone="8 (701) 100-00-01")
    status, first = post(stack, body)
    assert status == 202 and first["status"] == "PENDING" and first["chat_id"] == "77011000001@c.us"
    assert set(first) == {"id", "status", "chat_id"}
    assert post(stack, body) == (200, first)  # the same request again: the first answer
    sent = until_status(stack, first["id"], "SENT")
    assert post(stack, body) == (200, first)  # and after it went out
    time.sleep(0.5)  # a relay round or more: nothing else goes out
    messages = stack.bot_messages("77011000001@c.us")
    assert [m["text"] for m in messages] == ["Айгуль, ваш заказ ORD-1001 уже в пути 👠 Трек-номер: CDEK123."]
    assert sent["id_message"] == messages[0]["idMessage"] and sent["phone"] == "+77011000001"
    assert [(a["round"], a["outcome"]) for a in sent["attempts"]] == [(1, "SENT")]
    assert [h["status"] for h in sent["history"]] == ["PENDING", "SENT"]


def test_rejections_are_4xx_with_the_field_and_send_nothing(stack):
    chat = "77011000002@c.us"
    phone = "+7 701 100 00 02"
    assert post(stack, shipped("R-1", phone), headers={})[0] == 401
    assert post(stack, shipped("R-1", phone), headers={"Authorization": "Bearer wrong"})[0] == 401
    assert http("GET", stack.desk + API)[0] == 401
    cases = [
        ({**shipped("R-2", phone), "event": "order_teleported"}, "event"),
        ({**shipped("R-3", phone), "vars": {}}, "vars.track"),
        ({**shipped("R-4", phone), "event": "refund_sent"}, "vars.amount"),
        (shipped("R-5", "+7 727 250 00 00"), "phone"),  # an Almaty landline
        (shipped("R-6", "+1 650 253 0000"), "phone"),  # another country
        (shipped("R-7", "12345"), "phone"),
        ({k: v for k, v in shipped("R-8", phone).items() if k != "reference"}, "reference"),
        ({**shipped("R-9", phone), "urgent": "yes"}, "urgent"),
        ({**shipped("R-10", phone), "vars": {"track": "A", "eta": "next week"}}, "vars"),
    ]
    for body, field in cases:
        status, answer = post(stack, body)
        assert (status, answer["field"]) == (422, field), (body, answer)
        assert answer["error"]
    assert post(stack, None, raw=b'{"event": "order_shipped", ')[0] == 400
    assert post(stack, None, raw=b"[1, 2]")[0] == 400
    status, answer = post(stack, None, raw=b'{"event": "' + b"x" * 40_000 + b'"}')
    assert status == 413, answer
    ok, first = post(stack, shipped("R-11", phone))
    assert ok == 202
    status, answer = post(stack, {**shipped("R-11", phone), "vars": {"track": "OTHER"}})
    assert (status, answer["field"]) == (409, "reference")
    until_status(stack, first["id"], "SENT")
    assert texts_in(stack, chat) == ["Айгуль, ваш заказ R-11 уже в пути 👠 Трек-номер: CDEK123."]


def test_staff_and_opted_out_phones_are_blocked(stack):
    status, answer = post(stack, shipped("S-1", "8 701 555 0011"))  # STAFF_PHONES, written another way
    assert (status, answer["status"], answer["reason"]) == (200, "BLOCKED", "staff_phone")
    status, answer = post(stack, shipped("S-2", "+" + MANAGER_NUMBER))  # MANAGER_NUMBERS
    assert (status, answer["reason"]) == (200, "staff_phone")
    repos = Repositories(open_database(stack.env["DATABASE_URL"]))
    try:
        chat = "77011000003@c.us"
        assert "«да»" in handle_opt_out_text(repos.opt_outs, chat, "Стоп")
        assert "«старт»" in handle_opt_out_text(repos.opt_outs, chat, "да")
        status, answer = post(stack, shipped("S-3", "+7 701 100 00 03"))
        assert (status, answer["status"], answer["reason"]) == (200, "BLOCKED", "opted_out")
        assert post(stack, shipped("S-3", "+7 701 100 00 03")) == (200, answer)
        assert handle_opt_out_text(repos.opt_outs, chat, "старт") is not None
        assert post(stack, shipped("S-4", "+7 701 100 00 03"))[0] == 202
    finally:
        repos.db.dispose()
    time.sleep(0.5)
    assert texts_in(stack, "77015550011@c.us") == [] and texts_in(stack, MANAGER_NUMBER + "@c.us") == []
    assert texts_in(stack, "77011000003@c.us") == ["Айгуль, ваш заказ S-4 уже в пути 👠 Трек-номер: CDEK123."]


def test_a_503_burst_is_retried_and_sent_once(stack):
    with stack.faults({"method": "sendMessage", "status": 503, "count": 3}):
        status, answer = post(stack, shipped("B-1", "+7 701 100 00 04"))
        assert status == 202
        row = until_status(stack, answer["id"], "SENT")
    assert [(a["outcome"], a["http_status"]) for a in row["attempts"]] == [("RETRY", 503)] * 3 + [("SENT", None)]
    assert "RETRYING" in [h["status"] for h in row["history"]]
    assert len(texts_in(stack, "77011000004@c.us")) == 1


def test_status_webhooks_only_move_forward(stack):
    status, answer = post(stack, shipped("W-1", "+7 701 100 00 05"))
    id_message = until_status(stack, answer["id"], "SENT")["id_message"]
    steps = [("delivered", "DELIVERED"), ("sent", "DELIVERED"), ("read", "READ"), ("delivered", "READ"),
             ("sent", "READ"), ("failed", "READ")]
    for webhook, expected in steps:
        assert status_webhook(stack, id_message, webhook) == (200, {"notification_status": expected})
    row = get(stack, f"/{answer['id']}")[1]
    assert row["status"] == "READ" and row["delivered_at"] and row["read_at"]
    # read before delivered (webhooks in any order)
    status, other = post(stack, shipped("W-2", "+7 701 100 00 05"))
    other_id = until_status(stack, other["id"], "SENT")["id_message"]
    assert status_webhook(stack, other_id, "read")[1]["notification_status"] == "READ"
    assert status_webhook(stack, other_id, "delivered")[1]["notification_status"] == "READ"
    assert status_webhook(stack, "NOT-A-NOTIFICATION", "read") == (200, {"notification_status": None})
    assert http("POST", stack.desk + API + "/status-webhook", {"typeWebhook": "incomingMessageReceived"},
                headers=AUTH)[0] == 422


def test_a_failed_notification_is_retried_once_by_an_operator(stack):
    chat = "77011000006@c.us"
    status, answer = post(stack, shipped("F-1", "+7 701 100 00 06"))
    first_id = until_status(stack, answer["id"], "SENT")["id_message"]
    assert http("POST", f"{stack.desk}{API}/{answer['id']}/retry", headers=AUTH)[0] == 409  # SENT, not FAILED
    assert status_webhook(stack, first_id, "noAccount", description="no WhatsApp")[1] == {
        "notification_status": "FAILED"}
    failed = get(stack, f"/{answer['id']}")[1]
    assert failed["reason"] == "noAccount: no WhatsApp" and failed["failed_at"]
    status, retried = http("POST", f"{stack.desk}{API}/{answer['id']}/retry", headers=AUTH)
    assert (status, retried["status"], retried["send_round"]) == (202, "PENDING", 2)
    row = until_status(stack, answer["id"], "SENT")
    assert row["id_message"] != first_id and [a["round"] for a in row["attempts"]] == [1, 2]
    assert status_webhook(stack, first_id, "read")[1] == {"notification_status": None}  # the old round's message
    assert http("POST", f"{stack.desk}{API}/{answer['id']}/retry", headers=AUTH)[0] == 409
    assert http("POST", f"{stack.desk}{API}/999999/retry", headers=AUTH)[0] == 404
    assert len(texts_in(stack, chat)) == 2


def test_the_log_filters_pages_and_counts(stack):
    for index, name in enumerate(["Жанар Сейткали", "жанар", "Ольга"]):
        body = {"event": "refund_sent", "reference": f"L-{index}", "phone": f"+7 702 200 00 0{index}",
                "name": name, "vars": {"amount": 15990}}
        assert post(stack, body)[0] == 202
    status, page = get(stack, event="refund_sent", q="ЖАНАР", per_page=1, page=2)
    assert status == 200 and page["total"] == 2 and page["page"] == 2 and len(page["items"]) == 1
    assert page["items"][0]["name"] == "Жанар Сейткали"  # newest first: L-1 on page 1, L-0 on page 2
    assert page["items"][0]["text"] == "Жанар Сейткали, мы вернули 15 990 ₸ за заказ L-0. " \
                                       "Обычно деньги приходят за 1–3 рабочих дня."
    assert page["stats"]["total"] == 2 and set(page["stats"]) == {
        "total", "PENDING", "SENT", "DELIVERED", "READ", "FAILED", "RETRYING", "BLOCKED"}
    assert get(stack, phone="8 702 200 00 02")[1]["total"] == 1
    blocked = get(stack, "?status=BLOCKED")[1]
    assert blocked["total"] == blocked["stats"]["BLOCKED"] >= 3
    assert all(item["status"] == "BLOCKED" for item in blocked["items"])
    everything = get(stack, "")[1]
    assert everything["stats"]["total"] == everything["total"] == sum(
        v for k, v in everything["stats"].items() if k != "total")
    assert get(stack, "?since=2000-01-01&until=2000-01-02")[1]["total"] == 0
    for bad, field in (("?status=LOST", "status"), ("?page=0", "page"), ("?per_page=1000", "per_page"),
                       ("?since=yesterday", "since")):
        status, answer = get(stack, bad)
        assert (status, answer["field"]) == (422, field)
    assert get(stack, "/424242")[0] == 404


def test_quiet_hours_hold_non_urgent_ones_until_the_morning(stack):
    almaty = ZoneInfo("Asia/Almaty")
    night = dt.datetime(2026, 12, 3, 23, 30, tzinfo=almaty).timestamp()
    morning = dt.datetime(2026, 12, 4, 8, 0, 5, tzinfo=almaty).timestamp()
    stack.stop_desk()
    stack.set_clock(night)  # every process of the stack reads this clock
    try:
        stack.start_desk({**DESK_ENV, "NOTIFY_QUIET_HOURS": "22-8"})
        status, calm = post(stack, shipped("Q-1", "+7 701 100 00 07"))
        status, urgent = post(stack, {**shipped("Q-2", "+7 701 100 00 07"), "urgent": True})
        until_status(stack, urgent["id"], "SENT")
        held = get(stack, f"/{calm['id']}")[1]
        assert held["status"] == "PENDING" and held["due_at"].startswith("2026-12-04T03:00:00")  # 08:00 Almaty
        time.sleep(0.5)
        assert texts_in(stack, "77011000007@c.us") == ["Айгуль, ваш заказ Q-2 уже в пути 👠 Трек-номер: CDEK123."]
        stack.set_clock(morning)
        until_status(stack, calm["id"], "SENT")
        assert len(texts_in(stack, "77011000007@c.us")) == 2
    finally:
        stack.set_clock(None)
        stack.stop_desk()
        stack.start_desk(DESK_ENV)
