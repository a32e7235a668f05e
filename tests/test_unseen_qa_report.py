"""``make report`` (HTML) on an incident from tests/_unseen_qa.py: ClickHouse pages everywhere,
reordered table columns with an extra one, and hostile text in the title, annotations, a
constraint name, user agents and a Realtime message.

One report, built once for the module (HTML only, English); every test reads it.
"""

from __future__ import annotations

import html as htmlmod
import json
import re

import _unseen_qa as qa
import pytest

from analysis import listing, narrative, report
from analysis._util import PAGE_CONTROLS, page_text
from analysis.narrative import escape
from analysis.params import build_params

CASE = "hostile_clickhouse"
#: Identifiers only the shipped EventLive incident has.
SHIPPED_ONLY = ("registrations_pkey", "marketing_stats", "rest/registrations", "42703", "22P02")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa_report")
    directory = qa.write_incident(root / CASE, CASE)
    out = root / "out"
    params = build_params(
        qa.truth(CASE)["webinar_id"], directory, output_dir=out, formats="html", lang="en"
    )
    report.run_report(params, progress=False)
    page = next(out.rglob("postmortem.html")).read_text(encoding="utf-8")
    findings = next(out.rglob("findings.json")).read_text(encoding="utf-8")
    return directory, page, findings


def _visible(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return htmlmod.unescape(page)


def test_no_control_or_bidi_character_from_the_data_reaches_the_page(built):
    _, page, _ = built
    kept = {ord("\n"), ord("\r"), ord("\t")}
    found = sorted(
        {hex(ord(ch)) for ch in page if ord(ch) in PAGE_CONTROLS and ord(ch) not in kept}
    )
    assert found == []
    title = re.search(r"<title>(.*?)</title>", page, flags=re.S).group(1)
    assert "\ufffd" in title and "&lt;script&gt;" in title


def test_markup_from_the_data_stays_text(built):
    _, page, _ = built
    for planted in ("<script>alert(1)", "<img src=x", "<svg onload", "<b>len</b>", "<i>live</i>"):
        assert planted not in page
    visible = _visible(page)
    # ... and reads as written (the constraint name, the Realtime message's payload).
    assert "answers_<b>len</b>_check" in visible
    assert "[x](http://evil.example)" in visible


def test_nothing_private_reaches_the_page_or_the_findings(built):
    directory, page, findings = built
    users = qa.truth(CASE)["users"]
    for text in (page, findings):
        assert not [u for u in users if u in text]
        for private in ("203.0.113.", "example.com", "example.net", "415 555 0100", "10.1.2.3"):
            assert private not in text


def test_no_word_of_the_shipped_incident(built):
    _, page, findings = built
    assert [w for w in SHIPPED_ONLY if w in page or w in findings] == []


def test_every_input_row_is_accounted_for_in_the_findings(built):
    directory, page, findings = built
    inputs = json.loads(findings)["inputs"]
    rows = inputs["accounting"]
    assert rows and all(r["read"] == r["accepted"] + r["rejected"] for r in rows)
    files = {r["file"] for r in rows}
    assert {p.relative_to(directory).as_posix() for p in directory.rglob("*.gz")} <= files
    assert "tables/webinars.csv" in files


def test_page_text_and_escape_show_controls_as_replacement_characters():
    assert page_text("a\x1b[31m\u202eb\n\tc") == "a\ufffd[31m\ufffdb c"
    assert escape("x\u2066y\u202dz") == "x\ufffdy\ufffdz"


def test_the_index_of_the_webinars_shows_controls_as_replacement_characters(tmp_path):
    wid = "00000000-0000-4000-8000-00000000000c"
    (tmp_path / wid).mkdir()
    title = "Launch \x1b[31m\u202eevil"
    doc = {
        "report": {
            "webinar_id": wid,
            "title": title,
            "display_tz": "UTC",
            "window": {"start": "2026-06-01T08:00:00Z", "end": "2026-06-01T08:30:00Z"},
        },
        "audience": {"peak": 3, "peak_ts": None, "unique_users": 3, "registrations": 3},
        "error_classes": [],
        "verdicts": [],
    }
    (tmp_path / wid / "findings.json").write_text(json.dumps(doc))
    text = narrative.load_locale("en")
    page = listing.write_listing(
        tmp_path, {wid: tmp_path / wid}, {"x": "cell 9 \u2066failed"}, {"x": title}, text
    ).read_text(encoding="utf-8")
    assert not {hex(ord(ch)) for ch in page if ord(ch) in PAGE_CONTROLS} - {"0xa"}
    assert "Launch \ufffd[31m\ufffdevil" in page


@pytest.mark.parametrize(
    ("tz", "start", "end", "label"),
    [
        # Europe/London turns from GMT to BST at 01:00 UTC on 2026-03-29.
        ("Europe/London", "2026-03-29T00:40:00Z", "2026-03-29T01:30:00Z", "Europe/London"),
        ("Europe/London", "2026-03-29T01:40:00Z", "2026-03-29T02:30:00Z", "BST"),
        ("Asia/Seoul", "2026-02-06T05:00:00Z", "2026-02-06T06:00:00Z", "KST"),
        ("Asia/Kathmandu", "2026-02-06T05:00:00Z", "2026-02-06T06:00:00Z", "Asia/Kathmandu"),
    ],
)
def test_a_window_across_a_daylight_saving_change_is_labelled_by_its_zone(tz, start, end, label):
    assert narrative.zone_name(tz, start, end) == label
    doc = {
        "report": {
            "webinar_id": "w",
            "title": "t",
            "display_tz": tz,
            "window": {"start": start, "end": end},
        },
        "audience": {},
        "error_classes": [],
        "verdicts": [],
    }
    window = listing.summarize_row(doc, "en")["window"]
    assert window.endswith(" " + label)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_action_whose_table_the_data_does_not_name_reads_without_a_gap(lang):
    text = narrative.load_locale(lang)
    item = {
        "key": "deadlock",
        "source": "catalogue",
        "fields": {"class": "40P01", "table": "", "column": "", "endpoints": ""},
    }
    wording = narrative.action_text(item, text, lang)
    # The only dash left is the template's own separator before the class.
    assert wording.count("—") == text["actions"]["catalogue"]["deadlock"].count("—")
    assert text["actions"]["unknown"]["table"] in wording
