"""The report's factual sections: title, impact, buckets, timeline, audit, detection, appendix."""

from __future__ import annotations

import re
from collections.abc import Mapping

from analysis.narrative.figures import drawn_classes
from analysis.narrative.formatting import (
    _ISO_RE,
    TIME_FORMAT_SECONDS,
    _tz,
    class_name,
    code,
    escape,
    fmt_number,
    fmt_rate,
    grouped_fields,
    local_pair,
    local_span,
    local_time,
    shown,
    table,
    tier_name,
    utc_time,
)


def render_title(findings: Mapping, text: Mapping) -> str:
    """Title block: incident, webinar and its title, window in the display zone and UTC, status."""
    rep = findings["report"]
    tb = text["title_block"]
    tz, zn = _tz(findings)
    start, end = rep["window"]["start"], rep["window"]["end"]
    local, utc = local_span(start, end, tz), local_span(start, end, "UTC")
    rows = [
        (tb["incident"], shown(rep["incident"])),
        (tb["project"], escape(rep.get("project_ref") or text["unknown"])),
        (tb["webinar"], shown(rep["title"])),
        (tb["webinar_id"], code(rep["webinar_id"])),
        (tb["window_local"].format(tz=zn), "{} {}–{}".format(*local)),
        *([] if local == utc and zn == "UTC" else [(tb["window_utc"], "{} {}–{}".format(*utc))]),
        *(
            [(tb["zone"], tb["zone_default"].format(zone=escape(tz), abbr=escape(zn)))]
            if rep.get("display_tz_default")
            else []
        ),
        (tb["status"], tb["status_value"]),
        (
            tb["source"],
            tb["source_value"].format(
                data=escape(findings["inputs"]["incident_dir"]),
                files=len(findings["inputs"]["checksums"]),
            ),
        ),
    ]
    title = text["title"].format(title=shown(rep["title"]))
    items = "\n".join(f"- **{label}**: {value}" for label, value in rows)
    return f"# {title}\n\n{items}"


def _class_value(c: Mapping, t: Mapping) -> str:
    """Return an error class's impact value: its count, and its rate per request where it has one.

    No rate where the errors are not failed requests (Realtime log lines), nor where the
    endpoints logged nothing but these failures (said so); a class whose errors name no
    endpoint (a job's, with no request) has its rate of all requests, said so, not "to —".
    """
    endpoint = escape(", ".join(c.get("endpoints") or [c["endpoint"] or "—"]))
    count = fmt_number(c["count"])
    if c.get("only_failures_logged"):
        return t["class_value_only_failures"].format(count=count, endpoint=endpoint)
    if c["rate"] is None:
        return count
    if not (c.get("endpoints") or c.get("endpoint")):
        return t["class_value_all"].format(count=count, rate=fmt_rate(c["rate"]))
    return t["class_value"].format(count=count, rate=fmt_rate(c["rate"]), endpoint=endpoint)


def render_impact(findings: Mapping, text: Mapping) -> str:
    """Impact table: viewers, users, registrations, failures, errors by class, duration."""
    im, aud = findings["impact"], findings["audience"]
    t = text["impact"]
    tz, zn = _tz(findings)
    project = (aud.get("load") or {}).get("scope") == "project"

    def requests_count(value: object) -> str:
        # No gateway request in the exports: who got an error response is unknown, not 0.
        return t["no_requests"] if im.get("requests") == 0 else fmt_number(value)

    def presence(value: object) -> str:
        return t["not_exported_presence"] if value is None else fmt_number(value)

    rows = [
        (t["peak"], fmt_number(aud["peak"]), "concurrency"),
        # No presence table in the export: its people and sessions are unknown, not 0.
        (t["users"], presence(aud["unique_users"]), "sessions"),
        (t["sessions"], presence(aud["sessions"]), "sessions"),
        (
            t["registrations"],
            t["not_exported"] if aud["registrations"] is None else fmt_number(aud["registrations"]),
            "registrations",
        ),
        (
            t["error_responses_project" if project else "error_responses"],
            requests_count(im["error_responses"]),
            f"requests: {code(im['error_responses_filter'])}",
        ),
        (
            t["affected_users"],
            requests_count(im["affected_users"]),
            # In words of the report's language around the filter's code (findings.json keeps
            # the filter itself): English prose inside a Korean page read as untranslated.
            t["affected_users_evidence"].format(status=code(im["error_responses_filter"])),
        ),
        *(
            [
                (
                    t["affected_users_project"],
                    requests_count(im["affected_users_project"]),
                    t["affected_users_project_evidence"].format(
                        status=code(im["error_responses_filter"])
                    ),
                )
            ]
            if "affected_users_project" in im
            else []
        ),
        (t["errors_total"], fmt_number(im["errors_total"]), "db_errors, realtime_events"),
    ]
    # As in the figures and the root causes: beyond MAX_DRAWN_CLASSES, one row for the rest.
    _, folded = drawn_classes(findings)
    for c in findings["error_classes"]:
        if c["key"] in folded:
            continue
        rows.append(
            (
                t["class_row"].format(label=class_name(findings, c["key"], text)),
                _class_value(c, t),
                f"{escape(c['source'])}: {code(c['filter'])}",
            )
        )
    if folded:
        counts = {c["key"]: int(c["count"] or 0) for c in findings["error_classes"]}
        rows.append(
            (
                t["class_row_folded"].format(n=fmt_number(len(folded))),
                fmt_number(sum(counts[k] for k in folded)),
                t["class_row_folded_evidence"],
            )
        )
    if im["error_period_minutes"] is not None:
        rows.append(
            (
                t["duration"],
                t["duration_value"].format(
                    minutes=im["error_period_minutes"],
                    **dict(
                        zip(
                            ("start", "end"),
                            local_pair(im["first_error"], im["last_error"], tz),
                            strict=True,
                        )
                    ),
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
    if not rows:
        return f"### {heading}\n\n{t['no_buckets']}"
    return (
        f"### {heading}\n\n"
        + table([t["bucket"].format(tz=zn), t["max"], t["min"], t["samples"], t["mean"]], rows)
        + f"\n\n{note}"
    )


#: Timeline moments that belong to one error class (``subject`` is its key).
_CLASS_MOMENTS = ("first_error", "last_error", "error_surge", "error_surge_end")


def _shown_description(moment: Mapping) -> str:
    """Return a moment's description cut for the page.

    An annotation's description is its label, a colon and its note: each is cut on its own,
    so that a long label cannot push the note off the page.
    """
    label, description = str(moment["subject"]), str(moment["description"])
    if moment["kind"] == "annotation" and description.startswith(label + ": "):
        return f"{shown(label)}: {shown(description[len(label) + 2 :])}"
    return shown(description)


def render_timeline(findings: Mapping, text: Mapping) -> str:
    """Evidence-linked timeline: local and UTC time, event, source/filter/count."""
    t = text["timeline"]
    tz, zn = _tz(findings)
    rows = []
    # The per-class moments of the classes the figures fold are told as two rows: when the
    # first of them began and when the last of them ended (each moment is in findings.json).
    _, folded = drawn_classes(findings)
    hidden = [
        m for m in findings["timeline"] if m["kind"] in _CLASS_MOMENTS and m["subject"] in folded
    ]
    ends = {}
    if hidden:
        firsts = [m for m in hidden if m["kind"] == "first_error"] or hidden
        lasts = [m for m in hidden if m["kind"] == "last_error"] or hidden
        ends = {
            id(min(firsts, key=lambda m: m["at"])): "first",
            id(max(lasts, key=lambda m: m["at"])): "last",
        }
    for m in findings["timeline"]:
        if m["kind"] in _CLASS_MOMENTS and m["subject"] in folded:
            which = ends.get(id(m))
            if which:
                rows.append(
                    (
                        local_time(m["at"], tz, TIME_FORMAT_SECONDS, text),
                        utc_time(m["at"], TIME_FORMAT_SECONDS),
                        t["folded"][which].format(n=fmt_number(len(folded))),
                        t["folded"]["evidence"].format(n=fmt_number(len(hidden))),
                    )
                )
            continue
        template = t["kinds"].get(m["kind"], "{description}")
        event = template.format(
            subject=code(m["subject"]) if m["kind"] != "annotation" else "",
            value=escape(
                fmt_number(m["value"]) if isinstance(m["value"], int | float) else m["value"]
            ),
            description=_shown_description(m),
        )
        ev = m["evidence"]
        rows.append(
            (
                local_time(m["at"], tz, TIME_FORMAT_SECONDS, text),
                utc_time(m["at"], TIME_FORMAT_SECONDS),
                event,
                f"{escape(ev['source'])} · {code(ev['filter'])} · {fmt_number(ev['count'])}",
            )
        )
    if not rows:
        return f"## {text['headings']['timeline']}\n\n{t['none']}"
    return f"## {text['headings']['timeline']}\n\n" + table(
        [t["time_local"].format(tz=zn), t["time_utc"], t["event"], t["evidence"]], rows
    )


def _audit_text(item: Mapping, key: str, text: Mapping, tz: str) -> str:
    templates = text.get("audit", {}).get("codes", {}).get(item["code"], {})
    template = templates.get(key)
    if isinstance(template, Mapping):  # one sentence per case the item names
        template = template.get(str(item["fields"].get("case")))
    if template is None:
        return escape(_local_times(item[key], tz))
    kinds = text.get("audit", {}).get("rows_of", {})
    named = (
        {"kind_name": kinds[item["fields"]["kind"]]} if item["fields"].get("kind") in kinds else {}
    )
    fields = grouped_fields(
        {
            k: (
                local_time(v, tz, TIME_FORMAT_SECONDS)
                if isinstance(v, str) and _ISO_RE.match(v)
                else v
            )
            for k, v in item["fields"].items()
        }
        | named
    )
    try:
        return escape(template.format(**fields))
    except (KeyError, ValueError, IndexError, TypeError):
        # A field the template formats as a number is missing (None) here: the English
        # sentence, written with the values as they are, is shown instead.
        return escape(_local_times(item[key], tz))


#: An ISO time with its offset as the audit's English sentences write it (``isoformat()``).
_ISO_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def _local_times(sentence: str, tz: str) -> str:
    """Return an audit sentence with its ISO UTC times in the display zone, as its fields."""
    return _ISO_IN_TEXT.sub(lambda m: local_time(m.group(0), tz, TIME_FORMAT_SECONDS), sentence)


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
    if not rows:  # a header without rows read as a table that failed to print
        return f"## {text['headings']['audit']}\n\n{t['none']}"
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
                # A published limit is named "<product> <tier>" ("Realtime Free plan"): its
                # tier in the report's language, as the capacity plan names it.
                name=escape(c["name"]) if c.get("error_class") else tier_name(c["name"], text),
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
        [
            (code(k), t["unset"] if v is None else escape(v))
            for k, v in findings["parameters"].items()
        ],
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
