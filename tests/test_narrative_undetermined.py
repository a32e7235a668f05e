"""What page one and the captions say where the data leaves something open or came from elsewhere.

Unit layer: sections rendered from the small fixture incident's findings (conftest.py), changed
where a case needs a shape the fixture does not have.
"""

from __future__ import annotations

import copy
import html

import numpy as np
import pandas as pd
import pytest

from analysis import narrative, overview


@pytest.fixture(scope="module")
def doc(small_analysis) -> dict:
    return small_analysis.findings


def _undetermined_first(doc: dict) -> tuple[dict, str]:
    """The document with its largest class's verdict undetermined and its action on page one."""
    changed = copy.deepcopy(doc)
    ranked = sorted(changed["error_classes"], key=lambda c: -c["count"])
    top, decided = ranked[0]["key"], ranked[1]["key"]
    for v in changed["verdicts"]:
        if v["error_class"] in (top, decided):
            v.update(verdict="undetermined" if v["error_class"] == top else "traffic")
            v["measurement_caveat"] = False
    changed["overview"]["causes"] = overview.group_causes(changed)
    changed["overview"]["actions"] = overview.rank_actions(changed)
    return changed, top


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_undetermined_class_s_action_is_not_page_one_s_first_and_says_why(doc, lang):
    changed, key = _undetermined_first(doc)
    actions = changed["overview"]["actions"]
    assert key not in actions[0]["classes"], actions
    flagged = [a for a in actions if a.get("undetermined")]
    assert key in flagged[0]["classes"], actions
    text = narrative.load_locale(lang)
    page = html.unescape(narrative.SECTIONS["summary"](changed, text))
    said = text["overview"]["action_undetermined"]
    assert page.count(said) == len(flagged), page
    for a in actions:
        if not a.get("undetermined"):
            assert not set(a["classes"]) <= {key}, a


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_load_figure_s_caption_says_the_load_came_from_presence(doc, lang):
    text = narrative.load_locale(lang)
    t = text["figures"]["concurrency"]
    monitored = narrative.figure_labels("concurrency", text, doc)
    assert monitored["caption"] == t["caption"] and "caption_presence" not in monitored
    changed = copy.deepcopy(doc)
    changed["data_quality"].append({"code": "concurrency_from_presence", "fields": {}})
    caption = narrative.figure_labels("concurrency", text, changed)["caption"]
    assert caption != t["caption"], caption
    assert "presence" in caption if lang == "en" else "프레즌스" in caption, caption
    assert "15" in caption and "{every}" not in caption, caption


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "1.8 errors per concurrent viewer and minute inside, 0.0026 outside"),
        ("ko", "동시 시청자 1명·1분당 오류가 안에서는 1.8건, 밖에서는 0.0026건"),
    ],
)
def test_a_realtime_class_s_time_window_is_errors_per_viewer_not_a_share_above_100(doc, lang, said):
    # Per concurrent viewer, errors per viewer-minute can exceed one (a reconnect storm): as a
    # percentage of "the exposure" it read 177.67 %, which looks like a bug.
    v = copy.deepcopy(doc["verdicts"][0])
    v.update(verdict="unrelated", signals={"denominator_kind": "viewers_no_requests"})
    v["hinge_set_aside"] = {
        "kind": "follows_time", "first_minute": 32, "last_minute": 35, "d": -2040.5,
        "p_value": 0.005, "share_inside": 1.7767, "share_outside": 0.0026,
    }  # fmt: skip
    text = narrative.load_locale(lang)
    got = html.unescape(narrative.verdict_evidence(v, text))
    assert said in got, got
    assert "177" not in got, got
    v["signals"] = {"denominator_kind": "requests"}
    v["hinge_set_aside"].update(share_inside=0.0254, share_outside=0.0011)
    got = html.unescape(narrative.verdict_evidence(v, text))
    assert ("2.54% of the requests" if lang == "en" else "요청의 2.54%") in got, got


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_annotated_deploy_is_not_called_a_human_action(doc, lang):
    # A CI deploy in annotations.csv is an event the data records, not a person's response.
    changed = copy.deepcopy(doc)
    changed["detection"]["first_human_action"] = {
        "at": changed["report"]["window"]["start"], "label": "Migration 0042 deployed",
    }  # fmt: skip
    got = html.unescape(narrative.SECTIONS["detection"](changed, narrative.load_locale(lang)))
    assert "Migration 0042 deployed" in got, got
    assert "human action" not in got and "첫 대응" not in got, got


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_capacity_plan_reads_an_interval_open_below_as_page_one_does(doc, lang):
    changed = copy.deepcopy(doc)
    text = narrative.load_locale(lang)
    plan = changed["capacity_plan"]
    if not plan.get("available") or not plan["thresholds"]:
        pytest.skip("the fixture has no threshold in its plan")
    th = plan["thresholds"][0]
    for cap in changed["capacity"]:
        if cap["error_class"] == th["error_class"]:
            cap["k_open_low"] = True
    got = narrative.SECTIONS["capacity_plan"](changed, text)
    said = text["overview"]["interval_open_low"].format(high=narrative.fmt_number(th["k_high"]))
    assert said in got, got
    closed = narrative.SECTIONS["capacity_plan"](doc, text)
    assert text["capacity_plan"]["threshold_interval"].split("{")[0] in closed, closed


def test_a_slow_monitor_s_regular_unsampled_minutes_are_measured_but_its_gaps_are_not():
    from analysis.findings import share_errors_unmeasured

    errors = np.ones(60)
    every_five = np.zeros(60)
    every_five[::5] = 1  # an app's snapshot every 5 minutes
    assert share_errors_unmeasured(pd.DataFrame({"errors": errors, "samples": every_five})) == 0
    stopped = every_five.copy()
    stopped[20:45] = 0  # no snapshot between minutes 15 and 45: 30 minutes, 6 spacings
    got = share_errors_unmeasured(pd.DataFrame({"errors": errors, "samples": stopped}))
    assert got == pytest.approx(29 / 60)  # minutes 16-44 are unmeasured
    # A monitor of several samples a minute keeps its rule: a minute under half the median.
    fast = np.full(60, 6.0)
    fast[10:20] = 1
    assert share_errors_unmeasured(pd.DataFrame({"errors": errors, "samples": fast})) == 1 / 6


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_without_billing_rows_the_plan_does_not_say_realtime_counted_zero(doc, lang):
    text = narrative.load_locale(lang)
    t = text["capacity_plan"]
    if not doc["capacity_plan"].get("available"):
        pytest.skip("the fixture has no capacity plan")
    changed = copy.deepcopy(doc)
    changed["capacity_plan"]["basis"].update(billing_rows=0, connections_offset=0.0)
    got = narrative.SECTIONS["capacity_plan"](changed, text)
    assert t["basis_offset_none"] in got, got
    assert t["basis_offset"].format(offset="0") not in got, got
    measured = narrative.SECTIONS["capacity_plan"](doc, text)
    offset = narrative.fmt_number(doc["capacity_plan"]["basis"]["connections_offset"])
    if doc["capacity_plan"]["basis"].get("billing_rows"):
        assert t["basis_offset"].format(offset=offset) in measured, measured
