"""Nothing lost, nothing twice, through the real servers: kill -9 of the Rasa server with turns in flight and
messages queued, the managers' group failing with 503 and recovering, sends that time out, the action server
killed during a confirmation."""
import sqlite3
import time

import pytest

from tests.e2e.conftest import trained_model
from tests.e2e.stack import GROUP_ID, Stack, wait_until

pytestmark = pytest.mark.e2e

SEND_TIMEOUT_SECONDS = 3
SCRIPT = ["здравствуйте", "хочу заказать балетки шанель 37 черные", "алматы"]
ORDER = SCRIPT + ["ул абая 10 кв 5", "да"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {"GREEN_API_TIMEOUT_SECONDS": str(SEND_TIMEOUT_SECONDS), "NUDGES": "0"}
    running = Stack(tmp_path_factory.mktemp("crash"), trained_model(), env=env).start()
    yield running
    running.stop()


def bot_texts(stack, chat):
    return [m.get("text") or m.get("type") for m in stack.bot_messages(chat)]


def group_posts(stack):
    return [m for m in stack.messages(GROUP_ID) if m.get("by") == "bot"]


def user_message_ids(stack, chat):
    return [e.get("message_id") for e in stack.tracker(chat)["events"] if e.get("event") == "user"]


def test_kill_9_of_rasa_mid_turn_answers_every_message_once_in_order(stack):
    reference = "77012220000@c.us"
    for text in SCRIPT:
        stack.turn(reference, text)
    expected = bot_texts(stack, reference)
    assert len(expected) >= len(SCRIPT)

    chats = [f"7701222{n:04d}@c.us" for n in range(1, 21)]  # 20 chats, 60 messages
    with stack.faults({"method": "sendMessage", "delay_ms": 700, "count": -1}):  # every turn takes a while
        sent = {chat: [stack.say(chat, text) for text in SCRIPT] for chat in chats}
        wait_until(lambda: sum(len(stack.bot_messages(c)) for c in chats) >= 3, timeout=60, what="turns under way")
        stack.kill("rasa")
        before_restart = {chat: len(stack.bot_messages(chat)) for chat in chats}
        assert sum(before_restart.values()) < len(chats) * len(expected)  # turns were in flight or queued
        received = stack.db("SELECT count(*) FROM inbox WHERE status = 'RECEIVED'")[0][0]
        assert received > 0
        stack.start_rasa()
        wait_until(lambda: all(len(stack.bot_messages(c)) >= len(expected) for c in chats), timeout=180,
                   what="every message answered after the restart")
    time.sleep(3)  # anything sent twice would arrive now
    for chat in chats:
        assert bot_texts(stack, chat) == expected, chat  # each message answered once, in order
        assert user_message_ids(stack, chat) == sent[chat], chat  # each turn once in the conversation
    assert stack.db("SELECT count(*) FROM inbox WHERE status != 'DONE'")[0][0] == 0
    log = (stack.tmp / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "queued again" in log


def test_group_503_for_a_while_then_the_order_is_posted_exactly_once(stack):
    chat = "77012221001@c.us"
    before = len(group_posts(stack))
    with stack.faults({"method": "sendContact", "status": 503, "count": -1}):
        replies = []
        for text in ORDER:
            replies = stack.turn(chat, text)
        assert any("Заказ №" in r and "сохранён" in r for r in replies), replies  # told at once, truthfully
        order_id = stack.db("SELECT id FROM orders WHERE chat_id = ?", chat)[0][0]
        wait_until(lambda: len(stack.db("SELECT 1 FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id "
                                        "WHERE o.effect_key = ? AND a.http_status = 503",
                                        f"order:{order_id}:contact")) >= 3, timeout=60, what="503s")
        assert len(group_posts(stack)) == before  # the details wait behind the card
    wait_until(lambda: len(group_posts(stack)) >= before + 2, timeout=120, what="the order posted after recovery")
    time.sleep(3)
    posts = group_posts(stack)[before:]
    assert [p["type"] for p in posts] == ["contact", "text"]
    assert f"№ {order_id}" in posts[1]["text"]
    assert stack.db("SELECT status FROM outbox WHERE effect_key LIKE ?", f"order:{order_id}:%") == [
        ("SENT",), ("SENT",)]


def test_send_timeouts_never_deliver_a_customer_message_twice(stack):
    chat = "77012221002@c.us"
    reference = "77012221003@c.us"
    expected = stack.turn(reference, "здравствуйте")
    # the first send is performed only after the client gave up waiting: its outcome is unknown to the bot
    with stack.faults({"method": "sendMessage", "delay_ms": (SEND_TIMEOUT_SECONDS + 2) * 1000, "count": 1}):
        stack.say(chat, "здравствуйте")
        wait_until(lambda: len(stack.bot_messages(chat)) >= len(expected), timeout=60, what="the reply")
    wait_until(lambda: stack.db("SELECT 1 FROM outbox WHERE chat_id = ? AND status = 'SENT'", chat), timeout=60,
               what="the relay's delivery check")
    time.sleep(2)
    assert bot_texts(stack, chat) == expected  # once each, in order
    outcomes = [r[0] for r in stack.db("SELECT a.outcome FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id "
                                       "WHERE o.chat_id = ? ORDER BY a.id", chat)]
    assert "ALREADY_DELIVERED" in outcomes and "TIMEOUT" not in outcomes  # found in the journal, not re-sent
    sends = [c for c in stack.calls() if c.get("chatId") == chat and c["method"] == "sendMessage"]
    assert len(sends) == len(expected)


def test_action_server_killed_during_the_confirmation_one_order_posted_once(stack):
    """The action server is killed the moment the order row appears: inside `action_submit_order`, between storing
    the order and answering Rasa (when the action is quicker than the kill, the turn simply completes)."""
    chat = "77012221004@c.us"
    before = len(group_posts(stack))
    for text in ORDER[:-1]:
        stack.turn(chat, text)
    stack.say(chat, "да")
    wait_until(lambda: stack.db("SELECT id FROM orders WHERE chat_id = ?", chat), interval=0.005, what="the order")
    stack.kill("actions")
    stack.start_actions()
    time.sleep(2)
    if not any("Заказ №" in (t or "") for t in bot_texts(stack, chat)):
        stack.turn(chat, "да")  # no confirmation came: the customer confirms again
    confirmations = [t for t in bot_texts(stack, chat) if "Заказ №" in (t or "")]
    assert len(confirmations) == 1, bot_texts(stack, chat)
    orders = stack.db("SELECT id FROM orders WHERE chat_id = ?", chat)
    assert len(orders) == 1
    wait_until(lambda: len(group_posts(stack)) >= before + 2, timeout=60, what="the order's posts")
    time.sleep(2)
    posts = group_posts(stack)[before:]
    assert [p["type"] for p in posts] == ["contact", "text"] and f"№ {orders[0][0]}" in posts[1]["text"]


def test_action_server_killed_while_storing_the_order_the_turn_is_run_again(stack):
    """The kill lands inside `action_submit_order` before the order is stored: the test holds the database's write
    lock, so the action waits in its INSERT when it is killed. Rasa saves nothing of that turn; the channel runs
    it again once the action server is back: one confirmation, one order, posted once, without the customer
    having to confirm again."""
    chat = "77012221005@c.us"
    before = len(group_posts(stack))
    for text in ORDER[:-1]:
        stack.turn(chat, text)
    replies_before = len(stack.bot_messages(chat))
    lock = sqlite3.connect(stack.tmp / "app.db", timeout=30, isolation_level=None)
    try:
        id_message = stack.say(chat, "да")
        # the channel stored and started the message (its last write before the turn's end): now take the lock
        wait_until(lambda: stack.db("SELECT 1 FROM inbox WHERE id_message = ? AND attempts > 0", id_message),
                   interval=0.002, what="the turn under way")
        lock.execute("BEGIN IMMEDIATE")  # the one writer: the action's INSERT of the order waits behind it
        time.sleep(1.5)
        stack.kill("actions")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert stack.db("SELECT id FROM orders WHERE chat_id = ?", chat) == []
    stack.start_actions()
    wait_until(lambda: any("Заказ №" in (t or "") for t in bot_texts(stack, chat)), timeout=90,
               what="the confirmation after the action server is back")
    wait_until(lambda: len(group_posts(stack)) >= before + 2, timeout=60, what="the order's posts")
    time.sleep(2)
    new_replies = bot_texts(stack, chat)[replies_before:]
    assert len([t for t in new_replies if "Заказ №" in (t or "")]) == 1, new_replies
    orders = stack.db("SELECT id FROM orders WHERE chat_id = ?", chat)
    assert len(orders) == 1
    posts = group_posts(stack)[before:]
    assert [p["type"] for p in posts] == ["contact", "text"] and f"№ {orders[0][0]}" in posts[1]["text"]
    assert user_message_ids(stack, chat).count(id_message) == 1
    assert "turn not recorded" in (stack.tmp / "rasa.log").read_text(encoding="utf-8", errors="replace")
