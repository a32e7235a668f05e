"""Rows of the payloads Supabase's log drains send to other vendors (Loki, Datadog).

Logflare, which stores a project's logs, forwards them through adaptors; two of them wrap
each event in another vendor's envelope (docs/supabase-exports.md §12). A payload saved by a
receiver the user runs is read here as the rows it carries; each row is the stored event
(id, microseconds, message, metadata) as the other drains carry it, so the shape registry
flattens and maps it like an Explorer JSON row.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from analysis.exceptions import IngestError
from analysis.ingest.files import require_list

#: The leading key of every Loki value's structured metadata (the event's ``metadata``).
_LOKI_ROOT = "metadata_"
#: How a null reaches a Loki value (Elixir's ``nil`` stringified), and an empty one.
_LOKI_NULLS = ("", "nil")
#: Nested records, innermost first, whose keys keep their own underscores once the record's
#: path is dotted: a header's name (``cf_connecting_ip``), a metric's, a module's.
_LOKI_RECORDS = tuple(
    (path.replace(".", "_") + "_", path + ".")
    for path in (
        "request.headers",
        "response.headers",
        "request.sb",
        "request.cf",
        "request",
        "response",
        "parsed",
        "measurements",
        "context",
        "auth_event",
    )
)


def is_loki_push(doc) -> bool:
    """Tell a Loki push payload ``{"streams": [{"stream": {...}, "values": [...]}]}``."""
    return isinstance(doc, dict) and "streams" in doc and "result" not in doc


def loki_key(key: str, known: dict[str, str]) -> str:
    """Return the dotted field name of a key of Loki's structured metadata.

    The adaptor flattens the event with ``_`` between levels, so ``request.path`` arrives as
    ``metadata_request_path`` and cannot be split on ``_`` alone (``status_code``): a field
    ingest reads is found by its flattened spelling (``known``), any other keeps its record
    root (``request.headers_x`` still tells a gateway row) and the rest of its name.
    """
    name = key.removeprefix(_LOKI_ROOT)
    if name in known:
        return known[name]
    for flat, dotted in _LOKI_RECORDS:
        if name.startswith(flat):
            return dotted + name[len(flat) :]
    return name


def loki_rows(doc: dict, path: Path, fields: Iterable[str]) -> list[dict]:
    """Return the events of a Loki push payload as rows (one per stream value).

    Each value is ``[nanoseconds as text, event message, structured metadata]``; the time
    becomes microseconds (Logflare writes microseconds times 1000) and every metadata value
    is text. A value or stream of another form is a row rejected with its reason.

    Raises
    ------
    IngestError
        ``streams`` is not a list.
    """
    streams = require_list(
        doc["streams"],
        path,
        field="streams",
        problem="bad Loki push payload",
        expected="a list of streams",
    )
    known = {name.replace(".", "_"): name for name in fields}
    rows: list[dict] = []
    for stream in streams:
        values = stream.get("values") if isinstance(stream, dict) else None
        if not isinstance(values, list):
            reason = "bad Loki stream (expected an object with a list of values)"
            rows.append({"_reject": reason, "_found": repr(stream)[:60]})
            continue
        rows.extend(loki_row(value, known) for value in values)
    return rows


def loki_row(value, known: dict[str, str]) -> dict:
    """One Loki stream value as an event row (or a rejected row)."""
    ok = isinstance(value, list) and len(value) in (2, 3) and isinstance(value[0], str)
    meta = value[2] if ok and len(value) == 3 else {}
    if not ok or not isinstance(meta, dict) or not isinstance(value[1], str):
        reason = "bad Loki value (expected [nanoseconds, line, metadata])"
        return {"_reject": reason, "_found": repr(value)[:60]}
    stamp = value[0]
    # Logflare stringifies every value; a null becomes Elixir's ``nil``.
    row: dict = {loki_key(k, known): (None if v in _LOKI_NULLS else v) for k, v in meta.items()}
    # Nanoseconds from microseconds: whole thousands. Any other text reaches the time parser,
    # which names it.
    row["timestamp"] = int(stamp) // 1000 if stamp.isdigit() and len(stamp) == 19 else stamp
    row["event_message"] = value[1]
    return row


def is_datadog_batch(doc) -> bool:
    """Tell a batch of the Datadog drain: rows ``{"ddsource", "service", "message", "data"}``."""
    return isinstance(doc, list) and any(
        isinstance(r, dict) and "ddsource" in r and "data" in r for r in doc[:50]
    )


def datadog_rows(doc: list, path: Path) -> list[dict]:
    """Return the events of a Datadog drain batch: each entry's ``data`` is the event."""
    rows = []
    for entry in doc:
        event = entry.get("data") if isinstance(entry, dict) else None
        if isinstance(event, dict):
            rows.append(event)
        else:
            reason = "bad Datadog entry (expected the event under data)"
            rows.append({"_reject": reason, "_found": repr(entry)[:60]})
    return rows


def is_otlp_logs(doc) -> bool:
    """Tell OTLP/JSON logs: ``{"resourceLogs": [...]}``, or a list of them (JSON Lines).

    What the OTLP drain sends is protobuf; a collector of the user's own writes the same
    request as OTLP/JSON (its file exporter: one request a line).
    """
    if isinstance(doc, dict):
        return "resourceLogs" in doc and "result" not in doc
    return (
        isinstance(doc, list)
        and bool(doc)
        and all(isinstance(d, dict) and "resourceLogs" in d for d in doc[:50])
    )


def any_value(value):
    """Return an OTLP/JSON ``AnyValue`` as the plain value (an empty one is None)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:  # OTLP/JSON writes 64-bit integers as decimal text
        number = value["intValue"]
        text = str(number)
        return int(text) if text.lstrip("-").isdigit() else number
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "kvlistValue" in value:
        pairs = (value["kvlistValue"] or {}).get("values") or []
        return {kv.get("key"): any_value(kv.get("value")) for kv in pairs if isinstance(kv, dict)}
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    return value.get("bytesValue")


def _nest(row: dict, key: str, value) -> None:
    """Put a dotted attribute (``metadata.response.status_code``) back into its records."""
    *parents, leaf = key.split(".")
    here = row
    for part in parents:
        child = here.setdefault(part, {})
        if not isinstance(child, dict):  # a scalar and a record of one name: keep it flat
            row[key] = value
            return
        here = child
    here[leaf] = value


def otlp_row(record) -> dict:
    """One OTLP log record as an event row (or a rejected row).

    Logflare's formatter (``otlp_adaptor/protobuf_formatter.ex``) puts the event but its time
    and message into ``body`` as a key-value list, the message into ``eventName`` and the
    time, microseconds times 1000, into ``timeUnixNano``; with ``flatten_to_attributes`` the
    body is the message and the rest dotted ``attributes``, put back into records here.
    """
    if not isinstance(record, dict):
        return {"_reject": "bad OTLP log record (expected an object)", "_found": repr(record)[:60]}
    body = any_value(record.get("body"))
    row: dict = dict(body) if isinstance(body, dict) else {}
    for kv in record.get("attributes") or []:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            _nest(row, kv["key"], any_value(kv.get("value")))
    message = record.get("eventName") or (body if isinstance(body, str) else None)
    row.setdefault("event_message", message)
    stamp = record.get("timeUnixNano")
    text = str(stamp) if isinstance(stamp, (str, int)) else ""
    # Nanoseconds from microseconds: whole thousands. Any other value reaches the time parser.
    row["timestamp"] = int(text) // 1000 if text.isdigit() and len(text) == 19 else stamp
    return row


#: Where a row names its project (shapes.PROJECT_NAMES), at its root or in its metadata.
_PROJECT_KEYS = ("identifier", "project", "external_id")


def resource_project(resource) -> str | None:
    """Return the project reference an OTLP resource names (``service.namespace``), or None.

    Logflare's formatter (``otlp_adaptor/protobuf_formatter.ex``, 533ca9f on) describes the
    customer's source: ``service.name`` its name, ``service.namespace`` the log drain's
    project ref. Earlier versions described Logflare itself (``name``, ``service``, ``node``,
    ``cluster``: 39356b6 to 9d4eae2) and name no project.
    """
    attributes = resource.get("attributes") if isinstance(resource, dict) else None
    for kv in attributes if isinstance(attributes, list) else []:
        if isinstance(kv, dict) and kv.get("key") == "service.namespace":
            value = any_value(kv.get("value"))
            return value if isinstance(value, str) and value else None
    return None


def names_project(row: dict) -> bool:
    """Whether an event row names its project itself (at its root or in ``metadata``)."""
    meta = row.get("metadata")
    return any(row.get(k) is not None for k in _PROJECT_KEYS) or (
        isinstance(meta, dict) and any(meta.get(k) is not None for k in _PROJECT_KEYS)
    )


def otlp_rows(doc, path: Path) -> list[dict]:
    """Return the log records of OTLP/JSON logs (one request, or a list of them) as rows.

    A record that names no project itself takes its resource's (:func:`resource_project`).

    Raises
    ------
    IngestError
        ``resourceLogs`` (or a resource's ``scopeLogs``, a scope's ``logRecords``) is not a
        list.
    """
    rows: list[dict] = []
    for request in doc if isinstance(doc, list) else [doc]:
        resources = require_list(
            request.get("resourceLogs"),
            path,
            field="resourceLogs",
            problem="bad OTLP logs",
            expected="a list of resource logs",
        )
        for resource in resources:
            scopes = resource.get("scopeLogs") if isinstance(resource, dict) else None
            project = resource_project(resource.get("resource")) if scopes else None
            for scope in require_list(
                scopes, path, field="scopeLogs", problem="bad OTLP logs", expected="a list"
            ):
                records = scope.get("logRecords") if isinstance(scope, dict) else None
                for record in require_list(
                    records, path, field="logRecords", problem="bad OTLP logs", expected="a list"
                ):
                    row = otlp_row(record)
                    if project is not None and "_reject" not in row and not names_project(row):
                        row["identifier"] = project
                    rows.append(row)
    return rows


def is_cli_log_stream(doc) -> bool:
    """Tell ``supabase logs --output-format stream-json`` (the CLI's local stack).

    Its events are ``{"type": "log-entry", "service", "stream", "line", ...}``, one a line.
    """
    return isinstance(doc, list) and any(
        isinstance(r, dict) and r.get("type") == "log-entry" and "line" in r and "service" in r
        for r in doc[:50]
    )


def refuse_cli_log_stream(doc: list, path: Path) -> list[dict]:
    """Refuse the CLI's local-stack log events: container output, no field ingest reads.

    Raises
    ------
    IngestError
        Always, naming what the file is.
    """
    raise IngestError(
        path,
        "the local stack's logs (supabase logs --output-format stream-json), not a hosted"
        " project's export",
        expected="the project's log exports (docs/supabase-exports.md §2), or kind 'ignore' in"
        " incident.json files",
        found=f"{len(doc)} log-entry events",
    )
