"""A persona's working memory of a candidate: its blocks, their limits, how a change applies, and the bounded
section a rendered prompt takes from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from persona_svc.domain.episodes import MAX_CONTEXT_CHARS, Episode
from persona_svc.domain.facts import Fact, FactKind, ObjectionOutcome
from persona_svc.domain.model import Scenario
from svckit.errors import FailedPrecondition, FieldViolation, InvalidArgument, Violations
from svckit.names import valid_id

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_SCRATCHPAD_KEYS = 50
MAX_VALUE_CHARS = 1_000
MAX_SCRATCHPAD_CHARS = 8_000
MAX_GOALS = 10
MAX_GOAL_CHARS = 300
MAX_TASK_CONTEXT_CHARS = 2_000
LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"

SCRATCHPAD, ACTIVE_GOALS, TASK_CONTEXT = "scratchpad", "active_goals", "task_context"
FACTS, EPISODES = "facts", "episodes"
BLOCKS = (SCRATCHPAD, ACTIVE_GOALS, TASK_CONTEXT)


@dataclass(frozen=True, slots=True)
class MemoryScope:
    """Whose memory: a persona's of a candidate, across sessions or (with a session) for one session."""

    persona_id: str
    candidate_id: str
    session_id: str = ""

    @property
    def resource_name(self) -> str:
        session = f"/sessions/{self.session_id}" if self.session_id else ""
        return f"personas/{self.persona_id}/candidates/{self.candidate_id}{session}/workingMemory"

    @property
    def key(self) -> str:
        """The scope in one string without colons (ids hold none), as change announcements carry it."""
        return f"{self.persona_id}/{self.candidate_id}/{self.session_id}"


_NAME = re.compile(r"^personas/([^/]+)/candidates/([^/]+)(?:/sessions/([^/]+))?/workingMemory$")
REVISION_NAME = re.compile(r"^(.+)/revisions/([1-9][0-9]{0,17})$")


def scope_of(name: str, field_path: str) -> MemoryScope:
    """The scope a working memory's resource name names; anything else is INVALID_ARGUMENT naming the field."""
    match = _NAME.match(name)
    if match is None or not all(valid_id(part) for part in match.groups() if part is not None):
        raise InvalidArgument(FieldViolation(field_path, "must be a resource name like 'personas/{persona}/candidates/"
                                                         "{candidate}[/sessions/{session}]/workingMemory' "
                                                         f"(got {name[:100]!r})"))
    return MemoryScope(match.group(1), match.group(2), match.group(3) or "")


_CANDIDATE = re.compile(r"^personas/([^/]+)/candidates/([^/]+)$")


def candidate_of(name: str, field_path: str) -> MemoryScope:
    """The persona and candidate "personas/{persona}/candidates/{candidate}" names."""
    match = _CANDIDATE.match(name)
    if match is None or not all(valid_id(part) for part in match.groups()):
        raise InvalidArgument(FieldViolation(field_path, "must be a resource name like 'personas/{persona}/candidates/"
                                                         f"{{candidate}}' (got {name[:100]!r})"))
    return MemoryScope(match.group(1), match.group(2))


def revision_of(name: str, scope: MemoryScope, field_path: str) -> int:
    """The revision number a revision's resource name gives, which must be one of ``scope``'s revisions."""
    match = REVISION_NAME.match(name)
    if match is None or match.group(1) != scope.resource_name:
        raise InvalidArgument(FieldViolation(field_path, f"must be a revision of {scope.resource_name}, like "
                                                         f"'{scope.resource_name}/revisions/{{revision}}' "
                                                         f"(got {name[:100]!r})"))
    return int(match.group(2))


@dataclass(frozen=True, slots=True)
class MemoryContent:
    scratchpad: dict[str, str] = field(default_factory=dict)
    active_goals: tuple[str, ...] = ()
    task_context: str = ""

    @property
    def empty(self) -> bool:
        return not (self.scratchpad or self.active_goals or self.task_context)


@dataclass(frozen=True, slots=True)
class WorkingMemory:
    scope: MemoryScope
    content: MemoryContent
    revision: int = 0
    update_time: datetime | None = None
    last_access_time: datetime | None = None

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


class Persistence(StrEnum):
    ACROSS_SESSIONS = "across_sessions"
    SESSION_ONLY = "session_only"
    NONE = "none"


DEFAULT_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True, slots=True)
class MemorySettings:
    """How a persona remembers; a persona without settings of its own has the defaults."""

    persona_id: str
    persistence: Persistence = Persistence.ACROSS_SESSIONS
    retention_days: int = DEFAULT_RETENTION_DAYS
    revision: int = 0
    update_time: datetime | None = None

    @property
    def resource_name(self) -> str:
        return f"personas/{self.persona_id}/memorySettings"

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'

    @property
    def learns_facts(self) -> bool:
        return self.persistence is Persistence.ACROSS_SESSIONS


def check_settings(settings: MemorySettings) -> None:
    violations = Violations()
    violations.require(1 <= settings.retention_days <= MAX_RETENTION_DAYS, "memory_settings.retention_days",
                       f"must be 1 to {MAX_RETENTION_DAYS} days (got {settings.retention_days})")
    violations.raise_if_any()


def require_writable(settings: MemorySettings, scope: MemoryScope) -> None:
    """Working memory is written only where the persona's settings keep it."""
    if settings.persistence is Persistence.NONE:
        raise FailedPrecondition(f"personas/{settings.persona_id} remembers nothing (its memory settings say so)",
                                 reason="MEMORY_DISABLED", metadata={"resource": settings.resource_name})
    if settings.persistence is Persistence.SESSION_ONLY and not scope.session_id:
        raise FailedPrecondition(f"personas/{settings.persona_id} remembers within a session only: write the "
                                 "session's working memory", reason="MEMORY_SESSION_ONLY",
                                 metadata={"resource": settings.resource_name})


@dataclass(frozen=True, slots=True)
class PlayedSession:
    """A session as the transcript service tells it now: the persona playing it (after a handoff, the new one), its
    candidate and scenario ids ("" when it names none)."""

    persona_id: str
    candidate_id: str
    scenario_id: str


@dataclass(frozen=True, slots=True)
class ErasedMemory:
    """What erasing a candidate removed."""

    working_memories: int = 0
    revisions: int = 0
    facts: int = 0
    sessions_unlinked: int = 0
    episodes: int = 0


class MemoryChange(StrEnum):
    UPDATE = "update"
    CLEAR = "clear"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class WorkingMemoryRevision:
    scope: MemoryScope
    revision: int
    change: MemoryChange
    changed_paths: tuple[str, ...]
    restored_revision: int
    snapshot: MemoryContent
    actor: str
    create_time: datetime


def check_mask(paths: list[str]) -> list[str]:
    """The update mask's paths as the blocks and ``scratchpad.{key}`` they name; ``*`` is every block."""
    if not paths:
        raise InvalidArgument(FieldViolation("update_mask", "must name at least one block or scratchpad key"))
    if paths == ["*"]:
        return list(BLOCKS)
    violations = Violations()
    for index, path in enumerate(paths):
        block, dot, key = path.partition(".")
        if block not in BLOCKS:
            violations.add(f"update_mask.paths[{index}]", f"'{path}' is not a block; name one of {', '.join(BLOCKS)} "
                                                          "or scratchpad.{key}")
        elif dot and (block != SCRATCHPAD or not KEY_PATTERN.match(key)):
            violations.add(f"update_mask.paths[{index}]", f"'{path}': only scratchpad keys can be named, and a key "
                                                          "is 1-63 lowercase letters, digits, '_' and '-'")
    violations.raise_if_any()
    return paths


def apply_update(current: MemoryContent, sent: MemoryContent, paths: list[str]) -> MemoryContent:
    """``current`` with the blocks and keys of ``paths`` taken from ``sent`` (a named key absent from it is
    removed); the result is checked against every limit."""
    scratchpad = dict(current.scratchpad)
    goals, task = current.active_goals, current.task_context
    for path in paths:
        block, _, key = path.partition(".")
        if block == SCRATCHPAD and key:
            if key in sent.scratchpad:
                scratchpad[key] = sent.scratchpad[key]
            else:
                scratchpad.pop(key, None)
        elif block == SCRATCHPAD:
            scratchpad = dict(sent.scratchpad)
        elif block == ACTIVE_GOALS:
            goals = sent.active_goals
        else:
            task = sent.task_context
    updated = MemoryContent(dict(sorted(scratchpad.items())), goals, task)
    check_limits(updated)
    return updated


def check_limits(content: MemoryContent, prefix: str = "working_memory") -> None:
    """Every block within its limit; each excess is one violation naming its field."""
    violations = Violations()
    for key, value in content.scratchpad.items():
        where = f'{prefix}.scratchpad["{key[:80]}"]'
        if not KEY_PATTERN.match(key):
            violations.add(where, "a key is 1-63 lowercase letters, digits, '_' and '-'")
        violations.require(len(value) <= MAX_VALUE_CHARS, where,
                           f"is {len(value)} characters; at most {MAX_VALUE_CHARS}")
    violations.require(len(content.scratchpad) <= MAX_SCRATCHPAD_KEYS, f"{prefix}.scratchpad",
                       f"would hold {len(content.scratchpad)} keys; at most {MAX_SCRATCHPAD_KEYS}")
    total = sum(len(k) + len(v) for k, v in content.scratchpad.items())
    violations.require(total <= MAX_SCRATCHPAD_CHARS, f"{prefix}.scratchpad",
                       f"would hold {total} characters; at most {MAX_SCRATCHPAD_CHARS}")
    violations.require(len(content.active_goals) <= MAX_GOALS, f"{prefix}.active_goals",
                       f"has {len(content.active_goals)} goals; at most {MAX_GOALS}")
    for index, goal in enumerate(content.active_goals):
        violations.require(len(goal) <= MAX_GOAL_CHARS, f"{prefix}.active_goals[{index}]",
                           f"is {len(goal)} characters; at most {MAX_GOAL_CHARS}")
    violations.require(len(content.task_context) <= MAX_TASK_CONTEXT_CHARS, f"{prefix}.task_context",
                       f"is {len(content.task_context)} characters; at most {MAX_TASK_CONTEXT_CHARS}")
    violations.raise_if_any(LIMIT_EXCEEDED)


# --- the memory section of a rendered prompt ------------------------------------------------------------

class MemorySource(StrEnum):
    NOT_REQUESTED = "not_requested"
    LIVE = "live"
    UNAVAILABLE = "unavailable"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class MemoryItem:
    source: str  # the working memory's or the fact's resource name
    block: str
    key: str
    text: str


@dataclass(frozen=True, slots=True)
class MemorySection:
    items: tuple[MemoryItem, ...]
    source: MemorySource
    truncated: bool = False

    @property
    def text(self) -> str:
        if not self.items:
            return ""
        return "What you remember of this candidate from earlier calls (keep it consistent):\n" + "\n".join(
            item.text for item in self.items)


# Shared instances: renderings are memoised by the identity of what they were built from.
MEMORY_NOT_REQUESTED = MemorySection((), MemorySource.NOT_REQUESTED)
MEMORY_UNAVAILABLE = MemorySection((), MemorySource.UNAVAILABLE)
MEMORY_DISABLED = MemorySection((), MemorySource.DISABLED)


def _items(memory: WorkingMemory) -> list[MemoryItem]:
    """A memory's lines, the most telling first: the task at hand, the goals, then the notes by key."""
    name, content = memory.scope.resource_name, memory.content
    items = []
    if content.task_context:
        items.append(MemoryItem(name, TASK_CONTEXT, "", f"- Current task: {content.task_context}"))
    items += [MemoryItem(name, ACTIVE_GOALS, "", f"- Goal: {goal}") for goal in content.active_goals]
    items += [MemoryItem(name, SCRATCHPAD, key, f"- {key}: {value}") for key, value in content.scratchpad.items()]
    return items


_FACT_LINES = {
    FactKind.COMMITMENT: "The candidate promised",
    FactKind.OBJECTION: "You objected",
    FactKind.DISCLOSURE: "You told them",
    FactKind.CANDIDATE_FACT: "The candidate said",
}


@dataclass(frozen=True, slots=True)
class Learned:
    """What a persona learned of a candidate in earlier sessions: its valid facts and its last episode."""

    facts: tuple[Fact, ...] = ()
    last_episode: Episode | None = None


NOTHING_LEARNED = Learned()


def _episode_items(episode: Episode | None) -> list[MemoryItem]:
    if episode is None:
        return []
    return [MemoryItem(episode.resource_name, EPISODES, episode.outcome,
                       f"- Your last call with them ({episode.create_time:%Y-%m-%d}) ended with: {episode.outcome}")]


def _recalled_items(episode: Episode | None) -> list[MemoryItem]:
    """An earlier call like this one: what it was about, on one line, and how it ended."""
    if episode is None:
        return []
    about = "; ".join(line.strip() for line in episode.summary.splitlines() if line.strip())
    return [MemoryItem(episode.resource_name, EPISODES, episode.outcome,
                       f"- An earlier call with them like this one ({episode.create_time:%Y-%m-%d}): {about}. It "
                       f"ended with: {episode.outcome}")]


def scenario_context(scenario: Scenario) -> str:
    """What an episode like a call of ``scenario`` would share with it: its name, industry, story and pain points."""
    fields = scenario.fields
    text = " ".join(part for part in (fields.display_name, fields.industry, fields.description, *fields.pain_points)
                    if part)
    return text[:MAX_CONTEXT_CHARS]


def _fact_items(facts: tuple[Fact, ...]) -> list[MemoryItem]:
    """Facts by what a next round most needs: promises to check, objections still open, what was shared."""
    ordered = sorted(facts, key=lambda f: (list(_FACT_LINES).index(f.kind), f.outcome is ObjectionOutcome.HANDLED))
    items = []
    for fact in ordered:
        ended = f" (it ended {fact.outcome.value})" if fact.kind is FactKind.OBJECTION else ""
        items.append(MemoryItem(fact.resource_name, FACTS, fact.kind.value,
                                f"- {_FACT_LINES[fact.kind]}{ended}: {fact.text}"))
    return items


def memory_section(memories: tuple[WorkingMemory, ...], learned: Learned, budget_chars: int,
                   recalled: tuple[Episode, ...] = ()) -> MemorySection:
    """The memories' lines (the narrowest scope first), then how the last call ended, the facts, and the earlier
    call most like this one (the first of ``recalled`` that is not the last call), that fit in ``budget_chars``; the
    rest are left out."""
    last = learned.last_episode.resource_name if learned.last_episode is not None else ""
    earlier = next((episode for episode in recalled if episode.resource_name != last), None)
    kept: list[MemoryItem] = []
    used = 0
    truncated = False
    for item in [*(item for memory in memories for item in _items(memory)), *_episode_items(learned.last_episode),
                 *_fact_items(learned.facts), *_recalled_items(earlier)]:
        if used + len(item.text) + 1 > budget_chars:
            truncated = True
            continue
        kept.append(item)
        used += len(item.text) + 1
    return MemorySection(tuple(kept), MemorySource.LIVE, truncated)


def with_memory(system_prompt: str, section: MemorySection) -> str:
    """The memory comes last, after the persona's text and patches, as what this particular call adds."""
    if not section.items:
        return system_prompt
    return system_prompt.rstrip() + "\n\n" + section.text
