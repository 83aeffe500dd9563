"""A track's rubric: its factors (name, meaning, how measured) and their weights, and the tally of the call its
factors are scored from, by the language of the phrases it reads the call with; and the shapes most factors take
(``Moves`` tallied, scored as ``Coverage`` or ``Balance``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis_svc.domain.tracks.text import kinds_found, kinds_in, lowered, percent, share, turns_matching
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn

# The language a track's phrases are first written in, which reads a call in a language with none (ISO 639-1).
ENGLISH = "en"


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
    still scores the whole call so far. ``language``: that of the phrases it was read with."""

    kinds: frozenset[str] = frozenset()
    counts: Mapping[str, int] = field(default_factory=dict)
    language: str = ENGLISH

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)

    def plus(self, later: Tally) -> Tally:
        """The tally of this stretch and the ``later`` one together, both read with the same language's phrases."""
        return Tally(self.kinds | later.kinds,
                     {name: self.count(name) + later.count(name) for name in sorted({*self.counts, *later.counts})},
                     self.language)

    def to_record(self) -> dict[str, Any]:
        return {"kinds": sorted(self.kinds), "counts": dict(self.counts), "language": self.language}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Tally:
        # Tallies kept before they said their language were all read with English's phrases.
        return cls(frozenset(record["kinds"]), dict(record["counts"]), record.get("language", ENGLISH))


@dataclass(frozen=True, slots=True)
class TrackRubric:
    blueprint: Blueprint
    factors: tuple[TrackFactor, ...]
    weights: dict[str, int]  # percent, summing to 100
    # How a stretch of the call is tallied, by the language of the phrases (ISO 639-1; English's among them).
    tallies: Mapping[str, Callable[[Sequence[Turn]], Tally]]
    scores: Callable[[Tally], dict[str, int]]  # each factor 0-100
    # The track's curveballs (their keys in ``interviewer_texts``) and the factor each one puts to the test: the
    # persona presses where the call is weakest first.
    probes: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(factor.name for factor in self.factors)

    @property
    def languages(self) -> frozenset[str]:
        """The languages it has phrases in."""
        return frozenset(self.tallies)

    def read_in(self, language: str) -> str:
        """The language whose phrases read a call in ``language``: its own where the track has them, else English."""
        return language if language in self.tallies else ENGLISH

    def tally(self, turns: Sequence[Turn], language: str = ENGLISH) -> Tally:
        """The tally of ``turns``, read with the phrases of ``language`` (English's for one with none)."""
        read_in = self.read_in(language)
        return dataclasses.replace(self.tallies[read_in](turns), language=read_in)

    def measure(self, turns: Sequence[Turn], language: str = ENGLISH) -> dict[str, int]:
        """The factors of ``turns`` read as one stretch of the call."""
        return self.scores(self.tally(turns, language))


@dataclass(frozen=True, slots=True)
class Moves:
    """What a track listens for in the scored side's turns: groups of kinds of move (each kind counts once, as
    "group:kind") and sorts of turn (each turn that says one counts); ``turns`` counts the side's turns."""

    speaker: Role
    kinds: Mapping[str, Mapping[str, re.Pattern[str]]]
    sorts: Mapping[str, re.Pattern[str]]

    def tally(self, turns: Sequence[Turn]) -> Tally:
        said = lowered(turns, self.speaker)
        found = set().union(*(kinds_found(said, group, kinds) for group, kinds in self.kinds.items()))
        counted = {sort: turns_matching(said, pattern) for sort, pattern in self.sorts.items()}
        return Tally(frozenset(found), {"turns": len(said), **counted})


@dataclass(frozen=True, slots=True)
class Coverage:
    """A factor scored by the kinds of ``group`` the call has said, ``full`` of them for full marks, less ``cost``
    for each turn of the ``against`` sort."""

    group: str
    full: int
    against: str = ""
    cost: float = 0.0

    def value(self, call: Tally) -> float:
        return share(kinds_in(call.kinds, self.group), self.full) - self.cost * call.count(self.against)


@dataclass(frozen=True, slots=True)
class Balance:
    """A factor that starts at ``base``: turns of the ``raised_by`` sort raise it (``full`` of them for full marks),
    each turn of the ``lowered_by`` sort costs ``cost``."""

    raised_by: str
    full: int
    lowered_by: str
    cost: float
    base: float = 0.5

    def value(self, call: Tally) -> float:
        return (self.base + (1 - self.base) * share(call.count(self.raised_by), self.full)
                - self.cost * call.count(self.lowered_by))


def moves_rubric(blueprint: Blueprint, factors: tuple[TrackFactor, ...], weights: dict[str, int],
                 moves: Mapping[str, Moves], measures: Mapping[str, Coverage | Balance],
                 probes: Mapping[str, str]) -> TrackRubric:
    """A rubric whose factors are each one measure of the ``moves`` tallied (by language: the same groups, kinds and
    sorts in each); a call where the scored side has not spoken scores 0 on every factor."""

    def scores(call: Tally) -> dict[str, int]:
        if not call.count("turns"):
            return dict.fromkeys(measures, 0)
        return {name: percent(measure.value(call)) for name, measure in measures.items()}

    return TrackRubric(blueprint, factors, weights, {language: said.tally for language, said in moves.items()},
                       scores, probes)
