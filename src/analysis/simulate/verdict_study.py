"""The verdict study on the per-session generator: run incidents, tabulate truth x verdict.

Shared by ``benchmarks/bench_verdicts.py`` (full counts) and the reduced-count tests, so no test
loads benchmark code. Ground truth is read only here, never by :mod:`analysis.stats`. The
targets and their rationale are in ``docs/verdicts.md``.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
from statistics import NormalDist

import numpy as np
import pandas as pd

from analysis import stats
from analysis.simulate import minutes, sessions
from analysis.stats.episodes import find_limit_raised
from analysis.stats.exposure import drop_masked_requests
from analysis.stats.limit_change import find_limit_lifted
from analysis.stats.onset import compare_hinge_to_power
from analysis.stats.platform_limit import reconcile_platform_limit
from analysis.stats.series import split_own_failures
from analysis.stats.verdicts import choose_denominator, count_exposed, count_moved_errors

LABELS = stats.VERDICT_LABELS
TRUTHS = (stats.CAPACITY, stats.TRAFFIC, stats.UNRELATED)
#: The full count draws the report's replicates (``pipeline.N_BOOT``), so it measures the
#: report's procedure, Monte-Carlo refinement included: at 99 every attainable rejection
#: (p <= 0.05) lies within the refinement band (0.006-0.094) and is redrawn, at 199 only
#: those within 0.019-0.081 are (docs/verdicts.md, "Session 15").
FULL = {"incidents": 200, "n_boot": 199}
QUICK = {"incidents": 12, "n_boot": 49}
#: Every fifth incident is a null incident (nothing linked to load).
NULL_EVERY = 5
#: Families of the first generator (analysis.simulate.minutes): its two load shapes. Each of
#: their incidents holds one class of every scenario below (each on its own simulated hour,
#: since that generator draws load per scenario), with the verdict the scenario should get.
MINUTE_FAMILIES = tuple(f"minutes_{shape}" for shape in minutes.SHAPES)
MINUTE_SCENARIOS = {
    "capacity": stats.CAPACITY,
    "bug": stats.TRAFFIC,
    "bug_bursty": stats.TRAFFIC,
    "unrelated": stats.UNRELATED,
    "unrelated_bursty": stats.UNRELATED,
    "null:episodic": stats.UNRELATED,
    "null:nb": stats.UNRELATED,
    "null:drift": stats.UNRELATED,
}
#: Every family the study knows: the per-session generator's shapes, then the first's.
FAMILIES = (*sessions.SHAPES, *MINUTE_FAMILIES)
#: Mechanisms that fail at a flat rate per request (the "flat-rate bug" target) and bursty
#: bugs (reported for information).
FLAT_BUGS = ("bug_flat", "registration", "bug")
BURSTY_BUGS = ("bug_retry", "bug_bursty", "bug_backoff")
#: Classes added to each per-session incident on a stream of their own, so the incident's own
#: classes and their cached rows stay as they were (docs/verdicts.md, "Measured"): a
#: deploy-style outage of 5-20 minutes at a random time, a one-minute burst, and the retry-loop
#: bug with its retries backing off over minutes. Truth: unrelated, unrelated, traffic.
EXTRA_CLASSES = ("deploy_outage", "minute_burst", "bug_backoff")


def strip_load(frame):
    """Return a class frame as an export without any viewer or presence table reads.

    Its load unknown in every minute and no monitor sample (docs/verdicts.md, "No load
    series"); requests, errors and every other signal as they were.
    """
    out = frame.assign(concurrency=np.nan)
    if "samples" in out.columns:
        out["samples"] = 0
    if "webinar_concurrency" in out.columns:
        out["webinar_concurrency"] = np.nan
    return out


def run_incident(args: tuple, only: set | None = None, no_load: bool = False) -> list[dict]:
    """All classes of one incident: truth, verdict, threshold and the no-link tests' p-values.

    ``only``: analyse just these classes (by mechanism name) and return their rows; every
    class's frame and seed are drawn as in a full run, so a row equals the full run's.
    ``no_load``: each class analysed without its load (:func:`strip_load`), seeds unchanged.
    """
    family, index, n_boot = args
    if family in MINUTE_FAMILIES:
        return _run_minute_incident(family, index, n_boot, only, no_load)
    rng = np.random.default_rng([20260212, sessions.SHAPES.index(family), index])
    null = index % NULL_EVERY == NULL_EVERY - 1
    inc = sessions.simulate_session_incident(family, rng, null=null)
    rows = []
    for name in sorted(inc.classes):
        frame = inc.class_frame(name)
        truth = inc.truth["classes"][name]
        seed = int(rng.integers(2**31))
        if only is not None and name not in only:
            continue
        res = stats.analyse_class(strip_load(frame) if no_load else frame, seed=seed, n_boot=n_boot)
        row = _row(family, index, null, name, truth["verdict"], res)
        if name in FLAT_BUGS + BURSTY_BUGS:
            row["separation_bound"] = separation_bound(frame)
        if "limit_reached" in truth:
            lo, hi = truth["k_range"]
            row.update(
                k_true=truth["k"],
                k_true_low=lo,
                k_true_high=hi,
                lag_true=truth["lag"],
                above=truth["minutes_above_k"],
                limit_reached=truth["limit_reached"],
            )
        rows.append(row)
    return rows


def rerun_capacity_calls(rows: list[dict], n_boot: int, label: str = stats.CAPACITY) -> list[dict]:
    """Return one incident's cached rows with every class they call ``label`` analysed again.

    The capacity call's vetoes (docs/verdicts.md, "A capacity call needs a threshold in the
    data") can move only classes the hinge called capacity, so a cached run is brought up to
    date by re-analysing those alone; the other rows are kept as they are. Likewise a veto of
    traffic calls (``label`` traffic: "Errors that grow faster than requests").
    """
    again = {r["mechanism"] for r in rows if r["label"] == label}
    if not again:
        return rows
    family, index = rows[0]["family"], rows[0]["index"]
    new = {r["mechanism"]: r for r in run_incident((family, index, n_boot), only=again)}
    return [new.get(r["mechanism"], r) if r["mechanism"] in again else r for r in rows]


def class_frame(family: str, index: int, mechanism: str):
    """Return one class's per-minute frame exactly as :func:`run_incident` draws it."""
    if family in MINUTE_FAMILIES:
        shape = family.removeprefix("minutes_")
        s_id = list(MINUTE_SCENARIOS).index(mechanism)
        rng = np.random.default_rng([20260213, minutes.SHAPES.index(shape), s_id, index])
        return minutes.simulate_incident(mechanism, shape, rng).to_frame()
    rng = np.random.default_rng([20260212, sessions.SHAPES.index(family), index])
    null = index % NULL_EVERY == NULL_EVERY - 1
    return sessions.simulate_session_incident(family, rng, null=null).class_frame(mechanism)


def count_class(row: dict) -> tuple:
    """Return a study row's class counted and divided as :func:`stats.attribute_class` does.

    ``(counts, exposure, load, signals, realtime)``: the frame drawn again, the load
    interpolated over unsampled minutes, the counts and denominator chosen by
    :func:`count_exposed`.
    """
    frame = class_frame(row["family"], row["index"], row["mechanism"])
    y, r, c, _ = stats.extract_series(frame)
    signals = stats.extract_signals(frame)
    if "samples" in frame.columns:
        samples = pd.to_numeric(frame["samples"], errors="coerce").fillna(0).to_numpy()
        c = stats.interpolate_unsampled(c, samples)
    realtime = stats.is_realtime_class(frame)
    counts, x, *_ = count_exposed(y, r, c, signals, realtime)
    return counts, x, c, signals, realtime


def refit_class(row: dict) -> tuple:
    """Return a study row's class refitted: (counts, exposure, load, ThresholdFit or None).

    ``row``: a study row (family, index, mechanism). The class's frame is drawn again, its
    counts and denominator prepared as :func:`stats.attribute_class` prepares them, and K, the
    lag and the shape refitted (point estimates only: they need no random draws, and equal
    the full analysis's; the interval is chi-square(1)'s, not the calibrated one).
    """
    counts, x, c, _, _ = count_class(row)
    return counts, x, c, stats.estimate_threshold(counts, x, c)


def measure_moved_errors(row: dict) -> dict:
    """Return a capacity call's errors moved by its fitted limit (docs/verdicts.md, no_excess).

    The class is refitted (:func:`refit_class`); the result adds ``moved``
    (:func:`count_moved_errors`) and the refitted K and lag, to check against the row's.
    """
    counts, x, c, fit = refit_class(row)
    moved = None if fit is None else count_moved_errors(fit, counts, x, c)
    keep = ("family", "index", "mechanism", "truth", "label", "errors", "k", "lag")
    return {
        **{k: row.get(k) for k in keep},
        "moved": moved,
        "k_refit": None if fit is None else fit.k,
        "lag_refit": None if fit is None else fit.lag_minutes,
    }


def measure_smooth_rise(row: dict) -> dict:
    """Return a capacity call's hinge against a power of the load (docs/verdicts.md, smooth_rise).

    The class is refitted (:func:`refit_class`) and compared with
    :func:`onset.compare_hinge_to_power`; ``smooth`` says whether the veto would set it aside,
    given the row's own (calibrated) ``k_open_low``.
    """
    counts, x, c, fit = refit_class(row)
    rise = {"power": None, "lr": None, "smooth": False}
    if fit is not None and row.get("k_open_low"):
        rise = compare_hinge_to_power(fit, counts, x, c)
    keep = ("family", "index", "mechanism", "truth", "label", "errors", "above")
    return {**{k: row.get(k) for k in keep}, **rise}


def measure_limit_lifted(row: dict) -> dict:
    """Return whether :func:`find_limit_lifted` finds a limit that stopped binding in a class.

    For a row whose hinge passed both nulls (the only classes the finder is run on): its frame
    drawn again, counted and divided as :func:`stats.attribute_class` does, and the finder run
    unless Realtime's billing lines show a raise (then it is not run: ``lifted`` None). The
    finder draws nothing, so a class where it finds nothing keeps every number of the row.
    """
    counts, x, c, signals, realtime = count_class(row)
    raised = find_limit_raised(counts, signals) if realtime else None
    lifted = None if raised is not None and raised.any() else find_limit_lifted(counts, x, c)
    keep = ("family", "index", "mechanism", "truth", "label")
    return {**{k: row.get(k) for k in keep}, "lifted": lifted}


def measure_platform_limit(row: dict) -> dict | None:
    """Return a Realtime capacity call's K beside its platform's limit (stats.platform_limit).

    The class is refitted (:func:`refit_class`, for the load's smoothing) and given the row's
    own calibrated K, interval, lag and flag; :func:`reconcile_platform_limit` then says what it
    would report: ``low``/``high``/``weak`` after, and the platform's ``reading``. None for a
    class that is not Realtime's (the reconciliation reads only Realtime classes).
    """
    frame = class_frame(row["family"], row["index"], row["mechanism"])
    if not stats.is_realtime_class(frame):
        return None
    _, _, c, fit = refit_class(row)
    if fit is None:
        return None
    # The errors as :func:`stats.analyse_class` passes them (not the counts the fit modelled).
    y = stats.extract_series(frame)[0]
    fit = dataclasses.replace(
        fit,
        k=row["k"],
        k_low=row["k_low"],
        k_high=row["k_high"],
        weakly_identified=row["weak"],
        lag_minutes=row["lag"],
    )
    new = reconcile_platform_limit(fit, y, c, stats.extract_signals(frame))
    keep = ("family", "index", "mechanism", "truth", "k", "k_low", "k_high", "weak")
    keep += ("k_true", "k_true_low", "k_true_high")
    return {
        **{k: row.get(k) for k in keep},
        "low": new.k_low,
        "high": new.k_high,
        "weak_after": new.weakly_identified,
        "reading": new.platform_limit,
    }


def _run_minute_incident(
    family: str, index: int, n_boot: int, only=None, no_load: bool = False
) -> list[dict]:
    """One class of every scenario of the first generator, on the family's load shape."""
    shape = family.removeprefix("minutes_")
    rows = []
    for s_id, (scenario, truth) in enumerate(MINUTE_SCENARIOS.items()):
        if only is not None and scenario not in only:
            continue
        rng = np.random.default_rng([20260213, minutes.SHAPES.index(shape), s_id, index])
        inc = minutes.simulate_incident(scenario, shape, rng)
        frame = inc.to_frame()
        seed = int(rng.integers(2**31))
        res = stats.analyse_class(strip_load(frame) if no_load else frame, seed=seed, n_boot=n_boot)
        row = _row(family, index, False, scenario, truth, res)
        if scenario in FLAT_BUGS + BURSTY_BUGS:
            row["separation_bound"] = separation_bound(frame)
        if truth == stats.CAPACITY:
            k, lag = inc.truth["k"], inc.truth["lag"]
            lagged = minutes.lag_series(inc.concurrency, lag)
            row.update(
                k_true=k, k_true_low=k, k_true_high=k, lag_true=lag, above=int(np.sum(lagged > k))
            )
            mean = minutes.capacity_mean(
                inc.concurrency, inc.requests, k=k, lag=lag, total=inc.truth["total"]
            )
            row["capacity_bound"] = capacity_power_bound(mean, inc.requests, inc.truth["alpha"])
        rows.append(row)
    return rows


def add_extra_classes(incident, family: str, index: int):
    """Return the incident with :data:`EXTRA_CLASSES` added, and the rng for their seeds.

    Their stream ([8, family, index]) is separate from the incident's, so adding them moves
    nothing else. ``bug_backoff`` needs the incident's retry-loop bug (not in null incidents).
    """
    rng = np.random.default_rng([8, sessions.SHAPES.index(family), index])
    inc = sessions.add_outage(incident, "deploy_outage", rng)
    inc = sessions.add_outage(inc, "minute_burst", rng, width=(1, 1))
    if "bug_retry" in inc.classes:
        spread = sessions.spread_retries(inc, "bug_retry", rng)
        loop = spread.classes["bug_retry"]
        inc = dataclasses.replace(
            inc,
            classes={**inc.classes, "bug_backoff": loop},
            truth={
                **inc.truth,
                "classes": {**inc.truth["classes"], "bug_backoff": {"verdict": "traffic"}},
            },
            requests=spread.requests,
        )
    return inc, rng


def run_extra_incident(args: tuple) -> list[dict]:
    """Analyse the :data:`EXTRA_CLASSES` of one per-session incident: truth, verdict, threshold."""
    family, index, n_boot = args
    rng = np.random.default_rng([20260212, sessions.SHAPES.index(family), index])
    null = index % NULL_EVERY == NULL_EVERY - 1
    inc, extra_rng = add_extra_classes(
        sessions.simulate_session_incident(family, rng, null=null), family, index
    )
    rows = []
    for name in EXTRA_CLASSES:
        if name not in inc.classes:
            continue
        frame = inc.class_frame(name)
        res = stats.analyse_class(frame, seed=int(extra_rng.integers(2**31)), n_boot=n_boot)
        row = _row(family, index, null, name, inc.truth["classes"][name]["verdict"], res)
        row["extra"] = True
        if name == "bug_backoff":
            row["separation_bound"] = separation_bound(frame)
        rows.append(row)
    return rows


def run_backoff_incident(args: tuple) -> dict | None:
    """Decide one incident's retry-loop bug with its retries spread over minutes.

    The back-off experiment (docs/verdicts.md, "Bursty bugs"): the class's retries are spread
    by :func:`sessions.spread_retries` and the class is decided with and without the frame's
    ``user_onsets``. Returns None for an incident without the bug (null incidents). The truth
    is traffic.
    """
    family, index, n_boot = args
    rng = np.random.default_rng([20260212, sessions.SHAPES.index(family), index])
    inc = sessions.simulate_session_incident(family, rng, null=index % NULL_EVERY == NULL_EVERY - 1)
    if "bug_retry" not in inc.classes:
        return None
    spread = np.random.default_rng([7, sessions.SHAPES.index(family), index])
    frame = sessions.spread_retries(inc, "bug_retry", spread).class_frame("bug_retry")
    row = {
        "family": family,
        "index": index,
        "user_minutes": float(frame["users"].sum()),
        "onsets": float(frame["user_onsets"].sum()),
    }
    for tag, f in (("episodes", frame), ("per_minute", frame.drop(columns="user_onsets"))):
        res = stats.analyse_class(f, seed=1000 + index, n_boot=n_boot)
        row[tag] = res.verdict.label
    return row


#: Audiences of the sparse-class study: the per-session generator's shapes and a narrow
#: plateau (the viewers within 10 % of each other all hour).
SPARSE_SHAPES = (*sessions.SHAPES, "narrow")


def run_sparse_class(args: tuple) -> dict:
    """Decide one sparse class (few errors an hour) on a drawn audience; return its row.

    ``args``: (shape, errors per minute, truth "unrelated" or "traffic", index, n_boot). The
    audience is :func:`sessions.draw_audience`'s shape (or ``narrow``: 90-100 % of 120
    viewers) read through :func:`sessions.read_monitor`; the class's errors are Poisson, at a
    constant mean (unrelated) or in proportion to the true audience with the same expected
    total (a flat rate per viewer), and the viewers are its denominator (an endpoint that
    logs only the class's own failures). Counts of 0.3 errors a minute are the sparse
    background classes of qa's fifty_classes (docs/verdicts.md, "Session 10").
    """
    shape, rate, truth, index, n_boot = args
    rng = np.random.default_rng([20261201, SPARSE_SHAPES.index(shape), round(rate * 100), index])
    n = 60
    if shape == "narrow":
        audience = 120 * rng.uniform(0.9, 1.0, n)
    else:
        audience = sessions.draw_audience(shape, n, rng)
    audience = np.maximum(np.round(audience), 1.0)
    concurrency, _ = sessions.read_monitor(audience, rng)
    if truth == "unrelated":
        y = rng.poisson(rate, n).astype(float)
    else:
        y = rng.poisson(rate * n * audience / audience.sum()).astype(float)
    verdict, *_ = stats.attribute_class(
        y, concurrency, concurrency, rng=np.random.default_rng(index), n_boot=n_boot
    )
    return {
        "shape": shape,
        "rate": rate,
        "truth": truth,
        "index": index,
        "errors": float(y.sum()),
        "label": verdict.label,
        "decided_by": verdict.decided_by,
        "bayes_factor": verdict.bayes_factor,
    }


def separation_bound(frame) -> float:
    """Best accuracy any rule can reach telling g = 1 from g = 0 on this class's own series.

    The two simple hypotheses at the observed totals, Poisson noise, no burstiness allowed
    (the most favourable case): the likelihood ratio's means and sds under each give a
    separation d, and the Bayes-optimal forced choice is right with probability Phi(d / 2).
    Where this is below a target, no verdict rule can meet the target on that class.
    The traffic is what the package's tests weigh minutes by (the denominator with the class's
    own kept failures replaced by their mean, or the viewers where nothing else was logged):
    with the failures left in, each minute was weighed by its own errors and the bound
    overstated what the audience's variation can tell.
    """
    y, r, c, _ = stats.extract_series(frame)
    found = stats.extract_signals(frame)
    counts, _ = stats.choose_counts(y, found)
    realtime = stats.is_realtime_class(frame)
    if not realtime:
        r, _ = drop_masked_requests(r, found)
    x, _, _ = choose_denominator(r, found, c, realtime, counts)
    x, own = split_own_failures(x, choose_denominator(r, found, c, realtime)[0], c)
    if own is not None:
        x = x - own + own.mean()
    x = np.maximum(x, stats.MIN_EXPOSURE)
    w = np.log(x / x.mean())
    mu1, mu0 = x * counts.sum() / x.sum(), np.full_like(x, counts.mean())
    spread = (math.sqrt(np.sum(mu1 * w * w)) + math.sqrt(np.sum(mu0 * w * w))) / 2
    if spread <= 0:
        return 0.5
    d = (np.sum(mu1 * w) - np.sum(mu0 * w)) / spread
    return float(0.5 * (1 + math.erf(d / 2 / math.sqrt(2))))


def undetermined_floor(
    bound: float, level: float = stats.ALPHA_LEVEL, cut: float = stats.BAYES_FACTOR_CUT
) -> float:
    """Share of g = 1 classes an ideal statistic leaves undetermined under the package's rule.

    ``bound`` is :func:`separation_bound` of the class, so the separation of the likelihood
    ratio between the two simple hypotheses is d = 2 Phi^-1(bound), with Poisson noise known
    exactly (the most favourable case). In standard units z ~ N(d, 1) under g = 1: g = 0 is
    rejected above z_level, g = 1 below d - z_level, and the Bayes factor is exp(d z - d^2 / 2).
    The rule (docs/verdicts.md) leaves a class undetermined when both or neither test rejects
    (z between z_level and d - z_level) and the Bayes factor lies within (1/cut, cut): z within
    log(cut) / d of d / 2. Both intervals are centred on d / 2. Where this is above a target,
    the target needs another level or band, not a better statistic.
    """
    nd = NormalDist()
    d = 2 * nd.inv_cdf(min(max(bound, 0.5), 1 - 1e-15))
    z = nd.inv_cdf(1 - level)
    h = abs(z - d / 2) if d <= 0 else min(math.log(cut) / d, abs(z - d / 2))
    return float(nd.cdf(h - d / 2) - nd.cdf(-h - d / 2))


def capacity_power_bound(
    mean: np.ndarray, requests: np.ndarray, alpha: float, level: float = stats.ALPHA_LEVEL
) -> float:
    """Best power any test at ``level`` can have against a flat rate per request, on this class.

    The most favourable case: the class's true capacity mean (``mean``) and the flat rate per
    request with the same expected total are both known exactly, and so is the NB2 noise
    (``alpha``; 0 is Poisson); nothing (K, the lag, the shape, the burstiness) is estimated.
    The best linear statistic between two known means (Fisher's discriminant, weights
    (mu1 - mu0) / mean variance) has, in the normal approximation, power
    Phi((D - z sd0) / sd1) at ``level``. Where this is below a target, no capacity test that
    keeps its false calls on flat-rate classes at ``level`` can meet the target on the class.
    """
    mu1 = np.asarray(mean, dtype=float)
    r = np.asarray(requests, dtype=float)
    mu0 = r * mu1.sum() / r.sum()
    v1, v0 = mu1 + alpha * mu1**2, mu0 + alpha * mu0**2
    w = (mu1 - mu0) / np.maximum((v1 + v0) / 2, 1e-12)
    gap = float(np.sum(w * (mu1 - mu0)))
    sd0, sd1 = math.sqrt(float(np.sum(w * w * v0))), math.sqrt(float(np.sum(w * w * v1)))
    if gap <= 0 or sd1 <= 0:
        return float(level)
    z = NormalDist().inv_cdf(1 - level)
    return float(NormalDist().cdf((gap - z * sd0) / sd1))


def _row(family, index, null, name, truth, res) -> dict:
    """Return the study's row of one analysed class (truth beside the statistics' answer)."""
    row = {
        "family": family,
        "index": index,
        "null_incident": null,
        "mechanism": name,
        "truth": truth,
        "label": res.verdict.label,
        "errors": res.total_errors,
        "bayes_factor": res.verdict.bayes_factor,
        # The decision's inputs, so a change of rule can be checked on the rows it would move.
        "decided_by": res.verdict.decided_by,
        "sources": res.verdict.sources,
        "p_hinge": res.verdict.hinge_p_value,
        "p_hinge_bursty": res.verdict.hinge_p_value_bursty_null,
        "p_zero": res.verdict.p_value_zero,
        "p_one": res.verdict.p_value_one,
        "lr": None if res.elasticity is None else res.elasticity.lr,
        "residual_phi": res.verdict.residual_phi,
        "set_aside": (res.verdict.hinge_set_aside or {}).get("kind"),
        "g": None if res.elasticity is None else res.elasticity.g,
        "g_se": None if res.elasticity is None else res.elasticity.se,
        # A traffic call set aside as errors outgrowing their requests (bayes_vetoes).
        "p_faster": (res.verdict.faster_than_flat or {}).get("p_value"),
    }
    sig = res.signals
    if sig is not None:
        row.update(
            latency_ratio=sig.latency_ratio,
            latency_load_p=sig.latency_load_p_value,
            rt_saturated_share=sig.realtime_errors_in_saturated_share,
        )
    fit = res.threshold
    if fit is not None:
        row.update(
            k=fit.k,
            k_low=fit.k_low,
            k_high=fit.k_high,
            lag=fit.lag_minutes,
            lag_low=fit.lag_low,
            lag_high=fit.lag_high,
            weak=fit.weakly_identified,
            k_open_low=fit.k_open_low,
        )
    if res.cross_correlation is not None:
        row["p_ccf"] = res.cross_correlation.load_leads_p_value
    if res.load_coefficient is not None:
        row["p_count"] = res.load_coefficient.p_value
    if res.coincidence is not None:
        row["p_eca"] = res.coincidence.precursor_p_value
    return row


def map_jobs(func, jobs, workers):
    """Run ``func`` over ``jobs``: serially, or on a fork pool (order kept) when workers > 1."""
    return list(iterate_jobs(func, jobs, workers))


def iterate_jobs(func, jobs, workers):
    """Yield ``func(job)`` for every job in order; on a fork pool when workers > 1.

    One pool for all jobs, one job at a time per worker, so both cores stay busy to the end;
    each incident has its own random stream, so the results do not depend on the schedule.
    """
    if workers <= 1:
        yield from (func(j) for j in jobs)
        return
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(func, jobs, chunksize=1)


def _rate(hits: int, n: int) -> tuple[float, float]:
    p = hits / n if n else float("nan")
    return p, math.sqrt(p * (1 - p) / n) if n else float("nan")


def confusion(rows: list[dict]) -> dict:
    """{truth: {label: count}} over the rows."""
    out = {t: dict.fromkeys(LABELS, 0) for t in TRUTHS}
    for r in rows:
        out[r["truth"]][r["label"]] += 1
    return out


def format_confusion(family: str, rows: list[dict]) -> str:
    """Markdown confusion matrix of one family (shares of each truth row, with N)."""
    table = confusion(rows)
    head = f"\n### {family}\n\n| truth \\ verdict | N | " + " | ".join(LABELS) + " |\n"
    head += "|---|---|" + "---|" * len(LABELS) + "\n"
    body = ""
    for t in TRUTHS:
        n = sum(table[t].values())
        cells = " | ".join(f"{table[t][lab] / n:.3f}" if n else "-" for lab in LABELS)
        body += f"| {t} | {n} | {cells} |\n"
    return head + body


def covers(row: dict) -> bool:
    """Whether the K interval meets the true K (a range for Realtime classes, see generator)."""
    return row["k_low"] <= row["k_true_high"] and row["k_high"] >= row["k_true_low"]


def within_10(row: dict) -> bool:
    """Whether K-hat lies within 10% of the true K (of the nearest end of a true range)."""
    lo, hi = row["k_true_low"], row["k_true_high"]
    nearest = min(max(row["k"], lo), hi)
    return abs(row["k"] - nearest) <= 0.1 * nearest


def target_rows(family: str, rows: list[dict]) -> list[dict]:
    """Every target of issue 12 measured on one family's rows."""
    out = []

    def add(criterion, hits, n, target, ok):
        rate, se = _rate(hits, n)
        out.append(
            {
                "family": family,
                "criterion": criterion,
                "n": n,
                "rate": rate,
                "mc_se": se,
                "target": target,
                "pass": (ok(rate) if n else None),
            }
        )

    def add_bound(criterion, group, key="separation_bound"):
        # An any-rule bound (:func:`separation_bound`, :func:`capacity_power_bound`), averaged
        # over the rows that carry it.
        bounds = [r[key] for r in group if key in r]
        if not bounds:
            # Kept as an empty row, so every family lists the same rows in the same order.
            add(criterion, 0, 0, "(info)", lambda p: True)
        else:
            out.append(
                {
                    "family": family,
                    "criterion": criterion,
                    "n": len(bounds),
                    "rate": float(np.mean(bounds)),
                    "mc_se": float(np.std(bounds) / math.sqrt(len(bounds))),
                    "target": "(info)",
                    "pass": True,
                }
            )

    cap = [r for r in rows if r["truth"] == "capacity" and r.get("above", 0) >= 15]
    add(
        "capacity -> capacity-driven (>= 15 lagged min above K)",
        sum(r["label"] == stats.CAPACITY for r in cap),
        len(cap),
        ">= 0.90",
        lambda p: p >= 0.90,
    )
    # The first generator records its capacity mean: how much power any test at the hinge's
    # level could have on these classes, and on the ones the package did not call capacity.
    add_bound(
        "  best possible power at 0.05 against a flat rate, any test (info, mean)",
        cap,
        "capacity_bound",
    )
    add_bound(
        "  the same bound on the capacity classes not called capacity (info, mean)",
        [r for r in cap if r["label"] != stats.CAPACITY],
        "capacity_bound",
    )
    # K below most of the hour: the hinge is a straight line over nearly every minute.
    most = [r for r in cap if r["above"] >= 50]
    add(
        "  capacity with >= 50 lagged min above K -> capacity-driven (info)",
        sum(r["label"] == stats.CAPACITY for r in most),
        len(most),
        "(info)",
        lambda p: True,
    )
    add_bound("  best possible power on those (info, mean)", most, "capacity_bound")
    flat = [r for r in rows if r["mechanism"] in FLAT_BUGS]
    add(
        "flat-rate bug -> traffic-proportional",
        sum(r["label"] == stats.TRAFFIC for r in flat),
        len(flat),
        ">= 0.85",
        lambda p: p >= 0.85,
    )
    add_bound("  best possible accuracy on these flat bugs, any rule (info, mean)", flat)
    # What the package's own statistic gets when forced to choose (no "undetermined"): the
    # Bayes factor's side of 1. Beside the bound above it shows whether the test leaves
    # power unused or the undetermined band is what separates it from the target.
    forced = [r for r in flat if r.get("bayes_factor") is not None]
    if forced:
        add(
            "  forced choice on these flat bugs: Bayes factor > 1 (info)",
            sum(r["bayes_factor"] > 1 for r in forced),
            len(forced),
            "(info)",
            lambda p: True,
        )
    retry = [r for r in rows if r["mechanism"] in BURSTY_BUGS]
    add(
        "bursty bug (retry loops, AR(1)-Cox bug) -> traffic-proportional (info)",
        sum(r["label"] == stats.TRAFFIC for r in retry),
        len(retry),
        "(info)",
        lambda p: True,
    )
    unrel = [r for r in rows if r["truth"] == "unrelated"]
    add(
        "independent of load -> unrelated",
        sum(r["label"] == stats.UNRELATED for r in unrel),
        len(unrel),
        ">= 0.85",
        lambda p: p >= 0.85,
    )
    mechanisms = sorted({r["mechanism"] for r in unrel})
    for mech in mechanisms:
        sel = [r for r in rows if r["mechanism"] == mech]
        add(
            f"  {mech} -> unrelated (info)",
            sum(r["label"] == stats.UNRELATED for r in sel),
            len(sel),
            "(info)",
            lambda p: True,
        )
    for t in TRUTHS:
        sel = [r for r in rows if r["truth"] == t]
        add(
            f"undetermined among truth {t}",
            sum(r["label"] == stats.UNDETERMINED for r in sel),
            len(sel),
            "<= 0.10",
            lambda p: p <= 0.10,
        )
    # A capacity class whose lagged load hardly passes K has no capacity effect to find (the
    # generator may draw K above a quiet hour's peak): the same restriction as the capacity
    # target, shown beside the target's own row, not instead of it.
    add(
        "  undetermined among capacity with >= 15 lagged min above K (info)",
        sum(r["label"] == stats.UNDETERMINED for r in cap),
        len(cap),
        "(info)",
        lambda p: True,
    )
    add(
        "  undetermined among flat-rate bugs (info)",
        sum(r["label"] == stats.UNDETERMINED for r in flat),
        len(flat),
        "(info)",
        lambda p: True,
    )
    add(
        "  undetermined among bursty bugs (retry loops, AR(1)-Cox bug) (info)",
        sum(r["label"] == stats.UNDETERMINED for r in retry),
        len(retry),
        "(info)",
        lambda p: True,
    )
    # The same bound on the bursty bugs (Poisson noise assumed, so an upper bound there too):
    # whether their undetermined calls are classes the load's variation cannot decide.
    add_bound("  best possible accuracy on these bursty bugs, any rule (info, mean)", retry)
    add_bound(
        "  the same bound on the undetermined bursty bugs (info, mean)",
        [r for r in retry if r["label"] == stats.UNDETERMINED],
    )
    # How many of the bugs the rule's own level and Bayes-factor band leave undetermined even
    # for an ideal statistic (:func:`undetermined_floor`), beside how many the package leaves.
    bugs = [r for r in flat + retry if "separation_bound" in r]
    add(
        "  undetermined among flat and bursty bugs (info)",
        sum(r["label"] == stats.UNDETERMINED for r in bugs),
        len(bugs),
        "(info)",
        lambda p: True,
    )
    for r in bugs:
        r["undetermined_floor"] = undetermined_floor(r["separation_bound"])
    add_bound(
        "  the same, ideal statistic under the same rule (info, mean)", bugs, "undetermined_floor"
    )
    # A limit that never bound in the window leaves only the class's baseline failures at a
    # flat rate per request: the generator records that truth as traffic (docs/verdicts.md).
    unbound = [r for r in rows if r.get("limit_reached") is False]
    if unbound:
        add(
            "  capacity mechanism whose limit never bound (truth: traffic) -> traffic (info)",
            sum(r["label"] == stats.TRAFFIC for r in unbound),
            len(unbound),
            "(info)",
            lambda p: True,
        )
    non_cap = [r for r in rows if r["truth"] != "capacity"]
    add(
        "false capacity among non-capacity (bursty bugs, client bursts incl.)",
        sum(r["label"] == stats.CAPACITY for r in non_cap),
        len(non_cap),
        "<= 0.05",
        lambda p: p <= 0.05,
    )
    for mech in (
        *BURSTY_BUGS,
        "client_burst",
        "unrelated_bursty",
        "null:episodic",
        "deploy_outage",
        "minute_burst",
    ):
        sel = [r for r in rows if r["mechanism"] == mech]
        if not sel:
            continue
        add(
            f"  false capacity, {mech} (info)",
            sum(r["label"] == stats.CAPACITY for r in sel),
            len(sel),
            "(info)",
            lambda p: True,
        )
    for key, name in (("p_ccf", "CCF load leads"), ("p_count", "count model"), ("p_eca", "ECA")):
        ps = [r[key] for r in unrel if r.get(key) is not None]
        add(
            f"shift-calibrated {name}: FPR on load-independent classes",
            sum(p <= 0.05 for p in ps),
            len(ps),
            "<= 0.07",
            lambda p: p <= 0.07,
        )
    fits = [r for r in rows if r["truth"] == "capacity" and "k" in r]
    add(
        "K interval covers the true K (Realtime: meets its range)",
        sum(covers(r) for r in fits),
        len(fits),
        ">= 0.85",
        lambda p: p >= 0.85,
    )
    strong = [r for r in fits if not r["weak"]]
    add(
        "K within +-10% among well identified",
        sum(within_10(r) for r in strong),
        len(strong),
        ">= 0.90",
        lambda p: p >= 0.90,
    )
    add("  share well identified (info)", len(strong), len(fits), "(info)", lambda p: True)
    add(
        "lag within +-1 min (all capacity fits)",
        sum(abs(r["lag"] - r["lag_true"]) <= 1 for r in fits),
        len(fits),
        ">= 0.85",
        lambda p: p >= 0.85,
    )
    add(
        "  lag within +-1 min among well identified (info)",
        sum(abs(r["lag"] - r["lag_true"]) <= 1 for r in strong),
        len(strong),
        "(info)",
        lambda p: True,
    )
    add(
        "  lag range covers the true lag (info)",
        sum(r["lag_low"] <= r["lag_true"] <= r["lag_high"] for r in fits),
        len(fits),
        "(info)",
        lambda p: True,
    )
    return out


def measure_faster_level(args: tuple) -> float | None:
    """Return the upper-tail p (``elasticity.measure_faster_than_flat``) of one flat rate.

    ``args``: (load shape ``seed`` or ``random``, bursty, index, n_boot). A flat rate per request
    of 10-300 errors an hour on the first generator's requests, Poisson or NB2 (alpha 0.5):
    the share of p-values at or below a level is the test's false-alarm rate on flat bugs
    (docs/verdicts.md, "Errors that grow faster than requests"). None below ``MIN_ERRORS``.
    """
    from analysis.stats.elasticity import measure_faster_than_flat

    shape, bursty, index, n_boot = args
    rng = np.random.default_rng([20261201, minutes.SHAPES.index(shape), int(bursty), index])
    requests = minutes.simulate_requests(minutes.make_concurrency(shape, rng), rng).astype(float)
    mu = requests * float(rng.uniform(10, 300)) / requests.sum()
    if bursty:
        mu = rng.gamma(2.0, mu / 2.0)
    errors = rng.poisson(mu).astype(float)
    if errors.sum() < stats.MIN_ERRORS:
        return None
    return measure_faster_than_flat(errors, requests, rng=rng, n_boot=n_boot)
