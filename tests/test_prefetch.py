"""The report's prefetch: the statistics computed beside the kernel's start, read by content key."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from analysis import pipeline, report, stats
from analysis.params import build_params
from analysis.settings import PREFETCH_KEY, PREFETCH_LOCK, PREFETCH_PID


def _gone(pid: int, seconds: float = 10.0) -> bool:
    """Return True once ``pid`` no longer runs (or is a zombie nobody reaps)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                if handle.read().split(") ")[-1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def _kernel_params(params, incident):
    """The parameters as the notebook builds them from the values papermill gives it."""
    values = params.to_notebook()
    return build_params(
        values["webinar_id"],
        values["data_dir"],
        display_tz=values["display_tz"] or incident.display_tz,
        seed=values["seed"],
        lang=values["lang"],
        output_dir=values["output_dir"],
    )


def test_the_kernel_reads_what_the_prefetch_computed(
    small_incident, small_params, tmp_path, monkeypatch
):
    # Caches off (a cold report): the prefetch keeps its results in its own directory.
    settings = pipeline.Settings(cache_dir=tmp_path / "cache", stats_cache=False)
    prefetched = dataclasses.replace(settings, prefetch_dir=tmp_path / "prefetch")
    (tmp_path / "prefetch").mkdir()
    (tmp_path / "prefetch" / PREFETCH_LOCK).touch()
    pipeline.prefetch_statistics(small_params, prefetched)
    params = _kernel_params(small_params, small_incident)
    plain_tl = pipeline.build_timeline(small_incident, params, settings)
    plain = pipeline.run_statistics(plain_tl, params, settings)
    key = pipeline.statistics_key(plain_tl.frames, params.seed)
    assert (tmp_path / "prefetch" / PREFETCH_KEY).read_text(encoding="ascii") == key
    assert (tmp_path / "prefetch" / f"{key}.json").is_file()
    # The kernel's side builds nothing and computes nothing: both are read.
    monkeypatch.setattr(pipeline, "_build_timeline", lambda *a: pytest.fail("timeline built"))
    monkeypatch.setattr(stats, "analyse_webinar", lambda *a, **k: pytest.fail("computed"))
    tl = pipeline.build_timeline(small_incident, params, prefetched)
    read = pipeline.run_statistics(tl, params, prefetched)
    assert read.to_dict() == plain.to_dict()
    assert tl.classes == plain_tl.classes


def test_the_kernel_waits_for_the_key_it_needs_and_no_other(tmp_path):
    (tmp_path / PREFETCH_LOCK).touch()
    held = os.open(tmp_path / PREFETCH_LOCK, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # a prefetch still running
    try:
        (tmp_path / PREFETCH_KEY).write_text("another", encoding="ascii")
        started = time.monotonic()
        pipeline.await_prefetch(tmp_path, "mine")  # another key: returns at once
        assert time.monotonic() - started < 1.0
        (tmp_path / PREFETCH_KEY).write_text("mine", encoding="ascii")
        waiter = threading.Thread(target=pipeline.await_prefetch, args=(tmp_path, "mine"))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # the promised key: it waits for the prefetch to end
    finally:
        os.close(held)
    waiter.join(5)
    assert not waiter.is_alive()


def test_a_prefetch_that_ends_without_a_key_is_not_waited_for(tmp_path):
    (tmp_path / PREFETCH_LOCK).touch()
    held = os.open(tmp_path / PREFETCH_LOCK, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    waiter = threading.Thread(target=pipeline.await_prefetch, args=(tmp_path, "mine"))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # no key yet, still running
    os.close(held)  # it ended (failed, or nothing to test)
    waiter.join(5)
    assert not waiter.is_alive()
    pipeline.await_prefetch(tmp_path / "absent", "mine")  # no prefetch at all


# A stand-in prefetch: holds the lock, promises "mine", writes its pid, then either sleeps
# (hung: no CPU) or, like a prefetch whose pool computes, waits on a child that computes.
_FAKE_PREFETCH = """
import fcntl, os, sys, time
d, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
fd = os.open(os.path.join(d, "lock"), os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
open(os.path.join(d, "statistics.key"), "w").write("mine")
open(os.path.join(d, "pid"), "w").write(str(os.getpid()))
print("ready", flush=True)
if mode == "hung":
    time.sleep(seconds)
else:
    child = os.fork()
    if child == 0:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        os._exit(0)
    os.waitpid(child, 0)
"""


def _fake_prefetch(directory, mode, seconds):
    proc = subprocess.Popen(
        [sys.executable, "-c", _FAKE_PREFETCH, str(directory), mode, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_hung_prefetch_is_not_waited_for_past_its_stall(tmp_path, capsys):
    proc = _fake_prefetch(tmp_path, "hung", 60)
    try:
        assert (tmp_path / PREFETCH_PID).read_text() == str(proc.pid)
        started = time.monotonic()
        pipeline.await_prefetch(tmp_path, "mine", stall=1.0)
        assert time.monotonic() - started < 10
        assert proc.poll() is None  # it still holds the lock: the kernel computes instead
    finally:
        proc.kill()
        proc.wait()
    note = capsys.readouterr().err
    assert f"prefetch process {proc.pid}) have used no CPU for 1 s" in note
    assert "computed here instead (the same numbers)" in note


def test_a_prefetch_whose_workers_compute_is_waited_for(tmp_path, capsys):
    proc = _fake_prefetch(tmp_path, "busy", 3.0)  # its child computes for 3 s; it only waits
    try:
        started = time.monotonic()
        pipeline.await_prefetch(tmp_path, "mine", stall=1.0)
        assert proc.wait(5) == 0  # returned when the prefetch ended, not at its stall
        assert time.monotonic() - started >= 2.5
    finally:
        proc.kill()
        proc.wait()
    assert "note:" not in capsys.readouterr().err


def test_the_forked_prefetch_fills_the_cache_and_leaves_a_marker(
    small_incident, small_params, tmp_path, monkeypatch
):
    monkeypatch.setenv("POSTMORTEM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("POSTMORTEM_WORKERS", "1")
    monkeypatch.delenv("POSTMORTEM_NO_STATS_CACHE", raising=False)
    settings = pipeline.read_settings()
    prefetch = report.start_prefetch(small_params, report.NOTEBOOK)
    assert prefetch is not None
    os.waitpid(prefetch.pid, 0)
    prefetch.stop()
    assert not prefetch.directory.exists()
    params = _kernel_params(small_params, small_incident)
    tl = pipeline.build_timeline(small_incident, params, settings)
    key = pipeline.statistics_key(tl.frames, params.seed)
    assert (tmp_path / "stats" / f"{key}.json").is_file()
    assert report.prefetch_marker(small_params, settings).is_file()
    # A rerun has its statistics in the cache: no prefetch; nor for another notebook.
    assert report.start_prefetch(small_params, report.NOTEBOOK) is None
    assert report.start_prefetch(small_params, tmp_path / "stand-in.ipynb") is None


def test_the_marker_changes_with_the_data_and_the_parameters(small_params, tmp_path):
    settings = pipeline.Settings(cache_dir=tmp_path)
    marker = report.prefetch_marker(small_params, settings)
    assert marker == report.prefetch_marker(small_params, settings)
    other = dataclasses.replace(small_params, seed=small_params.seed + 1)
    assert report.prefetch_marker(other, settings) != marker
    moved = dataclasses.replace(small_params, output_dir=tmp_path / "elsewhere")
    assert report.prefetch_marker(moved, settings) == marker  # where files go: not an input
    data = next(p for p in sorted(small_params.data_dir.rglob("*")) if p.is_file())
    stat = data.stat()
    try:
        os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert report.prefetch_marker(small_params, settings) != marker
    finally:
        os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _slow_prefetch(params, settings):
    time.sleep(120)


def test_stop_ends_a_prefetch_that_still_runs(small_params, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "prefetch_statistics", _slow_prefetch)
    settings = pipeline.Settings(cache_dir=tmp_path, stats_cache=False)
    prefetch = report.Prefetch(settings)
    prefetch.start(small_params, None)
    started = time.monotonic()
    prefetch.stop()
    assert time.monotonic() - started < 5
    assert _gone(prefetch.pid)
    assert not prefetch.directory.exists()


def test_a_prefetch_ends_with_a_killed_report(small_params, tmp_path):
    code = (
        "import pathlib, sys, time\n"
        "from analysis import pipeline, report\n"
        "from analysis.params import build_params\n"
        "pipeline.prefetch_statistics = lambda params, settings: time.sleep(120)\n"
        "params = build_params(sys.argv[1], sys.argv[2], lang='en', output_dir=sys.argv[3])\n"
        "p = report.Prefetch(pipeline.Settings(cache_dir=pathlib.Path(sys.argv[3])))\n"
        "p.start(params, None)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    args = [small_params.webinar_id, str(small_params.data_dir), str(tmp_path)]
    parent = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child, 0.2)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _gone(child)
        # What it leaves: its small directory beside the caches (here tmp_path).
        assert [p.parent for p in tmp_path.glob("prefetch/run-*")] == [tmp_path / "prefetch"]
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_an_early_prefetch_waits_for_its_parameters_and_ends_without_them(
    small_incident, small_params, tmp_path, monkeypatch
):
    monkeypatch.setenv("POSTMORTEM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("POSTMORTEM_WORKERS", "1")
    monkeypatch.setenv("POSTMORTEM_NO_STATS_CACHE", "1")
    settings = pipeline.read_settings()
    idle = report.fork_prefetch(small_params, settings)
    assert not _gone(idle.pid, 0.3)  # forked, waiting for its parameters
    idle.stop()  # none come: it ends without computing
    assert _gone(idle.pid)
    early = report.fork_prefetch(small_params, settings)
    started = report.start_prefetch(small_params, report.NOTEBOOK, early)
    assert started is early
    os.waitpid(early.pid, 0)
    key = (early.directory / PREFETCH_KEY).read_text(encoding="ascii")
    assert (early.directory / f"{key}.json").is_file()  # caches off: in its own directory
    early.stop()
    assert not early.directory.exists()
    # Another notebook: the early prefetch is stopped, none is started.
    other = report.fork_prefetch(small_params, settings)
    assert report.start_prefetch(small_params, tmp_path / "stand-in.ipynb", other) is None
    assert _gone(other.pid)


def test_the_marker_is_the_same_before_and_after_the_zone_is_read(small_params, tmp_path):
    # The early fork names the marker before the incident's zone is known.
    settings = pipeline.Settings(cache_dir=tmp_path)
    zoned = dataclasses.replace(small_params, display_tz="Asia/Kathmandu")
    assert report.prefetch_marker(zoned, settings) == report.prefetch_marker(small_params, settings)
