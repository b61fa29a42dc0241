"""Handover by e-mail and SMS from the desk (a real uvicorn process): a real SMTP server (aiosmtpd) receives the
Russian e-mail once; a local HTTP server speaking Twilio's Messages API (Basic auth, form fields, 201 JSON) gets
the SMS once, through two 503s first; an SMS refused with 400 fails at once."""
from __future__ import annotations

import base64
import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from devstack.stack import Stack, free_port, wait_until
from salesbot.db import Repositories, open_database
from salesbot.handover import HandoverTargets, request_handover

SID, AUTH_TOKEN, FROM, MANAGER_SMS, MANAGER_MAIL = "AC" + "1" * 32, "twilio-secret", "+15005550006", \
    "+77017770001", "manager@shop.test"


class MailBox:
    def __init__(self) -> None:
        self.messages: List[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


class TwilioShaped:
    """POST /2010-04-01/Accounts/{sid}/Messages.json as Twilio answers it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answers: List[int] = []
        self.requests: List[Dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(
                    int(self.headers.get("content-length", "0"))).decode()).items()}
                expected = "Basic " + base64.b64encode(f"{SID}:{AUTH_TOKEN}".encode()).decode()
                authorised = self.headers.get("authorization") == expected
                outer.requests.append({"path": self.path, "form": form, "authorised": authorised})
                status = 401 if not authorised else (outer.answers.pop(0) if outer.answers else 201)
                if status == 201:
                    body = {"sid": f"SM{len(outer.requests):032d}", "status": "queued", "to": form.get("To"),
                            "from": form.get("From"), "body": form.get("Body"), "account_sid": SID}
                else:
                    body = {"code": 20003 if status == 401 else 21211, "message": f"error {status}",
                            "status": status, "more_info": "https://www.twilio.com/docs/errors"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("handover-mail")
    mailbox, twilio = MailBox(), TwilioShaped()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    stack = Stack(tmp, model="")
    try:
        stack.start(with_rasa=False, with_actions=False)
        stack.start_desk({"HANDOVER_METHODS": "email,sms", "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
                          "HANDOVER_EMAIL_TO": MANAGER_MAIL, "HANDOVER_EMAIL_FROM": "bot@shop.test",
                          "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM": FROM,
                          "TWILIO_BASE_URL": f"http://127.0.0.1:{twilio.port}", "HANDOVER_SMS_TO": MANAGER_SMS,
                          "HANDOVER_WEBHOOK_RETRY_SECONDS": "0.2,0.2,0.2,0.2", "DESK_RELAY_POLL_SECONDS": "0.1"})
        repos = Repositories(open_database(stack.env["DATABASE_URL"]))
        yield mailbox, twilio, repos
        repos.db.dispose()
    finally:
        stack.stop()
        smtp.stop()
        twilio.close()


def hand_over(repos, key: str, chat: str = "77011234567@c.us"):
    return request_handover(repos, key, chat, "llm_unsure", ["email", "sms", "webhook"],
                            HandoverTargets(email_to=MANAGER_MAIL, sms_to=MANAGER_SMS), phone="77011234567",
                            name="Айгуль", summary="Вопрос без ответа: есть ли рассрочка на 24 месяца?",
                            messages=[{"from": "customer", "text": "рассрочка на 24 месяца есть?"},
                                      {"from": "bot", "text": "Уточню у менеджера…"}])


def status_of(repos, key: str, method: str) -> Dict[str, Any]:
    return [r for r in repos.handovers.list() if r["request_key"] == key and r["method"] == method][0]


def test_email_and_sms_arrive_once_sms_through_two_503s(setup):
    mailbox, twilio, repos = setup
    twilio.answers[:] = [503, 503]
    hand_over(repos, "k1")
    hand_over(repos, "k1")  # the same handover again
    wait_until(lambda: status_of(repos, "k1", "email")["status"] == "notified", timeout=15, what="e-mail")
    sms = wait_until(lambda: (lambda r: r if r["status"] == "notified" else None)(status_of(repos, "k1", "sms")),
                     timeout=15, what="sms")
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == MANAGER_MAIL and mail["Subject"] == "Клиент ждёт менеджера: Айгуль +77011234567"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Причина: бот не знает ответа" in text and "customer: рассрочка на 24 месяца есть?" in text
    assert "<td>рассрочка на 24 месяца есть?</td>" in html
    assert [r["form"]["To"] for r in twilio.requests] == [MANAGER_SMS] * 3 and all(r["authorised"]
                                                                                 for r in twilio.requests)
    assert twilio.requests[0]["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert twilio.requests[-1]["form"]["Body"].startswith("Клиент ждёт менеджера (бот не знает ответа): Айгуль")
    assert twilio.requests[-1]["form"]["From"] == FROM and sms["attempts"] == 3
    webhook = status_of(repos, "k1", "webhook")  # asked for, but no URL configured
    assert webhook["status"] == "failed" and "not configured" in webhook["last_error"]


def test_an_sms_the_provider_refuses_fails_at_once(setup):
    mailbox, twilio, repos = setup
    before = len(twilio.requests)
    twilio.answers[:] = [400]
    hand_over(repos, "k2", "77011234568@c.us")
    row = wait_until(lambda: (lambda r: r if r["status"] == "failed" else None)(status_of(repos, "k2", "sms")),
                     timeout=15, what="sms failed")
    assert len(twilio.requests) - before == 1 and row["response_code"] == 400 and "400" in row["last_error"]
