"""Whether a capacity call's errors behave like a limit in time: persist above K, follow load.

Checks that can set aside a hinge that passed both nulls (docs/verdicts.md, "A capacity call
needs a threshold in the data"): errors that stop while the load stays above K
(:func:`check_errors_persist`), errors that follow a stretch of time rather than the load
(:func:`compare_load_to_time`), and the Realtime evidence that a limit was raised or bound
(:func:`find_limit_raised`, :func:`observe_limit_binding`). :mod:`analysis.stats.verdicts`
decides with them.
"""

from __future__ import annotations

import numpy as np

from analysis.stats.constants import MIN_EXPOSURE
from analysis.stats.countmodels import (
    _fit_cox_moments,
    _moment_alpha,
    _simulate_cox,
    simulate_nb,
)
from analysis.stats.results import ThresholdFit
from analysis.stats.series import lag_padded
from analysis.stats.threshold import (
    BOOT_STOP_EXCEED,
    MAX_LAG,
    MIN_MINUTES_ABOVE,
    SHAPE_EXPONENTS,
    TEST_GRID_SIZE,
    _fit_hinge_grid,
    build_hinge_grid,
    fitted_rate,
    smooth_load,
)

#: Realtime: a minute counts as "at the limit" when connected >= this share of the limit
#: (descriptive evidence shown beside Realtime verdicts).
SATURATION_SHARE = 0.95


#: Level of the check that a capacity limit's errors persist while the load stays above K
#: (:func:`check_errors_persist`). It vetoes a capacity call, so its false alarms cost capacity
#: classes their verdict: 0.01 rather than ``ALPHA_LEVEL`` (docs/verdicts.md gives the rates).
PERSIST_LEVEL = 0.01


def _surprise_of_zero(mu: np.ndarray, alpha) -> np.ndarray:
    """Return -log P(no count) of each minute, NB2 with means mu and alpha (rows of alpha)."""
    a = np.asarray(alpha, dtype=float)[..., None]
    safe = np.where(a > 0, a, 1.0)
    return np.where(a > 0, np.log1p(safe * mu) / safe, mu)


def _quietest_runs(
    y: np.ndarray, surprise: np.ndarray, active: np.ndarray, excluded: np.ndarray
) -> np.ndarray:
    """Mask (B, n) of each row's run of consecutive count-free minutes with most surprise.

    A run's surprise is the sum of ``surprise`` (-log P(no count) of each minute, (n,)). Only
    runs holding at least ``MIN_MINUTES_ABOVE`` minutes where the limit binds (``active``)
    count: a minute or two at the edge of the load's crossing of K is where the fitted K, lag
    and the monitor's reading are least exact, not an episode. ``excluded`` minutes (n,) end a
    run and belong to none.
    """
    rows, n = y.shape
    run = np.zeros(rows)
    count = np.zeros(rows, dtype=int)
    start = np.zeros(rows, dtype=int)
    best = np.zeros(rows)
    first = np.zeros(rows, dtype=int)
    last = np.full(rows, -1)
    before = np.zeros(rows, dtype=bool)
    for t in range(n):
        quiet = (y[:, t] == 0) & ~excluded[t]
        start = np.where(quiet & ~before, t, start)
        before = quiet
        run = np.where(quiet, run + surprise[t], 0.0)
        count = np.where(quiet, count + active[:, t], 0)
        better = (run > best) & (count >= MIN_MINUTES_ABOVE)
        best = np.where(better, run, best)
        first = np.where(better, start, first)
        last = np.where(better, t, last)
    t = np.arange(n)
    return (t >= first[:, None]) & (t <= last[:, None])


def _loaded_like_errors(y: np.ndarray, lagged: np.ndarray, k: float) -> np.ndarray:
    """Mask (B, n): minutes whose lagged load is clearly above K for the row's errors.

    Clearly above: at least halfway from K-hat to the median lagged load of the row's error
    minutes. Under a capacity limit errors rise with the load, so there the class should fail
    again, whatever K in its interval is the true one; just above K-hat, the fitted K, lag and
    the monitor's reading decide whether a minute should fail, and a K fitted a few viewers low
    leaves quiet minutes there that say nothing about time.
    """
    loads = np.where(y > 0, lagged[None, :], np.nan)
    typical = np.nanmedian(np.where(np.isnan(loads).all(-1, keepdims=True), 0.0, loads), -1)
    return lagged[None, :] >= (k + np.maximum(typical - k, 0.0) / 2)[:, None]


def _quiet_statistic(y, mu, alpha, active, excluded):
    """Surprise of each row's quietest run under the hinge refitted on the other minutes.

    The run is found under the full fit (``mu``, ``alpha``). The hinge's scale and the NB2
    alpha are then refitted on the minutes outside it (the rest of the class's errors): an
    outage's own minutes fit the hinge's shape closely, so its quiet minutes are judged
    against the noise the errors show where they occur, not against an alpha that the quiet
    minutes themselves inflated. Returns (statistic (B,), run mask (B, n), refitted means).
    """
    run = _quietest_runs(y, _surprise_of_zero(mu, alpha), active, excluded)
    out = ~run & ~excluded
    m_out = np.sum(np.where(out, mu, 0.0), -1)
    scale = np.where(m_out > 0, np.sum(np.where(out, y, 0.0), -1) / np.maximum(m_out, 1e-300), 1.0)
    refit = scale[:, None] * mu
    resid = np.where(out, (y - refit) ** 2 - refit, 0.0)
    den = np.sum(np.where(out, refit * refit, 0.0), -1)
    a_out = np.maximum(0.0, np.where(den > 0, resid.sum(-1) / np.maximum(den, 1e-300), 0.0))
    stat = np.sum(np.where(run, _surprise_of_zero(refit, a_out), 0.0), -1)
    return stat, run, refit


def check_errors_persist(
    counts: np.ndarray,
    exposure: np.ndarray,
    concurrency: np.ndarray,
    fit: ThresholdFit,
    *,
    rng: np.random.Generator,
    n_boot: int,
    excluded: np.ndarray | None = None,
) -> tuple[float, tuple[int, int], float]:
    """Whether the errors go quiet where the fitted limit says they cannot.

    A capacity limit fails requests in every minute whose lagged load is above K; an outage
    (a disk filling up, a broken deploy) fails them during its own stretch of minutes, whatever
    the load does after it. The statistic (:func:`_quiet_statistic`): the run of consecutive
    minutes without counts that is least likely under the fitted hinge, and -log of the
    probability of its silence under the hinge refitted on the other minutes. Its reference:
    the same statistic on replicates of the fitted hinge with its NB2 noise (K, the lag and the
    shape are not refitted, which makes the check conservative: they already bend towards the
    observed quiet minutes). Returns (p-value, (first, last) minute of the run where the
    fitted limit expects errors, counts the refitted hinge expects in it). ``excluded``
    minutes lie outside the fitted limit's regime (a limit raised during the window,
    :func:`find_limit_raised`) and are not tested.
    """
    y = np.asarray(counts, dtype=float)
    skip = np.zeros(len(y), dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool)
    mu = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE) * fitted_rate(fit, concurrency)
    alpha = max(float(fit.alpha), 0.0)
    c = smooth_load(concurrency) if fit.load_smoothed else np.asarray(concurrency, dtype=float)
    lagged = lag_padded(c, fit.lag_minutes)
    observed, run, refit = _quiet_statistic(
        y[None, :], mu, alpha, _loaded_like_errors(y, lagged, fit.k), skip
    )
    reps = simulate_nb(np.broadcast_to(mu, (n_boot, len(mu))), alpha, rng).astype(float)
    ref, _, _ = _quiet_statistic(reps, mu, alpha, _loaded_like_errors(reps, lagged, fit.k), skip)
    p = float((1 + np.sum(ref >= observed[0] - 1e-9)) / (n_boot + 1))
    active = _loaded_like_errors(y[None, :], lagged, fit.k)[0]
    above = run[0] & active
    where = tuple(int(v) for v in np.flatnonzero(above)[[0, -1]]) if above.any() else (0, -1)
    return p, where, float(refit[0][run[0]].sum())


def check_flat_rate_persists(
    counts: np.ndarray, exposure: np.ndarray, *, rng: np.random.Generator, n_boot: int
) -> dict:
    """Whether errors go quiet for a stretch of minutes that even a bursty flat rate cannot.

    For a class both elasticity tests reject (errors rise with traffic, but the rate per
    request is not steady), the Bayes factor weighs a flat rate per request against no link
    to traffic. An outage of a stretch of minutes (a Storage bucket down for twelve minutes)
    is neither: it fails a steady share of requests inside its minutes and none outside, and
    when it lands on busy minutes the Bayes factor favours the flat rate. The statistic is
    :func:`check_errors_persist`'s, with the flat rate per request in place of the hinge: the
    run of consecutive minutes with requests and no counted error least likely under the flat
    rate (NB2, moment alpha), then -log the probability of its silence under the rate and
    alpha refitted on the other minutes, where an outage's errors follow its requests
    steadily. Its reference is a *bursty* flat rate: AR(1)-Cox replicates around the flat
    mean with the variance and persistence fitted to the data (as the g = 0 reference's are),
    so a bug whose rate per request swells and fades (a retry storm) has its quiet spells in
    the reference; a silence beyond them is an episode in time. Returns ``p_value``,
    ``first_minute`` and ``last_minute`` of the quiet run (counted from 1) and ``expected``,
    the counts the refitted rate expects in it (docs/verdicts.md, "Both tests reject").
    """
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    mu = x * y.sum() / x.sum()
    alpha = float(_moment_alpha(y, mu))
    # Minutes without requests cannot fail; they neither make nor break a quiet run's length.
    active = x > MIN_EXPOSURE
    skip = np.zeros(len(y), dtype=bool)
    observed, run, refit = _quiet_statistic(y[None, :], mu, alpha, active[None, :], skip)
    reps = _simulate_cox(mu, *_fit_cox_moments(y, mu), n_boot, rng).astype(float)
    ref, _, _ = _quiet_statistic(reps, mu, alpha, np.broadcast_to(active, reps.shape), skip)
    p = float((1 + np.sum(ref >= observed[0] - 1e-9)) / (n_boot + 1))
    where = np.flatnonzero(run[0])
    first, last = (int(where[0]) + 1, int(where[-1]) + 1) if len(where) else (0, 0)
    return {
        "p_value": p,
        "first_minute": first,
        "last_minute": last,
        "expected": float(refit[0][run[0]].sum()),
    }


def find_limit_raised(counts: np.ndarray, signals: dict) -> np.ndarray | None:
    """Mask of the minutes whose Realtime limit in effect exceeds the one at the class's errors.

    Realtime's billing rows carry the connection limit in effect (the frame's ``rt_limit``).
    Where it was raised during the window (the usual response to a capacity incident), the
    minutes after the raise are outside the limit the class's errors were fitted to: quiet
    minutes there are the fix working, not an episode ending. None when the frame has no
    limit or the errors' minutes show none.
    """
    limit = signals.get("rt_limit")
    if limit is None:
        return None
    at_errors = limit[(np.asarray(counts) > 0) & np.isfinite(limit)]
    if len(at_errors) == 0:
        return None
    return np.isfinite(limit) & (limit > at_errors.max())


#: Set-aside kinds that say the errors are an episode in time: a flat rate per request would
#: have failed requests outside it too, so such a class is never traffic-proportional.
IN_TIME = ("time_bounded", "follows_time")

#: Most window boundaries the time model tries: every minute of an hour; on longer windows
#: the boundaries step by whole minutes so that about this many remain (the cost of the
#: comparison grows with their square).
WINDOW_BOUNDARIES = 61


def _window_bounds(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (first minute, one past the last) of every window the time model tries.

    Windows of at least ``MIN_MINUTES_ABOVE`` minutes, as the hinge needs that many minutes
    above K; their ends lie on a grid of at most ``WINDOW_BOUNDARIES`` minutes.
    """
    step = max(1, -(-n // (WINDOW_BOUNDARIES - 1)))
    bounds = np.arange(0, n + 1, step)
    if bounds[-1] != n:
        bounds = np.append(bounds, n)
    first, end = np.meshgrid(bounds, bounds, indexing="ij")
    keep = (end - first) >= MIN_MINUTES_ABOVE
    return first[keep], end[keep]


def _window_loglik(y: np.ndarray, x: np.ndarray, first: np.ndarray, end: np.ndarray):
    """Poisson log-likelihood of the best window-in-time fit, each row of y (B, n) and window.

    The model: a rate per request b0 + b1 inside the window and b0 outside, b0, b1 >= 0. Its
    maximum has a closed form (the rate inside and the rate outside, each its own share), so
    every window of every replicate costs a few operations. ``sum y log mu - mu`` without
    ``log y!``, the terms :func:`threshold._fit_hinge_grid` keeps at alpha = 0.
    """
    rows = y.shape[0]
    zero = np.zeros((rows, 1))
    cy = np.concatenate([zero, np.cumsum(y, 1)], 1)
    cyl = np.concatenate([zero, np.cumsum(y * np.log(x), 1)], 1)
    cx = np.concatenate([[0.0], np.cumsum(x)])
    total, exposure, base = cy[:, -1:], cx[-1], cyl[:, -1:]
    y_in, x_in = cy[:, end] - cy[:, first], cx[end] - cx[first]
    y_out, x_out = total - y_in, exposure - x_in

    def part(yy, xx):
        rate = yy / np.maximum(xx, 1e-300)
        return np.where(yy > 0, yy * np.log(np.where(yy > 0, rate, 1.0)), 0.0) - yy

    flat = base + part(total, np.asarray(exposure))
    inside_higher = y_in * np.maximum(x_out, 1e-300) >= y_out * np.maximum(x_in, 1e-300)
    return np.where(inside_higher, base + part(y_in, x_in) + part(y_out, x_out), flat)


def _hinge_columns(load: np.ndarray) -> np.ndarray:
    """Columns of the load models compared with the time model, one per (K, lag, shape).

    K at the load's own levels (every distinct reading, or ``TEST_GRID_SIZE`` quantiles of
    them), so a limit can start exactly where the load first reaches a level; lags
    0..``MAX_LAG``; at least ``MIN_MINUTES_ABOVE`` minutes above K. Shapes: a step (a fixed
    share fails above K: a hard limit that refuses whoever comes past it) and the threshold
    fit's hinge exponents max(0, c[t - L] - K) ** s (a share growing with the excess).
    """
    levels = np.unique(load)
    if len(levels) > TEST_GRID_SIZE:
        levels = np.unique(np.quantile(load, np.linspace(0, 1, TEST_GRID_SIZE)))
    hinge, _, _ = build_hinge_grid(load, levels - 1e-6)
    step = (hinge > 0).astype(float)
    return np.concatenate([step, *(hinge**s for s in SHAPE_EXPONENTS)])


#: Load-model cells fitted first to every replicate: the data's best-fitting ones.
SCREEN_CELLS = 8

#: The floor the load model's fit puts under alpha (``threshold._fit_hinge_series``): its
#: "Poisson" log-likelihood is the NB2 kernel at this alpha, which the bound below allows for.
KERNEL_ALPHA = 1e-10


def _isotonic_loglik(y: np.ndarray, x: np.ndarray, order: np.ndarray) -> float:
    """Poisson log-likelihood of the best rate per unit of exposure nondecreasing along ``order``.

    Pool-adjacent-violators on the minutes in ``order``: each pooled block's rate is its errors
    over its exposure. ``sum y log mu - mu`` without ``log y!``, as :func:`_window_loglik`.
    """
    ys: list[float] = []
    xs: list[float] = []
    for i in order.tolist():
        yy, xx = float(y[i]), float(x[i])
        while ys and ys[-1] * xx >= yy * xs[-1]:
            yy += ys.pop()
            xx += xs.pop()
        ys.append(yy)
        xs.append(xx)
    blocks = np.array(ys)
    rates = blocks / np.array(xs)
    pooled = np.sum(np.where(blocks > 0, blocks * np.log(np.where(blocks > 0, rates, 1.0)), 0.0))
    return float(pooled - blocks.sum() + np.sum(y * np.log(x)))


def _load_upper_bound(reps: np.ndarray, x: np.ndarray, orders) -> np.ndarray:
    """Upper bound (B,) on the best load-model log-likelihood of each replicate.

    Every load model at lag L is a rate b0 + b1 f(c[t - L] - K) with b1 >= 0 and f
    nondecreasing, so its rate never falls as the lagged load rises: none fits better than the
    best nondecreasing rate along that lag's order (``orders``, one per lag), which
    pool-adjacent-violators finds exactly. The fit's kernel (NB2 at ``KERNEL_ALPHA``) exceeds
    Poisson's by at most ``KERNEL_ALPHA / 2 * sum(mu ** 2)``, and the best nondecreasing rates
    stay within the minutes' own rates (each minute's term peaks at its own), so mu <= x times
    the highest rate bounds that excess.
    """
    top = np.max(reps / x, axis=1)
    slack = KERNEL_ALPHA / 2 * top**2 * np.sum(x * x)
    best = [max(_isotonic_loglik(row, x, order) for order in orders) for row in reps]
    return np.asarray(best) + slack


def _beyond_observed(reps, x, columns, windows, screen, orders, observed, below):
    """Whether each replicate's D is beyond the observed one; the whole grid only where needed.

    ``below``: beyond means D <= observed (+1e-9), else D >= observed (-1e-9). D is the best
    cell's log-likelihood minus the best window's (Poisson, :func:`_window_loglik`). Two bounds
    settle most replicates without the whole grid: the best of a few cells (``screen``) bounds
    D from below, each cell fitted exactly as in the whole grid (the fit of one cell never
    depends on the others), and the best nondecreasing rate in the lagged load
    (:func:`_load_upper_bound`) bounds it from above. Only a replicate that neither settles is
    fitted on every cell, so each replicate is decided as the whole grid decides it
    (docs/performance.md, session 9).
    """
    window = _window_loglik(reps, x, *windows).max(1)
    fitted, _, _, _ = _fit_hinge_grid(
        reps, x, columns[screen], np.zeros(len(reps)), iters=8, tol=1e-7
    )
    low = fitted.max(1) - window
    if below:
        beyond = np.zeros(len(reps), dtype=bool)
        open_ = low <= observed + 1e-9
    else:
        beyond = low >= observed - 1e-9
        open_ = ~beyond
    if open_.any():
        rows = np.flatnonzero(open_)
        high = _load_upper_bound(reps[rows], x, orders) - window[rows]
        # A margin for rounding: the bound and D are sums of a few hundred terms.
        high += 1e-6 + 1e-9 * (np.abs(high) + np.abs(window[rows]))
        settled = high <= observed + 1e-9 if below else high < observed - 1e-9
        beyond[rows[settled]] = below
        open_[rows[settled]] = False
    if open_.any():
        ll, _, _, _ = _fit_hinge_grid(
            reps[open_], x, columns, np.zeros(int(open_.sum())), iters=8, tol=1e-7
        )
        d = ll.max(1) - window[open_]
        beyond[open_] = d <= observed + 1e-9 if below else d >= observed - 1e-9
    return beyond


def _sequential_p(observed, draw, beyond, n_boot, chunk=25):
    """Monte-Carlo p-value: share of replicates ``beyond`` the observed statistic, sequential.

    Besag and Clifford's rule, as the hinge test's bootstrap: replicates come ``chunk`` at a
    time and sampling stops once ``BOOT_STOP_EXCEED`` of them reach the observed value (p is
    then at least 0.1, above every level it is compared with). ``beyond(replicates)`` says
    which replicates reach it.
    """
    exceed = drawn = 0
    while drawn < n_boot:
        size = min(chunk, n_boot - drawn)
        exceed += int(np.sum(beyond(draw(size).astype(float))))
        drawn += size
        if exceed >= BOOT_STOP_EXCEED and drawn < n_boot:
            return exceed / drawn
    return (1 + exceed) / (n_boot + 1)


def compare_load_to_time(
    counts: np.ndarray,
    exposure: np.ndarray,
    concurrency: np.ndarray,
    fit: ThresholdFit,
    *,
    rng: np.random.Generator,
    n_boot: int,
    excluded: np.ndarray | None = None,
) -> dict:
    """Compare two readings of a capacity call: errors follow the load, or a stretch of time.

    Two readings with the same free parameters describe a class the hinge test calls
    capacity: the load, a rate per request b0 + b1 f(c[t - L] - K) with f a step or the
    hinge max(0, .) ** s (K, L; the shape from four, :func:`_hinge_columns`), and the window,
    b0 + b1 inside minutes [a, b] and b0 outside (a, b). A limit with the load crossing K
    more than once, or failing a share that grows with the load's excess over K, fits the
    load better; an outage (a broken deploy, a disk that filled up) fails a steady share of
    requests in its own minutes, whatever the load does, and fits the window better, unless
    its two ends lie where the load crosses one level (then it is what a step limit there
    produces, and the data cannot tell). The statistic D is the best load model's Poisson
    log-likelihood minus the best window's. Two parametric bootstraps calibrate it, each
    under one model's fit with its NB2 noise:

    - ``p_load``: the share of replicates of the best load model (its NB2 alpha by moments)
      whose D is as low as the data's; small when the load cannot produce errors that follow
      time this closely;
    - ``p_time``: the share of replicates of the best window (alpha by moments) whose D is as
      high as the data's; small when a window in time cannot produce errors that follow the
      load this closely. Drawn only when ``p_load`` is at most ``PERSIST_LEVEL`` (else None).

    ``excluded`` minutes (a raised limit, :func:`find_limit_raised`) leave both models.
    Returns a dict: ``d``, ``p_load``, ``p_time``, the best window's ``first_minute`` and
    ``last_minute`` (window minutes counted from 1) and its ``share_inside`` /
    ``share_outside`` (errors per unit of exposure).
    """
    keep = np.ones(len(counts), dtype=bool) if excluded is None else ~np.asarray(excluded, bool)
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    load = smooth_load(concurrency) if fit.load_smoothed else np.asarray(concurrency, dtype=float)
    columns = _hinge_columns(load)[:, keep]
    y, x = y[keep], x[keep]
    windows = _window_bounds(len(y))
    ll, b0, b1, _ = _fit_hinge_grid(y[None, :], x, columns, np.zeros(1), iters=8, tol=1e-7)
    window_ll = _window_loglik(y[None, :], x, *windows)[0]
    d = float(ll[0].max() - window_ll.max())
    screen = np.argsort(-ll[0], kind="stable")[:SCREEN_CELLS]
    orders = [np.argsort(lag_padded(load, lag)[keep], kind="stable") for lag in range(MAX_LAG + 1)]

    # The hinge the statistic found (its best cell), with NB2 noise by moments: the same
    # working fit as the window's below, so neither reference is favoured by its fitting.
    cell = int(np.argmax(ll[0]))
    mu_h = x * (b0[0, cell] + b1[0, cell] * columns[cell])
    alpha_h = float(_moment_alpha(y[None, :], mu_h[None, :])[0])
    p_load = _sequential_p(
        d,
        lambda size: simulate_nb(np.broadcast_to(mu_h, (size, len(y))), alpha_h, rng),
        lambda reps: _beyond_observed(reps, x, columns, windows, screen, orders, d, below=True),
        n_boot,
    )
    best = int(np.argmax(window_ll))
    a, b = int(windows[0][best]), int(windows[1][best])
    inside = np.zeros(len(y), dtype=bool)
    inside[a:b] = True
    share_in = y[inside].sum() / x[inside].sum()
    share_out = y[~inside].sum() / x[~inside].sum() if (~inside).any() else 0.0
    if share_in < share_out:
        share_in = share_out = y.sum() / x.sum()
    mu_w = x * np.where(inside, share_in, share_out)
    p_time = None
    if p_load <= PERSIST_LEVEL:
        alpha_w = float(_moment_alpha(y[None, :], mu_w[None, :])[0])
        p_time = _sequential_p(
            d,
            lambda size: simulate_nb(np.broadcast_to(mu_w, (size, len(y))), alpha_w, rng),
            lambda reps: _beyond_observed(
                reps, x, columns, windows, screen, orders, d, below=False
            ),
            n_boot,
        )
    minutes = np.flatnonzero(keep)
    return {
        "d": d,
        "p_load": float(p_load),
        "p_time": None if p_time is None else float(p_time),
        "first_minute": int(minutes[a]) + 1,
        "last_minute": int(minutes[b - 1]) + 1,
        "share_inside": float(share_in),
        "share_outside": float(share_out),
    }


def observe_limit_binding(set_aside: dict | None, counts: np.ndarray, signals: dict) -> str | None:
    """Return why a Realtime class's window in time is its limit binding, else None.

    The time reading (:func:`compare_load_to_time`) and a limit reading predict the same
    minutes when the load was above K for one stretch only. Realtime's billing rows settle it
    where the hinge in viewers cannot: they carry the connections and the limit in effect
    (the frame's ``rt_connected``, ``rt_limit``). When every minute of the fitted window that
    has errors has connections at the limit (at least ``SATURATION_SHARE`` of it), the
    episode in time is the limit binding, measured by the platform itself: the hinge is kept,
    and the returned words say so. None for any other set-aside, without those columns, or
    when a minute with errors in the window was below the limit (or not measured).
    """
    if set_aside is None or set_aside["kind"] != "follows_time":
        return None
    conn, lim = signals.get("rt_connected"), signals.get("rt_limit")
    if conn is None or lim is None:
        return None
    a, b = set_aside["first_minute"] - 1, set_aside["last_minute"]
    hit = np.zeros(len(counts), dtype=bool)
    hit[a:b] = np.asarray(counts, dtype=float)[a:b] > 0
    with np.errstate(invalid="ignore"):
        at_limit = np.isfinite(conn) & np.isfinite(lim) & (lim > 0)
        at_limit &= conn >= SATURATION_SHARE * np.where(at_limit, lim, 1.0)
    if not hit.any() or not np.all(at_limit[hit]):
        return None
    return (
        "the errors fit one window in time (minutes "
        f"{set_aside['first_minute']}-{set_aside['last_minute']}) at least as well as the load "
        f"(the limit's replicates fit time this well with p = {set_aside['p_load']:.3f}), but "
        "Realtime's own counts show the connections at the limit in every minute of it with "
        f"errors ({int(hit.sum())} minutes, at least {SATURATION_SHARE:.0%} of the limit): the "
        "limit is observed binding"
    )
