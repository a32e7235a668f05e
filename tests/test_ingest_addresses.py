"""A request's client address: read from every export shape that carries one, keyed-hashed.

The gateway logs the client's address in its allow-listed headers (``cf_connecting_ip``,
``x_real_ip``, ``x_forwarded_for``, hyphens turned into underscores) and, in its message's
third field, ``METHOD | STATUS | address | ray | URL | UA``. The shipped slice's rows are
written through each export shape with a third of them relying on each header in turn (the
headers before it dropped or naming no address); every request must get the pseudonym of its
own client address, computed here from the raw row, and no raw address may reach a table.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_ingest_projects import ROUTES
from test_real_writers import SLICE, _base, _load, shipped_rows, write_api_pages

from analysis import addresses, ingest, privacy
from analysis.ingest import canonical, fast, shapes
from analysis.simulate.clickhouse import selected_attributes

_IP_RE = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def _headers(row: dict) -> dict:
    return row["metadata"][0]["request"][0]["headers"][0]


def varied_rows() -> dict[str, list[dict]]:
    """The slice's rows; gateway rows in turn keep Cloudflare's header, only the gateway's
    (Cloudflare's naming no address), or only X-Forwarded-For with a proxy after the client."""
    rows = json.loads(json.dumps(shipped_rows(SLICE)))
    for n, row in enumerate(rows["edge_logs"]):
        headers = _headers(row)
        ip = headers["cf_connecting_ip"]
        if n % 3 == 1:
            headers["cf_connecting_ip"] = "unknown"
        elif n % 3 == 2:
            headers["cf_connecting_ip"] = headers["x_real_ip"] = None
            headers["x_forwarded_for"] = f"{ip}, 10.0.0.7"
    return rows


def expected_addresses(rows: dict[str, list[dict]], key: bytes) -> dict[str, str]:
    """Request id -> the pseudonym of its client's address, from the raw rows alone."""
    return {
        row["id"]: addresses.pseudonymise_address(row["event_message"].split(" | ")[2], key)
        for row in rows["edge_logs"]
    }


def got_addresses(incident: ingest.Incident) -> dict[str, str | None]:
    requests = incident.requests
    return {
        i: (None if pd.isna(a) else a)
        for i, a in zip(requests["id"], requests["address"], strict=True)
    }


@pytest.fixture(scope="module")
def rows():
    return varied_rows()


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_shape_gives_each_request_its_client_s_address(tmp_path, monkeypatch, rows, route):
    root = _base(tmp_path / route, SLICE)
    ROUTES[route](root, rows)
    if route == "api-pages-general-reader":
        monkeypatch.setattr(fast, "try_read_page", lambda path, flavour=None: None)
    got = got_addresses(_load(root))
    want = expected_addresses(rows, privacy.pseudonym_key())
    assert got == want
    assert len(set(got.values())) > 20  # the slice's clients, not one placeholder


def test_the_product_page_s_csv_takes_the_address_from_the_message(tmp_path):
    """The gateway's log page (b in docs/supabase-exports.md §2) selects no header: its
    message's third field is the address; the newer message form without one gives none."""
    edge = shipped_rows(SLICE)["edge_logs"][:40]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = ["id", "identifier", "timestamp", "event_message", "method", "path", "search"]
    writer.writerow([*columns, "status_code"])
    for n, row in enumerate(edge):
        request = row["metadata"][0]["request"][0]
        message = row["event_message"]
        if n % 2:  # the newer form: no address, no ray
            method, status, _ip, _ray, *rest = message.split(" | ")
            message = " | ".join([method, status, *rest])
        writer.writerow(
            [row["id"], row["identifier"], row["timestamp"], message, request["method"],
             request["path"], request.get("search") or "",
             row["metadata"][0]["response"][0]["status_code"]]
        )  # fmt: skip
    root = _base(tmp_path / "product", SLICE)
    (root / "exports").mkdir()
    (root / "exports" / "edge.csv").write_text(out.getvalue(), encoding="utf-8")
    got = got_addresses(_load(root))
    want = expected_addresses({"edge_logs": edge}, privacy.pseudonym_key())
    assert len(got) == len(edge)
    for n, row in enumerate(edge):
        assert got[row["id"]] == (None if n % 2 else want[row["id"]])


def test_a_shape_without_any_address_leaves_it_empty(tmp_path):
    """The unified Logs download writes ``headers`` as ``{}`` and no message on BigQuery:
    the address is unknown, never guessed."""
    from test_real_writers import write_unified

    root = _base(tmp_path / "unified", SLICE)
    write_unified(root, shipped_rows(SLICE), "csv", "bigquery")
    got = _load(root)
    assert len(got.requests) > 0
    assert got.requests["address"].isna().all()


def _frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {f"address_{h}": [None] * n for h in shapes.ADDRESS_HEADERS}
    return pd.DataFrame({**base, **columns})


@pytest.mark.parametrize(
    ("cells", "message", "want"),
    [
        ({"address_cf_connecting_ip": "203.0.113.9", "address_x_real_ip": "198.51.100.1"},
         None, "203.0.113.9"),
        ({"address_cf_connecting_ip": "unknown", "address_x_real_ip": "198.51.100.1"},
         None, "198.51.100.1"),
        ({"address_x_forwarded_for": "203.0.113.9, 10.0.0.1, 10.0.0.2"}, None, "203.0.113.9"),
        ({"address_x_forwarded_for": "[2001:DB8::1]:443"}, None, "2001:db8::1"),
        ({"address_cf_connecting_ip": "::ffff:203.0.113.9"}, None, "203.0.113.9"),
        ({}, "GET | 200 | 203.0.113.9 | 8a1f | https://x.supabase.co/a | curl/8", "203.0.113.9"),
        ({}, "GET | 200 | https://x.supabase.co/a | curl/8", None),
        ({"address_cf_connecting_ip": {"nested": "203.0.113.9"}}, None, None),
        ({"address_cf_connecting_ip": 42}, None, None),
        ({"address_x_real_ip": "gateway.internal"}, "GET | 200 | not-an-ip | r | u | a", None),
    ],
)  # fmt: skip
def test_the_first_header_naming_an_address_is_the_client_s(cells, message, want):
    frame = _frame(**{k: [v] for k, v in cells.items()} or {"address_x_real_ip": [None]})
    got = canonical.client_addresses(frame, pd.Series([message], dtype="string"))
    assert (None if pd.isna(got[0]) else got[0]) == want


def test_no_raw_address_reaches_a_table_or_the_accounting(tmp_path):
    rows = shipped_rows(SLICE)
    raw = {m for r in rows["edge_logs"] for m in _IP_RE.findall(json.dumps(r))}
    assert len(raw) > 20
    root = _base(tmp_path / "raw", SLICE)
    write_api_pages(root, rows)
    incident = _load(root)
    for name in ("requests", "db_errors", "realtime_events", "accounting"):
        frame = getattr(incident, name) if name != "accounting" else incident.accounting
        text = frame.astype(str).to_csv()
        assert not raw & set(_IP_RE.findall(text)), name


def test_another_key_gives_other_pseudonyms(tmp_path, monkeypatch):
    rows = shipped_rows(SLICE)
    root = _base(tmp_path / "keys", SLICE)
    write_api_pages(root, rows)
    first = got_addresses(_load(root))
    monkeypatch.setenv("POSTMORTEM_PSEUDONYM_KEY", "another key of the analyst's own")
    second = got_addresses(_load(root))
    assert len(set(first.values())) == len(set(second.values())) > 20
    assert not set(first.values()) & set(second.values())
    assert second == expected_addresses(rows, b"another key of the analyst's own")


def test_the_raw_clickhouse_query_and_the_fast_schemas_select_every_address_header():
    queries = Path(ingest.__file__).parents[1] / "queries"
    selected = dict(selected_attributes((queries / "edge_logs_raw.clickhouse.sql").read_text()))
    for header in ("cf_connecting_ip", "x_real_ip", "x_forwarded_for"):
        name = f"request.headers.{header}"
        assert selected.get(name) == name
        assert name in fast.PROJECTION_COLUMNS
        assert name in fast._FAST_COLUMNS["edge_logs"]
