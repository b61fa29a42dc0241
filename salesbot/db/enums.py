"""Status values stored in the app's tables. `str` enums: a member equals its stored text, so rows read back as
plain strings compare equal to them. Write `.value` into the database (drivers differ on str subclasses)."""
from __future__ import annotations

from enum import Enum


class OrderStatus(str, Enum):
    NEW = "NEW"
    NOTIFIED = "NOTIFIED"
    NOTIFY_FAILED = "NOTIFY_FAILED"
    # set on the managers' page (revision 0006)
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class OutboxStatus(str, Enum):
    PENDING = "PENDING"  # due at next_attempt_at (NULL = now)
    SENDING = "SENDING"  # claimed by a sender until lease_until
    RETRYING = "RETRYING"  # a transient failure; due again at next_attempt_at
    SENT = "SENT"
    FAILED = "FAILED"  # a terminal error, or gave up
    DROPPED = "DROPPED"  # no longer wanted (e.g. a manager took the chat before it went out)
    SKIPPED = "SKIPPED"  # nothing to send (e.g. no phone number for a contact card)


# A row in one of these is never sent again.
OUTBOX_FINISHED = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.DROPPED, OutboxStatus.SKIPPED)
OUTBOX_UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.RETRYING)


class AttemptOutcome(str, Enum):
    IN_FLIGHT = "IN_FLIGHT"  # started; a crash leaves it so, and the next claim marks it LOST
    SENT = "SENT"
    RETRY = "RETRY"  # transient error (429, 5xx, network before the request went out)
    TIMEOUT = "TIMEOUT"  # outcome unknown: checked before any re-send
    FAILED = "FAILED"  # terminal error
    LOST = "LOST"  # the sender died while in flight (lease expired)
    ALREADY_DELIVERED = "ALREADY_DELIVERED"  # the delivery check found the earlier send
    NOT_DELIVERED = "NOT_DELIVERED"  # the delivery check did not find it: sent again
    DROPPED = "DROPPED"


class InboxStatus(str, Enum):
    RECEIVED = "RECEIVED"
    DONE = "DONE"
    FAILED = "FAILED"


class NudgeStatus(str, Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class HandoffAction(str, Enum):
    PAUSE = "pause"
    RESUME = "resume"


class HandoffReason(str, Enum):
    MANAGER_TYPED = "manager_typed"
    COMMAND = "command"
    CUSTOMER_REQUEST = "customer_request"
    LLM_UNSURE = "llm_unsure"
    AUTO_RESUME = "auto_resume"
    OPERATOR_CRM = "operator_crm"
    DESK = "desk"


class LlmOutcome(str, Enum):
    ANSWERED = "answered"
    UNSURE = "unsure"
    TIMEOUT = "timeout"
    ERROR = "error"
    INVALID = "invalid"
    UNGROUNDED = "ungrounded"


def as_text(value: object) -> str:
    """The stored text of an enum member or a plain string (str() of a str enum differs across Pythons)."""
    return str(value.value) if isinstance(value, Enum) else str(value)


class NotificationStatus(str, Enum):
    PENDING = "PENDING"  # waiting for the relay (or for the morning: quiet hours)
    RETRYING = "RETRYING"  # a transient error; the relay tries again with backoff
    SENT = "SENT"  # GREEN-API accepted it
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"  # a staff phone or an opted-out customer: never sent


class OptOutState(str, Enum):
    ASKED = "asked"  # wrote «стоп»; asked to confirm
    OUT = "out"  # confirmed: no notifications, no nudges
    IN = "in"  # wrote «старт» (or declined): as everyone


class HandoverStatus(str, Enum):
    PENDING = "pending"  # announced through the outbox, not yet accepted
    NOTIFIED = "notified"  # the method's receiver accepted it
    FAILED = "failed"  # gave up (or the receiver said 410 Gone)
    COMPLETED = "completed"  # a manager answered the customer
