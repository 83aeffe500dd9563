"""`make loop`'s stand-in plays a persona's calls from what its voice agent is told: the instructions it understands in
the prompt RenderPrompt rendered, not the texts of the patches it applied."""

from __future__ import annotations

from sparring.persona.v1 import persona_service_pb2 as ppb

from calls.turns import Role
from devtools.closed_loop import stand_in
from devtools.scripted_model import BUDGET_TRAIT
from learning_svc.domain.evolution import HOLD_BACK_BUDGET
from learning_svc.domain.simulation import SimulatedPersona

BEAR = SimulatedPersona("personas/rex", display_name="Rex", archetype="archetypes/bear", difficulty=5,
                        personality_traits=("blunt", BUDGET_TRAIT), communication_style="Curt.")


async def first_answer(rendered: ppb.RenderPromptResponse) -> str:
    turns = await stand_in(BEAR, rendered, seed=1)
    return next(turn.text for turn in turns if turn.role == Role.ASSISTANT)


async def test_a_patch_its_prompt_does_not_show_is_not_followed_and_what_the_prompt_tells_is():
    # Applied to a part its template does not render: its voice agent is never told to hold the budget back.
    unseen = ppb.RenderPromptResponse(system_prompt="You are Rex, COO. Curt.", applied_patches=[
        ppb.AppliedPatch(patch="patches/hold-back", target="voice_prompt", text=HOLD_BACK_BUDGET)])
    # The trait replaced in the prompt its voice agent gets, whatever the patch texts say.
    told = ppb.RenderPromptResponse(system_prompt=f"You are Rex, COO: blunt, {HOLD_BACK_BUDGET}. Curt.")

    assert "$" in await first_answer(unseen)
    assert "$" not in await first_answer(told)
