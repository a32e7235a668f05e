"""``python -m analysis report|reports``: parameter errors, failure isolation, export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis import report
from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID
from analysis.exceptions import ReportError
from analysis.params import build_params

OTHER_WEBINAR = "c9c7d93a-d775-4f8e-9243-8fdbb3618e2a"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args], capture_output=True, text=True, check=False
    )


# The shell payload goes through a real process (python -m analysis, as make calls it); the
# other values through the same entry point in this process (seconds of imports fewer each).
@pytest.mark.parametrize(
    ("webinar", "process"),
    [
        ("$(touch /tmp/pwned)", True),
        ("nope", False),
        ("00000000-0000-4000-8000-000000000000", False),
    ],
)
def test_bad_webinar_gives_one_line_listing_the_webinars_and_exit_2(webinar, process, capsys):
    argv = ("report", f"--webinar={webinar}", "--no-progress")
    if process:
        done = _cli(*argv)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        from analysis.__main__ import main

        code = main(list(argv))
        out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: parameter 'webinar_id'")
    assert DEFAULT_WEBINAR_ID in lines[0] and OTHER_WEBINAR in lines[0]
    assert out == ""
    assert not Path("/tmp/pwned").exists()


def test_bad_language_is_refused_before_any_data_is_read(tmp_path):
    done = _cli("report", "--lang=fr", f"--data={tmp_path / 'absent'}")
    assert done.returncode == 2
    assert "'data_dir'" in done.stderr or "'lang'" in done.stderr


def test_reports_go_on_after_a_failure_and_name_it(monkeypatch, capsys, tmp_path):
    ran = []

    def fake_run(params, progress=True):
        ran.append(params.webinar_id)
        if params.webinar_id == OTHER_WEBINAR:
            raise ReportError("postmortem.ipynb, cell 4: TimelineError: no samples")
        return report.ReportOutcome(params.webinar_id, (params.output_dir / "x.html",))

    monkeypatch.setattr(report, "run_report", fake_run)
    code = report.main_all([f"--data={DEFAULT_INCIDENT_DIR}", f"--out={tmp_path}", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert sorted(ran) == sorted([DEFAULT_WEBINAR_ID, OTHER_WEBINAR])
    assert "reports: 1 of 2 written" in out
    assert f"failed {OTHER_WEBINAR}: postmortem.ipynb, cell 4: TimelineError: no samples" in out


def test_reports_survive_an_unexpected_crash(monkeypatch, capsys, tmp_path):
    def crash(params, progress=True):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(report, "run_report", crash)
    code = report.main_all([f"--data={DEFAULT_INCIDENT_DIR}", f"--out={tmp_path}"])
    out = capsys.readouterr().out
    assert code == 1 and "reports: 0 of 2 written" in out
    assert out.count("RuntimeError: Kernel died") == 2


def test_missing_chromium_still_writes_html_and_says_what_pdf_needs(monkeypatch, tmp_path):
    monkeypatch.setattr(report, "find_chromium", lambda: None)
    monkeypatch.setattr(report, "execute_notebook", lambda params, **_: _fake_executed(params))
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=tmp_path)
    outcome = report.run_report(params, progress=False)
    assert (tmp_path / "postmortem.html").exists() and not (tmp_path / "postmortem.pdf").exists()
    notes = [n for n in outcome.notes if n.startswith("PDF not written")]
    assert len(notes) == 1 and "chromium" in notes[0] and "fonts-noto-cjk" in notes[0]


def test_without_the_printer_fonts_the_pdf_is_printed_and_one_line_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(report, "execute_notebook", lambda params, **_: _fake_executed(params))
    monkeypatch.setattr(report, "printer_config", lambda: None)
    monkeypatch.setattr(report, "has_report_font", lambda lang: True)
    monkeypatch.setattr(report, "export_pdf", lambda nb, lang, chromium, **_: b"%PDF-1.4")
    monkeypatch.setattr(report, "find_chromium", lambda: "/usr/bin/chromium")
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=tmp_path)
    outcome = report.run_report(params, progress=False)
    assert (tmp_path / "postmortem.pdf").read_bytes() == b"%PDF-1.4"
    notes = [n for n in outcome.notes if "print-fonts" in n]
    assert len(notes) == 1 and "glyph by glyph" in notes[0]


def _fake_executed(params) -> Path:
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    params.output_dir.mkdir(parents=True, exist_ok=True)
    (params.output_dir / "findings.json").write_text('{"report": {"title": "t"}}', encoding="utf-8")
    path = params.output_dir / "postmortem.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# t")]), path)
    return path


def test_export_drops_hidden_cells_and_run_metadata():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook(
        cells=[
            new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
            new_code_cell(
                "x = 2", metadata={"tags": ["injected-parameters"], "papermill": {"duration": 1.0}}
            ),
            new_code_cell(
                "show()",
                execution_count=3,
                outputs=[new_output("stream", name="stderr", text="warn")],
            ),
            new_code_cell("show()", execution_count=4, metadata={"papermill": {"duration": 0.5}}),
        ],
        metadata={"papermill": {"start_time": "2026-11-26T06:00:00"}},
    )
    out = report.prepare_for_export(nb, "제목")
    assert [c.source for c in out.cells] == ["show()", "show()"]
    assert out.metadata["title"] == "제목" and "papermill" not in out.metadata
    assert all(c.execution_count is None and "papermill" not in c.metadata for c in out.cells)
    assert out.cells[0].outputs == []  # warnings stay in the executed record only
    assert len(nb.cells) == 4  # the record itself is untouched


def test_a_browser_failure_is_one_line_and_the_html_stays(monkeypatch, tmp_path):
    def broken(nb, lang, chromium, **_):
        raise RuntimeError("Target page, context or browser has been closed\n  at line 1")

    monkeypatch.setattr(report, "find_chromium", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(report, "export_pdf", broken)
    monkeypatch.setattr(report, "execute_notebook", lambda params, **_: _fake_executed(params))
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=tmp_path)
    with pytest.raises(ReportError) as err:
        report.run_report(params, progress=False)
    assert "\n" not in str(err.value) and "RuntimeError" in str(err.value)
    assert (tmp_path / "postmortem.html").exists()


def test_titles_reach_the_terminal_without_control_characters(monkeypatch, capsys, tmp_path):
    title = "\x1b[2J\x1b[31mowned\x07 웨비나"
    monkeypatch.setattr(
        report, "describe_incident", lambda *_: ({DEFAULT_WEBINAR_ID: title}, "Asia/Seoul")
    )

    def fail(params, progress=True):
        raise ReportError(f"cell 3: ValueError: {title}")

    monkeypatch.setattr(report, "run_report", fail)
    report.main_all([f"--data={DEFAULT_INCIDENT_DIR}", f"--out={tmp_path}", "--no-progress"])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mowned\\x07 웨비나" in out


def test_error_lines_escape_control_characters(capsys):
    from analysis.__main__ import main

    assert main(["check", "--data", "/nonexistent/\x1b[2Jx\x07"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[2Jx\\x07" in err
    assert err.count("\n") == 1


def test_the_report_kernel_keeps_no_history_and_is_stopped_at_once(tmp_path, monkeypatch):
    import papermill as pm

    from analysis.params import build_params

    seen: dict = {}

    def execute(input_path, output_path, **kwargs):
        seen.update(kwargs)
        Path(output_path).write_text("{}", encoding="utf-8")

    monkeypatch.setattr(pm, "execute_notebook", execute)
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=tmp_path)
    report.execute_notebook(params, progress=False)
    assert "--HistoryManager.enabled=False" in seen["extra_arguments"]
    assert seen["request_save_on_cell_execute"] is False
    assert seen["shutdown_kernel"] == "immediate"


#: nbclient's error when the kernel exits before any cell ran.
KERNEL_START_FAILURE = "Kernel died before replying to kernel_info"


def test_a_kernel_that_dies_before_its_first_reply_is_started_once_more(tmp_path, monkeypatch):
    import papermill as pm

    from analysis.params import build_params

    calls: list[str] = []

    def execute(input_path, output_path, **kwargs):
        calls.append(output_path)
        if len(calls) == 1:
            raise RuntimeError(KERNEL_START_FAILURE)
        Path(output_path).write_text("{}", encoding="utf-8")

    monkeypatch.setattr(pm, "execute_notebook", execute)
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=tmp_path)
    report.execute_notebook(params, progress=False)
    assert len(calls) == 2 and calls[0] == calls[1]


@pytest.mark.parametrize("message", [KERNEL_START_FAILURE, "some other failure"])
def test_a_kernel_that_keeps_failing_is_not_retried_forever(tmp_path, monkeypatch, message):
    import papermill as pm

    from analysis.params import build_params

    calls: list[str] = []

    def execute(input_path, output_path, **kwargs):
        calls.append(output_path)
        raise RuntimeError(message)

    monkeypatch.setattr(pm, "execute_notebook", execute)
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=tmp_path)
    with pytest.raises(RuntimeError, match=message):
        report.execute_notebook(params, progress=False)
    assert len(calls) == (2 if message == KERNEL_START_FAILURE else 1)
