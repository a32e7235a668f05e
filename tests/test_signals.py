"""analysis.signals on the small simulated incident: spread columns and who the errors came from."""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis import pipeline, stats


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
