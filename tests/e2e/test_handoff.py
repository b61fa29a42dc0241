"""Manager takeover, escalation and nudges through the real sandbox, Rasa server and action server."""
import sqlite3
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.stack import AUTO_RESUME_MINUTES, GROUP_ID, MANAGER_NUMBER, RASA_API_TOKEN, http, wait_until

pytestmark = pytest.mark.e2e
MANAGER_CHAT = f"{MANAGER_NUMBER}@c.us"


def db(stack, query, *args):
    with sqlite3.connect(stack.tmp / "app.db") as connection:
        return connection.execute(query, args).fetchall()


def processed(stack, *id_messages):
    """Wait until the channel has finished with these messages: their inbox rows are DONE once the turn (or the
    recording of a paused chat's message) is over, and a reply is sent before that."""
    wait_until(lambda: all(db(stack, "SELECT status FROM inbox WHERE id_message = ?", m) == [("DONE",)]
                           for m in id_messages), timeout=60, what=f"{id_messages} processed")


def quiet(stack, chat, seconds=2.5, after=None):
    """The bot's messages in `chat` (for asserting that nothing comes): once the customer's message `after` was
    processed and half a second more, or, with no message to wait for, after `seconds`."""
    if after is not None:
        processed(stack, after)
        seconds = 0.5
    time.sleep(seconds)
    return stack.bot_messages(chat)


def pause_by_manager(stack, chat):
    stack.turn(chat, "здравствуйте")
    stack.manager_types(chat, "Добрый день, это Асель, менеджер. Сейчас подберу вам размер")
    wait_until(lambda: db(stack, "SELECT paused FROM handoffs WHERE chat_id = ?", chat) == [(1,)],
               what="the pause")


def test_manager_reply_pauses_only_that_chat_until_handed_back(stack):
    chat, other = "77012220001@c.us", "77012220002@c.us"
    pause_by_manager(stack, chat)
    before = len(stack.bot_messages(chat))
    asked = stack.say(chat, "а 38 есть?")
    assert len(quiet(stack, chat, after=asked)) == before  # silent while the manager talks
    assert "Оттенок" in stack.turn(other, "здравствуйте")[0]  # other chats still answered
    tracker = stack.tracker(chat)
    assert tracker["paused"] is True
    texts = [(e["event"], e.get("text")) for e in tracker["events"] if e["event"] in ("user", "bot")]
    assert ("bot", "Добрый день, это Асель, менеджер. Сейчас подберу вам размер") in texts
    assert texts[-1] == ("user", "а 38 есть?")  # the customer's message is recorded
    reply = stack.turn(MANAGER_CHAT, f"/handoff off {chat.split('@')[0]}")
    assert reply == [f"Бот снова отвечает в чате +{chat.split('@')[0]} ✅"]
    assert "Оттенок" in stack.turn(chat, "здравствуйте")[0]
    log = db(stack, "SELECT action, reason FROM handoff_log WHERE chat_id = ? ORDER BY id", chat)
    assert log == [("pause", "manager_typed"), ("resume", "command")]


def test_own_echo_and_group_messages_never_pause(stack):
    chat = "77012220003@c.us"
    stack.turn(chat, "здравствуйте")
    own_id = stack.bot_messages(chat)[-1]["idMessage"]
    echo = {"typeWebhook": "outgoingMessageReceived", "idMessage": own_id, "timestamp": 1,
            "instanceData": {"idInstance": 1101000001, "wid": "77010000000@c.us", "typeInstance": "whatsapp"},
            "senderData": {"chatId": chat, "sender": "77010000000@c.us", "senderName": "Оттенок"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "echo"}}}
    http("POST", f"{stack.sandbox}/sandbox/webhook", echo)
    in_group = stack.manager_types(GROUP_ID, "Девочки, новый заказ принят")
    processed(stack, own_id, in_group)
    assert db(stack, "SELECT chat_id FROM handoffs WHERE chat_id IN (?, ?)", chat, GROUP_ID) == []
    assert "Оттенок" in stack.turn(chat, "добрый день")[0]


def test_commands_from_anyone_else_grant_nothing(stack):
    chat, stranger = "77012220004@c.us", "77012220005@c.us"
    pause_by_manager(stack, chat)
    replies = stack.turn(stranger, f"/handoff off {chat.split('@')[0]}")
    assert not any("Бот снова отвечает" in (r or "") for r in replies)
    before = len(stack.bot_messages(chat))
    asked = stack.say(chat, "ау")
    assert len(quiet(stack, chat, after=asked)) == before
    assert db(stack, "SELECT paused FROM handoffs WHERE chat_id = ?", chat) == [(1,)]


def test_manager_commands_status_list_and_usage(stack):
    chat = "77012220006@c.us"
    number = chat.split("@")[0]
    stack.turn(chat, "здравствуйте")
    assert stack.turn(MANAGER_CHAT, f"/handoff on {number}") == [f"Бот остановлен в чате +{number} ✋"]
    status = stack.turn(MANAGER_CHAT, f"/handoff status +{number}")[0]
    assert status.startswith(f"Чат +{number}: бот на паузе с ") and "команда менеджера" in status
    assert f"• +{number} — с " in stack.turn(MANAGER_CHAT, "/handoff list")[0]
    assert stack.turn(MANAGER_CHAT, "/handoff pause")[0].startswith("Команды: /handoff on")
    assert stack.turn(MANAGER_CHAT, "/handoff off 77000000001")[0].startswith("Чат +77000000001 мне неизвестен.")
    assert stack.turn(MANAGER_CHAT, f"/handoff off {number}") == [f"Бот снова отвечает в чате +{number} ✅"]


def test_session_restart_in_rasa_keeps_the_pause(stack):
    chat = "77012220007@c.us"
    pause_by_manager(stack, chat)
    # what an expired session does to Rasa's tracker: a new session, which un-pauses it
    status, _ = http("POST", f"{stack.rasa}/conversations/{chat}/tracker/events?token={RASA_API_TOKEN}",
                     [{"event": "session_started"}, {"event": "action", "name": "action_listen"}])
    assert status == 200 and stack.tracker(chat)["paused"] is False
    before = len(stack.bot_messages(chat))
    asked = stack.say(chat, "есть балетки шанель 37?")
    assert len(quiet(stack, chat, after=asked)) == before
    assert stack.tracker(chat)["paused"] is True


def test_auto_resume_after_the_managers_silence(stack):
    chat = "77012220008@c.us"
    pause_by_manager(stack, chat)
    try:
        stack.set_clock(time.time() + (AUTO_RESUME_MINUTES - 1) * 60)
        before = len(stack.bot_messages(chat))
        asked = stack.say(chat, "алло")
        assert len(quiet(stack, chat, after=asked)) == before  # 29 minutes: still the manager's chat
        stack.set_clock(time.time() + (AUTO_RESUME_MINUTES + 1) * 60)
        wait_until(lambda: db(stack, "SELECT paused FROM handoffs WHERE chat_id = ?", chat) == [(0,)],
                   what="auto-resume")
        assert len(quiet(stack, chat, 1)) == before + 0  # resuming sends nothing by itself
        assert "Оттенок" in stack.turn(chat, "здравствуйте")[0]
    finally:
        stack.set_clock(None)
    assert db(stack, "SELECT action, reason, by FROM handoff_log WHERE chat_id = ? ORDER BY id", chat)[-1] == (
        "resume", "auto_resume", "bot")


def test_escalation_posts_once_and_pauses(stack):
    chat = "77012220009@c.us"
    stack.turn(chat, "есть балетки шанель 37?")
    group_before = [m for m in stack.messages(GROUP_ID) if m.get("by") == "bot"]
    replies = stack.turn(chat, "позовите менеджера пожалуйста")
    assert any("позову менеджера" in r for r in replies)
    wait_until(lambda: len([m for m in stack.messages(GROUP_ID) if m.get("by") == "bot"]) >= len(group_before) + 2,
               what="escalation posts")
    time.sleep(1.5)
    posts = [m for m in stack.messages(GROUP_ID) if m.get("by") == "bot"][len(group_before):]
    assert [p["type"] for p in posts] == ["contact", "text"]
    assert posts[0]["contact"]["phoneContact"] == int(chat.split("@")[0])
    assert posts[1]["text"].startswith("Клиент просит менеджера: Айгуль (+77012220009)")
    assert "— клиент: есть балетки шанель 37?" in posts[1]["text"]
    before = len(stack.bot_messages(chat))
    asked = stack.say(chat, "ну где вы")
    assert len(quiet(stack, chat, after=asked)) == before
    assert db(stack, "SELECT reason FROM handoff_log WHERE chat_id = ?", chat) == [("customer_request",)]


def test_nudge_due_while_rasa_was_down_is_sent_once(stack):
    chat = "77012220010@c.us"
    almaty = ZoneInfo("Asia/Almaty")
    asked_at = datetime(2026, 11, 23, 10, 0, tzinfo=almaty).timestamp()
    try:
        stack.set_clock(asked_at)
        replies = stack.turn(chat, "хочу заказать балетки шанель")
        assert "?" in replies[-1]
        due = wait_until(lambda: db(stack, "SELECT due_at, stage, status FROM nudges WHERE chat_id = ?", chat),
                         what="a scheduled nudge")
        assert due == [(datetime(2026, 11, 23, 13, 0, tzinfo=almaty).timestamp(), 1, "pending")]
        before = len(stack.bot_messages(chat))
        stack.stop_rasa()
        stack.set_clock(datetime(2026, 11, 23, 13, 5, tzinfo=almaty).timestamp())
        stack.start_rasa()
        wait_until(lambda: len(stack.bot_messages(chat)) > before, what="the nudge")
        second_due = datetime(2026, 11, 24, 13, 0, tzinfo=almaty).timestamp()
        wait_until(lambda: db(stack, "SELECT due_at, stage, status FROM nudges WHERE chat_id = ?", chat)
                   == [(second_due, 2, "pending")], what="nudge 2 scheduled")
        stack.stop_rasa()  # a second restart must not send it again
        stack.start_rasa()
        assert [m["text"] for m in quiet(stack, chat, 3)[before:]] == [
            "Вы ещё здесь? 🙂 Если остались вопросы или хотите оформить заказ, я на связи."]
        assert db(stack, "SELECT due_at, stage, status FROM nudges WHERE chat_id = ?", chat) == [
            (second_due, 2, "pending")]
        replies = stack.turn(chat, "алматы")  # the customer writes: the stage-2 reminder is replaced
        assert "?" in replies[-1]
        assert db(stack, "SELECT stage, status, due_at FROM nudges WHERE chat_id = ?", chat) == [
            (1, "pending", datetime(2026, 11, 23, 16, 5, tzinfo=almaty).timestamp())]
    finally:
        stack.set_clock(None)
