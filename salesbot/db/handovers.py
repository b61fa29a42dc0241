"""Handover requests: one row per (handover, method), its delivery through the outbox, the first manager reply,
and the analytics of the managers' page and the API."""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Sequence

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import HandoverStatus, OutboxStatus
from salesbot.db.schema import handover_requests, integration_state, outbox, outbox_attempts


def _percentile(values: Sequence[float], fraction: float) -> Optional[float]:
    """Nearest-rank percentile (no interpolation: a time that really happened)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class HandoverRepository:
    def __init__(self, db: Database):
        self.db = db

    def create(self, request_key: str, chat_id: str, reason: str, deliveries: Dict[str, Optional[Dict[str, Any]]],
               phone: str = "", name: str = "", preferred_contact: Optional[str] = None, summary: str = "",
               messages: Optional[List[Dict[str, Any]]] = None, hold_until: Optional[float] = None
               ) -> List[Dict[str, Any]]:
        """One row per method, once per `request_key`. `deliveries[method]` is the outbox row to send
        ({"kind", "target", "payload"}) or None for a method that needs no sending (the desk's queue: notified
        when stored). The rows and their outbox rows are written in one transaction. `hold_until`: the outbox rows
        are not due before then (waiting for the customer's choice of contact, see `apply_choice`)."""
        now = self.db.now()
        rows = []
        with self.db.write() as connection:
            for method, delivery in deliveries.items():
                status = HandoverStatus.PENDING.value if delivery else HandoverStatus.NOTIFIED.value
                inserted = connection.execute(self.db.insert(handover_requests).values(
                    request_key=request_key, method=method, chat_id=chat_id, phone=phone, name=name, reason=reason,
                    preferred_contact=preferred_contact, summary=summary,
                    messages=json.dumps(messages or [], ensure_ascii=False), status=status, attempts=0,
                    created_at=now, notified_at=None if delivery else now).on_conflict_do_nothing())
                row = dict(connection.execute(sa.select(handover_requests).where(
                    (handover_requests.c.request_key == request_key) & (handover_requests.c.method == method))
                ).mappings().one())
                if inserted.rowcount == 1 and delivery:
                    effect_key = f"handover:{row['id']}:{method}"
                    connection.execute(self.db.insert(outbox).values(
                        effect_key=effect_key, kind=delivery["kind"], target=delivery["target"], chat_id=chat_id,
                        payload=json.dumps(delivery["payload"], ensure_ascii=False),
                        status=OutboxStatus.PENDING.value, attempts=0, check_delivery=False, created_at=now,
                        updated_at=now, next_attempt_at=hold_until).on_conflict_do_nothing())
                    connection.execute(handover_requests.update().where(handover_requests.c.id == row["id"])
                                       .values(effect_key=effect_key))
                    row["effect_key"] = effect_key
                rows.append(row)
        return rows

    def sync_from_outbox(self) -> int:
        """Carry the relay's outcome (attempts, last error, the receiver's status code) into pending rows."""
        query = sa.select(handover_requests.c.id, outbox.c.id.label("outbox_id"), outbox.c.status,
                          outbox.c.attempts, outbox.c.last_error, outbox.c.id_message, outbox.c.sent_at).select_from(
            handover_requests.join(outbox, outbox.c.effect_key == handover_requests.c.effect_key)).where(
            handover_requests.c.status == HandoverStatus.PENDING.value)
        changed = 0
        with self.db.read() as connection:
            rows = [dict(r) for r in connection.execute(query).mappings()]
            codes = {}
            for row in rows:
                codes[row["id"]] = connection.execute(sa.select(outbox_attempts.c.http_status).where(
                    (outbox_attempts.c.outbox_id == row["outbox_id"]) & outbox_attempts.c.http_status.isnot(None)
                ).order_by(outbox_attempts.c.id.desc()).limit(1)).scalar()
        for row in rows:
            values: Dict[str, Any] = dict(attempts=row["attempts"], last_error=row["last_error"],
                                          response_code=codes[row["id"]])
            if row["status"] == OutboxStatus.SENT.value:
                code = row["id_message"] or ""
                values.update(status=HandoverStatus.NOTIFIED.value, notified_at=row["sent_at"],
                              response_code=int(code) if code.isdigit() else values["response_code"])
            elif row["status"] in (OutboxStatus.FAILED.value, OutboxStatus.DROPPED.value):
                values.update(status=HandoverStatus.FAILED.value)
            with self.db.write() as connection:
                changed += connection.execute(handover_requests.update().where(
                    (handover_requests.c.id == row["id"])
                    & (handover_requests.c.status == HandoverStatus.PENDING.value)).values(**values)).rowcount
        return changed

    # -- the customer's choice of contact (HANDOVER_CUSTOMER_CHOICES) ----------------------------------------------
    def awaiting_choice(self, chat_id: str, since: float) -> Optional[Dict[str, Any]]:
        """The chat's newest handover since `since` with no preferred contact yet and no manager reply (a row)."""
        with self.db.read() as connection:
            row = connection.execute(sa.select(handover_requests).where(
                (handover_requests.c.chat_id == chat_id) & (handover_requests.c.created_at >= since)
                & handover_requests.c.preferred_contact.is_(None) & handover_requests.c.first_reply_at.is_(None)
            ).order_by(handover_requests.c.id.desc()).limit(1)).mappings().first()
        return dict(row) if row else None

    def held_deliveries(self, request_key: str) -> List[Dict[str, Any]]:
        """The handover's outbox rows not tried yet: {"outbox_id", "kind", "payload", and the handover row}."""
        query = sa.select(handover_requests, outbox.c.id.label("outbox_id"), outbox.c.kind,
                          outbox.c.payload.label("outbox_payload")).select_from(
            handover_requests.join(outbox, outbox.c.effect_key == handover_requests.c.effect_key)).where(
            (handover_requests.c.request_key == request_key) & (outbox.c.status == OutboxStatus.PENDING.value)
            & (outbox.c.attempts == 0))
        with self.db.read() as connection:
            rows = [dict(r) for r in connection.execute(query).mappings()]
        for row in rows:
            row["payload"] = json.loads(row.pop("outbox_payload"))
            row["messages"] = json.loads(row["messages"] or "[]")
        return rows

    def apply_choice(self, request_key: str, choice: str, payloads: Dict[int, Dict[str, Any]]) -> bool:
        """Record the preferred contact on every row of the handover (only the first choice counts) and release
        its held outbox rows with their new payloads, in one transaction. A row the relay already took keeps
        what it sent. False when a choice was recorded before."""
        now = self.db.now()
        with self.db.write() as connection:
            if connection.execute(handover_requests.update().where(
                    (handover_requests.c.request_key == request_key)
                    & handover_requests.c.preferred_contact.is_(None)).values(preferred_contact=choice)).rowcount == 0:
                return False
            for outbox_id, payload in payloads.items():
                connection.execute(outbox.update().where(
                    (outbox.c.id == outbox_id) & (outbox.c.status == OutboxStatus.PENDING.value)
                    & (outbox.c.attempts == 0)).values(payload=json.dumps(payload, ensure_ascii=False),
                                                       next_attempt_at=None, updated_at=now))
        return True

    def record_manager_reply(self, chat_id: str, at: Optional[float] = None) -> int:
        """A manager wrote to the customer (phone, group, desk or CRM): the chat's open handovers are answered.
        The channel calls this on every manager message; only the first one after a handover counts."""
        at = self.db.now() if at is None else at
        with self.db.write() as connection:
            return int(connection.execute(handover_requests.update().where(
                (handover_requests.c.chat_id == chat_id) & handover_requests.c.first_reply_at.is_(None)
                & (handover_requests.c.created_at <= at)
            ).values(first_reply_at=at, completed_at=at, status=sa.case(
                (handover_requests.c.status == HandoverStatus.FAILED.value, HandoverStatus.FAILED.value),
                else_=HandoverStatus.COMPLETED.value))).rowcount)

    def list(self, since: Optional[float] = None) -> List[Dict[str, Any]]:
        query = sa.select(handover_requests).order_by(handover_requests.c.id)
        if since is not None:
            query = query.where(handover_requests.c.created_at >= since)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def analytics(self, since: float) -> Dict[str, Dict[str, Any]]:
        """Per method: requests, delivered share, median and p90 seconds to the first manager reply, unanswered."""
        result: Dict[str, Dict[str, Any]] = {}
        for row in self.list(since):
            entry = result.setdefault(row["method"], {"requests": 0, "notified": 0, "failed": 0, "waits": []})
            entry["requests"] += 1
            if row["status"] in (HandoverStatus.NOTIFIED.value, HandoverStatus.COMPLETED.value):
                entry["notified"] += 1
            if row["status"] == HandoverStatus.FAILED.value:
                entry["failed"] += 1
            if row["first_reply_at"] is not None:
                entry["waits"].append(row["first_reply_at"] - row["created_at"])
        for entry in result.values():
            waits = entry.pop("waits")
            entry["success_rate"] = round(entry["notified"] / entry["requests"], 4)
            entry["answered"] = len(waits)
            entry["unanswered"] = entry["requests"] - len(waits)
            median, p90 = _percentile(waits, 0.5), _percentile(waits, 0.9)
            entry["median_first_reply_seconds"] = None if median is None else round(median, 1)
            entry["p90_first_reply_seconds"] = None if p90 is None else round(p90, 1)
        return result

    # -- an endpoint that said 410 Gone ---------------------------------------------------------------------------
    def disable(self, name: str, reason: str) -> None:
        now = self.db.now()
        with self.db.write() as connection:
            if connection.execute(integration_state.update().where(integration_state.c.name == name).values(
                    disabled_at=now, reason=reason)).rowcount == 0:
                connection.execute(integration_state.insert().values(name=name, disabled_at=now, reason=reason))

    def enable(self, name: str) -> None:
        with self.db.write() as connection:
            connection.execute(integration_state.delete().where(integration_state.c.name == name))

    def disabled_reason(self, name: str) -> Optional[str]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(integration_state).where(
                (integration_state.c.name == name) & integration_state.c.disabled_at.isnot(None))).mappings().first()
        return (row["reason"] or "disabled") if row else None

    def mark_undeliverable(self, request_key: str, methods: Sequence[str], reason: str) -> None:
        with self.db.write() as connection:
            connection.execute(handover_requests.update().where(
                (handover_requests.c.request_key == request_key) & handover_requests.c.method.in_(list(methods))
                & handover_requests.c.effect_key.is_(None) & handover_requests.c.first_reply_at.is_(None)
            ).values(status=HandoverStatus.FAILED.value, notified_at=None, last_error=reason))
