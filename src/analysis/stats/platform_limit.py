"""K beside the limit Realtime itself reports: a second reading of the same threshold.

A Realtime class's K is read in viewers (open presence sessions or a monitor), a load measured
with error: sessions written by devices whose clocks are off blur the audience in time, and
the hinge then reads a K that its interval holds with confidence and that is wrong (qa's
``skewed_clocks``: K 178 [170, 186] where the limit was 200). Realtime's billing lines measure
the same thing another way: ``connected`` counts the sockets, ``limit`` the ceiling in effect.
Where the class's errors fall in the minutes that ``connected`` sits at ``limit``, the limit
is observed binding, and the viewers at which it binds are the limit less the connections
that are not viewers (other pages, other webinars): the median of ``connected`` minus the
lagged load over the minutes near the limit but below it. When that reading and K's interval
do not meet, two readings of one threshold disagree: the interval reported spans both and K
is not flagged well identified (docs/statistics.md section 14).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis.stats.limits import name_limits_in
from analysis.stats.results import ThresholdFit
from analysis.stats.series import lag_padded
from analysis.stats.threshold import smooth_load

#: ``connected`` at this share of ``limit`` or more: the minute is at the limit (as
#: ``stats.episodes.SATURATION_SHARE``).
AT_LIMIT = 0.95
#: Share of the class's errors that must fall in minutes at the limit for the limit to be the
#: one binding: a class failing below it is not refused by it.
BINDING_SHARE = 0.9
#: Minutes below the limit, with ``connected`` at least this share of it, whose difference
#: from the viewers gives the offset: near the limit, where it matters (at a near-empty start
#: the other connections are a larger, different share).
NEAR_LIMIT = 0.5
#: Fewest such minutes for an offset.
MIN_OFFSET_MINUTES = 5


def read_platform_limit(
    counts: np.ndarray, concurrency: np.ndarray, signals: dict, fit: ThresholdFit
) -> dict | None:
    """Return the limit Realtime reports, read in the fit's load, or None.

    Parameters
    ----------
    counts : numpy.ndarray
        The class's errors per minute.
    concurrency : numpy.ndarray
        The load the fit was given (unsmoothed).
    signals : dict
        The frame's signals; ``rt_connected`` and ``rt_limit`` (billing metrics, max in the
        minute) are used.
    fit : ThresholdFit
        The class's threshold fit (its lag and whether it read the smoothed load).

    Returns
    -------
    dict or None
        ``limit``, ``offset`` (median connected minus lagged load), ``offset_low`` /
        ``offset_high`` (its quartiles), ``minutes`` (near the limit, below it),
        ``k`` = limit - offset and ``k_low`` / ``k_high`` from the quartiles. None without
        billing columns, when the limit changed within the errors' minutes, when less than
        ``BINDING_SHARE`` of the errors fall at the limit, or with fewer than
        ``MIN_OFFSET_MINUTES`` minutes near it.
    """
    conn, lim = signals.get("rt_connected"), signals.get("rt_limit")
    y = np.asarray(counts, dtype=float)
    if conn is None or lim is None or y.sum() <= 0:
        return None
    conn, lim = np.asarray(conn, dtype=float), np.asarray(lim, dtype=float)
    ok = np.isfinite(conn) & np.isfinite(lim) & (lim > 0)
    at_errors = np.unique(lim[ok & (y > 0)])
    if len(at_errors) != 1:
        return None
    limit = float(at_errors[0])
    same = ok & (lim == limit)
    at_limit = same & (conn >= AT_LIMIT * limit)
    if y[at_limit].sum() < BINDING_SHARE * y.sum():
        return None
    c = smooth_load(concurrency) if fit.load_smoothed else np.asarray(concurrency, dtype=float)
    lagged = lag_padded(c, fit.lag_minutes)
    near = same & ~at_limit & (conn >= NEAR_LIMIT * limit) & np.isfinite(lagged)
    if near.sum() < MIN_OFFSET_MINUTES:
        return None
    offsets = conn[near] - lagged[near]
    low, mid, high = (float(v) for v in np.percentile(offsets, [25, 50, 75]))
    return {
        "limit": limit,
        "offset": mid,
        "offset_low": low,
        "offset_high": high,
        "minutes": int(near.sum()),
        "k": limit - mid,
        "k_low": limit - high,
        "k_high": limit - low,
    }


def reconcile_platform_limit(
    fit: ThresholdFit, counts: np.ndarray, concurrency: np.ndarray, signals: dict
) -> ThresholdFit:
    """Return the fit with K's interval spanning the platform's reading where they disagree.

    Where :func:`read_platform_limit` reads the limit and its range of viewers does not meet
    K's interval, the interval is widened to hold both (K itself stays the hinge's) and the fit
    is weakly identified; ``platform_limit`` carries the reading in either case.
    """
    reading = read_platform_limit(counts, concurrency, signals, fit)
    if reading is None:
        return fit
    meets = reading["k_low"] <= fit.k_high and reading["k_high"] >= fit.k_low
    reading = {**reading, "meets_interval": bool(meets)}
    if meets:
        return dataclasses.replace(fit, platform_limit=reading)
    low, high = min(fit.k_low, reading["k_low"]), max(fit.k_high, reading["k_high"])
    note = (
        f"; Realtime's own billing lines put its limit of {reading['limit']:.0f} connections at "
        f"{reading['k']:.0f} viewers ({reading['k_low']:.0f}-{reading['k_high']:.0f}: connected "
        f"exceeds the viewers by {reading['offset']:.0f} over {reading['minutes']} minutes below "
        f"the limit), outside K's interval [{fit.k_low:.0f}, {fit.k_high:.0f}] from the viewers: "
        f"the load as read disagrees with the platform's count, so the interval spans both "
        f"([{low:.0f}, {high:.0f}]) and K is weakly identified"
    )
    return dataclasses.replace(
        fit,
        k_low=float(low),
        k_high=float(high),
        weakly_identified=True,
        interval_reference=fit.interval_reference + note,
        limits_in_interval=name_limits_in(low, high),
        platform_limit=reading,
    )
