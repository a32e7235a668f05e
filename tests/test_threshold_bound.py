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
