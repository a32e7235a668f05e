"""The postmortem's text: findings and locale strings in, Markdown (and figures) out.

Each ``render_*`` function turns the findings document (see :mod:`analysis.findings`) into one
section of Markdown in the report's language; ``show_*`` functions display it in the notebook.
Values from the data are escaped, so a message such as ``#PID<0.1.0>`` stays text.

Modules: ``formatting`` (escaping, tables, times, numbers, names), ``overview`` (page one),
``sections`` (title, impact, buckets, timeline, audit, detection, appendix), ``causes``
(verdicts and their evidence), ``actions``, ``plan`` (claims checked, capacity plan),
``figures`` and ``display`` (the sections by name, shown in the notebook).
"""

from analysis.narrative.actions import action_text, render_actions
from analysis.narrative.causes import (
    render_associations,
    render_causes,
    render_limits,
    verdict_evidence,
)
from analysis.narrative.display import SECTIONS, show, show_document, show_heading
from analysis.narrative.figures import (
    build_figure,
    dose_panels,
    figure_labels,
    figure_point,
    show_figure,
)
from analysis.narrative.formatting import (
    TIME_FORMAT,
    TIME_FORMAT_SECONDS,
    class_name,
    class_names,
    code,
    escape,
    fmt_bayes_factor,
    fmt_number,
    fmt_p,
    fmt_rate,
    load_locale,
    local_time,
    table,
    utc_time,
    zone_name,
)
from analysis.narrative.overview import PAGE_BREAK, PAGE_ONE_MARKER, PAGE_ONE_NAMES, render_overview
from analysis.narrative.plan import render_capacity_plan, render_claims
from analysis.narrative.sections import (
    render_appendix,
    render_audit,
    render_buckets,
    render_detection,
    render_impact,
    render_timeline,
    render_title,
)

__all__ = [
    "TIME_FORMAT",
    "TIME_FORMAT_SECONDS",
    "load_locale",
    "escape",
    "code",
    "table",
    "local_time",
    "utc_time",
    "zone_name",
    "fmt_number",
    "fmt_rate",
    "fmt_bayes_factor",
    "fmt_p",
    "class_names",
    "class_name",
    "render_title",
    "render_impact",
    "render_buckets",
    "render_timeline",
    "render_audit",
    "render_detection",
    "render_appendix",
    "verdict_evidence",
    "render_causes",
    "render_associations",
    "render_limits",
    "action_text",
    "render_actions",
    "PAGE_BREAK",
    "PAGE_ONE_MARKER",
    "PAGE_ONE_NAMES",
    "render_overview",
    "render_claims",
    "render_capacity_plan",
    "figure_labels",
    "figure_point",
    "build_figure",
    "dose_panels",
    "show_figure",
    "SECTIONS",
    "show",
    "show_document",
    "show_heading",
]
