"""The incident hour of one webinar, reconstructed once: the :class:`Timeline` artefact.

:func:`build_timeline` assembles what audit, statistics, findings and figures all read: the
buckets and audience (:mod:`analysis.concurrency`), the error classes
(:mod:`analysis.error_classes`), the per-minute frame of each class (contract section 3, built
here), the key moments (:mod:`analysis.moments`) and the HTTP <-> database pairs
(:mod:`analysis.matching`). Window and clock conventions are in :mod:`analysis.window`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import traffic
from analysis.concurrency import (
    DEFAULT_BUCKET,
    Audience,
    bucket_concurrency,
    project_concurrency,
    summarize_audience,
)
from analysis.error_classes import (
    ErrorClass,
    count_class_per_minute,
    define_error_classes,
    find_error_class,
    find_error_classes,
)
from analysis.matching import DEFAULT_TOLERANCE
from analysis.moments import build_key_moments
from analysis.window import (
    check_webinar,
    display_tz_of,
    parse_size,
    resolve_window,
    select_webinar,
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
    DataFrame: minute (UTC, left edge), requests (to every endpoint where the class occurs,
    project-wide),
    errors (project-wide), concurrency (the load tested: the viewers of every webinar live in
    the window, summed, :func:`analysis.concurrency.project_concurrency`; each webinar's
    minute is its max viewers in the minute, carried forward from the last sample where the
    minute has none; this webinar's minutes before its first sample take that sample's value,
    counted in ``attrs['leading_minutes_filled']``; NaN only if the webinar has no sample at
    all), samples (this webinar's), rate (errors/requests, NaN where no request),
    webinar_concurrency (this webinar's viewers alone). ``attrs`` also
    holds error_class, endpoint (the main one), endpoints (all of the denominator's; empty:
    every request), webinar_id, scope, load_scope (``project`` when another webinar is live in
    the window, else ``webinar``), webinars_live and traffic_source (where the request
    counts came from: raw rows or the log store's aggregates, :mod:`analysis.traffic`).
    """
    check_webinar(incident, webinar_id)
    start, end = resolve_window(incident, start, end)
    classes = define_error_classes(incident, tolerance=tolerance) if classes is None else classes
    cls = find_error_class(classes, error_class)
    counts = count_class_per_minute(incident, cls, start, end)
    load = project_concurrency(incident.concurrency, webinar_id, start, end, incident.sessions)
    return _minute_frame(incident, webinar_id, cls, load, counts)


def _minute_frame(
    incident: object,
    webinar_id: str,
    cls: ErrorClass,
    load: pd.DataFrame,
    counts: tuple[np.ndarray, np.ndarray],
) -> pd.DataFrame:
    """Return the frame of :func:`build_minute_frame` from its load and its counts.

    ``load`` is the webinar's :func:`analysis.concurrency.project_concurrency` (shared by the
    classes, copied here); ``counts`` the class's (errors, requests) per minute.
    """
    frame = load.copy()
    errors, requests = counts
    frame.insert(1, "requests", requests)
    frame.insert(2, "errors", errors)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["rate"] = np.where(requests > 0, errors / np.maximum(requests, 1), np.nan)
    frame.attrs.update(
        error_class=cls.key,
        endpoint=cls.endpoint,
        endpoints=list(cls.endpoints),
        webinar_id=webinar_id,
        scope=(
            "errors, requests and concurrency project-wide"
            if load.attrs.get("load_scope") == "project"
            else "errors and requests project-wide; concurrency of the one webinar live"
        ),
        load_scope=load.attrs.get("load_scope", "webinar"),
        webinars_live=list(load.attrs.get("webinars_live", [webinar_id])),
        traffic_source=traffic.find_traffic(incident).attrs.get("source"),
    )
    return frame


def tabulate_error_minutes(
    incident: object,
    *,
    start: object = None,
    end: object = None,
    classes: tuple[ErrorClass, ...] | None = None,
    display_tz: str | None = None,
    counts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Every class per minute beside the request volume of the endpoints where it occurs.

    ``counts``: each class's (errors, requests) per minute of the window, when the caller
    already has them (:func:`analysis.error_classes.count_class_per_minute`).

    Returns
    -------
    DataFrame: minute, minute_local, error_class, endpoints (a tuple: the endpoints whose
    requests are the class's denominator; empty: every request), errors, requests, rate.
    """
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    classes = define_error_classes(incident) if classes is None else classes
    minutes = pd.date_range(start, end, freq="1min", inclusive="left")
    parts = []
    for cls in classes:
        if counts is not None and cls.key in counts:
            errors, requests = counts[cls.key]
        else:
            errors, requests = count_class_per_minute(incident, cls, start, end)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(requests > 0, errors / np.maximum(requests, 1), np.nan)
        parts.append(
            pd.DataFrame(
                {
                    "minute": minutes,
                    "error_class": cls.key,
                    "endpoints": [tuple(cls.endpoints)] * len(minutes),
                    "errors": errors,
                    "requests": requests,
                    "rate": rate,
                }
            )
        )
    cols = ["minute", "minute_local", "error_class", "endpoints", "errors", "requests", "rate"]
    if not parts:
        # No error class: the same columns and dtypes, no rows (figures draw an empty panel).
        parts.append(
            pd.DataFrame(
                {
                    "minute": pd.DatetimeIndex([], tz="UTC"),
                    "error_class": pd.Series([], dtype=object),
                    "endpoints": pd.Series([], dtype=object),
                    "errors": pd.Series([], dtype="int64"),
                    "requests": pd.Series([], dtype="int64"),
                    "rate": pd.Series([], dtype="float64"),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["minute_local"] = out["minute"].dt.tz_convert(tz)
    return out[cols]


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
        Database errors paired with their HTTP responses: those the classes were found from
        (:func:`analysis.error_classes.find_error_classes`, the pairing of
        :func:`analysis.matching.match_http_to_db`).
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
    classes, pairs = find_error_classes(incident, tolerance=tol)
    counts = {c.key: count_class_per_minute(incident, c, start, end) for c in classes}
    samples = select_webinar(incident.concurrency, webinar_id).sort_values("ts", kind="stable")
    load = project_concurrency(incident.concurrency, webinar_id, start, end, incident.sessions)
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
            incident, start=start, end=end, classes=classes, display_tz=tz, counts=counts
        ),
        frames={
            c.key: _minute_frame(incident, webinar_id, c, load, counts[c.key]) for c in classes
        },
        moments=build_key_moments(
            incident, webinar_id, start=start, end=end, display_tz=tz, classes=classes
        ),
        pairs=pairs,
    )
