"""Action items: each recommendation's text and the evidence it rests on."""

from __future__ import annotations

import json
from collections.abc import Mapping

from analysis.narrative.formatting import (
    class_names,
    code,
    escape,
    fmt_number,
    fmt_rate,
    table,
    verdict_label,
)


def _evidence_text(
    ev: Mapping, text: Mapping, classes: Mapping[str, Mapping], caps: Mapping[str, Mapping]
) -> str:
    e = text["actions"]["evidence"]
    names = text["causes"]["verdicts"]
    kind = ev["kind"]
    if kind == "class":
        key = code(ev["error_class"])
        if not ev["present"]:
            return e["class_missing"].format(key=key)
        verdict = names[verdict_label(ev["verdict"], classes.get(ev["error_class"]))]
        if ev["rate"] is None:
            return e["class_count"].format(key=key, count=fmt_number(ev["count"]), verdict=verdict)
        return e["class"].format(
            key=key, count=fmt_number(ev["count"]), rate=fmt_rate(ev["rate"]), verdict=verdict
        )
    if kind == "threshold":
        cap = caps.get(ev["error_class"]) or {}
        words = text["actions"]["threshold_words"]
        return e["threshold"].format(
            key=code(ev["error_class"]),
            value=fmt_number(ev["k"]),
            interval=_interval(ev, cap, words),
            scope=words["evidence_project"] if cap.get("load_scope") == "project" else "",
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


def _interval(values: Mapping, cap: Mapping, words: Mapping) -> str:
    """K's interval as the action texts say it: open below, it bounds K from above only."""
    low, high = fmt_number(values["k_low"]), fmt_number(values["k_high"])
    if cap.get("k_open_low"):
        return words["open_low"].format(high=high)
    return words["open_high" if cap.get("k_open_high") else "interval"].format(low=low, high=high)


def threshold_words(fields: Mapping, cap: Mapping, text: Mapping) -> str:
    """Return "K = 64 [38, 68] viewers" for an action's class, as its capacity entry reads.

    A K of the project's load counts sessions across the project's live webinars, not this
    webinar's viewers; an interval open below says K may lie anywhere up to its upper end.
    """
    words = text["actions"]["threshold_words"]
    return words["project" if cap.get("load_scope") == "project" else "viewers"].format(
        k=fmt_number(fields["k"]), interval=_interval(fields, cap, words)
    )


def action_text(
    item: Mapping,
    text: Mapping,
    lang: str,
    names: Mapping[str, str] | None = None,
    caps: Mapping[str, Mapping] | None = None,
) -> str:
    """Return an action item's wording in the report's language.

    Catalogue items take the locale's text filled with identifiers from the data (each shown
    as code); the incident's own items take their text from ``incident.json``. ``caps``
    (capacity entries by class) words the threshold as the class's entry reads it
    (:func:`threshold_words`).
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
    # What the data does not name reads as a plain noun ("the table involved"), not a gap.
    unknown = t.get("unknown", {})
    fields = {
        k: (fmt_number(v) if isinstance(v, int | float) else code(v) if v else unknown.get(k, "—"))
        for k, v in raw.items()
    }
    if raw.get("k") is not None:
        fields["threshold"] = threshold_words(raw, (caps or {}).get(raw.get("class")) or {}, text)
    if names and raw.get("class") in names:  # a class key always follows its human name
        fields["class"] = f"{escape(names[raw['class']])} ({code(raw['class'])})"
    return template.format_map(_Missing(fields))


class _Missing(dict):
    """format_map helper: a placeholder without a value shows a dash."""

    def __missing__(self, key):
        return "—"


def render_actions(findings: Mapping, text: Mapping) -> str:
    """Render the action items: from the data's error classes, then the incident's own."""
    t = text["actions"]
    lang = text.get("lang") or findings.get("report", {}).get("lang", "en")
    names = class_names(findings, lang)
    classes = {c["key"]: c for c in findings.get("error_classes", [])}
    caps = {c["error_class"]: c for c in findings.get("capacity", [])}
    rows = [
        (
            item["number"],
            action_text(item, text, lang, names, caps),
            "<br>".join(_evidence_text(ev, text, classes, caps) for ev in item["evidence"]),
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
