"""The hinge: its grid, the sup-LR test against a flat rate, and the threshold K with its lag."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize

from analysis.stats.constants import MIN_ERRORS, MIN_EXPOSURE
from analysis.stats.countmodels import (
    _fit_cox_moments,
    _fit_flat,
    _moment_alpha,
    _nb_kernel,
    _simulate_cox,
    fit_flat_nb,
    nb_loglik,
    simulate_nb,
)
from analysis.stats.limits import SUPABASE_LIMITS
from analysis.stats.results import HingeTest, ThresholdFit
from analysis.stats.series import lag_padded

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


#: Grid: K from 20 viewers, at least 3 minutes above K, lags 0-5 minutes.
K_MIN, K_STEP, MIN_MINUTES_ABOVE, MAX_LAG = 20.0, 2.0, 3, 5
#: Coarser K grid for the bootstrap test statistic (same statistic for data and replicates).
TEST_GRID_SIZE = 40


#: Sequential bootstrap: stop once this many replicates reach the observed statistic.
BOOT_STOP_EXCEED = 10


def _fit_hinge_grid(y, r, hinge, alpha, iters=40, tol=1e-8):
    """Profile b0, b1 >= 0 for every hinge column by Fisher scoring (identity link).

    y (B, n), r (n,), hinge (G, n), alpha (B,) -> ll (B, G), b0, b1 (B, G), converged (B, G).
    Each series (row of y) is fitted on its own: its grid of G x n cells then stays in the
    processor's cache however long the window (a block of 25 replicates of a 48-hour window
    was 17 million cells per temporary, over 100 MB each), and a series stops iterating when
    its own cells have converged rather than when the block's slowest has
    (docs/performance.md).
    """
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float).reshape(-1), (y.shape[0],))
    if y.shape[0] == 1:
        return _fit_hinge_series(y, r, hinge, alpha, iters, tol)
    # A (B, G, n) hinge (one grid per series) is split with its series.
    fits = [
        _fit_hinge_series(
            y[i : i + 1],
            r,
            hinge[i : i + 1] if hinge.ndim == 3 else hinge,
            alpha[i : i + 1],
            iters,
            tol,
        )
        for i in range(len(y))
    ]
    return tuple(np.concatenate(parts) for parts in zip(*fits, strict=True))


def _fit_hinge_series(y, r, hinge, alpha, iters, tol):
    """:func:`_fit_hinge_grid` of one block of series, iterated together."""
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
