"""An earlier write-up's claims checked against the data; the capacity plan for the next event."""

from __future__ import annotations

import math
from collections.abc import Mapping

from analysis.narrative.formatting import (
    _ISO_RE,
    TIME_FORMAT_SECONDS,
    _share,
    _tz,
    class_name,
    code,
    escape,
    fmt_number,
    local_time,
    table,
    tier_name,
)


def _figure_text(value: object) -> str:
    if isinstance(value, list):
        low, high = value
        shown_low = "…" if low is None else fmt_number(low)
        return f"{shown_low}–{'' if high is None else fmt_number(high)}"
    if isinstance(value, int | float):
        return fmt_number(value, 0 if float(value).is_integer() else 1)
    return escape(value if value is not None else "–")


def _claim_measured(c: Mapping, text: Mapping, tz: str) -> dict:
    fields = {}
    for k, v in c["measured"].items():
        if isinstance(v, str) and _ISO_RE.match(v):
            fields[k] = local_time(v, tz, TIME_FORMAT_SECONDS)
        elif isinstance(v, float):
            fields[k] = fmt_number(v, 0 if v.is_integer() else 1)
        elif isinstance(v, int):
            fields[k] = fmt_number(v)
        elif k == "verdict":
            fields[k] = text["causes"]["verdicts"].get(v, escape(v))
        else:
            fields[k] = escape(v)
    return fields


def render_claims(findings: Mapping, text: Mapping) -> str:
    """Render the claims of an earlier write-up, each tested against the data."""
    listed = findings.get("claims", [])
    t = text["claims"]
    if not listed:
        # No section: its only sentence would tell the analyst how to add claims, in the page
        # stakeholders read (the notebook's analyst notes say it instead).
        return ""
    tz, zn = _tz(findings)
    rows = []
    for c in listed:
        fields = _claim_measured(c, text, tz)
        fields["tz"] = zn
        template = t["reasons"].get(c["reason"], "")
        try:
            why = template.format(**fields)
        except (KeyError, IndexError, ValueError):
            why = escape(c["reason"])
        subject = class_name(findings, c["error_class"], text) if c.get("error_class") else ""
        rows.append(
            (
                c["number"],
                escape(c["statement"]),
                _figure_text(c["figure"])
                + (f" ({t['approximate']})" if c.get("approximate") else ""),
                f"**{t['outcomes'][c['outcome']]}**",
                why + (f"<br><small>{subject}</small>" if subject else ""),
            )
        )
    counts = {k: sum(1 for c in listed if c["outcome"] == k) for k in t["outcomes"]}
    summary = t["summary"].format(
        n=len(listed),
        **{k: counts[k] for k in ("confirmed", "misleading", "contradicted", "unverifiable")},
    )
    return f"## {text['headings']['claims']}\n\n{t['intro']} {summary}\n\n" + table(
        [t["number"], t["statement"], t["figure"], t["outcome"], t["why"]], rows
    )


def _interval(d: Mapping | None) -> str:
    if not d:
        return "–"
    return f"{fmt_number(d['median'])} [{fmt_number(d['low'])}–{fmt_number(d['high'])}]"


#: Limit / projected need from which the room a tier leaves is said as a multiple of the need
#: ("3.1 times"), and from which it is only "far above" it. A Realtime tier of 10,000 for a
#: projected 400 connections printed "2,363% spare": a percentage in the thousands gives a
#: reader nothing to act on, and the digits suggest a precision the projection does not have.
TIMES_FROM, FAR_FROM = 2.0, 10.0


def _room(headroom: float | None, text: Mapping) -> str:
    """Return the room a tier leaves above the projected need, in words a reader can use."""
    t = text["capacity_plan"]["room"]
    if headroom is None:
        return "–"
    ratio = 1.0 + headroom
    if ratio >= FAR_FROM:
        return t["far"].format(times=fmt_number(FAR_FROM))
    if ratio >= TIMES_FROM:
        return t["times"].format(times=fmt_number(ratio, 1))
    return t["spare"].format(share=_share(headroom))


def _tier(plan: Mapping | None, text: Mapping) -> str:
    t = text["capacity_plan"]
    if not plan:
        return "–"
    if plan["tier"] is None:
        return t["beyond"].format(limit=fmt_number(plan["largest_limit"]))
    return t["tier"].format(
        tier=tier_name(plan["tier"], text),
        limit=fmt_number(plan["limit"]),
        room=_room(plan["headroom"], text),
    )


def _registrations_at_limits(projections: list) -> dict[str, int]:
    """Return, per Realtime tier, the registrations at which its limit is reached.

    Each projection extrapolates to the limit from its own N, and the upper ends do not scale
    exactly with N, so rows of one tier gave one limit three dates ("reached at ~4,334",
    "~4,541", "~4,627"). The row nearest the limit extrapolates least: its figure is shown on
    every row of that tier.
    """
    best: dict[str, tuple[float, int]] = {}
    for p in projections:
        rt = p["realtime_plan"]
        at = rt.get("registrations_at_limit")
        if not at or not p["registrations"]:
            continue
        distance = abs(math.log(at / p["registrations"]))
        if rt["tier"] not in best or distance < best[rt["tier"]][0]:
            best[rt["tier"]] = (distance, at)
    return {tier: at for tier, (_, at) in best.items()}


def _db_basis(plan: Mapping, text: Mapping) -> str:
    """Say how sessions became database connections, beside a K counted in sessions.

    K is sessions (viewers), the compute's limit connections: "Small compute: 90" beside
    "381 sessions" read as if 90 were below the load. The projection scales the sessions by
    the connections of the compute it assumed (the data names none) over K; the sentence
    says so, and how to scale a larger compute's connections instead (the upper end for the
    largest registration count, as a multiple of the connections in effect at the limit).
    """
    b = plan["basis"]
    last = plan["projections"][-1] if plan["projections"] else {}
    db = last.get("db_connections")
    th = next((t for t in plan["thresholds"] if db and t["error_class"] == db["error_class"]), None)
    if th is None or not b.get("db_connections_in_effect") or not th.get("k"):
        return ""
    return text["capacity_plan"]["db_basis"].format(
        compute=tier_name(b["compute_assumed"], text),
        connections=fmt_number(b["db_connections_in_effect"]),
        k=fmt_number(th["k"]),
        per=fmt_number(th["k"] / b["db_connections_in_effect"], 1),
        registrations=fmt_number(last["registrations"]),
        times=fmt_number(db["high"] / b["db_connections_in_effect"], 2),
    )


def render_capacity_plan(findings: Mapping, text: Mapping) -> str:
    """Render the capacity plan: basis, projections for each N against the published limits."""
    plan = findings.get("capacity_plan") or {}
    t = text["capacity_plan"]
    head = f"## {text['headings']['capacity_plan']}\n\n"
    if not plan.get("available"):
        return head + t["unavailable"][plan.get("reason", "no_sessions")]
    b = plan["basis"]
    lines = [
        t["basis"].format(
            people=fmt_number(b["people"] + b["anonymous_sessions"]),
            registrations=fmt_number(b["registrations"]),
            attendance=_share(b["attendance_per_registration"]),
            sessions=fmt_number(b["sessions_per_person"], 1),
            concurrent=fmt_number(b["mean_sessions_per_person"], 2),
            ratio=fmt_number(b["peak_to_mean"], 2),
            peak=fmt_number(b["peak_sessions"]),
        )
        + " "
        # No billing row: Realtime's own count is unknown, not "0 connections beyond".
        + (
            t["basis_offset_none"]
            if b.get("billing_rows") == 0
            else t["basis_offset"].format(offset=fmt_number(b["connections_offset"]))
        )
    ]
    # An interval open below reads as page one reads it, not "16–162" there and "anywhere up
    # to 162" on page one for the same K.
    open_low = {c["error_class"] for c in findings.get("capacity", ()) if c.get("k_open_low")}
    for th in plan["thresholds"]:
        low, high = fmt_number(th["k_low"]), fmt_number(th["k_high"])
        interval = (
            text["overview"]["interval_open_low"].format(high=high)
            if th["error_class"] in open_low
            else t["threshold_interval"].format(low=low, high=high)
        )
        lines.append(
            t["threshold"].format(
                name=class_name(findings, th["error_class"], text),
                k=fmt_number(th["k"]),
                interval=interval,
                resource=t["resources"].get(th.get("resource") or "", t["resources"][""]),
            )
        )
    db_line = _db_basis(plan, text)
    if db_line:
        lines.append(db_line)
    load = findings["audience"].get("load") or {}
    if plan["thresholds"] and load.get("scope") == "project":
        # K counts the project's sessions; the projection is this webinar's audience alone.
        lines.append(t["project_thresholds"].format(n=len(load["webinars"])))
    # Two tables of five columns, not one of nine: nine columns of whole words ran past the
    # printed page's right edge (the limits and the thresholds crossed were cut off).
    projected, limits = [], []
    reached = _registrations_at_limits(plan["projections"])
    for p in plan["projections"]:
        rt_plan = p["realtime_plan"]
        nxt = "–"
        if rt_plan.get("registrations_at_limit"):
            nxt = t["next"].format(
                n=fmt_number(reached[rt_plan["tier"]]),
                tier=tier_name(rt_plan["tier"], text),
            )
        n = fmt_number(p["registrations"]) + (
            f" ({t['this']})" if p["registrations"] == b["registrations"] else ""
        )
        projected.append(
            (
                n,
                _interval(p["attendees"]),
                _interval(p["peak_sessions"]),
                _interval(p["realtime_connections"]),
                _interval(p["db_connections"]),
            )
        )
        limits.append(
            (
                n,
                _tier(rt_plan, text),
                _tier(p.get("compute"), text),
                nxt,
                text["list_sep"].join(class_name(findings, k, text) for k in p["breaches"])
                or t["none"],
            )
        )
    level = f"{100 * plan['level']:.0f}%"
    table_md = (
        table(
            [
                t["registrations"],
                t["attendees"],
                t["peak"].format(level=level),
                t["realtime"],
                t["db"],
            ],
            projected,
        )
        + "\n\n"
        + table(
            [
                t["registrations"],
                t["realtime_plan"].format(headroom=_share(plan["headroom"])),
                t["compute"].format(headroom=_share(plan["headroom"])),
                t["next_header"],
                t["breaches"],
            ],
            limits,
        )
    )
    assumptions = "\n".join(f"- {t['assumptions'][a]}" for a in plan["assumptions"])
    trust = "\n".join(f"- {t['trust'][f]}" for f in plan["trust"]) or f"- {t['trust_none']}"
    chosen = [lim for p in plan["projections"] for lim in (p["realtime_plan"], p.get("compute"))]
    sources = sorted({lim["source"] for lim in chosen if lim and lim.get("source")})
    return (
        head
        + "\n\n".join(lines)
        + "\n\n"
        + table_md
        + f"\n\n{t['consequences']}\n\n**{t['assumes']}**\n\n{assumptions}\n\n"
        + f"**{t['distrust']}**\n\n{trust}\n\n"
        + t["sources"].format(sources=text["list_sep"].join(code(s) for s in sources))
    )
