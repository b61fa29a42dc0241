"""The managers' page's accounts and sessions.

* users in the app's database (`desk_users`), passwords hashed with argon2id (argon2-cffi), roles admin and manager;
* the session is a cookie signed with itsdangerous (HttpOnly, SameSite=Lax), carrying the user id and a CSRF
  token; the key is DESK_SECRET_KEY or a random key kept in RUNTIME_DIR/desk_secret.key (so a restart keeps
  everyone logged in);
* every POST needs the session's CSRF token (form field `csrf` or header `X-CSRF-Token`);
* failed logins are limited per client address and per user name (a sliding window in memory).
"""
from __future__ import annotations

import collections
import hmac
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Deque, Dict, Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from salesbot.db.desk import ROLES, DeskUserRepository

logger = logging.getLogger("salesbot.desk")

COOKIE = "desk_session"
SESSION_SECONDS = 12 * 3600
FIRST_ADMIN = "admin"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")
MIN_PASSWORD = 10

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# a hash to verify against when the user does not exist, so both cases take the same time
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_password() -> str:
    return secrets.token_urlsafe(12)


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= 64 and set(name) <= NAME_CHARS


def secret_key(configured: str, runtime_dir: Path) -> str:
    """DESK_SECRET_KEY, or the key kept in RUNTIME_DIR (made once, readable by this user only)."""
    if configured:
        return configured
    path = runtime_dir / "desk_secret.key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    runtime_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


class Sessions:
    def __init__(self, key: str):
        self.serializer = URLSafeTimedSerializer(key, salt="salesbot-desk-session")

    def load(self, cookie: Optional[str]) -> Dict[str, Any]:
        if not cookie:
            return {}
        try:
            data = self.serializer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, data: Dict[str, Any]) -> str:
        return self.serializer.dumps(data)


def csrf_ok(session: Dict[str, Any], given: Optional[str]) -> bool:
    expected = session.get("csrf")
    return bool(expected and given and hmac.compare_digest(str(expected), str(given)))


class LoginLimiter:
    """At most `limit` failed logins per `window` seconds for one client address, and for one user name."""

    def __init__(self, limit: int = 5, window: float = 300.0):
        self.limit = limit
        self.window = window
        self.failures: Dict[str, Deque[float]] = collections.defaultdict(collections.deque)

    def _recent(self, key: str, now: float) -> Deque[float]:
        times = self.failures[key]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked_for(self, client: str, name: str) -> float:
        """Seconds until another attempt is allowed (0 = now)."""
        now = time.monotonic()
        wait = 0.0
        for key in (f"ip:{client}", f"user:{name.lower()}"):
            times = self._recent(key, now)
            if len(times) >= self.limit:
                wait = max(wait, self.window - (now - times[0]))
        return wait

    def failed(self, client: str, name: str) -> None:
        now = time.monotonic()
        for key in (f"ip:{client}", f"user:{name.lower()}"):
            self._recent(key, now).append(now)
        if len(self.failures) > 10000:  # bounded memory under a spray of names
            for key in [k for k, v in self.failures.items() if not v]:
                del self.failures[key]

    def succeeded(self, client: str, name: str) -> None:
        self.failures.pop(f"user:{name.lower()}", None)


def add_user(users: DeskUserRepository, name: str, role: str, password: Optional[str] = None,
             must_change: bool = False) -> Tuple[Optional[int], str]:
    """(id or None when the name is taken, the password)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not valid_name(name):
        raise ValueError("the name may have 1-64 lowercase latin letters, digits and . _ - @")
    password = password or new_password()
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    return users.create(name, hash_password(password), role, must_change), password


def ensure_first_admin(users: DeskUserRepository) -> Optional[str]:
    """On the first start (no user at all): an admin with a one-time password, which is returned once."""
    if users.count() > 0:
        return None
    user_id, password = add_user(users, FIRST_ADMIN, "admin", must_change=True)
    return password if user_id is not None else None
