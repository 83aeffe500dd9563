"""What the use cases need from the world, as protocols: the unit of work with its repositories, the persona
service, and the engines that make refinements and play simulated calls. ``app.py`` chooses the adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from learning_svc.domain.evolution import Finding, PersonaBrief, Proposals
from learning_svc.domain.modules import Module, Signal, TrainingEventSource
from learning_svc.domain.patches import PatchAction, PatchChange, PatchTarget, PromptPatch
from learning_svc.domain.simulation import PlayedPrompts, SimulatedPersona, SimulationSummary
from svckit.usecase import RequestRecords

T = TypeVar("T", covariant=True)
# A page cursor as the listing stores it in its token: [time, id], or a position.
Cursor = list[str] | int
# A stored document (an audit, feedback, a run, an experiment), shaped as its contract message.
Document = dict[str, Any]
Filters = Mapping[str, Any]


@dataclass(frozen=True)
class Listed(Generic[T]):
    """One item of a listing and the cursor a page that ends with it continues from."""

    cursor: Cursor
    item: T


class RunKind(StrEnum):
    EVOLUTION = "evolution"
    LEARNING = "learning"


@dataclass(frozen=True)
class TrainingEvent:
    id: str
    source: TrainingEventSource
    origin: str
    persona: str
    module: str
    signal: float
    processed: bool
    learning_run: str
    create_time: datetime
    process_time: datetime | None


@dataclass(frozen=True)
class PendingEvent:
    """A training event not yet folded into its module."""

    id: str
    persona: str
    module: str
    signal: float


@dataclass(frozen=True)
class Revision:
    revision: int
    action: PatchAction
    actor: str
    reason: str
    snapshot: PromptPatch
    create_time: datetime


@dataclass(frozen=True)
class Assignment:
    name: str
    session: str
    variant_id: str
    persona: str
    create_time: datetime


@dataclass(frozen=True)
class RecordedScores:
    """The outcome values a session has already recorded in an experiment."""

    say_meter_score: int | None
    audit_score: float | None


@dataclass(frozen=True)
class ClaimedRun:
    kind: RunKind
    organization: str  # the run is worked for it
    run_id: str
    document: Document


class AuditRepository(Protocol):
    async def add(self, audit_id: str, document: Document) -> bool:
        """False when the audit is already stored; a new one is announced on the audits channel."""

    async def get(self, audit_id: str) -> Document | None: ...

    async def page(self, filters: Filters, after: list[str] | None, limit: int) -> list[Listed[Document]]: ...

    async def recent(self, archetype: str | None, limit: int) -> list[Document]: ...


class FeedbackRepository(Protocol):
    async def add(self, trace_id: str, document: Document) -> bool:
        """False when feedback of that trace is already stored."""

    async def get(self, trace_id: str) -> Document | None: ...


class TrainingEventRepository(Protocol):
    async def add(self, event_id: str, source: TrainingEventSource, origin: str, signal: Signal) -> None: ...

    async def page(self, filters: Filters, after: int | None, limit: int) -> list[Listed[TrainingEvent]]: ...

    async def unprocessed(self, persona: str, limit: int) -> list[PendingEvent]:
        """Oldest first, of one persona or, for "", of all."""

    async def mark_processed(self, event_ids: Sequence[str], learning_run: str) -> int:
        """How many of them this call marked (none already processed)."""


class ModuleRepository(Protocol):
    async def of_personas(self, personas: Sequence[str]) -> dict[tuple[str, str], Module]: ...

    async def save(self, module: Module) -> None: ...


class PatchRepository(Protocol):
    async def get(self, patch_id: str, lock: bool = False) -> PromptPatch:
        """The patch, or NotFound."""

    async def add(self, patch: PromptPatch, actor: str, reason: str) -> None:
        """Stores a new patch and its first revision, or AlreadyExists."""

    async def save(self, patch: PromptPatch, action: PatchAction, actor: str, reason: str) -> None:
        """Stores a change and its revision; changes to an active set are announced."""

    async def lock_target(self, archetype: str, target: PatchTarget) -> None:
        """Serialises changes to the active set of one archetype and target (supersession, the cap)."""

    async def active(self, archetype: str, target: PatchTarget) -> list[PromptPatch]: ...

    async def active_of(self, archetypes: set[str]) -> list[PromptPatch]:
        """The ACTIVE patches of these archetypes and of all archetypes, in activation order."""

    async def active_for_render(self, archetype: str) -> list[PromptPatch]:
        """Patches for all archetypes first, then the archetype's own, each in activation order."""

    async def page(self, filters: Filters, after: list[str] | None, limit: int) -> list[Listed[PromptPatch]]: ...

    async def revisions(self, patch_id: str, before: int | None, limit: int) -> list[Listed[Revision]]: ...


class ExperimentRepository(Protocol):
    async def add(self, experiment_id: str, document: Document) -> bool:
        """False when the experiment already exists."""

    async def get(self, experiment_id: str, lock: bool = False) -> Document | None: ...

    async def save(self, document: Document) -> None: ...

    async def page(self, filters: Filters, after: list[str] | None, limit: int) -> list[Listed[Document]]: ...

    async def assignment(self, experiment_id: str, session_id: str) -> Assignment | None: ...

    async def assign(self, experiment_id: str, session_id: str, variant_id: str, persona: str) -> None:
        """Keeps an assignment made meanwhile by a concurrent call."""

    async def recorded_scores(self, experiment_id: str, session_id: str) -> RecordedScores | None: ...

    async def record_scores(self, experiment_id: str, session_id: str, say_meter_score: int | None,
                            audit_score: float | None, counted: bool) -> None:
        """Keeps a value already recorded."""

    async def owe_promotion(self, experiment_id: str, persona: str, promotion: Document) -> None:
        """An outbox row: the persona service is to record ``promotion`` in a version of ``persona``."""

    async def experiments_of_session(self, session_id: str) -> list[str]: ...


class RunRepository(Protocol):
    async def lock(self, key: str) -> None:
        """Serialises this transaction with every other that locks ``key``."""

    async def going(self, kind: RunKind, scope: str) -> str | None:
        """The id of a QUEUED or RUNNING run of an overlapping scope."""

    async def add(self, run_id: str, kind: RunKind, scope: str, document: Document) -> None:
        """Queues the run and wakes the workers."""

    async def scheduled_within(self, kind: RunKind, seconds: float) -> bool: ...

    async def organizations_with_news(self, kind: RunKind) -> list[str]:
        """Of every organization: those with something new for a run of ``kind`` to work on."""

    async def get(self, kind: RunKind, run_id: str) -> Document | None: ...

    async def page(self, kind: RunKind, filters: Filters, after: list[str] | None,
                   limit: int) -> list[Listed[Document]]: ...

    async def waiting(self) -> int:
        """How many runs are QUEUED or RUNNING, of every organization."""

    async def next_due(self, kinds: Sequence[RunKind]) -> ClaimedRun | None:
        """Of every organization, the oldest QUEUED run, or a RUNNING one whose lease ran out, locked; None when
        there is none."""

    async def lease(self, run_id: str, document: Document, lease_seconds: float) -> None:
        """Marks the run ``next_due`` claimed RUNNING, leased for ``lease_seconds``."""

    async def renew(self, run_id: str, lease_seconds: float) -> None: ...

    async def save(self, run_id: str, document: Document, finished: bool) -> None:
        """Saves progress; a finished run gives up its lease and is announced."""


class LearningUnitOfWork(Protocol):
    """One transaction (or, made for reading, none) over the learning schema's repositories, each confined to the
    organization the unit of work was made for."""

    @property
    def audits(self) -> AuditRepository: ...

    @property
    def feedback(self) -> FeedbackRepository: ...

    @property
    def events(self) -> TrainingEventRepository: ...

    @property
    def modules(self) -> ModuleRepository: ...

    @property
    def patches(self) -> PatchRepository: ...

    @property
    def experiments(self) -> ExperimentRepository: ...

    @property
    def runs(self) -> RunRepository: ...

    @property
    def requests(self) -> RequestRecords: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


class UnitsOfWork(Protocol):
    def transaction(self, organization: str) -> LearningUnitOfWork:
        """A unit of work to change ``organization``'s things in, committed by its use case."""

    def read(self, organization: str) -> LearningUnitOfWork:
        """A unit of work for reading ``organization``'s things: no transaction, each statement its own
        snapshot."""


@dataclass(frozen=True, slots=True)
class Rendering:
    """A persona's system prompt as RenderPrompt gives its voice agent, and the names of the patches it applied."""

    system_prompt: str
    applied_patches: tuple[str, ...] = ()


class PersonaReader(Protocol):
    """The persona service, as the learning service reads it: inside a call, for the caller's organization; in
    a run, for the organization named."""

    async def archetype_exists(self, name: str) -> bool: ...

    async def archetype_guidance(self, name: str, organization: str | None = None) -> str:
        """The archetype's voice guidance; "" when it has none or does not exist."""

    async def rendering(self, name: str, organization: str, candidates: Sequence[tuple[str, PatchChange]] = (),
                        withheld: Sequence[str] = (), scenario: str = "") -> Rendering:
        """What a voice agent of the persona gets now (RenderPrompt), in ``scenario`` when one is named; an empty
        prompt when it no longer exists. With candidates (name, change) applied on top, and without the published
        patches withheld (by name), for this rendering only: a refusal of either is an error."""

    async def persona_exists(self, name: str) -> bool: ...

    async def scenario_exists(self, name: str, organization: str | None = None) -> bool:
        """Whether the organization (None: the caller's) has the scenario."""

    async def require_usable(self, name: str) -> object:
        """The persona, or an error when it cannot take part (missing, deleted)."""

    async def simulated_persona(self, name: str, organization: str) -> SimulatedPersona | None:
        """The organization's persona as the simulator plays it; None when it no longer exists."""

    async def personas_of_archetype(self, archetype: str, limit: int, organization: str) -> list[SimulatedPersona]:
        ...


class RefinementEngine(Protocol):
    async def refinements(self, findings: Sequence[Finding], active: Sequence[PromptPatch], limit: int,
                          briefs: Sequence[PersonaBrief]) -> Proposals:
        """At most ``limit`` refinements answering the findings that no active patch answers yet, for the flagged
        personas in ``briefs``; the proposals that fail their checks are dropped."""


class SimulationEngine(Protocol):
    async def simulate_pair(self, personas: Sequence[SimulatedPersona], calls: int,
                            prompts: Mapping[str, PlayedPrompts]) -> tuple[SimulationSummary, SimulationSummary]:
        """The same simulated calls (personas in turn, seeds, candidate lines) played on each side from that side's
        rendered prompt (``prompts``, by persona name): by a model from the prompt; by the local stand-in from the
        persona's fields and the instructions it understands in the prompt."""


class LearningEngine(RefinementEngine, SimulationEngine, Protocol):
    """An engine that does both: the local one, or a model's."""
