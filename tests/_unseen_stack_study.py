"""Redraw the sixth writer's mechanisms (tests/_unseen_stack.py) and print truth against verdict.

A study, not a test: ``python tests/_unseen_stack_study.py --per-family N [--families a,b]``
draws N one-hour incidents per family (seed, crowd size and spread, K as a share of the peak,
lag, the bug's share of clients), analyses each as ``make report`` does (English, default seed)
and prints the confusion of truth against verdict per class, K's interval against the truth,
and the lag. Families:

- ``pooler``: Supavisor's client limit met through an Edge Function (500), plus a flat bug;
- ``latency``: an RPC slowing with the audience until statement_timeout (57014), plus a flat bug;
- ``rt_users``: Realtime's user limit with refused clients retrying, plus a flat bug;
- ``latency_coarse``: ``latency`` read from a monitor sampling every five minutes (no
  presence table), not in the default list;
- ``nulls``: upload prompts over Storage's rate (503), a bot on Auth (429, 400), an outside
  webhook failing in two stretches (500) and a worker's lock timeouts (55P03): nothing driven
  by the audience.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections import Counter
from pathlib import Path

import _unseen_stack as stack
import numpy as np
from _mech_runs import analyse_written, index_fits, index_verdicts

from analysis.overview import group_causes

FAMILIES = ("pooler", "latency", "rt_users", "nulls", "latency_coarse")
FLAT = {
    "endpoint": "/rest/v1/questions",
    "build": "supabase-js-web/2.39.0",
    "sqlstate": "42703",
    "message": "column questions.is_pinned does not exist",
}


def _peak(case: stack.Case) -> int:
    rng = np.random.default_rng(case.seed)
    join, leave = stack.draw_viewers(case, rng)
    return int(stack.audience(join, leave, case.minutes * 60).max())


def draw_case(family: str, seed: int) -> stack.Case:
    """Return one incident of ``family`` drawn with ``seed``."""
    # latency_coarse draws the same incidents as latency: a paired comparison of monitors.
    index = FAMILIES.index(family.removesuffix("_coarse"))
    rng = np.random.default_rng([seed, index])
    base = stack.Case(
        name=f"study_{family}_{seed}",
        start="2026-08-11T10:00:00Z",
        minutes=60,
        display_tz="Europe/Warsaw",
        seed=1000 * index + seed,
        waves=(
            stack.Wave(
                float(rng.uniform(1, 8)),
                int(rng.integers(180, 420)),
                float(rng.uniform(3, 12)),
                float(rng.uniform(30, 50)),
            ),
        ),
        trickle=(float(rng.uniform(0.2, 1.0)), 10),
        monitor="fine",
        polls={"/rest/v1/questions": ("GET", 0.5)},
        mechanisms={},
        title=f"Study {family} {seed}",
    )
    peak = _peak(base)
    frac, lag = float(rng.uniform(0.5, 0.8)), int(rng.integers(0, 4))
    flat = {**FLAT, "share": float(rng.uniform(0.05, 0.4))}
    if family == "pooler":
        fn = "/functions/v1/room-state"
        polls = {**base.polls, fn: ("POST", 1.0)}
        mech = {"pooler": {"endpoint": fn, "k": int(frac * peak), "lag": lag}, "client_bug": flat}
    elif family in ("latency", "latency_coarse"):
        rpc, sigma, timeout = "/rest/v1/rpc/get_leaderboard", 0.5, 8000.0
        scale = peak / 3
        # The 5 % point of timeouts at frac x peak.
        median0 = timeout * np.exp(-1.6449 * sigma) / np.exp(frac * peak / scale)
        polls = {**base.polls, rpc: ("POST", 1.0)}
        mech = {
            "slow_query": {
                "endpoint": rpc,
                "median0_ms": float(median0),
                "scale": float(scale),
                "sigma": sigma,
                "timeout_ms": timeout,
            },
            "client_bug": flat,
        }
    elif family == "rt_users":
        polls = base.polls
        mech = {"rt_users": {"k": int(frac * peak), "retry_s": 12.0}, "client_bug": flat}
    else:
        slides = "/storage/v1/object/public/slides/deck.pdf"
        polls = {**base.polls, slides: ("GET", 0.3)}
        at = tuple(sorted(int(m) for m in rng.choice(np.arange(8, 52), 2, replace=False)))
        stretch = tuple((int(m), int(rng.integers(3, 8))) for m in sorted(rng.choice(50, 2)))
        mech = {
            "uploads": {"at": at, "share": 0.45, "per_second": 3, "mean_s": 25.0},
            "bot": {"bursts": int(rng.integers(3, 8)), "per_burst": 25, "allowed": 10},
            "webhook": {"per_minute": 3.0, "stretches": stretch, "fail": 0.6},
            "background": {"mean": float(rng.uniform(0.3, 1.5)), "shape": 0.6},
        }
    if family == "latency_coarse":
        base = dataclasses.replace(base, monitor="snapshots")
    return dataclasses.replace(base, polls=polls, mechanisms=mech)


def judge(truth_class: dict, verdict: str | None, fit: dict | None) -> dict:
    """Return the row of one class: truth, verdict, K covered, lag within a minute."""
    row = {"verdict": str(verdict), "right": verdict in truth_class["expect"]}
    if verdict == "capacity" and fit and "expect" in truth_class:
        low, high = truth_class.get("k_band") or (truth_class.get("k"),) * 2
        if low is not None:
            row["covers"] = fit["k_low"] * 0.95 <= high and fit["k_high"] * 1.05 >= low
            row["strict"] = fit["k_low"] <= high and fit["k_high"] >= low
            row["lag_ok"] = abs(fit["lag_minutes"] - truth_class["lag"]) <= 1
            interval = f"{fit['k']:.0f} [{fit['k_low']:.0f}, {fit['k_high']:.0f}]"
            row["k"] = f"{interval} vs [{low}, {high}]"
    return row


def main(argv: list[str]) -> int:
    """Draw, analyse and tabulate; print one line per class and the confusion per family."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-family", type=int, default=4)
    parser.add_argument("--families", default=",".join(FAMILIES[:4]))
    args = parser.parse_args(argv)
    confusion: dict = {}
    cover: Counter = Counter()
    pages: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for family in args.families.split(","):
            for seed in range(1, args.per_family + 1):
                case = draw_case(family, seed)
                stack.CASES[case.name] = case
                stack.PROJECT[case.name] = f"stdy{seed:02d}{family[:4]:x<4}".ljust(20, "q")
                stack.truth.cache_clear()
                directory = stack.write_incident(root, case.name)
                truth = stack.truth(case.name)
                _, findings = analyse_written(
                    root / f"{case.name}-run",
                    directory,
                    truth["webinar_id"],
                    case.display_tz,
                    root / "cache",
                )
                verdicts, fits = index_verdicts(findings), index_fits(findings)
                made = {c["key"] for c in findings["error_classes"]}
                # Where page one puts the class (a measurement caveat makes it undecided).
                page = {c["key"]: g["kind"] for g in group_causes(findings) for c in g["classes"]}
                for key, t in truth["classes"].items():
                    got = verdicts.get(key, {}).get("verdict") if key in made else "no class"
                    row = judge(t, got, fits.get(key))
                    row["page"] = page.get(key)
                    label = f"{family}:{key}"
                    confusion.setdefault(label, Counter())[row["verdict"]] += 1
                    pages.setdefault(label, Counter())[str(row["page"])] += 1
                    for flag in ("covers", "strict", "lag_ok"):
                        if flag in row:
                            cover[(label, flag)] += int(row[flag])
                            cover[(label, "n")] += flag == "covers"
                    print(case.name, key, row, flush=True)
    print("\nfamily:class | verdicts | K covered (5 % slack) / strict / lag within 1 min")
    for label, counts in confusion.items():
        n = cover[(label, "n")]
        extra = (
            f" | {cover[(label, 'covers')]}/{n}, {cover[(label, 'strict')]}/{n}, "
            f"{cover[(label, 'lag_ok')]}/{n}"
            if n
            else ""
        )
        print(f"{label} | {dict(counts)}{extra} | page one: {dict(pages[label])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
