"""Incidents the team never saw (tests/unseen_incidents.py) through check, pipeline and report.

The directories are written by an independent writer (other projects, zones, error classes and
export shapes than the shipped incident); the expected numbers are the writer's own counts.
Tests marked ``xfail(strict=True)`` pin known bugs: when a fix lands they XPASS and fail, and
the fixer removes the marker.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import unseen_incidents as unseen
from _check_output import read_check_output

from analysis import pipeline, report
from analysis.__main__ import main as cli
from analysis.ingest import load_incident
from analysis.params import build_params

#: Class keys each case's faults must produce (the writer's own SQLSTATEs / Realtime codes).
EXPECTED_CLASSES = {
    "berlin_timeouts": {"57014", "42P01", "realtime:db_connect_throttled"},
    "newyork_midnight": {"53300", "realtime:database_lacks_connections"},
    "berlin_explorer": {"57014", "42P01"},
    "tokyo_quiet": set(),
}
#: Names only the shipped EventLive incident has; an incident without them must not show them.
SHIPPED_ONLY = (
    "registrations_pkey",
    "uq_marketing_stats_daily_key",
    "marketing_stats",
    "rest/profiles",
    "rest/registrations",
    "42703",
    "22P02",
)
FAST_CASES = ("newyork_midnight", "tokyo_quiet")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("unseen")
    return {name: unseen.write_incident(root / name, name) for name in unseen.CASES}


@pytest.fixture(scope="module")
def analysed(written, tmp_path_factory) -> dict[str, object]:
    out = {}
    for name in FAST_CASES:
        incident = load_incident(
            written[name], cache_dir=tmp_path_factory.mktemp("cache"), progress=False
        )
        params = build_params(
            unseen.webinar_of(written[name]),
            written[name],
            display_tz=incident.display_tz,
            lang="en",
            output_dir=tmp_path_factory.mktemp("out"),
        )
        settings = pipeline.Settings(cache_dir=tmp_path_factory.mktemp("stats"), workers=1)
        out[name] = (incident, pipeline.analyse(incident, params, settings))
    return out


def test_the_writer_is_deterministic(tmp_path):
    a = unseen.write_incident(tmp_path / "a", "tokyo_quiet")
    b = unseen.write_incident(tmp_path / "b", "tokyo_quiet")
    assert (a / "SHA256SUMS").read_text() == (b / "SHA256SUMS").read_text()


@pytest.mark.parametrize("name", sorted(unseen.CASES))
def test_check_reads_every_row(written, name, capsys):
    # The command line in this process (its imports are paid once); the next test runs it as
    # the user does, in a process of its own.
    truth = unseen.truth(name)
    code = cli(["check", f"--data={written[name]}"])
    done = capsys.readouterr()
    assert code == 0, done.err
    read, accepted, rejected, tables = read_check_output(done.out)
    assert read == accepted and rejected == 0
    assert f"requests {truth['requests']}," in tables
    assert f"db_errors {truth['db_errors']}," in tables
    assert f"registrations {truth['registrations']}," in tables


def test_check_caches_where_the_environment_says(written, tmp_path):
    env = {**os.environ, "POSTMORTEM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "check", f"--data={written['tokyo_quiet']}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("unseen-tokyo_quiet-")]


@pytest.mark.parametrize("name", FAST_CASES)
def test_pipeline_counts_agree_with_the_writer(analysed, name):
    truth = unseen.truth(name)
    incident, analysis = analysed[name]
    f = analysis.findings
    assert {c["key"] for c in f["error_classes"]} == EXPECTED_CLASSES[name]
    assert f["impact"]["requests"] == truth["requests"]
    assert f["impact"]["error_responses"] == truth["error_responses"]
    assert f["impact"]["errors_total"] == truth["db_errors"] + truth["realtime_errors"]
    assert f["audience"]["peak"] == truth["peak_viewers"]
    assert f["audience"]["unique_users"] == truth["unique_users"]
    assert f["audience"]["registrations"] == truth["registrations"]
    assert f["parameters"]["display_tz"] == unseen.CASES[name].display_tz
    for cls in f["error_classes"]:
        assert cls["count"] == (
            truth["db_errors_by_state"].get(cls["sql_state"]) or truth["realtime_errors"]
        )


def test_a_window_across_midnight_utc_keeps_every_error(analysed):
    incident, analysis = analysed["newyork_midnight"]
    first = analysis.findings["impact"]["first_error"]
    last = analysis.findings["impact"]["last_error"]
    assert first.startswith("2026-04-30T23:") and last.startswith("2026-05-01T00:")


def test_the_report_cli_shows_times_in_the_incident_s_own_zone(written, monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(report, "run_report", lambda params, **_: seen.append(params))
    monkeypatch.setattr(report, "_print_outcome", lambda outcome: None)
    directory = written["berlin_timeouts"]
    wid = unseen.webinar_of(directory)
    assert report.main([f"--webinar={wid}", f"--data={directory}", f"--out={tmp_path}"]) == 0
    assert seen[0].display_tz == "Europe/Berlin"


@pytest.mark.parametrize("name", FAST_CASES)
def test_no_shipped_incident_names_in_findings_of_another_incident(analysed, name):
    incident, analysis = analysed[name]
    text = json.dumps(analysis.findings, default=str)
    assert [word for word in SHIPPED_ONLY if word in text] == []


def test_a_class_on_several_endpoints_has_a_rate_of_at_most_one(analysed):
    incident, analysis = analysed["newyork_midnight"]
    (cls,) = [c for c in analysis.findings["error_classes"] if c["key"] == "53300"]
    assert cls["rate"] <= 1.0
    assert len(cls["endpoints"]) == 3
    codes = {q["code"] for q in analysis.findings["data_quality"]}
    assert "unmatched_status_pairs" not in codes


def _visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("name", ["berlin_timeouts", "tokyo_quiet"])
def test_make_report_on_an_unseen_incident(written, name, tmp_path):
    directory = written[name]
    wid = unseen.webinar_of(directory)
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "report",
            f"--webinar={wid}",
            f"--data={directory}",
            f"--out={out}",
            "--lang=en",
            "--no-progress",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    html = (out / "postmortem.html").read_text(encoding="utf-8")
    findings = (out / "findings.json").read_text(encoding="utf-8")
    assert "Traceback" not in html
    executed = json.loads((out / "postmortem.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    for leaked in ("198.51.100.", "example.org", "viewer.one"):
        assert leaked not in html and leaked not in findings
    with (directory / "tables/registrations.csv").open(encoding="utf-8") as fh:
        users = {row["user_id"] for row in csv.DictReader(fh)}
    assert users and not any(u in html or u in findings for u in users)
    assert json.loads(findings)["parameters"]["display_tz"] == unseen.CASES[name].display_tz
    assert "KST" not in _visible_text(html)
    # Text from the data (a title with markup) is shown, never interpreted.
    assert "<b>&amp; Q&A</b>" not in html
    if name == "berlin_timeouts":
        assert "&lt;b&gt;" in html or "&#60;b&#62;" in html


def test_a_webinar_without_viewer_samples_still_gets_findings(written, tmp_path):
    # newyork_midnight's second webinar is scheduled, never ran: no sessions, no samples, while
    # the project logged errors (the logs carry no webinar id).
    directory = written["newyork_midnight"]
    with (directory / "tables/webinars.csv").open(encoding="utf-8") as fh:
        (rehearsal,) = [r["id"] for r in csv.DictReader(fh) if r["status"] == "scheduled"]
    incident = load_incident(directory, cache_dir=tmp_path / "cache", progress=False)
    params = build_params(
        rehearsal, directory, display_tz=incident.display_tz, output_dir=tmp_path / "out"
    )
    settings = pipeline.Settings(cache_dir=tmp_path / "stats", workers=1)
    f = pipeline.analyse(incident, params, settings).findings
    assert {c["key"] for c in f["error_classes"]} == EXPECTED_CLASSES["newyork_midnight"]
    assert "no_concurrency_samples" in {q["code"] for q in f["data_quality"]}


@pytest.mark.parametrize("name", FAST_CASES)
def test_database_faults_get_the_verdict_their_writer_gave_them(analysed, name):
    # The writer fails a request above a concurrency threshold (capacity) or at every load
    # (threshold 0: a flat rate per request); this program never saw how it does either.
    _, analysis = analysed[name]
    verdicts = {v["error_class"]: v["verdict"] for v in analysis.findings["verdicts"]}
    for fault in unseen.CASES[name].faults:
        expected = "capacity" if fault.threshold > 0 else "traffic"
        assert verdicts.get(fault.sqlstate) == expected, (fault.sqlstate, verdicts)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(unseen.CASES) - set(FAST_CASES)))
def test_database_faults_get_their_verdict_on_the_other_cases(written, name, tmp_path):
    incident = load_incident(written[name], cache_dir=tmp_path / "cache", progress=False)
    params = build_params(
        unseen.webinar_of(written[name]),
        written[name],
        display_tz=incident.display_tz,
        lang="en",
        output_dir=tmp_path / "out",
    )
    settings = pipeline.Settings(cache_dir=tmp_path / "stats", workers=1)
    verdicts = {
        v["error_class"]: v["verdict"]
        for v in pipeline.analyse(incident, params, settings).findings["verdicts"]
    }
    for fault in unseen.CASES[name].faults:
        expected = "capacity" if fault.threshold > 0 else "traffic"
        assert verdicts.get(fault.sqlstate) == expected, (fault.sqlstate, verdicts)
