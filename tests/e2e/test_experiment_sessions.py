"""A session of a persona under a running experiment gets its variant when it is created: the one the learning
service assigns the session's id, stored on the session; a learning service that does not answer in time leaves
the session on the control, counted; a variant stopped as worse gets no new session."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest_asyncio
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.persona.v1 import persona_service_pb2 as ppb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from access.permissions import PERMISSIONS
from svckit.server import GrpcApp
from tests.probes import metric
from tests.security import secure_channel, security, token
from transcript_svc.app import build as build_transcript

ASSIGNMENTS = "sparring_transcript_experiment_assignments_total"


async def _transcript_stub(engine, transcript_settings, learning_address: str, **settings):
    app = await build_transcript(transcript_settings(learning_address=learning_address, **settings), engine)
    await app.start()
    return app


@pytest_asyncio.fixture(scope="module")
async def experimented(engine, transcript_schema, transcript_settings, learning_server):
    """A transcript server that asks the test learning service for its sessions' variants."""
    app = await _transcript_stub(engine, transcript_settings, learning_server)
    async with secure_channel(app.address, token("interviewer")) as channel:
        yield transcript_service_pb2_grpc.TranscriptServiceStub(channel)
    await app.stop(grace=1)


async def _create(transcripts, persona: str) -> pb.Session:
    return (await transcripts.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona=persona, blueprint=ppb.BLUEPRINT_SALES)))).session


async def _experiment(learnings, persona: str, **fields) -> lpb.Experiment:
    return (await learnings.CreateExperiment(lpb.CreateExperimentRequest(experiment=lpb.Experiment(
        display_name="Shorter answers", metric=lpb.EXPERIMENT_METRIC_SAY_METER_SCORE, variants=[
            lpb.Variant(variant_id="control", persona=persona, traffic_bps=5000, control=True),
            lpb.Variant(variant_id="shorter", persona=persona, traffic_bps=5000)], **fields)))).experiment


async def test_a_session_of_a_persona_under_experiment_gets_and_keeps_its_variant(experimented, learnings, voiced):
    persona, bystander = await voiced(), await voiced()
    experiment = await _experiment(learnings, persona)
    assigned_before, none_before = metric(ASSIGNMENTS, outcome="assigned"), metric(ASSIGNMENTS, outcome="none")

    sessions = [await _create(experimented, persona) for _ in range(12)]
    for session in sessions:
        assert session.experiment == experiment.name
        assigned = await learnings.AssignVariant(lpb.AssignVariantRequest(experiment=experiment.name,
                                                                          session=session.name))
        assert session.experiment_variant == assigned.assignment.variant_id  # the learning service's, by id
        stored = (await experimented.GetSession(pb.GetSessionRequest(name=session.name))).session
        assert (stored.experiment, stored.experiment_variant) == (experiment.name, session.experiment_variant)
    assert {s.experiment_variant for s in sessions} == {"control", "shorter"}

    outside = await _create(experimented, bystander)
    assert (outside.experiment, outside.experiment_variant) == ("", "")
    assert metric(ASSIGNMENTS, outcome="assigned") == assigned_before + 12
    assert metric(ASSIGNMENTS, outcome="none") == none_before + 1


async def test_a_variant_stopped_as_worse_gets_no_new_session(experimented, learnings, voiced):
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

    later = [await _create(experimented, persona) for _ in range(12)]
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
    app = await _transcript_stub(engine, transcript_settings, silent.address, experiment_timeout_seconds=0.2)
    unavailable_before = metric(ASSIGNMENTS, outcome="unavailable")
    try:
        async with secure_channel(app.address, token("interviewer")) as channel:
            session = await _create(transcript_service_pb2_grpc.TranscriptServiceStub(channel), "personas/sarah-chen")
    finally:
        answered.set()
        await app.stop(grace=1)
        await silent.stop(grace=1)
    assert session.state == pb.SESSION_STATE_ACTIVE
    assert (session.experiment, session.experiment_variant) == ("", "")
    assert metric(ASSIGNMENTS, outcome="unavailable") == unavailable_before + 1
