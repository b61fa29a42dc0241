"""The notifications API's rules, without HTTP: validate a request, render its text, block staff and opted-out
phones, store it once per (event, reference) with its outbox row, and present rows as the API's JSON."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Set, Tuple
from zoneinfo import ZoneInfo

from salesbot.db import Repositories
from salesbot.db.enums import NotificationStatus
from salesbot.notify.phones import PhoneError, chat_id_of, normalise_phone
from salesbot.notify.templates import MissingVariable, NotificationTemplates, TemplateFailed

MAX_REFERENCE = 255
MAX_NAME = 255
MAX_VARS = 50


class Rejected(ValueError):
    """A request the API refuses: `status` (422 by default) with {"error", "field"}."""

    def __init__(self, error: str, field: Optional[str], status: int = 422):
        super().__init__(error)
        self.error, self.field, self.status = error, field, status

    def body(self) -> Dict[str, Any]:
        return {"error": self.error, "field": self.field}


@dataclass(frozen=True)
class QuietHours:
    """Non-urgent notifications due between `start` and `end` o'clock (shop time) wait for `end`."""
    start: int = 22
    end: int = 8
    tz_name: str = "Asia/Almaty"

    def due_at(self, now: float) -> Optional[float]:
        """None when `now` is outside quiet hours, else the epoch of the next `end` o'clock."""
        if self.start == self.end:
            return None
        local = dt.datetime.fromtimestamp(now, ZoneInfo(self.tz_name))
        hour = local.hour
        quiet = (hour >= self.start or hour < self.end) if self.start > self.end else (self.start <= hour < self.end)
        if not quiet:
            return None
        morning = local.replace(hour=self.end, minute=0, second=0, microsecond=0)
        if morning <= local:
            morning += dt.timedelta(days=1)
        return morning.timestamp()


def parse_quiet_hours(text: str, tz_name: str) -> Optional[QuietHours]:
    """'22-8' → QuietHours(22, 8); '' or 'off' → None."""
    text = (text or "").strip().lower()
    if text in ("", "off", "0", "none"):
        return None
    try:
        start_text, end_text = text.replace(" ", "").split("-", 1)
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise ValueError(f"NOTIFY_QUIET_HOURS must look like '22-8' or 'off', got {text!r}") from None
    if not (0 <= start <= 23 and 0 <= end <= 23):
        raise ValueError(f"NOTIFY_QUIET_HOURS hours must be 0-23, got {text!r}")
    return QuietHours(start, end, tz_name)


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def present(row: Mapping[str, Any]) -> Dict[str, Any]:
    """A notification row as the API's JSON."""
    try:
        variables = json.loads(row["vars"] or "{}")
    except ValueError:
        variables = {}
    return {
        "id": row["id"], "event": row["event"], "reference": row["reference"], "phone": row["phone"],
        "chat_id": row["chat_id"], "name": row["name"], "vars": variables, "urgent": bool(row["urgent"]),
        "status": row["status"], "reason": row["reason"], "text": row["text"], "id_message": row["id_message"],
        "send_round": row["send_round"], "due_at": _iso(row["due_at"]), "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]), "sent_at": _iso(row["sent_at"]),
        "delivered_at": _iso(row["delivered_at"]), "read_at": _iso(row["read_at"]),
        "failed_at": _iso(row["failed_at"]),
    }


def first_answer(row: Mapping[str, Any]) -> Dict[str, Any]:
    """What POST answered when the notification was made (repeated for the same request)."""
    if row["status"] == NotificationStatus.BLOCKED.value:
        return {"id": row["id"], "status": "BLOCKED", "reason": row["reason"], "chat_id": row["chat_id"]}
    return {"id": row["id"], "status": NotificationStatus.PENDING.value, "chat_id": row["chat_id"]}


class NotificationService:
    def __init__(self, repos: Repositories, templates: NotificationTemplates, staff_keys: Set[str],
                 default_region: str = "KZ", allowed_regions: Sequence[str] = ("KZ", "RU"),
                 quiet_hours: Optional[QuietHours] = None):
        self.repos = repos
        self.templates = templates
        self.staff_keys = staff_keys
        self.default_region = default_region
        self.allowed_regions = tuple(allowed_regions)
        self.quiet_hours = quiet_hours

    def _validated(self, body: Any) -> Tuple[str, str, str, str, Dict[str, Any], bool]:
        if not isinstance(body, dict):
            raise Rejected("the body must be a JSON object", None, 400)
        event = body.get("event")
        if not isinstance(event, str) or not event:
            raise Rejected("event is required", "event")
        if event not in self.templates.templates:
            raise Rejected(f"unknown event {event!r}; known: {', '.join(self.templates.events)}", "event")
        reference = body.get("reference")
        if isinstance(reference, int) and not isinstance(reference, bool):
            reference = str(reference)
        if not isinstance(reference, str) or not reference.strip() or len(reference) > MAX_REFERENCE:
            raise Rejected(f"reference is required (a string of up to {MAX_REFERENCE} characters)", "reference")
        name = body.get("name", "")
        if name is None:
            name = ""
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise Rejected(f"name must be a string of up to {MAX_NAME} characters", "name")
        variables = body.get("vars", {})
        if variables is None:
            variables = {}
        if not isinstance(variables, dict) or len(variables) > MAX_VARS:
            raise Rejected(f"vars must be an object of up to {MAX_VARS} keys", "vars")
        for key in variables:
            if not key.isidentifier():
                raise Rejected(f"vars key {key!r} is not a plain name", f"vars.{key}")
        urgent = body.get("urgent", False)
        if not isinstance(urgent, bool):
            raise Rejected("urgent must be true or false", "urgent")
        phone_text = body.get("phone")
        if not isinstance(phone_text, str):
            raise Rejected("phone is required (a string)", "phone")
        try:
            phone = normalise_phone(phone_text, self.default_region, self.allowed_regions)
        except PhoneError as exc:
            raise Rejected(f"invalid phone: {exc}", "phone") from None
        return event, reference.strip(), phone, " ".join(name.split()), variables, urgent

    def render(self, event: str, reference: str, phone: str, name: str, variables: Mapping[str, Any]) -> str:
        context = {**variables, "name": name, "reference": reference, "phone": phone}
        try:
            return self.templates.render(event, context)
        except MissingVariable as exc:
            field = exc.name if exc.name in ("name", "reference", "phone") else f"vars.{exc.name}"
            raise Rejected(f"template variable {exc.name!r} is missing for event {event!r}", field) from None
        except TemplateFailed as exc:
            raise Rejected(str(exc), "vars") from None

    def submit(self, body: Any) -> Tuple[int, Dict[str, Any]]:
        """(HTTP status, answer) for POST /api/v1/notifications; raises Rejected."""
        event, reference, phone, name, variables, urgent = self._validated(body)
        fingerprint = hashlib.sha256(json.dumps(
            {"event": event, "reference": reference, "phone": phone, "name": name, "vars": variables,
             "urgent": urgent}, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        existing = self.repos.notifications.get_by_key(event, reference)
        if existing is not None:
            return self._repeat(existing, fingerprint)
        text = self.render(event, reference, phone, name, variables)
        chat_id = chat_id_of(phone)
        status, reason, due_at = NotificationStatus.PENDING.value, None, None
        if phone.lstrip("+") in self.staff_keys:
            status, reason = NotificationStatus.BLOCKED.value, "staff_phone"
        elif self.repos.opt_outs.is_opted_out(chat_id):
            status, reason = NotificationStatus.BLOCKED.value, "opted_out"
        elif not urgent and self.quiet_hours is not None:
            due_at = self.quiet_hours.due_at(self.repos.db.now())
        row, created = self.repos.notifications.create(event, reference, fingerprint, phone, chat_id, name,
                                                       variables, urgent, text, status, reason, due_at)
        if not created:  # a concurrent identical request won the insert
            return self._repeat(row, fingerprint)
        return (200 if status == NotificationStatus.BLOCKED.value else 202), first_answer(row)

    @staticmethod
    def _repeat(row: Mapping[str, Any], fingerprint: str) -> Tuple[int, Dict[str, Any]]:
        if row["fingerprint"] != fingerprint:
            raise Rejected(f"notification {row['event']}/{row['reference']} exists with other content",
                           "reference", 409)
        return 200, first_answer(row)
