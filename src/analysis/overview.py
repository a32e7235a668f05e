"""Page one of the postmortem: the story in numbers, built from the findings only.

:func:`build_overview` reads a findings document and returns what the first page tells: what
happened and when, to how many people and for how many minutes, why (error classes grouped by
their verdict, capacity first), how it ended (limit changes bracketed by the rows around them,
the last errors, the responses nobody timed) and the three most important actions. Nothing is
written for a particular incident: every sentence the report makes of it is a locale template
filled with these values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from analysis.naming import deliberate_refusal

#: Order in which root-cause groups are told: load-driven first, undecided last. ``refusal``:
#: traffic-proportional errors the app's own SQL raises on purpose (naming.deliberate_refusal).
#: ``few_sources``: too little to judge because the errors came from too few users (one
#: client's retry loop), not because they were few. ``other_webinars``: every error that names
#: a user came from the audience of the project's other live webinars (:func:`measure_reach`),
#: so none of this webinar's people met it, whatever its verdict.
CAUSE_ORDER = (
    "capacity",
    "traffic",
    "refusal",
    "unrelated",
    "undecided",
    "insufficient",
    "few_sources",
    "other_webinars",
)
#: Actions on page one.
TOP_ACTIONS = 3
#: Data-quality codes whose fields name a source that went silent (a product down or its
#: monitor starved).
SILENCE_CODES = ("source_coverage_gap",)


def union_minutes(intervals: Sequence[tuple[pd.Timestamp, pd.Timestamp]]) -> int:
    """Whole minutes covered by the union of ``[start, end)`` intervals."""
    total = pd.Timedelta(0)
    last_end = None
    for start, end in sorted(intervals):
        if last_end is not None and start < last_end:
            start = last_end
        if end > start:
            total += end - start
            last_end = end if last_end is None else max(last_end, end)
    return int(total / pd.Timedelta("1min"))


def summarize_minutes(findings: Mapping) -> dict:
    """Minutes of the incident: error period, minutes in bursts, silent sources."""
    impact = findings["impact"]
    bursts = [
        (pd.Timestamp(b["start"]), pd.Timestamp(b["end"]) + pd.Timedelta("1min"))
        for b in findings.get("bursts", [])
    ]
    silences = []
    for q in findings.get("data_quality", []):
        f = q.get("fields") or {}
        if q.get("code") in SILENCE_CODES and f.get("start") and f.get("end"):
            silences.append(
                {
                    "source": str(f.get("source", "")),
                    "start": f["start"],
                    "end": f["end"],
                    "minutes": int(
                        (pd.Timestamp(f["end"]) - pd.Timestamp(f["start"])) / pd.Timedelta("1min")
                    ),
                }
            )
    silences.sort(key=lambda s: (-s["minutes"], s["start"], s["source"]))
    return {
        "first_error": impact.get("first_error"),
        "last_error": impact.get("last_error"),
        "error_period": impact.get("error_period_minutes"),
        # None when the statistics (which find the bursts) did not run, e.g. no load series.
        "in_bursts": union_minutes(bursts) if findings.get("statistics") else None,
        "silences": silences,
    }


#: Why a class is undecided, in the order page one tells them: load not measured; a
#: capacity hinge fitted but set aside (a veto, or too few users to be a limit); the tests
#: cannot tell a flat rate from errors independent of traffic; a label not known here.
UNDECIDED_WHY = ("not_measured", "window_too_short", "set_aside", "cannot_tell", "other")


def explain_undecided(verdict: Mapping, unjudged: str = "not_measured") -> tuple[str, str | None]:
    """Return (why a class is undecided, the veto's kind when a hinge was set aside).

    Two different things are "undecided": a class the data cannot decide (load unmeasured,
    or the tests not settling between a flat rate and no link to traffic), and a class that
    rose with the audience as at a capacity limit but whose capacity reading a veto set
    aside. Page one says which.
    """
    from analysis.stats import ALPHA_LEVEL  # the report loads the statistics anyway

    if not verdict:  # no statistics ran: ``unjudged`` says why (no load, a window too short)
        return unjudged, None
    if verdict.get("measurement_caveat"):
        return "not_measured", None
    if verdict.get("load_unknown") and verdict.get("verdict") == "undetermined":
        # No load series: what could tell this class apart (a capacity test, or any test for
        # a rate per viewer) needed the load nobody measured.
        return "not_measured", None
    aside = (verdict.get("hinge_set_aside") or {}).get("kind")
    if aside:
        return "set_aside", str(aside)
    if verdict.get("decided_by") == "few_sources" and all(
        verdict.get(key) is not None and verdict[key] <= ALPHA_LEVEL
        for key in ("hinge_p_value", "hinge_p_value_bursty_null")
    ):
        return "set_aside", "few_sources"
    if verdict.get("verdict") == "undetermined":
        return "cannot_tell", None
    return "other", None


def _few_sources(verdict: Mapping, errors: int) -> bool:
    """Whether a class was too little to judge for its few users, not its few errors.

    Its errors were counted by user (``count_unit``), and enough errors came from fewer users
    than the statistics need: three errors from three users are simply few.
    """
    from analysis.stats import MIN_ERRORS, MIN_SOURCES  # the report loads them anyway

    sources = verdict.get("sources")
    return (
        verdict.get("count_unit") == "users with errors"
        and sources is not None
        and sources < MIN_SOURCES
        and errors >= MIN_ERRORS
    )


def cause_kind(cls: Mapping, verdict: Mapping) -> str:
    """Return the page-one group of an error class (one of :data:`CAUSE_ORDER`)."""
    kind = verdict.get("verdict", "undecided")
    if verdict.get("measurement_caveat") or kind not in CAUSE_ORDER:
        kind = "undecided"
    if kind == "traffic" and deliberate_refusal(cls):
        kind = "refusal"
    if kind == "insufficient" and _few_sources(verdict, cls["count"]):
        kind = "few_sources"
    reach = cls.get("audience_reach") or {}
    if reach.get("users") and reach.get("other_audience_users") == reach["users"]:
        kind = "other_webinars"
    return kind


def group_causes(findings: Mapping) -> list[dict]:
    """Error classes grouped by what drove them, largest first inside each group.

    A verdict with a measurement caveat (most errors where load was not observed) goes to
    ``undecided`` whatever its label; so does any verdict label this module does not know,
    and a class without a verdict (the statistics did not run, e.g. no load series). Each
    undecided class says why (:func:`explain_undecided`): ``why`` and, for a hinge set aside,
    ``set_aside`` (the veto's kind).
    """
    verdicts = {v["error_class"]: v for v in findings.get("verdicts", [])}
    caps = {c["error_class"]: c for c in findings.get("capacity", [])}
    # Without verdicts, a window too short for the statistics is why, not unmeasured load.
    short = any(q.get("code") == "window_too_short" for q in findings.get("data_quality", []))
    unjudged = "window_too_short" if short else "not_measured"
    groups: dict[str, list[dict]] = {}
    for cls in findings["error_classes"]:
        if not cls["count"]:
            continue
        v = verdicts.get(cls["key"], {})
        kind = cause_kind(cls, v)
        entry = {"key": cls["key"], "name": cls.get("name", {}), "count": cls["count"]}
        if kind == "undecided":
            entry["why"], aside = explain_undecided(v, unjudged)
            if aside:
                entry["set_aside"] = aside
        cap = caps.get(cls["key"])
        if kind == "capacity" and cap:
            entry.update(
                k=cap["k"],
                k_low=cap["k_low"],
                k_high=cap["k_high"],
                weakly_identified=cap["weakly_identified"],
                lag_minutes=cap["lag_minutes"],
            )
            if cap.get("k_open_low"):  # said only where it holds: other findings unchanged
                entry["k_open_low"] = True
        groups.setdefault(kind, []).append(entry)
    return [
        {
            "kind": kind,
            "errors": sum(c["count"] for c in groups[kind]),
            "classes": sorted(groups[kind], key=lambda c: (-c["count"], c["key"])),
        }
        for kind in CAUSE_ORDER
        if kind in groups
    ]


def _addressed(item: Mapping, capacity_classes: set[str]) -> set[str]:
    """Error classes an action item addresses, from its evidence."""
    out: set[str] = set()
    for ev in item.get("evidence", []):
        if ev.get("kind") == "class" and ev.get("present"):
            out.add(ev["error_class"])
        elif ev.get("kind") == "threshold" and ev.get("error_class"):
            out.add(ev["error_class"])
        elif ev.get("kind") == "peak":
            out |= capacity_classes
    return out


#: Cause groups whose classes the data did not decide: an action for them alone is not a fix of
#: a known cause, and page one must not read it as one.
UNDETERMINED_CAUSES = ("undecided", "insufficient")


def rank_actions(findings: Mapping, top: int = TOP_ACTIONS) -> list[dict]:
    """Return the ``top`` actions that together address the most errors (greedy cover).

    Each step takes the action whose evidence covers the most errors not yet covered by the
    actions already taken (ties: catalogue order), so page one names one action per main
    cause rather than three for the same one. Errors of classes whose cause the data left
    undetermined (:data:`UNDETERMINED_CAUSES`) count only once no action for a decided class
    is left: a stakeholder reads page one's first action as the fix of the root cause, and
    "the data cannot tell" is no root cause. Such an action is marked ``undetermined``.
    """
    counts = {c["key"]: c["count"] for c in findings["error_classes"]}
    capacity_classes = {
        v["error_class"] for v in findings.get("verdicts", []) if v["verdict"] == "capacity"
    }
    verdicts = {v["error_class"]: v for v in findings.get("verdicts", [])}
    undetermined = {
        c["key"]
        for c in findings["error_classes"]
        if c["count"] and cause_kind(c, verdicts.get(c["key"], {})) in UNDETERMINED_CAUSES
    }
    items = [
        (item, _addressed(item, capacity_classes)) for item in findings.get("action_items", [])
    ]
    covered: set[str] = set()
    chosen = []
    for decided_only in (True, False):
        while len(chosen) < top:
            best, best_gain = None, 0
            for item, classes in items:
                if item in chosen:
                    continue
                counted = classes - covered - (undetermined if decided_only else set())
                gain = sum(counts.get(k, 0) for k in counted)
                if gain > best_gain:
                    best, best_gain = (item, classes), gain
            if best is None:
                break
            chosen.append(best[0])
            covered |= best[1]
    out = []
    for item in chosen:
        classes = _addressed(item, capacity_classes)
        entry = {
            "number": item["number"],
            "key": item["key"],
            "errors": sum(counts.get(k, 0) for k in classes),
            "classes": sorted(classes),
        }
        if classes and classes <= undetermined:  # said only where it holds
            entry["undetermined"] = True
        out.append(entry)
    return out


def summarize_ending(findings: Mapping, limit_changes: Sequence[Mapping]) -> dict:
    """How it ended: limit changes, when each group's errors stopped, untimed responses."""
    last_by_kind = {}
    for group in group_causes(findings):
        keys = {c["key"] for c in group["classes"]}
        lasts = [c["last"] for c in findings["error_classes"] if c["key"] in keys and c["last"]]
        last_by_kind[group["kind"]] = max(lasts) if lasts else None
    return {
        "limit_changes": [dict(c) for c in limit_changes],
        "last_error_by_cause": last_by_kind,
        "last_error": findings["impact"].get("last_error"),
        "untimed_responses": list(findings.get("detection", {}).get("untimed_human_actions", [])),
    }


def count_affected(
    requests: pd.DataFrame, sessions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> int | None:
    """People of this webinar's audience with at least one error response in the window.

    Logs carry no webinar id, so a user counts when one of their requests failed (status 400
    or above) and they had a presence session of this webinar overlapping the window. None
    when no session of a known user overlaps the window (the audience is not known), or when
    requests failed but none names a user (an app without sign-in): 0 would claim nobody was
    hurt.
    """
    req = requests[(requests["ts"] >= start) & (requests["ts"] < end)]
    failing = req.loc[req["status"] >= 400, "user"]
    if len(failing) and failing.isna().all():
        # An app that signs nobody in: its failed requests name no one, which is not nobody.
        return None
    failed = set(failing.dropna().astype(str))
    audience = set(_open_in(sessions, start, end)["user"].dropna().astype(str))
    if not audience:
        return None
    return len(failed & audience)


def _open_in(sessions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    left = sessions["left_at"]
    open_ = (sessions["joined_at"] < end) & (left.isna() | (left > start))
    return sessions[open_.fillna(False).astype(bool).to_numpy()]


def measure_reach(
    incident: object,
    webinar_id: str,
    classes: Sequence,
    pairs: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tolerance: pd.Timedelta,
) -> dict[str, dict]:
    """Per error class, how many of the people its errors came from were this webinar's.

    The logs are the project's and carry no webinar id: while other webinars of the project
    are live, a class's errors may come from their audience only. A class's people are the
    distinct users named by its failed requests in the window (its own error responses, or the
    responses its database errors were paired with, :func:`analysis.signals.
    pair_class_requests`); its audience users are those with a presence session of this
    webinar open in the window (as :func:`count_affected`), its other audience's users those
    with a session of another webinar open in the window and none of this one's. Empty unless
    another webinar's sessions overlap the window (then every person is this webinar's or
    unknown) and this webinar's sessions name users; a class whose failed requests name nobody
    (Realtime's, an app without sign-in), or only this webinar's people, is left out.

    Returns
    -------
    dict
        Class key -> ``{"users", "audience_users", "other_audience_users", "errors_named",
        "errors_of_audience"}``: distinct users, those of this webinar's audience, those only
        of the other webinars' audiences, the failed requests naming a user and those naming
        one of this webinar's audience.
    """
    from analysis.signals import pair_class_requests  # the statistics' module, loaded anyway

    live = _open_in(incident.sessions, start, end)
    if live.empty or (live["webinar_id"] == webinar_id).all():
        return {}
    mine = live["webinar_id"] == webinar_id
    audience = set(live.loc[mine, "user"].dropna().astype(str))
    others = set(live.loc[~mine, "user"].dropna().astype(str)) - audience
    if not audience:
        return {}
    out = {}
    for cls in classes:
        failed = pair_class_requests(incident, cls, tolerance, pairs)
        if "user" not in failed.columns:
            continue
        inside = failed[(failed["ts"] >= start) & (failed["ts"] < end)]
        users = inside["user"].dropna().astype(str)
        if users.empty:
            continue
        named = set(users)
        if named <= audience:
            continue  # this webinar's people alone: nothing to tell apart
        out[cls.key] = {
            "users": len(named),
            "audience_users": len(named & audience),
            "other_audience_users": len(named & others),
            "errors_named": int(len(users)),
            "errors_of_audience": int(users.isin(audience).sum()),
        }
    return out


def build_overview(
    findings: Mapping, limit_changes: Sequence[Mapping] = (), affected: int | None = None
) -> dict:
    """Return page one's content: impact in people and minutes, causes, ending, top actions.

    Parameters
    ----------
    findings : Mapping
        The findings document (error classes carry their human ``name`` per language).
    limit_changes : sequence of mapping
        Realtime limit changes with the billing rows around them: from_limit, to_limit,
        after (last row at the old limit), before (first row at the new one).
    affected : int, optional
        People of this audience with an error response (:func:`count_affected`); None: not
        known, and the share is not given.
    """
    aud, impact = findings["audience"], findings["impact"]
    people = aud.get("unique_users")
    return {
        "people": {
            "audience": people,
            "registrations": aud.get("registrations"),
            "affected": affected,
            "affected_share": affected / people if people and affected is not None else None,
            "failed_requests": impact.get("error_responses"),
            # Signed-in users with an error response anywhere in the project.
            "users_with_errors": impact.get("affected_users_project"),
            # No gateway row at all (an export without edge logs): who got an error response
            # cannot be told, which is not the same as nobody.
            "requests_logged": impact.get("requests"),
            "peak_sessions": aud.get("peak"),
            "peak_at": aud.get("peak_ts"),
        },
        "minutes": summarize_minutes(findings),
        "errors": {
            "total": impact.get("errors_total"),
            "classes": sum(1 for c in findings["error_classes"] if c["count"]),
        },
        "causes": group_causes(findings),
        "ending": summarize_ending(findings, limit_changes),
        "actions": rank_actions(findings),
    }
