"""Customer notifications: phones, templates, the API's rules, delivery statuses and opt-out (issue 12)."""
from __future__ import annotations

from salesbot.notify.optout import handle_opt_out_text
from salesbot.notify.status import record_message_status

__all__ = ["handle_opt_out_text", "record_message_status"]
