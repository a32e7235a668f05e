"""What the data can give the traffic/unrelated decision: the bounds the benchmark prints."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis.simulate import verdict_study as bench


def _frame(requests, errors, failed=None) -> pd.DataFrame:
    minutes = pd.date_range("2026-01-01", periods=len(errors), freq="min", tz="UTC")
    frame = pd.DataFrame(
        {
            "minute": minutes,
            "requests": requests,
            "errors": errors,
            "concurrency": 100.0,
            "samples": 1,
        }
    )
    if failed is not None:
        frame["failed_requests"] = failed
    return frame


def test_the_separation_bound_does_not_weigh_minutes_by_the_class_own_failures():
    # A steady audience's 300 requests a minute plus the class's own failing requests in
    # bursts: the requests vary only by the errors, so nothing tells g = 1 from g = 0.
    errors = np.r_[np.zeros(30, int), np.full(30, 40)]
    own = _frame(300 + errors, errors, failed=errors)
    assert bench.separation_bound(own) == pytest.approx(0.5)
    # The same requests with failures that are not the class's own (not identified): they
    # are the audience's variation, and the bound sees it.
    assert bench.separation_bound(_frame(300 + errors, errors)) > 0.8


def _rule_undetermined(bound: float, draws: int, seed: int) -> float:
    """Share undetermined by the package's rule on an ideal statistic z ~ N(d, 1) under g = 1."""
    nd = NormalDist()
    d = 2 * nd.inv_cdf(bound)
    z_level = nd.inv_cdf(1 - stats.ALPHA_LEVEL)
    z = np.random.default_rng(seed).normal(d, 1.0, draws)
    zero, one = z > z_level, z < d - z_level
    log_bf = d * z - d * d / 2
    undecided = np.abs(log_bf) < math.log(stats.BAYES_FACTOR_CUT)
    return float(np.mean(undecided & (zero == one)))


@pytest.mark.parametrize("bound", [0.6, 0.75, 0.86, 0.93, 0.99])
def test_undetermined_floor_is_the_rule_applied_to_an_ideal_statistic(bound):
    expected = _rule_undetermined(bound, 200_000, 7)
    assert bench.undetermined_floor(bound) == pytest.approx(expected, abs=0.004)


def test_undetermined_floor_at_the_ends():
    # Nothing to tell: only one test rejecting (10 % of draws at a level of 0.05) decides.
    assert bench.undetermined_floor(0.5) == pytest.approx(1 - 2 * stats.ALPHA_LEVEL)
    # Separation of exactly twice the level's z: one test always rejects, never both.
    at = NormalDist().cdf(NormalDist().inv_cdf(1 - stats.ALPHA_LEVEL))
    assert bench.undetermined_floor(at) == pytest.approx(0.0, abs=1e-9)
    assert bench.undetermined_floor(0.9999) < 0.001
