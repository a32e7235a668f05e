"""House rules the suite itself keeps: tests leave the repository alone, and import no benchmark."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from _hermetic import compare_snapshots, snapshot_tree

TESTS = Path(__file__).resolve().parent


def test_a_created_changed_or_removed_file_is_named(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "kept.txt").write_text("a")
    (tmp_path / "edited.txt").write_text("a")
    (tmp_path / "gone.txt").write_text("a")
    (tmp_path / ".venv").mkdir()
    before = snapshot_tree(tmp_path)
    assert compare_snapshots(before, snapshot_tree(tmp_path)) == []
    (tmp_path / "reports" / "findings.json").write_text("{}")
    (tmp_path / "edited.txt").write_text("ab")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / ".venv" / "tool-state").write_text("x")  # a tool's directory: not ours
    assert compare_snapshots(before, snapshot_tree(tmp_path)) == [
        "created reports/findings.json",
        "removed gone.txt",
        "changed edited.txt",
    ]


def test_only_the_benchmarks_output_at_the_top_is_left_out(tmp_path):
    from _hermetic import BENCHMARK_OUTPUT_DIRS

    (tmp_path / ".bench").mkdir()
    (tmp_path / "data" / ".bench").mkdir(parents=True)
    before = snapshot_tree(tmp_path)
    (tmp_path / ".bench" / "edge.json.gz").write_text("x")  # a benchmark running beside
    (tmp_path / "data" / ".bench" / "x").write_text("x")
    assert compare_snapshots(before, snapshot_tree(tmp_path)) == ["created data/.bench/x"]
    # What is left out is git-ignored, written by a benchmark, and by nothing the tests run.
    root = TESTS.parent
    ignored = (root / ".gitignore").read_text(encoding="utf-8").split()
    for name in BENCHMARK_OUTPUT_DIRS:
        assert f"{name}/" in ignored or name in ignored, name
        named = re.compile(rf"[\"'/]{re.escape(name)}[\"'/]")
        writers = [
            p.name for p in (root / "benchmarks").glob("*.py") if named.search(p.read_text())
        ]
        assert writers, name
        users = [
            p.name
            for folder in ("src", "tests")
            for p in (root / folder).rglob("*.py")
            if p.name not in {"_hermetic.py", Path(__file__).name} and named.search(p.read_text())
        ]
        assert users == [], (name, users)


def test_only_kept_runs_a_day_old_are_pruned(tmp_path):
    from _hermetic import KEPT_MARKER, prune_kept

    for name in ("run-running", "run-kept-now", "run-kept-old", "other-kept-old"):
        (tmp_path / name).mkdir()
    for name in ("run-kept-now", "run-kept-old", "other-kept-old"):
        (tmp_path / name / KEPT_MARKER).touch()
    for name in ("run-kept-old", "other-kept-old"):
        os.utime(tmp_path / name / KEPT_MARKER, (0, 0))
    assert prune_kept(tmp_path, "run-", 24 * 3600) == [tmp_path / "run-kept-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other-kept-old",
        "run-kept-now",
        "run-running",
    ]


def test_tmp_path_is_private_to_this_run(tmp_path, request):
    import getpass
    import tempfile

    # Below this run's own scratch directory (conftest.py), not the user's shared
    # /tmp/pytest-of-<user>, where another session may delete it while this one runs.
    given = request.config.getoption("basetemp")
    if given is not None and "eventlive-tests-" not in str(given):
        pytest.skip("--basetemp given by the caller: theirs to choose")
    shared = Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
    assert not tmp_path.resolve().is_relative_to(shared.resolve())
    assert any(part.startswith("eventlive-tests-") for part in tmp_path.resolve().parts)


def test_the_scratch_directories_are_outside_the_repository():
    from analysis import pipeline
    from analysis.config import PROJECT_ROOT
    from analysis.params import build_params

    settings = pipeline.read_settings()  # what conftest.py set for the whole run
    assert not settings.cache_dir.resolve().is_relative_to(PROJECT_ROOT)
    assert not settings.reports_dir.resolve().is_relative_to(PROJECT_ROOT)
    params = build_params("f257ce42-723a-4fad-a9a5-1bd8c154d7ce", reports_dir=settings.reports_dir)
    assert not params.output_dir.is_relative_to(PROJECT_ROOT)


def test_no_test_imports_benchmark_code():
    imports = re.compile(r"^\s*(import|from)\s+(benchmarks|bench_)", re.M)
    # Loading a file by path, from a module that names the benchmarks directory (how
    # benchmark code got into a test before).
    loads = re.compile(r"spec_from_file_location|run_path\(|sys\.path\.(insert|append)")
    names_benchmarks = re.compile(r"""["']benchmarks["'/]""")
    offenders = []
    for path in TESTS.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == Path(__file__).name:
            continue
        if imports.search(text) or (loads.search(text) and names_benchmarks.search(text)):
            offenders.append(path.name)
    assert offenders == []


def test_settings_name_the_reports_and_cache_directories_from_the_environment(tmp_path):
    from analysis import pipeline
    from analysis.config import INTERIM_DIR, REPORTS_DIR

    env = {pipeline.ENV_REPORTS_DIR: str(tmp_path / "r"), pipeline.ENV_CACHE_DIR: str(tmp_path)}
    settings = pipeline.read_settings(env)
    assert settings.reports_dir == tmp_path / "r" and settings.cache_dir == tmp_path
    bare = pipeline.read_settings({})
    assert bare.reports_dir == REPORTS_DIR and bare.cache_dir == INTERIM_DIR


def test_the_repository_cites_no_note_outside_it():
    """Rationale lives in docs/ (docs/statistics.md, docs/supabase-exports.md, ...)."""
    root = TESTS.parent
    # The names are split so that this file is not itself a hit of a grep for them.
    notes = "stats_feasibility supabase_logs export_feasibility anchors incident_facts aesthetics"
    notes = [name.replace("_", "-") for name in notes.split()]
    outside = re.compile(rf"({'|'.join(notes)})\.md|\.\./shared|shared/reference")
    kinds = {".py", ".md", ".sql", ".json", ".toml", ".yml", ".j2", ".ipynb", ".sh"}
    found = []
    for folder in ("src", "tests", "docs", "notebooks", "benchmarks", "scripts", "data"):
        for path in (root / folder).rglob("*"):
            if path.suffix in kinds and path.is_file() and "raw" not in path.parts:
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    if outside.search(line) and path != Path(__file__):
                        found.append(f"{path.relative_to(root)}:{number}")
    for name in ("README.md", "Makefile", "pyproject.toml", "environment.yml"):
        text = (root / name).read_text(encoding="utf-8")
        found += [
            f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside.search(line)
        ]
    assert found == []
