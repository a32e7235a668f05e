"""The SQL a fetch sends: query files, the window predicate, pages, counts per piece and minute."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources

from analysis._util import epoch_us, from_epoch_us
from analysis.exceptions import FetchError

ROW_CAP = 1000


SOURCES = ("edge_logs", "postgres_logs", "realtime_logs")
FLAVOURS = ("bigquery", "clickhouse")
MODES = ("raw", "hybrid")
# Which query fetches each source's raw rows, per mode: the source's raw query
# (queries/<source>_raw.<flavour>.sql), or in hybrid mode that query narrowed to the evidence.
RAW_KINDS = {
    "raw": {source: "raw" for source in SOURCES},
    "hybrid": {source: "evidence" for source in SOURCES},
}
# Hybrid mode's evidence rows: each source's raw query (same columns, same paging) with one more
# condition, (joins to reach the field, condition) per flavour. Edge: failed requests; Postgres:
# ERROR/FATAL/PANIC lines (routine LOG lines left out); Realtime: every line but the billing
# samples, which come per minute (realtime_connections_per_minute). queries/README.md gives the
# same lines for running these by hand.
EVIDENCE_FILTERS = {
    "edge_logs": {
        "bigquery": (
            "cross join unnest(t.metadata) as m cross join unnest(m.response) as res",
            "res.status_code >= 400",
        ),
        "clickhouse": ("", "toInt32OrZero(log_attributes['response.status_code']) >= 400"),
    },
    "postgres_logs": {
        "bigquery": (
            "cross join unnest(t.metadata) as m cross join unnest(m.parsed) as p",
            "p.error_severity in ('ERROR', 'FATAL', 'PANIC')",
        ),
        "clickhouse": (
            "",
            "log_attributes['parsed.error_severity'] in ('ERROR', 'FATAL', 'PANIC')",
        ),
    },
    "realtime_logs": {
        "bigquery": ("", "not regexp_contains(t.event_message, '^Billing metrics')"),
        "clickhouse": ("", "not startsWith(event_message, 'Billing metrics')"),
    },
}
# Hybrid mode's aggregates: name -> (source, query file stem, the column counting the rows that
# went into a row). Each minute's rows must sum to the log store's count of that minute.
AGGREGATES = {
    "edge_minutes": ("edge_logs", "edge_logs_traffic_per_minute", "requests"),
    "edge_users": ("edge_logs", "edge_logs_users_per_minute", "requests"),
    "realtime_minutes": ("realtime_logs", "realtime_connections_per_minute", "samples"),
}


def load_query(source: str, flavour: str, kind: str = "raw") -> str:
    """Return the text of ``queries/<source>_<kind>.<flavour>.sql``.

    ``kind="evidence"`` is the raw query narrowed by :data:`EVIDENCE_FILTERS` (hybrid mode).
    """
    if kind == "evidence":
        return evidence_sql(source, flavour)
    return load_sql(f"{source}_{kind}", flavour)


def evidence_sql(source: str, flavour: str) -> str:
    """Return the source's raw query narrowed to hybrid mode's evidence rows."""
    parts = split_sql(load_sql(f"{source}_raw", flavour))
    joins, condition = EVIDENCE_FILTERS[source][flavour]
    return _join_sql({**parts, "from": f"{parts['from']} {joins}".strip()}, condition)


def load_sql(stem: str, flavour: str) -> str:
    """Return the text of ``queries/<stem>.<flavour>.sql``."""
    name = f"{stem}.{flavour}.sql"
    try:
        return resources.files("analysis").joinpath("queries", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FetchError(
            f"query {name}: no such file in analysis/queries; expected a source among "
            f"{', '.join(SOURCES)} and a flavour among {', '.join(FLAVOURS)}"
        ) from None


def strip_sql_comments(sql: str) -> str:
    """Drop ``--`` comment lines and blank lines; the API receives only the statement."""
    lines = [line.rstrip() for line in sql.splitlines()]
    return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("--"))


def sql_timestamp(flavour: str, value: datetime) -> str:
    """Return a timestamp literal the flavour compares with its ``timestamp`` column."""
    if flavour == "bigquery":
        return f"timestamp_micros({epoch_us(value)})"
    return f"toDateTime64('{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


def sql_string(value: str) -> str:
    """Return a single-quoted string literal (ids come from the API, so they are escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def window_predicate(
    flavour: str, left: datetime, right: datetime, after: tuple[int, str] | None = None
) -> str:
    """Return the SQL condition for rows in ``[left, right)`` after the key ``after = (µs, id)``."""
    column, ident = ("t.timestamp", "t.id") if flavour == "bigquery" else ("timestamp", "id")
    parts = [
        f"{column} >= {sql_timestamp(flavour, left)}",
        f"{column} < {sql_timestamp(flavour, right)}",
    ]
    if after is not None:
        stamp = sql_timestamp(flavour, from_epoch_us(after[0]))
        parts.append(
            f"({column} > {stamp} or ({column} = {stamp} and {ident} > {sql_string(after[1])}))"
        )
    return " and ".join(parts)


_SQL_PARTS_RE = re.compile(
    r"^\s*select\s+(?P<select>.+?)\s+from\s+(?P<from>.+?)"
    r"(?:\s+where\s+(?P<where>.+?))?(?:\s+group\s+by\s+(?P<group>.+?))?"
    r"(?:\s+order\s+by\s+(?P<order>.+?))?\s+limit\s+(?P<limit>\d+)\s*$",
    re.IGNORECASE | re.DOTALL,
)


def split_sql(sql: str) -> dict[str, str | None]:
    """Return the clauses of one of our queries (select, from, where, group, order, limit)."""
    found = _SQL_PARTS_RE.match(strip_sql_comments(sql))
    if not found:
        raise FetchError(
            "query: expected select ... from ... [where ...] [group by ...] [order by ...] "
            f"limit N, found {strip_sql_comments(sql)[:80]!r}"
        )
    return found.groupdict()


def _join_sql(parts: dict[str, str | None], predicate: str) -> str:
    where = f"({parts['where']}) and {predicate}" if parts["where"] else predicate
    lines = [f"select {parts['select']}", f"from {parts['from']}", f"where {where}"]
    if parts["group"]:
        lines.append(f"group by {parts['group']}")
    if parts["order"]:
        lines.append(f"order by {parts['order']}")
    lines.append(f"limit {parts['limit']}")
    return "\n".join(lines)


def page_sql(
    sql: str,
    flavour: str,
    left: datetime,
    right: datetime,
    after: tuple[int, str] | None = None,
) -> str:
    """Restrict ``sql`` to ``[left, right)`` and to rows after the key ``after``."""
    return _join_sql(split_sql(sql), window_predicate(flavour, left, right, after))


def count_sql(sql: str, flavour: str, left: datetime, right: datetime) -> str:
    """Count the rows ``sql`` selects in ``[left, right)``, as one row ``{"n": ...}``."""
    parts = split_sql(sql)
    count = "count(*)" if flavour == "bigquery" else "count()"
    return _join_sql(
        {**parts, "select": f"{count} as n", "group": None, "order": None, "limit": "1"},
        window_predicate(flavour, left, right),
    )


def minute_count_sql(sql: str, flavour: str, left: datetime, right: datetime) -> str:
    """Count the rows of ``sql`` per minute in ``[left, right)`` (at most 1000 minutes)."""
    parts = split_sql(sql)
    if flavour == "bigquery":
        select, group = "timestamp_trunc(t.timestamp, minute) as minute, count(*) as n", "minute"
    else:
        select, group = "toStartOfMinute(timestamp) as minute, count() as n", "minute"
    return _join_sql(
        {**parts, "select": select, "group": group, "order": "minute", "limit": str(ROW_CAP)},
        window_predicate(flavour, left, right),
    )
