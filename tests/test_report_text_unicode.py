"""Values in any script stay in their place on the page: right-to-left text, invisible
characters, stacked marks and very long values (docs/report-safety.md, section 1).
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from analysis import narrative, report
from analysis.narrative import formatting

CHROMIUM = report.find_chromium()

# qa's unicode_names room (tests/_unseen_rooms.py): endpoints named in Hebrew and Korean.
HEBREW = "/rest/v1/שאלות"
ARABIC = "قناة مزدحمة"


def _render(markdown: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(markdown)


def test_a_right_to_left_value_is_isolated_and_reads_as_written():
    for value in (HEBREW, ARABIC, "kr-app \u200f3.0", "تم\u061c 1"):
        page = _render(f"errors on {narrative.code(value)} (23 %) and {narrative.escape(value)}.")
        isolated = re.findall(r"<bdi>(.*?)</bdi>", page)
        assert [html.unescape(v) for v in isolated] == [value, value], page
        # The sentence's own words, brackets and numbers stay outside the isolates.
        assert re.sub(r"<bdi>.*?</bdi>", "V", page).count("V") == 2
    # Left-to-right values (Korean, emoji, Latin) are written as before: no element.
    for value in ("/rest/v1/질문", "🚀 라이브", "plain"):
        assert "<bdi>" not in narrative.escape(value) + narrative.code(value)


def test_invisible_characters_are_shown_and_joiners_kept():
    for invisible in ("\u200b", "\u2060", "\ufeff", "\u00ad", "\u3164", "\u115f", "\U000e0041"):
        assert narrative.escape(f"questions{invisible}") == "questions\ufffd", hex(ord(invisible))
    # Emoji sequences and Persian words need their joiners; bidi marks are letters' business.
    for kept in ("\U0001f469\u200d\U0001f4bb", "می\u200cخواهم", "\u2764\ufe0f"):
        shown = html.unescape(narrative.escape(kept))
        assert shown.removeprefix("<bdi>").removesuffix("</bdi>") == kept


def test_stacked_marks_are_shown_up_to_four_on_a_letter():
    zalgo = "Z" + "\u0301\u0316" * 20 + "algo"
    assert narrative.escape(zalgo) == "Z\u0301\u0316\u0301\u0316\ufffdalgo"
    # Vietnamese (two marks) and Hebrew with points (three) are written as they are.
    for word in ("Tie\u0302\u0301ng Vie\u0323\u0302t", "שָׁ\u05b0ם"):
        assert narrative.escape(word).removeprefix("<bdi>").removesuffix("</bdi>") == word


def test_a_long_value_is_cut_with_an_ellipsis_before_a_whole_character():
    limit = formatting.MAX_SHOWN
    assert narrative.code("x" * (limit + 300)) == f"<code>{'x' * limit}\u2026</code>"
    assert narrative.code("x" * limit) == f"<code>{'x' * limit}</code>"
    # A cut never splits an emoji sequence, a flag or a letter from its mark.
    for tail in ("\U0001f469\u200d\U0001f4bb", "\U0001f1f0\U0001f1f7", "e\u0301", "👍\U0001f3fd"):
        text = "a" * (limit - 1) + tail + "z" * 10
        cut = html.unescape(formatting.shown(text))
        assert cut.endswith("\u2026") and cut[:-1] in ("a" * (limit - 1), "a" * (limit - 1) + tail)
        assert len(cut) <= limit + 1


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian chromium")

# Where Chromium draws the sentence's "(" beside the value, and the value's letters.
_MEASURE = """() => {
  const code = document.querySelector('code');
  const letters = document.createRange();
  letters.selectNodeContents(code);
  const right = Math.max(...Array.from(letters.getClientRects(), r => r.right));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const at = node.textContent.indexOf('(23');
    if (at >= 0) {
      const bracket = document.createRange();
      bracket.setStart(node, at);
      bracket.setEnd(node, at + 1);
      return {bracket: bracket.getBoundingClientRect().left, value: right};
    }
  }
  return null;
}"""


async def _positions(page_html: str) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.set_content(page_html)
            return await page.evaluate(_MEASURE)
        finally:
            await browser.close()


@needs_chromium
def test_a_right_to_left_value_does_not_reorder_the_sentence_in_chromium():
    body = _render(f"errors on {narrative.code(HEBREW)} (23 %) of requests")
    where = asyncio.run(_positions(f"<!doctype html><html><body>{body}</body></html>"))
    # Without isolation the bracket and the share are drawn left of the Hebrew name.
    assert where is not None and where["bracket"] >= where["value"] - 0.5, where


def test_a_figure_draws_a_long_class_key_cut_and_keeps_its_width():
    """A class key names an endpoint a client may make thousands of characters long."""
    import io

    import pandas as pd
    from PIL import Image

    from analysis import plots

    plots.configure_plots("en")
    minutes = pd.date_range("2026-02-06T05:00:00Z", periods=30, freq="min", name="minute")

    def width(key: str) -> int:
        counts = pd.DataFrame({key: range(30), "23505:k": [1] * 30}, index=minutes)
        labels = {"title": "t", "time": "time", "count": "n", "empty": "-"}
        png = plots.figure_png(plots.plot_error_heatmap(counts, labels, "UTC"))
        return Image.open(io.BytesIO(png)).size[0]

    key = "http:404:rest/" + "\u00e9" + "x" * 2000
    assert plots.data_label(key) == key[: plots.MAX_LABEL] + "\u2026"
    assert plots.data_label("a\u202eb\nc") == "a\ufffdb c"
    assert width(key) == width(key[: plots.MAX_LABEL] + "\u2026")
    assert width(key) < 2 * width("http:404:rest/questions")


def test_a_long_annotation_label_leaves_its_note_on_the_page():
    from analysis.narrative import sections

    label = "label " + "x" * (formatting.MAX_SHOWN + 50)
    moment = {
        "kind": "annotation",
        "subject": label,
        "value": None,
        "description": f"{label}: the note marker",
        "at": "2026-02-06T05:01:05Z",
        "evidence": {"source": "annotations", "filter": "label == 'x'", "count": 1},
    }
    window = {"start": "2026-02-06T05:00:00Z", "end": "2026-02-06T06:00:00Z"}
    findings = {"report": {"display_tz": "Asia/Seoul", "window": window}, "timeline": [moment]}
    page = sections.render_timeline(findings, narrative.load_locale("en"))
    assert "the note marker" in page
    assert "x" * (formatting.MAX_SHOWN + 1) not in page  # the label itself is still cut
