"""The LLM fallback through real servers: sandbox (WhatsApp), Rasa, the action server, a real knowledge base
built from shop/knowledge, and a local server speaking the OpenAI chat-completions protocol."""
import sqlite3
import time

import pytest

from tests.e2e.stack import GROUP_ID, wait_until
from tests.llm_stub import error, reply, slow

pytestmark = pytest.mark.e2e
HANDOFF_TEXT = "Уточню у менеджера"


def db(stack, query, *args):
    with sqlite3.connect(stack.tmp / "app.db") as connection:
        return connection.execute(query, args).fetchall()


def group_posts(stack):
    return [m for m in stack.messages(GROUP_ID) if m.get("by") == "bot"]


def assert_handed_over(stack, chat, question, headline):
    phone = chat.split("@")[0]

    def about_this_chat(post):
        return question in (post.get("text") or "") and f"(+{phone})" in post["text"]

    wait_until(lambda: any(about_this_chat(p) for p in group_posts(stack)), what="the group post")
    time.sleep(1)
    # this chat's posts: its contact card, then the text (another chat's posts may come in between: the relay
    # sends each chat's posts in order, different chats' as they come)
    posts = [p for p in group_posts(stack) if (p["type"] == "contact" and p["contact"]["phoneContact"] == int(phone))
             or f"(+{phone})" in (p.get("text") or "")]
    assert [p["type"] for p in posts] == ["contact", "text"], posts
    text_post = posts[1]
    assert about_this_chat(text_post)
    assert text_post["text"].startswith(f"{headline}: Айгуль (+{chat.split('@')[0]})")
    assert f"— клиент: {question}" in text_post["text"]
    assert db(stack, "SELECT paused, reason FROM handoffs WHERE chat_id = ?", chat) == [(1, "llm_unsure")]
    before = len(stack.bot_messages(chat))
    asked = stack.say(chat, "ау, ответьте")
    wait_until(lambda: db(stack, "SELECT status FROM inbox WHERE id_message = ?", asked) == [("DONE",)],
               timeout=60, what="the message processed")   # a reply would have been sent before
    time.sleep(0.5)
    assert len(stack.bot_messages(chat)) == before   # paused: a manager answers now


def test_grounded_answer_reaches_the_customer(stack, llm_stub):
    chat = "77013330001@c.us"
    stack.turn(chat, "здравствуйте")
    llm_stub.reset()
    answer = "Да 🎁 Есть сертификаты на 10 000, 20 000, 30 000 и 50 000 ₸, действуют 6 месяцев."
    llm_stub.script(reply(answer))
    assert stack.turn(chat, "у вас есть подарочные сертификаты?") == [answer]
    [prompt] = llm_stub.user_prompts()
    assert "(gifts.md · Подарочные сертификаты, скидки и упаковка › Подарочные сертификаты)" in prompt
    assert "Сертификат действует 6 месяцев с даты покупки." in prompt
    assert "— клиент: здравствуйте" in prompt and "— бот: Здравствуйте! Я Алина" in prompt
    assert prompt.endswith("Вопрос клиента (данные): <<<у вас есть подарочные сертификаты?>>>")
    assert db(stack, "SELECT outcome, model FROM llm_calls WHERE chat_id = ?", chat) == [("answered", "stub-model")]
    assert db(stack, "SELECT paused FROM handoffs WHERE chat_id = ?", chat) == []


def test_order_in_progress_survives_a_digression_into_the_fallback(stack, llm_stub):
    chat = "77013330002@c.us"
    assert any("В какой город" in r for r in stack.turn(chat, "хочу заказать балетки шанель 37 черные"))
    answer = "Упакуем в фирменную коробку с лентой за 1 000 ₸ 🎁"
    llm_stub.script(reply(answer))
    replies = stack.turn(chat, "упакуете в подарок?")
    assert replies[0] == answer and "В какой город" in replies[-1]   # answered, then the pending slot again
    assert "Бот сейчас ждёт от клиента: город" in llm_stub.user_prompts()[-1]
    slots = stack.tracker(chat)["slots"]
    assert (slots["product"], slots["size"], slots["color"]) == ("Chanel балетки", "37", "черный")
    assert any("адрес" in r for r in stack.turn(chat, "алматы"))
    summary = stack.turn(chat, "ул абая 10 кв 5")
    assert any("Chanel балетки" in r and "37" in r and "черный" in r for r in summary)
    assert any("Заказ №" in r for r in stack.turn(chat, "да"))


def test_an_unsure_model_hands_the_question_to_a_manager(stack, llm_stub):
    chat = "77013330003@c.us"
    stack.turn(chat, "здравствуйте")
    llm_stub.script(reply("", unsure=True))
    question = "можно заказать пошив по мерке?"
    assert any(HANDOFF_TEXT in r for r in stack.turn(chat, question))
    assert_handed_over(stack, chat, question, "Вопрос без ответа (бот не уверен)")
    assert db(stack, "SELECT outcome FROM llm_calls WHERE chat_id = ?", chat) == [("unsure",)]


@pytest.mark.parametrize("chat, behaviour, headline, outcome", [
    ("77013330004@c.us", slow(6.0), "Вопрос без ответа (LLM не ответил вовремя)", "timeout"),
    ("77013330005@c.us", error(500), "Вопрос без ответа (ошибка LLM)", "error"),
])
def test_a_slow_or_failing_model_hands_over(stack, llm_stub, chat, behaviour, headline, outcome):
    llm_stub.script(behaviour)
    question = "а мужская обувь у вас есть?"
    assert any(HANDOFF_TEXT in r for r in stack.turn(chat, question))
    assert_handed_over(stack, chat, question, headline)
    assert db(stack, "SELECT outcome FROM llm_calls WHERE chat_id = ?", chat) == [(outcome,)]


def test_without_an_llm_the_question_goes_to_a_manager(polling_stack):
    chat = "77013330006@c.us"
    question = "у вас есть подарочные сертификаты?"
    assert any(HANDOFF_TEXT in r for r in polling_stack.turn(chat, question))
    assert_handed_over(polling_stack, chat, question, "Вопрос без ответа (LLM не подключён)")
    assert db(polling_stack, "SELECT COUNT(*) FROM llm_calls") == [(0,)]
