"""A send checks the pause: a reply the bot computed before a manager took the chat is dropped, not sent after the
manager's message, and the transcript says so. Real sandbox, Rasa and action servers; the turn is slowed by the
local LLM stand-in, so the manager types while it is in flight."""
import sqlite3
import time

import pytest

from tests.e2e.stack import wait_until
from tests.llm_stub import reply

pytestmark = pytest.mark.e2e


def test_manager_typing_during_a_turn_drops_the_bots_late_reply(stack, llm_stub):
    chat = "77012220021@c.us"
    stack.turn(chat, "здравствуйте")
    llm_stub.reset()
    late_answer = "Да, подарочные сертификаты есть: от 10 000 ₸, действуют 6 месяцев."
    llm_stub.script(reply(late_answer, delay=1.5))
    asked = stack.say(chat, "у вас есть подарочные сертификаты?")
    wait_until(lambda: len(llm_stub.requests) == 1, timeout=30, what="the turn to reach the LLM")
    manager_text = "Здравствуйте, это Асель, менеджер. Сейчас всё расскажу"
    manager_id = stack.manager_types(chat, manager_text)
    # the LLM answers after 1.5 s; the turn, then the manager's message, are over when their inbox rows are DONE
    # (what the turn sends goes out before)
    wait_until(lambda: all(stack.db("SELECT status FROM inbox WHERE id_message = ?", m) == [("DONE",)]
                           for m in (asked, manager_id)), timeout=30, what="the turn and the manager's message")
    time.sleep(0.5)

    messages = stack.messages(chat)
    manager_at = next(i for i, m in enumerate(messages) if m["idMessage"] == manager_id)
    assert [m for m in messages[manager_at + 1:] if m.get("by") == "bot"] == []
    assert late_answer not in [m.get("text") for m in messages]

    tracker = stack.tracker(chat)
    assert tracker["paused"] is True
    bot_events = [e for e in tracker["events"] if e["event"] == "bot"]
    dropped = [e for e in bot_events if (e.get("metadata") or {}).get("dropped")]
    assert [e["metadata"]["dropped_text"] for e in dropped] == [late_answer]
    assert bot_events[-1]["text"] == manager_text  # the manager's message is recorded after the dropped one
    with sqlite3.connect(stack.tmp / "app.db") as connection:
        assert connection.execute("SELECT paused, reason FROM handoffs WHERE chat_id = ?", (chat,)).fetchall() \
            == [(1, "manager_typed")]
