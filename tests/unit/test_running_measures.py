"""The whole call's measures kept up reading after reading equal those of the whole call measured at once, and a
reading handed the texts its predecessor read measures exactly what it measures reading them afresh, in English and
in Spanish, even when the texts were read in another language before the call's language settled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_svc.domain.conversation import TurnTexts, measure
from analysis_svc.domain.phrasebook import phrases_for
from analysis_svc.domain.running import advance, from_record, to_record
from analysis_svc.domain.suggestions import CallContext, stage_for, suggest
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn

DATA = Path(__file__).resolve().parents[1] / "data"
CALLS = DATA / "sales_calls"
CORPUS = DATA / "sales_corpus" / "calls"
SPANISH_CORPUS = DATA / "sales_corpus_es" / "calls"
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


def _readings(turns: Sequence[Turn], points: Sequence[int], size: int, carried: bool,
              languages: Sequence[str] = ("en",)) -> list[tuple[dict, list]]:
    """The kept measures and the suggestions at each reading point, each reading's window the last ``size``
    messages, reaching back to the previous reading when readings were further apart (as the analysis service reads
    them); with ``carried``, each reading is handed the texts of the previous one's window, as the service keeps
    them, and its suggestions the texts the measures read. The n-th reading reads in the n-th of ``languages``, the
    last one from there on (a call's language may settle after its first readings)."""
    kept, previous_last, read, records = None, 0, {}, []
    for index, up_to in enumerate(points):
        language = languages[min(index, len(languages) - 1)]
        window = turns[max(0, up_to - size):up_to]
        if window[0].sequence > previous_last + 1:
            window = turns[max(0, previous_last - 1):up_to]
        texts: TurnTexts = read if carried else {}
        kept = advance(kept, previous_last, window, texts, language)
        read = {turn.text: texts[turn.text] for turn in window[-size:]}
        suggestions = suggest(kept, window[-size:], Blueprint.SALES, stage_for(up_to), context=CONTEXT,
                              read=texts if carried else None, phrases=phrases_for(language))
        records.append((to_record(kept), suggestions))
        previous_last = up_to
    return records


CORPUS_CALLS = sorted([*CALLS.glob("*.json"), *CORPUS.glob("*.json")])
SPANISH_CALLS = sorted(SPANISH_CORPUS.glob("*.json"))


@pytest.mark.parametrize(("path", "language"), [*((path, "en") for path in CORPUS_CALLS),
                                                *((path, "es") for path in SPANISH_CALLS)],
                         ids=lambda value: value.stem if isinstance(value, Path) else value)
def test_readings_handed_their_predecessors_texts_measure_what_they_measure_afresh_at_every_boundary(path, language):
    turns, languages = _turns(path), (language,)
    for points in (range(1, len(turns) + 1), [4, *range(10, len(turns) + 1, 10), len(turns)]):
        assert (_readings(turns, points, WINDOW, carried=True, languages=languages)
                == _readings(turns, points, WINDOW, carried=False, languages=languages))


@pytest.mark.parametrize("path", SPANISH_CALLS, ids=lambda path: path.stem)
def test_a_call_whose_language_settles_late_reads_its_texts_again_in_that_language(path):
    turns = _turns(path)
    points = [4, *range(10, len(turns) + 1, 10), len(turns)]
    # Its first readings read it as English (or undetermined, read with English's phrases), the later ones as Spanish.
    assert (_readings(turns, points, WINDOW, carried=True, languages=("en", "", "es"))
            == _readings(turns, points, WINDOW, carried=False, languages=("en", "", "es")))


SAID = {language: sorted({turn.text for path in calls for turn in _turns(path)})
        for language, calls in (("en", CORPUS_CALLS), ("es", SPANISH_CALLS))}


@st.composite
def _calls(draw: st.DrawFn) -> tuple[list[Turn], list[int], int, tuple[str, ...]]:
    """A call of one corpus's sentences (repeats and runs of one speaker included), its reading points and window,
    and the languages its readings read it in (a Spanish call's first ones in English now and then)."""
    language = draw(st.sampled_from(sorted(SAID)))
    lines = draw(st.lists(st.tuples(st.sampled_from(Role), st.sampled_from(SAID[language])), min_size=1, max_size=60))
    turns = [Turn(n, role, text) for n, (role, text) in enumerate(lines, start=1)]
    points = sorted(draw(st.sets(st.integers(1, len(turns)), min_size=1)))
    earlier = draw(st.lists(st.sampled_from(("en", "")), max_size=3)) if language != "en" else []
    return turns, points, draw(st.integers(1, 40)), (*earlier, language)


@settings(max_examples=200, deadline=None)
@given(_calls())
def test_texts_read_before_never_change_a_reading(call):
    turns, points, size, languages = call
    assert (_readings(turns, points, size, carried=True, languages=languages)
            == _readings(turns, points, size, carried=False, languages=languages))
    # Nor a measure of a part of the call, whatever was read before it, in whichever language.
    phrases = phrases_for(languages[-1])
    read: TurnTexts = {}
    measure(turns, read=read, phrases=phrases_for(languages[0]))
    assert (measure(turns[len(turns) // 3:], read=read, phrases=phrases)
            == measure(turns[len(turns) // 3:], phrases=phrases))
