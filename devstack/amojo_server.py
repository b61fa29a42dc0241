"""A local server that speaks amoCRM's Chats API (amojo) for the tests: it checks every request's signature like
amoCRM (401 without the signature headers, 403 for a wrong one), connects the channel, records imported messages
and delivery statuses, can fail on demand (an outage: 503 or a hang), and posts signed operator hooks (v2) to a URL.

Runs in a thread of the test process on a free port: `with AmojoServer(channel_id, secret, account_id) as amojo:`.
`python -m devstack.amojo_server --port 7800` serves it on its own (secrets from AMOCRM_CHANNEL_SECRET).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import httpx
from aiohttp import web

from devstack.background import BackgroundServer
from salesbot.amocrm.signing import encode_body, hook_signature, request_problem


class AmojoServer:
    def __init__(self, channel_id: str, secret: str, account_id: str, port: Optional[int] = None):
        self.channel_id = channel_id
        self.secret = secret
        self.account_id = account_id
        self.scope_id = f"{channel_id}_{account_id}"
        self.imports: List[Dict[str, Any]] = []   # every accepted import POST, in arrival order (repeats too)
        self.statuses: List[Dict[str, Any]] = []
        self.rejected: List[Dict[str, Any]] = []  # requests refused for their signature
        self.connects = 0
        self.failed_requests = 0
        self._fail_status: Optional[int] = None
        self._fail_until = 0.0
        self._hang = False
        self._lock = threading.Lock()
        self._server: Optional[BackgroundServer] = None
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what the tests look at and do --------------------------------------------------------------------------
    def imported(self, conversation_id: Optional[str] = None) -> List[Dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self.imports
                    if conversation_id is None or i["payload"].get("conversation_id") == conversation_id]

    def fail(self, status: int = 503, seconds: float = 3600.0, hang: bool = False) -> None:
        """Answer `status` (or never answer, `hang`) to every API call for `seconds`: amoCRM is down."""
        with self._lock:
            self._fail_status, self._fail_until, self._hang = status, time.time() + seconds, hang

    def recover(self) -> None:
        with self._lock:
            self._fail_status, self._fail_until, self._hang = None, 0.0, False

    def reset(self) -> None:
        with self._lock:
            self.imports.clear()
            self.statuses.clear()
            self.rejected.clear()
            self.failed_requests = 0

    @staticmethod
    def hook_body(chat_id: str, text: str = "", media: str = "", file_name: str = "", account_id: str = "",
                  message_id: Optional[str] = None) -> Dict[str, Any]:
        """A v2 message hook of an operator's reply, as amoCRM posts it."""
        now = time.time()
        return {"account_id": account_id, "time": int(now), "message": {
            "receiver": {"id": str(uuid.uuid4()), "phone": chat_id.split("@", 1)[0], "email": "",
                         "client_id": f"wa-{chat_id}"},
            "sender": {"id": str(uuid.uuid4())},
            "conversation": {"id": str(uuid.uuid4()), "client_id": chat_id},
            "timestamp": int(now), "msec_timestamp": int(now * 1000),
            "message": {"id": message_id or str(uuid.uuid4()), "type": "picture" if media else "text",
                        "text": text, "tag": "", "media": media, "thumbnail": "", "file_name": file_name,
                        "file_size": 0}}}

    def post_hook(self, url: str, body: Dict[str, Any], secret: Optional[str] = None) -> httpx.Response:
        """POST a hook signed like amoCRM signs it (with `secret`, default the channel's)."""
        raw = encode_body(body)
        signature = hook_signature(self.secret if secret is None else secret, raw)
        return httpx.post(url, content=raw, headers={"Content-Type": "application/json", "X-Signature": signature},
                          timeout=30)

    # -- the protocol ------------------------------------------------------------------------------------------
    async def _check(self, request: web.Request) -> Tuple[bytes, Optional[web.Response]]:
        """(the body, None) for a well-signed request while the server is up; else (body, the refusal)."""
        raw = await request.read()
        problem = request_problem(self.secret, request.method, request.path, request.headers, raw, time.time())
        if problem is not None:
            with self._lock:
                self.rejected.append({"path": request.path, "problem": problem})
            missing = not (request.headers.get("X-Signature") and request.headers.get("Date"))
            return raw, web.json_response({"error": problem}, status=401 if missing else 403)
        with self._lock:
            failing = self._fail_status is not None and time.time() < self._fail_until
            status, hang = self._fail_status, self._hang
            if failing:
                self.failed_requests += 1
        if failing:
            if hang:
                await asyncio.sleep(3600)
            return raw, web.json_response({"error": "service unavailable"}, status=status or 503)
        return raw, None

    async def _connect(self, request: web.Request) -> web.Response:
        raw, refused = await self._check(request)
        if refused is not None:
            return refused
        if request.match_info["channel_id"] != self.channel_id:
            return web.json_response({"error": "channel not found"}, status=404)
        body = json.loads(raw)
        if body.get("account_id") != self.account_id:
            return web.json_response({"error": "account not found"}, status=400)
        with self._lock:
            self.connects += 1
        return web.json_response({"account_id": self.account_id, "scope_id": self.scope_id,
                                  "title": body.get("title", ""), "hook_api_version": "v2"})

    async def _import(self, request: web.Request) -> web.Response:
        raw, refused = await self._check(request)
        if refused is not None:
            return refused
        if request.match_info["scope_id"] != self.scope_id:
            return web.json_response({"error": "scope not found"}, status=404)
        body = json.loads(raw)
        payload = body.get("payload") if isinstance(body, dict) else None
        if body.get("event_type") != "new_message" or not isinstance(payload, dict) or not payload.get("msgid") \
                or not payload.get("conversation_id") or not isinstance(payload.get("sender"), dict) \
                or not isinstance(payload.get("message"), dict):
            return web.json_response({"error": "invalid payload"}, status=400)
        with self._lock:
            self.imports.append({"payload": payload, "at": time.time()})
        return web.json_response({"new_message": {
            "conversation_id": payload["conversation_id"], "sender_id": payload["sender"].get("id"),
            "receiver_id": (payload.get("receiver") or {}).get("id"), "msgid": str(uuid.uuid4()),
            "ref_id": payload["msgid"]}})

    async def _delivery_status(self, request: web.Request) -> web.Response:
        raw, refused = await self._check(request)
        if refused is not None:
            return refused
        body = json.loads(raw)
        with self._lock:
            self.statuses.append({"msgid": request.match_info["msgid"], **body})
        return web.Response(status=200)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/origin/custom/{channel_id}/connect", self._connect)
        app.router.add_post("/v2/origin/custom/{scope_id}/{msgid}/delivery_status", self._delivery_status)
        app.router.add_post("/v2/origin/custom/{scope_id}", self._import)
        return app

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "AmojoServer":
        self._server = BackgroundServer(self.app, self.port, "amojo-server").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> "AmojoServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.amojo_server", description=__doc__)
    parser.add_argument("--port", type=int, default=7800)
    args = parser.parse_args()
    server = AmojoServer(os.environ.get("AMOCRM_CHANNEL_ID", "local-channel"),
                         os.environ.get("AMOCRM_CHANNEL_SECRET", "local-secret"),
                         os.environ.get("AMOCRM_ACCOUNT_ID", "local-account"), args.port).start()
    print(f"amojo-compatible server on {server.url} (scope_id {server.scope_id})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
