"""Shared by the channel's unit tests: a real SQLite Storage, a settable clock, and webhook bodies."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Dict

from salesbot.clock import Clock
from salesbot.storage import Storage


class FileClock(Clock):
    """The real Clock over a file, as the e2e tests use it."""

    def __init__(self, folder: Path, start: float = 1_800_000_000.0):
        path = folder / "clock.txt"
        super().__init__(str(path))
        self.set(start)

    def set(self, epoch: float) -> None:
        self.override_file.write_text(repr(epoch))

    def advance(self, seconds: float) -> None:
        self.set(self.now() + seconds)


def storage_in(folder: Path) -> Storage:
    return Storage(f"sqlite:///{folder / 'app.db'}")


def webhook(type_webhook: str, chat_id: str, text: str, id_message: str = "", sender: str = "") -> Dict[str, Any]:
    return {"typeWebhook": type_webhook, "idMessage": id_message or uuid.uuid4().hex.upper(), "timestamp": 1,
            "instanceData": {"idInstance": 1101000001, "wid": "77010000000@c.us", "typeInstance": "whatsapp"},
            "senderData": {"chatId": chat_id, "sender": sender or chat_id, "senderName": "Айгуль"},
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}}
