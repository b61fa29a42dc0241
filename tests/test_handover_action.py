"""The customer asks for a person: the action records the handover by every HANDOVER_METHODS way (real SQLite;
no group configured in shop_env, so nothing goes to GREEN-API), once per customer message, with the webhook's
signed body waiting in the outbox for the desk's relay."""
from __future__ import annotations

import json

from rasa_sdk.events import ConversationPaused

from actions.common import storage
from actions.handoff import ActionRequestManager
from tests.actions_helpers import make_tracker, run_action


async def test_a_customer_request_is_recorded_by_every_method(shop_env, monkeypatch):
    from tests.conftest import _clear_caches

    monkeypatch.setenv("HANDOVER_METHODS", "whatsapp_group,desk,webhook,email")
    monkeypatch.setenv("HANDOVER_WEBHOOK_URL", "http://127.0.0.1:9/crm")
    monkeypatch.setenv("HANDOVER_WEBHOOK_SECRET", "secret")
    _clear_caches()
    tracker = make_tracker("позовите менеджера", intent="request_manager", active_loop=None,
                           metadata={"chat_id": "77011234567@c.us", "sender_name": "Айгуль"}, message_id="M1")
    events, _ = await run_action(ActionRequestManager(), tracker)
    await run_action(ActionRequestManager(), tracker)  # the same message again (a retried action)
    assert ConversationPaused() in events
    repos = storage().repos
    rows = {r["method"]: r for r in repos.handovers.list()}
    assert {m: r["status"] for m, r in rows.items()} == {
        "whatsapp_group": "notified", "desk": "notified", "webhook": "pending", "email": "failed"}
    assert rows["email"]["last_error"].startswith("not configured")
    assert rows["desk"]["name"] == "Айгуль" and rows["desk"]["phone"] == "77011234567"
    assert json.loads(rows["desk"]["messages"])[-1] == {"from": "customer", "text": "позовите менеджера"}
    [webhook] = repos.outbox.list(kind="handover.webhook")
    body = json.loads(json.loads(webhook["payload"])["body"])
    assert (webhook["target"], body["type"], body["data"]["reason"]) == (
        "http://127.0.0.1:9/crm", "handover.requested", "customer_request")
