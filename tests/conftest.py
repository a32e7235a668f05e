"""Shared fixtures, and the rule that a test run leaves the repository as it found it.

Every run writes its reports and caches to a temporary directory: ``POSTMORTEM_REPORTS_DIR`` and
``POSTMORTEM_CACHE_DIR`` are set before the first test, so the package, its command line in a
subprocess and papermill's kernel all write there. At the end of the session every file of the
repository (ignored ones such as ``reports/`` and ``data/interim/`` included) is compared with
its state at the start; a file created, changed or removed fails the run, naming the file.

Under pytest-xdist (``make test`` runs two workers) the controller alone takes the snapshots,
since it outlives every worker; each worker gets its own reports directory (two tests in two
processes may write the default report of one webinar at once) and shares the controller's
cache directory (caches are written atomically, so concurrent writers are safe and the
shipped incident is ingested once).

The fixture incidents are small simulated incident directories written to temporary
directories: raw exports in the layout of docs/contract.md, read by the real ingest and its
schemas, so the stages downstream are tested on what they really receive.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from _hermetic import KEPT_MARKER, compare_snapshots, prune_kept, snapshot_tree

from analysis._jsonschema import skip_iri_grammars

# Before any test module imports nbconvert or papermill (which import jsonschema): the report's
# own processes skip the IRI grammars too, so each test process saves their compilation.
skip_iri_grammars()

from analysis.config import PROJECT_ROOT  # noqa: E402
from analysis.pipeline import ENV_CACHE_DIR, ENV_REPORTS_DIR  # noqa: E402

_STATE: dict = {}
SCRATCH_PREFIX = "eventlive-tests-"
#: How long the scratch directory of a failed run is kept before a later run removes it.
KEPT_FOR_S = 24 * 3600


def _is_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker process (the controller set its environment up)."""
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Point every default output of the package, and ``tmp_path``, at a temporary directory.

    Runs before pytest builds its ``tmp_path`` factory: unless ``--basetemp`` is given, the
    run's temporary directories go below its own scratch directory (xdist gives each worker
    ``<basetemp>/gw<n>``), not below the ``/tmp/pytest-of-<user>`` that every pytest process
    of the user shares, where each session deletes the one from three sessions back, whoever
    is still using it (docs/testing.md).
    """
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    _STATE["scratch"] = scratch
    if not _is_worker(config) and config.option.basetemp is None:
        config.option.basetemp = str(scratch / "tmp")
        # What failed runs kept a day ago or more: nobody is reading it any more.
        prune_kept(scratch.parent, SCRATCH_PREFIX, KEPT_FOR_S)
    _STATE["saved_env"] = {k: os.environ.get(k) for k in (ENV_REPORTS_DIR, ENV_CACHE_DIR)}
    os.environ[ENV_REPORTS_DIR] = str(scratch / "reports")
    if not (_is_worker(config) and os.environ.get(ENV_CACHE_DIR)):
        # A worker inherits the controller's environment: its cache directory is shared.
        os.environ[ENV_CACHE_DIR] = str(scratch / "interim")
    _STATE["cache_dir"] = Path(os.environ[ENV_CACHE_DIR])


def pytest_sessionstart(session: pytest.Session) -> None:
    """Record every file of the repository before the first test."""
    if not _is_worker(session.config):
        _STATE["before"] = snapshot_tree(PROJECT_ROOT)


#: The longest test files, longest first (profile in docs/testing.md). ``make test`` hands
#: whole files to two workers in collection order (``--dist loadfile --no-loadscope-reorder``):
#: started first, the long files run side by side and the short ones fill in at the end,
#: instead of a long file running alone while the other worker waits.
LONGEST_FILES = (
    "test_report.py",
    "test_hostile_report.py",
    "test_notebook_workbench.py",
    "test_fetch.py",
    "test_ingest_hostile.py",
    "test_narrative_sections.py",
    "test_makefile.py",
    "test_ingest.py",
    "test_ingest_bad_inputs.py",
    "test_actions.py",
    "test_unseen_mech.py",
    "test_unseen_shapes.py",
    "test_unseen_agents.py",
    "test_unseen_edges.py",
    "test_unseen_incidents.py",
    "test_unseen_stack.py",
    "test_simulate.py",
    "test_figures.py",
    "test_verdicts.py",
    "test_claims.py",
    "test_data_raw.py",
    "test_stats.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the files of :data:`LONGEST_FILES` first, in that order (a stable sort)."""
    rank = {name: number for number, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test created, changed or removed a file of the repository.

    A failed run keeps its scratch directory (its ``tmp_path`` directories included), names it
    and marks it; a later run removes it after a day. A passing run removes it at once.
    """
    if "before" not in _STATE:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        _STATE["keep"] = True
        (_STATE["scratch"] / KEPT_MARKER).touch()
        if reporter is not None:
            reporter.write("\n")  # after the progress line, which ends without one
            reporter.write_line(f"temporary files of this run kept in {_STATE['scratch']}")
    changes = compare_snapshots(_STATE["before"], snapshot_tree(PROJECT_ROOT))
    if changes:
        lines = [
            "the tests changed the repository (write to tmp_path or the scratch directories"
            f" instead): {len(changes)} file(s)",
            *changes[:20],
        ]
        if reporter is not None:
            reporter.write_sep("=", "repository not left as found", red=True)
            for line in lines:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the environment and remove the scratch directory (kept when a test failed)."""
    for key, value in _STATE.get("saved_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if "scratch" in _STATE and not _STATE.get("keep"):
        shutil.rmtree(_STATE["scratch"], ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Fixture incidents
# --------------------------------------------------------------------------------------------

#: A 20-minute incident of one webinar whose audience rises above its Realtime limit: Realtime
#: disconnects follow load, client bugs follow traffic. Small enough to analyse in seconds, with
#: enough errors that some verdicts are decided.
SMALL_INCIDENT = {
    "seed": 5,
    "minutes": 20,
    "base": 40.0,
    "peak": 100.0,
    "realtime_limit": 70,
    "disconnect_rate": 0.01,
    "bug_rate": 0.06,
}


@pytest.fixture(scope="session")
def shared_cache_dir() -> Path:
    """The cache directory of this run, shared by every process (``POSTMORTEM_CACHE_DIR``).

    Tests that need the shipped incident's tables, not a parse of their own, load it with this
    cache: it is parsed once per run instead of once per module (parsing and the cache are
    tested in test_ingest*.py).
    """
    return _STATE["cache_dir"]


@pytest.fixture(scope="session")
def small_incident_dir(tmp_path_factory) -> Path:
    """Raw incident directory (exports, tables, manifest) of :data:`SMALL_INCIDENT`."""
    from analysis.simulate import synthetic_params, write_incident

    written = write_incident(
        synthetic_params(**SMALL_INCIDENT), tmp_path_factory.mktemp("small") / "incident"
    )
    return written.directory


@pytest.fixture(scope="session")
def small_incident(small_incident_dir, tmp_path_factory):
    """The small incident as ingest loads it: canonical tables that passed the schemas."""
    from analysis.ingest import load_incident

    return load_incident(
        small_incident_dir, cache_dir=tmp_path_factory.mktemp("small-cache"), progress=False
    )


@pytest.fixture(scope="session")
def small_params(small_incident, small_incident_dir, tmp_path_factory):
    """Report parameters of the small incident's only webinar (outputs in a temporary dir)."""
    from analysis.params import build_params

    (webinar_id,) = small_incident.webinars["webinar_id"].astype(str)
    return build_params(
        webinar_id, small_incident_dir, lang="en", output_dir=tmp_path_factory.mktemp("out")
    )


@pytest.fixture(scope="session")
def small_analysis(small_incident, small_params, tmp_path_factory):
    """Every stage after ingest on the small incident: the findings and the objects behind them."""
    from analysis import pipeline

    settings = pipeline.Settings(cache_dir=tmp_path_factory.mktemp("small-stats"))
    return pipeline.analyse(small_incident, small_params, settings)
