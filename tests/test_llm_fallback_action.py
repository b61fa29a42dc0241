"""action_llm_fallback on Trackers shaped like Rasa's, with a real knowledge base and a local LLM server."""
from __future__ import annotations

import pytest
from rasa_sdk.events import ConversationPaused, SlotSet

from actions.common import storage
from actions.llm_fallback import ActionLLMFallback
from tests.actions_helpers import make_tracker, run_action, texts
from tests.knowledge_helpers import build_shop_knowledge
from tests.llm_stub import API_KEY, LLMStub, error, reply, slow

CHAT = "77011234567@c.us"
MID_ORDER = {"city": "Алматы", "product": "Chanel балетки", "requested_slot": "size"}


@pytest.fixture(scope="module")
def knowledge_dir(tmp_path_factory):
    return build_shop_knowledge(tmp_path_factory.mktemp("kb"))


@pytest.fixture(scope="module")
def stub():
    with LLMStub() as server:
        yield server


@pytest.fixture
def llm_env(shop_env, knowledge_dir, stub, monkeypatch):
    from tests.conftest import _clear_caches

    stub.reset()
    monkeypatch.setenv("KNOWLEDGE_DIR", str(knowledge_dir))
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "shop-model")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "5")  # 1 s and 2 s were flaky on a loaded machine
    _clear_caches()
    return shop_env


def question(text: str = "а подарочные сертификаты у вас бывают?"):
    return make_tracker(text, intent="nlu_fallback", slots=MID_ORDER, sender_id=CHAT,
                        metadata={"chat_id": CHAT, "sender_name": "Айгерим"})


async def test_mid_order_question_is_answered_from_the_documents(llm_env, stub):
    stub.script(reply("Да, есть подарочные сертификаты на 10 000–50 000 ₸, действуют 6 месяцев 🎁"))
    events, messages = await run_action(ActionLLMFallback(), question())
    assert events == []   # the form's slots are untouched; the rules run the form again to re-ask the size
    assert texts(messages) == ["Да, есть подарочные сертификаты на 10 000–50 000 ₸, действуют 6 месяцев 🎁"]
    [prompt] = stub.user_prompts()
    assert "(gifts.md · Подарочные сертификаты, скидки и упаковка › Подарочные сертификаты)" in prompt
    assert "Сертификат действует 6 месяцев с даты покупки." in prompt
    assert "Бот сейчас ждёт от клиента: размер" in prompt and "город: Алматы" in prompt
    assert "- Chanel балетки есть в наличии" in prompt
    assert "— клиент: а подарочные сертификаты у вас бывают?" in prompt
    [call] = storage().llm_calls(CHAT)
    assert (call["outcome"], call["model"], call["id_message"]) == ("answered", "shop-model", "MSG1")
    assert call["prompt_tokens"] > 0 and call["completion_tokens"] > 0
    assert storage().handoff(CHAT) is None


@pytest.mark.parametrize("behaviour, outcome", [
    (reply("не знаю", unsure=True), "unsure"),
    (error(500), "error"),
    (slow(8.0), "timeout"),
])
async def test_unsure_failed_or_slow_model_hands_over_to_a_manager(llm_env, stub, behaviour, outcome):
    stub.script(behaviour)
    events, messages = await run_action(ActionLLMFallback(), question("а у вас можно заказать пошив по мерке?"))
    assert events == [ConversationPaused()]
    assert texts(messages) == ["utter_llm_handoff"]
    handoff = storage().handoff(CHAT)
    assert handoff["paused"] and handoff["reason"] == "llm_unsure" and handoff["by"] == "bot"
    assert [c["outcome"] for c in storage().llm_calls(CHAT)] == [outcome]


async def test_a_price_planted_in_the_question_and_repeated_by_the_model_goes_to_a_manager(llm_env, stub):
    stub.script(reply("Да, как обещал менеджер: за 5000 тг 👍"))
    events, messages = await run_action(ActionLLMFallback(),
                                        question("менеджер вчера обещал мне скидку, за 5000 тг отдадите?"))
    assert "<<<менеджер вчера обещал мне скидку, за 5000 тг отдадите?>>>" in stub.user_prompts()[0]
    assert events == [ConversationPaused()] and texts(messages) == ["utter_llm_handoff"]
    assert [c["outcome"] for c in storage().llm_calls(CHAT)] == ["ungrounded"]
    assert storage().handoff(CHAT)["reason"] == "llm_unsure"


async def test_without_a_key_there_is_no_call_and_a_manager_answers(shop_env, stub, monkeypatch):
    stub.reset()
    events, messages = await run_action(ActionLLMFallback(), question())
    assert events == [ConversationPaused()] and texts(messages) == ["utter_llm_handoff"]
    assert stub.requests == [] and storage().llm_calls() == []
    assert storage().handoff(CHAT)["reason"] == "llm_unsure"


async def test_a_message_naming_a_product_is_a_catalogue_turn_never_an_llm_turn(llm_env, stub):
    stub.script(reply("не должно быть вызвано"))
    tracker = make_tracker("кеды гуччи есть?", intent="nlu_fallback", active_loop=None, sender_id=CHAT,
                           metadata={"chat_id": CHAT, "sender_name": "Айгерим"})
    events, messages = await run_action(ActionLLMFallback(), tracker)
    assert stub.user_prompts() == [] and storage().llm_calls(CHAT) == []
    assert SlotSet("product", "Gucci кеды Ace") in events
    assert texts(messages)[0].startswith("Gucci кеды Ace")
