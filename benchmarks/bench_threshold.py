"""Threshold K and lag on capacity incidents: coverage, accuracy, lag, on every load shape.

Run: ``.venv/bin/python benchmarks/bench_threshold.py`` (full counts, as ``make bench`` does:
200 capacity incidents per load shape and generator, threshold only, plus 30 per cell through
the whole class analysis for the intervals the report actually shows) or ``--quick``.
Incidents come from :mod:`analysis.simulate.threshold_study` (both generators, K spread over
180-260 viewers and over the load's own range, lags 0-3). Prints, per generator x shape:

- the share of K intervals that meet the true K (target >= 0.85 on every shape);
- among classes flagged well identified, the share with K within 10 % (target >= 0.90);
- the share of lag estimates within one minute (target >= 0.85); then how often the lag's
  range holds the true lag, and the lag's accuracy where that range is narrow;
- then the CPU seconds of one threshold estimate with its bootstrapped region against the
  same estimate with the asymptotic cut, measured in this run (the cost of the calibration).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from analysis import stats
from analysis.simulate import threshold_study as study
from analysis.simulate.verdict_study import map_jobs

TARGETS = {"coverage": 0.85, "within_10": 0.90, "lag_within_1": 0.85}


def format_summary(rows: list[dict], by=("generator", "shape")) -> tuple[str, int, int]:
    """Markdown table of the summary rows; returns (table, targets met, targets checked)."""
    head = "| " + " | ".join(by) + " | N | coverage | K ±10% (well id.) | lag ±1 | width |\n"
    head += "|---" * (len(by) + 5) + "|\n"
    body, met, checked = "", 0, 0
    for s in study.summarize(rows, by):
        cells = []
        for key, n in (("coverage", s["fitted"]), ("within_10", s["well_identified"]),
                       ("lag_within_1", s["fitted"])):  # fmt: skip
            if n == 0:
                cells.append("-")
                continue
            ok = s[key] >= TARGETS[key]
            met, checked = met + ok, checked + 1
            mark = "" if ok else " **NO**"
            cells.append(f"{s[key]:.3f} ± {s[key + '_se']:.3f} (N={n}){mark}")
        body += (
            "| "
            + " | ".join(str(s[b]) for b in by)
            + f" | {s['n']} | "
            + " | ".join(cells)
            + f" | {s['median_width']:.2f} |\n"
        )
    return head + body, met, checked


def format_lag_table(rows: list[dict], by=("generator", "shape")) -> str:
    """Markdown table of what the lag range claims: its coverage, and the lag among narrow ones.

    The lag's range (its profile over K and the shape) is what the report shows beside the
    lag; "narrow" is a range of at most ``MAX_LAG_SPREAD`` + 1 lags, as the flag requires.
    """
    groups: dict = {}
    for r in rows:
        if "k" in r:
            groups.setdefault(tuple(r[b] for b in by), []).append(r)
    out = "| " + " | ".join(by) + " | N | lag range covers | narrow | lag ±1 among narrow |\n"
    out += "|---" * (len(by) + 4) + "|\n"
    for key, sel in sorted(groups.items()):
        cover = sum(r["lag_low_hat"] <= r["lag"] <= r["lag_high_hat"] for r in sel)
        narrow = [r for r in sel if r["lag_high_hat"] - r["lag_low_hat"] <= stats.MAX_LAG_SPREAD]
        hits = sum(study.lag_within_1(r) for r in narrow)
        share = f"{hits / len(narrow):.3f} ({hits}/{len(narrow)})" if narrow else "-"
        out += (
            "| " + " | ".join(str(k) for k in key)
            + f" | {len(sel)} | {cover / len(sel):.3f} | {len(narrow)} | {share} |\n"
        )  # fmt: skip
    return out


def time_region(n_rep: int = 5) -> tuple[float, float]:
    """CPU seconds of one threshold estimate, bootstrapped region vs asymptotic cut."""
    rows = []
    for i in range(n_rep):
        rng = study.incident_rng("minutes", "steep_ramp", 10_000 + i)
        frame, _, _ = study.draw_minutes_incident("steep_ramp", rng, i)
        rows.append(frame)
    out = []
    for boot in (True, False):
        t0 = time.process_time()
        for i, frame in enumerate(rows):
            y, r, c, _ = stats.extract_series(frame)
            stats.estimate_threshold(y, r, c, rng=np.random.default_rng(i) if boot else None)
        out.append((time.process_time() - t0) / len(rows))
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    """Run the study and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts")
    parser.add_argument("--incidents", type=int, default=None, help="incidents per cell")
    parser.add_argument("--verdict-incidents", type=int, default=None,
                        help="incidents per cell through the whole class analysis")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument("--shape", action="append", choices=study.SHAPES, default=None)
    parser.add_argument("--generator", action="append", choices=study.GENERATORS, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    counts = dict(study.QUICK if args.quick else study.FULL)
    if args.incidents:
        counts["incidents"] = args.incidents
    n_verdict = args.verdict_incidents
    if n_verdict is None:
        n_verdict = 4 if args.quick else 30
    shapes = tuple(args.shape or study.SHAPES)
    generators = tuple(args.generator or study.GENERATORS)
    workers = max(1, min(2, args.workers))
    t0 = time.perf_counter()
    jobs = study.study_jobs(generators, shapes, counts["incidents"], counts["n_boot"], False)
    rows = map_jobs(study.run_incident, jobs, workers)
    vjobs = study.study_jobs(generators, shapes, n_verdict, counts["n_boot"], True)
    vrows = map_jobs(study.run_incident, vjobs, workers)
    print(f"# Threshold K and lag on capacity incidents ({counts}, {len(rows)} incidents)\n")
    table, met, checked = format_summary(rows)
    print(table)
    print("The lag's range:\n")
    print(format_lag_table(rows))
    print("By generator and error variant:\n")
    print(format_summary(rows, ("generator", "variant"))[0])
    called = [r for r in vrows if r["label"] == stats.CAPACITY]
    print(
        f"Through the whole class analysis ({len(vrows)} incidents, {n_verdict} per cell): "
        f"{len(called)} called capacity-driven, whose K the report shows:\n"
    )
    print(format_summary(called, ("generator",))[0])
    boot, asym = time_region()
    print(
        f"CPU s per threshold estimate: bootstrapped region {boot:.3f}, asymptotic cut "
        f"{asym:.3f}, ratio {boot / max(asym, 1e-9):.2f}"
    )
    print(f"\n{met} of {checked} shape targets met; {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "verdict_rows": vrows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
