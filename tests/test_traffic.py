"""The per-minute traffic table: aggregated from raw rows, or read from the log store's pages,
the timeline's per-minute frames (and so the statistics) are the same."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from analysis import audit, config, findings, ingest, params, pipeline, traffic
from analysis import timeline as tl
from analysis.ingest import traffic_pages

T0 = pd.Timestamp("2026-02-06T05:00Z")


def _requests(rows: list[tuple]) -> pd.DataFrame:
    ts, endpoint, status, latency = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(list(ts), utc=True, format="ISO8601"),
            "endpoint": pd.Series(endpoint, dtype="string"),
            "status": np.array(status, dtype="int64"),
            "origin_time_ms": np.array(latency, dtype="float64"),
        }
    )


def test_raw_rows_aggregate_by_minute_endpoint_and_status_class():
    frame = _requests(
        [
            ("2026-02-06T05:00:10Z", "rest/a", 200, 10.0),
            ("2026-02-06T05:00:50Z", "rest/a", 201, 30.0),
            ("2026-02-06T05:00:59.999Z", "rest/a", 409, 5.0),
            ("2026-02-06T05:01:00Z", "rest/a", 200, np.nan),
            ("2026-02-06T05:00:30Z", "auth/user", 200, 7.0),
        ]
    )
    out = traffic.aggregate_requests(frame)
    assert list(out.columns) == list(traffic.TRAFFIC_COLUMNS)
    assert out.attrs["source"] == traffic.RAW_SOURCE
    rows = [tuple(r) for r in out[["minute", "endpoint", "status_class", "requests"]].to_numpy()]
    assert rows == [
        (T0, "auth/user", 2, 1),
        (T0, "rest/a", 2, 2),
        (T0, "rest/a", 4, 1),
        (T0 + pd.Timedelta("1min"), "rest/a", 2, 1),
    ]
    first = out.iloc[1]
    assert first["max_origin_time_ms"] == 30.0
    assert first["p95_origin_time_ms"] == pytest.approx(10.0 + 0.95 * 20.0)
    assert np.isnan(out.iloc[3]["max_origin_time_ms"])
    assert traffic.aggregate_requests(frame.iloc[:0]).empty


def test_requests_per_minute_by_endpoint_and_in_total():
    frame = _requests(
        [
            ("2026-02-06T04:59:59Z", "rest/a", 200, 1.0),
            ("2026-02-06T05:00:00Z", "rest/a", 200, 1.0),
            ("2026-02-06T05:02:30Z", "rest/a", 500, 1.0),
            ("2026-02-06T05:02:31Z", "rest/b", 200, 1.0),
            ("2026-02-06T05:03:00Z", "rest/b", 200, 1.0),
        ]
    )
    table = traffic.aggregate_requests(frame)
    end = T0 + pd.Timedelta("3min")
    assert traffic.count_requests(table, T0, end, "rest/a").tolist() == [1, 0, 1]
    assert traffic.count_requests(table, T0, end).tolist() == [1, 0, 2]
    assert traffic.count_requests(table, T0, end, "rest/none").tolist() == [0, 0, 0]
    assert traffic.list_endpoints(table) == {"rest/a", "rest/b"}
    assert traffic.is_whole_minute(T0) and not traffic.is_whole_minute(T0 + pd.Timedelta("1s"))


# ---- raw and hybrid on the shipped incident ------------------------------------------------


@pytest.fixture(scope="module")
def raw(shared_cache_dir):
    return ingest.load_incident(config.DEFAULT_INCIDENT_DIR, cache_dir=shared_cache_dir)


def _edge_minutes_page(requests: pd.DataFrame) -> dict:
    """What the log store's per-minute query returns, counted here one row at a time."""
    counts: Counter = Counter()
    for ts, path, status in zip(requests["ts"], requests["path"], requests["status"], strict=True):
        minute = int(ts.floor("min").value // 1000)
        head = re.match(r"^((?:/[^/]*){1,4})", path).group(1)
        counts[(minute, head, int(status) // 100)] += 1
    rows = [
        {
            "minute": minute,
            "path": path,
            "status_class": cls,
            "requests": n,
            "max_origin_time_ms": None,
            "p95_origin_time_ms": None,
        }
        for (minute, path, cls), n in sorted(counts.items())
    ]
    return {"result": rows, "error": None}


@pytest.fixture(scope="module")
def hybrid(raw, tmp_path_factory):
    """The shipped incident as hybrid mode delivers it: error rows raw, traffic aggregated."""
    page = tmp_path_factory.mktemp("hybrid") / "page-0001.json.gz"
    page.write_bytes(gzip.compress(json.dumps(_edge_minutes_page(raw.requests)).encode()))
    rows, accounting = traffic_pages.read_traffic_page(
        page, "traffic/edge_minutes/page-0001.json.gz", "edge_minutes", raw.window
    )
    assert accounting["rejected"] == 0
    table = traffic_pages.traffic_table([rows])
    table.attrs["source"] = "log-store aggregates (edge_logs_traffic_per_minute)"
    errors_only = raw.requests[raw.requests["status"] >= 400].reset_index(drop=True)
    return dataclasses.replace(raw, requests=errors_only, traffic=table)


def _bytes(frame: pd.DataFrame) -> bytes:
    """The frame's values and dtypes as Parquet (attrs, which name the source, left out)."""
    frame = frame.copy()
    frame.attrs = {}
    return frame.to_parquet()


def _timeline(incident):
    return tl.build_timeline(incident, config.DEFAULT_WEBINAR_ID)


def test_raw_and_hybrid_give_the_same_per_minute_frames(raw, hybrid):
    a, b = _timeline(raw), _timeline(hybrid)
    assert len(hybrid.requests) < len(raw.requests) / 5  # most traffic is not an error
    assert a.classes == b.classes
    assert sorted(a.frames) == sorted(b.frames) and a.frames
    for key in a.frames:
        fa, fb = a.frames[key], b.frames[key]
        assert fa.attrs["traffic_source"] == traffic.RAW_SOURCE
        assert fb.attrs["traffic_source"].startswith("log-store aggregates")
        cols = ["minute", "requests", "errors", "concurrency", "samples", "rate"]
        assert _bytes(fa[cols]) == _bytes(fb[cols])
    pd.testing.assert_frame_equal(a.error_minutes, b.error_minutes)
    # findings.json names where each class's request counts came from.
    rows = {r["key"]: r for r in findings.summarize_classes(b)}
    assert {r["requests_source"] for r in rows.values()} == {
        b.frames[k].attrs["traffic_source"] for k in rows
    }
    assert all(r["requests"] == int(a.frames[k]["requests"].sum()) for k, r in rows.items())
    # The statistics cache key hashes exactly what the statistics read.
    assert pipeline.statistics_key(a.frames, 7) == pipeline.statistics_key(b.frames, 7)


@pytest.mark.slow
def test_raw_and_hybrid_give_the_same_verdicts_k_lag_and_intervals(raw, hybrid):
    one = pipeline.cached_statistics(_timeline(raw).frames, params.DEFAULT_SEED, None, workers=2)
    two = pipeline.cached_statistics(_timeline(hybrid).frames, params.DEFAULT_SEED, None, workers=2)
    assert json.dumps(one.to_dict()) == json.dumps(two.to_dict())
    assert any(c.threshold is not None for c in one.classes.values())


def test_raw_and_hybrid_give_the_same_impact_and_data_quality_issues(raw, hybrid):
    a, b = _timeline(raw), _timeline(hybrid)
    rows = findings.summarize_classes(a)
    impact_a = findings.summarize_impact(raw, a.start, a.end, rows)
    impact_b = findings.summarize_impact(hybrid, b.start, b.end, rows)
    assert impact_a == impact_b and impact_a["requests"] == len(raw.requests)
    # The request log is not "silent" in hybrid mode: the log store counted every minute.
    assert [i.to_dict() for i in audit.audit_incident(raw, a)] == [
        i.to_dict() for i in audit.audit_incident(hybrid, b)
    ]


@pytest.fixture(scope="module")
def hybrid_realtime(raw, hybrid):
    """The hybrid incident with Realtime's billing rows aggregated by the log store too."""
    rt = raw.realtime_events
    billing = rt[rt["family"] == "billing_metrics"]
    per = billing.assign(minute=billing["ts"].dt.floor("min")).groupby("minute")
    minutes = pd.DataFrame(
        {
            "samples": per.size(),
            "max_connected": per["connected"].max().astype("int64"),
            "connection_limit": per["limit"].max().astype("int64"),
        }
    ).reset_index()
    others = rt[rt["family"] != "billing_metrics"].reset_index(drop=True)
    return dataclasses.replace(hybrid, realtime_events=others, realtime_minutes=minutes)


def test_raw_and_hybrid_give_the_same_signals_the_statistics_read(raw, hybrid_realtime):
    # Through pipeline.build_timeline, as a report runs: with the signal columns.
    p = params.build_params(config.DEFAULT_WEBINAR_ID, config.DEFAULT_INCIDENT_DIR)
    a = pipeline.build_timeline(raw, p).frames
    b = pipeline.build_timeline(hybrid_realtime, p).frames
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key]["rt_connected"].notna().any()
        # Latency and the endpoint's addresses are what a hybrid fetch cannot give: its
        # aggregates carry no median and name no address (only the error rows do), so neither
        # who sat behind the errors' addresses.
        unknown = ["latency_ms", "endpoint_addresses", "shared_users", "window_users"]
        assert b[key][unknown].isna().all().all()
        assert a[key]["endpoint_addresses"].notna().any()
        left, right = a[key].drop(columns=unknown), b[key].drop(columns=unknown)
        assert _bytes(left) == _bytes(right), key
