"""Unit tests of analysis.stats: input checks, model fits, each test's mechanics, results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from analysis import stats
from analysis.exceptions import StatsError
from analysis.simulate import minutes


def _frame(errors, requests, concurrency):
    n = len(errors)
    return pd.DataFrame(
        {
            "minute": pd.date_range("2026-02-06T05:00Z", periods=n, freq="min"),
            "requests": np.asarray(requests, dtype="int64"),
            "errors": np.asarray(errors, dtype="int64"),
            "concurrency": np.asarray(concurrency, dtype="int64"),
            "samples": np.ones(n, dtype="int64"),
        }
    )


def _capacity_incident(seed=0, k=200.0, lag=2, total=400.0, alpha=0.0):
    rng = np.random.default_rng(seed)
    conc = minutes.make_seed_like_concurrency(rng)
    req = minutes.simulate_requests(conc, rng)
    err = minutes.simulate_capacity_errors(conc, req, rng, k=k, lag=lag, total=total, alpha=alpha)
    return conc, req, err


# ---- input -------------------------------------------------------------------------------


def test_missing_column_is_one_line_error_naming_it():
    frame = _frame([1] * 30, [10] * 30, [5] * 30).drop(columns="requests")
    with pytest.raises(StatsError, match="missing column.*requests") as info:
        stats.extract_series(frame)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "found"),
    [("errors", -1, "-1"), ("concurrency", np.nan, "nan"), ("requests", 2.5, "2.5")],
)
def test_bad_count_names_row_column_and_value(column, value, found):
    frame = _frame([1] * 30, [10] * 30, [5] * 30).astype({column: "float64"})
    frame.loc[7, column] = value
    with pytest.raises(StatsError, match=rf"row 7, column '{column}'.*found {found}"):
        stats.extract_series(frame)


def test_too_short_frame_is_rejected():
    with pytest.raises(StatsError, match="at least"):
        stats.extract_series(_frame([1] * 5, [1] * 5, [1] * 5))


# ---- published limits (data) ---------------------------------------------------------------


def test_published_limits_table_holds_the_reference_values():
    table = {(d["product"], d["tier"]): d["limit"] for d in stats.SUPABASE_LIMITS}
    assert table[("Realtime", "Free plan")] == 200
    assert table[("Realtime", "Pro plan")] == 500
    assert table[("Postgres", "Micro compute")] == 60
    assert table[("Supavisor pooler", "Micro compute")] == 200
    assert table[("Postgres", "Small compute")] == 90
    assert all(d["source"] for d in stats.SUPABASE_LIMITS)


# ---- count-model machinery -----------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_hinge_grid_scoring_reaches_the_numerical_optimum(alpha):
    conc, req, err = _capacity_incident(seed=3, total=120, alpha=0.5)
    y, r = err.astype(float), np.maximum(req, 0.5).astype(float)
    hinge, ks, _ = stats.build_hinge_grid(conc, np.array([150.0, 200.0, 240.0]))
    ll, b0, b1, _ = stats.threshold._fit_hinge_grid(y[None], r, hinge, np.array([alpha]))
    for j in range(hinge.shape[0]):

        def negll(p, j=j):
            mu = r * (p[0] + p[1] * hinge[j])
            return -stats.countmodels._nb_kernel(y, mu, alpha) if np.all(mu > 0) else np.inf

        best = min(
            (
                optimize.minimize(negll, x0, method="Nelder-Mead", options={"xatol": 1e-12})
                for x0 in ([b0[0, j] * 1.5, b1[0, j] * 0.5 + 1e-6], [y.sum() / r.sum(), 1e-5])
            ),
            key=lambda res: res.fun,
        )
        if best.x[1] < 0:  # the constrained optimum is then on the b1 = 0 boundary
            continue
        assert ll[0, j] >= -best.fun - 1e-6


def test_flat_nb_falls_back_to_poisson_when_not_overdispersed():
    rng = np.random.default_rng(1)
    req = rng.integers(200, 1200, 60).astype(float)
    y = np.round(req * 0.002)  # under-dispersed: the NB MLE sits on the alpha = 0 boundary
    b0, alpha, ok = stats.fit_flat_nb(y, req)
    assert alpha == 0.0 and ok
    assert b0 == pytest.approx(y.sum() / req.sum())


def test_flat_nb_estimates_overdispersion():
    rng = np.random.default_rng(2)
    req = rng.integers(200, 1200, 60).astype(float)
    y = stats.simulate_nb(req * 0.01, 1.0, rng).astype(float)
    _, alpha, ok = stats.fit_flat_nb(y, req)
    assert ok and 0.3 < alpha < 3.0


# ---- threshold ---------------------------------------------------------------------------


def test_threshold_recovered_with_lag_and_interval_on_strong_signal():
    conc, req, err = _capacity_incident(seed=5, k=220.0, lag=2, total=600.0)
    fit = stats.estimate_threshold(err, req, conc)
    assert fit.k == pytest.approx(220.0, rel=0.05)
    assert fit.lag_minutes == 2
    assert fit.k_low <= 220.0 <= fit.k_high
    assert not fit.weakly_identified
    assert fit.converged and fit.alpha < 0.05  # Poisson data: alpha at or near the boundary
    assert any("Realtime" in s and "200" in s for s in fit.limits_in_interval) == (
        fit.k_low <= 200 <= fit.k_high
    )


def test_threshold_weakly_identified_when_errors_ignore_load():
    rng = np.random.default_rng(8)
    conc = minutes.make_seed_like_concurrency(rng)
    req = minutes.simulate_requests(conc, rng)
    fit = stats.estimate_threshold(rng.poisson(2.0, 60), req, conc)
    assert fit.weakly_identified
    assert fit.k_high - fit.k_low > 0.2 * fit.k


# ---- hinge test and verdicts --------------------------------------------------------------


def test_hinge_test_rejects_clear_capacity_and_not_a_poisson_bug():
    conc, req, err = _capacity_incident(seed=11, k=210.0, total=150.0)
    test = stats.compare_hinge_to_flat(err, req, conc, rng=np.random.default_rng(0), n_boot=49)
    assert test.p_value <= 0.05
    rng = np.random.default_rng(12)
    bug = minutes.simulate_bug_errors(req, rng, total=120)
    test = stats.compare_hinge_to_flat(bug, req, conc, rng=rng, n_boot=49)
    assert test.p_value > 0.05


def test_the_flat_null_has_the_hinges_lags_and_finds_a_late_rate():
    # A flat rate per request that shows 3 minutes after its requests, on a ramp: the null
    # finds the lag, and the hinge (whose lag the null now shares) is no better than it.
    rng = np.random.default_rng(5)
    conc = np.concatenate([np.linspace(40, 300, 30), np.full(30, 300.0)])
    req = rng.poisson(4 * conc).astype(float)
    y = rng.poisson(0.02 * stats.lag_padded(req, 3)).astype(float)
    b0, _, lag = stats.fit_lagged_flat(y, req)
    assert lag == 3 and b0 == pytest.approx(0.02, rel=0.1)
    test = stats.compare_hinge_to_flat(y, req, conc, rng=np.random.default_rng(0), n_boot=99)
    assert test.null_lag == 3 and test.p_value > 0.05
    assert "3 minute(s) earlier" in test.reference


@pytest.mark.parametrize("total", [60, 120])
def test_sequential_bootstrap_gives_the_full_runs_decision(total):
    conc, req, _ = _capacity_incident(seed=4)
    bug = minutes.simulate_bug_errors(req, np.random.default_rng(total), total=total)
    r = np.maximum(req, 0.5).astype(float)
    cells = stats.threshold._test_cells(r, stats.threshold._test_grid(conc))
    observed = float(stats.threshold._sup_lr(bug[None].astype(float), cells)[0])
    mu = r * bug.sum() / r.sum()

    def p_value(stop_after):
        rng = np.random.default_rng(7)
        draw = lambda s: rng.poisson(np.broadcast_to(mu, (s, len(mu))))  # noqa: E731
        return stats.threshold._bootstrap_p(observed, draw, cells, 199, stop_after=stop_after)

    early, full = p_value(10), p_value(10**9)
    assert (early <= 0.05) == (full <= 0.05)
    if early != full:  # stopped early: p = exceedances / drawn >= 10 / 199
        assert early >= 10 / 199


def test_verdict_for_too_few_errors_and_untestable_load():
    frame = _frame([0] * 59 + [1], [3] * 60, [2] * 60)
    result = stats.analyse_class(frame, seed=1, n_boot=19)
    assert result.verdict.label == stats.INSUFFICIENT
    assert result.hinge_test is None and result.threshold is None
    frame = _frame([1] * 60, [3] * 60, [2] * 60)  # concurrency never above the grid floor
    result = stats.analyse_class(frame, seed=1, n_boot=19)
    assert result.hinge_test is None
    # Constant requests: no test can tell a flat rate per request from no link to traffic.
    assert result.verdict.label == stats.UNDETERMINED
    assert "not testable" in result.verdict.reason


def test_bursty_capacity_call_carries_the_cox_null_p_value():
    rng = np.random.default_rng(21)
    conc = minutes.make_seed_like_concurrency(rng)
    req = minutes.simulate_requests(conc, rng)
    err = minutes._cox(60, 150.0, 0.9, rng, sd=1.3) * (conc > 200)
    verdict, test, _, _ = stats.attribute_class(err, req, conc, rng=rng, n_boot=49)
    if verdict.label == stats.CAPACITY and verdict.bursty:
        assert test.p_value_bursty_null is not None
        # A capacity call survived the bursty null: its reason names that null's p-value.
        assert "AR(1)-Cox" in verdict.reason
    assert verdict.residual_phi is not None


# ---- association tests ---------------------------------------------------------------------


def test_shift_p_value_is_rank_among_all_shifts():
    assert stats.association._shift_p(np.array([5.0, 1.0, 2.0, 3.0])) == 0.25
    assert stats.association._shift_p(np.array([1.0, 5.0, 2.0, 3.0])) == 1.0


def test_ccf_finds_a_lagged_link_in_the_right_direction():
    found, p_lead, p_back = [], [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        conc = 200 + minutes.simulate_ar1(60, 0.8, rng) * 60
        y = rng.poisson(np.maximum(0.5, 10 + 0.1 * (stats.lag_padded(conc, 3) - 200)))
        cc = stats.cross_correlate(conc, y)
        found.append(cc.load_leads_lag)
        p_lead.append(cc.load_leads_p_value)
        p_back.append(cc.errors_lead_p_value)
    assert found == [3] * 8
    # Neighbouring shifts keep part of the peak in the 0..5 window, so p bottoms out at 2-3/59.
    assert max(p_lead) < 0.06 and sum(p <= 0.05 for p in p_lead) >= 4
    assert sum(p <= 0.05 for p in p_back) <= 1
    assert cc.lags[0] == -15 and len(cc.r) == 31


def test_count_model_detects_strong_load_and_reports_lags():
    rng = np.random.default_rng(4)
    conc = minutes.make_seed_like_concurrency(rng)
    y = rng.poisson(np.exp(-1 + conc / 100))
    lc = stats.fit_load_coefficient(conc, y)
    assert lc.p_value <= 0.05 and lc.coefficient_per_sd > 0
    assert len(lc.z_by_lag) == stats.COUNT_MODEL_LAGS and lc.z_by_lag[0] == lc.z


def test_coincidence_rates_at_explicit_lags():
    conc = np.full(60, 10)
    errors = np.zeros(60, dtype=int)
    # Bursts 0-3 minutes after each spike: only the observed alignment keeps all of them.
    for t, lag in zip((4, 13, 22, 31, 40, 49), (0, 1, 2, 3, 0, 2), strict=True):
        conc[t] = 300
        errors[t + lag] = 9
    eca = stats.analyse_coincidence(conc, errors)
    assert eca.n_spikes == 6 and eca.n_error_peaks == 6
    assert eca.precursor_rate == 1.0 and eca.trigger_rate == 1.0
    assert eca.precursor_rate_by_lag[:5] == pytest.approx((2 / 6, 1 / 6, 2 / 6, 1 / 6, 0.0))
    assert eca.precursor_p_value <= 0.05 and eca.trigger_p_value <= 0.05
    # A single perfectly aligned lag ties with its neighbouring shifts: p >= 4/60 (conservative).
    conc2, err2 = np.full(60, 10), np.zeros(60, dtype=int)
    conc2[[10, 25, 40]] = 300
    err2[[11, 26, 41]] = 9
    assert stats.analyse_coincidence(conc2, err2).precursor_p_value >= 4 / 60


# ---- bursts and regimes ----------------------------------------------------------------------


def test_bursts_of_errors_out_of_requests():
    rng = np.random.default_rng(5)
    req = np.full(60, 500)
    y = rng.poisson(1.0, 60)
    y[20:26] += 15
    labels = [str(i) for i in range(60)]
    bursts = stats.detect_bursts(y, req, labels)
    assert len(bursts) == 1
    assert int(bursts[0].start) <= 20 and int(bursts[0].end) >= 25
    assert bursts[0].errors >= 90


def test_change_points_stable_over_penalty_sweep():
    rng = np.random.default_rng(6)
    y = np.concatenate([rng.poisson(1, 30), rng.poisson(12, 30)])
    labels = [str(i) for i in range(60)]
    cp = stats.detect_change_points(y, labels)
    assert len(cp.penalties) == len(stats.PELT_PENALTY_MULTIPLIERS)
    shares = {d["minute"]: d["share_of_penalties"] for d in cp.stability}
    assert shares.get("30") == 1.0
    assert all(len(bk) <= 3 for bk in cp.breakpoints_by_penalty[2:])


# ---- results ----------------------------------------------------------------------------------


def test_results_are_plain_json_and_deterministic():
    conc, req, err = _capacity_incident(seed=9, total=120, alpha=0.5)
    frames = {"b": _frame(err, req, conc), "a": _frame(err[::-1], req, conc)}
    one = stats.analyse_webinar(frames, seed=42, n_boot=19)
    two = stats.analyse_webinar(dict(reversed(frames.items())), seed=42, n_boot=19)
    text = json.dumps(one.to_dict(), allow_nan=False)
    assert text == json.dumps(two.to_dict(), allow_nan=False)
    cls = one.classes["b"]
    assert cls.verdict.label in (stats.CAPACITY, stats.TRAFFIC, stats.UNRELATED)
    assert isinstance(cls.threshold.k, float) and isinstance(cls.seed, int)
    assert cls.hinge_test.n_boot == 19
    assert one.classes["a"].seed != cls.seed
    assert list(stats.tabulate_statistics(one)["error_class"]) == ["a", "b"]
    assert list(stats.tabulate_statistics(None).columns) == list(stats.STATISTICS_COLUMNS)


def test_results_rebuild_from_their_json_form():
    conc, req, err = _capacity_incident(seed=9, total=120, alpha=0.5)
    one = stats.analyse_webinar({"b": _frame(err, req, conc)}, seed=42, n_boot=19)
    data = json.loads(json.dumps(one.to_dict(), allow_nan=False))
    back = stats.WebinarStatistics.from_dict(data)
    assert back.to_dict() == data
    cls = back.classes["b"]
    assert isinstance(cls.verdict, stats.Verdict) and isinstance(cls.threshold, stats.ThresholdFit)
    assert all(isinstance(b, stats.Burst) for b in cls.bursts)
    assert (
        isinstance(cls.threshold.k_grid, tuple) and cls.threshold.k == one.classes["b"].threshold.k
    )


def test_empty_webinar_is_an_error():
    with pytest.raises(StatsError, match="at least one error class"):
        stats.analyse_webinar({}, seed=1)


def test_a_source_column_unknown_wherever_errors_are_is_not_the_unit():
    # An app without sign-in: no failing request names a user, so users are NaN at every
    # minute with errors; the counts are the errors (or the clients) and the unit says so.
    errors = np.array([4.0, 0, 2, 0])
    users = np.array([np.nan, 0, np.nan, 0])
    y, unit = stats.choose_counts(errors, {"users": users})
    assert unit == "errors" and y.tolist() == errors.tolist()
    y, unit = stats.choose_counts(errors, {"users": users, "clients": np.array([1.0, 0, 1, 0])})
    assert unit == "clients with errors" and y.tolist() == [1, 0, 1, 0]
