"""What the LLM fallback cost, call by call."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from salesbot.db.engine import Database
from salesbot.db.enums import as_text
from salesbot.db.schema import llm_calls


class LlmCallRepository:
    def __init__(self, db: Database):
        self.db = db

    def record(self, chat_id: str, id_message: Optional[str], model: str, outcome: str, latency_ms: int,
               prompt_tokens: Optional[int], completion_tokens: Optional[int], now: Optional[float] = None) -> None:
        with self.db.write() as connection:
            connection.execute(llm_calls.insert().values(
                chat_id=chat_id, id_message=id_message, model=model, outcome=as_text(outcome), latency_ms=latency_ms,
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                at=self.db.now() if now is None else now))

    def list(self, chat_id: Optional[str] = None) -> List[Dict[str, Any]]:
        query = sa.select(llm_calls).order_by(llm_calls.c.id)
        if chat_id:
            query = query.where(llm_calls.c.chat_id == chat_id)
        with self.db.read() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]
