"""Delivery statuses from GREEN-API's `outgoingMessageStatus` webhooks, applied to notifications.

The channel receives the webhook; it makes one call per webhook:
    record_message_status(db, body["idMessage"], body["status"], body.get("description"), body.get("timestamp"))
(`db` is the app's `salesbot.db.Database`; blocking and short: from async code wrap it in asyncio.to_thread).
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from salesbot.db.engine import Database
from salesbot.db.enums import NotificationStatus
from salesbot.db.notifications import NotificationRepository

logger = logging.getLogger(__name__)

WEBHOOK_STATUS = {"sent": NotificationStatus.SENT, "delivered": NotificationStatus.DELIVERED,
                  "read": NotificationStatus.READ}
FAILED_STATUSES = {"failed", "noaccount", "notingroup", "yellowcard", "deleted"}


def record_message_status(db: Database, id_message: str, status: str, description: Optional[str] = None,
                          timestamp: Any = None) -> Optional[str]:
    """Apply one status webhook. Returns the notification's status after it, or None when the message is not a
    notification's (a reply, a group post) or the status is unknown. Never moves a status back."""
    if not id_message or not isinstance(status, str):
        return None
    wanted = WEBHOOK_STATUS.get(status.lower())
    if wanted is None and status.lower() in FAILED_STATUSES:
        wanted = NotificationStatus.FAILED
    if wanted is None:
        logger.info("message %s: status %r ignored", id_message, status)
        return None
    repository = NotificationRepository(db)
    row = repository.find_by_message(id_message)
    if row is None:
        return None
    at = float(timestamp) if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool) else None
    detail = status if wanted != NotificationStatus.FAILED else f"{status}: {description}" if description else status
    moved = repository.advance(row["id"], wanted.value, "webhook", detail, id_message=id_message, at=at)
    current = repository.get(row["id"])
    logger.info("notification %s message %s: webhook %s → %s%s", row["id"], id_message, status,
                current["status"] if current else "?", "" if moved else " (not moved: not ahead)")
    return current["status"] if current else None
