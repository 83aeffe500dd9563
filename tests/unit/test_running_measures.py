"""The whole call's measures kept up reading after reading equal those of the whole call measured at once, and a
reading handed the texts its predecessor read measures exactly what it measures reading them afresh."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_svc.domain.conversation import TurnTexts, measure
from analysis_svc.domain.running import advance, from_record, to_record
from analysis_svc.domain.suggestions import CallContext, stage_for, suggest
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn

DATA = Path(__file__).resolve().parents[1] / "data"
CALLS = DATA / "sales_calls"
CORPUS = DATA / "sales_corpus" / "calls"
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


# Curveballs that the corpus calls make moot now and then: objections they raise, pains they tell.
CONTEXT = CallContext(objection_patterns=("It's too expensive for us right now", "We already use another vendor"),
                      pain_points=("Renewals slip through the cracks and cost us money",
                                   "Our team loses hours on manual reports"), budget_range="$20k-$40k",
                      decision_timeline="end of quarter")


def _readings(turns: Sequence[Turn], points: Sequence[int], size: int, carried: bool) -> list[tuple[dict, list]]:
    """The kept measures and the suggestions at each reading point, each reading's window the last ``size``
    messages, reaching back to the previous reading when readings were further apart (as the analysis service reads
    them); with ``carried``, each reading is handed the texts of the previous one's window, as the service keeps
    them, and its suggestions the texts the measures read."""
    kept, previous_last, read, records = None, 0, {}, []
    for up_to in points:
        window = turns[max(0, up_to - size):up_to]
        if window[0].sequence > previous_last + 1:
            window = turns[max(0, previous_last - 1):up_to]
        texts: TurnTexts = read if carried else {}
        kept = advance(kept, previous_last, window, texts)
        read = {turn.text: texts[turn.text] for turn in window[-size:]}
        suggestions = suggest(kept, window[-size:], Blueprint.SALES, stage_for(up_to), context=CONTEXT,
                              read=texts if carried else None)
        records.append((to_record(kept), suggestions))
        previous_last = up_to
    return records


CORPUS_CALLS = sorted([*CALLS.glob("*.json"), *CORPUS.glob("*.json")])


@pytest.mark.parametrize("path", CORPUS_CALLS, ids=lambda path: path.stem)
def test_readings_handed_their_predecessors_texts_measure_what_they_measure_afresh_at_every_boundary(path):
    turns = _turns(path)
    for points in (range(1, len(turns) + 1), [4, *range(10, len(turns) + 1, 10), len(turns)]):
        assert _readings(turns, points, WINDOW, carried=True) == _readings(turns, points, WINDOW, carried=False)


SAID = sorted({turn.text for path in CORPUS_CALLS for turn in _turns(path)})


@st.composite
def _calls(draw: st.DrawFn) -> tuple[list[Turn], list[int], int]:
    """A call of the corpora's sentences (repeats and runs of one speaker included), its reading points and window."""
    lines = draw(st.lists(st.tuples(st.sampled_from(Role), st.sampled_from(SAID)), min_size=1, max_size=60))
    turns = [Turn(n, role, text) for n, (role, text) in enumerate(lines, start=1)]
    points = sorted(draw(st.sets(st.integers(1, len(turns)), min_size=1)))
    return turns, points, draw(st.integers(1, 40))


@settings(max_examples=200, deadline=None)
@given(_calls())
def test_texts_read_before_never_change_a_reading(call):
    turns, points, size = call
    assert _readings(turns, points, size, carried=True) == _readings(turns, points, size, carried=False)
    # Nor a measure of a part of the call, whatever was read before it.
    read: TurnTexts = {}
    measure(turns, read=read)
    assert measure(turns[len(turns) // 3:], read=read) == measure(turns[len(turns) // 3:])
