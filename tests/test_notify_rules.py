"""The notifications' pure rules: phones, templates (Jinja2 sandbox, strict variables, Babel), quiet hours, and
the desk's answers when the API is off (Starlette's TestClient: request/response only)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from salesbot.desk.app import create_app
from salesbot.desk.config import load_desk_config
from salesbot.notify.phones import PhoneError, normalise_phone, phone_keys, region_of_country
from salesbot.notify.service import QuietHours, parse_quiet_hours
from salesbot.notify.templates import (
    CurrencyFormat,
    MissingVariable,
    NotificationTemplates,
    TemplateFailed,
    TemplatesError,
)

ALMATY = ZoneInfo("Asia/Almaty")


@pytest.mark.parametrize("text", ["+7 701 123 45 67", "8 701 123 45 67", "+7 (701) 123-45-67", "77011234567",
                                  "87011234567", "7011234567"])
def test_kazakh_mobiles_in_every_usual_form(text):
    assert normalise_phone(text) == "+77011234567"


def test_russian_mobiles_and_what_is_refused():
    assert normalise_phone("8 916 123-45-67", "RU") == "+79161234567"
    assert normalise_phone("+7 916 123 45 67") == "+79161234567"  # a +7 number is KZ or RU by its prefix
    for text, why in (("+7 727 250 00 00", "mobile"), ("+1 650 253 0000", "region US"), ("", "required"),
                      ("12345", "valid"), ("+7 701 123 45 67 89 00", "valid")):
        with pytest.raises(PhoneError, match=why):
            normalise_phone(text)
    assert normalise_phone("+1 650 253 0000", allowed_regions=("KZ", "US")) == "+16502530000"


def test_staff_keys_and_regions():
    assert phone_keys(["8 701 555 00 11", "77017770000", "+44 20 7946 0958"]) == {
        "77015550011", "77017770000", "442079460958"}
    assert (region_of_country("Казахстан"), region_of_country("Россия"), region_of_country("ru"),
            region_of_country("")) == ("KZ", "RU", "RU", "KZ")


def templates(**texts):
    return NotificationTemplates(texts, CurrencyFormat("RUB", "₽", "{amount} {symbol}"),
                                 {"shop_name": "Тест", "pickup_point": "ул. Ленина 1"})


def test_strict_variables_name_the_missing_one():
    t = templates(a="{{ name }}, трек {{ track }}", b="{% if eta is defined %}{{ eta | date }}{% endif %}готово")
    assert t.render("a", {"name": "Оля", "track": "X1"}) == "Оля, трек X1"
    with pytest.raises(MissingVariable) as missing:
        t.render("a", {"name": "Оля"})
    assert missing.value.name == "track"
    assert t.render("b", {}) == "готово" and t.render("b", {"eta": "2026-03-08"}) == "8 марта" + "готово"


def test_money_and_dates_in_russian():
    t = templates(m="{{ amount | money }}", d="{{ day | date }}", w="{{ day | date('d MMMM, EEEE') }}")
    assert t.render("m", {"amount": 15990}) == "15 990 ₽"
    assert t.render("m", {"amount": "1234567"}) == "1 234 567 ₽"
    assert t.render("d", {"day": "2026-12-31"}) == "31 декабря"
    assert t.render("w", {"day": "2026-12-05"}) == "5 декабря, суббота"
    with pytest.raises(TemplateFailed):
        t.render("m", {"amount": "дорого"})


def test_the_sandbox_keeps_templates_away_from_python_internals():
    t = templates(x="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateFailed):
        t.render("x", {})


def test_a_shop_file_replaces_and_adds_events(tmp_path):
    path = tmp_path / "notifications.yml"
    path.write_text("order_shipped: 'Отправили {{ reference }}'\nbirthday: 'С днём рождения, {{ name }}!'\n",
                    encoding="utf-8")
    loaded = NotificationTemplates.load(path)
    assert loaded.render("order_shipped", {"reference": "R1"}) == "Отправили R1"
    assert {"birthday", "refund_sent", "ready_for_pickup"} <= set(loaded.events)
    path.write_text("Bad Event: 'x'\n", encoding="utf-8")
    with pytest.raises(TemplatesError, match="snake_case"):
        NotificationTemplates.load(path)
    path.write_text("broken: '{{ name '\n", encoding="utf-8")
    with pytest.raises(TemplatesError, match="broken"):
        NotificationTemplates.load(path)


def at(hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 12, 3, hour, minute, tzinfo=ALMATY).timestamp()


def test_quiet_hours_wait_for_the_morning():
    quiet = QuietHours(22, 8, "Asia/Almaty")
    morning = dt.datetime(2026, 12, 4, 8, tzinfo=ALMATY).timestamp()
    assert quiet.due_at(at(12)) is None and quiet.due_at(at(21, 59)) is None
    assert quiet.due_at(at(22)) == morning and quiet.due_at(at(23, 30)) == morning
    assert quiet.due_at(at(3)) == dt.datetime(2026, 12, 3, 8, tzinfo=ALMATY).timestamp()
    assert parse_quiet_hours("off", "Asia/Almaty") is None
    with pytest.raises(ValueError):
        parse_quiet_hours("ночью", "Asia/Almaty")


def desk_client(tmp_path, **env):
    base = {"DATABASE_URL": f"sqlite:///{tmp_path / 'desk.db'}", "INVENTORY_PATH": "shop/inventory.xlsx"}
    return TestClient(create_app(load_desk_config({**base, **env})))


def test_the_api_is_off_without_a_token(tmp_path):
    with desk_client(tmp_path) as client:
        assert client.get("/health").json() == {"ok": True, "notifications_api": False, "relay": False}
        answer = client.post("/api/v1/notifications", json={}, headers={"Authorization": "Bearer x"})
        assert answer.status_code == 404 and "NOTIFY_API_TOKEN" in answer.json()["error"]


def test_a_declared_length_over_the_limit_is_refused_before_reading(tmp_path):
    with desk_client(tmp_path, NOTIFY_API_TOKEN="t", NOTIFY_MAX_BODY_BYTES="100") as client:
        answer = client.post("/api/v1/notifications", content=b"{}" + b" " * 200,
                             headers={"Authorization": "Bearer t", "Content-Type": "application/json"})
        assert answer.status_code == 413
        answer = client.post("/api/v1/notifications", json={"event": "order_shipped"},
                             headers={"Authorization": "Bearer t"})
        assert (answer.status_code, answer.json()["field"]) == (422, "reference")
