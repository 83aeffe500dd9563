"""The marketing track's rubric (analysis_svc/domain/tracks/marketing.py): each factor rises with the moves a
marketer judging a campaign pitch listens for and falls with what a coach marks down, and a reading of the track is
scored on them."""

from __future__ import annotations

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import rubric_of, score
from analysis_svc.domain.tracks import marketing, track_rubric
from calls.job_tracks import Blueprint
from tests.unit.test_track_rubrics import _call

BRIEF = "We're launching a budgeting app next spring. What would you do?"


def _measured(*pitch: str) -> dict[str, int]:
    return marketing.RUBRIC.measure(_call(BRIEF, *pitch))


def test_a_narrow_audience_with_evidence_scores_and_everyone_does_not():
    narrow = _measured("Who are your best customers today? From the survey, first-time renters aged 22 to 30 worry "
                       "about running out of money before payday.")
    everyone = _measured("Everyone needs a budget, so the campaign is for everyone.")

    assert narrow[marketing.AUDIENCE] == 100
    assert everyone[marketing.AUDIENCE] == 0


def test_one_idea_set_apart_and_shown_is_a_big_idea_where_awareness_alone_is_not():
    idea = _measured("The big idea is 'Payday, every day': unlike the banks' apps it talks about the week before "
                     "payday, and the film opens on an empty fridge.")
    awareness = _measured("We want to raise awareness and go viral on social.")

    assert idea[marketing.BIG_IDEA] == 100
    assert awareness[marketing.BIG_IDEA] == 0


def test_a_costed_dated_channel_plan_scores_and_everywhere_costs():
    planned = _measured("TikTok and YouTube, because that's where they spend their evenings; 70 percent of the budget "
                        "on TikTok, a teaser in March and the launch week in April, and we'll need your brand "
                        "guidelines by Friday.")
    listed = _measured("TikTok and YouTube.")
    everywhere = _measured("TikTok and YouTube, and really every channel, everywhere.")

    assert planned[marketing.PLAN] == 100
    assert everywhere[marketing.PLAN] < listed[marketing.PLAN] < planned[marketing.PLAN]


def test_a_target_with_attribution_and_a_fallback_is_measurement_and_a_guarantee_costs():
    measured = _measured("The goal is 5,000 new signups by June at a cost per signup under four dollars, read against "
                         "a holdout region; if it underperforms after the first two weeks we shift the spend to "
                         "search.")
    guaranteed = _measured("The goal is signups, and I guarantee it will go viral.")
    aimed = _measured("The goal is signups.")

    assert measured[marketing.MEASUREMENT] == 100
    assert guaranteed[marketing.MEASUREMENT] < aimed[marketing.MEASUREMENT] < 50


def test_asking_conceding_and_agreeing_a_next_step_is_handling_and_dismissing_the_marketer_is_not():
    handled = marketing.RUBRIC.measure(_call(
        BRIEF, "What are your goals for the launch?", "Signups, and the board is nervous about TikTok.",
        "That's fair, we can scale the TikTok part down. Next step: I'll send you a revised plan on Monday."))
    dismissed = marketing.RUBRIC.measure(_call(
        BRIEF, "It's a great plan.", "The board is nervous about TikTok.", "Don't worry, trust me on this."))

    assert handled[marketing.HANDLING] == 100
    assert dismissed[marketing.HANDLING] == 0


def test_a_marketing_reading_is_scored_on_its_own_factors_and_the_model_is_asked_for_them():
    turns = _call(BRIEF, "We'd go with TikTok, because that's where they scroll at night.")

    meter = score(measure(turns), Blueprint.MARKETING, marketing.RUBRIC.tally(turns))

    assert track_rubric(Blueprint.MARKETING) is marketing.RUBRIC
    assert list(meter.factors) == list(marketing.RUBRIC.names) and meter.weights == marketing.RUBRIC.weights
    assert rubric_of(Blueprint.MARKETING).own and list(rubric_of(Blueprint.MARKETING).meanings) == list(
        marketing.RUBRIC.names)
    assert "measured" in meter.reasoning
