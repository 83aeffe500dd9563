"""The Say Meter's trend over a call and the "losing the prospect" alert (analysis_svc/domain/trend.py), and the fit
of the alert's predictor (devtools/fit_losing_prospect.py)."""

from __future__ import annotations

import pytest

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.trend import (
    LOSING_PROSPECT,
    NO_TREND,
    AlertChange,
    Direction,
    Predictor,
    ScoreAt,
    Signals,
    Trend,
    alert_at,
    signals_since,
    trend_of,
)
from calls.turns import Role, Turn
from devtools.fit_losing_prospect import Reading, fit, leave_one_call_out, replay, replay_calls
from devtools.say_meter_corpus import DEVELOPMENT, load_calls, turns_of

STEADY = Trend(0.0, Direction.STEADY, 3)
QUIET = Signals()


def test_a_single_reading_has_no_trend():
    assert trend_of((), ScoreAt(4, 40)) == NO_TREND


@pytest.mark.parametrize(("scores", "slope", "direction"), [
    ([(10, 40), (20, 60)], 20.0, Direction.RISING),
    ([(10, 60), (20, 56)], -4.0, Direction.STEADY),
    ([(10, 60), (20, 55)], -5.0, Direction.FALLING),
    ([(4, 30), (10, 50), (20, 40)], 4.6, Direction.STEADY),
])
def test_the_trend_is_the_slope_in_points_per_10_messages_with_a_direction_from_5(scores, slope, direction):
    *earlier, current = (ScoreAt(*point) for point in scores)

    trend = trend_of(earlier, current)

    assert (trend.slope, trend.direction, trend.readings) == (slope, direction, len(scores))


def test_readings_older_than_20_messages_are_left_out_of_the_trend():
    trend = trend_of([ScoreAt(30, 90), ScoreAt(10, 10), ScoreAt(40, 60)], ScoreAt(50, 40))

    assert (trend.slope, trend.readings) == (-25.0, 3)


def test_the_signals_are_what_the_buyer_and_the_seller_said_since_the_previous_reading():
    opening = [Turn(1, Role.USER, "Can I take that as a yes, then?"), Turn(2, Role.ASSISTANT, "No, not interested.")]
    later = [*opening, Turn(3, Role.USER, "Come on, can I take that as a yes?"),
             Turn(4, Role.ASSISTANT, "No. I said no thanks, we're not interested.")]
    before, now = measure(opening), measure(later)

    assert signals_since(before, now) == Signals(refusals=now.refusals - before.refusals,
                                                 pressure=now.pushes + now.pushes_after_decline
                                                 - before.pushes - before.pushes_after_decline)
    assert signals_since(before, now).refusals >= 1 and signals_since(before, now).pressure >= 1
    assert signals_since(None, now) == Signals(now.refusals, now.pushes + now.pushes_after_decline + now.dismissals)


def test_a_falling_trend_raises_the_alert_once_and_a_recovery_clears_it():
    predictor = Predictor(horizon_messages=20, refusal_points=0, pressure_points=0)
    falling = Trend(-10.0, Direction.FALLING, 3)

    raised = alert_at(60, falling, QUIET, was_active=False, predictor=predictor)
    still = alert_at(52, falling, QUIET, was_active=True, predictor=predictor)
    cleared = alert_at(58, Trend(3.0, Direction.STEADY, 3), QUIET, was_active=True, predictor=predictor)

    assert (raised.active, raised.change, raised.projected_score) == (True, AlertChange.RAISED, 40)
    assert "falling 10 points per 10 messages" in raised.reason
    assert (still.active, still.change) == (True, AlertChange.NONE)
    assert (cleared.active, cleared.change, cleared.reason) == (False, AlertChange.CLEARED, "")


def test_the_alert_stays_on_while_the_trend_still_falls_though_no_drop_is_predicted():
    predictor = Predictor(horizon_messages=0, refusal_points=0, pressure_points=0)

    alert = alert_at(30, Trend(-8.0, Direction.FALLING, 3), QUIET, was_active=True, predictor=predictor)

    assert (alert.active, alert.change) == (True, AlertChange.NONE)


def test_the_buyers_noes_since_the_previous_reading_can_raise_it_on_a_steady_meter():
    predictor = Predictor(horizon_messages=0, refusal_points=15, pressure_points=0)

    alert = alert_at(60, STEADY, Signals(refusals=1), was_active=False, predictor=predictor)

    assert (alert.active, alert.change, alert.projected_score) == (True, AlertChange.RAISED, 45)
    assert "the buyer said no once" in alert.reason


@pytest.mark.parametrize(("score", "trend"), [(20, STEADY), (20, Trend(-1.0, Direction.STEADY, 3)),
                                              (70, Trend(-5.0, Direction.FALLING, 2))])
def test_no_alert_without_a_drop_under_50(score, trend):
    """A meter that stays low is red already, not falling; one falling slowly from high stays above 50."""
    assert not alert_at(score, trend, QUIET, was_active=False).active


def _reading(call: str, score: int, slope: float, drop: bool) -> Reading:
    direction = Direction.FALLING if slope <= -5 else Direction.STEADY
    return Reading(call, score, Trend(slope, direction, 2), QUIET, drop)


def test_the_fit_finds_a_horizon_that_separates_the_drops_and_keeps_it_out_of_sample():
    readings = [_reading(f"falls-{n}", 60, -10.0, True) for n in range(4)]
    readings += [_reading(f"holds-{n}", 60, -1.0, False) for n in range(4)]
    grid = [Predictor(horizon, 0, 0) for horizon in (0, 10, 20, 30)]

    alerted, fitted = leave_one_call_out(readings, grid)

    assert alerted == [r.drop for r in readings]
    assert set(fitted) == {Predictor(20, 0, 0)}  # the shortest horizon that reaches under 50


def test_a_replayed_call_is_labelled_by_whether_a_later_reading_drops_under_50():
    call = next(call for call in load_calls(DEVELOPMENT) if len(call["turns"]) >= 20)

    readings = replay(call["id"], turns_of(call))

    assert len(readings) == len(call["turns"]) - 4  # a reading at every message from the 4th, less the last
    scores = [r.score for r in readings]
    # The last one is labelled by the call's last reading, which is not among them.
    assert [r.drop for r in readings[:-1]] == [any(later < 50 and later <= r.score - 5 for later in scores[i + 1:])
                                               for i, r in enumerate(readings[:-1])]


def test_the_services_predictor_is_the_fit_on_the_development_part():
    assert fit(replay_calls(load_calls(DEVELOPMENT))) == LOSING_PROSPECT
