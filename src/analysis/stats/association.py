"""Lagged association of load and errors: prewhitened CCF, load coefficient, event coincidence."""

from __future__ import annotations

import math

import numpy as np

from analysis.stats.constants import MIN_ERRORS
from analysis.stats.countmodels import _fit_loglinear, _moment_alpha
from analysis.stats.results import Coincidence, CrossCorrelation, LoadCoefficient
from analysis.stats.series import lag_padded

#: Cross-correlation: r is shown for lags -15..15; each direction is tested on 0..5 minutes.
#: A wide test window is nearly shift-invariant (a shift that keeps the peak inside the window
#: ties with the data), which leaves the all-shift test almost no power.
CCF_MAX_LAG, CCF_TEST_LAG, COUNT_MODEL_LAGS = 15, 5, 6
#: Event definitions for coincidence analysis: load spikes above the 80th percentile of
#: concurrency, error peaks above the 90th percentile of errors; coincidence window 0-3 min.
#: (An error peak is one minute; a *burst* is Kleinberg's run, :func:`detect_bursts`.)
SPIKE_QUANTILE, PEAK_QUANTILE, ECA_WINDOW, ECA_LAGS = 0.8, 0.9, 3, 6
#: Shift nulls use every circular shift while a window has at most this many besides the
#: observed alignment (an hour has 59); a longer window uses this many drawn at random, so the
#: cost grows linearly with the window instead of with its square (docs/statistics.md §2).
MAX_SHIFTS = 199


def circular_shifts(n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Return the circular shifts of a shift null for a series of ``n``, 0 (observed) first.

    Every shift 0..n-1 while n - 1 <= ``MAX_SHIFTS``: the exact randomisation test over the
    group of shifts. Beyond, 0 and ``MAX_SHIFTS`` distinct non-zero shifts drawn uniformly
    without replacement: a Monte Carlo randomisation test, still exact (under the null the
    observed alignment and the drawn ones are exchangeable), with p-values in steps of
    1 / (``MAX_SHIFTS`` + 1). ``rng`` defaults to a generator seeded by n, so a series gets
    the same shifts in every run and every process.
    """
    if n - 1 <= MAX_SHIFTS:
        return np.arange(n)
    rng = np.random.default_rng(n) if rng is None else rng
    drawn = np.sort(rng.choice(np.arange(1, n), size=MAX_SHIFTS, replace=False))
    return np.concatenate([[0], drawn])


def _shift_reference(shifts: np.ndarray, n: int, what: str) -> str:
    """Name the reference distribution: all shifts, or how many were drawn."""
    if len(shifts) == n:
        return f"all circular shifts of {what}"
    return f"{len(shifts) - 1} random circular shifts (of {n - 1}) of {what}"


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


def ccf_all_shifts(xw: np.ndarray, yw: np.ndarray, max_lag: int, shifts: np.ndarray | None = None):
    """r[i, k] = corr(x[t], roll(y, shifts[i])[t + k]) over the overlap, for every |k| <= max_lag.

    ``shifts`` defaults to :func:`circular_shifts` of the series (all of them on an hour).
    """
    n = len(xw)
    shifts = circular_shifts(n) if shifts is None else shifts
    ys = np.stack([np.roll(yw, s) for s in shifts])
    lags = np.arange(-max_lag, max_lag + 1)
    out = np.empty((len(shifts), len(lags)))
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
    """p-value of stats[0] (observed alignment) among the shifts' statistics (itself included)."""
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
    shifts = circular_shifts(len(xw))
    lags, r = ccf_all_shifts(xw, yw, max_lag, shifts)
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
        n_shifts=len(shifts),
        reference=_shift_reference(shifts, len(xw), "the prewhitened error series")
        + " (max |r|, lags 0..5)",
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
    shifts = circular_shifts(n)
    m = len(shifts)
    designs = np.stack(
        [np.roll(zc, s) for s in shifts] + [lag_padded(zc, lag) for lag in range(1, n_lags)]
    )
    trend = np.broadcast_to(np.linspace(-1.0, 1.0, n), designs.shape)
    x = np.stack([np.ones_like(designs), trend, designs], axis=2)
    alpha = float(_moment_alpha(y, np.full_like(y, y.mean())))
    beta, se, _ = _fit_loglinear(y, x, alpha)
    z = beta[:, 2] / se[:, 2]
    stat = np.abs(z[:m])
    z_by_lag = np.concatenate([z[:1], z[m:]])
    coef_by_lag = np.concatenate([beta[:1, 2], beta[m:, 2]])
    return LoadCoefficient(
        coefficient_per_sd=float(beta[0, 2]),
        z=float(z[0]),
        p_value=_shift_p(stat),
        coefficient_by_lag=tuple(float(v) for v in coef_by_lag),
        z_by_lag=tuple(float(v) for v in z_by_lag),
        alpha=alpha,
        n_shifts=m,
        reference=_shift_reference(shifts, n, "concurrency")
        + " (|HAC z| at lag 0, linear time term)",
    )


def analyse_coincidence(concurrency: np.ndarray, errors: np.ndarray) -> Coincidence:
    """Event coincidence analysis with a circular-shift null (:func:`circular_shifts`).

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
    shifts = circular_shifts(n)
    shifted = np.stack([np.roll(peaks, s) for s in shifts])  # (shifts, n)
    a_before = np.array([spikes[max(0, t - w) : t + 1].any() for t in range(n)])
    valid_b = np.arange(n) >= w
    prec_num = (shifted & a_before & valid_b).sum(1)
    prec_den = (shifted & valid_b).sum(1)
    csum = np.concatenate([np.zeros((len(shifts), 1), int), np.cumsum(shifted, 1)], axis=1)
    t = np.arange(n)
    hi = np.minimum(t + w, n - 1) + 1
    b_after = (csum[:, hi] - csum[:, t]) > 0
    valid_a = spikes & (t <= n - 1 - w)
    trig_num = (b_after & valid_a).sum(1)
    trig_den = int(valid_a.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(prec_den > 0, prec_num / np.maximum(prec_den, 1), np.nan)
        trig = trig_num / trig_den if trig_den > 0 else np.full(len(shifts), np.nan)
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
        n_shifts=len(shifts),
        reference=_shift_reference(shifts, n, "the error-peak series"),
    )
