"""The desk's part of the amoCRM mirror: POST /webhooks/amocrm/{scope_id} (operator hooks) and the relay that
sends operator replies to WhatsApp. `install(app, config)` adds both to the desk's Starlette app."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from salesbot.amocrm.hooks import MAX_HOOK_BYTES, OperatorHooks, ReplyDelivery
from salesbot.amocrm.relay import amojo_client, scope_store
from salesbot.desk.config import DeskConfig

logger = logging.getLogger("salesbot.desk.amocrm")


class AmocrmDesk:
    def __init__(self, config: DeskConfig):
        self.config = config
        self.hooks: Optional[OperatorHooks] = None
        self.stop = asyncio.Event()
        self.tasks: list = []
        self.closers: list = []

    async def start(self, repos: Any) -> None:
        from salesbot.channel.handoff import HandoffService
        from salesbot.clock import system_clock
        from salesbot.greenapi.client import GreenApiClient, GreenApiConfig
        from salesbot.outbox import GreenApiDelivery, OutboxRelay
        from salesbot.storage import get_storage

        settings = self.config.settings
        client = amojo_client(settings)
        self.closers.append(client)
        scopes = scope_store(settings, repos, client)
        storage = await asyncio.to_thread(get_storage, settings.database_url)
        handoff = HandoffService(storage, system_clock(), settings.handoff_auto_resume_minutes)
        self.hooks = OperatorHooks(repos, settings.amocrm_channel_secret, scopes, handoff)
        replayed = await self.hooks.replay()
        if replayed:
            logger.info("desk: %d amoCRM hooks stored before the restart processed now", replayed)
        if not settings.green_api_configured:
            logger.warning("desk: no GREEN-API credentials: operator replies from amoCRM wait in the outbox")
            return
        greenapi = GreenApiClient(GreenApiConfig(settings.green_api_url, settings.green_api_media_url,
                                                 settings.green_api_instance_id, settings.green_api_token,
                                                 retries=0, timeout=20.0))
        self.closers.append(greenapi)
        delivery = ReplyDelivery(repos, GreenApiDelivery(greenapi, repos.outbox, None))
        relay = OutboxRelay(repos.outbox, delivery.senders(), worker_id=f"desk-amocrm-{os.getpid()}",
                            poll_seconds=min(0.5, self.config.relay_poll_seconds))
        self.tasks.append(asyncio.create_task(relay.run(self.stop)))

    async def close(self) -> None:
        self.stop.set()
        if self.hooks is not None:
            await self.hooks.join()
        for task in self.tasks:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, timeout=35)
        for closer in self.closers:
            await closer.close()


async def operator_hook(request: Request) -> Response:
    amocrm: Optional[AmocrmDesk] = getattr(request.app.state, "amocrm", None)
    if amocrm is None:
        return JSONResponse({"error": "the amoCRM mirror is off (AMOCRM_CHANNEL_ID/AMOCRM_CHANNEL_SECRET unset)"},
                            status_code=404)
    if amocrm.hooks is None:
        return JSONResponse({"error": "the desk is starting"}, status_code=503)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_HOOK_BYTES:
        logger.warning("amoCRM hook rejected: body of %s bytes", declared)
        return JSONResponse({"error": "body too large"}, status_code=413)
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_HOOK_BYTES:
            logger.warning("amoCRM hook rejected: body over %d bytes", MAX_HOOK_BYTES)
            return JSONResponse({"error": "body too large"}, status_code=413)
    status, answer = await amocrm.hooks.take(request.path_params["scope_id"], bytes(raw),
                                             request.headers.get("x-signature"))
    return JSONResponse(answer, status_code=status)


def install(app: Starlette, config: DeskConfig) -> Starlette:
    """Add the hook route, and (when the mirror is on) start/stop the hooks and the replies' relay with the app."""
    app.router.routes.append(Route("/webhooks/amocrm/{scope_id}", operator_hook, methods=["POST"]))
    if not config.settings.amocrm_enabled:
        return app
    desk_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[Any]:
        async with desk_lifespan(app_) as state:
            amocrm = app_.state.amocrm = AmocrmDesk(config)  # hooks answered 503 until it has started
            await amocrm.start(app_.state.desk.repos)
            try:
                yield state
            finally:
                await amocrm.close()

    app.router.lifespan_context = lifespan
    return app
