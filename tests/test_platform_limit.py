"""K beside Realtime's own limit (stats.platform_limit): a second reading of a Realtime K."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis.stats import estimate_threshold
from analysis.stats.platform_limit import read_platform_limit, reconcile_platform_limit

LIMIT = 200.0
#: Connections that are not viewers (other pages of the app).
OTHERS = 10.0


def _incident():
    """A rise to 250 viewers and back; Realtime refuses past 200 connections (190 viewers)."""
    t = np.arange(60)
    viewers = np.round(20 + 230 * np.exp(-(((t - 28) / 14.0) ** 2)))
    demand = viewers + OTHERS
    connected = np.minimum(demand, LIMIT)
    rng = np.random.default_rng(3)
    errors = rng.poisson(np.maximum(demand - LIMIT, 0) * 1.5).astype(float)
    signals = {"rt_connected": connected, "rt_limit": np.full(60, LIMIT)}
    return errors, viewers, signals


def _fit(errors, viewers, low, high):
    fit = estimate_threshold(errors, viewers, viewers)
    return dataclasses.replace(fit, k_low=low, k_high=high, weakly_identified=False, lag_minutes=0)


def test_the_platform_reads_its_limit_in_viewers_as_the_limit_less_the_other_connections():
    errors, viewers, signals = _incident()
    reading = read_platform_limit(errors, viewers, signals, _fit(errors, viewers, 180, 200))
    assert reading["limit"] == LIMIT
    assert reading["offset"] == pytest.approx(OTHERS)
    assert reading["k"] == pytest.approx(LIMIT - OTHERS)
    assert reading["minutes"] >= 5


def test_an_interval_that_misses_the_platform_reading_spans_both_and_is_weak():
    errors, viewers, signals = _incident()
    fit = _fit(errors, viewers, 160, 176)
    out = reconcile_platform_limit(fit, errors, viewers, signals)
    assert (out.k_low, out.k_high) == (160, pytest.approx(LIMIT - OTHERS))
    assert out.k == fit.k
    assert out.weakly_identified
    assert not out.platform_limit["meets_interval"]
    assert "Realtime's own billing lines put its limit of 200" in out.interval_reference


def test_an_interval_that_meets_the_platform_reading_is_kept():
    errors, viewers, signals = _incident()
    fit = _fit(errors, viewers, 184, 196)
    out = reconcile_platform_limit(fit, errors, viewers, signals)
    assert (out.k_low, out.k_high, out.weakly_identified) == (184, 196, False)
    assert out.platform_limit["meets_interval"]
    assert out.interval_reference == fit.interval_reference


def test_no_reading_without_billing_or_when_the_limit_did_not_refuse_the_errors():
    errors, viewers, signals = _incident()
    fit = _fit(errors, viewers, 160, 176)
    assert reconcile_platform_limit(fit, errors, viewers, {}) is fit
    # Errors in minutes far below the limit: another limit refused them.
    low = np.zeros(60)
    low[5:15] = 20
    assert read_platform_limit(low, viewers, signals, fit) is None
    # The limit was raised within the errors' minutes: no one limit to read.
    raised = dict(signals, rt_limit=np.where(np.arange(60) < 28, LIMIT, 500.0))
    assert read_platform_limit(errors, viewers, raised, fit) is None
