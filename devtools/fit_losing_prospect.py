"""Fit the "losing the prospect" alert (analysis_svc/domain/trend.py) on the labelled sales corpus
(tests/data/sales_corpus), and say how well it predicts drops in calls it was not fitted on.

Each call is replayed as a session read at every message from the 4th: the corpus's calls are short (4 to 31
messages in the development part), and at the service's default interval of 10 they have one to three live readings
each, too few for a trend. At each reading, the Say Meter of the call so far, its trend over the earlier readings and
the signals since the previous reading are computed as the service computes them. A reading is labelled a drop when a
later reading of the same call scores under 50 and at least ``DROP`` points below it; a call's last reading has no
later one and is not counted.

The predictor's parameters (how far the trend is projected, the points a buyer's no and a seller's push take off)
are fitted by searching every combination of a grid for the one with the best F1 over the training readings (the
simplest on a tie: the smallest parameters). Folds are calls, never readings, since the readings of one call are not
independent: leave-one-call-out on the development part is the out-of-sample figure; the held-out part is scored
once, with the parameters fitted on the whole development part; the in-sample figure only shows how much is fitting.
A rule that is not fitted (alert whenever the trend is falling) is shown for comparison.

    .venv/bin/python -m devtools.fit_losing_prospect [--part development|held_out]

``make fit-losing-prospect`` writes both parts' reports to docs/losing_prospect_fit.txt.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analysis_svc.domain.conversation import ConversationMetrics, measure
from analysis_svc.domain.say_meter import YELLOW_FROM, score
from analysis_svc.domain.trend import (
    DROP,
    LOSING_PROSPECT,
    MAX_TREND_READINGS,
    Direction,
    Predictor,
    ScoreAt,
    Signals,
    Trend,
    predicts_drop,
    projected,
    signals_since,
    trend_of,
)
from calls.job_tracks import Blueprint
from calls.turns import Turn
from devtools.say_meter_corpus import DEVELOPMENT, HELD_OUT, load_calls, part_argument, turns_of
from devtools.suggestion_corpus import reading_points
from transcript_svc.config import TranscriptSettings

FIRST_READING = 4
EVERY_MESSAGE = 1
SERVICE_INTERVAL = TranscriptSettings.model_fields["analysis_interval"].default
GRID = [Predictor(*values) for values in itertools.product((0, 5, 10, 15, 20, 30, 40),  # horizon, messages
                                                           (0, 5, 10, 15, 20, 30),  # points a buyer's no
                                                           (0, 5, 10, 15, 20, 30))]  # points a push


Meter = Callable[[ConversationMetrics], int]  # a call's score from its measures


def service_meter(measures: ConversationMetrics) -> int:
    return score(measures, Blueprint.SALES).score


@dataclass(frozen=True, slots=True)
class Reading:
    """One replayed reading: what the predictor sees, and whether the call dropped after it."""

    call: str
    score: int
    trend: Trend
    signals: Signals
    drop: bool


@dataclass(frozen=True, slots=True)
class Figures:
    readings: int
    drops: int
    alerts: int
    hits: int

    @property
    def precision(self) -> float:
        return self.hits / self.alerts if self.alerts else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.drops if self.drops else 0.0

    @property
    def f1(self) -> float:
        both = self.precision + self.recall
        return 2 * self.precision * self.recall / both if both else 0.0

    def __str__(self) -> str:
        return (f"precision {self.precision:.2f} ({self.hits} of {self.alerts} alerts), recall {self.recall:.2f} "
                f"({self.hits} of {self.drops} drops), F1 {self.f1:.2f}")


def replay(call_id: str, turns: Sequence[Turn], interval: int = EVERY_MESSAGE,
           meter: Meter = service_meter) -> list[Reading]:
    """The readings of one call, each labelled by whether a later one fell under 50 and ``DROP`` points below it:
    at every message from the 4th, or where a session of ``interval`` is read (its triggers and its end); scored by
    the service's meter unless another ``meter`` is given."""
    scores: list[ScoreAt] = []
    seen: list[tuple[Trend, Signals]] = []
    previous: ConversationMetrics | None = None
    points = (range(min(FIRST_READING, len(turns)), len(turns) + 1) if interval == EVERY_MESSAGE
              else reading_points(len(turns), interval))
    for up_to in points:
        measures = measure(turns[:up_to])
        current = ScoreAt(up_to, meter(measures))
        seen.append((trend_of(scores[-MAX_TREND_READINGS:], current), signals_since(previous, measures)))
        scores.append(current)
        previous = measures
    return [Reading(call_id, point.score, trend, signals,
                    any(later.score < YELLOW_FROM and later.score <= point.score - DROP for later in scores[i + 1:]))
            for i, (point, (trend, signals)) in enumerate(zip(scores[:-1], seen[:-1], strict=True))]


def replay_calls(calls: Sequence[dict], interval: int = EVERY_MESSAGE, meter: Meter = service_meter) -> list[Reading]:
    return [reading for call in calls for reading in replay(call["id"], turns_of(call), interval, meter)]


def alerts(readings: Sequence[Reading], predictor: Predictor) -> list[bool]:
    return [predicts_drop(r.score, projected(r.score, r.trend, r.signals, predictor)) for r in readings]


def figures(readings: Sequence[Reading], alerted: Sequence[bool]) -> Figures:
    return Figures(len(readings), sum(r.drop for r in readings), sum(alerted),
                   sum(a and r.drop for r, a in zip(readings, alerted, strict=True)))


def fit(readings: Sequence[Reading], grid: Sequence[Predictor] = GRID) -> Predictor:
    """The predictor of the grid with the best F1 on ``readings``; the smallest parameters on a tie."""
    return max(grid, key=lambda p: (figures(readings, alerts(readings, p)).f1,
                                    -(p.horizon_messages + p.refusal_points + p.pressure_points),
                                    -p.horizon_messages, -p.refusal_points))


def leave_one_call_out(readings: Sequence[Reading], grid: Sequence[Predictor] = GRID,
                       scored: Sequence[Reading] | None = None) -> tuple[list[bool], list[Predictor]]:
    """Each call's alerts under the predictor fitted on all the other calls' ``readings``, and those predictors;
    the alerts are of the ``scored`` readings (the same ones unless given: the same calls replayed otherwise)."""
    scored = readings if scored is None else scored
    alerted: list[bool] = []
    fitted = []
    for call in dict.fromkeys(r.call for r in scored):
        predictor = fit([r for r in readings if r.call != call], grid)
        alerted += alerts([r for r in scored if r.call == call], predictor)
        fitted.append(predictor)
    return alerted, fitted


def _falling(readings: Sequence[Reading]) -> list[bool]:
    return [r.trend.direction == Direction.FALLING for r in readings]


def _named(predictor: Predictor) -> str:
    return (f"horizon {predictor.horizon_messages} messages, {predictor.refusal_points} points a buyer's no, "
            f"{predictor.pressure_points} points a push")


def _counts(name: str, readings: Sequence[Reading]) -> str:
    return (f"{name}: {len({r.call for r in readings})} calls, {len(readings)} readings, "
            f"{sum(r.drop for r in readings)} drops in {len({r.call for r in readings if r.drop})} calls")


def report(part: str, meter: Meter = service_meter) -> str:
    development = replay_calls(load_calls(DEVELOPMENT), meter=meter)
    lines = [f"grid: {len(GRID)} predictors; a drop: a later reading under {YELLOW_FROM} and {DROP}+ points lower"]
    fitted_on_development = fit(development)
    if part == HELD_OUT:
        for interval in (EVERY_MESSAGE, SERVICE_INTERVAL):
            held_out = replay_calls(load_calls(HELD_OUT), interval, meter)
            read = ("at every message" if interval == EVERY_MESSAGE
                    else f"every {interval} messages, as the service does")
            lines += [_counts(f"held out, read {read}", held_out),
                      f"  fitted on the development part: {figures(held_out, alerts(held_out, fitted_on_development))}",
                      f"  not fitted, alert when the trend is falling: {figures(held_out, _falling(held_out))}"]
        return "\n".join(lines)
    out_of_sample, folds = leave_one_call_out(development)
    at_service_interval = replay_calls(load_calls(DEVELOPMENT), SERVICE_INTERVAL, meter)
    lines += [_counts("development, read at every message", development),
              f"  out of sample (leave one call out): {figures(development, out_of_sample)}",
              f"    predictors across the {len(folds)} folds: {len(set(folds))} distinct; "
              + "; ".join(f"{_named(p)} ({folds.count(p)})" for p in sorted(set(folds), key=folds.count,
                                                                             reverse=True)),
              f"  in sample (fitted on every call): {figures(development, alerts(development, fitted_on_development))}",
              f"    fitted: {_named(fitted_on_development)}",
              f"  not fitted, alert when the trend is falling: {figures(development, _falling(development))}",
              _counts(f"development, read as the service reads a session (every {SERVICE_INTERVAL} messages)",
                      at_service_interval),
              "  out of sample (fitted at every message, leaving the call out): "
              f"{figures(at_service_interval, leave_one_call_out(development, scored=at_service_interval)[0])}",
              "  in sample: "
              f"{figures(at_service_interval, alerts(at_service_interval, fitted_on_development))}",
              f"  not fitted, alert when the trend is falling: "
              f"{figures(at_service_interval, _falling(at_service_interval))}",
              f"the service's predictor: {_named(LOSING_PROSPECT)}"]
    return "\n".join(lines)


def main() -> None:
    print(report(part_argument(__doc__ or "")))


if __name__ == "__main__":
    main()
