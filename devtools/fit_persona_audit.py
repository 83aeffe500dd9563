"""Fits the persona auditor's per-flaw turn classifiers on the labelled persona turns (tests/data/persona_audit_set)
and writes them to calls/persona_audit_fitted.json, which the auditor reads at run time.

Each flaw's classifier is a logistic regression (scikit-learn, here only) over what
`calls.persona_audit.turn_features` reads in a turn but the flaw's own rule, fitted on every labelled turn; it is
OR-ed with the rules, so what counts is what it finds that they miss. Its regularisation and threshold are chosen
without the turns they are scored on: each part of the training data is left out in turn, the classifier fitted on
the others scores it, and the choice is the one at which the classifier adds the most turns the rules miss with at
least TARGET_PRECISION of what it adds right, over those scores. A flaw in STACKED is fitted otherwise: its classifier
reads the rule's verdict too and is chosen, the same way, for the best F1 over every turn; in DECIDING, its verdict
replaces the rule's. Only the flaws in ADOPTED are written: those where leaving one whole part out (`python -m
devtools.persona_audit_eval --parts`) showed the classifier adding recall at that precision, or, for a stacked one,
raising recall without precision falling below 0.9 where the rules had it. The same data gives the same file.

    .venv/bin/python -m devtools.fit_persona_audit            # writes calls/persona_audit_fitted.json
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from calls.fitted_flaws import FITTED_PATH, FlawClassifier
from calls.persona_audit import turn_features
from devtools.persona_audit_eval import DEVELOPMENT_SPLITS, FLAWS, Detector, Fitting, LabelledCall, load

TARGET_PRECISION = 0.9
# A feature seen in fewer training turns than this is left out: it could only fit the turns it came from.
MIN_TURNS_WITH_FEATURE = 2
# A classifier that adds fewer right turns than this over the training parts is not used: one or two could be luck.
MIN_FOUND = 3
# scikit-learn's C, chosen with the threshold inside the training parts: smaller keeps the weights nearer zero.
REGULARISATIONS = (0.1, 0.5, 2.0)
# The flaws whose classifier is fitted with the rule's verdict among its features and chosen for the best F1 over every
# turn, because leaving a part out that found more of the flaw than one fitted without it, at 0.9 precision or more
# where they had it (docs/persona_audit.md): responsiveness, where no classifier adds at TARGET_PRECISION, and
# hostility.
STACKED = ("unresponsive", "hostility")
# Of those, the flaws whose classifier decides, clearing the rules' flags it does not confirm: responsiveness, whose
# rules flag many turns wrongly. Hostility's rules are rarely wrong, and its classifier cleared plain insults.
DECIDING = ("unresponsive",)
# The flaws whose classifier the auditor uses, from the leave-one-part-out figures (docs/persona_audit.md): breaks of
# character since thirteen parts, where it finds breaks in voices the rules' phrases do not know.
ADOPTED = ("hostility", "unresponsive", "out_of_character")
DIGITS = 6  # weights and thresholds are written rounded, so the file reads the same from run to run


@dataclass(frozen=True)
class Example:
    part: str
    features: frozenset[str]
    flaws: frozenset[str]


_FEATURES: dict[str, dict[int, frozenset[str]]] = {}


def features_of(call: LabelledCall) -> dict[int, frozenset[str]]:
    """Each persona turn's features, read once per call."""
    if call.id not in _FEATURES:
        _FEATURES[call.id] = turn_features(call.turns, call.profile)
    return _FEATURES[call.id]


def examples(calls: Iterable[LabelledCall]) -> list[Example]:
    return [Example(call.split, features_of(call)[sequence], labels)
            for call in calls for sequence, labels in call.labels.items()]


def _ruled(example: Example, flaw: str) -> bool:
    return f"rule:{flaw}" in example.features


def fit_weights(training: Sequence[Example], flaw: str, regularisation: float) -> tuple[float, dict[str, float]]:
    """The bias and weights of the flaw's classifier, fitted on every training turn without the flaw's own rule
    (with it, for a stacked flaw), so that it learns the wording of every labelled turn, not only of the few the
    rules miss on data they have read."""
    left_out = set() if flaw in STACKED else {f"rule:{flaw}"}
    counts: dict[str, int] = {}
    for example in training:
        for feature in example.features - left_out:
            counts[feature] = counts.get(feature, 0) + 1
    vocabulary = sorted(feature for feature, count in counts.items() if count >= MIN_TURNS_WITH_FEATURE)
    labels = [flaw in example.flaws for example in training]
    if not vocabulary or len(set(labels)) < 2:
        return -30.0, {}  # nothing to learn from: never flags
    index = {feature: column for column, feature in enumerate(vocabulary)}
    columns = [sorted(index[feature] for feature in example.features if feature in index) for example in training]
    starts = [0]
    for row in columns:
        starts.append(starts[-1] + len(row))
    matrix = csr_matrix(([1.0] * starts[-1], [column for row in columns for column in row], starts),
                        shape=(len(training), len(vocabulary)))
    model = LogisticRegression(C=regularisation, solver="liblinear", class_weight="balanced", random_state=0)
    model.fit(matrix, labels)
    weights = {feature: round(float(weight), DIGITS) for feature, weight in zip(vocabulary, model.coef_[0], strict=True)
               if round(float(weight), DIGITS)}
    return round(float(model.intercept_[0]), DIGITS), weights


def classifier(flaw: str, bias: float, weights: dict[str, float], threshold: float) -> FlawClassifier:
    return FlawClassifier(bias, MappingProxyType(weights), threshold, flaw in DECIDING)


@dataclass(frozen=True)
class Choice:
    regularisation: float
    threshold: float
    found: float  # over the training parts left out: the turns the rules miss that it found, or, stacked, its F1


def choose(training: Sequence[Example], flaw: str) -> Choice | None:
    """The regularisation and threshold at which the classifier finds the most turns the rules miss, with at least
    TARGET_PRECISION of the turns it adds labelled with the flaw, each training part scored by a classifier fitted on
    the others; None when it finds fewer than MIN_FOUND at that precision. For a stacked flaw, those at which it
    reads every turn the best (F1)."""
    parts = dict.fromkeys(example.part for example in training)
    stacked = flaw in STACKED
    best: Choice | None = None
    for regularisation in REGULARISATIONS:
        scored: list[tuple[float, bool]] = []  # each turn it reads, scored by a classifier that did not see it
        for part in parts:
            bias, weights = fit_weights([example for example in training if example.part != part], flaw,
                                        regularisation)
            scorer = classifier(flaw, bias, weights, 1.0)
            scored += [(scorer.probability(example.features), flaw in example.flaws) for example in training
                       if example.part == part and (stacked or not _ruled(example, flaw))]
        labelled_in_all = sum(labelled for _, labelled in scored)
        right = wrong = 0
        for probability, labelled in sorted(scored, reverse=True):
            right, wrong = right + labelled, wrong + (not labelled)
            found = (2 * right / (right + wrong + labelled_in_all) if stacked
                     else right if right >= TARGET_PRECISION * (right + wrong) and right >= MIN_FOUND else 0)
            if found and (best is None or found > best.found):
                best = Choice(regularisation, round(probability, DIGITS), found)
    return best


def fit(calls: Iterable[LabelledCall], flaws: Iterable[str] = FLAWS) -> dict[str, FlawClassifier]:
    """Each flaw's classifier, its regularisation and threshold chosen inside these calls; a flaw none reaches the
    precision for is left out."""
    training = examples(calls)
    fitted = {}
    for flaw in flaws:
        if (chosen := choose(training, flaw)) is not None:
            fitted[flaw] = classifier(flaw, *fit_weights(training, flaw, chosen.regularisation), chosen.threshold)
    return fitted


@dataclass(frozen=True)
class _RulesOrClassifiers:
    """A fitting as a value, not a closure, so each fold leaving a part out can be fitted in a process of its own."""

    flaws: tuple[str, ...]

    def __call__(self, training: list[LabelledCall]) -> Detector:
        classifiers = fit(training, self.flaws)

        def detect(call: LabelledCall) -> dict[int, frozenset[str]]:
            found = {}
            for sequence, features in features_of(call).items():
                found[sequence] = frozenset(flaw for flaw in FLAWS if (
                    classifiers[flaw].flags(features) if flaw in classifiers and classifiers[flaw].decides
                    else f"rule:{flaw}" in features or (flaw in classifiers and classifiers[flaw].flags(features))))
            return found
        return detect


def with_classifiers(flaws: Iterable[str] = FLAWS) -> Fitting:
    """Rules OR-ed with the classifiers of these flaws, fitted on the training calls: for the evaluation."""
    return _RulesOrClassifiers(tuple(flaws))


def document(calls: Iterable[LabelledCall], flaws: Iterable[str] = ADOPTED) -> dict[str, Any]:
    fitted = fit(calls, flaws)
    return {"about": "Fitted by devtools/fit_persona_audit.py on the labelled persona turns; do not edit by hand.",
            "flaws": {flaw: {"bias": classifier.bias, "threshold": classifier.threshold,
                             **({"decides": True} if classifier.decides else {}),
                             "weights": dict(sorted(classifier.weights.items()))}
                      for flaw, classifier in fitted.items()}}


def development_calls() -> list[LabelledCall]:
    return [call for call in load() if call.split in DEVELOPMENT_SPLITS]


def main() -> None:
    FITTED_PATH.write_text(json.dumps(document(development_calls()), indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
