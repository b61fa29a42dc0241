"""Upgrading a database made by the previous release, run in either venv: in-process by
tests/test_db_migrations.py (Python 3.11, SQLAlchemy 2.x) and as `python tests/db_migration_check.py URL` in the
Rasa venv (Python 3.10, SQLAlchemy 1.4), which prints "upgrade: ok".

The previous release's tables are made by its own code (tests/fixtures/previous_release_storage.py, a verbatim
copy of salesbot/storage.py at 7155970) with a row in each; then the current Storage opens the database.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHAT = "77011234567@c.us"
GROUP = "120363000000000001@g.us"


def previous_release():
    spec = importlib.util.spec_from_file_location("previous_release_storage",
                                                  ROOT / "tests" / "fixtures" / "previous_release_storage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill_previous_release_database(database_url: str) -> None:
    old = previous_release().Storage(database_url, clock=lambda: 1000.0)
    assert old.claim_message(CHAT, "IN1", "incomingMessageReceived")
    order = old.create_order(f"order:{CHAT}:MSG1", chat_id=CHAT, customer_name="Айгерим", phone="77011234567",
                             product="Chanel балетки", size="37", color="черный", city="Алматы",
                             address="Абая 10, кв 5", price=42000)
    old.set_order_status(order["id"], "NOTIFIED")
    old.claim_effect("order:1:contact", "order_contact", GROUP, {"phone": "77011234567", "name": "Айгерим"})
    old.finish_effect("order:1:contact", "SENT", id_message="BAE5AAA")
    old.claim_effect("order:1:details", "order_details", GROUP, {"message": "Новый заказ № 1"})
    old.finish_effect("order:1:details", "FAILED", error="GREEN-API sendMessage failed: HTTP 503")
    old.claim_effect("escalation:2:details", "escalation_details", GROUP, {"message": "Клиент просит менеджера"})
    # ^ left PENDING: the old sender died before recording how the send ended
    old.pause_chat(CHAT, "manager_typed", "shop phone", 1100.0)
    old.schedule_nudge("77019998877@c.us", 1, 5000.0, 1200.0)
    old.record_llm_call(CHAT, "MSG2", "gpt-4o-mini", "answered", 840, 512, 40, 1300.0)
    old.remember_sent(CHAT, ["BAE5BBB"], 1400.0)
    old.engine.dispose()


def check_upgraded(database_url: str) -> None:
    import sqlalchemy as sa

    from salesbot.db import migrate
    from salesbot.db.schema import metadata
    from salesbot.storage import Storage

    store = Storage(database_url)
    try:
        with store.engine.connect() as connection:
            assert migrate.current_revision(connection) == migrate.head_revision()
            inspector = sa.inspect(connection)
            tables = set(inspector.get_table_names())
            for table in metadata.sorted_tables:  # every table and column of the newest schema is there
                assert table.name in tables, table.name
                have = {c["name"] for c in inspector.get_columns(table.name)}
                assert have == set(table.columns.keys()), (table.name, have ^ set(table.columns.keys()))
        # the previous release's rows, unchanged and usable through the current API
        assert store.claim_message(CHAT, "IN1") is False
        [order] = store.list_orders(CHAT)
        assert (order["product"], order["address"], order["price"], order["status"]) == (
            "Chanel балетки", "Абая 10, кв 5", 42000, "NOTIFIED")
        assert store.handoff(CHAT)["paused"] and store.handoff(CHAT)["reason"] == "manager_typed"
        assert [(h["action"], h["at"]) for h in store.handoff_history(CHAT)] == [("pause", 1100.0)]
        assert store.nudge("77019998877@c.us")["due_at"] == 5000.0
        assert store.llm_calls(CHAT)[0]["prompt_tokens"] == 512
        assert store.was_sent_by_bot("BAE5BBB")
        outbox = {row["effect_key"]: row for row in store.repos.outbox.list()}
        assert outbox["order:1:contact"]["status"] == "SENT" and outbox["order:1:contact"]["target"] == GROUP
        assert outbox["order:1:contact"]["sent_at"] is not None
        assert outbox["order:1:details"]["last_error"].endswith("HTTP 503")
        assert outbox["escalation:2:details"]["check_delivery"] in (True, 1)  # outcome unknown: check first
        assert store.claim_effect("order:1:contact", "order_contact", GROUP, {}) is None  # still sent once
        # the new tables work on the old database
        assert store.repos.inbox.accept(CHAT, "IN2", "incomingMessageReceived", {"text": "привет"}) is not None
        row, created = store.repos.outbox.enqueue("reply:IN2", "greenapi.message", CHAT, {"message": "Здравствуйте"})
        assert created and row["status"] == "PENDING"
    finally:
        store.engine.dispose()
    # idempotent: opening again changes nothing
    again = Storage(database_url)
    try:
        assert migrate.upgrade_to_head(again.engine) == migrate.head_revision()
        assert len(again.list_orders()) == 1 and len(again.repos.outbox.list()) == 4
    finally:
        again.engine.dispose()


def main() -> None:
    database_url = sys.argv[1]
    fill_previous_release_database(database_url)
    check_upgraded(database_url)
    print("upgrade: ok")


if __name__ == "__main__":
    main()
