"""Experiment rules: assignment, running statistics, the sequential and fixed-horizon tests, the decision, validation.

The statistical tests simulate experiments outcome by outcome with a seeded random.Random, evaluating after every
outcome as the service does, so the error rates they check are those of an operator watching the results live.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics

import pytest
from google.protobuf import json_format
from sparring.learning.v1 import learning_service_pb2 as pb

from learning_svc.domain.experiments import (
    HORIZON_STOP_REASON,
    METRIC_SCALES,
    ExperimentMetric,
    ExperimentSettings,
    ExperimentState,
    RunningStats,
    TestMethod,
    Variant,
    VariantStatus,
    bucket,
    choose_variant,
    counts_outcome,
    current_shares,
    evaluate,
    msprt,
    traffic_for_state,
    traffic_total_violation,
    validate_experiment,
    variant_for_new_session,
)

SAY = ExperimentMetric.SAY_METER_SCORE
SEQUENTIAL = ExperimentSettings(SAY)  # confidence 0.95, min_samples 20, no horizon


def arms(*shares: int) -> tuple[Variant, ...]:
    """The first is the control "control", the others "v1", "v2", ..."""
    return tuple(
        Variant("control" if i == 0 else f"v{i}", f"personas/p{i}", share, i == 0) for i, share in enumerate(shares)
    )


def stats_of(values) -> RunningStats:
    stats = RunningStats()
    for value in values:
        stats = stats.add(value)
    return stats


def summary(count: int, mean: float, stddev: float) -> RunningStats:
    """Statistics with exactly this count, mean and sample stddev."""
    return RunningStats(count, mean, stddev * stddev * (count - 1))


def result(evaluation, variant_id):
    return next(r for r in evaluation.results if r.variant_id == variant_id)


def say_meter(rng: random.Random, mean: float, sd: float) -> int:
    # Final Say Meter scores are integers from 0 to 100.
    return min(100, max(0, round(rng.gauss(mean, sd))))


def simulate(rng: random.Random, variants, means: dict[str, float], sd: float, settings, max_outcomes: int):
    """Runs one experiment as the service would: assign, record, evaluate after every outcome.

    Returns the last evaluation and the largest |z| of the classic fixed-sample test of v1 over all the
    evaluations on the way (what peeking with a classic test would have looked at).
    """
    stats = {v.variant_id: RunningStats() for v in variants}
    p_values: dict[str, float] = {}
    stopped: frozenset[str] = frozenset()
    naive_max_z = 0.0
    evaluation = None
    for _ in range(max_outcomes):
        variant_id = choose_variant(variants, stopped, rng.randrange(10_000))
        if counts_outcome(settings, stats[variant_id]):
            stats[variant_id] = stats[variant_id].add(say_meter(rng, means[variant_id], sd))
        evaluation = evaluate(settings, variants, stats, p_values, stopped)
        p_values = {r.variant_id: r.p_value for r in evaluation.results}
        stopped = evaluation.stopped_variants
        v1, control = stats["v1"], stats["control"]
        if v1.count >= 20 and control.count >= 20:
            # |z| of the classic test, |effect| / sqrt(V); 1.96 is its two-sided 5% line.
            se = math.sqrt(v1.variance / v1.count + control.variance / control.count)
            naive_max_z = max(naive_max_z, abs(v1.mean - control.mean) / se)
        if evaluation.state is not ExperimentState.RUNNING:
            break
    return evaluation, naive_max_z


# --- assignment ---------------------------------------------------------------------------------------------


def test_bucket_is_a_stable_sha256_of_both_ids():
    # Golden values: a change here would move every running experiment's sessions to other variants.
    assert bucket("exp-1", "session-1") == 3595
    assert (bucket("ab", "c"), bucket("a", "bc")) == (5165, 7297)
    assert all(0 <= bucket("exp-1", f"s{i}") < 10_000 for i in range(2000))


def test_buckets_of_two_experiments_are_independent():
    same = sum(bucket("exp-a", f"s{i}") < 5000 for i in range(4000) if bucket("exp-b", f"s{i}") < 5000)
    both_first_half = sum(bucket("exp-b", f"s{i}") < 5000 for i in range(4000))
    # Independent halves: about half of exp-b's first half is also in exp-a's first half.
    assert abs(same / both_first_half - 0.5) < 0.04


def test_assignment_follows_the_traffic_shares():
    variants = arms(7000, 3000)
    counts = {"control": 0, "v1": 0}
    for i in range(20_000):
        counts[choose_variant(variants, set(), bucket("exp-split", f"session-{i}"))] += 1
    # Binomial sd is 65 sessions; 200 is about 3 sd.
    assert abs(counts["control"] - 14_000) <= 200
    assert counts["control"] + counts["v1"] == 20_000


def test_assignment_respects_the_order_of_the_variants():
    variants = arms(7000, 3000)
    assert choose_variant(variants, set(), 0) == "control"
    assert choose_variant(variants, set(), 6999) == "control"
    assert choose_variant(variants, set(), 7000) == "v1"
    assert choose_variant(variants, set(), 9999) == "v1"
    with pytest.raises(ValueError):
        choose_variant(variants, set(), 10_000)


def test_same_session_same_variant():
    variants = arms(3400, 3300, 3300)
    for i in range(200):
        first = choose_variant(variants, set(), bucket("exp-x", f"session-{i}"))
        assert all(choose_variant(variants, set(), bucket("exp-x", f"session-{i}")) == first for _ in range(3))


def test_stopped_variant_sessions_go_to_the_control_and_no_one_else_moves():
    variants = arms(5000, 3000, 2000)
    moved = 0
    for i in range(5000):
        b = bucket("exp-stop", f"session-{i}")
        before = choose_variant(variants, set(), b)
        after = choose_variant(variants, {"v1"}, b)
        if before == "v1":
            assert after == "control"
            moved += 1
        else:
            assert after == before
    assert 1300 < moved < 1700  # v1 had 30%
    assert current_shares(variants, {"v1"}) == {"control": 8000, "v1": 0, "v2": 2000}
    assert current_shares(variants, {"v1", "v2"}) == {"control": 10_000, "v1": 0, "v2": 0}
    assert current_shares(variants, set()) == {"control": 5000, "v1": 3000, "v2": 2000}


def test_new_sessions_get_the_winner_once_promoted_and_the_control_once_stopped():
    variants = arms(5000, 5000)
    for b in (0, 4999, 5000, 9999):
        assert variant_for_new_session(variants, set(), ExperimentState.PROMOTED, "v1", b) == "v1"
        assert variant_for_new_session(variants, set(), ExperimentState.STOPPED, "", b) == "control"
    assert variant_for_new_session(variants, set(), ExperimentState.RUNNING, "", 9999) == "v1"
    assert traffic_for_state(variants, set(), ExperimentState.STOPPED) == {"control": 10_000, "v1": 0}
    assert traffic_for_state(variants, set(), ExperimentState.PROMOTED, "v1") == {"control": 0, "v1": 10_000}


# --- running statistics -------------------------------------------------------------------------------------


def test_welford_matches_statistics_on_random_data():
    rng = random.Random(7)
    for offset in (0.0, 70.0, 1e6):  # a large offset is where sums of squares lose the variance
        values = [offset + rng.gauss(0, 3) for _ in range(500)]
        stats = stats_of(values)
        assert stats.count == 500
        assert stats.mean == pytest.approx(statistics.mean(values), rel=1e-12)
        assert stats.stddev == pytest.approx(statistics.stdev(values), rel=1e-7)
        # Stored as three numbers and resumed: the same as one pass.
        resumed = RunningStats(*dataclasses.astuple(stats_of(values[:250])))
        for value in values[250:]:
            resumed = resumed.add(value)
        assert resumed == stats


def test_running_stats_of_fewer_than_two_outcomes_have_no_spread():
    assert RunningStats().stddev == 0.0
    assert stats_of([42]).stddev == 0.0
    assert stats_of([42]).mean == 42


# --- the sequential test ------------------------------------------------------------------------------------


def test_msprt_p_value_and_confidence_sequence_agree():
    # The confidence sequence is exactly the set of effects the test does not reject.
    rng = random.Random(3)
    tau2, alpha = 25.0, 0.05
    for _ in range(300):
        n_t, n_c = rng.randint(5, 400), rng.randint(5, 400)
        variant = summary(n_t, 60 + rng.gauss(0, 4), rng.uniform(5, 25))
        control = summary(n_c, 60.0, rng.uniform(5, 25))
        comparison = msprt(variant, control, tau2, alpha, previous_p=1.0)
        v = variant.variance / n_t + control.variance / n_c
        log_ratio = 0.5 * math.log(v / (v + tau2)) + tau2 * comparison.effect**2 / (2 * v * (v + tau2))
        assert comparison.p_value == pytest.approx(min(1.0, math.exp(-log_ratio)))
        excludes_zero = comparison.effect_lower > 0 or comparison.effect_upper < 0
        assert (comparison.p_value <= alpha) == excludes_zero


def test_msprt_p_value_is_a_running_minimum():
    no_difference = msprt(summary(100, 60, 15), summary(100, 60, 15), 25.0, 0.05, previous_p=1.0)
    assert no_difference.p_value == 1.0
    assert msprt(summary(100, 60, 15), summary(100, 60, 15), 25.0, 0.05, previous_p=0.2).p_value == 0.2
    clear = msprt(summary(100, 70, 15), summary(100, 60, 15), 25.0, 0.05, previous_p=0.2)
    assert clear.p_value < 0.001


def test_a_stored_p_value_keeps_a_variant_significant():
    # The always-valid p-value is the minimum over time: once it crossed alpha it stays crossed.
    variants = arms(5000, 5000)
    stats = {"control": summary(100, 60, 15), "v1": summary(100, 61, 15)}
    assert evaluate(SEQUENTIAL, variants, stats, {}, set()).state is ExperimentState.RUNNING
    evaluation = evaluate(SEQUENTIAL, variants, stats, {"v1": 0.01}, set())
    assert result(evaluation, "v1").p_value == 0.01
    assert evaluation.state is ExperimentState.PROMOTED


def test_no_decision_before_min_samples():
    variants = arms(5000, 5000)
    huge = {"control": summary(19, 40, 5), "v1": summary(19, 90, 5)}
    evaluation = evaluate(SEQUENTIAL, variants, huge, {}, set())
    assert evaluation.state is ExperimentState.RUNNING
    assert result(evaluation, "v1").status is VariantStatus.COLLECTING
    assert result(evaluation, "v1").p_value == 1.0  # the running minimum has not started
    assert result(evaluation, "v1").effect == pytest.approx(50)
    # The control below min_samples also holds the decision back.
    held = evaluate(SEQUENTIAL, variants, {"control": summary(19, 40, 5), "v1": summary(80, 90, 5)}, {}, set())
    assert held.state is ExperimentState.RUNNING
    assert result(held, "v1").status is VariantStatus.COLLECTING
    # A p-value stored while collecting (it should not be) cannot decide either.
    assert evaluate(SEQUENTIAL, variants, huge, {"v1": 1e-9}, set()).state is ExperimentState.RUNNING

    decided = evaluate(SEQUENTIAL, variants, {"control": summary(20, 40, 5), "v1": summary(20, 90, 5)}, {}, set())
    assert decided.state is ExperimentState.PROMOTED
    assert decided.winner_variant == "v1"
    assert result(decided, "v1").status is VariantStatus.PROMOTED
    assert result(decided, "control").status is VariantStatus.CONTROL

    explicit = ExperimentSettings(SAY, min_samples=50)
    assert evaluate(explicit, variants, {"control": summary(49, 40, 5), "v1": summary(60, 90, 5)}, {}, set()).state == (
        ExperimentState.RUNNING
    )


def test_the_sequential_test_waits_for_ten_outcomes_per_arm_whatever_min_samples():
    # Variances from fewer outcomes are too rough for the always-valid guarantee.
    variants = arms(5000, 5000)
    settings = ExperimentSettings(SAY, min_samples=1)
    early = evaluate(settings, variants, {"control": summary(9, 40, 5), "v1": summary(9, 90, 5)}, {}, set())
    assert early.state is ExperimentState.RUNNING
    assert result(early, "v1").status is VariantStatus.WINNING  # past min_samples: not collecting any more
    assert result(early, "v1").p_value == 1.0
    ten = evaluate(settings, variants, {"control": summary(10, 40, 5), "v1": summary(10, 90, 5)}, {}, set())
    assert ten.state is ExperimentState.PROMOTED


def test_statuses_while_running():
    variants = arms(4000, 2000, 2000, 2000)
    stats = {
        "control": summary(60, 60, 15),
        "v1": summary(60, 62, 15),
        "v2": summary(60, 58, 15),
        "v3": summary(5, 80, 15),
    }
    evaluation = evaluate(SEQUENTIAL, variants, stats, {}, set())
    assert evaluation.state is ExperimentState.RUNNING
    assert [r.status for r in evaluation.results] == [
        VariantStatus.CONTROL,
        VariantStatus.WINNING,
        VariantStatus.LOSING,
        VariantStatus.COLLECTING,
    ]
    assert [r.current_traffic_bps for r in evaluation.results] == [4000, 2000, 2000, 2000]
    control = result(evaluation, "control")
    assert (control.effect, control.effect_lower, control.effect_upper, control.p_value) == (0.0, 0.0, 0.0, 1.0)
    v1 = result(evaluation, "v1")
    assert v1.effect == pytest.approx(2.0)
    assert v1.effect_lower < v1.effect < v1.effect_upper
    assert (v1.samples, v1.mean, v1.stddev) == (60, 62, pytest.approx(15))


def test_bonferroni_splits_alpha_over_the_non_control_variants():
    # An effect whose always-valid p-value lies between 0.025 and 0.05: significant alone, not among two.
    n, sd, tau2 = 200, 15.0, METRIC_SCALES[SAY].tau2
    v = 2 * sd * sd / n
    target_p = 0.035
    effect = math.sqrt(2 * v * (v + tau2) / tau2 * (math.log(1 / target_p) + 0.5 * math.log((v + tau2) / v)))
    stats = {"control": summary(n, 60, sd), "v1": summary(n, 60 + effect, sd), "v2": summary(n, 60, sd)}
    alone = evaluate(SEQUENTIAL, arms(5000, 5000), stats, {}, set())
    assert result(alone, "v1").p_value == pytest.approx(target_p)
    assert alone.state is ExperimentState.PROMOTED
    among_two = evaluate(SEQUENTIAL, arms(5000, 2500, 2500), stats, {}, set())
    assert among_two.state is ExperimentState.RUNNING
    assert result(among_two, "v1").status is VariantStatus.WINNING
    # The interval is at the same, split, level: wider among two.
    assert result(among_two, "v1").effect_lower < 0 < result(alone, "v1").effect_lower


def test_the_largest_significant_effect_is_promoted():
    variants = arms(4000, 3000, 3000)
    stats = {"control": summary(200, 50, 10), "v1": summary(200, 60, 10), "v2": summary(200, 65, 10)}
    evaluation = evaluate(SEQUENTIAL, variants, stats, {}, set())
    assert evaluation.state is ExperimentState.PROMOTED
    assert evaluation.winner_variant == "v2"
    assert result(evaluation, "v2").status is VariantStatus.PROMOTED
    assert result(evaluation, "v1").status is VariantStatus.WINNING  # significant too, but not the winner
    assert [r.current_traffic_bps for r in evaluation.results] == [0, 0, 10_000]


def test_a_worse_variant_is_stopped_and_its_traffic_goes_to_the_control():
    variants = arms(4000, 3000, 3000)
    stats = {"control": summary(100, 60, 15), "v1": summary(100, 45, 15), "v2": summary(100, 61, 15)}
    evaluation = evaluate(SEQUENTIAL, variants, stats, {}, set())
    assert evaluation.state is ExperimentState.RUNNING
    assert result(evaluation, "v1").status is VariantStatus.STOPPED_WORSE
    assert evaluation.stopped_variants == {"v1"}
    assert [r.current_traffic_bps for r in evaluation.results] == [7000, 0, 3000]
    # Stays stopped whatever its numbers say later.
    later = dict(stats, v1=summary(100, 60, 15))
    again = evaluate(SEQUENTIAL, variants, later, {}, {"v1"})
    assert result(again, "v1").status is VariantStatus.STOPPED_WORSE
    assert result(again, "v1").current_traffic_bps == 0


def test_a_worse_variant_in_a_simulated_experiment_is_stopped_and_gets_no_more_sessions():
    rng = random.Random(11)
    variants = arms(4000, 3000, 3000)
    means = {"control": 60.0, "v1": 45.0, "v2": 60.0}
    stats = {v.variant_id: RunningStats() for v in variants}
    p_values: dict[str, float] = {}
    stopped: frozenset[str] = frozenset()
    stopped_at = None
    for i in range(1500):
        variant_id = choose_variant(variants, stopped, rng.randrange(10_000))
        if stopped_at is not None:
            assert variant_id != "v1"
        stats[variant_id] = stats[variant_id].add(say_meter(rng, means[variant_id], 15))
        evaluation = evaluate(SEQUENTIAL, variants, stats, p_values, stopped)
        p_values = {r.variant_id: r.p_value for r in evaluation.results}
        stopped = evaluation.stopped_variants
        if stopped and stopped_at is None:
            stopped_at = i
            assert stopped == {"v1"}
            assert result(evaluation, "v1").effect_upper < 0
            assert result(evaluation, "control").current_traffic_bps == 7000
        assert evaluation.state is ExperimentState.RUNNING
    assert stopped_at is not None and stopped_at < 500


def test_the_control_wins_when_every_other_variant_is_stopped_as_worse():
    variants = arms(5000, 2500, 2500)
    stats = {"control": summary(100, 60, 15), "v1": summary(100, 45, 15), "v2": summary(100, 44, 15)}
    evaluation = evaluate(SEQUENTIAL, variants, stats, {}, set())
    assert evaluation.state is ExperimentState.PROMOTED
    assert evaluation.winner_variant == "control"
    assert [r.current_traffic_bps for r in evaluation.results] == [10_000, 0, 0]
    # Also when the last one is stopped after the first.
    one_left = dict(stats, v1=summary(50, 61, 15))
    assert evaluate(SEQUENTIAL, variants, one_left, {}, {"v1"}).winner_variant == "control"


def test_a_sequential_horizon_stops_the_experiment_without_a_winner():
    settings = ExperimentSettings(SAY, horizon_samples=100)
    variants = arms(4000, 3000, 3000)
    below = {"control": summary(100, 60, 15), "v1": summary(99, 61, 15), "v2": summary(100, 59, 15)}
    assert evaluate(settings, variants, below, {}, set()).state is ExperimentState.RUNNING
    reached = dict(below, v1=summary(100, 61, 15))
    evaluation = evaluate(settings, variants, reached, {}, set())
    assert evaluation.state is ExperimentState.STOPPED
    assert evaluation.stop_reason == HORIZON_STOP_REASON == "horizon reached without a significant difference"
    assert evaluation.winner_variant == ""
    assert [r.current_traffic_bps for r in evaluation.results] == [10_000, 0, 0]
    # A variant stopped as worse does not have to reach the horizon.
    with_stopped = dict(below, v1=summary(40, 40, 15))
    assert evaluate(settings, variants, with_stopped, {}, {"v1"}).state is ExperimentState.STOPPED


def test_a_true_winner_is_promoted_in_most_simulated_experiments():
    # Variant +8 Say Meter points with an sd of 15 (an effect of about half an sd), peeking after every outcome.
    rng = random.Random(2024)
    settings = ExperimentSettings(SAY, horizon_samples=300)
    runs, promoted, wrong = 200, 0, 0
    for _ in range(runs):
        evaluation, _ = simulate(rng, arms(5000, 5000), {"control": 60.0, "v1": 68.0}, 15.0, settings, 2000)
        promoted += evaluation.state is ExperimentState.PROMOTED and evaluation.winner_variant == "v1"
        wrong += evaluation.winner_variant == "control"
    assert promoted / runs >= 0.95
    assert wrong == 0


def test_no_true_difference_keeps_false_decisions_within_alpha_despite_peeking():
    # The key property: evaluating after every outcome up to 200 per arm, the chance of any decision
    # (promoting the variant or stopping it as worse) stays within 1 - confidence_level = 0.05. With 300
    # experiments the binomial sd at 0.05 is 0.013, hence the 0.07 bound.
    rng = random.Random(99)
    settings = ExperimentSettings(SAY, confidence_level=0.95, horizon_samples=200)
    runs, promoted, stopped_worse, naive = 300, 0, 0, 0
    for _ in range(runs):
        evaluation, naive_max_z = simulate(rng, arms(5000, 5000), {"control": 60.0, "v1": 60.0}, 15.0, settings, 5000)
        assert evaluation.state is not ExperimentState.RUNNING  # decided, or stopped at the horizon
        promoted += evaluation.winner_variant == "v1"
        stopped_worse += evaluation.winner_variant == "control"
        if evaluation.state is ExperimentState.STOPPED:
            assert evaluation.stop_reason == HORIZON_STOP_REASON
        naive += naive_max_z >= 1.96
    assert promoted / runs <= 0.07
    assert (promoted + stopped_worse) / runs <= 0.07
    # The same streams would fool a classic test looked at after every outcome: the simulation can tell.
    assert naive / runs >= 0.2


# --- the fixed-horizon test ---------------------------------------------------------------------------------


def test_fixed_horizon_decides_only_at_the_horizon():
    settings = ExperimentSettings(SAY, test_method=TestMethod.FIXED_HORIZON, horizon_samples=50)
    variants = arms(5000, 5000)
    rng = random.Random(5)
    stats = {"control": RunningStats(), "v1": RunningStats()}
    decided_at = None
    for i in range(400):
        variant_id = choose_variant(variants, set(), rng.randrange(10_000))
        if counts_outcome(settings, stats[variant_id]):
            stats[variant_id] = stats[variant_id].add(say_meter(rng, 75 if variant_id == "v1" else 60, 15))
        evaluation = evaluate(settings, variants, stats, {}, set())
        both_at_horizon = stats["control"].count >= 50 and stats["v1"].count >= 50
        if not both_at_horizon:
            assert evaluation.state is ExperimentState.RUNNING
            assert result(evaluation, "v1").p_value == 1.0
            assert result(evaluation, "v1").status is not VariantStatus.PROMOTED
        else:
            decided_at = i
            break
    assert decided_at is not None
    assert evaluation.state is ExperimentState.PROMOTED
    assert evaluation.winner_variant == "v1"
    v1 = result(evaluation, "v1")
    assert v1.p_value < 0.05 and v1.effect_lower > 0
    assert stats["control"].count == stats["v1"].count == 50  # outcomes past the horizon are not counted


def test_fixed_horizon_without_a_difference_stops_at_the_horizon():
    settings = ExperimentSettings(SAY, test_method=TestMethod.FIXED_HORIZON, horizon_samples=50)
    variants = arms(5000, 5000)
    before = evaluate(settings, variants, {"control": summary(50, 60, 15), "v1": summary(49, 70, 15)}, {}, set())
    assert before.state is ExperimentState.RUNNING
    assert result(before, "v1").p_value == 1.0
    assert result(before, "v1").status is VariantStatus.WINNING
    at = evaluate(settings, variants, {"control": summary(50, 60, 15), "v1": summary(50, 62, 15)}, {}, set())
    assert at.state is ExperimentState.STOPPED
    assert at.stop_reason == HORIZON_STOP_REASON
    v1 = result(at, "v1")
    assert v1.p_value == pytest.approx(math.erfc(2 / math.sqrt(2 * 225 / 50) / math.sqrt(2)))
    assert v1.effect_lower < 0 < v1.effect_upper
    worse = evaluate(settings, variants, {"control": summary(50, 60, 15), "v1": summary(50, 50, 15)}, {}, set())
    assert worse.state is ExperimentState.PROMOTED and worse.winner_variant == "control"
    assert result(worse, "v1").status is VariantStatus.STOPPED_WORSE


def test_counts_outcome_caps_only_fixed_horizon():
    fixed = ExperimentSettings(SAY, test_method=TestMethod.FIXED_HORIZON, horizon_samples=10)
    assert counts_outcome(fixed, summary(9, 1, 1))
    assert not counts_outcome(fixed, summary(10, 1, 1))
    assert counts_outcome(ExperimentSettings(SAY, horizon_samples=10), summary(10, 1, 1))


# --- the contract -------------------------------------------------------------------------------------------


def test_results_convert_to_the_contract_message():
    variants = arms(5000, 5000)
    evaluation = evaluate(SEQUENTIAL, variants, {"control": summary(20, 40, 5), "v1": summary(20, 90, 5)}, {}, set())
    experiment = json_format.ParseDict(dataclasses.asdict(evaluation), pb.Experiment())
    assert experiment.state == pb.EXPERIMENT_STATE_PROMOTED
    assert experiment.winner_variant == "v1"
    assert experiment.results[1].status == pb.VARIANT_STATUS_PROMOTED
    assert experiment.results[1].samples == 20
    assert experiment.results[0].current_traffic_bps == 0
    settings = ExperimentSettings(SAY, 0.9, TestMethod.FIXED_HORIZON, 100, 10)
    message = json_format.ParseDict(dataclasses.asdict(settings), pb.Experiment())
    assert message.test_method == pb.TEST_METHOD_FIXED_HORIZON and message.min_samples == 10


@pytest.mark.parametrize(
    ("enum", "proto_enum"),
    [
        (ExperimentState, pb.ExperimentState),
        (ExperimentMetric, pb.ExperimentMetric),
        (TestMethod, pb.TestMethod),
        (VariantStatus, pb.VariantStatus),
    ],
)
def test_enum_values_are_the_contract_names(enum, proto_enum):
    names = {name for name in proto_enum.keys() if not name.endswith("_UNSPECIFIED")}
    assert {member.value for member in enum} == names


# --- validation ---------------------------------------------------------------------------------------------

GOOD_VARIANTS = arms(5000, 5000)


def paths(violations) -> list[str]:
    return [path for path, _ in violations]


def test_a_valid_experiment_has_no_violations():
    assert validate_experiment(GOOD_VARIANTS, SEQUENTIAL) == []
    assert traffic_total_violation(GOOD_VARIANTS) is None
    ten = arms(1000, *[1000] * 9)
    fixed = ExperimentSettings(SAY, 0.999, TestMethod.FIXED_HORIZON, 1_000_000, 100_000)
    assert validate_experiment(ten, fixed) == []
    assert validate_experiment(GOOD_VARIANTS, ExperimentSettings(SAY, 0.8, TestMethod.SEQUENTIAL, 10, 1)) == []


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (arms(10_000), ["experiment.variants"]),
        (arms(*[909] * 11), ["experiment.variants"]),
        ((Variant("Control", "personas/a", 5000, True), arms(5000, 5000)[1]), ["experiment.variants[0].variant_id"]),
        ((Variant("", "personas/a", 5000, True), arms(5000, 5000)[1]), ["experiment.variants[0].variant_id"]),
        ((arms(5000, 5000)[0], Variant("a" * 64, "p", 5000, False)), ["experiment.variants[1].variant_id"]),
        ((arms(5000, 5000)[0], Variant("v_1", "p", 5000, False)), ["experiment.variants[1].variant_id"]),
        ((arms(5000, 5000)[0], Variant("control", "p", 5000, False)), ["experiment.variants[1].variant_id"]),
        ((arms(5000, 5000)[0], Variant("v1", "p", 0, False)), ["experiment.variants[1].traffic_bps"]),
        ((arms(5000, 5000)[0], Variant("v1", "p", 10_001, False)), ["experiment.variants[1].traffic_bps"]),
        ((Variant("a", "p", 5000, False), Variant("b", "p", 5000, False)), ["experiment.variants"]),
        ((*arms(4000, 3000, 3000)[:2], Variant("v2", "p", 3000, True)), ["experiment.variants[2].control"]),
    ],
)
def test_bad_variants(variants, expected):
    assert paths(validate_experiment(variants, SEQUENTIAL)) == expected


def test_traffic_not_summing_to_100_percent_is_its_own_violation():
    short = arms(5000, 4999)
    assert validate_experiment(short, SEQUENTIAL) == []
    path, message = traffic_total_violation(short)
    assert path == "experiment.variants" and "9999" in message
    assert traffic_total_violation(arms(5000, 5001)) is not None
    assert traffic_total_violation(arms(1, 1), prefix="exp") == (
        "exp.variants",
        "traffic_bps must sum to 10000 (100%), got 2",
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (ExperimentSettings(None), ["experiment.metric"]),
        (ExperimentSettings(SAY, confidence_level=0.5), ["experiment.confidence_level"]),
        (ExperimentSettings(SAY, confidence_level=0.9999), ["experiment.confidence_level"]),
        (ExperimentSettings(SAY, confidence_level=1.0), ["experiment.confidence_level"]),
        (ExperimentSettings(SAY, confidence_level=-0.95), ["experiment.confidence_level"]),
        (ExperimentSettings(SAY, confidence_level=math.nan), ["experiment.confidence_level"]),
        (ExperimentSettings(SAY, test_method=TestMethod.FIXED_HORIZON), ["experiment.horizon_samples"]),
        (
            ExperimentSettings(SAY, test_method=TestMethod.FIXED_HORIZON, horizon_samples=9),
            ["experiment.horizon_samples"],
        ),
        (
            ExperimentSettings(SAY, test_method=TestMethod.FIXED_HORIZON, horizon_samples=1_000_001),
            ["experiment.horizon_samples"],
        ),
        (ExperimentSettings(SAY, horizon_samples=5), ["experiment.horizon_samples"]),
        (ExperimentSettings(SAY, horizon_samples=-1), ["experiment.horizon_samples"]),
        (
            ExperimentSettings(SAY, test_method=TestMethod.SEQUENTIAL, horizon_samples=2_000_000),
            ["experiment.horizon_samples"],
        ),
        (ExperimentSettings(SAY, min_samples=-1), ["experiment.min_samples"]),
        (ExperimentSettings(SAY, min_samples=100_001), ["experiment.min_samples"]),
        (ExperimentSettings(SAY, horizon_samples=50, min_samples=51), ["experiment.min_samples"]),
    ],
)
def test_bad_settings(settings, expected):
    assert paths(validate_experiment(GOOD_VARIANTS, settings)) == expected


def test_every_violation_is_reported_at_once():
    variants = (Variant("A", "p", 0, False), Variant("A", "p", 0, False))
    settings = ExperimentSettings(None, confidence_level=2.0, test_method=TestMethod.FIXED_HORIZON, min_samples=-5)
    assert paths(validate_experiment(variants, settings, prefix="exp")) == [
        "exp.variants[0].variant_id",
        "exp.variants[0].traffic_bps",
        "exp.variants[1].variant_id",
        "exp.variants[1].traffic_bps",
        "exp.variants",
        "exp.metric",
        "exp.confidence_level",
        "exp.horizon_samples",
        "exp.min_samples",
    ]


def test_defaults():
    assert SEQUENTIAL.level == 0.95
    assert SEQUENTIAL.method is TestMethod.SEQUENTIAL
    assert SEQUENTIAL.decision_min_samples == 20
    assert ExperimentSettings(SAY, horizon_samples=10).decision_min_samples == 10
    assert ExperimentSettings(SAY, min_samples=5).decision_min_samples == 5
