"""Findings of one webinar's postmortem: every figure the report shows, as one JSON document.

:func:`compile_findings` reads the stages' results (the :class:`~analysis.timeline.Timeline`,
the :class:`~analysis.stats.WebinarStatistics`, the audit's issues) and returns an
:class:`Analysis`: the ``findings`` dict (written as ``findings.json``, validated against
``findings.schema.json``) beside those objects, from which the figures are drawn. The report
renders only what is in ``findings``, so the JSON is the record of what stakeholders read;
dicts exist only here, at the serialisation edge. :mod:`analysis.pipeline` chains the stages.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import actions, claims, naming, overview, stats
from analysis._util import format_checksums, format_utc, jsonable, sha256_bytes, visible_json
from analysis.audit import QualityIssue
from analysis.capacity import STANDARD_SIZES, plan_capacity
from analysis.concurrency import (
    describe_load,
    find_webinar_share,
    project_concurrency,
    select_tested_samples,
)
from analysis.config import DEFAULT_DISPLAY_TZ
from analysis.detection import logs_realtime, reported_realtime_limits, summarize_detection
from analysis.error_classes import select_class_rows
from analysis.exceptions import ReportError
from analysis.languages import available_languages
from analysis.params import ReportParams, display_path
from analysis.privacy import redact_manifest, redact_text, users_of
from analysis.stats import ClassResult, WebinarStatistics
from analysis.timeline import Timeline
from analysis.traffic import LOG_STORE_SOURCE, count_requests, find_traffic

SCHEMA_VERSION = 1
#: This toolkit's distribution name: the appendix of every team's report shows it, so it
#: names the product, not the incident it was first built for.
TOOLKIT = "supabase-postmortem"
#: Packages whose versions go into the appendix (what produced the numbers and the pages).
PACKAGES = (
    TOOLKIT, "numpy", "pandas", "scipy", "pyarrow",
    "pandera", "matplotlib", "seaborn", "papermill", "nbconvert", "nbclient", "ipykernel",
    "jupytext", "playwright", "jsonschema",
)  # fmt: skip
#: A minute is "sparsely measured" when it has fewer concurrency samples than this share of the
#: window's typical (median) density; errors there are set against a stale, carried-forward load.
SPARSE_SAMPLING_SHARE = 0.5
#: For a monitor slower than one sample a minute: a gap between samples this many times its
#: usual spacing leaves the minutes inside it unmeasured.
SPARSE_GAP_FACTOR = 2.0
#: Above this share of a class's errors in sparsely measured minutes, its verdict is caveated:
#: the load it was compared with was not observed when most of the errors happened.
UNMEASURED_ERRORS_CUT = 0.5


@dataclass(frozen=True)
class Analysis:
    """The findings document of one webinar beside the objects it was compiled from.

    Attributes
    ----------
    findings : dict
        The findings.json document (plain JSON types).
    timeline : analysis.timeline.Timeline
        The webinar's timeline: the figures draw its samples, minutes and frames.
    statistics : analysis.stats.WebinarStatistics or None
        Every class's statistics (None when the window has no error class).
    quality : tuple of analysis.audit.QualityIssue
        The data-quality issues.
    """

    findings: dict
    timeline: Timeline
    statistics: WebinarStatistics | None
    quality: tuple[QualityIssue, ...]


def plain(value: object) -> object:
    """Convert nested numpy/pandas values to JSON types: times as UTC ``Z``, NaN as None."""
    return jsonable(value, time=format_utc)


def compile_findings(
    incident: object,
    timeline: Timeline,
    statistics: WebinarStatistics | None,
    quality: tuple[QualityIssue, ...],
    params: ReportParams,
) -> Analysis:
    """Collect the findings document of one webinar from its stages' results.

    Parameters
    ----------
    incident : analysis.ingest.Incident
        The ingested incident: its manifest, requests (impact), checksums and accounting.
    timeline : analysis.timeline.Timeline
        The webinar's timeline (:func:`analysis.timeline.build_timeline`).
    statistics : analysis.stats.WebinarStatistics or None
        Its statistics (None when it has no error class).
    quality : tuple of analysis.audit.QualityIssue
        Its data-quality issues.
    params : ReportParams
        Validated run parameters.

    Returns
    -------
    Analysis
    """
    wid = timeline.webinar_id
    # The manifest's words (claims, recommendations) are shown: redacted as log text is.
    manifest = redact_manifest(
        getattr(incident, "manifest", {}) or {}, users_of(vars(incident).values())
    )
    classes = statistics.classes if statistics is not None else {}
    class_rows = summarize_classes(timeline)
    name_classes(class_rows, incident, timeline)
    # While other webinars are live, whose people a class's errors came from (page one sets
    # apart a class none of this webinar's people met).
    reach = overview.measure_reach(
        incident,
        wid,
        timeline.classes,
        timeline.pairs,
        timeline.start,
        timeline.end,
        timeline.tolerance,
    )
    for row in class_rows:
        if row["key"] in reach:
            row["audience_reach"] = reach[row["key"]]
    # The load the statistics tested (this webinar's viewers, or the project's audience).
    load = project_concurrency(
        incident.concurrency, wid, timeline.start, timeline.end, incident.sessions
    )
    capacity = summarize_capacity(classes, load)
    limits = statistics.supabase_limits if statistics is not None else ()
    findings = {
        "schema_version": SCHEMA_VERSION,
        "report": {
            "webinar_id": wid,
            "title": timeline.audience.title or wid,
            # Names the analyst chose may hold a person's address or number (a ticket's).
            "incident": redact_text(str(manifest.get("name", Path(params.data_dir).name))),
            "project_ref": manifest.get("project_ref"),
            "lang": params.lang,
            "display_tz": timeline.display_tz,
            # Only when nobody chose the zone: the page then says it is the default.
            **(
                {"display_tz_default": True}
                if not manifest.get("display_tz") and timeline.display_tz == DEFAULT_DISPLAY_TZ
                else {}
            ),
            "window": {"start": format_utc(timeline.start), "end": format_utc(timeline.end)},
            "bucket_minutes": params.bucket_minutes,
            "seed": params.seed,
            "status": "draft",
        },
        "parameters": {**params.describe(), "data_dir": redact_text(display_path(params.data_dir))},
        "audience": plain({**timeline.audience.to_dict(), "load": describe_load(load)}),
        "buckets": summarize_buckets(timeline.buckets),
        "error_classes": class_rows,
        "impact": summarize_impact(
            incident,
            timeline.start,
            timeline.end,
            class_rows,
            audience=incident.sessions[incident.sessions["webinar_id"] == wid],
        ),
        "timeline": summarize_moments(timeline.moments),
        "verdicts": summarize_verdicts(classes, timeline.frames),
        "capacity": capacity,
        "associations": summarize_associations(classes, timeline.frames),
        "coincidence": summarize_coincidence(classes),
        "bursts": summarize_bursts(classes),
        "change_points": summarize_change_points(classes),
        "data_quality": [plain(issue.to_dict()) for issue in quality],
        "detection": summarize_detection(
            select_tested_samples(timeline.concurrency, load),
            timeline.moments,
            capacity,
            limits,
            class_rows,
            realtime=logs_realtime(incident),
            realtime_limits=reported_realtime_limits(incident),
        ),
        "statistics": {} if statistics is None else statistics.to_dict(),
        "inputs": summarize_inputs(incident, params),
        "environment": package_versions(),
    }
    details = {
        c.key: {
            **actions.describe_class(incident, c.key, select_class_rows(incident, c), c.endpoints),
            "endpoints": list(c.endpoints),
            "http_status": c.http_status,
        }
        for c in timeline.classes
    }
    findings["action_items"] = actions.build_action_items(
        findings, details, manifest.get("recommendations") or ()
    )
    measured = claims.collect_measurements(findings, incident)
    source = Path(params.data_dir) / "incident.json"
    findings["claims"] = claims.check_claims(
        claims.read_claims(manifest, display_path(source)), measured
    )
    findings["capacity_plan"] = summarize_capacity_plan(incident, timeline, findings, params)
    # Page one's "people affected" is the impact table's, one number with one definition.
    findings["overview"] = overview.build_overview(
        findings, measured["limit_changes"], findings["impact"]["affected_users"]
    )
    return Analysis(
        findings=plain(findings), timeline=timeline, statistics=statistics, quality=quality
    )


def summarize_buckets(buckets: pd.DataFrame) -> list[dict]:
    """Buckets as records: UTC edges, max, min, samples, time-weighted mean."""
    return [
        {
            "start": format_utc(row.bucket_start),
            "end": format_utc(row.bucket_end),
            "max": None if pd.isna(row.max) else int(row.max),
            "min": None if pd.isna(row.min) else int(row.min),
            "samples": int(row.samples),
            "mean_tw": plain(float(row.mean_tw)),
        }
        for row in buckets.itertuples()
    ]


def summarize_classes(timeline: Timeline) -> list[dict]:
    """Error classes with counts, requests to their endpoints, rate and peak minute (in window)."""
    rows = []
    for cls in timeline.classes:
        frame = timeline.frames[cls.key]
        errors = int(frame["errors"].sum())
        requests = int(frame["requests"].sum())
        peak = frame.loc[frame["errors"].idxmax()] if errors else None
        only_failures = cls.source in ("db_errors", "requests") and logs_only_failures(frame)
        rows.append(
            {
                "key": cls.key,
                "source": cls.source,
                "filter": cls.filter,
                "sql_state": cls.sql_state,
                "constraint": cls.constraint,
                "family": cls.family,
                "http_status": cls.http_status,
                "endpoint": cls.endpoint,
                # Every endpoint where the class occurs: the denominator of its rate.
                "endpoints": list(cls.endpoints),
                "endpoint_basis": cls.endpoint_basis,
                "count": errors,
                "requests": requests,
                # Raw rows aggregated here, or the log-store query that aggregated them.
                "requests_source": frame.attrs.get("traffic_source"),
                # A rate per request only where each error is a failed request (a database
                # error answered by an HTTP error, or the error response itself); a Realtime
                # log line is not one, and its count over websocket upgrades can exceed 100 %.
                # Nor where every request logged on its endpoints is one of its own failures
                # (an endpoint that logs only its failures): "100 %" would measure the export.
                "rate": errors / requests
                if requests and cls.source in ("db_errors", "requests") and not only_failures
                else None,
                "only_failures_logged": only_failures,
                "first": format_utc(cls.first_ts),
                "last": format_utc(cls.last_ts),
                "peak_minute": None if peak is None else format_utc(peak["minute"]),
                "peak_count": 0 if peak is None else int(peak["errors"]),
            }
        )
    return rows


def logs_only_failures(frame: pd.DataFrame) -> bool:
    """Whether every request logged on a class's endpoints is one of its own failures.

    The statistics' rule for letting the viewers stand in for the requests
    (``stats.exposure.find_stand_in``: ``viewers_own_failures``), so the report says the same
    of the class wherever it shows it.
    """
    from analysis.stats.exposure import find_stand_in

    if "failed_requests" not in frame or not frame["requests"].sum():
        return False
    signals = {"failed_requests": frame["failed_requests"].to_numpy(dtype=float)}
    requests = frame["requests"].to_numpy(dtype=float)
    return find_stand_in(requests, signals, realtime=False) == "viewers_own_failures"


def name_classes(class_rows: list[dict], incident: object, timeline: Timeline) -> None:
    """Give each class row its relation, column, human name per language and resource."""
    semantics = naming.collect_semantics(
        incident.db_errors, incident.realtime_events, timeline.classes
    )
    for row in class_rows:
        seen = semantics.get(row["key"], {})
        row["relation"], row["column"] = seen.get("relation"), seen.get("column")
        described = {**row, "message": seen.get("message")}
        row["name"] = naming.name_in_languages(described)
        row["resource"] = naming.capacity_resource(described)


def summarize_capacity_plan(
    incident: object, timeline: Timeline, findings: Mapping, params: ReportParams
) -> dict:
    """Capacity plan for the next event (``analysis.capacity``) from this webinar's data.

    Projects the report's registrations (parameter ``plan_registrations``; 0: this webinar's)
    and the standard sizes, against Supabase's published limits, from the capacity-driven
    classes' thresholds.
    """
    rt = incident.realtime_events
    in_window = (rt["ts"] >= timeline.start) & (rt["ts"] < timeline.end)
    billing = rt[in_window & (rt["family"] == "billing_metrics")]
    sessions = incident.sessions
    resources_ = {c["key"]: c["resource"] for c in findings["error_classes"]}
    thresholds = [
        {
            "error_class": c["error_class"],
            "resource": resources_.get(c["error_class"]),
            "k": c["k"],
            "k_low": c["k_low"],
            "k_high": c["k_high"],
            "weakly_identified": c["weakly_identified"],
        }
        for c in findings["capacity"]
        if c["verdict"] == stats.CAPACITY and c["k"] is not None
    ]
    # None: no registrations table was exported (the plan then says so, not "no registrations").
    own = findings["audience"]["registrations"]
    wanted = params.plan_registrations or int(own or 0)
    sizes = sorted({n for n in (wanted, *STANDARD_SIZES) if n > 0})
    return plan_capacity(
        sessions=sessions[sessions["webinar_id"] == timeline.webinar_id],
        all_sessions=sessions,
        billing=billing,
        registrations=own,
        start=timeline.start,
        end=timeline.end,
        thresholds=thresholds,
        limits=stats.SUPABASE_LIMITS,
        sizes=sizes,
        monitor_peak=findings["audience"].get("peak"),
        seed=params.seed,
    ) | {"requested": wanted}


def summarize_impact(
    incident: object,
    start: pd.Timestamp,
    end: pd.Timestamp,
    class_rows: list[dict],
    audience: pd.DataFrame | None = None,
) -> dict:
    """Impact measures: error responses, people with an error response, error period.

    ``affected_users`` counts the people of this webinar's audience (``audience``: its
    presence sessions) with an error response in the window (:func:`overview.count_affected`);
    page one states the same number. The logs carry no webinar id, so users with an error
    response anywhere in the project are counted apart, as ``affected_users_project``.
    Error responses come from the request rows, which hold every error even when the log
    store counted the traffic (a hybrid fetch); request totals come from the traffic table then.
    """
    req = incident.requests
    req = req[(req["ts"] >= start) & (req["ts"] < end)]
    table = find_traffic(incident)
    if table.attrs.get("source") == LOG_STORE_SOURCE:
        total = int(count_requests(table, start, end).sum())
    else:
        total = int(len(req))
    errored = req[req["status"] >= 400]
    firsts = [r["first"] for r in class_rows if r["count"]]
    lasts = [r["last"] for r in class_rows if r["count"]]
    first, last = (min(firsts), max(lasts)) if firsts else (None, None)
    minutes = None
    if first and last:
        minutes = int(math.ceil((pd.Timestamp(last) - pd.Timestamp(first)) / pd.Timedelta("1min")))
    # Error responses that name nobody (sign-ins, token refreshes) are in no people count:
    # said only where there are some, so the page can say what its count leaves out.
    unnamed = int(errored["user"].isna().sum())
    return {
        **({"error_responses_without_user": unnamed} if unnamed else {}),
        "errors_total": int(sum(r["count"] for r in class_rows)),
        "error_responses": int(len(errored)),
        "error_responses_filter": "status >= 400",
        "affected_users": overview.count_affected(
            incident.requests,
            incident.sessions.iloc[:0] if audience is None else audience,
            start,
            end,
        ),
        "affected_users_filter": "status >= 400 and user in this webinar's sessions open in "
        "the window (distinct pseudonyms)",
        "affected_users_project": int(errored["user"].dropna().nunique()),
        "affected_users_project_filter": "status >= 400 and user is not null (distinct pseudonyms)",
        "requests": total,
        "first_error": first,
        "last_error": last,
        "error_period_minutes": minutes,
    }


def summarize_moments(moments: pd.DataFrame) -> list[dict]:
    """Key moments as records with their evidence (source, filter, count)."""
    return [
        {
            "at": format_utc(row.ts),
            "kind": str(row.kind),
            "subject": str(row.subject),
            "description": str(row.description),
            "value": plain(row.value),
            "evidence": {
                "source": str(row.source),
                "filter": str(row.filter),
                "count": int(row.count),
            },
        }
        for row in moments.itertuples()
    ]


def share_errors_unmeasured(frame: pd.DataFrame) -> float | None:
    """Share of a class's errors that fall in minutes with sparse concurrency sampling.

    Sparse is judged against the monitor's own cadence. A monitor that samples every minute
    (the median spacing of sampled minutes is one): fewer samples than
    ``SPARSE_SAMPLING_SHARE`` times the median number per sampled minute. A slower one (an
    app's snapshot every 5 minutes): a minute inside a run of unsampled minutes more than
    ``SPARSE_GAP_FACTOR`` times that spacing long; its regular unsampled minutes are how it
    measures, not a gap (4 minutes in 5 read "unmeasured" and caveated every verdict).
    None when the class has no errors or the window has no samples.
    """
    errors = frame["errors"].to_numpy(dtype=float)
    samples = frame["samples"].to_numpy(dtype=float)
    if errors.sum() == 0 or not (samples > 0).any():
        return None
    sampled = np.flatnonzero(samples > 0)
    spacing = float(np.median(np.diff(sampled))) if len(sampled) > 1 else 1.0
    if spacing <= 1:
        sparse = samples < SPARSE_SAMPLING_SHARE * np.median(samples[sampled])
    else:
        # Each unsampled minute's gap: the minutes from the sample before it to the one after
        # (the window's edges stand in for a missing neighbour).
        edges = np.concatenate(([-1], sampled, [len(samples)]))
        gap = np.diff(edges)[np.searchsorted(sampled, np.arange(len(samples)), side="right")]
        sparse = (samples == 0) & (gap > SPARSE_GAP_FACTOR * spacing)
    return float(errors[sparse].sum() / errors.sum())


def summarize_verdicts(
    classes: Mapping[str, ClassResult], frames: Mapping[str, pd.DataFrame]
) -> list[dict]:
    """One verdict per class with the numbers that decided it.

    Each verdict also carries the share of its errors that happened while concurrency was barely
    sampled, and ``measurement_caveat`` when that share exceeds ``UNMEASURED_ERRORS_CUT``: a
    verdict against load is then a verdict against a load that nobody observed.
    ``load_unknown``: no load series at all, so no capacity test ran (the label weighs a flat
    rate per request against no link to traffic on the requests alone).
    """
    out = []
    for key, res in classes.items():
        v, test = res.verdict, res.hinge_test
        unmeasured = share_errors_unmeasured(frames[key]) if key in frames else None
        out.append(
            {
                "error_class": key,
                "verdict": v.label,
                "reason": v.reason,
                "caveat": v.caveat,
                "hinge_p_value": v.hinge_p_value,
                "hinge_p_value_bursty_null": None if test is None else test.p_value_bursty_null,
                "hinge_lr": None if test is None else test.lr,
                "elasticity": v.elasticity,
                **elasticity_interval(v.elasticity, res.elasticity),
                "p_value_zero": v.p_value_zero,
                "p_value_one": v.p_value_one,
                "bayes_factor": v.bayes_factor,
                "bayes_factor_cut": v.bayes_factor_cut,
                "decided_by": v.decided_by,
                "hinge_set_aside": v.hinge_set_aside,
                "quiet_run": v.quiet_run,
                "beyond_flat": v.beyond_flat,
                "mostly_failed": v.mostly_failed,
                "faster_than_flat": v.faster_than_flat,
                "load_vs_time": v.load_vs_time,
                "separation": v.separation,
                "sources": v.sources,
                "count_unit": v.count_unit,
                "g_with_own_failures": (
                    None if res.elasticity is None else res.elasticity.g_with_own_failures
                ),
                "signals": None if res.signals is None else res.signals.to_dict(),
                "bursty": bool(v.bursty),
                "residual_phi": v.residual_phi,
                "errors_unmeasured_share": unmeasured,
                # No load series: the capacity test did not run (decided_by "load_unknown":
                # a class whose rate is per viewer could not be tested at all).
                "load_unknown": bool(v.load_unknown),
                "measurement_caveat": bool(
                    unmeasured is not None and unmeasured > UNMEASURED_ERRORS_CUT
                ),
            }
        )
    return out


#: The elasticity's interval is g ± this many HAC standard errors (a normal 95 % interval).
#: On one hour it is narrower than it says: docs/export.md gives its measured coverage.
G_INTERVAL_Z = 1.96


def elasticity_interval(g: float | None, fit: object | None) -> dict:
    """Return g's standard error and interval (``elasticity_se``, ``_low``, ``_high``).

    All None when the verdict shows no g or its fit gave no finite standard error.
    """
    se = getattr(fit, "se", None)
    if g is None or se is None or not math.isfinite(se) or not math.isfinite(g):
        return {"elasticity_se": None, "elasticity_low": None, "elasticity_high": None}
    return {
        "elasticity_se": se,
        "elasticity_low": g - G_INTERVAL_Z * se,
        "elasticity_high": g + G_INTERVAL_Z * se,
    }


def summarize_capacity(
    classes: Mapping[str, ClassResult], load: pd.DataFrame | None = None
) -> list[dict]:
    """Threshold K with its interval, flag and lag, for every class where a hinge was fitted.

    ``load``: the load tested (:func:`analysis.concurrency.project_concurrency`). Where it is
    the project's audience, K counts viewers across the project, and ``k_webinar`` is this
    webinar's share of them in the first minute the load passed K.
    """
    scope = "webinar" if load is None else load.attrs.get("load_scope", "webinar")
    out = []
    for key, res in classes.items():
        fit = res.threshold
        if fit is None:
            continue
        out.append(
            {
                "error_class": key,
                "verdict": res.verdict.label,
                "k": fit.k,
                "k_low": fit.k_low,
                "k_high": fit.k_high,
                "weakly_identified": bool(fit.weakly_identified),
                "interval_at_grid_edge": bool(fit.interval_at_grid_edge),
                "lag_minutes": fit.lag_minutes,
                "lag_low": fit.lag_low,
                "lag_high": fit.lag_high,
                "interval_lr_cut": fit.interval_lr_cut,
                "interval_reference": fit.interval_reference,
                "b0_per_request": fit.b0_per_request,
                "b1_per_request_per_viewer": fit.b1_per_request_per_viewer,
                "shape_exponent": fit.shape_exponent,
                "lag_lr_cut": fit.lag_lr_cut,
                "k_open_low": bool(fit.k_open_low),
                "k_open_high": bool(fit.k_open_high),
                "lag_open_high": bool(fit.lag_open_high),
                "family": fit.family,
                "limits_in_interval": list(fit.limits_in_interval),
                "nearest_limits": list(fit.nearest_limits),
                # Realtime's own reading of its limit in viewers, where it was seen binding.
                "platform_limit": fit.platform_limit,
                # Where the limit stopped binding while the load stayed above it (UTC).
                "limit_lifted": fit.limit_lifted,
                "load_scope": scope,
                "k_webinar": find_webinar_share(load, fit.k) if scope == "project" else None,
            }
        )
    return out


def ccf_null_band(frame: pd.DataFrame, max_lag: int, quantile: float = 0.95) -> dict:
    """Simultaneous null band of the prewhitened CCF, from all circular shifts.

    The band is the ``quantile`` of max |r| over the lags of one direction, across every
    circular shift of the error series: the reference distribution of stats' own test, so a
    point outside the band is what makes its p-value small.
    """
    y, _, c, _ = stats.extract_series(frame)
    xw, yw, _, _ = stats.prewhiten(c, y)
    lags, r = stats.ccf_all_shifts(xw, yw, min(max_lag, len(xw) // 3))
    lead = np.abs(r[:, lags >= 0]).max(1)
    lagging = np.abs(r[:, lags <= 0]).max(1)
    return {
        "quantile": quantile,
        "load_leads": float(np.quantile(lead, quantile)),
        "errors_lead": float(np.quantile(lagging, quantile)),
    }


def summarize_associations(
    classes: Mapping[str, ClassResult], frames: Mapping[str, pd.DataFrame]
) -> list[dict]:
    """Lagged association per class: prewhitened CCF both ways and the load coefficient."""
    out = []
    for key, res in classes.items():
        cc, lc = res.cross_correlation, res.load_coefficient
        if cc is None:
            continue
        band = ccf_null_band(frames[key], max(abs(min(cc.lags)), max(cc.lags)))
        out.append(
            {
                "error_class": key,
                "lags": list(cc.lags),
                "r": list(cc.r),
                "null_band": band,
                "load_leads_r": cc.load_leads_max_abs_r,
                "load_leads_lag": cc.load_leads_lag,
                "load_leads_p_value": cc.load_leads_p_value,
                "errors_lead_r": cc.errors_lead_max_abs_r,
                "errors_lead_lag": cc.errors_lead_lag,
                "errors_lead_p_value": cc.errors_lead_p_value,
                "load_coefficient_per_sd": None if lc is None else lc.coefficient_per_sd,
                "load_coefficient_z": None if lc is None else lc.z,
                "load_coefficient_p_value": None if lc is None else lc.p_value,
                "reference": cc.reference,
            }
        )
    return out


def summarize_coincidence(classes: Mapping[str, ClassResult]) -> list[dict]:
    """Precursor and trigger rates of load spikes and error peaks, with shift p-values."""
    return [
        {"error_class": key, **res.coincidence.to_dict()}
        for key, res in classes.items()
        if res.coincidence is not None
    ]


def summarize_bursts(classes: Mapping[str, ClassResult]) -> list[dict]:
    """Kleinberg bursts (errors out of requests, ``stats.detect_bursts``) of every class."""
    return [{"error_class": key, **b.to_dict()} for key, res in classes.items() for b in res.bursts]


def summarize_change_points(classes: Mapping[str, ClassResult]) -> list[dict]:
    """Change points with the share of penalties that find each one."""
    return [
        {
            "error_class": key,
            "stability": list(res.change_points.stability),
            "penalties": list(res.change_points.penalties),
            "breakpoints_by_penalty": list(res.change_points.breakpoints_by_penalty),
        }
        for key, res in classes.items()
        if res.change_points is not None
    ]


def summarize_inputs(incident: object, params: ReportParams) -> dict:
    """Input files with their SHA-256 and ingest's accounting (read = accepted + rejected)."""
    checksums = dict(sorted((getattr(incident, "checksums", {}) or {}).items()))
    accounting = getattr(incident, "accounting", None)
    rows = [] if accounting is None else plain(accounting.to_dict(orient="records"))
    # File names are shown as redacted text (a download saved under a person's address);
    # the digest stands for the real names.
    shown = {}
    for name, digest in checksums.items():
        key = redact_text(str(name))
        shown[key if key not in shown else f"{key} ({len(shown) + 1})"] = str(digest)
    return {
        "incident_dir": redact_text(display_path(params.data_dir)),
        "checksums": shown,
        "manifest_sha256": manifest_digest(checksums),
        "accounting": [{**r, "file": redact_text(str(r["file"]))} for r in rows],
    }


def manifest_digest(checksums: Mapping[str, str]) -> str:
    """SHA-256 of the input list in ``sha256sum`` format (``<hex>  <path>`` lines, by path).

    One digest stands for every input file: when the incident's SHA256SUMS lists the same
    files, it equals ``sha256sum SHA256SUMS``.
    """
    return sha256_bytes(format_checksums(checksums).encode("utf-8"))


def package_versions() -> dict:
    """Python and package versions of the environment that produced the findings."""
    python, versions = _package_versions()
    return {"python": python, "packages": dict(versions)}


@cache
def _package_versions() -> tuple[str, tuple[tuple[str, str | None], ...]]:
    # Once per process: the installed versions do not change under a running report, and the
    # stage caches' keys ask for them at every stage (docs/performance.md, session 11).
    versions = []
    for name in PACKAGES:
        try:
            versions.append((name, metadata.version(_installed_as(name))))
        except metadata.PackageNotFoundError:
            versions.append((name, None))
    return platform.python_version(), tuple(versions)


def _installed_as(name: str) -> str:
    """Return the distribution to ask for ``name``'s version.

    For this toolkit, whichever distribution provides the ``analysis`` package: a venv set up
    before the toolkit was renamed has it under its earlier name until ``make setup`` runs.
    Only then are all distributions' file lists read (``packages_distributions``, about 0.2
    CPU s).
    """
    if name != TOOLKIT:
        return name
    try:
        metadata.distribution(TOOLKIT)
        return TOOLKIT
    except metadata.PackageNotFoundError:
        pass
    providers = sorted(metadata.packages_distributions().get("analysis", []))
    return providers[0] if providers else TOOLKIT


def load_schema() -> dict:
    """Return the JSON Schema of findings.json (report languages: the locale files)."""
    return _schema(available_languages())


@cache
def _schema(langs: tuple[str, ...]) -> dict:
    text = resources.files("analysis").joinpath("findings.schema.json").read_text("utf-8")
    schema = json.loads(text)
    schema["properties"]["report"]["properties"]["lang"]["enum"] = list(langs)
    return schema


def validate_findings(findings: dict) -> None:
    """Check a findings document against its schema.

    Raises
    ------
    ReportError
        One line: the JSON path of the first violation and the schema's message.
    """
    from analysis._jsonschema import import_without_formats

    jsonschema = import_without_formats()  # no format checker is used: 0.1-0.25 s less
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(findings), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise ReportError(
            f"findings.json, field '{where}': {first.message[:200]}"
            f" ({len(errors)} violation(s) in all)"
        )


def dump_findings(findings: dict) -> str:
    """Serialise findings deterministically (fixed key order, UTF-8, no NaN).

    Controls, bidi and invisible characters from the data are written as escapes
    (:func:`analysis._util.visible_json`): an editor shows the file as it reads.
    """
    return visible_json(json.dumps(findings, ensure_ascii=False, indent=2, allow_nan=False)) + "\n"


def write_findings(findings: dict, path: Path) -> Path:
    """Validate and write ``findings.json``; return its path."""
    validate_findings(findings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_findings(findings), encoding="utf-8")
    return path
