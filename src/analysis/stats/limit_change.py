"""A limit that stops binding inside the window: where it changed, and K on the regime before.

A capacity limit fails requests in every minute whose lagged load lies above K. When the
limit is raised during the window (a pool enlarged, a plan upgraded: the usual response to the
incident) the errors stop while the load stays above the old K. One hinge fitted to the whole
window then has two readings to choose from, both wrong: a K between the two regimes, set
just above the load of the minutes after the change so that their silence fits (a confident
K that misses both limits), or the old K, whose silent minutes above it read as an episode in
time ("the errors stop while the load stays above K"). The change is found from the errors'
last minute: K fitted on the minutes up to it, the first later minute whose lagged load lies
above that K's whole interval, with no error in any such minute and a silence the limit could
not have kept (docs/verdicts.md, "A limit that stopped binding"). Realtime's billing lines
show a raise directly (:func:`analysis.stats.episodes.find_limit_raised`); this reads it from
the errors, for any class.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.stats.constants import MIN_EXPOSURE
from analysis.stats.episodes import _hinge_columns, _window_bounds, _window_loglik
from analysis.stats.results import ThresholdFit
from analysis.stats.series import lag_padded
from analysis.stats.threshold import (
    MIN_MINUTES_ABOVE,
    PROFILE_LR_CUT,
    _fit_hinge_grid,
    estimate_threshold,
    fitted_rate,
    smooth_load,
)

#: -log of the probability, under K fitted before the errors' last minute (NB2, its alpha),
#: that every later minute whose lagged load lies above K's interval holds no error: at least
#: this for the limit to have stopped binding. Not a test's level: the last minute is chosen
#: from the data and K's interval there is chi-square(1)'s, which under-covers, so a limit
#: that never changed reaches 7-20 (5 of the count's 1,192 classes whose hinge passed both
#: nulls, all below 20); the raises of the rooms writer reach 953 and 8,896. 50 is a silence
#: of about 50 errors the old limit would have failed (docs/verdicts.md, "A limit that
#: stopped binding").
LIFTED_SURPRISE = 50.0
#: Before the change the errors must follow the load better than a stretch of time by at least
#: this much log-likelihood (the best load model against the best single window, the same
#: free parameters): an outage that starts while the load rises and ends while it stays high
#: is one window up to the "change", and a limit crossed on the way up the same hinge, so
#: only a load that moves the errors inside the regime (a rate rising and falling with it)
#: tells them apart. The rooms writer's raises give 32 and 83, an outage on a rising load 0.
LIFTED_LOAD_OVER_TIME = PROFILE_LR_CUT


def measure_load_over_time(counts, exposure, concurrency) -> float:
    """Return the best load model's Poisson log-likelihood minus the best single window's.

    The models are :func:`analysis.stats.episodes.compare_load_to_time`'s (the hinge or a
    step at any K and lag, on the load as read or smoothed; a window of minutes at one rate,
    the others at another), fitted to the given minutes.
    """
    y = np.asarray(counts, dtype=float)[None, :]
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    c = np.asarray(concurrency, dtype=float)
    best = max(
        float(_fit_hinge_grid(y, x, _hinge_columns(load), np.zeros(1), iters=8, tol=1e-7)[0].max())
        for load in (c, smooth_load(c))
    )
    return best - float(_window_loglik(y, x, *_window_bounds(y.shape[1]))[0].max())


def _silence_surprise(mu: np.ndarray, alpha: float) -> np.ndarray:
    """Return -log P(no count) of each minute under NB2 with means ``mu`` (Poisson at 0)."""
    if alpha <= 0:
        return mu
    return np.log1p(alpha * mu) / alpha


def find_limit_lifted(
    counts: np.ndarray, exposure: np.ndarray, concurrency: np.ndarray
) -> dict | None:
    """Return where a limit stopped binding while the load stayed above it, or None.

    Parameters
    ----------
    counts : numpy.ndarray
        The class's counted errors per minute.
    exposure : numpy.ndarray
        Their denominator per minute.
    concurrency : numpy.ndarray
        The load (unsmoothed), as :func:`estimate_threshold` takes it.

    Returns
    -------
    dict or None
        ``minute`` (0-based: the first minute outside the limit's regime), ``last_error``
        (0-based), ``minutes_above`` (later minutes whose lagged load lies above K's
        interval before the change, all without errors), ``viewers`` (their median lagged
        load), ``expected`` (the errors K before the change expects in them), ``surprise``
        (-log the probability of their silence), ``k_before`` / ``k_low_before`` /
        ``k_high_before`` (the uncalibrated fit that found it). None when fewer than
        ``MIN_MINUTES_ABOVE`` such minutes follow the last error, K's interval before it is
        open above, their silence is not surprising enough (``LIFTED_SURPRISE``), or before
        the change the errors follow the load no better than a stretch of time
        (``LIFTED_LOAD_OVER_TIME``, :func:`measure_load_over_time`; ``load_over_time``).
    """
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    c = np.asarray(concurrency, dtype=float)
    hit = np.flatnonzero(y > 0)
    if len(hit) == 0 or len(y) - hit[-1] - 1 < MIN_MINUTES_ABOVE:
        return None
    last = int(hit[-1])
    # Point estimates and chi-square(1)'s interval: no random draws, so finding nothing
    # leaves every later draw of the class as it was.
    before = estimate_threshold(y[: last + 1], x[: last + 1], c[: last + 1])
    if before is None or before.k_open_high:
        return None
    lagged = lag_padded(smooth_load(c) if before.load_smoothed else c, before.lag_minutes)
    above = (np.arange(len(y)) > last) & (lagged > before.k_high) & np.isfinite(lagged)
    if above.sum() < MIN_MINUTES_ABOVE:
        return None
    mu = x * np.maximum(fitted_rate(before, c), 0.0)
    surprise = float(_silence_surprise(mu[above], max(float(before.alpha), 0.0)).sum())
    if surprise < LIFTED_SURPRISE:
        return None
    cut = int(np.argmax(above))
    load_over_time = measure_load_over_time(y[:cut], x[:cut], c[:cut])
    if load_over_time < LIFTED_LOAD_OVER_TIME:
        return None
    return {
        "load_over_time": load_over_time,
        "minute": cut,
        "last_error": last,
        "minutes_above": int(above.sum()),
        "viewers": float(np.median(lagged[above])),
        "expected": float(mu[above].sum()),
        "surprise": surprise,
        "k_before": before.k,
        "k_low_before": before.k_low,
        "k_high_before": before.k_high,
    }


def fit_before_change(
    counts: np.ndarray,
    exposure: np.ndarray,
    concurrency: np.ndarray,
    lifted: dict,
    *,
    rng: np.random.Generator | None,
) -> tuple[ThresholdFit | None, np.ndarray]:
    """Return K fitted on the minutes before the change, and the mask of the minutes after it.

    The fit is :func:`estimate_threshold` (calibrated with ``rng``) on the minutes before
    ``lifted["minute"]``; those after lie outside the limit it describes, so the checks of
    errors persisting above K and of errors following time leave them out (as
    a Realtime limit raised). Its ``limit_lifted`` carries ``lifted``.
    """
    cut = int(lifted["minute"])
    fit = estimate_threshold(counts[:cut], exposure[:cut], concurrency[:cut], rng=rng)
    after = np.arange(len(counts)) >= cut
    if fit is None:
        return None, after
    note = (
        f"; fitted on minutes 1-{cut} of the window: the errors' last minute is "
        f"{lifted['last_error'] + 1}, and from minute {cut + 1} the lagged load stays above "
        "the limit in "
        f"{lifted['minutes_above']} error-free minutes (median {lifted['viewers']:.0f} "
        f"viewers, {lifted['expected']:.0f} errors expected by the limit before): the limit "
        "stopped binding there"
    )
    return (
        dataclasses.replace(
            fit, interval_reference=fit.interval_reference + note, limit_lifted=dict(lifted)
        ),
        after,
    )


def fit_limit_regime(
    counts: np.ndarray,
    exposure: np.ndarray,
    concurrency: np.ndarray,
    capacity: bool,
    raised: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[ThresholdFit | None, np.ndarray | None, dict | None]:
    """Return (K's fit, the minutes outside its regime, where the limit stopped binding).

    For a class whose hinge passed both nulls (``capacity``) and whose limit is not known to
    have been raised (``raised``, Realtime's billing lines), :func:`find_limit_lifted` looks
    for a change; found, K is fitted before it (:func:`fit_before_change`) and the minutes
    after it are returned in place of ``raised``. Otherwise K is fitted on the whole window,
    calibrated only for a capacity call, and ``raised`` is returned as given.
    """
    lifted = None
    if capacity and (raised is None or not raised.any()):
        lifted = find_limit_lifted(counts, exposure, concurrency)
    if lifted is None:
        fit = estimate_threshold(counts, exposure, concurrency, rng=rng if capacity else None)
        return fit, raised, None
    fit, after = fit_before_change(counts, exposure, concurrency, lifted, rng=rng)
    return fit, after, lifted


def describe_lifted(lifted: dict) -> str:
    """Return the reason's words for a limit that stopped binding (:func:`find_limit_lifted`)."""
    return (
        f"the limit stopped binding at minute {lifted['minute'] + 1} of the window while "
        f"{lifted['viewers']:.0f} viewers stayed (median lagged load of {lifted['minutes_above']} "
        f"error-free minutes above K's interval [{lifted['k_low_before']:.0f}, "
        f"{lifted['k_high_before']:.0f}] before it, where that limit expects "
        f"{lifted['expected']:.0f} errors): a limit raised or fixed in the window; K is fitted "
        f"on the {lifted['minute']} minutes before, and the later ones were not tested for "
        "errors persisting above K"
    )


def date_limit_lifted(fit: ThresholdFit, labels) -> ThresholdFit:
    """Return the fit with its ``limit_lifted`` dated: ``at`` and ``last_error_at`` (UTC, ISO).

    ``labels`` are the window's minutes (tz-aware UTC): the page says when the limit stopped
    binding in its own time zone.
    """
    lifted = dict(fit.limit_lifted)
    for key, index in (("at", lifted["minute"]), ("last_error_at", lifted["last_error"])):
        stamp = pd.Timestamp(labels[index])
        stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
        lifted[key] = stamp.isoformat()
    return dataclasses.replace(fit, limit_lifted=lifted)
