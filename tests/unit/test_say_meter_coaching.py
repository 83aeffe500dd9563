"""What a coach listens for, on short exchanges: brush-offs and stalls are hesitations, how the seller meets them is
graded, a hesitation never detected is untested rather than rewarded, and the patterns that matched the wrong thing
no longer do; how a next step is proposed and agreed; what counts as value. Then the whole engine against the coach on
the labelled English corpus, all of which is now development data."""

from __future__ import annotations

import dataclasses
import functools
import statistics

import pytest

from analysis_svc.domain.coaching import ACKNOWLEDGED, CONCEDED, EXPLORED, IGNORED
from analysis_svc.domain.conversation import Topic, ValueTheme, measure
from analysis_svc.domain.say_meter import (
    FACTORS,
    OBJECTION_HANDLING,
    RAPPORT,
    RUBRICS,
    factor_scores,
    score,
    weigh,
)
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn
from devtools.say_meter_corpus import (
    ALL_ENGLISH,
    first_english,
    load_calls,
    spearman,
    turns_of,
)


def call(*lines: tuple[str, str]) -> list[Turn]:
    return [Turn(n, Role(role), text) for n, (role, text) in enumerate(lines, start=1)]


OPENING = ("user", "Hi Josh, it's Adam from Brightline. Do you have a minute?")


@pytest.mark.parametrize("brush_off", ["I'm not really interested, thanks.", "Honestly I really don't have time.",
                                       "We'd like to shop around a bit first.", "I'd like to cancel my account."])
def test_brush_offs_and_stalls_are_hesitations(brush_off):
    metrics = measure(call(OPENING, ("assistant", brush_off), ("user", "Sure, thanks anyway.")))
    assert metrics.hesitations == 1


@pytest.mark.parametrize(("reply", "points"), [
    ("No problem, you must get that a lot. Is it bad timing, or just not a good fit?", EXPLORED),
    ("Fair enough. What would need to change for it to be worth a look?", EXPLORED),
    ("Good news, I can knock twenty percent off the price for you.", CONCEDED),
    ("You don't even know what I'm selling yet.", IGNORED),
    ("It's the best podcast guest you'll find, can I take that as a yes?", IGNORED),
])
def test_the_sellers_answer_to_a_no_is_graded_as_a_coach_grades_it(reply, points):
    metrics = measure(call(OPENING, ("assistant", "No, I'm not interested right now."), ("user", reply)))
    assert (metrics.hesitations, metrics.hesitation_points) == (1, points)


def test_pressing_on_after_a_second_no_is_a_push_and_taking_it_is_not():
    refused_twice = [OPENING, ("assistant", "Not interested."), ("user", "Just hear me out, it's a great deal."),
                     ("assistant", "No thanks, please take me off your list.")]
    pressed = measure(call(*refused_twice, ("user", "But you haven't even seen the numbers yet.")))
    taken = measure(call(*refused_twice, ("user", "Understood, sorry to have bothered you. Have a good day.")))
    assert pressed.pushes > taken.pushes and taken.graceful_exits
    assert factor_scores(pressed)[RAPPORT] < factor_scores(taken)[RAPPORT]
    assert score(pressed, Blueprint.SALES).score < score(taken, Blueprint.SALES).score


def test_a_call_with_no_hesitation_is_untested_not_rewarded():
    # Read by the rules alone, as a call whose words are not read (another language) is.
    metrics = dataclasses.replace(measure(call(("user", "What made you look at scheduling tools this spring?"),
                                               ("assistant", "Our nurses lose an hour a day swapping shifts."))),
                                  sales_terms=None)
    factors = factor_scores(metrics)
    assert factors[OBJECTION_HANDLING] is None
    meter = score(metrics, Blueprint.SALES)
    others = {name: value for name, value in factors.items() if name != OBJECTION_HANDLING}
    # The untested factor counts for the rest of the call: the score is the weighted mean of the other four.
    assert meter.score == round(weigh({**others, OBJECTION_HANDLING: None}, RUBRICS[Blueprint.SALES]))
    assert meter.factors[OBJECTION_HANDLING] == meter.score


def test_patterns_that_matched_the_wrong_thing():
    dated = measure(call(("user", "Our customers cut churn by 75%. Shall we set up a demo?"),
                         ("assistant", "Sure, let's do a demo.")))
    assert dated.next_step_committed and not dated.next_step_dated  # "by 75%" is not a date
    booked = measure(call(("user", "Have you read the book I sent?"), ("assistant", "Not yet.")))
    assert not booked.next_step_proposed  # "book" the noun is not a step
    flattered = measure(call(("assistant", "What does it cost?"), ("user", "Great question, it's forty a month.")))
    assert flattered.listening_signals == 0
    claimed = measure(call(("user", "It cuts manual work by eighty percent."), ("assistant", "Hm.")))
    assert ValueTheme.PROOF not in claimed.value_themes  # a bare percentage is a claim, not customer proof
    financed = measure(call(("user", "Tell me about your financial reporting and what you spend your day on."),
                            ("assistant", "Mostly reconciliations.")))
    assert Topic.BUDGET not in financed.topics_covered


@pytest.mark.parametrize(("proposal", "proposed"), [
    ("It sounds worth a proper look. Could we set up a video call later this month?", True),
    ("Can I grab a quick call with you and your ops lead next week?", True),
    ("Would fifteen minutes next Tuesday work?", True),
    ("Could I take a few minutes of your time to tell you about our services?", False),  # now, not a later step
    ("It takes under two minutes with templates, watch.", False),
])
def test_a_short_meeting_or_a_quick_call_proposed_is_a_next_step(proposal, proposed):
    assert measure(call(("user", proposal), ("assistant", "Hm."))).next_step_proposed is proposed


@pytest.mark.parametrize(("answer", "agreed"), [
    ("Okay that gets my attention, how would the pilot work?", False),  # still weighing what the step involves
    ("Yes, last year. What can you tell me about the builders around here?", False),
    ("Yes definitely, when could we do it?", True),  # asking when is agreeing
    ("Sure, Thursday works.", True),
])
def test_a_buyer_still_asking_about_the_step_has_not_agreed_to_it(answer, agreed):
    metrics = measure(call(("user", "Would you be open to a thirty day pilot at no cost?"), ("assistant", answer)))
    assert metrics.next_step_committed is agreed


def test_a_step_the_buyer_asks_for_and_the_seller_confirms_is_agreed():
    asked = [("assistant", "I think we can accept five percent. Could we meet tomorrow at ten to sign?")]
    confirmed = measure(call(*asked, ("user", "Certainly, I'll bring the paperwork.")))
    refused = measure(call(*asked, ("user", "I'm afraid tomorrow won't be possible, maybe next month.")))
    assert (confirmed.next_step_committed, confirmed.next_step_dated) == (True, True)
    assert not refused.next_step_committed


@pytest.mark.parametrize("question", ["Understood, what problems are you running into with the current setup",
                                      "Your last check in was June, so what happened"])
def test_a_question_after_a_clause_with_a_noun_before_its_verb_is_a_question(question):
    assert measure(call(("user", question), ("assistant", "Leads slip through."))).candidate_questions == 1


@pytest.mark.parametrize(("buyer", "hesitates"), [
    ("This looks impressive. Does it work with what we already have, Snowflake and ServiceNow?", False),
    ("We mostly care about how it works with the CRM we already have.", False),
    ("We already have a CRM for that.", True),
])
def test_the_tools_a_buyer_has_are_an_objection_only_when_held_up_against_the_offer(buyer, hesitates):
    metrics = measure(call(("user", "Here's the dashboard."), ("assistant", buyer), ("user", "Good point.")))
    assert bool(metrics.hesitations) is hesitates


@pytest.mark.parametrize(("reply", "points"), [
    ("Ok sure, is it alright if I give you a call next week?", IGNORED),  # the stall is let go, a date asked for
    ("Sure, I'll send it right away. When should I follow up?", IGNORED),
    ("Fair enough. What's behind wanting to think it over?", EXPLORED),
])
def test_a_stall_answered_only_with_a_request_for_a_follow_up_is_let_go(reply, points):
    metrics = measure(call(("user", "So what do you think?"), ("assistant", "Well, I'd like to think it over."),
                           ("user", reply)))
    assert (metrics.hesitations, metrics.hesitation_points) == (1, points)


@pytest.mark.parametrize(("reply", "points"), [
    ("That's a shame, but sure, I can sort that. What's the reason?", EXPLORED),
    ("Really, is something wrong out there ma'am?", EXPLORED),
    ("I'll need to pass you to a cancellation specialist, please hold.", IGNORED),
])
def test_a_customer_leaving_asked_why_is_explored(reply, points):
    metrics = measure(call(("assistant", "Hi, I'd like to cancel my membership."), ("user", reply)))
    assert (metrics.hesitations, metrics.hesitation_points) == (1, points)


@pytest.mark.parametrize(("reply", "points"), [
    ("I understand. How big is the team and what budget are you working with?", ACKNOWLEDGED),  # moves on
    ("I understand. What worries you most about the rollout?", EXPLORED),
    ("I understand, why is that?", EXPLORED),
    ("Thanks for telling me. Can you walk me through what their proposal covers?", EXPLORED),
])
def test_an_acknowledgement_and_a_question_on_something_else_does_not_explore_a_worry(reply, points):
    worry = ("assistant", "The team doesn't use our CRM. And we're worried about cost and how long a rollout takes.")
    metrics = measure(call(("user", "What problems are you having?"), worry, ("user", reply)))
    assert (metrics.hesitations, metrics.hesitation_points) == (1, points)


@pytest.mark.parametrize(("claim", "grounded"), [
    ("For a team drowning in manual work, most clients get a three hundred percent return on it.", False),  # hype
    ("It cuts your team's manual work by eighty percent.", False),
    ("We've helped similar companies cut the manual work your team does by eighty percent.", True),
    ("A pilot with your team: if it doesn't cut the manual work by eighty percent, you pay nothing.", True),
    ("Your team loses twenty hours to manual work, so that's twenty hours a week you save.", True),
])
def test_a_gain_claimed_as_a_rate_the_buyer_never_gave_is_hype_not_value(claim, grounded):
    metrics = measure(call(("user", "What slows your team down?"),
                           ("assistant", "Manual work, our team loses twenty hours a week to it."), ("user", claim)))
    assert bool(metrics.grounded_value) is grounded


def test_sparing_the_buyer_what_weighs_on_them_is_value_built_on_their_words():
    metrics = measure(call(("assistant", "We pay bills on an empty house and don't know what to do with mum's things."),
                           ("user", "We buy as it is, so you don't have to clear your mum's things and the bills on "
                                    "the empty house stop.")))
    assert metrics.grounded_value == 1


@pytest.mark.parametrize(("answer", "agreed"), [("Sure, my neighbour can send them.", True),
                                                ("Yes, that's fine.", True), ("No, please don't call.", False)])
def test_the_sellers_own_next_move_agreed_by_the_buyer_is_an_agreed_step(answer, agreed):
    metrics = measure(call(("user", "I'll get you an offer by tomorrow afternoon and call you both. Could you send "
                                    "some photos?"), ("assistant", answer)))
    assert metrics.next_step_proposed
    assert (metrics.next_step_committed, metrics.next_step_dated) == (agreed, agreed)


def test_a_no_answering_a_question_about_the_buyer_refuses_no_step():
    answered = measure(call(("user", "Any liens or unpaid taxes you know of?"),
                            ("assistant", "No, the mortgage was paid off years ago."),
                            ("user", "That keeps it simple. I'll get you an offer by tomorrow afternoon."),
                            ("assistant", "Sure, thanks.")))
    assert (answered.pushes_after_decline, answered.next_step_dated) == (0, True)
    refused = measure(call(("user", "Shall we set up a demo on Friday?"), ("assistant", "No."),
                           ("user", "I'll call you tomorrow then.")))
    assert refused.pushes_after_decline == 1


def test_a_buyer_who_opens_up_counts_for_rapport_whoever_talks_more():
    questions = ("user", "What's making you look at a new car?"), ("user", "Who else will drive it?")
    terse = measure(call(questions[0], ("assistant", "Old one broke."), questions[1], ("assistant", "My wife.")))
    opened = measure(call(questions[0], ("assistant", "It's ten years old, the air conditioning has gone and the "
                                                      "repairs now cost more than the car is worth to us."),
                          questions[1], ("assistant", "My wife sometimes, she keeps the big car for the school run "
                                                      "and I'd take this one to work every day.")))
    assert factor_scores(opened)[RAPPORT] > factor_scores(terse)[RAPPORT]


# The 116 English calls of the first two directories, on which the rules were designed before the third part measured
# them; all English calls are development data now.
CORPUS = load_calls(first_english(2))
# What the fitted meter reaches on the calls it was designed on (docs/say_meter.md, 0.84, also with the weights left
# out one call at a time): a guard against changes that undo it, not the figure that measures it.
MIN_DEVELOPMENT_SPEARMAN = 0.8
# The same guard on the first three English directories, 159 calls (0.77 in sample and left out one at a time), on the
# first four, 203 calls, the fourth scored once blind at 0.40 before it became development data (0.71 then), and on
# all six, 301 calls, the fifth scored once blind at 0.53 (0.67 then) and the sixth at 0.49 (the words' model in sample
# since).
MIN_FIRST_THREE_ENGLISH_SPEARMAN = 0.75
MIN_FIRST_FOUR_ENGLISH_SPEARMAN = 0.7
MIN_ALL_ENGLISH_SPEARMAN = 0.65


@functools.cache
def _development_scores() -> dict[tuple[str, str], int]:
    """The meter's score of every English development call, measured once for all the parts that hold it."""
    return {(c["directory"], c["id"]): score(measure(turns_of(c)), Blueprint.SALES).score
            for c in load_calls(ALL_ENGLISH)}


def scores_and_labels(calls: list[dict]) -> tuple[list[int], list[int]]:
    scores = _development_scores()
    return [scores[c["directory"], c["id"]] for c in calls], [c["label"] for c in calls]


def test_the_meter_ranks_the_corpus_as_the_coach_does_with_rising_means():
    scores, labels = scores_and_labels(CORPUS)
    assert spearman(scores, labels) >= MIN_DEVELOPMENT_SPEARMAN
    means = [statistics.fmean(s for s, lab in zip(scores, labels, strict=True) if lab == label)
             for label in sorted(set(labels))]
    assert means == sorted(means)
    assert set(FACTORS) == set(RUBRICS[Blueprint.SALES])


@pytest.mark.parametrize(("part", "least"), [(first_english(3), MIN_FIRST_THREE_ENGLISH_SPEARMAN),
                                             (first_english(4), MIN_FIRST_FOUR_ENGLISH_SPEARMAN),
                                             (ALL_ENGLISH, MIN_ALL_ENGLISH_SPEARMAN)])
def test_the_meter_ranks_the_later_english_development_calls_as_the_coach_does(part: str, least: float) -> None:
    scores, labels = scores_and_labels(load_calls(part))
    assert spearman(scores, labels) >= least
