"""A feedback learning run: fold unprocessed training events into per-persona modules, run the
regression gate on simulated calls, then publish or hold."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from calls.persona_audit import target_words_per_turn
from learning_svc.domain.evolution import rules_in_force
from learning_svc.domain.modules import Module, ModuleStatus, fold, fresh_module, reinforcement_rules
from learning_svc.service_layer.patches import active_patches
from learning_svc.service_layer.ports import Document, PendingEvent, PersonaReader, SimulationEngine, UnitsOfWork
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
    def __init__(self, units: UnitsOfWork, personas: PersonaReader, simulator: SimulationEngine) -> None:
        self._units = units
        self._personas = personas
        self._simulator = simulator

    async def execute(self, organization: str, run: Document, save: Save) -> Document:
        run = {**run}
        folded = await self._fold_events(organization, run.get("persona", ""),
                                         run.get("event_limit") or DEFAULT_EVENT_LIMIT)
        run["events_scanned"] = len(folded.events)
        await save(run)

        gated = folded.gated_personas()
        gate = await self._gate(organization, gated[:MAX_GATED_PERSONAS], folded.current, folded.updated) \
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

    async def _gate(self, organization: str, personas: list[str], current: dict[ModuleKey, Module],
                    updated: dict[ModuleKey, Module]) -> dict[str, Any]:
        """The candidate (current modules plus the updated ones, published) against the current persona."""
        current_scores, candidate_scores = [], []
        read = {name: await self._personas.simulated_persona(name, organization) for name in personas}
        players = {name: persona for name, persona in read.items() if persona is not None}
        active = await active_patches(self._units, organization, {persona.archetype for persona in players.values()})
        for name, persona in players.items():
            patches = rules_in_force(active, persona.archetype)
            target = target_words_per_turn(persona.difficulty)
            mine = {key: module for key, module in current.items() if key[0] == name}
            candidate = {**mine, **{key: _with_status(module, ModuleStatus.ACTIVE) for key, module in updated.items()
                                    if key[0] == name and module.status != ModuleStatus.RETIRED}}
            before, after = await self._simulator.simulate_pair(
                [persona], [*patches, *reinforcement_rules(mine.values(), target)],
                [*patches, *reinforcement_rules(candidate.values(), target)], GATE_CALLS, {})
            current_scores.append(before.scores.overall)
            candidate_scores.append(after.scores.overall)
        if not current_scores:
            return {"simulated_calls": 0, "passed": True,
                    "explanation": "no gated persona could be read; nothing was simulated"}
        calls = GATE_CALLS * len(current_scores)
        current_mean, candidate_mean = round(fmean(current_scores), 2), round(fmean(candidate_scores), 2)
        passed = candidate_mean >= current_mean
        return {"simulated_calls": calls, "current_score": current_mean, "candidate_score": candidate_mean,
                "passed": passed,
                "explanation": f"candidate {candidate_mean:.2f} vs current {current_mean:.2f} over {calls} "
                               "simulated calls: " + ("not worse" if passed else "worse")}


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
