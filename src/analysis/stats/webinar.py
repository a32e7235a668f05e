"""Every statistic of one error class, and of every class of a webinar (spread over processes)."""

from __future__ import annotations

import multiprocessing as mp
import zlib

import numpy as np
import pandas as pd

from analysis._pool import start_fork_pool
from analysis.exceptions import StatsError
from analysis.stats.association import analyse_coincidence, cross_correlate, fit_load_coefficient
from analysis.stats.constants import ALPHA_LEVEL, MIN_ERRORS, MIN_EXPOSURE
from analysis.stats.evidence import summarize_signals
from analysis.stats.limit_change import date_limit_lifted
from analysis.stats.limits import SUPABASE_LIMITS
from analysis.stats.platform_limit import reconcile_platform_limit
from analysis.stats.regimes import detect_bursts, detect_change_points
from analysis.stats.results import ClassResult, WebinarStatistics
from analysis.stats.series import (
    extract_series,
    extract_signals,
    interpolate_unsampled,
    is_realtime_class,
)
from analysis.stats.threshold import _sup_lr, _test_cells, _test_grid
from analysis.stats.verdicts import CAPACITY, attribute_class


def analyse_class(frame: pd.DataFrame, *, seed: int, n_boot: int = 199) -> ClassResult:
    """Every statistic of one error class from its per-minute frame (contract section 3).

    A frame whose ``concurrency`` is unknown in every minute (no load series: the export held
    no viewer or presence table) gets what needs no load: the traffic/unrelated tests on its
    requests, bursts; no hinge, threshold, lagged association or coincidence
    (docs/verdicts.md, "No load series").
    """
    load_known = "concurrency" not in frame.columns or frame["concurrency"].notna().any()
    if not load_known:
        frame = frame.assign(concurrency=0)
    y, r, c, labels = extract_series(frame)
    signals = extract_signals(frame)
    if "samples" in frame.columns:
        samples = pd.to_numeric(frame["samples"], errors="coerce").fillna(0).to_numpy()
        c = interpolate_unsampled(c, samples)
    rng = np.random.default_rng(seed)
    realtime = is_realtime_class(frame)
    verdict, test, fit, elasticity = attribute_class(
        *(y, r, c if load_known else None),
        rng=rng,
        n_boot=n_boot,
        signals=signals,
        realtime=realtime,
    )
    if realtime and fit is not None and verdict.label == CAPACITY:
        # The limit Realtime reports is a second reading of a Realtime class's K (the viewers
        # are a load measured with error); no draws, so nothing after it moves.
        fit = reconcile_platform_limit(fit, y, c, signals)
    if fit is not None and fit.limit_lifted is not None:
        fit = date_limit_lifted(fit, labels)
    enough = y.sum() >= MIN_ERRORS
    with_load = enough and load_known
    return ClassResult(
        n_minutes=len(y),
        total_errors=int(y.sum()),
        total_requests=int(r.sum()),
        zero_request_minutes=int(np.sum(r == 0)),
        verdict=verdict,
        hinge_test=test,
        threshold=fit,
        elasticity=elasticity,
        cross_correlation=cross_correlate(c, y) if with_load else None,
        load_coefficient=fit_load_coefficient(c, y) if with_load else None,
        coincidence=analyse_coincidence(c, y) if with_load else None,
        bursts=detect_bursts(y, r, labels),
        change_points=detect_change_points(y, labels) if enough else None,
        seed=int(seed),
        signals=summarize_signals(y, r, c, signals, realtime),
    )


def derive_seed(seed: int, name: str) -> int:
    """Return a per-class seed that depends on the webinar seed and the class name, not on order."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0])


def _analyse_named(job: tuple[str, pd.DataFrame, int, int]) -> ClassResult:
    """Analyse one class of a webinar (a worker's task; errors name the class)."""
    name, frame, seed, n_boot = job
    try:
        return analyse_class(frame, seed=seed, n_boot=n_boot)
    except StatsError as exc:
        raise StatsError(f"error class '{name}': {exc}") from exc


def _expected_cost(frame: pd.DataFrame) -> tuple[float, float]:
    """Return a class's (hinge sup-LR on its raw counts, errors): how long its analysis runs.

    A class that looks capacity-driven pays two bootstraps of the hinge test and the
    calibrated cuts of its threshold, ten times a class that does not; the statistic on the
    raw counts and requests (a few milliseconds) predicts which, the error count breaks ties.
    Only the order of the work depends on it, never a number.
    """
    try:
        y, r, c, _ = extract_series(frame)
    except StatsError:
        return 0.0, 0.0  # the worker reports it, naming the class
    grid = _test_grid(c)
    if grid is None or len(grid[1]) == 0 or y.sum() < MIN_ERRORS:
        return 0.0, float(y.sum())
    cells = _test_cells(np.maximum(r, MIN_EXPOSURE), grid)
    lr = _sup_lr(np.asarray(y, dtype=float)[None, :], cells)
    return float(lr[0]), float(y.sum())


def _map_classes(jobs: list[tuple], workers: int) -> list[ClassResult]:
    """Run :func:`_analyse_named` over ``jobs`` on up to ``workers`` processes, in job order.

    Each class carries its own seed, so a result does not depend on which process computed it
    or in which order: one worker and many give the same numbers. Forked workers start at once
    (no re-import); a daemonic process (a worker itself) cannot fork and runs them in turn.
    """
    workers = min(int(workers), len(jobs))
    if workers <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return [_analyse_named(job) for job in jobs]
    # The costliest classes go first, so the processes finish close together; results come
    # back in job order whatever the schedule.
    cost = [_expected_cost(job[1]) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: (-cost[i][0], -cost[i][1]))
    with start_fork_pool(workers) as pool:
        futures = {i: pool.submit(_analyse_named, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def analyse_webinar(
    frames_by_class: dict[str, pd.DataFrame],
    *,
    seed: int,
    n_boot: int = 199,
    workers: int = 1,
) -> WebinarStatistics:
    """Analyse every error class of one webinar.

    Parameters
    ----------
    frames_by_class : dict of str to pandas.DataFrame
        Per-minute frame (docs/contract.md section 3) of each error class.
    seed : int
        Webinar seed; each class derives its own from it and its name (:func:`derive_seed`).
    n_boot : int
        Bootstrap replicates of the tests.
    workers : int
        Processes the classes are spread over; the result is the same for any number.
    """
    if not frames_by_class:
        raise StatsError("analyse_webinar: expected at least one error class, found none")
    names = sorted(frames_by_class)
    jobs = [(name, frames_by_class[name], derive_seed(seed, name), n_boot) for name in names]
    results = _map_classes(jobs, workers)
    return WebinarStatistics(
        seed=int(seed),
        n_boot=int(n_boot),
        alpha_level=ALPHA_LEVEL,
        supabase_limits=SUPABASE_LIMITS,
        classes=dict(zip(names, results, strict=True)),
    )
