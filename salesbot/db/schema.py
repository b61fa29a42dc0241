"""The app's tables at the newest migration (SQLAlchemy Core). Times are epoch seconds (floats) from one clock.

Changing a table here needs a new revision in salesbot/db/migrations/versions/; tests/test_db_migrations.py
checks that the migrated database matches this metadata.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# -- messages: dedupe of incoming notifications, the bot's own sends, the durable inbox -------------------------
processed_messages = sa.Table(
    "processed_messages", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("id_message", sa.String(128), primary_key=True),
    sa.Column("type_webhook", sa.String(64), nullable=False, default=""),
    sa.Column("received_at", sa.Float, nullable=False),
)

sent_messages = sa.Table(
    "sent_messages", metadata,
    sa.Column("id_message", sa.String(128), primary_key=True),
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    # revision 0006: what was sent (the managers' page shows the transcript) and by whom (bot, desk:<user>)
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("author", sa.String(64), nullable=True),
    sa.Index("ix_sent_messages_chat_id", "chat_id"),
)

inbox = sa.Table(
    "inbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("id_message", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),  # typeWebhook, or the source of the message
    sa.Column("body", sa.Text, nullable=False),  # JSON
    sa.Column("status", sa.String(16), nullable=False),  # InboxStatus
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float, nullable=True),
    sa.UniqueConstraint("chat_id", "id_message", name="uq_inbox_chat_message"),
    sa.Index("ix_inbox_status_id", "status", "id"),
    sa.Index("ix_inbox_chat_status_id", "chat_id", "status", "id"),  # a chat's pending rows (revision 0007)
)

# -- orders ---------------------------------------------------------------------------------------------------
orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_key", sa.String(255), nullable=False, unique=True),
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("customer_name", sa.String(255), nullable=False, default=""),
    sa.Column("phone", sa.String(32), nullable=True),
    sa.Column("product", sa.String(255), nullable=False),
    sa.Column("size", sa.String(16), nullable=True),
    sa.Column("color", sa.String(64), nullable=True),
    sa.Column("city", sa.String(128), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("price", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # OrderStatus
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("track_number", sa.String(128), nullable=True),  # revision 0006: set when shipped
)

# -- outbox: every outgoing side effect, sent by the relay (salesbot/outbox.py) -------------------------------------
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("effect_key", sa.String(255), nullable=False, unique=True),  # the idempotency key
    sa.Column("kind", sa.String(64), nullable=False),  # picks the sender
    sa.Column("chat_id", sa.String(128), nullable=False),  # the customer's chat it concerns (or the target)
    sa.Column("payload", sa.Text, nullable=False),  # JSON
    sa.Column("status", sa.String(16), nullable=False),  # OutboxStatus
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("id_message", sa.String(128), nullable=True),  # what the receiver called it (GREEN-API idMessage)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # revision 0002
    sa.Column("target", sa.Text, nullable=False, server_default=""),  # chatId, address, URL...
    sa.Column("sequence_key", sa.String(255), nullable=True),  # rows with one key are sent in id order
    sa.Column("next_attempt_at", sa.Float, nullable=True),  # NULL = due now
    sa.Column("lease_until", sa.Float, nullable=True),  # a SENDING row past this goes back to due
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("check_delivery", sa.Boolean, nullable=False, server_default=sa.false()),  # outcome unknown
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.Index("ix_outbox_status_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_sequence_key", "sequence_key"),
)

outbox_attempts = sa.Table(
    "outbox_attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("outcome", sa.String(24), nullable=False),  # AttemptOutcome
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("worker", sa.String(64), nullable=True),
)

# -- handoffs: who has the chat, bot or manager ------------------------------------------------------------------------
handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # HandoffReason
    sa.Column("by", sa.String(128), nullable=False, default=""),
    sa.Column("last_manager_at", sa.Float, nullable=True),
)

handoff_log = sa.Table(
    "handoff_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),  # HandoffAction
    sa.Column("reason", sa.String(32), nullable=False),  # HandoffReason
    sa.Column("by", sa.String(128), nullable=False, default=""),
    sa.Column("at", sa.Float, nullable=False),
)

# -- nudges: reminders to silent customers ---------------------------------------------------------------------------
nudges = sa.Table(
    "nudges", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("due_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # NudgeStatus
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- LLM calls: what the fallback cost ---------------------------------------------------------------------------------
llm_calls = sa.Table(
    "llm_calls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("id_message", sa.String(128), nullable=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),  # LlmOutcome
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=True),
    sa.Column("completion_tokens", sa.Integer, nullable=True),
    sa.Column("at", sa.Float, nullable=False),
)

# -- notifications: messages the shop's systems ask to send to a customer (revision 0003) ----------------------------
notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("reference", sa.String(255), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # SHA-256 of the request's content
    sa.Column("phone", sa.String(32), nullable=False),  # E.164
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("search_text", sa.Text, nullable=False, server_default=""),  # name casefolded + phone (q=)
    sa.Column("vars", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("text", sa.Text, nullable=False, server_default=""),  # the rendered message
    sa.Column("status", sa.String(16), nullable=False),  # NotificationStatus
    sa.Column("reason", sa.Text, nullable=True),  # why BLOCKED or FAILED
    sa.Column("send_round", sa.Integer, nullable=False, server_default="1"),  # +1 per operator retry
    sa.Column("effect_key", sa.String(255), nullable=True),  # the outbox row of the current round
    sa.Column("id_message", sa.String(128), nullable=True),
    sa.Column("due_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("read_at", sa.Float, nullable=True),
    sa.Column("failed_at", sa.Float, nullable=True),
    sa.UniqueConstraint("event", "reference", name="uq_notifications_event_reference"),
    sa.Index("ix_notifications_status", "status"),
    sa.Index("ix_notifications_created_at", "created_at"),
    sa.Index("ix_notifications_id_message", "id_message"),
)

notification_log = sa.Table(
    "notification_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.Integer, sa.ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),  # api, outbox, webhook, retry
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("at", sa.Float, nullable=False),
)

# -- opt-outs: customers who asked for no notifications or nudges (revision 0003) ------------------------------------
opt_outs = sa.Table(
    "opt_outs", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # OptOutState
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- handover requests: each way a handover to a person was announced (revision 0003) ------------------------------
handover_requests = sa.Table(
    "handover_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_key", sa.String(255), nullable=False),  # one handover (e.g. chat + customer message id)
    sa.Column("method", sa.String(32), nullable=False),  # whatsapp_group, desk, email, sms, webhook
    sa.Column("chat_id", sa.String(128), nullable=False, index=True),
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("reason", sa.String(32), nullable=False),  # HandoffReason
    sa.Column("preferred_contact", sa.String(32), nullable=True),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("messages", sa.Text, nullable=False, server_default="[]"),  # JSON: the last messages
    sa.Column("status", sa.String(16), nullable=False),  # HandoverStatus
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("response_code", sa.Integer, nullable=True),
    sa.Column("effect_key", sa.String(255), nullable=True),  # its outbox row
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("notified_at", sa.Float, nullable=True),
    sa.Column("first_reply_at", sa.Float, nullable=True),  # a manager's first message in the chat after it
    sa.Column("completed_at", sa.Float, nullable=True),
    sa.UniqueConstraint("request_key", "method", name="uq_handover_requests_key_method"),
    sa.Index("ix_handover_requests_created_at", "created_at"),
)

# -- integration state: an endpoint that said 410 Gone is switched off (revision 0003) ---------------------------------
integration_state = sa.Table(
    "integration_state", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("disabled_at", sa.Float, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)

# -- dead letters: polled notifications that could not be parsed or kept failing (revision 0004) --------------------
dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),  # polling
    sa.Column("receipt_id", sa.String(64), nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # JSON as received, capped
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_dead_letters_created_at", "created_at"),
)

# -- amoCRM Chats API: the scope_id `connect` gave for a channel and account (revision 0005_amocrm) ----------------
amocrm_connections = sa.Table(
    "amocrm_connections", metadata,
    sa.Column("channel_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("scope_id", sa.String(160), nullable=False),
    sa.Column("connected_at", sa.Float, nullable=False),
)

# -- the managers' page (revision 0006) ------------------------------------------------------------------------------
desk_users = sa.Table(
    "desk_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id
    sa.Column("role", sa.String(16), nullable=False),  # admin | manager
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_login_at", sa.Float, nullable=True),
)

desk_chat_reads = sa.Table(
    "desk_chat_reads", metadata,
    sa.Column("chat_id", sa.String(128), primary_key=True),
    sa.Column("read_at", sa.Float, nullable=False),  # customer messages after this are unread
    sa.Column("by", sa.String(64), nullable=False, server_default=""),
)

# -- leases: who processes a chat's inbox, who polls GREEN-API, across replicas (revision 0007_replicas) ---------------
leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(160), primary_key=True),  # "chat:<chatId>", "poller"
    sa.Column("holder", sa.String(64), nullable=False),   # the replica (REPLICA_ID)
    sa.Column("expires_at", sa.Float, nullable=False),    # wall-clock epoch; a dead holder's lease runs out
    sa.Index("ix_leases_holder", "holder"),
)
