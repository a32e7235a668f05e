"""The traffic/unrelated tests with the class's own failing requests inside its exposure.

A class's exposure keeps one failing request per counted unit (docs/verdicts.md, "The
denominator"). Weighing minutes by an exposure that holds the class's own failures makes
errors correlate with "traffic" whatever they are; these tests show the false traffic calls
that gave on load-independent errors, that the corrected statistic keeps its level, and that
a flat bug whose failures are among its requests is still found.
"""

from __future__ import annotations

import numpy as np

from analysis import stats
from analysis.stats import series

MINUTES = 60


def _background(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A job failing 1.5 requests a minute of its own, beside an audience's ~20 a minute."""
    rng = np.random.default_rng(seed)
    audience = rng.poisson(20 * (1 + 0.15 * np.sin(np.linspace(0, 3, MINUTES)))).astype(float)
    errors = rng.poisson(1.5, MINUTES).astype(float)
    return errors, audience + errors, errors


def _flat_bug(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8 % of an audience's requests fail; the load varies by a factor of about four."""
    rng = np.random.default_rng(seed)
    requests = rng.poisson(20 * np.exp(0.75 * np.sin(np.linspace(0, 3, MINUTES)))).astype(float)
    errors = rng.binomial(requests.astype(int), 0.08).astype(float)
    return errors, requests, errors


def _rejections(make, own: bool, trials: int = 40) -> tuple[int, int]:
    """(g = 0 rejected, g = 1 rejected) at 0.05 over ``trials`` classes drawn by ``make``."""
    zero = one = 0
    for seed in range(trials):
        y, x, mine = make(seed)
        _, p0, p1, _ = stats.compare_traffic_to_unrelated(
            y, x, rng=np.random.default_rng(1000 + seed), n_boot=99, own=mine if own else None
        )
        zero += p0 <= 0.05
        one += p1 <= 0.05
    return zero, one


def test_errors_that_bring_their_own_requests_are_not_called_traffic():
    # Weighed by an exposure holding the errors themselves, g = 0 was rejected in about
    # 60 % of load-independent classes (a level of 0.05 was claimed).
    before, _ = _rejections(_background, own=False)
    after, _ = _rejections(_background, own=True)
    assert before >= 12, before
    # 40 trials at a level of 0.05: 2 expected; 6 or more has probability below 0.05.
    assert after <= 5, after


def test_a_flat_bug_among_its_own_requests_is_still_related_and_flat():
    zero, one = _rejections(_flat_bug, own=True)
    assert zero >= 14, zero  # power to see it follow traffic (0.56 over 200 trials)
    assert one <= 5, one  # and a flat rate per request is kept at about its level


def test_without_own_failures_the_statistic_is_unchanged():
    y, x, _ = _flat_bug(3)
    plain = stats.compare_traffic_to_unrelated(y, x, rng=np.random.default_rng(1), n_boot=49)
    zeros = stats.compare_traffic_to_unrelated(
        y, x, rng=np.random.default_rng(1), n_boot=49, own=np.zeros(MINUTES)
    )
    assert plain == zeros


def test_requests_made_of_the_class_give_way_to_the_viewers():
    viewers = np.full(4, 50.0)
    requests = np.array([10.0, 12, 9, 11])
    counted = np.array([1.0, 2, 0, 1])
    # Some requests did not fail: they stay the exposure, with the kept failures named.
    signals = {"failed_requests": np.array([3.0, 5, 0, 1])}
    x, _, _ = stats.exposure_of(requests, signals, counted=counted)
    without, _, _ = stats.exposure_of(requests, signals)
    exposure, own = series.split_own_failures(x, without, viewers)
    assert exposure.tolist() == x.tolist() and own.tolist() == [1, 2, 0, 1]
    # Every logged request is one of the class's failures: the requests measure the class,
    # not the audience (an endpoint that never answered otherwise, an errors-only export).
    signals = {"failed_requests": requests}
    x, _, _ = stats.exposure_of(requests, signals, counted=np.array([4.0, 5, 3, 6]))
    without, _, _ = stats.exposure_of(requests, signals)
    exposure, own = series.split_own_failures(x, without, viewers)
    assert exposure.tolist() == viewers.tolist() and own is None
    # Nothing of the class inside its exposure (a Realtime class counts viewers): unchanged.
    exposure, own = series.split_own_failures(viewers, viewers, viewers)
    assert exposure.tolist() == viewers.tolist() and own is None


def _small_flat_bug(seed: int):
    """15 % of 1-6 requests a minute fail while the audience rises and falls smoothly."""
    rng = np.random.default_rng(seed)
    viewers = 6 + 28 * np.sin(np.linspace(0, np.pi, MINUTES))
    requests = rng.poisson(viewers / 6).astype(float)
    errors = rng.binomial(requests.astype(int), 0.15).astype(float)
    return errors, requests, errors, viewers


def test_the_viewers_are_a_second_measure_of_the_audience_for_g_0():
    found = {False: 0, True: 0}
    false_calls = 0
    for seed in range(40):
        y, x, mine, viewers = _small_flat_bug(seed)
        for with_viewers in (False, True):
            _, p0, _, _ = stats.compare_traffic_to_unrelated(
                y,
                x,
                rng=np.random.default_rng(seed),
                n_boot=99,
                own=mine,
                audience=viewers if with_viewers else None,
            )
            found[with_viewers] += p0 <= 0.05
        # Load-independent errors with their own requests: still at about the level.
        y, x, mine = _background(seed)
        viewers = 20 * (1 + 0.15 * np.sin(np.linspace(0, 3, MINUTES)))
        _, p0, _, _ = stats.compare_traffic_to_unrelated(
            y, x, rng=np.random.default_rng(seed), n_boot=99, own=mine, audience=viewers
        )
        false_calls += p0 <= 0.05
    assert found[True] > found[False] + 5, found
    assert false_calls <= 5, false_calls
