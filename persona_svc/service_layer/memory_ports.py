"""What the working-memory use cases need from the world; `app.py` injects the implementations in `adapters/`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from persona_svc.domain.memory import MemoryScope, WorkingMemory, WorkingMemoryRevision
from persona_svc.domain.model import Persona
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


class MemoryUnitOfWork(Protocol):
    """``async with uow: ...; await uow.commit()``; what is not committed is rolled back."""

    @property
    def memories(self) -> WorkingMemoryRepository: ...

    @property
    def requests(self) -> RequestRecords: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


# A new unit of work for each use, confined to the organization it is given.
MemoryUnitOfWorkFactory = Callable[[str], MemoryUnitOfWork]
# An organization's persona by id, NOT_FOUND when it has none (the catalogue's cached read).
PersonaLookup = Callable[[str, str], Awaitable[Persona]]
