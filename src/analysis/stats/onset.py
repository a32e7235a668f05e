"""Whether a hinge whose K reaches the lowest load shows an onset, or a smooth rise in load.

A capacity limit fails requests beyond a baseline once the load passes K; where K's interval
reaches the lowest load searched (``ThresholdFit.k_open_low``), the data do not show the rate
lower below K than above it, and the hinge is a curve through the whole window. Such a curve
is a limit only if it is not also what a rate per request that rises smoothly with the load
looks like: a power of the load, ``rate = a c[t - L] ** b``, fitted at the hinge's own lag
and reading of the load. docs/verdicts.md, "A capacity call needs a threshold in the data",
gives the rule and its measurement.
"""

from __future__ import annotations

import numpy as np

from analysis.stats.constants import MIN_EXPOSURE
from analysis.stats.countmodels import nb_loglik
from analysis.stats.results import ThresholdFit
from analysis.stats.series import lag_padded
from analysis.stats.threshold import PROFILE_LR_CUT, fitted_rate, smooth_load

#: The power at or above which a smooth rise is left to the hinge: a rate per request that
#: rises more slowly than the load (b < 1, errors less than quadratic in the load) rises
#: fastest at the lowest loads and flattens, which is not how a limit meets the load (it
#: binds harder the further the load passes K); b >= 1 is what a limit below the data looks
#: like from inside them, and the hinge keeps it.
SMOOTH_POWER_MAX = 1.0
#: The power law "fits as well" when the hinge's log-likelihood exceeds its own by less than
#: half this (chi-square(1)'s 95 % point, the cut of K's uncalibrated interval): the hinge has
#: the more free parameters (K, the shape, and b0 and b1 against a and b).
SMOOTH_LR_CUT = PROFILE_LR_CUT


def fit_power_of_load(counts, exposure, load, alpha: float, iters: int = 50) -> tuple:
    """NB2 fit (alpha fixed) of counts with mean exposure x a x load ** b; -> (a, b, loglik).

    ``load`` below one viewer counts as one (log of the load; an empty minute has no
    exposure to speak of). Fisher scoring on (log a, b) from the flat rate.
    """
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    design = np.stack([np.ones_like(y), np.log(np.maximum(np.asarray(load, dtype=float), 1.0))])
    beta = np.array([np.log(max(y.sum(), 1e-9) / x.sum()), 0.0])
    for _ in range(iters):
        mu = x * np.exp(np.clip(beta @ design, -30, 30))
        w = mu / (1 + alpha * mu)
        info = (design * w) @ design.T
        step = np.linalg.solve(info + 1e-10 * np.eye(2), design @ ((y - mu) / (1 + alpha * mu)))
        beta = beta + step
        if np.all(np.abs(step) < 1e-10 * (1 + np.abs(beta))):
            break
    mu = x * np.exp(np.clip(beta @ design, -30, 30))
    return float(np.exp(beta[0])), float(beta[1]), nb_loglik(y, mu, alpha)


def compare_hinge_to_power(fit: ThresholdFit, counts, exposure, concurrency) -> dict:
    """Return the hinge against a power of the load: ``{"power", "lr", "smooth"}``.

    ``power`` is b of :func:`fit_power_of_load` on the load the fit read (smoothed or not) at
    its lag, ``lr`` twice the hinge's log-likelihood minus the power law's (same NB2 alpha),
    ``smooth`` whether the power law fits as well (``lr`` below ``SMOOTH_LR_CUT``) with b
    below ``SMOOTH_POWER_MAX``: the errors rise smoothly and ever more slowly with the load,
    the elasticity tests' question, not a limit's.
    """
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    c = np.asarray(concurrency, dtype=float)
    load = lag_padded(smooth_load(c) if fit.load_smoothed else c, fit.lag_minutes)
    _, power, ll_power = fit_power_of_load(y, x, load, fit.alpha)
    ll_hinge = nb_loglik(y, x * np.maximum(fitted_rate(fit, c), 1e-300), fit.alpha)
    lr = 2 * (ll_hinge - ll_power)
    return {
        "power": power,
        "lr": float(lr),
        "smooth": bool(lr < SMOOTH_LR_CUT and power < SMOOTH_POWER_MAX),
    }
