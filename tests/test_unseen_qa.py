"""Incidents from a second independent writer (tests/_unseen_qa.py) through ``check``.

Every export shape a user can produce, incidents with one log source only, other zones and
window lengths, and table exports as Studio and other tools write them. The expected counts
are the writer's own.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources

import _unseen_qa as qa
import pandas as pd
import pytest

from analysis import actions, naming, pipeline, stats
from analysis.__main__ import main as cli
from analysis.ingest import load_incident
from analysis.params import build_params


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    return {name: qa.write_incident(root / name, name) for name in qa.CASES}


def _table_line(out: str, kind: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("tables:"))


@pytest.mark.parametrize("name", sorted(qa.CASES))
def test_check_reads_every_row_of_every_shape(written, name, capsys):
    truth = qa.truth(name)
    code = cli(["check", f"--data={written[name]}"])
    done = capsys.readouterr()
    assert code == 0, done.err
    total = next(line for line in done.out.splitlines() if line.startswith("TOTAL"))
    read, accepted, rejected = (int(v) for v in total.split()[1:4])
    assert (read, rejected) == (accepted, 0)
    tables = _table_line(done.out, "tables")
    assert f"requests {truth['requests']}," in tables
    assert f"db_errors {truth['db_errors']}," in tables
    assert f"realtime_events {truth['realtime_rows']}," in tables
    assert f"registrations {len(truth['users'])}," in tables


def _rewrite(path, column, change):
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    i = rows[0].index(column)
    for row in rows[1:]:
        row[i] = change(row[i])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


@pytest.mark.parametrize("spelling", ["infinity", "Infinity", "NULL", "null"])
def test_an_open_session_spelled_as_postgres_or_other_exporters_write_it(tmp_path, spelling):
    # Postgres prints an unbounded timestamptz as 'infinity' and exporters other than Studio
    # write NULL as the word: both mean "still there", never a bad row.
    directory = qa.write_incident(tmp_path / "inc", "postgres_only")
    presence = directory / "tables" / "webinar_live_presence.csv"
    _rewrite(presence, "left_at", lambda v: v or spelling)
    _rewrite(directory / "tables" / "webinars.csv", "ends_at", lambda v: spelling)
    incident = load_incident(directory, cache_dir=tmp_path / "cache", progress=False)
    open_sessions = sum(1 for s in qa.build(qa.CASES["postgres_only"]).sessions if not s["left"])
    assert open_sessions > 0
    assert len(incident.sessions) == qa.CASES["postgres_only"].viewers
    assert int(incident.sessions["left_at"].isna().sum()) == open_sessions
    assert incident.webinars["ends_at"].isna().all()
    assert (incident.accounting["rejected"] == 0).all()


def test_a_null_word_in_a_required_time_is_missing_not_malformed(tmp_path):
    directory = qa.write_incident(tmp_path / "inc", "postgres_only")
    counts = directory / "tables" / "webinar_viewer_counts.csv"
    first = {"done": False}

    def once(value):
        if first["done"]:
            return value
        first["done"] = True
        return "NULL"

    _rewrite(counts, "sampled_at", once)
    incident = load_incident(directory, cache_dir=tmp_path / "cache", progress=False)
    row = incident.accounting.set_index("kind").loc["webinar_viewer_counts"]
    assert (row["rejected"], row["reason"]) == (1, "missing sampled_at: 1")
    assert isinstance(incident.concurrency, pd.DataFrame)


@pytest.mark.parametrize(
    ("sql_state", "rule", "resource"),
    [
        ("53300", "out_of_connections", "database"),
        ("53100", "disk_full", None),
        ("53200", "out_of_memory", None),
        ("53400", "insufficient_resources", None),
    ],
)
def test_class_53_errors_are_told_apart(sql_state, rule, resource):
    # A full disk (53100) is not a connection ceiling: no pooler advice, no DB-connection plan.
    cls = {"sql_state": sql_state, "key": sql_state}
    assert actions.choose_rule(cls, "capacity")[0].key == rule
    assert naming.capacity_resource(cls) == resource
    names = json.loads(
        resources.files("analysis").joinpath("locales", "en.json").read_text("utf-8")
    )["class_names"]
    if resource is None:
        assert "connection" not in naming.name_error_class(cls, names)


@pytest.mark.parametrize("minutes", [3, 10])
def test_a_window_shorter_than_the_statistics_need_still_gets_its_findings(tmp_path, minutes):
    # A brief outage is no user's mistake: the report is written, and says why it holds no
    # verdict, instead of failing in the statistics.
    case = qa.replace(qa.CASES["hostile_clickhouse"], name="short", minutes=minutes, hostile=False)
    directory = qa.write_incident(tmp_path / "inc", case)
    incident = load_incident(directory, cache_dir=tmp_path / "cache", progress=False)
    params = build_params(
        qa.truth(case)["webinar_id"], directory, display_tz="UTC", output_dir=tmp_path / "out"
    )
    settings = pipeline.Settings(cache_dir=tmp_path / "stats", workers=1)
    f = pipeline.analyse(incident, params, settings).findings
    assert f["error_classes"]
    (issue,) = [q for q in f["data_quality"] if q["code"] == "window_too_short"]
    assert issue["fields"] == {"minutes": minutes, "needed": stats.MIN_MINUTES}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("claims", [{"statement": "peak 900", "measures": "peak", "figure": 900}], "claims[0]"),
        ("claims", "many", "field 'claims'"),
        ("recommendations", ["just do it"], "field 'recommendations[0]'"),
        ("recommendations", [{"text": "Do it"}], "recommendations[0].text"),
        ("recommendations", [{"text": {"en": "x"}, "classes": "53300"}], "[0].classes"),
    ],
)
def test_what_the_report_reads_from_the_manifest_is_checked_by_check(
    tmp_path, capsys, key, value, message
):
    # A bad claim used to pass `make check` and fail `make report`; a malformed
    # recommendation was skipped without a word.
    directory = qa.write_incident(tmp_path / "inc", "postgres_only")
    manifest = json.loads((directory / "incident.json").read_text(encoding="utf-8"))
    manifest[key] = value
    (directory / "incident.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert cli(["check", f"--data={directory}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "incident.json" in err and message in err


def test_well_formed_recommendations_pass_check(tmp_path, capsys):
    directory = qa.write_incident(tmp_path / "inc", "postgres_only")
    manifest = json.loads((directory / "incident.json").read_text(encoding="utf-8"))
    manifest["recommendations"] = [
        {"text": {"en": "Order the locks", "ko": "잠금 순서 통일"}, "classes": ["40P01"]},
        {"text": {"en": "Review the runbook"}},
    ]
    (directory / "incident.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert cli(["check", f"--data={directory}"]) == 0, capsys.readouterr().err


def test_a_webinar_saved_without_a_title_is_named_by_its_id(tmp_path):
    directory = qa.write_incident(tmp_path / "inc", "postgres_only")
    _rewrite(directory / "tables" / "webinars.csv", "title", lambda v: "")
    incident = load_incident(directory, cache_dir=tmp_path / "cache", progress=False)
    wid = qa.truth("postgres_only")["webinar_id"]
    assert incident.webinars["title"].tolist() == [wid]
    assert (incident.accounting["rejected"] == 0).all()
    assert len(incident.sessions) == qa.CASES["postgres_only"].viewers


def test_rejections_are_summed_by_reason_across_files():
    # The accounting's reason carries each file's count ("outside window: 6"); two pages with
    # six each used to read "rejected 12 rows (outside window: 6)".
    from analysis import audit

    accounting = pd.DataFrame(
        {
            "file": ["rt/page-1.json", "rt/page-2.json", "edge/page-1.json"],
            "kind": ["realtime_logs", "realtime_logs", "edge_logs"],
            "read": [1000, 214, 500],
            "accepted": [994, 208, 495],
            "rejected": [6, 6, 5],
            "reason": [
                "outside window: 6",
                "outside window: 6",
                "outside window: 3; duplicate id: 2",
            ],
        }
    )
    found = {f.fields["reason"]: f for f in audit.check_ingest_rejections(accounting)}
    assert set(found) == {"outside window", "duplicate id"}
    assert found["outside window"].fields["rejected"] == 15
    assert found["outside window"].fields["files"] == 3
    assert found["duplicate id"].fields["rejected"] == 2
    assert "15 rows" in found["outside window"].what
