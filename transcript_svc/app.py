"""Assembles the transcript service: group committer, live streams over NOTIFY, servicer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import grpc
from sparring.persona.v1 import memory_service_pb2_grpc
from sparring.transcript.v1 import (
    approval_service_pb2,
    approval_service_pb2_grpc,
    guardrail_check_service_pb2,
    guardrail_check_service_pb2_grpc,
    handoff_service_pb2,
    handoff_service_pb2_grpc,
    transcript_service_pb2,
    transcript_service_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from access.permissions import PERMISSIONS
from guardrails.pii import PiiProtector
from service_clients.persona import PersonaClient
from service_clients.safety_policies import SafetyPolicyReader
from svckit.audit_log import AuditLog
from svckit.db import autocommit
from svckit.notify import PgListener
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.transport import Security
from transcript_svc.adapters import tables
from transcript_svc.adapters.analysis_client import AnalysisClient
from transcript_svc.adapters.channels import (
    APPROVALS_CHANNEL,
    COMMANDS_CHANNEL,
    OUTBOX_CHANNEL,
    SESSIONS_CHANNEL,
    STREAMS_CHANNEL,
)
from transcript_svc.adapters.experiment_client import ExperimentClient
from transcript_svc.adapters.group_commit import GroupCommitter
from transcript_svc.adapters.handoff_personas import HandoffPersonas
from transcript_svc.adapters.memory_client import MemoryClient
from transcript_svc.adapters.outbox import transcript_outbox
from transcript_svc.adapters.reading_windows import ReadingWindows
from transcript_svc.adapters.unit_of_work import DatabaseUnitOfWork
from transcript_svc.adapters.voice_agent_client import VoiceAgentClient
from transcript_svc.config import TranscriptSettings
from transcript_svc.domain.model import AUDIT_KIND, RISK_KIND
from transcript_svc.entrypoints.approval_servicer import ApprovalServicer
from transcript_svc.entrypoints.guardrail_check_servicer import GuardrailCheckServicer
from transcript_svc.entrypoints.handoff_servicer import HandoffServicer
from transcript_svc.entrypoints.servicer import TranscriptServicer
from transcript_svc.entrypoints.stream import StreamSessionHandler
from transcript_svc.service_layer.approval_watch import ApprovalWatch
from transcript_svc.service_layer.approvals import ApprovalDesk, ApprovalExpiry
from transcript_svc.service_layer.guardrail_checks import GuardrailCheckLog
from transcript_svc.service_layer.handoffs import Handoffs
from transcript_svc.service_layer.live import HeldStreams, LiveStreams
from transcript_svc.service_layer.pii import PiiProtection
from transcript_svc.service_layer.recording import Recording
from transcript_svc.service_layer.transcripts import FACTS_KIND, Transcripts
from transcript_svc.service_layer.voice_rounds import VoiceRounds

log = logging.getLogger("transcript.app")

SERVICE_NAME = transcript_service_pb2.DESCRIPTOR.services_by_name["TranscriptService"].full_name
HANDOFF_SERVICE_NAME = handoff_service_pb2.DESCRIPTOR.services_by_name["HandoffService"].full_name
APPROVAL_SERVICE_NAME = approval_service_pb2.DESCRIPTOR.services_by_name["ApprovalService"].full_name
GUARDRAIL_CHECK_SERVICE_NAME = \
    guardrail_check_service_pb2.DESCRIPTOR.services_by_name["GuardrailCheckService"].full_name
ERROR_DOMAIN = "transcript.sparring.dev"


def add_servicers(server: grpc.aio.Server, transcripts: TranscriptServicer, handoffs: HandoffServicer,
                  approvals: ApprovalServicer, checks: GuardrailCheckServicer) -> None:
    transcript_service_pb2_grpc.add_TranscriptServiceServicer_to_server(transcripts, server)
    handoff_service_pb2_grpc.add_HandoffServiceServicer_to_server(handoffs, server)
    approval_service_pb2_grpc.add_ApprovalServiceServicer_to_server(approvals, server)
    guardrail_check_service_pb2_grpc.add_GuardrailCheckServiceServicer_to_server(checks, server)


async def build(settings: TranscriptSettings, engine: AsyncEngine) -> GrpcApp:
    database_url = settings.database_url or ""
    security = Security(settings, PERMISSIONS)
    # One channel to the persona service, shared by every client of it; closed once, last (with the policies).
    persona_link = security.link(settings.persona_address)
    personas = PersonaClient(persona_link, settings.persona_timeout_seconds)
    policies = SafetyPolicyReader(persona_link, settings.safety_policy_timeout_seconds,
                                  settings.safety_policy_cache_seconds, settings.safety_policy_cache_entries)
    experiments = None
    if settings.learning_address:
        experiments = ExperimentClient(security.link(settings.learning_address), settings.experiment_timeout_seconds)
    reads = autocommit(engine)
    approval_ttl = timedelta(seconds=settings.approval_ttl_seconds)
    held_streams = HeldStreams()  # commands committed here go to the streams held here at once
    transcripts = Transcripts(lambda: DatabaseUnitOfWork(engine), lambda: DatabaseUnitOfWork(reads),
                              PageTokens.from_secret(settings.page_token_secret), personas, settings.analysis_interval,
                              policies=policies, approval_ttl=approval_ttl, experiments=experiments,
                              streams=held_streams)
    approvals = ApprovalDesk(lambda: DatabaseUnitOfWork(engine), policies, personas, approval_ttl,
                             PageTokens.from_secret(settings.page_token_secret))
    checks = GuardrailCheckLog(lambda: DatabaseUnitOfWork(engine), lambda: DatabaseUnitOfWork(reads), personas,
                               policies, PageTokens.from_secret(settings.page_token_secret))
    expiry = ApprovalExpiry(approvals, settings.approval_sweep_seconds, settings.approval_sweep_batch,
                            settings.approval_sweep_timeout_seconds)
    voice_agents = VoiceAgentClient(persona_link, settings.voice_agent_timeout_seconds)
    voice_rounds = VoiceRounds(lambda: DatabaseUnitOfWork(engine), lambda: DatabaseUnitOfWork(reads),
                               PageTokens.from_secret(settings.page_token_secret), voice_agents)
    handoffs = Handoffs(transcripts.uow, transcripts.read,
                        HandoffPersonas(personas, memory_service_pb2_grpc.MemoryServiceStub(persona_link.channel)),
                        voice_agents, commands=transcripts)
    committer = GroupCommitter(database_url, max_batch=settings.commit_max_batch,
                               max_delay=settings.commit_max_delay_ms / 1000)
    await committer.start()
    live = LiveStreams(transcripts, held_streams, settings.max_open_streams)
    approval_watch = ApprovalWatch(approvals, settings.max_approval_watchers)
    channels: dict[str, Callable[[str], None]] = {
        COMMANDS_CHANNEL: live.on_command,
        STREAMS_CHANNEL: live.on_stream_opened,
        SESSIONS_CHANNEL: live.on_session_change,
        APPROVALS_CHANNEL: approval_watch.on_change,
    }
    protection = PiiProtection(PiiProtector(settings.pii_secret.encode()))
    await expiry.start()
    closers = [expiry.stop, committer.stop]
    if experiments is not None:
        closers.append(experiments.close)
    if settings.analysis_address:
        analysis = AnalysisClient(security.link(settings.analysis_address), settings.analysis_timeout_seconds)
        memory = MemoryClient(persona_link, settings.persona_timeout_seconds)
        windows = ReadingWindows(transcripts.read, settings.analysis_timeout_seconds)

        async def deliver(organization: str, kind: str, session_id: str, up_to_sequence: int) -> None:
            if kind == FACTS_KIND:
                session, messages = await transcripts.ended_transcript(organization, session_id)
                if session.candidate:  # '' once the candidate's memory was erased: nothing to learn
                    await memory.learn(session, messages)
            elif kind == RISK_KIND:  # the session's risk as it is now: a later delivery never moves it back
                await analysis.record_risk(organization, session_id, *await transcripts.session_risk(organization,
                                                                                                     session_id))
            elif kind == AUDIT_KIND:
                await analysis.deliver(organization, kind, session_id, up_to_sequence)
            else:  # a reading, sent with its window
                await analysis.deliver(organization, kind, session_id, up_to_sequence,
                                       await windows.window(organization, session_id, up_to_sequence))

        dispatcher = transcript_outbox(engine, deliver, settings.outbox_max_attempts, settings.outbox_concurrency)
        channels[OUTBOX_CHANNEL] = dispatcher.wake
        await dispatcher.start()
        closers += [dispatcher.stop, analysis.close]
    else:
        log.warning("TRANSCRIPT_ANALYSIS_ADDRESS is not set: analysis requests wait in the outbox")
    # Announcements made while LISTEN was down are caught up on reconnect (the first connect has nothing to miss).
    async def resync() -> None:
        await live.resync()
        await approval_watch.resync()

    closers.append(policies.close)  # the persona channel: its clients are done by now
    listener = PgListener("transcript", database_url, channels, on_connected=resync)
    await listener.start()
    stream = StreamSessionHandler(transcripts, Recording(committer), policies, protection, live, settings.max_in_flight,
                                  settings.stream_wind_down_seconds)

    async def drain() -> None:
        live.stop_all()

    app = GrpcApp(
        service_names=[SERVICE_NAME, HANDOFF_SERVICE_NAME, APPROVAL_SERVICE_NAME, GUARDRAIL_CHECK_SERVICE_NAME],
        error_domain=ERROR_DOMAIN,
        add_servicers=lambda server: add_servicers(server, TranscriptServicer(transcripts, stream, voice_rounds),
                                                   HandoffServicer(handoffs),
                                                   ApprovalServicer(approvals, approval_watch),
                                                   GuardrailCheckServicer(checks)),
        security=security,
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
        # The guardrail check log is kept as long as the audit log, deleted by the same hourly job.
        audit_log=AuditLog(engine, tables.SCHEMA, settings, also_expiring=(tables.guardrail_checks.name,)),
    )
    app.on_drain.append(drain)
    app.on_close.extend([*closers, listener.stop])
    return app


SPEC = ServiceSpec(
    name="transcript", package="transcript_svc", schema=tables.SCHEMA, settings_cls=TranscriptSettings, build=build
)
