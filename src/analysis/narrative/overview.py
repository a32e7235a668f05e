"""Page one: the story in plain words, generated from the findings."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.narrative.actions import action_text
from analysis.narrative.formatting import (
    TIME_FORMAT_SECONDS,
    _names,
    _share,
    _source_name,
    _tz,
    class_name,
    class_names,
    escape,
    fmt_number,
    local_pair,
    local_span,
    local_time,
    shown,
)
from analysis.overview import UNDECIDED_WHY

#: Ends page one in print (Chromium honours break-after on a block element).
PAGE_BREAK = '<div style="break-after: page"></div>'
PAGE_ONE_MARKER = '<div class="page-one"></div>'
#: Classes named per cause on page one (the largest; the rest are counted), so it stays one page.
PAGE_ONE_NAMES = 4


def _surging_at_end(findings: Mapping) -> set[str]:
    """Classes whose last surge has no end inside the window: the window ended, not they."""
    last: dict[str, str] = {}
    for row in sorted(findings["timeline"], key=lambda r: r["at"] or ""):
        if row["kind"] in ("error_surge", "error_surge_end"):
            last[row["subject"]] = row["kind"]
    return {key for key, kind in last.items() if kind == "error_surge"}


def _tell_ends(findings: Mapping, text: Mapping, tz: str, zn: str) -> list[str]:
    """Say when each cause's errors last came, and which were still surging at the window's end.

    The causes still surging share one sentence: why the window's end is not theirs is said
    once, not once per cause.
    """
    o, t = findings["overview"], text["overview"]
    surging = _surging_at_end(findings)
    open_kinds = {g["kind"] for g in o["causes"] if any(c["key"] in surging for c in g["classes"])}
    stops, still = [], []
    for kind, at in o["ending"]["last_error_by_cause"].items():
        if at is None or kind not in t["cause_names"]:
            continue
        values = {"cause": t["cause_names"][kind], "at": local_time(at, tz, TIME_FORMAT_SECONDS)}
        if kind in open_kinds:
            still.append(t["still_surging_cause"].format(**values))
        else:
            stops.append(t["stopped"].format(**values, tz=zn))
    told = [text["list_sep"].join(stops) + "."] if stops else []
    if still:
        end = local_time(findings["report"]["window"]["end"], tz)
        causes = t["still_surging_and"].join(still)
        told.append(t["still_surging"].format(causes=causes, end=end, tz=zn) + ".")
    return told


def render_overview(findings: Mapping, text: Mapping) -> str:
    """Render page one: what happened, impact in people and minutes, why, how it ended, actions.

    Built from ``findings["overview"]`` only; a page break follows so the story is page one of
    the printed report.
    """
    o = findings["overview"]
    t = text["overview"]
    rep, people, minutes = findings["report"], o["people"], o["minutes"]
    tz, zn = _tz(findings)
    start, end = rep["window"]["start"], rep["window"]["end"]
    parts = [f"## {text['headings']['summary']}"]
    quiet = not o["errors"]["total"]
    one = o["errors"]["classes"] == 1 and "what_one" in t
    day, first, last = local_span(start, end, tz)
    # No registrations (or presence) table in the export: unknown, which "0 registrations"
    # ("0 people") would misstate.
    audience = "audience" if people["registrations"] is not None else "audience_not_exported"
    if people["audience"] is None:
        audience = (
            "audience_no_presence"
            if people["registrations"] is not None
            else ("audience_none_exported")
        )
    what = t["what_quiet" if quiet else "what_one" if one else "what"].format(
        day=day,
        start=first,
        end=last,
        tz=zn,
        title=shown(rep["title"]),
        audience=t[audience].format(
            people=fmt_number(people["audience"]),
            registrations=fmt_number(people["registrations"]),
        ),
        errors=fmt_number(o["errors"]["total"]),
        classes=o["errors"]["classes"],
        period=_error_period(minutes, tz, zn, text) + _episodes(findings, tz, text),
    )
    # Without a single monitor sample there is no peak to state, only that load is unknown.
    if people["peak_sessions"] is None:
        what += " " + t["no_peak"]
    else:
        what += " " + t["peak"].format(
            peak=fmt_number(people["peak_sessions"]),
            peak_at=local_time(people["peak_at"], tz, text=text),
        )
    parts.append(what)
    # Logs carry no webinar id: where other webinars' audiences were part of the load, the
    # failed requests are the project's, not this webinar's.
    load = findings["audience"].get("load") or {}
    project = "_project" if load.get("scope") == "project" else ""
    if quiet:
        impact = t["impact_quiet"]
    elif people.get("requests_logged") == 0:
        impact = t["impact_no_requests"]
    elif people.get("affected") is None and people.get("failed_requests"):
        if people.get("users_with_errors"):
            # The requests name people, but no session of this webinar lies in the window
            # (or the export holds no presence table): its audience is what is unknown.
            unknown = "impact_no_presence" if people["audience"] is None else "impact_no_audience"
            impact = t[unknown].format(
                failed=fmt_number(people["failed_requests"]),
                users=fmt_number(people["users_with_errors"]),
            )
        else:
            impact = t["impact_no_users" + project].format(
                failed=fmt_number(people["failed_requests"])
            )
    elif not people.get("failed_requests") and (realtime := _realtime_errors(findings)):
        # Refused joins or connections fail no request, and Realtime's lines name no viewer:
        # "0 people" would say nobody was hurt.
        impact = t["impact_realtime_only"].format(errors=fmt_number(realtime))
    else:
        impact = t["impact" + project].format(
            affected=fmt_number(people["affected"]),
            people=fmt_number(people["audience"]),
            share=_share(people["affected_share"]),
            failed=fmt_number(people["failed_requests"]),
        )
        unnamed = findings["impact"].get("error_responses_without_user")
        if unnamed:  # the people count cannot hold whoever sent requests that name nobody
            impact += " " + t["impact_unnamed"].format(
                n=fmt_number(unnamed), failed=fmt_number(people["failed_requests"])
            )
    # Bursts come from the statistics; when they were not computed (no load series) the
    # page says nothing about them, nor when no minute was in a burst (steady errors: "0 of
    # 57 minutes" read as if something were missing).
    if not quiet and minutes["in_bursts"]:
        impact += " " + t["impact_bursts"].format(
            burst_minutes=fmt_number(minutes["in_bursts"]),
            minutes=fmt_number(minutes["error_period"]),
        )
    if minutes["silences"]:
        s = minutes["silences"][0]
        impact += " " + t["silence"].format(
            source=_source_name(s["source"], text),
            minutes=fmt_number(s["minutes"]),
            **dict(zip(("start", "end"), local_pair(s["start"], s["end"], tz), strict=True)),
            tz=zn,
        )
    parts.append(impact)
    causes = []
    basis = findings.get("capacity_plan", {}).get("basis", {})
    # No load series: no capacity test ran, so no group may say "did not rise with load".
    untested = {v["error_class"] for v in findings.get("verdicts", ()) if v.get("load_unknown")}
    for group in o["causes"]:
        keys = [c["key"] for c in group["classes"]]
        names = _names(findings, keys[:PAGE_ONE_NAMES], text)
        if len(keys) > PAGE_ONE_NAMES:
            names += " " + t["more"].format(n=len(keys) - PAGE_ONE_NAMES)
        kind = group["kind"]
        if set(keys) <= untested and f"{kind}_load_unknown" in t["causes"]:
            kind = f"{kind}_load_unknown"
        line = t["causes"][kind].format(names=names, errors=fmt_number(group["errors"]))
        if group["kind"] == "capacity":
            limits = []
            # A K of the project's audience says so, with this webinar's share of it.
            shares = {c["error_class"]: c.get("k_webinar") for c in findings["capacity"]}
            live = (findings["audience"].get("load") or {}).get("webinars") or []
            for c in group["classes"][:PAGE_ONE_NAMES]:
                if c.get("k") is None:
                    continue
                share = shares.get(c["key"])
                # Open below: too few minutes under the limit to bound it there ("0–80" no).
                interval = (
                    t["interval_open_low"].format(high=fmt_number(c["k_high"]))
                    if c.get("k_open_low")
                    else f"{fmt_number(c['k_low'])}–{fmt_number(c['k_high'])}"
                )
                limits.append(
                    t["threshold" if share is None else "threshold_project"].format(
                        name=class_name(findings, c["key"], text),
                        k=fmt_number(c["k"]),
                        interval=interval,
                        weak=t["weak"] if c.get("weakly_identified") else "",
                        n=fmt_number(share),
                        webinars=len(live),
                    )
                )
            line = t["causes"]["capacity_lead"].format(errors=fmt_number(group["errors"]))
            line += " " + text["list_sep"].join(limits) + "."
            # Realtime's limit speaks to a Realtime class only; beside a database limit's K
            # alone it would read as that limit's cause.
            resource = {c["key"]: c.get("resource") for c in findings["error_classes"]}
            realtime = any(resource.get(c["key"]) == "realtime" for c in group["classes"])
            if basis.get("realtime_limit_in_effect") and realtime:
                # Refused far below the limit its samples report: that limit did not refuse
                # them (the audit's note says so); page one must not read as if it did.
                below = any(
                    q["code"] == "realtime_refusals_below_limit"
                    for q in findings.get("data_quality", ())
                )
                line += " " + t["limit_not_binding" if below else "limit_in_effect"].format(
                    limit=fmt_number(basis["realtime_limit_in_effect"])
                )
        if group["kind"] == "undecided":
            whys = _undecided_why(findings, group, text)
            if len(whys) > 1:
                # Each class named once, with its reason: not listed first and again after.
                line = t["causes"]["undecided_lead"].format(errors=fmt_number(group["errors"]))
            line += "".join(" " + s for s in whys)
        causes.append(f"- {line}")
    if causes and not any(group["kind"] == "capacity" for group in o["causes"]):
        # Said outright: a reader skimming for "capacity" must not have to infer its absence;
        # but where load went unmeasured or a capacity reading was set aside, it is not ruled out.
        open_ = any(
            c.get("why") in ("not_measured", "window_too_short", "set_aside")
            for group in o["causes"]
            for c in group["classes"]
        )
        said = "no_capacity_open" if open_ else "no_capacity"
        causes.append(f"- {t['no_capacity_untested' if untested else said]}")
    if causes:
        parts.append(f"**{t['why']}**\n\n" + "\n".join(causes))
    ending = []
    end_info = o["ending"]
    for ch in end_info["limit_changes"]:
        ending.append(
            t["limit_change"].format(
                source=t["sources"].get("realtime", "Realtime"),
                old=fmt_number(ch["from_limit"]),
                new=fmt_number(ch["to_limit"]),
                after=local_time(ch["after"], tz, TIME_FORMAT_SECONDS),
                before=local_time(ch["before"], tz, TIME_FORMAT_SECONDS),
                tz=zn,
            )
        )
    for cap in findings.get("capacity", ()):
        lifted = cap.get("limit_lifted") if cap.get("verdict") == "capacity" else None
        if lifted and lifted.get("at"):
            # The limit stopped refusing while the load stayed above it: raised, or changed.
            ending.append(
                t["limit_lifted"].format(
                    name=class_name(findings, cap["error_class"], text),
                    at=local_time(lifted["at"], tz),
                    last=local_time(lifted.get("last_error_at"), tz, text=text),
                    viewers=fmt_number(lifted["viewers"]),
                    tz=zn,
                )
            )
    ending += _tell_ends(findings, text, tz, zn)
    if end_info["untimed_responses"]:
        ending.append(
            t["untimed"].format(
                labels=text["list_sep"].join(escape(x) for x in end_info["untimed_responses"])
            )
        )
    if ending:
        parts.append(f"**{t['ending']}** " + " ".join(ending))
    actions = []
    for number, a in enumerate(o["actions"], start=1):
        item = next(i for i in findings["action_items"] if i["number"] == a["number"])
        lang = text.get("lang", "en")
        caps = {c["error_class"]: c for c in findings.get("capacity", [])}
        label = action_text(item, text, lang, class_names(findings, lang), caps)
        named = [
            escape(c["name"].get(text.get("lang", ""), c["key"]))
            for c in findings["error_classes"]
            if c["key"] in a["classes"]
        ]
        # Most catalogue texts already name their class; saying it twice costs page one
        # the lines it needs to stay one page.
        missing = [n for n in named if n not in label]
        line = f"{number}. {label}"
        if missing:
            line += " — " + t["addresses"].format(names=text["list_sep"].join(missing))
        if a.get("undetermined"):  # ranked last: no decided cause was left to act on
            line += " " + t["action_undetermined"]
        actions.append(line)
    if actions:
        parts.append(f"**{t['actions']}**\n\n" + "\n".join(actions))
    # The marker lets the page's CSS set this output in a smaller type, so the title block
    # and the story fit on one printed page (an output is never split across pages).
    parts.insert(1, PAGE_ONE_MARKER)
    return "\n\n".join(parts) + f"\n\n{PAGE_BREAK}"


def _realtime_errors(findings: Mapping) -> int:
    """Errors of the Realtime classes (lines that fail no request)."""
    return sum(c["count"] for c in findings["error_classes"] if c["source"] == "realtime_events")


def _error_period(minutes: Mapping, tz: str, zn: str, text: Mapping) -> str:
    """``over 12 minutes (14:02–14:14 KST)``; errors all in one clock minute: ``at 14:12 KST``."""
    t = text["overview"]
    first, last = local_pair(minutes["first_error"], minutes["last_error"], tz, text)
    period = minutes["error_period"]
    key = "period"
    if period is not None and period <= 1:
        key = "period_at" if first == last else "period_one"
    return t[key].format(minutes=fmt_number(period), first=first, last=last, tz=zn)


#: Error bursts this many minutes or more apart are separate episodes on page one: a quiet
#: half hour between two surges reads as two incidents, not one long outage.
EPISODE_GAP_MINUTES = 30


def _episodes(findings: Mapping, tz: str, text: Mapping) -> str:
    """`` in 2 separate surges (12:31–13:04, 15:05–15:32)``; '' for one episode or none.

    The classes' bursts (their start and last minute), merged where less than
    :data:`EPISODE_GAP_MINUTES` apart: the error period from first to last error alone reads
    as one outage when the errors came in separate waves.
    """
    spans = sorted(
        (pd.Timestamp(b["start"]), pd.Timestamp(b["end"])) for b in findings.get("bursts", ())
    )
    merged: list[list] = []
    gap = pd.Timedelta(minutes=EPISODE_GAP_MINUTES)
    for start, end in spans:
        if merged and start - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if len(merged) < 2:
        return ""
    shown = text["list_sep"].join(
        f"{local_time(a.isoformat(), tz)}–{local_time(b.isoformat(), tz)}" for a, b in merged
    )
    return text["overview"]["period_episodes"].format(n=fmt_number(len(merged)), spans=shown)


def _undecided_why(findings: Mapping, group: Mapping, text: Mapping) -> list[str]:
    """Sentences saying why the undecided classes are undecided (unmeasured, set aside, untold).

    One reason for all of them: one sentence. Several: one per reason (and per veto), each
    naming its classes.
    """
    t = text["overview"]
    parts: list[tuple[list[str], str]] = []
    for why in UNDECIDED_WHY:
        classes = [c for c in group["classes"] if c.get("why", "other") == why]
        if not classes:
            continue
        if why != "set_aside":
            parts.append(([c["key"] for c in classes], t["undecided_why"][why]))
            continue
        reasons = t["set_aside_reasons"]
        for kind in dict.fromkeys(c.get("set_aside", "other") for c in classes):
            keys = [c["key"] for c in classes if c.get("set_aside", "other") == kind]
            reason = reasons.get(kind, reasons["other"])
            parts.append((keys, t["undecided_why"]["set_aside"].format(reason=reason)))
    if len(parts) == 1:
        sentence = parts[0][1]
        return [sentence[:1].upper() + sentence[1:]]
    out = []
    for keys, sentence in parts:
        names = _names(findings, keys[:PAGE_ONE_NAMES], text)
        if len(keys) > PAGE_ONE_NAMES:
            names += " " + t["more"].format(n=len(keys) - PAGE_ONE_NAMES)
        out.append(t["undecided_named"].format(names=names, why=sentence))
    return out
