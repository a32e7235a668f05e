"""Do errors follow load, and where is the breaking point? Statistics on per-minute series.

Input: the per-minute frame of docs/contract.md section 3 (``minute``, ``requests``, ``errors``,
``concurrency``); nothing here reads files or sees ground truth. Output: frozen dataclasses with
``to_dict()`` (plain JSON types) for findings.json.

Method choices follow the simulation study described in docs/statistics.md; every p-value
comes from a reference distribution that keeps the errors' autocorrelation:

- **Capacity** (primary evidence): errors ~ NB2 with rate requests x (b0 + b1 x max(0, c[t-L]
  - K)). K and L by profile likelihood over a grid; b0, b1 profiled exactly per grid cell by
  Fisher scoring (identity link). The sup-LR test against a flat rate per request is calibrated
  by a parametric bootstrap under the fitted flat NB model (not chi-square: K and L are not
  identified under the null).
- **Verdict** (docs/verdicts.md): capacity-driven only if the hinge test rejects under both the
  flat NB null and a bursty AR(1)-Cox flat null. Otherwise two calibrated tests of the
  elasticity g of errors in requests decide: g = 0 (no link to traffic; all circular shifts)
  and g = 1 (a flat rate per request; AR(1)-Cox parametric bootstrap). Traffic-proportional
  when only g = 0 is rejected, unrelated when only g = 1 is, ``undetermined`` ("the data
  cannot tell") when neither is.
- **What is counted**: when the frame says which clients (else users) each minute's errors came
  from, the models count affected clients per minute, so one client's retry loop is one
  failure, not fifty; the denominator is the requests to the endpoints where the class occurs
  minus the class's own failing requests.
- **Threshold region**: K and the lag are estimated jointly; their 95% region is the set of
  grid cells whose LR against the best is below a cut calibrated by a parametric bootstrap at
  the fit (never below chi-square(2)'s 5.99), and K's interval and the lag range are its
  projections; "well identified" needs both to be narrow.
- **Lagged association**: CCF of AR-prewhitened series and a load coefficient in a count model
  without offset, both calibrated over all circular shifts (an exact randomisation test over
  the group of shifts; subsets of shifts are not).
- **Event coincidence**: precursor and trigger rates of load spikes and error peaks, same null.
- **Bursts and regimes**: batched Kleinberg bursts of errors out of requests; PELT
  (l2, jump=1) change points with a penalty sweep as a stability table.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import types
import typing
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from analysis._util import jsonable
from analysis.exceptions import StatsError

# --------------------------------------------------------------------------------------------
# Published limits (data, not logic)
# --------------------------------------------------------------------------------------------

#: Supabase's published connection ceilings the threshold K is set beside. Sources: Realtime
#: "Limits" page (concurrent connections by plan) and compute-and-disk.mdx "Limits and
#: constraints" (Postgres max connections, Supavisor pooler max clients by compute size), as
#: listed with their sources in docs/statistics.md section 7.
_REALTIME_LIMITS_URL = "supabase.com/docs/guides/realtime/limits"
_COMPUTE_LIMITS_URL = "supabase/supabase: apps/docs/content/guides/platform/compute-and-disk.mdx"
#: (compute size, Postgres max connections, Supavisor pooler max clients)
_COMPUTE_SIZES = (
    ("Nano", 60, 200),
    ("Micro", 60, 200),
    ("Small", 90, 400),
    ("Medium", 120, 600),
    ("Large", 160, 800),
    ("XL", 240, 1000),
    ("2XL", 380, 1500),
    ("4XL", 480, 3000),
)
SUPABASE_LIMITS: tuple[dict, ...] = (
    *(
        {
            "product": "Realtime",
            "quantity": "concurrent connections",
            "tier": f"{plan} plan",
            "limit": limit,
            "source": _REALTIME_LIMITS_URL,
        }
        for plan, limit in (("Free", 200), ("Pro", 500), ("Team", 10000))
    ),
    *(
        {
            "product": "Postgres",
            "quantity": "max connections",
            "tier": f"{size} compute",
            "limit": pg,
            "source": _COMPUTE_LIMITS_URL,
        }
        for size, pg, _ in _COMPUTE_SIZES
    ),
    *(
        {
            "product": "Supavisor pooler",
            "quantity": "max clients",
            "tier": f"{size} compute",
            "limit": pool,
            "source": _COMPUTE_LIMITS_URL,
        }
        for size, _, pool in _COMPUTE_SIZES
    ),
)


# --------------------------------------------------------------------------------------------
# Method constants (choices, each with its reason; not expected results)
# --------------------------------------------------------------------------------------------

ALPHA_LEVEL = 0.05
#: Smallest LR cut of the joint (K, lag) region: chi-square(2)'s 95% point. The cut actually
#: used is the 95% quantile of the LR at the fitted cell over parametric-bootstrap replicates
#: from the fit, when that is larger (K is non-regular, so the asymptotic cut under-covers).
K_INTERVAL_LR_CUT = 5.99
#: Replicates for the region's cut (its 95% quantile: the 3rd largest of 49).
REGION_BOOT = 49
#: Grid cells whose LR exceeds this are left out of the region's replicate fits (far from the
#: fitted cell, they hold a replicate's maximum only when the replicate's own LR at the fitted
#: cell is far beyond any cut; this only saves time).
REGION_GRID_LR = 20.0
#: K is "weakly identified" when its interval is wider than this share of K, or when the lag
#: range of the region spans more than MAX_LAG_SPREAD minutes.
WEAK_IDENTIFICATION_WIDTH = 0.20
MAX_LAG_SPREAD = 2
#: Realtime: a minute counts as "at the limit" when connected >= this share of the limit
#: (descriptive evidence shown beside Realtime verdicts).
SATURATION_SHARE = 0.95
#: Grid: K from 20 viewers, at least 3 minutes above K, lags 0-5 minutes.
K_MIN, K_STEP, MIN_MINUTES_ABOVE, MAX_LAG = 20.0, 2.0, 3, 5
#: Coarser K grid for the bootstrap test statistic (same statistic for data and replicates).
TEST_GRID_SIZE = 40
#: Cross-correlation: r is shown for lags -15..15; each direction is tested on 0..5 minutes.
#: A wide test window is nearly shift-invariant (a shift that keeps the peak inside the window
#: ties with the data), which leaves the all-shift test almost no power.
CCF_MAX_LAG, CCF_TEST_LAG, COUNT_MODEL_LAGS = 15, 5, 6
#: Event definitions for coincidence analysis: load spikes above the 80th percentile of
#: concurrency, error peaks above the 90th percentile of errors; coincidence window 0-3 min.
#: (An error peak is one minute; a *burst* is Kleinberg's run, :func:`detect_bursts`.)
SPIKE_QUANTILE, PEAK_QUANTILE, ECA_WINDOW, ECA_LAGS = 0.8, 0.9, 3, 6
#: Lag-1 autocorrelation of Pearson residuals above which a class counts as bursty (about
#: 2.3 standard errors of an iid series of 60 minutes).
BURSTY_PHI = 0.3
#: Fewest errors in the hour for any model to be fitted.
MIN_ERRORS = 5
#: Sequential bootstrap: stop once this many replicates reach the observed statistic.
BOOT_STOP_EXCEED = 10
#: Requests of 0 in a minute are raised to this exposure (rate per request needs exposure > 0).
MIN_EXPOSURE = 0.5
#: PELT penalty sweep, as multiples of sigma^2 log(n) (BIC-type; a sweep because BIC alone
#: tends to give too low a penalty, docs/statistics.md section 6).
PELT_PENALTY_MULTIPLIERS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


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
    """Hinge model fitted by profile likelihood: K, the lag, their joint region, the rates.

    ``k_low``/``k_high`` and ``lag_low``/``lag_high`` are the projections of the joint (K, lag)
    region whose LR is within ``interval_lr_cut`` of the best cell; ``interval_reference`` says
    how that cut was obtained.
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


@dataclass(frozen=True)
class Elasticity(_ToDict):
    """log E[y] = a + g log(requests), NB2 without offset, with two calibrated tests.

    ``p_value_zero`` tests g = 0 (no link to traffic), ``p_value_one`` g = 1 (a flat rate per
    request), each against replicates of its null with AR(1)-Cox noise fitted to the data (so
    a class's own bursts do not reject it).
    ``g_with_own_failures`` is the same fit with the class's own failing requests left in the
    denominator, shown to make the effect of removing them visible.
    """

    g: float
    se: float
    alpha: float
    converged: bool
    p_value_zero: float | None
    p_value_one: float | None
    n_boot: int
    g_with_own_failures: float | None


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
    ``count_unit`` what was counted per minute.
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


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


def extract_series(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Return (errors, requests, concurrency, minute labels) from a per-minute frame.

    Raises :class:`StatsError` naming the column and row of any missing, negative or
    non-integer value.
    """
    if not isinstance(frame, pd.DataFrame):
        raise StatsError(f"per-minute frame: expected a pandas DataFrame, found {type(frame)}")
    missing = [c for c in ("errors", "requests", "concurrency") if c not in frame.columns]
    if missing:
        raise StatsError(
            f"per-minute frame: missing column(s) {missing}; expected minute, requests, errors, "
            f"concurrency (docs/contract.md section 3), found {list(frame.columns)}"
        )
    out = []
    for col in ("errors", "requests", "concurrency"):
        values = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
        if bad.any():
            row = int(np.argmax(bad))
            raise StatsError(
                f"per-minute frame, row {row}, column '{col}': expected a count >= 0, "
                f"found {frame[col].iloc[row]}"
            )
        out.append(values)
    if len(frame) < 17:
        raise StatsError(f"per-minute frame: expected at least 17 minutes, found {len(frame)}")
    if "minute" in frame.columns:
        labels = [pd.Timestamp(m).isoformat() for m in frame["minute"]]
    else:
        labels = [str(i) for i in range(len(frame))]
    return out[0], out[1], out[2], labels


#: Optional per-minute columns of the class frame (docs/contract.md section 3) and what they are.
SIGNAL_COLUMNS = {
    "failed_requests": "the class's own failing requests among 'requests'",
    "users": "distinct pseudonymised users with an error of the class",
    "clients": "distinct clients with an error of the class",
    "endpoints": "distinct endpoints with an error of the class",
    "latency_ms": "median latency (origin_time) of the denominator's requests",
    "rt_connected": "Realtime connected (billing metrics, max in the minute)",
    "rt_limit": "Realtime connection limit (billing metrics)",
}


def extract_signals(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return the optional signal columns present in ``frame`` as float arrays (NaN = unknown).

    Raises :class:`StatsError` naming the column and row of a negative value.
    """
    out = {}
    for col in SIGNAL_COLUMNS:
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
        if np.isnan(values).all():
            continue
        bad = values < 0
        if bad.any():
            row = int(np.argmax(bad))
            raise StatsError(
                f"per-minute frame, row {row}, column '{col}': expected a value >= 0 "
                f"({SIGNAL_COLUMNS[col]}), found {frame[col].iloc[row]}"
            )
        out[col] = values
    return out


def interpolate_unsampled(concurrency: np.ndarray, samples: np.ndarray | None) -> np.ndarray:
    """Return concurrency with minutes that had no monitor sample interpolated linearly.

    A minute without a sample carries the last reading forward, which on a steep ramp is
    stale by the whole ramp's rise; the hinge would then put K below the truth. Interpolating
    between the sampled minutes on either side is the unbiased guess for a smooth audience.
    Minutes before the first or after the last sample keep their (carried) values.
    """
    c = np.asarray(concurrency, dtype=float)
    if samples is None:
        return c
    seen = np.asarray(samples, dtype=float) > 0
    if seen.sum() < 2 or seen.all():
        return c
    t = np.arange(len(c))
    out = c.copy()
    inside = (~seen) & (t > t[seen][0]) & (t < t[seen][-1])
    out[inside] = np.interp(t[inside], t[seen], c[seen])
    return out


def choose_counts(errors: np.ndarray, signals: dict) -> tuple[np.ndarray, str]:
    """Return the per-minute series the verdict models, and its unit.

    Affected users per minute when the frame has them (else clients): a capacity limit fails
    many users at once, while a retry loop or a misbehaving client repeats one failure many
    times; counting failing users keeps the second from posing as a surge. Users come first
    because a log's client is often a software family (one value for thousands of browsers).
    Minutes where the source is unknown (NaN) fall back to the error count. Without such
    columns: errors.
    """
    y = np.asarray(errors, dtype=float)
    for col, unit in (("users", "users with errors"), ("clients", "clients with errors")):
        if col in signals:
            units = signals[col]
            return np.where(np.isnan(units), y, np.minimum(units, y)), unit
    return y, "errors"


def is_realtime_class(frame: pd.DataFrame) -> bool:
    """Whether the frame's class is a Realtime one (from ``attrs``: source or class key)."""
    attrs = frame.attrs
    return bool(
        attrs.get("source") == "realtime_events"
        or str(attrs.get("error_class", "")).startswith("realtime:")
    )


def exposure_of(
    requests: np.ndarray,
    signals: dict,
    viewers: np.ndarray | None = None,
    counted: np.ndarray | None = None,
) -> tuple[np.ndarray, str, int]:
    """Return (denominator per minute, its description, own failures excluded).

    The class's repeated failures are taken out of the denominator: a burst of N failing
    requests from one user would otherwise add N requests and manufacture a rise of errors with
    traffic. One request per failure counted in the numerator (``counted``: affected users or
    clients per minute) stays in, because it is the request that was at risk; so a flat bug
    without retries keeps all its requests, and a minute whose only requests failed still has
    an exposure. Without ``counted`` every failing request leaves. For a Realtime class
    (``viewers`` given) the units at risk are connections, not requests: a refused client
    reconnects in a loop, so websocket requests grow with the errors themselves; the
    denominator is then the concurrent viewers.
    """
    if viewers is not None:
        return np.asarray(viewers, dtype=float), "concurrent viewers (a Realtime class)", 0
    r = np.asarray(requests, dtype=float)
    failed = signals.get("failed_requests")
    if failed is None:
        return r, "requests (the class's own failures could not be identified)", 0
    failed = np.minimum(np.nan_to_num(failed), r)
    if counted is not None:
        failed = np.maximum(failed - np.asarray(counted, dtype=float), 0.0)
    text = "requests without the class's repeated failing requests"
    return r - failed, text, int(round(failed.sum()))


def lag_padded(x: np.ndarray, lag: int) -> np.ndarray:
    """Return x[t - lag], the first ``lag`` minutes padded with x[0] (no data before the window)."""
    x = np.asarray(x, dtype=float)
    if lag == 0:
        return x
    return np.concatenate([np.full(lag, x[0]), x[:-lag]])


# --------------------------------------------------------------------------------------------
# Count-model machinery (vectorised; NB2 with variance mu + alpha mu^2, alpha = 0 is Poisson)
# --------------------------------------------------------------------------------------------


def _nb_kernel(y, mu, alpha):
    """NB2 log-likelihood up to terms in y and alpha only (Poisson kernel when alpha = 0)."""
    a = np.maximum(alpha, 1e-10)
    return np.sum(y * np.log(mu) - (y + 1.0 / a) * np.log1p(a * mu), axis=-1)


def nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """Full NB2 log-likelihood (Poisson when alpha is 0)."""
    y = np.asarray(y, dtype=float)
    if alpha <= 1e-10:
        return float(np.sum(y * np.log(mu) - mu - special.gammaln(y + 1)))
    inv = 1.0 / alpha
    return float(
        np.sum(
            special.gammaln(y + inv)
            - special.gammaln(inv)
            - special.gammaln(y + 1)
            + y * np.log(alpha * mu / (1 + alpha * mu))
            - inv * np.log1p(alpha * mu)
        )
    )


def _moment_alpha(y, mu):
    """Moment estimate of NB2 alpha: sum((y-mu)^2 - mu) / sum(mu^2), clipped at 0."""
    den = np.sum(mu * mu, axis=-1)
    num = np.sum((y - mu) ** 2 - mu, axis=-1)
    return np.maximum(0.0, np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))


def _fit_flat(y, r, alpha, iters=30):
    """Flat rate per request, mu = b0 r, NB2 with fixed alpha; y (B, n) -> b0 (B,), ll (B,)."""
    b0 = y.sum(-1) / r.sum()
    b0 = np.maximum(b0, 1e-12)
    a = np.asarray(alpha, dtype=float)
    for _ in range(iters):
        mu = b0[:, None] * r
        w = 1.0 / (mu * (1 + a[..., None] * mu))
        step = np.sum((y - mu) * w * r, -1) / np.sum(w * r * r, -1)
        new = np.maximum(b0 + step, b0 / 10)
        if np.all(np.abs(new - b0) <= 1e-10 * b0):
            b0 = new
            break
        b0 = new
    return b0, _nb_kernel(y, b0[:, None] * r, a[..., None])


def _fit_hinge_grid(y, r, hinge, alpha, iters=40, tol=1e-8):
    """Profile b0, b1 >= 0 for every hinge column by Fisher scoring (identity link).

    y (B, n), r (n,), hinge (G, n), alpha (B,) -> ll (B, G), b0, b1 (B, G), converged (B, G).
    """
    yb = y[:, None, :]
    a = np.asarray(alpha, dtype=float).reshape(-1, 1, 1) * np.ones((y.shape[0], 1, 1))
    rh = r * hinge  # (G, n)
    b0 = (y.sum(-1) / r.sum())[:, None, None] * np.ones((1, hinge.shape[0], 1))
    b0 = np.maximum(b0, 1e-12)
    excess = np.sum(yb * hinge, -1, keepdims=True) - b0 * np.sum(rh * hinge, -1, keepdims=True)
    b1 = np.maximum(excess / np.maximum(np.sum(rh * hinge * hinge, -1, keepdims=True), 1e-12), 0)
    b1 = np.maximum(b1, 1e-3 * b0 / np.maximum(hinge.max(-1, keepdims=True), 1.0))
    mu = r * b0 + rh * b1
    ll = _nb_kernel(yb, mu, a)
    done = np.zeros(ll.shape, dtype=bool)
    for _ in range(iters):
        w = 1.0 / (mu * (1 + a * mu))
        rw = r * w
        a00 = np.sum(rw * r, -1, keepdims=True)
        a01 = np.sum(rw * rh, -1, keepdims=True)
        a11 = np.sum(rw * rh * hinge, -1, keepdims=True)
        res = (yb - mu) * rw
        g0 = np.sum(res, -1, keepdims=True)
        g1 = np.sum(res * hinge, -1, keepdims=True)
        det = np.maximum(a00 * a11 - a01 * a01, 1e-300)
        d0 = (a11 * g0 - a01 * g1) / det
        d1 = (a00 * g1 - a01 * g0) / det
        # b1 = 0 boundary: a b0-only scoring step instead of the joint one.
        at_bound = b1 + d1 <= 0
        d0 = np.where(at_bound, g0 / a00, d0)
        d1 = np.where(at_bound, -b1, d1)
        new0 = np.maximum(b0 + d0, b0 / 10)
        new1 = b1 + d1
        new_mu = r * new0 + rh * new1
        new_ll = _nb_kernel(yb, new_mu, a)
        # Step halving where the likelihood fell (identity-link scoring can overshoot). Only
        # the cells that fell are recomputed (same arithmetic per cell, a fraction of the work).
        for _ in range(6):
            bad = new_ll < ll - 1e-12
            if not bad.any():
                break
            ib, ig = np.nonzero(bad)
            new0[ib, ig] = 0.5 * (new0[ib, ig] + b0[ib, ig])
            new1[ib, ig] = 0.5 * (new1[ib, ig] + b1[ib, ig])
            sub_mu = r * new0[ib, ig] + rh[ig] * new1[ib, ig]
            new_mu[ib, ig] = sub_mu
            new_ll[ib, ig] = _nb_kernel(y[ib], sub_mu, a[ib, 0])
        bad = new_ll < ll
        new0 = np.where(bad[..., None], b0, new0)
        new1 = np.where(bad[..., None], b1, new1)
        new_ll = np.where(bad, ll, new_ll)
        done = np.abs(new_ll - ll) < tol
        # A cell that kept its old coefficients keeps its old mean (r b0 + rh b1, unchanged).
        mu = np.where(bad[..., None], mu, new_mu)
        b0, b1, ll = new0, new1, new_ll
        if done.all():
            break
    return ll, b0[..., 0], b1[..., 0], done


def _fit_loglinear(y, x, alpha, iters=30):
    """NB2 log-link fits of one y on S designs. y (n,), x (S, n, p) -> beta (S, p), HAC se, ok.

    Standard errors are Newey-West (Bartlett, floor(4 (n/100)^(2/9)) lags); they only scale the
    statistic, whose reference distribution comes from circular shifts.
    """
    s, n, p = x.shape
    beta = np.zeros((s, p))
    beta[:, 0] = np.log(max(y.mean(), 1e-3))
    ok = np.zeros(s, dtype=bool)
    for _ in range(iters):
        eta = np.einsum("snp,sp->sn", x, beta)
        mu = np.exp(np.clip(eta, -30, 30))
        w = mu / (1 + alpha * mu)
        z = eta + (y - mu) / mu
        xtw = x * w[..., None]
        info = np.einsum("snp,snq->spq", xtw, x)
        rhs = np.einsum("snp,sn->sp", xtw, z)
        new = np.linalg.solve(info + 1e-10 * np.eye(p), rhs[..., None])[..., 0]
        ok = np.all(np.abs(new - beta) < 1e-8 * (1 + np.abs(beta)), axis=1)
        beta = new
        if ok.all():
            break
    eta = np.einsum("snp,sp->sn", x, beta)
    mu = np.exp(np.clip(eta, -30, 30))
    info = np.einsum("snp,snq->spq", x * (mu / (1 + alpha * mu))[..., None], x)
    score = x * ((y - mu) / (1 + alpha * mu))[..., None]
    meat = np.einsum("snp,snq->spq", score, score)
    nlags = int(math.floor(4 * (n / 100) ** (2 / 9)))
    for j in range(1, nlags + 1):
        gamma = np.einsum("snp,snq->spq", score[:, j:], score[:, :-j])
        meat += (1 - j / (nlags + 1)) * (gamma + np.swapaxes(gamma, 1, 2))
    bread = np.linalg.inv(info + 1e-10 * np.eye(p))
    cov = bread @ meat @ bread
    se = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 1e-300))
    return beta, se, ok & np.all(np.isfinite(beta), axis=1)


# --------------------------------------------------------------------------------------------
# Hinge: grid, test, threshold
# --------------------------------------------------------------------------------------------


def build_hinge_grid(concurrency: np.ndarray, k_values: np.ndarray, max_lag: int = MAX_LAG):
    """Return (hinge columns (G, n), K (G,), L (G,)) for cells with >= 3 minutes above K."""
    cols, ks, ls = [], [], []
    for lag in range(max_lag + 1):
        lagged = lag_padded(concurrency, lag)
        above = (lagged[None, :] > k_values[:, None]).sum(1)
        keep = above >= MIN_MINUTES_ABOVE
        cols.append(np.maximum(0.0, lagged[None, :] - k_values[keep, None]))
        ks.append(k_values[keep])
        ls.append(np.full(keep.sum(), lag))
    return np.concatenate(cols), np.concatenate(ks), np.concatenate(ls)


def _test_grid(concurrency):
    top = float(np.max(concurrency))
    if top <= K_MIN:
        return None
    return build_hinge_grid(concurrency, np.linspace(K_MIN, top, TEST_GRID_SIZE, endpoint=False))


def _sup_lr(y, r, hinge):
    """Return the sup-LR statistic for data or replicates y (B, n).

    alpha by moments at the flat fit, then 2 (max over the grid of the NB hinge
    log-likelihood - NB flat log-likelihood), both with that alpha.
    """
    b0 = y.sum(-1) / r.sum()
    alpha = _moment_alpha(y, b0[:, None] * r)
    _, ll_flat = _fit_flat(y, r, alpha)
    # 8 scoring steps put the grid maximum within 1e-9 of its converged value in trials; the
    # statistic is the same function for data and replicates, so the test stays calibrated.
    ll, _, _, _ = _fit_hinge_grid(y, r, hinge, alpha, iters=8, tol=1e-7)
    return np.maximum(0.0, 2 * (ll.max(1) - ll_flat))


def fit_flat_nb(y: np.ndarray, r: np.ndarray) -> tuple[float, float, bool]:
    """ML fit of errors ~ NB2(b0 x requests, alpha); returns (b0, alpha, converged).

    Falls back to Poisson (alpha = 0) at the boundary, where NB's MLE does not exist.
    """

    def negll(log_alpha):
        a = math.exp(log_alpha)
        b0, _ = _fit_flat(y[None, :], r, np.array([a]))
        return -nb_loglik(y, b0[0] * r, a)

    pois = y.sum() / r.sum()
    if _moment_alpha(y, pois * r) <= 0:
        return float(pois), 0.0, True
    res = optimize.minimize_scalar(negll, bounds=(math.log(1e-6), math.log(1e3)), method="bounded")
    alpha = math.exp(res.x)
    if alpha < 1e-5 or -res.fun < nb_loglik(y, pois * r, 0.0):
        return float(pois), 0.0, bool(res.success)
    b0, _ = _fit_flat(y[None, :], r, np.array([alpha]))
    return float(b0[0]), alpha, bool(res.success)


def simulate_nb(mu: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Draw NB2 counts (Poisson when alpha is 0) with the given means."""
    if alpha <= 0:
        return rng.poisson(mu)
    return rng.poisson(rng.gamma(1.0 / alpha, alpha * mu))


def _fit_cox_moments(y, mu):
    """AR(1)-Cox moments of residual burstiness: (sigma^2, phi) of the log-intensity.

    Variance from overdispersion, persistence from the lag-1 autocovariance of y / mu. A
    series can be persistent yet not overdispersed (counts of affected clients, capped at one
    per client and minute, in runs); a Cox process cannot, so when the autocovariance is
    significant (beyond two null standard errors) and exceeds the overdispersion, the variance
    is raised to it (phi at its cap), which keeps the runs in the null, conservatively.
    """
    alpha = float(_moment_alpha(y, mu))
    e = (y - mu) / mu
    c1 = float(np.mean(e[1:] * e[:-1]))
    # Only a lag-1 autocovariance beyond two of its null standard errors counts as runs.
    runs = c1 > 2 * float(np.mean(e * e)) / math.sqrt(max(len(y) - 1, 1))
    sigma2 = math.log1p(max(alpha, c1 if runs else 0.0, 0.0))
    if sigma2 <= 1e-6:
        return 0.0, 0.0
    phi = math.log1p(max(c1, -0.99)) / sigma2 if c1 > 0 else 0.0
    return sigma2, float(min(max(phi, 0.0), 0.95))


def _simulate_cox(mu, sigma2, phi, size, rng):
    n = mu.shape[-1]
    z = np.empty((size, n))
    z[:, 0] = rng.standard_normal(size)
    innov = rng.standard_normal((size, n)) * math.sqrt(1 - phi * phi)
    for t in range(1, n):
        z[:, t] = phi * z[:, t - 1] + innov[:, t]
    sd = math.sqrt(sigma2)
    return rng.poisson(mu * np.exp(sd * z - sigma2 / 2))


def _bootstrap_p(observed, draw, r, hinge, n_boot, chunk=25, stop_after=BOOT_STOP_EXCEED):
    """Monte-Carlo p-value of ``observed`` among replicates drawn by ``draw(size)``.

    Sequential (Besag and Clifford 1991): replicates come ``chunk`` at a time and sampling
    stops once ``stop_after`` of them reach the observed value, with p = exceedances / drawn;
    otherwise p = (1 + exceedances) / (n_boot + 1). With 10 exceedances the early p is at
    least 0.1, so every decision at 0.05 is the one the full n_boot would give.
    """
    exceed = drawn = 0
    while drawn < n_boot:
        size = min(chunk, n_boot - drawn)
        reps = draw(size).astype(float)
        exceed += int(np.sum(_sup_lr(reps, r, hinge) >= observed - 1e-9))
        drawn += size
        if exceed >= stop_after and drawn < n_boot:
            return exceed / drawn
    return (1 + exceed) / (n_boot + 1)


def compare_hinge_to_flat(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int = 199,
) -> HingeTest | None:
    """Sup-LR test of a hinge in lagged concurrency against a flat rate per request.

    The statistic's reference distribution is a parametric bootstrap under the flat NB2 model
    fitted by ML. Returns None when no grid cell exists (concurrency never above the floor).
    """
    y = np.asarray(errors, dtype=float)
    r = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    grid = _test_grid(concurrency)
    if grid is None or len(grid[1]) == 0:
        return None
    hinge = grid[0]
    observed = float(_sup_lr(y[None, :], r, hinge)[0])
    b0, alpha, _ = fit_flat_nb(y, r)
    mu = b0 * r
    p_value = _bootstrap_p(
        observed,
        lambda size: simulate_nb(np.broadcast_to(mu, (size, len(mu))), alpha, rng),
        r,
        hinge,
        n_boot,
    )
    return HingeTest(
        lr=observed,
        p_value=p_value,
        n_boot=n_boot,
        reference="parametric bootstrap under the flat NB2 rate per request (ML fit)",
        null_alpha=alpha,
        p_value_bursty_null=None,
        bursty_null_phi=None,
    )


def add_bursty_null(
    test: HingeTest,
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    *,
    rng: np.random.Generator,
) -> HingeTest:
    """Return ``test`` with a second p-value under a bursty (AR(1)-Cox) flat null.

    The Cox moments (variance and lag-1 persistence of the log-intensity) come from the flat
    fit, so the null keeps the errors' burstiness; the gap between the two p-values is how
    uncertain a capacity call is when errors are bursty.
    """
    y = np.asarray(errors, dtype=float)
    r = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    hinge = _test_grid(concurrency)[0]
    mu = r * y.sum() / r.sum()
    sigma2, phi = _fit_cox_moments(y, mu)
    p_value = _bootstrap_p(
        test.lr, lambda size: _simulate_cox(mu, sigma2, phi, size, rng), r, hinge, test.n_boot
    )
    return dataclasses.replace(test, p_value_bursty_null=p_value, bursty_null_phi=phi)


def _fit_hinge_ml(y, r, hinge_col, start):
    """Joint ML of (b0, b1, alpha) at one grid cell; returns (b0, b1, alpha, converged)."""
    scale0 = max(start[0], 1e-9)
    scale1 = max(start[1], scale0 * 1e-3)

    def negll(p):
        b0, b1, log_a = p[0] * scale0, p[1] * scale1, p[2]
        mu = r * (b0 + b1 * hinge_col)
        return -nb_loglik(y, mu, math.exp(log_a))

    res = optimize.minimize(
        negll,
        x0=np.array([1.0, max(start[1], 0) / scale1, math.log(0.3)]),
        method="L-BFGS-B",
        bounds=[(1e-6, None), (0.0, None), (math.log(1e-6), math.log(1e3))],
    )
    return res.x[0] * scale0, res.x[1] * scale1, math.exp(res.x[2]), bool(res.success)


def estimate_threshold(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    n_region_boot: int = REGION_BOOT,
) -> ThresholdFit | None:
    """Estimate K and the lag by NB2 profile likelihood over a grid, with their joint region.

    Steps: a Poisson grid gives a start; NB2 (b0, b1, alpha) is fitted by ML at its best cell
    (convergence checked; alpha at the 0 boundary falls back to Poisson); the grid is then
    profiled again with that alpha. The region holds every (K, lag) cell whose LR against the
    best is within the cut; the cut is the 95% quantile of that LR at the fitted cell over
    ``n_region_boot`` replicates drawn from the fit (with ``rng``; without it, or when smaller,
    chi-square(2)'s 5.99). K's interval and the lag range are the region's projections, so the
    uncertainty of the lag widens K's interval where the two trade off (ramps). "Weakly
    identified" when K's interval is wider than ``WEAK_IDENTIFICATION_WIDTH`` of K, touches the
    grid's edge, or the lag range spans more than ``MAX_LAG_SPREAD`` minutes.
    """
    y = np.asarray(errors, dtype=float)
    r = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    c = np.asarray(concurrency, dtype=float)
    if c.max() <= K_MIN or y.sum() < MIN_ERRORS:
        return None
    hinge, ks, ls = build_hinge_grid(c, np.arange(K_MIN, c.max(), K_STEP))
    if len(ks) == 0:
        return None
    ll0, b0s, b1s, _ = _fit_hinge_grid(y[None, :], r, hinge, np.zeros(1))
    best = int(np.argmax(ll0[0]))
    b0, b1, alpha, ok = _fit_hinge_ml(y, r, hinge[best], (b0s[0, best], b1s[0, best]))
    family = "negative_binomial"
    if not ok or alpha < 1e-4:
        family, alpha = "poisson", 0.0
    ll, b0s, b1s, conv = _fit_hinge_grid(y[None, :], r, hinge, np.array([alpha]))
    ll = ll[0]
    best = int(np.argmax(ll))
    lr_cells = 2 * (ll[best] - ll)
    cut, reference = K_INTERVAL_LR_CUT, "chi-square(2) 95% point (no bootstrap)"
    if rng is not None and n_region_boot > 0:
        # Every other K on the grid (and the fitted cell): the replicate maxima move by less
        # than one grid step's likelihood, and the fit costs half.
        near = (lr_cells <= REGION_GRID_LR) & (
            (((ks - K_MIN) / K_STEP) % 2 == 0) | (ks == ks[best])
        )
        mu = r * (b0s[0, best] + b1s[0, best] * hinge[best])
        reps = simulate_nb(np.broadcast_to(mu, (n_region_boot, len(mu))), alpha, rng)
        sub = hinge[near]
        at = int(np.flatnonzero(np.flatnonzero(near) == best)[0])
        lr_best = []
        for chunk in np.array_split(reps.astype(float), max(1, n_region_boot // 25)):
            llr, _, _, _ = _fit_hinge_grid(chunk, r, sub, np.full(len(chunk), alpha), iters=8)
            lr_best.append(2 * (llr.max(1) - llr[:, at]))
        q95 = float(np.quantile(np.concatenate(lr_best), 0.95))
        reference = (
            f"95% quantile of the LR at the fitted cell over {n_region_boot} replicates "
            f"from the fit ({q95:.2f}), at least chi-square(2)'s {K_INTERVAL_LR_CUT}"
        )
        cut = max(cut, q95)
    region = lr_cells <= cut
    k_grid = np.unique(ks)
    k_prof = np.array([ll[ks == k].max() for k in k_grid])
    lag_prof = np.array(
        [ll[ls == lag].max() if np.any(ls == lag) else -np.inf for lag in range(MAX_LAG + 1)]
    )
    lr_k = 2 * (ll[best] - k_prof)
    k_hat = float(ks[best])
    low, high = float(ks[region].min()), float(ks[region].max())
    lag_low, lag_high = int(ls[region].min()), int(ls[region].max())
    edge = bool(low <= k_grid[0] or high >= k_grid[-1])
    limits_in = tuple(
        f"{d['product']} {d['quantity']} ({d['tier']}): {d['limit']}"
        for d in SUPABASE_LIMITS
        if low <= d["limit"] <= high
    )
    nearest = sorted(SUPABASE_LIMITS, key=lambda d: abs(d["limit"] - k_hat))[:3]
    weak = (high - low) > WEAK_IDENTIFICATION_WIDTH * k_hat or edge
    return ThresholdFit(
        k=k_hat,
        k_low=low,
        k_high=high,
        interval_lr_cut=float(cut),
        interval_reference=reference,
        interval_at_grid_edge=edge,
        weakly_identified=bool(weak or lag_high - lag_low > MAX_LAG_SPREAD),
        lag_minutes=int(ls[best]),
        lag_low=lag_low,
        lag_high=lag_high,
        b0_per_request=float(b0s[0, best]),
        b1_per_request_per_viewer=float(b1s[0, best]),
        family=family,
        alpha=float(alpha),
        converged=bool(ok and conv[0, best]),
        loglik=float(nb_loglik(y, r * (b0s[0, best] + b1s[0, best] * hinge[best]), alpha)),
        k_grid=tuple(float(k) for k in k_grid),
        k_profile_lr=tuple(float(v) for v in lr_k),
        lag_profile_lr=tuple(float(2 * (ll[best] - v)) for v in lag_prof),
        limits_in_interval=limits_in,
        nearest_limits=tuple({**d, "distance": float(d["limit"] - k_hat)} for d in nearest),
    )


def _elasticity_z(y, lx, alpha):
    """Return (g, HAC se, converged) of log E[y] = a + g lx, for each row of y or of lx."""
    x = np.stack([np.ones_like(lx), lx], axis=-1)
    beta, se, ok = _fit_loglinear(y, x, alpha)
    return beta[:, 1], se[:, 1], ok, beta[:, 0]


def _cox_null_z(mu, moments, lx, n_boot, rng):
    """(g, se) of the elasticity fit on AR(1)-Cox replicates of mean mu."""
    reps = _simulate_cox(mu, *moments, n_boot, rng).astype(float)
    g_b, se_b, _, _ = _elasticity_z(reps, np.broadcast_to(lx, reps.shape), 0.0)
    return g_b, se_b


def estimate_elasticity(
    errors: np.ndarray,
    exposure: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    n_boot: int = 199,
    requests_with_failures: np.ndarray | None = None,
) -> Elasticity | None:
    """Fit log E[y] = a + g log(exposure) (Poisson QMLE, no offset) and test g.

    Each hypothesis is tested against replicates of its own null model with AR(1)-Cox noise
    whose variance and persistence are fitted to the residuals of the free fit (g estimated),
    so the class's bursts are in the reference distribution but the misfit of a false null
    is not mistaken for burstiness (needs ``rng``):

    - g = 0 (no link to traffic): g, one-sided (errors rise with traffic), among replicates
      of a constant mean;
    - g = 1 (a flat rate per request): |g - 1| among replicates of mu = b0 x exposure.

    The statistic is g itself, not g / HAC se: counts of affected clients can be
    underdispersed, and a Cox null cannot be, so a studentised statistic would be compared
    with replicates noisier than the data (anti-conservative); g is conservative there.

    A circular-shift test of g = 0 was tried first: exact, but on smooth load the shifts next
    to the observed one tie with it, so p rarely fell below 4/60 and flat bugs went undecided.
    """
    y = np.asarray(errors, dtype=float)
    if y.sum() < MIN_ERRORS:
        return None
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    lx = np.log(x)
    lx = lx - lx.mean()
    n = len(y)
    alpha = float(_moment_alpha(y, np.full_like(y, y.mean())))
    # Poisson quasi-likelihood (HAC se): the same estimator for the data and every replicate;
    # a working NB alpha estimated per series would make the replicates' g noisier than the
    # data's wherever the null mean varies, and cost power for nothing.
    g, se, ok, a = _elasticity_z(y, lx[None, :], 0.0)
    p_zero = p_one = None
    if rng is not None and n_boot > 0:
        moments = _fit_cox_moments(y, np.exp(a[0] + g[0] * lx))
        g0, _ = _cox_null_z(np.full(n, y.mean()), moments, lx, n_boot, rng)
        p_zero = float((1 + np.sum(g0 >= g[0] - 1e-12)) / (n_boot + 1))
        g1, _ = _cox_null_z(x * y.sum() / x.sum(), moments, lx, n_boot, rng)
        p_one = float((1 + np.sum(np.abs(g1 - 1) >= abs(g[0] - 1) - 1e-12)) / (n_boot + 1))
    g_raw = None
    if requests_with_failures is not None:
        raw = np.log(np.maximum(np.asarray(requests_with_failures, dtype=float), MIN_EXPOSURE))
        g_raw = float(_elasticity_z(y, (raw - raw.mean())[None, :], alpha)[0][0])
    return Elasticity(
        g=float(g[0]),
        se=float(se[0]),
        alpha=alpha,
        converged=bool(ok[0]),
        p_value_zero=p_zero,
        p_value_one=p_one,
        n_boot=int(n_boot) if p_one is not None else 0,
        g_with_own_failures=g_raw,
    )


def decide_verdict(
    test: HingeTest | None,
    elasticity: Elasticity | None,
    residual_phi: float | None,
    count_unit: str = "errors",
) -> Verdict:
    """Decide the class from calibrated tests, never from a point estimate alone.

    - capacity-driven: the hinge test rejects a flat rate per request under the flat NB null
      AND under the bursty AR(1)-Cox null (a hinge that bursts alone can produce is not one);
    - traffic-proportional: g = 0 rejected, g = 1 (flat rate per request) not rejected;
    - unrelated: g = 1 rejected, g = 0 not rejected;
    - both rejected: the sign of g decides (traffic-proportional if errors rise with traffic),
      with a caveat that the rate per request changes with load;
    - undetermined ("the data cannot tell"): neither rejected;
    - insufficient data: fewer than ``MIN_ERRORS`` in the window.
    """
    bursty = residual_phi is not None and residual_phi > BURSTY_PHI
    p = None if test is None else test.p_value
    p_cox = None if test is None else test.p_value_bursty_null
    if elasticity is None:
        return Verdict(
            INSUFFICIENT,
            f"fewer than {MIN_ERRORS} {count_unit} in the window",
            p,
            p_cox,
            None,
            None,
            None,
            False,
            residual_phi,
            None,
            count_unit,
        )
    g, p0, p1 = elasticity.g, elasticity.p_value_zero, elasticity.p_value_one
    hinge_flat = p is not None and p <= ALPHA_LEVEL
    hinge_cox = p_cox is not None and p_cox <= ALPHA_LEVEL
    caveat = None
    hinge_text = "hinge not testable" if p is None else f"hinge bootstrap p = {p:.3f}"
    if p_cox is not None:
        hinge_text += f" (bursty null p = {p_cox:.3f})"
    tests_text = f"g = {g:.2f} (se {elasticity.se:.2f}); " + "; ".join(
        f"g = {h}: " + ("not tested" if pv is None else f"p = {pv:.3f}")
        for h, pv in ((0, p0), (1, p1))
    )
    related = p0 is not None and p0 <= ALPHA_LEVEL
    flat_rejected = p1 is not None and p1 <= ALPHA_LEVEL
    if hinge_flat and hinge_cox:
        label = CAPACITY
        reason = (
            f"hinge sup-LR {test.lr:.2f}: bootstrap p = {p:.3f} under a flat NB rate per "
            f"request and p = {p_cox:.3f} under a bursty AR(1)-Cox flat rate, both <= "
            f"{ALPHA_LEVEL}"
        )
    else:
        if related and not flat_rejected:
            label = TRAFFIC
        elif flat_rejected and not related:
            label = UNRELATED
        elif related and flat_rejected:
            label = TRAFFIC if g > 0 else UNRELATED
            caveat = f"the rate per request is not flat (g = {g:.2f}): errors " + (
                "rise faster or slower than traffic." if g > 0 else "fall as traffic rises."
            )
        else:
            label = UNDETERMINED
        reason = f"{hinge_text}; elasticity in requests {tests_text}"
        if hinge_flat and not hinge_cox:
            against = "was not tested" if p_cox is None else f"gives p = {p_cox:.3f}"
            caveat = (
                f"a hinge fits against a flat NB rate (p = {p:.3f}) but the bursty AR(1)-Cox "
                f"null this class's burstiness calls for {against}, so it is not called "
                "capacity-driven."
            ) + (f" Also, {caveat}" if caveat else "")
    if bursty and caveat is None and label != UNDETERMINED:
        caveat = (
            f"errors are bursty (lag-1 autocorrelation of residuals {residual_phi:.2f}): the "
            "verdict rests on few independent bursts."
        )
    return Verdict(label, reason, p, p_cox, g, p0, p1, bursty, residual_phi, caveat, count_unit)


# --------------------------------------------------------------------------------------------
# Lagged association
# --------------------------------------------------------------------------------------------


def prewhiten(x: np.ndarray, y: np.ndarray, max_order: int = 4):
    """Fit AR(p) to x by OLS (p by AIC, 1..max_order); apply the same filter to x and y."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    y = np.asarray(y, dtype=float) - np.mean(y)
    n = len(x)
    best = None
    for p in range(1, max_order + 1):
        design = np.column_stack([x[max_order - i : n - i] for i in range(1, p + 1)])
        target = x[max_order:]
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        resid = target - design @ coef
        aic = len(target) * math.log(max(resid.var(), 1e-12)) + 2 * p
        if best is None or aic < best[0]:
            best = (aic, p, coef)
    _, p, coef = best

    def apply(z):
        out = z[p:].copy()
        for i in range(1, p + 1):
            out -= coef[i - 1] * z[p - i : n - i]
        return out

    return apply(x), apply(y), p, coef


def ccf_all_shifts(xw: np.ndarray, yw: np.ndarray, max_lag: int):
    """r[s, k] = corr(x[t], roll(y, s)[t + k]) over the overlap, for every shift s and |k|."""
    n = len(xw)
    ys = np.stack([np.roll(yw, s) for s in range(n)])
    lags = np.arange(-max_lag, max_lag + 1)
    out = np.empty((n, len(lags)))
    for j, k in enumerate(lags):
        if k >= 0:
            a, b = xw[: n - k], ys[:, k:]
        else:
            a, b = xw[-k:], ys[:, : n + k]
        a = a - a.mean()
        b = b - b.mean(1, keepdims=True)
        den = np.sqrt(np.sum(a * a) * np.sum(b * b, 1))
        out[:, j] = np.where(den > 0, (b @ a) / np.where(den > 0, den, 1), 0.0)
    return lags, out


def _shift_p(stats: np.ndarray) -> float:
    """p-value of stats[0] (observed alignment) among all circular shifts (including itself)."""
    return float(np.mean(stats >= stats[0] - 1e-12))


def cross_correlate(
    concurrency: np.ndarray, errors: np.ndarray, max_lag: int = CCF_MAX_LAG
) -> CrossCorrelation:
    """CCF of prewhitened load and errors, both directions, all-circular-shift p-values.

    r is reported for lags -max_lag..max_lag; the test statistic of "load leads" is max |r| over
    lags 0..CCF_TEST_LAG, of "errors lead" over -CCF_TEST_LAG..0, each referred to the same
    statistic over every circular shift of the prewhitened error series.
    """
    xw, yw, p, coef = prewhiten(concurrency, errors)
    max_lag = min(max_lag, len(xw) // 3)
    lags, r = ccf_all_shifts(xw, yw, max_lag)
    lead = (lags >= 0) & (lags <= CCF_TEST_LAG)
    lag_ = (lags <= 0) & (lags >= -CCF_TEST_LAG)
    t_lead = np.abs(r[:, lead]).max(1)
    t_lag = np.abs(r[:, lag_]).max(1)
    i_lead = int(np.argmax(np.abs(r[0, lead])))
    i_lag = int(np.argmax(np.abs(r[0, lag_])))
    return CrossCorrelation(
        ar_order=p,
        ar_coefficients=tuple(float(v) for v in coef),
        lags=tuple(int(k) for k in lags),
        r=tuple(float(v) for v in r[0]),
        load_leads_max_abs_r=float(t_lead[0]),
        load_leads_lag=int(lags[lead][i_lead]),
        load_leads_p_value=_shift_p(t_lead),
        errors_lead_max_abs_r=float(t_lag[0]),
        errors_lead_lag=int(lags[lag_][i_lag]),
        errors_lead_p_value=_shift_p(t_lag),
        n_shifts=len(xw),
        reference="all circular shifts of the prewhitened error series (max |r|, lags 0..5)",
    )


def fit_load_coefficient(
    concurrency: np.ndarray, errors: np.ndarray, n_lags: int = COUNT_MODEL_LAGS
) -> LoadCoefficient | None:
    """NB2 count model without offset: log E[y_t] = a + d t + b z(c[t]); lags descriptive.

    The linear time term keeps slow drifts of errors and load from posing as association
    (without it, drifting and episodic nulls on random shapes rejected in 7-10% of trials,
    with it 5-6%). Test statistic: |b / HAC se| at lag 0. Reference: the same statistic over
    all circular shifts of concurrency (pure rotations, so the test is an exact randomisation
    test over the group of shifts when errors are stationary). Testing the maximum over lags
    instead, with padded lags, broke exchangeability (up to 14% rejections on drifting nulls in
    trials); the coefficients at lags 1..n_lags-1 are therefore reported without a p-value.
    """
    y = np.asarray(errors, dtype=float)
    if y.sum() < MIN_ERRORS:
        return None
    c = np.asarray(concurrency, dtype=float)
    n = len(y)
    sd = c.std()
    zc = (c - c.mean()) / (sd if sd > 0 else 1.0)
    designs = np.stack(
        [np.roll(zc, m) for m in range(n)] + [lag_padded(zc, lag) for lag in range(1, n_lags)]
    )
    trend = np.broadcast_to(np.linspace(-1.0, 1.0, n), designs.shape)
    x = np.stack([np.ones_like(designs), trend, designs], axis=2)
    alpha = float(_moment_alpha(y, np.full_like(y, y.mean())))
    beta, se, _ = _fit_loglinear(y, x, alpha)
    z = beta[:, 2] / se[:, 2]
    stat = np.abs(z[:n])
    z_by_lag = np.concatenate([z[:1], z[n:]])
    coef_by_lag = np.concatenate([beta[:1, 2], beta[n:, 2]])
    return LoadCoefficient(
        coefficient_per_sd=float(beta[0, 2]),
        z=float(z[0]),
        p_value=_shift_p(stat),
        coefficient_by_lag=tuple(float(v) for v in coef_by_lag),
        z_by_lag=tuple(float(v) for v in z_by_lag),
        alpha=alpha,
        n_shifts=n,
        reference="all circular shifts of concurrency (|HAC z| at lag 0, linear time term)",
    )


def analyse_coincidence(concurrency: np.ndarray, errors: np.ndarray) -> Coincidence:
    """Event coincidence analysis with an all-circular-shift null.

    Spikes A: concurrency above its 80th percentile; peaks B: errors above their 90th
    percentile. Precursor rate: share of peaks with a spike 0..3 minutes before (peaks in the
    first 3 minutes excluded); trigger rate: share of spikes followed by an error peak within 0..3
    minutes (spikes in the last 3 minutes excluded). Rates by single lag are shown beside.
    """
    c = np.asarray(concurrency, dtype=float)
    y = np.asarray(errors, dtype=float)
    n = len(c)
    spikes = c > np.quantile(c, SPIKE_QUANTILE)
    peaks = (y > np.quantile(y, PEAK_QUANTILE)) & (y > 0)
    w = ECA_WINDOW
    shifted = np.stack([np.roll(peaks, s) for s in range(n)])  # (n, n)
    a_before = np.array([spikes[max(0, t - w) : t + 1].any() for t in range(n)])
    valid_b = np.arange(n) >= w
    prec_num = (shifted & a_before & valid_b).sum(1)
    prec_den = (shifted & valid_b).sum(1)
    csum = np.concatenate([np.zeros((n, 1), int), np.cumsum(shifted, 1)], axis=1)
    t = np.arange(n)
    hi = np.minimum(t + w, n - 1) + 1
    b_after = (csum[:, hi] - csum[:, t]) > 0
    valid_a = spikes & (t <= n - 1 - w)
    trig_num = (b_after & valid_a).sum(1)
    trig_den = int(valid_a.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(prec_den > 0, prec_num / np.maximum(prec_den, 1), np.nan)
        trig = trig_num / trig_den if trig_den > 0 else np.full(n, np.nan)
    ok = np.isfinite(prec)
    prec_p = float(np.mean(prec[ok] >= prec[0] - 1e-12)) if ok[0] else None
    trig_p = float(np.mean(trig >= trig[0] - 1e-12)) if trig_den > 0 else None
    by_lag_p, by_lag_t = [], []
    for tau in range(ECA_LAGS):
        bt = np.flatnonzero(peaks[tau:]) + tau
        by_lag_p.append(float(spikes[bt - tau].mean()) if len(bt) else None)
        at = np.flatnonzero(spikes[: n - tau])
        by_lag_t.append(float(peaks[at + tau].mean()) if len(at) else None)
    return Coincidence(
        n_spikes=int(spikes.sum()),
        n_error_peaks=int(peaks.sum()),
        window_minutes=w,
        precursor_rate=float(prec[0]) if ok[0] else None,
        precursor_p_value=prec_p,
        trigger_rate=float(trig[0]) if trig_den > 0 else None,
        trigger_p_value=trig_p,
        precursor_rate_by_lag=tuple(by_lag_p),
        trigger_rate_by_lag=tuple(by_lag_t),
        n_shifts=n,
        reference="all circular shifts of the error-peak series",
    )


# --------------------------------------------------------------------------------------------
# Bursts and regimes
# --------------------------------------------------------------------------------------------


def detect_bursts(
    errors: np.ndarray, requests: np.ndarray, labels: list, s: float = 2.0, gamma: float = 1.0
) -> tuple[Burst, ...]:
    """Batched Kleinberg bursts of errors out of requests (Poisson emission, 3 states).

    State i has rate p0 x s^i per request (p0 = overall rate); moving up a state costs
    gamma x ln(n); the Viterbi path's runs at state >= 1 are the bursts.
    """
    y = np.asarray(errors, dtype=float)
    d = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    n = len(y)
    if y.sum() == 0:
        return ()
    p0 = y.sum() / d.sum()
    rates = p0 * s ** np.arange(3)
    mu = d[:, None] * rates[None, :]
    cost = -(y[:, None] * np.log(mu) - mu)
    up = gamma * math.log(n)
    trans = np.array([[max(0, j - i) * up for j in range(3)] for i in range(3)])
    total = cost[0] + trans[0]
    back = np.zeros((n, 3), dtype=int)
    for t in range(1, n):
        cand = total[:, None] + trans
        back[t] = np.argmin(cand, 0)
        total = cand[back[t], np.arange(3)] + cost[t]
    state = np.empty(n, dtype=int)
    state[-1] = int(np.argmin(total))
    for t in range(n - 1, 0, -1):
        state[t - 1] = back[t, state[t]]
    out = []
    t = 0
    while t < n:
        if state[t] >= 1:
            u = t
            while u + 1 < n and state[u + 1] >= 1:
                u += 1
            out.append(
                Burst(
                    labels[t],
                    labels[u],
                    int(state[t : u + 1].max()),
                    int(y[t : u + 1].sum()),
                    int(np.asarray(requests)[t : u + 1].sum()),
                )
            )
            t = u + 1
        else:
            t += 1
    return tuple(out)


def segment_pelt(signal: np.ndarray, pen: float, min_size: int = 2) -> list[int]:
    """Optimal l2 segmentation by PELT (Killick et al. 2012): segment ends, the last being n.

    The cost of a segment is its sum of squared deviations from its mean (ruptures' ``l2``),
    from cumulative sums; each new end is scored against every admissible start at once, so
    the work is linear in n times the (pruned) admissible set instead of a Python call per
    pair. Starts are the admissible set of ruptures' ``Pelt(jump=1)``; among equal-cost
    segmentations (within 1e-9, rounding) the earliest start wins, as in ruptures.
    """
    x = np.asarray(signal, dtype=float)
    n = len(x)
    x = x - x.mean()  # centred: smaller cumulative sums, less cancellation
    cs = np.concatenate([[0.0], np.cumsum(x)])
    cs2 = np.concatenate([[0.0], np.cumsum(x * x)])
    best = np.zeros(n + 1)
    prev = np.zeros(n + 1, dtype=np.int64)
    admissible = np.zeros(0, dtype=np.int64)
    for end in range(min_size, n + 1):
        start = end - min_size
        if start == 0 or start >= min_size:  # 0 < start < min_size has no segmentation
            admissible = np.append(admissible, start)
        m = end - admissible
        s = cs[end] - cs[admissible]
        cost = np.maximum((cs2[end] - cs2[admissible]) - s * s / m, 0.0)
        total = best[admissible] + (cost + pen)
        low = total.min()
        j = int(np.argmax(total <= low + 1e-9 * (1.0 + abs(low))))
        best[end], prev[end] = total[j], admissible[j]
        admissible = admissible[total <= best[end] + pen]
    ends, end = [], n
    while end > 0:
        ends.append(end)
        end = int(prev[end])
    return sorted(ends)


def detect_change_points(errors: np.ndarray, labels: list) -> ChangePoints:
    """PELT (l2 cost, jump=1, min_size=2) on 2 sqrt(errors + 3/8), penalty sweep.

    sigma^2 is estimated robustly from first differences (MAD); penalties are multiples of
    sigma^2 log(n). ``stability`` lists each change point with the share of penalties finding it.
    """
    y = np.asarray(errors, dtype=float)
    signal = 2 * np.sqrt(y + 3 / 8)
    n = len(signal)
    diffs = np.diff(signal)
    sigma2 = float((1.4826 * np.median(np.abs(diffs - np.median(diffs)))) ** 2 / 2)
    sigma2 = max(sigma2, 0.25)
    pens, found = [], []
    for m in PELT_PENALTY_MULTIPLIERS:
        pen = m * sigma2 * math.log(n)
        bkps = [b for b in segment_pelt(signal, pen) if b < n]
        pens.append(float(pen))
        found.append(tuple(labels[b] for b in bkps))
    counts: dict = {}
    for bk in found:
        for b in bk:
            counts[b] = counts.get(b, 0) + 1
    stability = tuple(
        {"minute": b, "share_of_penalties": counts[b] / len(found)} for b in sorted(counts)
    )
    return ChangePoints(sigma2, tuple(pens), tuple(found), stability)


# --------------------------------------------------------------------------------------------
# Top level
# --------------------------------------------------------------------------------------------


def residual_autocorrelation(errors: np.ndarray, mu: np.ndarray) -> float:
    """Lag-1 autocorrelation of Pearson residuals (the AR(1) coefficient of the residuals).

    Residuals use NB2 variance with alpha by moments, so overdispersion alone does not count
    as burstiness; persistence does.
    """
    y = np.asarray(errors, dtype=float)
    alpha = float(_moment_alpha(y, mu))
    e = (y - mu) / np.sqrt(mu * (1 + alpha * mu))
    e = e - e.mean()
    den = float(np.sum(e * e))
    return float(np.sum(e[1:] * e[:-1]) / den) if den > 0 else 0.0


def attribute_class(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int = 199,
    bursty_null: bool = True,
    signals: dict | None = None,
    realtime: bool = False,
) -> tuple[Verdict, HingeTest | None, ThresholdFit | None, Elasticity | None]:
    """Hinge test, threshold, elasticity and the verdict for one class.

    ``signals`` (from :func:`extract_signals`) choose what is counted (:func:`choose_counts`)
    and the denominator (:func:`exposure_of`). ``bursty_null=False`` skips the AR(1)-Cox hinge
    null, so no capacity call can be made (kept for studies of the flat test alone).
    """
    signals = signals or {}
    y, unit = choose_counts(errors, signals)
    x, _, _ = exposure_of(requests, signals, concurrency if realtime else None, y)
    if y.sum() < MIN_ERRORS:
        return decide_verdict(None, None, None, unit), None, None, None
    test = compare_hinge_to_flat(y, x, concurrency, rng=rng, n_boot=n_boot)
    capacity = test is not None and test.p_value <= ALPHA_LEVEL
    if bursty_null and capacity:
        # Every capacity call must also survive the bursty null: the residual flag alone missed
        # about half of the false calls on simulated bursty bugs (the hinge absorbs the bursts).
        test = add_bursty_null(test, y, x, concurrency, rng=rng)
    capacity = capacity and test.p_value_bursty_null is not None
    capacity = capacity and test.p_value_bursty_null <= ALPHA_LEVEL
    fit = estimate_threshold(y, x, concurrency, rng=rng if capacity else None)
    with_failures = requests if "failed_requests" in signals and not realtime else None
    elasticity = estimate_elasticity(
        y, x, rng=rng, n_boot=n_boot, requests_with_failures=with_failures
    )
    r = np.maximum(x, MIN_EXPOSURE)
    if fit is not None and capacity:
        hinge = np.maximum(0.0, lag_padded(concurrency, fit.lag_minutes) - fit.k)
        mu = r * (fit.b0_per_request + fit.b1_per_request_per_viewer * hinge)
    else:
        mu = r * y.sum() / r.sum()
    phi = residual_autocorrelation(y, mu)
    return decide_verdict(test, elasticity, phi, unit), test, fit, elasticity


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho of a (n,) with every row of b (S, n)."""
    ra = pd.Series(a).rank().to_numpy()
    rb = np.apply_along_axis(lambda v: pd.Series(v).rank().to_numpy(), 1, b)
    ra, rb = ra - ra.mean(), rb - rb.mean(1, keepdims=True)
    den = np.sqrt(np.sum(ra * ra) * np.sum(rb * rb, 1))
    return np.where(den > 0, (rb @ ra) / np.where(den > 0, den, 1.0), 0.0)


def summarize_signals(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    signals: dict,
    realtime: bool = False,
) -> Signals:
    """Spread over users, clients and endpoints, denominator, latency and Realtime saturation."""
    y = np.asarray(errors, dtype=float)
    c = np.asarray(concurrency, dtype=float)
    counted, unit = choose_counts(y, signals)
    _, denominator, excluded = exposure_of(
        requests, signals, concurrency if realtime else None, counted
    )
    spread = []
    hit = y > 0
    for col in ("users", "clients", "endpoints"):
        if col not in signals:
            continue
        v = np.nan_to_num(signals[col])
        total = int(v.sum())
        spread.append(
            Spread(
                source=col,
                max_per_minute=int(v.max()),
                median_per_error_minute=float(np.median(v[hit])) if hit.any() else 0.0,
                source_minutes=total,
                errors_per_source_minute=float(y.sum() / total) if total else None,
            )
        )
    ratio = rho = rho_p = None
    lat = signals.get("latency_ms")
    if lat is not None and np.isfinite(lat).sum() >= 10 and hit.any():
        ok = np.isfinite(lat)
        heavy = y >= np.median(y[hit])
        a, b = lat[ok & heavy], lat[ok & ~heavy]
        if len(a) and len(b) and np.median(b) > 0:
            ratio = float(np.median(a) / np.median(b))
        if np.ptp(c[ok]) > 0:
            cc, ll = c[ok], lat[ok]
            rhos = _spearman(cc, np.stack([np.roll(ll, m) for m in range(len(ll))]))
            rho, rho_p = float(rhos[0]), _shift_p(rhos)
    peak = sat = sat_share = None
    conn, lim = signals.get("rt_connected"), signals.get("rt_limit")
    if conn is not None and lim is not None:
        ok = np.isfinite(conn) & np.isfinite(lim) & (lim > 0)
        if ok.any():
            share = np.where(ok, conn / np.where(ok, lim, 1.0), np.nan)
            peak = float(np.nanmax(share))
            at_limit = ok & (share >= SATURATION_SHARE)
            sat = int(at_limit.sum())
            sat_share = float(y[at_limit].sum() / y.sum()) if y.sum() else None
    return Signals(
        count_unit=unit,
        denominator=denominator,
        own_failures_excluded=excluded,
        spread=tuple(spread),
        latency_ratio=ratio,
        latency_load_rho=rho,
        latency_load_p_value=rho_p,
        realtime_peak_share_of_limit=peak,
        realtime_saturated_minutes=sat,
        realtime_errors_in_saturated_share=sat_share,
    )


def analyse_class(frame: pd.DataFrame, *, seed: int, n_boot: int = 199) -> ClassResult:
    """Every statistic of one error class from its per-minute frame (contract section 3)."""
    y, r, c, labels = extract_series(frame)
    signals = extract_signals(frame)
    if "samples" in frame.columns:
        samples = pd.to_numeric(frame["samples"], errors="coerce").fillna(0).to_numpy()
        c = interpolate_unsampled(c, samples)
    rng = np.random.default_rng(seed)
    realtime = is_realtime_class(frame)
    verdict, test, fit, elasticity = attribute_class(
        y, r, c, rng=rng, n_boot=n_boot, signals=signals, realtime=realtime
    )
    enough = y.sum() >= MIN_ERRORS
    return ClassResult(
        n_minutes=len(y),
        total_errors=int(y.sum()),
        total_requests=int(r.sum()),
        zero_request_minutes=int(np.sum(r == 0)),
        verdict=verdict,
        hinge_test=test,
        threshold=fit,
        elasticity=elasticity,
        cross_correlation=cross_correlate(c, y) if enough else None,
        load_coefficient=fit_load_coefficient(c, y) if enough else None,
        coincidence=analyse_coincidence(c, y) if enough else None,
        bursts=detect_bursts(y, r, labels),
        change_points=detect_change_points(y, labels) if enough else None,
        seed=int(seed),
        signals=summarize_signals(y, r, c, signals, realtime),
    )


def derive_seed(seed: int, name: str) -> int:
    """Return a per-class seed that depends on the webinar seed and the class name, not on order."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0])


def _analyse_named(job: tuple[str, pd.DataFrame, int, int]) -> ClassResult:
    """Analyse one class of a webinar (a worker's task; errors name the class)."""
    name, frame, seed, n_boot = job
    try:
        return analyse_class(frame, seed=seed, n_boot=n_boot)
    except StatsError as exc:
        raise StatsError(f"error class '{name}': {exc}") from exc


def _map_classes(jobs: list[tuple], workers: int) -> list[ClassResult]:
    """Run :func:`_analyse_named` over ``jobs`` on up to ``workers`` processes, in job order.

    Each class carries its own seed, so a result does not depend on which process computed it
    or in which order: one worker and many give the same numbers. Forked workers start at once
    (no re-import); a daemonic process (a worker itself) cannot fork and runs them in turn.
    """
    workers = min(int(workers), len(jobs))
    if workers <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return [_analyse_named(job) for job in jobs]
    # The costliest classes (most errors: longest bootstraps) go first, so the two processes
    # finish close together; results come back in job order whatever the schedule.
    order = sorted(range(len(jobs)), key=lambda i: -float(jobs[i][1]["errors"].sum()))
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        futures = {i: pool.submit(_analyse_named, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def analyse_webinar(
    frames_by_class: dict[str, pd.DataFrame],
    *,
    seed: int,
    n_boot: int = 199,
    workers: int = 1,
) -> WebinarStatistics:
    """Analyse every error class of one webinar.

    Parameters
    ----------
    frames_by_class : dict of str to pandas.DataFrame
        Per-minute frame (docs/contract.md section 3) of each error class.
    seed : int
        Webinar seed; each class derives its own from it and its name (:func:`derive_seed`).
    n_boot : int
        Bootstrap replicates of the tests.
    workers : int
        Processes the classes are spread over; the result is the same for any number.
    """
    if not frames_by_class:
        raise StatsError("analyse_webinar: expected at least one error class, found none")
    names = sorted(frames_by_class)
    jobs = [(name, frames_by_class[name], derive_seed(seed, name), n_boot) for name in names]
    results = _map_classes(jobs, workers)
    return WebinarStatistics(
        seed=int(seed),
        n_boot=int(n_boot),
        alpha_level=ALPHA_LEVEL,
        supabase_limits=SUPABASE_LIMITS,
        classes=dict(zip(names, results, strict=True)),
    )
