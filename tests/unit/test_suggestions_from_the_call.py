"""Suggestions drawn from the call: each cites the messages it answers and quotes them; curveballs come from the
persona and the scenario at the call's stage, never one the call has made moot; nothing made is made again."""

from __future__ import annotations

from analysis_svc.domain.conversation import Topic, measure
from analysis_svc.domain.suggestions import (
    CallContext,
    CallStage,
    SuggestionType,
    not_made,
    quote,
    suggest,
)
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn

SCENARIO = CallContext(
    objection_patterns=("We tried a spend tool two years ago and nobody logged in after the first month.",
                        "Is there a smaller package? The price is more than I can get approved.",
                        "I'd need to run it by Sarah first, she signs off."),
    pain_points=("Renewals auto-renew before anyone reviews usage",),
    budget_range="$40k-$90k per year",
    decision_timeline="decision by end of Q2",
)


def call(*lines: tuple[str, str], start: int = 1) -> list[Turn]:
    return [Turn(sequence, Role(role), text) for sequence, (role, text) in enumerate(lines, start=start)]


def suggestions_for(turns: list[Turn], stage: CallStage, **kwargs):
    return suggest(measure(turns), turns, Blueprint.SALES, stage, **kwargs)


def of_type(suggestions, kind: SuggestionType):
    return [s for s in suggestions if s.type == kind]


OPENING = call(
    ("user", "Thanks for taking the call. What made you take it today?"),
    ("assistant", "Honestly our finance team is two people and they spend every Friday chasing card receipts."),
    ("user", "That sounds painful. Which part of that takes the longest?"),
    ("assistant", "Working out who owns each subscription, nobody knows who signed up for half of them."),
)


def test_every_suggestion_cites_messages_of_the_window_and_quotes_them():
    suggestions = suggestions_for(OPENING, CallStage.EARLY, context=SCENARIO)
    by_sequence = {turn.sequence: turn for turn in OPENING}
    assert suggestions
    for suggestion in suggestions:
        assert suggestion.cites and set(suggestion.cites) <= set(by_sequence)
        assert any(quote(by_sequence[sequence].text) in suggestion.text for sequence in suggestion.cites)


def test_a_followup_builds_on_the_buyers_latest_words():
    followups = of_type(suggestions_for(OPENING, CallStage.EARLY), SuggestionType.FOLLOWUP_QUESTION)
    assert followups and all(f.cites == (4,) and "nobody knows who signed up" in f.text for f in followups)


def test_a_topic_the_whole_call_covered_is_not_asked_about_though_the_window_lacks_it():
    window = SETTLED[2:]
    whole_call = measure(SETTLED)
    assert Topic.BUDGET in whole_call.topics_covered and Topic.BUDGET not in measure(window).topics_covered
    assert "Uncover budget" in {s.label for s in suggest(measure(window), window, Blueprint.SALES, CallStage.EARLY)}
    assert "Uncover budget" not in {s.label for s in suggest(whole_call, window, Blueprint.SALES, CallStage.EARLY)}


def test_an_unanswered_objection_is_quoted_and_cited():
    turns = call(
        ("user", "We can roll this out to every team next month."),
        ("assistant", "Honestly it's too expensive for us right now, the price is way over what we pay today."),
        ("user", "Let me walk you through the feature list."),
    )
    (followup, *_) = of_type(suggestions_for(turns, CallStage.MIDDLE), SuggestionType.FOLLOWUP_QUESTION)
    assert followup.label == "Unanswered price objection (message 2)" and followup.cites == (2,)
    assert "too expensive for us right now" in followup.text


def test_the_value_injection_names_the_theme_the_call_is_about_not_the_first_in_the_alphabet():
    turns = call(
        ("user", "It pays for itself: customers cut costs by a third."),
        ("assistant", "Go on."),
        ("user", "And it saves time: teams save 10 hours a week on reconciliation."),
        ("assistant", "Where does the time go now?"),
        ("user", "You'd save hours every week, and you get those hours back on approvals too."),
    )
    (reward,) = [s for s in suggestions_for(turns, CallStage.MIDDLE) if s.label.startswith("Reward")]
    assert reward.label == "Reward time savings" and reward.cites == (3, 5)


def test_long_pitches_and_long_answers_cite_the_messages_that_ran_long():
    pitch, answer = " ".join(["feature"] * 50), " ".join(["detail"] * 70)
    turns = call(("assistant", answer), ("user", pitch), ("user", pitch), ("assistant", answer))
    suggestions = suggestions_for(turns, CallStage.EARLY)
    injections = {s.label: s for s in of_type(suggestions, SuggestionType.CONTEXT_INJECTION)}
    assert injections["Interrupt the pitch"].cites == (2, 3)
    assert injections["Shorter answers"].cites == (1, 4)


def test_curveballs_come_from_the_persona_and_the_scenario_at_the_right_stage():
    early = of_type(suggestions_for(OPENING, CallStage.EARLY, context=SCENARIO), SuggestionType.CURVEBALL)
    assert early[0].text.startswith('Raise your own objection: "We tried a spend tool two years ago')
    assert early[0].cites == (3,)  # the candidate's latest message, the one the persona answers
    late = of_type(suggestions_for(OPENING, CallStage.LATE, context=SCENARIO), SuggestionType.CURVEBALL)
    # Price and sign-off wait for something to buy; an old grudge belongs to the opening.
    assert late[0].label.startswith("Objection: ") and "We tried" not in late[0].text


def test_each_stage_reaches_the_scenario_once_the_persona_objections_are_made():
    objections = {f"Objection: {quote(pattern)}" for pattern in SCENARIO.objection_patterns}
    middle = of_type(suggestions_for(OPENING, CallStage.MIDDLE, context=SCENARIO, made=objections),
                     SuggestionType.CURVEBALL)
    assert middle[0].label == "Pain: Renewals auto-renew before anyone reviews usage"
    middle = of_type(suggestions_for(OPENING, CallStage.MIDDLE, context=SCENARIO, made={*objections, middle[0].label}),
                     SuggestionType.CURVEBALL)
    assert middle[0].label == "Budget Ceiling" and "$40k-$90k per year" in middle[0].text
    late = of_type(suggestions_for(OPENING, CallStage.LATE, context=SCENARIO, made=objections),
                   SuggestionType.CURVEBALL)
    assert late[0].label == "Hard Deadline" and "decision by end of Q2" in late[0].text


SETTLED = call(
    ("user", "What budget have you set aside for this?"),
    ("assistant", "We have about sixty thousand a year approved for it."),
    ("user", "Who else is involved in the decision?"),
    ("assistant", "Just me and our CFO, and she is on the call with me today."),
    ("user", "By when do you need it live?"),
    ("assistant", "Before the end of June, for the board pack."),
)


def test_no_curveball_the_call_has_made_moot():
    for stage in CallStage:
        labels = {s.label for s in suggestions_for(SETTLED, stage, context=SCENARIO)}
        assert not labels & {"Budget Ceiling", "Hard Deadline", "Wrong Person", "New Stakeholder", "Budget Freeze",
                             "Discount Demand", "Delayed Decision"}
        assert not any(label.startswith("Objection: Is there a smaller package") for label in labels)
        assert not any(label.startswith("Objection: I'd need to run it by Sarah") for label in labels)


def test_wrong_person_is_moot_with_the_other_stakeholder_on_the_call():
    turns = call(("user", "Hi both, thanks for joining."), ("assistant", "Happy to, my colleague is joining us too."))
    made = {"Short on Time", "Skeptical Opener"}
    assert "Wrong Person" in {s.label for s in suggestions_for(turns[:1], CallStage.EARLY, made=made)}
    assert "Wrong Person" not in {s.label for s in suggestions_for(turns, CallStage.EARLY, made=made)}


def test_a_pain_point_the_call_already_spoke_of_is_not_a_curveball():
    turns = call(("assistant", "Our renewals auto-renew before anyone reviews usage."), ("user", "How often?"))
    labels = {s.label for s in suggestions_for(turns, CallStage.MIDDLE, context=CallContext(
        pain_points=SCENARIO.pain_points))}
    assert not any(label.startswith("Pain: ") for label in labels)


def test_nothing_already_made_in_the_session_is_made_again():
    first = suggestions_for(OPENING, CallStage.EARLY, context=SCENARIO)
    again = suggestions_for(OPENING, CallStage.EARLY, context=SCENARIO, made={s.label for s in first})
    assert not {s.label for s in first} & {s.label for s in again}
    assert of_type(again, SuggestionType.CURVEBALL)  # another curveball takes the made one's place


def test_a_quote_is_cut_at_a_word_within_its_limit():
    assert quote("  It   pays\nfor itself.  ") == "It pays for itself."
    assert quote("one two three four", limit=12) == "one two..."
    assert len(quote("x" * 500, limit=20)) == 20


def test_not_made_keeps_each_label_once():
    first = suggestions_for(OPENING, CallStage.EARLY)
    assert not_made([*first, *first], {first[0].label}) == first[1:]


def test_a_window_without_the_candidate_gets_no_curveball_to_cite():
    turns = call(("assistant", "Hello? Is anyone there? I have a meeting in five minutes."))
    assert not of_type(suggestions_for(turns, CallStage.EARLY, context=SCENARIO), SuggestionType.CURVEBALL)


def test_blank_and_very_long_persona_and_scenario_words_keep_suggestions_within_the_contract():
    endless = " ".join(["renewals"] * 4000)  # 36,000 characters, past what the persona service accepts
    context = CallContext(objection_patterns=("", "   ", endless), pain_points=(" ", endless),
                          budget_range=endless, decision_timeline=endless)
    raised = []
    for stage in CallStage:
        made: set[str] = set()
        while curveballs := of_type(suggestions_for(OPENING, stage, context=context, made=made),
                                    SuggestionType.CURVEBALL):
            raised.extend(curveballs)
            made.update(s.label for s in curveballs)
    assert {"Budget Ceiling", "Hard Deadline"} <= {s.label for s in raised}
    assert all(len(s.text) <= 2000 and len(s.label) <= 100 for s in raised)
    assert not any(s.label in ("Objection: ", "Pain: ") or '""' in s.text for s in raised)  # blanks are skipped
