"""The report's figures: labels, the point each states, the figure objects, their display."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.concurrency import PRESENCE_SAMPLE_EVERY
from analysis.narrative.formatting import TIME_FORMAT, _tz, fmt_number, local_time
from analysis.params import ReportParams

#: At most this many error classes are drawn one by one (a panel, a row, a stack of bars);
#: the others are folded: summed into one "other" series where the figure sums classes, left
#: out where it has a panel per class, and said so in the caption. Fifty classes drew panels
#: 8,500 pixels tall and a legend no one could match to its bars; every class keeps its row
#: in the table of root causes.
MAX_DRAWN_CLASSES = 8


def drawn_classes(findings: Mapping) -> tuple[list[str], list[str]]:
    """Return the error classes a figure draws and those it folds, as two lists of keys.

    The first :data:`MAX_DRAWN_CLASSES` by importance: capacity-driven classes first, then by
    errors (most first), ties in the findings' order; nothing is folded when all fit. Both
    lists keep the findings' order of classes.
    """
    keys = [c["key"] for c in findings.get("error_classes", ())]
    if len(keys) <= MAX_DRAWN_CLASSES:
        return keys, []
    caps = {c["error_class"] for c in findings.get("capacity", ()) if c["verdict"] == "capacity"}
    ranked = sorted(
        findings["error_classes"], key=lambda c: (c["key"] not in caps, -int(c["count"] or 0))
    )
    kept = {c["key"] for c in ranked[:MAX_DRAWN_CLASSES]}
    return [k for k in keys if k in kept], [k for k in keys if k not in kept]


def folded_note(name: str, findings: Mapping, text: Mapping) -> str:
    """Return the caption's sentence on the classes a figure folds ('' when it folds none)."""
    shown, folded = drawn_classes(findings)
    if not folded:
        return ""
    counts = {c["key"]: int(c["count"] or 0) for c in findings["error_classes"]}
    t = text["figure_folding"]
    how = t["summed"] if name in SUMMED_FIGURES else t["omitted"]
    return t["note"].format(
        shown=fmt_number(len(shown)),
        folded=fmt_number(len(folded)),
        errors=fmt_number(sum(counts[k] for k in folded)),
        how=how,
    )


#: The figures that sum classes (stacked bars): folded classes are one series there. The
#: others show each class on its own (a panel, a heatmap row, whose colour scale a sum of
#: dozens of classes would wash out) and leave folded classes out.
SUMMED_FIGURES = ("concurrency",)


def _fold_columns(table: pd.DataFrame, findings: Mapping, text: Mapping) -> tuple:
    """Return ``table`` (one column per class key) with folded classes summed into one column.

    Returns (the table, the name of the summed column or None).
    """
    shown, folded = drawn_classes(findings)
    folded = [k for k in folded if k in table.columns]
    if not folded:
        return table, None
    other = text["figure_folding"]["other"].format(n=fmt_number(len(folded)))
    kept = table[[k for k in shown if k in table.columns]].copy()
    kept[other] = table[folded].sum(axis=1)
    return kept, other


def figure_labels(name: str, text: Mapping, findings: Mapping) -> dict:
    """Locale labels of one figure, with the display zone filled in."""
    _, zn = _tz(findings)
    every = fmt_number(PRESENCE_SAMPLE_EVERY.total_seconds())
    labels = {
        k: v.format(tz=zn, every=every)
        for k, v in text["figures"][name].items()
        if not k.startswith(("point", "alt"))
    }
    # No monitor sampled the window: the line is presence's open sessions, not the app's count.
    if "caption_presence" in labels:
        codes = {q.get("code") for q in findings.get("data_quality", ())}
        presence = labels.pop("caption_presence")
        if "concurrency_from_presence" in codes:
            labels["caption"] = presence
    return labels


def window_span(window: Mapping, t: Mapping, prefix: str = "point_span_") -> str:
    """Return the window's length in words: "the hour" for an hour, else minutes or hours.

    ``t`` holds the three words under ``prefix`` + hour / minutes / hours (the heatmap's by
    default; the verdicts' sentences keep their own families in ``causes.span``).
    """
    length = pd.Timestamp(window["end"]) - pd.Timestamp(window["start"])
    minutes = round(length.total_seconds() / 60)
    if minutes == 60:
        return t[prefix + "hour"]
    if minutes % 60 or minutes < 120:
        return t[prefix + "minutes"].format(n=fmt_number(minutes))
    return t[prefix + "hours"].format(n=fmt_number(minutes // 60))


def time_format(window: Mapping, tz: str) -> str:
    """Clock time for a window inside one local day; with the date when it spans more than one."""
    start = pd.Timestamp(window["start"]).tz_convert(tz)
    last = (pd.Timestamp(window["end"]) - pd.Timedelta(1, "ns")).tz_convert(tz)
    return TIME_FORMAT if start.date() == last.date() else "%Y-%m-%d " + TIME_FORMAT


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
    fmt = time_format(rep["window"], tz)
    common = {
        "tz": zn,
        "start": local_time(rep["window"]["start"], tz, fmt),
        "end": local_time(rep["window"]["end"], tz, fmt),
        "peak": fmt_number(aud.get("peak")),
        "peak_at": local_time(aud.get("peak_ts"), tz, fmt, text=text),
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
        # Classes without any verdict were never tested (a window too short for the
        # statistics): "no error class rose with load" would claim a test that was not run.
        none = "point_untested" if counted and not findings["verdicts"] else "point_none"
        point = t["point_capacity"] if caps else t[none]
        load = aud.get("load") or {}
        if load.get("scope") == "project":
            # The figure draws the load tested, the project's: its peak, not this webinar's.
            point = t["point_capacity_project"] if caps else t[f"{none}_project"]
            common["peak"] = fmt_number(load["peak"])
            common["peak_at"] = local_time(load["peak_ts"], tz, fmt, text=text)
        title = point.format(**common)
        alt = t["alt"].format(**common, limits=text["list_sep"].join(limits) or t["none"])
        return title, alt
    if name == "heatmap":
        top = max(counted, key=lambda c: (c["peak_count"], c["count"]), default=None)
        fields = {
            **common,
            "span": window_span(rep["window"], t),
            "busiest": fmt_number(top["peak_count"]) if top else "0",
            "busiest_at": local_time(top["peak_minute"], tz, fmt, text=text) if top else "",
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


def limits_to_draw(limits: list[tuple[str, float]], peak: float) -> list[tuple[str, float]]:
    """Return the limits the concurrency figure draws: those the load reached, and the next.

    A higher plan's limit says nothing the next one does not, and it sets the axis: an
    audience of 82 under the Free (200) and Pro (500) plans' lines was drawn a sixth of the
    figure high.
    """
    ordered = sorted(limits, key=lambda item: item[1])
    above = [item for item in ordered if item[1] > peak]
    return [item for item in ordered if item[1] <= peak] + above[:1]


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
        errors, other = _fold_columns(errors, f, text)
        bursts: dict[str, list] = {}
        for b in f["bursts"]:
            bursts.setdefault(b["error_class"], []).append(
                (pd.Timestamp(b["start"]), pd.Timestamp(b["end"]) + pd.Timedelta("1min"))
            )
        limits = [
            (c["name"], c["value"]) for c in f["detection"]["crossings"] if not c.get("error_class")
        ]
        conc = analysis.timeline.concurrency
        load = f["audience"].get("load") or {}
        if load.get("scope") == "project" and analysis.timeline.frames:
            # Every class was tested against the project's load; the limits stand beside it.
            frame = next(iter(analysis.timeline.frames.values()))
            conc = pd.DataFrame({"ts": frame["minute"], "viewers": frame["concurrency"]})
            labels["viewers"] = labels["viewers_project"]
        peak = float(conc["viewers"].max()) if len(conc) else 0.0
        limits = limits_to_draw(limits, peak)
        return plots.plot_concurrency(conc, errors, bursts, labels, tz, limits, other=other)
    if name == "heatmap":
        em = analysis.timeline.error_minutes
        counts = em.pivot_table(
            index="minute", columns="error_class", values="errors", aggfunc="sum"
        )
        counts = counts[[c["key"] for c in f["error_classes"] if c["key"] in counts.columns]]
        _, folded = drawn_classes(f)
        counts = counts[[k for k in counts.columns if k not in folded]]
        return plots.plot_error_heatmap(counts, labels, tz)
    if name == "lag":
        curves = {}
        _, folded = drawn_classes(f)
        for a in (a for a in f["associations"] if a["error_class"] not in folded):
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


def has_panels(name: str, findings: Mapping) -> bool:
    """Whether a figure has a panel to draw: the lag and dose figures draw tested classes only."""
    if name == "lag":
        return bool(findings["associations"])
    if name == "dose":
        return bool(findings["capacity"])
    return True


def dose_panels(analysis: object) -> dict:
    """Return per class: minute points (lagged load, rate), the retained model, K, interval.

    Capacity-driven classes (first) get the fitted hinge, K and its interval; the others get
    the flat rate per request that their verdict retains, not a hinge the test rejected.
    """
    from analysis.stats import lag_padded

    panels = {}
    caps = {c["error_class"]: c for c in analysis.findings["capacity"]}
    _, folded = drawn_classes(analysis.findings)
    classes = sorted(
        (
            c
            for c in analysis.findings["error_classes"]
            if c["key"] in caps and c["key"] not in folded
        ),
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
            excess = (grid - cap["k"]).clip(lower=0) ** cap["shape_exponent"]
            rate = cap["b0_per_request"] + cap["b1_per_request_per_viewer"] * excess
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


def show_figure(
    name: str, analysis: object, text: Mapping, params: ReportParams, png: bytes | None = None
) -> None:
    """Save one figure as ``figures/<name>.png``, display that PNG and its caption.

    ``png`` is the figure already drawn (``pipeline.draw_figures`` draws them all at once);
    without it the figure is drawn here.
    """
    from IPython.display import Image, Markdown, display

    if not has_panels(name, analysis.findings):
        # Empty axes under a title such as "No error class follows load beyond chance" would
        # say a test was run and found nothing, where none was run.
        display(Markdown(f"*{text['figures'][name]['untested']}*"))
        return
    if png is None:
        png = plots.figure_png(build_figure(name, analysis, text))
    path = Path(params.output_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    alt = figure_point(name, analysis.findings, text)[1]
    note = folded_note(name, analysis.findings, text)
    alt = f"{alt} {note}" if note else alt
    # The page template writes this metadata as the image's alt attribute (escaped there).
    display(Image(data=png, format="png", metadata={"alt": alt}))
    caption = figure_labels(name, text, analysis.findings)["caption"]
    display(Markdown(f"*{caption}*" + (f" {note}" if note else "")))
