"""Rasa custom channel `greenapi`: WhatsApp through GREEN-API (webhooks at /webhooks/greenapi/webhook, or polling).

The webhook answers 200 at once and hands the message to a per-chat worker, so messages of one chat are
processed in order and different chats in parallel. Every message is deduplicated on chatId + idMessage in
the app's database before it reaches the dialogue, so a redelivered webhook or a polled copy is answered once.
"""
from __future__ import annotations

import asyncio
import hmac
from collections import OrderedDict
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text
from urllib.parse import unquote, urlparse

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa.shared.core.events import BotUttered, ConversationResumed, UserUttered

from connectors.conversation import append_events, fetch_tracker
from connectors.speedups import saved_tracker
from salesbot import handoff as handoff_texts
from salesbot.clock import Clock, system_clock
from salesbot.greenapi.client import GreenApiClient, GreenApiConfig, GreenApiError
from salesbot.greenapi.webhooks import (
    NON_TEXT_REPLY, RESEND_REPLY, InboundMessage, WebhookError, parse_webhook,
)
from salesbot.nudges import NUDGE_TEXTS, first_nudge_at, second_nudge_at
from salesbot.settings import Settings, get_settings
from salesbot.storage import EFFECT_FAILED, Storage, get_storage

logger = logging.getLogger(__name__)


def client_from_settings(settings: Settings) -> GreenApiClient:
    return GreenApiClient(GreenApiConfig(
        api_url=settings.green_api_url, media_url=settings.green_api_media_url,
        instance_id=settings.green_api_instance_id, token=settings.green_api_token,
    ))


_background_tasks: set = set()


def background(coroutine) -> None:
    """Run a coroutine without awaiting it; errors are logged, the task is kept referenced until done."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _background_tasks.add(task)

    def done(finished: asyncio.Task) -> None:
        _background_tasks.discard(finished)
        if not finished.cancelled() and finished.exception():
            logger.error("background task failed: %s", finished.exception())

    task.add_done_callback(done)


class RecentIds:
    """The last ids the bot sent, in memory (bounded)."""

    def __init__(self, limit: int = 20000):
        self._ids: "OrderedDict[str, None]" = OrderedDict()
        self.limit = limit

    def add_all(self, ids) -> None:
        for id_message in ids:
            self._ids[id_message] = None
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __contains__(self, id_message: str) -> bool:
        return id_message in self._ids


class GreenAPIOutput(OutputChannel):
    """Sends the bot's messages; a message that still fails after the retries is recorded as FAILED."""

    @classmethod
    def name(cls) -> Text:
        return "greenapi"

    def __init__(self, client: GreenApiClient, storage: Storage, clock: Optional[Clock] = None,
                 recent_sent: Optional["RecentIds"] = None):
        self.client = client
        self.storage = storage
        self.clock = clock or system_clock()
        self.recent_sent = recent_sent if recent_sent is not None else RecentIds()
        self.sent_texts: list = []  # what this output sent, so the channel knows how the turn ended

    async def _send(self, recipient_id: Text, kind: str, payload: Dict[str, Any], send: Callable[[], Awaitable[Any]]):
        if recipient_id.endswith("@g.us"):
            logger.info("chat=%s: not replying into a group", recipient_id)
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
        # GREEN-API may report the bot's own sends as outgoingMessageReceived: they must never pause the chat.
        # Kept in memory at once, and in the database (for after a restart) without delaying the turn.
        self.recent_sent.add_all(ids)
        background(asyncio.to_thread(self.storage.remember_sent, recipient_id, ids, self.clock.now()))
        if kind == "text":
            self.sent_texts.append(payload["message"])
        logger.info("chat=%s sent %s id=%s", recipient_id, kind, ",".join(i for i in ids if i))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, "text", {"message": text},
                         lambda: self.client.send_message(recipient_id, text))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        if image.startswith("file://"):
            path = Path(unquote(urlparse(image).path))
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


class GreenAPIInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "greenapi"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "GreenAPIInput":
        from connectors import speedups

        speedups.install()
        return cls(get_settings())

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: Optional[GreenApiClient] = None
        self._storage: Optional[Storage] = None
        self._queues: Dict[str, asyncio.Queue] = {}
        self._workers: Dict[str, asyncio.Task] = {}
        self._poller: Optional[asyncio.Task] = None
        self._scheduler: Optional[asyncio.Task] = None
        self._app = None
        self.clock = system_clock()
        self.recent_sent = RecentIds()

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

    def get_output_channel(self) -> OutputChannel:
        return GreenAPIOutput(self.client, self.storage, self.clock, self.recent_sent)

    @property
    def agent(self):
        return self._app.ctx.agent if self._app is not None else None

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
            except (ValueError, UnicodeDecodeError):
                logger.warning("webhook rejected: body is not JSON (%d bytes)", len(request.body or b""))
                return response.json({"error": "body is not valid JSON"}, status=400)
            try:
                message = parse_webhook(body)
            except WebhookError as exc:
                logger.warning("webhook rejected: %s", exc)
                return response.json({"error": str(exc)}, status=400)
            await self.accept(message, on_new_message)
            return response.json({"status": "accepted"})

        @bp.listener("after_server_start")
        async def start_background(app, _loop) -> None:
            self._app = app
            self._scheduler = asyncio.create_task(self.scheduler())
            if self.settings.green_api_polling:
                self._poller = asyncio.create_task(self.poll(on_new_message))
                logger.info("GREEN-API polling started")

        @bp.listener("before_server_stop")
        async def stop(app, _loop) -> None:
            for task in (self._poller, self._scheduler):
                if task:
                    task.cancel()
            for task in self._workers.values():
                task.cancel()
            if self._client:
                await self._client.close()

        return bp

    # -- processing ----------------------------------------------------------------------------------------------
    async def accept(self, message: InboundMessage, on_new_message, done: Optional[asyncio.Future] = None) -> None:
        """Queue a parsed webhook for its chat's worker (ignored kinds are only logged)."""
        if message.kind == "ignore":
            logger.info("webhook %s chat=%s id=%s ignored (%s)", message.type_webhook, message.chat_id or "-",
                        message.id_message or "-", message.reason)
            if done and not done.done():
                done.set_result(True)
            return
        queue = self._queues.get(message.chat_id)
        if queue is None:
            queue = self._queues[message.chat_id] = asyncio.Queue()
            self._workers[message.chat_id] = asyncio.create_task(self._worker(message.chat_id, queue, on_new_message))
        await queue.put((message, done))

    async def _worker(self, chat_id: str, queue: asyncio.Queue, on_new_message) -> None:
        while True:
            message, done = await queue.get()
            try:
                await self.process(message, on_new_message)
                if done and not done.done():
                    done.set_result(True)
            except Exception as exc:  # one bad message must not stop the chat's worker
                logger.exception("chat=%s id=%s processing failed", chat_id, message.id_message)
                if done and not done.done():
                    done.set_exception(exc)
            finally:
                queue.task_done()

    async def process(self, message: InboundMessage, on_new_message) -> None:
        fresh = await asyncio.to_thread(self.storage.claim_message, message.chat_id, message.id_message,
                                        message.type_webhook)
        if not fresh:
            logger.info("webhook %s chat=%s id=%s duplicate, skipped", message.type_webhook, message.chat_id,
                        message.id_message)
            return
        logger.info("webhook %s chat=%s id=%s kind=%s", message.type_webhook, message.chat_id, message.id_message,
                    message.kind)
        if message.is_group:
            return  # the managers' group and other groups never get an answer, never pause
        try:
            if message.kind == "manager":
                await self.manager_typed(message)
            elif self.is_manager_chat(message.chat_id) and handoff_texts.is_handoff_command(message.text):
                await self.manager_command(message)
            else:
                await self.customer_message(message, on_new_message)
        except Exception:
            await asyncio.to_thread(self.storage.release_message, message.chat_id, message.id_message)
            raise

    def is_manager_chat(self, chat_id: str) -> bool:
        number = chat_id.split("@", 1)[0]
        return chat_id.endswith("@c.us") and number in self.settings.manager_numbers

    async def customer_message(self, message: InboundMessage, on_new_message) -> None:
        now = self.clock.now()
        handoff = await asyncio.to_thread(self.storage.customer_wrote, message.chat_id, now)
        if await self.still_paused(message.chat_id, now, handoff):
            # recorded in the conversation for the managers' transcript; no NLU turn, no reply, no nudge
            await append_events(self.agent, message.chat_id, [
                UserUttered(message.text or None, metadata=message.metadata(), message_id=message.id_message),
            ], ensure_paused=True)
            logger.info("chat=%s id=%s paused: recorded, no reply", message.chat_id, message.id_message)
            return
        output = self.get_output_channel()
        if message.kind in ("non_text", "error_marker"):
            await output.send_text_message(message.chat_id,
                                           NON_TEXT_REPLY if message.kind == "non_text" else RESEND_REPLY)
            return
        turn: Dict[str, Any] = {"sender_id": message.chat_id}
        token = saved_tracker.set(turn)  # Rasa's save_tracker leaves the turn's final tracker here (speedups)
        try:
            await on_new_message(UserMessage(
                text=message.text, output_channel=output, sender_id=message.chat_id, input_channel=self.name(),
                message_id=message.id_message, metadata=message.metadata(),
            ))
        finally:
            saved_tracker.reset(token)
        await self.maybe_schedule_nudge(message.chat_id, output.sent_texts, turn.get("tracker"))

    async def still_paused(self, chat_id: str, now: float, row: Optional[Dict[str, Any]] = None) -> bool:
        """Whether the chat is paused; resumes it first when the managers were silent long enough."""
        if row is None:
            row = await asyncio.to_thread(self.storage.handoff, chat_id)
        if not row or not row["paused"]:
            return False
        minutes = self.settings.handoff_auto_resume_minutes
        last_manager = row["last_manager_at"] or row["since"]
        if minutes > 0 and now - last_manager >= minutes * 60:
            await self.resume(chat_id, "auto_resume", "bot", now)
            return False
        return True

    async def resume(self, chat_id: str, reason: str, by: str, now: float) -> bool:
        resumed = await asyncio.to_thread(self.storage.resume_chat, chat_id, reason, by, now)
        if resumed and self.agent is not None:
            await append_events(self.agent, chat_id, [ConversationResumed()])
            logger.info("chat=%s resumed (%s by %s)", chat_id, reason, by)
        return resumed

    async def manager_typed(self, message: InboundMessage) -> None:
        """Someone typed on the shop's phone: the bot goes silent in that chat."""
        if self.is_manager_chat(message.chat_id):
            return
        if message.id_message in self.recent_sent or \
                await asyncio.to_thread(self.storage.was_sent_by_bot, message.id_message):
            logger.info("chat=%s id=%s is the bot's own send reported as typed: ignored", message.chat_id,
                        message.id_message)
            return
        now = self.clock.now()
        paused = await asyncio.to_thread(self.storage.pause_chat, message.chat_id, "manager_typed",
                                         message.sender or "shop phone", now)
        await append_events(self.agent, message.chat_id, [
            BotUttered(message.text or "", metadata={"author": "manager", "id_message": message.id_message}),
        ], ensure_paused=True)
        logger.info("chat=%s id=%s manager typed: %s", message.chat_id, message.id_message,
                    "bot paused" if paused else "already paused")

    async def manager_command(self, message: InboundMessage) -> None:
        command = handoff_texts.parse_command(message.text)
        now = self.clock.now()
        tz = self.settings.tz_name
        manager = f"+{message.chat_id.split('@', 1)[0]}"
        if command is None:
            reply = handoff_texts.USAGE
        elif command.verb == "list":
            reply = handoff_texts.list_text(await asyncio.to_thread(self.storage.paused_chats), tz)
        else:
            known = await asyncio.to_thread(self.storage.handoff, command.chat_id) is not None or \
                await fetch_tracker(self.agent, command.chat_id) is not None
            who = handoff_texts.describe_chat(command.chat_id)
            if not known:
                reply = f"Чат {who} мне неизвестен. {handoff_texts.USAGE}"
            elif command.verb == "status":
                reply = handoff_texts.status_text(command.chat_id,
                                                  await asyncio.to_thread(self.storage.handoff, command.chat_id), tz)
            elif command.verb == "on":
                paused = await asyncio.to_thread(self.storage.pause_chat, command.chat_id, "command", manager, now)
                if paused:
                    await append_events(self.agent, command.chat_id, [], ensure_paused=True)
                reply = f"Бот остановлен в чате {who} ✋" if paused else f"Бот уже на паузе в чате {who}."
            else:
                resumed = await self.resume(command.chat_id, "command", manager, now)
                reply = f"Бот снова отвечает в чате {who} ✅" if resumed else f"Бот и так отвечает в чате {who}."
        logger.info("manager command from %s: %r", message.chat_id, message.text[:80])
        await self.get_output_channel().send_text_message(message.chat_id, reply)

    async def maybe_schedule_nudge(self, chat_id: str, sent_texts: list, tracker=None) -> None:
        """After a turn that ended with the bot's question, remind a silent customer later. `tracker` is the
        turn's final tracker when the processor handed it over; otherwise it is read from the store."""
        if not self.settings.nudges_enabled or not sent_texts or "?" not in sent_texts[-1]:
            return
        if tracker is None:
            tracker = await fetch_tracker(self.agent, chat_id)
        if tracker is None or tracker.is_paused():
            return
        if (tracker.latest_message and tracker.latest_message.intent.get("name") == "deny"):
            return  # the customer said no: no reminders
        now = self.clock.now()
        due = first_nudge_at(now, self.settings.tz_name, self.settings.work_hours)
        await asyncio.to_thread(self.storage.schedule_nudge, chat_id, 1, due, now)

    async def scheduler(self) -> None:
        """Sends due nudges and resumes chats whose managers went quiet; state lives in the database."""
        while True:
            try:
                await self.run_scheduled_work()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler round failed")
            await asyncio.sleep(self.settings.scheduler_poll_seconds)

    async def run_scheduled_work(self) -> None:
        now = self.clock.now()
        for row in await asyncio.to_thread(self.storage.paused_chats):
            await self.still_paused(row["chat_id"], now, row)  # auto-resume when due
        for nudge in await asyncio.to_thread(self.storage.claim_due_nudges, now):
            chat_id, stage = nudge["chat_id"], nudge["stage"]
            handoff = await asyncio.to_thread(self.storage.handoff, chat_id)
            if handoff and handoff["paused"]:
                await asyncio.to_thread(self.storage.finish_nudge, chat_id, stage, "cancelled", now)
                continue
            output = self.get_output_channel()
            text = NUDGE_TEXTS[stage]
            await output.send_text_message(chat_id, text)
            next_due = second_nudge_at(now, self.settings.tz_name, self.settings.work_hours) if stage == 1 else None
            await asyncio.to_thread(self.storage.finish_nudge, chat_id, stage, "sent", now, next_due)
            logger.info("chat=%s nudge %d sent", chat_id, stage)
            await append_events(self.agent, chat_id, [BotUttered(text, metadata={"nudge": stage})])

    async def poll(self, on_new_message) -> None:
        """receiveNotification long-poll; delete each notification only after it was processed."""
        backoff = 1.0
        while True:
            try:
                item = await self.client.receive_notification(receive_timeout=20)
                backoff = 1.0
                if not item:
                    continue
                receipt_id = item.get("receiptId")
                try:
                    message = parse_webhook(item.get("body"))
                except WebhookError as exc:
                    logger.warning("polled notification %s dropped: %s", receipt_id, exc)
                else:
                    done = asyncio.get_running_loop().create_future()
                    await self.accept(message, on_new_message, done)
                    try:
                        await done
                    except Exception:
                        logger.warning("notification %s failed; it is kept for a retry", receipt_id)
                        await asyncio.sleep(backoff)
                        continue
                await self.client.delete_notification(receipt_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("polling error: %s; retrying in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
