"""Manager takeover: the `/handoff` commands and their Russian replies. No I/O here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional
from zoneinfo import ZoneInfo

USAGE = ("Команды: /handoff on <телефон> — остановить бота в чате; /handoff off <телефон> — вернуть бота; "
         "/handoff status <телефон>; /handoff list — чаты на паузе. Телефон: 77011234567.")
REASONS_RU = {"manager_typed": "менеджер написал с телефона магазина", "command": "команда менеджера",
              "customer_request": "клиент попросил менеджера", "llm_unsure": "бот не знал ответа",
              "auto_resume": "автовозврат", "desk": "менеджер на странице менеджеров",
              "operator_crm": "оператор CRM"}
_COMMAND_RE = re.compile(r"^/handoff(?:\s+(\S+))?(?:\s+(.+))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class HandoffCommand:
    verb: str                 # on | off | status | list
    chat_id: Optional[str]    # personal chat of the phone, for on/off/status
    phone: Optional[str]


def is_handoff_command(text: str) -> bool:
    return text.strip().lower().startswith("/handoff")


def parse_command(text: str) -> Optional[HandoffCommand]:
    """None when the syntax is wrong (the caller answers with USAGE)."""
    match = _COMMAND_RE.match(text.strip())
    if not match:
        return None
    verb = (match.group(1) or "").lower()
    argument = (match.group(2) or "").strip()
    if verb == "list" and not argument:
        return HandoffCommand("list", None, None)
    if verb in ("on", "off", "status") and argument:
        digits = "".join(ch for ch in argument if ch.isdigit())
        if argument.endswith("@c.us") or argument.endswith("@lid"):
            return HandoffCommand(verb, argument, digits)
        if 10 <= len(digits) <= 15 and re.fullmatch(r"[+\d\s()-]+", argument):
            if len(digits) == 11 and digits.startswith("8"):  # 8 701 ... is the local form of +7 701 ...
                digits = "7" + digits[1:]
            return HandoffCommand(verb, f"{digits}@c.us", digits)
    return None


def local_time(ts: float, tz_name: str) -> str:
    return datetime.fromtimestamp(ts, tz=ZoneInfo(tz_name)).strftime("%d.%m %H:%M")


def describe_chat(chat_id: str) -> str:
    number = chat_id.split("@", 1)[0]
    return f"+{number}" if chat_id.endswith("@c.us") else chat_id


def status_text(chat_id: str, row: Optional[Dict[str, Any]], tz_name: str) -> str:
    who = describe_chat(chat_id)
    if not row or not row["paused"]:
        return f"Чат {who}: бот отвечает ✅"
    by = f", {row['by']}" if row.get("by") else ""
    return (f"Чат {who}: бот на паузе с {local_time(row['since'], tz_name)} "
            f"({REASONS_RU.get(row['reason'], row['reason'])}{by}) ✋")


def list_text(rows: List[Dict[str, Any]], tz_name: str) -> str:
    if not rows:
        return "Нет чатов на паузе: бот отвечает везде ✅"
    lines = [f"Чаты на паузе ({len(rows)}):"]
    for row in rows:
        lines.append(f"• {describe_chat(row['chat_id'])} — с {local_time(row['since'], tz_name)}, "
                     f"{REASONS_RU.get(row['reason'], row['reason'])}")
    return "\n".join(lines)
