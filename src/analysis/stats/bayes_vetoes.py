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

from analysis.stats.constants import ALPHA_LEVEL
from analysis.stats.episodes import PERSIST_LEVEL, check_flat_rate_persists
from analysis.stats.results import TRAFFIC, UNDETERMINED, UNRELATED


def _both_reject(verdict) -> bool:
    p0, p1 = verdict.p_value_zero, verdict.p_value_one
    return p0 is not None and p1 is not None and max(p0, p1) <= ALPHA_LEVEL


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
    return replace(
        verdict,
        label=UNDETERMINED,
        decided_by="none",
        caveat=None,
        bayes_factor_cut=None,
        reason=reason,
        quiet_run=quiet,
    )


#: Share of a class's counted errors in minutes where every logged request of its endpoints was
#: one of its own failures, from which on the Bayes factor may not decide it: most of them.
OWN_ONLY_SHARE = 0.5

#: How a reason names the reading the Bayes factor chose.
_READING = {TRAFFIC: "traffic-proportional", UNRELATED: "unrelated to load"}


def check_own_failures_only(verdict, counts, without, per):
    """Return the verdict, undetermined when most errors fall where every request failed.

    Applies, like :func:`check_quiet_run`, to a class both elasticity tests reject that the
    Bayes factor decides (either way). ``without`` is the class's denominator per minute with
    every failing request out (None for Realtime, whose denominator is the viewers). In a
    minute where it is 0 while the class has errors, every logged request of the class's
    endpoints failed: a rate per request of 1. When such minutes hold at least
    ``OWN_ONLY_SHARE`` of the counted errors, and other minutes' requests were answered, the
    errors follow a state switched in time (a deploy that broke an insert, a lock, a dropped
    column), which neither a small flat rate per request nor a count unrelated to traffic
    describes; and the tests' weights, the requests without the class's failures, are empty
    in exactly those minutes, so the lr and its Bayes factor read the class's own pattern,
    not the audience's (docs/verdicts.md, "Every request failed"). The reason names the
    minutes, and where the errors begin or end with them, that minute.
    """
    if verdict.label not in (TRAFFIC, UNRELATED) or verdict.decided_by != "bayes_factor":
        return verdict
    if without is None or not _both_reject(verdict):
        return verdict
    y = np.asarray(counts, dtype=float)
    w = np.asarray(without, dtype=float)
    alone = (y > 0) & (w <= 0)
    share = float(y[alone].sum() / y.sum()) if y.sum() > 0 else 0.0
    answered = float(w[~alone].sum())
    if share < OWN_ONLY_SHARE or answered <= 0:
        return verdict
    where = np.flatnonzero(alone)
    own_only = {
        "first_minute": int(where[0]) + 1,
        "last_minute": int(where[-1]) + 1,
        "minutes": int(alone.sum()),
        "share": share,
        "answered": answered,
        "begins": not np.any(y[: where[0]] > 0),
        "ends": not np.any(y[where[-1] + 1 :] > 0),
    }
    when = ""
    if own_only["begins"]:
        when = f"; the errors begin at window minute {own_only['first_minute']}"
    if own_only["ends"] and own_only["last_minute"] < len(y):
        when += f"; the errors end at window minute {own_only['last_minute']}"
    reason = (
        f"{verdict.reason}; not {_READING[verdict.label]}: in {own_only['minutes']} minutes "
        f"(window minutes {own_only['first_minute']}-{own_only['last_minute']}, "
        f"{100 * share:.0f} % of the {verdict.count_unit}) every logged request of "
        f"the class's endpoints was one of its own failures, while {answered:.0f} requests in "
        "other minutes were answered: a state switched in time (a deploy, a lock, a dropped "
        f"column), which neither a small flat rate per {per} nor a count unrelated to traffic "
        f"describes{when}"
    )
    return replace(
        verdict,
        label=UNDETERMINED,
        decided_by="none",
        caveat=None,
        bayes_factor_cut=None,
        reason=reason,
        own_only=own_only,
    )
