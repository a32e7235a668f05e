"""An independent Python port of the code that writes a Supabase user's exports (test helper).

Each function reproduces what one writer in Supabase's own code does with the rows it is given,
so that a test can push the shipped incident's raw rows through it and check that ingest reads
the result exactly. It shares no code with ``analysis`` (nor with the other test writers): the
package must not be tested with its own idea of the format. docs/supabase-exports.md §7 names the
upstream files each port follows and what each writer does to a value.

Writers ported:

- PapaParse 5 ``unparse`` (``JsonToCsv`` in papaparse.js), which every Studio CSV goes through;
- JavaScript's ``JSON.stringify`` (compact, and with ``null, 2``) and ``Number.prototype.toString``;
- Studio's ``Results.utils`` (``formatResults`` / ``convertResultsToCSV`` /
  ``convertResultsToJSON``): the Logs Explorer's and the SQL editor's "Download CSV/JSON";
- Studio's table editor "Export to CSV" (``useExportAllRowsAsCsv``) with postgres-meta's value
  types (timestamptz as Postgres's own text, int8 as a number, json parsed);
- the unified Logs page's download (``retrieveUnifiedLogs`` + ``DownloadLogsButton``), for
  its BigQuery query (``UnifiedLogs.queries.bq.ts``) and its ClickHouse one
  (``UnifiedLogs.queries.ts``);
- Chrome's naming of a repeated download (``name (1).csv``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

# --------------------------------------------------------------------------------------------
# JavaScript values
# --------------------------------------------------------------------------------------------


class Undefined:
    """JavaScript's ``undefined``: a key that exists on an object but holds no value."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = Undefined()


class JsDate:
    """A JavaScript ``Date`` (milliseconds since the epoch; NaN is an Invalid Date)."""

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def to_json(self) -> str | None:
        """``Date.prototype.toJSON``: ISO text with milliseconds and ``Z``; null when invalid."""
        if not math.isfinite(self.ms):
            return None
        ms = int(self.ms)
        dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def js_number(value: float | int) -> str:
    """``Number.prototype.toString`` for the values logs hold (integers, short decimals)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:  # JS writes 1e-7 and 1.5e+21 where Python writes 1e-07 and 1.5e+21
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"
    return text


_JS_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _js_escape(match: re.Match) -> str:
    ch = match.group()
    return _JS_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _js_string(text: str) -> str:
    """A JSON string literal as ``JSON.stringify`` writes it (non-ASCII kept as is)."""
    return '"' + _NEEDS_ESCAPE.sub(_js_escape, text) + '"'


def json_stringify(value: object, indent: int | None = None, _level: int = 0) -> str | None:
    """``JSON.stringify(value, null, indent)``; None where JavaScript returns ``undefined``.

    Object keys keep their insertion order; keys holding ``undefined`` are left out of objects
    and written ``null`` inside arrays, as JavaScript does.
    """
    if value is UNDEFINED:
        return None
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, JsDate):
        text = value.to_json()
        return "null" if text is None else _js_string(text)
    pad = "" if indent is None else "\n" + " " * (indent * (_level + 1))
    end = "" if indent is None else "\n" + " " * (indent * _level)
    colon = ":" if indent is None else ": "
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [json_stringify(v, indent, _level + 1) or "null" for v in value]
        return "[" + pad + ("," + pad).join(items) + end + "]"
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            text = json_stringify(item, indent, _level + 1)
            if text is not None:
                items.append(_js_string(str(key)) + colon + text)
        if not items:
            return "{}"
        return "{" + pad + ("," + pad).join(items) + end + "}"
    raise TypeError(f"no JavaScript value for {type(value).__name__}")


def js_typeof_object(value: object) -> bool:
    """``typeof value === 'object'`` (true for null, arrays, objects and Dates)."""
    return value is None or isinstance(value, (dict, list, tuple, JsDate))


# --------------------------------------------------------------------------------------------
# PapaParse 5: Papa.unparse(objects, {columns}) with every other option at its default
# --------------------------------------------------------------------------------------------

#: ``Papa.BAD_DELIMITERS``: a cell holding any of these is quoted.
BAD_DELIMITERS = ("\r", "\n", '"', "\ufeff")


def _papa_safe(value: object) -> str:
    if value is None or value is UNDEFINED:
        return ""
    if isinstance(value, JsDate):
        return (json_stringify(value) or "")[1:25]
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = js_number(value)
    elif isinstance(value, (dict, list, tuple)):
        # Object.prototype.toString: never reached through Studio, which stringifies first.
        text = "[object Object]" if isinstance(value, dict) else ",".join(map(str, value))
    else:
        text = str(value)
    escaped = text.replace('"', '""')
    quote = (
        any(bad in escaped for bad in BAD_DELIMITERS)
        or "," in escaped
        or escaped[:1] == " "
        or escaped[-1:] == " "
    )
    return f'"{escaped}"' if quote else escaped


def papa_unparse(rows: list[dict], columns: list[str] | None = None) -> str:
    """``Papa.unparse(rows, {columns})``: header, ``,``, CRLF between rows, none at the end."""
    fields = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    lines = []
    if fields:
        lines.append(",".join(_papa_safe(f) for f in fields))
    for row in rows:
        lines.append(",".join(_papa_safe(row.get(f, UNDEFINED)) for f in fields))
    return "\r\n".join(lines)


# --------------------------------------------------------------------------------------------
# Studio: Logs Explorer and SQL editor results ("Download CSV" / "Download JSON")
# --------------------------------------------------------------------------------------------


def format_results(rows: list[dict]) -> list[dict]:
    """``formatResults``: every ``typeof 'object'`` value (null included) ``JSON.stringify``-ed."""
    return [
        {k: (json_stringify(v) if js_typeof_object(v) else v) for k, v in row.items()}
        for row in rows
    ]


def results_csv(rows: list[dict]) -> str | None:
    """``convertResultsToCSV``: the first row's keys are the columns; None when empty."""
    if not rows:
        return None
    return papa_unparse(format_results(rows), list(rows[0]))


def results_json(rows: list[dict]) -> str | None:
    """``convertResultsToJSON``: ``JSON.stringify(results, null, 2)``; None when empty."""
    if not rows:
        return None
    return json_stringify(rows, indent=2)


def explorer_file_name(ref: str, ext: str) -> str:
    """The Logs Explorer passes ``supabase-logs-<ref>.csv`` and the button appends ``.<ext>``."""
    return f"supabase-logs-{ref}.csv.{ext}"


def repeated_download_names(name: str, count: int) -> list[str]:
    """Chrome's names for ``count`` downloads of one file name: ``a.csv``, ``a (1).csv``, ..."""
    stem, dot, ext = name.rpartition(".")
    return [name] + [f"{stem} ({i}){dot}{ext}" for i in range(1, count)]


# --------------------------------------------------------------------------------------------
# Studio: table editor "Export to CSV" over postgres-meta's values
# --------------------------------------------------------------------------------------------


def pg_timestamptz_text(ts: datetime) -> str:
    """Postgres's output of a timestamptz in a UTC session: trailing zeros of the fraction cut."""
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%d %H:%M:%S")
    if ts.microsecond:
        text += "." + f"{ts.microsecond:06d}".rstrip("0")
    return text + "+00"


def table_editor_csv(rows: list[dict], columns: list[str]) -> str | None:
    """``useExportAllRowsAsCsv``: non-null objects stringified, then ``Papa.unparse`` by the
    table's columns (a null cell is empty); None for a table without rows (Studio's toast)."""
    if not rows:
        return None
    formatted = [
        {
            k: (json_stringify(v) if isinstance(v, (dict, list, tuple, JsDate)) else v)
            for k, v in row.items()
        }
        for row in rows
    ]
    return papa_unparse(formatted, columns)


def table_editor_file_name(table: str) -> str:
    return f"{table}_rows.csv"


def sql_editor_file_name(snippet: str, ext: str) -> str:
    """The SQL editor names a result download after its snippet (``Supabase Snippet <name>``)."""
    return f"Supabase Snippet {snippet}.{ext}"


# --------------------------------------------------------------------------------------------
# Studio: the unified Logs page (query projection, then retrieveUnifiedLogs, then the button)
# --------------------------------------------------------------------------------------------


def _one(value: object) -> dict:
    """BigQuery's ``cross join unnest(x)``: the single record of a one-element list."""
    if isinstance(value, list):
        return value[0] if value else {}
    return value or {}


def unified_bq_projection(source: str, row: dict) -> dict | None:
    """One row of ``UnifiedLogs.queries.bq.ts``'s CTE for a ``logs.all`` row of ``source``.

    Returns None for rows the query drops (an inner ``unnest`` of an empty list) and for
    sources it does not union (Realtime has no branch on the BigQuery page).
    """
    meta = _one(row.get("metadata"))
    if source == "edge_logs":
        req, resp = _one(meta.get("request")), _one(meta.get("response"))
        if not req or not resp:
            return None
        status = resp.get("status_code")
        path = req.get("path")
        if path is not None and "/rest/" in path:
            log_type = "postgrest"
        elif path is not None and "/storage/" in path:
            log_type = "storage"
        else:
            log_type = "edge"
        if status is None:
            level = "success"
        elif 200 <= status <= 299:
            level = "success"
        elif 400 <= status <= 499:
            level = "warning"
        elif status >= 500:
            level = "error"
        else:
            level = "success"
        return {
            "id": row["id"],
            "source_id": None,
            "timestamp": row["timestamp"],
            "log_type": log_type,
            "status": None if status is None else str(status),
            "level": level,
            "pathname": path,
            "event_message": None,
            "method": req.get("method"),
            "log_count": None,
            "logs": None,
        }
    if source == "postgres_logs":
        parsed = _one(meta.get("parsed"))
        if not parsed:
            return None
        severity = parsed.get("error_severity")
        level = {"LOG": "success", "WARNING": "warning", "FATAL": "error", "ERROR": "error"}
        return {
            "id": row["id"],
            "source_id": None,
            "timestamp": row["timestamp"],
            "log_type": "postgres",
            "status": parsed.get("sql_state_code"),
            "level": level.get(severity),
            "pathname": None,
            "event_message": row.get("event_message"),
            "method": None,
            "log_count": None,
            "logs": None,
        }
    return None


def _otel_attributes(source: str, row: dict) -> dict:
    """The ``log_attributes`` map Logflare's ClickHouse mapping gives the same event.

    Logflare's ``for_log`` mapping (``clickhouse_adaptor/mapping_defaults.ex``) flattens the
    event's body into ``log_attributes`` minus ``id``, ``event_message`` and ``timestamp``,
    lifting ``metadata``'s children to the top (``flatten_and_stringify`` in
    ``native/mapper_ex/src/mapper.rs``): nested objects become dotted keys, scalars text, a
    list of scalars its JSON, nulls are left out. The event reached BigQuery as the same
    objects, stored as one-element lists of records; those are objects again here.
    """
    out: dict[str, str] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, list):
            if value and isinstance(value[0], dict):
                walk(prefix, value[0])
            elif value:
                out[prefix] = json_stringify(value) or ""
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
            return
        if value is None:
            return
        if isinstance(value, bool):
            out[prefix] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            out[prefix] = js_number(value)
        else:
            out[prefix] = str(value)

    walk("", row.get("metadata"))
    for key, value in row.items():
        if key not in ("id", "event_message", "timestamp", "metadata") and key not in out:
            walk(key, value)
    return out


def clickhouse_log_row(source: str, row: dict) -> dict:
    """A BigQuery-era row as ``select id, timestamp, event_message, source, severity_text,
    log_attributes from logs`` returns it on a ClickHouse project (Management API)."""
    attrs = _otel_attributes(source, row)
    meta = _one(row.get("metadata"))
    level = meta.get("level") or _one(meta.get("parsed")).get("error_severity") or "INFO"
    return {
        "id": row["id"],
        "timestamp": clickhouse_timestamp(row["timestamp"]),
        "event_message": row.get("event_message"),
        "source": source,
        "severity_text": str(level).upper(),
        "log_attributes": attrs,
    }


def unified_otel_projection(source: str, row: dict) -> dict | None:
    """One row of ``UnifiedLogs.queries.ts`` (ClickHouse ``logs``) for a row of ``source``.

    ``toString`` of a missing map key is the empty string; the level comes from the HTTP
    status when there is one, else from ``severity_text``.
    """
    attrs = _otel_attributes(source, row)
    status_attr = attrs.get("response.status_code", "")
    path = attrs.get("request.path", "")
    if source == "edge_logs":
        if "/rest/" in path:
            log_type = "postgrest"
        elif "/storage/" in path:
            log_type = "storage"
        else:
            log_type = "edge"
        severity = "INFO"
    elif source == "postgres_logs":
        log_type = "postgres"
        severity = attrs.get("parsed.error_severity", "")
    elif source == "realtime_logs":
        log_type = "realtime"
        severity = attrs.get("level", "").upper()
    else:
        return None
    status = attrs.get("parsed.sql_state_code", "") if source == "postgres_logs" else status_attr
    code = int(status_attr) if status_attr.lstrip("-").isdigit() else 0
    if status_attr != "" and code >= 500:
        level = "error"
    elif status_attr != "" and 400 <= code <= 499:
        level = "warning"
    elif status_attr != "" and 200 <= code <= 299:
        level = "success"
    elif severity in ("ERROR", "FATAL", "CRITICAL", "ALERT", "EMERGENCY"):
        level = "error"
    elif severity in ("WARN", "WARNING"):
        level = "warning"
    else:
        level = "success"
    return {
        "id": row["id"],
        "source_id": None,
        "timestamp": row["timestamp"],
        "log_type": log_type,
        "status": status,
        "level": level,
        "pathname": attrs.get("request.path", ""),
        "event_message": row.get("event_message"),
        "method": attrs.get("request.method", ""),
        "log_count": None,
        "logs": None,
    }


def _or(value: object, default: object) -> object:
    """JavaScript's ``value || default`` (falsy: null, undefined, '', 0, false, NaN)."""
    if value is None or value is UNDEFINED or value == "" or value is False:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value == 0 or (isinstance(value, float) and math.isnan(value)):
            return default
    return value


def retrieve_unified_logs(result: list[dict]) -> list[dict]:
    """``retrieveUnifiedLogs``: each row of the query's result as the page keeps it."""
    out = []
    for row in result:
        ts = row.get("timestamp")
        try:
            ms = float(ts) / 1000 if ts is not None else float("nan")
        except (TypeError, ValueError):
            ms = float("nan")
        url = _or(row.get("url", UNDEFINED), "")
        pathname = url
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            rest = url.split("://", 1)[1]
            pathname = rest[rest.find("/") :] if "/" in rest else ""
        headers = row.get("headers", UNDEFINED)
        if isinstance(headers, str):
            headers = json.loads(headers or "{}")
        region = row.get("region", UNDEFINED)
        out.append(
            {
                "id": row.get("id", UNDEFINED),
                "date": JsDate(ms if ms == ms else float("nan")),
                "timestamp": row.get("timestamp", UNDEFINED),
                "level": row.get("level", UNDEFINED),
                "status": _or(row.get("status", UNDEFINED), 200),
                "method": row.get("method", UNDEFINED),
                "host": row.get("host", UNDEFINED),
                "pathname": _or(pathname, _or(row.get("pathname", UNDEFINED), "")),
                "event_message": _or(
                    row.get("event_message", UNDEFINED), _or(row.get("body", UNDEFINED), "")
                ),
                "headers": _or(headers, {}),
                "regions": [region] if _or(region, None) is not None else [],
                "log_type": _or(row.get("log_type", UNDEFINED), ""),
                "latency": _or(row.get("latency", UNDEFINED), 0),
                "log_count": _or(row.get("log_count", UNDEFINED), None),
                "logs": _or(row.get("logs", UNDEFINED), []),
                "auth_user": _or(row.get("auth_user", UNDEFINED), None),
            }
        )
    return out


def unified_csv(rows: list[dict]) -> str | None:
    """``DownloadLogsButton`` CSV: ``typeof 'object'`` cells stringified; nothing when empty."""
    if not rows:
        return None
    headers = list(rows[0])
    formatted = [
        {k: (json_stringify(v) if js_typeof_object(v) else v) for k, v in row.items()}
        for row in rows
    ]
    return papa_unparse(formatted, headers)


def clickhouse_timestamp(us: int) -> str:
    """A ``DateTime64(6)`` as Logflare's ClickHouse backend returns it: naive ISO, 6 digits."""
    dt = datetime.fromtimestamp(us // 1_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{us % 1_000_000:06d}"


def unified_json(rows: list[dict]) -> str:
    """``DownloadLogsButton`` JSON: ``JSON.stringify(res, null, 2)``."""
    return json_stringify(rows, indent=2) or ""


UNIFIED_FILE_NAMES = {"csv": "supabase_logs.csv", "json": "supabase_logs.json"}
