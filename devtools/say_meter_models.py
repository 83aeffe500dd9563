"""Fitted combinations that might rank a new writer's English sales calls better than the Say Meter's five factors at
equal weights, compared leave-one-part-out on the eighteen English directories (``--part all_english``).

The candidates are regularised models of the label over per-call measures, fitted with scikit-learn (a development
tool only: the service never imports it). The feature sets were fixed before any per-call error was read:

- ``factors``: the five rule factors (objection handling, when untested, at the mean of the other four, as a reading
  shows it), before the engine mixes them with the call's words (``devtools.say_meter_text_models``);
- ``measures``: the shares and rates per turn the factors are built from, so a call's length does not drive them;
- each of those with the call's length (the log of its messages) added, to test whether length earns its place.

Two models for each: ridge regression of the label, and an ordinal reading of a multinomial logistic regression (the
expected label). Each model's regularisation is chosen inside its training calls only, by leaving one of their parts
out at a time, so the part scored is never seen, not even to pick the regularisation. Last, the factors' own full
marks (``FullMarks``) fitted at equal weights as the weights are fitted, with and without the pull toward the engine's.
The meter as it ships, equal weights, is the baseline (its weights fitted on a grid leaving one part out:
``devtools.fit_say_meter``). The leave-one-part-out figure ranks the candidates, each against the meter on the same
resampled calls; a candidate is only worth adopting if it also holds leave one call out and keeps the mean score by
label rising.

    .venv/bin/python -m devtools.say_meter_models
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import astuple
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis_svc.domain.coaching import MAX_POINTS
from analysis_svc.domain.conversation import ConversationMetrics, Topic, ValueTheme, measure
from analysis_svc.domain.say_meter import (
    CLOSING_MOMENTUM,
    FACTORS,
    FULL_MARKS,
    RUBRICS,
    FullMarks,
    factor_scores,
    shown_rules,
    weigh,
)
from calls.job_tracks import Blueprint
from devtools.fit_say_meter import TOLERANCE
from devtools.say_meter_corpus import (
    ALL_ENGLISH,
    RESAMPLES,
    interval,
    kendall,
    length_and_origins,
    load_calls,
    means_by_label,
    spearman,
    turns_of,
)

# Regularisation strengths tried inside each training set: ridge's alpha, the logistic regression's inverse C.
STRENGTHS = (0.1, 1.0, 10.0, 100.0, 1000.0)

Features = Callable[[ConversationMetrics], list[float]]
Model = Callable[[float], Any]  # a regularisation strength to an unfitted scikit-learn estimator


def _shown_factors(metrics: ConversationMetrics) -> list[float]:
    shown = shown_rules(metrics)
    return [shown[name] for name in FACTORS]


def _measures(metrics: ConversationMetrics) -> list[float]:
    """The shares and rates per turn the factors read, and the closing outcome (one per call, whatever its length)."""
    turns = max(metrics.candidate_turns, 1)
    hesitated = metrics.hesitations > 0
    return [
        math.log1p(metrics.persona_words_per_turn),
        (metrics.listening_signals + metrics.playbacks) / turns,
        metrics.followup_questions / turns,
        metrics.buyer_questions / turns,
        metrics.open_buyer_questions / turns,
        len(metrics.topics_covered) / len(Topic),
        float(hesitated),
        metrics.hesitation_points / (MAX_POINTS * metrics.hesitations) if hesitated else 0.0,
        (metrics.grounded_value + metrics.tailored_value_statements) / turns,
        (metrics.value_statements - metrics.tailored_value_statements) / turns,
        len(metrics.value_themes) / len(ValueTheme),
        metrics.feature_dumps / turns,
        (metrics.dismissals + metrics.pushes + metrics.pushes_after_decline + metrics.interruptions) / turns,
        factor_scores(metrics)[CLOSING_MOMENTUM] or 0.0,
        metrics.candidate_talk_ratio,
        metrics.candidate_question_rate,
    ]


def _with_length(features: Features) -> Features:
    return lambda metrics: [*features(metrics), math.log(max(metrics.turn_count, 1))]


FEATURE_SETS: dict[str, Features] = {
    "factors": _shown_factors,
    "factors + length": _with_length(_shown_factors),
    "measures": _measures,
    "measures + length": _with_length(_measures),
}


def _ridge(strength: float) -> Any:
    return make_pipeline(StandardScaler(), Ridge(alpha=strength))


def _ordinal(strength: float) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=1 / strength, max_iter=5000))


MODELS: dict[str, Model] = {"ridge": _ridge, "ordinal logistic": _ordinal}


def predicted(model: Any, rows: np.ndarray) -> np.ndarray:
    """The model's reading of each call, a regression's value or a classifier's expected label, put on the meter's
    scale (label 1 at 0, label 5 at 100) so their means by label read alike."""
    if hasattr(model, "predict_proba"):
        label = model.predict_proba(rows) @ model.classes_
    else:
        label = model.predict(rows)
    return 25 * (np.asarray(label, dtype=float) - 1)


def held_out(model: Model, rows: np.ndarray, labels: np.ndarray, folds: Sequence[object],
             inner: Sequence[object]) -> tuple[list[float], list[float]]:
    """Each call scored by the model fitted on the calls outside its fold, its strength chosen by the pooled Spearman
    of leaving each ``inner`` group of the training calls out in turn; and the strength chosen for each call."""
    scores, chosen = [0.0] * len(labels), [0.0] * len(labels)
    for fold in dict.fromkeys(folds):
        train = [i for i, other in enumerate(folds) if other != fold]
        test = [i for i, other in enumerate(folds) if other == fold]
        strength = max(STRENGTHS, key=lambda s: _inner_fit(model, s, rows[train], labels[train],
                                                           [inner[i] for i in train]))
        fitted = model(strength).fit(rows[train], labels[train])
        for i, value in zip(test, predicted(fitted, rows[test]), strict=True):
            scores[i], chosen[i] = float(value), strength
    return scores, chosen


def _inner_fit(model: Model, strength: float, rows: np.ndarray, labels: np.ndarray, groups: Sequence[object]) -> float:
    scores = np.zeros(len(labels))
    for group in dict.fromkeys(groups):
        train = np.array([other != group for other in groups])
        scores[~train] = predicted(model(strength).fit(rows[train], labels[train]), rows[~train])
    return spearman(list(scores), list(labels))


# Where each measure might count in full, around the engine's own marks (``FullMarks``).
FULL_MARKS_GRID = [FullMarks(*values) for values in itertools.product(
    (10, 15, 20, 30, 40), (1, 2, 3, 5), (2, 3, 4, 6), (1, 2, 3, 5), (1, 2, 3, 5), (1, 2, 3))]


def _distance(marks: FullMarks) -> float:
    """How far marks are from the engine's, each by its ratio: the pull toward them when fits tie."""
    return sum(abs(math.log(mine / theirs)) for mine, theirs in zip(astuple(marks), astuple(FULL_MARKS), strict=True))


def held_out_full_marks(metrics: Sequence[ConversationMetrics], labels: Sequence[int], folds: Sequence[object],
                        tolerance: float = TOLERANCE) -> tuple[list[float], dict[object, FullMarks]]:
    """Each call scored, at equal weights, with the full marks that rank the calls outside its fold best (of those
    within ``tolerance`` of the best, the nearest to the engine's), and the marks chosen for each fold."""
    weights = RUBRICS[Blueprint.SALES]
    scores = {marks: [weigh(factor_scores(m, marks), weights) for m in metrics] for marks in FULL_MARKS_GRID}
    chosen = {}
    for fold in dict.fromkeys(folds):
        train = [i for i, other in enumerate(folds) if other != fold]
        fits = {marks: spearman([row[i] for i in train], [labels[i] for i in train]) for marks, row in scores.items()}
        best = max(fits.values())
        chosen[fold] = min((marks for marks, fit in fits.items() if fit >= best - tolerance), key=_distance)
    return [scores[chosen[fold]][i] for i, fold in enumerate(folds)], chosen


def report(name: str, scores: Sequence[float], calls: Sequence[dict[str, Any]], meter: Sequence[float]) -> None:
    """Pooled and per-part figures, and how far the pooled Spearman is from the meter's on the same resamples."""
    labels = [call["label"] for call in calls]
    low, high = interval(scores, labels)
    parts = [call["directory"] for call in calls]
    per_part = statistics.fmean(spearman([s for s, p in zip(scores, parts, strict=True) if p == part],
                                         [lab for lab, p in zip(labels, parts, strict=True) if p == part])
                                for part in dict.fromkeys(parts))
    gain_low, gain_high = gain_interval(scores, meter, labels)
    print(f"{name}: Spearman {spearman(scores, labels):.3f} (95% {low:.2f} to {high:.2f}), "
          f"Kendall {kendall(scores, labels):.2f}, mean of the parts' Spearman {per_part:.3f}; against the meter "
          f"{spearman(scores, labels) - spearman(meter, labels):+.3f} (95% {gain_low:+.2f} to {gain_high:+.2f})\n"
          f"  mean by label: {means_by_label(scores, labels)}")
    print(length_and_origins(scores, calls))


def gain_interval(scores: Sequence[float], meter: Sequence[float], labels: Sequence[int],
                  seed: int = 7) -> tuple[float, float]:
    """The bootstrap 95% interval of the gain in Spearman over the meter, both read on the same resampled calls."""
    rng = random.Random(seed)
    gains = []
    for _ in range(RESAMPLES):
        picks = [rng.randrange(len(labels)) for _ in labels]
        chosen = [labels[i] for i in picks]
        gains.append(spearman([scores[i] for i in picks], chosen) - spearman([meter[i] for i in picks], chosen))
    gains.sort()
    return gains[int(0.025 * RESAMPLES)], gains[int(0.975 * RESAMPLES) - 1]


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    calls = load_calls(ALL_ENGLISH)
    parts = [call["directory"] for call in calls]
    labels = np.array([call["label"] for call in calls])
    metrics = [measure(turns_of(call)) for call in calls]
    print(f"{len(calls)} calls in {len(set(parts))} parts; leave one part out, strengths chosen inside the training "
          "parts the same way")
    table = {name: np.array([features(m) for m in metrics]) for name, features in FEATURE_SETS.items()}
    meter = [float(np.mean(row)) for row in table["factors"]]
    report("the meter as it ships (equal weights)", meter, calls, meter)
    for model_name, model in MODELS.items():
        for set_name, rows in table.items():
            scores, chosen = held_out(model, rows, labels, parts, parts)
            report(f"{model_name} on {set_name}", scores, calls, meter)
            print(f"  strengths chosen per part: {sorted(set(chosen))}")
    for tolerance in (TOLERANCE, 0.0):
        scores, marks = held_out_full_marks(metrics, list(labels), parts, tolerance)
        report(f"fitted full marks of the factors (equal weights; the nearest to the engine's within {tolerance} "
               "of the best)", scores, calls, meter)
        for fold, chosen_marks in marks.items():
            print(f"  without {fold}: {chosen_marks}")

if __name__ == "__main__":
    main()
