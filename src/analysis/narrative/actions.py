"""Action items: each recommendation's text and the evidence it rests on."""

from __future__ import annotations

import json
from collections.abc import Mapping

from analysis.narrative.figures import drawn_classes
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
    *,
    unknown: Mapping[str, str] | None = None,
    class_label: str | None = None,
) -> str:
    """Return an action item's wording in the report's language.

    Catalogue items take the locale's text filled with identifiers from the data (each shown
    as code); the incident's own items take their text from ``incident.json``. ``caps``
    (capacity entries by class) words the threshold as the class's entry reads it
    (:func:`threshold_words`). ``unknown``: the words for an empty field (default the
    locale's ``actions.unknown``, "the table involved"); ``class_label``: the words for
    ``{class}`` in place of the class's name (a row standing for several classes).
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
    unknown = t.get("unknown", {}) if unknown is None else unknown
    fields = {
        k: (fmt_number(v) if isinstance(v, int | float) else code(v) if v else unknown.get(k, "—"))
        for k, v in raw.items()
    }
    if raw.get("k") is not None:
        fields["threshold"] = threshold_words(raw, (caps or {}).get(raw.get("class")) or {}, text)
    elif "threshold" in unknown:
        fields["threshold"] = unknown["threshold"]
    if names and raw.get("class") in names:  # a class key always follows its human name
        fields["class"] = f"{escape(names[raw['class']])} ({code(raw['class'])})"
    if class_label is not None:
        fields["class"] = class_label
    return template.format_map(_Missing(fields))


def _numbers(numbers: list[int]) -> str:
    """Return item numbers as runs: ``9–12, 14``."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def _folded_rows(
    items: list[Mapping], findings: Mapping, text: Mapping, lang: str, caps: Mapping
) -> list[tuple]:
    """One row per kind of action among the folded classes' items, in the items' order.

    Each row's wording is its kind's, naming what all its classes share (one table, one
    endpoint) and "each class's table" where they differ; its evidence lists the classes.
    """
    t = text["actions"]["folded"]
    counts = {c["key"]: int(c["count"] or 0) for c in findings["error_classes"]}
    groups: dict[str, list[Mapping]] = {}
    for item in items:
        groups.setdefault(item["key"], []).append(item)
    rows = []
    for kind, members in groups.items():
        keys = [m["fields"]["class"] for m in members]
        first = members[0]["fields"]
        shared = {
            k: v for k, v in first.items() if all(m["fields"].get(k) == v for m in members[1:])
        }
        differ = {k: "" for m in members for k in m["fields"] if k not in shared}
        if "k" in differ:  # K differs: no one threshold stands for the group
            differ.update(k_low="", k_high="")
        merged = {"key": kind, "source": "catalogue", "fields": {**shared, **differ}}
        label = t["classes"].format(n=fmt_number(len(keys)))
        shown = ", ".join(code(k) for k in keys[: t["listed"]])
        more = len(keys) - t["listed"]
        rows.append(
            (
                _numbers([m["number"] for m in members]),
                action_text(merged, text, lang, caps=caps, unknown=t["unknown"], class_label=label),
                t["evidence"].format(
                    n=fmt_number(len(keys)),
                    errors=fmt_number(sum(counts.get(k, 0) for k in keys)),
                    classes=shown + (t["more"].format(n=fmt_number(more)) if more > 0 else ""),
                ),
                "",
                "",
                "",
            )
        )
    return rows


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
    # As in the figures and the root causes: the items of the classes beyond
    # MAX_DRAWN_CLASSES are told one row per kind of action (a 50-class incident printed 51).
    _, folded = drawn_classes(findings)
    hidden = [
        item
        for item in findings["action_items"]
        if item.get("source") == "catalogue" and (item.get("fields") or {}).get("class") in folded
    ]
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
        if item not in hidden
    ]
    if not rows and not hidden:
        return f"## {text['headings']['actions']}\n\n{t['none']}"
    note = ""
    if hidden:
        rows += _folded_rows(hidden, findings, text, lang, caps)
        rows.sort(key=lambda row: int(str(row[0]).split("–")[0].split(",")[0]))
        note = "\n\n" + t["folded"]["note"].format(
            n=fmt_number(len(folded)), items=fmt_number(len(hidden))
        )
    return f"## {text['headings']['actions']}\n\n{t['intro']}{note}\n\n" + table(
        [t["number"], t["action"], t["evidence_header"], t["type"], t["owner"], t["due"]], rows
    )
