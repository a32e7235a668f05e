"""The log-store aggregates of a hybrid fetch (``traffic/`` pages) into an incident's tables.

``make fetch MODE=hybrid`` keeps the errors as raw rows and the traffic around them as
per-minute aggregates computed by the log store; ``incident.json`` names their kinds
(:data:`~analysis.ingest.kinds.AGGREGATE_KINDS`). Each page is read by
:mod:`analysis.ingest.traffic_pages`; here they become three tables and accounting rows in
the same form as every other file's (a page whose every row fails the same check stops the
run, like any other file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import privacy
from analysis.exceptions import IngestError
from analysis.ingest import traffic_pages
from analysis.ingest.kinds import FILTER_REASONS
from analysis.schemas import ACCOUNTING_COLUMNS

#: Incident attribute -> (page kind, builder of the table from the pages' frames).
TABLES = {
    "traffic": ("edge_minutes", traffic_pages.traffic_table),
    "traffic_users": ("edge_users", traffic_pages.users_table),
    "realtime_minutes": ("realtime_minutes", traffic_pages.realtime_minutes_table),
}


def empty_tables() -> dict[str, pd.DataFrame]:
    """Return the three aggregate tables with no rows (a directory without traffic pages)."""
    return {name: build([]) for name, (_, build) in TABLES.items()}


def read_aggregates(
    files: list[tuple[Path, str, str]], window: tuple[pd.Timestamp, pd.Timestamp]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Read ``(path, shown name, kind)`` pages; return the tables and their accounting rows.

    Raises
    ------
    IngestError
        A page that is not one, or whose every row fails the same (non-filter) check.
    """
    frames: dict[str, list[pd.DataFrame]] = {kind: [] for kind, _ in TABLES.values()}
    rows = []
    for path, rel, kind in files:
        frame, acc = traffic_pages.read_traffic_page(path, rel, kind, window)
        first = acc.pop("first")
        reasons = [r.rsplit(": ", 1)[0] for r in acc["reason"].split("; ") if r]
        if acc["read"] and not acc["accepted"] and len(reasons) == 1:
            if not reasons[0].startswith(FILTER_REASONS):
                row, value = first.get(reasons[0], (None, None))
                raise IngestError(rel, f"every row rejected: {reasons[0]}", row=row, found=value)
        frames[kind].append(frame)
        rows.append(acc)
    tables = {name: build(frames[kind]) for name, (kind, build) in TABLES.items()}
    accounting = pd.DataFrame(rows, columns=[*ACCOUNTING_COLUMNS, "shape", "flavour", "note"])
    return tables, accounting


def privatise(tables: dict[str, pd.DataFrame], users: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Redact the traffic table's endpoints and replace known user ids in them.

    An endpoint outside Supabase's APIs is its whole path (``api/members/10081``), so it can
    hold what any path can; this runs once every user id of the incident is known. Endpoints
    that become equal are added up again (:func:`traffic_pages.sum_by_endpoint`).
    """
    traffic = tables["traffic"]
    if traffic.empty:
        return tables
    redacted = privacy.redact_series(traffic["endpoint"], users)
    endpoint = privacy.replace_user_ids(redacted, users)
    if endpoint.equals(traffic["endpoint"]):
        return tables
    rows = traffic.assign(endpoint=endpoint)
    return {**tables, "traffic": traffic_pages.sum_by_endpoint(rows)}


def merge_accounting(accounting: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """Add the aggregate pages' rows to ingest's accounting, in (file, kind) order."""
    if extra.empty:
        return accounting
    merged = pd.concat([accounting, extra.astype(accounting.dtypes.to_dict())], ignore_index=True)
    return merged.sort_values(["file", "kind"], kind="stable").reset_index(drop=True)
