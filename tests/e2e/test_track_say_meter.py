"""A live reading of a session of every track but sales is scored on the track's own rubric and reports its factors
and weights in rubric_factors: a security candidate's remediation plan scores, an HR interviewer's unlawful question
lowers legality, and still does once it is out of the reading's window, what an agent designer, a full-stack
engineer, a marketer or an implementation lead says scores on their track's factors; a sales reading reports its five
factors in both places."""

from __future__ import annotations

import pytest
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2 as persona_pb

from analysis_svc.domain.tracks import agentic_eng, fullstack, implementation, marketing
from tests.e2e.test_analysis_live import CALL, PERSONA, USER
from tests.e2e.transcript_fixtures import streamed_call

SECURITY_CALL = [
    (PERSONA, "Your signing keys were stolen from a build server last night. What happens now?"),
    (USER, "First we confirm the scope and isolate the build servers, and we assume the attackers are still inside."),
    (PERSONA, "And after the incident, what would you change?"),
    (USER, "We rotate all the signing keys, enforce multi-factor on the build servers and move the secrets into a "
           "vault, then we verify it with a penetration test next month."),
]
FOLLOWED_THE_PROTOCOL = [*SECURITY_CALL[:3], (USER, "We followed the protocol, so there is nothing to change.")]


def _hiring_call(question: str) -> list[tuple[int, str]]:
    return [
        (USER, "Thanks for coming in. I lead the support team and this role answers our customers' hardest cases."),
        (PERSONA, "Thank you, I'm glad to be here."),
        (USER, f"Tell me about a time you calmed down an angry customer. {question}"),
        (PERSONA, "A client's order was lost, I called him back every day until it arrived."),
    ]


async def _reading(transcripts, analyses, turns, blueprint) -> pb.SayMeter:
    session = await streamed_call(transcripts, turns, blueprint=blueprint)
    reply = await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=len(turns),
                                                                     trigger_id=f"seq-{len(turns)}"))
    return reply.analysis.say_meter


def _factors(meter: pb.SayMeter) -> dict[str, int]:
    return {factor.name: factor.score for factor in meter.rubric_factors}


async def test_a_security_reading_carries_the_security_factors_and_a_remediation_plan_scores(transcripts, analyses):
    planned = await _reading(transcripts, analyses, SECURITY_CALL, persona_pb.BLUEPRINT_SECURITY)
    followed = await _reading(transcripts, analyses, FOLLOWED_THE_PROTOCOL, persona_pb.BLUEPRINT_SECURITY)

    assert [(f.name, f.weight) for f in planned.rubric_factors] == [
        ("threat_understanding", 25), ("incident_handling", 20), ("remediation", 20), ("honesty", 20),
        ("communication", 15)]
    assert planned.factors == pb.SayMeterFactors() and planned.weights == pb.SayMeterFactors()
    assert _factors(planned)["remediation"] >= 75 > _factors(followed)["remediation"]
    assert planned.score > followed.score


async def test_an_unlawful_question_lowers_legality_in_an_hr_reading(transcripts, analyses):
    lawful = await _reading(transcripts, analyses, _hiring_call("What did you do exactly?"), persona_pb.BLUEPRINT_HR)
    unlawful = await _reading(transcripts, analyses, _hiring_call("Do you have kids at home?"),
                              persona_pb.BLUEPRINT_HR)

    assert [f.name for f in unlawful.rubric_factors] == [
        "structure", "legality", "candidate_experience", "evidence", "fairness"]
    assert _factors(lawful)["legality"] == 100 and _factors(unlawful)["legality"] == 50
    assert unlawful.score < lawful.score
    assert "legally" in unlawful.reasoning


async def test_an_unlawful_question_before_the_window_still_lowers_legality(transcripts, analyses):
    turns = [*_hiring_call("Do you have kids at home?"),
             (USER, "What exactly did you say to him on the first call?"),
             (PERSONA, "That I would own it until it was fixed."),
             (USER, "Thanks, that helps. You'll hear from us by Friday."),
             (PERSONA, "Thank you.")]
    session = await streamed_call(transcripts, turns, blueprint=persona_pb.BLUEPRINT_HR)

    readings = [(await analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, up_to_sequence=up_to, trigger_id=f"seq-{up_to}", window_size=4))).analysis
        for up_to in (4, 8)]

    assert readings[1].window.first_sequence == 5, "the question (message 3) is not in the second window"
    assert _factors(readings[1].say_meter)["legality"] == 50
    assert _factors(readings[1].say_meter)["evidence"] > _factors(readings[0].say_meter)["evidence"]


async def test_a_sales_reading_reports_its_five_factors_in_both_places(transcripts, analyses):
    meter = await _reading(transcripts, analyses, CALL, persona_pb.BLUEPRINT_SALES)

    assert [(f.name, f.score, f.weight) for f in meter.rubric_factors] == [
        (name, getattr(meter.factors, name), getattr(meter.weights, name))
        for name in ("rapport", "discovery", "objection_handling", "value_articulation", "closing_momentum")]


# A call of each track, and the factor of its rubric that what the candidate says there scores on.
TRACK_CALLS = {
    persona_pb.BLUEPRINT_AGENTIC_ENG: (agentic_eng.RUBRIC, agentic_eng.EVALUATION, [
        (PERSONA, "Your agent answers refund requests. How do you know it works?"),
        (USER, "We keep an eval set of real tickets from production, score each run on task success and rerun it "
               "before every prompt change; it resolves 85 percent of them."),
    ]),
    persona_pb.BLUEPRINT_MARKETING: (marketing.RUBRIC, marketing.MEASUREMENT, [
        (PERSONA, "Fine, but how will I know the campaign worked?"),
        (USER, "The goal is two thousand signups by June, read against a holdout region; if it underperforms after "
               "the first two weeks we shift the spend to search."),
    ]),
    persona_pb.BLUEPRINT_FULLSTACK: (fullstack.RUBRIC, fullstack.TESTING_AND_DEBUGGING, [
        (PERSONA, "Tell me about a hard production bug."),
        (USER, "Checkout failed now and then; I reproduced it from the logs, narrowed it down to a race in the cache, "
               "fixed it, verified the fix in staging and added a regression test."),
    ]),
    persona_pb.BLUEPRINT_IMPLEMENTATION: (implementation.RUBRIC, implementation.GOVERNANCE, [
        (PERSONA, "Who does what on this project?"),
        (USER, "Your CFO is the sponsor and Maria the project owner; she signs off each phase, issues escalate to the "
               "steering committee, and I send a status report every Friday."),
    ]),
}


@pytest.mark.parametrize("blueprint", sorted(TRACK_CALLS), ids=lambda value: persona_pb.Blueprint.Name(value))
async def test_a_reading_of_a_track_with_its_own_rubric_carries_that_rubrics_factors(transcripts, analyses, blueprint):
    rubric, said, turns = TRACK_CALLS[blueprint]

    meter = await _reading(transcripts, analyses, turns, blueprint)

    assert [(f.name, f.weight) for f in meter.rubric_factors] == [(name, rubric.weights[name]) for name in rubric.names]
    assert meter.factors == pb.SayMeterFactors() and meter.weights == pb.SayMeterFactors()
    assert _factors(meter)[said] == 100
