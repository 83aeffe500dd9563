"""The local analysis engine without I/O: conversation measures, the Say Meter per blueprint, and suggestions,
on short realistic transcripts."""

from __future__ import annotations

import dataclasses

import pytest

from analysis_svc.domain.conversation import ObjectionKind, Topic, ValueTheme, measure
from analysis_svc.domain.interviewer_texts import ENGLISH
from analysis_svc.domain.say_meter import (
    CLOSING_MOMENTUM,
    FACTORS,
    OBJECTION_HANDLING,
    RUBRICS,
    VALUE_ARTICULATION,
    Band,
    Blueprint,
    band_for,
    factor_scores,
    score,
)
from analysis_svc.domain.suggestions import (
    CURVEBALLS,
    CallStage,
    Priority,
    SuggestionType,
    stage_for,
    suggest,
)
from analysis_svc.domain.tracks import fullstack
from calls.turns import Role, Turn


def transcript(*lines: tuple[str, str], start: int = 1) -> list[Turn]:
    return [Turn(sequence, Role(role), text) for sequence, (role, text) in enumerate(lines, start=start)]


STRONG_SALES_CALL = transcript(
    ("assistant", "Hi, this is Dana from Northwind Logistics. You have fifteen minutes."),
    ("user", "Thanks for making the time, Dana. What made you take the call today?"),
    ("assistant", "Our dispatch team is drowning in manual scheduling. We keep missing delivery windows."),
    ("user", "That sounds painful. How often are windows missed, and what does that cost you?"),
    ("assistant", "Maybe thirty a week. Each one is a refund, and customers complain to my boss."),
    ("user", "So what I'm hearing is the refunds and the complaints both land on you. "
             "Have you set aside a budget to fix this?"),
    ("assistant", "We have about 40k for this year. Honestly though, your tool looks expensive."),
    ("user", "That's a fair concern. Teams like yours usually save 15 hours a week, "
             "so it pays for itself in about four months."),
    ("assistant", "Hm. Who would need to be involved on our side? I'd have to run it by my CFO."),
    ("user", "Makes sense. What would your CFO need to see to sign off, and by when do you need this live?"),
    ("assistant", "A business case, and we want it live before peak season in October."),
    ("user", "Got it. What would success look like for you by October?"),
    ("assistant", "Missed windows under five a week."),
    ("user", "Then let's set up a two-week pilot with your dispatch team. Can we book Tuesday to kick it off?"),
    ("assistant", "Yes, Tuesday works for me. Send me the invite."),
)

POOR_SALES_CALL = transcript(
    ("assistant", "Hi, this is Dana from Northwind Logistics."),
    ("user", "Hi Dana. Let me tell you about our platform. We are the leading scheduling solution on the market. "
             "Our product has route optimisation, a driver app, a customer portal, live tracking, analytics "
             "dashboards, forty integrations and an award-winning support team. We were founded in 2015 and "
             "have offices in six countries. Our engineers built everything in house and we release new features "
             "every two weeks. Our platform is used by logistics companies all over the world and our "
             "customers love the interface, which won a design award last year. We also have an API for everything."),
    ("assistant", "Okay. That sounds expensive, and we already use a competitor for routing."),
    ("user", "Our platform also has a mobile app and a reporting module with twenty standard reports. "
             "It runs in the cloud and you can log in from anywhere."),
    ("assistant", "Honestly we're happy with what we have. Spreadsheets work fine for now."),
    ("user", "We also offer training. I can send you a brochure with all the features."),
    ("assistant", "Sure, I'll think about it."),
)

ENGINEERING_INTERVIEW = transcript(
    ("assistant", "We need a service that ingests webhook events from our payment provider."),
    ("user", "Before I design anything, what problem are you seeing with the current setup?"),
    ("assistant", "Events get dropped when the provider retries, and we double-charge sometimes."),
    ("user", "That's a real concern. How would you measure success, duplicate charges at zero?"),
    ("assistant", "Zero duplicates, and every event processed within a minute."),
    ("user", "When does this need to ship, and who reviews the design?"),
    ("assistant", "End of the quarter. The platform lead signs off. I'm worried a rewrite is risky though."),
    ("user", "I understand. We could roll it out in phases behind a flag with a rollback path, "
             "starting with idempotency keys so retries are safe."),
    ("assistant", "Okay, that could work."),
)


@pytest.fixture(scope="module")
def strong():
    return measure(STRONG_SALES_CALL)


@pytest.fixture(scope="module")
def poor():
    return measure(POOR_SALES_CALL)


def test_strong_call_metrics(strong):
    assert strong.turn_count == 15
    assert strong.candidate_turns == 7
    assert 0.35 < strong.candidate_talk_ratio < 0.65
    assert strong.candidate_talk_ratio + strong.persona_talk_ratio == pytest.approx(1.0)
    assert strong.candidate_question_rate >= 0.8
    assert strong.candidate_open_questions >= 4
    assert strong.topics_covered == frozenset(Topic)
    assert [o.kind for o in strong.objections] == [ObjectionKind.PRICE, ObjectionKind.AUTHORITY]
    assert strong.objections_handled == 2
    assert {ValueTheme.TIME_SAVINGS, ValueTheme.COST_SAVINGS} <= strong.value_themes
    assert strong.next_step_proposed and strong.next_step_committed


def test_poor_call_metrics(poor):
    assert poor.candidate_talk_ratio > 0.75
    assert poor.candidate_questions == 0
    assert poor.longest_monologue.role == Role.USER
    assert poor.candidate_longest_monologue_words == poor.longest_monologue.words > 80
    assert {o.kind for o in poor.objections} >= {
        ObjectionKind.PRICE,
        ObjectionKind.COMPETITOR,
        ObjectionKind.STATUS_QUO,
    }
    assert poor.objections_handled == 0
    assert Topic.BUDGET not in poor.topics_covered
    assert not poor.next_step_committed  # "I'll think about it" is not a commitment


def test_consecutive_turns_of_one_speaker_are_one_monologue():
    metrics = measure(transcript(("user", "one two three"), ("user", "four five"), ("assistant", "six")))
    assert metrics.longest_monologue.words == 5
    assert metrics.candidate_words_per_turn == 2.5


def test_questions_without_question_marks_are_counted():
    # Speech-to-text often drops punctuation.
    metrics = measure(transcript(("user", "what is your budget for this"), ("assistant", "Around 20k.")))
    assert metrics.candidate_questions == 1
    assert Topic.BUDGET in metrics.topics_covered


def test_empty_window_measures_zero():
    metrics = measure([])
    assert metrics.candidate_talk_ratio == 0.0
    assert metrics.longest_monologue.role is None
    assert score(metrics, Blueprint.SALES).band == Band.RED


def test_objection_acknowledged_but_not_addressed_is_not_handled():
    metrics = measure(
        transcript(
            ("assistant", "Honestly this is too expensive for us."),
            ("user", "I understand. Anyway, let me show you our dashboard."),
        )
    )
    assert metrics.objections_raised == 1
    assert metrics.objections_handled == 0


def test_strong_call_scores_clearly_above_poor_call(strong, poor):
    # The rules alone, as a call the words are not read in (another language) is scored.
    good, bad = (score(dataclasses.replace(metrics, sales_terms=None), Blueprint.SALES) for metrics in (strong, poor))
    assert good.score - bad.score >= 40
    assert good.band == Band.GREEN
    assert bad.band == Band.RED
    for factor in FACTORS:
        assert good.factors[factor] >= bad.factors[factor]
    assert "objection unanswered" in bad.reasoning


def test_the_words_keep_the_strong_call_above_the_poor_one(strong, poor):
    good, bad = score(strong, Blueprint.SALES), score(poor, Blueprint.SALES)
    assert good.score > bad.score
    for factor in FACTORS:
        assert good.factors[factor] >= bad.factors[factor]
    assert "objection unanswered" in bad.reasoning


@pytest.mark.parametrize(
    ("value", "band"), [(0, Band.RED), (49, Band.RED), (50, Band.YELLOW), (79, Band.YELLOW), (80, Band.GREEN)]
)
def test_band_boundaries(value, band):
    assert band_for(value) == band


def test_rubrics_sum_to_100():
    for weights in RUBRICS.values():
        assert set(weights) == set(FACTORS)
        assert sum(weights.values()) == 100


def test_engineering_interview_is_not_punished_for_no_close():
    metrics = measure(ENGINEERING_INTERVIEW)
    assert not metrics.next_step_committed
    assert metrics.objections[0].kind == ObjectionKind.RISK and metrics.objections[0].handled
    engineering = score(metrics, Blueprint.FULLSTACK, fullstack.RUBRIC.tally(ENGINEERING_INTERVIEW))
    assert CLOSING_MOMENTUM not in engineering.factors, "the full-stack rubric has no close to miss"
    assert "next step" not in engineering.reasoning and "next step" not in " ".join(
        ENGLISH.track_gaps[Blueprint.FULLSTACK, name] for name in engineering.factors)
    assert factor_scores(metrics)[OBJECTION_HANDLING] == 100


def test_scoring_is_deterministic(strong):
    assert measure(STRONG_SALES_CALL) == strong
    assert score(strong, Blueprint.SALES) == score(measure(list(reversed(STRONG_SALES_CALL))), "sales")


@pytest.mark.parametrize("recase", [str.upper, str.title, str.swapcase], ids=["upper", "title", "swapcase"])
def test_measures_do_not_depend_on_letter_case(strong, poor, recase):
    # Speech-to-text capitalises as it likes; "BUDGET" and "Budget" are the same question.
    for call, measured in ((STRONG_SALES_CALL, strong), (POOR_SALES_CALL, poor)):
        assert measure([Turn(turn.sequence, turn.role, recase(turn.text)) for turn in call]) == measured


@pytest.mark.parametrize(("count", "stage"), [(1, CallStage.EARLY), (12, CallStage.MIDDLE), (30, CallStage.LATE)])
def test_call_stage_by_message_count(count, stage):
    assert stage_for(count) == stage


def test_budget_uncovered_late_is_a_high_priority_followup():
    turns = transcript(
        ("user", "What is the biggest problem with dispatch today?"),
        ("assistant", "Manual scheduling is slow and we lose customers."),
        start=31,
    )
    suggestions = suggest(measure(turns), turns, Blueprint.SALES, stage_for(32))
    budget = [s for s in suggestions if s.type == SuggestionType.FOLLOWUP_QUESTION and "budget" in s.text]
    assert budget and budget[0].priority == Priority.HIGH
    assert suggestions[0].priority == Priority.HIGH  # most urgent first
    early = suggest(measure(turns), turns, Blueprint.SALES, CallStage.EARLY)
    assert all(s.priority == Priority.LOW for s in early if s.type == SuggestionType.FOLLOWUP_QUESTION)


def test_unanswered_objection_and_monologue_raise_suggestions(poor):
    suggestions = suggest(poor, POOR_SALES_CALL, Blueprint.SALES, CallStage.EARLY)
    labels = {s.label for s in suggestions}
    assert "Interrupt the pitch" in labels
    assert any(label.startswith("Unanswered") for label in labels)


def test_value_articulated_makes_the_persona_show_interest(strong):
    suggestions = suggest(strong, STRONG_SALES_CALL, Blueprint.SALES, CallStage.MIDDLE)
    injections = [s for s in suggestions if s.type == SuggestionType.CONTEXT_INJECTION]
    (reward,) = [s for s in injections if s.label.startswith("Reward")]
    assert reward.cites and all(STRONG_SALES_CALL[sequence - 1].role == Role.USER for sequence in reward.cites)
    assert not [s for s in suggestions if s.type == SuggestionType.FOLLOWUP_QUESTION]  # everything covered


@pytest.mark.parametrize("blueprint", list(Blueprint))
@pytest.mark.parametrize("stage", list(CallStage))
def test_curveball_comes_from_the_stage_library_deterministically(strong, blueprint, stage):
    first = suggest(strong, STRONG_SALES_CALL, blueprint, stage)
    again = suggest(strong, STRONG_SALES_CALL, blueprint, stage)
    assert first == again
    curveballs = [s for s in first if s.type == SuggestionType.CURVEBALL]
    assert len(curveballs) <= 1 and {c.label for c in curveballs} <= {c.label for c in CURVEBALLS[blueprint][stage]}
    if blueprint == Blueprint.SALES and stage == CallStage.LATE:
        assert not curveballs  # the call settled budget, timeline and sign-off: every late one is moot


def test_curveball_never_repeats_one_already_made(strong):
    made: set[str] = set()
    for window_start in range(1, 20, 10):  # two of the three middle ones: the budget freeze is moot
        turns = transcript(*[("user", "How is it going?")] * 10, start=window_start)
        suggestions = suggest(strong, turns, Blueprint.SALES, CallStage.MIDDLE, made=made)
        (curveball,) = [s for s in suggestions if s.type == SuggestionType.CURVEBALL]
        assert curveball.label not in made
        made.add(curveball.label)


# How it was said, on speech-to-text as it comes: loose punctuation, spelled-out numbers, discourse markers.


def test_spoken_questions_after_a_lead_in_or_a_clause_are_counted():
    metrics = measure(transcript(
        ("user", "so um, how are you handling reminders today"),
        ("assistant", "Front desk calls people the day before, when they have time."),
        ("user", "and when the front desk doesn't get to it what happens"),
        ("assistant", "A no-show is about a hundred ten in lost revenue."),
        ("user", "got it. if this went really well, what would good look like for you"),
        ("assistant", "No-shows under ten percent."),
        ("user", "what we do differently is the reminder confirms straight into your calendar."),
    ))  # fmt: skip
    assert metrics.candidate_questions == 3  # the last sentence describes the product, it asks nothing
    assert Topic.SUCCESS_CRITERIA in metrics.topics_covered
    assert metrics.followup_questions == 1  # "when the front desk doesn't get to it" picks up the buyer's answer


def test_a_leading_question_is_not_curiosity():
    metrics = measure(transcript(("user", "wouldn't you agree it'd be easier to have it all in one place"),
                                 ("assistant", "In theory.")))
    assert metrics.candidate_questions == 0 and metrics.leading_questions == 1


def test_a_day_named_in_answer_to_a_proposal_is_a_dated_commitment():
    metrics = measure(transcript(
        ("user", "what I'd suggest is a working session with your IT director. would next Tuesday or Wednesday work"),
        ("assistant", "Wednesday the fourteenth, afternoon. I'll pull in Mark from IT."),
    ))  # fmt: skip
    assert metrics.next_step_committed and metrics.next_step_dated
    assert factor_scores(metrics)[CLOSING_MOMENTUM] == 100


@pytest.mark.parametrize("reply", ["sure maybe", "I don't know. send me an email and I'll look at my calendar"])
def test_a_brush_off_is_not_a_commitment(reply):
    metrics = measure(transcript(("user", "I'll send over a deck, maybe we can touch base next week sometime"),
                                 ("assistant", reply)))
    assert metrics.next_step_proposed and not metrics.next_step_committed
    assert metrics.pushes_after_decline == 0  # a brush-off is not a no


def test_the_buyer_naming_a_day_in_passing_is_not_a_commitment():
    metrics = measure(transcript(("user", "what happens when someone doesn't show"),
                                 ("assistant", "The manager works a double, like on black friday last year.")))
    assert not metrics.next_step_committed


def test_yes_but_is_arguing_not_handling_the_objection():
    metrics = measure(transcript(
        ("assistant", "we actually built some internal scripts for a lot of that"),
        ("user", "yeah a lot of people say that but scripts don't scale, and we're different"),
    ))  # fmt: skip
    assert [o.kind for o in metrics.objections] == [ObjectionKind.COMPETITOR]
    assert metrics.objections_handled == 0
    assert metrics.dismissals == 1 and metrics.listening_signals == 0
    assert "argued with the buyer" in score(metrics, Blueprint.SALES).reasoning


def test_an_objection_answered_with_evidence_is_handled():
    metrics = measure(transcript(
        ("assistant", "honestly my worry is every vendor says they integrate and then it's a nightly export"),
        ("user", "that's a very fair worry. Lakeshore went from sixteen to nine percent no-shows on our integration, "
                 "I can put you in touch with their ops manager"),
    ))  # fmt: skip
    assert [o.kind for o in metrics.objections] == [ObjectionKind.RISK]
    assert metrics.objections_handled == 1


def test_a_discount_is_not_an_answer_to_an_objection():
    metrics = measure(transcript(
        ("assistant", "That's too expensive for us."),
        ("user", "I totally get it. if you sign by end of month I can knock twenty percent off."),
    ))  # fmt: skip
    assert metrics.objections_handled == 0
    assert ValueTheme.PROOF not in metrics.value_themes


def test_pushing_a_next_step_after_a_no_costs_rapport_and_momentum():
    metrics = measure(transcript(
        ("user", "let me put you down for Tuesday at ten for the site survey"),
        ("assistant", "no. take me off your list"),
        ("user", "ok no worries, I'll just pencil in Wednesday and Luis will call you to confirm"),
    ))  # fmt: skip
    assert metrics.pushes_after_decline == 1 and not metrics.next_step_committed
    assert (factor_scores(metrics)[CLOSING_MOMENTUM] or 0) < 20  # worse than never asking
    assert "kept pushing" in score(metrics, Blueprint.SALES).reasoning


def test_value_built_on_the_buyers_words_beats_a_feature_list():
    tailored = measure(transcript(
        ("assistant", "Overtime is killing us, the dispatchers rebuild routes by hand every morning."),
        ("user", "Valley Fresh had the same problem. Routes lock at dispatch so nobody rebuilds them by hand, and "
                 "they brought overtime down twenty three percent in five months."),
    ))  # fmt: skip
    listed = measure(transcript(
        ("assistant", "Overtime is killing us, the dispatchers rebuild routes by hand every morning."),
        ("user", "We do route optimisation, live tracking, a driver app, proof of delivery, analytics dashboards, "
                 "and forty integrations, and customers save thirty percent on average."),
    ))  # fmt: skip
    assert tailored.tailored_value_statements == 1 and tailored.feature_dumps == 0
    assert listed.feature_dumps == 1 and listed.tailored_value_statements == 0
    assert (factor_scores(tailored)[VALUE_ARTICULATION] or 0) > (factor_scores(listed)[VALUE_ARTICULATION] or 0)
