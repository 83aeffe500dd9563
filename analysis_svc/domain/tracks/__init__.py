"""Job tracks with a rubric of their own: the factors a coach of that conversation scores (name, meaning, how each is
measured from the call) and their weights. A track not listed here is scored on the sales factors, reweighted
(``say_meter.RUBRICS``).

A track's factors are scored 0-100 from a tally of the candidate's turns, each turn read alone with the phrases of the
call's language (each track's Spanish ones in ``<track>_es.py``); pure text rules, no I/O."""

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


def call_tally(blueprint: str, seen: Tally | None, previous_last: int, window: Sequence[Turn],
               language: str) -> Tally | None:
    """The tally of the call up to the window's last message for a track with its own rubric (None for the others),
    read with the phrases of the call's ``language``, from ``seen`` (the call up to ``previous_last``; None at its
    start) and a window reaching back to it or before.

    A tally kept while the call was read with another language's phrases (before its language settled) is not added
    to: the whole window is tallied again with the call's own, and what the call said before the window is left out."""
    rubric = track_rubric(blueprint)
    if rubric is None:
        return None
    if seen is None or seen.language != rubric.read_in(language):
        return rubric.tally(window, language)
    return seen.plus(rubric.tally([turn for turn in window if turn.sequence > previous_last], language))
