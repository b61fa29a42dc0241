"""The desk's HTTP app (Starlette). `create_app(config)` builds it without any I/O; the database is opened, the
templates read and the outbox relay started in the lifespan, when uvicorn starts serving.

Routes: `GET /health`; the notifications API (Bearer NOTIFY_API_TOKEN; off when the token is unset):
`POST /api/v1/notifications`, `GET /api/v1/notifications`, `GET /api/v1/notifications/{id}`,
`POST /api/v1/notifications/{id}/retry`, and `POST /api/v1/notifications/status-webhook`, which takes a GREEN-API
`outgoingMessageStatus` webhook body (the channel normally passes those on with `record_message_status`).
The managers' page (login, chats, orders, notifications, handovers, users) is `salesbot/desk/pages`.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from salesbot.db import Repositories
from salesbot.db.desk import DeskChatRepository, DeskUserRepository
from salesbot.db.notifications import ALL_STATUSES
from salesbot.desk.auth import FIRST_ADMIN, LoginLimiter, Sessions, ensure_first_admin, secret_key
from salesbot.desk.config import DeskConfig, load_desk_config
from salesbot.desk.pages import page_routes
from salesbot.desk.pages.common import make_templates
from salesbot.notify.phones import PhoneError, normalise_phone, phone_keys, region_of_country
from salesbot.notify.service import NotificationService, Rejected, first_answer, parse_quiet_hours, present
from salesbot.notify.status import record_message_status
from salesbot.notify.templates import CurrencyFormat, NotificationTemplates

logger = logging.getLogger("salesbot.desk")
MAX_PER_PAGE = 200
FIRST_ADMIN_FILE = "desk-admin-password.txt"


class Desk:
    """What the running desk holds: the database, the notification rules and the relay task."""

    def __init__(self, config: DeskConfig):
        self.config = config
        self.repos: Optional[Repositories] = None
        self.handoff: Any = None
        self.users: Any = None
        self.chats: Any = None
        self.sessions: Optional[Sessions] = None
        self.templates: Any = None
        self.login_limiter = LoginLimiter(config.login_attempts, config.login_window_seconds)
        self.service: Optional[NotificationService] = None
        self.relay_task: Optional[asyncio.Task] = None
        self.webhook_task: Optional[asyncio.Task] = None
        self.stop = asyncio.Event()

    def open(self) -> None:  # blocking: run in a thread
        from salesbot.shop_profile import profile_or_documents

        config = self.config
        from salesbot.channel.handoff import HandoffService
        from salesbot.clock import system_clock
        from salesbot.storage import Storage

        storage = Storage(config.settings.database_url)
        self.repos = storage.repos
        # no mirror here: the Rasa server brings its tracker in line when the customer writes next
        self.handoff = HandoffService(storage, system_clock(), config.settings.handoff_auto_resume_minutes)
        self.users = DeskUserRepository(storage.db)
        self.chats = DeskChatRepository(storage.db)
        self.sessions = Sessions(secret_key(config.secret_key, config.settings.runtime_dir))
        self.templates = make_templates(config.settings.tz_name)
        password = ensure_first_admin(self.users)
        if password is not None:
            self.announce_first_admin(password)
        # The same identity the bot speaks with: shop.yml, else what the shop's documents say (name, currency).
        profile = profile_or_documents(config.shop_profile_path or Path("shop.yml"),
                                       config.settings.knowledge_docs_dir)
        c = profile.currency
        currency = CurrencyFormat(code=c.code, symbol=c.symbol, pattern=c.format, decimals=int(c.decimals))
        profile_vars: Dict[str, str] = profile.slots()
        region = region_of_country(profile.country)
        templates = NotificationTemplates.load(config.templates_path, currency, profile_vars)
        quiet = parse_quiet_hours(config.quiet_hours, (profile.timezone if profile.timezone
                                                       else config.settings.tz_name))
        allowed = config.notify_countries or (region,)
        self.service = NotificationService(self.repos, templates, phone_keys(config.staff_phones, region), region,
                                           allowed, quiet)
        logger.info("desk: database ready, %d notification events from %s, phones of %s, quiet hours %s",
                    len(templates.templates), templates.source, ",".join(allowed),
                    f"{quiet.start}-{quiet.end}" if quiet else "off")

    def announce_first_admin(self, password: str) -> None:
        """The first admin's one-time password goes to a file only its owner reads (`make run` prints it once
        and deletes it), never into a log."""
        runtime_dir = self.config.settings.runtime_dir
        runtime_dir.mkdir(parents=True, exist_ok=True)
        path = runtime_dir / FIRST_ADMIN_FILE
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{FIRST_ADMIN} {password}\n")
        logger.warning("desk: first start: created the user %r (admin); its one-time password is in %s "
                       "(`make run` prints it); it must be changed at the first login", FIRST_ADMIN, path)

    async def start_handover_relay(self) -> None:
        """The handover methods' own relay: their retry schedule (5 attempts over hours) differs from messages'."""
        from salesbot.outbox import OutboxRelay, RetryPolicy, Sender

        assert self.repos is not None
        config = self.config
        senders: Dict[str, Sender] = {}
        closers: List[Any] = []
        if config.handover_webhook_secret:
            from salesbot.handover.webhook import WEBHOOK_KIND, WebhookDelivery

            webhook = WebhookDelivery(config.handover_webhook_secret, self.repos.handovers)
            senders[WEBHOOK_KIND] = webhook.sender()
            closers.append(webhook)
        if config.smtp_url:
            from salesbot.handover.email_sms import EMAIL_KIND, EmailDelivery

            senders[EMAIL_KIND] = EmailDelivery(config.smtp_url, config.handover_email_from).sender_of_kind()
        if config.twilio_account_sid and config.twilio_auth_token:
            from salesbot.handover.email_sms import SMS_KIND, SmsDelivery

            sms = SmsDelivery(config.twilio_account_sid, config.twilio_auth_token, config.twilio_from,
                              config.twilio_base_url)
            senders[SMS_KIND] = sms.sender_of_kind()
            closers.append(sms)
        if not senders:
            return
        schedule = list(config.handover_webhook_retry_seconds)
        relay = OutboxRelay(self.repos.outbox, senders,
                            policy=RetryPolicy(schedule=schedule, max_attempts=len(schedule) + 1,
                                               give_up_after_seconds=sum(schedule) * 2 + 3600),
                            worker_id=f"desk-handover-{os.getpid()}", poll_seconds=config.relay_poll_seconds)
        self.webhook_task = asyncio.create_task(
            self._relay_loop(relay, Closers(closers), self.repos.handovers.sync_from_outbox))

    async def start_relay(self) -> None:
        await self.start_handover_relay()
        settings = self.config.settings
        if not settings.green_api_configured:
            logger.warning("desk: no GREEN-API credentials: notifications are stored but not sent")
            return
        from salesbot.greenapi.client import GreenApiClient, GreenApiConfig
        from salesbot.outbox import GREENAPI_MESSAGE, GreenApiDelivery, OutboxRelay, RetryPolicy, Sender

        assert self.repos is not None
        client = GreenApiClient(GreenApiConfig(settings.green_api_url, settings.green_api_media_url,
                                               settings.green_api_instance_id, settings.green_api_token,
                                               retries=0, timeout=20.0))
        delivery = GreenApiDelivery(client, self.repos.outbox, self.repos.handoffs)
        message = delivery.senders()[GREENAPI_MESSAGE]
        pace = Pacer(self.config.send_interval_seconds)

        async def paced_send(item: Any) -> Optional[str]:
            await pace.wait()
            id_message = await message.send(item)
            if id_message and self.repos is not None:  # its echo must never look like a manager typing
                author = item.payload.get("author") or ("notification" if item.effect_key.startswith(
                    "notification:") else None)
                await asyncio.to_thread(self.repos.messages.remember_sent, item.target, [id_message], None,
                                        item.payload.get("message"), author)
            return id_message

        relay = OutboxRelay(self.repos.outbox, {GREENAPI_MESSAGE: Sender(paced_send, message.was_delivered)},
                            policy=RetryPolicy(base_seconds=self.config.retry_base_seconds),
                            worker_id=f"desk-{os.getpid()}", poll_seconds=self.config.relay_poll_seconds)
        self.relay_task = asyncio.create_task(
            self._relay_loop(relay, client, self.repos.notifications.sync_from_outbox))

    async def _relay_loop(self, relay: Any, client: Any, sync: Callable[[], int]) -> None:
        """Send due rows, then carry the outcomes into their tables (also of rows another relay sent)."""
        try:
            while not self.stop.is_set():
                busy = 0
                try:
                    busy = await relay.run_once()
                    await asyncio.to_thread(sync)
                except Exception:
                    logger.exception("desk relay: a round failed")
                if busy < relay.batch_size:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), timeout=relay.poll_seconds)
        finally:
            await client.close()

    async def close(self) -> None:
        self.stop.set()
        for task in (self.relay_task, self.webhook_task):
            if task is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(task, timeout=35)
        if self.repos is not None:
            self.repos.db.dispose()


class Closers:
    """Closes several clients as one."""

    def __init__(self, clients: List[Any]):
        self.clients = clients

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


class Pacer:
    """At most one send per `interval` seconds from this process."""

    def __init__(self, interval: float):
        self.interval = interval
        self.lock = asyncio.Lock()
        self.last = 0.0

    async def wait(self) -> None:
        async with self.lock:
            loop = asyncio.get_running_loop()
            delay = self.last + self.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.last = loop.time()


# -- helpers -------------------------------------------------------------------------------------------------------
def error(status: int, message: str, field: Optional[str] = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(f"body over {limit} bytes", None, 413)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise Rejected(f"body over {limit} bytes", None, 413)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Rejected("the body is not valid JSON", None, 400) from None


def parse_time(text: str, field: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"{field} must be an ISO date or date-time, or epoch seconds", field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def parse_int(text: Optional[str], field: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise Rejected(f"{field} must be a whole number", field) from None
    if not low <= value <= high:
        raise Rejected(f"{field} must be within {low}..{high}", field)
    return value


Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """Bearer NOTIFY_API_TOKEN (401 without it; 404 when the API is off), Rejected → its JSON answer."""

    async def wrapped(request: Request) -> Response:
        desk: Desk = request.app.state.desk
        token = desk.config.notify_api_token
        if not token:
            return error(404, "the notifications API is off (NOTIFY_API_TOKEN is not set)")
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())):
            logger.warning("desk: %s %s without a valid token", request.method, request.url.path)
            return JSONResponse({"error": "unauthorized", "field": None}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        if desk.service is None:
            return error(503, "the desk is starting")
        try:
            return await handler(request)
        except Rejected as exc:
            logger.info("desk: %s %s → %s %s (field %s)", request.method, request.url.path, exc.status, exc.error,
                        exc.field)
            return JSONResponse(exc.body(), status_code=exc.status)

    return wrapped


# -- routes --------------------------------------------------------------------------------------------------------
async def health(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    return JSONResponse({"ok": desk.service is not None, "notifications_api": desk.config.notifications_api_on,
                         "relay": desk.relay_task is not None and not desk.relay_task.done()},
                        status_code=200 if desk.service is not None else 503)


@api
async def create_notification(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    assert desk.service is not None
    body = await read_json(request, desk.config.max_body_bytes)
    status, answer = await run_in_threadpool(desk.service.submit, body)
    logger.info("desk: notification %s %s/%s → %s %s%s", answer["id"], body.get("event"), body.get("reference"),
                status, answer["status"], f" ({answer['reason']})" if answer.get("reason") else "")
    return JSONResponse(answer, status_code=status)


@api
async def list_notifications(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    assert desk.repos is not None and desk.service is not None
    params = request.query_params
    filters: Dict[str, Any] = {}
    if params.get("event"):
        filters["event"] = params["event"]
    status = (params.get("status") or "").upper()
    if status:
        if status not in ALL_STATUSES:
            raise Rejected(f"status must be one of {', '.join(ALL_STATUSES)}", "status")
        filters["status"] = status
    if params.get("phone"):
        try:
            digits = normalise_phone(params["phone"], desk.service.default_region,
                                     desk.service.allowed_regions).lstrip("+")
        except PhoneError:
            digits = "".join(ch for ch in params["phone"] if ch.isdigit())
        if not digits:
            raise Rejected("phone must contain digits", "phone")
        filters["phone_digits"] = digits
    if params.get("q"):
        filters["q"] = params["q"].strip()[:100]
    for field in ("since", "until"):
        if params.get(field):
            filters[field] = parse_time(params[field], field)
    page = parse_int(params.get("page"), "page", 1, 1, 1_000_000)
    per_page = parse_int(params.get("per_page"), "per_page", 50, 1, MAX_PER_PAGE)
    notifications = desk.repos.notifications
    await run_in_threadpool(notifications.sync_from_outbox)
    rows, total = await run_in_threadpool(lambda: notifications.search(page, per_page, **filters))
    stats = await run_in_threadpool(lambda: notifications.stats(**filters))
    return JSONResponse({"items": [present(r) for r in rows], "total": total, "page": page, "per_page": per_page,
                         "stats": stats})


@api
async def get_notification(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    assert desk.repos is not None
    notifications = desk.repos.notifications
    notification_id = request.path_params["id"]
    await run_in_threadpool(notifications.sync_from_outbox)
    row = await run_in_threadpool(notifications.get, notification_id)
    if row is None:
        return error(404, f"no notification {notification_id}", "id")
    attempts = await run_in_threadpool(notifications.attempts, notification_id)
    history = await run_in_threadpool(notifications.history, notification_id)
    answer = present(row)
    answer["attempts"] = [{
        "round": int(a["effect_key"].rsplit(":", 1)[-1]), "attempt": a["attempt"], "outcome": a["outcome"],
        "http_status": a["http_status"], "error": a["error"], "started_at": _iso(a["started_at"]),
        "finished_at": _iso(a["finished_at"]), "worker": a["worker"]} for a in attempts]
    answer["history"] = [{"status": h["status"], "source": h["source"], "detail": h["detail"],
                          "at": _iso(h["at"])} for h in history]
    return JSONResponse(answer)


@api
async def retry_notification(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    assert desk.repos is not None
    notifications = desk.repos.notifications
    notification_id = request.path_params["id"]
    await run_in_threadpool(notifications.sync_from_outbox)
    row = await run_in_threadpool(notifications.retry, notification_id)
    if row is None:
        current = await run_in_threadpool(notifications.get, notification_id)
        if current is None:
            return error(404, f"no notification {notification_id}", "id")
        return error(409, f"notification {notification_id} is {current['status']}, not FAILED", "status")
    logger.info("desk: notification %s retried (round %s)", notification_id, row["send_round"])
    return JSONResponse({**first_answer(row), "send_round": row["send_round"]}, status_code=202)


@api
async def status_webhook(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    assert desk.repos is not None
    body = await read_json(request, desk.config.max_body_bytes)
    if not isinstance(body, dict) or body.get("typeWebhook") != "outgoingMessageStatus":
        raise Rejected("expected a GREEN-API outgoingMessageStatus webhook", "typeWebhook")
    if not isinstance(body.get("idMessage"), str) or not isinstance(body.get("status"), str):
        raise Rejected("idMessage and status are required", "idMessage")
    db = desk.repos.db
    await run_in_threadpool(desk.repos.notifications.sync_from_outbox)
    status = await run_in_threadpool(record_message_status, db, body["idMessage"], body["status"],
                                     body.get("description"), body.get("timestamp"))
    return JSONResponse({"notification_status": status})


@api
async def handover_test_webhook(request: Request) -> Response:
    """Send a signed `handover.test` event to HANDOVER_WEBHOOK_URL now; answer the receiver's status."""
    import aiohttp

    from salesbot.handover.webhook import event_body, new_webhook_id, post_signed

    config: DeskConfig = request.app.state.desk.config
    if not config.handover_webhook_url or not config.handover_webhook_secret:
        raise Rejected("set HANDOVER_WEBHOOK_URL and HANDOVER_WEBHOOK_SECRET first", "HANDOVER_WEBHOOK_URL")
    webhook_id = new_webhook_id()
    body = event_body("handover.test", {"message": "Проверка вебхука передачи менеджеру"})
    try:
        async with aiohttp.ClientSession() as session:
            status = await post_signed(session, config.handover_webhook_url, config.handover_webhook_secret,
                                       webhook_id, body, timeout=10.0)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.warning("desk: test webhook failed: %s", type(exc).__name__)
        return JSONResponse({"ok": False, "status": None, "webhook_id": webhook_id,
                             "error": f"{type(exc).__name__}: {exc}"}, status_code=502)
    logger.info("desk: test webhook %s → HTTP %s", webhook_id, status)
    return JSONResponse({"ok": 200 <= status < 300, "status": status, "webhook_id": webhook_id})


@api
async def handover_analytics(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    assert desk.repos is not None
    days = parse_int(request.query_params.get("days"), "days", 30, 1, 3650)
    since = desk.repos.db.now() - days * 86400
    handovers = desk.repos.handovers
    await run_in_threadpool(handovers.sync_from_outbox)
    methods = await run_in_threadpool(handovers.analytics, since)
    return JSONResponse({"days": days, "since": _iso(since), "methods": methods})


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("desk: %s %s failed", request.method, request.url.path)
    return error(500, "internal error")


def create_app(config: Optional[DeskConfig] = None) -> Starlette:
    """The desk's app; nothing is opened until uvicorn starts it (the lifespan)."""
    desk_config = config or load_desk_config()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        desk = Desk(desk_config)
        app.state.desk = desk
        await asyncio.to_thread(desk.open)
        await desk.start_relay()
        if not desk_config.notifications_api_on:
            logger.info("desk: NOTIFY_API_TOKEN is not set: the notifications API is off")
        try:
            yield
        finally:
            await desk.close()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/api/v1/notifications", create_notification, methods=["POST"]),
        Route("/api/v1/notifications", list_notifications, methods=["GET"]),
        Route("/api/v1/notifications/status-webhook", status_webhook, methods=["POST"]),
        Route("/api/v1/notifications/{id:int}", get_notification, methods=["GET"]),
        Route("/api/v1/notifications/{id:int}/retry", retry_notification, methods=["POST"]),
        Route("/api/v1/handover/test-webhook", handover_test_webhook, methods=["POST"]),
        Route("/api/v1/handover/analytics", handover_analytics, methods=["GET"]),
        *page_routes(),  # the managers' page (salesbot/desk/pages)
    ]
    from salesbot.amocrm.desk import install as install_amocrm  # POST /webhooks/amocrm/{scope_id} and its relay

    return install_amocrm(Starlette(routes=routes, lifespan=lifespan, exception_handlers={Exception: _server_error}),
                          desk_config)
