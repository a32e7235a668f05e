"""The findings of the small fixture incident (every stage after ingest) against its raw files.

Fast unit layer (no notebook): the expected values are recomputed here from the raw files of
the fixture (conftest.py) with csv and json only, or from the document's own parts.
"""

from __future__ import annotations

import csv
import json

import pandas as pd

from analysis import findings
from analysis._util import sha256_file


def _window(directory) -> tuple[pd.Timestamp, pd.Timestamp]:
    manifest = json.loads((directory / "incident.json").read_text(encoding="utf-8"))
    return pd.Timestamp(manifest["window_start"]), pd.Timestamp(manifest["window_end"])


def _viewer_counts(directory, webinar_id: str) -> list[tuple[pd.Timestamp, int]]:
    with (directory / "tables" / "webinar_viewer_counts.csv").open(encoding="utf-8") as fh:
        return [
            (pd.Timestamp(row["sampled_at"]), int(row["viewer_count"]))
            for row in csv.DictReader(fh)
            if row["webinar_id"] == webinar_id
        ]


def test_the_document_passes_its_schema_and_names_the_run(small_analysis, small_params):
    doc = small_analysis.findings
    findings.validate_findings(doc)
    assert doc["report"]["webinar_id"] == small_params.webinar_id
    assert doc["report"]["lang"] == "en"
    assert doc["report"]["bucket_minutes"] == small_params.bucket_minutes
    assert doc["parameters"] == small_params.describe()


def test_audience_and_buckets_follow_from_the_viewer_counts(small_analysis, small_incident_dir):
    doc = small_analysis.findings
    start, end = _window(small_incident_dir)
    samples = [
        (t, v)
        for t, v in _viewer_counts(small_incident_dir, doc["report"]["webinar_id"])
        if start <= t < end
    ]
    assert doc["audience"]["peak"] == max(v for _, v in samples)
    assert doc["audience"]["samples"] == len(samples)
    size = pd.Timedelta(minutes=doc["report"]["bucket_minutes"])
    assert len(doc["buckets"]) == (end - start) / size
    for bucket in doc["buckets"]:
        lo, hi = pd.Timestamp(bucket["start"]), pd.Timestamp(bucket["end"])
        inside = [v for t, v in samples if lo <= t < hi]
        assert bucket["samples"] == len(inside)
        if inside:
            assert (bucket["max"], bucket["min"]) == (max(inside), min(inside))
    maxima = [b["max"] for b in doc["buckets"] if b["samples"]]
    assert abs(doc["audience"]["mean_of_bucket_maxima"] - sum(maxima) / len(maxima)) < 1e-9


def test_error_counts_add_up_across_classes_verdicts_and_impact(small_analysis):
    doc = small_analysis.findings
    classes = {c["key"]: c for c in doc["error_classes"]}
    assert doc["impact"]["errors_total"] == sum(c["count"] for c in classes.values()) > 0
    assert {v["error_class"] for v in doc["verdicts"]} == set(classes)
    # Error classes named on the timeline exist; the timeline is in time order.
    times = [pd.Timestamp(row["at"]) for row in doc["timeline"]]
    assert times == sorted(times)
    for row in doc["timeline"]:
        if row["kind"] == "first_error":
            assert row["subject"] in classes
            assert row["evidence"]["count"] == classes[row["subject"]]["count"]


def test_every_input_file_is_listed_with_its_checksum_and_every_row_counted(
    small_analysis, small_incident_dir
):
    inputs = small_analysis.findings["inputs"]
    on_disk = {
        p.relative_to(small_incident_dir).as_posix()
        for p in small_incident_dir.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    assert set(inputs["checksums"]) == on_disk
    for name, digest in inputs["checksums"].items():
        assert digest == sha256_file(small_incident_dir / name), name
    for row in inputs["accounting"]:
        assert row["read"] == row["accepted"] + row["rejected"], row
    assert sum(row["read"] for row in inputs["accounting"]) > 0


def test_the_same_inputs_give_the_same_bytes(
    small_incident, small_params, small_analysis, tmp_path
):
    from analysis import pipeline

    # A fresh statistics cache: the second document is computed again, not read back.
    again = pipeline.analyse(small_incident, small_params, pipeline.Settings(cache_dir=tmp_path))
    assert findings.dump_findings(again.findings) == findings.dump_findings(small_analysis.findings)


def test_a_rate_per_request_only_where_errors_are_failed_requests(small_analysis):
    classes = small_analysis.findings["error_classes"]
    assert {c["source"] for c in classes} >= {"db_errors", "realtime_events"}
    for c in classes:
        if c["source"] == "realtime_events":
            assert c["rate"] is None, c["key"]  # log lines, not failed requests
        elif c["only_failures_logged"]:
            # Every request logged on its endpoints is one of its failures: no rate to give.
            assert c["rate"] is None and c["requests"] <= c["count"], c["key"]
        elif c["requests"]:
            assert c["rate"] == c["count"] / c["requests"], c["key"]
    realtime = [c for c in classes if c["source"] == "realtime_events"]
    assert not [c for c in realtime if c["only_failures_logged"]]
