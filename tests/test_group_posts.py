"""Posts to the managers' group are capped: one post per escalation or order, however long the chat was."""
import asyncio
import json

from salesbot.greenapi.client import MAX_MESSAGE_LENGTH, split_text
from salesbot.notifications import GroupPoster, escalate_to_group, post_card_and_text
from salesbot.orders import Customer
from salesbot.outbox import GREENAPI_MESSAGE
from salesbot.storage import Storage

GROUP = "120363000000000000@g.us"


def details(storage, key):
    row = storage.repos.outbox.get(f"{key}:details")
    assert row["kind"] == GREENAPI_MESSAGE
    return json.loads(row["payload"])["message"]


def test_an_escalation_with_a_long_transcript_is_one_post_with_the_newest_messages(tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'app.db'}")
    poster = GroupPoster(None, storage, GROUP, max_chars=3000)
    customer = Customer("77011230001@c.us", "Айгуль")
    recent = [f"— клиент: сообщение {n} " + "текст " * 60 for n in range(40)]
    recent.append("— клиент: " + "я" * 65_000)   # one enormous message
    recent.append("— бот: Передаю менеджеру")
    asyncio.run(escalate_to_group(poster, customer, "llm_unsure:1", "Нужна помощь менеджера", recent))
    text = details(storage, "llm_unsure:1")
    assert len(text) <= 3000 and len(split_text(text)) == 1 and 3000 <= MAX_MESSAGE_LENGTH
    assert text.startswith("Нужна помощь менеджера: Айгуль (+77011230001)")
    assert text.endswith("— бот: Передаю менеджеру")           # the newest message is always there
    assert "я" * 100 in text and "я" * 1000 not in text          # the huge one cut, not the others pushed out
    assert "сообщение 39" in text and "сообщение 0 " not in text   # the oldest give way
    assert "раньше не показаны" in text
    short = ["— клиент: есть кроссовки?", "— бот: Да"]
    asyncio.run(escalate_to_group(poster, customer, "llm_unsure:2", "Нужна помощь", short))
    assert details(storage, "llm_unsure:2").splitlines()[-2:] == short   # a short transcript is whole


def test_any_group_post_is_cut_to_the_limit(tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'app.db'}")
    poster = GroupPoster(None, storage, GROUP, max_chars=1000)
    asyncio.run(post_card_and_text(poster, "order:7", "order", Customer("77011230002@c.us", "Ерлан"),
                                   "Новый заказ\nАдрес: " + "д" * 5000))
    text = details(storage, "order:7")
    assert len(text) == 1000 and text.startswith("Новый заказ\nАдрес: ддд") and text.endswith("…")
