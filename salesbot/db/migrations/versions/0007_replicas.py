"""Several Rasa replicas over one database: leases (a chat's exclusive processor, the one poller) and an index
for a chat's pending inbox rows.

Revision ID: 0007_replicas
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_replicas"
down_revision = "0006_desk_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(160), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_leases_holder", "leases", ["holder"])
    op.create_index("ix_inbox_chat_status_id", "inbox", ["chat_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_chat_status_id", table_name="inbox")
    op.drop_index("ix_leases_holder", table_name="leases")
    op.drop_table("leases")
