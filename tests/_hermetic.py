"""What a test run may not do: change a file of the repository (test helper)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

#: Directories of tools, not of the project: their contents change on every run.
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "build",
    "dist",
}

#: Generated, git-ignored output of the benchmarks, which no test runs (test_hygiene.py checks
#: that no test imports benchmark code): ``benchmarks/bench_ingest.py`` writes its exports to
#: ``.bench/``, and a benchmark running beside ``make test`` must not fail the suite. Every other
#: ignored directory (``reports/``, ``data/interim/``, ...) stays in the snapshot: the package
#: writes there by default, so a test writing there is a test that was not pointed elsewhere.
BENCHMARK_OUTPUT_DIRS = {".bench"}


def snapshot_tree(root: Path) -> dict[str, tuple[int, int]]:
    """Return ``{relative path: (mtime in ns, size)}`` of every file below ``root``.

    Directories of tools (:data:`SKIPPED_DIRS`, ``*.egg-info``) and the benchmarks' output at
    the top (:data:`BENCHMARK_OUTPUT_DIRS`) are left out; ignored files such as ``reports/`` and
    ``data/interim/`` are included, since ``git status`` cannot see them.
    """
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        top = folder == str(root)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIPPED_DIRS
            and not d.endswith(".egg-info")
            and not (top and d in BENCHMARK_OUTPUT_DIRS)
        ]
        for name in files:
            if name in SKIPPED_DIRS:  # a worktree's .git is a file
                continue
            path = Path(folder) / name
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed while we walked
                continue
            found[path.relative_to(root).as_posix()] = (info.st_mtime_ns, info.st_size)
    return found


def compare_snapshots(before: dict, after: dict) -> list[str]:
    """Return one line per file created, changed or removed between two snapshots."""
    lines = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return lines


#: Written into the scratch directory a failed run keeps (conftest.py), with the time it was kept.
KEPT_MARKER = "KEPT-BY-A-FAILED-RUN"


def prune_kept(parent: Path, prefix: str, max_age_s: float, now: float | None = None) -> list[Path]:
    """Remove the scratch directories failed runs kept more than ``max_age_s`` seconds ago.

    Only directories named ``<prefix>*`` that hold :data:`KEPT_MARKER` are removed (a running
    session's scratch directory has none), so kept runs do not pile up without end. Returns
    the directories removed.
    """
    now = time.time() if now is None else now
    removed = []
    for folder in parent.glob(f"{prefix}*"):
        marker = folder / KEPT_MARKER
        try:
            old = now - marker.stat().st_mtime > max_age_s
        except OSError:  # no marker: not a kept run (or it went meanwhile)
            continue
        if old:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
