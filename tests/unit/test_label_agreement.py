"""The second labellings (a second coach's labels of the fourteenth English sales part, a second labeller's flaws of
the sixteenth held-out part of the persona audit set) are well formed and agree with their writers' labels as
docs/say_meter.md and docs/persona_audit.md say (the engines' figures beside them need fits: ``--engine``)."""

from __future__ import annotations

import json

import pytest

from devtools import label_agreement, persona_audit_eval
from devtools.say_meter_corpus import kendall, spearman
from tests.unit.labelled_conversations import label_of
from tests.unit.test_sales_corpus import WEIGHTS

AUDIT_CALLS = [call for call in persona_audit_eval.load() if call.split == label_agreement.AUDIT_PART]


def test_the_second_coach_scores_every_dimension_and_labels_by_the_rubric():
    second = json.loads(label_agreement.SECOND_COACH.read_text())
    for labels in second.values():
        assert set(labels["dimensions"]) == set(WEIGHTS)
        assert all(0 <= score <= 4 for score in labels["dimensions"].values())
        assert abs(labels["label"] - label_of(labels["dimensions"], WEIGHTS)) <= 1, "a coach moves a label one step"
        assert labels["coach_notes"].strip()


def test_the_two_coaches_agree_as_documented():
    coaches = label_agreement.coaches()
    assert len(coaches.ids) == 54
    assert round(spearman(coaches.writer, coaches.second), 2) == 0.89
    assert round(kendall(coaches.writer, coaches.second), 2) == 0.84
    assert sum(a == b for a, b in zip(coaches.writer, coaches.second, strict=True)) == 42  # 78%
    assert all(abs(a - b) <= 1 for a, b in zip(coaches.writer, coaches.second, strict=True))


def test_the_second_labeller_labels_every_persona_turn_with_known_flaws():
    second = label_agreement.second_labels(AUDIT_CALLS)
    assert sum(len(turns) for turns in second.values()) == 200


@pytest.mark.parametrize(("flaw", "counts"), [
    # (labelled by the writer, flagged by the second labeller, both): only responsiveness differs.
    *((flaw, (12, 12, 12)) for flaw in persona_audit_eval.FLAWS if flaw != "unresponsive"),
    ("unresponsive", (14, 16, 14)),
])
def test_the_two_labellers_agree_as_documented(flaw, counts):
    figures = label_agreement.against(AUDIT_CALLS, label_agreement.second_labels(AUDIT_CALLS))[flaw]
    labelled = figures.true_positives + figures.false_negatives
    flagged = figures.true_positives + figures.false_positives
    assert (labelled, flagged, figures.true_positives) == counts


def test_a_second_labelling_that_misses_a_call_is_refused(monkeypatch, tmp_path):
    stored = label_agreement.SECOND_LABELLER.read_text()
    shorter = tmp_path / "heldout16.yaml"
    shorter.write_text("\n".join(line for line in stored.splitlines() if not line.startswith("h16-01:")))
    monkeypatch.setattr(label_agreement, "SECOND_LABELLER", shorter)
    with pytest.raises(ValueError, match="exactly the part's calls"):
        label_agreement.second_labels(AUDIT_CALLS)
