"""The Korean page in Korean: sentences around identifiers, identifiers as they are.

Unit layer: sections rendered from the small fixture incident's findings (conftest.py).
"""

from __future__ import annotations

import html
import re

import pytest

from analysis import naming, narrative

#: Three or more lower-case English words in a row: prose, not an identifier (identifiers
#: carry underscores, dots or digits and stay inside their code elements).
ENGLISH_PROSE = re.compile(r"(?<![\w.'])[a-z]{2,}(?: [a-z]{2,}){2,}(?![\w.])")


def _prose(section: str) -> list[str]:
    """English word runs of a rendered section, outside its code elements."""
    text = re.sub(r"<code>.*?</code>", " ", section)
    return ENGLISH_PROSE.findall(html.unescape(text))


@pytest.fixture(scope="module")
def doc(small_analysis) -> dict:
    return small_analysis.findings


@pytest.mark.parametrize("section", ["summary", "impact", "causes", "detection", "actions"])
def test_the_korean_sections_hold_no_english_sentences(doc, section):
    got = _prose(narrative.SECTIONS[section](doc, narrative.load_locale("ko")))
    assert got == [], got


def test_the_impact_table_says_who_got_errors_in_the_report_s_language(doc):
    for lang in ("en", "ko"):
        text = narrative.load_locale(lang)
        impact = narrative.SECTIONS["impact"](doc, text)
        for key in ("affected_users_evidence", "affected_users_project_evidence"):
            said = text["impact"][key].format(status=narrative.code("status >= 400"))
            assert said in impact, (lang, key, impact)


def test_a_korean_class_name_keeps_the_table_s_identifier_as_it_is():
    cls = {
        "key": "23505:uq_marketing_stats_daily_key",
        "sql_state": "23505",
        "constraint": "uq_marketing_stats_daily_key",
        "endpoint": "rest/marketing_stats_daily",
    }
    names = naming.name_in_languages(cls)
    assert names["ko"] == "marketing_stats_daily 중복 저장 시도", names
    # English reads the identifier as words, as it always did.
    assert names["en"] == "Duplicate insert into marketing stats daily", names
    assert (
        naming.name_in_languages({"key": "realtime:odd_thing", "family": "odd_thing"})["ko"]
        == "Realtime odd_thing 오류"
    )
