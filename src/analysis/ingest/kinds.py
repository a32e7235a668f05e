"""What an incident directory holds: log sources, table exports, flavours, and their names.

Shared by every ingest module; holds only constants and the two small records passed between
the readers and the canonicaliser.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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
#: Per-minute aggregates a hybrid fetch writes under ``traffic/`` (analysis.ingest.aggregates).
AGGREGATE_KINDS = ("edge_minutes", "edge_users", "realtime_minutes")
KINDS = (*LOG_KINDS, *TABLE_KINDS, *AGGREGATE_KINDS, "ignore")
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
#: Required columns of each table-editor CSV (docs/contract.md section 1).
TABLE_COLUMNS = {
    "webinars": ("id", "title", "starts_at", "ends_at", "status"),
    # No ``id``: the shipped table's primary key is (webinar_id, user_id), which is why the
    # app's ``registrations.id`` query fails with 42703. An ``id`` column is used when present.
    "registrations": ("webinar_id", "user_id", "created_at"),
    "webinar_live_presence": ("webinar_id", "user_id", "session_id", "joined_at", "left_at"),
    "webinar_viewer_counts": ("webinar_id", "sampled_at", "viewer_count"),
}
#: Canonical tables, in the order they are reported.
TABLE_NAMES = (
    "requests",
    "db_errors",
    "realtime_events",
    "concurrency",
    "sessions",
    "registrations",
    "webinars",
)
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
#: Reasons that are filters rather than malformed rows; they never make a file "bad".
FILTER_REASONS = (
    "outside window",
    "duplicate id",
    "unknown webinar",
    "not an error",
    "unsupported log source",
    "table not analysed",
    "another project",
)


@dataclass(frozen=True)
class Override:
    """A manifest override for the files matching one glob.

    ``default`` marks a flavour that only comes from the manifest's global ``flavour``: a
    default for files whose content does not tell theirs, never over content that does (a
    ClickHouse-era unified download kept beside a BigQuery project's pages).
    """

    kind: str | None = None
    flavour: str | None = None
    default: bool = False


@dataclass
class FilePart:
    """Flat records of one kind read from one file, before canonicalisation.

    ``shape`` names the entry of :data:`analysis.ingest.shapes.SHAPES` that read the file; its
    field map and timestamp parser are applied to this part. A part built from many pages at
    once has ``file == ""`` and a categorical ``_file`` column instead.
    """

    file: str
    kind: str
    shape: str
    flavour: str | None
    frame: pd.DataFrame  # dotted columns + _row (+ _reject, _found)
    #: Zone-less times are UTC although the flavour is not ClickHouse: a flat projection whose
    #: every time is such text (a BigQuery query's ``cast(timestamp as datetime)``).
    naive_utc: bool = False


#: Metadata keys only Edge Functions' own sources have (``function_edge_logs``: one row per
#: invocation, ``function_logs``: the function's console). Their request rows repeat the
#: gateway's ``/functions/v1`` rows of ``edge_logs``, so reading them as requests would count
#: every invocation twice; they are counted as a source the package does not analyse.
FUNCTION_KEYS = ("function_id", "execution_id", "deployment_id")


def match_override(rel: str, overrides: dict[str, Override]) -> Override:
    """Return the override of the first glob matching ``rel`` (or an empty one)."""
    for pattern, ov in overrides.items():
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(Path(rel).name, pattern):
            return ov
    return Override()
