"""Scripted customers played through the real servers, each checked against the order the bot posted.

A customer is a list of messages sent to one WhatsApp chat through the sandbox's webhook path and the order a
careful manager would expect from them (or none). After the script the managers' group is read: the order post
for that chat is parsed and every field compared with the expected one. Outcomes:

* ``correct``  — an order was posted and every field matches;
* ``no order`` — nothing was posted (the bot lost the customer: a failure, but no harm done in the shop);
* ``WRONG``    — an order was posted whose fields differ (the worst case: a manager ships the wrong thing),
                 or an order was posted for a customer who wanted none.

Used by tests/e2e/test_simulator.py (asserts) and bench/bench_simulator.py (prints).
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional

import yaml

from devstack.knowledge import build_shop_knowledge
from devstack.llm_stub import API_KEY, LLMStub
from devstack.stack import GROUP_ID, ROOT, Stack

SPORT_SHOP = ROOT / "shops" / "sport"
CUSTOMERS_FILE = ROOT / "tests" / "simulator" / "customers.yml"
ORDER_FIELDS = ("product", "size", "color", "city", "address", "price")
POST_LABELS = {"Товар": "product", "Размер": "size", "Цвет": "color", "Город": "city", "Адрес": "address",
               "Цена": "price"}
CONFIRMATION_MARK = "Заказ №"

CORRECT, NO_ORDER, WRONG = "correct", "no order", "WRONG"


def shop_env(shop: Path = SPORT_SHOP) -> Dict[str, str]:
    """The environment that points every process at one shop folder (inventory, photos, documents, profile)."""
    return {"INVENTORY_PATH": str(shop / "inventory.xlsx"), "PHOTOS_DIR": str(shop / "photos"),
            "KNOWLEDGE_DOCS_DIR": str(shop / "knowledge"), "SHOP_PROFILE_PATH": str(shop / "shop.yml")}


@dataclass(frozen=True)
class Customer:
    name: str
    messages: List[str]
    order: Optional[Dict[str, str]]      # expected order fields; None = the customer wants no order


@dataclass
class Outcome:
    customer: Customer
    chat_id: str
    outcome: str
    posted: Optional[Dict[str, str]] = None
    diff: Dict[str, tuple] = field(default_factory=dict)    # field -> (expected, posted)
    confirmed: bool = False
    transcript: List[str] = field(default_factory=list)
    error: str = ""

    def describe(self) -> str:
        lines = [f"{self.customer.name} [{self.chat_id}]: {self.outcome}"
                 + (f"; differs: {format_diff(self.diff)}" if self.diff else "")
                 + ("" if self.confirmed or self.customer.order is None else "; no confirmation")
                 + (f"; error: {self.error}" if self.error else "")]
        lines.extend(f"    {line}" for line in self.transcript)
        return "\n".join(lines)


def load_customers(path: Path = CUSTOMERS_FILE) -> List[Customer]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    customers = []
    for entry in data["customers"]:
        order = entry.get("order")
        customers.append(Customer(
            name=str(entry["name"]), messages=[str(text) for text in entry["messages"]],
            order={key: str(value) for key, value in order.items()} if order else None))
    return customers


def parse_order_post(text: str) -> Dict[str, str]:
    """The fields of «Новый заказ …» as the notifier writes them (`Товар: …` lines)."""
    fields = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and label.strip() in POST_LABELS:
            fields[POST_LABELS[label.strip()]] = value.strip()
    return fields


def _normalise(value: str) -> str:
    value = value.lower().replace("ё", "е").replace("\u00a0", " ").replace("\u202f", " ")
    value = re.sub(r"[^\w\s]", " ", value)
    return " ".join(value.split())


def field_matches(name: str, expected: str, posted: Optional[str], city: str = "") -> bool:
    if posted is None:
        return False
    want, got = _normalise(expected), _normalise(posted)
    if name == "address" and city:
        # «ул Ленина 5 кв 2, екатеринбург» is the same address as «ул Ленина 5 кв 2» in an order to that city
        city_words = set(_normalise(city).split())
        got = " ".join(word for word in got.split() if word not in city_words)
    if name == "price":
        want, got = want.replace(" ", ""), got.replace(" ", "")
    return want == got


def compare(expected: Dict[str, str], posted: Dict[str, str]) -> Dict[str, tuple]:
    """Every field of the expected order and every field the post carries beyond it (a size nobody asked for)."""
    diff = {}
    for name in ORDER_FIELDS:
        if name in expected:
            if not field_matches(name, expected[name], posted.get(name), expected.get("city", "")):
                diff[name] = (expected[name], posted.get(name))
        elif name in posted and name != "price":
            diff[name] = (None, posted[name])
    return diff


def format_diff(diff: Dict[str, tuple]) -> str:
    return ", ".join(f"{name}: expected {want!r}, posted {got!r}" for name, (want, got) in diff.items())


def chat_id_for(index: int) -> str:
    return f"7900{index:07d}@c.us"


def order_posts_for(stack: Stack, chat_id: str) -> List[str]:
    phone = chat_id.split("@", 1)[0]
    return [m.get("text") or "" for m in stack.messages(GROUP_ID)
            if m.get("by") == "bot" and m.get("type") == "text"
            and (m.get("text") or "").startswith("Новый заказ") and f"(+{phone})" in (m.get("text") or "")]


def play(stack: Stack, customer: Customer, chat_id: str, post_wait: float = 4.0) -> Outcome:
    outcome = Outcome(customer=customer, chat_id=chat_id, outcome=NO_ORDER)
    replies: List[str] = []
    try:
        for text in customer.messages:
            outcome.transcript.append(f"клиент: {text}")
            answer = stack.turn(chat_id, text, timeout=60)
            replies.extend(str(reply) for reply in answer)
            outcome.transcript.extend(f"бот: {reply}" for reply in answer)
    except AssertionError as error:        # a message with no reply: the customer is lost
        outcome.error = str(error).splitlines()[0]
    outcome.confirmed = any(CONFIRMATION_MARK in reply for reply in replies)
    deadline = time.monotonic() + (post_wait if outcome.confirmed else 1.0)
    posts = order_posts_for(stack, chat_id)
    while not posts and time.monotonic() < deadline:
        time.sleep(0.3)
        posts = order_posts_for(stack, chat_id)
    if len(posts) > 1:
        outcome.error = (outcome.error + "; " if outcome.error else "") + f"{len(posts)} orders posted"
    if posts:
        outcome.posted = parse_order_post(posts[-1])
        if customer.order is None:
            outcome.outcome, outcome.diff = WRONG, {"order": (None, "posted")}
        else:
            outcome.diff = compare(customer.order, outcome.posted)
            outcome.outcome = WRONG if outcome.diff or len(posts) > 1 else CORRECT
    elif customer.order is None:
        outcome.outcome = CORRECT
    return outcome


def run_customers(stack: Stack, customers: Iterable[Customer], concurrency: int = 5,
                  first_index: int = 1) -> List[Outcome]:
    customers = list(customers)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(play, stack, customer, chat_id_for(first_index + number))
                   for number, customer in enumerate(customers)]
        return [future.result() for future in futures]


def totals(outcomes: List[Outcome]) -> Dict[str, int]:
    counts = {CORRECT: 0, NO_ORDER: 0, WRONG: 0}
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    counts["confirmed"] = sum(1 for outcome in outcomes if outcome.confirmed)
    counts["total"] = len(outcomes)
    return counts


def table(outcomes: List[Outcome]) -> str:
    width = max((len(outcome.customer.name) for outcome in outcomes), default=8)
    lines = [f"{'customer':<{width}}  {'outcome':<8}  {'confirmed':<9}  fields that differ"]
    for outcome in outcomes:
        differs = ", ".join(f"{name} ({want!r} -> {got!r})" for name, (want, got) in outcome.diff.items())
        lines.append(f"{outcome.customer.name:<{width}}  {outcome.outcome:<8}  "
                     f"{'yes' if outcome.confirmed else 'no':<9}  {differs or '-'}"
                     + (f"  [{outcome.error}]" if outcome.error else ""))
    counts = totals(outcomes)
    lines.append(f"correct {counts[CORRECT]}/{counts['total']}, no order {counts[NO_ORDER]}, "
                 f"wrong orders {counts[WRONG]}, confirmations {counts['confirmed']}")
    return "\n".join(lines)


@contextmanager
def shop_stack(tmp: Path, model: str, shop: Path = SPORT_SHOP, with_llm: bool = True) -> Iterator[Stack]:
    """The real servers serving `shop`: its knowledge base built by the real builder and, with `with_llm`, the
    local OpenAI-compatible stub as the LLM (it answers with the best retrieved passage)."""
    knowledge = build_shop_knowledge(tmp / "knowledge-base", docs=shop / "knowledge")
    env = {**shop_env(shop), "KNOWLEDGE_DIR": str(knowledge)}
    with ExitStack() as cleanup:
        if with_llm:
            stub = cleanup.enter_context(LLMStub())
            env.update({"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": stub.base_url, "OPENAI_MODEL": "stub-model",
                        "LLM_TIMEOUT_SECONDS": "5"})
        stack = Stack(tmp, model, env=env)
        cleanup.callback(stack.stop)
        yield stack.start()
