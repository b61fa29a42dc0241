"""The desk's configuration, read once from the environment (and .env) over the app's common settings."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Tuple

from salesbot.settings import PROJECT_ROOT, Settings, load_settings, read_dotenv

if TYPE_CHECKING:
    from salesbot.handover.requests import HandoverTargets


@dataclass(frozen=True)
class DeskConfig:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 8080
    notify_api_token: str = ""  # unset = the notifications API is off
    staff_phones: Tuple[str, ...] = ()  # STAFF_PHONES plus MANAGER_NUMBERS
    notify_countries: Tuple[str, ...] = ("KZ", "RU")
    quiet_hours: str = "22-8"
    templates_path: Optional[Path] = None
    shop_profile_path: Optional[Path] = None
    max_body_bytes: int = 16 * 1024
    relay_poll_seconds: float = 1.0
    retry_base_seconds: float = 2.0
    send_interval_seconds: float = 0.2  # GREEN-API's per-instance rate limit: sends are paced
    handover_methods: Tuple[str, ...] = ("whatsapp_group",)
    handover_webhook_url: str = ""
    handover_webhook_secret: str = ""
    handover_webhook_retry_seconds: Tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0)
    smtp_url: str = ""
    handover_email_to: str = ""
    handover_email_from: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = ""
    handover_sms_to: str = ""
    handover_customer_choices: Tuple[str, ...] = ()  # ways the customer is asked to choose from (2+ = ask)
    handover_choice_wait_seconds: float = 300.0  # e-mail/SMS/webhook wait this long for the customer's choice
    # the managers' page
    secret_key: str = ""  # DESK_SECRET_KEY; unset = a random key kept in RUNTIME_DIR/desk_secret.key
    rasa_url: str = "http://127.0.0.1:5005"  # the order in progress is read from Rasa's HTTP API ...
    rasa_api_token: str = ""  # ... when RASA_API_TOKEN enables it
    login_attempts: int = 5  # failed logins per client address (and per user name) ...
    login_window_seconds: float = 300.0  # ... in this many seconds

    def __repr__(self) -> str:  # never a secret in a repr
        return f"DeskConfig(host={self.host!r}, port={self.port!r})"

    def handover_targets(self) -> "HandoverTargets":
        from salesbot.handover.requests import HandoverTargets

        return HandoverTargets(self.handover_webhook_url if self.handover_webhook_secret else "",
                               self.handover_email_to if self.smtp_url else "",
                               self.handover_sms_to if self.twilio_account_sid and self.twilio_auth_token else "")

    @property
    def notifications_api_on(self) -> bool:
        return bool(self.notify_api_token)


def load_desk_config(environ: Optional[Mapping[str, str]] = None) -> DeskConfig:
    if environ is None:
        merged = dict(read_dotenv(PROJECT_ROOT / ".env"))
        merged.update(os.environ)
        environ = merged
    settings = load_settings(environ)

    def get(name: str, default: str = "") -> str:
        value = environ.get(name)
        return default if value is None or not value.strip() else value.strip()

    def path(name: str, default: Path) -> Path:
        text = get(name)
        found = Path(text).expanduser() if text else default
        return found if found.is_absolute() else PROJECT_ROOT / found

    from salesbot.handover.choices import parse_choices
    from salesbot.handover.requests import parse_methods

    staff = tuple(p.strip() for p in get("STAFF_PHONES").split(",") if p.strip()) + settings.manager_numbers
    inventory_dir = settings.inventory_path.parent
    return DeskConfig(
        settings=settings,
        host=get("DESK_HOST", "127.0.0.1"),
        port=int(get("DESK_PORT", "8080")),
        notify_api_token=get("NOTIFY_API_TOKEN"),
        staff_phones=staff,
        notify_countries=tuple(c.strip().upper() for c in get("NOTIFY_COUNTRIES", "KZ,RU").split(",") if c.strip()),
        quiet_hours=get("NOTIFY_QUIET_HOURS", "22-8"),
        templates_path=path("NOTIFY_TEMPLATES_PATH", inventory_dir / "notifications.yml"),
        shop_profile_path=path("SHOP_PROFILE_PATH", inventory_dir / "shop.yml"),
        max_body_bytes=int(get("NOTIFY_MAX_BODY_BYTES", str(16 * 1024))),
        relay_poll_seconds=float(get("DESK_RELAY_POLL_SECONDS", "1")),
        retry_base_seconds=float(get("NOTIFY_RETRY_BASE_SECONDS", "2")),
        send_interval_seconds=float(get("NOTIFY_SEND_INTERVAL_SECONDS", "0.2")),
        handover_methods=tuple(parse_methods(get("HANDOVER_METHODS", "whatsapp_group"))),
        handover_webhook_url=get("HANDOVER_WEBHOOK_URL"),
        handover_webhook_secret=get("HANDOVER_WEBHOOK_SECRET"),
        handover_webhook_retry_seconds=tuple(float(x) for x in get(
            "HANDOVER_WEBHOOK_RETRY_SECONDS", "5,300,1800,7200").split(",") if x.strip()),
        smtp_url=get("SMTP_URL"),
        handover_email_to=get("HANDOVER_EMAIL_TO"),
        handover_email_from=get("HANDOVER_EMAIL_FROM", "salesbot@localhost"),
        twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
        twilio_from=get("TWILIO_FROM"),
        twilio_base_url=get("TWILIO_BASE_URL"),
        handover_sms_to=get("HANDOVER_SMS_TO"),
        handover_customer_choices=parse_choices(get("HANDOVER_CUSTOMER_CHOICES")),
        handover_choice_wait_seconds=float(get("HANDOVER_CHOICE_WAIT_SECONDS", "300")),
        secret_key=get("DESK_SECRET_KEY"),
        rasa_url=get("RASA_URL", "http://127.0.0.1:5005").rstrip("/"),
        rasa_api_token=get("RASA_API_TOKEN"),
        login_attempts=int(get("DESK_LOGIN_ATTEMPTS", "5")),
        login_window_seconds=float(get("DESK_LOGIN_WINDOW_SECONDS", "300")),
    )
