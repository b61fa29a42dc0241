"""The outbox: every outgoing side effect is a row with an idempotency key (`effect_key`), sent by a relay
(salesbot/outbox.py) that claims due rows atomically, with a lease, and records every attempt.

Two ways to use it:
* `enqueue` a row and let the relay send it (the durable path);
* `claim_effect` / `finish_effect`: the caller sends at once itself (the path of the current release). The claimed
  row is SENDING under a lease, so a relay never sends it at the same time, and if the caller dies the row goes
  back to due with its outcome marked unknown (checked before any re-send).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import OUTBOX_UNFINISHED, AttemptOutcome, OutboxStatus, as_text
from salesbot.db.schema import outbox, outbox_attempts

INLINE_SENDER = "inline"  # claimed_by of rows sent by their caller (claim_effect)
DEFAULT_LEASE_SECONDS = 120.0


def _unfinished() -> List[str]:
    return [s.value for s in OUTBOX_UNFINISHED]


class OutboxRepository:
    def __init__(self, db: Database):
        self.db = db
        self._candidate_queries: Dict[Any, Any] = {}   # (limit, kinds) -> the relay's due-row query, built once

    # -- adding rows --------------------------------------------------------------------------------------------
    def enqueue(self, effect_key: str, kind: str, target: str, payload: Any, chat_id: Optional[str] = None,
                sequence_key: Optional[str] = None, due_at: Optional[float] = None,
                check_delivery: bool = False) -> Tuple[Dict[str, Any], bool]:
        """Add a row once per `effect_key`. Returns (the stored row, True when it was added now).
        The same key again leaves the first row untouched, whatever its status. `check_delivery`: an earlier
        attempt (e.g. a send that timed out before the row was made) may have gone out; check before sending."""
        with self.db.write() as connection:
            created = self.add(connection, effect_key, kind, target, payload, chat_id, sequence_key, due_at,
                               check_delivery)
            row = connection.execute(sa.select(outbox).where(outbox.c.effect_key == effect_key)).mappings().one()
        return dict(row), created

    def add(self, connection: sa.engine.Connection, effect_key: str, kind: str, target: str, payload: Any,
            chat_id: Optional[str] = None, sequence_key: Optional[str] = None, due_at: Optional[float] = None,
            check_delivery: bool = False) -> bool:
        """`enqueue` in the caller's transaction, without reading the row back; True when it was added now."""
        now = self.db.now()
        statement = self.db.insert(outbox).values(
            effect_key=effect_key, kind=kind, target=target, chat_id=chat_id or target,
            payload=json.dumps(payload, ensure_ascii=False), status=OutboxStatus.PENDING.value, attempts=0,
            sequence_key=sequence_key, next_attempt_at=due_at, check_delivery=check_delivery, created_at=now,
            updated_at=now,
        ).on_conflict_do_nothing()
        return bool(connection.execute(statement).rowcount == 1)

    # -- the caller sends itself (the current release's path) ------------------------------------------------------
    def claim_effect(self, effect_key: str, kind: str, chat_id: str, payload: Any,
                     lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Optional[Dict[str, Any]]:
        """Register a side effect once and claim it for the caller. Returns the row to perform, or None when it
        is finished (SENT, SKIPPED, DROPPED) or another sender holds it right now."""
        now = self.db.now()
        insert = self.db.insert(outbox).values(
            effect_key=effect_key, kind=kind, chat_id=chat_id, target=chat_id,
            payload=json.dumps(payload, ensure_ascii=False), status=OutboxStatus.PENDING.value, attempts=0,
            check_delivery=False, created_at=now, updated_at=now,
        ).on_conflict_do_nothing()
        with self.db.write() as connection:
            connection.execute(insert)
            row = dict(connection.execute(sa.select(outbox).where(outbox.c.effect_key == effect_key))
                       .mappings().one())
            status = row["status"]
            if status in (OutboxStatus.SENT, OutboxStatus.SKIPPED, OutboxStatus.DROPPED):
                return None
            if status == OutboxStatus.SENDING and (row["lease_until"] or 0) > now:
                return None
            claimed = connection.execute(outbox.update().where(
                (outbox.c.id == row["id"]) & (outbox.c.status == status)
            ).values(status=OutboxStatus.SENDING.value, claimed_by=INLINE_SENDER, lease_until=now + lease_seconds,
                     attempts=outbox.c.attempts + 1, updated_at=now))
            if claimed.rowcount != 1:
                return None
            connection.execute(outbox_attempts.insert().values(
                outbox_id=row["id"], attempt=row["attempts"] + 1, started_at=now,
                outcome=AttemptOutcome.IN_FLIGHT.value, worker=INLINE_SENDER))
            row.update(status=OutboxStatus.SENDING.value, claimed_by=INLINE_SENDER, attempts=row["attempts"] + 1)
            return row

    def finish_effect(self, effect_key: str, status: str, id_message: Optional[str] = None,
                      error: Optional[str] = None) -> None:
        """Record how the caller's send ended (SENT, FAILED or SKIPPED) and close its attempt."""
        now = self.db.now()
        status = OutboxStatus(as_text(status)).value
        with self.db.write() as connection:
            row = connection.execute(sa.select(outbox.c.id).where(outbox.c.effect_key == effect_key)).first()
            if row is None:
                return
            outbox_id = row[0]
            connection.execute(outbox.update().where(outbox.c.id == outbox_id).values(
                status=status, id_message=id_message, last_error=error, lease_until=None, updated_at=now,
                sent_at=now if status == OutboxStatus.SENT.value else None))
            in_flight = (outbox_attempts.c.outbox_id == outbox_id) & (
                outbox_attempts.c.outcome == AttemptOutcome.IN_FLIGHT.value)
            if status == OutboxStatus.SKIPPED.value:  # nothing was attempted
                connection.execute(outbox_attempts.delete().where(in_flight))
                connection.execute(outbox.update().where(outbox.c.id == outbox_id).values(attempts=0))
                return
            outcome = AttemptOutcome.SENT if status == OutboxStatus.SENT.value else AttemptOutcome.FAILED
            connection.execute(outbox_attempts.update().where(in_flight).values(
                outcome=outcome.value, finished_at=now, error=error))

    # -- the relay ------------------------------------------------------------------------------------------------
    def _due_condition(self, now: Any) -> Any:
        waiting = outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.RETRYING.value]) & (
            outbox.c.next_attempt_at.is_(None) | (outbox.c.next_attempt_at <= now))
        abandoned = (outbox.c.status == OutboxStatus.SENDING.value) & (
            outbox.c.lease_until.is_(None) | (outbox.c.lease_until < now))
        earlier = outbox.alias("earlier")
        blocked_by_earlier = sa.exists().where(
            (earlier.c.sequence_key == outbox.c.sequence_key) & (earlier.c.id < outbox.c.id)
            & earlier.c.status.in_(_unfinished()))
        return (waiting | abandoned) & (outbox.c.sequence_key.is_(None) | ~blocked_by_earlier)

    def _candidates(self, limit: int, kinds: Optional[List[str]]) -> Any:
        """The due rows' query with `now` as a parameter: every relay polls it twice a second, and building the
        expression (an EXISTS over the earlier rows of the sequence) cost more than running it."""
        key = (limit, tuple(kinds) if kinds is not None else None)
        query = self._candidate_queries.get(key)
        if query is None:
            query = sa.select(outbox.c.id, outbox.c.status, outbox.c.lease_until, outbox.c.claimed_by).where(
                self._due_condition(sa.bindparam("now", type_=sa.Float))).order_by(outbox.c.id).limit(limit)
            if kinds is not None:
                query = query.where(outbox.c.kind.in_(kinds))
            self._candidate_queries[key] = query
        return query

    def claim_due(self, worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, limit: int = 20,
                  kinds: Optional[List[str]] = None, now: Optional[float] = None) -> List[Dict[str, Any]]:
        """Claim due rows for `worker` (each row goes to exactly one caller, also across processes). A row found
        SENDING past its lease was abandoned by a dead sender: its outcome is unknown, so it is marked
        `check_delivery` and its open attempt LOST."""
        now = self.db.now() if now is None else now
        with self.db.read() as connection:
            candidates = [dict(r) for r in connection.execute(self._candidates(limit, kinds), {"now": now}).mappings()]
        claimed: List[Dict[str, Any]] = []
        for candidate in candidates:
            abandoned = candidate["status"] == OutboxStatus.SENDING.value
            same_state = (outbox.c.id == candidate["id"]) & (outbox.c.status == candidate["status"])
            if abandoned:  # the lease is the version: a second claimer finds it changed
                same_state = same_state & (
                    outbox.c.lease_until.is_(None) if candidate["lease_until"] is None
                    else outbox.c.lease_until == candidate["lease_until"])
            values: Dict[str, Any] = dict(status=OutboxStatus.SENDING.value, claimed_by=worker,
                                          lease_until=now + lease_seconds, updated_at=now)
            if abandoned:
                values["check_delivery"] = True
            with self.db.write() as connection:
                if connection.execute(outbox.update().where(same_state).values(**values)).rowcount != 1:
                    continue
                if abandoned:
                    connection.execute(outbox_attempts.update().where(
                        (outbox_attempts.c.outbox_id == candidate["id"])
                        & (outbox_attempts.c.outcome == AttemptOutcome.IN_FLIGHT.value)
                    ).values(outcome=AttemptOutcome.LOST.value, finished_at=now,
                             error=f"lease expired (sender {candidate['claimed_by']})"))
                row = connection.execute(sa.select(outbox).where(outbox.c.id == candidate["id"])).mappings().one()
                claimed.append(dict(row))
        return claimed

    def start_attempt(self, outbox_id: int, worker: str, outcome: AttemptOutcome = AttemptOutcome.IN_FLIGHT
                      ) -> int:
        """Count and record an attempt (IN_FLIGHT until finish_attempt); returns the attempt's id."""
        now = self.db.now()
        with self.db.write() as connection:
            connection.execute(outbox.update().where(outbox.c.id == outbox_id).values(
                attempts=outbox.c.attempts + 1, updated_at=now))
            attempt = connection.execute(sa.select(outbox.c.attempts).where(outbox.c.id == outbox_id)).scalar()
            result = connection.execute(outbox_attempts.insert().values(
                outbox_id=outbox_id, attempt=attempt, started_at=now, outcome=outcome.value, worker=worker))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_attempt(self, attempt_id: int, outcome: AttemptOutcome, http_status: Optional[int] = None,
                       error: Optional[str] = None) -> None:
        with self.db.write() as connection:
            connection.execute(outbox_attempts.update().where(outbox_attempts.c.id == attempt_id).values(
                outcome=outcome.value, http_status=http_status, error=error, finished_at=self.db.now()))

    def record_check(self, outbox_id: int, worker: str, outcome: AttemptOutcome, error: Optional[str] = None) -> None:
        """A delivery check (not a send): recorded in the attempts log, not counted as an attempt."""
        now = self.db.now()
        with self.db.write() as connection:
            attempt = connection.execute(sa.select(outbox.c.attempts).where(outbox.c.id == outbox_id)).scalar()
            connection.execute(outbox_attempts.insert().values(
                outbox_id=outbox_id, attempt=attempt, started_at=now, finished_at=now, outcome=outcome.value,
                error=error, worker=worker))

    def _settle(self, outbox_id: int, worker: str, **values: Any) -> bool:
        """Change a row this worker holds; False when it no longer does (its lease expired and another took it)."""
        values.setdefault("updated_at", self.db.now())
        with self.db.write() as connection:
            return bool(connection.execute(outbox.update().where(
                (outbox.c.id == outbox_id) & (outbox.c.status == OutboxStatus.SENDING.value)
                & (outbox.c.claimed_by == worker)).values(**values)).rowcount == 1)

    def mark_sent(self, outbox_id: int, worker: str, id_message: Optional[str] = None) -> bool:
        now = self.db.now()
        return self._settle(outbox_id, worker, status=OutboxStatus.SENT.value, id_message=id_message, sent_at=now,
                            lease_until=None, check_delivery=False, last_error=None, updated_at=now)

    def mark_retry(self, outbox_id: int, worker: str, next_attempt_at: float, error: str,
                   check_delivery: bool = False) -> bool:
        return self._settle(outbox_id, worker, status=OutboxStatus.RETRYING.value, next_attempt_at=next_attempt_at,
                            last_error=error, lease_until=None, check_delivery=check_delivery)

    def mark_failed(self, outbox_id: int, worker: str, error: str) -> bool:
        return self._settle(outbox_id, worker, status=OutboxStatus.FAILED.value, last_error=error, lease_until=None)

    def mark_dropped(self, outbox_id: int, worker: str, reason: str) -> bool:
        return self._settle(outbox_id, worker, status=OutboxStatus.DROPPED.value, last_error=reason,
                            lease_until=None)

    def release(self, outbox_id: int, worker: str) -> bool:
        """Give a claimed row back untouched (e.g. the relay is stopping)."""
        return self._settle(outbox_id, worker, status=OutboxStatus.PENDING.value, lease_until=None)

    def retry_now(self, effect_key: str) -> bool:
        """Make a FAILED row due again (an operator's retry)."""
        with self.db.write() as connection:
            return bool(connection.execute(outbox.update().where(
                (outbox.c.effect_key == effect_key) & (outbox.c.status == OutboxStatus.FAILED.value)
            ).values(status=OutboxStatus.RETRYING.value, next_attempt_at=None, updated_at=self.db.now()))
                .rowcount == 1)

    # -- reading --------------------------------------------------------------------------------------------------
    def get(self, effect_key: str) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(outbox).where(outbox.c.effect_key == effect_key)).mappings().first()
            return dict(row) if row else None

    def list(self, status: Optional[str] = None, kind: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(outbox).order_by(outbox.c.id)
        if status:
            query = query.where(outbox.c.status == as_text(status))
        if kind:
            query = query.where(outbox.c.kind == kind)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def attempts(self, outbox_id: int) -> List[Dict[str, Any]]:
        query = sa.select(outbox_attempts).where(outbox_attempts.c.outbox_id == outbox_id).order_by(
            outbox_attempts.c.id)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def sent_ids(self, target: str, since: float) -> List[str]:
        """idMessages of rows already SENT to `target` since `since` (a delivery check must not claim them)."""
        query = sa.select(outbox.c.id_message).where(
            (outbox.c.target == target) & (outbox.c.status == OutboxStatus.SENT.value)
            & (outbox.c.updated_at >= since) & outbox.c.id_message.isnot(None))
        with self.db.read() as connection:
            return [r[0] for r in connection.execute(query) if r[0]]
