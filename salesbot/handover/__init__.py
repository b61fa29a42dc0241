"""Handover to a person through other channels (issue 12, second half). So far: the signed CRM webhook
(Standard Webhooks), the `handover_requests` log and its analytics. E-mail and SMS are not built yet."""
from __future__ import annotations

from salesbot.handover.requests import request_handover
from salesbot.handover.webhook import WEBHOOK_KIND, sign

__all__ = ["WEBHOOK_KIND", "request_handover", "sign"]
