"""Both elasticity tests reject: an episode in time is not called traffic-proportional.

docs/verdicts.md, "Both tests reject". Constructed hours: an outage that fails most requests
of a busy stretch and none outside it, a flat bug, and the rule's conditions on a verdict.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import stats
from analysis.narrative.formatting import escape
from analysis.simulate import minutes
from analysis.stats import bayes_vetoes
from analysis.stats.episodes import check_flat_rate_persists


def _hour(seed: int, first: int = 45) -> tuple[np.ndarray, np.ndarray]:
    """Requests of a seed-like hour, and an outage failing 80 % of them in 12 minutes."""
    rng = np.random.default_rng(seed)
    requests = minutes.simulate_requests(minutes.make_concurrency("seed", rng), rng).astype(float)
    errors = np.zeros_like(requests)
    span = slice(first - 1, first + 11)
    errors[span] = rng.binomial(requests[span].astype(int), 0.8)
    return errors, requests


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_outage_stops_where_even_a_bursty_flat_rate_would_not(seed):
    errors, requests = _hour(seed)
    quiet = check_flat_rate_persists(errors, requests, rng=np.random.default_rng(seed), n_boot=199)
    assert quiet["p_value"] <= 0.01
    # The quiet run is the stretch before the outage, where the refitted rate expects more
    # errors than the outage had: the silence holds most of the requests.
    assert quiet["last_minute"] < 45
    assert quiet["expected"] >= errors.sum()


def test_a_flat_bug_is_rarely_taken_for_an_episode():
    # The check vetoes a call, so its false alarms on a flat rate stay near its level (0.01):
    # 40 hours of a flat 2 % bug, at most 2 (the measured rate is 0.010-0.015, docs).
    flagged = 0
    for seed in range(40):
        rng = np.random.default_rng([5, seed])
        requests = minutes.simulate_requests(minutes.make_concurrency("random", rng), rng)
        errors = minutes.simulate_bug_errors(requests, rng, total=100.0)
        quiet = check_flat_rate_persists(
            errors, requests, rng=np.random.default_rng(seed), n_boot=99
        )
        flagged += quiet["p_value"] <= 0.01
    assert flagged <= 2


def _verdict(p0: float, p1: float, label=stats.TRAFFIC, decided_by="bayes_factor"):
    return stats.Verdict(
        label,
        "hinge bootstrap p = 0.600; elasticity in requests g = 1.20 (se 0.40)",
        0.6,
        None,
        1.2,
        p0,
        p1,
        False,
        0.5,
        "both tests reject; the Bayes factor 339 decides",
        "users with errors",
        339.0,
        decided_by,
        bayes_factor_cut=3.0,
    )


def test_only_a_traffic_call_by_the_bayes_factor_with_both_tests_rejecting_is_checked():
    errors, requests = _hour(0)
    rng = np.random.default_rng(0)

    def check(v, set_aside=None):
        return bayes_vetoes.check_quiet_run(v, errors, requests, set_aside, rng, 99, "request")

    got = check(_verdict(0.03, 0.01))
    assert got.label == stats.UNDETERMINED and got.decided_by == "none"
    assert got.quiet_run is not None and got.caveat is None and got.bayes_factor_cut is None
    q = got.quiet_run
    assert f"window minutes {q['first_minute']}-{q['last_minute']} hold none" in got.reason
    # One test not rejecting, a call by the tests, a hinge set aside: left as they are.
    for v in (
        _verdict(0.03, 0.2),
        _verdict(0.2, 0.01),
        _verdict(0.01, 0.3, decided_by="tests"),
        _verdict(0.03, 0.01, label=stats.UNRELATED),
    ):
        assert check(v) == v
    v = _verdict(0.03, 0.01)
    assert check(v, set_aside={"kind": "no_onset"}) == v


def test_a_short_silence_leaves_the_bayes_factor_its_call():
    # An outage in the middle of the hour leaves two quiet stretches, each holding less than
    # half the requests: the silence is improbable but small, and bursty bugs have such
    # silences too (docs/verdicts.md), so the verdict stays.
    errors, requests = _hour(0, first=30)
    quiet = check_flat_rate_persists(errors, requests, rng=np.random.default_rng(0), n_boot=99)
    assert quiet["p_value"] <= 0.01 and quiet["expected"] < errors.sum()
    v = _verdict(0.03, 0.01)
    rng = np.random.default_rng(0)
    assert bayes_vetoes.check_quiet_run(v, errors, requests, None, rng, 99, "request") == v


def test_bursty_bugs_are_not_taken_for_episodes():
    # The size condition's reason: AR(1)-Cox bugs (50-150 errors) on 40 hours, none vetoed.
    vetoed = 0
    for seed in range(40):
        rng = np.random.default_rng([6, seed])
        requests = minutes.simulate_requests(minutes.make_concurrency("seed", rng), rng)
        errors = minutes.simulate_bug_errors(requests, rng, total=100.0, bursty=True)
        got = bayes_vetoes.check_quiet_run(
            _verdict(0.03, 0.01), errors, requests, None, np.random.default_rng(seed), 99, "r"
        )
        vetoed += got.label != stats.TRAFFIC
    assert vetoed == 0


def test_the_draws_after_the_check_are_the_same_either_way():
    errors, requests = _hour(1)
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    bayes_vetoes.check_quiet_run(_verdict(0.03, 0.01), errors, requests, None, a, 99, "request")
    assert a.random() == b.random()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_report_says_the_errors_stopped_while_requests_went_on(lang):
    from analysis import narrative

    text = narrative.load_locale(lang)
    v = dataclasses.asdict(_verdict(0.03, 0.01)) | {
        "verdict": stats.UNDETERMINED,
        "decided_by": "none",
        "hinge_p_value": 0.6,
        "p_value_zero": 0.03,
        "p_value_one": 0.01,
        "bayes_factor": 339.0,
        "quiet_run": {"p_value": 0.005, "first_minute": 1, "last_minute": 199, "expected": 82.3},
    }
    out = narrative.verdict_evidence(v, text)
    assert all(escape(x) in out for x in ("1-199", "82.3", "0.005", "339")), out
    plain = narrative.verdict_evidence(dict(v, quiet_run=None), text)
    assert escape("1-199") not in plain
