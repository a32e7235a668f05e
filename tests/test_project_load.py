"""The load tested is the project's audience when other webinars are live (tiny frames).

Logs carry no webinar id, so errors and limits are project-wide; ``project_concurrency`` adds
the live webinars' viewers minute by minute (docs/statistics.md, "The load tested").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.concurrency import (
    describe_load,
    find_webinar_share,
    minute_concurrency,
    project_concurrency,
    select_tested_samples,
)

START = pd.Timestamp("2026-03-01 10:00", tz="UTC")
END = START + pd.Timedelta("10min")


def _samples(rows):
    return pd.DataFrame(
        {
            "ts": [START + pd.Timedelta(seconds=s) for _, s, _ in rows],
            "webinar_id": [w for w, _, _ in rows],
            "viewers": np.array([v for _, _, v in rows], dtype="int64"),
        }
    )


def test_one_webinar_is_its_own_load_unchanged():
    conc = _samples([("a", 30, 10), ("a", 150, 20), ("a", 400, 15)])
    load = project_concurrency(conc, "a", START, END)
    own = minute_concurrency(conc, START, END, fill_leading=True)
    np.testing.assert_array_equal(load["concurrency"], own["concurrency"])
    np.testing.assert_array_equal(load["webinar_concurrency"], own["concurrency"])
    assert load.attrs["load_scope"] == "webinar" and load.attrs["webinars_live"] == ["a"]
    assert select_tested_samples(conc, load) is conc


def test_live_webinars_are_added_minute_by_minute():
    # "b" starts at minute 3 (0 before its first sample) and carries its last value on; each
    # webinar's minute without a sample between two sampled ones is interpolated on its own.
    conc = _samples([("a", 30, 10), ("a", 150, 20), ("b", 200, 8), ("b", 330, 12)])
    load = project_concurrency(conc, "a", START, END)
    assert load.attrs["load_scope"] == "project"
    assert load.attrs["webinars_live"] == ["a", "b"]
    own = [10, 15, 20, 20, 20, 20, 20, 20, 20, 20]
    np.testing.assert_array_equal(load["webinar_concurrency"], own)
    np.testing.assert_array_equal(load["concurrency"], [10, 15, 20, 28, 30, 32, 32, 32, 32, 32])
    # The load is measured where any live webinar was sampled.
    np.testing.assert_array_equal(load["samples"], [1, 0, 1, 1, 0, 1, 0, 0, 0, 0])
    assert describe_load(load) == {
        "scope": "project",
        "webinars": ["a", "b"],
        "peak": 32,
        "peak_ts": START + pd.Timedelta("5min"),
        "webinar_peak": 20,
        "others_peak": 12,
    }
    # K in project terms and this webinar's share of it where the load first passed K.
    assert find_webinar_share(load, 25) == 20
    assert find_webinar_share(load, 40) is None
    tested = select_tested_samples(conc, load)
    assert list(tested.columns) == ["ts", "viewers"] and tested["viewers"].max() == 32


@pytest.mark.parametrize(
    ("other", "scope"),
    [
        (("b", 200, 2), "webinar"),  # 2 of 202 at the peak: below a tenth of the range
        (("b", 200, 30), "project"),
        (("b", -600, 90), "webinar"),  # its last sample lies before the window: not live
    ],
)
def test_which_other_webinars_are_part_of_the_load(other, scope):
    conc = _samples([("a", 30, 150), ("a", 150, 200), other])
    load = project_concurrency(conc, "a", START, END)
    assert load.attrs["load_scope"] == scope
    if scope == "webinar":
        np.testing.assert_array_equal(load["concurrency"], load["webinar_concurrency"])


def test_a_webinar_without_samples_has_no_load_even_beside_others():
    conc = _samples([("b", 30, 50)])
    load = project_concurrency(conc, "a", START, END)
    assert load["concurrency"].isna().all()
    assert describe_load(load)["webinar_peak"] is None


def test_the_project_s_load_is_the_same_whichever_webinar_is_reported():
    # "b" starts at minute 3: before its first sample it had no viewer, in either report.
    conc = _samples([("a", 30, 40), ("a", 150, 50), ("b", 200, 30), ("b", 330, 35)])
    for_a = project_concurrency(conc, "a", START, END)
    for_b = project_concurrency(conc, "b", START, END)
    assert for_a.attrs["load_scope"] == for_b.attrs["load_scope"] == "project"
    np.testing.assert_array_equal(for_a["concurrency"], for_b["concurrency"])
    np.testing.assert_array_equal(for_b["webinar_concurrency"][:3], [0, 0, 0])
    assert for_b.attrs["leading_minutes_filled"] == 0
    assert find_webinar_share(for_b, 45) == 0  # the load passed 45 before "b" started
