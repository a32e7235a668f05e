"""Root causes: each error class's verdict with its evidence, lagged associations, limits."""

from __future__ import annotations

import math
from collections.abc import Mapping

from analysis.narrative.figures import drawn_classes, window_span
from analysis.narrative.formatting import (
    _capacity,
    _tz,
    _verdicts,
    class_name,
    code,
    escape,
    fmt_bayes_factor,
    fmt_interval,
    fmt_number,
    fmt_p,
    fmt_rate,
    limit_name,
    local_time,
    table,
    verdict_label,
)

#: The root causes' evidence cell: marked so the page's style can widen it (its sentences
#: were squeezed into a column a sixth of the table wide, a page per class when printed).
EVIDENCE_CELL = '<span class="verdict-evidence">{}</span>'
#: The verdicts whose sentence gives g (the elasticity tests decided them).
_G_VERDICTS = ("traffic", "unrelated", "undetermined")
_AN_HOUR = {"start": "2000-01-01T00:00:00Z", "end": "2000-01-01T01:00:00Z"}


def span_words(window: Mapping | None, text: Mapping) -> dict[str, str]:
    """Return the window's length in the words the verdicts' sentences use ("this hour", ...).

    Without a window (a verdict rendered on its own) the words are the hour's.
    """
    window = window or _AN_HOUR
    words = {
        f"{family}_span": window_span(window, text["causes"]["span"], f"{family}_")
        for family in ("this", "one", "the")
    }
    words["span"] = window_span(window, text["figures"]["heatmap"])
    return words


def _percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


def _inside_outside(aside: Mapping, per: Mapping, viewers: bool) -> str:
    """Return a time window's error rate inside and outside it, in the denominator's unit.

    Per request it is a share of failing requests (a percentage); per concurrent viewer it is
    errors per viewer and minute, which a Realtime class can hold above one (a reconnect storm
    refuses each viewer several times a minute): "177.67% of the exposure" read as a bug.
    """
    inside, outside = aside.get("share_inside"), aside.get("share_outside")
    if viewers:
        shown = (fmt_rate_per(inside), fmt_rate_per(outside))
    else:
        shown = (fmt_number(_percent(inside), 2), fmt_number(_percent(outside), 2))
    return per["inside_outside"].format(inside=shown[0], outside=shown[1])


def fmt_rate_per(value: float | None) -> str:
    """Errors per unit: two significant digits below 10 (0.0026, 1.8), one decimal above."""
    if value is None:
        return "–"
    if value < 0.001:
        return "0" if value == 0 else "< 0.001"
    return fmt_number(value, 1) if value >= 10 else f"{value:.2g}"


def g_decimals(se: float | None) -> int:
    """Decimals that show g to its precision: two significant digits of its standard error.

    At most 2 (a standard error of 0.04 shows 1.43), none from 10 up (g = 70 [-7, 147], not
    69.59 with a standard error of 39).
    """
    if se is None or not math.isfinite(se) or se <= 0:
        return 2
    return int(min(2, max(0, 1 - math.floor(math.log10(se)))))


def fmt_g(v: Mapping, text: Mapping, key: str = "elasticity") -> str:
    """Return g rounded to its precision, with its interval when the findings hold one."""
    digits = g_decimals(v.get("elasticity_se"))
    g = fmt_number(v.get(key), digits)
    if key != "elasticity" or v.get("elasticity_low") is None or v.get(key) is None:
        return g
    return text["causes"]["g_interval"].format(
        g=g,
        low=fmt_number(v["elasticity_low"], digits),
        high=fmt_number(v["elasticity_high"], digits),
    )


def on_realtime(cls: Mapping) -> bool:
    """Whether a class is Realtime's: its family, its ceiling or its endpoint.

    Realtime's connection count means something for these classes only; for the others it
    is the project's context, said once (:func:`render_causes`).
    """
    from analysis.naming import capacity_resource

    return (
        str(cls.get("key", "")).startswith("realtime:")
        or str(cls.get("endpoint") or "").startswith("realtime/")
        or capacity_resource(cls) in ("realtime", "realtime_rate")
    )


def _counted_addresses(v: Mapping) -> bool:
    """Whether a few-sources verdict counted client addresses, not users.

    The statistics count users where the requests name them, else client addresses
    (``stats.series.find_sources``); requests that name no user leave the users' spread
    unknown, and the count is then the signals' addresses.
    """
    sig = v.get("signals") or {}
    users = {s["source"]: s.get("max_per_minute") for s in sig.get("spread") or ()}.get("users")
    return not users and sig.get("addresses") is not None and sig["addresses"] == v.get("sources")


def verdict_evidence(
    v: Mapping,
    text: Mapping,
    window: Mapping | None = None,
    *,
    realtime: bool | None = None,
    reach: Mapping | None = None,
) -> str:
    """Return the numbers that decided a verdict and the signals beside it, in the language.

    ``window`` (the report's, with start and end) names its length in the sentences that say
    what the window cannot tell; without it they say "the hour". ``realtime``: whether the
    class is Realtime's (:func:`on_realtime`), the only classes whose evidence shows
    Realtime's connections near their limit; None: decided by the class key. ``reach``: the
    class's ``audience_reach`` (while other webinars are live), said as how many of the people
    its failed requests name were this webinar's.
    """
    from analysis.stats import ALPHA_LEVEL, BAYES_FACTOR_CUT, MIN_ERRORS, MIN_SOURCES

    r = text["causes"]["reasons"]
    kind = v["verdict"]
    unit = v.get("count_unit") or "errors"
    # The rates are per concurrent viewer where the viewers stood in for the requests.
    denominator = (v.get("signals") or {}).get("denominator_kind") or "requests"
    viewers = denominator.startswith("viewers")
    per = text["causes"]["denominators"]["viewer" if viewers else "request"]
    values = {
        "lr": fmt_number(v.get("hinge_lr"), 2),
        "p": fmt_p(v.get("hinge_p_value")),
        # The bursty null runs only where the flat one lets a hinge through: elsewhere it was
        # not needed, which a dash would leave the reader to guess.
        "pb": r["bursty_not_needed"]
        if v.get("hinge_p_value_bursty_null") is None
        and (v.get("hinge_p_value") or 0) > ALPHA_LEVEL
        else fmt_p(v.get("hinge_p_value_bursty_null")),
        "alpha": f"{ALPHA_LEVEL:g}",
        "g": fmt_g(v, text),
        "p0": fmt_p(v.get("p_value_zero")),
        "p1": fmt_p(v.get("p_value_one")),
        "bf": fmt_bayes_factor(v.get("bayes_factor")),
        "cut": fmt_bayes_factor(v.get("bayes_factor_cut") or BAYES_FACTOR_CUT),
        "per": per["per"],
        "traffic": per["traffic"],
        "sources": fmt_number(v.get("sources")),
        "min_sources": MIN_SOURCES,
        "unit": text["causes"]["units"].get(unit, unit),
        "n": MIN_ERRORS,
        **span_words(window, text),
    }
    # Without a load series no capacity test ran: not "no capacity hinge (p = –)".
    values["hinge"] = (
        r["hinge_untested"] if v.get("load_unknown") else r["no_hinge"].format(**values)
    )
    reason = kind
    if v.get("decided_by") in ("few_sources", "one_minute", "load_unknown"):
        reason = v["decided_by"]
    if reason == "few_sources" and _counted_addresses(v):
        reason = "few_sources_addresses"
    quiet = v.get("quiet_run") or {}
    if quiet and kind == "undetermined":
        # Both tests rejected and the errors stopped while requests went on: say so, not
        # "the tests do not settle it" with a Bayes factor far beyond the cut.
        reason = "undetermined_quiet"
        values.update(
            first=quiet.get("first_minute"),
            last=quiet.get("last_minute"),
            expected=fmt_number(quiet.get("expected"), 1),
            pq=fmt_p(quiet.get("p_value")),
        )
    beyond = v.get("beyond_flat") or {}
    if beyond and kind == "undetermined":
        # The Bayes factor leaned to no link from beyond a flat rate: not "between 1/3 and 3".
        reason = "undetermined_beyond_flat"
        values.update(
            lr_obs=fmt_number(beyond.get("lr"), 1), lr_flat=fmt_number(beyond.get("flat_mean"), 1)
        )
    faster = v.get("faster_than_flat") or {}
    if faster and kind == "undetermined":
        # Called traffic by the tests, but the errors outgrow the requests: say so.
        reason = "undetermined_faster_than_flat"
        values["pf"] = fmt_p(faster.get("p_value"))
    failed = v.get("mostly_failed") or {}
    if failed and kind == "undetermined":
        # Most requests failed in the minutes holding most errors, and no flat rate does that:
        # a rate switched in time, named by its minutes, not "the tests do not settle it".
        reason = "undetermined_mostly_failed"
        values.update(
            first=failed.get("first_minute"),
            last=failed.get("last_minute"),
            minutes=failed.get("minutes"),
            share=fmt_number(_percent(failed.get("share"))),
            failed=fmt_number(_percent(failed.get("failed_share"))),
            flat=fmt_number(_percent(failed.get("flat_rate")), 1),
            answered=fmt_number(failed.get("answered")),
            pm=fmt_p(failed.get("p_value")),
        )
        values["when"] = r["mostly_failed_begins"].format(**values) if failed.get("begins") else ""
    out = escape(r[reason].format(**values))
    aside = v.get("hinge_set_aside") or {}
    if aside.get("kind") in r["set_aside"] and kind in r["after_set_aside"]:
        # A hinge passed both nulls but is no capacity evidence here: say why, then what the
        # elasticity tests found (the kind's own sentence begins "no capacity hinge").
        values.update(
            k_low=fmt_number(aside.get("k_low")),
            k_high=fmt_number(aside.get("k_high")),
            first=aside.get("first_minute"),
            last=aside.get("last_minute"),
            expected=fmt_number(aside.get("expected")),
            pq=fmt_p(aside.get("p_value", aside.get("p_load"))),
            below=fmt_number(aside.get("below")),
            power=fmt_number(aside.get("power"), 2),
            lr=fmt_number(aside.get("lr"), 2),
            moved=fmt_number(aside.get("moved"), 1),
            counted=fmt_number(aside.get("errors")),
            d=fmt_number(aside.get("d"), 1),
            inside_outside=_inside_outside(aside, per, viewers),
        )
        after = r["after_set_aside"]
        tail = after.get(f"{kind}_{aside['kind']}", after[kind])
        said = r["set_aside"][aside["kind"]] + " " + tail
        out = escape(said.format(**values))
    notes = []
    compared = v.get("load_vs_time")
    if compared and kind == "capacity":
        # The comparison that let the capacity call stand, as set-aside calls show theirs.
        from analysis.stats.episodes import PERSIST_LEVEL

        key = (
            "load_vs_time_binding" if compared.get("kept_by") == "limit_binding" else "load_vs_time"
        )
        if key == "load_vs_time" and compared.get("p_time") is None:
            key = "load_vs_time_first"  # not "with p = not drawn": the first p kept the limit
        notes.append(
            r[key].format(
                first=compared["first_minute"],
                last=compared["last_minute"],
                d=fmt_number(compared["d"], 1),
                pl=fmt_p(compared["p_load"]),
                pt=r["not_drawn"] if compared.get("p_time") is None else fmt_p(compared["p_time"]),
                level=f"{PERSIST_LEVEL:g}",
                alpha=values["alpha"],
            )
        )
    sep = v.get("separation")
    if sep and kind == "undetermined":
        # How far apart the two readings are on this audience: the data's limit, not a test's.
        key = "separation" if sep.get("audience_limits") else "separation_enough"
        notes.append(
            r[key].format(
                low=fmt_number(sep["viewers_low"]),
                high=fmt_number(sep["viewers_high"]),
                share=fmt_number(100 * sep["best_share_right"]),
            )
        )
    if v.get("decided_by") == "bayes_factor":
        notes.append(r["by_bayes"].format(**values))
    if v.get("decided_by") == "few_sources" and all(
        v.get(key) is not None and v[key] <= ALPHA_LEVEL
        for key in ("hinge_p_value", "hinge_p_value_bursty_null")
    ):
        # The hinge passed both nulls but few users decided: say what would make it capacity.
        notes.append(r["few_sources_hinge"].format(**values))
    if v.get("bursty"):
        notes.append(r["bursty"].format(phi=fmt_number(v.get("residual_phi"), 2)))
    sig = v.get("signals") or {}
    if sig.get("denominator_kind") in ("viewers_own_failures", "viewers_no_requests"):
        notes.append(r[sig["denominator_kind"]])
    if sig.get("errors_without_request"):
        notes.append(
            r["errors_without_request"].format(n=fmt_number(sig["errors_without_request"]))
        )
    spread = {s["source"]: s["max_per_minute"] for s in sig.get("spread") or ()}
    if spread:
        counts = {}
        for k in ("users", "clients", "endpoints"):
            n = spread.get(k)
            one, many = r["spread_units"][k]  # "1 endpoint", "4 endpoints"
            counts[k] = (one if n == 1 else many).format(n=fmt_number(n))
        # A minute with errors had at least one user behind them: 0 (or none) means the
        # requests carry no user (sign-ins, unpaired errors), not "0 users".
        users_known = bool(spread.get("users"))
        notes.append(r["spread" if users_known else "spread_no_users"].format(**counts))
    if sig.get("addresses") is not None and sig.get("endpoint_addresses"):
        # Sign-ins carry no user: the addresses say whether a few clients or the audience.
        one, many = r["spread_units"]["addresses"]
        notes.append(
            r["addresses"].format(
                **{
                    k: (one if sig[k] == 1 else many).format(n=fmt_number(sig[k]))
                    for k in ("addresses", "endpoint_addresses")
                }
            )
        )
    if sig.get("own_failures_excluded"):
        notes.append(
            r["own_failures"].format(
                n=fmt_number(sig["own_failures_excluded"]),
                g=fmt_g(v, text, "g_with_own_failures"),
            )
        )
    if sig.get("latency_ratio") is not None:
        notes.append(_latency_note(sig, r))
    if realtime is None:
        realtime = str(v.get("error_class", "")).startswith("realtime:")
    if realtime and sig.get("realtime_peak_share_of_limit") is not None:
        notes.append(_realtime_note(sig, text))
    if reach and reach.get("users"):
        elsewhere = reach.get("other_audience_users") == reach["users"]
        notes.append(
            r["audience_reach_none" if elsewhere else "audience_reach"].format(
                users=fmt_number(reach["users"]),
                audience=fmt_number(reach["audience_users"]),
                errors=fmt_number(reach["errors_of_audience"]),
                named=fmt_number(reach["errors_named"]),
            )
        )
    for note in notes:
        out += f"<br><small>{escape(note)}</small>"
    if v.get("measurement_caveat"):
        share = fmt_number(100 * v["errors_unmeasured_share"])
        out += f"<br><small>{escape(r['unmeasured'].format(share=share))}</small>"
    return out


def _latency_note(sig: Mapping, r: Mapping) -> str:
    """Say how latency moved with load, and what its p-value tests.

    The p-value is one-sided (the rank correlation's place among all circular shifts, from
    the top): it tests latency rising with load, what a saturated backend shows. Printed
    beside a falling correlation it read as a two-sided test (-0.81 with p = 0.948); there
    the note says latency did not rise, without a p-value.
    """
    rho = sig.get("latency_load_rho")
    values = {"ratio": fmt_number(sig["latency_ratio"], 2), "rho": fmt_number(rho, 2)}
    if rho is None:
        return r["latency_ratio"].format(**values)
    if rho <= 0:
        return r["latency_not_rising"].format(**values)
    return r["latency"].format(**values, p=fmt_p(sig.get("latency_load_p_value")))


def render_causes(findings: Mapping, text: Mapping) -> str:
    """Render root causes and contributing factors: each class with its verdict and numbers."""
    t = text["causes"]
    caps = _capacity(findings)
    verdicts = _verdicts(findings)
    rows = []
    folded_rows = []
    folded_errors = 0
    explained = []
    # As in the figures: beyond MAX_DRAWN_CLASSES the most important classes keep their
    # evidence, the others one line each (a report of 50 classes printed 53 pages of these).
    _, folded = drawn_classes(findings)
    for cls in findings["error_classes"]:
        key = cls["key"]
        v = verdicts.get(key)
        if v is None:
            continue
        label = verdict_label(v["verdict"], cls)
        if label not in explained:
            explained.append(label)
        rate = t["rate_only_failures"] if cls.get("only_failures_logged") else fmt_rate(cls["rate"])
        if key in folded:
            folded_errors += int(cls["count"] or 0)
            folded_rows.append(
                (
                    class_name(findings, key, text),
                    fmt_number(cls["count"]),
                    rate,
                    f"**{t['verdicts'][label]}**",
                )
            )
            continue
        cap = caps.get(key)
        threshold = "–"
        lag = "–"
        if cap and v["verdict"] == "capacity":
            interval = fmt_interval(
                cap["k_low"], cap["k_high"], cap.get("k_open_low"), cap.get("k_open_high")
            )
            threshold = f"{fmt_number(cap['k'])} {interval}"
            if cap.get("k_webinar") is not None:
                threshold += f" ({t['project_k'].format(n=fmt_number(cap['k_webinar']))})"
            if cap["weakly_identified"]:
                threshold += f" ({t['weak']})"
            lifted = cap.get("limit_lifted") or {}
            if lifted.get("at"):  # K describes the limit before it stopped binding
                threshold += (
                    f" ({t['lifted'].format(at=local_time(lifted['at'], _tz(findings)[0]))})"
                )
            lag = f"{cap['lag_minutes']}"
            if cap.get("lag_low") is not None and cap["lag_low"] != cap["lag_high"]:
                lag += f" [{cap['lag_low']}, {cap['lag_high']}]"
            if cap.get("lag_open_high"):
                lag += f" ({t['lag_open']})"
        rows.append(
            (
                class_name(findings, key, text),
                fmt_number(cls["count"]),
                rate,
                f"**{t['verdicts'][label]}**",
                threshold,
                lag,
                # The page's style gives this cell most of the table's width (EVIDENCE_CELL).
                EVIDENCE_CELL.format(
                    verdict_evidence(
                        v,
                        text,
                        findings["report"]["window"],
                        realtime=on_realtime(cls),
                        reach=cls.get("audience_reach"),
                    )
                ),
            )
        )
    spans = span_words(findings["report"]["window"], text)
    legend = "\n".join(
        f"- **{t['verdicts'][k]}**: {t['explain'][k].format(**spans)}" for k in explained
    )
    load = findings["audience"].get("load") or {}
    if load.get("scope") == "project":
        legend += "\n\n" + t["load_project"].format(
            n=len(load["webinars"]),
            own=fmt_number(load["webinar_peak"]),
            peak=fmt_number(load["peak"]),
        )
    _, folded = drawn_classes(findings)
    if any(
        v.get("elasticity_low") is not None
        and (v["verdict"] in _G_VERDICTS or v.get("decided_by") == "few_sources")
        and key not in folded
        for key, v in verdicts.items()
    ):  # a sentence above shows g with its interval: say once what the interval is
        legend += "\n\n" + t["g_legend"]
    realtime = _realtime_context(findings, text)
    if realtime:
        legend += "\n\n" + realtime
    limits = render_limits(findings, text)
    evidence = render_associations(findings, text)
    if not rows and not folded_rows:
        # A table of headers alone (a window too short for the statistics, or no error at
        # all) reads as a page that failed to print: say why there is no verdict instead.
        none = t["no_verdicts"] if findings["error_classes"] else t["no_classes"]
        return (
            f"## {text['headings']['causes']}\n\n"
            + none.format(n=fmt_number(len(findings["error_classes"])))
            + (f"\n\n{limits}" if limits else "")
        )
    return (
        f"## {text['headings']['causes']}\n\n"
        + table(
            [
                t["class"],
                t["count"],
                t["rate"],
                t["verdict"],
                t["threshold"],
                t["lag"],
                t["evidence"],
            ],
            rows,
        )
        + (_folded_table(folded_rows, folded_errors, t) if folded_rows else "")
        + f"\n\n{legend}"
        + (f"\n\n{evidence}" if evidence else "")
        + (f"\n\n{limits}" if limits else "")
    )


def _realtime_note(sig: Mapping, text: Mapping) -> str:
    """Return how a Realtime class's errors sit against the project's connection limit.

    Two numbers of different things: the project's connections at their peak, and the share
    of this class's errors in the minutes at >= 95 % of the limit. Printed side by side as
    "peaked at 150 % ... 0 % of these errors" they read as a contradiction, so the sentence
    names the minutes it counts, and says outright when the class never met them.
    """
    t = text["causes"]
    r = t["reasons"]["realtime_limit"]
    n = sig.get("realtime_saturated_minutes") or 0
    one, many = t["realtime_project_minutes"]
    share = sig.get("realtime_errors_in_saturated_share")
    fields = {
        "peak": fmt_number(100 * sig["realtime_peak_share_of_limit"]),
        "minutes": (one if n == 1 else many).format(n=fmt_number(n)),
        "share": fmt_number(None if share is None else 100 * share),
    }
    if n == 0:
        return r["never"].format(**fields)
    if share is None:  # no error of the class in the window
        return r["minutes_only"].format(**fields)
    return r["none" if share == 0 else "some"].format(**fields)


def _realtime_context(findings: Mapping, text: Mapping) -> str:
    """Return Realtime's connections against their limit, once for the project ("" if unknown).

    Every class of a window sees the same billing samples, so the peak is one number; it is
    said here once, and under a class only when the class is Realtime's own.
    """
    t = text["causes"]
    sig = next(
        (
            v["signals"]
            for v in findings["verdicts"]
            if (v.get("signals") or {}).get("realtime_peak_share_of_limit") is not None
        ),
        None,
    )
    if sig is None:
        return ""
    n = sig.get("realtime_saturated_minutes") or 0
    one, many = t["realtime_project_minutes"]
    # "with 0 minutes at >= 95% of it. The evidence of each Realtime class says how many of
    # its errors fell in those minutes" pointed at minutes that do not exist.
    out = t["realtime_project" if n else "realtime_project_never"].format(
        peak=fmt_number(100 * sig["realtime_peak_share_of_limit"]),
        minutes=(one if n == 1 else many).format(n=fmt_number(n)),
    )
    if n and any(on_realtime(c) for c in findings["error_classes"]):
        out += " " + t["realtime_project_classes"]
    return escape(out)


def _folded_table(rows: list[tuple], errors: int, t: Mapping) -> str:
    """Return the classes listed without their evidence, under a sentence saying so."""
    note = t["folded"].format(n=fmt_number(len(rows)), errors=fmt_number(errors))
    return f"\n\n{note}\n\n" + table([t["class"], t["count"], t["rate"], t["verdict"]], rows)


def render_associations(findings: Mapping, text: Mapping) -> str:
    """Render lagged association, event coincidence and stable change points per class."""
    t = text["causes"]
    tz, zn = _tz(findings)
    assoc = {a["error_class"]: a for a in findings["associations"]}
    coinc = {c["error_class"]: c for c in findings["coincidence"]}
    changes = {c["error_class"]: c for c in findings["change_points"]}
    rows = []
    _, folded = drawn_classes(findings)
    for cls in findings["error_classes"]:
        key = cls["key"]
        a, c = assoc.get(key), coinc.get(key)
        if (a is None and c is None) or key in folded:
            continue
        stable = [
            local_time(p["minute"], tz)
            for p in changes.get(key, {}).get("stability", [])
            if p["share_of_penalties"] >= 0.5
        ]
        rows.append(
            (
                code(key),
                "–"
                if a is None
                else f"{fmt_number(a['load_leads_r'], 2)} ({a['load_leads_lag']}, "
                f"{fmt_p(a['load_leads_p_value'])})",
                "–"
                if a is None
                else f"{fmt_number(a['errors_lead_r'], 2)} ({a['errors_lead_lag']}, "
                f"{fmt_p(a['errors_lead_p_value'])})",
                "–"
                if a is None or a.get("load_coefficient_z") is None
                else f"{fmt_number(a['load_coefficient_z'], 2)} "
                f"({fmt_p(a['load_coefficient_p_value'])})",
                "–"
                if c is None or c["precursor_rate"] is None
                else f"{fmt_number(c['precursor_rate'], 2)} ({fmt_p(c['precursor_p_value'])})",
                "–"
                if c is None or c["trigger_rate"] is None
                else f"{fmt_number(c['trigger_rate'], 2)} ({fmt_p(c['trigger_p_value'])})",
                ", ".join(stable) or "–",
            )
        )
    if not rows:
        return ""
    headers = [
        t["class"],
        t["ccf_load"],
        t["ccf_errors"],
        t["load_z"],
        t["precursor"],
        t["trigger"],
        t["change_points"].format(tz=zn),
    ]
    return f"**{t['assoc_title']}**\n\n" + table(headers, rows)


def render_limits(findings: Mapping, text: Mapping) -> str:
    """Render the published Supabase limits beside the capacity thresholds found."""
    limits = findings["statistics"].get("supabase_limits", [])
    caps = [c for c in findings["capacity"] if c["verdict"] == "capacity"]
    if not limits or not caps:
        return ""
    t = text["causes"]
    lows = min(c["k_low"] if c["k_low"] is not None else c["k"] for c in caps)
    highs = max(c["k_high"] if c["k_high"] is not None else c["k"] for c in caps)
    near = [lim for lim in limits if lows / 2 <= lim["limit"] <= highs * 2]
    rows = [(limit_name(lim, text), fmt_number(lim["limit"])) for lim in near]
    if not rows:
        return ""
    return f"**{t['limits_title']}**\n\n" + table([t["limit"], t["limit_value"]], rows)
