"""The reader of the log-store aggregates that ``make fetch MODE=hybrid`` writes."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime

import pandas as pd
import pytest
from fake_supabase_api import FakeSupabaseApi, attribute, make_rows, to_clickhouse

from analysis import fetch
from analysis.exceptions import IngestError
from analysis.ingest import traffic_pages as tp
from analysis.ingest.canonical import endpoint_of

REF = "abcdefghijklmnopqrst"
TOKEN = "sbp_TEST0123456789abcdefSECRETtoken42"
START = datetime(2026, 2, 6, 5, 0, tzinfo=UTC)
END = datetime(2026, 2, 6, 6, 0, tzinfo=UTC)
WINDOW = (pd.Timestamp(START), pd.Timestamp(END))


def hybrid_fetch(tmp_path, flavour: str):
    held = {
        "edge_logs": make_rows("edge_logs", START, END, 1500, ref=REF, seed=21),
        "realtime_logs": make_rows("realtime_logs", START, END, 80, ref=REF, seed=22),
    }
    if flavour == "clickhouse":
        held = {s: [to_clickhouse(r, s) for r in rows] for s, rows in held.items()}
    out = tmp_path / flavour
    plan = fetch.FetchPlan(
        project_ref=REF,
        start=START,
        end=END,
        out_dir=out,
        flavour=flavour,
        mode="hybrid",
        sources=("edge_logs", "realtime_logs"),
    )
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        client = fetch.ApiClient(
            project_ref=REF,
            token=TOKEN,
            flavour=flavour,
            base_url=api.base_url,
            min_interval=0,
            sleep=lambda s: None,
            rng=random.Random(1),
        )
        fetch.fetch_incident(plan, client, progress=False)
    return held, out


def read_kind(out, kind):
    frames, accounting = [], []
    for path in sorted((out / "traffic" / kind).glob("page-*.json.gz")):
        frame, row = tp.read_traffic_page(path, str(path.relative_to(out)), kind, WINDOW)
        frames.append(frame)
        accounting.append(row)
    return frames, accounting


@pytest.mark.parametrize("flavour", ["bigquery", "clickhouse"])
def test_the_pages_a_hybrid_fetch_writes_read_back_to_the_rows_behind_them(tmp_path, flavour):
    held, out = hybrid_fetch(tmp_path, flavour)
    frames, accounting = read_kind(out, "edge_minutes")
    assert all(a["read"] == a["accepted"] > 0 and a["rejected"] == 0 for a in accounting)
    traffic = tp.traffic_table(frames)
    assert list(traffic.columns) == list(tp.TRAFFIC_COLUMNS)
    expected: dict[tuple, int] = {}
    for row in held["edge_logs"]:
        minute = pd.Timestamp(fetch.row_timestamp(row["timestamp"])).floor("min")
        key = (minute, endpoint_of(attribute(row, "request.path")))
        key += (int(attribute(row, "response.status_code")) // 100,)
        expected[key] = expected.get(key, 0) + 1
    got = {
        (r.minute, r.endpoint, r.status_class): r.requests for r in traffic.itertuples(index=False)
    }
    assert got == expected
    assert traffic["minute"].dt.tz is not None and (traffic["max_origin_time_ms"] > 0).all()
    assert traffic["p95_origin_time_ms"].le(traffic["max_origin_time_ms"]).all()

    users = tp.users_table(read_kind(out, "edge_users")[0])
    assert users["requests"].sum() == len(held["edge_logs"]) and users["minute"].is_unique
    realtime = tp.realtime_minutes_table(read_kind(out, "realtime_minutes")[0])
    billing = [r for r in held["realtime_logs"] if r["event_message"].startswith("Billing")]
    assert realtime["samples"].sum() == len(billing)
    assert realtime["max_connected"].max() == max(
        int(attribute(r, "measurements.connected")) for r in billing
    )


def _page(tmp_path, rows, name="page-0001.json.gz"):
    path = tmp_path / name
    path.write_bytes(gzip.compress(json.dumps({"result": rows, "error": None}).encode()))
    return path


def test_malformed_rows_are_counted_by_reason_never_dropped_silently(tmp_path):
    good = {
        "minute": "2026-02-06 05:01:00",
        "path": "/rest/v1/registrations",
        "status_class": 2,
        "requests": 10,
        "max_origin_time_ms": 80.0,
        "p95_origin_time_ms": 40.0,
    }
    rows = [
        good,
        {**good, "minute": "2026-02-06 05:01:30"},  # not a whole minute
        {**good, "minute": "2026-02-06 07:00:00"},  # outside the window
        {**good, "path": "registrations", "minute": "2026-02-06 05:02:00"},
        {**good, "status_class": 7, "minute": "2026-02-06 05:03:00"},
        {**good, "requests": -1, "minute": "2026-02-06 05:04:00"},
        {**good, "requests": True, "minute": "2026-02-06 05:05:00"},
        {**good, "p95_origin_time_ms": None, "minute": "2026-02-06 05:06:00"},  # allowed
        good,  # the same group twice
        {**good, "minute": 1770354420000000},  # BigQuery µs, 05:07
    ]
    frame, accounting = tp.read_traffic_page(
        _page(tmp_path, rows), "t.json.gz", "edge_minutes", WINDOW
    )
    assert accounting["read"] == 10 and accounting["accepted"] == 3 and accounting["rejected"] == 7
    for reason in (
        "bad minute (expected a whole UTC minute): 1",
        "outside window: 1",
        "bad path (expected text starting with /): 1",
        "bad status_class (expected 1, 2, 3, 4 or 5): 1",
        "bad requests (expected a count): 2",
        "duplicate group: 1",
    ):
        assert reason in accounting["reason"], (reason, accounting["reason"])
    assert list(frame["minute"].dt.minute) == [1, 6, 7]


def test_a_file_that_is_not_a_page_is_one_line(tmp_path):
    path = tmp_path / "page-0001.json.gz"
    path.write_bytes(b"not gzip, not json")
    with pytest.raises(IngestError, match="unreadable traffic page") as info:
        tp.read_traffic_page(path, "x", "edge_minutes", WINDOW)
    assert "\n" not in str(info.value)
    error = tmp_path / "page-0002.json.gz"
    error.write_text(json.dumps({"result": None, "error": "Backend error! Retry your query"}))
    with pytest.raises(IngestError, match="not a traffic page"):
        tp.read_traffic_page(error, "x", "edge_users", WINDOW)
