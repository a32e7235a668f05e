"""Page one's ending and the title block's zone, on tiny findings documents."""

from __future__ import annotations

import html

from analysis import narrative
from analysis.narrative.overview import _surging_at_end
from analysis.narrative.sections import render_title


def _moment(at: str, kind: str, subject: str) -> dict:
    return {"at": at, "kind": kind, "subject": subject}


def test_only_a_class_whose_last_surge_has_no_end_is_still_surging():
    timeline = [
        # Listed out of time order: the ending is read by time.
        _moment("2026-01-01T00:50:00Z", "error_surge", "a"),
        _moment("2026-01-01T00:10:00Z", "error_surge", "a"),
        _moment("2026-01-01T00:12:00Z", "error_surge_end", "a"),
        _moment("2026-01-01T00:20:00Z", "error_surge", "b"),
        _moment("2026-01-01T00:25:00Z", "error_surge_end", "b"),
        _moment("2026-01-01T00:30:00Z", "first_error", "c"),
    ]
    assert _surging_at_end({"timeline": timeline}) == {"a"}
    assert _surging_at_end({"timeline": timeline[2:]}) == set()


def _findings(**report) -> dict:
    return {
        "report": {
            "incident": "i",
            "title": "t",
            "webinar_id": "7",
            "display_tz": "Asia/Seoul",
            "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
            **report,
        },
        "inputs": {"incident_dir": "d", "checksums": {}},
    }


def test_the_title_says_the_zone_is_the_default_only_when_nobody_chose_it():
    for lang, words in (("en", "the default display zone"), ("ko", "기본 표시 시간대")):
        text = narrative.load_locale(lang)
        chosen = html.unescape(render_title(_findings(), text))
        default = html.unescape(render_title(_findings(display_tz_default=True), text))
        assert words not in chosen
        (line,) = [x for x in default.splitlines() if words in x]
        assert "Asia/Seoul" in line and "KST" in line and "display_tz" in line, line


def test_causes_still_surging_at_the_window_s_end_share_one_sentence():
    """Two causes surging at the end: why the window's end is not theirs is said once.

    Before, page one repeated the whole still-surging sentence for each cause.
    """
    from analysis.narrative.overview import _tell_ends

    timeline = [
        _moment("2026-01-01T00:50:00Z", "error_surge", "cap"),
        _moment("2026-01-01T00:55:00Z", "error_surge", "bug"),
        _moment("2026-01-01T00:20:00Z", "error_surge", "flat"),
        _moment("2026-01-01T00:25:00Z", "error_surge_end", "flat"),
    ]
    ending = {
        "capacity": "2026-01-01T00:59:31Z",
        "traffic": "2026-01-01T00:59:58Z",
        "unrelated": "2026-01-01T00:30:05Z",
    }
    doc = {
        **_findings(),
        "timeline": timeline,
        "overview": {
            "causes": [
                {"kind": kind, "classes": [{"key": key}]}
                for kind, key in (("capacity", "cap"), ("traffic", "bug"), ("unrelated", "flat"))
            ],
            "ending": {"last_error_by_cause": ending},
        },
    }
    for lang, once in (("en", "a wider window"), ("ko", "더 넓은 구간")):
        text = narrative.load_locale(lang)
        told = " ".join(_tell_ends(doc, text, "Asia/Seoul", "KST"))
        assert told.count(once) == 1, told
        names = text["overview"]["cause_names"]
        for kind, at in (("capacity", "09:59:31"), ("traffic", "09:59:58")):
            said = text["overview"]["still_surging_cause"].format(cause=names[kind], at=at)
            assert said in told, told
        assert (
            text["overview"]["stopped"].format(cause=names["unrelated"], at="09:30:05", tz="KST")
            in told
        ), told
