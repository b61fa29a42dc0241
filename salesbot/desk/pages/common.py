"""What every page shares: the Jinja2 templates and their filters, the login guard (session, role, CSRF)."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from salesbot.desk.auth import COOKIE, SESSION_SECONDS, csrf_ok
from salesbot.handoff import REASONS_RU

if TYPE_CHECKING:
    from salesbot.desk.app import Desk

logger = logging.getLogger("salesbot.desk")
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

AUTHORS_RU = {"customer": "Клиент", "bot": "Бот", "manager_phone": "Менеджер (телефон)",
              "desk": "Менеджер (страница)", "notification": "Уведомление", "operator": "Оператор CRM"}
ORDER_STATUS_RU = {"NEW": "новый", "NOTIFIED": "передан менеджерам", "NOTIFY_FAILED": "не передан",
                   "CONFIRMED": "подтверждён", "SHIPPED": "отправлен", "DELIVERED": "доставлен",
                   "CANCELLED": "отменён"}
NOTIFICATION_STATUS_RU = {"PENDING": "ожидает", "RETRYING": "повтор", "SENT": "отправлено",
                          "DELIVERED": "доставлено", "READ": "прочитано", "FAILED": "ошибка",
                          "BLOCKED": "заблокировано"}
HANDOVER_STATUS_RU = {"pending": "ожидает", "notified": "доставлено", "failed": "ошибка", "completed": "отвечено"}
METHODS_RU = {"whatsapp_group": "группа WhatsApp", "desk": "страница менеджеров", "email": "e-mail",
              "sms": "SMS", "webhook": "вебхук CRM"}


def reason_ru(reason: Optional[str]) -> str:
    """Known reasons in Russian; one this release does not know (another service's) is shown as it is."""
    if not reason:
        return ""
    return REASONS_RU.get(reason, reason.replace("_", " "))


def make_templates(tz_name: str) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    zone = ZoneInfo(tz_name)

    def when(epoch: Optional[float], fmt: str = "%d.%m %H:%M") -> str:
        if epoch is None:
            return ""
        return dt.datetime.fromtimestamp(float(epoch), zone).strftime(fmt)

    def duration(seconds: Optional[float]) -> str:
        if seconds is None:
            return "—"
        seconds = max(0, int(seconds))
        if seconds < 60:
            return f"{seconds} с"
        if seconds < 3600:
            return f"{seconds // 60} мин"
        if seconds < 86400:
            return f"{seconds // 3600} ч {seconds % 3600 // 60} мин"
        return f"{seconds // 86400} дн {seconds % 86400 // 3600} ч"

    env = templates.env
    env.filters.update(when=when, duration=duration, reason_ru=reason_ru, urlquote=lambda s: quote(str(s), safe=""))
    env.globals.update(AUTHORS_RU=AUTHORS_RU, ORDER_STATUS_RU=ORDER_STATUS_RU,
                       NOTIFICATION_STATUS_RU=NOTIFICATION_STATUS_RU, METHODS_RU=METHODS_RU,
                       HANDOVER_STATUS_RU=HANDOVER_STATUS_RU)
    return templates


def desk_of(request: Request) -> "Desk":
    return request.app.state.desk


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    desk = desk_of(request)
    context.update(user=getattr(request.state, "user", None), csrf=request.state.session.get("csrf", ""),
                   now=desk.repos.db.now() if desk.repos else 0, path=request.url.path)
    return desk.templates.TemplateResponse(request, template, context, status_code=status_code)


def set_session(response: Response, request: Request, session: Dict[str, Any]) -> Response:
    sessions = desk_of(request).sessions
    assert sessions is not None
    response.set_cookie(COOKIE, sessions.dump(session), max_age=SESSION_SECONDS, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


Handler = Callable[[Request], Awaitable[Response]]


def page(role: Optional[str] = None) -> Callable[[Handler], Handler]:
    """Login required (and `role`, when given); a POST needs the session's CSRF token."""

    def decorate(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            desk = desk_of(request)
            if desk.repos is None or desk.sessions is None:
                return HTMLResponse("Страница запускается, обновите через несколько секунд.", status_code=503)
            session = desk.sessions.load(request.cookies.get(COOKIE))
            request.state.session = session
            user = None
            if isinstance(session.get("uid"), int):
                user = await run_in_threadpool(desk.users.get, session["uid"])
            if user is None or not user["active"] or session.get("pw") != user["password_hash"][-12:]:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login"})
                target = request.url.path if request.method == "GET" else "/"
                return redirect(f"/login?next={quote(target)}")
            request.state.user = user
            if user["must_change_password"] and request.url.path not in ("/password", "/logout"):
                return redirect("/password")
            if request.method == "POST":
                form = await request.form()
                request.state.form = form
                given = form.get("csrf") or request.headers.get("x-csrf-token")
                if not csrf_ok(session, given if isinstance(given, str) else None):
                    logger.warning("desk: %s %s by %s without a valid CSRF token", request.method,
                                   request.url.path, user["name"])
                    return HTMLResponse("Форма устарела: обновите страницу и попробуйте ещё раз.", status_code=403)
            if role is not None and user["role"] != role:
                logger.info("desk: %s %s refused: %s is a %s", request.method, request.url.path, user["name"],
                            user["role"])
                return render(request, "error.html", status_code=403, message="Это доступно только администратору.")
            return await handler(request)

        wrapped.__name__ = handler.__name__
        return wrapped

    return decorate


def form_text(request: Request, name: str, limit: int = 4000) -> str:
    value = request.state.form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""
