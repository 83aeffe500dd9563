"""The labelled persona turns (tests/data/persona_audit_set) are well formed, and the auditor holds the figures
docs/persona_audit.md gives for them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import pytest

from calls.persona_audit import FlagReason
from calls.turns import Role
from devtools.fit_persona_audit import with_classifiers
from devtools.persona_audit_eval import (
    DEVELOPMENT_SPLITS,
    FLAWS,
    SPLITS,
    THRESHOLD_CHOICES,
    Figures,
    LabelledCall,
    cross_validated,
    figures,
    leave_one_part_out,
    load,
    pooled,
)

CALLS = load()
# Per flaw, the least (precision, recall) a split may show; no precision where the detectors may flag no turn.
Floors = Mapping[str, tuple[float | None, float]]

# docs/persona_audit.md: (precision, recall) by split (all twenty-one parts are development data now, and the fitted
# classifiers were fitted on all of them), and left one call out at a time over all twenty-one; no figure may fall
# below these.
DOCUMENTED: dict[str, Floors] = {
    "held_out": {"early_disclosure": (1.0, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (1.0, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 1.0), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout2": {"early_disclosure": (0.93, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (0.76, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 1.0), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 0.92)},
    "heldout3": {"early_disclosure": (0.92, 1.0), "no_resistance": (0.96, 1.0), "unresponsive": (0.68, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (0.91, 0.91), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout4": {"early_disclosure": (0.93, 1.0), "no_resistance": (1.0, 0.94), "unresponsive": (0.9, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 1.0), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 0.94)},
    # Development data since their first runs (FIRST_RUNS keeps those out-of-sample figures).
    "heldout5": {"early_disclosure": (0.86, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (0.8, 1.0),
               "repetition": (1.0, 0.89), "contradicts_scenario": (0.94, 0.94), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout6": {"early_disclosure": (0.86, 0.92), "no_resistance": (1.0, 0.93), "unresponsive": (0.73, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (0.94, 0.94), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout7": {"early_disclosure": (0.8, 1.0), "no_resistance": (1.0, 0.94), "unresponsive": (0.95, 0.95),
               "repetition": (1.0, 1.0), "contradicts_scenario": (0.93, 0.93), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout8": {"early_disclosure": (0.69, 0.92), "no_resistance": (1.0, 0.92), "unresponsive": (0.93, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (0.93, 0.93), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 0.94)},
    "heldout9": {"early_disclosure": (1.0, 0.92), "no_resistance": (1.0, 1.0), "unresponsive": (0.95, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (0.94, 1.0), "out_of_character": (1.0, 1.0),
               "hostility": (0.91, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout10": {"early_disclosure": (0.9, 0.82), "no_resistance": (0.92, 1.0), "unresponsive": (0.83, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (0.92, 0.92), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout11": {"early_disclosure": (0.77, 0.71), "no_resistance": (0.85, 0.85), "unresponsive": (0.8, 1.0),
               "repetition": (1.0, 0.92), "contradicts_scenario": (0.85, 0.92), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout12": {"early_disclosure": (0.73, 0.84), "no_resistance": (1.0, 0.83), "unresponsive": (0.68, 0.84),
                  "repetition": (1.0, 0.91), "contradicts_scenario": (0.91, 0.83), "out_of_character": (1.0, 1.0),
                  "hostility": (1.0, 1.0), "minimal_answer": (0.92, 1.0)},
    "heldout13": {"early_disclosure": (0.93, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (0.77, 0.93),
                  "repetition": (0.92, 1.0), "contradicts_scenario": (0.84, 0.91), "out_of_character": (1.0, 1.0),
                  "hostility": (0.92, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout14": {"early_disclosure": (1.0, 0.92), "no_resistance": (0.92, 1.0), "unresponsive": (0.83, 1.0),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 0.85), "out_of_character": (0.92, 1.0),
                  "hostility": (0.86, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout15": {"early_disclosure": (0.8, 1.0), "no_resistance": (0.91, 0.91), "unresponsive": (0.96, 1.0),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 0.75), "out_of_character": (0.92, 1.0),
                  "hostility": (1.0, 1.0), "minimal_answer": (0.92, 1.0)},
    "heldout16": {"early_disclosure": (0.8, 1.0), "no_resistance": (0.85, 1.0), "unresponsive": (0.58, 1.0),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.7, 0.58), "out_of_character": (1.0, 1.0),
                  "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout17": {"early_disclosure": (0.75, 0.92), "no_resistance": (1.0, 0.57), "unresponsive": (0.52, 1.0),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.9, 0.83), "out_of_character": (0.75, 1.0),
                  "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
    "heldout18": {"early_disclosure": (0.85, 0.92), "no_resistance": (0.91, 0.78), "unresponsive": (0.78, 1.0),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.91, 0.78), "out_of_character": (0.92, 1.0),
                  "hostility": (1.0, 1.0), "minimal_answer": (0.92, 0.92)},
    "heldout19": {"early_disclosure": (1.0, 0.85), "no_resistance": (1.0, 1.0), "unresponsive": (0.73, 1.0),
                  "repetition": (0.92, 1.0), "contradicts_scenario": (0.9, 0.76), "out_of_character": (0.81, 1.0),
                  "hostility": (0.92, 1.0), "minimal_answer": (1.0, 0.92)},
    "heldout20": {"early_disclosure": (0.8, 1.0), "no_resistance": (0.9, 0.83), "unresponsive": (0.81, 1.0),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.58, 0.58), "out_of_character": (1.0, 1.0),
                  "hostility": (1.0, 1.0), "minimal_answer": (1.0, 0.92)},
    "development": {"early_disclosure": (1.0, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (1.0, 1.0),
               "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 1.0), "out_of_character": (1.0, 1.0),
               "hostility": (1.0, 1.0), "minimal_answer": (1.0, 1.0)},
}
# Over all twenty-one parts since the nineteenth and twentieth became development data (a different set of folds from
# the nineteen parts' figures before it), with the rules alone: the fitted classifiers are fitted on every call,
# LEFT_ONE_PART_OUT measures them.
CROSS_VALIDATED: Floors = {
    "early_disclosure": (0.85, 0.93), "no_resistance": (0.96, 0.92), "unresponsive": (0.62, 0.62),
    "repetition": (0.99, 0.98), "contradicts_scenario": (0.9, 0.86), "out_of_character": (0.95, 0.87),
    "hostility": (0.96, 0.68), "minimal_answer": (0.98, 0.98)}
# Each part left out in turn, the classifiers fitted on the other twenty (their thresholds chosen inside those),
# pooled: what the fitted classifiers are measured by (the rules have read every part).
LEFT_ONE_PART_OUT: Floors = {
    "early_disclosure": (0.85, 0.93), "no_resistance": (0.96, 0.93), "unresponsive": (0.66, 0.76),
    "repetition": (0.99, 0.98), "contradicts_scenario": (0.9, 0.88), "out_of_character": (0.95, 0.95),
    "hostility": (0.88, 0.87), "minimal_answer": (0.98, 0.97)}
# Each blind part's first run, out of sample (the detectors had never read it), as history: the figures that counted
# then, which the detectors reworked on the part since must not fall below either.
FIRST_RUNS: dict[str, Floors] = {
    "heldout4": {"early_disclosure": (0.77, 0.71), "no_resistance": (1.0, 0.47), "unresponsive": (0.58, 0.37),
                 "repetition": (1.0, 0.82), "contradicts_scenario": (0.70, 0.64), "out_of_character": (0.78, 0.64),
                 "hostility": (1.0, 0.55), "minimal_answer": (1.0, 0.94)},
    # No precision where the detectors flag no turn of the flaw.
    "heldout5": {"early_disclosure": (0.70, 0.84), "no_resistance": (1.0, 0.67), "unresponsive": (0.08, 0.05),
                 "repetition": (1.0, 0.06), "contradicts_scenario": (0.71, 0.59), "out_of_character": (0.91, 0.59),
                 "hostility": (None, 0.0), "minimal_answer": (1.0, 1.0)},
    "heldout6": {"early_disclosure": (0.59, 0.77), "no_resistance": (1.0, 0.64), "unresponsive": (0.36, 0.26),
                 "repetition": (1.0, 0.25), "contradicts_scenario": (0.64, 0.53), "out_of_character": (1.0, 0.38),
                 "hostility": (1.0, 0.08), "minimal_answer": (1.0, 1.0)},
    "heldout7": {"early_disclosure": (0.75, 1.0), "no_resistance": (1.0, 0.94), "unresponsive": (0.69, 0.40),
                 "repetition": (1.0, 1.0), "contradicts_scenario": (0.77, 0.46), "out_of_character": (1.0, 0.75),
                 "hostility": (1.0, 0.36), "minimal_answer": (1.0, 1.0)},
    "heldout8": {"early_disclosure": (0.64, 0.75), "no_resistance": (1.0, 0.75), "unresponsive": (0.78, 0.35),
                 "repetition": (1.0, 1.0), "contradicts_scenario": (0.66, 0.40), "out_of_character": (1.0, 0.71),
                 "hostility": (1.0, 0.27), "minimal_answer": (1.0, 0.93)},
    "heldout9": {"early_disclosure": (0.84, 0.91), "no_resistance": (1.0, 0.5), "unresponsive": (0.8, 0.6),
                 "repetition": (1.0, 1.0), "contradicts_scenario": (0.91, 0.73), "out_of_character": (1.0, 0.83),
                 "hostility": (0.88, 0.8), "minimal_answer": (1.0, 1.0)},
    "heldout10": {"early_disclosure": (0.87, 0.63), "no_resistance": (0.91, 1.0), "unresponsive": (0.76, 0.8),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.75, 0.5), "out_of_character": (1.0, 1.0),
                  "hostility": (1.0, 0.63), "minimal_answer": (1.0, 1.0)},
    "heldout11": {"early_disclosure": (0.76, 0.71), "no_resistance": (0.84, 0.84), "unresponsive": (0.61, 0.76),
                  "repetition": (1.0, 0.91), "contradicts_scenario": (0.75, 0.5), "out_of_character": (1.0, 0.91),
                  "hostility": (0.88, 0.66), "minimal_answer": (1.0, 1.0)},
    "heldout12": {"early_disclosure": (0.73, 0.84), "no_resistance": (1.0, 0.66), "unresponsive": (0.5, 0.53),
                  "repetition": (1.0, 0.91), "contradicts_scenario": (0.66, 0.83), "out_of_character": (1.0, 0.75),
                  "hostility": (0.85, 0.5), "minimal_answer": (0.92, 1.0)},
    "heldout13": {"early_disclosure": (0.93, 1.0), "no_resistance": (1.0, 1.0), "unresponsive": (0.53, 0.53),
                  "repetition": (0.92, 1.0), "contradicts_scenario": (0.84, 0.91), "out_of_character": (1.0, 0.84),
                  "hostility": (0.71, 0.41), "minimal_answer": (1.0, 1.0)},
    "heldout14": {"early_disclosure": (1.0, 0.92), "no_resistance": (0.92, 1.0), "unresponsive": (0.66, 0.66),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 0.85), "out_of_character": (0.91, 0.84),
                  "hostility": (0.75, 0.46), "minimal_answer": (1.0, 1.0)},
    "heldout15": {"early_disclosure": (0.8, 1.0), "no_resistance": (0.9, 0.83), "unresponsive": (0.91, 0.84),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (1.0, 0.75), "out_of_character": (0.92, 1.0),
                  "hostility": (1.0, 0.66), "minimal_answer": (0.92, 1.0)},
    "heldout16": {"early_disclosure": (0.8, 1.0), "no_resistance": (0.84, 0.91), "unresponsive": (0.43, 0.5),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.7, 0.58), "out_of_character": (1.0, 0.83),
                  "hostility": (1.0, 0.58), "minimal_answer": (1.0, 1.0)},
    "heldout17": {"early_disclosure": (0.75, 0.92), "no_resistance": (1.0, 0.57), "unresponsive": (0.38, 0.83),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.9, 0.83), "out_of_character": (0.69, 0.75),
                  "hostility": (1.0, 0.66), "minimal_answer": (1.0, 1.0)},
    "heldout18": {"early_disclosure": (0.85, 0.92), "no_resistance": (0.9, 0.64), "unresponsive": (0.62, 0.66),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.91, 0.78), "out_of_character": (0.9, 0.75),
                  "hostility": (0.78, 0.91), "minimal_answer": (0.92, 0.92)},
    "heldout19": {"early_disclosure": (1.0, 0.85), "no_resistance": (1.0, 0.64), "unresponsive": (0.42, 0.42),
                  "repetition": (0.92, 1.0), "contradicts_scenario": (0.9, 0.76), "out_of_character": (0.66, 0.46),
                  "hostility": (0.66, 0.61), "minimal_answer": (1.0, 0.92)},
    "heldout20": {"early_disclosure": (0.8, 1.0), "no_resistance": (0.9, 0.83), "unresponsive": (0.63, 0.53),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.58, 0.58), "out_of_character": (1.0, 0.61),
                  "hostility": (1.0, 0.83), "minimal_answer": (1.0, 0.92)},
    "heldout21": {"early_disclosure": (0.81, 0.75), "no_resistance": (1.0, 0.84), "unresponsive": (0.42, 0.4),
                  "repetition": (1.0, 1.0), "contradicts_scenario": (0.62, 0.41), "out_of_character": (0.72, 0.66),
                  "hostility": (1.0, 0.41), "minimal_answer": (1.0, 1.0)},
}
# The parts run once and read by no rework since (not development data yet) hold their first runs' figures.
DOCUMENTED |= {split: FIRST_RUNS[split] for split in SPLITS if split not in DEVELOPMENT_SPLITS}


def _hold(measured: dict[str, Figures], documented: Floors) -> None:
    for flaw, (precision, recall) in documented.items():
        found_precision, found_recall = measured[flaw].precision, measured[flaw].recall
        if precision is not None:
            assert found_precision is not None and found_precision >= precision - 0.005, flaw
        assert found_recall is not None and found_recall >= recall - 0.005, flaw


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


# Each later held-out part: its least calls, persona turns, labelled turns of every flaw and fine turns.
@pytest.mark.parametrize(("split", "least_calls", "least_turns", "least_per_flaw", "least_fine"), [
    ("heldout2", 40, 130, 8, 100),
    ("heldout3", 50, 170, 10, 100),
    ("heldout4", 50, 170, 10, 100),
    ("heldout5", 60, 240, 15, 150),
    ("heldout6", 60, 240, 12, 150),
    ("heldout7", 45, 200, 10, 120),
    ("heldout8", 40, 180, 10, 90),
    ("heldout9", 50, 200, 10, 100),
    ("heldout10", 50, 200, 10, 100),
    ("heldout11", 50, 200, 12, 100),
    ("heldout12", 50, 200, 12, 100),
    ("heldout13", 50, 200, 12, 100),
    ("heldout14", 50, 200, 12, 100),
    ("heldout15", 50, 200, 12, 100),
    ("heldout16", 50, 200, 12, 100),
    ("heldout17", 50, 200, 12, 100),
    ("heldout18", 50, 200, 12, 100),
    ("heldout19", 50, 200, 13, 100),
    ("heldout20", 50, 200, 12, 100),
    ("heldout21", 50, 200, 12, 100),
])
def test_a_later_held_out_part_has_every_flaw_among_plenty_of_fine_turns(
        split: str, least_calls: int, least_turns: int, least_per_flaw: int, least_fine: int) -> None:
    calls = [call for call in CALLS if call.split == split]
    labels = [flaws for call in calls for flaws in call.labels.values()]
    labelled = Counter(flaw for flaws in labels for flaw in flaws)
    assert len(calls) >= least_calls and len(labels) >= least_turns
    assert {flaw: labelled[flaw] for flaw in FLAWS if labelled[flaw] < least_per_flaw} == {}
    assert sum(not flaws for flaws in labels) >= least_fine, "fine turns"
    assert {call.profile.difficulty for call in calls} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("split", SPLITS[SPLITS.index("heldout3"):SPLITS.index("development")])
def test_a_later_held_out_part_retells_sources_no_other_part_uses(split: str) -> None:
    def pages(calls: Iterable[LabelledCall]) -> set[str]:
        return {call.source.split()[0] for call in calls if call.source != "written"}

    part = pages(call for call in CALLS if call.split == split)
    assert part and part.isdisjoint(pages(call for call in CALLS if call.split != split))


@pytest.mark.parametrize("split", DOCUMENTED)
def test_the_documented_figures_hold(split: str) -> None:
    _hold(figures(call for call in CALLS if call.split == split), DOCUMENTED[split])


@pytest.mark.parametrize("split", FIRST_RUNS)
def test_no_figure_falls_below_a_blind_part_s_first_run(split: str) -> None:
    _hold(figures(call for call in CALLS if call.split == split), FIRST_RUNS[split])


@pytest.mark.timeout(2400)  # hundreds of audits of 1123 calls: minutes on a loaded machine, not the default two
def test_the_cross_validated_figures_hold() -> None:
    development = [call for call in CALLS if call.split in DEVELOPMENT_SPLITS]
    measured, chosen = cross_validated(development)
    _hold(measured, CROSS_VALIDATED)
    for flaw in THRESHOLD_CHOICES:  # one choice per call left out
        assert sum(chosen[flaw].thresholds.values()) == len(development), flaw


@pytest.mark.timeout(4800)  # twenty-one folds, each fitting every classifier, a process a core: long when loaded
def test_the_left_one_part_out_figures_hold() -> None:
    development = [call for call in CALLS if call.split in DEVELOPMENT_SPLITS]
    _hold(pooled(leave_one_part_out(development, with_classifiers())), LEFT_ONE_PART_OUT)
