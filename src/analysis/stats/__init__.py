"""Do errors follow load, and where is the breaking point? Statistics on per-minute series.

Input: the per-minute frame of docs/contract.md section 3 (``minute``, ``requests``, ``errors``,
``concurrency``); nothing here reads files or sees ground truth. Output: frozen dataclasses with
``to_dict()`` (plain JSON types) for findings.json.

Method choices follow the simulation study described in docs/statistics.md; every p-value
comes from a reference distribution that keeps the errors' autocorrelation:

- **Capacity** (primary evidence): errors ~ NB2 with rate requests x (b0 + b1 x max(0, c[t-L]
  - K)). K and L by profile likelihood over a grid; b0, b1 profiled exactly per grid cell by
  Fisher scoring (identity link). The sup-LR test against a flat rate per request is calibrated
  by a parametric bootstrap under the fitted flat NB model (not chi-square: K and L are not
  identified under the null).
- **Verdict** (docs/verdicts.md): capacity-driven only if the hinge test rejects under both the
  flat NB null and a bursty AR(1)-Cox flat null. Otherwise two calibrated tests of the
  elasticity g of errors in requests decide: g = 0 (no link to traffic; all circular shifts)
  and g = 1 (a flat rate per request; AR(1)-Cox parametric bootstrap). Traffic-proportional
  when only g = 0 is rejected, unrelated when only g = 1 is, ``undetermined`` ("the data
  cannot tell") when neither is.
- **What is counted**: when the frame says which clients (else users) each minute's errors came
  from, the models count affected clients per minute, so one client's retry loop is one
  failure, not fifty; the denominator is the requests to the endpoints where the class occurs
  minus the class's own failing requests.
- **Threshold and lag**: K, the lag and the shape of the response above K are fitted on a
  grid; K's interval is its profile likelihood over the lag and the shape, the lag's over K and
  the shape, each cut calibrated by replicates from the fit with the data's burstiness on a
  re-noised load (never below chi-square(1)'s 3.84); an interval reaching the grid's end is
  open; "well identified" needs K-hat within 10 % of every K of K's interval, both closed,
  minutes of load at the onset and a lag range of at most three lags (docs/statistics.md
  section 4).
- **Lagged association**: CCF of AR-prewhitened series and a load coefficient in a count model
  without offset, both calibrated over all circular shifts (an exact randomisation test over
  the group of shifts; subsets of shifts are not).
- **Event coincidence**: precursor and trigger rates of load spikes and error peaks, same null.
- **Bursts and regimes**: batched Kleinberg bursts of errors out of requests; PELT
  (l2, jump=1) change points with a penalty sweep as a stability table.

Modules: ``limits`` (Supabase's published limits), ``constants`` (method constants several
modules share), ``results`` (the frozen result objects, verdict labels, the statistics table),
``series`` (the per-minute input, counts and exposure), ``countmodels`` (NB kernels and fits,
Cox moments), ``threshold`` (hinge grid, sup-LR test and its bootstrap, K and the lag with their
intervals), ``association`` (prewhitened CCF, load coefficient, coincidence), ``regimes``
(bursts, PELT, residual autocorrelation), ``exposure`` (what a class's rate is per: the errors
whose requests the export holds, requests or viewers), ``episodes`` (errors that stop or follow
time), ``elasticity`` (traffic against unrelated: the two tests and the Bayes factor with its
calibrated cuts), ``verdicts`` (the decision), ``no_load`` (what changes without a load
series), ``evidence`` (the signals beside it) and ``webinar``
(one class, every class of a webinar, the process pool).
"""

from analysis.stats.association import (
    CCF_MAX_LAG,
    CCF_TEST_LAG,
    COUNT_MODEL_LAGS,
    ECA_LAGS,
    ECA_WINDOW,
    MAX_SHIFTS,
    PEAK_QUANTILE,
    SPIKE_QUANTILE,
    analyse_coincidence,
    ccf_all_shifts,
    circular_shifts,
    cross_correlate,
    fit_load_coefficient,
    prewhiten,
)
from analysis.stats.constants import ALPHA_LEVEL, MIN_ERRORS, MIN_EXPOSURE, MIN_MINUTES
from analysis.stats.countmodels import fit_flat_nb, nb_loglik, simulate_nb
from analysis.stats.elasticity import (
    BAYES_FACTOR_CUT,
    compare_traffic_to_unrelated,
    estimate_elasticity,
)
from analysis.stats.episodes import SATURATION_SHARE
from analysis.stats.evidence import summarize_signals
from analysis.stats.limits import SUPABASE_LIMITS
from analysis.stats.regimes import (
    PELT_PENALTY_MULTIPLIERS,
    detect_bursts,
    detect_change_points,
    residual_autocorrelation,
    segment_pelt,
)
from analysis.stats.results import (
    CAPACITY,
    INSUFFICIENT,
    STATISTICS_COLUMNS,
    TRAFFIC,
    UNDETERMINED,
    UNRELATED,
    VERDICT_LABELS,
    Burst,
    ChangePoints,
    ClassResult,
    Coincidence,
    CrossCorrelation,
    Elasticity,
    HingeTest,
    LoadCoefficient,
    Signals,
    Spread,
    ThresholdFit,
    Verdict,
    WebinarStatistics,
    tabulate_statistics,
)
from analysis.stats.series import (
    SIGNAL_COLUMNS,
    choose_counts,
    count_sources,
    exposure_of,
    extract_series,
    extract_signals,
    interpolate_unsampled,
    is_realtime_class,
    lag_padded,
)
from analysis.stats.threshold import (
    BOOT_STOP_EXCEED,
    CUT_MC_LEVEL,
    K_MIN,
    K_STEP,
    MAX_LAG,
    MAX_LAG_SPREAD,
    MIN_MINUTES_ABOVE,
    MIN_MINUTES_AT_ONSET,
    PROFILE_LR_CUT,
    REGION_BOOT,
    REGION_GRID_LR,
    SHAPE_EXPONENTS,
    TEST_GRID_SIZE,
    WELL_IDENTIFIED_WITHIN,
    add_bursty_null,
    build_hinge_grid,
    build_reading_grid,
    build_threshold_grid,
    compare_hinge_to_flat,
    estimate_load_noise,
    estimate_threshold,
    fit_lagged_flat,
    fitted_rate,
    k_floor,
    quantile_band,
    smooth_load,
)
from analysis.stats.verdicts import (
    BURSTY_PHI,
    MIN_SOURCES,
    attribute_class,
    decide_verdict,
)
from analysis.stats.webinar import analyse_class, analyse_webinar, derive_seed

__all__ = [
    "SUPABASE_LIMITS",
    "ALPHA_LEVEL",
    "MIN_ERRORS",
    "MIN_MINUTES",
    "MIN_EXPOSURE",
    "ThresholdFit",
    "HingeTest",
    "Elasticity",
    "CAPACITY",
    "TRAFFIC",
    "UNRELATED",
    "INSUFFICIENT",
    "UNDETERMINED",
    "VERDICT_LABELS",
    "Verdict",
    "CrossCorrelation",
    "LoadCoefficient",
    "Coincidence",
    "Burst",
    "ChangePoints",
    "Spread",
    "Signals",
    "ClassResult",
    "WebinarStatistics",
    "STATISTICS_COLUMNS",
    "tabulate_statistics",
    "extract_series",
    "SIGNAL_COLUMNS",
    "extract_signals",
    "interpolate_unsampled",
    "choose_counts",
    "count_sources",
    "is_realtime_class",
    "exposure_of",
    "lag_padded",
    "nb_loglik",
    "fit_flat_nb",
    "simulate_nb",
    "PROFILE_LR_CUT",
    "REGION_BOOT",
    "CUT_MC_LEVEL",
    "REGION_GRID_LR",
    "WELL_IDENTIFIED_WITHIN",
    "MAX_LAG_SPREAD",
    "K_MIN",
    "K_STEP",
    "MIN_MINUTES_ABOVE",
    "MIN_MINUTES_AT_ONSET",
    "MAX_LAG",
    "TEST_GRID_SIZE",
    "BOOT_STOP_EXCEED",
    "build_hinge_grid",
    "compare_hinge_to_flat",
    "add_bursty_null",
    "fit_lagged_flat",
    "estimate_threshold",
    "build_threshold_grid",
    "build_reading_grid",
    "fitted_rate",
    "estimate_load_noise",
    "smooth_load",
    "quantile_band",
    "k_floor",
    "SHAPE_EXPONENTS",
    "CCF_MAX_LAG",
    "MAX_SHIFTS",
    "CCF_TEST_LAG",
    "COUNT_MODEL_LAGS",
    "SPIKE_QUANTILE",
    "PEAK_QUANTILE",
    "ECA_WINDOW",
    "ECA_LAGS",
    "prewhiten",
    "ccf_all_shifts",
    "circular_shifts",
    "cross_correlate",
    "fit_load_coefficient",
    "analyse_coincidence",
    "PELT_PENALTY_MULTIPLIERS",
    "detect_bursts",
    "segment_pelt",
    "detect_change_points",
    "residual_autocorrelation",
    "SATURATION_SHARE",
    "BAYES_FACTOR_CUT",
    "BURSTY_PHI",
    "MIN_SOURCES",
    "estimate_elasticity",
    "compare_traffic_to_unrelated",
    "decide_verdict",
    "attribute_class",
    "summarize_signals",
    "analyse_class",
    "derive_seed",
    "analyse_webinar",
]
