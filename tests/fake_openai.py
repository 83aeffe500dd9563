"""A fake OpenAI-compatible endpoint on loopback, for the services' `openai` engines: the real ``openai`` client
talks HTTP to it, no test needs the internet or a key.

The server answers POST /v1/chat/completions as its ``mode`` says:
    "good"                200, the content ``answer(request)`` gives (a dict is sent as JSON, a str as it is)
    "malformed"           200, content that is not JSON
    "slow"                like "good", after ``slow_seconds`` (make it longer than the client's timeout)
    "trickle"             like "good", the headers at once, the body in pieces spread over ``slow_seconds``
    "not_json"            200, application/json, a body that is not JSON
    "truncated"           200, half the body its content-length announces, then the connection closed
    "wrong_content_type"  200, text/html: a proxy's page instead of a chat completion
    "no_choices"          200, a chat completion without choices
    "reset"               the connection reset (TCP RST) instead of an answer
    "held"                like "good", once ``release`` is set; ``holding`` is set when such a request has arrived
    an int (429, 500...)  that status with an OpenAI-style error body; a 429 says Retry-After: ``retry_after_seconds``
``modes`` is a queue that overrides ``mode`` request by request (left to right) until it is empty. Every request
body is kept in ``bodies``; ``requests`` counts them.

POST /v1/embeddings follows the same modes, and answers each input with a deterministic embedding: its words hashed
into ``EMBEDDING_DIMENSIONS`` signed buckets, normalised. It measures the plumbing of vector recall (storing,
comparing, fusing), not what a real embedding model would recall: two texts are alike only by the words they share.

    with serving(answer) as fake:
        fake.mode = "good"
        ...
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], dict[str, Any] | str]
MALFORMED = '{"answer": {"score": "high"'
TRICKLE_PIECES = 10  # slow_seconds / 10 between pieces: each read is quick, the whole body is not
EMBEDDING_DIMENSIONS = 256


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True
    # An evolution run's simulated calls all connect at once (48 in the closed loop's validation).
    request_queue_size = 128

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.mode: str | int = "good"
        self.modes: deque[str | int] = deque()
        self.slow_seconds = 1.0
        self.retry_after_seconds = 30  # longer than any client here waits: a 429 must not hold a call that long
        self.holding = threading.Event()
        self.release = threading.Event()
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def reset(self, mode: str | int = "good", answer: Answer | None = None) -> None:
        with self._lock:
            self.mode = mode
            self.modes.clear()
            if answer is not None:
                self.answer = answer

    def _next(self, body: dict[str, Any]) -> tuple[str | int, Answer]:
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            return (self.modes.popleft() if self.modes else self.mode), self.answer


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        mode, answer = self.server._next(body)
        if mode == "reset":
            # Linger 0: closing sends RST, as a crashed proxy or a dropped connection does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if isinstance(mode, int):
            headers = {"retry-after": str(self.server.retry_after_seconds)} if mode == 429 else {}
            self._send(mode, _json({"error": {"message": "try later", "type": "server_error"}}), headers=headers)
            return
        if mode == "not_json":
            self._send(200, b"upstream connect error or disconnect/reset before headers")
            return
        if mode == "wrong_content_type":
            self._send(200, b"<html><body><h1>Service Unavailable</h1></body></html>", content_type="text/html")
            return
        if mode == "slow":
            time.sleep(self.server.slow_seconds)  # longer than the client's timeout: the behaviour under test
        if mode == "held":
            self.server.holding.set()
            self.server.release.wait(timeout=60)
        if self.path.endswith("/embeddings"):
            inputs = body.get("input", [])
            self._send(200, _json({"object": "list", "model": body.get("model", ""), "data": [
                {"object": "embedding", "index": index, "embedding": hashed_bag_of_words(text)}
                for index, text in enumerate([inputs] if isinstance(inputs, str) else inputs)],
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
            return
        if mode == "malformed":
            content = MALFORMED
        else:
            produced = answer(body)
            content = produced if isinstance(produced, str) else json.dumps(produced)
        choices = [] if mode == "no_choices" else [{"index": 0, "finish_reason": "stop",
                                                    "message": {"role": "assistant", "content": content}}]
        payload = _json({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
                         "choices": choices, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        if mode == "truncated":
            self._send(200, payload, sent=len(payload) // 2)
        elif mode == "trickle":
            self._send(200, payload, pieces=TRICKLE_PIECES)
        else:
            self._send(200, payload)

    def _send(self, status: int, payload: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None, sent: int | None = None, pieces: int = 1) -> None:
        """The headers (content-length: the whole payload), then the first ``sent`` bytes of it, in ``pieces``
        spread over ``slow_seconds``."""
        body = payload[:sent]
        size = -(-len(body) // pieces)
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            for start in range(0, len(body), size):
                if start:
                    time.sleep(self.server.slow_seconds / pieces)
                self.wfile.write(body[start:start + size])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout), as the slow modes mean it to

    def log_message(self, *args) -> None:
        pass


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def messages(body: dict[str, Any]) -> tuple[str, str]:
    """The (system, user) contents of a chat request."""
    by_role = {message["role"]: message["content"] for message in body.get("messages", ())}
    return by_role.get("system", ""), by_role.get("user", "")


@contextlib.contextmanager
def serving(answer: Answer) -> Iterator[FakeOpenAI]:
    """A fake endpoint on a free loopback port, in a thread, for the block."""
    server = FakeOpenAI(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def hashed_bag_of_words(text: str) -> list[float]:
    """The fake's embedding: each word adds +1 or -1 to one of EMBEDDING_DIMENSIONS buckets (both chosen by a hash of
    the word), and the sum is normalised to length 1 (all zeros for a text without words)."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[digest % EMBEDDING_DIMENSIONS] += 1.0 if digest >> 63 else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector
