"""What the catalogue's use cases need from the world; `app.py` injects the implementations in `adapters/`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from persona_svc.domain.model import Archetype, Persona, PersonaFilter, PersonaVersion, Scenario, SearchHit
from persona_svc.domain.patches import PatchLookup
from svckit.usecase import RequestRecords


class PersonaRepository(Protocol):
    async def get(self, persona_id: str, *, for_update: bool = False) -> Persona | None: ...

    async def id_of_slug(self, slug: str) -> str | None: ...

    async def add(self, persona: Persona) -> None: ...

    async def save(self, persona: Persona) -> None: ...

    async def list_keys(self, where: PersonaFilter, after: tuple[datetime, str] | None,
                        limit: int) -> list[tuple[str, int]]:
        """(id, revision) of a page, newest first."""
        ...

    async def get_many(self, persona_ids: list[str]) -> list[Persona]: ...

    async def search(self, text: str, blueprint: str | None, limit: int) -> list[SearchHit]: ...

    async def add_version(self, version: PersonaVersion) -> None: ...

    async def get_version(self, persona_id: str, revision: int) -> PersonaVersion | None: ...

    async def promotion_version(self, persona_id: str, experiment: str) -> PersonaVersion | None: ...

    async def list_versions(self, persona_id: str, before_revision: int | None,
                            limit: int) -> list[PersonaVersion]: ...


class ScenarioRepository(Protocol):
    async def get(self, scenario_id: str, *, for_update: bool = False) -> Scenario | None: ...

    async def add(self, scenario: Scenario) -> None: ...

    async def save(self, scenario: Scenario) -> None: ...

    async def delete(self, scenario_id: str) -> None: ...

    async def list(self, industry: str | None, after: tuple[datetime, str] | None, limit: int) -> list[Scenario]: ...


class ArchetypeRepository(Protocol):
    async def get(self, archetype_id: str) -> Archetype | None: ...

    async def add(self, archetype: Archetype) -> None: ...

    async def list(self, after_id: str | None, limit: int) -> list[Archetype]: ...


class CatalogueUnitOfWork(Protocol):
    """``async with uow: ...; await uow.commit()``; what is not committed is rolled back.

    A uniqueness race lost to a concurrent writer leaves the block as AlreadyExists (reason CONFLICT)."""

    @property
    def personas(self) -> PersonaRepository: ...

    @property
    def scenarios(self) -> ScenarioRepository: ...

    @property
    def archetypes(self) -> ArchetypeRepository: ...

    @property
    def requests(self) -> RequestRecords: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


# A new unit of work for each use, confined to the organization it is given; reads get one without a transaction.
UnitOfWorkFactory = Callable[[str], CatalogueUnitOfWork]


class PatchProvider(Protocol):
    """The active prompt patches of an organization's persona (its archetype's, and its published learned modules);
    never fails: when the source does not answer, the
    lookup is the last set it gave (LAST_KNOWN_GOOD, with when it gave it; without a session's variant), else an
    empty one saying so."""

    async def active_patches(self, organization: str, persona_name: str, archetype_id: str,
                             session: str = "") -> PatchLookup:
        """With ``session`` ("sessions/{id}"), the set ends with the modifications of the experiment variant the
        session plays, if any."""
        ...
