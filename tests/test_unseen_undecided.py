"""Page one says why an undecided class is undecided, in every language.

"Undecided" covers two different things: a class the data cannot decide (the audience was not
measured while it failed, or the tests do not settle between a flat rate per request and no
link to traffic), and a class that rose with the audience as at a capacity limit but whose
capacity reading a check set aside. A reader must be told which, and page one must not say
that nothing points at capacity when a capacity reading was only set aside or load went
unmeasured.
"""

from __future__ import annotations

import copy
import re

import pytest

from analysis import narrative, overview
from analysis.narrative.overview import render_overview

LANGS = ("en", "ko")


def _doc(small_analysis, verdicts: dict) -> dict:
    """The small incident's findings with its classes' verdicts replaced by ``verdicts``."""
    doc = copy.deepcopy(small_analysis.findings)
    keys = [c["key"] for c in doc["error_classes"] if c["count"]]
    assert len(keys) >= len(verdicts)
    # The classes not named keep a plain verdict: unrelated to load.
    given = [*verdicts.values()] + [{"verdict": "unrelated"}] * (len(keys) - len(verdicts))
    doc["verdicts"] = [
        {"error_class": key, "measurement_caveat": False, **v}
        for key, v in zip(keys, given, strict=True)
    ]
    doc["capacity"] = []
    doc["overview"]["causes"] = overview.group_causes(doc)
    return doc, dict(zip(verdicts, keys, strict=False))


UNMEASURED = {"verdict": "traffic", "measurement_caveat": True}
SET_ASIDE = {
    "verdict": "undetermined",
    "hinge_p_value": 0.005,
    "hinge_p_value_bursty_null": 0.01,
    "hinge_set_aside": {"kind": "time_bounded", "first_minute": 40, "last_minute": 59},
}
UNTOLD = {"verdict": "undetermined", "hinge_p_value": 0.4, "hinge_p_value_bursty_null": 0.5}


def test_every_veto_the_statistics_know_has_its_own_reason_on_page_one():
    # A veto without its own sentence would read the generic "a check ... failed".
    from analysis.stats import verdicts

    source = open(verdicts.__file__, encoding="utf-8").read()
    kinds = set(re.findall(r'"kind": "([a-z_]+)"', source))
    assert kinds >= {"time_bounded", "no_onset", "follows_time"}
    for lang in LANGS:
        reasons = narrative.load_locale(lang)["overview"]["set_aside_reasons"]
        assert kinds <= set(reasons), lang


def test_each_undecided_class_gets_its_own_reason():
    assert overview.explain_undecided({}) == ("not_measured", None)
    assert overview.explain_undecided(UNMEASURED) == ("not_measured", None)
    assert overview.explain_undecided(SET_ASIDE) == ("set_aside", "time_bounded")
    assert overview.explain_undecided(UNTOLD) == ("cannot_tell", None)
    few = {"verdict": "undetermined", "decided_by": "few_sources"}
    assert overview.explain_undecided(few | SET_ASIDE | {"hinge_set_aside": None}) == (
        "set_aside",
        "few_sources",
    )
    assert overview.explain_undecided(few | UNTOLD) == ("cannot_tell", None)


@pytest.mark.parametrize("lang", LANGS)
def test_page_one_tells_unmeasured_set_aside_and_untold_apart(small_analysis, lang):
    doc, keys = _doc(
        small_analysis, {"unmeasured": UNMEASURED, "set_aside": SET_ASIDE, "untold": UNTOLD}
    )
    text = narrative.load_locale(lang)
    t = text["overview"]
    page = render_overview(doc, text)
    why = t["undecided_why"]
    reason = t["set_aside_reasons"]["time_bounded"]
    for key, sentence in (
        ("unmeasured", why["not_measured"]),
        ("set_aside", why["set_aside"].format(reason=reason)),
        ("untold", why["cannot_tell"]),
    ):
        names = narrative.formatting._names(doc, [keys[key]], text)
        assert t["undecided_named"].format(names=names, why=sentence) in page, key
    # Capacity is not ruled out when a capacity reading was set aside or load went unmeasured.
    assert t["no_capacity_open"] in page and t["no_capacity"] not in page
    # Each class is named once on the line, with its reason.
    lead = t["causes"]["undecided_lead"].split("(")[0]
    line = next(row for row in page.splitlines() if row.startswith(f"- {lead}"))
    for key in keys.values():
        assert line.count(narrative.code(key)) == 1, key


@pytest.mark.parametrize("lang", LANGS)
def test_one_reason_is_one_sentence_and_capacity_is_ruled_out_only_when_it_is(small_analysis, lang):
    text = narrative.load_locale(lang)
    t = text["overview"]
    doc, _ = _doc(small_analysis, {"untold": UNTOLD})
    page = render_overview(doc, text)
    sentence = t["undecided_why"]["cannot_tell"]
    assert sentence[:1].upper() + sentence[1:] in page
    assert t["no_capacity"] in page and t["no_capacity_open"] not in page
    doc, _ = _doc(small_analysis, {"set_aside": SET_ASIDE})
    page = render_overview(doc, text)
    assert t["no_capacity_open"] in page and t["no_capacity"] not in page


@pytest.mark.parametrize("lang", LANGS)
def test_a_window_too_short_is_why_no_class_was_judged(small_analysis, lang):
    # A 15-minute window: no statistics ran; page one said "most errors fell while the
    # audience was not measured" though 75 samples covered it.
    import copy

    doc = copy.deepcopy(small_analysis.findings)
    doc["verdicts"] = []
    doc["data_quality"].append(
        {"code": "window_too_short", "severity": "warning", "fields": {"minutes": 15}}
    )
    groups = overview.group_causes(doc)
    whys = {c["why"] for g in groups if g["kind"] == "undecided" for c in g["classes"]}
    assert whys == {"window_too_short"}, groups
    doc["capacity"] = []
    doc["overview"]["causes"] = overview.group_causes(doc)
    text = narrative.load_locale(lang)
    page = render_overview(doc, text)
    said = text["overview"]["undecided_why"]["window_too_short"]
    assert said[:1].upper() + said[1:] in page
    assert text["overview"]["undecided_why"]["not_measured"][1:] not in page
    assert text["overview"]["no_capacity_open"] in page  # capacity is not ruled out
    assert overview.explain_undecided({}, "window_too_short") == ("window_too_short", None)
