"""Fit the Say Meter's factor weights for the sales track on the labelled corpus (tests/data/sales_corpus), and say
how well the fitted weights rank calls they were not fitted on.

Each call's five factors are computed as the engine computes them on the whole call. The weights are fitted by
searching every weighting on a grid of the simplex (non-negative percentages in steps of ``STEP`` summing to 100,
as the engine's rubrics are written) for the one whose score ranks the training calls closest to their labels
(Spearman). Maximising the rank correlation itself, rather than a least-squares fit of the label, fits the figure
the meter is judged on and needs no assumption that the labels are evenly spaced; an exhaustive grid makes the fit
deterministic and, with a coarse step, leaves little room to chase noise. Ties go to the first weighting in grid
order. Leave-one-out cross-validation fits on every call but one and scores the one left out, so the held-out
figure is the one to believe; the in-sample figure only shows how much of it is fitting. Then, to say where the
signal is: each factor and a few raw measures against the label, each factor against the coach's score of the
rubric dimension it stands for, and the same fit with the coach's dimension scores in place of the factors.

    .venv/bin/python -m devtools.fit_say_meter
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analysis_svc.domain.conversation import ConversationMetrics, measure
from analysis_svc.domain.say_meter import (
    CLOSING_MOMENTUM,
    DISCOVERY,
    FACTORS,
    OBJECTION_HANDLING,
    RAPPORT,
    RUBRICS,
    VALUE_ARTICULATION,
    score,
)
from calls.job_tracks import Blueprint
from devtools.say_meter_corpus import interval, kendall, load_calls, means_by_label, spearman, turns_of

STEP = 10  # percent; 1,001 weightings of five factors

Weights = tuple[int, ...]  # percent per factor, in FACTORS order

# The rubric dimension (RUBRIC.md) each factor stands for: how far a factor follows the coach's own score of it
# says whether it measures what it is named for.
COACH_DIMENSIONS = {RAPPORT: "listening", DISCOVERY: "discovery", OBJECTION_HANDLING: "objections",
                    VALUE_ARTICULATION: "value", CLOSING_MOMENTUM: "next_step"}

# Raw measures behind the factors, shown one by one against the label to say where signal is left.
MEASURES: dict[str, Callable[[ConversationMetrics], float]] = {
    "candidate talk ratio": lambda m: m.candidate_talk_ratio,
    "candidate question rate": lambda m: m.candidate_question_rate,
    "open questions": lambda m: m.candidate_open_questions,
    "follow-up questions": lambda m: m.followup_questions,
    "topics covered": lambda m: len(m.topics_covered),
    "listening signals": lambda m: m.listening_signals,
    "objections raised": lambda m: m.objections_raised,
    "objections handled": lambda m: m.objections_handled,
    "tailored value statements": lambda m: m.tailored_value_statements,
    "feature dumps": lambda m: m.feature_dumps,
    "dismissals": lambda m: m.dismissals,
    "pushes after decline": lambda m: m.pushes_after_decline,
    "next step committed": lambda m: m.next_step_committed,
    "longest candidate monologue": lambda m: m.candidate_longest_monologue_words,
}


def simplex(factor_count: int, step: int, total: int = 100) -> list[Weights]:
    """Every weighting of factor_count factors in steps of step percent summing to total, most weight first."""
    if factor_count == 1:
        return [(total,)]
    return [(first, *rest) for first in range(total, -1, -step)
            for rest in simplex(factor_count - 1, step, total - first)]


def weighted(rows: Sequence[Sequence[float]], weights: Weights) -> list[float]:
    return [sum(w * value for w, value in zip(weights, row, strict=True)) / 100 for row in rows]


def best_weights(scores_by_weights: dict[Weights, list[float]], labels: Sequence[int],
                 calls: Sequence[int]) -> Weights:
    """The weighting whose scores of the given calls rank them closest to their labels."""
    chosen = [labels[i] for i in calls]
    return max(scores_by_weights, key=lambda w: spearman([scores_by_weights[w][i] for i in calls], chosen))


def held_out_scores(rows: Sequence[Sequence[float]], labels: Sequence[int],
                    step: int = STEP) -> tuple[list[float], list[Weights]]:
    """Leave-one-out: each call's score under the weights fitted on all the other calls, and those weights."""
    scores_by_weights = {w: weighted(rows, w) for w in simplex(len(rows[0]), step)}
    scores, fitted = [], []
    for held_out in range(len(rows)):
        weights = best_weights(scores_by_weights, labels, [i for i in range(len(rows)) if i != held_out])
        scores.append(scores_by_weights[weights][held_out])
        fitted.append(weights)
    return scores, fitted


def fit_all(rows: Sequence[Sequence[float]], labels: Sequence[int], step: int = STEP) -> Weights:
    scores_by_weights = {w: weighted(rows, w) for w in simplex(len(rows[0]), step)}
    return best_weights(scores_by_weights, labels, range(len(rows)))


def _figures(scores: Sequence[float], labels: Sequence[int]) -> str:
    low, high = interval(scores, labels)
    return (f"Spearman {spearman(scores, labels):.2f} (95% {low:.2f} to {high:.2f}), "
            f"Kendall {kendall(scores, labels):.2f}\n  mean score by label: {means_by_label(scores, labels)}")


def _named(weights: Weights) -> str:
    return ", ".join(f"{name} {w}%" for name, w in zip(FACTORS, weights, strict=True))


def main() -> None:
    calls = load_calls()
    labels = [call["label"] for call in calls]
    metrics = [measure(turns_of(call)) for call in calls]
    factors = [score(m, Blueprint.SALES).factors for m in metrics]
    rows = [[f[name] for name in FACTORS] for f in factors]

    held_out, fitted = held_out_scores(rows, labels)
    print(f"{len(calls)} calls, sales track, weights on a {STEP}% grid ({len(simplex(len(FACTORS), STEP))} weightings)")
    print(f"out of sample (leave one out): {_figures(held_out, labels)}")
    ranges = ", ".join(f"{name} {min(w[k] for w in fitted)}-{max(w[k] for w in fitted)}%"
                       for k, name in enumerate(FACTORS))
    print(f"  weights across the {len(fitted)} folds ({len(set(fitted))} distinct): {ranges}")
    in_sample = fit_all(rows, labels)
    print(f"in sample (fitted on all calls): {_figures(weighted(rows, in_sample), labels)}")
    print(f"  weights: {_named(in_sample)}")
    current = tuple(RUBRICS[Blueprint.SALES][name] for name in FACTORS)
    print(f"current weights (not fitted): {_figures(weighted(rows, current), labels)}")
    print(f"  weights: {_named(current)}")
    columns = {name: [row[k] for row in rows] for k, name in enumerate(FACTORS)}
    print("each factor alone against the label (Spearman): "
          + ", ".join(f"{name} {spearman(values, labels):.2f}" for name, values in columns.items()))
    coach = {name: [call["dimensions"][COACH_DIMENSIONS[name]] for call in calls] for name in FACTORS}
    print("each factor against the coach's score of its dimension (Spearman): "
          + ", ".join(f"{name} {spearman(values, coach[name]):.2f}" for name, values in columns.items()))
    print("each coach dimension against the label (Spearman): "
          + ", ".join(f"{COACH_DIMENSIONS[name]} {spearman(values, labels):.2f}" for name, values in coach.items())
          + f"; the label against the call's length in turns: {spearman([len(c['turns']) for c in calls], labels):.2f}")
    measures = {name: [float(read(m)) for m in metrics] for name, read in MEASURES.items()}
    print("raw measures against the label (Spearman, and the calls where the measure is not 0): "
          + ", ".join(f"{name} {spearman(values, labels):.2f} ({sum(map(bool, values))})"
                      for name, values in measures.items()))
    # What factors that followed the coach's dimensions would reach, fitted the same way.
    dimensions = [[call["dimensions"][COACH_DIMENSIONS[name]] for name in FACTORS] for call in calls]
    print(f"the coach's five dimension scores in place of the factors, out of sample: "
          f"Spearman {spearman(held_out_scores(dimensions, labels)[0], labels):.2f}")


if __name__ == "__main__":
    main()
