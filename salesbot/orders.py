"""Orders: what the customer confirmed, how it is described, and who is told about it."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Optional, Protocol

from salesbot.extract import format_price
from salesbot.storage import ORDER_NOTIFIED, ORDER_NOTIFY_FAILED, Storage

logger = logging.getLogger(__name__)

DEFAULT_CUSTOMER_NAME = "Клиент"
REPEAT_WINDOW_SECONDS = 15 * 60


def phone_from_chat_id(chat_id: str) -> Optional[str]:
    """'77011234567@c.us' -> '77011234567'. Group and privacy ids (@g.us, @lid) carry no phone number."""
    if not chat_id or not chat_id.endswith("@c.us"):
        return None
    digits = chat_id.split("@", 1)[0]
    return digits if digits.isdigit() and 7 <= len(digits) <= 15 else None


@dataclass(frozen=True)
class Customer:
    chat_id: str
    name: str = DEFAULT_CUSTOMER_NAME

    @property
    def phone(self) -> Optional[str]:
        return phone_from_chat_id(self.chat_id)


@dataclass(frozen=True)
class OrderDraft:
    product: str
    city: str
    address: str
    price: int
    size: Optional[str] = None
    color: Optional[str] = None

    def lines(self) -> list:
        """Human lines in Russian; size and colour only when the order has them."""
        lines = [f"Товар: {self.product}"]
        if self.size:
            lines.append(f"Размер: {self.size}")
        if self.color:
            lines.append(f"Цвет: {self.color}")
        lines.append(f"Город: {self.city}")
        lines.append(f"Адрес: {self.address}")
        lines.append(f"Цена: {format_price(self.price)}")
        return lines


@dataclass(frozen=True)
class Order:
    id: int
    key: str
    customer: Customer
    draft: OrderDraft
    status: str

    def group_message(self) -> str:
        who = self.customer.name or DEFAULT_CUSTOMER_NAME
        contact = f"+{self.customer.phone}" if self.customer.phone else f"чат {self.customer.chat_id}"
        return "\n".join([f"Новый заказ от {who} ({contact}), № {self.id}"] + self.draft.lines())


class OrderNotifier(Protocol):
    """Tells the shop about a confirmed order. Must be idempotent per order and never raise."""

    async def order_confirmed(self, order: Order) -> bool:
        """True when the shop was told (or nothing was configured to tell); False on failure."""


class LogOrderNotifier:
    """Used when no managers' group is configured: the order is in the database and in the log."""

    async def order_confirmed(self, order: Order) -> bool:
        logger.info("order %s from chat %s confirmed (no managers' group configured)", order.id, order.customer.chat_id)
        return True


async def place_order(storage: Storage, notifier: OrderNotifier, order_key: str,
                      customer: Customer, draft: OrderDraft) -> Order:
    """Store the order once per key, then hand it to the notifier; a repeated call never notifies twice.
    The same order confirmed again in the same chat within `REPEAT_WINDOW_SECONDS` (the customer said «да» again
    because the first confirmation's turn failed, e.g. the action server died) is the stored one, not a second."""
    repeated = await asyncio.to_thread(storage.repos.orders.find_recent, customer.chat_id,
                                       storage.db.now() - REPEAT_WINDOW_SECONDS, **asdict(draft))
    if repeated is not None:
        logger.info("order %s confirmed again in chat %s: the stored order, not a second one", repeated["id"],
                    customer.chat_id)
        row = repeated
    else:
        row = await asyncio.to_thread(
            storage.create_order, order_key,
            chat_id=customer.chat_id, customer_name=customer.name, phone=customer.phone, **asdict(draft),
        )
    order = Order(id=row["id"], key=row["order_key"], customer=customer, draft=draft, status=row["status"])
    if row["status"] == ORDER_NOTIFIED:
        return order
    try:
        delivered = await notifier.order_confirmed(order)
    except Exception:  # a notifier bug must not break the customer's conversation
        logger.exception("order %s: notifier failed", order.id)
        delivered = False
    status = ORDER_NOTIFIED if delivered else ORDER_NOTIFY_FAILED
    await asyncio.to_thread(storage.set_order_status, order.id, status)
    return Order(order.id, order.key, customer, draft, status)
