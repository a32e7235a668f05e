"""Report text: data values stay text (no HTML, no broken tables), times shown in the zone."""

from __future__ import annotations

from analysis import narrative


def test_values_from_the_data_cannot_inject_markup():
    value = 'client #PID<0.123.0> exited | <script>alert("x")</script> *bold* _x_'
    cell = narrative.escape(value)
    assert "<" not in cell and "|" not in cell and "\n" not in narrative.escape("a\nb")
    assert narrative.code("a | b") == "`a \\| b`"  # a pipe inside a code span still splits
    table = narrative.table(["h1", "h2"], [(cell, narrative.code("x|y"))])
    assert table.splitlines()[2].count(" | ") == 1


def test_times_are_shown_in_the_display_zone_and_utc():
    at = "2026-02-06T05:40:12Z"
    assert narrative.local_time(at, "Asia/Seoul") == "14:40"
    assert narrative.utc_time(at, narrative.TIME_FORMAT_SECONDS) == "05:40:12"
    assert narrative.zone_name("Asia/Seoul", at) == "KST"
    text = narrative.load_locale("ko")
    assert narrative.local_time(None, "Asia/Seoul", text=text) == text["time_unknown"]


def test_numbers_and_p_values_are_formatted_for_readers():
    assert narrative.fmt_number(1852) == "1,852"
    assert narrative.fmt_number(None) == "–"
    assert narrative.fmt_rate(1 / 3) == "33.33%"
    assert narrative.fmt_p(0.0004) == "< 0.001" and narrative.fmt_p(0.05) == "0.050"
