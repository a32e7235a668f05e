"""The committed notebooks: each pair in sync, without outputs, a tagged parameters cell, thin
cells; the postmortem's stage cells hidden from the report."""

from __future__ import annotations

import ast

import jupytext
import nbformat
import pytest

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR
from analysis.params import DEFAULT_SEED, build_params

IPYNB = NOTEBOOKS_DIR / "postmortem.ipynb"
SCRIPT = NOTEBOOKS_DIR / "postmortem.py"


def _committed(pattern: str) -> list:
    return sorted(p for p in NOTEBOOKS_DIR.rglob(pattern) if ".ipynb_checkpoints" not in p.parts)


#: Every committed notebook, as its py:percent twin (the reviewed source).
SCRIPTS = _committed("*.py")


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_every_notebook_is_a_pair():
    assert SCRIPT in SCRIPTS and len(SCRIPTS) >= 2  # the report and the exploratory walk
    assert _committed("*.ipynb") == [s.with_suffix(".ipynb") for s in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_ipynb_and_py_percent_hold_the_same_cells(script):
    paired = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    script = jupytext.read(script)
    assert [(c.cell_type, c.source) for c in paired.cells] == [
        (c.cell_type, c.source) for c in script.cells
    ]
    assert [c.metadata.get("tags") for c in paired.cells] == [
        c.metadata.get("tags") for c in script.cells
    ]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs_and_names_the_project_kernel(script):
    nb = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in _code_cells(nb))
    assert nb.metadata["kernelspec"]["name"] == KERNEL_NAME


def test_parameters_cell_is_tagged_and_its_defaults_validate():
    nb = nbformat.read(IPYNB, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    values: dict = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), "parameters cell: plain assignments only"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert set(values) == {
        "webinar_id", "data_dir", "display_tz", "window_start", "window_end", "bucket", "lang",
        "seed", "output_dir", "plan_registrations",
    }  # fmt: skip
    # Empty zone: the notebook shows times in the zone of the incident's own incident.json.
    assert values["display_tz"] == ""
    # No incident's webinar or seed: the executed notebook of any incident keeps this cell
    # (papermill injects its values after it), so a default here travels with every report.
    # Empty: the webinar most sampled in the data, the seed of the incident's own window.
    assert values["webinar_id"] == "" and values["seed"] == ""
    params = build_params(**{**values, "webinar_id": "1", "display_tz": "Europe/Berlin"})
    assert params.lang == "ko" and params.display_tz == "Europe/Berlin"
    assert params.seed == 20260206  # the shipped window opens on 2026-02-06 (UTC)


def test_a_run_given_no_seed_takes_its_incident_s_window_start_day(tmp_path):
    (tmp_path / "incident.json").write_text('{"window_start": "2027-03-04T23:30:00+09:00"}')
    assert build_params("1", tmp_path).seed == 20270304  # 14:30 UTC
    assert build_params("1", tmp_path, seed="").seed == 20270304
    assert build_params("1", tmp_path, seed=7).seed == 7
    (tmp_path / "incident.json").write_text('{"window_start": "2027-03-04 23:30"}')  # no zone
    assert build_params("1", tmp_path).seed == DEFAULT_SEED


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_cells_only_call_into_the_package(script):
    nb = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in _code_cells(nb):
        tree = ast.parse(cell.source)
        defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        loops = [n for n in ast.walk(tree) if isinstance(n, ast.For | ast.While | ast.If)]
        assert not defined and not loops, cell.source
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] == "analysis", node.module
            if isinstance(node, ast.Import):
                raise AssertionError(f"plain import in a cell: {ast.unparse(node)}")


def _tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def test_each_stage_has_a_hidden_cell_that_shows_its_result():
    from analysis.report import HIDDEN_TAGS

    nb = nbformat.read(IPYNB, as_version=4)
    stages = [c for c in nb.cells if "stage" in _tags(c)]
    assert stages and all(_tags(c) & set(HIDDEN_TAGS) for c in stages)
    calls = [
        "pipeline.load_directory(", "build_params(", "pipeline.build_timeline(",
        "tabulate_classes(", "pipeline.run_statistics(", "pipeline.run_audit(",
        "pipeline.compile_findings(",
    ]  # fmt: skip
    sources = [c.source for c in stages]
    assert [next(i for i, s in enumerate(sources) if call in s) for call in calls] == sorted(
        next(i for i, s in enumerate(sources) if call in s) for call in calls
    ), "stages out of order"
    for cell in stages:
        last = ast.parse(cell.source).body[-1]
        assert isinstance(last, ast.Expr), f"a stage cell ends by showing something: {cell.source}"
    # Every parameter is read where the timeline is built: change one, rerun from that cell.
    (first,) = [c for c in stages if "pipeline.build_timeline(" in c.source]
    names = {n.id for n in ast.walk(ast.parse(first.source)) if isinstance(n, ast.Name)}
    assert {"webinar_id", "bucket", "window_start", "window_end", "display_tz", "seed"} <= names
    # The report's cells come after every stage and compute nothing of their own.
    shown = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and not _tags(c)]
    assert min(shown) > max(nb.cells.index(c) for c in stages)
    assert all("pipeline." not in nb.cells[i].source for i in shown)


def test_sections_and_report_cells_agree():
    from analysis.narrative import SECTIONS

    nb = nbformat.read(IPYNB, as_version=4)
    shown = []
    for cell in _code_cells(nb):
        for node in ast.walk(ast.parse(cell.source)):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "narrative.show"
                and isinstance(node.args[0], ast.Constant)
            ):
                shown.append(node.args[0].value)
    missing = [name for name in SECTIONS if name not in shown]
    unknown = [name for name in shown if name not in SECTIONS]
    assert not missing, f"sections without a notebook cell: {missing}"
    assert not unknown, f"notebook cells for sections narrative.SECTIONS does not know: {unknown}"
    assert shown == list(SECTIONS), "notebook cells and narrative.SECTIONS in different orders"


def test_imports_cell_freezes_what_it_imported_before_any_stage():
    # The stages' full garbage collections must not walk the imported modules again
    # (pipeline.freeze_imports): the call comes last in the imports cell, after every import.
    nb = nbformat.read(IPYNB, as_version=4)
    cells = [c for c in _code_cells(nb) if "parameters" not in c.metadata.get("tags", [])]
    first = cells[0]
    body = ast.parse(first.source).body
    calls = [ast.unparse(n) for n in body if isinstance(n, ast.Expr)]
    assert calls and calls[-1] == "pipeline.freeze_imports()", first.source
    assert all(isinstance(n, ast.Import | ast.ImportFrom) for n in body[:-2]), first.source
    later = "\n".join(c.source for c in cells[1:])
    assert "import " not in later, "an import after the freeze would be walked by every pass"


def test_without_parameters_the_notebook_reports_on_the_shipped_incident_s_main_webinar(
    shared_cache_dir,
):
    # What the empty webinar_id resolves to in JupyterLab: the webinar most sampled in the
    # data, found from the data (the notebook names none).
    from analysis.concurrency import busiest_webinar
    from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID
    from analysis.ingest import load_incident

    incident = load_incident(DEFAULT_INCIDENT_DIR, cache_dir=shared_cache_dir, progress=False)
    assert len(incident.webinars) > 1 and busiest_webinar(incident) == DEFAULT_WEBINAR_ID
    nb = nbformat.read(IPYNB, as_version=4)
    assert any("webinar_id or concurrency.busiest_webinar(incident)" in c.source for c in nb.cells)
