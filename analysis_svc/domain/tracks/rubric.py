"""A track's rubric: its factors (name, meaning, how measured) and their weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
class TrackRubric:
    blueprint: Blueprint
    factors: tuple[TrackFactor, ...]
    weights: dict[str, int]  # percent, summing to 100
    measure: Callable[[Sequence[Turn]], dict[str, int]]  # each factor 0-100

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(factor.name for factor in self.factors)
