"""Analysis cost against window length: 1, 6, 24 and 48 hours of the same traffic rate.

Run: ``.venv/bin/python benchmarks/bench_windows.py`` (``--hours 1 6`` for a short run). The
per-minute frames of each window are the shipped hour's frames repeated back to back (the same
requests, errors and viewers per minute, so the same rate), and the statistics of every class
(``stats.analyse_webinar`` on the available cores, as ``make report`` runs them) are timed on
each. Printed per window: wall and CPU seconds (this process and its workers), seconds per
hour of window, and the ratio of that to the 1-hour window's (1.0 = linear; the target is at
most linear growth and a 48-hour window within 10 minutes). The 1-hour verdicts are printed
beside the verdicts of the statistics run with one worker, which must be the same.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import pandas as pd

from analysis import config, ingest, params, stats
from analysis import timeline as tl

TARGET_48H_SECONDS = 600.0


def shipped_frames() -> dict[str, pd.DataFrame]:
    """Return the shipped hour's per-minute frames of every class (the main webinar)."""
    incident = ingest.load_incident(config.DEFAULT_INCIDENT_DIR, progress=False)
    return dict(tl.build_timeline(incident, config.DEFAULT_WEBINAR_ID).frames)


def repeat_frames(frames: dict[str, pd.DataFrame], hours: int) -> dict[str, pd.DataFrame]:
    """Return each frame repeated ``hours`` times, minutes continuing from the first."""
    out = {}
    for key, frame in frames.items():
        long = pd.concat([frame] * hours, ignore_index=True)
        long["minute"] = pd.date_range(frame["minute"].iloc[0], periods=len(long), freq="1min")
        out[key] = long
    return out


def cpu_seconds() -> float:
    """Return the CPU seconds of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_statistics(frames: dict, workers: int) -> tuple[float, float, stats.WebinarStatistics]:
    """Return wall and CPU seconds of ``analyse_webinar`` on ``frames``, and its result."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = stats.analyse_webinar(frames, seed=params.DEFAULT_SEED, workers=workers)
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def verdicts(result: stats.WebinarStatistics) -> dict[str, tuple]:
    """Return class -> (verdict, K, lag) of a statistics result."""
    out = {}
    for key, cls in result.classes.items():
        fit = cls.threshold
        out[key] = (cls.verdict.label, None if fit is None else fit.k, fit and fit.lag_minutes)
    return out


def main(argv: list[str] | None = None) -> int:
    """Time the statistics for each window and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, nargs="+", default=[1, 6, 24, 48])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args(argv)
    hours = sorted(set(args.hours) | {1})
    base = shipped_frames()
    print(f"classes {len(base)}; workers {args.workers}; load average {os.getloadavg()[0]:.1f}")
    print("hours  minutes   wall s    cpu s   wall s/h  ratio to 1 h (per hour)")
    first = None
    for h in hours:
        wall, cpu, result = time_statistics(repeat_frames(base, h), args.workers)
        if h == 1:
            first, one_hour = wall, result
        ratio = (wall / h) / first
        print(f"{h:5d}  {60 * h:7d}  {wall:7.1f}  {cpu:7.1f}  {wall / h:9.2f}  {ratio:5.2f}")
        if h == 48:
            ok = "OK" if wall <= TARGET_48H_SECONDS else "OVER"
            print(f"48-hour window: {wall:.0f} s (target <= {TARGET_48H_SECONDS:.0f} s) {ok}")
        print(f"       verdicts: {verdicts(result)}", flush=True)
    _, _, serial = time_statistics(base, 1)
    same = verdicts(serial) == verdicts(one_hour) and serial.to_dict() == one_hour.to_dict()
    print(f"1-hour statistics with 1 worker identical to {args.workers} workers: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
