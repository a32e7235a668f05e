"""An upper bound of the hinge test's statistic on a replicate, without fitting the grid.

The hinge test's bootstrap (:func:`analysis.stats.threshold.compare_hinge_to_flat`) needs to
know of each null replicate only whether its sup-LR reaches the data's. Every hinge cell's rate
per request never falls as the lagged load rises, so the best rate that never falls bounds every
cell at once (docs/statistics.md section 5, "Replicates the bound settles").
"""

from __future__ import annotations

import numpy as np

from analysis.stats.series import lag_padded

#: A replicate is left unfitted only when its upper bound is this far below the observed
#: statistic (the bound and the grid's scoring sum the same terms in other orders).
BOUND_MARGIN = 1e-6
#: Windows up to this many minutes screen the hinge test's replicates by the bound: its
#: monotone fit holds minutes x minutes block rates per replicate (a 4-hour window's chunk of
#: 25 is about 12 MB), which a day-long window would make gigabytes.
SCREEN_MINUTES = 240
#: Series x minutes x minutes that :func:`bound_lags_loglik` holds at once (8 MB a temporary).
BOUND_CELLS = 1 << 20


def lag_orders(concurrency: np.ndarray, max_lag: int) -> np.ndarray | None:
    """Return, per lag 0..``max_lag``, the minutes sorted by the load L minutes earlier (L, n).

    None above ``SCREEN_MINUTES`` (the bootstrap then fits every replicate).
    """
    if len(concurrency) > SCREEN_MINUTES:
        return None
    return np.stack(
        [np.argsort(lag_padded(concurrency, lag), kind="stable") for lag in range(max_lag + 1)]
    )


def _monotone_rates(y, r, a):
    """Rates that never fall along the minutes' order, as multipliers for the bound (B, n).

    The Poisson monotone fit (pooled adjacent blocks, by the max-min formula over cumulative
    sums; Robertson, Wright and Dykstra), then each pooled block's NB2 rate at alpha ``a``
    (B, 1) by Newton steps on its log, so that each block's NB2 score sums to zero. ``r`` is
    the exposure in the same order, one for all series (n,) or each series' own (B, n).
    """
    b, n = y.shape
    cy = np.concatenate([np.zeros((b, 1)), np.cumsum(y, 1)], 1)
    cr = np.concatenate([np.zeros(r.shape[:-1] + (1,)), np.cumsum(r, -1)], -1)
    upper = np.triu(np.ones((n, n), dtype=bool))
    with np.errstate(divide="ignore", invalid="ignore"):
        block = (cy[:, None, 1:] - cy[:, :-1, None]) / (cr[..., None, 1:] - cr[..., :-1, None])
    block = np.where(upper, block, np.inf)
    low = np.minimum.accumulate(block[..., ::-1], axis=-1)[..., ::-1]
    rate = np.where(upper, low, -np.inf).max(1)
    # Block ids over all series at once; blocks without errors keep the rate 0.
    starts = np.concatenate([np.ones((b, 1), bool), rate[:, 1:] != rate[:, :-1]], 1)
    ids = np.cumsum(starts.ravel()) - 1
    m = int(ids[-1]) + 1
    yv, av = y.ravel(), np.broadcast_to(a, (b, n)).ravel()
    rv = np.broadcast_to(r, (b, n)).ravel()
    first = np.flatnonzero(starts.ravel())
    alive = np.bincount(ids, yv, m) > 0
    u = np.log(np.where(alive, rate.ravel()[first], 1.0))
    for _ in range(30):
        e = av * rv * np.exp(u[ids])
        q = e / (1 + e)
        w = (yv + 1 / av) * q
        score = np.bincount(ids, yv - w, m)
        slope = np.bincount(ids, w * (1 - q), m)
        step = np.clip(score / np.maximum(slope, 1e-300), -5.0, 5.0)
        u = np.where(alive, u + step, u)
        if np.all(np.abs(step[alive]) < 1e-10):
            break
    return np.where(alive[ids], np.exp(u[ids]), 0.0).reshape(b, n)


def bound_sorted_loglik(yy, r, a):
    """Upper bound of each series' best log-likelihood with a rate that never falls (B,).

    ``yy`` (B, n) are the counts in the order along which the rate may not fall, ``r`` the
    exposure in that order ((n,) for all series or (B, n)), ``a`` NB2's alpha (B, 1) (at
    least 1e-10). The bound of :func:`bound_hinge_loglik` for one order; inf where the
    multipliers leave a term unbounded.
    """
    inv = 1.0 / a
    zero = np.zeros((yy.shape[0], 1))
    e = a * r * _monotone_rates(yy, r, a)
    q = e / (1 + e)
    lam = np.maximum(np.cumsum(yy - (yy + inv) * q, 1)[:, :-1], 0.0)
    lam = np.concatenate([zero, lam, zero], 1)
    num = yy + lam[:, :-1] - lam[:, 1:]
    cap = yy + inv
    ok = np.all((num >= -1e-9) & (num <= cap + 1e-9), 1)
    num = np.clip(num, 0.0, cap)
    p, rest = num / cap, cap - num
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(num > 0, num * (np.log(p) - np.log(a * r)), 0.0)
        term += np.where(rest > 0, rest * np.log1p(-np.where(rest > 0, p, 0.0)), 0.0)
    total = term.sum(1) + (yy * np.log(r)).sum(1)
    return np.where(ok, total, np.inf)


def bound_hinge_loglik(y, lagged, orders, alpha, per_lag=False):
    """Upper bound of each series' best hinge log-likelihood over every K, shape and lag.

    Every hinge cell of lag L has a rate per request b0 + b1 h(c[t - L]) with b1 >= 0 and h
    nondecreasing, so it is one of the rates that never fall as the lagged load rises. In the
    log-rate u each NB2 term is concave, and the Lagrangian of "u never falls along the load's
    order" gives, for any multipliers lambda >= 0, a separable bound with a closed form per
    minute (weak duality): sup over u of (y + k) u - (y + 1/a) log(1 + a r e^u), k the
    multipliers' difference. The multipliers are the NB2 scores summed along the order at the
    rates of :func:`_monotone_rates` (near the monotone optimum, where the bound is tight). A
    series whose multipliers leave a term unbounded gets no bound (inf). Returns (B,), or with
    ``per_lag`` each lag's bound of its own cells (L, B).
    """
    a = np.maximum(alpha, 1e-10)[:, None]
    lags = np.stack(
        [
            bound_sorted_loglik(y[:, order], lagged[lag][order], a)
            for lag, order in enumerate(orders)
        ]
    )
    return lags if per_lag else lags.max(0)


def bound_lags_loglik(y, loads, r, alpha, lags):
    """Upper bound of each series' best threshold log-likelihood at each lag (len(lags), B).

    The threshold's cell (K, lag L, shape) has the mean r[t] (b0 + b1 max(0, c[t - L] - K) **
    s) with b0, b1 >= 0: a rate per request that never falls as c[t - L] rises, whatever K and
    the shape. Each series y (B, n) has its own load ``loads`` (B, n) and one exposure ``r``
    (n,) and NB2 ``alpha`` for all; the bound is :func:`bound_sorted_loglik` along each
    series' own order of its lagged load.
    """
    a = np.full((y.shape[0], 1), max(float(alpha), 1e-10))
    out = np.empty((len(lags), y.shape[0]))
    # A few series at a time: the monotone fit holds minutes x minutes per series.
    step = max(1, BOUND_CELLS // y.shape[1] ** 2)
    for j, lag in enumerate(lags):
        lagged = np.stack([lag_padded(load, int(lag)) for load in loads])
        order = np.argsort(lagged, axis=1, kind="stable")
        ys, rs = np.take_along_axis(y, order, 1), r[order]
        for i in range(0, len(y), step):
            out[j, i : i + step] = bound_sorted_loglik(
                ys[i : i + step], rs[i : i + step], a[i : i + step]
            )
    return out
