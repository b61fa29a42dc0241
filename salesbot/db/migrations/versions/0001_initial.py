"""The schema of the release before migrations (what Storage's create_all made, up to commit 7155970).

Each table is created only when missing, so a database made by an older release that lacked a table comes out
complete. Frozen: never edit; change the schema in a new revision.

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list:
    return [
        ("processed_messages", [
            sa.Column("chat_id", sa.String(128), primary_key=True),
            sa.Column("id_message", sa.String(128), primary_key=True),
            sa.Column("type_webhook", sa.String(64), nullable=False),
            sa.Column("received_at", sa.Float, nullable=False),
        ], []),
        ("orders", [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("order_key", sa.String(255), nullable=False, unique=True),
            sa.Column("chat_id", sa.String(128), nullable=False),
            sa.Column("customer_name", sa.String(255), nullable=False),
            sa.Column("phone", sa.String(32), nullable=True),
            sa.Column("product", sa.String(255), nullable=False),
            sa.Column("size", sa.String(16), nullable=True),
            sa.Column("color", sa.String(64), nullable=True),
            sa.Column("city", sa.String(128), nullable=False),
            sa.Column("address", sa.Text, nullable=False),
            sa.Column("price", sa.Integer, nullable=False),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        ], [("ix_orders_chat_id", ["chat_id"])]),
        ("outbox", [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("effect_key", sa.String(255), nullable=False, unique=True),
            sa.Column("kind", sa.String(64), nullable=False),
            sa.Column("chat_id", sa.String(128), nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("last_error", sa.Text, nullable=True),
            sa.Column("id_message", sa.String(128), nullable=True),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        ], []),
        ("handoffs", [
            sa.Column("chat_id", sa.String(128), primary_key=True),
            sa.Column("paused", sa.Boolean, nullable=False),
            sa.Column("since", sa.Float, nullable=False),
            sa.Column("reason", sa.String(32), nullable=False),
            sa.Column("by", sa.String(128), nullable=False),
            sa.Column("last_manager_at", sa.Float, nullable=True),
        ], []),
        ("handoff_log", [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("chat_id", sa.String(128), nullable=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("reason", sa.String(32), nullable=False),
            sa.Column("by", sa.String(128), nullable=False),
            sa.Column("at", sa.Float, nullable=False),
        ], [("ix_handoff_log_chat_id", ["chat_id"])]),
        ("sent_messages", [
            sa.Column("id_message", sa.String(128), primary_key=True),
            sa.Column("chat_id", sa.String(128), nullable=False),
            sa.Column("at", sa.Float, nullable=False),
        ], []),
        ("nudges", [
            sa.Column("chat_id", sa.String(128), primary_key=True),
            sa.Column("stage", sa.Integer, nullable=False),
            sa.Column("due_at", sa.Float, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        ], []),
        ("llm_calls", [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("chat_id", sa.String(128), nullable=False),
            sa.Column("id_message", sa.String(128), nullable=True),
            sa.Column("model", sa.String(128), nullable=False),
            sa.Column("outcome", sa.String(32), nullable=False),
            sa.Column("latency_ms", sa.Integer, nullable=False),
            sa.Column("prompt_tokens", sa.Integer, nullable=True),
            sa.Column("completion_tokens", sa.Integer, nullable=True),
            sa.Column("at", sa.Float, nullable=False),
        ], [("ix_llm_calls_chat_id", ["chat_id"])]),
    ]


TABLE_NAMES = ("processed_messages", "orders", "outbox", "handoffs", "handoff_log", "sent_messages", "nudges",
               "llm_calls")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in existing:
            continue
        op.create_table(name, *columns)
        for index_name, index_columns in indexes:
            op.create_index(index_name, name, index_columns)


def downgrade() -> None:
    for name, _columns, _indexes in reversed(_tables()):
        op.drop_table(name)
