"""The shipped incident's raw rows pushed through a port of each writer Supabase users export with.

``tests/_studio_writers.py`` ports Studio's, PapaParse's and postgres-meta's behaviour
(docs/supabase-exports.md §7). Each test writes the same rows the shipped Management API pages
hold as one export route would, and checks that ingest reads every row and gives the same
canonical tables as the pages (or, for a route that carries fewer fields, the same values of
every field it carries). ``make test`` runs a five-minute slice of the hour; the ``slow`` tests
run the whole hour.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import _studio_writers as w
import pandas as pd
import pytest

from analysis import ingest

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"
SOURCES = ("edge_logs", "postgres_logs", "realtime_logs")
TABLES = ("webinars", "registrations", "webinar_live_presence", "webinar_viewer_counts")
#: The slice ``make test`` regenerates (it holds the outage's errors of every source).
SLICE = (pd.Timestamp("2026-02-06T05:40:00Z"), pd.Timestamp("2026-02-06T05:45:00Z"))
LOG_TABLES = {
    "edge_logs": "requests",
    "postgres_logs": "db_errors",
    "realtime_logs": "realtime_events",
}


def _us(ts: pd.Timestamp) -> int:
    return ts.value // 1000


@functools.cache
def shipped_rows(window: tuple[pd.Timestamp, pd.Timestamp] | None) -> dict[str, list[dict]]:
    """The Management API rows of every source, time-ordered (as the pages hold them)."""
    out = {}
    for source in SOURCES:
        rows = []
        for page in sorted((SHIPPED / source).glob("page-*.json.gz")):
            rows += json.loads(gzip.decompress(page.read_bytes()))["result"]
        if window is not None:
            lo, hi = _us(window[0]), _us(window[1])
            rows = [r for r in rows if lo <= r["timestamp"] < hi]
        out[source] = sorted(rows, key=lambda r: (r["timestamp"], r["id"]))
    return out


def chunks(rows: list, size: int = 1000) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _base(root: Path, window: tuple[pd.Timestamp, pd.Timestamp] | None, tables: bool = True):
    """An incident directory holding the shipped manifest (and tables), no logs yet."""
    root.mkdir(parents=True)
    manifest = json.loads((SHIPPED / "incident.json").read_text())
    if window is not None:
        manifest["window_start"] = window[0].strftime("%Y-%m-%dT%H:%M:%SZ")
        manifest["window_end"] = window[1].strftime("%Y-%m-%dT%H:%M:%SZ")
    (root / "incident.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    shutil.copy(SHIPPED / "annotations.csv", root / "annotations.csv")
    if tables:
        shutil.copytree(SHIPPED / "tables", root / "tables")
    return root


def write_api_pages(root: Path, rows: dict[str, list[dict]]) -> None:
    """The reference: the rows as Management API pages (the shipped layout)."""
    for source, source_rows in rows.items():
        (root / source).mkdir()
        for n, chunk in enumerate(chunks(source_rows), start=1):
            body = json.dumps({"result": chunk, "error": None}).encode()
            (root / source / f"page-{n:04d}.json.gz").write_bytes(gzip.compress(body, mtime=0))


def write_clickhouse_pages(root: Path, rows: dict[str, list[dict]]) -> None:
    """Management API pages of a ClickHouse project: the table ``logs``, one query a source."""
    for source, source_rows in rows.items():
        (root / source).mkdir()
        for n, chunk in enumerate(chunks(source_rows), start=1):
            result = [w.clickhouse_log_row(source, r) for r in chunk]
            body = json.dumps({"result": result, "error": None}).encode()
            (root / source / f"page-{n:04d}.json.gz").write_bytes(gzip.compress(body, mtime=0))


def write_explorer(root: Path, rows: dict[str, list[dict]], ext: str) -> list[str]:
    """Logs Explorer downloads of ``select id, timestamp, event_message, metadata`` per source,
    1000 rows a query; the browser numbers the repeated file name."""
    files = []
    for source in SOURCES:
        for chunk in chunks(rows[source]):
            projected = [
                {k: r[k] for k in ("id", "timestamp", "event_message", "metadata") if k in r}
                for r in chunk
            ]
            text = w.results_csv(projected) if ext == "csv" else w.results_json(projected)
            files.append(text)
    names = w.repeated_download_names(w.explorer_file_name("yqsayphssjznthrxpgfb", ext), len(files))
    (root / "exports").mkdir()
    for name, text in zip(names, files, strict=True):
        (root / "exports" / name).write_text(text, encoding="utf-8")
    return names


def write_unified(root: Path, rows: dict[str, list[dict]], ext: str, backend: str) -> None:
    """Unified Logs page downloads (1000 rows, newest first); BigQuery's page has no Realtime
    branch, so there the Realtime rows come as the Management API's pages."""
    project = w.unified_bq_projection if backend == "bigquery" else w.unified_otel_projection
    result = []
    for source in SOURCES:
        for r in rows[source]:
            if backend == "clickhouse":
                r = {**r, "timestamp": w.clickhouse_timestamp(r["timestamp"])}
            row = project(source, r)
            if row is not None:
                result.append(row)
    if backend == "bigquery":
        write_api_pages(root, {"realtime_logs": rows["realtime_logs"]})
    result.sort(key=lambda r: (str(r["timestamp"]), r["id"]), reverse=True)
    (root / "exports").mkdir()
    pages = chunks(result)
    names = w.repeated_download_names(w.UNIFIED_FILE_NAMES[ext], len(pages))
    for name, chunk in zip(names, pages, strict=True):
        shown = w.retrieve_unified_logs(chunk)
        text = w.unified_csv(shown) if ext == "csv" else w.unified_json(shown)
        (root / "exports" / name).write_text(text, encoding="utf-8")


def postgres_meta_rows(table: str) -> tuple[list[str], list[dict]]:
    """A shipped table as postgres-meta hands it to Studio (timestamptz as text, int8 numbers)."""
    with open(SHIPPED / "tables" / f"{table}.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        rows = []
        for raw in reader:
            row: dict = {}
            for key, value in raw.items():
                if value == "":
                    row[key] = None
                elif key in ("id", "viewer_count") and value.isdigit():
                    row[key] = int(value)
                elif key.endswith("_at"):
                    row[key] = w.pg_timestamptz_text(datetime.fromisoformat(value))
                else:
                    row[key] = value
            rows.append(row)
    return columns, rows


def write_table_editor(root: Path) -> None:
    (root / "tables").mkdir()
    for table in TABLES:
        columns, rows = postgres_meta_rows(table)
        text = w.table_editor_csv(rows, columns)
        (root / "tables" / w.table_editor_file_name(table)).write_text(text, encoding="utf-8")


def write_sql_editor(root: Path, ext: str) -> None:
    (root / "tables").mkdir()
    for table in TABLES:
        _, rows = postgres_meta_rows(table)
        text = w.results_csv(rows) if ext == "csv" else w.results_json(rows)
        (root / "tables" / w.sql_editor_file_name(f"select {table}", ext)).write_text(
            text, encoding="utf-8"
        )


def _load(root: Path) -> ingest.Incident:
    return ingest.load_incident(root, use_cache=False)


def _sorted(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def assert_same_tables(got: ingest.Incident, want: ingest.Incident, names) -> None:
    for name in names:
        key = {"concurrency": "ts", "sessions": "session_id", "webinars": "webinar_id"}.get(
            name, "id"
        )
        g, e = getattr(got, name), getattr(want, name)
        assert len(g) > 0 or len(e) == 0, name
        pd.testing.assert_frame_equal(_sorted(g, key), _sorted(e, key), obj=name)


def assert_every_row_read(got: ingest.Incident, want: ingest.Incident, kinds) -> None:
    """Per kind: as many rows accepted as from the pages, and no rejection reason of its own."""
    for kind in kinds:
        g = got.accounting[got.accounting["kind"] == kind]
        e = want.accounting[want.accounting["kind"] == kind]
        assert g["accepted"].sum() == e["accepted"].sum(), (kind, g, e)


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    rows = shipped_rows(SLICE)
    assert all(rows.values())
    ref = _base(tmp_path_factory.mktemp("ref") / "pages", SLICE)
    write_api_pages(ref, rows)
    return rows, _load(ref)


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_logs_explorer_downloads_give_the_same_tables_as_the_api_pages(sliced, tmp_path, ext):
    rows, want = sliced
    root = _base(tmp_path / "explorer", SLICE)
    names = write_explorer(root, rows, ext)
    assert names[1] == f"supabase-logs-yqsayphssjznthrxpgfb.csv (1).{ext}"
    got = _load(root)
    assert_every_row_read(got, want, SOURCES)
    assert_same_tables(got, want, LOG_TABLES.values())


def test_clickhouse_api_pages_give_the_same_tables(sliced, tmp_path):
    rows, want = sliced
    root = _base(tmp_path / "clickhouse", SLICE)
    write_clickhouse_pages(root, rows)
    page = json.loads(gzip.decompress((root / "edge_logs" / "page-0001.json.gz").read_bytes()))
    first = page["result"][0]
    assert first["log_attributes"]["request.method"] and "." in first["timestamp"]
    got = _load(root)
    assert_every_row_read(got, want, SOURCES)
    assert_same_tables(got, want, LOG_TABLES.values())


@pytest.mark.parametrize("stamps", ["text", "micros"])
def test_clickhouse_explorer_download_gives_the_same_tables(sliced, tmp_path, stamps):
    # A Logs Explorer CSV of `select id, timestamp, event_message, source, severity_text,
    # log_attributes from logs` on a ClickHouse project: the log store's text times, or the
    # microseconds Studio's preview rows are turned into (mapOtelPreviewRow).
    rows, want = sliced
    root = _base(tmp_path / "chx", SLICE)
    (root / "exports").mkdir()
    texts = []
    for source in SOURCES:
        for chunk in chunks(rows[source]):
            result = [w.clickhouse_log_row(source, r) for r in chunk]
            if stamps == "micros":
                for out, row in zip(result, chunk, strict=True):
                    out["timestamp"] = row["timestamp"]
            texts.append(w.results_csv(result))
    names = w.repeated_download_names(w.explorer_file_name("ref", "csv"), len(texts))
    for name, text in zip(names, texts, strict=True):
        (root / "exports" / name).write_text(text, encoding="utf-8")
    got = _load(root)
    assert_every_row_read(got, want, SOURCES)
    assert_same_tables(got, want, LOG_TABLES.values())


def test_explorer_csv_cells_are_studio_s(sliced, tmp_path):
    # What the port writes, checked on its own: null metadata cells, CRLF, quoting.
    rows, _ = sliced
    text = w.results_csv([{"id": "a", "timestamp": 1, "event_message": 'x "y"', "metadata": None}])
    assert text == 'id,timestamp,event_message,metadata\r\na,1,"x ""y""",null'
    first = w.results_csv(rows["realtime_logs"][:1])
    assert first.startswith("id,timestamp,event_message,metadata\r\n")
    assert '"[{""external_id""' in first and not first.endswith("\r\n")


@pytest.mark.parametrize("ext", ["csv", "json"])
@pytest.mark.parametrize("backend", ["bigquery", "clickhouse"])
def test_unified_logs_downloads_read_every_row_and_field(sliced, tmp_path, ext, backend):
    rows, want = sliced
    root = _base(tmp_path / "unified", SLICE)
    write_unified(root, rows, ext, backend)
    got = _load(root)
    assert_every_row_read(got, want, SOURCES)
    # The unified export carries id, time, method, path and status of a request ...
    cols = ["id", "ts", "method", "path", "status", "endpoint"]
    pd.testing.assert_frame_equal(
        _sorted(got.requests[cols], "id"), _sorted(want.requests[cols], "id")
    )
    # ... and the SQLSTATE, severity and message of a Postgres line.
    cols = ["id", "ts", "sql_state", "severity", "message"]
    pd.testing.assert_frame_equal(
        _sorted(got.db_errors[cols], "id"), _sorted(want.db_errors[cols], "id")
    )
    cols = ["id", "ts", "message", "family"]
    pd.testing.assert_frame_equal(
        _sorted(got.realtime_events[cols], "id"), _sorted(want.realtime_events[cols], "id")
    )


def test_table_editor_exports_give_the_same_tables(sliced, tmp_path):
    _, want = sliced
    root = _base(tmp_path / "tables", SLICE, tables=False)
    write_api_pages(root, shipped_rows(SLICE))
    write_table_editor(root)
    assert sorted(p.name for p in (root / "tables").iterdir())[0] == "registrations_rows.csv"
    raw = (root / "tables" / "webinars_rows.csv").read_bytes()
    assert b"+00" in raw and b".000000+00" not in raw and raw.count(b"\r\n") >= 1
    got = _load(root)
    assert_same_tables(got, want, ["webinars", "registrations", "sessions", "concurrency"])


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_sql_editor_result_downloads_give_the_same_tables(sliced, tmp_path, ext):
    _, want = sliced
    root = _base(tmp_path / "sql", SLICE, tables=False)
    write_api_pages(root, shipped_rows(SLICE))
    write_sql_editor(root, ext)
    got = _load(root)
    assert_same_tables(got, want, ["webinars", "registrations", "sessions", "concurrency"])


def test_unified_download_dates_are_what_studio_writes():
    # retrieveUnifiedLogs turns µs into a Date: ISO with ms and Z in JSON, a quoted JSON string
    # in the CSV; a ClickHouse text timestamp is not a number, so its date is null.
    shown = w.retrieve_unified_logs(
        [{"id": "a", "timestamp": 1770354051607000, "status": None, "log_type": "postgres"}]
    )
    assert '"date": "2026-02-06T05:00:51.607Z"' in w.unified_json(shown)
    csv_text = w.unified_csv(shown)
    assert '"""2026-02-06T05:00:51.607Z"""' in csv_text and ",200," in csv_text
    shown = w.retrieve_unified_logs([{"id": "a", "timestamp": "2026-02-06T05:00:51.607000"}])
    assert '"date": null' in w.unified_json(shown)
    assert io.StringIO(csv_text).readline().rstrip("\r\n").split(",")[:3] == [
        "id",
        "date",
        "timestamp",
    ]


#: Whole directories, one per export route (``python tests/test_real_writers.py OUT``): logs
#: and tables as a user of that route downloads them.
ROUTES = {
    "explorer-csv+table-editor": lambda root, rows: (
        write_explorer(root, rows, "csv"),
        write_table_editor(root),
    ),
    "explorer-json+sql-editor-csv": lambda root, rows: (
        write_explorer(root, rows, "json"),
        write_sql_editor(root, "csv"),
    ),
    "unified-clickhouse-csv+sql-editor-json": lambda root, rows: (
        write_unified(root, rows, "csv", "clickhouse"),
        write_sql_editor(root, "json"),
    ),
}


def write_route(root: Path, route: str, window=None) -> Path:
    """Write the shipped incident (``window``: a slice, None: the hour) as ``route`` gives it."""
    _base(root, window, tables=False)
    ROUTES[route](root, shipped_rows(window))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("route", ["explorer-csv+table-editor", "explorer-json+sql-editor-csv"])
def test_whole_hour_through_a_route_gives_the_shipped_tables(tmp_path, route):
    want = _load(SHIPPED)
    got = _load(write_route(tmp_path / route, route))
    assert_every_row_read(got, want, [*SOURCES, *TABLES])
    assert_same_tables(
        got, want, [*LOG_TABLES.values(), "webinars", "registrations", "sessions", "concurrency"]
    )


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1])
    for name in sys.argv[2:] or ROUTES:
        print(write_route(out / name, name))
