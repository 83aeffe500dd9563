"""Post-call persona audit: only the persona's side, scored 1-10 against its difficulty and traits."""

from __future__ import annotations

import pytest

from calls.persona_audit import (
    MAX_QUOTE_CHARS,
    FlagReason,
    PersonaProfile,
    WordRange,
    audit_persona,
    target_words_per_turn,
)
from calls.turns import Role, Turn

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


def test_assistant_speak_breaks_character() -> None:
    audit = audit_persona(call("How can I help you today?", "Onboarding is slow, three weeks a hire."), SCEPTIC)
    assert [quote.reason for quote in audit.flagged_quotes] == [FlagReason.OUT_OF_CHARACTER]


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
