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
