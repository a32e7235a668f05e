"""The files that travel with a report show in an editor as they read (docs/report-safety.md).

``findings.json`` and the executed notebook are JSON written as UTF-8 text. A value holding a
bidi control (U+202E reverses what follows it), a C1 control (U+009B starts a terminal's
escape sequence) or an invisible character would be stored raw, and an editor, a terminal
(``cat``, ``git diff``) or a code host's viewer would show the file in another order than it
holds. Both are written with such characters as ``\\u`` escapes: the same JSON, visible.
"""

from __future__ import annotations

import json
import re

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from analysis import findings as findings_module
from analysis._util import visible_json
from analysis.params import ReportParams
from analysis.record_paths import publish_record

# A right-to-left override and isolate, a C1 CSI, a zero-width space, a tag letter, a line
# separator, a right-to-left mark: every kind of character a viewer acts on.
HIDDEN = "\u202e\u2067\u009b\u200b\U000e0041\u2028\u200f"
HIDDEN_RE = re.compile(f"[{HIDDEN}]")
VALUE = f"Launch {HIDDEN[0]}evil \\{HIDDEN[0]} 한국어 שלום 🚀\u200d{HIDDEN[1:]}"


def test_findings_json_escapes_what_a_viewer_acts_on_and_reads_the_same():
    document = {"report": {"title": VALUE}, "notes": [VALUE, "plain"], "n": 1}
    text = findings_module.dump_findings(document)
    assert HIDDEN_RE.search(text) is None, text
    assert json.loads(text) == document
    # Text in any script, emoji and their joiners stay as they are written.
    assert "한국어 שלום 🚀\u200d" in text
    # Nothing else changes: without such characters the bytes are json.dumps' own.
    plain = {"report": {"title": '한국어 🚀 \\ "x"'}}
    assert (
        findings_module.dump_findings(plain)
        == json.dumps(plain, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    )


def test_the_published_record_escapes_what_a_viewer_acts_on(tmp_path):
    stage = tmp_path / ".w1.staging-x"
    stage.mkdir()
    params = ReportParams(
        webinar_id="w1", data_dir=tmp_path / "incident", output_dir=tmp_path / "w1"
    )
    # A stage cell's DataFrame shows a moment's description as text and as HTML.
    output = new_output(
        "execute_result",
        data={"text/plain": f"0  {VALUE}", "text/html": f"<td>{VALUE}</td>"},
        execution_count=1,
    )
    nb = new_notebook(cells=[new_code_cell("timeline.moments", outputs=[output])])
    record = stage / "postmortem.ipynb"
    nbformat.write(nb, record)
    assert HIDDEN_RE.search(record.read_text(encoding="utf-8"))  # as papermill writes it

    publish_record(record, params, stage)

    text = record.read_text(encoding="utf-8")
    assert HIDDEN_RE.search(text) is None
    shown = nbformat.reads(text, as_version=4).cells[0].outputs[0].data
    assert shown["text/plain"] == f"0  {VALUE}" and shown["text/html"] == f"<td>{VALUE}</td>"


def test_visible_json_writes_astral_characters_as_surrogate_pairs():
    assert visible_json('"\U000e0041"') == '"\\udb40\\udc41"'
    assert json.loads(visible_json(json.dumps(HIDDEN, ensure_ascii=False))) == HIDDEN
