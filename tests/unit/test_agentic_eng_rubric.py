"""The agentic engineering track's rubric (analysis_svc/domain/tracks/agentic_eng.py): each factor rises with the
moves a reviewer of an agent design listens for and falls with what a coach marks down, and a reading of the track
is scored on them."""

from __future__ import annotations

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import rubric_of, score
from analysis_svc.domain.suggestions import CallStage, SuggestionType, suggest
from analysis_svc.domain.tracks import agentic_eng, track_rubric
from calls.job_tracks import Blueprint
from tests.unit.test_track_rubrics import _call

ASKED = "How would you build an agent that answers customer refund requests?"


def _measured(answer: str) -> dict[str, int]:
    return agentic_eng.RUBRIC.measure(_call(ASKED, answer))


def test_evaluation_on_real_tasks_with_a_measure_and_regression_runs_scores_where_trying_it_by_hand_does_not():
    measured = _measured("We pulled five hundred real tickets from production into an eval set, scored on task "
                         "success, and we rerun the evals before every prompt change; it still struggles with "
                         "partial refunds.")
    by_hand = _measured("We tried it on a few requests ourselves and it looked good, the model is smart enough.")

    assert measured[agentic_eng.EVALUATION] == 100
    assert by_hand[agentic_eng.EVALUATION] == 0


def test_scoped_tools_validation_and_a_person_before_a_refund_are_guardrails_and_broad_rights_cost():
    guarded = _measured("It only gets read-only access to orders, its arguments are validated against a JSON schema, "
                        "the ticket text is treated as untrusted input against prompt injection, and a person "
                        "approves any refund above fifty dollars.")
    scoped = _measured("It only gets read-only access to orders.")
    broad = _measured("It only gets read-only access to orders, and admin access for refunds; the model decides.")

    assert guarded[agentic_eng.TOOLS_AND_GUARDRAILS] == 100
    assert broad[agentic_eng.TOOLS_AND_GUARDRAILS] < scoped[agentic_eng.TOOLS_AND_GUARDRAILS]


def test_naming_how_it_fails_and_what_happens_then_is_failure_and_recovery():
    recovered = _measured("When a tool call times out we retry twice with backoff, the refund call is idempotent with "
                          "a key, after that it hands over to a human agent, and every step is traced so we review "
                          "the failed runs each week.")
    assumed = _measured("It just answers the customer and issues the refund.")

    assert recovered[agentic_eng.FAILURE_AND_RECOVERY] == 100
    assert assumed[agentic_eng.FAILURE_AND_RECOVERY] == 0


def test_the_cost_of_a_task_and_the_levers_that_bound_it_are_cost_and_latency():
    costed = _measured("A request costs about three cents and takes four seconds; we route the easy ones to a smaller "
                       "model and cap the agent at eight steps.")
    one_lever = _measured("We could cache things later on.")

    assert costed[agentic_eng.COST_AND_LATENCY] == 100
    assert 0 < one_lever[agentic_eng.COST_AND_LATENCY] < 50


def test_trade_offs_and_unknowns_owned_raise_communication_and_hype_lowers_it():
    owned = agentic_eng.RUBRIC.measure(_call(
        ASKED, "Do you mean refunds for all markets, or only the UK?",
        "Only the UK.", "Then the trade-off is latency against accuracy, and we haven't measured the second yet.",
        "Fine.", "In production we found the judge too lenient, so we checked it against people."))
    hyped = _measured("It's fully autonomous and it never hallucinates, trust me.")
    plain = _measured("It reads the order and answers the customer.")

    assert owned[agentic_eng.COMMUNICATION] == 100
    assert hyped[agentic_eng.COMMUNICATION] < plain[agentic_eng.COMMUNICATION] == 50


def test_an_agentic_reading_is_scored_on_its_own_factors_and_the_model_is_asked_for_them():
    turns = _call(ASKED, "We pulled real tickets into an eval set and rerun it before every prompt change.")

    meter = score(measure(turns), Blueprint.AGENTIC_ENG, agentic_eng.RUBRIC.tally(turns))

    assert track_rubric(Blueprint.AGENTIC_ENG) is agentic_eng.RUBRIC
    assert list(meter.factors) == list(agentic_eng.RUBRIC.names) and meter.weights == agentic_eng.RUBRIC.weights
    assert rubric_of(Blueprint.AGENTIC_ENG).own and list(rubric_of(Blueprint.AGENTIC_ENG).meanings) == list(
        agentic_eng.RUBRIC.names)
    assert "has not said what the agent may do" in meter.reasoning


def test_the_personas_curveball_presses_the_factor_the_call_is_weakest_on():
    turns = _call(ASKED, "When a tool call times out we retry twice with backoff, then it hands over to a human agent, "
                         "and every step is traced.")
    metrics = measure(turns)
    meter = score(metrics, Blueprint.AGENTIC_ENG, agentic_eng.RUBRIC.tally(turns))

    def curveballs(**reading: dict[str, int]) -> list[str]:
        return [suggestion.label for suggestion in suggest(metrics, turns, Blueprint.AGENTIC_ENG, CallStage.MIDDLE,
                                                           **reading) if suggestion.type == SuggestionType.CURVEBALL]

    assert meter.factors[agentic_eng.FAILURE_AND_RECOVERY] == 100 and meter.factors[agentic_eng.COST_AND_LATENCY] == 0
    assert curveballs() == ["Hallucination Incident"], "the stage's first, with no reading to go by"
    assert curveballs(factors=meter.factors) == ["Cost Spike"]
