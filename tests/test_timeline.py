"""Timeline on tiny hand-made incidents: buckets, audience, taxonomy, matching, minute frames."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from _timeline_data import (
    W1,
    W2,
    FakeIncident,
    concurrency_frame,
    db_errors_frame,
    realtime_frame,
    registrations_frame,
    requests_frame,
    sessions_frame,
    ts,
)

from analysis import concurrency, error_classes, matching, traffic
from analysis import timeline as tl
from analysis.exceptions import TimelineError

START, END = ts("2026-02-06 05:00"), ts("2026-02-06 05:15")


# ---------------------------------------------------------------------------- buckets


def test_buckets_are_half_open_and_edge_samples_go_right():
    conc = concurrency_frame(
        [
            ("2026-02-06 05:00:00", W1, 10),  # on the window start: first bucket
            ("2026-02-06 05:04:59.999999", W1, 30),  # last instant of the first bucket
            ("2026-02-06 05:05:00", W1, 50),  # exactly on an edge: second bucket
            ("2026-02-06 05:15:00", W1, 99),  # on the window end: outside
        ]
    )
    b = concurrency.bucket_concurrency(conc, START, END, size="5min", display_tz="UTC")
    assert list(b["samples"]) == [2, 1, 0]
    assert list(b["max"].astype("float")[:2]) == [30, 50]
    assert list(b["min"].astype("float")[:2]) == [10, 50]
    assert b["max"].isna().tolist() == [False, False, True]
    assert b["max_ts"].iloc[1] == ts("2026-02-06 05:05:00")
    assert list(b["label_local"]) == ["05:00–05:05", "05:05–05:10", "05:10–05:15"]


def test_empty_bucket_keeps_carried_mean_but_no_max():
    conc = concurrency_frame([("2026-02-06 05:00:00", W1, 10), ("2026-02-06 05:02:30", W1, 20)])
    b = concurrency.bucket_concurrency(conc, START, END, display_tz="UTC")
    # 150 s at 10 then 150 s at 20
    assert b["mean_tw"].iloc[0] == pytest.approx(15.0)
    assert b["samples"].iloc[1] == 0 and pd.isna(b["max"].iloc[1])
    assert b["mean_tw"].iloc[1] == pytest.approx(20.0)
    assert b["covered_s"].tolist() == [300.0, 300.0, 300.0]


def test_time_before_first_sample_is_not_covered():
    conc = concurrency_frame([("2026-02-06 05:01:00", W1, 40)])
    b = concurrency.bucket_concurrency(conc, START, END, display_tz="UTC")
    assert b["covered_s"].iloc[0] == pytest.approx(240.0)
    assert b["mean_tw"].iloc[0] == pytest.approx(40.0)


def test_sample_before_window_carries_into_first_bucket_but_is_not_counted():
    conc = concurrency_frame([("2026-02-06 04:59:00", W1, 8), ("2026-02-06 05:03:00", W1, 20)])
    b = concurrency.bucket_concurrency(conc, START, END, display_tz="UTC")
    assert b["samples"].iloc[0] == 1 and b["max"].iloc[0] == 20
    assert b["mean_tw"].iloc[0] == pytest.approx((180 * 8 + 120 * 20) / 300)


def test_window_crossing_midnight_utc():
    start, end = ts("2026-02-06 23:55"), ts("2026-02-07 00:10")
    conc = concurrency_frame(
        [
            ("2026-02-06 23:59:59", W1, 5),
            ("2026-02-07 00:00:00", W1, 7),
            ("2026-02-07 00:07:00", W1, 3),
        ]
    )
    b = concurrency.bucket_concurrency(conc, start, end, display_tz="UTC")
    assert list(b["samples"]) == [1, 1, 1]
    assert list(b["label_local"]) == ["23:55–00:00", "00:00–00:05", "00:05–00:10"]
    kst = concurrency.bucket_concurrency(conc, start, end, display_tz="Asia/Seoul")
    assert list(kst["label_local"]) == ["08:55–09:00", "09:00–09:05", "09:05–09:10"]
    assert str(kst["bucket_start_local"].dt.tz) == "Asia/Seoul"
    assert str(kst["bucket_start"].dt.tz) == "UTC"
    assert kst["bucket_start_local"].iloc[1].day == 7


def test_any_bucket_size_and_partial_last_bucket():
    conc = concurrency_frame([(f"2026-02-06 05:{m:02d}:30", W1, m) for m in range(12)])
    b = concurrency.bucket_concurrency(
        conc, START, ts("2026-02-06 05:12"), size="5min", display_tz="UTC"
    )
    assert len(b) == 3 and b["bucket_end"].iloc[-1] == ts("2026-02-06 05:12")
    assert list(b["samples"]) == [5, 5, 2]
    one = concurrency.bucket_concurrency(
        conc, START, ts("2026-02-06 05:12"), size="1min", display_tz="UTC"
    )
    assert len(one) == 12 and (one["samples"] == 1).all()
    assert list(one["max"].astype(int)) == list(range(12))


def test_webinar_filter_in_buckets():
    conc = concurrency_frame([("2026-02-06 05:01", W1, 10), ("2026-02-06 05:01", W2, 99)])
    b = concurrency.bucket_concurrency(conc, START, END, webinar_id=W1, display_tz="UTC")
    assert b["max"].iloc[0] == 10 and b["samples"].sum() == 1


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"size": "0min"}, "positive"),
        ({"size": "soon"}, "duration"),
        ({"display_tz": "Mars/Olympus"}, "IANA"),
    ],
)
def test_bad_parameters_raise_one_line(kwargs, text):
    conc = concurrency_frame([("2026-02-06 05:01", W1, 10)])
    with pytest.raises(TimelineError, match=text):
        concurrency.bucket_concurrency(conc, START, END, **kwargs)


def test_naive_and_reversed_windows_are_refused():
    conc = concurrency_frame([])
    with pytest.raises(TimelineError, match="tz-aware"):
        concurrency.bucket_concurrency(conc, pd.Timestamp("2026-02-06 05:00"), END)
    with pytest.raises(TimelineError, match="end after start"):
        concurrency.bucket_concurrency(conc, END, START)


# ---------------------------------------------------------------------------- audience


def _audience_incident() -> FakeIncident:
    conc = concurrency_frame(
        [
            ("2026-02-06 05:00:00", W1, 4),
            ("2026-02-06 05:06:00", W1, 9),
            ("2026-02-06 05:07:00", W1, 9),  # tie: the first 9 is the peak
            ("2026-02-06 05:11:00", W1, 2),
            ("2026-02-06 05:02:00", W2, 1),
        ]
    )
    sessions = sessions_frame(
        [
            (W1, "u_a", "2026-02-06 04:50", None),
            (W1, "u_a", "2026-02-06 05:01", "2026-02-06 05:03"),  # second tab, same person
            (W1, "u_b", "2026-02-06 05:05", None),
            (W1, "u_c", "2026-02-06 04:00", "2026-02-06 04:30"),  # left before the window
            (W1, "u_d", "2026-02-06 05:20", None),  # joined after the window
            (W2, "u_z", "2026-02-06 05:02", None),
        ]
    )
    regs = registrations_frame(
        [
            ("2026-02-01 10:00", W1, "u_a"),
            ("2026-02-06 05:03", W1, "u_b"),
            ("2026-02-06 05:04", W2, "u_z"),
        ]
    )
    return FakeIncident(
        concurrency=conc,
        sessions=sessions,
        registrations=regs,
        window=(START, END),
    )


def test_audience_figures():
    a = concurrency.summarize_audience(_audience_incident(), W1)
    assert (a.peak, a.peak_ts) == (9, ts("2026-02-06 05:06:00"))
    assert a.samples == 4
    assert a.unique_users == 2 and a.sessions == 3
    assert a.registrations == 2 and a.registrations_in_window == 1
    assert a.sum_of_bucket_maxima == 4 + 9 + 2 and a.buckets_with_samples == 3
    assert a.mean_of_bucket_maxima == pytest.approx(15 / 3)
    expected_tw = (360 * 4 + 60 * 9 + 240 * 9 + 240 * 2) / 900
    assert a.time_weighted_mean == pytest.approx(expected_tw)
    d = a.to_dict()
    json.dumps(d)
    assert d["peak_ts"] == "2026-02-06T05:06:00+00:00"
    assert d["peak_ts_local"] == "2026-02-06T14:06:00+09:00"


def test_audience_for_a_sub_window():
    a = concurrency.summarize_audience(
        _audience_incident(), W1, start="2026-02-06T05:10:00Z", end="2026-02-06T05:15:00Z"
    )
    assert (a.peak, a.samples, a.unique_users) == (2, 1, 2)


def test_totals_across_webinars():
    t = concurrency.summarize_totals(_audience_incident(), busiest=1)
    assert (t.peak, t.peak_webinar_id) == (9, W1)
    assert t.unique_users == 3 and t.registrations == 3
    assert t.busiest_buckets == ("14:05–14:10",)
    json.dumps(t.to_dict())


def _accounting(*kinds: str) -> pd.DataFrame:
    rows = [(f"tables/{k}.csv", k, 0, 0, 0, "") for k in kinds]
    return pd.DataFrame(rows, columns=["file", "kind", "read", "accepted", "rejected", "reason"])


def test_registrations_not_exported_are_unknown_not_zero():
    # A shop exports sessions but no registrations table: its sign-ups are unknown, not 0.
    inc = dataclasses.replace(
        _audience_incident(),
        registrations=registrations_frame([]),
        accounting=_accounting("webinar_live_presence", "webinar_viewer_counts"),
    )
    a = concurrency.summarize_audience(inc, W1)
    assert (a.registrations, a.registrations_in_window) == (None, None)
    assert a.to_dict()["registrations"] is None
    assert concurrency.summarize_totals(inc).registrations is None
    assert concurrency.tabulate_webinars(inc)["registrations"].isna().all()
    # The table exported with no row is a count: zero.
    empty = dataclasses.replace(inc, accounting=_accounting("registrations", "webinars"))
    assert concurrency.summarize_audience(empty, W1).registrations == 0
    assert concurrency.summarize_totals(empty).registrations == 0


def test_unknown_webinar_lists_the_known_ones():
    with pytest.raises(TimelineError, match=W1):
        concurrency.summarize_audience(_audience_incident(), "nope")


# ---------------------------------------------------------------------------- taxonomy


def _error_incident() -> FakeIncident:
    reqs = [(f"2026-02-06 05:{m:02d}:00", "rest/registrations", 201) for m in range(10)]
    reqs += [(f"2026-02-06 05:{m:02d}:10", "rest/profiles", 200) for m in range(10)]
    reqs += [
        ("2026-02-06 05:01:00.300", "rest/registrations", 409),
        ("2026-02-06 05:01:05", "rest/registrations", 409),  # no 23505 within 1 s
        ("2026-02-06 05:02:00.100", "rest/profiles", 400),
        ("2026-02-06 05:03:00", "realtime/websocket", 101),
    ]
    errors = [
        ("2026-02-06 05:01:00.200", "23505", "registrations_pkey", "registrations"),
        ("2026-02-06 05:01:30", "23505", "registrations_pkey", "registrations"),  # unmatched
        ("2026-02-06 05:02:00", "42703", None, None),  # endpoint found through the 400
        ("2026-02-06 05:04:00", "23505", "uq_stats_key", "stats_daily"),  # no such endpoint
    ]
    rt = [
        ("2026-02-06 05:03:10", "disconnect"),
        ("2026-02-06 05:03:20", "disconnect"),
        ("2026-02-06 05:03:25", "billing_metrics"),
    ]
    return FakeIncident(
        requests=requests_frame(reqs),
        db_errors=db_errors_frame(errors),
        realtime_events=realtime_frame(rt),
        concurrency=concurrency_frame([("2026-02-06 05:00:30", W1, 10)]),
        window=(START, END),
    )


def test_error_classes_and_their_endpoints():
    classes = {c.key: c for c in error_classes.define_error_classes(_error_incident())}
    assert set(classes) == {
        "23505:registrations_pkey",
        "42703",
        "23505:uq_stats_key",
        "realtime:disconnect",
    }
    pk = classes["23505:registrations_pkey"]
    assert (pk.endpoint, pk.endpoint_basis, pk.http_status, pk.count) == (
        "rest/registrations",
        "relation",
        409,
        2,
    )
    assert (classes["42703"].endpoint, classes["42703"].endpoint_basis) == (
        "rest/profiles",
        "matched",
    )
    assert classes["23505:uq_stats_key"].endpoint is None
    assert classes["realtime:disconnect"].endpoint == "realtime/websocket"
    json.dumps([c.to_dict() for c in classes.values()])


def test_db_taxonomy_table():
    table = error_classes.tabulate_db_errors(_error_incident().db_errors)
    row = table[table["error_class"] == "23505:registrations_pkey"].iloc[0]
    assert row["count"] == 2 and row["http_status"] == 409 and row["sql_state_class"] == "23"
    assert table["count"].sum() == 4


def test_realtime_taxonomy_table():
    table = error_classes.tabulate_realtime(_error_incident().realtime_events)
    counts = dict(zip(table["family"], table["count"], strict=True))
    assert counts == {"disconnect": 2, "billing_metrics": 1}
    assert table.loc[table["family"] == "billing_metrics", "error_class"].isna().all()


def test_match_nearest_is_one_to_one_and_nearest_first():
    # a0 has nothing within 5; a1 ties between 9 and 11 (lower index wins); a2 is 9 from 11
    assert matching.match_nearest(np.array([0, 10, 20]), np.array([9, 11, 100]), 5) == [(1, 0)]
    assert matching.match_nearest(np.array([10]), np.array([8, 11]), 5) == [(0, 1)]
    assert sorted(matching.match_nearest(np.array([10, 12]), np.array([11, 13]), 5)) == [
        (0, 0),
        (1, 1),
    ]
    assert matching.match_nearest(np.array([0]), np.array([], dtype="int64"), 5) == []


def _greedy_nearest(a_ns, b_ns, tol_ns):
    """The plain greedy pass: candidates by (distance, i, j), each taken if both are free."""
    cand = sorted(
        (abs(int(a) - int(b)), i, j)
        for i, a in enumerate(a_ns)
        for j, b in enumerate(b_ns)
        if abs(int(a) - int(b)) <= tol_ns
    )
    used_a, used_b, pairs = set(), set(), []
    for _, i, j in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


@pytest.mark.parametrize("seed", range(12))
def test_match_nearest_takes_the_pairs_of_the_plain_greedy_pass(seed):
    # Dense clusters and exact ties, where one error has many candidates (a big incident).
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 60, rng.integers(1, 80))
    b = np.sort(rng.integers(0, 60, rng.integers(1, 80)))
    tol = int(rng.integers(0, 12))
    assert matching.match_nearest(a, b, tol) == _greedy_nearest(a, b, tol)


def test_409_matched_to_23505_with_unmatched_on_both_sides():
    inc = _error_incident()
    classes = error_classes.define_error_classes(inc)
    pairs = matching.match_http_to_db(inc, classes, tolerance="1s")
    pk = pairs[pairs["error_class"] == "23505:registrations_pkey"]
    assert len(pk) == 1
    assert pk["offset_s"].iloc[0] == pytest.approx(0.1)
    summary = matching.summarize_matches(inc, classes, pairs)
    on_registrations = summary["endpoints"].map(lambda e: e == ("rest/registrations",))
    row = summary[on_registrations & (summary["status"] == 409)]
    assert row[["db_errors", "requests", "matched", "unmatched_db", "unmatched_requests"]].iloc[
        0
    ].tolist() == [2, 2, 1, 1, 1]
    wide = matching.match_http_to_db(inc, classes, tolerance="60s")
    assert (wide["error_class"] == "23505:registrations_pkey").sum() == 2


@pytest.mark.parametrize("tolerance", ["1s", "60s"])
def test_classes_come_with_the_pairs_they_were_found_from(tolerance):
    # One pairing per timeline: the pairs that placed the classes are the audit's pairs.
    inc = _error_incident()
    classes, pairs = error_classes.find_error_classes(inc, tolerance=tolerance)
    assert classes == error_classes.define_error_classes(inc, tolerance=tolerance)
    want = matching.match_http_to_db(inc, classes, tolerance=tolerance)
    assert len(pairs) > 0
    pd.testing.assert_frame_equal(pairs, want)


def test_an_incident_without_database_errors_has_no_pairs():
    inc = _error_incident()
    inc = dataclasses.replace(inc, db_errors=inc.db_errors.iloc[0:0])
    classes, pairs = error_classes.find_error_classes(inc)
    assert all(c.source != "db_errors" for c in classes)
    assert pairs.empty and list(pairs.columns) == list(matching.PAIR_COLUMNS)


def _multi_endpoint_incident() -> FakeIncident:
    """A 53300 answered with 503 on three endpoints, the busiest of them the least hit."""
    reqs = []
    for m in range(10):
        reqs += [(f"2026-02-06 05:{m:02d}:0{i}", "rest/questions", 200) for i in range(4)]
        reqs += [(f"2026-02-06 05:{m:02d}:1{i}", "rest/profiles", 200) for i in range(2)]
        reqs += [(f"2026-02-06 05:{m:02d}:20", "rest/sessions", 200)]
        reqs += [(f"2026-02-06 05:{m:02d}:30", "rest/unrelated", 200)]
    errors, endpoints = [], ["rest/sessions", "rest/questions", "rest/profiles"]
    for m in range(2, 8):
        for i, endpoint in enumerate(endpoints[: 1 + m % 3]):
            at = f"2026-02-06 05:{m:02d}:4{i}"
            errors.append((at, "53300", None, None))
            reqs.append((at[:-2] + f"4{i}.008", endpoint, 503))
    return FakeIncident(
        requests=requests_frame(reqs), db_errors=db_errors_frame(errors), window=(START, END)
    )


def test_a_class_on_several_endpoints_counts_all_of_them():
    inc = _multi_endpoint_incident()
    (cls,) = error_classes.define_error_classes(inc)
    assert cls.key == "53300" and cls.endpoint_basis == "matched"
    # Paired 503s: 6 on sessions, 4 on questions, 2 on profiles; never on rest/unrelated.
    assert cls.endpoints == ("rest/sessions", "rest/questions", "rest/profiles")
    assert cls.endpoint == "rest/sessions"
    errors, requests = error_classes.count_class_per_minute(inc, cls, START, END)
    req = inc.requests
    mine = req[req["endpoint"].isin(cls.endpoints)]
    assert requests.sum() == len(mine) and errors.sum() == cls.count == 12
    # Summed over the three endpoints the rate stays below one in every minute; over the
    # modal endpoint alone (one 200 and up to three 503s a minute) it would not.
    assert (errors <= requests).all()
    only_modal = (req["endpoint"] == "rest/sessions").groupby(req["ts"].dt.minute).sum()
    assert (errors[2:8] > only_modal.to_numpy()[2:8] / 2).any()


def test_a_class_on_several_endpoints_pairs_on_all_of_them():
    inc = _multi_endpoint_incident()
    classes = error_classes.define_error_classes(inc)
    pairs = matching.match_http_to_db(inc, classes)
    assert len(pairs) == 12 and set(pairs["endpoint"]) == set(classes[0].endpoints)
    assert pairs["offset_s"].abs().max() < 0.01
    summary = matching.summarize_matches(inc, classes, pairs)
    assert summary[["matched", "unmatched_db", "unmatched_requests"]].iloc[0].tolist() == [
        12,
        0,
        0,
    ]
    assert summary["endpoints"].iloc[0] == ("rest/profiles", "rest/questions", "rest/sessions")


def test_a_hybrid_directory_counts_the_same_endpoints_from_the_log_store_s_traffic():
    # A hybrid fetch keeps only the error rows; the log store counted the rest per minute.
    raw = _multi_endpoint_incident()
    table = traffic.aggregate_requests(raw.requests, source=traffic.LOG_STORE_SOURCE)

    @dataclasses.dataclass(frozen=True)
    class HybridIncident(FakeIncident):
        traffic: pd.DataFrame = None

    hybrid = HybridIncident(
        requests=raw.requests[raw.requests["status"] >= 400].reset_index(drop=True),
        db_errors=raw.db_errors,
        window=raw.window,
        traffic=table,
    )
    (a,) = error_classes.define_error_classes(raw)
    (b,) = error_classes.define_error_classes(hybrid)
    assert a.endpoints == b.endpoints and len(b.endpoints) == 3
    _, from_rows = error_classes.count_class_per_minute(raw, a, START, END)
    _, from_store = error_classes.count_class_per_minute(hybrid, b, START, END)
    assert from_rows.tolist() == from_store.tolist() and from_store.sum() > b.count
    # Inside a minute only raw rows can be counted, and a hybrid directory has none but errors.
    with pytest.raises(TimelineError, match="whole minute"):
        error_classes.count_class_per_minute(hybrid, b, START + pd.Timedelta("30s"), END)


def test_classes_of_one_status_compete_and_a_named_table_is_paired_there_first():
    # Two 409 classes at the same instant: the one naming its table takes that table's 409,
    # the other the 409 elsewhere, although the first is nearer to the other's response.
    reqs = [
        ("2026-02-06 05:01:00.010", "rest/rpc/book", 409),
        ("2026-02-06 05:01:00.030", "rest/registrations", 409),
        ("2026-02-06 05:02:00", "rest/registrations", 201),
    ]
    errors = [
        ("2026-02-06 05:01:00.000", "23505", "registrations_pkey", "registrations"),
        ("2026-02-06 05:01:00.005", "23505", "seats_key", None),
    ]
    inc = FakeIncident(
        requests=requests_frame(reqs), db_errors=db_errors_frame(errors), window=(START, END)
    )
    classes = {c.key: c for c in error_classes.define_error_classes(inc)}
    pk, seats = classes["23505:registrations_pkey"], classes["23505:seats_key"]
    assert (pk.endpoint_basis, pk.endpoints) == ("relation", ("rest/registrations",))
    assert (seats.endpoint_basis, seats.endpoints) == ("matched", ("rest/rpc/book",))
    pairs = matching.match_http_to_db(inc, tuple(classes.values()))
    assert dict(zip(pairs["error_class"], pairs["endpoint"], strict=True)) == {
        "23505:registrations_pkey": "rest/registrations",
        "23505:seats_key": "rest/rpc/book",
    }


def test_a_class_paired_nowhere_has_all_requests_as_denominator():
    reqs = [("2026-02-06 05:01:00", "rest/a", 200), ("2026-02-06 05:01:10", "rest/b", 200)]
    inc = FakeIncident(
        requests=requests_frame(reqs),
        db_errors=db_errors_frame([("2026-02-06 05:01:30", "53300", None, None)]),
        window=(START, END),
    )
    (cls,) = error_classes.define_error_classes(inc)
    assert (cls.endpoint, cls.endpoints, cls.endpoint_basis) == (None, (), "none")
    _, requests = error_classes.count_class_per_minute(inc, cls, START, END)
    assert requests.sum() == 2
    assert matching.summarize_matches(inc, (cls,), matching.match_http_to_db(inc, (cls,))).empty


def test_http_status_table_is_explained():
    inc = _error_incident()
    pairs = matching.match_http_to_db(inc, error_classes.define_error_classes(inc))
    table = matching.tabulate_http_status(inc.requests, pairs)
    row = table[(table["endpoint"] == "rest/registrations") & (table["status"] == 409)].iloc[0]
    assert row["requests"] == 2 and row["matched_db_errors"] == 1
    assert row["explained_by"] == "23505:registrations_pkey=1"
    assert "23505" in row["postgrest_meaning"]
    assert table.groupby("endpoint")["share"].sum().round(9).eq(1).all()


# ---------------------------------------------------------------------------- minute frames


def test_minute_frame_contract_columns_and_counts():
    inc = _error_incident()
    frame = tl.build_minute_frame(inc, W1, "23505:registrations_pkey")
    assert list(frame.columns[:5]) == ["minute", "requests", "errors", "concurrency", "samples"]
    assert len(frame) == 15 and frame["minute"].iloc[0] == START
    assert str(frame["minute"].dt.tz) == "UTC"
    assert frame["errors"].sum() == 2 and frame.loc[1, "errors"] == 2
    # requests to rest/registrations: one 201 per minute for 10 minutes + two 409s in minute 1
    assert frame.loc[1, "requests"] == 3 and frame["requests"].sum() == 12
    assert frame.loc[1, "rate"] == pytest.approx(2 / 3)
    assert np.isnan(frame.loc[12, "rate"])
    assert frame.attrs["endpoint"] == "rest/registrations"
    # one sample in minute 0, carried forward afterwards; samples keeps the gap visible
    assert frame["concurrency"].tolist() == [10.0] * 15
    assert frame["samples"].tolist() == [1] + [0] * 14


def test_minute_concurrency_takes_max_and_carries_last_value():
    conc = concurrency_frame(
        [
            ("2026-02-06 05:00:10", W1, 5),
            ("2026-02-06 05:00:40", W1, 9),
            ("2026-02-06 05:00:50", W1, 3),
            ("2026-02-06 05:03:00", W1, 7),
        ]
    )
    m = concurrency.minute_concurrency(conc, START, ts("2026-02-06 05:05"))
    assert m["concurrency"].tolist() == [9.0, 3.0, 3.0, 7.0, 7.0]
    assert m["samples"].tolist() == [3, 0, 0, 1, 0]
    before = concurrency.minute_concurrency(conc, ts("2026-02-06 04:58"), ts("2026-02-06 05:01"))
    assert np.isnan(before["concurrency"].iloc[0]) and before["concurrency"].iloc[2] == 9.0


def test_a_room_presence_says_emptied_reads_zero_after_its_monitor_stopped():
    # W2's monitor stops with its webinar at 05:06 (last count 8); presence says its last
    # viewer left at 05:06:40. Carrying 8 on would be load that nobody made.
    conc = concurrency_frame(
        [("2026-02-06 05:00:10", W1, 5), ("2026-02-06 05:09:00", W1, 5)]
        + [(f"2026-02-06 05:0{m}:30", W2, 8) for m in range(1, 6)]
    )
    sessions = sessions_frame(
        [(W1, "a", "2026-02-06 04:59", None)]
        + [
            (W2, u, "2026-02-06 05:01", f"2026-02-06 05:06:{10 * i:02d}")
            for i, u in enumerate("bcde")
        ]
    )
    stale = concurrency.project_concurrency(conc, W1, START, ts("2026-02-06 05:10"))
    read = concurrency.project_concurrency(conc, W1, START, ts("2026-02-06 05:10"), sessions)
    assert stale["concurrency"].tolist()[6:] == [13.0] * 4
    # 05:06 keeps 8 (the room was still full at its start); from 05:07 on nobody is left.
    assert read["concurrency"].tolist() == [5.0] + [13.0] * 6 + [5.0] * 3
    # A room with one session still open (left_at empty) never emptied: its count is carried.
    still = sessions_frame(
        [(W2, "f", "2026-02-06 05:01", None), (W2, "g", "2026-02-06 05:01", "2026-02-06 05:02")]
    )
    assert concurrency.find_room_emptied(still, W2) is None
    kept = concurrency.project_concurrency(conc, W1, START, ts("2026-02-06 05:10"), still)
    assert kept["concurrency"].tolist() == stale["concurrency"].tolist()
    # Its own webinar's minutes after the room emptied read 0 too (the webinar's scope).
    own = concurrency.minute_concurrency(
        concurrency.select_webinar(conc, W2),
        START,
        ts("2026-02-06 05:10"),
        emptied_at=concurrency.find_room_emptied(sessions, W2),
    )
    assert own["concurrency"].tolist()[5:] == [8.0, 8.0, 0.0, 0.0, 0.0]


def test_minute_frame_for_realtime_and_denominatorless_classes():
    inc = _error_incident()
    rt = tl.build_minute_frame(inc, W1, "realtime:disconnect")
    assert rt["errors"].sum() == 2 and rt["requests"].sum() == 1
    orphan = tl.build_minute_frame(inc, W1, "23505:uq_stats_key")
    assert orphan.attrs["endpoint"] is None
    assert orphan["requests"].sum() == len(inc.requests)


def test_minute_frame_unknown_class():
    with pytest.raises(TimelineError, match="23505:registrations_pkey"):
        tl.build_minute_frame(_error_incident(), W1, "99999")


def test_error_minutes_long_table():
    inc = _error_incident()
    long = tl.tabulate_error_minutes(inc)
    assert len(long) == 15 * 4
    assert str(long["minute_local"].dt.tz) == "Asia/Seoul"
    per_class = long.groupby("error_class")["errors"].sum().to_dict()
    assert per_class["23505:registrations_pkey"] == 2 and per_class["realtime:disconnect"] == 2
    # Each row names its class's denominator as the list of endpoints, never a joined string.
    classes = {c.key: c.endpoints for c in error_classes.define_error_classes(inc)}
    assert all(e == classes[k] for k, e in zip(long["error_class"], long["endpoints"], strict=True))


def test_minute_frame_fills_minutes_before_the_first_sample_and_says_so():
    inc = FakeIncident(
        requests=_error_incident().requests,
        db_errors=_error_incident().db_errors,
        concurrency=concurrency_frame(
            [("2026-02-06 05:03:30", W1, 6), ("2026-02-06 05:08", W1, 2)]
        ),
        window=(START, END),
    )
    frame = tl.build_minute_frame(inc, W1, "42703")
    assert frame["concurrency"].tolist()[:9] == [6.0] * 8 + [2.0]
    assert frame.attrs["leading_minutes_filled"] == 3
    assert frame["samples"].tolist()[:4] == [0, 0, 0, 1]
    raw = concurrency.minute_concurrency(inc.concurrency, START, END)
    assert np.isnan(raw["concurrency"].iloc[:3]).all() and raw.attrs["leading_minutes_filled"] == 0


def test_db_error_without_sqlstate_keeps_its_own_class():
    errs = db_errors_frame(
        [("2026-02-06 05:01", None, None, None), ("2026-02-06 05:02", "42703", None, None)]
    )
    inc = FakeIncident(requests=_error_incident().requests, db_errors=errs, window=(START, END))
    classes = {c.key: c for c in error_classes.define_error_classes(inc)}
    assert classes["unknown"].count == 1 and classes["unknown"].http_status is None
    assert classes["unknown"].filter.startswith("sql_state is null")
    table = error_classes.tabulate_db_errors(errs)
    assert table["count"].sum() == 2
    pairs = matching.match_http_to_db(inc, tuple(classes.values()))
    assert pairs.empty or "unknown" not in set(pairs["error_class"])


def test_pooled_webinars_have_no_time_weighted_mean():
    conc = concurrency_frame([("2026-02-06 05:01", W1, 10), ("2026-02-06 05:02", W2, 99)])
    b = concurrency.bucket_concurrency(conc, START, END, display_tz="UTC")
    assert b["max"].iloc[0] == 99 and b["samples"].iloc[0] == 2
    assert b["mean_tw"].isna().all()
