"""The notebooks as a workbench: the exploratory walk runs on an incident it has never seen, and
in the postmortem notebook a parameter changed and rerun from the timeline cell reaches what
follows."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR

pytestmark = pytest.mark.notebook

NOTEBOOK = NOTEBOOKS_DIR / "exploratory" / "new-incident.ipynb"
POSTMORTEM = NOTEBOOKS_DIR / "postmortem.ipynb"


@pytest.fixture(scope="module")
def new_incident_dir(tmp_path_factory) -> Path:
    """A small simulated incident directory the notebook has never seen (20 minutes)."""
    from analysis.simulate import synthetic_params, write_incident

    params = synthetic_params(
        seed=5, minutes=20, base=40.0, peak=100.0, realtime_limit=70, disconnect_rate=0.01
    )
    return write_incident(params, tmp_path_factory.mktemp("new") / "incident").directory


@pytest.fixture(scope="module")
def new_incident_cache(tmp_path_factory) -> Path:
    """Caches of the new incident, shared by the walk and the rerun (the walk fills them)."""
    return tmp_path_factory.mktemp("new-cache")


def test_walks_a_new_incident_and_shows_every_stage(
    tmp_path: Path, monkeypatch, new_incident_dir, new_incident_cache
):
    # Caches go to a temporary directory: the run leaves the working tree as it found it.
    monkeypatch.setenv("POSTMORTEM_CACHE_DIR", str(new_incident_cache))
    out = tmp_path / "walk.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"data_dir": str(new_incident_dir)},
        kernel_name=KERNEL_NAME,
        progress_bar=False,
        cwd=str(NOTEBOOK.parent),
    )
    nb = nbformat.read(out, as_version=4)
    settings = {"parameters", "injected-parameters"}
    code = [
        c
        for c in nb.cells
        if c.cell_type == "code" and not settings & set(c.metadata.get("tags", []))
    ]
    shown = [c for c in code if c.outputs]
    # Every cell after the imports shows its table or object.
    assert len(shown) == len(code) - 1, [c.source for c in code if not c.outputs]
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert any(
        "dataframe" in o.get("data", {}).get("text/html", "") for c in shown for o in c.outputs
    )


def test_a_bucket_changed_and_rerun_from_the_timeline_cell_reaches_the_findings(
    tmp_path: Path, monkeypatch, new_incident_dir, new_incident_cache
):
    from nbclient import NotebookClient

    from analysis.concurrency import busiest_webinar
    from analysis.ingest import load_incident

    monkeypatch.setenv("POSTMORTEM_CACHE_DIR", str(new_incident_cache))
    incident = load_incident(new_incident_dir, cache_dir=new_incident_cache, progress=False)
    nb = nbformat.read(POSTMORTEM, as_version=4)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source += (
        f"\nwebinar_id = {busiest_webinar(incident)!r}\ndata_dir = {str(new_incident_dir)!r}"
        f"\noutput_dir = {str(tmp_path / 'out')!r}\nlang = 'en'"
    )
    client = NotebookClient(
        nb, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(tmp_path)}}
    )
    findings = tmp_path / "out" / "findings.json"
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        assert json.loads(findings.read_text())["report"]["bucket_minutes"] == 5
        # What an analyst does in Lab: edit the parameters cell, run it, then run from the
        # timeline cell down.
        parameters.source += "\nbucket = '10min'"
        client.execute_cell(parameters, nb.cells.index(parameters))
        start = next(i for i, c in enumerate(nb.cells) if "pipeline.build_timeline(" in c.source)
        for index in range(start, len(nb.cells)):
            client.execute_cell(nb.cells[index], index)
    doc = json.loads(findings.read_text())
    assert doc["report"]["bucket_minutes"] == 10
    assert len(doc["buckets"]) == 2  # a 20-minute window in 10-minute buckets
    shown = nb.cells[start].outputs[-1]["data"]["text/html"]
    assert shown.split("<tbody>")[1].count("<tr>") == 2  # the timeline cell shows two buckets


def test_a_report_on_an_incident_without_any_error(tmp_path: Path, monkeypatch):
    import dataclasses

    from analysis import report
    from analysis.params import build_params
    from analysis.simulate import synthetic_params, write_incident

    monkeypatch.setenv("POSTMORTEM_CACHE_DIR", str(tmp_path / "cache"))
    quiet = dataclasses.replace(
        synthetic_params(seed=5, minutes=20, base=40.0, peak=100.0, realtime_limit=70), errors=()
    )
    directory = write_incident(quiet, tmp_path / "incident").directory
    (webinar_id,) = _webinar_ids(directory)
    params = build_params(webinar_id, directory, formats="html", output_dir=tmp_path / "out")
    report.run_report(params, progress=False)
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert doc["error_classes"] == [] and doc["verdicts"] == []
    assert (tmp_path / "out" / "postmortem.html").stat().st_size > 0


def _webinar_ids(directory: Path) -> list[str]:
    import csv

    with (directory / "tables" / "webinars.csv").open(encoding="utf-8", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle)]
