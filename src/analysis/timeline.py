"""The incident hour reconstructed: buckets, audience, error taxonomy, key moments, minute frames.

Everything here takes the canonical tables of ``analysis.ingest`` (an ``Incident``, or plain
DataFrames) and returns DataFrames or frozen dataclasses. Times are tz-aware UTC throughout; the
display zone appears only in columns whose name ends in ``_local``.

Conventions
-----------
- Buckets are half-open, ``[start + k*size, start + (k+1)*size)``, anchored at the window start;
  the last bucket is cut at the window end.
- Concurrency between samples is the last sample's value (a step function, last observation
  carried forward); before a webinar's first sample it is unknown (NaN), never zero.
- Logs carry no webinar id, so errors and requests are project-wide; only concurrency, sessions
  and registrations are per webinar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from analysis.config import DEFAULT_DISPLAY_TZ
from analysis.exceptions import TimelineError
from analysis.vocabulary import (
    UNKNOWN_SQLSTATE,
    classify_db_errors,
    classify_realtime,
    db_class_filter,
    http_status_for_sqlstate,
    realtime_class_filter,
    sqlstates_for_status,
)

DEFAULT_BUCKET = "5min"
DEFAULT_TOLERANCE = "1s"
REALTIME_ENDPOINT = "realtime/websocket"

_NS = pd.Timedelta(1, "ns")


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def to_utc(value: object, name: str = "time") -> pd.Timestamp:
    """Return ``value`` as a UTC Timestamp; a naive or unparsable value is a TimelineError."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise TimelineError(
            f"{name}: expected an ISO timestamp with zone, found {value!r}"
        ) from exc
    if ts is pd.NaT:
        raise TimelineError(f"{name}: expected a timestamp, found NaT")
    if ts.tzinfo is None:
        raise TimelineError(f"{name}: expected a tz-aware timestamp (UTC), found naive {value!r}")
    return ts.tz_convert("UTC")


def check_display_tz(display_tz: str) -> str:
    """Return ``display_tz`` if it names an IANA zone, else raise TimelineError."""
    try:
        ZoneInfo(str(display_tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimelineError(
            f"display_tz: expected an IANA time zone such as Asia/Seoul, found {display_tz!r}"
        ) from exc
    return str(display_tz)


def parse_size(size: str | pd.Timedelta, name: str = "bucket") -> pd.Timedelta:
    """Return a positive Timedelta from ``"5min"``-like text."""
    try:
        delta = pd.Timedelta(size)
    except (TypeError, ValueError) as exc:
        raise TimelineError(f"{name}: expected a duration such as '5min', found {size!r}") from exc
    if delta <= pd.Timedelta(0):
        raise TimelineError(f"{name}: expected a positive duration, found {size!r}")
    return delta


def resolve_window(incident: object = None, start: object = None, end: object = None):
    """Return ``(start, end)`` in UTC: the arguments, else the incident's window."""
    window = getattr(incident, "window", None) if incident is not None else None
    if start is None:
        if window is None:
            raise TimelineError("window: no start given and the incident has no window")
        start = window[0]
    if end is None:
        if window is None:
            raise TimelineError("window: no end given and the incident has no window")
        end = window[1]
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    if end <= start:
        raise TimelineError(f"window: expected end after start, found {start} .. {end}")
    return start, end


def display_tz_of(incident: object, display_tz: str | None = None) -> str:
    """Return the display zone: the argument, else the incident's, else Asia/Seoul."""
    return check_display_tz(
        display_tz or getattr(incident, "display_tz", None) or DEFAULT_DISPLAY_TZ
    )


def _ns(ts: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    """Nanoseconds since ``origin`` as int64, exact whatever the column's resolution."""
    return ((ts - origin) // _NS).to_numpy(dtype="int64")


def jsonable(value: object) -> object:
    """JSON-friendly scalar: Timestamps as ISO text, numpy numbers as Python numbers."""
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if np.isnan(value) else float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def frame_to_records(frame: pd.DataFrame) -> list[dict]:
    """Rows of ``frame`` as JSON-serialisable dicts (for findings.json)."""
    return [{k: jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _webinar_rows(frame: pd.DataFrame, webinar_id: str | None) -> pd.DataFrame:
    if webinar_id is None:
        return frame
    return frame[frame["webinar_id"] == webinar_id]


def check_webinar(incident: object, webinar_id: str) -> str:
    """Return ``webinar_id`` if the incident knows it, else raise a TimelineError naming all."""
    webinars = getattr(incident, "webinars", None)
    known: set[str] = set()
    if webinars is not None and "webinar_id" in webinars:
        known |= set(webinars["webinar_id"].dropna().astype(str))
    concurrency = getattr(incident, "concurrency", None)
    if concurrency is not None and len(concurrency):
        known |= set(concurrency["webinar_id"].dropna().astype(str))
    if webinar_id not in known:
        raise TimelineError(
            f"webinar_id: expected one of {', '.join(sorted(known)) or '(none)'}, "
            f"found {webinar_id!r}"
        )
    return webinar_id


def webinar_span(
    incident: object, webinar_id: str, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the part of ``[start, end)`` inside the webinar's schedule, if known.

    A webinar scheduled outside the window, or with no schedule, keeps the whole window.
    """
    webinars = getattr(incident, "webinars", None)
    if webinars is None or not {"starts_at", "ends_at"} <= set(webinars.columns):
        return start, end
    row = webinars[webinars["webinar_id"] == webinar_id]
    if row.empty:
        return start, end
    lo, hi = row["starts_at"].iloc[0], row["ends_at"].iloc[0]
    lo = start if pd.isna(lo) else max(start, pd.Timestamp(lo).tz_convert("UTC"))
    hi = end if pd.isna(hi) else min(end, pd.Timestamp(hi).tz_convert("UTC"))
    return (lo, hi) if lo < hi else (start, end)


# --------------------------------------------------------------------------------------------
# Concurrency and audience
# --------------------------------------------------------------------------------------------


def _dedupe_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Sort samples by time; of two samples at the same instant keep the later row."""
    ordered = samples.sort_values("ts", kind="stable")
    return ordered.drop_duplicates("ts", keep="last")


def step_integrals(samples: pd.DataFrame, edges: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the step function of ``samples`` (ts, viewers) over each edge interval.

    Returns
    -------
    (viewer_seconds, covered_seconds) per interval; time before the first sample is not covered.
    """
    n = len(edges) - 1
    if n <= 0:
        return np.zeros(0), np.zeros(0)
    origin = edges[0]
    s = _dedupe_samples(samples)
    s_ns = _ns(s["ts"], origin)
    s_val = s["viewers"].to_numpy(dtype="float64")
    e_ns = ((edges - origin) // _NS).to_numpy(dtype="int64")
    inside = s_ns[(s_ns > e_ns[0]) & (s_ns < e_ns[-1])]
    points = np.unique(np.concatenate([e_ns, inside]))
    seg_start, seg_len = points[:-1], np.diff(points)
    idx = np.searchsorted(s_ns, seg_start, side="right") - 1
    known = idx >= 0
    values = np.where(known, s_val[np.clip(idx, 0, None)] if len(s_val) else 0.0, 0.0)
    bucket = np.searchsorted(e_ns, seg_start, side="right") - 1
    seconds = seg_len / 1e9
    weighted = np.bincount(bucket, weights=values * seconds * known, minlength=n)[:n]
    covered = np.bincount(bucket, weights=seconds * known, minlength=n)[:n]
    return weighted, covered


def bucket_edges(start: pd.Timestamp, end: pd.Timestamp, size: pd.Timedelta) -> pd.DatetimeIndex:
    """Edges ``start, start+size, ..., end`` (the last bucket cut at ``end``)."""
    edges = pd.date_range(start, end, freq=size, inclusive="left")
    return edges.append(pd.DatetimeIndex([end]))


def bucket_concurrency(
    concurrency: pd.DataFrame,
    start: object,
    end: object,
    *,
    size: str | pd.Timedelta = DEFAULT_BUCKET,
    display_tz: str = DEFAULT_DISPLAY_TZ,
    webinar_id: str | None = None,
) -> pd.DataFrame:
    """Buckets of the concurrency samples: max, min, sample count, time-weighted mean.

    Parameters
    ----------
    concurrency
        Canonical ``concurrency`` table (ts, webinar_id, viewers).
    start, end
        Window in UTC; buckets are half-open and anchored at ``start``.
    size
        Bucket length (any pandas duration).
    display_tz
        Zone of the ``*_local`` columns (display only).
    webinar_id
        Keep this webinar's samples only (None: the table as given).

    Returns
    -------
    DataFrame, one row per bucket (empty buckets included, ``samples == 0``): bucket_start,
    bucket_end, bucket_start_local, bucket_end_local, label_local, samples, max, min, max_ts,
    mean_tw (time-weighted, step function), covered_s (seconds of the bucket with a known value).
    With several webinars in ``concurrency`` (no ``webinar_id``), max/min/samples pool their
    samples and mean_tw/covered_s are NaN: a time-weighted mean is per webinar.
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    if end <= start:
        raise TimelineError(f"window: expected end after start, found {start} .. {end}")
    size = parse_size(size)
    display_tz = check_display_tz(display_tz)
    samples = _webinar_rows(concurrency, webinar_id)
    edges = bucket_edges(start, end, size)
    n = len(edges) - 1
    inside = samples[(samples["ts"] >= start) & (samples["ts"] < end)]
    k = ((inside["ts"] - start) // size).to_numpy(dtype="int64")
    grouped = inside.assign(bucket=k).sort_values(["bucket", "ts"], kind="stable")
    grouped = grouped.reset_index(drop=True)
    agg = grouped.groupby("bucket").agg(
        samples=("viewers", "size"), max=("viewers", "max"), min=("viewers", "min")
    )
    first_max = grouped.loc[grouped.groupby("bucket")["viewers"].idxmax()].set_index("bucket")
    if samples["webinar_id"].nunique() > 1:
        # One step function per webinar; their samples interleave, so no single mean exists.
        weighted, covered = np.full(n, np.nan), np.full(n, np.nan)
    else:
        weighted, covered = step_integrals(samples, edges)
    out = pd.DataFrame({"bucket_start": edges[:-1], "bucket_end": edges[1:]})
    out["bucket_start_local"] = out["bucket_start"].dt.tz_convert(display_tz)
    out["bucket_end_local"] = out["bucket_end"].dt.tz_convert(display_tz)
    out["label_local"] = (
        out["bucket_start_local"].dt.strftime("%H:%M")
        + "–"
        + out["bucket_end_local"].dt.strftime("%H:%M")
    )
    idx = pd.RangeIndex(n)
    out["samples"] = agg["samples"].reindex(idx, fill_value=0).to_numpy(dtype="int64")
    out["max"] = agg["max"].reindex(idx).astype("Int64").to_numpy()
    out["min"] = agg["min"].reindex(idx).astype("Int64").to_numpy()
    out["max_ts"] = pd.to_datetime(first_max["ts"].reindex(idx).reset_index(drop=True), utc=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(covered > 0, covered, 1)
        out["mean_tw"] = np.where(covered > 0, weighted / safe, np.nan)
    out["covered_s"] = covered
    return out


@dataclass(frozen=True)
class Audience:
    """Who watched one webinar in a window, and how the concurrency figures were obtained."""

    webinar_id: str
    title: str | None
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    display_tz: str
    bucket_s: float
    samples: int
    peak: int | None
    peak_ts: pd.Timestamp | None
    unique_users: int
    sessions: int
    registrations: int
    registrations_in_window: int
    mean_of_bucket_maxima: float
    sum_of_bucket_maxima: int
    buckets_with_samples: int
    buckets: int
    time_weighted_mean: float

    def to_dict(self) -> dict:
        """JSON-serialisable view, with the peak time also in the display zone."""
        data = {k: jsonable(v) for k, v in asdict(self).items()}
        data["peak_ts_local"] = (
            None if self.peak_ts is None else self.peak_ts.tz_convert(self.display_tz).isoformat()
        )
        return data


def find_peak(samples: pd.DataFrame) -> tuple[int | None, pd.Timestamp | None]:
    """Highest ``viewers`` and the time of its first occurrence (None, None if no sample)."""
    if samples.empty:
        return None, None
    ordered = samples.sort_values("ts", kind="stable")
    row = ordered.loc[ordered["viewers"].idxmax()]
    return int(row["viewers"]), pd.Timestamp(row["ts"]).tz_convert("UTC")


def select_sessions(sessions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Sessions overlapping ``[start, end)``: joined before the end, not left before the start."""
    left = sessions["left_at"]
    keep = (sessions["joined_at"] < end) & (left.isna() | (left > start))
    return sessions[keep.fillna(False).astype(bool)]


def count_unique_users(sessions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Distinct non-null users among the sessions overlapping the window."""
    return int(select_sessions(sessions, start, end)["user"].dropna().nunique())


def summarize_audience(
    incident: object,
    webinar_id: str,
    *,
    start: object = None,
    end: object = None,
    size: str | pd.Timedelta = DEFAULT_BUCKET,
    display_tz: str | None = None,
) -> Audience:
    """Peak and its time, unique users, sessions, registrations and both means for a webinar.

    ``registrations`` counts every registration row of the webinar in the export (the state at
    export time); ``registrations_in_window`` only those created inside the window.
    """
    check_webinar(incident, webinar_id)
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    conc = _webinar_rows(incident.concurrency, webinar_id)
    in_window = conc[(conc["ts"] >= start) & (conc["ts"] < end)]
    peak, peak_ts = find_peak(in_window)
    buckets = bucket_concurrency(conc, start, end, size=size, display_tz=tz)
    maxima = buckets["max"].dropna()
    weighted, covered = step_integrals(conc, pd.DatetimeIndex([start, end]))
    sessions = select_sessions(_webinar_rows(incident.sessions, webinar_id), start, end)
    regs = _webinar_rows(incident.registrations, webinar_id)
    titles = _webinar_rows(incident.webinars, webinar_id)["title"].dropna()
    return Audience(
        webinar_id=webinar_id,
        title=str(titles.iloc[0]) if len(titles) else None,
        window_start=start,
        window_end=end,
        display_tz=tz,
        bucket_s=parse_size(size).total_seconds(),
        samples=int(len(in_window)),
        peak=peak,
        peak_ts=peak_ts,
        unique_users=int(sessions["user"].dropna().nunique()),
        sessions=int(len(sessions)),
        registrations=int(len(regs)),
        registrations_in_window=int(((regs["ts"] >= start) & (regs["ts"] < end)).sum()),
        mean_of_bucket_maxima=float(maxima.mean()) if len(maxima) else float("nan"),
        sum_of_bucket_maxima=int(maxima.sum()),
        buckets_with_samples=int(len(maxima)),
        buckets=int(len(buckets)),
        time_weighted_mean=float(weighted[0] / covered[0]) if covered[0] > 0 else float("nan"),
    )


@dataclass(frozen=True)
class Totals:
    """All webinars of the incident together."""

    window_start: pd.Timestamp
    window_end: pd.Timestamp
    display_tz: str
    webinars: int
    peak: int | None
    peak_ts: pd.Timestamp | None
    peak_webinar_id: str | None
    unique_users: int
    registrations: int
    busiest_buckets: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """JSON-serialisable view."""
        data = {k: jsonable(v) for k, v in asdict(self).items()}
        data["peak_ts_local"] = (
            None if self.peak_ts is None else self.peak_ts.tz_convert(self.display_tz).isoformat()
        )
        return data


def rank_buckets(buckets: pd.DataFrame, n: int = 2, by: str = "max") -> pd.DataFrame:
    """Return the ``n`` buckets with the highest ``by`` (ties: earlier first), by time."""
    ranked = buckets.dropna(subset=[by]).sort_values(
        [by, "bucket_start"], ascending=[False, True], kind="stable"
    )
    return ranked.head(n).sort_values("bucket_start", kind="stable")


def summarize_totals(
    incident: object,
    *,
    start: object = None,
    end: object = None,
    size: str | pd.Timedelta = DEFAULT_BUCKET,
    display_tz: str | None = None,
    busiest: int = 2,
) -> Totals:
    """Totals over every webinar: the highest webinar peak, distinct users, registrations.

    The total peak is the highest single-webinar peak (as the published report counts it), not
    a sum across webinars sampled at different instants. ``busiest_buckets`` are the local labels
    of the ``busiest`` buckets with the highest maximum, over all webinars.
    """
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    conc = incident.concurrency
    in_window = conc[(conc["ts"] >= start) & (conc["ts"] < end)]
    peak, peak_ts = find_peak(in_window)
    peak_webinar = None
    if peak is not None:
        at_peak = in_window[(in_window["viewers"] == peak) & (in_window["ts"] == peak_ts)]
        peak_webinar = str(at_peak["webinar_id"].iloc[0])
    buckets = bucket_concurrency(conc, start, end, size=size, display_tz=tz)
    webinar_ids = set(incident.webinars["webinar_id"].dropna()) | set(conc["webinar_id"].dropna())
    return Totals(
        window_start=start,
        window_end=end,
        display_tz=tz,
        webinars=len(webinar_ids),
        peak=peak,
        peak_ts=peak_ts,
        peak_webinar_id=peak_webinar,
        unique_users=count_unique_users(incident.sessions, start, end),
        registrations=int(len(incident.registrations)),
        busiest_buckets=tuple(rank_buckets(buckets, busiest)["label_local"]),
    )


# --------------------------------------------------------------------------------------------
# Error taxonomy
# --------------------------------------------------------------------------------------------


def tabulate_db_errors(db_errors: pd.DataFrame) -> pd.DataFrame:
    """Database errors by SQLSTATE class, SQLSTATE, constraint, column and relation.

    Returns
    -------
    DataFrame: sql_state_class, sql_state, error_class, constraint, column, relation, severity,
    count, first_ts, last_ts, http_status (PostgREST's mapping), example (a message).
    """
    keys = ["sql_state_class", "sql_state", "error_class", "constraint", "column", "relation"]
    cols = [*keys, "severity", "count", "first_ts", "last_ts", "http_status", "example"]
    if db_errors.empty:
        return pd.DataFrame(columns=cols)
    frame = db_errors.assign(error_class=classify_db_errors(db_errors))
    grouped = frame.sort_values("ts", kind="stable").groupby(keys, dropna=False, sort=True)
    table = grouped.agg(
        severity=("severity", lambda s: ",".join(sorted(set(s.dropna().astype(str))))),
        count=("id", "size"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
        example=("message", "first"),
    ).reset_index()
    table["http_status"] = table["sql_state"].map(http_status_for_sqlstate).astype("Int64")
    table = table.sort_values(["count", "error_class"], ascending=[False, True], kind="stable")
    return table[cols].reset_index(drop=True)


def tabulate_realtime(realtime_events: pd.DataFrame) -> pd.DataFrame:
    """Realtime events by family and level: count, first and last time, an example message."""
    cols = ["family", "level", "error_class", "count", "first_ts", "last_ts", "example"]
    if realtime_events.empty:
        return pd.DataFrame(columns=cols)
    frame = realtime_events.assign(error_class=classify_realtime(realtime_events))
    grouped = frame.sort_values("ts", kind="stable").groupby(
        ["family", "level", "error_class"], dropna=False, sort=True
    )
    table = grouped.agg(
        count=("id", "size"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
        example=("message", "first"),
    ).reset_index()
    table = table.sort_values(["count", "family"], ascending=[False, True], kind="stable")
    return table[cols].reset_index(drop=True)


@dataclass(frozen=True)
class ErrorClass:
    """One error class the statistics consume, with the endpoint that is its denominator.

    Attributes
    ----------
    key
        ``23505:registrations_pkey``, ``42703``, ``realtime:disconnect``, ...
    source
        Canonical table the errors come from (``db_errors`` or ``realtime_events``).
    filter
        The selection on that table, as text a reader can re-run.
    endpoint
        Endpoint whose requests are the denominator (None: all requests).
    endpoint_basis
        How the endpoint was chosen: ``relation`` (the error's table), ``matched`` (the modal
        endpoint of same-status requests within the tolerance), ``realtime`` or ``none``.
    http_status
        Status PostgREST answers for this SQLSTATE (None for Realtime classes).
    """

    key: str
    source: str
    filter: str
    count: int
    first_ts: pd.Timestamp
    last_ts: pd.Timestamp
    endpoint: str | None
    endpoint_basis: str
    http_status: int | None
    sql_state: str | None = None
    constraint: str | None = None
    family: str | None = None

    def to_dict(self) -> dict:
        """JSON-serialisable view."""
        return {k: jsonable(v) for k, v in asdict(self).items()}


def _nearest_candidates(a_ns: np.ndarray, b_ns: np.ndarray, tol_ns: int) -> np.ndarray:
    """All (i, j, |a_i - b_j|) with ``|a_i - b_j| <= tol``; ``b_ns`` sorted ascending."""
    lo = np.searchsorted(b_ns, a_ns - tol_ns, side="left")
    hi = np.searchsorted(b_ns, a_ns + tol_ns, side="right")
    counts = hi - lo
    i = np.repeat(np.arange(len(a_ns)), counts)
    j = np.concatenate([np.arange(x, y) for x, y in zip(lo, hi, strict=True)]) if len(i) else i
    return np.column_stack([i, j, np.abs(a_ns[i] - b_ns[j])]).astype("int64")


def match_nearest(a_ns: np.ndarray, b_ns: np.ndarray, tol_ns: int) -> list[tuple[int, int]]:
    """One-to-one matching of two time lists, nearest pairs first, within a tolerance.

    ``b_ns`` must be sorted. Deterministic: ties are broken by index.
    """
    if len(a_ns) == 0 or len(b_ns) == 0:
        return []
    cand = _nearest_candidates(np.asarray(a_ns), np.asarray(b_ns), tol_ns)
    if len(cand) == 0:
        return []
    cand = cand[np.lexsort((cand[:, 1], cand[:, 0], cand[:, 2]))]
    used_a, used_b, pairs = set(), set(), []
    for i, j, _ in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((int(i), int(j)))
    return pairs


def _endpoint_by_matching(
    errors: pd.DataFrame, requests: pd.DataFrame, status: int, tol: pd.Timedelta
) -> str | None:
    """Modal endpoint of ``status`` requests within ``tol`` of the errors (ties: by name)."""
    same = requests[requests["status"] == status].sort_values("ts", kind="stable")
    if same.empty or errors.empty:
        return None
    origin = min(errors["ts"].min(), same["ts"].min())
    pairs = match_nearest(_ns(errors["ts"], origin), _ns(same["ts"], origin), tol // _NS)
    if not pairs:
        return None
    hits = same["endpoint"].iloc[[j for _, j in pairs]].astype(str).value_counts()
    best = hits[hits == hits.max()].index
    return sorted(best)[0]


def define_error_classes(
    incident: object, *, tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE
) -> tuple[ErrorClass, ...]:
    """Every error class present in the incident, with its denominator endpoint.

    Database classes take ``rest/<relation>`` when that endpoint has requests; otherwise the
    endpoint whose requests answered with the class's PostgREST status within ``tolerance`` of
    the errors. Realtime classes take the Realtime websocket endpoint when it has requests.
    Ordered by count (descending), then key.
    """
    tol = parse_size(tolerance, "tolerance")
    requests = incident.requests
    endpoints = set(requests["endpoint"].dropna().astype(str))
    classes: list[ErrorClass] = []
    db = incident.db_errors
    if not db.empty:
        db = db.assign(error_class=classify_db_errors(db))
        for key, rows in db.groupby("error_class", sort=True):
            state = rows["sql_state"].iloc[0]
            state = UNKNOWN_SQLSTATE if pd.isna(state) else str(state)
            constraint = rows["constraint"].dropna()
            constraint = str(constraint.iloc[0]) if len(constraint) else None
            status = http_status_for_sqlstate(state)
            relations = rows["relation"].dropna().astype(str).value_counts()
            endpoint, basis = None, "none"
            if len(relations) and f"rest/{relations.index[0]}" in endpoints:
                endpoint, basis = f"rest/{relations.index[0]}", "relation"
            elif status is not None:
                endpoint = _endpoint_by_matching(rows, requests, status, tol)
                basis = "matched" if endpoint else "none"
            filt = db_class_filter(state, constraint)
            classes.append(
                ErrorClass(
                    key=str(key),
                    source="db_errors",
                    filter=filt,
                    count=int(len(rows)),
                    first_ts=rows["ts"].min(),
                    last_ts=rows["ts"].max(),
                    endpoint=endpoint,
                    endpoint_basis=basis,
                    http_status=status,
                    sql_state=state,
                    constraint=constraint,
                )
            )
    rt = incident.realtime_events
    if not rt.empty:
        rt = rt.assign(error_class=classify_realtime(rt)).dropna(subset=["error_class"])
        has_ws = REALTIME_ENDPOINT in endpoints
        for key, rows in rt.groupby("error_class", sort=True):
            family = str(rows["family"].iloc[0])
            classes.append(
                ErrorClass(
                    key=str(key),
                    source="realtime_events",
                    filter=realtime_class_filter(family),
                    count=int(len(rows)),
                    first_ts=rows["ts"].min(),
                    last_ts=rows["ts"].max(),
                    endpoint=REALTIME_ENDPOINT if has_ws else None,
                    endpoint_basis="realtime" if has_ws else "none",
                    http_status=None,
                    family=family,
                )
            )
    return tuple(sorted(classes, key=lambda c: (-c.count, c.key)))


def _class_rows(incident: object, cls: ErrorClass) -> pd.DataFrame:
    """Rows of the class's source table that belong to the class."""
    if cls.source == "db_errors":
        db = incident.db_errors
        return db[classify_db_errors(db) == cls.key]
    rt = incident.realtime_events
    return rt[classify_realtime(rt) == cls.key]


def match_http_to_db(
    incident: object,
    classes: tuple[ErrorClass, ...] | None = None,
    *,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
) -> pd.DataFrame:
    """Pair each database error with a request of its PostgREST status on its endpoint.

    Errors and requests are grouped by (endpoint, status); within a group, pairs are made one to
    one, nearest first, within ``tolerance``.

    Returns
    -------
    DataFrame of pairs: db_error_id, request_id, error_class, endpoint, status, db_ts,
    request_ts, offset_s (request time minus database time).
    """
    tol = parse_size(tolerance, "tolerance")
    classes = define_error_classes(incident, tolerance=tol) if classes is None else classes
    cols = [
        "db_error_id",
        "request_id",
        "error_class",
        "endpoint",
        "status",
        "db_ts",
        "request_ts",
        "offset_s",
    ]
    db = incident.db_errors
    if db.empty:
        return pd.DataFrame(columns=cols)
    db = db.assign(error_class=classify_db_errors(db))
    target = {c.key: (c.endpoint, c.http_status) for c in classes if c.source == "db_errors"}
    db = db[db["error_class"].isin([k for k, v in target.items() if None not in v])]
    db = db.assign(
        endpoint=db["error_class"].map(lambda k: target[k][0]),
        status=db["error_class"].map(lambda k: target[k][1]),
    )
    requests = incident.requests
    out = []
    for (endpoint, status), errs in db.groupby(["endpoint", "status"], sort=True):
        reqs = requests[(requests["endpoint"] == endpoint) & (requests["status"] == status)]
        reqs = reqs.sort_values(["ts", "id"], kind="stable")
        errs = errs.sort_values(["ts", "id"], kind="stable")
        if reqs.empty:
            continue
        origin = min(errs["ts"].min(), reqs["ts"].min())
        pairs = match_nearest(_ns(errs["ts"], origin), _ns(reqs["ts"], origin), tol // _NS)
        if not pairs:
            continue
        e = errs.iloc[[i for i, _ in pairs]]
        r = reqs.iloc[[j for _, j in pairs]]
        out.append(
            pd.DataFrame(
                {
                    "db_error_id": e["id"].to_numpy(),
                    "request_id": r["id"].to_numpy(),
                    "error_class": e["error_class"].to_numpy(),
                    "endpoint": endpoint,
                    "status": int(status),
                    "db_ts": e["ts"].to_numpy(),
                    "request_ts": r["ts"].to_numpy(),
                }
            )
        )
    if not out:
        return pd.DataFrame(columns=cols)
    pairs = pd.concat(out, ignore_index=True)
    pairs["db_ts"] = pd.to_datetime(pairs["db_ts"], utc=True)
    pairs["request_ts"] = pd.to_datetime(pairs["request_ts"], utc=True)
    pairs["offset_s"] = (pairs["request_ts"] - pairs["db_ts"]) / pd.Timedelta(1, "s")
    return pairs.sort_values(["db_ts", "db_error_id"], kind="stable")[cols].reset_index(drop=True)


def summarize_matches(
    incident: object, classes: tuple[ErrorClass, ...], pairs: pd.DataFrame
) -> pd.DataFrame:
    """Per (endpoint, status): database errors, requests, matched pairs, unmatched on each side.

    Returns
    -------
    DataFrame: endpoint, status, error_classes, db_errors, requests, matched, unmatched_db,
    unmatched_requests, median_offset_s.
    """
    rows = []
    groups: dict[tuple[str, int], list[ErrorClass]] = {}
    for c in classes:
        if c.source == "db_errors" and c.endpoint is not None and c.http_status is not None:
            groups.setdefault((c.endpoint, int(c.http_status)), []).append(c)
    requests = incident.requests
    for (endpoint, status), members in sorted(groups.items()):
        n_db = sum(c.count for c in members)
        n_req = int(((requests["endpoint"] == endpoint) & (requests["status"] == status)).sum())
        sel = pairs[(pairs["endpoint"] == endpoint) & (pairs["status"] == status)]
        rows.append(
            {
                "endpoint": endpoint,
                "status": status,
                "error_classes": ",".join(sorted(c.key for c in members)),
                "db_errors": n_db,
                "requests": n_req,
                "matched": int(len(sel)),
                "unmatched_db": n_db - int(len(sel)),
                "unmatched_requests": n_req - int(len(sel)),
                "median_offset_s": float(sel["offset_s"].median()) if len(sel) else float("nan"),
            }
        )
    cols = [
        "endpoint",
        "status",
        "error_classes",
        "db_errors",
        "requests",
        "matched",
        "unmatched_db",
        "unmatched_requests",
        "median_offset_s",
    ]
    return pd.DataFrame(rows, columns=cols)


def tabulate_http_status(requests: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """HTTP status per endpoint, explained through PostgREST's SQLSTATE mapping.

    Returns
    -------
    DataFrame: endpoint, status, requests, share (of the endpoint's requests), postgrest_meaning
    (SQLSTATEs PostgREST maps to that status; errors >= 400 only), matched_db_errors,
    explained_by (matched classes with counts).
    """
    cols = [
        "endpoint",
        "status",
        "requests",
        "share",
        "postgrest_meaning",
        "matched_db_errors",
        "explained_by",
    ]
    if requests.empty:
        return pd.DataFrame(columns=cols)
    table = requests.groupby(["endpoint", "status"], sort=True).size().rename("requests")
    table = table.reset_index()
    totals = table.groupby("endpoint")["requests"].transform("sum")
    table["share"] = table["requests"] / totals
    table["postgrest_meaning"] = [
        sqlstates_for_status(s) if s >= 400 else "" for s in table["status"]
    ]
    pairs = (
        pairs if pairs is not None else pd.DataFrame(columns=["endpoint", "status", "error_class"])
    )
    matched, explained = [], []
    for endpoint, status in zip(table["endpoint"], table["status"], strict=True):
        sel = pairs[(pairs["endpoint"] == endpoint) & (pairs["status"] == status)]
        counts = sel["error_class"].value_counts().sort_index()
        matched.append(int(len(sel)))
        explained.append("; ".join(f"{k}={v}" for k, v in counts.items()))
    table["matched_db_errors"] = matched
    table["explained_by"] = explained
    return table[cols]


# --------------------------------------------------------------------------------------------
# Per-minute frames
# --------------------------------------------------------------------------------------------


def _per_minute(ts: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    n = int(np.ceil((end - start) / pd.Timedelta(1, "min")))
    inside = ts[(ts >= start) & (ts < end)]
    k = ((inside - start) // pd.Timedelta(1, "min")).to_numpy(dtype="int64")
    return np.bincount(k, minlength=n)[:n].astype("int64")


def minute_concurrency(
    concurrency: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    fill_leading: bool = False,
) -> pd.DataFrame:
    """Per minute: max viewers among the minute's samples, else the last earlier sample's value.

    Parameters
    ----------
    fill_leading
        Give the minutes before the webinar's first sample the first sample's value instead of
        NaN (count models need a finite load); ``samples`` stays 0 there and ``attrs``
        records how many minutes were filled.

    Returns
    -------
    DataFrame: minute, concurrency (float; NaN before the first sample unless filled), samples.
    """
    minutes = pd.date_range(start, end, freq="1min", inclusive="left")
    samples = _dedupe_samples(concurrency)
    inside = samples[(samples["ts"] >= start) & (samples["ts"] < end)]
    k = ((inside["ts"] - start) // pd.Timedelta(1, "min")).to_numpy(dtype="int64")
    mx = inside.assign(k=k).groupby("k")["viewers"].max()
    idx = pd.RangeIndex(len(minutes))
    out = pd.DataFrame({"minute": minutes})
    out["samples"] = _per_minute(samples["ts"], start, end)
    # Where a minute has no sample, the monitor's last reported value still stands.
    s_ns = _ns(samples["ts"], start)
    m_ns = _ns(pd.Series(minutes), start)
    last = np.searchsorted(s_ns, m_ns, side="left") - 1
    vals = samples["viewers"].to_numpy(dtype="float64")
    carried = np.where(last >= 0, vals[np.clip(last, 0, None)] if len(vals) else np.nan, np.nan)
    observed = mx.reindex(idx).to_numpy(dtype="float64")
    out["concurrency"] = np.where(np.isnan(observed), carried, observed)
    known = np.flatnonzero(~np.isnan(out["concurrency"].to_numpy()))
    leading = int(known[0]) if known.size else len(out)
    filled = leading if fill_leading and known.size else 0
    if filled:
        out.loc[: filled - 1, "concurrency"] = out["concurrency"].iloc[filled]
    out = out[["minute", "concurrency", "samples"]]
    out.attrs["leading_minutes_filled"] = filled
    return out


def count_class_per_minute(
    incident: object, cls: ErrorClass, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """(errors, requests to the class's endpoint) per minute of ``[start, end)``."""
    errors = _per_minute(_class_rows(incident, cls)["ts"], start, end)
    requests = incident.requests
    if cls.endpoint is not None:
        requests = requests[requests["endpoint"] == cls.endpoint]
    return errors, _per_minute(requests["ts"], start, end)


def find_error_class(classes: tuple[ErrorClass, ...], key: str) -> ErrorClass:
    """Return the class named ``key``, else a TimelineError listing the classes present."""
    for cls in classes:
        if cls.key == key:
            return cls
    raise TimelineError(
        f"error_class: expected one of {', '.join(c.key for c in classes) or '(none)'}, "
        f"found {key!r}"
    )


def build_minute_frame(
    incident: object,
    webinar_id: str,
    error_class: str,
    *,
    start: object = None,
    end: object = None,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
    classes: tuple[ErrorClass, ...] | None = None,
) -> pd.DataFrame:
    """One row per minute of the window for one webinar and one error class (contract §3).

    Returns
    -------
    DataFrame: minute (UTC, left edge), requests (to the class's endpoint, project-wide),
    errors (project-wide), concurrency (the webinar's max viewers in the minute, carried
    forward from the last sample where the minute has none; minutes before the first sample
    take its value, counted in ``attrs['leading_minutes_filled']``; NaN only if the webinar has
    no sample at all), samples, rate (errors/requests, NaN where no request). ``attrs`` also
    holds error_class, endpoint, webinar_id and scope.
    """
    check_webinar(incident, webinar_id)
    start, end = resolve_window(incident, start, end)
    classes = define_error_classes(incident, tolerance=tolerance) if classes is None else classes
    cls = find_error_class(classes, error_class)
    frame = minute_concurrency(
        _webinar_rows(incident.concurrency, webinar_id), start, end, fill_leading=True
    )
    errors, requests = count_class_per_minute(incident, cls, start, end)
    frame.insert(1, "requests", requests)
    frame.insert(2, "errors", errors)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["rate"] = np.where(requests > 0, errors / np.maximum(requests, 1), np.nan)
    frame.attrs.update(
        error_class=cls.key,
        endpoint=cls.endpoint,
        webinar_id=webinar_id,
        scope="errors and requests project-wide; concurrency per webinar",
    )
    return frame


def tabulate_error_minutes(
    incident: object,
    *,
    start: object = None,
    end: object = None,
    classes: tuple[ErrorClass, ...] | None = None,
    display_tz: str | None = None,
) -> pd.DataFrame:
    """Every class per minute beside its endpoint's request volume (long format).

    Returns
    -------
    DataFrame: minute, minute_local, error_class, endpoint, errors, requests, rate.
    """
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    classes = define_error_classes(incident) if classes is None else classes
    minutes = pd.date_range(start, end, freq="1min", inclusive="left")
    parts = []
    for cls in classes:
        errors, requests = count_class_per_minute(incident, cls, start, end)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(requests > 0, errors / np.maximum(requests, 1), np.nan)
        parts.append(
            pd.DataFrame(
                {
                    "minute": minutes,
                    "error_class": cls.key,
                    "endpoint": cls.endpoint if cls.endpoint else "(all requests)",
                    "errors": errors,
                    "requests": requests,
                    "rate": rate,
                }
            )
        )
    cols = ["minute", "minute_local", "error_class", "endpoint", "errors", "requests", "rate"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["minute_local"] = out["minute"].dt.tz_convert(tz)
    return out[cols]


# --------------------------------------------------------------------------------------------
# Key moments
# --------------------------------------------------------------------------------------------


def find_limit_changes(realtime_events: pd.DataFrame) -> pd.DataFrame:
    """Find changes of the Realtime connection limit reported in ``Billing metrics`` rows.

    The change happened between ``last_old_ts`` (last row at the old limit) and ``ts`` (first
    row at the new one); a Realtime outage between them widens that interval.

    Returns
    -------
    DataFrame: ts, last_old_ts, from_limit, to_limit, rows_at_new (rows until the next change).
    """
    cols = ["ts", "last_old_ts", "from_limit", "to_limit", "rows_at_new"]
    if realtime_events.empty or "limit" not in realtime_events:
        return pd.DataFrame(columns=cols)
    rows = realtime_events[
        (realtime_events["family"] == "billing_metrics") & realtime_events["limit"].notna()
    ].sort_values("ts", kind="stable")
    if rows.empty:
        return pd.DataFrame(columns=cols)
    limit = rows["limit"].astype("int64").to_numpy()
    ts = rows["ts"].reset_index(drop=True)
    change = np.flatnonzero(limit[1:] != limit[:-1]) + 1
    bounds = [*change.tolist(), len(limit)]
    out = [
        {
            "ts": ts[k], "last_old_ts": ts[k - 1], "from_limit": int(limit[k - 1]),
            "to_limit": int(limit[k]), "rows_at_new": int(bounds[n + 1] - k),
        }
        for n, k in enumerate(change)
    ]  # fmt: skip
    return pd.DataFrame(out, columns=cols)


MOMENT_COLUMNS = [
    "ts",
    "ts_local",
    "kind",
    "subject",
    "description",
    "value",
    "source",
    "filter",
    "count",
]


def _moment(ts, kind, subject, description, value, source, filt, count) -> dict:
    return {
        "ts": ts,
        "kind": kind,
        "subject": subject,
        "description": description,
        "value": value,
        "source": source,
        "filter": filt,
        "count": int(count),
    }


def detect_level_shifts(
    samples: pd.DataFrame, *, rel_change: float = 0.4, abs_share: float = 0.2
) -> pd.DataFrame:
    """Spikes and drops between consecutive concurrency samples, merged into runs.

    A step is a spike (drop) when the value rises (falls) by at least ``rel_change`` of the
    previous value and by at least ``abs_share`` of the series' peak; consecutive steps in the
    same direction form one shift.

    Returns
    -------
    DataFrame: kind (spike|drop), start_ts (last sample before), end_ts (sample reached),
    from_value, to_value, samples (in the run, both ends included).
    """
    cols = ["kind", "start_ts", "end_ts", "from_value", "to_value", "samples"]
    s = _dedupe_samples(samples)
    if len(s) < 2:
        return pd.DataFrame(columns=cols)
    v = s["viewers"].to_numpy(dtype="float64")
    ts = s["ts"].reset_index(drop=True)
    floor = abs_share * np.nanmax(v)
    d = np.diff(v)
    prev = v[:-1]
    up = (d >= rel_change * np.maximum(prev, 1)) & (d >= floor)
    down = (-d >= rel_change * prev) & (-d >= floor)
    kind = np.where(up, 1, np.where(down, -1, 0))
    rows, i = [], 0
    while i < len(kind):
        if kind[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(kind) and kind[j + 1] == kind[i]:
            j += 1
        rows.append(
            {
                "kind": "spike" if kind[i] > 0 else "drop",
                "start_ts": ts[i],
                "end_ts": ts[j + 1],
                "from_value": int(v[i]),
                "to_value": int(v[j + 1]),
                "samples": j - i + 2,
            }
        )
        i = j + 1
    return pd.DataFrame(rows, columns=cols)


def find_recoveries(
    samples: pd.DataFrame, shifts: pd.DataFrame, *, recover_share: float = 0.8
) -> pd.DataFrame:
    """After each drop, the first sample back at ``recover_share`` of the pre-drop level."""
    cols = ["drop_end_ts", "ts", "level_before", "value", "samples_between"]
    s = _dedupe_samples(samples)
    rows = []
    for drop in shifts[shifts["kind"] == "drop"].itertuples():
        later = s[s["ts"] > drop.end_ts]
        back = later[later["viewers"] >= recover_share * drop.from_value]
        if back.empty:
            continue
        first = back.iloc[0]
        rows.append(
            {
                "drop_end_ts": drop.end_ts,
                "ts": first["ts"],
                "level_before": drop.from_value,
                "value": int(first["viewers"]),
                "samples_between": int((later["ts"] < first["ts"]).sum()),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def detect_surges(
    errors: np.ndarray, *, factor: float = 2.0, min_count: int = 3, merge_gap: int = 1
) -> list[tuple[int, int, int, float]]:
    """Find error surges: runs of minutes whose count reaches ``max(min_count, factor * mean)``.

    Runs separated by at most ``merge_gap`` quieter minutes form one surge (clustered errors
    rarely hit the threshold in every single minute). A surge is the timeline's plain-count
    rule; the figure's *bursts* are a different detector (``stats.detect_bursts``, Kleinberg's
    model of errors out of requests), so the two are named apart.

    Returns
    -------
    list of (first minute index, last minute index, errors in the run, threshold).
    """
    errors = np.asarray(errors)
    if errors.size == 0:
        return []
    threshold = max(float(min_count), factor * float(errors.mean()))
    hot = np.flatnonzero(errors >= threshold)
    runs: list[list[int]] = []
    for k in hot:
        if runs and k - runs[-1][1] <= merge_gap + 1:
            runs[-1][1] = int(k)
        else:
            runs.append([int(k), int(k)])
    return [(i, j, int(errors[i : j + 1].sum()), threshold) for i, j in runs]


def build_key_moments(
    incident: object,
    webinar_id: str | None = None,
    *,
    start: object = None,
    end: object = None,
    display_tz: str | None = None,
    classes: tuple[ErrorClass, ...] | None = None,
    rel_change: float = 0.4,
    abs_share: float = 0.2,
    surge_factor: float = 2.0,
    surge_min: int = 3,
) -> pd.DataFrame:
    """One chronological table of the key moments, each with its evidence.

    Rows: first and last error of each class, each webinar's peak, concurrency spikes, drops and
    recoveries, error surges (:func:`detect_surges`) and the minute each ended, and the human
    annotations
    (``time unknown`` ones last). ``source``/``filter``/``count`` let a reader re-count a row.

    Returns
    -------
    DataFrame with columns ts, ts_local, kind, subject, description, value, source, filter, count.
    """
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    classes = define_error_classes(incident) if classes is None else classes
    rows: list[dict] = []
    win = f"ts in [{start.isoformat()}, {end.isoformat()})"
    for cls in classes:
        sel = _class_rows(incident, cls)
        sel = sel[(sel["ts"] >= start) & (sel["ts"] < end)].sort_values("ts", kind="stable")
        if sel.empty:
            continue
        filt = f"{cls.filter} and {win}"
        n = len(sel)
        rows.append(
            _moment(
                sel["ts"].iloc[0],
                "first_error",
                cls.key,
                f"first {cls.key} error",
                1,
                cls.source,
                filt,
                n,
            )
        )
        rows.append(
            _moment(
                sel["ts"].iloc[-1],
                "last_error",
                cls.key,
                f"last {cls.key} error",
                1,
                cls.source,
                filt,
                n,
            )
        )
        errors, _ = count_class_per_minute(incident, cls, start, end)
        for i, j, total, threshold in detect_surges(
            errors, factor=surge_factor, min_count=surge_min
        ):
            b0 = start + pd.Timedelta(minutes=i)
            b1 = start + pd.Timedelta(minutes=j + 1)
            bfilt = f"{cls.filter} and ts in [{b0.isoformat()}, {b1.isoformat()})"
            rows.append(
                _moment(
                    b0,
                    "error_surge",
                    cls.key,
                    f"{cls.key} surge: {total} errors in {j - i + 1} min "
                    f"(>= {threshold:.1f} per minute)",
                    total,
                    cls.source,
                    bfilt,
                    total,
                )
            )
            if j + 1 < len(errors):
                rows.append(
                    _moment(
                        b1,
                        "error_surge_end",
                        cls.key,
                        f"{cls.key} back below {threshold:.1f} per minute "
                        f"({int(errors[j + 1])} in the minute)",
                        int(errors[j + 1]),
                        cls.source,
                        f"{cls.filter} and ts in [{b1.isoformat()}, "
                        f"{(b1 + pd.Timedelta(minutes=1)).isoformat()})",
                        int(errors[j + 1]),
                    )
                )
    conc = incident.concurrency
    webinar_ids = [webinar_id] if webinar_id else sorted(set(conc["webinar_id"].dropna()))
    for wid in webinar_ids:
        samples = conc[(conc["webinar_id"] == wid) & (conc["ts"] >= start) & (conc["ts"] < end)]
        if samples.empty:
            continue
        base = f"webinar_id == '{wid}'"
        peak, peak_ts = find_peak(samples)
        rows.append(
            _moment(
                peak_ts,
                "peak",
                wid,
                f"peak of {peak} concurrent viewers",
                peak,
                "concurrency",
                f"{base} and {win}",
                len(samples),
            )
        )
        shifts = detect_level_shifts(samples, rel_change=rel_change, abs_share=abs_share)
        for sh in shifts.itertuples():
            rows.append(
                _moment(
                    sh.start_ts,
                    f"concurrency_{sh.kind}",
                    wid,
                    f"viewers {'rose' if sh.kind == 'spike' else 'fell'} from {sh.from_value} to "
                    f"{sh.to_value} by {sh.end_ts.isoformat()}",
                    sh.to_value,
                    "concurrency",
                    f"{base} and ts in [{sh.start_ts.isoformat()}, {sh.end_ts.isoformat()}]",
                    sh.samples,
                )
            )
        for rec in find_recoveries(samples, shifts).itertuples():
            rows.append(
                _moment(
                    rec.ts,
                    "concurrency_recovery",
                    wid,
                    f"viewers back to {rec.value} (pre-drop level {rec.level_before})",
                    rec.value,
                    "concurrency",
                    f"{base} and ts == {rec.ts.isoformat()}",
                    1,
                )
            )
    for ch in find_limit_changes(incident.realtime_events).itertuples():
        in_win = start <= ch.ts < end
        if not in_win:
            continue
        rows.append(
            _moment(
                ch.ts,
                "limit_change",
                "realtime:limit",
                f"Realtime connection limit {ch.from_limit} -> {ch.to_limit}, first reported "
                f"here; last reported at {ch.from_limit} at {ch.last_old_ts.isoformat()}",
                ch.to_limit,
                "realtime_events",
                f"family == 'billing_metrics' and limit == {ch.to_limit} and ts in "
                f"[{ch.ts.isoformat()}, next change)",
                ch.rows_at_new,
            )
        )
    notes = getattr(incident, "annotations", None)
    if notes is not None:
        for note in notes.itertuples():
            text = str(note.label) + (f": {note.note}" if pd.notna(note.note) and note.note else "")
            ts = note.ts if pd.notna(note.ts) else pd.NaT
            rows.append(
                _moment(
                    ts,
                    "annotation",
                    # The label itself: the description adds the note after a colon, and a
                    # label may hold colons of its own.
                    str(note.label),
                    text if pd.notna(ts) else f"{text} (time unknown)",
                    None,
                    "annotations",
                    f"label == '{note.label}'",
                    1,
                )
            )
    out = pd.DataFrame(rows, columns=[c for c in MOMENT_COLUMNS if c != "ts_local"])
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    out["ts_local"] = out["ts"].dt.tz_convert(tz)
    order = {
        k: i
        for i, k in enumerate(
            [
                "annotation",
                "limit_change",
                "concurrency_drop",
                "concurrency_spike",
                "peak",
                "concurrency_recovery",
                "first_error",
                "error_surge",
                "error_surge_end",
                "last_error",
            ]
        )
    }
    out["_order"] = out["kind"].map(order)
    out = out.sort_values(["ts", "_order", "subject"], kind="stable", na_position="last")
    return out[MOMENT_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The artefact: one webinar's hour, built once
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """One webinar's incident hour, built once and read by audit, stats, findings and figures.

    Attributes
    ----------
    webinar_id : str
        The webinar.
    start, end : pandas.Timestamp
        The analysis window, UTC, half-open.
    display_tz : str
        Zone of the ``*_local`` columns (display only).
    bucket, tolerance : pandas.Timedelta
        Bucket size of ``buckets``; tolerance of the HTTP <-> database matching.
    samples : pandas.DataFrame
        The webinar's concurrency samples (all of them, ts-sorted; values before ``start`` carry
        into the window).
    audience : Audience
        Peak, people, sessions, registrations and both means.
    buckets : pandas.DataFrame
        :func:`bucket_concurrency` of the webinar over the window.
    classes : tuple of ErrorClass
        Every error class with its denominator endpoint.
    error_minutes : pandas.DataFrame
        Every class per minute (:func:`tabulate_error_minutes`).
    frames : dict of str to pandas.DataFrame
        Per class key, the per-minute frame of docs/contract.md section 3.
    moments : pandas.DataFrame
        The key moments with their evidence (:func:`build_key_moments`).
    pairs : pandas.DataFrame
        Database errors paired with their HTTP responses (:func:`match_http_to_db`).
    """

    webinar_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    display_tz: str
    bucket: pd.Timedelta
    tolerance: pd.Timedelta
    samples: pd.DataFrame
    audience: Audience
    buckets: pd.DataFrame
    classes: tuple[ErrorClass, ...]
    error_minutes: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    moments: pd.DataFrame
    pairs: pd.DataFrame

    @property
    def concurrency(self) -> pd.DataFrame:
        """The webinar's samples inside the window: ts, viewers."""
        s = self.samples
        inside = s[(s["ts"] >= self.start) & (s["ts"] < self.end)]
        return inside[["ts", "viewers"]].reset_index(drop=True)


def build_timeline(
    incident: object,
    webinar_id: str,
    *,
    start: object = None,
    end: object = None,
    bucket: str | pd.Timedelta = DEFAULT_BUCKET,
    display_tz: str | None = None,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
) -> Timeline:
    """Build the :class:`Timeline` of one webinar: every shared piece of the middle, once.

    Parameters
    ----------
    incident : analysis.ingest.Incident
        The ingested incident (docs/contract.md section 2).
    webinar_id : str
        The webinar.
    start, end : optional
        The window (default: the incident's).
    bucket : optional
        Concurrency bucket size.
    display_tz : str, optional
        Display zone (default: the incident's).
    tolerance : optional
        Largest offset of a database error from its HTTP response.
    """
    check_webinar(incident, webinar_id)
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    size = parse_size(bucket)
    tol = parse_size(tolerance, "tolerance")
    classes = define_error_classes(incident, tolerance=tol)
    samples = _webinar_rows(incident.concurrency, webinar_id).sort_values("ts", kind="stable")
    return Timeline(
        webinar_id=webinar_id,
        start=start,
        end=end,
        display_tz=tz,
        bucket=size,
        tolerance=tol,
        samples=samples.reset_index(drop=True),
        audience=summarize_audience(
            incident, webinar_id, start=start, end=end, size=size, display_tz=tz
        ),
        buckets=bucket_concurrency(samples, start, end, size=size, display_tz=tz),
        classes=classes,
        error_minutes=tabulate_error_minutes(
            incident, start=start, end=end, classes=classes, display_tz=tz
        ),
        frames={
            c.key: build_minute_frame(
                incident, webinar_id, c.key, start=start, end=end, classes=classes
            )
            for c in classes
        },
        moments=build_key_moments(
            incident, webinar_id, start=start, end=end, display_tz=tz, classes=classes
        ),
        pairs=match_http_to_db(incident, classes, tolerance=tol),
    )


def tabulate_classes(classes: tuple[ErrorClass, ...]) -> pd.DataFrame:
    """Return the error classes as a table, one row each (for inspection in a notebook)."""
    cols = [f.name for f in fields(ErrorClass)]
    return pd.DataFrame([asdict(c) for c in classes], columns=cols)
