"""Simulation study and speed benchmark of ``analysis.stats`` (issue 6).

Run: ``.venv/bin/python benchmarks/bench_stats.py`` (full counts, as ``make bench`` does) or
``--quick`` for reduced counts. Prints the speed benchmark first: all
statistics of the shipped webinar as ``make report`` runs them (its 7 error classes, 60
minutes, on 2 processes), wall and CPU seconds, as a ratio to a baseline of 200 plain Poisson
GLM fits timed in the same run, the CPU seconds of each class and the load average (target:
<= 5 s on 2 cores). Then the table of measured rates with Monte-Carlo standard errors
(binomial, sqrt(p(1-p)/N)) against the issue's targets.

``--only windows [--hours 1 6 24 48] [--seeds N] [--class NAME]``: the CPU of one threshold
estimate with its calibrated cuts on the shipped frames repeated 1-48 hours back to back, per
hour of window and as a ratio to the hour's, with the cells its replicates were refitted on
(docs/statistics.md section 4, "What the whole-grid refit costs on long windows").

``--only g0 [--trials N]``: the g = 0 test of a class whose own failing requests sit in its
exposure, as the package combines its two readings of the audience (requests without the
failures, and the viewers: Bonferroni) beside the alternatives that would give more power,
each on the same AR(1)-Cox replicates: false rejections on load-independent errors that bring
their own requests (Poisson, and bursty with persistence 0.8 and 0.95) and power on flat bugs
(few requests a minute; a narrow load range; the same with a stuck monitor)
(docs/statistics.md section 8, "Undetermined among traffic-proportional classes").

One incident of the study is drawn and analysed by ``analysis.simulate.study`` (which
tests/test_stats_simulation.py also runs, at reduced counts); ground truth is read only there
and here, never by the statistics.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import params, stats
from analysis.simulate import minutes
from analysis.simulate.study import attribution_incident, calibration_incident

ALPHA = 0.05
#: Issue 15: the statistics of one webinar in at most 5 s on 2 cores.
SPEED_TARGET = 5.0
#: Full counts (the issue's minimums) and the reduced counts of ``--quick``.
FULL = {"calibration": 1000, "capacity": 300, "verdict": 300, "bug_bursty": 100, "n_boot": 99}
QUICK = {"calibration": 100, "capacity": 40, "verdict": 30, "bug_bursty": 20, "n_boot": 49}


def _map(func, jobs, workers):
    if workers <= 1:
        return [func(j) for j in jobs]
    with mp.get_context("fork").Pool(workers) as pool:
        return pool.map(func, jobs, chunksize=max(1, len(jobs) // (8 * workers)))


def _rate(hits: int, n: int) -> tuple[float, float]:
    p = hits / n if n else float("nan")
    return p, math.sqrt(p * (1 - p) / n) if n else float("nan")


def _cached(cache: Path | None, key: str, compute):
    """Return the results of one simulation cell, from ``cache`` (JSON lines) when present."""
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            item = json.loads(line)
            if item["key"] == key:
                return item["results"]
    t0 = time.perf_counter()
    results = compute()
    print(f"  {key}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if cache is not None:
        with cache.open("a") as fh:
            fh.write(json.dumps({"key": key, "results": results}, default=_jsonable) + "\n")
    return json.loads(json.dumps(results, default=_jsonable))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def run_calibration(n: int, workers: int, cache: Path | None = None) -> list[dict]:
    """Rejection rates at alpha = 0.05 of every no-link test in every null scenario."""
    rows = []
    for shape in ("seed", "random"):
        for kind in minutes.NULL_KINDS:
            scenario = f"null:{kind}"
            jobs = [(scenario, shape, i) for i in range(n)]
            res = _cached(
                cache,
                f"calibration|{scenario}|{shape}|{n}",
                lambda jobs=jobs: _map(calibration_incident, jobs, workers),
            )
            for test in res[0]:
                ps = [r[test] for r in res if r[test] is not None]
                rate, se = _rate(sum(p <= ALPHA for p in ps), len(ps))
                loose = test == "count_model" and shape == "random" and kind in ("cox0.95", "drift")
                target = 0.10 if loose else 0.07
                rows.append(
                    {
                        "criterion": f"calibration {test}",
                        "scenario": scenario,
                        "shape": shape,
                        "n": len(ps),
                        "rate": rate,
                        "mc_se": se,
                        "target": f"<= {target:.2f}",
                        "pass": rate <= target,
                    }
                )
    return rows


def run_association_power(n: int, workers: int, cache: Path | None = None) -> list[dict]:
    """Power of the no-link tests on the capacity incidents of the attribution runs (info).

    ``calibration_incident`` draws the same incident as ``attribution_incident`` for the same
    (scenario, shape, index), so these are the very incidents whose verdicts are tabled.
    """
    rows = []
    for shape in ("seed", "random"):
        jobs = [("capacity", shape, i) for i in range(n)]
        res = _cached(
            cache,
            f"association_power|capacity|{shape}|{n}",
            lambda jobs=jobs: _map(calibration_incident, jobs, workers),
        )
        for test in res[0]:
            ps = [r[test] for r in res if r[test] is not None]
            rate, se = _rate(sum(p <= ALPHA for p in ps), len(ps))
            rows.append(
                {
                    "criterion": f"power (info): {test}",
                    "scenario": "capacity",
                    "shape": shape,
                    "n": len(ps),
                    "rate": rate,
                    "mc_se": se,
                    "target": "(info)",
                    "pass": True,
                }
            )
    return rows


def summarise_attribution(results: dict) -> list[dict]:
    """Rows of the power, threshold, lag and verdict criteria from attribution runs."""
    rows = []

    def add(criterion, scenario, shape, hits, n, target, ok):
        rate, se = _rate(hits, n)
        rows.append(
            {
                "criterion": criterion,
                "scenario": scenario,
                "shape": shape,
                "n": n,
                "rate": rate,
                "mc_se": se,
                "target": target,
                "pass": ok(rate),
            }
        )

    for (scenario, shape), res in sorted(results.items()):
        n = len(res)
        labels = [r["label"] for r in res]
        n_cap = labels.count(stats.CAPACITY)
        if scenario == "capacity":
            add(
                "power: hinge test (50-150 errors)",
                scenario,
                shape,
                n_cap,
                n,
                ">= 0.60",
                lambda p: p >= 0.60,
            )
            add(
                "verdict capacity-driven", scenario, shape, n_cap, n, ">= 0.80", lambda p: p >= 0.80
            )
            add(
                "  of those, flagged uncertain (AR(1)-Cox p > 0.05)",
                scenario,
                shape,
                sum((r["p_bursty"] or 0) > ALPHA for r in res if r["label"] == stats.CAPACITY),
                n_cap,
                "(info)",
                lambda p: True,
            )
            fits = [r for r in res if "k" in r]
            cover = sum(r["k_low"] <= r["truth"]["k"] <= r["k_high"] for r in fits)
            add(
                "K interval covers true K",
                scenario,
                shape,
                cover,
                len(fits),
                ">= 0.85",
                lambda p: p >= 0.85,
            )
            strong = [r for r in fits if not r["weak"]]
            within = sum(abs(r["k"] - r["truth"]["k"]) <= 0.1 * r["truth"]["k"] for r in strong)
            need = 0.90 if shape == "seed" else 0.70
            add(
                "K within +-10% (not weakly identified)",
                scenario,
                shape,
                within,
                len(strong),
                f">= {need:.2f}",
                lambda p, need=need: p >= need,
            )
            add(
                "share not weakly identified",
                scenario,
                shape,
                len(strong),
                len(fits),
                "(info)",
                lambda p: True,
            )
            within_all = sum(abs(r["k"] - r["truth"]["k"]) <= 0.1 * r["truth"]["k"] for r in fits)
            add(
                "K within +-10% (all runs)",
                scenario,
                shape,
                within_all,
                len(fits),
                "(info)",
                lambda p: True,
            )
            sharp = [r for r in fits if r["truth"]["sharp"]]
            lag_ok = sum(abs(r["lag"] - r["truth"]["lag"]) <= 1 for r in sharp)
            add(
                "lag within 1 min (sharp transition through K)",
                scenario,
                shape,
                lag_ok,
                len(sharp),
                ">= 0.90",
                lambda p: p >= 0.90,
            )
            sharp_strong = [r for r in sharp if not r["weak"]]
            add(
                "lag within 1 min (sharp, not weakly identified)",
                scenario,
                shape,
                sum(abs(r["lag"] - r["truth"]["lag"]) <= 1 for r in sharp_strong),
                len(sharp_strong),
                "(info)",
                lambda p: True,
            )
        elif scenario == "bug":
            add(
                "verdict traffic-proportional",
                scenario,
                shape,
                labels.count(stats.TRAFFIC),
                n,
                ">= 0.85",
                lambda p: p >= 0.85,
            )
            add(
                "verdict capacity-driven (false)",
                scenario,
                shape,
                n_cap,
                n,
                "<= 0.07",
                lambda p: p <= 0.07,
            )
        elif scenario == "bug_bursty":
            add(
                "verdict capacity-driven (false), bursty bug",
                scenario,
                shape,
                n_cap,
                n,
                "(info: caveat)",
                lambda p: True,
            )
            cav = sum(r["caveat"] for r in res if r["label"] == stats.CAPACITY)
            add(
                "  of those, carrying the bursty caveat",
                scenario,
                shape,
                cav,
                n_cap,
                "(info)",
                lambda p: True,
            )
            unc = sum((r["p_bursty"] or 0) > ALPHA for r in res if r["label"] == stats.CAPACITY)
            add(
                "  of those, flagged uncertain (AR(1)-Cox p > 0.05)",
                scenario,
                shape,
                unc,
                n_cap,
                "(info)",
                lambda p: True,
            )
        elif scenario in ("unrelated", "unrelated_bursty"):
            need = 0.90 if scenario == "unrelated" else 0.70
            add(
                "verdict unrelated",
                scenario,
                shape,
                labels.count(stats.UNRELATED),
                n,
                f">= {need:.2f}",
                lambda p, need=need: p >= need,
            )
    return rows


def run_attribution(counts: dict, workers: int, cache: Path | None = None) -> dict:
    """Attribution runs for every verdict scenario and shape (capacity first: the costliest)."""
    plan = {
        "capacity": counts["capacity"],
        "bug": counts["verdict"],
        "unrelated": counts["verdict"],
        "unrelated_bursty": counts["verdict"],
        "bug_bursty": counts["bug_bursty"],
    }
    results = {}
    for scenario, n in plan.items():
        for shape in ("seed", "random"):
            jobs = [(scenario, shape, i, counts["n_boot"]) for i in range(n)]
            results[(scenario, shape)] = _cached(
                cache,
                f"attribution|{scenario}|{shape}|{n}|{counts['n_boot']}",
                lambda jobs=jobs: _map(attribution_incident, jobs, workers),
            )
    return results


def format_table(rows: list[dict]) -> str:
    """Return the rows as a Markdown table."""
    head = "| criterion | scenario | shape | N | rate | MC se | target | pass |\n"
    head += "|---|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['criterion']} | {r['scenario']} | {r['shape']} | {r['n']} | {r['rate']:.3f} | "
        f"{r['mc_se']:.3f} | {r['target']} | {'yes' if r['pass'] else '**NO**'} |\n"
        for r in rows
    )
    return head + body


def webinar_frames() -> dict:
    """Return the shipped main webinar's per-minute frames as a report builds them (signals)."""
    from analysis import config, params, pipeline  # noqa: PLC0415

    p = params.build_params(config.DEFAULT_WEBINAR_ID, config.DEFAULT_INCIDENT_DIR)
    return dict(pipeline.build_timeline(pipeline.load(p), p).frames)


def report_seed() -> int:
    """Return the seed ``make report`` gives the shipped incident (its window start day)."""
    from analysis import config  # noqa: PLC0415

    return params.incident_seed(config.DEFAULT_INCIDENT_DIR)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the fork pool's workers)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_mc(seeds: int = 20) -> list[dict]:
    """Measure Monte-Carlo error at the decision on the shipped webinar's classes.

    With and without more replicates near the level (``stats.elasticity.MC_EXTRA``;
    docs/statistics.md section 12). Each class is analysed with ``seeds`` seeds (the
    report's first, then 1, 2, ...), twice per seed in this process: as shipped, and with
    ``MC_EXTRA`` = 0 (nothing drawn beyond n_boot); CPU seconds are summed per variant. Per
    class: the CPU ratio, how many seeds drew more, g = 0's p-value at the report's seed both
    ways, and how many seeds' labels differ from the label most seeds give.
    """
    from collections import Counter  # noqa: PLC0415

    from analysis.stats import elasticity  # noqa: PLC0415

    frames = webinar_frames()
    shipped = elasticity.MC_EXTRA
    rows = []
    for name in sorted(frames):
        out = {"class": name, "cpu": {}, "labels": {}, "p0": {}, "refined": 0}
        for extra in (shipped, 0):
            elasticity.MC_EXTRA = extra
            cpu, labels = 0.0, []
            for k in range(seeds):
                seed = stats.derive_seed(report_seed() if k == 0 else k, name)
                t0 = time.process_time()
                res = stats.analyse_class(frames[name], seed=seed)
                cpu += time.process_time() - t0
                labels.append(res.verdict.label)
                if k == 0:
                    out["p0"][extra] = res.verdict.p_value_zero
                el = res.elasticity
                if extra and el is not None and el.n_boot > 199:
                    out["refined"] += 1
            out["cpu"][extra] = cpu
            top = Counter(labels).most_common(1)[0][0]
            out["labels"][extra] = (top, sum(label != top for label in labels))
        elasticity.MC_EXTRA = shipped
        rows.append(out)
    return rows


def format_mc(rows: list[dict], seeds: int) -> str:
    """Markdown table of :func:`run_mc`."""
    from analysis.stats import elasticity  # noqa: PLC0415

    extra = elasticity.MC_EXTRA
    head = (
        f"| class | seeds drawing more | CPU s with / without ({seeds} seeds) | ratio | "
        "g = 0 p at the report's seed, with / without | label (seeds off it), with / without |\n"
        "|---|---|---|---|---|---|\n"
    )
    body = ""
    for r in rows:
        fmt = lambda p: "-" if p is None else f"{p:.3f}"  # noqa: E731
        (lab1, off1), (lab0, off0) = r["labels"][extra], r["labels"][0]
        body += (
            f"| {r['class']} | {r['refined']} | {r['cpu'][extra]:.2f} / {r['cpu'][0]:.2f} | "
            f"{r['cpu'][extra] / max(r['cpu'][0], 1e-9):.2f} | {fmt(r['p0'][extra])} / "
            f"{fmt(r['p0'][0])} | {lab1} ({off1}) / {lab0} ({off0}) |\n"
        )
    total1 = sum(r["cpu"][extra] for r in rows)
    total0 = sum(r["cpu"][0] for r in rows)
    tail = f"\nall classes: CPU {total1:.2f} / {total0:.2f} s = {total1 / total0:.3f}\n"
    return head + body + tail


def run_speed(repeats: int = 3, workers: int = 2) -> dict:
    """Time the shipped webinar's statistics against a baseline measured in the same run.

    The baseline is 200 plain Poisson GLM fits (statsmodels) of one class, timed just before:
    the machine's speed at this moment, so the ratio holds under any load. The statistics run
    as ``make report`` runs them (``analyse_webinar`` on ``workers`` processes, n_boot 199);
    then once serially, class by class, for the CPU seconds of each class.
    """
    import statsmodels.api as sm  # noqa: PLC0415

    frames = webinar_frames()
    frame = next(iter(frames.values()))
    x = sm.add_constant(frame["concurrency"].to_numpy(float))
    yv = frame["errors"].to_numpy(float)

    def glm_fits():
        for _ in range(200):
            sm.GLM(yv, x, family=sm.families.Poisson()).fit()

    load = os.getloadavg()[0]
    base = min(_timed(glm_fits) for _ in range(3))
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        cpu, wall = _cpu(), time.perf_counter()
        result = stats.analyse_webinar(frames, seed=report_seed(), workers=workers)
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu() - cpu)
    per_class = {}
    for name in sorted(frames):
        cpu = time.process_time()
        stats.analyse_class(frames[name], seed=stats.derive_seed(report_seed(), name))
        per_class[name] = time.process_time() - cpu
    serial = stats.analyse_webinar(frames, seed=report_seed(), workers=1)
    best = min(walls)
    return {
        "classes": len(frames),
        "minutes": len(frame),
        "workers": workers,
        "seconds": best,
        "cpu_seconds": min(cpus),
        "class_cpu_seconds": per_class,
        "idle_estimate": max(sum(per_class.values()) / workers, max(per_class.values())),
        "baseline_seconds": base,
        "ratio": best / base,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "identical": serial.to_dict() == result.to_dict(),
    }


def tile_frame(frame: pd.DataFrame, hours: int) -> pd.DataFrame:
    """Return ``frame`` repeated ``hours`` times back to back (minutes shifted by whole hours)."""
    parts = [frame.assign(minute=frame["minute"] + pd.Timedelta(hours=h)) for h in range(hours)]
    return pd.concat(parts, ignore_index=True)


def run_windows(hours: list[int], seeds: int, names: list[str] | None = None) -> list[dict]:
    """CPU of one threshold estimate with its calibrated cuts on the shipped frames tiled.

    Each class's frame is repeated 1, 6, 24 or 48 hours back to back (the shape
    ``bench_windows.py`` reports on) and its K and lag are estimated with the replicates'
    cuts (what a class called capacity-driven pays), for ``seeds`` seeds. Returns one row per
    class, window and seed: CPU seconds, the cells the replicates were refitted on (the near
    region, then every other cell when a cut exceeded half of ``REGION_GRID_LR``) and the cuts.
    """
    from analysis.stats import series, threshold, verdicts  # noqa: PLC0415

    frames = webinar_frames()
    rows, refitted = [], []
    inner = threshold._replicate_maxima

    def counted(reps, noisy, r, alpha, cells, k_hat, lag_hat):
        refitted.append(len(cells[0]))
        return inner(reps, noisy, r, alpha, cells, k_hat, lag_hat)

    threshold._replicate_maxima = counted
    try:
        for h in hours:
            for name in sorted(frames):
                if names and name not in names:
                    continue
                frame = tile_frame(frames[name], h)
                y, r, c, _ = series.extract_series(frame)
                signals = series.extract_signals(frame)
                c = series.interpolate_unsampled(c, frame["samples"].to_numpy(float))
                y, _ = series.choose_counts(y, signals)
                x = verdicts.choose_denominator(r, signals, c, series.is_realtime_class(frame), y)[
                    0
                ]
                for seed in range(seeds):
                    refitted.clear()
                    cpu = time.process_time()
                    fit = threshold.estimate_threshold(y, x, c, rng=np.random.default_rng(seed))
                    if fit is None:
                        break
                    rows.append(
                        {
                            "hours": h,
                            "class": name,
                            "seed": seed,
                            "cpu": time.process_time() - cpu,
                            "near": refitted[0] if refitted else 0,
                            "far": sum(refitted[1:]),
                            "k_cut": fit.interval_lr_cut,
                            "lag_cut": fit.lag_lr_cut,
                        }
                    )
    finally:
        threshold._replicate_maxima = inner
    return rows


def format_windows(rows: list[dict]) -> str:
    """Markdown table of :func:`run_windows`: CPU per estimate and per hour against 1 hour."""
    head = "| class | hours | seeds | CPU s per estimate (min-max) | CPU s per hour | "
    head += "per hour / 1 h | near cells | every cell refitted |\n"
    head += "|---" * 8 + "|\n"
    body = ""
    for name in sorted({r["class"] for r in rows}):
        mine = [r for r in rows if r["class"] == name]
        one = [r["cpu"] for r in mine if r["hours"] == 1]
        for h in sorted({r["hours"] for r in mine}):
            sel = [r for r in mine if r["hours"] == h]
            cpu = [r["cpu"] for r in sel]
            per_hour = float(np.mean(cpu)) / h
            ratio = f"{per_hour / np.mean(one):.2f}" if one else "-"
            body += (
                f"| {name} | {h} | {len(sel)} | {min(cpu):.2f}-{max(cpu):.2f} | {per_hour:.3f} | "
                f"{ratio} | {sel[0]['near']} | {sum(r['far'] > 0 for r in sel)} of {len(sel)} |\n"
            )
    return head + body


G0_MINUTES = 60


def _cox_errors(rng: np.random.Generator, mean: float, phi: float, sd: float) -> np.ndarray:
    """Errors of an AR(1)-Cox process (log-intensity sd ``sd``, persistence ``phi``)."""
    z = np.zeros(G0_MINUTES)
    z[0] = rng.normal(0, sd)
    for t in range(1, G0_MINUTES):
        z[t] = phi * z[t - 1] + rng.normal(0, sd * math.sqrt(1 - phi**2))
    return rng.poisson(mean * np.exp(z - sd**2 / 2)).astype(float)


def _g0_case(name: str, seed: int) -> tuple[np.ndarray, ...]:
    """(errors, exposure with the failures, own failures, viewers) of one drawn class."""
    rng = np.random.default_rng(seed)
    m = G0_MINUTES
    if name.startswith("null"):
        if name == "null_poisson":
            viewers = 20 * (1 + 0.15 * np.sin(np.linspace(0, 3, m)))
            y = rng.poisson(1.5, m).astype(float)
        else:
            viewers = 10 + 40 * np.sin(np.linspace(0, np.pi, m))
            y = _cox_errors(rng, 3.0, 0.8 if name == "null_bursty_0.8" else 0.95, 0.8)
        audience = rng.poisson(viewers * (1 if name == "null_poisson" else 2)).astype(float)
        return y, audience + y, y, viewers
    if name == "bug_few_requests":
        viewers = 6 + 28 * np.sin(np.linspace(0, np.pi, m))
        requests = rng.poisson(viewers / 6).astype(float)
        y = rng.binomial(requests.astype(int), 0.15).astype(float)
        return y, requests, y, viewers
    viewers = 45 + 15 * np.sin(np.linspace(0, 2 * np.pi, m) + rng.uniform(0, 6))
    requests = rng.poisson(3 * viewers).astype(float)
    y = rng.binomial(requests.astype(int), 0.02).astype(float)
    seen = viewers * np.exp(rng.normal(0, 0.03, m))
    if name == "bug_narrow_stuck_monitor":
        seen[20:40] = seen[20]
    return y, requests, y, seen


def _corrected_cox_moments(
    y: np.ndarray, mu: np.ndarray, persistence: bool = True, variance: bool = True
) -> tuple[float, float]:
    """AR(1)-Cox moments with the short-series bias of the persistence and/or variance undone."""
    from analysis.stats.countmodels import _fit_cox_moments

    s2, phi = _fit_cox_moments(y, mu)
    if s2 <= 0:
        return s2, phi
    n = len(y)
    # Kendall's bias of the lag-1 estimate.
    phi_c = min(0.95, phi + (1 + 3 * phi) / n) if persistence else phi
    if not variance:
        return s2, phi_c
    shrink = 1 - (1 + phi_c) / (n * (1 - phi_c))  # the variance the series' own mean absorbs
    return math.log1p(math.expm1(s2) / max(shrink, 0.25)), phi_c


def _persistence_corrected(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """AR(1)-Cox moments with only the persistence's short-series bias undone."""
    return _corrected_cox_moments(y, mu, variance=False)


def _variance_corrected(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """AR(1)-Cox moments with only the variance the series' own mean absorbs restored."""
    return _corrected_cox_moments(y, mu, persistence=False)


def _variance_corrected_at_cap(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """AR(1)-Cox moments, the variance restored only where the persistence is 0.9 or more."""
    s2, phi = _corrected_cox_moments(y, mu, persistence=False, variance=False)
    return _variance_corrected(y, mu) if phi >= 0.9 else (s2, phi)


def run_g0(trials: int) -> list[dict]:
    """Rejection rates of the g = 0 test's combinations on the same replicates."""
    from analysis.stats.countmodels import _fit_cox_moments, _simulate_cox
    from analysis.stats.series import log_weights

    names = ["null_poisson", "null_bursty_0.8", "null_bursty_0.95", "bug_few_requests",
             "bug_narrow_load", "bug_narrow_stuck_monitor"]  # fmt: skip
    rows = []
    for name in names:
        hits: dict[str, int] = {}
        for seed in range(trials):
            y, x, own, viewers = _g0_case(name, seed)
            w_r, w_v = log_weights(x - own + own.mean()), log_weights(viewers)
            mu0 = np.full(len(y), y.mean())
            fits = (
                (_fit_cox_moments, ""),
                (_corrected_cox_moments, ", corrected moments"),
                (_persistence_corrected, ", persistence corrected"),
                (_variance_corrected, ", variance corrected"),
                (_variance_corrected_at_cap, ", variance corrected where persistence >= 0.9"),
            )
            for fit, tag in fits:
                reps = _simulate_cox(mu0, *fit(y, mu0), 199, np.random.default_rng(10_000 + seed))
                t_r, t_v, t_a = reps @ w_r, reps @ w_v, reps @ ((w_r + w_v) / 2)
                p_r = (1 + np.sum(t_r >= y @ w_r - 1e-9)) / 200
                p_v = (1 + np.sum(t_v >= y @ w_v - 1e-9)) / 200
                # Westfall-Young: the replicates' own smaller p-value, over the same draws.
                r_r = (1 + (t_r[None, :] >= t_r[:, None]).sum(1)) / 200
                r_v = (1 + (t_v[None, :] >= t_v[:, None]).sum(1)) / 200
                ps = {
                    "bonferroni (now)": min(1.0, 2 * min(p_r, p_v)),
                    "requests only": p_r,
                    "viewers only": p_v,
                    "one test, averaged weights": (1 + np.sum(t_a >= y @ ((w_r + w_v) / 2) - 1e-9))
                    / 200,
                    "min-p (Westfall-Young)": (
                        1 + np.sum(np.minimum(r_r, r_v) <= min(p_r, p_v) + 1e-12)
                    )
                    / 200,
                }
                if tag:
                    ps = {
                        k + tag: v for k, v in ps.items() if "only" not in k and "averaged" not in k
                    }
                for k, p in ps.items():
                    hits[k] = hits.get(k, 0) + int(p <= ALPHA)
        rows += [
            {"case": name, "variant": k, "rate": v / trials, "trials": trials}
            for k, v in hits.items()
        ]
    return rows


def format_g0(rows: list[dict]) -> str:
    """One line per variant, one column per case: g = 0 rejected at 0.05."""
    table = pd.DataFrame(rows).pivot(index="variant", columns="case", values="rate")
    order = ["null_poisson", "null_bursty_0.8", "null_bursty_0.95", "bug_few_requests",
             "bug_narrow_load", "bug_narrow_stuck_monitor"]  # fmt: skip
    return table[order].to_string(float_format=lambda v: f"{v:.3f}")


def _timed(func) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the study (full or --quick) and the speed benchmark; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument(
        "--only",
        choices=["calibration", "attribution", "speed", "windows", "g0", "mc"],
        default=None,
    )
    parser.add_argument("--trials", type=int, default=200, help="draws per case of --only g0")
    parser.add_argument(
        "--hours", type=int, nargs="+", default=[1, 24], help="windows of --only windows"
    )
    parser.add_argument(
        "--seeds", type=int, default=2, help="seeds per class of --only windows or mc"
    )
    parser.add_argument("--class", dest="classes", action="append", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--cache", type=Path, default=None, help="JSON-lines file of finished cells (resumable)"
    )
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    workers = max(1, min(2, args.workers))
    rows, t0 = [], time.perf_counter()
    if args.only == "g0":
        load = os.getloadavg()[0]
        print(f"g = 0 rejected at {ALPHA} ({args.trials} draws per case, 199 replicates):")
        print(format_g0(run_g0(args.trials)))
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        return 0
    if args.only == "mc":
        load = os.getloadavg()[0]
        print(format_mc(run_mc(args.seeds), args.seeds))
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        return 0
    if args.only == "windows":
        load = os.getloadavg()[0]
        print(format_windows(run_windows(args.hours, args.seeds, args.classes)))
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        return 0
    if args.only in (None, "speed"):
        sp = run_speed()
        longest = max(sp["class_cpu_seconds"], key=sp["class_cpu_seconds"].get)
        print(
            f"speed: statistics of the shipped webinar ({sp['classes']} classes x "
            f"{sp['minutes']} min, n_boot 199, as make report runs them): "
            f"{sp['seconds']:.2f} s wall on {sp['workers']} workers (best of 3) = "
            f"{sp['ratio']:.2f} x the baseline (200 Poisson GLM fits, "
            f"{sp['baseline_seconds']:.2f} s, same run); {sp['cpu_seconds']:.2f} CPU s; "
            f"load average {sp['load_before']:.1f} -> {sp['load_after']:.1f}",
            flush=True,
        )
        print(
            "  CPU s per class (serial): "
            + ", ".join(f"{k} {v:.2f}" for k, v in sp["class_cpu_seconds"].items())
            + f"; on {sp['workers']} idle cores at least max(total / {sp['workers']}, longest "
            f"class {longest}) = {sp['idle_estimate']:.2f} s; target <= {SPEED_TARGET:.0f} s: "
            + ("met" if sp["seconds"] <= SPEED_TARGET else f"MISSED at load {sp['load_after']:.1f}")
            + f"; 1 and {sp['workers']} workers identical: {sp['identical']}",
            flush=True,
        )
    if args.only in (None, "attribution"):
        rows += summarise_attribution(run_attribution(counts, workers, args.cache))
    if args.only in (None, "calibration"):
        rows += run_association_power(counts["capacity"], workers, args.cache)
        rows += run_calibration(counts["calibration"], workers, args.cache)
    if rows:
        print(format_table(rows))
        print(f"total {time.perf_counter() - t0:.0f} s; counts {counts}; workers {workers}")
        failed = [r for r in rows if not r["pass"]]
        print(f"{len(rows) - len(failed)} of {len(rows)} rows meet their target")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    sys.exit(main())
