"""A prompt evolution run: analyze corpus, identify patterns, generate refinements, validate by
simulated calls, apply. Each stage's output is saved on the run as soon as the stage ends.

Two engines, as for live analysis: the run's ``options.engine`` picks ENGINE_LOCAL (deterministic) or ENGINE_OPENAI
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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from prometheus_client import Counter as Metric
from sqlalchemy.ext.asyncio import AsyncEngine

from calls.turns import Turn
from learning_svc.adapters.openai_engine import OpenAILearningEngine
from learning_svc.adapters.personas import PersonaDirectory
from learning_svc.domain.evolution import (
    CorpusAudit,
    Engine,
    Finding,
    Refinement,
    analyze_corpus,
    generate_refinements,
    identify_patterns,
    judge,
    rules_in_force,
)
from learning_svc.domain.patches import PatchOrigin, PromptPatch
from learning_svc.domain.simulation import (
    DEFAULT_EXCHANGES,
    SimulatedPersona,
    SimulationSummary,
    audit_simulated,
    simulate,
    summarise,
)
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.patches import PatchStore, Provenance, active_patches, approve_in, new_patch
from learning_svc.service_layer.runs import Save
from svckit.db import autocommit
from svckit.errors import FailedPrecondition
from svckit.openai_json import EngineFailure
from svckit.records import to_record

log = logging.getLogger("learning.evolution")

ENGINE_FALLBACKS = Metric("sparring_learning_engine_fallbacks_total",
                          "Evolution run steps where the openai engine failed and the local one stood in.",
                          ("step", "reason"))
BUDGET_EXHAUSTED, NOT_CONFIGURED = "budget_exhausted", "not_configured"
T = TypeVar("T")

# Personas of an archetype that play its simulated calls, most audited first.
MAX_SIMULATED_PERSONAS = 3
STAGES = ("analyze_corpus", "identify_patterns", "generate_refinements", "validate", "apply")
_STAGE_ENUMS = dict(zip(STAGES, ("EVOLUTION_STAGE_ANALYZE_CORPUS", "EVOLUTION_STAGE_IDENTIFY_PATTERNS",
                                 "EVOLUTION_STAGE_GENERATE_REFINEMENTS", "EVOLUTION_STAGE_VALIDATE",
                                 "EVOLUTION_STAGE_APPLY"), strict=True))
DEFAULT_OPTIONS = {"audit_limit": 200, "min_audits": 3, "simulated_calls": 3, "max_refinements": 5,
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

    def __init__(self, engine: OpenAILearningEngine | None, limits: OpenAILimits) -> None:
        self._engine = engine
        self._limits = limits
        self._calls_left = limits.max_calls
        self._deadline = asyncio.get_running_loop().time() + limits.seconds
        self._failed: dict[str, EngineFailure] = {}

    async def use(self, step: str, calls: int, work: Callable[[OpenAILearningEngine], Awaitable[T]]) -> T:
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


def _fell_back(step: str, failure: EngineFailure, what: str) -> None:
    ENGINE_FALLBACKS.labels(step, failure.reason).inc()
    log.warning("openai engine failed on %s (%s); the local engine stands in", what, failure)


async def _all(works: Iterable[Awaitable[T]]) -> list[T]:
    """The results of the works run together; the first EngineFailure cancels the others and is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(work) for work in works]
    except* EngineFailure as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def _simulate_with_openai(engine: OpenAILearningEngine, personas: Sequence[SimulatedPersona],
                                baseline_rules: Sequence[str], patched_rules: Sequence[str],
                                calls: int) -> tuple[SimulationSummary, SimulationSummary]:
    """As simulation.simulate does it twice (same personas in turn, seeds 1, 2, ..., same candidate lines), the
    persona played by the model; all the calls at once, each call's turns one after the other."""
    plays = [(personas[index % len(personas)], rules, 1 + index)
             for rules in (baseline_rules, patched_rules) for index in range(calls)]
    calls_made: list[tuple[Turn, ...]] = await _all(
        engine.simulate_call(persona, rules, seed, DEFAULT_EXCHANGES) for persona, rules, seed in plays)
    audits = [audit_simulated(persona, turns) for (persona, _, _), turns in zip(plays, calls_made, strict=True)]
    return summarise(audits[:calls]), summarise(audits[calls:])


def with_defaults(options: dict) -> dict:
    """The options a run works with: every zero or unset value replaced by its default."""
    filled = {**options}
    for key, default in DEFAULT_OPTIONS.items():
        if not filled.get(key) and not (key == "min_score_gain" and key in filled):
            filled[key] = default
    filled.setdefault("auto_apply", False)
    return filled


class Evolution:
    def __init__(self, engine: AsyncEngine, corpus: Corpus, personas: PersonaDirectory,
                 openai_engine: OpenAILearningEngine | None = None,
                 openai_limits: OpenAILimits | None = None) -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._corpus = corpus
        self._personas = personas
        self._openai = openai_engine
        self._openai_limits = openai_limits or OpenAILimits()

    async def execute(self, run: dict, save: Save) -> dict:
        run = {**run}
        options = with_defaults(run.get("options", {}))
        scope = run.get("archetype", "")
        # None: the local engine throughout.
        openai = (OpenAIAllowance(self._openai, self._openai_limits)
                  if options.get("engine") == Engine.OPENAI else None)

        async def stage(name: str, work) -> None:
            run["current_stage"] = _STAGE_ENUMS[name]
            started = _now()
            run[name] = {"status": {"state": "STAGE_STATE_RUNNING", "start_time": started}}
            await save(run)
            try:
                output = await work()
            except Exception as error:
                run[name] = {"status": {"state": "STAGE_STATE_FAILED", "start_time": started, "end_time": _now(),
                                        "message": str(error) or type(error).__name__}}
                await save(run)
                raise
            run[name] = {**output, "status": {"state": "STAGE_STATE_SUCCEEDED", "start_time": started,
                                              "end_time": _now()}}
            await save(run)

        def skip(names: Sequence[str], why: str) -> None:
            for name in names:
                run[name] = {"status": {"state": "STAGE_STATE_SKIPPED", "message": why}}

        audits: list[CorpusAudit] = []
        findings: tuple[Finding, ...] = ()
        refinements: tuple[Refinement, ...] = ()
        results: list = []

        async def analyze() -> dict:
            nonlocal audits
            audits = await self._corpus.recent_audits(scope or None, options["audit_limit"])
            return {"audit_count": len(audits), "archetypes": to_record(analyze_corpus(audits))}

        async def identify() -> dict:
            nonlocal findings
            findings = identify_patterns(audits, analyze_corpus(audits), options["min_audits"])
            return {"findings": to_record(findings)}

        async def generate() -> dict:
            nonlocal refinements
            active = await active_patches(self._reads, {finding.archetype for finding in findings})
            refinements, used = await self._refinements(run["name"], findings, active, options, openai)
            return {"refinements": to_record(refinements), "engine": used}

        async def validate() -> dict:
            # Read once for the stage: the patches in force and, per archetype, the personas that play the calls.
            active = await active_patches(self._reads, {refinement.archetype for refinement in refinements})
            players = {archetype: await self._players(archetype, audits)
                       for archetype in dict.fromkeys(refinement.archetype for refinement in refinements)}
            for refinement in refinements:
                results.append(await self._validate(run["name"], refinement, findings, active,
                                                    players[refinement.archetype], options, openai))
            return {"results": to_record(results)}

        async def apply() -> dict:
            return await self._apply(run["name"], refinements, findings, results, options)

        await stage("analyze_corpus", analyze)
        await stage("identify_patterns", identify)
        if not findings:
            skip(STAGES[2:], "no findings: the corpus shows nothing to change")
            return run
        await stage("generate_refinements", generate)
        if not refinements:
            skip(STAGES[3:], "no refinements: every finding is already addressed by an active patch")
            return run
        await stage("validate", validate)
        await stage("apply", apply)
        return run

    async def _refinements(self, run_name: str, findings: Sequence[Finding], active: Sequence[PromptPatch],
                           options: dict, openai: OpenAIAllowance | None) -> tuple[tuple[Refinement, ...], str]:
        """The refinements and the engine that made them."""
        limit = options["max_refinements"]
        if openai is not None:
            try:
                made = await openai.use("generate_refinements", 1,
                                        lambda engine: engine.refinements(findings, active, limit))
                return made, Engine.OPENAI.value
            except EngineFailure as failure:
                _fell_back("generate_refinements", failure, f"the refinements of {run_name}")
        return generate_refinements(findings, active, limit), Engine.LOCAL.value

    async def _validate(self, run_name: str, refinement: Refinement, findings, active: Sequence[PromptPatch],
                        personas: Sequence[SimulatedPersona], options: dict, openai: OpenAIAllowance | None):
        if not personas:
            raise FailedPrecondition(f"no persona of {refinement.archetype or 'any archetype'} to simulate calls with",
                                     reason="NO_PERSONA_TO_SIMULATE")
        calls = options["simulated_calls"]
        # The same personas, seeds and candidates, with and without the patch.
        before = rules_in_force(active, refinement.archetype)
        after = rules_in_force(active, refinement.archetype, refinement)
        if openai is not None:
            try:
                baseline, patched = await openai.use(
                    "validate", 2 * calls * DEFAULT_EXCHANGES,
                    lambda engine: _simulate_with_openai(engine, personas, before, after, calls))
                return judge(refinement, findings, baseline, patched, options["min_score_gain"], Engine.OPENAI.value)
            except EngineFailure as failure:
                _fell_back("validate", failure, f"{refinement.refinement_id} of {run_name}")
        baseline = await asyncio.to_thread(simulate, personas, before, calls)
        patched = await asyncio.to_thread(simulate, personas, after, calls)
        return judge(refinement, findings, baseline, patched, options["min_score_gain"], Engine.LOCAL.value)

    async def _players(self, archetype: str, audits: Sequence[CorpusAudit]) -> list[SimulatedPersona]:
        audited = Counter(audit.persona for audit in audits if audit.archetype == archetype)
        players = []
        for name, _ in audited.most_common():
            persona = await self._personas.simulated_persona(name)
            if persona is not None:
                players.append(persona)
            if len(players) == MAX_SIMULATED_PERSONAS:
                return players
        if not players and archetype:
            players = await self._personas.personas_of_archetype(archetype, MAX_SIMULATED_PERSONAS)
        return players

    async def _apply(self, run_name: str, refinements, findings, results, options: dict) -> dict:
        by_id = {finding.finding_id: finding for finding in findings}
        written, rejected = [], []
        async with self._engine.connect() as connection, connection.begin():
            store = PatchStore(connection)
            for refinement, result in zip(refinements, results, strict=True):
                if not result.passed:
                    rejected.append(refinement.refinement_id)
                    continue
                motivating = [by_id[f] for f in refinement.finding_ids if f in by_id]
                provenance = Provenance(
                    origin=PatchOrigin.EVOLUTION_RUN,
                    motivation="; ".join(f.summary for f in motivating)[:2000],
                    evolution_run=run_name, refinement_id=refinement.refinement_id,
                    source_audit_count=len({a for f in motivating for a in f.evidence_audits}),
                    validated=True, validation_score=result.patched.scores.overall,
                    baseline_score=result.baseline.scores.overall, supersedes=refinement.supersedes,
                )
                patch = new_patch(str(uuid.uuid4()), refinement.change, provenance, datetime.now(UTC))
                await store.insert(patch, run_name, refinement.rationale)
                if options["auto_apply"]:
                    patch = await approve_in(store, patch, run_name, "auto_apply: validation passed")
                written.append(patch.name)
        return {"patches": written, "rejected_refinement_ids": rejected}
