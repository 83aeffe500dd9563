"""The local engine's Say Meter against a sales coach, on held-out calls (tests/data/sales_calls/README.md).

Each call is scored as the service scores it (``measure`` then ``score``): the final window of the call (the
service's default window, the last 20 messages) and the whole call. The engine's order must agree with the
coach's: Spearman rank correlation of at least 0.8, and every top-third call above every bottom-third call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import Blueprint, SayMeter, score
from analysis_svc.service_layer.analyses import DEFAULT_WINDOW
from calls.turns import Role, Turn
from devtools.say_meter_corpus import spearman as rank_correlation

CALLS_DIR = Path(__file__).resolve().parents[1] / "data" / "sales_calls"
MIN_SPEARMAN = 0.8


@dataclass(frozen=True)
class Call:
    name: str
    coach_rank: int
    turns: tuple[Turn, ...]


def _load() -> list[Call]:
    calls = []
    for path in sorted(CALLS_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        turns = tuple(Turn(sequence, Role(turn["role"]), turn["text"])
                      for sequence, turn in enumerate(data["turns"], start=1))
        calls.append(Call(path.stem, data["coach_rank"], turns))
    return sorted(calls, key=lambda call: call.coach_rank)


CALLS = _load()


def _meter(turns: tuple[Turn, ...]) -> SayMeter:
    return score(measure(turns), Blueprint.SALES)


def _final_window(call: Call) -> tuple[Turn, ...]:
    """What the service reads for an analysis at the call's last message: the last DEFAULT_WINDOW messages."""
    return call.turns[-DEFAULT_WINDOW:]


def spearman(engine_scores: list[int], coach_ranks: list[int]) -> float:
    """Rank correlation between the engine's scores (higher is better) and the coach's ranks (1 is best)."""
    return rank_correlation(engine_scores, [-rank for rank in coach_ranks])


def _table(scored: dict[str, list[int]]) -> str:
    heading = f"{'rank':>4}  {'call':<38} {'whole':>5} {'last20':>6}  factors (last 20)"
    lines = [heading]
    for call in CALLS:
        meter = _meter(_final_window(call))
        factors = " ".join(f"{name[:4]}={value}" for name, value in meter.factors.items())
        lines.append(f"{call.coach_rank:>4}  {call.name:<38} {scored['whole'][call.coach_rank - 1]:>5} "
                     f"{scored['last20'][call.coach_rank - 1]:>6}  {factors}")
    ranks = [call.coach_rank for call in CALLS]
    lines.append("spearman: " + ", ".join(f"{view}={spearman(values, ranks):.3f}" for view, values in scored.items()))
    return "\n".join(lines)


def _scores() -> dict[str, list[int]]:
    return {"whole": [_meter(call.turns).score for call in CALLS],
            "last20": [_meter(_final_window(call)).score for call in CALLS]}


def test_the_held_out_set_is_well_formed() -> None:
    assert len(CALLS) == 12
    assert [call.coach_rank for call in CALLS] == list(range(1, 13))
    for call in CALLS:
        assert 14 <= len(call.turns) <= 30, call.name
        assert {turn.role for turn in call.turns} == {Role.USER, Role.ASSISTANT}, call.name


@pytest.mark.parametrize("view", ["last20", "whole"])
def test_the_say_meter_ranks_calls_as_a_coach_would(view: str) -> None:
    scored = _scores()
    print("\n" + _table(scored))
    values = scored[view]
    rho = spearman(values, [call.coach_rank for call in CALLS])
    assert rho >= MIN_SPEARMAN, f"{view}: Spearman {rho:.3f} < {MIN_SPEARMAN}\n{_table(scored)}"


@pytest.mark.parametrize("view", ["last20", "whole"])
def test_every_top_third_call_outscores_every_bottom_third_call(view: str) -> None:
    scored = _scores()
    third = len(CALLS) // 3
    top = {call.name: value for call, value in zip(CALLS, scored[view], strict=True) if call.coach_rank <= third}
    bottom = {call.name: value for call, value in zip(CALLS, scored[view], strict=True)
              if call.coach_rank > len(CALLS) - third}
    assert min(top.values()) > max(bottom.values()), f"{view}: top {top} vs bottom {bottom}\n{_table(scored)}"


def test_spearman_helper() -> None:
    assert spearman([90, 80, 70], [1, 2, 3]) == pytest.approx(1.0)
    assert spearman([70, 80, 90], [1, 2, 3]) == pytest.approx(-1.0)
    assert spearman([90, 90, 70], [1, 2, 3]) == pytest.approx(0.866, abs=1e-3)
