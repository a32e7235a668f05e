"""Every request failed: a state switched in time is not decided by the Bayes factor.

docs/verdicts.md, "Every request failed". Constructed hours: an insert that fails on every
request from minute 24 on (a deploy), a flat bug that fails a fifth of them, and the report's
words for the first.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import stats
from analysis.narrative.formatting import escape
from analysis.simulate import minutes
from analysis.stats import bayes_vetoes


def _hour(seed: int, share: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(errors, requests, viewers) of a seed-like hour: every request failing from minute 24
    (``share`` None), else a flat bug failing ``share`` of them."""
    rng = np.random.default_rng(seed)
    viewers = minutes.make_concurrency("seed", rng)
    requests = np.round(minutes.simulate_requests(viewers, rng) / 5.0)
    if share is None:
        errors = np.where(np.arange(len(requests)) >= 23, requests, 0.0)
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
    assert v.own_only["first_minute"] == 24 and v.own_only["begins"]
    assert v.own_only["share"] == 1.0 and v.own_only["answered"] > 0
    assert "the errors begin at window minute 24" in v.reason
    # Without the rule the Bayes factor, reading the requests without the class's failures
    # (none in those minutes), called it unrelated although g = 0 is rejected.
    monkeypatch.setattr(bayes_vetoes, "OWN_ONLY_SHARE", 1.01)
    before = _attribute(errors, requests, viewers, seed)
    assert (before.label, before.decided_by) == (stats.UNRELATED, "bayes_factor")
    assert before.p_value_zero <= 0.05 and before.p_value_one <= 0.05


def test_a_flat_bug_leaves_requests_in_its_error_minutes():
    for seed in range(6):
        errors, requests, viewers = _hour(seed, 0.2)
        assert _attribute(errors, requests, viewers, seed).own_only is None


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_report_names_the_minutes_every_request_failed(lang):
    from analysis import narrative

    text = narrative.load_locale(lang)
    errors, requests, viewers = _hour(0, None)
    v = _attribute(errors, requests, viewers, 0)
    row = dataclasses.asdict(v) | {"verdict": v.label}
    out = narrative.verdict_evidence(row, text)
    assert all(escape(x) in out for x in ("24-60", "37", "100")), out
    plain = narrative.verdict_evidence(dict(row, own_only=None), text)
    assert "24-60" not in plain
