"""What the use cases need from the outside, as protocols: ``app.py`` injects the adapters that implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from analysis_svc.domain.content_findings import ContentFinding
from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.model import (
    AuditedPersona,
    EndedCall,
    Judgement,
    LiveWindow,
    NewAnalysis,
    NewAudit,
    ReadingState,
    SayMeterArc,
    SessionRisk,
    Snapshot,
    StoredAnalysis,
    StoredAudit,
    StoredSuggestion,
    Window,
)
from analysis_svc.domain.suggestions import CallContext, Suggestion
from analysis_svc.domain.switching import SwitchingRule
from calls.persona_audit import PersonaAudit, PersonaProfile
from calls.turns import Turn
from guardrails.filters import ContentFilter
from guardrails.policy import LivePolicy


class AnalysisRepository(Protocol):
    """Every method reads or writes within ``organization`` only."""

    async def add(self, organization: str, analysis: NewAnalysis) -> StoredAnalysis | None:
        """The analysis as stored; None when one of the same trigger was stored first."""
    async def get(self, organization: str, analysis_id: str) -> StoredAnalysis | None: ...
    async def by_trigger(self, organization: str, session_id: str, trigger_id: str) -> StoredAnalysis | None: ...
    async def reading_state(self, organization: str, session_id: str, trigger_id: str,
                            up_to_sequence: int) -> ReadingState:
        """What a reading of ``trigger_id`` up to ``up_to_sequence`` builds on, in one read."""
    async def in_call_order(self, organization: str, session_id: str, source: str | None, after: list[Any] | None,
                            limit: int) -> list[StoredAnalysis]: ...
    async def say_meter_arc(self, organization: str, session_id: str, max_readings: int) -> SayMeterArc:
        """The first ``max_readings`` live readings' scores in call order, and the final reading's score."""
    async def suggestion(self, organization: str, session_id: str, suggestion_id: str, *,
                         for_update: bool = False) -> StoredSuggestion | None: ...
    async def suggestions(self, organization: str, session_id: str, *, state: str | None, kind: str | None,
                          analysis_id: str | None, after: list[Any] | None, limit: int) -> list[StoredSuggestion]: ...
    async def resolve(self, organization: str, suggestion_id: str, state: str, *, command: str = "",
                      reason: str = "") -> StoredSuggestion: ...
    async def snapshot(self, organization: str, session_id: str) -> Snapshot: ...


class SafetyPolicies(Protocol):
    async def in_force(self, organization: str, persona: str) -> LivePolicy:
        """What the persona's calls apply of its safety policy; never fails (a safe default when unread)."""


class Moderation(Protocol):
    async def findings(self, turns: Sequence[Turn], filters: tuple[ContentFilter, ...]) -> tuple[ContentFinding, ...]:
        """What a model finds in ``turns`` for ``filters``; EngineFailure when its answer is unusable."""


class AuditRepository(Protocol):
    """Every method reads or writes within ``organization`` only."""

    async def add(self, organization: str, audit: NewAudit) -> bool: ...
    async def get(self, organization: str, audit_id: str) -> StoredAudit | None: ...
    async def of_session(self, organization: str, session_id: str) -> StoredAudit | None: ...
    async def newest_first(self, organization: str, *, session_id: str | None, persona: str | None,
                           archetype: str | None, delivery_state: str | None, after: list[Any] | None,
                           limit: int) -> list[StoredAudit]: ...


class SwitchingRuleRepository(Protocol):
    """Every method reads or writes within ``organization`` only; deleted rules are not found."""

    async def add(self, organization: str, rule: SwitchingRule) -> bool: ...

    async def get(self, organization: str, rule_id: str) -> SwitchingRule | None: ...

    async def active(self, organization: str) -> list[SwitchingRule]:
        """Highest priority first."""
        ...

    async def delete(self, organization: str, rule_id: str, when: datetime) -> bool: ...


class SessionRiskRepository(Protocol):
    async def record(self, organization: str, risk: SessionRisk) -> tuple[SessionRisk, bool, bool]:
        """Stores the higher of the score stored and ``risk``'s, and the first alert time; the risk as stored,
        whether its score rose, and whether it alerted now."""
        ...

    async def get(self, organization: str, session_id: str) -> SessionRisk | None: ...


class FindingDeliveries(Protocol):
    async def enqueue(self, organization: str, session_id: str, analysis_id: str,
                      findings: Sequence[ContentFinding]) -> None:
        """Queues a reading's findings for the transcript service's guardrail check log, in this transaction."""
        ...


class RequestLog(Protocol):
    """Responses of mutating requests by request id (``svckit.db.RequestLog``)."""

    async def claim(self, request_id: str, method: str, fingerprint: str) -> Any | None: ...
    async def record(self, request_id: str, response: Any) -> None: ...


class UnitOfWork(Protocol):
    @property
    def analyses(self) -> AnalysisRepository: ...
    @property
    def audits(self) -> AuditRepository: ...
    @property
    def switching_rules(self) -> SwitchingRuleRepository: ...
    @property
    def session_risks(self) -> SessionRiskRepository: ...
    @property
    def finding_deliveries(self) -> FindingDeliveries: ...

    def requests_of(self, organization: str) -> RequestLog:
        """The request ids of one organization: another's are never seen."""

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...
    async def commit(self) -> None: ...
    async def announce(self, change: str) -> None:
        """``{organization}/{session_id}:{change}`` to every replica's watchers, once committed."""
    async def announce_rules(self, organization: str) -> None:
        """To every replica, once committed: the organization's switching rules changed."""


class Database(Protocol):
    def transaction(self) -> UnitOfWork: ...
    def read(self) -> UnitOfWork:
        """Reads outside any transaction: nothing to commit."""


class TranscriptReader(Protocol):
    """The transcript service, asked on behalf of ``organization``: another organization's sessions are not found."""

    async def window(self, organization: str, session_id: str, up_to_sequence: int, size: int) -> Window: ...

    async def ended_call(self, organization: str, session_id: str) -> EndedCall:
        """Every message of an ended session; FailedPrecondition while it is still live."""


class SessionDirectory(Protocol):
    async def interviewer(self, organization: str, session_id: str) -> str:
        """The subject of the session's interviewer ("" when it names none); NotFound unless the session is one of
        ``organization``'s."""


class PersonaProfiles(Protocol):
    async def persona(self, name: str, scenario: str = "") -> AuditedPersona:
        """The persona as the auditor judges it, with the facts of the call's scenario when it names one."""


class CallContexts(Protocol):
    async def context(self, organization: str, session_id: str, window: Window | None = None) -> CallContext:
        """The objections of the persona playing the session and its scenario's facts, those ``window`` names when it
        names a scenario (else the session's); an empty context when they cannot be read."""


class CommandSender(Protocol):
    async def send(self, organization: str, session_id: str, suggestion_name: str, suggestion: Suggestion) -> str:
        """Sends the suggestion to the live call; returns the command's name. Idempotent on the suggestion."""


class HandoffStarter(Protocol):
    async def start(self, organization: str, session_id: str, suggestion_name: str, rule: SwitchingRule) -> str:
        """Hands the live call over as ``rule`` says; returns the name of the command that carries it to the call.
        Idempotent on the suggestion."""
        ...


class AnalysisEngine(Protocol):
    """Judges a live window: a Say Meter and suggestions, or ``EngineFailure``."""

    name: str
    model: str

    def languages_for(self, blueprint: str) -> frozenset[str] | None:
        """The ISO 639-1 codes it understands calls of the ``blueprint`` track in; None: any."""
        ...

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement: ...


def understands(engine: AnalysisEngine, language: str, blueprint: str) -> bool:
    """Whether a reading of a ``blueprint`` call in ``language`` ("" when undetermined) by ``engine`` is a judgement
    of what was said."""
    languages = engine.languages_for(blueprint)
    return languages is None or not language or language in languages


class AuditEngine(Protocol):
    """Audits the persona's side of an ended call; ``EngineFailure`` when it cannot, ValueError when the persona
    never spoke."""

    name: str

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit: ...
