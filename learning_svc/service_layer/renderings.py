"""The two prompts a change is judged on, as the persona service renders them for a voice agent: as published, and
with the change sent as candidate patches and the published patches it replaces withheld. The learning runs' gate and
the evolution runs' validation and side-effect check all play these, on either engine."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from learning_svc.domain.patches import PatchChange
from learning_svc.domain.simulation import PlayedPrompts
from learning_svc.service_layer.ports import PersonaReader, Rendering


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
                       candidates: Sequence[tuple[str, PatchChange]], replaced: Collection[str]) -> RenderedSides:
    """The persona's prompt as published, and with ``candidates`` (name, change) on top and those of ``replaced`` that
    the published rendering applies withheld; one rendering when there is nothing to change."""
    baseline = await personas.rendering(name, organization)
    withheld = tuple(patch for patch in baseline.applied_patches if patch in replaced)
    patched = await personas.rendering(name, organization, candidates, withheld) \
        if candidates or withheld else baseline
    return RenderedSides(name, baseline, patched, withheld)
