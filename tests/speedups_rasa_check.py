"""Runs in the Rasa venv (Python 3.10, rasa 3.6), started by tests/test_speedups_rasa.py: each check computes the
same results with Rasa's own code and with connectors/speedups.py installed, and fails loudly when they differ.
Usage: python tests/speedups_rasa_check.py event_types|tracker_store|saved_tracker ...; prints "<check>: ok".
`python tests/speedups_rasa_check.py predictions MODEL rasa|speedups` prints, as the last line, the JSON of the
model's NLU parses and policy predictions (tests/e2e/test_speedups_model.py compares the two variants)."""
from __future__ import annotations

import asyncio
import inspect
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DOMAIN_YAML = """
version: "3.1"
intents: [greet, deny, order]
entities: [size]
slots:
  size:
    type: text
    mappings: [{type: from_entity, entity: size}]
  confirmed:
    type: bool
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "Здравствуйте!"}]
"""


def domain():
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml(DOMAIN_YAML)


def check_event_types() -> None:
    import rasa.shared.utils.common as common
    from rasa.shared.core.events import Event, UserUttered

    from connectors import speedups

    original = Event.resolve_by_type

    def outcome(resolve, name, default=None):
        try:
            return "class", resolve(name, default)
        except ValueError as error:
            return "error", str(error)

    names = sorted({cls.type_name for cls in common.all_subclasses(Event)})
    queries = [(name, None) for name in names] + [(name, UserUttered) for name in names] + [
        ("topic", None), ("topic", UserUttered), ("no_such_event", None), ("no_such_event", UserUttered)]
    expected = [outcome(original, *query) for query in queries]
    assert len(names) > 20 and ("error", "Unknown event name 'no_such_event'.") in expected

    types = speedups.install_event_types(Event)
    assert types is not None and Event.resolve_by_type is not original
    for _ in range(3):  # the first round fills the cache, the next ones are answered from it
        assert [outcome(Event.resolve_by_type, *query) for query in queries] == expected
    assert set(types.found) == set(names)
    assert speedups.install_event_types(Event) is None  # installed once

    # A class defined later that Rasa's walk finds first (a direct subclass of Event comes before the deeper
    # classes) must be found by the cached lookup too, and so must a type name that was unknown before.
    deep = next(cls for cls in common.all_subclasses(Event)
                if cls not in Event.__subclasses__() and original(cls.type_name) is cls)
    assert Event.resolve_by_type(deep.type_name) is deep

    class Shadow(Event):
        type_name = deep.type_name

        def __eq__(self, other):
            return isinstance(other, Shadow)

        def as_story_string(self):
            return None

    assert not inspect.isabstract(Shadow)
    assert original(deep.type_name) is Shadow
    assert Event.resolve_by_type(deep.type_name) is Shadow

    assert outcome(Event.resolve_by_type, "brand_new_event")[0] == "error"

    class BrandNew(Shadow):
        type_name = "brand_new_event"

    assert original("brand_new_event") is BrandNew is Event.resolve_by_type("brand_new_event")


def conversation(step: int):
    """Events of one conversation, in three saves; fixed timestamps so both runs store the same rows."""
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        ConversationPaused,
        ConversationResumed,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    t = 1_700_000_000.0 + step * 100
    if step == 0:
        return [ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t + 1),
                ActionExecuted("action_listen", timestamp=t + 2),
                UserUttered("привет", {"name": "greet", "confidence": 0.97}, [], timestamp=t + 3,
                            message_id="m1", metadata={"senderName": "Айгуль"}),
                ActionExecuted("utter_greet", timestamp=t + 4),
                BotUttered("Здравствуйте!", metadata={"utter_action": "utter_greet"}, timestamp=t + 5),
                ActionExecuted("action_listen", timestamp=t + 6)]
    if step == 1:
        return [UserUttered("хочу 37", {"name": "order", "confidence": 0.9},
                            [{"entity": "size", "value": "37", "start": 5, "end": 7}], timestamp=t,
                            message_id="m2"),
                SlotSet("size", "37", timestamp=t + 1), SlotSet("confirmed", True, timestamp=t + 2),
                ConversationPaused(timestamp=t + 3),
                UserUttered("нет", {"name": "deny", "confidence": 0.8}, [], timestamp=t + 4, message_id="m3"),
                ConversationResumed(timestamp=t + 5), ActionExecuted("action_listen", timestamp=t + 6)]
    return [ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t + 1),
            SlotSet("size", "37", timestamp=t + 2), ActionExecuted("action_listen", timestamp=t + 3),
            UserUttered("нет", {"name": "deny", "confidence": 0.8}, [], timestamp=t + 4, message_id="m4")]


async def tracker_store_results(store_kwargs: Dict[str, Any]):
    """What a conversation saved in three steps reads back as, and the stored rows themselves."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.trackers import DialogueStateTracker

    store = SQLTrackerStore(domain(), **store_kwargs)
    results = []

    def snapshot(tracker):
        if tracker is None:
            return None
        return {"events": [event.as_dict() for event in tracker.events], "state": tracker.current_state(),
                "paused": tracker.is_paused(), "intent": tracker.latest_message.intent.get("name")}

    for sender in ("77010000001@c.us", "77010000002@c.us"):
        for step in range(3):
            tracker = await store.retrieve(sender) or DialogueStateTracker(sender, domain().slots)
            for event in conversation(step):
                tracker.update(event)
            await store.save(tracker)
            results.append(snapshot(await store.retrieve(sender)))
            results.append(snapshot(await store.retrieve_full_tracker(sender)))
    results.append(snapshot(await store.retrieve("nobody@c.us")))
    results.append(sorted(await store.keys()))
    with store.engine.connect() as connection:  # the stored rows themselves, not only what reads them back
        results.append([tuple(row) for row in connection.execute(sa.text("SELECT * FROM events ORDER BY id"))])
    pool = type(store.engine.pool).__name__
    store.engine.dispose()
    return results, pool


def check_results(expected, got) -> None:
    assert len(expected) == 15 and expected[-3] is None and len(expected[-2]) == 2 and len(expected[-1]) == 38
    assert expected[4]["paused"] is False and len(expected[5]["events"]) > len(expected[4]["events"])
    assert got == expected


def check_tracker_store() -> None:
    from connectors import speedups

    with tempfile.TemporaryDirectory() as tmp:
        expected, pool = asyncio.run(tracker_store_results({"dialect": "sqlite", "db": f"{tmp}/rasa.db"}))
        assert pool == "NullPool", pool
        speedups.install()
        got, pool = asyncio.run(tracker_store_results({"dialect": "sqlite", "db": f"{tmp}/rasa_fast.db"}))
        assert pool == "QueuePool", pool  # the speedup is in effect
    check_results(expected, got)


def check_tracker_store_postgresql() -> None:
    """The same on PostgreSQL (the cluster's tracker store): two scratch databases on the server of
    TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    from connectors import speedups

    admin_url = sa.engine.make_url(os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    admin = sa.create_engine(admin_url.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT")
    names = [f"salesbot_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    server = {"dialect": "postgresql", "host": admin_url.host or "127.0.0.1", "port": admin_url.port or 5432,
              "username": admin_url.username, "password": admin_url.password}
    try:
        for name in names:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        expected, _ = asyncio.run(tracker_store_results({**server, "db": names[0]}))
        speedups.install()
        got, _ = asyncio.run(tracker_store_results({**server, "db": names[1]}))
    finally:
        for name in names:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    check_results(expected, got)


def check_saved_tracker() -> None:
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.events import ConversationPaused
    from rasa.shared.core.trackers import DialogueStateTracker

    from connectors import speedups

    speedups.install()
    processor = object.__new__(MessageProcessor)  # save_tracker only needs the tracker store
    processor.tracker_store = InMemoryTrackerStore(domain())

    async def run() -> None:
        for paused in (False, True):
            sender = f"7701000000{int(paused)}@c.us"
            tracker = DialogueStateTracker.from_events(sender, conversation(0) + conversation(1), domain().slots)
            if paused:
                tracker.update(ConversationPaused())
            turn = {"sender_id": sender}
            token = speedups.saved_tracker.set(turn)
            try:
                await processor.save_tracker(tracker)
                await processor.save_tracker(DialogueStateTracker("someone-else@c.us", domain().slots))
            finally:
                speedups.saved_tracker.reset(token)
            assert turn["tracker"] is tracker  # only this conversation's tracker is handed over
            stored = await processor.tracker_store.retrieve(sender)
            for tracker_ in (turn["tracker"], stored):
                assert tracker_.is_paused() is paused
                assert tracker_.latest_message.intent.get("name") == "deny"
            assert [e.as_dict() for e in stored.events] == [e.as_dict() for e in turn["tracker"].events]
        await processor.save_tracker(DialogueStateTracker("no-turn@c.us", domain().slots))  # nobody listening
        assert await processor.tracker_store.retrieve("no-turn@c.us") is not None

    asyncio.run(run())


PARSED = ["здравствуйте", "сколько стоят балетки шанель", "хочу заказать балетки шанель 37 черные", "алматы",
          "ул абая 10 кв 5", "да", "нет", "нет, лучше 38", "как можно оплатить", "есть доставка в астану?",
          "покажите фото", "позовите менеджера", "спасибо", "а возврат возможен", "во сколько вы работаете",
          "кроссовки найк 39", "гуччи сумка", "ок", "привет, есть лоферы?", "хочу оформить заказ"]


def predictions(model: str, variant: str) -> None:
    """NLU parses of PARSED and the policies' next-action probabilities along a conversation made of them."""
    import json

    if variant == "speedups":
        from connectors import speedups

        speedups.install()
        import tensorflow as tf

        assert tf.config.threading.get_intra_op_parallelism_threads() == 1
        assert tf.config.threading.get_inter_op_parallelism_threads() == 1
    from rasa.core.agent import load_agent
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    async def run():
        agent = await load_agent(model_path=model)
        results = []
        tracker = DialogueStateTracker("77010000000@c.us", agent.domain.slots)
        tracker.update(ActionExecuted("action_listen"))
        for text in PARSED:
            parsed = await agent.parse_message(text)
            results.append([parsed["intent"], parsed["intent_ranking"], parsed["entities"]])
            tracker.update(UserUttered(text, parsed["intent"], parsed["entities"], parsed))
            for _ in range(3):
                prediction = agent.processor._predict_next_with_tracker(tracker)
                action = agent.domain.action_names_or_texts[prediction.max_confidence_index]
                results.append([action, prediction.probabilities, prediction.policy_name])
                tracker.update(ActionExecuted(action))
                if action == "action_listen":
                    break
        return results

    print("\n" + json.dumps(asyncio.run(run()), ensure_ascii=False, default=str))


def check_action_response() -> None:
    """Rasa's action-server response schema: the same verdicts and the same errors with the speedup's validate,
    and valid responses are decided by the one event schema their name selects."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    from connectors import speedups

    schema = RemoteAction.action_response_format_spec()
    user = {"event": "user", "text": "хочу 37", "parse_data": {
        "intent": {"name": "order", "confidence": 0.9}, "intent_ranking": [{"name": "order", "confidence": 0.9}],
        "entities": [{"entity": "size", "value": "37", "start": 5, "end": 7}], "text": "хочу 37"}}
    valid = [{"events": [], "responses": []}, {},
             {"events": [{"event": "slot", "name": "size", "value": "37", "timestamp": None},
                         {"event": "active_loop", "name": "order_form"}, {"event": "followup", "name": "x"},
                         {"event": "bot", "text": "Привет", "metadata": {}}, user, {"event": "pause"},
                         {"event": "action", "name": "utter_greet", "policy": None, "confidence": 1.0},
                         {"event": "reminder"}, {"event": "session_started", "timestamp": 1.5}],
              "responses": [{"text": "Здравствуйте!"}, {"response": "utter_greet"}]}]
    invalid = [{"events": [{"event": "no_such_event"}]}, {"events": [{"name": "size"}]},
               {"events": [{"event": "slot", "name": "size"}]}, {"events": [{"event": "slot", "value": 1}]},
               {"events": [{"event": 7}]}, {"events": ["slot"]}, {"events": "slot"}, {"events": [None]},
               {"events": [{"event": "action", "name": 3}]}, {"events": [{"event": "bot", "timestamp": "now"}]},
               {"events": [{**user, "parse_data": {"entities": [{"entity": "size"}]}}]},
               {"events": [{"event": "user", "parse_data": {"intent": {"confidence": "high"}}}]},
               {"events": [], "responses": ["text"]}, [], "response", {"events": [{"event": "slot", "name": "a",
                                                                                  "value": 1, "metadata": 5}]}]

    def verdict(validate, instance):
        try:
            validate(instance, RemoteAction.action_response_format_spec())
            return "valid"
        except jsonschema.ValidationError as error:
            return f"{error.message} at {list(error.absolute_path)} by {error.validator}"

    expected = [verdict(speedups._original_validate, instance) for instance in valid + invalid]
    assert expected[:len(valid)] == ["valid"] * len(valid) and "valid" not in expected[len(valid):], expected
    for _ in range(2):   # the first round builds the validators, the second reuses them
        assert [verdict(speedups.cached_validate, instance) for instance in valid + invalid] == expected
    dispatched = speedups.DispatchedItems.build(jsonschema.validators.validator_for(schema), schema)
    assert dispatched is not None and len(dispatched.branches) == 23
    assert all(dispatched.valid(instance) for instance in valid)
    assert not any(dispatched.valid(instance) for instance in invalid)


def check_install_guard() -> None:
    """On another Rasa version, or switched off, install() changes nothing."""
    import gc

    import jsonschema

    from connectors import speedups

    before = jsonschema.validate
    assert speedups.install("3.7.0") is False and jsonschema.validate is before
    os.environ["SALESBOT_SPEEDUPS"] = "0"
    try:
        assert speedups.install() is False and jsonschema.validate is before
    finally:
        del os.environ["SALESBOT_SPEEDUPS"]
    assert speedups.freeze_start_up_heap() is False and gc.get_freeze_count() == 0   # not installed: untouched
    from rasa.version import __version__

    assert __version__.startswith(speedups.SUPPORTED_RASA)


if __name__ == "__main__":
    if sys.argv[1] == "predictions":
        predictions(sys.argv[2], sys.argv[3])
        sys.exit(0)
    for name in sys.argv[1:]:
        globals()[f"check_{name}"]()
        print(f"{name}: ok", flush=True)
