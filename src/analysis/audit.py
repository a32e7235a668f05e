"""Data-quality audit of any incident: what the data can and cannot support.

Each check is a pure function of canonical frames (or of timeline results) returning a tuple of
``QualityIssue``; ``audit_incident`` runs them all on one webinar's timeline. Nothing here knows
the shipped incident: thresholds are parameters with documented defaults.

An issue (:class:`analysis.quality.QualityIssue`) has a stable ``code`` and numeric
``fields`` so the report can render it in any language; ``what`` and ``limits`` are the
English sentences. The checks of Realtime's own lines live in :mod:`analysis.realtime_quality`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.concurrency import bucket_concurrency, project_concurrency
from analysis.error_classes import (
    MIN_HTTP_CLASS,
    plan_http_classes,
    tabulate_unexplained_responses,
)
from analysis.matching import match_http_to_db, summarize_matches
from analysis.privacy import redact_text
from analysis.quality import QualityIssue as QualityIssue  # re-exported: the audit's unit
from analysis.quality import check_load_source
from analysis.quality import tabulate_issues as tabulate_issues
from analysis.realtime_quality import (
    check_realtime_limit,
    check_refusals_below_limit,
    check_unclassified_realtime,
)
from analysis.rejections import check_ingest_notes, outside_window_notes
from analysis.stats.constants import MIN_MINUTES
from analysis.timeline import Timeline
from analysis.traffic import LOG_STORE_SOURCE, count_requests, find_traffic
from analysis.vocabulary import quote_list, quote_literal
from analysis.window import count_per_minute, parse_size, to_utc, webinar_span

#: Wide search used to estimate clock skew (pairs further apart than this are not considered).
DEFAULT_SKEW_SEARCH = "30s"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    runs, i = [], 0
    while i < len(mask):
        if not mask[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(mask) and mask[j + 1]:
            j += 1
        runs.append((i, j))
        i = j + 1
    return runs


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_sampling_density(
    buckets: pd.DataFrame,
    *,
    ratio: float = 0.25,
    quantile: float = 0.75,
    webinar_id: str | None = None,
) -> tuple[QualityIssue, ...]:
    """Flag runs of buckets whose sample count falls to ``ratio`` of the typical count or below.

    The typical count is the ``quantile`` of the buckets' sample counts, so a starved stretch
    shorter than ``1 - quantile`` of the window cannot pull the reference down with it.
    """
    counts = buckets["samples"].to_numpy(dtype="float64")
    if counts.size == 0:
        return ()
    typical = float(np.quantile(counts, quantile))
    if typical == 0:
        return (
            QualityIssue(
                code="no_concurrency_samples",
                severity="warning",
                webinar_id=webinar_id,
                what="Most buckets of the window hold no concurrency sample.",
                limits="Concurrency in this window is unmeasured; no load figure can be trusted.",
                source="concurrency",
                filter=f"webinar_id == {quote_literal(webinar_id)}",
                fields={"buckets": int(counts.size), "samples": int(counts.sum())},
            ),
        )
    low = counts <= ratio * typical
    out = []
    for i, j in _runs(low):
        run = buckets.iloc[i : j + 1]
        start, end = run["bucket_start"].iloc[0], run["bucket_end"].iloc[-1]
        n = int(run["samples"].sum())
        fields = {
            "start": start,
            "end": end,
            "buckets": int(j - i + 1),
            "samples": n,
            "min_per_bucket": int(run["samples"].min()),
            "typical_per_bucket": typical,
            "ratio": float(run["samples"].mean() / typical),
        }
        out.append(
            QualityIssue(
                code="sampling_density_drop",
                severity="warning",
                webinar_id=webinar_id,
                what=(
                    f"From {start.isoformat()} to {end.isoformat()} the concurrency monitor sent "
                    f"{n:,} samples in {j - i + 1:,} buckets, against a typical {typical:g} per "
                    "bucket."
                ),
                limits=(
                    "Maxima and minima in this stretch rest on very few samples: a dip or peak "
                    "there may be a measurement artefact of the starved monitor, not the audience."
                ),
                source="concurrency",
                filter=f"webinar_id == {quote_literal(webinar_id)} and ts in [{start.isoformat()}, "
                f"{end.isoformat()})",
                fields=fields,
            )
        )
    return tuple(out)


def check_sampling_gaps(
    samples: pd.DataFrame,
    start: object,
    end: object,
    *,
    gap_factor: float = 5.0,
    min_gap: str = "60s",
    webinar_id: str | None = None,
) -> tuple[QualityIssue, ...]:
    """Silences between samples (window edges included) longer than ``gap_factor`` x the median.

    One finding summarises every gap longer than ``max(gap_factor * median interval, min_gap)``.
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    ts = samples.loc[(samples["ts"] >= start) & (samples["ts"] < end), "ts"].sort_values()
    points = pd.concat([pd.Series([start]), ts, pd.Series([end])], ignore_index=True)
    points = pd.to_datetime(points, utc=True)
    gaps = points.diff().iloc[1:].dt.total_seconds().to_numpy()
    inner = np.diff(ts.to_numpy()).astype("timedelta64[ns]").astype("int64") / 1e9
    median = float(np.median(inner)) if inner.size else float("nan")
    threshold = max(
        parse_size(min_gap, "min_gap").total_seconds(),
        gap_factor * median if np.isfinite(median) else 0.0,
    )
    big = np.flatnonzero(gaps > threshold)
    if big.size == 0:
        return ()
    longest = int(big[np.argmax(gaps[big])])
    window_s = (end - start).total_seconds()
    fields = {
        "gaps": int(big.size),
        "longest_gap_s": float(gaps[longest]),
        "longest_gap_start": points.iloc[longest],
        "longest_gap_end": points.iloc[longest + 1],
        "total_gap_s": float(gaps[big].sum()),
        "window_s": window_s,
        "share": float(gaps[big].sum() / window_s),
        "median_interval_s": median,
        "threshold_s": threshold,
    }
    return (
        QualityIssue(
            code="sampling_gaps",
            severity="warning",
            webinar_id=webinar_id,
            what=(
                f"{big.size} silence{'s' if big.size != 1 else ''} longer than {threshold:g} s "
                "between concurrency samples "
                f"(median interval {median:g} s) cover {fields['share']:.0%} of the window; the "
                f"longest lasts {gaps[longest]:g} s from {points.iloc[longest].isoformat()}."
            ),
            limits=(
                "Inside these silences concurrency is carried forward from the last sample; "
                "per-minute load there is an assumption, so lags and thresholds fitted through "
                "them are less certain."
            ),
            source="concurrency",
            filter=f"webinar_id == {quote_literal(webinar_id)} and ts in "
            f"[{start.isoformat()}, {end.isoformat()})",
            fields=fields,
        ),
    )


def check_concurrency_vs_users(
    peak: int | None,
    peak_ts: pd.Timestamp | None,
    unique_users: int | None,
    sessions: int | None,
    *,
    webinar_id: str | None = None,
) -> tuple[QualityIssue, ...]:
    """Peak concurrency above the number of distinct users: it counts sessions, not people.

    Nothing when the export holds no presence table (``unique_users`` None): the people are
    unknown, and a peak above 0 of them would say nothing.
    """
    if peak is None or unique_users is None or sessions is None or peak <= unique_users:
        return ()
    fields = {
        "peak": int(peak),
        "peak_ts": peak_ts,
        "unique_users": int(unique_users),
        "sessions": int(sessions),
        "ratio": float(peak / max(unique_users, 1)),
        "sessions_per_user": float(sessions / max(unique_users, 1)),
    }
    return (
        QualityIssue(
            code="concurrency_exceeds_users",
            severity="warning",
            webinar_id=webinar_id,
            what=(
                f"Peak concurrency {peak:,} exceeds the {unique_users:,} distinct users "
                f"({sessions:,} sessions, {fields['sessions_per_user']:,.2f} per user)."
            ),
            limits=(
                "The concurrency figure counts connections or sessions (tabs, devices, reconnect "
                "ghosts), not people; read it as load on the platform, not as audience size."
            ),
            source="concurrency, sessions",
            filter=f"webinar_id == {quote_literal(webinar_id)}",
            fields=fields,
        ),
    )


def check_source_coverage(
    per_min: dict[str, np.ndarray],
    start: object,
    end: object,
    *,
    min_gap: str = "5min",
) -> tuple[QualityIssue, ...]:
    """Periods of at least ``min_gap`` where one continuous source is silent and another is not.

    Parameters
    ----------
    per_min
        Name -> rows per minute of ``[start, end)`` (:func:`continuous_sources`) of a source
        expected to produce rows all along (requests, the concurrency monitor, Realtime billing
        metrics); event-only sources such as error logs are silent by nature and do not belong.
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    need = int(np.ceil(parse_size(min_gap, "min_gap") / pd.Timedelta(1, "min")))
    out = []
    for name, counts in sorted(per_min.items()):
        for i, j in _runs(counts == 0):
            if j - i + 1 < need:
                continue
            others = {
                o: int(c[i : j + 1].sum())
                for o, c in sorted(per_min.items())
                if o != name and c[i : j + 1].sum() > 0
            }
            if not others:
                continue
            s0 = start + pd.Timedelta(minutes=i)
            s1 = min(start + pd.Timedelta(minutes=j + 1), end)
            fields = {
                "source": name,
                "start": s0,
                "end": s1,
                "minutes": int(j - i + 1),
                "covered_by": ",".join(others),
                "rows_in_others": int(sum(others.values())),
            }
            out.append(
                QualityIssue(
                    code="source_coverage_gap",
                    severity="warning",
                    what=(
                        f"{name} has no row from {s0.isoformat()} to {s1.isoformat()} "
                        f"({j - i + 1:,} min) while {', '.join(others)} "
                        f"{'has' if len(others) == 1 else 'have'} {sum(others.values()):,} rows."
                    ),
                    limits=(
                        f"What happened in this period is seen only through "
                        f"{', '.join(others)}; comparisons with {name} there rest on "
                        "carried-forward or missing values."
                    ),
                    source=name,
                    filter=f"ts in [{s0.isoformat()}, {s1.isoformat()})",
                    fields=fields,
                )
            )
    return tuple(out)


def check_clock_skew(
    pairs: pd.DataFrame,
    *,
    threshold_s: float = 0.5,
    min_pairs: int = 5,
    search_s: float | None = None,
) -> tuple[QualityIssue, ...]:
    """Systematic offset between edge_logs and postgres_logs, from matched request/error pairs.

    Fires when at least ``min_pairs`` pairs exist and their median offset exceeds
    ``threshold_s`` in absolute value.
    """
    if len(pairs) < min_pairs:
        return ()
    off = pairs["offset_s"].to_numpy(dtype="float64")
    median = float(np.median(off))
    if abs(median) <= threshold_s:
        return ()
    fields = {
        "pairs": int(off.size),
        "median_offset_s": median,
        "q25_offset_s": float(np.quantile(off, 0.25)),
        "q75_offset_s": float(np.quantile(off, 0.75)),
        "max_abs_offset_s": float(np.max(np.abs(off))),
        "threshold_s": threshold_s,
        "search_s": search_s,
    }
    return (
        QualityIssue(
            code="clock_skew",
            severity="warning",
            what=(
                f"Over {off.size:,} matched request/database-error pairs, edge_logs times run "
                f"{median:+.3f} s (median) from postgres_logs times."
            ),
            limits=(
                "Times from different sources are not directly comparable at this precision: "
                "errors were paired with responses after taking this offset out; read lags "
                "shorter than a few seconds with it in mind."
            ),
            source="requests, db_errors",
            filter="pairs of a database error and a request of its PostgREST status on any "
            "endpoint",
            fields=fields,
        ),
    )


def check_unmatched(summary: pd.DataFrame, *, tolerance_s: float) -> tuple[QualityIssue, ...]:
    """Per status: database errors without a response, responses without an error.

    ``summary`` is :func:`analysis.matching.summarize_matches`: one row per PostgREST status,
    over every endpoint where its classes occur.
    """
    out = []
    for row in summary.itertuples():
        if row.unmatched_db == 0 and row.unmatched_requests == 0:
            continue
        # The report's text reads the endpoints as one phrase; the filter takes the list.
        endpoints = ", ".join(row.endpoints)
        fields = {
            "endpoints": endpoints,
            "status": int(row.status),
            "error_classes": row.error_classes,
            "db_errors": int(row.db_errors),
            "requests": int(row.requests),
            "matched": int(row.matched),
            "unmatched_db": int(row.unmatched_db),
            "unmatched_requests": int(row.unmatched_requests),
            "tolerance_s": tolerance_s,
        }
        out.append(
            QualityIssue(
                code="unmatched_status_pairs",
                severity="warning",
                what=(
                    f"On {endpoints}, {row.matched:,} of {row.requests:,} HTTP {row.status} "
                    f"responses pair with one of {row.db_errors:,} database errors "
                    f"({row.error_classes}) within {tolerance_s:g} s; {row.unmatched_requests:,} "
                    f"responses and {row.unmatched_db:,} errors stay unpaired."
                ),
                limits=(
                    "Counts from one log alone mis-state the failures: unpaired responses have no "
                    "logged cause (or come from another cause), unpaired errors reached no client "
                    "response within the tolerance (clock skew, retries or lost log rows)."
                ),
                source="requests, db_errors",
                filter=f"endpoint in {quote_list(row.endpoints)} and status == {row.status}",
                fields=fields,
            )
        )
    return tuple(out)


#: Reasons for rows ingest sets aside by design, not lost data: repeats, and rows of what the
#: analysis does not read (ingest's filters, ``ingest.kinds.FILTER_REASONS`` and the dumps').
SET_ASIDE_REASONS = (
    "duplicate id",
    "unsupported log source",
    "table not analysed",
    "not an error",
    "another project",
)


#: Ingest's reason for log rows and viewer-count samples outside the manifest's window.
OUTSIDE_WINDOW = "outside window"


def check_ingest_rejections(
    accounting: pd.DataFrame | None, outside: tuple[Mapping, ...] | None = None
) -> tuple[QualityIssue, ...]:
    """Rows rejected by ingest, by reason; and files whose read != accepted + rejected.

    ``outside``: what lay outside the window per kind of input
    (``rejections.outside_window_notes``); with it, those rows are told as ``make check``
    tells them (what lay outside and what the analysis loses) instead of as rows missing from
    every count, which rows outside the window are not.
    """
    if accounting is None or accounting.empty:
        return ()
    out = [_outside_window_issue(note) for note in outside or ()]
    rejected = accounting[accounting["rejected"] > 0]
    total_read = int(accounting["read"].sum())
    # A row's reason is "reason: count" pairs joined by "; " (docs/contract.md section 2): one
    # finding per reason, its counts summed over the files and kinds that gave it.
    pieces = []
    for row in rejected.itertuples(index=False):
        parts = str(row.reason if isinstance(row.reason, str) else "(no reason)").split("; ")
        for part in parts:
            name, sep, count = part.rpartition(": ")
            whole = not (sep and count.isdigit()) or len(parts) == 1 and int(count) != row.rejected
            pieces.append(
                {
                    "reason": part if whole else name,
                    "count": int(row.rejected) if whole else int(count),
                    "file": row.file,
                    "kind": row.kind,
                    "read": int(row.read),
                }
            )
    table = pd.DataFrame(pieces, columns=["reason", "count", "file", "kind", "read"])
    for reason, rows in table.groupby("reason", sort=True):
        n = int(rows["count"].sum())
        files = rows.drop_duplicates(["file", "kind"])
        fields = {
            "reason": str(reason),
            "rejected": n,
            "read": int(files["read"].sum()),
            "files": int(rows["file"].nunique()),
            "kinds": ",".join(sorted(set(rows["kind"]))),
            "read_all_files": total_read,
        }
        if reason == OUTSIDE_WINDOW and outside is not None:
            continue  # told above, per kind of input
        # Ingest names the source or table after the reason ("unsupported log source
        # function_edge_logs"), as its own filters read it (a prefix).
        if str(reason).startswith(SET_ASIDE_REASONS):
            out.append(
                QualityIssue(
                    code="ingest_rows_set_aside",
                    severity="info",
                    what=f"Ingest set aside {n:,} rows of {fields['kinds']} ({reason}).",
                    limits=(
                        "Nothing is missing from the counts: these rows repeat others (a "
                        "duplicate id of overlapping pages) or hold what the analysis does not "
                        "read (another log source or table, a Postgres line that is no error, "
                        "a row of another project than incident.json's project_ref); "
                        "they are counted so that every input row is accounted for."
                    ),
                    source="accounting",
                    filter=f"reason == {quote_literal(reason)}",
                    fields=fields,
                )
            )
            continue
        out.append(
            QualityIssue(
                code="ingest_rows_rejected",
                severity="warning",
                what=f"Ingest rejected {n:,} rows of {fields['kinds']} ({reason}).",
                limits=(
                    "The rejected rows are missing from every count and rate; if they cluster in "
                    "time, the affected minutes are undercounted."
                ),
                source="accounting",
                filter=f"reason == {quote_literal(reason)}",
                fields=fields,
            )
        )
    bad = accounting[accounting["read"] != accounting["accepted"] + accounting["rejected"]]
    for row in bad.itertuples():
        row = row._replace(file=redact_text(str(row.file)))
        out.append(
            QualityIssue(
                code="ingest_accounting_mismatch",
                severity="warning",
                what=(
                    f"{row.file}: read {row.read:,} rows but accepted {row.accepted:,} and "
                    f"rejected {row.rejected:,}."
                ),
                limits="Some rows of this file are unaccounted for; its counts cannot be trusted.",
                source="accounting",
                filter=f"file == {quote_literal(row.file)}",
                fields={
                    "file": str(row.file),
                    "read": int(row.read),
                    "accepted": int(row.accepted),
                    "rejected": int(row.rejected),
                },
            )
        )
    return tuple(out)


#: What the analysis cannot see when no file of a log source is among the inputs, and how
#: sure that makes its absence a loss (a project may not use Realtime at all).
UNSEEN_SOURCES = {
    "edge_logs": (
        "warning",
        "Requests and error responses cannot be seen: the impact in people, the requests "
        "that failed and every per-request rate are unknown.",
    ),
    "postgres_logs": (
        "warning",
        "Database errors (their SQLSTATE, constraint and statement) cannot be seen: a failure "
        "the gateway logged shows only as its HTTP status, and no database error in this "
        "report means none was read, not none happened.",
    ),
    "realtime_logs": (
        "info",
        "Realtime's own refusals and its connection counts cannot be seen: if the project "
        "uses Realtime (chat, presence, broadcast), its failures are missing here.",
    ),
}


def check_log_sources(accounting: pd.DataFrame | None) -> tuple[QualityIssue, ...]:
    """Name each log source of which no file was read: its errors are unseen, not absent."""
    if accounting is None or accounting.empty:
        return ()
    read = set(accounting["kind"])
    out = []
    for kind, (severity, limits) in UNSEEN_SOURCES.items():
        if kind in read:
            continue
        out.append(
            QualityIssue(
                code="log_source_not_exported",
                severity=severity,
                what=f"No file of {kind} is among the inputs.",
                limits=limits,
                source="accounting",
                filter=f"kind == {quote_literal(kind)}",
                fields={"kind": kind, "case": kind},
            )
        )
    return tuple(out)


def _outside_window_issue(note: Mapping) -> QualityIssue:
    """One kind of input's rows outside the window, in ``make check``'s words."""
    every = note["case"] in ("all", "viewer_counts_all")
    # File names may hold a person's address (a download saved under it): shown redacted.
    note = {**note, "what": redact_text(note["what"]), "files": redact_text(str(note["files"]))}
    return QualityIssue(
        code="ingest_rows_outside_window",
        # All of a source outside loses it; a margin of a wider export is normal.
        severity="warning" if every else "info",
        what=note["what"][:1].upper() + note["what"][1:] + ".",
        limits=note["why"][:1].upper() + note["why"][1:],
        source="accounting",
        filter=(
            f"kind == {quote_literal(note['kind'])} and reason == {quote_literal(OUTSIDE_WINDOW)}"
        ),
        fields={k: note[k] for k in ("kind", "outside", "read", "files", "case", "start", "end")},
    )


def check_mean_of_maxima(
    buckets: pd.DataFrame,
    time_weighted_mean: float,
    *,
    rel_tol: float = 0.1,
    webinar_id: str | None = None,
) -> tuple[QualityIssue, ...]:
    """Flag a mean of bucket maxima that exceeds the time-weighted mean by more than ``rel_tol``."""
    maxima = buckets["max"].dropna().astype("float64")
    if maxima.empty or not np.isfinite(time_weighted_mean) or time_weighted_mean <= 0:
        return ()
    mom = float(maxima.mean())
    if mom <= (1 + rel_tol) * time_weighted_mean:
        return ()
    size_s = float((buckets["bucket_end"] - buckets["bucket_start"]).iloc[0].total_seconds())
    fields = {
        "mean_of_maxima": mom,
        "sum_of_maxima": int(maxima.sum()),
        "buckets_with_samples": int(maxima.size),
        "buckets": int(len(buckets)),
        "time_weighted_mean": float(time_weighted_mean),
        "ratio": mom / time_weighted_mean,
        "bucket_s": size_s,
    }
    return (
        QualityIssue(
            code="mean_of_maxima_vs_mean",
            severity="info",
            webinar_id=webinar_id,
            what=(
                f"The mean of the {maxima.size:,} bucket maxima is {mom:,.2f} "
                f"({int(maxima.sum()):,} / {maxima.size:,}), {mom / time_weighted_mean:,.2f} times "
                "the "
                f"time-weighted mean concurrency of {time_weighted_mean:,.2f}."
            ),
            limits=(
                "An 'average peak' built from bucket maxima overstates typical load and depends "
                "on the bucket size; use the time-weighted mean for typical load."
            ),
            source="concurrency",
            filter=f"webinar_id == {quote_literal(webinar_id)}",
            fields=fields,
        ),
    )


def _was_exported(incident: object, kind: str) -> bool:
    """Whether a file of ``kind`` was read (an incident without accounting: assume it was)."""
    accounting = getattr(incident, "accounting", None)
    if accounting is None or accounting.empty:
        return True
    return kind in set(accounting["kind"])


def continuous_sources(
    incident: object, webinar_id: str, start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, np.ndarray]:
    """Rows per minute of ``[start, end)`` of each source expected to produce rows all along.

    The sources are the requests, the webinar's concurrency monitor and Realtime's billing
    metrics. When the log store counted the requests (a hybrid fetch: ``requests`` then holds
    only the errors), their per-minute counts come from the traffic table. Requests of which
    no file was read are left out: a source never exported is not silent
    (:func:`check_log_sources` names it).
    """
    table = find_traffic(incident)
    conc = incident.concurrency
    sources = {
        "concurrency": count_per_minute(
            conc.loc[conc["webinar_id"] == webinar_id, "ts"], start, end
        ),
    }
    if table.attrs.get("source") == LOG_STORE_SOURCE:
        sources["requests"] = count_requests(table, start, end)
    elif _was_exported(incident, "edge_logs"):
        sources["requests"] = count_per_minute(incident.requests["ts"], start, end)
    rt = incident.realtime_events
    billing = rt.loc[rt["family"] == "billing_metrics", "ts"] if not rt.empty else rt.get("ts")
    if billing is not None and len(billing):
        sources["realtime_billing_metrics"] = count_per_minute(billing, start, end)
    return sources


def check_unexplained_responses(groups: pd.DataFrame) -> tuple[QualityIssue, ...]:
    """List the error responses no class holds: too few, without endpoint, or off-product.

    ``groups``: :func:`analysis.error_classes.tabulate_unexplained_responses`; the groups
    :func:`analysis.error_classes.plan_http_classes` makes no class of are named here, so no
    failed request goes unmentioned.
    """
    small = plan_http_classes(groups)[1]
    if small.empty:
        return ()
    listed = [
        {
            "status": int(r.status),
            "endpoint": None if pd.isna(r.endpoint) else str(r.endpoint),
            "count": int(r.count),
        }
        for r in small.itertuples(index=False)
    ]
    total = sum(g["count"] for g in listed)
    # The largest groups first (tabulate's order); a scanner's hundreds of one-off paths are
    # summed, not each named.
    shown = ", ".join(
        f"{g['status']} on {g['endpoint'] or 'no endpoint'} x{g['count']:,}" for g in listed[:10]
    ) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
    return (
        QualityIssue(
            code="unexplained_error_responses",
            severity="info",
            webinar_id=None,
            what=(
                f"{total:,} error responses that no database error explains are too few per "
                "status and endpoint, have no endpoint or lie outside Supabase's products, to "
                f"be analysed as a class: {shown}."
            ),
            limits=(
                f"A status on an endpoint needs at least {MIN_HTTP_CLASS} such responses to "
                "be an error class with a verdict; these are counted in the impact only."
            ),
            source="requests",
            filter="status >= 400 and not paired with a db_errors row",
            fields={"responses": total, "groups": len(listed), "needed": MIN_HTTP_CLASS},
        ),
    )


#: Responses below which an export holding only errors is not remarked on (a few failures of
#: a quiet window say nothing about how it was exported).
MIN_ERRORS_ONLY = 20


def check_errors_only_requests(
    incident: object, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[QualityIssue, ...]:
    """Flag a gateway export of raw rows that holds error responses only.

    An export filtered to ``status >= 400`` (or sampled that way) leaves every class only its
    own failures as requests: rates per request are then meaningless. A hybrid fetch holds only
    error rows by design, its traffic counted by the log store: not flagged.
    """
    if find_traffic(incident).attrs.get("source") == LOG_STORE_SOURCE:
        return ()
    req = incident.requests
    req = req[(req["ts"] >= start) & (req["ts"] < end)]
    status = pd.to_numeric(req["status"], errors="coerce")
    n = int(status.notna().sum())
    if n < MIN_ERRORS_ONLY or bool((status < 400).any()):
        return ()
    return (
        QualityIssue(
            code="requests_errors_only",
            severity="warning",
            what=(
                f"The API gateway export holds {n:,} responses in the window and every one is an "
                "error (status >= 400): it was filtered or sampled to errors when exported, or "
                "no request succeeded."
            ),
            limits=(
                "Requests per minute and error rates per request cannot be computed from it: "
                "each class's only requests are its own failures. Export every request of the "
                "window (make fetch, or the Logs Explorer without a status filter), or fetch "
                "with MODE=hybrid so the log store counts the traffic."
            ),
            source="requests",
            filter="status < 400",
            fields={"responses": n, "successful": 0},
        ),
    )


def check_other_webinars(
    concurrency: pd.DataFrame, webinar_id: str, start: object, end: object
) -> tuple[QualityIssue, ...]:
    """Flag other webinars of the project live in the window beside the reported one.

    Logs carry no webinar id: errors, requests and the project's limits are project-wide, so
    when the other webinars' viewers are part of the load the statistics test
    (:func:`analysis.concurrency.project_concurrency`: together at least
    :data:`analysis.concurrency.OTHER_WEBINARS_SHARE` of the project's peak), the note says how
    much of the project's audience was theirs and that K counts sessions across the project.
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    rows = concurrency[(concurrency["ts"] >= start) & (concurrency["ts"] < end)]
    if rows.empty or (rows["webinar_id"] == webinar_id).all():
        return ()
    load = project_concurrency(concurrency, webinar_id, start, end)
    if load.attrs["load_scope"] != "project":
        return ()
    minute = rows["ts"].dt.floor("min")
    grid = pd.date_range(start, end, freq="min", inclusive="left")
    # Each webinar's largest sample in the minute, carried over minutes without one.
    per = rows.groupby([minute, rows["webinar_id"]])["viewers"].max().unstack().reindex(grid)
    per = per.ffill().fillna(0)
    total = per.sum(axis=1)
    peak_at = total.idxmax()
    own = per[webinar_id] if webinar_id in per else pd.Series(0.0, index=grid)
    others = total - own
    fields = {
        "others": int(rows.loc[rows["webinar_id"] != webinar_id, "webinar_id"].nunique()),
        "project_peak": int(total.max()),
        "webinar_peak": int(own.max()),
        "others_at_peak": int(others[peak_at]),
        "share": float(others[peak_at] / total[peak_at]),
        "peak_ts": peak_at,
    }
    return (
        QualityIssue(
            code="other_webinars_live",
            severity="warning",
            webinar_id=webinar_id,
            what=(
                f"{fields['others']:,} other webinar(s) of this project were live in the window: "
                f"at the project's peak ({fields['project_peak']:,} viewers, "
                f"{peak_at.isoformat()}) {fields['others_at_peak']:,} ({fields['share']:.0%}) "
                f"watched the others; this webinar peaked at {fields['webinar_peak']:,}."
            ),
            limits=(
                "Errors and the project's limits are project-wide, so the load tested here is "
                "the project's audience, every live webinar's viewers added minute by minute: a "
                "threshold K counts sessions across the project (the root causes say how many "
                "of them were this webinar's), and this webinar's own curve is a part of it."
            ),
            source="concurrency",
            filter=f"webinar_id != {quote_literal(webinar_id)}",
            fields=fields,
        ),
    )


def check_window_length(frames: Mapping[str, pd.DataFrame]) -> tuple[QualityIssue, ...]:
    """Flag a window with error classes but fewer minutes than the statistics need."""
    minutes = len(next(iter(frames.values()))) if frames else 0
    if not frames or minutes >= MIN_MINUTES:
        return ()
    return (
        QualityIssue(
            code="window_too_short",
            severity="warning",
            webinar_id=None,
            what=(
                f"The window has {minutes:,} minutes; the statistics need at least {MIN_MINUTES}."
            ),
            limits=(
                "No verdict, threshold, lag or association is computed: whether the errors "
                "followed the load cannot be tested on so few minutes. Widen the window."
            ),
            source="timeline",
            filter="minute in window",
            fields={"minutes": minutes, "needed": MIN_MINUTES},
        ),
    )


def audit_incident(
    incident: object,
    timeline: Timeline,
    *,
    skew_search: str = DEFAULT_SKEW_SEARCH,
) -> tuple[QualityIssue, ...]:
    """Every data-quality check for the webinar of a :class:`~analysis.timeline.Timeline`.

    The timeline gives the window, buckets, audience, classes and HTTP <-> database pairs; the
    incident gives what only the audit reads (Realtime usage rows, ingest's accounting, the
    webinar's schedule, every request for source coverage).
    """
    wid = timeline.webinar_id
    start, end, size = timeline.start, timeline.end, timeline.bucket
    samples = timeline.samples
    audience = timeline.audience
    # A webinar's monitor only runs while it is live: judge sampling within its schedule.
    live0, live1 = webinar_span(incident, wid, start, end)
    live_buckets = bucket_concurrency(
        samples, live0, live1, size=size, display_tz=timeline.display_tz
    )
    wide = match_http_to_db(incident, timeline.classes, tolerance=skew_search)
    issues: list[QualityIssue] = []
    issues += check_sampling_density(live_buckets, webinar_id=wid)
    issues += check_sampling_gaps(samples, live0, live1, webinar_id=wid)
    issues += check_concurrency_vs_users(
        audience.peak, audience.peak_ts, audience.unique_users, audience.sessions, webinar_id=wid
    )
    issues += check_mean_of_maxima(timeline.buckets, audience.time_weighted_mean, webinar_id=wid)
    issues += check_source_coverage(continuous_sources(incident, wid, live0, live1), live0, live1)
    issues += check_realtime_limit(incident.realtime_events, start, end)
    issues += check_refusals_below_limit(incident.realtime_events, start, end)
    issues += check_unclassified_realtime(incident.realtime_events, start, end)
    issues += check_clock_skew(wide, search_s=parse_size(skew_search).total_seconds())
    issues += check_unmatched(
        summarize_matches(incident, timeline.classes, timeline.pairs),
        tolerance_s=timeline.tolerance.total_seconds(),
    )
    issues += check_ingest_rejections(
        getattr(incident, "accounting", None),
        outside_window_notes(incident) if hasattr(incident, "window") else None,
    )
    issues += check_log_sources(getattr(incident, "accounting", None))
    issues += check_ingest_notes(getattr(incident, "accounting", None))
    issues += check_window_length(timeline.frames)
    issues += check_other_webinars(incident.concurrency, wid, start, end)
    issues += check_load_source(incident, wid)
    issues += check_errors_only_requests(incident, start, end)
    issues += check_unexplained_responses(
        tabulate_unexplained_responses(incident.requests, timeline.pairs)
    )
    return tuple(issues)
