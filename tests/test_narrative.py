"""The report's text rendered from the small fixture incident's findings, in every language.

Fast unit layer: the sections are rendered straight from the findings document (conftest.py),
without a notebook; the notebook test (test_report.py) checks the assembled page.
"""

from __future__ import annotations

import copy
import html
import re

import pandas as pd
import pytest

from analysis import narrative
from analysis.languages import available_languages

HEADED = ("summary", "impact", "timeline", "causes", "audit", "detection", "actions", "appendix")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def doc(small_analysis) -> dict:
    return small_analysis.findings


@pytest.mark.parametrize("lang", available_languages())
def test_every_section_renders_with_its_heading_in_every_language(doc, lang):
    text = narrative.load_locale(lang)
    pages = {name: render(doc, text) for name, render in narrative.SECTIONS.items()}
    # Without claims of an earlier write-up there is no claims section.
    shown = {n for n in pages if n != "claims" or doc.get("claims")}
    assert all(pages[n].strip() for n in shown) and all(pages[n] == "" for n in set(pages) - shown)
    for name in HEADED:
        assert pages[name].startswith(f"## {text['headings'][name]}"), (lang, name)
    assert pages["title"].startswith("# ") and doc["report"]["title"] in pages["title"]


def test_english_pages_hold_no_korean_when_the_data_has_none(doc):
    assert not HANGUL.search(doc["report"]["title"])  # the fixture's names are ASCII
    text = narrative.load_locale("en")
    for name, render in narrative.SECTIONS.items():
        page = render(doc, text)
        assert not HANGUL.search(page), (name, HANGUL.search(page))


def test_figures_of_the_document_appear_in_the_sections_that_report_them(doc):
    text = narrative.load_locale("en")
    impact = narrative.SECTIONS["impact"](doc, text)
    assert f"| {doc['audience']['peak']} |" in impact
    assert f"| {doc['impact']['errors_total']} |" in impact
    causes = narrative.SECTIONS["causes"](doc, text)
    for cls in doc["error_classes"]:
        if any(v["error_class"] == cls["key"] and v["verdict"] != "insufficient"
               for v in doc["verdicts"]):  # fmt: skip
            assert narrative.code(cls["key"]) in causes, cls["key"]
    buckets = narrative.SECTIONS["buckets"](doc, text)
    assert buckets.count("\n|") == 2 + len(doc["buckets"])  # header, rule, one row a bucket


def test_a_hostile_title_is_shown_as_text(doc):
    hostile = copy.deepcopy(doc)
    hostile["report"]["title"] = "<img src=x onerror=alert(1)> | **bold** [link](http://x)"
    page = narrative.SECTIONS["title"](hostile, narrative.load_locale("en"))
    assert "<img" not in page and "](http://x)" not in page and "**bold**" not in page


@pytest.mark.parametrize("lang", sorted(available_languages()))
@pytest.mark.parametrize(("bursty_null_p", "shown"), [(0.01, True), (0.3, False), (None, False)])
def test_a_hinge_passing_both_nulls_under_few_sources_is_said(lang, bursty_null_p, shown):
    text = narrative.load_locale(lang)
    v = {
        "verdict": "unrelated",
        "decided_by": "few_sources",
        "hinge_p_value": 0.02,
        "hinge_p_value_bursty_null": bursty_null_p,
        "elasticity": 1.1,
        "bayes_factor": 3.0,
        "sources": 1,
        "count_unit": "users with errors",
    }
    out = narrative.verdict_evidence(v, text)
    note = text["causes"]["reasons"]["few_sources_hinge"].split("(")[0].strip()  # before escapes
    assert (note in out) == shown, out
    if shown:
        assert "0.010" in out and "0.020" in out


@pytest.mark.parametrize("lang", available_languages())
def test_unset_parameters_read_as_the_default_not_none(doc, lang):
    unset = copy.deepcopy(doc)
    unset["parameters"]["window_start"] = None
    text = narrative.load_locale(lang)
    appendix = narrative.SECTIONS["appendix"](unset, text)
    key = narrative.code("window_start")
    row = next(line for line in appendix.splitlines() if key in line)
    assert text["appendix"]["unset"] in row and "None" not in row


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_page_one_says_nothing_of_bursts_when_no_minute_was_in_one(doc, lang):
    from analysis.narrative.overview import render_overview

    text = narrative.load_locale(lang)
    overview = doc["overview"]
    burst_words = text["overview"]["impact_bursts"].split("{")[0]
    for in_bursts, said in ((3, True), (0, False), (None, False)):
        minutes = {**overview["minutes"], "in_bursts": in_bursts}
        changed = {**doc, "overview": {**overview, "minutes": minutes}}
        page = render_overview(changed, text)
        assert (burst_words in page) is said, (in_bursts, page)


@pytest.mark.parametrize(
    "lang, said, zero",
    [
        ("en", "registrations not exported", "0 registrations"),
        ("ko", "등록은 내보내지 않음", "등록 0건"),
    ],
)
def test_registrations_not_exported_are_said_not_counted_as_zero(doc, lang, said, zero):
    from analysis.narrative.overview import render_overview
    from analysis.narrative.plan import render_capacity_plan
    from analysis.narrative.sections import render_impact

    text = narrative.load_locale(lang)
    people = {**doc["overview"]["people"], "registrations": None}
    changed = {
        **doc,
        "audience": {**doc["audience"], "registrations": None},
        "overview": {**doc["overview"], "people": people},
        "capacity_plan": {"available": False, "reason": "registrations_not_exported"},
    }
    page = render_overview(changed, text)
    assert said in page and zero not in page, page
    plan = render_capacity_plan(changed, text)
    assert said[:1].upper() + said[1:] in plan, plan
    impact = render_impact(changed, text)
    assert text["impact"]["not_exported"] in impact and "| –" not in impact, impact
    # With the table exported, the count is given as before.
    shown = render_overview(doc, text)
    assert said not in shown


@pytest.mark.parametrize(
    "lang, at, one, wrong",
    [
        ("en", "at 14:12 KST", "over **1 minute** (14:12–14:13 KST)", "over **1 minutes**"),
        ("ko", "14:12 KST에", "**1분 동안**(14:12–14:13 KST)", "(14:12–14:12"),
    ],
)
def test_errors_in_one_minute_read_at_that_minute(doc, lang, at, one, wrong):
    from analysis.narrative.overview import render_overview

    text = narrative.load_locale(lang)
    overview = doc["overview"]
    assert doc["report"]["display_tz"] == "Asia/Seoul"

    def page(first, last, period):
        minutes = {
            **overview["minutes"],
            "first_error": first,
            "last_error": last,
            "error_period": period,
            "in_bursts": None,
        }
        return render_overview({**doc, "overview": {**overview, "minutes": minutes}}, text)

    same = page("2026-02-06T05:12:05Z", "2026-02-06T05:12:40Z", 1)
    assert at in same and wrong not in same, same
    instant = page("2026-02-06T05:12:05Z", "2026-02-06T05:12:05Z", 0)
    assert at in instant, instant
    across = page("2026-02-06T05:12:50Z", "2026-02-06T05:13:10Z", 1)
    assert one in across and at not in across, across


@pytest.mark.parametrize(
    "lang, said, wrong",
    [
        ("en", "Too-few-to-judge errors last at 14:12:31 KST", "Other errors"),
        ("ko", "판단하기에 너무 적은 오류의 마지막 발생 14:12:31 KST", "기타 오류"),
    ],
)
def test_the_ending_names_the_too_few_to_judge_group(doc, lang, said, wrong):
    from analysis.narrative.overview import render_overview

    text = narrative.load_locale(lang)
    overview = doc["overview"]
    ending = {**overview["ending"], "last_error_by_cause": {"insufficient": "2026-02-06T05:12:31Z"}}
    page = render_overview({**doc, "overview": {**overview, "ending": ending}}, text)
    assert said in page and wrong not in page, page


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_window_shown_in_utc_is_listed_once(doc, lang):
    from analysis.narrative.sections import render_title

    text = narrative.load_locale(lang)
    utc_row = f"**{text['title_block']['window_utc']}**"
    assert render_title(doc, text).count(utc_row) == 1  # Asia/Seoul: local row and UTC row
    for zone in ("UTC", "Etc/UTC"):
        shown = {**doc, "report": {**doc["report"], "display_tz": zone}}
        page = render_title(shown, text)
        assert page.count(utc_row) == 1, page
        assert "2026-03-02 10:00–10:20" in page, page


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("resource, said", [("realtime", True), ("database", False), (None, False)])
def test_realtime_s_limit_is_stated_beside_a_realtime_capacity_class_only(
    doc, lang, resource, said
):
    from analysis.narrative.overview import render_overview

    text = narrative.load_locale(lang)
    key = doc["error_classes"][0]["key"]
    classes = [{**c, "resource": resource} if c["key"] == key else c for c in doc["error_classes"]]
    group = {
        "kind": "capacity",
        "errors": 10,
        "classes": [{"key": key, "k": 120.0, "k_low": 100.0, "k_high": 130.0}],
    }
    changed = {
        **doc,
        "error_classes": classes,
        "overview": {**doc["overview"], "causes": [group]},
        "capacity_plan": {"basis": {"realtime_limit_in_effect": 500}},
    }
    sentence = text["overview"]["limit_in_effect"].format(limit="500")
    assert (sentence in render_overview(changed, text)) is said


# Verdicts whose sentences say what the window cannot tell: one of each (the explanation of
# "undetermined", one event in one minute, a hinge set aside as a line from the lowest load or as
# an episode in time).
WINDOW_VERDICTS = (
    {"verdict": "undetermined", "elasticity": 0.5, "bayes_factor": 1.2},
    {"verdict": "undetermined", "decided_by": "one_minute", "p_value_one": 0.001},
    {
        "verdict": "undetermined",
        "hinge_p_value": 0.01,
        "hinge_p_value_bursty_null": 0.02,
        "hinge_set_aside": {"kind": "no_onset", "k_low": 10, "k_high": 40, "below": 2},
    },
    {
        "verdict": "undetermined",
        "hinge_p_value": 0.01,
        "hinge_p_value_bursty_null": 0.02,
        "hinge_set_aside": {"kind": "time_bounded", "first_minute": 3, "last_minute": 9},
    },
)
HOUR_WORDS = {"en": ("the hour", "this hour", "one hour"), "ko": ("한 시간", "이 시간의")}


def _causes_over(doc, text, minutes: int, verdict: dict) -> str:
    import pandas as pd

    start = pd.Timestamp(doc["report"]["window"]["start"])
    end = (start + pd.Timedelta(minutes=minutes)).isoformat()
    verdicts = [{**v, **verdict} for v in doc["verdicts"]]
    changed = {**doc, "verdicts": verdicts, "report": {**doc["report"]}}
    changed["report"]["window"] = {**doc["report"]["window"], "end": end}
    return narrative.SECTIONS["causes"](changed, text)


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("verdict", WINDOW_VERDICTS, ids=lambda v: v.get("decided_by") or str(
    v.get("hinge_set_aside", {}).get("kind", "plain")))  # fmt: skip
def test_verdict_sentences_name_the_windows_length_not_the_hour(doc, lang, verdict):
    text = narrative.load_locale(lang)
    hour = _causes_over(doc, text, 60, verdict)
    assert any(w in hour for w in HOUR_WORDS[lang]), hour  # the shipped hour's wording stays
    for minutes, span in ((30, ("30 minutes", "30분")), (24 * 60, ("24 hours", "24시간"))):
        page = _causes_over(doc, text, minutes, verdict)
        assert not [w for w in HOUR_WORDS[lang] if w in page], (minutes, page)
        assert span[lang == "ko"] in page, (minutes, page)
        assert "{" not in page


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_hours_verdict_sentences_are_the_shipped_ones(lang):
    """A 60-minute window (and a verdict rendered without one) keeps the shipped wording."""
    text = narrative.load_locale(lang)
    shipped = {
        "en": ("this hour cannot tell", "no test on one hour", "a line through the hour",
               "the episode, the hour cannot tell"),
        "ko": ("이 한 시간의 데이터로는", "사건 하나이므로 한 시간의", "이 시간의 가장 낮은",
               "이 한 시간으로"),
    }[lang]  # fmt: skip
    hour = {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T11:00:00Z"}
    explain = text["causes"]["explain"]["undetermined"].format(
        **narrative.causes.span_words(hour, text)
    )
    out = [explain] + [narrative.verdict_evidence(v, text, hour) for v in WINDOW_VERDICTS[1:]]
    out += [narrative.verdict_evidence(v, text) for v in WINDOW_VERDICTS[1:]]
    for phrase, said in zip(shipped, [*out[:4]], strict=True):
        assert phrase in said, (phrase, said)
    assert out[1:4] == out[4:]


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "at most 1 user, 2,345 clients and 1 endpoint with errors"),
        ("ko", "사용자 최대 1명, 클라이언트 2,345개, 엔드포인트 1개"),
    ],
)
def test_the_spread_note_counts_in_the_singular_and_with_separators(lang, said):
    text = narrative.load_locale(lang)
    spread = [
        {"source": "users", "max_per_minute": 1},
        {"source": "clients", "max_per_minute": 2345},
        {"source": "endpoints", "max_per_minute": 1},
    ]
    v = {"verdict": "unrelated", "signals": {"spread": spread}}
    out = html.unescape(narrative.verdict_evidence(v, text))
    assert said in out, out


@pytest.mark.parametrize("lang", available_languages())
def test_page_one_names_separate_surges_and_not_bursts_close_together(doc, lang):
    # Six hours with two surges two hours apart read as one 3-hour outage ("over 198
    # minutes"); bursts less than half an hour apart stay one episode (no clause).
    from analysis.narrative.overview import EPISODE_GAP_MINUTES, render_overview

    text = narrative.load_locale(lang)
    clause = text["overview"]["period_episodes"].split("{n}")[1].split("(")[0]  # "separate surges"
    start = pd.Timestamp(doc["report"]["window"]["start"])

    def burst(first: int, last: int) -> dict:
        at = lambda m: (start + pd.Timedelta(minutes=m)).isoformat()  # noqa: E731
        return {"error_class": "x", "start": at(first), "end": at(last)}

    close = {**doc, "bursts": [burst(0, 10), burst(10 + EPISODE_GAP_MINUTES - 1, 50)]}
    assert clause not in render_overview(close, text)
    apart = {**doc, "bursts": [burst(0, 10), burst(12, 14), burst(45, 50)]}
    page = render_overview(apart, text)
    tz = doc["report"]["display_tz"]
    spans = [(0, 14), (45, 50)]
    shown = [
        "–".join(f"{(start + pd.Timedelta(minutes=m)).tz_convert(tz):%H:%M}" for m in span)
        for span in spans
    ]
    expected = text["overview"]["period_episodes"].format(n=2, spans=text["list_sep"].join(shown))
    assert expected in page, page
