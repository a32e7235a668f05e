"""Read the log-store aggregates ``make fetch MODE=hybrid`` writes under ``traffic/``.

Three page kinds (Management API envelopes ``{"result": [...], "error": null}``, gzip), named
in ``incident.json`` ``files`` by the fetch:

- ``edge_minutes``: one row per minute x path (first four segments) x status class with
  ``requests`` and the max and p95 of ``origin_time``;
- ``edge_users``: one row per minute with the approximate distinct signed-in ``users``;
- ``realtime_minutes``: one row per minute with the Realtime billing ``samples`` and the
  largest ``connected`` and ``limit`` among them.

Each reader returns a frame and an accounting row per file (``read == accepted + rejected``,
reasons counted): a malformed row is rejected with its reason, never dropped silently; a file
that is not such a page is a one-line :class:`~analysis.exceptions.IngestError`. Minutes are
the left edges, tz-aware UTC. Pure functions on rows; the caller decides where the tables go.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.exceptions import IngestError
from analysis.ingest.canonical import endpoint_of
from analysis.ingest.files import KeyTwice, gunzip, parse_json, read_bytes, twice_reason
from analysis.traffic import TRAFFIC_COLUMNS, TRAFFIC_DTYPES

#: Page kinds -> the columns each row must carry.
TRAFFIC_KINDS = {
    "edge_minutes": (
        "minute",
        "path",
        "status_class",
        "requests",
        "max_origin_time_ms",
        "p95_origin_time_ms",
    ),
    "edge_users": ("minute", "users", "requests"),
    "realtime_minutes": ("minute", "samples", "max_connected", "connection_limit"),
}
SHAPE = "log-store aggregate"


def read_envelope(path: Path) -> list[dict]:
    """Return the rows of one page written by the fetch; raise a one-line error otherwise."""
    data = read_bytes(path)
    # Decompressed under the same per-file cap as every export (a gzip bomb is one line).
    text = gunzip(path, data) if data[:2] == b"\x1f\x8b" else data
    try:
        envelope = parse_json(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise IngestError(
            path,
            "unreadable traffic page",
            expected="a (gzipped) JSON logs envelope",
            found=type(exc).__name__,
        ) from None
    rows = envelope.get("result") if isinstance(envelope, dict) else None
    if not isinstance(rows, list) or envelope.get("error") not in (None, ""):
        raise IngestError(
            path,
            "not a traffic page",
            expected='an envelope {"result": [...], "error": null}',
            found=str(envelope)[:60],
        )
    return rows


def read_traffic_page(
    path: Path, rel: str, kind: str, window: tuple[pd.Timestamp, pd.Timestamp]
) -> tuple[pd.DataFrame, dict]:
    """Read one ``traffic/`` page of ``kind``; return its valid rows and its accounting row.

    The frame has the page's columns with ``minute`` as UTC; rows outside ``window`` (start
    inclusive, end exclusive) and malformed rows are counted in the accounting, by reason. The
    accounting row has ingest's accounting columns plus ``first``: reason -> (1-based row,
    value) of its first occurrence, for a one-line error when every row fails alike.
    """
    if kind not in TRAFFIC_KINDS:
        raise IngestError(
            path, "unknown traffic kind", expected=str(list(TRAFFIC_KINDS)), found=kind
        )
    rows = read_envelope(path)
    columns = TRAFFIC_KINDS[kind]
    if any(not isinstance(r, dict) for r in rows):
        raise IngestError(path, "bad traffic row", expected="an object per row")
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    found: dict[str, tuple[int, object]] = {}

    def reject(mask: pd.Series, why: str, values: pd.Series) -> None:
        mask = mask.fillna(False).astype(bool) & reason.isna()
        if mask.any():
            first = int(np.flatnonzero(mask.to_numpy())[0])
            found.setdefault(why, (first + 1, values.iloc[first]))
            reason[mask] = why

    # A key given twice with different values: which the writer meant cannot be known.
    twice = pd.Series([r.key if isinstance(r, KeyTwice) else None for r in rows], dtype=object)
    for key in twice.dropna().unique():
        reject(twice.eq(key), twice_reason(key), twice)
    minute = _minutes(frame["minute"])
    reject(minute.isna(), "bad minute (expected a whole UTC minute)", frame["minute"])
    reject((minute < window[0]) | (minute >= window[1]), "outside window", frame["minute"])
    for column in columns[1:]:
        if column == "path":
            values = frame[column]
            bad = ~values.map(lambda v: isinstance(v, str) and v.startswith("/"))
            reject(bad, "bad path (expected text starting with /)", values)
            nul = values.map(lambda v: isinstance(v, str) and "\x00" in v)
            reject(nul, "NUL character in path (a damaged value)", values)
            continue
        numbers = _numbers(frame[column])
        optional = column.endswith("_ms")
        bad = numbers.isna() & (frame[column].notna() if optional else True)
        if column == "status_class":
            bad |= ~numbers.isin([1, 2, 3, 4, 5])
        elif not optional:
            bad |= (numbers < 0) | (numbers != numbers.round())
            if column in ("requests", "samples"):
                bad |= numbers < 1
        else:
            bad |= numbers < 0
        reject(bad, f"bad {column} (expected {_EXPECTED.get(column, 'a count')})", frame[column])
        frame[column] = numbers
    frame["minute"] = minute
    keys = ["minute", "path", "status_class"] if kind == "edge_minutes" else ["minute"]
    ok = reason.isna()
    duplicate = frame[ok].duplicated(keys, keep="first").reindex(frame.index, fill_value=False)
    reject(duplicate, "duplicate group", frame["minute"].astype("string"))
    ok = reason.isna()
    counts = reason[~ok].value_counts()
    accounting = {
        "file": rel,
        "kind": kind,
        "read": len(frame),
        "accepted": int(ok.sum()),
        "rejected": int((~ok).sum()),
        "reason": "; ".join(
            f"{r}: {n}" for r, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
        ),
        "shape": SHAPE,
        "flavour": None,
        "first": {r: found[r] for r in counts.index},
    }
    return frame[ok].reset_index(drop=True), accounting


_EXPECTED = {
    "status_class": "1, 2, 3, 4 or 5",
    "max_origin_time_ms": "a number >= 0 or null",
    "p95_origin_time_ms": "a number >= 0 or null",
}


def _minutes(values: pd.Series) -> pd.Series:
    """Parse BigQuery µs integers or ClickHouse ``YYYY-MM-DD HH:MM:SS``; NaT unless a minute."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    digits = values.map(
        lambda v: (
            isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, str) and v.isdigit())
        )
    )
    if digits.any():
        micros = pd.to_numeric(values[digits], errors="coerce")
        out[digits] = pd.to_datetime(micros, unit="us", utc=True, errors="coerce")
    text = values.map(lambda v: isinstance(v, str) and not v.isdigit())
    if text.any():
        parsed = pd.to_datetime(
            values[text].str.replace("Z", "", regex=False), errors="coerce", format="ISO8601"
        )
        parsed = (
            parsed.dt.tz_localize("UTC") if parsed.dt.tz is None else parsed.dt.tz_convert("UTC")
        )
        out[text] = parsed
    return out.where(out == out.dt.floor("min"))


def _numbers(values: pd.Series) -> pd.Series:
    """Numbers (or numeric text) as float; NaN for anything else, booleans included."""
    clean = values.map(lambda v: None if isinstance(v, bool) else v)
    return pd.to_numeric(clean, errors="coerce").astype("float64")


def traffic_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Return the canonical traffic table from ``edge_minutes`` frames.

    Paths are mapped to the analysis's endpoint (:func:`~analysis.ingest.canonical.endpoint_of`);
    paths that share an endpoint are added up: ``requests`` summed, ``max_origin_time_ms`` the
    largest, ``p95_origin_time_ms`` the largest of their p95s (an upper bound of the merged
    p95, which the aggregates cannot give exactly). Sorted by minute, endpoint, status class.
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in TRAFFIC_DTYPES.items()})
    rows = pd.concat(frames, ignore_index=True)
    paths = rows["path"].astype("string")
    uniques = paths.unique()
    endpoints = dict(zip(uniques, (endpoint_of(p) for p in uniques), strict=True))
    rows["endpoint"] = paths.map(endpoints).astype("string")
    return sum_by_endpoint(rows)


def sum_by_endpoint(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the canonical traffic table of rows with an ``endpoint``, one row per group.

    Groups are (minute, endpoint, status class): ``requests`` summed, the origin times' max
    and p95 the largest. Used again once endpoints are redacted (two may become one).
    """
    grouped = rows.groupby(["minute", "endpoint", "status_class"], sort=True, observed=True).agg(
        requests=("requests", "sum"),
        max_origin_time_ms=("max_origin_time_ms", "max"),
        p95_origin_time_ms=("p95_origin_time_ms", "max"),
    )
    out = grouped.reset_index()
    out["status_class"] = out["status_class"].astype("int64")
    out["requests"] = out["requests"].astype("int64")
    return out[list(TRAFFIC_COLUMNS)].astype(TRAFFIC_DTYPES)


def users_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Return ``minute, users, requests`` from ``edge_users`` frames, one row per minute."""
    rows = pd.concat([f for f in frames], ignore_index=True) if frames else None
    if rows is None or rows.empty:
        return pd.DataFrame(
            {
                "minute": pd.Series([], dtype="datetime64[ns, UTC]"),
                "users": pd.Series([], dtype="int64"),
                "requests": pd.Series([], dtype="int64"),
            }
        )
    rows = rows.sort_values("minute", kind="stable").reset_index(drop=True)
    return rows.astype({"users": "int64", "requests": "int64"})[["minute", "users", "requests"]]


def realtime_minutes_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Return ``minute, samples, max_connected, connection_limit`` from ``realtime_minutes``."""
    columns = ["minute", "samples", "max_connected", "connection_limit"]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    rows = rows.sort_values("minute", kind="stable").reset_index(drop=True)
    out = rows[columns].copy()
    out["minute"] = pd.to_datetime(out["minute"], utc=True)
    for column in columns[1:]:
        out[column] = out[column].astype("int64")
    return out
