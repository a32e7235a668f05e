"""The published executed notebook names no host path (analysis.record_paths).

A record as papermill writes it (injected parameters, ``metadata.papermill``, a library's
warning naming its file) for an incident under an analyst's home directory: after
``publish_record`` no absolute path, home directory or user name is left, and the paths read as
``findings.json`` shows them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from analysis.config import PROJECT_ROOT
from analysis.params import ReportParams
from analysis.record_paths import publish_record, show_path

USER = "kimminji"


def _record(stage: Path, params: ReportParams, notebook: Path, site: Path) -> Path:
    """Write a record the way papermill writes one into ``stage``."""
    injected = "\n".join(
        [
            "# Parameters",
            f'webinar_id = "{params.webinar_id}"',
            f'data_dir = "{params.data_dir}"',
            'lang = "en"',
            f'output_dir = "{stage}"',
            "",
        ]
    )
    warning = f"{site}/pandas/core/frame.py:12: FutureWarning: x\n"
    nb = new_notebook(
        cells=[
            new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
            new_code_cell("work()", outputs=[new_output("stream", name="stderr", text=warning)]),
        ],
        metadata={
            "papermill": {
                "input_path": str(notebook),
                "output_path": str(stage / "postmortem.ipynb"),
                "parameters": {
                    "data_dir": str(params.data_dir),
                    "output_dir": str(stage),
                    "lang": "en",
                },
            }
        },
    )
    path = stage / "postmortem.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home" / USER
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize("inside", [False, True], ids=["incident-in-home", "incident-in-project"])
def test_the_record_shows_paths_as_the_findings_do(home, tmp_path, inside):
    data = PROJECT_ROOT / "data" / "raw" / "x" if inside else home / "Downloads" / "incident"
    out = home / "reports" / "w1"
    stage = home / "reports" / ".w1.staging-abc"
    stage.mkdir(parents=True)
    params = ReportParams(webinar_id="w1", data_dir=data, output_dir=out)
    site = home / ".local" / "lib" / "site-packages"
    record = _record(stage, params, PROJECT_ROOT / "notebooks" / "postmortem.ipynb", site)

    publish_record(record, params, stage)

    text = record.read_text(encoding="utf-8")
    assert USER not in text and str(tmp_path) not in text and ".staging" not in text
    nb = nbformat.reads(text, as_version=4)
    shown_data = "data/raw/x" if inside else "incident"
    assert show_path(data) == shown_data
    papermill = nb.metadata.papermill
    assert papermill.parameters == {"data_dir": shown_data, "output_dir": "w1", "lang": "en"}
    assert papermill.input_path == "notebooks/postmortem.ipynb"
    assert papermill.output_path == "w1/postmortem.ipynb"
    injected = nb.cells[0].source
    assert f"data_dir = {json.dumps(shown_data)}" in injected and 'output_dir = "w1"' in injected
    assert 'webinar_id = "w1"' in injected and 'lang = "en"' in injected
    # A library's file in the home directory keeps its place below it, not its owner.
    assert nb.cells[1].outputs[0].text.startswith("~/.local/lib/site-packages/pandas/")


def test_a_private_directory_name_is_redacted_and_a_longer_name_is_no_prefix(home, tmp_path):
    data = home / "kim.folder@private-mail.example"
    out = tmp_path / "elsewhere" / "out"
    stage = tmp_path / "elsewhere" / ".out.staging-1"
    stage.mkdir(parents=True)
    params = ReportParams(webinar_id="w1", data_dir=data, output_dir=out)
    # /home/kimminji is no prefix of /home/kimminjiX: a whole component only.
    site = home.parent / f"{USER}X" / "lib"
    record = _record(stage, params, tmp_path / "custom.ipynb", site)

    publish_record(record, params, stage)

    nb = nbformat.read(record, as_version=4)
    assert nb.metadata.papermill.parameters["data_dir"] == "[email]"
    assert 'data_dir = "[email]"' in nb.cells[0].source
    assert nb.metadata.papermill.input_path == f"{tmp_path.name}/custom.ipynb"
    assert "private-mail" not in record.read_text(encoding="utf-8")
    assert f"{USER}X/lib" in nb.cells[1].outputs[0].text


def test_a_failed_run_s_record_names_no_host_path(home, tmp_path, monkeypatch):
    """``<out>.failed.ipynb`` (kept beside the output directory when a cell fails) is rewritten too.

    papermill writes the absolute paths into it as into any record, and the failing cell's
    traceback names the notebook's and the libraries' files.
    """
    from analysis import report
    from analysis.report import ReportError

    data = home / "Downloads" / "incident"
    out = home / "reports" / "w1"
    site = home / ".venv" / "lib" / "site-packages"

    def execute(params, *, progress=True, failed_record=None, notebook=None, **_):
        stage = params.output_dir
        record = _record(stage, dataclasses.replace(params, output_dir=out), notebook, site)
        nb = nbformat.read(record, as_version=4)
        trace = f"\x1b[0;31mKeyError\x1b[0m  {site}/pandas/core/indexes/base.py:3812 in {data}/x"
        nb.cells[1].outputs.append(
            new_output("error", ename="KeyError", evalue="'x'", traceback=[trace])
        )
        nbformat.write(nb, record)
        record.replace(failed_record)
        raise ReportError(
            f"postmortem.ipynb, cell 1: KeyError: 'x' (executed record: {failed_record})"
        )

    monkeypatch.setattr(report, "execute_notebook", execute)
    monkeypatch.setattr(report, "has_report_font", lambda lang: True)
    params = ReportParams(webinar_id="w1", data_dir=data, output_dir=out, formats=("html",))
    with pytest.raises(ReportError):
        report.run_report(params, progress=False)

    failed = out.parent / "w1.failed.ipynb"
    text = failed.read_text(encoding="utf-8")
    assert USER not in text and str(tmp_path) not in text and ".staging" not in text
    nb = nbformat.reads(text, as_version=4)
    assert nb.metadata.papermill.parameters["data_dir"] == "incident"
    assert (
        "~/.venv/lib/site-packages/pandas/core/indexes/base.py"
        in nb.cells[1].outputs[1].traceback[0]
    )


def test_the_index_of_reports_shows_failures_without_host_paths_or_private_values(home):
    """``reports/index.html`` is a stakeholder page: a failure's reason is shown as one."""
    from analysis import listing, narrative

    root = home / "reports"
    (root / "gone").mkdir(parents=True)
    reason = (
        f"{home}/incident/logs/edge.json, row 7: expected a timestamp, got 'kim.minji@example.com'"
        f" ({PROJECT_ROOT}/src/analysis/ingest/cells.py)"
    )
    page = listing.write_listing(
        root, {"gone": root / "gone"}, {"w2": reason}, {}, narrative.load_locale("en")
    ).read_text(encoding="utf-8")
    assert USER not in page and str(home) not in page and str(PROJECT_ROOT) not in page
    assert "kim.minji" not in page and "[email]" in page
    assert "~/incident/logs/edge.json, row 7" in page and "./src/analysis/ingest/cells.py" in page
    assert "gone/findings.json: unreadable" in page
