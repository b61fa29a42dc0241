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
import math
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import unquote, urlparse

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import action_guard
from connectors.conversation import append_events, fetch_tracker, resume_events
from connectors.speedups import saved_tracker
from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import HandoffService
from salesbot.channel.inbound import InboundRouter, RetryTurn, TurnResult
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends, RecentIds  # noqa: F401  (RecentIds: former home)
from salesbot.channel.poller import DEAD_LETTER_SOURCE, Poller
from salesbot.channel.scheduler import Pruner, run_periodically
from salesbot.clock import Clock, system_clock
from salesbot.db.leases import POLLER
from salesbot.greenapi.client import GreenApiClient, GreenApiConfig, GreenApiError
from salesbot.greenapi.webhooks import TRUNCATED_NOTICE, InboundMessage, WebhookError, parse_webhook
from salesbot.handover.requests import process_choices
from salesbot.outbox import (
    GREENAPI_FILE_URL,
    GREENAPI_MESSAGE,
    GREENAPI_REPLY,
    GreenApiDelivery,
    OutboxRelay,
    Sender,
    entry_text,
)
from salesbot.photos import upload_roots, uploadable_path
from salesbot.settings import Settings, get_settings, webhook_token_problem
from salesbot.storage import EFFECT_FAILED, Storage, get_storage

logger = logging.getLogger(__name__)

DROPPED_REASON = "manager_took_over"
CHECK_DELAY_SECONDS = 5.0  # a send that timed out is looked for in GREEN-API's journal no sooner than this


def client_from_settings(settings: Settings) -> GreenApiClient:
    return GreenApiClient(GreenApiConfig(
        api_url=settings.green_api_url, media_url=settings.green_api_media_url,
        instance_id=settings.green_api_instance_id, token=settings.green_api_token,
        timeout=settings.green_api_timeout_seconds,
    ))


def sent_text(kind: str, payload: Dict[str, Any]) -> str:
    """How a send reads in the managers' transcript: its text, or a photo's file name."""
    if payload.get("message"):
        return str(payload["message"])
    if kind == "contact" or "contact" in kind:
        return f"📇 контакт {payload.get('name') or ''} {payload.get('phone') or ''}".strip()
    where = str(payload.get("path") or payload.get("url") or "")
    caption = f" — {payload['caption']}" if payload.get("caption") else ""
    return f"📷 {where.rsplit('/', 1)[-1] or kind}{caption}"


class GreenAPIOutput(OutputChannel):
    """Sends the bot's messages in-line. A message that could not be sent (429/5xx after the client's retries, no
    connection, or a timeout whose outcome is unknown) becomes an outbox row that the relay delivers (after a
    timeout, only if GREEN-API's journal does not show it); the rest of the turn's messages queue behind it, so
    their order holds. A refused one (other 4xx) is recorded FAILED. With `taken_by_people` (a customer turn),
    each send first checks that no manager took the chat meanwhile; a message computed before the manager's is
    dropped instead and listed in `dropped_texts`. `already_sent`: how many of the turn's first messages went out
    before a crash (a replayed turn); they are not sent again."""

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
        self.already_sent = 0               # a replayed turn: its first messages reached the customer before
        self.queued = 0                     # messages handed to the outbox relay
        self.delivered: List[str] = []      # every message of the turn that went out (or will, from the outbox)
        self._sequence = f"chat:{uuid.uuid4().hex[:12]}"

    async def _send(self, recipient_id: Text, kind: str, payload: Dict[str, Any], send: Callable[[], Awaitable[Any]]):
        if recipient_id.endswith("@g.us"):
            logger.info("chat=%s: not replying into a group", recipient_id)
            return
        if self.taken_by_people is not None and (self.dropped_texts or await self.taken_by_people(recipient_id)):
            self.dropped_texts.append(payload.get("message") or payload.get("path") or payload.get("url") or kind)
            logger.info("chat=%s %s dropped: a manager took the chat while the reply was computed",
                        recipient_id, kind)
            return
        description = payload.get("message") or payload.get("path") or payload.get("url") or kind
        if self.already_sent > 0:
            self.already_sent -= 1
            self.delivered.append(description)
            if kind == "text":
                self.sent_texts.append(payload["message"])
            logger.info("chat=%s %s not sent again: it went out before the restart", recipient_id, kind)
            return
        if self.queued and await self._enqueue(recipient_id, kind, payload, check_delivery=False):
            self.delivered.append(description)
            return  # behind an earlier message of this turn that waits in the outbox
        try:
            result = await send()
        except GreenApiError as exc:
            if (exc.retryable or exc.outcome_unknown) and await self._enqueue(
                    recipient_id, kind, payload, check_delivery=exc.outcome_unknown):
                logger.warning("chat=%s %s not sent now (%s): handed to the outbox relay", recipient_id, kind, exc)
                self.delivered.append(description)
                return
            logger.error("chat=%s %s failed for good: %s", recipient_id, kind, exc)
            self.delivered.append(description)  # done with, as far as a re-run of the turn is concerned
            key = f"failed:{recipient_id}:{kind}:{uuid.uuid4().hex}"
            await asyncio.to_thread(self.storage.claim_effect, key, kind, recipient_id, payload)
            await asyncio.to_thread(self.storage.finish_effect, key, EFFECT_FAILED, None, str(exc))
            return
        ids = [i for i in (result if isinstance(result, list) else [result]) if i]
        self.delivered.append(description)
        # its echo must never pause the chat, whichever replica receives it: in the database before going on
        await self.own_sends.remember_now(recipient_id, ids, sent_text(kind, payload))
        if kind == "text":
            self.sent_texts.append(payload["message"])
        logger.info("chat=%s sent %s id=%s", recipient_id, kind, ",".join(i for i in ids if i))

    async def _enqueue(self, recipient_id: str, kind: str, payload: Dict[str, Any], check_delivery: bool) -> bool:
        """Hand a message to the outbox relay; False for what it cannot send (an uploaded file)."""
        if kind == "text":
            outbox_kind = GREENAPI_REPLY if self.taken_by_people is not None else GREENAPI_MESSAGE
            body: Dict[str, Any] = {"message": payload["message"]}
        elif kind == "file" and payload.get("url"):
            outbox_kind, body = GREENAPI_FILE_URL, {"url": payload["url"]}
        else:
            return False
        self.queued += 1
        key = f"reply:{recipient_id}:{uuid.uuid4().hex}"
        # after a timeout GREEN-API may still perform the send: look in its journal only after a while
        due_at = self.storage.db.now() + max(CHECK_DELAY_SECONDS, self.client.config.timeout) if check_delivery \
            else None
        await asyncio.to_thread(self.storage.repos.outbox.enqueue, key, outbox_kind, recipient_id, body,
                                recipient_id, self._sequence, due_at, check_delivery)
        if kind == "text":
            self.sent_texts.append(payload["message"])
        return True

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
            await resume_events(self.channel.agent, chat_id)


class RasaConversation:
    """The `Conversation` of salesbot.channel.inbound, over Rasa's agent (in-process, under its conversation lock)."""

    def __init__(self, channel: "GreenAPIInput", on_new_message: Callable[[UserMessage], Awaitable[Any]]):
        self.channel = channel
        self.on_new_message = on_new_message

    async def run_turn(self, message: InboundMessage, already_sent: Optional[List[str]] = None) -> TurnResult:
        output = self.channel.turn_output()
        output.already_sent = len(already_sent or [])
        turn: Dict[str, Any] = {"sender_id": message.chat_id}
        token = saved_tracker.set(turn)  # Rasa's save_tracker leaves the turn's final tracker here (speedups)
        try:
            if message.truncated:   # the bot read only the start (MAX_TEXT_CHARS): say so before answering
                await output.send_text_message(message.chat_id, TRUNCATED_NOTICE)
            with action_guard.guarded():
                await self.on_new_message(UserMessage(
                    text=message.text, output_channel=output, sender_id=message.chat_id,
                    input_channel=GreenAPIInput.name(), message_id=message.id_message, metadata=message.metadata(),
                ))
        except action_guard.ActionServerUnreachable as exc:  # nothing of the turn was saved: run it again
            raise RetryTurn(f"action server unreachable: {exc}", output.delivered)
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

    async def already_recorded(self, message: InboundMessage) -> bool:
        """Rasa saved this message's turn (the crash came after the save and before the inbox's DONE)."""
        tracker = await fetch_tracker(self.channel.agent, message.chat_id)
        if tracker is None:
            return False
        for event in reversed(tracker.events):
            if isinstance(event, UserUttered) and event.message_id == message.id_message:
                return True
            if isinstance(event, BotUttered) and (event.metadata or {}).get("id_message") == message.id_message:
                return True
        return False

    async def delivered_before_crash(self, message: InboundMessage, row: Dict[str, Any]) -> List[str]:
        """The messages of this turn that reached the chat before the server died: GREEN-API's journal of the
        API sends to the chat since the message came, minus those of the chat's earlier turns (recorded as the
        bot's sends before the earlier message was finished) and the outbox relay's. Oldest first."""
        repos = self.channel.storage.repos
        since = float(row["received_at"]) - GreenApiDelivery.CLOCK_SKEW_SECONDS
        previous_done = await asyncio.to_thread(repos.inbox.previous_done_at, message.chat_id, row["id"])
        earlier = set(await asyncio.to_thread(repos.messages.sent_ids_until, message.chat_id,
                                              previous_done if previous_done is not None else row["received_at"]))
        earlier.update(await asyncio.to_thread(repos.outbox.sent_ids, message.chat_id, since))
        minutes = max(1, math.ceil((self.channel.clock.now() - since) / 60) + 1)
        try:
            journal = await self.channel.client.last_outgoing_messages(minutes)
        except GreenApiError as exc:
            logger.warning("chat=%s id=%s journal unavailable (%s): the turn runs again in full", message.chat_id,
                           message.id_message, exc)
            return []
        entries = [e for e in journal if e.get("chatId") == message.chat_id and e.get("sendByApi", True) is not False
                   and str(e.get("idMessage") or "") not in earlier
                   and (not isinstance(e.get("timestamp"), (int, float)) or e["timestamp"] >= since)]
        entries.reverse()  # the journal is newest first
        return [entry_text(e) or str(e.get("fileName") or e.get("typeMessage") or "") for e in entries]

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


async def read_body(request: Request, limit: int) -> Optional[bytes]:
    """The streamed body of a request, or None once it passes `limit` bytes (the rest is not read)."""
    chunks: List[bytes] = []
    size = 0
    try:
        async for chunk in request.stream:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except PayloadTooLarge:   # Sanic's own count, with request_max_size set to the limit
        return None
    return b"".join(chunks)


class GreenAPIInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "greenapi"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "GreenAPIInput":
        from connectors import speedups

        speedups.install()
        action_guard.install()
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
        self._replayed = asyncio.Event()  # set once the inbox's unfinished messages are queued again
        self._relay_stop = asyncio.Event()
        self._amojo: Optional[Any] = None  # the amoCRM relay (AmojoRelay), when the mirror is on

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
                                    self.settings.tz_name, self.settings.work_hours, self.enqueue_nudge,
                                    conversation.record_nudge)
            contact_choices, choice_wait_seconds = process_choices()
            mirror = None
            if self.settings.amocrm_enabled:   # AMOCRM_CHANNEL_ID + AMOCRM_CHANNEL_SECRET: every chat to amoCRM
                from salesbot.amocrm.mirror import AmocrmMirror

                mirror = AmocrmMirror(self.storage.repos, skip_chat=commands.is_manager_chat)
            self._router = InboundRouter(self.storage, self.handoff, commands, nudges, self.own_sends, conversation,
                                         contact_choices, choice_wait_seconds, mirror=mirror,
                                         replica_id=self.settings.replica_id)
        return self._router

    async def enqueue_nudge(self, chat_id: str, text: str) -> None:
        """A reminder goes out through the outbox relay (dropped there if a manager takes the chat first)."""
        key = f"nudge:{chat_id}:{uuid.uuid4().hex}"
        await asyncio.to_thread(self.storage.repos.outbox.enqueue, key, GREENAPI_REPLY, chat_id, {"message": text})

    def outbox_relay(self) -> OutboxRelay:
        """The relay of this process: sends the outbox rows of every process (group posts the action server
        enqueued, replies that could not go out in-line, nudges). Claims are atomic, so several run safely."""
        repos = self.storage.repos
        delivery = GreenApiDelivery(self.client, repos.outbox, repos.handoffs,
                                    call_timeout=self.settings.green_api_timeout_seconds)
        senders = {kind: self._remembering(sender) for kind, sender in delivery.senders().items()}
        timeout = self.settings.green_api_timeout_seconds + 5
        return OutboxRelay(repos.outbox, senders, send_timeout=timeout, lease_seconds=max(120.0, 4 * timeout),
                           poll_seconds=0.5)

    def _remembering(self, sender: Sender) -> Sender:
        """The relay's sends are the bot's own too: their echo must never pause a chat."""
        async def send(item):
            id_message = await sender.send(item)
            if id_message:
                await self.own_sends.remember_now(item.target, [id_message], sent_text(item.kind, item.payload),
                                                  item.payload.get("author"))
            return id_message

        return Sender(send, sender.was_delivered, sender.idempotent, sender.drop_reason)

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

        # stream=True: Sanic hands the body over in chunks instead of buffering up to 100 MB before the handler
        @bp.route("/webhook", methods=["POST"], stream=True)
        async def webhook(request: Request) -> HTTPResponse:
            limit = self.settings.max_webhook_bytes
            # once we answer, Sanic drains what is left of the body only up to the limit, then drops the connection
            request.stream.request_max_size = limit
            declared = request.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                logger.warning("webhook rejected: body of %s bytes is over MAX_WEBHOOK_BYTES=%d", declared, limit)
                return response.json({"error": "body too large"}, status=413)
            if not self._authorized(request):
                logger.warning("webhook rejected: missing or wrong Authorization bearer token")
                return response.json({"error": "unauthorized"}, status=401)
            raw = await read_body(request, limit)
            if raw is None:   # chunked, with no Content-Length to check up front
                logger.warning("webhook rejected: body is over MAX_WEBHOOK_BYTES=%d bytes", limit)
                return response.json({"error": "body too large"}, status=413)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: absurdly deep JSON
                logger.warning("webhook rejected: body is not JSON (%d bytes)", len(raw))
                return response.json({"error": "body is not valid JSON"}, status=400)
            try:
                message = parse_webhook(body)
            except WebhookError as exc:
                logger.warning("webhook rejected: %s", exc)
                return response.json({"error": str(exc)}, status=400)
            if not self._replayed.is_set():  # messages stored before a restart go first, in their order
                await self._replayed.wait()
            await self.router(on_new_message).accept(message)  # stored (RECEIVED) before the 200
            return response.json({"status": "accepted"})

        @bp.listener("after_server_start")
        async def start_background(app, _loop) -> None:
            self._app = app
            from connectors import speedups

            speedups.freeze_start_up_heap()   # the agent is loaded by now (Rasa loads it before the server starts)
            router = self.router(on_new_message)
            try:
                replayed = await router.replay()
                if replayed:
                    logger.info("%d messages received before the restart and not finished: queued again", replayed)
            finally:
                self._replayed.set()
            self._background.append(asyncio.create_task(router.maintain()))   # leases and the orphan sweep
            self._background.append(asyncio.create_task(self.outbox_relay().run(self._relay_stop)))
            if self.settings.amocrm_enabled:
                from salesbot.amocrm.relay import amojo_relay

                self._amojo = amojo_relay(self.settings, self.storage.repos)
                self._background.append(asyncio.create_task(self._amojo.run(self._relay_stop)))
            self._background.append(asyncio.create_task(
                run_periodically(self.handoff, router.nudges, self.settings.scheduler_poll_seconds,
                                 Pruner(self.storage, self.clock, self.settings.retention_days))))
            if self.settings.green_api_polling:
                dead_letters = self.storage.repos.dead_letters
                leases, replica = self.storage.repos.leases, self.settings.replica_id
                receive_timeout = 20

                async def hold_poller_lease() -> bool:   # one replica polls at a time; a dead one's lease runs out
                    return await asyncio.to_thread(leases.acquire, POLLER, replica, 2 * receive_timeout + 10)

                poller = Poller(self.client, router.accept, receive_timeout=receive_timeout,
                                max_attempts=self.settings.poll_max_attempts,
                                dead_letter=lambda *args: dead_letters.add(DEAD_LETTER_SOURCE, *args),
                                hold_lease=hold_poller_lease)
                self._background.append(asyncio.create_task(poller.run_forever()))
                logger.info("GREEN-API polling started")

        @bp.listener("before_server_stop")
        async def stop(app, _loop) -> None:
            self._relay_stop.set()
            for task in self._background:
                task.cancel()
            if self._router is not None:
                await self._router.worker.stop()
            if self._client:
                await self._client.close()
            if self._amojo is not None:
                await self._amojo.close()

        return bp
