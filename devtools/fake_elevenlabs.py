"""A fake of the ElevenLabs Agents HTTP API on loopback, for the persona service's `elevenlabs` provider: the real
``elevenlabs`` SDK talks HTTP to it, no test needs the internet or a key.

It serves what the provider uses, as the SDK sends it: POST /v1/convai/agents/create, GET/PATCH/DELETE
/v1/convai/agents/{agent_id} and GET /v1/convai/conversation/get-signed-url?agent_id=..., each checking the
``xi-api-key`` header. Failures on request and counting: devtools/fake_provider.py. The tests and the voice
benchmark use it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from email.message import Message
from typing import Any

from devtools import fake_provider
from devtools.fake_provider import Answer, FakeProvider

API_KEY = "test-elevenlabs-key"
_AGENTS = "/v1/convai/agents/"


class FakeElevenLabs(FakeProvider):
    api_key = API_KEY

    def authorized(self, headers: Message) -> bool:
        return headers.get("xi-api-key") == self.key

    def route(self, path: str) -> tuple[str, str]:
        if path == _AGENTS + "create":
            return "create", ""
        if path.startswith(_AGENTS):
            return "agent", path[len(_AGENTS):]
        if path == "/v1/convai/conversation/get-signed-url":
            return "signed_url", ""
        return "unknown", ""

    def answer(self, method: str, route: str, agent_id: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> Answer:
        missing = 404, {"detail": {"status": "agent_not_found", "message": "no such agent"}}
        if route == "create" and method == "POST":
            agent_id = f"agent_{uuid.uuid4().hex[:20]}"
            with self.lock:
                self.agents[agent_id] = body
            return 200, {"agent_id": agent_id}
        if route == "signed_url" and method == "GET":
            wanted = query.get("agent_id", [""])[0]
            if wanted not in self.agents:
                return missing
            return 200, {"signed_url": f"wss://api.elevenlabs.io/v1/convai/conversation?agent_id={wanted}"
                                       f"&conversation_signature={uuid.uuid4().hex}"}
        if route == "agent" and agent_id in self.agents:
            with self.lock:
                if method == "DELETE":
                    del self.agents[agent_id]
                    return 200, {}
                if method == "PATCH":
                    self.agents[agent_id] = {**self.agents[agent_id], **body}
                return 200, {"agent_id": agent_id, **self.agents[agent_id]}
        return missing


@contextlib.contextmanager
def serving(seed: int = 0) -> Iterator[FakeElevenLabs]:
    with fake_provider.serving(FakeElevenLabs(seed)) as fake:
        yield fake
