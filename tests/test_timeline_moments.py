"""Key moments: spikes, drops, recoveries, error surges, first/last errors, annotations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from _timeline_data import (
    W1,
    FakeIncident,
    concurrency_frame,
    db_errors_frame,
    realtime_frame,
    requests_frame,
    ts,
)

from analysis import moments as key_moments

START, END = ts("2026-02-06 05:00"), ts("2026-02-06 05:20")


def _series(values, step_s=30, wid=W1):
    return concurrency_frame(
        [(START + pd.Timedelta(seconds=step_s * i), wid, v) for i, v in enumerate(values)]
    )


def test_level_shifts_merge_consecutive_steps():
    shifts = key_moments.detect_level_shifts(_series([200, 210, 120, 40, 45, 50, 150, 300, 290]))
    assert shifts["kind"].tolist() == ["drop", "spike"]
    drop, spike = shifts.iloc[0], shifts.iloc[1]
    assert (drop["from_value"], drop["to_value"], drop["samples"]) == (210, 40, 3)
    assert (spike["from_value"], spike["to_value"], spike["samples"]) == (50, 300, 3)
    assert spike["end_ts"] == START + pd.Timedelta(seconds=210)


def test_no_shift_in_noise():
    rng = np.random.default_rng(1)
    noise = (200 + rng.integers(-15, 15, size=60)).tolist()
    assert key_moments.detect_level_shifts(_series(noise)).empty


def test_recovery_after_drop():
    samples = _series([200, 40, 60, 170, 100])
    rec = key_moments.find_recoveries(samples, key_moments.detect_level_shifts(samples))
    assert len(rec) == 1
    assert (rec["value"].iloc[0], rec["level_before"].iloc[0]) == (170, 200)
    assert rec["samples_between"].iloc[0] == 1


def test_surges_threshold_and_runs():
    counts = np.array([0, 0, 5, 6, 0, 0, 0, 4, 0, 0, 1, 0])
    runs = key_moments.detect_surges(counts, factor=2.0, min_count=3)
    assert [(i, j, n) for i, j, n, _ in runs] == [(2, 3, 11), (7, 7, 4)]
    assert runs[0][3] == 3.0  # 2 x mean (1.33) is below the floor of 3
    assert key_moments.detect_surges(np.array([1, 2, 1, 2, 1])) == []


def _moment_incident() -> FakeIncident:
    reqs = [(START + pd.Timedelta(seconds=10 * i), "rest/registrations", 201) for i in range(120)]
    errs = [
        (START + pd.Timedelta(minutes=m, seconds=s), "23505", "registrations_pkey", "registrations")
        for m, n in [(1, 1), (6, 8), (7, 7), (12, 1)]
        for s in range(n)
    ]
    values = [200] * 10 + [40] * 10 + [210] * 20
    notes = pd.DataFrame(
        {
            "ts": pd.to_datetime([ts("2026-02-06 05:09"), pd.NaT], utc=True),
            "label": ["limits raised", "compute upgraded"],
            "note": ["by ops", None],
        }
    )
    return FakeIncident(
        requests=requests_frame(reqs),
        db_errors=db_errors_frame(errs),
        concurrency=_series(values),
        annotations=notes,
        window=(START, END),
    )


def test_key_moments_table():
    moments = key_moments.build_key_moments(_moment_incident())
    assert list(moments.columns) == key_moments.MOMENT_COLUMNS
    kinds = moments["kind"].tolist()
    for kind in (
        "first_error",
        "last_error",
        "error_surge",
        "error_surge_end",
        "peak",
        "concurrency_drop",
        "concurrency_spike",
        "concurrency_recovery",
        "annotation",
    ):
        assert kind in kinds, kind
    # chronological, unknown-time annotation last
    known = moments["ts"].dropna()
    assert known.is_monotonic_increasing
    assert moments["ts"].isna().tolist()[-1]
    # its time column says so, in the report's language; the description is the note alone
    assert "time unknown" not in moments["description"].iloc[-1]
    surge = moments[moments["kind"] == "error_surge"].iloc[0]
    assert surge["ts"] == START + pd.Timedelta(minutes=6) and surge["count"] == 15
    first = moments[moments["kind"] == "first_error"].iloc[0]
    assert first["ts"] == START + pd.Timedelta(minutes=1) and first["count"] == 17
    assert first["source"] == "db_errors" and "registrations_pkey" in first["filter"]
    drop = moments[moments["kind"] == "concurrency_drop"].iloc[0]
    assert (drop["value"], drop["count"]) == (40, 2)
    note = moments[moments["description"].str.startswith("limits raised")].iloc[0]
    assert note["ts"] == ts("2026-02-06 05:09") and note["source"] == "annotations"
    assert str(moments["ts_local"].dt.tz) == "Asia/Seoul"
    # every row carries its evidence
    assert moments["source"].str.len().gt(0).all() and moments["filter"].str.len().gt(0).all()
    assert (moments.loc[moments["kind"] != "error_surge_end", "count"] >= 1).all()


def test_key_moment_counts_can_be_recounted_from_their_filter():
    inc = _moment_incident()
    moments = key_moments.build_key_moments(inc)
    surge = moments[moments["kind"] == "error_surge"].iloc[0]
    lo = START + pd.Timedelta(minutes=6)
    hi = START + pd.Timedelta(minutes=8)
    assert f"ts in [{lo.isoformat()}, {hi.isoformat()})" in surge["filter"]
    db = inc.db_errors
    assert ((db["ts"] >= lo) & (db["ts"] < hi)).sum() == surge["count"]


def test_surges_merge_across_one_quiet_minute_only():
    runs = key_moments.detect_surges(
        np.array([5, 0, 5, 0, 0, 5, 0, 0, 0, 0]), factor=1.0, min_count=3
    )
    assert [(i, j, n) for i, j, n, _ in runs] == [(0, 2, 10), (5, 5, 5)]
    runs = key_moments.detect_surges(np.array([5, 0, 5]), factor=1.0, min_count=3, merge_gap=0)
    assert len(runs) == 2


def test_limit_change_is_a_key_moment_with_its_bracket():
    rt = realtime_frame(
        [
            (START + pd.Timedelta(minutes=1), "billing_metrics", 150, 200),
            (START + pd.Timedelta(minutes=2), "billing_metrics", 210, 200),
            (START + pd.Timedelta(minutes=9), "billing_metrics", 260, 500),
            (START + pd.Timedelta(minutes=10), "billing_metrics", 240, 500),
        ]
    )
    changes = key_moments.find_limit_changes(rt)
    assert changes[["from_limit", "to_limit", "rows_at_new"]].iloc[0].tolist() == [200, 500, 2]
    assert changes["last_old_ts"].iloc[0] == START + pd.Timedelta(minutes=2)
    moments = key_moments.build_key_moments(FakeIncident(realtime_events=rt, window=(START, END)))
    row = moments[moments["kind"] == "limit_change"].iloc[0]
    assert row["ts"] == START + pd.Timedelta(minutes=9) and row["value"] == 500
    assert row["count"] == 2 and row["source"] == "realtime_events"
    assert key_moments.find_limit_changes(rt.iloc[:2]).empty
