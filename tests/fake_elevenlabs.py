"""A fake of the ElevenLabs Agents HTTP API on loopback, for the persona service's `elevenlabs` provider: the real
``elevenlabs`` SDK talks HTTP to it, no test needs the internet or a key.

It serves what the provider uses, as the SDK sends it: POST /v1/convai/agents/create, GET/PATCH/DELETE
/v1/convai/agents/{agent_id} and GET /v1/convai/conversation/get-signed-url?agent_id=..., each checking the
``xi-api-key`` header (401 without the right one). Every request is counted by (method, route) in ``requests``;
agents it holds are in ``agents`` and the bodies that created them in ``created``.

Requests answer as ``modes`` says, left to right, then normally:
    an int (429, 500...)  that status; a 429 says Retry-After: ``retry_after_seconds``
    "malformed"           200 with a body that is not JSON
    "empty"               200 with a JSON object lacking the fields asked for
    "held"                no answer until ``release`` is set (``holding`` is set when one arrives)
With ``failure_rate`` above 0, each request fails at random with that probability (a 500, a 429 with Retry-After
0, or a malformed body), counted in ``injected``.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API_KEY = "test-elevenlabs-key"
_AGENTS = "/v1/convai/agents/"


class FakeElevenLabs(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, seed: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api_key = API_KEY
        self.modes: deque[str | int] = deque()
        self.failure_rate = 0.0
        self.retry_after_seconds = 0.0
        self.holding = threading.Event()
        self.release = threading.Event()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.agents: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.injected = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, route: str) -> int:
        with self._lock:
            return self.requests[(method, route)]

    def _next(self, method: str, route: str) -> str | int:
        with self._lock:
            self.requests[(method, route)] += 1
            if self.modes:
                return self.modes.popleft()
            if self.failure_rate and self._random.random() < self.failure_rate:
                self.injected += 1
                return self._random.choice((500, 429, "malformed"))
            return "normal"


class _Handler(BaseHTTPRequestHandler):
    server: FakeElevenLabs

    def _route(self) -> tuple[str, str, dict[str, list[str]]]:
        """(route, agent id or '', query) of the request's path."""
        url = urlparse(self.path)
        if url.path == _AGENTS + "create":
            return "create", "", parse_qs(url.query)
        if url.path.startswith(_AGENTS):
            return "agent", url.path[len(_AGENTS):], parse_qs(url.query)
        if url.path == "/v1/convai/conversation/get-signed-url":
            return "signed_url", "", parse_qs(url.query)
        return "unknown", "", {}

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        route, agent_id, query = self._route()
        mode = self.server._next(method, route)
        if self.headers.get("xi-api-key") != self.server.api_key:
            self._send(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        elif mode == "held":
            self.server.holding.set()
            self.server.release.wait(timeout=60)
        elif isinstance(mode, int):
            headers = {"retry-after": f"{self.server.retry_after_seconds:g}"} if mode == 429 else {}
            self._send(mode, {"detail": {"status": "error", "message": "try later"}}, headers)
        elif mode == "malformed":
            self._send(200, b"<html>upstream connect error</html>")
        elif mode == "empty":
            self._send(200, {})
        else:
            self._answer(method, route, agent_id, query, body)

    def _answer(self, method: str, route: str, agent_id: str, query: dict[str, list[str]],
                body: dict[str, Any]) -> None:
        agents = self.server.agents
        if route == "create" and method == "POST":
            agent_id = f"agent_{uuid.uuid4().hex[:20]}"
            with self.server._lock:
                agents[agent_id] = body
                self.server.created.append(body)
            self._send(200, {"agent_id": agent_id})
        elif route == "signed_url" and method == "GET":
            wanted = query.get("agent_id", [""])[0]
            if wanted not in agents:
                self._send(404, {"detail": {"status": "agent_not_found", "message": "no such agent"}})
            else:
                self._send(200, {"signed_url": f"wss://api.elevenlabs.io/v1/convai/conversation?agent_id={wanted}"
                                               f"&conversation_signature={uuid.uuid4().hex}"})
        elif route == "agent" and agent_id in agents:
            if method == "DELETE":
                with self.server._lock:
                    del agents[agent_id]
                self._send(200, {})
            else:
                if method == "PATCH":
                    agents[agent_id] = {**agents[agent_id], **body}
                self._send(200, {"agent_id": agent_id, "name": agents[agent_id].get("name", ""),
                                 "conversation_config": agents[agent_id].get("conversation_config", {})})
        else:
            self._send(404, {"detail": {"status": "not_found", "message": f"{method} {self.path}"}})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, status: int, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(seed: int = 0) -> Iterator[FakeElevenLabs]:
    """A fake ElevenLabs on a free loopback port, in a thread, for the block."""
    server = FakeElevenLabs(seed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
