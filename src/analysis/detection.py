"""Detection: when an alert on load could have fired, against when the errors began.

The earliest crossing of a published limit or of a capacity class's threshold K is set against
the first surge of a capacity-driven class; the difference is the lead an alert on that rule
would have won. Part of the findings document (:func:`analysis.findings.compile_findings`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from analysis._util import format_utc, jsonable

#: Limits drawn on the concurrency figure and used for detection (viewer connections map to
#: Realtime connections: one per open tab).
DETECTION_LIMITS = (("Realtime", "Free plan"), ("Realtime", "Pro plan"))


def _first_above(conc: pd.DataFrame, value: float) -> str | None:
    above = conc[conc["viewers"] > value]
    return format_utc(above["ts"].iloc[0]) if len(above) else None


def logs_realtime(incident: object) -> bool:
    """Whether the data holds any Realtime at all: a log line or a log-store minute."""
    minutes = getattr(incident, "realtime_minutes", None)
    return bool(len(incident.realtime_events)) or (minutes is not None and bool(len(minutes)))


def reported_realtime_limits(incident: object) -> list[float]:
    """Realtime connection limits the project's own billing samples reported (any order)."""
    rt = incident.realtime_events
    values = []
    if len(rt) and {"family", "limit"} <= set(rt.columns):
        values.append(rt.loc[rt["family"] == "billing_metrics", "limit"])
    minutes = getattr(incident, "realtime_minutes", None)
    if minutes is not None and "connection_limit" in getattr(minutes, "columns", ()):
        values.append(minutes["connection_limit"])
    found = pd.to_numeric(pd.concat(values), errors="coerce") if values else pd.Series(dtype=float)
    return sorted({float(v) for v in found.dropna() if v > 0})


def summarize_detection(
    conc: pd.DataFrame,
    moments: pd.DataFrame,
    capacity: list[dict],
    supabase_limits: Sequence[Mapping],
    class_rows: list[dict],
    *,
    realtime: bool = True,
    realtime_limits: Sequence[float] = (),
) -> dict:
    """When an alert could have fired: limits and K crossed, first error, first surge, humans.

    The earliest signal among "concurrency above a published limit" and "concurrency above the
    estimated threshold K" is compared with the first error surge; the difference is the time an
    alert on that rule would have won. Realtime's published limits are rules only where the
    data has Realtime (``realtime``): a project that logged none may not use it; and only from
    the smallest limit its billing samples reported (``realtime_limits``), if any: a project
    whose samples say 500 is not on the Free plan's 200.
    """
    floor = min(realtime_limits, default=0.0)
    limits = [
        {"name": f"{lim['product']} {lim['tier']}", "value": lim["limit"]}
        for lim in supabase_limits
        if (lim["product"], lim["tier"]) in DETECTION_LIMITS
        and (realtime or lim["product"] != "Realtime")
        and (lim["product"] != "Realtime" or lim["limit"] >= floor)
    ]
    first_sample = format_utc(conc["ts"].iloc[0]) if len(conc) else None
    crossings = [
        {
            **lim,
            "rule": f"viewers > {lim['value']} ({lim['name']})",
            "at": _first_above(conc, lim["value"]),
        }
        for lim in limits
    ]
    for cap in capacity:
        if cap["verdict"] == "capacity" and cap["k"] is not None:
            crossings.append(
                {
                    "name": f"K ({cap['error_class']})",
                    "value": cap["k"],
                    "rule": f"viewers > K = {cap['k']:g} ({cap['error_class']})",
                    "at": _first_above(conc, cap["k"]),
                    "error_class": cap["error_class"],
                }
            )
    for crossing in crossings:
        # Above the line from the first sample on: the crossing itself lies before the window.
        crossing["at_window_start"] = crossing["at"] is not None and crossing["at"] == first_sample
    surges = moments[moments["kind"] == "error_surge"]
    first_surge = surges.iloc[0] if len(surges) else None
    firsts = [r for r in class_rows if r["count"]]
    first_error = min(firsts, key=lambda r: r["first"]) if firsts else None
    notes = moments[moments["kind"] == "annotation"]
    timed = notes[notes["ts"].notna()]
    if first_error is not None:
        # A note before the first error is context (the deploy that started it), no response.
        timed = timed[pd.to_datetime(timed["ts"], utc=True) >= pd.Timestamp(first_error["first"])]
    fired = [c for c in crossings if c["at"]]
    earliest = min(fired, key=lambda c: c["at"]) if fired else None
    # An alert on load can only have warned of errors that load drives: the lead is measured
    # to the first surge of a capacity class, not to a flat bug's surge that came earlier.
    limited = {c["error_class"] for c in capacity if c["verdict"] == "capacity"}
    load_surges = surges[surges["subject"].isin(limited)]
    lead = None
    if earliest and len(load_surges):
        lead = (
            pd.Timestamp(load_surges.iloc[0]["ts"]) - pd.Timestamp(earliest["at"])
        ) / pd.Timedelta("1min")
        lead = int(math.floor(lead)) if lead > 0 else None
    return {
        "crossings": crossings,
        "first_error": None
        if first_error is None
        else {"at": first_error["first"], "error_class": first_error["key"]},
        "first_surge": None
        if first_surge is None
        else {"at": format_utc(first_surge["ts"]), "error_class": str(first_surge["subject"])},
        "earliest_rule": None if earliest is None else earliest["rule"],
        "lead_minutes": lead,
        "first_human_action": None
        if timed.empty
        else {"at": format_utc(timed["ts"].iloc[0]), "label": str(timed["description"].iloc[0])},
        "untimed_human_actions": [str(label) for label in notes[notes["ts"].isna()]["subject"]],
        "limit_changes": [
            {"at": format_utc(row.ts), "value": jsonable(row.value, time=format_utc)}
            for row in moments[moments["kind"] == "limit_change"].itertuples()
        ],
    }
