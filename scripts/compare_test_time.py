"""Time ``make test`` at an older commit and at this checkout, back to back, under the same load.

``python scripts/compare_test_time.py [--old 17807e3] [--rounds 2] [--worktree DIR]``

The older commit is checked out in its own git worktree (default ``../<repo>-old-<commit>``,
created when missing) and gets its own ``.venv`` from its own ``make setup``, which runs once
(as does this checkout's) before the first timed round so that no round pays for an
installation. Each round then runs ``make test`` in the older worktree and in this one,
alternating which goes first, so a change of load during the measurement weighs on both. Printed
per run: wall seconds, CPU seconds of every process the suite ran and waited for (user + system;
the work done, which load does not inflate much, so a faster wall time from two workers shows
apart from less work), the pytest summary (passed, deselected, ...) and the load average before
and after; at the end the median ratio of this checkout's wall time to the older commit's. A
failing suite is reported, not hidden: its time still prints, marked FAILED.

Absolute seconds depend on the machine and its load; the ratio measured in one invocation is
the figure to compare (docs/testing.md). Each run also prints the cores it kept busy on average
(CPU / wall). On Linux with ``kernel.sched_autogroup_enabled = 1`` (printed at the start) a busy
machine gives each session an equal share of the CPU however many processes it runs, so under
load two test workers get no more CPU than one process and the wall ratio falls back to the CPU
ratio: the gain of the two workers shows only on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^=+ (.*\d+ (?:passed|failed).*) in [\d.]+s", re.M)


def load() -> str:
    """Return the 1-, 5- and 15-minute load averages as one string."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def autogroup() -> str:
    """Return ``kernel.sched_autogroup_enabled`` ("1": fair shares per session), or "n/a"."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        return "n/a"


def ensure_worktree(commit: str, where: Path) -> Path:
    """Return a worktree of ``commit`` at ``where`` with its ``make setup`` done."""
    if not where.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
            check=True,
        )
    head = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    wanted = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", commit], capture_output=True, text=True, check=True
    ).stdout.strip()
    if head != wanted:
        sys.exit(f"error: {where} is at {head[:12]}, not {commit}; remove it or pass --worktree")
    subprocess.run(["make", "setup"], cwd=where, check=True, stdout=subprocess.DEVNULL)
    return where


def run_suite(directory: Path, label: str) -> dict:
    """Run ``make test`` in ``directory``; return its wall time, summary and load averages."""
    before = load()
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        ["make", "test"],
        cwd=directory,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    found = SUMMARY.findall(done.stdout)
    status = subprocess.run(
        ["git", "-C", str(directory), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    result = {
        "label": label,
        "wall": wall,
        "cpu": cpu_s,
        "summary": found[-1] if found else "no pytest summary",
        "ok": done.returncode == 0,
        "load_before": before,
        "load_after": load(),
        "clean": not status.strip(),
    }
    result["cores"] = cpu_s / wall if wall else 0.0
    flag = "" if result["ok"] else "  FAILED"
    dirty = "" if result["clean"] else "  git status NOT clean"
    print(
        f"{label:>8}: {wall:7.1f} s wall {cpu_s:7.1f} s cpu ({result['cores']:.2f} cores)  "
        f"[{result['summary']}]  "
        f"load {before} -> {result['load_after']}{flag}{dirty}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print every run and the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="17807e3", help="the older commit (default 17807e3)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--worktree", type=Path, help="worktree of the older commit")
    args = parser.parse_args(argv)
    where = args.worktree or ROOT.parent / f"{ROOT.name}-old-{args.old}"
    old = ensure_worktree(args.old, where.resolve())
    # This checkout's own installation, too, before any timed round: on a fresh clone the first
    # `make test` would otherwise pay for creating the virtual environment.
    subprocess.run(["make", "setup"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"make test: {args.old} ({old}) vs HEAD {head} ({ROOT}); {os.cpu_count()} cores; "
        f"autogroup {autogroup()}; load {load()}"
    )
    ratios, cpu_ratios = [], []
    for number in range(args.rounds):
        pair = [(old, args.old), (ROOT, "HEAD")]
        if number % 2:
            pair.reverse()
        runs = {label: run_suite(directory, label) for directory, label in pair}
        ratios.append(runs["HEAD"]["wall"] / runs[args.old]["wall"])
        cpu_ratios.append(runs["HEAD"]["cpu"] / runs[args.old]["cpu"])
        print(
            f"round {number + 1}: HEAD / {args.old} "
            f"wall {ratios[-1]:.2f}, cpu {cpu_ratios[-1]:.2f}",
            flush=True,
        )
    print(
        f"median HEAD / {args.old} over {len(ratios)} round(s): wall "
        f"{statistics.median(ratios):.2f}, cpu {statistics.median(cpu_ratios):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
