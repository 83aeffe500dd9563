"""Learned text models of the coach's five dimension scores, against the Say Meter's rule factors, compared leave one
part out on the eighteen English directories (``all_english``).

Each call carries the coach's score (0-4) of each rubric dimension (tests/data/sales_corpus/RUBRIC.md). Per dimension,
a ridge regression reads the call's words: the seller's turns and the buyer's turns as two feature spaces of lower-cased
word unigrams and bigrams (a bigram never spans two turns), tf-idf weighted (sublinear counts, l2-normalised per call),
over the terms at least two training calls use. The candidates were fixed before any per-call error was read:

- ``words``: those two spaces alone;
- ``words + position``: each term counted again tagged with the third of the call its turn falls in;
- ``words + factors``: the words and the five rule factors as a reading shows them (0-1).

Two more were fixed after the sixth part joined, to test whether the meter follows a call's length because the words'
weights grow with it: each term's count divided by the call's messages (``words per message``) or by the seller's turns
(``words per seller turn``), idf weighted and not normalised, so a term said in every turn weighs the same in a short
call as in a long one. Their regularisation is searched on a wider grid (``RATE_STRENGTHS``), since unnormalised rows
are on another scale. A reading's Spearman with the call's length (its messages) is shown next to the labels'.
And one to test whether the words carry to a new writer better when only the terms two writers use are kept: ``words
two writers use`` keeps a term only when the training calls of at least two parts use it.

Each is also blended with the rule factor it stands for: the factor's score mixed with the learned score (on the same
0-100 scale) in a share from ``MIXES``. ``words alone``, fixed after the eighth part joined, is the shipped words with
a share of 1.0 for every dimension: the rules left out of the meter.

``length-adjusted blend``, fixed after the tenth part joined, since the shipped meter follows a call's length far more
than the coach's labels do: the shipped blend with every factor moved by the same linear term in the log of the call's
messages, centred on the training calls' mean, so the meter moves by it too. Its slope (``LENGTH_SLOPES``) is chosen
after the strengths and mixes, on the same inner scores: the slope that leaves the training calls' meter following
their length (Spearman) as much as their labels do (on a tie the smaller slope).

Everything a model chooses is chosen inside its training parts: leaving one English part out, the others choose each
dimension's regularisation (``STRENGTHS``) and then its mix, by leaving one of them out at a time (the pooled Spearman
with the coach's dimension score), and the model fitted on the others scores the part left out. The rule factors were
written reading the first four directories, so for them leaving a part out is not out of sample; for the learned models
it is. The fifth to eighteenth directories are the only ones the rules never read, so each is reported on its own.

The overall reading of a candidate is its five dimension scores weighed as the rubric weighs them (30/20/20/15/15)
against the label; the meter's reading with the candidate's factors in place of the rules' (equal weights, as the engine
weighs) is shown too. Intervals are 95% bootstraps over calls; a gain over the rules, or, for the candidates after the
adopted one, over the adopted blend left out the same way, is read on the same resamples.

A blind part is read once with ``--score-part``: each candidate named (the adopted one first) fitted on every call of
``all_english``, its choices made there as the engine's fit makes them, and read on the part.

    .venv/bin/python -m devtools.say_meter_text_models [--write [FILE]] [--score-part PART --candidate NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from scipy.stats import rankdata
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import Ridge

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.sales_words import FIT_FILE, turn_terms
from analysis_svc.domain.say_meter import FACTORS, shown_rules
from devtools.fit_say_meter import COACH_DIMENSIONS
from devtools.say_meter_corpus import (
    ALL_ENGLISH,
    ENGLISH_CORPORA,
    ENGLISH_PARTS,
    RESAMPLES,
    load_calls,
    turns_of,
)

# The rubric's weight of each dimension (RUBRIC.md), in the order of the factors that stand for them.
DIMENSIONS = tuple(COACH_DIMENSIONS[name] for name in FACTORS)
RUBRIC_WEIGHTS = {"discovery": 30, "listening": 20, "objections": 20, "value": 15, "next_step": 15}
STRENGTHS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # ridge's alpha
RATE_STRENGTHS = (0.01, 0.03, *STRENGTHS, 100.0)
MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)  # the learned score's share of a blended factor
MIN_CALLS = 2  # a term is kept when at least this many training calls use it
# Points taken off every factor per unit of log(messages) above the training calls' mean: wide enough for a meter that
# follows length wholly, or not at all.
LENGTH_SLOPES = tuple(step / 2 for step in range(-80, 81))
# The rules were written reading the first four directories: every later one, each reported on its own.
UNREAD_BY_RULES = tuple(corpus.name for corpus in ENGLISH_CORPORA[4:])


def call_terms(call: dict[str, Any], positioned: bool = False) -> Counter[str]:
    """The call's terms as the engine reads them (``sales_words.turn_terms``), and, if ``positioned``, each counted
    again under the third of the call its turn falls in (``seller@0:`` to ``seller@2:``)."""
    terms: Counter[str] = Counter()
    turns = turns_of(call)
    for index, turn in enumerate(turns):
        grams = turn_terms(turn.role, turn.text)
        terms.update(grams)
        if positioned:
            third = 3 * index // len(turns)
            terms.update(gram.replace(":", f"@{third}:", 1) for gram in grams)
    return terms


def shown_factors(call: dict[str, Any]) -> list[float]:
    """The five rule factors as a reading shows them (``say_meter.shown_rules``), 0-100."""
    shown = shown_rules(measure(turns_of(call)))
    return [shown[name] for name in FACTORS]


@dataclass(frozen=True)
class Calls:
    """What every candidate reads of the corpus, one row per call."""

    terms: list[Counter[str]]
    positioned: list[Counter[str]]
    factors: np.ndarray  # calls x factors, 0-100
    dimensions: np.ndarray  # calls x dimensions, the coach's 0-4
    labels: np.ndarray
    parts: list[str]
    messages: np.ndarray  # the call's length
    seller_turns: np.ndarray


@dataclass
class Featuriser:
    """Tf-idf of the terms at least ``MIN_CALLS`` training calls use (and, given the calls' parts, at least
    ``min_parts`` of those parts), and the rule factors if asked; fitted on the training calls only. Without ``per``,
    sublinear counts l2-normalised per call; with it, each count divided by ``per`` (one value a call), not
    normalised."""

    with_factors: bool
    min_parts: int = 1
    vectoriser: DictVectorizer | None = None
    tfidf: TfidfTransformer | None = None

    def fit_transform(self, terms: Sequence[Counter[str]], factors: np.ndarray, per: np.ndarray | None = None,
                      parts: Sequence[str] = ()) -> Any:
        used = Counter(term for counts in terms for term in counts)
        writers = Counter(term for part in set(parts) for term in
                          set().union(*(counts for counts, other in zip(terms, parts, strict=True) if other == part)))
        kept = {term for term, calls in used.items()
                if calls >= MIN_CALLS and (not parts or writers[term] >= self.min_parts)}
        self.vectoriser = DictVectorizer().fit([{t: c for t, c in counts.items() if t in kept} for counts in terms])
        self.tfidf = (TfidfTransformer(sublinear_tf=True) if per is None else TfidfTransformer(norm=None)).fit(
            self.vectoriser.transform(terms))
        return self.transform(terms, factors, per)

    def transform(self, terms: Sequence[Counter[str]], factors: np.ndarray, per: np.ndarray | None = None) -> Any:
        assert self.vectoriser is not None and self.tfidf is not None
        words = self.tfidf.transform(self.vectoriser.transform(terms))
        if per is not None:
            words = csr_matrix(words.multiply(1 / np.maximum(per, 1)[:, None]))
        return hstack([words, csr_matrix(factors / 100)]).tocsr() if self.with_factors else words


Rows = tuple[np.ndarray, np.ndarray]  # the training calls' feature rows and the test calls'


@dataclass(frozen=True)
class Words:
    """Rows of the call's terms (``Featuriser``), fitted on the training calls; every dimension reads the same."""

    terms: Callable[[Calls], list[Counter[str]]]
    with_factors: bool = False
    per: Callable[[Calls], np.ndarray] | None = None  # what a count is divided by; None: sublinear, l2-normalised
    min_parts: int = 1  # a term is kept when the training calls of at least this many parts use it

    def __call__(self, calls: Calls, train: Sequence[int], test: Sequence[int]) -> list[Rows]:
        terms = self.terms(calls)
        per = None if self.per is None else self.per(calls)
        featuriser = Featuriser(self.with_factors, self.min_parts)
        rows = featuriser.fit_transform([terms[i] for i in train], calls.factors[train],
                                        None if per is None else per[train], [calls.parts[i] for i in train]).toarray()
        tested = featuriser.transform([terms[i] for i in test], calls.factors[test],
                                      None if per is None else per[test]).toarray()
        return [(rows, tested)] * len(DIMENSIONS)


@dataclass(frozen=True)
class Candidate:
    """A reading of the call: the rows each dimension's ridge reads (one pair a dimension; dimensions given the same
    pair are fitted together), the regularisation strengths searched and the learned score's shares searched."""

    name: str
    rows: Callable[[Calls, Sequence[int], Sequence[int]], list[Rows]]
    strengths: tuple[float, ...] = STRENGTHS
    mixes: tuple[float, ...] = MIXES
    # What the ridges fit, given the training calls: the coach's dimension scores unless given.
    targets: Callable[[Calls, Sequence[int]], np.ndarray] | None = None
    length_adjusted: bool = False  # the blend moved by a term in the log of the call's length (``LengthTerm``)


ADOPTED_WORDS = Words(lambda calls: calls.terms)
CANDIDATES = (
    Candidate("words", ADOPTED_WORDS),
    Candidate("words + position", Words(lambda calls: calls.positioned)),
    Candidate("words + factors", Words(lambda calls: calls.terms, with_factors=True)),
    Candidate("words per message", Words(lambda calls: calls.terms, per=lambda calls: calls.messages), RATE_STRENGTHS),
    Candidate("words per seller turn", Words(lambda calls: calls.terms, per=lambda calls: calls.seller_turns),
              RATE_STRENGTHS),
    Candidate("words two writers use", Words(lambda calls: calls.terms, min_parts=2)),
    Candidate("words alone", ADOPTED_WORDS, mixes=(1.0,)),
    Candidate("length-adjusted blend", ADOPTED_WORDS, length_adjusted=True),
)


def fit_ridges(rows: np.ndarray, targets: np.ndarray, strengths: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Each dimension's ridge, dimension k fitted with ``strengths[k]``: coefficients (dimensions x features) and
    intercepts."""
    coefficients, intercepts = np.zeros((len(strengths), rows.shape[1])), np.zeros(len(strengths))
    for strength in set(strengths):
        # The exact solver, on dense rows (a sparse fit with an intercept is iterative), so a fresh fit repeats.
        ridge = Ridge(alpha=strength, solver="cholesky").fit(rows, targets)
        # One target column gives one flat row of coefficients: made a table again.
        fitted, offsets = np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
        for k, chosen in enumerate(strengths):
            if chosen == strength:
                coefficients[k], intercepts[k] = fitted[k], offsets[k]
    return coefficients, intercepts


def fitted_scores(candidate: Candidate, calls: Calls, train: Sequence[int], test: Sequence[int],
                  strengths: Sequence[float]) -> np.ndarray:
    """Each test call's five dimension scores (0-4), dimension k by a ridge fitted on the training calls with
    ``strengths[k]``."""
    blocks = candidate.rows(calls, train, test)
    targets = calls.dimensions[train] if candidate.targets is None else candidate.targets(calls, train)
    scores = np.zeros((len(test), len(DIMENSIONS)))
    for block in {id(block): block for block in blocks}.values():
        shared = [k for k, other in enumerate(blocks) if other is block]
        rows, tested = block
        coefficients, intercepts = fit_ridges(rows, targets[:, shared], [strengths[k] for k in shared])
        scores[:, shared] = tested @ coefficients.T + intercepts
    return scores


def inner_scores(candidate: Candidate, calls: Calls, train: Sequence[int]) -> dict[float, np.ndarray]:
    """For each strength, the training calls' dimension scores, each fitted leaving its own part out."""
    result = {strength: np.zeros((len(train), len(DIMENSIONS))) for strength in candidate.strengths}
    parts = [calls.parts[i] for i in train]
    for part in dict.fromkeys(parts):
        inner_train = [i for i, p in zip(train, parts, strict=True) if p != part]
        inner_test = [i for i, p in zip(train, parts, strict=True) if p == part]
        where = [n for n, p in enumerate(parts) if p == part]
        for strength in candidate.strengths:
            result[strength][where] = fitted_scores(candidate, calls, inner_train, inner_test,
                                                    [strength] * len(DIMENSIONS))
    return result


def blended(factors: np.ndarray, learned: np.ndarray, mixes: Sequence[float]) -> np.ndarray:
    """Each factor (0-100) mixed with its learned score (0-4, put on 0-100) in the given shares."""
    return np.array([(1 - mix) * factors[:, k] + mix * np.clip(25 * learned[:, k], 0, 100)
                     for k, mix in enumerate(mixes)]).T


@dataclass(frozen=True)
class LengthTerm:
    """``slope`` points taken off every factor per unit of log(messages) above ``centre``."""

    slope: float
    centre: float

    def adjusted(self, blend: np.ndarray, messages: np.ndarray) -> np.ndarray:
        return np.clip(blend - self.slope * (np.log(messages) - self.centre)[:, None], 0, 100)


@dataclass(frozen=True)
class Choices:
    strengths: tuple[float, ...]
    mixes: tuple[float, ...]
    length: LengthTerm | None = None

    def blend(self, factors: np.ndarray, learned: np.ndarray, messages: np.ndarray) -> np.ndarray:
        """The factors mixed with their learned scores in the chosen shares, moved by the length term if chosen."""
        mixed = blended(factors, learned, self.mixes)
        return mixed if self.length is None else self.length.adjusted(mixed, messages)

    def __str__(self) -> str:
        length = "" if self.length is None else (f", length slope {self.length.slope} a log message "
                                                 f"(centre {self.length.centre:.2f})")
        return f"strengths {self.strengths}, mixes {self.mixes}{length}"


def at_strengths(inner: dict[float, np.ndarray], strengths: Sequence[float]) -> np.ndarray:
    """Each dimension's inner scores at its chosen strength, as one array (calls x dimensions)."""
    return np.array([inner[s][:, k] for k, s in enumerate(strengths)]).T


def choose(calls: Calls, train: Sequence[int], inner: dict[float, np.ndarray],
           mixes: Sequence[float] = MIXES) -> Choices:
    """Each dimension's strength, then its mix among ``mixes``, by the training calls' inner leave-one-part-out scores
    (on a tie the stronger regularisation and the smaller mix: the nearer to the rules)."""
    truth = calls.dimensions[train]
    strengths = tuple(max(sorted(inner, reverse=True), key=lambda s: spearman(inner[s][:, k], truth[:, k]))
                      for k in range(len(DIMENSIONS)))
    learned = at_strengths(inner, strengths)
    chosen = tuple(max(mixes, key=lambda m: spearman(blended(calls.factors[train][:, [k]], learned[:, [k]], [m])[:, 0],
                                                     truth[:, k]))
                   for k in range(len(DIMENSIONS)))
    return Choices(strengths, chosen)


def matched_length(calls: Calls, train: Sequence[int], inner: dict[float, np.ndarray], choices: Choices) -> LengthTerm:
    """The length term after which the training calls' meter, read from their inner scores with ``choices``, follows
    their length as much as their labels do."""
    messages = calls.messages[train]
    mixed = choices.blend(calls.factors[train], at_strengths(inner, choices.strengths), messages)
    centre = float(np.log(messages).mean())
    wanted = spearman(calls.labels[train], messages)
    slope = min(LENGTH_SLOPES, key=lambda slope: (
        abs(spearman(LengthTerm(slope, centre).adjusted(mixed, messages).mean(axis=1), messages) - wanted), abs(slope)))
    return LengthTerm(slope, centre)


def chosen_for(candidate: Candidate, calls: Calls, train: Sequence[int]) -> Choices:
    """The candidate's strengths and mixes (and length term, if it has one), chosen on the training calls by leaving
    one of their parts out at a time."""
    inner = inner_scores(candidate, calls, train)
    choices = choose(calls, train, inner, candidate.mixes)
    if not candidate.length_adjusted:
        return choices
    return Choices(choices.strengths, choices.mixes, matched_length(calls, train, inner, choices))


def leave_one_part_out(candidate: Candidate, calls: Calls) -> tuple[np.ndarray, np.ndarray, dict[str, Choices]]:
    """Every call's learned and blended dimension scores from the models fitted without its part, and each part's
    choices."""
    learned, blend = np.zeros(calls.dimensions.shape), np.zeros(calls.factors.shape)
    choices = {}
    for part in dict.fromkeys(calls.parts):
        train = [i for i, p in enumerate(calls.parts) if p != part]
        test = [i for i, p in enumerate(calls.parts) if p == part]
        choices[part] = chosen_for(candidate, calls, train)
        learned[test] = fitted_scores(candidate, calls, train, test, choices[part].strengths)
        blend[test] = choices[part].blend(calls.factors[test], learned[test], calls.messages[test])
    return learned, blend, choices


def in_sample(candidate: Candidate, calls: Calls) -> tuple[np.ndarray, np.ndarray, Choices]:
    """The dimension scores of the model fitted on every call (its choices by leaving one part out), read on them."""
    everything = list(range(len(calls.labels)))
    choices = chosen_for(candidate, calls, everything)
    learned = fitted_scores(candidate, calls, everything, everything, choices.strengths)
    return learned, choices.blend(calls.factors, learned, calls.messages), choices


ADOPTED = CANDIDATES[0]  # the words, blended with the rules (docs/say_meter.md)
DIGITS = 10  # decimals kept in the fit file


def engine_fit(calls: Calls) -> dict[str, Any]:
    """The adopted candidate fitted on every call, its strengths and mixes chosen by leaving one part out, as the
    engine reads it (``sales_words.SalesWords``)."""
    everything = list(range(len(calls.labels)))
    choices = chosen_for(ADOPTED, calls, everything)
    featuriser = Featuriser(ADOPTED_WORDS.with_factors)
    rows = featuriser.fit_transform(ADOPTED_WORDS.terms(calls), calls.factors).toarray()
    coefficients, intercepts = fit_ridges(rows, calls.dimensions, choices.strengths)
    assert featuriser.vectoriser is not None and featuriser.tfidf is not None
    idf = featuriser.tfidf.idf_
    return {
        "factors": {name: {"dimension": dimension, "strength": strength, "mix": mix,
                           "intercept": round(float(intercept), DIGITS)}
                    for name, dimension, strength, mix, intercept in zip(
                        FACTORS, DIMENSIONS, choices.strengths, choices.mixes, intercepts, strict=True)},
        "terms": {term: [round(float(value), DIGITS) for value in (idf[j], *coefficients[:, j])]
                  for j, term in enumerate(featuriser.vectoriser.feature_names_)},
    }


def fit_file_text(fit: dict[str, Any]) -> str:
    """The fit as JSON, one term a line, so a refit's diff reads term by term."""
    terms = ",\n".join(f"  {json.dumps(term)}: {json.dumps(row)}" for term, row in fit["terms"].items())
    return f'{{"factors": {json.dumps(fit["factors"])},\n "terms": {{\n{terms}\n}}}}\n'


def spearman(xs: np.ndarray, ys: np.ndarray) -> float:
    rx, ry = rankdata(xs), rankdata(ys)
    spread = float(np.std(rx) * np.std(ry))
    return float(np.mean((rx - rx.mean()) * (ry - ry.mean())) / spread) if spread else 0.0


def _resampled_spearman(xs: np.ndarray, ys: np.ndarray, picks: np.ndarray) -> np.ndarray:
    rx, ry = rankdata(xs[picks], axis=1), rankdata(ys[picks], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    spread = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    return np.divide((rx * ry).sum(axis=1), spread, out=np.zeros(len(picks)), where=spread > 0)


def _picks(count: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, count, (RESAMPLES, count))


def with_interval(xs: np.ndarray, ys: np.ndarray) -> str:
    low, high = np.quantile(_resampled_spearman(xs, ys, _picks(len(xs))), [0.025, 0.975])
    return f"{spearman(xs, ys):.2f} ({low:.2f} to {high:.2f})"


def gain(xs: np.ndarray, rules: np.ndarray, ys: np.ndarray) -> str:
    """The gain in Spearman over the rules, with its interval on the same resampled calls."""
    picks = _picks(len(xs))
    gains = _resampled_spearman(xs, ys, picks) - _resampled_spearman(rules, ys, picks)
    low, high = np.quantile(gains, [0.025, 0.975])
    return f"{spearman(xs, ys) - spearman(rules, ys):+.2f} ({low:+.2f} to {high:+.2f})"


def means_by(scores: np.ndarray, truth: np.ndarray) -> str:
    """The mean score at each value of ``truth``, and how many steps up from one value to the next rise."""
    means = [float(scores[truth == value].mean()) for value in sorted(set(truth.tolist()))]
    rises = sum(later > earlier for earlier, later in pairwise(means))
    return " / ".join(f"{mean:.0f}" for mean in means) + f" ({rises} of {len(means) - 1} steps rise)"


def per_part(scores: np.ndarray, truth: np.ndarray, calls: Calls) -> dict[str, float]:
    parts = np.array(calls.parts)
    return {part: spearman(scores[parts == part], truth[parts == part]) for part in dict.fromkeys(calls.parts)}


def report(name: str, scores: np.ndarray, reference: np.ndarray, truth: np.ndarray, calls: Calls,
           origins: Sequence[str], against: str = "the rules") -> None:
    """A reading against the coach: pooled with its interval and gain over a reference reading (the rules unless
    ``against`` names another), its Spearman with the call's length next to the coach's, by part, each part the rules
    never read with its interval, gain and length, by origin, and the means by the coach's score."""
    print(f"  {name}: pooled {with_interval(scores, truth)}, against {against} {gain(scores, reference, truth)}; "
          f"{with_length(scores, truth, calls.messages)}")
    parts = per_part(scores, truth, calls)
    print("    by part: " + ", ".join(f"{part} {value:.2f}" for part, value in parts.items())
          + f"; mean of the parts {statistics.fmean(parts.values()):.2f}")
    for unread in UNREAD_BY_RULES:
        held = np.array(calls.parts) == unread
        print(f"    {unread}: {with_interval(scores[held], truth[held])}, against {against} "
              f"{gain(scores[held], reference[held], truth[held])}; "
              f"{with_length(scores[held], truth[held], calls.messages[held])}")
    print(f"    by origin: {by_origin(scores, truth, origins)}")
    print(f"    means by the coach's score: {means_by(scores, truth)}")


def with_length(scores: np.ndarray, truth: np.ndarray, messages: np.ndarray) -> str:
    return f"with length {spearman(scores, messages):.2f} (the coach's {spearman(truth, messages):.2f})"


def by_origin(scores: np.ndarray, truth: np.ndarray, origins: Sequence[str]) -> str:
    kinds = np.array(origins)
    return ", ".join(f"{kind} {spearman(scores[kinds == kind], truth[kinds == kind]):.2f}"
                     for kind in sorted(set(origins)))


def overall(dimensions: np.ndarray) -> np.ndarray:
    """The dimension scores weighed as the rubric weighs them."""
    weights = np.array([RUBRIC_WEIGHTS[name] for name in DIMENSIONS]) / 100
    return np.asarray(dimensions @ weights)


def load(*parts: str) -> tuple[Calls, list[str]]:
    """The calls of ``all_english``, then those of ``parts``."""
    corpus = [call for part in (ALL_ENGLISH, *parts) for call in load_calls(part)]
    calls = Calls(
        terms=[call_terms(call) for call in corpus],
        positioned=[call_terms(call, positioned=True) for call in corpus],
        factors=np.array([shown_factors(call) for call in corpus]),
        dimensions=np.array([[call["dimensions"][name] for name in DIMENSIONS] for call in corpus], dtype=float),
        labels=np.array([call["label"] for call in corpus], dtype=float),
        parts=[call["directory"] for call in corpus],
        messages=np.array([len(call["turns"]) for call in corpus], dtype=float),
        seller_turns=np.array([sum(turn["role"] == "user" for turn in call["turns"]) for call in corpus], dtype=float),
    )
    return calls, [call["origin"] for call in corpus]


def compare(reading: str, calls: Calls, origins: Sequence[str], learned: np.ndarray, blend: np.ndarray,
            shipped: np.ndarray | None = None) -> None:
    """Each dimension and the overall, learned and blended, against the rules on the same calls, or against the
    shipped blend of the words' factors (``shipped``, calls x factors) when given."""
    meter = calls.factors.mean(axis=1)
    against = "the rules" if shipped is None else "the words' blend"
    reference = calls.factors if shipped is None else shipped
    learned = np.clip(25 * learned, 0, 100)  # on the factors' scale, as the engine would show it
    for k, (factor, dimension) in enumerate(zip(FACTORS, DIMENSIONS, strict=True)):
        truth, rules = calls.dimensions[:, k], calls.factors[:, k]
        print(f" {dimension} (the rule factor {factor}), {reading}:")
        report("rules", rules, rules, truth, calls, origins)
        report("learned", learned[:, k], reference[:, k], truth, calls, origins, against)
        report("blend", blend[:, k], reference[:, k], truth, calls, origins, against)
    print(f" overall against the label, {reading}:")
    report("the meter (rules, equal weights)", meter, meter, calls.labels, calls, origins)
    for name, scores, versus in (("learned, rubric weights", overall(learned), overall(reference)),
                                 ("blend, rubric weights", overall(blend), overall(reference)),
                                 ("blend, the meter's equal weights", blend.mean(axis=1), reference.mean(axis=1))):
        report(name, scores, versus, calls.labels, calls, origins, against)


def meter_on(candidate: Candidate, calls: Calls, train: Sequence[int], test: Sequence[int]) -> tuple[np.ndarray,
                                                                                                  Choices]:
    """The meter's reading (the blend at the meter's equal weights) of the ``test`` calls, the candidate fitted and its
    choices made on the ``train`` calls as the engine's fit makes them."""
    choices = chosen_for(candidate, calls, train)
    learned = fitted_scores(candidate, calls, train, test, choices.strengths)
    return choices.blend(calls.factors[test], learned, calls.messages[test]).mean(axis=1), choices


def score_part(candidates: Sequence[Candidate], calls: Calls, part: str) -> None:
    """Each candidate fitted on the ``all_english`` calls (its choices made there, as the engine's fit makes them) and
    read on the calls of the directory ``part``: the meter (the blend at the meter's equal
    weights) against the label, each candidate's gain over the first on the same resamples."""
    train = [i for i, p in enumerate(calls.parts) if p != part]
    test = [i for i, p in enumerate(calls.parts) if p == part]
    truth, messages = calls.labels[test], calls.messages[test]
    print(f"fitted on {len(train)} calls, read on the {len(test)} calls of {part}")
    print(f" the meter, rules alone: {with_interval(calls.factors[test].mean(axis=1), truth)}; "
          f"means by label {means_by(calls.factors[test].mean(axis=1), truth)}")
    first = None
    for candidate in candidates:
        meter, choices = meter_on(candidate, calls, train, test)
        first = meter if first is None else first
        print(f" {candidate.name} ({choices}): "
              f"{with_interval(meter, truth)}, against {candidates[0].name} {gain(meter, first, truth)}; "
              f"{with_length(meter, truth, messages)}; means by label {means_by(meter, truth)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, nargs="?", const=FIT_FILE,
                        help=f"write the adopted fit to this file (default {FIT_FILE}) and stop")
    parser.add_argument("--candidate", action="append", choices=[candidate.name for candidate in CANDIDATES],
                        help="measure only these candidates (and the adopted one, the reference); all unless given")
    parser.add_argument("--score-part", choices=[part for part, (first, *_) in ENGLISH_PARTS.items()
                                                    if first not in ENGLISH_PARTS[ALL_ENGLISH]],
                        help="fit on all_english and read this part (a blind part's one run), the adopted candidate "
                             "first")
    arguments = parser.parse_args()
    if arguments.score_part:
        calls, _ = load(arguments.score_part)
        measured = [ADOPTED, *(c for c in CANDIDATES if c is not ADOPTED and c.name in (arguments.candidate or ()))]
        score_part(measured, calls, ENGLISH_PARTS[arguments.score_part][0].name)
        return
    calls, origins = load()
    if arguments.write:
        arguments.write.write_text(fit_file_text(engine_fit(calls)))
        return
    print(f"{len(calls.labels)} calls in {len(set(calls.parts))} parts; mixes {MIXES}")
    shipped = None
    measured = [c for c in CANDIDATES if c is ADOPTED or not arguments.candidate or c.name in arguments.candidate]
    for candidate in measured:
        print(f"\n== {candidate.name} (strengths {candidate.strengths}) ==")
        learned, blend, choices = leave_one_part_out(candidate, calls)
        for part, chosen in choices.items():
            print(f" without {part}: {chosen}")
        compare("leave one part out", calls, origins, learned, blend, shipped)
        shipped = blend if candidate is ADOPTED else shipped
        learned, blend, chosen = in_sample(candidate, calls)
        print(f" fitted on every call: {chosen}")
        compare("in sample", calls, origins, learned, blend)


if __name__ == "__main__":
    main()
