"""The amoCRM Chats API mirror without Rasa: the signature against amoCRM's documented example, the client against
the local amojo-compatible server (which checks signatures), and the mirror + relay through an amoCRM outage
(time compressed: the relay's backoff is configured in tenths of a second instead of up to a minute)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any, Dict, List

import pytest

from devstack.amojo_server import AmojoServer
from salesbot.amocrm.client import AmojoClient
from salesbot.amocrm.hooks import HookError, parse_hook
from salesbot.amocrm.mirror import AMOCRM_IMPORT, AmocrmMirror, build_import, enqueue_handover_summary
from salesbot.amocrm.relay import amojo_relay
from salesbot.amocrm.signing import (
    content_md5,
    encode_body,
    hook_signed,
    request_problem,
    rfc2822_date,
    signed_headers,
    string_to_sign,
)
from salesbot.db import Repositories, open_database
from salesbot.outbox import TerminalError
from salesbot.settings import load_settings

# amoCRM's documentation, "Chats API methods" → Authorization: the worked example (connect request)
DOC_SECRET = "5a44c5dff55f3c15a4cce8d7c4cc27e207c7e189"
DOC_DATE = "Thu, 29 Oct 2020 11:59:55 +0000"
DOC_PATH = "/v2/origin/custom/f90ba33d-c9d9-44da-b76c-c349b0ecbe41/connect"
DOC_BODY = b'{"account_id":"af9945ff-1490-4cad-807d-945c15d88bec","title":"ScopeTitle","hook_api_version":"v2"}'
DOC_CONTENT_MD5 = "a5e8ae04332a6d0aac15f01ad05d40e3"  # the Content-MD5 the documentation shows for this body

CHANNEL, SECRET, ACCOUNT = "f90ba33d-c9d9-44da-b76c-c349b0ecbe41", "channel-secret-for-tests", "af9945ff-account"


def test_signature_follows_the_documented_example():
    assert content_md5(DOC_BODY) == DOC_CONTENT_MD5
    assert encode_body({"account_id": "af9945ff-1490-4cad-807d-945c15d88bec", "title": "ScopeTitle",
                        "hook_api_version": "v2"}) == DOC_BODY  # the same bytes PHP's json_encode gives
    assert rfc2822_date(1603972795) == DOC_DATE
    expected_string = f"POST\n{DOC_CONTENT_MD5}\napplication/json\n{DOC_DATE}\n{DOC_PATH}"
    assert string_to_sign("post", DOC_CONTENT_MD5, "application/json", DOC_DATE, DOC_PATH) == expected_string
    headers = signed_headers(DOC_SECRET, "POST", DOC_PATH, DOC_BODY, 1603972795)
    assert headers == {"Date": DOC_DATE, "Content-Type": "application/json", "Content-MD5": DOC_CONTENT_MD5,
                       "X-Signature": hmac.new(DOC_SECRET.encode(), expected_string.encode(),
                                               hashlib.sha1).hexdigest()}
    assert request_problem(DOC_SECRET, "POST", DOC_PATH, headers, DOC_BODY) is None
    assert request_problem(DOC_SECRET, "POST", DOC_PATH, headers, DOC_BODY + b" ") == \
        "Content-MD5 does not match the body"
    assert request_problem("another-secret", "POST", DOC_PATH, headers, DOC_BODY) == "X-Signature is wrong"
    assert request_problem(DOC_SECRET, "POST", DOC_PATH + "x", headers, DOC_BODY) == "X-Signature is wrong"
    assert "15 minutes" in request_problem(DOC_SECRET, "POST", DOC_PATH, headers, DOC_BODY, time.time())


def test_hook_signature_is_the_hmac_of_the_raw_body():
    body = b'{"account_id":"x","message":{}}'
    good = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert hook_signed(SECRET, body, good) and hook_signed(SECRET, body, good.upper())
    assert not hook_signed(SECRET, body + b"\n", good)
    assert not hook_signed(SECRET, body, None) and not hook_signed("", body, good)


def test_hooks_are_parsed_or_refused_with_a_reason():
    hook = AmojoServer.hook_body("77011234567@c.us", "Здравствуйте! Размер 38 есть", message_id="m-1")
    reply = parse_hook(hook)
    assert (reply.chat_id, reply.amojo_id, reply.text, reply.media) == ("77011234567@c.us", "m-1",
                                                                          "Здравствуйте! Размер 38 есть", "")
    picture = parse_hook(AmojoServer.hook_body("77011234567@c.us", "", media="https://cdn.example/p/1.jpg?x=1"))
    assert (picture.media, picture.file_name) == ("https://cdn.example/p/1.jpg?x=1", "1.jpg")
    started_in_crm = AmojoServer.hook_body("77011234567@c.us", "Добрый день")
    del started_in_crm["message"]["conversation"]["client_id"]
    assert parse_hook(started_in_crm).chat_id == "77011234567@c.us"  # from the receiver's phone
    for broken, reason in [({}, "no message object"),
                           (AmojoServer.hook_body("120363000000000001@g.us", "x"), "not a WhatsApp chat"),
                           (AmojoServer.hook_body("77011234567@c.us", ""), "neither text nor media"),
                           (AmojoServer.hook_body("77011234567@c.us", "x", media="file:///etc/passwd"), "link")]:
        with pytest.raises(HookError, match=reason):
            parse_hook(broken)


def webhook(type_webhook: str, chat_id: str, id_message: str, text: str, timestamp: int, name: str = "Айгуль",
            message_data: Dict[str, Any] = None) -> Dict[str, Any]:
    return {"typeWebhook": type_webhook, "timestamp": timestamp, "idMessage": id_message,
            "senderData": {"chatId": chat_id, "chatName": name, "sender": chat_id, "senderName": name},
            "messageData": message_data or {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}}


def test_imports_say_who_wrote_and_carry_media_as_links():
    incoming = build_import(webhook("incomingMessageReceived", "77011234567@c.us", "A1", "привет", 1700000000), 0)
    assert incoming["sender"] == {"id": "wa-77011234567@c.us", "name": "Айгуль",
                                  "profile": {"phone": "+77011234567"}}
    assert "receiver" not in incoming and incoming["message"] == {"type": "text", "text": "привет"}
    assert (incoming["msgid"], incoming["conversation_id"], incoming["timestamp"]) == ("A1", "77011234567@c.us",
                                                                                      1700000000)
    bot = build_import(webhook("outgoingAPIMessageReceived", "77011234567@c.us", "B1", "Здравствуйте", 1), 0)
    assert bot["receiver"]["id"] == "wa-77011234567@c.us" and bot["sender"]["id"] == "salesbot-bot"
    photo = {"typeMessage": "imageMessage", "fileMessageData": {"downloadUrl": "https://media.example/f/1.jpg",
                                                                "caption": "вот", "fileName": "1.jpg"}}
    typed = build_import(webhook("outgoingMessageReceived", "77011234567@c.us", "C1", "", 1, message_data=photo), 0)
    assert typed["sender"]["id"] == "salesbot-shop-phone"
    assert typed["message"] == {"type": "picture", "text": "вот", "media": "https://media.example/f/1.jpg",
                                "file_name": "1.jpg", "file_size": 0}
    assert build_import(webhook("incomingMessageReceived", "120363000000000001@g.us", "G1", "x", 1), 0) is None


def test_client_connects_and_a_wrong_secret_is_refused():
    async def scenario(server: AmojoServer) -> None:
        client = AmojoClient(server.url, CHANNEL, SECRET, ACCOUNT)
        assert await client.connect("WhatsApp") == server.scope_id
        forged = AmojoClient(server.url, CHANNEL, "not-the-secret", ACCOUNT)
        with pytest.raises(TerminalError) as refused:
            await forged.connect("WhatsApp")
        assert refused.value.http_status == 403
        await client.close()
        await forged.close()

    with AmojoServer(CHANNEL, SECRET, ACCOUNT) as server:
        asyncio.run(scenario(server))
        assert server.connects == 1 and server.rejected[0]["problem"] == "X-Signature is wrong"


def test_an_amocrm_outage_loses_nothing_doubles_nothing_and_keeps_order(tmp_path):
    """Webhooks (each delivered twice) arrive while amoCRM answers 503; when it is back everything is imported,
    once, in order per chat. The outage is seconds, not 10 minutes: the backoff is configured short."""
    repos = Repositories(open_database(f"sqlite:///{tmp_path / 'app.db'}"))
    mirror = AmocrmMirror(repos)
    chats = [f"7701555000{n}@c.us" for n in range(6)]
    expected: Dict[str, List[str]] = {chat: [] for chat in chats}
    with AmojoServer(CHANNEL, SECRET, ACCOUNT) as server:
        server.fail(503, seconds=2.5)
        settings = load_settings({"AMOCRM_AMOJO_URL": server.url, "AMOCRM_CHANNEL_ID": CHANNEL,
                                  "AMOCRM_CHANNEL_SECRET": SECRET, "AMOCRM_ACCOUNT_ID": ACCOUNT,
                                  "AMOCRM_RETRY_BASE_SECONDS": "0.1", "AMOCRM_RETRY_CAP_SECONDS": "0.4"})

        async def scenario() -> None:
            amojo = amojo_relay(settings, repos)
            stop = asyncio.Event()
            running = asyncio.create_task(amojo.run(stop))
            for step in range(4):
                for chat in chats:
                    kind = "incomingMessageReceived" if step % 2 == 0 else "outgoingAPIMessageReceived"
                    body = webhook(kind, chat, f"{chat[:11]}-{step}", f"сообщение {step}", 1700000000 + step)
                    for _ in range(2):  # GREEN-API delivers at least once: here twice
                        await asyncio.to_thread(mirror.enqueue, body, time.time() - 10)
                    expected[chat].append(body["idMessage"])
                await asyncio.sleep(0.2)
            deadline = time.monotonic() + 30
            while len(server.imported()) < 24 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            stop.set()
            await running
            await amojo.close()

        asyncio.run(scenario())
        assert server.failed_requests > 0  # the relay did meet the outage
        imported = server.imported()
    msgids = [i["payload"]["msgid"] for i in imported]
    assert sorted(msgids) == sorted(m for ids in expected.values() for m in ids)  # all, each once
    for chat in chats:
        in_chat = [i["payload"] for i in imported if i["payload"]["conversation_id"] == chat]
        assert [p["msgid"] for p in in_chat] == expected[chat]  # in order
        assert ["receiver" in p for p in in_chat] == [False, True, False, True]  # the right direction
    assert {r["status"] for r in repos.outbox.list(kind=AMOCRM_IMPORT)} == {"SENT"}


def test_a_handover_summary_is_queued_once_behind_the_chat_s_messages(tmp_path):
    repos = Repositories(open_database(f"sqlite:///{tmp_path / 'app.db'}"))
    chat = "77015550101@c.us"
    AmocrmMirror(repos).enqueue(webhook("incomingMessageReceived", chat, "H1", "позовите менеджера", 1700000000))
    assert enqueue_handover_summary(repos, "customer_request:x:H1", chat, "Айгуль", "Клиент просит менеджера")
    assert not enqueue_handover_summary(repos, "customer_request:x:H1", chat, "Айгуль", "Клиент просит менеджера")
    rows = repos.outbox.list(kind=AMOCRM_IMPORT)
    assert [r["sequence_key"] for r in rows] == [f"amocrm:{chat}"] * 2
    summary = json.loads(rows[1]["payload"])["payload"]
    assert summary["message"]["text"] == "🔔 Чат передан менеджеру: Клиент просит менеджера"
    assert summary["receiver"]["id"] == f"wa-{chat}" and summary["silent"] is False


def test_the_desk_answers_404_to_hooks_while_the_mirror_is_off(tmp_path):
    from starlette.testclient import TestClient

    from salesbot.desk.app import create_app
    from salesbot.desk.config import load_desk_config

    config = load_desk_config({"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "RUNTIME_DIR": str(tmp_path)})
    with TestClient(create_app(config)) as desk:
        answer = desk.post("/webhooks/amocrm/any-scope", content=b"{}", headers={"X-Signature": "0" * 40})
    assert answer.status_code == 404 and "off" in answer.json()["error"]


def test_the_channel_stores_a_notification_and_its_crm_row_in_one_transaction(tmp_path):
    """A customer's message and its import row go to the database together (one commit, before the 200); a copy
    adds neither; an echo of the bot's send is mirrored without an inbox row; a «sent» status adds nothing."""
    import sqlalchemy as sa

    from salesbot.greenapi.webhooks import parse_webhook
    from tests.channel.test_router_and_poller import make_router

    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        router.mirror = AmocrmMirror(storage.repos)
        chat = "77015550102@c.us"
        commits = []
        sa.event.listen(storage.db.engine, "commit", lambda connection: commits.append(1))
        conversation.hold["привет"] = asyncio.Event()   # the turn waits: only what accept does is counted
        body = webhook("incomingMessageReceived", chat, "C1", "привет", 1700000000)
        await router.accept(parse_webhook(body))
        assert len(commits) == 1
        assert storage.repos.inbox.get(chat, "C1")["status"] == "RECEIVED"
        assert [r["effect_key"] for r in storage.repos.outbox.list(kind=AMOCRM_IMPORT)] == ["amocrm:import:C1"]
        await router.accept(parse_webhook(body))   # GREEN-API delivered it twice
        await router.accept(parse_webhook(webhook("outgoingAPIMessageReceived", chat, "B1", "Здравствуйте", 1)))
        await router.accept(parse_webhook({"typeWebhook": "outgoingMessageStatus", "chatId": chat,
                                           "idMessage": "B1", "status": "sent", "timestamp": 1}))
        assert [r["effect_key"] for r in storage.repos.outbox.list(kind=AMOCRM_IMPORT)] == [
            "amocrm:import:C1", "amocrm:import:B1"]
        assert [row["id_message"] for row in storage.repos.inbox.received()] == ["C1"]
        await router.worker.stop()
        storage.db.dispose()

    asyncio.run(scenario())
