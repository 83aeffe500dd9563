"""A prompt evolution run: analyze corpus, identify patterns, generate refinements, validate by
simulated calls, apply. Each stage's output is saved on the run as soon as the stage ends.

Two engines, as for live analysis: the run's ``options.engine`` picks "local" (deterministic) or "openai"
(an OpenAI-compatible model) for generating refinements and for playing the persona in the validate stage's
simulated calls; both sets of simulated calls are audited by the same auditor as real calls. When the model's
answer cannot be used (``EngineFailure``) the step is done by the local engine instead, counted in
``sparring_learning_engine_fallbacks_total{step, reason}``, and the validation result names the engine actually used.
The openai engine is bounded per run (``OpenAILimits``): at most ``max_calls`` model calls and ``seconds`` of
waiting for them; a step that would go over falls back with reason "budget_exhausted". After a failure, the rest
of the step's work in that run (the other refinements of the validate stage) goes straight to local with the
same reason, so one run waits for a failing endpoint at most once per step."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import Counter as Metric

from learning_svc.domain.evolution import (
    CorpusAudit,
    DroppedRefinement,
    Engine,
    Finding,
    PersonaBrief,
    Proposals,
    Refinement,
    ValidatedPersona,
    ValidationResult,
    analyze_corpus,
    identify_patterns,
    judge,
    overall_of,
    proposed,
    refuse_side_effects,
    side_effect,
)
from learning_svc.domain.patches import PatchOperation, PatchOrigin, PromptPatch
from learning_svc.domain.simulation import DEFAULT_EXCHANGES, PlayedPrompts, SimulatedPersona, SimulationSummary
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.patches import (
    ActiveSet,
    Provenance,
    active_patches,
    approve_in,
    edits_persona,
    new_patch,
    reached_change,
)
from learning_svc.service_layer.ports import Document, LearningEngine, PersonaReader, SimulationEngine, UnitsOfWork
from learning_svc.service_layer.renderings import RenderedSides, render_sides, require_scenario
from learning_svc.service_layer.run_queue import Save
from svckit.errors import FailedPrecondition, InvalidArgument
from svckit.openai_json import EngineFailure
from svckit.records import to_record

log = logging.getLogger("learning.evolution")

ENGINE_FALLBACKS = Metric("sparring_learning_engine_fallbacks_total",
                          "Evolution run steps where the openai engine failed and the local one stood in.",
                          ("step", "reason"))
SIDE_EFFECT_REFUSALS = Metric("sparring_learning_side_effect_regressions_total",
                              "Dimensions of personas a refinement reaches that were worse with it, refusing it.",
                              ("dimension",))
DROPPED_REFINEMENTS = Metric("sparring_learning_dropped_refinements_total",
                             "Refinements an engine proposed that failed the checks of a prompt patch, never stored.",
                             ("engine", "reason"))
BUDGET_EXHAUSTED, NOT_CONFIGURED = "budget_exhausted", "not_configured"
T = TypeVar("T")

# Personas of an archetype that play its simulated calls, most audited first.
MAX_SIMULATED_PERSONAS = 3
# Personas a refinement reaches whose side effects are measured (the first of its archetype listed).
MAX_REACHED_PERSONAS = 20
STAGES = ("analyze_corpus", "identify_patterns", "generate_refinements", "validate", "apply")
_STAGE_ENUMS = dict(zip(STAGES, ("EVOLUTION_STAGE_ANALYZE_CORPUS", "EVOLUTION_STAGE_IDENTIFY_PATTERNS",
                                 "EVOLUTION_STAGE_GENERATE_REFINEMENTS", "EVOLUTION_STAGE_VALIDATE",
                                 "EVOLUTION_STAGE_APPLY"), strict=True))
DEFAULT_OPTIONS = {"audit_limit": 200, "min_audits": 3, "simulated_calls": 12, "max_refinements": 5,
                   "min_score_gain": 0.5}


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class OpenAILimits:
    """What one run may spend on the openai engine: model calls (a refinements request is one, every simulated
    persona turn one; retries are the client's, bounded by its max_retries) and seconds spent waiting for them."""

    max_calls: int = 200
    seconds: float = 240.0


class OpenAIAllowance:
    """The openai engine's allowance in one run; a failed step stays failed for the rest of the run."""

    def __init__(self, engine: LearningEngine | None, limits: OpenAILimits) -> None:
        self._engine = engine
        self._limits = limits
        self._calls_left = limits.max_calls
        self._deadline = asyncio.get_running_loop().time() + limits.seconds
        self._failed: dict[str, EngineFailure] = {}

    async def use(self, step: str, calls: int, work: Callable[[LearningEngine], Awaitable[T]]) -> T:
        """work's result, or EngineFailure: its own, an earlier one of the step, or the allowance running out."""
        try:
            if step in self._failed:
                raise self._failed[step]
            if self._engine is None:
                raise EngineFailure(NOT_CONFIGURED, "this replica has no openai engine (LEARNING_OPENAI_BASE_URL)")
            if calls > self._calls_left:
                raise EngineFailure(BUDGET_EXHAUSTED, f"{calls} model calls needed, {self._calls_left} of the run's "
                                                      f"{self._limits.max_calls} left")
            self._calls_left -= calls
            try:
                async with asyncio.timeout_at(self._deadline):
                    return await work(self._engine)
            except TimeoutError as error:
                raise EngineFailure(BUDGET_EXHAUSTED, f"the run's {self._limits.seconds:g} s for model calls ran "
                                                      f"out") from error
        except EngineFailure as failure:
            self._failed.setdefault(step, failure)
            raise


def _fell_back(step: str, failure: EngineFailure, what: str) -> str:
    """Counts and logs the fall-back; the reason the run's document gives for it."""
    ENGINE_FALLBACKS.labels(step, failure.reason).inc()
    log.warning("openai engine failed on %s (%s); the local engine stands in", what, failure)
    return str(failure)


@dataclass(frozen=True, slots=True)
class PlayedPair:
    """Both sides of a comparison's simulated calls, the engine that played them and why the local one stood in."""

    baseline: SimulationSummary
    patched: SimulationSummary
    engine: Engine
    fallback_reason: str = ""


async def play_pair(openai: OpenAIAllowance | None, local: SimulationEngine, step: str, what: str,
                    personas: Sequence[SimulatedPersona], calls: int,
                    prompts: Mapping[str, PlayedPrompts]) -> PlayedPair:
    """The calls played from the rendered prompts by the model when the run has it (``openai``), else, or when it
    fails, by the local stand-in (the fall-back counted under ``step``)."""
    fallback_reason = ""
    if openai is not None:
        try:
            baseline, patched = await openai.use(step, 2 * calls * DEFAULT_EXCHANGES,
                                                 lambda engine: engine.simulate_pair(personas, calls, prompts))
            return PlayedPair(baseline, patched, Engine.OPENAI)
        except EngineFailure as failure:
            fallback_reason = _fell_back(step, failure, what)
    baseline, patched = await local.simulate_pair(personas, calls, prompts)
    return PlayedPair(baseline, patched, Engine.LOCAL, fallback_reason)


def with_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """The options a run works with: every zero or unset value replaced by its default."""
    filled = {**options}
    for key, default in DEFAULT_OPTIONS.items():
        if not filled.get(key) and not (key == "min_score_gain" and key in filled):
            filled[key] = default
    filled.setdefault("auto_apply", False)
    filled.setdefault("scenario", "")
    return filled


class _Stages:
    """The stages of one run as its document shows them: each one RUNNING, then SUCCEEDED with its output or
    FAILED with its error, or SKIPPED; the document saved at every step."""

    def __init__(self, run: Document, save: Save) -> None:
        self.run = run
        self._save = save

    async def run_stage(self, name: str, work: Callable[[], Awaitable[Document]]) -> None:
        self.run["current_stage"] = _STAGE_ENUMS[name]
        started = _now()
        self.run[name] = {"status": {"state": "STAGE_STATE_RUNNING", "start_time": started}}
        await self._save(self.run)
        try:
            output = await work()
        except Exception as error:
            self.run[name] = {"status": {"state": "STAGE_STATE_FAILED", "start_time": started, "end_time": _now(),
                                         "message": str(error) or type(error).__name__}}
            await self._save(self.run)
            raise
        self.run[name] = {**output, "status": {"state": "STAGE_STATE_SUCCEEDED", "start_time": started,
                                               "end_time": _now()}}
        await self._save(self.run)

    def skip(self, names: Sequence[str], why: str) -> None:
        for name in names:
            self.run[name] = {"status": {"state": "STAGE_STATE_SKIPPED", "message": why}}


@dataclass
class _RunState:
    """What one run's stages hand on to the next."""

    name: str
    organization: str  # whose corpus, patches and personas the run works with
    scope: str
    options: dict[str, Any]
    openai: OpenAIAllowance | None  # None: the local engine throughout
    audits: list[CorpusAudit] = field(default_factory=list)
    findings: tuple[Finding, ...] = ()
    refinements: tuple[Refinement, ...] = ()
    results: list[ValidationResult] = field(default_factory=list)


class Evolution:
    def __init__(self, units: UnitsOfWork, corpus: Corpus, personas: PersonaReader, local_engine: LearningEngine,
                 openai_engine: LearningEngine | None = None, openai_limits: OpenAILimits | None = None) -> None:
        self._units = units
        self._corpus = corpus
        self._personas = personas
        self._local = local_engine
        self._openai = openai_engine
        self._openai_limits = openai_limits or OpenAILimits()

    async def execute(self, organization: str, run: Document, save: Save) -> Document:
        stages = _Stages({**run}, save)
        options = with_defaults(run.get("options", {}))
        await require_scenario(self._personas, options["scenario"], organization)
        state = _RunState(run["name"], organization, run.get("archetype", ""), options,
                          OpenAIAllowance(self._openai, self._openai_limits)
                          if options.get("engine") == Engine.OPENAI else None)
        await stages.run_stage("analyze_corpus", lambda: self._analyze(state))
        await stages.run_stage("identify_patterns", lambda: self._identify(state))
        if not state.findings:
            stages.skip(STAGES[2:], "no findings: the corpus shows nothing to change")
            return stages.run
        await stages.run_stage("generate_refinements", lambda: self._generate(state))
        if not state.refinements:
            stages.skip(STAGES[3:], "no refinements: every finding is already addressed by an active patch")
            return stages.run
        await stages.run_stage("validate", lambda: self._validate_all(state))
        await stages.run_stage("apply", lambda: self._apply(state))
        return stages.run

    async def _analyze(self, state: _RunState) -> Document:
        state.audits = await self._corpus.recent_audits(state.organization, state.scope or None,
                                                        state.options["audit_limit"])
        return {"audit_count": len(state.audits), "archetypes": to_record(analyze_corpus(state.audits)),
                "engine": Engine.LOCAL}

    async def _identify(self, state: _RunState) -> Document:
        state.findings = identify_patterns(state.audits, analyze_corpus(state.audits), state.options["min_audits"])
        return {"findings": to_record(state.findings), "engine": Engine.LOCAL}

    async def _generate(self, state: _RunState) -> Document:
        active = await active_patches(self._units, state.organization,
                                      {finding.archetype for finding in state.findings})
        briefs = await self._briefs(state)
        proposals, used, fallback_reason = await self._refinements(state, active, briefs)
        kept, dropped = await self._reaching(state.organization, proposals, active)
        for item in dropped:
            DROPPED_REFINEMENTS.labels(used, item.reason).inc()
        # Numbered again once the dropped ones are gone: r1, r2, ... as the refinements stored.
        state.refinements = tuple(replace(refinement, refinement_id=f"r{index}")
                                  for index, refinement in enumerate(kept, start=1))
        return {"refinements": to_record(state.refinements), "engine": used, "fallback_reason": fallback_reason,
                "dropped_refinements": to_record(dropped)}

    async def _briefs(self, state: _RunState) -> list[PersonaBrief]:
        """The personas the findings quote, most quoted first, at most MAX_SIMULATED_PERSONAS per archetype, as the
        refinement engine is shown them: the persona service renders each one's prompt as a voice agent gets it, in
        the run's scenario."""
        quoted = Counter(quote.persona for finding in state.findings for quote in finding.evidence_quotes)
        briefs: list[PersonaBrief] = []
        per_archetype: Counter[str] = Counter()
        for name, _ in quoted.most_common():
            persona = await self._personas.simulated_persona(name, state.organization)
            if persona is None or per_archetype[persona.archetype] == MAX_SIMULATED_PERSONAS:
                continue
            rendered = (await self._personas.rendering(name, state.organization,
                                                       scenario=state.options["scenario"])).system_prompt
            guidance = (await self._personas.archetype_guidance(persona.archetype, state.organization)
                        if persona.archetype else "")
            per_archetype[persona.archetype] += 1
            briefs.append(PersonaBrief(name, persona.archetype, persona.difficulty, rendered, guidance,
                                       persona.communication_style, persona.personality_traits,
                                       persona.objection_patterns))
        return briefs

    async def _reaching(self, organization: str, proposals: Proposals,
                        active: Sequence[PromptPatch]) -> tuple[list[Refinement], list[DroppedRefinement]]:
        """The proposals whose structured patches reach a persona that has their target, as CreatePromptPatch
        checks them; the others dropped with the reason it would give."""
        kept, dropped = [], list(proposals.dropped)
        for refinement in proposals.refinements:
            if refinement.operation != PatchOperation.EDIT_PART:
                kept.append(refinement)
                continue
            try:
                change = await reached_change(refinement.change, self._personas, ActiveSet(list(active), ""),
                                              organization)
            except InvalidArgument as refused:
                violation = refused.violations[0]
                dropped.append(DroppedRefinement(proposed(to_record(refinement)), refused.reason, violation.field,
                                                 violation.description))
                continue
            kept.append(replace(refinement, archetype=change.archetype))
        return kept, dropped

    async def _validate_all(self, state: _RunState) -> Document:
        # Read once for the stage: per archetype, the personas that play the calls.
        archetypes = dict.fromkeys(refinement.archetype for refinement in state.refinements)
        players = {archetype: await self._players(state.organization, archetype, state.audits)
                   for archetype in archetypes}
        for refinement in state.refinements:
            reached = await self._reached(state.organization, refinement)
            result = await self._validate(state, refinement, _playing(refinement, players[refinement.archetype],
                                                                      reached))
            if result.passed:
                result = await self._side_effects(state, refinement, reached, result)
            state.results.append(result)
        engine = Engine.OPENAI if all(result.engine == Engine.OPENAI for result in state.results) else Engine.LOCAL
        return {"results": to_record(state.results), "engine": engine}

    async def _reached(self, organization: str, refinement: Refinement) -> list[SimulatedPersona]:
        """The personas the refinement's scope reaches: its persona, or those of its archetype (the first
        MAX_REACHED_PERSONAS) within its difficulty range."""
        scope = refinement.scope
        if scope is not None and scope.persona:
            persona = await self._personas.simulated_persona(scope.persona, organization)
            return [persona] if persona is not None else []
        personas = await self._personas.personas_of_archetype(refinement.archetype, MAX_REACHED_PERSONAS,
                                                              organization)
        return [p for p in personas if scope is None or scope.reaches(p.persona, p.difficulty)]

    async def _side_effects(self, state: _RunState, refinement: Refinement, reached: Sequence[SimulatedPersona],
                            result: ValidationResult) -> ValidationResult:
        """Every persona the refinement reaches played alone, from its rendered prompt with and without it, by the
        local stand-in: it measures what a patch does to the personas it was not written for (whether a model would
        follow it is the openai validation's question); refused when any of them is worse on any dimension."""
        calls = state.options["simulated_calls"]
        effects = []
        for persona, sides in zip(reached, await self._rendered(state, refinement, reached), strict=True):
            baseline, patched = await self._local.simulate_pair([persona], calls, {persona.persona: sides.prompts})
            effects.append(replace(side_effect(persona, baseline, patched),
                                   baseline_patches=sides.baseline.applied_patches,
                                   patched_patches=sides.patched.applied_patches, withheld_patches=sides.withheld,
                                   engine=Engine.LOCAL))
        judged = refuse_side_effects(result, effects)
        for effect in effects:
            for dimension in effect.regressed:
                SIDE_EFFECT_REFUSALS.labels(dimension).inc()
        return judged

    async def _refinements(self, state: _RunState, active: Sequence[PromptPatch],
                           briefs: Sequence[PersonaBrief]) -> tuple[Proposals, Engine, str]:
        """The proposals, the engine that made them and why the local one stood in ("" when it did not)."""
        limit = state.options["max_refinements"]
        fallback_reason = ""
        if state.openai is not None:
            try:
                made = await state.openai.use(
                    "generate_refinements", 1, lambda engine: engine.refinements(state.findings, active, limit, briefs))
                return made, Engine.OPENAI, ""
            except EngineFailure as failure:
                fallback_reason = _fell_back("generate_refinements", failure, f"the refinements of {state.name}")
        return await self._local.refinements(state.findings, active, limit, briefs), Engine.LOCAL, fallback_reason

    async def _validate(self, state: _RunState, refinement: Refinement,
                        personas: Sequence[SimulatedPersona]) -> ValidationResult:
        if not personas:
            raise FailedPrecondition(f"no persona of {refinement.archetype or 'any archetype'} to simulate calls with",
                                     reason="NO_PERSONA_TO_SIMULATE")
        calls = state.options["simulated_calls"]
        # The same personas, seeds and candidates, with and without the patch (the players are all reached by it).
        rendered = await self._rendered(state, refinement, personas)
        played = await play_pair(state.openai, self._local, "validate", f"{refinement.refinement_id} of {state.name}",
                                 personas, calls, {sides.persona: sides.prompts for sides in rendered})
        result = judge(refinement, state.findings, played.baseline, played.patched, state.options["min_score_gain"],
                       played.engine)
        return replace(result, fallback_reason=played.fallback_reason,
                       personas=tuple(_validated(index, len(rendered), sides, played)
                                      for index, sides in enumerate(rendered)))

    async def _rendered(self, state: _RunState, refinement: Refinement,
                        personas: Sequence[SimulatedPersona]) -> list[RenderedSides]:
        """What each persona's voice agent would be told in the run's scenario, as the persona service renders it: as
        published, and with the refinement on top as a candidate patch (named after the run and the refinement), the
        active patch it supersedes withheld. A persona whose part lacks the passage the refinement replaces or removes
        is told the same on both sides, as it would be once the patch is published."""
        candidate = [(f"{state.name}/refinements/{refinement.refinement_id}", refinement.change)]
        replaced = {refinement.supersedes} - {""}
        return [await render_sides(self._personas, persona.persona, state.organization,
                                   candidate if await edits_persona(refinement.change, persona, self._personas,
                                                                    state.organization) else [], replaced,
                                   state.options["scenario"])
                for persona in personas]

    async def _players(self, organization: str, archetype: str,
                       audits: Sequence[CorpusAudit]) -> list[SimulatedPersona]:
        audited = Counter(audit.persona for audit in audits if audit.archetype == archetype)
        players = []
        for name, _ in audited.most_common():
            persona = await self._personas.simulated_persona(name, organization)
            # An audit keeps the archetype its client named at the time; the persona may be of another one now, and
            # a patch of this archetype cannot be rendered for it.
            if persona is not None and (not archetype or persona.archetype == archetype):
                players.append(persona)
            if len(players) == MAX_SIMULATED_PERSONAS:
                return players
        if not players and archetype:
            players = await self._personas.personas_of_archetype(archetype, MAX_SIMULATED_PERSONAS, organization)
        return players

    async def _apply(self, state: _RunState) -> Document:
        """Writes a PROPOSED patch per refinement that passed validation, approved at once with auto_apply when
        the model validated it: the local engine obeys the rules it validates, so what it alone validated waits for
        an operator."""
        written, rejected, awaiting = [], [], []
        async with self._units.transaction(state.organization) as uow:
            for refinement, result in zip(state.refinements, state.results, strict=True):
                if not result.passed:
                    rejected.append(refinement.refinement_id)
                    continue
                patch = new_patch(str(uuid.uuid4()), refinement.change, _provenance(state, refinement, result),
                                  datetime.now(UTC))
                await uow.patches.add(patch, state.name, refinement.rationale)
                if state.options["auto_apply"] and result.engine != Engine.LOCAL:
                    patch = await approve_in(uow.patches, patch, state.name, "auto_apply: validation passed")
                elif state.options["auto_apply"]:
                    awaiting.append(patch.name)
                written.append(patch.name)
            await uow.commit()
        return {"patches": written, "rejected_refinement_ids": rejected, "awaiting_approval": awaiting,
                "engine": Engine.LOCAL}


def _playing(refinement: Refinement, players: Sequence[SimulatedPersona],
             reached: Sequence[SimulatedPersona]) -> list[SimulatedPersona]:
    """The personas whose calls show whether the refinement fixes its finding: the most audited ones it reaches, or,
    when it reaches none of them, the first it reaches."""
    scope = refinement.scope
    playing = [p for p in players if scope is None or scope.reaches(p.persona, p.difficulty)]
    return playing or list(reached[:MAX_SIMULATED_PERSONAS])


def _validated(index: int, players: int, sides: RenderedSides, played: PlayedPair) -> ValidatedPersona:
    """The ``index``-th of the ``players`` personas that played a validation's calls in turn: what it was told, how
    it scored."""
    calls, baseline = overall_of(played.baseline, index, players)
    _, patched = overall_of(played.patched, index, players)
    return ValidatedPersona(sides.persona, sides.baseline.applied_patches, sides.patched.applied_patches,
                            sides.withheld, calls, baseline, patched)


def _provenance(state: _RunState, refinement: Refinement, result: ValidationResult) -> Provenance:
    by_id = {finding.finding_id: finding for finding in state.findings}
    motivating = [by_id[f] for f in refinement.finding_ids if f in by_id]
    return Provenance(
        origin=PatchOrigin.EVOLUTION_RUN,
        motivation="; ".join(f.summary for f in motivating)[:2000],
        evolution_run=state.name, refinement_id=refinement.refinement_id,
        source_audit_count=len({a for f in motivating for a in f.evidence_audits}),
        validated=True, validation_score=result.patched.scores.overall,
        baseline_score=result.baseline.scores.overall, supersedes=refinement.supersedes,
    )
