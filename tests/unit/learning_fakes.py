"""In-memory stand-ins for the learning service's ports, for its use-case tests: a unit of work whose
repositories keep rows in plain collections (undone unless committed, as a transaction is), a request log,
a persona service and engines that answer what a test gives them. Each organization has tables of its own, as
every statement of the real repositories is confined to one.

The repositories hold what the audits, patches, evolution and learning-run use cases touch; a use case that reaches
for another one fails loudly on the missing attribute."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from learning_svc.domain.evolution import Finding, PersonaBrief, Proposals, Refinement
from learning_svc.domain.modules import Module, Signal, TrainingEventSource
from learning_svc.domain.patches import PatchAction, PatchChange, PatchState, PatchTarget, PromptPatch
from learning_svc.domain.simulation import PlayedPrompts, SimulatedPersona, SimulationSummary
from learning_svc.service_layer.ports import Document, PendingEvent, Rendering
from svckit.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from svckit.openai_json import EngineFailure
from tests.builders import caller
from tests.unit.request_log_fake import InMemoryRequestLog

RECORD_TIME = datetime(2025, 3, 2, tzinfo=UTC)


@dataclass
class LearningTables:
    """What the learning schema holds, as far as the fakes keep it."""

    audits: dict[str, Document] = field(default_factory=dict)
    events: list[tuple[str, TrainingEventSource, str, Signal]] = field(default_factory=list)
    processed: dict[str, str] = field(default_factory=dict)  # event id -> the learning run that folded it in
    modules: dict[tuple[str, str], Module] = field(default_factory=dict)  # (persona, module) -> module
    patches: dict[str, PromptPatch] = field(default_factory=dict)
    # (patch name, action, actor, reason) in the order they were written
    revisions: list[tuple[str, PatchAction, str, str]] = field(default_factory=list)
    # request id -> (method, fingerprint, response)
    requests: dict[str, tuple[str, str, Any]] = field(default_factory=dict)
    commits: int = 0


class FakeAudits:
    def __init__(self, tables: LearningTables) -> None:
        self._tables = tables

    async def add(self, audit_id: str, document: Document) -> bool:
        if audit_id in self._tables.audits:
            return False
        self._tables.audits[audit_id] = document
        return True

    async def get(self, audit_id: str) -> Document | None:
        stored = self._tables.audits.get(audit_id)
        return {**stored, "record_time": RECORD_TIME.isoformat()} if stored is not None else None

    async def recent(self, archetype: str | None, limit: int) -> list[Document]:
        in_scope = [d for d in self._tables.audits.values() if archetype is None or d["archetype"] == archetype]
        return sorted(in_scope, key=lambda d: (d["audit_time"], d["name"]), reverse=True)[:limit]


class FakeTrainingEvents:
    def __init__(self, tables: LearningTables) -> None:
        self._tables = tables

    async def add(self, event_id: str, source: TrainingEventSource, origin: str, signal: Signal) -> None:
        self._tables.events.append((event_id, source, origin, signal))

    async def unprocessed(self, persona: str, limit: int) -> list[PendingEvent]:
        pending = [PendingEvent(event_id, signal.persona, signal.module, signal.signal)
                   for event_id, _, _, signal in self._tables.events
                   if event_id not in self._tables.processed and persona in ("", signal.persona)]
        return pending[:limit]

    async def mark_processed(self, event_ids: Sequence[str], learning_run: str) -> int:
        fresh = [event_id for event_id in event_ids if event_id not in self._tables.processed]
        self._tables.processed.update(dict.fromkeys(fresh, learning_run))
        return len(fresh)


class FakeModules:
    def __init__(self, tables: LearningTables) -> None:
        self._tables = tables

    async def of_personas(self, personas: Sequence[str]) -> dict[tuple[str, str], Module]:
        return {key: module for key, module in self._tables.modules.items() if key[0] in personas}

    async def save(self, module: Module) -> None:
        self._tables.modules[(module.persona, module.module)] = module


class FakePatches:
    def __init__(self, tables: LearningTables) -> None:
        self._tables = tables

    async def get(self, patch_id: str, lock: bool = False) -> PromptPatch:
        patch = self._tables.patches.get(f"patches/{patch_id}")
        if patch is None:
            raise NotFound(f"patches/{patch_id}", reason="PATCH_NOT_FOUND")
        return patch

    async def add(self, patch: PromptPatch, actor: str, reason: str) -> None:
        if patch.name in self._tables.patches:
            raise AlreadyExists(f"{patch.name} already exists", reason="PATCH_EXISTS")
        await self.save(patch, PatchAction.CREATE, actor, reason)

    async def save(self, patch: PromptPatch, action: PatchAction, actor: str, reason: str) -> None:
        self._tables.patches[patch.name] = patch
        self._tables.revisions.append((patch.name, action, actor, reason))

    async def lock_target(self, archetype: str, target: PatchTarget) -> None:
        """One test task at a time: nothing to serialise."""

    async def active(self, archetype: str, target: PatchTarget) -> list[PromptPatch]:
        return [p for p in await self.active_of({archetype}) if p.archetype == archetype and p.target == target]

    async def active_of(self, archetypes: set[str]) -> list[PromptPatch]:
        active = [p for p in self._tables.patches.values()
                  if p.state == PatchState.ACTIVE and p.archetype in archetypes | {""}]
        return sorted(active, key=lambda p: (p.activate_time or RECORD_TIME, p.name))

    async def active_for_render(self, archetype: str) -> list[PromptPatch]:
        return sorted(await self.active_of({archetype}), key=lambda p: p.archetype != "")


class FakeUnitOfWork:
    def __init__(self, tables: LearningTables, read_only: bool) -> None:
        self._tables = tables
        self._read_only = read_only
        self._before: LearningTables | None = None
        self.audits = FakeAudits(tables)
        self.events = FakeTrainingEvents(tables)
        self.patches = FakePatches(tables)
        self.modules = FakeModules(tables)
        self.requests = InMemoryRequestLog(tables)

    async def __aenter__(self) -> FakeUnitOfWork:
        if not self._read_only:
            self._before = copy.deepcopy(self._tables)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._before is not None:  # not committed: everything written since the start is undone
            self._tables.__dict__.update(self._before.__dict__)

    async def commit(self) -> None:
        assert not self._read_only, "a read has nothing to commit"
        self._before = None
        self._tables.commits += 1


class FakeUnitsOfWork:
    """Units of work on each organization's tables; ``tables`` are those of the organization of ``caller()``."""

    def __init__(self, tables: LearningTables) -> None:
        self.organizations = {caller().organization: tables}

    @property
    def tables(self) -> LearningTables:
        return self.of(caller().organization)

    def of(self, organization: str) -> LearningTables:
        return self.organizations.setdefault(organization, LearningTables())

    def transaction(self, organization: str) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.of(organization), read_only=False)

    def read(self, organization: str) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.of(organization), read_only=True)


class FakePersonas:
    """The persona service, holding these personas and ``scenarios``; it keeps the organizations that runs read them
    for, and each rendering asked of it as (persona, scenario, whether it carried a change)."""

    def __init__(self, *personas: SimulatedPersona, scenarios: Sequence[str] = ()) -> None:
        self._personas = {persona.persona: persona for persona in personas}
        self._scenarios = set(scenarios)
        self.read_for: set[str] = set()
        self.renderings: list[tuple[str, str, bool]] = []

    async def archetype_exists(self, name: str) -> bool:
        return any(persona.archetype == name for persona in self._personas.values())

    async def archetype_guidance(self, name: str, organization: str | None = None) -> str:
        return ""

    async def rendering(self, name: str, organization: str, candidates: Sequence[tuple[str, PatchChange]] = (),
                        withheld: Sequence[str] = (), scenario: str = "") -> Rendering:
        self.read_for.add(organization)
        self.renderings.append((name, scenario, bool(candidates or withheld)))
        persona = self._personas.get(name)
        for index, (_, change) in enumerate(candidates):
            if persona is not None and change.archetype not in ("", persona.archetype):
                raise InvalidArgument(FieldViolation(f"candidate_patches[{index}].archetype",
                                                     f"must be empty or the archetype of {name}"))
        told = "".join(f" {change.text}" for _, change in candidates)
        return Rendering(f"You are {name}.{told}" if name in self._personas else "",
                         tuple(candidate for candidate, _ in candidates))

    async def persona_exists(self, name: str) -> bool:
        return name in self._personas

    async def scenario_exists(self, name: str, organization: str | None = None) -> bool:
        return name in self._scenarios

    async def require_usable(self, name: str) -> SimulatedPersona:
        if name not in self._personas:
            raise NotFound(name, reason="PERSONA_NOT_FOUND")
        return self._personas[name]

    async def simulated_persona(self, name: str, organization: str) -> SimulatedPersona | None:
        self.read_for.add(organization)
        return self._personas.get(name)

    async def personas_of_archetype(self, archetype: str, limit: int, organization: str) -> list[SimulatedPersona]:
        self.read_for.add(organization)
        return [persona for persona in self._personas.values() if persona.archetype == archetype][:limit]


@dataclass
class ScriptedEngine:
    """An engine that answers with the refinements and the pair of simulation summaries it was given, or fails
    with ``failure``; it keeps the prompts it was asked to simulate."""

    refinements_made: tuple[Refinement, ...] = ()
    baseline: SimulationSummary | None = None
    patched: SimulationSummary | None = None
    failure: EngineFailure | None = None
    simulated_prompts: list[dict[str, PlayedPrompts]] = field(default_factory=list)

    async def refinements(self, findings: Sequence[Finding], active: Sequence[PromptPatch], limit: int,
                          briefs: Sequence[PersonaBrief]) -> Proposals:
        if self.failure is not None:
            raise self.failure
        return Proposals(self.refinements_made[:limit])

    async def simulate_pair(self, personas: Sequence[SimulatedPersona], calls: int,
                            prompts: Mapping[str, PlayedPrompts]) -> tuple[SimulationSummary, SimulationSummary]:
        if self.failure is not None:
            raise self.failure
        assert self.baseline is not None and self.patched is not None
        self.simulated_prompts.append(dict(prompts))
        return self.baseline, self.patched
