"""Exports Studio writes that docs/supabase-exports.md §9 did not list before session 11.

Read from the current Studio source (docs/supabase-exports.md §11 names each file):

- the table editor's "Export via CLI" dialog (``ExportDialog.tsx``), whose two commands the
  user pastes into a terminal: ``psql ... -c "COPY (SELECT * FROM ...) TO STDOUT WITH CSV
  HEADER ..." > <table>_rows.csv`` and ``pg_dump ... --table=... --data-only --column-inserts
  > <table>_rows.sql``: plain pg_dump, one INSERT a row, names quoted only where needed, and
  pg_dump's own ``\\restrict`` lines (the CLI's ``db dump`` comments them out; these do not);
- a product log page's download on a ClickHouse project (``useLogsPreview.ts`` with
  ``Logs.utils.otel.ts``): the list rows, their time turned into microseconds, merged with the
  attribute columns a second query fetches, attributes first, so the header is
  ``id,identifier,method,path,search,status_code,timestamp,event_message``;
- the Logs Explorer's "copy selected rows" (``LogTable.tsx``, ``formatLogsAsCsv`` and
  ``formatLogsAsJson`` of ``Logs.utils.ts``): the rows deduplicated and newest first, in the
  cells the download writes (``Logs.utils.test.ts`` pins them: header from the first row,
  CRLF, RFC 4180 quotes, null as ``null``; JSON indented by two).

Each is written from the shipped incident's five-minute slice by a port here and read to the
tables the Management API pages give (or, for a route that carries fewer fields, to the same
values of every field it carries).
"""

from __future__ import annotations

import csv
import io
import re

import _sql_writers as sw
import _studio_writers as w
import pandas as pd
import pytest
from test_real_writers import (
    LOG_TABLES,
    SLICE,
    SOURCES,
    TABLES,
    _base,
    _load,
    _sorted,
    assert_every_row_read,
    assert_same_tables,
    postgres_meta_rows,
    shipped_rows,
    write_api_pages,
)

from analysis.exceptions import IngestError
from analysis.ingest.shapes import page_flavour

REF = "yqsayphssjznthrxpgfb"
RESTRICT = "Qm3TzL0xV8cN1bR5pW7yK2dH4sJ6fA9e"


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    rows = shipped_rows(SLICE)
    ref = _base(tmp_path_factory.mktemp("ref") / "pages", SLICE)
    write_api_pages(ref, rows)
    return rows, _load(ref)


# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------


def copy_csv(columns: list[str], rows: list[dict]) -> str:
    """``COPY ... TO STDOUT WITH CSV HEADER``: LF, a NULL an empty unquoted cell, quotes where
    a value holds the delimiter, a quote or a line end (psql prints no status line after it:
    it would go where the data went)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if r[c] is None else str(r[c]) for c in columns] for r in rows])
    return out.getvalue()


_KEYWORDS = frozenset({"user", "order", "limit", "table", "group", "select", "from", "where"})


def pg_ident(name: str) -> str:
    """pg_dump's ``fmtId`` (no ``--quote-all-identifiers``): a plain lower-case name that is no
    keyword stays bare, any other is double-quoted."""
    plain = re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name not in _KEYWORDS
    return name if plain else sw.quote_all(name)


#: A plain dump (psql reads it, so its `\restrict` line is not commented): the same head as
#: the dashboard backup's writer with that one line changed.
_PLAIN_DUMP_HEAD = re.sub(
    r"^-- \\restrict \S+$", lambda _: f"\\restrict {RESTRICT}", sw._PG_DUMP_HEAD, flags=re.M
)


def pg_dump_plain(schema: str, table: str, columns: list[str], rows: list[dict]) -> str:
    """``pg_dump --table=schema.table --data-only --column-inserts`` as the dialog runs it:
    one INSERT a row, pg_dump 17.6's ``\\restrict`` and ``\\unrestrict`` psql lines."""
    numeric = {c for c in columns if all(isinstance(r[c], int) for r in rows if r[c] is not None)}
    name = f"{pg_ident(schema)}.{pg_ident(table)} ({', '.join(pg_ident(c) for c in columns)})"
    lines = [_PLAIN_DUMP_HEAD, sw._section(schema, table)]
    for row in rows:
        values = ", ".join(sw.pg_dump_value(row[c], c in numeric) for c in columns)
        lines.append(f"INSERT INTO {name} VALUES ({values});\n")
    lines.append("\n\n--\n-- PostgreSQL database dump complete\n--\n\n")
    lines.append(f"\\unrestrict {RESTRICT}\n\n")
    return "".join(lines)


def otel_page_row(source: str, row: dict) -> dict:
    """A ClickHouse project's product page row: the hydrated attribute columns (strings, as
    ``log_attributes`` values are), then the list row's id, time in microseconds (whole
    milliseconds, ``otelTimestampToMicros``) and message."""
    attrs = w._otel_attributes(source, row)
    micros = row["timestamp"] // 1000 * 1000
    if source == "edge_logs":
        names = {
            "identifier": "identifier",
            "method": "request.method",
            "path": "request.path",
            "search": "request.search",
            "status_code": "response.status_code",
        }
    elif source == "postgres_logs":
        names = {
            "identifier": "identifier",
            "error_severity": "parsed.error_severity",
            "detail": "parsed.detail",
            "hint": "parsed.hint",
        }
    else:
        names = {}  # Realtime's page has no attribute column: no second query
    hydrated = {"id": row["id"]} if names else {}
    for alias, key in names.items():
        hydrated[alias] = attrs.get(key, "")
    return {**hydrated, "id": row["id"], "timestamp": micros, "event_message": row["event_message"]}


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_export_via_cli_csv_and_sql_give_the_same_tables(sliced, tmp_path):
    _, want = sliced
    for route in ("csv", "sql"):
        root = _base(tmp_path / route, SLICE, tables=False)
        write_api_pages(root, shipped_rows(SLICE))
        (root / "tables").mkdir()
        for table in TABLES:
            columns, rows = postgres_meta_rows(table)
            text = (
                copy_csv(columns, rows)
                if route == "csv"
                else pg_dump_plain("public", table, columns, rows)
            )
            (root / "tables" / f"{table}_rows.{route}").write_text(text, encoding="utf-8")
        sql = (root / "tables" / "webinars_rows.sql").read_text() if route == "sql" else ""
        assert route == "csv" or (
            sql.count("INSERT INTO public.webinars (id, title,") >= 2 and "\n\\restrict " in sql
        )
        got = _load(root)
        kinds = ["webinars", "registrations", "webinar_live_presence", "webinar_viewer_counts"]
        assert_every_row_read(got, want, kinds)
        assert_same_tables(got, want, ["webinars", "registrations", "sessions", "concurrency"])


#: The columns compared per table when a product page download is read back.
PAGE_COLUMNS = {
    "requests": ["id", "ts", "method", "path", "search", "status", "endpoint"],
    "db_errors": ["id", "ts", "sql_state", "severity", "message", "detail"],
    "realtime_events": ["id", "ts", "message", "family"],
}


def assert_pages_read_as_clickhouse(root, want, tables) -> None:
    """Every row of the page downloads in ``root/exports`` is read, the gateway's and
    Postgres's pages are taken for ClickHouse's, and ``tables`` hold ``want``'s values."""
    got = _load(root)
    assert_every_row_read(got, want, SOURCES)
    acc = got.accounting
    pages = acc["file"].str.startswith("exports/") & acc["kind"].isin(SOURCES[:2])
    assert set(acc.loc[pages, "flavour"]) == {"clickhouse"}, acc
    for table in tables:
        cols = PAGE_COLUMNS[table]
        pd.testing.assert_frame_equal(
            _sorted(getattr(got, table)[cols], "id"), _sorted(getattr(want, table)[cols], "id")
        )


def test_a_clickhouse_product_page_download_reads_every_row_and_field(sliced, tmp_path):
    rows, want = sliced
    root = _base(tmp_path / "otel", SLICE)
    (root / "exports").mkdir()
    for source in SOURCES:
        shown = [otel_page_row(source, r) for r in reversed(rows[source])]  # newest first
        text = w.results_csv(shown)
        name = f"supabase-{source}-{REF}.csv.csv"
        (root / "exports" / name).write_text(text, encoding="utf-8")
    page = (root / "exports" / f"supabase-edge_logs-{REF}.csv.csv").read_bytes()
    header = b"id,identifier,method,path,search,status_code,timestamp,event_message\r\n"
    assert page.startswith(header)
    assert_pages_read_as_clickhouse(root, want, tables=("requests", "db_errors", "realtime_events"))


def test_page_flavour_tells_the_hydrated_clickhouse_order_from_bigquery_s():
    def flavour(columns: list[str]) -> str | None:
        row = dict.fromkeys(columns, "1")
        row["timestamp"] = 1770354051607000
        return page_flavour([(row, row)])

    hydrated = ["id", "identifier", "method", "path", "search", "status_code"]
    assert flavour([*hydrated, "timestamp", "event_message"]) == "clickhouse"
    assert flavour(["id", "timestamp", "event_message", *hydrated[1:]]) == "clickhouse"
    bigquery = ["id", "identifier", "timestamp", "event_message", *hydrated[2:]]
    assert flavour(bigquery) == "bigquery"
    pg = ["identifier", "timestamp", "id", "event_message", "error_severity", "detail", "hint"]
    assert flavour(pg) == "bigquery"


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_explorer_rows_copied_to_the_clipboard_give_the_same_tables(sliced, tmp_path, ext):
    rows, want = sliced
    root = _base(tmp_path / "copied", SLICE)
    (root / "exports").mkdir()
    for source in SOURCES:
        picked = [
            {k: r[k] for k in ("id", "timestamp", "event_message", "metadata") if k in r}
            for r in sorted(rows[source], key=lambda r: r["timestamp"], reverse=True)
        ]
        text = w.results_csv(picked) if ext == "csv" else w.results_json(picked)
        (root / "exports" / f"copied-{source}.{ext}").write_text(text, encoding="utf-8")
    got = _load(root)
    assert_every_row_read(got, want, SOURCES)
    assert_same_tables(got, want, LOG_TABLES.values())


def one_query_page_row(source: str, row: dict) -> dict:
    """The same page row as Studio builds it since one query selects everything
    (``genOtelSelectColumns`` in ``Logs.utils.otel.ts``, 04bec38): ``id, timestamp,
    event_message`` first, then the attribute columns, the time turned into microseconds in
    place (``mapOtelPreviewRow`` spreads the row, so the keys keep their order)."""
    hydrated = otel_page_row(source, row)
    first = {k: hydrated[k] for k in ("id", "timestamp", "event_message")}
    return {**first, **{k: v for k, v in hydrated.items() if k not in first}}


def test_a_one_query_product_page_download_gives_the_same_tables(sliced, tmp_path):
    rows, want = sliced
    root = _base(tmp_path / "one", SLICE)
    (root / "exports").mkdir()
    for source in SOURCES:
        shown = [one_query_page_row(source, r) for r in reversed(rows[source])]
        name = f"supabase-{source}-{REF}.csv.csv"
        (root / "exports" / name).write_text(w.results_csv(shown), encoding="utf-8")
    page = (root / "exports" / f"supabase-edge_logs-{REF}.csv.csv").read_bytes()
    assert page.startswith(
        b"id,timestamp,event_message,identifier,method,path,search,status_code\r\n"
    )
    assert_pages_read_as_clickhouse(root, want, tables=("requests", "db_errors"))


def test_a_product_page_whose_attribute_query_failed_still_reads_its_requests(sliced, tmp_path):
    # useLogsPreview keeps the list rows when the second query fails: id, time, message only.
    # The request's method, status and path are then read from the gateway's message.
    rows, want = sliced
    root = _base(tmp_path / "lean", SLICE)
    (root / "exports").mkdir()
    keep = ("id", "timestamp", "event_message")
    lean = [
        {k: v for k, v in otel_page_row("edge_logs", r).items() if k in keep}
        for r in rows["edge_logs"]
    ]
    (root / "exports" / f"supabase-edge_logs-{REF}.csv.csv").write_text(
        w.results_csv(lean), encoding="utf-8"
    )
    got = _load(root)
    assert_every_row_read(got, want, ["edge_logs"])
    cols = ["id", "ts", "method", "status", "endpoint"]
    pd.testing.assert_frame_equal(
        _sorted(got.requests[cols], "id"), _sorted(want.requests[cols], "id")
    )


# --------------------------------------------------------------------------------------------
# The table grid's "Copy" and "Export" of rows with json and array columns (session 14)
# --------------------------------------------------------------------------------------------

#: Columns a team's webinars table may have beyond the contract's: a jsonb and a text[] column
#: (postgres-meta hands both to Studio parsed: an object and a list).
EXTRA = {
    "settings": {"chat": True, "note": 'a, "quoted"\nline', "limits": [100, 250]},
    "tags": ["ai", "webinar, live", 'say "hi"'],
}


def grid_rows(table: str) -> tuple[list[str], list[dict]]:
    """A table's rows as the grid holds them: postgres-meta's values, json and arrays parsed,
    and the ``idx`` key the grid's row query adds (``SupaRow``)."""
    columns, rows = postgres_meta_rows(table)
    if table == "webinars":
        columns = [*columns, *EXTRA]
        rows = [{**row, **EXTRA} for row in rows]
    return columns, [{"idx": n, **row} for n, row in enumerate(rows)]


def copy_rows_json(rows: list[dict]) -> str:
    """ "Copy as JSON" of selected rows (``Header.utils.ts`` ``formatRowsForCopy``, Studio
    apps/studio/components/grid/components/header): ``JSON.stringify`` of the grid's rows as
    they are: ``idx`` kept, json and array values nested, not stringified."""
    return w.json_stringify(rows) or "[]"


def copy_rows_csv(columns: list[str], rows: list[dict]) -> str:
    """ "Copy as CSV" (``formatRowsForCSV`` there): non-null objects stringified, then
    ``Papa.unparse`` by the table's columns (so ``idx`` is left out)."""
    return w.table_editor_csv(rows, columns) or ""


def export_rows_json(columns: list[str], rows: list[dict]) -> str:
    """ "Export as JSON" of a newer Studio (``formatTableRowsToJSON``, TableEntity.utils.ts):
    one object a row, every column of the table in its order (a missing one null), values
    ``JSON.stringify``-ed as they are, so json and arrays nested."""
    objects = [
        "{"
        + ",".join(f"{w.json_stringify(c)}:{w.json_stringify(row.get(c))}" for c in columns)
        + "}"
        for row in rows
    ]
    return "[" + ",".join(objects) + "]"


def legacy_rows_sql(table: str, rows: list[dict]) -> str:
    """ "Copy as SQL" of an older Studio (``formatTableRowsToSQL`` before pg-meta's ``literal``,
    TableEntity.utils.ts): one INSERT a row, every name double-quoted, ``idx`` dropped, every
    value, objects stringified, put between single quotes as it is: a NULL becomes ``'null'``
    and a quote inside a value is not doubled."""
    lines = []
    for row in rows:
        row = {k: v for k, v in row.items() if k != "idx"}
        names = ", ".join(f'"{c}"' for c in row)
        values = ", ".join(
            "'"
            + (
                w.json_stringify(v)
                if isinstance(v, (dict, list))
                else "null"
                if v is None
                else w.js_number(v)
                if isinstance(v, (int, float))
                else str(v)
            )
            + "'"
            for v in row.values()
        )
        lines.append(f"INSERT INTO {table} ({names}) VALUES ({values});")
    return "\n".join(lines)


def _tables_route(tmp_path, name: str, write) -> object:
    root = _base(tmp_path / name, SLICE, tables=False)
    write_api_pages(root, shipped_rows(SLICE))
    (root / "tables").mkdir()
    for table in TABLES:
        file_name, text = write(table, *grid_rows(table))
        (root / "tables" / file_name).write_text(text, encoding="utf-8")
    return root


ROW_ROUTES = {
    "copy-as-json": lambda t, cols, rows: (f"{t}.json", copy_rows_json(rows)),
    "copy-as-csv": lambda t, cols, rows: (f"{t}.csv", copy_rows_csv(cols, rows)),
    "export-as-json": lambda t, cols, rows: (f"{t}_rows.json", export_rows_json(cols, rows)),
    "legacy-copy-as-sql": lambda t, cols, rows: (f"{t}_rows.sql", legacy_rows_sql(t, rows)),
}


@pytest.mark.parametrize("route", list(ROW_ROUTES))
def test_grid_copies_and_exports_with_json_and_array_columns_give_the_same_tables(
    sliced, tmp_path, route
):
    _, want = sliced
    root = _tables_route(tmp_path, route, ROW_ROUTES[route])
    text = next((root / "tables").glob("webinars*")).read_text()
    assert "webinar, live" in text  # the extra columns are in the file, as Studio writes them
    if route == "copy-as-json":
        assert '"idx":0' in text and '"tags":["ai"' in text
    if route == "legacy-copy-as-sql":
        assert "'null'" in (root / "tables" / "webinar_live_presence_rows.sql").read_text()
    got = _load(root)
    kinds = ["webinars", "registrations", "webinar_live_presence", "webinar_viewer_counts"]
    assert_every_row_read(got, want, kinds)
    assert_same_tables(got, want, ["webinars", "registrations", "sessions", "concurrency"])


def test_an_older_copy_as_sql_with_a_quote_in_a_value_is_refused_in_one_line(tmp_path):
    # The older writer put a value between quotes without doubling its own: a title with an
    # apostrophe ends the literal early. Which value was meant cannot be known.
    def write(table, columns, rows):
        if table == "webinars":
            rows = [{**rows[0], "title": "Kim's AI, live"}, *rows[1:]]
        return f"{table}_rows.sql", legacy_rows_sql(table, rows)

    root = _tables_route(tmp_path, "quote", write)
    with pytest.raises(IngestError) as err:
        _load(root)
    text = str(err.value)
    assert "webinars_rows.sql, line 1" in text and "\n" not in text
    assert "s AI, live" in text
