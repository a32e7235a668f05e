"""findings.json: its schema refuses what the report cannot show; serialisation is stable."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import detection, findings
from analysis.exceptions import ReportError

WID = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"


def _minimal() -> dict:
    """A small but complete findings document, written by hand."""
    return {
        "schema_version": 1,
        "report": {
            "webinar_id": WID,
            "title": "AI 특허리서치 실무 활용 웨비나",
            "incident": "2026-02-06-eventlive",
            "project_ref": "yqsayphssjznthrxpgfb",
            "lang": "ko",
            "display_tz": "Asia/Seoul",
            "window": {"start": "2026-02-06T05:00:00Z", "end": "2026-02-06T06:00:00Z"},
            "bucket_minutes": 5,
            "seed": 1,
            "status": "draft",
        },
        "parameters": {
            "webinar_id": WID,
            "data_dir": "data/raw/x",
            "display_tz": "Asia/Seoul",
            "bucket": "5min",
            "lang": "ko",
            "seed": 1,
        },  # fmt: skip
        "audience": {
            "peak": 311,
            "peak_ts": "2026-02-06T05:40:12+00:00",
            "unique_users": 141,
            "sessions": 1852,
            "registrations": 176,
            "samples": 154,
            "mean_of_bucket_maxima": 180.67,
            "time_weighted_mean": 159.56,
        },  # fmt: skip
        "buckets": [
            {
                "start": "2026-02-06T05:00:00Z",
                "end": "2026-02-06T05:05:00Z",
                "max": 244,
                "min": 214,
                "samples": 19,
                "mean_tw": 230.5,
            },
        ],  # fmt: skip
        "error_classes": [
            {
                "key": "42703",
                "source": "db_errors",
                "filter": "sql_state == '42703'",
                "count": 24,
                "requests": 72,
                "rate": 1 / 3,
                "endpoint": "rest/registrations",
                "http_status": 400,
                "first": "2026-02-06T05:01:05Z",
                "last": "2026-02-06T05:56:55Z",
            },
        ],  # fmt: skip
        "impact": {
            "errors_total": 24,
            "error_responses": 48,
            "affected_users": 62,
            "first_error": "2026-02-06T05:01:05Z",
            "last_error": "2026-02-06T05:56:55Z",
            "error_period_minutes": 56,
        },  # fmt: skip
        "timeline": [
            {
                "at": None,
                "kind": "annotation",
                "subject": "human",
                "description": "limits raised",
                "evidence": {"source": "annotations", "filter": "label == 'x'", "count": 1},
            },
        ],  # fmt: skip
        "verdicts": [
            {
                "error_class": "42703",
                "verdict": "traffic",
                "reason": "g = 1.5 > 0.5",
                "hinge_p_value": 0.76,
                "elasticity": 1.5,
                "bursty": False,
                "errors_unmeasured_share": 0.0,
                "measurement_caveat": False,
            },
        ],  # fmt: skip
        "capacity": [],
        "associations": [],
        "coincidence": [],
        "bursts": [],
        "change_points": [],
        "data_quality": [],
        "detection": {
            "crossings": [],
            "first_error": None,
            "first_surge": None,
            "earliest_rule": None,
            "lead_minutes": None,
            "first_human_action": None,
            "untimed_human_actions": [],
        },  # fmt: skip
        "action_items": [
            {
                "number": 1,
                "key": "undefined_column",
                "source": "catalogue",
                "fields": {"class": "42703", "column": "x.y"},
                "evidence": [{"kind": "class"}],
                "owner": "",
                "type": "",
                "due": "",
            },
        ],  # fmt: skip
        "statistics": {},
        "inputs": {
            "incident_dir": "data/raw/x",
            "checksums": {"a.csv": "0" * 64},
            "manifest_sha256": "1" * 64,
            "accounting": [],
        },
        "environment": {"python": "3.11.7", "packages": {"pandas": "3.1.1"}},
        "claims": [
            {
                "number": 1,
                "statement": "peak 311 viewers",
                "measures": "peak_concurrent_viewers",
                "figure": 311,
                "scope": "incident",
                "outcome": "misleading",
                "reason": "sessions_not_people",
                "measured": {"peak": 311, "people": 141},
            },
        ],
        "capacity_plan": {
            "available": False,
            "reason": "no_sessions",
            "level": 0.9,
            "headroom": 0.25,
            "draws": 2000,
        },
        "overview": {
            "people": {},
            "minutes": {},
            "errors": {},
            "causes": [{"kind": "traffic", "errors": 24, "classes": []}],
            "ending": {},
            "actions": [{"number": 1, "key": "fix_registration_query"}],
        },
    }


def test_a_complete_document_is_valid():
    findings.validate_findings(_minimal())


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("report", "webinar_id"), "F257CE42", "report/webinar_id"),
        (("report", "lang"), "fr", "report/lang"),
        (("report", "window", "start"), "2026-02-06 05:00", "report/window/start"),
        (("verdicts", 0, "verdict"), "maybe", "verdicts/0/verdict"),
        (("verdicts", 0, "hinge_p_value"), 1.5, "verdicts/0/hinge_p_value"),
        (("error_classes", 0, "count"), -1, "error_classes/0/count"),
        (("inputs", "checksums", "a.csv"), "abc", "inputs/checksums/a.csv"),
        (("action_items", 0, "owner"), None, "action_items/0/owner"),
        (("impact", "error_period_minutes"), -5, "impact/error_period_minutes"),
        (("claims", 0, "outcome"), "true-ish", "claims/0/outcome"),
        (("inputs", "manifest_sha256"), "abc", "inputs/manifest_sha256"),
        (("overview", "causes", 0, "kind"), "bad luck", "overview/causes/0/kind"),
    ],
)
def test_a_bad_value_is_refused_with_its_path(path, value, field):
    doc = copy.deepcopy(_minimal())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ReportError, match=f"field '{field}'"):
        findings.validate_findings(doc)


def test_missing_and_unknown_top_level_keys_are_refused():
    doc = _minimal()
    del doc["detection"]
    with pytest.raises(ReportError, match="detection"):
        findings.validate_findings(doc)
    doc = _minimal() | {"extra": 1}
    with pytest.raises(ReportError, match="extra"):
        findings.validate_findings(doc)


def test_plain_turns_numpy_and_pandas_values_into_json_and_nan_into_null():
    value = {
        "a": np.int64(3),
        "b": np.float64("nan"),
        "c": (np.bool_(True), pd.NA),
        "d": pd.Timestamp("2026-02-06 14:40:12", tz="Asia/Seoul"),
        "e": np.array([1.5, np.inf]),
    }
    assert findings.plain(value) == {
        "a": 3,
        "b": None,
        "c": [True, None],
        "d": "2026-02-06T05:40:12Z",
        "e": [1.5, None],
    }


def test_dump_is_stable_and_refuses_nan(tmp_path):
    doc = _minimal()
    assert findings.dump_findings(doc) == findings.dump_findings(copy.deepcopy(doc))
    assert "AI 특허리서치" in findings.dump_findings(doc)  # UTF-8, not \\u escapes
    path = findings.write_findings(doc, tmp_path / "f.json")
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    with pytest.raises(ValueError):
        findings.dump_findings(doc | {"statistics": {"x": float("nan")}})


def test_errors_in_sparsely_sampled_minutes_caveat_the_verdict():
    import pandas as pd

    from analysis.findings import share_errors_unmeasured

    minute = pd.date_range("2026-02-06 05:00", periods=6, freq="min", tz="UTC")
    starved = pd.DataFrame(
        {"minute": minute, "errors": [0, 0, 3, 3, 0, 0], "samples": [4, 4, 0, 1, 4, 4]}
    )
    assert share_errors_unmeasured(starved) == 1.0
    measured = starved.assign(samples=[4, 4, 4, 3, 4, 4])
    assert share_errors_unmeasured(measured) == 0.0
    assert share_errors_unmeasured(starved.assign(errors=0)) is None


def test_people_affected_has_one_definition_on_page_one_and_in_the_impact_table():
    from _timeline_data import W1, W2, FakeIncident, requests_frame, sessions_frame

    requests = requests_frame(
        [
            ("2026-02-06 05:01:00", "rest/questions", 503),  # u_a, in this audience
            ("2026-02-06 05:02:00", "rest/questions", 503),  # u_b, another webinar's viewer
            ("2026-02-06 05:03:00", "rest/questions", 503),  # u_c, in no audience
            ("2026-02-06 05:04:00", "rest/questions", 200),  # u_d, in this audience, no error
        ]
    )
    requests["user"] = pd.Series(["u_a", "u_b", "u_c", "u_d"], dtype="string")
    sessions = sessions_frame(
        [
            (W1, "u_a", "2026-02-06 05:00:00", None),
            (W2, "u_b", "2026-02-06 05:00:00", None),
            (W1, "u_d", "2026-02-06 05:00:00", "2026-02-06 05:30:00"),
        ]
    )
    inc = FakeIncident(requests=requests, sessions=sessions)
    start, end = (
        pd.Timestamp("2026-02-06 05:00", tz="UTC"),
        pd.Timestamp("2026-02-06 06:00", tz="UTC"),
    )
    impact = findings.summarize_impact(
        inc, start, end, [], audience=sessions[sessions["webinar_id"] == W1]
    )
    assert (impact["affected_users"], impact["affected_users_project"]) == (1, 3)


def test_page_one_states_the_impact_table_s_people_affected(small_analysis):
    f = small_analysis.findings
    people, impact = f["overview"]["people"], f["impact"]
    assert people["affected"] == impact["affected_users"]
    assert impact["affected_users"] <= impact["affected_users_project"]


def test_validation_imports_no_format_checker_and_still_catches_a_violation():
    # In a fresh process, as in the report's kernel: jsonschema is imported without the
    # modules of its optional format checkers, which stay importable afterwards.
    code = (
        "import sys\n"
        "from analysis._jsonschema import FORMAT_MODULES\n"
        "from analysis.exceptions import ReportError\n"
        "from analysis.findings import validate_findings\n"
        "try:\n"
        "    validate_findings({'report': 'not an object'})\n"
        "except ReportError as exc:\n"
        "    print('caught', exc)\n"
        "print(sorted(n for n in FORMAT_MODULES if n in sys.modules))\n"
        "import jsonpointer\n"
        "print('importable')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("caught findings.json, field '")
    assert lines[1:] == ["[]", "importable"]


def test_realtime_plan_limits_are_detection_rules_only_where_the_data_has_realtime():
    from analysis.stats import SUPABASE_LIMITS

    ts = pd.date_range("2026-02-06 05:00", periods=4, freq="15min", tz="UTC")
    conc = pd.DataFrame({"ts": ts, "viewers": [50, 250, 600, 100]})
    moments = pd.DataFrame(columns=["ts", "kind", "subject", "description"])
    cap = [{"verdict": "capacity", "k": 240.0, "error_class": "53300"}]

    def names(realtime):
        d = detection.summarize_detection(
            conc, moments, cap, SUPABASE_LIMITS, [], realtime=realtime
        )
        return [c["name"] for c in d["crossings"]]

    with_rt = names(True)
    assert [n for n in with_rt if n.startswith("Realtime")] and "K (53300)" in with_rt
    assert names(False) == ["K (53300)"]


def test_the_alert_s_lead_is_measured_to_a_capacity_class_s_surge_not_a_flat_bug_s():
    # tests/_unseen_stack.py pooler_night: "would have fired 1 minute(s) before the first error
    # surge", a flat 42703's at 21:10; the capacity class's own surge came later.
    ts = pd.date_range("2026-02-06 05:00", periods=8, freq="5min", tz="UTC")
    conc = pd.DataFrame({"ts": ts, "viewers": [50, 100, 150, 200, 250, 260, 270, 280]})
    moments = pd.DataFrame(
        {
            "ts": [ts[2], ts[5]],
            "kind": ["error_surge", "error_surge"],
            "subject": ["42703", "http:500:functions/*"],
            "description": ["", ""],
        }
    )
    cap = [{"verdict": "capacity", "k": 120.0, "error_class": "http:500:functions/*"}]
    d = detection.summarize_detection(conc, moments, cap, (), [], realtime=False)
    assert d["first_surge"]["error_class"] == "42703"  # the fact stays as it is
    assert d["lead_minutes"] == 15  # 05:10 crossing K = 120 to the capacity surge at 05:25
    none = detection.summarize_detection(conc, moments, [], (), [], realtime=False)
    assert none["lead_minutes"] is None  # no class rose with load: no alert on load to time


def test_a_published_realtime_limit_below_the_one_the_project_reported_is_no_rule():
    # The project's billing samples said 500: "first exceeded Realtime Free plan (200)" was
    # a limit it never had.
    from analysis.stats import SUPABASE_LIMITS

    ts = pd.date_range("2026-02-06 05:00", periods=4, freq="15min", tz="UTC")
    conc = pd.DataFrame({"ts": ts, "viewers": [50, 250, 600, 100]})
    moments = pd.DataFrame(columns=["ts", "kind", "subject", "description"])

    def names(reported):
        d = detection.summarize_detection(
            conc, moments, [], SUPABASE_LIMITS, [], realtime_limits=reported
        )
        return [c["name"] for c in d["crossings"]]

    assert names(()) == ["Realtime Free plan", "Realtime Pro plan"]
    assert names((500.0,)) == ["Realtime Pro plan"]
    assert names((500.0, 200.0)) == ["Realtime Free plan", "Realtime Pro plan"]  # raised


def test_the_limits_a_project_reported_are_read_from_its_billing_samples():
    from types import SimpleNamespace

    rt = pd.DataFrame(
        {"family": ["billing_metrics", "billing_metrics", "disconnect"], "limit": [500, 200, None]}
    )
    minutes = pd.DataFrame({"connection_limit": [1000, None]})
    incident = SimpleNamespace(realtime_events=rt, realtime_minutes=minutes)
    assert detection.reported_realtime_limits(incident) == [200.0, 500.0, 1000.0]
    empty = SimpleNamespace(realtime_events=pd.DataFrame(), realtime_minutes=None)
    assert detection.reported_realtime_limits(empty) == []
