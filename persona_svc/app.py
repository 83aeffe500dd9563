"""Assembles the persona service: catalogue, caches kept fresh over NOTIFY, patches, servicer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import grpc
import sqlalchemy as sa
from sparring.persona.v1 import (
    memory_service_pb2,
    memory_service_pb2_grpc,
    persona_service_pb2,
    persona_service_pb2_grpc,
    safety_policy_service_pb2,
    safety_policy_service_pb2_grpc,
    voice_agent_service_pb2,
    voice_agent_service_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from access.permissions import PERMISSIONS
from persona_svc.adapters import tables
from persona_svc.adapters.elevenlabs_provider import KEY_SETTING as ELEVENLABS_KEY_SETTING
from persona_svc.adapters.elevenlabs_provider import ElevenLabsProvider
from persona_svc.adapters.embeddings import OpenAIEmbeddings
from persona_svc.adapters.episode_backfill import EpisodeBackfill
from persona_svc.adapters.fact_extractors import LocalFactExtractor, ModelFactExtractor
from persona_svc.adapters.last_known_patches import SqlLastKnownPatches
from persona_svc.adapters.learning_patches import LearningServicePatches, NoPatches
from persona_svc.adapters.memory import SqlMemoryUnitOfWork
from persona_svc.adapters.memory_retention import MemoryRetention
from persona_svc.adapters.provider_calls import ProviderCalls
from persona_svc.adapters.retell_provider import KEY_SETTING as RETELL_KEY_SETTING
from persona_svc.adapters.retell_provider import RetellProvider
from persona_svc.adapters.safety_policies import SqlSafetyPolicyUnitOfWork
from persona_svc.adapters.session_states import TranscriptSessionStates
from persona_svc.adapters.transcript_sessions import TranscriptSessions
from persona_svc.adapters.unit_of_work import SqlCatalogueUnitOfWork
from persona_svc.adapters.voice_agent_store import AdvisorySweepLock, SqlCleanupStore, SqlVoiceAgentUnitOfWork
from persona_svc.adapters.voice_providers import LocalVoiceProvider
from persona_svc.config import PersonaSettings
from persona_svc.domain.memory import Learned, MemorySettings, WorkingMemory
from persona_svc.domain.model import Archetype, Persona, Scenario
from persona_svc.entrypoints.memory_servicer import MemoryServicer
from persona_svc.entrypoints.safety_policy_servicer import SafetyPolicyServicer
from persona_svc.entrypoints.servicer import PersonaServicer
from persona_svc.entrypoints.voice_agent_servicer import VoiceAgentServicer
from persona_svc.service_layer.catalogue import Catalogue, Key
from persona_svc.service_layer.memory import MemoryKey, PersonaMemory
from persona_svc.service_layer.memory_ports import Embeddings, FactExtractor
from persona_svc.service_layer.memory_sections import MemorySections
from persona_svc.service_layer.ports import PatchProvider
from persona_svc.service_layer.safety_policies import SafetyPolicies
from persona_svc.service_layer.voice_agents import VoiceAgents
from persona_svc.service_layer.voice_cleanup import VoiceAgentCleanup
from persona_svc.service_layer.voice_ports import VoiceProvider
from svckit.audit_log import AuditLog
from svckit.cache import InvalidatedCache
from svckit.db import autocommit
from svckit.notify import PgListener
from svckit.openai_json import OpenAIJson
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.transport import Security

log = logging.getLogger("persona.app")

SERVICE_NAME = persona_service_pb2.DESCRIPTOR.services_by_name["PersonaService"].full_name
MEMORY_SERVICE_NAME = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name
VOICE_AGENT_SERVICE_NAME = voice_agent_service_pb2.DESCRIPTOR.services_by_name["VoiceAgentService"].full_name
SAFETY_POLICY_SERVICE_NAME = safety_policy_service_pb2.DESCRIPTOR.services_by_name["SafetyPolicyService"].full_name
ERROR_DOMAIN = "persona.sparring.dev"


def changed_resource(payload: str) -> tuple[str, str, str]:
    """(table, organization, id) of a change announced on ``persona_changes`` as "table:id:organization" (ids hold no
    colon; organizations may)."""
    table, _, rest = payload.partition(":")
    resource_id, _, organization = rest.partition(":")
    return table, organization, resource_id


def build_catalogue(engine: AsyncEngine, patches: PatchProvider, page_tokens: PageTokens,
                    personas_cache: InvalidatedCache[Key, Persona] | None = None,
                    scenarios_cache: InvalidatedCache[Key, Scenario] | None = None,
                    archetypes_cache: InvalidatedCache[Key, Archetype] | None = None) -> Catalogue:
    """The catalogue's use cases on PostgreSQL: transactions for writes, reads without one, each confined to
    the organization the use case names."""
    reads = autocommit(engine)
    return Catalogue(lambda organization: SqlCatalogueUnitOfWork(engine, organization),
                     lambda organization: SqlCatalogueUnitOfWork(reads, organization), patches,
                     page_tokens, personas_cache, scenarios_cache, archetypes_cache)


def add_servicers(server: grpc.aio.Server, catalogue: Catalogue, memories: PersonaMemory,
                  voice_agents: VoiceAgents, safety_policies: SafetyPolicies) -> None:
    persona_service_pb2_grpc.add_PersonaServiceServicer_to_server(PersonaServicer(catalogue, memories), server)
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryServicer(memories), server)
    voice_agent_service_pb2_grpc.add_VoiceAgentServiceServicer_to_server(VoiceAgentServicer(voice_agents), server)
    safety_policy_service_pb2_grpc.add_SafetyPolicyServiceServicer_to_server(
        SafetyPolicyServicer(safety_policies), server)


def fact_extractor(settings: PersonaSettings) -> LocalFactExtractor | ModelFactExtractor:
    """The model when the settings choose `openai` and name its endpoint, standing on the local extractor."""
    local = LocalFactExtractor()
    if settings.engine != ModelFactExtractor.name or not settings.openai_base_url:
        return local
    return ModelFactExtractor(OpenAIJson(settings.openai_base_url, settings.openai_api_key, settings.openai_model,
                                         settings.openai_timeout_seconds, settings.openai_max_retries), local)


async def episode_embeddings(settings: PersonaSettings, engine: AsyncEngine) -> OpenAIEmbeddings | None:
    """The embeddings endpoint, when one is configured and the database can store vectors (pgvector)."""
    if not settings.embeddings_base_url:
        return None
    async with engine.connect() as connection:
        stored = await connection.scalar(sa.text(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = :schema"
            " AND table_name = 'episodes' AND column_name = 'embedding'"), {"schema": tables.SCHEMA})
    if not stored:
        log.warning("PERSONA_EMBEDDINGS_BASE_URL is set but the database has no vector extension (pgvector): "
                    "episodes are recalled by their words only")
        return None
    return OpenAIEmbeddings(settings.embeddings_base_url, settings.embeddings_api_key, settings.embeddings_model,
                            settings.embeddings_timeout_seconds, settings.embeddings_max_retries)


def build_memories(engine: AsyncEngine, catalogue: Catalogue, page_tokens: PageTokens, settings: PersonaSettings,
                   extractor: FactExtractor, sessions: TranscriptSessions | None = None,
                   cache: InvalidatedCache[MemoryKey, WorkingMemory] | None = None,
                   learned_cache: InvalidatedCache[MemoryKey, Learned] | None = None,
                   settings_cache: InvalidatedCache[MemoryKey, MemorySettings] | None = None,
                   sections: MemorySections | None = None,
                   embeddings: Embeddings | None = None) -> PersonaMemory:
    """Working memories and facts on PostgreSQL, facts found by ``extractor``, episodes recalled with
    ``embeddings`` too when given, their renderings bounded by the settings' deadline and budget."""
    return PersonaMemory(lambda organization: SqlMemoryUnitOfWork(engine, organization),
                         lambda organization: SqlMemoryUnitOfWork(autocommit(engine), organization), catalogue,
                         extractor, page_tokens, sessions, cache, learned_cache, settings_cache, sections,
                         settings.memory_timeout_seconds, settings.memory_budget_chars, embeddings)


@dataclass
class VoiceParts:
    """The voice agents' use cases, their clean-up (None without a transcript service to ask), and what closes
    their connections."""

    voice_agents: VoiceAgents
    cleanup: VoiceAgentCleanup | None
    closers: list[Callable[[], Awaitable[None]]]


def build_voice_agents(engine: AsyncEngine, catalogue: Catalogue, settings: PersonaSettings,
                       security: Security) -> VoiceParts:
    """The voice-agent use cases on PostgreSQL, with every provider this service can reach."""
    elevenlabs = ElevenLabsProvider(settings.elevenlabs_api_key, settings.elevenlabs_base_url, ProviderCalls(
        ElevenLabsProvider.name, ELEVENLABS_KEY_SETTING, settings.voice_provider_timeout_seconds,
        settings.voice_provider_max_retries, settings.voice_provider_budget_seconds))
    retell = RetellProvider(settings.retell_api_key, settings.retell_base_url, ProviderCalls(
        RetellProvider.name, RETELL_KEY_SETTING, settings.voice_provider_timeout_seconds,
        settings.voice_provider_max_retries, settings.voice_provider_budget_seconds))
    providers: dict[str, VoiceProvider] = {provider.name: provider
                                           for provider in (LocalVoiceProvider(), elevenlabs, retell)}
    reads = autocommit(engine)
    voice_agents = VoiceAgents(catalogue, lambda organization: SqlVoiceAgentUnitOfWork(engine, organization),
                               lambda organization: SqlVoiceAgentUnitOfWork(reads, organization), providers,
                               settings.voice_provider)
    closers: list[Callable[[], Awaitable[None]]] = [elevenlabs.close, retell.close]
    if not settings.transcript_address:
        log.warning("PERSONA_TRANSCRIPT_ADDRESS is not set: voice agents are not cleaned up")
        return VoiceParts(voice_agents, None, closers)
    sessions = TranscriptSessionStates(security.link(settings.transcript_address), settings.transcript_timeout_seconds)
    cleanup = VoiceAgentCleanup(SqlCleanupStore(engine), sessions, providers, AdvisorySweepLock(engine),
                                timedelta(seconds=settings.voice_agent_grace_seconds),
                                keep_done=timedelta(seconds=settings.voice_agent_deletion_retention_seconds))
    return VoiceParts(voice_agents, cleanup, [*closers, sessions.close])


def build_safety_policies(engine: AsyncEngine, page_tokens: PageTokens) -> SafetyPolicies:
    reads = autocommit(engine)
    return SafetyPolicies(lambda organization: SqlSafetyPolicyUnitOfWork(engine, organization),
                          lambda organization: SqlSafetyPolicyUnitOfWork(reads, organization), page_tokens)


async def build(settings: PersonaSettings, engine: AsyncEngine) -> GrpcApp:
    personas: InvalidatedCache[Key, Persona] = InvalidatedCache("personas", settings.cache_entries)
    scenarios: InvalidatedCache[Key, Scenario] = InvalidatedCache("scenarios", settings.cache_entries)
    archetypes: InvalidatedCache[Key, Archetype] = InvalidatedCache("archetypes", settings.cache_entries)
    memory_cache: InvalidatedCache[MemoryKey, WorkingMemory] = InvalidatedCache("working_memories",
                                                                                 settings.cache_entries)
    learned_cache: InvalidatedCache[MemoryKey, Learned] = InvalidatedCache("learned", settings.cache_entries)
    settings_cache: InvalidatedCache[MemoryKey, MemorySettings] = InvalidatedCache("memory_settings",
                                                                                  settings.cache_entries)
    sections = MemorySections(settings.cache_entries)
    caches = (personas, scenarios, archetypes, memory_cache, learned_cache, settings_cache, sections)
    security = Security(settings, PERMISSIONS)
    learning = (LearningServicePatches(security.link(settings.learning_address), settings.patches_timeout_seconds,
                                       SqlLastKnownPatches(engine))
                if settings.learning_address else None)
    page_tokens = PageTokens.from_secret(settings.page_token_secret)
    catalogue = build_catalogue(engine, learning or NoPatches(), page_tokens, personas, scenarios, archetypes)
    sessions = (TranscriptSessions(security.link(settings.transcript_address), settings.transcript_timeout_seconds,
                                   settings.cache_entries)
                if settings.transcript_address else None)
    extractor = fact_extractor(settings)
    embeddings = await episode_embeddings(settings, engine)
    memories = build_memories(engine, catalogue, page_tokens, settings, extractor, sessions, memory_cache,
                              learned_cache, settings_cache, sections, embeddings)
    safety_policies = build_safety_policies(engine, page_tokens)

    backfill = (EpisodeBackfill(engine, embeddings, settings.embeddings_backfill_batch,
                                settings.embeddings_backfill_interval_seconds)
                if embeddings is not None and settings.embeddings_backfill_interval_seconds else None)

    def on_change(payload: str) -> None:
        table, organization, resource_id = changed_resource(payload)
        catalogue.invalidate(table, organization, resource_id)
        memories.invalidate(table, organization, resource_id)
        if backfill is not None and table == "episodes":
            backfill.episode_changed()

    def on_connected() -> None:
        for cache in caches:
            cache.enable()

    def on_disconnected() -> None:
        for cache in caches:
            cache.disable()

    voice = build_voice_agents(engine, catalogue, settings, security)

    listener = PgListener("persona", settings.database_url or "", {"persona_changes": on_change},
                          on_connected=on_connected, on_disconnected=on_disconnected)
    await listener.start()

    app = GrpcApp(
        service_names=[SERVICE_NAME, MEMORY_SERVICE_NAME, VOICE_AGENT_SERVICE_NAME, SAFETY_POLICY_SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        add_servicers=lambda server: add_servicers(server, catalogue, memories, voice.voice_agents, safety_policies),
        security=security,
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
        audit_log=AuditLog(engine, tables.SCHEMA, settings),
    )
    app.on_close.append(listener.stop)
    retention = MemoryRetention(engine, settings.memory_retention_interval_seconds, settings.memory_retention_batch)
    retention.start()
    app.on_close.append(retention.stop)
    if backfill is not None:
        backfill.start()
        app.on_close.append(backfill.stop)
    if voice.cleanup is not None and settings.voice_agent_cleanup_interval_seconds:
        sweeps = asyncio.create_task(voice.cleanup.run_every(settings.voice_agent_cleanup_interval_seconds,
                                                             settings.voice_agent_cleanup_timeout_seconds),
                                     name="voice-agent-cleanup")

        async def stop_sweeps() -> None:
            sweeps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeps

        app.on_close.append(stop_sweeps)
    app.on_close.extend(voice.closers)
    if learning is not None:
        app.on_close.append(learning.close)
    if sessions is not None:
        app.on_close.append(sessions.close)
    if isinstance(extractor, ModelFactExtractor):
        app.on_close.append(extractor.close)
    if embeddings is not None:
        app.on_close.append(embeddings.close)
    return app


SPEC = ServiceSpec(name="persona", package="persona_svc", schema=tables.SCHEMA, settings_cls=PersonaSettings,
                   build=build)
