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
ENV_NO_STATS_CACHE = "POSTMORTEM_NO_STATS_CACHE"
#: Parent directory of the caches (ingest's Parquet tables, the statistics); default data/interim.
ENV_CACHE_DIR = "POSTMORTEM_CACHE_DIR"
#: Processes the statistics spread the error classes over and the figures are drawn on
#: (default: the cores this process may use). The result is the same for any number; only
#: the wall time changes.
ENV_WORKERS = "POSTMORTEM_WORKERS"
#: Parent of the default output directory ``<reports>/<webinar>``; default reports/. The tests
#: point this and the cache at temporary directories, so a test run writes nothing in the
#: repository.
ENV_REPORTS_DIR = "POSTMORTEM_REPORTS_DIR"
#: Set by ``python -m analysis report`` in its kernel's environment only: the directory of the
#: run's prefetch, a process that computes the timeline and the statistics beside the kernel's
#: start (:func:`analysis.pipeline.prefetch_statistics`). Not meant to be set by hand.
ENV_PREFETCH_DIR = "POSTMORTEM_PREFETCH_DIR"
#: Key of the user pseudonyms; read by :func:`analysis.privacy` (docs/contract.md §2).
ENV_PSEUDONYM_KEY = "POSTMORTEM_PSEUDONYM_KEY"
#: In a prefetch's directory: the lock its process holds until it ends, the statistics key
#: it will write a result for, written as soon as its timeline is built, and its process id
#: (the kernel stops waiting for a prefetch whose processes use no CPU for a minute).
PREFETCH_LOCK = "lock"
PREFETCH_KEY = "statistics.key"
PREFETCH_PID = "pid"
#: The names these variables had when the package was one incident's (``EVENTLIVE_*``). Each
#: is still read, as an alias: when both names are set, the new one wins (README.md).
ALIASES = {
    ENV_NO_STATS_CACHE: "EVENTLIVE_NO_STATS_CACHE",
    ENV_CACHE_DIR: "EVENTLIVE_CACHE_DIR",
    ENV_WORKERS: "EVENTLIVE_WORKERS",
    ENV_REPORTS_DIR: "EVENTLIVE_REPORTS_DIR",
    ENV_PREFETCH_DIR: "EVENTLIVE_PREFETCH_DIR",
    ENV_PSEUDONYM_KEY: "EVENTLIVE_PSEUDONYM_KEY",
}


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
        The run's prefetch directory (``POSTMORTEM_PREFETCH_DIR``): the statistics wait for the
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


def read_variable(env: Mapping[str, str], name: str) -> tuple[str, str | None]:
    """Return the variable ``name`` as ``(the name it was found under, its value)``.

    A variable counts as set when it holds any text (an empty value means "not given", as
    ``make`` passes unset values). ``name`` wins; its :data:`ALIASES` entry is read only when
    ``name`` is not set. Neither set: ``(name, None)``.
    """
    for key in (name, ALIASES.get(name)):
        if key is not None and env.get(key):
            return key, env[key]
    return name, None


def read_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Return the :class:`Settings` named by the environment (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    cache_dir = read_variable(env, ENV_CACHE_DIR)[1]
    reports_dir = read_variable(env, ENV_REPORTS_DIR)[1]
    prefetch_dir = read_variable(env, ENV_PREFETCH_DIR)[1]
    workers_name, workers = read_variable(env, ENV_WORKERS)
    return Settings(
        cache_dir=Path(cache_dir or INTERIM_DIR),
        stats_cache=read_variable(env, ENV_NO_STATS_CACHE)[1] != "1",
        workers=read_workers(workers, workers_name),
        reports_dir=Path(reports_dir or REPORTS_DIR),
        prefetch_dir=Path(prefetch_dir) if prefetch_dir else None,
    )


def read_workers(value: str | None, name: str = ENV_WORKERS) -> int:
    """Return the worker count of ``POSTMORTEM_WORKERS`` (default: the usable cores).

    Parameters
    ----------
    value : str or None
        The variable's text; None or blank: the usable cores.
    name : str
        The variable it was read from, for the error message.

    Raises
    ------
    ParameterError
        When the value is not a whole number >= 1.
    """
    if value is None or value.strip() == "":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    text = value.strip()
    if not text.isdigit() or int(text) < 1:
        raise ParameterError(f"{name}: expected a whole number >= 1, found {value!r}")
    return int(text)
