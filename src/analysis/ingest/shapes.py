"""The export shapes ingest reads, registered in one place (:data:`SHAPES`).

An export shape is one way an analyst gets logs or tables out of Supabase (docs/contract.md
section 1). Each :class:`Shape` says, in one entry:

- **how it is recognised**: from the parsed JSON document, or from the CSV header;
- **how it is flattened**: its rows, and each row to one flat record with dotted names and no
  ``metadata.`` root (BigQuery's one-element lists and ClickHouse's ``log_attributes`` alike);
- **its field map**: names of its own that hold a canonical field, added to the generic names
  of :data:`FIELDS` (which any projection may use);
- **its timestamp format**: the parser of its ``timestamp`` cells.

Recognition tries the entries in order; the first that says yes reads the file. A new shape is
one entry here plus one fixture (docs/extending.md, "A new export shape"). The registry is read
when a file is read, never copied at import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import vocabulary
from analysis.exceptions import IngestError
from analysis.ingest import drains
from analysis.ingest.files import (
    KeyTwice,
    api_error_message,
    check_columns,
    parse_json,
    require_list,
    twice_reason,
)
from analysis.ingest.kinds import LOG_KINDS, TABLE_COLUMNS
from analysis.ingest.timestamps import parse_timestamps

#: Where a row names its project (analysis.ingest.projects): the gateway's and Postgres'
#: ``identifier``, Realtime's ``metadata.project`` and ``metadata.external_id``.
PROJECT_NAMES = ("identifier", "project", "external_id")
#: The headers that carry a request's client address, in the order they are trusted.
ADDRESS_HEADERS = ("cf_connecting_ip", "x_real_ip", "x_forwarded_for")
#: Where each is found: a gateway row's allow-listed headers (hyphens turned into
#: underscores), the unified download's ``headers`` cell, or a projection's own column.
ADDRESS_NAMES = {
    name: (f"request.headers.{name}", f"headers.{name}", name) for name in ADDRESS_HEADERS
}
#: Generic names of each canonical field per log source, in order of preference: the dotted
#: paths of Management API rows and Explorer projections, and the page CSVs' column names.
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "edge_logs": {
        "id": ("id",),
        # ``ts`` is what the docs' Explorer queries call ``cast(timestamp as datetime)``.
        "timestamp": ("timestamp", "date", "ts"),
        "message": ("event_message",),
        "method": ("request.method", "method"),
        "path": ("request.path", "path", "pathname"),
        "search": ("request.search", "search"),
        "url": ("request.url",),
        "status": ("response.status_code", "status_code", "status"),
        # ``origin_time``: Studio's "Slow Response Time" template selects ``r.origin_time``.
        "origin_time": ("response.origin_time", "origin_time"),
        "user": (
            "request.sb.auth_user",
            "auth_user",
            "request.sb.jwt.authorization.payload.subject",
        ),
        "client_info": ("request.headers.x_client_info", "headers.x_client_info"),
        "user_agent": ("request.headers.user_agent", "headers.user_agent"),
        "cf_ray": ("request.headers.cf_ray", "headers.cf_ray", "response.headers.cf_ray"),
        # The client's address, one field per header in the order they are trusted
        # (Cloudflare's own, the gateway's, then X-Forwarded-For's client-written first hop):
        # a header naming no address gives way to the next (analysis.addresses.first_address).
        **{f"address_{name}": ADDRESS_NAMES[name] for name in ADDRESS_HEADERS},
        "project": PROJECT_NAMES,
    },
    "postgres_logs": {
        "id": ("id",),
        "timestamp": ("timestamp", "date", "ts"),
        "message": ("event_message",),
        "sql_state": ("parsed.sql_state_code", "sql_state_code"),
        "severity": ("parsed.error_severity", "error_severity"),
        "user_name": ("parsed.user_name", "user_name"),
        "application_name": ("parsed.application_name", "application_name"),
        "command_tag": ("parsed.command_tag", "command_tag"),
        "detail": ("parsed.detail", "detail"),
        "query": ("parsed.query", "query"),
        "project": PROJECT_NAMES,
    },
    "realtime_logs": {
        "id": ("id",),
        "timestamp": ("timestamp", "date", "ts"),
        "message": ("event_message",),
        "level": ("level", "severity_text"),
        "connected": ("measurements.connected", "connected"),
        "limit": ("measurements.limit", "limit"),
        "project": PROJECT_NAMES,
    },
}
#: Fields a log source cannot do without (``id`` is derived when a projection lacks it).
REQUIRED = {
    "edge_logs": ("timestamp", "method", "path", "status"),
    "postgres_logs": ("timestamp", "message"),
    "realtime_logs": ("timestamp", "message"),
}
#: Cells of a Logs Explorer / unified CSV that hold JSON (objects are stringified into one cell).
JSON_CELL_COLUMNS = ("metadata", "log_attributes", "headers", "regions", "logs")
#: Cells that mean "no value" in a Studio CSV download.
_NULL_CELLS = ("", "null", "undefined")
#: Header columns that mark a CSV as a log export.
_LOG_COLUMNS = {"id", "timestamp", "event_message", "metadata", "log_attributes"}
#: Columns no table of docs/contract.md has: a file holding one is a log export.
_LOG_ONLY_COLUMNS = _LOG_COLUMNS - {"id"}
#: A log CSV holds one of these (every log source needs a time): an ``id`` alone is any table's.
_LOG_EVIDENCE = _LOG_ONLY_COLUMNS | {"date", "ts"}


def required_names(field_map: dict[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    """Columns that can supply required field ``name`` (an edge message fills three fields)."""
    if name == "path":
        return field_map["path"] + field_map["url"] + field_map["message"]
    if name in ("method", "status"):
        return field_map[name] + field_map["message"]
    return field_map[name]


@dataclass(frozen=True)
class Shape:
    """One export shape: how it is recognised, flattened, mapped to fields and timed.

    Attributes
    ----------
    name
        The label in the accounting's ``shape`` column.
    container
        ``json`` (recognised from the parsed document), ``csv`` (from the header), ``sql``
        (table rows of a ``.sql`` file, :mod:`analysis.ingest.sqlfile`) or ``parquet`` (an S3
        log drain's batch).
    recognise
        ``(document or header columns, path) -> bool``; may raise an :class:`IngestError`
        when the content is recognisably this shape but broken.
    rows
        ``(document or all-text frame, path) -> list`` of raw rows (log shapes only).
    flatten
        ``raw row -> flat record`` (dotted names; ``_reject``/``_found`` for a malformed row).
    fields
        Log source -> canonical field -> this shape's own column names, tried after the
        generic names of :data:`FIELDS`.
    parse_time
        Parser of the ``timestamp`` field, with the signature of
        :func:`~analysis.ingest.timestamps.parse_timestamps`.
    timestamp
        The timestamp format, in words (for docs and error messages).
    flavour
        ``[(raw row, flat record), ...] -> 'bigquery' | 'clickhouse' | None``, when the shape
        tells its storage flavour its own way (default :func:`detect_flavour`).
    source
        The log source of every row, when the shape itself tells it (a product page's
        download); None when it is told per row from the content.
    per_row_source
        True when one file mixes log sources, each row saying its own (the unified export);
        otherwise a row whose source cannot be told takes its file's.
    table
        True for table-editor CSVs (canonicalised by table, not by log source).
    """

    name: str
    container: str
    recognise: Callable[[object, Path], bool]
    rows: Callable[[object, Path], list] | None = None
    flatten: Callable[[object], dict] | None = None
    fields: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    parse_time: Callable[..., pd.Series] = parse_timestamps
    timestamp: str = "16-digit microseconds or ISO 8601 with a zone (ClickHouse: zone-less UTC)"
    flavour: Callable[[list], str | None] | None = None
    source: str | None = None
    per_row_source: bool = False
    table: bool = False

    def field_map(self, kind: str) -> dict[str, tuple[str, ...]]:
        """Canonical field -> column names of this shape for log source ``kind``."""
        extra = self.fields.get(kind, {})
        base = FIELDS[kind]
        return {name: base.get(name, ()) + extra.get(name, ()) for name in {**base, **extra}}


# --------------------------------------------------------------------------------------------
# Flattening
# --------------------------------------------------------------------------------------------


def flatten_value(value, prefix: str, out: dict) -> None:
    """Flatten nested dicts and BigQuery one-element record lists into ``out`` (dotted keys).

    An object with a key given twice (:class:`~analysis.ingest.files.KeyTwice`) leaves its
    key in ``out["_twice"]``.
    """
    if isinstance(value, dict):
        if isinstance(value, KeyTwice):
            out.setdefault("_twice", prefix + value.key)
        for key, item in value.items():
            flatten_value(item, f"{prefix}{key}.", out)
    elif isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        flatten_value(value[0], prefix, out)
    else:
        out[prefix[:-1]] = value


def flatten_row(row) -> dict:
    """Return one export row as a flat record; ``_reject`` holds a reason if it is malformed.

    BigQuery ``metadata`` (a one-element list) and ClickHouse ``log_attributes`` (a string map)
    both end up as top-level dotted keys without the ``metadata.`` root; unified-export
    ``headers`` become ``headers.<name>``.
    """
    if not isinstance(row, dict):
        return {"_reject": "row is not an object", "_found": repr(row)[:60]}
    try:
        out = _flatten_fields(row)
    except RecursionError:
        return {"_reject": "row nested too deeply", "_found": repr(row)[:60]}
    if isinstance(row, KeyTwice):
        out.setdefault("_twice", row.key)
    if "_twice" in out:
        key = out.pop("_twice")
        out.setdefault("_reject", twice_reason(key))
        out.setdefault("_found", key)
    return out


def _json_text(key: str, value, out: dict):
    """Return a ``metadata``/``log_attributes`` value parsed when it is JSON text.

    A query's ``TO_JSON_STRING(metadata)`` or ``toJSONString(log_attributes)`` downloads the
    record as text, as a CSV cell holds it; text that is no JSON rejects the row.
    """
    if not (isinstance(value, str) and value[:1] in "[{"):
        return value
    try:
        return parse_json(value)
    except (ValueError, RecursionError):
        out["_reject"] = f"bad {key} cell (expected JSON)"
        out["_found"] = value[:60]
        return None


def _flatten_fields(row: dict) -> dict:
    out: dict = {}
    for key, value in row.items():
        if key in ("metadata", "log_attributes"):
            value = _json_text(key, value, out)
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
            if isinstance(value, KeyTwice):
                out.setdefault("_twice", f"log_attributes.{value.key}")
            for k, v in value.items():
                out[k.removeprefix("metadata.")] = v
        elif key == "headers" and isinstance(value, dict):
            flatten_value(value, "headers.", out)
        else:
            out[key] = value
    return out


def flatten_csv_row(raw: dict) -> dict:
    """Flatten a CSV row dict (JSON cells already parsed), keeping its cell-level rejection."""
    rec = flatten_row({k: v for k, v in raw.items() if not k.startswith("_")})
    if "_reject" in raw:
        rec["_reject"], rec["_found"] = raw["_reject"], raw.get("_found")
    return rec


def csv_records(frame: pd.DataFrame, path: Path | None = None) -> list[dict]:
    """Turn CSV rows into row dicts: JSON cells parsed, empty and null-like cells to None.

    ``null`` is how Studio writes a null object into a cell and ``undefined`` how its older
    download wrote a key missing from a row. A frame's own ``_reject``/``_found`` columns
    (rows whose cells could not be recovered) are carried over.
    """
    records = []
    cols = [c for c in frame.columns if not c.startswith("_")]
    json_cols = [c for c in cols if c in JSON_CELL_COLUMNS]
    carried = [c for c in ("_reject", "_found") if c in frame.columns]
    for values, *extra in zip(
        frame[cols].itertuples(index=False, name=None),
        *(frame[c] for c in carried),
        strict=True,
    ):
        row: dict = {}
        for col, cell in zip(cols, values, strict=True):
            if cell in _NULL_CELLS:
                row[col] = None
            elif col in json_cols and cell[:1] in "[{":
                try:
                    row[col] = parse_json(cell)
                except json.JSONDecodeError:
                    row["_reject"] = f"bad {col} cell (expected JSON)"
                    row["_found"] = cell[:60]
                except RecursionError:
                    row["_reject"] = f"bad {col} cell (JSON nested too deeply)"
                    row["_found"] = cell[:60]
            else:
                row[col] = cell
        for col, value in zip(carried, extra, strict=True):
            if value is not None and value == value:
                row[col] = value
        records.append(row)
    return records


def read_unified_row(rec: dict) -> dict:
    """Apply what Studio's unified export means by its columns to one flat record.

    ``auth`` rows are the edge request that reached Auth (Studio joins the auth log to the
    edge log by ray id and exports the edge row's id, method, status and path): they are read
    as requests, and the same row exported as ``edge`` too is then a duplicate id. Postgres
    rows carry only ``level`` and the SQLSTATE (in ``status``); their severity is recovered
    by :func:`analysis.vocabulary.severity_from_level`.
    """
    log_type = rec.get("log_type")
    if log_type == "auth" and rec.get("method"):
        rec["log_type"] = "edge"
    elif log_type == "postgres" and not rec.get("error_severity"):
        state = rec.get("status") or vocabulary.sqlstate_from_message(rec.get("event_message"))
        severity = vocabulary.severity_from_level(rec.get("level"), state)
        if severity:
            rec["error_severity"] = severity
    return rec


_CH_MICROS_RE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{6}$")
#: The columns every product page's download starts with (Realtime's page has only these).
_PAGE_BASE = ["id", "timestamp", "event_message"]


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
    if stamps and all(isinstance(t, str) and _CH_MICROS_RE.match(t) for t in stamps if t):
        return "clickhouse"
    return None


#: A zone-less time with seconds: ClickHouse's text, or BigQuery's DATETIME (no fraction on
#: a whole second).
_NAIVE_SECONDS_RE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?$")
#: A time in another form: a number (microseconds, or any epoch unit), or text with a zone.
_OTHER_TIME_RE = re.compile(
    r"^\s*[-+]?\d+(?:\.\d*)?\s*$|^\d{4}-\d\d-\d\d.*(?:Z|[+-]\d\d(?::?\d\d)?)\s*$"
)


def all_times_naive(records: list[tuple]) -> bool:
    """Tell whether every time of a flat projection is zone-less text with seconds.

    The log store keeps UTC, and a query that casts its time to text without a zone
    (Studio's Logs Explorer templates: ``cast(timestamp as datetime)``) gives UTC text; a file
    mixing such text with microseconds, zones or objects is not such a projection. A cell
    that is no time at all (a damaged or hand-edited one) says nothing about the file: it is
    rejected on its own row, and must not make every other row a naive time.
    """
    naive = False
    for raw, rec in records:
        if isinstance(raw, dict) and ("metadata" in raw or "log_attributes" in raw):
            return False
        if not isinstance(rec, dict) or rec.get("timestamp") in (None, ""):
            continue
        stamp = rec["timestamp"]
        if isinstance(stamp, str) and _NAIVE_SECONDS_RE.match(stamp):
            naive = True
        elif not isinstance(stamp, str) or _OTHER_TIME_RE.match(stamp):
            return False
    return naive


def page_flavour(records: list[tuple]) -> str | None:
    """Flavour of a product page's CSV, told by its column order where the content cannot.

    Studio's BigQuery page queries put ``identifier`` before ``timestamp``; its ClickHouse
    ones select ``id, timestamp, event_message`` first and the aliases after, or (since the
    aliases come from a second query merged in by id, attributes first) the aliases first
    and ``timestamp, event_message`` last. Both turn the timestamp into microseconds, so a
    page of just those three columns (Realtime's) does not say its flavour (None).
    """
    raw = next((r for r, _ in records if isinstance(r, dict)), {})
    cols = [c for c in raw if not c.startswith("_")]
    if "identifier" in cols:
        otel = cols[:3] == _PAGE_BASE or cols[-2:] == _PAGE_BASE[1:]
        return "clickhouse" if otel else "bigquery"
    flavour = detect_flavour(records)
    if flavour == "bigquery" and sorted(cols) == sorted(_PAGE_BASE):
        return None
    return flavour


# --------------------------------------------------------------------------------------------
# Recognition and rows of each shape
# --------------------------------------------------------------------------------------------


def is_envelope(doc) -> bool:
    """Tell a Management API answer: rows under ``result``, or ``{"error": ...}`` alone.

    Logflare's endpoint view answers a failed query with the error object and no ``result``.
    """
    return isinstance(doc, dict) and ("result" in doc or set(doc) == {"error"})


def envelope_rows(doc: dict, path: Path) -> list:
    """Rows of a Management API envelope ``{"result": [...], "error": null}``."""
    error = doc.get("error")
    if error is not None:
        raise IngestError(path, f"the Management API returned an error: {api_error_message(error)}")
    return require_list(
        doc.get("result"),
        path,
        field="result",
        problem="rows are not a list",
        expected="a list of rows",
    )


def table_kind_of(columns: Iterable[str], path: Path) -> str | None:
    """Return the table a CSV header belongs to, or None; a table-named file must match one."""
    cols = set(columns)
    # Most specific first: a presence export also has registrations' webinar_id and user_id.
    for kind, required in sorted(TABLE_COLUMNS.items(), key=lambda kv: -len(kv[1])):
        if set(required) <= cols:
            return kind
    # Named like a table export (registrations.csv, Studio's registrations_rows.csv, a SQL
    # editor's "Supabase Snippet select registrations.csv") and holding no log column: say
    # which column is missing rather than reading it as some log's rows.
    stem = path.name.split(".")[0]
    if stem in TABLE_COLUMNS:
        check_columns(path, cols, TABLE_COLUMNS[stem], stem)
    words = "_" + re.sub(r"[^a-z0-9]+", "_", path.name.lower()) + "_"
    if not cols & _LOG_ONLY_COLUMNS:
        for kind in sorted(TABLE_COLUMNS, key=len, reverse=True):
            if f"_{kind}_" in words:
                check_columns(path, cols, TABLE_COLUMNS[kind], kind)
    return None


def _is_page_csv(columns, path: Path) -> bool:
    cols = set(columns)
    page = {"method", "path", "status_code"} <= cols or {"error_severity"} <= cols
    page = page or cols == set(_PAGE_BASE)
    return bool(cols & _LOG_COLUMNS) and page and not cols & {"metadata", "log_attributes"}


#: Registered shapes, tried in this order; the first that recognises a file reads it.
SHAPES: tuple[Shape, ...] = (
    Shape(
        name="api_envelope",
        container="json",
        recognise=lambda doc, path: is_envelope(doc),
        rows=envelope_rows,
        flatten=flatten_row,
        # BigQuery-flavour pages are also read by the columnar reader of ingest.fast.
    ),
    Shape(
        name="drain_loki",
        container="json",
        recognise=lambda doc, path: drains.is_loki_push(doc),
        rows=lambda doc, path: drains.loki_rows(doc, path, drain_field_names()),
        flatten=flatten_row,
        timestamp="nanoseconds as text (Loki), microseconds times 1000",
    ),
    Shape(
        name="cli_log_stream",
        container="json",
        recognise=lambda doc, path: drains.is_cli_log_stream(doc),
        rows=drains.refuse_cli_log_stream,
        flatten=flatten_row,
    ),
    Shape(
        name="drain_otlp_json",
        container="json",
        recognise=lambda doc, path: drains.is_otlp_logs(doc),
        rows=drains.otlp_rows,
        flatten=flatten_row,
        timestamp="``timeUnixNano``, nanoseconds as text (microseconds times 1000)",
    ),
    Shape(
        # The same request in protobuf, as the drain sends it: chosen by the file's name
        # (analysis.ingest.otlp_proto), then read as its OTLP/JSON form.
        name="drain_otlp_proto",
        container="protobuf",
        recognise=lambda doc, path: False,
        rows=drains.otlp_rows,
        flatten=flatten_row,
        timestamp="``time_unix_nano``, fixed64 nanoseconds (microseconds times 1000)",
    ),
    Shape(
        name="drain_datadog",
        container="json",
        recognise=lambda doc, path: drains.is_datadog_batch(doc),
        rows=drains.datadog_rows,
        flatten=flatten_row,
    ),
    Shape(
        name="unified_json",
        container="json",
        recognise=lambda doc, path: (
            isinstance(doc, list) and any(isinstance(r, dict) and "log_type" in r for r in doc[:50])
        ),
        rows=lambda doc, path: doc,
        flatten=lambda row: read_unified_row(flatten_row(row)),
        fields={"postgres_logs": {"sql_state": ("status",)}},
        timestamp="``timestamp`` microseconds and ``date`` ISO 8601 with Z",
        per_row_source=True,
    ),
    Shape(
        name="explorer_json",
        container="json",
        recognise=lambda doc, path: isinstance(doc, list),
        rows=lambda doc, path: doc,
        flatten=flatten_row,
    ),
    Shape(
        name="drain_parquet",
        container="parquet",
        # Chosen by the file name (``.parquet``): a batch of Supabase's S3 log drain, read by
        # reader.read_drain_parquet (the body's flattened keys become the dotted fields).
        recognise=lambda doc, path: False,
        flatten=lambda row: row,
        timestamp="Parquet timestamp (microseconds, UTC)",
    ),
    Shape(
        name="table_csv",
        container="csv",
        recognise=lambda cols, path: table_kind_of(cols, path) is not None,
        timestamp="ISO 8601 with a zone",
        table=True,
    ),
    Shape(
        name="table_json",
        container="json",
        # Chosen by the reader before the other JSON shapes (reader.json_table): a list of
        # rows whose keys are a table's columns, as the SQL editor downloads a query's result.
        recognise=lambda doc, path: False,
        timestamp="ISO 8601 with a zone",
        table=True,
    ),
    Shape(
        name="table_sql",
        container="sql",
        # Read by analysis.ingest.sqlfile (chosen by the file name, ``.sql``): the INSERT and
        # COPY rows of Studio's table editor "Export as SQL" and ``supabase db dump``.
        recognise=lambda doc, path: False,
        timestamp="ISO 8601 with a zone",
        table=True,
    ),
    Shape(
        name="unified_csv",
        container="csv",
        recognise=lambda cols, path: "log_type" in set(cols),
        rows=csv_records,
        flatten=lambda row: read_unified_row(flatten_csv_row(row)),
        fields={"postgres_logs": {"sql_state": ("status",)}},
        timestamp="``timestamp`` microseconds and ``date`` ISO 8601 with Z",
        per_row_source=True,
    ),
    Shape(
        name="page_csv",
        container="csv",
        recognise=_is_page_csv,
        rows=csv_records,
        flatten=flatten_csv_row,
        flavour=page_flavour,
    ),
    Shape(
        name="explorer_csv",
        container="csv",
        recognise=lambda cols, path: (
            bool(set(cols) & _LOG_COLUMNS)
            and (bool(set(cols) & _LOG_EVIDENCE) or path.parent.name in LOG_KINDS)
        ),
        rows=csv_records,
        flatten=flatten_csv_row,
    ),
)


def drain_field_names() -> list[str]:
    """Every column name a log source's fields are read from (a Loki payload's keys map here)."""
    return sorted({name for kind in FIELDS.values() for names in kind.values() for name in names})


def shape_named(name: str) -> Shape:
    """Return the registered shape called ``name``."""
    for shape in SHAPES:
        if shape.name == name:
            return shape
    raise KeyError(name)


def recognise_json(doc, path: Path) -> Shape:
    """Return the shape of a parsed JSON export (first registered shape that recognises it)."""
    for shape in SHAPES:
        if shape.container == "json" and shape.recognise(doc, path):
            return shape
    if isinstance(doc, dict):
        raise IngestError(
            path,
            "unknown JSON document",
            expected='a Management API envelope {"result": [...], "error": null} or a list of rows',
            found=f"an object with keys {sorted(doc)[:6]}",
        )
    raise IngestError(
        path, "unknown JSON document", expected="an object or a list", found=type(doc).__name__
    )


def recognise_csv(columns: Iterable[str], path: Path, rel: str | None = None) -> Shape:
    """Return the shape of a CSV export from its header (first registered shape that fits).

    Raises
    ------
    IngestError
        No shape fits: a table's export with a column missing names the column; anything
        else (an app's own table exported beside the others) is named with its columns and
        how to leave it out (``rel``: its path in the directory, for the hint).
    """
    cols = list(columns)
    for shape in SHAPES:
        if shape.container == "csv" and shape.recognise(cols, path):
            return shape
    # A table CSV with a column missing: name what is missing rather than "unknown file".
    for kind, required in TABLE_COLUMNS.items():
        if len(set(required) & set(cols)) >= 2:
            check_columns(path, cols, required, kind)
    shown = ", ".join(cols[:6]) + (", ..." if len(cols) > 6 else "")
    glob = json.dumps(rel or path.name, ensure_ascii=False)
    # Named by its path in the data directory: the form incident.json's "files" takes.
    error = IngestError(
        rel or path,
        f"not a table the analysis reads (columns {shown}), nor a log export (no timestamp,"
        f' event_message or metadata column); to leave it out, add "files": {{{glob}:'
        ' {"kind": "ignore"}} to incident.json',
    )
    # The incident's loader adds the checksum step when SHA256SUMS lists incident.json.
    error.edits_manifest = True
    raise error
