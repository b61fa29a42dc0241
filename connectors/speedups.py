"""Two performance fixes for the Rasa server process, installed by the GREEN-API channel when Rasa creates it.

1. Rasa 3.6 validates every action-server response with `jsonschema.validate`, which re-checks the schema itself
against the JSON-Schema metaschema on each call (a sixth of the Rasa server's CPU under load, measured with py-spy).
`install()` swaps in a `validate` with the same semantics that checks each distinct schema once and reuses its
validator.
2. Rasa's SQL tracker store on SQLite runs in the default rollback-journal mode with a full fsync per commit,
inside the event loop. Every SQLite connection of the process is switched to WAL with synchronous=NORMAL:
commits no longer wait for the disk (a power cut may lose the last turns, an application crash loses nothing).
Use PostgreSQL for the tracker store where that matters.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any, Dict

import jsonschema
from jsonschema import exceptions, validators

_original_validate = jsonschema.validate
_validators: Dict[str, Any] = {}
_lock = threading.Lock()


def cached_validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    if cls is not None or args or kwargs:
        return _original_validate(instance, schema, cls, *args, **kwargs)
    key = json.dumps(schema, sort_keys=True, default=repr)
    validator = _validators.get(key)
    if validator is None:
        klass = validators.validator_for(schema)
        klass.check_schema(schema)  # once per distinct schema, as jsonschema.validate would every time
        with _lock:
            validator = _validators.setdefault(key, klass(schema))
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def install() -> None:
    jsonschema.validate = cached_validate
    import sqlalchemy

    if not sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", sqlite_wal):
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", sqlite_wal)
