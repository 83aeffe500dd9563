"""AnalysisService over gRPC: requests checked and converted, use cases called, answers built."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf import duration_pb2
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from analysis_svc.domain.content_findings import ContentFinding
from analysis_svc.domain.model import (
    RiskAlert,
    SessionRisk,
    Snapshot,
    StoredAnalysis,
    StoredAudit,
    StoredSuggestion,
    Window,
)
from analysis_svc.domain.say_meter import FACTORS, SayMeter, ordered_factors
from analysis_svc.domain.trend import AlertChange, Direction
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.audits import Audits
from analysis_svc.service_layer.session_access import require_window_sender
from analysis_svc.service_layer.session_risks import SessionRisks
from analysis_svc.service_layer.suggestion_actions import SuggestionActions
from analysis_svc.service_layer.watchers import RESYNC, STOP, Shown, Watchers
from calls.persona_audit import FlagReason
from calls.turns import DEFAULT_WINDOW, Role, Turn
from guardrails.filters import FilterCategory, FilterDecision
from guardrails.risk import MAX_RISK
from svckit import names
from svckit.blueprints import blueprint_name, blueprint_value
from svckit.context import current_call
from svckit.enums import enum_filter, enum_of
from svckit.errors import FieldViolation, InvalidArgument, Unavailable, Violations
from svckit.identity import Principal
from svckit.times import timestamp
from svckit.usecase import mutation_of

SERVICE = pb.DESCRIPTOR.services_by_name["AnalysisService"]

_SOURCES: dict[int, str] = {
    pb.TRIGGER_SOURCE_UNSPECIFIED: "message_count", pb.TRIGGER_SOURCE_MESSAGE_COUNT: "message_count",
    pb.TRIGGER_SOURCE_MANUAL: "manual", pb.TRIGGER_SOURCE_SESSION_END: "session_end",
    pb.TRIGGER_SOURCE_HANDOFF: "handoff"}
_SOURCE_ENUMS = {"message_count": pb.TRIGGER_SOURCE_MESSAGE_COUNT, "manual": pb.TRIGGER_SOURCE_MANUAL,
                 "session_end": pb.TRIGGER_SOURCE_SESSION_END, "handoff": pb.TRIGGER_SOURCE_HANDOFF}
_ENGINES = {"local": pb.ENGINE_LOCAL, "openai": pb.ENGINE_OPENAI}
_BANDS = {"red": pb.SCORE_BAND_RED, "yellow": pb.SCORE_BAND_YELLOW, "green": pb.SCORE_BAND_GREEN}
_TYPES = {"context_injection": pb.SUGGESTION_TYPE_CONTEXT_INJECTION, "curveball": pb.SUGGESTION_TYPE_CURVEBALL,
          "followup_question": pb.SUGGESTION_TYPE_FOLLOWUP_QUESTION, "handoff": pb.SUGGESTION_TYPE_HANDOFF}
_PRIORITIES = {"low": pb.PRIORITY_LOW, "medium": pb.PRIORITY_MEDIUM, "high": pb.PRIORITY_HIGH,
               "critical": pb.PRIORITY_CRITICAL}
_FILTER_CATEGORIES = {category: getattr(policy_pb, f"FILTER_CATEGORY_{category.name}") for category in FilterCategory}
_FILTER_DECISIONS = {decision: getattr(policy_pb, f"FILTER_DECISION_{decision.name}") for decision in FilterDecision}
_DIRECTIONS = {Direction.NONE: pb.TREND_DIRECTION_UNSPECIFIED, Direction.RISING: pb.TREND_DIRECTION_RISING,
               Direction.STEADY: pb.TREND_DIRECTION_STEADY, Direction.FALLING: pb.TREND_DIRECTION_FALLING}
_ALERT_CHANGES = {AlertChange.NONE: pb.ALERT_CHANGE_UNSPECIFIED, AlertChange.RAISED: pb.ALERT_CHANGE_RAISED,
                  AlertChange.CLEARED: pb.ALERT_CHANGE_CLEARED}
_ROLES = {transcript_pb.ROLE_USER: Role.USER, transcript_pb.ROLE_ASSISTANT: Role.ASSISTANT}
_STATES = {"open": pb.SUGGESTION_STATE_OPEN, "applied": pb.SUGGESTION_STATE_APPLIED,
           "dismissed": pb.SUGGESTION_STATE_DISMISSED}


def _session_child(name: str, collection: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "sessions" or parts[2] != collection or not names.valid_id(parts[1]) \
            or not names.valid_id(parts[3]):
        raise InvalidArgument(FieldViolation(
            "name", f"must be a resource name like 'sessions/{{session_id}}/{collection}/{{id}}' "
                    f"(got {name[:100]!r})"))
    return parts[1], parts[3]


def _suggestion(stored: StoredSuggestion, session_id: str) -> pb.Suggestion:
    s = stored.suggestion
    return pb.Suggestion(
        name=f"sessions/{session_id}/suggestions/{stored.id}",
        analysis=f"sessions/{session_id}/analyses/{stored.analysis_id}",
        type=_TYPES[s.type.value], text=s.text, label=s.label, priority=_PRIORITIES[s.priority.value],
        switching_rule=s.switching_rule,
        state=_STATES[stored.state], command=stored.command, dismiss_reason=stored.dismiss_reason,
        create_time=timestamp(stored.create_time), resolve_time=timestamp(stored.resolve_time), etag=stored.etag,
        cited_sequences=s.cites,
    )


def _finding(finding: ContentFinding) -> pb.ContentFinding:
    return pb.ContentFinding(rule=finding.rule, category=_FILTER_CATEGORIES[finding.category],
                             decision=_FILTER_DECISIONS[finding.decision], topic=finding.topic,
                             message_sequence=finding.message_sequence, quote=finding.quote)


def _trend(stored: StoredAnalysis) -> pb.SayMeterTrend:
    trend = stored.trend
    return pb.SayMeterTrend(slope=trend.slope, direction=_DIRECTIONS[trend.direction], reading_count=trend.readings)


def _losing_prospect(stored: StoredAnalysis) -> pb.LosingProspectAlert:
    alert = stored.losing_prospect
    return pb.LosingProspectAlert(active=alert.active, change=_ALERT_CHANGES[alert.change],
                                  projected_score=alert.projected_score, reason=alert.reason,
                                  analysis=f"sessions/{stored.session_id}/analyses/{stored.id}")


def _say_meter(meter: SayMeter) -> pb.SayMeter:
    # The five sales fields carry the sales factors; a track's own factors are in rubric_factors only.
    sales = [name for name in FACTORS if name in meter.weights]
    return pb.SayMeter(
        score=meter.score, band=_BANDS[meter.band.value], reasoning=meter.reasoning,
        factors=pb.SayMeterFactors(**{name: meter.factors[name] for name in sales}),
        weights=pb.SayMeterFactors(**{name: meter.weights[name] for name in sales}),
        rubric_factors=[pb.SayMeterFactor(name=name, score=meter.factors[name], weight=meter.weights[name])
                        for name in ordered_factors(meter.weights)])


def _analysis(stored: StoredAnalysis) -> pb.Analysis:
    meter = stored.say_meter
    return pb.Analysis(
        name=f"sessions/{stored.session_id}/analyses/{stored.id}",
        session=f"sessions/{stored.session_id}",
        trigger=pb.AnalysisTrigger(trigger_id=stored.trigger_id, source=_SOURCE_ENUMS[stored.trigger_source]),
        window=pb.AnalysisWindow(first_sequence=stored.window_first, last_sequence=stored.window_last,
                                 message_count=stored.window_count),
        blueprint=blueprint_value(stored.blueprint),
        say_meter=_say_meter(meter),
        metrics=pb.ConversationMetrics(**stored.metrics),
        suggestions=[_suggestion(s, stored.session_id) for s in stored.suggestions],
        engine=_ENGINES[stored.engine],
        engine_fallback=stored.engine_fallback,
        model=stored.model,
        create_time=timestamp(stored.create_time),
        latency=duration_pb2.Duration(nanos=int(stored.latency_ms * 1_000_000) % 1_000_000_000,
                                      seconds=int(stored.latency_ms // 1000)),
        language=stored.language,
        language_supported=stored.language_supported,
        findings=[_finding(finding) for finding in stored.findings],
        trend=_trend(stored),
        losing_prospect=_losing_prospect(stored),
    )


def _risk(risk: SessionRisk) -> pb.SessionRisk:
    return pb.SessionRisk(score=risk.score, alert_time=timestamp(risk.alert_time),
                          update_time=timestamp(risk.update_time), at_risk=risk.at_risk)


def _snapshot(snapshot: Snapshot) -> pb.SessionSnapshot:
    return pb.SessionSnapshot(
        session=f"sessions/{snapshot.session_id}",
        latest_analysis=_analysis(snapshot.latest) if snapshot.latest else None,
        score_history=[pb.ScorePoint(analysis=f"sessions/{snapshot.session_id}/analyses/{point.analysis_id}",
                                     last_sequence=point.last_sequence, score=point.score,
                                     create_time=timestamp(point.create_time))
                       for point in snapshot.history],
        open_suggestions=[_suggestion(s, snapshot.session_id) for s in snapshot.open_suggestions],
        analysis_count=len(snapshot.history),
        final_reading=snapshot.final_reading,
        trend=_trend(snapshot.latest) if snapshot.latest else None,
        losing_prospect=_losing_prospect(snapshot.latest) if snapshot.latest else None,
    )


_FLAGS = {reason: getattr(audit_pb2, f"FLAG_REASON_{reason.name}") for reason in FlagReason}


def audit_message(stored: StoredAudit) -> pb.PersonaAudit:
    audit = stored.audit
    return pb.PersonaAudit(
        name=f"audits/{stored.id}",
        session=f"sessions/{stored.session_id}",
        persona=stored.persona,
        persona_display_name=stored.persona_display_name,
        archetype=f"archetypes/{audit.archetype}" if audit.archetype else "",
        difficulty=audit.difficulty,
        blueprint=blueprint_value(stored.blueprint),
        scores=audit_pb2.AuditScores(brevity=audit.scores.brevity, authenticity=audit.scores.authenticity,
                              consistency=audit.scores.consistency, enthusiasm_leak=audit.scores.enthusiasm_leak,
                              pacing=audit.scores.pacing),
        overall_score=audit.overall_score,
        avg_words_per_turn=audit.avg_words_per_turn,
        target_words_per_turn=audit_pb2.WordRange(min_words=audit.target_words_per_turn.min_words,
                                           max_words=audit.target_words_per_turn.max_words),
        persona_turn_count=audit.persona_turn_count,
        flagged_quotes=[audit_pb2.FlaggedQuote(text=q.text, reason=_FLAGS[q.reason], explanation=q.explanation,
                                        sequence=q.sequence, candidate_text=q.candidate_text)
                       for q in audit.flagged_quotes],
        recommendations=audit.recommendations,
        engine=_ENGINES[stored.engine],
        engine_fallback=stored.engine_fallback,
        delivery_state=pb.DELIVERY_STATE_DELIVERED if stored.delivery_state == "delivered"
        else pb.DELIVERY_STATE_PENDING,
        delivery_attempts=stored.delivery_attempts,
        last_delivery_error=stored.last_delivery_error,
        deliver_time=timestamp(stored.deliver_time),
        create_time=timestamp(stored.create_time),
    )


def _source(value: int) -> str:
    return enum_of(_SOURCES, value, "source", pb.TriggerSource)


def _sent_window(request: pb.RequestAnalysisRequest) -> Window:
    """The window a request carries, every message of it checked against the request: ascending, none above its
    ``up_to_sequence`` (or, when 0, the window's last durable one), at most ``window_size`` (0: the default) of them."""
    sent, violations = request.window, Violations()
    if sent.blueprint not in persona_pb.Blueprint.values():
        violations.add("window.blueprint", f"{sent.blueprint} is not a known Blueprint")
    persona_id = sent.persona.removeprefix("personas/")
    violations.require(not sent.persona or (persona_id != sent.persona and names.valid_id(persona_id)),
                       "window.persona",
                       f"must be empty or like 'personas/{{persona_id}}' (got {sent.persona[:100]!r})")
    scenario_id = sent.scenario.removeprefix("scenarios/")
    violations.require(not sent.scenario or (scenario_id != sent.scenario and names.valid_id(scenario_id)),
                       "window.scenario",
                       f"must be empty or like 'scenarios/{{scenario_id}}' (got {sent.scenario[:100]!r})")
    size = request.window_size or DEFAULT_WINDOW
    violations.require(len(sent.messages) <= size, "window.messages",
                       f"must hold at most {size} messages, the window size (got {len(sent.messages)})")
    up_to = request.up_to_sequence or sent.last_durable_sequence
    previous = 0
    for index, message in enumerate(sent.messages):
        path = f"window.messages[{index}]"
        violations.require(previous < message.sequence <= up_to, f"{path}.sequence",
                           f"must be above the previous message's ({previous}) and at most {up_to} "
                           f"(got {message.sequence})")
        previous = max(previous, message.sequence)
        violations.require(message.role in _ROLES, f"{path}.role", "must be ROLE_USER or ROLE_ASSISTANT")
        violations.require(bool(message.text.strip()), f"{path}.text", "must not be empty")
    violations.require(sent.last_durable_sequence >= previous, "window.last_durable_sequence",
                       f"must not be below the last message's sequence ({previous})")
    violations.raise_if_any()
    return Window(blueprint_name(sent.blueprint) or "sales", sent.last_durable_sequence,
                  tuple(Turn(m.sequence, _ROLES[m.role], m.text) for m in sent.messages), sent.persona,
                  sent.scenario if sent.HasField("scenario") else None)


def _stored_name(values: Mapping[str, int], value: int, field: str, enum_type) -> str | None:
    """The stored name of an enum filter; None when unset."""
    return enum_filter({number: name for name, number in values.items()}, value, field, enum_type)


class AnalysisServicer(analysis_service_pb2_grpc.AnalysisServiceServicer):
    def __init__(self, analyses: Analyses, actions: SuggestionActions, audits: Audits, watchers: Watchers,
                 risks: SessionRisks) -> None:
        self._audits = audits
        self._analyses = analyses
        self._actions = actions
        self._watchers = watchers
        self._risks = risks

    async def AuditSession(self, request: pb.AuditSessionRequest, context) -> pb.AuditSessionResponse:
        engine = _stored_name(_ENGINES, request.engine, "engine", pb.Engine) or ""
        stored, duplicate = await self._audits.audit_session(
            current_call().principal, names.resource_id(request.session, "sessions", "session"), engine,
            context.time_remaining())
        return pb.AuditSessionResponse(audit=audit_message(stored), duplicate=duplicate)

    async def GetPersonaAudit(self, request: pb.GetPersonaAuditRequest, context) -> pb.GetPersonaAuditResponse:
        return pb.GetPersonaAuditResponse(audit=audit_message(await self._audits.get(
            current_call().organization, names.resource_id(request.name, "audits", "name"))))

    async def ListSuggestions(self, request: pb.ListSuggestionsRequest, context) -> pb.ListSuggestionsResponse:
        session_id = names.resource_id(request.parent, "sessions", "parent")
        filters: dict[str, str | None] = {
            "state": _stored_name(_STATES, request.state, "state", pb.SuggestionState),
            "kind": _stored_name(_TYPES, request.type, "type", pb.SuggestionType),
            "analysis_id": None,
        }
        if request.analysis:
            analysis_session, filters["analysis_id"] = _session_child(request.analysis, "analyses")
            if analysis_session != session_id:
                raise InvalidArgument(FieldViolation("analysis", f"is not an analysis of {request.parent}"))
        page = await self._analyses.list_suggestions(current_call().principal, session_id, filters, request.page_size,
                                                     request.page_token)
        return pb.ListSuggestionsResponse(suggestions=[_suggestion(s, session_id) for s in page.items],
                                          next_page_token=page.next_page_token)

    async def ListPersonaAudits(self, request: pb.ListPersonaAuditsRequest,
                                context) -> pb.ListPersonaAuditsResponse:
        delivery = {pb.DELIVERY_STATE_PENDING: "pending", pb.DELIVERY_STATE_DELIVERED: "delivered"}
        if request.delivery_state and request.delivery_state not in delivery:
            raise InvalidArgument(FieldViolation("delivery_state", f"{request.delivery_state} is not a known "
                                                                   "DeliveryState"))
        filters: dict[str, str | None] = {
            "session_id": names.resource_id(request.session, "sessions", "session") if request.session else None,
            "persona": request.persona if request.persona and names.resource_id(request.persona, "personas",
                                                                                "persona") else None,
            "archetype": names.resource_id(request.archetype, "archetypes", "archetype") if request.archetype
            else None,
            "delivery_state": delivery.get(request.delivery_state),
        }
        page = await self._audits.list(current_call().organization, filters, request.page_size, request.page_token)
        return pb.ListPersonaAuditsResponse(audits=[audit_message(a) for a in page.items],
                                            next_page_token=page.next_page_token)

    async def GetSuggestion(self, request: pb.GetSuggestionRequest, context) -> pb.GetSuggestionResponse:
        session_id, suggestion_id = _session_child(request.name, "suggestions")
        stored = await self._analyses.get_suggestion(current_call().principal, session_id, suggestion_id)
        return pb.GetSuggestionResponse(suggestion=_suggestion(stored, session_id))

    async def ApplySuggestion(self, request: pb.ApplySuggestionRequest, context) -> pb.ApplySuggestionResponse:
        session_id, suggestion_id = _session_child(request.name, "suggestions")
        stored = await self._actions.apply(session_id, suggestion_id, request.etag, mutation_of(request))
        return pb.ApplySuggestionResponse(suggestion=_suggestion(stored, session_id))

    async def DismissSuggestion(self, request: pb.DismissSuggestionRequest,
                                context) -> pb.DismissSuggestionResponse:
        session_id, suggestion_id = _session_child(request.name, "suggestions")
        stored = await self._actions.dismiss(session_id, suggestion_id, request.etag, request.reason,
                                             mutation_of(request))
        return pb.DismissSuggestionResponse(suggestion=_suggestion(stored, session_id))

    async def WatchSession(self, request: pb.WatchSessionRequest, context):
        session_id = names.resource_id(request.session, "sessions", "session")
        caller = current_call().principal
        await self._analyses.admit_watcher(caller, session_id)
        # Watching starts before the snapshot is read, so nothing stored in between is missed.
        watcher = self._watchers.watch(caller.organization, session_id)
        try:
            response, shown = await self._send_snapshot(caller, session_id, resync=False)
            yield response
            if response.snapshot.HasField("audit"):
                return  # the call is over and audited: nothing more will come
            while True:
                event = await watcher.events.get()
                if event is STOP:
                    raise Unavailable("the server is shutting down; watch again", reason="SERVER_SHUTTING_DOWN")
                if event is RESYNC or shown.is_late(event):  # a late analysis takes its place in a fresh snapshot
                    response, shown = await self._send_snapshot(caller, session_id, resync=True)
                    yield response
                elif isinstance(event, StoredAudit):
                    yield pb.WatchSessionResponse(event_time=timestamp(event.create_time), audit=audit_message(event))
                    return
                elif isinstance(event, StoredSuggestion):
                    yield pb.WatchSessionResponse(event_time=timestamp(event.resolve_time),
                                                  suggestion=_suggestion(event, session_id))
                elif isinstance(event, SessionRisk):
                    yield pb.WatchSessionResponse(event_time=timestamp(event.update_time), risk=_risk(event))
                elif isinstance(event, RiskAlert):
                    yield pb.WatchSessionResponse(event_time=timestamp(event.risk.alert_time),
                                                  risk_alert=_risk(event.risk))
                elif isinstance(event, StoredAnalysis) and not shown.has(event):
                    shown.add(event)
                    yield pb.WatchSessionResponse(event_time=timestamp(event.create_time), analysis=_analysis(event))
                    if event.losing_prospect.change != AlertChange.NONE:
                        yield pb.WatchSessionResponse(event_time=timestamp(event.create_time),
                                                      losing_prospect=_losing_prospect(event))
        finally:
            self._watchers.unwatch(watcher)

    async def _send_snapshot(self, caller: Principal, session_id: str,
                             resync: bool) -> tuple[pb.WatchSessionResponse, Shown]:
        snapshot, message = await self._session_snapshot(caller, session_id)
        message.resync = resync
        response = pb.WatchSessionResponse(event_time=timestamp(datetime.now(UTC)), snapshot=message)
        return response, Shown.of(snapshot)

    async def _session_snapshot(self, caller: Principal, session_id: str) -> tuple[Snapshot, pb.SessionSnapshot]:
        """The session's live state with its audit once there is one, as every snapshot carries it."""
        snapshot, audit, risk = await asyncio.gather(self._analyses.snapshot(caller, session_id),
                                                     self._audits.of_session(caller.organization, session_id),
                                                     self._risks.of_session(caller.organization, session_id))
        message = _snapshot(snapshot)
        if audit is not None:
            message.audit.CopyFrom(audit_message(audit))
        if risk is not None:
            message.risk.CopyFrom(_risk(risk))
        return snapshot, message

    async def RecordSessionRisk(self, request: pb.RecordSessionRiskRequest,
                                context) -> pb.RecordSessionRiskResponse:
        session_id = names.resource_id(request.session, "sessions", "session")
        if not 0 <= request.risk.score <= MAX_RISK:
            raise InvalidArgument(FieldViolation("risk.score", f"must be 0 to {MAX_RISK} (got {request.risk.score})"))
        alert_time = request.risk.alert_time.ToDatetime(UTC) if request.risk.HasField("alert_time") else None
        stored = await self._risks.record(current_call().principal.organization, SessionRisk(
            session_id, request.risk.score, alert_time, datetime.now(UTC), request.risk.at_risk))
        return pb.RecordSessionRiskResponse(risk=_risk(stored))

    async def RequestAnalysis(self, request: pb.RequestAnalysisRequest, context) -> pb.RequestAnalysisResponse:
        engine = _stored_name(_ENGINES, request.engine, "engine", pb.Engine) or ""
        caller = current_call().principal
        sent = None
        if request.HasField("window"):
            require_window_sender(caller)
            sent = _sent_window(request)
        stored, duplicate = await self._analyses.request_analysis(
            caller, names.resource_id(request.session, "sessions", "session"), request.up_to_sequence,
            request.trigger_id, _source(request.source), request.window_size, engine, context.time_remaining(), sent)
        if not duplicate:
            self._watchers.stored_here(caller.organization, stored)
        return pb.RequestAnalysisResponse(analysis=_analysis(stored), duplicate=duplicate)

    async def GetAnalysis(self, request: pb.GetAnalysisRequest, context) -> pb.GetAnalysisResponse:
        stored = await self._analyses.get_analysis(current_call().principal, *_session_child(request.name, "analyses"))
        return pb.GetAnalysisResponse(analysis=_analysis(stored))

    async def ListAnalyses(self, request: pb.ListAnalysesRequest, context) -> pb.ListAnalysesResponse:
        source = _source(request.source) if request.source else None
        page = await self._analyses.list_analyses(current_call().principal,
                                                  names.resource_id(request.parent, "sessions", "parent"), source,
                                                  request.page_size, request.page_token)
        return pb.ListAnalysesResponse(analyses=[_analysis(a) for a in page.items],
                                       next_page_token=page.next_page_token)

    async def GetSessionSnapshot(self, request: pb.GetSessionSnapshotRequest,
                                 context) -> pb.GetSessionSnapshotResponse:
        _, snapshot = await self._session_snapshot(current_call().principal,
                                                   names.resource_id(request.session, "sessions", "session"))
        return pb.GetSessionSnapshotResponse(snapshot=snapshot)
