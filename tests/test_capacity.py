"""Capacity plan: units, grid, offsets, tier choice, and projection coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import capacity
from analysis.simulate.audience import AudienceParams, peak_of, simulate_audience, to_sessions

START = pd.Timestamp("2026-03-01 10:00", tz="UTC")
END = START + pd.Timedelta("60min")
LIMITS = (
    {"product": "Realtime", "quantity": "c", "tier": "Free plan", "limit": 200, "source": "s"},
    {"product": "Realtime", "quantity": "c", "tier": "Pro plan", "limit": 500, "source": "s"},
    {"product": "Realtime", "quantity": "c", "tier": "Team plan", "limit": 10000, "source": "s"},
    {"product": "Postgres", "quantity": "m", "tier": "Micro compute", "limit": 60, "source": "s"},
    {"product": "Postgres", "quantity": "m", "tier": "Small compute", "limit": 90, "source": "s"},
    {"product": "Postgres", "quantity": "m", "tier": "Large compute", "limit": 160, "source": "s"},
)
NO_BILLING = pd.DataFrame({"ts": [], "connected": [], "limit": []})


def at(minutes: float) -> pd.Timestamp:
    return START + pd.Timedelta(minutes=minutes)


def sessions(rows) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": pd.array([r[0] for r in rows], dtype="string"),
            "joined_at": [at(r[1]) for r in rows],
            "left_at": [pd.NaT if r[2] is None else at(r[2]) for r in rows],
        }
    )


def peaks_one_event_at_a_time(matrix, registrations, n, draws, seed):
    """The projection's draws written as one loop per event (the reference)."""
    units = matrix.shape[0]
    rng = np.random.default_rng([seed, int(n)])
    rate = rng.gamma(units + 0.5, 1.0 / registrations, size=draws)
    attendees = rng.poisson(n * rate)
    peaks = np.empty(draws)
    for d, m in enumerate(attendees):
        typical = rng.integers(0, units, size=units)
        counts = np.bincount(typical[rng.integers(0, units, size=m)], minlength=units)
        peaks[d] = (counts.astype(np.float32) @ matrix).max() if m else 0.0
    return peaks, attendees


@pytest.mark.parametrize(
    ("units", "instants", "registrations", "n", "cells"),
    [(1, 5, 3, 0, None), (3, 7, 10, 4, None), (40, 90, 80, 300, None), (40, 90, 80, 300, 997)],
)
def test_simulated_peaks_are_those_of_one_event_at_a_time(
    monkeypatch, units, instants, registrations, n, cells
):
    if cells is not None:  # blocks of a few events each
        monkeypatch.setattr(capacity, "MAX_CELLS", cells)
        monkeypatch.setattr(capacity, "STREAM_BLOCK", cells)
    matrix = np.random.default_rng(3).integers(0, 3, size=(units, instants)).astype(np.float32)
    matrix = np.repeat(matrix, 3, axis=1)  # sessions span several instants, as on a real grid
    got = capacity.simulate_peaks(matrix, registrations, n, draws=200, seed=11)
    want = peaks_one_event_at_a_time(matrix, registrations, n, 200, 11)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0].max() > 0 or n == 0


def test_peak_candidates_keep_the_maximum_of_every_weighting():
    rng = np.random.default_rng(8)
    for _ in range(200):
        matrix = rng.integers(0, 3, size=rng.integers(1, 6, size=2)).astype(np.float32)
        keep = capacity.peak_candidates(matrix)
        weights = rng.integers(0, 4, size=(40, matrix.shape[0])).astype(np.float32)
        full, kept = (weights @ matrix).max(axis=1), (weights @ matrix[:, keep]).max(axis=1)
        np.testing.assert_array_equal(full, kept)
    # One person joins at 1 and leaves at 3, another is there from 2 to 4: one peak, at 2.
    matrix = np.array([[0, 1, 1, 0, 0], [0, 0, 1, 1, 0]], dtype=np.float32)
    assert capacity.peak_candidates(matrix).tolist() == [False, False, True, False, False]


def test_units_group_sessions_by_person_and_keep_anonymous_ones_apart():
    s = sessions([("b", 5, 10), ("a", 0, None), ("a", -5, 3), (None, 1, 2), ("b", 1, 4)])
    units, people, anonymous = capacity.build_units(s, START, END)
    assert (people, anonymous) == (2, 1)
    assert [u.tolist() for u in units] == [
        [[0.0, 180.0], [0.0, 3600.0]],
        [[60.0, 240.0], [300.0, 600.0]],
        [[60.0, 120.0]],
    ]


def test_open_matrix_counts_open_sessions_at_each_instant():
    units = [np.array([[0.0, 2.0], [1.0, 3.0]]), np.array([[2.0, 4.0]])]
    m = capacity.open_matrix(units, 4.0, max_grid=4)
    assert m.tolist() == [[1, 2, 1, 0], [0, 0, 1, 1]]


def test_connections_offset_is_connected_minus_open_sessions():
    s = sessions([("a", 0, 30), ("b", 0, None), ("c", 20, 40)])
    billing = pd.DataFrame(
        {"ts": [at(10), at(25), at(50)], "connected": [4, 5, 3], "limit": [200, 200, 200]}
    )
    offset, rows = capacity.connections_offset(billing, s)
    assert (offset, rows) == (2.0, 3)  # 4-2, 5-3, 3-1
    assert capacity.connections_offset(NO_BILLING, s) == (0.0, 0)


@pytest.mark.parametrize(
    ("needed", "tier", "next_tier"),
    [(100, "Free plan", "Pro plan"), (170, "Pro plan", "Team plan"), (9000, None, None)],
)
def test_choose_limit_is_the_smallest_tier_with_headroom(needed, tier, next_tier):
    got = capacity.choose_limit(LIMITS, "Realtime", needed, headroom=0.25)
    assert (got["tier"], got["next_tier"]) == (tier, next_tier)
    if tier:
        assert got["limit"] >= needed * 1.25 and got["headroom"] >= 0.25


def test_registrations_at_limit_scales_linearly():
    plan = {"limit": 500, "needed": 250}
    assert capacity.registrations_at_limit(176, plan) == 352


def test_nothing_to_project_says_why():
    got = capacity.plan_capacity(
        sessions=sessions([]), all_sessions=sessions([]), billing=NO_BILLING, registrations=10,
        start=START, end=END, thresholds=[], limits=LIMITS, sizes=[10], draws=50,
    )  # fmt: skip
    assert (got["available"], got["reason"]) == (False, "no_sessions")
    got = capacity.plan_capacity(
        sessions=sessions([("a", 0, 5)]), all_sessions=sessions([]), billing=NO_BILLING,
        registrations=0, start=START, end=END, thresholds=[], limits=LIMITS, sizes=[10],
    )  # fmt: skip
    assert got["reason"] == "no_registrations"
    # No registrations table exported: unknown, which is not the same as none.
    got = capacity.plan_capacity(
        sessions=sessions([("a", 0, 5)]), all_sessions=sessions([]), billing=NO_BILLING,
        registrations=None, start=START, end=END, thresholds=[], limits=LIMITS, sizes=[10],
    )  # fmt: skip
    assert got["reason"] == "registrations_not_exported"


def plan_for(aud, n, thresholds=(), draws=400, seed=0):
    s = to_sessions(aud, START)
    return capacity.plan_capacity(
        sessions=s, all_sessions=s, billing=NO_BILLING, registrations=aud.registrations,
        start=START, end=END, thresholds=list(thresholds), limits=LIMITS, sizes=[n],
        draws=draws, max_grid=720, seed=seed, monitor_peak=aud.peak,
    )  # fmt: skip


def test_known_threshold_is_breached_and_scales_database_connections():
    aud = simulate_audience(200, AudienceParams(), seed=3)
    k = {"error_class": "realtime:pool_exhausted", "resource": "database", "k": 100.0,
         "k_low": 90.0, "k_high": 110.0, "weakly_identified": False}  # fmt: skip
    plan = plan_for(aud, 400, [k])
    proj = plan["projections"][0]
    peak = proj["peak_sessions"]
    assert peak["low"] <= peak["median"] <= peak["high"]
    # 400 registrations bring about twice this event's peak, far above K = 100
    assert peak["median"] == pytest.approx(2 * aud.peak, rel=0.25)
    assert proj["breaches"] == ["realtime:pool_exhausted"]
    # proportional use: Micro's 60 connections at K viewers
    db = proj["db_connections"]
    assert db["median"] == pytest.approx(60 * peak["median"] / 100.0)
    assert db["high"] == pytest.approx(60 * peak["high"] / 90.0)
    assert proj["compute"]["tier"] is None or proj["compute"]["limit"] >= 1.25 * db["high"]
    assert proj["realtime_plan"]["limit"] >= 1.25 * proj["realtime_connections"]["high"]
    assert "db_proportional" in plan["assumptions"]
    assert "extrapolation" not in plan["trust"]
    small = plan_for(aud, 20, [k])
    assert small["projections"][0]["breaches"] == []
    assert "extrapolation" in small["trust"]


def test_peak_of_counts_overlaps_exactly():
    s = pd.DataFrame({"user": [0, 0, 1], "joined": [0.0, 5.0, 10.0], "left": [10.0, 20.0, 30.0]})
    assert peak_of(s) == 2  # at 10 s the first session has left as the third joins


def coverage(incidents: int, seed: int) -> float:
    """Share of simulated events whose peak lies in the interval projected from another.

    Each pair shares behaviour (attendance, tabs per person) drawn at random; the projection
    is fitted on event A and asked for event B's registrations.
    """
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(incidents):
        params = AudienceParams(
            attendance=float(rng.uniform(0.5, 0.9)), extra_tabs=float(rng.uniform(0.1, 0.6))
        )
        ra, rb = int(rng.integers(80, 400)), int(rng.integers(80, 1200))
        a = simulate_audience(ra, params, seed=seed * 100_000 + 2 * i)
        b = simulate_audience(rb, params, seed=seed * 100_000 + 2 * i + 1)
        peak = plan_for(a, rb, seed=i)["projections"][0]["peak_sessions"]
        hits += peak["low"] <= b.peak <= peak["high"]
    return hits / incidents


def test_projected_interval_covers_the_simulated_peak_reduced():
    assert coverage(40, seed=7) >= 0.85


@pytest.mark.slow
def test_projected_interval_covers_the_simulated_peak_full():
    assert coverage(200, seed=11) >= 0.85
