"""The published executed notebook names no host path (analysis.record_paths).

A record as papermill writes it (injected parameters, ``metadata.papermill``, a library's
warning naming its file) for an incident under an analyst's home directory: after
``publish_record`` no absolute path, home directory or user name is left, and the paths read as
``findings.json`` shows them.
"""

from __future__ import annotations

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
