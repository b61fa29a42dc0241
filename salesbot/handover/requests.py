"""Recording a handover: one `handover_requests` row per method of HANDOVER_METHODS, each delivered through the
outbox (the signed webhook, e-mail, SMS) or recorded as it is (`desk`: the chat is in the managers' page queue;
`whatsapp_group`: posted by the bot's existing path, the row is its log)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from salesbot.db import Repositories
from salesbot.handover.choices import read_choice
from salesbot.handover.email_sms import EMAIL_KIND, SMS_KIND, compose_email, compose_sms
from salesbot.handover.webhook import WEBHOOK_KIND, event_body, new_webhook_id

KNOWN_METHODS = ("whatsapp_group", "desk", "email", "sms", "webhook")


@dataclass(frozen=True)
class HandoverTargets:
    """Where each method sends (empty = that method is not configured)."""
    webhook_url: str = ""
    email_to: str = ""
    sms_to: str = ""


def configured(environ: Optional[Mapping[str, str]] = None) -> Tuple[Tuple[str, ...], HandoverTargets]:
    """HANDOVER_METHODS and the targets of the methods that have everything they need."""
    from salesbot.desk.config import load_desk_config

    config = load_desk_config(environ)
    return config.handover_methods, config.handover_targets()


@lru_cache(maxsize=1)
def process_configuration() -> Tuple[Tuple[str, ...], HandoverTargets]:
    """The same, read once per process (the action server)."""
    return configured()


@lru_cache(maxsize=1)
def process_choices() -> Tuple[Tuple[str, ...], float]:
    """HANDOVER_CUSTOMER_CHOICES and HANDOVER_CHOICE_WAIT_SECONDS, read once per process."""
    from salesbot.desk.config import load_desk_config

    config = load_desk_config()
    return config.handover_customer_choices, config.handover_choice_wait_seconds


def parse_methods(text: str) -> List[str]:
    methods = [m.strip().lower() for m in (text or "whatsapp_group").split(",") if m.strip()]
    unknown = [m for m in methods if m not in KNOWN_METHODS]
    if unknown:
        raise ValueError(f"HANDOVER_METHODS: unknown method(s) {', '.join(unknown)}; known: "
                         f"{', '.join(KNOWN_METHODS)}")
    return methods


def request_handover(repos: Repositories, request_key: str, chat_id: str, reason: str, methods: Sequence[str],
                     targets: HandoverTargets, phone: str = "", name: str = "", summary: str = "",
                     messages: Optional[List[Dict[str, Any]]] = None,
                     preferred_contact: Optional[str] = None, hold_seconds: float = 0.0) -> List[Dict[str, Any]]:
    """Announce one handover (once per `request_key`) by every method; returns the rows. A method without its
    target (no URL, no address) is recorded as failed with the reason. `hold_seconds` > 0: the e-mail, SMS and
    webhook wait that long for the customer's choice of contact (`record_customer_choice` releases them)."""
    deliveries: Dict[str, Optional[Dict[str, Any]]] = {}
    for method in methods:
        data = {"chat_id": chat_id, "phone": phone, "name": name, "reason": reason, "method": method,
                "preferred_contact": preferred_contact, "summary": summary, "messages": messages or []}
        if method == "webhook" and targets.webhook_url:
            deliveries[method] = {"kind": WEBHOOK_KIND, "target": targets.webhook_url,
                                  "payload": _payload(WEBHOOK_KIND, data, repos.db.now(), new_webhook_id())}
        elif method == "email" and targets.email_to:
            deliveries[method] = {"kind": EMAIL_KIND, "target": targets.email_to,
                                  "payload": _payload(EMAIL_KIND, data, repos.db.now())}
        elif method == "sms" and targets.sms_to:
            deliveries[method] = {"kind": SMS_KIND, "target": targets.sms_to,
                                  "payload": _payload(SMS_KIND, data, repos.db.now())}
        elif method in ("desk", "whatsapp_group"):
            deliveries[method] = None
    hold_until = repos.db.now() + hold_seconds if hold_seconds > 0 else None
    rows = repos.handovers.create(request_key, chat_id, reason, deliveries, phone=phone, name=name,
                                  preferred_contact=preferred_contact, summary=summary, messages=messages,
                                  hold_until=hold_until)
    missing = [m for m in methods if m not in deliveries]
    if missing:
        repos.handovers.create(request_key, chat_id, reason, {m: None for m in missing}, phone=phone, name=name,
                               preferred_contact=preferred_contact, summary=summary, messages=messages)
        repos.handovers.mark_undeliverable(request_key, missing, "not configured (no target address)")
        rows = [r for r in repos.handovers.list() if r["request_key"] == request_key]
    return rows


def _payload(kind: str, data: Dict[str, Any], now: float, webhook_id: str = "") -> Dict[str, Any]:
    if kind == WEBHOOK_KIND:
        return {"webhook_id": webhook_id, "body": event_body("handover.requested", data, now)}
    if kind == EMAIL_KIND:
        return compose_email(data)
    return {"body": compose_sms(data)}


def record_customer_choice(repos: Repositories, chat_id: str, text: str, choices: Sequence[str],
                           wait_seconds: float) -> Optional[str]:
    """A paused chat's customer message: when the chat has a handover of the last `wait_seconds` still without a
    preferred contact and the text names one of `choices`, record it on the handover's rows and send its held
    e-mail/SMS/webhook now, with the choice and the customer's answer (an address or a time, say) in them.
    Returns the choice recorded, or None (the message is not an answer; the held deliveries go out by
    themselves when the wait is over)."""
    if len(choices) < 2:
        return None
    handover = repos.handovers.awaiting_choice(chat_id, repos.db.now() - wait_seconds)
    if handover is None:
        return None
    choice = read_choice(text, choices)
    if choice is None:
        return None
    payloads: Dict[int, Dict[str, Any]] = {}
    for held in repos.handovers.held_deliveries(handover["request_key"]):
        data = {"chat_id": held["chat_id"], "phone": held["phone"], "name": held["name"], "reason": held["reason"],
                "method": held["method"], "preferred_contact": choice, "summary": held["summary"],
                "messages": held["messages"] + [{"from": "customer", "text": text}]}
        payloads[held["outbox_id"]] = _payload(held["kind"], data, repos.db.now(),
                                               held["payload"].get("webhook_id", ""))
    return choice if repos.handovers.apply_choice(handover["request_key"], choice, payloads) else None
