"""What the Bayes factor may not decide: checks that turn its call into undetermined.

Where the two elasticity tests do not settle a class, :func:`analysis.stats.verdicts.decide_verdict`
lets the Bayes factor decide. The checks here find data that neither reading describes, so no
ratio between them can settle it: errors that stop while requests go on (an episode in time),
and errors in minutes where every request of the class's endpoints was one of its own failures
(a state switched in time). docs/verdicts.md, "Both tests reject".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.stats import binom

from analysis.stats.constants import ALPHA_LEVEL
from analysis.stats.elasticity import measure_faster_than_flat
from analysis.stats.episodes import PERSIST_LEVEL, check_flat_rate_persists
from analysis.stats.results import TRAFFIC, UNDETERMINED, UNRELATED


def _both_reject(verdict) -> bool:
    p0, p1 = verdict.p_value_zero, verdict.p_value_one
    return p0 is not None and p1 is not None and max(p0, p1) <= ALPHA_LEVEL


def _make_undetermined(verdict, reason: str, **evidence):
    """Return the verdict as undetermined by no test, with the veto's reason and evidence."""
    return replace(
        verdict,
        label=UNDETERMINED,
        decided_by="none",
        caveat=None,
        bayes_factor_cut=None,
        reason=reason,
        **evidence,
    )


def check_quiet_run(verdict, counts, exposure, set_aside, rng, n_boot, per):
    """Return the verdict, undetermined when both tests reject and the errors stop in time.

    Applies to a class both elasticity tests reject that the Bayes factor calls
    traffic-proportional (and whose hinge no veto set aside: those say so themselves). A
    stretch of minutes with requests and no error, beyond what a bursty flat rate per request
    leaves quiet (:func:`check_flat_rate_persists`, at ``PERSIST_LEVEL`` since it vetoes a
    call), refutes the flat rate as the hinge's time-bounded check refutes a limit: the
    errors came in an episode in time, which is neither a flat bug nor load-independent
    steady noise, and what started it the window cannot tell (docs/verdicts.md, "Both tests
    reject"). The silence must also hold at least the class's own count of errors at the
    rate it shows elsewhere (docs/verdicts.md gives both measurements). Its own stream
    (spawned), so the draws after it are the same either way.
    """
    if verdict.label != TRAFFIC or verdict.decided_by != "bayes_factor":
        return verdict
    if not _both_reject(verdict):
        return verdict
    if set_aside is not None:
        return verdict
    quiet = check_flat_rate_persists(counts, exposure, rng=rng.spawn(1)[0], n_boot=n_boot)
    # The reference's AR(1)-Cox moments, fitted on one window, are biased low: alone, the
    # check flags 7-10 % of bursty bugs at PERSIST_LEVEL. So the silence must also be large:
    # at the rate the class fails elsewhere, the quiet stretch would have held at least as
    # many errors as the class had in the whole window (it holds most of the requests).
    if quiet["p_value"] > PERSIST_LEVEL or quiet["expected"] < float(np.sum(counts)):
        return verdict
    reason = (
        f"{verdict.reason}; not traffic-proportional: the errors stop while requests go on "
        f"(window minutes {quiet['first_minute']}-{quiet['last_minute']} hold none where a flat "
        f"rate per {per} refitted on the other minutes expects {quiet['expected']:.1f}; p = "
        f"{quiet['p_value']:.3f} against a flat rate as bursty as these errors): an episode in "
        "time, and what started it the window cannot tell"
    )
    return _make_undetermined(verdict, reason, quiet_run=quiet)


#: Share of a class's counted errors in minutes where most requests of its endpoints failed,
#: from which on the rate per request is tested for a switch: most of them.
MOSTLY_FAILED_SHARE = 0.5

#: How a reason names the reading the tests or the Bayes factor chose.
_READING = {TRAFFIC: "traffic-proportional", UNRELATED: "unrelated to load"}


def check_mostly_failed(verdict, counts, without, per):
    """Return the verdict, undetermined when the rate per request switches in time.

    ``without`` is the class's denominator per minute with every failing request out (None
    for Realtime, whose denominator is the viewers). A minute whose counted errors are at
    least its requests answered without failure failed most of its requests. When such
    minutes hold at least ``MOSTLY_FAILED_SHARE`` of the counted errors, the rate per request
    is tested for a switch: at a flat rate (the flat reading's estimate, errors over errors
    plus answered requests in the window) each minute's errors are binomial; the minute least
    likely to fail so many of its requests (its upper tail, Bonferroni over the minutes with
    requests), or minutes in which every request failed while others were answered, at or
    below ``PERSIST_LEVEL``, show a rate switched in time (a deploy that broke an insert, a
    lock held for a minute, a dropped column), which neither a small flat rate per request nor
    a count unrelated to traffic describes (docs/verdicts.md, "Most requests failed"). Checked
    on a traffic-proportional call (by the tests or the Bayes factor) and on an unrelated call
    by the Bayes factor with both tests rejecting (whose weights, the requests without the
    class's failures, are nearly empty in those minutes); an unrelated call by the tests (an
    outage with no link to traffic) stands. The reason names the minutes and, where the
    errors begin with them, that minute.
    """
    traffic = verdict.label == TRAFFIC
    bf_unrelated = verdict.label == UNRELATED and verdict.decided_by == "bayes_factor"
    if without is None or not (traffic or (bf_unrelated and _both_reject(verdict))):
        return verdict
    y = np.asarray(counts, dtype=float)
    w = np.maximum(np.asarray(without, dtype=float), 0.0)
    most = (y > 0) & (y >= w)
    share = float(y[most].sum() / y.sum()) if y.sum() > 0 else 0.0
    answered = float(w[~most].sum())
    if share < MOSTLY_FAILED_SHARE or answered <= 0:
        return verdict
    n = y + w
    flat = float(y.sum() / n.sum())
    if np.all(w[most] <= 0):
        p = 0.0  # every request failed there, and others were answered: no flat rate does that
    else:
        tail = binom.sf(y[most] - 1, np.round(n[most]).astype(int), flat)
        p = float(min(1.0, tail.min() * np.count_nonzero(n > 0)))
    if p > PERSIST_LEVEL:
        return verdict
    where = np.flatnonzero(most)
    found = {
        "first_minute": int(where[0]) + 1,
        "last_minute": int(where[-1]) + 1,
        "minutes": int(most.sum()),
        "share": share,
        "failed_share": float(y[most].sum() / n[most].sum()),
        "flat_rate": flat,
        "answered": answered,
        "p_value": p,
        "begins": not np.any(y[: where[0]] > 0),
    }
    when = f"; the errors begin at window minute {found['first_minute']}" if found["begins"] else ""
    reason = (
        f"{verdict.reason}; not {_READING[verdict.label]}: {found['minutes']} minutes (window "
        f"minutes {found['first_minute']}-{found['last_minute']}) hold {100 * share:.0f} % of "
        f"the {verdict.count_unit} and failed {100 * found['failed_share']:.0f} % of their "
        f"requests, while {answered:.0f} requests in the other minutes were answered (p = "
        f"{p:.2g} at a flat rate per {per} of {100 * flat:.1f} %): a rate per request switched "
        "in time (a deploy, a lock, a dropped column), which neither a small flat rate per "
        f"request nor a count unrelated to traffic describes{when}"
    )
    return _make_undetermined(verdict, reason, mostly_failed=found)


#: Elasticity from which on errors are taken to outgrow their requests: with the square of
#: them, as far past a flat rate per request (g = 1) as that lies past no link (g = 0).
FASTER_G = 2.0


#: Without a load series: the (elasticity, level) from which the veto applies.
NO_LOAD_FASTER = (1.0, ALPHA_LEVEL)


def check_faster_than_flat(
    verdict, elasticity, counts, exposure, own, rng, n_boot, per, load_known=True
):
    """Return the verdict, undetermined when a traffic call's errors outgrow their requests.

    The test of g = 1 reads only the lower tail of ``lr`` (errors weighing busy minutes less
    than a flat rate per request does), so errors that grow far faster than their requests
    (prompts past a service's per-second rate, a bot's bursts that dominate their minutes'
    requests) pass it and are called a flat rate per request, which they are not. A
    traffic-proportional call (by the tests or the Bayes factor) is undetermined when lr's
    upper tail rejects g = 1 (:func:`measure_faster_than_flat`) at ``PERSIST_LEVEL`` (it vetoes
    a call, so the stricter level) AND the elasticity is at least ``FASTER_G``: an effect, not
    only a tail, so a flat bug's busy minutes do not move it. ``counts`` and ``exposure``: what
    ``elasticity`` was estimated on; ``own`` the class's failing requests the exposure holds.
    Neither a flat rate per request nor no link to load describes such errors, and no capacity
    limit was found, so the data cannot tell (docs/verdicts.md, "Errors that grow faster than
    requests", gives the rates on flat bugs and on the cases it fixes). Its own stream
    (spawned, the last draw of the class), and only on traffic calls with g >= ``FASTER_G``.

    ``load_known=False`` (no load series, so no capacity test ran): any g above 1 that the
    upper tail rejects at ``ALPHA_LEVEL`` vetoes, since errors outgrowing their requests are
    what a capacity limit shows in the requests alone, and nothing else here can tell them
    from one (docs/verdicts.md, "No load series").
    """
    min_g, level = (FASTER_G, PERSIST_LEVEL) if load_known else NO_LOAD_FASTER
    if verdict.label != TRAFFIC or elasticity is None or elasticity.g < min_g:
        return verdict
    g = elasticity.g
    p = measure_faster_than_flat(counts, exposure, rng=rng.spawn(1)[0], n_boot=n_boot, own=own)
    if p > level:
        return verdict
    found = (
        "and no capacity limit was found"
        if load_known
        else "and without a load series no capacity limit could be tested (this is what one "
        "shows in the requests alone)"
    )
    reason = (
        f"{verdict.reason}; not traffic-proportional: the errors grow faster than the {per}s "
        f"(g = {g:.2f}, at least {min_g:g}; a flat rate per {per} gives a likelihood ratio "
        f"this high with p = {p:.3f}, its overdispersion measured around the fitted slope): "
        f"neither a flat rate per {per} nor errors unrelated to load, {found}"
    )
    return _make_undetermined(verdict, reason, faster_than_flat={"g": g, "p_value": p})
