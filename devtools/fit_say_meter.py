"""Fit the Say Meter's factor weights for the sales track on the labelled corpus (tests/data/sales_corpus), and say
how well the fitted weights rank calls they were not fitted on.

Each call's five factors are the rules' (``factor_scores``) on the whole call (an untested factor is left out and its
weight shared by the others, as the engine does); for an English call the engine mixes each with what the call's words
say of it (``devtools.say_meter_text_models``), which this tool does not fit. The weights are fitted by searching every
weighting on a grid of the simplex (non-negative percentages in steps of ``STEP`` summing to 100, as the engine's
rubrics are written) for those whose score ranks the training calls closest to their labels (Spearman), and taking,
among those within ``TOLERANCE`` of the best, the one nearest to equal weights. Maximising the rank correlation itself,
rather than a least-squares fit of the label, fits the figure the meter is judged on and needs no assumption that the
labels are evenly spaced; an exhaustive grid makes the fit deterministic, and the pull toward equal weights keeps it
from chasing noise. Leave-one-out cross-validation fits on every call but one and scores the one left out, so the
held-out figure is the one to believe; the in-sample figure only shows how much of it is fitting. Then, to say where the
signal is: each factor and a few raw measures against the label, each factor against the coach's score of the rubric
dimension it stands for, and the same fit with the coach's dimension scores in place of the factors.

When the calls come from several parts (directories, each written by a different person from sources the others do
not retell), leave-one-part-out fits on every part but one and scores the one left out: the figure that says how the
weights carry to a new writer's part, and the one to believe first (the rules themselves were written reading every
part, so it is still a development figure).

Only the development part of the corpus is used unless ``--part`` says otherwise (``devtools.say_meter_split``; the
sales weights are fitted with ``--part all_english``, the eighteen English directories, all having been read);
``--language es`` reads the Spanish corpus, with the Spanish phrases, to say what a fit on it would do (the engine's
sales weights are fitted on the English corpus).

    .venv/bin/python -m devtools.fit_say_meter [--part PART] [--language en|es]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analysis_svc.domain.conversation import ConversationMetrics, measure
from analysis_svc.domain.phrasebook import phrases_for
from analysis_svc.domain.say_meter import (
    CLOSING_MOMENTUM,
    DISCOVERY,
    FACTORS,
    OBJECTION_HANDLING,
    RAPPORT,
    RUBRICS,
    VALUE_ARTICULATION,
    factor_scores,
)
from calls.job_tracks import Blueprint
from devtools.say_meter_corpus import (
    interval,
    kendall,
    length_and_origins,
    load_calls,
    means_by_label,
    part_and_language,
    spearman,
    turns_of,
)

STEP = 10  # percent; 1,001 weightings of five factors
# Spearman within which two weightings rank the training calls alike. Chosen on the development part by leave-one-out
# among 0, 0.005, 0.01, 0.02 and 0.03 (0.67, 0.74, 0.76, 0.75, 0.76), so the leave-one-out figure is a little
# optimistic; a blind part of calls is what measures it.
TOLERANCE = 0.01

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
    "hesitations": lambda m: m.hesitations,
    "hesitation points": lambda m: m.hesitation_points,
    "questions about the buyer": lambda m: m.buyer_questions,
    "playbacks": lambda m: m.playbacks,
    "grounded value": lambda m: m.grounded_value,
    "pushes": lambda m: m.pushes,
    "graceful exits": lambda m: m.graceful_exits,
}


def simplex(factor_count: int, step: int, total: int = 100) -> list[Weights]:
    """Every weighting of factor_count factors in steps of step percent summing to total, most weight first."""
    if factor_count == 1:
        return [(total,)]
    return [(first, *rest) for first in range(total, -1, -step)
            for rest in simplex(factor_count - 1, step, total - first)]


def weighted(rows: Sequence[Sequence[float | None]], weights: Weights) -> list[float]:
    """Each call's score under ``weights``, an untested factor (None) left out and its weight shared by the others,
    as the engine's ``weigh`` does."""
    scores = []
    for row in rows:
        tested = [(w, value) for w, value in zip(weights, row, strict=True) if value is not None]
        total = sum(w for w, _ in tested)
        scores.append(sum(w * value for w, value in tested) / total if total else 0.0)
    return scores


def best_weights(scores_by_weights: dict[Weights, list[float]], labels: Sequence[int],
                 calls: Sequence[int]) -> Weights:
    """Of the weightings whose scores of the given calls rank them within TOLERANCE of the closest to their labels,
    the one nearest to equal weights: on a few dozen calls many weightings rank almost alike, and the top one by a
    hair is noise."""
    chosen = [labels[i] for i in calls]
    fits = {w: spearman([scores[i] for i in calls], chosen) for w, scores in scores_by_weights.items()}
    best = max(fits.values())
    equal = 100 / len(next(iter(fits)))
    return min((w for w, fit in fits.items() if fit >= best - TOLERANCE),
               key=lambda w: (sum((share - equal) ** 2 for share in w), w))


def held_out_scores(rows: Sequence[Sequence[float | None]], labels: Sequence[int], step: int = STEP,
                    folds: Sequence[object] | None = None) -> tuple[list[float], list[Weights]]:
    """Each call's score under the weights fitted on the calls outside its fold, and those weights: leave-one-out
    unless ``folds`` names each call's fold (its part, to leave one part out at a time)."""
    folds = range(len(rows)) if folds is None else folds
    scores_by_weights = {w: weighted(rows, w) for w in simplex(len(rows[0]), step)}
    fitted = {fold: best_weights(scores_by_weights, labels, [i for i, other in enumerate(folds) if other != fold])
              for fold in dict.fromkeys(folds)}
    return [scores_by_weights[fitted[fold]][i] for i, fold in enumerate(folds)], [fitted[fold] for fold in folds]


def fit_all(rows: Sequence[Sequence[float | None]], labels: Sequence[int], step: int = STEP) -> Weights:
    scores_by_weights = {w: weighted(rows, w) for w in simplex(len(rows[0]), step)}
    return best_weights(scores_by_weights, labels, range(len(rows)))


def _figures(scores: Sequence[float], labels: Sequence[int]) -> str:
    low, high = interval(scores, labels)
    return (f"Spearman {spearman(scores, labels):.2f} (95% {low:.2f} to {high:.2f}), "
            f"Kendall {kendall(scores, labels):.2f}\n  mean score by label: {means_by_label(scores, labels)}")


def _named(weights: Weights) -> str:
    return ", ".join(f"{name} {w}%" for name, w in zip(FACTORS, weights, strict=True))


def _tested(values: Sequence[float | None], other: Sequence[float]) -> str:
    """Spearman over the calls where the factor was tested, and how many they are."""
    pairs = [(value, o) for value, o in zip(values, other, strict=True) if value is not None]
    return f"{spearman([p[0] for p in pairs], [p[1] for p in pairs]):.2f} ({len(pairs)})"


def main() -> None:
    part, language = part_and_language(__doc__ or "")
    calls = load_calls(part, language)
    print(f"{part} part of the {language} corpus")
    labels = [call["label"] for call in calls]
    phrases = phrases_for(language)
    metrics = [measure(turns_of(call), phrases=phrases) for call in calls]
    factors = [factor_scores(m) for m in metrics]
    rows = [[f[name] for name in FACTORS] for f in factors]

    print(f"{len(calls)} calls, sales track, weights on a {STEP}% grid ({len(simplex(len(FACTORS), STEP))} weightings)")
    parts = [call["directory"] for call in calls]
    if len(set(parts)) > 1:
        # Each part was written by a different person from different sources: the figure for a new writer's part.
        by_part, part_weights = held_out_scores(rows, labels, folds=parts)
        print(f"leave one part out (weights fitted without the part; the rules read every part): "
              f"{_figures(by_part, labels)}")
        print(length_and_origins(by_part, calls))
        print("  weights fitted without each part: " + "; ".join(
            f"{part}: {'/'.join(map(str, part_weights[parts.index(part)]))}" for part in dict.fromkeys(parts)))
    held_out, fitted = held_out_scores(rows, labels)
    print(f"out of sample (leave one out): {_figures(held_out, labels)}")
    print(length_and_origins(held_out, calls))
    ranges = ", ".join(f"{name} {min(w[k] for w in fitted)}-{max(w[k] for w in fitted)}%"
                       for k, name in enumerate(FACTORS))
    print(f"  weights across the {len(fitted)} folds ({len(set(fitted))} distinct): {ranges}")
    in_sample = fit_all(rows, labels)
    print(f"in sample (fitted on all calls): {_figures(weighted(rows, in_sample), labels)}")
    print(length_and_origins(weighted(rows, in_sample), calls))
    print(f"  weights: {_named(in_sample)}")
    current = tuple(RUBRICS[Blueprint.SALES][name] for name in FACTORS)
    print(f"current weights (not fitted): {_figures(weighted(rows, current), labels)}")
    print(f"  weights: {_named(current)}")
    columns = {name: [row[k] for row in rows] for k, name in enumerate(FACTORS)}
    print("each factor alone against the label (Spearman, over the calls where it was tested): "
          + ", ".join(f"{name} {_tested(values, labels)}" for name, values in columns.items()))
    coach = {name: [call["dimensions"][COACH_DIMENSIONS[name]] for call in calls] for name in FACTORS}
    print("each factor against the coach's score of its dimension (Spearman): "
          + ", ".join(f"{name} {_tested(values, coach[name])}" for name, values in columns.items()))
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
