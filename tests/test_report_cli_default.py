"""``make report`` without WEBINAR: the data's busiest webinar, never the shipped incident's id."""

from __future__ import annotations

import re
from pathlib import Path

import _unseen_agents as agents
import pytest

from analysis import report
from analysis.config import DEFAULT_WEBINAR_ID

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def forty(tmp_path_factory) -> tuple[Path, str]:
    """An incident of forty webinars, three of them live in the window."""
    directory = agents.write_incident(tmp_path_factory.mktemp("forty"), "forty_webinars")
    return directory, agents.truth("forty_webinars")["webinar_id"]


def test_without_a_webinar_the_report_takes_the_data_s_busiest(forty, monkeypatch, capsys):
    directory, busiest = forty
    seen = []
    monkeypatch.setattr(report, "run_report", lambda params, **_: seen.append(params))
    monkeypatch.setattr(report, "_print_outcome", lambda outcome: None)
    assert report.main([f"--data={directory}", "--out=/nonexistent/never-written"]) == 0
    assert [p.webinar_id for p in seen] == [busiest]
    err = capsys.readouterr().err
    assert f"webinar {busiest}" in err and "busiest of 40" in err, err
    assert DEFAULT_WEBINAR_ID not in err


def test_neither_the_makefile_nor_the_command_line_defaults_to_the_shipped_webinar():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^WEBINAR \?=\s*$", makefile, re.M), "WEBINAR ?= must be empty"
    assert DEFAULT_WEBINAR_ID not in makefile
    parser = report._parser("python -m analysis report", one=True)
    assert parser.parse_args([]).webinar == ""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `WEBINAR`"))
    assert DEFAULT_WEBINAR_ID not in row and "busiest" in row, row


def test_the_busiest_is_chosen_from_the_cached_load_and_the_prefetch_forked_for_it(
    forty, monkeypatch, capsys
):
    """A warm bare run reads the webinars and load tables, never the whole incident again.

    Before, the command line ingested the incident once more to pick the webinar (about 2.7 CPU
    s of a warm shipped report) and forked a prefetch without a webinar, so one was forked
    even when the caches held the run's statistics.
    """
    import analysis.ingest.incident as incident_module
    import analysis.pipeline as pipeline
    from analysis.ingest import load_incident
    from analysis.settings import read_settings

    directory, busiest = forty
    load_incident(directory, cache_dir=read_settings().cache_dir)  # the warm cache

    def whole(*_, **__):
        raise AssertionError("the whole incident was read to choose the webinar")

    monkeypatch.setattr(incident_module, "load_incident", whole)
    monkeypatch.setattr(pipeline, "load_directory", whole)
    forked = []
    monkeypatch.setattr(report, "fork_prefetch", lambda params, _: forked.append(params))
    monkeypatch.setattr(report, "Prefetch", whole)
    seen = []
    monkeypatch.setattr(report, "run_report", lambda params, **_: seen.append(params))
    monkeypatch.setattr(report, "_print_outcome", lambda outcome: None)
    assert report.main([f"--data={directory}", "--out=/nonexistent/never-written"]) == 0
    assert [p.webinar_id for p in seen] == [busiest]
    assert [p.webinar_id for p in forked] == [busiest]
    assert f"webinar {busiest}" in capsys.readouterr().err


def test_a_presence_only_export_picks_its_busiest_from_the_sessions_in_the_cache(tmp_path):
    """No monitor sample in the window: the cached sessions give the load, as ingest reads it."""
    from analysis.concurrency import busiest_webinar
    from analysis.ingest import describe_load, load_incident

    directory = agents.write_incident(tmp_path / "data", "presence_only")  # no monitor
    cache_dir = tmp_path / "cache"
    assert describe_load(directory, cache_dir=cache_dir, cached_only=True) is None
    incident = load_incident(directory, cache_dir=cache_dir)
    described = describe_load(directory, cache_dir=cache_dir, cached_only=True)
    assert incident.load_source == "presence"
    assert described is not None and len(described.concurrency) == len(incident.concurrency)
    assert busiest_webinar(described) == busiest_webinar(incident)
