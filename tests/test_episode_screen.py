"""The load-against-time comparison settles replicates on a few cells, with the same results.

:func:`analysis.stats.episodes.compare_load_to_time` fits the whole grid of load models only to
the replicates that the data's best cells cannot settle (docs/performance.md, session 9). The
reference here is the comparison as it was before: every replicate fitted on every cell, its
D compared with the observed one. Both must give the same dict and leave the random stream in
the same state (later checks draw from it).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from analysis.stats import episodes
from analysis.stats.constants import MIN_EXPOSURE
from analysis.stats.countmodels import _moment_alpha, simulate_nb
from analysis.stats.series import lag_padded
from analysis.stats.threshold import MAX_LAG, _fit_hinge_grid


def _whole_grid_d(reps, x, columns, windows):
    ll, _, _, _ = _fit_hinge_grid(reps, x, columns, np.zeros(len(reps)), iters=8, tol=1e-7)
    return ll.max(1) - episodes._window_loglik(reps, x, *windows).max(1)


def _reference(counts, exposure, concurrency, *, rng, n_boot):
    """The comparison with every replicate fitted on the whole grid (before session 9)."""
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    columns = episodes._hinge_columns(np.asarray(concurrency, dtype=float))
    windows = episodes._window_bounds(len(y))
    d = float(_whole_grid_d(y[None, :], x, columns, windows)[0])
    ll, b0, b1, _ = _fit_hinge_grid(y[None, :], x, columns, np.zeros(1), iters=8, tol=1e-7)
    cell = int(np.argmax(ll[0]))
    mu_h = x * (b0[0, cell] + b1[0, cell] * columns[cell])

    def p_value(mu, below):
        alpha = float(_moment_alpha(y[None, :], mu[None, :])[0])
        exceed = drawn = 0
        while drawn < n_boot:
            size = min(25, n_boot - drawn)
            reps = simulate_nb(np.broadcast_to(mu, (size, len(y))), alpha, rng).astype(float)
            stat = _whole_grid_d(reps, x, columns, windows)
            exceed += int(np.sum(stat <= d + 1e-9 if below else stat >= d - 1e-9))
            drawn += size
            if exceed >= episodes.BOOT_STOP_EXCEED and drawn < n_boot:
                return exceed / drawn
        return (1 + exceed) / (n_boot + 1)

    p_load = p_value(mu_h, below=True)
    best = int(np.argmax(episodes._window_loglik(y[None, :], x, *windows)[0]))
    a, b = int(windows[0][best]), int(windows[1][best])
    inside = np.zeros(len(y), dtype=bool)
    inside[a:b] = True
    share_in = y[inside].sum() / x[inside].sum()
    share_out = y[~inside].sum() / x[~inside].sum() if (~inside).any() else 0.0
    if share_in < share_out:
        share_in = share_out = y.sum() / x.sum()
    p_time = None
    if p_load <= episodes.PERSIST_LEVEL:
        p_time = p_value(x * np.where(inside, share_in, share_out), below=False)
    return {
        "d": d,
        "p_load": float(p_load),
        "p_time": None if p_time is None else float(p_time),
        "first_minute": a + 1,
        "last_minute": b,
        "share_inside": float(share_in),
        "share_outside": float(share_out),
    }


def _hump() -> np.ndarray:
    t = np.arange(60)
    return np.round(20 + 100 * np.exp(-(((t - 30) / 9) ** 2)))


def _plateau() -> np.ndarray:
    return np.round(np.concatenate([np.linspace(5, 110, 20), 110 + 5 * np.sin(np.arange(40) / 3)]))


def _case(kind: str, seed: int):
    rng = np.random.default_rng(seed)
    c = _hump() if kind.endswith("hump") else _plateau()
    r = rng.poisson(4 * c)
    if kind.startswith("outage"):
        y = np.zeros(60, dtype=int)
        y[14:31] = rng.binomial(r[14:31], 0.6)
    else:
        y = rng.binomial(r, np.minimum(0.002 + 0.01 * np.maximum(0, c - 70), 0.9))
    return y, r, c


@pytest.mark.parametrize(
    ("kind", "seed"), [("outage_hump", 0), ("limit_hump", 1), ("limit_plateau", 2)]
)
def test_the_screened_comparison_equals_the_whole_grid(kind, seed):
    y, r, c = _case(kind, seed)
    fit = types.SimpleNamespace(load_smoothed=False)
    old_rng, new_rng = np.random.default_rng(seed + 10), np.random.default_rng(seed + 10)
    n_boot = 99  # p_load can then reach PERSIST_LEVEL, and p_time is drawn
    expected = _reference(y, r, c, rng=old_rng, n_boot=n_boot)
    got = episodes.compare_load_to_time(y, r, c, fit, rng=new_rng, n_boot=n_boot)
    assert got == expected
    # The same draws: whatever checks follow read the same stream.
    assert new_rng.bit_generator.state == old_rng.bit_generator.state
    if kind == "outage_hump":
        assert got["p_time"] is not None  # the second family was exercised too


@pytest.mark.parametrize("below", [True, False])
def test_each_replicate_is_decided_as_the_whole_grid_decides_it(below):
    y, r, c = _case("limit_hump", 4)
    x = np.maximum(r.astype(float), MIN_EXPOSURE)
    columns = episodes._hinge_columns(c.astype(float))
    windows = episodes._window_bounds(len(y))
    ll, b0, b1, _ = _fit_hinge_grid(y[None, :].astype(float), x, columns, np.zeros(1))
    cell = int(np.argmax(ll[0]))
    mu = x * (b0[0, cell] + b1[0, cell] * columns[cell])
    reps = simulate_nb(np.broadcast_to(mu, (40, 60)), 0.0, np.random.default_rng(5))
    reps = reps.astype(float)
    d = _whole_grid_d(reps, x, columns, windows)
    screen = np.argsort(-ll[0], kind="stable")[: episodes.SCREEN_CELLS]
    orders = [np.argsort(lag_padded(c, lag), kind="stable") for lag in range(MAX_LAG + 1)]
    # Observed values across the replicates' own D: both sides of each bound are met.
    for observed in np.quantile(d, [0.05, 0.3, 0.6, 0.95]):
        expected = d <= observed + 1e-9 if below else d >= observed - 1e-9
        got = episodes._beyond_observed(reps, x, columns, windows, screen, orders, observed, below)
        assert np.array_equal(got, expected)
        assert 0 < expected.sum() < len(d)


@pytest.mark.parametrize("scale", [0.5, 400.0])
def test_the_upper_bound_is_never_below_the_best_load_model(scale):
    # Large counts make the fit's NB2 kernel at alpha 1e-10 differ from Poisson's the most.
    rng = np.random.default_rng(7)
    c = _hump()
    x = np.maximum(rng.poisson(scale * c).astype(float), MIN_EXPOSURE)
    columns = episodes._hinge_columns(c)
    orders = [np.argsort(lag_padded(c, lag), kind="stable") for lag in range(MAX_LAG + 1)]
    rates = [0.02 * (c > 60), 0.001 + 0.0004 * np.maximum(c - 50, 0), np.full(60, 0.01)]
    for rate in rates:
        mu = x * (rate + 0.001)
        reps = simulate_nb(np.broadcast_to(mu, (10, 60)), 0.05, rng).astype(float)
        ll, _, _, _ = _fit_hinge_grid(reps, x, columns, np.zeros(10), iters=8, tol=1e-7)
        bound = episodes._load_upper_bound(reps, x, orders)
        assert np.all(bound >= ll.max(1))
