"""Which notifier tells the shop about orders: the managers' WhatsApp group when configured, else the log."""
from __future__ import annotations

from salesbot.orders import LogOrderNotifier, OrderNotifier


def order_notifier() -> OrderNotifier:
    return LogOrderNotifier()
