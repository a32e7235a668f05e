"""The verdict of an error class: the decision and its vetoes.

The evidence shown beside it is in :mod:`analysis.stats.evidence`.

The elasticity tests and the Bayes factor it decides with are in :mod:`analysis.stats.elasticity`.
"""

from __future__ import annotations

from dataclasses import replace
from math import erf

import numpy as np

from analysis.stats.bayes_vetoes import (
    check_faster_than_flat,
    check_mostly_failed,
    check_quiet_run,
)
from analysis.stats.constants import ALPHA_LEVEL, MIN_ERRORS, MIN_EXPOSURE
from analysis.stats.elasticity import (
    BAYES_FACTOR_CUT,
    BAYES_FACTOR_ERROR,
    estimate_elasticity,
    measure_faster_than_flat,
)
from analysis.stats.episodes import (
    IN_TIME,
    PERSIST_LEVEL,
    check_errors_persist,
    compare_load_to_time,
    find_limit_raised,
    observe_limit_binding,
)
from analysis.stats.exposure import (
    choose_denominator,
    drop_masked_requests,
    find_stand_in,
    find_unmeasured_minutes,
    keep_logged_requests,
)
from analysis.stats.limit_change import describe_lifted, fit_limit_regime
from analysis.stats.no_load import NO_LOAD, check_rising_unrelated, decide_unmeasured
from analysis.stats.onset import SMOOTH_LR_CUT, SMOOTH_POWER_MAX, compare_hinge_to_power
from analysis.stats.regimes import residual_autocorrelation
from analysis.stats.results import (
    CAPACITY,
    INSUFFICIENT,
    TRAFFIC,
    UNDETERMINED,
    UNRELATED,
    Elasticity,
    HingeTest,
    ThresholdFit,
    Verdict,
)
from analysis.stats.series import (
    choose_counts,
    describe_shared_addresses,
    find_sources,
    lag_padded,
    split_own_failures,
)
from analysis.stats.threshold import (
    MIN_MINUTES_ABOVE,
    add_bursty_null,
    compare_hinge_to_flat,
    fitted_rate,
    smooth_load,
)

#: Lag-1 autocorrelation of Pearson residuals above which a class counts as bursty (about
#: 2.3 standard errors of an iid series of 60 minutes).
BURSTY_PHI = 0.3


#: Fewest distinct users a class's errors must come from for it to be related to load at all.
#: Capacity limits and traffic-proportional bugs are statements about the audience: errors
#: that scale with how many people use the app. Errors from fewer people than this come from
#: those people's clients (a retry loop, one broken device, a script), and no test on an hour
#: can relate a handful of independent sources to load; the same floor as MIN_ERRORS.
MIN_SOURCES = MIN_ERRORS

#: What the traffic/unrelated tests count when the frame names users (docs/verdicts.md,
#: "Bursty bugs: counting episodes").
EPISODES = "users' error episodes, each counted in its first minute"


def choose_episodes(counts: np.ndarray, signals: dict) -> np.ndarray | None:
    """Return each user's episodes of errors, counted in their first minute; None if unknown.

    An episode is a user's run of consecutive minutes with errors of the class (the frame's
    ``user_onsets``). A retry loop that backs off over minutes, or a client that fails on
    every request while it stays, is one failure of the flat rate per request followed by
    its consequences: counted per minute, one user's episode becomes a run of counts that
    neither a flat rate (independent minutes) nor a traffic-proportional test expects, and
    it reads as bursts or a limit. Counting its first minute keeps the independent events,
    whose rate follows traffic for a traffic-proportional class; for a flat bug whose users
    rarely fail two minutes running it is nearly the same series. Minutes where the onsets
    are unknown keep ``counts``. None without the columns, when nothing differs, or when
    fewer than ``MIN_ERRORS`` episodes remain. Used by :func:`attribute_class` as a second
    stage only (:func:`_decide_on_episodes`).
    """
    onsets = signals.get("user_onsets")
    if onsets is None or "users" not in signals:
        return None
    c = np.asarray(counts, dtype=float)
    episodes = np.where(np.isnan(onsets), c, np.minimum(onsets, c))
    if episodes.sum() < MIN_ERRORS or np.array_equal(episodes, c):
        return None
    return episodes


#: What a class's rates are per, as its reasons name it (:func:`name_denominator`).
PER_REQUEST, PER_VIEWER = "request", "concurrent viewer"
PER_PLURAL = {PER_REQUEST: "requests", PER_VIEWER: "concurrent viewers"}
#: A failing rate's unit: per request a share of them, per viewer errors each minute (a
#: reconnect storm holds several per viewer, which "177 % of the exposure" misread).
RATE_UNIT = {PER_REQUEST: "request", PER_VIEWER: "concurrent viewer and minute"}


def name_denominator(requests: np.ndarray, signals: dict, realtime: bool) -> str:
    """Return what the class's rates are per: requests, or the viewers where they stand in."""
    if realtime or find_stand_in(requests, signals, realtime) is not None:
        return PER_VIEWER
    return PER_REQUEST


def _beyond_flat(elasticity: Elasticity) -> bool:
    """Whether the class's lr lies at or beyond the mean of g = 1's, away from g = 0.

    There the errors weigh busy minutes at least as much as a flat rate per request does, so
    the data cannot favour no link over a flat rate; a Bayes factor that does comes from the
    densities' widths (g = 0's reference is the wider), not from where lr lies.
    """
    lr, centre = elasticity.lr, elasticity.lr_flat_mean
    return lr is not None and centre is not None and lr >= centre


def _fmt_bf(bf: float | None) -> str:
    return "not computed" if bf is None else f"{bf:.3g}"


def decide_verdict(
    test: HingeTest | None,
    elasticity: Elasticity | None,
    residual_phi: float | None,
    count_unit: str = "errors",
    sources: int | None = None,
    tested_on: str | None = None,
    set_aside: dict | None = None,
    per: str = "request",
    sources_of: str = "user",
    load_known: bool = True,
) -> Verdict:
    """Decide the class from calibrated tests and the Bayes factor, never from a point estimate.

    - capacity-driven: the hinge test rejects a flat rate per request under the flat NB null
      AND under the bursty AR(1)-Cox null (a hinge that bursts alone can produce is not one);
    - traffic-proportional: g = 0 rejected, g = 1 (flat rate per request) not rejected;
    - unrelated: g = 1 rejected, g = 0 not rejected;
    - otherwise (both or neither rejected) the Bayes factor BF of g = 1 against g = 0 decides:
      traffic-proportional when BF >= ``BAYES_FACTOR_CUT``, unrelated when BF <= its inverse
      and lr lies short of g = 1's mean (:func:`_beyond_flat`), with a caveat saying the tests
      did not settle it;
    - undetermined ("the data cannot tell"): BF in between (or not computed);
    - insufficient data: fewer than ``MIN_ERRORS`` in the window;
    - before all of these: unrelated when the errors are known to come from fewer than
      ``MIN_SOURCES`` distinct users (``sources``), whatever the tests say; a hinge that
      passes both nulls there is named in the caveat (an app whose requests share one
      identity), not made the verdict (docs/verdicts.md gives the measured reason).

    ``tested_on`` names what the elasticity tests counted when it is not ``count_unit``
    (:data:`EPISODES`); the reason says so. ``set_aside`` (from :func:`_set_aside`): a hinge
    that passes both nulls is no capacity evidence for this class (no threshold inside the
    data, or errors that stop above K), so the elasticity tests decide; the reason says why.
    ``per``: the unit of the denominator the rates are per (:data:`PER_REQUEST` or
    :data:`PER_VIEWER`, :func:`name_denominator`), named by the reason. ``sources_of``: what
    ``sources`` counts, ``user`` or ``address`` (:func:`series.find_sources`).
    ``load_known=False``: no load series, so no hinge was tested; the reason says so.
    """
    per_unit, per_units = per, PER_PLURAL.get(per, per + "s")
    bursty = residual_phi is not None and residual_phi > BURSTY_PHI
    p = None if test is None else test.p_value
    p_cox = None if test is None else test.p_value_bursty_null
    if elasticity is None:
        return Verdict(
            INSUFFICIENT,
            f"fewer than {MIN_ERRORS} {count_unit} in the window",
            p,
            p_cox,
            None,
            None,
            None,
            False,
            residual_phi,
            None,
            count_unit,
            decided_by="none",
            sources=sources,
        )
    g, p0, p1 = elasticity.g, elasticity.p_value_zero, elasticity.p_value_one
    bf = elasticity.bayes_factor
    hinge_flat = p is not None and p <= ALPHA_LEVEL
    hinge_cox = p_cox is not None and p_cox <= ALPHA_LEVEL
    caveat = bf_cut = beyond = None
    hinge_text = "hinge not testable" if p is None else f"hinge bootstrap p = {p:.3f}"
    if not load_known:
        hinge_text = NO_LOAD
    if p_cox is not None:
        hinge_text += f" (bursty null p = {p_cox:.3f})"
    tests_text = f"(on {tested_on}) " if tested_on else ""
    tests_text += f"g = {g:.2f} (se {elasticity.se:.2f}); " + "; ".join(
        f"g = {h}: " + ("not tested" if pv is None else f"p = {pv:.3f}")
        for h, pv in ((0, p0), (1, p1))
    )
    tests_text += f"; Bayes factor g = 1 vs g = 0: {_fmt_bf(bf)}"
    related = p0 is not None and p0 <= ALPHA_LEVEL
    flat_rejected = p1 is not None and p1 <= ALPHA_LEVEL
    decided_by = "tests"
    if sources is not None and sources < MIN_SOURCES:
        # Checked before the hinge, on evidence (docs/verdicts.md, "Who the errors came from"):
        # single-client bursts in busy minutes pass both hinge nulls often enough that testing
        # capacity first would make them the commonest false capacity call. A hinge that does
        # pass both is not hidden: it is the caveat, for the app whose requests share one
        # identity (a service login), where few users says nothing about clients.
        label, decided_by = UNRELATED, "few_sources"
        named, beside = "user(s)", ""
        if sources_of == "address":
            # docs/verdicts.md, "Requests that name no user: addresses".
            named = "client address(es)"
            beside = ", while many more addresses reached its endpoints"
        reason = (
            f"{count_unit} came from {sources} distinct {named} in the window, fewer than "
            f"{MIN_SOURCES}{beside}: a few clients' behaviour, not the audience's load "
            f"({hinge_text}; elasticity in {per_units} {tests_text})"
        )
        if hinge_flat and hinge_cox and sources_of == "address":
            caveat = (
                f"a hinge in load fits these errors under both nulls (p = {p:.3f} flat, "
                f"p = {p_cox:.3f} bursty): a limit per address met by these few busy "
                "addresses (a shared office network), not a limit of the project."
            )
        elif hinge_flat and hinge_cox:
            caveat = (
                f"a hinge in load fits these errors under both nulls (p = {p:.3f} flat, "
                f"p = {p_cox:.3f} bursty): if this app's requests carry one shared identity "
                "(a service login), the few users do not mean few clients, and the errors may "
                "be capacity-driven."
            )
    elif hinge_flat and hinge_cox and set_aside is None:
        label, decided_by = CAPACITY, "hinge"
        reason = (
            f"hinge sup-LR {test.lr:.2f}: bootstrap p = {p:.3f} under a flat NB rate per "
            f"{per_unit} and p = {p_cox:.3f} under a bursty AR(1)-Cox flat rate, both <= "
            f"{ALPHA_LEVEL}"
        )
    else:
        if related and not flat_rejected:
            label = TRAFFIC
        elif flat_rejected and not related:
            label = UNRELATED
        else:
            label, decided_by = UNDETERMINED, "none"
            cut_t = elasticity.bf_cut_traffic or BAYES_FACTOR_CUT
            cut_u = elasticity.bf_cut_unrelated or BAYES_FACTOR_CUT
            if bf is not None and bf >= cut_t:
                label, bf_cut = TRAFFIC, cut_t
            elif bf is not None and bf <= 1 / cut_u and _beyond_flat(elasticity):
                # docs/verdicts.md, "A Bayes factor beyond the flat rate": the two densities
                # differ in width, so far enough past g = 1 the wider g = 0 wins the ratio.
                beyond = {"lr": elasticity.lr, "flat_mean": elasticity.lr_flat_mean}
                tests_text += (
                    f" (it leans to no link, but lr = {elasticity.lr:.1f} lies beyond a flat "
                    f"rate's mean {elasticity.lr_flat_mean:.1f}, on the far side from no link: "
                    f"the {count_unit} weigh busy minutes more than a flat rate per {per_unit} "
                    "does, and the lean comes from the no-link reference's wider spread, not "
                    "from lr lying nearer it)"
                )
            elif bf is not None and bf <= 1 / cut_u:
                label, bf_cut = UNRELATED, cut_u
            elif bf is not None and (bf >= BAYES_FACTOR_CUT or bf <= 1 / BAYES_FACTOR_CUT):
                # Beyond 3 but not beyond the cut the class's own replicates call for.
                held = cut_t if bf >= 1 else cut_u
                tests_text += (
                    f" (beyond {BAYES_FACTOR_CUT:g}, not beyond {held:.3g}: on this class's "
                    f"replicates a Bayes factor this far from 1 is reached by the other reading "
                    f"more often than {100 * BAYES_FACTOR_ERROR:g} % of the time)"
                )
            if label != UNDETERMINED:
                decided_by = "bayes_factor"
                settled = (
                    "both tests reject (errors rise with traffic, but the rate per "
                    f"{per_unit} is not steady)"
                    if related
                    else "neither test rejects"
                )
                caveat = (
                    f"{settled}; the Bayes factor {_fmt_bf(bf)} of a flat rate per {per_unit} "
                    "against no link to traffic decides, which is weaker evidence than a test."
                )
                if bf_cut > BAYES_FACTOR_CUT:
                    tests_text += (
                        f" (beyond this class's calibrated cut {bf_cut:.3g}, which the other "
                        f"reading's replicates reach at most {100 * BAYES_FACTOR_ERROR:g} % of the "
                        "time)"
                    )
        reason = f"{hinge_text}; elasticity in {per_units} {tests_text}"
        if set_aside is not None:
            reason = (
                f"a hinge passes both nulls ({hinge_text}) but "
                f"{describe_set_aside(set_aside, per)}, so it is not "
                f"taken as a capacity limit; elasticity in {per_units} {tests_text}"
            )
        if label == TRAFFIC and set_aside is not None and set_aside["kind"] in IN_TIME:
            # Errors that stop while requests go on refute a flat rate per request as much as
            # a limit: what rose with traffic was one episode, and the hour cannot tell what
            # started it (docs/verdicts.md, "Time-bounded episodes").
            label, decided_by, caveat = UNDETERMINED, "none", None
            reason += (
                f"; not traffic-proportional either: a flat rate per {per_unit} would fail "
                "requests in those minutes too"
            )
        if hinge_flat and not hinge_cox:
            against = "was not tested" if p_cox is None else f"gives p = {p_cox:.3f}"
            caveat = (
                f"a hinge fits against a flat NB rate (p = {p:.3f}) but the bursty AR(1)-Cox "
                f"null this class's burstiness calls for {against}, so it is not called "
                "capacity-driven."
            ) + (f" Also, {caveat}" if caveat else "")
    if bursty and caveat is None and label != UNDETERMINED:
        caveat = (
            f"errors are bursty (lag-1 autocorrelation of residuals {residual_phi:.2f}): the "
            "verdict rests on few independent bursts."
        )
    return Verdict(
        label,
        reason,
        p,
        p_cox,
        g,
        p0,
        p1,
        bursty,
        residual_phi,
        caveat,
        count_unit,
        bf,
        decided_by,
        sources,
        set_aside,
        bayes_factor_cut=bf_cut,
        beyond_flat=beyond,
    )


def _set_aside(fit, counts, exposure, concurrency, rng, n_boot, raised=None) -> tuple:
    """Return (why a hinge passing both nulls is no capacity evidence, load vs time), or None.

    The second is :func:`compare_load_to_time`'s dict when it ran (the first is then
    "follows_time" or None), else None.

    docs/verdicts.md, "A capacity call needs a threshold in the data": errors that stop while
    the load stays above K (``kind`` "time_bounded", :func:`check_errors_persist`; window
    minutes counted from 1), or no threshold inside the data (``kind`` "no_onset"): K's
    interval reaches the lowest K searched, fewer than ``MIN_MINUTES_ABOVE`` minutes of the
    fit's lagged load lie below K-hat, and the lag's interval reaches the longest lag searched,
    so the hinge is a line through the whole hour from its lowest load (the signature of
    errors that trail the load by minutes, a retry loop backing off). An interval open low
    with K-hat inside the data is kept (the first generator's small capacity classes are
    mostly like that; docs/verdicts.md gives the trade) unless, after every other check, a
    power of the load below linear fits as well (``kind`` "smooth_rise",
    :func:`onset.compare_hinge_to_power`).
    """
    if fit is None:
        return None, None
    p, (a, b), expected = check_errors_persist(
        counts, exposure, concurrency, fit, rng=rng, n_boot=n_boot, excluded=raised
    )
    if p <= PERSIST_LEVEL:
        return {
            "kind": "time_bounded",
            "p_value": p,
            "first_minute": a + 1,
            "last_minute": b + 1,
            "expected": expected,
        }, None
    lagged = lag_padded(
        smooth_load(concurrency) if fit.load_smoothed else concurrency, fit.lag_minutes
    )
    below = int(np.sum(lagged < fit.k))
    if fit.k_open_low and below < MIN_MINUTES_ABOVE and fit.lag_open_high:
        return {"kind": "no_onset", "k_low": fit.k_low, "k_high": fit.k_high, "below": below}, None
    timed = compare_load_to_time(
        counts, exposure, concurrency, fit, rng=rng, n_boot=n_boot, excluded=raised
    )
    if timed["p_time"] is not None and timed["p_time"] > ALPHA_LEVEL:
        return {"kind": "follows_time", **timed}, timed
    moved = count_moved_errors(fit, counts, exposure, concurrency)
    if moved < MIN_MOVED:
        return {"kind": "no_excess", "moved": moved, "errors": float(np.sum(counts))}, timed
    if fit.k_open_low:
        # Last: it sets aside only hinges every other check kept (docs/verdicts.md).
        rise = compare_hinge_to_power(fit, counts, exposure, concurrency)
        if rise["smooth"]:
            aside = {"kind": "smooth_rise", "k_low": fit.k_low, "k_high": fit.k_high}
            return {**aside, "power": rise["power"], "lr": rise["lr"]}, timed
    return None, timed


#: Fewest of a class's counted errors the fitted limit must place in other minutes than a
#: flat rate per request does for a capacity call: the same floor as ``MIN_ERRORS``, since a
#: limit is a claim about those errors (docs/verdicts.md, "Few errors beyond a flat rate").
MIN_MOVED = MIN_ERRORS


def count_moved_errors(fit, counts, exposure, concurrency) -> float:
    """Return how many of the class's errors the fitted limit places unlike a flat rate.

    Both readings spread the observed total Y over the minutes: the flat rate per request in
    proportion to the exposure, the fitted limit in proportion to the exposure times its
    rate ``b0 + b1 max(0, c[t - L] - K) ** s``. The number returned is Y times the total
    variation distance between the two spreads: the errors the limit puts in minutes beyond
    what a flat rate puts there (as many as it takes from the others). A hinge whose limit
    moves fewer errors than ``MIN_MOVED`` explains fewer errors than any verdict is ever
    drawn from, however small its p-values (a sparse class's few errors that happen to fall
    in a plateau's minutes above K).
    """
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    limit = x * np.maximum(fitted_rate(fit, concurrency), 0.0)
    if limit.sum() <= 0 or y.sum() <= 0:
        return 0.0
    flat = x / x.sum()
    return float(y.sum() * np.maximum(limit / limit.sum() - flat, 0.0).sum())


def describe_set_aside(set_aside: dict, per: str = PER_REQUEST) -> str:
    """Return the reason's words for a hinge set aside (:func:`_set_aside`).

    ``per``: the class's denominator (:func:`name_denominator`), the unit of its rates.
    """
    if set_aside["kind"] == "follows_time":
        d = set_aside["d"]
        than = f"better than the hinge by {-d:.1f}" if d < 0 else f"within {d:.1f} of the hinge"
        unit = RATE_UNIT.get(per, per)
        return (
            "the errors follow a stretch of time, not the load: one window (minutes "
            f"{set_aside['first_minute']}-{set_aside['last_minute']}, "
            f"{set_aside['share_inside']:.3g} errors per {unit} inside, "
            f"{set_aside['share_outside']:.3g} outside) fits them {than} in "
            "log-likelihood with the same number of parameters; "
            f"the fitted limit's replicates fit time this well with p = {set_aside['p_load']:.3f} "
            f"(level {PERSIST_LEVEL}), such a window's replicates fit the load as well as the "
            f"data do with p = {set_aside['p_time']:.3f}: an episode in time, not a limit"
        )
    if set_aside["kind"] == "no_excess":
        return (
            f"the fitted limit places only {set_aside['moved']:.1f} of the "
            f"{set_aside['errors']:.0f} counted errors in other minutes than a flat rate does, "
            f"fewer than {MIN_MOVED}: too few errors beyond a flat rate to show a limit"
        )
    if set_aside["kind"] == "smooth_rise":
        return (
            f"K's interval [{set_aside['k_low']:.0f}, {set_aside['k_high']:.0f}] reaches the "
            f"lowest load searched, and a rate per request that rises as the load to the power "
            f"{set_aside['power']:.2f} (below {SMOOTH_POWER_MAX:g}: ever more slowly) fits as "
            f"well as the hinge (twice the log-likelihood difference {set_aside['lr']:.2f}, "
            f"below {SMOOTH_LR_CUT:g}): a smooth rise with the load, not a limit crossed inside "
            "the data"
        )
    if set_aside["kind"] == "no_onset":
        return (
            f"K's interval [{set_aside['k_low']:.0f}, {set_aside['k_high']:.0f}] reaches the "
            f"lowest load searched and {set_aside['below']} minute(s) of the lagged load lie "
            "below K: a line through the hour from its lowest load, not a limit crossed inside "
            "the data"
        )
    return (
        "the errors stop while the load stays above K: window minutes "
        f"{set_aside['first_minute']}-{set_aside['last_minute']} hold none where the limit "
        f"refitted on the other minutes expects {set_aside['expected']:.0f} (p = "
        f"{set_aside['p_value']:.3f} under the fitted limit's noise, level {PERSIST_LEVEL}): an "
        "episode in time, not a limit"
    )


def describe_load_vs_time(compared: dict) -> str:
    """Return the reason's words for the load-vs-time comparison that let a capacity call stand."""
    p_time = "not drawn" if compared["p_time"] is None else f"{compared['p_time']:.3f}"
    if compared["kept_by"] == "limit_binding":
        verdict = "Realtime's counts show the limit binding in that window, so the limit stands"
    elif compared["p_time"] is None:
        verdict = (
            f"the fitted limit's own replicates fit time this well often (p_load above "
            f"{PERSIST_LEVEL}), so the limit stands"
        )
    else:
        verdict = (
            f"a window's replicates fit the load this well rarely (p_time at most {ALPHA_LEVEL}), "
            "so the limit stands"
        )
    return (
        f"load against time: the best load model's log-likelihood minus the best single window's "
        f"(minutes {compared['first_minute']}-{compared['last_minute']}) D = {compared['d']:.1f}, "
        f"p_load = {compared['p_load']:.3f}, p_time = {p_time}; {verdict}"
    )


def decide_one_minute(
    counts: np.ndarray, exposure: np.ndarray, unit: str, sources, per: str = "request"
) -> Verdict:
    """Decide a class whose counted errors all fall in one minute: one event.

    No test on one hour relates a single event to load, and no capacity limit is shown by one
    minute (the hinge needs several minutes above K). A flat rate per request puts all Y
    counted units in one minute with probability ``sum_t (x_t / X) ** Y`` (x the
    denominator): at or below ``ALPHA_LEVEL`` that rejects g = 1, and the class is
    unrelated; otherwise it is undetermined.
    """
    y = np.asarray(counts, dtype=float)
    x = np.maximum(np.asarray(exposure, dtype=float), MIN_EXPOSURE)
    total = float(y.sum())
    share = x / x.sum()
    p_one = float(min(1.0, np.sum(np.exp(total * np.log(share)))))
    minute = int(np.flatnonzero(y)[0])
    label = UNRELATED if p_one <= ALPHA_LEVEL else UNDETERMINED
    reason = (
        f"all {total:.0f} {unit} fell in one minute (minute {minute + 1} of the window): one "
        f"event, which no test on one hour can relate to load; a flat rate per {per} would "
        f"put them all in one minute with probability {p_one:.2g}"
    )
    return Verdict(
        label,
        reason,
        None,
        None,
        None,
        None,
        p_one,
        False,
        None,
        None,
        unit,
        decided_by="one_minute",
        sources=sources,
    )


def count_exposed(errors, requests, concurrency, signals: dict, realtime: bool) -> tuple:
    """Return what the models count and divide by: (y, x, unit, requests, errors, left out).

    The steps of :func:`attribute_class` before any model: requests another failure answered
    first leave (not for Realtime), the errors without their request in a sampled export
    leave the numerator, the counted unit is chosen (users, clients or errors) and the
    denominator (requests, or the viewers where they stand in). ``requests`` and ``errors``
    are returned as those steps left them; ``left out`` counts the errors set aside.
    """
    if not realtime:
        requests, _ = drop_masked_requests(requests, signals)
    errors, left_out = keep_logged_requests(errors, requests, signals, realtime)
    y, unit = choose_counts(errors, signals)
    x, _, _ = choose_denominator(requests, signals, concurrency, realtime, y)
    return y, x, unit, requests, errors, left_out


def attribute_class(
    errors: np.ndarray,
    requests: np.ndarray,
    concurrency: np.ndarray | None,
    *,
    rng: np.random.Generator,
    n_boot: int = 199,
    bursty_null: bool = True,
    signals: dict | None = None,
    realtime: bool = False,
) -> tuple[Verdict, HingeTest | None, ThresholdFit | None, Elasticity | None]:
    """Hinge test, threshold, elasticity and the verdict for one class.

    ``signals`` (from :func:`extract_signals`) choose what is counted (:func:`choose_counts`)
    and the denominator (:func:`choose_denominator`); with users' episode onsets, a class called
    unrelated or undetermined is tested again on them (:func:`_decide_on_episodes`). A hinge
    that passes both nulls is capacity only with a threshold inside the data and errors that
    persist above it (:func:`_set_aside`); a class whose errors fall in one minute is one event
    (:func:`decide_one_minute`). ``bursty_null=False`` skips the AR(1)-Cox hinge null, so no
    capacity call can be made (kept for studies of the flat test alone). ``concurrency=None``:
    no load series; the hinge is not tested, the traffic/unrelated tests run on the requests
    alone, and the verdict carries ``load_unknown`` (docs/verdicts.md, "No load series").
    """
    signals = signals or {}
    total = float(np.sum(errors))
    load_known = concurrency is not None
    if not load_known:
        # No load series: what needs no load still runs (docs/verdicts.md, "No load series").
        concurrency = np.zeros(len(errors))
    y, x, unit, requests, errors, left_out = count_exposed(
        errors, requests, concurrency, signals, realtime
    )
    without = choose_denominator(requests, signals, concurrency, realtime)[0]
    x_el, own = split_own_failures(x, without, concurrency)
    sources, sources_of = find_sources(errors, signals)
    per = name_denominator(requests, signals, realtime)
    if y.sum() < MIN_ERRORS:
        verdict = decide_verdict(None, None, None, unit, sources)
        if left_out:
            # Not few errors: few of them have their request in the export (a sample of it).
            verdict = replace(
                verdict,
                reason=(
                    f"{verdict.reason}: of its {total:.0f} errors, {total - left_out:.0f} have "
                    "their request in the gateway export (a sampled or partial export), and a "
                    "rate per request can count only those"
                ),
            )
        return replace(verdict, load_unknown=not load_known), None, None, None
    if not load_known and (realtime or find_stand_in(requests, signals, realtime)):
        return decide_unmeasured(unit, sources, realtime), None, None, None
    if np.count_nonzero(y) == 1:
        elasticity = estimate_elasticity(y, x)
        verdict = replace(decide_one_minute(y, x, unit, sources, per), load_unknown=not load_known)
        return verdict, None, None, elasticity
    test = fit = set_aside = untested = compared = None
    capacity = False
    if load_known:
        test = compare_hinge_to_flat(y, x, concurrency, rng=rng, n_boot=n_boot)
        capacity = test is not None and test.p_value <= ALPHA_LEVEL
        if bursty_null and capacity:
            # Every capacity call must also survive the bursty null: the residual flag alone missed
            # about half of the false calls on simulated bursty bugs (the hinge absorbs the bursts).
            test = add_bursty_null(test, y, x, concurrency, rng=rng)
        capacity = capacity and test.p_value_bursty_null is not None
        capacity = capacity and test.p_value_bursty_null <= ALPHA_LEVEL
        raised = find_limit_raised(y, signals) if capacity and realtime else None
        # K on the regime before a limit that stopped binding in the window (docs/verdicts.md).
        fit, raised, lifted = fit_limit_regime(y, x, concurrency, capacity, raised, rng)
        if capacity:
            # Its own stream (spawned, not drawn from rng), so the draws after it are the same
            # whether or not the check runs.
            check_rng = rng.spawn(1)[0]
            skip = find_unmeasured_minutes(y, requests, signals, realtime, raised)
            set_aside, compared = _set_aside(fit, y, x, concurrency, check_rng, test.n_boot, skip)
            observed = observe_limit_binding(set_aside, y, signals) if realtime else None
            kept_by = "load"
            if observed is not None:
                set_aside, untested, kept_by = None, observed, "limit_binding"
            capacity = set_aside is None
            if compared is not None:
                compared = {**compared, "kept_by": kept_by}
            if capacity and lifted is not None:
                untested = (f"{untested}; " if untested else "") + describe_lifted(lifted)
            elif capacity and raised is not None and raised.any():
                untested = (f"{untested}; " if untested else "") + (
                    f"{int(raised.sum())} minutes after the Realtime limit was raised (from "
                    f"minute {int(np.argmax(raised)) + 1} of the window) lie outside this limit "
                    "and were not tested for errors persisting above K"
                )
    with_failures = requests if "failed_requests" in signals and not realtime else None
    elasticity = estimate_elasticity(
        y,
        x_el,
        rng=rng,
        n_boot=n_boot,
        requests_with_failures=with_failures,
        own=own,
        audience=concurrency if load_known else None,
    )
    if set_aside is not None and set_aside["kind"] == "smooth_rise":
        outgrown = check_rise_outgrows(set_aside, elasticity, y, x_el, own, check_rng, n_boot)
        if outgrown is not None:
            untested = (f"{untested}; " if untested else "") + outgrown
            set_aside, capacity = None, True
    r = np.maximum(x, MIN_EXPOSURE)
    if fit is not None and capacity:
        mu = r * fitted_rate(fit, concurrency)
    else:
        mu = r * y.sum() / r.sum()
    phi = residual_autocorrelation(y, mu)
    verdict = decide_verdict(
        *(test, elasticity, phi, unit, sources),
        set_aside=set_aside,
        per=per,
        sources_of=sources_of,
        load_known=load_known,
    )
    shared = describe_shared_addresses(errors, signals)
    if shared is not None:
        verdict = replace(verdict, reason=f"{verdict.reason}; {shared}")
    if compared is not None and verdict.label == CAPACITY:
        verdict = replace(
            verdict,
            reason=f"{verdict.reason}; {describe_load_vs_time(compared)}",
            load_vs_time=compared,
        )
    if untested is not None and verdict.label == CAPACITY:
        caveat = untested + "." + (f" Also, {verdict.caveat}" if verdict.caveat else "")
        verdict = replace(verdict, reason=f"{verdict.reason}; {untested}", caveat=caveat)
    verdict = check_quiet_run(verdict, y, x_el, set_aside, rng, n_boot, per)
    episodes = choose_episodes(y, signals)
    bounded = set_aside is not None and set_aside["kind"] in IN_TIME
    bounded = bounded or verdict.quiet_run is not None
    counted = y
    if episodes is not None and verdict.label in (UNRELATED, UNDETERMINED) and not bounded:
        args = (verdict, test, episodes, x_el, phi, unit, sources, rng, n_boot, with_failures)
        audience = concurrency if load_known else None
        found = _decide_on_episodes(*args, set_aside, own, audience, per, load_known)
        if found is not None:
            (verdict, elasticity), counted = found, episodes
    # After the users' episodes, whose traffic call it checks too (on the counts).
    verdict = check_mostly_failed(verdict, y, None if realtime else without, per)
    args = (counted, x_el, own, rng, n_boot, per)
    verdict = check_faster_than_flat(verdict, elasticity, *args, load_known)
    bounded = bounded or verdict.mostly_failed is not None or verdict.faster_than_flat is not None
    if verdict.label == UNDETERMINED and verdict.decided_by == "none" and not bounded:
        sep = measure_separation(y, concurrency)
        if sep is not None:
            verdict = replace(
                verdict,
                reason=(
                    f"{verdict.reason}; on this audience (viewers {sep['viewers_low']:.0f}-"
                    f"{sep['viewers_high']:.0f}) the two readings lie d = {sep['d']:.2f} apart: "
                    f"the best any rule could do is {100 * sep['best_share_right']:.0f} % right"
                ),
                separation=sep,
            )
    if not load_known:
        verdict = replace(check_rising_unrelated(verdict, elasticity, own, x_el), load_unknown=True)
    return verdict, test, fit, elasticity


#: Elasticity from which a smooth rise is contention rather than a bug counted by its users:
#: halfway from a flat rate per request (1) to a rate per request proportional to the load (2,
#: what transactions colliding on one row give). Flat bugs whose users are counted against the
#: viewers rise with g 1.2-1.4 (tests/test_onset.py), contention with 1.9-2.0.
RISE_G = 1.5


def check_rise_outgrows(set_aside, elasticity, counts, exposure, own, rng, n_boot) -> str | None:
    """Return why a hinge set aside as a smooth rise stays a capacity call, else None.

    ``smooth_rise`` (:func:`_set_aside`) takes a capacity call to the elasticity tests when a
    power of the load below linear fits as well as a hinge whose K reaches the lowest load:
    no threshold inside the data. Where those tests reject both g = 0 and g = 1 with g at least
    ``RISE_G`` and the errors outgrow their requests (:func:`measure_faster_than_flat` at
    ``PERSIST_LEVEL``), neither of their readings describes the class, while the hinge's
    calibrated tests (both nulls) did find the rate per request rising with the load:
    contention that grows smoothly with the load (a hot row, a lock) is load-driven with no
    threshold, so the call stands and says K is not identified (docs/verdicts.md, "A smooth
    rise that outgrows its requests"). Its own stream (``rng`` is the set-aside checks').
    """
    if elasticity is None or elasticity.g < RISE_G:
        return None
    p0, p1 = elasticity.p_value_zero, elasticity.p_value_one
    if p0 is None or p1 is None or max(p0, p1) > ALPHA_LEVEL:
        return None
    p = measure_faster_than_flat(counts, exposure, rng=rng.spawn(1)[0], n_boot=n_boot, own=own)
    if p > PERSIST_LEVEL:
        return None
    return (
        f"no threshold inside the data: K's interval [{set_aside['k_low']:.0f}, "
        f"{set_aside['k_high']:.0f}] reaches the lowest load searched and a rate per request "
        f"rising as the load to the power {set_aside['power']:.2f} fits as well as the hinge "
        f"(twice the log-likelihood difference {set_aside['lr']:.2f}), but the errors grow "
        f"faster than the requests (g = {elasticity.g:.2f}; g = 0: p = {p0:.3f}, g = 1: "
        f"p = {p1:.3f}; a flat rate gives a likelihood ratio this high with p = {p:.3f}): "
        "load-driven with no identified threshold, so K is no limit to plan by"
    )


#: Best share right (:func:`measure_separation`) below which the audience itself limits any
#: verdict: issue 12's accuracy target for a flat bug or an unrelated class, which no rule
#: can meet on such an hour.
SEPARATION_ENOUGH = 0.85


def measure_separation(counts: np.ndarray, concurrency: np.ndarray) -> dict | None:
    """How far apart a flat rate per request and no link to traffic are on this audience.

    The two simple readings at the observed total, with the viewers as the traffic: g = 1
    puts the counts in proportion to the viewers, g = 0 spreads them evenly. With Poisson noise
    and nothing estimated (the most favourable case), their log likelihood ratio's means lie
    ``d`` of its sds apart, and the best forced choice between them is right with probability
    Phi(d / 2) (``best_share_right``). A class the tests could not decide on an audience that
    hardly varied is undecidable by any rule, which a reader should be told
    (docs/verdicts.md, "Session 9"): ``audience_limits`` when that share is below
    ``SEPARATION_ENOUGH``. None without a usable audience.
    """
    y = np.asarray(counts, dtype=float)
    c = np.asarray(concurrency, dtype=float)
    if y.sum() <= 0 or not np.all(np.isfinite(c)) or c.max() <= 0:
        return None
    t = np.maximum(c, MIN_EXPOSURE)
    w = np.log(t / t.mean())
    mu1, mu0 = t * y.sum() / t.sum(), np.full_like(t, y.mean())
    spread = (np.sqrt(np.sum(mu1 * w * w)) + np.sqrt(np.sum(mu0 * w * w))) / 2
    d = float((np.sum(mu1 * w) - np.sum(mu0 * w)) / spread) if spread > 0 else 0.0
    best = float(0.5 * (1 + erf(d / 2 / np.sqrt(2))))
    return {
        "d": d,
        "best_share_right": best,
        "audience_limits": best < SEPARATION_ENOUGH,
        "viewers_low": float(c.min()),
        "viewers_high": float(c.max()),
    }


def _decide_on_episodes(
    verdict,
    test,
    episodes,
    x,
    phi,
    unit,
    sources,
    rng,
    n_boot,
    with_failures,
    set_aside,
    own,
    audience,
    per=PER_REQUEST,
    load_known=True,
):
    """Return (verdict, elasticity) when users' episodes follow traffic by both tests, else None.

    Second stage of :func:`attribute_class` for a class the per-minute counts called unrelated
    or undetermined (docs/verdicts.md, "Bursty bugs"): a bug whose users keep failing for
    minutes (a retry loop backing off, a client version that fails on every request) has runs
    of counts that a flat rate per minute does not expect, although its episodes start at a
    flat rate per request. Only a calibrated call upgrades the verdict: g = 0 rejected on the
    episodes and g = 1 not. Weaker evidence leaves the per-minute verdict, so a few long bursts
    (too few episodes to test) keep it.
    """
    if verdict.decided_by == "few_sources":
        return None
    el = estimate_elasticity(
        episodes,
        x,
        rng=rng,
        n_boot=n_boot,
        requests_with_failures=with_failures,
        own=own,
        audience=audience,
    )
    if el is None or el.p_value_zero is None or el.p_value_one is None:
        return None
    if not el.p_value_zero <= ALPHA_LEVEL < el.p_value_one:
        return None
    by_episodes = decide_verdict(
        *(test, el, phi, unit, sources),
        tested_on=EPISODES,
        set_aside=set_aside,
        per=per,
        load_known=load_known,
    )
    minute_tests = (
        f"counted per user and minute the tests gave {verdict.label} (g = 0: p = "
        f"{verdict.p_value_zero:.3f}; g = 1: p = {verdict.p_value_one:.3f})"
    )
    return replace(by_episodes, reason=f"{by_episodes.reason}; {minute_tests}"), el
