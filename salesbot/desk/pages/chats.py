"""«Чаты» and «Чат»: every chat with its state, the transcript, take over / hand back, answer from the page.

Taking and handing back go through HandoffService (the one authority for pauses) with the reason DESK, as the
phone's /handoff on|off do with COMMAND; the Rasa server brings its tracker in line when the customer writes next
(HandoffService.customer_wrote). An answer pauses the chat (DESK) and goes out through the durable outbox; the
relay that sends it records its id as the bot's own send, so GREEN-API's echo never looks like a manager typing.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Dict, List, Optional

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from salesbot.channel.handoff import DESK
from salesbot.desk.pages.common import desk_of, form_text, page, redirect, render
from salesbot.outbox import GREENAPI_MESSAGE

logger = logging.getLogger("salesbot.desk")

FILTERS = {"all": "Все", "waiting": "Ждут менеджера", "paused": "На паузе", "orders": "С заказом"}
ORDER_SLOTS = (("city", "Город"), ("product", "Товар"), ("size", "Размер"), ("color", "Цвет"), ("address", "Адрес"))
MAX_ANSWER = 4000
MAX_PHOTO_BYTES = 10 * 1024 * 1024


def select_chats(chats: List[Dict[str, Any]], kind: str, query: str, sort: str) -> List[Dict[str, Any]]:
    if kind == "waiting":
        chats = [c for c in chats if c["waiting_since"] is not None]
    elif kind == "paused":
        chats = [c for c in chats if c["paused"]]
    elif kind == "orders":
        chats = [c for c in chats if c["orders"]]
    query = query.strip().casefold()
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        chats = [c for c in chats
                 if (digits and digits in c["phone"]) or (not digits and query in c["name"].casefold())]
    if sort == "waiting" or kind == "waiting":  # waiting longest first, then the rest by their last activity
        return sorted(chats, key=lambda c: (c["waiting_since"] is None, c["waiting_since"] or 0, -c["last_at"]))
    return sorted(chats, key=lambda c: -(c["last_at"] or 0))


def _list_params(request: Request) -> Dict[str, str]:
    params = request.query_params
    kind = params.get("filter", "all")
    return {"filter": kind if kind in FILTERS else "all", "q": params.get("q", "")[:100],
            "sort": "waiting" if params.get("sort") == "waiting" else "recent"}


async def _chats(request: Request) -> Dict[str, Any]:
    desk = desk_of(request)
    params = _list_params(request)
    managers = [f"{n}@c.us" for n in desk.config.settings.manager_numbers]
    chats = await run_in_threadpool(desk.chats.chats, managers)
    counts = {"all": len(chats), "waiting": sum(1 for c in chats if c["waiting_since"] is not None),
              "paused": sum(1 for c in chats if c["paused"]), "orders": sum(1 for c in chats if c["orders"])}
    return {"chats": select_chats(chats, params["filter"], params["q"], params["sort"]), "counts": counts,
            "filters": FILTERS, **params}


@page()
async def chats_page(request: Request) -> Response:
    return render(request, "chats.html", **await _chats(request))


@page()
async def chats_list(request: Request) -> Response:
    return render(request, "_chat_list.html", **await _chats(request))


def _chat_id(request: Request) -> Optional[str]:
    chat_id = request.path_params["chat_id"]
    return chat_id if 3 <= len(chat_id) <= 128 and "@" in chat_id and not chat_id.endswith("@g.us") else None


async def _order_slots(request: Request, chat_id: str) -> Optional[Dict[str, Any]]:
    """The order form's slots from Rasa's tracker (its HTTP API, when RASA_API_TOKEN enables it); None when it
    cannot be read."""
    config = desk_of(request).config
    if not config.rasa_api_token:
        return None
    try:
        async with httpx.AsyncClient(timeout=3.0) as client:
            reply = await client.get(f"{config.rasa_url}/conversations/{chat_id}/tracker",
                                     params={"token": config.rasa_api_token, "include_events": "NONE"})
        if reply.status_code != 200:
            logger.info("desk: tracker of %s: HTTP %s", chat_id, reply.status_code)
            return None
        slots = reply.json().get("slots") or {}
    except (httpx.HTTPError, ValueError) as exc:
        logger.info("desk: tracker of %s unavailable: %s", chat_id, type(exc).__name__)
        return None
    return {name: slots.get(name) for name, _ in ORDER_SLOTS}


async def _chat_context(request: Request, chat_id: str) -> Dict[str, Any]:
    desk = desk_of(request)
    messages = await run_in_threadpool(desk.chats.transcript, chat_id)
    state = await desk.handoff.state(chat_id)
    return {"chat_id": chat_id, "messages": messages, "state": state}


@page()
async def chat_page(request: Request) -> Response:
    desk = desk_of(request)
    chat_id = _chat_id(request)
    if chat_id is None:
        return render(request, "error.html", status_code=404, message="Такого чата нет.")
    context = await _chat_context(request, chat_id)
    if not context["messages"] and context["state"] is None:
        return render(request, "error.html", status_code=404, message="Такого чата нет.")
    await run_in_threadpool(desk.chats.mark_read, chat_id, request.state.user["name"])
    name = await run_in_threadpool(desk.chats.customer_name, chat_id)
    orders = await run_in_threadpool(desk.repos.orders.list, chat_id)  # type: ignore[union-attr]
    slots = await _order_slots(request, chat_id)
    return render(request, "chat.html", name=name, phone=_phone(chat_id), orders=orders, slots=slots,
                  slot_names=ORDER_SLOTS, notice=request.query_params.get("notice", ""), **context)


def _phone(chat_id: str) -> str:
    number = chat_id.split("@", 1)[0]
    return f"+{number}" if number.isdigit() else chat_id


@page()
async def chat_messages(request: Request) -> Response:
    desk = desk_of(request)
    chat_id = _chat_id(request)
    if chat_id is None:
        return Response(status_code=404)
    await run_in_threadpool(desk.chats.mark_read, chat_id, request.state.user["name"])
    return render(request, "_transcript.html", **await _chat_context(request, chat_id))


@page()
async def chat_state(request: Request) -> Response:
    chat_id = _chat_id(request)
    if chat_id is None:
        return Response(status_code=404)
    return render(request, "_chat_state.html", chat_id=chat_id, state=await desk_of(request).handoff.state(chat_id))


@page()
async def take_chat(request: Request) -> Response:
    """«Взять чат»: as /handoff on from the manager's phone."""
    desk = desk_of(request)
    chat_id = _chat_id(request)
    if chat_id is None:
        return Response(status_code=404)
    by = f"desk:{request.state.user['name']}"
    changed = await desk.handoff.pause(chat_id, DESK, by, mirror=False)
    logger.info("desk: %s took chat %s (%s)", by, chat_id, "paused" if changed else "already paused")
    return redirect(f"/chats/{chat_id}?notice=" + ("taken" if changed else "already"))


@page()
async def release_chat(request: Request) -> Response:
    """«Вернуть боту»: as /handoff off."""
    desk = desk_of(request)
    chat_id = _chat_id(request)
    if chat_id is None:
        return Response(status_code=404)
    by = f"desk:{request.state.user['name']}"
    changed = await desk.handoff.resume(chat_id, DESK, by)
    logger.info("desk: %s handed chat %s back to the bot (%s)", by, chat_id, "resumed" if changed else "not paused")
    return redirect(f"/chats/{chat_id}?notice=" + ("released" if changed else "running"))


@page()
async def answer_chat(request: Request) -> Response:
    """The manager's answer: the chat is paused (DESK), the text goes out through the outbox."""
    desk = desk_of(request)
    chat_id = _chat_id(request)
    if chat_id is None:
        return Response(status_code=404)
    text = form_text(request, "text", MAX_ANSWER + 1)
    if not text or len(text) > MAX_ANSWER:
        logger.info("desk: empty or too long answer to %s refused", chat_id)
        return redirect(f"/chats/{chat_id}?notice=empty")
    by = f"desk:{request.state.user['name']}"
    await desk.handoff.pause(chat_id, DESK, by, mirror=False)
    assert desk.repos is not None
    key = f"desk:{chat_id}:{uuid.uuid4().hex}"
    await run_in_threadpool(desk.repos.outbox.enqueue, key, GREENAPI_MESSAGE, chat_id,
                            {"message": text, "author": by}, chat_id, f"desk:{chat_id}")
    await run_in_threadpool(desk.repos.handovers.record_manager_reply, chat_id)
    logger.info("desk: %s answered chat %s (%d characters, outbox %s)", by, chat_id, len(text), key)
    return redirect(f"/chats/{chat_id}?notice=sent")


@page()
async def chat_photo(request: Request) -> Response:
    """A customer's photo, fetched by the desk from GREEN-API's media link (the browser loads only the desk)."""
    desk = desk_of(request)
    chat_id = _chat_id(request)
    if chat_id is None:
        return Response(status_code=404)
    url = await run_in_threadpool(desk.chats.photo_url, chat_id, int(request.path_params["inbox_id"]))
    if not url or not url.startswith(("http://", "https://")):
        return Response(status_code=404)
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=True) as client:
            reply = await client.get(url)
    except httpx.HTTPError as exc:
        logger.info("desk: photo of %s unavailable: %s", chat_id, type(exc).__name__)
        return Response(status_code=502)
    kind = reply.headers.get("content-type", "")
    if reply.status_code != 200 or not kind.startswith("image/") or len(reply.content) > MAX_PHOTO_BYTES:
        return Response(status_code=502)
    return Response(reply.content, media_type=kind, headers={"Cache-Control": "private, max-age=3600"})
