"""Assembles the learning service: the corpus, patches, background runs on a schedule, experiments."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sparring.learning.v1 import learning_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from access.permissions import PERMISSIONS
from learning_svc.adapters.local_engine import LocalLearningEngine
from learning_svc.adapters.openai_engine import OpenAILearningEngine
from learning_svc.adapters.personas import PersonaDirectory
from learning_svc.adapters.promotions import promotions_outbox
from learning_svc.adapters.repositories import PATCHES_CHANNEL, RUNS_CHANNEL
from learning_svc.adapters.unit_of_work import LearningUnitsOfWork
from learning_svc.config import LearningSettings
from learning_svc.domain.evolution import Engine
from learning_svc.entrypoints.servicer import SERVICE, LearningServicer
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.evolution import Evolution, OpenAILimits, with_defaults
from learning_svc.service_layer.experiments import Experiments
from learning_svc.service_layer.learning_runs import DEFAULT_EVENT_LIMIT, GateLimits, LearningRuns
from learning_svc.service_layer.patches import Patches
from learning_svc.service_layer.ports import RunKind
from learning_svc.service_layer.run_queue import RunLimits, RunQueue
from svckit.audit_log import AuditLog
from svckit.cache import InvalidatedCache
from svckit.notify import PgListener
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.transport import Security

log = logging.getLogger("learning.schedule")


async def _every(seconds: float, start: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await start()
        except Exception:
            log.exception("a scheduled run could not be started; the next tick tries again")
        await asyncio.sleep(seconds)


async def build(settings: LearningSettings, engine: AsyncEngine) -> GrpcApp:
    page_tokens = PageTokens.from_secret(settings.page_token_secret)
    security = Security(settings, PERMISSIONS)
    personas = PersonaDirectory(security.link(settings.persona_address), settings.persona_timeout_seconds)
    units = LearningUnitsOfWork(engine)
    corpus = Corpus(units, page_tokens)
    patches = Patches(units, page_tokens, InvalidatedCache("learning_active_patches", 10_000))
    runs = RunQueue(units, page_tokens, RunLimits(settings.run_lease_seconds, settings.run_timeout_seconds,
                                                  settings.run_poll_seconds))
    local_engine = LocalLearningEngine()
    openai_engine = OpenAILearningEngine(settings.openai_base_url, settings.openai_api_key, settings.openai_model,
                                         settings.openai_timeout_seconds, settings.openai_max_retries) \
        if settings.openai_base_url else None
    # Runs that name no engine get the configured one; openai only where it is configured.
    default_engine = Engine.OPENAI if openai_engine is not None and settings.engine == Engine.OPENAI else Engine.LOCAL
    openai_limits = OpenAILimits(settings.openai_max_calls_per_run, settings.openai_seconds_per_run)
    runs.register(RunKind.EVOLUTION,
                  Evolution(units, corpus, personas, local_engine, openai_engine, openai_limits).execute)
    gate_limits = GateLimits(settings.gate_calls_per_persona, settings.gate_alpha, settings.gate_max_simulated_calls,
                             settings.gate_timeout_seconds)
    runs.register(RunKind.LEARNING,
                  LearningRuns(units, personas, local_engine, openai_engine, openai_limits, gate_limits).execute)
    experiments = Experiments(units, page_tokens)
    def connected() -> None:
        patches.active_sets.enable()
        runs.wake()

    listener = PgListener("learning", settings.database_url or "",
                          {RUNS_CHANNEL: runs.wake, PATCHES_CHANNEL: lambda _archetype: patches.active_sets.clear()},
                          on_connected=connected, on_disconnected=patches.active_sets.disable)
    await listener.start()
    await runs.start_worker()
    promotions = promotions_outbox(engine, personas)
    await promotions.start()

    schedules = []
    if settings.evolution_schedule_seconds:
        every = settings.evolution_schedule_seconds
        schedules.append(asyncio.create_task(_every(every, lambda: runs.start_scheduled(
            RunKind.EVOLUTION, {"archetype": "", "options": with_defaults({"engine": default_engine})}, every))))
    if settings.learning_schedule_seconds:
        every = settings.learning_schedule_seconds
        schedules.append(asyncio.create_task(_every(every, lambda: runs.start_scheduled(
            RunKind.LEARNING, {"persona": "", "auto_publish": False, "event_limit": DEFAULT_EVENT_LIMIT,
                               "engine": default_engine}, every))))

    async def stop_schedules() -> None:
        for task in schedules:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = GrpcApp(
        service_names=[SERVICE.full_name],
        error_domain="learning.sparring.dev",
        add_servicers=lambda server: learning_service_pb2_grpc.add_LearningServiceServicer_to_server(
            LearningServicer(corpus, patches, runs, experiments, personas, openai_configured=openai_engine is not None,
                             default_engine=default_engine), server),
        security=security,
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
        audit_log=AuditLog(engine, "learning", settings),
    )
    app.on_drain.extend([stop_schedules, runs.stop_worker])
    app.on_close.extend([promotions.stop, listener.stop, personas.close])
    if openai_engine is not None:
        app.on_close.append(openai_engine.close)
    return app


SPEC = ServiceSpec(
    name="learning", package="learning_svc", schema="learning", settings_cls=LearningSettings, build=build
)
