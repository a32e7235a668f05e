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
