"""ClickHouse-flavour log rows from BigQuery-flavour ones: the one writer of that shape.

Projects on Supabase's current log store keep one table ``logs`` whose ``log_attributes`` is
a flat map from dotted key to text (docs/supabase-exports.md section 1). The package's raw
ClickHouse queries (``queries/*_raw.clickhouse.sql``) select each attribute they use as its
own column, ``nullIf(log_attributes['k'], '') as `k```; a Management API page of such a query
holds those columns. The loopback Management API of the tests and the ingest benchmark both
make their ClickHouse rows here, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The common columns every ClickHouse row of ``logs`` carries besides its attributes.
COMMON_COLUMNS = ("id", "timestamp", "event_message", "severity_text", "source")
_SELECTED_RE = re.compile(r"nullIf\(log_attributes\['([^']+)'\], ''\) as `([^`]+)`")


def flatten_attributes(metadata) -> dict[str, str]:
    """Flatten BigQuery ``metadata`` to ``log_attributes``: dotted keys, text values.

    Every one-element list around a record is unwrapped (``metadata[0].request[0].path``
    becomes ``request.path``); missing values are left out, other values become text.
    """
    out: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            value = value[0]
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif value is not None:
            out[prefix] = str(value)

    walk("", metadata)
    return out


def clickhouse_time(micros: int) -> str:
    """Return BigQuery's integer microseconds as ClickHouse's zone-less UTC text."""
    stamp = _EPOCH + timedelta(microseconds=micros)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")


def clickhouse_row(row: dict, source: str) -> dict:
    """Return the ClickHouse ``logs`` row of a BigQuery-flavour row of ``source``."""
    attributes = flatten_attributes(row["metadata"])
    # Columns of BigQuery's tables that ClickHouse's ``logs`` lacks become attributes (Studio's
    # field reference maps ``identifier`` to ``log_attributes['identifier']``).
    if row.get("identifier") is not None:
        attributes["identifier"] = str(row["identifier"])
    return {
        "id": row["id"],
        "timestamp": clickhouse_time(row["timestamp"]),
        "event_message": row["event_message"],
        "severity_text": "ERROR" if attributes.get("level") == "error" else "INFO",
        "source": source,
        "log_attributes": attributes,
    }


def selected_attributes(sql: str) -> list[tuple[str, str]]:
    """Return the (attribute key, column alias) pairs a ClickHouse query selects."""
    return _SELECTED_RE.findall(sql)


def project_row(row: dict, selected: list[tuple[str, str]]) -> dict:
    """Return what a query selecting ``selected`` answers for one ``logs`` row.

    The common columns, then each selected attribute under its alias, null where the row
    lacks it or holds an empty text (``nullIf(..., '')``).
    """
    out = {name: row[name] for name in COMMON_COLUMNS}
    attributes = row["log_attributes"]
    for key, alias in selected:
        out[alias] = attributes.get(key) or None
    return out
