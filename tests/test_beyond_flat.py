"""A Bayes factor may not call a class unrelated from beyond the flat rate's mean.

docs/verdicts.md, "A Bayes factor beyond the flat rate". Constructed hours: errors that rise
with the fourth power of the requests (steeper than any flat rate per request), where g = 0's
wider reference wins the density ratio although the errors weigh busy minutes more than g = 1
expects; and the rule's conditions on a verdict.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import stats
from analysis.narrative.formatting import escape
from analysis.simulate import minutes


def _steep_hour(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Requests of a seed-like hour and about 60 errors whose mean follows requests ** 4."""
    rng = np.random.default_rng(seed)
    requests = minutes.simulate_requests(minutes.make_concurrency("seed", rng), rng).astype(float)
    mu = (requests / requests.max()) ** 4
    return rng.poisson(mu * 60 / mu.sum()).astype(float), requests


def test_errors_steeper_than_a_flat_rate_are_never_called_unrelated():
    labels, without_rule = [], []
    for seed in range(6):
        errors, requests = _steep_hour(seed)
        el = stats.estimate_elasticity(errors, requests, rng=np.random.default_rng(seed), n_boot=99)
        assert el.lr > el.lr_flat_mean  # beyond the flat rate, away from no link
        labels.append(stats.decide_verdict(None, el, None).label)
        blind = dataclasses.replace(el, lr_flat_mean=None)
        without_rule.append(stats.decide_verdict(None, blind, None).label)
    assert stats.UNRELATED not in labels, labels
    # The rule is what keeps them from unrelated: without it the Bayes factor (0.08-0.2 on
    # these hours) calls some of them so, while g = 0 is rejected in every one.
    assert without_rule.count(stats.UNRELATED) >= 2, without_rule


def _elasticity(lr: float, flat_mean: float, bf: float = 0.2) -> stats.Elasticity:
    return stats.Elasticity(
        g=3.0,
        se=0.8,
        alpha=0.1,
        converged=True,
        p_value_zero=0.01,
        p_value_one=0.01,
        n_boot=99,
        g_with_own_failures=None,
        lr=lr,
        bayes_factor=bf,
        lr_flat_mean=flat_mean,
    )


def test_the_rule_reads_where_lr_lies_not_the_bayes_factor_alone():
    beyond = stats.decide_verdict(None, _elasticity(30.0, 13.0), None)
    assert beyond.label == stats.UNDETERMINED and beyond.decided_by == "none"
    assert beyond.beyond_flat == {"lr": 30.0, "flat_mean": 13.0}
    assert "beyond a flat rate's mean 13.0" in beyond.reason
    # On no link's side of the flat rate's mean the Bayes factor decides as before.
    short = stats.decide_verdict(None, _elasticity(5.0, 13.0), None)
    assert short.label == stats.UNRELATED and short.decided_by == "bayes_factor"
    assert short.beyond_flat is None
    # A Bayes factor that favours the flat rate is not touched.
    traffic = stats.decide_verdict(None, _elasticity(30.0, 13.0, bf=50.0), None)
    assert traffic.label == stats.TRAFFIC and traffic.beyond_flat is None


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_report_says_the_lean_comes_from_beyond_the_flat_rate(lang):
    from analysis import narrative

    text = narrative.load_locale(lang)
    v = stats.decide_verdict(None, _elasticity(30.0, 13.0), None)
    row = dataclasses.asdict(v) | {
        "verdict": v.label,
        "hinge_p_value": None,
        "hinge_p_value_bursty_null": None,
    }
    out = narrative.verdict_evidence(row, text)
    assert all(escape(x) in out for x in ("30.0", "13.0", "0.2")), out
    assert "1/3" not in out  # not "between 1/3 and 3"
    plain = narrative.verdict_evidence(dict(row, beyond_flat=None), text)
    assert "13.0" not in plain
