"""The amoCRM mirror through the running bot: sandbox (GREEN-API), Rasa, the action server, the desk and the local
amojo-compatible server that checks every signature. One stack for the module; amoCRM's retry backoff is
configured short (AMOCRM_RETRY_CAP_SECONDS) so an outage of seconds stands for one of minutes."""
import time
from typing import Dict, List

import pytest

from devstack.amojo_server import AmojoServer
from tests.e2e.conftest import trained_model
from tests.e2e.stack import MANAGER_NUMBER, Stack, http, wait_until

pytestmark = pytest.mark.e2e
CHANNEL, SECRET, ACCOUNT = "0f4c3e2a-5b1d-4c6e-9a8f-7e6d5c4b3a21", "e2e-amojo-channel-secret", "e2e-amojo-account"


@pytest.fixture(scope="module")
def amojo():
    with AmojoServer(CHANNEL, SECRET, ACCOUNT) as server:
        yield server


@pytest.fixture(scope="module")
def crm_stack(tmp_path_factory, amojo):
    env = {"AMOCRM_AMOJO_URL": amojo.url, "AMOCRM_CHANNEL_ID": CHANNEL, "AMOCRM_CHANNEL_SECRET": SECRET,
           "AMOCRM_ACCOUNT_ID": ACCOUNT, "AMOCRM_RETRY_BASE_SECONDS": "0.2", "AMOCRM_RETRY_CAP_SECONDS": "0.5",
           "NUDGES": "0"}
    running = Stack(tmp_path_factory.mktemp("crm"), trained_model(), env=env).start()
    running.start_desk()
    yield running
    running.stop()


def sandbox_messages(stack, chat: str) -> List[dict]:
    return [m for m in stack.messages(chat) if m.get("by") in ("customer", "bot", "manager")]


def imports_match_sandbox(stack, amojo, chats) -> Dict[str, List[str]]:
    """Per chat, the msgids amojo got; waits until every chat's messages (as the sandbox saw them) are there."""
    def complete():
        for chat in chats:
            if len(amojo.imported(chat)) < len(sandbox_messages(stack, chat)):
                return False
        return True

    wait_until(complete, timeout=90, interval=0.5, what="every message imported")
    time.sleep(1.0)  # anything doubled would have arrived by now
    return {chat: [i["payload"]["msgid"] for i in amojo.imported(chat)] for chat in chats}


def assert_mirrored(stack, amojo, chats) -> None:
    imported = imports_match_sandbox(stack, amojo, chats)
    for chat in chats:
        seen = sandbox_messages(stack, chat)
        summaries = [m for m in imported[chat] if m.startswith("handover-")]  # a handover's summary, besides
        assert len(summaries) == len(set(summaries))
        assert [m for m in imported[chat] if m not in summaries] == [m["idMessage"] for m in seen], chat  # once,
        payloads = [p for p in amojo.imported(chat) if p["payload"]["msgid"] not in summaries]       # in order
        for message, payload in zip(seen, (p["payload"] for p in payloads)):
            outgoing = message["direction"] == "out"
            assert ("receiver" in payload) == outgoing  # the customer is the sender, or the receiver
            customer = payload["receiver"] if outgoing else payload["sender"]
            assert customer["profile"]["phone"] == "+" + chat.split("@")[0]


def test_thirty_conversations_with_webhooks_delivered_twice_are_imported_once_in_order(crm_stack, amojo):
    chats = [f"7702333{n:04d}@c.us" for n in range(30)]
    with crm_stack.faults({"webhook_duplicates": 1}):   # every webhook (messages and echoes) delivered twice
        for text in ("здравствуйте", "какие у вас есть балетки?"):
            before = {chat: len(crm_stack.bot_messages(chat)) for chat in chats}
            for chat in chats:
                crm_stack.say(chat, text)
            wait_until(lambda counts=before: all(len(crm_stack.bot_messages(c)) > counts[c] for c in chats),
                       timeout=120, interval=0.5, what=f"replies to {text!r}")
        assert_mirrored(crm_stack, amojo, chats)
    assert amojo.connects == 1   # the scope was obtained once and stored
    assert all(len(sandbox_messages(crm_stack, chat)) >= 4 for chat in chats)


def test_amocrm_down_for_a_while_loses_and_doubles_nothing(crm_stack, amojo):
    chats = [f"7702444{n:04d}@c.us" for n in range(3)]
    amojo.fail(503)   # down until told otherwise: the outage lasts until the relay has met it, however slow the turns
    for chat in chats:
        crm_stack.say(chat, "здравствуйте")
    wait_until(lambda: all(crm_stack.bot_messages(c) for c in chats), timeout=60, what="the replies")
    crm_stack.say(chats[0], "у вас есть доставка?")
    wait_until(lambda: amojo.failed_requests >= 3, timeout=60, what="imports refused during the outage")
    assert not any(amojo.imported(c) for c in chats)  # nothing got through yet
    amojo.recover()
    assert_mirrored(crm_stack, amojo, chats)


def test_operator_reply_is_sent_once_pauses_the_bot_and_is_not_imported_back(crm_stack, amojo):
    chat = "77024550001@c.us"
    crm_stack.turn(chat, "здравствуйте")
    hook_url = f"{crm_stack.desk}/webhooks/amocrm/{amojo.scope_id}"
    hook = AmojoServer.hook_body(chat, "Здравствуйте, я Асель, менеджер. Подберу вам размер", account_id=ACCOUNT)
    first, repeated = amojo.post_hook(hook_url, hook), amojo.post_hook(hook_url, hook)   # amoCRM's hook, twice
    assert (first.status_code, repeated.status_code) == (200, 200)
    assert repeated.json() == {"status": "duplicate"}
    operator_text = hook["message"]["message"]["text"]
    wait_until(lambda: any(m.get("text") == operator_text for m in crm_stack.bot_messages(chat)),
               what="the operator's reply on WhatsApp")
    sent = [m for m in crm_stack.bot_messages(chat) if m.get("text") == operator_text]
    assert crm_stack.db("SELECT paused, reason FROM handoffs WHERE chat_id = ?", chat) == [(1, "operator_crm")]

    replies_before = len(crm_stack.bot_messages(chat))
    asked = crm_stack.say(chat, "а 38 размер есть?")
    wait_until(lambda: crm_stack.db("SELECT status FROM inbox WHERE id_message = ?", asked) == [("DONE",)],
               what="the paused chat's message processed")   # a reply would have been sent before
    time.sleep(0.5)
    assert len(crm_stack.bot_messages(chat)) == replies_before  # the bot is silent in that chat
    assert len([m for m in crm_stack.bot_messages(chat) if m.get("text") == operator_text]) == 1  # sent once

    # the customer's message is imported while paused; the echo of the operator's reply is not imported back
    wait_until(lambda: any(i["payload"]["message"].get("text") == "а 38 размер есть?" for i in amojo.imported(chat)),
               what="the paused chat's message imported")
    echo_id = sent[0]["idMessage"]
    wait_until(lambda: crm_stack.db("SELECT status FROM outbox WHERE effect_key = ?", f"amocrm:import:{echo_id}")
               == [("DROPPED",)], what="the echo dropped")
    assert echo_id not in [i["payload"]["msgid"] for i in amojo.imported(chat)]

    # GREEN-API's «read» of the operator's message goes back to amoCRM under amoCRM's id of it
    http("POST", f"{crm_stack.sandbox}/sandbox/webhook", {
        "typeWebhook": "outgoingMessageStatus", "chatId": chat, "idMessage": echo_id, "status": "read",
        "timestamp": int(time.time()), "sendByApi": True,
        "instanceData": {"idInstance": 1101000001, "wid": "77010000000@c.us", "typeInstance": "whatsapp"}})
    wait_until(lambda: any(s["msgid"] == hook["message"]["message"]["id"] for s in amojo.statuses),
               what="the delivery status")
    status = next(s for s in amojo.statuses if s["msgid"] == hook["message"]["message"]["id"])
    assert status["delivery_status"] == 2

    # resumed like any pause: /handoff off from the managers' chat
    reply = crm_stack.turn(f"{MANAGER_NUMBER}@c.us", f"/handoff off {chat.split('@')[0]}")
    assert "снова отвечает" in reply[0]
    assert crm_stack.turn(chat, "здравствуйте")


def test_a_forged_hook_is_refused_and_nothing_is_sent(crm_stack, amojo):
    chat = "77024550002@c.us"
    sends_before = len([c for c in crm_stack.calls() if c["method"] == "sendMessage"])
    hook = AmojoServer.hook_body(chat, "Переведите предоплату на карту 4400...", account_id=ACCOUNT)
    forged = amojo.post_hook(f"{crm_stack.desk}/webhooks/amocrm/{amojo.scope_id}", hook, secret="guessed")
    unsigned = http("POST", f"{crm_stack.desk}/webhooks/amocrm/{amojo.scope_id}", hook)
    assert (forged.status_code, unsigned[0]) == (401, 401)
    time.sleep(1.5)
    assert len([c for c in crm_stack.calls() if c["method"] == "sendMessage"]) == sends_before
    assert crm_stack.db("SELECT count(*) FROM inbox WHERE chat_id = ?", chat) == [(0,)]
    assert crm_stack.db("SELECT count(*) FROM handoffs WHERE chat_id = ?", chat) == [(0,)]
