"""Benchmark of ingest on large edge_logs exports, against baselines measured in the same run.

On the same generated pages (gzip Management API pages, BigQuery flavour, as ``make fetch``
writes them), at 300,000 and 1,000,000 rows, each method in its own fresh interpreter so its
peak memory (``ru_maxrss``) is its own:

- **floor**: decompress every page and parse it with the fastest JSON parser installed
  (``orjson`` and ``msgspec`` are both timed, the faster counts); nothing else. gunzip alone
  and the standard library's ``json`` are shown for scale.
- **naive pandas**: what an analyst would write: ``json.load`` of every page,
  ``pd.json_normalize`` down through BigQuery's one-element lists to the fields the
  ``requests`` table holds (ClickHouse's flat rows: ``pd.DataFrame`` of them), and the same
  typing (UTC timestamps, integer status, float latency, ``string`` text); no validation, no
  privacy, no accounting.
- **least** (ClickHouse flavour only): the least any ingest of these pages must do, written
  as directly as possible: the floor (gunzip + orjson), one Arrow column per field the
  ``requests`` table keeps, Arrow's cast of the zone-less times, of the status and the
  latency, the pseudonyms of the distinct users and the package's redaction of the free
  text ingest redacts (path, search, client, ray id); no validation, no rejection, no
  duplicates, no accounting. Not a baseline of any target: it shows how much of ingest's
  cost the floor leaves no way around. ``least-msgspec`` (not run by default) is the same
  with msgspec decoding typed structs of only those fields instead of orjson's dicts.
- **ingest**: ``load_incident(..., use_cache=False)``: everything the package does, checksums,
  validation, pseudonyms, redaction and the row accounting included; on an export this size
  in one process (its default), as the floor, as issue 15 defines it. ``ingest2`` (not run
  by default) is the same with two forked page workers (``workers=2``); ``ingest-steps``
  (not by default either) is ingest with each stage's CPU seconds added up and printed.

Targets (issue 15), at every size and for both export shapes: ingest / floor <= 1.5; naive
pandas / ingest >= 5; ingest peak memory < 2 GB at 1M rows. The same rows are measured as
BigQuery-flavour pages and as ClickHouse-flavour pages (the flat projection
``make fetch FLAVOUR=clickhouse`` writes, made by ``analysis.simulate.clickhouse``).

Wall seconds are measured; CPU seconds (process and its children) are printed beside them,
since ingest decodes pages on every usable core while the baselines use one. The machine is
shared: the load average is printed with every size.

Exports are made by ``analysis.simulate.generate_edge_log_volume`` under ``.bench/`` (git
ignored) and reused by later runs. Exit status 1 if a target is missed.

``--against REF`` compares two trees instead: ingest of this tree and of the package's source
at git revision ``REF`` (exported under ``.bench/``), alternating old and new in fresh
interpreters ``--repeat`` times on each size, and prints every run's CPU seconds, both medians
and their ratio (new / old) and the ratio of each old/new pair, so a drift of the machine's
load during the run shows as a spread of the pairs rather than as a difference of the trees;
with ``--methods ingest-steps``, each stage's median CPU seconds in both trees too.

Usage: ``python benchmarks/bench_ingest.py [--rows N ...] [--clickhouse-rows N ...]
[--methods M ...] [--repeat K] [--big-rows N] [--against REF]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
START = datetime(2026, 2, 6, 5, tzinfo=UTC)
#: Everything measured, in the order each round runs them.
METHODS = (
    *("gunzip", "orjson", "msgspec", "json", "least", "least-msgspec"),
    *("ingest", "ingest-steps", "ingest2", "pandas"),
)
#: The fields of the ``requests`` table, as dotted paths through the one-element lists.
WANTED = {
    "id": "id",
    "timestamp": "timestamp",
    "method": "request.method",
    "path": "request.path",
    "search": "request.search",
    "client_info": "request.headers.x_client_info",
    "user_agent": "request.headers.user_agent",
    "cf_ray": "request.headers.cf_ray",
    "user": "request.sb.auth_user",
    "status": "response.status_code",
    "origin_time": "response.origin_time",
}


def ensure_export(n_rows: int, hours: float, seed: int) -> Path:
    """Return an incident directory holding ``n_rows`` edge rows; generate it once."""
    from analysis.simulate import generate_edge_log_volume

    directory = BENCH / f"edge-{n_rows}-{hours:g}h-s{seed}"
    done = directory / ".complete"
    if done.exists():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    print(f"  generating {n_rows:,} rows over {hours:g} h in {directory} ...", flush=True)
    t0 = time.perf_counter()
    generate_edge_log_volume(n_rows, directory, start=START, hours=hours, seed=seed)
    done.write_text(f"{n_rows}\n")
    print(f"  generated in {time.perf_counter() - t0:.0f} s", flush=True)
    return directory


def ensure_clickhouse(bigquery_dir: Path) -> Path:
    """Return the same rows as ClickHouse-flavour pages of ``make fetch FLAVOUR=clickhouse``.

    Each row becomes what the package's raw edge_logs ClickHouse query answers for it
    (``analysis.simulate.clickhouse``, the writer the tests' loopback Management API uses):
    ``id``, the timestamp as zone-less UTC text, ``event_message``, ``severity_text``,
    ``source`` and one text column per attribute the query selects (null where missing).
    """
    import gzip

    from analysis.fetch.queries import load_query
    from analysis.simulate.clickhouse import clickhouse_row, project_row, selected_attributes
    from analysis.simulate.records import page_bytes

    directory = bigquery_dir.with_name(bigquery_dir.name + "-clickhouse-projection")
    done = directory / ".complete"
    if done.exists():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "edge_logs").mkdir(parents=True)
    print(f"  converting {bigquery_dir.name} to ClickHouse pages ...", flush=True)
    selected = selected_attributes(load_query("edge_logs", "clickhouse"))
    for page in sorted((bigquery_dir / "edge_logs").glob("*.json.gz")):
        rows = json.loads(gzip.decompress(page.read_bytes()))["result"]
        projected = [project_row(clickhouse_row(row, "edge_logs"), selected) for row in rows]
        (directory / "edge_logs" / page.name).write_bytes(page_bytes(projected))
    manifest = json.loads((bigquery_dir / "incident.json").read_text())
    manifest.update(name=manifest["name"] + "-clickhouse", flavour="clickhouse")
    (directory / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n")
    done.write_text("done\n")
    return directory


def naive_pandas(pages: list[Path], flavour: str):
    """json.load + json_normalize (through BigQuery's one-element lists) + the canonical typing."""
    import gzip

    import pandas as pd

    def flat(series: pd.Series, prefix: str) -> pd.DataFrame:
        return pd.json_normalize(series.str[0].tolist()).add_prefix(prefix)

    frames = []
    for page in pages:
        with gzip.open(page, "rt", encoding="utf-8") as handle:
            result = json.load(handle)["result"]
        if flavour == "clickhouse":
            # Flat rows: the attributes are columns already, and ``pd.DataFrame`` is what one
            # writes for them. ``json_normalize`` would walk every key in Python to flatten
            # nothing (about twice the cost here): a baseline slowed down for nothing.
            frames.append(pd.DataFrame(result).reindex(columns=list(WANTED.values())))
            continue
        rows = pd.json_normalize(result)
        meta = pd.json_normalize(rows["metadata"].str[0].tolist())
        request = flat(meta["request"], "request.")
        parts = [
            rows[["id", "timestamp"]],
            request,
            flat(request["request.headers"], "request.headers."),
            flat(request["request.sb"], "request.sb."),
            flat(meta["response"], "response."),
        ]
        frames.append(pd.concat(parts, axis=1)[list(WANTED.values())])
    table = pd.concat(frames, ignore_index=True).rename(columns={v: k for k, v in WANTED.items()})
    if flavour == "clickhouse":
        table["timestamp"] = pd.to_datetime(table["timestamp"], utc=True)
    else:
        table["timestamp"] = pd.to_datetime(table["timestamp"], unit="us", utc=True)
    table["status"] = table["status"].astype("int64")
    table["origin_time"] = table["origin_time"].astype("float64")
    for col in ("id", "method", "path", "search", "client_info", "user_agent", "cf_ray", "user"):
        table[col] = table[col].astype("string")
    return table


def least_work(pages: list[Path], gunzip, typed: bool = False) -> tuple[int, dict[str, float]]:
    """Do the least an ingest of flat ClickHouse pages must do (see above).

    Returns the rows and the CPU seconds of each step: the parse (the floor's own, or with
    ``typed`` msgspec's typed decoding of only the fields kept), the columns, the casts to the
    table's types, the pseudonyms, the redaction.
    """
    import msgspec
    import orjson
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from analysis import privacy

    steps: dict[str, float] = dict.fromkeys(("parse", "columns", "types", "users", "redact"), 0.0)
    clock = time.process_time
    chunks: dict[str, list] = {name: [] for name in WANTED}
    fields = [
        (name, str | None, msgspec.field(name=key, default=None)) for name, key in WANTED.items()
    ]
    row_type = msgspec.defstruct("Row", fields)
    decode = msgspec.json.Decoder(msgspec.defstruct("Page", [("result", list[row_type])])).decode
    for page in pages:
        t0 = clock()
        result = decode(gunzip(page)).result if typed else orjson.loads(gunzip(page))["result"]
        t1 = clock()
        for name, key in WANTED.items():
            values = (
                [getattr(row, name) for row in result]
                if typed
                else [row.get(key) for row in result]
            )
            chunks[name].append(pa.array(values, pa.large_string()))
        steps["parse"] += t1 - t0
        steps["columns"] += clock() - t1
    t0 = clock()
    cols = {name: pa.chunked_array(parts, pa.large_string()) for name, parts in chunks.items()}
    cols["timestamp"] = pc.cast(cols["timestamp"], pa.timestamp("ns")).cast(
        pa.timestamp("ns", tz="UTC")
    )
    cols["status"] = pc.cast(cols["status"], pa.int64())
    cols["origin_time"] = pc.cast(cols["origin_time"], pa.float64())
    table = pa.table(cols).to_pandas(
        types_mapper=lambda t: pd.StringDtype() if t == pa.large_string() else None
    )
    t1 = clock()
    key = privacy.pseudonym_key()
    users = {u: privacy.pseudonymise(u, key) for u in table["user"].dropna().unique()}
    table["user"] = table["user"].map(users).astype("string")
    t2 = clock()
    for col in ("path", "search", "client_info", "cf_ray"):
        table[col] = privacy.redact_series(table[col], users)
    steps.update(types=t1 - t0, users=t2 - t1, redact=clock() - t2)
    return len(table), steps


def time_ingest_steps() -> dict[str, float]:
    """Wrap ingest's stages to add up each one's CPU seconds (of its own thread) in the dict.

    ``read pages`` runs on the reading threads (gunzip and pyarrow's parse); the others on the
    main thread, ``canonical`` holding ``project`` and ``times``, ``privacy`` holding
    ``redact``.
    """
    import functools

    from analysis import privacy
    from analysis.ingest import assemble, fast

    steps: dict[str, float] = {}
    wrapped = [
        (fast, "try_read_page", "read pages"),
        (fast, "parse_files_fast", "join pages"),
        (assemble, "canonicalise_logs", "canonical"),
        (assemble, "project_part", "project"),
        (assemble, "parse_times", "times"),
        (assemble, "privatise_logs", "privacy"),
        (privacy, "redact_series", "redact"),
        (assemble, "assemble_logs", "assemble"),
        (privacy, "replace_user_ids", "user ids"),
    ]

    def timer(func, label):
        @functools.wraps(func)
        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                steps[label] += time.thread_time() - start

        return timed

    for module, name, label in wrapped:
        steps[label] = 0.0
        setattr(module, name, timer(getattr(module, name), label))
    return steps


def child(method: str, directory: Path) -> dict:
    """Run one method in this process; return rows, wall and CPU seconds and peak RSS."""
    import gzip
    import zlib

    pages = sorted((directory / "edge_logs").glob("*.json.gz"))
    # Libraries are imported before the clock starts: the timings are of the work only.
    # pandera too: ``analysis.schemas`` imports it on first use (when a table needs its
    # validation), inside ingest's timing: an import no baseline pays (~0.25-1 s here).
    import msgspec
    import orjson
    import pandas  # noqa: F401
    import pandera.pandas  # noqa: F401
    import tqdm.auto  # noqa: F401

    import analysis
    import analysis.ingest  # noqa: F401

    # The readers (and tqdm) are imported on first use since session 8: before the clock too.
    import analysis.ingest.assemble  # noqa: F401

    def gunzip(page: Path) -> bytes:
        # What gzip.decompress does, without its Python-level member loop.
        return zlib.decompress(page.read_bytes(), wbits=31)

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    steps: dict[str, float] = {}
    if method == "ingest-steps":
        steps = time_ingest_steps()
    t0, c0 = time.perf_counter(), cpu()
    if method in ("ingest", "ingest2", "ingest-steps"):
        from analysis.ingest import load_incident

        # ``ingest2``: the same with two forked page workers, for comparison.
        workers = 2 if method == "ingest2" else None
        incident = load_incident(directory, use_cache=False, progress=False, workers=workers)
        rows = len(incident.requests)
    elif method in ("least", "least-msgspec"):
        rows, steps = least_work(pages, gunzip, typed=method == "least-msgspec")
    elif method == "gunzip":
        rows = sum(len(gunzip(p)) for p in pages)  # bytes, not rows
    elif method == "orjson":
        rows = sum(len(orjson.loads(gunzip(p))["result"]) for p in pages)
    elif method == "msgspec":
        decode = msgspec.json.Decoder().decode
        rows = sum(len(decode(gunzip(p))["result"]) for p in pages)
    elif method == "json":
        rows = sum(len(json.loads(gzip.decompress(p.read_bytes()))["result"]) for p in pages)
    elif method == "pandas":
        flavour = json.loads((directory / "incident.json").read_text()).get("flavour")
        rows = len(naive_pandas(pages, flavour or "bigquery"))
    else:
        raise SystemExit(f"unknown method {method!r}")
    seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Forked page workers (ingest above a size) have their own peaks: the largest is counted
    # once per usable core, an upper bound (their pages shared with this process count twice).
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return {
        "method": method,
        "rows": int(rows),
        "seconds": seconds,
        "cpu": cpu_seconds,
        "peak_mb": peak_mb + (child_mb * cores if method.startswith("ingest") else 0.0),
        "own_peak_mb": peak_mb,
        "steps": steps,
        # Which tree's package ran (``--against`` puts another one on the path).
        "package": str(Path(analysis.__file__).parents[1]),
    }


def measure(method: str, directory: Path, source: Path | None = None) -> dict:
    """Run ``method`` in a fresh interpreter and return its measurement.

    ``source``: a tree's ``src`` directory to import the package from instead of this one's
    (put before the editable install on the path).
    """
    env = None
    if source is not None:
        env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_tree(ref: str) -> tuple[str, Path]:
    """Return (commit, its ``src`` directory) of git revision ``ref``, exported once."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = BENCH / f"tree-{commit[:12]}"
    if not (tree / ".complete").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        (tree / ".complete").write_text(commit + "\n")
    return commit, tree / "src"


def compare_trees(directory: Path, ref: str, repeat: int, method: str = "ingest") -> None:
    """Print ingest's CPU seconds on this tree and on ``ref``'s, alternating runs.

    ``method`` ``ingest-steps`` also prints each stage's median CPU seconds in both trees.
    """
    import statistics

    commit, source = export_tree(ref)
    print(f"  old = {commit[:12]} ({ref}), new = this tree; {repeat} alternations")
    print(f"  load average before: {load_average()}")
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for i in range(repeat):
        # Which goes first alternates too: a load that grows through a pair hits both.
        order = ("old", "new") if i % 2 == 0 else ("new", "old")
        for tree in order:
            result = measure(method, directory, source if tree == "old" else None)
            runs[tree].append(result)
            print(
                f"  round {i + 1} {tree}: {result['cpu']:6.2f} s cpu {result['seconds']:6.2f} s"
                f" wall, {result['rows']:,} rows, from {result['package']}",
                flush=True,
            )
    print(f"  load average after:  {load_average()}")
    cpu = {tree: [r["cpu"] for r in results] for tree, results in runs.items()}
    med = {tree: statistics.median(values) for tree, values in cpu.items()}
    pairs = sorted(new / old for new, old in zip(cpu["new"], cpu["old"], strict=True))
    print(
        f"  info  median cpu old {med['old']:.2f} s, new {med['new']:.2f} s:"
        f" new / old = {med['new'] / med['old']:.3f}"
        f" (best/best {min(cpu['new']) / min(cpu['old']):.3f});"
        f" pairs {', '.join(f'{r:.3f}' for r in pairs)}"
    )
    steps = sorted({name for results in runs.values() for r in results for name in r["steps"]})
    for name in steps:
        old, new = (
            statistics.median(r["steps"].get(name, 0.0) for r in runs[tree])
            for tree in ("old", "new")
        )
        print(f"  info  step {name}: median cpu old {old:.3f} s, new {new:.3f} s, {new - old:+.3f}")


def show(result: dict) -> None:
    """Print one measurement."""
    unit = "bytes" if result["method"] == "gunzip" else "rows"
    print(
        f"  {result['method']:8} {result['rows']:>13,} {unit:5} {result['seconds']:8.1f} s wall"
        f"  {result['cpu']:7.1f} s cpu  peak {result['peak_mb']:6.0f} MB"
        f" ({result['own_peak_mb']:.0f} MB in the process itself)",
        flush=True,
    )
    if result.get("steps"):
        parts = ", ".join(f"{name} {sec:.2f}" for name, sec in result["steps"].items())
        print(f"           cpu s by step: {parts}", flush=True)


def load_average() -> str:
    """Return the 1, 5 and 15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_size(
    n_rows: int, flavour: str, repeat: int, methods: tuple[str, ...], failures: list[str]
) -> None:
    """Measure every method on one export; print the ratios and record missed targets."""
    directory = ensure_export(n_rows, 1.0, seed=1)
    if flavour == "clickhouse":
        directory = ensure_clickhouse(directory)
    print(f"ingest: {n_rows:,}-row edge_logs export, {flavour} flavour, gzip pages")
    print(f"  load average before: {load_average()}")
    best: dict[str, dict] = {}
    # Rounds interleave the methods so a change in the machine's load hits all of them.
    if flavour != "clickhouse":
        methods = tuple(m for m in methods if not m.startswith("least"))
    for _ in range(repeat):
        for method in methods:
            result = measure(method, directory)
            if method not in best or result["seconds"] < best[method]["seconds"]:
                best[method] = result
    for method in methods:
        show(best[method])
    print(f"  load average after:  {load_average()}")
    ingest = best["ingest"]
    checks = [(f"ingest kept {ingest['rows']:,} of {n_rows:,} rows", ingest["rows"] == n_rows)]
    checks.append(
        (f"ingest peak memory = {ingest['peak_mb']:.0f} MB (target < 2048 MB)",
         ingest["peak_mb"] < 2048)
    )  # fmt: skip
    info = []
    parsers = [m for m in ("orjson", "msgspec") if m in best]
    if parsers:
        floor_method = min(parsers, key=lambda m: best[m]["seconds"])
        floor = best[floor_method]["seconds"]
        vs_floor = ingest["seconds"] / floor
        checks.append(
            (f"ingest / floor (gunzip + {floor_method}) = {vs_floor:.2f}x (target <= 1.5x)",
             vs_floor <= 1.5)
        )  # fmt: skip
        info.append(f"ingest cpu / floor cpu = {ingest['cpu'] / best[floor_method]['cpu']:.2f}x")
        info += [
            f"{name} / floor = {best[method]['seconds'] / floor:.2f}x"
            f" (cpu {best[method]['cpu'] / best[floor_method]['cpu']:.2f}x)"
            for method, name in (
                ("least", "the least ingest can do"),
                ("least-msgspec", "the least, typed msgspec"),
                ("ingest2", "ingest with two page workers"),
                ("json", "gunzip + stdlib json"),
                ("gunzip", "gunzip alone"),
            )
            if method in best
        ]
    if "least" in best:
        info.append(
            f"ingest / the least = {ingest['seconds'] / best['least']['seconds']:.2f}x"
            f" (cpu {ingest['cpu'] / best['least']['cpu']:.2f}x)"
        )
    if "pandas" in best:
        for method in ("least", "orjson", "msgspec"):
            if method in best:
                pandas, other = best["pandas"], best[method]
                info.append(
                    f"naive pandas / {method} = {pandas['seconds'] / other['seconds']:.1f}x"
                    f" (cpu {pandas['cpu'] / other['cpu']:.1f}x)"
                )
        vs_pandas = best["pandas"]["seconds"] / ingest["seconds"]
        checks.append((f"naive pandas / ingest = {vs_pandas:.1f}x (target >= 5x)", vs_pandas >= 5))
        info.append(f"naive pandas cpu / ingest cpu = {best['pandas']['cpu'] / ingest['cpu']:.1f}x")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        if not ok:
            failures.append(f"{n_rows:,} rows, {flavour}: {text}")
    for text in info:
        print(f"  info  {text}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 if every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[300_000, 1_000_000])
    parser.add_argument(
        "--clickhouse-rows",
        type=int,
        nargs="*",
        default=[300_000, 1_000_000],
        help="the same rows as ClickHouse-flavour pages (none: skip)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=[m for m in METHODS if m not in ("ingest2", "least-msgspec", "ingest-steps")],
        choices=METHODS,
        help="methods to run (ingest always runs; default all)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the best of each counts")
    parser.add_argument("--big-rows", type=int, default=0, help="also a 24-hour export (memory)")
    parser.add_argument(
        "--against",
        metavar="REF",
        help="compare ingest's CPU with git revision REF's, alternating fresh processes",
    )
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0
    if args.against:
        # ``--methods ingest-steps`` times each stage too; ingest alone otherwise.
        method = "ingest-steps" if "ingest-steps" in args.methods else "ingest"
        for n_rows in args.rows:
            print(f"ingest: {n_rows:,}-row edge_logs export, bigquery flavour, this tree vs old")
            compare_trees(ensure_export(n_rows, 1.0, seed=1), args.against, args.repeat, method)
        for n_rows in args.clickhouse_rows:
            print(f"ingest: {n_rows:,}-row edge_logs export, clickhouse flavour, this tree vs old")
            directory = ensure_clickhouse(ensure_export(n_rows, 1.0, seed=1))
            compare_trees(directory, args.against, args.repeat, method)
        return 0
    failures: list[str] = []
    methods = tuple(m for m in METHODS if m in args.methods or m == "ingest")
    for n_rows in args.rows:
        bench_size(n_rows, "bigquery", args.repeat, methods, failures)
    for n_rows in args.clickhouse_rows:
        bench_size(n_rows, "clickhouse", args.repeat, methods, failures)
    if args.big_rows:
        print(f"ingest: {args.big_rows:,}-row, 24-hour export (memory)")
        big = measure("ingest", ensure_export(args.big_rows, 24.0, seed=2))
        show(big)
        ok = big["peak_mb"] < 6144 and big["rows"] == args.big_rows
        text = f"{args.big_rows:,} rows: peak memory {big['peak_mb']:.0f} MB (target < 6144 MB)"
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        if not ok:
            failures.append(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
