"""The regression gate of a learning run plays each gated persona from the prompt the persona service renders for it:
"before" as published (its patches and learned modules), "after" with the candidate's modules in place of the
published ones (new ones as candidate patches, withdrawn ones withheld), in the run's scenario when it names one. A
patch scoped to another persona is not in it, and a module the candidate no longer tells is gone from its "after"
prompt. It decides per audit dimension with a sign test over the seeded calls paired by seed: the withdrawn brevity
module makes brevity significantly worse and the run is held; a new one passes. An evolution run's validation and
side-effect check play the same renderings, with the refinement as the candidate patch: a persona whose voice agent
is never told the part a refinement edits gains nothing from it, even on the instruction-following stand-in.

The learning service here has a database of its own and a persona replica wired to it, both ways: runs are a queue
any replica works, and the session's learning service renders through a persona service that is wired to none."""

from __future__ import annotations

import uuid

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb

from learning_svc.app import SPEC
from learning_svc.app import build as build_learning
from learning_svc.config import LearningSettings
from persona_svc.config import PersonaSettings
from svckit.db import make_engine
from tests.conftest import _new_database
from tests.e2e.conftest import persona_replica
from tests.e2e.run_waiter import run_waiter
from tests.e2e.status_details import rejected_in
from tests.e2e.test_learning_api import budget_given_first
from tests.probes import free_port
from tests.security import ORGANIZATION, secure_channel

GATED = "personas/gate-owl"
NEIGHBOUR = "personas/gate-neighbour-owl"
WITHDRAWING = "personas/gate-rambling-owl"
# Its template tells it the scenario's description.
IN_SCENES = "personas/gate-scene-owl"
# A scenario whose description tells the owl a length far over its target (8-16 words a turn at difficulty 4).
LONG_ANSWERS = "Keep every answer to 40-60 words."
# Told to the neighbour alone; an owl of difficulty 4 (8-16 words a turn) told it would lose brevity.
NEIGHBOURS_RULE = "Keep every answer to 40-60 words."
WITHDRAWN = "patches/module-gate-rambling-owl-brevity"
TOLD = "Keep every answer short: one point, then stop."


# Hard bears whose trait tells them to give their budget away first: the local engine replaces that trait.
BUDGET_TRAIT = "gives its budget away in the first answer"
GIVEAWAY = "We have $60,000 a year set aside for this."
# Its template renders no personality traits: its voice agent is never told the trait, nor what replaces it.
UNTOLD_BEAR = "personas/gate-untold-bear"
TOLD_BEAR = "personas/gate-told-bear"


def _owl(slug: str, name: str, style: str) -> persona_pb.Persona:
    return persona_pb.Persona(
        slug=slug, display_name=name, role="Controller", blueprint=persona_pb.BLUEPRINT_SALES,
        archetype="archetypes/owl", difficulty=4, personality_traits=["precise"], communication_style=style,
        prompt_template="You are {persona.name}, {persona.role}: {persona.personality_traits}. "
                        "{persona.communication_style}")


@pytest.fixture(scope="module")
def gate_database_url(server_url: str) -> str:
    yield from _new_database(server_url)


@pytest_asyncio.fixture(scope="module")
async def gate_owls(personas, catalogue):
    """Owls of this module's own, not active (no other module's run reaches them), deleted at the end."""
    owls = {GATED: _owl("gate-owl", "Gale Orwell", "Dry and exact."),
            NEIGHBOUR: _owl("gate-neighbour-owl", "Nell Ames", "Dry and exact."),
            WITHDRAWING: _owl("gate-rambling-owl", "Ross Pike",
                              "Long-winded: explains everything in detail and rambles through every answer."),
            IN_SCENES: _owl("gate-scene-owl", "Sean Cole", "Dry and exact.")}
    owls[IN_SCENES].prompt_template += "\n{scenario.description}"
    for owl in owls.values():
        try:
            await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona_id=owl.slug, persona=owl))
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    yield
    for name in owls:
        await personas.DeletePersona(persona_pb.DeletePersonaRequest(name=name))


@pytest_asyncio.fixture(scope="module")
async def gate_learnings(database_url, engine, gate_database_url, gate_owls):
    """A learning service whose persona service applies its patches and modules, as in production."""
    gate_engine = make_engine(gate_database_url, pool_size=5)
    await SPEC.migrate(gate_engine)
    learning_port = free_port()
    settings = PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                               learning_address=f"127.0.0.1:{learning_port}", patches_timeout_seconds=5)
    async with persona_replica(settings, engine) as persona_address:
        learning = await build_learning(LearningSettings(database_url=gate_database_url, grpc_port=0, metrics_port=0,
                                                         persona_address=persona_address), gate_engine)
        learning.port = learning_port  # where the persona replica calls it (the runtime sets it from grpc_port)
        await learning.start()
        try:
            async with secure_channel(learning.address) as channel:
                yield learning_service_pb2_grpc.LearningServiceStub(channel), gate_engine
        finally:
            await learning.stop(grace=2)
            await gate_engine.dispose()


@pytest_asyncio.fixture(scope="module")
async def finished_here(gate_database_url):
    async with run_waiter(gate_database_url) as wait:
        yield wait


@pytest_asyncio.fixture(scope="module")
async def budget_bears(personas, catalogue):
    """Two hard bears of this module's own, active (a refinement for difficulty-5 bears must find its passage in one
    it reaches), deleted at the end: a flawed bear left in the shared catalogue would be reached by other modules'
    patches."""
    bears = {UNTOLD_BEAR: "You are {persona.name}, {persona.role}. {persona.communication_style}",
             TOLD_BEAR: "You are {persona.name}, {persona.role}: {persona.personality_traits}. "
                        "{persona.communication_style}"}
    for name, template in bears.items():
        slug = name.removeprefix("personas/")
        bear = persona_pb.Persona(
            slug=slug, display_name=slug.replace("-", " ").title(), role="COO", blueprint=persona_pb.BLUEPRINT_SALES,
            archetype="archetypes/bear", difficulty=5, personality_traits=["blunt", BUDGET_TRAIT],
            communication_style="Curt; demands the bottom line.", prompt_template=template, active=True)
        try:
            await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona_id=slug, persona=bear))
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    yield
    for name in bears:
        await personas.DeletePersona(persona_pb.DeletePersonaRequest(name=name))


async def learning_run(learnings, finished, persona: str, feedback: list[tuple[float, str]],
                       engine: int = pb.ENGINE_UNSPECIFIED, scenario: str = "") -> pb.LearningRun:
    """A learning run of the persona, its gate played by ``engine`` in ``scenario``, once these (score, reason) pieces
    of feedback are its new events."""
    for score, reason in feedback:
        await learnings.RecordFeedback(pb.RecordFeedbackRequest(feedback=pb.Feedback(
            trace_id=f"t-{uuid.uuid4().hex}", score=score, reason=reason, persona=persona)))
    run = (await learnings.CreateLearningRun(pb.CreateLearningRunRequest(
        learning_run=pb.LearningRun(persona=persona, engine=engine, scenario=scenario)))).learning_run
    assert await finished(run.name) == "RUN_STATE_SUCCEEDED"
    return (await learnings.GetLearningRun(pb.GetLearningRunRequest(name=run.name))).learning_run


async def test_a_patch_scoped_to_another_persona_does_not_reach_the_gate(gate_learnings, finished_here):
    """The owl's gate plays the same "before" prompt whether or not its neighbour has a patch of its own: before
    the patch, and after it is approved, the current side scores the same."""
    learnings, _ = gate_learnings
    # Too few signals to retire the module: it stays a draft, held by each run.
    first = await learning_run(learnings, finished_here, GATED, [(-1.0, "too_long")] * 2)
    patch = (await learnings.CreatePromptPatch(pb.CreatePromptPatchRequest(patch=pb.PromptPatch(
        archetype="archetypes/owl", target=pb.PATCH_TARGET_VOICE_PROMPT, operation=pb.PATCH_OPERATION_EDIT_PART,
        part=pb.PROMPT_PART_COMMUNICATION_STYLE, edit=pb.PART_EDIT_ADD, text=NEIGHBOURS_RULE,
        scope=pb.PatchScope(persona=NEIGHBOUR))))).patch
    await learnings.ApprovePromptPatch(pb.ApprovePromptPatchRequest(name=patch.name))
    second = await learning_run(learnings, finished_here, GATED, [(-1.0, "too_long")])

    assert second.gate.current_score == first.gate.current_score, (first.gate, second.gate)
    (before,), (after,) = first.gate.personas, second.gate.personas
    assert before.persona == after.persona == GATED and after.current_score == before.current_score
    assert patch.name not in [*after.current_patches, *after.candidate_patches]
    # The module the owl's feedback speaks to is told on the candidate side, as RenderPrompt applies it.
    assert "patches/module-gate-owl-brevity" in after.candidate_patches
    assert "patches/module-gate-owl-brevity" not in after.current_patches  # held by the first run
    # Telling an owl that already keeps to its length to keep answers short makes no audit dimension worse.
    assert [d.dimension for d in after.dimensions] == ["brevity", "authenticity", "consistency", "enthusiasm_leak",
                                                       "pacing"]
    assert second.gate_passed and not any(d.worse for d in after.dimensions), second.gate.explanation
    assert (second.gate.calls_per_persona, second.gate.alpha) == (12, 0.05)


async def test_a_module_the_candidate_no_longer_tells_is_withheld_from_the_after_prompt(
        gate_learnings, finished_here):
    """A rambling owl's published brevity module, told with confidence 0.19, rises to 0.54 on praise for its brevity:
    the candidate no longer tells it, so the "after" prompt renders without it, and the owl, played from that prompt,
    rambles again: the gate finds the candidate worse and holds it."""
    learnings, gate_engine = gate_learnings
    async with gate_engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO learning.modules (organization, persona, module, positive, negative, status, event_count)"
            " VALUES (:organization, :persona, 'brevity', 1.5, 6.5, 'MODULE_STATUS_ACTIVE', 8)"),
            {"organization": ORGANIZATION, "persona": WITHDRAWING})
    run = await learning_run(learnings, finished_here, WITHDRAWING, [(1.0, "brevity")] * 6)

    (gated,) = run.gate.personas
    assert WITHDRAWN in gated.current_patches and WITHDRAWN not in gated.candidate_patches
    assert list(gated.withheld_patches) == [WITHDRAWN]
    (brevity,) = [d for d in gated.dimensions if d.worse]
    assert brevity.dimension == "brevity" and brevity.mean_after < brevity.mean_before and brevity.p_value < 0.05
    assert brevity.worse_calls >= 5 and not run.gate_passed and run.decision == pb.PUBLISH_DECISION_HELD
    assert run.gate.explanation.startswith(f"significantly worse: {WITHDRAWING} brevity"), run.gate.explanation


async def test_the_gate_plays_its_calls_in_the_scenario_the_run_names(gate_learnings, finished_here, personas):
    """The scenario's description tells the owl to answer at three times its length: played in it, the owl's current
    side loses brevity it keeps without it."""
    learnings, _ = gate_learnings
    scenario = (await personas.CreateScenario(persona_pb.CreateScenarioRequest(scenario=persona_pb.Scenario(
        display_name="Long answers", industry=f"Gate {uuid.uuid4().hex[:8]}", description=LONG_ANSWERS)))).scenario
    try:
        plain = await learning_run(learnings, finished_here, IN_SCENES, [(-1.0, "too_long")] * 2)
        staged = await learning_run(learnings, finished_here, IN_SCENES, [(-1.0, "too_long")], scenario=scenario.name)
    finally:
        await personas.DeleteScenario(persona_pb.DeleteScenarioRequest(name=scenario.name))

    assert staged.scenario == scenario.name and not plain.scenario
    (without,), (within,) = plain.gate.personas, staged.gate.personas
    brevity = {run: next(d for d in gated.dimensions if d.dimension == "brevity")
               for run, gated in (("plain", without), ("staged", within))}
    assert brevity["staged"].mean_before < brevity["plain"].mean_before, (brevity, staged.gate.explanation)


async def test_a_run_in_a_scenario_the_persona_service_does_not_know_is_not_found_and_not_created(gate_learnings):
    learnings, _ = gate_learnings
    unknown = f"scenarios/no-such-{uuid.uuid4().hex[:8]}"
    async def runs() -> tuple[list[str], list[str]]:
        learning_runs = (await learnings.ListLearningRuns(pb.ListLearningRunsRequest(page_size=100))).learning_runs
        evolution_runs = (await learnings.ListEvolutionRuns(pb.ListEvolutionRunsRequest(page_size=100))).runs
        return [r.name for r in learning_runs], [r.name for r in evolution_runs]

    before = await runs()

    learning = await rejected_in("learning.sparring.dev", learnings.CreateLearningRun(pb.CreateLearningRunRequest(
        learning_run=pb.LearningRun(persona=GATED, scenario=unknown))), grpc.StatusCode.NOT_FOUND)
    evolution = await rejected_in("learning.sparring.dev", learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(
        run=pb.EvolutionRun(options=pb.EvolutionOptions(scenario=unknown)))), grpc.StatusCode.NOT_FOUND)

    for rejection in (learning, evolution):
        assert rejection.reason == "UNKNOWN_SCENARIO" and rejection.info.metadata["resource"] == unknown
    assert await runs() == before


async def _bear_evolution(learnings, finished, flawed: str, calls: int) -> tuple[pb.EvolutionRun, pb.ValidationResult]:
    """An evolution run of the bears once ``calls`` more audits of ``flawed`` giving its budget first are in the
    corpus; the validation of the refinement that replaces the trait."""
    for _ in range(calls):
        await learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=budget_given_first(flawed, GIVEAWAY)))
    run = (await learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(run=pb.EvolutionRun(
        archetype="archetypes/bear", options=pb.EvolutionOptions(simulated_calls=12))))).run
    assert await finished(run.name) == "RUN_STATE_SUCCEEDED"
    run = (await learnings.GetEvolutionRun(pb.GetEvolutionRunRequest(name=run.name))).run
    (refinement,) = [r for r in run.generate_refinements.refinements if r.find_text == BUDGET_TRAIT]
    (result,) = [r for r in run.validate.results if r.refinement_id == refinement.refinement_id]
    return run, result


async def test_a_refinement_its_voice_agent_is_never_told_fails_validation_on_the_rendered_prompt(
        gate_learnings, finished_here, budget_bears):
    """The untold bear's prompt shows no traits: replacing one changes nothing its voice agent is told, so its calls
    score the same on both sides and the refinement is rejected, though the stand-in follows what it is told."""
    learnings, _ = gate_learnings
    run, result = await _bear_evolution(learnings, finished_here, UNTOLD_BEAR, 3)

    assert result.engine == pb.ENGINE_LOCAL and not result.passed, result.explanation
    assert "not enough" in result.explanation
    (played,) = result.personas
    candidate = f"{run.name}/refinements/{result.refinement_id}"
    assert (played.persona, list(played.baseline_patches), list(played.patched_patches), played.calls) == (
        UNTOLD_BEAR, [], [candidate], 12)
    assert played.patched_score == played.baseline_score
    assert result.refinement_id in run.apply.rejected_refinement_ids and not run.apply.patches


async def test_validation_and_side_effects_record_what_each_persona_was_rendered_and_how_it_scored(
        gate_learnings, finished_here, budget_bears):
    """With the told bear flawed (the most audited), its calls improve and the refinement passes; every difficulty-5
    bear it reaches is played alone from its own rendered prompt, where a trait it lacks is left as it is."""
    learnings, _ = gate_learnings
    run, result = await _bear_evolution(learnings, finished_here, TOLD_BEAR, 7)

    assert result.passed and result.p_value < 0.05, result.explanation
    candidate = f"{run.name}/refinements/{result.refinement_id}"
    (told, *others) = result.personas  # the most audited first; the untold bear too once audited
    assert told.persona == TOLD_BEAR and list(told.patched_patches) == [candidate]
    assert told.patched_score > told.baseline_score and told.calls == 12 // len(result.personas)
    assert all(other.patched_score == other.baseline_score for other in others)
    reached = {effect.persona: effect for effect in result.side_effects}
    assert all(effect.engine == pb.ENGINE_LOCAL and not effect.regressed for effect in reached.values())
    for name in ("personas/margaret-oconnell", "personas/viktor-lindqvist"):
        effect = reached[name]
        # The catalogue's bears have no such trait: the patch, published, would leave their prompts as they are.
        assert candidate not in effect.patched_patches and not effect.withheld_patches
        assert list(effect.patched_patches) == list(effect.baseline_patches)
        assert effect.patched.scores == effect.baseline.scores
