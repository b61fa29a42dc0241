"""The durable inbox, an outbox a relay can send (due time, lease, delivery check, order per key), and the log
of every send attempt.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("id_message", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float, nullable=True),
        sa.UniqueConstraint("chat_id", "id_message", name="uq_inbox_chat_message"),
    )
    op.create_index("ix_inbox_status_id", "inbox", ["status", "id"])

    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("target", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("sequence_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float, nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("check_delivery", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("sent_at", sa.Float, nullable=True))
    op.create_index("ix_outbox_status_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_sequence_key", "outbox", ["sequence_key"])

    outbox = sa.table("outbox", sa.column("target", sa.Text), sa.column("chat_id", sa.String),
                      sa.column("status", sa.String), sa.column("check_delivery", sa.Boolean),
                      sa.column("sent_at", sa.Float), sa.column("updated_at", sa.Float))
    # Rows of the previous release went to their chat_id. A PENDING one was claimed by a sender that died before
    # it recorded the outcome: whether it went out is unknown, so it is checked before any re-send.
    op.execute(outbox.update().values(target=outbox.c.chat_id))
    op.execute(outbox.update().where(outbox.c.status == "PENDING").values(check_delivery=True))
    op.execute(outbox.update().where(outbox.c.status == "SENT").values(sent_at=outbox.c.updated_at))

    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
    )
    op.create_index("ix_outbox_attempts_outbox_id", "outbox_attempts", ["outbox_id"])


def downgrade() -> None:
    op.drop_table("outbox_attempts")
    op.drop_index("ix_outbox_sequence_key", "outbox")
    op.drop_index("ix_outbox_status_due", "outbox")
    with op.batch_alter_table("outbox") as batch:
        for column in ("sent_at", "check_delivery", "claimed_by", "lease_until", "next_attempt_at", "sequence_key",
                       "target"):
            batch.drop_column(column)
    op.drop_table("inbox")
