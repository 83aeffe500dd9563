"""What the loopback fakes of the voice providers' HTTP APIs share (devtools/fake_elevenlabs.py, tests/fake_retell.py):
a threaded server that counts every request by (method, route), checks the caller's key, keeps the agents it
made, and fails on request.

Requests answer as ``modes`` says, left to right, then normally:
    an int (429, 500...)  that status; a 429 says Retry-After: ``retry_after_seconds``
    "malformed"           200 with a body that is not JSON
    "empty"               200 with a JSON object lacking the fields asked for
    "held"                no answer until ``release`` is set (``holding`` is set when one arrives)
With ``failure_rate`` above 0, each request fails at random with that probability (a 500, a 429 with Retry-After
0, or a malformed body), counted in ``injected``. A request without the right key is answered 401.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter, deque
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

Answer = tuple[int, dict[str, Any]]
Fake = TypeVar("Fake", bound="FakeProvider")


class FakeProvider(ThreadingHTTPServer):
    daemon_threads = True
    api_key = ""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.key = self.api_key
        self.modes: deque[str | int] = deque()
        self.failure_rate = 0.0
        self.retry_after_seconds = 0.0
        self.holding = threading.Event()
        self.release = threading.Event()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.agents: dict[str, dict[str, Any]] = {}
        self.injected = 0
        self.lock = threading.Lock()
        self._random = random.Random(seed)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, route: str) -> int:
        with self.lock:
            return self.requests[(method, route)]

    def authorized(self, headers: Message) -> bool:
        raise NotImplementedError

    def route(self, path: str) -> tuple[str, str]:
        """(route, agent id or '') of a request path."""
        raise NotImplementedError

    def answer(self, method: str, route: str, agent_id: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> Answer:
        raise NotImplementedError

    def _next(self, method: str, route: str) -> str | int:
        with self.lock:
            self.requests[(method, route)] += 1
            if self.modes:
                return self.modes.popleft()
            if self.failure_rate and self._random.random() < self.failure_rate:
                self.injected += 1
                return self._random.choice((500, 429, "malformed"))
            return "normal"


class _Handler(BaseHTTPRequestHandler):
    server: FakeProvider

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        url = urlparse(self.path)
        route, agent_id = self.server.route(url.path)
        mode = self.server._next(method, route)
        if not self.server.authorized(self.headers):
            self._send(401, {"message": "invalid key"})
        elif mode == "held":
            self.server.holding.set()
            self.server.release.wait(timeout=60)
        elif isinstance(mode, int):
            headers = {"retry-after": f"{self.server.retry_after_seconds:g}"} if mode == 429 else {}
            self._send(mode, {"message": "try later"}, headers)
        elif mode == "malformed":
            self._send(200, b"<html>upstream connect error</html>")
        elif mode == "empty":
            self._send(200, {})
        else:
            self._send(*self.server.answer(method, route, agent_id, parse_qs(url.query), body))

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
def serving(fake: Fake) -> Iterator[Fake]:
    """``fake`` on its loopback port, in a thread, for the block."""
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        fake.shutdown()
        fake.server_close()
