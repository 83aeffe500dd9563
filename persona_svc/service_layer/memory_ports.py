"""What the working-memory use cases need from the world; `app.py` injects the implementations in `adapters/`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from calls.turns import Turn
from persona_svc.domain.episodes import Embedding, Episode, EpisodeRanking, EpisodeReview
from persona_svc.domain.facts import Extraction, Fact
from persona_svc.domain.memory import (
    ErasedMemory,
    MemoryScope,
    MemorySettings,
    PlayedSession,
    WorkingMemory,
    WorkingMemoryRevision,
)
from svckit.usecase import RequestRecords


class WorkingMemoryRepository(Protocol):
    async def get(self, scope: MemoryScope) -> WorkingMemory | None: ...

    async def lock(self, scope: MemoryScope, now: datetime) -> WorkingMemory:
        """The scope's memory locked for the transaction (an empty one at revision 0 if it was never written)."""
        ...

    async def save(self, memory: WorkingMemory) -> None: ...

    async def record_access(self, scope: MemoryScope, when: datetime) -> None: ...

    async def add_revision(self, revision: WorkingMemoryRevision) -> None: ...

    async def get_revision(self, scope: MemoryScope, revision: int) -> WorkingMemoryRevision | None: ...

    async def list_revisions(self, scope: MemoryScope, before_revision: int | None,
                             limit: int) -> list[WorkingMemoryRevision]: ...


class FactRepository(Protocol):
    async def of_session(self, persona_id: str, candidate_id: str, session_id: str) -> list[Fact]: ...

    async def list(self, persona_id: str, candidate_id: str, show_superseded: bool,
                   after: tuple[datetime, str] | None, limit: int, *, for_update: bool = False) -> list[Fact]:
        """Newest first; only the valid ones unless ``show_superseded``."""
        ...

    async def add(self, fact: Fact) -> None: ...

    async def supersede(self, fact: Fact) -> None:
        """Stores the fact's ``valid_until`` and ``superseded_by``."""
        ...


class SettingsRepository(Protocol):
    async def get(self, persona_id: str) -> MemorySettings | None: ...

    async def lock(self, persona_id: str, now: datetime) -> MemorySettings:
        """The persona's settings locked for the transaction (the defaults at revision 0 if it has none)."""
        ...

    async def save(self, settings: MemorySettings) -> None: ...


class EpisodeRepository(Protocol):
    async def add(self, episode: Episode, embedding: Embedding | None) -> None:
        """Once per session: a repeat changes nothing. ``embedding``: of the episode's document, when there is one."""
        ...

    async def add_review(self, persona_id: str, session_id: str, review: EpisodeReview, now: datetime) -> bool:
        """Once per persona and session: False for a repeat, which changes nothing."""
        ...

    async def get(self, persona_id: str, candidate_id: str, session_id: str) -> Episode | None: ...

    async def latest(self, persona_id: str, candidate_id: str) -> Episode | None: ...

    async def recall(self, persona_id: str, candidate_id: str, context: str, ranking: EpisodeRanking,
                     limit: int, embedding: Embedding | None) -> list[tuple[Episode, float]]:
        """The persona's episodes (of the candidate, unless ''), most like ``context`` first, with their score;
        ``embedding`` (of the context) is required by VECTOR, and makes HYBRID fuse the vector ranking in."""
        ...


class CandidateEraser(Protocol):
    async def erase(self, candidate_id: str) -> ErasedMemory:
        """Deletes the candidate's working memories, revisions and facts, and the saved replies that held them;
        the audit log keeps its calls without the candidate's id."""
        ...


class Sessions(Protocol):
    """The transcript service's sessions, as memory sees them."""

    async def played(self, organization: str, session_id: str) -> PlayedSession:
        """Read at every call, never kept: a handoff changes the persona at any time. ``NotFound`` for no session of
        ``organization``; ``Unavailable`` when the transcript service cannot tell."""
        ...

    async def candidate_of(self, organization: str, session_id: str) -> str:
        """The id of the candidate the session names ("" when none, or no session of ``organization``);
        ``Unavailable`` when the transcript service cannot tell."""
        ...

    async def forget_candidate(self, organization: str, candidate_id: str) -> int:
        """Sessions of ``organization`` that named the candidate and no longer do."""
        ...


class FactExtractor(Protocol):
    """Finds the facts of a call's turns."""

    async def extract(self, turns: list[Turn], deadline: float | None) -> Extraction:
        """Never fails: an engine that cannot answer by ``deadline`` (time.monotonic(); None for none) leaves the
        call to the local extractor."""
        ...


class Embeddings(Protocol):
    """An embeddings endpoint; what an embedding is for ("episode", "context") labels its metrics."""

    model: str  # the configured model, which every embedding it gives names
    dimensions: int | None  # of the last embedding it gave (the endpoint's model may change them); None before one

    async def embed(self, text: str, use: str, deadline: float | None) -> Embedding | None:
        """The text's embedding, or None (counted) when the endpoint gives none by ``deadline`` (time.monotonic();
        None for none) or within its own time limit."""
        ...


class MemoryUnitOfWork(Protocol):
    """``async with uow: ...; await uow.commit()``; what is not committed is rolled back."""

    @property
    def memories(self) -> WorkingMemoryRepository: ...

    @property
    def facts(self) -> FactRepository: ...

    @property
    def erasure(self) -> CandidateEraser: ...

    @property
    def settings(self) -> SettingsRepository: ...

    @property
    def episodes(self) -> EpisodeRepository: ...

    @property
    def requests(self) -> RequestRecords: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


# A new unit of work for each use, confined to the organization it is given.
MemoryUnitOfWorkFactory = Callable[[str], MemoryUnitOfWork]
