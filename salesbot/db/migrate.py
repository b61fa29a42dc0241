"""Alembic migrations of the app's tables, applied at start (`upgrade_to_head`) by every process that opens the
database, and from the command line: `python -m salesbot.db upgrade|current|heads [DATABASE_URL]`.

A database made before migrations existed (by `Storage`'s create_all) has the tables but no `alembic_version`:
it is stamped as revision 0001 (the schema that release made) and then upgraded. Two processes starting at once
take a lock first (PostgreSQL: a transaction-scoped advisory lock; SQLite: an exclusive lock on a file beside
the database), and the second one finds the database at head.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import sqlalchemy as sa

from salesbot.db.engine import sqlite_path

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PRE_ALEMBIC_REVISION = "0001"
PRE_ALEMBIC_TABLES = ("processed_messages", "orders", "outbox", "handoffs", "handoff_log", "sent_messages",
                      "nudges", "llm_calls")
ADVISORY_LOCK_KEY = 0x5A1E5B07  # any constant shared by every process of the app
_process_lock = threading.Lock()


def _config(connection: Optional[sa.engine.Connection] = None):  # -> alembic.config.Config
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.engine.Connection) -> Optional[str]:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl  # SQLite files are local; the lock is for processes on this host

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _migration_connection(engine: sa.engine.Engine) -> Iterator[sa.engine.Connection]:
    """A connection in a transaction, held under the cross-process migration lock."""
    with _process_lock:
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
                yield connection
            return
        path = sqlite_path(str(engine.url))
        if path is None:  # in-memory: one process only
            with engine.begin() as connection:
                yield connection
            return
        with _file_lock(path.with_name(path.name + ".migrate.lock")), engine.begin() as connection:
            yield connection


def is_at_head(engine: sa.engine.Engine) -> bool:
    with engine.connect() as connection:
        return current_revision(connection) == head_revision()


def upgrade_to_head(engine: sa.engine.Engine) -> str:
    """Bring the database to the newest revision (a no-op when it is there); returns the revision."""
    from alembic import command

    head = head_revision()
    if is_at_head(engine):
        return head
    with _migration_connection(engine) as connection:
        before = current_revision(connection)
        if before is None:
            tables = set(sa.inspect(connection).get_table_names())
            if tables.issuperset(PRE_ALEMBIC_TABLES):
                logger.info("database made before migrations: stamping it as revision %s", PRE_ALEMBIC_REVISION)
                command.stamp(_config(connection), PRE_ALEMBIC_REVISION)
                before = PRE_ALEMBIC_REVISION
            elif tables & set(PRE_ALEMBIC_TABLES):
                logger.info("database of an older release (tables %s): revision %s adds the missing ones",
                            ", ".join(sorted(tables & set(PRE_ALEMBIC_TABLES))), PRE_ALEMBIC_REVISION)
        if before != head:
            command.upgrade(_config(connection), "head")
            logger.info("database migrated from %s to %s", before or "empty", head)
    return head


def main(argv: Optional[list] = None) -> int:
    import argparse

    from salesbot.db.engine import DEFAULT_DATABASE_URL, create_engine

    parser = argparse.ArgumentParser(prog="python -m salesbot.db", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["upgrade", "current", "heads"])
    parser.add_argument("database_url", nargs="?", default=None, help="default: DATABASE_URL or " +
                        DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if args.command == "heads":
        print(head_revision())
        return 0
    import os

    engine = create_engine(args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        if args.command == "upgrade":
            print(upgrade_to_head(engine))
        else:
            with engine.connect() as connection:
                print(current_revision(connection) or "none")
    finally:
        engine.dispose()
    return 0
