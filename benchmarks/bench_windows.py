"""Report cost against window length: 1, 6, 24 and 48 hours of the same traffic rate.

Run: ``.venv/bin/python benchmarks/bench_windows.py`` (``--hours 1 6`` for a short run,
``--formats html`` to leave the PDF out). Each window is an incident directory written here:
the shipped hour repeated back to back (every log row, viewer sample and viewer session shifted
by whole hours, new ids), as ``make fetch MODE=hybrid`` delivers a long window: the error rows
raw and the traffic as the log store's per-minute aggregates (a raw 48-hour window would be
two million edge rows; the README says to choose hybrid above ~100k). The report is ``python
-m analysis report`` (what ``make report`` runs) on each, cold: a fresh cache, the statistics
recomputed, on the machine's cores.

Printed per window: the report's wall seconds, seconds per hour of window and the ratio of that
to the 1-hour window's (1.0 = linear; the target is at most linear growth and a 48-hour window
within 10 minutes), the same for the CPU seconds of the report's processes (what the run
costs whatever else the machine is doing), the peak resident memory of the largest process
(report or its kernel), the peak of what the report's processes hold together (their
proportional set sizes summed, sampled every 0.1 s), and the load average at the start and
the end. Then the 1-hour
window's verdicts, K and lag from its findings.json beside those of the shipped incident's
own statistics computed with the long-window shift nulls forced on (``MAX_SHIFTS`` below the
hour's 59 shifts, see docs/statistics.md), which must be the same: the long-window machinery
changes no conclusion.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config, params, pipeline
from analysis.simulate import records

ROOT = Path(__file__).resolve().parents[1]
TARGET_48H_SECONDS = 600.0
HOUR_US = 3_600_000_000
LOG_SOURCES = ("edge_logs", "postgres_logs", "realtime_logs")
# Columns of the table CSVs holding timestamps, shifted with the copy.
TABLE_TIMES = {
    "webinar_viewer_counts.csv": ("sampled_at",),
    "webinar_live_presence.csv": ("joined_at", "left_at"),
}
TILE_NAMESPACE = uuid.UUID("6f1c2f55-3b0e-4c55-9d1a-7c0e2b8e4a10")


def _read_rows(directory: Path) -> list[dict]:
    rows: list[dict] = []
    for page in sorted(directory.glob("page-*.json.gz")):
        rows += json.loads(gzip.decompress(page.read_bytes()))["result"]
    return rows


def _tiled_id(value: str, copy: int) -> str:
    return value if copy == 0 else str(uuid.uuid5(TILE_NAMESPACE, f"{value}/{copy}"))


def _status(row: dict) -> int:
    return int(row["metadata"][0]["response"][0]["status_code"])


def _to_us(cells: pd.Series) -> np.ndarray:
    moments = pd.to_datetime(cells, utc=True, format="ISO8601")
    return ((moments - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy()


def _us(moment: pd.Timestamp) -> int:
    return int((moment - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _edge_minutes(incident, hours: int) -> list[dict]:
    """Return the log store's per-minute aggregate of the shipped requests, ``hours`` times."""
    req = incident.requests
    head = req["path"].astype(str).str.extract(r"^((?:/[^/]*){1,4})", expand=False)
    frame = pd.DataFrame(
        {
            "minute": (req["ts"].dt.floor("min") - pd.Timestamp(0, tz="UTC"))
            // pd.Timedelta(microseconds=1),
            "path": head,
            "status_class": req["status"].astype(int) // 100,
            "ms": pd.to_numeric(req["origin_time_ms"], errors="coerce"),
        }
    )
    grouped = frame.groupby(["minute", "path", "status_class"], sort=True)["ms"]
    agg = pd.DataFrame(
        {
            "requests": grouped.size(),
            "max_origin_time_ms": grouped.max(),
            "p95_origin_time_ms": grouped.quantile(0.95),
        }
    ).reset_index()
    rows = []
    for copy in range(hours):
        for rec in agg.itertuples(index=False):
            rows.append(
                {
                    "minute": int(rec.minute) + copy * HOUR_US,
                    "path": rec.path,
                    "status_class": int(rec.status_class),
                    "requests": int(rec.requests),
                    "max_origin_time_ms": None
                    if pd.isna(rec.max_origin_time_ms)
                    else float(rec.max_origin_time_ms),
                    "p95_origin_time_ms": None
                    if pd.isna(rec.p95_origin_time_ms)
                    else float(rec.p95_origin_time_ms),
                }
            )
    return rows


def _tile_table(text: str, name: str, hours: int, start_us: int) -> str:
    """Repeat the viewer samples and sessions once per hour; other tables stay as they are."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if name not in TABLE_TIMES:
        return text
    copies = []
    for copy in range(hours):
        part = frame.copy()
        lo, hi = start_us + copy * HOUR_US, start_us + (copy + 1) * HOUR_US
        shifted = {}
        for col in TABLE_TIMES[name]:
            filled = part[col] != ""
            us = np.zeros(len(part), dtype=np.int64)
            us[filled.to_numpy()] = _to_us(part.loc[filled, col]) + copy * HOUR_US
            shifted[col] = (us, filled.to_numpy())
        if name == "webinar_live_presence.csv":
            # Each copy's sessions are cut to its own hour, so at every sample of hour k only
            # copy k's sessions are open: viewer counts and sessions stay consistent.
            joined, _ = shifted["joined_at"]
            left, has_left = shifted["left_at"]
            joined = np.maximum(joined, lo) if copy > 0 else joined
            if copy < hours - 1:
                left = np.where(has_left, np.minimum(left, hi), hi)
                has_left = np.ones(len(part), dtype=bool)
            keep = ~has_left | (left > joined)
            part["id"] = [_tiled_id(v, copy) for v in part["id"]]
            part["session_id"] = [_tiled_id(v, copy) for v in part["session_id"]]
            part["joined_at"] = [records.format_csv_ts(int(v)) for v in joined]
            cells = zip(left, has_left, strict=True)
            part["left_at"] = [records.format_csv_ts(int(v)) if h else "" for v, h in cells]
            part = part[keep]
        else:
            us, _ = shifted["sampled_at"]
            part["sampled_at"] = [records.format_csv_ts(int(v)) for v in us]
        copies.append(part)
    out = pd.concat(copies, ignore_index=True)
    if name == "webinar_viewer_counts.csv":
        out["id"] = [str(i) for i in range(1, len(out) + 1)]
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue()


def tile_incident(source: Path, hours: int, out: Path) -> Path:
    """Write the incident of ``source`` repeated ``hours`` times as a hybrid-mode directory."""
    manifest = json.loads((source / "incident.json").read_text(encoding="utf-8"))
    start = pd.Timestamp(manifest["window_start"])
    start_us = _us(start)
    end = start + pd.Timedelta(hours=hours)
    manifest["window_end"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest["fetch_mode"] = "hybrid"
    manifest.setdefault("files", {})["traffic/edge_minutes/*"] = {"kind": "edge_minutes"}
    _write(out / "incident.json", (json.dumps(manifest, indent=2) + "\n").encode())
    for src in LOG_SOURCES:
        rows = _read_rows(source / src)
        if src == "edge_logs":
            rows = [row for row in rows if _status(row) >= 400]  # hybrid: the errors raw
        tiled = [
            {
                **row,
                "id": _tiled_id(row["id"], copy),
                "timestamp": row["timestamp"] + copy * HOUR_US,
            }
            for copy in range(hours)
            for row in rows
        ]
        tiled.sort(key=lambda row: (row["timestamp"], row["id"]))
        records.write_pages(tiled, out / src)
    incident = pipeline.load_directory(source)
    minutes = _edge_minutes(incident, hours)
    pages = out / "traffic" / "edge_minutes"
    for number, first in enumerate(range(0, len(minutes), records.PAGE_ROWS), start=1):
        body = {"result": minutes[first : first + records.PAGE_ROWS], "error": None}
        _write(pages / f"page-{number:04d}.json.gz", gzip.compress(json.dumps(body).encode()))
    for table in sorted((source / "tables").glob("*.csv")):
        text = table.read_text(encoding="utf-8")
        if table.name == "webinars.csv":
            text = _extend_webinar(text, end)
        _write(out / "tables" / table.name, _tile_table(text, table.name, hours, start_us).encode())
    _write(out / "annotations.csv", (source / "annotations.csv").read_bytes())
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}\n" for p in files
    )
    (out / "SHA256SUMS").write_text(sums)
    return out


def _extend_webinar(text: str, end: pd.Timestamp) -> str:
    """Return webinars.csv with the main webinar lasting the whole window."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    main = frame["id"] == config.DEFAULT_WEBINAR_ID
    frame.loc[main, "ends_at"] = records.format_csv_ts(_us(end))
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\r\n")
    return buf.getvalue()


def _children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size (MB) of ``pid`` and its live descendants, shared pages by share.

    Summed from ``/proc/<pid>/smaps_rollup``: what the report's processes hold together (a
    forked worker's pages it still shares with its parent count once, split between them).
    """
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # ended between the reads
    return total / 1024


def run_report(
    directory: Path, out: Path, cache: Path, formats: str
) -> tuple[float, float, float, float]:
    """Run ``python -m analysis report`` cold; return wall s, CPU s, peak RSS and peak PSS (MB).

    CPU and the peak RSS are those of the finished descendants (the report, its notebook
    kernel, the prefetch and the statistics' workers): the CPU seconds are what the run cost
    whatever the load, the RSS the largest single process. The PSS is sampled every 0.1 s
    over the whole process tree: the memory the run holds at once.
    """
    env = {
        **os.environ,
        "POSTMORTEM_CACHE_DIR": str(cache),
        "POSTMORTEM_NO_STATS_CACHE": "1",
    }
    command = [sys.executable, "-m", "analysis", "report", "--data", str(directory)]
    command += ["--out", str(out), "--formats", formats, "--no-progress"]
    cpu, began = _children_cpu(), time.perf_counter()
    together = 0.0
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True
        )
        while proc.poll() is None:
            together = max(together, _tree_pss_mb(proc.pid))
            time.sleep(0.1)
        wall, cpu = time.perf_counter() - began, _children_cpu() - cpu
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(
                f"report on {directory} failed ({proc.returncode}): {err.read()[-2000:]}"
            )
    # ru_maxrss of the children: the largest finished descendant (the report or its kernel).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, cpu, peak, together


def report_verdicts(findings: Path) -> dict[str, tuple]:
    """Return class -> (verdict, K, lag; K and lag of capacity calls) as findings.json states."""
    doc = json.loads(findings.read_text(encoding="utf-8"))
    out = {v["error_class"]: [v["verdict"], None, None] for v in doc["verdicts"]}
    for cap in doc["capacity"]:
        if cap["error_class"] in out and cap["verdict"] == "capacity":
            out[cap["error_class"]][1:] = [cap["k"], cap["lag_minutes"]]
    return {key: tuple(value) for key, value in sorted(out.items())}


def forced_long_window_verdicts(cache: Path) -> dict[str, tuple]:
    """Return the shipped webinar's verdicts, K and lag with long-window shift nulls forced.

    The shipped incident is parsed into ``cache`` (a temporary directory): nothing is written
    into the checkout, where a ``make test`` running beside the benchmark would see it.
    """
    from analysis import stats

    settings = dataclasses.replace(pipeline.read_settings(), cache_dir=cache)
    p = params.build_params(config.DEFAULT_WEBINAR_ID, config.DEFAULT_INCIDENT_DIR)
    tl = pipeline.build_timeline(pipeline.load(p, settings), p)
    # Fewer shifts than an hour has: the drawn-shift null of long windows, on the 1-hour data
    # (the fork pool's workers inherit the setting).
    saved, stats.association.MAX_SHIFTS = stats.association.MAX_SHIFTS, 19
    try:
        result = stats.analyse_webinar(dict(tl.frames), seed=p.seed, workers=settings.workers)
    finally:
        stats.association.MAX_SHIFTS = saved
    out = {}
    for key, cls in sorted(result.classes.items()):
        fit = cls.threshold if cls.verdict.label == stats.CAPACITY else None
        out[key] = (cls.verdict.label, None if fit is None else fit.k, fit and fit.lag_minutes)
    return out


def main(argv: list[str] | None = None) -> int:
    """Write each window, time its report and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, nargs="+", default=[1, 6, 24, 48])
    parser.add_argument("--formats", default="html,pdf", help="exports of each report")
    parser.add_argument("--keep", type=Path, default=None, help="keep the directories here")
    args = parser.parse_args(argv)
    hours = sorted(set(args.hours) | {1})
    print(f"workers {len(os.sched_getaffinity(0))}; formats {args.formats}")
    print(
        "hours  minutes  report wall s  per hour  ratio to 1 h  report CPU s  per hour  "
        "ratio to 1 h  peak MB  together MB  load"
    )
    first = first_cpu = one_hour = None
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for h in hours:
            directory = tile_incident(config.DEFAULT_INCIDENT_DIR, h, root / f"tiled-{h}h")
            out = root / f"report-{h}h"
            load = os.getloadavg()[0]
            wall, cpu, peak, together = run_report(
                directory, out, root / f"cache-{h}h", args.formats
            )
            if h == 1:
                first, first_cpu = wall, cpu
                one_hour = report_verdicts(out / "findings.json")
            print(
                f"{h:5d}  {60 * h:7d}  {wall:13.1f}  {wall / h:8.1f}  {wall / h / first:12.2f}  "
                f"{cpu:12.1f}  {cpu / h:8.1f}  {cpu / h / first_cpu:12.2f}  {peak:7.0f}  "
                f"{together:11.0f}  "
                f"{load:.1f}->{os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if h == 48:
                ok = "met" if wall <= TARGET_48H_SECONDS else "MISSED"
                print(f"48-hour window: {wall:.0f} s (target <= {TARGET_48H_SECONDS:.0f} s): {ok}")
        forced = forced_long_window_verdicts(root / "cache-forced")
    print("1-hour verdicts (class: verdict, K, lag), report vs long-window shift nulls forced:")
    for key in sorted(set(one_hour) | set(forced)):
        print(f"  {key}: {one_hour.get(key)}  |  {forced.get(key)}")
    same = one_hour == forced
    print(f"1-hour verdicts unchanged by the long-window machinery: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
