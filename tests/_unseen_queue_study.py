"""Verdicts on many incidents of tests/_unseen_queue.py: a queue for the pool, drawn at random.

Not a test and not a benchmark: a study a reviewer can rerun. Each incident is one hour of
one webinar whose REST requests wait for one of PostgREST's pool connections (the writer's
queue), with the app's flat 42703 bug and a pg_cron job failing every few minutes beside it.
The family fixes the audience's shape; the pool size, the peak and the seed are drawn, so the
threshold (the pool's saturation, ``_unseen_queue.saturation``) falls between about a third
and nine tenths of the peak, or above it in the ``idle`` family (no capacity class at all).

``python tests/_unseen_queue_study.py --per-family 4 [--families ramp,bell]`` prints one line
per class and the table of truth against verdict, K's coverage and the lag.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _unseen_queue as queue

from analysis import pipeline
from analysis.ingest import load_incident
from analysis.params import build_params

FAMILIES = ("ramp", "plateau", "bell", "idle")


def draw_case(family: str, seed: int) -> queue.Case:
    """One incident of ``family``: its shape, peak, pool and seed drawn from ``seed``."""
    rng = random.Random(f"{family}:{seed}")
    peak = rng.randrange(450, 900)
    shape = "plateau" if family == "idle" else family
    base = queue.Case(
        f"{family}_{seed}",
        datetime(2026, 8, 3, 9, 0, tzinfo=UTC) + timedelta(days=seed),
        60,
        rng.choice(("Asia/Kolkata", "America/St_Johns", "Australia/Adelaide", "Europe/Paris")),
        (queue.Webinar(f"{family} {seed}", 0, 60, peak, shape),),
        seed=seed * 101 + len(family),
        pool=8,
        flat_bug=True,
        cron_every=rng.choice((3, 4, 5)),
        poll_scale=1.5,
    )
    # A pool and cores whose saturation falls where the family wants it (idle: 1.3-2x the
    # peak, a core per connection so that the heavy RPC never slows: no capacity class at
    # all). Heavy holds stretch by pool / cores, so the cores bind as much as the pool.
    lo, hi = (1.3, 2.0) if family == "idle" else (0.35, 0.9)
    target = peak * rng.uniform(lo, hi)

    def sized(pool: int, cores: int) -> queue.Case:
        return dataclasses.replace(base, pool=pool, cores=pool if family == "idle" else cores)

    pool, cores = min(
        ((p, c) for c in range(1, 7) for p in range(2 * c, 60)),
        key=lambda pc: (abs(queue.saturation(sized(*pc)) - target), pc),
    )
    base = sized(pool, cores)
    truth = {"42703": queue.TRAFFIC, "42501": queue.FLAT_TIME}
    if family != "idle":
        truth["http:504:rest/*"] = queue.CAP
        truth["57014"] = queue.SOFT
    return dataclasses.replace(base, truth=truth)


def run(case: queue.Case, root: Path) -> list[dict]:
    queue.CASES[case.name] = case
    queue.world.cache_clear()
    directory = queue.write_incident(root, case.name)
    truth = queue.truth(case.name)
    incident = load_incident(directory, cache_dir=root / "cache", progress=False)
    params = build_params(
        truth["webinar_id"], directory, display_tz=case.display_tz, lang="en",
        output_dir=root / "out" / case.name,
    )  # fmt: skip
    settings = pipeline.Settings(cache_dir=root / "stats", workers=1)
    findings = pipeline.analyse(incident, params, settings).findings
    verdicts = {v["error_class"]: v for v in findings["verdicts"]}
    fits = {c["error_class"]: c for c in findings["capacity"]}
    rows = []
    for key, t in truth["classes"].items():
        v = verdicts.get(key, {})
        fit = fits.get(key)
        row = {
            "case": case.name,
            "class": key,
            "truth": "/".join(sorted(map(str, t["expect"]))),
            "verdict": v.get("verdict"),
            "by": v.get("decided_by"),
            "k_true": t.get("k"),
        }
        if fit and v.get("verdict") == "capacity":
            row.update(k=fit["k"], k_low=fit["k_low"], k_high=fit["k_high"],
                       lag=fit["lag_minutes"], weak=fit["weakly_identified"])  # fmt: skip
        if key in fits or t.get("k"):
            row["lag_truth"] = t.get("lag")
        rows.append(row)
    extra = sorted(set(verdicts) - set(truth["classes"]))
    for key in extra:
        v = verdicts[key]
        rows.append(
            {"case": case.name, "class": key, "truth": "?", "verdict": v["verdict"],
             "by": v["decided_by"]}
        )  # fmt: skip
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=3)
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="queue-study-"))
    table: Counter = Counter()
    covered = calls = lag_ok = 0
    try:
        for family in args.families.split(","):
            for seed in range(1, args.per_family + 1):
                for row in run(draw_case(family, seed), root):
                    print(row, flush=True)
                    table[(family, row["class"].split(":")[0], row["truth"], row["verdict"])] += 1
                    if row.get("k_true") and "k" in row:
                        calls += 1
                        covered += row["k_low"] * 0.95 <= row["k_true"] <= row["k_high"] * 1.05
                        lo, hi = row["lag_truth"]
                        lag_ok += lo - 1 <= row["lag"] <= hi + 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\nfamily | class | truth | verdict | n")
    for (family, key, truth, verdict), n in sorted(table.items(), key=str):
        print(f"{family} | {key} | {truth} | {verdict} | {n}")
    print(f"\nK interval (5% slack) holds the pool's saturation in {covered} of {calls} calls;"
          f" lag within a minute of its range in {lag_ok} of {calls}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
