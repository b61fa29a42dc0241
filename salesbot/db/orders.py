"""Orders: stored once per key."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import OrderStatus
from salesbot.db.schema import orders


class OrderRepository:
    def __init__(self, db: Database):
        self.db = db

    def create(self, order_key: str, **fields: Any) -> Dict[str, Any]:
        """Store an order once per key; a repeated call returns the stored row unchanged."""
        now = self.db.now()
        statement = self.db.insert(orders).values(
            order_key=order_key, status=OrderStatus.NEW.value, created_at=now, updated_at=now, **fields
        ).on_conflict_do_nothing()
        with self.db.write() as connection:
            connection.execute(statement)
            row = connection.execute(sa.select(orders).where(orders.c.order_key == order_key)).mappings().one()
        return dict(row)

    def find_recent(self, chat_id: str, since: float, **fields: Any) -> Optional[Dict[str, Any]]:
        """The chat's latest order created since `since` with exactly these field values, if any."""
        condition = (orders.c.chat_id == chat_id) & (orders.c.created_at >= since)
        for name, value in fields.items():
            column = orders.c[name]
            condition = condition & (column.is_(None) if value is None else column == value)
        query = sa.select(orders).where(condition).order_by(orders.c.id.desc()).limit(1)
        with self.db.read() as connection:
            row = connection.execute(query).mappings().first()
            return dict(row) if row else None

    def set_status(self, order_id: int, status: str) -> None:
        with self.db.write() as connection:
            connection.execute(orders.update().where(orders.c.id == order_id).values(
                status=OrderStatus(status).value, updated_at=self.db.now()))

    def set_track_number(self, order_id: int, track_number: str) -> None:
        with self.db.write() as connection:
            connection.execute(orders.update().where(orders.c.id == order_id).values(
                track_number=track_number, updated_at=self.db.now()))

    def get(self, order_id: int) -> Optional[Dict[str, Any]]:
        with self.db.read() as connection:
            row = connection.execute(sa.select(orders).where(orders.c.id == order_id)).mappings().first()
            return dict(row) if row else None

    def list(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(orders).order_by(orders.c.id)
        if chat_id:
            query = query.where(orders.c.chat_id == chat_id)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]
