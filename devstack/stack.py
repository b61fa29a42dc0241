"""Starts the real processes: GREEN-API sandbox, action server, Rasa server and (optionally) the desk, on free
local ports."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Optional

from salesbot.db.desk import MESSAGE_KINDS
from salesbot.db.enums import OUTBOX_UNFINISHED

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("VENV_DIR", ROOT / ".venv"))
INSTANCE_ID = "1101000001"
API_TOKEN = "e2e-token"
WEBHOOK_TOKEN = "e2e-webhook-secret"
GROUP_ID = "120363000000000001@g.us"
RASA_API_TOKEN = "e2e-rasa-api-token"
ACTION_SERVER_SECRET = "e2e-action-server-secret"
MANAGER_NUMBER = "77017770000"
AUTO_RESUME_MINUTES = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body=None, headers: Optional[Dict[str, str]] = None, raw: Optional[bytes] = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                            **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text.strip() else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def wait_until(check, timeout: float = 120.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def _descendants(pid: int) -> List[int]:
    """Child processes of `pid`, and theirs (from /proc)."""
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    def __init__(self, tmp: Path, model: str, polling: bool = False, env: Optional[Dict[str, str]] = None):
        self.tmp = tmp
        self.model = model
        self.polling = polling
        self.ports = {"sandbox": free_port(), "actions": free_port(), "rasa": free_port(), "desk": free_port()}
        self.procs: Dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)
        sandbox_url = f"http://127.0.0.1:{self.ports['sandbox']}"
        self.env.update({
            "PYTHONPATH": str(ROOT), "GREEN_API_URL": sandbox_url, "GREEN_API_MEDIA_URL": sandbox_url,
            "GREEN_API_INSTANCE_ID": INSTANCE_ID, "GREEN_API_TOKEN": API_TOKEN,
            "GREEN_API_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "GREEN_API_POLLING": "1" if polling else "0",
            "ORDER_NOTIFICATION_GROUP_ID": GROUP_ID, "DATABASE_URL": f"sqlite:///{tmp / 'app.db'}",
            "RUNTIME_DIR": str(tmp / "runtime"), "INVENTORY_PATH": str(ROOT / "shop" / "inventory.xlsx"),
            "PHOTOS_DIR": str(ROOT / "shop" / "photos"), "TF_CPP_MIN_LOG_LEVEL": "3",
            "RASA_TELEMETRY_ENABLED": "false", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "MANAGER_NUMBERS": MANAGER_NUMBER, "HANDOFF_AUTO_RESUME_MINUTES": str(AUTO_RESUME_MINUTES),
            "SALESBOT_CLOCK_FILE": str(tmp / "clock.txt"), "SCHEDULER_POLL_SECONDS": "0.5",
            "ACTION_SERVER_SECRET": ACTION_SERVER_SECRET,
        })
        self.clock_file = tmp / "clock.txt"
        self.clock_file.write_text("")
        self.env.pop("OPENAI_API_KEY", None)   # no LLM unless the test gives one (a local stub)
        self.env["KNOWLEDGE_DIR"] = str(tmp / "knowledge")
        self.env.update(env or {})

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.ports['sandbox']}"

    @property
    def rasa(self) -> str:
        return f"http://127.0.0.1:{self.ports['rasa']}"

    def _start(self, name: str, args: List[str]) -> None:
        log = open(self.tmp / f"{name}.log", "a")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def _wait_ready(self, name: str, url: str, timeout: float = 120.0) -> None:
        """Wait until `url` answers 200; a server that exits meanwhile fails at once, with the end of its log
        (rather than after the whole timeout)."""
        proc = self.procs[name]

        def ready() -> bool:
            if proc.poll() is not None:
                log = (self.tmp / f"{name}.log").read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(f"{name} exited with {proc.returncode} while starting; its log ends:\n{log[-3000:]}")
            return http("GET", url)[0] == 200

        wait_until(ready, timeout=timeout, what=name)

    @property
    def desk(self) -> str:
        return f"http://127.0.0.1:{self.ports['desk']}"

    def start(self, with_rasa: bool = True, with_actions: bool = True) -> "Stack":
        """Start the sandbox and the action server, then (unless `with_rasa` is False) the Rasa server.
        `with_actions=False` starts the sandbox alone (e.g. for the desk: `start_desk`)."""
        webhook = "" if self.polling else f"{self.rasa}/webhooks/greenapi/webhook"
        self._start("sandbox", [str(VENV / "actions/bin/python"), "-m", "sandbox", "--port", str(self.ports["sandbox"]),
                                "--instance-id", INSTANCE_ID, "--token", API_TOKEN, "--webhook-url", webhook,
                                "--webhook-token", WEBHOOK_TOKEN, "--group-id", GROUP_ID])
        self._wait_ready("sandbox", f"{self.sandbox}/sandbox/health")
        if with_actions:
            self.start_actions()
        if with_rasa:
            self.start_rasa()
        return self

    def bot_status(self) -> dict:
        """What the sandbox knows about the bot: {"up": bool, "pendingWebhooks": int, ...}."""
        return http("GET", f"{self.sandbox}/sandbox/bot")[1]

    def start_rasa(self) -> None:
        endpoints = self.tmp / "endpoints.yml"
        endpoints.write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{self.ports['actions']}/webhook\n"
            "  headers:\n    X-Action-Secret: ${ACTION_SERVER_SECRET}\n"
            f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {self.tmp / 'tracker.db'}\n", encoding="utf-8")
        credentials = ROOT / "credentials.yml"
        if self.env.get("RASA_REST_CHANNEL") == "1":   # Rasa's unauthenticated rest channel, only on request
            credentials = self.tmp / "credentials.yml"
            credentials.write_text((ROOT / "credentials.yml").read_text(encoding="utf-8") + "\nrest: {}\n",
                                   encoding="utf-8")
        self._start("rasa", [str(VENV / "rasa/bin/rasa"), "run", "--model", self.model, "--credentials",
                             str(credentials), "--endpoints", str(endpoints), "--port",
                             str(self.ports["rasa"]), "--interface", "127.0.0.1", "--enable-api",
                             "--auth-token", RASA_API_TOKEN])
        self._wait_ready("rasa", f"{self.rasa}/webhooks/greenapi/", timeout=180)

    def start_desk(self, env: Optional[Dict[str, str]] = None) -> None:
        """The desk (notifications API) on its port, over the stack's database and sandbox; `env` adds to the
        stack's environment (e.g. NOTIFY_API_TOKEN)."""
        log = open(self.tmp / "desk.log", "a")
        # the managers' page reads the order in progress from this stack's Rasa HTTP API
        rasa = {"RASA_URL": self.rasa, "RASA_API_TOKEN": RASA_API_TOKEN}
        self.procs["desk"] = subprocess.Popen(
            [str(VENV / "actions/bin/python"), "-m", "salesbot.desk", "--port", str(self.ports["desk"])],
            cwd=ROOT, env={**self.env, **rasa, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready("desk", f"{self.desk}/health", timeout=60)

    def stop_desk(self) -> None:
        self._stop(self.procs.pop("desk"))

    def stop_rasa(self) -> None:
        self._stop(self.procs.pop("rasa"))

    def kill(self, name: str) -> None:
        """kill -9 of one server ("rasa" or "actions") and its worker processes (Sanic serves the action server
        from a child): no listener runs, nothing is flushed."""
        proc = self.procs.pop(name)
        for pid in [proc.pid] + _descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        wait_until(lambda: not _listening(self.ports[name]), timeout=20, what=f"port of {name} released")

    def start_actions(self) -> None:
        """(Re)start the action server on its port."""
        self._start("actions", [str(VENV / "actions/bin/python"), "-m", "actions.server",
                                "--port", str(self.ports["actions"])])
        self._wait_ready("actions", f"http://127.0.0.1:{self.ports['actions']}/health")

    def db(self, query: str, *args) -> list:
        """Rows of the app's SQLite database."""
        with sqlite3.connect(self.tmp / "app.db") as connection:
            return connection.execute(query, args).fetchall()

    @staticmethod
    def _stop(*procs: subprocess.Popen, timeout: float = 20.0) -> None:
        """SIGTERM to every process at once, then wait for them together: a stack stops in the time of its slowest
        server, not the sum. Whatever still runs after `timeout` is killed with its worker processes."""
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for pid in _descendants(proc.pid) + [proc.pid]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.wait()

    def stop(self) -> None:
        self._stop(*self.procs.values())
        self.procs.clear()

    @contextmanager
    def faults(self, fault: dict):
        """Sandbox fault injection for the duration of a `with` block."""
        http("POST", f"{self.sandbox}/sandbox/faults", fault)
        try:
            yield
        finally:
            http("DELETE", f"{self.sandbox}/sandbox/faults")

    def set_clock(self, epoch: Optional[float]) -> None:
        self.clock_file.write_text("" if epoch is None else repr(epoch))

    def tracker(self, chat_id: str) -> dict:
        return http("GET", f"{self.rasa}/conversations/{chat_id}/tracker?token={RASA_API_TOKEN}")[1]

    def manager_types(self, chat_id: str, text: str) -> str:
        status, reply = http("POST", f"{self.sandbox}/sandbox/manager", {"chatId": chat_id, "text": text})
        assert status == 200, reply
        return reply["idMessage"]

    # -- helpers for tests ---------------------------------------------------------------------------------
    def say(self, chat_id: str, text: str, name: str = "Айгуль", **extra) -> str:
        status, reply = http("POST", f"{self.sandbox}/sandbox/customer",
                             {"chatId": chat_id, "text": text, "senderName": name, **extra})
        assert status == 200, reply
        return reply["idMessage"]

    def messages(self, chat_id: str) -> List[dict]:
        return http("GET", f"{self.sandbox}/sandbox/chats/{chat_id}/messages")[1]

    def bot_messages(self, chat_id: str) -> List[dict]:
        return [m for m in self.messages(chat_id) if m.get("by") == "bot"]

    def calls(self) -> List[dict]:
        return http("GET", f"{self.sandbox}/sandbox/calls")[1]

    def turn_over(self, chat_id: str, id_message: str) -> bool:
        """The channel has finished the customer's message: its inbox row is DONE (by then the turn's replies were
        sent, or handed to the outbox relay) and no reply to the chat waits in the outbox."""
        if self.db("SELECT status FROM inbox WHERE chat_id = ? AND id_message = ?", chat_id, id_message) != [("DONE",)]:
            return False
        kinds, unfinished = list(MESSAGE_KINDS), [status.value for status in OUTBOX_UNFINISHED]
        return not self.db(f"SELECT 1 FROM outbox WHERE chat_id = ? AND kind IN ({', '.join('?' * len(kinds))})"
                           f" AND status IN ({', '.join('?' * len(unfinished))})", chat_id, *kinds, *unfinished)

    def turn(self, chat_id: str, text: str, settle: float = 0.0, timeout: float = 60, **extra) -> List[str]:
        """Say `text` and return the bot's replies to it, once there is one and the turn is over (`turn_over`);
        `settle` seconds more, if given, for replies that would come even later."""
        before = len(self.bot_messages(chat_id))
        id_message = self.say(chat_id, text, **extra)
        wait_until(lambda: len(self.bot_messages(chat_id)) > before, timeout=timeout, what=f"a reply to {text!r}")
        wait_until(lambda: self.turn_over(chat_id, id_message), timeout=timeout, what=f"the turn of {text!r} over")
        if settle:
            time.sleep(settle)
        return [m.get("text") or m.get("fileName") or m.get("type") for m in self.bot_messages(chat_id)[before:]]
