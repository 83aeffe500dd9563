"""The two prompts a change is judged on, as the persona service renders them for a voice agent: as published, and
with the change sent as candidate patches and the published patches it replaces withheld. The learning runs' gate and
the evolution runs' validation and side-effect check all play these, on either engine."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from learning_svc.domain.patches import PatchChange
from learning_svc.domain.simulation import PlayedPrompts
from learning_svc.service_layer.ports import PersonaReader, Rendering
from svckit.errors import NotFound


@dataclass(frozen=True, slots=True)
class RenderedSides:
    """One persona's prompt on each side of a comparison, and the published patches the changed side withheld."""

    persona: str
    baseline: Rendering
    patched: Rendering
    withheld: tuple[str, ...]

    @property
    def prompts(self) -> PlayedPrompts:
        return PlayedPrompts(self.baseline.system_prompt, self.patched.system_prompt)


async def render_sides(personas: PersonaReader, name: str, organization: str,
                       candidates: Sequence[tuple[str, PatchChange]], replaced: Collection[str],
                       scenario: str = "") -> RenderedSides:
    """The persona's prompt in ``scenario`` (none: "") as published, and with ``candidates`` (name, change) on top and
    those of ``replaced`` that the published rendering applies withheld; one rendering when there is nothing to
    change."""
    baseline = await personas.rendering(name, organization, scenario=scenario)
    withheld = tuple(patch for patch in baseline.applied_patches if patch in replaced)
    patched = await personas.rendering(name, organization, candidates, withheld, scenario) \
        if candidates or withheld else baseline
    return RenderedSides(name, baseline, patched, withheld)


async def require_scenario(personas: PersonaReader, scenario: str, organization: str | None = None) -> None:
    """NOT_FOUND (UNKNOWN_SCENARIO) when a run names a scenario the persona service does not know for the
    organization (None: the caller's): a prompt rendered without it would be judged in no scenario at all."""
    if scenario and not await personas.scenario_exists(scenario, organization):
        raise NotFound(scenario, reason="UNKNOWN_SCENARIO")
