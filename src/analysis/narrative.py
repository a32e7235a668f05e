"""The postmortem's text: findings and locale strings in, Markdown (and figures) out.

Each ``render_*`` function turns the findings document (see :mod:`analysis.findings`) into one
section of Markdown in the report's language; ``show_*`` functions display it in the notebook.
Values from the data are escaped, so a message such as ``#PID<0.1.0>`` stays text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis import languages, plots
from analysis.params import ReportParams

TIME_FORMAT = "%H:%M"
TIME_FORMAT_SECONDS = "%H:%M:%S"
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
#: Ends page one in print (Chromium honours break-after on a block element).
PAGE_BREAK = '<div style="break-after: page"></div>'
PAGE_ONE_MARKER = '<div class="page-one"></div>'
#: Classes named per cause on page one (the largest; the rest are counted), so it stays one page.
PAGE_ONE_NAMES = 4


def load_locale(lang: str) -> dict:
    """Return the report's strings for ``lang`` (its file in ``locales/``)."""
    return languages.load_locale(lang)


# Every character Markdown (with nbconvert's plugins: tables, math, bare-URL links,
# strikethrough, task lists, definition lists) or HTML gives a meaning to becomes a numeric
# character reference. The parser decodes a reference to a plain character and the HTML
# renderer escapes it again, so a value is shown exactly as written and can never open a tag,
# a code span, a link, a math span or a table cell. See docs/report-safety.md.
_MARKUP_CHARS = "&<>\"'|\\`*_[]()!#$~:{}+=^"
_ENTITIES = {ord(ch): f"&#{ord(ch)};" for ch in _MARKUP_CHARS}
# Controls (ANSI escapes, NUL, ...) are shown as U+FFFD; line breaks and tabs become spaces so
# a value stays inside its table row or list item.
_ENTITIES.update({c: "\ufffd" for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]})
_ENTITIES.update({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "})
_ENTITIES.update({0x2028: " ", 0x2029: " "})


def escape(value: object) -> str:
    """Return a data value as Markdown text that renders exactly as written.

    Safe anywhere inline: paragraphs, list items, headings, table cells and inside the
    ``<code>`` element :func:`code` makes. Never pass already escaped text (it would show the
    references).
    """
    return str(value).translate(_ENTITIES)


def code(value: object) -> str:
    """Return a data value as an inline code element that shows it exactly as written.

    A Markdown code span cannot hold every value (backticks close it, pipes split table cells,
    its content is not decoded), so data is wrapped in an HTML ``<code>`` element whose content
    is :func:`escape`-d text. Whitespace runs collapse to one space, as in a code span.
    """
    return f"<code>{escape(' '.join(str(value).split()))}</code>"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return a Markdown table; cell values are escaped, empty cells stay empty."""
    head = "| " + " | ".join(escape(h) for h in headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def local_time(
    value: str | None, tz: str, fmt: str = TIME_FORMAT, text: Mapping | None = None
) -> str:
    """Format an ISO UTC time in the display zone ('time unknown' text for None)."""
    if value is None:
        return "" if text is None else text["time_unknown"]
    return pd.Timestamp(value).tz_convert(tz).strftime(fmt)


def utc_time(value: str | None, fmt: str = TIME_FORMAT) -> str:
    """Format an ISO UTC time as UTC clock time."""
    return "" if value is None else pd.Timestamp(value).tz_convert("UTC").strftime(fmt)


def zone_name(tz: str, at: str) -> str:
    """Return the zone's abbreviation at a time (``KST``), else its name."""
    abbr = pd.Timestamp(at).tz_convert(tz).strftime("%Z")
    return abbr if abbr and not abbr.startswith(("+", "-")) else tz


def fmt_number(value: object, digits: int = 0) -> str:
    """Format a number with thousands separators; '–' for a missing value."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if digits == 0:
        return f"{round(float(value)):,}"
    return f"{float(value):,.{digits}f}"


def fmt_rate(value: object) -> str:
    """Format a rate per request as a percentage with two significant decimals."""
    if value is None:
        return "–"
    return f"{100 * float(value):.2f}%"


def fmt_p(value: object) -> str:
    """Format a p-value (three decimals, '< 0.001' below that)."""
    if value is None:
        return "–"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _verdicts(findings: Mapping) -> dict:
    return {v["error_class"]: v for v in findings["verdicts"]}


def _capacity(findings: Mapping) -> dict:
    return {c["error_class"]: c for c in findings["capacity"]}


def _tz(findings: Mapping) -> tuple[str, str]:
    tz = findings["report"]["display_tz"]
    return tz, zone_name(tz, findings["report"]["window"]["start"])


def render_title(findings: Mapping, text: Mapping) -> str:
    """Title block: incident, webinar and its title, window in the display zone and UTC, status."""
    rep = findings["report"]
    tb = text["title_block"]
    tz, zn = _tz(findings)
    start, end = rep["window"]["start"], rep["window"]["end"]
    day = pd.Timestamp(start).tz_convert(tz).strftime("%Y-%m-%d")
    day_utc = pd.Timestamp(start).strftime("%Y-%m-%d")
    rows = [
        (tb["incident"], escape(rep["incident"])),
        (tb["project"], escape(rep.get("project_ref") or text["unknown"])),
        (tb["webinar"], escape(rep["title"])),
        (tb["webinar_id"], code(rep["webinar_id"])),
        (tb["window_local"].format(tz=zn), f"{day} {local_time(start, tz)}–{local_time(end, tz)}"),
        (tb["window_utc"], f"{day_utc} {utc_time(start)}–{utc_time(end)}"),
        (tb["status"], tb["status_value"]),
        (
            tb["source"],
            tb["source_value"].format(
                data=escape(findings["inputs"]["incident_dir"]),
                files=len(findings["inputs"]["checksums"]),
            ),
        ),
    ]
    title = text["title"].format(title=escape(rep["title"]))
    items = "\n".join(f"- **{label}**: {value}" for label, value in rows)
    return f"# {title}\n\n{items}"


def render_impact(findings: Mapping, text: Mapping) -> str:
    """Impact table: viewers, users, registrations, failures, errors by class, duration."""
    im, aud = findings["impact"], findings["audience"]
    t = text["impact"]
    tz, zn = _tz(findings)
    rows = [
        (t["peak"], fmt_number(aud["peak"]), "concurrency"),
        (t["users"], fmt_number(aud["unique_users"]), "sessions"),
        (t["sessions"], fmt_number(aud["sessions"]), "sessions"),
        (t["registrations"], fmt_number(aud["registrations"]), "registrations"),
        (
            t["error_responses"],
            fmt_number(im["error_responses"]),
            f"requests: {code(im['error_responses_filter'])}",
        ),
        (
            t["affected_users"],
            fmt_number(im["affected_users"]),
            f"requests: {code(im['affected_users_filter'])}",
        ),
        (t["errors_total"], fmt_number(im["errors_total"]), "db_errors, realtime_events"),
    ]
    for c in findings["error_classes"]:
        rows.append(
            (
                t["class_row"].format(label=class_name(findings, c["key"], text)),
                # No rate where the errors are not failed requests (Realtime log lines).
                fmt_number(c["count"])
                if c["rate"] is None
                else t["class_value"].format(
                    count=fmt_number(c["count"]),
                    rate=fmt_rate(c["rate"]),
                    endpoint=escape(", ".join(c.get("endpoints") or [c["endpoint"] or "—"])),
                ),
                f"{escape(c['source'])}: {code(c['filter'])}",
            )
        )
    if im["error_period_minutes"] is not None:
        rows.append(
            (
                t["duration"],
                t["duration_value"].format(
                    minutes=im["error_period_minutes"],
                    start=local_time(im["first_error"], tz),
                    end=local_time(im["last_error"], tz),
                    tz=zn,
                ),
                "db_errors, realtime_events",
            )
        )
    return f"## {text['headings']['impact']}\n\n" + table(
        [t["metric"], t["value"], t["evidence"]], rows
    )


def render_buckets(findings: Mapping, text: Mapping) -> str:
    """Render concurrency per bucket (max, min, samples, mean) and the mean-of-maxima note."""
    t = text["audience"]
    tz, zn = _tz(findings)
    rows = [
        (
            f"{local_time(b['start'], tz)}–{local_time(b['end'], tz)}",
            fmt_number(b["max"]),
            fmt_number(b["min"]),
            b["samples"],
            fmt_number(b["mean_tw"], 1),
        )
        for b in findings["buckets"]
    ]
    aud = findings["audience"]
    heading = text["headings"]["audience"].format(minutes=findings["report"]["bucket_minutes"])
    note = t["note"].format(
        mean_max=fmt_number(aud["mean_of_bucket_maxima"], 2),
        mean_tw=fmt_number(aud["time_weighted_mean"], 2),
    )
    return (
        f"### {heading}\n\n"
        + table([t["bucket"].format(tz=zn), t["max"], t["min"], t["samples"], t["mean"]], rows)
        + f"\n\n{note}"
    )


def render_timeline(findings: Mapping, text: Mapping) -> str:
    """Evidence-linked timeline: local and UTC time, event, source/filter/count."""
    t = text["timeline"]
    tz, zn = _tz(findings)
    rows = []
    for m in findings["timeline"]:
        template = t["kinds"].get(m["kind"], "{description}")
        event = template.format(
            subject=code(m["subject"]) if m["kind"] != "annotation" else "",
            value=escape(
                fmt_number(m["value"]) if isinstance(m["value"], int | float) else m["value"]
            ),
            description=escape(m["description"]),
        )
        ev = m["evidence"]
        rows.append(
            (
                local_time(m["at"], tz, TIME_FORMAT_SECONDS, text),
                utc_time(m["at"], TIME_FORMAT_SECONDS),
                event,
                f"{escape(ev['source'])} · {code(ev['filter'])} · {ev['count']}",
            )
        )
    return f"## {text['headings']['timeline']}\n\n" + table(
        [t["time_local"].format(tz=zn), t["time_utc"], t["event"], t["evidence"]], rows
    )


def verdict_evidence(v: Mapping, text: Mapping) -> str:
    """Return the numbers that decided a verdict and the signals beside it, in the language."""
    from analysis.stats import ALPHA_LEVEL, MIN_ERRORS

    r = text["causes"]["reasons"]
    kind = v["verdict"]
    unit = v.get("count_unit") or "errors"
    values = {
        "lr": fmt_number(v.get("hinge_lr"), 2),
        "p": fmt_p(v.get("hinge_p_value")),
        "pb": fmt_p(v.get("hinge_p_value_bursty_null")),
        "alpha": f"{ALPHA_LEVEL:g}",
        "g": fmt_number(v.get("elasticity"), 2),
        "p0": fmt_p(v.get("p_value_zero")),
        "p1": fmt_p(v.get("p_value_one")),
        "unit": text["causes"]["units"].get(unit, unit),
        "n": MIN_ERRORS,
    }
    out = escape(r[kind].format(**values))
    notes = []
    if v.get("bursty"):
        notes.append(r["bursty"].format(phi=fmt_number(v.get("residual_phi"), 2)))
    sig = v.get("signals") or {}
    spread = {s["source"]: s["max_per_minute"] for s in sig.get("spread") or ()}
    if spread:
        notes.append(
            r["spread"].format(**{k: spread.get(k, "–") for k in ("users", "clients", "endpoints")})
        )
    if sig.get("own_failures_excluded"):
        notes.append(
            r["own_failures"].format(
                n=fmt_number(sig["own_failures_excluded"]),
                g=fmt_number(v.get("g_with_own_failures"), 2),
            )
        )
    if sig.get("latency_ratio") is not None:
        notes.append(
            r["latency"].format(
                ratio=fmt_number(sig["latency_ratio"], 2),
                rho=fmt_number(sig.get("latency_load_rho"), 2),
                p=fmt_p(sig.get("latency_load_p_value")),
            )
        )
    if sig.get("realtime_peak_share_of_limit") is not None:
        share = sig.get("realtime_errors_in_saturated_share")
        notes.append(
            r["realtime"].format(
                peak=fmt_number(100 * sig["realtime_peak_share_of_limit"]),
                share=fmt_number(None if share is None else 100 * share),
            )
        )
    for note in notes:
        out += f"<br><small>{escape(note)}</small>"
    if v.get("measurement_caveat"):
        share = fmt_number(100 * v["errors_unmeasured_share"])
        out += f"<br><small>{escape(r['unmeasured'].format(share=share))}</small>"
    return out


def render_causes(findings: Mapping, text: Mapping) -> str:
    """Render root causes and contributing factors: each class with its verdict and numbers."""
    t = text["causes"]
    caps = _capacity(findings)
    verdicts = _verdicts(findings)
    rows = []
    explained = []
    for cls in findings["error_classes"]:
        key = cls["key"]
        v = verdicts.get(key)
        if v is None:
            continue
        cap = caps.get(key)
        threshold = "–"
        lag = "–"
        if cap and v["verdict"] == "capacity":
            threshold = (
                f"{fmt_number(cap['k'])} [{fmt_number(cap['k_low'])}, {fmt_number(cap['k_high'])}]"
            )
            if cap["weakly_identified"]:
                threshold += f" ({t['weak']})"
            lag = f"{cap['lag_minutes']}"
        rows.append(
            (
                class_name(findings, key, text),
                fmt_number(cls["count"]),
                fmt_rate(cls["rate"]),
                f"**{t['verdicts'][v['verdict']]}**",
                threshold,
                lag,
                verdict_evidence(v, text),
            )
        )
        if v["verdict"] not in explained:
            explained.append(v["verdict"])
    legend = "\n".join(f"- **{t['verdicts'][k]}**: {t['explain'][k]}" for k in explained)
    limits = render_limits(findings, text)
    evidence = render_associations(findings, text)
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
        + f"\n\n{legend}"
        + (f"\n\n{evidence}" if evidence else "")
        + (f"\n\n{limits}" if limits else "")
    )


def render_associations(findings: Mapping, text: Mapping) -> str:
    """Render lagged association, event coincidence and stable change points per class."""
    t = text["causes"]
    tz, zn = _tz(findings)
    assoc = {a["error_class"]: a for a in findings["associations"]}
    coinc = {c["error_class"]: c for c in findings["coincidence"]}
    changes = {c["error_class"]: c for c in findings["change_points"]}
    rows = []
    for cls in findings["error_classes"]:
        key = cls["key"]
        a, c = assoc.get(key), coinc.get(key)
        if a is None and c is None:
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
    rows = [
        (escape(f"{lim['product']} {lim['quantity']} ({lim['tier']})"), fmt_number(lim["limit"]))
        for lim in near
    ]
    if not rows:
        return ""
    return f"**{t['limits_title']}**\n\n" + table([t["limit"], t["limit_value"]], rows)


def _audit_text(item: Mapping, key: str, text: Mapping, tz: str) -> str:
    templates = text.get("audit", {}).get("codes", {}).get(item["code"], {})
    if key not in templates:
        return escape(item[key])
    fields = {
        k: (
            local_time(v, tz, TIME_FORMAT_SECONDS) if isinstance(v, str) and _ISO_RE.match(v) else v
        )
        for k, v in item["fields"].items()
    }
    try:
        return escape(templates[key].format(**fields))
    except (KeyError, ValueError, IndexError, TypeError):
        # A field the template formats as a number is missing (None) here: the English
        # sentence, written with the values as they are, is shown instead.
        return escape(item[key])


def render_audit(findings: Mapping, text: Mapping) -> str:
    """Render what the data cannot tell: each data-quality finding and what it limits."""
    t = text["audit"]
    tz, _ = _tz(findings)
    severity = t.get("severities", {})
    rows = [
        (
            escape(severity.get(q["severity"], q["severity"])),
            _audit_text(q, "what", text, tz),
            _audit_text(q, "limits", text, tz),
            f"{escape(q['evidence']['source'])} · {code(q['evidence']['filter'])}",
        )
        for q in findings["data_quality"]
    ]
    return f"## {text['headings']['audit']}\n\n" + table(
        [t["severity"], t["finding"], t["limits"], text["impact"]["evidence"]], rows
    )


def render_detection(findings: Mapping, text: Mapping) -> str:
    """Render detection: when an alert could have fired, against the first errors."""
    t = text["detection"]
    d = findings["detection"]
    tz, _ = _tz(findings)
    lines = []
    for c in d["crossings"]:
        if c["at"] is None:
            continue
        if c.get("at_window_start"):
            template = t["before_window"]
        elif c.get("error_class"):
            template = t["threshold"]
        else:
            template = t["limit"]
        lines.append(
            template.format(
                name=escape(c["name"]),
                key=code(c.get("error_class", "")),
                value=fmt_number(c["value"]),
                local=local_time(c["at"], tz, TIME_FORMAT_SECONDS),
                utc=utc_time(c["at"], TIME_FORMAT_SECONDS),
            )
        )
    for key in ("first_error", "first_surge"):
        if d[key]:
            lines.append(
                t[key].format(
                    local=local_time(d[key]["at"], tz, TIME_FORMAT_SECONDS),
                    utc=utc_time(d[key]["at"], TIME_FORMAT_SECONDS),
                    key=code(d[key]["error_class"]),
                )
            )
    if d["lead_minutes"]:
        lines.append(t["gap"].format(rule=code(d["earliest_rule"]), minutes=d["lead_minutes"]))
    elif not any(c["at"] for c in d["crossings"]):
        lines.append(t["none"])
    for change in d.get("limit_changes", []):
        lines.append(
            t["limit_change"].format(
                value=fmt_number(change["value"]),
                local=local_time(change["at"], tz, TIME_FORMAT_SECONDS),
                utc=utc_time(change["at"], TIME_FORMAT_SECONDS),
            )
        )
    if d["first_human_action"]:
        h = d["first_human_action"]
        lines.append(t["human"].format(label=escape(h["label"]), local=local_time(h["at"], tz)))
    if d["untimed_human_actions"]:
        labels = ", ".join(escape(x) for x in d["untimed_human_actions"])
        lines.append(t["human_unknown"].format(labels=labels))
    body = "\n".join(f"- {line}" for line in lines)
    return f"## {text['headings']['detection']}\n\n{t['intro']}\n\n{body}"


def _evidence_text(ev: Mapping, text: Mapping) -> str:
    e = text["actions"]["evidence"]
    names = text["causes"]["verdicts"]
    kind = ev["kind"]
    if kind == "class":
        key = code(ev["error_class"])
        if not ev["present"]:
            return e["class_missing"].format(key=key)
        if ev["rate"] is None:
            return e["class_count"].format(
                key=key, count=fmt_number(ev["count"]), verdict=names[ev["verdict"]]
            )
        return e["class"].format(
            key=key,
            count=fmt_number(ev["count"]),
            rate=fmt_rate(ev["rate"]),
            verdict=names[ev["verdict"]],
        )
    if kind == "threshold":
        return e["threshold"].format(
            key=code(ev["error_class"]),
            value=fmt_number(ev["k"]),
            low=fmt_number(ev["k_low"]),
            high=fmt_number(ev["k_high"]),
        )
    if kind == "peak":
        return e["peak"].format(peak=fmt_number(ev["peak"]))
    if kind == "detection":
        if ev["lead_minutes"]:
            return e["detection"].format(minutes=ev["lead_minutes"])
        return e["detection_missing"]
    if kind == "errors_total":
        return f"{text['impact']['errors_total']}: {fmt_number(ev['count'])}"
    return escape(json.dumps(ev, ensure_ascii=False))


def action_text(
    item: Mapping, text: Mapping, lang: str, names: Mapping[str, str] | None = None
) -> str:
    """Return an action item's wording in the report's language.

    Catalogue items take the locale's text filled with identifiers from the data (each shown
    as code); the incident's own items take their text from ``incident.json``.
    """
    t = text["actions"]
    if item.get("source") == "incident":
        own = item.get("text") or {}
        chosen = own.get(lang) or next(iter(own.values()), "")
        return f"{escape(chosen)} <small>({escape(t['from_incident'])})</small>"
    template = t["catalogue"].get(item["key"])
    if template is None:
        return escape(item["key"])
    raw = item.get("fields") or {}
    fields = {
        k: (fmt_number(v) if isinstance(v, int | float) else code(v) if v else "—")
        for k, v in raw.items()
    }
    if names and raw.get("class") in names:  # a class key always follows its human name
        fields["class"] = f"{escape(names[raw['class']])} ({code(raw['class'])})"
    return template.format_map(_Missing(fields))


def class_names(findings: Mapping, lang: str) -> dict[str, str]:
    """Human name of each error class in the report's language (key -> name)."""
    return {
        c["key"]: c["name"].get(lang, c["key"])
        for c in findings.get("error_classes", [])
        if isinstance(c.get("name"), Mapping)
    }


class _Missing(dict):
    """format_map helper: a placeholder without a value shows a dash."""

    def __missing__(self, key):
        return "—"


def render_actions(findings: Mapping, text: Mapping) -> str:
    """Render the action items: from the data's error classes, then the incident's own."""
    t = text["actions"]
    lang = text.get("lang") or findings.get("report", {}).get("lang", "en")
    names = class_names(findings, lang)
    rows = [
        (
            item["number"],
            action_text(item, text, lang, names),
            "<br>".join(_evidence_text(ev, text) for ev in item["evidence"]),
            escape(item["type"] or ""),
            escape(item["owner"] or ""),
            escape(item["due"] or ""),
        )
        for item in findings["action_items"]
    ]
    if not rows:
        return f"## {text['headings']['actions']}\n\n{t['none']}"
    return f"## {text['headings']['actions']}\n\n{t['intro']}\n\n" + table(
        [t["number"], t["action"], t["evidence_header"], t["type"], t["owner"], t["due"]], rows
    )


def render_appendix(findings: Mapping, text: Mapping) -> str:
    """Appendix: methods, parameters, ingest accounting, input checksums, package versions."""
    t = text["appendix"]
    h = text["headings"]
    rep = findings["report"]
    tz, zn = _tz(findings)
    methods = "\n".join(
        f"- {line.format(tz=zn, minutes=rep['bucket_minutes'], seed=rep['seed'])}"
        for line in t["methods"]
    )
    params = table(
        [t["parameter"], t["value"]],
        [(code(k), escape(v)) for k, v in findings["parameters"].items()],
    )
    # One row per kind (files summed); the per-file accounting is in findings.json.
    kinds: dict[str, dict] = {}
    for a in findings["inputs"]["accounting"]:
        k = kinds.setdefault(
            str(a.get("kind")), {"files": set(), "read": 0, "accepted": 0, "rejected": 0, "why": []}
        )
        k["files"].add(a.get("file"))
        for col in ("read", "accepted", "rejected"):
            k[col] += int(a.get(col) or 0)
        if a.get("reason") and a["reason"] not in k["why"]:
            k["why"].append(a["reason"])
    acc_rows = [
        (
            escape(kind),
            len(k["files"]),
            fmt_number(k["read"]),
            fmt_number(k["accepted"]),
            fmt_number(k["rejected"]),
            escape("; ".join(k["why"])),
        )
        for kind, k in sorted(kinds.items())
    ]
    accounting = table(
        [t["kind"], t["files"], t["read"], t["accepted"], t["rejected"], t["reason"]], acc_rows
    )
    # One digest stands for every input; the per-file list is in findings.json.
    sums = t["manifest"].format(
        files=len(findings["inputs"]["checksums"]),
        digest=code(findings["inputs"]["manifest_sha256"]),
    )
    env = findings["environment"]
    versions = table(
        [t["package"], t["version"]],
        [("python", escape(env["python"]))]
        + [(escape(k), escape(v or "–")) for k, v in env["packages"].items()],
    )
    return (
        f"## {h['appendix']}\n\n### {h['methods']}\n\n{methods}\n\n"
        f"### {h['parameters']}\n\n{params}\n\n### {h['accounting']}\n\n{accounting}\n\n"
        f"### {h['checksums']}\n\n{sums}\n\n### {h['versions']}\n\n{versions}"
    )


def class_name(findings: Mapping, key: str, text: Mapping) -> str:
    """Return a class's human name followed by its key: ``Realtime disconnects (<code>..)``.

    The name is the findings' name in the report's language (escaped data: it may hold table
    and column names); the key stays in parentheses for analysts.
    """
    row = next((c for c in findings["error_classes"] if c["key"] == key), None)
    name = (row or {}).get("name", {}).get(text.get("lang", ""))
    return f"{escape(name)} ({code(key)})" if name else code(key)


def _names(findings: Mapping, keys: Sequence[str], text: Mapping) -> str:
    return text["list_sep"].join(class_name(findings, k, text) for k in keys)


def _source_name(source: str, text: Mapping) -> str:
    names = text["overview"]["sources"]
    for prefix, name in names.items():
        if source.startswith(prefix):
            return name
    return escape(source)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


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
    what = t["what_quiet" if quiet else "what"].format(
        day=pd.Timestamp(start).tz_convert(tz).strftime("%Y-%m-%d"),
        start=local_time(start, tz),
        end=local_time(end, tz),
        tz=zn,
        title=escape(rep["title"]),
        people=fmt_number(people["audience"]),
        registrations=fmt_number(people["registrations"]),
        errors=fmt_number(o["errors"]["total"]),
        classes=o["errors"]["classes"],
        minutes=fmt_number(minutes["error_period"]),
        first=local_time(minutes["first_error"], tz, text=text),
        last=local_time(minutes["last_error"], tz, text=text),
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
    if quiet:
        impact = t["impact_quiet"]
    else:
        impact = t["impact"].format(
            affected=fmt_number(people["affected"]),
            people=fmt_number(people["audience"]),
            share=_share(people["affected_share"]),
            failed=fmt_number(people["failed_requests"]),
        )
    # Bursts come from the statistics; when they were not computed (no load series) the
    # page says nothing about them rather than "0 minutes".
    if not quiet and minutes["in_bursts"] is not None:
        impact += " " + t["impact_bursts"].format(
            burst_minutes=fmt_number(minutes["in_bursts"]),
            minutes=fmt_number(minutes["error_period"]),
        )
    if minutes["silences"]:
        s = minutes["silences"][0]
        impact += " " + t["silence"].format(
            source=_source_name(s["source"], text),
            minutes=fmt_number(s["minutes"]),
            start=local_time(s["start"], tz),
            end=local_time(s["end"], tz),
            tz=zn,
        )
    parts.append(impact)
    causes = []
    basis = findings.get("capacity_plan", {}).get("basis", {})
    for group in o["causes"]:
        keys = [c["key"] for c in group["classes"]]
        names = _names(findings, keys[:PAGE_ONE_NAMES], text)
        if len(keys) > PAGE_ONE_NAMES:
            names += " " + t["more"].format(n=len(keys) - PAGE_ONE_NAMES)
        line = t["causes"][group["kind"]].format(names=names, errors=fmt_number(group["errors"]))
        if group["kind"] == "capacity":
            limits = []
            for c in group["classes"][:PAGE_ONE_NAMES]:
                if c.get("k") is None:
                    continue
                limits.append(
                    t["threshold"].format(
                        name=class_name(findings, c["key"], text),
                        k=fmt_number(c["k"]),
                        low=fmt_number(c["k_low"]),
                        high=fmt_number(c["k_high"]),
                        weak=t["weak"] if c.get("weakly_identified") else "",
                    )
                )
            line = t["causes"]["capacity_lead"].format(errors=fmt_number(group["errors"]))
            line += " " + text["list_sep"].join(limits) + "."
            if basis.get("realtime_limit_in_effect"):
                line += " " + t["limit_in_effect"].format(
                    limit=fmt_number(basis["realtime_limit_in_effect"])
                )
        causes.append(f"- {line}")
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
    stops = [
        t["stopped"].format(
            cause=t["cause_names"][kind], at=local_time(at, tz, TIME_FORMAT_SECONDS), tz=zn
        )
        for kind, at in end_info["last_error_by_cause"].items()
        if at is not None and kind in t["cause_names"]
    ]
    if stops:
        ending.append(text["list_sep"].join(stops) + ".")
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
        label = action_text(item, text, lang, class_names(findings, lang))
        names = text["list_sep"].join(
            escape(c["name"].get(text.get("lang", ""), c["key"]))
            for c in findings["error_classes"]
            if c["key"] in a["classes"]
        )
        actions.append(f"{number}. {label} — " + t["addresses"].format(names=names))
    if actions:
        parts.append(f"**{t['actions']}**\n\n" + "\n".join(actions))
    # The marker lets the page's CSS set this output in a smaller type, so the title block
    # and the story fit on one printed page (an output is never split across pages).
    parts.insert(1, PAGE_ONE_MARKER)
    return "\n\n".join(parts) + f"\n\n{PAGE_BREAK}"


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
        return f"## {text['headings']['claims']}\n\n{t['none']}"
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


def _tier(plan: Mapping | None, t: Mapping) -> str:
    if not plan:
        return "–"
    if plan["tier"] is None:
        return t["beyond"].format(limit=fmt_number(plan["largest_limit"]))
    return t["tier"].format(
        tier=escape(plan["tier"]),
        limit=fmt_number(plan["limit"]),
        headroom=_share(plan["headroom"]),
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
            offset=fmt_number(b["connections_offset"]),
        )
    ]
    for th in plan["thresholds"]:
        lines.append(
            t["threshold"].format(
                name=class_name(findings, th["error_class"], text),
                k=fmt_number(th["k"]),
                low=fmt_number(th["k_low"]),
                high=fmt_number(th["k_high"]),
                resource=t["resources"].get(th.get("resource") or "", t["resources"][""]),
            )
        )
    rows = []
    for p in plan["projections"]:
        rt_plan = p["realtime_plan"]
        nxt = "–"
        if rt_plan.get("registrations_at_limit"):
            nxt = t["next"].format(
                n=fmt_number(rt_plan["registrations_at_limit"]),
                tier=escape(rt_plan["tier"]),
            )
        rows.append(
            (
                fmt_number(p["registrations"])
                + (f" ({t['this']})" if p["registrations"] == b["registrations"] else ""),
                _interval(p["attendees"]),
                _interval(p["peak_sessions"]),
                _interval(p["realtime_connections"]),
                _interval(p["db_connections"]),
                _tier(rt_plan, t),
                _tier(p.get("compute"), t),
                nxt,
                text["list_sep"].join(class_name(findings, k, text) for k in p["breaches"])
                or t["none"],
            )
        )
    level = f"{100 * plan['level']:.0f}%"
    table_md = table(
        [
            t["registrations"],
            t["attendees"],
            t["peak"].format(level=level),
            t["realtime"],
            t["db"],
            t["realtime_plan"].format(headroom=_share(plan["headroom"])),
            t["compute"].format(headroom=_share(plan["headroom"])),
            t["next_header"],
            t["breaches"],
        ],
        rows,
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


SECTIONS = {
    "title": render_title,
    "summary": render_overview,
    "claims": render_claims,
    "impact": render_impact,
    "buckets": render_buckets,
    "timeline": render_timeline,
    "causes": render_causes,
    "audit": render_audit,
    "detection": render_detection,
    "capacity_plan": render_capacity_plan,
    "actions": render_actions,
    "appendix": render_appendix,
}


def show(section: str, findings: Mapping, text: Mapping) -> None:
    """Display one section of the report as Markdown in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(SECTIONS[section](findings, text)))


def show_document(findings: Mapping) -> None:
    """Display the findings document as a collapsible tree (JupyterLab) for inspection."""
    from IPython.display import JSON, display

    display(JSON(dict(findings), root="findings"))


def figure_labels(name: str, text: Mapping, findings: Mapping) -> dict:
    """Locale labels of one figure, with the display zone filled in."""
    _, zn = _tz(findings)
    return {
        k: v.format(tz=zn)
        for k, v in text["figures"][name].items()
        if not k.startswith(("point", "alt"))
    }


def figure_point(name: str, findings: Mapping, text: Mapping) -> tuple[str, str]:
    """Return a figure's title, which states its point, and its alt text, from the findings.

    Both hold numbers and times only, never a value from the data (a class name can carry a
    table name): the title is drawn by matplotlib and the alt text is an attribute.
    """
    t = text["figures"][name]
    tz, zn = _tz(findings)
    rep, aud = findings["report"], findings["audience"]
    caps = [c for c in findings["capacity"] if c["verdict"] == "capacity" and c["k"] is not None]
    counted = [c for c in findings["error_classes"] if c["count"]]
    common = {
        "tz": zn,
        "start": local_time(rep["window"]["start"], tz),
        "end": local_time(rep["window"]["end"], tz),
        "peak": fmt_number(aud.get("peak")),
        "peak_at": local_time(aud.get("peak_ts"), tz, text=text),
        "classes": len(counted),
        "errors": fmt_number(findings["impact"]["errors_total"]),
        "k": fmt_number(min((c["k"] for c in caps), default=None)),
    }
    if name == "concurrency":
        limits = [
            f"{c['name']} {fmt_number(c['value'])}"
            for c in findings["detection"]["crossings"]
            if not c.get("error_class")
        ]
        title = (t["point_capacity"] if caps else t["point_none"]).format(**common)
        alt = t["alt"].format(**common, limits=text["list_sep"].join(limits) or t["none"])
        return title, alt
    if name == "heatmap":
        top = max(counted, key=lambda c: (c["peak_count"], c["count"]), default=None)
        fields = {
            **common,
            "busiest": fmt_number(top["peak_count"]) if top else "0",
            "busiest_at": local_time(top["peak_minute"], tz, text=text) if top else "",
        }
        return t["point"].format(**fields), t["alt"].format(**fields)
    if name == "lag":
        leads = [
            a["error_class"]
            for a in findings["associations"]
            if a["load_leads_p_value"] is not None and a["load_leads_p_value"] < 0.05
        ]
        fields = {**common, "n_lead": len(leads), "n": len(findings["associations"])}
        title = (t["point_lead"] if leads else t["point_none"]).format(**fields)
        return title, t["alt"].format(**fields)
    if name == "dose":
        fields = {**common, "n_cap": len(caps), "n": len(findings["capacity"])}
        title = (t["point_capacity"] if caps else t["point_none"]).format(**fields)
        return title, t["alt"].format(**fields)
    raise KeyError(name)


def build_figure(name: str, analysis: object, text: Mapping) -> object:
    """Build one of the four figures from an :class:`analysis.findings.Analysis`."""
    f = analysis.findings
    labels = figure_labels(name, text, f)
    labels["title"] = figure_point(name, f, text)[0]
    tz = f["report"]["display_tz"]
    if name == "concurrency":
        em = analysis.timeline.error_minutes
        errors = em.pivot_table(
            index="minute", columns="error_class", values="errors", aggfunc="sum"
        )
        errors = errors[[c["key"] for c in f["error_classes"] if c["key"] in errors.columns]]
        bursts: dict[str, list] = {}
        for b in f["bursts"]:
            bursts.setdefault(b["error_class"], []).append(
                (pd.Timestamp(b["start"]), pd.Timestamp(b["end"]) + pd.Timedelta("1min"))
            )
        limits = [
            (c["name"], c["value"]) for c in f["detection"]["crossings"] if not c.get("error_class")
        ]
        return plots.plot_concurrency(
            analysis.timeline.concurrency, errors, bursts, labels, tz, limits
        )
    if name == "heatmap":
        em = analysis.timeline.error_minutes
        counts = em.pivot_table(
            index="minute", columns="error_class", values="errors", aggfunc="sum"
        )
        counts = counts[[c["key"] for c in f["error_classes"] if c["key"] in counts.columns]]
        return plots.plot_error_heatmap(counts, labels, tz)
    if name == "lag":
        curves = {}
        for a in f["associations"]:
            lags = pd.Series(a["lags"])
            band = a["null_band"]
            high = lags.map(lambda k, b=band: b["load_leads"] if k >= 0 else b["errors_lead"])
            curves[a["error_class"]] = pd.DataFrame(
                {"lag": lags, "r": a["r"], "null_low": -high, "null_high": high}
            )
        return plots.plot_lagged_association(curves, labels)
    if name == "dose":
        return plots.plot_dose_response(dose_panels(analysis), labels)
    raise KeyError(name)


def dose_panels(analysis: object) -> dict:
    """Return per class: minute points (lagged load, rate), the retained model, K, interval.

    Capacity-driven classes (first) get the fitted hinge, K and its interval; the others get
    the flat rate per request that their verdict retains, not a hinge the test rejected.
    """
    from analysis.stats import lag_padded

    panels = {}
    caps = {c["error_class"]: c for c in analysis.findings["capacity"]}
    classes = sorted(
        (c for c in analysis.findings["error_classes"] if c["key"] in caps),
        key=lambda c: caps[c["key"]]["verdict"] != "capacity",
    )
    for cls in classes:
        cap = caps[cls["key"]]
        frame = analysis.timeline.frames[cls["key"]]
        capacity = cap["verdict"] == "capacity"
        lag = cap["lag_minutes"] if capacity else 0
        load = lag_padded(frame["concurrency"].fillna(0).to_numpy(dtype=float), lag)
        requests = frame["requests"].to_numpy(dtype=float)
        errors = frame["errors"].to_numpy(dtype=float)
        keep = requests > 0
        points = pd.DataFrame({"load": load[keep], "rate": errors[keep] / requests[keep]})
        grid = pd.Series(sorted(set(load.tolist())), dtype=float)
        if capacity:
            rate = cap["b0_per_request"] + cap["b1_per_request_per_viewer"] * (
                grid - cap["k"]
            ).clip(lower=0)
        else:
            rate = pd.Series(errors.sum() / max(requests.sum(), 1.0), index=grid.index)
        panels[cls["key"]] = {
            "points": points,
            "fit": pd.DataFrame({"load": grid, "rate": rate}),
            "fit_kind": "fit" if capacity else "flat",
            "threshold": cap["k"] if capacity else None,
            "interval": (cap["k_low"], cap["k_high"]) if capacity else None,
        }
    return panels


def show_figure(name: str, analysis: object, text: Mapping, params: ReportParams) -> None:
    """Draw one figure, save it as ``figures/<name>.png``, display that PNG and its caption."""
    from IPython.display import Image, Markdown, display

    fig = build_figure(name, analysis, text)
    png = plots.figure_png(fig)
    path = Path(params.output_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    alt = figure_point(name, analysis.findings, text)[1]
    # The page template writes this metadata as the image's alt attribute (escaped there).
    display(Image(data=png, format="png", metadata={"alt": alt}))
    display(Markdown(f"*{figure_labels(name, text, analysis.findings)['caption']}*"))


def show_heading(name: str, text: Mapping) -> None:
    """Display a section heading from the locale."""
    from IPython.display import Markdown, display

    display(Markdown(f"## {text['headings'][name]}"))
