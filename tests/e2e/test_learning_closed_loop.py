"""The learning loop closed through all four services: flawed personas, real calls, audits, an evolution
run, approved patches, and better audits of the next calls."""

from __future__ import annotations

import pytest_asyncio
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.persona.v1 import persona_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2_grpc

from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from devtools.closed_loop import ClosedLoop
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


@pytest_asyncio.fixture(scope="module")
async def closed_loop(wired, learnings, finished_runs, audits_changed):
    """The loop run once for this module: its outcomes and what it printed."""
    persona_address, transcript_address = wired
    shown: list[str] = []
    async with secure_channel(persona_address) as p, secure_channel(transcript_address) as t:
        loop = ClosedLoop(persona_service_pb2_grpc.PersonaServiceStub(p),
                          transcript_service_pb2_grpc.TranscriptServiceStub(t), learnings,
                          audits_changed=audits_changed, run_finished=finished_runs, calls=3, say=shown.append,
                          actor=ADMIN_SUBJECT)
        outcomes = await loop.run()
    return outcomes, shown


async def test_flawed_personas_get_patched_and_their_next_calls_audit_better(closed_loop):
    outcomes, shown = closed_loop
    owl, lamb = outcomes
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
