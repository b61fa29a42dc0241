"""amoCRM Chats API: the scope_id obtained with `connect`, kept so a restart does not connect again.

Revision ID: 0005_amocrm
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_amocrm"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "amocrm_connections",
        sa.Column("channel_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("scope_id", sa.String(160), nullable=False),
        sa.Column("connected_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("amocrm_connections")
