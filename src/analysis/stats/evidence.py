"""The evidence beside a verdict: spread over sources, denominator, latency, Realtime saturation.

Split from :mod:`analysis.stats.verdicts` (which decides); nothing here moves a verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats.association import _shift_p, circular_shifts
from analysis.stats.episodes import SATURATION_SHARE
from analysis.stats.exposure import (
    choose_denominator,
    drop_masked_requests,
    find_stand_in,
    keep_logged_requests,
)
from analysis.stats.results import Signals, Spread
from analysis.stats.series import choose_counts, count_addresses


def _spearman(a: np.ndarray, b: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Spearman's rho of a (n,) with b (n,) rotated by each of ``shifts``.

    The ranks of a rotated series are the rotated ranks, so b is ranked once.
    """
    ra = pd.Series(a).rank().to_numpy()
    ranks = pd.Series(b).rank().to_numpy()
    rb = np.stack([np.roll(ranks, s) for s in shifts])
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
    masked = 0
    if not realtime:
        requests, masked = drop_masked_requests(requests, signals)
    logged, left_out = keep_logged_requests(y, requests, signals, realtime)
    counted, unit = choose_counts(logged, signals)
    _, denominator, excluded = choose_denominator(requests, signals, concurrency, realtime, counted)
    spread = []
    hit = y > 0
    for col in ("users", "clients", "endpoints", "addresses"):
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
            rhos = _spearman(cc, ll, circular_shifts(len(ll)))
            rho, rho_p = float(rhos[0]), _shift_p(rhos)
    addresses = count_addresses(y, signals)
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
        errors_without_request=left_out,
        masked_requests_excluded=masked,
        addresses=None if addresses is None else addresses[0],
        endpoint_addresses=None if addresses is None else addresses[1],
        denominator_kind=(
            "viewers_realtime"
            if realtime
            else find_stand_in(requests, signals, realtime) or "requests"
        ),
    )
