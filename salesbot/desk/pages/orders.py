"""«Заказы»: orders with their status; a change of status sends the matching customer notification through the
notifications service (the same rules as POST /api/v1/notifications: templates, staff and opt-out blocks, quiet
hours, once per event and order)."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, Optional, Tuple
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from salesbot.db.enums import OrderStatus
from salesbot.desk.pages.common import desk_of, form_text, page, redirect, render
from salesbot.notify.service import Rejected

logger = logging.getLogger("salesbot.desk")

STATUSES = ("NEW", "NOTIFIED", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED")
# a status → the customer's notification it sends
STATUS_EVENTS = {"CONFIRMED": "order_confirmed", "SHIPPED": "order_shipped"}
# notifications about delivery that do not change the status
DELIVERY_EVENTS = {"ready_for_pickup": "Готов к выдаче", "delivery_failed": "Не удалось доставить",
                   "delivery_rescheduled": "Доставка перенесена"}


def reference_of(order: Dict[str, Any]) -> str:
    return f"№{order['id']}"


def _order(desk: Any, order_id: int) -> Optional[Dict[str, Any]]:
    return desk.repos.orders.get(order_id)


@page()
async def orders_page(request: Request) -> Response:
    desk = desk_of(request)
    status = request.query_params.get("status", "")
    orders = await run_in_threadpool(desk.repos.orders.list)  # type: ignore[union-attr]
    orders.reverse()  # newest first
    if status in STATUSES or status == "NOTIFY_FAILED":
        orders = [o for o in orders if o["status"] == status]
    return render(request, "orders.html", orders=orders, statuses=STATUSES, status=status,
                  delivery_events=DELIVERY_EVENTS, notice=request.query_params.get("notice", ""),
                  error=request.query_params.get("error", ""))


def _notify(desk: Any, order: Dict[str, Any], event: str, variables: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
    if not order["phone"]:
        raise Rejected("у заказа нет телефона клиента", "phone")
    body = {"event": event, "reference": reference_of(order), "phone": str(order["phone"]),
            "name": order["customer_name"] or "", "vars": {"total": order["price"], **variables}}
    return desk.service.submit(body)


def _parse_date(text: str) -> Optional[str]:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


@page()
async def set_status(request: Request) -> Response:
    desk = desk_of(request)
    order_id = int(request.path_params["id"])
    status = form_text(request, "status", 32)
    track = form_text(request, "track", 128)
    if status not in STATUSES:
        return redirect("/orders?error=status")
    if status == "SHIPPED" and not track:
        return redirect(f"/orders?error=track#order-{order_id}")
    order = await run_in_threadpool(_order, desk, order_id)
    if order is None:
        return render(request, "error.html", status_code=404, message="Такого заказа нет.")
    event = STATUS_EVENTS.get(status)
    notice = "status"
    if event is not None:
        try:
            code, answer = await run_in_threadpool(_notify, desk, order, event, {"track": track} if track else {})
        except Rejected as exc:
            logger.info("desk: order %s → %s: notification refused: %s", order_id, status, exc.error)
            return redirect(f"/orders?error=notify&detail={quote(exc.error[:200])}#order-{order_id}")
        notice = f"notified-{answer['status'].lower()}"
    await run_in_threadpool(_store_status, desk, order_id, status, track)
    logger.info("desk: %s set order %s to %s%s", request.state.user["name"], order_id, status,
                f" ({event})" if event else "")
    return redirect(f"/orders?notice={notice}#order-{order_id}")


def _store_status(desk: Any, order_id: int, status: str, track: str) -> None:
    desk.repos.orders.set_status(order_id, OrderStatus(status).value)
    if track:
        desk.repos.orders.set_track_number(order_id, track)


@page()
async def notify_delivery(request: Request) -> Response:
    desk = desk_of(request)
    order_id = int(request.path_params["id"])
    event = form_text(request, "event", 64)
    if event not in DELIVERY_EVENTS:
        return redirect("/orders?error=event")
    variables: Dict[str, Any] = {}
    if event == "delivery_rescheduled":
        date = _parse_date(form_text(request, "date", 32))
        if date is None:
            return redirect(f"/orders?error=date#order-{order_id}")
        variables["date"] = date
    if event == "delivery_failed" and form_text(request, "reason", 200):
        variables["reason"] = form_text(request, "reason", 200)
    order = await run_in_threadpool(_order, desk, order_id)
    if order is None:
        return render(request, "error.html", status_code=404, message="Такого заказа нет.")
    try:
        code, answer = await run_in_threadpool(_notify, desk, order, event, variables)
    except Rejected as exc:
        logger.info("desk: order %s %s refused: %s", order_id, event, exc.error)
        return redirect(f"/orders?error=notify&detail={quote(exc.error[:200])}#order-{order_id}")
    logger.info("desk: %s sent %s for order %s", request.state.user["name"], event, order_id)
    return redirect(f"/orders?notice=notified-{answer['status'].lower()}#order-{order_id}")
