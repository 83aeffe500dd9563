"""The Say Meter of a track with its own rubric (analysis_svc/domain/tracks): the security track's measures (a
remediation plan, stolen keys as a threat, owning a mistake against blaming an intern), the HR track's (an unlawful
question, found by the guardrails' detector, lowers legality; probing examples raises evidence), the reading made of
them, and the tracks that stay on the reweighted sales factors."""

from __future__ import annotations

import math

import pytest

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.interviewer_texts import ENGLISH
from analysis_svc.domain.say_meter import FACTORS, RUBRICS, ordered_factors, score, weigh
from analysis_svc.domain.suggestions import CURVEBALLS
from analysis_svc.domain.tracks import TRACK_RUBRICS, call_tally, hr, security
from analysis_svc.domain.tracks.rubric import Tally
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn
from guardrails.filters import screen
from tests.unit.test_track_corpora import RUBRICS as LABELLED_RUBRICS


def _call(*texts: str) -> list[Turn]:
    """Turns alternating between the persona (first) and the candidate."""
    return [Turn(n, Role.ASSISTANT if n % 2 else Role.USER, text) for n, text in enumerate(texts, start=1)]


QUESTION = "The signing keys were stolen from a build server. What do you do about it?"
REMEDIATION_PLAN = ("First we rotate all the signing keys and enforce multi-factor on the build servers, then we "
                    "move the secrets into a vault, and we verify it with a penetration test next month.")
NO_PLAN = "We followed the protocol on that and I think we are in good shape now."


def test_a_remediation_plan_scores_where_the_sales_rules_gave_it_nothing():
    planned = security.RUBRIC.measure(_call(QUESTION, REMEDIATION_PLAN))
    followed = security.RUBRIC.measure(_call(QUESTION, NO_PLAN))

    assert planned[security.REMEDIATION] >= 75
    assert followed[security.REMEDIATION] == 0


def test_stolen_keys_and_who_took_them_are_threat_understanding():
    said = security.RUBRIC.measure(_call(
        "How did they get in?",
        "The attackers phished an engineer, used the stolen credentials on the VPN, moved laterally to the build "
        "server and took the private keys. The root cause was single-factor access."))
    silent = security.RUBRIC.measure(_call("How did they get in?", "It is hard to say, these things happen."))

    assert said[security.THREAT_UNDERSTANDING] == 100
    assert silent[security.THREAT_UNDERSTANDING] == 0


def test_owning_a_mistake_and_naming_an_unknown_is_honest_and_blaming_an_intern_is_not():
    owned = security.RUBRIC.measure(_call(
        "Whose fault was the password?",
        "That was our failure and we should have caught it. We don't know yet whether it was used, and we will "
        "find out from the access logs by Friday."))
    blamed = security.RUBRIC.measure(_call("Whose fault was the password?", "An intern set it, it was not our fault."))

    assert owned[security.HONESTY] == 100
    assert blamed[security.HONESTY] < 50


def test_an_ordered_response_is_incident_handling():
    handled = security.RUBRIC.measure(_call(
        "Walk me through the first hours.",
        "We confirmed the alert and scoped which hosts were hit, isolated them, preserved the disk images for "
        "forensics, rotated every credential because we assume they are still inside, restored from backups, and "
        "notified the regulator within the deadline."))

    assert handled[security.INCIDENT_HANDLING] == 100


UNLAWFUL = "Are you planning to have children soon?"


def test_an_unlawful_question_found_by_the_guardrails_detector_lowers_legality():
    asked = hr.RUBRIC.measure(_call("Hello, I'm here for the interview.", UNLAWFUL, "I'd rather not say."))
    lawful = hr.RUBRIC.measure(_call("Hello, I'm here for the interview.",
                                     "Can you work the Saturday shifts the role needs?", "Yes, that works."))

    assert screen(UNLAWFUL, hr.UNLAWFUL_QUESTIONS), "the live call's guardrail flags the same question"
    assert asked[hr.LEGALITY] == 50
    assert lawful[hr.LEGALITY] == 100
    twice = hr.RUBRIC.measure(_call("Hi.", UNLAWFUL, "No.", "And how old are you, if you don't mind?"))
    assert twice[hr.LEGALITY] == 0


def test_probing_an_example_gathers_evidence_where_taking_answers_as_given_does_not():
    probed = hr.RUBRIC.measure(_call(
        "Hi, thanks for having me.",
        "Tell me about a time you turned a failing project around.",
        "We were three months late on a migration.",
        "What exactly did you do, and what was the result?",
        "I cut the scope and we shipped in six weeks.",
        "Looking back, what would you do differently?"))
    taken = hr.RUBRIC.measure(_call("Hi, thanks for having me.", "Great. Are you a team player?", "Yes, very much."))

    assert probed[hr.EVIDENCE] == 100
    assert taken[hr.EVIDENCE] == 0


def test_prejudging_the_candidate_lowers_fairness():
    prejudged = hr.RUBRIC.measure(_call("Hi.", "Honestly, you won't stay long with a CV like that."))

    assert prejudged[hr.FAIRNESS] < hr.RUBRIC.measure(_call("Hi.", "Tell me about your last role."))[hr.FAIRNESS]


def test_a_track_reading_is_its_own_factors_weighed_by_its_weights():
    turns = _call(QUESTION, REMEDIATION_PLAN)

    meter = score(measure(turns), Blueprint.SECURITY, security.RUBRIC.tally(turns))

    assert list(meter.factors) == list(security.RUBRIC.names) == ordered_factors(meter.weights)
    assert meter.weights == security.RUBRIC.weights and sum(meter.weights.values()) == 100
    assert meter.score == math.floor(weigh(dict(meter.factors), meter.weights) + 0.5)  # half up, as the meter
    assert meter.reasoning.endswith(".")


def test_a_security_reading_rises_with_a_remediation_plan():
    planned, followed = _call(QUESTION, REMEDIATION_PLAN), _call(QUESTION, NO_PLAN)

    assert (score(measure(planned), Blueprint.SECURITY, security.RUBRIC.tally(planned)).score
            > score(measure(followed), Blueprint.SECURITY, security.RUBRIC.tally(followed)).score)


def test_an_unlawful_question_lowers_an_hr_reading():
    asked = _call("Hello.", "Tell me about a time you led a team. " + UNLAWFUL, "I led a team of five.")
    lawful = _call("Hello.", "Tell me about a time you led a team. What was the result?", "I led a team of five.")

    meter = score(measure(asked), Blueprint.HR, hr.RUBRIC.tally(asked))

    assert meter.score < score(measure(lawful), Blueprint.HR, hr.RUBRIC.tally(lawful)).score
    assert "legally" in meter.reasoning


def test_a_reading_with_nothing_to_improve_says_so():
    perfect = Tally(frozenset({*(f"structure:{kind}" for kind in ("opening", "role", "plan", "next_steps")),
                               *(f"evidence:{kind}" for kind in ("example", "own_part", "outcome", "check"))}),
                    {"turns": 6, "courtesy": 2})

    meter = score(measure(()), Blueprint.HR, perfect)

    assert set(meter.factors.values()) == {100}
    assert meter.reasoning == "Evidence is the strength; keep it up."


def test_a_reading_tallies_the_whole_call_from_the_kept_tally_and_its_window():
    turns = _call("Hi.", UNLAWFUL, "No.", "Tell me about a time you led a team.", "I led five people.",
                  "What exactly did you do?", "I set the plan.", "Thanks, you'll hear from us by Friday.")
    kept = hr.RUBRIC.tally(turns[:5])

    # A window of the last four messages, the first of which the kept reading had counted.
    whole = call_tally(Blueprint.HR, kept, 5, turns[4:], "en")

    assert whole == hr.RUBRIC.tally(turns)
    assert hr.RUBRIC.scores(whole)[hr.LEGALITY] == 50, "the question before the window still counts"
    assert call_tally(Blueprint.SALES, kept, 5, turns[4:], "en") is None


@pytest.mark.parametrize("track", [track for track in Blueprint if track not in TRACK_RUBRICS])
def test_the_other_tracks_stay_on_the_reweighted_sales_factors(track):
    turns = _call(QUESTION, REMEDIATION_PLAN)
    metrics = measure(turns)

    assert score(metrics, track, security.RUBRIC.tally(turns)) == score(metrics, track)
    assert list(score(metrics, track).weights) == list(FACTORS) and RUBRICS[track] == score(metrics, track).weights


@pytest.mark.parametrize("track", sorted(LABELLED_RUBRICS))
def test_a_track_rubric_scores_the_dimensions_its_labelled_conversations_are_scored_on(track):
    rubric = TRACK_RUBRICS[Blueprint(track)]

    assert rubric.weights == {name: round(100 * weight) for name, weight in LABELLED_RUBRICS[track]["weights"].items()}


@pytest.mark.parametrize("track", sorted(TRACK_RUBRICS))
def test_a_track_rubric_weighs_each_of_its_factors_and_says_what_each_means(track):
    rubric = TRACK_RUBRICS[track]

    assert sum(rubric.weights.values()) == 100 and set(rubric.weights) == set(rubric.names)
    assert all(factor.meaning and factor.measured and factor.gap for factor in rubric.factors)


@pytest.mark.parametrize("track", sorted(TRACK_RUBRICS))
def test_a_track_rubric_probes_with_the_tracks_own_curveballs_and_names_its_factors(track):
    rubric = TRACK_RUBRICS[track]
    labels = {curveball.label for stage in CURVEBALLS[track].values() for curveball in stage}

    assert set(rubric.probes.values()) <= set(rubric.names)
    assert {ENGLISH.curveballs[key][0] for key in rubric.probes} <= labels
