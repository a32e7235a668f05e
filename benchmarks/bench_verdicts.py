"""Verdicts on incidents from the per-session generator: confusion matrix truth x verdict.

Run: ``.venv/bin/python benchmarks/bench_verdicts.py`` (full counts, as ``make bench`` does:
5 audience families x 200 incidents, every error class of each) or ``--quick`` (reduced).
Incidents come from :mod:`analysis.simulate.sessions`, which shares no code with the
generator the methods were first studied on (:mod:`analysis.simulate.minutes`); each class goes
through ``stats.analyse_class`` exactly as the report runs it, on the per-minute frame with its
signal columns. Ground truth is read only here.

Prints, per family: the confusion matrix (rows: truth, columns: verdict, shares of the row),
then every target of issue 12 with its measured value, Monte-Carlo standard error and pass/fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from analysis.simulate import sessions
from analysis.simulate.verdict_study import (
    FULL,
    QUICK,
    format_confusion,
    map_jobs,
    run_incident,
    target_rows,
)


def format_targets(rows: list[dict]) -> str:
    """Markdown table of the target rows."""
    head = "| family | criterion | N | rate | MC se | target | pass |\n"
    head += "|---|---|---|---|---|---|---|\n"
    body = ""
    for r in rows:
        ok = "-" if r["pass"] is None else ("yes" if r["pass"] else "**NO**")
        rate = "-" if r["n"] == 0 else f"{r['rate']:.3f}"
        se = "-" if r["n"] == 0 else f"{r['mc_se']:.3f}"
        body += (
            f"| {r['family']} | {r['criterion']} | {r['n']} | {rate} | {se} | "
            f"{r['target']} | {ok} |\n"
        )
    return head + body


def run(counts: dict, workers: int, families=sessions.SHAPES, cache: Path | None = None):
    """Simulate and analyse every family; return the per-class rows."""
    done = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            item = json.loads(line)
            done[(item[0]["family"], item[0]["index"])] = item
    jobs = [
        (f, i, counts["n_boot"])
        for f in families
        for i in range(counts["incidents"])
        if (f, i) not in done
    ]
    t0 = time.perf_counter()
    for k in range(0, len(jobs), 10):
        batch = map_jobs(run_incident, jobs[k : k + 10], workers)
        for rows in batch:
            if rows:
                done[(rows[0]["family"], rows[0]["index"])] = rows
                if cache is not None:
                    with cache.open("a") as fh:
                        fh.write(json.dumps(rows) + "\n")
        print(
            f"  {k + len(batch)}/{len(jobs)} incidents, {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return [
        r
        for (f, i), rows in sorted(done.items())
        if f in families and i < counts["incidents"]
        for r in rows
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the study and print the confusion matrices and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced counts")
    parser.add_argument("--incidents", type=int, default=None, help="incidents per family")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument("--family", action="append", choices=sessions.SHAPES, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="JSON lines of finished incidents")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    counts = dict(QUICK if args.quick else FULL)
    if args.incidents:
        counts["incidents"] = args.incidents
    families = tuple(args.family or sessions.SHAPES)
    t0 = time.perf_counter()
    rows = run(counts, max(1, min(2, args.workers)), families, args.cache)
    print(f"# Verdicts on per-session incidents ({counts}, {len(rows)} classes)")
    print("\nConfusion matrices (share of each truth row):")
    targets = []
    for family in families:
        sel = [r for r in rows if r["family"] == family]
        print(format_confusion(family, sel))
        targets += target_rows(family, sel)
    print(format_confusion("all families", rows))
    print("\nTargets (issue 12), every family:\n")
    print(format_targets(targets))
    failed = [r for r in targets if r["pass"] is False]
    checked = [r for r in targets if r["pass"] is not None and r["target"] != "(info)"]
    met = len(checked) - len(failed)
    print(f"{met} of {len(checked)} targets met; {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "targets": targets}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
