"""analysis.signals on the small simulated incident: spread columns and who the errors came from."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis import pipeline, signals, stats, timeline
from analysis.stats.exposure import drop_masked_requests


def _db_frames(tl):
    return {
        key: frame
        for key, frame in tl.frames.items()
        if frame.attrs.get("source") == "db_errors" and frame["errors"].sum() > 0
    }


def test_new_users_count_each_user_once_in_the_window(small_incident, small_params):
    tl = pipeline.build_timeline(small_incident, small_params)
    frames = _db_frames(tl)
    assert frames, "the small incident should have a database class with errors"
    for key, frame in frames.items():
        users, new = frame["users"].to_numpy(), frame["new_users"].to_numpy()
        known = np.isfinite(new)
        # A user is new once: never more new users than users in a minute, and the window's
        # sum is at most the users summed over minutes (equal only if nobody repeats).
        assert np.all(new[known] <= users[known]), key
        assert np.nansum(new) <= np.nansum(users), key
        sources = stats.count_sources(frame["errors"].to_numpy(), stats.extract_signals(frame))
        if known[frame["errors"].to_numpy() > 0].all():
            assert sources == int(np.nansum(new)) and sources >= 1, key


def test_user_onsets_count_each_users_episode_once_in_its_first_minute(
    small_incident, small_params
):
    minutes = np.array([0, 1, 2, 5, 1, 1, 3, -1])
    users = pd.Series(["a", "a", "a", "a", "b", "b", "b", "a"])
    onsets = signals._onsets_per_minute(minutes, users, 6)
    assert onsets.tolist() == [1, 1, 0, 1, 0, 1]
    tl = pipeline.build_timeline(small_incident, small_params)
    for key, frame in _db_frames(tl).items():
        users, new = frame["users"].to_numpy(), frame["new_users"].to_numpy()
        onset = frame["user_onsets"].to_numpy()
        known = np.isfinite(onset)
        assert np.array_equal(known, np.isfinite(new)), key
        # Every user's first error starts an episode; an episode's first minute is a user-minute.
        assert np.all(new[known] <= onset[known]) and np.all(onset[known] <= users[known]), key


def test_anonymous_requests_leave_the_spread_unknown_not_zero(small_incident, small_params):
    anonymous = small_incident.requests.assign(user=None)
    incident = dataclasses.replace(small_incident, requests=anonymous)
    tl = pipeline.build_timeline(incident, small_params)
    frames = _db_frames(tl)
    assert frames
    for key, frame in frames.items():
        hit = frame["errors"].to_numpy() > 0
        # Counted as nobody, a class's errors would vanish from the model (users = 0).
        assert np.isnan(frame["users"].to_numpy()[hit]).all(), key
        errors, found = frame["errors"].to_numpy(), stats.extract_signals(frame)
        assert stats.count_sources(errors, found) is None
        counted, unit = stats.choose_counts(errors, found)
        assert unit != "users with errors" or counted.sum() == frame["errors"].sum(), key


def test_realtime_series_computed_once_gives_each_class_the_same_frame(
    small_incident, small_params
):
    tl = timeline.build_timeline(
        small_incident,
        small_params.webinar_id,
        start=small_params.window_start,
        end=small_params.window_end,
        bucket=small_params.bucket,
        display_tz=small_params.display_tz,
    )
    shared = signals.add_signals(
        tl.frames, small_incident, tl.classes, tolerance=tl.tolerance, pairs=tl.pairs
    )
    assert shared and set(shared) == {c.key for c in tl.classes if c.key in tl.frames}
    for cls in tl.classes:
        if cls.key not in shared:
            continue
        alone = signals.add_class_signals(
            tl.frames[cls.key], small_incident, cls, tolerance=tl.tolerance, pairs=tl.pairs
        )
        pd.testing.assert_frame_equal(shared[cls.key], alone)
        assert shared[cls.key].attrs == alone.attrs


def test_failure_stages_order_only_what_a_request_s_path_orders():
    stage = signals.failure_stage
    assert stage("53300") == "refused" and stage("08006") == "refused"
    assert stage("42703") == "rejected" and stage("42501") == "executed"
    assert stage("22P02") == "row" and stage("23505") == "row"
    assert stage("23503") == "statement_end" and stage("40P01") == "executed"
    # A status alone does not say where a response was made (a 504 after the statement ran).
    assert stage("PT402") == "executed" and stage(None) is None and stage("") is None
    before = signals.comes_before
    assert before("refused", "statement_end") and before("rejected", "row")
    assert before("row", "statement_end") and before("refused", "executed")
    # Two checks of one row, or a deadlock against a constraint: no order a code can tell.
    assert not before("row", "row") and not before("executed", "row")
    assert not before("row", "executed") and not before(None, "row")
    assert not before("statement_end", "refused") and not before("rejected", "refused")


def _klass(key, source, status, endpoints, sql_state=None):
    from analysis.error_classes import ErrorClass

    t = pd.Timestamp("2026-02-06T05:00:00Z")
    return ErrorClass(
        key, source, "", 1, t, t, endpoints[0], "matched", status, sql_state,
        endpoints=tuple(endpoints),
    )  # fmt: skip


def test_requests_an_earlier_failure_answered_are_counted_per_class():
    t0 = pd.Timestamp("2026-02-06T05:00:00Z")
    ts = [t0 + pd.Timedelta(seconds=s) for s in (5, 10, 20, 65, 70, 75, 80)]
    requests = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(7)],
            "ts": ts,
            "endpoint": ["rest/items"] * 6 + ["rest/other"],
            "status": [503, 409, 201, 503, 400, 999, 503],
        }
    )
    limit = _klass("53300", "db_errors", 503, ["rest/items", "rest/other"], "53300")
    fkey = _klass("23503:items_fkey", "db_errors", 409, ["rest/items"], "23503")
    bad_input = _klass("22P02", "db_errors", 400, ["rest/items"], "22P02")
    pairs = pd.DataFrame(
        {
            "request_id": ["r0", "r1", "r3", "r4", "r6"],
            "error_class": ["53300", "23503:items_fkey", "53300", "22P02", "53300"],
        }
    )
    incident = type("Incident", (), {"requests": requests})()
    failing = signals.stage_failing_requests(incident, (limit, fkey, bad_input), pairs)
    # The unpaired 999 (r5) has no known stage and is not listed.
    assert failing.set_index("id")["stage"].to_dict() == {
        "r0": "refused",
        "r1": "statement_end",
        "r3": "refused",
        "r4": "row",
        "r6": "refused",
    }
    count = signals.count_masked_requests
    # The foreign key never saw the refused requests nor the one whose input did not parse.
    assert count(failing, fkey, t0, 2).tolist() == [1, 2]
    # Casting the input comes after the refusal, but nothing orders it against the key.
    assert count(failing, bad_input, t0, 2).tolist() == [1, 1]
    # A limit's own refusals are its failures, not requests another failure answered.
    assert count(failing, limit, t0, 2).tolist() == [0, 0]


def test_postgrest_s_own_refusals_are_staged_before_every_statement():
    # A 504 on rest/* that no database error explains is PostgREST's pool wait (PGRST003), a
    # 503 its lost connection (PGRST000-002): the statement never ran, so a flat bug's check
    # (42703, rejected) never met those requests. A Storage 503 or a rest 502 says nothing.
    t0 = pd.Timestamp("2026-02-06T05:00:00Z")
    ts = [t0 + pd.Timedelta(seconds=s) for s in (5, 10, 20, 65, 70, 75)]
    requests = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(6)],
            "ts": ts,
            "endpoint": ["rest/reactions", "rest/questions", "rest/reactions",
                         "storage/object", "rest/reactions", "rest/reactions"],
            "status": [504, 504, 400, 503, 502, 503],
        }
    )  # fmt: skip
    pool = _klass("http:504:rest/*", "requests", 504, ["rest/reactions", "rest/questions"])
    down = _klass("http:503:rest/*", "requests", 503, ["rest/reactions"])
    storage = _klass("http:503:storage/*", "requests", 503, ["storage/object"])
    proxy = _klass("http:502:rest/reactions", "requests", 502, ["rest/reactions"])
    bug = _klass("42703", "db_errors", 400, ["rest/reactions"], "42703")
    pairs = pd.DataFrame({"request_id": ["r2"], "error_class": ["42703"]})
    incident = type("Incident", (), {"requests": requests})()
    assert [signals.is_postgrest_refusal(c) for c in (pool, down, storage, proxy, bug)] == [
        True, True, False, False, False,
    ]  # fmt: skip
    failing = signals.stage_failing_requests(incident, (pool, down, storage, proxy, bug), pairs)
    assert failing.set_index("id")["stage"].to_dict() == {
        "r0": "refused", "r1": "refused", "r2": "rejected", "r5": "refused",
    }  # fmt: skip
    # The bug's denominator loses the refused requests to its own endpoint, per minute.
    assert signals.count_masked_requests(failing, bug, t0, 2).tolist() == [1, 1]
    # Without pairs, the refusals are still staged.
    alone = signals.stage_failing_requests(incident, (pool,), None)
    assert set(alone["id"]) == {"r0", "r1"}


def test_masked_requests_leave_every_denominator():
    requests = np.array([10.0, 10.0, 40.0])
    out, dropped = drop_masked_requests(
        requests, {"masked_requests": np.array([0.0, np.nan, 50.0])}
    )
    assert out.tolist() == [10.0, 10.0, 0.0] and dropped == 40
    out, dropped = drop_masked_requests(requests, {})
    assert out.tolist() == requests.tolist() and dropped == 0
