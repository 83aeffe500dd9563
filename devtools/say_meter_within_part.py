"""Whether the Say Meter's learned reading carries to a new writer better when it learns what separates calls within
one writer's part, or reads how the buyer reacts, compared leave one part out on the eighteen English directories
against the shipped words' blend (``devtools.say_meter_text_models``).

Leaving a part out overstates the next writer's figure: each writer has a level and habits of length of their own, and
a model of the coach's absolute scores learns them. The candidates were fixed before any per-call error was read:

- ``words within part``: the shipped words' ridge fitted on the training calls' rows and dimension scores centred on
  their part's means, so only what separates calls of one writer is learned (a ridge on centred rows is the least
  squares fit of every within-part pair's difference of scores on its difference of terms: a ranking objective in which
  a part's level cancels). A call is read as its terms' distance from the training calls' mean, weighed by that fit,
  plus the training calls' mean score: the same 0-4 scale as the shipped model, so the same 0-100 blend with the rule;
  a monotone map of the result would change no rank figure here, and only the means by label.
- ``words within part, ranks``: the same fitted on each dimension score's rank within its part, spread as the scores
  spread within parts, so a writer's spread of scores cancels too (added after the candidates above were measured).
- ``words + factors within part``: the same with the five rule factors (0-1) beside the words.
- ``reactions``: rates a writer cannot easily shift by writing more: the share of buyer turns that agree to what was
  proposed, ask, raise an objection, or decline; whether the buyer accepted a next step, and a dated one; the
  seller's questions per turn and share of the words. Read by the engine's own phrases (no new list), standardised on
  the training calls, a ridge of each dimension over them; ``reactions within part`` centres them as above.
- ``words + reactions within part``: both, the reactions scaled by ``REACTION_SCALE`` (fixed before any fit) so their
  row weighs about as much as one of the words' two l2-normalised spaces.

Each is blended with its rule factor and chosen as the shipped model is (``say_meter_text_models``): leaving one part
out, the seventeen others choose each dimension's regularisation and then its mix by leaving one of them out at a
time, and the model fitted on the seventeen scores the part left out. Every figure is a development figure; the
eighteenth part's is the one reported on its own since it is the latest a writer gave (its one blind run, with the
shipped meter, is in docs/say_meter.md). The rule for adopting a candidate: it beats the shipped blend pooled and on the
eighteenth part, its means by label no less monotone.

    .venv/bin/python -m devtools.say_meter_within_part [--candidate NAME ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from analysis_svc.domain.conversation import TurnTexts, measure, turn_text
from analysis_svc.domain.phrasebook import phrases_for
from calls.turns import Role
from devtools.say_meter_corpus import ALL_ENGLISH, ENGLISH_CORPORA, load_calls, turns_of
from devtools.say_meter_text_models import (
    ADOPTED,
    DIMENSIONS,
    RATE_STRENGTHS,
    Calls,
    Candidate,
    Featuriser,
    Rows,
    compare,
    leave_one_part_out,
    load,
    means_by,
    spearman,
    with_interval,
)
from devtools.say_meter_text_models import (
    gain as gain_over,
)

REACTIONS = ("buyer agrees", "buyer asks", "buyer objects", "buyer declines", "step accepted", "dated step accepted",
             "seller's questions per turn", "seller's share of the words")
REACTION_SCALE = 0.3  # eight standardised rates have a norm near 3; one words' space has norm 1


def reactions(call: dict[str, Any]) -> list[float]:
    """The call's ``REACTIONS``, each a rate or a yes (1) or no (0)."""
    turns = turns_of(call)
    phrases = phrases_for("en")
    metrics = measure(turns, phrases=phrases)
    read: TurnTexts = {}
    buyer = [turn_text(turn.text, read, phrases) for turn in turns if turn.role == Role.ASSISTANT]
    heard = max(len(buyer), 1)
    return [sum(text.agrees_to_proposal for text in buyer) / heard, metrics.buyer_questions / heard,
            metrics.objections_raised / heard, sum(text.declines for text in buyer) / heard,
            float(metrics.next_step_committed), float(metrics.next_step_committed and metrics.next_step_dated),
            metrics.candidate_question_rate, metrics.candidate_talk_ratio]


def centred_by_part(rows: np.ndarray, parts: Sequence[str]) -> np.ndarray:
    """Each row less the mean row of its part."""
    labels = np.array(parts)
    centred = rows.astype(float)
    for part in set(parts):
        centred[labels == part] -= rows[labels == part].mean(axis=0)
    return centred


@dataclass(frozen=True)
class Reading:
    """Rows of the call's words (the shipped featuriser, with the rule factors if asked), its reactions, or both, fitted
    on the training calls; ``within_part``: the training rows centred on their part's means and the tested rows on
    the training calls' mean (a ridge with an intercept then learns only within-part differences, and its intercept is
    the training calls' mean score)."""

    rated: np.ndarray  # calls x reactions; empty columns when the reading has no reactions
    words: bool = True
    with_factors: bool = False
    within_part: bool = True

    def __call__(self, calls: Calls, train: Sequence[int], test: Sequence[int]) -> list[Rows]:
        blocks_train, blocks_test = [], []
        if self.words:
            featuriser = Featuriser(self.with_factors)
            terms = [calls.terms[i] for i in train]
            blocks_train.append(featuriser.fit_transform(terms, calls.factors[train]).toarray())
            blocks_test.append(featuriser.transform([calls.terms[i] for i in test], calls.factors[test]).toarray())
        if self.rated.shape[1]:
            mean, spread = self.rated[train].mean(axis=0), self.rated[train].std(axis=0)
            spread[spread == 0] = 1
            scale = REACTION_SCALE if self.words else 1.0
            blocks_train.append(scale * (self.rated[train] - mean) / spread)
            blocks_test.append(scale * (self.rated[test] - mean) / spread)
        rows, tested = np.hstack(blocks_train), np.hstack(blocks_test)
        if self.within_part:
            tested = tested - rows.mean(axis=0)
            rows = centred_by_part(rows, [calls.parts[i] for i in train])
        return [(rows, tested)] * len(DIMENSIONS)


def ranked_within_part(calls: Calls, train: Sequence[int]) -> np.ndarray:
    """The training calls' dimension scores replaced by their ranks within their part, spread as the scores spread
    within parts and centred on the scores' mean: a writer's level and spread of scores cancel, their order stays."""
    scores, parts = calls.dimensions[train], [calls.parts[i] for i in train]
    labels = np.array(parts)
    ranked = np.zeros_like(scores)
    for part in set(parts):
        members = labels == part
        ranked[members] = (rankdata(scores[members], axis=0) - 0.5) / members.sum()
    ranked = centred_by_part(ranked, parts)
    spread = ranked.std(axis=0)
    spread[spread == 0] = 1
    return np.asarray(scores.mean(axis=0) + ranked / spread * centred_by_part(scores, parts).std(axis=0))


def candidates(rated: np.ndarray) -> tuple[Candidate, ...]:
    none = rated[:, :0]
    return (
        Candidate("words within part", Reading(none)),
        Candidate("words within part, ranks", Reading(none), targets=ranked_within_part),
        Candidate("words + factors within part", Reading(none, with_factors=True)),
        Candidate("reactions", Reading(rated, words=False, within_part=False), RATE_STRENGTHS),
        Candidate("reactions within part", Reading(rated, words=False), RATE_STRENGTHS),
        Candidate("words + reactions within part", Reading(rated)),
    )


LATEST = ENGLISH_CORPORA[-1].name  # the latest part a writer gave, reported on its own


def summary(name: str, meter: np.ndarray, shipped: np.ndarray, calls: Calls) -> str:
    """One line: pooled and latest-part Spearman with intervals and gains over the shipped blend, by part, means by
    label and Spearman with length, pooled and on the latest part."""
    labels, parts, messages = calls.labels, np.array(calls.parts), calls.messages
    latest = parts == LATEST
    by_part = " / ".join(f"{spearman(meter[parts == part], labels[parts == part]):.2f}"
                         for part in dict.fromkeys(calls.parts))
    return (f"{name}: pooled {with_interval(meter, labels)}, gain {gain_over(meter, shipped, labels)}; by part "
            f"{by_part}; latest {with_interval(meter[latest], labels[latest])}, gain "
            f"{gain_over(meter[latest], shipped[latest], labels[latest])}; "
            f"means by label {means_by(meter, labels)}; with length {spearman(meter, messages):.2f} / "
            f"{spearman(meter[latest], messages[latest]):.2f} (labels {spearman(labels, messages):.2f} / "
            f"{spearman(labels[latest], messages[latest]):.2f})")


def main() -> None:
    calls, origins = load()
    rated = np.array([reactions(call) for call in load_calls(ALL_ENGLISH)])
    measured = candidates(rated)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidate", action="append", choices=[candidate.name for candidate in measured],
                        help="measure only these candidates (and the shipped blend, the reference); all unless given")
    arguments = parser.parse_args()
    print(f"{len(calls.labels)} calls in {len(set(calls.parts))} parts")
    for name, values in zip(REACTIONS, rated.T, strict=True):
        print(f" {name}: Spearman with the label {spearman(values, calls.labels):.2f}, "
              f"with length {spearman(values, calls.messages):.2f}")
    _, shipped, _ = leave_one_part_out(ADOPTED, calls)
    lines = [summary("the rules alone", calls.factors.mean(axis=1), shipped.mean(axis=1), calls),
             summary("the words' blend (shipped)", shipped.mean(axis=1), shipped.mean(axis=1), calls)]
    for candidate in measured:
        if arguments.candidate and candidate.name not in arguments.candidate:
            continue
        print(f"\n== {candidate.name} (strengths {candidate.strengths}) ==")
        learned, blend, choices = leave_one_part_out(candidate, calls)
        for part, chosen in choices.items():
            print(f" without {part}: strengths {chosen.strengths}, mixes {chosen.mixes}")
        compare("leave one part out", calls, origins, learned, blend, shipped)
        lines.append(summary(candidate.name, blend.mean(axis=1), shipped.mean(axis=1), calls))
    print("\nThe meter (equal weights) leaving one part out, against the label:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
