"""The pure stages of a prompt evolution run: corpus figures, findings, surgical refinements, and the verdict
on simulated calls; and one run end to end on simulated calls."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as pb

from calls.persona_audit import EARLY_DISCLOSURE_FIX, AuditScores, FlaggedQuote, FlagReason, WordRange
from learning_svc.domain.evolution import (
    CONSISTENT_TONE_RULE,
    ENTHUSIASM_RULE,
    HOLD_BACK_BUDGET,
    HOLD_GROUND_RULE,
    IN_CHARACTER_RULE,
    CorpusAudit,
    Engine,
    Finding,
    FindingKind,
    PersonaBrief,
    analyze_corpus,
    flag_reason_name,
    generate_refinements,
    identify_patterns,
    judge,
    quoted_phrases,
    side_effect,
)
from learning_svc.domain.patches import (
    PartEdit,
    PatchOperation,
    PatchOrigin,
    PatchScope,
    PatchState,
    PatchTarget,
    PromptPart,
    PromptPatch,
)
from learning_svc.domain.simulation import (
    AuditScoreMeans,
    SimulatedPersona,
    SimulationSummary,
    audit_simulated,
    parse_rules,
    simulate,
    simulate_call,
)
from learning_svc.entrypoints import convert
from learning_svc.service_layer.evolution import DEFAULT_OPTIONS
from tests.unit.test_learning_simulation import ENTHUSIAST

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OWL_TARGET = WordRange(8, 12)


def leak(sequence: int, *names: str, exclamations: int = 0) -> FlaggedQuote:
    reasons = [f"'{name}'" for name in names] + ([f"{exclamations} exclamation marks"] if exclamations else [])
    return FlaggedQuote(
        sequence, f"{' '.join(names)}!", FlagReason.ENTHUSIASM_LEAK, "Enthusiasm leak: " + ", ".join(reasons)
    )


def too_long(sequence: int, n: int, target: WordRange = OWL_TARGET) -> FlaggedQuote:
    return FlaggedQuote(sequence, "word " * n, FlagReason.TOO_LONG, f"{n} words; target {target}")


def flag(sequence: int, reason: FlagReason, explanation: str) -> FlaggedQuote:
    return FlaggedQuote(sequence, "quote", reason, explanation)


def audit(
    name: str,
    archetype: str,
    average: float,
    *quotes: FlaggedQuote,
    turns: int = 8,
    target: WordRange = OWL_TARGET,
    scores: tuple[int, int, int, int, int] = (8, 10, 10, 10, 10),
    hours: int = 0,
) -> CorpusAudit:
    return CorpusAudit(
        name=f"corpusAudits/{name}",
        persona=f"personas/{name}",
        persona_display_name=name.title(),
        archetype=archetype,
        difficulty=4,
        scores=AuditScores(*scores),
        overall_score=round(sum(scores) / 5, 2),
        avg_words_per_turn=average,
        target_words_per_turn=target,
        persona_turn_count=turns,
        flagged_quotes=tuple(quotes),
        audit_time=T0 + timedelta(hours=hours),
    )


def patch(
    patch_id: str,
    archetype: str,
    operation: PatchOperation,
    text: str,
    *,
    phrase: str = "",
    words_per_turn: WordRange | None = None,
    state: PatchState = PatchState.ACTIVE,
    target: PatchTarget = PatchTarget.VOICE_PROMPT,
    hours: int = 0,
) -> PromptPatch:
    time = T0 + timedelta(hours=hours)
    return PromptPatch(
        name=f"patches/{patch_id}",
        archetype=archetype,
        target=target,
        operation=operation,
        text=text,
        phrase=phrase,
        words_per_turn=words_per_turn,
        state=state,
        origin=PatchOrigin.MANUAL,
        evolution_run="",
        refinement_id="",
        motivation="",
        source_audit_count=0,
        validated=False,
        validation_score=0.0,
        baseline_score=0.0,
        supersedes="",
        superseded_by="",
        create_time=time,
        update_time=time,
        activate_time=time if state == PatchState.ACTIVE else None,
        revision=1,
        etag="e1",
    )


# Owl: three calls of two targets; Lamb: seven calls, four of them with 'I appreciate that'.
OWL = [
    audit("owl-1", "archetypes/owl", 20.0, too_long(2, 25), too_long(4, 19), turns=4, scores=(3, 10, 10, 10, 9)),
    audit("owl-2", "archetypes/owl", 30.0, too_long(6, 40), turns=6, scores=(1, 10, 10, 10, 10), hours=1),
    audit(
        "owl-3",
        "archetypes/owl",
        19.0,
        too_long(2, 22),
        leak(4, "I appreciate that"),
        turns=10,
        target=WordRange(10, 22),
        scores=(9, 9, 10, 7, 10),
        hours=2,
    ),
]
LAMB = [
    audit("lamb-1", "archetypes/lamb", 14.0, leak(2, "I appreciate that"), leak(6, "I appreciate that")),
    audit("lamb-2", "archetypes/lamb", 12.0, leak(4, "I appreciate that", exclamations=2), hours=1),
    audit("lamb-3", "archetypes/lamb", 10.0, leak(2, "i appreciate THAT"), hours=2),
    audit("lamb-4", "archetypes/lamb", 11.0, leak(8, "I appreciate that", "wow"), hours=3),
    audit("lamb-5", "archetypes/lamb", 9.0, hours=4),
    audit("lamb-6", "archetypes/lamb", 9.0, hours=5),
    audit("lamb-7", "archetypes/lamb", 10.0, hours=6),
]


# ---------------------------------------------------------------------------------------------- analyze corpus


def test_corpus_stats_per_archetype():
    stats = analyze_corpus([*LAMB, *OWL, audit("loner", "", 5.0)])
    assert [entry.archetype for entry in stats] == ["", "archetypes/lamb", "archetypes/owl"]
    owl = stats[2]
    assert owl.audit_count == 3
    assert owl.avg_words_per_turn == 22.5  # (20 * 4 + 30 * 6 + 19 * 10) / 20, weighted by persona turns
    assert owl.target_words_per_turn == OWL_TARGET  # two of three
    assert owl.enthusiasm_leak_rate == pytest.approx(1 / 3, abs=1e-4)
    assert owl.mean_scores == AuditScoreMeans(4.33, 9.67, 10.0, 9.0, 9.67, 8.53)
    assert [(c.reason, c.count) for c in owl.flag_counts] == [
        ("FLAG_REASON_TOO_LONG", 4),
        ("FLAG_REASON_ENTHUSIASM_LEAK", 1),
    ]
    lamb = stats[1]
    assert lamb.enthusiasm_leak_rate == pytest.approx(4 / 7, abs=1e-4)
    assert [(p.phrase, p.audit_count, p.occurrence_count) for p in lamb.top_phrases] == [
        ("i appreciate that", 4, 5),
        ("wow", 1, 1),
    ]


def test_phrases_come_from_the_quoted_names_in_explanations():
    assert quoted_phrases("Enthusiasm leak: 'that's amazing', 'I'm so excited', 3 exclamation marks") == (
        "that's amazing",
        "I'm so excited",
    )
    assert quoted_phrases("Gives in at persona turn 1 of 8 ('sounds good to me'); too early for difficulty 4") == (
        "sounds good to me",
    )
    assert quoted_phrases("31 words; target 8-12") == ()
    assert flag_reason_name(FlagReason.TOO_LONG) == "FLAG_REASON_TOO_LONG"
    assert flag_reason_name("FLAG_REASON_PACING") == "FLAG_REASON_PACING"


def test_top_phrases_are_capped_at_twenty_most_frequent_first():
    quotes = [leak(i, f"phrase {i}") for i in range(1, 26)] + [leak(30, "phrase 7"), leak(31, "phrase 7")]
    (stats,) = analyze_corpus([audit("many", "archetypes/lamb", 10.0, *quotes)])
    assert len(stats.top_phrases) == 20
    assert stats.top_phrases[0].phrase == "phrase 7" and stats.top_phrases[0].occurrence_count == 3


# ---------------------------------------------------------------------------------------------- identify patterns


def owl_22() -> list[CorpusAudit]:
    return [
        audit("o1", "archetypes/owl", 22.0, too_long(2, 30), hours=1),
        audit("o2", "archetypes/owl", 26.0, too_long(4, 35), too_long(6, 19), hours=2),
        audit("o3", "archetypes/owl", 18.0, hours=3),
        audit("o4", "archetypes/owl", 11.0, turns=8, hours=4),
        audit("o5", "archetypes/owl", 33.0, hours=5),
    ]  # (22 + 26 + 18 + 11 + 33) / 5 = 22


def test_findings_with_the_exact_summaries():
    corpus = [*owl_22(), *LAMB]
    findings = identify_patterns(corpus, analyze_corpus(corpus), min_audits=3)
    assert [(f.finding_id, f.kind, f.summary) for f in findings] == [
        ("f1", FindingKind.REPEATED_PHRASE, "Lamb says 'I appreciate that' in 4 of 7 calls"),
        ("f2", FindingKind.VERBOSITY, "Owl personas average 22 words/turn (target 8-12)"),
    ]
    phrase, verbosity = findings
    assert phrase.phrase == "I appreciate that"
    assert (phrase.affected_audit_count, phrase.considered_audit_count) == (4, 7)
    assert phrase.evidence_audits == tuple(f"corpusAudits/lamb-{n}" for n in (4, 3, 2, 1))
    assert len(phrase.evidence_quotes) == 5
    assert phrase.evidence_quotes[0].audit == "corpusAudits/lamb-4" and phrase.evidence_quotes[0].sequence == 8
    assert verbosity.observed_value == 22.0
    assert (verbosity.target_min, verbosity.target_max) == (8.0, 12.0)
    assert (verbosity.affected_audit_count, verbosity.considered_audit_count) == (4, 5)
    assert verbosity.evidence_audits[0] == "corpusAudits/o5"  # furthest over first
    assert [q.sequence for q in verbosity.evidence_quotes] == [4, 2, 6]  # longest quotes first


def test_archetypes_with_too_few_audits_produce_no_findings():
    corpus = [*owl_22(), *LAMB]
    stats = analyze_corpus(corpus)
    assert [f.archetype for f in identify_patterns(corpus, stats, min_audits=6)] == ["archetypes/lamb"]
    assert identify_patterns(corpus, stats, min_audits=8) == ()


def test_a_leak_no_single_phrase_explains_is_an_enthusiasm_leak_finding():
    corpus = [
        audit("l1", "archetypes/lamb", 10.0, leak(2, "wow"), hours=1),
        audit("l2", "archetypes/lamb", 10.0, leak(2, "great question"), hours=2),
        audit("l3", "archetypes/lamb", 10.0, leak(4, "sounds great", exclamations=2), hours=3),
        audit("l4", "archetypes/lamb", 10.0, hours=4),
    ]
    (finding,) = identify_patterns(corpus, analyze_corpus(corpus), min_audits=3)
    assert finding.kind == FindingKind.ENTHUSIASM_LEAK
    assert finding.summary == "Lamb personas leak enthusiasm in 3 of 4 calls"
    assert finding.observed_value == 0.75
    # One phrase behind every leak: the phrase finding is enough.
    explained = [audit(f"e{i}", "archetypes/lamb", 10.0, leak(2, "wow"), hours=i) for i in range(3)]
    kinds = [f.kind for f in identify_patterns(explained, analyze_corpus(explained), min_audits=3)]
    assert kinds == [FindingKind.REPEATED_PHRASE]


def test_character_inconsistency_and_pacing_findings_from_thirty_percent_of_calls():
    corpus = [
        audit("b1", "archetypes/bear", 8.0, flag(2, FlagReason.OUT_OF_CHARACTER, "Breaks character: 'as an ai'")),
        audit("b2", "archetypes/bear", 8.0, flag(2, FlagReason.INCONSISTENT, "'thanks so much': too warm")),
        audit("b3", "archetypes/bear", 8.0, flag(4, FlagReason.PACING, "Gives in at persona turn 1 of 8 ('i'm sold')")),
        audit("b4", "archetypes/bear", 8.0, flag(6, FlagReason.PACING, "Monologue of 60 words over 2 messages")),
    ]
    findings = identify_patterns(corpus, analyze_corpus(corpus), min_audits=1)
    assert [(f.kind, f.summary) for f in findings] == [
        (FindingKind.PACING, "Bear personas give in too early or monologue in 2 of 4 calls"),
    ]
    corpus.append(replace(corpus[0], name="corpusAudits/b5"))
    corpus.append(replace(corpus[1], name="corpusAudits/b6"))
    kinds = [f.kind for f in identify_patterns(corpus, analyze_corpus(corpus), min_audits=1)]
    assert kinds == [FindingKind.OUT_OF_CHARACTER, FindingKind.INCONSISTENCY, FindingKind.PACING]


def test_every_coach_flag_in_enough_calls_is_a_finding_with_its_quotes_and_its_rule():
    """A difficulty-5 persona that gives its budget away: the evolution run finds it, quotes it and proposes the
    auditor's fix for it."""
    giveaway = FlaggedQuote(2, "We have eighty thousand set aside and I sign.", FlagReason.EARLY_DISCLOSURE,
                            "Gives its budget, authority before the candidate earned it (difficulty 5)")
    corpus = [audit(f"d{i}", "archetypes/owl", 8.0, giveaway, hours=i) for i in range(3)]
    corpus.append(audit("d3", "archetypes/owl", 8.0, flag(4, FlagReason.HOSTILITY, "Insults the candidate: 'clown'")))
    (finding,) = identify_patterns(corpus, analyze_corpus(corpus), min_audits=3)
    assert (finding.kind, finding.summary) == (
        FindingKind.EARLY_DISCLOSURE,
        "Owl personas give their budget, signer or deadline before the candidate earns them in 3 of 4 calls")
    assert finding.evidence_quotes[0].text == giveaway.text
    (refinement,) = generate_refinements([finding], [], max_refinements=5)
    assert (refinement.operation, refinement.target, refinement.text) == (
        PatchOperation.ADD_RULE, PatchTarget.SYSTEM_PROMPT, EARLY_DISCLOSURE_FIX)


def test_evidence_is_capped():
    corpus = [audit(f"v{i:02}", "archetypes/owl", 30.0, too_long(2, 40), too_long(4, 41), hours=i) for i in range(60)]
    (finding,) = identify_patterns(corpus, analyze_corpus(corpus), min_audits=3)
    assert finding.affected_audit_count == 60
    assert len(finding.evidence_audits) == 50
    assert len(finding.evidence_quotes) == 10


# ---------------------------------------------------------------------------------------------- refinements


def findings_for(corpus: list[CorpusAudit]) -> tuple[Finding, ...]:
    return identify_patterns(corpus, analyze_corpus(corpus), min_audits=3)


def test_refinements_are_surgical_patches_for_the_findings():
    findings = findings_for([*owl_22(), *LAMB])
    # Verbosity first: four of five owl calls against four of seven lamb calls.
    length, ban = generate_refinements(findings, [], max_refinements=5)
    assert ban.refinement_id == "r2"
    assert (ban.archetype, ban.target, ban.operation) == (
        "archetypes/lamb",
        PatchTarget.VOICE_PROMPT,
        PatchOperation.BAN_PHRASE,
    )
    assert ban.phrase == "I appreciate that"
    assert ban.text == "Never say 'I appreciate that' - too warm for someone who didn't ask for this call."
    assert ban.words_per_turn is None and ban.finding_ids == ("f1",)
    assert length.refinement_id == "r1"
    # The range of the flawed audits' difficulty (4), for that difficulty only.
    assert (length.operation, length.part, length.edit) == (PatchOperation.EDIT_PART, PromptPart.LENGTH_RANGE,
                                                            PartEdit.REPLACE)
    assert length.scope == PatchScope("", 4, 4) and findings[1].min_difficulty == findings[1].max_difficulty == 4
    assert length.words_per_turn == OWL_TARGET
    assert length.text == "Keep every answer to 8-12 words until the candidate earns more."
    assert length.finding_ids == ("f2",) and length.supersedes == ""
    assert "Owl personas average 22 words/turn" in length.rationale
    assert generate_refinements(findings, [], max_refinements=1) == (length,)


def test_a_length_range_is_told_to_the_difficulty_whose_target_it_is():
    """Owls of difficulty 4 and 2 talk too long; 8-16 is the target of difficulty 4, not of 2 (12-28)."""
    d4_target = WordRange(8, 16)
    corpus = [replace(a, target_words_per_turn=d4_target) for a in owl_22()]
    corpus.append(replace(audit("o9", "archetypes/owl", 40.0, target=d4_target, hours=6), difficulty=2))
    (refinement,) = generate_refinements(findings_for(corpus), [], max_refinements=5)
    assert refinement.words_per_turn == d4_target and refinement.scope == PatchScope("", 4, 4)


def test_a_length_range_for_the_flawed_difficulties_supersedes_nothing_and_an_equal_one_is_skipped():
    """The archetype's range still holds for the difficulties the new one does not reach."""
    findings = findings_for(owl_22())
    old = patch(
        "old-range",
        "archetypes/owl",
        PatchOperation.CHANGE_LENGTH_RANGE,
        "Keep answers to 10-20 words.",
        words_per_turn=WordRange(10, 20),
    )
    other_archetype = replace(old, name="patches/fox-range", archetype="archetypes/fox")
    (refinement,) = generate_refinements(findings, [other_archetype, old], max_refinements=5)
    assert refinement.supersedes == ""
    same = replace(old, name="patches/same-range", words_per_turn=OWL_TARGET)
    assert generate_refinements(findings, [same], max_refinements=5) == ()
    inactive = replace(same, state=PatchState.DEACTIVATED)
    (again,) = generate_refinements(findings, [inactive], max_refinements=5)
    assert again.supersedes == ""


def test_a_phrase_already_banned_is_not_proposed_again():
    findings = findings_for(LAMB)
    own = patch("ban", "archetypes/lamb", PatchOperation.BAN_PHRASE, "Never say it.", phrase="i appreciate THAT")
    for_all = replace(own, name="patches/ban-all", archetype="")
    elsewhere = replace(own, name="patches/ban-fox", archetype="archetypes/fox")
    assert generate_refinements(findings, [own], max_refinements=5) == ()
    assert generate_refinements(findings, [for_all], max_refinements=5) == ()
    assert len(generate_refinements(findings, [elsewhere], max_refinements=5)) == 1


def test_rules_for_leaks_character_tone_and_pacing():
    def finding(finding_id: str, kind: FindingKind, affected: int) -> Finding:
        return Finding(finding_id, "archetypes/bear", kind, "s", 0.5, 0, 0, "", affected, 10, (), ())

    findings = [
        finding("f1", FindingKind.PACING, 5),
        finding("f2", FindingKind.INCONSISTENCY, 5),
        finding("f3", FindingKind.ENTHUSIASM_LEAK, 4),
        finding("f4", FindingKind.OUT_OF_CHARACTER, 5),
    ]
    refinements = generate_refinements(findings, [], max_refinements=5)
    # Most affected first, then the worst kind.
    assert [(r.refinement_id, r.finding_ids, r.operation) for r in refinements] == [
        ("r1", ("f4",), PatchOperation.ADD_RULE),
        ("r2", ("f2",), PatchOperation.ADD_RULE),
        ("r3", ("f1",), PatchOperation.ADD_RULE),
        ("r4", ("f3",), PatchOperation.ADD_RULE),
    ]
    assert [(r.target, r.text) for r in refinements] == [
        (PatchTarget.SYSTEM_PROMPT, IN_CHARACTER_RULE),
        (PatchTarget.ELEMENTAL_BEHAVIOR, CONSISTENT_TONE_RULE),
        (PatchTarget.ELEMENTAL_BEHAVIOR, HOLD_GROUND_RULE),
        (PatchTarget.VOICE_PROMPT, ENTHUSIASM_RULE),
    ]
    # Each rule is one the local simulator follows.
    rules = parse_rules([r.text for r in refinements])
    assert rules.in_character and rules.consistent_tone and rules.hold_ground and rules.calm
    assert rules.ignored == ()
    active = [patch("calm", "", PatchOperation.ADD_RULE, ENTHUSIASM_RULE)]
    assert len(generate_refinements(findings, active, max_refinements=5)) == 3


# ---------------------------------------------------------------------------------------------- judge


def summary(brevity: float, overall: float, calls: int = 12) -> SimulationSummary:
    """Every call scored alike, so each seed pair moves the way the means do."""
    scores = AuditScoreMeans(brevity, 9.0, 9.0, 9.0, 9.0, overall)
    return SimulationSummary(calls, scores, 20.0, 2.0, (scores,) * calls)


def test_judge_passes_a_refinement_that_raises_its_score():
    findings = findings_for(owl_22())
    (refinement,) = generate_refinements(findings, [], max_refinements=5)
    result = judge(refinement, findings, summary(2.0, 7.6), summary(9.5, 9.1), 0.5, Engine.LOCAL)
    assert result.passed and result.score_gain == 7.5
    assert result.engine == Engine.LOCAL and result.refinement_id == "r1"
    assert result.explanation.startswith("Passed: brevity went from 2.00 to 9.50 (+7.50")


def test_judge_fails_too_small_a_gain_and_a_worse_overall():
    findings = findings_for(owl_22())
    (refinement,) = generate_refinements(findings, [], max_refinements=5)
    small = judge(refinement, findings, summary(5.0, 8.0), summary(5.3, 8.1), 0.5, Engine.OPENAI)
    assert not small.passed and small.score_gain == 0.3 and small.engine == Engine.OPENAI
    assert "not enough" in small.explanation
    worse = judge(refinement, findings, summary(5.0, 8.0), summary(9.0, 7.9), 0.5, Engine.LOCAL)
    assert not worse.passed and worse.score_gain == 4.0
    assert "overall score got worse" in worse.explanation
    phrase_findings = findings_for(LAMB)
    (ban,) = generate_refinements(phrase_findings, [], max_refinements=5)
    base = SimulationSummary(3, AuditScoreMeans(2.0, 9.0, 9.0, 4.0, 9.0, 6.6), 20.0, 2.0)
    better = SimulationSummary(3, AuditScoreMeans(2.0, 9.0, 9.0, 7.0, 9.0, 7.2), 20.0, 1.0)
    assert judge(ban, phrase_findings, base, better, 0.5, Engine.LOCAL).score_gain == 3.0  # enthusiasm_leak


def test_judge_needs_a_significant_gain_not_a_few_lucky_calls():
    findings = findings_for(owl_22())
    (refinement,) = generate_refinements(findings, [], max_refinements=5)
    few = judge(refinement, findings, summary(5.0, 8.0, calls=3), summary(9.0, 9.0, calls=3), 0.5, Engine.LOCAL)
    assert not few.passed and few.p_value == 0.125  # three rises out of three: one chance in eight
    assert "not significant" in few.explanation and "sign test p = 0.125" in few.explanation
    enough = judge(refinement, findings, summary(5.0, 8.0, calls=5), summary(9.0, 9.0, calls=5), 0.5, Engine.LOCAL)
    assert enough.passed and enough.p_value == 0.0312


@pytest.mark.parametrize("kind", list(FindingKind))
def test_every_kind_of_finding_is_judged_on_the_score_its_flags_cost(kind):
    findings = tuple(replace(finding, kind=kind) for finding in findings_for(owl_22()))
    (refinement,) = generate_refinements(findings_for(owl_22()), [], max_refinements=5)
    result = judge(refinement, findings, summary(9.0, 9.0), summary(9.0, 9.0), 0.5, Engine.LOCAL)
    assert not result.passed and result.explanation.split(" went from")[0].removeprefix("Failed: ") in {
        "brevity", "authenticity", "consistency", "enthusiasm leak", "pacing"}


@pytest.mark.timeout(600)  # 200 simulated runs of audited calls: about a minute idle, more on a loaded machine
def test_a_patch_with_no_true_effect_passes_at_most_as_often_as_the_significance_level():
    """A model plays each call its own way: here, the two sides of a seed pair are played with different seeds and
    the same rules, so any difference is chance. The authenticity of this persona varies from call to call."""
    findings = tuple(replace(finding, kind=FindingKind.OUT_OF_CHARACTER) for finding in findings_for(owl_22()))
    (refinement,) = generate_refinements(findings, [], max_refinements=5)
    calls, runs = DEFAULT_OPTIONS["simulated_calls"], 100
    passed = 0
    for run in range(runs):
        baseline = simulate([ENTHUSIAST], [], calls, first_seed=1 + 2 * run * calls)
        patched = simulate([ENTHUSIAST], [], calls, first_seed=1 + (2 * run + 1) * calls)
        passed += judge(refinement, findings, baseline, patched, DEFAULT_OPTIONS["min_score_gain"],
                        Engine.LOCAL).passed
    assert passed / runs <= 0.05


# ---------------------------------------------------------------------------------------------- contract


def test_every_output_parses_into_its_proto_message():
    corpus = [*owl_22(), *LAMB]
    stats = analyze_corpus(corpus)
    findings = identify_patterns(corpus, stats, min_audits=3)
    refinements = generate_refinements(findings, [], max_refinements=5)
    length, ban = refinements
    result = judge(length, findings, summary(2.0, 7.6), summary(9.5, 9.1), 0.5, Engine.LOCAL)
    message = json_format.ParseDict(asdict(stats[1]), pb.ArchetypeCorpusStats())
    assert message.flag_counts[0].reason == audit_pb2.FLAG_REASON_TOO_LONG
    assert message.target_words_per_turn.max_words == 12
    message = json_format.ParseDict(asdict(findings[0]), pb.Finding())
    assert message.kind == pb.FINDING_KIND_REPEATED_PHRASE
    assert message.evidence_quotes[0].sequence == 8
    message = json_format.ParseDict(asdict(ban), pb.Refinement())
    assert message.operation == pb.PATCH_OPERATION_BAN_PHRASE and not message.HasField("words_per_turn")
    message = json_format.ParseDict(asdict(length), pb.Refinement())
    assert message.words_per_turn.min_words == 8 and message.target == pb.PATCH_TARGET_VOICE_PROMPT
    # Engines are named as the analysis service names them; the run's message gives them their proto names.
    (message,) = convert.evolution_run({"name": "evolutionRuns/e1", "validate": {"results": [asdict(result)]}}) \
        .validate.results
    assert message.engine == pb.ENGINE_LOCAL and message.patched.scores.brevity == 9.5


# ---------------------------------------------------------------------------------------------- end to end

RAMBLER = SimulatedPersona(
    persona="personas/otto-vance",
    display_name="Otto Vance",
    archetype="archetypes/owl",
    difficulty=5,
    blueprint="BLUEPRINT_SALES",
    personality_traits=("analytical", "sceptical", "long-winded"),
    traits={"agreeableness": 0.3},
    communication_style="Rambles about procurement history and explains everything in detail.",
    language_style="LANGUAGE_STYLE_VERBOSE",
    emotional_style="EMOTIONAL_STYLE_RESERVED",
    beliefs=("Every vendor overpromises.",),
    objection_patterns=("Show me the numbers first.",),
    domains=("procurement", "vendor management"),
)


def rambler_calls() -> list[CorpusAudit]:
    """Five audited calls of the rambling owl (difficulty 5)."""
    return [
        CorpusAudit.of(
            audit_simulated(RAMBLER, simulate_call(RAMBLER, [], seed)),
            name=f"corpusAudits/call-{seed}",
            persona=RAMBLER.persona,
            persona_display_name=RAMBLER.display_name,
            audit_time=T0 + timedelta(minutes=seed),
        )
        for seed in range(100, 105)
    ]


def test_a_flawed_persona_is_fixed_end_to_end():
    corpus = rambler_calls()
    stats = analyze_corpus(corpus)
    findings = identify_patterns(corpus, stats, min_audits=3)
    assert [f.kind for f in findings] == [FindingKind.VERBOSITY]
    assert findings[0].summary.startswith("Owl personas average ")
    assert findings[0].summary.endswith(" words/turn (target 5-12)")
    active = [patch("gentle", "archetypes/owl", PatchOperation.CHANGE_LENGTH_RANGE, "Use 10-30 words per turn.")]
    (refinement,) = generate_refinements(findings, active, max_refinements=5)
    assert refinement.scope == PatchScope("", 5, 5) and refinement.supersedes == ""

    baseline = simulate([RAMBLER], [p.text for p in active], calls=12)
    patched = simulate([RAMBLER], [*(p.text for p in active), refinement.text], calls=12)
    result = judge(refinement, findings, baseline, patched, 0.5, Engine.LOCAL)
    assert result.passed, result.explanation
    assert patched.scores.overall > baseline.scores.overall
    assert patched.scores.brevity - baseline.scores.brevity >= 3
    assert 5 <= patched.avg_words_per_turn <= 12
    assert patched.flagged_quotes_per_call < baseline.flagged_quotes_per_call


BUDGET_FIRST = SimulatedPersona(
    persona="personas/rex-dunmore",
    display_name="Rex Dunmore",
    archetype="archetypes/bear",
    difficulty=5,
    blueprint="BLUEPRINT_SALES",
    personality_traits=("blunt", "impatient", "gives its budget away in the first answer"),
    traits={"agreeableness": 0.2},
    communication_style="Curt; demands the bottom line.",
    beliefs=("Most tools never get used.",),
    objection_patterns=("Prove it works for a team our size.",),
    domains=("field service",),
)
OTHER_HARD_BEAR = replace(BUDGET_FIRST, persona="personas/vera-holt", display_name="Vera Holt",
                          personality_traits=("blunt", "impatient", "time-pressed"))


def brief(persona: SimulatedPersona) -> PersonaBrief:
    return PersonaBrief(persona.persona, persona.archetype, persona.difficulty, "", "", persona.communication_style,
                        persona.personality_traits, persona.objection_patterns)


def test_a_budget_given_away_first_is_fixed_by_editing_the_trait_that_asks_for_it():
    corpus = [CorpusAudit.of(audit_simulated(BUDGET_FIRST, simulate_call(BUDGET_FIRST, [], seed)),
                             name=f"corpusAudits/budget-{seed}", persona=BUDGET_FIRST.persona,
                             audit_time=T0 + timedelta(minutes=seed)) for seed in range(1, 4)]
    findings = identify_patterns(corpus, analyze_corpus(corpus), min_audits=3)
    (finding,) = [f for f in findings if f.kind == FindingKind.EARLY_DISCLOSURE]
    assert finding.affected_audit_count == 3
    assert all("$" in quote.text and quote.sequence == 2 for quote in finding.evidence_quotes)

    refinements = generate_refinements(findings, [], max_refinements=5, briefs=[brief(BUDGET_FIRST)])
    (refinement,) = [r for r in refinements if finding.finding_id in r.finding_ids]
    assert (refinement.operation, refinement.part, refinement.edit, refinement.find_text, refinement.text) == (
        PatchOperation.EDIT_PART, PromptPart.PERSONALITY_TRAITS, PartEdit.REPLACE,
        "gives its budget away in the first answer", HOLD_BACK_BUDGET)
    assert refinement.scope == PatchScope("", 5, 5)
    # Without the persona's own words to edit, the auditor's rule is proposed as before.
    (rule,) = [r for r in generate_refinements(findings, [], 5) if finding.finding_id in r.finding_ids]
    assert (rule.operation, rule.text) == (PatchOperation.ADD_RULE, EARLY_DISCLOSURE_FIX)

    baseline = simulate([BUDGET_FIRST], (), calls=12)
    patched = simulate([BUDGET_FIRST], (refinement.text,), calls=12)
    result = judge(refinement, findings, baseline, patched, 0.5, Engine.LOCAL)
    assert result.passed, result.explanation
    assert patched.scores.pacing - baseline.scores.pacing >= 2
    # Another difficulty-5 bear it reaches plays the same calls with it as without it.
    other = [simulate([OTHER_HARD_BEAR], rules, calls=12) for rules in
             ((), (refinement.text,))]
    assert other[0] == other[1]
    assert side_effect(OTHER_HARD_BEAR, *other).regressed == ()
