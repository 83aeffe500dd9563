"""The full-stack engineering track's rubric (analysis_svc/domain/tracks/fullstack.py): each factor rises with the
moves an interviewer of a full-stack engineer listens for and falls with what a coach marks down, and a reading of
the track is scored on them."""

from __future__ import annotations

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import rubric_of, score
from analysis_svc.domain.tracks import fullstack, track_rubric
from calls.job_tracks import Blueprint
from tests.unit.test_track_rubrics import _call

ASKED = "Design a service that lets users share photo albums with friends."


def _measured(*answers: str) -> dict[str, int]:
    return fullstack.RUBRIC.measure(_call(ASKED, *answers))


def test_requirements_first_then_parts_flow_sizing_and_the_front_end_is_system_design():
    designed = _measured("Before I design anything: how many users, and is it read-heavy? Let's assume ten million "
                         "users and mostly reads. The browser fetches album pages from the API servers, which read "
                         "from Postgres and a Redis cache, photos sit in object storage behind a CDN, and the first "
                         "page is rendered server-side so the user sees thumbnails at once.")
    named = _measured("I'd use microservices and Kubernetes.")

    assert designed[fullstack.SYSTEM_DESIGN] == 100
    assert named[fullstack.SYSTEM_DESIGN] == 0


def test_an_api_a_model_with_indexes_and_consistency_is_api_and_data():
    modelled = _measured("The endpoints are REST resources with cursor pagination; an albums table and a shares table "
                         "with a foreign key, an index on the owner, and sharing is idempotent with a unique "
                         "constraint so a retry never duplicates a share.")
    vague = _measured("We'd store it somewhere and call it from the app.")

    assert modelled[fullstack.API_AND_DATA] == 100
    assert vague[fullstack.API_AND_DATA] == 0


def test_a_method_from_their_own_work_is_testing_and_debugging_and_a_guess_costs():
    method = _measured("I reproduced it from the logs, narrowed it down to a race in the cache, fixed it, verified "
                       "the fix in staging and added a regression test.")
    guess = _measured("I'd add some logging and see, it was probably the network.")

    assert method[fullstack.TESTING_AND_DEBUGGING] == 100
    assert guess[fullstack.TESTING_AND_DEBUGGING] < fullstack.RUBRIC.measure(_call(ASKED, "I'd look at the logs."))[
        fullstack.TESTING_AND_DEBUGGING]


def test_options_with_their_costs_a_choice_and_adapting_are_tradeoffs_and_always_right_costs():
    weighed = _measured("One option is a relational database, the alternative a document store; the trade-off is "
                        "consistency against flexibility, and for this case I'd choose Postgres. If the traffic "
                        "doubles, the design still holds; I'd add read replicas.")
    dogmatic = _measured("Always use a NoSQL database, it's the best database.")

    assert weighed[fullstack.TRADEOFFS_AND_ADAPTATION] == 100
    assert dogmatic[fullstack.TRADEOFFS_AND_ADAPTATION] == 0


def test_clarifying_and_their_own_part_raise_communication_and_evasion_lowers_it():
    clear = fullstack.RUBRIC.measure(_call(
        ASKED, "Do you mean private albums only?", "Yes.", "At my last job I built the sharing service for a photo "
        "app.", "What was hard?", "I'm not sure we ever solved the fan-out well."))
    evasive = _measured("I'd rather not go into that, it doesn't really matter.")

    assert clear[fullstack.COMMUNICATION] == 100
    assert evasive[fullstack.COMMUNICATION] < 50


def test_a_fullstack_reading_is_scored_on_its_own_factors_and_the_model_is_asked_for_them():
    turns = _call(ASKED, "I'd choose Postgres for this case.")

    meter = score(measure(turns), Blueprint.FULLSTACK, fullstack.RUBRIC.tally(turns))

    assert track_rubric(Blueprint.FULLSTACK) is fullstack.RUBRIC
    assert list(meter.factors) == list(fullstack.RUBRIC.names) and meter.weights == fullstack.RUBRIC.weights
    assert list(rubric_of(Blueprint.FULLSTACK).meanings) == list(fullstack.RUBRIC.names)
