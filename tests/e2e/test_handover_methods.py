"""A customer asks for a person through the whole stack (sandbox, Rasa, action server, desk): the managers'
group gets the post as before and the shop's CRM gets one signed `handover.requested` webhook, sent by the desk."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import trained_model
from tests.e2e.stack import GROUP_ID, Stack, wait_until
from tests.test_desk_handover_webhook import SECRET, Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    receiver = Receiver()
    stack = Stack(tmp_path_factory.mktemp("handover-e2e"), trained_model(), env={
        "HANDOVER_METHODS": "whatsapp_group,desk,webhook", "HANDOVER_WEBHOOK_URL": receiver.url,
        "HANDOVER_WEBHOOK_SECRET": SECRET, "DESK_RELAY_POLL_SECONDS": "0.2"})
    try:
        stack.start()
        stack.start_desk()
        yield stack, receiver
    finally:
        stack.stop()
        receiver.close()


def test_asking_for_a_manager_reaches_the_group_and_the_crm_once(setup):
    stack, receiver = setup
    chat = "77013330001@c.us"
    stack.turn(chat, "здравствуйте")
    group_before = len(stack.bot_messages(GROUP_ID))
    stack.turn(chat, "позовите менеджера пожалуйста")
    delivery = wait_until(lambda: receiver.received[-1] if receiver.received else None, timeout=30,
                          what="the CRM webhook")
    assert delivery["verified"] and delivery["payload"]["type"] == "handover.requested"
    data = delivery["payload"]["data"]
    assert (data["chat_id"], data["phone"], data["reason"]) == (chat, "77013330001", "customer_request")
    assert data["messages"][-1] == {"from": "customer", "text": "позовите менеджера пожалуйста"}
    wait_until(lambda: len(stack.bot_messages(GROUP_ID)) > group_before, what="the group post")
    assert any("менеджер" in (m.get("text") or "") for m in stack.bot_messages(GROUP_ID)[group_before:])
    assert len(receiver.received) == 1
