"""Per-minute core of simulated incidents: load shapes, requests and error processes.

Everything here produces plain arrays for one incident hour (60 one-minute bins by default).
Ground truth (the threshold ``k``, the lag, the error process) lives only in the returned
parameters, never in the series, so the statistics can be validated against it.

The designs follow docs/statistics.md section 1: concurrency is either "seed-like" (rebuilt
from the 5-minute max/min of the real hour) or a random piecewise shape; requests are Poisson in
4 x concurrency with a slow lognormal factor; errors are null processes (no link to load),
traffic-proportional bugs, or capacity incidents with a hinge in lagged concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Per-minute template of the real hour (2026-02-06 05:00-06:00 UTC), rebuilt from the 5-minute
#: max/min table of the outage report (docs/shipped-incident.md): plateau 214-299, drop 147 -> 47,
#: 27-47, a dip to 2, a 135 plateau, a ramp 88 -> 311, then 198-253.
SEED_LIKE_TEMPLATE = np.array(
    [214, 222, 230, 238, 244, 226, 250, 275, 299, 285,
     264, 245, 220, 190, 147, 47, 47, 47, 47, 47,
     27, 27, 27, 27, 27, 36, 36, 36, 36, 36,
     20, 2, 30, 55, 82, 135, 135, 135, 135, 135,
     88, 150, 230, 311, 280, 253, 240, 230, 215, 209,
     235, 220, 205, 198, 215, 235, 225, 210, 199, 220],
    dtype=float,
)  # fmt: skip

#: Names of the error processes without any link to load (calibration scenarios).
NULL_KINDS = ("iid", "sparse", "nb", "cox0.8", "cox0.95", "episodic", "drift")

#: Names of the load shapes.
SHAPES = ("seed", "random")


@dataclass(frozen=True)
class MinuteIncident:
    """One simulated incident hour: the observed series and, separately, its ground truth."""

    concurrency: np.ndarray
    requests: np.ndarray
    errors: np.ndarray
    truth: dict = field(default_factory=dict)

    def to_frame(self, start: str = "2026-02-06T05:00:00Z") -> pd.DataFrame:
        """Return the contract's per-minute frame (section 3 of docs/contract.md)."""
        n = len(self.errors)
        return pd.DataFrame(
            {
                "minute": pd.date_range(pd.Timestamp(start), periods=n, freq="min"),
                "requests": self.requests.astype("int64"),
                "errors": self.errors.astype("int64"),
                "concurrency": np.round(self.concurrency).astype("int64"),
                "samples": np.ones(n, dtype="int64"),
            }
        )


def simulate_ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Return a stationary AR(1) path with unit marginal variance."""
    z = np.empty(n)
    z[0] = rng.standard_normal()
    innov = rng.standard_normal(n) * np.sqrt(1.0 - phi * phi)
    for t in range(1, n):
        z[t] = phi * z[t - 1] + innov[t]
    return z


def make_seed_like_concurrency(rng: np.random.Generator, n: int = 60) -> np.ndarray:
    """Return the seed-like shape with multiplicative AR(1) jitter (sd 5%)."""
    base = np.resize(SEED_LIKE_TEMPLATE, n)
    jitter = np.exp(0.05 * simulate_ar1(n, 0.5, rng))
    return np.maximum(1.0, np.round(base * jitter))


def make_random_concurrency(
    rng: np.random.Generator, n: int = 60, peak: float | None = None
) -> np.ndarray:
    """Return a random piecewise shape: 3-7 plateaus joined by jumps or 2-6 minute ramps.

    At least one plateau is high (200-320) and usually one is a low "drop" (10-60). When
    ``peak`` is given the series is rescaled so its maximum equals it.
    """
    n_seg = int(rng.integers(3, 8))
    levels = rng.uniform(10, 320, n_seg)
    levels[rng.integers(n_seg)] = rng.uniform(200, 320)
    if rng.random() < 0.8:
        low = int(rng.integers(n_seg))
        if levels[low] < 200:
            levels[low] = rng.uniform(10, 60)
    cuts = np.sort(rng.choice(np.arange(5, n - 4), n_seg - 1, replace=False))
    bounds = np.concatenate([[0], cuts, [n]])
    base = np.empty(n)
    for i in range(n_seg):
        base[bounds[i] : bounds[i + 1]] = levels[i]
    # Transitions: a jump, or a linear ramp of 2-6 minutes ending at the cut.
    for i, cut in enumerate(cuts):
        if rng.random() < 0.5:
            width = int(rng.integers(2, 7))
            start = max(bounds[i] + 1, cut - width)
            ramp = np.linspace(levels[i], levels[i + 1], cut - start + 2)[1:-1]
            base[start:cut] = ramp
    drift = 1.0 + 0.05 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n)
    jitter = np.exp(0.05 * simulate_ar1(n, 0.5, rng))
    conc = np.maximum(1.0, base * drift * jitter)
    if peak is not None:
        conc = conc * (peak / conc.max())
    return np.maximum(1.0, np.round(conc))


def make_concurrency(shape: str, rng: np.random.Generator, n: int = 60, peak=None) -> np.ndarray:
    """Return a concurrency series of the named shape (``seed`` or ``random``)."""
    if shape == "seed":
        return make_seed_like_concurrency(rng, n)
    if shape == "random":
        return make_random_concurrency(rng, n, peak)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def simulate_requests(
    concurrency: np.ndarray, rng: np.random.Generator, per_viewer: float = 4.0
) -> np.ndarray:
    """Return requests per minute: Poisson(per_viewer x concurrency x lognormal AR(1), sd 0.1)."""
    factor = np.exp(0.1 * simulate_ar1(len(concurrency), 0.8, rng))
    return rng.poisson(per_viewer * concurrency * factor)


def _cox(n: int, total: float, phi: float, rng: np.random.Generator, sd: float = 1.0):
    """Return Poisson counts with log-intensity an AR(1) of the given sd, mean total/n."""
    z = sd * simulate_ar1(n, phi, rng)
    return rng.poisson(total / n * np.exp(z - sd * sd / 2))


def simulate_null_errors(
    kind: str, n: int, rng: np.random.Generator, total: float = 120.0
) -> np.ndarray:
    """Return errors per minute with no link to load.

    Kinds: ``iid`` Poisson, ``sparse`` (30 per hour), ``nb`` (NB2, alpha 1), ``cox0.8`` and
    ``cox0.95`` (Poisson with AR(1) log-intensity, sd 1), ``episodic`` (background plus 1-3
    bursts of 3-10 minutes at 5-15 per minute), ``drift`` (AR(1)-Cox with phi 0.99).
    """
    mean = total / n
    if kind == "iid":
        return rng.poisson(mean, n)
    if kind == "sparse":
        return rng.poisson(30.0 / n, n)
    if kind == "nb":
        return rng.poisson(rng.gamma(1.0, mean, n))
    if kind == "cox0.8":
        return _cox(n, total, 0.8, rng)
    if kind == "cox0.95":
        return _cox(n, total, 0.95, rng)
    if kind == "drift":
        return _cox(n, total, 0.99, rng)
    if kind == "episodic":
        rate = np.full(n, 0.4 * mean)
        for _ in range(int(rng.integers(1, 4))):
            width = int(rng.integers(3, 11))
            start = int(rng.integers(0, n - width + 1))
            rate[start : start + width] += rng.uniform(5, 15)
        return rng.poisson(rate)
    raise ValueError(f"unknown null error kind {kind!r}; expected one of {NULL_KINDS}")


def lag_series(x: np.ndarray, lag: int) -> np.ndarray:
    """Return x[t - lag], the first ``lag`` minutes padded with x[0] (no data before them)."""
    if lag == 0:
        return np.asarray(x, dtype=float)
    return np.concatenate([np.full(lag, x[0], dtype=float), np.asarray(x[:-lag], dtype=float)])


def capacity_mean(
    concurrency: np.ndarray,
    requests: np.ndarray,
    *,
    k: float,
    lag: int,
    total: float,
    baseline_share: float = 0.2,
) -> np.ndarray:
    """Return the capacity class's mean per minute, requests x (b0 + b1 x max(0, c[t-lag] - k)).

    b0 and b1 are set so the expected total is ``total`` with ``baseline_share`` of it from the
    flat part.
    """
    req = np.asarray(requests, dtype=float)
    hinge = np.maximum(0.0, lag_series(concurrency, lag) - k)
    slope_base = float(np.sum(req * hinge))
    if slope_base <= 0:
        raise ValueError(f"k={k} is above every lagged concurrency value; no capacity effect")
    b0 = baseline_share * total / req.sum()
    b1 = (1 - baseline_share) * total / slope_base
    return req * (b0 + b1 * hinge)


def simulate_capacity_errors(
    concurrency: np.ndarray,
    requests: np.ndarray,
    rng: np.random.Generator,
    *,
    k: float,
    lag: int,
    total: float,
    baseline_share: float = 0.2,
    alpha: float = 0.5,
) -> np.ndarray:
    """Return NB2 errors with the mean of :func:`capacity_mean`; ``alpha`` = 0 gives Poisson."""
    mu = capacity_mean(
        concurrency, requests, k=k, lag=lag, total=total, baseline_share=baseline_share
    )
    if alpha > 0:
        mu = rng.gamma(1.0 / alpha, alpha * mu)
    return rng.poisson(mu)


def simulate_bug_errors(
    requests: np.ndarray,
    rng: np.random.Generator,
    *,
    total: float,
    bursty: bool = False,
    phi: float = 0.9,
) -> np.ndarray:
    """Return traffic-proportional errors: Poisson(requests x const), optionally AR(1)-Cox."""
    req = np.asarray(requests, dtype=float)
    mu = req * total / req.sum()
    if bursty:
        mu = mu * np.exp(simulate_ar1(len(req), phi, rng) - 0.5)
    return rng.poisson(mu)


def has_sharp_transition(concurrency: np.ndarray, k: float, lag: int = 0) -> bool:
    """Whether some minute-to-minute step crosses k by a jump of at least 25% of k."""
    c = np.asarray(concurrency, dtype=float)
    lo = np.minimum(c[1:], c[:-1])
    hi = np.maximum(c[1:], c[:-1])
    return bool(np.any((lo < k) & (hi > k) & (hi - lo >= 0.25 * k)))


def simulate_incident(scenario: str, shape: str, rng: np.random.Generator, n: int = 60):
    """Return one :class:`MinuteIncident` of a named scenario.

    Scenarios: ``null:<kind>`` (see :func:`simulate_null_errors`), ``capacity`` (K ~ U(120,
    260), lag 0-3, 50-150 errors, NB alpha 0.5), ``capacity_poisson`` (same, alpha 0),
    ``bug`` (Poisson bug, 50-150 errors), ``bug_bursty``, ``unrelated`` (iid Poisson, 120 per
    hour) and ``unrelated_bursty`` (AR(1)-Cox, phi 0.9).
    """
    peak = rng.uniform(280, 320) if shape == "random" else None
    conc = make_concurrency(shape, rng, n, peak)
    req = simulate_requests(conc, rng)
    truth: dict = {"scenario": scenario, "shape": shape}
    if scenario.startswith("null:"):
        kind = scenario.split(":", 1)[1]
        err = simulate_null_errors(kind, n, rng)
        truth.update(kind=kind, link="none")
    elif scenario in ("capacity", "capacity_poisson"):
        # Draw K until the lagged load exceeds it in at least 3 minutes (as an estimator needs).
        lag = int(rng.integers(0, 4))
        lagged = lag_series(conc, lag)
        for _ in range(100):
            k = float(rng.uniform(120, 260))
            if np.sum(lagged > k) >= 3:
                break
        total = float(rng.uniform(50, 150))
        alpha = 0.5 if scenario == "capacity" else 0.0
        err = simulate_capacity_errors(conc, req, rng, k=k, lag=lag, total=total, alpha=alpha)
        truth.update(
            link="capacity",
            k=k,
            lag=lag,
            total=total,
            alpha=alpha,
            sharp=has_sharp_transition(conc, k),
        )
    elif scenario in ("bug", "bug_bursty"):
        total = float(rng.uniform(50, 150))
        err = simulate_bug_errors(req, rng, total=total, bursty=scenario == "bug_bursty")
        truth.update(link="traffic", total=total)
    elif scenario == "unrelated":
        err = simulate_null_errors("iid", n, rng)
        truth.update(link="none", kind="iid")
    elif scenario == "unrelated_bursty":
        err = _cox(n, 120.0, 0.9, rng)
        truth.update(link="none", kind="cox0.9")
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    return MinuteIncident(conc, np.asarray(req), np.asarray(err), truth)
