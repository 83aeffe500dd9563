"""One JSON-answering chat call against any OpenAI-compatible endpoint, shared by the services' `openai` engines.

Timeouts and bounded retries are the ``openai`` client's own. Anything that keeps the answer from being a JSON
object (unreachable, refused, slow, rate limited, not JSON) raises ``EngineFailure``; the engines check the
object's fields themselves and raise ``EngineFailure("invalid_answer", ...)`` when one is wrong. Callers fall
back to their `local` engine and count the failure's ``reason`` in their fall-back metric.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import openai

# The reasons an EngineFailure carries: the label values of the fall-back metrics.
TIMEOUT, RATE_LIMITED, UNREACHABLE = "timeout", "rate_limited", "unreachable"
# Of a caller's deadline, what is kept back from the model for storing the result (local if the model is late).
DEADLINE_RESERVE_SECONDS = 0.5
T = TypeVar("T")
MALFORMED_JSON, INVALID_ANSWER = "malformed_json", "invalid_answer"


class EngineFailure(Exception):
    """The engine's answer cannot be used; ``reason`` labels the fall-back metric."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class OpenAIJson:
    """A chat-completions client that answers with one JSON object (``response_format`` json_object)."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int) -> None:
        self.model = model
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_seconds,
                                          max_retries=max_retries)

    async def complete_json(self, system: str, user: str) -> dict[str, Any]:
        """The model's answer to one system and one user message, as a JSON object, or EngineFailure."""
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format={"type": "json_object"},
            )
        except openai.APITimeoutError as error:
            raise EngineFailure(TIMEOUT, str(error)) from error
        except openai.RateLimitError as error:
            raise EngineFailure(RATE_LIMITED, str(error)) from error
        except openai.APIStatusError as error:
            raise EngineFailure(f"http_{error.status_code}", str(error)) from error
        except openai.APIError as error:
            raise EngineFailure(UNREACHABLE, str(error)) from error
        content = response.choices[0].message.content if response.choices else None
        return parse_json_object(content or "")

    async def close(self) -> None:
        await self._client.close()


def parse_json_object(content: str) -> dict[str, Any]:
    """The content as a JSON object: malformed_json when it is not JSON, invalid_answer when not an object."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise EngineFailure(MALFORMED_JSON, str(error)) from error
    if not isinstance(data, dict):
        raise EngineFailure(INVALID_ANSWER, f"the answer must be a JSON object (got {type(data).__name__})")
    return data


def deadline_of(time_remaining: float | None) -> float | None:
    """A caller's remaining seconds (``context.time_remaining()``) as a monotonic deadline; None for none."""
    return None if time_remaining is None else time.monotonic() + time_remaining


async def within_deadline(answer: Awaitable[T], deadline: float | None) -> T:
    """The model's answer, or EngineFailure(timeout) once only the reserve of the caller's deadline is left, so
    the caller still gets a (local) result instead of a cancelled call."""
    left = None if deadline is None else deadline - time.monotonic() - DEADLINE_RESERVE_SECONDS
    if left is not None and left <= 0:
        if asyncio.iscoroutine(answer):
            answer.close()
        raise EngineFailure(TIMEOUT, "no time left for the model within the caller's deadline")
    try:
        async with asyncio.timeout(left):
            return await answer
    except TimeoutError as error:
        raise EngineFailure(TIMEOUT, "no answer within the caller's deadline") from error
