"""The one authority for whether the bot is paused in a chat: the `handoffs` table of the app's database.

The channel, the manager commands, the scheduler and the actions change a chat's pause only through
`HandoffService`. Rasa's `ConversationPaused` / `ConversationResumed` are derived from it: a `PauseMirror` (the
channel's, writing to the Rasa tracker) is told after every change; the action server has none, its actions
return `ConversationPaused` themselves after pausing here.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Protocol

from salesbot.clock import Clock

logger = logging.getLogger(__name__)

MANAGER_TYPED = "manager_typed"
COMMAND = "command"
CUSTOMER_REQUEST = "customer_request"
LLM_UNSURE = "llm_unsure"
AUTO_RESUME = "auto_resume"
OPERATOR_CRM = "operator_crm"  # an operator answered from amoCRM (salesbot/amocrm)
DESK = "desk"  # a manager on the managers' page (the desk process): «Взять чат», «Вернуть боту», an answer there
BY_BOT = "bot"
# Pauses a person made: a reply the bot computed before them must not be sent after the manager's message.
TAKEN_BY_PEOPLE = (MANAGER_TYPED, COMMAND, OPERATOR_CRM, DESK)
# Changes made in a process without the Rasa mirror (the desk): the channel brings the tracker in line when the
# customer writes next (a pause is applied there anyway; a resume must lift Rasa's ConversationPaused).
CHANGED_ELSEWHERE = (DESK, OPERATOR_CRM)


UNREAD: Any = object()   # `is_paused` without a row: it reads the chat's row itself


class PauseMirror(Protocol):
    async def paused(self, chat_id: str) -> None: ...
    async def resumed(self, chat_id: str) -> None: ...  # idempotent: nothing when the mirror runs already


class HandoffService:
    def __init__(self, storage, clock: Clock, auto_resume_minutes: int, mirror: Optional[PauseMirror] = None):
        self.storage = storage
        self.clock = clock
        self.auto_resume_minutes = auto_resume_minutes
        self.mirror = mirror

    async def pause(self, chat_id: str, reason: str, by: str, mirror: bool = True) -> bool:
        """Pause the bot in the chat. True when it was running before. A manager typing in a chat already paused
        refreshes the time of the managers' last message (auto-resume counts from it). `mirror=False` when the
        caller records the pause in the conversation itself."""
        changed = await asyncio.to_thread(self.storage.pause_chat, chat_id, reason, by, self.clock.now())
        if changed:
            logger.info("chat=%s paused (%s by %s)", chat_id, reason, by)
            if mirror and self.mirror is not None:
                await self.mirror.paused(chat_id)
        return changed

    async def resume(self, chat_id: str, reason: str, by: str) -> bool:
        changed = await asyncio.to_thread(self.storage.resume_chat, chat_id, reason, by, self.clock.now())
        if changed:
            logger.info("chat=%s resumed (%s by %s)", chat_id, reason, by)
            if self.mirror is not None:
                await self.mirror.resumed(chat_id)
        return changed

    async def state(self, chat_id: str) -> Optional[Dict[str, Any]]:
        return await asyncio.to_thread(self.storage.handoff, chat_id)

    async def paused_chats(self) -> List[Dict[str, Any]]:
        return await asyncio.to_thread(self.storage.paused_chats)

    async def is_paused(self, chat_id: str, row: Any = UNREAD) -> bool:
        """Whether the chat is paused now; resumes it first when the managers were silent long enough. `row`: the
        chat's handoff row when the caller has just read it (None: the chat has none), so it is not read again."""
        if row is UNREAD:
            row = await self.state(chat_id)
        if not row or not row["paused"]:
            return False
        last_manager = row["last_manager_at"] or row["since"]
        if self.auto_resume_minutes > 0 and self.clock.now() - last_manager >= self.auto_resume_minutes * 60:
            await self.resume(chat_id, AUTO_RESUME, BY_BOT)
            return False
        return True

    async def customer_wrote(self, chat_id: str) -> bool:
        """The customer wrote: a pending reminder is cancelled. True when the chat is paused (no turn then).
        A chat resumed by a process without the mirror (the desk) gets its mirror brought in line first."""
        row = await asyncio.to_thread(self.storage.customer_wrote, chat_id, self.clock.now())
        paused = await self.is_paused(chat_id, row)
        if not paused and row and row["reason"] in CHANGED_ELSEWHERE and self.mirror is not None:
            await self.mirror.resumed(chat_id)
        return paused

    async def taken_by_people(self, chat_id: str) -> bool:
        """Paused by a manager (typed or command): what the bot computed before must not be sent now. A pause
        the bot made in this very turn (escalation, LLM unsure) does not count: its own reply goes out."""
        row = await self.state(chat_id)
        return bool(row and row["paused"] and row["reason"] in TAKEN_BY_PEOPLE)

    async def resume_overdue(self) -> None:
        """Auto-resume every paused chat whose managers went quiet (the scheduler calls this)."""
        for row in await self.paused_chats():
            await self.is_paused(row["chat_id"], row)
