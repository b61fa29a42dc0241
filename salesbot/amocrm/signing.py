"""Signatures of the amoCRM Chats API (pure functions, no I/O).

A request to amojo carries `Date` (RFC 2822), `Content-Type: application/json`, `Content-MD5` (lower-case hex MD5 of
the exact body bytes; of b"" for a GET) and `X-Signature`: lower-case hex HMAC-SHA1, keyed with the channel secret,
of "METHOD\\nContent-MD5\\nContent-Type\\nDate\\n/path" (the path without host and query).
A hook amoCRM posts to us carries `X-Signature`: hex HMAC-SHA1 of the raw body with the same secret.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Dict, Mapping, Optional

CONTENT_TYPE = "application/json"
MAX_CLOCK_SKEW_SECONDS = 15 * 60  # amoCRM: a signature is valid for 15 minutes from its Date


def encode_body(body: Any) -> bytes:
    """The JSON bytes that are both sent and hashed (compact; the hash is over these exact bytes)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def content_md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def rfc2822_date(epoch: float) -> str:
    """e.g. 'Thu, 29 Oct 2020 11:59:55 +0000'."""
    return formatdate(epoch, localtime=False, usegmt=False).replace("-0000", "+0000")


def string_to_sign(method: str, md5: str, content_type: str, date: str, path: str) -> str:
    return "\n".join([method.upper(), md5, content_type, date, path])


def hmac_sha1(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha1).hexdigest()


def request_signature(secret: str, method: str, md5: str, content_type: str, date: str, path: str) -> str:
    return hmac_sha1(secret, string_to_sign(method, md5, content_type, date, path).encode("utf-8"))


def signed_headers(secret: str, method: str, path: str, body: bytes, now: float) -> Dict[str, str]:
    """The four headers of a request to amojo."""
    md5 = content_md5(body)
    date = rfc2822_date(now)
    return {"Date": date, "Content-Type": CONTENT_TYPE, "Content-MD5": md5,
            "X-Signature": request_signature(secret, method, md5, CONTENT_TYPE, date, path)}


def request_problem(secret: str, method: str, path: str, headers: Mapping[str, str], body: bytes,
                    now: Optional[float] = None) -> Optional[str]:
    """Why a request to amojo is not correctly signed, or None (what an amojo-compatible server checks)."""
    date, md5, signature = headers.get("Date"), headers.get("Content-MD5"), headers.get("X-Signature")
    content_type = headers.get("Content-Type", "")
    if not date or not md5 or not signature:
        return "Date, Content-MD5 and X-Signature are required"
    if md5 != content_md5(body):
        return "Content-MD5 does not match the body"
    expected = request_signature(secret, method, md5, content_type, date, path)
    if not hmac.compare_digest(signature.lower(), expected):
        return "X-Signature is wrong"
    if now is not None:
        try:
            sent_at = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return "Date is not an RFC 2822 date"
        if abs(now - sent_at) > MAX_CLOCK_SKEW_SECONDS:
            return "Date is more than 15 minutes away"
    return None


def hook_signature(secret: str, body: bytes) -> str:
    return hmac_sha1(secret, body)


def hook_signed(secret: str, body: bytes, given: Optional[str]) -> bool:
    """Whether a hook's X-Signature is the HMAC-SHA1 of its raw body with the channel secret."""
    if not secret or not given:
        return False
    return hmac.compare_digest(given.strip().lower(), hook_signature(secret, body))
