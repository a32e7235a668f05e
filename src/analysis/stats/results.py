"""Frozen result objects of the statistics, the verdict labels and the statistics table."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass

import pandas as pd

from analysis._util import jsonable


class _ToDict:
    """Mixin: ``to_dict()`` and ``from_dict()`` for frozen result dataclasses.

    ``from_dict(to_dict(x))`` rebuilds the object from its JSON form (tuples from lists, nested
    results from their dicts, NaN as None), which is how the statistics cache stores a result.
    """

    def to_dict(self) -> dict:
        """Return the result as plain JSON-serialisable types."""
        fields = dataclasses.fields(self)
        return jsonable({f.name: _as_value(getattr(self, f.name)) for f in fields})

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild a result from its ``to_dict()`` form."""
        hints = typing.get_type_hints(cls)
        return cls(
            **{f.name: _from_value(hints[f.name], data[f.name]) for f in dataclasses.fields(cls)}
        )


def _as_value(value):
    if isinstance(value, _ToDict):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _as_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_value(v) for v in value]
    return value


def _from_value(hint, value):
    """Convert one JSON value back to the field type ``hint`` (results, tuples, dicts)."""
    if value is None:
        return None
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _from_value(options[0], value) if len(options) == 1 else value
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type) and issubclass(origin, _ToDict):
        return origin.from_dict(value)
    if origin is tuple:
        item = options[0] if options else None
        return tuple(_from_value(item, v) if item else _tuples(v) for v in value)
    if origin is dict and len(options) == 2:
        return {k: _from_value(options[1], v) for k, v in value.items()}
    return _tuples(value)


def _tuples(value):
    """Turn lists back into tuples, recursively (results keep sequences as tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ThresholdFit(_ToDict):
    """Hinge model fitted by profile likelihood: K, the lag, the shape, intervals, the rates.

    The rate per unit of exposure is b0 + b1 max(0, c[t - lag] - K) ** ``shape_exponent``.
    ``k_low``/``k_high`` is K's profile-likelihood interval (the lag and the shape profiled
    out) within ``interval_lr_cut``; ``lag_low``/``lag_high`` the lag's, within
    ``lag_lr_cut``; ``interval_reference`` says how the cuts were obtained. ``k_open_low`` /
    ``k_open_high``: the interval reaches the grid's end there, so K may lie beyond (a
    one-sided statement: "K lies above k_low" when only ``k_open_high``). ``load_smoothed``: c
    is the load smoothed over 3 minutes (``stats.smooth_load``), not the readings, because the
    errors follow it more closely (a monitor's noise). ``interval_cut_band``: the Monte-Carlo
    error of K's cut (the replicates' order statistics that hold their true 95% point with
    probability about 0.9); ``k_low_band`` / ``k_high_band``: where each end of K's interval
    lies at either end of that band (both equal the end without replicates); ``lag_cut_band``
    the same band of the lag's cut. ``lag_open_high``: the lag's interval reaches the longest
    lag searched, so the delay may be longer (and K's interval, profiled over the lags
    searched, may not hold it). ``weakly_identified`` unless the rules hold at every cut of
    both bands and the lag's interval is closed (docs/statistics.md section 4).
    """

    k: float
    k_low: float
    k_high: float
    interval_lr_cut: float
    interval_reference: str
    interval_at_grid_edge: bool
    weakly_identified: bool
    lag_minutes: int
    lag_low: int
    lag_high: int
    b0_per_request: float
    b1_per_request_per_viewer: float
    family: str
    alpha: float
    converged: bool
    loglik: float
    k_grid: tuple
    k_profile_lr: tuple
    lag_profile_lr: tuple
    limits_in_interval: tuple
    nearest_limits: tuple
    shape_exponent: float
    lag_lr_cut: float
    k_open_low: bool
    k_open_high: bool
    minutes_at_onset: int
    load_smoothed: bool
    interval_cut_band: tuple
    k_low_band: tuple
    k_high_band: tuple
    lag_cut_band: tuple
    lag_open_high: bool = False
    #: Realtime's own reading of its limit in the fit's load, where its billing lines show it
    #: binding (``stats.platform_limit.read_platform_limit``); None elsewhere.
    platform_limit: dict | None = None
    #: Where the limit stopped binding while the load stayed above it (a limit raised in the
    #: window; ``stats.limit_change.find_limit_lifted``): K is fitted on the minutes before.
    limit_lifted: dict | None = None


@dataclass(frozen=True)
class HingeTest(_ToDict):
    """Sup-LR test of the hinge against a flat rate per request, parametric bootstrap."""

    lr: float
    p_value: float
    n_boot: int
    reference: str
    null_alpha: float
    p_value_bursty_null: float | None
    bursty_null_phi: float | None
    #: The null's lag: a flat rate per request that many minutes earlier (0 = unlagged).
    null_lag: int = 0


@dataclass(frozen=True)
class Elasticity(_ToDict):
    """Traffic-proportional (g = 1) against unrelated (g = 0): estimate, tests, Bayes factor.

    ``g`` is the elasticity of log E[y] = a + g log(requests) (Poisson QMLE, HAC ``se``), shown
    as a description. The decision rests on ``lr``, the log likelihood ratio of the two simple
    hypotheses (a flat rate per request against a constant mean), referred to simulations of
    each: ``p_value_zero`` tests g = 0 (no link to traffic; AR(1)-Cox replicates with the
    class's own burstiness), ``p_value_one`` g = 1 (independent minutes at a flat rate per
    request; the LR's lower tail and the persistence of the residuals, Bonferroni), and
    ``bayes_factor`` is the density of ``lr`` under g = 1 over its density under g = 0.
    ``g_with_own_failures`` is the elasticity with the class's own failing requests left in
    the denominator, shown to make the effect of removing them visible.
    """

    g: float
    se: float
    alpha: float
    converged: bool
    p_value_zero: float | None
    p_value_one: float | None
    n_boot: int
    g_with_own_failures: float | None
    lr: float | None = None
    bayes_factor: float | None = None
    #: The Bayes factor's cuts calibrated on the same replicates (``elasticity._calibrate_cuts``):
    #: traffic needs at least ``bf_cut_traffic``, unrelated at most 1 / ``bf_cut_unrelated``.
    bf_cut_traffic: float | None = None
    bf_cut_unrelated: float | None = None
    #: The mean of ``lr`` under g = 1 (the centre of the Bayes factor's g = 1 density): an
    #: ``lr`` at or beyond it lies on the far side of g = 1 from g = 0.
    lr_flat_mean: float | None = None


#: The verdict labels, spelled once for stats, findings.json and the locales' keys: capacity-driven,
#: traffic-proportional (a bug hit at a constant rate per request), unrelated to load,
#: undetermined (the data cannot tell traffic-proportional from unrelated) and insufficient data
#: (too few errors for any model).
CAPACITY, TRAFFIC, UNRELATED, INSUFFICIENT = "capacity", "traffic", "unrelated", "insufficient"
UNDETERMINED = "undetermined"
VERDICT_LABELS = (CAPACITY, TRAFFIC, UNRELATED, UNDETERMINED, INSUFFICIENT)


@dataclass(frozen=True)
class Verdict(_ToDict):
    """Capacity-driven, traffic-proportional, unrelated, undetermined or insufficient data.

    ``label`` is one of :data:`VERDICT_LABELS`; ``reason`` gives the numbers that decided;
    ``count_unit`` what was counted per minute; ``bayes_factor`` weighs a flat rate per
    request (g = 1) against no link to traffic (g = 0); ``decided_by`` says what settled it.
    """

    label: str
    reason: str
    hinge_p_value: float | None
    hinge_p_value_bursty_null: float | None
    elasticity: float | None
    p_value_zero: float | None
    p_value_one: float | None
    bursty: bool
    residual_phi: float | None
    caveat: str | None
    count_unit: str = "errors"
    bayes_factor: float | None = None
    #: What settled the label: "hinge" (capacity), "tests" (one of g = 0 / g = 1 rejected and
    #: not the other), "bayes_factor" (the tests did not settle it; the Bayes factor did),
    #: "few_sources" (the errors came from fewer than MIN_SOURCES users), "load_unknown" (a
    #: rate per viewer with no load series) or "none" (undetermined, insufficient).
    decided_by: str = "tests"
    #: Distinct users the class's errors came from in the window (None: not known).
    sources: int | None = None
    #: Why a hinge that passed both nulls was not taken as capacity evidence (docs/verdicts.md,
    #: "A capacity call needs a threshold in the data"): ``kind`` "no_onset" (K's interval
    #: reaches the lowest load searched; with ``k_low``, ``k_high``) or "time_bounded" (the
    #: errors stop while the load stays above K; ``p_value``, ``first_minute``, ``last_minute``
    #: of the window counted from 1, ``expected``); None otherwise.
    hinge_set_aside: dict | None = None
    #: For a capacity call: the comparison of the load with a window in time that let it
    #: stand (``stats.episodes.compare_load_to_time``: ``d``, ``p_load``, ``p_time``,
    #: ``first_minute``, ``last_minute``, ``share_inside``, ``share_outside``) and ``kept_by``:
    #: "load" (the time reading was not supported) or "limit_binding" (Realtime's counts show
    #: the limit binding in the window); None when not compared.
    load_vs_time: dict | None = None
    #: For a class the tests could not decide: how far apart a flat rate per request and no
    #: link to traffic are on this window's audience (``stats.verdicts.measure_separation``:
    #: ``d``, ``best_share_right``, ``viewers_low``, ``viewers_high``); None otherwise.
    separation: dict | None = None
    #: For a call by the Bayes factor: the cut it passed, calibrated on the class's own
    #: replicates (at least ``BAYES_FACTOR_CUT``); None otherwise.
    bayes_factor_cut: float | None = None
    #: For a class both elasticity tests reject that the Bayes factor would call
    #: traffic-proportional: the stretch of minutes its errors stop while requests go on,
    #: beyond a bursty flat rate's quiet spells (``stats.episodes.check_flat_rate_persists``:
    #: ``p_value``, ``first_minute``, ``last_minute``, ``expected``); the class is then
    #: undetermined. None when not found or not checked.
    quiet_run: dict | None = None
    #: For a class the Bayes factor would call unrelated whose likelihood ratio lies at or
    #: beyond the mean of a flat rate's (``lr``, ``flat_mean``): the data lie on the far side
    #: of a flat rate from no link, so the class is undetermined (docs/verdicts.md, "A Bayes
    #: factor beyond the flat rate"). None otherwise.
    beyond_flat: dict | None = None
    #: For a class called traffic-proportional, or unrelated by the Bayes factor with both
    #: tests rejecting: the minutes that failed most of their requests, when they hold most of
    #: its errors and a flat rate per request cannot give them
    #: (``stats.bayes_vetoes.check_mostly_failed``: ``first_minute``, ``last_minute``,
    #: ``minutes``, ``share``, ``failed_share``, ``flat_rate``, ``answered``, ``p_value``,
    #: ``begins``); the class is then undetermined. None otherwise.
    mostly_failed: dict | None = None
    #: For a class called traffic-proportional whose errors grow faster than a flat rate per
    #: request allows (``stats.bayes_vetoes.check_faster_than_flat``: ``g``, ``p_value``); the
    #: class is then undetermined. None otherwise.
    faster_than_flat: dict | None = None
    #: No load series was measured (no viewer or presence samples): no capacity test ran, and
    #: the label weighs a flat rate per request against no link to traffic on the requests
    #: alone (``decided_by`` "load_unknown" when even that could not run).
    load_unknown: bool = False


@dataclass(frozen=True)
class CrossCorrelation(_ToDict):
    """CCF of prewhitened series; r[k] = corr(load[t], errors[t+k]); k > 0: load leads."""

    ar_order: int
    ar_coefficients: tuple
    lags: tuple
    r: tuple
    load_leads_max_abs_r: float
    load_leads_lag: int
    load_leads_p_value: float
    errors_lead_max_abs_r: float
    errors_lead_lag: int
    errors_lead_p_value: float
    n_shifts: int
    reference: str


@dataclass(frozen=True)
class LoadCoefficient(_ToDict):
    """log E[errors_t] = a + d t + b z(c[t]), no offset; HAC z calibrated by circular shifts.

    ``coefficient_by_lag`` / ``z_by_lag`` (lags 0..5, z(c[t-L])) are descriptive only.
    """

    coefficient_per_sd: float
    z: float
    p_value: float
    coefficient_by_lag: tuple
    z_by_lag: tuple
    alpha: float
    n_shifts: int
    reference: str


@dataclass(frozen=True)
class Coincidence(_ToDict):
    """Event coincidence analysis of load spikes (A) and error peaks (B)."""

    n_spikes: int
    n_error_peaks: int
    window_minutes: int
    precursor_rate: float | None
    precursor_p_value: float | None
    trigger_rate: float | None
    trigger_p_value: float | None
    precursor_rate_by_lag: tuple
    trigger_rate_by_lag: tuple
    n_shifts: int
    reference: str


@dataclass(frozen=True)
class Burst(_ToDict):
    """One burst of errors out of requests (batched Kleinberg state >= 1)."""

    start: str
    end: str
    level: int
    errors: int
    requests: int


@dataclass(frozen=True)
class ChangePoints(_ToDict):
    """PELT (l2 on Anscombe-transformed errors, jump=1) over a penalty sweep."""

    sigma2: float
    penalties: tuple
    breakpoints_by_penalty: tuple
    stability: tuple


@dataclass(frozen=True)
class Spread(_ToDict):
    """How a class spreads over one kind of source (users, clients or endpoints) per minute."""

    source: str
    max_per_minute: int
    median_per_error_minute: float
    source_minutes: int
    errors_per_source_minute: float | None


@dataclass(frozen=True)
class Signals(_ToDict):
    """What counts alone throw away: spread, denominator, latency, Realtime saturation.

    ``latency_load_rho`` is Spearman's rho of the denominator's latency with concurrency,
    ``latency_load_p_value`` its rank among all circular shifts; ``latency_ratio`` the median
    latency in the minutes holding the top half of the class's errors over the other minutes.
    Realtime fields compare ``connected`` with ``limit`` (billing metrics).
    """

    count_unit: str
    denominator: str
    own_failures_excluded: int
    spread: tuple[Spread, ...]
    latency_ratio: float | None
    latency_load_rho: float | None
    latency_load_p_value: float | None
    realtime_peak_share_of_limit: float | None
    realtime_saturated_minutes: int | None
    realtime_errors_in_saturated_share: float | None
    #: What the denominator is: "requests", "viewers_realtime" (a Realtime class's units at
    #: risk), "viewers_no_requests" or "viewers_own_failures" (the viewers stand in for
    #: requests that were not logged, or that are all the class's own failures).
    denominator_kind: str = "requests"
    #: The class's errors with no response in the gateway export (a sampled or partial
    #: export), left out of the numerator of its rate per request
    #: (``stats.exposure.keep_logged_requests``).
    errors_without_request: int = 0
    #: Requests to the class's endpoints answered by a failure that comes earlier in a
    #: request's path (a connection refused, a statement that never ran), left out of its
    #: denominator (``stats.exposure.drop_masked_requests``).
    masked_requests_excluded: int = 0
    #: Distinct pseudonymised client addresses the class's errors came from in the window, and
    #: those that reached its endpoints (``stats.series.count_addresses``); None unknown.
    addresses: int | None = None
    endpoint_addresses: int | None = None


@dataclass(frozen=True)
class ClassResult(_ToDict):
    """Everything the report shows for one error class."""

    n_minutes: int
    total_errors: int
    total_requests: int
    zero_request_minutes: int
    verdict: Verdict
    hinge_test: HingeTest | None
    threshold: ThresholdFit | None
    elasticity: Elasticity | None
    cross_correlation: CrossCorrelation | None
    load_coefficient: LoadCoefficient | None
    coincidence: Coincidence | None
    bursts: tuple[Burst, ...]
    change_points: ChangePoints | None
    seed: int
    signals: Signals | None = None


@dataclass(frozen=True)
class WebinarStatistics(_ToDict):
    """Every class's result for one webinar, with the settings that produced them.

    Attributes
    ----------
    seed, n_boot, alpha_level
        The webinar seed (each class derives its own), bootstrap replicates, test level.
    supabase_limits
        The published connection limits the thresholds are set beside (dicts).
    classes
        Error class key -> its :class:`ClassResult`, keys sorted.
    """

    seed: int
    n_boot: int
    alpha_level: float
    supabase_limits: tuple
    classes: dict[str, ClassResult]


#: Columns of :func:`tabulate_statistics`, one row per class.
STATISTICS_COLUMNS = (
    "error_class", "errors", "requests", "verdict", "hinge_p", "hinge_p_bursty_null", "k",
    "k_low", "k_high", "lag_minutes", "elasticity", "residual_phi",
)  # fmt: skip


def tabulate_statistics(statistics: WebinarStatistics | None) -> pd.DataFrame:
    """Return one row per class: counts, verdict, hinge p-values, K with its interval, lag, g.

    None (a window without error classes) gives the empty table with the same columns.
    """
    rows = []
    for key, res in ({} if statistics is None else statistics.classes).items():
        test, fit, v = res.hinge_test, res.threshold, res.verdict
        rows.append(
            (
                key,
                res.total_errors,
                res.total_requests,
                v.label,
                None if test is None else test.p_value,
                None if test is None else test.p_value_bursty_null,
                None if fit is None else fit.k,
                None if fit is None else fit.k_low,
                None if fit is None else fit.k_high,
                None if fit is None else fit.lag_minutes,
                v.elasticity,
                v.residual_phi,
            )  # fmt: skip
        )
    return pd.DataFrame(rows, columns=list(STATISTICS_COLUMNS))
