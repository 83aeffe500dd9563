"""A/B experiments of persona variants: assignment, running statistics, the significance test and the decision.

The pure rules behind CreateExperiment, AssignVariant, RecordExperimentOutcome and StopExperiment
(sparring.learning.v1); no I/O. Domain values carry the contract's names (enum values are the proto enum value
names, fields the proto field names), so ``dataclasses.asdict`` of a ``VariantResult`` or an ``Evaluation`` can
be fed to ``json_format.ParseDict`` directly.

The lifecycle, for the service layer:

- CreateExperiment: ``validate_experiment`` (field violations) and ``traffic_total_violation`` (its own reason,
  TRAFFIC_NOT_100_PERCENT).
- AssignVariant: ``bucket`` then ``variant_for_new_session`` (or ``choose_variant`` while RUNNING).
- RecordExperimentOutcome: ``RunningStats.add`` for the metric's value, when ``counts_outcome`` says so, then
  ``evaluate`` with the stored stats, the stored p-values and the variants already stopped; store its results.
- StopExperiment: ``traffic_for_state`` gives the shares of a STOPPED experiment (all to the control).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import NamedTuple

TOTAL_BPS = 10_000
MIN_VARIANTS = 2
MAX_VARIANTS = 10
MAX_VARIANT_ID_LENGTH = 63
DEFAULT_CONFIDENCE_LEVEL = 0.95
MIN_CONFIDENCE_LEVEL = 0.8
MAX_CONFIDENCE_LEVEL = 0.999
DEFAULT_MIN_SAMPLES = 20
MAX_MIN_SAMPLES = 100_000
MIN_HORIZON_SAMPLES = 10
MAX_HORIZON_SAMPLES = 1_000_000
HORIZON_STOP_REASON = "horizon reached without a significant difference"
# The sequential test plugs estimated variances into a test built for known ones; below about ten outcomes per
# arm the estimates are so rough that peeking inflates false decisions well beyond alpha (simulated: twice alpha
# from two outcomes per arm), so its p-value waits for this many whatever min_samples says.
SEQUENTIAL_MIN_SAMPLES = 10


class ExperimentState(StrEnum):
    RUNNING = "EXPERIMENT_STATE_RUNNING"
    PROMOTED = "EXPERIMENT_STATE_PROMOTED"
    STOPPED = "EXPERIMENT_STATE_STOPPED"


class ExperimentMetric(StrEnum):
    SAY_METER_SCORE = "EXPERIMENT_METRIC_SAY_METER_SCORE"
    AUDIT_SCORE = "EXPERIMENT_METRIC_AUDIT_SCORE"


class TestMethod(StrEnum):
    __test__ = False  # a contract enum, not a pytest test class

    SEQUENTIAL = "TEST_METHOD_SEQUENTIAL"
    FIXED_HORIZON = "TEST_METHOD_FIXED_HORIZON"


class VariantStatus(StrEnum):
    CONTROL = "VARIANT_STATUS_CONTROL"
    COLLECTING = "VARIANT_STATUS_COLLECTING"
    WINNING = "VARIANT_STATUS_WINNING"
    LOSING = "VARIANT_STATUS_LOSING"
    PROMOTED = "VARIANT_STATUS_PROMOTED"
    STOPPED_WORSE = "VARIANT_STATUS_STOPPED_WORSE"


@dataclass(frozen=True, slots=True)
class MetricScale:
    """How the sequential test is tuned to a metric's scale.

    tau2 is the variance of the normal mixture over true effects in the mSPRT. Any tau2 keeps the test always
    valid; it only moves where the test has its power: the test is quickest for effects of about tau, and
    slower for much smaller or much larger ones. We use tau = 5% of the metric's range, the size of change a
    prompt variant is worth promoting for: 5 Say Meter points (tau2 = 25) and 0.5 audit points (tau2 = 0.25).

    variance_floor bounds each arm's per-outcome variance from below (sd 0.5 Say Meter points, 0.05 audit
    points), because an arm whose outcomes so far are all equal would otherwise have zero variance, and any
    difference would look infinitely significant.

    Simulated (Say Meter, sd 15, 50/50, min_samples 20, evaluated after every outcome up to a horizon of 200
    per arm, 3000 experiments): 2.5% of experiments with no true difference ended with a decision at
    confidence 0.95 (1.2% promoted), 3.4% with a horizon of 500; an 8-point true winner was promoted in every
    run, after about 130 outcomes on average.
    """

    tau2: float
    variance_floor: float


METRIC_SCALES: Mapping[ExperimentMetric, MetricScale] = {
    ExperimentMetric.SAY_METER_SCORE: MetricScale(tau2=25.0, variance_floor=0.25),
    ExperimentMetric.AUDIT_SCORE: MetricScale(tau2=0.25, variance_floor=0.0025),
}


# --- assignment ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: str  # unique within the experiment
    persona: str  # "personas/{persona_id}"
    traffic_bps: int  # share of new sessions as created, basis points
    control: bool


def bucket(experiment_id: str, session_id: str) -> int:
    """The session's bucket in the experiment, 0..9999.

    sha256 rather than ``hash()``: the bucket must be the same in every process, on every restart and Python
    version (``hash`` of a str is salted per process). The NUL separator keeps ("ab", "c") and ("a", "bc")
    apart. The first 8 bytes modulo 10000 are uniform to within 10000 / 2**64.
    """
    digest = hashlib.sha256(f"{experiment_id}\x00{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % TOTAL_BPS


def control_of(variants: Sequence[Variant]) -> Variant:
    for variant in variants:
        if variant.control:
            return variant
    raise ValueError("an experiment has exactly one control variant")


def current_shares(variants: Sequence[Variant], stopped: Collection[str]) -> dict[str, int]:
    """Share of new sessions per variant now, basis points: a stopped variant's share goes to the control."""
    control_id = control_of(variants).variant_id
    shares = {v.variant_id: 0 if v.variant_id in stopped and not v.control else v.traffic_bps for v in variants}
    shares[control_id] += sum(v.traffic_bps for v in variants if v.variant_id in stopped and not v.control)
    return shares


def choose_variant(variants: Sequence[Variant], stopped: Collection[str], bucket: int) -> str:
    """The variant a bucket falls to in a RUNNING experiment.

    The 10000 buckets are laid over the variants in the given order by their traffic shares; the buckets of a
    stopped variant are the control's. That gives every variant exactly its ``current_shares``, and, unlike
    re-laying the buckets contiguously by current share, it moves no bucket between two running variants when
    a third one stops: new sessions of the same bucket keep landing on the same running variant.
    """
    if not 0 <= bucket < TOTAL_BPS:
        raise ValueError(f"bucket must be 0..{TOTAL_BPS - 1}, got {bucket}")
    upper = 0
    for variant in variants:
        upper += variant.traffic_bps
        if bucket < upper:
            if variant.variant_id in stopped and not variant.control:
                break
            return variant.variant_id
    return control_of(variants).variant_id


def variant_for_new_session(
    variants: Sequence[Variant],
    stopped: Collection[str],
    state: ExperimentState,
    winner_variant: str,
    bucket: int,
) -> str:
    """The variant of a session assigned for the first time: the winner once PROMOTED, the control once STOPPED."""
    if state is ExperimentState.PROMOTED:
        return winner_variant
    if state is ExperimentState.STOPPED:
        return control_of(variants).variant_id
    return choose_variant(variants, stopped, bucket)


def traffic_for_state(
    variants: Sequence[Variant], stopped: Collection[str], state: ExperimentState, winner_variant: str = ""
) -> dict[str, int]:
    """current_traffic_bps per variant: the current shares while RUNNING, else all to the winner or the control."""
    if state is ExperimentState.RUNNING:
        return current_shares(variants, stopped)
    receiver = winner_variant if state is ExperimentState.PROMOTED else control_of(variants).variant_id
    return {v.variant_id: TOTAL_BPS if v.variant_id == receiver else 0 for v in variants}


# --- running statistics -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunningStats:
    """Outcomes of one variant as three storable numbers, updated one outcome at a time (Welford).

    Welford's update rather than sums of x and x²: the sum-of-squares form subtracts two large, nearly equal
    numbers and loses the variance to cancellation when the mean is large against the spread.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean

    def add(self, value: float) -> RunningStats:
        count = self.count + 1
        delta = value - self.mean
        mean = self.mean + delta / count
        return RunningStats(count, mean, self.m2 + delta * (value - mean))

    @property
    def variance(self) -> float:
        """Sample variance (n - 1); 0 below two outcomes."""
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    @property
    def stddev(self) -> float:
        return math.sqrt(max(self.m2, 0.0) / (self.count - 1)) if self.count > 1 else 0.0


# --- settings and results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExperimentSettings:
    """The Experiment fields the test and the decision depend on, as given (0 and None mean the default)."""

    metric: ExperimentMetric | None
    confidence_level: float = 0.0  # 0 means 0.95
    test_method: TestMethod | None = None  # None (unset) means SEQUENTIAL
    horizon_samples: int = 0  # per variant; required for FIXED_HORIZON, an optional cap for SEQUENTIAL
    min_samples: int = 0  # per variant before any decision; 0 means 20

    @property
    def level(self) -> float:
        return self.confidence_level or DEFAULT_CONFIDENCE_LEVEL

    @property
    def method(self) -> TestMethod:
        return self.test_method or TestMethod.SEQUENTIAL

    @property
    def decision_min_samples(self) -> int:
        # The default never blocks a decision at a horizon set below it (an explicit min_samples above the
        # horizon is refused by validate_experiment instead).
        if self.min_samples:
            return self.min_samples
        if self.horizon_samples:
            return min(DEFAULT_MIN_SAMPLES, self.horizon_samples)
        return DEFAULT_MIN_SAMPLES

    @property
    def scale(self) -> MetricScale:
        if self.metric is None:
            raise ValueError("an experiment needs a metric")
        return METRIC_SCALES[self.metric]


@dataclass(frozen=True, slots=True)
class VariantResult:
    variant_id: str
    samples: int
    mean: float
    stddev: float
    effect: float  # mean minus the control's mean; 0 for the control
    effect_lower: float  # confidence sequence (SEQUENTIAL) or interval (FIXED_HORIZON) at the tested level
    effect_upper: float
    p_value: float  # always-valid for SEQUENTIAL (stored and fed back); 1.0 before the horizon for FIXED_HORIZON
    status: VariantStatus
    current_traffic_bps: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The experiment after one more outcome: its state, winner and stop reason, and one result per variant."""

    state: ExperimentState
    winner_variant: str
    stop_reason: str
    results: tuple[VariantResult, ...]

    @property
    def stopped_variants(self) -> frozenset[str]:
        return frozenset(r.variant_id for r in self.results if r.status is VariantStatus.STOPPED_WORSE)


def counts_outcome(settings: ExperimentSettings, stats: RunningStats) -> bool:
    """Whether one more outcome of a RUNNING experiment's variant goes into its statistics.

    FIXED_HORIZON makes its one test on the first horizon_samples outcomes of each variant: later ones (the
    control and faster variants keep getting sessions while slower ones catch up) are stored but not counted,
    so the test is made once, on fixed data, however often the results are evaluated afterwards.
    """
    return not (settings.method is TestMethod.FIXED_HORIZON and stats.count >= settings.horizon_samples)


# --- the significance test ----------------------------------------------------------------------------------


class Comparison(NamedTuple):
    """One variant against the control (a NamedTuple: built after every outcome, so cheap to make)."""

    effect: float
    effect_lower: float
    effect_upper: float
    p_value: float


_NO_COMPARISON = Comparison(0.0, 0.0, 0.0, 1.0)  # the control's own "comparison"


def _difference_variance(variant: RunningStats, control: RunningStats, floor: float) -> float:
    """V = s_t²/n_t + s_c²/n_c, the estimated variance of the difference of means (Welch; no equal variances)."""
    variant_variance = variant.m2 / (variant.count - 1) if variant.count > 1 else 0.0
    control_variance = control.m2 / (control.count - 1) if control.count > 1 else 0.0
    return max(variant_variance, floor) / variant.count + max(control_variance, floor) / control.count


def msprt(
    variant: RunningStats, control: RunningStats, tau2: float, alpha: float, previous_p: float, floor: float = 0.0
) -> Comparison:
    """The always-valid mixture SPRT on variant-minus-control (Johari et al., "Always valid inference").

    With the effect estimate θ = mean_t - mean_c, its variance V and a normal mixture N(0, τ²) over the true
    effect, the likelihood ratio of "some effect" against "none" is

        Λ = sqrt(V / (V + τ²)) · exp(τ² θ² / (2 V (V + τ²))),

    a martingale under no effect, so by Ville's inequality P(Λ ever ≥ 1/alpha) ≤ alpha: the p-value min over time of
    1/Λ may be looked at after every outcome. That is why the previous p-value is an input: the running minimum
    is the p-value, not the current 1/Λ. The confidence sequence at the same level is the set of effects the
    test would not reject: θ ± sqrt(2 V (V + τ²) / τ² · (ln(1/alpha) + ½ ln((V + τ²) / V))).
    Needs two outcomes in each arm.
    """
    effect = variant.mean - control.mean
    v = _difference_variance(variant, control, floor)
    log_ratio = 0.5 * math.log(v / (v + tau2)) + tau2 * effect * effect / (2.0 * v * (v + tau2))
    p_value = min(previous_p, 1.0, math.exp(-log_ratio) if log_ratio > 0 else 1.0)
    half_width = math.sqrt(2.0 * v * (v + tau2) / tau2 * (math.log(1.0 / alpha) + 0.5 * math.log((v + tau2) / v)))
    return Comparison(effect, effect - half_width, effect + half_width, p_value)


def welch_z_test(variant: RunningStats, control: RunningStats, alpha: float, floor: float = 0.0) -> Comparison:
    """Welch's two-sided test of variant-minus-control with the normal approximation, and its 1 - alpha interval."""
    effect = variant.mean - control.mean
    se = math.sqrt(_difference_variance(variant, control, floor))
    p_value = math.erfc(abs(effect) / se / math.sqrt(2.0))
    half_width = NormalDist().inv_cdf(1.0 - alpha / 2.0) * se
    return Comparison(effect, effect - half_width, effect + half_width, p_value)


# --- the decision -------------------------------------------------------------------------------------------


def evaluate(
    settings: ExperimentSettings,
    variants: Sequence[Variant],
    stats: Mapping[str, RunningStats],
    previous_p_values: Mapping[str, float],
    stopped: Collection[str],
) -> Evaluation:
    """The results and state of a RUNNING experiment from its statistics.

    stats: per variant_id (missing means no outcomes yet). previous_p_values: the p_value of each variant's
    last result (missing means 1.0); SEQUENTIAL p-values only ever go down. stopped: variants already
    STOPPED_WORSE; they stay so whatever their numbers say now.

    Each of the k non-control variants is tested against the control at alpha = (1 - confidence_level) / k
    (Bonferroni), so the chance of any false decision in the experiment stays within 1 - confidence_level.
    Nothing is decided, and a SEQUENTIAL p-value does not start its running minimum, before the variant and the
    control both have min_samples outcomes (and SEQUENTIAL_MIN_SAMPLES for the sequential test): the variance
    estimate of a handful of outcomes is too rough to trust. Higher is better for both metrics.

    Called after every outcome, so it is kept lean: one pass over the variants, no I/O.
    """
    control = control_of(variants)
    alpha = (1.0 - settings.level) / (len(variants) - 1)
    min_samples = settings.decision_min_samples
    empty = RunningStats()
    control_stats = stats.get(control.variant_id, empty)

    rows: list[tuple[Variant, RunningStats, Comparison, VariantStatus]] = []
    now_stopped = set(stopped)
    winner, best_effect = "", 0.0
    every_variant_stopped, every_variant_at_horizon = True, True
    for variant in variants:
        vid = variant.variant_id
        own = stats.get(vid, empty)
        if variant.control:
            rows.append((variant, own, _NO_COMPARISON, VariantStatus.CONTROL))
            continue
        comparison, significant = _compare(settings, own, control_stats, alpha, previous_p_values.get(vid, 1.0))
        decidable = own.count >= min_samples and control_stats.count >= min_samples
        status = _status(comparison, significant, decidable, vid in stopped)
        if status is VariantStatus.PROMOTED and (not winner or comparison.effect > best_effect):
            winner, best_effect = vid, comparison.effect  # the largest effect; the first of equal ones
        if status is VariantStatus.STOPPED_WORSE:
            now_stopped.add(vid)
        if vid not in now_stopped:
            every_variant_stopped = False
            every_variant_at_horizon = every_variant_at_horizon and own.count >= settings.horizon_samples
        rows.append((variant, own, comparison, status))

    state, winner, reason = _decision(settings, control, control_stats, winner, every_variant_stopped,
                                      every_variant_at_horizon)
    traffic = traffic_for_state(variants, now_stopped, state, winner)
    results = tuple(
        VariantResult(
            variant.variant_id,
            own.count,
            own.mean,
            own.stddev,
            comparison.effect,
            comparison.effect_lower,
            comparison.effect_upper,
            comparison.p_value,
            # Significantly better, but another one was promoted: still only winning.
            VariantStatus.WINNING if status is VariantStatus.PROMOTED and variant.variant_id != winner else status,
            traffic[variant.variant_id],
        )
        for variant, own, comparison, status in rows
    )
    return Evaluation(state, winner, reason, results)


def _compare(
    settings: ExperimentSettings, own: RunningStats, control: RunningStats, alpha: float, previous_p: float
) -> tuple[Comparison, bool]:
    """One variant against the control, and whether the difference is significant at alpha."""
    scale = settings.scale
    n, n_control = own.count, control.count
    if n < 2 or n_control < 2:
        effect = own.mean - control.mean if n and n_control else 0.0
        return Comparison(effect, effect, effect, 1.0), False  # no variance yet, so no interval
    min_samples = settings.decision_min_samples
    if settings.method is TestMethod.FIXED_HORIZON:
        horizon = settings.horizon_samples
        comparison = welch_z_test(own, control, alpha, scale.variance_floor)
        if not (n >= min_samples and n_control >= min_samples and n >= horizon and n_control >= horizon):
            # One test, at the horizon: the interval is shown before it, not a p-value.
            return comparison._replace(p_value=1.0), False
        return comparison, comparison.p_value <= alpha
    sequential_min = max(min_samples, SEQUENTIAL_MIN_SAMPLES)
    if n >= sequential_min and n_control >= sequential_min:
        comparison = msprt(own, control, scale.tau2, alpha, previous_p, scale.variance_floor)
        return comparison, comparison.p_value <= alpha
    # The running minimum starts at min_samples: before, the p-value stays at 1.0.
    return msprt(own, control, scale.tau2, alpha, 1.0, scale.variance_floor)._replace(p_value=1.0), False


def _status(comparison: Comparison, significant: bool, decidable: bool, already_stopped: bool) -> VariantStatus:
    """A non-control variant's status; PROMOTED is demoted to WINNING later unless it is the winner."""
    if already_stopped:
        return VariantStatus.STOPPED_WORSE
    if not decidable:
        return VariantStatus.COLLECTING
    if significant and comparison.effect > 0:
        return VariantStatus.PROMOTED
    if significant and comparison.effect < 0:
        return VariantStatus.STOPPED_WORSE
    return VariantStatus.WINNING if comparison.effect > 0 else VariantStatus.LOSING


def _decision(
    settings: ExperimentSettings,
    control: Variant,
    control_stats: RunningStats,
    winner: str,
    every_variant_stopped: bool,
    every_variant_at_horizon: bool,
) -> tuple[ExperimentState, str, str]:
    """The experiment's state, winner and stop reason: the best significant variant is promoted; with every
    variant stopped the control is; at the horizon without a winner the experiment stops."""
    if winner:
        return ExperimentState.PROMOTED, winner, ""
    if every_variant_stopped:
        return ExperimentState.PROMOTED, control.variant_id, ""
    horizon = settings.horizon_samples
    if horizon and control_stats.count >= horizon and every_variant_at_horizon:
        return ExperimentState.STOPPED, "", HORIZON_STOP_REASON
    return ExperimentState.RUNNING, "", ""


# --- validation ---------------------------------------------------------------------------------------------


def _valid_variant_id(value: str) -> bool:
    # The id rule of every other id in the system: lowercase letters and digits, single inner dashes.
    return (
        0 < len(value) <= MAX_VARIANT_ID_LENGTH
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in value)
        and not value.startswith("-")
        and not value.endswith("-")
        and "--" not in value
    )


def validate_experiment(
    variants: Sequence[Variant], settings: ExperimentSettings, prefix: str = "experiment"
) -> list[tuple[str, str]]:
    """Field violations of a CreateExperiment request, as (field_path, description); empty when valid.

    Returns rather than raises so that one answer names every bad field. The traffic total is not checked
    here: the contract gives it its own reason (TRAFFIC_NOT_100_PERCENT), see ``traffic_total_violation``.
    """
    out: list[tuple[str, str]] = []
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        out.append((f"{prefix}.variants", f"must have {MIN_VARIANTS} to {MAX_VARIANTS} variants, got {len(variants)}"))
    seen: set[str] = set()
    controls: list[int] = []
    for i, variant in enumerate(variants):
        path = f"{prefix}.variants[{i}]"
        if not _valid_variant_id(variant.variant_id):
            out.append(
                (
                    f"{path}.variant_id",
                    f"must be 1-{MAX_VARIANT_ID_LENGTH} lowercase letters, digits and single dashes "
                    f"(got {variant.variant_id[:100]!r})",
                )
            )
        elif variant.variant_id in seen:
            out.append((f"{path}.variant_id", f"duplicate variant_id {variant.variant_id!r}"))
        seen.add(variant.variant_id)
        if not 1 <= variant.traffic_bps <= TOTAL_BPS:
            out.append((f"{path}.traffic_bps", f"must be 1 to {TOTAL_BPS} basis points, got {variant.traffic_bps}"))
        if variant.control:
            controls.append(i)
    if not controls:
        out.append((f"{prefix}.variants", "exactly one variant must be the control, got none"))
    for i in controls[1:]:
        out.append((f"{prefix}.variants[{i}].control", "exactly one variant must be the control, got several"))

    if settings.metric is None:
        out.append((f"{prefix}.metric", "required"))
    level = settings.confidence_level
    if level != 0 and not MIN_CONFIDENCE_LEVEL <= level <= MAX_CONFIDENCE_LEVEL:  # NaN fails both
        out.append(
            (
                f"{prefix}.confidence_level",
                f"must be {MIN_CONFIDENCE_LEVEL} to {MAX_CONFIDENCE_LEVEL}, or 0 for {DEFAULT_CONFIDENCE_LEVEL}",
            )
        )
    horizon = settings.horizon_samples
    horizon_ok = MIN_HORIZON_SAMPLES <= horizon <= MAX_HORIZON_SAMPLES
    if settings.method is TestMethod.FIXED_HORIZON and not horizon_ok:
        out.append(
            (
                f"{prefix}.horizon_samples",
                f"required for FIXED_HORIZON: {MIN_HORIZON_SAMPLES} to {MAX_HORIZON_SAMPLES}, got {horizon}",
            )
        )
    elif settings.method is TestMethod.SEQUENTIAL and horizon != 0 and not horizon_ok:
        out.append(
            (
                f"{prefix}.horizon_samples",
                f"must be {MIN_HORIZON_SAMPLES} to {MAX_HORIZON_SAMPLES}, or 0 for no horizon, got {horizon}",
            )
        )
    min_samples = settings.min_samples
    if min_samples != 0 and not 1 <= min_samples <= MAX_MIN_SAMPLES:
        out.append(
            (
                f"{prefix}.min_samples",
                f"must be 1 to {MAX_MIN_SAMPLES}, or 0 for {DEFAULT_MIN_SAMPLES}, got {min_samples}",
            )
        )
    elif min_samples and horizon_ok and min_samples > horizon:
        # No decision is taken before min_samples, so a horizon below it could only ever end without one.
        out.append((f"{prefix}.min_samples", f"must not exceed horizon_samples ({horizon}), got {min_samples}"))
    return out


def traffic_total_violation(variants: Sequence[Variant], prefix: str = "experiment") -> tuple[str, str] | None:
    """The violation when the traffic shares do not sum to exactly 10000 basis points (TRAFFIC_NOT_100_PERCENT)."""
    total = sum(v.traffic_bps for v in variants)
    if total == TOTAL_BPS:
        return None
    return (f"{prefix}.variants", f"traffic_bps must sum to {TOTAL_BPS} (100%), got {total}")
