"""Assembles the analysis service: live analyses over the transcript service's windows and post-call audits, both
with the same engines (`local`, and `openai` when ANALYSIS_OPENAI_BASE_URL is set)."""

from __future__ import annotations

import grpc
from sparring.analysis.v1 import analysis_service_pb2_grpc, switching_rule_service_pb2, switching_rule_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from access.permissions import PERMISSIONS
from analysis_svc.adapters import tables
from analysis_svc.adapters.audit_outbox import audit_outbox, review_outbox
from analysis_svc.adapters.call_contexts import CallContexts
from analysis_svc.adapters.episode_reviews import EpisodeReviews
from analysis_svc.adapters.finding_outbox import TranscriptCheckLog, finding_outbox
from analysis_svc.adapters.learning_audits import LearningAudits
from analysis_svc.adapters.local_engine import LocalEngine
from analysis_svc.adapters.openai_engine import OpenAIEngine
from analysis_svc.adapters.openai_moderation import OpenAIModeration
from analysis_svc.adapters.persona_profiles import PersonaProfiles
from analysis_svc.adapters.session_directory import SessionDirectory
from analysis_svc.adapters.transcript_commands import TranscriptCommands
from analysis_svc.adapters.transcript_handoffs import TranscriptHandoffs
from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.adapters.unit_of_work import CHANGES_CHANNEL, RULES_CHANNEL, AnalysisDatabase
from analysis_svc.config import AnalysisSettings
from analysis_svc.domain.model import StoredAudit
from analysis_svc.entrypoints.servicer import SERVICE, AnalysisServicer, audit_message
from analysis_svc.entrypoints.switching_rule_servicer import SwitchingRuleServicer
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.audits import Audits
from analysis_svc.service_layer.engines import Engines
from analysis_svc.service_layer.session_access import SessionAccess
from analysis_svc.service_layer.session_risks import SessionRisks
from analysis_svc.service_layer.suggestion_actions import SuggestionActions
from analysis_svc.service_layer.switching_rules import SwitchingRules
from analysis_svc.service_layer.watchers import Watchers
from service_clients.safety_policies import (
    POLICY_CACHE_ENTRIES,
    POLICY_CACHE_SECONDS,
    POLICY_READ_SECONDS,
    SafetyPolicyReader,
)
from svckit.audit_log import AuditLog
from svckit.notify import PgListener
from svckit.openai_json import OpenAIJson
from svckit.pagination import PageTokens
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.transport import Security

SWITCHING_RULE_SERVICE = switching_rule_service_pb2.DESCRIPTOR.services_by_name["SwitchingRuleService"].full_name


def add_servicers(server: grpc.aio.Server, analyses: AnalysisServicer, rules: SwitchingRuleServicer) -> None:
    analysis_service_pb2_grpc.add_AnalysisServiceServicer_to_server(analyses, server)
    switching_rule_service_pb2_grpc.add_SwitchingRuleServiceServicer_to_server(rules, server)


async def build(settings: AnalysisSettings, engine: AsyncEngine) -> GrpcApp:
    database = AnalysisDatabase(engine)
    security = Security(settings, PERMISSIONS)
    # One connection to the transcript service, for reading windows and for sending commands.
    transcript = security.link(settings.transcript_address)
    transcripts = TranscriptReader(transcript, settings.transcript_timeout_seconds)
    page_tokens = PageTokens.from_secret(settings.page_token_secret)
    openai_engine = OpenAIEngine(settings.openai_base_url, settings.openai_api_key, settings.openai_model,
                                 settings.openai_timeout_seconds, settings.openai_max_retries) \
        if settings.openai_base_url else None
    others = {openai_engine.name: openai_engine} if openai_engine else {}
    default_engine = settings.engine if openai_engine else LocalEngine.name
    access = SessionAccess(SessionDirectory(transcripts, settings.session_cache_size))
    # One channel to the persona service, shared by every client of it; closed once, last (with the policies).
    persona_link = security.link(settings.persona_address)
    contexts = CallContexts(transcripts, persona_link, settings.transcript_timeout_seconds,
                            settings.session_cache_size)
    rules = SwitchingRules(database, TranscriptHandoffs(transcript, settings.transcript_timeout_seconds))
    policies = SafetyPolicyReader(persona_link, POLICY_READ_SECONDS, POLICY_CACHE_SECONDS,
                                  POLICY_CACHE_ENTRIES)
    moderation = OpenAIModeration(OpenAIJson(settings.openai_base_url, settings.openai_api_key, settings.openai_model,
                                             settings.openai_timeout_seconds, settings.openai_max_retries)) \
        if settings.moderation and settings.openai_base_url else None
    analyses = Analyses(database, transcripts, page_tokens, Engines(LocalEngine(), others, default_engine), access,
                        contexts, rules, policies, moderation)
    commands = TranscriptCommands(transcript, settings.transcript_timeout_seconds)
    actions = SuggestionActions(database, commands, access, rules)
    personas = PersonaProfiles(persona_link, settings.transcript_timeout_seconds)
    audits = Audits(database, transcripts, personas, page_tokens, Engines(LocalEngine(), others, default_engine),
                    analyses)
    risks = SessionRisks(database)
    watchers = Watchers(analyses, audits, risks)

    def on_connected() -> None:
        rules.cache.enable()  # changes of the rules are heard from now on
        watchers.resync_all()

    listener = PgListener("analysis", settings.database_url or "",
                          {CHANGES_CHANNEL: watchers.on_change, RULES_CHANNEL: rules.changed},
                          on_connected=on_connected, on_disconnected=rules.cache.disable)
    await listener.start()

    async def drain() -> None:
        watchers.stop_all()

    app = GrpcApp(
        service_names=[SERVICE.full_name, SWITCHING_RULE_SERVICE],
        error_domain="analysis.sparring.dev",
        add_servicers=lambda server: add_servicers(server, AnalysisServicer(analyses, actions, audits, watchers, risks),
                                                   SwitchingRuleServicer(rules)),
        security=security,
        max_receive_message_bytes=settings.max_receive_message_bytes,
        max_send_message_bytes=settings.max_send_message_bytes,
        audit_log=AuditLog(engine, tables.SCHEMA, settings),
    )
    app.on_drain.append(drain)
    if openai_engine is not None:
        app.on_close.append(openai_engine.close)
    if moderation is not None:
        app.on_close.append(moderation.close)
    if settings.learning_address:
        learning = LearningAudits(security.link(settings.learning_address), settings.transcript_timeout_seconds)

        async def deliver(organization: str, audit: StoredAudit) -> None:
            await learning.record(organization, audit_message(audit),
                                  await analyses.final_say_meter(organization, audit.session_id))

        delivery = audit_outbox(engine, deliver)
        await delivery.start()
        app.on_close.extend([delivery.stop, learning.close])
    reviews = EpisodeReviews(persona_link, settings.transcript_timeout_seconds)

    async def deliver_review(organization: str, audit: StoredAudit) -> None:
        await reviews.record(organization, audit, await analyses.say_meter_arc(organization, audit.session_id))

    review_delivery = review_outbox(engine, deliver_review)
    await review_delivery.start()
    findings = finding_outbox(engine, TranscriptCheckLog(transcript, settings.transcript_timeout_seconds))
    await findings.start()
    app.on_close.extend([review_delivery.stop, findings.stop, listener.stop, transcript.close, policies.close])
    return app


SPEC = ServiceSpec(
    name="analysis", package="analysis_svc", schema="analysis", settings_cls=AnalysisSettings, build=build
)
