"""Bursts and regimes: Kleinberg bursts, PELT change points, residual autocorrelation."""

from __future__ import annotations

import math

import numpy as np

from analysis.stats.constants import MIN_EXPOSURE
from analysis.stats.countmodels import _moment_alpha
from analysis.stats.results import Burst, ChangePoints

#: PELT penalty sweep, as multiples of sigma^2 log(n) (BIC-type; a sweep because BIC alone
#: tends to give too low a penalty, docs/statistics.md section 6).
PELT_PENALTY_MULTIPLIERS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0)


def detect_bursts(
    errors: np.ndarray, requests: np.ndarray, labels: list, s: float = 2.0, gamma: float = 1.0
) -> tuple[Burst, ...]:
    """Batched Kleinberg bursts of errors out of requests (Poisson emission, 3 states).

    State i has rate p0 x s^i per request (p0 = overall rate); moving up a state costs
    gamma x ln(n); the Viterbi path's runs at state >= 1 are the bursts.
    """
    y = np.asarray(errors, dtype=float)
    d = np.maximum(np.asarray(requests, dtype=float), MIN_EXPOSURE)
    n = len(y)
    if y.sum() == 0:
        return ()
    p0 = y.sum() / d.sum()
    rates = p0 * s ** np.arange(3)
    mu = d[:, None] * rates[None, :]
    cost = -(y[:, None] * np.log(mu) - mu)
    up = gamma * math.log(n)
    trans = np.array([[max(0, j - i) * up for j in range(3)] for i in range(3)])
    total = cost[0] + trans[0]
    back = np.zeros((n, 3), dtype=int)
    for t in range(1, n):
        cand = total[:, None] + trans
        back[t] = np.argmin(cand, 0)
        total = cand[back[t], np.arange(3)] + cost[t]
    state = np.empty(n, dtype=int)
    state[-1] = int(np.argmin(total))
    for t in range(n - 1, 0, -1):
        state[t - 1] = back[t, state[t]]
    out = []
    t = 0
    while t < n:
        if state[t] >= 1:
            u = t
            while u + 1 < n and state[u + 1] >= 1:
                u += 1
            out.append(
                Burst(
                    labels[t],
                    labels[u],
                    int(state[t : u + 1].max()),
                    int(y[t : u + 1].sum()),
                    int(np.asarray(requests)[t : u + 1].sum()),
                )
            )
            t = u + 1
        else:
            t += 1
    return tuple(out)


def segment_pelt(signal: np.ndarray, pen: float, min_size: int = 2) -> list[int]:
    """Optimal l2 segmentation by PELT (Killick et al. 2012): segment ends, the last being n.

    The cost of a segment is its sum of squared deviations from its mean (ruptures' ``l2``),
    from cumulative sums; each new end is scored against every admissible start at once, so
    the work is linear in n times the (pruned) admissible set instead of a Python call per
    pair. Starts are the admissible set of ruptures' ``Pelt(jump=1)``; among equal-cost
    segmentations (within 1e-9, rounding) the earliest start wins, as in ruptures.
    """
    x = np.asarray(signal, dtype=float)
    n = len(x)
    x = x - x.mean()  # centred: smaller cumulative sums, less cancellation
    cs = np.concatenate([[0.0], np.cumsum(x)])
    cs2 = np.concatenate([[0.0], np.cumsum(x * x)])
    best = np.zeros(n + 1)
    prev = np.zeros(n + 1, dtype=np.int64)
    admissible = np.zeros(0, dtype=np.int64)
    for end in range(min_size, n + 1):
        start = end - min_size
        if start == 0 or start >= min_size:  # 0 < start < min_size has no segmentation
            admissible = np.append(admissible, start)
        m = end - admissible
        s = cs[end] - cs[admissible]
        cost = np.maximum((cs2[end] - cs2[admissible]) - s * s / m, 0.0)
        total = best[admissible] + (cost + pen)
        low = total.min()
        j = int(np.argmax(total <= low + 1e-9 * (1.0 + abs(low))))
        best[end], prev[end] = total[j], admissible[j]
        admissible = admissible[total <= best[end] + pen]
    ends, end = [], n
    while end > 0:
        ends.append(end)
        end = int(prev[end])
    return sorted(ends)


def detect_change_points(errors: np.ndarray, labels: list) -> ChangePoints:
    """PELT (l2 cost, jump=1, min_size=2) on 2 sqrt(errors + 3/8), penalty sweep.

    sigma^2 is estimated robustly from first differences (MAD); penalties are multiples of
    sigma^2 log(n). ``stability`` lists each change point with the share of penalties finding it.
    """
    y = np.asarray(errors, dtype=float)
    signal = 2 * np.sqrt(y + 3 / 8)
    n = len(signal)
    diffs = np.diff(signal)
    sigma2 = float((1.4826 * np.median(np.abs(diffs - np.median(diffs)))) ** 2 / 2)
    sigma2 = max(sigma2, 0.25)
    pens, found = [], []
    for m in PELT_PENALTY_MULTIPLIERS:
        pen = m * sigma2 * math.log(n)
        bkps = [b for b in segment_pelt(signal, pen) if b < n]
        pens.append(float(pen))
        found.append(tuple(labels[b] for b in bkps))
    counts: dict = {}
    for bk in found:
        for b in bk:
            counts[b] = counts.get(b, 0) + 1
    stability = tuple(
        {"minute": b, "share_of_penalties": counts[b] / len(found)} for b in sorted(counts)
    )
    return ChangePoints(sigma2, tuple(pens), tuple(found), stability)


def residual_autocorrelation(errors: np.ndarray, mu: np.ndarray) -> float:
    """Lag-1 autocorrelation of Pearson residuals (the AR(1) coefficient of the residuals).

    Residuals use NB2 variance with alpha by moments, so overdispersion alone does not count
    as burstiness; persistence does.
    """
    y = np.asarray(errors, dtype=float)
    alpha = float(_moment_alpha(y, mu))
    e = (y - mu) / np.sqrt(mu * (1 + alpha * mu))
    e = e - e.mean()
    den = float(np.sum(e * e))
    return float(np.sum(e[1:] * e[:-1]) / den) if den > 0 else 0.0
