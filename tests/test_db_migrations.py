"""Alembic migrations on real SQLite and PostgreSQL: a fresh database, a database made by the previous release
(upgraded in place, data kept), idempotence, two processes starting at once, and the same upgrade in the Rasa
venv (Python 3.10, SQLAlchemy 1.4)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from salesbot.db import migrate
from salesbot.db.engine import create_engine
from salesbot.db.schema import metadata
from tests import db_migration_check
from tests.db_helpers import scratch_database

ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = Path(os.environ.get("VENV_DIR", ROOT / ".venv")) / "rasa" / "bin" / "python"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    with scratch_database(request.param, tmp_path) as url:
        yield url


def test_a_fresh_database_gets_the_newest_schema(database_url):
    engine = create_engine(database_url)
    try:
        assert migrate.upgrade_to_head(engine) == migrate.head_revision() == "0007_replicas"
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            for table in metadata.sorted_tables:
                assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys())
            assert {"uq_inbox_chat_message"} <= {c["name"] for c in inspector.get_unique_constraints("inbox")}
            assert migrate.current_revision(connection) == "0007_replicas"
    finally:
        engine.dispose()


def test_a_database_of_the_previous_release_is_upgraded_in_place(database_url):
    db_migration_check.fill_previous_release_database(database_url)
    engine = create_engine(database_url)
    with engine.connect() as connection:  # really a pre-migration database
        assert migrate.current_revision(connection) is None
        assert "inbox" not in sa.inspect(connection).get_table_names()
    engine.dispose()
    db_migration_check.check_upgraded(database_url)


def test_two_processes_starting_at_once_migrate_once(database_url, tmp_path):
    db_migration_check.fill_previous_release_database(database_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "salesbot.db", "upgrade", database_url]
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["0007_replicas"] * 3
    migrated = [err for _, err in outputs if "migrated from 0001 to 0007_replicas" in err]
    assert len(migrated) == 1, outputs  # one did the work, the others found it done
    db_migration_check.check_upgraded(database_url)


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="the Rasa venv is not set up")
def test_the_upgrade_works_in_the_rasa_venv(database_url, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "PYTHONWARNINGS": "ignore"}
    version = subprocess.run([str(RASA_PYTHON), "-c", "import sqlalchemy, sys; print(sys.version_info[:2], "
                              "sqlalchemy.__version__)"], capture_output=True, text=True, env=env, check=True)
    assert version.stdout.startswith("(3, 10) 1.4"), version.stdout
    result = subprocess.run([str(RASA_PYTHON), str(ROOT / "tests" / "db_migration_check.py"), database_url],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "upgrade: ok" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
