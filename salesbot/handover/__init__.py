"""Handover to a person through other channels (issue 12, second half). So far: the signed CRM webhook
(Standard Webhooks), e-mail and SMS senders, the `handover_requests` log and its analytics. Not wired into the
bot's handover path yet: the action or the channel calls `request_handover`."""
from __future__ import annotations

from salesbot.handover.requests import HandoverTargets, request_handover
from salesbot.handover.webhook import WEBHOOK_KIND, sign

__all__ = ["WEBHOOK_KIND", "HandoverTargets", "request_handover", "sign"]
