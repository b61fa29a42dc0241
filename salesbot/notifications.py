"""Posts to the managers' WhatsApp group: each one an outbox row keyed per order or escalation, so it is made once
and posted once; the outbox relay of the Rasa server sends it (retrying until GREEN-API takes it, never twice)."""
from __future__ import annotations

import asyncio
import logging
from typing import List, Optional

from salesbot.greenapi.client import GreenApiClient, GreenApiError
from salesbot.orders import Order
from salesbot.outbox import GREENAPI_CONTACT, GREENAPI_MESSAGE
from salesbot.storage import EFFECT_FAILED, EFFECT_SENT, EFFECT_SKIPPED, Storage

logger = logging.getLogger(__name__)

DEFAULT_MAX_POST_CHARS = 3000   # under the client's split length (4000): a post is always one message
CUT_MARK = "…"


def cap_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked as cut."""
    return text if len(text) <= limit else text[:max(0, limit - len(CUT_MARK))].rstrip() + CUT_MARK


class GroupPoster:
    def __init__(self, client: GreenApiClient, storage: Storage, group_id: str,
                 max_chars: int = DEFAULT_MAX_POST_CHARS):
        self.client = client
        self.storage = storage
        self.group_id = group_id
        self.max_chars = max_chars

    async def post_once(self, effect_key: str, kind: str, send, payload: dict) -> bool:
        """Run `send()` unless `effect_key` was already sent; record SENT or FAILED. True when sent (now or before)."""
        row = await asyncio.to_thread(self.storage.claim_effect, effect_key, kind, self.group_id, payload)
        if row is None:
            return True
        try:
            id_message = await send()
        except GreenApiError as exc:
            logger.error("group post %s failed: %s", effect_key, exc)
            await asyncio.to_thread(self.storage.finish_effect, effect_key, EFFECT_FAILED, None, str(exc))
            return False
        await asyncio.to_thread(self.storage.finish_effect, effect_key, EFFECT_SENT, str(id_message or ""))
        logger.info("group post %s sent id=%s", effect_key, id_message)
        return True

    async def enqueue(self, effect_key: str, kind: str, payload: dict, sequence_key: str) -> None:
        """Leave the post to the outbox relay; the same key again adds nothing."""
        _, created = await asyncio.to_thread(self.storage.repos.outbox.enqueue, effect_key, kind, self.group_id,
                                             payload, None, sequence_key)
        logger.info("group post %s %s", effect_key, "queued" if created else "already queued")

    async def skip(self, effect_key: str, kind: str, reason: str) -> None:
        row = await asyncio.to_thread(self.storage.claim_effect, effect_key, kind, self.group_id, {"reason": reason})
        if row is not None:
            await asyncio.to_thread(self.storage.finish_effect, effect_key, EFFECT_SKIPPED, None, reason)


async def post_card_and_text(poster: Optional[GroupPoster], key: str, kind: str, customer, text: str) -> bool:
    """The customer's contact card (skipped for chat ids without a phone number), then `text`; each an outbox row
    once per key, the card first (one sequence). True once both are stored: the relay delivers them."""
    if poster is None or not poster.group_id:
        return True  # no group configured: nothing to post, not an error
    if customer.phone:
        await poster.enqueue(f"{key}:contact", GREENAPI_CONTACT, {"phone": customer.phone, "name": customer.name},
                             key)
    else:
        await poster.skip(f"{key}:contact", f"{kind}_contact", f"no phone in chat id {customer.chat_id}")
    await poster.enqueue(f"{key}:details", GREENAPI_MESSAGE, {"message": cap_text(text, poster.max_chars)}, key)
    return True


class GroupOrderNotifier:
    """The contact card (when the chat id carries a phone number), then the order details."""

    def __init__(self, poster: Optional[GroupPoster]):
        self.poster = poster

    async def order_confirmed(self, order: Order) -> bool:
        return await post_card_and_text(self.poster, f"order:{order.id}", "order", order.customer,
                                        order.group_message())


async def _first(coroutine):
    ids = await coroutine
    return ids[0] if ids else ""


async def escalate_to_group(poster: Optional[GroupPoster], customer, key: str, headline: str,
                            recent: list) -> bool:
    """Contact card and «headline» with the recent messages, each once per `key`. One post, never more: the
    transcript keeps its newest messages that fit the poster's `max_chars` (each long one cut)."""
    who = f"{customer.name} (+{customer.phone})" if customer.phone else f"{customer.name} (чат {customer.chat_id})"
    limit = poster.max_chars if poster is not None else DEFAULT_MAX_POST_CHARS
    return await post_card_and_text(poster, key, "escalation", customer,
                                    escalation_text(f"{headline}: {who}", list(recent), limit))


def escalation_text(title: str, recent: List[str], limit: int) -> str:
    head = [cap_text(title, limit // 2), "Последние сообщения:"]
    room = limit - sum(len(line) + 1 for line in head)
    line_limit = max(200, limit // 4)   # one huge message must not push out all the others
    kept: List[str] = []
    for line in reversed(recent):   # newest first: they matter most to the manager taking over
        line = cap_text(str(line), line_limit)
        if len(line) + 1 > room - len(omitted_note(len(recent))) - 1:
            break
        kept.append(line)
        room -= len(line) + 1
    kept.reverse()
    skipped = len(recent) - len(kept)
    return cap_text("\n".join(head + ([omitted_note(skipped)] if skipped else []) + kept), limit)


def omitted_note(count: int) -> str:
    return f"(ещё {count} сообщ. раньше не показаны)"
