"""Rasa custom channel `greenapi`: WhatsApp through GREEN-API (webhooks at /webhooks/greenapi/webhook, or polling).

A thin layer: it parses and authorises webhooks and hands them to `salesbot.channel` (per-chat ordered worker,
handoff service, manager commands, nudges, poller), and adapts Rasa to it: `RasaConversation` runs a turn and
writes to the tracker, `RasaPauseMirror` derives Rasa's ConversationPaused/Resumed from the database's pause,
`GreenAPIOutput` sends the bot's messages and drops a turn's reply when a manager took the chat meanwhile.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import unquote, urlparse

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, ConversationResumed, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.conversation import append_events, fetch_tracker
from connectors.speedups import saved_tracker
from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import HandoffService
from salesbot.channel.inbound import InboundRouter, TurnResult
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends, RecentIds  # noqa: F401  (RecentIds: former home)
from salesbot.channel.poller import Poller
from salesbot.channel.scheduler import run_periodically
from salesbot.clock import Clock, system_clock
from salesbot.greenapi.client import GreenApiClient, GreenApiConfig, GreenApiError
from salesbot.greenapi.webhooks import TRUNCATED_NOTICE, InboundMessage, WebhookError, parse_webhook
from salesbot.photos import upload_roots, uploadable_path
from salesbot.settings import Settings, get_settings, webhook_token_problem
from salesbot.storage import EFFECT_FAILED, Storage, get_storage

logger = logging.getLogger(__name__)

DROPPED_REASON = "manager_took_over"


def client_from_settings(settings: Settings) -> GreenApiClient:
    return GreenApiClient(GreenApiConfig(
        api_url=settings.green_api_url, media_url=settings.green_api_media_url,
        instance_id=settings.green_api_instance_id, token=settings.green_api_token,
    ))


class GreenAPIOutput(OutputChannel):
    """Sends the bot's messages; a message that still fails after the retries is recorded as FAILED. With
    `still_ours` (a customer turn), each send first checks that no manager took the chat meanwhile; a message
    computed before the manager's is dropped instead and listed in `dropped_texts`."""

    @classmethod
    def name(cls) -> Text:
        return "greenapi"

    def __init__(self, client: GreenApiClient, storage: Storage, clock: Optional[Clock] = None,
                 own_sends: Optional[OwnSends] = None,
                 taken_by_people: Optional[Callable[[str], Awaitable[bool]]] = None):
        self.client = client
        self.storage = storage
        self.clock = clock or system_clock()
        self.own_sends = own_sends if own_sends is not None else OwnSends(storage, self.clock)
        self.taken_by_people = taken_by_people
        self.sent_texts: List[str] = []     # what this output sent, so the channel knows how the turn ended
        self.dropped_texts: List[str] = []  # what it did not send because a manager took the chat

    async def _send(self, recipient_id: Text, kind: str, payload: Dict[str, Any], send: Callable[[], Awaitable[Any]]):
        if recipient_id.endswith("@g.us"):
            logger.info("chat=%s: not replying into a group", recipient_id)
            return
        if self.taken_by_people is not None and (self.dropped_texts or await self.taken_by_people(recipient_id)):
            self.dropped_texts.append(payload.get("message") or payload.get("path") or payload.get("url") or kind)
            logger.info("chat=%s %s dropped: a manager took the chat while the reply was computed",
                        recipient_id, kind)
            return
        try:
            result = await send()
        except GreenApiError as exc:
            logger.error("chat=%s %s failed for good: %s", recipient_id, kind, exc)
            key = f"failed:{recipient_id}:{kind}:{id(payload)}:{asyncio.get_running_loop().time()}"
            await asyncio.to_thread(self.storage.claim_effect, key, kind, recipient_id, payload)
            await asyncio.to_thread(self.storage.finish_effect, key, EFFECT_FAILED, None, str(exc))
            return
        ids = [i for i in (result if isinstance(result, list) else [result]) if i]
        self.own_sends.remember(recipient_id, ids)  # its echo must never pause the chat
        if kind == "text":
            self.sent_texts.append(payload["message"])
        logger.info("chat=%s sent %s id=%s", recipient_id, kind, ",".join(i for i in ids if i))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, "text", {"message": text},
                         lambda: self.client.send_message(recipient_id, text))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        if image.startswith("file://"):
            path = uploadable_path(image, upload_roots(get_settings().photos_dir, get_settings().runtime_dir))
            if path is None:   # only PHOTOS_DIR and the Drive cache are ever uploaded
                logger.warning("chat=%s photo not sent: %s is not a file under PHOTOS_DIR or the Drive cache",
                               recipient_id, Path(unquote(urlparse(image).path)).name[:100])
                return
            await self._send(recipient_id, "file", {"path": str(path)},
                             lambda: self.client.send_file_by_upload(recipient_id, path))
        else:
            await self._send(recipient_id, "file", {"url": image},
                             lambda: self.client.send_file_by_url(recipient_id, image))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons, **kwargs: Any) -> None:
        lines = [text] + [f"{i}. {b.get('title')}" for i, b in enumerate(buttons, 1)]
        await self.send_text_message(recipient_id, "\n".join(lines))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        text = json_message.get("text")
        if text:
            await self.send_text_message(recipient_id, text)


class RasaPauseMirror:
    """Rasa's tracker follows the database's pause (the one authority)."""

    def __init__(self, channel: "GreenAPIInput"):
        self.channel = channel

    async def paused(self, chat_id: str) -> None:
        if self.channel.agent is not None:
            await append_events(self.channel.agent, chat_id, [], ensure_paused=True)

    async def resumed(self, chat_id: str) -> None:
        if self.channel.agent is not None:
            await append_events(self.channel.agent, chat_id, [ConversationResumed()])


class RasaConversation:
    """The `Conversation` of salesbot.channel.inbound, over Rasa's agent (in-process, under its conversation lock)."""

    def __init__(self, channel: "GreenAPIInput", on_new_message: Callable[[UserMessage], Awaitable[Any]]):
        self.channel = channel
        self.on_new_message = on_new_message

    async def run_turn(self, message: InboundMessage) -> TurnResult:
        output = self.channel.turn_output()
        turn: Dict[str, Any] = {"sender_id": message.chat_id}
        token = saved_tracker.set(turn)  # Rasa's save_tracker leaves the turn's final tracker here (speedups)
        try:
            if message.truncated:   # the bot read only the start (MAX_TEXT_CHARS): say so before answering
                await output.send_text_message(message.chat_id, TRUNCATED_NOTICE)
            await self.on_new_message(UserMessage(
                text=message.text, output_channel=output, sender_id=message.chat_id,
                input_channel=GreenAPIInput.name(), message_id=message.id_message, metadata=message.metadata(),
            ))
        finally:
            saved_tracker.reset(token)
        if output.dropped_texts:
            # the transcript says what was computed and not sent; these carry no text, so nothing is re-sent
            await append_events(self.channel.agent, message.chat_id, [
                BotUttered(None, metadata={"dropped": True, "dropped_text": text, "reason": DROPPED_REASON})
                for text in output.dropped_texts])
        tracker = turn.get("tracker")
        if tracker is None and output.sent_texts and "?" in output.sent_texts[-1]:  # only a nudge needs it
            tracker = await fetch_tracker(self.channel.agent, message.chat_id)
        intent = tracker.latest_message.intent.get("name") if tracker is not None and tracker.latest_message \
            else None
        return TurnResult(list(output.sent_texts), list(output.dropped_texts), intent)

    async def record_while_paused(self, message: InboundMessage) -> None:
        await append_events(self.channel.agent, message.chat_id, [
            UserUttered(message.text or None, metadata=message.metadata(), message_id=message.id_message),
        ], ensure_paused=True)

    async def record_manager_message(self, message: InboundMessage) -> None:
        """For the transcript only: a bot event with author=manager is never sent."""
        await append_events(self.channel.agent, message.chat_id, [
            BotUttered(message.text or "", metadata={"author": "manager", "id_message": message.id_message}),
        ], ensure_paused=True)

    async def send_text(self, chat_id: str, text: str) -> None:
        await self.channel.get_output_channel().send_text_message(chat_id, text)

    async def record_nudge(self, chat_id: str, text: str, stage: int) -> None:
        await append_events(self.channel.agent, chat_id, [BotUttered(text, metadata={"nudge": stage})])

    async def known(self, chat_id: str) -> bool:
        return await fetch_tracker(self.channel.agent, chat_id) is not None


class GreenAPIInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "greenapi"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "GreenAPIInput":
        from connectors import speedups

        speedups.install()
        settings = get_settings()
        problem = webhook_token_problem(settings)
        if problem:
            raise SystemExit(problem)   # a clean stop with the message, not a traceback
        return cls(settings)

    def __init__(self, settings: Settings):
        self.settings = settings
        self.clock = system_clock()
        self._client: Optional[GreenApiClient] = None
        self._storage: Optional[Storage] = None
        self._own_sends: Optional[OwnSends] = None
        self._handoff: Optional[HandoffService] = None
        self._router: Optional[InboundRouter] = None
        self._background: List[asyncio.Task] = []
        self._app = None

    # -- shared parts, created on first use (no I/O at import or construction) ---------------------------------
    @property
    def client(self) -> GreenApiClient:
        if self._client is None:
            self._client = client_from_settings(self.settings)
        return self._client

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = get_storage(self.settings.database_url)
        return self._storage

    @property
    def own_sends(self) -> OwnSends:
        if self._own_sends is None:
            self._own_sends = OwnSends(self.storage, self.clock)
        return self._own_sends

    @property
    def handoff(self) -> HandoffService:
        if self._handoff is None:
            self._handoff = HandoffService(self.storage, self.clock, self.settings.handoff_auto_resume_minutes,
                                           RasaPauseMirror(self))
        return self._handoff

    @property
    def agent(self):
        return self._app.ctx.agent if self._app is not None else None

    def get_output_channel(self) -> OutputChannel:
        return GreenAPIOutput(self.client, self.storage, self.clock, self.own_sends)

    def turn_output(self) -> GreenAPIOutput:
        """The output of a customer turn: its sends check that no manager took the chat meanwhile."""
        return GreenAPIOutput(self.client, self.storage, self.clock, self.own_sends, self.handoff.taken_by_people)

    def router(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> InboundRouter:
        if self._router is None:
            conversation = RasaConversation(self, on_new_message)
            commands = ManagerCommands(self.handoff, self.settings.manager_numbers, self.settings.tz_name,
                                       conversation.known)
            nudges = NudgeScheduler(self.storage, self.clock, self.handoff, self.settings.nudges_enabled,
                                    self.settings.tz_name, self.settings.work_hours, conversation.send_text,
                                    conversation.record_nudge)
            self._router = InboundRouter(self.storage, self.handoff, commands, nudges, self.own_sends, conversation)
        return self._router

    # -- HTTP ----------------------------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        expected = self.settings.green_api_webhook_token
        if not expected:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {expected}".encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("greenapi_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": "greenapi",
                                  "mode": "polling" if self.settings.green_api_polling else "webhook"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self._authorized(request):
                logger.warning("webhook rejected: missing or wrong Authorization bearer token")
                return response.json({"error": "unauthorized"}, status=401)
            try:
                body = json.loads(request.body or b"")
            except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: absurdly deep JSON
                logger.warning("webhook rejected: body is not JSON (%d bytes)", len(request.body or b""))
                return response.json({"error": "body is not valid JSON"}, status=400)
            try:
                message = parse_webhook(body)
            except WebhookError as exc:
                logger.warning("webhook rejected: %s", exc)
                return response.json({"error": str(exc)}, status=400)
            # (durable inbox: store the message RECEIVED here, before the 200)
            await self.router(on_new_message).accept(message)
            return response.json({"status": "accepted"})

        @bp.listener("after_server_start")
        async def start_background(app, _loop) -> None:
            self._app = app
            router = self.router(on_new_message)
            self._background.append(asyncio.create_task(
                run_periodically(self.handoff, router.nudges, self.settings.scheduler_poll_seconds)))
            if self.settings.green_api_polling:
                self._background.append(asyncio.create_task(Poller(self.client, router.accept).run_forever()))
                logger.info("GREEN-API polling started")

        @bp.listener("before_server_stop")
        async def stop(app, _loop) -> None:
            for task in self._background:
                task.cancel()
            if self._router is not None:
                await self._router.worker.stop()
            if self._client:
                await self._client.close()

        return bp
