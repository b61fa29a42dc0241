"""Engine creation and the write path shared by every repository.

SQLite by default (`sqlite:///runtime/salesbot.db`), PostgreSQL through psycopg2. Works with SQLAlchemy 1.4 (Rasa's
pin) and 2.x. Calls are blocking and short; async callers wrap them in `asyncio.to_thread`.
"""
from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import sqlalchemy as sa

from salesbot.clock import Clock, system_clock

DEFAULT_DATABASE_URL = "sqlite:///runtime/salesbot.db"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any, **options: Any) -> str:
    """JSON for a text column: readable (Cyrillic kept), and storable in SQLite and PostgreSQL whatever a hostile
    body holds — control characters are escaped by json itself, lone surrogates here."""
    text = json.dumps(value, ensure_ascii=False, **options)
    return _LONE_SURROGATE.sub(lambda match: "\\u%04x" % ord(match.group()), text)


def normalise_url(database_url: str) -> str:
    """psycopg2 is installed in both venvs; SQLAlchemy 2.1 would otherwise pick psycopg 3 for postgresql://."""
    if database_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + database_url.split("://", 1)[1]
    return database_url


def sqlite_path(database_url: str) -> Optional[Path]:
    """The file of a file-backed SQLite URL, else None (in-memory or another database)."""
    if not database_url.startswith("sqlite:///"):
        return None
    path = database_url[len("sqlite:///"):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def create_engine(database_url: str) -> sa.engine.Engine:
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("sqlite"):
        # Two processes share the file: wait for a lock instead of failing at once. A pool of open connections:
        # SQLAlchemy 1.4 would open (and set up) a new one for every call.
        engine = sa.create_engine(database_url, connect_args={"timeout": 30, "check_same_thread": False},
                                  poolclass=sa.pool.QueuePool, pool_size=4, max_overflow=8)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = sa.create_engine(normalise_url(database_url), pool_pre_ping=True)
    if engine.dialect.name != "postgresql":
        raise ValueError(f"unsupported database dialect {engine.dialect.name!r}; use SQLite or PostgreSQL")
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


ClockLike = Union[Clock, Callable[[], float], None]


class Database:
    """An engine, the clock and the write path; every repository is built over one of these."""

    def __init__(self, database_url: str, clock: ClockLike = None):
        self.database_url = database_url
        self.engine = create_engine(database_url)
        if clock is None:
            clock = system_clock()
        self._now: Callable[[], float] = clock.now if isinstance(clock, Clock) else clock
        # SQLite has one writer at a time and its busy handler sleeps in growing steps (up to 100 ms) while it
        # waits: one in-process lock around write transactions keeps threads from sleeping on each other.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    def now(self) -> float:
        return self._now()

    @contextmanager
    def write(self) -> Iterator[sa.engine.Connection]:
        """One write transaction (committed on exit)."""
        if self._write_lock is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[sa.engine.Connection]:
        with self.engine.connect() as connection:
            yield connection

    def insert(self, table: sa.Table) -> Any:
        """INSERT ... ON CONFLICT for the engine's dialect (`.on_conflict_do_nothing()` is available on it)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def dispose(self) -> None:
        self.engine.dispose()
