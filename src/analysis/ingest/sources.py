"""The log sources of a project the analysis does not read: what each is, and how a file names it.

A team exports every log page Studio offers, not only the three the analysis reads
(``edge_logs``, ``postgres_logs``, ``realtime_logs``). Rows of the others are counted as
``unsupported log source <source>``; ``make check`` then says in one line per source what
those rows are and why they are left out (:func:`describe_unread`), so nobody has to guess
whether a file was lost. A Studio log page's download names its page in the file name
(``supabase-<page>-<ref>.csv.csv``), which tells the source of rows whose columns say
nothing of it (a Storage page's ``id, timestamp, event_message``): :func:`page_source`.
docs/supabase-exports.md section 16 gives the sources read for this.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Studio's log pages (``apps/studio/pages/project/[ref]/logs/<page>.tsx``) -> the log
#: source each one lists (its ``LogsTableName``; the cron page is Postgres's, filtered).
STUDIO_PAGES = {
    "edge-logs": "edge_logs",
    "postgres-logs": "postgres_logs",
    "pgcron-logs": "postgres_logs",
    "cron-logs": "postgres_logs",
    "realtime-logs": "realtime_logs",
    "postgrest-logs": "postgrest_logs",
    "pooler-logs": "supavisor_logs",
    "dedicated-pooler-logs": "pgbouncer_logs",
    "auth-logs": "auth_logs",
    "storage-logs": "storage_logs",
    "edge-functions-logs": "function_edge_logs",
    "pg-upgrade-logs": "pg_upgrade_logs",
    "etl-replication-logs": "etl_replication_logs",
    "replication-logs": "etl_replication_logs",
    "multigres-logs": "multigres_logs",
}
#: The download button's name: ``supabase-${logName}-${ref}.csv``, the format appended
#: (``.csv`` or ``.json``) by the button.
_PAGE_FILE_RE = re.compile(r"^supabase-([a-z]+(?:-[a-z]+)*)-[a-z0-9]{20}\.csv(?:\.csv|\.json)?$")
#: A browser's mark of a second download of one name (``name (1).csv``, ``name.csv (1)``).
_COPY_MARK_RE = re.compile(r" \(\d+\)")

#: Each source the analysis does not read: what its rows are, and where what they tell is
#: read instead (or why nothing is).
UNREAD_SOURCES = {
    "auth_logs": (
        "Auth's (GoTrue's) request and audit lines (status, path, msg such as"
        " over_request_rate_limit)",
        "each request to Auth also passed the API gateway, whose edge_logs rows (/auth/v1/...,"
        " status and client address) are read instead",
    ),
    "function_edge_logs": (
        "Edge Functions' invocations (one row per call: status, duration)",
        "the same calls are the gateway's /functions/v1 rows in edge_logs (546 WORKER_LIMIT,"
        " 504 included), read instead",
    ),
    "function_logs": (
        "Edge Functions' console and runtime lines (WORKER_LIMIT, shutdowns)",
        "a failed call is the gateway's /functions/v1 row with its status in edge_logs, read"
        " instead",
    ),
    "storage_logs": (
        "Storage's server lines",
        "its requests are the gateway's /storage/v1 rows in edge_logs, read instead",
    ),
    "postgrest_logs": (
        "PostgREST's server lines",
        "its requests are the gateway's /rest/v1 rows in edge_logs and its failed statements"
        " Postgres's lines in postgres_logs, read instead",
    ),
    "supavisor_logs": (
        "the shared pooler's (Supavisor's) lines, such as 'Max client connections reached'",
        "no analysed table holds a pooler's refusals; the report counts these lines beside"
        " a 5xx capacity class",
    ),
    "pgbouncer_logs": (
        "the dedicated pooler's (PgBouncer's) lines",
        "no analysed table holds a pooler's refusals; the report counts these lines beside"
        " a 5xx capacity class",
    ),
    "etl_replication_logs": (
        "ETL replication pipelines' lines",
        "replication to another store answers no request of the app",
    ),
    "multigres_logs": ("Multigres' lines", "the app's requests and errors are not logged there"),
    "auth_audit_logs": (
        "Auth's audit trail (sign-ins, sign-ups)",
        "the requests behind it are the gateway's /auth/v1 rows in edge_logs, read instead",
    ),
    "pg_upgrade_logs": ("a Postgres upgrade's lines", "an upgrade is maintenance, not traffic"),
}


def page_source(path: Path) -> str | None:
    """Return the log source a Studio log page's download names in its file name, else None.

    ``supabase-storage-logs-<ref>.csv.csv`` is the Storage page's download; the Logs
    Explorer's ``supabase-logs-<ref>.csv.csv`` names no page (its rows say their source).
    """
    found = _PAGE_FILE_RE.match(_COPY_MARK_RE.sub("", path.name))
    return STUDIO_PAGES.get(found.group(1)) if found else None


#: Sources whose requests the gateway's rows stand for (their line says edge_logs is read).
GATEWAY_COVERED = frozenset(
    {"auth_logs", "function_edge_logs", "function_logs", "storage_logs", "postgrest_logs"}
    | {"auth_audit_logs"}
)


def describe_unread(source: str, rows: int, files: list[str], *, gateway: bool = True) -> str:
    """Return the check's one line on a source the analysis does not read.

    ``files`` are the files holding its rows (the first is named, the rest counted);
    ``gateway``: whether the export holds rows of the API gateway (``edge_logs``), which
    stand for the requests of several of these sources: without them the line says so.
    """
    what, why = UNREAD_SOURCES.get(
        source, ("a log source the analysis does not know", "its rows are counted, not read")
    )
    more = f" and {len(files) - 1} more file(s)" if len(files) > 1 else ""
    line = f"not read: {source}, {rows:,} row(s) in {files[0]}{more}: {what}; {why}"
    if not gateway and source in GATEWAY_COVERED:
        line += ", but this export holds no edge_logs row: export the API gateway's logs too"
    return line
