"""Customer notifications (the desk's API) and opt-outs.

A notification is one row per (event, reference). Its message goes out through the outbox: the row and its
`greenapi.message` outbox row are written in one transaction, so a notification is never lost between the two.
Statuses only move forward (`advance`): PENDING < RETRYING < SENT < FAILED < DELIVERED < READ; BLOCKED never
changes. An operator's retry of a FAILED one is the only step back, and it sends through a new outbox row
(`notification:<id>:<round>`), so webhooks about the earlier round's message are recognised as stale.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import NotificationStatus, OptOutState, OutboxStatus, as_text
from salesbot.db.schema import notification_log, notifications, opt_outs, outbox, outbox_attempts

OUTBOX_KIND = "greenapi.message"  # salesbot.outbox.GREENAPI_MESSAGE (not imported: this module has no aiohttp)
STATUS_RANK = {
    NotificationStatus.PENDING.value: 0,
    NotificationStatus.RETRYING.value: 1,
    NotificationStatus.SENT.value: 2,
    NotificationStatus.FAILED.value: 3,
    NotificationStatus.DELIVERED.value: 4,
    NotificationStatus.READ.value: 5,
}
TIME_COLUMN = {"SENT": "sent_at", "DELIVERED": "delivered_at", "READ": "read_at", "FAILED": "failed_at"}
ALL_STATUSES = [s.value for s in NotificationStatus]


def effect_key_of(notification_id: int, send_round: int) -> str:
    return f"notification:{notification_id}:{send_round}"


class NotificationRepository:
    def __init__(self, db: Database):
        self.db = db

    # -- creating ---------------------------------------------------------------------------------------------------
    def create(self, event: str, reference: str, fingerprint: str, phone: str, chat_id: str, name: str,
               variables: Dict[str, Any], urgent: bool, text: str, status: str, reason: Optional[str] = None,
               due_at: Optional[float] = None) -> Tuple[Dict[str, Any], bool]:
        """Store a notification once per (event, reference); a PENDING one gets its outbox row in the same
        transaction. Returns (the stored row, True when it was added now)."""
        now = self.db.now()
        status = as_text(status)
        insert = self.db.insert(notifications).values(
            event=event, reference=reference, fingerprint=fingerprint, phone=phone, chat_id=chat_id, name=name,
            search_text=f"{name.casefold()} {phone}",
            vars=json.dumps(variables, ensure_ascii=False, sort_keys=True), urgent=bool(urgent), text=text,
            status=status, reason=reason, send_round=1, due_at=due_at, created_at=now, updated_at=now,
        ).on_conflict_do_nothing()
        key = (notifications.c.event == event) & (notifications.c.reference == reference)
        with self.db.write() as connection:
            created = connection.execute(insert).rowcount == 1
            row = dict(connection.execute(sa.select(notifications).where(key)).mappings().one())
            if created:
                connection.execute(notification_log.insert().values(
                    notification_id=row["id"], status=status, source="api", detail=reason, at=now))
                if status == NotificationStatus.PENDING.value:
                    row["effect_key"] = self._enqueue(connection, row, now)
        return row, created

    def _enqueue(self, connection: sa.engine.Connection, row: Dict[str, Any], now: float) -> str:
        effect_key = effect_key_of(row["id"], row["send_round"])
        connection.execute(self.db.insert(outbox).values(
            effect_key=effect_key, kind=OUTBOX_KIND, target=row["chat_id"], chat_id=row["chat_id"],
            payload=json.dumps({"message": row["text"]}, ensure_ascii=False), status=OutboxStatus.PENDING.value,
            attempts=0, next_attempt_at=row["due_at"], check_delivery=False, created_at=now, updated_at=now,
        ).on_conflict_do_nothing())
        connection.execute(notifications.update().where(notifications.c.id == row["id"]).values(
            effect_key=effect_key))
        return effect_key

    def retry(self, notification_id: int) -> Optional[Dict[str, Any]]:
        """Send a FAILED notification again through a new outbox row; None when it is not FAILED."""
        now = self.db.now()
        with self.db.write() as connection:
            changed = connection.execute(notifications.update().where(
                (notifications.c.id == notification_id)
                & (notifications.c.status == NotificationStatus.FAILED.value)
            ).values(status=NotificationStatus.PENDING.value, send_round=notifications.c.send_round + 1,
                     reason=None, id_message=None, due_at=None, sent_at=None, delivered_at=None, read_at=None,
                     failed_at=None, updated_at=now))
            if changed.rowcount != 1:
                return None
            row = dict(connection.execute(sa.select(notifications).where(notifications.c.id == notification_id))
                       .mappings().one())
            row["effect_key"] = self._enqueue(connection, row, now)
            connection.execute(notification_log.insert().values(
                notification_id=notification_id, status=NotificationStatus.PENDING.value, source="retry",
                detail=f"round {row['send_round']}", at=now))
        return row

    # -- moving forward ---------------------------------------------------------------------------------------------
    def advance(self, notification_id: int, status: str, source: str, detail: Optional[str] = None,
                id_message: Optional[str] = None, at: Optional[float] = None) -> bool:
        """Move to `status` if it is ahead of the current one (atomic; a late `sent` never downgrades a `read`)."""
        status = as_text(status)
        rank = STATUS_RANK[status]
        behind = [s for s, r in STATUS_RANK.items() if r < rank]
        now = self.db.now()
        values: Dict[str, Any] = dict(status=status, updated_at=now)
        if status in TIME_COLUMN:
            values[TIME_COLUMN[status]] = at if at is not None else now
        if status == NotificationStatus.FAILED.value or status == NotificationStatus.RETRYING.value:
            values["reason"] = detail
        if id_message:
            values["id_message"] = id_message
        with self.db.write() as connection:
            moved = connection.execute(notifications.update().where(
                (notifications.c.id == notification_id) & notifications.c.status.in_(behind)).values(**values))
            if moved.rowcount != 1:
                return False
            connection.execute(notification_log.insert().values(
                notification_id=notification_id, status=status, source=source, detail=detail, at=now))
            return True

    def sync_from_outbox(self) -> int:
        """Carry what the relay did (whichever process ran it) into the notifications still waiting for it."""
        waiting = [NotificationStatus.PENDING.value, NotificationStatus.RETRYING.value]
        query = sa.select(notifications.c.id, notifications.c.status, outbox.c.status.label("outbox_status"),
                          outbox.c.id_message, outbox.c.last_error, outbox.c.sent_at).select_from(
            notifications.join(outbox, outbox.c.effect_key == notifications.c.effect_key)).where(
            notifications.c.status.in_(waiting)
            & outbox.c.status.in_([OutboxStatus.SENT.value, OutboxStatus.RETRYING.value,
                                   OutboxStatus.FAILED.value, OutboxStatus.DROPPED.value]))
        with self.db.read() as connection:
            rows = [dict(r) for r in connection.execute(query).mappings()]
        moved = 0
        for row in rows:
            outbox_status = row["outbox_status"]
            if outbox_status == OutboxStatus.SENT.value:
                moved += self.advance(row["id"], NotificationStatus.SENT.value, "outbox", None, row["id_message"],
                                      row["sent_at"])
            elif outbox_status == OutboxStatus.RETRYING.value and row["status"] != NotificationStatus.RETRYING.value:
                moved += self.advance(row["id"], NotificationStatus.RETRYING.value, "outbox", row["last_error"])
            elif outbox_status in (OutboxStatus.FAILED.value, OutboxStatus.DROPPED.value):
                moved += self.advance(row["id"], NotificationStatus.FAILED.value, "outbox", row["last_error"])
        return moved

    # -- reading ----------------------------------------------------------------------------------------------------
    def get(self, notification_id: int) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(notifications).where(notifications.c.id == notification_id)
                                     ).mappings().first()
            return dict(row) if row else None

    def get_by_key(self, event: str, reference: str) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(notifications).where(
                (notifications.c.event == event) & (notifications.c.reference == reference))).mappings().first()
            return dict(row) if row else None

    def find_by_message(self, id_message: str) -> Optional[Dict[str, Any]]:
        """The notification whose current round's message is `id_message` (the outbox knows it before the
        notification does when a status webhook outruns the sync)."""
        with self.db.read() as connection:
            row = connection.execute(sa.select(notifications).where(notifications.c.id_message == id_message)
                                     ).mappings().first()
            if row is None:
                row = connection.execute(sa.select(notifications).select_from(
                    notifications.join(outbox, outbox.c.effect_key == notifications.c.effect_key)).where(
                    outbox.c.id_message == id_message)).mappings().first()
            return dict(row) if row else None

    def _filtered(self, query: Any, event: Optional[str] = None, status: Optional[str] = None,
                  phone_digits: Optional[str] = None, q: Optional[str] = None, since: Optional[float] = None,
                  until: Optional[float] = None) -> Any:
        if event:
            query = query.where(notifications.c.event == event)
        if status:
            query = query.where(notifications.c.status == status)
        if phone_digits:
            query = query.where(notifications.c.phone.contains(phone_digits, autoescape=True))
        if q:  # SQLite's lower() knows only ASCII: the text is casefolded in Python when stored
            query = query.where(notifications.c.search_text.contains(q.casefold(), autoescape=True))
        if since is not None:
            query = query.where(notifications.c.created_at >= since)
        if until is not None:
            query = query.where(notifications.c.created_at < until)
        return query

    def search(self, page: int = 1, per_page: int = 50, **filters: Any) -> Tuple[List[Dict[str, Any]], int]:
        query = self._filtered(sa.select(notifications), **filters).order_by(notifications.c.id.desc())
        count = self._filtered(sa.select(sa.func.count()).select_from(notifications), **filters)
        with self.db.read() as connection:
            total = int(connection.execute(count).scalar() or 0)
            rows = connection.execute(query.limit(per_page).offset((page - 1) * per_page)).mappings()
            return [dict(r) for r in rows], total

    def stats(self, **filters: Any) -> Dict[str, int]:
        """Counts by status under the filters (a status filter is ignored: the totals are the page's tabs)."""
        filters.pop("status", None)
        query = self._filtered(sa.select(notifications.c.status, sa.func.count()).select_from(notifications),
                               **filters).group_by(notifications.c.status)
        counts = {status: 0 for status in ALL_STATUSES}
        with self.db.read() as connection:
            for status, count in connection.execute(query):
                counts[status] = int(count)
        return {"total": sum(counts.values()), **counts}

    def attempts(self, notification_id: int) -> List[Dict[str, Any]]:
        """Every send attempt and delivery check of every round, oldest first."""
        prefix = f"notification:{notification_id}:"
        query = sa.select(outbox.c.effect_key, outbox_attempts).select_from(
            outbox_attempts.join(outbox, outbox.c.id == outbox_attempts.c.outbox_id)).where(
            outbox.c.effect_key.startswith(prefix, autoescape=True)).order_by(outbox_attempts.c.id)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def history(self, notification_id: int) -> List[Dict[str, Any]]:
        query = sa.select(notification_log).where(notification_log.c.notification_id == notification_id).order_by(
            notification_log.c.id)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]


class OptOutRepository:
    """Who asked for no notifications and nudges, per chat."""

    def __init__(self, db: Database):
        self.db = db

    def state(self, chat_id: str) -> str:
        with self.db.read() as connection:
            value = connection.execute(sa.select(opt_outs.c.state).where(opt_outs.c.chat_id == chat_id)).scalar()
        return str(value) if value else OptOutState.IN.value

    def set_state(self, chat_id: str, state: str) -> None:
        state = as_text(state)
        now = self.db.now()
        with self.db.write() as connection:
            changed = connection.execute(opt_outs.update().where(opt_outs.c.chat_id == chat_id).values(
                state=state, updated_at=now)).rowcount
            if changed == 0:
                connection.execute(self.db.insert(opt_outs).values(chat_id=chat_id, state=state, updated_at=now)
                                   .on_conflict_do_nothing())
                connection.execute(opt_outs.update().where(opt_outs.c.chat_id == chat_id).values(
                    state=state, updated_at=now))

    def is_opted_out(self, chat_id: str) -> bool:
        return self.state(chat_id) == OptOutState.OUT.value
