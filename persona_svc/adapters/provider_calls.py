"""One operation at a voice provider, tried again while a second try may mend it, each try counted.

Each try gets the per-try timeout (and no more than what is left of the budget). Timeouts, broken connections,
429 (after its Retry-After, when the budget allows it), 5xx and malformed answers are tried again, up to
``max_retries`` times with a jittered exponential back-off; then the operation fails with UNAVAILABLE
(VOICE_PROVIDER_UNAVAILABLE) naming the provider, the operation and the last outcome. A refused key is
FAILED_PRECONDITION (PROVIDER_KEY_REFUSED), any other refusal FAILED_PRECONDITION (PROVIDER_REJECTED): trying
again would not change them.

Outcomes, the label of ``sparring_persona_voice_provider_requests_total``: ok, not_found, timeout,
connection_failed, rate_limited, server_error, bad_response, unauthorized, rejected.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import pydantic
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from persona_svc.adapters.voice_providers import PROVIDER_REQUESTS
from svckit.errors import DomainError, FailedPrecondition, Unavailable
from svckit.openai_json import retry_after

T = TypeVar("T")
OK, NOT_FOUND, TIMEOUT, CONNECTION_FAILED = "ok", "not_found", "timeout", "connection_failed"
RATE_LIMITED, SERVER_ERROR, BAD_RESPONSE = "rate_limited", "server_error", "bad_response"
UNAUTHORIZED, REJECTED = "unauthorized", "rejected"
RETRIED = frozenset({TIMEOUT, CONNECTION_FAILED, RATE_LIMITED, SERVER_ERROR, BAD_RESPONSE})
_BACKOFF = wait_exponential_jitter(multiplier=0.1, max=2, jitter=0.1)


class ProviderFailure(Exception):
    """One try that failed; ``outcome`` labels the metric and says whether to try again."""

    def __init__(self, outcome: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail
        self.retry_after = retry_after


def failure_of_status(status: int, headers: Mapping[str, str], detail: str) -> ProviderFailure:
    """The failure an HTTP error status means."""
    outcome = (RATE_LIMITED if status == 429 else SERVER_ERROR if status >= 500
               else UNAUTHORIZED if status in (401, 403) else NOT_FOUND if status == 404 else REJECTED)
    return ProviderFailure(outcome, f"HTTP {status}: {detail[:300]}", retry_after(headers))


async def sdk_call(attempt: Callable[[], Awaitable[T]], api_error: type[Exception],
                   parsing_error: type[Exception]) -> T:
    """One call of a provider SDK generated like the ElevenLabs and Vapi ones (an ``api_error`` with status_code,
    headers and body; a ``parsing_error`` for a body of the wrong shape), its failures as ProviderFailure."""
    try:
        return await attempt()
    except api_error as error:
        status = getattr(error, "status_code", None) or 0
        if 200 <= status < 300:  # a 2xx whose body is not JSON
            raise ProviderFailure(BAD_RESPONSE, f"HTTP {status} with a body that is not JSON") from error
        raise failure_of_status(status, getattr(error, "headers", None) or {},
                                str(getattr(error, "body", ""))) from error
    except httpx.TimeoutException as error:
        raise ProviderFailure(TIMEOUT, type(error).__name__) from error
    except httpx.TransportError as error:
        raise ProviderFailure(CONNECTION_FAILED, f"{type(error).__name__}: {error}") from error
    except (parsing_error, pydantic.ValidationError, json.JSONDecodeError) as error:
        raise ProviderFailure(BAD_RESPONSE, f"the answer is not what the API documents ({error})") from error


def text_of(reply: Any, field: str) -> str:
    """A text field the provider's answer must carry; bad_response without it."""
    value = getattr(reply, field, None)
    if not isinstance(value, str) or not value:
        raise ProviderFailure(BAD_RESPONSE, f"the answer has no {field}")
    return value


class ProviderCalls:
    def __init__(self, provider: str, key_setting: str, timeout_seconds: float, max_retries: int,
                 budget_seconds: float) -> None:
        self._provider = provider
        self._key_setting = key_setting
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._budget = budget_seconds

    def require_key(self, configured: bool) -> None:
        """Refuses, before any request, a provider chosen without its API key."""
        if not configured:
            raise FailedPrecondition(f"the {self._provider} voice provider has no API key: set {self._key_setting}",
                                     reason="PROVIDER_NOT_CONFIGURED",
                                     metadata={"provider": self._provider, "setting": self._key_setting})

    async def call(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` (which raises ProviderFailure for what went wrong) until it succeeds or may not be tried
        again; then a domain error."""
        deadline = time.monotonic() + self._budget

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            asked = failure.retry_after if isinstance(failure, ProviderFailure) else None
            return _BACKOFF(state) if asked is None else asked

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: isinstance(error, ProviderFailure) and error.outcome in RETRIED),
            wait=wait,
            # A wait (a long Retry-After) that would end past the budget is not waited for.
            stop=stop_after_attempt(1 + self._max_retries) | stop_before_delay(self._budget), reraise=True)
        try:
            return await retrying(self._once, operation, attempt, deadline)
        except ProviderFailure as failure:
            raise self._domain_error(operation, failure) from failure

    async def _once(self, operation: str, attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
        try:
            async with asyncio.timeout(max(0.0, min(self._timeout, deadline - time.monotonic()))):
                result = await attempt()
        except TimeoutError as error:
            failure = ProviderFailure(TIMEOUT, f"no answer within {self._timeout:g} s")
            PROVIDER_REQUESTS.labels(self._provider, operation, failure.outcome).inc()
            raise failure from error
        except ProviderFailure as failure:
            PROVIDER_REQUESTS.labels(self._provider, operation, failure.outcome).inc()
            raise
        PROVIDER_REQUESTS.labels(self._provider, operation, OK).inc()
        return result

    def _domain_error(self, operation: str, failure: ProviderFailure) -> DomainError:
        metadata = {"provider": self._provider, "operation": operation, "outcome": failure.outcome}
        if failure.outcome == UNAUTHORIZED:
            return FailedPrecondition(f"voice provider {self._provider} refused the API key ({failure.detail}); "
                                      f"check {self._key_setting}", reason="PROVIDER_KEY_REFUSED",
                                      metadata={**metadata, "setting": self._key_setting})
        if failure.outcome in RETRIED:
            return Unavailable(f"voice provider {self._provider} did not complete {operation} "
                               f"({failure.detail}); try again later", reason="VOICE_PROVIDER_UNAVAILABLE",
                               metadata=metadata)
        return FailedPrecondition(f"voice provider {self._provider} refused {operation} ({failure.detail})",
                                  reason="PROVIDER_REJECTED", metadata=metadata)
