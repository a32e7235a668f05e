"""What a verdict's words measure: the latency note's one-sided test, a rate's unit."""

from __future__ import annotations

import pytest

from analysis import narrative
from analysis.narrative.causes import _latency_note


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_falling_latency_gets_no_one_sided_p_value(lang):
    # fanout_bell's page printed "rank correlation of latency with load -0.81 (p = 0.948)":
    # a one-sided p-value (latency rising with load) beside a falling correlation.
    r = narrative.load_locale(lang)["causes"]["reasons"]
    falling = {"latency_ratio": 0.9, "latency_load_rho": -0.81, "latency_load_p_value": 0.948}
    note = _latency_note(falling, r)
    assert "0.948" not in note and "-0.81" in note.replace("−", "-")
    assert note == r["latency_not_rising"].format(ratio="0.90", rho="-0.81")
    rising = {"latency_ratio": 2.5, "latency_load_rho": 0.62, "latency_load_p_value": 0.004}
    said = _latency_note(rising, r)
    assert "0.004" in said and said == r["latency"].format(ratio="2.50", rho="0.62", p="0.004")
    words = {"en": "one-sided", "ko": "단측"}[lang]
    assert words in said and words not in note
    flat = {"latency_ratio": 1.0, "latency_load_rho": None, "latency_load_p_value": None}
    assert _latency_note(flat, r) == r["latency_ratio"].format(ratio="1.00")


def test_a_set_aside_window_s_rate_is_told_in_its_denominator_s_unit():
    # outage_storm's join storm: 1.78 refusals per concurrent viewer and minute inside the
    # window; the verdict's reason said "177.67 % of the exposure failing inside".
    from analysis.stats.verdicts import PER_REQUEST, PER_VIEWER, describe_set_aside

    aside = {
        "kind": "follows_time",
        "d": -3.2,
        "first_minute": 32,
        "last_minute": 35,
        "share_inside": 1.7767,
        "share_outside": 0.0026,
        "p_load": 0.001,
        "p_time": 0.4,
    }
    viewers = describe_set_aside(aside, PER_VIEWER)
    assert "1.78 errors per concurrent viewer and minute inside, 0.0026 outside" in viewers
    assert "%" not in viewers and "exposure" not in viewers
    requests = describe_set_aside({**aside, "share_inside": 0.3}, PER_REQUEST)
    assert "0.3 errors per request inside" in requests
