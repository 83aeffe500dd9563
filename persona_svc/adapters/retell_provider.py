"""Retell AI through the official ``retell-sdk``: per cache key, a Retell LLM holding the rendered system prompt and
first message, and an agent that speaks with it in the persona's voice and language; each round gets a web call's
access token. Retries: ``ProviderCalls`` (the SDK's own are off)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import retell
from retell import AsyncRetell

from persona_svc.adapters.provider_calls import (
    BAD_RESPONSE,
    CONNECTION_FAILED,
    NOT_FOUND,
    TIMEOUT,
    ProviderCalls,
    ProviderFailure,
    failure_of_status,
    text_of,
)
from persona_svc.domain import live_control
from persona_svc.domain.model import VoiceSettings
from persona_svc.domain.voice_agents import AgentSpec, Connection
from svckit.errors import DomainError

T = TypeVar("T")
KEY_SETTING = "PERSONA_RETELL_API_KEY"
DEFAULT_VOICE = "11labs-Adrian"  # Retell requires a voice; a persona naming none gets this one
# Retell names languages with their region; a bare ISO 639-1 code gets its most common one.
_REGIONS = {"en": "en-US", "pt": "pt-PT", "zh": "zh-CN", "ja": "ja-JP", "ko": "ko-KR", "hi": "hi-IN", "vi": "vi-VN",
            "sv": "sv-SE", "da": "da-DK", "cs": "cs-CZ", "el": "el-GR", "he": "he-IL", "uk": "uk-UA",
            "ar": "ar-SA", "ms": "ms-MY", "no": "no-NO"}


def retell_language(language: str) -> str:
    return language if "-" in language else _REGIONS.get(language, f"{language}-{language.upper()}")


async def _translated(attempt: Callable[[], Awaitable[T]]) -> T:
    """One SDK call, its failures as ProviderFailure."""
    try:
        return await attempt()
    except retell.APITimeoutError as error:
        raise ProviderFailure(TIMEOUT, type(error).__name__) from error
    except retell.APIConnectionError as error:
        raise ProviderFailure(CONNECTION_FAILED, str(error)) from error
    except retell.APIStatusError as error:
        raise failure_of_status(error.status_code, error.response.headers, str(error.body)) from error
    except (retell.APIResponseValidationError, ValueError) as error:  # ValueError: a body that is not JSON
        raise ProviderFailure(BAD_RESPONSE, f"the answer is not what the API documents ({error})") from error


def _agent_settings(voice: VoiceSettings) -> dict[str, Any]:
    settings: dict[str, Any] = {"voice_id": voice.voice_id or DEFAULT_VOICE,
                                "language": retell_language(voice.language), "voice_speed": voice.speed}
    if voice.tts_model:
        settings["voice_model"] = voice.tts_model
    return settings


class RetellProvider:
    name = "retell"
    live_controls = live_control.RETELL

    def __init__(self, api_key: str, base_url: str, calls: ProviderCalls) -> None:
        self._configured = bool(api_key)
        self._client = AsyncRetell(api_key=api_key or "not-configured", base_url=base_url, max_retries=0)
        self._calls = calls

    def check_configured(self) -> None:
        self._calls.require_key(self._configured)

    async def create_agent(self, spec: AgentSpec) -> str:
        async def create_llm() -> str:
            llm = await self._client.llm.create(general_prompt=spec.system_prompt, begin_message=spec.first_message)
            return text_of(llm, "llm_id")

        async def create_agent(llm_id: str) -> str:
            agent = await self._client.agent.create(
                response_engine={"type": "retell-llm", "llm_id": llm_id},
                agent_name=f"sparring {spec.cache_key[:12]}", **_agent_settings(spec.voice))
            return text_of(agent, "agent_id")

        llm_id = await self._calls.call("create_llm", lambda: _translated(create_llm))
        try:
            return await self._calls.call("create_agent", lambda: _translated(lambda: create_agent(llm_id)))
        except DomainError:
            with contextlib.suppress(DomainError):  # the agent's failure is the one to report
                await self._delete_llm(llm_id)
            raise

    async def connect(self, provider_agent_id: str) -> Connection | None:
        async def web_call() -> Connection | None:
            try:
                call = await _translated(lambda: self._client.call.create_web_call(agent_id=provider_agent_id))
            except ProviderFailure as failure:
                if failure.outcome == NOT_FOUND:  # deleted at Retell, outside this service
                    return None
                raise
            return Connection(access_token=text_of(call, "access_token"))

        return await self._calls.call("create_web_call", web_call)

    async def delete_agent(self, provider_agent_id: str) -> bool:
        """Deletes the agent and its LLM; False when the agent was gone already."""

        async def llm_of() -> str | None:
            try:
                agent = await _translated(lambda: self._client.agent.retrieve(provider_agent_id))
            except ProviderFailure as failure:
                if failure.outcome == NOT_FOUND:
                    return None
                raise
            return text_of(getattr(agent, "response_engine", None), "llm_id")

        async def delete() -> None:
            try:
                await _translated(lambda: self._client.agent.delete(provider_agent_id))
            except ProviderFailure as failure:
                if failure.outcome != NOT_FOUND:
                    raise

        llm_id = await self._calls.call("get_agent", llm_of)
        if llm_id is None:
            return False
        await self._calls.call("delete_agent", delete)
        await self._delete_llm(llm_id)
        return True

    async def _delete_llm(self, llm_id: str) -> None:
        async def delete() -> None:
            try:
                await _translated(lambda: self._client.llm.delete(llm_id))
            except ProviderFailure as failure:
                if failure.outcome != NOT_FOUND:
                    raise

        await self._calls.call("delete_llm", delete)

    async def close(self) -> None:
        await self._client.close()
