"""A hybrid fetch's directory: raw error rows plus the log store's per-minute aggregates."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest
from analysis.exceptions import IngestError

WINDOW = {"window_start": "2026-02-06T05:00:00Z", "window_end": "2026-02-06T06:00:00Z"}
M0 = 1770354000000000  # 05:00 UTC in microseconds
MIN = 60_000_000


def _page(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"result": rows, "error": None}).encode(), mtime=0))


def _hybrid(root: Path, edge_minutes: list[dict]) -> Path:
    files = {
        "traffic/edge_minutes/*": {"kind": "edge_minutes"},
        "traffic/edge_users/*": {"kind": "edge_users"},
        "traffic/realtime_minutes/*": {"kind": "realtime_minutes"},
    }
    root.mkdir()
    manifest = {"name": "hybrid", **WINDOW, "fetch_mode": "hybrid", "files": files}
    (root / "incident.json").write_text(json.dumps(manifest))
    error = {
        "id": "a0000000-0000-4000-8000-000000000001",
        "timestamp": M0 + 5 * MIN + 1000,
        "event_message": "POST | 409 | x",
        "metadata": [
            {
                "request": [{"method": "POST", "path": "/rest/v1/registrations"}],
                "response": [{"status_code": 409}],
            }
        ],
    }
    _page(root / "edge_logs" / "page-0001.json.gz", [error])
    _page(root / "traffic" / "edge_minutes" / "page-0001.json.gz", edge_minutes)
    _page(
        root / "traffic" / "edge_users" / "page-0001.json.gz",
        [{"minute": M0 + 5 * MIN, "users": 3, "requests": 12}],
    )
    _page(
        root / "traffic" / "realtime_minutes" / "page-0001.json.gz",
        [{"minute": M0 + 5 * MIN, "samples": 12, "max_connected": 310, "connection_limit": 500}],
    )
    return root


EDGE_MINUTES = [
    {
        "minute": M0 + 5 * MIN,
        "path": "/rest/v1/registrations",
        "status_class": 2,
        "requests": 10,
        "max_origin_time_ms": 120.0,
        "p95_origin_time_ms": 80.0,
    },
    {
        "minute": M0 + 5 * MIN,
        "path": "/rest/v1/registrations",
        "status_class": 4,
        "requests": 2,
        "max_origin_time_ms": 30.0,
        "p95_origin_time_ms": None,
    },
    {
        "minute": M0 + 90 * MIN,
        "path": "/rest/v1/registrations",
        "status_class": 2,
        "requests": 1,
        "max_origin_time_ms": None,
        "p95_origin_time_ms": None,
    },
]


def test_hybrid_directory_reads_errors_raw_and_traffic_per_minute(tmp_path):
    inc = ingest.load_incident(_hybrid(tmp_path / "h", EDGE_MINUTES), use_cache=False)
    assert list(inc.requests["status"]) == [409]
    traffic = inc.traffic
    assert list(traffic["endpoint"]) == ["rest/registrations"] * 2
    assert list(traffic["requests"]) == [10, 2]
    assert traffic["minute"].iloc[0] == pd.Timestamp("2026-02-06T05:05:00Z")
    assert inc.traffic_source == "log-store aggregates"
    assert list(inc.traffic_users["users"]) == [3]
    assert list(inc.realtime_minutes["max_connected"]) == [310]
    acc = inc.accounting.set_index("file")
    page = acc.loc["traffic/edge_minutes/page-0001.json.gz"]
    assert (page["kind"], page["read"], page["accepted"], page["reason"]) == (
        "edge_minutes",
        3,
        2,
        "outside window: 1",
    )
    assert (acc["read"] == acc["accepted"] + acc["rejected"]).all()


def test_hybrid_directory_round_trips_through_the_cache(tmp_path):
    root = _hybrid(tmp_path / "h", EDGE_MINUTES)
    first = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    again = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    assert again.from_cache
    pd.testing.assert_frame_equal(first.traffic, again.traffic)
    pd.testing.assert_frame_equal(first.accounting, again.accounting)


def test_a_raw_directory_has_no_traffic(tmp_path):
    inc = ingest.load_incident(
        Path(__file__).parent / "fixtures" / "ingest" / "incident", use_cache=False
    )
    assert inc.traffic.empty and inc.traffic_source == "none"


def test_an_aggregate_page_whose_every_row_is_bad_stops_the_run(tmp_path):
    bad = [dict(row, status_class=9) for row in EDGE_MINUTES[:2]]
    with pytest.raises(IngestError, match="every row rejected: bad status_class"):
        ingest.load_incident(_hybrid(tmp_path / "h", bad), use_cache=False)


def test_a_traffic_page_gzip_bomb_is_one_line(tmp_path, monkeypatch):
    from analysis.ingest import files

    monkeypatch.setattr(files, "MAX_GUNZIP_BYTES", 1024 * 1024)
    root = _hybrid(tmp_path / "h", EDGE_MINUTES)
    page = root / "traffic" / "edge_users" / "page-0001.json.gz"
    page.write_bytes(gzip.compress(b" " * (4 * 1024 * 1024)))
    with pytest.raises(IngestError, match="gzip file too large once decompressed"):
        ingest.load_incident(root, use_cache=False)


def test_traffic_endpoints_hold_no_address_token_or_user_id(tmp_path):
    """A path outside Supabase's APIs is its own endpoint: redacted like any path, known user
    ids (here an integer one, named by the error row) pseudonymised; endpoints that become the
    same are added up, so no request is lost."""
    rows = [
        {**EDGE_MINUTES[0], "path": path, "requests": n}
        for path, n in (
            ("/api/members/10081/avatar", 3),
            ("/api/mail/jane.doe@private-mail.example", 4),
            ("/api/mail/john@private-mail.example", 5),
            ("/api/from/203.0.113.77", 6),
        )
    ]
    root = _hybrid(tmp_path / "h", rows)
    page = root / "edge_logs" / "page-0001.json.gz"
    body = json.loads(gzip.decompress(page.read_bytes()))
    body["result"][0]["metadata"][0]["request"][0]["sb"] = [{"auth_user": "10081"}]
    page.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))
    inc = ingest.load_incident(root, use_cache=False)
    pseudonym = inc.requests["user"].iloc[0]
    assert pseudonym.startswith("u_")
    got = dict(zip(inc.traffic["endpoint"], inc.traffic["requests"], strict=True))
    assert got == {
        f"api/members/{pseudonym}/avatar": 3,
        "api/mail/[email]": 9,
        "api/from/[ip]": 6,
    }
