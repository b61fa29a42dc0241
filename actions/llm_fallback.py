"""Questions about the shop, and what the NLU did not understand: answered from the shop's own documents.

Thin actions over salesbot.knowledge (retrieval, the quote rule) and salesbot.llm (the model call):
1. a message that names a product of the inventory is a catalogue turn, never a documents or LLM turn;
2. when one line of a shop document answers the question beyond doubt, it is quoted (no LLM call, no cost);
3. otherwise the LLM answers from the top passages;
4. without an LLM, or when the model is unsure, fails or times out, the customer is told a manager will answer,
   the question goes to the managers' group and the chat is paused with the reason llm_unsure.
Inside the order form the rules run the form again after this action, so a pending question is asked again and
filled slots stay. No shop fact lives in domain.yml: changing a document changes the answer after `make knowledge`.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.catalog import ORDER_OFFER, ActionCheckAvailability
from actions.common import current_inventory, customer_from_tracker, latest_text, storage
from actions.handoff import hand_over, recent_messages
from salesbot import llm
from salesbot.catalog import describe_product
from salesbot.clock import system_clock
from salesbot.inventory import Inventory, _product_keys, token_similarity
from salesbot.knowledge.answers import STOP_LEMMAS, DocumentAnswerer, Quote, lemma
from salesbot.knowledge.retrieval import Passage
from salesbot.order_reading import read_message
from salesbot.settings import Settings, get_settings
from salesbot.shop_profile import get_profile
from salesbot.textnorm import phonetic_key, words

logger = logging.getLogger(__name__)

TOP_PASSAGES = 4
# What a routed shop question is about, in the words any shop's documents use for it: added to the retrieval query
# so «как можно оплатить?» finds the payment terms rather than «сертификатом можно оплатить…».
TOPIC_WORDS = {"ask_payment": "оплата", "ask_delivery": "доставка", "ask_returns": "возврат обмен",
               "ask_hours": "режим работы адрес"}
ORDER_SLOTS = ("city", "product", "size", "color", "address")
HANDOFF_HEADLINES = {
    llm.NOT_CONFIGURED: "Вопрос без ответа (LLM не подключён)",
    llm.UNSURE: "Вопрос без ответа (бот не уверен)",
    llm.TIMEOUT: "Вопрос без ответа (LLM не ответил вовремя)",
    llm.ERROR: "Вопрос без ответа (ошибка LLM)",
    llm.INVALID: "Вопрос без ответа (непонятный ответ LLM)",
    llm.UNGROUNDED: "Вопрос без ответа (LLM назвал сумму не из документов)",
}


class KnowledgeCache:
    """The retriever over the built knowledge base, re-opened when `make knowledge` changes the folder."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._retriever = None
        self._answerer: Optional[DocumentAnswerer] = None
        self._stamp: Optional[Tuple[str, float, int]] = None

    @staticmethod
    def _folder_stamp(settings: Settings) -> Optional[Tuple[str, float, int]]:
        database = settings.knowledge_dir / "chroma.sqlite3"
        try:
            stat = database.stat()
        except OSError:
            return None
        return str(database), stat.st_mtime, stat.st_size

    def search(self, settings: Settings, question: str, k: int,
               topic: str = "") -> Tuple[List[Passage], Optional[Quote]]:
        """The top k passages for the question (with the topic's words, when the intent names one), and the quote
        that answers it when retrieval is sure (judged on the customer's own words)."""
        from salesbot.knowledge import open_retriever

        stamp = self._folder_stamp(settings)
        if stamp is None:
            logger.warning("no knowledge base in %s: run `make knowledge`", settings.knowledge_dir)
            return [], None
        with self._lock:
            if self._retriever is None or stamp != self._stamp:
                self._retriever = open_retriever(settings)
                self._answerer = DocumentAnswerer(self._retriever.passages)
                self._stamp = stamp
                logger.info("knowledge base loaded: %d passages, retriever=%s", len(self._retriever.passages),
                            settings.retriever)
            retriever, answerer = self._retriever, self._answerer
        passages = retriever.search(f"{question} {topic}".strip(), k)
        return passages, (answerer.answer(question, passages) if answerer else None)


_knowledge = KnowledgeCache()


def chat_model(settings: Settings) -> llm.ChatModel:
    return llm.ChatModel(settings.openai_api_key, settings.openai_base_url, settings.openai_model,
                         settings.llm_timeout_seconds)


def stock_facts(inventory: Inventory, question: str, slot_product: Optional[str]) -> List[str]:
    """What the spreadsheet says about the products in question: the only source of prices and stock."""
    names: List[str] = []
    product, candidates = inventory.match_product(question)
    for match in ([product] if product else candidates[:3]):
        names.append(match.name)
    if slot_product and slot_product not in names:
        names.append(slot_product)
    return [describe_product(p) for p in (inventory.get(n) for n in names) if p is not None]


def fallback_context(tracker: Tracker, inventory: Inventory, passages: List[llm.Source]) -> llm.FallbackContext:
    order = {slot: str(tracker.get_slot(slot)) for slot in ORDER_SLOTS if tracker.get_slot(slot)}
    pending = tracker.get_slot("requested_slot") if tracker.active_loop.get("name") else None
    question = latest_text(tracker)
    return llm.FallbackContext(
        question=question, passages=passages, conversation=recent_messages(tracker, 8), order=order,
        pending_slot=pending, stock_facts=stock_facts(inventory, question, tracker.get_slot("product")),
        shop=get_profile())   # never raises: without shop.yml, the identity is read from the shop's documents


# Words of a plain product request that say nothing beyond «show me / sell me this product».
REQUEST_LEMMAS = frozenset("""
хотеть нужный нужно надо показать покажите фото фотка цена стоить стоимость наличие купить заказать взять
размер цвет модель пара штука ещё еще от бренд фирма
""".split())


CLOSE_MATCH = 85.0


def is_catalogue_request(inventory: Inventory, text: str) -> bool:
    """The message asks for a product of the inventory and nothing else («кроссовки нью баланс 574», «можно шарф
    от хуго босс»): a catalogue turn, whatever the NLU thought. A message that names a product but asks something
    more («гуччи маломерят?», «туфли жмут, поменяете?») is a question for the documents."""
    matches = inventory.score_products(text)
    if not matches:
        return False
    # only words that match the product's name closely («кредит» is only fuzzily like «кеды»)
    product_keys = _product_keys(matches[0].product.name)
    close = [word for word in matches[0].matched_words
             if max(token_similarity(key, phonetic_key(word)) for key in product_keys) >= CLOSE_MATCH]
    if not close:
        return False
    colours = {lemma(word) for colour in inventory.all_colors() for word in colour.split()}
    close += words(matches[0].product.name)   # «the» of «The North Face» is part of the name, matched or not
    leftover = [word for word in words(text)
                if word not in close and not any(ch.isdigit() for ch in word)
                and lemma(word) not in STOP_LEMMAS | REQUEST_LEMMAS | colours and len(word) > 2]
    return not leftover


def offered_the_order(tracker: Tracker) -> bool:
    """The bot's last turn described a product and asked «Оформим заказ?» (action_check_availability, or this
    action handing a product request to it)."""
    if tracker.active_loop.get("name") or not tracker.get_slot("product"):
        return False
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "bot":
            return event.get("text") == ORDER_OFFER
    return False


async def answers_the_order_offer(tracker: Tracker) -> bool:
    if not offered_the_order(tracker):
        return False
    inventory = await current_inventory()
    reading = await asyncio.to_thread(read_message, latest_text(tracker), inventory, None,
                                      {"product": tracker.get_slot("product")})
    return bool(reading.city or reading.size or reading.color) and not reading.product and not reading.candidates


class ActionAnswerFromDocuments(Action):
    """Delivery, payment, returns, hours and other shop questions: the words of the answer come from the documents."""

    def name(self) -> Text:
        return "action_answer_from_documents"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        if is_catalogue_request(await current_inventory(), latest_text(tracker)):
            # «кроссовки нью баланс 574» is a catalogue turn whatever the NLU thought of it: never the LLM's
            return await ActionCheckAvailability().run(dispatcher, tracker, domain)
        if await answers_the_order_offer(tracker):
            # «Оформим заказ?» — «тюмень» / «L» / «синий»: an order detail, not a question; the form takes it
            return [FollowupAction("order_form")]
        settings = get_settings()
        customer = customer_from_tracker(tracker)
        message_id = (tracker.latest_message or {}).get("message_id") or "-"
        question = latest_text(tracker)
        try:
            topic = TOPIC_WORDS.get(((tracker.latest_message or {}).get("intent") or {}).get("name") or "", "")
            passages, quote = await asyncio.to_thread(_knowledge.search, settings, question, TOP_PASSAGES, topic)
        except Exception:  # a broken knowledge folder must not cost the customer an answer from a manager
            logger.exception("knowledge search failed chat=%s", customer.chat_id)
            passages, quote = [], None
        if quote is not None:
            logger.info("answered from the documents chat=%s message=%s source=%s section=%s coverage=%.2f",
                        customer.chat_id, message_id, quote.passage.source, quote.passage.section, quote.coverage)
            dispatcher.utter_message(text=quote.text)
            return []
        model = chat_model(settings)
        result = llm.LLMResult(llm.NOT_CONFIGURED)
        if model.configured:
            sources = [llm.Source(p.source, p.section, p.text) for p in passages]
            context = fallback_context(tracker, await current_inventory(), sources)
            result = await model.ask(context, customer.chat_id, message_id)
            await asyncio.to_thread(storage().record_llm_call, customer.chat_id, message_id, model.model,
                                    result.outcome, result.latency_ms, result.prompt_tokens,
                                    result.completion_tokens, system_clock().now())
        if result.answered:
            dispatcher.utter_message(text=result.answer)
            return []
        logger.info("shop question handed over chat=%s message=%s outcome=%s", customer.chat_id, message_id,
                    result.outcome)
        dispatcher.utter_message(response="utter_llm_handoff")
        ask = await hand_over(tracker, "llm_unsure", HANDOFF_HEADLINES.get(result.outcome, "Вопрос без ответа"))
        if ask:
            dispatcher.utter_message(text=ask)
        return [ConversationPaused()]


class ActionLLMFallback(ActionAnswerFromDocuments):
    """What the NLU did not understand (nlu_fallback, out_of_scope, Rasa's core fallback): the same path."""

    def name(self) -> Text:
        return "action_llm_fallback"
