"""What stakeholders read, word by word: defects found by reading reports of unseen incidents.

Unit layer: sections rendered straight from the small fixture incident's findings (conftest.py),
changed where a case needs a shape the fixture does not have.
"""

from __future__ import annotations

import copy
import html

import pytest

from analysis import narrative
from analysis.listing import summarize_row

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
