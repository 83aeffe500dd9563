"""A session of a persona under a running experiment gets its variant when it is created: the one the learning
service assigns the session's id, stored on the session; a learning service that does not answer in time leaves
the session on the control, counted; a variant stopped as worse gets no new session. RenderPrompt for the session
applies the variant's modifications, and a variant gets its own voice agent."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from sparring.analysis.v1 import analysis_service_pb2, analysis_service_pb2_grpc
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.persona.v1 import persona_service_pb2 as ppb
from sparring.persona.v1 import persona_service_pb2_grpc, voice_agent_service_pb2, voice_agent_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from access.permissions import PERMISSIONS
from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from persona_svc.app import build as build_persona
from persona_svc.config import PersonaSettings
from svckit.notify import PgListener
from svckit.server import GrpcApp
from tests.e2e.status_details import reason_and_fields
from tests.e2e.transcript_fixtures import new_session, start_round, stream_turns, streamed_call
from tests.probes import free_port, metric
from tests.security import secure_channel, security
from transcript_svc.app import build as build_transcript

ASSIGNMENTS = "sparring_transcript_experiment_assignments_total"
_EDIT = dict(target=lpb.PATCH_TARGET_VOICE_PROMPT, operation=lpb.PATCH_OPERATION_EDIT_PART)
SHORTER = [  # what the "shorter" arm changes in what its persona is told
    lpb.PromptPatch(part=lpb.PROMPT_PART_LENGTH_RANGE, edit=lpb.PART_EDIT_REPLACE,
                    words_per_turn=audit_pb2.WordRange(min_words=8, max_words=16), **_EDIT),
    lpb.PromptPatch(part=lpb.PROMPT_PART_BANNED_PHRASES, edit=lpb.PART_EDIT_ADD, text="no worries", **_EDIT),
]


async def _transcript_app(engine, transcript_settings, learning_address: str, **settings):
    app = await build_transcript(transcript_settings(learning_address=learning_address, **settings), engine)
    await app.start()
    return app


@dataclass
class Wired:
    transcripts: transcript_service_pb2_grpc.TranscriptServiceStub
    personas: persona_service_pb2_grpc.PersonaServiceStub
    voice_agents: voice_agent_service_pb2_grpc.VoiceAgentServiceStub
    analyses: analysis_service_pb2_grpc.AnalysisServiceStub


@pytest_asyncio.fixture(scope="module")
async def experimented(database_url, engine, transcript_schema, analysis_schema, transcript_settings,
                       learning_server, catalogue):
    """The four services as `make run` wires them: a transcript service that asks the learning service for its
    sessions' variants, a persona service that renders them, an analysis service that hands its audits (and the
    final readings) to the learning service."""
    analysis_port = free_port()  # the transcript service needs it before the analysis service starts
    persona_app = await build_persona(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                                      learning_address=learning_server, patches_timeout_seconds=5),
                                      engine)
    await persona_app.start()
    transcript_app = await _transcript_app(engine, transcript_settings, learning_server,
                                           persona_address=persona_app.address,
                                           analysis_address=f"127.0.0.1:{analysis_port}")
    analysis_app = await build_analysis(AnalysisSettings(
        database_url=database_url, grpc_port=0, metrics_port=0, transcript_address=transcript_app.address,
        persona_address=persona_app.address, learning_address=learning_server), engine)
    analysis_app.port = analysis_port
    await analysis_app.start()
    async with (secure_channel(transcript_app.address) as transcripts, secure_channel(persona_app.address) as personas,
                secure_channel(analysis_app.address) as analyses):
        yield Wired(transcript_service_pb2_grpc.TranscriptServiceStub(transcripts),
                    persona_service_pb2_grpc.PersonaServiceStub(personas),
                    voice_agent_service_pb2_grpc.VoiceAgentServiceStub(personas),
                    analysis_service_pb2_grpc.AnalysisServiceStub(analyses))
    for app in (analysis_app, transcript_app, persona_app):
        await app.stop(grace=1)


async def _experiment(learnings, persona: str, modifications=(), **fields) -> lpb.Experiment:
    return (await learnings.CreateExperiment(lpb.CreateExperimentRequest(experiment=lpb.Experiment(
        display_name="Shorter answers", metric=lpb.EXPERIMENT_METRIC_SAY_METER_SCORE, variants=[
            lpb.Variant(variant_id="control", persona=persona, traffic_bps=5000, control=True),
            lpb.Variant(variant_id="shorter", persona=persona, traffic_bps=5000, modifications=modifications)],
        **fields)))).experiment


async def _sessions_of_each_variant(transcripts, persona: str) -> dict[str, list[pb.Session]]:
    """Sessions of the persona until each variant has two (the assignment is a hash of the session id)."""
    by_variant: dict[str, list[pb.Session]] = {"control": [], "shorter": []}
    while min(len(sessions) for sessions in by_variant.values()) < 2:
        session = await new_session(transcripts, persona=persona)
        by_variant[session.experiment_variant].append(session)
    return by_variant


async def test_a_session_of_a_persona_under_experiment_gets_and_keeps_its_variant(experimented, learnings, voiced):
    transcripts = experimented.transcripts
    persona, bystander = await voiced(), await voiced()
    experiment = await _experiment(learnings, persona)
    assigned_before, none_before = metric(ASSIGNMENTS, outcome="assigned"), metric(ASSIGNMENTS, outcome="none")

    sessions = [s for both in (await _sessions_of_each_variant(transcripts, persona)).values() for s in both]
    for session in sessions:
        assert session.experiment == experiment.name
        assigned = await learnings.AssignVariant(lpb.AssignVariantRequest(experiment=experiment.name,
                                                                          session=session.name))
        assert session.experiment_variant == assigned.assignment.variant_id  # the learning service's, by id
        stored = (await transcripts.GetSession(pb.GetSessionRequest(name=session.name))).session
        assert (stored.experiment, stored.experiment_variant) == (experiment.name, session.experiment_variant)

    outside = await new_session(transcripts, persona=bystander)
    assert (outside.experiment, outside.experiment_variant) == ("", "")
    assert metric(ASSIGNMENTS, outcome="assigned") == assigned_before + len(sessions)
    assert metric(ASSIGNMENTS, outcome="none") == none_before + 1


async def test_a_variant_stopped_as_worse_gets_no_new_session(experimented, learnings, voiced):
    transcripts = experimented.transcripts
    persona = await voiced()
    experiment = await _experiment(learnings, persona, min_samples=10)
    state, n = experiment, 0
    while state.state == lpb.EXPERIMENT_STATE_RUNNING and n < 400:
        session = f"sessions/{uuid.uuid4()}"
        n += 1
        variant = (await learnings.AssignVariant(lpb.AssignVariantRequest(experiment=experiment.name,
                                                                          session=session))).assignment.variant_id
        score = 40 + (n % 7) if variant == "shorter" else 70 + (n % 7)  # the variant is 30 points worse
        state = (await learnings.RecordExperimentOutcome(lpb.RecordExperimentOutcomeRequest(
            experiment=experiment.name, session=session, say_meter_score=score))).experiment
    assert next(r for r in state.results if r.variant_id == "shorter").status == lpb.VARIANT_STATUS_STOPPED_WORSE

    later = [await new_session(transcripts, persona=persona) for _ in range(12)]
    assert "shorter" not in {s.experiment_variant for s in later}


def _silent_learning_service(answered: asyncio.Event) -> grpc.GenericRpcHandler:
    """A learning service that takes calls and answers none until ``answered`` is set."""
    async def hold(request: bytes, context) -> bytes:
        await answered.wait()
        return b""

    return grpc.method_handlers_generic_handler("sparring.learning.v1.LearningService", {
        "ListExperiments": grpc.unary_unary_rpc_method_handler(hold)})


async def test_a_learning_service_that_does_not_answer_leaves_the_session_on_the_control(
        engine, transcript_schema, transcript_settings, sarah):
    answered = asyncio.Event()
    silent = GrpcApp(service_names=["sparring.learning.v1.LearningService"], error_domain="test.sparring.dev",
                     add_servicers=lambda server: server.add_generic_rpc_handlers([_silent_learning_service(answered)]),
                     security=security(PERMISSIONS))
    await silent.start()
    app = await _transcript_app(engine, transcript_settings, silent.address, experiment_timeout_seconds=0.2)
    unavailable_before = metric(ASSIGNMENTS, outcome="unavailable")
    try:
        async with secure_channel(app.address) as channel:
            session = await new_session(transcript_service_pb2_grpc.TranscriptServiceStub(channel))
    finally:
        answered.set()
        await app.stop(grace=1)
        await silent.stop(grace=1)
    assert session.state == pb.SESSION_STATE_ACTIVE
    assert (session.experiment, session.experiment_variant) == ("", "")
    assert metric(ASSIGNMENTS, outcome="unavailable") == unavailable_before + 1


async def test_a_session_renders_the_modifications_of_its_variant_which_gets_its_own_voice_agent(
        experimented, learnings, voiced):
    transcripts, personas, voice_agents = experimented.transcripts, experimented.personas, experimented.voice_agents
    persona = await voiced()
    experiment = await _experiment(learnings, persona, SHORTER)
    sessions = await _sessions_of_each_variant(transcripts, persona)

    plain = await personas.RenderPrompt(ppb.RenderPromptRequest(persona=persona))
    control, shorter = [await personas.RenderPrompt(ppb.RenderPromptRequest(persona=persona,
                                                                            session=sessions[variant][0].name))
                        for variant in ("control", "shorter")]
    assert control.system_prompt == plain.system_prompt
    assert (control.experiment, control.experiment_variant) == (experiment.name, "control")
    assert (shorter.experiment, shorter.experiment_variant) == (experiment.name, "shorter")
    assert "Keep every answer to 8-16 words." in shorter.system_prompt
    assert "Never say 'no worries'." in shorter.system_prompt
    experiment_id = experiment.name.removeprefix("experiments/")
    assert [p.patch for p in shorter.applied_patches if p.patch.startswith("patches/experiment-")] == [
        f"patches/experiment-{experiment_id}-shorter-0", f"patches/experiment-{experiment_id}-shorter-1"]

    rounds = {variant: [await start_round(transcripts, session) for session in both]
              for variant, both in sessions.items()}
    assert rounds["control"][0].voice_agent != rounds["shorter"][0].voice_agent
    assert rounds["shorter"][1].voice_agent == rounds["shorter"][0].voice_agent  # one agent per variant
    assert rounds["shorter"][1].agent_reused
    agent = (await voice_agents.GetVoiceAgent(voice_agent_service_pb2.GetVoiceAgentRequest(
        name=rounds["shorter"][0].voice_agent))).voice_agent
    assert "Keep every answer to 8-16 words." in agent.system_prompt


REFUSED_MODIFICATIONS = {  # a modification of the second variant -> (reason, field named)
    "unknown part": (lpb.PromptPatch(part=77, edit=lpb.PART_EDIT_ADD, text="Be brief.", **_EDIT),
                     ("INVALID_ARGUMENT", "experiment.variants[1].modifications[1].part")),
    "edit that does not fit its part": (
        lpb.PromptPatch(part=lpb.PROMPT_PART_LENGTH_RANGE, edit=lpb.PART_EDIT_ADD,
                        words_per_turn=audit_pb2.WordRange(min_words=8, max_words=16), **_EDIT),
        ("INVALID_ARGUMENT", "experiment.variants[1].modifications[1].edit")),
    "absent target text": (
        lpb.PromptPatch(part=lpb.PROMPT_PART_OBJECTION_PATTERNS, edit=lpb.PART_EDIT_REMOVE,
                        find_text="we already have a vendor", **_EDIT),
        ("TARGET_TEXT_ABSENT", "experiment.variants[1].modifications[1].find_text")),
    "not a structured edit": (
        lpb.PromptPatch(target=lpb.PATCH_TARGET_VOICE_PROMPT, operation=lpb.PATCH_OPERATION_ADD_RULE,
                        text="Be brief."),
        ("INVALID_ARGUMENT", "experiment.variants[1].modifications[1].operation")),
}


@pytest.mark.parametrize("case", REFUSED_MODIFICATIONS)
async def test_a_variant_whose_modifications_do_not_fit_is_refused_naming_the_field(case, learnings, voiced):
    persona = await voiced()
    modification, expected = REFUSED_MODIFICATIONS[case]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _experiment(learnings, persona, [SHORTER[0], modification])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, fields = reason_and_fields(refused.value)
    assert (reason, fields) == (expected[0], [expected[1]])
    assert not (await learnings.ListExperiments(lpb.ListExperimentsRequest(persona=persona))).experiments


CALL = [
    (pb.ROLE_ASSISTANT, "Hi, thanks for making time. What did you want to cover today?"),
    (pb.ROLE_USER, "What is the biggest cost problem your finance team has this quarter?"),
    (pb.ROLE_ASSISTANT, "Vendor sprawl. We pay for three tools that do the same job."),
    (pb.ROLE_USER, "How much is that costing you, and who decides on consolidating them?"),
    (pb.ROLE_ASSISTANT, "Around two hundred thousand a year. I decide, with the CFO signing."),
    (pb.ROLE_USER, "Could we book thirty minutes next Tuesday to walk through a consolidation plan?"),
    (pb.ROLE_ASSISTANT, "Tuesday works. Send me the invite."),
]


async def test_final_readings_of_ended_sessions_are_their_experiments_outcomes_without_a_client(
        experimented, learnings, voiced, audits_changed):
    persona = await voiced()
    experiment = await _experiment(learnings, persona, SHORTER)
    ended = []
    for _ in range(4):
        name = await streamed_call(experimented.transcripts, CALL, persona=persona)
        ended.append((await experimented.transcripts.EndSession(pb.EndSessionRequest(name=name))).session)
    while len((await learnings.ListCorpusAudits(lpb.ListCorpusAuditsRequest(persona=persona))).audits) < len(ended):
        await audits_changed()  # each audit is announced once its outcomes are in

    finals: dict[str, list[int]] = {}
    for session in ended:
        snapshot = (await experimented.analyses.GetSessionSnapshot(analysis_service_pb2.GetSessionSnapshotRequest(
            session=session.name))).snapshot
        finals.setdefault(session.experiment_variant, []).append(snapshot.latest_analysis.say_meter.score)
    results = (await learnings.GetExperiment(lpb.GetExperimentRequest(name=experiment.name))).experiment.results
    recorded = {r.variant_id: (r.samples, r.mean) for r in results if r.samples}
    assert recorded == {variant: (len(scores), pytest.approx(statistics.mean(scores)))
                        for variant, scores in finals.items()}


@pytest_asyncio.fixture
async def persona_changed(database_url):
    """``await persona_changed(name)``: waits for the persona service to announce a change of that persona."""
    heard: dict[str, asyncio.Event] = {}

    def announced(payload: str) -> None:  # "{table}:{id}:{organization}"
        heard.setdefault("personas/" + payload.split(":")[1], asyncio.Event()).set()

    listener = PgListener("persona-changes-test", database_url, {"persona_changes": announced})
    await listener.start()

    async def changed(name: str) -> None:
        event = heard.setdefault(name, asyncio.Event())
        async with asyncio.timeout(60):
            await event.wait()
        event.clear()

    yield changed
    await listener.stop()


WEAK_CALL = [(pb.ROLE_ASSISTANT, "Hello."), (pb.ROLE_USER, "So, our product is great."),
             (pb.ROLE_ASSISTANT, "Okay."), (pb.ROLE_USER, "It has many features you will like."),
             (pb.ROLE_ASSISTANT, "Fine."), (pb.ROLE_USER, "Buy it.")]


async def test_an_experiment_in_the_call_path_promotes_its_better_variant_into_a_new_persona_version(
        experimented, learnings, voiced, audits_changed, persona_changed):
    transcripts, personas = experimented.transcripts, experimented.personas
    persona = await voiced()
    experiment = await _experiment(learnings, persona, SHORTER, min_samples=10)

    # Calls played through the gateway protocol: each session rendered with its variant, ended, and its final
    # Say Meter reading recorded as its outcome by the analysis service.
    by_variant = await _sessions_of_each_variant(transcripts, persona)
    for variant, sessions in by_variant.items():
        for session in sessions:
            rendered = await personas.RenderPrompt(ppb.RenderPromptRequest(persona=persona, session=session.name))
            assert rendered.experiment_variant == variant
            await stream_turns(transcripts, session.name, CALL if variant == "shorter" else WEAK_CALL)
            await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    played = {variant: len(sessions) for variant, sessions in by_variant.items()}
    while len((await learnings.ListCorpusAudits(lpb.ListCorpusAuditsRequest(persona=persona))).audits) < sum(
            played.values()):
        await audits_changed()
    results = (await learnings.GetExperiment(lpb.GetExperimentRequest(name=experiment.name))).experiment.results
    assert {r.variant_id: r.samples for r in results} == played

    # More outcomes of the same kinds until the sequential test decides.
    scores = {variant: next(r.mean for r in results if r.variant_id == variant) for variant in by_variant}
    state, n = experiment, 0
    while state.state == lpb.EXPERIMENT_STATE_RUNNING and n < 400:
        n += 1
        session = f"sessions/{uuid.uuid4()}"
        variant = (await learnings.AssignVariant(lpb.AssignVariantRequest(experiment=experiment.name,
                                                                          session=session))).assignment.variant_id
        state = (await learnings.RecordExperimentOutcome(lpb.RecordExperimentOutcomeRequest(
            experiment=experiment.name, session=session, say_meter_score=round(scores[variant]) + n % 3))).experiment
    assert (state.state, state.winner_variant) == (lpb.EXPERIMENT_STATE_PROMOTED, "shorter")
    assert len(state.promoted_patches) == len(SHORTER)

    versions = (await personas.ListPersonaVersions(ppb.ListPersonaVersionsRequest(parent=persona))).versions
    while versions[0].change_kind != ppb.CHANGE_KIND_VARIANT_PROMOTION:
        await persona_changed(persona)  # the promotions outbox delivers after the deciding commit
        versions = (await personas.ListPersonaVersions(ppb.ListPersonaVersionsRequest(parent=persona))).versions
    promotion = versions[0].promotion
    assert (promotion.experiment, promotion.winner_variant, promotion.control_variant) == (
        experiment.name, "shorter", "control")
    assert list(promotion.patches) == list(state.promoted_patches)
    figures = {f.variant_id: f for f in promotion.figures}
    shorter = next(r for r in state.results if r.variant_id == "shorter")
    assert (figures["shorter"].samples, figures["shorter"].p_value) == (shorter.samples, shorter.p_value)

    after = await personas.RenderPrompt(ppb.RenderPromptRequest(persona=persona))
    assert after.persona_revision == versions[0].revision
    assert "Keep every answer to 8-16 words." in after.system_prompt
    assert "Never say 'no worries'." in after.system_prompt
    newcomer = await new_session(transcripts, persona=persona)
    assert (newcomer.experiment, newcomer.experiment_variant) == ("", "")  # the experiment no longer runs

