"""The Say Meter's trend over a call, and the "losing the prospect" alert.

The trend is the least-squares slope of the live readings' scores against the message they were taken at, over the
readings of the last ``TREND_MESSAGES`` messages, in points per 10 messages: rising from ``DIRECTION_THRESHOLD``,
falling from minus that, steady between. A single reading has no trend.

The alert predicts a drop: it projects the score some messages ahead along the trend, less points for each
sign of trouble since the previous reading (the buyer saying no, the seller pushing or arguing), and is on when that
projection is under 50 and at least ``DROP`` points below the score. It is raised once per episode of decline: the
readings after the one that raised it keep it on without raising it again, and the first reading that predicts no
drop with a trend that is no longer falling clears it. The parameters (``LOSING_PROSPECT``) are fitted on the
development part of the sales corpus by ``devtools.fit_losing_prospect`` (docs/say_meter.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from analysis_svc.domain import interviewer_texts
from analysis_svc.domain.conversation import ConversationMetrics, measure
from analysis_svc.domain.interviewer_texts import InterviewerTexts
from analysis_svc.domain.say_meter import YELLOW_FROM

# The readings of the last this many messages make the trend (at the default interval of 10: the last three).
TREND_MESSAGES = 20
# At most this many readings before the current one are read for the trend (a session analysed at every message).
MAX_TREND_READINGS = 20
# Points per 10 messages from which the trend is rising or falling; the meter's own rounding and a single
# message's weight move it by less.
DIRECTION_THRESHOLD = 5.0
# A drop is at least this many points below the score: smaller moves are the meter's rounding.
DROP = 5


class Direction(StrEnum):
    NONE = ""  # a single reading: no trend yet
    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"


class AlertChange(StrEnum):
    NONE = ""
    RAISED = "raised"
    CLEARED = "cleared"


class ScoreAt(NamedTuple):
    """A live reading's score and the message it was taken at."""

    sequence: int
    score: int


@dataclass(frozen=True, slots=True)
class Trend:
    slope: float  # points per 10 messages
    direction: Direction
    readings: int  # the readings the slope was drawn from, the current one included


NO_TREND = Trend(0.0, Direction.NONE, 1)


@dataclass(frozen=True, slots=True)
class Signals:
    """Signs of trouble in the messages since the previous reading."""

    refusals: int = 0  # the buyer said no
    pressure: int = 0  # the seller pushed for a yes, pressed on after a no, or argued


@dataclass(frozen=True, slots=True)
class Predictor:
    horizon_messages: int  # how far ahead the trend is projected
    refusal_points: int  # taken off the projection for each buyer no since the previous reading
    pressure_points: int  # and for each push or argument


# Fitted by devtools.fit_losing_prospect on the development part of the sales corpus (refitted whenever the sales
# meter moves, last when its words' model was refitted on eighteen English parts: docs/say_meter.md).
LOSING_PROSPECT = Predictor(horizon_messages=20, refusal_points=5, pressure_points=5)


@dataclass(frozen=True, slots=True)
class ProspectAlert:
    active: bool  # the alert is on at this reading
    change: AlertChange  # raised or cleared by this reading
    projected_score: int
    reason: str = ""


NO_ALERT = ProspectAlert(False, AlertChange.NONE, 0)
_NOTHING_SAID = measure(())


def trend_of(earlier: Sequence[ScoreAt], current: ScoreAt) -> Trend:
    """The trend at ``current`` from the ``earlier`` live readings (any order) of the last ``TREND_MESSAGES``
    messages; those before are left out."""
    points = [point for point in earlier if current.sequence - TREND_MESSAGES <= point.sequence <= current.sequence]
    points.append(current)
    sequences = {point.sequence for point in points}
    if len(sequences) < 2:
        return NO_TREND
    mean_x = sum(point.sequence for point in points) / len(points)
    mean_y = sum(point.score for point in points) / len(points)
    spread = sum((point.sequence - mean_x) ** 2 for point in points)
    slope = 10 * sum((point.sequence - mean_x) * (point.score - mean_y) for point in points) / spread
    if slope >= DIRECTION_THRESHOLD:
        direction = Direction.RISING
    elif slope <= -DIRECTION_THRESHOLD:
        direction = Direction.FALLING
    else:
        direction = Direction.STEADY
    return Trend(round(slope, 1), direction, len(points))


def signals_since(previous: ConversationMetrics | None, now: ConversationMetrics) -> Signals:
    """What the call's measures gained since the previous reading's (the whole call's at its start)."""
    before = previous or _NOTHING_SAID
    return Signals(refusals=max(0, now.refusals - before.refusals),
                   pressure=max(0, now.pushes + now.pushes_after_decline + now.dismissals
                                - before.pushes - before.pushes_after_decline - before.dismissals))


def projected(score: int, trend: Trend, signals: Signals, predictor: Predictor = LOSING_PROSPECT) -> int:
    """The score the call is heading for: the trend carried ``horizon_messages`` ahead, less the signals' points."""
    ahead = score + trend.slope * predictor.horizon_messages / 10
    ahead -= predictor.refusal_points * signals.refusals + predictor.pressure_points * signals.pressure
    return max(0, min(100, math.floor(ahead + 0.5)))


def predicts_drop(score: int, projection: int) -> bool:
    """A fall under 50 that is a drop from where the score stands, not the meter staying where it is."""
    return projection < YELLOW_FROM and projection <= score - DROP


def alert_at(score: int, trend: Trend, signals: Signals, was_active: bool, predictor: Predictor = LOSING_PROSPECT,
             texts: InterviewerTexts = interviewer_texts.ENGLISH) -> ProspectAlert:
    """The alert at a live reading, given whether it was on at the previous one; its reason written in ``texts``."""
    projection = projected(score, trend, signals, predictor)
    if predicts_drop(score, projection):
        change = AlertChange.NONE if was_active else AlertChange.RAISED
        return ProspectAlert(True, change, projection, _reason(score, trend, signals, projection, predictor, texts))
    if was_active and trend.direction == Direction.FALLING:
        return ProspectAlert(True, AlertChange.NONE, projection,
                             _reason(score, trend, signals, projection, predictor, texts))
    return ProspectAlert(False, AlertChange.CLEARED if was_active else AlertChange.NONE, projection)


def _reason(score: int, trend: Trend, signals: Signals, projection: int, predictor: Predictor,
            texts: InterviewerTexts) -> str:
    """What the projection was drawn from: the causes that took points off."""
    said = texts.templates
    causes = []
    if trend.slope < 0 and predictor.horizon_messages:
        causes.append(said["alert_falling"].format(slope=f"{-trend.slope:g}"))
    if signals.refusals and predictor.refusal_points:
        causes.append(said["alert_refusals"].format(times=_times(signals.refusals, texts)))
    if signals.pressure and predictor.pressure_points:
        causes.append(said["alert_pressure"].format(times=_times(signals.pressure, texts)))
    why = ", ".join(causes) or said["alert_losing_ground"]
    return said["alert"].format(score=score, projection=projection, why=why)


def _times(count: int, texts: InterviewerTexts) -> str:
    return texts.templates["once" if count == 1 else "twice" if count == 2 else "times"].format(count=count)
