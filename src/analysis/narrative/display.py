"""The sections by name, and their display in the notebook."""

from __future__ import annotations

from collections.abc import Mapping

from analysis.narrative.actions import render_actions
from analysis.narrative.causes import render_causes
from analysis.narrative.overview import render_overview
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

    shown = SECTIONS[section](findings, text)
    if shown:  # a section with nothing to say (no claims to check) is left out
        display(Markdown(shown))


def show_document(findings: Mapping) -> None:
    """Display the findings document as a collapsible tree (JupyterLab) for inspection."""
    from IPython.display import JSON, display

    display(JSON(dict(findings), root="findings"))


def show_heading(name: str, text: Mapping) -> None:
    """Display a section heading from the locale."""
    from IPython.display import Markdown, display

    display(Markdown(f"## {text['headings'][name]}"))
