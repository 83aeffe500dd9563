"""Checks shared by the labelled conversation corpora (the sales calls in English and Spanish, and the track corpora
under tests/data/tracks): a conversation names its source, carries its rubric's dimension scores and a label that
follows from them (a coach may move it one step, saying why), and turns of both sides, the scored one as `user`."""

from __future__ import annotations

import json
from pathlib import Path

CUTS = ((3.4, 5), (2.6, 4), (1.8, 3), (1.0, 2))  # the weighted sum from which each label starts


def label_of(dimensions: dict[str, float], weights: dict[str, float]) -> int:
    total = sum(weights[name] * dimensions[name] for name in weights)
    return next((label for cut, label in CUTS if total >= cut - 1e-9), 1)


def assert_sourced_labelled_and_retold(
    path: Path, *, weights: dict[str, float], kinds: set[str], language: str
) -> dict:
    call = json.loads(path.read_text())
    assert call["id"] == path.stem
    assert call["language"] == language
    assert call["kind"] in kinds
    assert call["source"].strip() and call["retold"].strip() and call["coach_notes"].strip()
    assert set(call["dimensions"]) == set(weights)
    assert all(0 <= score <= 4 for score in call["dimensions"].values())
    assert call["label"] in range(1, 6)
    assert abs(call["label"] - label_of(call["dimensions"], weights)) <= 1, "a coach moves a label one step at most"
    assert len(call["turns"]) >= 3
    assert {turn["role"] for turn in call["turns"]} == {"user", "assistant"}
    assert all(turn["text"].strip() for turn in call["turns"])
    return call


def labels_of(corpus: Path) -> list[int]:
    return [json.loads(path.read_text())["label"] for path in corpus.glob("*.json")]
