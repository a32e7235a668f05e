"""One export file to flat records grouped by log source (the general, row-by-row reader).

The file's shape comes from the registry (:mod:`analysis.ingest.shapes`); each row's log
source and the file's storage flavour are told from the content, unless ``incident.json``
overrides them.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import vocabulary
from analysis.exceptions import IngestError
from analysis.ingest import files, otlp_proto, shapes, sources, sqlfile
from analysis.ingest.files import (
    KeyTwice,
    check_columns,
    load_json,
    parse_json,
    read_bytes,
    read_csv_rows,
    read_text,
)
from analysis.ingest.kinds import (
    FUNCTION_KEYS,
    LOG_KINDS,
    TABLE_COLUMNS,
    TABLE_KINDS,
    FilePart,
    Override,
)

#: Unified Logs page ``log_type`` -> source (docs/contract.md section 1).
UNIFIED_LOG_TYPES = {
    "edge": "edge_logs",
    "postgrest": "edge_logs",
    "storage": "edge_logs",
    "postgres": "postgres_logs",
    "realtime": "realtime_logs",
}
_EDGE_MESSAGE_RE = re.compile(r"^[A-Z]+ \| \d{3} \| ")


def foreign_source_dir(path: Path) -> str | None:
    """Return the source a file's place names, if the package does not read it.

    A ``<source>_logs`` directory, or a Studio log page's download named after its page
    (``supabase-storage-logs-<ref>.csv.csv``, :func:`analysis.ingest.sources.page_source`).
    """
    name = path.parent.name
    if name.endswith("_logs") and name not in LOG_KINDS:
        return name
    page = sources.page_source(path)
    return page if page is not None and page not in LOG_KINDS else None


_PGBOUNCER_RE = re.compile(r"^[SC]-0x[0-9a-fA-F]+: ")
#: Supavisor's modules open their lines with their own name (``ClientHandler: ...``).
_SUPAVISOR_RE = re.compile(r"^(?:ClientHandler|DbHandler|SecretChecker|MetricsPusher): ")
#: Logger metadata only Supavisor sets (its connection's pool mode, database and client).
_SUPAVISOR_KEYS = frozenset({"mode", "db_name", "app_name", "peer_ip"})
#: Keys of a JSON log line that mark it as Auth's (GoTrue's request and audit fields).
_AUTH_LINE_KEYS = frozenset({"auth_event", "remote_addr", "path", "method", "grant_type"})
#: Keys every log row may carry, whatever its source (a drain's body keeps ``project``).
_CORE_KEYS = frozenset({"id", "timestamp", "event_message", "project", "identifier", "_row"})


def other_source(rec: dict) -> str | None:
    """Return the source of a row from a source the package does not read, told by its keys.

    A log drain (and an Explorer query over several sources) mixes every source of the
    project, and some of them carry keys the analysed sources are told by: Auth's lines have
    ``method`` and ``path`` (and ``project``), Storage's a ``context``, PostgREST's and
    PgBouncer's server lines nothing but ``host``. Their own keys say what they are.
    """
    keys = rec.keys()
    # Auth's product page on ClickHouse projects selects level, status, path, msg and error.
    if any(k.startswith("auth_event.") for k in keys) or (
        "msg" in rec and ("component" in rec or "remote_addr" in rec or "path" in rec)
    ):
        return "auth_logs"
    if "tenantId" in rec or "reqId" in rec:
        return "storage_logs"
    message = rec.get("event_message")
    if isinstance(message, str) and _PGBOUNCER_RE.match(message):
        return "pgbouncer_logs"
    # Supavisor logs through the same Elixir logger as Realtime (``project``, ``context``),
    # so without these its pooler errors would pass for Realtime's.
    if (
        rec.get("context.application") == "supavisor"
        or ("external_id" not in rec and not _SUPAVISOR_KEYS.isdisjoint(keys))
        or (isinstance(message, str) and _SUPAVISOR_RE.match(message))
    ):
        return "supavisor_logs"
    if "pipeline_id" in rec:
        return "etl_replication_logs"
    if "host" in rec and not (set(keys) - _CORE_KEYS - {"host"}):
        # A server line with its host alone: PostgREST's (or a pooler's); every analysed
        # source's rows carry fields of their own.
        return "postgrest_logs"
    if isinstance(message, str) and message[:1] == "{" and not (set(keys) - _CORE_KEYS):
        return json_line_source(message)
    return None


def json_line_source(message: str) -> str | None:
    """Return the source of a row whose whole message is a JSON log line (no metadata).

    Auth (GoTrue) and Multigres write their lines as JSON objects with ``level`` and
    ``msg``, and a projection of ``id, timestamp, event_message`` keeps only that text;
    Auth's carry request or audit fields.
    """
    try:
        line = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(line, dict) or "msg" not in line:
        return None
    return "auth_logs" if not _AUTH_LINE_KEYS.isdisjoint(line) else "multigres_logs"


def detect_source(rec: dict, hint: str | None) -> str | None:
    """Return the log source of one flat record (its keys, then its message, then ``hint``)."""
    src = rec.get("source") or rec.get("log_type")
    if isinstance(src, str):
        src = UNIFIED_LOG_TYPES.get(src, src)
        return src if src in LOG_KINDS else f"unsupported:{src}"
    keys = rec.keys()
    if any(k in rec for k in FUNCTION_KEYS):
        # The invocation page's download is flat (status_code, pathname, execution_time_ms).
        edge = "execution_time_ms" in rec or any(
            k.startswith(("request.", "response.")) for k in keys
        )
        return "unsupported:function_edge_logs" if edge else "unsupported:function_logs"
    if any(k.startswith(("request.", "response.")) for k in keys):
        return "edge_logs"
    if any(k.startswith("parsed.") for k in keys):
        return "postgres_logs"
    if (other := other_source(rec)) is not None:
        return f"unsupported:{other}"
    if any(
        k.startswith(("measurements.", "context.")) or k in ("external_id", "project") for k in keys
    ):
        return "realtime_logs"
    if rec.get("status_code") is not None or rec.get("method") is not None:
        return "edge_logs"
    if rec.get("error_severity") is not None or rec.get("sql_state_code") is not None:
        return "postgres_logs"
    message = rec.get("event_message")
    if isinstance(message, str):
        if _EDGE_MESSAGE_RE.match(message):
            return "edge_logs"
        if vocabulary.is_realtime_message(message):
            return "realtime_logs"
    return hint


#: Columns of a batch file Supabase's S3 log drain writes (Logflare's ``S3Adaptor``).
DRAIN_COLUMNS = ("id", "event_message", "body", "timestamp")


def drain_key(key: str) -> str:
    """Return a key of a drain's flattened body as ingest's dotted field name.

    The body's nested objects are joined with dots and list items numbered
    (``metadata.request.headers.cf_connecting_ip``, ``metadata.context.mfa.0``); the
    ``metadata.`` root goes, as for every export, and so does the index ``0`` of a record
    list (BigQuery's one-element lists: ``metadata.0.request.0.path`` is ``request.path``).
    """
    parts = key.split(".")
    if parts[0] == "metadata":
        parts = parts[1:]
    last = len(parts) - 1
    return ".".join(
        p for i, p in enumerate(parts) if not (p == "0" and i < last and not parts[i + 1].isdigit())
    )


def read_drain_parquet(path: Path) -> list[tuple[dict, dict]]:
    """Return the (raw row, flat record) pairs of one S3 log drain batch (a Parquet file).

    Raises
    ------
    IngestError
        Not a readable Parquet file, or one without the drain's columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not read_bytes(path)[:1]:
        raise IngestError(path, "empty file", expected="an export", found="0 bytes")
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError):
        names = []
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        # Arrow reads such a file only to fail on the name later, in its own words.
        raise IngestError(
            path,
            "duplicated column in the Parquet file",
            field=twice,
            expected="unique column names",
            found=names[:8],
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(
            path,
            "unreadable Parquet file",
            expected="a batch of Supabase's S3 log drain",
            found=str(exc).split("\n")[0],
        ) from None
    if table.column_names == ["probe"]:
        # The drain's connection test writes this one-row file at the bucket's root; a copy
        # of the bucket brings it along. Its row is counted, as no source's.
        reason = "unsupported log source (the S3 drain's connection test)"
        return [({"probe": p}, {"_reject": reason}) for p in table["probe"].to_pylist()]
    missing = [c for c in DRAIN_COLUMNS if c not in table.column_names]
    if missing:
        raise IngestError(
            path,
            "unknown Parquet file",
            field=missing[0],
            expected=f"the S3 log drain's columns {list(DRAIN_COLUMNS)}",
            found=table.column_names[:8],
        )
    stamps = table["timestamp"]
    if pa.types.is_timestamp(stamps.type):
        stamps = stamps.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    records = table.select(["id", "event_message", "body"]).to_pylist()
    out = []
    for row, stamp in zip(records, stamps.to_pylist(), strict=True):
        raw = {"id": row["id"], "timestamp": stamp, "event_message": row["event_message"]}
        rec = dict(raw)
        try:
            body = parse_json(row["body"]) if row["body"] is not None else {}
        except (TypeError, ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            rec["_reject"] = "bad body (expected a JSON object)"
            rec["_found"] = str(row["body"])[:60]
        else:
            rec.update((drain_key(k), v) for k, v in body.items())
            if isinstance(body, KeyTwice):
                rec["_reject"], rec["_found"] = files.twice_reason(body.key), body.key
        out.append((raw, rec))
    return out


def read_body(path: Path) -> bytes:
    """Return a binary export's bytes, gunzipped when gzip (never empty).

    Raises
    ------
    IngestError
        An empty file, or a gzip that is corrupt, truncated or inflates too far.
    """
    data = read_bytes(path)
    if not data:
        raise IngestError(path, "empty file", expected="an export", found="0 bytes")
    return files.gunzip(path, data) if data[:2] == b"\x1f\x8b" else data


def read_records(path: Path, rel: str, override: Override) -> tuple[shapes.Shape, list | FilePart]:
    """Return (shape, [(raw row, flat record), ...]) of a log export, or a table's FilePart."""
    if path.name.lower().endswith(".parquet"):
        return shapes.shape_named("drain_parquet"), read_drain_parquet(path)
    if otlp_proto.is_otlp_proto_file(path):
        shape = shapes.shape_named("drain_otlp_proto")
        doc = otlp_proto.decode_logs_request(read_body(path), path)
        return shape, [(raw, shape.flatten(raw)) for raw in shape.rows(doc, path)]
    text = read_text(path)
    if text.lstrip()[:1] in "[{":
        doc = load_json(path, text)
        frame = json_table(doc, path)
        if frame is None or override.kind in LOG_KINDS:
            shape = shapes.recognise_json(doc, path)
            return shape, [(raw, shape.flatten(raw)) for raw in shape.rows(doc, path)]
        shape = shapes.shape_named("table_json")
    else:
        frame = read_csv_rows(path, text)
        shape = shapes.recognise_csv(frame.columns, path, rel)
    if override.kind in TABLE_KINDS or (shape.table and override.kind is None):
        kind = override.kind or shapes.table_kind_of(frame.columns, path)
        check_columns(path, frame.columns, TABLE_COLUMNS[kind], kind)
        part = frame.replace("", None).assign(_row=np.arange(1, len(frame) + 1))
        return shape, FilePart(rel, kind, shape.name, None, part)
    return shape, [(raw, shape.flatten(raw)) for raw in shape.rows(frame, path)]


def json_cell(value) -> str:
    """One JSON value as the text a CSV export of the same row holds (null -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def json_table(doc, path: Path) -> pd.DataFrame | None:
    """Return a JSON list of table rows (a SQL editor "Download JSON") as a CSV's text cells.

    Returns None for anything else (a log export). The keys of all rows are the columns, in
    first-seen order; a key missing from a row is an empty cell, as in a CSV.
    """
    if not isinstance(doc, list) or not doc or not all(isinstance(r, dict) for r in doc):
        return None
    columns = list(dict.fromkeys(k for row in doc for k in row))
    if "log_type" in columns or shapes.table_kind_of(columns, path) is None:
        return None
    frame = pd.DataFrame(
        [[json_cell(row.get(c)) for c in columns] for row in doc], columns=columns, dtype=object
    )
    twice = [row.key if isinstance(row, KeyTwice) else None for row in doc]
    if any(twice):
        frame["_found"] = twice
        frame["_reject"] = [None if key is None else files.twice_reason(key) for key in twice]
    return frame


#: Reason counted for the rows of a table the analysis does not use (a whole-database dump).
OTHER_TABLE = "table not analysed"


def is_sql_file(path: Path) -> bool:
    """Tell a file of SQL statements (``.sql``, or gzipped ``.sql.gz``) by its name."""
    return path.name.lower().endswith((".sql", ".sql.gz"))


def sql_parts(path: Path, rel: str, override: Override) -> list[FilePart]:
    """Read the table rows of a SQL file: one part per table, a table's text cells as a CSV's.

    A table is recognised by its columns, as a CSV is; rows of any other table (a dump holds
    the whole database: ``auth.users``, ``storage.objects``, ...) are counted under the
    table's name as ``table not analysed`` and none of their values is kept.
    """

    def wanted(name: str, columns: list[str]) -> bool:
        by_columns = shapes.table_kind_of(columns, Path()) is not None
        return by_columns or name in TABLE_COLUMNS or override.kind in TABLE_KINDS

    tables = sqlfile.read_sql_tables(path, read_text(path), keep=wanted)
    parts = []
    for table in tables:
        kind = shapes.table_kind_of(table.columns, Path())
        if override.kind in TABLE_KINDS and len(tables) == 1:
            kind = override.kind
        if kind is None and table.name in TABLE_COLUMNS:
            check_columns(path, table.columns, TABLE_COLUMNS[table.name], table.name)
        number = np.arange(1, table.count + 1)
        if kind is None:
            frame = pd.DataFrame({"_row": number, "_reject": OTHER_TABLE})
            parts.append(FilePart(rel, table.qualified, "table_sql", None, frame))
            continue
        check_columns(path, table.columns, TABLE_COLUMNS[kind], kind)
        frame = pd.DataFrame(table.rows, columns=table.columns, dtype=object)
        frame = frame.replace("", None).assign(_row=number)
        parts.append(FilePart(rel, kind, "table_sql", None, frame))
    if not parts:
        # A saved query (the Logs Explorer's SQL kept beside its download) is the usual case.
        raise IngestError(
            path,
            "no table rows",
            expected="INSERT INTO table (columns) VALUES ... or COPY table (columns) FROM stdin"
            " (a saved query or a schema-only dump holds none: give it kind 'ignore' in"
            " incident.json files)",
            found="no such statement",
        )
    return parts


def parse_file(path: Path, rel: str, override: Override) -> list[FilePart]:
    """Read one export into flat records grouped by kind (the general, row-by-row path)."""
    if is_sql_file(path):
        return sql_parts(path, rel, override)
    shape, records = read_records(path, rel, override)
    if isinstance(records, FilePart):
        return [records]
    flavour = override.flavour
    naive_utc = False
    if flavour is None or override.default:
        detected = (shape.flavour or shapes.detect_flavour)(records)
        # Zone-less times the content cannot place in a flavour are the log store's UTC (a
        # BigQuery query's DATETIME), whatever the manifest's default flavour says.
        naive_utc = detected is None and shapes.all_times_naive(records)
        flavour = detected or flavour
    page = sources.page_source(path)
    hint = override.kind or (path.parent.name if path.parent.name in LOG_KINDS else None)
    hint = hint or (page if page in LOG_KINDS else None)
    by_kind: dict[str, list[dict]] = defaultdict(list)
    fixed = override.kind or shape.source
    foreign = None if override.kind else foreign_source_dir(path)
    if foreign is not None and not any(
        isinstance(rec.get("source") or rec.get("log_type"), str) for _, rec in records
    ):
        # A page of a source the package does not read (auth_logs/, function_edge_logs/ ...):
        # its rows may look like requests, but they are that source's, counted as such.
        fixed = f"unsupported:{foreign}"
    kinds = [fixed or detect_source(rec, hint) for _, rec in records]
    seen = Counter(k for k in kinds if k in LOG_KINDS)
    dominant = seen.most_common(1)[0][0] if seen else None
    for number, ((_, rec), kind) in enumerate(zip(records, kinds, strict=True), start=1):
        rec["_row"] = number
        if kind is None and dominant is not None:
            # A row whose source cannot be told belongs with its file: a malformed row, or a
            # line no rule knows in a one-source export (a Realtime page's lines are Realtime
            # lines). In a file that mixes sources it is counted, never guessed.
            kind = dominant
            if len(seen) > 1:
                rec.setdefault("_reject", "unknown log source (file mixes sources)")
        if kind is None:
            rec.setdefault("_reject", "unknown log source (set its kind in incident.json files)")
            kind = hint or "unknown"
        elif kind.startswith("unsupported:"):
            kind = kind.split(":", 1)[1]
            rec.setdefault("_reject", f"unsupported log source {kind}")
        by_kind[kind].append(rec)
    if not records:
        kind = fixed or hint or "unknown"
        return [FilePart(rel, kind, shape.name, flavour, pd.DataFrame({"_row": []}), naive_utc)]
    return [
        FilePart(rel, kind, shape.name, flavour, pd.DataFrame.from_records(recs), naive_utc)
        for kind, recs in by_kind.items()
    ]


#: A plain JSON file up to this size outside ``*_logs`` directories is read with the tables
#: first (it may be a SQL editor "Download JSON" of a table) and passed on to the logs if it
#: is a log export; larger ones are logs.
TABLE_JSON_MAX = 32 * 1024 * 1024


def looks_like_log(path: Path) -> bool:
    """Cheap routing: gzipped JSON, large JSON, Parquet and files under ``*_logs`` are logs."""
    name = path.name.lower()
    if path.parent.name.endswith("_logs") or name.endswith((".json.gz", ".parquet")):
        return True
    if otlp_proto.is_otlp_proto_file(path):
        return True
    if name.endswith((".jsonl.gz", ".ndjson.gz")):
        return True
    if name.endswith((".json", ".jsonl", ".ndjson")):
        try:
            return path.stat().st_size > TABLE_JSON_MAX
        except OSError:
            return True
    return False
