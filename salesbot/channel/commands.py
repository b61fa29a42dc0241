"""The managers' `/handoff on|off|status|list` commands, from a number in MANAGER_NUMBERS to the shop's number."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable, Iterable

from salesbot import handoff as texts
from salesbot.channel.handoff import COMMAND, HandoffService

logger = logging.getLogger(__name__)


class ManagerCommands:
    def __init__(self, handoff: HandoffService, manager_numbers: Iterable[str], tz_name: str,
                 chat_known: Callable[[str], Awaitable[bool]]):
        self.handoff = handoff
        self.manager_numbers = set(manager_numbers)
        self.tz_name = tz_name
        self.chat_known = chat_known  # whether the bot has a conversation with this chat

    def is_manager_chat(self, chat_id: str) -> bool:
        return chat_id.endswith("@c.us") and chat_id.split("@", 1)[0] in self.manager_numbers

    def is_command(self, chat_id: str, text: str) -> bool:
        """Only a manager's `/handoff ...` is a command; the same text from anyone else is customer text."""
        return self.is_manager_chat(chat_id) and texts.is_handoff_command(text)

    async def reply(self, chat_id: str, text: str) -> str:
        """Carry out the command and return the answer for the manager."""
        command = texts.parse_command(text)
        manager = f"+{chat_id.split('@', 1)[0]}"
        logger.info("manager command from %s: %r", chat_id, text[:80])
        if command is None:
            return texts.USAGE
        if command.verb == "list":
            return texts.list_text(await self.handoff.paused_chats(), self.tz_name)
        target = command.chat_id
        if target is None:  # parse_command gives a chat for on/off/status; kept for the type checker
            return texts.USAGE
        who = texts.describe_chat(target)
        state = await self.handoff.state(target)
        if state is None and not await self.chat_known(target):
            return f"Чат {who} мне неизвестен. {texts.USAGE}"
        if command.verb == "status":
            return texts.status_text(target, state, self.tz_name)
        if command.verb == "on":
            if await self.handoff.pause(target, COMMAND, manager):
                return f"Бот остановлен в чате {who} ✋"
            return f"Бот уже на паузе в чате {who}."
        if await self.handoff.resume(target, COMMAND, manager):
            return f"Бот снова отвечает в чате {who} ✅"
        return f"Бот и так отвечает в чате {who}."
