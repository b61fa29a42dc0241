"""The inbound router and the poller, without Rasa: real SQLite, the real sandbox (a GREEN-API server) and the real
GREEN-API client. The dialogue engine is a recording `Conversation`; it is not what these tests check."""
import asyncio

import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from salesbot.channel.commands import ManagerCommands
from salesbot.channel.handoff import HandoffService
from salesbot.channel.inbound import InboundRouter, RetryTurn, TurnResult
from salesbot.channel.nudges import NudgeScheduler
from salesbot.channel.own_sends import OwnSends
from salesbot.channel.poller import Poller
from salesbot.db.leases import chat_lease
from salesbot.greenapi.client import GreenApiClient, GreenApiConfig
from salesbot.greenapi.webhooks import parse_webhook
from sandbox import SandboxConfig, create_app, get_sandbox
from tests.channel.helpers import FileClock, storage_in, webhook

MANAGER = "77017770000"


class RecordingConversation:
    def __init__(self):
        self.log = []
        self.hold = {}  # text -> asyncio.Event the turn waits for

    async def run_turn(self, message):
        self.log.append(("turn", message.chat_id, message.text))
        if message.text in self.hold:
            await self.hold[message.text].wait()
        reply = f"ответ на «{message.text}»?"
        return TurnResult([reply], [], "order")

    async def record_while_paused(self, message):
        self.log.append(("recorded", message.chat_id, message.text))

    async def record_manager_message(self, message):
        self.log.append(("manager", message.chat_id, message.text))

    async def send_text(self, chat_id, text):
        self.log.append(("sent", chat_id, text))

    async def record_nudge(self, chat_id, text, stage):
        self.log.append(("nudge", chat_id, stage))


def make_router(tmp_path):
    storage, clock = storage_in(tmp_path), FileClock(tmp_path)
    handoff = HandoffService(storage, clock, auto_resume_minutes=0)
    conversation = RecordingConversation()

    async def known(chat_id):
        return True

    commands = ManagerCommands(handoff, [MANAGER], "Asia/Almaty", known)
    nudges = NudgeScheduler(storage, clock, handoff, True, "Asia/Almaty", (0, 24), conversation.send_text)
    own = OwnSends(storage, clock)
    return storage, handoff, own, conversation, InboundRouter(storage, handoff, commands, nudges, own, conversation)


def test_duplicates_groups_and_commands(tmp_path):
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260001@c.us"
        first = webhook("incomingMessageReceived", chat, "привет")
        await asyncio.gather(await router.accept(parse_webhook(first)), await router.accept(parse_webhook(first)))
        await router.accept(parse_webhook(webhook("incomingMessageReceived", "120363000000000001@g.us", "всем",
                                                  sender="77015550001@c.us")))
        await router.accept(parse_webhook(webhook("outgoingMessageReceived", "120363000000000001@g.us", "ок",
                                                  sender="77010000000@c.us")))
        stranger = await router.accept(parse_webhook(webhook("incomingMessageReceived", "77011260002@c.us",
                                                             f"/handoff on {chat.split('@')[0]}")))
        manager = await router.accept(parse_webhook(webhook("incomingMessageReceived", f"{MANAGER}@c.us",
                                                            f"/handoff on {chat.split('@')[0]}")))
        await asyncio.gather(stranger, manager)
        await router.worker.join()
        assert [entry for entry in conversation.log if entry[1] == chat] == [("turn", chat, "привет")]
        assert ("turn", "77011260002@c.us", "/handoff on 77011260001") in conversation.log  # customer text
        assert ("sent", f"{MANAGER}@c.us", "Бот остановлен в чате +77011260001 ✋") in conversation.log
        assert not any(entry[1].endswith("@g.us") for entry in conversation.log)
        assert await handoff.is_paused(chat) and await handoff.state("120363000000000001@g.us") is None
        # the turn ended with a question (a reminder was scheduled), then the manager's pause cancelled it
        assert storage.nudge(chat)["status"] == "cancelled"
        await router.worker.stop()

    asyncio.run(scenario())


def test_a_manager_typing_pauses_at_once_even_while_a_turn_is_in_flight(tmp_path):
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260003@c.us"
        conversation.hold["медленный вопрос"] = release = asyncio.Event()
        turn = await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "медленный вопрос")))
        await asyncio.sleep(0.05)
        recorded = await router.accept(parse_webhook(webhook("outgoingMessageReceived", chat, "Я менеджер",
                                                             sender="77010000000@c.us")))
        # the turn is still running, and the chat is already taken: its reply will be dropped at sending
        assert not turn.done() and await handoff.taken_by_people(chat)
        release.set()
        await asyncio.gather(turn, recorded)
        assert [e[0] for e in conversation.log if e[1] == chat] == ["turn", "manager"]
        assert storage.nudge(chat) is None  # no reminder for a chat a manager took
        after = await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "ау")))
        await after
        assert conversation.log[-1] == ("recorded", chat, "ау")
        await router.worker.stop()

    asyncio.run(scenario())


def test_the_bots_own_send_echoed_as_typed_never_pauses(tmp_path):
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260004@c.us"
        own.remember(chat, ["OWNSEND00000000000000000000000001"])
        echo = webhook("outgoingMessageReceived", chat, "эхо", id_message="OWNSEND00000000000000000000000001",
                       sender="77010000000@c.us")
        assert await router.accept(parse_webhook(echo)) is None
        await asyncio.sleep(0.1)  # the database write of the id
        fresh = OwnSends(storage, own.clock)  # after a restart: only the database knows
        assert await fresh.is_own("OWNSEND00000000000000000000000001")
        assert await handoff.state(chat) is None and conversation.log == []
        await router.worker.stop()

    asyncio.run(scenario())


def test_poller_deletes_a_notification_only_after_it_was_stored(tmp_path):
    async def scenario():
        app = create_app(SandboxConfig(webhook_url=""))  # polling mode
        sandbox = get_sandbox(app)
        server = TestServer(app)
        await server.start_server()
        base = f"http://127.0.0.1:{server.port}"
        client = GreenApiClient(GreenApiConfig(api_url=base, media_url=base, instance_id="1101000001",
                                               token="sandbox-token", retries=0))
        processed, fail = [], {"first": True}

        async def accept(message):
            if fail["first"]:   # the inbox could not store it (the database was down): nothing is lost
                fail["first"] = False
                raise RuntimeError("the database is down")

            async def process():
                processed.append(message.text)
            return asyncio.ensure_future(process())

        slept = []

        async def no_sleep(seconds):
            slept.append(seconds)

        poller = Poller(client, accept, receive_timeout=1, sleep=no_sleep)
        try:
            sandbox.emit(webhook("incomingMessageReceived", "77011260005@c.us", "раз"))
            assert await poller.poll_once() is False  # not stored: kept in the queue
            assert len(sandbox.queue) == 1
            assert await poller.poll_once() is True  # received again, stored, deleted; processed by the inbox
            await asyncio.sleep(0.01)
            assert processed == ["раз"] and sandbox.queue == []
            assert await poller.poll_once() is False  # empty queue
        finally:
            await client.close()
            await server.close()

    asyncio.run(scenario())


class ReplayConversation(RecordingConversation):
    """Remembers what it recorded, as Rasa's tracker does, and what went out before a crash."""

    def __init__(self, recorded=(), delivered=None):
        super().__init__()
        self.recorded_ids = set(recorded)
        self.delivered = delivered or {}

    async def already_recorded(self, message):
        return message.id_message in self.recorded_ids

    async def delivered_before_crash(self, message, row):
        return self.delivered.get(message.id_message, [])

    async def run_turn(self, message, already_sent=None):
        self.log.append(("turn", message.chat_id, message.text, len(already_sent or [])))
        return TurnResult([f"ответ на «{message.text}»"], [], "order")


def test_every_message_is_stored_before_accept_returns_and_done_after_its_turn(tmp_path):
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260010@c.us"
        conversation.hold["долгий"] = release = asyncio.Event()
        body = webhook("incomingMessageReceived", chat, "долгий")
        turn = await router.accept(parse_webhook(body))
        row = storage.repos.inbox.get(chat, body["idMessage"])
        assert row["status"] == "RECEIVED" and row["body"] == body  # stored before the 200
        release.set()
        await turn
        assert storage.repos.inbox.get(chat, body["idMessage"])["status"] == "DONE"
        await router.worker.stop()

    asyncio.run(scenario())


def test_a_chats_backlog_is_drained_once_in_order_under_one_lease(tmp_path):
    """Messages that pile up behind a turn are processed by the drain that is running, in order, once; the drains
    queued for them find their rows handled and touch nothing, and the lease is not written again per message."""
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260011@c.us"
        statements = []
        sa.event.listen(storage.db.engine, "before_cursor_execute",
                        lambda conn, cursor, statement, *rest: statements.append(" ".join(statement.split())))
        conversation.hold["первое"] = release = asyncio.Event()
        texts = ["первое", "второе", "третье", "четвёртое", "пятое"]
        turns = [await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, text)))
                 for text in texts]
        release.set()
        await asyncio.gather(*turns)
        await router.worker.join()
        assert [entry for entry in conversation.log if entry[0] == "turn"] == [("turn", chat, t) for t in texts]
        lease_writes = [s for s in statements if s.startswith("INSERT INTO leases")]
        assert 1 <= len(lease_writes) < len(texts), lease_writes  # once for the drain (more only after 2 s)
        assert storage.repos.leases.holder(chat_lease(chat)) == "" and storage.repos.inbox.received() == []
        await router.worker.stop()

    asyncio.run(scenario())


def test_replay_after_a_crash_in_order_once_and_never_a_saved_turn_again(tmp_path):
    async def scenario():
        storage, handoff, own, _, crashed = make_router(tmp_path)
        chat, other = "77011260011@c.us", "77011260012@c.us"
        bodies = [webhook("incomingMessageReceived", chat, text) for text in ("раз", "два", "три")]
        bodies.append(webhook("incomingMessageReceived", other, "привет"))
        for body in bodies:  # stored, never processed: the process "died" at once
            storage.repos.inbox.accept(body["senderData"]["chatId"], body["idMessage"], body["typeWebhook"], body)
        storage.repos.inbox.start(storage.repos.inbox.get(chat, bodies[1]["idMessage"])["id"])  # «два» was under way
        # after the restart: Rasa had saved «раз»; «два» had sent one reply before the crash
        conversation = ReplayConversation(recorded={bodies[0]["idMessage"]},
                                          delivered={bodies[1]["idMessage"]: ["ответ на «два»"]})
        router = InboundRouter(storage, handoff, crashed.commands, crashed.nudges, own, conversation)
        assert await router.replay() == 4
        duplicate = await router.accept(parse_webhook(bodies[2]))  # a redelivered copy while queued: skipped
        await duplicate
        await router.worker.join()
        assert [e for e in conversation.log if e[1] == chat] == [("turn", chat, "два", 1), ("turn", chat, "три", 0)]
        assert ("turn", other, "привет", 0) in conversation.log
        assert storage.repos.inbox.received() == []
        assert await router.replay() == 0  # exactly once
        await router.worker.stop()

    asyncio.run(scenario())


def test_a_failed_message_stays_received_and_a_redelivery_processes_it_again(tmp_path):
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260013@c.us"
        body = webhook("incomingMessageReceived", chat, "сломается")
        calls = {"n": 0}
        original = conversation.run_turn

        async def failing_once(message, already_sent=None):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("the dialogue engine failed")
            return await original(message)

        conversation.run_turn = failing_once
        first = await router.accept(parse_webhook(body))
        try:
            await first
        except RuntimeError:
            pass
        assert storage.repos.inbox.get(chat, body["idMessage"])["status"] == "RECEIVED"
        await (await router.accept(parse_webhook(body)))  # the poll queue hands it out again
        assert storage.repos.inbox.get(chat, body["idMessage"])["status"] == "DONE" and calls["n"] == 2
        await (await router.accept(parse_webhook(body)))  # now a plain duplicate
        assert calls["n"] == 2
        await router.worker.stop()

    asyncio.run(scenario())


def test_a_turn_that_may_be_run_again_is_rerun_without_its_sent_replies_and_the_chat_waits(tmp_path):
    async def scenario():
        storage, handoff, own, _, crashed = make_router(tmp_path)
        conversation = ReplayConversation()
        original = conversation.run_turn

        async def unreachable_once(message, already_sent=None):
            if message.text == "да" and not already_sent:
                conversation.log.append(("interrupted", message.chat_id, message.text))
                raise RetryTurn("action server unreachable", ["Проверяю заказ…"])
            return await original(message, already_sent)

        conversation.run_turn = unreachable_once
        router = InboundRouter(storage, handoff, crashed.commands, crashed.nudges, own, conversation)
        router.retry_delays = (0.05,)
        chat = "77011260014@c.us"
        first = await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "да")))
        second = await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "спасибо")))
        await asyncio.gather(first, second)
        assert conversation.log == [("interrupted", chat, "да"), ("turn", chat, "да", 1), ("turn", chat, "спасибо", 0)]
        assert storage.repos.inbox.received() == []
        await router.worker.stop()

    asyncio.run(scenario())


def test_status_webhooks_move_a_notification_and_stop_opts_out(tmp_path):
    """The channel's two calls into the notifications: an outgoingMessageStatus webhook advances the notification
    whose message it names; «стоп» then «да» opt the customer out without a sales turn."""
    from salesbot.notify.optout import ASK_CONFIRMATION, CONFIRMED

    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260031@c.us"
        notifications = storage.repos.notifications
        row, _ = notifications.create("order_shipped", "ORD-1", "fp", "+77011260031", chat, "Айгуль", {}, False,
                                      "Заказ отправлен", "PENDING")
        assert notifications.advance(row["id"], "SENT", "relay", id_message="BAE5STATUS1")
        status = {"typeWebhook": "outgoingMessageStatus", "chatId": chat, "idMessage": "BAE5STATUS1",
                  "status": "delivered", "timestamp": 1700000000, "sendByApi": True,
                  "instanceData": {"idInstance": 1101000001, "wid": "77010000000@c.us", "typeInstance": "whatsapp"}}
        assert await router.accept(parse_webhook(status)) is None
        assert notifications.get(row["id"])["status"] == "DELIVERED"
        await router.accept(parse_webhook(dict(status, status="sent")))   # late and behind: never moves back
        assert notifications.get(row["id"])["status"] == "DELIVERED"

        for text in ("стоп", "да", "привет"):
            await (await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, text))))
        await router.worker.join()
        log = [entry for entry in conversation.log if entry[1] == chat]
        assert log == [("sent", chat, ASK_CONFIRMATION), ("sent", chat, CONFIRMED), ("turn", chat, "привет")]
        assert storage.repos.opt_outs.is_opted_out(chat)

    asyncio.run(scenario())


def test_a_managers_typed_message_answers_the_chats_open_handover(tmp_path):
    async def scenario():
        storage, handoff, own, conversation, router = make_router(tmp_path)
        chat = "77011260041@c.us"
        [request] = storage.repos.handovers.create("customer_request:77011260041:M1", chat, "customer_request",
                                                   {"desk": None})
        assert request["first_reply_at"] is None
        typed = await router.accept(parse_webhook(webhook("outgoingMessageReceived", chat, "Здравствуйте, я Асель",
                                                          sender="77010000000@c.us")))
        await typed
        [answered] = storage.repos.handovers.list()
        assert answered["first_reply_at"] is not None and answered["status"] == "completed"

    asyncio.run(scenario())


def test_a_paused_chat_answers_how_to_be_contacted(tmp_path):
    """After a handover that asked «как вам удобнее», the router reads the customer's answer while the chat is
    paused: recorded as usual, the choice stored on the handover, a short answer, the held webhook released."""
    from salesbot.handover import HandoverTargets, request_handover

    async def scenario():
        storage, handoff, own, conversation, _ = make_router(tmp_path)
        router = InboundRouter(storage, handoff, ManagerCommands(handoff, [MANAGER], "Asia/Almaty", None), None,
                               own, conversation, ("whatsapp", "call", "email"), 300)
        chat = "77011260077@c.us"
        await asyncio.to_thread(request_handover, storage.repos, "customer_request:x:1", chat, "customer_request",
                                ["desk", "webhook"], HandoverTargets(webhook_url="http://127.0.0.1:9/h"),
                                hold_seconds=300)
        await handoff.pause(chat, "customer_request", "bot")
        assert storage.repos.outbox.claim_due("test") == []
        await (await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "спасибо"))))
        await (await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "лучше позвоните"))))
        await (await router.accept(parse_webhook(webhook("incomingMessageReceived", chat, "или на почту"))))
        await router.worker.join()
        assert [e for e in conversation.log if e[1] == chat] == [
            ("recorded", chat, "спасибо"), ("recorded", chat, "лучше позвоните"),
            ("sent", chat, "Хорошо, менеджер вам позвонит."), ("recorded", chat, "или на почту")]
        assert {r["preferred_contact"] for r in storage.repos.handovers.list()} == {"call"}
        assert [r["kind"] for r in storage.repos.outbox.claim_due("test")] == ["handover.webhook"]


def test_a_poisoned_or_unstorable_notification_goes_to_the_dead_letters_and_never_blocks_other_chats(tmp_path):
    async def scenario():
        app = create_app(SandboxConfig(webhook_url=""))  # polling mode
        sandbox = get_sandbox(app)
        server = TestServer(app)
        await server.start_server()
        base = f"http://127.0.0.1:{server.port}"
        client = GreenApiClient(GreenApiConfig(api_url=base, media_url=base, instance_id="1101000001",
                                               token="sandbox-token", retries=0))
        storage = storage_in(tmp_path)
        processed = []
        slow_turn = asyncio.Event()

        async def accept(message):
            if message.text == "не сохранить":
                raise RuntimeError("the inbox cannot store it")   # not stored: kept in the queue, then buried
            async def process():
                if message.text == "долгий вопрос":
                    await slow_turn.wait()
                processed.append((message.chat_id, message.text))
            return asyncio.ensure_future(process())

        async def no_sleep(seconds):
            pass

        poller = Poller(client, accept, receive_timeout=1, sleep=no_sleep,
                        dead_letter=lambda *args: storage.repos.dead_letters.add("polling", *args), max_attempts=3)
        try:
            poisoned = webhook("incomingMessageReceived", "77011260020@c.us", "x")
            poisoned["messageData"]["textMessageData"]["textMessage"] = 123   # a wrong type
            sandbox.emit(poisoned)
            sandbox.emit(webhook("incomingMessageReceived", "77011260021@c.us", "не сохранить"))
            sandbox.emit(webhook("incomingMessageReceived", "77011260023@c.us", "долгий вопрос"))
            sandbox.emit(webhook("incomingMessageReceived", "77011260022@c.us", "здравствуйте"))
            results = [await poller.poll_once() for _ in range(6)]
            # poisoned; unstorable ×2, buried; the slow turn's message stored and deleted; the next chat's
            assert results == [True, False, False, True, True, True]
            await asyncio.sleep(0.05)
            # another chat was answered while the slow turn is still running: polling does not wait for it
            assert processed == [("77011260022@c.us", "здравствуйте")] and sandbox.queue == []
            slow_turn.set()
            await asyncio.sleep(0.05)
            assert processed[-1] == ("77011260023@c.us", "долгий вопрос")
            letters = storage.repos.dead_letters.list("polling")
            assert [(letter["attempts"], letter["error"].split(":")[0]) for letter in letters] == [
                (1, "unparseable"), (3, "failed")]
            assert '"textMessage": 123' in letters[0]["body"] and "не сохранить" in letters[1]["body"]
            assert all(letter["receipt_id"] for letter in letters)
        finally:
            await client.close()
            await server.close()

    asyncio.run(scenario())
