"""One JSON-answering chat call against any OpenAI-compatible endpoint, shared by the services' `openai` engines.

Anything that keeps the answer from being a JSON object raises ``EngineFailure``; the engines check the object's
fields themselves and raise ``EngineFailure(INVALID_ANSWER, ...)`` when one is wrong. Callers fall back to their
`local` engine and count the failure's ``reason`` in their fall-back metric. The reasons, the metrics' label values:

    timeout            no whole answer within the client's timeout (a body that trickles in counts) or the caller's
                       deadline
    connection_failed  no connection, or it broke before the answer was whole (refused, reset, truncated body)
    rate_limited       429
    unauthorized       401 or 403: the key is wrong or lacks the right
    rejected           any other 4xx: the request was refused (wrong model, wrong URL, bad request)
    server_error       5xx
    bad_response       a 200 that is no chat completion with an answer (a body that is not JSON, such as a proxy's
                       text or HTML page; no choices; no message content)
    malformed_json     the model's answer is not JSON
    invalid_answer     the model's JSON is not what was asked for (shape, field, range)

Each try of a call gets the client's timeout, whole. Timeouts, broken connections, 429 and 5xx are tried again, up
to ``max_retries`` times, after the endpoint's Retry-After or an exponential back-off, but only while the wait ends
within (1 + max_retries) x timeout of the first try: a longer Retry-After is not waited for, the caller falls back.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

TIMEOUT, CONNECTION_FAILED, RATE_LIMITED = "timeout", "connection_failed", "rate_limited"
UNAUTHORIZED, REJECTED, SERVER_ERROR = "unauthorized", "rejected", "server_error"
BAD_RESPONSE, MALFORMED_JSON, INVALID_ANSWER = "bad_response", "malformed_json", "invalid_answer"
RETRIED = frozenset({TIMEOUT, CONNECTION_FAILED, RATE_LIMITED, SERVER_ERROR})  # what a second try may mend
# Of a caller's deadline, what is kept back from the model for storing the result (local if the model is late).
DEADLINE_RESERVE_SECONDS = 0.5
T = TypeVar("T")
_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=8, jitter=0.25)  # about the openai SDK's own schedule


class EngineFailure(Exception):
    """The engine's answer cannot be used; ``reason`` labels the fall-back metric."""

    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after  # seconds the endpoint asked to wait before trying again


class OpenAIJson:
    """A chat-completions client that answers with one JSON object (``response_format`` json_object)."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int) -> None:
        self.model = model
        self._timeout_seconds = timeout_seconds
        # The retries are ours, not the SDK's: it waits out a Retry-After of up to two minutes, and its timeout
        # bounds each read of the body, not the whole of it.
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_seconds,
                                          max_retries=0)
        self._content_with_retries = AsyncRetrying(
            retry=retry_if_exception(lambda error: isinstance(error, EngineFailure) and error.reason in RETRIED),
            wait=_wait,
            stop=stop_after_attempt(1 + max_retries) | stop_before_delay((1 + max_retries) * timeout_seconds),
            reraise=True,
        ).wraps(self._content)

    async def complete_json(self, system: str, user: str) -> dict[str, Any]:
        """The model's answer to one system and one user message, as a JSON object, or EngineFailure."""
        return parse_json_object(await self._content_with_retries(system, user))

    async def _content(self, system: str, user: str) -> str:
        """One try: the answer's text, or EngineFailure."""
        try:
            async with asyncio.timeout(self._timeout_seconds):
                completion = await self._client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    response_format={"type": "json_object"},
                )
        except (TimeoutError, openai.APITimeoutError) as error:
            raise EngineFailure(TIMEOUT, f"no whole answer within {self._timeout_seconds:g} s") from error
        except openai.APIStatusError as error:
            raise _refusal(error) from error
        except openai.APIConnectionError as error:
            raise EngineFailure(CONNECTION_FAILED, f"{error} ({error.__cause__!r})") from error
        except (openai.OpenAIError, ValueError) as error:  # ValueError: a body sent as JSON that is not JSON
            raise EngineFailure(BAD_RESPONSE, f"the body is not a chat completion ({error})") from error
        return content_of(completion)

    async def close(self) -> None:
        await self._client.close()


def _refusal(error: openai.APIStatusError) -> EngineFailure:
    status = error.status_code
    reason = (RATE_LIMITED if status == 429 else SERVER_ERROR if status >= 500
              else UNAUTHORIZED if status in (401, 403) else REJECTED)
    return EngineFailure(reason, str(error), retry_after=retry_after(error.response.headers))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a Retry-After header asks for (a number or an HTTP date), None without a readable one."""
    value = headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _wait(state: RetryCallState) -> float:
    """The endpoint's Retry-After when it sent one, otherwise an exponential back-off."""
    failure = state.outcome.exception() if state.outcome else None
    asked = failure.retry_after if isinstance(failure, EngineFailure) else None
    return _BACKOFF(state) if asked is None else asked


def content_of(completion: object) -> str:
    """The first choice's message content; bad_response when the reply is no chat completion or carries none."""
    if not isinstance(completion, ChatCompletion):  # what the SDK hands back for a body of another content type
        raise EngineFailure(BAD_RESPONSE, f"not a chat completion (got {type(completion).__name__})")
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as error:
        raise EngineFailure(BAD_RESPONSE, "the reply has no choice with a message") from error
    if not isinstance(content, str):
        raise EngineFailure(BAD_RESPONSE, f"the first choice has no text (got {content!r})")
    return content


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
