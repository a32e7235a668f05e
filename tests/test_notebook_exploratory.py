"""The exploratory notebook walks an incident directory it has never seen, stage by stage."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR

pytestmark = pytest.mark.notebook

NOTEBOOK = NOTEBOOKS_DIR / "exploratory" / "new-incident.ipynb"


@pytest.fixture(scope="module")
def new_incident_dir(tmp_path_factory) -> Path:
    """A small simulated incident directory the notebook has never seen (20 minutes)."""
    from analysis.simulate import synthetic_params, write_incident

    params = synthetic_params(
        seed=5, minutes=20, base=40.0, peak=100.0, realtime_limit=70, disconnect_rate=0.01
    )
    return write_incident(params, tmp_path_factory.mktemp("new") / "incident").directory


def test_walks_a_new_incident_and_shows_every_stage(tmp_path: Path, monkeypatch, new_incident_dir):
    # Caches go to a temporary directory: the run leaves the working tree as it found it.
    monkeypatch.setenv("EVENTLIVE_CACHE_DIR", str(tmp_path / "cache"))
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
