"""Report text: data values stay text (no HTML, no broken tables), times shown in the zone."""

from __future__ import annotations

import html
import re

import pytest

from analysis import narrative
from analysis.narrative.formatting import local_pair, local_span


def test_values_from_the_data_cannot_inject_markup():
    value = 'client #PID<0.123.0> exited | <script>alert("x")</script> *bold* _x_'
    cell = narrative.escape(value)
    assert "<" not in cell and "|" not in cell and "\n" not in narrative.escape("a\nb")
    assert narrative.code("a | b") == "<code>a &#124; b</code>"
    table = narrative.table(["h1", "h2"], [(cell, narrative.code("x|y"))])
    assert table.splitlines()[2].count(" | ") == 1


HOSTILE = [
    "``` <img src=x onerror=alert(1)> ```",
    "see https://evil.example/x?a=1 and www.example.org",
    "$x<y$ and $$a$$",
    "[x](javascript:alert(1)) ![i](/etc/passwd) <https://a.example>",
    "&lt; already an entity &amp;",
    "Key (id)=(1) *b* _u_ ~~s~~ \\ \\* - [ ] x",
    "<iframe src=file:///etc/passwd></iframe>",
    '22P02: invalid input syntax for type uuid: "`</code><b>x`"',
    "tab\there\x1b[31m red",
]


#: escape() puts each "$" and "\\" in an element of its own (an element ends MathJax's run).
MATH_BREAK = re.compile(r"</?span>")
#: MathJax's delimiters as JupyterLab configures it.
_DELIMITERS = re.compile(r"\$[^$]+\$|\\\(|\\\[|\\begin\{")


def _maths(page: str) -> list[str]:
    """Runs of text outside code that MathJax would typeset (it reads up to the next element)."""
    page = re.sub(r"<(code|pre)>.*?</\1>", "", page, flags=re.S)
    runs = (html.unescape(t) for t in re.split(r"<(?!/?(?:br|wbr)\b)[^>]*>", page))
    return [run for run in runs if _DELIMITERS.search(run)]


@pytest.mark.parametrize(
    "value",
    ["$x$", "$$\\int$$", "\\(a\\)", "\\[b\\]", "\\begin{align}c\\end{align}", "$\\$$"],
)
def test_values_are_never_maths_for_a_viewer_that_runs_mathjax(value):
    # JupyterLab shows the executed notebook's Markdown outputs through MathJax.
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    page = markdown2html_mistune(f"{narrative.escape(value)} | {narrative.code(value)}")
    assert _maths(page) == [] and _maths(f"<p>{value}</p>") != []
    assert html.unescape(re.sub(r"<[^>]*>", "", page)).strip() == f"{value} | {value}"


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_values_render_as_exactly_the_text_written(value):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    shown = " ".join(value.replace("\x1b", "\ufffd").split())

    def render(v: str) -> str:
        return markdown2html_mistune(
            f"# {narrative.escape(v)}\n\n- **a**: {narrative.escape(v)}\n\n"
            + narrative.table(["h", "c"], [(narrative.escape(v), narrative.code(v))])
        )

    rendered = render(value)
    assert _maths(rendered) == []
    rendered = MATH_BREAK.sub("", rendered)

    # Exactly the elements the Markdown itself makes for a harmless value; the value is text.
    def tags(page: str) -> list:
        return sorted(re.findall(r"<(/?[a-zA-Z][a-zA-Z0-9]*)", page))

    assert tags(rendered) == tags(render("plain"))
    texts = [html.unescape(t).strip() for t in re.split(r"<[^>]*>", rendered)]
    # The heading, the table cell and the code element hold it alone; the list item after
    # its label.
    assert texts.count(shown) == 3 and f": {shown}" in texts, (shown, texts)


def test_times_are_shown_in_the_display_zone_and_utc():
    at = "2026-02-06T05:40:12Z"
    assert narrative.local_time(at, "Asia/Seoul") == "14:40"
    assert narrative.utc_time(at, narrative.TIME_FORMAT_SECONDS) == "05:40:12"
    assert narrative.zone_name("Asia/Seoul", at) == "KST"
    text = narrative.load_locale("ko")
    assert narrative.local_time(None, "Asia/Seoul", text=text) == text["time_unknown"]


def test_a_clock_reading_that_happened_twice_carries_its_offset():
    # New York falls back at 06:00 UTC on 2026-11-01: 01:30 is 05:30 and 06:30 UTC.
    tz = "America/New_York"
    assert narrative.local_time("2026-11-01T05:30:00Z", tz) == "01:30 EDT"
    assert narrative.local_time("2026-11-01T06:30:00Z", tz) == "01:30 EST"
    assert narrative.local_time("2026-11-01T07:30:00Z", tz) == "02:30"
    assert narrative.local_time("2026-11-01T06:30:00Z", tz, "%Y-%m-%d") == "2026-11-01"
    # A window across a change labels both ends, the spring's gap as the autumn's repeat.
    got = local_span("2026-11-01T05:55:00Z", "2026-11-01T06:15:00Z", tz)
    assert got == ("2026-11-01", "01:55 EDT", "01:15 EST")
    got = local_span("2026-03-08T06:50:00Z", "2026-03-08T07:10:00Z", tz)
    assert got == ("2026-03-08", "01:50 EST", "03:10 EDT")
    # Zones without a change, or windows beside one, read as before.
    at, end = "2026-02-06T05:00:00Z", "2026-02-06T06:00:00Z"
    assert local_span(at, end, "Asia/Seoul") == ("2026-02-06", "14:00", "15:00")
    assert local_span("2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z", tz)[1] == "02:00"
    # Two times bounding a stretch across the change: 60 minutes, not two hours.
    got = local_pair("2026-03-26T23:30:00Z", "2026-03-27T00:29:00Z", "Asia/Jerusalem")
    assert got == ("01:30 IST", "03:29 IDT")
    assert local_pair(at, end, "Asia/Seoul") == ("14:00", "15:00")
    # Lord Howe falls back half an hour; its abbreviation is numeric.
    assert narrative.local_time("2026-04-04T14:40:00Z", "Australia/Lord_Howe") == "01:40 UTC+11:00"
    assert narrative.local_time("2026-04-04T15:10:00Z", "Australia/Lord_Howe") == "01:40 UTC+10:30"


def test_numbers_and_p_values_are_formatted_for_readers():
    assert narrative.fmt_number(1852) == "1,852"
    assert narrative.fmt_number(None) == "–"
    assert narrative.fmt_rate(1 / 3) == "33.33%"
    assert narrative.fmt_p(0.0004) == "< 0.001" and narrative.fmt_p(0.05) == "0.050"


def test_figure_labels_from_the_data_are_text_not_math():
    import io

    import matplotlib.pyplot as plt

    from analysis import plots

    plots.configure_plots()
    fig, ax = plt.subplots()
    # Invalid mathtext: drawn as math it would fail the whole figure (and the report).
    for label in (r"22P02:$\frac{$", "$}$", r"$x^^2$"):
        ax.plot([0, 1], label=label)
    ax.set_title(r"$\undefined{x}$")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def test_the_real_exporter_keeps_data_inside_its_elements():
    """Through report.export_html (not only the Markdown renderer): inline elements hold text."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from analysis import report

    value = "22P02:``</code><img src=x onerror=alert(1)>` $x$ | a"
    md = narrative.table(["k", "v"], [(narrative.code(value), "<small>note</small>")])
    cell = new_code_cell("show()", outputs=[new_output("display_data", data={"text/markdown": md})])
    page = report.export_html(report.prepare_for_export(new_notebook(cells=[cell]), "t"), "en")
    codes = re.findall(r"<code>(.*?)</code>", page, flags=re.S)
    assert html.unescape(MATH_BREAK.sub("", codes[-1])) == value
    assert "<small>note</small>" in page and "<code></code>" not in page
    assert "<img" not in page
