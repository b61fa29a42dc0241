"""The managers' page's accounts: argon2 hashes, signed sessions, the login limit, users in a real database."""
from __future__ import annotations

import stat

from salesbot.db import open_database
from salesbot.db.desk import DeskUserRepository
from salesbot.desk.auth import (
    LoginLimiter,
    Sessions,
    add_user,
    csrf_ok,
    ensure_first_admin,
    hash_password,
    secret_key,
    verify_password,
)


def test_passwords_are_argon2id_hashes():
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not a hash", "wrong")


def test_a_tampered_or_foreign_session_cookie_is_no_session():
    sessions = Sessions("key-one-0123456789")
    cookie = sessions.dump({"uid": 1, "csrf": "token"})
    assert sessions.load(cookie) == {"uid": 1, "csrf": "token"}
    assert sessions.load(cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]) == {}
    assert Sessions("another-key-0123456789").load(cookie) == {}
    assert csrf_ok({"csrf": "token"}, "token") and not csrf_ok({"csrf": "token"}, "other")
    assert not csrf_ok({}, "") and not csrf_ok({"csrf": "token"}, None)


def test_failed_logins_are_limited_per_address_and_per_name():
    limiter = LoginLimiter(limit=3, window=60)
    for _ in range(3):
        assert limiter.blocked_for("10.0.0.1", "anna") == 0
        limiter.failed("10.0.0.1", "anna")
    assert limiter.blocked_for("10.0.0.1", "boris") > 0      # the address is blocked
    assert limiter.blocked_for("10.0.0.2", "anna") > 0       # and the name, from anywhere
    assert limiter.blocked_for("10.0.0.2", "boris") == 0


def test_first_admin_once_then_users_by_name(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'app.db'}")
    users = DeskUserRepository(db)
    password = ensure_first_admin(users)
    assert password and len(password) >= 12
    admin = users.by_name("admin")
    assert admin["role"] == "admin" and admin["must_change_password"] and verify_password(admin["password_hash"],
                                                                                           password)
    assert ensure_first_admin(users) is None   # only when there is no user at all
    user_id, generated = add_user(users, "marina", "manager")
    assert user_id is not None and users.get(user_id)["role"] == "manager"
    assert add_user(users, "marina", "manager")[0] is None   # the name is taken
    for name, role, given in (("Bad Name", "manager", None), ("ok", "owner", None), ("ok", "manager", "short")):
        try:
            add_user(users, name, role, given)
        except ValueError:
            continue
        raise AssertionError(f"accepted {name!r} {role!r}")
    db.dispose()


def test_the_session_key_is_kept_private_in_the_runtime_dir(tmp_path):
    key = secret_key("", tmp_path)
    assert len(key) >= 40 and secret_key("", tmp_path) == key
    assert stat.S_IMODE((tmp_path / "desk_secret.key").stat().st_mode) == 0o600
    assert secret_key("configured-key", tmp_path) == "configured-key"
