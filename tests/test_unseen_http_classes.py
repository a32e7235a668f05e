"""Error responses no database error explains: classes of their own (``http:<status>:<endpoint>``).

A 504 from PostgREST waiting for a pool connection, a 429 from Auth or a 502 from Storage
leaves no Postgres line to pair with; such responses used to appear only in the impact total.
Incidents from tests/_unseen_qa.py; the expected counts are the writer's own.
"""

from __future__ import annotations

from pathlib import Path

import _unseen_qa as qa
import pandas as pd
import pytest

from analysis import audit, error_classes, narrative, pipeline
from analysis.ingest import load_incident
from analysis.narrative.display import SECTIONS
from analysis.params import build_params

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"


def _analyse(tmp_path_factory, name):
    root = tmp_path_factory.mktemp(name)
    directory = qa.write_incident(root / "inc", name)
    incident = load_incident(directory, cache_dir=root / "cache", progress=False)
    params = build_params(
        qa.truth(name)["webinar_id"], directory, lang="en", output_dir=root / "out"
    )
    settings = pipeline.Settings(cache_dir=root / "stats", workers=1)
    return pipeline.analyse(incident, params, settings).findings


@pytest.fixture(scope="module")
def unified(tmp_path_factory):
    return _analyse(tmp_path_factory, "unified_csv")


def _requests(rows):
    ts = pd.Timestamp("2026-01-01T00:00:00Z")
    return pd.DataFrame(
        [
            {"id": f"r{i}", "ts": ts + pd.Timedelta(seconds=i), "status": s, "endpoint": e}
            for i, (s, e) in enumerate(rows)
        ]
    ).astype({"endpoint": "string"})


def test_only_groups_no_database_error_explains_are_kept():
    requests = _requests(
        [(504, "rest/polls")] * 6
        + [(500, "rest/polls")] * 3  # one of them paired: the group is the db class's
        + [(429, "auth/token")] * 2
        + [(200, "rest/polls")] * 4
        + [(502, None)] * 5
    )
    pairs = pd.DataFrame({"request_id": ["r6"]})
    table = error_classes.tabulate_unexplained_responses(requests, pairs)
    got = [
        (r.status, None if pd.isna(r.endpoint) else r.endpoint, r.count) for r in table.itertuples()
    ]
    assert got == [(504, "rest/polls", 6), (502, None, 5), (429, "auth/token", 2)]


def test_the_writer_s_gateway_only_errors_are_classes_with_their_counts(unified):
    truth = qa.build(qa.CASES["unified_csv"])
    n429 = sum(1 for r in truth.requests if r["status"] == 429)
    rows = {c["key"]: c for c in unified["error_classes"]}
    # A 429 is a limit on the product: one class over its endpoints ("auth/*").
    cls = rows["http:429:auth/*"]
    assert n429 >= error_classes.MIN_HTTP_CLASS
    assert (cls["count"], cls["source"], cls["http_status"]) == (n429, "requests", 429)
    assert cls["endpoints"] == ["auth/token"] and 0 < cls["rate"] <= 1
    assert cls["filter"] == "status == 429 and endpoint == 'auth/token'"
    assert cls["name"]["en"] == "Rate-limited requests (429) on auth/*"
    assert "57014" in rows  # the database class stays what it was
    items = {i["fields"].get("class"): i["key"] for i in unified["action_items"]}
    assert items["http:429:auth/*"].startswith("http_rate_limited")
    verdicts = {v["error_class"] for v in unified["verdicts"]}
    assert "http:429:auth/*" in verdicts
    # Every error response is either a class's or the audit's.
    assert unified["impact"]["error_responses"] == sum(
        c["count"] for c in unified["error_classes"] if c["source"] != "realtime_events"
    ) + sum(
        q["fields"]["responses"]
        for q in unified["data_quality"]
        if q["code"] == "unexplained_error_responses"
    )


def test_every_section_renders_the_new_classes(unified):
    text = narrative.load_locale("en")
    page = "\n".join(render(unified, text) for render in SECTIONS.values())
    assert narrative.escape("Rate-limited requests (429) on auth/*") in page


def test_the_shipped_incident_gets_no_http_class(shared_cache_dir):
    incident = load_incident(SHIPPED_DIR, cache_dir=shared_cache_dir, progress=False)
    classes, pairs = error_classes.find_error_classes(incident)
    assert not [c.key for c in classes if c.source == "requests"]
    assert error_classes.tabulate_unexplained_responses(incident.requests, pairs).empty


def test_without_gateway_rows_page_one_says_who_got_errors_is_unknown(tmp_path_factory):
    findings = _analyse(tmp_path_factory, "realtime_only")
    assert findings["overview"]["people"]["requests_logged"] == 0
    text = narrative.load_locale("en")
    page = SECTIONS["overview"](findings, text) if "overview" in SECTIONS else ""
    page = page or "\n".join(render(findings, text) for render in SECTIONS.values())
    assert text["overview"]["impact_no_requests"] in page
    assert "0 of 40 people" not in page


def test_realtime_errors_of_no_family_are_named_by_the_audit():
    # A token that fails validation is logged at error level but belongs to no error family:
    # no class holds it, so the audit names it (it used to be mentioned nowhere).
    ts = pd.Timestamp("2026-12-31T23:40:00Z")
    rt = pd.DataFrame(
        {
            "ts": [ts + pd.Timedelta(seconds=i) for i in range(6)],
            "level": ["error"] * 4 + ["info", "warning"],
            "family": ["other"] * 5 + ["rate_limit"],
            "message": ["JwtSignatureError: Failed to validate JWT signature"] * 3
            + ["<b>odd</b>", "Janitor finished", "ChannelRateLimitReached: x"],
        }
    )
    (issue,) = audit.check_unclassified_realtime(rt, "2026-12-31T23:30:00Z", "2027-01-01T00:15:00Z")
    assert issue.fields == {"rows": 4, "kinds": 2}
    assert "JwtSignatureError x3" in issue.what and "<b>odd</b> x1" in issue.what
    quiet = rt.assign(family="billing_metrics")
    assert (
        audit.check_unclassified_realtime(quiet, "2026-12-31T23:30:00Z", "2027-01-01T00:15:00Z")
        == ()
    )


def test_raw_and_hybrid_give_the_same_frames_for_the_http_classes(tmp_path):
    # A hybrid fetch keeps the error rows raw and lets the log store count the traffic per
    # minute x path x status class; an HTTP class must count the same either way.
    import dataclasses
    import gzip
    import json
    import re
    from collections import Counter

    from analysis import timeline
    from analysis.ingest import traffic_pages

    directory = qa.write_incident(tmp_path / "inc", "unified_csv")
    raw = load_incident(directory, cache_dir=tmp_path / "cache", progress=False)
    counts: Counter = Counter()
    req = raw.requests
    for ts, path, status in zip(req["ts"], req["path"], req["status"], strict=True):
        head = re.match(r"^((?:/[^/]*){1,4})", path).group(1)
        counts[(int(ts.floor("min").value // 1000), head, int(status) // 100)] += 1
    rows = [
        {"minute": m, "path": p, "status_class": c, "requests": n}
        | {"max_origin_time_ms": None, "p95_origin_time_ms": None}
        for (m, p, c), n in sorted(counts.items())
    ]
    page = tmp_path / "page-0001.json.gz"
    page.write_bytes(gzip.compress(json.dumps({"result": rows, "error": None}).encode()))
    read, accounting = traffic_pages.read_traffic_page(
        page, "traffic/edge_minutes/page-0001.json.gz", "edge_minutes", raw.window
    )
    assert accounting["rejected"] == 0
    table = traffic_pages.traffic_table([read])
    table.attrs["source"] = "log-store aggregates (edge_logs_traffic_per_minute)"
    errors = raw.requests[raw.requests["status"] >= 400].reset_index(drop=True)
    hybrid = dataclasses.replace(raw, requests=errors, traffic=table)
    wid = qa.truth("unified_csv")["webinar_id"]
    a, b = timeline.build_timeline(raw, wid), timeline.build_timeline(hybrid, wid)
    keys = [c.key for c in a.classes if c.source == "requests"]
    assert keys and keys == [c.key for c in b.classes if c.source == "requests"]
    for key in keys:
        assert a.frames[key][["errors", "requests"]].equals(b.frames[key][["errors", "requests"]])


def test_a_scanner_s_one_off_paths_are_summed_in_one_audit_line():
    groups = error_classes.tabulate_unexplained_responses(
        _requests([(404, f"probe-{i:02d}.php") for i in range(15)] + [(503, None)] * 6),
        pd.DataFrame({"request_id": []}),
    )
    (issue,) = audit.check_unexplained_responses(groups)
    assert issue.fields == {"responses": 21, "groups": 16, "needed": 5}
    assert "503 on no endpoint x6" in issue.what and issue.what.endswith("and 6 more.")


def test_an_outage_s_5xx_are_one_class_over_the_product_and_4xx_stay_per_endpoint():
    requests = _requests(
        [(504, "rest/polls")] * 3
        + [(504, "rest/chat")] * 3
        + [(404, "rest/polls")] * 5
        + [(404, "rest/chat")] * 2
        + [(404, "wp-login.php")] * 9
    )
    groups = error_classes.tabulate_unexplained_responses(
        requests, pd.DataFrame({"request_id": []})
    )
    specs, rest = error_classes.plan_http_classes(groups)
    got = [(s["status"], s["scope"], s["endpoints"], s["count"]) for s in specs]
    assert got == [
        (504, "rest/*", ("rest/chat", "rest/polls"), 6),
        (404, "rest/polls", ("rest/polls",), 5),
    ]
    assert sorted(zip(rest["status"], rest["endpoint"], strict=True)) == [
        (404, "rest/chat"),
        (404, "wp-login.php"),
    ]
