"""Threshold K and lag: profile intervals, their calibration and what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import stats
from analysis.simulate import minutes
from analysis.simulate import threshold_study as study
from analysis.stats import threshold as th


def _saturating(seed: int, k: float = 200.0, lag: int = 1):
    """A ramp whose failing users saturate above K (a share of viewers cannot exceed all)."""
    rng = np.random.default_rng(seed)
    ramp = np.clip(40 + 12 * (np.arange(60) - 8), 40, 330)
    conc = np.round(ramp * np.exp(0.02 * rng.standard_normal(60)))
    p = np.minimum(0.6, 0.004 * np.maximum(0, stats.lag_padded(conc, lag) - k))
    y = rng.binomial(conc.astype(int), 1 - (1 - p) ** 4) + rng.poisson(0.3, 60)
    return y.astype(float), rng.poisson(conc * 4).astype(float), conc


def test_a_saturating_response_fixed_to_a_line_misses_k_and_the_shape_profile_covers_it(
    monkeypatch,
):
    y, req, conc = _saturating(1)
    fit = stats.estimate_threshold(y, req, conc, rng=np.random.default_rng(1))
    assert fit.k_low <= 200 <= fit.k_high
    assert fit.shape_exponent < 1
    # A line on the readings themselves: smoothing bends the ramp's corners, which lets a line
    # reach this K by another route, and this test is about the shape.
    monkeypatch.setattr(th, "SHAPE_EXPONENTS", (1.0,))
    monkeypatch.setattr(th, "smooth_load", lambda c: np.asarray(c, dtype=float))
    linear = stats.estimate_threshold(y, req, conc, rng=np.random.default_rng(1))
    assert not linear.k_low <= 200 <= linear.k_high


def test_the_interval_reaches_the_first_grid_values_outside_it():
    y, req, conc = _saturating(3)
    fit = stats.estimate_threshold(y, req, conc)
    grid, lr = np.array(fit.k_grid), np.array(fit.k_profile_lr)
    inside = grid[lr <= fit.interval_lr_cut]
    assert fit.k_low in grid and fit.k_high in grid
    if not fit.k_open_low:
        assert fit.k_low < inside.min() and lr[grid == fit.k_low][0] > fit.interval_lr_cut
    if not fit.k_open_high:
        assert fit.k_high > inside.max() and lr[grid == fit.k_high][0] > fit.interval_lr_cut
    assert fit.k_low <= fit.k <= fit.k_high


def test_bursty_errors_get_a_wider_cut_than_independent_ones():
    cuts = {}
    for name, phi in (("independent", 0.0), ("bursty", 0.9)):
        rng = np.random.default_rng(5)
        conc = minutes.make_seed_like_concurrency(rng)
        req = minutes.simulate_requests(conc, rng)
        burst = np.exp(0.8 * minutes.simulate_ar1(60, phi, rng) - 0.32) if phi else 1.0
        err = minutes.simulate_capacity_errors(
            conc, req * burst, rng, k=200, lag=1, total=150.0, alpha=0.0
        )
        fit = stats.estimate_threshold(err, req, conc, rng=rng)
        cuts[name] = (fit.interval_lr_cut, fit.interval_reference)
    assert cuts["bursty"][0] > cuts["independent"][0]
    assert "persistence" in cuts["bursty"][1]


def test_load_noise_is_read_from_the_load_itself():
    rng = np.random.default_rng(0)
    smooth = np.clip(30 + 9 * np.arange(60), 30, 320).astype(float)
    assert stats.estimate_load_noise(smooth) < 0.005
    noisy = [smooth * np.exp(0.04 * rng.standard_normal(60)) for _ in range(20)]
    assert 0.035 < np.mean([stats.estimate_load_noise(c) for c in noisy]) < 0.045


def test_a_threshold_near_the_top_of_the_load_is_open_above():
    rng = np.random.default_rng(8)
    conc = np.concatenate([np.full(50, 100.0), np.full(10, 300.0)])
    conc = np.round(conc * np.exp(0.01 * rng.standard_normal(60)))
    req = rng.poisson(conc * 4).astype(float)
    y = rng.poisson(req * (1e-3 + 1e-4 * np.maximum(0, conc - 250))).astype(float)
    fit = stats.estimate_threshold(y, req, conc)
    # Nothing between 100 and 300 viewers: K could be anywhere in the gap, and the grid ends
    # (3 minutes above K) at the top.
    assert fit.k_low <= 110 and fit.k_high >= 280
    assert fit.weakly_identified


@pytest.mark.parametrize("shape", th.SHAPE_EXPONENTS)
def test_fitted_rate_is_the_model_of_the_fit(shape):
    conc = np.linspace(50, 300, 60)
    fit = stats.estimate_threshold(np.ones(60), np.full(60, 10.0), conc)
    fit = type(fit)(**{**fit.__dict__, "k": 150.0, "lag_minutes": 2, "shape_exponent": shape})
    want = (
        fit.b0_per_request
        + fit.b1_per_request_per_viewer * np.maximum(0, stats.lag_padded(conc, 2) - 150) ** shape
    )
    assert np.allclose(stats.fitted_rate(fit, conc), want)


def test_an_open_interval_end_is_printed_as_a_bound():
    from analysis.narrative.formatting import fmt_interval

    assert fmt_interval(144, 238) == "[144, 238]"
    assert fmt_interval(152, 264, open_high=True) == "[152, ≥264]"
    assert fmt_interval(20, 238, open_low=True) == "[≤20, 238]"


def test_k_between_observed_load_levels_is_extrapolated_and_not_called_well_identified(
    monkeypatch,
):
    # One shape only, so the interval is narrow and only the onset rule can flag it.
    monkeypatch.setattr(th, "SHAPE_EXPONENTS", (1.0,))
    rng = np.random.default_rng(4)
    conc = np.repeat([100.0, 250.0, 300.0, 100.0], 15)
    req = rng.poisson(conc * 20).astype(float)
    y = rng.poisson(req * (1e-3 + 4e-4 * np.maximum(0, conc - 200))).astype(float)
    fit = stats.estimate_threshold(y, req, conc)
    # No minute's load lies near K: two levels above it fix a line, and K is where that line
    # meets the baseline, however narrow the interval.
    assert fit.k_high - fit.k_low < 2 * stats.WELL_IDENTIFIED_WITHIN * fit.k
    assert fit.minutes_at_onset < stats.MIN_MINUTES_AT_ONSET
    assert fit.weakly_identified


def _fit_summary(fit):
    return (fit.k, fit.k_low, fit.k_high, fit.lag_minutes, fit.lag_low, fit.lag_high,
            fit.family, fit.shape_exponent, fit.weakly_identified)  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_last_digit_changes_do_not_move_k_or_the_family(seed):
    # Cells tie (every b1 = 0 cell is the flat fit, whatever its K) and NB2's alpha can sit at
    # its boundary: K, the lag, the family and the intervals must not follow the arithmetic's
    # last digits (a 1e-12 change in the exposure).
    rng = np.random.default_rng(seed)
    conc = np.round(np.clip(40 + 300 * rng.random() + np.cumsum(rng.normal(0, 15, 60)), 25, 400))
    req = rng.poisson(conc * 3).astype(float)
    rate = 0.01 + (0.002 * np.maximum(0, conc - np.median(conc)) if seed % 2 else 0.0)
    y = rng.poisson(req * rate).astype(float)
    base = stats.estimate_threshold(y, req, conc)
    for eps in (1e-12, -1e-12, 3e-13):
        moved = stats.estimate_threshold(y, req * (1 + eps), conc)
        assert _fit_summary(moved) == _fit_summary(base)


def test_counts_that_are_not_overdispersed_are_poisson():
    rng = np.random.default_rng(2)
    conc = np.linspace(40, 300, 60)
    req = rng.poisson(conc * 4).astype(float)
    y = rng.poisson(req * 0.01).astype(float)
    assert stats.estimate_threshold(y, req, conc).family == "poisson"
    y = rng.poisson(req * 0.01 * rng.gamma(2.0, 0.5, 60)).astype(float)
    fit = stats.estimate_threshold(y, req, conc)
    assert fit.family == "negative_binomial" and fit.alpha > 0.1


def test_k_at_the_bottom_of_the_grid_is_open_and_never_well_identified():
    # One grid value only (the load barely passes the first K): open at both ends, weak.
    rng = np.random.default_rng(3)
    req = rng.poisson(np.full(60, 50.0)).astype(float)
    conc = np.where(np.arange(60) < 56, 20.0, 21.0)
    fit = stats.estimate_threshold(rng.poisson(np.full(60, 3.0)).astype(float), req, conc)
    assert len(fit.k_grid) == 1 and fit.k_open_low and fit.k_open_high
    assert fit.weakly_identified


def test_a_load_below_twenty_viewers_extends_the_grid_down_to_it():
    # A small audience whose errors start at 15 viewers, under K_MIN: the grid starts at the
    # lowest load (rounded down to the step), so the interval holds 15 and is closed below
    # when the data say so, instead of reading "<= 20".
    rng = np.random.default_rng(3)
    conc = np.round(np.clip(np.linspace(5, 34, 60) + rng.normal(0, 1, 60), 1, None))
    req = rng.poisson(conc * 5).astype(float)
    y = rng.poisson(req * (0.005 + 0.05 * np.maximum(0, conc - 15))).astype(float)
    assert th.k_floor(conc) == th.K_STEP * np.floor(conc.min() / th.K_STEP) < th.K_MIN
    fit = stats.estimate_threshold(y, req, conc, rng=np.random.default_rng(0))
    assert min(fit.k_grid) == th.k_floor(conc)
    assert fit.k_low <= 15 <= fit.k_high and fit.k_low < th.K_MIN
    # A load that stays above K_MIN keeps the grid's floor.
    assert th.k_floor(conc + 20) == th.K_MIN


def test_the_k_step_grows_with_a_wide_load_range_and_keeps_two_viewers_on_an_hour():
    assert th.k_step(np.array([30.0, 311.0])) == th.K_STEP
    wide = np.concatenate([np.linspace(100, 2400, 50), np.full(10, 2400.0)])
    step = th.k_step(wide)
    assert step == np.ceil((2400 - th.K_MIN) / th.K_GRID_SIZE) == 12
    _, ks, _, _ = th.build_threshold_grid(wide)
    grid = np.unique(ks)
    assert len(grid) <= th.K_GRID_SIZE + 1 and np.allclose(np.diff(grid), step)


def test_a_cut_above_half_the_cell_limit_comes_from_replicates_refitted_on_every_cell(
    monkeypatch,
):
    # Bursty errors spread the replicates' maxima beyond the cells the data leaves plausible:
    # a cut that large is recomputed on every cell (here: the same as refitting on every cell
    # from the start). One shape and one reading of the load keep the grid small.
    monkeypatch.setattr(th, "SHAPE_EXPONENTS", (1.0,))
    monkeypatch.setattr(th, "smooth_load", lambda c: np.asarray(c, dtype=float))
    rng = np.random.default_rng(9)
    conc = minutes.make_seed_like_concurrency(rng)
    req = minutes.simulate_requests(conc, rng)
    burst = np.exp(1.2 * minutes.simulate_ar1(60, 0.95, rng) - 0.72)
    err = minutes.simulate_capacity_errors(
        conc, req * burst, rng, k=200, lag=1, total=150.0, alpha=0.0
    )
    fit = stats.estimate_threshold(err, req, conc, rng=np.random.default_rng(1), n_region_boot=19)
    assert fit.interval_lr_cut > th.REGION_GRID_LR / 2
    monkeypatch.setattr(th, "REGION_GRID_LR", np.inf)
    every = stats.estimate_threshold(err, req, conc, rng=np.random.default_rng(1), n_region_boot=19)
    assert (every.interval_lr_cut, every.lag_lr_cut) == (fit.interval_lr_cut, fit.lag_lr_cut)


def test_smoothing_keeps_a_straight_ramp_and_cuts_a_monitors_noise():
    ramp = 40.0 + 9.0 * np.arange(60)
    assert np.allclose(stats.smooth_load(ramp)[1:-1], ramp[1:-1])
    rng = np.random.default_rng(2)
    noise = rng.standard_normal((200, 60))
    # Weights (1, 2, 1) / 4 keep 3/8 of independent noise's variance.
    assert 0.33 < stats.smooth_load(noise)[:, 1:-1].var() < 0.42
    # Row by row along the last axis, as the replicates' loads are smoothed.
    assert np.allclose(stats.smooth_load(noise)[7], stats.smooth_load(noise[7]))


def _steep_ramp_classes(n: int):
    """Capacity classes of the threshold study's per-session steep ramps, prepared as the report
    prepares them: errors follow the true audience; the load is a noisy, gappy monitor's."""
    out = []
    for i in range(n):
        rng = study.incident_rng("sessions", "steep_ramp", i)
        frame, _, truth = study.draw_sessions_incident("steep_ramp", rng, i)
        y, r, c, _ = stats.extract_series(frame)
        signals = stats.extract_signals(frame)
        c = stats.interpolate_unsampled(c, frame["samples"].to_numpy(dtype=float))
        counted, _ = stats.choose_counts(y, signals)
        realtime = stats.is_realtime_class(frame)
        x, _, _ = stats.exposure_of(r, signals, c if realtime else None, counted)
        out.append((counted, x, c, truth["lag"]))
    return out


def test_a_noisy_reading_of_a_ramp_is_smoothed_and_the_lag_found(monkeypatch):
    # Noise on the load biases the fit (errors-in-variables): on a ramp K goes low and the lag
    # late along the ridge c[t - L] = c[t] - L x slope. The smoothed load is kept because the
    # errors follow it better, and the lag is then within a minute where the readings miss.
    cases = _steep_ramp_classes(8)
    fits = [stats.estimate_threshold(y, x, c) for y, x, c, _ in cases]
    assert sum(f.load_smoothed for f in fits) >= 7
    hits = sum(abs(f.lag_minutes - lag) <= 1 for f, (*_, lag) in zip(fits, cases, strict=True))
    assert hits >= 7
    monkeypatch.setattr(th, "smooth_load", lambda c: np.asarray(c, dtype=float))
    raw = [stats.estimate_threshold(y, x, c) for y, x, c, _ in cases]
    assert (
        sum(abs(f.lag_minutes - lag) <= 1 for f, (*_, lag) in zip(raw, cases, strict=True)) < hits
    )


def test_a_load_whose_minute_to_minute_changes_the_errors_follow_is_kept_as_read():
    # An exact load with real jitter: the errors follow each minute's value, so the readings
    # fit better than their smoothing.
    kept = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        conc = np.round(220 * np.exp(0.25 * rng.standard_normal(60)))
        req = rng.poisson(conc * 10).astype(float)
        y = rng.poisson(req * (1e-4 + 2e-4 * np.maximum(0, conc - 200))).astype(float)
        kept += not stats.estimate_threshold(y, req, conc).load_smoothed
    assert kept == 4


def test_fitted_rate_of_a_fit_on_the_smoothed_load_smooths_the_load():
    ((y, x, read, _),) = _steep_ramp_classes(1)
    fit = stats.estimate_threshold(y, x, read)
    assert fit.load_smoothed and "smoothed over 3 minutes" in fit.interval_reference
    fit = type(fit)(**{**fit.__dict__, "shape_exponent": 1.0})
    lagged = stats.lag_padded(stats.smooth_load(read), fit.lag_minutes)
    want = fit.b0_per_request + fit.b1_per_request_per_viewer * np.maximum(0, lagged - fit.k)
    assert np.allclose(stats.fitted_rate(fit, read), want)


def test_the_cuts_monte_carlo_band_holds_the_true_95_point_about_nine_times_in_ten():
    values = np.arange(1.0, 50.0)  # order statistics 1..49
    assert stats.quantile_band(values) == (44.0, 49.0)
    rng = np.random.default_rng(0)
    bands = [stats.quantile_band(rng.standard_normal(49)) for _ in range(2000)]
    held = np.mean([lo <= 1.6449 <= hi for lo, hi in bands])
    assert 0.86 < held < 0.92  # binomial(49, 0.95) between 44 and 48: 0.887


def test_the_interval_ends_are_given_with_the_cuts_monte_carlo_error():
    y, req, conc = _saturating(1)
    fit = stats.estimate_threshold(y, req, conc, rng=np.random.default_rng(1))
    lo, hi = fit.interval_cut_band
    assert stats.PROFILE_LR_CUT <= lo <= fit.interval_lr_cut <= hi
    assert fit.k_low_band[0] <= fit.k_low <= fit.k_low_band[1]
    assert fit.k_high_band[0] <= fit.k_high <= fit.k_high_band[1]
    assert "Monte-Carlo error" in fit.interval_reference
    plain = stats.estimate_threshold(y, req, conc)
    assert plain.k_low_band == (plain.k_low, plain.k_low)
    assert plain.k_high_band == (plain.k_high, plain.k_high)


def test_the_cuts_replicates_refit_only_the_reading_the_data_chose(monkeypatch):
    # The data's profile over both readings is never above the chosen reading's alone, so the
    # cut calibrated on that reading gives an interval holding the chosen reading's own.
    seen = []
    refit = th._replicate_maxima

    def spy(reps, noisy, r, alpha, cells, k_hat, lag_hat):
        seen.append((cells[3], len(cells[0])))
        return refit(reps, noisy, r, alpha, cells, k_hat, lag_hat)

    monkeypatch.setattr(th, "_replicate_maxima", spy)
    ((y, x, read, _),) = _steep_ramp_classes(1)
    fit = stats.estimate_threshold(y, x, read, rng=np.random.default_rng(1), n_region_boot=9)
    _, ks, _, _, smoothed = th.build_reading_grid(read)
    assert seen and all(flag is fit.load_smoothed for flag, _ in seen)
    assert sum(n for _, n in seen) <= np.sum(smoothed == fit.load_smoothed) < len(ks)
    # One replicate's columns at a time: (cells, minutes), whatever the number of replicates.
    grid = th._replicate_grid(read, ks[:5], np.zeros(5, dtype=int), np.ones(5), True)
    assert grid.shape == (5, len(read))
    assert np.allclose(grid, np.maximum(0, stats.smooth_load(read)[None, :] - ks[:5, None]))
    # The same fit on the chosen reading's cells alone: the same cut (the same replicates and
    # cells), and an interval inside the one over both readings.
    both = th.build_reading_grid

    def chosen_only(concurrency):
        grid = both(concurrency)
        keep = grid[4] == fit.load_smoothed
        return tuple(a[keep] for a in grid)

    monkeypatch.setattr(th, "build_reading_grid", chosen_only)
    alone = stats.estimate_threshold(y, x, read, rng=np.random.default_rng(1), n_region_boot=9)
    assert (alone.k, alone.lag_minutes, alone.interval_lr_cut) == (
        fit.k,
        fit.lag_minutes,
        fit.interval_lr_cut,
    )
    assert fit.k_low <= alone.k_low and alone.k_high <= fit.k_high
    lr_both = dict(zip(fit.k_grid, fit.k_profile_lr, strict=True))
    pairs = zip(alone.k_grid, alone.k_profile_lr, strict=True)
    assert all(lr_both[k] <= lr + 1e-9 for k, lr in pairs)


def _staircase(seed: int):
    """Load levels 150-300 in random order, 3 minutes each; Poisson errors above K = 220, lag 1."""
    rng = np.random.default_rng(seed)
    levels = rng.permutation(np.linspace(150, 300, 20))
    conc = np.round(np.repeat(levels, 3) * np.exp(0.01 * rng.standard_normal(60)))
    req = rng.poisson(conc * 10).astype(float)
    rate = 2e-4 + 4e-4 * np.maximum(0, stats.lag_padded(conc, 1) - 220)
    return rng.poisson(req * rate).astype(float), req, conc


def test_well_identified_holds_at_every_cut_of_the_monte_carlo_bands(monkeypatch):
    # The staircase's jumps would read as a monitor's noise and widen every cut; a fixed 1 %
    # keeps this about the flag. A sharp onset is well identified with its cuts; had the
    # replicates' band of the K cut (or of the lag cut) reached far above the cut, another draw
    # of the replicates could have widened the interval (or the lag's range) past the rule.
    monkeypatch.setattr(th, "estimate_load_noise", lambda c: 0.01)
    y, req, conc = _staircase(7)
    fit = stats.estimate_threshold(y, req, conc, rng=np.random.default_rng(1), n_region_boot=19)
    assert not fit.weakly_identified
    lo, hi = fit.lag_cut_band
    assert stats.PROFILE_LR_CUT <= lo <= fit.lag_lr_cut <= hi
    band = th.quantile_band
    for wide_one in (0, 1):  # the K cut's band, then the lag cut's
        calls = []

        def wide(values, *args, _which=wide_one, _calls=calls, **kwargs):
            _calls.append(1)
            low, _ = band(values, *args, **kwargs)
            return (low, 1e6) if len(_calls) - 1 == _which else band(values, *args, **kwargs)

        monkeypatch.setattr(th, "quantile_band", wide)
        moved = stats.estimate_threshold(
            y, req, conc, rng=np.random.default_rng(1), n_region_boot=19
        )
        assert (moved.k, moved.k_low, moved.k_high, moved.lag_low, moved.lag_high) == (
            fit.k,
            fit.k_low,
            fit.k_high,
            fit.lag_low,
            fit.lag_high,
        )
        assert moved.weakly_identified
    # The same rule on the data's own band: K-hat within 10 % of every K of the interval at
    # the cut, but not of the interval at the top of the cut's band.
    monkeypatch.setattr(th, "quantile_band", band)
    y, req, conc = _staircase(4)
    fit = stats.estimate_threshold(y, req, conc, rng=np.random.default_rng(1), n_region_boot=19)
    assert fit.k_low >= fit.k / 1.1 and fit.k_high <= fit.k / 0.9
    assert fit.k_low_band[0] < fit.k / 1.1 and fit.weakly_identified
