"""E-mail (aiosmtplib to HANDOVER_EMAIL_TO via SMTP_URL) and SMS (Twilio's Messages API through the official
`twilio` package and its async HTTP client, to HANDOVER_SMS_TO) senders of handover announcements, for the outbox
relay. SMTP_URL: `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it), `smtps://` for TLS.
TWILIO_BASE_URL replaces `https://api.twilio.com` (tests point it at a local server speaking Twilio's protocol).
"""
from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Dict, List, Optional
from urllib.parse import unquote, urlsplit

from salesbot.handover.choices import LABELS
from salesbot.outbox import OutboxItem, OutcomeUnknown, RetryableError, Sender, TerminalError

EMAIL_KIND = "handover.email"
SMS_KIND = "handover.sms"
TWILIO_API = "https://api.twilio.com"
SMS_MAX_CHARS = 320
REASONS = {"customer_request": "клиент просит менеджера", "llm_unsure": "бот не знает ответа",
           "command": "команда менеджера", "manager_typed": "менеджер написал в чат"}


def reason_text(reason: str) -> str:
    return REASONS.get(reason, reason)


def contact_text(preferred_contact: str) -> str:
    return LABELS.get(preferred_contact, preferred_contact)


def compose_email(data: Dict[str, Any]) -> Dict[str, str]:
    """Subject, plain text and HTML of a handover e-mail in Russian, with the last messages."""
    who = " ".join(x for x in (data.get("name") or "", f"+{data['phone']}" if data.get("phone") else "") if x)
    subject = f"Клиент ждёт менеджера: {who or data['chat_id']}"
    messages: List[Dict[str, Any]] = list(data.get("messages") or [])
    lines = [f"Причина: {reason_text(data['reason'])}", f"Чат: {data['chat_id']}"]
    if data.get("preferred_contact"):
        lines.append(f"Как связаться: {contact_text(data['preferred_contact'])}")
    if data.get("summary"):
        lines += ["", data["summary"]]
    if messages:
        lines += ["", "Последние сообщения:"] + [f"{m.get('from', '?')}: {m.get('text', '')}" for m in messages]
    text = "\n".join(lines)
    rows = "".join(f"<tr><td><b>{html.escape(str(m.get('from', '?')))}</b></td>"
                   f"<td>{html.escape(str(m.get('text', '')))}</td></tr>" for m in messages)
    body = (f"<p>{html.escape(lines[0])}<br>{html.escape(lines[1])}</p>"
            + (f"<p>Как связаться: {html.escape(contact_text(str(data['preferred_contact'])))}</p>"
               if data.get("preferred_contact") else "")
            + (f"<p>{html.escape(data['summary'])}</p>" if data.get("summary") else "")
            + (f"<h3>Последние сообщения</h3><table>{rows}</table>" if rows else ""))
    return {"subject": subject, "text": text, "html": f"<html><body>{body}</body></html>"}


def compose_sms(data: Dict[str, Any]) -> str:
    who = " ".join(x for x in (data.get("name") or "", f"+{data['phone']}" if data.get("phone") else "") if x)
    text = f"Клиент ждёт менеджера ({reason_text(data['reason'])}): {who or data['chat_id']}."
    if data.get("preferred_contact"):
        text += f" Как связаться: {contact_text(data['preferred_contact'])}."
    if data.get("summary"):
        text += f" {data['summary']}"
    return text if len(text) <= SMS_MAX_CHARS else text[:SMS_MAX_CHARS - 1] + "…"


class EmailDelivery:
    def __init__(self, smtp_url: str, sender: str, timeout: float = 20.0):
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
        self.hostname = parts.hostname
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    async def send(self, item: OutboxItem) -> Optional[str]:
        import aiosmtplib

        payload = item.payload
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, item.target, payload.get("subject", "")
        message["Date"] = formatdate(localtime=False)
        message_id = item.effect_key.replace(":", ".")  # the same on every retry: a receiver can drop repeats
        message["Message-ID"] = payload.get("message_id") or f"<{message_id}@salesbot>"
        message.set_content(payload.get("text", ""))
        message.add_alternative(payload.get("html", ""), subtype="html")
        try:
            await aiosmtplib.send(message, hostname=self.hostname, port=self.port, username=self.username,
                                  password=self.password, use_tls=self.use_tls, timeout=self.timeout,
                                  start_tls=None if not self.use_tls else False)
        except aiosmtplib.SMTPConnectError as exc:
            raise RetryableError(f"SMTP connection failed: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise RetryableError(f"SMTP {exc.code}: {exc.message}", exc.code) from exc
            raise TerminalError(f"SMTP {exc.code}: {exc.message}", exc.code) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
        return message["Message-ID"]

    def sender_of_kind(self) -> Sender:
        return Sender(self.send, idempotent=True)  # a repeat carries the same Message-ID


class SmsDelivery:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, base_url: str = ""):
        self.account_sid, self.auth_token, self.from_number = account_sid, auth_token, from_number
        self.base_url = (base_url or TWILIO_API).rstrip("/")
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from twilio.http.async_http_client import AsyncTwilioHttpClient
            from twilio.rest import Client

            base_url = self.base_url

            class RedirectedHttpClient(AsyncTwilioHttpClient):
                async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                    if url.startswith(TWILIO_API):
                        url = base_url + url[len(TWILIO_API):]
                    return await super().request(method, url, *args, **kwargs)

            self._client = Client(self.account_sid, self.auth_token, http_client=RedirectedHttpClient())
        return self._client

    async def send(self, item: OutboxItem) -> Optional[str]:
        import aiohttp
        from twilio.base.exceptions import TwilioRestException

        try:
            message = await self.client().messages.create_async(to=item.target, from_=self.from_number,
                                                                body=item.payload.get("body", ""))
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise RetryableError(f"Twilio HTTP {exc.status}: {exc.msg}", exc.status) from exc
            raise TerminalError(f"Twilio HTTP {exc.status}: {exc.msg}", exc.status) from exc
        except aiohttp.ClientConnectorError as exc:
            raise RetryableError(f"no connection to Twilio: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
        return str(message.sid)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()

    def sender_of_kind(self) -> Sender:
        return Sender(self.send)  # not repeated after a timeout: a second SMS would reach the manager
