"""The learning loop closed through all four services: flawed personas, real calls, audits, an evolution
run, approved patches, and better audits of the next calls. The personas are played by the local stand-in, which
obeys its prompt: these tests check the plumbing, the scoping and the side-effect check, not whether a model follows
a patch."""

from __future__ import annotations

import pytest_asyncio
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.persona.v1 import persona_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2_grpc

from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from devtools.closed_loop import ClosedLoop, PersonaOutcome
from learning_svc.domain.evolution import DIMENSIONS
from persona_svc.app import build as build_persona
from persona_svc.config import PersonaSettings
from tests.probes import free_port
from tests.security import ADMIN_SUBJECT, secure_channel
from transcript_svc.app import build as build_transcript


@pytest_asyncio.fixture(scope="module")
async def wired(database_url, engine, analysis_schema, transcript_schema, persona_server, learning_server,
                transcript_settings):
    """Persona (patched by learning), transcript -> analysis -> learning, as `make run` wires them."""
    analysis_port = free_port()  # the transcript service needs it before the analysis service starts
    persona = await build_persona(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                                  learning_address=learning_server, patches_timeout_seconds=5),
                                  engine)
    await persona.start()
    transcript = await build_transcript(transcript_settings(analysis_address=f"127.0.0.1:{analysis_port}"), engine)
    await transcript.start()
    analysis = await build_analysis(AnalysisSettings(
        database_url=database_url, grpc_port=0, metrics_port=0, transcript_address=transcript.address,
        persona_address=persona_server, learning_address=learning_server), engine)
    analysis.port = analysis_port
    await analysis.start()
    yield persona.address, transcript.address
    for app in (analysis, transcript, persona):
        await app.stop(grace=1)


CALLS = 3  # each flawed persona's calls, before its run and after it


async def run_loop(wired, learnings, finished_runs, audits_changed) -> tuple[list[PersonaOutcome], list[str]]:
    """`make loop` through the wired services: its outcomes and what it printed."""
    persona_address, transcript_address = wired
    shown: list[str] = []
    async with secure_channel(persona_address) as p, secure_channel(transcript_address) as t:
        loop = ClosedLoop(persona_service_pb2_grpc.PersonaServiceStub(p),
                          transcript_service_pb2_grpc.TranscriptServiceStub(t), learnings,
                          audits_changed=audits_changed, run_finished=finished_runs, calls=CALLS, say=shown.append,
                          actor=ADMIN_SUBJECT, neighbours=2)
        outcomes = await loop.run()
    return outcomes, shown


@pytest_asyncio.fixture(scope="module")
async def closed_loop(wired, learnings, finished_runs, audits_changed):
    """The loop run once for this module."""
    return await run_loop(wired, learnings, finished_runs, audits_changed)


async def test_flawed_personas_get_patched_and_their_next_calls_audit_better(closed_loop):
    outcomes, shown = closed_loop
    owl, lamb, _ = outcomes
    assert owl.patches and lamb.patches, "\n".join(shown)
    assert any("words/turn" in f.summary for f in owl.run.identify_patterns.findings)
    assert owl.after.brevity >= owl.before.brevity + 3 and owl.after_words < owl.before_words / 2
    assert lamb.after.enthusiasm_leak >= lamb.before.enthusiasm_leak + 3
    for outcome in outcomes:
        assert outcome.after.overall > outcome.before.overall
        passed = [r for r in outcome.run.validate.results if r.passed]
        assert passed and all(r.patched.scores.overall >= r.baseline.scores.overall for r in passed)
    report = "\n".join(shown)
    assert "audits of real calls, before" in report and "approved patches/" in report


async def test_a_hard_persona_told_to_give_its_budget_first_has_that_trait_replaced_and_no_other_gets_worse(
        closed_loop):
    outcomes, shown = closed_loop
    bear: PersonaOutcome = outcomes[2]
    report = "\n".join(shown)
    # The audits flag the budget given in the first answer, with the quote and what the candidate had asked.
    finding = next(f for f in bear.run.identify_patterns.findings if f.kind == lpb.FINDING_KIND_EARLY_DISCLOSURE)
    first_answers = {q.audit for q in finding.evidence_quotes
                     if q.persona == bear.persona and q.sequence == 2 and "$" in q.text and q.candidate_text}
    assert len(first_answers) == CALLS, report
    # The local engine edits the persona's own words, for every difficulty-5 persona of its archetype.
    refinement = next(r for r in bear.run.generate_refinements.refinements if finding.finding_id in r.finding_ids)
    assert (refinement.operation, refinement.part, refinement.edit, refinement.find_text) == (
        lpb.PATCH_OPERATION_EDIT_PART, lpb.PROMPT_PART_PERSONALITY_TRAITS, lpb.PART_EDIT_REPLACE,
        "gives its budget away in the first answer")
    assert (refinement.scope.persona, refinement.scope.min_difficulty, refinement.scope.max_difficulty) == ("", 5, 5)
    # Validated on the flawed persona, then on every persona the scope reaches: none is worse.
    result = next(r for r in bear.run.validate.results if r.refinement_id == refinement.refinement_id)
    assert result.passed and result.p_value < 0.05, result.explanation
    reached = {effect.persona: effect for effect in result.side_effects}
    assert {bear.persona, "personas/margaret-oconnell", "personas/viktor-lindqvist"} <= set(reached), report
    assert all(effect.difficulty == 5 and not effect.regressed for effect in reached.values())
    assert any(p.find_text == refinement.find_text and p.state == lpb.PATCH_STATE_ACTIVE for p in bear.patches)
    # The next calls: no budget given away, better audits; the other personas reached are no worse on the same calls.
    disclosed = "FLAG_REASON_EARLY_DISCLOSURE"
    assert bear.before_flags[disclosed] >= 3 and bear.after_flags[disclosed] == 0, report
    assert bear.after.pacing > bear.before.pacing and bear.after.overall > bear.before.overall
    assert len(bear.neighbours) == 2
    for neighbour in bear.neighbours:
        assert neighbour.after is not None
        worse = [name for name in DIMENSIONS
                 if getattr(neighbour.after.scores, name) < getattr(neighbour.before.scores, name)]
        assert not worse, report
    assert "flagged quotes, before -> after: " in report and "(difficulty 5, reached)" in report


async def test_with_auto_apply_a_patch_only_the_local_engine_validated_waits_for_approval(
        closed_loop, learnings, finished_runs):
    # The loop left flawed Owl calls in the corpus; its patches are turned off so the flaw shows again.
    active = await learnings.ListPromptPatches(lpb.ListPromptPatchesRequest(
        archetype="archetypes/owl", state=lpb.PATCH_STATE_ACTIVE))
    for patch in active.patches:
        await learnings.DeactivatePromptPatch(lpb.DeactivatePromptPatchRequest(name=patch.name))
    run = (await learnings.CreateEvolutionRun(lpb.CreateEvolutionRunRequest(run=lpb.EvolutionRun(
        archetype="archetypes/owl", options=lpb.EvolutionOptions(min_audits=3, auto_apply=True))))).run
    assert await finished_runs(run.name) == "RUN_STATE_SUCCEEDED"
    done = (await learnings.GetEvolutionRun(lpb.GetEvolutionRunRequest(name=run.name))).run
    assert done.apply.patches, done
    # The local engine is an instruction-following stand-in: what it alone validated is left for an operator.
    assert list(done.apply.awaiting_approval) == list(done.apply.patches)
    for name in done.apply.patches:
        patch = (await learnings.GetPromptPatch(lpb.GetPromptPatchRequest(name=name))).patch
        assert (patch.state, patch.origin, patch.validated) == (lpb.PATCH_STATE_PROPOSED,
                                                                lpb.PATCH_ORIGIN_EVOLUTION_RUN, True)
        assert patch.validation_score > patch.baseline_score and patch.source_audit_count > 0
        revisions = await learnings.ListPromptPatchRevisions(lpb.ListPromptPatchRevisionsRequest(parent=name))
        assert [(r.action, r.actor) for r in revisions.revisions] == [(lpb.PATCH_ACTION_CREATE, run.name)]


async def test_run_again_the_loop_reads_only_its_own_calls_and_finds_the_flaw_again(
        closed_loop, wired, learnings, finished_runs, audits_changed):
    # The first run left the Bear's calls before and after its patch in the corpus; the second reads only its own.
    outcomes, shown = await run_loop(wired, learnings, finished_runs, audits_changed)
    bear = outcomes[2]
    assert bear.run.analyze_corpus.audit_count == CALLS, "\n".join(shown)
    assert any(f.kind == lpb.FINDING_KIND_EARLY_DISCLOSURE for f in bear.run.identify_patterns.findings)
    assert bear.after_flags["FLAG_REASON_EARLY_DISCLOSURE"] == 0, "\n".join(shown)

