"""Assembles the transcript service: group committer, live streams over NOTIFY, servicer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sparring.transcript.v1 import transcript_service_pb2, transcript_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from access.permissions import PERMISSIONS
from service_clients.persona import PersonaClient
from svckit.audit_log import AuditLog
from svckit.db import autocommit
from svckit.notify import PgListener
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.transport import Security
from transcript_svc.adapters import tables
from transcript_svc.adapters.analysis_client import AnalysisClient
from transcript_svc.adapters.channels import COMMANDS_CHANNEL, OUTBOX_CHANNEL, SESSIONS_CHANNEL, STREAMS_CHANNEL
from transcript_svc.adapters.experiment_client import ExperimentClient
from transcript_svc.adapters.group_commit import GroupCommitter
from transcript_svc.adapters.memory_client import MemoryClient
from transcript_svc.adapters.outbox import transcript_outbox
from transcript_svc.adapters.unit_of_work import DatabaseUnitOfWork
from transcript_svc.adapters.voice_agent_client import VoiceAgentClient
from transcript_svc.config import TranscriptSettings
from transcript_svc.entrypoints.servicer import TranscriptServicer
from transcript_svc.entrypoints.stream import StreamSessionHandler
from transcript_svc.service_layer.live import LiveStreams
from transcript_svc.service_layer.recording import Recording
from transcript_svc.service_layer.transcripts import FACTS_KIND, Transcripts
from transcript_svc.service_layer.voice_rounds import VoiceRounds

log = logging.getLogger("transcript.app")

SERVICE_NAME = transcript_service_pb2.DESCRIPTOR.services_by_name["TranscriptService"].full_name
ERROR_DOMAIN = "transcript.sparring.dev"


async def build(settings: TranscriptSettings, engine: AsyncEngine) -> GrpcApp:
    database_url = settings.database_url or ""
    security = Security(settings, PERMISSIONS)
    personas = PersonaClient(security.link(settings.persona_address), settings.persona_timeout_seconds)
    experiments = None
    if settings.learning_address:
        experiments = ExperimentClient(security.link(settings.learning_address), settings.experiment_timeout_seconds)
    reads = autocommit(engine)
    transcripts = Transcripts(lambda: DatabaseUnitOfWork(engine), lambda: DatabaseUnitOfWork(reads),
                              PageTokens.from_secret(settings.page_token_secret), personas, experiments,
                              settings.analysis_interval)
    voice_agents = VoiceAgentClient(security.link(settings.persona_address), settings.voice_agent_timeout_seconds)
    voice_rounds = VoiceRounds(lambda: DatabaseUnitOfWork(engine), lambda: DatabaseUnitOfWork(reads),
                               PageTokens.from_secret(settings.page_token_secret), voice_agents)
    committer = GroupCommitter(database_url, max_batch=settings.commit_max_batch,
                               max_delay=settings.commit_max_delay_ms / 1000)
    await committer.start()
    live = LiveStreams(transcripts, settings.max_open_streams)
    channels: dict[str, Callable[[str], None]] = {
        COMMANDS_CHANNEL: live.on_command,
        STREAMS_CHANNEL: live.on_stream_opened,
        SESSIONS_CHANNEL: live.on_session_change,
    }
    closers = [committer.stop, personas.close, voice_agents.close]
    if experiments is not None:
        closers.append(experiments.close)
    if settings.analysis_address:
        analysis = AnalysisClient(security.link(settings.analysis_address), settings.analysis_timeout_seconds)
        memory = MemoryClient(security.link(settings.persona_address), settings.persona_timeout_seconds)

        async def deliver(organization: str, kind: str, session_id: str, up_to_sequence: int) -> None:
            if kind == FACTS_KIND:
                session, messages = await transcripts.ended_transcript(organization, session_id)
                if session.candidate:  # '' once the candidate's memory was erased: nothing to learn
                    await memory.learn(session, messages)
            else:
                await analysis.deliver(organization, kind, session_id, up_to_sequence)

        dispatcher = transcript_outbox(engine, deliver, settings.outbox_max_attempts)
        channels[OUTBOX_CHANNEL] = dispatcher.wake
        await dispatcher.start()
        closers += [dispatcher.stop, analysis.close, memory.close]
    else:
        log.warning("TRANSCRIPT_ANALYSIS_ADDRESS is not set: analysis requests wait in the outbox")
    # Announcements made while LISTEN was down are caught up on reconnect (the first connect has nothing to miss).
    listener = PgListener("transcript", database_url, channels, on_connected=live.resync)
    await listener.start()
    stream = StreamSessionHandler(transcripts, Recording(committer), live, settings.max_in_flight,
                                  settings.stream_wind_down_seconds)

    async def drain() -> None:
        live.stop_all()

    app = GrpcApp(
        service_names=[SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        add_servicers=lambda server: transcript_service_pb2_grpc.add_TranscriptServiceServicer_to_server(
            TranscriptServicer(transcripts, stream, voice_rounds), server),
        security=security,
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
        audit_log=AuditLog(engine, tables.SCHEMA, settings),
    )
    app.on_drain.append(drain)
    app.on_close.extend([*closers, listener.stop])
    return app


SPEC = ServiceSpec(
    name="transcript", package="transcript_svc", schema=tables.SCHEMA, settings_cls=TranscriptSettings, build=build
)
