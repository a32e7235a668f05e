"""Verdicts on many incidents of tests/_unseen_agents.py: each case redrawn with other seeds.

Not a test and not a benchmark: a study a reviewer can rerun. Each family is one of the
writer's cases; a draw keeps its mechanisms and changes the seed (who comes when, from where,
and every random choice of every agent), the peak (0.8-1.2 times the case's) and, where the
case has a messages-per-second limit, that limit (0.6-1.3 times), so the fan-out's K band
moves against the audience.

``python tests/_unseen_agents_study.py --per-family 4 [--families fanout_bell,cron_locks]``
prints one line per class and the table of truth against verdict, and K's band coverage.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import _unseen_agents as agents
from _mech_runs import analyse_written


def draw_case(family: str, seed: int, bug_by_client: bool = True) -> agents.Case:
    """The case ``family`` with its seed, peak and message limit drawn from ``seed``."""
    rng = random.Random(f"{family}:{seed}")
    base = agents.CASES[family]
    limit = base.msg_limit and int(base.msg_limit * rng.uniform(0.6, 1.3))
    return dataclasses.replace(
        base,
        name=f"{family}_{seed}",
        seed=seed * 7919 + base.seed,
        peak=int(base.peak * rng.uniform(0.8, 1.2)),
        msg_limit=limit,
        bug_by_client=bug_by_client,
    )


class _Factory:
    """Just enough of pytest's ``tmp_path_factory`` for :func:`analyse_written`'s callers."""

    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def mktemp(self, name: str) -> Path:
        self.n += 1
        path = self.root / f"{name}-{self.n}"
        path.mkdir(parents=True)
        return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=3)
    parser.add_argument("--families", default=",".join(agents.CASES))
    parser.add_argument(
        "--bug-by-request",
        action="store_true",
        help="the flat bug fails a fifth of everyone's reactions, not a fifth of the clients",
    )
    args = parser.parse_args(argv)
    table: Counter = Counter()
    k_hits = k_all = lag_hits = 0
    root = Path(tempfile.mkdtemp(prefix="agents-study-"))
    try:
        for family in args.families.split(","):
            for seed in range(1, args.per_family + 1):
                case = draw_case(family, seed, bug_by_client=not args.bug_by_request)
                directory = agents.write_incident(root, case.name, case)
                truth = agents.truth(case.name)
                work = _Factory(root / "work").mktemp(case.name)
                _, findings = analyse_written(
                    work, directory, truth["webinar_id"], case.display_tz, work / "cache"
                )
                verdicts = {v["error_class"]: v for v in findings["verdicts"]}
                fits = {c["error_class"]: c for c in findings["capacity"]}
                for key, t in sorted(truth["classes"].items()):
                    got = verdicts.get(key, {}).get("verdict", "none")
                    right = got in t["expect"]
                    table[(t["mechanism"].split(":")[0], got)] += 1
                    extra = ""
                    if t.get("k_band") and key in fits:
                        fit, (lo, hi) = fits[key], t["k_band"]
                        hit = fit["k_low"] <= hi and fit["k_high"] >= lo
                        lag_ok = abs(fit["lag_minutes"] - t["lag"]) <= 1
                        k_all += 1
                        k_hits += hit
                        lag_hits += lag_ok
                        extra = (
                            f" K {fit['k']} [{fit['k_low']}, {fit['k_high']}] band [{lo}, {hi}]"
                            f" {'covers' if hit else 'MISSES'}; lag {fit['lag_minutes']}"
                        )
                    print(
                        f"{case.name:22} {key:22} {t['mechanism'][:44]:44} -> {got:13}"
                        f" {'ok' if right else 'WRONG'} ({verdicts.get(key, {}).get('decided_by')})"
                        f"{extra}",
                        flush=True,
                    )
                shutil.rmtree(directory)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\ntruth x verdict")
    for (mechanism, got), n in sorted(table.items()):
        print(f"  {mechanism:40} {got:14} {n}")
    print(f"K band met {k_hits}/{k_all}; lag within 1 min {lag_hits}/{k_all}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main(sys.argv[1:]))
