"""Who the errors came from when requests name no user: client addresses (issue 12 C)."""

from __future__ import annotations

import html

import numpy as np
import pytest

from analysis import narrative
from analysis.stats import MIN_SOURCES, attribute_class, summarize_signals
from analysis.stats.series import (
    MANY_ADDRESSES,
    SHARED_ADDRESS,
    count_addresses,
    find_sources,
)


def _signals(errors, mine: int, reached: int, users=None) -> dict:
    """Addresses first seen at the first minutes with errors; the endpoint's spread evenly."""
    hit = np.flatnonzero(errors > 0)
    new = np.zeros(len(errors))
    new[hit[:mine]] = 1
    out = {"new_addresses": new, "endpoint_addresses": np.full(len(errors), reached / len(errors))}
    if users is not None:
        out["new_users"] = users
    return out


def _rising_errors(seed: int = 1) -> np.ndarray:
    """Errors that rise steeply with the audience past 120 viewers, as a limit's would."""
    rng = np.random.default_rng(seed)
    viewers = np.round(40 + 200 * np.sin(np.linspace(0, np.pi, 60)))
    return viewers, rng.poisson(np.maximum(viewers - 120, 0) * 0.4).astype(float)


def test_users_come_first_then_addresses_where_the_endpoint_had_many():
    errors = np.array([0, 3, 4, 0, 5] + [0] * 55, dtype=float)
    users = np.zeros(60)
    users[1] = 3
    assert find_sources(errors, _signals(errors, 2, 358, users)) == (3, "user")
    assert find_sources(errors, _signals(errors, 2, 358)) == (2, "address")
    assert count_addresses(errors, _signals(errors, 2, 358)) == (2, 358)
    # An audience behind a few addresses (one office's NAT): few addresses say nothing.
    assert find_sources(errors, _signals(errors, 2, MANY_ADDRESSES - 1)) == (None, "user")
    unknown = _signals(errors, 2, 358)
    unknown["new_addresses"][4] = np.nan  # a minute with errors whose addresses are unknown
    assert find_sources(errors, unknown) == (None, "user")


def test_errors_from_two_of_many_addresses_are_not_the_projects_limit():
    viewers, errors = _rising_errors()
    rng = np.random.default_rng(0)
    signals = _signals(errors, 2, 358)
    verdict, *_ = attribute_class(errors, viewers, viewers, rng=rng, n_boot=49, signals=signals)
    assert verdict.label == "unrelated" and verdict.decided_by == "few_sources", verdict.reason
    assert verdict.sources == 2 < MIN_SOURCES
    assert "2 distinct client address(es) in the window, fewer than 5, while many" in verdict.reason
    summary = summarize_signals(errors, viewers, viewers, signals)
    assert (summary.addresses, summary.endpoint_addresses) == (2, 358)


def test_errors_from_many_addresses_or_an_audience_behind_few_are_tested_as_before():
    viewers, errors = _rising_errors()
    base, *_ = attribute_class(errors, viewers, viewers, rng=np.random.default_rng(0), n_boot=49)
    for mine, reached in ((40, 358), (2, MANY_ADDRESSES - 1)):
        signals = _signals(errors, mine, reached)
        verdict, *_ = attribute_class(
            errors, viewers, viewers, rng=np.random.default_rng(0), n_boot=49, signals=signals
        )
        assert (verdict.label, verdict.decided_by) == (base.label, base.decided_by)
    assert base.decided_by != "few_sources"


def _behind(signals: dict, behind: int, seen: int) -> dict:
    """Add users seen behind the error addresses and in the window, all at minute 0."""
    n = len(signals["new_addresses"])
    shared, window = np.zeros(n), np.zeros(n)
    shared[0], window[0] = behind, seen
    return {**signals, "shared_users": shared, "window_users": window}


def test_an_address_that_carried_most_of_the_signed_in_users_counts_as_them():
    # A venue's NAT: one address with errors, behind which 337 of 502 signed-in users sat.
    errors = np.array([0, 3, 4, 0, 5] + [0] * 55, dtype=float)
    signals = _signals(errors, 1, 166)
    assert find_sources(errors, _behind(signals, 337, 502)) == (337, SHARED_ADDRESS)
    assert find_sources(errors, _behind(signals, 251, 502)) == (251, SHARED_ADDRESS)
    # Offices' NATs that carried a minority (61 of 478), or fewer users than the floor: the
    # addresses are counted as before.
    assert find_sources(errors, _behind(signals, 61, 478)) == (1, "address")
    assert find_sources(errors, _behind(signals, 250, 502)) == (1, "address")
    assert find_sources(errors, _behind(signals, MIN_SOURCES - 1, MIN_SOURCES)) == (1, "address")
    assert find_sources(errors, _behind(signals, 0, 0)) == (1, "address")


def test_errors_behind_the_audiences_one_address_are_tested_and_the_reason_says_why():
    viewers, errors = _rising_errors()
    base, *_ = attribute_class(errors, viewers, viewers, rng=np.random.default_rng(0), n_boot=49)
    signals = _behind(_signals(errors, 1, 166), 337, 502)
    verdict, *_ = attribute_class(
        errors, viewers, viewers, rng=np.random.default_rng(0), n_boot=49, signals=signals
    )
    assert (verdict.label, verdict.decided_by) == (base.label, base.decided_by)
    assert verdict.decided_by != "few_sources" and verdict.sources == 337
    assert "1 client address(es), fewer than 5, but 337 of the 502" in verdict.reason
    assert "(67 %)" in verdict.reason and "does not apply" in verdict.reason
    minority = _behind(_signals(errors, 1, 166), 61, 478)
    verdict, *_ = attribute_class(
        errors, viewers, viewers, rng=np.random.default_rng(0), n_boot=49, signals=minority
    )
    assert verdict.decided_by == "few_sources" and "does not apply" not in verdict.reason


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "By address: the errors came from 2 addresses, the requests to its endpoints"),
        ("ko", "오류는 2개 주소에서, 엔드포인트 요청은 358개 주소에서"),
    ],
)
def test_the_page_says_how_many_addresses_the_errors_and_the_endpoint_came_from(lang, said):
    text = narrative.load_locale(lang)
    v = {"verdict": "unrelated", "signals": {"addresses": 2, "endpoint_addresses": 358}}
    assert said in html.unescape(narrative.verdict_evidence(v, text))
    unknown = {"verdict": "unrelated", "signals": {"addresses": None, "endpoint_addresses": None}}
    assert said[:6] not in html.unescape(narrative.verdict_evidence(unknown, text))
