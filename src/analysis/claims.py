"""Claims made about an incident, tested against its data.

An incident directory may list what an earlier write-up asserted, as ``claims`` in
``incident.json``: each claim is a ``statement`` (the words, shown as written), the quantity it
``measures`` and the ``figure`` it asserts. :func:`read_claims` validates them;
:func:`check_claims` sets each against the measured value and returns one of

- ``confirmed``: the data gives the figure and it means what the statement says;
- ``misleading``: the figure is reproduced, but it measures something other than what the
  words suggest (sessions counted as people, a mean of maxima read as the mean load, a
  traffic-driven bug called a capacity problem);
- ``contradicted``: the data gives a different figure;
- ``unverifiable``: nothing in the exports measures it.

A claim's ``figure`` is a number (``approximate: true`` for "about"), a range ``[low, high]``
(``null`` for an open end; how a report's words such as "dozens" become a range is the claim
author's documented choice), or for ``error_cause`` a verdict (``capacity``, ``traffic``,
``unrelated``). A claim with ``webinar_id`` is checked in that webinar's report only; audience
claims without one are about the incident's totals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis._util import format_utc
from analysis.exceptions import IngestError

#: The quantities a claim may measure, and what the check compares it with.
MEASURES = (
    "peak_concurrent_viewers",
    "average_concurrency",
    "unique_users",
    "registrations",
    "error_count",
    "error_cause",
    "limit_raised",
    "compute_upgraded",
)
OUTCOMES = ("confirmed", "misleading", "contradicted", "unverifiable")
CAUSES = ("capacity", "traffic", "unrelated")
#: An "about" figure matches within half a unit or this share of itself, whichever is wider.
APPROXIMATE_SHARE = 0.02
#: A mean of bucket maxima "reads as" the mean load when the two differ by less than this share.
MEAN_GAP_SHARE = 0.05
SOURCES = ("db_errors", "realtime_events")


@dataclass(frozen=True)
class Claim:
    """One claim as listed in ``incident.json``."""

    number: int
    statement: str
    measures: str
    figure: object
    approximate: bool = False
    webinar_id: str | None = None
    error_class: str | None = None
    source: str | None = None


def read_claims(manifest: Mapping, path: object = "incident.json") -> tuple[Claim, ...]:
    """Validate the manifest's ``claims`` list.

    Raises
    ------
    IngestError
        One line naming ``claims[i].<field>``, what was expected and what was found.
    """
    raw = manifest.get("claims")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise IngestError(path, "bad claims", field="claims", expected="a list", found=raw)
    out = []
    for i, item in enumerate(raw):
        where = f"claims[{i}]"
        if not isinstance(item, dict):
            raise IngestError(path, "bad claim", field=where, expected="an object", found=item)
        statement = item.get("statement")
        if not isinstance(statement, str) or not statement.strip():
            raise IngestError(
                path, "bad claim", field=f"{where}.statement", expected="text", found=statement
            )
        measures = item.get("measures")
        if measures not in MEASURES:
            raise IngestError(
                path,
                "bad claim",
                field=f"{where}.measures",
                expected="one of " + ", ".join(MEASURES),
                found=measures,
            )
        figure = _read_figure(item.get("figure"), measures, path, f"{where}.figure")
        source = item.get("source")
        if source is not None and source not in SOURCES:
            raise IngestError(
                path,
                "bad claim",
                field=f"{where}.source",
                expected="one of " + ", ".join(SOURCES),
                found=source,
            )
        for key in ("webinar_id", "error_class"):
            if item.get(key) is not None and not isinstance(item.get(key), str):
                raise IngestError(
                    path, "bad claim", field=f"{where}.{key}", expected="text", found=item[key]
                )
        if measures in ("error_cause",) and not item.get("error_class"):
            raise IngestError(
                path,
                "bad claim",
                field=f"{where}.error_class",
                expected="the class key the cause is claimed for",
                found=None,
            )
        out.append(
            Claim(
                number=i + 1,
                statement=statement.strip(),
                measures=measures,
                figure=figure,
                approximate=bool(item.get("approximate", False)),
                webinar_id=item.get("webinar_id"),
                error_class=item.get("error_class"),
                source=source,
            )
        )
    return tuple(out)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _read_figure(value: object, measures: str, path: object, field: str) -> object:
    if measures == "error_cause":
        if value not in CAUSES:
            raise IngestError(
                path, "bad claim", field=field, expected="one of " + ", ".join(CAUSES), found=value
            )
        return value
    if measures in ("limit_raised", "compute_upgraded"):
        if value is not None and not _is_number(value):
            raise IngestError(
                path, "bad claim", field=field, expected="a number or null", found=value
            )
        return value
    if _is_number(value):
        return value
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(v is None or _is_number(v) for v in value)
        and not (value[0] is None and value[1] is None)
        and (value[0] is None or value[1] is None or value[0] <= value[1])
    ):
        return tuple(value)
    raise IngestError(
        path, "bad claim", field=field, expected="a number or [low, high] (null: open)", found=value
    )


def matches(figure: object, measured: float | None, approximate: bool = False) -> bool:
    """Whether a measured value agrees with a claimed number or range."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return False
    if isinstance(figure, tuple):
        low, high = figure
        return (low is None or measured >= low) and (high is None or measured <= high)
    figure = float(figure)
    if approximate:
        return abs(measured - figure) <= max(0.5, APPROXIMATE_SHARE * abs(figure))
    return math.isclose(measured, figure, rel_tol=0, abs_tol=1e-9)


def collect_measurements(findings: Mapping, incident: object) -> dict:
    """Everything the claims can be checked against, from the findings and the incident.

    Incident-wide values (totals over webinars, error counts by source, Realtime limit changes
    with the billing rows that bracket them) come from the ingested tables in the window.
    """
    from analysis.concurrency import summarize_totals
    from analysis.moments import find_limit_changes

    rep = findings["report"]
    start, end = pd.Timestamp(rep["window"]["start"]), pd.Timestamp(rep["window"]["end"])
    totals = summarize_totals(incident, start=start, end=end)
    rt = incident.realtime_events
    rt = rt[(rt["ts"] >= start) & (rt["ts"] < end)]
    changes = find_limit_changes(rt)
    db = incident.db_errors
    billing = int((rt["family"] == "billing_metrics").sum()) if len(rt) else 0
    by_source = {}
    for source in SOURCES:
        rows = [c for c in findings["error_classes"] if c["source"] == source]
        by_source[source] = sum(c["count"] for c in rows)
    return {
        "webinar_id": rep["webinar_id"],
        "audience": dict(findings["audience"]),
        "totals": {
            "peak": totals.peak,
            "unique_users": totals.unique_users,
            "registrations": totals.registrations,
            "webinars": totals.webinars,
        },
        "classes": {c["key"]: c["count"] for c in findings["error_classes"]},
        "verdicts": {
            v["error_class"]: {
                "verdict": v["verdict"],
                "measurement_caveat": bool(v.get("measurement_caveat")),
            }
            for v in findings["verdicts"]
        },
        "errors_by_source": by_source,
        "errors_total": findings["impact"]["errors_total"],
        "has_db_logs": bool(len(db)) or by_source["db_errors"] > 0,
        "billing_rows": billing,
        "limit_changes": [
            {
                "from_limit": int(row.from_limit),
                "to_limit": int(row.to_limit),
                "after": format_utc(row.last_old_ts),
                "before": format_utc(row.ts),
            }
            for row in changes.itertuples()
        ],
    }


def _result(claim: Claim, outcome: str, reason: str, **measured: object) -> dict:
    figure = list(claim.figure) if isinstance(claim.figure, tuple) else claim.figure
    return {
        "number": claim.number,
        "statement": claim.statement,
        "measures": claim.measures,
        "figure": figure,
        "approximate": claim.approximate,
        "scope": claim.webinar_id or "incident",
        "error_class": claim.error_class,
        "outcome": outcome,
        "reason": reason,
        "measured": measured,
    }


def _check_peak(claim: Claim, m: Mapping) -> dict:
    scope = m["audience"] if claim.webinar_id else m["totals"]
    peak, people = scope.get("peak"), scope.get("unique_users")
    sessions = m["audience"].get("sessions") if claim.webinar_id else None
    if peak is None:
        return _result(claim, "unverifiable", "no_concurrency")
    if not matches(claim.figure, peak, claim.approximate):
        return _result(claim, "contradicted", "other_peak", peak=peak, people=people)
    if people is not None and peak > people:
        return _result(
            claim, "misleading", "sessions_not_people", peak=peak, people=people, sessions=sessions
        )
    return _result(claim, "confirmed", "peak_matches", peak=peak, people=people)


def _check_average(claim: Claim, m: Mapping) -> dict:
    if not claim.webinar_id:
        return _result(claim, "unverifiable", "average_needs_webinar")
    aud = m["audience"]
    mean_max, mean_tw = aud.get("mean_of_bucket_maxima"), aud.get("time_weighted_mean")
    buckets = aud.get("buckets_with_samples")
    values = {"mean_of_maxima": mean_max, "time_weighted_mean": mean_tw, "buckets": buckets}
    if mean_tw is None and mean_max is None:
        return _result(claim, "unverifiable", "no_concurrency")
    if matches(claim.figure, mean_tw, claim.approximate):
        return _result(claim, "confirmed", "time_weighted_matches", **values)
    if matches(claim.figure, mean_max, claim.approximate):
        gap = mean_tw is not None and abs(mean_max - mean_tw) > MEAN_GAP_SHARE * mean_tw
        if gap:
            return _result(claim, "misleading", "mean_of_maxima", **values)
        return _result(claim, "confirmed", "time_weighted_matches", **values)
    return _result(claim, "contradicted", "other_average", **values)


def _check_count(claim: Claim, m: Mapping, field: str) -> dict:
    scope = m["audience"] if claim.webinar_id else m["totals"]
    value = scope.get(field)
    if value is None:
        return _result(claim, "unverifiable", "not_measured")
    outcome = "confirmed" if matches(claim.figure, value, claim.approximate) else "contradicted"
    return _result(claim, outcome, f"{field}_{outcome}", value=value)


def _check_errors(claim: Claim, m: Mapping) -> dict:
    if claim.error_class:
        value = m["classes"].get(claim.error_class, 0)
        prefix = claim.error_class.split(":", 1)[0]
        source = {"realtime": "realtime_events", "http": "requests"}.get(prefix, "db_errors")
    elif claim.source:
        value, source = m["errors_by_source"][claim.source], claim.source
    else:
        value, source = m["errors_total"], None
    logs = {"db_errors": m["has_db_logs"], "realtime_events": True, None: True}
    if value == 0 and not logs.get(source, True):
        return _result(claim, "unverifiable", "no_logs", source=source)
    outcome = "confirmed" if matches(claim.figure, value, claim.approximate) else "contradicted"
    return _result(claim, outcome, f"count_{outcome}", value=value, source=source)


def _check_cause(claim: Claim, m: Mapping) -> dict:
    v = m["verdicts"].get(claim.error_class)
    if v is None:
        return _result(claim, "unverifiable", "class_absent")
    verdict = v["verdict"]
    if verdict not in CAUSES or v["measurement_caveat"]:
        reason = "undetermined"
        if v["measurement_caveat"]:
            reason = "load_unmeasured"
        elif verdict == "insufficient":
            reason = "too_few_errors"
        return _result(claim, "unverifiable", reason, verdict=verdict)
    if verdict == claim.figure:
        return _result(claim, "confirmed", "verdict_matches", verdict=verdict)
    return _result(claim, "misleading", f"verdict_{verdict}", verdict=verdict)


def _check_limit(claim: Claim, m: Mapping) -> dict:
    if not m["billing_rows"]:
        return _result(claim, "unverifiable", "no_billing_rows")
    raised = [c for c in m["limit_changes"] if c["to_limit"] > c["from_limit"]]
    if not raised:
        return _result(claim, "contradicted", "no_limit_change", rows=m["billing_rows"])
    change = raised[0]
    if claim.figure is not None and not matches(claim.figure, change["to_limit"], True):
        return _result(claim, "contradicted", "other_limit", **change)
    return _result(claim, "confirmed", "limit_bracketed", **change)


def _check_compute(claim: Claim, m: Mapping) -> dict:
    # No Supabase export records the compute size; a raised Realtime limit is a plan change.
    raised = [c for c in m["limit_changes"] if c["to_limit"] > c["from_limit"]]
    fields = raised[0] if raised else {}
    return _result(claim, "unverifiable", "compute_not_logged", **fields)


def check_claim(claim: Claim, measured: Mapping) -> dict:
    """Test one claim; return its record for findings.json (outcome, reason code, values)."""
    if claim.measures == "peak_concurrent_viewers":
        return _check_peak(claim, measured)
    if claim.measures == "average_concurrency":
        return _check_average(claim, measured)
    if claim.measures in ("unique_users", "registrations"):
        return _check_count(claim, measured, claim.measures)
    if claim.measures == "error_count":
        return _check_errors(claim, measured)
    if claim.measures == "error_cause":
        return _check_cause(claim, measured)
    if claim.measures == "limit_raised":
        return _check_limit(claim, measured)
    return _check_compute(claim, measured)


def check_claims(claims: Sequence[Claim], measured: Mapping) -> list[dict]:
    """Test every claim that concerns this report's webinar (or the whole incident)."""
    wid = measured["webinar_id"]
    return [check_claim(c, measured) for c in claims if c.webinar_id in (None, wid)]
