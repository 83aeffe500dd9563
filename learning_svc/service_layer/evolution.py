"""A prompt evolution run (seed 000): analyze corpus, identify patterns, generate refinements, validate by
simulated calls, apply. Each stage's output is saved on the run as soon as the stage ends."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from learning_svc.adapters.personas import PersonaDirectory
from learning_svc.domain.evolution import (
    CorpusAudit,
    Finding,
    Refinement,
    analyze_corpus,
    generate_refinements,
    identify_patterns,
    judge,
    rules_in_force,
)
from learning_svc.domain.patches import PatchChange, PatchOrigin, PatchTarget, PromptPatch
from learning_svc.domain.simulation import SimulatedPersona, simulate
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.patches import PatchStore, Provenance, approve_in, new_patch
from learning_svc.service_layer.runs import Save
from svckit.errors import FailedPrecondition
from svckit.records import to_record

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


def with_defaults(options: dict) -> dict:
    """The options a run works with: every zero or unset value replaced by its default."""
    filled = {**options}
    for key, default in DEFAULT_OPTIONS.items():
        if not filled.get(key) and not (key == "min_score_gain" and key in filled):
            filled[key] = default
    filled.setdefault("auto_apply", False)
    return filled


class Evolution:
    def __init__(self, engine: AsyncEngine, corpus: Corpus, personas: PersonaDirectory) -> None:
        self._engine = engine
        self._corpus = corpus
        self._personas = personas

    async def execute(self, run: dict, save: Save) -> dict:
        run = {**run}
        options = with_defaults(run.get("options", {}))
        scope = run.get("archetype", "")

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
            active = await self._active_patches({finding.archetype for finding in findings})
            refinements = generate_refinements(findings, active, options["max_refinements"])
            return {"refinements": to_record(refinements)}

        async def validate() -> dict:
            for refinement in refinements:
                results.append(await self._validate(refinement, findings, audits, options))
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

    async def _active_patches(self, archetypes: set[str]) -> list[PromptPatch]:
        async with self._engine.connect() as connection:
            store = PatchStore(connection)
            return [patch for archetype in sorted(archetypes | {""}) for target in PatchTarget
                    for patch in await store.active(archetype, target)]

    async def _validate(self, refinement: Refinement, findings, audits: Sequence[CorpusAudit], options: dict):
        personas = await self._players(refinement.archetype, audits)
        if not personas:
            raise FailedPrecondition(f"no persona of {refinement.archetype or 'any archetype'} to simulate calls with",
                                     reason="NO_PERSONA_TO_SIMULATE")
        active = await self._active_patches({refinement.archetype})
        calls = options["simulated_calls"]
        # The same personas, seeds and candidates, with and without the patch.
        baseline = await asyncio.to_thread(simulate, personas, rules_in_force(active, refinement.archetype), calls)
        patched = await asyncio.to_thread(simulate, personas,
                                          rules_in_force(active, refinement.archetype, refinement), calls)
        return judge(refinement, findings, baseline, patched, options["min_score_gain"], "ENGINE_LOCAL")

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
                change = PatchChange(refinement.archetype, PatchTarget(refinement.target), refinement.operation,
                                     refinement.text, refinement.phrase, refinement.words_per_turn)
                patch = new_patch(str(uuid.uuid4()), change, provenance, datetime.now(UTC))
                await store.insert(patch, run_name, refinement.rationale)
                if options["auto_apply"]:
                    patch = await approve_in(store, patch, run_name, "auto_apply: validation passed")
                written.append(patch.name)
        return {"patches": written, "rejected_refinement_ids": rejected}
