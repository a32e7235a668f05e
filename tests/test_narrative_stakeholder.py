"""What stakeholders read, word by word: defects found by reading reports of unseen incidents.

Unit layer: sections rendered straight from the small fixture incident's findings (conftest.py),
changed where a case needs a shape the fixture does not have.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import re

import pandas as pd
import pytest

from analysis import narrative
from analysis.listing import summarize_row
from analysis.narrative.causes import _realtime_note

REFUSAL = {
    "en": ("traffic-proportional (refused on purpose)", "traffic-proportional (a bug)"),
    "ko": ("트래픽 비례 (의도적 거부)", "트래픽 비례 (버그)"),
}


@pytest.fixture(scope="module")
def doc(small_analysis) -> dict:
    return small_analysis.findings


def _as_refusal(doc: dict, state: str) -> tuple[dict, str]:
    """The document with its first class turned into the app's own traffic-proportional refusal."""
    changed = copy.deepcopy(doc)
    cls = changed["error_classes"][0]
    cls["sql_state"] = state
    for v in changed["verdicts"]:
        if v["error_class"] == cls["key"]:
            v.update(verdict="traffic", measurement_caveat=False)
    return changed, cls["key"]


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("state", ["PT402", "P0001"])
def test_the_root_causes_table_does_not_call_a_deliberate_refusal_a_bug(doc, lang, state):
    changed, key = _as_refusal(doc, state)
    text = narrative.load_locale(lang)
    said, wrong = REFUSAL[lang]
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    row = next(line for line in causes.splitlines() if key in line and line.startswith("|"))
    assert f"**{said}**" in row and wrong not in row, row
    legend = next(line for line in causes.splitlines() if line.startswith(f"- **{said}**"))
    assert ("not a bug" if lang == "en" else "버그가 아닙니다") in legend, legend
    # The index page's row says the same.
    row = summarize_row(changed, lang)
    assert {v["key"]: v["verdict"] for v in row["verdicts"]}[key] == "refusal"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_action_s_evidence_does_not_call_a_deliberate_refusal_a_bug(doc, lang):
    changed, key = _as_refusal(doc, "PT402")
    cls = changed["error_classes"][0]
    evidence = {"kind": "class", "error_class": key, "present": True, "count": cls["count"]}
    changed["action_items"] = [
        {
            "number": 1,
            "key": "custom_status",
            "source": "catalogue",
            "fields": {"class": key},
            "evidence": [{**evidence, "rate": 0.01, "verdict": "traffic"}],
            "type": "mitigate",
            "owner": "",
            "due": "",
        }
    ]
    said, wrong = REFUSAL[lang]
    actions = narrative.SECTIONS["actions"](changed, narrative.load_locale(lang))
    assert said in actions and wrong not in actions, actions


def test_a_traffic_class_that_is_no_refusal_is_still_called_a_bug(doc):
    changed, key = _as_refusal(doc, "23505")
    causes = html.unescape(narrative.SECTIONS["causes"](changed, narrative.load_locale("en")))
    row = next(line for line in causes.splitlines() if key in line and line.startswith("|"))
    assert "**traffic-proportional (a bug)**" in row, row


def _with_capacity(doc: dict, k: int = 190) -> dict:
    """The document with its first class called capacity-driven at K (limits table shown)."""
    from analysis.stats.limits import SUPABASE_LIMITS

    changed = copy.deepcopy(doc)
    key = changed["error_classes"][0]["key"]
    for v in changed["verdicts"]:
        if v["error_class"] == key:
            v.update(verdict="capacity", measurement_caveat=False)
    changed["statistics"]["supabase_limits"] = [dict(lim) for lim in SUPABASE_LIMITS]
    changed["capacity"] = [
        c for c in changed["capacity"] if c["error_class"] != key
    ] + [
        {
            "error_class": key, "verdict": "capacity", "k": k, "k_low": k - 20,
            "k_high": k + 20, "weakly_identified": False, "lag_minutes": 0,
        }
    ]  # fmt: skip
    return changed


@pytest.mark.parametrize(
    ("lang", "said", "wrong"),
    [
        ("ko", ("Realtime 동시 연결 (Free 요금제)", "Postgres 최대 연결 수 (Large 컴퓨트)"),
         ("concurrent connections", "max connections", "plan)", "compute)")),
        ("en", ("Realtime concurrent connections (Free plan)",
                "Postgres max connections (Large compute)"), ("요금제",)),
    ],
)  # fmt: skip
def test_the_public_limits_table_is_in_the_report_s_language(doc, lang, said, wrong):
    causes = narrative.SECTIONS["causes"](_with_capacity(doc), narrative.load_locale(lang))
    limits = html.unescape(
        causes.split("**" + narrative.load_locale(lang)["causes"]["limits_title"])[1]
    )
    assert all(s in limits for s in said), limits
    assert not [w for w in wrong if w in limits], limits


@pytest.mark.parametrize(
    ("lang", "plan", "compute"), [("ko", "요금제", "컴퓨트"), ("en", "plan", "compute")]
)
def test_the_capacity_plan_names_tiers_in_the_report_s_language(doc, lang, plan, compute):
    doc = copy.deepcopy(doc)
    projections = doc["capacity_plan"]["projections"]
    projections[0]["compute"] = {"tier": "Small compute", "limit": 90, "headroom": 0.2}
    page = narrative.SECTIONS["capacity_plan"](doc, narrative.load_locale(lang))
    tiers = [p["realtime_plan"]["tier"] for p in projections if p["realtime_plan"]["tier"]]
    sizes = [p["compute"]["tier"] for p in projections if (p.get("compute") or {}).get("tier")]
    assert tiers and sizes, projections
    for tier in tiers:
        assert tier.replace(" plan", f" {plan}") in page, page
    for size in sizes:
        assert size.replace(" compute", f" {compute}") in page, page
    if lang == "ko":
        assert not [t for t in tiers + sizes if t in page], page


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_capacity_plan_says_sessions_are_not_database_connections(doc, lang):
    # twin_rooms of tests/_unseen_rooms.py: "Small compute: 90" beside K = 381 sessions,
    # with nothing saying how 381 sessions became connections or that the compute was assumed.
    doc = copy.deepcopy(doc)
    plan = doc["capacity_plan"]
    plan["basis"].update(compute_assumed="Nano compute", db_connections_in_effect=60)
    plan["thresholds"] = [
        {"error_class": "53300", "resource": "database", "k": 381.0, "k_low": 348.0,
         "k_high": 390.0, "weakly_identified": False},
    ]  # fmt: skip
    for p in plan["projections"]:
        p["db_connections"] = {"low": 40.0, "median": 52.0, "high": 65.0, "error_class": "53300"}
    page = narrative.SECTIONS["capacity_plan"](doc, narrative.load_locale(lang))
    said = ("Sessions are not database connections", "6.3 sessions per connection", "1.08×")
    if lang == "ko":
        said = ("세션은 DB 연결이 아닙니다", "세션 약 6.3개", "1.08배")
    assert all(s in page for s in said), page
    # Without a database threshold there is nothing to convert.
    plan["thresholds"] = []
    page = narrative.SECTIONS["capacity_plan"](doc, narrative.load_locale(lang))
    assert said[0] not in page


#: Tier limits over the upper end of the projected peak -> what the plan says (en, ko): a
#: percentage up to twice the need, then a multiple, then "over 10x" (not "2,363% spare").
ROOM = [
    (0.27, "27% spare", "여유 27%"),
    (1.31, "2.3× the projected peak's upper end", "예상 최대치 상한의 2.3배"),
    (8.08, "9.1× the projected peak's upper end", "예상 최대치 상한의 9.1배"),
    (23.63, "over 10× the projected peak's upper end", "예상 최대치 상한의 10배 이상"),
]


@pytest.mark.parametrize(("headroom", "en", "ko"), ROOM)
def test_the_capacity_plan_says_a_large_headroom_as_a_multiple_not_thousands_of_percent(
    doc, headroom, en, ko
):
    doc = copy.deepcopy(doc)
    projections = doc["capacity_plan"]["projections"]
    projections[0]["realtime_plan"] = {
        **projections[0]["realtime_plan"], "tier": "Team plan", "limit": 10000,
        "headroom": headroom,
    }  # fmt: skip
    for lang, said in (("en", en), ("ko", ko)):
        page = narrative.SECTIONS["capacity_plan"](doc, narrative.load_locale(lang))
        assert said in page, page
        assert f"{100 * headroom:,.0f}%" not in page or headroom < 1, page


def _project_scope(doc: dict) -> tuple[dict, str]:
    """The document as a breakout room's: the load tested is three live webinars' audience."""
    changed = copy.deepcopy(doc)
    key = changed["error_classes"][0]["key"]
    changed["audience"]["load"] = {
        "scope": "project", "webinars": ["this", "main", "other"], "peak": 83,
        "peak_ts": changed["report"]["window"]["start"], "webinar_peak": 13, "others_peak": 70,
    }  # fmt: skip
    people = changed["overview"]["people"]
    people.update(audience=22, affected=15, affected_share=15 / 22, failed_requests=353)
    changed["overview"]["causes"] = [
        {
            "kind": "capacity", "errors": 353,
            "classes": [{"key": key, "name": {}, "count": 353, "k": 64.0, "k_low": 38.0,
                         "k_high": 68.0, "weakly_identified": True, "lag_minutes": 0}],
        }
    ]  # fmt: skip
    changed["capacity"] = [
        {"error_class": key, "verdict": "capacity", "k": 64, "k_low": 38, "k_high": 68,
         "k_webinar": 13, "weakly_identified": True, "lag_minutes": 0}
    ]  # fmt: skip
    return changed, key


@pytest.mark.parametrize(
    ("lang", "said", "wrong"),
    [
        ("en", "**353 requests failed across the project**", "people** (68%) received at least"),
        ("ko", "**프로젝트 전체에서 요청 353건이 실패**", "**요청 353건이 실패**했습니다."),
    ],
)
def test_a_breakout_room_s_page_says_the_failed_requests_are_the_project_s(doc, lang, said, wrong):
    changed, _ = _project_scope(doc)
    text = narrative.load_locale(lang)
    page = narrative.SECTIONS["summary"](changed, text)
    assert said in page and wrong not in page, page
    assert ("15 of 22 people" if lang == "en" else "참가자 22명 중 15명") in page, page
    impact = narrative.SECTIONS["impact"](changed, text)
    assert text["impact"]["error_responses_project"] in impact, impact
    # This webinar's own load: the page speaks of it as before.
    alone = copy.deepcopy(changed)
    alone["audience"]["load"]["scope"] = "webinar"
    page = narrative.SECTIONS["summary"](alone, text)
    assert said not in page and ("353 requests failed" in page or "요청 353건이 실패" in page)
    assert text["impact"]["error_responses_project"] not in narrative.SECTIONS["impact"](
        alone, text
    )


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "~**64** sessions (38–68, weakly identified) across the project's 3 live webinars, "
               "of which this webinar had 13"),
        ("ko", "약 **64**세션 이상(38–68, 약하게 식별됨), 그중 이 웨비나 13세션"),
    ],
)  # fmt: skip
def test_page_one_puts_the_project_k_s_interval_beside_k_not_the_webinar_s_share(doc, lang, said):
    changed, _ = _project_scope(doc)
    page = narrative.SECTIONS["summary"](changed, narrative.load_locale(lang))
    assert said in page, page


def _capacity_action(doc: dict, **cap) -> tuple[dict, str]:
    changed = copy.deepcopy(doc)
    key = changed["error_classes"][0]["key"]
    entry = {"error_class": key, "verdict": "capacity", "k": 48, "k_low": 20, "k_high": 80,
             "weakly_identified": True, "lag_minutes": 0, **cap}  # fmt: skip
    changed["capacity"] = [entry]
    evidence = {"kind": "threshold", "error_class": key, "k": 48, "k_low": 20, "k_high": 80}
    changed["action_items"] = [
        {
            "number": 1, "key": "realtime_limit_capacity", "source": "catalogue",
            "fields": {"class": key, "k": 48, "k_low": 20, "k_high": 80}, "evidence": [evidence],
            "type": "mitigate", "owner": "", "due": "",
        }
    ]  # fmt: skip
    return changed, key


@pytest.mark.parametrize(
    ("lang", "cap", "said", "wrong"),
    [
        ("en", {}, ("above K = 48 [20, 80] viewers", "threshold K = 48 [20, 80]"), ()),
        ("ko", {}, ("K = 48 [20, 80]명을 넘자", "임계값 K = 48 [20, 80]"), ()),
        ("en", {"load_scope": "project", "k_webinar": 13},
         ("above K = 48 [20, 80] sessions across the project's live webinars",
          "threshold K = 48 [20, 80] (sessions across the project's live webinars)"),
         ("viewers:",)),
        ("ko", {"load_scope": "project", "k_webinar": 13},
         ("프로젝트 전체 K = 48 [20, 80]세션을 넘자",
          "(진행 중인 웨비나를 합친 프로젝트 전체 세션)"),
         ("80]명",)),
        ("en", {"k_open_low": True}, ("above K = 48 (anywhere up to 80) viewers",
                                      "threshold K = 48 (anywhere up to 80)"), ("[20, 80]",)),
        ("ko", {"k_open_low": True}, ("K = 48 (80 이하 어디든)명을 넘자",), ("[20, 80]",)),
        ("en", {"k_open_high": True}, ("above K = 48 [20, 80 or more] viewers",), ("[20, 80]",)),
    ],
)  # fmt: skip
def test_action_texts_say_whose_sessions_k_counts_and_an_interval_open_below(
    doc, lang, cap, said, wrong
):
    changed, _ = _capacity_action(doc, **cap)
    text = narrative.load_locale(lang)
    page = html.unescape(narrative.SECTIONS["actions"](changed, text))
    assert all(s in page for s in said), page
    assert not [w for w in wrong if w in page], page
    assert "{" not in page


def test_a_class_whose_endpoints_log_only_its_failures_is_flagged():
    import pandas as pd

    from analysis.findings import logs_only_failures

    only = pd.DataFrame({"requests": [0, 3, 2], "failed_requests": [0.0, 3.0, 2.0]})
    assert logs_only_failures(only)
    mixed = only.assign(requests=[0, 4, 2])  # one request that is not its failure
    assert not logs_only_failures(mixed)
    assert not logs_only_failures(only.drop(columns="failed_requests"))  # not known
    assert not logs_only_failures(only.assign(requests=0, failed_requests=0.0))


@pytest.mark.parametrize(
    ("lang", "row", "impact"),
    [
        ("en", "only its failures were logged", "is one of these failures: no rate per request"),
        ("ko", "실패만 기록됨", "모두 이 실패여서 요청당 비율 없음"),
    ],
)
def test_no_rate_per_request_where_only_failures_were_logged(doc, lang, row, impact):
    changed = copy.deepcopy(doc)
    cls = changed["error_classes"][0]
    cls.update(rate=None, only_failures_logged=True, requests=cls["count"])
    text = narrative.load_locale(lang)
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    line = next(x for x in causes.splitlines() if cls["key"] in x and x.startswith("|"))
    assert row in line and "100.00%" not in line, line
    table = html.unescape(narrative.SECTIONS["impact"](changed, text))
    line = next(x for x in table.splitlines() if cls["key"] in x)
    assert impact in line and "%" not in line, line


def test_english_audit_sentences_show_local_times_not_iso_utc(doc):
    import pandas as pd

    changed = copy.deepcopy(doc)
    tz = changed["report"]["display_tz"]
    start, end = "2026-02-06T05:40:00+00:00", "2026-02-06T05:45:30.250000+00:00"
    changed["data_quality"] = [
        {
            "code": "an_item_no_locale_words",
            "severity": "warning",
            "what": f"From {start} to {end} the monitor sent 3 samples.",
            "limits": "Nothing before 2026-02-06T05:40:00Z is known.",
            "fields": {"start": start, "end": end},
            "evidence": {"source": "concurrency", "filter": f"ts in [{start}, {end})"},
            "webinar_id": None,
        }
    ]
    page = html.unescape(narrative.SECTIONS["audit"](changed, narrative.load_locale("en")))
    local = [f"{pd.Timestamp(t).tz_convert(tz):%H:%M:%S}" for t in (start, end)]
    assert f"From {local[0]} to {local[1]} the monitor sent 3 samples." in page, page
    assert f"Nothing before {local[0]} is known." in page, page
    # The evidence keeps the filter a reader re-runs, in UTC as the tables hold it.
    assert f"ts in [{start}, {end})" in page
    assert page.count(start) == 1, page


def _many_classes(doc: dict, n: int) -> dict:
    """The document with ``n`` load-independent classes of 100, 99, ... errors."""
    changed = copy.deepcopy(doc)
    base = changed["error_classes"][0]
    verdict = next(v for v in changed["verdicts"] if v["error_class"] == base["key"])
    changed["error_classes"] = [
        {**base, "key": f"http:404:rest/archive_{i:02d}", "count": 100 - i, "name": {}}
        for i in range(n)
    ]
    changed["verdicts"] = [
        {**verdict, "error_class": c["key"], "verdict": "unrelated", "measurement_caveat": False}
        for c in changed["error_classes"]
    ]
    changed["capacity"] = []
    changed["associations"] = [
        {
            "error_class": c["key"], "load_leads_r": 0.1, "load_leads_lag": 0,
            "load_leads_p_value": 0.5, "errors_lead_r": 0.1, "errors_lead_lag": 0,
            "errors_lead_p_value": 0.5,
        }
        for c in changed["error_classes"]
    ]  # fmt: skip
    return changed


@pytest.mark.parametrize(("lang", "said"), [("en", "The other 4 classes (362 errors)"),
                                            ("ko", "나머지 4개 유형(오류 362건)")])  # fmt: skip
def test_the_root_causes_table_folds_classes_as_the_figures_do(doc, lang, said):
    from analysis.narrative.figures import MAX_DRAWN_CLASSES, drawn_classes

    changed = _many_classes(doc, MAX_DRAWN_CLASSES + 4)
    text = narrative.load_locale(lang)
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    shown, folded = drawn_classes(changed)
    assert len(folded) == 4 and said in causes, causes
    detailed, rest = causes.split(said)
    # Every class keeps a row; the folded ones without evidence, and out of the associations.
    for key in shown:  # its row above, its association below
        assert detailed.count(f"<code>{key}</code>") == rest.count(f"<code>{key}</code>") == 1
    for key in folded:  # its short row, and no association
        assert f"<code>{key}</code>" not in detailed and rest.count(f"<code>{key}</code>") == 1
    evidence = narrative.verdict_evidence(changed["verdicts"][-1], text).split("<br>")[0]
    assert html.unescape(evidence) not in rest
    # Up to MAX_DRAWN_CLASSES classes, nothing is folded.
    few = narrative.SECTIONS["causes"](_many_classes(doc, MAX_DRAWN_CLASSES), text)
    assert said.split(" (")[0].split("(")[0] not in few


def _moments(doc: dict) -> list[dict]:
    """A first and a last error a minute apart for each class of ``doc``, a minute between."""
    import pandas as pd

    start = pd.Timestamp(doc["report"]["window"]["start"])
    out = []
    for i, c in enumerate(doc["error_classes"]):
        for kind, minute in (("first_error", i), ("last_error", 30 + i)):
            at = (start + pd.Timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append(
                {
                    "at": at, "kind": kind, "subject": c["key"], "description": "",
                    "value": None, "evidence": {"source": "requests", "filter": "x", "count": 1},
                }
            )  # fmt: skip
    return sorted(out, key=lambda m: m["at"])


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_impact_table_and_the_timeline_fold_classes_as_the_figures_do(doc, lang):
    from analysis.narrative.figures import MAX_DRAWN_CLASSES, drawn_classes

    changed = _many_classes(doc, MAX_DRAWN_CLASSES + 4)
    changed["timeline"] = _moments(changed)
    text = narrative.load_locale(lang)
    shown, folded = drawn_classes(changed)
    impact = html.unescape(narrative.SECTIONS["impact"](changed, text))
    row = text["impact"]["class_row_folded"].format(n=4)
    assert f"| {row} | 362 |" in impact, impact
    assert not [k for k in folded if k in impact] and all(k in impact for k in shown)
    timeline = html.unescape(narrative.SECTIONS["timeline"](changed, text))
    assert not [k for k in folded if k in timeline] and all(k in timeline for k in shown)
    first = text["timeline"]["folded"]["first"].format(n=4)
    last = text["timeline"]["folded"]["last"].format(n=4)
    lines = [x for x in timeline.splitlines() if first in x or last in x]
    assert len(lines) == 2 and first in lines[0] and last in lines[1], lines
    # The first folded class's first error (minute 8), the last one's last error (minute 41).
    import pandas as pd

    tz = changed["report"]["display_tz"]
    start = pd.Timestamp(changed["report"]["window"]["start"]).tz_convert(tz)
    for line, minute in zip(lines, (8, 41), strict=True):
        assert f"{start + pd.Timedelta(minutes=minute):%H:%M:%S}" in line, line
    # Nothing folds up to MAX_DRAWN_CLASSES classes.
    few = _many_classes(doc, MAX_DRAWN_CLASSES)
    few["timeline"] = _moments(few)
    assert first.split("(")[0] not in narrative.SECTIONS["timeline"](few, text)


def _with_realtime_samples(doc: dict) -> dict:
    """The document with Realtime's billing samples near the limit, seen by every class."""
    changed = copy.deepcopy(doc)
    for v in changed["verdicts"]:
        v["signals"] = {
            **(v.get("signals") or {}),
            "realtime_peak_share_of_limit": 0.973,
            "realtime_saturated_minutes": 4,
            "realtime_errors_in_saturated_share": 0.5,
        }
    return changed


def _rows(causes: str) -> dict[str, str]:
    """The root causes table's rows by class key (the first table of the section)."""
    return {
        line.split("<code>")[1].split("</code>")[0]: line
        for line in causes.split("\n\n")[1].splitlines()[2:]
    }


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_realtime_s_peak_is_said_once_for_the_project_and_only_under_realtime_classes(doc, lang):
    text = narrative.load_locale(lang)
    t = text["causes"]
    changed = _with_realtime_samples(doc)
    per_class = _realtime_note(changed["verdicts"][0]["signals"], text)
    project = t["realtime_project"].split("{")[0]
    realtime = {c["key"] for c in changed["error_classes"] if c["key"].startswith("realtime:")}
    others = [c for c in changed["error_classes"] if c["key"] not in realtime]
    assert realtime and others  # the fixture has both kinds
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    rows = _rows(causes)
    assert {k for k, row in rows.items() if per_class in row} == realtime, causes
    assert causes.count(project) == 1 and "97%" in causes
    assert t["realtime_project_classes"] in causes
    # A class on Realtime's endpoint is Realtime's too (an HTTP 429 of its websocket).
    others[0]["endpoint"] = "realtime/websocket"
    rows = _rows(html.unescape(narrative.SECTIONS["causes"](changed, text)))
    assert {k for k, row in rows.items() if per_class in row} == realtime | {others[0]["key"]}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_without_realtime_samples_nothing_is_said_of_them(doc, lang):
    text = narrative.load_locale(lang)
    changed = copy.deepcopy(doc)
    for v in changed["verdicts"]:
        (v.get("signals") or {}).pop("realtime_peak_share_of_limit", None)
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    for said in text["causes"]["reasons"]["realtime_limit"].values():
        assert max(re.split(r"\{\w+\}", said), key=len) not in causes
    assert text["causes"]["realtime_project"].split("{")[0] not in causes


#: A Realtime class's errors against the project's connection limit, and what each language
#: must say (and must not: "peaked at 150% ... 0% of these errors" read as a contradiction).
REALTIME_NOTES = {
    "en": {
        "none": ("None of this class's errors fell in the 13 minutes", " 0% of"),
        "some": ("25% of this class's errors fell in the 13 minutes", "None of"),
        "never": ("peaked at 80% of the plan's connection limit, never at ≥ 95%", "errors fell"),
    },
    "ko": {
        "none": ("95% 이상이던 13분 동안에는 이 유형의 오류가 하나도 없었습니다", "오류의 0%"),
        "some": ("이 유형 오류의 25%가", "하나도"),
        "never": ("한도의 80%로, 95% 이상인 적이 없었습니다", "오류의"),
    },
}


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize(
    ("case", "peak", "minutes", "share"),
    [("none", 1.5, 13, 0.0), ("some", 1.5, 13, 0.25), ("never", 0.8, 0, 0.0)],
)
def test_a_realtime_class_s_note_says_which_minutes_its_share_counts(
    doc, lang, case, peak, minutes, share
):
    text = narrative.load_locale(lang)
    changed = copy.deepcopy(doc)
    for v in changed["verdicts"]:
        v["signals"] = {
            **(v.get("signals") or {}),
            "realtime_peak_share_of_limit": peak,
            "realtime_saturated_minutes": minutes,
            "realtime_errors_in_saturated_share": share,
        }
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    rows = [row for key, row in _rows(causes).items() if key.startswith("realtime:")]
    said, not_said = REALTIME_NOTES[lang][case]
    assert rows and all(said in row for row in rows), rows
    notes = [row.split(said)[0][-80:] + row.split(said)[1][:120] for row in rows]
    assert not [n for n in notes if not_said in n], notes


def _with_actions(changed: dict) -> dict:
    """``changed`` with its action items built from its classes by the real catalogue.

    Classes 0, 2, 4, ... are 404s of missing endpoints; the odd ones unique violations of a
    table each, so two kinds of action meet among the folded classes.
    """
    from analysis.actions import build_action_items

    details = {}
    for i, c in enumerate(changed["error_classes"]):
        if i % 2:
            c.update(sql_state="23505", http_status=409, source="db_errors")
            details[c["key"]] = {
                "key": c["key"], "sql_state": "23505", "table": f"ledger_{i:02d}",
                "constraint": f"ledger_{i:02d}_ref_key", "endpoints": [f"rest/ledger_{i:02d}"],
            }  # fmt: skip
        else:
            c.update(sql_state=None, http_status=404)
            details[c["key"]] = {"key": c["key"], "http_status": 404, "endpoints": [c["key"][9:]]}
    changed["detection"] = {**(changed.get("detection") or {}), "lead_minutes": 3}
    changed["action_items"] = build_action_items(changed, details)
    return changed


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_action_items_fold_classes_as_the_figures_do(doc, lang):
    from analysis.narrative.figures import MAX_DRAWN_CLASSES, drawn_classes

    changed = _with_actions(_many_classes(doc, MAX_DRAWN_CLASSES + 12))
    text = narrative.load_locale(lang)
    t = text["actions"]["folded"]
    shown, folded = drawn_classes(changed)
    items = changed["action_items"]
    assert len(items) == MAX_DRAWN_CLASSES + 12 + 2  # one per class, alerting, monitoring
    actions = html.unescape(narrative.SECTIONS["actions"](changed, text))
    rows = [line for line in actions.splitlines() if line.startswith("| ") and "---" not in line]
    rows = rows[1:]  # the header
    # One row per shown class's item, one per kind among the folded ones, and the two others.
    assert len(rows) == MAX_DRAWN_CLASSES + 2 + 2, rows
    assert t["note"].format(n=12, items=12) in actions
    grouped = [r for r in rows if t["classes"].format(n=6) in r]
    assert len(grouped) == 2, rows  # six 404s and six unique violations
    for row in grouped:
        keys = [k for k in folded if f"<code>{k}</code>" in row]
        assert len(keys) == 6, row  # every folded class of the kind is named
        assert t["unknown"]["endpoints"] in row  # their endpoints differ
    for key in shown:  # each keeps its own row with its evidence
        assert sum(f"<code>{key}</code>" in r for r in rows) == 1, key
    numbers = [r.split(" | ")[0].removeprefix("| ") for r in rows]
    assert numbers[0] == "1" and numbers[-1] == str(len(items)), numbers  # in the items' order
    # Up to MAX_DRAWN_CLASSES classes, every item keeps its row.
    few = _with_actions(_many_classes(doc, MAX_DRAWN_CLASSES))
    assert t["note"].split("{")[0] not in narrative.SECTIONS["actions"](few, text)


@pytest.mark.parametrize(
    ("se", "digits"), [(39.0, 0), (10.0, 0), (9.9, 1), (1.2, 1), (0.4, 2), (0.04, 2), (None, 2)]
)
def test_g_is_rounded_to_two_significant_digits_of_its_standard_error(se, digits):
    from analysis.narrative.causes import g_decimals

    assert g_decimals(se) == digits


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_g_is_shown_with_its_interval_not_false_precision(doc, lang):
    from analysis.findings import elasticity_interval

    text = narrative.load_locale(lang)
    fit = type("Fit", (), {"se": 39.0})()
    v = {
        "verdict": "undetermined", "hinge_p_value": 0.4, "hinge_p_value_bursty_null": 0.5,
        "elasticity": 69.59, "p_value_zero": 0.2, "p_value_one": 0.3, "bayes_factor": 1.2,
        **elasticity_interval(69.59, fit),
    }  # fmt: skip
    out = html.unescape(narrative.verdict_evidence(v, text))
    assert "g = 70 [-7, 146]" in out and "69.59" not in out, out
    # Every verdict the pipeline writes carries g's interval around g.
    shown = [v for v in doc["verdicts"] if v["elasticity"] is not None]
    assert shown
    for v in shown:
        assert v["elasticity_low"] < v["elasticity"] < v["elasticity_high"], v
        assert v["elasticity_se"] > 0
    # The legend says once what the brackets are, where a sentence shows g.
    changed = copy.deepcopy(doc)
    changed["verdicts"][0].update(v, error_class=changed["verdicts"][0]["error_class"])
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    assert causes.count(text["causes"]["g_legend"]) == 1
    for other in changed["verdicts"]:
        other.update(verdict="capacity", decided_by="hinge")
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    assert text["causes"]["g_legend"] not in causes


def test_no_finite_standard_error_leaves_g_without_interval():
    from analysis.findings import elasticity_interval

    nan = type("Fit", (), {"se": float("nan")})()
    assert elasticity_interval(1.2, nan)["elasticity_low"] is None
    assert elasticity_interval(None, nan)["elasticity_se"] is None
    assert elasticity_interval(1.2, None)["elasticity_high"] is None


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_bursty_null_that_was_not_needed_is_said_so_not_dashed(lang):
    text = narrative.load_locale(lang)
    word = text["causes"]["reasons"]["bursty_not_needed"]
    v = {
        "verdict": "unrelated", "hinge_p_value": 0.4, "hinge_p_value_bursty_null": None,
        "elasticity": 0.1, "p_value_zero": 0.5, "p_value_one": 0.01, "bayes_factor": 0.1,
    }  # fmt: skip
    out = html.unescape(narrative.verdict_evidence(v, text))
    assert word in out and "–" not in out.split(";")[0], out
    # Where the flat null let a hinge through, a missing bursty p is not "not needed".
    v.update(hinge_p_value=0.01)
    assert word not in html.unescape(narrative.verdict_evidence(v, text))


def test_a_share_that_rounds_to_0_or_100_percent_says_less_or_more():
    from analysis.narrative.formatting import _share

    assert [_share(v) for v in (0, 1 / 409, 0.006, 0.5, 408 / 409, 1, None)] == [
        "0%", "<1%", "1%", "50%", ">99%", "100%", "–",
    ]  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_class_without_endpoint_gives_its_rate_of_all_requests(doc, lang):
    # pg_cron's 42501: no request, no endpoint; its impact row read "0.01% per request to —".
    changed = copy.deepcopy(doc)
    cls = next(c for c in changed["error_classes"] if c["rate"] is not None)
    cls.update(endpoint=None, endpoints=[], only_failures_logged=False)
    text = narrative.load_locale(lang)
    impact = html.unescape(narrative.SECTIONS["impact"](changed, text))
    row = next(line for line in impact.splitlines() if cls["key"] in line)
    said = {"en": "of all requests", "ko": "전체 요청 대비"}[lang]
    assert said in row and "to —" not in row and "— 요청당" not in row, row


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_without_gateway_requests_who_got_errors_is_unknown_not_zero(doc, lang):
    # An export without edge_logs: the impact table printed 0 error responses and 0 people.
    changed = copy.deepcopy(doc)
    changed["impact"].update(
        requests=0, error_responses=0, affected_users=0, affected_users_project=0
    )
    text = narrative.load_locale(lang)
    t = text["impact"]
    impact = html.unescape(narrative.SECTIONS["impact"](changed, text))
    for label in ("error_responses", "affected_users"):
        row = next(line for line in impact.splitlines() if line.startswith(f"| {t[label]} |"))
        assert f"| {t['no_requests']} |" in row and "| 0 |" not in row, row
    # With requests in the exports, a zero is a zero.
    changed["impact"]["requests"] = 10
    impact = html.unescape(narrative.SECTIONS["impact"](changed, text))
    assert t["no_requests"] not in impact


@pytest.mark.parametrize(
    ("lang", "said"), [("ko", "Realtime Free 요금제"), ("en", "Realtime Free plan")]
)
def test_detection_names_a_published_limit_s_tier_in_the_report_s_language(doc, lang, said):
    changed = copy.deepcopy(doc)
    start = changed["report"]["window"]["start"]
    changed["detection"]["crossings"] = [
        {"name": "Realtime Free plan", "value": 200, "rule": "viewers > 200 (Realtime Free plan)",
         "at": start, "at_window_start": True},
    ]  # fmt: skip
    page = narrative.SECTIONS["detection"](changed, narrative.load_locale(lang))
    assert said in page, page
    if lang == "ko":
        assert "Free plan" not in page, page


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_one_tier_s_limit_is_reached_at_one_number_of_registrations(doc, lang):
    # Extrapolated from each row's own N, one limit was "reached" at three different Ns.
    doc = copy.deepcopy(doc)
    projections = doc["capacity_plan"]["projections"][:1] * 3
    doc["capacity_plan"]["projections"] = projections = copy.deepcopy(projections)
    for p, n, at in zip(projections, (176, 500, 2000), (4334, 4541, 4627), strict=True):
        p["registrations"] = n
        p["realtime_plan"] = {
            "tier": "Team plan", "limit": 10000, "needed": 10000 * n / at, "headroom": 1.0,
            "registrations_at_limit": at,
        }  # fmt: skip
    page = narrative.SECTIONS["capacity_plan"](doc, narrative.load_locale(lang))
    assert page.count("4,627") == 3 and "4,334" not in page and "4,541" not in page, page


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_root_causes_without_any_verdict_say_why_instead_of_an_empty_table(doc, lang):
    # A 15-minute window (too short for the statistics) printed the table's header alone.
    text = narrative.load_locale(lang)
    t = text["causes"]
    changed = copy.deepcopy(doc)
    changed["verdicts"] = []
    causes = narrative.SECTIONS["causes"](changed, text)
    n = len(changed["error_classes"])
    assert n and t["no_verdicts"].format(n=n) in causes, causes
    assert f"| {t['class']} |" not in causes
    changed["error_classes"] = []
    assert t["no_classes"] in narrative.SECTIONS["causes"](changed, text)
    # With verdicts, the table as before.
    assert f"| {t['class']} |" in narrative.SECTIONS["causes"](doc, text)


@pytest.mark.parametrize("name", ["lag", "dose"])
def test_a_figure_with_no_tested_class_is_a_sentence_not_empty_axes(
    small_analysis, name, monkeypatch, tmp_path
):
    import IPython.display
    from IPython.display import Image, Markdown

    from analysis.narrative.figures import has_panels, show_figure

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: shown.extend(objs))
    out = type("P", (), {"output_dir": tmp_path})()
    text = narrative.load_locale("en")
    findings = {**small_analysis.findings, "associations": [], "capacity": []}
    untested = dataclasses.replace(small_analysis, findings=findings)
    assert has_panels(name, small_analysis.findings) and not has_panels(name, findings)
    show_figure(name, untested, text, out, png=b"not drawn")
    assert [type(o) for o in shown] == [Markdown]
    assert text["figures"][name]["untested"] in shown[0].data
    assert not (tmp_path / "figures").exists()
    shown.clear()
    show_figure(name, small_analysis, text, out, png=b"\x89PNG drawn")
    assert [type(o) for o in shown] == [Image, Markdown]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_concurrency_figure_claims_no_test_that_was_not_run(doc, lang):
    from analysis.narrative.figures import figure_point

    t = narrative.load_locale(lang)["figures"]["concurrency"]
    untested = {**doc, "verdicts": [], "capacity": []}
    title, _ = figure_point("concurrency", untested, narrative.load_locale(lang))
    assert title.endswith(t["point_untested"].rsplit("}", 1)[-1]), title
    tested = {**doc, "capacity": []}
    title, _ = figure_point("concurrency", tested, narrative.load_locale(lang))
    assert title.endswith(t["point_none"].rsplit("}", 1)[-1]), title


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_no_claims_section_when_the_incident_lists_no_claims(doc, lang, monkeypatch):
    import IPython.display

    text = narrative.load_locale(lang)
    changed = {**doc, "claims": []}
    assert narrative.SECTIONS["claims"](changed, text) == ""
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: shown.extend(objs))
    narrative.show("claims", changed, text)
    assert shown == []  # no empty output in the page either
    claim = {
        "number": 1, "statement": "peak 311", "figure": 311, "measures": "peak_concurrent_viewers",
        "outcome": "confirmed", "reason": "", "measured": {}, "error_class": None,
    }  # fmt: skip
    listed = narrative.SECTIONS["claims"]({**doc, "claims": [claim]}, text)
    assert listed.startswith(f"## {text['headings']['claims']}"), listed


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_realtime_never_near_its_limit_points_at_no_minutes(doc, lang):
    text = narrative.load_locale(lang)
    t = text["causes"]
    changed = _with_realtime_samples(doc)
    for v in changed["verdicts"]:
        v["signals"].update(realtime_peak_share_of_limit=0.32, realtime_saturated_minutes=0)
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    assert t["realtime_project_never"].format(peak="32") in causes, causes
    assert t["realtime_project_classes"] not in causes


@pytest.mark.parametrize("users", [0, None])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_spread_without_users_says_they_are_unknown_not_zero(doc, lang, users):
    # Sign-ins carry no user: 'at most 0 users, 2 clients' and 'at most – users' misread.
    text = narrative.load_locale(lang)
    r = text["causes"]["reasons"]
    changed = copy.deepcopy(doc)
    spread = [
        {"source": "users", "max_per_minute": users},
        {"source": "clients", "max_per_minute": 2},
        {"source": "endpoints", "max_per_minute": 1},
    ]
    for v in changed["verdicts"]:
        v["signals"] = {**(v.get("signals") or {}), "spread": spread}
    causes = html.unescape(narrative.SECTIONS["causes"](changed, text))
    units = r["spread_units"]
    said = r["spread_no_users"].format(
        clients=units["clients"][1].format(n=2), endpoints=units["endpoints"][0].format(n=1)
    )
    assert said in causes, causes
    assert r["spread"].split("{")[0] not in causes.replace(said, "")


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize(
    ("section", "field", "said"),
    [("audit", "data_quality", ("audit", "none")), ("timeline", "timeline", ("timeline", "none")),
     ("buckets", "buckets", ("audience", "no_buckets"))],
)  # fmt: skip
def test_a_section_with_nothing_to_list_says_so_instead_of_a_bare_header(
    doc, lang, section, field, said
):
    # A clean audit printed 'Severity | Finding | ...' and nothing under it.
    text = narrative.load_locale(lang)
    empty = narrative.SECTIONS[section]({**doc, field: []}, text)
    assert text[said[0]][said[1]] in empty and "|" not in empty, empty
    assert doc[field] and "|" in narrative.SECTIONS[section](doc, text)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_capacity_call_kept_by_the_first_p_alone_does_not_print_p_equals_not_drawn(lang):
    from analysis import stats

    text = narrative.load_locale(lang)
    r = text["causes"]["reasons"]
    compared = {"d": -4.96, "p_load": 0.84, "p_time": None, "first_minute": 14, "last_minute": 48}
    v = {
        "verdict": stats.CAPACITY, "decided_by": "hinge", "hinge_lr": 19.9,
        "hinge_p_value": 0.005, "hinge_p_value_bursty_null": 0.005, "load_vs_time": compared,
    }  # fmt: skip
    out = html.unescape(narrative.verdict_evidence(v, text))
    assert r["not_drawn"] not in out and "0.840" in out and "14-48" in out, out
    assert max(re.split(r"\{\w+\}", r["load_vs_time_first"]), key=len) in out, out


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_without_a_load_series_the_page_says_capacity_was_not_tested(doc, lang):
    # api_only of tests/_unseen_stack.py (stats' load_unknown verdicts): the evidence read
    # "no capacity hinge (p = –, bursty null –)" and page one "Their rate per request did not
    # rise with load", a test that never ran.
    doc = copy.deepcopy(doc)
    text = narrative.load_locale(lang)
    r = text["causes"]["reasons"]
    for v in doc["verdicts"]:
        v.update(load_unknown=True, hinge_p_value=None, hinge_p_value_bursty_null=None)
        v.update(verdict="traffic", decided_by="tests", measurement_caveat=False)
    first = doc["verdicts"][0]
    for c in doc["error_classes"]:
        c.pop("audience_reach", None)
    said = narrative.verdict_evidence(first, text)
    untested = html.unescape(said).startswith(r["hinge_untested"])
    no_hinge = r["no_hinge"].split("(")[0].strip()
    assert untested and no_hinge not in html.unescape(said), said
    # Decided by the missing load itself (a rate per viewer): its own reason, no empty numbers.
    alone = dict(first, verdict="undetermined", decided_by="load_unknown", elasticity=None)
    said = html.unescape(narrative.verdict_evidence(alone, text))
    assert said.startswith(r["hinge_untested"]) and "g = –" not in said, said
    from analysis.overview import group_causes

    doc["overview"]["causes"] = group_causes(doc)
    page = html.unescape(narrative.SECTIONS["summary"](doc, text))
    causes = text["overview"]["causes"]
    assert causes["traffic"].split(": ")[-1] not in page, page
    assert text["overview"]["no_capacity_untested"] in page, page


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_limit_that_stopped_binding_is_how_its_errors_ended(doc, lang):
    # study_fixed_5 of tests/_unseen_rooms_study.py (cap's limit_lifted): the pool was raised
    # tenfold at minute 35 while ~400 viewers stayed; the page said nothing of it.
    doc = copy.deepcopy(doc)
    text = narrative.load_locale(lang)
    cap = next(c for c in doc["capacity"] if c["verdict"] == "capacity")
    start = pd.Timestamp(doc["report"]["window"]["start"])
    at = (start + pd.Timedelta(minutes=12)).isoformat()
    last = (start + pd.Timedelta(minutes=11)).isoformat()
    cap["limit_lifted"] = {"at": at, "last_error_at": last, "viewers": 335.75, "minute": 12}
    tz = doc["report"]["display_tz"]
    page = narrative.SECTIONS["summary"](doc, text)
    ending = page[page.index(text["overview"]["ending"]) :]
    assert narrative.local_time(at, tz) in ending and "336" in ending, ending
    causes = narrative.SECTIONS["causes"](doc, text)
    lifted = text["causes"]["lifted"].format(at=narrative.local_time(at, tz))
    assert lifted in causes, causes
