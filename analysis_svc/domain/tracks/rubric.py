"""A track's rubric: its factors (name, meaning, how measured) and their weights, and the tally of the call its
factors are scored from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from calls.job_tracks import Blueprint
from calls.turns import Turn


@dataclass(frozen=True, slots=True)
class TrackFactor:
    name: str  # snake_case, as the contract names it
    meaning: str  # what a coach scores
    measured: str  # how the local engine reads it from the call
    gap: str  # what a coach says when it is the weakest
    raised_first: bool = False  # a coach raises its gap before any other once it falls short (an unlawful question)


@dataclass(frozen=True, slots=True)
class Tally:
    """What a track's measures found in a stretch of a call: the kinds of move said (each counts once, however often)
    and how many turns of each counted sort. Every rule reads one turn alone, so the tally of a call is the sum of
    its parts' tallies: kept reading after reading, a reading tallies only the messages since the previous one and
    still scores the whole call so far."""

    kinds: frozenset[str] = frozenset()
    counts: Mapping[str, int] = field(default_factory=dict)

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)

    def plus(self, later: Tally) -> Tally:
        """The tally of this stretch and the ``later`` one together."""
        return Tally(self.kinds | later.kinds,
                     {name: self.count(name) + later.count(name) for name in sorted({*self.counts, *later.counts})})

    def to_record(self) -> dict[str, Any]:
        return {"kinds": sorted(self.kinds), "counts": dict(self.counts)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Tally:
        return cls(frozenset(record["kinds"]), dict(record["counts"]))


@dataclass(frozen=True, slots=True)
class TrackRubric:
    blueprint: Blueprint
    factors: tuple[TrackFactor, ...]
    weights: dict[str, int]  # percent, summing to 100
    tally: Callable[[Sequence[Turn]], Tally]
    scores: Callable[[Tally], dict[str, int]]  # each factor 0-100

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(factor.name for factor in self.factors)

    def measure(self, turns: Sequence[Turn]) -> dict[str, int]:
        """The factors of ``turns`` read as one stretch of the call."""
        return self.scores(self.tally(turns))
