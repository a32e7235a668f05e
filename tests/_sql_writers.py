"""An independent port of the writers that save table rows as SQL (test helper).

Shares no code with ``analysis``. docs/supabase-exports.md §8 names the upstream code:

- Studio's table editor "Export as SQL" (``formatTableRowsToSQL`` over pg-meta's ``ident`` and
  ``literal``) and "Export as JSON" (``JSON.stringify`` of the rows, objects pre-stringified);
- ``supabase db dump --data-only``: the CLI's ``dump_data.sh`` around ``pg_dump --data-only
  --quote-all-identifier --column-inserts --rows-per-insert 100000`` (``pg_dump``'s
  ``dumpTableData_insert``), or with ``--use-copy`` ``pg_dump``'s ``COPY ... FROM stdin``
  text format (``dumpTableData_copy``);
- a cut download (the file stops mid-statement) and a Windows re-save (CRLF).

A table is given as ``(schema, name, columns, rows, numeric)``: rows are dicts of the values
postgres-meta (Studio) or the server (pg_dump) hands over, ``numeric`` the columns of a number
type (pg_dump writes them bare).
"""

from __future__ import annotations

import re

import _studio_writers as w

#: PostgreSQL's reserved key words that a column of an app could be named (pg-meta quotes them).
RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column "
    "constraint create current_catalog current_date current_role current_time "
    "current_timestamp current_user default deferrable desc distinct do else end except false "
    "fetch for foreign from grant group having in initially intersect into lateral leading "
    "limit localtime localtimestamp not null offset on only or order placing primary "
    "references returning select session_user some symmetric system_user table then to "
    "trailing true union unique user using variadic when where window with".split()
)


def pg_meta_ident(name: str) -> str:
    """pg-meta's ``ident``: bare when a plain lower-case name and not reserved, else quoted."""
    if re.fullmatch(r"[_a-z][\d$_a-z]*", name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def pg_meta_literal(value: object) -> str:
    """pg-meta's ``literal`` (libpq's): numbers bare, ``'`` and ``\\`` doubled, then ``E''``."""
    if value is None or value is w.UNDEFINED:
        return "NULL"
    if isinstance(value, bool):
        return "'t'" if value else "'f'"
    if isinstance(value, (int, float)):
        return w.js_number(value)
    cast = ""
    if isinstance(value, (dict, list)):
        value, cast = w.json_stringify(value), "::jsonb"
    text = str(value)
    quoted = "'" + text.replace("'", "''").replace("\\", "\\\\") + "'"
    return ("E" if "\\" in text else "") + quoted + cast


def studio_value(value: object, json_column: bool) -> str:
    """``formatValueForSql`` of Studio's table editor (arrays are not in these tables)."""
    if value is None or value is w.UNDEFINED:
        return "null"
    if json_column:
        return pg_meta_literal(value if isinstance(value, str) else w.json_stringify(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return pg_meta_literal(value)


def format_rows_for_export(rows: list[dict]) -> list[dict]:
    """``formatRowsForExport``: a non-null object value becomes its ``JSON.stringify`` text."""
    return [
        {k: (w.json_stringify(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()}
        for row in rows
    ]


def studio_table_sql(
    schema: str, table: str, columns: list[str], rows: list[dict], json_columns=()
) -> str:
    """Table editor "Export as SQL": one INSERT of every row, no line break, no final newline."""
    rows = format_rows_for_export(rows)
    cols = ", ".join(pg_meta_ident(c) for c in columns)
    sets = ", ".join(
        "("
        + ", ".join(
            studio_value(row[c], c in json_columns) if c in row else "default" for c in columns
        )
        + ")"
        for row in rows
    )
    relation = f"{pg_meta_ident(schema)}.{pg_meta_ident(table)}" if schema else pg_meta_ident(table)
    return f"INSERT INTO {relation} ({cols}) VALUES {sets};"


def studio_table_json(rows: list[dict]) -> str:
    """Table editor "Export as JSON": ``JSON.stringify`` of the formatted rows (compact)."""
    return w.json_stringify(format_rows_for_export(rows)) or "[]"


def studio_file_name(table: str, ext: str) -> str:
    """The table editor saves ``<table>_rows.<ext>``."""
    return f"{table}_rows.{ext}"


# --------------------------------------------------------------------------------------------
# supabase db dump --data-only (pg_dump inside the CLI's dump_data.sh)
# --------------------------------------------------------------------------------------------

_PG_DUMP_HEAD = """--
-- PostgreSQL database dump
--

-- \\restrict 3nFq0yQ1wP8aZkR2

-- Dumped from database version 17.4
-- Dumped by pg_dump version 17.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

"""
_PG_DUMP_TAIL = """--
-- PostgreSQL database dump complete
--

-- \\unrestrict 3nFq0yQ1wP8aZkR2

"""


def quote_all(name: str) -> str:
    """``--quote-all-identifier``: every name in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def pg_dump_value(value: object, numeric: bool) -> str:
    """One value of ``--column-inserts``: NULL, a bare number, true/false, or a '' literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if numeric and text and all(c in "0123456789 +-eE." for c in text):
        return text
    # standard_conforming_strings is on: only quotes are doubled.
    return "'" + text.replace("'", "''") + "'"


def _section(schema: str, table: str) -> str:
    name = f"{table}; Type: TABLE DATA; Schema: {schema}; Owner: postgres"
    return f"--\n-- Data for Name: {name}\n--\n\n"


def pg_dump_inserts(tables: list[tuple], rows_per_insert: int = 100000) -> str:
    """``supabase db dump --data-only``: dump_data.sh's lines around pg_dump's INSERTs."""
    out = ["SET session_replication_role = replica;\n\n", _PG_DUMP_HEAD]
    for schema, table, columns, rows, numeric in tables:
        out.append(_section(schema, table))
        head = (
            f"INSERT INTO {quote_all(schema)}.{quote_all(table)} "
            f"({', '.join(quote_all(c) for c in columns)}) VALUES"
        )
        for start in range(0, len(rows), rows_per_insert):
            chunk = rows[start : start + rows_per_insert]
            out.append(head)
            out.append(
                ",".join(
                    "\n\t(" + ", ".join(pg_dump_value(r[c], c in numeric) for c in columns) + ")"
                    for r in chunk
                )
            )
            out.append(";\n")
        out.append("\n\n")
    out.append(
        "--\n-- Name: webinar_viewer_counts_id_seq; Type: SEQUENCE SET; Schema: public;"
        " Owner: postgres\n--\n\n"
        'SELECT pg_catalog.setval(\'"public"."webinar_viewer_counts_id_seq"\', 1, false);\n\n\n'
    )
    out.append(_PG_DUMP_TAIL)
    out.append("RESET ALL;\n")
    return "".join(out)


def copy_text(value: object) -> str:
    """One field of COPY's text format: ``\\N`` for NULL, backslash escapes for \\ tab LF CR."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return text


def pg_dump_copy(tables: list[tuple]) -> str:
    """``supabase db dump --data-only --use-copy``: pg_dump's ``COPY ... FROM stdin`` blocks."""
    out = ["SET session_replication_role = replica;\n\n", _PG_DUMP_HEAD]
    for schema, table, columns, rows, _numeric in tables:
        out.append(_section(schema, table))
        out.append(
            f"COPY {quote_all(schema)}.{quote_all(table)} "
            f"({', '.join(quote_all(c) for c in columns)}) FROM stdin;\n"
        )
        for r in rows:
            out.append("\t".join(copy_text(r[c]) for c in columns) + "\n")
        out.append("\\.\n\n\n")
    out.append(_PG_DUMP_TAIL)
    out.append("RESET ALL;\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Log drains (Logflare's backends behind Supabase's Project Settings > Log Drains)
# --------------------------------------------------------------------------------------------


def log_event_body(row: dict) -> dict:
    """A log event's body as Logflare holds it: the Management API row without BigQuery's
    one-element record lists (those are how BigQuery stores the nested objects)."""

    def unwrap(value):
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            value = value[0]
        if isinstance(value, dict):
            return {k: unwrap(v) for k, v in value.items()}
        return value

    return unwrap(row)


def http_drain_batch(rows: list[dict]) -> bytes:
    """The custom-endpoint drain's POST body (``WebhookAdaptor``): a JSON list of event
    bodies, gzipped (its ``gzip`` option is on by default)."""
    import gzip
    import json

    return gzip.compress(json.dumps([log_event_body(r) for r in rows]).encode(), mtime=0)


def iteraptor_flatmap(
    value: object, prefix: str = "", out: dict | None = None, delimiter: str = "."
) -> dict:
    """Elixir's ``Iteraptor.to_flatmap``: nested keys joined by ``delimiter`` (``.`` unless
    given), list items numbered."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, item in value.items():
            iteraptor_flatmap(item, f"{prefix}{key}{delimiter}", out, delimiter)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            iteraptor_flatmap(item, f"{prefix}{index}{delimiter}", out, delimiter)
    else:
        out[prefix[: -len(delimiter)]] = value
    return out


def ndjson_drain_batch(rows: list[dict]) -> bytes:
    """The consolidated webhook drain's POST body with ``format: "ndjson"``
    (``ConsolidatedWebhookAdaptor.Pipeline.join_payload``): the event bodies' compact JSON
    joined by a line feed, none after the last, gzipped (its default)."""
    import gzip
    import json

    bodies = [json.dumps(log_event_body(r), separators=(",", ":")) for r in rows]
    return gzip.compress("\n".join(bodies).encode(), mtime=0)


def elixir_stringify(value: object) -> str:
    """Logflare's ``Utils.stringify``: text as is, numbers as Elixir prints them, atoms
    (``nil``, ``true``) by name."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def loki_push(rows_by_service: dict[str, list[dict]]) -> bytes:
    """The Loki drain's POST body (``LokiAdaptor.format_batch``), gzipped: one stream per
    source, ``{"source": "supabase", "service": <source name>}``, each value ``[nanoseconds
    as text, event_message, structured metadata]``, the metadata being the whole event
    flattened with ``_`` between levels, every value stringified, the time and message
    dropped; the adaptor prepends each event to its stream's list, so a stream runs newest
    first."""
    import gzip
    import json

    streams = []
    for service, rows in rows_by_service.items():
        values = []
        for row in rows:
            body = log_event_body(row)
            flat = iteraptor_flatmap(body, delimiter="_")
            meta = {
                k: elixir_stringify(v)
                for k, v in flat.items()
                if k not in ("timestamp", "event_message")
            }
            values.insert(0, [str(body["timestamp"] * 1000), body.get("event_message") or "", meta])
        streams.append({"stream": {"source": "supabase", "service": service}, "values": values})
    return gzip.compress(json.dumps({"streams": streams}).encode(), mtime=0)


def datadog_batch(rows: list[dict], service: str) -> bytes:
    """The Datadog drain's POST body (``DatadogAdaptor.translate_event`` through the webhook
    adaptor, gzipped): each event wrapped as ``{"message": "<ISO time> <message>",
    "ddsource": "Supabase", "service": <source name>, "data": <event>}``."""
    import gzip
    import json
    from datetime import UTC, datetime, timedelta

    out = []
    for row in rows:
        body = log_event_body(row)
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=body["timestamp"])
        iso = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = f"{iso} {body.get('message') or body.get('event_message') or ''}"
        out.append({"message": text, "ddsource": "Supabase", "service": service, "data": body})
    return gzip.compress(json.dumps(out).encode(), mtime=0)


def s3_drain_parquet(rows: list[dict]) -> bytes:
    """One batch file of the S3 drain (``S3Adaptor.push_log_events_to_s3``): columns id,
    event_message, body (the JSON of the flattened body without those and timestamp) and
    timestamp (microseconds, ``Etc/UTC``)."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    bodies = [log_event_body(r) for r in rows]
    rest = [
        {k: v for k, v in b.items() if k not in ("id", "event_message", "timestamp")}
        for b in bodies
    ]
    table = pa.table(
        {
            "id": pa.array([b.get("id") for b in bodies], pa.string()),
            "event_message": pa.array([b.get("event_message") for b in bodies], pa.string()),
            "body": pa.array([json.dumps(iteraptor_flatmap(r)) for r in rest], pa.string()),
            "timestamp": pa.array(
                [b["timestamp"] for b in bodies], pa.timestamp("us", tz="Etc/UTC")
            ),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def otlp_any_value(value: object) -> dict:
    """Logflare's ``make_value`` in OTLP/JSON: text, booleans, integers (as decimal text, the
    JSON mapping of int64), floats, lists and maps; a null, which the formatter has no clause
    for, is written as an empty value (an inference)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [otlp_any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {
            "kvlistValue": {
                "values": [{"key": str(k), "value": otlp_any_value(v)} for k, v in value.items()]
            }
        }
    return {}


#: OTLP/JSON name -> (field number, type) of each message of the logs request, from
#: opentelemetry-proto (collector/logs/v1, logs/v1, common/v1, resource/v1). Written apart
#: from ingest's decoder so the two do not share a table.
_OTLP_FIELDS = {
    "resourceLogs": (1, "ResourceLogs"),
    "ResourceLogs.resource": (1, "Resource"),
    "ResourceLogs.scopeLogs": (2, "ScopeLogs"),
    "ResourceLogs.schemaUrl": (3, "string"),
    "Resource.attributes": (1, "KeyValue"),
    "ScopeLogs.scope": (1, "Scope"),
    "ScopeLogs.logRecords": (2, "LogRecord"),
    "Scope.name": (1, "string"),
    "Scope.version": (2, "string"),
    "LogRecord.timeUnixNano": (1, "fixed64"),
    "LogRecord.observedTimeUnixNano": (11, "fixed64"),
    "LogRecord.body": (5, "AnyValue"),
    "LogRecord.attributes": (6, "KeyValue"),
    "LogRecord.eventName": (12, "string"),
    "KeyValue.key": (1, "string"),
    "KeyValue.value": (2, "AnyValue"),
    "AnyValue.stringValue": (1, "string"),
    "AnyValue.boolValue": (2, "bool"),
    "AnyValue.intValue": (3, "int64"),
    "AnyValue.doubleValue": (4, "double"),
    "AnyValue.arrayValue": (5, "Values"),
    "AnyValue.kvlistValue": (6, "Pairs"),
    "Values.values": (1, "AnyValue"),
    "Pairs.values": (1, "KeyValue"),
}


def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def otlp_protobuf(message: dict, name: str = "") -> bytes:
    """An OTLP/JSON logs request (:func:`otlp_logs_request`) in protobuf's wire format, as
    the OTLP drain posts it (``ExportLogsServiceRequest``; gzip it for the drain's default).
    Fields appear in the order of the JSON object, values of a list one after another."""
    import struct

    out = bytearray()
    for key, value in message.items():
        number, kind = _OTLP_FIELDS[f"{name}.{key}" if name else key]
        for item in value if isinstance(value, list) else [value]:
            if kind in ("bool", "int64"):
                out += _pb_varint(number << 3) + _pb_varint(int(item) % (1 << 64))
            elif kind == "fixed64":
                out += _pb_varint(number << 3 | 1) + struct.pack("<Q", int(item))
            elif kind == "double":
                out += _pb_varint(number << 3 | 1) + struct.pack("<d", item)
            else:
                data = item.encode() if kind == "string" else otlp_protobuf(item, kind)
                out += _pb_varint(number << 3 | 2) + _pb_varint(len(data)) + data
    return bytes(out)


def otlp_logs_request(
    rows: list[dict],
    service: str,
    *,
    flatten: bool = False,
    project: str | None = "yqsayphssjznthrxpgfb",
    resource: list[dict] | None = None,
) -> dict:
    """The OTLP drain's ``ExportLogsServiceRequest`` (``OtlpAdaptor.ProtobufFormatter``,
    Logflare e9444de) as OTLP/JSON, what a collector's file exporter writes of it: one
    resource (``service.name`` the source, ``service.namespace`` the project ref), one scope
    ``Logflare``, a record per event with ``timeUnixNano`` (microseconds times 1000) and, by
    default, the message as ``eventName`` and the rest of the event as a key-value ``body``;
    with ``flatten`` (``flatten_to_attributes``) the message is the body and every leaf of the
    rest a dotted attribute. ``project`` None: a backend without a project ref (no
    ``service.namespace``); ``resource``: another version's attributes instead."""

    def flat(value: dict, prefix: str = "") -> list[dict]:
        out = []
        for key, item in value.items():
            name = f"{prefix}{key}"
            if isinstance(item, dict):
                out += flat(item, name + ".")
            else:
                out.append({"key": name, "value": otlp_any_value(item)})
        return out

    records = []
    for row in rows:
        body = log_event_body(row)
        rest = {k: v for k, v in body.items() if k not in ("timestamp", "event_message")}
        record = {
            "timeUnixNano": str(body["timestamp"] * 1000),
            "observedTimeUnixNano": str(body["timestamp"] * 1000 + 5_000_000),
        }
        if flatten:
            record["body"] = {"stringValue": body.get("event_message") or ""}
            record["attributes"] = flat(rest)
        else:
            record["body"] = otlp_any_value(rest)
            record["eventName"] = body.get("event_message") or ""
        records.append(record)
    if resource is None:
        resource = [{"key": "service.name", "value": {"stringValue": service}}]
        if project is not None:
            resource.append({"key": "service.namespace", "value": {"stringValue": project}})
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [
                    {"scope": {"name": "Logflare", "version": "1.0.0"}, "logRecords": records}
                ],
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
            }
        ]
    }
