"""Locked doors, through the real servers: the action server wants the shared secret and listens on loopback only,
Rasa's unauthenticated `rest` channel is off."""
import os
import subprocess

import pytest

from tests.e2e.conftest import trained_model
from tests.e2e.stack import ACTION_SERVER_SECRET, ROOT, VENV, Stack, free_port, http, wait_until

pytestmark = pytest.mark.e2e

TRACKER_CALL = {"next_action": "action_session_start", "sender_id": "77019990001@c.us",
                "tracker": {"sender_id": "77019990001@c.us", "slots": {}, "latest_message": {}, "events": [],
                            "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None},
                "domain": {"session_config": {"carry_over_slots_to_new_session": True}}, "version": "3.6.21"}


@pytest.fixture(scope="module")
def locked_stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("lockdown"), trained_model()).start()
    yield running
    running.stop()


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
