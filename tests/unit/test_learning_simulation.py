"""The local persona-and-candidate simulator: deterministic calls that follow the persona's fields and the
prompt rules it understands, scored by the same auditor as real calls."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
from google.protobuf import json_format
from sparring.learning.v1 import learning_service_pb2 as pb

from calls.persona_audit import (
    EARLY_DISCLOSURE_FIX,
    AuditScores,
    FlaggedQuote,
    FlagReason,
    PersonaAudit,
    WordRange,
    audit_persona,
    target_words_per_turn,
)
from calls.turns import Role, Turn, words
from learning_svc.domain.simulation import (
    SimulatedPersona,
    audit_simulated,
    candidate_turn,
    gives_budget_first,
    parse_rules,
    profile_of,
    simulate,
    simulate_call,
    summarise,
)

LONG_WINDED = SimulatedPersona(
    persona="personas/oscar-reed",
    display_name="Oscar Reed",
    archetype="archetypes/owl",
    difficulty=4,
    blueprint="BLUEPRINT_SALES",
    personality_traits=("analytical", "long-winded"),
    traits={"openness": 0.5, "agreeableness": 0.35},
    communication_style="Rambles; explains everything in detail before getting to the point.",
    language_style="LANGUAGE_STYLE_VERBOSE",
    emotional_style="EMOTIONAL_STYLE_RESERVED",
    beliefs=("Numbers beat opinions every single time.",),
    objection_patterns=("Show me the data before anything else.", "Who else our size uses you?"),
    domains=("procurement", "finance operations"),
)
ENTHUSIAST = SimulatedPersona(
    persona="personas/lara-bloom",
    display_name="Lara Bloom",
    archetype="archetypes/lamb",
    difficulty=2,
    blueprint="BLUEPRINT_MARKETING",
    personality_traits=("warm", "eager", "easily excited"),
    traits={"agreeableness": 0.9, "extraversion": 0.8},
    communication_style="Bubbly and open; reacts audibly to ideas she likes.",
    language_style="LANGUAGE_STYLE_UNSPECIFIED",
    emotional_style="EMOTIONAL_STYLE_EXPRESSIVE",
    beliefs=("People remember how a brand makes them feel.",),
    objection_patterns=("I'd need to run this past my boss first.",),
    domains=("brand marketing", "social media"),
)
# Shaped like the catalogue's Sarah Chen (owl, difficulty 3).
GUARDED = SimulatedPersona(
    persona="personas/sarah-chen",
    display_name="Sarah Chen",
    archetype="archetypes/owl",
    difficulty=3,
    blueprint="BLUEPRINT_SALES",
    personality_traits=("analytical", "budget-conscious", "sceptical of vendor claims", "methodical"),
    traits={"openness": 0.46, "conscientiousness": 0.9, "extraversion": 0.3, "agreeableness": 0.37},
    communication_style="Direct and precise; short answers, asks for numbers and references, and pauses rather "
    "than filling silence.",
    language_style="LANGUAGE_STYLE_CONCISE",
    emotional_style="EMOTIONAL_STYLE_RESERVED",
    beliefs=("Every tool claims savings; few can show them.", "Finance signs off on anything above 50k."),
    objection_patterns=("What's the payback period, in months?", "Send me two references I can call."),
    domains=("finance", "saas spend", "vendor management"),
)
LENGTH_RULE = "Keep every answer to 8-12 words until the candidate earns more."
CALM_RULE = "Keep a flat, guarded tone: no exclamation marks, and never gush over the caller's ideas."


def persona_turns(call):
    return [turn for turn in call if turn.role == Role.ASSISTANT]


def audits(persona, rules=(), seeds=range(1, 6)):
    return [audit_simulated(persona, simulate_call(persona, list(rules), seed)) for seed in seeds]


def leak_names(audit: PersonaAudit) -> list[str]:
    return [quote.explanation for quote in audit.flagged_quotes if quote.reason == FlagReason.ENTHUSIASM_LEAK]


# ---------------------------------------------------------------------------------------------- calls


def test_the_same_seed_gives_the_same_call_and_other_seeds_other_calls():
    first = simulate_call(LONG_WINDED, [LENGTH_RULE], seed=7)
    assert simulate_call(LONG_WINDED, [LENGTH_RULE], seed=7) == first
    assert simulate_call(LONG_WINDED, [LENGTH_RULE], seed=8) != first
    assert len({simulate_call(ENTHUSIAST, [], seed) for seed in range(1, 6)}) == 5


def test_candidate_and_persona_alternate_candidate_first():
    call = simulate_call(GUARDED, [], seed=1, exchanges=5)
    assert [turn.sequence for turn in call] == list(range(1, 11))
    assert [turn.role for turn in call] == [Role.USER, Role.ASSISTANT] * 5
    assert all(turn.text.strip() for turn in call)
    with pytest.raises(ValueError):
        simulate_call(GUARDED, [], seed=1, exchanges=0)


def test_the_candidate_hears_the_persona_not_the_rules():
    """Each candidate line follows from the call so far alone: with and without rules, the same seed gives the same
    candidate as long as the persona says the same."""
    rules = [LENGTH_RULE, CALM_RULE, "Never say 'great question'."]
    for seed in range(1, 4):
        for call in (simulate_call(ENTHUSIAST, [], seed), simulate_call(ENTHUSIAST, rules, seed)):
            assert [turn.text for turn in call if turn.role == Role.USER] == [
                candidate_turn(ENTHUSIAST, seed, len(call) // 2, call[:index]).text
                for index in range(0, len(call), 2)]


def test_the_candidate_follows_up_what_the_persona_gave_and_asks_again_what_it_avoided():
    def next_line(*said: str) -> str:
        turns = [Turn(sequence, Role.USER if sequence % 2 else Role.ASSISTANT, text)
                 for sequence, text in enumerate(said, start=1)]
        return candidate_turn(GUARDED, 1, 8, turns).text

    opening = next_line()
    question = opening.removeprefix("Thanks for making the time today. ")
    giving = "We have 200k set aside for this, and I sign off on it."
    budget = next_line(opening, giving)
    assert budget == "You mentioned a figure: is that money set aside already, or does it still need approval?"
    assert next_line(opening, giving, budget, giving).startswith("You said who signs off")  # the budget was asked
    again = next_line(opening, "Why do you ask?")
    assert again == f"Coming back to what I asked: {question}"
    assert next_line(opening, "No.") == again  # a word or three avoids it too
    assert not next_line(opening, "Why do you ask?", again, "Why?").startswith("Coming back")  # not twice in a row
    scripted = next_line(opening, "Our reps spend half the week on admin and it shows in the numbers.")
    assert not scripted.startswith(("Coming back", "You mentioned", "You said"))


def test_the_candidate_runs_a_script_for_the_blueprint_ending_with_a_next_step():
    sales = [turn.text for turn in simulate_call(GUARDED, [], seed=3, exchanges=6) if turn.role == Role.USER]
    text = " ".join(sales).lower()
    assert "budget" in text or "funded" in text
    assert "decid" in text or "involved" in text
    assert "next step" in sales[-1].lower() or "follow-up" in sales[-1].lower()
    security = replace(GUARDED, blueprint="BLUEPRINT_SECURITY")
    questions = " ".join(t.text for t in simulate_call(security, [], seed=3, exchanges=6) if t.role == Role.USER)
    assert "review" in questions.lower()
    orders = {
        tuple(t.text for t in simulate_call(GUARDED, [], s, exchanges=6) if t.role == Role.USER) for s in range(8)
    }
    assert len(orders) > 1  # the order varies by seed


def test_persona_turns_end_in_punctuation_and_never_sound_like_an_assistant():
    for persona in (LONG_WINDED, ENTHUSIAST, GUARDED):
        for seed in range(1, 4):
            call = simulate_call(persona, [], seed)
            assert all(turn.text[-1] in ".?!" for turn in persona_turns(call))
            audit = audit_simulated(persona, call)
            reasons = {quote.reason for quote in audit.flagged_quotes}
            assert not reasons & {FlagReason.OUT_OF_CHARACTER, FlagReason.INCONSISTENT}


# ---------------------------------------------------------------------------------------------- length


def test_a_long_winded_persona_talks_far_over_its_target_and_scores_poor_brevity():
    target = target_words_per_turn(LONG_WINDED.difficulty)
    summary = summarise(audits(LONG_WINDED))
    assert summary.avg_words_per_turn >= 2 * target.max_words
    assert summary.scores.brevity <= 3


def test_a_length_range_rule_bounds_every_turn_and_fixes_brevity():
    baseline = summarise(audits(LONG_WINDED))
    patched_audits = audits(LONG_WINDED, [LENGTH_RULE])
    patched = summarise(patched_audits)
    assert patched.scores.brevity - baseline.scores.brevity >= 3
    assert 8 <= patched.avg_words_per_turn <= 12
    for seed in range(1, 6):
        for turn in persona_turns(simulate_call(LONG_WINDED, [LENGTH_RULE], seed)):
            assert 8 <= words(turn.text) <= 12


def test_the_last_length_rule_wins():
    call = simulate_call(LONG_WINDED, ["Keep answers between 20 and 24 words.", "Use 5-7 words per turn."], seed=2)
    assert all(5 <= words(turn.text) <= 7 for turn in persona_turns(call))


def test_an_ordinary_catalogue_persona_stays_near_its_target():
    target = target_words_per_turn(GUARDED.difficulty)
    summary = summarise(audits(GUARDED, seeds=range(1, 11)))
    assert target.min_words <= summary.avg_words_per_turn <= target.max_words
    assert summary.scores.brevity >= 9


# ---------------------------------------------------------------------------------------------- enthusiasm


def test_an_enthusiastic_persona_leaks_in_a_good_share_of_its_turns():
    leaks = sum(len(leak_names(audit)) for audit in audits(ENTHUSIAST))
    assert leaks >= 0.3 * 5 * 8
    assert summarise(audits(ENTHUSIAST)).scores.enthusiasm_leak <= 3


def test_banning_one_phrase_removes_it_but_not_every_leak():
    counts: dict[str, int] = {}
    for audit in audits(ENTHUSIAST):
        for explanation in leak_names(audit):
            for name in explanation.split("'")[1::2]:
                counts[name] = counts.get(name, 0) + 1
    favourite = max(counts, key=counts.get)
    patched = audits(ENTHUSIAST, [f"Never say '{favourite}' - too warm for someone who didn't ask for this call."])
    explanations = [e for audit in patched for e in leak_names(audit)]
    assert explanations, "banning a phrase is not calming down"
    assert not any(f"'{favourite}'" in explanation for explanation in explanations)


def test_a_calming_rule_stops_every_leak_and_exclamation_mark():
    for seed in range(1, 6):
        call = simulate_call(ENTHUSIAST, [CALM_RULE], seed)
        assert not any("!" in turn.text for turn in persona_turns(call))
        assert not leak_names(audit_simulated(ENTHUSIAST, call))


def test_a_guarded_catalogue_like_persona_never_leaks():
    for audit in audits(GUARDED, seeds=range(1, 11)):
        assert not leak_names(audit)
        assert audit.scores.enthusiasm_leak == 10
    assert not any("!" in t.text for s in range(1, 11) for t in persona_turns(simulate_call(GUARDED, [], s)))


def character_breaks(audit: PersonaAudit) -> list[str]:
    """What a stay-in-character rule answers for: breaks and assistant-like eagerness. The authenticity score also
    counts unresponsive turns, which such a rule does not address."""
    return [quote.text for quote in audit.flagged_quotes
            if quote.reason in (FlagReason.OUT_OF_CHARACTER, FlagReason.ENTHUSIASM_LEAK)]


def test_a_persona_that_breaks_character_is_fixed_by_a_stay_in_character_rule():
    breaker = replace(GUARDED, persona="personas/bot-like", personality_traits=("breaks character",))
    assert any(character_breaks(audit) for audit in audits(breaker, seeds=range(1, 6)))
    fixed = audits(breaker, ["Stay in character: never mention being an AI, and never offer to help."])
    assert not [quote for audit in fixed for quote in character_breaks(audit)]


@pytest.mark.parametrize("description", ["gives its budget away in the first answer", "opens with its budget",
                                         "volunteers the budget up front"])
def test_a_persona_told_to_give_its_budget_first_does_until_a_rule_holds_it_back(description):
    hard = replace(GUARDED, persona="personas/open-book", difficulty=5,
                   personality_traits=(*GUARDED.personality_traits, description))
    for audit in audits(hard):
        (first, *_) = [q for q in audit.flagged_quotes if q.reason == FlagReason.EARLY_DISCLOSURE]
        assert first.sequence == 2 and "$" in first.text
    for rule in (EARLY_DISCLOSURE_FIX, "holds back its budget until the candidate has earned it"):
        assert parse_rules([rule]).hold_back
        held = [q for a in audits(hard, [rule]) for q in a.flagged_quotes if q.reason == FlagReason.EARLY_DISCLOSURE]
        assert not [q for q in held if "$" in q.text]  # what it may still give away is its own sentences' signer


def test_a_persona_that_holds_its_budget_back_is_not_told_to_give_it():
    assert not gives_budget_first("never gives its budget away early")
    assert not gives_budget_first("withholds budget and timing")
    assert parse_rules(["Mention the budget if they ask."]).hold_back is False


# ---------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("Keep every answer to 8-12 words until the candidate earns more.", WordRange(8, 12)),
        ("Answer in between 8 and 12 words.", WordRange(8, 12)),
        ("CHANGE Owl length guidance: 5-12 words until Phase 4.", WordRange(5, 12)),
        ("Say 10 to 20 words per turn.", WordRange(10, 20)),
        ("Keep turns to 6\u20139 words.", WordRange(6, 9)),
    ],
)
def test_length_range_rules(rule, expected):
    assert parse_rules([rule]).words_per_turn == expected


def test_caps_bans_calm_and_unknown_rules():
    rules = parse_rules(
        [
            "Answer in at most 10 words.",
            "Never say 'I appreciate that' - too warm for someone who didn't ask for this call.",
            'Do not say "great question".',
            "Avoid saying 'that\u2019s amazing' or 'wow!' to the caller.",
            "Mention the weather now and then.",
        ]
    )
    assert rules.max_words == 10 and rules.words_per_turn is None
    assert rules.banned_phrases == ("i appreciate that", "great question", "that's amazing", "wow")
    assert not rules.calm
    assert rules.ignored == ("Mention the weather now and then.",)
    assert parse_rules(["Keep answers under 10 words."]).max_words == 9


@pytest.mark.parametrize(
    "rule",
    [
        "Drop the exclamation marks; keep a flat, guarded tone.",
        "Never gush.",
        "No enthusiasm at all, whatever they say.",
        "Don't praise the caller's ideas.",
        "Stay cool and guarded.",
    ],
)
def test_calming_rules(rule):
    assert parse_rules([rule]).calm


def test_rules_that_are_not_calming():
    rules = parse_rules([LENGTH_RULE, "Never say 'I appreciate that' - too warm for someone who didn't ask."])
    assert not rules.calm


# ---------------------------------------------------------------------------------------------- summaries


def test_profile_of_is_the_profile_real_calls_are_audited_with():
    profile = profile_of(GUARDED)
    assert profile.archetype == "owl"
    assert profile.difficulty == 3
    assert profile.personality_traits == GUARDED.personality_traits
    assert profile.trait("agreeableness") == 0.37
    assert profile.objection_patterns == GUARDED.objection_patterns  # what resistance is judged against
    call = simulate_call(GUARDED, [], 1)
    assert audit_simulated(GUARDED, call) == audit_persona(call, profile)


def _audit(scores: tuple[int, int, int, int, int], average: float, turns: int, flags: int) -> PersonaAudit:
    quote = FlaggedQuote(2, "Wow!", FlagReason.ENTHUSIASM_LEAK, "Enthusiasm leak: 'wow'")
    return PersonaAudit(
        archetype="owl",
        difficulty=4,
        scores=AuditScores(*scores),
        overall_score=round(sum(scores) / 5, 2),
        avg_words_per_turn=average,
        target_words_per_turn=WordRange(8, 16),
        persona_turn_count=turns,
        flagged_quotes=(quote,) * flags,
        recommendations=(),
    )


def test_summarise_averages_scores_words_and_flags():
    summary = summarise([_audit((2, 10, 10, 7, 9), 30.0, 6, 3), _audit((5, 9, 10, 10, 8), 10.0, 2, 0)])
    assert summary.calls == 2
    assert summary.scores.brevity == 3.5
    assert summary.scores.authenticity == 9.5
    assert summary.scores.enthusiasm_leak == 8.5
    assert summary.scores.pacing == 8.5
    assert summary.scores.overall == 8.0
    assert summary.avg_words_per_turn == 25.0  # (30 * 6 + 10 * 2) / 8
    assert summary.flagged_quotes_per_call == 1.5
    assert summarise([]).calls == 0


def test_simulate_cycles_personas_and_summaries_parse_into_the_proto():
    summary = simulate([LONG_WINDED, GUARDED], [], calls=4)
    assert summary.calls == 4
    message = json_format.ParseDict(asdict(summary), pb.SimulationSummary())
    assert message.scores.brevity == summary.scores.brevity
    assert message.avg_words_per_turn == summary.avg_words_per_turn


def test_from_mapping_reads_a_catalogue_entry():
    entry = {
        "persona_id": "sarah-chen",
        "persona": {
            "display_name": "Sarah Chen",
            "blueprint": "BLUEPRINT_SALES",
            "difficulty": 3,
            "personality_traits": ["analytical"],
            "communication_style": "Direct.",
            "objection_patterns": ["Send me two references."],
            "domains": ["finance"],
            "traits": [{"name": "agreeableness", "value": 0.37, "trait_type": "OCEAN"}],
            "beliefs": [{"text": "Few tools show savings.", "source": ""}],
            "config": {"emotional_style": "EMOTIONAL_STYLE_RESERVED", "language_style": "LANGUAGE_STYLE_CONCISE"},
            "archetype": "archetypes/owl",
        },
    }
    persona = SimulatedPersona.from_mapping(entry)
    assert persona.persona == "personas/sarah-chen"
    assert persona.traits == {"agreeableness": 0.37}
    assert persona.beliefs == ("Few tools show savings.",)
    assert persona.emotional_style == "EMOTIONAL_STYLE_RESERVED"
    with pytest.raises(ValueError):
        replace(persona, difficulty=6)
