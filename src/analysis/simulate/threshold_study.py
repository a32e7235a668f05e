"""The threshold study: capacity incidents on every load shape, from both generators.

Shared by ``benchmarks/bench_threshold.py`` (full counts) and the reduced-count tests. Each
incident holds one capacity class whose threshold K (in viewers) and lag are known; the class
goes through the statistics exactly as the report runs it (:func:`analysis.stats.analyse_class`
on its per-minute frame, or only the threshold part of it), and the study tabulates whether
the reported K interval covers the truth, whether K lies within 10 % among classes flagged well
identified, and whether the lag lies within a minute. Ground truth is read only here.

- Generator ``minutes`` (:mod:`analysis.simulate.minutes`): NB or AR(1)-Cox errors with mean
  requests x (b0 + b1 max(0, c[t-L] - K)), concurrency observed exactly.
- Generator ``sessions`` (:mod:`analysis.simulate.sessions`): a database connection limit
  failing requests on every REST endpoint, or Realtime refusing connections past its limit,
  followed per session, seen through a noisy and gappy monitor.

K is spread two ways (half the incidents each): 180-260 viewers when the load goes that high,
and anywhere between the 30th and the 90th percentile of the lagged load, so low-load hours
and thresholds near either end of the range are covered. Lags are 0-3 minutes.
"""

from __future__ import annotations

import math

import numpy as np

from analysis import stats
from analysis.simulate import minutes, sessions

GENERATORS = ("minutes", "sessions")
#: Load shapes: the per-session generator's audiences (both generators draw them) plus the
#: first generator's own seed-like and random piecewise shapes.
SHAPES = (*sessions.SHAPES, "seed", "random")
SHAPES_OF = {"minutes": SHAPES, "sessions": sessions.SHAPES}
FULL = {"incidents": 200, "n_boot": 99}
QUICK = {"incidents": 12, "n_boot": 49}
#: Fewest lagged minutes above K (an estimator needs some; a hinge with fewer is not a study
#: of the interval but of detection).
MIN_ABOVE = 5


def choose_k(lagged: np.ndarray, rng: np.random.Generator) -> float:
    """Draw K from 180-260 viewers (when the load exceeds it) or relative to the load's range."""
    lagged = np.asarray(lagged, dtype=float)
    ceiling = float(np.sort(lagged)[-MIN_ABOVE - 1]) - 1.0
    if rng.random() < 0.5 and ceiling > 185.0:
        return float(rng.uniform(180.0, min(260.0, ceiling)))
    lo, hi = np.quantile(lagged, [0.3, 0.9])
    return float(rng.uniform(lo, min(hi, ceiling)))


def incident_rng(generator: str, shape: str, index: int, base: int = 20261130):
    """Return the random stream of one study incident (one per generator, shape and index)."""
    return np.random.default_rng([base, GENERATORS.index(generator), SHAPES.index(shape), index])


def draw_minutes_incident(shape: str, rng: np.random.Generator, index: int):
    """Return (frame, error variant, truth) of one incident of the first generator."""
    if shape in minutes.SHAPES:
        conc = minutes.make_concurrency(shape, rng, 60, rng.uniform(280, 320))
    else:
        conc = np.round(sessions.draw_audience(shape, 60, rng))
    req = minutes.simulate_requests(conc, rng)
    lag = int(rng.integers(0, 4))
    lagged = minutes.lag_series(conc, lag)
    k = choose_k(lagged, rng)
    total = float(rng.uniform(50, 150))
    # Even incidents: NB noise independent across minutes; odd: AR(1)-Cox bursts on the rate.
    if index % 2 == 0:
        variant = "nb"
        err = minutes.simulate_capacity_errors(conc, req, rng, k=k, lag=lag, total=total)
    else:
        variant = "cox"
        burst = np.exp(0.5 * minutes.simulate_ar1(len(req), 0.8, rng) - 0.125)
        err = minutes.simulate_capacity_errors(
            conc, req * burst, rng, k=k, lag=lag, total=total, alpha=0.0
        )
    frame = minutes.MinuteIncident(conc, req, err).to_frame()
    frame.attrs.update(error_class="capacity", source="db_errors")
    truth = {"k_low": k, "k_high": k, "lag": lag, "above": int(np.sum(lagged > k))}
    return frame, variant, truth


def draw_sessions_incident(shape: str, rng: np.random.Generator, index: int):
    """Return (frame, mechanism, truth) of one incident of the per-session generator."""
    mech = "capacity_db" if index % 2 == 0 else "capacity_realtime"
    inc = sessions.simulate_session_incident(shape, rng, mechanisms=(mech,), choose_k=choose_k)
    t = inc.truth["classes"][mech]
    lo, hi = t["k_range"]
    truth = {"k_low": lo, "k_high": hi, "lag": t["lag"], "above": t["minutes_above_k"]}
    return inc.class_frame(mech), mech, truth


def estimate_class_threshold(frame, *, seed: int):
    """K, lag and their region for one class frame, prepared as ``analyse_class`` prepares it.

    (Interpolated concurrency, the counted unit and the denominator of the verdict models;
    the region's cut is bootstrapped as for a capacity call.)
    """
    y, r, c, _ = stats.extract_series(frame)
    signals = stats.extract_signals(frame)
    if "samples" in frame.columns:
        c = stats.interpolate_unsampled(c, frame["samples"].to_numpy(dtype=float))
    counted, _ = stats.choose_counts(y, signals)
    realtime = stats.is_realtime_class(frame)
    x, _, _ = stats.exposure_of(r, signals, c if realtime else None, counted)
    return stats.estimate_threshold(counted, x, c, rng=np.random.default_rng(seed))


def study_jobs(generators, shapes, incidents: int, n_boot: int, verdict: bool) -> list[tuple]:
    """Return the (generator, shape, index, n_boot, verdict) jobs (shapes each generator draws)."""
    return [
        (g, s, i, n_boot, verdict)
        for g in generators
        for s in shapes
        if s in SHAPES_OF[g]
        for i in range(incidents)
    ]


def run_incident(args: tuple) -> dict:
    """One study incident: truth beside the reported K, interval, lag range and flag.

    ``args`` = (generator, shape, index, n_boot, verdict): with ``verdict`` the class goes
    through :func:`analysis.stats.analyse_class` (tests and verdict included); without it only
    the threshold is estimated, on the same series the report would use.
    """
    generator, shape, index, n_boot, verdict = args
    rng = incident_rng(generator, shape, index)
    make = draw_minutes_incident if generator == "minutes" else draw_sessions_incident
    frame, variant, truth = make(shape, rng, index)
    row = {"generator": generator, "shape": shape, "index": index, "variant": variant, **truth}
    seed = int(rng.integers(2**31))
    if verdict:
        res = stats.analyse_class(frame, seed=seed, n_boot=n_boot)
        row["label"] = res.verdict.label
        fit = res.threshold
    else:
        fit = estimate_class_threshold(frame, seed=seed)
        row["label"] = None
    if fit is not None:
        row.update(
            k=fit.k,
            k_low_hat=fit.k_low,
            k_high_hat=fit.k_high,
            lag_hat=fit.lag_minutes,
            lag_low_hat=fit.lag_low,
            lag_high_hat=fit.lag_high,
            weak=bool(fit.weakly_identified),
            cut=fit.interval_lr_cut,
            at_onset=fit.minutes_at_onset,
        )
    return row


def covers(row: dict) -> bool:
    """Whether the reported K interval meets the true K (a range for Realtime classes)."""
    return row["k_low_hat"] <= row["k_high"] and row["k_high_hat"] >= row["k_low"]


def within_10(row: dict) -> bool:
    """Whether K-hat lies within 10 % of the true K (of the nearest end of a true range)."""
    nearest = min(max(row["k"], row["k_low"]), row["k_high"])
    return abs(row["k"] - nearest) <= 0.1 * nearest


def lag_within_1(row: dict) -> bool:
    """Whether the lag estimate is within one minute of the truth."""
    return abs(row["lag_hat"] - row["lag"]) <= 1


def _rate(hits: int, n: int) -> tuple[float, float]:
    p = hits / n if n else float("nan")
    return p, math.sqrt(p * (1 - p) / n) if n else float("nan")


def summarize(rows: list[dict], by=("generator", "shape")) -> list[dict]:
    """Per group: coverage, K within 10 % among well identified, lag within 1 min, widths."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[b] for b in by), []).append(r)
    out = []
    for key, sel in sorted(groups.items()):
        fits = [r for r in sel if "k" in r]
        strong = [r for r in fits if not r["weak"]]
        cov, cov_se = _rate(sum(covers(r) for r in fits), len(fits))
        acc, acc_se = _rate(sum(within_10(r) for r in strong), len(strong))
        lag, lag_se = _rate(sum(lag_within_1(r) for r in fits), len(fits))
        width = [(r["k_high_hat"] - r["k_low_hat"]) / max(r["k"], 1.0) for r in fits]
        out.append(
            {
                **dict(zip(by, key, strict=True)),
                "n": len(sel),
                "fitted": len(fits),
                "coverage": cov,
                "coverage_se": cov_se,
                "well_identified": len(strong),
                "within_10": acc,
                "within_10_se": acc_se,
                "lag_within_1": lag,
                "lag_within_1_se": lag_se,
                "median_width": float(np.median(width)) if width else float("nan"),
            }
        )
    return out
