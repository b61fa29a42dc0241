"""action_session_start: the carried-over slots plus the identity of the shop this process serves (shop.yml)."""
from __future__ import annotations

import shutil
from pathlib import Path

from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet

from actions.session import ActionSessionStart
from tests.actions_helpers import make_tracker, run_action

ROOT = Path(__file__).resolve().parent.parent


async def test_a_new_session_speaks_for_the_shop_of_the_profile(shop_env, monkeypatch):
    from tests.conftest import _clear_caches

    shutil.copy(ROOT / "shops" / "sport" / "shop.yml", shop_env["tmp"] / "shop.yml")
    _clear_caches()
    tracker = make_tracker("привет", intent="greet", slots={"city": "Екатеринбург"}, active_loop=None)
    events, messages = await run_action(ActionSessionStart(), tracker)
    assert messages == []
    assert events == [
        SessionStarted(), SlotSet("city", "Екатеринбург"),
        SlotSet("shop_name", "СпортЛайн"), SlotSet("assistant_name", "Макс"), SlotSet("assistant_role", "помощник"),
        SlotSet("assistant_intro", "Я Макс, помощник магазина «СпортЛайн»"),
        SlotSet("shop_emoji", "🏃"), SlotSet("shop_city", "Екатеринбург"),
        SlotSet("pickup_point", "пункт выдачи на ул. Малышева 51 (ТЦ «Высоцкий», 1 этаж)"),
        SlotSet("working_hours", "пн–сб 10:00–21:00, вс 11:00–19:00"), SlotSet("manager_hours", "9:00–21:00"),
        SlotSet("pickup_hint", " (или «самовывоз»: пункт выдачи на ул. Малышева 51 (ТЦ «Высоцкий», 1 этаж))"),
        ActionExecuted("action_listen"),
    ]


async def test_a_shop_without_shop_yml_speaks_as_its_documents_name_it(shop_env, monkeypatch, caplog):
    from tests.conftest import _clear_caches

    (shop_env["tmp"] / "shop.yml").unlink()
    monkeypatch.setenv("KNOWLEDGE_DOCS_DIR", str(ROOT / "shops" / "sport" / "knowledge"))
    _clear_caches()
    events, _ = await run_action(ActionSessionStart(), make_tracker("привет", intent="greet", active_loop=None))
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert SlotSet("assistant_intro", "Я виртуальный помощник магазина «СпортЛайн»") in events
    assert SlotSet("pickup_hint", " (или «самовывоз»)") in events
    assert SlotSet("manager_hours", "в рабочее время") in events
    assert "shop.yml cannot be read" in caplog.text and "read from its documents" in caplog.text
    from salesbot.extract import format_price

    assert format_price(15990) == "15 990 ₽"   # prices in the currency the documents write


async def test_a_broken_profile_is_named_in_the_log_and_the_bot_still_talks(shop_env, caplog):
    from tests.conftest import _clear_caches

    (shop_env["tmp"] / "shop.yml").write_text("shop_name: [unclosed", encoding="utf-8")
    _clear_caches()
    events, _ = await run_action(ActionSessionStart(), make_tracker("привет", intent="greet", active_loop=None))
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert "shop.yml is not valid YAML" in caplog.text
