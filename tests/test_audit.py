"""Data-quality audit: each check on a crafted frame where it must fire and where it must not."""

from __future__ import annotations

import html
import json

import pandas as pd
import pytest
from _timeline_data import (
    W1,
    FakeIncident,
    concurrency_frame,
    db_errors_frame,
    realtime_frame,
    requests_frame,
    sessions_frame,
    ts,
)

from analysis import audit, concurrency, window
from analysis import timeline as tl

START, END = ts("2026-02-06 05:00"), ts("2026-02-06 06:00")


def _regular(step_s=15, start=START, end=END, value=100, skip=None):
    """Sample every ``step_s`` s; in the ``skip`` stretch keep one sample per 5 min."""
    rows, t = [], start
    while t < end:
        starved = skip is not None and skip[0] <= t < skip[1]
        if not starved or (t - skip[0]) % pd.Timedelta(minutes=5) == pd.Timedelta(0):
            rows.append((t, W1, value))
        t += pd.Timedelta(seconds=step_s)
    return concurrency_frame(rows)


STARVED = (ts("2026-02-06 05:15"), ts("2026-02-06 05:40"))


# ---------------------------------------------------------------------------- sampling density


def test_density_drop_fires_on_a_starved_stretch():
    buckets = concurrency.bucket_concurrency(_regular(skip=STARVED), START, END, display_tz="UTC")
    found = audit.check_sampling_density(buckets, webinar_id=W1)
    assert [f.code for f in found] == ["sampling_density_drop"]
    f = found[0].fields
    assert (f["start"], f["end"], f["buckets"], f["samples"]) == (*STARVED, 5, 5)
    assert f["typical_per_bucket"] == 20


def test_density_drop_silent_on_regular_sampling():
    buckets = concurrency.bucket_concurrency(_regular(), START, END, display_tz="UTC")
    assert audit.check_sampling_density(buckets, webinar_id=W1) == ()


def test_no_samples_at_all_is_its_own_finding():
    buckets = concurrency.bucket_concurrency(concurrency_frame([]), START, END, display_tz="UTC")
    assert [f.code for f in audit.check_sampling_density(buckets)] == ["no_concurrency_samples"]


# ---------------------------------------------------------------------------- sampling gaps


def test_gaps_fire_and_measure_the_longest():
    found = audit.check_sampling_gaps(_regular(skip=STARVED), START, END, webinar_id=W1)
    assert [f.code for f in found] == ["sampling_gaps"]
    f = found[0].fields
    assert f["gaps"] == 5 and f["longest_gap_s"] == 300 and f["median_interval_s"] == 15
    assert f["share"] == pytest.approx(25 / 60)


def test_gaps_silent_on_regular_sampling():
    assert audit.check_sampling_gaps(_regular(), START, END) == ()


def test_a_late_first_sample_is_a_gap():
    late = _regular(start=ts("2026-02-06 05:10"))
    found = audit.check_sampling_gaps(late, START, END)
    assert found[0].fields["longest_gap_start"] == START
    assert found[0].fields["longest_gap_s"] == 600


# ---------------------------------------------------------------------------- sessions vs people


def test_concurrency_above_users_fires():
    found = audit.check_concurrency_vs_users(311, START, 141, 400, webinar_id=W1)
    assert found[0].code == "concurrency_exceeds_users"
    assert found[0].fields["ratio"] == pytest.approx(311 / 141)


@pytest.mark.parametrize(("peak", "users"), [(141, 141), (20, 141), (None, 3)])
def test_concurrency_within_users_is_silent(peak, users):
    assert audit.check_concurrency_vs_users(peak, None, users, users) == ()


# ---------------------------------------------------------------------------- mean of maxima


def _spiky():
    rows = []
    for b in range(12):
        for s in range(20):
            t = START + pd.Timedelta(minutes=5 * b, seconds=15 * s)
            rows.append((t, W1, 300 if s == 0 else 100))  # one brief spike per bucket
    return concurrency_frame(rows)


def test_mean_of_maxima_fires_when_maxima_overstate_the_mean():
    conc = _spiky()
    buckets = concurrency.bucket_concurrency(conc, START, END, display_tz="UTC")
    tw = concurrency.step_integrals(conc, pd.DatetimeIndex([START, END]))
    found = audit.check_mean_of_maxima(buckets, tw[0][0] / tw[1][0], webinar_id=W1)
    assert [f.code for f in found] == ["mean_of_maxima_vs_mean"]
    f = found[0].fields
    assert f["mean_of_maxima"] == 300 and f["sum_of_maxima"] == 3600
    assert f["time_weighted_mean"] == pytest.approx(110.0)


def test_mean_of_maxima_silent_on_flat_load():
    conc = _regular()
    buckets = concurrency.bucket_concurrency(conc, START, END, display_tz="UTC")
    assert audit.check_mean_of_maxima(buckets, 100.0) == ()


# ---------------------------------------------------------------------------- source coverage


def test_coverage_gap_fires_when_one_source_is_silent():
    requests = pd.Series(pd.date_range(START, END, freq="10s", inclusive="left"))
    monitor = _regular(skip=STARVED)["ts"]
    found = audit.check_source_coverage(
        _per_minute({"requests": requests, "concurrency": monitor}), START, END, min_gap="4min"
    )
    assert found and {f.fields["source"] for f in found} == {"concurrency"}
    assert all(f.fields["covered_by"] == "requests" for f in found)
    assert all(f.fields["minutes"] >= 4 for f in found)


def test_coverage_silent_when_all_sources_cover_or_all_are_silent():
    requests = pd.Series(pd.date_range(START, END, freq="10s", inclusive="left"))
    sources = _per_minute({"requests": requests, "c": _regular()["ts"]})
    assert audit.check_source_coverage(sources, START, END) == ()
    # both silent in the same stretch (an export gap, not a source disagreement)
    both = requests[(requests < STARVED[0]) | (requests >= STARVED[1])]
    assert audit.check_source_coverage(_per_minute({"a": both, "b": both}), START, END) == ()


def _per_minute(sources: dict) -> dict:
    return {name: window.count_per_minute(ts, START, END) for name, ts in sources.items()}


# ---------------------------------------------------------------------------- clock skew


def _pairs(offsets):
    return pd.DataFrame({"offset_s": offsets})


def test_clock_skew_fires_on_a_systematic_offset():
    found = audit.check_clock_skew(_pairs([2.1, 1.9, 2.0, 2.2, 1.8, 2.0]))
    assert found[0].code == "clock_skew"
    assert found[0].fields["median_offset_s"] == pytest.approx(2.0)


@pytest.mark.parametrize("offsets", [[0.01, -0.02, 0.03, 0.0, 0.02, 0.05], [3.0, 3.0]])
def test_clock_skew_silent_when_aligned_or_too_few_pairs(offsets):
    assert audit.check_clock_skew(_pairs(offsets)) == ()


def test_skew_seen_through_the_incident_matching():
    reqs = [(START + pd.Timedelta(seconds=60 * i + 3), "rest/registrations", 409) for i in range(8)]
    errs = [
        (START + pd.Timedelta(seconds=60 * i), "23505", "registrations_pkey", "registrations")
        for i in range(8)
    ]
    inc = FakeIncident(
        requests=requests_frame(reqs),
        db_errors=db_errors_frame(errs),
        concurrency=_regular(),
        window=(START, END),
    )
    codes = [f.code for f in audit.audit_incident(inc, tl.build_timeline(inc, W1))]
    # The 3 s the data shows between the clocks is taken out before pairing: every error pairs
    # with its response, and the audit names the skew.
    assert "clock_skew" in codes and "unmatched_status_pairs" not in codes
    aligned = FakeIncident(
        requests=requests_frame([(t - pd.Timedelta(seconds=3), e, s) for t, e, s in reqs]),
        db_errors=db_errors_frame(errs),
        concurrency=_regular(),
        window=(START, END),
    )
    codes = [f.code for f in audit.audit_incident(aligned, tl.build_timeline(aligned, W1))]
    assert "clock_skew" not in codes and "unmatched_status_pairs" not in codes


# ---------------------------------------------------------------------------- unmatched pairs


def test_unmatched_fires_per_side():
    summary = pd.DataFrame(
        [
            {"endpoints": ("rest/a, b", "rest/registrations"), "status": 409,
             "error_classes": "23505:x", "db_errors": 10, "requests": 12, "matched": 9,
             "unmatched_db": 1, "unmatched_requests": 3, "median_offset_s": 0.1},
            {"endpoints": ("rest/profiles",), "status": 400, "error_classes": "42703",
             "db_errors": 4, "requests": 4, "matched": 4, "unmatched_db": 0,
             "unmatched_requests": 0, "median_offset_s": 0.1},
        ]
    )  # fmt: skip
    found = audit.check_unmatched(summary, tolerance_s=1.0)
    assert len(found) == 1 and found[0].fields["unmatched_requests"] == 3
    # The endpoints travel as a list: a name holding ", " stays one endpoint in the filter.
    assert found[0].filter == "endpoint in ['rest/a, b', 'rest/registrations'] and status == 409"
    assert found[0].what.startswith("On rest/a, b, rest/registrations, 9 of 12 HTTP 409")
    assert audit.check_unmatched(summary.iloc[1:], tolerance_s=1.0) == ()


# ---------------------------------------------------------------------------- ingest rejections


def _accounting(rejected, reason):
    return pd.DataFrame(
        {
            "file": ["edge_logs/page-0001.json.gz", "tables/registrations.csv"],
            "kind": ["edge_logs", "registrations"],
            "read": [1000, 177],
            "accepted": [1000 - rejected, 177],
            "rejected": [rejected, 0],
            "reason": [reason, None],
        }
    )


def test_rejections_fire_with_reason_and_count():
    found = audit.check_ingest_rejections(_accounting(7, "bad timestamp"))
    assert [f.code for f in found] == ["ingest_rows_rejected"]
    assert found[0].fields["rejected"] == 7 and found[0].fields["reason"] == "bad timestamp"


@pytest.mark.parametrize(
    "reason",
    [
        *audit.SET_ASIDE_REASONS,
        # As ingest writes them: the source after the reason.
        "unsupported log source function_edge_logs",
        "unsupported log source (the S3 drain's connection test)",
    ],
)
def test_rows_set_aside_by_design_are_not_called_missing(reason):
    # Repeats and rows of what the analysis does not read lose nothing: an info note, not
    # "missing from every count and rate".
    (found,) = audit.check_ingest_rejections(_accounting(7, reason))
    assert (found.code, found.severity) == ("ingest_rows_set_aside", "info")
    assert "Nothing is missing" in found.limits and found.fields["rejected"] == 7


def test_rejections_silent_when_everything_accepted():
    assert audit.check_ingest_rejections(_accounting(0, None)) == ()
    assert audit.check_ingest_rejections(None) == ()


def test_accounting_that_does_not_add_up_is_reported():
    acc = _accounting(0, None)
    acc.loc[0, "accepted"] = 990
    assert [f.code for f in audit.check_ingest_rejections(acc)] == ["ingest_accounting_mismatch"]


def _kinds(*kinds, read=10):
    return pd.DataFrame(
        {"file": [f"{k}/page-0001.json.gz" for k in kinds], "kind": list(kinds), "read": read,
         "accepted": read, "rejected": 0, "reason": None}
    )  # fmt: skip


def test_a_log_source_without_any_file_is_named_with_what_it_hides():
    found = audit.check_log_sources(_kinds("edge_logs", "webinars"))
    assert [(f.fields["kind"], f.severity) for f in found] == [
        ("postgres_logs", "warning"),
        ("realtime_logs", "info"),  # many projects do not use Realtime at all
    ]
    assert "none was read, not none happened" in found[0].limits


def test_a_log_source_exported_empty_is_not_called_missing():
    # An empty page is an export that found nothing: the source was looked at.
    assert (
        audit.check_log_sources(_kinds("edge_logs", "postgres_logs", "realtime_logs", read=0)) == ()
    )
    assert audit.check_log_sources(None) == ()


# ---------------------------------------------------------------------------- whole audit


def test_audit_of_a_clean_incident_is_empty_and_of_a_dirty_one_serialises():
    requests = requests_frame(
        [(t, "rest/profiles", 200) for t in pd.date_range(START, END, freq="20s", inclusive="left")]
    )
    sessions = sessions_frame([(W1, f"u_{i}", "2026-02-06 04:00", None) for i in range(100)])
    clean = FakeIncident(requests=requests, concurrency=_regular(), sessions=sessions,
                         window=(START, END))  # fmt: skip
    assert audit.audit_incident(clean, tl.build_timeline(clean, W1)) == ()
    monitor = _regular(skip=STARVED, value=150)
    hole = (monitor["ts"] >= ts("2026-02-06 05:45")) & (monitor["ts"] < ts("2026-02-06 05:52"))
    dirty = FakeIncident(
        requests=requests,
        concurrency=monitor[~hole],
        sessions=sessions,
        accounting=_accounting(3, "naive timestamp"),
        window=(START, END),
    )
    issues = audit.audit_incident(dirty, tl.build_timeline(dirty, W1))
    codes = {f.code for f in issues}
    assert {
        "sampling_density_drop",
        "sampling_gaps",
        "concurrency_exceeds_users",
        "source_coverage_gap",
        "ingest_rows_rejected",
    } <= codes
    text = json.dumps([f.to_dict() for f in issues])
    assert "limits" in text
    assert all(f.limits and f.what for f in issues)
    assert len(audit.tabulate_issues(issues)) == len(issues)


def test_sampling_is_judged_within_the_webinars_schedule():
    live = _regular(start=ts("2026-02-06 05:40"), end=ts("2026-02-06 05:55"), value=2)
    webinars = pd.DataFrame(
        {
            "webinar_id": [W1],
            "title": ["late webinar"],
            "starts_at": pd.to_datetime([ts("2026-02-06 05:40")], utc=True),
            "ends_at": pd.to_datetime([ts("2026-02-06 05:55")], utc=True),
        }
    )
    requests = requests_frame(
        [(t, "rest/profiles", 200) for t in pd.date_range(START, END, freq="20s", inclusive="left")]
    )
    sessions = sessions_frame(
        [(W1, "u_a", "2026-02-06 05:39", None), (W1, "u_b", "2026-02-06 05:39", None)]
    )
    scheduled = FakeIncident(requests=requests, concurrency=live, webinars=webinars,
                             sessions=sessions, window=(START, END))  # fmt: skip
    assert window.webinar_span(scheduled, W1, START, END) == (
        ts("2026-02-06 05:40"),
        ts("2026-02-06 05:55"),
    )
    assert audit.audit_incident(scheduled, tl.build_timeline(scheduled, W1)) == ()
    unscheduled = FakeIncident(requests=requests, concurrency=live, sessions=sessions,
                               window=(START, END))  # fmt: skip
    codes = {f.code for f in audit.audit_incident(unscheduled, tl.build_timeline(unscheduled, W1))}
    assert {"sampling_density_drop", "sampling_gaps", "source_coverage_gap"} <= codes


def _billing(connected, limits):
    return realtime_frame(
        [
            (START + pd.Timedelta(seconds=5 * i), "billing_metrics", c, lim)
            for i, (c, lim) in enumerate(zip(connected, limits, strict=True))
        ]
    )


def test_realtime_at_limit_fires_per_limit_reached():
    rt = _billing([150, 200, 230, 190, 260, 310], [200, 200, 200, 200, 500, 500])
    found = audit.check_realtime_limit(rt, START, END)
    assert [f.code for f in found] == ["realtime_at_limit"]
    f = found[0].fields
    assert (f["limit"], f["rows_at_limit"], f["rows"], f["max_connected"]) == (200, 2, 4, 230)
    assert f["first_ts"] == START + pd.Timedelta(seconds=5)


def test_realtime_below_limit_is_silent():
    rt = _billing([150, 199, 260], [200, 200, 500])
    assert audit.check_realtime_limit(rt, START, END) == ()
    assert audit.check_realtime_limit(realtime_frame([]), START, END) == ()


def test_rows_outside_the_window_are_told_as_make_check_tells_them():
    # Not "missing from every count and rate": what lay outside, and what the analysis loses
    # by it, in make check's words (rejections.outside_window_notes), in the report too.
    from analysis import narrative, rejections
    from analysis.narrative import sections

    acc = pd.DataFrame(
        {
            "file": ["edge_logs/page-0001.json.gz", "tables/webinar_viewer_counts.csv"],
            "kind": ["edge_logs", "webinar_viewer_counts"],
            "read": [1000, 2000],
            "accepted": [865, 0],
            "rejected": [135, 2000],
            "reason": ["outside window: 135", "outside window: 2000"],
        }
    )
    schedule = pd.DataFrame({"webinar_id": [], "starts_at": [], "ends_at": []})
    incident = FakeIncident(accounting=acc, window=(START, END), webinars=schedule)
    notes = rejections.outside_window_notes(incident)
    found = audit.check_ingest_rejections(acc, notes)
    assert [(f.code, f.severity) for f in found] == [
        ("ingest_rows_outside_window", "info"),  # a margin of a wider export
        ("ingest_rows_outside_window", "warning"),  # no load inside the window at all
    ]
    for issue, line in zip(found, rejections.describe_outside_window(incident), strict=True):
        assert line == f"warning: {issue.what[:1].lower()}{issue.what[1:-1]}: " + (
            issue.limits[:1].lower() + issue.limits[1:]
        )
        assert "missing from every count" not in issue.limits
    assert "135 of 1,000 gateway (edge) log rows" in found[0].what
    assert "widen window_start/window_end" in found[0].limits
    assert "no error class can be tested against the load" in found[1].limits
    # Without the notes (no window known), the accounting is told as before.
    assert [f.code for f in audit.check_ingest_rejections(acc)] == ["ingest_rows_rejected"]
    doc = {
        "report": {"display_tz": "Asia/Seoul", "window": {"start": str(START), "end": str(END)}},
        "data_quality": [f.to_dict() for f in found],
    }
    ko = html.unescape(sections.render_audit(doc, narrative.load_locale("ko")))
    assert "게이트웨이(edge) 로그 1,000행 중 135행" in ko and "window_start/window_end" in ko
    assert "시청자 수 샘플 2,000개 전부" in ko and "부하에 대해 검정할 수 없습니다" in ko
    assert "모든 건수와 비율에서 빠집니다" not in ko


def test_a_gateway_never_exported_is_not_reported_silent(small_incident):
    # An export without edge_logs: "requests has no row for 60 minutes" beside "no file of
    # edge_logs" said twice what one finding says, and page one called it a silence.
    import dataclasses

    start, end = small_incident.window
    wid = small_incident.webinars["webinar_id"].iloc[0]
    assert "requests" in audit.continuous_sources(small_incident, wid, start, end)
    accounting = small_incident.accounting
    without = dataclasses.replace(
        small_incident,
        accounting=accounting[accounting["kind"] != "edge_logs"],
        requests=small_incident.requests.iloc[0:0],
    )
    sources = audit.continuous_sources(without, wid, start, end)
    assert "requests" not in sources and "concurrency" in sources
    gaps = audit.check_source_coverage(sources, start, end)
    assert not [g for g in gaps if g.fields["source"] == "requests"]
