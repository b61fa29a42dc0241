"""Dead letters: notifications taken off the polling queue because they could not be parsed or kept failing."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database, json_text
from salesbot.db.schema import dead_letters

MAX_BODY_CHARS = 200_000   # a poisoned body can be huge; the start is enough to see what it was
MAX_ERROR_CHARS = 2_000


class DeadLetterRepository:
    def __init__(self, db: Database):
        self.db = db

    def add(self, source: str, receipt_id: Optional[str], body: Any, error: str, attempts: int) -> int:
        try:
            text = json_text(body, default=repr)
        except (ValueError, RecursionError):   # a circular or absurdly deep structure
            text = repr(body)
        with self.db.write() as connection:
            result = connection.execute(dead_letters.insert().values(
                source=source, receipt_id=receipt_id, body=text[:MAX_BODY_CHARS], error=error[:MAX_ERROR_CHARS],
                attempts=attempts, created_at=self.db.now()))
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

    def list(self, source: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(dead_letters).order_by(dead_letters.c.id)
        if source:
            query = query.where(dead_letters.c.source == source)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]
