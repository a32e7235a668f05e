"""Every section of narrative.SECTIONS and every figure renders in every locale, from real
findings: an incident with errors and one without any."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from analysis import narrative, pipeline, plots
from analysis.params import build_params

LOCALES = sorted(
    p.name.removesuffix(".json")
    for p in resources.files("analysis").joinpath("locales").iterdir()
    if p.name.endswith(".json")
)


@pytest.fixture(scope="module", params=["with errors", "without errors", "without load samples"])
def findings(request, tmp_path_factory) -> dict:
    """The findings of a small simulated incident, every stage run for real.

    The second incident has no error at all, the third errors but no concurrency sample (the
    monitor table is empty): every section must still say something.
    """
    import dataclasses

    from analysis.concurrency import busiest_webinar
    from analysis.simulate import synthetic_params, write_incident

    root = tmp_path_factory.mktemp("sections")
    params = synthetic_params(
        seed=5, minutes=20, base=40.0, peak=100.0, realtime_limit=70, disconnect_rate=0.01
    )
    if request.param == "without errors":
        params = dataclasses.replace(params, errors=())
    directory = write_incident(params, root / "incident").directory
    settings = pipeline.Settings(cache_dir=root / "cache", stats_cache=False, workers=1)
    incident = pipeline.load_directory(directory, settings)
    run = build_params(busiest_webinar(incident), directory, output_dir=root / "out")
    if request.param == "without load samples":
        incident = dataclasses.replace(incident, concurrency=incident.concurrency.iloc[0:0])
    analysis = pipeline.analyse(incident, run, settings)
    assert bool(analysis.findings["error_classes"]) == (request.param != "without errors")
    if request.param == "without load samples":
        # The statistics that need no load still run; none tested capacity.
        verdicts = analysis.findings["verdicts"]
        assert verdicts and all(v["load_unknown"] for v in verdicts)
        assert analysis.findings["capacity"] == []
        codes = {issue["code"] for issue in analysis.findings["data_quality"]}
        assert "no_concurrency_samples" in codes
    return analysis


@pytest.mark.parametrize("lang", LOCALES)
def test_every_section_and_figure_renders_in_every_locale(findings, lang):
    text = narrative.load_locale(lang)
    for name, render in narrative.SECTIONS.items():
        markdown = render(findings.findings, text)
        if name == "claims" and not findings.findings.get("claims"):
            assert markdown == "", "no claims, no section"
            continue
        assert markdown.strip(), f"{lang}: section {name} is empty"
        # A placeholder left unformatted means the locale and the renderer disagree.
        assert not re.search(r"\{[a-z_]+\}", markdown), f"{lang}: section {name}"
    plots.configure_plots()
    for name in ("concurrency", "heatmap", "lag", "dose"):
        png = plots.figure_png(narrative.build_figure(name, findings, text))
        assert png.startswith(b"\x89PNG"), f"{lang}: figure {name}"


def test_page_one_says_what_the_data_shows_and_nothing_it_does_not(findings, request):
    """Page one of a quiet incident says no error was logged; without a load series it states
    no peak and says the monitor recorded nothing (bursts of errors among requests, and the
    verdicts that need no load, are still computed: docs/verdicts.md, "No load series")."""
    page = narrative.render_overview(findings.findings, narrative.load_locale("en"))
    case = request.node.callspec.params["findings"]
    if case == "without errors":
        assert "no errors were logged" in page
        assert "0 errors of 0 kinds" not in page and "in bursts" not in page
    else:
        assert "no errors were logged" not in page
    if case == "without load samples":
        assert "recorded no sample" in page and "peaked at" not in page
        assert "Undecided" in page
    else:
        assert "peaked at" in page


def test_no_original_report_is_invoked_where_the_incident_lists_none(findings):
    doc = findings.findings
    if doc.get("claims"):
        pytest.skip("this incident lists claims of an earlier write-up")
    text = narrative.load_locale("en")
    pages = "\n".join(render(doc, text) for render in narrative.SECTIONS.values())
    assert "original report" not in pages


@pytest.mark.parametrize("lang", LOCALES)
def test_page_one_names_each_action_s_class_once(findings, lang):
    """A top action whose text already names its class does not add "for <class>" again: the
    repetition cost page one the lines it needs to stay one printed page."""
    text = narrative.load_locale(lang)
    page = narrative.render_overview(findings.findings, text)
    actions = page.split(f"**{text['overview']['actions']}**", 1)
    if len(actions) == 1:
        pytest.skip("no top actions in this incident")
    names = narrative.class_names(findings.findings, lang)
    lines = [line for line in actions[1].splitlines() if re.match(r"\d+\. ", line)]
    assert lines
    for line in lines:
        for name in names.values():
            assert line.count(narrative.escape(name)) <= 1, line
