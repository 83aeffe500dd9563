"""Assembles the persona service: catalogue, caches kept fresh over NOTIFY, patches, servicer."""

from __future__ import annotations

from sparring.persona.v1 import persona_service_pb2, persona_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from persona_svc.adapters import tables
from persona_svc.config import PersonaSettings
from persona_svc.domain.patches import NoPatches, PatchProvider
from persona_svc.entrypoints.servicer import PersonaServicer
from persona_svc.service_layer.catalogue import Catalogue
from svckit.cache import InvalidatedCache
from svckit.notify import PgListener
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp

SERVICE_NAME = persona_service_pb2.DESCRIPTOR.services_by_name["PersonaService"].full_name
ERROR_DOMAIN = "persona.sparring.dev"


def patch_provider(settings: PersonaSettings) -> PatchProvider:
    if not settings.learning_address:
        return NoPatches()
    from persona_svc.adapters.learning_patches import LearningServicePatches

    return LearningServicePatches(settings.learning_address, settings.patches_timeout_seconds)


async def build(settings: PersonaSettings, engine: AsyncEngine) -> GrpcApp:
    caches = (
        InvalidatedCache("personas", settings.cache_entries),
        InvalidatedCache("scenarios", settings.cache_entries),
        InvalidatedCache("archetypes", settings.cache_entries),
    )
    patches = patch_provider(settings)
    catalogue = Catalogue(engine, patches, PageTokens.from_secret(settings.page_token_secret), *caches)

    def on_change(payload: str) -> None:
        table, _, resource_id = payload.partition(":")
        catalogue.invalidate(table, resource_id)

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
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        add_servicers=lambda server: persona_service_pb2_grpc.add_PersonaServiceServicer_to_server(
            PersonaServicer(catalogue), server),
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
    )
    app.on_close.append(listener.stop)
    if hasattr(patches, "close"):
        app.on_close.append(patches.close)
    return app


SPEC = ServiceSpec(name="persona", package="persona_svc", schema=tables.SCHEMA, settings_cls=PersonaSettings,
                   build=build)
