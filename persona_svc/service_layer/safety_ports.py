"""What the safety policies' use cases need from the world; `app.py` injects the implementations in `adapters/`."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from persona_svc.domain.model import Persona
from persona_svc.domain.safety import SafetyPolicy, SafetyPolicyVersion
from svckit.usecase import RequestRecords


class PersonaReader(Protocol):
    async def get(self, persona_id: str, *, for_update: bool = False) -> Persona | None: ...


class SafetyPolicyRepository(Protocol):
    """Written policies by persona id; the empty id holds the organization's default."""

    async def get(self, persona_id: str, *, for_update: bool = False) -> SafetyPolicy | None: ...

    async def save(self, policy: SafetyPolicy, restored_revision: int, author: str) -> None: ...

    async def get_version(self, persona_id: str, revision: int) -> SafetyPolicyVersion | None: ...

    async def list_versions(self, persona_id: str, before_revision: int | None,
                            limit: int) -> list[SafetyPolicyVersion]: ...


class SafetyPolicyUnitOfWork(Protocol):
    """``async with uow: ...; await uow.commit()``; what is not committed is rolled back. Two first writes of one
    policy at once leave the block as AlreadyExists (reason CONFLICT)."""

    @property
    def personas(self) -> PersonaReader: ...

    @property
    def policies(self) -> SafetyPolicyRepository: ...

    @property
    def requests(self) -> RequestRecords: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


# A new unit of work for each use, confined to the organization it is given.
SafetyPolicyUnitOfWorkFactory = Callable[[str], SafetyPolicyUnitOfWork]
