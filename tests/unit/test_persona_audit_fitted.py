"""The persona auditor's fitted classifiers: how they are read and scored, how they join the rules, and that the
committed file is what fitting the labelled turns gives."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from types import MappingProxyType

import pytest

from calls.fitted_flaws import FITTED_PATH, FlawClassifier, classifiers_from, load_classifiers
from calls.persona_audit import (
    FITTED_CLASSIFIERS,
    HOSTILITY_FIX,
    UNRESPONSIVE_FIX,
    FlagReason,
    PersonaAudit,
    audit_persona,
    turn_features,
)
from calls.turns import Role, Turn
from devtools.fit_persona_audit import ADOPTED, DECIDING, development_calls, document, features_of
from devtools.persona_audit_eval import FLAWS, flagged, load
from tests.unit.test_persona_audit import GUARDED, dialogue

# Hostile whenever a turn says "teapot": a classifier no rule agrees with.
TEAPOT = FlawClassifier(-5.0, MappingProxyType({"w:teapot": 10.0}), 0.5)


def hostile_turns(audit: PersonaAudit) -> list[int]:
    return sorted(quote.sequence for quote in audit.flagged_quotes if quote.reason == FlagReason.HOSTILITY)


def unresponsive_turns(audit: PersonaAudit) -> list[int]:
    return sorted(quote.sequence for quote in audit.flagged_quotes if quote.reason == FlagReason.UNRESPONSIVE)


def test_a_classifier_is_a_logistic_regression_over_the_features_a_turn_has() -> None:
    classifier = classifiers_from({"flaws": {"hostility": {"bias": -1.0, "threshold": 0.8,
                                                           "weights": {"w:fool": 1.0 + math.log(3), "w:you": 0.5}}}})
    hostility = classifier["hostility"]
    assert hostility.probability({"w:fool"}) == pytest.approx(0.75)
    assert hostility.probability(set()) == pytest.approx(1 / (1 + math.e))
    assert hostility.flags({"w:fool", "w:you"}) and not hostility.flags({"w:fool"})
    assert hostility.probability({"w:fool"} | {f"w:{index}" for index in range(10_000)}) == pytest.approx(0.75)


def test_the_committed_classifiers_are_those_adopted_and_the_auditor_uses_them() -> None:
    assert set(load_classifiers()) == set(ADOPTED) == set(FITTED_CLASSIFIERS) and set(ADOPTED) <= set(FLAWS)
    assert all(0 < classifier.threshold < 1 for classifier in FITTED_CLASSIFIERS.values())
    assert {flaw for flaw, classifier in FITTED_CLASSIFIERS.items() if classifier.decides} == set(DECIDING)


def test_a_classifier_flags_what_the_rules_miss_at_the_cost_of_the_rules_flag() -> None:
    turns = dialogue("What would you check first?", "The teapot, obviously.")
    alone = audit_persona(turns, GUARDED, classifiers={})
    both = audit_persona(turns, GUARDED, classifiers={"hostility": TEAPOT})
    assert hostile_turns(alone) == [] and hostile_turns(both) == [2]
    assert both.scores.consistency == max(1, alone.scores.consistency - 4)  # what a hostile turn costs by the rules
    assert HOSTILITY_FIX in both.recommendations and HOSTILITY_FIX not in alone.recommendations


def test_a_deciding_classifier_drops_the_rules_flags_it_does_not_confirm_and_their_cost() -> None:
    turns = dialogue("What happens in a new hire's first week?", "The teapot on my desk is lovely, very blue.",
                     "When did you last change the process?", "Honestly the best pizza in town is two doors down.")
    unresponsive = FlawClassifier(-5.0, MappingProxyType({"w:teapot": 10.0}), 0.5, decides=True)
    alone = audit_persona(turns, GUARDED, classifiers={})
    one_kept = audit_persona(turns, GUARDED, classifiers={"unresponsive": unresponsive})
    assert unresponsive_turns(alone) == [2, 4] and unresponsive_turns(one_kept) == [2]
    assert one_kept.scores.authenticity == min(10, alone.scores.authenticity + 2)  # what the dropped flag cost
    assert UNRESPONSIVE_FIX in one_kept.recommendations
    none_kept = audit_persona(turns, GUARDED, classifiers={
        "unresponsive": replace(unresponsive, weights=MappingProxyType({}))})
    assert unresponsive_turns(none_kept) == [] and UNRESPONSIVE_FIX not in none_kept.recommendations


def test_a_turn_the_rules_flag_is_not_flagged_twice() -> None:
    turns = dialogue("What would you check first?", "The teapot, you clueless amateur.")
    assert hostile_turns(audit_persona(turns, GUARDED, classifiers={})) == [2]
    both = audit_persona(turns, GUARDED, classifiers={"hostility": TEAPOT})
    assert hostile_turns(both) == [2]
    explanation = next(quote.explanation for quote in both.flagged_quotes if quote.reason == FlagReason.HOSTILITY)
    assert explanation.startswith("Insults the candidate")


def test_the_features_carry_the_rules_flags_the_words_and_the_question() -> None:
    turns = dialogue("Who signs this off?", "You would not understand, you clueless amateur.")
    features = turn_features(turns, GUARDED)[2]
    assert {"rule:hostility", "w:understand", "b:would_not", "you", "you:amateur", "question:who"} <= features
    assert turn_features([Turn(1, Role.ASSISTANT, "Hello.")], GUARDED)[1] >= {"question:none", "turn:1"}


def test_the_features_say_how_much_of_a_turn_is_about_the_call() -> None:
    # GUARDED objects that "we already have a process"; the candidate spoke of onboarding.
    turns = dialogue("How does onboarding work today?", "We already have a process for onboarding.",
                     "What slows it down?", "The canteen soup is lovely.")
    features = turn_features(turns, GUARDED)
    assert {"topic:most", "objection:shared"} <= features[2]
    assert "topic:none" in features[4] and "earlier:shared" not in features[4]


def test_the_evaluation_scores_turns_as_the_auditor_does() -> None:
    calls = [call for call in load() if call.split == "heldout8"]
    for call in calls:
        features = features_of(call)
        expected = {sequence: frozenset(flaw for flaw in FLAWS if (
            FITTED_CLASSIFIERS[flaw].flags(features[sequence]) if flaw in DECIDING
            else f"rule:{flaw}" in features[sequence] or (
                flaw in FITTED_CLASSIFIERS and FITTED_CLASSIFIERS[flaw].flags(features[sequence]))))
            for sequence in call.labels}
        assert flagged(call) == expected, call.id


@pytest.mark.timeout(300)  # seconds on an idle machine: every call's features, then a few dozen fits
def test_the_committed_file_is_a_fresh_fit_of_the_labelled_turns() -> None:
    assert document(development_calls()) == json.loads(FITTED_PATH.read_text())
