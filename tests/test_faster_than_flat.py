"""Errors that grow faster than their requests are not called a flat rate per request.

docs/verdicts.md, "Errors that grow faster than requests". The test of g = 1 reads only the
lower tail of lr, and its replicates take their overdispersion from the residuals around a
flat rate, so errors growing far faster than their requests passed it as
traffic-proportional. A traffic call with g >= ``FASTER_G`` whose lr lies beyond g = 1's
replicates with the overdispersion measured around the fitted slope (at ``PERSIST_LEVEL``)
is undetermined. Constructed hours: power on errors only in prompt minutes whose requests
jump past a service's rate, the rate on flat rates per request (Poisson and bursty), the
rule's conditions, and the sentence the report prints.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import stats
from analysis.narrative.formatting import escape
from analysis.simulate import minutes
from analysis.stats.bayes_vetoes import FASTER_G, check_faster_than_flat
from analysis.stats.elasticity import measure_faster_than_flat
from analysis.stats.episodes import PERSIST_LEVEL


def _prompts(seed: int):
    """An hour whose errors come only in five prompt minutes, where requests jump past a rate.

    Uploads at five host prompts: in those minutes the requests triple and 5 % of the extra
    requests fail (a per-second rate exceeded); no request fails elsewhere.
    """
    rng = np.random.default_rng(seed)
    concurrency = minutes.make_concurrency("seed", rng).astype(float)
    requests = minutes.simulate_requests(concurrency, rng).astype(float)
    at = rng.choice(np.arange(8, 50, 4), 5, replace=False)
    extra = np.zeros_like(requests)
    extra[at] = rng.poisson(2.0 * requests[at])
    errors = rng.binomial(extra.astype(int), 0.05).astype(float)
    return concurrency, requests + extra, errors


def test_errors_only_in_prompt_minutes_are_not_traffic():
    verdicts = []
    for seed in range(4):
        concurrency, requests, errors = _prompts(seed)
        rng = np.random.default_rng(seed)
        verdicts.append(stats.attribute_class(errors, requests, concurrency, rng=rng, n_boot=99))
    labels = [v[0].label for v in verdicts]
    assert stats.TRAFFIC not in labels, labels
    for v, _, _, el in verdicts:
        # The rule is what keeps them from traffic: the test of g = 1 does not reject them.
        assert v.p_value_one > 0.5 and v.p_value_zero <= stats.ALPHA_LEVEL
        assert v.label == stats.UNDETERMINED and v.decided_by == "none"
        assert v.faster_than_flat["g"] == el.g >= FASTER_G
        assert v.faster_than_flat["p_value"] <= PERSIST_LEVEL
        assert "grow faster than the requests" in v.reason


@pytest.mark.parametrize("bursty", [False, True])
def test_flat_rates_per_request_keep_the_level(bursty):
    # 60 flat rates per request (20-200 errors an hour; bursty: NB2 alpha 0.5 minute by
    # minute): the upper tail, whatever g, rejects at most its level's share plus noise.
    low = 0
    for seed in range(60):
        rng = np.random.default_rng(100 + seed)
        concurrency = minutes.make_concurrency("seed", rng).astype(float)
        requests = minutes.simulate_requests(concurrency, rng).astype(float)
        mu = requests * (20.0 + 3 * seed) / requests.sum()
        if bursty:
            mu = rng.gamma(2.0, mu / 2.0)
        errors = rng.poisson(mu).astype(float)
        p = measure_faster_than_flat(errors, requests, rng=rng, n_boot=99)
        low += p <= 0.05
    assert low <= 6  # 3 expected at 0.05; 6 is its binomial 97.5 % point


def _elasticity(g: float) -> stats.Elasticity:
    return stats.Elasticity(
        g=g,
        se=0.3,
        alpha=0.1,
        converged=True,
        p_value_zero=0.004,
        p_value_one=0.8,
        n_boot=99,
        g_with_own_failures=None,
        lr=30.0,
        bayes_factor=50.0,
        lr_flat_mean=25.0,
    )


def test_the_rule_needs_the_effect_and_reads_only_traffic_calls():
    concurrency, requests, errors = _prompts(1)
    args = (errors, requests, None, np.random.default_rng(0), 99, "request")
    base = stats.decide_verdict(None, _elasticity(2.9), None)
    assert base.label == stats.TRAFFIC and base.decided_by == "tests"
    moved = check_faster_than_flat(base, _elasticity(2.9), *args)
    assert moved.label == stats.UNDETERMINED and moved.faster_than_flat["g"] == 2.9
    # Below FASTER_G the call stands, however far the tail (a flat bug's busy minutes).
    assert check_faster_than_flat(base, _elasticity(1.9), *args) is base
    # Only traffic calls are read: an unrelated call with a steep slope is another rule's.
    unrelated = dataclasses.replace(base, label=stats.UNRELATED)
    assert check_faster_than_flat(unrelated, _elasticity(2.9), *args) is unrelated


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_report_says_the_errors_outgrow_their_requests(lang):
    from analysis import narrative

    text = narrative.load_locale(lang)
    concurrency, requests, errors = _prompts(1)
    el = _elasticity(2.91)
    args = (errors, requests, None, np.random.default_rng(0), 99, "request")
    v = check_faster_than_flat(stats.decide_verdict(None, el, None), el, *args)
    row = dataclasses.asdict(v) | {
        "verdict": v.label,
        "hinge_p_value": None,
        "hinge_p_value_bursty_null": None,
        "elasticity": el.g,
    }
    out = narrative.verdict_evidence(row, text)
    assert all(escape(x) in out for x in ("2.91", "0.010")), out
    assert "1/3" not in out  # not "between 1/3 and 3"
    plain = narrative.verdict_evidence(dict(row, faster_than_flat=None), text)
    assert "0.010" not in plain
