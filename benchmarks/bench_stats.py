"""Simulation study and speed benchmark of ``analysis.stats`` (issue 6).

Run: ``.venv/bin/python benchmarks/bench_stats.py`` (full counts, as ``make bench`` does) or
``--quick`` for reduced counts. Prints the table of measured rates with Monte-Carlo standard
errors (binomial, sqrt(p(1-p)/N)) against the issue's targets, then the speed benchmark: all
statistics of one webinar (5 error classes, 60 minutes) in seconds and as a ratio to one plain
Poisson GLM fit measured in the same run.

One incident of the study is drawn and analysed by ``analysis.simulate.study`` (which
tests/test_stats_simulation.py also runs, at reduced counts); ground truth is read only there
and here, never by the statistics.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats
from analysis.simulate import minutes
from analysis.simulate.study import attribution_incident, calibration_incident

ALPHA = 0.05
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


def webinar_frames(seed: int = 7) -> tuple[dict, str]:
    """Five 60-minute error classes for the speed benchmark.

    The shipped incident's frames when ingest and timeline can build them; otherwise five
    simulated classes on the seed-like shape (capacity, two bugs, bursty, unrelated).
    """
    try:
        from analysis import config, error_classes, ingest, timeline  # noqa: PLC0415

        incident = ingest.load_incident(config.DEFAULT_INCIDENT_DIR)
        classes = error_classes.define_error_classes(incident)
        frames = {
            c.key: timeline.build_minute_frame(
                incident, config.DEFAULT_WEBINAR_ID, c.key, classes=classes
            )
            for c in classes
        }
        if frames:
            return frames, "shipped incident"
    except Exception as exc:  # noqa: BLE001 - any missing stage means: use the stand-in
        reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = "no error classes"
    rng = np.random.default_rng(seed)
    frames = {}
    for name, scenario in [
        ("capacity", "capacity"),
        ("bug_a", "bug"),
        ("bug_b", "bug"),
        ("bursty", "unrelated_bursty"),
        ("unrelated", "unrelated"),
    ]:
        frames[name] = minutes.simulate_incident(scenario, "seed", rng).to_frame()
    return frames, f"simulated stand-in (shipped incident not loadable: {reason[:120]})"


def run_speed(repeats: int = 3) -> dict:
    """Time analyse_webinar against one plain Poisson GLM fit (statsmodels) in the same run."""
    import statsmodels.api as sm  # noqa: PLC0415

    frames, source = webinar_frames()
    frame = next(iter(frames.values()))
    x = sm.add_constant(frame["concurrency"].to_numpy(float))
    yv = frame["errors"].to_numpy(float)
    base = min(_timed(lambda: sm.GLM(yv, x, family=sm.families.Poisson()).fit()) for _ in range(20))
    full = min(_timed(lambda: stats.analyse_webinar(frames, seed=1)) for _ in range(repeats))
    return {
        "source": source,
        "classes": len(frames),
        "minutes": len(frame),
        "seconds": full,
        "baseline_glm_seconds": base,
        "ratio": full / base,
    }


def _timed(func) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the study (full or --quick) and the speed benchmark; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument("--only", choices=["calibration", "attribution", "speed"], default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--cache", type=Path, default=None, help="JSON-lines file of finished cells (resumable)"
    )
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    workers = max(1, min(2, args.workers))
    rows, t0 = [], time.perf_counter()
    if args.only in (None, "speed"):
        speed = run_speed()
        print(
            f"speed: all statistics of one webinar ({speed['classes']} classes x "
            f"{speed['minutes']} min, n_boot=199, {speed['source']}): "
            f"{speed['seconds']:.2f} s = {speed['ratio']:.0f} x one Poisson GLM fit "
            f"({speed['baseline_glm_seconds'] * 1e3:.1f} ms); target <= 10 s: "
            f"{'pass' if speed['seconds'] <= 10 else 'FAIL'}",
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
