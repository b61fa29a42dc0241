"""Locked doors, through the real servers: the action server wants the shared secret and listens on loopback only,
Rasa's unauthenticated `rest` channel is off."""
import json
import os
import random
import subprocess

import pytest

from tests.e2e.conftest import trained_model
from tests.e2e.stack import (
    ACTION_SERVER_SECRET,
    API_TOKEN,
    RASA_API_TOKEN,
    ROOT,
    VENV,
    WEBHOOK_TOKEN,
    free_port,
    http,
    wait_until,
)
from tests.llm_stub import API_KEY as LLM_KEY

pytestmark = pytest.mark.e2e

TRACKER_CALL = {"next_action": "action_session_start", "sender_id": "77019990001@c.us",
                "tracker": {"sender_id": "77019990001@c.us", "slots": {}, "latest_message": {}, "events": [],
                            "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None},
                "domain": {"session_config": {"carry_over_slots_to_new_session": True}}, "version": "3.6.21"}


@pytest.fixture(scope="module")
def locked_stack(stack):
    """The session's stack (tests/e2e/conftest.py): the same tokens, action server secret and LLM key as a stack of
    this module's own would have. Its logs hold every earlier module's traffic as well, so the checks of what is
    absent from them (secrets, 401s) cover more than this module's requests."""
    return stack


def actions_url(stack) -> str:
    return f"http://127.0.0.1:{stack.ports['actions']}"


def listening_addresses(port: int) -> set:
    """Local addresses (hex, as in /proc/net/tcp) with a socket listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:   # 0A = LISTEN
                found.add(address)
    return found


def test_action_server_refuses_calls_without_the_secret(locked_stack):
    url = f"{actions_url(locked_stack)}/webhook"
    assert http("POST", url, TRACKER_CALL)[0] == 401
    assert http("POST", url, TRACKER_CALL, headers={"X-Action-Secret": "guess"})[0] == 401
    assert http("POST", url, TRACKER_CALL, headers={"X-Action-Secret": ACTION_SERVER_SECRET + "x"})[0] == 401
    assert http("GET", f"{actions_url(locked_stack)}/actions")[0] == 401
    assert http("GET", f"{actions_url(locked_stack)}/health")[0] == 200
    status, reply = http("POST", url, TRACKER_CALL, headers={"X-Action-Secret": ACTION_SERVER_SECRET})
    assert status == 200 and "events" in reply
    log = (locked_stack.tmp / "actions.log").read_text(encoding="utf-8", errors="replace")
    assert "refused POST /webhook" in log and "header missing" in log and "header wrong" in log


def test_action_server_listens_on_loopback_only(locked_stack):
    addresses = listening_addresses(locked_stack.ports["actions"])
    assert addresses == {"0100007F"}, addresses    # 127.0.0.1, not 0.0.0.0 or ::


def test_rasa_calls_the_actions_with_the_secret(locked_stack):
    replies = locked_stack.turn("77019990002@c.us", "хочу заказать балетки шанель 37 черные")
    assert any("В какой город" in (r or "") for r in replies), replies
    assert "401, Unauthorized" not in (locked_stack.tmp / "rasa.log").read_text(encoding="utf-8", errors="replace")


def test_the_projects_endpoints_yml_sends_the_secret():
    """Rasa substitutes ${VAR} only in unquoted scalars: read endpoints.yml as `make run` does."""
    code = ("from rasa.utils.endpoints import read_endpoint_config\n"
            "print(read_endpoint_config('endpoints.yml', 'action_endpoint').headers['X-Action-Secret'])")
    done = subprocess.run([str(VENV / "rasa/bin/python"), "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "ACTION_SERVER_SECRET": "s3cret-from-the-environment"}, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "s3cret-from-the-environment", done.stderr[-2000:]


def test_rest_channel_is_off(locked_stack):
    status, _ = http("POST", f"{locked_stack.rasa}/webhooks/rest/webhook", {"sender": "77019990003@c.us",
                                                                          "message": "да"})
    assert status == 404
    wait_until(lambda: http("GET", f"{locked_stack.rasa}/webhooks/greenapi/")[0] == 200, what="greenapi channel")


def test_rasa_refuses_webhooks_from_a_real_instance_without_the_token(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GREEN_API_INSTANCE_ID": "1101234567",
           "GREEN_API_TOKEN": "real-api-token", "GREEN_API_URL": "https://1101.api.green-api.com",
           "GREEN_API_POLLING": "0", "GREEN_API_WEBHOOK_TOKEN": "", "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
           "RASA_TELEMETRY_ENABLED": "false", "ACTION_SERVER_SECRET": ACTION_SERVER_SECRET}
    done = subprocess.run([str(VENV / "rasa/bin/rasa"), "run", "--model", trained_model(), "--credentials",
                           str(ROOT / "credentials.yml"), "--endpoints", str(ROOT / "endpoints.yml"), "--port",
                           str(free_port()), "--interface", "127.0.0.1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode != 0
    assert "GREEN_API_WEBHOOK_TOKEN is not set" in done.stdout + done.stderr


def mutated_bodies(count: int, seed: int = 11):
    """Raw bodies: GREEN-API webhooks with fields of the wrong type, huge, deep, NUL bytes, bad unicode, not JSON."""
    rng = random.Random(seed)
    chat = "77019990100@c.us"

    def base(n):
        return {"typeWebhook": "incomingMessageReceived", "idMessage": f"MUT{n}", "timestamp": 1,
                "senderData": {"chatId": chat, "sender": chat, "senderName": "Фаззер"},
                "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "привет"}}}

    wrong_values = [123, 1.5, True, None, [], ["x"], {}, {"a": 1}, "строка", "", "\u0000", "\ud800"]
    places = [("typeWebhook",), ("idMessage",), ("senderData",), ("senderData", "chatId"),
              ("senderData", "senderName"), ("messageData",), ("messageData", "typeMessage"),
              ("messageData", "textMessageData"), ("messageData", "textMessageData", "textMessage")]
    for n in range(count):
        body = base(n)
        shape = n % 8
        if shape in (0, 1, 2):
            path = rng.choice(places)
            target = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = rng.choice(wrong_values)
            yield json.dumps(body).encode()
        elif shape == 3:
            yield ("[" * rng.choice([40, 3000, 100000]) + "]" * 10).encode()
        elif shape == 4:
            body["messageData"]["textMessageData"]["textMessage"] = "о" * rng.choice([5000, 65000])
            yield json.dumps(body, ensure_ascii=False).encode()
        elif shape == 5:
            yield json.dumps(body, ensure_ascii=False).encode().replace("привет".encode(), b"\xff\xfe\x00\xc3")
        elif shape == 6:
            body["messageData"]["textMessageData"]["textMessage"] = "при\u0000вет \ud800\udfff\ud800"
            yield json.dumps(body).encode()
        else:
            yield rng.choice([b"", b"null", b"[]", b"{", b"\x00\x00", b'{"typeWebhook": 1}', b"{}" * 1000])


def test_mutated_webhooks_get_4xx_or_200_and_the_next_customer_is_answered(locked_stack):
    url = f"{locked_stack.rasa}/webhooks/greenapi/webhook"
    statuses = {}
    for raw in mutated_bodies(300):
        status, _ = http("POST", url, raw=raw, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
        statuses[status] = statuses.get(status, 0) + 1
    assert all(status < 500 for status in statuses), statuses
    assert statuses.get(400, 0) >= 100 and statuses.get(200, 0) >= 10, statuses
    replies = locked_stack.turn("77019990101@c.us", "здравствуйте", timeout=20)
    assert replies, replies
    log = (locked_stack.tmp / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "webhook rejected: field messageData" in log or "webhook rejected: field senderData" in log
    assert "Traceback" not in log


def test_a_huge_message_is_cut_the_customer_told_and_answered(locked_stack):
    chat = "77019990102@c.us"
    replies = locked_stack.turn(chat, "здравствуйте " + "очень " * 12000, timeout=30)
    assert "прочитала только его начало" in replies[0], replies
    assert len(replies) >= 2, replies


def test_no_secret_appears_in_any_log(locked_stack):
    """Last in this module: after every test above (refused calls, fuzzed webhooks, huge messages), a whole order,
    photos, an LLM answer, send errors and a wrong bearer token, no token or key the stack set is in its logs."""
    chat = "77019990103@c.us"
    for text, expected in [("хочу заказать балетки шанель 37 черные", "В какой город"), ("алматы", "адрес"),
                           ("ул абая 10 кв 5", "Проверьте"), ("да", "Заказ №")]:
        replies = locked_stack.turn(chat, text)
        assert any(expected in (r or "") for r in replies), (text, replies)
    locked_stack.turn("77019990104@c.us", "скиньте фото балеток шанель")
    locked_stack.turn("77019990105@c.us", "а подарочные сертификаты у вас бывают?")
    with locked_stack.faults({"method": "sendMessage", "status": 500, "count": 3}):
        locked_stack.turn("77019990106@c.us", "какие способы оплаты", timeout=60)
    http("POST", f"{locked_stack.rasa}/webhooks/greenapi/webhook", {"typeWebhook": "x"},
         headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}-wrong"})
    secrets = {"GREEN_API_TOKEN": API_TOKEN, "GREEN_API_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
               "RASA_API_TOKEN": RASA_API_TOKEN, "ACTION_SERVER_SECRET": ACTION_SERVER_SECRET,
               "OPENAI_API_KEY": LLM_KEY}
    # The sandbox plays GREEN-API (its log is the provider's side); the bot's own processes are checked.
    logs = {name: (locked_stack.tmp / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            for name in ("rasa", "actions")}
    assert "llm call" in logs["actions"]   # the LLM path really ran
    leaks = [(name, log_name) for name, secret in secrets.items() for log_name, text in logs.items()
             if secret in text]
    assert leaks == []
