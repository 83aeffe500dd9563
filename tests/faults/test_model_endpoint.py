"""A misbehaving model endpoint never breaks a call. Each fault of the openai path (HTTP status, transport, body,
content, time) is played by the fake endpoint against both services that use the model: the call succeeds with the
local engine's result, the fall-back is counted under its reason, and a model answer takes a bounded number of tries.

The servers are the end-to-end ones of tests/e2e/test_analysis_openai.py and tests/e2e/test_learning_openai.py
(client timeout 0.3 s, one retry; tests/faults/conftest.py), here pointed at this module's fake."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.learning.v1 import learning_service_pb2 as learning_pb

from tests.e2e.test_analysis_live import CALL
from tests.e2e.test_analysis_openai import AUDIT, _answering, _ended_call, _fallbacks
from tests.e2e.test_learning_openai import SIMULATED_CALLS, answer, evolve
from tests.e2e.transcript_fixtures import streamed_call
from tests.fake_openai import messages, serving
from tests.probes import metric

MAX_TRIES = 2  # the servers' openai_max_retries is 1


@dataclass(frozen=True)
class Fault:
    mode: str | int  # what the fake endpoint does (tests/fake_openai.py)
    reason: str  # the fall-back metrics' reason label
    tries: int  # the most requests one model answer may make


# One try where a second would only repeat the first (a 4xx, a reply that is no answer), would not fit in the
# answer's time (after a timeout) or would come sooner than the 429's Retry-After allows; up to MAX_TRIES where a
# second try may mend it (a broken connection, a 5xx) and the back-off fits.
FAULTS = {
    "content-not-json": Fault("malformed", "malformed_json", 1),
    "200-body-not-json": Fault("not_json", "bad_response", 1),
    "truncated-body": Fault("truncated", "connection_failed", MAX_TRIES),
    "wrong-content-type": Fault("wrong_content_type", "bad_response", 1),
    "empty-choices": Fault("no_choices", "bad_response", 1),
    "slow-first-byte": Fault("slow", "timeout", 1),
    "slow-stream": Fault("trickle", "timeout", 1),
    "400": Fault(400, "rejected", 1),
    "401": Fault(401, "unauthorized", 1),
    "404": Fault(404, "rejected", 1),
    "429-retry-after": Fault(429, "rate_limited", 1),
    "500": Fault(500, "server_error", MAX_TRIES),
    "503": Fault(503, "server_error", MAX_TRIES),
    "connection-reset": Fault("reset", "connection_failed", MAX_TRIES),
}
every_fault = pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())


def _good_answer(request: dict) -> dict:
    """Each service's good answer, so that only the fault under test can make a call fall back."""
    system, user = messages(request)
    return answer(request) if '"refinements"' in system or '"call_seed"' in user else _answering(AUDIT)(request)


@pytest.fixture(scope="module")
def fake_openai():
    with serving(_good_answer) as server:
        yield server


@pytest.fixture(scope="module")
def model_timeout_seconds() -> float:
    """The learning server's, as the analysis server's: well under the slow faults' delay, so that a timeout is not
    tried again."""
    return 0.3


@every_fault
async def test_a_live_analysis_falls_back_to_the_local_reading(transcripts, openai_analyses, fake_openai, fault):
    fake_openai.reset(fault.mode)
    before, counted = fake_openai.requests, _fallbacks(fault.reason)
    session = await streamed_call(transcripts, CALL)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                trigger_id="seq-10"))).analysis
    assert 1 <= fake_openai.requests - before <= fault.tries
    assert _fallbacks(fault.reason) == counted + 1
    assert analysis.engine == pb.ENGINE_LOCAL and analysis.engine_fallback and not analysis.model
    local = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, trigger_id="seq-10-local", engine=pb.ENGINE_LOCAL))).analysis
    assert analysis.say_meter == local.say_meter


@every_fault
async def test_an_audit_falls_back_to_the_local_audit(transcripts, sarah, openai_analyses, fake_openai, fault):
    fake_openai.reset(fault.mode)
    before, counted = fake_openai.requests, _fallbacks(fault.reason)
    audit = (await openai_analyses.AuditSession(pb.AuditSessionRequest(session=await _ended_call(transcripts)))).audit
    assert 1 <= fake_openai.requests - before <= fault.tries
    assert _fallbacks(fault.reason) == counted + 1
    assert audit.engine == pb.ENGINE_LOCAL and audit.engine_fallback
    assert (await openai_analyses.GetPersonaAudit(pb.GetPersonaAuditRequest(name=audit.name))).audit == audit
    local = (await openai_analyses.AuditSession(pb.AuditSessionRequest(session=await _ended_call(transcripts),
                                                                       engine=pb.ENGINE_LOCAL))).audit
    assert (audit.scores, audit.flagged_quotes, audit.recommendations) == (local.scores, local.flagged_quotes,
                                                                           local.recommendations)


MODEL_STEPS = ("generate_refinements", "validate")


def fallbacks(step: str, reason: str) -> float:
    return metric("sparring_learning_engine_fallbacks_total", step=step, reason=reason)


@every_fault
async def test_an_evolution_runs_model_steps_fall_back_to_local(openai_learnings, finished_here, fake_openai, fault):
    fake_openai.reset(fault.mode)
    before, counted = fake_openai.requests, {step: fallbacks(step, fault.reason) for step in MODEL_STEPS}
    run = await evolve(openai_learnings, finished_here, learning_pb.ENGINE_OPENAI)
    assert run.options.engine == learning_pb.ENGINE_OPENAI
    # One refinements answer, then the first persona turns of the 2 x 5 simulated calls played together, until the
    # first failure gives the step up.
    assert 2 <= fake_openai.requests - before <= (1 + 2 * SIMULATED_CALLS) * fault.tries
    assert {step: fallbacks(step, fault.reason) for step in MODEL_STEPS} == {step: counted[step] + 1
                                                                             for step in MODEL_STEPS}
    # The local generator's length range for the flawed difficulty, validated on the local simulator.
    (refinement,) = run.generate_refinements.refinements
    assert (refinement.operation, refinement.part) == (learning_pb.PATCH_OPERATION_EDIT_PART,
                                                       learning_pb.PROMPT_PART_LENGTH_RANGE)
    assert (refinement.words_per_turn.min_words, refinement.words_per_turn.max_words) == (8, 16)
    (result,) = run.validate.results
    assert result.engine == learning_pb.ENGINE_LOCAL and result.baseline.calls == SIMULATED_CALLS
    assert result.fallback_reason.startswith(f"{fault.reason}: ")
    assert run.generate_refinements.fallback_reason.startswith(f"{fault.reason}: ")
