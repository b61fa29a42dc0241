"""The customer's choice of contact after a handover (HANDOVER_CUSTOMER_CHOICES): the reader of the answer, and on
real SQLite the held e-mail/SMS/webhook outbox rows that the choice releases with the new payload."""
from __future__ import annotations

import json

import pytest

from salesbot.db import Repositories, open_database
from salesbot.handover import HandoverTargets, request_handover
from salesbot.handover.choices import parse_choices, question, read_choice
from salesbot.handover.requests import record_customer_choice
from tests.channel.helpers import FileClock

ALL = ("whatsapp", "call", "email", "sms")


@pytest.mark.parametrize("text, expected", [
    ("звонок", "call"), ("Позвоните, пожалуйста", "call"), ("перезвоните после обеда", "call"),
    ("наберите меня", "call"), ("по телефону", "call"),
    ("на почту a@b.kz", "email"), ("пишите на e-mail", "email"), ("мой имейл test@example.com", "email"),
    ("напишите на почту", "email"), ("ivan.petrov@mail.ru", "email"),
    ("в ватсапе", "whatsapp"), ("лучше WhatsApp", "whatsapp"), ("вотсап", "whatsapp"), ("пишите сюда", "whatsapp"),
    ("не звоните, напишите здесь", "whatsapp"),
    ("смс", "sms"), ("СМСкой", "sms"),
])
def test_the_reader_names_one_way(text, expected):
    assert read_choice(text, ALL) == expected


@pytest.mark.parametrize("text", [
    "спасибо", "почти всё понятно", "", "позвоните или напишите на почту",  # nothing, or two ways at once
    "звонок " + "очень " * 60,  # a long message is not an answer
])
def test_the_reader_says_nothing_when_unsure(text):
    assert read_choice(text, ALL) is None


def test_only_offered_ways_count_and_the_question_lists_them():
    assert read_choice("на почту", ("whatsapp", "call")) is None
    assert read_choice("звонок", ("whatsapp", "call")) == "call"
    assert question(("whatsapp", "call", "email")) == "Как вам удобнее: WhatsApp, звонок или e-mail?"
    assert question(("call",)) is None and question(()) is None
    assert parse_choices(" WhatsApp, call ,call") == ("whatsapp", "call")
    with pytest.raises(ValueError, match="telegram"):
        parse_choices("whatsapp,telegram")


def _repos(tmp_path):
    clock = FileClock(tmp_path)
    return Repositories(open_database(f"sqlite:///{tmp_path / 'app.db'}", clock)), clock


TARGETS = HandoverTargets(webhook_url="http://127.0.0.1:9/hook", email_to="shop@example.com", sms_to="+77010000000")
CHAT = "77011112233@c.us"


def _hand_over(repos, key="customer_request:c:1", hold=300.0):
    return request_handover(repos, key, CHAT, "customer_request", ["whatsapp_group", "webhook", "email", "sms"],
                            TARGETS, phone="77011112233", name="Айгуль", summary="Клиент просит менеджера",
                            messages=[{"from": "customer", "text": "позовите менеджера"}], hold_seconds=hold)


def test_a_choice_releases_the_held_deliveries_with_it(tmp_path):
    repos, clock = _repos(tmp_path)
    _hand_over(repos)
    assert repos.outbox.claim_due("test") == []  # held: waiting for the answer
    assert record_customer_choice(repos, CHAT, "спасибо", ALL, 300) is None  # not an answer: still held
    assert repos.outbox.claim_due("test") == []
    assert record_customer_choice(repos, CHAT, "позвоните мне после 18", ALL, 300) == "call"
    assert {r["preferred_contact"] for r in repos.handovers.list()} == {"call"}
    due = {row["kind"]: row for row in repos.outbox.claim_due("test")}
    assert set(due) == {"handover.webhook", "handover.email", "handover.sms"}
    data = json.loads(json.loads(due["handover.webhook"]["payload"])["body"])["data"]
    assert data["preferred_contact"] == "call"
    assert data["messages"][-1] == {"from": "customer", "text": "позвоните мне после 18"}
    assert "Как связаться: звонок" in json.loads(due["handover.email"]["payload"])["text"]
    assert "Как связаться: звонок" in json.loads(due["handover.sms"]["payload"])["body"]
    # only the first answer counts
    assert record_customer_choice(repos, CHAT, "лучше на почту", ALL, 300) is None
    assert {r["preferred_contact"] for r in repos.handovers.list()} == {"call"}


def test_without_an_answer_the_deliveries_go_out_after_the_wait_without_a_preference(tmp_path):
    repos, clock = _repos(tmp_path)
    _hand_over(repos)
    clock.advance(301)
    assert record_customer_choice(repos, CHAT, "звонок", ALL, 300) is None  # too late to be the answer
    due = repos.outbox.claim_due("test")
    assert len(due) == 3
    webhook = next(r for r in due if r["kind"] == "handover.webhook")
    assert json.loads(json.loads(webhook["payload"])["body"])["data"]["preferred_contact"] is None
    assert {r["preferred_contact"] for r in repos.handovers.list()} == {None}


def test_no_hold_without_choices(tmp_path):
    repos, _ = _repos(tmp_path)
    _hand_over(repos, hold=0)
    assert len(repos.outbox.claim_due("test")) == 3
