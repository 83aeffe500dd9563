"""In-memory stand-ins for the persona service's ports, so its use cases run without PostgreSQL or gRPC.

A unit of work sees the committed state when it starts and publishes its changes only on commit, as a
transaction does; what it leaves uncommitted is dropped. It is confined to one organization, as the SQL one is:
the state keeps every resource by (organization, id)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from persona_svc.domain.model import Archetype, Persona, PersonaFilter, PersonaVersion, Scenario, SearchHit
from persona_svc.domain.patches import PatchLookup
from persona_svc.service_layer.catalogue import Catalogue
from svckit.cache import InvalidatedCache
from svckit.pagination import PageTokens
from tests.unit.request_log_fake import InMemoryRequestLog, RequestTable


@dataclass
class CatalogueState:
    personas: dict[tuple[str, str], Persona] = field(default_factory=dict)
    versions: dict[tuple[str, str, int], PersonaVersion] = field(default_factory=dict)
    scenarios: dict[tuple[str, str], Scenario] = field(default_factory=dict)
    archetypes: dict[tuple[str, str], Archetype] = field(default_factory=dict)
    # request_id -> (method, fingerprint, response)
    requests: dict[str, RequestTable] = field(default_factory=dict)  # by organization


def _copy(state: CatalogueState) -> CatalogueState:
    # The stored objects are frozen: copying the tables is copying the state; request logs are copied too.
    copied = CatalogueState(**{f.name: dict(getattr(state, f.name)) for f in dataclasses.fields(state)})
    copied.requests = {organization: RequestTable(dict(log.requests)) for organization, log in state.requests.items()}
    return copied


class FakePersonaRepository:
    def __init__(self, state: CatalogueState, organization: str) -> None:
        self._state = state
        self._organization = organization

    def _mine(self) -> list[Persona]:
        return [p for (organization, _), p in self._state.personas.items() if organization == self._organization]

    async def get(self, persona_id: str, *, for_update: bool = False) -> Persona | None:
        return self._state.personas.get((self._organization, persona_id))

    async def id_of_slug(self, slug: str) -> str | None:
        return next((p.id for p in self._mine() if p.fields.slug == slug), None)

    async def add(self, persona: Persona) -> None:
        self._state.personas[(self._organization, persona.id)] = persona

    async def save(self, persona: Persona) -> None:
        self._state.personas[(self._organization, persona.id)] = persona

    async def list_keys(self, where: PersonaFilter, after: tuple[datetime, str] | None,
                        limit: int) -> list[tuple[str, int]]:
        found = [p for p in self._mine() if where.show_deleted or not p.deleted]
        found.sort(key=lambda p: (p.create_time, p.id), reverse=True)
        if after is not None:
            found = [p for p in found if (p.create_time, p.id) < after]
        return [(p.id, p.revision) for p in found[:limit]]

    async def get_many(self, persona_ids: list[str]) -> list[Persona]:
        return [p for p in self._mine() if p.id in persona_ids]

    async def search(self, text: str, blueprint: str | None, limit: int) -> list[SearchHit]:
        return [SearchHit(p, 1.0) for p in self._mine() if text.lower() in p.fields.display_name.lower()][:limit]

    async def add_version(self, version: PersonaVersion) -> None:
        self._state.versions[(self._organization, version.persona_id, version.revision)] = version

    async def get_version(self, persona_id: str, revision: int) -> PersonaVersion | None:
        return self._state.versions.get((self._organization, persona_id, revision))

    async def list_versions(self, persona_id: str, before_revision: int | None, limit: int) -> list[PersonaVersion]:
        versions = sorted((v for (organization, parent, _), v in self._state.versions.items()
                           if (organization, parent) == (self._organization, persona_id)),
                          key=lambda v: v.revision, reverse=True)
        return [v for v in versions if before_revision is None or v.revision < before_revision][:limit]


class FakeScenarioRepository:
    def __init__(self, state: CatalogueState, organization: str) -> None:
        self._state = state
        self._organization = organization

    async def get(self, scenario_id: str, *, for_update: bool = False) -> Scenario | None:
        return self._state.scenarios.get((self._organization, scenario_id))

    async def add(self, scenario: Scenario) -> None:
        self._state.scenarios[(self._organization, scenario.id)] = scenario

    async def save(self, scenario: Scenario) -> None:
        self._state.scenarios[(self._organization, scenario.id)] = scenario

    async def delete(self, scenario_id: str) -> None:
        del self._state.scenarios[(self._organization, scenario_id)]

    async def list(self, industry: str | None, after: tuple[datetime, str] | None, limit: int) -> list[Scenario]:
        mine = [s for (organization, _), s in self._state.scenarios.items() if organization == self._organization]
        found = sorted(mine, key=lambda s: (s.create_time, s.id), reverse=True)
        return [s for s in found if not industry or s.fields.industry.lower() == industry.lower()][:limit]


class FakeArchetypeRepository:
    def __init__(self, state: CatalogueState, organization: str) -> None:
        self._state = state
        self._organization = organization

    async def get(self, archetype_id: str) -> Archetype | None:
        return self._state.archetypes.get((self._organization, archetype_id))

    async def add(self, archetype: Archetype) -> None:
        self._state.archetypes[(self._organization, archetype.id)] = archetype

    async def list(self, after_id: str | None, limit: int) -> list[Archetype]:
        return [a for (organization, _), a in sorted(self._state.archetypes.items())
                if organization == self._organization and (after_id is None or a.id > after_id)][:limit]


class FakeCatalogueUnitOfWork:
    def __init__(self, committed: CatalogueState, organization: str) -> None:
        self._committed = committed
        self._organization = organization
        self.commits = 0

    async def __aenter__(self) -> Self:
        self._working = _copy(self._committed)
        self.personas = FakePersonaRepository(self._working, self._organization)
        self.scenarios = FakeScenarioRepository(self._working, self._organization)
        self.archetypes = FakeArchetypeRepository(self._working, self._organization)
        self.requests = InMemoryRequestLog(self._working.requests.setdefault(self._organization, RequestTable()))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        return None

    async def commit(self) -> None:
        for name, table in vars(_copy(self._working)).items():
            setattr(self._committed, name, table)
        self.commits += 1


class FakePatches:
    """Answers each lookup with the next of ``lookups`` (the last one again once they run out)."""

    def __init__(self, *lookups: PatchLookup) -> None:
        self._lookups = list(lookups)
        self.asked: list[tuple[str, str, str]] = []

    async def active_patches(self, organization: str, persona_name: str, archetype_id: str,
                             session: str = "") -> PatchLookup:
        self.asked.append((organization, persona_name, archetype_id))
        return self._lookups.pop(0) if len(self._lookups) > 1 else self._lookups[0]


def fake_catalogue(patches: FakePatches, state: CatalogueState | None = None,
                   caches: Sequence[InvalidatedCache[Any, Any]] = ()) -> tuple[Catalogue, CatalogueState]:
    """The catalogue's use cases over one in-memory state (returned too, to look into); ``caches``: its read caches
    of personas, scenarios and archetypes, if not the default ones."""
    state = state or CatalogueState()
    unit_of_work = lambda organization: FakeCatalogueUnitOfWork(state, organization)  # noqa: E731  (as app.py)
    return Catalogue(unit_of_work, unit_of_work, patches, PageTokens.from_secret("unit"), *caches), state
