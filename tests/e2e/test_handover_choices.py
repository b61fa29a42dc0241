"""HANDOVER_CUSTOMER_CHOICES through the whole stack (sandbox, Rasa, action server, desk): the bot asks how the
customer prefers to be contacted, the CRM webhook waits for the answer, and the signed payload carries it."""
from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import trained_model
from tests.e2e.stack import Stack, wait_until
from tests.test_desk_handover_webhook import SECRET, Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    receiver = Receiver()
    stack = Stack(tmp_path_factory.mktemp("choices-e2e"), trained_model(), env={
        "HANDOVER_METHODS": "whatsapp_group,webhook", "HANDOVER_WEBHOOK_URL": receiver.url,
        "HANDOVER_WEBHOOK_SECRET": SECRET, "DESK_RELAY_POLL_SECONDS": "0.2",
        "HANDOVER_CUSTOMER_CHOICES": "whatsapp,call,email", "HANDOVER_CHOICE_WAIT_SECONDS": "120"})
    try:
        stack.start()
        stack.start_desk()
        yield stack, receiver
    finally:
        stack.stop()
        receiver.close()


def test_the_customers_choice_reaches_the_crm_in_the_signed_payload(setup):
    stack, receiver = setup
    chat = "77013330077@c.us"
    stack.turn(chat, "здравствуйте")
    replies = stack.turn(chat, "позовите менеджера пожалуйста")
    assert replies[-1] == "Как вам удобнее: WhatsApp, звонок или e-mail?"
    time.sleep(2.0)  # the desk's relay polls every 0.2 s: a webhook not held would have arrived
    assert receiver.received == []
    assert stack.turn(chat, "лучше позвоните вечером") == ["Хорошо, менеджер вам позвонит."]
    delivery = wait_until(lambda: receiver.received[-1] if receiver.received else None, timeout=30,
                          what="the CRM webhook")
    assert delivery["verified"] and delivery["payload"]["type"] == "handover.requested"
    data = delivery["payload"]["data"]
    assert (data["chat_id"], data["reason"], data["preferred_contact"]) == (chat, "customer_request", "call")
    assert data["messages"][-1] == {"from": "customer", "text": "лучше позвоните вечером"}
    stack.say(chat, "и ещё на почту можно")  # a second answer changes nothing and gets no reply
    time.sleep(2.0)
    assert stack.bot_messages(chat)[-1]["text"] == "Хорошо, менеджер вам позвонит."
    assert len(receiver.received) == 1
