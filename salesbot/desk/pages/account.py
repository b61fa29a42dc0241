"""Log in and out, change one's password, and (admins) the users."""
from __future__ import annotations

import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from salesbot.db.desk import ROLES
from salesbot.desk.auth import (
    _DUMMY_HASH,
    COOKIE,
    MIN_PASSWORD,
    add_user,
    csrf_ok,
    hash_password,
    verify_password,
)
from salesbot.desk.pages.common import desk_of, form_text, page, redirect, render, set_session

logger = logging.getLogger("salesbot.desk")


def _safe_next(target: str) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def login_form(request: Request) -> Response:
    desk = desk_of(request)
    if desk.sessions is None:
        return Response("Страница запускается, обновите через несколько секунд.", status_code=503)
    session = desk.sessions.load(request.cookies.get(COOKIE))
    if not session.get("csrf"):
        session = {"csrf": secrets.token_urlsafe(24)}
    request.state.session = session
    response = render(request, "login.html", next=_safe_next(request.query_params.get("next", "/")), error=None)
    return set_session(response, request, session)


async def login(request: Request) -> Response:
    desk = desk_of(request)
    if desk.sessions is None or desk.repos is None:
        return Response("Страница запускается, обновите через несколько секунд.", status_code=503)
    session = desk.sessions.load(request.cookies.get(COOKIE))
    request.state.session = session
    form = await request.form()
    name = str(form.get("name") or "").strip().lower()[:64]
    password = str(form.get("password") or "")[:1024]
    target = _safe_next(str(form.get("next") or "/"))
    if not csrf_ok(session, str(form.get("csrf") or "")):
        logger.warning("desk: login form without a valid CSRF token")
        session = {"csrf": secrets.token_urlsafe(24)}
        request.state.session = session
        return set_session(render(request, "login.html", status_code=403, next=target,
                                  error="Форма устарела, попробуйте ещё раз."), request, session)
    client = request.client.host if request.client else "?"
    wait = desk.login_limiter.blocked_for(client, name)
    if wait > 0:
        logger.warning("desk: login of %r from %s refused: too many failed attempts", name, client)
        return render(request, "login.html", status_code=429, next=target,
                      error=f"Слишком много неудачных попыток. Попробуйте через {int(wait // 60) + 1} мин.")
    user = await run_in_threadpool(desk.users.by_name, name) if name else None
    ok = await run_in_threadpool(verify_password, user["password_hash"] if user else _DUMMY_HASH, password)
    if not ok or user is None or not user["active"]:
        desk.login_limiter.failed(client, name)
        logger.info("desk: failed login of %r from %s", name, client)
        return render(request, "login.html", status_code=401, next=target, error="Неверное имя или пароль.")
    desk.login_limiter.succeeded(client, name)
    repos = desk.repos
    await run_in_threadpool(lambda: desk.users.update(user["id"], last_login_at=repos.db.now()))
    logger.info("desk: %s logged in", user["name"])
    new_session = {"uid": user["id"], "pw": user["password_hash"][-12:], "csrf": secrets.token_urlsafe(24)}
    return set_session(redirect("/password" if user["must_change_password"] else target), request, new_session)


@page()
async def logout(request: Request) -> Response:
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@page()
async def password_form(request: Request) -> Response:
    return render(request, "password.html", error=None, done=False)


@page()
async def change_password(request: Request) -> Response:
    desk = desk_of(request)
    user = request.state.user
    current, new, again = (str(request.state.form.get(k) or "") for k in ("current", "new", "again"))
    error = None
    if not await run_in_threadpool(verify_password, user["password_hash"], current):
        error = "Текущий пароль неверен."
    elif len(new) < MIN_PASSWORD:
        error = f"Новый пароль должен быть не короче {MIN_PASSWORD} символов."
    elif new != again:
        error = "Пароли не совпадают."
    elif new == current:
        error = "Новый пароль должен отличаться от текущего."
    if error:
        return render(request, "password.html", status_code=422, error=error, done=False)
    password_hash = await run_in_threadpool(hash_password, new)
    await run_in_threadpool(lambda: desk.users.update(user["id"], password_hash=password_hash,
                                                      must_change_password=False))
    logger.info("desk: %s changed the password", user["name"])
    session = {**request.state.session, "pw": password_hash[-12:]}
    return set_session(redirect("/chats"), request, session)


@page(role="admin")
async def users_page(request: Request) -> Response:
    users = await run_in_threadpool(desk_of(request).users.list)
    return render(request, "users.html", users=users, roles=ROLES, created=None, error=None)


@page(role="admin")
async def add_user_page(request: Request) -> Response:
    desk = desk_of(request)
    name, role = form_text(request, "name", 64).lower(), form_text(request, "role", 16)
    error, created = None, None
    try:
        user_id, password = await run_in_threadpool(add_user, desk.users, name, role, None, True)
        if user_id is None:
            error = f"Пользователь {name} уже есть."
        else:
            created = {"name": name, "password": password}
            logger.info("desk: %s added user %s (%s)", request.state.user["name"], name, role)
    except ValueError as exc:
        error = str(exc)
    users = await run_in_threadpool(desk.users.list)
    return render(request, "users.html", status_code=422 if error else 200, users=users, roles=ROLES,
                  created=created, error=error)


@page(role="admin")
async def set_user_active(request: Request) -> Response:
    desk = desk_of(request)
    user_id = int(request.path_params["id"])
    active = form_text(request, "active") == "1"
    if user_id == request.state.user["id"] and not active:
        return render(request, "error.html", status_code=422, message="Нельзя отключить самого себя.")
    await run_in_threadpool(lambda: desk.users.update(user_id, active=active))
    logger.info("desk: %s set user %s active=%s", request.state.user["name"], user_id, active)
    return redirect("/users")
