"""The labelled sales call corpora (tests/data/sales_corpus in English, tests/data/sales_corpus_es in Spanish) are well
formed: every call names its source, carries the rubric's five dimension scores and a label that follows from them (a
coach may move it one step, saying why), and turns of the seller (user) and the buyer (assistant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import say_meter_split
from tests.unit import labelled_conversations

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "sales_corpus" / "calls"
SPANISH_CORPUS = DATA / "sales_corpus_es" / "calls"
KINDS = {"cold", "discovery", "demo", "negotiation", "save-desk", "closing", "objection-role-play"}
WEIGHTS = {"discovery": 0.30, "listening": 0.20, "objections": 0.20, "value": 0.15, "next_step": 0.15}


def assert_sourced_labelled_and_retold_turn_by_turn(path: Path, language: str) -> None:
    labelled_conversations.assert_sourced_labelled_and_retold(path, weights=WEIGHTS, kinds=KINDS, language=language)


def labels_of(corpus: Path) -> set[int]:
    return set(labelled_conversations.labels_of(corpus))


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda path: path.stem)
def test_a_call_is_sourced_labelled_and_retold_turn_by_turn(path):
    assert_sourced_labelled_and_retold_turn_by_turn(path, "en")


@pytest.mark.parametrize("path", sorted(SPANISH_CORPUS.glob("*.json")), ids=lambda path: path.stem)
def test_a_spanish_call_is_sourced_labelled_and_retold_turn_by_turn(path):
    assert_sourced_labelled_and_retold_turn_by_turn(path, "es")


def test_the_corpus_spans_every_label():
    assert labels_of(CORPUS) == {1, 2, 3, 4, 5}


def test_the_spanish_corpus_has_a_dozen_calls_over_every_label():
    assert len(list(SPANISH_CORPUS.glob("*.json"))) >= 12
    assert labels_of(SPANISH_CORPUS) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("corpus", say_meter_split.CORPORA.values(), ids=say_meter_split.CORPORA.keys())
def test_the_held_out_part_follows_from_ids_and_labels_alone(corpus):
    labels = say_meter_split.corpus_labels(corpus)
    held_out = say_meter_split.held_out_ids(corpus)
    assert held_out == say_meter_split.draw(labels)
    for label in set(labels.values()):
        ids = [call_id for call_id, lab in labels.items() if lab == label]
        assert len([call_id for call_id in ids if call_id in held_out]) == -(-len(ids) // say_meter_split.EVERY)
