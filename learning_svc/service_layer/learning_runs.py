"""A feedback learning run: fold unprocessed training events into per-persona modules, run the
regression gate on simulated calls of the prompts the persona service renders, then publish or hold.

The run's ``engine`` picks what plays the gate's calls, as an evolution run's picks what plays its validation: the
local stand-in, or the model (bounded by the same allowance per run, and handing the rest of the gate to the stand-in
when it fails or the allowance runs out, counted under step "gate").

The gate decides with a test, not on the difference of two means: each gated persona plays the same seeded calls on
both sides, and the candidate fails when any persona is significantly worse on any audit dimension (a one-sided exact
sign test per dimension, the one validation and side effects use). The sign test rather than Wilcoxon's signed-rank:
audit scores are small integers, so most pairs tie or move by a point or two and ranks of such differences say little
more than their signs, while the sign test needs no symmetry of the differences and is exact with ties left out."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from prometheus_client import Counter

from learning_svc.domain.evolution import Engine, compare_dimensions
from learning_svc.domain.modules import Module, ModuleStatus, fold, fresh_module, published_reinforcements
from learning_svc.domain.patches import PatchChange
from learning_svc.domain.simulation import SimulatedPersona
from learning_svc.service_layer.evolution import OpenAIAllowance, OpenAILimits, play_pair
from learning_svc.service_layer.patches import module_patch
from learning_svc.service_layer.ports import (
    Document,
    LearningEngine,
    PendingEvent,
    PersonaReader,
    SimulationEngine,
    UnitsOfWork,
)
from learning_svc.service_layer.renderings import RenderedSides, render_sides, require_scenario
from learning_svc.service_layer.run_queue import Save
from svckit.errors import DeadlineExceeded, FailedPrecondition
from svckit.records import to_record

GATE_SIMULATED_CALLS = Counter("sparring_learning_gate_simulated_calls_total",
                               "Simulated calls the learning runs' regression gate played, both sides counted.",
                               ("engine",))
GATE_DECISIONS = Counter("sparring_learning_gate_decisions_total",
                         "Regression gates decided: passed, failed (a dimension significantly worse), over_bound "
                         "(refused before playing) or timed_out.", ("decision",))

DEFAULT_EVENT_LIMIT = 10_000
# Most personas gated in one run; the rest of a large run's personas are held with the gate's verdict.
MAX_GATED_PERSONAS = 20


@dataclass(frozen=True)
class GateLimits:
    """How the gate decides and what it may spend (LEARNING_GATE_* settings): paired calls per persona and side, the
    sign test's significance level, the simulated calls of one gate (both sides) and its seconds."""

    calls_per_persona: int = 12
    alpha: float = 0.05
    max_simulated_calls: int = 480
    timeout_seconds: float = 120.0

ModuleKey = tuple[str, str]  # (persona, module)


@dataclass(frozen=True)
class _Folded:
    """The run's events folded into their modules: the modules as they were, and as they would be."""

    events: list[PendingEvent]
    signals: dict[ModuleKey, list[float]]
    current: dict[ModuleKey, Module]
    updated: dict[ModuleKey, Module]

    def gated_personas(self) -> list[str]:
        """Personas with a module that changed and is not retired."""
        return sorted({key[0] for key, module in self.updated.items()
                       if _changed(self.current.get(key), module) and module.status != ModuleStatus.RETIRED})


def _changed(before: Module | None, after: Module) -> bool:
    return before is None or before.confidence != after.confidence or before.status != after.status


def _with_status(module: Module, status: ModuleStatus) -> Module:
    return Module(module.persona, module.module, module.positive, module.negative, status, module.event_count)


class LearningRuns:
    def __init__(self, units: UnitsOfWork, personas: PersonaReader, local_engine: SimulationEngine,
                 openai_engine: LearningEngine | None = None, openai_limits: OpenAILimits | None = None,
                 gate_limits: GateLimits | None = None) -> None:
        self._units = units
        self._personas = personas
        self._local = local_engine
        self._openai = openai_engine
        self._openai_limits = openai_limits or OpenAILimits()
        self._gate_limits = gate_limits or GateLimits()

    async def execute(self, organization: str, run: Document, save: Save) -> Document:
        """The run done; it fails, nothing stored, when its scenario is gone or its gate is over its bounds."""
        run = {**run}
        scenario = run.get("scenario", "")
        await require_scenario(self._personas, scenario, organization)
        folded = await self._fold_events(organization, run.get("persona", ""),
                                         run.get("event_limit") or DEFAULT_EVENT_LIMIT)
        run["events_scanned"] = len(folded.events)
        await save(run)

        gated = folded.gated_personas()
        openai = OpenAIAllowance(self._openai, self._openai_limits) if run.get("engine") == Engine.OPENAI else None
        gate = await self._bounded_gate(_Gating(organization, run["name"], scenario, openai),
                                        gated[:MAX_GATED_PERSONAS], folded.current, folded.updated) \
            if gated else None
        gate_passed = gate is None or gate["passed"]
        auto_publish = bool(run.get("auto_publish"))
        publish = bool(gated) and gate_passed and auto_publish
        final_status = ModuleStatus.ACTIVE if publish else ModuleStatus.HELD
        final = {key: module if module.status == ModuleStatus.RETIRED else _with_status(module, final_status)
                 for key, module in folded.updated.items()}
        processed = await self._store(organization, final, folded.events, run["name"])

        updates = _module_updates(final, folded)
        run.update({
            "events_processed": processed, "modules_updated": len(updates), "module_updates": updates,
            "gate_passed": gate_passed, "decision": "PUBLISH_DECISION_PUBLISHED" if publish
            else "PUBLISH_DECISION_HELD",
            "decision_reason": _reason(bool(gated), gate_passed, auto_publish),
        })
        if gate is not None:
            run["gate"] = gate
        return run

    async def _fold_events(self, organization: str, persona: str, limit: int) -> _Folded:
        """The organization's unprocessed events of the scope, oldest first, and the modules they update."""
        async with self._units.read(organization) as uow:
            events = await uow.events.unprocessed(persona, limit)
            signals: dict[ModuleKey, list[float]] = defaultdict(list)
            for event in events:
                signals[(event.persona, event.module)].append(event.signal)
            current = await uow.modules.of_personas(sorted({persona for persona, _ in signals}))
        updated = {key: fold(current.get(key) or fresh_module(*key), values) for key, values in signals.items()}
        return _Folded(events, signals, current, updated)

    async def _store(self, organization: str, modules: dict[ModuleKey, Module], events: list[PendingEvent],
                     run_name: str) -> int:
        """Saves the modules and marks the events processed by this run, in one transaction; how many it marked."""
        async with self._units.transaction(organization) as uow:
            for module in modules.values():
                await uow.modules.save(module)
            processed = await uow.events.mark_processed([event.id for event in events], run_name)
            await uow.commit()
        return processed

    async def _bounded_gate(self, gating: _Gating, personas: list[str], current: dict[ModuleKey, Module],
                            updated: dict[ModuleKey, Module]) -> dict[str, Any]:
        """The gate within its bounds: refused before any call is played when its calls would go over the most one
        gate may play, failed when it takes longer than its time."""
        limits = self._gate_limits
        planned = 2 * limits.calls_per_persona * len(personas)
        if planned > limits.max_simulated_calls:
            GATE_DECISIONS.labels("over_bound").inc()
            raise FailedPrecondition(
                f"GATE_TOO_LARGE: the regression gate of {len(personas)} personas would play {planned} simulated "
                f"calls ({limits.calls_per_persona} a side each), over LEARNING_GATE_MAX_SIMULATED_CALLS "
                f"({limits.max_simulated_calls}); nothing was played or stored", reason="GATE_TOO_LARGE")
        try:
            async with asyncio.timeout(limits.timeout_seconds):
                gate = await self._gate(gating, personas, current, updated)
        except TimeoutError as error:
            GATE_DECISIONS.labels("timed_out").inc()
            raise DeadlineExceeded(
                f"GATE_TIMEOUT: the regression gate took longer than LEARNING_GATE_TIMEOUT_SECONDS "
                f"({limits.timeout_seconds:g} s); nothing was stored", reason="GATE_TIMEOUT") from error
        GATE_DECISIONS.labels("passed" if gate["passed"] else "failed").inc()
        return gate

    async def _gate(self, gating: _Gating, personas: list[str], current: dict[ModuleKey, Module],
                    updated: dict[ModuleKey, Module]) -> dict[str, Any]:
        """The candidate (current modules plus the updated ones, published) against the current persona, each side
        played from the prompt the persona service renders for it: as published, and with the candidate's learned
        modules in place of the published ones; by the model when the run asked for it and it answers. Worse when a
        persona's calls are significantly worse on any audit dimension."""
        limits = self._gate_limits
        gated: list[dict[str, Any]] = []
        fallback_reasons: list[str] = []
        for name in personas:
            persona = await self._personas.simulated_persona(name, gating.organization)
            if persona is None:
                continue
            mine = {key: module for key, module in current.items() if key[0] == name}
            candidate = {**mine, **{key: module if module.status == ModuleStatus.RETIRED
                                    else _with_status(module, ModuleStatus.ACTIVE)
                                    for key, module in updated.items() if key[0] == name}}
            sides = await self._renderings(gating, persona, mine, candidate)
            played = await play_pair(gating.openai, self._local, "gate", f"the gate of {name} in {gating.run_name}",
                                     [persona], limits.calls_per_persona, {name: sides.prompts})
            GATE_SIMULATED_CALLS.labels(played.engine.value).inc(2 * limits.calls_per_persona)
            if played.fallback_reason:
                fallback_reasons.append(played.fallback_reason)
            gated.append({"persona": name, "current_score": played.baseline.scores.overall,
                          "candidate_score": played.patched.scores.overall,
                          "current_patches": list(sides.baseline.applied_patches),
                          "candidate_patches": list(sides.patched.applied_patches),
                          "withheld_patches": list(sides.withheld), "engine": played.engine,
                          "dimensions": to_record(compare_dimensions(played.baseline, played.patched,
                                                                     limits.alpha))})
        if not gated:
            return {"simulated_calls": 0, "passed": True, "calls_per_persona": limits.calls_per_persona,
                    "alpha": limits.alpha, "explanation": "no gated persona could be read; nothing was simulated"}
        worse = [f"{p['persona']} {d['dimension'].replace('_', ' ')} {d['mean_before']:.2f} -> {d['mean_after']:.2f} "
                 f"(p = {d['p_value']:.4f})" for p in gated for d in p["dimensions"] if d["worse"]]
        engine = Engine.OPENAI if all(p["engine"] == Engine.OPENAI for p in gated) else Engine.LOCAL
        test = (f"{limits.calls_per_persona} paired calls per persona played by {engine} from the rendered prompts, "
                f"one-sided sign test per audit dimension at alpha {limits.alpha:g}")
        return {"simulated_calls": limits.calls_per_persona * len(gated),
                "current_score": round(fmean(p["current_score"] for p in gated), 2),
                "candidate_score": round(fmean(p["candidate_score"] for p in gated), 2),
                "passed": not worse, "personas": gated, "engine": engine,
                "calls_per_persona": limits.calls_per_persona, "alpha": limits.alpha,
                "fallback_reason": fallback_reasons[0] if fallback_reasons else "",
                "explanation": f"significantly worse: {'; '.join(worse)} ({test})" if worse
                else f"no audit dimension of any gated persona significantly worse ({test})"}

    async def _renderings(self, gating: _Gating, persona: SimulatedPersona, mine: dict[ModuleKey, Module],
                          candidate: dict[ModuleKey, Module]) -> RenderedSides:
        """The persona's prompt as published, and as the candidate would have it: the modules it tells anew or with
        another confidence sent as candidate patches, those published that it edits or no longer tells withheld."""
        told_now = _told(mine.values(), persona.archetype)
        told_then = _told(candidate.values(), persona.archetype)
        replaced = {name for name, change in told_now.items() if told_then.get(name) != change}
        added = [(name, change) for name, change in told_then.items() if told_now.get(name) != change]
        return await render_sides(self._personas, persona.persona, gating.organization, added, replaced,
                                  gating.scenario)


@dataclass(frozen=True)
class _Gating:
    """Whose gate it is, the scenario its calls are played in, and the model's allowance (None: the stand-in)."""

    organization: str
    run_name: str
    scenario: str
    openai: OpenAIAllowance | None


def _told(modules: Iterable[Module], archetype: str) -> dict[str, PatchChange]:
    """What the persona service tells a persona of these modules (ListActivePatches gives each as a patch), by the
    name RenderPrompt applies it under."""
    patches = (module_patch(module, told, archetype) for module, told in published_reinforcements(modules))
    return {patch.name: patch.change for patch in patches}


def _module_updates(final: dict[ModuleKey, Module], folded: _Folded) -> list[Document]:
    """What the run changed, module by module, in the order of their keys."""
    updates = []
    for key, module in sorted(final.items()):
        before = folded.current.get(key)
        if not _changed(before, module):
            continue
        updates.append({
            "persona": module.persona, "module": module.module,
            "previous_confidence": before.confidence if before else 0.0, "confidence": module.confidence,
            "previous_status": before.status.value if before else "MODULE_STATUS_UNSPECIFIED",
            "status": module.status.value, "event_count": len(folded.signals[key]),
        })
    return updates


def _reason(anything: bool, gate_passed: bool, auto_publish: bool) -> str:
    if not anything:
        return "nothing to publish: no module changed"
    if not gate_passed:
        return "held: the regression gate found the candidate significantly worse on an audit dimension"
    if not auto_publish:
        return "held: the gate passed but auto_publish is off"
    return "published: the gate passed and auto_publish is on"
