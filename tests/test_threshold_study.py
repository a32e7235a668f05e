"""The threshold study's incidents and its scoring (tiny counts; the study is a benchmark)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.simulate import sessions
from analysis.simulate import threshold_study as study


@pytest.mark.parametrize("seed", range(20))
def test_k_is_drawn_below_the_lagged_load_with_minutes_above_it(seed):
    rng = np.random.default_rng(seed)
    load = sessions.draw_audience(sessions.SHAPES[seed % len(sessions.SHAPES)], 60, rng)
    k = study.choose_k(load, rng)
    assert np.sum(load > k) >= study.MIN_ABOVE
    assert k >= np.quantile(load, 0.3) or 180 <= k <= 260


def test_a_capacity_class_can_be_put_on_a_low_load_hour_with_a_chosen_k():
    inc = sessions.simulate_session_incident(
        "low_load",
        np.random.default_rng(3),
        mechanisms=("capacity_db",),
        choose_k=lambda lagged, rng: float(np.quantile(lagged, 0.5)),
    )
    assert set(inc.classes) == {"capacity_db"}
    truth = inc.truth["classes"]["capacity_db"]
    assert truth["k"] < 120  # low load: 38-112 viewers targeted
    assert inc.class_frame("capacity_db")["errors"].sum() > 0


def test_without_the_new_arguments_an_incident_is_drawn_as_before():
    a = sessions.simulate_session_incident("plateau", np.random.default_rng(11))
    b = sessions.simulate_session_incident(
        "plateau", np.random.default_rng(11), mechanisms=None, choose_k=None
    )
    assert sorted(a.classes) == sorted(b.classes)
    assert np.array_equal(a.concurrency, b.concurrency)
    for name in a.classes:
        assert a.class_frame(name).equals(b.class_frame(name))


def test_jobs_skip_shapes_a_generator_cannot_draw():
    jobs = study.study_jobs(study.GENERATORS, ("seed", "plateau"), 2, 9, False)
    assert ("sessions", "seed") not in {(g, s) for g, s, *_ in jobs}
    assert len(jobs) == 2 * 3


def test_one_incident_is_scored_against_its_truth():
    row = study.run_incident(("minutes", "plateau", 0, 9, False))
    assert {"k", "k_low_hat", "k_high_hat", "lag_hat", "weak"} <= set(row)
    assert row["k_low_hat"] <= row["k"] <= row["k_high_hat"]
    assert row["lag_low_hat"] <= row["lag_hat"] <= row["lag_high_hat"]


def test_scoring_rules():
    row = {"k": 200.0, "k_low_hat": 190.0, "k_high_hat": 210.0, "lag_hat": 2, "lag": 0}
    assert study.covers({**row, "k_low": 205.0, "k_high": 205.0})
    assert not study.covers({**row, "k_low": 211.0, "k_high": 230.0})
    assert study.covers({**row, "k_low": 209.0, "k_high": 230.0})  # a true range meets it
    assert study.within_10({**row, "k_low": 220.0, "k_high": 220.0})
    assert not study.within_10({**row, "k_low": 223.0, "k_high": 223.0})
    assert not study.lag_within_1(row)
    summary = study.summarize([{**row, "k_low": 205.0, "k_high": 205.0, "weak": False,
                                "generator": "g", "shape": "s"}])  # fmt: skip
    assert summary[0]["coverage"] == 1.0 and summary[0]["lag_within_1"] == 0.0
