"""«Уведомления» (the notifications' audit log) and «Передачи менеджеру» (handover analytics and log)."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from salesbot.db.notifications import ALL_STATUSES
from salesbot.desk.pages.common import METHODS_RU, desk_of, page, redirect, render

logger = logging.getLogger("salesbot.desk")
PER_PAGE = 25
PERIODS = (7, 30, 90)


def _day_start(text: str, tz_name: str, end: bool = False) -> Optional[float]:
    """A date (YYYY-MM-DD) in the shop's time zone → epoch of its start (or of the next day's start)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz_name)).timestamp()


def _filters(request: Request) -> Dict[str, Any]:
    desk = desk_of(request)
    params = request.query_params
    shown = {k: params.get(k, "").strip()[:100] for k in ("event", "status", "q", "from", "to")}
    filters: Dict[str, Any] = {}
    if shown["event"]:
        filters["event"] = shown["event"]
    if shown["status"].upper() in ALL_STATUSES:
        filters["status"] = shown["status"].upper()
    if shown["q"]:
        digits = "".join(ch for ch in shown["q"] if ch.isdigit())
        if digits and len(digits) >= 4:
            filters["phone_digits"] = digits
        else:
            filters["q"] = shown["q"].casefold()
    tz_name = desk.config.settings.tz_name
    since = _day_start(shown["from"], tz_name) if shown["from"] else None
    until = _day_start(shown["to"], tz_name, end=True) if shown["to"] else None
    if since is not None:
        filters["since"] = since
    if until is not None:
        filters["until"] = until
    return {"shown": shown, "filters": filters}


@page()
async def notifications_page(request: Request) -> Response:
    desk = desk_of(request)
    assert desk.repos is not None and desk.service is not None
    chosen = _filters(request)
    try:
        page_number = max(1, min(100000, int(request.query_params.get("page", "1"))))
    except ValueError:
        page_number = 1
    notifications = desk.repos.notifications
    await run_in_threadpool(notifications.sync_from_outbox)
    rows, total = await run_in_threadpool(lambda: notifications.search(page_number, PER_PAGE, **chosen["filters"]))
    stats = await run_in_threadpool(lambda: notifications.stats(**chosen["filters"]))
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    query = {k: v for k, v in chosen["shown"].items() if v}
    return render(request, "notifications.html", rows=rows, total=total, stats=stats, page=page_number,
                  pages=pages, shown=chosen["shown"], statuses=ALL_STATUSES,
                  events=sorted(desk.service.templates.templates), query=urlencode(query),
                  notice=request.query_params.get("notice", ""))


@page()
async def notification_detail(request: Request) -> Response:
    desk = desk_of(request)
    assert desk.repos is not None
    notifications = desk.repos.notifications
    notification_id = int(request.path_params["id"])
    await run_in_threadpool(notifications.sync_from_outbox)
    row = await run_in_threadpool(notifications.get, notification_id)
    if row is None:
        return render(request, "error.html", status_code=404, message="Такого уведомления нет.")
    attempts = await run_in_threadpool(notifications.attempts, notification_id)
    history = await run_in_threadpool(notifications.history, notification_id)
    return render(request, "notification.html", row=row, attempts=attempts, history=history,
                  notice=request.query_params.get("notice", ""))


@page(role="admin")
async def retry_notification(request: Request) -> Response:
    desk = desk_of(request)
    assert desk.repos is not None
    notifications = desk.repos.notifications
    notification_id = int(request.path_params["id"])
    await run_in_threadpool(notifications.sync_from_outbox)
    row = await run_in_threadpool(notifications.retry, notification_id)
    back = request.state.form.get("back")
    back = back if isinstance(back, str) and back.startswith("/notifications") else "/notifications"
    separator = "&" if "?" in back else "?"
    if row is None:
        logger.info("desk: retry of notification %s refused: not FAILED", notification_id)
        return redirect(f"{back}{separator}notice=not-failed")
    logger.info("desk: %s retried notification %s (round %s)", request.state.user["name"], notification_id,
                row["send_round"])
    return redirect(f"{back}{separator}notice=retried")


@page()
async def handovers_page(request: Request) -> Response:
    desk = desk_of(request)
    assert desk.repos is not None
    try:
        days = int(request.query_params.get("days", "30"))
    except ValueError:
        days = 30
    days = days if days in PERIODS else 30
    handovers = desk.repos.handovers
    since = desk.repos.db.now() - days * 86400
    await run_in_threadpool(handovers.sync_from_outbox)
    methods = await run_in_threadpool(handovers.analytics, since)
    log: List[Dict[str, Any]] = await run_in_threadpool(handovers.list, since)
    log.reverse()
    chart = {
        "labels": [METHODS_RU.get(m, m) for m in methods],
        "requests": [v["requests"] for v in methods.values()],
        "success": [round(v["success_rate"] * 100, 1) for v in methods.values()],
        "median": [_minutes(v["median_first_reply_seconds"]) for v in methods.values()],
        "p90": [_minutes(v["p90_first_reply_seconds"]) for v in methods.values()],
        "unanswered": [v["unanswered"] for v in methods.values()],
    }
    return render(request, "handovers.html", days=days, periods=PERIODS, methods=methods, log=log[:200],
                  chart=chart, total=len(log))


def _minutes(seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else round(seconds / 60, 2)


@page()
async def home(request: Request) -> Response:
    return redirect("/chats")
