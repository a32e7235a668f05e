"""A report's outputs appear together or not at all: kills, failures, a full disk, two runs at once.

Most tests drive the real staging and publication of :func:`analysis.report.run_report` with
a fast stand-in for the notebook (tests/_fake_report.py) in forked children that are killed at
random points; the slow test does the same with real reports.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import _fake_report
import nbformat
import pandas as pd
import pytest
from _fake_report import FILES

from analysis import outputs, report
from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID
from analysis.exceptions import ReportError
from analysis.params import build_params
from analysis.reproducible import pin_pdf_dates

PAUSE = 0.05


def _fork(out: Path, tag: str, pause: float = PAUSE) -> int:
    """Run the stand-in report in a forked child (no start-up cost); return its pid."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            _fake_report.install(tag, pause)
            report.run_report(_params(out, "html,pdf"), progress=False)
            code = 0
        finally:
            os._exit(code)
    return pid


def _run(out: Path, tag: str, pause: float = 0.0) -> None:
    assert os.waitstatus_to_exitcode(os.waitpid(_fork(out, tag, pause), 0)[1]) == 0


def _tag_of(out: Path) -> str | None:
    """Return the one run every file of ``out`` comes from; None when there is no directory.

    Fails when the directory mixes runs, misses a file or holds anything else.
    """
    if not out.exists():
        return None
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert found == sorted(FILES), found
    tags = {
        nbformat.read(out / "postmortem.ipynb", as_version=4).metadata.tag,
        json.loads((out / "findings.json").read_text())["report"]["title"],
        (out / "figures/a.png").read_text(),
        (out / "figures/b.png").read_text(),
        (out / "postmortem.html").read_text(),
        (out / "postmortem.pdf").read_text(),
    }
    assert len(tags) == 1, tags
    return tags.pop()


def _leftovers(out: Path) -> list[str]:
    return sorted(
        p.name
        for p in out.parent.iterdir()
        if p.name.startswith(f".{out.name}.") and not p.name.endswith(".lock")
    )


def _kill_at_random_points(out: Path, runs: int, seed: int) -> None:
    rng = random.Random(seed)
    began = time.monotonic()
    _run(out, f"timed-{seed}", PAUSE)
    span = time.monotonic() - began
    previous = _tag_of(out)
    kept = published = 0
    for i in range(runs):
        tag = f"run-{seed}-{i}"
        pid = _fork(out, tag)
        # Anywhere from the start to well past the end of an unkilled run (timed above, so a
        # loaded machine stretches the window with the run).
        time.sleep(rng.uniform(0, 1.5 * span))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        now = _tag_of(out)
        assert now in (previous, tag), (now, previous, tag)
        kept, published = kept + (now == previous), published + (now == tag)
        previous = now
    # Kills landed both before and after publication: the test saw both outcomes.
    assert kept and published, (kept, published)
    # The next run cleans up what the killed ones left and publishes completely.
    _run(out, "final")
    assert _tag_of(out) == "final"
    assert _leftovers(out) == []


def test_a_killed_run_leaves_the_previous_run_or_the_new_one(tmp_path):
    out = tmp_path / "reports" / "w"
    _run(out, "first")
    _kill_at_random_points(out, runs=20, seed=1)


def test_two_runs_at_once_each_publish_whole(tmp_path):
    out = tmp_path / "reports" / "w"
    for i in range(10):
        pids = [_fork(out, f"par-{i}-{j}", 0.005) for j in range(2)]
        for pid in pids:
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert _tag_of(out) in (f"par-{i}-0", f"par-{i}-1")
        assert _leftovers(out) == []


def _fake_in_process(monkeypatch, *, html=None) -> None:
    def execute(params, *, progress=True, failed_record=None, **_):
        target = params.output_dir / "postmortem.ipynb"
        nbformat.write(nbformat.v4.new_notebook(), target)
        (params.output_dir / "findings.json").write_text('{"report": {"title": "t"}}')
        return target

    monkeypatch.setattr(report, "execute_notebook", execute)
    monkeypatch.setattr(report, "export_html", html or (lambda nb, lang: "<html>new</html>"))
    monkeypatch.setattr(report, "has_report_font", lambda lang: True)


def _params(out: Path, formats: str = "html"):
    return build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, formats=formats, output_dir=out)


def _snapshot(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_a_full_disk_is_one_line_and_leaves_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "w"
    _run(out, "previous")
    before = _snapshot(out)

    def full(nb, lang):
        raise OSError(errno.ENOSPC, "No space left on device")

    _fake_in_process(monkeypatch, html=full)
    with pytest.raises(ReportError) as err:
        report.run_report(_params(out), progress=False)
    message = str(err.value)
    assert "\n" not in message and "no space left" in message and "unchanged" in message
    assert _snapshot(out) == before
    assert _leftovers(out) == []


def test_a_write_cut_short_by_the_system_is_one_line_and_leaves_the_previous_run(tmp_path):
    """A real short write: the kernel refuses to grow a file past RLIMIT_FSIZE mid-write."""
    import resource

    out = tmp_path / "w"
    _run(out, "previous")
    before = _snapshot(out)
    message = tmp_path / "message.txt"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _fake_report.install("big" * 20_000, 0.0)
            # Python ignores SIGXFSZ, so the write fails with EFBIG after a partial write.
            resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, resource.RLIM_INFINITY))
            try:
                report.run_report(_params(out, "html,pdf"), progress=False)
            except ReportError as exc:
                message.write_text(str(exc))
                code = 3
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3
    text = message.read_text()
    assert "\n" not in text and "file too large" in text and "unchanged" in text
    assert _snapshot(out) == before and _leftovers(out) == []


def test_an_unwritable_parent_is_one_line(tmp_path, monkeypatch):
    _fake_in_process(monkeypatch)
    parent = tmp_path / "reports"
    parent.mkdir()

    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    # Root ignores permission bits, so the refusal is the file system's answer, simulated.
    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(ReportError) as err:
        report.run_report(_params(parent / "w"), progress=False)
    assert "\n" not in str(err.value) and "permission denied" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_a_read_only_reports_directory_is_one_line(tmp_path, monkeypatch):
    _fake_in_process(monkeypatch)
    parent = tmp_path / "reports"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(ReportError) as err:
            report.run_report(_params(parent / "w"), progress=False)
    finally:
        parent.chmod(0o755)
    assert "\n" not in str(err.value) and "permission denied" in str(err.value)


def test_without_chromium_no_old_pdf_stays_beside_the_new_html(tmp_path, monkeypatch):
    out = tmp_path / "w"
    _run(out, "with-pdf")
    assert (out / "postmortem.pdf").exists()
    _fake_in_process(monkeypatch)
    monkeypatch.setattr(report, "find_chromium", lambda: None)
    outcome = report.run_report(_params(out, "html,pdf"), progress=False)
    assert not (out / "postmortem.pdf").exists()
    assert (out / "postmortem.html").read_text() == "<html>new</html>"
    assert any("PDF not written" in n for n in outcome.notes)
    assert any("previous run's postmortem.pdf was removed" in n for n in outcome.notes)


def test_a_failed_run_leaves_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "w"
    _run(out, "previous")
    before = _snapshot(out)

    def broken(nb, lang):
        raise ReportError("export failed")

    _fake_in_process(monkeypatch, html=broken)
    with pytest.raises(ReportError):
        report.run_report(_params(out), progress=False)
    assert _snapshot(out) == before and _leftovers(out) == []


def test_a_directory_with_other_files_is_refused_not_emptied(tmp_path, monkeypatch):
    out = tmp_path / "home"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _fake_in_process(monkeypatch)
    with pytest.raises(ReportError, match="not a report's outputs"):
        report.run_report(_params(out), progress=False)
    assert (out / "notes.txt").read_text() == "mine" and _leftovers(out) == []


def test_a_kill_between_the_fallback_renames_is_recovered(tmp_path):
    out = tmp_path / "w"
    _run(out, "previous")
    # What a kill between the two renames of the fallback publication leaves.
    out.rename(tmp_path / ".w.old-0123456789ab")
    with outputs.publish_lock(out):
        outputs.clean_stale(out)
    assert _tag_of(out) == "previous" and _leftovers(out) == []


def _start_real(out: Path, tag: str) -> subprocess.Popen:
    lang = "en" if tag.endswith(("1", "3", "5", "7", "9")) else "ko"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analysis",
            "report",
            f"--out={out}",
            f"--lang={lang}",
            "--formats=html,pdf" if report.find_chromium() else "--formats=html",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # Caches beside the output, not in the repository's data/interim.
        env={**os.environ, "POSTMORTEM_CACHE_DIR": str(out.parent / "cache")},
    )


def _real_complete(out: Path) -> str | None:
    """Return the language of a complete real run in ``out`` (None: no directory)."""
    if not out.exists():
        return None
    names = {p.name for p in out.iterdir()}
    want = {"postmortem.ipynb", "findings.json", "figures", "postmortem.html"}
    if report.find_chromium():
        want.add("postmortem.pdf")
    assert names == want, names
    page = (out / "postmortem.html").read_text(encoding="utf-8")
    nb = nbformat.read(out / "postmortem.ipynb", as_version=4)
    lang = nb.metadata.papermill.parameters["lang"]
    assert f'lang="{lang}"' in page
    return lang


@pytest.mark.slow
def test_real_reports_killed_at_random_points_and_run_at_once(tmp_path):
    out = tmp_path / "reports" / "w"
    rng = random.Random(7)
    previous = None
    # POSTMORTEM_SLOW_KILLS / _PAIRS shorten a trial run; the defaults are the full acceptance run.
    kills = int(os.environ.get("POSTMORTEM_SLOW_KILLS", "20"))
    pairs = int(os.environ.get("POSTMORTEM_SLOW_PAIRS", "10"))
    for i in range(kills):
        proc = _start_real(out, f"{i}")
        time.sleep(rng.uniform(0, 70))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        now = _real_complete(out)
        assert now in (previous, "en" if i % 2 else "ko"), (i, now, previous)
        previous = now
    for _ in range(pairs):
        procs = [_start_real(out, f"{j}") for j in range(2)]
        for proc in procs:
            assert proc.wait(timeout=900) == 0
        assert _real_complete(out) in ("en", "ko")
        assert _leftovers(out) == []


def test_a_truncated_statistics_cache_is_discarded_and_rebuilt(tmp_path, monkeypatch, capsys):
    import pandas as pd

    from analysis import pipeline, stats

    class Result:
        def to_dict(self):
            return {"classes": {"c": {"p": 0.5}}}

    computed = []
    monkeypatch.setattr(stats, "analyse_webinar", lambda *a, **k: computed.append(1) or Result())
    monkeypatch.setattr(stats.WebinarStatistics, "from_dict", staticmethod(lambda d: d))
    frames = {
        "c": pd.DataFrame(
            {"minute": [0, 1], "requests": [9, 9], "errors": [1, 2], "concurrency": [5, 6]}
        )
    }
    key = pipeline.statistics_key(frames, 1, 9)
    (tmp_path / f"{key}.json").write_text('{"classes": {"c": {"p"')  # a kill mid-write
    out = pipeline.cached_statistics(frames, 1, tmp_path, n_boot=9)
    assert out == Result().to_dict() and computed == [1]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "discarded and recomputed" in err[0]
    assert json.loads((tmp_path / f"{key}.json").read_text()) == Result().to_dict()
    # Read back from the rebuilt cache, no recomputation and no note.
    assert pipeline.cached_statistics(frames, 1, tmp_path, n_boot=9) == out and computed == [1]
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{key}.json"]


def test_kernel_notes_reach_the_outcome():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                outputs=[
                    nbformat.v4.new_output(
                        "stream", name="stderr", text="warn\nnote: cache rebuilt\n"
                    )
                ]
            )
        ]
    )
    assert report.kernel_notes(nb) == ["cache rebuilt"]


def test_the_kernel_keeps_freed_arrays_in_its_heap(monkeypatch):
    # glibc's malloc settings reach the kernel (docs/performance.md); a user's own are kept.
    for name in report.MALLOC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    env = report.kernel_environment(DEFAULT_INCIDENT_DIR)
    assert env["MALLOC_MMAP_THRESHOLD_"] == env["MALLOC_TRIM_THRESHOLD_"] == str(256 * 2**20)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert report.kernel_environment(DEFAULT_INCIDENT_DIR)["MALLOC_MMAP_THRESHOLD_"] == "65536"


def test_the_kernel_time_is_the_reported_incidents_window_start(tmp_path, monkeypatch):
    # Formats that record a time carry the incident's own window start, not a constant of
    # another incident; a user's SOURCE_DATE_EPOCH wins; an unreadable manifest gives 0.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "incident.json").write_text(
        '{"name": "x", "window_start": "2031-07-01T23:30:00+00:00",'
        ' "window_end": "2031-07-02T01:00:00+00:00"}',
        encoding="utf-8",
    )
    start = pd.Timestamp("2031-07-01T23:30:00Z")
    assert report.kernel_environment(tmp_path)["SOURCE_DATE_EPOCH"] == str(int(start.timestamp()))
    assert report.source_date_epoch(tmp_path / "missing") == "0"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "42")
    assert report.kernel_environment(tmp_path)["SOURCE_DATE_EPOCH"] == "42"


def test_the_pdfs_dates_are_the_incidents_not_the_printings():
    # Chromium's Skia writes the printing's time into the PDF's information dictionary; the
    # dates are written over, same length, so two printings of one report give the same bytes.
    printed = (
        b"%PDF-1.4\n1 0 obj\n<</Producer (Skia/PDF m156)\n"
        b"/CreationDate (D:20261201093907+09'00')\n/ModDate (D:20261201093907+09'00')>>"
    )
    pinned = pin_pdf_dates(printed, str(int(pd.Timestamp("2031-07-01T23:30:00Z").timestamp())))
    assert len(pinned) == len(printed)
    assert pinned.count(b"(D:20310701233000+00'00')") == 2 and b"2026" not in pinned
    assert pin_pdf_dates(printed, "not a number") == printed  # a user's odd value: untouched
    assert pin_pdf_dates(b"%PDF-1.7 no dates", "0") == b"%PDF-1.7 no dates"
