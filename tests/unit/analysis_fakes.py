"""In-memory stand-ins for the analysis service's ports, so its use cases run without a database or a network.

Like the real adapters, they hold every organization's records apart: a record is found only within the organization
it was stored for."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from analysis_svc.domain import running
from analysis_svc.domain.content_findings import ContentFinding
from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.model import (
    SESSION_END,
    AuditedPersona,
    EndedCall,
    Judgement,
    KeptMeasures,
    LiveWindow,
    NewAnalysis,
    NewAudit,
    ReadingState,
    ScorePoint,
    Snapshot,
    StoredAnalysis,
    StoredAudit,
    StoredSuggestion,
    Window,
)
from analysis_svc.domain.suggestions import NO_CONTEXT, CallContext, Suggestion, SuggestionType
from analysis_svc.domain.tracks.rubric import Tally
from calls.persona_audit import PersonaAudit, PersonaProfile
from calls.turns import Turn
from svckit.errors import NotFound
from svckit.openai_json import INVALID_ANSWER, EngineFailure
from tests.unit.request_log_fake import InMemoryRequestLog, RequestTable


def _now() -> datetime:
    return datetime.now(UTC)


class FakeAnalysisRepository:
    def __init__(self) -> None:
        self.analyses: dict[str, StoredAnalysis] = {}
        self.organizations: dict[str, str] = {}  # analysis id -> its organization
        self.call_measures: dict[str, dict[str, Any]] = {}  # analysis id -> the call's measures it kept
        self.call_tallies: dict[str, Tally | None] = {}  # analysis id -> its track's tally of the call

    def _of(self, organization: str) -> list[StoredAnalysis]:
        return [a for a in self.analyses.values() if self.organizations[a.id] == organization]

    async def add(self, organization: str, analysis: NewAnalysis) -> StoredAnalysis | None:
        if await self.by_trigger(organization, analysis.session_id, analysis.trigger_id) is not None:
            return None
        self.organizations[analysis.id] = organization
        created = _now()
        suggestions = tuple(
            StoredSuggestion(f"{analysis.id}-{position}", analysis.id, analysis.session_id, suggestion, "open",
                             created, position=position)
            for position, suggestion in enumerate(analysis.suggestions, start=1))
        fields = {f.name: getattr(analysis, f.name) for f in dataclasses.fields(analysis)
                  if f.name not in ("suggestions", "call_measures", "call_tally")}
        if analysis.call_measures is not None:
            self.call_measures[analysis.id] = analysis.call_measures
            self.call_tallies[analysis.id] = analysis.call_tally
        self.analyses[analysis.id] = StoredAnalysis(**fields, create_time=created, suggestions=suggestions)
        return self.analyses[analysis.id]

    async def get(self, organization: str, analysis_id: str) -> StoredAnalysis | None:
        return next((a for a in self._of(organization) if a.id == analysis_id), None)

    async def by_trigger(self, organization: str, session_id: str, trigger_id: str) -> StoredAnalysis | None:
        return next((a for a in self._of(organization)
                     if a.session_id == session_id and a.trigger_id == trigger_id), None)

    async def reading_state(self, organization: str, session_id: str, trigger_id: str,
                            up_to_sequence: int) -> ReadingState:
        existing = await self.by_trigger(organization, session_id, trigger_id)
        suggestions = [s for a in self._of(organization) if a.session_id == session_id for s in a.suggestions]
        kept = [a for a in await self.in_call_order(organization, session_id, None, None, len(self.analyses))
                if a.up_to_sequence <= up_to_sequence and a.id in self.call_measures]
        return ReadingState(
            existing.id if existing else None, frozenset(s.suggestion.label for s in suggestions),
            any(s.state == "open" and s.suggestion.type == SuggestionType.HANDOFF for s in suggestions),
            KeptMeasures(kept[-1].up_to_sequence, running.from_record(self.call_measures[kept[-1].id]),
                         self.call_tallies[kept[-1].id]) if kept else None)

    async def in_call_order(self, organization: str, session_id: str, source: str | None, after: list[Any] | None,
                            limit: int) -> list[StoredAnalysis]:
        return sorted((a for a in self._of(organization) if a.session_id == session_id),
                      key=lambda a: (a.up_to_sequence, a.create_time))[:limit]

    async def suggestion(self, organization: str, session_id: str, suggestion_id: str, *,
                         for_update: bool = False) -> StoredSuggestion | None:
        return next((s for a in self._of(organization) if a.session_id == session_id for s in a.suggestions
                     if s.id == suggestion_id), None)

    async def suggestions(self, organization: str, session_id: str, *, state: str | None, kind: str | None,
                          analysis_id: str | None, after: list[Any] | None, limit: int) -> list[StoredSuggestion]:
        return [s for a in self._of(organization) if a.session_id == session_id for s in a.suggestions][:limit]

    async def snapshot(self, organization: str, session_id: str) -> Snapshot:
        analyses = await self.in_call_order(organization, session_id, None, None, len(self.analyses))
        history = [ScorePoint(a.id, a.window_last, a.say_meter.score, a.create_time) for a in analyses]
        return Snapshot(session_id, analyses[-1] if analyses else None, history,
                        [s for a in analyses for s in a.suggestions if s.state == "open"],
                        final_reading=any(a.trigger_source == SESSION_END for a in analyses))

    async def resolve(self, organization: str, suggestion_id: str, state: str, *, command: str = "",
                      reason: str = "") -> StoredSuggestion:
        for analysis_id, analysis in self.analyses.items():
            if self.organizations[analysis_id] != organization:
                continue
            for index, current in enumerate(analysis.suggestions):
                if current.id == suggestion_id:
                    resolved = dataclasses.replace(current, state=state, command=command, dismiss_reason=reason,
                                                   resolve_time=_now(), revision=current.revision + 1)
                    suggestions = (*analysis.suggestions[:index], resolved, *analysis.suggestions[index + 1:])
                    self.analyses[analysis_id] = dataclasses.replace(analysis, suggestions=suggestions)
                    return resolved
        raise KeyError(suggestion_id)


class FakeAuditRepository:
    def __init__(self) -> None:
        self.audits: dict[str, StoredAudit] = {}
        self.organizations: dict[str, str] = {}  # audit id -> its organization

    def _of(self, organization: str) -> list[StoredAudit]:
        return [a for a in self.audits.values() if self.organizations[a.id] == organization]

    async def add(self, organization: str, audit: NewAudit) -> bool:
        if await self.of_session(organization, audit.session_id) is not None:
            return False
        self.organizations[audit.id] = organization
        self.audits[audit.id] = StoredAudit(
            audit.id, audit.session_id, audit.persona, audit.persona_display_name, audit.blueprint, audit.audit,
            "pending", 0, "", None, _now(), audit.engine, audit.engine_fallback)
        return True

    async def get(self, organization: str, audit_id: str) -> StoredAudit | None:
        return next((a for a in self._of(organization) if a.id == audit_id), None)

    async def of_session(self, organization: str, session_id: str) -> StoredAudit | None:
        return next((a for a in self._of(organization) if a.session_id == session_id), None)

    async def newest_first(self, organization: str, *, session_id: str | None, persona: str | None,
                           archetype: str | None, delivery_state: str | None, after: list[Any] | None,
                           limit: int) -> list[StoredAudit]:
        return sorted(self._of(organization), key=lambda a: a.create_time, reverse=True)[:limit]


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self.analyses = database.analyses
        self.audits = database.audits
        self.finding_deliveries = database.finding_deliveries
        self._announced: list[str] = []

    def requests_of(self, organization: str) -> InMemoryRequestLog:
        return InMemoryRequestLog(self._database.requests.setdefault(organization, RequestTable()))

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    async def commit(self) -> None:
        self._database.commits += 1
        self._database.announced.extend(self._announced)  # NOTIFY is sent on commit, as PostgreSQL does
        self._announced.clear()

    async def announce(self, change: str) -> None:
        self._announced.append(change)


class FakeFindingDeliveries:
    """The readings' findings queued for the transcript service: (organization, session, analysis, findings)."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, str, str, tuple[ContentFinding, ...]]] = []

    async def enqueue(self, organization: str, session_id: str, analysis_id: str,
                      findings: Sequence[ContentFinding]) -> None:
        self.queued.append((organization, session_id, analysis_id, tuple(findings)))


class FakeDatabase:
    """One in-memory store behind every unit of work; counts commits and keeps what was announced."""

    def __init__(self) -> None:
        self.analyses = FakeAnalysisRepository()
        self.audits = FakeAuditRepository()
        self.finding_deliveries = FakeFindingDeliveries()
        self.requests: dict[str, RequestTable] = {}  # by organization
        self.commits = 0
        self.announced: list[str] = []

    def transaction(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeTranscripts:
    """A transcript service holding the same call, live or ended, under every session id of ``organizations``;
    counts the windows read, and records for which organization each read was made."""

    def __init__(self, turns: Sequence[Turn], blueprint: str = "sales", persona: str = "personas/sarah-chen",
                 organizations: frozenset[str] = frozenset({"acme", "globex"})) -> None:
        self.turns = tuple(turns)
        self.blueprint = blueprint
        self.persona = persona
        self.organizations = organizations
        self.windows_read = 0
        self.read_for: list[str] = []

    def _read(self, organization: str, session_id: str) -> None:
        self.read_for.append(organization)
        if organization not in self.organizations:
            raise NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND")

    async def window(self, organization: str, session_id: str, up_to_sequence: int, size: int) -> Window:
        self._read(organization, session_id)
        self.windows_read += 1
        turns = [turn for turn in self.turns if not up_to_sequence or turn.sequence <= up_to_sequence][-size:]
        return Window(self.blueprint, self.turns[-1].sequence, tuple(turns))

    async def ended_call(self, organization: str, session_id: str) -> EndedCall:
        self._read(organization, session_id)
        return EndedCall(self.persona, self.blueprint, self.turns)


class FakeSessionDirectory:
    """Sessions by organization and id, each with its interviewer's subject."""

    def __init__(self, interviewers: dict[tuple[str, str], str] | None = None) -> None:
        self.interviewers = dict(interviewers or {})

    async def interviewer(self, organization: str, session_id: str) -> str:
        if (organization, session_id) not in self.interviewers:
            raise NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND")
        return self.interviewers[organization, session_id]


class FakePersonas:
    def __init__(self, profile: PersonaProfile) -> None:
        self.profile = profile

    async def persona(self, name: str, scenario: str = "") -> AuditedPersona:
        return AuditedPersona(name, "Sarah Chen", self.profile)


class FakeCallContexts:
    """Every session's persona and scenario give the curveballs ``context``."""

    def __init__(self, context: CallContext = NO_CONTEXT) -> None:
        self.context_of_every_session = context

    async def context(self, organization: str, session_id: str, window: Window | None = None) -> CallContext:
        return self.context_of_every_session


class FakeCommands:
    """The live call's command queue: what was sent, by request id."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Suggestion]] = []
        self.sent_for: list[str] = []  # the organization each command was sent on behalf of

    async def send(self, organization: str, session_id: str, suggestion_name: str, suggestion: Suggestion) -> str:
        self.sent.append((suggestion_name, suggestion))
        self.sent_for.append(organization)
        return f"sessions/{session_id}/commands/{len(self.sent)}"


class FakeAnalysisEngine:
    """Answers every window with the same judgement; keeps the windows it judged."""

    def __init__(self, name: str, judgement: Judgement) -> None:
        self.name = name
        self.model = judgement.model
        self.judgement = judgement
        self.windows: list[LiveWindow] = []

    @property
    def judged(self) -> int:
        return len(self.windows)

    def languages_for(self, blueprint: str) -> frozenset[str] | None:
        return None

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement:
        self.windows.append(window)
        return self.judgement


class FakeAuditEngine:
    def __init__(self, name: str, audit: PersonaAudit) -> None:
        self.name = name
        self.audit_result = audit

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
        return self.audit_result


class FailingAuditEngine:
    """An engine whose every answer fails validation."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
        raise EngineFailure(INVALID_ANSWER, "scores.brevity must be an integer from 1 to 10 (got 11)")
