"""Recording a handover: one `handover_requests` row per method of HANDOVER_METHODS, each delivered through the
outbox (the signed webhook, e-mail, SMS) or recorded as it is (`desk`: the chat is in the managers' page queue;
`whatsapp_group`: posted by the bot's existing path, the row is its log)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from salesbot.db import Repositories
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
                     preferred_contact: Optional[str] = None) -> List[Dict[str, Any]]:
    """Announce one handover (once per `request_key`) by every method; returns the rows. A method without its
    target (no URL, no address) is recorded as failed with the reason."""
    deliveries: Dict[str, Optional[Dict[str, Any]]] = {}
    for method in methods:
        data = {"chat_id": chat_id, "phone": phone, "name": name, "reason": reason, "method": method,
                "preferred_contact": preferred_contact, "summary": summary, "messages": messages or []}
        if method == "webhook" and targets.webhook_url:
            deliveries[method] = {"kind": WEBHOOK_KIND, "target": targets.webhook_url, "payload": {
                "webhook_id": new_webhook_id(), "body": event_body("handover.requested", data, repos.db.now())}}
        elif method == "email" and targets.email_to:
            deliveries[method] = {"kind": EMAIL_KIND, "target": targets.email_to, "payload": compose_email(data)}
        elif method == "sms" and targets.sms_to:
            deliveries[method] = {"kind": SMS_KIND, "target": targets.sms_to, "payload": {"body": compose_sms(data)}}
        elif method in ("desk", "whatsapp_group"):
            deliveries[method] = None
    rows = repos.handovers.create(request_key, chat_id, reason, deliveries, phone=phone, name=name,
                                  preferred_contact=preferred_contact, summary=summary, messages=messages)
    missing = [m for m in methods if m not in deliveries]
    if missing:
        repos.handovers.create(request_key, chat_id, reason, {m: None for m in missing}, phone=phone, name=name,
                               preferred_contact=preferred_contact, summary=summary, messages=messages)
        repos.handovers.mark_undeliverable(request_key, missing, "not configured (no target address)")
        rows = [r for r in repos.handovers.list() if r["request_key"] == request_key]
    return rows
