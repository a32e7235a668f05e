"""The run's settings, read from the environment: caches, worker processes, output parent.

The one module that reads the environment (``pipeline`` re-exports it); everything else takes
its settings as arguments. It imports nothing heavy, so ``python -m analysis report`` reads
its settings without loading the analysis stages, which run in the notebook's kernel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from analysis.config import INTERIM_DIR, REPORTS_DIR
from analysis.exceptions import ParameterError

#: ``1`` recomputes the statistics (and redraws the figures) instead of reading their caches.
ENV_NO_STATS_CACHE = "EVENTLIVE_NO_STATS_CACHE"
#: Parent directory of the caches (ingest's Parquet tables, the statistics); default data/interim.
ENV_CACHE_DIR = "EVENTLIVE_CACHE_DIR"
#: Processes the statistics spread the error classes over and the figures are drawn on
#: (default: the cores this process may use). The result is the same for any number; only
#: the wall time changes.
ENV_WORKERS = "EVENTLIVE_WORKERS"
#: Parent of the default output directory ``<reports>/<webinar>``; default reports/. The tests
#: point this and the cache at temporary directories, so a test run writes nothing in the
#: repository.
ENV_REPORTS_DIR = "EVENTLIVE_REPORTS_DIR"
#: Set by ``python -m analysis report`` in its kernel's environment only: the directory of the
#: run's prefetch, a process that computes the timeline and the statistics beside the kernel's
#: start (:func:`analysis.pipeline.prefetch_statistics`). Not meant to be set by hand.
ENV_PREFETCH_DIR = "EVENTLIVE_PREFETCH_DIR"
#: In a prefetch's directory: the lock its process holds until it ends, the statistics key
#: it will write a result for, written as soon as its timeline is built, and its process id
#: (the kernel stops waiting for a prefetch whose processes use no CPU for a minute).
PREFETCH_LOCK = "lock"
PREFETCH_KEY = "statistics.key"
PREFETCH_PID = "pid"


@dataclass(frozen=True)
class Settings:
    """Where the caches live and which are used; read once from the environment.

    Attributes
    ----------
    cache_dir : pathlib.Path
        Parent of ingest's Parquet cache, of ``stats/`` and of ``figures/``.
    stats_cache : bool
        Read and write the statistics and figure caches.
    workers : int
        Processes for the per-class statistics and the figures (1 = in this process).
    reports_dir : pathlib.Path
        Parent of a run's default output directory (``params.build_params(reports_dir=)``).
    prefetch_dir : pathlib.Path or None
        The run's prefetch directory (``EVENTLIVE_PREFETCH_DIR``): the statistics wait for the
        prefetch and read what it computed; None: no prefetch.
    """

    cache_dir: Path = INTERIM_DIR
    stats_cache: bool = True
    workers: int = 1
    reports_dir: Path = REPORTS_DIR
    prefetch_dir: Path | None = None

    def __post_init__(self) -> None:
        # The Python API is called from notebooks with plain strings; every stage joins paths.
        for name in ("cache_dir", "reports_dir", "prefetch_dir"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Path(value))


def read_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Return the :class:`Settings` named by the environment (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    return Settings(
        cache_dir=Path(env.get(ENV_CACHE_DIR) or INTERIM_DIR),
        stats_cache=env.get(ENV_NO_STATS_CACHE) != "1",
        workers=read_workers(env.get(ENV_WORKERS)),
        reports_dir=Path(env.get(ENV_REPORTS_DIR) or REPORTS_DIR),
        prefetch_dir=Path(env[ENV_PREFETCH_DIR]) if env.get(ENV_PREFETCH_DIR) else None,
    )


def read_workers(value: str | None) -> int:
    """Return the worker count of ``EVENTLIVE_WORKERS`` (default: the usable cores).

    Raises
    ------
    ParameterError
        When the value is not a whole number >= 1.
    """
    if value is None or value.strip() == "":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    text = value.strip()
    if not text.isdigit() or int(text) < 1:
        raise ParameterError(f"{ENV_WORKERS}: expected a whole number >= 1, found {value!r}")
    return int(text)
