"""Whose rows these are: the project reference a log row carries, against the incident's.

Supabase's log rows name their project: the gateway's and Postgres' ``identifier`` (BigQuery
rows, page downloads; ``log_attributes['identifier']`` on ClickHouse), Realtime's
``metadata.project`` and ``metadata.external_id``, an OTLP drain's ``service.namespace``. A
directory may hold the exports of two projects (two downloads saved side by side, a drain
shared by a staging and a production project); read as one, the other project's errors
would be analysed as this incident's. So:

- with ``project_ref`` in ``incident.json``, a row naming another project is set aside,
  counted as ``another project (ref abcdef…)``; the reference is shortened to its first
  characters, since the reason travels into the report's input accounting (a project's
  reference is the first part of its API's host name);
- without it, rows of two or more projects stop the run with one line naming them and how
  to choose; one project (or rows that name none) is read as before;
- a ``project_ref`` that no row names while rows name others stops the run too: a typo or
  the wrong directory, which would otherwise leave nothing to analyse.

A row that names no project (a flat projection without the column, a table export) is this
incident's: there is nothing to tell it apart by.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.exceptions import IngestError

if TYPE_CHECKING:  # the manifest's check runs on a cache hit too, which never needs them
    import pandas as pd

    from analysis.ingest.cells import Rejections

#: The reason's opening words (a filter: ``ingest.kinds.FILTER_REASONS``).
OTHER_PROJECT = "another project"
#: Characters of another project's reference a reason shows.
SHOWN = 6
#: What a project reference looks like (Supabase's are 20 lower-case letters; local stacks
#: and older projects differ, so any short run of letters, digits, ``-`` and ``_``).
_REF_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def shown_ref(ref: str) -> str:
    """Return ``ref`` as a reason shows it: its first characters, or a word when it is no ref."""
    if not _REF_RE.match(ref):
        return "a value that is no project reference"
    return f"ref {ref[:SHOWN]}…" if len(ref) > SHOWN else f"ref {ref}"


def other_project_reason(ref: str) -> str:
    """Return the accounting reason of a row of project ``ref`` (not the incident's)."""
    return f"{OTHER_PROJECT} ({shown_ref(ref)})"


def reject_other_projects(
    projects: pd.Series, rej: Rejections, project_ref: str | None, seen: Counter
) -> None:
    """Count the rows of each project in ``seen``; reject those of another than ``project_ref``.

    ``projects``: each row's project reference (null where the row names none). Without a
    ``project_ref`` nothing is rejected here: :func:`check_projects` decides once every row
    is read.
    """
    from analysis.ingest.cells import to_text

    text = to_text(projects).str.strip()
    named = text.notna() & text.ne("")
    if not named.any():
        return
    counts = text[named].value_counts(sort=False)
    for ref, n in counts.items():
        seen[ref] += int(n)
    if project_ref is None:
        return
    for ref in counts.index:
        if ref != project_ref:
            rej.add(text.eq(ref), other_project_reason(ref))


def _listed(seen: Counter) -> str:
    ranked = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
    # Data in an error line: a value that is no reference is shown quoted and cut.
    shown = [
        f"{ref if _REF_RE.match(ref) else repr(ref[:24])} ({n:,} rows)" for ref, n in ranked[:5]
    ]
    more = f" and {len(ranked) - 5} more" if len(ranked) > 5 else ""
    return ", ".join(shown) + more


def check_projects(seen: Counter, project_ref: str | None, manifest: Path) -> None:
    """Stop on rows of several projects without ``project_ref``, or none of the one named.

    Raises
    ------
    IngestError
        Rows name two or more projects and ``incident.json`` names none; or it names one
        that no row names while rows name others.
    """
    if project_ref is None and len(seen) > 1:
        raise IngestError(
            manifest,
            f"the exports hold rows of {len(seen)} projects: {_listed(seen)}",
            field="project_ref",
            expected='"project_ref" naming the incident\'s project (the other rows are then set'
            " aside and counted), or one project's exports in the directory",
            found=None,
        )
    if project_ref is not None and seen and project_ref not in seen:
        raise IngestError(
            manifest,
            f"no row of project {project_ref}; the exports are of {_listed(seen)}",
            field="project_ref",
            expected="the reference of the project whose exports these are",
            found=project_ref,
        )


def read_project_ref(manifest: dict, path: Path) -> str | None:
    """Return ``incident.json``'s ``project_ref`` (None when absent or empty).

    Raises
    ------
    IngestError
        It is not text.
    """
    ref = manifest.get("project_ref")
    if ref is None or ref == "":
        return None
    if not isinstance(ref, str):
        raise IngestError(
            path,
            "bad project_ref",
            field="project_ref",
            expected="the project's reference as text",
            found=type(ref).__name__,
        )
    return ref.strip() or None
