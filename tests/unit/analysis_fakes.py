"""In-memory stand-ins for the analysis service's ports, so its use cases run without a database or a network."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.model import (
    AuditedPersona,
    EndedCall,
    Judgement,
    LiveWindow,
    NewAnalysis,
    NewAudit,
    StoredAnalysis,
    StoredAudit,
    StoredSuggestion,
    Window,
)
from analysis_svc.domain.suggestions import Suggestion
from calls.persona_audit import PersonaAudit, PersonaProfile
from calls.turns import Turn
from svckit.openai_json import INVALID_ANSWER, EngineFailure
from tests.unit.request_log_fake import InMemoryRequestLog, RequestTable


def _now() -> datetime:
    return datetime.now(UTC)


class FakeAnalysisRepository:
    def __init__(self) -> None:
        self.analyses: dict[str, StoredAnalysis] = {}

    async def add(self, analysis: NewAnalysis) -> bool:
        if await self.by_trigger(analysis.session_id, analysis.trigger_id) is not None:
            return False
        created = _now()
        suggestions = tuple(
            StoredSuggestion(f"{analysis.id}-{position}", analysis.id, analysis.session_id, suggestion, "open",
                             created, position=position)
            for position, suggestion in enumerate(analysis.suggestions, start=1))
        fields = {f.name: getattr(analysis, f.name) for f in dataclasses.fields(analysis) if f.name != "suggestions"}
        self.analyses[analysis.id] = StoredAnalysis(**fields, create_time=created, suggestions=suggestions)
        return True

    async def get(self, analysis_id: str) -> StoredAnalysis | None:
        return self.analyses.get(analysis_id)

    async def by_trigger(self, session_id: str, trigger_id: str) -> StoredAnalysis | None:
        return next((a for a in self.analyses.values()
                     if a.session_id == session_id and a.trigger_id == trigger_id), None)

    async def last_curveball(self, session_id: str) -> str | None:
        curveballs = [s for a in self.analyses.values() if a.session_id == session_id for s in a.suggestions
                      if s.suggestion.type.value == "curveball"]
        return curveballs[-1].suggestion.label if curveballs else None

    async def suggestion(self, session_id: str, suggestion_id: str, *,
                         for_update: bool = False) -> StoredSuggestion | None:
        return next((s for a in self.analyses.values() if a.session_id == session_id for s in a.suggestions
                     if s.id == suggestion_id), None)

    async def resolve(self, suggestion_id: str, state: str, *, command: str = "",
                      reason: str = "") -> StoredSuggestion:
        for analysis_id, analysis in self.analyses.items():
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

    async def add(self, audit: NewAudit) -> bool:
        if await self.of_session(audit.session_id) is not None:
            return False
        self.audits[audit.id] = StoredAudit(
            audit.id, audit.session_id, audit.persona, audit.persona_display_name, audit.blueprint, audit.audit,
            "pending", 0, "", None, _now(), audit.engine, audit.engine_fallback)
        return True

    async def get(self, audit_id: str) -> StoredAudit | None:
        return self.audits.get(audit_id)

    async def of_session(self, session_id: str) -> StoredAudit | None:
        return next((a for a in self.audits.values() if a.session_id == session_id), None)


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self.analyses = database.analyses
        self.audits = database.audits
        self.requests = database.requests
        self._announced: list[str] = []

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


class FakeDatabase:
    """One in-memory store behind every unit of work; counts commits and keeps what was announced."""

    def __init__(self) -> None:
        self.analyses = FakeAnalysisRepository()
        self.audits = FakeAuditRepository()
        self.requests = InMemoryRequestLog(RequestTable())
        self.commits = 0
        self.announced: list[str] = []

    def transaction(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeTranscripts:
    """A transcript service holding one call, live or ended; counts the windows read."""

    def __init__(self, turns: Sequence[Turn], blueprint: str = "sales", persona: str = "personas/sarah-chen") -> None:
        self.turns = tuple(turns)
        self.blueprint = blueprint
        self.persona = persona
        self.windows_read = 0

    async def require_session(self, session_id: str) -> None:
        pass

    async def window(self, session_id: str, up_to_sequence: int, size: int) -> Window:
        self.windows_read += 1
        turns = [turn for turn in self.turns if not up_to_sequence or turn.sequence <= up_to_sequence][-size:]
        return Window(self.blueprint, self.turns[-1].sequence, tuple(turns))

    async def ended_call(self, session_id: str) -> EndedCall:
        return EndedCall(self.persona, self.blueprint, self.turns)


class FakePersonas:
    def __init__(self, profile: PersonaProfile) -> None:
        self.profile = profile

    async def persona(self, name: str) -> AuditedPersona:
        return AuditedPersona(name, "Sarah Chen", self.profile)


class FakeCommands:
    """The live call's command queue: what was sent, by request id."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Suggestion]] = []

    async def send(self, session_id: str, suggestion_name: str, suggestion: Suggestion) -> str:
        self.sent.append((suggestion_name, suggestion))
        return f"sessions/{session_id}/commands/{len(self.sent)}"


class FakeAnalysisEngine:
    """Answers every window with the same judgement; counts the windows it judged."""

    def __init__(self, name: str, judgement: Judgement) -> None:
        self.name = name
        self.model = judgement.model
        self.judgement = judgement
        self.judged = 0

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement:
        self.judged += 1
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
