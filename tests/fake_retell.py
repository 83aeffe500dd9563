"""A fake of the Retell AI HTTP API on loopback, for the persona service's `retell` provider: the real
``retell-sdk`` talks HTTP to it. It serves POST /create-retell-llm, POST /create-agent, GET /get-agent/{id},
DELETE /delete-agent/{id}, DELETE /delete-retell-llm/{id} and POST /v3/create-web-call, checking the
``Authorization: Bearer`` key. ``agents`` holds the agents, ``llms`` the LLMs. Failures on request and counting:
devtools/fake_provider.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from email.message import Message
from typing import Any

from devtools import fake_provider
from devtools.fake_provider import Answer, FakeProvider

API_KEY = "test-retell-key"
_ROUTES = ("/create-retell-llm", "/create-agent", "/get-agent/", "/delete-agent/", "/delete-retell-llm/",
           "/v3/create-web-call")


class FakeRetell(FakeProvider):
    api_key = API_KEY

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.llms: dict[str, dict[str, Any]] = {}

    def authorized(self, headers: Message) -> bool:
        return headers.get("authorization") == f"Bearer {self.key}"

    def route(self, path: str) -> tuple[str, str]:
        for prefix in _ROUTES:
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return prefix.strip("/").removeprefix("v3/"), path[len(prefix):] if prefix.endswith("/") else ""
        return "unknown", ""

    def answer(self, method: str, route: str, agent_id: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> Answer:
        missing = 404, {"status": "error", "message": "Not Found"}
        with self.lock:
            if route == "create-retell-llm":
                llm_id = f"llm_{uuid.uuid4().hex[:16]}"
                self.llms[llm_id] = body
                return 201, {"llm_id": llm_id, "version": 0, **body}
            if route == "create-agent":
                if body.get("response_engine", {}).get("llm_id") not in self.llms:
                    return 400, {"status": "error", "message": "unknown llm_id"}
                agent_id = f"agent_{uuid.uuid4().hex[:16]}"
                self.agents[agent_id] = body
                return 201, {"agent_id": agent_id, "version": 0, "last_modification_timestamp": 0, **body}
            if route == "create-web-call":
                if body.get("agent_id") not in self.agents:
                    return missing
                return 201, {"call_type": "web_call", "call_id": uuid.uuid4().hex, "agent_id": body["agent_id"],
                             "call_status": "registered", "access_token": f"eyJ{uuid.uuid4().hex}"}
            if route == "get-agent" and agent_id in self.agents:
                return 200, {"agent_id": agent_id, "version": 0, "last_modification_timestamp": 0,
                             **self.agents[agent_id]}
            if route == "delete-agent" and agent_id in self.agents:
                del self.agents[agent_id]
                return 204, {}
            if route == "delete-retell-llm" and agent_id in self.llms:
                del self.llms[agent_id]
                return 204, {}
        return missing


@contextlib.contextmanager
def serving(seed: int = 0) -> Iterator[FakeRetell]:
    with fake_provider.serving(FakeRetell(seed)) as fake:
        yield fake
