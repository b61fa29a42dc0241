"""Performance fixes for the Rasa server process, installed by the GREEN-API channel when Rasa creates it (before
Rasa loads the agent and creates its tracker store). Each returns exactly what the code it replaces returns.

1. Rasa 3.6 validates every action-server response with `jsonschema.validate`, which re-checks the schema itself
against the JSON-Schema metaschema on each call (a sixth of the Rasa server's CPU under load, measured with py-spy).
`install()` swaps in a `validate` with the same semantics that checks each distinct schema once and reuses its
validator. Each event of a response was still checked against all 23 event schemas of a `oneOf`; a response is now
first checked against the one schema its event name selects (`DispatchedItems`), and only what that does not
find valid goes through the full validation, which raises jsonschema's own error.
2. Rasa's SQL tracker store on SQLite runs in the default rollback-journal mode with a full fsync per commit,
inside the event loop. Every SQLite connection of the process is switched to WAL with synchronous=NORMAL:
commits no longer wait for the disk (a power cut may lose the last turns, an application crash loses nothing).
Use PostgreSQL for the tracker store where that matters.
3. With SQLAlchemy 1.4 a file SQLite database gets a NullPool: Rasa's SQL tracker store opened a new connection for
every retrieve and every save and closed it afterwards (the close of the last connection checkpoints the WAL).
The tracker store's engine keeps its connections in a QueuePool instead (what SQLAlchemy 2.0 does by default for
file databases); each session still gets a connection of its own, rolled back when returned.
4. `Event.resolve_by_type`, called for every event Rasa deserialises, walks the whole Event class tree each time
(`all_subclasses`). The class found for a type name is remembered until a new Event subclass is defined.
5. The SQL tracker store's retrieve builds a full ORM object per stored event but only reads its `data` column;
it now selects that column alone, with the same filters and order. Rasa also rebuilt the query (an ORM Query with
a subquery for the session start) on every retrieve and again for the count in every save — a fifth of the Rasa
server's CPU per turn under load, measured with py-spy. Both statements are now built once per tracker store with
the sender id as a bind parameter (`SessionQueries`): the same SQL, the same rows. A save added an ORM object per new
event, which the unit of work inserted one statement at a time; the same rows now go in with one executemany.
6. After a turn that ends with a question the channel needs the final tracker (paused? did the customer say no?);
it read the tracker back from the store. `MessageProcessor.save_tracker` now also hands the tracker it saved to
the channel's turn (a context variable the channel sets around the turn), so no second retrieve is needed.
7. TensorFlow runs each small DIET/TED inference across its intra-op and inter-op thread pools, whose hand-offs
and spinning cost more CPU than they save (a tenth of the Rasa server's instructions per turn, measured with
perf). Both pools get one thread unless TF_NUM_INTRAOP_THREADS or TF_NUM_INTEROP_THREADS is set; predictions are
bit-identical (tests/e2e/test_speedups_model.py compares them on the trained model). Only the Rasa server is
affected: training creates no channel.
8. The loaded model leaves about 900 000 objects for Python's cyclic garbage collector, and each full collection
walks all of them (0.8 s of CPU, measured with gc.callbacks; one came about every 500 turns of the bench). Once the
agent is loaded, `freeze_start_up_heap` collects once and moves what is left to the permanent generation
(`gc.freeze`), so later collections only walk objects made afterwards. Nothing is freed that would have been:
those objects live as long as the process.
9. Loading the model took about 55 s of the Rasa server's start on this machine, most of it in `RasaModel.load`:
to create a model's variables before `load_weights` overwrites them with the trained ones, it runs one `fit`
step, for which Keras first traces the whole training step (forward pass, gradients, optimizer) into a graph
with autograph. The variables now come from one forward pass (`batch_loss`) alone: run eagerly for DIET, traced
for TED (its tf.cond on features a batch lacks builds the layers of both branches only when traced). The load
checks that every variable of the model got its trained value (`assert_existing_objects_matched`); the
optimizer's slots are not created, as inference never reads them (fine-tuning, which does, keeps Rasa's load, as
does any model whose forward-pass load fails). The model loads in about 13 s instead of 55 s; predictions are
bit-identical (see 7).

They replace internals of Rasa 3.6 and are installed only on the Rasa versions they were written and checked for
(`SUPPORTED_RASA`); on another version they are skipped with a warning. `SALESBOT_SPEEDUPS=0` switches them off.
"""
from __future__ import annotations

import contextvars
import gc
import itertools
import json
import logging
import os
import sqlite3
import threading
from typing import Any, Dict, Iterator, Optional

import jsonschema
from jsonschema import exceptions, validators

logger = logging.getLogger(__name__)
_original_validate = jsonschema.validate
_validators: Dict[str, Any] = {}
_lock = threading.Lock()


class DispatchedItems:
    """A quicker "valid" for an object schema with an array property whose items are a `oneOf` of branches that
    each pin one key to a different string constant — Rasa's action-server response, whose every event jsonschema
    checks against all 23 event schemas. An item is valid exactly when it passes the item schema without the
    `oneOf` and the one branch its constant names: every other branch fails on its `const`, so exactly one
    matches. Only a "valid" is taken from here; anything else goes to the full validator, so every error is
    jsonschema's own."""

    BRANCH_KEYS = {"properties", "required"}

    def __init__(self, outer: Any, name: str, pin: str, base: Any, branches: Dict[str, Any]):
        self.outer, self.name, self.pin, self.base, self.branches = outer, name, pin, base, branches

    @classmethod
    def build(cls, klass: Any, schema: Any) -> Optional["DispatchedItems"]:
        """None unless `schema` has that shape (then the full validator does all the work)."""
        properties = schema.get("properties") if isinstance(schema, dict) else None
        for name, array in (properties or {}).items():
            items = array.get("items") if isinstance(array, dict) and set(array) <= {"type", "items"} else None
            branches = items.get("oneOf") if isinstance(items, dict) else None
            if not isinstance(branches, list) or not branches:
                continue
            pins = [cls._pin(branch) for branch in branches]
            keys = {pin[0] for pin in pins if pin is not None}
            constants = [pin[1] for pin in pins if pin is not None]
            if None in pins or len(keys) != 1 or len(set(constants)) != len(constants):
                continue
            outer = {**schema, "properties": {**properties, name: {k: v for k, v in array.items() if k != "items"}}}
            base = {k: v for k, v in items.items() if k != "oneOf"}
            return cls(klass(outer), name, keys.pop(), klass(base),
                       {constant: klass(branch) for constant, branch in zip(constants, branches)})
        return None

    @classmethod
    def _pin(cls, branch: Any) -> Optional[Any]:
        """(key, constant) when the branch pins `key` to a string constant and has only properties/required."""
        if not isinstance(branch, dict) or not set(branch) <= cls.BRANCH_KEYS:
            return None
        pinned = [(key, rule["const"]) for key, rule in (branch.get("properties") or {}).items()
                  if isinstance(rule, dict) and isinstance(rule.get("const"), str)]
        return pinned[0] if len(pinned) == 1 else None

    def valid(self, instance: Any) -> bool:
        if not self.outer.is_valid(instance):
            return False
        items = instance.get(self.name) if isinstance(instance, dict) else None
        return not isinstance(items, list) or all(self._item_valid(item) for item in items)

    def _item_valid(self, item: Any) -> bool:
        branch = self.branches.get(item.get(self.pin)) if isinstance(item, dict) \
            and isinstance(item.get(self.pin), str) else None
        return branch is not None and self.base.is_valid(item) and branch.is_valid(item)


def cached_validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    if cls is not None or args or kwargs:
        return _original_validate(instance, schema, cls, *args, **kwargs)
    key = json.dumps(schema, sort_keys=True, default=repr)
    cached = _validators.get(key)
    if cached is None:
        klass = validators.validator_for(schema)
        klass.check_schema(schema)  # once per distinct schema, as jsonschema.validate would every time
        with _lock:
            cached = _validators.setdefault(key, (klass(schema), DispatchedItems.build(klass, schema)))
    validator, dispatched = cached
    if dispatched is not None and dispatched.valid(instance):
        return None
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def pooled_engine_kwargs(original):
    """Wraps rasa.core.tracker_store.create_engine_kwargs: file SQLite URLs get a QueuePool."""

    def create_engine_kwargs(url: Any) -> Dict[str, Any]:
        kwargs = original(url)
        import sqlalchemy

        parsed = sqlalchemy.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and "poolclass" not in kwargs:
            kwargs = {**kwargs, "poolclass": sqlalchemy.pool.QueuePool,
                      # a pooled connection may be checked out by another thread than the one that opened it;
                      # the pool hands it to one user at a time
                      "connect_args": {**kwargs.get("connect_args", {}), "check_same_thread": False}}
        return kwargs

    create_engine_kwargs.original = original
    return create_engine_kwargs


_MISSING = object()


class EventTypes:
    """Event type name -> class, as Event.resolve_by_type finds it. The walk's result can only change when a class
    joins the tree, so the cache is emptied whenever an Event subclass is created; it holds the classes it found,
    so none of them can be garbage-collected. Unknown names are not cached: Rasa's code answers them."""

    def __init__(self, original):
        self.original = original
        self.found: Dict[Any, Any] = {}

    def resolve_by_type(self, type_name: Any, default: Optional[Any] = None) -> Optional[Any]:
        try:
            cls = self.found.get(type_name)
        except TypeError:  # an unhashable name: Rasa's code decides
            return self.original(type_name, default)
        if cls is not None and cls.type_name == type_name:
            return cls
        cls = self.original(type_name, _MISSING)
        if cls is None or cls is _MISSING:  # not a known event type: the default, None or Rasa's ValueError
            return self.original(type_name, default)
        self.found[type_name] = cls
        return cls

    def forget(self) -> None:
        self.found.clear()


def install_event_types(event_base) -> Optional[EventTypes]:
    """Installs the cached lookup on `event_base` (rasa's Event); None when it is installed already or when
    the class defines its own __init_subclass__ (then there is no safe place to hear of new subclasses)."""
    if "__init_subclass__" in event_base.__dict__:
        return None
    types = EventTypes(event_base.resolve_by_type)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super(event_base, cls).__init_subclass__(**kwargs)
        types.forget()

    event_base.__init_subclass__ = classmethod(__init_subclass__)
    event_base.resolve_by_type = staticmethod(types.resolve_by_type)
    return types


class SessionQueries:
    """The statements of SQLTrackerStore._event_query (Rasa 3.6), built once: a conversation's events of the latest
    session (from its last SessionStarted on, or all when there is none), or of every session, ordered by id."""

    def __init__(self, events: Any):
        import sqlalchemy as sa
        from rasa.shared.core.events import SessionStarted

        sender = sa.bindparam("sender_id")
        start = (sa.select(sa.func.max(events.c.timestamp).label("session_start"))
                 .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name).subquery())
        latest = sa.or_(events.c.timestamp >= start.c.session_start, start.c.session_start.is_(None))
        self.latest_data = sa.select(events.c.data).where(events.c.sender_id == sender, latest).order_by(events.c.id)
        self.all_data = sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
        self.latest_count = sa.select(sa.func.count()).select_from(events).where(events.c.sender_id == sender, latest)


def session_queries(store: Any) -> SessionQueries:
    queries = store.__dict__.get("_session_queries")
    if queries is None:
        queries = store._session_queries = SessionQueries(store.SQLEvent.__table__)
    return queries


async def retrieve_data_column(self, sender_id: str, fetch_events_from_all_sessions: bool):
    """SQLTrackerStore._retrieve of Rasa 3.6 selecting only the `data` column, with a statement built once."""
    from rasa.shared.core.trackers import DialogueStateTracker

    queries = session_queries(self)
    query = queries.all_data if fetch_events_from_all_sessions else queries.latest_data
    with self.session_scope() as session:
        rows = session.execute(query, {"sender_id": sender_id}).all()
        events = [json.loads(data) for (data,) in rows]
        if self.domain and len(events) > 0:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None


def additional_events_counted(self, session: Any, tracker: Any) -> Iterator[Any]:
    """SQLTrackerStore._additional_events of Rasa 3.6 (the tracker's events not stored yet: those after as many
    as the latest session has in the store), counting with a statement built once."""
    stored = session.execute(session_queries(self).latest_count, {"sender_id": tracker.sender_id}).scalar()
    return itertools.islice(tracker.events, stored, len(tracker.events))


async def save_in_one_statement(self, tracker: Any) -> None:
    """SQLTrackerStore.save of Rasa 3.6: the tracker's new events, as the same rows in the same order, inserted
    with one executemany instead of an ORM object per event."""
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    await self.stream_events(tracker)
    with self.session_scope() as session:
        rows = []
        for event in self._additional_events(session, tracker):
            data = event.as_dict()
            rows.append({"sender_id": tracker.sender_id, "type_name": event.type_name,
                         "timestamp": data.get("timestamp"),
                         "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                         "action_name": data.get("name"), "data": json.dumps(data)})
        if rows:
            session.execute(self.SQLEvent.__table__.insert(), rows)
        session.commit()


# Set by the channel around one turn: {"sender_id": ...}; the processor's save_tracker adds "tracker".
saved_tracker: "contextvars.ContextVar[Optional[Dict[str, Any]]]" = contextvars.ContextVar("saved_tracker",
                                                                                       default=None)


def hand_over_saved_tracker(original):
    async def save_tracker(self, tracker) -> None:
        await original(self, tracker)
        turn = saved_tracker.get()
        if turn is not None and turn.get("sender_id") == tracker.sender_id:
            turn["tracker"] = tracker

    save_tracker.original = original
    return save_tracker


def single_threaded_tensorflow() -> bool:
    """True when both TF thread pools now have one thread; False when the environment chose, or TF is running."""
    if os.environ.get("TF_NUM_INTRAOP_THREADS") or os.environ.get("TF_NUM_INTEROP_THREADS"):
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError as exc:  # the TF runtime is initialised already: its pools cannot change any more
        logger.info("TensorFlow thread pools left as they are: %s", exc)
        return False
    return True


# How a model gets its variables before the trained weights are loaded over them (see 8): by one forward pass,
# run eagerly (DIET) or traced (TED: its tf.cond on absent features builds the layers of both branches only when
# traced; eagerly it would build one, and its checkpoint would not fit). Other classes: Rasa's own load.
FORWARD_PASS_BUILT = {"DIET": "eager", "TED": "traced"}


def forward_pass_load(original):
    """RasaModel.load of Rasa 3.6 building the model's variables by one forward pass instead of a `fit` step, for
    the classes in FORWARD_PASS_BUILT; fine-tuning (which needs the optimizer's state), any other class and any
    failure are loaded by Rasa's own code."""

    def load(cls, model_file_name, model_data_example, predict_data_example=None, finetune_mode=False,
             *args: Any, **kwargs: Any):
        mode = FORWARD_PASS_BUILT.get(cls.__name__)
        if mode is not None and not finetune_mode:
            try:
                return _load_built_by_forward_pass(cls, mode, model_file_name, model_data_example,
                                                   predict_data_example, *args, **kwargs)
            except Exception as exc:  # Rasa turns a ValueError of a load into an untrained component
                logger.warning("%s: building by a forward pass failed (%r); loading it the usual way",
                               cls.__name__, exc)
        return original.__func__(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                                 *args, **kwargs)

    load.original = original
    return classmethod(load)


def _load_built_by_forward_pass(cls, mode: str, model_file_name, model_data_example, predict_data_example,
                                *args: Any, **kwargs: Any):
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    model = cls(*args, **kwargs)
    config = kwargs.get("config", {})
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                  run_eagerly=config.get(RUN_EAGERLY))
    batch_in, _ = RasaBatchDataGenerator(model_data_example, batch_size=1)[0]
    model._training = True   # as in train_step
    (model.batch_loss if mode == "eager" else tf.function(model.batch_loss))(batch_in)
    model._training = None
    status = model.load_weights(model_file_name)
    status.assert_existing_objects_matched()   # every variable the model has got its trained value
    status.expect_partial()   # the optimizer's slot values stay in the file: inference never uses them
    # predict on one data example to trace the predict step now rather than on the first message
    if predict_data_example:
        model.run_inference(predict_data_example)
    return model


SUPPORTED_RASA = ("3.6.",)


def should_install(rasa_version: str, environ=os.environ) -> bool:
    """False (with a log line saying why) when switched off or when Rasa is not a version these were checked on."""
    if environ.get("SALESBOT_SPEEDUPS", "1").strip().lower() in ("0", "false", "no", "off"):
        logger.info("Rasa speedups switched off (SALESBOT_SPEEDUPS=0)")
        return False
    if not rasa_version.startswith(SUPPORTED_RASA):
        logger.warning("Rasa speedups skipped: written for Rasa %s, this is Rasa %s",
                       "/".join(v + "x" for v in SUPPORTED_RASA), rasa_version)
        return False
    return True


_installed = False


def freeze_start_up_heap() -> bool:
    """Once the agent is loaded (the channel calls this when the server has started): collect, then exclude what
    is left from later collections. False when the speedups are not installed."""
    if not _installed:
        return False
    gc.collect()
    gc.freeze()
    logger.info("start-up heap frozen: %d objects left out of later garbage collections", gc.get_freeze_count())
    return True


def install(rasa_version: Optional[str] = None) -> bool:
    """Installs every speedup; returns False when none was installed (see should_install)."""
    global _installed
    if rasa_version is None:
        from rasa.version import __version__ as rasa_version
    if not should_install(rasa_version):
        return False
    _installed = True
    jsonschema.validate = cached_validate
    import sqlalchemy
    from rasa.core import tracker_store
    from rasa.shared.core.events import Event

    if not sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", sqlite_wal):
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", sqlite_wal)
    if not hasattr(tracker_store.create_engine_kwargs, "original"):
        tracker_store.create_engine_kwargs = pooled_engine_kwargs(tracker_store.create_engine_kwargs)
    install_event_types(Event)
    tracker_store.SQLTrackerStore._retrieve = retrieve_data_column
    tracker_store.SQLTrackerStore._additional_events = additional_events_counted
    tracker_store.SQLTrackerStore.save = save_in_one_statement
    from rasa.core.processor import MessageProcessor

    if not hasattr(MessageProcessor.save_tracker, "original"):
        MessageProcessor.save_tracker = hand_over_saved_tracker(MessageProcessor.save_tracker)
    from rasa.utils.tensorflow.models import RasaModel

    if not hasattr(RasaModel.load, "original"):
        RasaModel.load = forward_pass_load(RasaModel.load)
    single_threaded_tensorflow()
    return True
