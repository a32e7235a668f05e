"""``python tests/_fake_report.py OUT TAG [PAUSE]``: run_report with a fast stand-in notebook.

The real publication path of :func:`analysis.report.run_report` (staging, export, publish)
with the notebook execution and exports replaced by stand-ins that write the same files, each
holding ``TAG``, with ``PAUSE`` seconds between writes, so a test can kill a run at any point
cheaply and then tell which run a directory's files came from.
"""

from __future__ import annotations

import sys
import time

import nbformat

from analysis import report
from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID
from analysis.params import build_params

#: Every file one complete run publishes.
FILES = (
    "postmortem.ipynb",
    "findings.json",
    "figures/a.png",
    "figures/b.png",
    "postmortem.html",
    "postmortem.pdf",
)


def install(tag: str, pause: float) -> None:
    """Replace the notebook and the exports of :mod:`analysis.report` by tagged stand-ins."""

    def execute(params, *, progress=True, failed_record=None, **_):
        target = params.output_dir / "postmortem.ipynb"
        nb = nbformat.v4.new_notebook(metadata={"tag": tag})
        nbformat.write(nb, target)
        time.sleep(pause)
        (params.output_dir / "figures").mkdir()
        for name in ("a", "b"):
            (params.output_dir / "figures" / f"{name}.png").write_text(tag)
            time.sleep(pause)
        (params.output_dir / "findings.json").write_text(f'{{"report": {{"title": "{tag}"}}}}')
        time.sleep(pause)
        return target

    def export_html(nb, lang):
        time.sleep(pause)
        return nb.metadata.tag

    def export_pdf(nb, lang, chromium, **_):
        time.sleep(pause)
        return nb.metadata.tag.encode()

    report.execute_notebook = execute
    report.export_html = export_html
    report.export_pdf = export_pdf
    report.find_chromium = lambda: "/bin/true"
    report.has_report_font = lambda lang: True


def main(out: str, tag: str, pause: float) -> None:
    """Run one report into ``out`` whose every file holds ``tag``."""
    install(tag, pause)
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=out)
    # Imports are done: a test times its kill from here.
    print("started", flush=True)
    report.run_report(params, progress=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
