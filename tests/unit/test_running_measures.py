"""The whole call's measures kept up reading after reading equal those of the whole call measured at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.running import advance, from_record, to_record
from calls.turns import Role, Turn

CALLS = Path(__file__).resolve().parents[1] / "data" / "sales_calls"
WINDOW = 20


def _turns(path: Path) -> list[Turn]:
    call = json.loads(path.read_text())
    return [Turn(n, Role(turn["role"]), turn["text"]) for n, turn in enumerate(call["turns"], start=1)]


@pytest.mark.parametrize("path", sorted(CALLS.glob("*.json")), ids=lambda path: path.stem)
@pytest.mark.parametrize("readings", [(4, 10, 20, 30), (10, 20, 30), (7, 8, 9, 25), (15,)])
def test_readings_of_windows_add_up_to_the_whole_call(path, readings):
    turns = _turns(path)
    kept, previous_last = None, 0
    for up_to in (*[r for r in readings if r < len(turns)], len(turns)):
        window = turns[max(0, up_to - WINDOW):up_to]
        kept = from_record(json.loads(json.dumps(to_record(advance(kept, previous_last, window)))))
        previous_last = up_to
    assert kept == measure(turns)
