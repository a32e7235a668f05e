"""A traffic/unrelated label does not hinge on simulation noise (docs/statistics.md section 12).

Near the level, the elasticity tests draw MC_EXTRA times as many replicates more, from a
spawned stream: same seed, same result; the draws after them unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats import elasticity


def _bug(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.round(40 + 30 * np.sin(np.arange(60) / 9) ** 2 + rng.normal(0, 3, 60))
    return rng.poisson(0.02 * x).astype(float), x


def test_the_band_is_two_monte_carlo_standard_errors_of_the_level():
    # At 199 replicates the standard error at 0.05 is 0.0154: the band is 0.019-0.081.
    assert elasticity._within_mc_error(0.04, 199)
    assert elasticity._within_mc_error(0.07, 199)
    assert not elasticity._within_mc_error(0.005, 199)
    assert not elasticity._within_mc_error(0.10, 199)
    # Five times the replicates narrow it: 0.04 is then within it, 0.03 not.
    assert elasticity._within_mc_error(0.04, 995)
    assert not elasticity._within_mc_error(0.03, 995)


@pytest.mark.parametrize("near", [True, False])
def test_near_the_level_more_are_drawn_on_a_stream_of_their_own(monkeypatch, near):
    y, x = _bug(3)
    monkeypatch.setattr(elasticity, "_within_mc_error", lambda p, n: near)
    rng = np.random.default_rng(11)
    el = elasticity.estimate_elasticity(y, x, rng=rng, n_boot=199)
    assert el.n_boot == (199 * (1 + elasticity.MC_EXTRA) if near else 199)
    # p-values are counts over the replicates drawn.
    for p in (el.p_value_zero, el.p_value_one):
        assert abs(p * (el.n_boot + 1) - round(p * (el.n_boot + 1))) < 1e-6 or p == 1.0
    # What is drawn after the tests is the same either way (the extra replicates spawned).
    fresh = np.random.default_rng(11)
    monkeypatch.setattr(elasticity, "_within_mc_error", lambda p, n: False)
    elasticity.estimate_elasticity(y, x, rng=fresh, n_boot=199)
    assert rng.random() == fresh.random()


def test_the_same_seed_gives_the_same_p_values():
    y, x = _bug(4)
    one = elasticity.estimate_elasticity(y, x, rng=np.random.default_rng(2), n_boot=199)
    two = elasticity.estimate_elasticity(y, x, rng=np.random.default_rng(2), n_boot=199)
    assert (one.p_value_zero, one.p_value_one, one.n_boot) == (
        two.p_value_zero,
        two.p_value_one,
        two.n_boot,
    )
