"""``make report`` (HTML and PDF) on an incident of the third writer (tests/_unseen_mech.py).

What a new team gets back carries nothing of the shipped incident: not its webinar ids, its
title, its name or its error classes' identifiers, whether in the page, the PDF's text or the
executed notebook (the record of the run, which keeps the notebook's parameter defaults
beside the values papermill injected). One report, built once for the module.
"""

from __future__ import annotations

import shutil
import subprocess

import _unseen_mech as mech
import nbformat
import pytest

from analysis import report
from analysis.config import DEFAULT_INCIDENT_DIR
from analysis.ingest import describe_directory
from analysis.params import build_params, incident_seed

pytestmark = pytest.mark.notebook

CASE = "pool_and_realtime"
#: Identifiers only the shipped incident has (its error classes' constraint, table and column).
SHIPPED_ONLY = ("registrations_pkey", "marketing_stats", "rest/registrations", "registrations.id")


@pytest.fixture(scope="module")
def shipped_words(shared_cache_dir) -> list[str]:
    """The shipped incident's webinar ids, titles and name, read from its own files."""
    webinars, _ = describe_directory(DEFAULT_INCIDENT_DIR, cache_dir=shared_cache_dir)
    words = [str(w) for w in webinars["webinar_id"]] + [str(t) for t in webinars["title"]]
    words += [w[:8] for w in words[: len(webinars)]]  # an id's first block, as logs shorten it
    # Its seed too: a run given none takes its own incident's (the reports print it).
    seed = str(incident_seed(DEFAULT_INCIDENT_DIR))
    return [*words, DEFAULT_INCIDENT_DIR.name, "EventLive", seed, *SHIPPED_ONLY]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mech_report")
    directory = mech.write_incident(root / CASE, CASE)
    out = root / "out"
    chromium = report.find_chromium() is not None
    params = build_params(
        mech.truth(CASE)["webinar_id"],
        directory,
        output_dir=out,
        formats="html,pdf" if chromium else "html",
        lang="en",
    )
    report.run_report(params, progress=False)
    nb = nbformat.read(out / "postmortem.ipynb", as_version=4)
    texts = {
        "page": (out / "postmortem.html").read_text(encoding="utf-8"),
        "findings": (out / "findings.json").read_text(encoding="utf-8"),
        # Every cell's source and every output, as an analyst opening the record reads it.
        "notebook": nbformat.writes(nb),
    }
    if chromium and shutil.which("pdftotext"):
        texts["pdf"] = subprocess.run(
            ["pdftotext", str(out / "postmortem.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    # The test run's own scratch directory is named after the package's first incident.
    scratch = str(tmp_path_factory.getbasetemp())
    return {where: text.replace(scratch, "<tmp>") for where, text in texts.items()}


def test_the_report_and_its_record_hold_no_word_of_the_shipped_incident(built, shipped_words):
    if "pdf" not in built:
        pytest.skip("needs Chromium and pdftotext to read the PDF")
    found = {
        where: [w for w in shipped_words if w.lower() in text.lower()]
        for where, text in built.items()
    }
    assert found == {where: [] for where in built}


def test_the_record_s_parameters_cell_names_no_webinar_of_its_own(built):
    nb = nbformat.reads(built["notebook"], as_version=4)
    (defaults,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    (injected,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert 'webinar_id = ""' in defaults.source
    assert mech.truth(CASE)["webinar_id"] in injected.source
    # ... and where its outputs are: the published directory, not the staging one it ran in,
    # by its name alone (it lies outside the project; analysis.record_paths).
    assert 'output_dir = "out"' in injected.source and ".staging" not in built["notebook"]
    assert "<tmp>" not in injected.source
