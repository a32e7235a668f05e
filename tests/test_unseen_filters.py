"""Filters shown as evidence read back as the values they name, whatever the data holds.

A filter ("constraint == 'answers_pkey'", "file == 'edge_logs/page-0001.json.gz'") tells the
reader which rows a figure counts. Its values come from the data: a file name, an annotation's
label, a constraint or an endpoint may hold a quote or a backslash. Every text literal is
quoted one way (``vocabulary.quote_literal``), so a reader (or a program) recovers each value
exactly, and no literal ends early.
"""

from __future__ import annotations

import re
import shutil

import _unseen_mech as mech
import pytest

from analysis import narrative, pipeline
from analysis.ingest import load_incident
from analysis.narrative.display import SECTIONS
from analysis.params import build_params
from analysis.vocabulary import (
    db_class_filter,
    http_class_filter,
    quote_list,
    quote_literal,
    realtime_class_filter,
)

#: A single-quoted literal with backslash escapes.
LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
NASTY = ("o'brien", "back\\slash", "both \\' mixed", "'", "\\", "<b>x</b> | `y`", "")


def read_literals(text: str) -> list[str]:
    """The values of ``text``'s literals; fails when a quote is left outside any literal."""
    rest = LITERAL.sub("", text)
    assert "'" not in rest, text
    return [re.sub(r"\\(.)", r"\1", m.group(1)) for m in LITERAL.finditer(text)]


@pytest.mark.parametrize("value", NASTY)
def test_a_literal_reads_back_as_its_value(value):
    assert read_literals(quote_literal(value)) == [value]
    assert read_literals(quote_list([value, "plain"])) == [value, "plain"]


def test_class_filters_quote_constraints_endpoints_and_families_one_way():
    assert read_literals(db_class_filter("23505", "a'b\\c")) == ["23505", "a'b\\c"]
    assert read_literals(http_class_filter(404, ["rest/o'x"])) == ["rest/o'x"]
    assert read_literals(http_class_filter(503, ["rest/a", "rest/b'"])) == ["rest/a", "rest/b'"]
    assert read_literals(realtime_class_filter("it's")) == ["it's"]
    # Plain values read as they always did.
    assert db_class_filter("57014", None) == "sql_state == '57014' and constraint is null"
    assert http_class_filter(429, ["auth/token"]) == "status == 429 and endpoint == 'auth/token'"


def _filters(node, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "filter" and isinstance(value, str):
                out.append(value)
            else:
                _filters(value, out)
    elif isinstance(node, list):
        for value in node:
            _filters(value, out)
    return out


@pytest.fixture(scope="module")
def quoted_findings(tmp_path_factory):
    # The hostile case, with a re-downloaded page and an annotation whose names carry quotes.
    root = tmp_path_factory.mktemp("quotes")
    directory = mech.write_incident(root / "data", "hostile_paths")
    page = directory / "edge_logs" / "page-0001.json.gz"
    shutil.copy(page, directory / "edge_logs" / "page-0001 'copy'.json.gz")
    (directory / "annotations.csv").write_text(
        "time_utc,label,note\r\n2026-09-01T12:10:00Z,Ops' note \\ <b>x</b>,it's \"quoted\"\r\n",
        encoding="utf-8",
    )
    truth = mech.truth("hostile_paths")
    incident = load_incident(directory, cache_dir=root / "cache", progress=False)
    params = build_params(
        truth["webinar_id"], directory, display_tz="Asia/Kolkata", lang="en", output_dir=root / "o"
    )
    settings = pipeline.Settings(cache_dir=root / "stats", workers=1)
    return pipeline.analyse(incident, params, settings).findings


def test_every_filter_of_the_findings_reads_back_its_values(quoted_findings):
    filters = _filters(quoted_findings, [])
    values = [v for f in filters for v in read_literals(f)]
    # The planted names come back whole: the label's (quote, backslash, markup), the paths'.
    assert "Ops' note \\ <b>x</b>" in values
    assert "rest/<img src=x onerror=alert(1)>" in values


def test_the_report_shows_each_filter_as_one_code_element(quoted_findings):
    for lang in ("en", "ko"):
        page = "\n".join(
            render(quoted_findings, narrative.load_locale(lang)) for render in SECTIONS.values()
        )
        label = next(f for f in _filters(quoted_findings, []) if f.startswith("label == "))
        assert narrative.code(label) in page
        assert "<b>x</b>" not in page
