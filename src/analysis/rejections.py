"""What ingest left out of an incident's window, told to the person running ``make check``.

Ingest counts every row it does not use with its reason (docs/contract.md section 2); a count
alone ("outside window: 135") does not say whether it is the normal margin of a wide export or
a sign that the tables or the window are wrong. :func:`describe_outside_window` turns the
accounting into one warning line per kind of input: what lay outside, what the analysis loses
by it and, when the tables place every webinar and viewer elsewhere, where they are.
"""

from __future__ import annotations

import pandas as pd

#: What a row of each kind is, for a sentence (plural).
_ROWS_OF = {
    "registrations": "registrations",
    "webinar_live_presence": "viewer sessions",
    "edge_logs": "gateway (edge) log rows",
    "postgres_logs": "Postgres log rows",
    "realtime_logs": "Realtime log rows",
    "webinar_viewer_counts": "viewer-count samples",
}


def _utc_span(lo: pd.Timestamp, hi: pd.Timestamp) -> str:
    """``2026-04-22 18:00 .. 18:45 UTC`` (the date repeated only when it changes)."""
    fmt = "%H:%M" if lo.date() == hi.date() else "%Y-%m-%d %H:%M"
    return f"{lo:%Y-%m-%d %H:%M} .. {hi.strftime(fmt)} UTC"


def _files(names: list[str], shown: int = 2) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _schedule_elsewhere(incident: object, start: pd.Timestamp, end: pd.Timestamp) -> str:
    """Where the tables put the webinars and their viewers when none of them is in the window."""
    out = []
    webinars = getattr(incident, "webinars", None)
    if webinars is not None and len(webinars):
        lo = webinars["starts_at"].dropna()
        hi = webinars["ends_at"].dropna()
        if len(lo) and len(hi) and not ((lo < end).any() and (hi > start).any()):
            out.append(
                f"the webinars in webinars.csv run {_utc_span(lo.min(), hi.max())}, "
                "not in the window"
            )
    sessions = getattr(incident, "sessions", None)
    if sessions is not None and len(sessions):
        joined = sessions["joined_at"]
        left = sessions["left_at"].fillna(joined)
        if not ((joined < end) & (left >= start)).any():
            out.append(
                f"the viewer sessions in webinar_live_presence.csv run "
                f"{_utc_span(joined.min(), left.max())}"
            )
    if not out:
        return ""
    said = "; ".join(out)
    return (
        f" {said[:1].upper()}{said[1:]}: were the tables exported for another day, or is the "
        "window in incident.json wrong?"
    )


def describe_missing_tables(incident: object) -> tuple[str, ...]:
    """Warn when no webinar is in the data: a report names one, so none can be made."""
    webinars = getattr(incident, "webinars", None)
    if webinars is not None and len(webinars):
        return ()
    return (
        "warning: no webinar in the data (tables/webinars.csv is missing or empty): make "
        "report needs the webinar's row, and the viewers' tables to test errors against the "
        "load; export them as docs/contract.md section 1 says.",
    )


def _rejected(incident: object, reason: str) -> list[tuple[str, int, int, str]]:
    """``(kind, rejected for reason, read, files)`` for each kind with such rows."""
    accounting = getattr(incident, "accounting", None)
    if accounting is None or accounting.empty:
        return []
    pattern = r"(?:^|; )" + reason + r": (\d+)"
    counts = accounting["reason"].fillna("").str.extract(pattern)[0]
    table = accounting.assign(n=pd.to_numeric(counts).fillna(0).astype("int64"))
    out = []
    for kind, rows in table.groupby("kind", sort=True):
        if int(rows["n"].sum()):
            files = _files(sorted(rows.loc[rows["n"] > 0, "file"].astype(str)))
            out.append((str(kind), int(rows["n"].sum()), int(rows["read"].sum()), files))
    return out


def describe_unknown_webinars(incident: object) -> tuple[str, ...]:
    """Warn when every row of a viewers' table names a webinar webinars.csv does not have."""
    webinars = getattr(incident, "webinars", None)
    known = [] if webinars is None else sorted(webinars["webinar_id"].astype(str))
    lines = []
    for kind, unknown, read, files in _rejected(incident, "unknown webinar"):
        if unknown < read:
            continue  # another webinar's rows beside this one's: normal in a project export
        what = _ROWS_OF.get(kind, f"{kind} rows")
        lines.append(
            f"warning: all {read:,} {what} ({files}) name a webinar that is not in "
            f"webinars.csv ({', '.join(known[:3]) or 'none'}"
            f"{' and more' if len(known) > 3 else ''}): a report of these webinars will have "
            "none of them. Were the tables exported from different projects or copies?"
        )
    return tuple(lines)


def describe_other_projects(incident: object) -> tuple[str, ...]:
    """One line per other project whose rows ingest set aside (``ingest.projects``).

    Says how many rows of which kinds named it, against the project ``incident.json`` names:
    rows of two projects in one directory are not analysed as one incident's.
    """
    accounting = getattr(incident, "accounting", None)
    if accounting is None or accounting.empty:
        return ()
    found = (
        accounting["reason"]
        .fillna("")
        .astype(str)
        .str.extractall(r"(?:^|; )another project \((?P<ref>[^)]*)\): (?P<n>\d+)")
    )
    if found.empty:
        return ()
    found["kind"] = (
        accounting["kind"].astype(str).to_numpy()[found.index.get_level_values(0).to_numpy()]
    )
    found["n"] = found["n"].astype("int64")
    ours = (getattr(incident, "manifest", None) or {}).get("project_ref")
    lines = []
    for ref, rows in found.groupby("ref", sort=True):
        kinds = rows.groupby("kind", sort=True)["n"].sum()
        per_kind = ", ".join(f"{kind} {n:,}" for kind, n in kinds.items())
        lines.append(
            f"set aside: {int(kinds.sum()):,} rows of another project ({ref}: {per_kind}):"
            f" incident.json's project_ref is {ours}; they are counted, not analysed"
        )
    return tuple(lines)


def outside_window_notes(incident: object) -> tuple[dict, ...]:
    """Return what lay outside the manifest's window per kind of input, and what it costs.

    One dict per kind with such rows: ``kind``, ``outside``, ``read``, ``files`` (names, two
    at most), ``case`` (``viewer_counts_all``, ``viewer_counts_some``, ``all`` or ``some``),
    ``start`` and ``end`` (the window, ISO), ``what`` (what lay outside, one English clause)
    and ``why`` (what it means for the analysis, English). ``make check`` prints them
    (:func:`describe_outside_window`) and the report's audit shows the same
    (``audit.check_ingest_rejections``).
    """
    start, end = incident.window
    span = _utc_span(start, end)
    notes = []
    for kind, outside, read, files in _rejected(incident, "outside window"):
        what = _ROWS_OF.get(kind, f"{kind} rows")
        every = outside == read
        amount = f"all {read:,} {what}" if every else f"{outside:,} of {read:,} {what}"
        if kind == "webinar_viewer_counts":
            case = "viewer_counts_all" if every else "viewer_counts_some"
            if every:
                why = (
                    "no viewer count is known inside the window, so no error class can be "
                    "tested against the load."
                ) + _schedule_elsewhere(incident, start, end)
            else:
                why = (
                    "they are not used; the load inside the window comes from the other "
                    f"{read - outside:,} samples."
                )
        elif every:
            case = "all"
            why = (
                "nothing of this source is analysed (it may come from another window, or "
                "the window in incident.json is wrong)."
            )
        else:
            case = "some"
            why = (
                "they are counted, not analysed. An export wider than the window is normal; "
                "if the incident reaches past the window, widen window_start/window_end in "
                "incident.json."
            )
        notes.append(
            {
                "kind": kind,
                "outside": outside,
                "read": read,
                "files": files,
                "case": case,
                "start": pd.Timestamp(start).isoformat(),
                "end": pd.Timestamp(end).isoformat(),
                "what": f"{amount} ({files}) lie outside the window {span}",
                "why": why,
            }
        )
    return tuple(notes)


def describe_outside_window(incident: object) -> tuple[str, ...]:
    """One warning line per kind of input with rows outside the manifest's window.

    Says what lay outside (how many of how many, which files), what the analysis loses by it,
    and, when the tables place every webinar and viewer elsewhere, where they are: the user of
    ``make check`` learns that a window or an export is wrong before reading a report.
    """
    return tuple(f"warning: {n['what']}: {n['why']}" for n in outside_window_notes(incident))


def check_ingest_notes(accounting: pd.DataFrame | None) -> tuple:
    """Audit items for what ingest read without the files saying so, and what it skipped.

    One item names the files skipped as clearly not exports (``incident.list_exports``),
    one per epoch unit the times of some files were read in (``timestamps.UNITS``): a reader
    of the report learns both as ``make check`` told them.
    """
    from analysis.privacy import redact_text
    from analysis.quality import QualityIssue
    from analysis.vocabulary import quote_literal

    if accounting is None or accounting.empty or "note" not in accounting.columns:
        return ()
    noted = accounting[accounting["note"].fillna("").astype(str) != ""]
    out = []
    skipped = noted[noted["kind"] == "skipped"]
    if len(skipped):
        # File names may hold a person's address (a download saved under it): shown redacted.
        listed = [
            f"{redact_text(str(f))} ({n})"
            for f, n in zip(skipped["file"], skipped["note"], strict=True)
        ]
        files = "; ".join(listed[:5]) + (f"; and {len(listed) - 5} more" if len(listed) > 5 else "")
        out.append(
            QualityIssue(
                code="ingest_files_skipped",
                severity="info",
                what=f"Ingest skipped {len(listed)} files that are not exports: {files}.",
                limits=(
                    "Nothing in them was read. If one of them holds an export, give it its "
                    "export's extension (.csv, .json, ...) or its kind in incident.json files."
                ),
                source="accounting",
                filter="kind == 'skipped'",
                fields={"files": files, "count": len(listed)},
            )
        )
    read = noted[noted["kind"] != "skipped"]
    units = read["note"].astype(str).str.extract(r"read as (\w+) since the epoch")[0]
    for unit in sorted(units.dropna().unique()):
        names = sorted({redact_text(str(f)) for f in read.loc[units == unit, "file"]})
        files = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append(
            QualityIssue(
                code="ingest_epoch_unit",
                severity="info",
                what=(
                    f"The times of {len(names)} files ({files}) are numbers in {unit} since "
                    "the epoch, not Supabase's microseconds: read in the unit their size names."
                ),
                limits=(
                    "Within 2001-2262 each unit has its own number of digits, so the reading "
                    "is not a guess; a file that mixed units would have been refused."
                ),
                source="accounting",
                filter=f"note.str.contains({quote_literal(unit)})",
                fields={"unit": unit, "case": unit, "files": files, "count": len(names)},
            )
        )
    return tuple(out)
