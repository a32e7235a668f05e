"""Hostile and unlucky incident directories: one line and exit 2, or a correct read; never a
traceback, never a file outside the directory, never raw escape codes on the terminal.

The directories are built by tests/hostile_corpus.py from the shipped incident.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import hostile_corpus
import pandas as pd
import pytest

from analysis import ingest
from analysis.__main__ import main as cli
from analysis.ingest import cache, files

ROOT = Path(__file__).resolve().parents[1]


def _check(capsys, directory: Path, *extra: str) -> tuple[int, str, str]:
    code = cli(["check", "--data", str(directory), "--no-cache", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def built(tmp_path, monkeypatch):
    # A smaller bomb against a smaller cap: the same path through the code, in a second.
    monkeypatch.setattr(hostile_corpus, "BOMB_MIB", 24)
    monkeypatch.setattr(files, "MAX_GUNZIP_BYTES", 16 * 1024 * 1024)
    outside = tmp_path / "outside"
    outside.mkdir()

    def build(name: str) -> Path:
        return hostile_corpus.CASES[name].build(tmp_path / "cases", outside)

    return build


@pytest.mark.parametrize("name", sorted(hostile_corpus.CASES))
def test_hostile_case_is_one_line_or_a_correct_read(name, built, capsys):
    case = hostile_corpus.CASES[name]
    code, out, err = _check(capsys, built(name))
    assert "Traceback" not in out + err
    assert "\x1b" not in out + err
    if case.outcome == "ok":
        assert code == 0, err
        assert re.search(r"^tables: requests \d+", out, re.M)
    else:
        assert code == 2, out
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert re.search(case.message, lines[0]), lines[0]


def test_symlinked_source_dir_reads_the_same_rows(built):
    plain = ingest.load_incident(built("plain"), use_cache=False)
    linked = ingest.load_incident(built("symlinked-source-dir"), use_cache=False)
    assert len(linked.requests) == len(plain.requests) > 0
    assert linked.requests["id"].equals(plain.requests["id"])


def test_symlink_loop_reads_each_page_once(built):
    plain = ingest.load_incident(built("plain"), use_cache=False)
    looped = ingest.load_incident(built("symlink-loop"), use_cache=False)
    assert looped.accounting["read"].sum() == plain.accounting["read"].sum()


def test_webinar_without_end_reads_as_no_end(built):
    inc = ingest.load_incident(built("webinar-ends-9999"), use_cache=False)
    webinars = inc.webinars.set_index("title")
    assert webinars["ends_at"].isna().sum() == 1
    assert inc.accounting.set_index("kind").loc["webinars", "rejected"] == 0


def test_linked_secret_never_reaches_the_error_line(built, capsys):
    code, out, err = _check(capsys, built("annotations-linked-outside"))
    assert code == 2 and "PRIVATE-KEY-MATERIAL" not in out + err


def test_escape_codes_are_shown_escaped(built, capsys):
    code, out, _ = _check(capsys, built("ansi-in-names"))
    assert code == 0
    assert "evil\\x1b[2J\\x1b[31mred" in out
    assert "page-\\x1b[5mblink.json.gz" in out


def test_escape_codes_in_an_error_line_are_shown_escaped(tmp_path, capsys):
    root = hostile_corpus.small_copy(tmp_path / "x")
    # A note is skipped and listed: its name is shown escaped too.
    (root / "edge_logs" / "\x1b[31mnote.txt").write_text("hi")
    code, out, _ = _check(capsys, root)
    assert code == 0 and "\x1b" not in out and "skipped: edge_logs/\\x1b[31mnote.txt" in out
    (root / "edge_logs" / "\x1b[31mnote.dat").write_text("hi")
    code, _, err = _check(capsys, root)
    assert code == 2 and "\x1b" not in err and "\\x1b[31mnote.dat" in err


@pytest.mark.parametrize("target", ["page", "manifest", "directory"])
def test_unreadable_file_or_directory_is_one_line(built, capsys, monkeypatch, target):
    root = built("plain")
    bad = {
        "page": root / "postgres_logs" / "page-0001.json.gz",
        "manifest": root / "incident.json",
        "directory": root / "postgres_logs",
    }[target]
    real_read, real_scandir = Path.read_bytes, __import__("os").scandir

    # Tests run as root, which permissions do not stop: the OS's refusal is simulated.
    def read_bytes(self):
        if self == bad:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    def scandir(path="."):
        if Path(path) == bad:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr("os.scandir", scandir)
    monkeypatch.setattr("analysis.ingest.files.sha256_file", lambda p: _deny(p, bad))
    code, out, err = _check(capsys, root)
    assert code == 2 and "Traceback" not in err
    assert f"{bad}: cannot read; expected a readable file, found 'Permission denied'" in err


def _deny(path, bad):
    from analysis._util import sha256_file

    if Path(path) == bad:
        raise PermissionError(13, "Permission denied", str(path))
    return sha256_file(path)


def test_data_path_with_a_space_through_the_command_line(built):
    root = built("data-path-with-space")
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "check", "--data", str(root), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tables: requests" in done.stdout


def test_corrupt_parquet_cache_is_discarded_and_rebuilt(built, tmp_path, capsys):
    root = built("plain")
    first = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    slot = next(p for p in (tmp_path / "cache").iterdir() if not p.name.startswith("."))
    (slot / "requests.parquet").write_bytes(b"PAR1 truncated")
    capsys.readouterr()
    second = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    err = capsys.readouterr().err.strip().splitlines()
    assert not second.from_cache and len(err) == 1
    assert "unreadable" in err[0] and "rebuilding" in err[0]
    pd.testing.assert_frame_equal(first.requests, second.requests)
    third = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    assert third.from_cache


def test_a_cache_table_changed_after_writing_is_discarded(built, tmp_path, capsys):
    # A valid Parquet file of other rows: only the digests written with the slot notice it.
    root = built("plain")
    first = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    slot = next(p for p in (tmp_path / "cache").iterdir() if not p.name.startswith("."))
    first.requests.head(3).to_parquet(slot / "requests.parquet", index=False)
    capsys.readouterr()
    second = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    err = capsys.readouterr().err.strip().splitlines()
    assert not second.from_cache and len(err) == 1
    assert "requests.parquet differs from the file written" in err[0]
    pd.testing.assert_frame_equal(first.requests, second.requests)


def test_describe_directory_reads_only_the_webinars_of_a_slot(built, tmp_path, monkeypatch):
    root = built("plain")
    cold_webinars, cold_tz = ingest.describe_directory(root, cache_dir=tmp_path / "cache")
    inc = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    assert inc.from_cache and cold_tz == inc.display_tz
    pd.testing.assert_frame_equal(cold_webinars, inc.webinars)
    # Warm: nothing but the webinars table is read (the others may be gone).
    slot = next(p for p in (tmp_path / "cache").iterdir() if not p.name.startswith("."))
    (slot / "requests.parquet").unlink()
    monkeypatch.setattr("analysis.ingest.incident.load_incident", None)
    warm_webinars, warm_tz = ingest.describe_directory(root, cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(warm_webinars, inc.webinars)
    assert warm_tz == cold_tz


def test_concurrent_cache_writes_never_share_a_temporary_path(built, tmp_path):
    inc = ingest.load_incident(built("plain"), use_cache=False)
    slot = tmp_path / "cache" / "x-0123456789abcdef"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            cache.write_cache(slot, inc)
        except BaseException as exc:  # the test reports any failure of any writer
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.read_cache(slot) is not None
    assert [p.name for p in slot.parent.iterdir()] == [slot.name]  # no temporary left


@pytest.mark.slow
def test_two_checks_at_once_both_succeed(built, tmp_path):
    root = built("plain")
    cmd = [sys.executable, "-m", "analysis", "check", "--data", str(root)]
    cmd += ["--cache-dir", str(tmp_path / "cache")]
    runs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(), p.stderr.read()) for p in runs]
    for p in runs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0, 0], results
    assert all("Traceback" not in err for _, err in results)


def test_deeply_nested_json_is_one_line(built, capsys):
    root = built("plain")
    (root / "edge_logs" / "page-0009.json").write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = _check(capsys, root)
    assert code == 2 and "JSON nested too deeply" in err and "Traceback" not in err


def test_a_csv_cell_beyond_the_csv_module_default_reads(tmp_path):
    root = tmp_path / "big"
    (root / "exports").mkdir(parents=True)
    window = {"window_start": "2026-02-06T05:00:00Z", "window_end": "2026-02-06T06:00:00Z"}
    (root / "incident.json").write_text(json.dumps({"name": "b", **window}))
    query = "select " + ", ".join(f"c{i}" for i in range(40_000))  # ~300 KB
    (root / "exports" / "pg.csv").write_text(
        "id,timestamp,event_message,error_severity,query\n"
        f'p1,1770354600000000,"canceling statement due to statement timeout",ERROR,"{query}"\n'
    )
    inc = ingest.load_incident(root, use_cache=False)
    assert inc.db_errors["query"].iloc[0] == query
    assert inc.db_errors["sql_state"].iloc[0] == "57014"


def test_a_killed_runs_temporary_directories_are_removed_once_abandoned(built, tmp_path):
    import os
    import time

    cache_dir = tmp_path / "cache"
    old, fresh = cache_dir / ".incident-0123.ab12.tmp", cache_dir / ".incident-0123.cd34.old"
    for leftover in (old, fresh):
        (leftover / "slot").mkdir(parents=True)
        (leftover / "slot" / "requests.parquet").write_bytes(b"half")
    aged = time.time() - cache.ABANDONED_AFTER_S - 60
    os.utime(old, (aged, aged))
    ingest.load_incident(built("plain"), cache_dir=cache_dir)
    assert not old.exists()
    assert fresh.exists()  # young enough to belong to a run still writing
    assert [p.name for p in cache_dir.iterdir() if not p.name.startswith(".")]


def _kill_checks(root: Path, cache_dir: Path, kills: int, seed: int) -> None:
    """SIGKILL ``make check``'s program at random points; after each kill, every visible cache
    slot must be complete (a reader sees the previous run's tables or the new run's, never a
    half-written slot)."""
    import random
    import time

    cmd = [sys.executable, "-m", "analysis", "check", "--data", str(root)]
    cmd += ["--cache-dir", str(cache_dir)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
    full = time.perf_counter() - start  # an unkilled run, timed on this machine now
    shutil.rmtree(cache_dir)
    rng = random.Random(seed)
    for _ in range(kills):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, full))
        proc.kill()
        proc.wait()
        visible = []  # a run killed before it made the cache directory left nothing
        if cache_dir.exists():
            visible = [p for p in cache_dir.iterdir() if not p.name.startswith(".")]
        for slot in visible:
            assert cache.read_cache(slot) is not None, f"incomplete slot {slot.name}"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    slots = [p for p in cache_dir.iterdir() if not p.name.startswith(".")]
    assert len(slots) == 1 and cache.read_cache(slots[0]) is not None


def test_checks_killed_at_random_points_leave_only_complete_caches(built, tmp_path):
    _kill_checks(built("plain"), tmp_path / "cache", kills=4, seed=1)


@pytest.mark.slow
def test_twenty_killed_checks_leave_only_complete_caches(built, tmp_path):
    _kill_checks(built("plain"), tmp_path / "cache", kills=20, seed=2)
