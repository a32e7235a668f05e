"""Concurrency and audience of a webinar: buckets, peaks, people, sessions, per-minute load.

Concurrency between samples is the last sample's value (a step function, last observation
carried forward); before a webinar's first sample it is unknown (NaN), never zero. Buckets are
half-open, ``[start + k*size, start + (k+1)*size)``, anchored at the window start; the last
bucket is cut at the window end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analysis._util import jsonable
from analysis.config import DEFAULT_DISPLAY_TZ
from analysis.exceptions import TimelineError
from analysis.window import (
    NANOSECOND,
    check_display_tz,
    check_webinar,
    count_per_minute,
    display_tz_of,
    ns_since,
    parse_size,
    resolve_window,
    select_webinar,
    to_utc,
)

DEFAULT_BUCKET = "5min"


def dedupe_samples(samples: pd.DataFrame) -> pd.DataFrame:
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
    s = dedupe_samples(samples)
    s_ns = ns_since(s["ts"], origin)
    s_val = s["viewers"].to_numpy(dtype="float64")
    e_ns = ((edges - origin) // NANOSECOND).to_numpy(dtype="int64")
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
    samples = select_webinar(concurrency, webinar_id)
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
    #: Both None when the export holds no presence table (:func:`sessions_exported`).
    unique_users: int | None
    sessions: int | None
    registrations: int | None
    registrations_in_window: int | None
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


def registrations_exported(incident: object) -> bool:
    """Whether the export holds the registrations table (rows, or a file read with none).

    Without it a webinar's registrations are unknown, not zero: a project without sign-ups
    (a shop, an open stream) exports no such table. An incident with no accounting of its files
    (built in code, not ingested) is taken as complete.
    """
    return _exported(incident, incident.registrations, "registrations")


def sessions_exported(incident: object) -> bool:
    """Whether the export holds the presence table (rows, or a file read with none).

    Without it the audience's people and sessions are unknown, not zero: a team that exports
    only a monitor's viewer counts (or no viewer table at all) still had an audience.
    """
    return _exported(incident, incident.sessions, "sessions")


def _exported(incident: object, table: pd.DataFrame, kind: str) -> bool:
    if len(table):
        return True
    accounting = getattr(incident, "accounting", None)
    if accounting is None or accounting.empty:
        return True
    return bool((accounting["kind"] == kind).any())


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
    export time); ``registrations_in_window`` only those created inside the window; both None
    when the export holds no registrations table (:func:`registrations_exported`).
    """
    check_webinar(incident, webinar_id)
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    conc = select_webinar(incident.concurrency, webinar_id)
    in_window = conc[(conc["ts"] >= start) & (conc["ts"] < end)]
    peak, peak_ts = find_peak(in_window)
    buckets = bucket_concurrency(conc, start, end, size=size, display_tz=tz)
    maxima = buckets["max"].dropna()
    weighted, covered = step_integrals(conc, pd.DatetimeIndex([start, end]))
    sessions = select_sessions(select_webinar(incident.sessions, webinar_id), start, end)
    regs = select_webinar(incident.registrations, webinar_id)
    exported = registrations_exported(incident)
    present = sessions_exported(incident)
    titles = select_webinar(incident.webinars, webinar_id)["title"].dropna()
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
        unique_users=int(sessions["user"].dropna().nunique()) if present else None,
        sessions=int(len(sessions)) if present else None,
        registrations=int(len(regs)) if exported else None,
        registrations_in_window=int(((regs["ts"] >= start) & (regs["ts"] < end)).sum())
        if exported
        else None,
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
    unique_users: int | None
    registrations: int | None
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
        unique_users=count_unique_users(incident.sessions, start, end)
        if sessions_exported(incident)
        else None,
        registrations=int(len(incident.registrations))
        if registrations_exported(incident)
        else None,
        busiest_buckets=tuple(rank_buckets(buckets, busiest)["label_local"]),
    )


def find_room_emptied(sessions: pd.DataFrame | None, webinar_id: object) -> pd.Timestamp | None:
    """Return when the webinar's last viewer left by its presence sessions, else None.

    None when the webinar has no session or one of them never left (``left_at`` empty): the
    room did not empty, or the export cannot say when.
    """
    if sessions is None or sessions.empty or "left_at" not in sessions.columns:
        return None
    mine = select_webinar(sessions, webinar_id)
    if mine.empty or mine["left_at"].isna().any():
        return None
    return mine["left_at"].max()


def minute_concurrency(
    concurrency: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    fill_leading: bool = False,
    emptied_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per minute: max viewers among the minute's samples, else the last earlier sample's value.

    Parameters
    ----------
    fill_leading
        Give the minutes before the webinar's first sample the first sample's value instead of
        NaN (count models need a finite load); ``samples`` stays 0 there and ``attrs``
        records how many minutes were filled.
    emptied_at
        When presence says the webinar's last viewer left (:func:`find_room_emptied`). A
        monitor that stops with its webinar leaves its last count standing; minutes that start
        at or after this moment, with no sample since an earlier one, read 0 instead of that
        stale count.

    Returns
    -------
    DataFrame: minute, concurrency (float; NaN before the first sample unless filled), samples.
    """
    minutes = pd.date_range(start, end, freq="1min", inclusive="left")
    samples = dedupe_samples(concurrency)
    inside = samples[(samples["ts"] >= start) & (samples["ts"] < end)]
    k = ((inside["ts"] - start) // pd.Timedelta(1, "min")).to_numpy(dtype="int64")
    mx = inside.assign(k=k).groupby("k")["viewers"].max()
    idx = pd.RangeIndex(len(minutes))
    out = pd.DataFrame({"minute": minutes})
    out["samples"] = count_per_minute(samples["ts"], start, end)
    # Where a minute has no sample, the monitor's last reported value still stands.
    s_ns = ns_since(samples["ts"], start)
    m_ns = ns_since(pd.Series(minutes), start)
    last = np.searchsorted(s_ns, m_ns, side="left") - 1
    vals = samples["viewers"].to_numpy(dtype="float64")
    carried = np.where(last >= 0, vals[np.clip(last, 0, None)] if len(vals) else np.nan, np.nan)
    if emptied_at is not None and len(vals):
        # The room emptied after the last reading the minute would carry: nobody is left.
        e_ns = int(ns_since(pd.Series([emptied_at]), start)[0])
        stale = (last >= 0) & (s_ns[np.clip(last, 0, None)] < e_ns) & (m_ns >= e_ns)
        carried = np.where(stale, 0.0, carried)
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


def tabulate_webinars(
    incident: object, *, start: object = None, end: object = None
) -> pd.DataFrame:
    """Every webinar of the incident with what the window holds of it, most sampled first.

    Returns
    -------
    DataFrame: webinar_id, title, starts_at, ends_at, samples (concurrency samples in the
    window), peak, peak_ts, sessions (overlapping the window), registrations (None when the
    export holds no registrations table). Webinars known only from concurrency samples (not in
    ``webinars``) are listed with an empty title.
    """
    start, end = resolve_window(incident, start, end)
    exported = registrations_exported(incident)
    conc = incident.concurrency
    known = incident.webinars.set_index("webinar_id") if len(incident.webinars) else None
    ids = sorted(set(incident.webinars["webinar_id"].dropna()) | set(conc["webinar_id"].dropna()))
    rows = []
    for wid in ids:
        inside = _samples_inside(conc, wid, start, end)
        peak, peak_ts = find_peak(inside)
        meta = known.loc[wid] if known is not None and wid in known.index else None
        rows.append(
            {
                "webinar_id": str(wid),
                "title": None if meta is None else meta.get("title"),
                "starts_at": None if meta is None else meta.get("starts_at"),
                "ends_at": None if meta is None else meta.get("ends_at"),
                "samples": int(len(inside)),
                "peak": peak,
                "peak_ts": peak_ts,
                "sessions": int(
                    len(select_sessions(select_webinar(incident.sessions, wid), start, end))
                ),
                "registrations": int((incident.registrations["webinar_id"] == wid).sum())
                if exported
                else None,
            }
        )
    cols = ["webinar_id", "title", "starts_at", "ends_at", "samples", "peak", "peak_ts",
            "sessions", "registrations"]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    return table.sort_values(["samples", "webinar_id"], ascending=[False, True], kind="stable")


def busiest_webinar(incident: object, *, start: object = None, end: object = None) -> str:
    """Return the webinar with the highest peak of concurrent viewers in the window.

    Ties (and webinars without a sample) by the most samples, then by id. The peak, not the
    sample count: a monitor samples every live webinar at the same pace, so three webinars
    live at once hold as many samples each, and "most sampled" chose the smallest id.
    Only the incident's ``window``, ``webinars`` and ``concurrency`` (the load) are read, so
    the report's command line can pass those three tables of ingest's cache
    (:func:`analysis.ingest.describe_load`) instead of the whole incident.

    Raises
    ------
    TimelineError
        When the incident knows no webinar at all.
    """
    start, end = resolve_window(incident, start, end)
    conc = incident.concurrency
    ids = sorted(
        {str(w) for w in incident.webinars["webinar_id"].dropna()}
        | {str(w) for w in conc["webinar_id"].dropna()}
    )
    if not ids:
        raise TimelineError("webinar_id: the incident has no webinar (webinars.csv and the "
                            "viewer counts are both empty)")  # fmt: skip

    def rank(wid: str) -> tuple[int, int, str]:
        inside = _samples_inside(conc, wid, start, end)
        peak, _ = find_peak(inside)
        return (-(-1 if peak is None else peak), -len(inside), wid)

    return min(ids, key=rank)


def _samples_inside(
    conc: pd.DataFrame, webinar_id: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One webinar's load samples inside ``[start, end)``."""
    samples = select_webinar(conc, webinar_id)
    return samples[(samples["ts"] >= start) & (samples["ts"] < end)]


#: Other webinars' largest audience, as a share of the project's peak, from which their viewers
#: are part of the load tested (and the audit says so): below it they move the load by less than
#: a tenth of its range (docs/statistics.md §8).
OTHER_WEBINARS_SHARE = 0.1


#: Spacing of the samples read from presence (as often as a typical monitor samples, so that
#: a quiet stretch between joins and leaves does not read as a gap in the measurement).
PRESENCE_SAMPLE_EVERY = pd.Timedelta(15, "s")


def count_open_sessions(
    sessions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Read the load from presence: each webinar's open sessions as monitor samples.

    A session is open at t when ``joined_at <= t < left_at`` (left_at empty: still open), the
    count the contract's monitor reports. Samples fall every :data:`PRESENCE_SAMPLE_EVERY` from
    the window's start and at every join and leave inside the window, so each minute's
    maximum is the exact peak of open sessions, not a sampled one.

    Returns
    -------
    DataFrame: ts, webinar_id, viewers (the ``concurrency`` table's columns), sorted by time.
    """
    grid = pd.date_range(start, end, freq=PRESENCE_SAMPLE_EVERY, inclusive="left")
    frames = []
    mine = select_sessions(sessions, start, end)
    for wid, rows in mine.groupby("webinar_id", sort=True):
        joined = np.sort(ns_since(rows["joined_at"], start))
        left = rows["left_at"]
        left_ns = np.sort(ns_since(left[left.notna()], start))
        events = np.concatenate([joined, left_ns])
        inside = events[(events >= 0) & (events < (end - start) // NANOSECOND)]
        at = np.unique(np.concatenate([ns_since(pd.Series(grid), start), inside]))
        viewers = np.searchsorted(joined, at, side="right") - np.searchsorted(
            left_ns, at, side="right"
        )
        frames.append(
            pd.DataFrame(
                {
                    "ts": start + pd.to_timedelta(at, unit="ns"),
                    "webinar_id": str(wid),
                    "viewers": viewers.astype("int64"),
                }
            )
        )
    if not frames:
        return pd.DataFrame({"ts": pd.to_datetime([], utc=True), "webinar_id": [], "viewers": []})
    out = pd.concat(frames, ignore_index=True).sort_values(["ts", "webinar_id"], kind="stable")
    return out.reset_index(drop=True)


def project_concurrency(
    concurrency: pd.DataFrame,
    webinar_id: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    sessions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per minute: the project's audience, the load that project-wide errors met.

    Logs carry no webinar id, so errors, requests and the limits behind them (Postgres and
    pooler connections, Realtime's project quotas) are the whole project's: every error class is
    tested against the viewers of every webinar live in the window, summed minute by minute
    (docs/statistics.md §8). Each webinar's minute is read as
    :func:`minute_concurrency` reads it, and every webinar alike counts 0 before its first
    sample (it had not started), so the load does not depend on which webinar is reported.
    Other webinars count when one has a sample inside the window and together they reach
    :data:`OTHER_WEBINARS_SHARE` of the project's peak in some minute; below that the load is
    this webinar's alone, read as before (its leading minutes take its first sample).
    ``sessions`` (the presence table, optional): a webinar whose every session has left
    counts 0 from its last viewer's leaving on, where its monitor has no later sample
    (:func:`minute_concurrency`'s ``emptied_at``).

    Returns
    -------
    DataFrame: minute, concurrency (the load tested: the project's viewers, or this webinar's
    alone; NaN only when this webinar has no sample at all), samples (this webinar's; with the
    project's load, every live webinar's), webinar_concurrency (this webinar's viewers; with
    the project's load, 0 before its first sample). With the project's load, each webinar's
    unsampled minutes are interpolated before the sum. ``attrs``: ``leading_minutes_filled``
    (this webinar's minutes given its first sample; 0 with the project's load),
    ``load_scope`` (``project`` or ``webinar``), ``webinars_live`` (the ids summed, this
    webinar first), ``others_peak`` and ``project_peak`` (the largest per-minute viewers of
    the other webinars together and of all).
    """
    mine = select_webinar(concurrency, webinar_id)
    emptied = find_room_emptied(sessions, webinar_id)
    own = minute_concurrency(mine, start, end, fill_leading=True, emptied_at=emptied)
    own_load = own["concurrency"].to_numpy(dtype="float64")
    inside = concurrency[(concurrency["ts"] >= start) & (concurrency["ts"] < end)]
    others = sorted(set(inside["webinar_id"].dropna().astype(str)) - {str(webinar_id)})
    parts = [_read_part(mine, start, end, emptied)]
    parts += [
        _read_part(select_webinar(concurrency, w), start, end, find_room_emptied(sessions, w))
        for w in others
    ]
    total = np.sum([load for load, _ in parts], axis=0)
    rest = total - parts[0][0]
    others_peak = float(rest.max()) if len(rest) else 0.0
    project_peak = float(total.max()) if len(total) else 0.0
    project = (
        bool(others) and others_peak > 0 and others_peak >= OTHER_WEBINARS_SHARE * project_peak
    )
    out = own.copy()
    out["webinar_concurrency"] = own_load
    filled = own.attrs["leading_minutes_filled"]
    if project and not np.isnan(own_load).all():
        out["concurrency"] = total
        # The load is measured where any live webinar was sampled (audit, statistics).
        out["samples"] = np.sum([n for _, n in parts], axis=0).astype("int64")
        out["webinar_concurrency"] = parts[0][0]
        filled = 0
    out.attrs.update(
        leading_minutes_filled=filled,
        load_scope="project" if project else "webinar",
        webinars_live=[str(webinar_id), *others] if project else [str(webinar_id)],
        others_peak=others_peak,
        project_peak=project_peak,
    )
    return out


def _read_part(
    samples: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    emptied_at: pd.Timestamp | None = None,
) -> tuple:
    """One webinar's part of the project's load: (viewers per minute, samples per minute).

    0 before its first sample; minutes without a sample between two sampled ones are
    interpolated for each webinar on its own (:func:`analysis.stats.series.interpolate_unsampled`
    reads a single webinar's monitor; on a sum, one webinar's fresh sample would hide another's
    stale carried value).
    """
    from analysis.stats.series import interpolate_unsampled

    minute = minute_concurrency(samples, start, end, emptied_at=emptied_at)
    counts = minute["samples"].to_numpy(dtype="int64")
    load = np.nan_to_num(minute["concurrency"].to_numpy(dtype="float64"), nan=0.0)
    # Rounded: the load is a count of sessions (the statistics check it is one).
    return np.round(interpolate_unsampled(load, counts)), counts


def describe_load(load: pd.DataFrame) -> dict:
    """Describe the load tested for findings: scope, webinars summed, peaks.

    Returns
    -------
    dict: scope (``project`` or ``webinar``), webinars (ids summed, this webinar first),
    peak (the tested load's largest minute) and peak_ts (its first such minute), webinar_peak
    (this webinar's), others_peak (the other webinars' together, whether or not summed).
    """
    tested = load["concurrency"].to_numpy(dtype="float64")
    own = load["webinar_concurrency"].to_numpy(dtype="float64")
    known = np.nan_to_num(tested, nan=-np.inf)
    return {
        "scope": load.attrs.get("load_scope", "webinar"),
        "webinars": list(load.attrs.get("webinars_live", [])),
        "peak": _max_or_none(tested),
        "peak_ts": load["minute"].iloc[int(np.argmax(known))] if np.isfinite(known).any() else None,
        "webinar_peak": _max_or_none(own),
        "others_peak": int(round(load.attrs.get("others_peak", 0.0))),
    }


def _max_or_none(values: np.ndarray) -> int | None:
    known = values[~np.isnan(values)]
    return int(round(known.max())) if known.size else None


def find_webinar_share(load: pd.DataFrame, k: float) -> int | None:
    """Return this webinar's viewers in the first minute the tested load passed ``k``.

    What a project-wide K meant for this webinar: "K sessions across the project, of which
    this webinar had N". None when the load never passed ``k``.
    """
    tested = load["concurrency"].to_numpy(dtype="float64")
    own = load["webinar_concurrency"].to_numpy(dtype="float64")
    above = np.flatnonzero(np.nan_to_num(tested, nan=-np.inf) > k)
    if not above.size:
        return None
    return int(round(own[above[0]]))


def select_tested_samples(samples: pd.DataFrame, load: pd.DataFrame) -> pd.DataFrame:
    """Return the readings a rule compares with a limit or K (ts, viewers): the tested load.

    This webinar's samples when the load tested is its own; the project's per-minute
    audience (``project_concurrency``) when other webinars are part of it.
    """
    if load.attrs.get("load_scope") != "project":
        return samples
    known = load[load["concurrency"].notna()]
    return pd.DataFrame({"ts": known["minute"], "viewers": known["concurrency"]}).reset_index(
        drop=True
    )
