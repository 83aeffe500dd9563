"""The replay that measures suggestions on the corpus reads each call where the live path does."""

from __future__ import annotations

from devtools.suggestion_corpus import reading_points, readings
from tests.unit.test_suggestions_from_the_call import SETTLED, call


def test_a_call_is_read_at_the_first_reading_every_interval_and_its_end():
    assert reading_points(25, 10) == [4, 10, 20, 25]
    assert reading_points(20, 10) == [4, 10, 20]
    assert reading_points(3, 10) == [3]


def test_each_reading_is_told_what_the_session_had():
    turns = [*SETTLED, *call(*[("user", "And then?"), ("assistant", "We would review it together.")] * 4,
                             start=len(SETTLED) + 1)]
    replayed = readings(turns, 4)
    labels = [suggestion.label for _, suggestions in replayed for suggestion in suggestions]
    assert len(replayed) == len(reading_points(len(turns), 4)) and len(labels) == len(set(labels))
