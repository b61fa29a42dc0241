"""Alembic environment: always run by salesbot.db.migrate.upgrade_to_head with an open connection."""
from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through salesbot.db.migrate (python -m salesbot.db upgrade), "
                       "which passes the connection")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
