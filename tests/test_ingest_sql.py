"""Tables saved as SQL or JSON by Supabase's own code: Studio's table editor "Export as SQL" /
"Export as JSON" and ``supabase db dump --data-only`` (INSERTs, or COPY with ``--use-copy``).

Each route gets the shipped tables through a port of its writer (``tests/_sql_writers.py``,
docs/supabase-exports.md §8) and must give the same canonical tables as the shipped CSVs, with
every row accepted; the rows of the database's other tables (``auth.users``) are counted as
``table not analysed`` and none of their values reaches a table. A broken file is refused in
one line naming the file, the line and what was expected.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import _sql_writers as sw
import pandas as pd
import pytest
from test_real_writers import (
    SLICE,
    TABLES,
    _base,
    _load,
    assert_every_row_read,
    assert_same_tables,
    postgres_meta_rows,
    shipped_rows,
    write_api_pages,
)

from analysis.exceptions import IngestError
from analysis.ingest import sqlfile
from analysis.ingest.reader import drain_key

CANONICAL = ["webinars", "registrations", "sessions", "concurrency"]
NUMERIC = {"webinar_viewer_counts": ("id", "viewer_count")}
#: Rows of a table the analysis does not read, as a whole-database dump holds them (auth.users).
AUTH_COLUMNS = ["instance_id", "id", "email", "raw_user_meta_data", "is_sso_user", "created_at"]
AUTH_ROWS = [
    {
        "instance_id": "00000000-0000-0000-0000-000000000000",
        "id": "3beb26f2-602f-468c-ba04-fd517a2d53f2",
        "email": "o'brien@example.org",
        "raw_user_meta_data": '{"name": "Kim\\tO\'Brien", "note": "line1\\nline2"}',
        "is_sso_user": False,
        "created_at": "2026-01-20 01:02:03.4+00",
    },
    {
        "instance_id": "00000000-0000-0000-0000-000000000000",
        "id": "fee62538-7b7b-4272-b858-2b50666ae7dd",
        "email": "back\\slash@example.org",
        "raw_user_meta_data": None,
        "is_sso_user": True,
        "created_at": "2026-01-21 01:02:03+00",
    },
]


def dump_tables() -> list[tuple]:
    """The shipped tables as the server hands them to pg_dump, behind auth.users."""
    out = [("auth", "users", AUTH_COLUMNS, AUTH_ROWS, ())]
    for table in TABLES:
        columns, rows = postgres_meta_rows(table)
        out.append(("public", table, columns, rows, NUMERIC.get(table, ())))
    return out


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    return _load(_base(tmp_path_factory.mktemp("ref") / "csv", SLICE))


def _route(root: Path, files: dict[str, str | bytes]) -> Path:
    _base(root, SLICE, tables=False)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def studio_files(ext: str) -> dict[str, str]:
    files = {}
    for table in TABLES:
        columns, rows = postgres_meta_rows(table)
        text = (
            sw.studio_table_sql("public", table, columns, rows)
            if ext == "sql"
            else sw.studio_table_json(rows)
        )
        files[f"tables/{sw.studio_file_name(table, ext)}"] = text
    return files


def assert_all_accepted(got, shipped) -> None:
    """Every row read, and read, accepted and rejected (with reasons) as the shipped CSVs'."""
    acc, want = got.accounting.set_index("kind"), shipped.accounting.set_index("kind")
    for kind in TABLES:
        row, ref = acc.loc[kind], want.loc[kind]
        assert row["read"] > 0, row
        for col in ("read", "accepted", "rejected", "reason"):
            assert row[col] == ref[col], (kind, col, row[col], ref[col])
        assert row["shape"] in ("table_sql", "table_json"), row


@pytest.mark.parametrize("ext", ["sql", "json"])
def test_table_editor_exports_give_the_shipped_tables(shipped, tmp_path, ext):
    files = studio_files(ext)
    text = files["tables/webinars_rows.sql" if ext == "sql" else "tables/webinars_rows.json"]
    if ext == "sql":
        # pg-meta leaves plain lower-case names bare; one statement, no line break.
        assert text.startswith("INSERT INTO public.webinars (id, title, starts_at, ")
        assert "\n" not in text and text.endswith(");")
    else:
        assert text.startswith('[{"id":"') and "\n" not in text
    got = _load(_route(tmp_path / ext, files))
    assert_same_tables(got, shipped, CANONICAL)
    assert_all_accepted(got, shipped)


@pytest.mark.parametrize("copy", [False, True], ids=["inserts", "use-copy"])
def test_supabase_db_dump_data_only_gives_the_shipped_tables(shipped, tmp_path, copy):
    text = sw.pg_dump_copy(dump_tables()) if copy else sw.pg_dump_inserts(dump_tables(), 100)
    assert ('COPY "public"."webinars"' in text) is copy
    got = _load(_route(tmp_path / "dump", {"supabase/seed.sql": text}))
    assert_same_tables(got, shipped, CANONICAL)
    assert_all_accepted(got, shipped)
    acc = got.accounting.set_index("kind").loc["auth.users"]
    assert (acc["read"], acc["rejected"], acc["reason"]) == (2, 2, "table not analysed: 2")
    for name in CANONICAL:
        table = getattr(got, name)
        for col in table.columns:
            if pd.api.types.is_string_dtype(table[col]):
                assert not table[col].astype(str).str.contains("example.org").any(), (name, col)


def test_gzipped_dump_and_windows_line_ends(shipped, tmp_path):
    text = sw.pg_dump_copy(dump_tables()).replace("\n", "\r\n")
    got = _load(_route(tmp_path / "gz", {"data.sql.gz": gzip.compress(text.encode(), mtime=0)}))
    assert_same_tables(got, shipped, CANONICAL)


def test_sql_values_are_read_as_postgres_writes_them():
    cols = ["a", "b", "c", "d", "e", "f"]
    rows = [
        {"a": "it's", "b": "back\\slash", "c": None, "d": 42, "e": True, "f": {"k": "v's"}},
        {"a": "", "b": "tab\there", "c": "x", "d": -1.5, "e": False, "f": None},
    ]
    studio = sw.studio_table_sql("public", "t", cols, rows, json_columns=("f",))
    assert "E'back\\\\\\\\slash'" not in studio and "E'back\\\\slash'" in studio
    # The server hands pg_dump a jsonb as its text; postgres-meta hands Studio the parsed value.
    text_rows = [{**r, "f": r["f"] and sw.w.json_stringify(r["f"])} for r in rows]
    dump = sw.pg_dump_inserts([("public", "t", cols, text_rows, ("d",))])
    copy = sw.pg_dump_copy([("public", "t", cols, text_rows, ("d",))])
    want = [
        ["it's", "back\\slash", None, "42", "true", '{"k":"v\'s"}'],
        ["", "tab\there", "x", "-1.5", "false", None],
    ]
    for text in (studio, dump, copy):
        (table,) = sqlfile.read_sql_tables(Path("t.sql"), text)
        assert (table.schema, table.name, table.columns) == ("public", "t", cols)
        bools = {"t": "true", "f": "false"}
        assert [[bools.get(v, v) for v in r] for r in table.rows] == want, text


def test_other_statements_and_meta_commands_hold_no_rows():
    text = (
        "\\connect postgres\nSET x = 'a;b';\n/* INSERT INTO t (a) VALUES (1); */\n"
        "-- INSERT INTO t (a) VALUES (2);\n"
        'INSERT INTO "S"."Odd ""name""" ("A", b) OVERRIDING SYSTEM VALUE VALUES'
        " (ARRAY['x,)', 'y'], now()), ($q$a)b$q$::text, DEFAULT) ON CONFLICT DO NOTHING;\n"
        'SELECT pg_catalog.setval(\'"public"."s"\', 3, true);\n'
    )
    (table,) = sqlfile.read_sql_tables(Path("t.sql"), text)
    assert (table.schema, table.name, table.columns) == ("S", 'Odd "name"', ["A", "b"])
    assert table.rows == [["ARRAY['x,)', 'y']", "now()"], ["a)b", None]]


BROKEN = {
    "cut-mid-insert": (
        "INSERT INTO public.webinars (id, title) VALUES ('a', 'b'), ('c', ",
        r"x\.sql, line 1: row of webinars cut short; expected a SQL value \(a cut file\?\)",
    ),
    "no-final-semicolon": (
        "INSERT INTO public.webinars (id, title) VALUES ('a', 'b')\n",
        r"x\.sql, line 2: INSERT into webinars not ended; expected ';' after its last row",
    ),
    "values-without-columns": (
        "SET a = 1;\nINSERT INTO public.webinars VALUES ('a', 'b');",
        r"x\.sql, line 2: rows of webinars without column names; expected INSERT INTO table"
        r" \(columns\) VALUES",
    ),
    "too-few-values": (
        "INSERT INTO webinars (id, title) VALUES\n\t('a', 'b'),\n\t('c');",
        r"x\.sql, line 3: a row of webinars has 1 values; expected 2, one per column",
    ),
    "unterminated-string": (
        "INSERT INTO webinars (id, title) VALUES ('a', 'b);",
        r"x\.sql, line 1: unterminated string in a row of webinars; expected a closing '",
    ),
    "copy-without-end": (
        'COPY "public"."webinars" ("id", "title") FROM stdin;\na\tb\n',
        r"x\.sql, line 1: COPY data of webinars not ended; expected a line '\\\.' after its rows",
    ),
    "copy-ragged-line": (
        'COPY "public"."webinars" ("id", "title") FROM stdin;\na\tb\nc\n\\.\n',
        r"x\.sql, line 3: a COPY row of webinars has 1 fields; expected 2 tab-separated",
    ),
    "copy-csv-format": (
        "COPY public.webinars (id, title) FROM stdin WITH (FORMAT csv);\na,b\n\\.\n",
        r"x\.sql, line 1: COPY of webinars with options 'WITH \(FORMAT csv\)'; expected pg_dump's"
        r" text format",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_sql_is_refused_in_one_line(case):
    text, message = BROKEN[case]
    with pytest.raises(IngestError, match=message) as err:
        sqlfile.read_sql_tables(Path("x.sql"), text)
    assert "\n" not in str(err.value)


def test_dump_without_rows_and_table_with_missing_column_are_refused(tmp_path):
    root = _route(tmp_path / "none", {"tables/schema.sql": "SET a = 1;\nRESET ALL;\n"})
    with pytest.raises(IngestError, match=r"schema\.sql: no table rows; expected INSERT INTO"):
        _load(root)
    root = _route(
        tmp_path / "col",
        {"tables/x.sql": "INSERT INTO registrations (webinar_id, user_id) VALUES ('a', 'b');"},
    )
    with pytest.raises(IngestError, match=r"x\.sql.*registrations.*created_at"):
        _load(root)


def test_make_check_reads_a_dump_and_counts_every_row(tmp_path):
    root = _route(tmp_path / "dump", {"data.sql": sw.pg_dump_inserts(dump_tables())})
    run = subprocess.run(
        [sys.executable, "-m", "analysis", "check", "--data", str(root), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "auth.users" in run.stdout and "table not analysed" in run.stdout
    broken = _route(tmp_path / "cut", {"data.sql": sw.pg_dump_inserts(dump_tables())[:-2000]})
    run = subprocess.run(
        [sys.executable, "-m", "analysis", "check", "--data", str(broken), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and "data.sql, line" in run.stderr, run.stderr


# --------------------------------------------------------------------------------------------
# Log drains: the custom HTTP endpoint's batches and the S3 drain's Parquet files
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    rows = shipped_rows(SLICE)
    ref = _base(tmp_path_factory.mktemp("ref") / "pages", SLICE)
    write_api_pages(ref, rows)
    return rows, _load(ref)


def drain_batches(rows: dict[str, list[dict]], size: int) -> list[list[dict]]:
    """Every source's rows in time order, in batches of ``size`` (a drain's batch limit)."""
    every = sorted((r for source in rows.values() for r in source), key=lambda r: r["timestamp"])
    return [every[i : i + size] for i in range(0, len(every), size)]


def test_http_log_drain_batches_give_the_same_tables_as_the_pages(pages, tmp_path):
    rows, want = pages
    files = {
        f"drain/batch-{n:04d}.json.gz": sw.http_drain_batch(batch)
        for n, batch in enumerate(drain_batches(rows, 250))
    }
    got = _load(_route(tmp_path / "http", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])


#: Logflare names an S3 drain's directory by its source's token (a uuid), not by the source.
TOKENS = {
    "edge_logs": "6f1c2a0e_4b7d_4d8e_9a51_3c2b7e9f0a11",
    "postgres_logs": "0a9e8d7c_6b5a_4f3e_8d2c_1b0a9f8e7d6c",
    "realtime_logs": "c41d2e3f_4a5b_4c6d_8e7f_9a0b1c2d3e4f",
}


def test_http_drain_bodies_appended_one_a_line_are_read(pages, tmp_path):
    """A receiver that appends each POST body (a JSON list of events) as one line."""
    rows, want = pages
    lines = [
        gzip.decompress(sw.http_drain_batch(batch)).decode() for batch in drain_batches(rows, 250)
    ]
    got = _load(_route(tmp_path / "lines", {"drain/bodies.jsonl": "\n".join(lines) + "\n"}))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])


def test_s3_log_drain_parquet_gives_the_same_tables_as_the_pages(pages, tmp_path):
    rows, want = pages
    files = {}
    for source, source_rows in rows.items():
        # One directory per Logflare source (its token), one file per batch (its time in µs).
        for batch in drain_batches({source: source_rows}, 500):
            files[f"s3/{TOKENS[source]}/{batch[0]['timestamp']}.parquet"] = sw.s3_drain_parquet(
                batch
            )
    got = _load(_route(tmp_path / "s3", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])
    assert set(got.accounting["shape"].dropna()) >= {"drain_parquet"}


def test_drain_body_keys_lose_the_metadata_root_and_record_indexes():
    assert (
        drain_key("metadata.request.headers.cf_connecting_ip") == "request.headers.cf_connecting_ip"
    )
    assert drain_key("metadata.0.response.0.status_code") == "response.status_code"
    assert drain_key("metadata.context.mfa.0") == "context.mfa.0"
    assert drain_key("project") == "project"


def test_broken_parquet_is_refused_in_one_line(tmp_path):
    root = _route(tmp_path / "bad", {"s3/x/1.parquet": b"PAR1 cut"})
    with pytest.raises(IngestError, match=r"1\.parquet: unreadable Parquet file; expected a batch"):
        _load(root)


def other_source_events(t0: int) -> list[dict]:
    """One event of each source a drain forwards that the package does not analyse, with the
    keys Logflare's ingest samples of Supabase's services carry (placeholder values)."""
    bodies = [
        # Auth (GoTrue): a JSON line, its fields in metadata, method and path among them.
        {
            "event_message": '{"component":"api","level":"info","method":"GET","msg":"request'
            ' started","path":"/user"}',
            "project": "abcdefghijklmnopqrst",
            "metadata": {
                "component": "api",
                "level": "info",
                "method": "GET",
                "msg": "request started",
                "path": "/user",
                "remote_addr": "203.0.113.9",
                "auth_event": {"action": "login", "actor_id": "3beb26f2"},
            },
        },
        # Storage: a context of its own, a tenant and a request id.
        {
            "event_message": "content-type is text/plain;charset=UTF-8",
            "metadata": {
                "context": {"host": "storage-1", "pid": 7},
                "level": "info",
                "project": "abcdefghijklmnopqrst",
                "reqId": "req-1",
                "tenantId": "abcdefghijklmnopqrst",
            },
        },
        # PgBouncer and PostgREST server lines: the host alone.
        {
            "event_message": "S-0xaaab05948260: postgres/postgres@127.0.0.1:5432 new connection",
            "project": "abcdefghijklmnopqrst",
            "metadata": {"host": "db-abcdefghijklmnopqrst"},
        },
        {
            "event_message": "Attempting to connect to the database...",
            "project": "abcdefghijklmnopqrst",
            "metadata": {"host": "db-abcdefghijklmnopqrst"},
        },
        # Edge Functions' invocation and console rows.
        {
            "event_message": "POST | 200 | https://abcdefghijklmnopqrst.functions.supabase.co/hi",
            "metadata": {
                "function_id": "f1",
                "deployment_id": "d1",
                "request": {"method": "POST", "pathname": "/hi"},
                "response": {"status_code": 200},
            },
        },
        {
            "event_message": "hello from a function\n",
            "metadata": {"function_id": "f1", "execution_id": "e1", "level": "log"},
        },
        # Supavisor through its Logflare formatter (supabase/supavisor
        # lib/supavisor/logger/logflare_formatter.ex): the Elixir logger's keys, as Realtime's
        # (project, level, context), and the connection's own (mode, db_name, app_name).
        {
            "event_message": "ClientHandler: Connection closed with error: max_clients_reached",
            "project": "abcdefghijklmnopqrst",
            "metadata": {
                "project": "abcdefghijklmnopqrst",
                "user": "postgres.abcdefghijklmnopqrst",
                "mode": "transaction",
                "type": "single",
                "app_name": "postgrest",
                "db_name": "postgres",
                "peer_ip": "203.0.113.9",
                "level": "error",
                "context": {
                    "application": "supavisor",
                    "module": "Elixir.Supavisor.ClientHandler",
                    "mfa": ["Elixir.Supavisor.ClientHandler", "handle_event", "4"],
                    "vm": {"node": "supavisor@10.0.0.1"},
                },
            },
        },
        # The ETL replication's lines name their pipeline (Studio filters on pipeline_id).
        {"event_message": "table copy finished", "metadata": {"pipeline_id": 7, "level": "info"}},
        # Multigres keeps its structured line as JSON text in event_message, no metadata.
        {"event_message": '{"level":"ERROR","msg":"primary unreachable, failing over"}'},
    ]
    return [
        {"id": f"00000000-0000-4000-8000-{n:012d}", "timestamp": t0 + n * 1000, **b}
        for n, b in enumerate(bodies, start=1)
    ]


def test_a_drain_batch_counts_every_other_source_apart(pages, tmp_path):
    rows, want = pages
    t0 = int(SLICE[0].value // 1000) + 60_000_000
    others = other_source_events(t0)
    batch = [sw.log_event_body(r) for r in rows["edge_logs"][:100]] + others
    got = _load(_route(tmp_path / "mixed", {"drain/batch.json": json.dumps(batch)}))
    acc = got.accounting.set_index("kind")
    for kind in (
        "auth_logs",
        "storage_logs",
        "pgbouncer_logs",
        "postgrest_logs",
        "function_edge_logs",
        "function_logs",
        "supavisor_logs",
        "etl_replication_logs",
        "multigres_logs",
    ):
        assert acc.loc[kind, "rejected"] == 1, acc
        assert acc.loc[kind, "reason"] == f"unsupported log source {kind}: 1"
    assert acc.loc["edge_logs", "accepted"] == 100
    ids = {r["id"] for r in others}
    for name in ("requests", "db_errors", "realtime_events"):
        assert not getattr(got, name)["id"].isin(ids).any(), name


def test_any_cut_or_damaged_dump_is_one_ingest_error_or_rows(tmp_path):
    """Random cuts, insertions and deletions of each writer's text never raise anything but
    an IngestError (a one-line message), whatever they hit."""
    import random

    columns, rows = postgres_meta_rows("webinar_viewer_counts")
    table = [("public", "webinar_viewer_counts", columns, rows[:40], ("id", "viewer_count"))]
    texts = [
        sw.pg_dump_inserts(table, 15),
        sw.pg_dump_copy(table),
        sw.studio_table_sql("public", "webinar_viewer_counts", columns, rows[:40]),
    ]
    rng = random.Random(7)
    for text in texts:
        for _ in range(200):
            k, mode = rng.randrange(len(text)), rng.randrange(3)
            if mode == 0:
                damaged = text[:k]
            elif mode == 1:
                damaged = text[:k] + rng.choice("'\"();$\\\t\n,E[8") + text[k:]
            else:
                damaged = text[:k] + text[k + rng.randrange(1, 50) :]
            try:
                sqlfile.read_sql_tables(Path("f.sql"), damaged)
            except IngestError as exc:
                assert "\n" not in str(exc)
    # COPY: a backslash before any other character is that character; an E'' string keeps
    # an escape past the last code point as written.
    text = "COPY t (a) FROM stdin;\nx\\8\\U1\n\\.\n"
    assert sqlfile.read_sql_tables(Path("f.sql"), text)[0].rows == [["x8U1"]]
    text = "INSERT INTO t (a) VALUES (E'\\U0011ffff');"
    assert sqlfile.read_sql_tables(Path("f.sql"), text)[0].rows == [["\\U0011ffff"]]


ROUTES = {
    "s3-drain+db-dump": lambda root, rows: _write_files(
        root,
        {
            **{
                f"s3/{TOKENS[source]}/{batch[0]['timestamp']}.parquet": sw.s3_drain_parquet(batch)
                for source, source_rows in rows.items()
                for batch in drain_batches({source: source_rows}, 1000)
            },
            "supabase/seed.sql": sw.pg_dump_inserts(dump_tables()),
        },
    ),
    "http-drain+table-editor-sql": lambda root, rows: _write_files(
        root,
        {
            **{
                f"drain/batch-{n:05d}.json.gz": sw.http_drain_batch(batch)
                for n, batch in enumerate(drain_batches(rows, 250))
            },
            **studio_files("sql"),
        },
    ),
}


def _write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_whole_hour_through_a_route_gives_the_shipped_tables(tmp_path, route):
    from test_real_writers import LOG_TABLES, SHIPPED, SOURCES

    want = _load(SHIPPED)
    root = _base(tmp_path / route, None, tables=False)
    ROUTES[route](root, shipped_rows(None))
    got = _load(root)
    assert_every_row_read(got, want, [*SOURCES, *TABLES])
    assert_same_tables(got, want, [*LOG_TABLES.values(), *CANONICAL])


if __name__ == "__main__":
    # Write the shipped hour as each route gives it: python tests/test_ingest_sql.py OUT [route]
    out = Path(sys.argv[1])
    for name in sys.argv[2:] or ROUTES:
        root = _base(out / name, None, tables=False)
        ROUTES[name](root, shipped_rows(None))
        print(root)


# --------------------------------------------------------------------------------------------
# Studio's Logs Explorer templates (BigQuery projects), downloaded as CSV
# --------------------------------------------------------------------------------------------


def bq_datetime(us: int) -> str:
    """BigQuery's DATETIME text of a UTC time (``cast(timestamp as datetime)``): zone-less,
    six digits of fraction, none on a whole second (an inference from BigQuery's clients,
    which parse both forms)."""
    ts = pd.Timestamp(us * 1000, tz="UTC")
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ts.microsecond:06d}" if ts.microsecond else "")


def _one(value):
    return value[0] if isinstance(value, list) and value else (value or {})


def explorer_templates(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The result rows of four of Studio's Logs Explorer templates (``TEMPLATES`` in
    Logs.constants.ts), each ``order by timestamp desc limit 100``, as the query gives them."""

    def response(r):
        return _one(_one(r["metadata"]).get("response"))

    def parsed(r):
        return _one(_one(r["metadata"]).get("parsed"))

    newest = sorted(rows["edge_logs"], key=lambda r: -r["timestamp"])
    errors = sorted(rows["postgres_logs"], key=lambda r: -r["timestamp"])
    return {
        "500 Request Codes": [
            {
                "timestamp": bq_datetime(r["timestamp"]),
                "event_message": r["event_message"],
                "status_code": response(r).get("status_code"),
            }
            for r in newest
            if (response(r).get("status_code") or 0) >= 500
        ][:100],
        "Slow Response Time": [
            {
                "timestamp": bq_datetime(r["timestamp"]),
                "event_message": r["event_message"],
                "origin_time": response(r).get("origin_time"),
            }
            for r in newest
            if (response(r).get("origin_time") or 0) > 1000
        ][:100],
        "REST Requests": [
            {"timestamp": bq_datetime(r["timestamp"]), "event_message": r["event_message"]}
            for r in newest
            if "/rest/v1" in r["event_message"]
        ][:100],
        "Errors": [
            {
                "timestamp": bq_datetime(r["timestamp"]),
                "error_severity": parsed(r).get("error_severity"),
                "event_message": r["event_message"],
            }
            for r in errors
            if parsed(r).get("error_severity") in ("ERROR", "FATAL", "PANIC")
        ][:100],
    }


def test_logs_explorer_template_downloads_are_read_as_utc_rows(tmp_path):
    """Studio's templates cast the time to a zone-less DATETIME; in a BigQuery project's
    directory (the manifest's default flavour) those rows were all refused as naive times."""
    import copy

    rows = copy.deepcopy(shipped_rows(SLICE))
    edge = rows["edge_logs"]
    for n, r in enumerate(edge[:120]):
        resp = r["metadata"][0]["response"][0]
        if n % 2:
            resp["status_code"] = 503
        else:
            resp["origin_time"] = 1500 + n
    edge[1]["timestamp"] -= edge[1]["timestamp"] % 1_000_000  # a whole second
    root = _base(tmp_path / "tmpl", SLICE)
    ref = _base(tmp_path / "ref", SLICE)
    write_api_pages(ref, rows)
    want = _load(ref)
    templates = explorer_templates(rows)
    assert any("." not in r["timestamp"] for r in templates["500 Request Codes"])
    for name, result in templates.items():
        assert result, name
        path = root / "exports" / f"supabase-logs-abcdefghijklmnopqrst ({name}).csv.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(sw.w.results_csv(result), encoding="utf-8")
    got = _load(root)
    acc = got.accounting[got.accounting["file"].str.startswith("exports")]
    assert (acc["rejected"] == 0).all() and acc["read"].sum() == sum(
        len(r) for r in templates.values()
    ), acc
    key = ["ts", "method", "path", "status"]
    joined = got.requests.merge(want.requests, on=key, how="left", suffixes=("", "_pages"))
    assert joined["id_pages"].notna().all()
    slow = joined[joined["origin_time_ms"].notna()]
    assert len(slow) and (slow["origin_time_ms"] == slow["origin_time_ms_pages"]).all()
    pg = got.db_errors.merge(want.db_errors, on=["ts", "message"], suffixes=("", "_pages"))
    assert len(pg) == len(got.db_errors) == len(templates["Errors"])
    assert (pg["sql_state"] == pg["sql_state_pages"]).all()


def test_rows_of_tables_not_kept_are_counted_not_held():
    text = sw.pg_dump_copy(dump_tables()[:2])
    tables = sqlfile.read_sql_tables(Path("d.sql"), text, keep=lambda name, cols: name != "users")
    users, webinars = tables
    assert (users.name, users.count, users.rows) == ("users", 2, [])
    assert webinars.count == len(webinars.rows) == 2


def test_auth_page_of_a_clickhouse_project_is_counted_as_auth(tmp_path):
    # Studio's Auth page on ClickHouse projects selects id, timestamp, event_message and the
    # attributes level, status, path, msg, error (Logs.utils.otel.ts); its product page CSV.
    rows = [
        {
            "id": f"00000000-0000-4000-8000-00000000000{n}",
            "timestamp": 1770356460000000 + n,
            "event_message": '{"level":"info","msg":"request completed","path":"/token"}',
            "level": "info",
            "status": "200",
            "path": "/token",
            "msg": "request completed",
            "error": None,
        }
        for n in range(3)
    ]
    root = _route(tmp_path / "auth", {"exports/auth.csv": sw.w.results_csv(rows)})
    got = _load(root)
    acc = got.accounting.set_index("kind").loc["auth_logs"]
    assert (acc["read"], acc["rejected"]) == (3, 3), acc
    assert len(got.requests) == len(got.realtime_events) == 0


def test_the_s3_drain_s_connection_test_file_is_counted_not_fatal(pages, tmp_path):
    """``S3Adaptor.test_connection`` writes ``_connection_test.parquet`` (one column ``probe``,
    one row) at the bucket's root; a copied bucket holds it beside the batches."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, want = pages
    probe = io.BytesIO()
    pq.write_table(pa.table({"probe": pa.array(["connection-test"], pa.string())}), probe)
    files = {"s3/_connection_test.parquet": probe.getvalue()}
    for batch in drain_batches({"edge_logs": rows["edge_logs"]}, 1000):
        files[f"s3/{TOKENS['edge_logs']}/{batch[0]['timestamp']}.parquet"] = sw.s3_drain_parquet(
            batch
        )
    got = _load(_route(tmp_path / "s3", files))
    acc = got.accounting.set_index("file").loc["s3/_connection_test.parquet"]
    assert (acc["read"], acc["rejected"]) == (1, 1), acc
    assert acc["reason"] == "unsupported log source (the S3 drain's connection test): 1"
    assert_same_tables(got, want, ["requests"])


# --------------------------------------------------------------------------------------------
# The unified Logs page as Studio maps its rows now (mapUnifiedLogRow, parseOtelTimestamp)
# --------------------------------------------------------------------------------------------


def parse_otel_timestamp_ms(value) -> float:
    """``parseOtelTimestamp``: text with ``T`` or ``-`` is ISO (a space becomes ``T``, ``Z``
    added without a zone), anything else microseconds."""
    text = str(value if value is not None else "")
    if not any(c in text for c in "T-"):
        try:
            return float(text) / 1000
        except ValueError:
            return float("nan")
    text = text.replace(" ", "T", 1)
    if not (text.endswith("Z") or text[-6:-5] in "+-" and ":" in text[-6:]):
        text += "Z"
    return pd.Timestamp(text).value / 1e6


def map_unified_log_row(row: dict) -> dict:
    """``mapUnifiedLogRow`` with ``extractLogMetadata`` (rows of the sources read here)."""
    status = row.get("status")
    return {
        "id": row["id"],
        "date": sw.w.JsDate(parse_otel_timestamp_ms(row.get("timestamp"))),
        "method": row.get("method"),
        "pathname": row.get("pathname") or "",
        "status": 200 if status is None else status,
        "timestamp": row.get("timestamp"),
        "level": row.get("level"),
        "event_message": row.get("event_message") if row.get("event_message") is not None else "",
        "log_type": row.get("log_type"),
        "log_count": row.get("log_count") or None,
        "logs": row.get("logs") if row.get("logs") is not None else [],
        "auth_user": row.get("auth_user") or None,
    }


@pytest.mark.parametrize("ext", ["csv", "json"])
def test_unified_download_as_studio_maps_rows_now_reads_every_row(pages, tmp_path, ext):
    """Newer Studio parses the log store's text time (``date`` is valid, with ``Z``), keeps an
    empty status, and no longer writes host, headers, regions or latency."""
    rows, want = pages
    result = []
    for source in ("edge_logs", "postgres_logs", "realtime_logs"):
        for r in rows[source]:
            r = {**r, "timestamp": sw.w.clickhouse_timestamp(r["timestamp"])}
            if (row := sw.w.unified_otel_projection(source, r)) is not None:
                result.append(row)
    result.sort(key=lambda r: (str(r["timestamp"]), r["id"]), reverse=True)
    files = {}
    for n in range(0, len(result), 1000):
        shown = [map_unified_log_row(r) for r in result[n : n + 1000]]
        text = sw.w.unified_csv(shown) if ext == "csv" else sw.w.unified_json(shown)
        files[f"exports/supabase_logs ({n // 1000}).{ext}"] = text
    assert '"date": "2026-02-06T05:' in files[next(iter(files))] or ext == "csv"
    got = _load(_route(tmp_path / "unified", files))
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])
    cols = ["id", "ts", "method", "path", "status", "endpoint"]
    pd.testing.assert_frame_equal(
        got.requests[cols].sort_values("id").reset_index(drop=True),
        want.requests[cols].sort_values("id").reset_index(drop=True),
    )
    cols = ["id", "ts", "message", "family"]
    pd.testing.assert_frame_equal(
        got.realtime_events[cols].sort_values("id").reset_index(drop=True),
        want.realtime_events[cols].sort_values("id").reset_index(drop=True),
    )


# --------------------------------------------------------------------------------------------
# Drains into other vendors' formats (Loki, Datadog) and the consolidated webhook's NDJSON
# --------------------------------------------------------------------------------------------

#: Placeholder Logflare source names (the stream's ``service``; ingest tells rows by fields).
SERVICES = {"edge_logs": "api", "postgres_logs": "db", "realtime_logs": "realtime"}


def test_loki_drain_payloads_give_the_same_tables_as_the_pages(pages, tmp_path):
    rows, want = pages
    source_of = {r["id"]: s for s, source_rows in rows.items() for r in source_rows}
    files = {}
    for n, batch in enumerate(drain_batches(rows, 250)):
        streams: dict[str, list[dict]] = {}
        for r in batch:
            streams.setdefault(SERVICES[source_of[r["id"]]], []).append(r)
        files[f"loki/push-{n:04d}.json.gz"] = sw.loki_push(streams)
    got = _load(_route(tmp_path / "loki", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])
    assert set(got.accounting["shape"].dropna()) == {"drain_loki"}


def test_datadog_drain_batches_give_the_same_tables_as_the_pages(pages, tmp_path):
    rows, want = pages
    files = {
        f"datadog/batch-{n:04d}.json.gz": sw.datadog_batch(batch, "supabase")
        for n, batch in enumerate(drain_batches(rows, 250))
    }
    got = _load(_route(tmp_path / "dd", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])


@pytest.mark.parametrize("name", ["batch-{n}.ndjson.gz", "batch-{n}.json.gz"])
def test_ndjson_webhook_batches_give_the_same_tables_as_the_pages(pages, tmp_path, name):
    rows, want = pages
    files = {
        "drain/" + name.format(n=n): sw.ndjson_drain_batch(batch)
        for n, batch in enumerate(drain_batches(rows, 1000))
    }
    got = _load(_route(tmp_path / "ndjson", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])


@pytest.mark.parametrize("flatten", [False, True], ids=["body", "flatten_to_attributes"])
def test_otlp_json_from_a_collector_gives_the_same_tables_as_the_pages(pages, tmp_path, flatten):
    # The OTLP drain's requests as a collector's file exporter writes them: one OTLP/JSON
    # request a line, one request per source and batch.
    rows, want = pages
    source_of = {r["id"]: s for s, source_rows in rows.items() for r in source_rows}
    files = {}
    for n, batch in enumerate(drain_batches(rows, 250)):
        lines = []
        for source in SERVICES:
            mine = [r for r in batch if source_of[r["id"]] == source]
            if mine:
                lines.append(json.dumps(sw.otlp_logs_request(mine, source, flatten=flatten)))
        files[f"otel/logs-{n:04d}.jsonl.gz"] = gzip.compress("\n".join(lines).encode(), mtime=0)
    got = _load(_route(tmp_path / "otlp", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])
    assert set(got.accounting["shape"].dropna()) == {"drain_otlp_json"}
    # OTLP's nanoseconds are its own unit: nothing to state.
    assert got.accounting["note"].isna().all()


def test_the_protobuf_writer_gives_the_documented_bytes():
    # A KeyValue {key: "a", value: {string_value: "b"}} and a fixed64 time, by hand from the
    # protobuf encoding rules (tag = number << 3 | wire type).
    assert sw.otlp_protobuf({"key": "a", "value": {"stringValue": "b"}}, "KeyValue") == bytes(
        [0x0A, 0x01, 0x61, 0x12, 0x03, 0x0A, 0x01, 0x62]
    )
    time = sw.otlp_protobuf({"timeUnixNano": "1"}, "LogRecord")
    assert time == bytes([0x09, 1, 0, 0, 0, 0, 0, 0, 0])
    assert sw.otlp_protobuf({"intValue": "-1"}, "AnyValue") == bytes([0x18] + [0xFF] * 9 + [0x01])


@pytest.mark.parametrize("flatten", [False, True], ids=["body", "flatten_to_attributes"])
def test_otlp_protobuf_bodies_give_the_same_tables_as_the_pages(pages, tmp_path, flatten):
    # The OTLP drain's requests as a receiver saves them: one gzipped protobuf body a file.
    rows, want = pages
    source_of = {r["id"]: s for s, source_rows in rows.items() for r in source_rows}
    files = {}
    for n, batch in enumerate(drain_batches(rows, 250)):
        for source in SERVICES:
            mine = [r for r in batch if source_of[r["id"]] == source]
            if mine:
                body = sw.otlp_protobuf(sw.otlp_logs_request(mine, source, flatten=flatten))
                name = f"otlp/{source}-{n:04d}.pb" + (".gz" if n % 2 else "")
                files[name] = gzip.compress(body, mtime=0) if n % 2 else body
    got = _load(_route(tmp_path / "otlp", files))
    assert_same_tables(got, want, ["requests", "db_errors", "realtime_events"])
    assert_every_row_read(got, want, ["edge_logs", "postgres_logs", "realtime_logs"])
    assert set(got.accounting["shape"].dropna()) == {"drain_otlp_proto"}


def test_an_otlp_protobuf_body_without_records_reads_none(tmp_path):
    # Protobuf writes no empty list: a request whose scope holds no record reads as none.
    body = sw.otlp_protobuf(sw.otlp_logs_request([], "edge_logs"))
    page = json.dumps({"result": [], "error": None})
    files = {"otlp/empty.pb": body, "edge_logs/page-0001.json": page}
    got = _load(_route(tmp_path / "empty", files))
    row = got.accounting.set_index("file").loc["otlp/empty.pb"]
    assert (row["read"], row["shape"]) == (0, "drain_otlp_proto")


@pytest.mark.parametrize(
    ("cut", "found"),
    [
        (lambda b: b[:-3], "runs past"),
        (lambda b: b + bytes([0x0B]), "wire type 3"),
        (lambda b: bytes([0x0A, 0x02, 0x12, 0x05]), "runs past"),
    ],
    ids=["truncated", "a group", "a length past the end"],
)
def test_a_damaged_otlp_protobuf_body_is_one_line(tmp_path, cut, found):
    body = sw.otlp_protobuf(sw.otlp_logs_request([], "edge_logs"))
    root = _route(tmp_path / "bad", {"otlp/a.pb": cut(body)})
    with pytest.raises(IngestError, match=r"a\.pb: bad OTLP protobuf; expected an OTLP") as info:
        _load(root)
    assert found in str(info.value) and "\n" not in str(info.value)


def test_a_damaged_otlp_request_is_one_line_or_a_counted_row(tmp_path):
    ok = sw.otlp_logs_request([], "edge_logs")
    bad = {"resourceLogs": [{"scopeLogs": "x"}]}
    root = _route(tmp_path / "bad", {"otel/a.json": json.dumps(bad)})
    with pytest.raises(IngestError, match=r"a\.json, field 'scopeLogs': bad OTLP logs"):
        _load(root)
    ok["resourceLogs"][0]["scopeLogs"][0]["logRecords"] = [7]
    root = _route(tmp_path / "row", {"otel/b.json": json.dumps(ok)})
    with pytest.raises(
        IngestError, match=r"b\.json, row 1: every row rejected: bad OTLP log record"
    ):
        _load(root)


def test_loki_keys_map_back_to_the_fields_ingest_reads():
    from analysis.ingest import drains
    from analysis.ingest.shapes import drain_field_names

    known = {n.replace(".", "_"): n for n in drain_field_names()}
    assert drains.loki_key("metadata_response_status_code", known) == "response.status_code"
    assert drains.loki_key("metadata_request_headers_cf_connecting_ip", known) == (
        "request.headers.cf_connecting_ip"
    )
    assert drains.loki_key("metadata_parsed_sql_state_code", known) == "parsed.sql_state_code"
    assert drains.loki_key("metadata_context_application", known) == "context.application"
    assert drains.loki_key("id", known) == "id"


def test_a_damaged_loki_value_is_a_counted_rejection_not_a_crash(pages, tmp_path):
    rows, _ = pages
    good = json.loads(gzip.decompress(sw.loki_push({"api": rows["edge_logs"][:3]})))
    good["streams"][0]["values"].append([1770356400, "no metadata"])
    good["streams"].append({"stream": {"service": "x"}})
    got = _load(_route(tmp_path / "bad", {"loki/push.json": json.dumps(good)}))
    acc = got.accounting
    assert acc["read"].sum() == 5 and acc["accepted"].sum() == 3, acc
    reasons = "; ".join(acc["reason"].dropna())
    assert "bad Loki value (expected [nanoseconds, line, metadata]): 1" in reasons
    assert "bad Loki stream (expected an object with a list of values): 1" in reasons
