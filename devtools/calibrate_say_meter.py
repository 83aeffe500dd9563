"""Put the English sales meter's overall score on the coach's scale, and measure what that does to its bands and to the
"losing the prospect" alert.

The correspondence between the coach's labels (tests/data/sales_corpus/RUBRIC.md) and the meter's bands was set before
any fit: labels 1 and 2 are red (under 50), 3 is yellow (50-79), 4 and 5 are green (from 80). The label scale is put
on 0-100 through ``LABEL_TO_METER``, so each band's edge falls half-way between the labels it separates.

The map: an isotonic regression of the label on the meter's raw overall score (the factors' weighted mean), one knot
at the middle of each of its steps, valued at that step's label put on 0-100, joined by straight lines and anchored at
0 and 100. It rises wherever the calls are (flat only below a first knot at 0), so it keeps the meter's order but for
the ties rounding makes.

The raw scores it is fitted on are out of fold: each call scored by the words' model fitted without its part
(``say_meter_text_models.leave_one_part_out``), since the service's model reads calls it was not fitted on, and its
own calls it reads with a spread no unseen call gets. Measured leaving one English part out, strictly nested: the held
part's calibration is fitted on the other four parts, each of them scored by words' models that read neither it nor
the held part; the held part is scored by the model fitted on the other four. The sixth blind part is read with the
service's model and the calibration fitted on all five parts. The alert is refitted (``fit_losing_prospect``) on the
meter calibrated without the first part, whose calls it replays, read both by the service's words' model and by one
fitted without that part.

The rule, set before any fit: the engine takes the map only if, leaving one part out, the share of calls in their
label's band rises and the alert's F1 does not fall. The share rose and the F1 fell, so the engine does not take it
(docs/say_meter.md).

    .venv/bin/python -m devtools.calibrate_say_meter  (about 2.5 minutes; its report is docs/say_meter_calibration.txt)
"""

from __future__ import annotations

import argparse
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

from analysis_svc.domain.conversation import ConversationMetrics, measure
from analysis_svc.domain.sales_words import SALES_WORDS, SalesWords
from analysis_svc.domain.say_meter import RUBRICS, Band, band_for, sales_factors, weigh
from calls.job_tracks import Blueprint
from devtools import fit_losing_prospect
from devtools.say_meter_corpus import DEVELOPMENT, HELD_OUT, RESAMPLES, held_out, load_calls, turns_of
from devtools.say_meter_text_models import ADOPTED, Calls, engine_fit, leave_one_part_out, load, spearman

LABEL_BANDS = {1: Band.RED, 2: Band.RED, 3: Band.YELLOW, 4: Band.GREEN, 5: Band.GREEN}
LABEL_TO_METER = ((1.0, 0.0), (2.5, 50.0), (3.5, 80.0), (5.0, 100.0))
BANDS = (Band.RED, Band.YELLOW, Band.GREEN)
DIGITS = 4
ALERT_PART = "sales_corpus"  # the directory of the calls the alert replays


@dataclass(frozen=True, slots=True)
class CoachScale:
    """Knots ``(raw score, score on the coach's scale)``, both rising, from (0, 0) to (100, 100), joined by straight
    lines."""

    knots: tuple[tuple[float, float], ...]

    def place(self, raw: float) -> float:
        xs = [x for x, _ in self.knots]
        right = min(max(bisect_right(xs, raw), 1), len(xs) - 1)
        (x0, y0), (x1, y1) = self.knots[right - 1], self.knots[right]
        return y0 + (y1 - y0) * (raw - x0) / (x1 - x0)


def raw_sales_overall(measures: ConversationMetrics, words: SalesWords = SALES_WORDS) -> float:
    """The meter's overall score of an English sales call, unrounded: the sales factors' weighted mean."""
    return weigh(sales_factors(measures, words), RUBRICS[Blueprint.SALES])


def on_meter(label: float) -> float:
    """A label (or a mean of labels) on the meter's 0-100 scale."""
    return float(np.interp(label, [at for at, _ in LABEL_TO_METER], [placed for _, placed in LABEL_TO_METER]))


def fit_scale(raw: np.ndarray, labels: np.ndarray) -> CoachScale:
    """The map through the middle of each step of the isotonic regression of the label on the raw score."""
    isotonic = IsotonicRegression(increasing=True).fit(raw, labels)
    steps: dict[float, list[float]] = {}
    for x, y in zip(isotonic.X_thresholds_, isotonic.y_thresholds_, strict=True):
        steps.setdefault(float(y), []).append(float(x))
    knots = [(round((min(xs) + max(xs)) / 2, DIGITS), round(on_meter(label), DIGITS)) for label, xs in steps.items()]
    return CoachScale(((0.0, 0.0), *knots, (100.0, 100.0)))


def subset(calls: Calls, keep: Sequence[int]) -> Calls:
    return Calls([calls.terms[i] for i in keep], [calls.positioned[i] for i in keep], calls.factors[keep],
                 calls.dimensions[keep], calls.labels[keep], [calls.parts[i] for i in keep], calls.messages[keep],
                 calls.seller_turns[keep])


def raw_out_of_fold(calls: Calls, keep: Sequence[int]) -> np.ndarray:
    """The raw overall score of each kept call, from the words' model fitted on the other kept parts."""
    _, blend, _ = leave_one_part_out(ADOPTED, subset(calls, keep))
    return np.asarray(blend.mean(axis=1))


def rounded(value: float) -> int:
    return math.floor(value + 0.5)


def in_their_band(scores: Sequence[float], labels: Sequence[int]) -> list[bool]:
    """Whether the meter puts each call in the band its label maps to."""
    return [band_for(rounded(score)) == LABEL_BANDS[label] for score, label in zip(scores, labels, strict=True)]


def in_band(scores: Sequence[float], labels: Sequence[int]) -> int:
    return sum(in_their_band(scores, labels))


def agreement_gain(raw: Sequence[float], mapped: Sequence[float], labels: Sequence[int], seed: int = 7) -> str:
    """The gain in the share of calls in their label's band, with a 95% bootstrap interval over calls (the same
    resampled calls read raw and mapped)."""
    hits = np.array([in_their_band(raw, labels), in_their_band(mapped, labels)], dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(labels), (RESAMPLES, len(labels)))
    gains = hits[1][picks].mean(axis=1) - hits[0][picks].mean(axis=1)
    low, high = np.quantile(gains, [0.025, 0.975])
    return f"  gain in the label's band: {hits[1].mean() - hits[0].mean():+.2f} ({low:+.2f} to {high:+.2f})"


def bands_report(name: str, scores: Sequence[float], labels: Sequence[int]) -> str:
    """Spearman, the share of calls in their label's band, the mean score by label, and label against band."""
    bands = [band_for(rounded(score)) for score in scores]
    agree = in_band(scores, labels)
    present = sorted(set(labels))
    lines = [f"  {name}: Spearman {spearman(np.array(scores), np.array(labels)):.3f}; in the label's band "
             f"{agree / len(labels):.2f} ({agree} of {len(labels)}); mean by label "
             + " / ".join(f"{np.mean([s for s, lab in zip(scores, labels, strict=True) if lab == label]):.0f}"
                          for label in present),
             "    label: " + ", ".join(BANDS) + " (its band)"]
    for label in present:
        counts = [sum(b == band and lab == label for b, lab in zip(bands, labels, strict=True)) for band in BANDS]
        lines.append(f"    {label}: " + " / ".join(map(str, counts)) + f" ({LABEL_BANDS[label]})")
    return "\n".join(lines)


def leave_one_part_out_report(calls: Calls, raw: np.ndarray) -> tuple[str, dict[str, CoachScale]]:
    """Band agreement leaving one part out, before and after, from each call's ``raw`` out-of-fold score, and each
    held part's calibration."""
    everything = list(range(len(calls.labels)))
    calibrated = np.zeros(len(raw))
    scales = {}
    for part in dict.fromkeys(calls.parts):
        others = [i for i in everything if calls.parts[i] != part]
        held = [i for i in everything if calls.parts[i] == part]
        scales[part] = fit_scale(raw_out_of_fold(calls, others), calls.labels[others])
        calibrated[held] = [scales[part].place(score) for score in raw[held]]
    labels = [int(label) for label in calls.labels]
    lines = [f"leave one part out: {len(labels)} calls in {len(scales)} parts",
             bands_report("raw (the meter today)", list(raw), labels),
             bands_report("calibrated", list(calibrated), labels),
             agreement_gain(list(raw), list(calibrated), labels)]
    for part, scale in scales.items():
        held = [i for i in everything if calls.parts[i] == part]
        lines.append(f"  {part} ({len(held)} calls), fitted on the others ({len(scale.knots)} knots): in the label's "
                     f"band {in_band(list(raw[held]), [labels[i] for i in held])} raw, "
                     f"{in_band(list(calibrated[held]), [labels[i] for i in held])} mapped")
    return "\n".join(lines), scales


def sixth_part_report(scale: CoachScale) -> str:
    """The sixth blind part, read by the service's words' model, raw and put on the scale fitted on all five parts."""
    calls = load_calls(held_out(6))
    raw = [raw_sales_overall(measure(turns_of(call))) for call in calls]
    labels = [int(call["label"]) for call in calls]
    mapped = [scale.place(score) for score in raw]
    return "\n".join([f"the sixth blind part ({held_out(6)}): {len(calls)} calls",
                      bands_report("raw (the meter today)", raw, labels),
                      bands_report("calibrated on all five parts", mapped, labels),
                      agreement_gain(raw, mapped, labels)])


def alert_report(calls: Calls, scale: CoachScale) -> str:
    """The alert refitted, as ``fit_losing_prospect`` reports it, on the meter raw and put on ``scale`` (fitted without
    the replayed calls' part): with the service's words' model, which was fitted on the replayed calls, and with one
    fitted without their part, as leaving that part out reads them."""
    without = SalesWords.of(engine_fit(subset(calls, [i for i, part in enumerate(calls.parts) if part != ALERT_PART])))
    lines = []
    for words_name, words in (("the service's words", SALES_WORDS), (f"words fitted without {ALERT_PART}", without)):
        for scale_name, place in (("raw", float), (f"calibrated without {ALERT_PART}", scale.place)):
            def meter(measures: ConversationMetrics, words: SalesWords = words,
                      place: Callable[[float], float] = place) -> int:
                return rounded(place(raw_sales_overall(measures, words)))

            lines.append(f"the alert on the meter of {words_name}, {scale_name}:")
            lines += [fit_losing_prospect.report(part, meter) for part in (DEVELOPMENT, HELD_OUT)]
    return "\n".join(lines)


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    calls, _ = load()
    raw = raw_out_of_fold(calls, list(range(len(calls.labels))))
    on_all = fit_scale(raw, calls.labels)
    text, scales = leave_one_part_out_report(calls, raw)
    print(text)
    print(f"fitted on all five parts: knots {on_all.knots}")
    print(sixth_part_report(on_all))
    print(alert_report(calls, scales[ALERT_PART]))


if __name__ == "__main__":
    main()
