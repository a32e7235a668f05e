"""Most requests failed: a rate per request switched in time is neither flat nor unrelated.

docs/verdicts.md, "Most requests failed". Constructed hours: an insert that fails on every
request from minute 24 on (a deploy), a lock that fails nearly every request of one minute in
ten, flat bugs that fail a fifth and three fifths of them, and the report's words.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import stats
from analysis.narrative.formatting import escape
from analysis.simulate import minutes
from analysis.stats import bayes_vetoes
from analysis.stats.episodes import PERSIST_LEVEL


def _hour(seed: int, share) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(errors, requests, viewers) of a seed-like hour: every request failing from minute 24
    (``share`` None), 90 % of them in one minute of ten ("lock"), else a flat bug failing
    ``share`` of them."""
    rng = np.random.default_rng(seed)
    viewers = minutes.make_concurrency("seed", rng)
    requests = np.round(minutes.simulate_requests(viewers, rng) / 5.0)
    minute = np.arange(len(requests))
    if share is None:
        errors = np.where(minute >= 23, requests, 0.0)
    elif share == "lock":
        locked = minute % 10 == 5
        errors = np.where(locked, rng.binomial(requests.astype(int), 0.9), 0).astype(float)
    else:
        errors = rng.binomial(requests.astype(int), share).astype(float)
    return errors, requests, viewers


def _attribute(errors, requests, viewers, seed):
    signals = {"failed_requests": errors}
    rng = np.random.default_rng(seed)
    return stats.attribute_class(errors, requests, viewers, rng=rng, n_boot=99, signals=signals)[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_deploy_that_fails_every_request_is_named_by_its_minute(seed, monkeypatch):
    errors, requests, viewers = _hour(seed, None)
    v = _attribute(errors, requests, viewers, seed)
    assert v.label == stats.UNDETERMINED and v.decided_by == "none"
    assert v.mostly_failed["first_minute"] == 24 and v.mostly_failed["begins"]
    assert v.mostly_failed["share"] == 1.0 and v.mostly_failed["answered"] > 0
    assert "the errors begin at window minute 24" in v.reason
    # Without the rule the Bayes factor, reading the requests without the class's failures
    # (none in those minutes), called it unrelated although g = 0 is rejected.
    monkeypatch.setattr(bayes_vetoes, "MOSTLY_FAILED_SHARE", 1.01)
    before = _attribute(errors, requests, viewers, seed)
    assert (before.label, before.decided_by) == (stats.UNRELATED, "bayes_factor")
    assert before.p_value_zero <= 0.05 and before.p_value_one <= 0.05


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_a_lock_one_minute_in_ten_is_not_a_flat_rate(seed, monkeypatch):
    # tests/_unseen_agents.py's cron_locks in small: the tests called these hours traffic.
    errors, requests, viewers = _hour(seed, "lock")
    v = _attribute(errors, requests, viewers, seed)
    assert v.label == stats.UNDETERMINED and v.mostly_failed["minutes"] == 6
    assert v.mostly_failed["p_value"] <= PERSIST_LEVEL and v.mostly_failed["failed_share"] > 0.8
    monkeypatch.setattr(bayes_vetoes, "MOSTLY_FAILED_SHARE", 1.01)
    before = _attribute(errors, requests, viewers, seed)
    assert (before.label, before.decided_by) == (stats.TRAFFIC, "tests")


@pytest.mark.parametrize("share", [0.2, 0.6])
def test_a_flat_bug_is_not_taken_for_a_switch(share):
    # A fifth of the requests: no minute fails most of them. Three fifths: every minute does,
    # and the binomial test finds nothing a flat rate would not give.
    for seed in range(6):
        errors, requests, viewers = _hour(seed, share)
        assert _attribute(errors, requests, viewers, seed).mostly_failed is None


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_report_names_the_minutes_every_request_failed(lang):
    from analysis import narrative

    text = narrative.load_locale(lang)
    errors, requests, viewers = _hour(0, None)
    v = _attribute(errors, requests, viewers, 0)
    row = dataclasses.asdict(v) | {"verdict": v.label}
    out = narrative.verdict_evidence(row, text)
    assert all(escape(x) in out for x in ("24-60", "37", "100")), out
    plain = narrative.verdict_evidence(dict(row, mostly_failed=None), text)
    assert "24-60" not in plain
