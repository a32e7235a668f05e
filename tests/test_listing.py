"""reports/index.html: one escaped row per webinar, failures named, nothing loaded."""

from __future__ import annotations

import html
import json

from analysis import listing, narrative

HOSTILE = '<script>alert(1)</script> & "quotes"'


def findings(wid: str, title: str) -> dict:
    return {
        "report": {
            "webinar_id": wid,
            "title": title,
            "display_tz": "Asia/Seoul",
            "window": {"start": "2026-02-06T05:00:00Z", "end": "2026-02-06T06:00:00Z"},
        },
        "audience": {
            "peak": 311,
            "peak_ts": "2026-02-06T05:40:44Z",
            "unique_users": 141,
            "registrations": 176,
        },
        "error_classes": [
            {"key": "realtime:disconnect", "count": 48, "name": {"en": "Realtime disconnects"}},
            {"key": "23505:<b>", "count": 3, "name": {"en": HOSTILE}},
        ],
        "verdicts": [
            {"error_class": "realtime:disconnect", "verdict": "capacity"},
            {"error_class": "23505:<b>", "verdict": "unrelated", "measurement_caveat": True},
        ],
    }


def test_index_lists_each_webinar_escaped_and_links_its_report(tmp_path):
    a, b = "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
    for wid, title in ((a, HOSTILE), (b, "Second")):
        (tmp_path / wid).mkdir()
        (tmp_path / wid / "findings.json").write_text(json.dumps(findings(wid, title)))
    (tmp_path / a / "postmortem.html").write_text("x")
    text = narrative.load_locale("en")
    path = listing.write_listing(
        tmp_path,
        {a: tmp_path / a, b: tmp_path / b, "gone": tmp_path / "gone"},
        {"c": "cell 4: TimelineError <no samples>"},
        {"c": "Third & last"},
        text,
    )
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page and "Content-Security-Policy" in page
    assert page.index(b) < page.index(a)  # rows by webinar id
    assert f'href="{a}/postmortem.html"' in page and f'href="{b}/findings.json"' in page
    assert "2026-02-06 14:00–15:00 KST" in page and "311 (14:40)" in page
    assert "141 people, 176 registrations" in page
    assert "Realtime disconnects (<code>realtime:disconnect</code>, 48): capacity-driven" in page
    assert "(<code>23505:&lt;b&gt;</code>, 3): Undecided" in page
    assert "Third &amp; last" in page and "TimelineError &lt;no samples&gt;" in page
    assert "gone/findings.json: unreadable" in page  # a missing document is a failure row
    again = listing.write_listing(
        tmp_path, {a: tmp_path / a, b: tmp_path / b}, {}, {}, text
    ).read_bytes()
    assert (
        again
        == listing.write_listing(
            tmp_path, {b: tmp_path / b, a: tmp_path / a}, {}, {}, text
        ).read_bytes()
    )


def test_registrations_not_exported_read_as_such(tmp_path):
    wid = "00000000-0000-4000-8000-00000000000c"
    doc = findings(wid, "Shop")
    doc["audience"]["registrations"] = None
    (tmp_path / wid).mkdir()
    (tmp_path / wid / "findings.json").write_text(json.dumps(doc))
    for lang, said, unsaid in (
        ("en", "141 people, registrations not exported", "None"),
        ("ko", "참가자 141명, 등록은 내보내지 않음", "None"),
    ):
        text = narrative.load_locale(lang)
        page = listing.write_listing(tmp_path, {wid: tmp_path / wid}, {}, {}, text).read_text(
            encoding="utf-8"
        )
        assert said in page and unsaid not in page


def test_people_not_exported_read_as_unknown_not_zero(tmp_path):
    # snapshot_uploads (tests/_unseen_stack.py) exports no presence table: its row said
    # "- people, 287 registrations".
    wid = "00000000-0000-4000-8000-00000000000d"
    doc = findings(wid, "Uploads")
    doc["audience"].update(unique_users=None, registrations=287)
    (tmp_path / wid).mkdir()
    (tmp_path / wid / "findings.json").write_text(json.dumps(doc))
    for lang in ("en", "ko"):
        text = narrative.load_locale(lang)
        page = listing.write_listing(tmp_path, {wid: tmp_path / wid}, {}, {}, text).read_text(
            encoding="utf-8"
        )
        said = text["listing"]["people_value_no_presence"].format(registrations="287")
        assert html.escape(said) in page, page


def test_every_count_on_the_index_has_thousands_separators(tmp_path):
    # A big webinar's numbers as the reports print them: '12,345', in both languages.
    wid = "00000000-0000-4000-8000-00000000000d"
    doc = findings(wid, "Big")
    doc["audience"].update(peak=12345, unique_users=23456, registrations=34567)
    doc["error_classes"][0]["count"] = 45678
    (tmp_path / wid).mkdir()
    (tmp_path / wid / "findings.json").write_text(json.dumps(doc))
    for lang, people in (
        ("en", "23,456 people, 34,567 registrations"),
        ("ko", "참가자 23,456명, 등록 34,567건"),
    ):
        text = narrative.load_locale(lang)
        page = listing.write_listing(tmp_path, {wid: tmp_path / wid}, {}, {}, text).read_text(
            encoding="utf-8"
        )
        assert people in page and "12,345 (14:40)" in page
        assert "(<code>realtime:disconnect</code>, 45,678)" in page
        for raw in ("12345", "23456", "34567", "45678"):
            assert raw not in page, (lang, raw)


def test_the_index_says_which_zone_its_times_are_in_and_where_it_came_from(tmp_path):
    wid = "00000000-0000-4000-8000-00000000000e"
    doc = findings(wid, "Zoned")
    doc["report"]["display_tz"] = "America/Denver"
    (tmp_path / wid).mkdir()
    for default in (False, True):
        doc["report"]["display_tz_default"] = default
        (tmp_path / wid / "findings.json").write_text(json.dumps(doc))
        for lang in ("en", "ko"):
            text = narrative.load_locale(lang)
            t = text["listing"]
            page = listing.write_listing(tmp_path, {wid: tmp_path / wid}, {}, {}, text)
            page = html.unescape(page.read_text(encoding="utf-8"))
            said = t["zone_default" if default else "zone_incident"].format(zone="America/Denver")
            other = t["zone_incident" if default else "zone_default"].split("}")[1]
            assert f"<p>{said}</p>" in page and other not in page, page
            assert "22:00–23:00 MST" in page and "311 (22:40)" in page  # in that zone
