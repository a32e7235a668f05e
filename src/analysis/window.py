"""The analysis window and its clock: UTC times, durations, the display zone, one webinar's rows.

Every stage builds on these: a window is half-open ``[start, end)`` in UTC, times are tz-aware
UTC throughout, and the display zone (checked here) appears only in columns whose name ends in
``_local``. Logs carry no webinar id, so errors and requests are project-wide; only
concurrency, sessions and registrations are selected per webinar.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from analysis._util import parse_utc
from analysis.config import DEFAULT_DISPLAY_TZ
from analysis.exceptions import TimelineError

#: One nanosecond: times and durations become int64 nanoseconds by ``// NANOSECOND``.
NANOSECOND = pd.Timedelta(1, "ns")


def to_utc(value: object, name: str = "time") -> pd.Timestamp:
    """Return ``value`` as a UTC Timestamp; a naive or unparsable value is a TimelineError."""
    ts = parse_utc(value)
    if ts is None:
        raise TimelineError(
            f"{name}: expected a tz-aware timestamp (ISO 8601 with Z or an offset), found {value!r}"
        )
    return ts


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


def ns_since(ts: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    """Nanoseconds since ``origin`` as int64, exact whatever the column's resolution."""
    return ((ts - origin) // NANOSECOND).to_numpy(dtype="int64")


def select_webinar(frame: pd.DataFrame, webinar_id: str | None) -> pd.DataFrame:
    """Return the rows of ``frame`` of one webinar (None: every row)."""
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


def count_per_minute(ts: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Count the times ``ts`` inside ``[start, end)`` per minute (int64, one per minute)."""
    n = int(np.ceil((end - start) / pd.Timedelta(1, "min")))
    inside = ts[(ts >= start) & (ts < end)]
    k = ((inside - start) // pd.Timedelta(1, "min")).to_numpy(dtype="int64")
    return np.bincount(k, minlength=n)[:n].astype("int64")
