"""Job tracks with a rubric of their own: the factors a coach of that conversation scores (name, meaning, how each is
measured from the call) and their weights. A track not listed here is scored on the sales factors, reweighted
(``say_meter.RUBRICS``).

A track's factors are measured from the candidate's turns (and the other side's, where a factor needs them), each
0-100; pure text rules, no I/O."""

from __future__ import annotations

from analysis_svc.domain.tracks import hr, security
from analysis_svc.domain.tracks.rubric import TrackRubric
from calls.job_tracks import Blueprint

TRACK_RUBRICS: dict[Blueprint, TrackRubric] = {rubric.blueprint: rubric for rubric in (security.RUBRIC, hr.RUBRIC)}


def track_rubric(blueprint: str) -> TrackRubric | None:
    """The track's own rubric; None for a track scored on the reweighted sales factors."""
    return TRACK_RUBRICS.get(Blueprint(blueprint))
