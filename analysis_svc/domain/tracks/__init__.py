"""Job tracks with a rubric of their own: the factors a coach of that conversation scores (name, meaning, how each is
measured from the call) and their weights. A track not listed here is scored on the sales factors, reweighted
(``say_meter.RUBRICS``).

A track's factors are scored 0-100 from a tally of the candidate's turns, each turn read alone; pure text rules, no
I/O."""

from __future__ import annotations

from collections.abc import Sequence

from analysis_svc.domain.tracks import agentic_eng, fullstack, hr, implementation, marketing, security
from analysis_svc.domain.tracks.rubric import Tally, TrackRubric
from calls.job_tracks import Blueprint
from calls.turns import Turn

TRACK_RUBRICS: dict[Blueprint, TrackRubric] = {
    rubric.blueprint: rubric for rubric in (
        security.RUBRIC, hr.RUBRIC, agentic_eng.RUBRIC, fullstack.RUBRIC, marketing.RUBRIC, implementation.RUBRIC)}


def track_rubric(blueprint: str) -> TrackRubric | None:
    """The track's own rubric; None for a track scored on the reweighted sales factors."""
    return TRACK_RUBRICS.get(Blueprint(blueprint))


def call_tally(blueprint: str, seen: Tally | None, previous_last: int, window: Sequence[Turn]) -> Tally | None:
    """The tally of the call up to the window's last message for a track with its own rubric (None for the others),
    from ``seen`` (the call up to ``previous_last``; None at its start) and a window reaching back to it or before."""
    rubric = track_rubric(blueprint)
    if rubric is None:
        return None
    return (seen or Tally()).plus(rubric.tally([turn for turn in window if turn.sequence > previous_last]))
