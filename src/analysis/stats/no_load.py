"""Verdicts without a load series: what a class's requests alone can and cannot tell.

docs/verdicts.md, "No load series": with no viewer or presence sample the hinge cannot be
tested; :func:`analysis.stats.verdicts.attribute_class` runs the elasticity tests on the
requests, and the rules here say what the missing load changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analysis.stats.results import UNDETERMINED, UNRELATED, Verdict

#: The hinge's place in a reason when the load was not measured (:func:`decide_verdict`).
NO_LOAD = (
    "capacity not tested: no load series (no viewer or presence samples), so no hinge in "
    "load could be fitted"
)


def decide_unmeasured(unit: str, sources: int | None, realtime: bool) -> Verdict:
    """Return the verdict of a class whose rate is per viewer when no load was measured.

    A Realtime class, or one whose endpoints logged no request of their own, is divided by the
    concurrent viewers (:func:`choose_denominator`); without them nothing can be tested, so it
    is undetermined by ``load_unknown`` (docs/verdicts.md, "No load series").
    """
    why = "a Realtime class" if realtime else "no request of its endpoints was logged"
    return Verdict(
        UNDETERMINED,
        f"{NO_LOAD}; its rate is per concurrent viewer ({why}), and without a load series "
        "neither a flat rate nor no link to load can be tested",
        *(None, None, None, None, None, False, None, None, unit),
        decided_by="load_unknown",
        sources=sources,
        load_unknown=True,
    )


#: Normal quantile of g's interval in :func:`check_rising_unrelated` (the report's 95 %).
RISING_Z = 1.96
#: Share of the exposure that is the class's own failing requests from which, without a load
#: series, what remains of the requests no longer weighs minutes by the audience
#: (:func:`check_rising_unrelated`; docs/verdicts.md, "No load series", gives the shares met).
OWN_SHARE_THIN = 0.25


def check_rising_unrelated(verdict: Verdict, elasticity, own, exposure) -> Verdict:
    """Return the verdict, undetermined when no load was measured and "unrelated" rises.

    With a load series the test of g = 0 weighs minutes twice, by the requests without the
    class's own failures and by the viewers (Bonferroni). Without one only the first weighing
    is left, and where the class's failures are much of its endpoints' requests (timeouts at
    a limit) what remains falls as the failures grow, so no link is not rejected while the
    errors plainly rise with the requests (g = 2.4, interval above 0, called unrelated). An
    ``unrelated`` call of a class whose own failures are at least ``OWN_SHARE_THIN`` of the
    exposure (``own``) and whose g's interval lies above 0 is then undetermined
    (docs/verdicts.md, "No load series").
    """
    if verdict.label != UNRELATED or own is None or elasticity is None:
        return verdict
    if np.sum(own) < OWN_SHARE_THIN * np.sum(exposure):
        return verdict
    low = elasticity.g - RISING_Z * elasticity.se
    if not np.isfinite(low) or low <= 0:
        return verdict
    reason = (
        f"{verdict.reason}; not unrelated either: the errors rise with the requests (g = "
        f"{elasticity.g:.2f}, interval from {low:.2f}), and without a load series the test of "
        "no link weighs minutes only by the requests the class did not fail, which its own "
        "failures thin where they are many"
    )
    return replace(verdict, label=UNDETERMINED, decided_by="none", caveat=None, reason=reason)
