"""One simulated incident of the statistics' simulation study, drawn and analysed.

The study (``benchmarks/bench_stats.py`` at full counts, ``tests/test_stats_simulation.py`` at
reduced ones) runs these per incident: each has its own random stream, so any subset of runs
is reproducible on its own and the order or number of worker processes changes nothing.
Ground truth is read here, beside the statistics' answer, never by the statistics. The design
is described in docs/statistics.md.
"""

from __future__ import annotations

import numpy as np

from analysis import stats
from analysis.simulate import minutes

SCENARIO_IDS = {
    name: i
    for i, name in enumerate(
        [f"null:{k}" for k in minutes.NULL_KINDS]
        + ["capacity", "capacity_poisson", "bug", "bug_bursty", "unrelated", "unrelated_bursty"]
    )
}
SHAPE_IDS = {"seed": 0, "random": 1}


def incident_rng(scenario: str, shape: str, index: int, base: int = 20260206):
    """Return the generator of one simulated incident (independent streams per cell)."""
    return np.random.default_rng([base, SCENARIO_IDS[scenario], SHAPE_IDS[shape], index])


def calibration_incident(args: tuple) -> dict:
    """p-values of the no-link tests (CCF both directions, count model, ECA) on one incident."""
    scenario, shape, index = args
    inc = minutes.simulate_incident(scenario, shape, incident_rng(scenario, shape, index))
    c, y = inc.concurrency, inc.errors
    out = {}
    ccf = stats.cross_correlate(c, y)
    out["ccf_load_leads"] = ccf.load_leads_p_value
    out["ccf_errors_lead"] = ccf.errors_lead_p_value
    lc = stats.fit_load_coefficient(c, y)
    out["count_model"] = None if lc is None else lc.p_value
    eca = stats.analyse_coincidence(c, y)
    out["eca_precursor"] = eca.precursor_p_value
    out["eca_trigger"] = eca.trigger_p_value
    return out


def attribution_incident(args: tuple) -> dict:
    """Verdict, hinge p-value, K and lag estimates (and truth) for one incident."""
    scenario, shape, index, n_boot = args
    rng = incident_rng(scenario, shape, index)
    inc = minutes.simulate_incident(scenario, shape, rng)
    verdict, test, fit, _ = stats.attribute_class(
        inc.errors,
        inc.requests,
        inc.concurrency,
        rng=rng,
        n_boot=n_boot,
        bursty_null=scenario in ("bug_bursty", "capacity"),
    )
    row = {"label": verdict.label, "truth": inc.truth, "total": int(inc.errors.sum())}
    row["p"] = None if test is None else test.p_value
    row["p_bursty"] = None if test is None else test.p_value_bursty_null
    row["caveat"] = verdict.caveat is not None
    if fit is not None:
        row.update(
            k=fit.k,
            k_low=fit.k_low,
            k_high=fit.k_high,
            weak=fit.weakly_identified,
            lag=fit.lag_minutes,
        )
    return row
