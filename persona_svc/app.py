"""Assembles the persona service: catalogue, caches kept fresh over NOTIFY, patches, servicer."""

from __future__ import annotations

import grpc
from sparring.persona.v1 import (
    persona_service_pb2,
    persona_service_pb2_grpc,
    safety_policy_service_pb2,
    safety_policy_service_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from access.permissions import PERMISSIONS
from persona_svc.adapters import tables
from persona_svc.adapters.learning_patches import LearningServicePatches, NoPatches
from persona_svc.adapters.safety_policies import SqlSafetyPolicyUnitOfWork
from persona_svc.adapters.unit_of_work import SqlCatalogueUnitOfWork
from persona_svc.config import PersonaSettings
from persona_svc.domain.model import Archetype, Persona, Scenario
from persona_svc.entrypoints.safety_policy_servicer import SafetyPolicyServicer
from persona_svc.entrypoints.servicer import PersonaServicer
from persona_svc.service_layer.catalogue import Catalogue, Key
from persona_svc.service_layer.ports import PatchProvider
from persona_svc.service_layer.safety_policies import SafetyPolicies
from svckit.audit_log import AuditLog
from svckit.cache import InvalidatedCache
from svckit.db import autocommit
from svckit.notify import PgListener
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.transport import Security

SERVICE_NAME = persona_service_pb2.DESCRIPTOR.services_by_name["PersonaService"].full_name
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


def add_servicers(server: grpc.aio.Server, catalogue: Catalogue, safety_policies: SafetyPolicies) -> None:
    persona_service_pb2_grpc.add_PersonaServiceServicer_to_server(PersonaServicer(catalogue), server)
    safety_policy_service_pb2_grpc.add_SafetyPolicyServiceServicer_to_server(
        SafetyPolicyServicer(safety_policies), server)


def build_safety_policies(engine: AsyncEngine, page_tokens: PageTokens) -> SafetyPolicies:
    reads = autocommit(engine)
    return SafetyPolicies(lambda organization: SqlSafetyPolicyUnitOfWork(engine, organization),
                          lambda organization: SqlSafetyPolicyUnitOfWork(reads, organization), page_tokens)


async def build(settings: PersonaSettings, engine: AsyncEngine) -> GrpcApp:
    personas: InvalidatedCache[Key, Persona] = InvalidatedCache("personas", settings.cache_entries)
    scenarios: InvalidatedCache[Key, Scenario] = InvalidatedCache("scenarios", settings.cache_entries)
    archetypes: InvalidatedCache[Key, Archetype] = InvalidatedCache("archetypes", settings.cache_entries)
    caches = (personas, scenarios, archetypes)
    security = Security(settings, PERMISSIONS)
    learning = (LearningServicePatches(security.link(settings.learning_address), settings.patches_timeout_seconds)
                if settings.learning_address else None)
    page_tokens = PageTokens.from_secret(settings.page_token_secret)
    catalogue = build_catalogue(engine, learning or NoPatches(), page_tokens, personas, scenarios, archetypes)
    safety_policies = build_safety_policies(engine, page_tokens)

    def on_change(payload: str) -> None:
        catalogue.invalidate(*changed_resource(payload))

    def on_connected() -> None:
        for cache in caches:
            cache.enable()

    def on_disconnected() -> None:
        for cache in caches:
            cache.disable()

    listener = PgListener("persona", settings.database_url or "", {"persona_changes": on_change},
                          on_connected=on_connected, on_disconnected=on_disconnected)
    await listener.start()

    app = GrpcApp(
        service_names=[SERVICE_NAME, SAFETY_POLICY_SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        add_servicers=lambda server: add_servicers(server, catalogue, safety_policies),
        security=security,
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
        audit_log=AuditLog(engine, tables.SCHEMA, settings),
    )
    app.on_close.append(listener.stop)
    if learning is not None:
        app.on_close.append(learning.close)
    return app


SPEC = ServiceSpec(name="persona", package="persona_svc", schema=tables.SCHEMA, settings_cls=PersonaSettings,
                   build=build)
