"""Raw files -> ingest -> timeline: every published figure, for both webinars and totals.

The expected values below are the published figures (docs/shipped-incident.md);
they live only here. Everything else is computed from the shipped raw exports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from analysis import (
    audit,
    concurrency,
    config,
    error_classes,
    matching,
    pipeline,
    window,
)
from analysis import (
    moments as key_moments,
)
from analysis import timeline as tl

MAIN = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
TEST = "c9c7d93a-d775-4f8e-9243-8fdbb3618e2a"

# (bucket in KST, max, min, samples), docs/shipped-incident.md "Webinar 1".
MAIN_BUCKETS = [
    ("14:00–14:05", 244, 214, 19),
    ("14:05–14:10", 299, 226, 33),
    ("14:10–14:15", 264, 147, 18),
    ("14:15–14:20", 47, 47, 1),
    ("14:20–14:25", 27, 27, 1),
    ("14:25–14:30", 36, 36, 1),
    ("14:30–14:35", 82, 2, 3),
    ("14:35–14:40", 135, 135, 1),
    ("14:40–14:45", 311, 88, 12),
    ("14:45–14:50", 253, 209, 20),
    ("14:50–14:55", 235, 198, 22),
    ("14:55–15:00", 235, 199, 23),
]


@pytest.fixture(scope="module")
def incident(shared_cache_dir):
    ingest = pytest.importorskip("analysis.ingest")
    if not (config.DEFAULT_INCIDENT_DIR / "incident.json").exists():
        pytest.skip("shipped incident not generated (make data)")
    return ingest.load_incident(config.DEFAULT_INCIDENT_DIR, cache_dir=shared_cache_dir)


def test_window_and_display_zone(incident):
    start, end = window.resolve_window(incident)
    assert (start, end) == (
        pd.Timestamp("2026-02-06 05:00", tz="UTC"),
        pd.Timestamp("2026-02-06 06:00", tz="UTC"),
    )
    assert window.display_tz_of(incident) == "Asia/Seoul"
    assert start.tz_convert("Asia/Seoul").strftime("%H:%M") == "14:00"


def test_main_webinar_buckets(incident):
    start, end = window.resolve_window(incident)
    b = concurrency.bucket_concurrency(incident.concurrency, start, end, webinar_id=MAIN)
    got = [
        (r.label_local, int(r.max), int(r.min), int(r.samples)) for r in b.itertuples(index=False)
    ]
    assert got == MAIN_BUCKETS
    assert int(b["samples"].sum()) == 154


def test_main_webinar_audience(incident):
    a = concurrency.summarize_audience(incident, MAIN)
    assert a.peak == 311
    assert a.peak_ts.tz_convert("Asia/Seoul").strftime("%H:%M") == "14:40"
    assert a.peak_ts.floor("5min") == pd.Timestamp("2026-02-06 05:40", tz="UTC")
    assert a.samples == 154
    assert a.unique_users == 141
    assert a.registrations == 176
    # "average peak concurrency" ~ 181 is the mean of the twelve bucket maxima
    assert (a.sum_of_bucket_maxima, a.buckets_with_samples) == (2168, 12)
    assert a.mean_of_bucket_maxima == pytest.approx(2168 / 12)
    assert round(a.mean_of_bucket_maxima) == 181
    assert a.time_weighted_mean < a.mean_of_bucket_maxima
    json.dumps(a.to_dict())


def test_test_webinar_audience(incident):
    a = concurrency.summarize_audience(incident, TEST)
    assert (a.peak, a.unique_users, a.registrations) == (2, 2, 1)


def test_totals(incident):
    t = concurrency.summarize_totals(incident)
    assert t.peak == 311 and t.peak_webinar_id == MAIN
    assert t.peak_ts.tz_convert("Asia/Seoul").strftime("%H:%M") == "14:40"
    assert (t.unique_users, t.registrations) == (143, 177)
    assert t.busiest_buckets == ("14:05–14:10", "14:40–14:45")


def test_error_classes_as_the_report_words_them(incident):
    classes = {c.key: c for c in error_classes.define_error_classes(incident)}
    pk = classes["23505:registrations_pkey"]
    col = classes["42703"]
    stats = classes["23505:uq_marketing_stats_daily_key"]
    uuid = classes["22P02"]
    disc = classes["realtime:disconnect"]
    # HTTP as the report gives it, through PostgREST's mapping
    assert (pk.http_status, col.http_status, stats.http_status, uuid.http_status) == (
        409,
        400,
        409,
        400,
    )
    # very high > high > medium; "dozens" = 24..96; >= 100 Postgres errors in all
    assert pk.count > col.count > uuid.count
    assert pk.count > stats.count > uuid.count
    assert 24 <= pk.count <= 96 and 24 <= disc.count <= 96
    assert len(incident.db_errors) >= 100
    assert pk.endpoint == "rest/registrations" and col.endpoint == "rest/registrations"
    table = error_classes.tabulate_db_errors(incident.db_errors)
    assert set(table["sql_state"]) >= {"23505", "42703", "22P02"}
    msgs = set(table["example"])
    assert 'duplicate key value violates unique constraint "registrations_pkey"' in msgs
    assert "column registrations.id does not exist" in msgs
    assert 'invalid input syntax for type uuid: "null"' in msgs


def test_409s_pair_with_their_23505s(incident):
    classes = error_classes.define_error_classes(incident)
    pairs = matching.match_http_to_db(incident, classes)
    summary = matching.summarize_matches(incident, classes, pairs)
    row = summary[summary["status"] == 409]
    assert len(row) == 1
    row = row.iloc[0]
    pk = next(c for c in classes if c.key == "23505:registrations_pkey")
    both = pk.count + next(
        c.count for c in classes if c.key == "23505:uq_marketing_stats_daily_key"
    )
    assert pk.endpoints == ("rest/registrations",)
    assert (pairs["error_class"] == pk.key).sum() == pk.count
    assert set(pairs.loc[pairs["error_class"] == pk.key, "endpoint"]) == {"rest/registrations"}
    assert row["db_errors"] == both and row["matched"] == both
    assert row["unmatched_db"] == 0 and row["unmatched_requests"] == 0
    assert pairs["offset_s"].abs().max() < 1.0


def test_busiest_paths(incident):
    counts = incident.requests["endpoint"].value_counts()
    assert counts.index[0] == "rest/profiles"
    for endpoint in (
        "rest/questions",
        "rest/webinars",
        "auth/user",
        "rest/registrations",
        "rest/webinar_live_presence",
    ):
        assert counts.get(endpoint, 0) > 0, endpoint


def test_minute_frames_for_every_class(incident):
    classes = error_classes.define_error_classes(incident)
    for cls in classes:
        frame = tl.build_minute_frame(incident, MAIN, cls.key, classes=classes)
        assert len(frame) == 60
        assert frame["concurrency"].notna().all()
        assert int(frame["errors"].sum()) == cls.count  # every error of the class is in the hour
        assert (frame["errors"] <= frame["requests"]).all() or cls.source == "realtime_events"
    frame = tl.build_minute_frame(incident, MAIN, "23505:registrations_pkey", classes=classes)
    assert int(frame["samples"].sum()) == 154
    assert frame["concurrency"].max() == 311


def test_key_moments_and_audit_see_what_the_report_did_not(incident):
    moments = key_moments.build_key_moments(incident, MAIN)
    peak = moments[moments["kind"] == "peak"].iloc[0]
    assert peak["value"] == 311 and peak["count"] == 154
    unknown = moments[moments["ts"].isna()]
    assert len(unknown) == len(incident.annotations[incident.annotations["ts"].isna()])
    assert (unknown["kind"] == "annotation").all()
    issues = {f.code: f for f in audit.audit_incident(incident, tl.build_timeline(incident, MAIN))}
    users = issues["concurrency_exceeds_users"].fields
    assert (users["peak"], users["unique_users"]) == (311, 141)
    mom = issues["mean_of_maxima_vs_mean"].fields
    assert (mom["sum_of_maxima"], mom["buckets_with_samples"]) == (2168, 12)
    drop = issues["sampling_density_drop"].fields
    assert drop["start"] == pd.Timestamp("2026-02-06 05:15", tz="UTC")
    assert drop["end"] == pd.Timestamp("2026-02-06 05:40", tz="UTC")
    assert "clock_skew" not in issues and "ingest_rows_rejected" not in issues
    json.dumps([f.to_dict() for f in issues.values()])


def test_freeze_imports_takes_the_imported_modules_out_of_the_collector(tmp_path):
    # In a fresh process (this one has frozen nothing, and must not be changed): after the
    # notebook's imports and the call, a full collection walks only what came later.
    code = (
        "import gc\n"
        "from analysis import audit, narrative, pipeline, plots, stats\n"
        "tracked = len(gc.get_objects())\n"
        "pipeline.freeze_imports()\n"
        "junk = [[i] for i in range(1000)]\n"
        "print(tracked, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    tracked, frozen, after = map(int, done.stdout.split())
    assert frozen >= tracked > 50_000
    assert after < 5_000


def test_the_notebooks_first_stage_keeps_maths_out_of_their_tables(monkeypatch):
    # A constraint named with dollar signs must not be typeset by JupyterLab's MathJax.
    import analysis.ingest

    monkeypatch.setattr(analysis.ingest, "load_incident", lambda *a, **k: "incident")
    frame = pd.DataFrame({"constraint": ["$\\sum_i x_i$"]})
    try:
        pd.set_option("display.html.use_mathjax", True)
        assert "mathjax_ignore" not in frame._repr_html_()
        assert pipeline.load_directory("somewhere") == "incident"
        assert pd.get_option("display.html.use_mathjax") is False
        assert "mathjax_ignore" in frame._repr_html_()
    finally:
        pd.reset_option("display.html.use_mathjax")


def test_the_ingest_stage_shows_file_names_redacted():
    # A download saved under a person's address: the executed notebook travels with the report.
    import types

    accounting = pd.DataFrame(
        {"file": ["logs/jane.doe@example.com.csv", "tables/webinars.csv"], "read": [3, 1]}
    )
    incident = types.SimpleNamespace(accounting=accounting)
    shown = pipeline.tabulate_accounting(incident)
    assert "jane.doe@example.com" not in shown.to_string()
    assert "jane.doe@example.com" not in shown._repr_html_()
    assert shown["file"].iloc[1] == "tables/webinars.csv"
    assert shown["read"].tolist() == [3, 1]
    assert accounting["file"].iloc[0] == "logs/jane.doe@example.com.csv"  # the input untouched
