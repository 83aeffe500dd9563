"""The labelled persona turns (tests/data/persona_audit_set) are well formed, and the auditor holds the figures
docs/persona_audit.md gives for them."""

from __future__ import annotations

from collections import Counter

import pytest

from calls.persona_audit import FlagReason
from calls.turns import Role
from devtools.persona_audit_eval import (
    DEVELOPMENT_SPLITS,
    FLAWS,
    SPLITS,
    THRESHOLD_CHOICES,
    Figures,
    cross_validated,
    figures,
    load,
)

CALLS = load()

# docs/persona_audit.md, the detectors cross-validated on the three parts: (precision, recall) by split, and left one
# call out at a time over all three; no figure may fall below these.
DOCUMENTED = {
    "held_out": {"early_disclosure": (1.0, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (1.0, 0.8),
                 "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 1.0), "out_of_character": (1.0, 1.0),
                 "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout2": {"early_disclosure": (0.91, 0.77), "no_resistance": (1.0, 1.0), "unresponsive": (0.86, 0.92),
                 "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 0.89), "out_of_character": (1.0, 1.0),
                 "hostility": (1.0, 1.0), "minimal_answer": (1.0, 0.92)},
    "development": {"early_disclosure": (1.0, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (0.8, 1.0),
                    "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 1.0), "out_of_character": (1.0, 1.0),
                    "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
}
CROSS_VALIDATED = {"early_disclosure": (0.95, 0.86), "no_resistance": (0.97, 1.0), "unresponsive": (0.79, 0.86),
                   "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 0.93), "out_of_character": (1.0, 1.0),
                   "hostility": (1.0, 1.0), "minimal_answer": (0.9, 0.95)}


def _hold(measured: dict[str, Figures], documented: dict[str, tuple[float, float]]) -> None:
    for flaw, (precision, recall) in documented.items():
        assert measured[flaw].precision is not None and measured[flaw].precision >= precision - 0.005, flaw
        assert measured[flaw].recall is not None and measured[flaw].recall >= recall - 0.005, flaw


def test_the_set_is_well_formed() -> None:
    assert set(FLAWS) <= {reason.value for reason in FlagReason}
    assert len({call.id for call in CALLS}) == len(CALLS)
    for call in CALLS:
        assert call.split in SPLITS
        assert call.source.strip(), f"{call.id} names its source"
        assert [turn.role for turn in call.turns] == [Role.USER, Role.ASSISTANT] * (len(call.turns) // 2), call.id
        assert all(labels <= set(FLAWS) for labels in call.labels.values()), call.id
    for split in SPLITS:
        labelled = {flaw for call in CALLS if call.split == split for labels in call.labels.values()
                    for flaw in labels}
        assert labelled == set(FLAWS), f"every flaw has labelled turns in {split}"


def test_the_second_held_out_part_has_every_flaw_eight_times_among_plenty_of_fine_turns() -> None:
    calls = [call for call in CALLS if call.split == "heldout2"]
    labels = [flaws for call in calls for flaws in call.labels.values()]
    labelled = Counter(flaw for flaws in labels for flaw in flaws)
    assert len(calls) >= 40 and len(labels) >= 130
    assert {flaw: labelled[flaw] for flaw in FLAWS if labelled[flaw] < 8} == {}
    assert sum(not flaws for flaws in labels) >= 100, "fine turns"
    assert {call.profile.difficulty for call in calls} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("split", DOCUMENTED)
def test_the_documented_figures_hold(split: str) -> None:
    _hold(figures(call for call in CALLS if call.split == split), DOCUMENTED[split])


def test_the_cross_validated_figures_hold() -> None:
    development = [call for call in CALLS if call.split in DEVELOPMENT_SPLITS]
    measured, chosen = cross_validated(development)
    _hold(measured, CROSS_VALIDATED)
    for flaw in THRESHOLD_CHOICES:  # one choice per call left out
        assert sum(chosen[flaw].thresholds.values()) == len(development), flaw
