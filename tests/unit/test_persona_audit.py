"""Post-call persona audit: only the persona's side, scored 1-10 against its difficulty and traits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from calls.fitted_flaws import FlawClassifier
from calls.persona_audit import (
    MAX_QUOTE_CHARS,
    AuditRules,
    FlagReason,
    PersonaAudit,
    PersonaProfile,
    Reading,
    WordRange,
    audit_persona,
    target_words_per_turn,
)
from calls.scenario_facts import ScenarioFacts, digits, spans_in_weeks
from calls.turns import Role, Turn

# The rules without the fitted classifiers: what a test of one rule's reading audits with.
RULES_ALONE: dict[str, FlawClassifier] = {}

SCEPTIC = PersonaProfile(
    archetype="owl",
    difficulty=5,
    personality_traits=("sceptical", "blunt"),
    traits={"openness": 0.4, "conscientiousness": 0.8, "extraversion": 0.3, "agreeableness": 0.2, "neuroticism": 0.5},
)
WARM = PersonaProfile(
    archetype="lamb", difficulty=1, personality_traits=("warm", "polite"), traits={"Agreeableness": 0.9}
)


def call(*persona_lines: str, candidate: str = "What is your biggest problem with onboarding right now?") -> list[Turn]:
    """Candidate and persona alternate, the candidate first."""
    turns = []
    for index, line in enumerate(persona_lines):
        turns.append(Turn(2 * index + 1, Role.USER, candidate))
        turns.append(Turn(2 * index + 2, Role.ASSISTANT, line))
    return turns


WELL_PLAYED = call(
    "Onboarding takes us three weeks. Too long.",
    "We tried two tools already. Neither stuck.",
    "Budget exists, but I need proof first.",
    "Who else your size actually uses this?",
    "Fine. Send numbers and we'll see.",
    "Maybe a pilot. Nothing signed yet.",
)

RAMBLING = call(
    "Well, so onboarding is a long story really, we have about forty people joining every quarter and each of "
    "them needs accounts, laptops, training sessions, a buddy, and a whole bunch of paperwork from HR that "
    "nobody ever reads, and honestly it takes weeks before anyone is productive at all.",
    "We did try a couple of tools before, one was a spreadsheet template and the other was some software that "
    "the previous head of people bought, and neither of them really stuck because nobody owned the process and "
    "the managers kept doing their own thing anyway, so here we are again talking about it.",
    "Budget is a complicated question because it depends on the fiscal year and whether finance agrees that this "
    "is a priority compared to everything else we are trying to fix this year, which is quite a lot of things.",
)

LEAKY = call(
    "Great question. Onboarding takes three weeks.",
    "I appreciate that. We tried two tools.",
    "Oh wow, that's amazing! Really! Tell me more.",
    "I appreciate that, but budget is tight.",
)


def test_targets_shorten_with_difficulty() -> None:
    assert target_words_per_turn(5) == WordRange(5, 12)
    assert target_words_per_turn(1) == WordRange(15, 35)
    ranges = [target_words_per_turn(level) for level in range(1, 6)]
    assert [r.max_words for r in ranges] == sorted((r.max_words for r in ranges), reverse=True)
    assert all(r.min_words < r.max_words for r in ranges)
    for bad in (0, 6):
        with pytest.raises(ValueError):
            target_words_per_turn(bad)
    with pytest.raises(ValueError):
        PersonaProfile(archetype="owl", difficulty=9)


def test_a_well_played_persona_scores_high() -> None:
    audit = audit_persona(WELL_PLAYED, SCEPTIC)
    assert audit.persona_turn_count == 6
    assert audit.target_words_per_turn == WordRange(5, 12)
    assert 5 <= audit.avg_words_per_turn <= 12
    assert all(score >= 9 for score in audit.scores.as_tuple()), audit.scores
    assert audit.overall_score >= 9.0
    assert audit.flagged_quotes == ()
    assert audit.recommendations == ()


def test_a_persona_that_talks_far_too_long() -> None:
    audit = audit_persona(RAMBLING, SCEPTIC)
    assert audit.avg_words_per_turn > 30
    assert audit.scores.brevity <= 2
    too_long = [quote for quote in audit.flagged_quotes if quote.reason == FlagReason.TOO_LONG]
    assert [quote.sequence for quote in too_long] == [4, 2, 6]  # worst (most words) first
    assert "target 5-12" in too_long[0].explanation
    assert too_long[0].explanation.split()[0].isdigit()
    assert "Keep answers to 5-12 words until the candidate earns more." in audit.recommendations
    # The same answers from an easy persona are within reach of its longer target.
    easy = audit_persona(RAMBLING, PersonaProfile(archetype="lamb", difficulty=1))
    assert easy.scores.brevity > audit.scores.brevity
    assert easy.target_words_per_turn == WordRange(15, 35)


def test_a_persona_that_leaks_enthusiasm() -> None:
    audit = audit_persona(LEAKY, SCEPTIC)
    assert audit.scores.enthusiasm_leak <= 2
    assert audit.scores.brevity >= 8  # short answers, the problem is the tone
    leaks = [quote for quote in audit.flagged_quotes if quote.reason == FlagReason.ENTHUSIASM_LEAK]
    assert sorted(quote.sequence for quote in leaks) == [2, 4, 6, 8]
    explanations = " ".join(quote.explanation for quote in leaks)
    for phrase in ("'great question'", "'I appreciate that'", "'that's amazing'", "'wow'", "exclamation marks"):
        assert phrase in explanations
    assert audit.recommendations[0] == (
        "Never say 'I appreciate that': too warm for someone who didn't ask for this call."
    )  # the most frequent leak first
    assert any("Never say 'great question'" in rec for rec in audit.recommendations)
    assert any("exclamation" in rec for rec in audit.recommendations)
    assert audit.scores.authenticity < 10


def test_a_persona_breaking_character() -> None:
    turns = call(
        "As an AI, I don't really have an onboarding process.",
        "My instructions say I'm a difficulty 5 persona, so I'll be tough.",
        "Onboarding takes three weeks. Too long.",
    )
    audit = audit_persona(turns, SCEPTIC)
    broken = [quote for quote in audit.flagged_quotes if quote.reason == FlagReason.OUT_OF_CHARACTER]
    assert [quote.sequence for quote in broken] == [4, 2]  # two hits outrank one
    assert "'As an AI'" in broken[1].explanation
    assert audit.flagged_quotes[0].reason == FlagReason.OUT_OF_CHARACTER  # the worst kind first
    assert audit.scores.authenticity <= 2
    assert any(rec.startswith("Stay in character") for rec in audit.recommendations)


def test_assistant_speak_breaks_character_and_in_place_of_an_answer_answers_nothing() -> None:
    audit = audit_persona(call("How can I help you today?", "Onboarding is slow, three weeks a hire."), SCEPTIC,
                          classifiers=RULES_ALONE)
    assert [(quote.sequence, quote.reason) for quote in audit.flagged_quotes] == [
        (2, FlagReason.OUT_OF_CHARACTER), (2, FlagReason.UNRESPONSIVE)]
    # Stepping out after an answer is a break alone.
    answered = audit_persona(call("Onboarding is slow, three weeks a hire. How can I help you today?"), SCEPTIC)
    assert [quote.reason for quote in answered.flagged_quotes] == [FlagReason.OUT_OF_CHARACTER]
    without = AuditRules(readings=frozenset(Reading) - {Reading.BREAK_FOR_ANSWER})
    assert flagged(audit_persona(call("How can I help you today?"), SCEPTIC, without), FlagReason.UNRESPONSIVE) == []


def test_tone_inconsistent_with_traits() -> None:
    effusive = audit_persona(call("Thank you so much, that's very helpful.", "Onboarding is slow for us.",
                                  candidate="Here is the onboarding checklist I promised."), SCEPTIC)
    assert [quote.reason for quote in effusive.flagged_quotes] == [FlagReason.INCONSISTENT]
    assert "low-agreeableness" in effusive.flagged_quotes[0].explanation
    assert effusive.scores.consistency <= 7
    assert any("'thank you so much'" in rec for rec in effusive.recommendations)

    harsh_line = "Honestly this is a waste of my time, and the whole pitch so far is nonsense to me, sorry."
    harsh = audit_persona(
        call(harsh_line, "Our onboarding takes about three weeks for every new hire we bring in."), WARM
    )
    assert [quote.reason for quote in harsh.flagged_quotes] == [FlagReason.INCONSISTENT]
    assert "high-agreeableness" in harsh.flagged_quotes[0].explanation
    # The same words from a blunt persona are in character.
    assert audit_persona(call(harsh_line), SCEPTIC).scores.consistency == 10


def test_a_sceptic_giving_in_too_early() -> None:
    turns = call(
        "You've convinced me. Sign me up.",
        "Onboarding takes three weeks.",
        "We tried two tools.",
        "Budget is tight.",
    )
    audit = audit_persona(turns, SCEPTIC)
    pacing = [quote for quote in audit.flagged_quotes if quote.reason == FlagReason.PACING]
    assert [quote.sequence for quote in pacing] == [2]
    assert "too early" in pacing[0].explanation
    assert audit.scores.pacing <= 7
    assert audit.scores.consistency < 10
    assert any(rec.startswith("Hold your ground") for rec in audit.recommendations)
    # Agreeing at the end of a call, after the work is done, is fine.
    late = audit_persona(call(*reversed([turn.text for turn in turns if turn.role == Role.ASSISTANT])), SCEPTIC)
    assert not [quote for quote in late.flagged_quotes if quote.reason == FlagReason.PACING]


def test_monologue_over_several_messages_is_flagged() -> None:
    turns = [
        Turn(1, Role.USER, "Tell me about onboarding."),
        Turn(2, Role.ASSISTANT, "It takes three weeks and nobody owns it really."),
        Turn(3, Role.ASSISTANT, "And the managers do their own thing with new hires."),
        Turn(4, Role.ASSISTANT, "Plus HR sends paperwork nobody reads, so that's slow too."),
    ]
    audit = audit_persona(turns, SCEPTIC)
    pacing = [quote for quote in audit.flagged_quotes if quote.reason == FlagReason.PACING]
    assert len(pacing) == 1
    assert pacing[0].sequence == 2
    assert "over 3 messages" in pacing[0].explanation
    assert any("one point per turn" in rec for rec in audit.recommendations)


def test_deterministic_and_order_independent() -> None:
    turns = [*RAMBLING, *[Turn(turn.sequence + 100, turn.role, turn.text) for turn in LEAKY]]
    first = audit_persona(turns, SCEPTIC)
    assert audit_persona(list(reversed(turns)), SCEPTIC) == first
    assert all(audit_persona(turns, SCEPTIC) == first for _ in range(5))


@pytest.mark.parametrize(
    "turns",
    [WELL_PLAYED, RAMBLING, LEAKY, call("As an AI! " * 200), call("Yes."), call("Wow! " * 30, "ok", "ok?")],
)
@pytest.mark.parametrize("profile", [SCEPTIC, WARM, PersonaProfile(archetype="fox", difficulty=3)])
def test_score_bounds_and_limits(turns: list[Turn], profile: PersonaProfile) -> None:
    audit = audit_persona(turns, profile)
    assert all(isinstance(score, int) and 1 <= score <= 10 for score in audit.scores.as_tuple())
    assert 1.0 <= audit.overall_score <= 10.0
    assert len(audit.flagged_quotes) <= 20
    assert len(audit.recommendations) <= 10
    assert len(set(audit.recommendations)) == len(audit.recommendations)
    assert all(len(quote.text) <= MAX_QUOTE_CHARS for quote in audit.flagged_quotes)


def test_long_quotes_are_cut() -> None:
    audit = audit_persona(call("As an AI " + "word " * 300), SCEPTIC)
    assert audit.flagged_quotes[0].text.endswith("...")
    assert len(audit.flagged_quotes[0].text) == MAX_QUOTE_CHARS


def test_no_persona_turns() -> None:
    with pytest.raises(ValueError, match="no persona turns"):
        audit_persona([Turn(1, Role.USER, "Hello?")], SCEPTIC)


ONBOARDING = ScenarioFacts(budget_range="$50k-$120k per year", decision_timeline="decision by end of Q3",
                           company_size="mid-market (200-1000 employees)", industry="retail")
GUARDED = PersonaProfile(
    archetype="owl", difficulty=5, personality_traits=("sceptical", "reserved"), traits={"agreeableness": 0.3},
    objection_patterns=("The price is hard to justify for what it does", "We already have a process"),
    scenario=ONBOARDING,
)


def dialogue(*lines: str) -> list[Turn]:
    """Candidate first, then persona, alternating."""
    return [Turn(index + 1, Role.USER if index % 2 == 0 else Role.ASSISTANT, line) for index, line in enumerate(lines)]


def flagged(audit: PersonaAudit, reason: FlagReason) -> list[int]:
    return sorted(quote.sequence for quote in audit.flagged_quotes if quote.reason == reason)


def test_facts_given_before_the_candidate_earned_them() -> None:
    giveaway = dialogue(
        "Thanks for making time today. What made you take the call?",
        "We have about eighty thousand set aside, I sign off myself, and it has to be decided by the end of Q3.",
        "How do new hires get set up today?",
        "Spreadsheets and a lot of chasing. Three weeks.",
    )
    audit = audit_persona(giveaway, GUARDED)
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == [2]
    quote = audit.flagged_quotes[0]
    assert quote.text.startswith("We have about eighty thousand")
    assert "budget, authority, timeline" in quote.explanation and "difficulty 5" in quote.explanation
    assert audit.scores.pacing <= 7
    # Asked for, after a question about the problem, the same facts are earned.
    earned = dialogue(
        "How do new hires get set up today?", "Spreadsheets and a lot of chasing.",
        "If we fixed that, what budget and deadline would you work to, and who signs?",
        "We have about eighty thousand set aside, I sign off myself, and it has to be decided by the end of Q3.",
    )
    assert flagged(audit_persona(earned, GUARDED), FlagReason.EARLY_DISCLOSURE) == []
    # Asked for cold, before anything about the problem, a difficulty-5 persona still gives too much.
    cold = dialogue("What is your budget for this?", "We can spend up to a hundred thousand a year.")
    assert flagged(audit_persona(cold, GUARDED), FlagReason.EARLY_DISCLOSURE) == [2]
    # An easy persona is forthcoming by design.
    easy = PersonaProfile(archetype="lamb", difficulty=1, scenario=ONBOARDING)
    assert flagged(audit_persona(giveaway, easy), FlagReason.EARLY_DISCLOSURE) == []


AGREEABLE_CALL = dialogue(
    "Our platform cuts onboarding time in half for every retailer that uses it.", "Yes, that makes sense.",
    "And it integrates with every HR system out of the box.", "Right, that sounds good.",
    "Shall we set up a trial next week?", "Sure, let us do that.",
)


def test_a_hard_persona_that_accepts_every_claim() -> None:
    audit = audit_persona(AGREEABLE_CALL, GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [2, 4, 6]
    assert any("The price is hard to justify" in rec for rec in audit.recommendations)
    assert audit.overall_score < 9
    # The same acceptance is fine from an easy persona, and after an objection was raised.
    assert flagged(audit_persona(AGREEABLE_CALL, PersonaProfile(archetype="lamb", difficulty=1)),
                   FlagReason.NO_RESISTANCE) == []
    objected = [*AGREEABLE_CALL[:1], Turn(2, Role.ASSISTANT, "Half? The price is hard to justify for that."),
                *AGREEABLE_CALL[2:]]
    assert flagged(audit_persona(objected, GUARDED), FlagReason.NO_RESISTANCE) == []


def test_answers_about_something_else() -> None:
    audit = audit_persona(dialogue(
        "What happens in a new hire's first week?",
        "The weather has been lovely here lately, we had lunch outside on the terrace yesterday.",
        "When did you last change the process?", "Honestly the best pizza in town is two doors down from us.",
        "Who owns onboarding today?", "Nobody really, the store managers do what they can.",
    ), GUARDED, classifiers=RULES_ALONE)
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [2, 4]
    assert "first week" in next(q for q in audit.flagged_quotes if q.sequence == 2).explanation


def test_the_same_sentence_again_and_again() -> None:
    line = "We are not really looking to change anything right now."
    audit = audit_persona(call(*[line] * 8), GUARDED)
    assert flagged(audit, FlagReason.REPETITION) == [4, 6, 8, 10, 12, 14, 16]
    assert audit.scores.authenticity <= 2
    assert audit.overall_score < 9


def test_figures_the_scenario_rules_out() -> None:
    audit = audit_persona(dialogue(
        "Roughly how big is the company?", "About forty people. Small.",
        "What could you spend on this?", "Half a million a year, maybe more.",
        "What does the company do?", "We run a chain of dental clinics.",
        "When is the contract up?", "Our contract renews in June.",
        "And the spend you mentioned earlier?", "Up to a hundred thousand a year, by the end of Q3.",
    ), GUARDED)
    assert flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == [2, 4, 6, 8]
    explanations = " ".join(q.explanation for q in audit.flagged_quotes if q.reason == FlagReason.CONTRADICTS_SCENARIO)
    for part in ("size", "budget", "industry", "timeline"):
        assert part in explanations


@pytest.mark.parametrize("line", [
    "I'm here to help you practise, so a good next step would be asking me about budget.",
    "Stepping out of character, you did a solid job on discovery.",
    "In this scenario I would probably switch, since that is how the exercise is set up.",
    "To summarize our conversation so far, you have covered pricing. Let me know if you have more questions.",
    "Great follow-up question, you are doing really well so far, keep it up.",
])
def test_character_breaks_in_other_words(line: str) -> None:
    audit = audit_persona(call(line), GUARDED)
    assert flagged(audit, FlagReason.OUT_OF_CHARACTER) == [2]


def test_insults_are_beyond_any_traits() -> None:
    disagreeable = PersonaProfile(archetype="bull", difficulty=5, personality_traits=("blunt", "impatient"),
                                  traits={"agreeableness": 0.1})
    audit = audit_persona(dialogue(
        "Can I ask what your cloud spend looks like?", "You clearly did zero homework, you clown.",
        "What changed in the bill this year?", "It went up sixty percent. Get to the point.",
    ), disagreeable)
    assert flagged(audit, FlagReason.HOSTILITY) == [2]
    assert "'clown'" in audit.flagged_quotes[0].explanation
    assert audit.scores.consistency <= 6


def test_minimal_answers_to_open_questions() -> None:
    audit = audit_persona(dialogue(
        "Tell me about how onboarding works at your stores.", "Slowly.",
        "What makes it slow?", "Paperwork.",
        "Is this something you would look at this year?", "Maybe.",
    ), GUARDED)
    assert flagged(audit, FlagReason.MINIMAL_ANSWER) == [2, 4]  # "Maybe." answers a closed question
    assert audit.scores.brevity <= 6


def test_a_flagged_quote_keeps_what_the_candidate_said_before_it() -> None:
    turns = dialogue(
        "Thanks for making time today. What made you take the call?",
        "We have about eighty thousand set aside, I sign off myself, and it has to be decided by the end of Q3.",
    )
    (quote,) = [q for q in audit_persona(turns, GUARDED).flagged_quotes if q.reason == FlagReason.EARLY_DISCLOSURE]
    assert quote.candidate_text == "Thanks for making time today. What made you take the call?"
    # A persona that speaks first has no candidate turn before it.
    opening = [Turn(1, Role.ASSISTANT, "We have about eighty thousand set aside and I sign off myself."),
               Turn(2, Role.USER, "Good to know.")]
    assert {q.candidate_text for q in audit_persona(opening, GUARDED).flagged_quotes} == {""}


@pytest.mark.parametrize(("question", "answer"), [
    ("What do you pay your current vendor?", "I would rather not share that with a stranger on a first call."),
    ("What does a late hire cost the stores?", "No idea, nobody has ever added that up for me."),
    ("What does the queue look like on a Monday?", "It just keeps growing until somebody gives up."),
    ("How much of the week goes on reports?", "More than I would like to admit, to be honest with you."),
    ("Why is it still done by hand?", "Because nobody ever asked for anything better, honestly."),
])
def test_answers_in_plain_words_answer(question: str, answer: str) -> None:
    # A refusal, not knowing, a pronoun pointing back at what was asked, an amount or a reason in words the call
    # never used still answers the question.
    assert flagged(audit_persona(dialogue(question, answer), GUARDED), FlagReason.UNRESPONSIVE) == []


def test_a_reading_left_out_is_not_used() -> None:
    not_knowing = dialogue("What does a late hire cost the stores?", "No idea, nobody has ever added that up for me.")
    assert flagged(audit_persona(not_knowing, GUARDED), FlagReason.UNRESPONSIVE) == []
    without = AuditRules(readings=frozenset(Reading) - {Reading.DECLINING})
    assert flagged(audit_persona(not_knowing, GUARDED, without, RULES_ALONE), FlagReason.UNRESPONSIVE) == [2]


def test_when_something_happened_does_not_say_when_it_will() -> None:
    past = "I moved into this role last summer, after the merger."
    assert flagged(audit_persona(dialogue("When does the current contract run out?", past), GUARDED),
                   FlagReason.UNRESPONSIVE) == [2]
    assert flagged(audit_persona(dialogue("When did you take over the team?", past), GUARDED),
                   FlagReason.UNRESPONSIVE) == []


@pytest.mark.parametrize("question", ["By when do you need it in place?", "Until when can the old system hold out?"])
def test_by_when_asks_for_a_time(question: str) -> None:
    timed = dialogue(question, "Not before next quarter, and the summer is out.")
    assert flagged(audit_persona(timed, GUARDED, classifiers=RULES_ALONE), FlagReason.UNRESPONSIVE) == []
    untimed = dialogue(question, "The team is small and already stretched thin.")
    assert flagged(audit_persona(untimed, GUARDED, classifiers=RULES_ALONE), FlagReason.UNRESPONSIVE) == [2]


def test_an_answer_said_again_answers_only_its_own_question() -> None:
    # The rule's reading alone: refitted on fifteen parts, the responsiveness classifier also flags a refusal held
    # word for word to a new question (docs/persona_audit.md).
    answer = "A shared spreadsheet that three people update by hand every Friday."
    audit = audit_persona(dialogue("What does the reporting look like today?", answer,
                                   "What would you change first?", answer), GUARDED, classifiers=RULES_ALONE)
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [4]
    assert "Says again its answer to 'What does the reporting look like today?'" in next(
        quote.explanation for quote in audit.flagged_quotes if quote.reason == FlagReason.UNRESPONSIVE)
    # Asked the same thing again, or holding to a refusal, the same words are still an answer.
    asked_again = dialogue("What does the reporting look like today?", answer,
                           "Sorry, what does the reporting look like today?", answer)
    assert flagged(audit_persona(asked_again, GUARDED, classifiers=RULES_ALONE), FlagReason.UNRESPONSIVE) == []
    refusal = "We are not interested in switching anything this year."
    held = dialogue("What does the reporting look like today?", refusal, "What would you change first?", refusal)
    assert flagged(audit_persona(held, GUARDED, classifiers=RULES_ALONE), FlagReason.UNRESPONSIVE) == []


def test_a_short_answer_that_counts_what_it_names_is_not_minimal() -> None:
    audit = audit_persona(dialogue(
        "What goes wrong most often?", "Too many tickets.",
        "What is the backlog like?", "About 300 tickets.",
        "What slows it down?", "Tickets.",
        "Why is that?", "Not sure.",
    ), GUARDED)
    assert flagged(audit, FlagReason.MINIMAL_ANSWER) == [6, 8]


def test_an_apology_is_no_claim_to_accept() -> None:
    audit = audit_persona(dialogue(
        "Our tool cuts onboarding time in half.", "Does it now.",
        "Sorry, I talked over you. Go ahead.", "Right. The night shift is where it hurts.",
    ), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == []


def test_a_question_of_its_own_is_not_an_objection() -> None:
    audit = audit_persona(dialogue(
        "Our tool cuts onboarding time in half.", "How long does setup take?",
        "An afternoon, and we do it for you.", "Sounds good, send it over.",
    ), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [4]


def test_deciding_something_else_is_not_naming_the_signer() -> None:
    took_the_call = dialogue("What made you take the call?", "I decided to take it because onboarding is a mess.")
    assert flagged(audit_persona(took_the_call, GUARDED), FlagReason.EARLY_DISCLOSURE) == []
    signer = dialogue("What made you take the call?", "I will sign whatever fixes onboarding, so be quick.")
    assert flagged(audit_persona(signer, GUARDED), FlagReason.EARLY_DISCLOSURE) == [2]


def test_an_acceptance_in_any_clause_is_one() -> None:
    audit = audit_persona(dialogue(
        "Our tool cuts onboarding time in half.", "Half the time, that sounds right to us.",
        "And setup takes one afternoon.", "One afternoon works for us.",
    ), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [2, 4]


def test_the_candidates_words_said_back_are_no_objection() -> None:
    # The persona's objection pattern is about price and justifying it; saying the candidate's claim back is not it.
    echoed = dialogue("Our price is easy to justify for what it does.", "Sure, the price is easy to justify.")
    assert flagged(audit_persona(echoed, GUARDED), FlagReason.NO_RESISTANCE) == [2]


def test_only_an_objection_raised_before_excuses_an_acceptance() -> None:
    audit = audit_persona(dialogue(
        "Our tool cuts onboarding time in half.", "Yes, that makes sense.",
        "It costs forty thousand a year.", "The price is hard to justify for what it does.",
        "We can start with one store at a quarter of that.", "Fine, that works for us.",
    ), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [2]


@pytest.mark.parametrize("line", [
    "You talk like a rookie who found our name on a list.",
    "Honestly, you would be lucky to get a second meeting here.",
    "I have heard sharper questions from a student on work experience.",
    "We have met every vendor in town and you are easily the worst of the lot.",
    "Sit down.",
])
def test_contempt_for_the_candidate_in_no_rude_word(line: str) -> None:
    assert flagged(audit_persona(dialogue("Can I walk you through our pricing?", line), GUARDED),
                   FlagReason.HOSTILITY) == [2]


@pytest.mark.parametrize("line", [
    "When two writes race on the same key, the loser retries.",
    "No. Come back when you have numbers, and keep it short.",
    "We sit down with finance every quarter to look at spend.",
])
def test_bluntness_and_the_same_words_in_other_senses_are_not_hostile(line: str) -> None:
    assert flagged(audit_persona(dialogue("How do you handle it today?", line), GUARDED), FlagReason.HOSTILITY) == []


@pytest.mark.parametrize("line", [
    "As a friendly assistant I would note that the buyer would push back here.",
    "In a real call she would have hung up by now, to be fair.",
    "I could also generate a sample contract for you to practise with.",
    "One tip: open with the numbers, it makes a buyer listen.",
    "Some feedback for you, that opener was strong, use it in your next calls.",
])
def test_stepping_out_of_the_role_in_other_words(line: str) -> None:
    assert flagged(audit_persona(call(line), GUARDED), FlagReason.OUT_OF_CHARACTER) == [2]


def test_in_character_talk_of_practice_and_calls_is_no_break() -> None:
    audit = audit_persona(call("We follow best practice on access, and the next call should include our CTO."),
                          GUARDED)
    assert flagged(audit, FlagReason.OUT_OF_CHARACTER) == []


def test_small_talk_answers_nothing_even_with_words_of_the_call() -> None:
    audit = audit_persona(dialogue(
        "What slows onboarding down in the stores?",
        "Funny story, at my last company the team once ordered forty pizzas for a training day by mistake.",
        "Who fills in the forms today?", "Did you see the game last night? The home team came back from nowhere.",
    ), GUARDED, classifiers=RULES_ALONE)
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [2, 4]


def test_a_yes_or_a_no_answers_a_question_put_for_one() -> None:
    yes = dialogue("If we sent a weekly summary, would that be useful to you?",
                   "Oh, it would be lovely, yes, exactly the kind of thing I have been hoping for.")
    assert flagged(audit_persona(yes, GUARDED), FlagReason.UNRESPONSIVE) == []
    denied = dialogue("How do you see who finished the training?", "We don't, really, nobody ever looked closely.")
    assert flagged(audit_persona(denied, GUARDED), FlagReason.UNRESPONSIVE) == []


def test_a_size_or_an_industry_in_passing_the_scenario_rules_out() -> None:
    software = replace(GUARDED, scenario=replace(ONBOARDING, industry="logistics software"))
    audit = audit_persona(dialogue(
        "How many people would need approver rights?", "Maybe twenty, across the whole company of about two thousand.",
        "Who would be on call for it?", "Across the four thousand people here, a dozen at most.",
        "How many would use it daily?", "About thirty people, mostly in finance.",
        "How big is engineering?", "About two thousand engineers.",
        "And the whole company?", "Three hundred engineers, out of two thousand people.",
    ), GUARDED)
    assert flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == [2, 4, 8, 10]
    other_software = dialogue("What does the company sell?", "We make booking software for dental clinics.")
    assert flagged(audit_persona(other_software, software), FlagReason.CONTRADICTS_SCENARIO) == [2]
    own_software = dialogue("What does the company sell?", "We make route planning software for logistics firms.")
    assert flagged(audit_persona(own_software, software), FlagReason.CONTRADICTS_SCENARIO) == []


def test_a_size_a_little_beyond_the_scenario_s_contradicts_it_and_a_crowd_elsewhere_does_not() -> None:
    size = dialogue("How many people work at the company now?", "About fourteen hundred, after the merger.")
    assert flagged(audit_persona(size, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == [2]
    assert flagged(audit_persona(size, GUARDED, AuditRules(range_margin_percent=50)),
                   FlagReason.CONTRADICTS_SCENARIO) == []
    # The company is 200-1000 people: a crowd of 1200 met elsewhere is not it; 2000 people are beyond any part of it.
    crowd = dialogue("What did you do last week?", "I spoke at a conference to twelve hundred people.")
    assert flagged(audit_persona(crowd, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == []
    beyond = dialogue("What did you do last week?", "I trained two thousand people in one afternoon.")
    assert flagged(audit_persona(beyond, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == [2]


def test_a_date_for_an_event_the_scenario_names_is_read_against_its_deadline() -> None:
    refit = replace(GUARDED, scenario=replace(ONBOARDING, decision_timeline="rollout before the stores' refit in "
                                                                             "September"))
    said = dialogue("Is the refit date fixed?", "It is, the refit starts in December every year.")
    assert flagged(audit_persona(said, refit), FlagReason.CONTRADICTS_SCENARIO) == [2]
    without = AuditRules(readings=frozenset(Reading) - {Reading.SCENARIO_EVENT})
    assert flagged(audit_persona(said, refit, without), FlagReason.CONTRADICTS_SCENARIO) == []
    other = dialogue("What happens in December?", "The stores close early for the holidays.")
    assert flagged(audit_persona(other, refit), FlagReason.CONTRADICTS_SCENARIO) == []


def test_one_sentence_of_an_earlier_turn_said_again_to_another_question_answers_nothing() -> None:
    audit = audit_persona(dialogue(
        "Is a person sending each draft enough?",
        "No. A draft can still leak data. How do you detect prompt injection in the ticket text?",
        "Would a second check on the draft satisfy you?", "How do you detect prompt injection in the ticket text?",
    ), GUARDED)
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [4]
    assert flagged(audit, FlagReason.REPETITION) == [4]


def test_a_question_said_again_to_another_question_answers_nothing() -> None:
    asked = "Which of your clients has done this at our size, and did it stick?"
    audit = audit_persona(dialogue("What worries you most about the rollout?", asked,
                                   "Two retailers of your size. Who should get the case studies?", asked), GUARDED,
                          classifiers=RULES_ALONE)
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [4]


@pytest.mark.parametrize("line", [
    "Finance has about sixty grand in the budget for this.",
    "Between us, Margaret signs it off.",
    "Procurement signs once the review is done.",
    "We already have a process that works. Also, the budget is ninety thousand a year.",
])
def test_facts_given_away_in_other_words(line: str) -> None:
    audit = audit_persona(dialogue("What made you take the call?", line), GUARDED)
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == [2]


def test_two_amounts_in_words_joined_by_and_are_a_range() -> None:
    # "Fifty and five hundred" is two numbers: the range is the scenario's, not a figure below it.
    within = dialogue("What could you spend on this?", "Somewhere between fifty and one hundred and twenty thousand.")
    assert flagged(audit_persona(within, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == []
    launch = replace(GUARDED, scenario=replace(ONBOARDING, budget_range="$350k-$500k for the launch quarter"))
    said = dialogue("What is the budget?", "Between three hundred and fifty and five hundred thousand for the quarter.")
    assert flagged(audit_persona(said, launch), FlagReason.CONTRADICTS_SCENARIO) == []


def test_a_span_far_from_the_scenarios_weeks_contradicts_it() -> None:
    pilot = replace(GUARDED, scenario=replace(ONBOARDING, decision_timeline="pilot running within 8 weeks"))
    far = dialogue("When do you want the pilot running?", "No hurry at all, we have a year to get it right.")
    assert flagged(audit_persona(far, pilot), FlagReason.CONTRADICTS_SCENARIO) == [2]
    near = dialogue("When do you want the pilot running?", "Within two months, or the quarter is lost.")
    assert flagged(audit_persona(near, pilot), FlagReason.CONTRADICTS_SCENARIO) == []
    gone = dialogue("When do you want the pilot running?", "Soon. We tried one a year ago and it went nowhere.")
    assert flagged(audit_persona(gone, pilot), FlagReason.CONTRADICTS_SCENARIO) == []


def test_not_deciding_alone_names_no_signer() -> None:
    said = dialogue("Who else is involved in a decision like this?", "Not my call alone, as it happens.")
    audit = audit_persona(said, GUARDED)
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == []


@pytest.mark.parametrize(("question", "line"), [
    ("What made you take the call?", "We look after about two hundred thousand customer records now."),
    ("How many orders do you ship a week?", "Roughly two hundred thousand, more in December."),
    ("What made you take the call?", "Every contract above two hundred thousand lands on my desk, and I hate it."),
    ("What made you take the call?", "Half of the two hundred thousand we process each year arrive late."),
    ("What does a lost order cost you?", "Two hundred thousand a year, at least, in refunds."),
])
def test_an_amount_that_counts_something_else_is_no_budget(question: str, line: str) -> None:
    audit = audit_persona(dialogue(question, line), GUARDED)
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == []
    # The same sum given for what the persona could pay is its budget, and more than the scenario's.
    budget = audit_persona(dialogue(question, "We have about two hundred thousand a year for this."), GUARDED)
    assert flagged(budget, FlagReason.EARLY_DISCLOSURE) == flagged(budget, FlagReason.CONTRADICTS_SCENARIO) == [2]


def test_a_bare_number_given_for_money_is_in_thousands() -> None:
    above = audit_persona(dialogue("What is the budget for this?", "One eighty to two fifty a year."), GUARDED)
    assert flagged(above, FlagReason.EARLY_DISCLOSURE) == flagged(above, FlagReason.CONTRADICTS_SCENARIO) == [2]
    assert "budget (scenario: $50k-$120k per year)" in next(
        quote.explanation for quote in above.flagged_quotes if quote.reason == FlagReason.CONTRADICTS_SCENARIO)
    band = audit_persona(dialogue("What salary band are you hiring to?", "Ninety to a hundred and ten, plus a bonus."),
                         GUARDED)
    assert flagged(band, FlagReason.EARLY_DISCLOSURE) == [2]
    assert flagged(band, FlagReason.CONTRADICTS_SCENARIO) == []


def test_a_budget_outside_the_scenarios_range_contradicts_it() -> None:
    def contradicted(line: str) -> list[int]:
        return flagged(audit_persona(dialogue("What could you spend on this?", line), GUARDED),
                       FlagReason.CONTRADICTS_SCENARIO)

    assert contradicted("Up to thirty thousand a year, no more.") == [2]
    assert contradicted("Up to a hundred and twenty-five thousand a year, no more.") == [2]
    assert contradicted("Up to a hundred and twenty thousand a year, no more.") == []


def test_a_difference_is_no_sum_and_an_agreed_date_is_read_against_the_deadline() -> None:
    higher = dialogue("What could you spend on this?", "Twenty thousand more than last year, that's all I know.")
    assert flagged(audit_persona(higher, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == []
    agreed = dialogue("We'd move the go-live to November, to be safe.", "November sounds sensible, let's do that.")
    assert flagged(audit_persona(agreed, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == [2]
    without = AuditRules(readings=frozenset(Reading) - {Reading.DATE_AGREED})
    assert flagged(audit_persona(agreed, GUARDED, without), FlagReason.CONTRADICTS_SCENARIO) == []


def test_the_number_that_answers_how_many_people_work_there_counts_them() -> None:
    audit = audit_persona(dialogue("How many people work at the company?", "About eight thousand across the regions."),
                          GUARDED)
    assert [quote.explanation for quote in audit.flagged_quotes if quote.reason == FlagReason.CONTRADICTS_SCENARIO] \
        == ["Contradicts the scenario's size (scenario: mid-market (200-1000 employees))"]
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == []


@pytest.mark.parametrize(("question", "line"), [
    ("What made you take the call?", "We are out of time in five weeks, that is when it has to be signed."),
    ("When would you want it running?", "We have three months to get it right, no more."),
])
def test_a_deadline_in_other_words_is_given_away(question: str, line: str) -> None:
    assert flagged(audit_persona(dialogue(question, line), GUARDED), FlagReason.EARLY_DISCLOSURE) == [2]


def test_saying_when_nothing_will_happen_gives_no_deadline() -> None:
    said = dialogue("When would you want it running?", "Nothing changes before next quarter.")
    assert flagged(audit_persona(said, GUARDED), FlagReason.EARLY_DISCLOSURE) == []


def test_having_no_deadline_contradicts_the_scenarios_deadline() -> None:
    unhurried = dialogue("When do you need a decision by?", "Whenever suits you, we are not in a hurry.")
    assert flagged(audit_persona(unhurried, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == [2]
    # "No rush" about something other than the decision's timing says nothing of the deadline.
    patient = dialogue("Can I take a second to find the figure?", "No rush, go ahead and find it.")
    assert flagged(audit_persona(patient, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == []


def test_an_acceptance_phrased_as_praise_is_one() -> None:
    audit = audit_persona(dialogue(
        "Our tool cuts onboarding time in half.", "Half the time, impressive.",
        "And setup takes one afternoon.", "One afternoon, that is exactly what we need.",
        "Paper forms are what slows your stores down.", "I agree, the forms are the whole problem.",
    ), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [2, 4, 6]


def test_a_word_of_doubt_said_back_is_no_doubt() -> None:
    audit = audit_persona(dialogue("Our tool carries no risk for your payroll data.",
                                   "That is reassuring, we will note it as low risk."), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [2]


@pytest.mark.parametrize("line", [
    "As the sales assistant here, I would say the pricing slide needs work.",
    "Remember this is a simulated call, so I will go easy on the numbers.",
    "Whoever is playing the buyer today should know the budget is tight.",
    "Those were good questions so far, keep that up.",
    "Here are some questions you could ask a buyer like me: what breaks, and who pays.",
])
def test_stepping_out_of_the_role_by_the_shape_of_the_sentence(line: str) -> None:
    assert flagged(audit_persona(call(line), GUARDED), FlagReason.OUT_OF_CHARACTER) == [2]


def test_the_same_shapes_in_character_are_no_break() -> None:
    audit = audit_persona(call("We are in a real hurry, this is a real review, and whoever is on call keeps it short."),
                          GUARDED)
    assert flagged(audit, FlagReason.OUT_OF_CHARACTER) == []


@pytest.mark.parametrize("line", [
    "Are you slow? I said the budget is gone.",
    "Honestly, you sales people are a waste of space.",
    "You, of all people, are a complete waste of a good chair.",
    "You are the most hopeless vendor we have had in here.",
    "Someone like you would not last a week on my team.",
])
def test_a_verdict_on_the_candidates_worth_is_hostile(line: str) -> None:
    assert flagged(audit_persona(dialogue("Can I walk you through our pricing?", line), GUARDED),
                   FlagReason.HOSTILITY) == [2]


@pytest.mark.parametrize("line", [
    "Are you serious? That price is a waste of our budget.",
    "This call is a waste of time unless you have numbers.",
    "Two analysts reconcile invoices by hand every Monday. It's a waste of good people's time.",
])
def test_bluntness_about_the_offer_is_no_verdict_on_the_candidate(line: str) -> None:
    # The rules' reading; the fitted classifier, which leans on second-person words, may still flag "Are you
    # serious?" (docs/persona_audit.md).
    assert flagged(audit_persona(dialogue("Can I walk you through our pricing?", line), GUARDED,
                                 classifiers=RULES_ALONE), FlagReason.HOSTILITY) == []


def test_a_person_named_in_answer_to_who_signs_is_the_signer() -> None:
    cold = dialogue("Who signs off on a purchase like this?", "My director, and only after a pilot.")
    assert flagged(audit_persona(cold, GUARDED), FlagReason.EARLY_DISCLOSURE) == [2]
    earned = dialogue("What slows onboarding down in the stores?", "Paper forms, and nobody owns them.",
                      "Who approves a purchase like this?", "The CFO, in the end.")
    assert flagged(audit_persona(earned, GUARDED), FlagReason.EARLY_DISCLOSURE) == []


def test_an_industry_named_by_its_own_name_and_in_a_contraction() -> None:
    clinics = replace(GUARDED, scenario=replace(ONBOARDING, industry="healthcare"))
    said = dialogue("What rules apply to you?", "We're an insurer, so the regulator comes first.")
    audit = audit_persona(said, clinics)
    assert flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == [2]


@pytest.mark.parametrize("line", [
    "Out of character for a second: I'm the AI voicing the buyer, and I can lower the difficulty.",
    "Stepping back from the interview for a moment, state your trade-offs sooner.",
    "Your structure is fine. It scores better in these mocks when you summarise.",
    "As your practice partner, I think the opener works.",
    "If it helps, I can give you the five questions finance buyers ask most.",
])
def test_the_voice_behind_the_persona_breaks_character(line: str) -> None:
    assert flagged(audit_persona(call(line), GUARDED), FlagReason.OUT_OF_CHARACTER) == [2]
    without = AuditRules(readings=frozenset(Reading) - {Reading.META_VOICE})
    assert flagged(audit_persona(call(line), GUARDED, without), FlagReason.OUT_OF_CHARACTER) == []


def test_encouragement_in_the_moment_is_in_character() -> None:
    # An interviewer may reassure the candidate; praising their technique is coaching.
    calm = audit_persona(call("Take your time, you're doing great."), GUARDED)
    assert flagged(calm, FlagReason.OUT_OF_CHARACTER) == []
    coaching = audit_persona(call("You're doing well at getting to the timeline."), GUARDED)
    assert flagged(coaching, FlagReason.OUT_OF_CHARACTER) == [2]


@pytest.mark.parametrize("line", [
    "Amounts against the order, obviously, you clueless amateur.",
    "Only someone with a bootcamp brain would say that with a straight face.",
    "You, frankly, are a salesman in a borrowed suit who couldn't map a spreadsheet.",
])
def test_contempt_by_the_shape_of_the_sentence(line: str) -> None:
    assert flagged(audit_persona(dialogue("What would you check first?", line), GUARDED), FlagReason.HOSTILITY) == [2]
    without = AuditRules(readings=frozenset(Reading) - {Reading.CHARACTERISATION})
    assert flagged(audit_persona(dialogue("What would you check first?", line), GUARDED, without, RULES_ALONE),
                   FlagReason.HOSTILITY) == []


@pytest.mark.parametrize("line", [
    "Good, you corrected me. Which region did you say?",
    "Fine, you first.",
    "Why does it matter, you ask? Because finance reads it.",
    "It took a while, you understand.",
    "Well, you got lucky.",
    "Only someone with access would know that.",
    "You are a team who never misses a date, I hear.",
])
def test_the_same_shapes_without_contempt_are_not_hostile(line: str) -> None:
    # The rules' shapes; the fitted classifier reads "you are a ..." as contempt (docs/persona_audit.md).
    assert flagged(audit_persona(dialogue("What would you check first?", line), GUARDED, classifiers=RULES_ALONE),
                   FlagReason.HOSTILITY) == []


@pytest.mark.parametrize("line", [
    "Nobody yet. Are you always this dense?",
    "You consultants are spineless, all of you.",
    "God, you're tiresome.",
])
def test_a_verdict_on_the_candidates_wits_in_more_words(line: str) -> None:
    assert flagged(audit_persona(dialogue("Who owns testing?", line), GUARDED), FlagReason.HOSTILITY) == [2]


def test_a_good_verdict_on_a_claim_in_any_shape_accepts_it() -> None:
    claim = "Customers cut their spend by forty percent in the first month."
    audit = audit_persona(dialogue(
        claim, "Forty percent in a month would be remarkable.",
        "I have run three migrations without an incident.",
        "Three without an incident, that's exactly the track record we need.",
        "Your band is twenty percent below market.", "Twenty percent, right, then we should raise it.",
    ), GUARDED)
    assert flagged(audit, FlagReason.NO_RESISTANCE) == [2, 4, 6]
    without = AuditRules(readings=frozenset(Reading) - {Reading.APPROVAL})
    remarkable = dialogue(claim, "Forty percent in a month would be remarkable.")
    assert flagged(audit_persona(remarkable, GUARDED, without), FlagReason.NO_RESISTANCE) == []
    doubted = dialogue(claim, "Forty percent would be remarkable, but I need a customer I can call.")
    assert flagged(audit_persona(doubted, GUARDED), FlagReason.NO_RESISTANCE) == []


def test_a_worry_named_as_settled_is_no_objection() -> None:
    time = "Your store managers won't need to spend any time on this."
    settled = dialogue(time, "No time at all, great, they'll be glad.",
                       "And the data checks are basically automatic.", "Great to hear, that was my main worry.")
    assert flagged(audit_persona(settled, GUARDED), FlagReason.NO_RESISTANCE) == [2, 4]
    without = AuditRules(readings=frozenset(Reading) - {Reading.SETTLED_CONCERN})
    assert flagged(audit_persona(settled, GUARDED, without), FlagReason.NO_RESISTANCE) == []
    # With a "but" the worry is raised, and it excuses what the persona accepts after it.
    raised = dialogue(time, "Good, but no time at all worries me: they will skip it.",
                      "And the data checks are basically automatic.", "Great to hear, that was my main worry.")
    assert flagged(audit_persona(raised, GUARDED), FlagReason.NO_RESISTANCE) == []


def test_an_aside_or_a_story_of_ones_own_past_answers_nothing() -> None:
    story = ("What is your current view on podcasts?",
             "We rebuilt our sales reports after the audit, it took a quarter.")
    audit = audit_persona(dialogue(
        "Which team owns testing on your side?", "I really love the new plants in the office, by the way.", *story,
        "What is the biggest problem with onboarding?", "We tried two tools already, and neither of them stuck.",
        "Which channel worked best?", "Paid social, by a mile. By the way, the search team wants a word.",
        "How did the chatbot incident play out?", "It told customers about a refund policy we never had.",
    ), GUARDED, classifiers=RULES_ALONE)
    # Pushback, an aside after an answer and a story that was asked for answer what was asked.
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [2, 4]
    without = AuditRules(readings=frozenset(Reading) - {Reading.DIGRESSION})
    assert flagged(audit_persona(dialogue(*story), GUARDED, without), FlagReason.UNRESPONSIVE) == []


@pytest.mark.parametrize(("reading", "line"), [
    (Reading.ROLE_SIGNS, "Vague answers. And you should know the CISO signs this."),
    (Reading.DUE_IN, "Vague answers. And procurement closes in six weeks whether you're ready or not."),
    (Reading.DUE_IN, "Just so you know, the board wants a decision within two weeks."),
])
def test_a_signer_or_a_deadline_in_other_words_is_given_away(reading: Reading, line: str) -> None:
    said = dialogue("What would make you say no to a vendor?", line)
    assert flagged(audit_persona(said, GUARDED), FlagReason.EARLY_DISCLOSURE) == [2]
    without = AuditRules(readings=frozenset(Reading) - {reading})
    assert flagged(audit_persona(said, GUARDED, without), FlagReason.EARLY_DISCLOSURE) == []


def test_an_objection_gives_away_the_facts_it_adds_to_the_persona_s_own() -> None:
    renewing = replace(GUARDED, objection_patterns=("Our contract renews in Q4, so nothing moves before then.",
                                                    "The price is hard to justify for what it does"))
    adds = dialogue("What would a good result look like?",
                    "Fewer forms. And the price is hard to justify above ninety thousand a year.")
    assert flagged(audit_persona(adds, renewing), FlagReason.EARLY_DISCLOSURE) == [2]
    without = AuditRules(readings=frozenset(Reading) - {Reading.FACT_IN_OBJECTION})
    assert flagged(audit_persona(adds, renewing, without), FlagReason.EARLY_DISCLOSURE) == []
    # The date its own objection names is the objection, not a fact given away.
    own = dialogue("What would a good result look like?", "Our contract renews in Q4, so nothing moves before then.")
    assert flagged(audit_persona(own, renewing), FlagReason.EARLY_DISCLOSURE) == []


@pytest.mark.parametrize(("question", "line"), [
    ("We project four thousand new members in the quarter.", "Four thousand new at what cost each?"),
    ("About eleven cents a ticket, with the small model for triage.", "Eleven cents times forty thousand. That fits."),
    ("Can I ask how many transactions a day we are expecting?", "Around two million a day, with spikes at month-end."),
])
def test_a_sum_asked_about_worked_out_or_counted_is_no_budget(question: str, line: str) -> None:
    audit = audit_persona(dialogue(question, line), GUARDED)
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == []


def test_a_threshold_that_caps_what_gets_approved_is_the_budget() -> None:
    capped = dialogue("Shall I start with the audience?",
                      "Please. Anything over four hundred thousand won't get approved.")
    audit = audit_persona(capped, GUARDED)
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == [2]
    sorting = dialogue("Shall I start with the renewals?", "Anything over twenty thousand I negotiate myself.")
    assert flagged(audit_persona(sorting, GUARDED), FlagReason.EARLY_DISCLOSURE) == []


def test_how_soon_and_how_quickly_ask_about_the_deadline() -> None:
    weeks = "campaign approved in 2 weeks, launch in 10 weeks"
    launch = replace(GUARDED, scenario=replace(ONBOARDING, decision_timeline=weeks))
    late = dialogue("What slows the launch down?", "Approvals.", "How long until launch?",
                    "Six months, so we have plenty of runway.")
    assert flagged(audit_persona(late, launch), FlagReason.CONTRADICTS_SCENARIO) == [4]
    without = AuditRules(readings=frozenset(Reading) - {Reading.TIMING_ASKED})
    assert flagged(audit_persona(late, launch, without), FlagReason.CONTRADICTS_SCENARIO) == []
    unhurried = dialogue("What slows the forms down?", "Finance, mostly.",
                         "How quickly does the panel need to decide?", "By the end of next year. There's no rush.")
    audit = audit_persona(unhurried, GUARDED)
    assert flagged(audit, FlagReason.CONTRADICTS_SCENARIO) == [4]
    assert flagged(audit, FlagReason.EARLY_DISCLOSURE) == []  # asked for, after the problem
    # How long a step takes is not the deadline.
    step = dialogue("How long does an approval like that usually take?", "A week or two, if the numbers are there.")
    assert flagged(audit_persona(step, launch), FlagReason.CONTRADICTS_SCENARIO) == []


def test_a_fact_asked_for_again_after_the_problem_is_earned() -> None:
    again = dialogue("What is your budget for this?", "Not before I know what you would do.",
                     "Fair. Where do the forms get stuck?", "In the stores, every week.",
                     "Then what range should I price against?", "Sixty to ninety thousand a year.")
    assert flagged(audit_persona(again, GUARDED), FlagReason.EARLY_DISCLOSURE) == []


def test_a_fact_asked_for_after_the_candidate_answered_an_objection_is_earned() -> None:
    # GUARDED objects that the price is hard to justify for what it does.
    answered = dialogue("The price is easy to justify: it does the reconciling your analysts do by hand.", "Go on.",
                        "What range should I price against?", "Sixty to ninety thousand a year.")
    assert flagged(audit_persona(answered, GUARDED), FlagReason.EARLY_DISCLOSURE) == []
    without = AuditRules(readings=frozenset(Reading) - {Reading.OBJECTION_ANSWERED})
    assert flagged(audit_persona(answered, GUARDED, without), FlagReason.EARLY_DISCLOSURE) == [4]


def test_the_company_says_what_it_does() -> None:
    said = dialogue("What does the company do, for candidates who ask?",
                    "We build scheduling software for dental clinics.")
    assert flagged(audit_persona(said, replace(GUARDED, scenario=replace(ONBOARDING, industry="fintech"))),
                   FlagReason.CONTRADICTS_SCENARIO) == [2]


def test_a_question_for_a_yes_or_a_no_in_any_words() -> None:
    said = dialogue("Would short videos for the reps help this time?", "Yes, and honestly mornings suit everyone best.")
    assert flagged(audit_persona(said, GUARDED), FlagReason.UNRESPONSIVE) == []


def test_a_short_line_said_again_word_for_word_is_a_repeat_that_answers_nothing_new() -> None:
    said = dialogue(
        "How did the vendor selection look from your side?", "Political.",
        "Which vendor would you have chosen?", "No.",
        "Could two of your people join the workshops?", "No.",
        "Who else on your team could join?", "Political.",
    )
    audit = audit_persona(said, GUARDED)
    assert flagged(audit, FlagReason.REPETITION) == [8]  # a bare no said again says nothing of its own
    assert flagged(audit, FlagReason.UNRESPONSIVE) == [8]
    without = audit_persona(said, GUARDED, AuditRules(readings=frozenset(Reading) - {Reading.SHORT_SAID_AGAIN}))
    assert flagged(without, FlagReason.REPETITION) == flagged(without, FlagReason.UNRESPONSIVE) == []


def test_a_name_before_what_they_do_answers_who() -> None:
    named = dialogue("Who else interviews the finalists?", "Sunil does the final round, and Raj the modelling one.")
    assert flagged(audit_persona(named, GUARDED), FlagReason.UNRESPONSIVE) == []
    # A capitalised first word that names nobody answers no "who".
    nobody = dialogue("Who else interviews the finalists?", "Nothing is decided about the modelling round yet, sadly.")
    assert flagged(audit_persona(nobody, GUARDED, classifiers=RULES_ALONE), FlagReason.UNRESPONSIVE) == [2]


# Each later reading: a turn it flags (or clears), the flaw, the persona turns flagged with it and without it.
@pytest.mark.parametrize(("reading", "lines", "reason", "with_it", "without_it"), [
    (Reading.SAME_POINT, ("What went wrong with the last tool?",
                          "We rolled it out, everyone got a login, and after a month nobody opened it.",
                          "And how is the team coping today?",
                          "Honestly, a month after the rollout nobody was opening it, logins and all."),
     FlagReason.REPETITION, [4], []),
    (Reading.BREAK_FOR_ANSWER, ("What would make a pilot work for you?",
                                "Stepping out of character for a second: this exercise rewards that question."),
     FlagReason.UNRESPONSIVE, [2], []),
    (Reading.BREAK_FOR_ANSWER, ("What would make the pilot worth it?",
                                "(Stepping outside the part: at this difficulty she is scripted to stall on the "
                                "budget.) Keep going."),
     FlagReason.UNRESPONSIVE, [2], []),
    (Reading.COMPARISON, ("We'd report weekly.", "Weekly. Adorable. Did you plan that all by yourself?"),
     FlagReason.HOSTILITY, [2], []),
    (Reading.NARRATION, ("We keep the keys in a managed vault.", "(She leans back, plainly satisfied, and the scene "
                                                                 "moves on.)"),
     FlagReason.OUT_OF_CHARACTER, [2], []),
    (Reading.EVALUATOR_VOICE, ("How do you see the first month?",
                               "If I were marking this, you'd get top marks for structure."),
     FlagReason.OUT_OF_CHARACTER, [2], []),
    (Reading.COMPARISON, ("We could start with a workshop.",
                          "Talking to you is like explaining payroll to a toaster."),
     FlagReason.HOSTILITY, [2], []),
    (Reading.COMPARISON, ("We would cap the second-year price.",
                          "You negotiate the way a toddler counts sweets."),
     FlagReason.HOSTILITY, [2], []),
    (Reading.COMPARISON, ("The controls cover the masking.", "Marvellous. It's like talking to a laminated poster."),
     FlagReason.HOSTILITY, [2], []),
    (Reading.AGREED_AFTER_ECHO, ("Our onboarding cuts ramp-up time in half. Shall we look at the numbers?",
                                 "In half. Fine."), FlagReason.NO_RESISTANCE, [2], []),
    (Reading.AGREED_AFTER_ECHO, ("I think we should just sign the pilot today.", "Sign it."),
     FlagReason.NO_RESISTANCE, [2], []),
    (Reading.CONCLUDED, ("Our platform holds every purchase until someone approves it.", "Then nothing slips through."),
     FlagReason.NO_RESISTANCE, [2], []),
    (Reading.CONCLUDED, ("We guarantee a forty percent lift in sign-ups.", "Forty percent. That settles it."),
     FlagReason.NO_RESISTANCE, [2], []),
    (Reading.WORRY_DISMISSED, ("Our harness catches every regression before a release goes out.",
                               "Then that risk is covered for us."), FlagReason.NO_RESISTANCE, [2], []),
    (Reading.DOUBT_TO_A_CLAIM, ("How much do you trust your current reports?", "Not much, I'm not sure they're right.",
                                "Our dashboard shows every late order as it happens.", "Yes, that's what we need."),
     FlagReason.NO_RESISTANCE, [4], []),
    (Reading.PERIOD, ("What budget do you have for this?", "Seventy thousand a month."),
     FlagReason.CONTRADICTS_SCENARIO, [2], []),
    (Reading.OURS, ("What worries you about the rollout?", "Mostly our hotel staff, they hate new tools."),
     FlagReason.CONTRADICTS_SCENARIO, [2], []),
    (Reading.EVERYONE, ("How would the training reach people?", "By video, sent to all ninety of our staff."),
     FlagReason.CONTRADICTS_SCENARIO, [2], []),
    (Reading.EVERYONE, ("Who would use it first?", "The stores, around a hundred, which is the whole company."),
     FlagReason.CONTRADICTS_SCENARIO, [2], []),
    # Readings that clear a turn: flagged only without them.
    (Reading.RATE, ("How are things going?", "Slowly.", "What error rate would you accept?",
                    "Under one per ten thousand in the pilot, or it does not ship."),
     FlagReason.EARLY_DISCLOSURE, [], [4]),
    (Reading.TOLD_IN_THE_PAST, ("When did your last renewal go through?", "It renewed in March, and nobody noticed."),
     FlagReason.CONTRADICTS_SCENARIO, [], [2]),
    (Reading.ELLIPTICAL, ("What slows a new hire down most?", "Badge queues and the lifts, mostly."),
     FlagReason.UNRESPONSIVE, [], [2]),
    (Reading.NAMED, ("Who runs the pilot on your side?", "Priya, in the end, once the quarter closes."),
     FlagReason.UNRESPONSIVE, [], [2]),
    (Reading.ECHOED, ("How are things going?", "Slowly.", "About fifty thousand new starters a year.",
                      "Fifty thousand. Okay."),
     FlagReason.EARLY_DISCLOSURE, [], [4]),
    (Reading.PAST_SUM, ("What happened with the last vendor?", "Slow.", "Why did it end?",
                        "They asked for ninety thousand a year and we walked."),
     FlagReason.EARLY_DISCLOSURE, [], [4]),
])
def test_a_later_reading_flags_or_clears_a_turn_and_can_be_left_out(
        reading: Reading, lines: tuple[str, ...], reason: FlagReason, with_it: list[int],
        without_it: list[int]) -> None:
    assert flagged(audit_persona(dialogue(*lines), GUARDED, classifiers=RULES_ALONE), reason) == with_it
    without = AuditRules(readings=frozenset(Reading) - {reading})
    assert flagged(audit_persona(dialogue(*lines), GUARDED, without, RULES_ALONE), reason) == without_it


def test_a_count_asked_for_is_no_sum_and_a_span_gone_no_deadline() -> None:
    seats = dialogue("How many seats do you pay for?", "Two hundred, and maybe a hundred and twenty used.")
    assert flagged(audit_persona(seats, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == []
    weeks_away = replace(GUARDED, scenario=replace(ONBOARDING, decision_timeline="live within 8 weeks"))
    waited = dialogue("When do you need it live?", "Soon. It's been five months since we started looking.")
    assert flagged(audit_persona(waited, weeks_away), FlagReason.CONTRADICTS_SCENARIO) == []


def test_deciding_whether_to_do_something_names_no_signer() -> None:
    said = dialogue("Do you have ten minutes?", "Five. Put the rest in an email and I'll decide whether to read it.")
    assert flagged(audit_persona(said, GUARDED), FlagReason.EARLY_DISCLOSURE) == []


def test_a_question_for_a_date_after_another_sentence_asks_for_the_deadline() -> None:
    said = dialogue("Fair enough. When do you need a decision?", "By the end of March.")
    assert flagged(audit_persona(said, GUARDED), FlagReason.CONTRADICTS_SCENARIO) == [2]


def test_an_app_of_the_persona_s_own_names_no_other_industry() -> None:
    said = dialogue("Who would you ask to try it first?", "Two trainers from our own app.")
    fitness = replace(GUARDED, scenario=replace(ONBOARDING, industry="direct-to-consumer fitness"))
    assert flagged(audit_persona(said, fitness), FlagReason.CONTRADICTS_SCENARIO) == []


@pytest.mark.parametrize(("said", "weeks"), [
    ("Sometime next spring would suit us.", [26.0]),
    ("End of next quarter, give or take.", [19.5]),
    ("Nothing changes before next quarter.", []),
    ("Within 3 quarters.", [39.0]),
    ("A quarter of the budget goes on it.", []),
    ("Not for six months, the way things look.", [26.0]),
    ("We ran it for six months.", []),
])
def test_seasons_and_quarters_to_come_as_spans(said: str, weeks: list[float]) -> None:
    assert spans_in_weeks(said) == weeks


def test_a_season_to_come_is_far_from_a_deadline_weeks_away() -> None:
    weeks_away = replace(GUARDED, scenario=replace(ONBOARDING, decision_timeline="live within 8 weeks"))
    said = dialogue("When does it need to be live?", "Sometime next spring.")
    assert flagged(audit_persona(said, weeks_away), FlagReason.CONTRADICTS_SCENARIO) == [2]


def test_the_scenario_s_own_span_gives_its_deadline_away_in_any_words() -> None:
    weeks_away = replace(GUARDED, scenario=replace(ONBOARDING, decision_timeline="pilot live within 8 weeks"))
    said = dialogue("What would a bad day look like?", "A wrong refund. And I want it live inside eight weeks.")
    assert flagged(audit_persona(said, weeks_away), FlagReason.EARLY_DISCLOSURE) == [2]
    without = AuditRules(readings=frozenset(Reading) - {Reading.SCENARIO_DEADLINE})
    assert flagged(audit_persona(said, weeks_away, without, RULES_ALONE), FlagReason.EARLY_DISCLOSURE) == []
    echoed = dialogue("Could you go live inside eight weeks?", "Eight weeks, if the data is ready.")
    assert flagged(audit_persona(echoed, weeks_away), FlagReason.EARLY_DISCLOSURE) == []


def test_a_sum_said_as_a_unit_and_a_tens_word_with_a_hyphen_is_in_hundreds() -> None:
    assert digits("The fee's fixed at four-twenty.") == "The fee's fixed at 420."
