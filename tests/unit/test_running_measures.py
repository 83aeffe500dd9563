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


def test_noes_said_before_the_window_still_make_pressing_on_a_push():
    opening = [("user", "Hi, it's Adam from Brightline, can I tell you about our scheduling app?"),
               ("assistant", "No thanks, I'm not interested."),
               ("user", "It only takes a minute."),
               ("assistant", "I said no thanks. Please take me off your list.")]
    small_talk = [line for n in range(10) for line in (("user", f"Our app handles rota number {n} for you."),
                                                        ("assistant", "Hm."))]
    pressing = [("user", "Can I take that as a yes then?")]
    lines = [*opening, *small_talk, *pressing]
    turns = [Turn(n, Role(role), text) for n, (role, text) in enumerate(lines, start=1)]
    kept, previous_last = None, 0
    for up_to in (4, 10, 20, len(turns)):
        kept = advance(kept, previous_last, turns[max(0, up_to - WINDOW):up_to])
        previous_last = up_to
    assert kept == measure(turns)
    assert measure(turns[-WINDOW:]).pushes < kept.pushes  # the window alone has not heard the noes
