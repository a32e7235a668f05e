"""The printed page's layout: a long page one starts on page one (Chromium, pdftotext)."""

from __future__ import annotations

import re
import shutil
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from analysis import report
from analysis.narrative import PAGE_BREAK, PAGE_ONE_MARKER

pytestmark = pytest.mark.skipif(
    report.find_chromium() is None or shutil.which("pdftotext") is None,
    reason=report.SYSTEM_PACKAGES_HINT,
)


def _markdown_cell(text: str):
    cell = new_code_cell("")
    cell.outputs = [new_output("display_data", data={"text/markdown": text})]
    return cell


def _pages(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [re.sub(r"\s+", " ", page) for page in text.split("\f")]


def test_a_summary_taller_than_page_one_starts_on_page_one(tmp_path):
    header = "# Postmortem\n\n" + "\n".join(f"- **Field {i}**: value {i}" for i in range(12))
    paragraphs = "\n\n".join(f"Paragraph {i} of the summary. " * 6 for i in range(40))
    summary = f"## Summary\n{PAGE_ONE_MARKER}\n\n{paragraphs}\n\n{PAGE_BREAK}"
    nb = new_notebook(cells=[_markdown_cell(header), _markdown_cell(summary)])
    nb.cells.append(_markdown_cell("## Claims checked"))
    nb = nbformat.from_dict(nb)
    html = report.export_html(nb, "en")
    pages = _pages(report.export_pdf(nb, "en", report.find_chromium(), html=html), tmp_path)
    assert "Summary" in pages[0] and "Paragraph 0 of the summary" in pages[0]
    assert "Paragraph 39" not in pages[0]  # it goes on over the next page
    assert "Claims checked" not in pages[0]
    last = next(i for i, page in enumerate(pages) if "Paragraph 39" in page)
    assert "Claims checked" not in pages[last]  # the summary's own page break still holds


def _boxes(pdf: bytes, tmp_path) -> str:
    """pdftotext's XHTML of the PDF: every word with its box, page by page."""
    path = tmp_path / "boxes.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _words_past_the_right_edge(pdf: bytes, tmp_path) -> list[str]:
    """The words pdftotext finds right of the page's printable width (its right margin)."""
    import html as html_module

    boxes = _boxes(pdf, tmp_path)
    page_width = float(re.search(r'<page width="([\d.]+)"', boxes).group(1))
    edge = page_width - 12 / 25.4 * 72 + 1  # the @page margin, 12 mm, plus a point of slack
    return [
        html_module.unescape(m.group(2))
        for m in re.finditer(
            r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<', boxes
        )
        if float(m.group(1)) > edge
    ]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_capacity_plan_fits_the_printed_page(small_analysis, tmp_path, lang):
    from analysis import narrative

    doc = small_analysis.findings
    assert doc["capacity_plan"]["available"], doc["capacity_plan"]
    section = narrative.SECTIONS["capacity_plan"](doc, narrative.load_locale(lang))
    nb = nbformat.from_dict(new_notebook(cells=[_markdown_cell(section)]))
    html = report.export_html(nb, lang)
    pdf = report.export_pdf(nb, lang, report.find_chromium(), html=html)
    assert _words_past_the_right_edge(pdf, tmp_path) == []
    text = " ".join(_pages(pdf, tmp_path))
    headers = narrative.load_locale(lang)["capacity_plan"]
    assert headers["breaches"] in text and headers["next_header"] in text


def _page_fill(pdf: bytes, tmp_path) -> list[float]:
    """How far down each page its lowest word reaches, as a share of the page's height."""
    boxes = _boxes(pdf, tmp_path)
    fills = []
    for page in re.findall(r"<page [^>]*>.*?</page>", boxes, re.S):
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        bottoms = [float(y) for y in re.findall(r'yMax="([\d.]+)"', page)]
        fills.append(max(bottoms, default=0.0) / height)
    return fills


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_root_causes_fill_their_pages(small_analysis, tmp_path, lang):
    # Each class's row was kept whole on a page: a row taller than what a page had left moved
    # to the next, and the shipped incident's seven classes took eight pages, most half empty.
    from analysis import narrative

    section = narrative.SECTIONS["causes"](small_analysis.findings, narrative.load_locale(lang))
    nb = nbformat.from_dict(new_notebook(cells=[_markdown_cell(section)]))
    pdf = report.export_pdf(nb, lang, report.find_chromium(), html=report.export_html(nb, lang))
    fills = _page_fill(pdf, tmp_path)
    assert len(fills) > 1, fills  # the fixture's section runs over a page
    assert all(fill > 0.8 for fill in fills[:-1]), fills


def _has_emoji_font() -> bool:
    """Whether fontconfig has a font with the rocket (U+1F680): Debian fonts-noto-color-emoji."""
    found = subprocess.run(
        ["fc-list", ":charset=1f680", "family"], capture_output=True, text=True, check=False
    )
    return bool(found.stdout.strip())


def _coloured_pixels(pdf: bytes, directory) -> int:
    """Pixels of the first page (at 50 dpi) that are clearly coloured, not black, grey or white.

    The report's text, rules and tables are black and grey: colour on such a page is a colour
    emoji; an emoji without a font prints as an empty (black) box.
    """
    import numpy as np
    from PIL import Image

    directory.mkdir()
    path = directory / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(directory / "p")],
        check=True,
    )
    pixels = np.asarray(Image.open(next(directory.glob("p*.png"))).convert("RGB"), dtype=int)
    return int(((pixels.max(axis=-1) - pixels.min(axis=-1)) > 60).sum())


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("fc-list") is None or not _has_emoji_font(),
    reason="needs Debian poppler-utils and fonts-noto-color-emoji (install-system-deps.sh)",
)
def test_emoji_from_the_data_print_in_colour_not_as_boxes(tmp_path):
    # A title, a note and a message from the data: emoji printed as empty boxes before.
    nb = nbformat.from_dict(
        new_notebook(cells=[_markdown_cell("# 🚀 출시 launch\n\n- 🔥 Incident declared 🙏")])
    )
    pdf = report.export_pdf(nb, "ko", report.find_chromium(), html=report.export_html(nb, "ko"))
    assert _coloured_pixels(pdf, tmp_path / "emoji") > 50
    text = " ".join(_pages(pdf, tmp_path))
    assert "🚀" in text and "🔥" in text and "출시" in text
    # The same page without emoji has no colour at all: the count measures the emoji.
    plain = nbformat.from_dict(new_notebook(cells=[_markdown_cell("# 출시 launch\n\n- note")]))
    html = report.export_html(plain, "ko")
    pdf = report.export_pdf(plain, "ko", report.find_chromium(), html=html)
    assert _coloured_pixels(pdf, tmp_path / "plain") == 0


def test_two_printings_of_one_page_are_byte_identical(tmp_path):
    # The PDF carries SOURCE_DATE_EPOCH's time (here the epoch itself), not the printing's.
    nb = nbformat.from_dict(new_notebook(cells=[_markdown_cell("# Postmortem\n\nSame bytes.")]))
    html = report.export_html(nb, "en")
    first, second = (report.export_pdf(nb, "en", report.find_chromium(), html=html) for _ in "ab")
    assert first == second
    assert b"/CreationDate (D:19700101000000+00'00')" in first
