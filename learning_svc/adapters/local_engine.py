"""The `local` engine of prompt evolution and of the learning runs' gate: the deterministic refinements and
simulator of the domain, the simulations worked off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from learning_svc.domain.evolution import Finding, PersonaBrief, Proposals, generate_refinements
from learning_svc.domain.patches import PromptPatch
from learning_svc.domain.simulation import PlayedPrompts, SimulatedPersona, SimulationSummary, simulate


class LocalLearningEngine:
    async def refinements(self, findings: Sequence[Finding], active: Sequence[PromptPatch], limit: int,
                          briefs: Sequence[PersonaBrief]) -> Proposals:
        return Proposals(generate_refinements(findings, active, limit, briefs))

    async def simulate_pair(self, personas: Sequence[SimulatedPersona], calls: int,
                            prompts: Mapping[str, PlayedPrompts]) -> tuple[SimulationSummary, SimulationSummary]:
        """The stand-in plays the persona's fields and the instructions it understands in each side's rendered
        prompt."""
        baseline = await asyncio.to_thread(simulate, personas, (), calls,
                                           prompts={name: played.baseline for name, played in prompts.items()})
        patched = await asyncio.to_thread(simulate, personas, (), calls,
                                          prompts={name: played.patched for name, played in prompts.items()})
        return baseline, patched
