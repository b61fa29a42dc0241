"""The managers' page: its users, when a chat was last read there, the text of the bot's sends (the transcript)
and an order's track number.

Revision ID: 0006_desk_users
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_desk_users"
down_revision = "0005_amocrm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_login_at", sa.Float, nullable=True),
    )
    op.create_table(
        "desk_chat_reads",
        sa.Column("chat_id", sa.String(128), primary_key=True),
        sa.Column("read_at", sa.Float, nullable=False),
        sa.Column("by", sa.String(64), nullable=False, server_default=""),
    )
    with op.batch_alter_table("sent_messages") as batch:
        batch.add_column(sa.Column("text", sa.Text, nullable=True))
        batch.add_column(sa.Column("author", sa.String(64), nullable=True))
    op.create_index("ix_sent_messages_chat_id", "sent_messages", ["chat_id"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("track_number", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("track_number")
    op.drop_index("ix_sent_messages_chat_id", table_name="sent_messages")
    with op.batch_alter_table("sent_messages") as batch:
        batch.drop_column("author")
        batch.drop_column("text")
    op.drop_table("desk_chat_reads")
    op.drop_table("desk_users")
