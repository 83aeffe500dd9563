"""ElevenLabs Agents through the official ``elevenlabs`` SDK: an agent per cache key, made of the rendered system
prompt, first message, language and the persona's voice settings, and a signed URL for each conversation.

The SDK's own retries are off: ours (``ProviderCalls``) bound the whole operation, honour Retry-After within the
budget and count every try."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from elevenlabs import (
    AgentConfig,
    AgentConfigOverrideConfig,
    AgentPlatformSettingsRequestModel,
    AsyncElevenLabs,
    ConversationalConfig,
    ConversationConfigClientOverrideConfigInput,
    ConversationInitiationClientDataConfigInput,
    PromptAgentApiModelOutput,
    PromptAgentApiModelOverrideConfig,
    TtsConversationalConfigOutput,
)
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.parse_error import ParsingError
from elevenlabs.core.request_options import RequestOptions

from persona_svc.adapters.provider_calls import (
    NOT_FOUND,
    ProviderCalls,
    ProviderFailure,
    sdk_call,
    text_of,
)
from persona_svc.domain import live_control
from persona_svc.domain.voice_agents import AgentSpec, Connection

T = TypeVar("T")
KEY_SETTING = "PERSONA_ELEVENLABS_API_KEY"
_NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}


async def _translated(attempt: Callable[[], Awaitable[T]]) -> T:
    return await sdk_call(attempt, ApiError, ParsingError)


def conversation_config(spec: AgentSpec) -> ConversationalConfig:
    voice = spec.voice
    return ConversationalConfig(
        agent=AgentConfig(first_message=spec.first_message, language=voice.language,
                          prompt=PromptAgentApiModelOutput(prompt=spec.system_prompt)),
        tts=TtsConversationalConfigOutput(voice_id=voice.voice_id or None, model_id=voice.tts_model or None,
                                          stability=voice.stability, similarity_boost=voice.similarity_boost,
                                          speed=voice.speed))


# A handoff's conversation starts with the new persona's prompt and first message with the packet folded in
# (live_control.ELEVENLABS): ElevenLabs accepts these two overrides only from agents that allow them.
HANDOFF_OVERRIDES = AgentPlatformSettingsRequestModel(overrides=ConversationInitiationClientDataConfigInput(
    conversation_config_override=ConversationConfigClientOverrideConfigInput(agent=AgentConfigOverrideConfig(
        first_message=True, prompt=PromptAgentApiModelOverrideConfig(prompt=True)))))


class ElevenLabsProvider:
    name = "elevenlabs"
    live_controls = live_control.ELEVENLABS

    def __init__(self, api_key: str, base_url: str, calls: ProviderCalls) -> None:
        self._configured = bool(api_key)
        self._http = httpx.AsyncClient()
        self._client = AsyncElevenLabs(api_key=api_key or "not-configured", base_url=base_url,
                                       httpx_client=self._http)
        self._calls = calls

    def check_configured(self) -> None:
        self._calls.require_key(self._configured)

    async def create_agent(self, spec: AgentSpec) -> str:
        config = conversation_config(spec)

        async def create() -> str:
            reply = await self._client.conversational_ai.agents.create(
                conversation_config=config, platform_settings=HANDOFF_OVERRIDES,
                name=f"sparring {spec.persona_id} {spec.cache_key[:12]}", tags=["sparring"],
                request_options=_NO_SDK_RETRIES)
            return text_of(reply, "agent_id")

        return await self._calls.call("create_agent", lambda: _translated(create))

    async def connect(self, provider_agent_id: str) -> Connection | None:
        async def sign() -> Connection | None:
            try:
                reply = await _translated(lambda: self._client.conversational_ai.conversations.get_signed_url(
                    agent_id=provider_agent_id, request_options=_NO_SDK_RETRIES))
            except ProviderFailure as failure:
                if failure.outcome == NOT_FOUND:  # deleted at ElevenLabs, outside this service
                    return None
                raise
            return Connection(signed_url=text_of(reply, "signed_url"))

        return await self._calls.call("get_signed_url", sign)

    async def delete_agent(self, provider_agent_id: str) -> bool:
        async def delete() -> bool:
            try:
                await _translated(lambda: self._client.conversational_ai.agents.delete(
                    provider_agent_id, request_options=_NO_SDK_RETRIES))
            except ProviderFailure as failure:
                if failure.outcome == NOT_FOUND:  # already gone: what deleting it was for
                    return False
                raise
            return True

        return await self._calls.call("delete_agent", delete)

    async def close(self) -> None:
        await self._http.aclose()
