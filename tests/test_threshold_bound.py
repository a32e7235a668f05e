"""The hinge test's bootstrap fits only the replicates an upper bound cannot settle."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats import monotone, threshold
from analysis.stats.countmodels import _fit_cox_moments, _simulate_cox, simulate_nb
from analysis.stats.series import lag_padded

MINUTES = 60


def _incident(seed: int, limit: bool):
    """A rise and fall of load; errors at a flat rate, plus a limit at 200 viewers if asked."""
    rng = np.random.default_rng(seed)
    load = 40 + 260 * np.sin(np.linspace(0, np.pi, MINUTES)) ** 2
    requests = rng.poisson(4 * load).astype(float)
    rate = 0.002 + (0.0004 * np.maximum(0, lag_padded(load, 1) - 200) if limit else 0)
    errors = simulate_nb(requests * rate, 0.3, rng).astype(float)
    return errors, np.maximum(requests, threshold.MIN_EXPOSURE), load


@pytest.mark.parametrize("limit", [False, True])
def test_the_bound_is_never_below_a_replicate_s_statistic(limit):
    y, r, c = _incident(3, limit)
    cells = threshold._test_cells(r, threshold._test_grid(c))
    b0, alpha, lag = threshold.fit_lagged_flat(y, r)
    mu = b0 * lag_padded(r, lag)
    rng = np.random.default_rng(5)
    draws = [
        simulate_nb(np.broadcast_to(mu, (40, MINUTES)), alpha, rng),
        simulate_nb(np.broadcast_to(mu, (40, MINUTES)), 4.0, rng),
        _simulate_cox(mu, *_fit_cox_moments(y, mu), 40, rng),
    ]
    for reps in draws:
        reps = reps.astype(float)
        stat = threshold._sup_lr(reps, cells)
        a, flat = threshold._flat_at_lags(reps, cells[0])
        orders = monotone.lag_orders(c, threshold.MAX_LAG)
        bound = monotone.bound_hinge_loglik(reps, cells[0], orders, a)
        assert np.all(np.isfinite(bound))
        assert np.all(2 * (bound - flat.max(0)) >= stat - 1e-6)


@pytest.mark.parametrize("limit", [False, True])
def test_the_screened_bootstrap_gives_the_same_p_value(limit):
    y, r, c = _incident(11, limit)
    cells = threshold._test_cells(r, threshold._test_grid(c))
    observed = float(threshold._sup_lr(y[None, :], cells)[0])
    b0, alpha, lag = threshold.fit_lagged_flat(y, r)
    mu = b0 * lag_padded(r, lag)

    def p_value(orders):
        rng = np.random.default_rng(2)
        draw = lambda size: simulate_nb(np.broadcast_to(mu, (size, MINUTES)), alpha, rng)  # noqa: E731
        return threshold._bootstrap_p(observed, draw, cells, 99, orders=orders)

    assert p_value(monotone.lag_orders(c, threshold.MAX_LAG)) == p_value(None)


def test_a_clear_limit_s_replicates_are_mostly_settled_by_the_bound():
    y, r, c = _incident(7, True)
    cells = threshold._test_cells(r, threshold._test_grid(c))
    observed = float(threshold._sup_lr(y[None, :], cells)[0])
    b0, alpha, lag = threshold.fit_lagged_flat(y, r)
    reps = simulate_nb(
        np.broadcast_to(b0 * lag_padded(r, lag), (50, MINUTES)), alpha, np.random.default_rng(1)
    ).astype(float)
    a, flat = threshold._flat_at_lags(reps, cells[0])
    orders = monotone.lag_orders(c, threshold.MAX_LAG)
    bound = 2 * (monotone.bound_hinge_loglik(reps, cells[0], orders, a) - flat.max(0))
    assert observed > 20
    assert np.mean(bound < observed) >= 0.8


def _threshold_replicates(seed: int, n: int = 12):
    """A capacity incident, its threshold grid and fit, and replicates drawn from the fit."""
    y, r, c = _incident(seed, True)
    hinge, ks, ls, shapes, smooth = threshold.build_reading_grid(c)
    chosen = ~smooth  # the load as read: the replicates' own loads are then the draws below
    ll, b0s, b1s, _ = threshold._fit_hinge_grid(y[None, :], r, hinge[chosen], np.array([0.3]))
    best = threshold._best_cell(ll[0])
    mu = r * (b0s[0, best] + b1s[0, best] * hinge[chosen][best])
    rng = np.random.default_rng(seed + 100)
    reps = simulate_nb(np.broadcast_to(mu, (n, MINUTES)), 0.3, rng).astype(float)
    noisy = c * np.exp(0.05 * rng.standard_normal((n, MINUTES)))
    cells = (ks[chosen], ls[chosen], shapes[chosen], False, (b0s[0], b1s[0]))
    return reps, noisy, r, cells, ks[chosen][best], ls[chosen][best]


@pytest.mark.parametrize("seed", [1, 2])
def test_each_lag_s_bound_is_never_below_its_cells(seed):
    reps, noisy, r, (ks, ls, shapes, _, start), _, _ = _threshold_replicates(seed)
    lags = np.unique(ls)
    bounds = monotone.bound_lags_loglik(reps, noisy, r, 0.3, lags)
    for i in range(len(reps)):
        sub = threshold._replicate_grid(noisy[i], ks, ls, shapes, False)
        ll, _, _, _ = threshold._fit_hinge_grid(reps[i : i + 1], r, sub, np.array([0.3]))
        for j, lag in enumerate(lags):
            assert bounds[j, i] >= ll[0, ls == lag].max() - 1e-9


@pytest.mark.parametrize("seed", [1, 2])
def test_lags_left_unfitted_do_not_move_the_replicates_maxima(seed):
    reps, noisy, r, cells, k_hat, lag_hat = _threshold_replicates(seed)
    ks, ls, shapes, _, start = cells
    got = threshold._replicate_maxima(reps, noisy, r, 0.3, cells, k_hat, lag_hat)
    for i in range(len(reps)):  # every cell fitted, as the maxima are defined
        sub = threshold._replicate_grid(noisy[i], ks, ls, shapes, False)
        ll, _, _, _ = threshold._fit_hinge_grid(
            reps[i : i + 1], r, sub, np.array([0.3]), iters=8, tol=threshold.REGION_TOL, start=start
        )
        want = [ll[0].max(), ll[0, ks == k_hat].max(), ll[0, ls == lag_hat].max()]
        np.testing.assert_allclose(got[:, i], want, rtol=0, atol=1e-9)
