"""Use cases of persona memory: working memory (read, change one key or block, clear, history and restore), facts
learned from ended sessions, and the memory a rendered prompt takes in, read within a deadline from caches kept
fresh by change announcements."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter

from calls.turns import Turn
from persona_svc.domain.episodes import (
    Episode,
    EpisodeRanking,
    EpisodeReview,
    check_recall,
    check_review,
    document_of,
    outcome_of,
    summary_of,
)
from persona_svc.domain.facts import ExtractedFact, Fact, check_citations
from persona_svc.domain.memory import (
    MEMORY_DISABLED,
    MEMORY_NOT_REQUESTED,
    MEMORY_UNAVAILABLE,
    NOTHING_LEARNED,
    ErasedMemory,
    Learned,
    MemoryChange,
    MemoryContent,
    MemoryScope,
    MemorySection,
    MemorySettings,
    Persistence,
    PlayedSession,
    WorkingMemory,
    WorkingMemoryRevision,
    apply_update,
    check_mask,
    check_settings,
    memory_section,
    require_writable,
    scenario_context,
    with_memory,
)
from persona_svc.domain.patches import CandidatePatch
from persona_svc.domain.templates import RenderedPrompt
from persona_svc.service_layer.catalogue import Catalogue
from persona_svc.service_layer.memory_ports import (
    Embeddings,
    FactExtractor,
    MemoryUnitOfWork,
    MemoryUnitOfWorkFactory,
    Sessions,
)
from persona_svc.service_layer.memory_sections import CandidateKey, MemorySections, Slot
from persona_svc.service_layer.ownership import require_right_to_change, require_right_to_render_unpublished
from svckit.cache import InvalidatedCache
from svckit.context import CallContext
from svckit.errors import EtagMismatch, FailedPrecondition, NotFound, Unavailable
from svckit.memo import ResponseMemo
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent

log = logging.getLogger("persona.memory")

MEMORY_FALLBACKS = Counter("sparring_memory_render_fallbacks_total",
                           "Renderings made without memory because it could not be read in time.", ("reason",))
_DEADLINE, _ERROR = MEMORY_FALLBACKS.labels("deadline"), MEMORY_FALLBACKS.labels("error")
# A rendering naming a session alone whose candidate the transcript service did not tell in time.
_SESSION_DEADLINE = MEMORY_FALLBACKS.labels("session_deadline")
_SESSION_UNAVAILABLE = MEMORY_FALLBACKS.labels("session_unavailable")

SESSION_PERSONAS = Counter("sparring_render_session_personas_total",
                           "Renderings naming a session and no persona, by whether the transcript service told the "
                           "persona playing it (told), knew no such session (not_found) or could not be read "
                           "(unavailable: the rendering failed).", ("outcome",))
_SESSION_TOLD, _SESSION_NOT_FOUND, _SESSION_UNREADABLE = (SESSION_PERSONAS.labels(outcome)
                                                          for outcome in ("told", "not_found", "unavailable"))

# What the memory cache knows a scope by: its organization and MemoryScope.key.
MemoryKey = tuple[str, str]
# A change to a locked memory: its new content, the kind of change, the paths it names and the revision it restores.
MemoryEdit = Callable[[MemoryUnitOfWork, WorkingMemory], Awaitable[tuple[MemoryContent, MemoryChange,
                                                                         tuple[str, ...], int]]]
# A memory section being built is given up after this long, whoever still waits for it (renderings wait no longer
# than the memory deadline).
SECTION_BUILD_SECONDS = 5.0
# The most facts a rendering considers: the newest valid ones.
RENDERED_FACTS = 30
# Episodes recalled for a rendering: the one rendered besides the last episode, and the next in case the first is it.
RECALLED_FOR_A_CALL = 2
CALLER_ENGINE = "caller"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RememberedPrompt:
    """A rendered prompt with the memory section its system prompt ends with."""

    rendered: RenderedPrompt
    memory: MemorySection
    system_prompt: str


@dataclass(frozen=True)
class RecordedFacts:
    facts: tuple[Fact, ...]


def _learned_key(persona_id: str, candidate_id: str) -> str:
    return MemoryScope(persona_id, candidate_id).key


def _remembered(rendered: RenderedPrompt, section: MemorySection) -> RememberedPrompt:
    return RememberedPrompt(rendered, section, with_memory(rendered.system_prompt, section))


class PersonaMemory:
    def __init__(self, writes: MemoryUnitOfWorkFactory, reads: MemoryUnitOfWorkFactory, catalogue: Catalogue,
                 extractor: FactExtractor, page_tokens: PageTokens, sessions: Sessions | None,
                 cache: InvalidatedCache[MemoryKey, WorkingMemory] | None = None,
                 learned_cache: InvalidatedCache[MemoryKey, Learned] | None = None,
                 settings_cache: InvalidatedCache[MemoryKey, MemorySettings] | None = None,
                 sections: MemorySections | None = None,
                 deadline_seconds: float = 0.05, budget_chars: int = 2_000,
                 embeddings: Embeddings | None = None) -> None:
        self._transaction = writes
        self._read = reads
        self._catalogue = catalogue
        self._extractor = extractor
        self._embeddings = embeddings  # None: episodes are recalled by their words only
        self._sessions = sessions
        self._tokens = page_tokens
        self._cache = cache or InvalidatedCache("working_memories")
        self._learned = learned_cache or InvalidatedCache("learned")
        self._settings = settings_cache or InvalidatedCache("memory_settings")
        self._sections = sections or MemorySections()
        self._builds: dict[tuple[CandidateKey, Slot], tuple[int, asyncio.Task[MemorySection]]] = {}
        self._deadline = deadline_seconds
        self._budget = budget_chars
        # Prompts are rebuilt only when the rendered prompt or the memory section they come from changes.
        self._prompts: ResponseMemo[RememberedPrompt] = ResponseMemo(_remembered)

    def invalidate(self, table: str, organization: str, scope_key: str) -> None:
        """Called for every committed change, local or announced by another replica (``scope_key`` is the changed
        row's MemoryScope.key)."""
        if table == "working_memories":
            self._forget_memory(organization, MemoryScope(*scope_key.split("/")))
        elif table == "memory_settings":
            self._forget_settings(organization, scope_key)
        elif table in ("facts", "episodes"):
            persona_id, candidate_id, _ = scope_key.split("/")
            self._forget_learned(organization, persona_id, candidate_id)

    # A rendered section goes with any of its parts.

    def _forget_memory(self, organization: str, scope: MemoryScope) -> None:
        self._cache.invalidate((organization, scope.key))
        self._sections.drop_candidate((organization, scope.persona_id, scope.candidate_id))

    def _forget_learned(self, organization: str, persona_id: str, candidate_id: str) -> None:
        self._learned.invalidate((organization, _learned_key(persona_id, candidate_id)))
        self._sections.drop_candidate((organization, persona_id, candidate_id))

    def _forget_settings(self, organization: str, persona_id: str) -> None:
        self._settings.invalidate((organization, persona_id))
        self._sections.drop_persona(organization, persona_id)

    # --- the API -----------------------------------------------------------------------------------

    async def get(self, organization: str, scope: MemoryScope) -> WorkingMemory:
        await self._catalogue.get_persona(organization, scope.persona_id)
        now = _now()
        async with self._read(organization) as uow:
            memory = await uow.memories.get(scope)
            if memory is None:
                return WorkingMemory(scope, MemoryContent())
            await uow.memories.record_access(scope, now)
        return WorkingMemory(scope, memory.content, memory.revision, memory.update_time, now)

    async def update(self, scope: MemoryScope, sent: MemoryContent, paths: list[str], etag: str,
                     mutation: Mutation) -> WorkingMemory:
        paths = check_mask(paths)

        async def edit(uow: MemoryUnitOfWork, current: WorkingMemory) -> tuple[MemoryContent, MemoryChange,
                                                                               tuple[str, ...], int]:
            return apply_update(current.content, sent, paths), MemoryChange.UPDATE, tuple(paths), 0

        return await self._change(scope, etag, mutation, "UpdateWorkingMemory", edit)

    async def clear(self, scope: MemoryScope, etag: str, mutation: Mutation) -> WorkingMemory:

        async def edit(uow: MemoryUnitOfWork, current: WorkingMemory) -> tuple[MemoryContent, MemoryChange,
                                                                               tuple[str, ...], int]:
            return MemoryContent(), MemoryChange.CLEAR, (), 0

        return await self._change(scope, etag, mutation, "ClearWorkingMemory", edit)

    async def restore(self, scope: MemoryScope, revision: int, etag: str, mutation: Mutation) -> WorkingMemory:

        async def edit(uow: MemoryUnitOfWork, current: WorkingMemory) -> tuple[MemoryContent, MemoryChange,
                                                                               tuple[str, ...], int]:
            earlier = await uow.memories.get_revision(scope, revision)
            if earlier is None:
                raise NotFound(f"{scope.resource_name}/revisions/{revision}")
            return earlier.snapshot, MemoryChange.RESTORE, (), revision

        return await self._change(scope, etag, mutation, "RestoreWorkingMemory", edit)

    async def _change(self, scope: MemoryScope, etag: str, mutation: Mutation, method: str,
                      edit: MemoryEdit) -> WorkingMemory:
        """One change as one new revision, under the memory's row lock; the persona must be the organization's."""
        organization = mutation.caller.organization
        await self._catalogue.get_persona(organization, scope.persona_id)
        async with self._transaction(organization) as uow:
            async def run() -> WorkingMemory:
                now = _now()
                require_writable(await uow.settings.get(scope.persona_id) or MemorySettings(scope.persona_id), scope)
                current = await uow.memories.lock(scope, now)
                if etag and etag != current.etag:
                    raise EtagMismatch(scope.resource_name, etag, current.etag)
                content, change, paths, restored = await edit(uow, current)
                memory = WorkingMemory(scope, content, current.revision + 1, now, now)
                await uow.memories.save(memory)
                await uow.memories.add_revision(WorkingMemoryRevision(
                    scope, memory.revision, change, paths, restored, content, mutation.caller.actor, now))
                return memory

            memory = await run_idempotent(uow.requests, mutation, method, run, WorkingMemory)
            await uow.commit()
        # This replica's next rendering shows the change at once; the others drop it when they hear of it.
        self._forget_memory(organization, scope)
        return memory

    async def list_revisions(self, organization: str, scope: MemoryScope, requested_size: int,
                             token: str) -> Page[WorkingMemoryRevision]:
        size = page_size(requested_size)
        filters = {"parent": scope.resource_name}
        before = self._tokens.decode(token, filters)
        await self._catalogue.get_persona(organization, scope.persona_id)
        async with self._read(organization) as uow:
            items = await uow.memories.list_revisions(scope, before, size + 1)
        return Page(*self._tokens.page(items, size, lambda r: r.revision, filters))

    # --- learned facts ------------------------------------------------------------------------------

    async def record_session_facts(self, persona_id: str, candidate_id: str, session_id: str, turns: list[Turn],
                                   given: list[ExtractedFact], mutation: Mutation,
                                   deadline: float | None = None) -> tuple[Fact, ...]:
        """The facts of an ended session, learned once: the extractor's (found by ``deadline``) and those given,
        each citing messages of the session; each supersedes the valid fact of an earlier session of the same kind
        and topic."""
        organization = mutation.caller.organization
        check_citations(given, {turn.sequence for turn in turns}, "facts")
        await self._catalogue.get_persona(organization, persona_id)
        extraction = await self._extractor.extract(turns, deadline)
        extracted = extraction.facts
        everything = [*extracted, *given]
        summary = summary_of(turns, everything)
        document = document_of(summary, turns)
        embedding = await self._embeddings.embed(document, "episode", deadline) if self._embeddings else None
        async with self._transaction(organization) as uow:
            async def run() -> RecordedFacts:
                now = _now()
                # Facts of one candidate are learned one session at a time.
                await uow.memories.lock(MemoryScope(persona_id, candidate_id), now)
                stored = await uow.facts.of_session(persona_id, candidate_id, session_id)
                settings = await uow.settings.get(persona_id) or MemorySettings(persona_id)
                if stored or not settings.learns_facts:
                    return RecordedFacts(tuple(stored))
                learned = [Fact(uuid.uuid4().hex, persona_id, candidate_id, session_id, f.kind, f.text, f.topic,
                                f.message_sequences, f.confidence, f.outcome, engine, now)
                           for found, engine in ((extracted, extraction.engine), (given, CALLER_ENGINE))
                           for f in found]
                for earlier in await uow.facts.list(persona_id, candidate_id, False, None, 1_000):
                    later = next((f for f in learned if f.kind == earlier.kind and f.topic == earlier.topic), None)
                    if later is not None and earlier.topic:
                        await uow.facts.supersede(earlier.superseded(later))
                for fact in learned:
                    await uow.facts.add(fact)
                await uow.episodes.add(Episode(persona_id, candidate_id, session_id, summary, outcome_of(everything),
                                               document, now), embedding)
                return RecordedFacts(tuple(learned))

            recorded = await run_idempotent(uow.requests, mutation, "RecordSessionFacts", run, RecordedFacts)
            await uow.commit()
        self._forget_learned(organization, persona_id, candidate_id)
        return recorded.facts

    async def list_facts(self, organization: str, persona_id: str, candidate_id: str, show_superseded: bool,
                         requested_size: int, token: str) -> Page[Fact]:
        size = page_size(requested_size)
        filters = {"persona": persona_id, "candidate": candidate_id, "show_superseded": show_superseded}
        cursor = self._tokens.decode(token, filters)
        after = (datetime.fromisoformat(cursor[0]), cursor[1]) if cursor else None
        await self._catalogue.get_persona(organization, persona_id)
        async with self._read(organization) as uow:
            items = await uow.facts.list(persona_id, candidate_id, show_superseded, after, size + 1)
        return Page(*self._tokens.page(items, size, lambda f: [f.valid_from.isoformat(), f.id], filters))

    # --- episodes ------------------------------------------------------------------------------------

    async def recall_episodes(self, organization: str, persona_id: str, candidate_id: str, context: str,
                              ranking: EpisodeRanking, requested: int,
                              deadline: float | None = None) -> list[tuple[Episode, float]]:
        """Episodes like ``context``, best first. With embeddings, VECTOR ranks by them and HYBRID fuses them with
        the words; HYBRID recalls by the words alone when the context's embedding cannot be had by ``deadline``."""
        limit = check_recall(context, requested)
        if ranking is EpisodeRanking.VECTOR and self._embeddings is None:
            raise FailedPrecondition("vector recall needs an embeddings endpoint, and none is configured",
                                     reason="EMBEDDINGS_NOT_CONFIGURED")
        await self._catalogue.get_persona(organization, persona_id)
        return await self._recall(organization, persona_id, candidate_id, context, ranking, limit, deadline)

    async def _recall(self, organization: str, persona_id: str, candidate_id: str, context: str,
                      ranking: EpisodeRanking, limit: int, deadline: float | None) -> list[tuple[Episode, float]]:
        embedding = None
        if self._embeddings is not None and ranking in (EpisodeRanking.VECTOR, EpisodeRanking.HYBRID):
            embedding = await self._embeddings.embed(context, "context", deadline)
            if embedding is None and ranking is EpisodeRanking.VECTOR:
                raise Unavailable("the embeddings endpoint gave no embedding of the context in time",
                                  reason="EMBEDDINGS_UNAVAILABLE")
        async with self._read(organization) as uow:
            return await uow.episodes.recall(persona_id, candidate_id, context, ranking, limit, embedding)

    async def get_episode(self, organization: str, persona_id: str, candidate_id: str, session_id: str) -> Episode:
        await self._catalogue.get_persona(organization, persona_id)
        async with self._read(organization) as uow:
            episode = await uow.episodes.get(persona_id, candidate_id, session_id)
        if episode is None:
            raise NotFound(f"personas/{persona_id}/candidates/{candidate_id}/episodes/{session_id}",
                           reason="EPISODE_NOT_FOUND")
        return episode

    async def record_episode_review(self, organization: str, persona_id: str, session_id: str,
                                    review: EpisodeReview) -> bool:
        """Keeps the analysis service's review of a persona's call, once; False for a repeat. It joins the
        session's episode whenever that is recorded, before or after."""
        check_review(review)
        await self._catalogue.get_persona(organization, persona_id)
        async with self._transaction(organization) as uow:
            recorded = await uow.episodes.add_review(persona_id, session_id, review, _now())
            await uow.commit()
        return recorded

    # --- settings ------------------------------------------------------------------------------------

    async def get_settings(self, organization: str, persona_id: str) -> MemorySettings:
        await self._catalogue.get_persona(organization, persona_id)
        async with self._read(organization) as uow:
            return await uow.settings.get(persona_id) or MemorySettings(persona_id)

    async def update_settings(self, sent: MemorySettings, fields: frozenset[str], etag: str,
                              mutation: Mutation) -> MemorySettings:
        """Admins, and authors of the personas they own, change how a persona remembers."""
        organization = mutation.caller.organization
        persona = await self._catalogue.get_persona(organization, sent.persona_id)
        require_right_to_change(mutation.caller, persona, "changing the memory settings of",
                                persona.resource_name)
        async with self._transaction(organization) as uow:
            async def run() -> MemorySettings:
                now = _now()
                current = await uow.settings.lock(sent.persona_id, now)
                if etag and etag != current.etag:
                    raise EtagMismatch(current.resource_name, etag, current.etag)
                changed = dataclasses.replace(
                    current, revision=current.revision + 1, update_time=now,
                    **{name: getattr(sent, name) for name in fields})
                check_settings(changed)
                await uow.settings.save(changed)
                return changed

            settings = await run_idempotent(uow.requests, mutation, "UpdateMemorySettings", run, MemorySettings)
            await uow.commit()
        self._forget_settings(organization, sent.persona_id)
        return settings

    # --- erasure ------------------------------------------------------------------------------------

    async def erase_candidate(self, candidate_id: str, mutation: Mutation) -> ErasedMemory:
        """Everything the organization's personas remember of the candidate, gone in one call; the transcript
        service (when there is one) stops naming the candidate in its sessions first, so that no session ending
        later hands its facts back."""
        organization = mutation.caller.organization
        unlinked = await self._sessions.forget_candidate(organization, candidate_id) if self._sessions else 0
        async with self._transaction(organization) as uow:
            async def run() -> ErasedMemory:
                erased = await uow.erasure.erase(candidate_id)
                return dataclasses.replace(erased, sessions_unlinked=unlinked)

            erased = await run_idempotent(uow.requests, mutation, "EraseCandidateMemory", run, ErasedMemory)
            await uow.commit()
        # Announcements of the deletions reach every replica; this one forgets at once.
        self._cache.clear()
        self._learned.clear()
        self._sections.clear()
        return erased

    # --- memory in a rendered prompt ----------------------------------------------------------------

    async def render_prompt(self, organization: str, persona_id: str, scenario_id: str, candidate_id: str,
                            session_id: str, candidate_patches: Sequence[CandidatePatch] = (),
                            caller: CallContext | None = None,
                            withheld_patches: Sequence[str] = ()) -> tuple[str, RememberedPrompt]:
        """The id of the persona rendered and its prompt with the memory of the candidate (and session) appended;
        without it, and counted, when the memory cannot be read within the deadline: a slow memory never fails a call
        start. A session named without its persona renders the persona playing it now, for its candidate (and
        scenario, unless one is named), as the transcript service tells them; a session named without its candidate
        alone has it asked of that service (when there is one), within the memory deadline. Candidate patches, and
        published patches withheld, which the caller must have the right to render, change this rendering alone."""
        unpublished = bool(candidate_patches or withheld_patches)
        if unpublished:
            assert caller is not None, "unpublished renderings are rendered for a caller"
            if candidate_patches:
                require_right_to_render_unpublished(caller, "candidate_patches")
            if withheld_patches:
                require_right_to_render_unpublished(caller, "withheld_patches")
        session_told = False
        if not persona_id:
            played = await self._played(organization, session_id)
            persona_id, scenario_id = played.persona_id, scenario_id or played.scenario_id
            candidate_id, session_told = candidate_id or played.candidate_id, True
        rendered = await self._catalogue.render_prompt(organization, persona_id, scenario_id, session_id,
                                                       candidate_patches, withheld_patches)
        section = MEMORY_NOT_REQUESTED
        if session_id and not candidate_id and not session_told and self._sessions is not None:
            found = await self._candidate_of(self._sessions, organization, session_id)
            if found is None:
                section = MEMORY_UNAVAILABLE
            else:
                candidate_id = found
        if candidate_id:
            section = await self._cached_section(organization, persona_id, candidate_id, (session_id, scenario_id))
        if unpublished:
            return persona_id, _remembered(rendered, section)
        return persona_id, self._prompts.response((organization, persona_id, scenario_id, candidate_id, session_id),
                                                  rendered, section)

    async def _played(self, organization: str, session_id: str) -> PlayedSession:
        """The session as the transcript service tells it now (never kept: a handoff changes its persona at any
        time, on any replica); UNAVAILABLE, counted, when that service cannot tell."""
        if self._sessions is None:
            raise FailedPrecondition("rendering a session without naming its persona asks the transcript service "
                                     "which persona plays it, and none is configured (PERSONA_TRANSCRIPT_ADDRESS)",
                                     reason="TRANSCRIPT_SERVICE_NOT_CONFIGURED", metadata={"field": "persona"})
        try:
            played = await self._sessions.played(organization, session_id)
        except NotFound:
            _SESSION_NOT_FOUND.inc()
            raise
        except Unavailable:
            _SESSION_UNREADABLE.inc()
            raise
        _SESSION_TOLD.inc()
        return played

    async def _candidate_of(self, sessions: Sessions, organization: str, session_id: str) -> str | None:
        """The session's candidate as the transcript service tells it; None, counted, when it cannot in time."""
        try:
            async with asyncio.timeout(self._deadline):
                return await sessions.candidate_of(organization, session_id)
        except TimeoutError:
            _SESSION_DEADLINE.inc()
        except Unavailable:
            log.warning("rendering without memory: the session's candidate could not be read", exc_info=True)
            _SESSION_UNAVAILABLE.inc()
        return None

    async def _cached_section(self, organization: str, persona_id: str, candidate_id: str,
                              slot: Slot) -> MemorySection:
        """The section as last built, until one of its parts changes: a rendering that finds it reads nothing. The
        renderings that miss it share one build, which goes on (and is kept) after they stop waiting, so that a
        burst of misses on a slow database makes one build that ends, not one each that the deadline cancels."""
        candidate = (organization, persona_id, candidate_id)
        cached = self._sections.get(candidate, slot)
        if cached is not None:
            return cached
        key, generation = (candidate, slot), self._sections.generation
        started = self._builds.get(key)
        if started is None or started[0] != generation:  # a build begun before a change would miss it
            build = asyncio.create_task(self._build(candidate, slot, generation))
            self._builds[key] = (generation, build)
            build.add_done_callback(lambda done: self._build_ended(key, done))
        else:
            build = started[1]
        try:
            async with asyncio.timeout(self._deadline):
                return await asyncio.shield(build)
        except TimeoutError:
            _DEADLINE.inc()
            return MEMORY_UNAVAILABLE

    def _build_ended(self, key: tuple[CandidateKey, Slot], build: asyncio.Task[MemorySection]) -> None:
        if key in self._builds and self._builds[key][1] is build:  # not a later one, begun after a change
            del self._builds[key]

    async def _build(self, candidate: CandidateKey, slot: Slot, generation: int) -> MemorySection:
        organization, persona_id, candidate_id = candidate
        try:
            async with asyncio.timeout(SECTION_BUILD_SECONDS):
                section = await self._section(organization, persona_id, candidate_id, *slot)
        except Exception:  # whatever fails in reading memory, the call starts without it
            log.warning("rendering without memory: it could not be read", exc_info=True)
            _ERROR.inc()
            return MEMORY_UNAVAILABLE
        self._sections.put(candidate, slot, section, generation)
        return section

    async def _section(self, organization: str, persona_id: str, candidate_id: str, session_id: str,
                       scenario_id: str) -> MemorySection:
        """The memory the persona's settings keep: the session's, and the candidate's, its facts and its episodes
        across sessions."""
        # The settings first (cached, so seldom a round trip): a persona that keeps nothing across sessions must not
        # wait on, or lock up, the candidate's facts and episodes, nor call the embeddings endpoint for a recall.
        settings = await self._cached_settings(organization, persona_id)
        if settings.persistence is Persistence.NONE or (settings.persistence is Persistence.SESSION_ONLY
                                                         and not session_id):
            return MEMORY_DISABLED
        if settings.persistence is not Persistence.ACROSS_SESSIONS:
            session = await self._cached(organization, MemoryScope(persona_id, candidate_id, session_id))
            return memory_section((session,), NOTHING_LEARNED, self._budget, ())
        # Everything else at once (one round trip's wait).
        scopes = [MemoryScope(persona_id, candidate_id, session_id)] if session_id else []
        scopes.append(MemoryScope(persona_id, candidate_id))
        learned, recalled, all_memories = await asyncio.gather(
            self._cached_learned(organization, scopes[-1]),
            self._recalled(organization, persona_id, candidate_id, scenario_id),
            asyncio.gather(*(self._cached(organization, scope) for scope in scopes)))
        return memory_section(tuple(all_memories), learned, self._budget, recalled)

    async def _recalled(self, organization: str, persona_id: str, candidate_id: str,
                        scenario_id: str) -> tuple[Episode, ...]:
        """The candidate's episodes most like a call of the scenario (by its words, and its meaning with embeddings),
        best first, those that share anything with it. The last episode may be among them: the section renders it
        once and takes the next. Built with the section, so within its bounds; without embeddings in time, by the
        words alone."""
        if not scenario_id:
            return ()
        context = scenario_context(await self._catalogue.get_scenario(organization, scenario_id))
        found = await self._recall(organization, persona_id, candidate_id, context, EpisodeRanking.HYBRID,
                                   RECALLED_FOR_A_CALL, self._deadline)
        return tuple(episode for episode, relevance in found if relevance > 0)

    async def _cached(self, organization: str, scope: MemoryScope) -> WorkingMemory:
        async def load() -> WorkingMemory:
            async with self._read(organization) as uow:
                return await uow.memories.get(scope) or WorkingMemory(scope, MemoryContent())

        memory = await self._cache.get_or_load((organization, scope.key), load)
        assert memory is not None  # load never answers None
        return memory

    async def _cached_settings(self, organization: str, persona_id: str) -> MemorySettings:
        async def load() -> MemorySettings:
            async with self._read(organization) as uow:
                return await uow.settings.get(persona_id) or MemorySettings(persona_id)

        settings = await self._settings.get_or_load((organization, persona_id), load)
        assert settings is not None  # load never answers None
        return settings

    async def _cached_learned(self, organization: str, scope: MemoryScope) -> Learned:
        async def load() -> Learned:
            async with self._read(organization) as uow:
                return Learned(
                    tuple(await uow.facts.list(scope.persona_id, scope.candidate_id, False, None, RENDERED_FACTS)),
                    await uow.episodes.latest(scope.persona_id, scope.candidate_id))

        learned = await self._learned.get_or_load((organization, scope.key), load)
        assert learned is not None  # load never answers None
        return learned
