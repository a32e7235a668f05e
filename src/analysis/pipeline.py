"""The postmortem's stages chained: ingest -> timeline -> audit and stats -> findings.

Each stage is a function of the previous stage's result, so a notebook (or a test) can run them
one at a time, inspect what one returns, change a parameter and rerun from there:

>>> incident = load(params)                        # doctest: +SKIP
>>> timeline = build_timeline(incident, params)    # doctest: +SKIP
>>> statistics = run_statistics(timeline, params)  # doctest: +SKIP
>>> quality = run_audit(incident, timeline)        # doctest: +SKIP
>>> result = compile_findings(incident, timeline, statistics, quality, params)  # doctest: +SKIP

:func:`analyse` does all of it. The run's settings come from the environment through
:func:`read_settings` (defined in :mod:`analysis.settings`, which the report's own process
imports without the stages): the stages below take their caches and switches as arguments.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gc
import hashlib
import json
import os
import pickle
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import audit, findings, signals, stats, timeline
from analysis._util import release_freed_memory
from analysis.config import DEFAULT_INCIDENT_DIR, PROJECT_ROOT
from analysis.params import ReportParams, build_params
from analysis.settings import (  # noqa: F401 - this module's API since the stages were chained
    ENV_CACHE_DIR,
    ENV_NO_STATS_CACHE,
    ENV_PREFETCH_DIR,
    ENV_REPORTS_DIR,
    ENV_WORKERS,
    PREFETCH_KEY,
    PREFETCH_LOCK,
    PREFETCH_PID,
    Settings,
    read_settings,
    read_workers,
)

#: Statistics for the report use this many bootstrap replicates (stats' documented default).
N_BOOT = 199
#: A prefetch whose processes use no CPU for this long is taken as hung: the kernel stops
#: waiting and computes the statistics itself (:func:`await_prefetch`). A prefetch that
#: computes is never cut short: under any load a running process gets CPU within seconds.
PREFETCH_STALL_SECONDS = 60.0
#: The report's figures (``narrative.build_figure`` names), in the order the page shows them.
FIGURES = ("concurrency", "heatmap", "lag", "dose")
#: The order they are handed to the drawing processes: longest first, so that two workers
#: finish about together (CPU seconds each on the shipped incident: dose 1.4, lag 0.9-1.2,
#: concurrency 0.7-0.9, heatmap 0.3; the small multiples grow with the classes). In page
#: order the dose figure started last, after the concurrency figure, on the same worker.
DRAW_ORDER = ("dose", "lag", "concurrency", "heatmap")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def freeze_imports() -> None:
    """Keep what this process holds now (its imported modules) out of every later collection.

    Call once the imports are done (the postmortem's imports cell). Python's cyclic garbage
    collector walks every object it tracks in its oldest generation each time it runs a full
    pass; after the imports of pandas, scipy and matplotlib those are about 150,000 objects
    that live as long as the process, and a full pass over them cost 0.2-0.35 CPU s wherever
    a stage happened to trigger one (the timeline read from its cache, the audit). Frozen,
    they are never walked again; nothing is freed any later than before (modules are not
    garbage) and no value changes (docs/performance.md, session 10).
    """
    gc.freeze()


def load(params: ReportParams, settings: Settings | None = None) -> object:
    """Ingest the incident directory of ``params`` (the Parquet cache under ``cache_dir``)."""
    return load_directory(params.data_dir, settings)


def show_tables_as_text() -> None:
    """Mark pandas' HTML tables so that a notebook's MathJax leaves them alone.

    JupyterLab typesets ``$...$`` in outputs: a constraint name or message holding dollar
    signs would show as a formula in the stage tables. Without MathJax pandas adds the class
    ``mathjax_ignore`` to the tables it renders (docs/report-safety.md).
    """
    pd.set_option("display.html.use_mathjax", False)


def load_directory(data_dir: str | Path, settings: Settings | None = None) -> object:
    """Ingest an incident directory (empty: the shipped incident) before any webinar is chosen.

    The notebooks' first stage: their tables from here on are shown as text
    (:func:`show_tables_as_text`).
    """
    from analysis.ingest import load_incident

    show_tables_as_text()
    settings = read_settings() if settings is None else settings
    directory = Path(data_dir) if str(data_dir).strip() else DEFAULT_INCIDENT_DIR
    return load_incident(directory, cache_dir=settings.cache_dir, progress=False)


def tabulate_accounting(incident: object) -> pd.DataFrame:
    """Ingest's accounting (one row per file and kind) with file names redacted.

    The executed notebook travels with the report: a download saved under a person's address
    is named as findings' ``inputs.accounting`` names it.
    """
    from analysis.privacy import redact_text

    table = incident.accounting.copy()
    table["file"] = [redact_text(str(name)) for name in table["file"]]
    return table


def build_timeline(
    incident: object, params: ReportParams, settings: Settings | None = None
) -> timeline.Timeline:
    """Build the webinar's :class:`~analysis.timeline.Timeline` with the run's window and bucket.

    Each class's per-minute frame gets its signals (:func:`analysis.signals.add_class_signals`):
    the denominator over every endpoint where the class occurs, its own failing requests, its
    spread over users, clients and endpoints, latency and Realtime connections. With
    ``settings`` (and their caches on), a timeline built before from the same incident tables,
    parameters, package code and library versions is read from the stage cache
    (:func:`stage_key`); without, it is always built.
    """
    path = _stage_path("timeline", settings, incident, params, suffix=".pkl", prefetched=True)
    cached = _read_pickle(path, timeline.Timeline) if path else None
    if cached is not None:
        return cached
    tl = _build_timeline(incident, params)
    if path:
        _write_atomic(path, pickle.dumps(tl, protocol=pickle.HIGHEST_PROTOCOL))
    return tl


def _build_timeline(incident: object, params: ReportParams) -> timeline.Timeline:
    tl = timeline.build_timeline(
        incident,
        params.webinar_id,
        start=params.window_start,
        end=params.window_end,
        bucket=params.bucket,
        display_tz=params.display_tz,
    )
    frames = signals.add_signals(
        tl.frames, incident, tl.classes, tolerance=tl.tolerance, pairs=tl.pairs
    )
    return dataclasses.replace(tl, frames=frames)


#: The stage caches' own format: a change of what they hold bumps it.
STAGE_CACHE_FORMAT = 1


def package_sources() -> list[tuple[str, bytes]]:
    """Return (relative path, bytes) of every file of the ``analysis`` package, sorted.

    Code, locale texts, schemas and templates: whatever a stage reads from the package.
    """
    root = Path(str(resources.files("analysis")))
    files = sorted(
        f for f in root.rglob("*") if f.is_file() and "__pycache__" not in f.relative_to(root).parts
    )
    return [(f.relative_to(root).as_posix(), f.read_bytes()) for f in files]


def stage_key(stage: str, *inputs: object) -> str | None:
    """Return the stage cache's key of ``stage`` on ``inputs``, or None when one cannot be hashed.

    The key hashes the inputs' whole content (every column, dtype, index, row and ``attrs``
    of each table; every field of a dataclass; parameters included), every file of the
    package (:func:`package_sources`) and the Python and package versions that findings.json
    records (:func:`analysis.findings.package_versions`). So a cached result is only read
    where computing it again would give the same objects, on an incident never seen as on the
    shipped one; a value of a type the hash does not know makes the stage compute, uncached.
    """
    digest = hashlib.sha256(f"{stage}:{STAGE_CACHE_FORMAT}:".encode())
    for name, code in package_sources():
        digest.update(f"{name}:{len(code)}:".encode())
        digest.update(code)
    digest.update(repr(findings.package_versions()).encode())
    # Paths are shown relative to the project root, and a relative path resolves from here.
    digest.update(repr((str(PROJECT_ROOT), os.getcwd())).encode())
    try:
        for value in inputs:
            _digest_value(digest, value)
    except (TypeError, ValueError):  # a value the hash does not know: compute, uncached
        return None
    return digest.hexdigest()[:32]


#: Fields that say how a value was obtained, not what it holds: an incident's tables read from
#: ingest's Parquet cache are the tables a fresh parse gives (``Incident.from_cache``).
_NOT_CONTENT = frozenset({"from_cache"})


def _digest_value(digest: object, value: object) -> None:
    """Add a value's type and content to ``digest``; TypeError for a type it does not know."""

    def tag(text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(f"<{len(data)}>".encode())
        digest.update(data)

    if isinstance(value, pd.DataFrame | pd.Series):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        tag(type(value).__name__)
        tag(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]))
        tag(repr((list(frame.columns.names), list(frame.index.names), str(frame.index.dtype))))
        tag(repr(getattr(value, "name", None)) if isinstance(value, pd.Series) else "")
        hashed = pd.util.hash_pandas_object(frame, index=True)  # TypeError for unhashable cells
        digest.update(hashed.to_numpy().tobytes())
        _digest_value(digest, dict(value.attrs))
    elif isinstance(value, pd.Index):
        _digest_value(digest, value.to_frame(index=False))
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            _digest_value(digest, value.tolist())
        else:
            tag(f"ndarray:{value.dtype.str}:{value.shape}")
            digest.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        tag(f"{type(value).__module__}.{type(value).__qualname__}")
        for field in dataclasses.fields(value):
            if field.name in _NOT_CONTENT:
                continue
            tag(field.name)
            _digest_value(digest, getattr(value, field.name))
    elif isinstance(value, Mapping):
        tag(f"{type(value).__name__}:{len(value)}")
        for k, v in value.items():
            _digest_value(digest, k)
            _digest_value(digest, v)
    elif isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        tag(f"{type(value).__name__}:{len(value)}")
        for item in items:
            _digest_value(digest, item)
    elif value is None or isinstance(
        value,
        str
        | bytes
        | bool
        | int
        | float
        | complex
        | np.generic
        | Path
        | pd.Timestamp
        | pd.Timedelta
        | pd.Period
        | type(pd.NaT)
        | type(pd.NA),
    ):
        tag(f"{type(value).__name__}:{value!r}")
    else:
        raise TypeError(f"no stage-cache hash for {type(value).__name__}")


def _stage_path(
    stage: str, settings: Settings | None, *inputs: object, suffix: str, prefetched: bool = False
) -> Path | None:
    """Where ``stage``'s result on ``inputs`` is cached, or None (no settings, caches off).

    With the caches off, a stage the run's prefetch computes (``prefetched``) is still kept in
    the prefetch's own directory, which lives as long as the run: the kernel reads what the
    prefetch built instead of building it again (:func:`prefetch_statistics`).
    """
    if settings is None:
        return None
    if settings.stats_cache:
        folder = settings.cache_dir / "stages"
    elif prefetched and settings.prefetch_dir is not None:
        folder = settings.prefetch_dir / "stages"
    else:
        return None
    key = stage_key(stage, *(_analysed(v) for v in inputs))
    return None if key is None else folder / f"{stage}-{key}{suffix}"


def _analysed(value: object) -> object:
    """Return the run's parameters without where its files go and which exports follow.

    The stages never read those two (``ReportParams.describe`` leaves them out of the report
    for the same reason), so a report written elsewhere, or as HTML only, reuses the cache.
    """
    if isinstance(value, ReportParams):
        return {
            k: v for k, v in dataclasses.asdict(value).items() if k not in ("output_dir", "formats")
        }
    return value


def _read_pickle(path: Path, kind: type) -> object | None:
    """Return the cached object of type ``kind`` at ``path``, or None (absent or unreadable)."""
    if not path.is_file():
        return None
    try:
        value = pickle.loads(path.read_bytes())
        if isinstance(value, kind):
            return value
        problem = type(value).__name__
    except Exception as exc:  # truncated, or written by other code: recompute
        problem = type(exc).__name__
    print(f"note: stage cache {path.name} unreadable ({problem}); discarded", file=sys.stderr)
    path.unlink(missing_ok=True)
    return None


def statistics_sources() -> list[tuple[str, bytes]]:
    """Return (file name, bytes) of every module of ``analysis.stats``, sorted by name.

    The statistics cache key hashes them all: a key over only some of the package's modules
    would let an edit of another one reuse results the new code would not give.
    """
    package = resources.files("analysis").joinpath("stats")
    files = sorted((f for f in package.iterdir() if f.name.endswith(".py")), key=lambda f: f.name)
    return [(f.name, f.read_bytes()) for f in files]


def statistics_key(frames: Mapping[str, pd.DataFrame], seed: int, n_boot: int = N_BOOT) -> str:
    """Return the cache key of a statistics run: its inputs, seed, replicates and stats' code."""
    digest = hashlib.sha256()
    digest.update(f"{seed}:{n_boot}:".encode())
    for name, code in statistics_sources():
        digest.update(f"{name}:{len(code)}:".encode())
        digest.update(code)
    for key in sorted(frames):
        frame = frames[key]
        # Every column and the class's source reach the statistics (signals, samples).
        digest.update(f"{key}:{','.join(frame.columns)}:{frame.attrs.get('source')}".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def cached_statistics(
    frames: Mapping[str, pd.DataFrame],
    seed: int,
    cache_dir: Path | None,
    n_boot: int = N_BOOT,
    workers: int = 1,
) -> stats.WebinarStatistics:
    """Run ``stats.analyse_webinar``, or read its result for identical inputs and code.

    The bootstraps dominate a report's run time; like ingest's Parquet cache, the result is
    kept under ``cache_dir`` keyed by a hash of the per-minute frames, the seed, the replicate
    count and the source of ``analysis.stats``, so it is only reused when the computation would
    give the same numbers. ``cache_dir=None`` computes without the cache. A computed result
    goes through its JSON form too, so a run reads the same values whether the cache hit or not.
    ``workers`` processes share the classes (the numbers do not depend on it).
    """
    if cache_dir is None:
        computed = stats.analyse_webinar(dict(frames), seed=seed, n_boot=n_boot, workers=workers)
        return stats.WebinarStatistics.from_dict(computed.to_dict())
    path = Path(cache_dir) / f"{statistics_key(frames, seed, n_boot)}.json"
    if path.is_file():
        try:
            return stats.WebinarStatistics.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            # Truncated (a kill, a full disk) or from an incompatible writer: recompute.
            print(
                f"note: statistics cache {path.name} unreadable ({type(exc).__name__});"
                " discarded and recomputed",
                file=sys.stderr,
            )
            path.unlink(missing_ok=True)
    result = stats.analyse_webinar(
        dict(frames), seed=seed, n_boot=n_boot, workers=workers
    ).to_dict()
    _write_atomic(path, json.dumps(result, allow_nan=False).encode("utf-8"))
    return stats.WebinarStatistics.from_dict(result)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a cache file whole or not at all (a reader never sees a part of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A private temporary name per writer, so two runs at once never write one file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_statistics(
    tl: timeline.Timeline, params: ReportParams, settings: Settings | None = None
) -> stats.WebinarStatistics | None:
    """Statistics of every error class of the timeline.

    None when there is nothing to test: no error class, or a window too short for the
    per-minute models (the audit says so: window_too_short). Without any concurrency sample
    the classes still get the tests that need no load (each verdict's ``load_unknown``).
    """
    if not has_statistics(tl):
        return None
    settings = read_settings() if settings is None else settings
    if settings.prefetch_dir is not None:
        await_prefetch(settings.prefetch_dir, statistics_key(tl.frames, params.seed))
    return cached_statistics(
        tl.frames, params.seed, _statistics_dir(settings), workers=settings.workers
    )


def has_statistics(tl: timeline.Timeline) -> bool:
    """Return True when the timeline's classes can be tested (:func:`run_statistics`)."""
    minutes = len(next(iter(tl.frames.values()))) if tl.frames else 0
    # Without a load series (no viewer or presence sample; the audit says so:
    # no_concurrency_samples) the statistics still run: a class's requests can tell a flat
    # rate per request from no link to traffic; only the capacity test needs the load
    # (docs/verdicts.md, "No load series").
    return bool(tl.frames) and minutes >= stats.MIN_MINUTES


def _statistics_dir(settings: Settings) -> Path | None:
    """Where the run's statistics are kept: the cache, else the prefetch's directory, else none."""
    if settings.stats_cache:
        return settings.cache_dir / "stats"
    return settings.prefetch_dir


def prefetch_statistics(params: ReportParams, settings: Settings) -> None:
    """Compute the timeline and the statistics a report of ``params`` will ask for, ahead of it.

    ``python -m analysis report`` runs this in a process it forks before it starts the
    notebook's kernel (``analysis.report``), so the statistics use the cores the kernel's start
    and imports leave idle. It builds the parameters from ``params.to_notebook()`` as the
    notebook does, writes the statistics key of the timeline's frames to
    ``<prefetch_dir>/statistics.key``, then computes the statistics into the cache (or, caches
    off, into ``prefetch_dir``). The kernel's :func:`run_statistics` waits for it
    (:func:`await_prefetch`) and reads the result by the same key: the same numbers and bytes
    as computing them there, since a result is only read for identical frames, seed,
    replicates and code.
    """
    values = params.to_notebook()
    incident = load_directory(values["data_dir"], settings)
    params = build_params(  # the notebook's call, on the values papermill gives it
        values["webinar_id"],
        values["data_dir"],
        display_tz=values["display_tz"] or incident.display_tz,
        window_start=values["window_start"],
        window_end=values["window_end"],
        bucket=values["bucket"],
        lang=values["lang"],
        seed=values["seed"],
        output_dir=values["output_dir"],
        reports_dir=settings.reports_dir,
        plan_registrations=values["plan_registrations"],
    )
    tl = build_timeline(incident, params, settings)
    if not has_statistics(tl) or settings.prefetch_dir is None:
        return
    # The statistics need the frames alone: the incident's tables and the rest of the
    # timeline are let go before the workers fork and for as long as they compute.
    del incident
    frames = tl.frames
    del tl
    release_freed_memory()
    key = statistics_key(frames, params.seed)
    _write_atomic(settings.prefetch_dir / PREFETCH_KEY, key.encode("ascii"))
    cached_statistics(frames, params.seed, _statistics_dir(settings), workers=settings.workers)


def await_prefetch(
    directory: Path, key: str, poll: float = 0.01, stall: float = PREFETCH_STALL_SECONDS
) -> None:
    """Wait until the run's prefetch has ended if it is computing the statistics of ``key``.

    Returns at once when there is no prefetch, when it promised another key, or when it ended
    without one (it failed, or the timeline has nothing to test): the caller then computes.
    The prefetch holds ``<directory>/lock`` while it runs; the lock is the operating system's,
    so it is released however the prefetch ends. A prefetch whose processes (it and its
    workers, read from ``/proc`` by the pid it wrote) have used no CPU for ``stall`` seconds
    is hung (stopped, or blocked on something that will not come): this returns with a note
    and the caller computes the statistics itself, so a hung prefetch cannot hang the report
    and cannot change a number (the report ends the prefetch when its notebook has run).
    A prefetch that computes, however slowly, is waited for.
    """
    try:
        fd = os.open(directory / PREFETCH_LOCK, os.O_RDONLY)
    except OSError:
        return
    try:
        watch = _PrefetchWatch(directory, stall)
        waiting = False  # for the promised key: only the lock remains to be waited for
        while True:
            if not waiting:
                try:
                    promised = (directory / PREFETCH_KEY).read_text(encoding="ascii")
                except (OSError, ValueError):
                    promised = None
                if promised is not None and promised != key:
                    return
                waiting = promised is not None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return  # it ended: with the result of the promised key, or without a key
            except BlockingIOError:
                pass
            if watch.hung(time.monotonic()):
                print(
                    f"note: the statistics computed ahead of the notebook (prefetch process "
                    f"{watch.pid}) have used no CPU for {stall:.0f} s; they are computed here "
                    "instead (the same numbers)",
                    file=sys.stderr,
                )
                return
            time.sleep(poll)
    finally:
        os.close(fd)


class _PrefetchWatch:
    """Whether a prefetch has used no CPU for ``stall`` seconds (its pid from its directory)."""

    def __init__(self, directory: Path, stall: float) -> None:
        self.directory, self.stall = directory, stall
        self.pid: int | None = None
        self.cpu, self.since = -1, time.monotonic()
        self.checked = self.since

    def hung(self, now: float) -> bool:
        if now - self.checked < min(0.5, self.stall / 4):
            return False  # /proc is read twice a second at most
        self.checked = now
        if self.pid is None:
            try:
                self.pid = int((self.directory / PREFETCH_PID).read_text(encoding="ascii"))
            except (OSError, ValueError):
                return False  # no pid (yet, or a prefetch of another writer): wait as before
            self.since = now
        cpu = _tree_cpu_ticks(self.pid)
        if cpu is None:
            return False  # /proc unreadable here: wait as before
        if cpu != self.cpu:
            self.cpu, self.since = cpu, now
        return now - self.since >= self.stall


def _tree_cpu_ticks(pid: int) -> int | None:
    """CPU clock ticks used by ``pid`` and its live descendants (and the reaped ones), or None.

    Read from ``/proc/<pid>/stat`` (utime, stime, cutime, cstime) and
    ``/proc/<pid>/task/*/children``; None when ``/proc`` cannot tell (another system).
    """
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            stat = Path(f"/proc/{p}/stat").read_text(encoding="utf-8", errors="replace")
            # Fields after the command name, which may hold spaces and parentheses.
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(v) for v in fields[11:15])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            if p == pid:
                return None
    return total


#: Where the figures are drawn: :func:`figure_sources` starts from these modules.
FIGURE_MODULES = ("analysis.narrative.figures", "analysis.plots")


def figure_sources(roots: tuple[str, ...] = FIGURE_MODULES) -> list[tuple[str, bytes]]:
    """Return (module, bytes) of the package's modules the figures' drawing code runs, sorted.

    ``roots`` and every module of the package they import, transitively, read from their
    ``import`` statements. ``from package import name`` (a package, not a module) takes the
    package's ``__init__`` and everything it imports, since ``name`` may come from any of
    them; a module's own package ``__init__`` only re-exports (the package's style), so it is
    not followed. Imports inside functions count too. An edit elsewhere in the package leaves
    the figures' keys as they are; one in this code draws them anew.
    """
    import importlib.util

    found: dict[str, bytes] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        code = Path(spec.origin).read_bytes()
        found[name] = code
        package = name if spec.submodule_search_locations else name.rpartition(".")[0]
        for base, names in import_statements(code):
            if base is None:  # ``import a.b, c``
                todo += [n for n in names if n.split(".")[0] == "analysis"]
                continue
            level = len(base) - len(base.lstrip("."))
            if level:  # relative: from the module's package up
                parts = package.split(".")[: len(package.split(".")) - level + 1]
                base = ".".join([*parts, *([base[level:]] if base[level:] else [])])
            if base.split(".")[0] != "analysis":
                continue
            todo.append(base)
            # ``from analysis import plots`` names a module; ``from x import f`` a value.
            todo += [f"{base}.{n}" for n in names if _is_module(f"{base}.{n}")]
    return sorted(found.items())


#: An import statement at the start of a line: ``import a.b as c, d`` or ``from .x import (a,
#: b)``, a parenthesised name list over any number of lines, a backslash continuing a line.
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]*"
    r"(?P<names>\([^)]*\)|(?:[^\n\\]|\\\n)*)"
    r"|import[ \t]+(?P<modules>(?:[^\n\\]|\\\n)*))",
    re.MULTILINE,
)


def import_statements(code: bytes) -> list[tuple[str | None, list[str]]]:
    """Return the import statements of a module's source: (``from`` base or None, names).

    A scan of the text, not a parse: parsing the figures' two dozen modules cost about 0.2 CPU
    s of every report, to read a few lines of each. It finds every statement the parser does
    (the package's style puts one statement on a line); a line of a docstring that reads like
    an import adds a module to the figures' key at worst, which only draws them anew.
    """
    found: list[tuple[str | None, list[str]]] = []
    for match in _IMPORT.finditer(code.decode("utf-8")):
        if match["modules"] is not None:
            found.append((None, _names(match["modules"])))
        else:
            found.append((match["base"], _names(match["names"])))
    return found


def _names(text: str) -> list[str]:
    """Return the names of ``a as b, c`` (parentheses, comments and continuations dropped)."""
    lines = [line.split("#", 1)[0] for line in text.replace("\\\n", " ").splitlines()]
    items = " ".join(lines).strip().strip("()").split(",")
    return [item.split()[0] for item in items if item.split()]


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def figure_keys(
    analysis: findings.Analysis, text: Mapping, names: tuple[str, ...] = FIGURES
) -> dict[str, str]:
    """Return the cache key of each figure: a hash of everything its pixels depend on.

    Its name and inputs (the findings document, the timeline's per-minute tables, the locale
    text), the package's code that draws it (:func:`figure_sources`), the versions of the
    libraries that draw and encode it (matplotlib, seaborn, numpy, pandas, FreeType, Pillow,
    zlib), matplotlib's settings as
    ``plots.configure_plots`` left them, and the font files those settings resolve to.
    """
    import matplotlib
    import numpy as np
    import PIL
    import seaborn
    from matplotlib import ft2font
    from PIL import features

    from analysis import plots

    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    add("findings", findings.dump_findings(analysis.findings).encode())
    add("text", json.dumps(text, sort_keys=True, ensure_ascii=False).encode())
    tl = analysis.timeline
    tables = {"error_minutes": tl.error_minutes, "concurrency": tl.concurrency}
    tables.update({f"frame {key}": frame for key, frame in sorted(tl.frames.items())})
    for label, frame in tables.items():
        add(label, repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        add(label, pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    for module, code in figure_sources():
        add(module, code)
    # FreeType rasterises the glyphs; Pillow and its zlib write the PNG bytes.
    versions = (
        matplotlib.__version__,
        seaborn.__version__,
        np.__version__,
        pd.__version__,
        ft2font.__freetype_version__,
        PIL.__version__,
        features.version_codec("zlib"),
    )
    add("versions", repr(versions).encode())
    add("rc", repr(sorted((k, repr(v)) for k, v in matplotlib.rcParams.items())).encode())
    for font in plots.font_files():
        stat = os.stat(font)
        add("font", f"{font}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    keys = {}
    for name in names:
        one = digest.copy()
        one.update(f"figure:{name}".encode())
        keys[name] = one.hexdigest()[:32]
    return keys


def draw_figures(
    analysis: findings.Analysis,
    text: Mapping,
    settings: Settings | None = None,
    names: tuple[str, ...] = FIGURES,
) -> dict[str, bytes]:
    """Return the report's figures as PNG bytes by name, each drawn once per set of inputs.

    Call after ``plots.configure_plots``. A figure drawn before from the same inputs, code,
    libraries, settings and fonts (:func:`figure_keys`) is read from
    ``<cache_dir>/figures/<key>.png``; the others are drawn on ``settings.workers`` processes
    at once. The statistics cache's switch governs this cache too
    (``POSTMORTEM_NO_STATS_CACHE=1`` draws every figure). The bytes are the same either way:
    drawing is deterministic (docs/export.md, "Reproducible bytes").
    """
    from analysis import plots
    from analysis.narrative import build_figure

    settings = read_settings() if settings is None else settings
    folder = settings.cache_dir / "figures"
    keys = figure_keys(analysis, text, names) if settings.stats_cache else {}
    pngs: dict[str, bytes] = {}
    for name, key in keys.items():
        path = folder / f"{key}.png"
        if path.is_file():
            png = path.read_bytes()
            if png.startswith(_PNG_SIGNATURE) and png.endswith(_PNG_END):
                pngs[name] = png
                continue
            print(
                f"note: figure cache {path.name} unreadable; discarded and redrawn", file=sys.stderr
            )
            path.unlink(missing_ok=True)
    rank = {name: i for i, name in enumerate(DRAW_ORDER)}
    missing = sorted((n for n in names if n not in pngs), key=lambda n: rank.get(n, len(rank)))
    drawn = plots.render_pngs(
        lambda name: build_figure(name, analysis, text), missing, settings.workers
    )
    for name, png in drawn.items():
        if name in keys:
            _write_atomic(folder / f"{keys[name]}.png", png)
    pngs.update(drawn)
    return {name: pngs[name] for name in names}


def run_audit(
    incident: object, tl: timeline.Timeline, settings: Settings | None = None
) -> tuple[audit.QualityIssue, ...]:
    """Audit the data of the timeline's webinar: what it can and cannot support.

    With ``settings`` (and their caches on), an audit made before of the same incident tables
    and timeline, by the same package code and versions, is read from the stage cache
    (:func:`stage_key`); without, it is always made.
    """
    path = _stage_path("audit", settings, incident, tl, suffix=".pkl")
    cached = _read_pickle(path, tuple) if path else None
    if cached is not None and all(isinstance(i, audit.QualityIssue) for i in cached):
        return cached
    quality = audit.audit_incident(incident, tl)
    if path:
        _write_atomic(path, pickle.dumps(quality, protocol=pickle.HIGHEST_PROTOCOL))
    return quality


def compile_findings(
    incident: object,
    tl: timeline.Timeline,
    statistics: stats.WebinarStatistics | None,
    quality: tuple[audit.QualityIssue, ...],
    params: ReportParams,
    settings: Settings | None = None,
) -> findings.Analysis:
    """Compile the findings document, kept beside the objects it was compiled from.

    With ``settings`` (and their caches on), a document compiled before from the same
    incident, timeline, statistics, audit, parameters, package code and versions is read from
    the stage cache (:func:`stage_key`); the document goes through its JSON form either way,
    so a run reads the same values whether the cache hit or not.
    """
    stats_doc = None if statistics is None else statistics.to_dict()
    path = _stage_path(
        "findings", settings, incident, tl, stats_doc, quality, params, suffix=".json"
    )
    if path and path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict):
                return findings.Analysis(doc, tl, statistics, quality)
            problem = type(doc).__name__
        except (ValueError, UnicodeDecodeError) as exc:  # truncated: recompute
            problem = type(exc).__name__
        print(f"note: stage cache {path.name} unreadable ({problem}); discarded", file=sys.stderr)
        path.unlink(missing_ok=True)
    result = findings.compile_findings(incident, tl, statistics, quality, params)
    if not path:
        return result
    text = json.dumps(result.findings, ensure_ascii=False, allow_nan=False)
    _write_atomic(path, text.encode("utf-8"))
    return dataclasses.replace(result, findings=json.loads(text))


def analyse(
    incident: object, params: ReportParams, settings: Settings | None = None
) -> findings.Analysis:
    """Run timeline, audit and statistics for one webinar and compile its findings."""
    tl = build_timeline(incident, params, settings)
    statistics = run_statistics(tl, params, settings)
    quality = run_audit(incident, tl, settings)
    return compile_findings(incident, tl, statistics, quality, params, settings)
