"""A feedback learning run: fold unprocessed training events into per-persona modules, run the
regression gate on simulated calls of the prompts the persona service renders, then publish or hold.

The run's ``engine`` picks what plays the gate's calls, as an evolution run's picks what plays its validation: the
local stand-in, or the model (bounded by the same allowance per run, and handing the rest of the gate to the stand-in
when it fails or the allowance runs out, counted under step "gate")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from learning_svc.domain.evolution import Engine
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
from learning_svc.service_layer.renderings import RenderedSides, render_sides
from learning_svc.service_layer.run_queue import Save

DEFAULT_EVENT_LIMIT = 10_000
# The fixed set of simulated calls both the current persona and the candidate play.
GATE_CALLS = 3
# Most personas gated in one run; the rest of a large run's personas are held with the gate's verdict.
MAX_GATED_PERSONAS = 20

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
                 openai_engine: LearningEngine | None = None, openai_limits: OpenAILimits | None = None) -> None:
        self._units = units
        self._personas = personas
        self._local = local_engine
        self._openai = openai_engine
        self._openai_limits = openai_limits or OpenAILimits()

    async def execute(self, organization: str, run: Document, save: Save) -> Document:
        run = {**run}
        folded = await self._fold_events(organization, run.get("persona", ""),
                                         run.get("event_limit") or DEFAULT_EVENT_LIMIT)
        run["events_scanned"] = len(folded.events)
        await save(run)

        gated = folded.gated_personas()
        openai = OpenAIAllowance(self._openai, self._openai_limits) if run.get("engine") == Engine.OPENAI else None
        gate = await self._gate(organization, run["name"], openai, gated[:MAX_GATED_PERSONAS], folded.current,
                                folded.updated) if gated else None
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

    async def _gate(self, organization: str, run_name: str, openai: OpenAIAllowance | None, personas: list[str],
                    current: dict[ModuleKey, Module], updated: dict[ModuleKey, Module]) -> dict[str, Any]:
        """The candidate (current modules plus the updated ones, published) against the current persona, each side
        played from the prompt the persona service renders for it: as published, and with the candidate's learned
        modules in place of the published ones; by the model when the run asked for it and it answers."""
        gated: list[dict[str, Any]] = []
        fallback_reasons: list[str] = []
        for name in personas:
            persona = await self._personas.simulated_persona(name, organization)
            if persona is None:
                continue
            mine = {key: module for key, module in current.items() if key[0] == name}
            candidate = {**mine, **{key: module if module.status == ModuleStatus.RETIRED
                                    else _with_status(module, ModuleStatus.ACTIVE)
                                    for key, module in updated.items() if key[0] == name}}
            sides = await self._renderings(organization, persona, mine, candidate)
            played = await play_pair(openai, self._local, "gate", f"the gate of {name} in {run_name}", [persona],
                                     GATE_CALLS, {name: sides.prompts})
            if played.fallback_reason:
                fallback_reasons.append(played.fallback_reason)
            gated.append({"persona": name, "current_score": played.baseline.scores.overall,
                          "candidate_score": played.patched.scores.overall,
                          "current_patches": list(sides.baseline.applied_patches),
                          "candidate_patches": list(sides.patched.applied_patches),
                          "withheld_patches": list(sides.withheld), "engine": played.engine})
        if not gated:
            return {"simulated_calls": 0, "passed": True,
                    "explanation": "no gated persona could be read; nothing was simulated"}
        calls = GATE_CALLS * len(gated)
        current_mean = round(fmean(p["current_score"] for p in gated), 2)
        candidate_mean = round(fmean(p["candidate_score"] for p in gated), 2)
        passed = candidate_mean >= current_mean
        engine = Engine.OPENAI if all(p["engine"] == Engine.OPENAI for p in gated) else Engine.LOCAL
        return {"simulated_calls": calls, "current_score": current_mean, "candidate_score": candidate_mean,
                "passed": passed, "personas": gated, "engine": engine,
                "fallback_reason": fallback_reasons[0] if fallback_reasons else "",
                "explanation": f"candidate {candidate_mean:.2f} vs current {current_mean:.2f} over {calls} "
                               f"simulated calls of the rendered prompts played by {engine}: "
                               + ("not worse" if passed else "worse")}

    async def _renderings(self, organization: str, persona: SimulatedPersona, mine: dict[ModuleKey, Module],
                          candidate: dict[ModuleKey, Module]) -> RenderedSides:
        """The persona's prompt as published, and as the candidate would have it: the modules it tells anew or with
        another confidence sent as candidate patches, those published that it edits or no longer tells withheld."""
        told_now = _told(mine.values(), persona.archetype)
        told_then = _told(candidate.values(), persona.archetype)
        replaced = {name for name, change in told_now.items() if told_then.get(name) != change}
        added = [(name, change) for name, change in told_then.items() if told_now.get(name) != change]
        return await render_sides(self._personas, persona.persona, organization, added, replaced)


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
        return "held: the candidate scored worse than the current persona on the regression gate"
    if not auto_publish:
        return "held: the gate passed but auto_publish is off"
    return "published: the gate passed and auto_publish is on"
