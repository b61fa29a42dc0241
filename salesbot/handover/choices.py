"""How the customer prefers to be contacted after a handover (HANDOVER_CUSTOMER_CHOICES, e.g. `whatsapp,call,email`).

With two or more choices the bot ends its handover answer with a question («Как вам удобнее: WhatsApp, звонок или
e-mail?»); the chat is paused then, so the channel's router reads the customer's next messages with `read_choice`
(general Russian words per way, nothing about any shop) and records the first recognised one."""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

KNOWN_CHOICES = ("whatsapp", "call", "email", "sms")
LABELS = {"whatsapp": "WhatsApp", "call": "звонок", "email": "e-mail", "sms": "SMS"}
ACKNOWLEDGEMENTS = {
    "whatsapp": "Хорошо, менеджер напишет вам здесь, в WhatsApp.",
    "call": "Хорошо, менеджер вам позвонит.",
    "email": "Хорошо, менеджер напишет вам на почту.",
    "sms": "Хорошо, менеджер пришлёт вам SMS.",
}
MAX_ANSWER_CHARS = 200  # a longer message is a question or a story, not an answer to «как вам удобнее»

# Words that name one way by themselves (stems; the text is lower-cased, «ё» → «е»).
_STRONG: Dict[str, Tuple[str, ...]] = {
    "whatsapp": (r"whats\s*app", r"w\.?app", r"в[ао]т?[сц]\s*ап", r"вац+ап", r"ватс?ап", r"вотс?ап", r"уатсап"),
    "call": (r"позвон", r"перезвон", r"звон", r"звяк", r"набер(и|ите)", r"созвон", r"\bcall\b", r"голосом"),
    "email": (r"e-?mail", r"\bmail\b", r"[еэи]-?ме[йи]л", r"[еэи]-?маил", r"\bмейл", r"\bмыл[оу]\b",
              r"\bпочт(а|у|ой|е|ы)\b", r"электронк",
              r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    "sms": (r"\bsms\b", r"\bсмс", r"\bсмску", r"эсэмэс"),
}
# Words that point at a way only when nothing stronger was said («напишите на почту» is e-mail).
_WEAK: Dict[str, Tuple[str, ...]] = {
    "whatsapp": (r"\bсюда\b", r"\bздесь\b", r"\bв (этот )?чат", r"\bпереписк", r"\bнапиш", r"\bпишите\b",
                 r"\bтут\b"),
    "call": (r"\bтелефон", r"\bпо номеру\b"),
}
_NEGATED = re.compile(r"\bне\s+(надо\s+|нужно\s+)?\S+")


def parse_choices(text: str) -> Tuple[str, ...]:
    choices = tuple(dict.fromkeys(c.strip().lower() for c in (text or "").split(",") if c.strip()))
    unknown = [c for c in choices if c not in KNOWN_CHOICES]
    if unknown:
        raise ValueError(f"HANDOVER_CUSTOMER_CHOICES: unknown choice(s) {', '.join(unknown)}; known: "
                         f"{', '.join(KNOWN_CHOICES)}")
    return choices


def question(choices: Sequence[str]) -> Optional[str]:
    """The question to ask, or None when there is nothing to choose (fewer than two ways)."""
    if len(choices) < 2:
        return None
    labels = [LABELS[c] for c in choices]
    return f"Как вам удобнее: {', '.join(labels[:-1])} или {labels[-1]}?"


def _matching(patterns: Dict[str, Tuple[str, ...]], text: str, choices: Sequence[str]) -> List[str]:
    return [c for c in choices if any(re.search(p, text) for p in patterns.get(c, ()))]


def read_choice(text: str, choices: Sequence[str]) -> Optional[str]:
    """The way among `choices` the message names, or None (nothing, several, or a way not offered)."""
    normalised = " ".join((text or "").lower().replace("ё", "е").split())
    if not normalised or len(normalised) > MAX_ANSWER_CHARS:
        return None
    # «не звоните, лучше в ватсап»: a negated word names the way NOT to use
    normalised = _NEGATED.sub(" ", normalised)
    strong = _matching(_STRONG, normalised, choices)
    if strong:
        return strong[0] if len(strong) == 1 else None
    weak = _matching(_WEAK, normalised, choices)
    return weak[0] if len(weak) == 1 else None
