"""Ready before offered: what customers type while the Rasa server is still starting is not lost.

The sandbox and the action server start first; messages are typed; only then does the Rasa server start. The
sandbox keeps re-delivering the refused webhooks, so every message is answered once the bot is up, in order,
exactly once; the sandbox's bot indicator goes from down to up."""
import time

import pytest

from tests.e2e.conftest import trained_model
from tests.e2e.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

TEXTS = ["здравствуйте", "хочу заказать балетки шанель 37 черные", "алматы"]  # no LLM here: form turns


def user_and_bot_events(tracker):
    return [(e["event"], e.get("message_id")) for e in tracker["events"] if e["event"] in ("user", "bot")]


def test_messages_typed_before_rasa_starts_are_all_answered_in_order_once(tmp_path):
    stack = Stack(tmp_path, trained_model()).start(with_rasa=False)
    try:
        chats = ["77013330001@c.us", "77013330002@c.us"]
        sent = {chat: [stack.say(chat, text) for text in TEXTS] for chat in chats}
        time.sleep(2)
        status = stack.bot_status()
        assert status["up"] is False and status["pendingWebhooks"] > 0
        assert all(stack.bot_messages(chat) == [] for chat in chats)

        stack.start_rasa()
        wait_until(lambda: stack.bot_status()["up"], timeout=30, what="the sandbox to see the bot up")
        for chat in chats:
            wait_until(lambda chat=chat: len([e for e in user_and_bot_events(stack.tracker(chat)) if e[0] == "user"])
                       == len(TEXTS), timeout=90, what=f"all messages of {chat} processed")
        time.sleep(2)  # let the last replies arrive, and anything sent twice show up
        for chat in chats:
            events = user_and_bot_events(stack.tracker(chat))
            assert [m for kind, m in events if kind == "user"] == sent[chat]  # each once, in the order typed
            bot_after = [0] * len(TEXTS)
            turn = -1
            for kind, _ in events:
                if kind == "user":
                    turn += 1
                elif turn >= 0:
                    bot_after[turn] += 1
            assert all(count > 0 for count in bot_after), bot_after  # every message got its answer
            assert len(stack.bot_messages(chat)) == sum(bot_after)  # every reply sent once, none twice
        assert stack.bot_status()["pendingWebhooks"] == 0
    finally:
        stack.stop()
