"""Every number a stakeholder reads is grouped by thousands ('1,852'), in English and Korean."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import audit, narrative
from analysis.narrative import sections
from analysis.narrative.formatting import Grouped, _share

WINDOW = {"start": "2026-02-06T05:00:00Z", "end": "2026-02-06T06:00:00Z"}


@pytest.mark.parametrize(
    ("value", "spec", "shown"),
    [
        (2168, "", "2,168"),
        (2168, "d", "2,168"),
        (180.6667, ".2f", "180.67"),
        (21680.5, ".2f", "21,680.50"),
        (12.0, "g", "12"),
        (0.253, ".0%", "25%"),
        (12, ">4", "  12"),  # a format of its own is kept as written
    ],
)
def test_a_template_formats_a_grouped_number_with_separators(value, spec, shown):
    assert format(Grouped(value), spec) == shown
    assert f"{Grouped(1852)}" == "1,852"


def test_shares_above_a_thousand_percent_are_grouped():
    assert _share(23.51) == "2,351%" and _share(0.26) == "26%" and _share(None) == "–"


def _page(issue, lang: str) -> str:
    findings = {
        "report": {"display_tz": "Asia/Seoul", "window": WINDOW},
        "data_quality": [issue.to_dict()],
    }
    return sections.render_audit(findings, narrative.load_locale(lang))


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_audit_section_groups_its_numbers(lang):
    # English sentences come from the audit; Korean ones from the locale's templates, which
    # format the same fields: both must read 1,852 and 2,168, never 1852 or 2168.
    peak_ts = pd.Timestamp("2026-02-06T05:40:00Z")
    (users,) = audit.check_concurrency_vs_users(3110, peak_ts, 1410, 18520, webinar_id="w")
    starts = pd.date_range("2026-02-06T05:00Z", periods=12, freq="5min")
    buckets = pd.DataFrame(
        {"bucket_start": starts, "bucket_end": starts + pd.Timedelta("5min"), "max": 180.0}
    )
    buckets.loc[11, "max"] = 188.0  # 12 maxima summing to 2,168
    (mean,) = audit.check_mean_of_maxima(buckets, 125.0, webinar_id="w")
    for issue, grouped, raw in (
        (users, ("3,110", "1,410", "18,520"), ("3110", "1410", "18520")),
        (mean, ("2,168",), ("2168",)),
    ):
        page = _page(issue, lang)
        for number in grouped:
            assert number in page, (lang, issue.code, page)
        for number in raw:
            assert number not in page, (lang, issue.code, number)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_timeline_evidence_counts_are_grouped(lang):
    moment = {
        "kind": "first_error",
        "subject": "53300",
        "value": None,
        "description": "",
        "at": "2026-02-06T05:01:05Z",
        "evidence": {"source": "db_errors", "filter": "sql_state == '53300'", "count": 5652},
    }
    findings = {"report": {"display_tz": "Asia/Seoul", "window": WINDOW}, "timeline": [moment]}
    page = sections.render_timeline(findings, narrative.load_locale(lang))
    assert "· 5,652" in page and "5652" not in page
