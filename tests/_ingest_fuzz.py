"""A deterministic mutation fuzzer for ``make check`` (test helper of tests/test_ingest_fuzz.py).

Every route of docs/supabase-exports.md §9 (and two of §11) gives one small file of real
shape: the shipped incident's rows of a five-minute slice written by the ports of Supabase's
own writers (``tests/_studio_writers.py``, ``tests/_sql_writers.py``,
``tests/test_ingest_studio_routes.py``). Each mutation damages such a file the
way other programs and accidents do (a cut download, a cut gzip stream, a cut multibyte
character, NUL bytes, CR-only line ends, header columns duplicated, renamed, reordered or added,
an empty or header-only file, a 10 MB field, deeply nested JSON, a number where text is expected
and the reverse, times in other units and zones, a zip, xlsx or pg_dump archive under the
export's name, a directory, an unreadable file, a symlink loop) and says what ``make check``
may answer: one error line naming the file (and the row, line or field where the damage has
one), or an accounting in which the file's rows add up to what it holds.

Nothing here is random at run time: a case is (route, mutation, seed), and the seed alone
decides where a mutation strikes.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import json
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _sql_writers as sw
import _studio_writers as w
import test_ingest_studio_routes as studio_routes
from test_real_writers import SHIPPED, SLICE, postgres_meta_rows, shipped_rows

REF = "yqsayphssjznthrxpgfb"
#: Rows of each source (and of each table) a route's file holds: small, so a case is fast.
ROWS = 8
#: The giant field's size (a Postgres query or a JSON cell pasted whole).
GIANT_BYTES = 10 * 1024 * 1024
#: Depth of the nested JSON value (past every recursive parser's stack).
DEPTH = 100_000

# --------------------------------------------------------------------------------------------
# Routes: one small real-shape file each
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One route's file: where it lies in the incident, its bytes before any gzip, its format
    (``csv``, ``json``, ``sql``, ``parquet``), whether it is saved gzipped, its rows and the
    columns that hold a time (for the unit and zone mutations)."""

    name: str
    rel: str
    payload: bytes
    fmt: str
    gz: bool
    rows: int
    times: tuple[str, ...]

    def stored(self) -> bytes:
        return gzip.compress(self.payload, mtime=0) if self.gz else self.payload


def _slice_rows() -> dict[str, list[dict]]:
    return {source: rows[:ROWS] for source, rows in shipped_rows(SLICE).items()}


def _project(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    return [{k: r[k] for k in keys if k in r} for r in rows]


def _flat(row: dict, path: str) -> object:
    value: object = row["metadata"]
    for key in path.split("."):
        while isinstance(value, list):
            value = value[0] if value else {}
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _gateway_page(rows: list[dict]) -> list[dict]:
    """The API gateway's product page projection (docs/supabase-exports.md §2 b)."""
    return [
        {
            "id": r["id"],
            "identifier": REF,
            "timestamp": r["timestamp"],
            "event_message": r["event_message"],
            "method": _flat(r, "request.method"),
            "path": _flat(r, "request.path"),
            "search": _flat(r, "request.search"),
            "status_code": _flat(r, "response.status_code"),
        }
        for r in rows
    ]


def _mixed(rows: dict[str, list[dict]], each: int = 3) -> list[dict]:
    every = [r for source in rows.values() for r in source[:each]]
    return sorted(every, key=lambda r: (r["timestamp"], r["id"]))


def _unified(rows: dict[str, list[dict]], ext: str) -> bytes:
    result = []
    for source, source_rows in rows.items():
        for r in source_rows[:3]:
            shown = w.unified_otel_projection(
                source, {**r, "timestamp": w.clickhouse_timestamp(r["timestamp"])}
            )
            if shown is not None:
                result.append(shown)
    result.sort(key=lambda r: (str(r["timestamp"]), r["id"]), reverse=True)
    shown = w.retrieve_unified_logs(result)
    return (w.unified_csv(shown) if ext == "csv" else w.unified_json(shown)).encode()


def _table(name: str) -> tuple[list[str], list[dict]]:
    """A shipped table's first rows, those of the slice where the table has a time in it."""
    columns, rows = postgres_meta_rows(name)
    if name == "webinar_viewer_counts":
        lo, hi = (t.strftime("%Y-%m-%d %H:%M") for t in SLICE)
        rows = [r for r in rows if lo <= r["sampled_at"] < hi]
    return columns, rows[:ROWS]


def _psql_csv(name: str) -> bytes:
    """psql's ``\\copy (...) to 'x.csv' csv header``: LF, NULL as an empty unquoted cell."""
    columns, rows = _table(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in rows])
    return out.getvalue().encode()


def _dump(copy: bool) -> bytes:
    from test_ingest_sql import AUTH_COLUMNS, AUTH_ROWS

    columns, rows = _table("webinar_viewer_counts")
    tables = [
        ("auth", "users", AUTH_COLUMNS, AUTH_ROWS, ()),
        ("public", "webinar_viewer_counts", columns, rows, ("id", "viewer_count")),
    ]
    return (sw.pg_dump_copy(tables) if copy else sw.pg_dump_inserts(tables)).encode()


@functools.cache
def routes() -> dict[str, Route]:
    """Every route of docs/supabase-exports.md §9, one small file each."""
    rows = _slice_rows()
    edge, pg, rt = rows["edge_logs"], rows["postgres_logs"], rows["realtime_logs"]
    explorer = ("id", "timestamp", "event_message", "metadata")
    from test_ingest_sql import SERVICES, TOKENS, explorer_templates

    errors = explorer_templates({"edge_logs": edge, "postgres_logs": pg})["Errors"]
    mixed = _mixed(rows)
    reg_cols, regs = _table("registrations")
    pres_cols, pres = _table("webinar_live_presence")
    count_cols, counts = _table("webinar_viewer_counts")
    out = [
        Route(
            "api-bigquery",
            "edge_logs/page-0001.json.gz",
            json.dumps({"result": edge, "error": None}).encode(),
            "json",
            True,
            len(edge),
            ("timestamp",),
        ),
        Route(
            "api-clickhouse",
            "postgres_logs/page-0001.json.gz",
            json.dumps(
                {"result": [w.clickhouse_log_row("postgres_logs", r) for r in pg], "error": None}
            ).encode(),
            "json",
            True,
            len(pg),
            ("timestamp",),
        ),
        Route(
            "explorer-csv",
            f"exports/{w.explorer_file_name(REF, 'csv')}",
            w.results_csv(_project(edge, explorer)).encode(),
            "csv",
            False,
            len(edge),
            ("timestamp",),
        ),
        Route(
            "explorer-json",
            f"exports/{w.explorer_file_name(REF, 'json')}",
            w.results_json(_project(rt, explorer)).encode(),
            "json",
            False,
            len(rt),
            ("timestamp",),
        ),
        Route(
            "explorer-template",
            "exports/supabase-logs-errors.csv",
            w.results_csv(errors).encode(),
            "csv",
            False,
            len(errors),
            ("timestamp",),
        ),
        Route(
            "product-page-csv",
            "exports/api-gateway.csv",
            w.results_csv(_gateway_page(edge)).encode(),
            "csv",
            False,
            len(edge),
            ("timestamp",),
        ),
        Route(
            "unified-csv",
            "exports/supabase_logs.csv",
            _unified(rows, "csv"),
            "csv",
            False,
            9,
            ("timestamp", "date"),
        ),
        Route(
            "unified-json",
            "exports/supabase_logs.json",
            _unified(rows, "json"),
            "json",
            False,
            9,
            ("timestamp", "date"),
        ),
        Route(
            "drain-http",
            "drain/batch-0000.json.gz",
            gzip.decompress(sw.http_drain_batch(mixed)),
            "json",
            True,
            len(mixed),
            ("timestamp",),
        ),
        Route(
            "drain-loki",
            "loki/push-0000.json.gz",
            gzip.decompress(
                sw.loki_push({SERVICES[source]: rows[source][:3] for source in SERVICES})
            ),
            "json",
            True,
            3 * len(SERVICES),
            ("timestamp",),
        ),
        Route(
            "drain-datadog",
            "datadog/batch-0000.json.gz",
            gzip.decompress(sw.datadog_batch(mixed, "supabase")),
            "json",
            True,
            len(mixed),
            ("timestamp",),
        ),
        Route(
            "drain-ndjson",
            "drain/batch-0000.ndjson.gz",
            gzip.decompress(sw.ndjson_drain_batch(mixed)),
            "ndjson",
            True,
            len(mixed),
            ("timestamp",),
        ),
        Route(
            "drain-otlp-json",
            "otel/logs-0000.jsonl.gz",
            "\n".join(
                json.dumps(sw.otlp_logs_request(rows[source][:3], source)) for source in SERVICES
            ).encode(),
            "ndjson",
            True,
            3 * len(SERVICES),
            ("timeUnixNano",),
        ),
        Route(
            "drain-s3",
            f"s3/{TOKENS['edge_logs']}/{edge[0]['timestamp']}.parquet",
            sw.s3_drain_parquet(edge),
            "parquet",
            False,
            len(edge),
            ("timestamp",),
        ),
        Route(
            "table-editor-csv",
            f"tables/{w.table_editor_file_name('webinar_viewer_counts')}",
            w.table_editor_csv(counts, count_cols).encode(),
            "csv",
            False,
            len(counts),
            ("sampled_at",),
        ),
        Route(
            "table-editor-json",
            f"tables/{sw.studio_file_name('registrations', 'json')}",
            sw.studio_table_json(regs).encode(),
            "json",
            False,
            len(regs),
            ("created_at",),
        ),
        Route(
            "table-editor-sql",
            f"tables/{sw.studio_file_name('webinar_live_presence', 'sql')}",
            sw.studio_table_sql("public", "webinar_live_presence", pres_cols, pres).encode(),
            "sql",
            False,
            len(pres),
            ("joined_at", "left_at"),
        ),
        Route(
            "sql-editor-csv",
            f"tables/{w.sql_editor_file_name('select registrations', 'csv')}",
            w.results_csv(regs).encode(),
            "csv",
            False,
            len(regs),
            ("created_at",),
        ),
        Route(
            "db-dump-inserts",
            "supabase/seed.sql",
            _dump(copy=False),
            "sql",
            False,
            len(counts) + 2,
            ("sampled_at",),
        ),
        Route(
            "db-dump-copy",
            "supabase/seed.sql",
            _dump(copy=True),
            "sql",
            False,
            len(counts) + 2,
            ("sampled_at",),
        ),
        Route(
            "cli-pg-dump-sql",
            f"tables/{sw.studio_file_name('webinar_viewer_counts', 'sql')}",
            studio_routes.pg_dump_plain(
                "public", "webinar_viewer_counts", count_cols, counts
            ).encode(),
            "sql",
            False,
            len(counts),
            ("sampled_at",),
        ),
        Route(
            "product-page-otel-csv",
            f"exports/supabase-edge_logs-{REF}.csv.csv",
            w.results_csv([studio_routes.otel_page_row("edge_logs", r) for r in edge]).encode(),
            "csv",
            False,
            len(edge),
            ("timestamp",),
        ),
        Route(
            "psql-copy-csv",
            "tables/webinar_viewer_counts.csv",
            _psql_csv("webinar_viewer_counts"),
            "csv",
            False,
            ROWS,
            ("sampled_at",),
        ),
        Route(
            "grid-copy-json",
            "tables/webinar_live_presence.json",
            studio_routes.copy_rows_json(_grid(pres)).encode(),
            "json",
            False,
            len(pres),
            ("joined_at", "left_at"),
        ),
        Route(
            "grid-legacy-copy-sql",
            "tables/registrations_rows.sql",
            studio_routes.legacy_rows_sql("registrations", regs).encode(),
            "sql",
            False,
            len(regs),
            ("created_at",),
        ),
    ]
    return {r.name: r for r in out}


def _grid(rows: list[dict]) -> list[dict]:
    """Rows as the table grid holds them (``idx``, a jsonb and a text[] value parsed)."""
    return [{"idx": n, **row, **studio_routes.EXTRA} for n, row in enumerate(rows)]


def base_files() -> dict[str, bytes]:
    """The incident around a route's file: the slice's manifest and the shipped webinars."""
    manifest = json.loads((SHIPPED / "incident.json").read_text())
    manifest["window_start"] = SLICE[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest["window_end"] = SLICE[1].strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "incident.json": json.dumps(manifest, ensure_ascii=False).encode(),
        "tables/webinars.csv": (SHIPPED / "tables" / "webinars.csv").read_bytes(),
    }


# --------------------------------------------------------------------------------------------
# Mutants: what a mutation leaves, and what make check may answer
# --------------------------------------------------------------------------------------------

#: A file that is not a file: written by :func:`write_case` as what it names.
DIRECTORY, SYMLINK_LOOP, UNREADABLE = "<directory>", "<symlink loop>", "<unreadable>"


@dataclass
class Mutant:
    """The damaged file(s) and the answers allowed.

    ``files`` maps a relative path to its bytes, ``None`` (removed) or one of the markers above.
    ``rows``: when ``make check`` accepts, the rows it must have counted for the file (None:
    not known exactly); ``min_rows``: at least this many (rows wholly before a cut).
    ``outcome``: ``"error"`` or ``"ok"`` when only one answer is right, else None.
    ``located``: an error line must name a row, line, field or byte, not only the file.
    ``message``: a pattern the error line must match (what the damage is called).
    ``same``: the damage changes no value (columns moved or added, a time in another zone, a
    JSON key given twice with the same value): when accepted, every table equals the
    undamaged file's.
    """

    rel: str
    files: dict[str, bytes | str | None]
    rows: int | None = None
    min_rows: int = 0
    outcome: str | None = None
    located: bool = False
    same: bool = False
    note: str = ""
    route: str = ""
    message: str = ""


def _records(text: str) -> list[int]:
    """Offsets where each CSV record starts (RFC 4180: a line end outside quotes ends one)."""
    starts, quotes = [0], 0
    for i, ch in enumerate(text):
        if ch == '"':
            quotes += 1
        elif ch == "\n" and quotes % 2 == 0 and i + 1 < len(text):
            starts.append(i + 1)
    return starts


def _gz(route: Route, payload: bytes) -> bytes:
    return gzip.compress(payload, mtime=0) if route.gz else payload


def _same(route: Route, payload: bytes, note: str, **kw) -> Mutant:
    """A mutant of the file's content that keeps its every row."""
    return Mutant(
        route.rel,
        {route.rel: _gz(route, payload)},
        rows=kw.pop("rows", route.rows),
        note=note,
        **kw,
    )


def _csv_rows(route: Route) -> list[list[str]]:
    return list(csv.reader(io.StringIO(route.payload.decode("utf-8"), newline="")))


def _csv_bytes(records: list[list[str]], route: Route) -> bytes:
    line = "\n" if b"\r\n" not in route.payload else "\r\n"
    out = io.StringIO()
    csv.writer(out, lineterminator=line).writerows(records)
    return out.getvalue().encode()


#: Formats whose rows are JSON objects (``ndjson``: one a line, a drain's NDJSON batch).
JSON_FORMATS = ("json", "ndjson")


def _load(route: Route) -> object:
    """The route's JSON document (NDJSON: the list of its lines' objects)."""
    if route.fmt == "ndjson":
        return [json.loads(line) for line in route.payload.decode("utf-8").splitlines()]
    return json.loads(route.payload)


def _dumps(route: Route, doc: object) -> str:
    """The document written back in the route's format."""
    if route.fmt == "ndjson":
        return "\n".join(json.dumps(row) for row in doc)  # type: ignore[union-attr]
    return json.dumps(doc)


def _json_rows(doc: object) -> list[dict]:
    """The row objects of a JSON export, in place: an envelope's ``result``, a Loki push's
    metadata objects (each value's third element), or the list itself."""
    if isinstance(doc, dict) and "streams" in doc:
        return [value[2] for stream in doc["streams"] for value in stream["values"]]
    if isinstance(doc, dict):
        return doc["result"]
    if doc and isinstance(doc[0], dict) and "resourceLogs" in doc[0]:
        # OTLP/JSON, a request a line: the log records of every request.
        return [
            record
            for request in doc
            for resource in request["resourceLogs"]
            for scope in resource["scopeLogs"]
            for record in scope["logRecords"]
        ]
    return doc  # type: ignore[return-value]


def _time_holders(row: dict) -> list[dict]:
    """The objects of a row that may hold its time: the row, and a Datadog entry's event."""
    return [row, row["data"]] if isinstance(row.get("data"), dict) else [row]


def _string_cell(route: Route, rng: random.Random) -> tuple[int, int]:
    """A (start, end) span of the payload's text inside one data row's value: a run of
    letters (else of letters and digits) at least 4 long, past the header (CSV, SQL) or the
    first row's start (JSON)."""
    text = route.payload.decode("utf-8")
    if route.fmt == "csv":
        first = _records(text)[1]
    elif route.fmt in JSON_FORMATS:
        first = text.find("{", 1)
    else:
        first = max(text.rfind(" VALUES"), text.rfind("FROM stdin;"))
    spans = [m.span() for m in re.finditer(r"[A-Za-z]{4,}", text) if m.start() > first]
    spans = spans or [m.span() for m in re.finditer(r"\w{4,}", text) if m.start() > first]
    return rng.choice(spans)


def _row_of(route: Route, offset: int) -> int:
    """The 1-based data row (CSV) holding a payload offset."""
    starts = _records(route.payload.decode("utf-8"))
    return sum(1 for s in starts[1:] if s <= offset)


# Each mutation: (route, rng) -> Mutant, or None where it does not apply to the route.
Mutation = Callable[[Route, random.Random], "Mutant | None"]


def cut_mid_row(route: Route, rng: random.Random) -> Mutant | None:
    """A download or copy stopped part-way through a row."""
    if route.fmt == "parquet":
        cut = rng.randrange(8, len(route.payload) - 8)
        return Mutant(route.rel, {route.rel: route.payload[:cut]}, outcome="error")
    text = route.payload.decode("utf-8")
    if route.fmt == "csv":
        starts = _records(text)
        k = rng.randrange(1, len(starts))
        end = starts[k + 1] - 1 if k + 1 < len(starts) else len(text)
        cut = rng.randrange(starts[k] + 1, max(starts[k] + 2, end - 1))
        # The rows before the cut are whole; the cut one is there too, in part.
        return Mutant(
            route.rel,
            {route.rel: _gz(route, text[:cut].encode())},
            rows=k,
            note=f"cut in row {k} at {cut}",
        )
    first = text.find("{", 1) if route.fmt in JSON_FORMATS else text.find("VALUES")
    cut = rng.randrange(max(first, 1) + 1, len(text) - 2)
    return Mutant(route.rel, {route.rel: _gz(route, text[:cut].encode())}, note=f"cut at {cut}")


def cut_gzip_stream(route: Route, rng: random.Random) -> Mutant | None:
    """A gzipped file (the drains', the pages', anyone's ``gzip x.csv``) cut mid-stream."""
    data = gzip.compress(route.payload, mtime=0)
    rel = route.rel if route.gz else route.rel + ".gz"
    cut = rng.randrange(12, len(data) - 1)
    files = {rel: data[:cut]}
    if rel != route.rel:
        files[route.rel] = None
    return Mutant(
        rel,
        files,
        outcome="error",
        note=f"gzip cut at {cut} of {len(data)}",
        message="corrupt or truncated gzip",
    )


def cut_multibyte(route: Route, rng: random.Random) -> Mutant | None:
    """A multibyte character cut in two: inside a value (an editor's bad save), or at the end
    of a file cut there."""
    if route.fmt == "parquet":
        return None
    start, end = _string_cell(route, rng)
    char = rng.choice(["한", "é", "—", "😀"]).encode()
    piece = char[: rng.randrange(1, len(char))]
    data = route.payload[:start] + piece + route.payload[start:]
    mutant = _same(route, data, f"cut {char!r} at {start}", located=True)
    return mutant


def nul_bytes(route: Route, rng: random.Random) -> Mutant | None:
    """NUL bytes: one inside a value, or a zero-filled tail (a crash before the data reached
    the disk)."""
    if rng.random() < 0.5 and route.fmt != "parquet":
        start, end = _string_cell(route, rng)
        at = rng.randrange(start, end)
        data = route.payload[:at] + b"\x00" + route.payload[at:]
        return _same(route, data, f"NUL at {at}", located=True)
    data = route.stored() + b"\x00" * rng.choice([1, 512, 4096])
    if route.gz or route.fmt == "parquet":
        # Zeros after a gzip stream are padding (tar's); a Parquet file ends in its footer.
        return Mutant(route.rel, {route.rel: data}, note="zero-filled tail", same=route.gz)
    return Mutant(
        route.rel,
        {route.rel: data},
        outcome="error",
        note="zero-filled tail",
        message="ends in NUL bytes",
    )


def cr_only(route: Route, rng: random.Random) -> Mutant | None:
    """Classic Mac OS line ends: every line break a lone CR."""
    if route.fmt == "parquet":
        return None
    data = route.payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    return _same(route, data, "CR line ends")


def _header_change(route: Route, rng: random.Random, how: str) -> Mutant | None:
    if route.fmt == "csv":
        records = _csv_rows(route)
        head = records[0]
        i = rng.randrange(len(head))
        if how == "duplicate":
            records = [r[: i + 1] + r[i : i + 1] + r[i + 1 :] for r in records]
        elif how == "rename":
            records[0] = [*head[:i], head[i].upper() + "_x", *head[i + 1 :]]
        elif how == "reorder":
            order = list(range(len(head)))
            rng.shuffle(order)
            records = [[r[j] for j in order] for r in records]
        else:
            records = [[*r, "extra"] if n == 0 else [*r, str(n)] for n, r in enumerate(records)]
        return _same(
            route,
            _csv_bytes(records, route),
            f"{how} column {head[i]!r}",
            located=how in ("duplicate", "rename"),
            same=how in ("reorder", "extra"),
        )
    if route.fmt in JSON_FORMATS:
        doc = _load(route)
        rows = _json_rows(doc)
        key = rng.choice(sorted(rows[0]))
        text = None
        for n, row in enumerate(rows):
            items = list(row.items())
            if how == "duplicate":
                # Two keys of one name: JSON allows it, and a later one wins in most parsers.
                text = "dup-first" if n == 0 and rng.random() < 0.5 else text or "dup"
            elif how == "rename":
                items = [(k.upper() + "_x" if k == key else k, v) for k, v in items]
            elif how == "reorder":
                rng.shuffle(items)
            else:
                items.append(("extra", n))
            row.clear()
            row.update(items)
        body = _dumps(route, doc)
        if text == "dup":
            # The key in every row object gets a twin before it (most parsers keep the last;
            # ingest rejects the row, or reads it where the real value is null too).
            body = body.replace(f'"{key}": ', f'"{key}": null, "{key}": ')
        elif text == "dup-first":
            body = re.sub(rf'"{key}": ("[^"]*"|[^,}}]+)', rf'"{key}": \1, "{key}": null', body)
        return _same(
            route,
            body.encode(),
            f"{how} key {key!r}",
            located=how in ("duplicate", "rename"),
            same=how in ("reorder", "extra") or text == "dup",
        )
    if route.fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(route.payload))
        names = table.column_names
        i = rng.randrange(len(names))
        if how == "duplicate":
            table = pa.Table.from_arrays(
                [*table.columns, table.column(i)], names=[*names, names[i]]
            )
        elif how == "rename":
            table = table.rename_columns([*names[:i], names[i].upper() + "_x", *names[i + 1 :]])
        elif how == "reorder":
            order = list(range(len(names)))
            rng.shuffle(order)
            table = table.select(order)
        else:
            table = table.append_column("extra", pa.array(range(table.num_rows)))
        out = io.BytesIO()
        pq.write_table(table, out)
        return _same(
            route,
            out.getvalue(),
            f"{how} column {names[i]!r}",
            located=how in ("duplicate", "rename"),
            same=how in ("reorder", "extra"),
        )
    # SQL: the column list of every statement.
    text = route.payload.decode("utf-8")
    match = re.search(
        r"(?:INSERT INTO \S+|COPY \S+) \(([^)]*)\)",
        text.split("webinar_viewer")[-1] if "auth" in text else text,
    )
    if match is None:
        return None
    cols = [c.strip() for c in match.group(1).split(",")]
    i = rng.randrange(len(cols))
    if how == "duplicate":
        new = [*cols[: i + 1], cols[i], *cols[i + 1 :]]
    elif how == "rename":
        new = [*cols[:i], cols[i].strip('"').upper() + "_X", *cols[i + 1 :]]
    elif how == "reorder":
        new = cols[:]
        rng.shuffle(new)
    else:
        new = [*cols, "extra"]
    text = text.replace(f"({match.group(1)})", f"({', '.join(new)})")
    # The values stay as they were: a column list that no longer fits them.
    return Mutant(
        route.rel,
        {route.rel: _gz(route, text.encode())},
        rows=route.rows,
        located=True,
        note=f"{how} column {cols[i]!r} of the column list",
    )


def duplicate_column(route, rng):
    """A header column twice (a spreadsheet's copy-paste, a join's two ``id``)."""
    return _header_change(route, rng, "duplicate")


def rename_column(route, rng):
    """A header column renamed (a spreadsheet's header edit, another tool's spelling)."""
    return _header_change(route, rng, "rename")


def reorder_columns(route, rng):
    """Columns in another order (another query's projection, a spreadsheet's drag)."""
    return _header_change(route, rng, "reorder")


def extra_column(route, rng):
    """One more trailing column (a spreadsheet's formula column, another query's field)."""
    return _header_change(route, rng, "extra")


def empty_file(route: Route, rng: random.Random) -> Mutant | None:
    """Zero bytes: a download that never started, a ``> x.csv`` that failed."""
    return Mutant(route.rel, {route.rel: b""}, outcome="error", message="empty file")


def header_only(route: Route, rng: random.Random) -> Mutant | None:
    """The header and no row (a query that matched nothing)."""
    if route.fmt == "csv":
        text = route.payload.decode("utf-8")
        starts = _records(text)
        data = text[: starts[1]].encode() if len(starts) > 1 else route.payload
    elif route.fmt in JSON_FORMATS:
        doc = _load(route)
        if isinstance(doc, dict) and "streams" in doc:
            for stream in doc["streams"]:
                stream["values"].clear()
        elif isinstance(doc, list) and doc and "resourceLogs" in doc[0]:
            for request in doc:
                for resource in request["resourceLogs"]:
                    for scope in resource["scopeLogs"]:
                        scope["logRecords"].clear()
        else:
            _json_rows(doc).clear()
        data = _dumps(route, doc).encode()
    elif route.fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(route.payload)).slice(0, 0)
        out = io.BytesIO()
        pq.write_table(table, out)
        data = out.getvalue()
    else:
        return None
    return _same(route, data, "header only", rows=0)


def giant_field(route: Route, rng: random.Random) -> Mutant | None:
    """One value of 10 MB (a pasted query, a JSON cell with a payload)."""
    if route.fmt == "parquet":
        return None
    start, end = _string_cell(route, rng)
    data = route.payload[:start] + b"x" * GIANT_BYTES + route.payload[end:]
    return _same(route, data, f"10 MB at {start}")


def deep_json(route: Route, rng: random.Random) -> Mutant | None:
    """A value nested 100,000 deep (a hostile or runaway JSON writer)."""
    deep = "[" * DEPTH + "]" * DEPTH
    if route.fmt in JSON_FORMATS:
        doc = _load(route)
        rows = _json_rows(doc)
        row = rng.choice(rows)
        key = rng.choice(sorted(row))
        row[key] = "@@DEEP@@"
        data = _dumps(route, doc).replace('"@@DEEP@@"', deep).encode()
        return _same(route, data, f"deep value in {key!r}")
    if route.fmt == "csv":
        records = _csv_rows(route)
        n = rng.randrange(1, len(records))
        i = rng.randrange(len(records[0]))
        records[n][i] = deep
        return _same(route, _csv_bytes(records, route), f"deep cell {records[0][i]!r} row {n}")
    if route.fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(route.payload))
        bodies = table.column("body").to_pylist()
        n = rng.randrange(len(bodies))
        bodies[n] = deep
        table = table.set_column(table.column_names.index("body"), "body", pa.array(bodies))
        out = io.BytesIO()
        pq.write_table(table, out)
        return _same(route, out.getvalue(), f"deep body row {n + 1}")
    return None


def swap_types(route: Route, rng: random.Random) -> Mutant | None:
    """A number where text is expected, and the reverse (another JSON writer, a spreadsheet)."""
    if route.fmt in JSON_FORMATS:
        doc = _load(route)
        rows = _json_rows(doc)
        row = rng.choice(rows)
        keys = sorted(k for k, v in row.items() if isinstance(v, str | int | float))
        key = rng.choice(keys)
        value = row[key]
        if isinstance(value, str):
            row[key] = rng.choice([12345, 1.5, True])
        else:
            row[key] = str(value) if rng.random() < 0.5 else f"{value} units"
        return _same(route, _dumps(route, doc).encode(), f"{key!r} {value!r} -> {row[key]!r}")
    if route.fmt == "csv":
        records = _csv_rows(route)
        n = rng.randrange(1, len(records))
        i = rng.randrange(len(records[0]))
        value = records[n][i]
        records[n][i] = "twelve" if value[:1].isdigit() else "12345"
        return _same(route, _csv_bytes(records, route), f"{records[0][i]!r} row {n}")
    return None


_US = re.compile(r"^\d{16}$")


def _retime(value: object, how: str) -> object:
    """A time in another unit or zone: the same instant where the form allows it."""
    import pandas as pd

    if value is None or value == "" or value == "null":
        return value
    text = str(value)
    if re.fullmatch(r"\d{19}", text):  # OTLP's nanoseconds: the same instant as microseconds
        text = text[:-3]
    ts = pd.Timestamp(int(text), unit="us", tz="UTC") if _US.match(text) else None
    if ts is None:
        try:
            ts = pd.Timestamp(text.strip('"'))
        except ValueError:
            return value
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    us = ts.value // 1000
    forms = {
        "milliseconds": us // 1000,
        "seconds": us // 1_000_000,
        "seconds-float": us / 1e6,
        "nanoseconds": ts.value,
        "iso-kst": ts.tz_convert("Asia/Seoul").isoformat(),
        "iso-z": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "naive-local": ts.tz_convert("Asia/Seoul").strftime("%Y-%m-%d %H:%M:%S"),
        "excel": ts.strftime("%Y-%m-%d %H:%M"),
    }
    out = forms[how]
    return out if isinstance(value, int | float) and not isinstance(out, str) else str(out)


#: The forms of a time that keep its instant (its zone spelled otherwise).
_SAME_INSTANT = ("iso-kst", "iso-z")
TIME_FORMS = (
    "milliseconds",
    "seconds",
    "seconds-float",
    "nanoseconds",
    "iso-kst",
    "iso-z",
    "naive-local",
    "excel",
)


def retime(route: Route, rng: random.Random) -> Mutant | None:
    """Every time in another unit (ms, s, ns) or zone (+09:00, Z, local without a zone, a
    spreadsheet's minutes)."""
    how = rng.choice(TIME_FORMS)
    if route.fmt in JSON_FORMATS:
        doc = _load(route)
        if isinstance(doc, dict) and "streams" in doc:
            # Loki's time is each value's first element, nanoseconds as text.
            for stream in doc["streams"]:
                for value in stream["values"]:
                    value[0] = str(_retime(str(int(value[0]) // 1000), how))
        for row in _json_rows(doc):
            for holder in _time_holders(row):
                for key in route.times:
                    if key in holder:
                        holder[key] = _retime(holder[key], how)
        return _same(route, _dumps(route, doc).encode(), how, same=how in _SAME_INSTANT)
    if route.fmt == "csv":
        records = _csv_rows(route)
        cols = [i for i, name in enumerate(records[0]) if name in route.times]
        for r in records[1:]:
            for i in cols:
                r[i] = str(_retime(r[i], how))
        return _same(route, _csv_bytes(records, route), how, same=how in _SAME_INSTANT)
    if route.fmt == "sql":
        text = route.payload.decode("utf-8")
        stamps = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\+00")
        # Only the table's rows: auth.users keeps its times.
        head, sep, tail = (
            text.partition("webinar_viewer_counts") if "auth" in text else ("", "", text)
        )
        tail = stamps.sub(lambda m: str(_retime(m.group(0), how)), tail)
        return _same(route, (head + sep + tail).encode(), how, same=how in _SAME_INSTANT)
    return None


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 2, 6, 0, 0, 0))
            archive.writestr(info, data)
    return out.getvalue()


def archive_under_the_name(route: Route, rng: random.Random) -> Mutant | None:
    """A zip, an Excel workbook or a pg_dump custom-format archive saved under the export's
    name (a spreadsheet's "Save", a download's wrong button, ``pg_dump -Fc > x.csv``)."""
    kind = rng.choice(["zip", "xlsx", "pg_dump"])
    if kind == "zip":
        data = _zip({Path(route.rel).name.removesuffix(".gz"): route.payload})
    elif kind == "xlsx":
        data = _zip(
            {
                "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
                "xl/workbook.xml": b"<workbook/>",
                "xl/worksheets/sheet1.xml": b"<worksheet><sheetData/></worksheet>",
            }
        )
    else:
        data = b"PGDMP\x01\x0e\x00\x04\x08\x01\x01\x00\x00\x00" + bytes(range(256)) * 4
    named = {"zip": "a zip archive", "xlsx": "an Excel workbook", "pg_dump": "a pg_dump custom"}
    return Mutant(
        route.rel,
        {route.rel: data},
        outcome="error",
        note=kind,
        message="unreadable Parquet file" if route.fmt == "parquet" else named[kind],
    )


def directory_instead(route: Route, rng: random.Random) -> Mutant | None:
    """A directory where the file was (an unzipped download, ``mkdir`` by mistake); or the
    manifest itself a directory."""
    if rng.random() < 0.25:
        return Mutant(
            "incident.json",
            {"incident.json": DIRECTORY, route.rel: route.stored()},
            outcome="error",
        )
    return Mutant(route.rel, {route.rel: DIRECTORY}, rows=0, note="directory")


def unreadable(route: Route, rng: random.Random) -> Mutant | None:
    """A file the system will not let the user read (copied from another account)."""
    return Mutant(route.rel, {route.rel: UNREADABLE}, outcome="error", message="cannot read")


def symlink_loop(route: Route, rng: random.Random) -> Mutant | None:
    """A link that leads back to itself through another (a broken sync, ``ln -s`` twice)."""
    return Mutant(route.rel, {route.rel: SYMLINK_LOOP}, outcome="error", message="symlink loop")


MUTATIONS: dict[str, Mutation] = {
    "cut-mid-row": cut_mid_row,
    "cut-gzip-stream": cut_gzip_stream,
    "cut-multibyte": cut_multibyte,
    "nul-bytes": nul_bytes,
    "cr-only": cr_only,
    "duplicate-column": duplicate_column,
    "rename-column": rename_column,
    "reorder-columns": reorder_columns,
    "extra-column": extra_column,
    "empty-file": empty_file,
    "header-only": header_only,
    "giant-field": giant_field,
    "deep-json": deep_json,
    "swap-types": swap_types,
    "retime": retime,
    "archive-under-the-name": archive_under_the_name,
    "directory-instead": directory_instead,
    "unreadable": unreadable,
    "symlink-loop": symlink_loop,
}


def mutate(route_name: str, mutation: str, seed: int) -> Mutant | None:
    """The case (route, mutation, seed); None where the mutation does not apply."""
    rng = random.Random(f"{route_name}/{mutation}/{seed}")
    mutant = MUTATIONS[mutation](routes()[route_name], rng)
    if mutant is not None:
        mutant.route = route_name
    return mutant


def write_case(root: Path, mutant: Mutant) -> Path:
    """Write the incident around the mutant under ``root``; return it."""
    files: dict[str, bytes | str | None] = dict(base_files())
    files.update(mutant.files)
    for rel, data in files.items():
        if data is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data == DIRECTORY:
            path.mkdir()
        elif data == SYMLINK_LOOP:
            other = path.with_name(path.name + ".other")
            path.symlink_to(other.name)
            other.symlink_to(path.name)
        elif data == UNREADABLE:
            path.write_bytes(b"id,timestamp\n")
            path.chmod(0)
        else:
            path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return root


# --------------------------------------------------------------------------------------------
# Running make check's command line, and judging its answer
# --------------------------------------------------------------------------------------------


@dataclass
class Answer:
    code: int | None
    out: str
    err: str
    accounting: object = None
    crash: str = ""
    incident: object = None


def run_check(root: Path) -> Answer:
    """``python -m analysis check --data ROOT --no-cache`` in this process (its ``main``); an
    exception escaping it is what a user would see as a traceback."""
    import traceback

    from analysis.__main__ import main
    from analysis.ingest import cli

    seen: list = []
    real = cli.load_incident

    def spy(*args, **kwargs):
        incident = real(*args, **kwargs)
        seen.append(incident)
        return incident

    out, err = io.StringIO(), io.StringIO()
    cli.load_incident = spy
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", "--data", str(root), "--no-cache"])
        crash = ""
    except BaseException as exc:  # noqa: BLE001  (anything escaping main is the finding)
        code, crash = None, "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        cli.load_incident = real
    incident = seen[0] if seen else None
    return Answer(
        code,
        out.getvalue(),
        err.getvalue(),
        None if incident is None else incident.accounting,
        crash,
        incident,
    )


_LOCATED = re.compile(r"\b(row \d+|line \d+|field '|byte \d+|column|key )")


def judge(mutant: Mutant, answer: Answer) -> list[str]:
    """What is wrong with ``make check``'s answer to the mutant (empty: nothing)."""
    problems = []
    if answer.crash:
        return [f"traceback: {answer.crash}"]
    if "Traceback" in answer.out + answer.err:
        problems.append("a traceback on the terminal")
    if answer.code == 2:
        lines = answer.err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"not one error line: {answer.err!r}")
        elif Path(mutant.rel).name.removesuffix(".gz") not in lines[0]:
            problems.append(f"the error does not name {mutant.rel}: {lines[0]}")
        elif mutant.located and not _LOCATED.search(lines[0]):
            problems.append(f"the error names no row, line or field: {lines[0]}")
        elif mutant.message and not re.search(mutant.message, lines[0]):
            problems.append(f"the error does not say {mutant.message!r}: {lines[0]}")
        if mutant.outcome == "ok":
            problems.append(f"refused, expected a read: {lines[:1]}")
        return problems
    if answer.code != 0:
        return [f"exit {answer.code}: {answer.err!r}"]
    if mutant.outcome == "error":
        problems.append("accepted, expected one error line")
    acc = answer.accounting
    if acc is None:
        return [*problems, "no accounting"]
    if not (acc["read"] == acc["accepted"] + acc["rejected"]).all():
        problems.append("read != accepted + rejected")
    mine = acc[acc["file"].astype(str).str.startswith(mutant.rel.removesuffix(".gz"))]
    read = int(mine["read"].sum())
    if mutant.rows is not None and read != mutant.rows:
        problems.append(f"{read} rows counted for {mutant.rel}, the file holds {mutant.rows}")
    if read < mutant.min_rows:
        problems.append(f"{read} rows counted, at least {mutant.min_rows} are whole")
    return problems


@contextlib.contextmanager
def readable_as_nobody(root: Path):
    """Run the block with the effective user ``nobody`` when this process is root (root reads
    any file whatever its permissions, so an unreadable file needs another user to be one).

    The incident must then lie where that user may walk: ``root`` is copied below a fresh
    world-readable temporary directory, whose path the block receives.
    """
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0:
        yield root
        return
    scratch = Path(tempfile.mkdtemp(prefix="eventlive-fuzz-"))
    try:
        scratch.chmod(0o755)
        copy = scratch / root.name
        shutil.copytree(root, copy, symlinks=True)
        for path in [copy, *copy.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield copy
        finally:
            os.seteuid(0)
            os.setegid(0)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


#: Tables of the undamaged file of each route, once per process (for ``Mutant.same``).
_BASELINES: dict[str, object] = {}
_COMPARED = ("requests", "db_errors", "realtime_events", "registrations", "sessions", "concurrency")


def _baseline(root: Path, route_name: str):
    if route_name not in _BASELINES:
        r = routes()[route_name]
        answer = run_check(write_case(root, Mutant(r.rel, {r.rel: r.stored()})))
        _BASELINES[route_name] = answer.incident
    return _BASELINES[route_name]


def _same_tables(got, want) -> list[str]:
    import pandas as pd

    problems = []
    for name in _COMPARED:
        g, w = getattr(got, name), getattr(want, name)
        if "id" in g.columns and g["id"].str.startswith("x_").all():
            # Ids derived from the row's text (an export without ids): a time spelled
            # otherwise gives another id, the row is the same.
            g, w = g.drop(columns="id"), w.drop(columns="id")
        key = [c for c in ("id", "session_id", "ts") if c in g.columns][:1]
        g = g.sort_values(key).reset_index(drop=True) if key else g
        w = w.sort_values(key).reset_index(drop=True) if key else w
        try:
            pd.testing.assert_frame_equal(g, w, obj=name)
        except AssertionError as exc:
            problems.append(f"{name} differs from the undamaged file's: {str(exc)[:200]}")
    return problems


def check_case(root: Path, mutant: Mutant) -> tuple[Answer, list[str]]:
    """Write the mutant's incident under ``root``, run ``make check``'s command line on it and
    judge the answer."""
    write_case(root, mutant)
    if any(v == UNREADABLE for v in mutant.files.values()):
        # Once as this user first: the modules the check imports on its way are loaded while
        # they can be read (an interpreter installed under /root is closed to ``nobody``).
        run_check(root)
        with readable_as_nobody(root) as where:
            answer = run_check(where)
            answer.err = answer.err.replace(str(where), str(root))
    else:
        answer = run_check(root)
    problems = judge(mutant, answer)
    if not problems and mutant.same and answer.code == 0 and mutant.route:
        want = _baseline(root.with_name(root.name + "-undamaged"), mutant.route)
        problems = _same_tables(answer.incident, want)
    return answer, problems


def main(argv: list[str]) -> int:
    """``python tests/_ingest_fuzz.py [SEEDS] [ROUTE|MUTATION ...]``: run the cases, print one
    line per case that fails its judgement and a summary by answer; exit 1 if any failed."""
    import sys
    import tempfile
    import time
    from collections import Counter

    seeds = int(argv[0]) if argv else 5
    only = set(argv[1:])
    scratch = Path(tempfile.mkdtemp(prefix="eventlive-fuzz-run-"))
    answers: Counter = Counter()
    failed = 0
    started = time.process_time()
    try:
        for route in routes():
            for mutation in MUTATIONS:
                if only and not only & {route, mutation}:
                    continue
                for seed in range(seeds):
                    mutant = mutate(route, mutation, seed)
                    if mutant is None:
                        continue
                    root = scratch / f"{route}-{mutation}-{seed}"
                    answer, problems = check_case(root, mutant)
                    answers[
                        "refused" if answer.code == 2 else "read" if answer.code == 0 else "crashed"
                    ] += 1
                    if problems:
                        failed += 1
                        print(f"FAIL {route} {mutation} seed {seed} ({mutant.note}): {problems}")
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    cases = sum(answers.values())
    print(
        f"{cases} cases ({', '.join(f'{n} {k}' for k, n in sorted(answers.items()))}), "
        f"{failed} failing, {time.process_time() - started:.1f} CPU s",
        file=sys.stdout,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv[1:]))
