"""The local fact extractor, the citation rule, and the figures docs/memory_facts.md reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from calls.turns import Role, Turn
from devtools.memory_facts import report
from persona_svc.domain.facts import ExtractedFact, FactKind, ObjectionOutcome, check_citations, extract_facts, topic_of
from svckit.errors import InvalidArgument

DOCS = Path(__file__).resolve().parents[2] / "docs" / "memory_facts.md"


def test_a_promise_with_a_date_is_a_confident_commitment_and_an_offer_in_a_question_is_none():
    facts = extract_facts([Turn(1, Role.USER, "I'll send the proposal by Friday"),
                           Turn(2, Role.USER, "shall i write this up for you")])
    assert [(f.kind, f.message_sequences, f.confidence) for f in facts] == [(FactKind.COMMITMENT, (1,), 0.8)]


def test_an_objection_is_handled_only_if_the_persona_accepts_after_it():
    turns = [Turn(1, Role.ASSISTANT, "that sounds like a lot of work"), Turn(2, Role.USER, "it takes two days"),
             Turn(3, Role.ASSISTANT, "ok that makes sense")]
    objection = next(f for f in extract_facts(turns) if f.kind is FactKind.OBJECTION)
    assert objection.outcome is ObjectionOutcome.HANDLED
    assert next(f for f in extract_facts(turns[:2]) if f.kind is FactKind.OBJECTION).outcome is ObjectionOutcome.OPEN


def test_a_topic_is_the_subject_named_or_the_first_longer_words():
    assert topic_of("send me the pricing next week") == "price"
    assert topic_of("i'll send the security questionnaire") == "send security questionnaire"


def test_a_fact_must_cite_messages_of_the_session():
    good = ExtractedFact(FactKind.DISCLOSURE, "we run on spreadsheets", "", (2,), 0.5)
    check_citations([good], {1, 2}, "facts")
    with pytest.raises(InvalidArgument) as refused:
        check_citations([good, ExtractedFact(FactKind.COMMITMENT, "x", "", (), 0.5)], {1}, "facts")
    assert refused.value.reason == "FACT_CITES_UNKNOWN_MESSAGE"
    assert [v.field for v in refused.value.violations] == ["facts[0].message_sequences[0]",
                                                          "facts[1].message_sequences"]


def test_the_documented_figures_are_the_extractors():
    assert report() in DOCS.read_text()
