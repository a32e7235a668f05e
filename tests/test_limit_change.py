"""A limit raised inside the window (stats.limit_change): found, and K fitted before it."""

from __future__ import annotations

import numpy as np

from analysis.stats import attribute_class, estimate_threshold
from analysis.stats.limit_change import (
    LIFTED_LOAD_OVER_TIME,
    find_limit_lifted,
    fit_limit_regime,
    measure_load_over_time,
)

K = 270.0
#: Failing share per viewer above K, per request.
SLOPE = 0.004


def _incident(raised_at: int | None, seed: int = 5):
    """400 viewers within three minutes, fading to 300; the limit K is raised at ``raised_at``.

    Every minute's load after the raise still lies above K: a limit that did not change
    would fail requests in each of them.
    """
    t = np.arange(60)
    viewers = np.where(t < 3, 130.0 * t, 420.0 - 2.0 * np.maximum(t - 8, 0))
    requests = np.round(2.5 * viewers)
    share = np.minimum(SLOPE * np.maximum(viewers - K, 0.0), 1.0)
    if raised_at is not None:
        share[raised_at:] = 0.0
    rng = np.random.default_rng(seed)
    return rng.binomial(requests.astype(int), share).astype(float), requests, viewers


def test_a_limit_raised_while_the_load_stays_above_it_is_found_at_the_raise():
    errors, requests, viewers = _incident(35)
    assert viewers[35:].min() > K
    lifted = find_limit_lifted(errors, requests, viewers)
    assert lifted is not None
    assert lifted["minute"] == 35
    assert lifted["last_error"] == 34
    assert lifted["viewers"] > K
    assert lifted["expected"] > 100


def test_a_limit_that_stays_is_not_taken_for_a_raise():
    errors, requests, viewers = _incident(None)
    assert find_limit_lifted(errors, requests, viewers) is None


def test_k_is_fitted_before_the_raise_not_between_the_two_regimes():
    errors, requests, viewers = _incident(35)
    whole = estimate_threshold(errors, requests, viewers)
    # The whole window's hinge puts K above the load after the raise, missing the limit.
    assert whole.k_low > K * 1.1
    rng = np.random.default_rng(1)
    fit, after, lifted = fit_limit_regime(errors, requests, viewers, True, None, rng)
    assert lifted is not None and after.sum() == 25 and after[35:].all()
    assert fit.k_low <= K <= fit.k_high
    assert fit.limit_lifted["minute"] == 35


def test_without_a_capacity_call_no_change_is_looked_for():
    errors, requests, viewers = _incident(35)
    fit, after, lifted = fit_limit_regime(
        errors, requests, viewers, False, None, np.random.default_rng(1)
    )
    assert lifted is None and after is None
    assert fit.limit_lifted is None


def test_the_verdict_is_capacity_and_names_where_the_limit_stopped_binding():
    errors, requests, viewers = _incident(35)
    verdict, _, fit, _ = attribute_class(
        errors, requests, viewers, rng=np.random.default_rng(2), n_boot=99
    )
    assert verdict.label == "capacity"
    assert "the limit stopped binding at minute 36 of the window" in verdict.reason
    assert fit.k_low <= K <= fit.k_high


def test_an_outage_that_ends_while_a_rising_load_stays_high_is_not_a_raise():
    # 60 % of requests fail in minutes 15-30 of a load rising to 400 and staying there: up to
    # its end the outage is what a limit crossed at minute 15 would give (its silence after is
    # as surprising), but inside it the failing share does not move with the load.
    t = np.arange(60)
    viewers = np.minimum(20.0 + 10.0 * t, 400.0)
    requests = np.round(2.5 * viewers)
    share = np.where((t >= 15) & (t <= 30), 0.6, 0.0)
    errors = np.random.default_rng(4).binomial(requests.astype(int), share).astype(float)
    assert find_limit_lifted(errors, requests, viewers) is None
    # What sets it aside: the errors follow a stretch of time as well as the load.
    assert measure_load_over_time(errors[:31], requests[:31], viewers[:31]) < LIFTED_LOAD_OVER_TIME


def test_the_count_s_screen_finds_no_raise_where_the_simulator_never_changes_the_limit():
    # bench_verdicts --limit-lifted: the class's frame is drawn again and the finder run.
    from analysis.simulate.verdict_study import measure_limit_lifted

    row = {
        "family": "double_peak",
        "index": 0,
        "mechanism": "capacity_realtime",
        "truth": "capacity",
    }
    out = measure_limit_lifted({**row, "label": "capacity"})
    assert out["lifted"] is None and out["truth"] == "capacity"
