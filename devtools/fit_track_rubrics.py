"""Fit each track rubric's weights (analysis_svc/domain/tracks) on that track's labelled conversations
(tests/data/tracks/<track>/calls, or calls_es for the Spanish ones with ``--language es``), and say how well they rank
conversations they were not fitted on.

Each conversation's factors are measured as the local engine measures them at the call's final reading (the whole
call). The weights are fitted as the sales weights are (``devtools.fit_say_meter``: every
weighting on a 10% grid, the one nearest equal weights among those within the tolerance of the best Spearman), with
leave-one-out cross-validation: the held-out figure comes first, the in-sample one only shows how much is fitting.
"Before" scores the same conversations as the engine did before the track had a rubric of its own: the sales factors,
weighed as the track weighed them then; for Spanish conversations, as it did before the track had Spanish phrases: the
track's factors read with its English ones. The sets are small (10-15 conversations), so each Spearman comes with a
bootstrap 95% interval. A track with no conversations in the language is named as having none.

    .venv/bin/python -m devtools.fit_track_rubrics [--language en|es]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import (
    CLOSING_MOMENTUM,
    DISCOVERY,
    OBJECTION_HANDLING,
    RAPPORT,
    VALUE_ARTICULATION,
    factor_scores,
    weigh,
)
from analysis_svc.domain.tracks import TRACK_RUBRICS
from analysis_svc.domain.tracks.rubric import ENGLISH, TrackRubric
from calls.job_tracks import Blueprint
from devtools.fit_say_meter import fit_all, held_out_scores, weighted
from devtools.say_meter_corpus import calls_in, interval, kendall, means_by_label, spearman, turns_of

TRACKS = Path(__file__).resolve().parents[1] / "tests" / "data" / "tracks"
# The sales factors' weights each track was scored on before it had a rubric of its own (say_meter.RUBRICS then).
SALES_WEIGHTS_BEFORE = {
    Blueprint.SECURITY: {RAPPORT: 15, DISCOVERY: 40, OBJECTION_HANDLING: 25, VALUE_ARTICULATION: 15,
                         CLOSING_MOMENTUM: 5},
    Blueprint.HR: {RAPPORT: 40, DISCOVERY: 25, OBJECTION_HANDLING: 15, VALUE_ARTICULATION: 10, CLOSING_MOMENTUM: 10},
    Blueprint.AGENTIC_ENG: {RAPPORT: 20, DISCOVERY: 40, OBJECTION_HANDLING: 20, VALUE_ARTICULATION: 15,
                            CLOSING_MOMENTUM: 5},
    Blueprint.FULLSTACK: {RAPPORT: 20, DISCOVERY: 40, OBJECTION_HANDLING: 20, VALUE_ARTICULATION: 15,
                          CLOSING_MOMENTUM: 5},
    Blueprint.IMPLEMENTATION: {RAPPORT: 25, DISCOVERY: 30, OBJECTION_HANDLING: 20, VALUE_ARTICULATION: 15,
                               CLOSING_MOMENTUM: 10},
    Blueprint.MARKETING: {RAPPORT: 20, DISCOVERY: 25, OBJECTION_HANDLING: 15, VALUE_ARTICULATION: 25,
                          CLOSING_MOMENTUM: 15},
}


# Where a track's labelled conversations of each language are kept, in its folder of tests/data/tracks.
FOLDERS = {ENGLISH: "calls", "es": "calls_es"}


def calls_of(rubric: TrackRubric, language: str = ENGLISH, tracks: Path = TRACKS) -> list[dict[str, Any]]:
    return calls_in(tracks / rubric.blueprint, FOLDERS[language])


def factor_rows(rubric: TrackRubric, calls: list[dict[str, Any]], language: str = ENGLISH) -> list[list[float | None]]:
    """Each conversation's factors, in the rubric's order, as the final reading measures them in ``language``."""
    measured = [rubric.measure(turns_of(call), language) for call in calls]
    return [[float(factors[name]) for name in rubric.names] for factors in measured]


def _figures(scores: list[float], labels: list[int]) -> str:
    low, high = interval(scores, labels)
    return (f"Spearman {spearman(scores, labels):.2f} (95% {low:.2f} to {high:.2f}), Kendall "
            f"{kendall(scores, labels):.2f}; mean score by label {means_by_label(scores, labels)}")


def report(rubric: TrackRubric, calls: list[dict[str, Any]], language: str = ENGLISH) -> None:
    labels = [call["label"] for call in calls]
    rows = factor_rows(rubric, calls, language)
    print(f"## {rubric.blueprint}: {len(calls)} conversations ({language})")
    held_out, fitted = held_out_scores(rows, labels)
    print(f"out of sample (leave one out): {_figures(held_out, labels)}")
    print(f"  weights across the folds ({len(set(fitted))} distinct): " + ", ".join(
        f"{name} {min(w[k] for w in fitted)}-{max(w[k] for w in fitted)}%" for k, name in enumerate(rubric.names)))
    in_sample = fit_all(rows, labels)
    print(f"in sample (fitted on all): {_figures(weighted(rows, in_sample), labels)}")
    print("  weights: " + ", ".join(f"{name} {w}%" for name, w in zip(rubric.names, in_sample, strict=True)))
    current = weighted(rows, tuple(rubric.weights[name] for name in rubric.names))
    print(f"the service's weights ({', '.join(f'{n} {w}%' for n, w in rubric.weights.items())}): "
          f"{_figures(current, labels)}")
    if language == ENGLISH:
        before = [weigh(factor_scores(measure(turns_of(call))), SALES_WEIGHTS_BEFORE[rubric.blueprint])
                  for call in calls]
        print(f"before, the sales factors reweighted: {_figures(before, labels)}")
    else:
        before = weighted(factor_rows(rubric, calls, ENGLISH), tuple(rubric.weights[name] for name in rubric.names))
        print(f"before, the track's English phrases (the service's weights): {_figures(before, labels)}")
    print("each factor against the coach's score of its dimension (Spearman): " + ", ".join(
        f"{name} {spearman([row[k] or 0.0 for row in rows], [c['dimensions'][name] for c in calls]):.2f}"
        for k, name in enumerate(rubric.names)))
    print("each factor against the label (Spearman): " + ", ".join(
        f"{name} {spearman([row[k] or 0.0 for row in rows], labels):.2f}" for k, name in enumerate(rubric.names)))


def main(arguments: Sequence[str] | None = None, tracks: Path = TRACKS) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", choices=sorted(FOLDERS), default=ENGLISH,
                        help="the language of the labelled conversations")
    language = str(parser.parse_args(arguments).language)
    for rubric in TRACK_RUBRICS.values():
        calls = calls_of(rubric, language, tracks)
        other = [call["id"] for call in calls if call["language"] != language]
        if other:
            raise SystemExit(f"{rubric.blueprint}/{FOLDERS[language]} holds conversations in another language: "
                             f"{', '.join(other)}")
        if calls:
            report(rubric, calls, language)
        else:
            print(f"## {rubric.blueprint}: no labelled conversations in {language} yet "
                  f"({rubric.blueprint}/{FOLDERS[language]})")


if __name__ == "__main__":
    main()
