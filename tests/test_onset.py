"""A hinge at the lowest load against a smooth rise in load (stats.onset, ``smooth_rise``).

docs/verdicts.md, "A capacity call needs a threshold in the data". The constructed hour is a
ramp from an empty room to 270 viewers (qa's agent writer's deploy_minute_23: a client bug
counted per viewer, whose rate rose as the load to a power near 0.2 and was called capacity
with K 18 [0, 174]).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import stats
from analysis.stats import onset, verdicts


def _ramp() -> np.ndarray:
    t = np.arange(60)
    return np.round(270 * (t / 59) ** 1.3)


def _smooth_rise(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Errors per viewer rising as the load to the power 0.35, no request logged."""
    c = _ramp()
    y = np.random.default_rng(seed).poisson(0.15 * c * (np.maximum(c, 1) / 100) ** 0.35)
    return y.astype(float), c


def test_the_power_law_fit_recovers_its_power():
    c = np.linspace(10, 300, 60)
    x = 40 * c
    y = np.random.default_rng(0).poisson(x * 0.001 * c**0.7).astype(float)
    a, b, ll = onset.fit_power_of_load(y, x, c, alpha=0.0)
    assert b == pytest.approx(0.7, abs=0.1)
    assert np.isfinite(ll) and a > 0


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_a_smooth_rise_from_the_lowest_load_is_not_capacity(seed):
    # These seeds pass both hinge nulls (p <= 0.04 flat, <= 0.05 bursty) with K's interval
    # open at the bottom of the grid: before the rule they were called capacity.
    y, c = _smooth_rise(seed)
    verdict, test, fit, _ = verdicts.attribute_class(
        y, np.zeros(60), c, rng=np.random.default_rng(seed), n_boot=99
    )
    assert test.p_value <= 0.05 and test.p_value_bursty_null <= 0.05
    assert fit.k_open_low
    assert verdict.label != stats.CAPACITY, verdict.reason
    aside = verdict.hinge_set_aside
    assert aside["kind"] == "smooth_rise"
    assert 0.2 <= aside["power"] <= 0.5 and aside["lr"] < onset.SMOOTH_LR_CUT
    assert "a smooth rise with the load" in verdict.reason


def test_a_limit_on_the_same_ramp_is_no_smooth_rise():
    rng = np.random.default_rng(5)
    c = _ramp()
    x = rng.poisson(4 * c).astype(float)
    y = rng.binomial(x.astype(int), np.minimum(0.002 + 0.004 * np.maximum(0, c - 120), 0.9))
    y = y.astype(float)
    fit = stats.estimate_threshold(y, x, c)
    rise = onset.compare_hinge_to_power(dataclasses.replace(fit, k_open_low=True), y, x, c)
    assert not rise["smooth"] and rise["lr"] > 20
    verdict, *_ = verdicts.attribute_class(
        y, x, c, rng=np.random.default_rng(5), n_boot=99, signals={}
    )
    assert verdict.label == stats.CAPACITY, verdict.reason


def test_a_steep_rise_is_left_to_the_hinge():
    # Rate as the load squared (errors as its cube): a limit below the data looks like this
    # from inside it, and the rule leaves it alone even where the power law fits as well.
    c = np.linspace(60, 300, 60)
    x = 4 * c
    y = np.random.default_rng(1).poisson(x * 2e-6 * c**2).astype(float)
    fit = stats.estimate_threshold(y, x, c)
    rise = onset.compare_hinge_to_power(fit, y, x, c)
    assert rise["power"] > onset.SMOOTH_POWER_MAX and not rise["smooth"]
