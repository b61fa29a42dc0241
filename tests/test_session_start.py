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
        SlotSet("shop_emoji", "🏃"), SlotSet("shop_city", "Екатеринбург"),
        SlotSet("pickup_point", "пункт выдачи на ул. Малышева 51 (ТЦ «Высоцкий», 1 этаж)"),
        SlotSet("working_hours", "пн–сб 10:00–21:00, вс 11:00–19:00"), SlotSet("manager_hours", "9:00–21:00"),
        ActionExecuted("action_listen"),
    ]


async def test_a_broken_profile_still_starts_the_session_in_a_neutral_voice(shop_env, caplog):
    from tests.conftest import _clear_caches

    (shop_env["tmp"] / "shop.yml").write_text("shop_name: [unclosed", encoding="utf-8")
    _clear_caches()
    events, _ = await run_action(ActionSessionStart(), make_tracker("привет", intent="greet", active_loop=None))
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert SlotSet("shop_name", "магазин") in events
    assert "shop.yml is not valid YAML" in caplog.text
