"""The labelled sales call corpora (tests/data/sales_corpus in English, tests/data/sales_corpus_es in Spanish) are well
formed: every call names its source, carries the rubric's five dimension scores and a label that follows from them (a
coach may move it one step, saying why), and turns of the seller (user) and the buyer (assistant)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools import say_meter_split

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "sales_corpus" / "calls"
SPANISH_CORPUS = DATA / "sales_corpus_es" / "calls"
KINDS = {"cold", "discovery", "demo", "negotiation", "save-desk", "closing", "objection-role-play"}
WEIGHTS = {"discovery": 0.30, "listening": 0.20, "objections": 0.20, "value": 0.15, "next_step": 0.15}
CUTS = ((3.4, 5), (2.6, 4), (1.8, 3), (1.0, 2))  # the weighted sum from which each label starts


def label_of(dimensions: dict[str, float]) -> int:
    total = sum(WEIGHTS[name] * dimensions[name] for name in WEIGHTS)
    return next((label for cut, label in CUTS if total >= cut - 1e-9), 1)


def assert_sourced_labelled_and_retold_turn_by_turn(path: Path, language: str) -> None:
    call = json.loads(path.read_text())
    assert call["id"] == path.stem
    assert call["language"] == language
    assert call["kind"] in KINDS
    assert call["source"].strip() and call["retold"].strip() and call["coach_notes"].strip()
    assert set(call["dimensions"]) == set(WEIGHTS)
    assert all(0 <= score <= 4 for score in call["dimensions"].values())
    assert call["label"] in range(1, 6)
    assert abs(call["label"] - label_of(call["dimensions"])) <= 1, "a coach moves a label one step at most"
    assert len(call["turns"]) >= 3
    assert {turn["role"] for turn in call["turns"]} == {"user", "assistant"}
    assert all(turn["text"].strip() for turn in call["turns"])


def labels_of(corpus: Path) -> set[int]:
    return {json.loads(path.read_text())["label"] for path in corpus.glob("*.json")}


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


def test_the_held_out_part_follows_from_ids_and_labels_alone():
    labels = say_meter_split.corpus_labels()
    held_out = say_meter_split.held_out_ids()
    assert held_out == say_meter_split.draw(labels)
    for label in set(labels.values()):
        ids = [call_id for call_id, lab in labels.items() if lab == label]
        assert len([call_id for call_id in ids if call_id in held_out]) == -(-len(ids) // say_meter_split.EVERY)
