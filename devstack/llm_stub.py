"""A local server that speaks the OpenAI chat-completions protocol and answers from a script.

Used by the tests and the benchmark in place of a real LLM: it runs in a thread of the test process, listens on
a free port, checks the Bearer key like the real API, records every request, and answers each one with the next
scripted behaviour (a JSON reply, raw text, an HTTP error or a delay). With no script left it gives a grounded
default: the first fact line of the first retrieved passage.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional

from aiohttp import web

from devstack.background import BackgroundServer

API_KEY = "sk-local-stub"


@dataclass
class Behaviour:
    content: Optional[str] = None     # the assistant message content
    status: int = 200                 # != 200: an OpenAI-style error body
    delay: float = 0.0                # seconds before answering


def reply(answer: str, unsure: bool = False, delay: float = 0.0) -> Behaviour:
    return Behaviour(json.dumps({"answer": answer, "unsure": unsure}, ensure_ascii=False), delay=delay)


def raw(content: str) -> Behaviour:
    return Behaviour(content)


def error(status: int) -> Behaviour:
    return Behaviour(status=status)


def slow(seconds: float) -> Behaviour:
    return Behaviour(json.dumps({"answer": "поздний ответ", "unsure": False}), delay=seconds)


def default_content(body: Dict[str, Any]) -> str:
    user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
    # passage [1] is «[1] (file · section)», then the section heading, then its text
    match = re.search(r"^\[1\] \(.*?\)\n.*\n((?:(?!\[2\] \().*\n?)+)", user, flags=re.M)
    lines = [line.lstrip("- ").strip() for line in (match.group(1).splitlines() if match else [])]
    fact = next((line for line in lines if line), "")
    if not fact:
        return json.dumps({"answer": "", "unsure": True})
    return json.dumps({"answer": fact, "unsure": False}, ensure_ascii=False)


class LLMStub:
    def __init__(self, api_key: str = API_KEY):
        self.api_key = api_key
        self.requests: List[Dict[str, Any]] = []
        self._script: Deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._server: Optional[BackgroundServer] = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script and record ------------------------------------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.clear()
            self._script.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def user_prompts(self) -> List[str]:
        with self._lock:
            return [next(m["content"] for m in r["messages"] if m["role"] == "user") for r in self.requests]

    # -- the protocol -----------------------------------------------------------------------------------------
    async def _completions(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Incorrect API key provided",
                                                 "type": "invalid_request_error", "code": "invalid_api_key"}},
                                     status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "invalid JSON", "type": "invalid_request_error"}},
                                     status=400)
        with self._lock:
            self.requests.append(body)
            behaviour = self._script.popleft() if self._script else None
        if behaviour is None:
            behaviour = Behaviour(default_content(body))
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.status != 200:
            return web.json_response({"error": {"message": f"scripted failure {behaviour.status}",
                                                "type": "server_error"}}, status=behaviour.status)
        prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
        return web.json_response({
            "id": f"chatcmpl-stub-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": behaviour.content}}],
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(behaviour.content or "") // 4,
                      "total_tokens": prompt_chars // 4 + len(behaviour.content or "") // 4},
        })

    # -- lifecycle --------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_post("/chat/completions", self._completions)
        return app

    def start(self) -> "LLMStub":
        self._server = BackgroundServer(self.app, self.port, "llm-stub").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> "LLMStub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
