"""What the NLU did not understand: an answer from the LLM grounded in the shop's documents, or a manager.

Thin action over salesbot.knowledge (retrieval) and salesbot.llm (the model call). Without an LLM, or when the
model is unsure, fails or times out, the customer is told a manager will answer, the question goes to the
managers' group and the chat is paused with the reason llm_unsure. Inside the order form the rules run the form
again after this action, so a pending question is asked again and filled slots stay.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.catalog import ActionCheckAvailability, names_a_product
from actions.common import current_inventory, customer_from_tracker, latest_text, storage
from actions.handoff import hand_over, recent_messages
from salesbot import llm
from salesbot.catalog import describe_product
from salesbot.clock import system_clock
from salesbot.inventory import Inventory
from salesbot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

TOP_PASSAGES = 4
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
        self._stamp: Optional[Tuple[str, float, int]] = None

    @staticmethod
    def _folder_stamp(settings: Settings) -> Optional[Tuple[str, float, int]]:
        database = settings.knowledge_dir / "chroma.sqlite3"
        try:
            stat = database.stat()
        except OSError:
            return None
        return str(database), stat.st_mtime, stat.st_size

    def search(self, settings: Settings, question: str, k: int) -> List[llm.Source]:
        from salesbot.knowledge import open_retriever

        stamp = self._folder_stamp(settings)
        if stamp is None:
            logger.warning("no knowledge base in %s: run `make knowledge`", settings.knowledge_dir)
            return []
        with self._lock:
            if self._retriever is None or stamp != self._stamp:
                self._retriever = open_retriever(settings)
                self._stamp = stamp
                logger.info("knowledge base loaded: %d passages, retriever=%s", len(self._retriever.passages),
                            settings.retriever)
            retriever = self._retriever
        return [llm.Source(p.source, p.section, p.text) for p in retriever.search(question, k)]


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
        pending_slot=pending, stock_facts=stock_facts(inventory, question, tracker.get_slot("product")))


class ActionLLMFallback(Action):
    def name(self) -> Text:
        return "action_llm_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        if names_a_product(await current_inventory(), latest_text(tracker)):
            # «кроссовки нью баланс 574» is a catalogue turn whatever the NLU thought of it: never the LLM's
            return await ActionCheckAvailability().run(dispatcher, tracker, domain)
        settings = get_settings()
        customer = customer_from_tracker(tracker)
        message_id = (tracker.latest_message or {}).get("message_id") or "-"
        model = chat_model(settings)
        result = llm.LLMResult(llm.NOT_CONFIGURED)
        if model.configured:
            try:
                passages = await asyncio.to_thread(_knowledge.search, settings, latest_text(tracker), TOP_PASSAGES)
            except Exception:  # a broken knowledge folder must not cost the customer an answer from a manager
                logger.exception("knowledge search failed chat=%s", customer.chat_id)
                passages = []
            context = fallback_context(tracker, await current_inventory(), passages)
            result = await model.ask(context, customer.chat_id, message_id)
            await asyncio.to_thread(storage().record_llm_call, customer.chat_id, message_id, model.model,
                                    result.outcome, result.latency_ms, result.prompt_tokens,
                                    result.completion_tokens, system_clock().now())
        if result.answered:
            dispatcher.utter_message(text=result.answer)
            return []
        logger.info("llm fallback hands over chat=%s message=%s outcome=%s", customer.chat_id, message_id,
                    result.outcome)
        dispatcher.utter_message(response="utter_llm_handoff")
        await hand_over(tracker, "llm_unsure", HANDOFF_HEADLINES.get(result.outcome, "Вопрос без ответа"))
        return [ConversationPaused()]
