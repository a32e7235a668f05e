"""Hostile data through the whole report: nothing from the data runs, loads, or becomes an element.

The shipped incident is copied with a payload planted in every text field that reaches the
report (tests/_hostile_data.py); the report is made (HTML and PDF) and opened in headless
Chromium with scripts on. The page must run no script, make no request, hold no element that
came from the data, and show each planted value as the text it is. The same holds with the
page's Content-Security-Policy removed, so the escaping holds on its own. The PDF printer is
checked separately on a page that asks for a local file and a local server.
"""

from __future__ import annotations

import asyncio
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from _hostile_data import EVIL_HOST, LOCAL_SECRET_TEXT, PAYLOADS, SECRETS, build_hostile_incident

from analysis import pipeline, report
from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID
from analysis.params import build_params

pytestmark = pytest.mark.notebook

#: Fields whose value the report shows today (the others must still never become markup).
SHOWN = (
    "title",
    "annotation_label",
    "annotation_note",
    "untimed_label",
    "pg_constraint",
    "log_type",
)
# File names are no longer shown: the report gives one digest of the input manifest and
# findings.json keeps the per-file list (checked below).
CHROMIUM = report.find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian chromium")

PROBE = """
window.__pwned = [];
window.pwned = (f) => window.__pwned.push('script:' + f);
document.addEventListener('securitypolicyviolation',
    (e) => window.__pwned.push('csp:' + e.violatedDirective + ':' + e.blockedURI));
"""

# Everything in the page that could run, load or navigate, and is not one of the report's
# own embedded figures or in-page anchors.
FOREIGN = """
() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) bad.push(tag + ' ' + a.name);
      // Headings get an id (and their anchor a '#' link) made from their text: inert.
      const inert = a.name === 'id' || (a.name === 'href' && a.value.startsWith('#'));
      if (!inert && /pwned|evil\\.invalid|javascript:|file:/i.test(a.value))
        bad.push(tag + ' ' + a.name + '=' + a.value);
    }
    if (['script', 'iframe', 'frame', 'object', 'embed', 'base', 'form', 'svg', 'video',
         'audio', 'source', 'link', 'input', 'button'].includes(tag)) bad.push(tag);
    if (tag === 'img' && !el.getAttribute('src').startsWith('data:image/png;base64,'))
      bad.push('img ' + el.getAttribute('src'));
    if (tag === 'a' && !(el.getAttribute('href') || '').startsWith('#'))
      bad.push('a ' + el.getAttribute('href'));
  }
  return bad;
}
"""


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    """The hostile incident's report of the main webinar (HTML, and PDF when Chromium exists)."""
    if not (DEFAULT_INCIDENT_DIR / "incident.json").exists():
        pytest.skip("shipped incident not generated (make data)")
    data = build_hostile_incident(tmp_path_factory.mktemp("hostile") / "incident")
    out = tmp_path_factory.mktemp("hostile-report") / "report"
    formats = "html,pdf" if CHROMIUM else "html"
    params = build_params(DEFAULT_WEBINAR_ID, data, formats=formats, output_dir=out)
    # Caches of its own, so every cache file the run reads or writes can be searched.
    saved = os.environ.get(pipeline.ENV_CACHE_DIR)
    os.environ[pipeline.ENV_CACHE_DIR] = str(out.parent / "cache")
    try:
        report.run_report(params, progress=False)
    finally:
        if saved is None:
            os.environ.pop(pipeline.ENV_CACHE_DIR)
        else:
            os.environ[pipeline.ENV_CACHE_DIR] = saved
    return out


async def _open(html: Path) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            await page.add_init_script(PROBE)
            await page.goto(html.as_uri(), wait_until="load")
            await page.wait_for_timeout(300)
            return {
                "pwned": await page.evaluate("window.__pwned"),
                "requests": [u for u in requests if u != html.as_uri()],
                "foreign": await page.evaluate(FOREIGN),
                "text": " ".join((await page.evaluate("document.body.innerText")).split()),
                "codes": await page.evaluate(
                    "Array.from(document.querySelectorAll('code'), c => c.textContent)"
                ),
            }
        finally:
            await browser.close()


def _check_page(html: Path) -> None:
    seen = asyncio.run(_open(html))
    assert seen["pwned"] == []
    assert seen["requests"] == []
    assert seen["foreign"] == []
    for field in SHOWN:
        assert " ".join(PAYLOADS[field].split()) in seen["text"], field
    assert EVIL_HOST in seen["text"]  # the links' text is there, as text
    # Data shown as code is inside its code element (a class key built from the constraint).
    assert all(c.strip() for c in seen["codes"])
    assert any(" ".join(PAYLOADS["pg_constraint"].split()) in c for c in seen["codes"])


@needs_chromium
def test_hostile_values_stay_text_in_the_page(hostile_report):
    _check_page(hostile_report / "postmortem.html")


@needs_chromium
def test_escaping_alone_keeps_them_text(hostile_report, tmp_path):
    page = (hostile_report / "postmortem.html").read_text(encoding="utf-8")
    without_policy, n = re.subn(r"<meta[^>]*Content-Security-Policy[^>]*>", "", page)
    assert n == 1
    target = tmp_path / "postmortem.html"
    target.write_text(without_policy, encoding="utf-8")
    _check_page(target)


@needs_chromium
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")
def test_pdf_shows_the_values_as_text(hostile_report):
    text = subprocess.run(
        ["pdftotext", "-layout", str(hostile_report / "postmortem.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pwned('title')" in " ".join(text.split())
    if shutil.which("pdfimages"):
        # The embedded figures still print: only foreign requests are refused.
        listing = subprocess.run(
            ["pdfimages", "-list", str(hostile_report / "postmortem.pdf")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert len(listing.splitlines()) - 2 >= len(list((hostile_report / "figures").iterdir()))


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        _Counter.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"REMOTE-CONTENT-MUST-NOT-BE-PRINTED")

    def log_message(self, *args):
        pass


@needs_chromium
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")
def test_pdf_printer_prints_only_the_report(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(LOCAL_SECRET_TEXT, encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    remote = f"http://127.0.0.1:{server.server_port}"
    try:
        page = (
            "<html><head><meta charset='utf-8'>"
            f"<link rel='stylesheet' href='{remote}/style.css'></head><body>"
            "<p>REPORT-BODY</p>"
            f"<iframe src='{secret.as_uri()}'></iframe>"
            f"<iframe src='{remote}/frame'></iframe>"
            f"<object data='{secret.as_uri()}'></object>"
            f"<img src='{remote}/pixel.png'>"
            f"<script>document.body.append('SCRIPT-RAN')</script>"
            "</body></html>"
        )
        pdf = report.DebianWebPDFExporter(executable_path=CHROMIUM).run_playwright(page)
    finally:
        server.shutdown()
    out = tmp_path / "page.pdf"
    out.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "REPORT-BODY" in text
    assert LOCAL_SECRET_TEXT not in text
    assert "REMOTE-CONTENT" not in text and "SCRIPT-RAN" not in text
    assert _Counter.hits == []


def _needles() -> dict[str, list[str]]:
    """Each planted secret, with the parts that would still give it away."""
    out = {name: [value] for name, value in SECRETS.items()}
    out["double_encoded_email"] += ["alice.kim"]
    out["korean_email"] += ["홍길동"]
    out["idn_email"] += ["bücher", "bob@"]
    out["jwt_encoded_dots"] += ["eyJhbGciOiJIUzI1NiJ9", "dozjgnlmsdf4wjjAB3cd"]
    out["google_key"] += [SECRETS["google_key"][4:20]]
    out["openai_key"] += [SECRETS["openai_key"][8:24]]
    out["slack_key"] += [SECRETS["slack_key"][5:20]]
    out["pkce_code"] += ["pkce-code"]
    for name in ("phone_detail", "phone_title", "phone_annotation"):
        out[name] += [re.sub(r"\D", "", SECRETS[name])]
    return out


def _texts(path: Path) -> list[str]:
    """Every way a file's content can be read: raw, HTML- and JSON-decoded, PDF text, cells."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return [" ".join(str(v) for v in col.to_pylist()) for col in table.columns]
    if path.suffix == ".pdf":
        if shutil.which("pdftotext") is None:
            return []
        text = subprocess.run(
            ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        return [text, "".join(text.split())]
    raw = path.read_bytes().decode("utf-8", errors="replace")
    texts = [raw, html.unescape(raw)]
    if path.suffix in (".json", ".ipynb"):
        texts.append(json.dumps(json.loads(raw), ensure_ascii=False))
    return texts


def test_no_planted_secret_in_any_output_or_cache_file(hostile_report):
    files = [p for p in hostile_report.rglob("*") if p.is_file()]
    files += [p for p in (hostile_report.parent / "cache").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files), "the ingest cache was not written"
    assert any(p.parent.name == "stats" for p in files), "the statistics cache was not written"
    found = []
    for path in files:
        texts = _texts(path)
        for name, needles in _needles().items():
            found += [
                (path.name, name, n) for n in needles if any(n.lower() in t.lower() for t in texts)
            ]
    assert found == []
    page = (hostile_report / "postmortem.html").read_text(encoding="utf-8")
    assert "[phone]" in html.unescape(page)  # the title's phone was there, and is gone


def test_file_names_stay_in_findings_only(hostile_report):
    found = json.loads((hostile_report / "findings.json").read_text(encoding="utf-8"))
    assert any(PAYLOADS["file_name"] in name for name in found["inputs"]["checksums"])
    page = (hostile_report / "postmortem.html").read_text(encoding="utf-8")
    assert "pwned('file_name')" not in page


async def _typeset_in_jupyterlab(notebook: Path, port: int) -> list[str]:
    """Open ``notebook`` in JupyterLab (the venv's) and return what MathJax typeset."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            url = f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token=qa"
            for _ in range(60):  # the server takes a few seconds to listen
                try:
                    await page.goto(url, wait_until="load")
                    break
                except Exception:  # noqa: BLE001 - connection refused until it listens
                    await asyncio.sleep(1)
            await page.wait_for_selector(".jp-OutputArea-output p", timeout=90_000)
            await page.wait_for_timeout(5_000)  # MathJax typesets after the render
            return await page.evaluate(
                "Array.from(document.querySelectorAll('.jp-OutputArea-output mjx-container'),"
                " m => m.parentElement.textContent)"
            )
        finally:
            await browser.close()


@pytest.mark.slow
@needs_chromium
def test_jupyterlab_typesets_no_value_as_maths(tmp_path):
    # The executed notebook's Markdown outputs, opened in JupyterLab (make lab), go through
    # MathJax: a value's $...$, \(...\) or \begin{...} must stay text (docs/report-safety.md).
    import socket
    import sys

    import nbformat

    from analysis import narrative

    values = [r"$\frac{a}{b}$", r"\(x^2\)", r"$$z$$", r"\[w\]", r"\begin{align}y\end{align}"]
    markdown = f"# {narrative.escape(values[0])}\n\n" + "\n\n".join(
        f"{narrative.escape(v)} and {narrative.code(v)}" for v in values
    )
    markdown += "\n\n" + narrative.table(["v"], [(narrative.escape(v),) for v in values])
    control = "$\\frac{c}{d}$"  # written by hand, not from data: MathJax must typeset it
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": markdown}),
        nbformat.v4.new_output("display_data", data={"text/markdown": control}),
    ]
    notebook = tmp_path / "values.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), notebook)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.token=qa", f"--ServerApp.root_dir={tmp_path}", "--allow-root",
         "--LabApp.news_url="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")},
    )  # fmt: skip
    try:
        typeset = asyncio.run(_typeset_in_jupyterlab(notebook, port))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(typeset) == 1, typeset  # the hand-written control only
