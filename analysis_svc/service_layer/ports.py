"""What the use cases need from the outside, as protocols: ``app.py`` injects the adapters that implement them."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol

from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.model import (
    AuditedPersona,
    EndedCall,
    Judgement,
    LiveWindow,
    NewAnalysis,
    NewAudit,
    Snapshot,
    StoredAnalysis,
    StoredAudit,
    StoredSuggestion,
    Window,
)
from analysis_svc.domain.suggestions import Suggestion
from calls.persona_audit import PersonaAudit, PersonaProfile
from calls.turns import Turn


class AnalysisRepository(Protocol):
    async def add(self, analysis: NewAnalysis) -> bool: ...
    async def get(self, analysis_id: str) -> StoredAnalysis | None: ...
    async def by_trigger(self, session_id: str, trigger_id: str) -> StoredAnalysis | None: ...
    async def last_curveball(self, session_id: str) -> str | None: ...
    async def in_call_order(self, session_id: str, source: str | None, after: list[Any] | None,
                            limit: int) -> list[StoredAnalysis]: ...
    async def suggestion(self, session_id: str, suggestion_id: str, *,
                         for_update: bool = False) -> StoredSuggestion | None: ...
    async def suggestions(self, session_id: str, *, state: str | None, kind: str | None, analysis_id: str | None,
                          after: list[Any] | None, limit: int) -> list[StoredSuggestion]: ...
    async def resolve(self, suggestion_id: str, state: str, *, command: str = "",
                      reason: str = "") -> StoredSuggestion: ...
    async def snapshot(self, session_id: str) -> Snapshot: ...


class AuditRepository(Protocol):
    async def add(self, audit: NewAudit) -> bool: ...
    async def get(self, audit_id: str) -> StoredAudit | None: ...
    async def of_session(self, session_id: str) -> StoredAudit | None: ...
    async def newest_first(self, *, session_id: str | None, persona: str | None, archetype: str | None,
                           delivery_state: str | None, after: list[Any] | None, limit: int) -> list[StoredAudit]: ...


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
    def requests(self) -> RequestLog: ...

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...
    async def commit(self) -> None: ...
    async def announce(self, change: str) -> None:
        """``{session_id}:{change}`` to every replica's watchers, once committed."""


class Database(Protocol):
    def transaction(self) -> UnitOfWork: ...
    def read(self) -> UnitOfWork:
        """Reads outside any transaction: nothing to commit."""


class TranscriptReader(Protocol):
    async def require_session(self, session_id: str) -> None:
        """NotFound unless the transcript service knows the session."""

    async def window(self, session_id: str, up_to_sequence: int, size: int) -> Window: ...

    async def ended_call(self, session_id: str) -> EndedCall:
        """Every message of an ended session; FailedPrecondition while it is still live."""


class PersonaProfiles(Protocol):
    async def persona(self, name: str) -> AuditedPersona: ...


class CommandSender(Protocol):
    async def send(self, session_id: str, suggestion_name: str, suggestion: Suggestion) -> str:
        """Sends the suggestion to the live call; returns the command's name. Idempotent on the suggestion."""


class AnalysisEngine(Protocol):
    """Judges a live window: a Say Meter and suggestions, or ``EngineFailure``."""

    name: str
    model: str

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement: ...


class AuditEngine(Protocol):
    """Audits the persona's side of an ended call; ``EngineFailure`` when it cannot, ValueError when the persona
    never spoke."""

    name: str

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit: ...
