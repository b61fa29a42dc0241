"""Opt-out: a customer who writes only «стоп», «отписаться» or «STOP» is asked to confirm; after «да» the chat
gets no notifications (the desk answers BLOCKED/opted_out) and no nudges until the customer writes «старт».

`handle_opt_out_text(repository, chat_id, text)` is what the channel calls with each customer text before the
bot's turn: it returns the reply to send (the message is then fully handled) or None (an ordinary message).
"""
from __future__ import annotations

import re
from typing import Optional

from salesbot.db.enums import OptOutState
from salesbot.db.notifications import OptOutRepository

STOP_WORDS = {"стоп", "отписаться", "отписка", "отпишите", "stop", "unsubscribe"}
START_WORDS = {"старт", "start", "подписаться"}
YES_WORDS = {"да", "да да", "подтверждаю", "yes", "ага", "угу", "да отпишите"}
NO_WORDS = {"нет", "не надо", "no", "не"}

ASK_CONFIRMATION = ("Отключить уведомления о заказах и напоминания в этом чате? Ответьте «да», чтобы отключить, "
                    "или «нет», чтобы оставить.")
CONFIRMED = ("Готово: уведомлений и напоминаний больше не будет. Чтобы снова их получать, напишите «старт». "
             "На ваши сообщения мы отвечаем как раньше.")
KEPT = "Хорошо, уведомления остаются включены."
ALREADY_OUT = "Уведомления уже отключены. Чтобы снова их получать, напишите «старт»."
RESTARTED = "Уведомления снова включены. Чтобы отключить их, напишите «стоп»."


def _normalised(text: str) -> str:
    words = re.findall(r"[a-zа-яё]+", (text or "").lower().replace("ё", "е"))
    return " ".join(words)


def handle_opt_out_text(repository: OptOutRepository, chat_id: str, text: str) -> Optional[str]:
    said = _normalised(text)
    state = repository.state(chat_id)
    if said in STOP_WORDS:
        if state == OptOutState.OUT.value:
            return ALREADY_OUT
        repository.set_state(chat_id, OptOutState.ASKED)
        return ASK_CONFIRMATION
    if state == OptOutState.ASKED.value:
        if said in YES_WORDS:
            repository.set_state(chat_id, OptOutState.OUT)
            return CONFIRMED
        repository.set_state(chat_id, OptOutState.IN)  # anything else: the question is off the table
        return KEPT if said in NO_WORDS else None
    if said in START_WORDS and state == OptOutState.OUT.value:
        repository.set_state(chat_id, OptOutState.IN)
        return RESTARTED
    return None
