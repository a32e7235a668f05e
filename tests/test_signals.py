"""analysis.signals on the small simulated incident: spread columns and who the errors came from."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis import pipeline, signals, stats, timeline


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
