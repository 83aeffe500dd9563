"""Evolution runs on the openai engine against a local OpenAI-compatible fake: the model's refinements and persona
turns are validated and used (each fault of the endpoint, where the step falls back to local, counted:
tests/faults/test_model_endpoint.py).

The learning service here has a database of its own: runs are a queue any replica works, and the session's
learning server (no openai engine) must not take these runs up."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as pb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import persona_service_pb2_grpc

from calls.persona_audit import FlagReason
from devtools.scripted_model import BUDGET_FIRST, GIVEAWAY, TERSE, TERSE_ANSWERS, ScriptedFlaw, scripted_model
from learning_svc.adapters.openai_engine import OpenAILearningEngine
from learning_svc.adapters.personas import simulated
from learning_svc.app import SPEC
from learning_svc.app import build as build_learning
from learning_svc.config import LearningSettings
from learning_svc.domain.simulation import SimulatedPersona, audit_simulated
from persona_svc.config import PersonaSettings
from svckit.db import make_engine
from tests.conftest import _new_database
from tests.e2e.conftest import persona_replica
from tests.e2e.run_waiter import run_waiter
from tests.e2e.test_learning_api import CANDIDATE_LINE, _refused, audit, first_answer_flagged
from tests.e2e.test_learning_gate import _owl, learning_run
from tests.fake_openai import messages, serving
from tests.probes import metric
from tests.security import secure_channel

ARCHETYPE = "archetypes/owl"
# The owl the corpus quotes, who plays the simulated calls: this module's own (other modules change Sarah Chen).
PLAYER = "personas/openai-owl"
RULE = "Answer in one short sentence, then stop and wait."
SHORT = "Fine. Show me the numbers."
LONG = ("Well, we run our reporting on a mix of spreadsheets and an older warehouse, and every quarter the finance "
        "team spends about two weeks reconciling the numbers by hand before anyone trusts them, so that is where "
        "the time goes for us right now.")


def answer(request: dict) -> dict:
    """A model that proposes one rule for the first finding and, as a persona, keeps to it when it is in force."""
    system, user = messages(request)
    if '"refinements"' in system:
        finding = json.loads(user)["findings"][0]
        return {"refinements": [{"archetype": finding["archetype"], "target": "PATCH_TARGET_VOICE_PROMPT",
                                 "operation": "PATCH_OPERATION_ADD_RULE", "text": RULE, "phrase": "",
                                 "words_per_turn": None, "finding_ids": [finding["finding_id"]],
                                 "rationale": "One sentence per answer brings owls back to their length."}]}
    return {"reply": SHORT if RULE in system else LONG}


@pytest.fixture(scope="module")
def fake_openai():
    with serving(answer) as server:
        yield server


@pytest.fixture(scope="module")
def openai_database_url(server_url: str) -> str:
    yield from _new_database(server_url)


@pytest_asyncio.fixture(scope="module")
async def openai_database(openai_database_url):
    engine = make_engine(openai_database_url, pool_size=5)
    await SPEC.migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def model_timeout_seconds() -> float:
    """Of each model request: here the fake answers at once, and this only has to outlast the simulated calls'
    requests, all sent together; a module whose endpoint is slow on purpose overrides it."""
    return 5.0


# Of one run: the closed loop's 24 validation calls a side, 8 persona turns each, and its refinements request.
MODEL_CALLS_PER_RUN = 2 * 24 * 8 + 1


@pytest_asyncio.fixture(scope="module")
async def openai_learning_address(openai_database_url, openai_database, persona_server, catalogue, fake_openai,
                                  model_timeout_seconds):
    app = await build_learning(LearningSettings(
        database_url=openai_database_url, grpc_port=0, metrics_port=0, persona_address=persona_server, engine="openai",
        openai_base_url=fake_openai.base_url, openai_model="fake", openai_timeout_seconds=model_timeout_seconds,
        openai_max_retries=1, openai_seconds_per_run=60, openai_max_calls_per_run=MODEL_CALLS_PER_RUN),
        openai_database)
    await app.start()
    yield app.address
    await app.stop(grace=2)


@pytest_asyncio.fixture(scope="module")
async def openai_learnings(openai_learning_address, personas):
    try:
        await personas.CreatePersona(persona_pb.CreatePersonaRequest(
            persona_id="openai-owl", persona=persona_pb.Persona(
                slug="openai-owl", display_name="Orla Quist", role="Controller", blueprint=persona_pb.BLUEPRINT_SALES,
                archetype=ARCHETYPE, difficulty=4, personality_traits=["precise", "sceptical"],
                prompt_template="You are {persona.name}, {persona.role}: {persona.personality_traits}.")))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    async with secure_channel(openai_learning_address) as channel:
        stub = learning_service_pb2_grpc.LearningServiceStub(channel)
        # Four owl calls far over their 8-16 words per turn: a verbosity finding.
        for _ in range(4):
            await stub.RecordCorpusAudit(pb.RecordCorpusAuditRequest(
                audit=audit(persona=PLAYER, archetype=ARCHETYPE, words=30.0)))
        yield stub


@pytest_asyncio.fixture(scope="module")
async def finished_here(openai_database_url):
    """``finished_runs`` for this module's database."""
    async with run_waiter(openai_database_url) as wait:
        yield wait


# The fewest calls whose sign test can pass: five rises out of five.
SIMULATED_CALLS = 5


async def evolve(learnings, finished, engine: int = pb.ENGINE_UNSPECIFIED,
                 archetype: str = ARCHETYPE) -> pb.EvolutionRun:
    run = (await learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(
        run=pb.EvolutionRun(archetype=archetype,
                            options=pb.EvolutionOptions(simulated_calls=SIMULATED_CALLS, engine=engine)),
        request_id=str(uuid.uuid4())))).run
    assert await finished(run.name) == "RUN_STATE_SUCCEEDED"
    return (await learnings.GetEvolutionRun(pb.GetEvolutionRunRequest(name=run.name))).run


async def test_the_models_refinements_and_persona_turns_are_used(openai_learnings, finished_here, fake_openai,
                                                                 personas):
    fake_openai.reset("good")
    before = fake_openai.requests
    run = await evolve(openai_learnings, finished_here)  # no engine named: the configured default, openai
    assert run.options.engine == pb.ENGINE_OPENAI
    (finding,) = run.identify_patterns.findings
    assert finding.kind == pb.FINDING_KIND_VERBOSITY
    (refinement,) = run.generate_refinements.refinements
    assert (refinement.refinement_id, refinement.text, refinement.operation) == ("r1", RULE,
                                                                                 pb.PATCH_OPERATION_ADD_RULE)
    assert list(refinement.finding_ids) == [finding.finding_id] and refinement.archetype == ARCHETYPE
    (result,) = run.validate.results
    assert result.engine == pb.ENGINE_OPENAI and result.passed, result.explanation
    assert [run.analyze_corpus.engine, run.identify_patterns.engine, run.generate_refinements.engine,
            run.validate.engine, run.apply.engine] == [pb.ENGINE_LOCAL, pb.ENGINE_LOCAL, pb.ENGINE_OPENAI,
                                                       pb.ENGINE_OPENAI, pb.ENGINE_LOCAL]
    assert not run.generate_refinements.fallback_reason and not result.fallback_reason
    assert result.patched.avg_words_per_turn < result.baseline.avg_words_per_turn
    # One refinements request, then 2 x 5 simulated calls of 8 persona turns: the persona's system prompt is what
    # RenderPrompt renders, as published in half of them and with the refinement as a candidate patch in the other.
    bodies = fake_openai.bodies[before:]
    assert len(bodies) == 1 + 2 * SIMULATED_CALLS * 8
    published = (await personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=PLAYER))).system_prompt
    with_rule = (await personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=PLAYER, candidate_patches=[
        persona_pb.CandidatePatch(name=f"{run.name}/refinements/r1", archetype=ARCHETYPE,
                                  target=persona_pb.PATCH_TARGET_VOICE_PROMPT,
                                  operation=persona_pb.PATCH_OPERATION_ADD_RULE, text=RULE)]))).system_prompt
    assert f"- {RULE}" in with_rule and RULE not in published
    turns = [(messages(body)[0], json.loads(messages(body)[1])["call_seed"]) for body in bodies[1:]]
    seeds = Counter(seed for _, seed in turns)
    assert seeds == {seed: 2 * 8 for seed in range(1, SIMULATED_CALLS + 1)}  # each call's seed, on both sides
    assert Counter(prompt for prompt, _ in turns) == {published: SIMULATED_CALLS * 8, with_rule: SIMULATED_CALLS * 8}
    (written,) = run.apply.patches
    patch = (await openai_learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=written))).patch
    assert patch.text == RULE and patch.state == pb.PATCH_STATE_PROPOSED and patch.evolution_run == run.name


async def test_local_can_still_be_asked_for(openai_learnings, finished_here, fake_openai):
    fake_openai.reset("good")
    before = fake_openai.requests
    run = await evolve(openai_learnings, finished_here, pb.ENGINE_LOCAL)
    assert run.options.engine == pb.ENGINE_LOCAL and fake_openai.requests == before
    (result,) = run.validate.results
    assert result.engine == pb.ENGINE_LOCAL


async def test_openai_is_refused_where_it_is_not_configured(learnings):
    reason, fields = await _refused(learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(
        run=pb.EvolutionRun(archetype=ARCHETYPE, options=pb.EvolutionOptions(engine=pb.ENGINE_OPENAI)))),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert (reason, fields) == ("ENGINE_NOT_CONFIGURED", ["run.options.engine"])
    reason, fields = await _refused(learnings.CreateLearningRun(pb.CreateLearningRunRequest(
        learning_run=pb.LearningRun(persona=PLAYER, engine=pb.ENGINE_OPENAI))), grpc.StatusCode.INVALID_ARGUMENT)
    assert (reason, fields) == ("ENGINE_NOT_CONFIGURED", ["learning_run.engine"])


# The model replaces the flagged persona's first personality trait, as its brief shows it, with this one.
SHARPER = "answers in one sentence, then waits"
DROPPED = "sparring_learning_dropped_refinements_total"
FOX = "personas/brief-fox"


@pytest_asyncio.fixture(scope="module")
async def rambling_fox(openai_learnings, personas) -> str:
    """A fox of this module's own (every other persona here may be shared with, or changed by, other modules), four
    calls far over its words per turn in the corpus."""
    try:
        await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona_id="brief-fox", persona=persona_pb.Persona(
            slug="brief-fox", display_name="Felix Grant", role="Head of IT", blueprint=persona_pb.BLUEPRINT_SALES,
            archetype="archetypes/fox", difficulty=4, personality_traits=["long-winded", "guarded"],
            communication_style="Explains every answer at length.",
            prompt_template="You are {persona.name}, {persona.role}: {persona.personality_traits}. "
                            "{persona.communication_style}")))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    for _ in range(4):
        await openai_learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(
            audit=audit(persona=FOX, archetype="archetypes/fox", words=30.0)))
    return FOX


def structured_answer(request: dict) -> dict:
    """A model that answers structured patches: one edit of the flagged persona's traits, one of a part that does not
    exist and one removing a passage no persona it reaches has; as a persona, short once the edit is in force."""
    system, user = messages(request)
    if '"refinements"' in system:
        sent = json.loads(user)
        finding, trait = sent["findings"][0], sent["personas"][0]["personality_traits"][0]
        common = {"archetype": finding["archetype"], "target": "PATCH_TARGET_VOICE_PROMPT",
                  "operation": "PATCH_OPERATION_EDIT_PART", "finding_ids": [finding["finding_id"]],
                  "rationale": "Her traits let her ramble; make her answer in one sentence."}
        return {"refinements": [
            {**common, "part": "PROMPT_PART_PERSONALITY_TRAITS", "edit": "PART_EDIT_REPLACE", "find_text": trait,
             "text": SHARPER, "scope": {"persona": FOX}},
            {**common, "part": "PROMPT_PART_MOOD", "edit": "PART_EDIT_ADD", "text": "Be curt."},
            {**common, "part": "PROMPT_PART_COMMUNICATION_STYLE", "edit": "PART_EDIT_REMOVE",
             "find_text": "sings sea shanties", "scope": {"min_difficulty": 3, "max_difficulty": 3}},
        ]}
    return {"reply": SHORT if SHARPER in system else LONG}


async def test_the_model_sees_the_rendered_prompt_and_the_exchanges_and_its_bad_patches_are_dropped(
        openai_learnings, finished_here, fake_openai, personas, rambling_fox):
    fake_openai.reset("good", structured_answer)
    before = fake_openai.requests
    dropped_before = {reason: metric(DROPPED, engine="openai", reason=reason)
                      for reason in ("INVALID_PATCH", "TARGET_TEXT_ABSENT")}
    try:
        run = await evolve(openai_learnings, finished_here, archetype="archetypes/fox")
    finally:
        fake_openai.reset("good", answer)
    system, user = messages(fake_openai.bodies[before])
    sent = json.loads(user)
    rendered = await personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=FOX))
    (brief,) = sent["personas"]
    assert brief["rendered_prompt"] == rendered.system_prompt and brief["personality_traits"]
    quote = sent["findings"][0]["evidence_quotes"][0]
    assert (quote["candidate_text"], quote["persona"]) == (CANDIDATE_LINE, FOX)
    assert "PROMPT_PART_PERSONALITY_TRAITS" in system and "PART_EDIT_REPLACE" in system
    # The edit of her traits is kept, scoped to her; the unknown part and the absent passage are dropped, with why.
    (refinement,) = run.generate_refinements.refinements
    assert (refinement.refinement_id, refinement.part, refinement.edit, refinement.find_text, refinement.text,
            refinement.scope.persona) == ("r1", pb.PROMPT_PART_PERSONALITY_TRAITS, pb.PART_EDIT_REPLACE,
                                          "long-winded", SHARPER, FOX)
    assert [(d.reason, d.field) for d in run.generate_refinements.dropped_refinements] == [
        ("INVALID_PATCH", "refinements[1].part"), ("TARGET_TEXT_ABSENT", "patch.find_text")]
    assert "sea shanties" in run.generate_refinements.dropped_refinements[1].proposed
    assert {reason: metric(DROPPED, engine="openai", reason=reason) - count
            for reason, count in dropped_before.items()} == {"INVALID_PATCH": 1, "TARGET_TEXT_ABSENT": 1}
    (result,) = run.validate.results
    assert result.passed, result.explanation
    (written,) = run.apply.patches
    patch = (await openai_learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=written))).patch
    assert (patch.part, patch.find_text, patch.text, patch.scope.persona) == (
        pb.PROMPT_PART_PERSONALITY_TRAITS, "long-winded", SHARPER, FOX)
    # Only what passed its checks was ever stored.
    stored = await openai_learnings.ListPromptPatches(pb.ListPromptPatchesRequest(page_size=100))
    assert not [p for p in stored.patches if "sea shanties" in p.find_text or p.text == "Be curt."]


# What the persona service tells a persona of a learned brevity module.
BREVITY_TOLD = "Keep every answer short"
# An owl of this module's own, with no audits (whose events would fold into its modules too).
GATED_OWL = "personas/model-gated-owl"


@pytest_asyncio.fixture(scope="module")
async def gated_owl(personas) -> str:
    try:
        await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona_id="model-gated-owl", persona=_owl(
            "model-gated-owl", "Mona Gale", "Explains every answer at length.")))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    yield GATED_OWL
    await personas.DeletePersona(persona_pb.DeletePersonaRequest(name=GATED_OWL))


def brief_when_told(request: dict) -> dict:
    """A persona that keeps short when its prompt tells it the brevity module, and rambles otherwise."""
    system, _ = messages(request)
    return {"reply": SHORT if BREVITY_TOLD in system else LONG}


async def test_a_learning_runs_gate_is_played_by_the_model_from_each_sides_rendered_prompt(
        openai_learnings, finished_here, fake_openai, personas, gated_owl):
    """Feedback that the owl talks too long makes a brevity module; its gate, on the configured model, plays the owl
    from the prompt RenderPrompt gives as published and with the module as a candidate patch. Named local, the same
    gate asks nothing of the model."""
    fake_openai.reset("good", brief_when_told)
    before = fake_openai.requests
    try:
        run = await learning_run(openai_learnings, finished_here, gated_owl, [(-1.0, "too_long")] * 2)
        played = fake_openai.bodies[before:]
        local = await learning_run(openai_learnings, finished_here, gated_owl, [(-1.0, "too_long")], pb.ENGINE_LOCAL)
    finally:
        fake_openai.reset("good", answer)
    assert run.engine == pb.ENGINE_OPENAI  # none named: the configured default
    (gated,) = run.gate.personas
    assert (run.gate.engine, gated.engine, run.gate.fallback_reason) == (pb.ENGINE_OPENAI, pb.ENGINE_OPENAI, "")
    assert gated.candidate_score > gated.current_score and run.gate_passed, run.gate.explanation
    assert "patches/module-model-gated-owl-brevity" in gated.candidate_patches
    # Twelve calls (the default) of eight persona turns a side, each side's system prompt what RenderPrompt renders.
    calls = run.gate.calls_per_persona
    published = (await personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=gated_owl))).system_prompt
    prompts = Counter(messages(body)[0] for body in played)
    assert calls == 12 and len(played) == 2 * calls * 8 and prompts[published] == calls * 8
    (brevity,) = [d for d in gated.dimensions if d.dimension == "brevity"]
    assert (brevity.better_calls, brevity.worse_calls) == (calls, 0) and not any(d.worse for d in gated.dimensions)
    assert [BREVITY_TOLD in prompt for prompt in prompts if prompt != published] == [True]
    assert local.engine == pb.ENGINE_LOCAL and fake_openai.requests == before + len(played)
    assert local.gate.engine == local.gate.personas[0].engine == pb.ENGINE_LOCAL


def rambles_when_told(request: dict) -> dict:
    """A persona the brevity module makes worse: told to keep short it rambles, and keeps short otherwise."""
    system, _ = messages(request)
    return {"reply": LONG if BREVITY_TOLD in system else SHORT}


async def test_a_module_that_makes_the_model_worse_on_a_dimension_fails_the_gate_naming_it(
        openai_learnings, finished_here, fake_openai, gated_owl):
    """The model plays the owl worse with the module than without it, on every seed: brevity is significantly worse,
    the gate fails and the module is held. The fake obeys by construction; this checks the gate's decision on what a
    model plays, not a model."""
    fake_openai.reset("good", rambles_when_told)
    try:
        run = await learning_run(openai_learnings, finished_here, gated_owl, [(-1.0, "too_long")])
    finally:
        fake_openai.reset("good", answer)

    (gated,) = run.gate.personas
    assert gated.engine == pb.ENGINE_OPENAI and "patches/module-model-gated-owl-brevity" in gated.candidate_patches
    (worse,) = [d for d in gated.dimensions if d.worse]
    assert worse.dimension == "brevity" and worse.worse_calls == run.gate.calls_per_persona and worse.p_value < 0.05
    assert not run.gate_passed and run.decision == pb.PUBLISH_DECISION_HELD
    assert f"{gated_owl} brevity" in run.gate.explanation


# --- the closed loop on a model that follows its prompt most of the time -------------------------------------------

# Validation calls a side, and the calls played before and after the approval (seeds of their own).
LOOP_CALLS = 24
NEXT_SEEDS = range(101, 101 + LOOP_CALLS)


@dataclass(frozen=True)
class ScriptedCase:
    """A persona of this module's own given a flaw the scripted model plays, and how the auditor flags it."""

    flaw: ScriptedFlaw
    slug: str
    archetype: str
    reason: FlagReason
    flagged_text: str  # its first answer, as three audits of the corpus quote it
    explanation: str
    score: str  # the audit score the flaw costs


CASES = {
    "budget-first bear": ScriptedCase(BUDGET_FIRST, "scripted-bear", "archetypes/bear", FlagReason.EARLY_DISCLOSURE,
                                      GIVEAWAY, "Gives its budget before the candidate earned it (difficulty 5)",
                                      "pacing"),
    "terse fox": ScriptedCase(TERSE_ANSWERS, "scripted-fox", "archetypes/fox", FlagReason.MINIMAL_ANSWER,
                              TERSE[0], "1 word(s) to an open question", "brevity"),
}


@pytest_asyncio.fixture(params=list(CASES))
async def scripted_flawed(request, openai_learnings, personas) -> ScriptedCase:
    """The case's persona, active (the patch must find its trait in a persona it reaches), and three of its calls in
    the corpus, each flagged. Deleted at the end: a flawed persona left in the shared catalogue would be reached by
    other modules' patches."""
    case = CASES[request.param]
    persona = persona_pb.Persona(
        slug=case.slug, display_name=case.slug.replace("-", " ").title(), role="COO",
        blueprint=persona_pb.BLUEPRINT_SALES, archetype=case.archetype, difficulty=case.flaw.difficulty,
        personality_traits=["blunt", case.flaw.trait], communication_style="Curt; demands the bottom line.",
        active=True, prompt_template="You are {persona.name}, {persona.role}: {persona.personality_traits}. "
                                     "{persona.communication_style}")
    try:
        await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona_id=case.slug, persona=persona))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    name = f"personas/{case.slug}"
    for _ in range(3):
        await openai_learnings.RecordCorpusAudit(pb.RecordCorpusAuditRequest(audit=first_answer_flagged(
            name, case.archetype, case.flaw.difficulty, audit_pb2.FlagReason.Value(f"FLAG_REASON_{case.reason.name}"),
            case.flagged_text, case.explanation)))
    yield case
    await personas.DeletePersona(persona_pb.DeletePersonaRequest(name=name))


@pytest_asyncio.fixture(scope="module")
async def wired_personas(database_url, engine, openai_learning_address):
    """A persona replica that takes its active patches from this module's learning service, as a voice agent's
    prompt would be rendered in production."""
    settings = PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                               learning_address=openai_learning_address, patches_timeout_seconds=5)
    async with persona_replica(settings, engine) as address, secure_channel(address) as channel:
        yield persona_service_pb2_grpc.PersonaServiceStub(channel)


async def flawed_calls(model: OpenAILearningEngine, persona: SimulatedPersona, system_prompt: str,
                       reason: FlagReason) -> int:
    """Of the next calls, played by the model from ``system_prompt``: how many the auditor flags for ``reason``."""
    flagged = 0
    for seed in NEXT_SEEDS:
        played = audit_simulated(persona, await model.simulate_call(persona, system_prompt, seed))
        flagged += any(quote.reason is reason for quote in played.flagged_quotes)
    return flagged


async def rendered(personas, names) -> dict[str, str]:
    return {name: (await personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=name))).system_prompt
            for name in names}


async def test_the_loop_closes_on_a_model_that_follows_its_prompt_four_times_in_five(
        openai_learnings, finished_here, fake_openai, scripted_flawed, wired_personas):
    """The closed loop on a scripted OpenAI-compatible fake that follows the flawed trait, and the patch replacing it,
    each with probability 0.8, drawn per simulated call from the seed each persona request carries: for a hard bear
    that gives its budget away first, and for a fox that answers in a word or two. The fake obeys what it is checked
    on with a known probability: what this measures is the loop's plumbing (the model's structured patch, validation
    on the rendered prompts, approval, the next calls' prompt) and its statistics (the sign test over 24 paired calls)
    under a model that disobeys one instruction in five; not whether a real model follows the patch."""
    case, name = scripted_flawed, f"personas/{scripted_flawed.slug}"
    model = OpenAILearningEngine(fake_openai.base_url, "", "fake", 5.0, 0)
    flawed = simulated((await wired_personas.GetPersona(persona_pb.GetPersonaRequest(name=name))).persona)
    before = (await wired_personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=name))).system_prompt
    fake_openai.reset("good", scripted_model)
    try:
        flawed_before = await flawed_calls(model, flawed, before, case.reason)
        run = (await openai_learnings.CreateEvolutionRun(pb.CreateEvolutionRunRequest(run=pb.EvolutionRun(
            archetype=case.archetype, options=pb.EvolutionOptions(simulated_calls=LOOP_CALLS, auto_apply=True))))).run
        assert await finished_here(run.name) == "RUN_STATE_SUCCEEDED"
        run = (await openai_learnings.GetEvolutionRun(pb.GetEvolutionRunRequest(name=run.name))).run
        (refinement,) = run.generate_refinements.refinements
        assert (refinement.part, refinement.edit, refinement.find_text, refinement.scope.min_difficulty) == (
            pb.PROMPT_PART_PERSONALITY_TRAITS, pb.PART_EDIT_REPLACE, case.flaw.trait, case.flaw.difficulty)
        (result,) = run.validate.results
        assert result.engine == pb.ENGINE_OPENAI and result.passed and result.p_value < 0.05, result.explanation
        assert getattr(result.patched.scores, case.score) > getattr(result.baseline.scores, case.score)
        assert name in [p.persona for p in result.personas]
        # Every persona of its archetype and difficulty the patch reaches was played with and without it, and none got
        # worse; the others are told the same once it is approved, so they play the same calls as before.
        reached = {effect.persona: effect for effect in result.side_effects}
        assert name in reached and all(e.difficulty == case.flaw.difficulty and not e.regressed
                                       for e in reached.values())
        others = await rendered(wired_personas, [p for p in reached if p != name])
        (written,) = run.apply.patches
        patch = (await openai_learnings.GetPromptPatch(pb.GetPromptPatchRequest(name=written))).patch
        assert patch.state == pb.PATCH_STATE_ACTIVE  # validated on the model path: auto_apply approved it

        after = (await wired_personas.RenderPrompt(persona_pb.RenderPromptRequest(persona=name))).system_prompt
        assert after == before.replace(case.flaw.trait, case.flaw.fix)
        assert await rendered(wired_personas, others) == others
        flawed_after = await flawed_calls(model, flawed, after, case.reason)
    finally:
        fake_openai.reset("good", answer)
        await model.close()
    # About four calls in five played the flaw before, about one in five after: fewer, not none.
    assert flawed_before >= 16 and 0 < flawed_after <= 8 and flawed_after < flawed_before, (flawed_before,
                                                                                            flawed_after)
