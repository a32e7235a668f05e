"""Ingest: raw Supabase exports of an incident directory to validated canonical tables.

This is the only module that reads raw files. It accepts every shape an analyst gets out of
Supabase (``supabase-logs.md`` section 1): Management API envelopes (one or many pages, gzip
or plain), Logs Explorer CSV (JSON cells, literal ``null``, CRLF, quoted multi-line cells) and
"Copy as JSON", the per-product log pages' CSVs, the unified Logs page's CSV and JSON, both
storage flavours (BigQuery and ClickHouse), and the table-editor CSVs. The shape, the log
source and the flavour of each file are detected from its content; ``incident.json`` may
override them per file (``"files": {"<glob>": {"kind": .., "flavour": ..}}``).

Policies (each counted in the accounting, never silent):

- A file that cannot be read as any export stops the run with one :class:`IngestError` line;
  so does a file whose every row fails the same check (a systematic error, e.g. millisecond
  timestamps throughout), and a Management API envelope whose ``error`` is not null.
- A bad row inside a good file is rejected with a reason. Filters are rejections too:
  ``outside window`` (log rows and viewer-count samples outside the manifest window
  ``[window_start, window_end)``), ``duplicate id`` (pages overlap; the first occurrence in
  file order wins), ``severity ... (not an error)`` for Postgres rows that are not
  ERROR/FATAL/PANIC, and ``unknown webinar`` for registrations, presence and viewer-count rows
  whose webinar is not in ``webinars.csv``.
- Naive timestamps are accepted only from ClickHouse-flavour logs, whose documented format is
  UTC without a zone; anywhere else they are rejected (``naive timestamp``).

Canonical tables are cached as Parquet under ``data/interim/<incident>-<key>/`` where the key
hashes the input checksums, the manifest, the pseudonym key's fingerprint and this code; a
second run with unchanged inputs reads the cache and parses nothing.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import glob
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from tqdm.auto import tqdm

from analysis import config, privacy
from analysis.exceptions import IngestError
from analysis.schemas import (
    ACCOUNTING_COLUMNS,
    ERROR_SEVERITIES,
    column_dtypes,
    duplicated_first,
    empty_table,
    validate_table,
)

#: Log sources -> canonical table.
LOG_KINDS = {
    "edge_logs": "requests",
    "postgres_logs": "db_errors",
    "realtime_logs": "realtime_events",
}
#: Table-editor exports -> canonical table.
TABLE_KINDS = {
    "webinars": "webinars",
    "registrations": "registrations",
    "webinar_live_presence": "sessions",
    "webinar_viewer_counts": "concurrency",
}
KINDS = (*LOG_KINDS, *TABLE_KINDS, "ignore")
FLAVOURS = ("bigquery", "clickhouse")
#: Names an analyst may write in the manifest for a kind.
KIND_ALIASES = {
    "edge": "edge_logs",
    "api": "edge_logs",
    "requests": "edge_logs",
    "postgres": "postgres_logs",
    "db_errors": "postgres_logs",
    "realtime": "realtime_logs",
    "realtime_events": "realtime_logs",
    "presence": "webinar_live_presence",
    "sessions": "webinar_live_presence",
    "viewer_counts": "webinar_viewer_counts",
    "concurrency": "webinar_viewer_counts",
}
#: Unified Logs page ``log_type`` -> source (supabase-logs.md 1c).
UNIFIED_LOG_TYPES = {
    "edge": "edge_logs",
    "postgrest": "edge_logs",
    "storage": "edge_logs",
    "postgres": "postgres_logs",
    "realtime": "realtime_logs",
}
#: Required columns of each table-editor CSV (docs/contract.md section 1).
TABLE_COLUMNS = {
    "webinars": ("id", "title", "starts_at", "ends_at", "status"),
    # No ``id``: the shipped table's primary key is (webinar_id, user_id), which is why the
    # app's ``registrations.id`` query fails with 42703. An ``id`` column is used when present.
    "registrations": ("webinar_id", "user_id", "created_at"),
    "webinar_live_presence": ("webinar_id", "user_id", "session_id", "joined_at", "left_at"),
    "webinar_viewer_counts": ("webinar_id", "sampled_at", "viewer_count"),
}
#: Files of an incident directory that are not exports.
NON_EXPORTS = ("incident.json", "annotations.csv", "SHA256SUMS", "fetch-manifest.json")
DATA_SUFFIXES = (".json", ".json.gz", ".csv", ".csv.gz", ".gz")
#: Cells of a Logs Explorer / unified CSV that hold JSON (objects are stringified into one cell).
JSON_CELL_COLUMNS = ("metadata", "log_attributes", "headers", "regions", "logs")
#: Reasons that are filters rather than malformed rows; they never make a file "bad".
FILTER_REASONS = (
    "outside window",
    "duplicate id",
    "unknown webinar",
    "not an error",
    "unsupported log source",
)
#: Bump when the canonical tables change shape, to invalidate old caches.
CACHE_FORMAT = 1
#: Rows per canonicalisation batch: bounds memory on 10-million-row exports.
BATCH_ROWS = 200_000
#: Management API pages parsed together by the fast reader (fewer, larger Arrow operations).
FAST_PAGES = 64

_UUID_FULL = re.compile(privacy.UUID_RE.pattern.replace(r"\b", ""))
_CH_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$"
_AWARE_RE = (
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
)
_EDGE_MESSAGE_RE = re.compile(r"^[A-Z]+ \| \d{3} \| ")
_REALTIME_MESSAGE_RE = re.compile(
    r"Postgrex|DBConnection|Billing metrics|RateLimitReached|UnableToConnect|LackOfConnections"
    r"|Realtime|PostgreSQL|Tenant|ConnectionError|MigrationsFailedToRun"
)


@dataclass(frozen=True)
class Incident:
    """An ingested incident: canonical tables plus what it took to build them.

    Attributes are the tables of docs/contract.md section 2; ``accounting`` has one row per
    (file, kind) with ``read == accepted + rejected`` and the rejection reasons with counts.
    """

    requests: pd.DataFrame
    db_errors: pd.DataFrame
    realtime_events: pd.DataFrame
    concurrency: pd.DataFrame
    sessions: pd.DataFrame
    registrations: pd.DataFrame
    webinars: pd.DataFrame
    manifest: dict
    window: tuple[pd.Timestamp, pd.Timestamp]
    display_tz: str
    annotations: pd.DataFrame
    accounting: pd.DataFrame
    checksums: dict[str, str]
    from_cache: bool = False

    def table(self, name: str) -> pd.DataFrame:
        """Return the canonical table ``name``."""
        return getattr(self, name)


@dataclass(frozen=True)
class Ingested:
    """Canonical tables and accounting of a set of files (no manifest, no cache).

    ``users`` maps every raw user id seen to its pseudonym; it stays in memory (never cached
    or returned by :func:`load_incident`) and serves to clean files read afterwards.
    """

    tables: dict[str, pd.DataFrame]
    accounting: pd.DataFrame
    users: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Override:
    """A manifest override for the files matching one glob."""

    kind: str | None = None
    flavour: str | None = None


# --------------------------------------------------------------------------------------------
# Reading one file
# --------------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """Return a file's text: gunzipped if gzip, UTF-8 with an optional BOM, never empty.

    Raises
    ------
    IngestError
        Empty file, ``.gz`` that is not gzip, truncated gzip, UTF-16/32 or non-UTF-8 bytes.
    """
    data = Path(path).read_bytes()
    if not data:
        raise IngestError(path, "empty file", expected="an export", found="0 bytes")
    is_gzip = data[:2] == b"\x1f\x8b"
    if path.name.endswith(".gz") and not is_gzip:
        raise IngestError(
            path, "not a gzip file", expected="gzip magic bytes 1f 8b", found=data[:8].hex(" ")
        )
    if is_gzip:
        try:
            data = zlib.decompress(data, wbits=47)
        except zlib.error as exc:
            raise IngestError(
                path, "corrupt or truncated gzip", expected="a complete gzip stream", found=str(exc)
            ) from None
        if not data.strip():
            raise IngestError(path, "empty file", expected="an export", found="empty gzip content")
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if data.startswith(bom):
            raise IngestError(path, "wrong text encoding", expected="UTF-8", found=f"a {name} BOM")
    if data.startswith(b"\xef\xbb\xbf"):
        # Spreadsheet round-trips add a UTF-8 BOM; it is not part of the first column name.
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            path,
            "not UTF-8 text",
            expected="UTF-8",
            found=f"byte {data[exc.start]:#04x} at offset {exc.start}",
        ) from None
    if not text.strip():
        raise IngestError(path, "empty file", expected="an export", found="only whitespace")
    return text


def load_json(path: Path, text: str):
    """Parse JSON text; a syntax error (e.g. truncation) is one :class:`IngestError` line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(
            path,
            "invalid JSON",
            expected="a complete JSON document",
            found=f"{exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None


def rows_from_json(path: Path, doc) -> tuple[str, list]:
    """Return (shape, rows) of a parsed JSON export.

    Raises
    ------
    IngestError
        An API error envelope, ``result`` that is not a list, or an unknown document.
    """
    if isinstance(doc, dict):
        if "result" not in doc:
            raise IngestError(
                path,
                "unknown JSON document",
                expected='a Management API envelope {"result": [...], "error": null} '
                "or a list of rows",
                found=f"an object with keys {sorted(doc)[:6]}",
            )
        error = doc.get("error")
        if error is not None:
            raise IngestError(
                path, f"the Management API returned an error: {api_error_message(error)}"
            )
        rows = doc["result"]
        if not isinstance(rows, list):
            raise IngestError(
                path,
                "rows are not a list",
                field="result",
                expected="a list of rows",
                found=type(rows).__name__,
            )
        return "api_envelope", rows
    if isinstance(doc, list):
        shape = (
            "unified_json"
            if any(isinstance(r, dict) and "log_type" in r for r in doc[:50])
            else "explorer_json"
        )
        return shape, doc
    raise IngestError(
        path, "unknown JSON document", expected="an object or a list", found=type(doc).__name__
    )


def api_error_message(error) -> str:
    """Return the human message of a Management API / Logflare ``error`` value."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        parts = [str(error.get("message") or error.get("status") or "")]
        for item in error.get("errors") or []:
            if isinstance(item, dict) and item.get("message") and item["message"] not in parts:
                parts.append(f"{item['message']} ({item.get('reason', '')})".replace(" ()", ""))
        if error.get("code"):
            parts.insert(0, f"code {error['code']}:")
        return " ".join(p for p in parts if p) or json.dumps(error)[:120]
    return json.dumps(error)[:120]


def read_csv_rows(path: Path, text: str) -> pd.DataFrame:
    """Read a CSV export as all-text cells (RFC 4180 quoting, CRLF, multi-line cells).

    Raises
    ------
    IngestError
        Unterminated or stray quotes, ragged rows, a missing or duplicated header.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    header: list[str] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        for row in reader:
            if not row:
                continue  # blank line (e.g. a trailing newline)
            if len(row) != len(header):
                raise IngestError(
                    path,
                    "ragged CSV row",
                    row=len(rows) + 1,
                    expected=f"{len(header)} fields",
                    found=f"{len(row)} fields",
                )
            rows.append(row)
    except csv.Error as exc:
        raise IngestError(
            path,
            "malformed CSV",
            row=len(rows) + 1,
            expected="RFC 4180 quoting",
            found=str(exc),
        ) from None
    if not header or not any(header):
        raise IngestError(path, "no header row", expected="a CSV header", found=text[:40])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise IngestError(
            path,
            "duplicated column in header",
            field=dupes[0],
            expected="unique column names",
            found=header,
        )
    return pd.DataFrame(rows, columns=header, dtype=object)


def sniff_csv_shape(path: Path, columns: Iterable[str]) -> tuple[str, str | None]:
    """Return (shape, table kind or None) from a CSV header."""
    cols = set(columns)
    # Most specific first: a presence export also has registrations' webinar_id and user_id.
    for kind, required in sorted(TABLE_COLUMNS.items(), key=lambda kv: -len(kv[1])):
        if set(required) <= cols:
            return "table_csv", kind
    # Named like a table export (registrations.csv): say which column is missing.
    stem = path.name.split(".")[0]
    if stem in TABLE_COLUMNS:
        check_columns(path, cols, TABLE_COLUMNS[stem], stem)
    if "log_type" in cols:
        return "unified_csv", None
    if cols & {"id", "timestamp", "event_message", "metadata", "log_attributes"}:
        page = {"method", "path", "status_code"} <= cols or {"error_severity"} <= cols
        return (
            "page_csv" if page and not cols & {"metadata", "log_attributes"} else "explorer_csv"
        ), None
    # A table CSV with a column missing: name what is missing rather than "unknown file".
    for kind, required in TABLE_COLUMNS.items():
        if len(set(required) & cols) >= 2:
            missing = [c for c in required if c not in cols]
            raise IngestError(
                path,
                f"missing column for a {kind} table",
                field=missing[0],
                expected=f"columns {list(required)}",
                found=sorted(cols),
            )
    raise IngestError(
        path,
        "unknown CSV export",
        expected="a log export (id, timestamp, event_message, ...) or a table export",
        found=sorted(cols)[:8],
    )


# --------------------------------------------------------------------------------------------
# Rows to flat records (dotted attribute names without "metadata.")
# --------------------------------------------------------------------------------------------


def flatten_value(value, prefix: str, out: dict) -> None:
    """Flatten nested dicts and BigQuery one-element record lists into ``out`` (dotted keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten_value(item, f"{prefix}{key}.", out)
    elif isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        flatten_value(value[0], prefix, out)
    else:
        out[prefix[:-1]] = value


def flatten_row(row: dict) -> dict:
    """Return one export row as a flat record; ``_reject`` holds a reason if it is malformed.

    BigQuery ``metadata`` (a one-element list) and ClickHouse ``log_attributes`` (a string map)
    both end up as top-level dotted keys without the ``metadata.`` root; unified-export
    ``headers`` become ``headers.<name>``.
    """
    out: dict = {}
    for key, value in row.items():
        if key == "metadata":
            if value is None:
                continue
            if isinstance(value, dict):
                value = [value]
            if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
                size = len(value) if isinstance(value, list) else type(value).__name__
                out["_reject"] = (
                    f"bad metadata (expected a one-element list of objects, found {size})"
                )
                continue
            flatten_value(value[0], "", out)
        elif key == "log_attributes":
            if value is None:
                continue
            if not isinstance(value, dict):
                out["_reject"] = "bad log_attributes (expected an object of strings)"
                continue
            for k, v in value.items():
                out[k.removeprefix("metadata.")] = v
        elif key == "headers" and isinstance(value, dict):
            flatten_value(value, "headers.", out)
        else:
            out[key] = value
    return out


def csv_records(frame: pd.DataFrame, *, null_literal: bool) -> list[dict]:
    """Turn CSV rows into row dicts: JSON cells parsed, empty (and literal ``null``) to None."""
    records = []
    json_cols = [c for c in frame.columns if c in JSON_CELL_COLUMNS]
    for values in frame.itertuples(index=False, name=None):
        row: dict = {}
        for col, cell in zip(frame.columns, values, strict=True):
            if cell == "" or (null_literal and cell == "null"):
                row[col] = None
            elif col in json_cols and cell[:1] in "[{":
                try:
                    row[col] = json.loads(cell)
                except json.JSONDecodeError:
                    row["_reject"] = f"bad {col} cell (expected JSON)"
                    row["_found"] = cell[:60]
            else:
                row[col] = cell
        records.append(row)
    return records


def detect_source(rec: dict, hint: str | None) -> str | None:
    """Return the log source of one flat record (supabase-logs.md section 9, step 4)."""
    src = rec.get("source") or rec.get("log_type")
    if isinstance(src, str):
        src = UNIFIED_LOG_TYPES.get(src, src)
        return src if src in LOG_KINDS else f"unsupported:{src}"
    keys = rec.keys()
    if any(k.startswith(("request.", "response.")) for k in keys):
        return "edge_logs"
    if any(k.startswith("parsed.") for k in keys):
        return "postgres_logs"
    if any(
        k.startswith(("measurements.", "context.")) or k in ("external_id", "project") for k in keys
    ):
        return "realtime_logs"
    if rec.get("status_code") is not None or rec.get("method") is not None:
        return "edge_logs"
    if rec.get("error_severity") is not None:
        return "postgres_logs"
    message = rec.get("event_message")
    if isinstance(message, str):
        if _EDGE_MESSAGE_RE.match(message):
            return "edge_logs"
        if _REALTIME_MESSAGE_RE.search(message):
            return "realtime_logs"
    return hint


def detect_flavour(records: list[tuple]) -> str | None:
    """Return ``bigquery``, ``clickhouse`` or None (undecided) from a file's rows."""
    bigquery = clickhouse = False
    for raw, _ in records:
        if not isinstance(raw, dict):
            continue
        if "metadata" in raw:
            bigquery = True
        if "log_attributes" in raw or "severity_text" in raw or "source" in raw:
            clickhouse = True
    if bigquery and not clickhouse:
        return "bigquery"
    if clickhouse and not bigquery:
        return "clickhouse"
    # A flat projection: tell by the timestamps themselves.
    stamps = [rec.get("timestamp") for _, rec in records[:200] if isinstance(rec, dict)]
    if any(isinstance(t, int) or (isinstance(t, str) and t.isdigit()) for t in stamps):
        return "bigquery"
    if stamps and all(
        isinstance(t, str) and re.match(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{6}$", t)
        for t in stamps
        if t
    ):
        return "clickhouse"
    return None


@dataclass
class FilePart:
    """Flat records of one kind read from one file, before canonicalisation."""

    file: str
    kind: str
    shape: str
    flavour: str | None
    frame: pd.DataFrame  # dotted columns + _row (+ _reject, _found)


def parse_file(path: Path, rel: str, override: Override) -> list[FilePart]:
    """Read one export into flat records grouped by kind (the general, row-by-row path)."""
    text = read_text(path)
    head = text.lstrip()[:1]
    if head in "[{":
        shape, rows = rows_from_json(path, load_json(path, text))
        records = []
        for raw in rows:
            if isinstance(raw, dict):
                records.append((raw, flatten_row(raw)))
            else:
                records.append((raw, {"_reject": "row is not an object", "_found": repr(raw)[:60]}))
    else:
        frame = read_csv_rows(path, text)
        shape, table_kind = sniff_csv_shape(path, frame.columns)
        if override.kind in TABLE_KINDS or (table_kind and override.kind is None):
            kind = override.kind or table_kind
            check_columns(path, frame.columns, TABLE_COLUMNS[kind], kind)
            part = frame.replace("", None).assign(_row=np.arange(1, len(frame) + 1))
            return [FilePart(rel, kind, shape, None, part)]
        records = []
        for raw in csv_records(frame, null_literal=True):
            rec = flatten_row({k: v for k, v in raw.items() if not k.startswith("_")})
            if "_reject" in raw:
                rec["_reject"], rec["_found"] = raw["_reject"], raw.get("_found")
            records.append((raw, rec))
    flavour = override.flavour or detect_flavour(records)
    hint = override.kind or (path.parent.name if path.parent.name in LOG_KINDS else None)
    by_kind: dict[str, list[dict]] = defaultdict(list)
    kinds = [override.kind or detect_source(rec, hint) for _, rec in records]
    # A malformed row (e.g. a broken JSON cell) shows no source: it belongs with its file.
    seen = Counter(k for k in kinds if k in LOG_KINDS)
    dominant = seen.most_common(1)[0][0] if seen else None
    for number, ((_, rec), kind) in enumerate(zip(records, kinds, strict=True), start=1):
        rec["_row"] = number
        if kind is None and "_reject" in rec:
            kind = dominant
        if kind is None:
            rec.setdefault("_reject", "unknown log source (set its kind in incident.json files)")
            kind = hint or "unknown"
        elif kind.startswith("unsupported:"):
            kind = kind.split(":", 1)[1]
            rec.setdefault("_reject", f"unsupported log source {kind}")
        by_kind[kind].append(rec)
    if not records:
        return [
            FilePart(
                rel, override.kind or hint or "unknown", shape, flavour, pd.DataFrame({"_row": []})
            )
        ]
    return [
        FilePart(rel, kind, shape, flavour, pd.DataFrame.from_records(recs))
        for kind, recs in by_kind.items()
    ]


def check_columns(path: Path, columns: Iterable[str], required: Iterable[str], kind: str) -> None:
    """Raise if a table CSV lacks a required column."""
    missing = [c for c in required if c not in set(columns)]
    if missing:
        raise IngestError(
            path,
            f"missing column for a {kind} table",
            field=missing[0],
            expected=f"columns {list(required)}",
            found=sorted(columns),
        )


# --------------------------------------------------------------------------------------------
# Fast path: BigQuery-flavour Management API pages parsed by pyarrow's JSON reader
# --------------------------------------------------------------------------------------------


def _lst(t):
    return pa.list_(t)


def _st(**fields):
    return pa.struct(list(fields.items()))


_S = pa.string()
_FAST_ROW = _st(
    id=_S,
    timestamp=pa.int64(),
    event_message=_S,
    metadata=_lst(
        _st(
            request=_lst(
                _st(
                    method=_S,
                    path=_S,
                    search=_S,
                    url=_S,
                    headers=_lst(_st(x_client_info=_S, user_agent=_S, cf_ray=_S)),
                    sb=_lst(_st(auth_user=_S)),
                )
            ),
            response=_lst(
                _st(status_code=pa.int64(), origin_time=pa.float64(), headers=_lst(_st(cf_ray=_S)))
            ),
            parsed=_lst(
                _st(
                    sql_state_code=_S,
                    error_severity=_S,
                    user_name=_S,
                    application_name=_S,
                    command_tag=_S,
                    detail=_S,
                    query=_S,
                )
            ),
            level=_S,
            external_id=_S,
            project=_S,
            measurements=_lst(_st(connected=pa.int64(), limit=pa.int64())),
        )
    ),
)
_FAST_SCHEMA = pa.schema([("result", _lst(_FAST_ROW)), ("error", _S)])
# One thread per page: pages are already parsed in parallel, nested pools only contend.
_FAST_READ = pj.ReadOptions(use_threads=False)
_FAST_OPTIONS = pj.ParseOptions(
    newlines_in_values=True, explicit_schema=_FAST_SCHEMA, unexpected_field_behavior="ignore"
)
#: Flat column -> path inside the row struct (each step through a one-element list).
_FAST_COLUMNS = {
    "edge_logs": {
        "request.method": ("request", "method"),
        "request.path": ("request", "path"),
        "request.search": ("request", "search"),
        "request.url": ("request", "url"),
        "request.headers.x_client_info": ("request", "headers", "x_client_info"),
        "request.headers.user_agent": ("request", "headers", "user_agent"),
        "request.headers.cf_ray": ("request", "headers", "cf_ray"),
        "request.sb.auth_user": ("request", "sb", "auth_user"),
        "response.status_code": ("response", "status_code"),
        "response.origin_time": ("response", "origin_time"),
        "response.headers.cf_ray": ("response", "headers", "cf_ray"),
    },
    "postgres_logs": {
        f"parsed.{name}": ("parsed", name)
        for name in (
            "sql_state_code",
            "error_severity",
            "user_name",
            "application_name",
            "command_tag",
            "detail",
            "query",
        )
    },
    "realtime_logs": {
        "level": ("level",),
        "measurements.connected": ("measurements", "connected"),
        "measurements.limit": ("measurements", "limit"),
    },
}


class _NotFast(Exception):
    """The fast reader cannot represent this file exactly; use the general path."""


def _one(arr: pa.Array) -> pa.Array:
    """Unwrap a list array whose lists hold exactly one element (null lists stay null)."""
    lengths = pc.list_value_length(arr)
    if pc.any(pc.not_equal(lengths, 1)).as_py():
        raise _NotFast
    if arr.null_count == 0:
        return arr.flatten()  # zero-copy: one child per list, in order
    return pc.list_element(arr, 0)


def _field(arr: pa.StructArray, name: str) -> pa.Array:
    """Return a struct child; zero-copy unless the parent has nulls to propagate."""
    return arr.field(name) if arr.null_count == 0 else pc.struct_field(arr, name)


def read_page_fast(path: Path) -> pa.Array:
    """Read one Management API page with pyarrow; return its ``result`` as a 1-long list array.

    Raises ``_NotFast`` for anything the fixed schema cannot represent exactly (an error
    envelope, other value types, a ``.gz`` that is not gzip, ...): the general reader then
    reads the file and reports what is wrong with it.
    """
    data = path.read_bytes()
    is_gzip = data[:2] == b"\x1f\x8b"
    if is_gzip != path.name.endswith(".gz") or (not is_gzip and data.lstrip()[:1] != b"{"):
        raise _NotFast
    try:
        raw = zlib.decompress(data, wbits=47) if is_gzip else data
        table = pj.read_json(io.BytesIO(raw), read_options=_FAST_READ, parse_options=_FAST_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError, zlib.error):
        raise _NotFast from None
    if table.num_rows != 1 or table.column("error").null_count != 1:
        raise _NotFast
    result = table.column("result").combine_chunks()
    if result.null_count or pc.list_value_length(result)[0].as_py() == 0:
        raise _NotFast
    return result


def extract_fast(results: list[pa.Array], rels: list[str]) -> list[FilePart]:
    """Turn pages read by :func:`read_page_fast` into flat records, one part per kind.

    Every part's frame carries ``_file`` (categorical) and ``_row`` (1-based row in its file).
    Raises ``_NotFast`` when a row cannot be represented exactly.
    """
    pages = pa.concat_arrays(results)
    lengths = pc.list_value_length(pages).to_numpy()
    rows = pages.flatten()
    if rows.null_count:
        raise _NotFast
    meta = _one(_field(rows, "metadata"))
    if meta.null_count:
        raise _NotFast
    present = {
        name: pc.is_valid(_field(meta, name))
        for name in (
            "request",
            "response",
            "parsed",
            "measurements",
            "level",
            "external_id",
            "project",
        )
    }
    is_edge = pc.or_(present["request"], present["response"])
    is_pg = pc.and_(pc.invert(is_edge), present["parsed"])
    rt_any = pc.or_(
        pc.or_(present["measurements"], present["level"]),
        pc.or_(present["external_id"], present["project"]),
    )
    is_rt = pc.and_(pc.and_(pc.invert(is_edge), pc.invert(is_pg)), rt_any)
    detected = sum(pc.sum(m).as_py() or 0 for m in (is_edge, is_pg, is_rt))
    if detected != len(rows):
        raise _NotFast
    file_codes = np.repeat(np.arange(len(rels)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    row_numbers = np.arange(len(rows)) - starts + 1
    parts = []
    for kind, mask in (("edge_logs", is_edge), ("postgres_logs", is_pg), ("realtime_logs", is_rt)):
        if not pc.any(mask).as_py():
            continue
        every = pc.all(mask).as_py()
        sub_rows, sub_meta = (rows, meta) if every else (rows.filter(mask), meta.filter(mask))
        columns = {name: _field(sub_rows, name) for name in ("id", "timestamp", "event_message")}
        cache: dict[tuple, pa.Array] = {}
        for flat, steps in _FAST_COLUMNS[kind].items():
            arr = sub_meta
            for depth, step in enumerate(steps):
                key = steps[: depth + 1]
                if key not in cache:
                    child = _field(arr, step)
                    # Every step but the last is a one-element list (nulls allowed).
                    last = depth == len(steps) - 1 and not pa.types.is_list(child.type)
                    cache[key] = child if last else _one(child)
                arr = cache[key]
            columns[flat] = arr
        frame = pa.table(columns).to_pandas(types_mapper=_arrow_types)
        keep = mask.to_numpy(zero_copy_only=False)
        frame["_file"] = pd.Categorical.from_codes(file_codes[keep], categories=rels)
        frame["_row"] = row_numbers[keep]
        parts.append(FilePart("", kind, "api_envelope", "bigquery", frame))
    return parts


def _try_read_page(path: Path) -> pa.Array | None:
    try:
        return read_page_fast(path)
    except _NotFast:
        return None


def parse_files_fast(
    files: list[tuple[Path, str]], outcomes: list[pa.Array | None] | None = None
) -> tuple[list[FilePart], list[tuple[Path, str]]]:
    """Read many BigQuery pages at once; return (parts, files left for the general reader).

    ``outcomes`` are the pages already read by :func:`_try_read_page` (``ingest_files``
    reads ahead on a thread pool); without them the pages are read here.
    """
    results, rels, left = [], [], []
    if outcomes is None:
        outcomes = [_try_read_page(path) for path, _ in files]
    for (path, rel), result in zip(files, outcomes, strict=True):
        if result is None:
            left.append((path, rel))
        else:
            results.append(result)
            rels.append(rel)
    if not results:
        return [], left
    try:
        return extract_fast(results, rels), left
    except _NotFast:
        pass
    # Some page holds a row the fixed schema cannot represent: retry page by page.
    parts = []
    by_rel = dict(zip(rels, results, strict=True))
    for path, rel in files:
        if rel not in by_rel:
            continue
        try:
            parts.extend(extract_fast([by_rel[rel]], [rel]))
        except _NotFast:
            left.append((path, rel))
    return parts, left


def parse_file_fast(path: Path, rel: str) -> list[FilePart]:
    """Read one BigQuery-flavour Management API page with pyarrow (see :func:`read_page_fast`)."""
    parts = extract_fast([read_page_fast(path)], [rel])
    for part in parts:
        part.file = rel
    return parts


def _arrow_types(dtype: pa.DataType):
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.StringDtype()
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    return None


# --------------------------------------------------------------------------------------------
# Flat records to canonical columns
# --------------------------------------------------------------------------------------------


def pick(frame: pd.DataFrame, aliases: Iterable[str]) -> pd.Series:
    """Return the first non-null value across the alias columns present in ``frame``."""
    out = None
    for name in aliases:
        if name in frame.columns:
            col = frame[name]
            out = col if out is None else out.where(out.notna(), col)
    if out is None:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return out


def has_any(frame: pd.DataFrame, aliases: Iterable[str]) -> bool:
    """Return whether any alias column exists in ``frame``."""
    return any(a in frame.columns for a in aliases)


class Rejections:
    """Per-row rejection reasons of a batch; the first reason a row gets is the one counted."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.reason = pd.Series(pd.NA, index=frame.index, dtype=object)
        self.values: dict[str, pd.Series | None] = {}
        self.rows = frame["_row"]
        if "_reject" in frame.columns:
            mask = frame["_reject"].notna()
            self.reason[mask] = frame.loc[mask, "_reject"]
            found = frame["_found"] if "_found" in frame.columns else None
            for reason in frame.loc[mask, "_reject"].unique():
                self.values[reason] = found

    def add(self, mask: pd.Series, reason: str, values: pd.Series | None = None) -> None:
        """Give ``reason`` to the rows of ``mask`` that have none yet."""
        mask = mask.fillna(False).astype(bool) & self.reason.isna()
        if mask.any():
            self.reason[mask] = reason
            self.values.setdefault(reason, values)

    def first(self, index, reason: str) -> tuple[int, object]:
        """Return (row number, offending value) of the row at ``index``."""
        values = self.values.get(reason)
        value = None if values is None else values.get(index)
        if isinstance(value, np.generic):
            value = value.item()
        elif value is not None and not isinstance(value, (str, int, float)):
            value = str(value)
        return int(self.rows.loc[index]), None if value is pd.NA else value

    @property
    def ok(self) -> pd.Series:
        """Rows without a reason."""
        return self.reason.isna()


def to_text(values: pd.Series) -> pd.Series:
    """Return values as pandas ``string`` (non-string scalars stringified, containers as JSON)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values
    if values.dtype == object and values.map(lambda v: isinstance(v, (dict, list))).any():
        values = values.map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
    return values.astype("string")


def to_number(values: pd.Series, rej: Rejections, name: str, *, integer: bool) -> pd.Series:
    """Coerce to numbers; values that are present but not numbers are rejected."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        nums = values.astype("Float64")
    else:
        text = to_text(values).str.strip()
        nums = pd.to_numeric(
            text.where(text.str.fullmatch(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")), errors="coerce"
        ).astype("Float64")
    bad = values.notna() & nums.isna()
    if integer:
        bad |= nums.notna() & (nums != nums.round())
    rej.add(bad, f"bad {name} (expected {'an integer' if integer else 'a number'})", values)
    return nums.round().astype("Int64") if integer else nums.astype("float64")


def parse_timestamps(values: pd.Series, rej: Rejections, name: str, *, naive_is_utc) -> pd.Series:
    """Parse mixed timestamp values to ``datetime64[ns, UTC]``; bad ones are rejected.

    Accepted: 16-digit integer microseconds (numbers or digit strings), ISO 8601 strings with
    ``Z``/an offset/`` UTC``, and, where ``naive_is_utc`` is true for the row, ClickHouse's
    zone-less ``YYYY-MM-DD[T ]HH:MM:SS.ffffff``. Milliseconds, seconds or nanoseconds where
    microseconds belong are rejected with their own reason.
    """
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_numeric_dtype(values.dtype):
        nums = values.astype("Float64")
        text = pd.Series(pd.NA, index=values.index, dtype="string")
    else:
        text = to_text(values).str.strip()
        digits = text.str.fullmatch(r"\d+").fillna(False)
        nums = pd.to_numeric(text.where(digits), errors="coerce").astype("Float64")
        text = text.where(~digits)
    units = (
        ((1e15, 1e16), None),
        ((1e12, 1e13), "milliseconds, expected 16-digit microseconds"),
        ((1e9, 1e10), "seconds, expected 16-digit microseconds"),
        ((1e18, 1e19), "nanoseconds, expected 16-digit microseconds"),
    )
    is_num = nums.notna()
    matched = pd.Series(False, index=values.index)
    for (low, high), problem in units:
        band = is_num & (nums >= low) & (nums < high)
        matched |= band
        if problem:
            rej.add(band, f"bad {name} ({problem})", values)
        elif band.any():
            micros = nums[band].astype("int64")
            out[band] = pd.to_datetime(micros.to_numpy(), unit="us", utc=True).astype(
                "datetime64[ns, UTC]"
            )
    rej.add(is_num & ~matched, f"bad {name} (expected microseconds since the epoch)", values)
    has_text = text.notna() & ~is_num
    if has_text.any():
        t = text.where(has_text).str.replace(r" UTC$", "Z", regex=True)
        aware = t.str.fullmatch(_AWARE_RE).fillna(False)
        naive = t.str.fullmatch(_CH_NAIVE_RE).fillna(False)
        naive_ok = naive & (
            naive_is_utc if isinstance(naive_is_utc, pd.Series) else bool(naive_is_utc)
        )
        rej.add(
            naive & ~naive_ok, f"naive timestamp in {name} (expected a time zone or offset)", values
        )
        rej.add(
            has_text & ~aware & ~naive, f"bad {name} (expected ISO 8601 or microseconds)", values
        )
        for mask, fix in ((aware, t), (naive_ok, t + "Z")):
            if mask.any():
                parsed = pd.to_datetime(fix[mask], format="ISO8601", utc=True, errors="coerce")
                rej.add(
                    parsed.isna().reindex(values.index, fill_value=False),
                    f"bad {name} (expected ISO 8601 or microseconds)",
                    values,
                )
                out[mask] = parsed.astype("datetime64[ns, UTC]")
    return out


def require(values: pd.Series, rej: Rejections, name: str) -> None:
    """Reject rows where a required field is missing."""
    rej.add(values.isna(), f"missing {name}")


# Aliases of each canonical field in flat records (BigQuery/ClickHouse, Explorer, pages, unified).
ALIASES = {
    "id": ("id",),
    # ``ts`` is what the docs' Explorer queries call ``cast(timestamp as datetime)``.
    "timestamp": ("timestamp", "date", "ts"),
    "message": ("event_message",),
    "method": ("request.method", "method"),
    "path": ("request.path", "path", "pathname"),
    "search": ("request.search", "search"),
    "url": ("request.url",),
    "status": ("response.status_code", "status_code"),
    "origin_time": ("response.origin_time",),
    "user": ("request.sb.auth_user", "auth_user", "request.sb.jwt.authorization.payload.subject"),
    "client_info": ("request.headers.x_client_info", "headers.x_client_info"),
    "user_agent": ("request.headers.user_agent", "headers.user_agent"),
    "cf_ray": ("request.headers.cf_ray", "headers.cf_ray", "response.headers.cf_ray"),
    "sql_state": ("parsed.sql_state_code", "sql_state_code"),
    "severity": ("parsed.error_severity", "error_severity"),
    "user_name": ("parsed.user_name", "user_name"),
    "application_name": ("parsed.application_name", "application_name"),
    "command_tag": ("parsed.command_tag", "command_tag"),
    "detail": ("parsed.detail", "detail"),
    "query": ("parsed.query", "query"),
    "level": ("level", "severity_text"),
    "connected": ("measurements.connected", "connected"),
    "limit": ("measurements.limit", "limit"),
}
# ``id`` is not required as a column: a projection without it gets a derived id (below).
REQUIRED = {
    "edge_logs": ("timestamp", "method", "path", "status"),
    "postgres_logs": ("timestamp", "message"),
    "realtime_logs": ("timestamp", "message"),
}
# Unified exports put the status (HTTP, or SQLSTATE for postgres rows) in ``status``.
UNIFIED_ALIASES = {
    "edge_logs": {"status": ("status",)},
    "postgres_logs": {"sql_state": ("status",)},
}

#: Postgres message templates -> SQLSTATE, for exports without ``parsed.sql_state_code``
#: (the Postgres page CSV, the unified export). Server strings from the Postgres sources.
MESSAGE_SQLSTATE = (
    (r"^duplicate key value violates unique constraint", "23505"),
    (r"violates foreign key constraint", "23503"),
    (r"violates not-null constraint", "23502"),
    (r"violates check constraint", "23514"),
    (r"^column .* does not exist", "42703"),
    (r"^relation .* does not exist", "42P01"),
    (r"^function .* does not exist", "42883"),
    (r"^permission denied", "42501"),
    (r"^invalid input syntax for type", "22P02"),
    (r"^sorry, too many clients already", "53300"),
    (r"^remaining connection slots are reserved", "53300"),
    (r"^canceling statement due to statement timeout", "57014"),
    (r"^deadlock detected", "40P01"),
)
_CONSTRAINT_RE = re.compile(r'constraint "([^"]+)"')
_COLUMN_RES = (
    re.compile(r'^column "([^"]+)" of relation "([^"]+)" does not exist'),
    re.compile(r'^column (?:"?([\w]+)"?)\.(?:"?([\w]+)"?) does not exist'),
    re.compile(r'^column "([^"]+)" does not exist'),
)
_RELATION_RES = (re.compile(r'on table "([^"]+)"'), re.compile(r'^relation "([^"]+)"'))
_KEY_DETAIL_RE = re.compile(r"Key \(([^)]*)\)=\((.*)\)")
_FAMILY_RULES = (
    ("billing_metrics", r"^Billing metrics"),
    (
        "too_many_connections",
        r"53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections",
    ),
    (
        "pool_exhausted",
        r"connection not available and request was dropped"
        r"|UnableCheckoutConnection|IncreaseConnectionPool",
    ),
    (
        "rate_limit",
        r"RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit",
    ),
    (
        "connect_failed",
        r"failed to connect|UnableToConnect|tcp connect"
        r"|ConnectionInitializing|InitializingProjectConnection",
    ),
    ("disconnect", r"disconnected|ConnectionError|closed|exited"),
)
_UA_FAMILIES = (
    (r"\bEdg(?:e|A|iOS)?/", "Edge"),
    (r"\bOPR/", "Opera"),
    (r"\bSamsungBrowser/", "Samsung Internet"),
    (r"\bFirefox/|\bFxiOS/", "Firefox"),
    (r"\bChrome/|\bCriOS/", "Chrome"),
    (r"\bSafari/", "Safari"),
    (r"^curl/", "curl"),
    (r"^python-requests/|^python-httpx/|^aiohttp/", "python"),
    (r"^node|^undici|^axios/", "node"),
    (r"Dart/", "dart"),
)


def blank_to_na(values: pd.Series) -> pd.Series:
    """Return ``values`` as ``string`` with empty strings as missing."""
    text = values.astype("string")
    return text.mask(text.eq("").fillna(False))


def derived_id(prefix: str, key_text: str | None, key: bytes) -> str | None:
    """Return ``prefix`` + 16 hex of a keyed HMAC of ``key_text`` (an id made from a key)."""
    if key_text is None:
        return None
    return prefix + hmac.new(key, key_text.encode(), hashlib.sha256).hexdigest()[:16]


def _map_unique(values: pd.Series, func) -> pd.Series:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = pd.array([*[func(v) for v in uniques], None], dtype="string")
    return pd.Series(lookup[codes], index=values.index, dtype="string")


def endpoint_of(path: str | None) -> str | None:
    """Return the endpoint of a path: ``/rest/v1/registrations`` -> ``rest/registrations``."""
    if path is None:
        return None
    m = re.match(
        r"^/(rest|auth|realtime|storage|functions|graphql|pg-meta|analytics)/v\d+/?(.*)$", path
    )
    if not m:
        return path.strip("/") or "/"
    parts = [p for p in m.group(2).split("/") if p]
    keep = parts[:2] if parts[:1] in (["rpc"], ["object"]) else parts[:1]
    return "/".join([m.group(1), *keep])


def client_of(user_agent: str | None) -> str | None:
    """Return a coarse client family of a User-Agent (browser, tool), never the full string."""
    if not user_agent:
        return None
    for pattern, family in _UA_FAMILIES:
        if re.search(pattern, user_agent):
            return family
    return re.split(r"[/\s;(]", user_agent.strip(), maxsplit=1)[0][:40] or None


def split_edge_message(messages: pd.Series) -> pd.DataFrame:
    """Parse ``METHOD | STATUS | IP | RAY | URL | UA`` messages (IP and ray optional)."""
    text = messages.astype("string")
    head = text.str.extract(r"^([A-Z]+) \| ([^|]*?) \|")
    url = text.str.extract(r"\| (https?://[^ |]+)", expand=False)
    return pd.DataFrame(
        {"method": head[0], "status": head[1].str.strip(), "url": url}, index=messages.index
    )


def split_url(urls: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (path, search incl. ``?``) of full URLs."""
    text = urls.astype("string")
    path = text.str.extract(r"^[a-z]+://[^/]+(/[^?#]*)", expand=False)
    search = text.str.extract(r"^[^?#]*(\?[^#]*)", expand=False)
    return path, search


def canonical_requests(frame: pd.DataFrame, rej: Rejections, ctx: Context) -> pd.DataFrame:
    """Flat edge_logs records -> ``requests`` columns (before privacy)."""
    method = pick(frame, ALIASES["method"])
    path = pick(frame, ALIASES["path"])
    status = pick(frame, ALIASES["status"] + UNIFIED_ALIASES["edge_logs"]["status"])
    url = pick(frame, ALIASES["url"])
    search = pick(frame, ALIASES["search"])
    msg = pick(frame, ALIASES["message"])
    gaps = method.isna() | status.isna() | path.isna()
    if gaps.any():
        # Fill from the message text; mixed types are fine, to_number coerces afterwards.
        method, status, url = method.astype(object), status.astype(object), url.astype(object)
        parsed = split_edge_message(msg[gaps & msg.notna()])
        method = method.where(method.notna(), parsed["method"].reindex(frame.index))
        status = status.where(status.notna(), parsed["status"].reindex(frame.index))
        url = url.where(url.notna(), parsed["url"].reindex(frame.index))
    if (path.isna() & url.notna()).any():
        u_path, u_search = split_url(url)
        filled = path.isna() & url.notna()
        search = search.where(~filled | search.notna(), u_search)
        path = path.where(~filled, u_path)
    method = to_text(method).str.upper()
    path = to_text(path)
    require(method, rej, "method")
    require(path, rej, "path")
    rej.add(
        path.notna() & ~path.str.startswith("/").fillna(False), "bad path (expected /...)", path
    )
    status_n = to_number(status, rej, "status", integer=True)
    require(status_n, rej, "status")
    rej.add(
        status_n.notna() & ((status_n < 100) | (status_n > 599)),
        "bad status (expected an HTTP code 100-599)",
        status,
    )
    origin = to_number(pick(frame, ALIASES["origin_time"]), rej, "origin_time", integer=False)
    rej.add(origin.notna() & (origin < 0), "bad origin_time (expected >= 0)", origin)
    client = to_text(pick(frame, ALIASES["client_info"]))
    ua_family = _map_unique(to_text(pick(frame, ALIASES["user_agent"])), client_of)
    ray = to_text(pick(frame, ALIASES["cf_ray"])).str.replace(r"-[A-Z]{3}$", "", regex=True)
    search = to_text(search)
    return pd.DataFrame(
        {
            "method": method,
            "path": path,
            "search": blank_to_na(search),
            "status": status_n,
            "origin_time_ms": origin,
            "user": to_text(pick(frame, ALIASES["user"])).str.strip().str.lower(),
            "endpoint": _map_unique(path, endpoint_of),
            "client": client.where(client.notna() & (client != ""), ua_family),
            "cf_ray": ray,
        },
        index=frame.index,
    )


def canonical_db_errors(frame: pd.DataFrame, rej: Rejections, ctx: Context) -> pd.DataFrame:
    """Flat postgres_logs records -> ``db_errors`` columns (before privacy and filters)."""
    message = to_text(pick(frame, ALIASES["message"]))
    require(message, rej, "event_message")
    sql_state = (
        to_text(pick(frame, ALIASES["sql_state"] + UNIFIED_ALIASES["postgres_logs"]["sql_state"]))
        .str.strip()
        .str.upper()
    )
    from_message = _map_unique(message, _sqlstate_from_message)
    sql_state = sql_state.where(sql_state.notna() & (sql_state != ""), from_message)
    rej.add(
        sql_state.notna() & ~sql_state.str.fullmatch(r"[0-9A-Z]{5}").fillna(False),
        "bad sql_state (expected 5 characters [0-9A-Z])",
        sql_state,
    )
    severity = to_text(pick(frame, ALIASES["severity"])).str.strip().str.upper()
    level = to_text(pick(frame, ("level",))).str.lower()
    # Unified exports carry only a level; "error" is the only level that means ERROR or worse.
    severity = severity.where(
        severity.notna(),
        level.map({"error": "ERROR", "warning": "WARNING", "success": "LOG", "info": "LOG"}).astype(
            "string"
        ),
    )
    require(severity, rej, "error_severity")
    parts = _map_unique(message, _message_parts_key)
    constraint = parts.str.extract(r"^c=(.*?)\x1f", expand=False)
    column = parts.str.extract(r"\x1fcol=(.*?)\x1f", expand=False)
    relation = parts.str.extract(r"\x1frel=(.*)$", expand=False)
    return pd.DataFrame(
        {
            "sql_state": sql_state,
            "sql_state_class": sql_state.str[:2],
            "severity": severity,
            "message": message,
            "constraint": blank_to_na(constraint),
            "column": blank_to_na(column),
            "relation": blank_to_na(relation),
            "user_name": to_text(pick(frame, ALIASES["user_name"])),
            "application_name": to_text(pick(frame, ALIASES["application_name"])),
            "command_tag": to_text(pick(frame, ALIASES["command_tag"])),
            "detail": to_text(pick(frame, ALIASES["detail"])),
            "query": to_text(pick(frame, ALIASES["query"])),
        },
        index=frame.index,
    )


def _sqlstate_from_message(message: str | None) -> str | None:
    if not message:
        return None
    for pattern, code in MESSAGE_SQLSTATE:
        if re.search(pattern, message):
            return code
    return None


def _message_parts_key(message: str | None) -> str:
    """Return constraint, column and relation named in a message, as one joined string."""
    message = message or ""
    m = _CONSTRAINT_RE.search(message)
    constraint = m.group(1) if m else ""
    column = relation = ""
    for regex in _COLUMN_RES:
        m = regex.search(message)
        if m:
            groups = m.groups()
            if regex is _COLUMN_RES[1]:
                relation, column = groups[0], groups[1]
            else:
                column = groups[0]
                relation = groups[1] if len(groups) > 1 else ""
            break
    if not relation:
        for regex in _RELATION_RES:
            m = regex.search(message)
            if m:
                relation = m.group(1)
                break
    return f"c={constraint}\x1fcol={column}\x1frel={relation}"


def family_of(message: str | None) -> str:
    """Return the family of a Realtime log line (contract section 2)."""
    for family, pattern in _FAMILY_RULES:
        if message and re.search(pattern, message):
            return family
    return "other"


def canonical_realtime(frame: pd.DataFrame, rej: Rejections, ctx: Context) -> pd.DataFrame:
    """Flat realtime_logs records -> ``realtime_events`` columns (before privacy)."""
    message = to_text(pick(frame, ALIASES["message"]))
    require(message, rej, "event_message")
    connected = to_number(
        pick(frame, ALIASES["connected"]), rej, "measurements.connected", integer=True
    )
    limit = to_number(pick(frame, ALIASES["limit"]), rej, "measurements.limit", integer=True)
    rej.add(
        connected.notna() & (connected < 0), "bad measurements.connected (expected >= 0)", connected
    )
    return pd.DataFrame(
        {
            "level": to_text(pick(frame, ALIASES["level"])).str.lower(),
            "message": message,
            "family": _map_unique(message, family_of),
            "connected": connected,
            "limit": limit,
        },
        index=frame.index,
    )


LOG_BUILDERS = {
    "edge_logs": canonical_requests,
    "postgres_logs": canonical_db_errors,
    "realtime_logs": canonical_realtime,
}


@dataclass
class Context:
    """State shared while ingesting one set of files."""

    key: bytes
    window: tuple[pd.Timestamp, pd.Timestamp] | None
    users: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # (file, kind, reason) -> rows
    read: Counter = field(default_factory=Counter)  # (file, kind) -> rows
    shapes: dict = field(default_factory=dict)  # (file, kind) -> (shape, flavour)
    found: dict = field(default_factory=dict)  # (file, kind, reason) -> (row, value)
    order: dict = field(default_factory=dict)  # file -> position in the input order
    file_dtype: pd.CategoricalDtype | None = None  # categories = files in input order
    redactions: dict = field(default_factory=dict)  # text -> redacted text (a bounded cache)


def canonicalise_logs(parts: list[FilePart], kind: str, ctx: Context) -> pd.DataFrame:
    """Turn a batch of flat log records of one kind into canonical rows (accepted only).

    Rejected rows are counted in ``ctx``; accepted rows keep ``_file`` for later filters.
    """
    for part in parts:
        missing = [
            name for name in REQUIRED[kind] if not has_any(part.frame, _aliases_for(kind, name))
        ]
        if missing and len(part.frame):
            raise IngestError(
                part.file,
                f"missing column for {kind}",
                field=missing[0],
                expected=f"one of {list(_aliases_for(kind, missing[0]))}",
                found=sorted(c for c in part.frame.columns if not c.startswith("_"))[:10],
            )
        if "id" not in part.frame.columns and len(part.frame):
            part.frame = part.frame.assign(id=derive_log_ids(part.frame, kind, ctx.key))
    frame = pd.concat(
        [
            p.frame.assign(
                _naive=p.flavour == "clickhouse", **({"_file": p.file} if p.file else {})
            )
            for p in parts
        ],
        ignore_index=True,
    )
    frame["_file"] = frame["_file"].astype(ctx.file_dtype)
    rej = Rejections(frame)
    ids = to_text(pick(frame, ALIASES["id"])).str.strip()
    require(ids.mask(ids.eq("").fillna(False)), rej, "id")
    ts = parse_timestamps(
        pick(frame, ALIASES["timestamp"]), rej, "timestamp", naive_is_utc=frame["_naive"]
    )
    require(ts, rej, "timestamp")
    body = LOG_BUILDERS[kind](frame, rej, ctx)
    table = pd.concat([pd.DataFrame({"id": ids, "ts": ts}, index=frame.index), body], axis=1)
    table["_file"] = frame["_file"]
    table["_row"] = frame["_row"].astype("int64")
    table["_reason"] = rej.reason
    count_rejections(ctx, table, kind, rej)
    for file in frame["_file"].unique():
        check_bad_file(ctx, file, kind)
    return table[rej.ok].drop(columns="_reason")


def derive_log_ids(frame: pd.DataFrame, kind: str, key: bytes) -> pd.Series:
    """Return ids for log rows exported without one (an Explorer projection without ``id``).

    The id is a keyed hash of the row's timestamp and message plus its occurrence number
    among identical rows of the same file, so the same export downloaded twice dedupes while
    two identical events in one file stay two rows.
    """
    text = (
        to_text(pick(frame, ALIASES["timestamp"])).fillna("")
        + "\x1f"
        + to_text(pick(frame, ALIASES["message"])).fillna("")
    )
    occurrence = text.groupby(text, sort=False).cumcount().astype(str)
    content = f"{kind}\x1f" + text + "\x1f" + occurrence
    return _map_unique(content, lambda v: derived_id("x_", v, key))


def _aliases_for(kind: str, name: str) -> tuple[str, ...]:
    extra = UNIFIED_ALIASES.get(kind, {}).get(name, ())
    if name == "path":
        return ALIASES["path"] + ALIASES["url"] + ALIASES["message"]
    if name in ("method", "status"):
        return ALIASES[name] + extra + ALIASES["message"]
    return ALIASES[name] + extra


def count_rejections(ctx: Context, table: pd.DataFrame, kind: str, rej: Rejections) -> None:
    """Add read and rejected counts of a batch to the accounting."""
    for file, n in table.groupby("_file", sort=False, observed=True).size().items():
        ctx.read[(file, kind)] += int(n)
    bad = table[table["_reason"].notna()]
    groups = bad.groupby(["_file", "_reason"], sort=False, observed=True).groups
    for (file, reason), idx in groups.items():
        ctx.counts[(file, kind, reason)] += len(idx)
        ctx.found.setdefault((file, kind, reason), rej.first(idx[0], reason))


def check_bad_file(ctx: Context, file: str, kind: str) -> None:
    """Raise if every row of ``file`` was rejected for one and the same malformation."""
    read = ctx.read.get((file, kind), 0)
    reasons = {r: n for (f, k, r), n in ctx.counts.items() if f == file and k == kind}
    if read and len(reasons) == 1:
        reason, n = next(iter(reasons.items()))
        if n == read and not reason.startswith(FILTER_REASONS):
            row, value = ctx.found.get((file, kind, reason), (None, None))
            raise IngestError(file, f"every row rejected: {reason}", row=row, found=value)


def filter_rows(
    ctx: Context, table: pd.DataFrame, kind: str, mask: pd.Series, reason: str
) -> pd.DataFrame:
    """Drop rows of ``mask`` from ``table``, counting them as ``reason`` per file."""
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return table
    for file, n in table.loc[mask, "_file"].value_counts(sort=False).items():
        if n:
            ctx.counts[(file, kind, reason)] += int(n)
    return table[~mask]


def apply_privacy(table: pd.DataFrame, kind: str, ctx: Context) -> pd.DataFrame:
    """Pseudonymise user ids and redact free text of one canonical batch."""
    out = table.copy()
    users = ctx.users
    if "user" in out.columns:
        raw = out["user"]
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        for u in uniques:
            if u not in users:
                users[u] = privacy.pseudonymise(u, ctx.key)
        lookup = pd.array([*[users[u] for u in uniques], None], dtype="string")
        out["user"] = pd.Series(lookup[codes], index=out.index, dtype="string")
    text_columns = {
        "edge_logs": ("path", "search", "endpoint", "client", "cf_ray"),
        "postgres_logs": (
            "message",
            "constraint",
            "column",
            "relation",
            "detail",
            "query",
            "user_name",
            "application_name",
        ),
        "realtime_logs": ("message", "level"),
        "webinars": ("title", "status"),
        "webinar_live_presence": ("session_id",),
    }.get(kind, ())
    if kind == "postgres_logs" and "detail" in out.columns:
        out["detail"] = _map_unique(out["detail"], lambda d: _pseudonymise_key_detail(d, ctx))
    if len(ctx.redactions) > 500_000:
        ctx.redactions.clear()  # bound the cache on very large exports
    for col in text_columns:
        out[col] = privacy.redact_series(out[col], users, cache=ctx.redactions)
    return out


def _pseudonymise_key_detail(detail: str | None, ctx: Context) -> str | None:
    """Pseudonymise user-id values in ``Key (a, user_id)=(x, y) already exists.``."""
    if detail is None:
        return None
    m = _KEY_DETAIL_RE.search(detail)
    if not m:
        return detail
    cols = [c.strip() for c in m.group(1).split(",")]
    vals = [v.strip() for v in m.group(2).split(",")]
    if len(cols) != len(vals):
        return detail
    new = [
        privacy.pseudonymise(v, ctx.key)
        if "user" in c.lower() or c.lower() in ("sub", "subject")
        else v
        for c, v in zip(cols, vals, strict=True)
    ]
    return detail[: m.start(2)] + ", ".join(new) + detail[m.end(2) :]


# --------------------------------------------------------------------------------------------
# Table-editor CSVs
# --------------------------------------------------------------------------------------------


def canonical_table(part: FilePart, ctx: Context, webinar_ids: set[str] | None) -> pd.DataFrame:
    """One table-editor CSV -> canonical rows (accepted only, with ``_file`` and ``_key``)."""
    frame, kind = part.frame, part.kind
    rej = Rejections(frame)

    def ts(col: str, required: bool) -> pd.Series:
        values = parse_timestamps(frame[col], rej, col, naive_is_utc=False)
        if required:
            require(values, rej, col)
        return values

    def uuid(col: str) -> pd.Series:
        values = to_text(frame[col]).str.strip().str.lower()
        require(values, rej, col)
        rej.add(
            values.notna() & ~values.str.fullmatch(_UUID_FULL.pattern).fillna(False),
            f"bad {col} (expected a uuid)",
            frame[col],
        )
        return values

    if kind == "webinars":
        wid = uuid("id")
        title = to_text(frame["title"])
        require(title, rej, "title")
        table = pd.DataFrame(
            {
                "webinar_id": wid,
                "title": title,
                "starts_at": ts("starts_at", False),
                "ends_at": ts("ends_at", False),
                "status": to_text(frame["status"]),
            }
        )
        key = wid
    elif kind == "registrations":
        has_id = "id" in frame.columns
        user = to_text(frame["user_id"]).str.strip().str.lower()
        require(user, rej, "user_id")
        webinar = to_text(frame["webinar_id"]).str.strip().str.lower()
        derived = _map_unique(webinar + "/" + user, lambda k: derived_id("r_", k, ctx.key))
        table = pd.DataFrame(
            {
                "id": uuid("id") if has_id else derived,
                "ts": ts("created_at", True),
                "webinar_id": uuid("webinar_id"),
                "user": user,
            }
        )
        # Without an id column the primary key (webinar_id, user_id) is the id.
        key = table["id"]
    elif kind == "webinar_live_presence":
        session = to_text(frame["session_id"]).str.strip()
        require(session, rej, "session_id")
        joined, left = ts("joined_at", True), ts("left_at", False)
        rej.add(
            left.notna() & joined.notna() & (left < joined),
            "left_at before joined_at",
            frame["left_at"],
        )
        table = pd.DataFrame(
            {
                "session_id": session,
                "webinar_id": uuid("webinar_id"),
                "user": to_text(frame["user_id"]).str.strip().str.lower(),
                "joined_at": joined,
                "left_at": left,
            }
        )
        key = to_text(frame["id"]).str.strip() if "id" in frame.columns else session
    else:
        viewers = to_number(frame["viewer_count"], rej, "viewer_count", integer=True)
        require(viewers, rej, "viewer_count")
        rej.add(
            viewers.notna() & (viewers < 0),
            "bad viewer_count (expected >= 0)",
            frame["viewer_count"],
        )
        table = pd.DataFrame(
            {"ts": ts("sampled_at", True), "webinar_id": uuid("webinar_id"), "viewers": viewers}
        )
        key = to_text(frame["id"]).str.strip() if "id" in frame.columns else None
    table["_file"] = part.file
    table["_reason"] = rej.reason
    table["_key"] = key if key is not None else pd.Series(pd.NA, index=frame.index, dtype="string")
    count_rejections(ctx, table, kind, rej)
    check_bad_file(ctx, part.file, kind)
    table = table[rej.ok].drop(columns="_reason")
    if kind != "webinars" and webinar_ids is not None:
        table = filter_rows(
            ctx, table, kind, ~table["webinar_id"].isin(webinar_ids), "unknown webinar"
        )
    return table


# --------------------------------------------------------------------------------------------
# A set of files to canonical tables
# --------------------------------------------------------------------------------------------


def ingest_files(
    files: list[tuple[Path, str]],
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    overrides: dict[str, Override] | None = None,
    key: bytes | None = None,
    progress: bool = False,
) -> Ingested:
    """Ingest export files into canonical tables with per-file accounting.

    Parameters
    ----------
    files
        (path, name shown in errors and accounting) pairs; processed in this order, which is
        also the order that decides which copy of a duplicated id is kept.
    window
        (start, end) UTC; log rows and viewer-count samples outside ``[start, end)`` are
        rejected as ``outside window``. None keeps every row.
    overrides
        Glob (matched against the shown name) -> :class:`Override`.
    key
        Pseudonymisation key (default :func:`analysis.privacy.pseudonym_key`).
    progress
        Show a tqdm progress bar over files.

    Returns
    -------
    Ingested
        Canonical tables keyed by table name and the accounting frame.
    """
    ctx = Context(key=key or privacy.pseudonym_key(), window=window)
    ctx.order = {rel: number for number, (_, rel) in enumerate(files)}
    ctx.file_dtype = pd.CategoricalDtype(list(ctx.order))
    overrides = overrides or {}
    table_parts: dict[str, list[FilePart]] = defaultdict(list)
    pending: dict[str, list[FilePart]] = defaultdict(list)
    pending_rows: Counter = Counter()
    chunks: dict[str, list[pd.DataFrame]] = defaultdict(list)
    log_files: list[tuple[Path, str, Override]] = []

    # Tables first: their user ids feed the redaction of free text in the logs.
    for path, rel in files:
        ov = match_override(rel, overrides)
        if ov.kind == "ignore":
            continue
        if ov.kind in LOG_KINDS or (ov.kind is None and _looks_like_log(path)):
            log_files.append((path, rel, ov))
            continue
        for part in parse_file(path, rel, ov):
            if part.kind in TABLE_KINDS:
                table_parts[part.kind].append(part)
                ctx.shapes[(rel, part.kind)] = (part.shape, None)
                ctx.read[(rel, part.kind)] += 0
            else:
                log_files.append((path, rel, ov))
                break
    tables = build_table_kinds(table_parts, ctx)

    def flush(kind: str) -> None:
        if pending[kind]:
            batch = canonicalise_logs(pending[kind], kind, ctx)
            chunks[kind].append(apply_privacy(batch, kind, ctx))
            pending[kind], pending_rows[kind] = [], 0
            # Hand the parser's freed buffers back to the OS: bounded memory on huge exports.
            pa.default_memory_pool().release_unused()

    def take(parts: list[FilePart]) -> None:
        for part in parts:
            files_in = [part.file] if part.file else list(part.frame["_file"].unique())
            for rel in files_in:
                ctx.shapes[(rel, part.kind)] = (part.shape, part.flavour)
                ctx.read[(rel, part.kind)] += 0
            if part.kind not in LOG_KINDS:
                count_unsupported(ctx, part)
                continue
            pending[part.kind].append(part)
            pending_rows[part.kind] += len(part.frame)
            if pending_rows[part.kind] >= BATCH_ROWS:
                flush(part.kind)

    # Pages are parsed on a thread pool (pyarrow and zlib release the GIL), up to two
    # batches ahead of the batch being canonicalised, so parsing and pandas work overlap.
    reads: deque[tuple[Path, str, Future]] = deque()
    bar = tqdm(total=len(log_files), desc="ingest", unit="file", disable=not progress)

    def drain(count: int) -> None:
        batch = [reads.popleft() for _ in range(min(count, len(reads)))]
        files_, outcomes = [(p, r) for p, r, _ in batch], [f.result() for _, _, f in batch]
        parts, left = parse_files_fast(files_, outcomes)
        take(parts)
        for path, rel in left:
            take(parse_file(path, rel, match_override(rel, overrides)))
        bar.update(len(batch))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for path, rel, ov in log_files:
            if ov.kind is None and ov.flavour in (None, "bigquery"):
                reads.append((path, rel, pool.submit(_try_read_page, path)))
                if len(reads) >= 2 * FAST_PAGES:
                    drain(FAST_PAGES)
            else:
                take(parse_file(path, rel, ov))
                bar.update(1)
        while reads:
            drain(FAST_PAGES)
    bar.close()
    for kind in LOG_KINDS:
        flush(kind)

    for kind, name in LOG_KINDS.items():
        tables[name] = assemble_logs(chunks.pop(kind, []), kind, name, ctx)
    # Last pass, once every user id is known: an id seen in text before the row that
    # revealed it as a user's (or redacted from the cache earlier) is replaced too.
    for table in tables.values():
        for col in table.columns:
            if col not in ID_COLUMNS and isinstance(table[col].dtype, pd.StringDtype):
                table[col] = privacy.replace_user_ids(table[col], ctx.users)
    return Ingested(tables=tables, accounting=accounting_frame(ctx), users=ctx.users)


def assemble_logs(chunks: list[pd.DataFrame], kind: str, name: str, ctx: Context) -> pd.DataFrame:
    """Concatenate canonical batches, apply the table-wide filters, sort, validate.

    Filters only build masks; the rows kept are taken once, already in output order, so a
    ten-million-row table is copied as few times as possible.
    """
    if chunks:
        table = pd.concat(chunks, ignore_index=True)
        chunks.clear()
    else:
        table = empty_table(name).assign(
            _file=pd.Series([], dtype=object), _row=pd.Series([], dtype="int64")
        )
    files = table["_file"].astype(ctx.file_dtype)
    drop = np.zeros(len(table), dtype=bool)

    def reject(mask: np.ndarray, reason: str) -> None:
        new = mask & ~drop
        if new.any():
            for file, n in files[new].value_counts(sort=False).items():
                if n:
                    ctx.counts[(file, kind, reason)] += int(n)
            drop[new] = True

    if kind == "postgres_logs":
        severity = table["severity"]
        for value in sorted(set(severity.dropna().unique()) - set(ERROR_SEVERITIES)):
            reject(
                (severity == value).to_numpy(dtype=bool, na_value=False),
                f"not an error (severity {value})",
            )
    if ctx.window is not None:
        ts = table["ts"]
        reject(((ts < ctx.window[0]) | (ts >= ctx.window[1])).to_numpy(), "outside window")
    # Duplicates: the first copy in file order wins, whatever order the readers finished in.
    alive = np.flatnonzero(~drop)
    file_order = files.cat.codes.to_numpy()  # categories are in input order
    by_file = alive[np.lexsort((table["_row"].to_numpy()[alive], file_order[alive]))]
    dup = duplicated_first(table["id"].take(by_file))
    dup_mask = np.zeros(len(table), dtype=bool)
    dup_mask[by_file[dup]] = True
    reject(dup_mask, "duplicate id")
    keep = np.flatnonzero(~drop)
    keys = SORT_KEYS[name]
    sort_table = pa.Table.from_pandas(table[keys].take(keep), preserve_index=False)
    order = pc.sort_indices(sort_table, sort_keys=[(k, "ascending") for k in keys])
    rows = keep[order.to_numpy()]
    # Column by column, dropping each source column as soon as it is copied: the peak is
    # one table plus one column, not two tables.
    out = {}
    for col in list(table.columns):
        if col.startswith("_"):
            del table[col]
            continue
        out[col] = table[col].take(rows).reset_index(drop=True)
        del table[col]
        pa.default_memory_pool().release_unused()
    return finish(pd.DataFrame(out), name, sort=False)


#: String columns that hold identifiers, not free text: no user id can hide in them.
ID_COLUMNS = ("id", "user", "webinar_id")


def count_unsupported(ctx: Context, part: FilePart) -> None:
    """Count rows of a log source the analysis does not use (e.g. auth_logs) as rejected."""
    reasons = part.frame["_reject"] if "_reject" in part.frame.columns else pd.Series(dtype=object)
    ctx.read[(part.file, part.kind)] += len(part.frame)
    reasons = reasons.fillna("unknown log source")
    for reason, n in reasons.value_counts().items():
        ctx.counts[(part.file, part.kind, reason)] += int(n)
        first = reasons.index[reasons == reason][0]
        ctx.found.setdefault(
            (part.file, part.kind, reason), (int(part.frame.loc[first, "_row"]), None)
        )
    check_bad_file(ctx, part.file, part.kind)


def _looks_like_log(path: Path) -> bool:
    """Cheap routing: JSON exports and files under a ``*_logs`` directory are logs."""
    name = path.name.lower()
    return name.endswith((".json", ".json.gz")) or path.parent.name.endswith("_logs")


def build_table_kinds(parts: dict[str, list[FilePart]], ctx: Context) -> dict[str, pd.DataFrame]:
    """Canonicalise the table-editor CSVs (webinars first: the others are checked against it)."""
    tables: dict[str, pd.DataFrame] = {}
    webinar_ids: set[str] | None = None
    for kind in ("webinars", "registrations", "webinar_live_presence", "webinar_viewer_counts"):
        name = TABLE_KINDS[kind]
        if kind != "webinars" and parts.get(kind) and webinar_ids is None:
            raise IngestError(
                parts[kind][0].file,
                "cannot check webinar ids",
                expected="a webinars table export",
                found="none",
            )
        frames = [canonical_table(p, ctx, webinar_ids) for p in parts.get(kind, [])]
        table = (
            pd.concat(frames, ignore_index=True)
            if frames
            else empty_table(name).assign(
                _file=pd.Series([], dtype=object), _key=pd.Series([], dtype="string")
            )
        )
        table = filter_rows(
            ctx,
            table,
            kind,
            table["_key"].notna() & table["_key"].duplicated(keep="first"),
            "duplicate id",
        )
        if kind == "webinar_viewer_counts" and ctx.window is not None:
            table = filter_rows(
                ctx,
                table,
                kind,
                (table["ts"] < ctx.window[0]) | (table["ts"] >= ctx.window[1]),
                "outside window",
            )
        if kind == "webinars" and parts.get(kind):
            webinar_ids = set(table["webinar_id"].dropna())
        tables[name] = finish(apply_privacy(table, kind, ctx).drop(columns="_key"), name)
    return tables


#: Row order of each canonical table (deterministic whatever the file order).
SORT_KEYS = {
    "requests": ["ts", "id"],
    "db_errors": ["ts", "id"],
    "realtime_events": ["ts", "id"],
    "concurrency": ["ts", "webinar_id"],
    "sessions": ["joined_at", "session_id"],
    "registrations": ["ts", "id"],
    "webinars": ["starts_at", "webinar_id"],
}


def finish(table: pd.DataFrame, name: str, *, sort: bool = True) -> pd.DataFrame:
    """Drop bookkeeping columns, fix dtypes and order, validate against the schema."""
    table = table.drop(columns=[c for c in table.columns if c.startswith("_")])
    if sort:
        table = table.sort_values(SORT_KEYS[name], kind="stable")
    table = table.reset_index(drop=True)
    out = pd.DataFrame({col: table[col].astype(dt) for col, dt in column_dtypes(name).items()})
    return validate_table(name, out)


def match_override(rel: str, overrides: dict[str, Override]) -> Override:
    """Return the override of the first glob matching ``rel`` (or an empty one)."""
    for pattern, ov in overrides.items():
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(Path(rel).name, pattern):
            return ov
    return Override()


def accounting_frame(ctx: Context) -> pd.DataFrame:
    """Return the accounting: one row per (file, kind), ``read == accepted + rejected``."""
    rows = []
    for (file, kind), read in sorted(ctx.read.items()):
        reasons = sorted(
            ((r, n) for (f, k, r), n in ctx.counts.items() if f == file and k == kind),
            key=lambda x: (-x[1], x[0]),
        )
        rejected = sum(n for _, n in reasons)
        shape, flavour = ctx.shapes.get((file, kind), (None, None))
        rows.append(
            {
                "file": file,
                "kind": kind,
                "read": read,
                "accepted": read - rejected,
                "rejected": rejected,
                "reason": "; ".join(f"{r}: {n}" for r, n in reasons),
                "shape": shape,
                "flavour": flavour,
            }
        )
    frame = pd.DataFrame(rows, columns=[*ACCOUNTING_COLUMNS, "shape", "flavour"])
    for col in ("read", "accepted", "rejected"):
        frame[col] = frame[col].astype("int64")
    for col in ("file", "kind", "reason", "shape", "flavour"):
        frame[col] = frame[col].astype("string")
    return frame


# --------------------------------------------------------------------------------------------
# An incident directory
# --------------------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict:
    """Read and check ``incident.json``."""
    path = directory / "incident.json"
    if not directory.is_dir():
        raise IngestError(
            directory, "no such incident directory", expected="a directory", found="nothing"
        )
    if not path.exists():
        raise IngestError(
            path, "missing manifest", expected="incident.json with name and window", found="no file"
        )
    manifest = load_json(path, read_text(path))
    if not isinstance(manifest, dict):
        raise IngestError(
            path, "bad manifest", expected="a JSON object", found=type(manifest).__name__
        )
    for name in ("name", "window_start", "window_end"):
        if not manifest.get(name):
            raise IngestError(
                path, "missing manifest field", field=name, expected="a value", found=None
            )
    flavour = manifest.get("flavour")
    if flavour is not None and flavour not in FLAVOURS:
        raise IngestError(
            path, "bad flavour", field="flavour", expected=f"one of {list(FLAVOURS)}", found=flavour
        )
    return manifest


def manifest_window(manifest: dict, path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the manifest window as tz-aware UTC timestamps (zone required)."""
    bounds = []
    for name in ("window_start", "window_end"):
        text = str(manifest[name])
        if not re.fullmatch(_AWARE_RE, text.replace(" UTC", "Z")):
            raise IngestError(
                path,
                "bad window bound",
                field=name,
                expected="ISO 8601 UTC with Z or offset",
                found=text,
            )
        bounds.append(pd.Timestamp(text).tz_convert("UTC").as_unit("ns"))
    if bounds[1] <= bounds[0]:
        raise IngestError(
            path,
            "empty window",
            field="window_end",
            expected=f"after {bounds[0].isoformat()}",
            found=str(manifest["window_end"]),
        )
    return bounds[0], bounds[1]


def manifest_overrides(manifest: dict, path: Path) -> dict[str, Override]:
    """Return the per-glob overrides of ``incident.json`` (plus the global flavour)."""
    out: dict[str, Override] = {}
    files = manifest.get("files") or {}
    if not isinstance(files, dict):
        raise IngestError(
            path,
            "bad files overrides",
            field="files",
            expected="an object {glob: {kind, flavour}}",
            found=files,
        )
    for pattern, spec in files.items():
        if not isinstance(spec, dict):
            raise IngestError(
                path,
                "bad files override",
                field=f"files.{pattern}",
                expected="an object",
                found=spec,
            )
        kind = spec.get("kind")
        kind = KIND_ALIASES.get(kind, kind)
        if kind is not None and kind not in KINDS:
            raise IngestError(
                path,
                "unknown kind",
                field=f"files.{pattern}.kind",
                expected=f"one of {list(KINDS)}",
                found=spec.get("kind"),
            )
        flavour = spec.get("flavour", manifest.get("flavour"))
        if flavour is not None and flavour not in FLAVOURS:
            raise IngestError(
                path,
                "bad flavour",
                field=f"files.{pattern}.flavour",
                expected=f"one of {list(FLAVOURS)}",
                found=flavour,
            )
        out[pattern] = Override(kind=kind, flavour=flavour)
    if manifest.get("flavour"):
        out.setdefault("*", Override(flavour=manifest["flavour"]))
    return out


def list_exports(directory: Path, overrides: dict[str, Override]) -> list[tuple[Path, str]]:
    """Return the export files of an incident directory, sorted, as (path, relative name)."""
    out = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if not path.is_file() or path.name.startswith(".") or rel in NON_EXPORTS:
            continue
        ov = match_override(rel, overrides)
        if ov.kind == "ignore":
            continue
        if not path.name.lower().endswith(DATA_SUFFIXES):
            raise IngestError(
                path,
                "unsupported file type",
                expected=f"one of {list(DATA_SUFFIXES)} (or kind 'ignore' in incident.json files)",
                found=path.suffix or path.name,
            )
        out.append((path, rel))
    return out


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(directory: Path, checksums: dict[str, str]) -> None:
    """Check files against ``SHA256SUMS`` when the directory has one."""
    sums = directory / "SHA256SUMS"
    if not sums.exists():
        return
    for number, line in enumerate(read_text(sums).splitlines(), start=1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
        if not m:
            raise IngestError(
                sums, "bad checksum line", row=number, expected="'<sha256>  <file>'", found=line
            )
        digest, name = m.groups()
        name = name.removeprefix("./")
        actual = checksums.get(name) or (
            sha256_of(directory / name) if (directory / name).is_file() else None
        )
        if actual is None:
            raise IngestError(
                directory / name,
                "file listed in SHA256SUMS is missing",
                expected=digest[:16],
                found=None,
            )
        if actual != digest:
            raise IngestError(
                directory / name, "checksum mismatch", expected=digest[:16], found=actual[:16]
            )


def read_annotations(directory: Path, users: dict[str, str] | None = None) -> pd.DataFrame:
    """Read ``annotations.csv`` (time_utc may be empty = time unknown); redacted like logs."""
    path = directory / "annotations.csv"
    empty = pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "label": pd.Series([], dtype="string"),
            "note": pd.Series([], dtype="string"),
        }
    )
    if not path.exists():
        return empty
    frame = read_csv_rows(path, read_text(path))
    check_columns(path, frame.columns, ("time_utc", "label", "note"), "annotations")
    text = frame["time_utc"].str.strip()
    # The column is named UTC: a zone-less time in it is UTC by the column's definition.
    ts = pd.to_datetime(text.where(text != ""), format="ISO8601", utc=True, errors="coerce")
    bad = (text != "") & ts.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise IngestError(
            path,
            "bad time",
            row=row,
            field="time_utc",
            expected="ISO 8601 or empty",
            found=text[bad].iloc[0],
        )
    return pd.DataFrame(
        {
            "ts": ts.astype("datetime64[ns, UTC]"),
            "label": privacy.redact_series(frame["label"].astype("string"), users),
            "note": privacy.redact_series(frame["note"].astype("string"), users),
        }
    )


def cache_key(manifest_text: str, checksums: dict[str, str], key: bytes) -> str:
    """Return the cache key of an ingest: inputs, manifest, pseudonym key and this code."""
    digest = hashlib.sha256()
    digest.update(f"format {CACHE_FORMAT}\n".encode())
    for module in ("ingest.py", "schemas.py", "privacy.py"):
        digest.update(hashlib.sha256((Path(__file__).parent / module).read_bytes()).digest())
    digest.update(manifest_text.encode())
    digest.update(privacy.key_fingerprint(key).encode())
    for name, value in sorted(checksums.items()):
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


TABLE_NAMES = (
    "requests",
    "db_errors",
    "realtime_events",
    "concurrency",
    "sessions",
    "registrations",
    "webinars",
)


def load_incident(
    directory: Path | str = config.DEFAULT_INCIDENT_DIR,
    *,
    cache_dir: Path | str | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
) -> Incident:
    """Ingest an incident directory (docs/contract.md section 1) into an :class:`Incident`.

    Parameters
    ----------
    directory
        The incident directory (``incident.json``, exports, optional ``SHA256SUMS``).
    cache_dir
        Parent of the Parquet cache (default ``data/interim``).
    use_cache
        Read the cache when the inputs are unchanged, and write it after a parse.
    progress
        Show a progress bar (default: only when more than 200 files are read).

    Raises
    ------
    IngestError
        One line naming the file, row or field, what was expected and what was found.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    manifest_path = directory / "incident.json"
    window = manifest_window(manifest, manifest_path)
    display_tz = manifest.get("display_tz") or config.DEFAULT_DISPLAY_TZ
    try:
        ZoneInfo(display_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise IngestError(
            manifest_path,
            "unknown time zone",
            field="display_tz",
            expected="an IANA zone",
            found=display_tz,
        ) from None
    overrides = manifest_overrides(manifest, manifest_path)
    files = list_exports(directory, overrides)
    checksums = {rel: sha256_of(path) for path, rel in files}
    for extra in ("incident.json", "annotations.csv"):
        if (directory / extra).exists():
            checksums[extra] = sha256_of(directory / extra)
    verify_checksums(directory, checksums)
    key = privacy.pseudonym_key()
    cache_root = Path(cache_dir) if cache_dir is not None else config.INTERIM_DIR
    digest = cache_key(manifest_path.read_text(encoding="utf-8"), checksums, key)
    slot = cache_root / f"{_safe_name(manifest['name'])}-{digest[:16]}"
    common = dict(manifest=manifest, window=window, display_tz=display_tz, checksums=checksums)
    if use_cache and (slot / "complete").exists():
        tables = {
            name: validate_table(name, pd.read_parquet(slot / f"{name}.parquet"))
            for name in TABLE_NAMES
        }
        return Incident(
            **tables,
            annotations=pd.read_parquet(slot / "annotations.parquet"),
            accounting=pd.read_parquet(slot / "accounting.parquet"),
            from_cache=True,
            **common,
        )
    result = ingest_files(
        files,
        window=window,
        overrides=overrides,
        key=key,
        progress=progress if progress is not None else len(files) > 200,
    )
    log_rows = sum(len(result.tables[name]) for name in LOG_KINDS.values())
    log_read = int(
        result.accounting.loc[result.accounting["kind"].isin(list(LOG_KINDS)), "read"].sum()
    )
    if log_read and not log_rows:
        raise IngestError(
            directory,
            "no log row inside the manifest window",
            expected=f"rows in [{window[0].isoformat()}, {window[1].isoformat()})",
            found=f"{log_read} rows, all rejected (see make check)",
        )
    incident = Incident(
        **result.tables,
        annotations=read_annotations(directory, result.users),
        accounting=result.accounting,
        **common,
    )
    if use_cache:
        write_cache(slot, incident)
    return incident


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))[:60] or "incident"


def write_cache(slot: Path, incident: Incident) -> None:
    """Write the canonical tables as Parquet, atomically (a partial cache is never read)."""
    tmp = slot.with_name(slot.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in TABLE_NAMES:
        getattr(incident, name).to_parquet(tmp / f"{name}.parquet", index=False)
    incident.annotations.to_parquet(tmp / "annotations.parquet", index=False)
    incident.accounting.to_parquet(tmp / "accounting.parquet", index=False)
    (tmp / "complete").write_text("ok\n")
    shutil.rmtree(slot, ignore_errors=True)
    tmp.rename(slot)
    # Older caches of the same incident are stale by construction: keep data/interim small.
    prefix = slot.name[: -len(slot.name.rsplit("-", 1)[1])]
    for old in slot.parent.glob(f"{glob.escape(prefix)}*"):
        if old != slot and re.fullmatch(r"[0-9a-f]{16}", old.name[len(prefix) :]):
            shutil.rmtree(old, ignore_errors=True)


def format_accounting(accounting: pd.DataFrame) -> str:
    """Return the accounting as a plain-text table with a total line."""
    rows = [["file", "kind", "read", "accepted", "rejected", "reasons"]]
    for rec in accounting.itertuples(index=False):
        rows.append([rec.file, rec.kind, rec.read, rec.accepted, rec.rejected, rec.reason or ""])
    totals = [int(accounting[c].sum()) for c in ("read", "accepted", "rejected")]
    rows.append(["TOTAL", "", *totals, ""])
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        cells = [str(r[0]).ljust(widths[0]), str(r[1]).ljust(widths[1])]
        cells += [str(v).rjust(w) for v, w in zip(r[2:5], widths[2:5], strict=True)]
        lines.append("  ".join([*cells, str(r[5])]).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis check --data DIR``: ingest, validate, print the accounting."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis check", description="Ingest and validate an incident directory."
    )
    parser.add_argument(
        "--data", default=str(config.DEFAULT_INCIDENT_DIR), help="incident directory"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="parse even if a cache exists; write none"
    )
    parser.add_argument(
        "--cache-dir", default=None, help="parent of the Parquet cache (default data/interim)"
    )
    args = parser.parse_args(argv)
    incident = load_incident(args.data, cache_dir=args.cache_dir, use_cache=not args.no_cache)
    print(
        f"incident {incident.manifest['name']}: window {incident.window[0].isoformat()}"
        f" .. {incident.window[1].isoformat()}"
        f"{' (from cache)' if incident.from_cache else ''}"
    )
    print(format_accounting(incident.accounting))
    sizes = ", ".join(f"{name} {len(getattr(incident, name))}" for name in TABLE_NAMES)
    print(f"tables: {sizes}")
    return 0
