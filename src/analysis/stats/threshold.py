"""The hinge: its grid, the sup-LR test against a flat rate, and the threshold K with its lag."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize
from scipy.stats import binom

from analysis.stats.constants import MIN_ERRORS, MIN_EXPOSURE
from analysis.stats.countmodels import (
    _fit_cox_moments,
    _moment_alpha,
    _nb_kernel,
    _simulate_cox,
    fit_flat_nb,
    nb_loglik,
    simulate_nb,
)
from analysis.stats.limits import SUPABASE_LIMITS, name_limits_in
from analysis.stats.monotone import (
    BOUND_MARGIN,
    SCREEN_MINUTES,
    bound_hinge_loglik,
    bound_lags_loglik,
    lag_orders,
)
from analysis.stats.results import HingeTest, ThresholdFit
from analysis.stats.series import lag_padded

#: Smallest LR cut of the profile intervals of K and of the lag: chi-square(1)'s 95% point.
#: The cuts actually used are the 95% points of each profile LR at the fitted cell over
#: parametric-bootstrap replicates from the fit, when larger (K is non-regular, the errors may
#: be bursty: the asymptotic cut under-covers; docs/statistics.md section 4).
PROFILE_LR_CUT = 3.84
#: Replicates for the cuts (their 95% point, np.quantile's: between the 3rd and 4th largest of 49).
REGION_BOOT = 49
#: The cut's Monte-Carlo band: the order statistics of the replicates between which the true
#: 95% point lies with about this probability (the count of replicates below it is binomial).
CUT_MC_LEVEL = 0.9
#: Shapes of the response above K, max(0, c - K) ** s: saturating (a share of users that
#: cannot exceed all of them; refusals counted against viewers), linear, accelerating (queues).
#: K is the onset whatever the shape; fixing s = 1 biased K when the response saturates.
SHAPE_EXPONENTS = (0.5, 1.0, 2.0)
#: Grid cells whose LR exceeds this are left out of the region's replicate fits unless a cut
#: exceeds half of it (far from the fitted cell, they hold a replicate's maximum only when the
#: replicates' LRs at the fitted cell spread far; with bursty errors they do, and the cut
#: computed without them was then off by a factor of up to 40).
REGION_GRID_LR = 20.0
#: A replicate's cell stops when its log-likelihood moves by less than this: the cuts are 95 %
#: points of LRs of 3.84 and more, so 1e-5 is ample (the data's own fit goes to 1e-8).
REGION_TOL = 1e-5
#: Replicates refitted together when calibrating the cuts.
REGION_CHUNK = 8
#: K is "well identified" only when K-hat lies within this share of every K of its interval
#: (what the flag claims: the onset is known to within 10 %, wherever in the interval it is),
#: and the lag range spans at most MAX_LAG_SPREAD minutes (e.g. 1-3).
WELL_IDENTIFIED_WITHIN = 0.10
MAX_LAG_SPREAD = 2
#: ... or when fewer minutes than this have their lagged load inside K's interval.
MIN_MINUTES_AT_ONSET = 2


#: Grid: K from 20 viewers (from the lowest load when it goes below, ``k_floor``), at least 3
#: minutes above K, lags 0-5 minutes. The hinge test's grid starts at K_MIN.
K_MIN, K_STEP, MIN_MINUTES_ABOVE, MAX_LAG = 20.0, 2.0, 3, 5
#: At most about this many K values: on a wide load range the step grows (whole viewers), so
#: a 2,400-viewer window is profiled every 12 viewers, not every 2 (1,190 values); a step of
#: 1/200 of the range is under 1 % of any K in its upper half. Loads up to 420 keep K_STEP.
K_GRID_SIZE = 200
#: Coarser K grid for the bootstrap test statistic (same statistic for data and replicates).
TEST_GRID_SIZE = 40


#: A series' grid larger than SPLIT_ABOVE cells x minutes is fitted in blocks of CELL_BLOCK:
#: one block of a 48-hour grid left the processor's cache (three times slower). Smaller grids,
#: an hour's among them (the shipped hour's are at most 2,610 cells x 60 minutes), are one
#: block; where a grid is split, a block stops iterating on its own, which moves its
#: log-likelihoods by less than the fit's tolerance.
CELL_BLOCK, SPLIT_ABOVE = 1 << 16, 1 << 18

#: Log-likelihoods closer than this are tied (the scoring stops at changes below 1e-8).
TIE_LL = 1e-6
#: Smallest NB2 alpha fitted at the threshold's cell; below it the counts are Poisson.
ALPHA_MIN = 1e-4

#: Sequential bootstrap: stop once this many replicates reach the observed statistic.
BOOT_STOP_EXCEED = 10


def _fit_hinge_grid(y, r, hinge, alpha, iters=40, tol=1e-8, start=None):
    """Profile b0, b1 >= 0 for every hinge column by Fisher scoring (identity link).

    y (B, n), r (n,) or one exposure per cell (G, n), hinge (G, n) or one grid per series
    (B, G, n), alpha (B,) -> ll (B, G), b0, b1 (B, G), converged (B, G). ``start``: (b0, b1) of
    each cell (G,) to start from instead of the flat rate.
    Each series (row of y) is fitted on its own, a large grid in blocks of ``CELL_BLOCK``
    cells x minutes: the arrays then stay in the processor's cache however long the window (a
    block of 25 replicates of a 48-hour window was 17 million cells per temporary, over 100 MB
    each). Within a block, a cell stops iterating once its own log-likelihood has converged
    (docs/performance.md).
    """
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float).reshape(-1), (y.shape[0],))
    n_cells = hinge.shape[-2]
    split = n_cells * y.shape[-1] > SPLIT_ABOVE
    cells = max(1, CELL_BLOCK // y.shape[-1]) if split else n_cells
    fits = []
    for i in range(y.shape[0]):
        # A (B, G, n) hinge (one grid per series) is split with its series.
        grid = hinge[i] if hinge.ndim == 3 else hinge
        blocks = [
            _fit_hinge_series(
                y[i],
                r if r.ndim == 1 else r[g : g + cells],
                grid[g : g + cells],
                float(alpha[i]),
                iters,
                tol,
                None if start is None else (start[0][g : g + cells], start[1][g : g + cells]),
            )  # fmt: skip
            for g in range(0, grid.shape[-2], cells)
        ]
        fits.append(tuple(np.concatenate(parts) for parts in zip(*blocks, strict=True)))
    return tuple(np.stack(parts) for parts in zip(*fits, strict=True))


def _fit_hinge_series(y, r, hinge, alpha, iters, tol, start=None):
    """:func:`_fit_hinge_grid` of one series y (n,) on hinge columns (G, n) -> (G,) arrays.

    ``r`` is the exposure (n,), or each cell's own (G, n) (the hinge test's cells with a lagged
    flat rate, :func:`_test_cells`).

    Only the cells still moving are iterated: a cell whose log-likelihood changed by less than
    ``tol`` keeps its coefficients, and the arrays shrink to the others (most cells of an
    hour's grid converge in a few steps, a few need tens).
    """
    a = max(alpha, 1e-10)  # the NB kernel's floor: alpha = 0 is the Poisson limit
    pos = np.flatnonzero(y > 0)
    y_pos, y_inv = y[pos], y + 1.0 / a

    def loglik(mu):
        # _nb_kernel for one series, with log(mu) only where the count is positive.
        return np.log(mu[:, pos]) @ y_pos - np.log1p(a * mu) @ y_inv

    rh = r * hinge  # (G, n)
    per_cell = r.ndim == 2
    # The exposure and the counts in every row, contiguous: a (n,) operand broadcast over (G, n)
    # runs numpy's inner loop once per row (several times slower than whole arrays); the rows of
    # the cells still iterating are the first ones of these (every row is the same).
    r_rows = r if per_cell else np.tile(r, (hinge.shape[0], 1))
    y_rows = np.tile(y, (hinge.shape[0], 1))
    if start is None and per_cell:
        b0 = np.maximum(y.sum() / r.sum(-1), 1e-12)
        excess = hinge @ y - b0 * np.einsum("gn,gn->g", rh, hinge)
        b1 = np.maximum(excess / np.maximum(np.einsum("gn,gn->g", rh * hinge, hinge), 1e-12), 0)
    elif start is None:
        b0 = np.full(hinge.shape[0], max(y.sum() / r.sum(), 1e-12))
        excess = hinge @ y - b0 * np.einsum("gn,gn->g", rh, hinge)
        b1 = np.maximum(excess / np.maximum(np.einsum("gn,gn->g", rh * hinge, hinge), 1e-12), 0)
    else:
        b0, b1 = np.maximum(start[0], 1e-12), start[1].astype(float)
    b1 = np.maximum(b1, 1e-3 * b0 / np.maximum(hinge.max(-1), 1.0))
    mu = r_rows * b0[:, None]
    mu += rh * b1[:, None]
    ll = loglik(mu)
    done = np.zeros(ll.shape, dtype=bool)
    act = np.arange(len(ll))  # the cells still iterating, and their rows below
    h_a, rh_a, r_a = hinge, rh, r_rows
    for _ in range(iters):
        b0a, b1a, lla = b0[act], b1[act], ll[act]
        rw = mu * a
        rw += 1.0
        rw *= mu
        np.divide(r_a, rw, out=rw)  # r w with the NB2 weight w = 1 / (mu (1 + alpha mu))
        q = rw * rh_a
        a00 = np.einsum("gn,gn->g", rw, r_a) if per_cell else rw @ r
        a01, a11 = q.sum(-1), np.einsum("gn,gn->g", q, h_a)
        res = y_rows[: len(act)] - mu
        res *= rw
        g0, g1 = res.sum(-1), np.einsum("gn,gn->g", res, h_a)
        det = np.maximum(a00 * a11 - a01 * a01, 1e-300)
        d0 = (a11 * g0 - a01 * g1) / det
        d1 = (a00 * g1 - a01 * g0) / det
        # b1 = 0 boundary: a b0-only scoring step instead of the joint one.
        at_bound = b1a + d1 <= 0
        d0 = np.where(at_bound, g0 / a00, d0)
        d1 = np.where(at_bound, -b1a, d1)
        new0 = np.maximum(b0a + d0, b0a / 10)
        new1 = b1a + d1
        new_mu = r_a * new0[:, None]
        new_mu += rh_a * new1[:, None]
        new_ll = loglik(new_mu)
        # Step halving where the likelihood fell (identity-link scoring can overshoot); only
        # the cells that fell are recomputed.
        for _ in range(6):
            bad = np.flatnonzero(new_ll < lla - 1e-12)
            if not len(bad):
                break
            new0[bad] = 0.5 * (new0[bad] + b0a[bad])
            new1[bad] = 0.5 * (new1[bad] + b1a[bad])
            r_bad = r_a[bad] if per_cell else r
            new_mu[bad] = r_bad * new0[bad, None] + rh_a[bad] * new1[bad, None]
            new_ll[bad] = loglik(new_mu[bad])
        bad = new_ll < lla
        new0 = np.where(bad, b0a, new0)
        new1 = np.where(bad, b1a, new1)
        new_ll = np.where(bad, lla, new_ll)
        new_mu[bad] = mu[bad]  # a cell that kept its coefficients keeps its mean
        moving = np.abs(new_ll - lla) >= tol
        b0[act], b1[act], ll[act], done[act] = new0, new1, new_ll, ~moving
        if not moving.any():
            break
        act, h_a, rh_a, mu = act[moving], h_a[moving], rh_a[moving], new_mu[moving]
        r_a = r_a[moving] if per_cell else r_rows[: len(act)]
    return ll, b0, b1, done


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


def _test_cells(requests: np.ndarray, grid) -> tuple[np.ndarray, ...]:
    """Return the hinge test's cells with a flat rate per request at their own lag.

    ``grid`` = (hinge columns (G, n), K, lag) of :func:`_test_grid`. Returns (the requests at
    each lag 0..MAX_LAG (L, n), each cell's exposure (G, n), each cell's hinge column (G, n),
    each cell's lag (G,)):
    the cell of lag L models errors ~ requests[t - L] x (b0 + b1 max(0, c[t - L] - K)), so at
    b1 = 0 it is the flat null at the same lag. A flat null without a lag against a hinge with
    one read errors that follow traffic a few minutes late (retry loops backing off, sessions
    that keep failing) as a threshold at the hour's lowest load (docs/statistics.md section 5).
    """
    hinge, _, lags = grid
    lagged = np.stack([lag_padded(requests, lag) for lag in range(MAX_LAG + 1)])
    return lagged, lagged[lags], hinge, lags


def _flat_at_lags(y, lagged, iters=30):
    """Fit the flat null at every lag: (alpha (B,), log-likelihood at each lag (L, B)).

    alpha is the moment estimate at the lag whose Poisson fit is best; every lag's flat fit
    and every hinge cell then use it (one working likelihood, as with one lag). The rate of
    every lag and series is fitted at once by Fisher scoring, as :func:`_fit_flat` does for one.
    """
    b0 = y.sum(-1)[None, :] / lagged.sum(-1)[:, None]  # (L, B) Poisson ML of each lag
    mu = b0[:, :, None] * lagged[:, None, :]
    pois = np.sum(y[None] * np.log(np.maximum(mu, 1e-300)) - mu, axis=-1)
    alpha = _moment_alpha(y, mu[pois.argmax(0), np.arange(len(y))])
    a = alpha[None, :, None]
    b0 = np.maximum(b0, 1e-12)
    for _ in range(iters):
        mu = b0[:, :, None] * lagged[:, None, :]
        w = lagged[:, None, :] / (mu * (1 + a * mu))
        step = np.sum((y[None] - mu) * w, -1) / np.sum(w * lagged[:, None, :], -1)
        new = np.maximum(b0 + step, b0 / 10)
        done = np.all(np.abs(new - b0) <= 1e-10 * b0)
        b0 = new
        if done:
            break
    return alpha, _nb_kernel(y[None], b0[:, :, None] * lagged[:, None, :], a)


def _sup_lr(y, cells):
    """Return the sup-LR statistic for data or replicates y (B, n) on :func:`_test_cells`.

    2 (max over the hinge cells - max over the lags of the flat fit), NB2 log-likelihoods
    with one alpha by moments (:func:`_flat_at_lags`).
    """
    lagged, r_cells, hinge = cells[:3]
    alpha, ll_flat = _flat_at_lags(y, lagged)
    # 8 scoring steps put the grid maximum within 1e-9 of its converged value in trials; the
    # statistic is the same function for data and replicates, so the test stays calibrated.
    ll, _, _, _ = _fit_hinge_grid(y, r_cells, hinge, alpha, iters=8, tol=1e-7)
    return np.maximum(0.0, 2 * (ll.max(1) - ll_flat.max(0)))


def _count_reaching(reps, cells, observed, orders):
    """Return how many replicates' sup-LR (:func:`_sup_lr`) reach ``observed``.

    Only the replicates and lags whose upper bound (:func:`monotone.bound_hinge_loglik`) does
    not already rule it out are fitted: the count is the whole grid's, up to a statistic within
    rounding of the observed one (docs/statistics.md section 5).
    """
    lagged, r_cells, hinge, cell_lags = cells
    alpha, ll_flat = _flat_at_lags(reps, lagged)
    flat = ll_flat.max(0)
    bounds = 2 * (bound_hinge_loglik(reps, lagged, orders, alpha, per_lag=True) - flat)
    open_ = bounds >= observed - 1e-9 - BOUND_MARGIN  # (L, B)
    count = 0
    for i in np.flatnonzero(open_.any(0)):
        sel = open_[cell_lags, i]
        ll, _, _, _ = _fit_hinge_grid(
            reps[i : i + 1], r_cells[sel], hinge[sel], alpha[i : i + 1], iters=8, tol=1e-7
        )
        count += int(max(0.0, 2 * (ll.max() - flat[i])) >= observed - 1e-9)
    return count


def _bootstrap_p(observed, draw, cells, n_boot, chunk=25, stop_after=BOOT_STOP_EXCEED, orders=None):
    """Monte-Carlo p-value of ``observed`` among replicates drawn by ``draw(size)``.

    Sequential (Besag and Clifford 1991): replicates come ``chunk`` at a time and sampling
    stops once ``stop_after`` of them reach the observed value, with p = exceedances / drawn;
    otherwise p = (1 + exceedances) / (n_boot + 1). With 10 exceedances the early p is at
    least 0.1, so every decision at 0.05 is the one the full n_boot would give. With
    ``orders`` (:func:`monotone.lag_orders`) a replicate is fitted on the grid only when an
    upper bound of its statistic reaches the observed one (:func:`_count_reaching`): the same
    p-value.
    """
    exceed = drawn = 0
    while drawn < n_boot:
        size = min(chunk, n_boot - drawn)
        reps = draw(size).astype(float)
        if orders is None:
            exceed += int(np.sum(_sup_lr(reps, cells) >= observed - 1e-9))
        else:
            exceed += _count_reaching(reps, cells, observed, orders)
        drawn += size
        if exceed >= stop_after and drawn < n_boot:
            return exceed / drawn
    return (1 + exceed) / (n_boot + 1)


def fit_lagged_flat(errors: np.ndarray, requests: np.ndarray) -> tuple[float, float, int]:
    """ML fit of errors ~ NB2(b0 x requests[t - lag], alpha) at the lag that fits best.

    The lag (0..MAX_LAG, the first of ties) is the one whose flat fit is best in the test's
    working likelihood (:func:`_flat_at_lags`); b0 and alpha are then fitted by ML there.
    Returns (b0, alpha, lag): the hinge test's null, a flat rate per request whose errors may
    come some minutes after their requests.
    """
    y = np.asarray(errors, dtype=float)
    lagged = np.stack([lag_padded(requests, lag) for lag in range(MAX_LAG + 1)])
    _, ll = _flat_at_lags(y[None, :], lagged)
    lag = _best_cell(ll[:, 0])
    b0, alpha, _ = fit_flat_nb(y, lagged[lag])
    return b0, alpha, lag


def compare_hinge_to_flat(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int = 199,
) -> HingeTest | None:
    """Sup-LR test of a hinge in lagged concurrency against a flat rate per request.

    Both models have the lag: the null is a flat rate per request L minutes earlier (L in
    0..MAX_LAG, profiled), the hinge cell of lag L adds max(0, c[t - L] - K) to the rate of
    that same exposure. The statistic's reference distribution is a parametric bootstrap under
    the null fitted by ML at its best lag (:func:`fit_lagged_flat`). Returns None when no grid
    cell exists (concurrency never above the floor).
    """
    y = np.asarray(errors, dtype=float)
    r = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    grid = _test_grid(concurrency)
    if grid is None or len(grid[1]) == 0:
        return None
    cells = _test_cells(r, grid)
    observed = float(_sup_lr(y[None, :], cells)[0])
    b0, alpha, lag = fit_lagged_flat(y, r)
    mu = b0 * lag_padded(r, lag)
    p_value = _bootstrap_p(
        observed,
        lambda size: simulate_nb(np.broadcast_to(mu, (size, len(mu))), alpha, rng),
        cells,
        n_boot,
        orders=lag_orders(concurrency, MAX_LAG),
    )
    return HingeTest(
        lr=observed,
        p_value=p_value,
        n_boot=n_boot,
        reference=(
            "parametric bootstrap under the flat NB2 rate per request (ML fit; the requests "
            f"{lag} minute(s) earlier, the best of lags 0-{MAX_LAG})"
        ),
        null_alpha=alpha,
        p_value_bursty_null=None,
        bursty_null_phi=None,
        null_lag=lag,
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

    The flat rate is the test's null at its lag (``test.null_lag``). The Cox moments
    (variance and lag-1 persistence of the log-intensity) come from that flat fit, so the null
    keeps the errors' burstiness; the gap between the two p-values is how uncertain a
    capacity call is when errors are bursty.
    """
    y = np.asarray(errors, dtype=float)
    r = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    cells = _test_cells(r, _test_grid(concurrency))
    r_l = cells[0][test.null_lag]
    mu = r_l * y.sum() / r_l.sum()
    sigma2, phi = _fit_cox_moments(y, mu)
    p_value = _bootstrap_p(
        test.lr,
        lambda size: _simulate_cox(mu, sigma2, phi, size, rng),
        cells,
        test.n_boot,
        orders=lag_orders(concurrency, MAX_LAG),
    )
    return dataclasses.replace(test, p_value_bursty_null=p_value, bursty_null_phi=phi)


def _fit_hinge_ml(y, r, hinge_col):
    """ML of (b0, b1, alpha) at one grid cell; returns (b0, b1, alpha, converged).

    alpha is profiled out: (b0, b1) by the grid's own scoring at each alpha, alpha by a bounded
    scalar search of the full NB2 log-likelihood, as :func:`fit_flat_nb` does. alpha = 0
    (Poisson) when the counts are not overdispersed at the Poisson fit or the NB2 optimum is no
    better than it: the MLE then lies on the boundary, and a general optimiser started from a
    Poisson cell stopped at alphas near 1e-4 that moved with the start's last digits.
    """
    col = hinge_col[None, :]

    def fit_at(alpha):
        _, b0, b1, done = _fit_hinge_series(y, r, col, alpha, 100, 1e-12)
        return float(b0[0]), float(b1[0]), bool(done[0])

    def negll(log_alpha):
        a = math.exp(log_alpha)
        b0, b1, _ = fit_at(a)
        return -nb_loglik(y, r * (b0 + b1 * hinge_col), a)

    p0, p1, ok = fit_at(0.0)
    mu = r * (p0 + p1 * hinge_col)
    if _moment_alpha(y, mu) <= 0:
        return p0, p1, 0.0, ok
    res = optimize.minimize_scalar(negll, bounds=(math.log(1e-6), math.log(1e3)), method="bounded")
    alpha = math.exp(res.x)
    if alpha < ALPHA_MIN or -res.fun <= nb_loglik(y, mu, 0.0):
        return p0, p1, 0.0, ok and bool(res.success)
    b0, b1, ok_nb = fit_at(alpha)
    return b0, b1, alpha, ok_nb and bool(res.success)


def k_floor(concurrency: np.ndarray) -> float:
    """Return the K grid's first value: ``K_MIN``, or lower when the load goes below it.

    A load that dips under ``K_MIN`` viewers can show an onset there (a small audience); the
    grid then starts at the lowest load, rounded down to a multiple of ``K_STEP``, so an
    interval reaching it is open because the data end there, not the grid. A K below every
    minute's load is a line through all of them, not an onset: no lower value is searched.
    """
    low = float(np.min(concurrency))
    return min(K_MIN, max(0.0, K_STEP * math.floor(low / K_STEP)))


def k_step(concurrency: np.ndarray) -> float:
    """Return the K grid's step: ``K_STEP`` viewers, more (whole viewers) on a wide range."""
    top = float(np.max(concurrency))
    return max(K_STEP, float(math.ceil((top - K_MIN) / K_GRID_SIZE)))


def build_threshold_grid(concurrency: np.ndarray, k_values: np.ndarray | None = None):
    """Return (hinge columns (G, n), K (G,), lag (G,), shape exponent (G,)) of the K grid.

    Every (K, lag) cell of :func:`build_hinge_grid` from :func:`k_floor` to the load's maximum
    in steps of :func:`k_step` (or on ``k_values``), once per exponent of
    :data:`SHAPE_EXPONENTS` (columns max(0, c[t - lag] - K) ** exponent).
    """
    c = np.asarray(concurrency, dtype=float)
    if k_values is None:
        k_values = np.arange(k_floor(c), c.max(), k_step(c))
    hinge, ks, ls = build_hinge_grid(c, k_values)
    cols = [hinge**g for g in SHAPE_EXPONENTS]
    n = len(ks)
    return (
        np.concatenate(cols),
        np.tile(ks, len(SHAPE_EXPONENTS)),
        np.tile(ls, len(SHAPE_EXPONENTS)),
        np.repeat(np.asarray(SHAPE_EXPONENTS, dtype=float), n),
    )


def _profile(ll: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Max of ll (..., G) over the cells whose key equals each value -> (..., len(values))."""
    out = np.full(ll.shape[:-1] + (len(values),), -np.inf)
    for i, v in enumerate(values):
        sel = keys == v
        if sel.any():
            out[..., i] = ll[..., sel].max(-1)
    return out


def _best_cell(ll: np.ndarray) -> int:
    """Index of the first grid cell within ``TIE_LL`` of the largest log-likelihood.

    Cells whose likelihoods differ by less than the fit's precision are tied (every cell with
    b1 = 0 is the flat fit, whatever its K): a plain argmax would pick among them by the last
    digits of the arithmetic, and K with it.
    """
    return int(np.flatnonzero(ll >= ll.max() - TIE_LL)[0])


def estimate_load_noise(concurrency: np.ndarray) -> float:
    """Return a robust sd of the load's minute-to-minute noise, on the log scale.

    From the second differences of log concurrency (1.4826 x MAD / sqrt(6), the sd of
    independent noise): a smooth audience has second differences near 0 except at its few
    corners, which the median ignores; a monitor's sampling noise shows in every minute. Fast
    real load changes count as noise too, so the estimate errs towards wider intervals.
    """
    c = np.asarray(concurrency, dtype=float)
    ok = c >= K_MIN
    d2 = np.diff(np.log(np.maximum(c, 1.0)), 2)[ok[2:] & ok[1:-1] & ok[:-2]]
    if len(d2) < 5:
        return 0.0
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def smooth_load(concurrency: np.ndarray) -> np.ndarray:
    """Return the load smoothed over 3 minutes, weights (1, 2, 1) / 4, along the last axis.

    The ends repeat the first and last minute. A straight ramp is left as it is; independent
    noise of a monitor's readings keeps 3/8 of its variance. The threshold's grid fits it
    beside the readings (:func:`build_reading_grid`).
    """
    c = np.asarray(concurrency, dtype=float)
    padded = np.concatenate([c[..., :1], c, c[..., -1:]], axis=-1)
    return 0.25 * padded[..., :-2] + 0.5 * padded[..., 1:-1] + 0.25 * padded[..., 2:]


def _replicate_grid(noisy, ks, ls, shapes, smoothed):
    """Hinge columns (G, n) of the cells (ks, ls, shapes) on one replicate's load ``noisy`` (n,).

    ``smoothed``: the cells read the load smoothed (:func:`smooth_load`), as the data's chosen
    reading did. One replicate at a time: a day-long window's grid is tens of MB a replicate,
    and a block of replicates stacked was hundreds (docs/performance.md, "Long windows").
    """
    c = smooth_load(noisy) if smoothed else np.asarray(noisy, dtype=float)
    n = len(c)
    # lagged[L, t] = the reading at t - L, padded with the first minute.
    idx = np.maximum(np.arange(n)[None, :] - np.arange(MAX_LAG + 1)[:, None], 0)
    hinge = c[idx][ls]
    hinge -= ks[:, None]
    np.maximum(hinge, 0.0, out=hinge)
    # Powers by shape (square root, identity, square): a power with an array of exponents is
    # several times slower than these.
    for s in np.unique(shapes):
        if s != 1.0:
            sel = shapes == s
            hinge[sel] = hinge[sel] ** float(s)
    return hinge


def _replicate_maxima(reps, noisy, r, alpha, cells, k_hat, lag_hat):
    """Each replicate's largest log-likelihood over ``cells``, at K-hat and at the lag-hat.

    ``cells`` = (K, lag, shape, reading (one bool for all), (b0, b1)) of each cell, the last
    the data's fit there: each replicate's scoring starts from it (replicates are drawn from
    the fit, so their optimum is near the data's, and fewer steps reach it). Returns three (B,)
    arrays, -inf where no cell has K-hat or the lag-hat. Cells are fitted independently, so
    maxima over two sets of cells combine by their larger value.

    A replicate's cells are fitted lag by lag, the lag-hat's first (its maximum is one of the
    three), then the others by their upper bound (:func:`monotone.bound_lags_loglik`, every
    cell of a lag at once): a lag whose bound lies below the replicate's largest value at K-hat
    so far cannot move any of the three and is not fitted; one below the largest value so far
    has only its K-hat cells fitted. The maxima are those of fitting every cell, up to the
    last digits of the sums (docs/statistics.md section 4, "Lags the bound settles"). Windows
    over ``SCREEN_MINUTES`` fit every cell (the bound holds minutes x minutes per replicate).
    """
    ks, ls, shapes, smoothed, start = cells
    out = np.full((3, len(reps)), -np.inf)
    at_k = ks == k_hat
    lags = np.unique(ls)
    if reps.shape[1] > SCREEN_MINUTES:
        bounds = np.full((len(lags), len(reps)), np.inf)
    else:
        loads = smooth_load(noisy) if smoothed else noisy
        bounds = bound_lags_loglik(reps, loads, r, alpha, lags)
    for i in range(len(reps)):
        # The lag-hat first, then the lags most likely to hold the maximum.
        for j in sorted(range(len(lags)), key=lambda j: (lags[j] != lag_hat, -bounds[j, i])):
            sel = ls == lags[j]
            if lags[j] != lag_hat:
                if bounds[j, i] < out[1, i] - BOUND_MARGIN:
                    continue
                if bounds[j, i] < out[0, i] - BOUND_MARGIN:
                    sel &= at_k
            if not sel.any():
                continue
            sub = _replicate_grid(noisy[i], ks[sel], ls[sel], shapes[sel], smoothed)
            begin = (start[0][sel], start[1][sel])
            llr, _, _, _ = _fit_hinge_grid(
                reps[i : i + 1], r, sub, np.array([alpha]), iters=8, tol=REGION_TOL, start=begin
            )
            out[0, i] = max(out[0, i], llr[0].max())
            if at_k[sel].any():
                out[1, i] = max(out[1, i], llr[0, at_k[sel]].max())
            if lags[j] == lag_hat:
                out[2, i] = llr[0].max()
    return out


def _calibrate_cuts(y, r, c, mu, alpha, grid, fit, best, rng, n_boot, noise):
    """Bootstrap 95% points of the profile LRs of K and of the lag at the fitted cell.

    Replicates are drawn from the fitted mean with the data's own extra-Poisson variation and
    persistence (AR(1)-Cox moments of the residuals at the fit, :func:`_fit_cox_moments`), and
    refitted like the data (the same grid, readings of the load included, working NB likelihood
    and scoring, 8 steps) on a copy of the fit's load ``c`` carrying noise of the size the
    readings show (``noise``, :func:`estimate_load_noise`). A cut from NB replicates on the
    observed load assumes the minutes are independent given the load and the load exact;
    bursty errors are not, a monitor's readings are not, and the LR at the true K then spreads
    wider. Cells the data leaves implausible (LR above ``REGION_GRID_LR``) are refitted only
    when a cut comes out above half of it: a replicate's maximum then strays that far. Returns
    (cut for K, cut for the lag, (variance, persistence, (K cut's band, lag cut's band))), the
    bands from :func:`quantile_band`.
    """
    hinge, ks, ls, shapes, smoothed = grid
    lr_cells, b0s, b1s = fit
    sigma2, phi = _fit_cox_moments(y, mu)
    k_hat, lag_hat = ks[best], ls[best]
    # Drawn a few replicates at a time, each block's counts then its loads (the order of the
    # random stream the cuts have always used).
    reps, noisy = [], []
    for size in np.diff(np.linspace(0, n_boot, max(1, n_boot // REGION_CHUNK) + 1).astype(int)):
        reps.append(_simulate_cox(np.broadcast_to(mu, (size, len(mu))), sigma2, phi, size, rng))
        noisy.append(c * np.exp(noise * rng.standard_normal((size, len(c)))))
    reps, noisy = np.concatenate(reps).astype(float), np.concatenate(noisy)

    # Only the reading the data's fit chose: its cells are the ones the replicates are drawn
    # from, and the data's profile over both readings is never above the chosen reading's
    # alone, so an interval cut there holds the chosen reading's own interval (half the cost;
    # docs/statistics.md section 4).
    chosen = smoothed == smoothed[best]

    def maxima(sel):
        sel = sel & chosen
        cells = (ks[sel], ls[sel], shapes[sel], bool(smoothed[best]), (b0s[sel], b1s[sel]))
        return _replicate_maxima(reps, noisy, r, alpha, cells, k_hat, lag_hat)

    def cuts(m):
        return np.quantile(2 * (m[0] - m[1]), 0.95), np.quantile(2 * (m[0] - m[2]), 0.95)

    near = lr_cells <= REGION_GRID_LR
    m = maxima(near)
    q_k, q_l = cuts(m)
    if max(q_k, q_l) > REGION_GRID_LR / 2 and not near[chosen].all():
        m = np.maximum(m, maxima(~near))
        q_k, q_l = cuts(m)
    bands = tuple(
        tuple(max(PROFILE_LR_CUT, float(v)) for v in quantile_band(2 * (m[0] - m[j])))
        for j in (1, 2)
    )
    return max(PROFILE_LR_CUT, float(q_k)), max(PROFILE_LR_CUT, float(q_l)), (sigma2, phi, bands)


def quantile_band(values: np.ndarray, q: float = 0.95, level: float = CUT_MC_LEVEL):
    """Return the order statistics of ``values`` that hold their true ``q`` point w.p. ~``level``.

    The number of replicates below the true point is binomial(n, q); the band runs from the
    j-th to the k-th smallest value with j, k its central ``level`` quantiles (k at most n:
    with 49 replicates and q = 0.95, the 44th to the largest, probability 0.89). It is the
    Monte-Carlo error of a cut computed from these replicates.
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    j = int(binom.ppf((1 - level) / 2, n, q))
    k = int(binom.ppf(1 - (1 - level) / 2, n, q)) + 1
    return float(v[max(j, 1) - 1]), float(v[min(k, n) - 1])


def build_reading_grid(concurrency: np.ndarray):
    """Return the threshold grid on the load as read and smoothed, and each cell's reading.

    (hinge columns (G, n), K (G,), lag (G,), shape exponent (G,), smoothed (G,) bool): the cells
    of :func:`build_threshold_grid` on the readings, then on :func:`smooth_load` of them, with
    the same K values. A monitor's per-minute noise biases a fit on the readings
    (errors-in-variables: K low and, on a ramp, the lag late); the smoothed load keeps 3/8 of
    that noise's variance and blurs the load's corners, so which reading the errors follow is
    left to the likelihood, like the shape.
    """
    read = np.asarray(concurrency, dtype=float)
    k_values = np.arange(k_floor(read), read.max(), k_step(read))
    parts = [build_threshold_grid(c, k_values) for c in (read, smooth_load(read))]
    flags = [np.full(len(p[1]), f) for p, f in zip(parts, (False, True), strict=True)]
    return (*(np.concatenate(a) for a in zip(*parts, strict=True)), np.concatenate(flags))


def estimate_threshold(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    n_region_boot: int = REGION_BOOT,
) -> ThresholdFit | None:
    """Estimate K and the lag by NB2 profile likelihood over a grid, with calibrated intervals.

    The model: errors ~ NB2 with mean requests x (b0 + b1 max(0, c[t - lag] - K) ** s), the
    shape exponent s in :data:`SHAPE_EXPONENTS` (the response above K may saturate or
    accelerate; K is its onset), c the load as read or smoothed over 3 minutes, profiled out
    like the shape (:func:`build_reading_grid`: a noisy reading biases K and the lag;
    ``load_smoothed`` in the fit). Steps: a Poisson grid gives a start;
    NB2 (b0, b1, alpha) is fitted by ML at its best cell (alpha at the 0 boundary falls back to
    Poisson); the grid is profiled again with that alpha. K's interval holds every K whose
    profile LR (maximised over the lag and the shape) is within the cut; the lag's range
    likewise (maximised over K and the shape). Each cut is the 95% point of its profile LR at
    the fitted cell over ``n_region_boot`` replicates drawn from the fit with the data's
    burstiness (with ``rng``; without it, or when smaller, chi-square(1)'s 3.84). The likelihood
    is evaluated every :func:`k_step` viewers, so K's interval reaches to the first grid value
    outside it on each side; at the grid's end it is open (K may lie beyond). "Weakly
    identified" unless K-hat lies within ``WELL_IDENTIFIED_WITHIN`` of every K of its interval,
    the interval is closed, at least ``MIN_MINUTES_AT_ONSET`` minutes of lagged load lie inside
    it and the lag range spans at most ``MAX_LAG_SPREAD`` minutes.
    """
    y = np.asarray(errors, dtype=float)
    r = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    read = np.asarray(concurrency, dtype=float)
    if read.max() <= K_MIN or y.sum() < MIN_ERRORS:
        return None
    hinge, ks, ls, shapes, smooth = build_reading_grid(read)
    if len(ks) == 0:
        return None
    # The Poisson pass only picks the cell where alpha is fitted: the linear shape suffices.
    lin = np.flatnonzero(shapes == 1.0)
    ll0, b0s, b1s, _ = _fit_hinge_grid(y[None, :], r, hinge[lin], np.zeros(1))
    b0, b1, alpha, ok = _fit_hinge_ml(y, r, hinge[lin[_best_cell(ll0[0])]])
    family = "negative_binomial" if alpha > 0 else "poisson"
    ll, b0s, b1s, conv = _fit_hinge_grid(y[None, :], r, hinge, np.array([alpha]))
    ll, b0s, b1s, conv = ll[0], b0s[0], b1s[0], conv[0]
    best = _best_cell(ll)
    smoothed = bool(smooth[best])
    c = smooth_load(read) if smoothed else read
    lr_cells = 2 * (ll[best] - ll)
    mu = r * (b0s[best] + b1s[best] * hinge[best])
    cut_k = cut_l = PROFILE_LR_CUT
    band = band_l = (PROFILE_LR_CUT, PROFILE_LR_CUT)
    noise = estimate_load_noise(read)
    reading = (
        "K and the lag profiled over the load as read and smoothed over 3 minutes (weights 1, 2, "
        f"1); the best fit reads the {'smoothed load' if smoothed else 'load as read'} (the "
        f"readings vary by {100 * noise:.1f} % from minute to minute)"
    )
    reference = f"chi-square(1) 95% point (no bootstrap); {reading}"
    if rng is not None and n_region_boot > 0:
        cut_k, cut_l, (sigma2, phi, (band, band_l)) = _calibrate_cuts(
            y,
            r,
            c,
            mu,
            alpha,
            (hinge, ks, ls, shapes, smooth),
            (lr_cells, b0s, b1s),
            best,
            rng,
            n_region_boot,
            noise,
        )
        reference = (
            f"95% points of the profile LRs at the fitted cell over {n_region_boot} replicates "
            f"from the fit with its burstiness (log-intensity variance {sigma2:.2f}, lag-1 "
            f"persistence {phi:.2f}) on a load re-noised by {100 * noise:.1f} %: K "
            f"{cut_k:.2f}, lag {cut_l:.2f}; at least chi-square(1)'s {PROFILE_LR_CUT}; {reading}"
        )
    k_grid = np.unique(ks)
    lags = np.arange(MAX_LAG + 1)
    lr_k = 2 * (ll[best] - _profile(ll, ks, k_grid))
    lr_lag = 2 * (ll[best] - _profile(ll, ls, lags))

    def interval(cut):
        inside = np.flatnonzero(lr_k <= cut)
        # The likelihood is known only on the grid: K may lie anywhere up to the first grid
        # value that is outside the interval.
        i_low, i_high = max(inside[0] - 1, 0), min(inside[-1] + 1, len(k_grid) - 1)
        return float(k_grid[i_low]), float(k_grid[i_high]), inside

    low, high, inside = interval(cut_k)
    open_low, open_high = bool(inside[0] == 0), bool(inside[-1] == len(k_grid) - 1)
    # The interval's ends at either end of the cut's Monte-Carlo band (a wider cut, a wider
    # interval): how far another draw of the replicates could move them.
    wide, narrow = interval(band[1]), interval(band[0])
    if rng is not None and n_region_boot > 0:
        reference += (
            f"; the K cut's Monte-Carlo error ({100 * CUT_MC_LEVEL:.0f} % band of the replicates' "
            f"95% point) {band[0]:.2f}-{band[1]:.2f}: K's interval between "
            f"[{narrow[0]:.0f}, {narrow[1]:.0f}] and [{wide[0]:.0f}, {wide[1]:.0f}]"
        )
    lag_in = lags[lr_lag <= cut_l]
    lag_low, lag_high = int(lag_in.min()), int(lag_in.max())
    # The longest lag searched inside the lag's interval: a longer delay cannot be ruled out.
    lag_open_high = bool(lag_high == lags[-1])
    k_hat = float(ks[best])
    edge = open_low or open_high
    limits_in = name_limits_in(low, high)
    nearest = sorted(SUPABASE_LIMITS, key=lambda d: abs(d["limit"] - k_hat))[:3]
    # Minutes whose lagged load lies inside K's interval: without them the interval's place is
    # extrapolated from the response's shape on either side, not observed at the onset.
    lagged = lag_padded(c, int(ls[best]))

    def minutes_in(lo, hi):
        return int(np.sum((lagged >= lo) & (lagged <= hi)))

    at_onset = minutes_in(low, high)
    # The flag holds wherever in the cuts' Monte-Carlo bands the true cuts lie, so that another
    # draw of the replicates could not undo it: the 10 % rule, the closed ends and the lag's
    # spread on the widest intervals of the bands, the minutes at the onset on the narrowest.
    # |K-hat - K| <= 10 % of K for every K in [low, high]; a width rule (high - low <= 20 % of
    # K-hat) let K-hat sit near one end and miss a truth at the other by more.
    w_low, w_high, w_inside = wide
    within = w_low >= k_hat / (1 + WELL_IDENTIFIED_WITHIN) and w_high <= k_hat / (
        1 - WELL_IDENTIFIED_WITHIN
    )
    w_open = w_inside[0] == 0 or w_inside[-1] == len(k_grid) - 1
    lag_wide = lags[lr_lag <= band_l[1]]
    weak = (
        not within
        or w_open
        or minutes_in(narrow[0], narrow[1]) < MIN_MINUTES_AT_ONSET
        or lag_wide.max() - lag_wide.min() > MAX_LAG_SPREAD
        or lag_open_high
    )
    return ThresholdFit(
        k=k_hat,
        k_low=low,
        k_high=high,
        interval_lr_cut=float(cut_k),
        interval_reference=reference,
        interval_at_grid_edge=edge,
        weakly_identified=bool(weak),
        lag_minutes=int(ls[best]),
        lag_low=lag_low,
        lag_high=lag_high,
        b0_per_request=float(b0s[best]),
        b1_per_request_per_viewer=float(b1s[best]),
        family=family,
        alpha=float(alpha),
        converged=bool(ok and conv[best]),
        loglik=float(nb_loglik(y, mu, alpha)),
        k_grid=tuple(float(k) for k in k_grid),
        k_profile_lr=tuple(float(v) for v in lr_k),
        lag_profile_lr=tuple(float(v) for v in lr_lag),
        limits_in_interval=limits_in,
        nearest_limits=tuple({**d, "distance": float(d["limit"] - k_hat)} for d in nearest),
        shape_exponent=float(shapes[best]),
        lag_lr_cut=float(cut_l),
        k_open_low=open_low,
        k_open_high=open_high,
        minutes_at_onset=at_onset,
        load_smoothed=smoothed,
        interval_cut_band=band,
        k_low_band=(wide[0], narrow[0]),
        k_high_band=(narrow[1], wide[1]),
        lag_cut_band=band_l,
        lag_open_high=lag_open_high,
    )


def fitted_rate(fit: ThresholdFit, concurrency: np.ndarray) -> np.ndarray:
    """Return the fitted rate per unit of exposure, b0 + b1 max(0, c[t - lag] - K) ** s.

    ``c`` is ``concurrency`` smoothed as the fit's was when the fit used the smoothed load.
    """
    c = smooth_load(concurrency) if fit.load_smoothed else concurrency
    hinge = np.maximum(0.0, lag_padded(c, fit.lag_minutes) - fit.k)
    return fit.b0_per_request + fit.b1_per_request_per_viewer * hinge**fit.shape_exponent
