"""Through real servers: the sandbox plays WhatsApp, Rasa and the action server are the real ones."""
import json
import sqlite3
import time
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest

from tests.e2e.stack import GROUP_ID, RASA_API_TOKEN, WEBHOOK_TOKEN, http, wait_until

pytestmark = pytest.mark.e2e

ORDER_TURNS = [
    ("здравствуйте", "Алина"),
    ("хочу заказать балетки шанель 37 черные", "В какой город"),
    ("алматы", "адрес"),
    ("ул абая 10 кв 5", "Проверьте, пожалуйста, заказ"),
    ("да", "Заказ №"),
]


def group_posts(stack):
    return [m for m in stack.messages(GROUP_ID) if m.get("by") == "bot"]


def run_order(stack, chat_id):
    for text, expected in ORDER_TURNS:
        replies = stack.turn(chat_id, text)
        assert any(expected in (r or "") for r in replies), (text, replies)


def test_order_over_webhooks_posts_one_card_and_one_order(stack):
    chat = "77011110001@c.us"
    before = len(group_posts(stack))
    run_order(stack, chat)
    wait_until(lambda: len(group_posts(stack)) >= before + 2, what="group posts")
    time.sleep(1)
    posts = group_posts(stack)[before:]
    assert [p["type"] for p in posts] == ["contact", "text"]
    assert posts[0]["contact"]["phoneContact"] == 77011110001 and posts[0]["contact"]["firstName"] == "Айгуль"
    order_text = posts[1]["text"]
    for fact in ("Новый заказ от Айгуль", "Chanel балетки", "Размер: 37", "Цвет: черный", "Город: Алматы",
                 "Адрес: ул абая 10 кв 5", "42 000 ₸"):
        assert fact in order_text


def test_order_over_polling(polling_stack):
    chat = "77011110002@c.us"
    before = len(group_posts(polling_stack))   # other tests share the polling stack's group
    run_order(polling_stack, chat)
    wait_until(lambda: len(group_posts(polling_stack)) >= before + 2, what="group posts")
    time.sleep(1)
    assert [p["type"] for p in group_posts(polling_stack)[before:]] == ["contact", "text"]


def test_duplicate_webhook_is_answered_once(stack):
    chat = "77011110003@c.us"
    with stack.faults({"webhook_duplicates": 2}):
        replies = stack.turn(chat, "здравствуйте")
    time.sleep(1.5)
    assert len(stack.bot_messages(chat)) == 1 and "Оттенок" in replies[0]


def test_webhook_without_the_bearer_token_gets_401(stack):
    body = {"typeWebhook": "incomingMessageReceived", "idMessage": "X1", "senderData": {"chatId": "1@c.us"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "привет"}}}
    url = f"{stack.rasa}/webhooks/greenapi/webhook"
    assert http("POST", url, body)[0] == 401
    assert http("POST", url, body, headers={"Authorization": "Bearer wrong"})[0] == 401


@pytest.mark.parametrize("raw", [b"{not json", b"[]", json.dumps({"typeWebhook": "incomingMessageReceived"}).encode(),
                                 json.dumps({"typeWebhook": "incomingMessageReceived", "idMessage": "A",
                                             "senderData": {}, "messageData": {}}).encode()])
def test_malformed_payloads_get_400_and_the_server_keeps_answering(stack, raw):
    url = f"{stack.rasa}/webhooks/greenapi/webhook"
    status, body = http("POST", url, raw=raw, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert status == 400 and body["error"]
    assert "Оттенок" in stack.turn("77011110004@c.us", "здравствуйте")[0]


def post_chunked(url: str, chunks, token: str):
    """A POST with Transfer-Encoding: chunked (no Content-Length to check up front)."""
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body=iter(chunks), encode_chunked=True,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        return connection.getresponse().status
    except (BrokenPipeError, ConnectionResetError):  # the server may close before the last chunk is written
        return None
    finally:
        connection.close()


def post_declaring(url: str, length: int, headers: dict) -> int:
    """Send only the headers of a POST declaring `length` bytes and return the status the server answers.

    The server must refuse on Content-Length alone. Writing the body too would race the server's close:
    the client may get a broken pipe instead of the 413 it was sent (CI saw exactly that)."""
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", parts.path)
        for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(length)}.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_webhook_body_over_the_size_limit_gets_413_and_the_bot_keeps_answering(stack):
    url = f"{stack.rasa}/webhooks/greenapi/webhook"
    text = "а" * 800_000   # 1.6 MB of UTF-8, over the default MAX_WEBHOOK_BYTES (1 MB)
    body = {"typeWebhook": "incomingMessageReceived", "idMessage": "HUGE1", "timestamp": 1,
            "senderData": {"chatId": "77011110099@c.us", "sender": "77011110099@c.us"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}}
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert post_declaring(url, len(raw), {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}) == 413
    assert post_declaring(url, len(raw), {}) == 413   # refused before auth: the body is never read
    chunked = post_chunked(url, [raw[i:i + 65536] for i in range(0, len(raw), 65536)], WEBHOOK_TOKEN)
    assert chunked in (413, None)
    log = (stack.tmp / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "over MAX_WEBHOOK_BYTES" in log
    assert stack.bot_messages("77011110099@c.us") == []
    # the next good message is answered as usual
    assert "Оттенок" in stack.turn("77011110099@c.us", "здравствуйте")[0]


def test_api_echo_and_status_webhooks_never_reach_the_dialogue(stack):
    chat = "77011110005@c.us"
    echo = {"typeWebhook": "outgoingAPIMessageReceived", "idMessage": "ECHO1",
            "senderData": {"chatId": chat, "sender": "77010000000@c.us"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "привет"}}}
    status = {"typeWebhook": "outgoingMessageStatus", "idMessage": "ECHO1", "status": "read", "chatId": chat}
    for body in (echo, status, {"typeWebhook": "somethingNew"}):
        assert http("POST", f"{stack.sandbox}/sandbox/webhook", body)[0] == 200
    time.sleep(2)
    assert stack.bot_messages(chat) == []


def test_group_message_gets_no_reply(stack):
    group = "120363999999999999@g.us"
    said = stack.say(group, "здравствуйте, есть балетки?", sender="77019998877@c.us")
    wait_until(lambda: stack.db("SELECT status FROM inbox WHERE id_message = ?", said) == [("DONE",)],
               timeout=60, what="the group message processed")   # a reply would have been sent before
    time.sleep(0.5)
    assert [m for m in stack.messages(group) if m.get("by") == "bot"] == []


def test_voice_note_gets_the_polite_reply(stack):
    replies = stack.turn("77011110006@c.us", "", typeMessage="audioMessage")
    assert replies == ["Я пока понимаю только текст 🙏 Напишите, пожалуйста, ваш вопрос сообщением, "
                       "и я сразу отвечу."]


def test_image_with_caption_is_handled_as_text(stack):
    replies = stack.turn("77011110007@c.us", "", typeMessage="imageMessage", caption="рассрочка без переплаты есть?")
    assert "0-0-12" in replies[0]   # quoted from shop/knowledge/payment.md


def test_429_then_success_delivers_once(stack):
    chat = "77011110008@c.us"
    with stack.faults({"method": "sendMessage", "status": 429, "count": 2}):
        replies = stack.turn(chat, "какие условия возврата")
    time.sleep(1)
    assert len(stack.bot_messages(chat)) == 1 and "14 дней" in replies[0]
    statuses = [c["httpStatus"] for c in stack.calls() if c.get("chatId") == chat and c["method"] == "sendMessage"]
    assert statuses == [429, 429, 200]


def test_a_reply_that_keeps_failing_with_500_is_relayed_once_the_server_recovers(stack):
    chat = "77011110009@c.us"

    def reply_rows(status):
        with sqlite3.connect(stack.tmp / "app.db") as db:
            return db.execute("SELECT status, kind FROM outbox WHERE chat_id = ? AND status = ?",
                              (chat, status)).fetchall()

    with stack.faults({"method": "sendMessage", "status": 500, "count": -1}):
        stack.say(chat, "какие способы оплаты")
        rows = wait_until(lambda: reply_rows("RETRYING"), timeout=60, what="the reply waiting in the outbox")
        assert stack.bot_messages(chat) == []
    assert rows[0][1] == "greenapi.reply"
    wait_until(lambda: reply_rows("SENT"), timeout=60, what="the reply relayed after the recovery")
    time.sleep(1)
    texts = [m["text"] for m in stack.bot_messages(chat)]
    assert texts and len(texts) == len(set(texts))  # delivered, each once


def test_photos_are_uploaded_to_the_media_host(stack):
    chat = "77011110010@c.us"
    stack.turn(chat, "скиньте фото балеток шанель")
    uploads = [c for c in stack.calls() if c.get("chatId") == chat and c["method"] == "sendFileByUpload"]
    assert 1 <= len(uploads) <= 3


def test_messages_triggered_through_the_http_api_reach_whatsapp(stack):
    chat = "77011110011@c.us"
    status, _ = http("POST", f"{stack.rasa}/conversations/{chat}/trigger_intent"
                             f"?output_channel=greenapi&token={RASA_API_TOKEN}", {"name": "greet"})
    assert status == 200
    texts = wait_until(lambda: [m["text"] for m in stack.bot_messages(chat)], what="the triggered reply")
    assert texts and "Оттенок" in texts[0]


def test_polling_backs_off_on_errors_without_busy_looping(polling_stack):
    """The sandbox records a receiveNotification call when it answers, and a long poll with nothing to return
    lasts the bot's receiveTimeout (20 s). So that the test waits seconds, not two long polls: a notification the
    bot ignores ends the poll in flight (the next ones meet the faults), and the customer writes during the last
    backoff step, so the first poll after the errors returns at once with the message."""
    mark = polling_stack.calls()[-1]["seq"]
    http("POST", f"{polling_stack.sandbox}/sandbox/faults", {"method": "receiveNotification", "status": 500, "count": 3})
    http("POST", f"{polling_stack.sandbox}/sandbox/webhook",
         {"typeWebhook": "outgoingMessageStatus", "idMessage": "WAKE1", "status": "read", "chatId": "77011110012@c.us"})

    def polls():
        return [c for c in polling_stack.calls() if c["seq"] > mark and c["method"] == "receiveNotification"]

    def recovered():
        failed = [c for c in polls() if c["httpStatus"] == 500]
        after = [c for c in polls() if failed and c["seq"] > failed[-1]["seq"]]
        return (failed, after[0]) if len(failed) == 3 and after else None

    wait_until(lambda: len([c for c in polls() if c["httpStatus"] == 500]) == 3, timeout=60,
               what="three failed polls")
    # the customer writes while the poller waits out its backoff; it is answered once polling has recovered
    assert "Оттенок" in polling_stack.turn("77011110012@c.us", "здравствуйте")[0]
    failed, next_poll = wait_until(recovered, timeout=60, what="three failed polls and a recovery")
    gaps = [b["time"] - a["time"] for a, b in zip(failed, failed[1:] + [next_poll])]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9 and gaps[2] >= 3.9, gaps
