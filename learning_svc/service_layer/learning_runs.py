"""A feedback learning run: fold unprocessed training events into per-persona modules, run the
regression gate on simulated calls, then publish or hold."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from statistics import fmean

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from calls.persona_audit import target_words_per_turn
from learning_svc.adapters.personas import PersonaDirectory
from learning_svc.domain.evolution import rules_in_force
from learning_svc.domain.modules import Module, ModuleStatus, fold, fresh_module, reinforcement_rules
from learning_svc.domain.simulation import simulate
from learning_svc.service_layer.patches import active_patches
from learning_svc.service_layer.runs import Save
from svckit.db import autocommit

DEFAULT_EVENT_LIMIT = 10_000
# The fixed set of simulated calls both the current persona and the candidate play.
GATE_CALLS = 3
# Most personas gated in one run; the rest of a large run's personas are held with the gate's verdict.
MAX_GATED_PERSONAS = 20


def _module(row) -> Module:
    return Module(row.persona, row.module, row.positive, row.negative, ModuleStatus(row.status), row.event_count)


class LearningRuns:
    def __init__(self, engine: AsyncEngine, personas: PersonaDirectory) -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._personas = personas

    async def execute(self, run: dict, save: Save) -> dict:
        run = {**run}
        scope = run.get("persona", "")
        limit = run.get("event_limit") or DEFAULT_EVENT_LIMIT
        async with self._reads.connect() as connection:
            events = (await connection.execute(sa.text(
                "SELECT id, persona, module, signal FROM learning.training_events WHERE NOT processed "
                "AND (persona = :persona OR :persona = '') ORDER BY position LIMIT :limit"),
                {"persona": scope, "limit": limit})).all()
            signals: dict[tuple[str, str], list[float]] = defaultdict(list)
            for event in events:
                signals[(event.persona, event.module)].append(event.signal)
            current = await self._modules(connection, list(signals))
        run["events_scanned"] = len(events)
        await save(run)

        updated = {key: fold(current.get(key) or fresh_module(*key), values) for key, values in signals.items()}
        changed = {key: module for key, module in updated.items()
                   if key not in current or module.confidence != current[key].confidence
                   or module.status != current[key].status}
        gated = sorted({persona for (persona, _), module in changed.items() if module.status != ModuleStatus.RETIRED})
        gate = await self._gate(gated[:MAX_GATED_PERSONAS], current, updated) if gated else None
        gate_passed = gate is None or gate["passed"]
        auto_publish = bool(run.get("auto_publish"))
        publish = bool(gated) and gate_passed and auto_publish
        final_status = ModuleStatus.ACTIVE if publish else ModuleStatus.HELD
        final = {key: module if module.status == ModuleStatus.RETIRED else
                 Module(module.persona, module.module, module.positive, module.negative, final_status,
                        module.event_count) for key, module in updated.items()}

        async with self._engine.connect() as connection, connection.begin():
            for module in final.values():
                await connection.execute(sa.text(
                    "INSERT INTO learning.modules (persona, module, positive, negative, status, event_count) "
                    "VALUES (:persona, :module, :positive, :negative, :status, :event_count) "
                    "ON CONFLICT (persona, module) DO UPDATE SET positive = excluded.positive, "
                    "negative = excluded.negative, status = excluded.status, event_count = excluded.event_count, "
                    "update_time = now()"),
                    {"persona": module.persona, "module": module.module, "positive": module.positive,
                     "negative": module.negative, "status": module.status.value, "event_count": module.event_count})
            processed = (await connection.execute(sa.text(
                "UPDATE learning.training_events SET processed = true, learning_run = :run, process_time = now() "
                "WHERE id = ANY(:ids) AND NOT processed RETURNING id"),
                {"run": run["name"], "ids": [event.id for event in events]})).all()

        updates = []
        for key, module in sorted(final.items()):
            before = current.get(key)
            if before is not None and before.confidence == module.confidence and before.status == module.status:
                continue
            updates.append({
                "persona": module.persona, "module": module.module,
                "previous_confidence": before.confidence if before else 0.0, "confidence": module.confidence,
                "previous_status": before.status.value if before else "MODULE_STATUS_UNSPECIFIED",
                "status": module.status.value, "event_count": len(signals[key]),
            })
        run.update({
            "events_processed": len(processed), "modules_updated": len(updates), "module_updates": updates,
            "gate_passed": gate_passed, "decision": "PUBLISH_DECISION_PUBLISHED" if publish
            else "PUBLISH_DECISION_HELD",
            "decision_reason": _reason(bool(gated), gate_passed, auto_publish),
        })
        if gate is not None:
            run["gate"] = gate
        return run

    @staticmethod
    async def _modules(connection: AsyncConnection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Module]:
        personas = sorted({persona for persona, _ in keys})
        rows = (await connection.execute(sa.text(
            "SELECT * FROM learning.modules WHERE persona = ANY(:personas)"), {"personas": personas})).all()
        return {(row.persona, row.module): _module(row) for row in rows}

    async def _gate(self, personas: list[str], current: dict, updated: dict) -> dict:
        """The candidate (current modules plus the updated ones, published) against the current persona."""
        current_scores, candidate_scores = [], []
        read = {name: await self._personas.simulated_persona(name) for name in personas}
        players = {name: persona for name, persona in read.items() if persona is not None}
        active = await active_patches(self._reads, {persona.archetype for persona in players.values()})
        for name, persona in players.items():
            patches = rules_in_force(active, persona.archetype)
            target = target_words_per_turn(persona.difficulty)
            mine = {key: module for key, module in current.items() if key[0] == name}
            candidate = {**mine, **{key: Module(m.persona, m.module, m.positive, m.negative, ModuleStatus.ACTIVE,
                                                m.event_count)
                                    for key, m in updated.items() if key[0] == name
                                    and m.status != ModuleStatus.RETIRED}}
            before = await asyncio.to_thread(simulate, [persona],
                                             [*patches, *reinforcement_rules(mine.values(), target)], GATE_CALLS)
            after = await asyncio.to_thread(simulate, [persona],
                                            [*patches, *reinforcement_rules(candidate.values(), target)], GATE_CALLS)
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


def _reason(anything: bool, gate_passed: bool, auto_publish: bool) -> str:
    if not anything:
        return "nothing to publish: no module changed"
    if not gate_passed:
        return "held: the candidate scored worse than the current persona on the regression gate"
    if not auto_publish:
        return "held: the gate passed but auto_publish is off"
    return "published: the gate passed and auto_publish is on"
