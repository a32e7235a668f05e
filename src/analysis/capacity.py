"""Capacity plan for the next event: projected peak connections for N registrations.

From one webinar's data the plan takes the attendance per registration (people, counted as
distinct users of presence sessions, over registrations), how each person's sessions (tabs,
devices, reconnects) overlap in time, and the capacity classes' fitted thresholds. It projects
the peak for an event with ``N`` registrations by simulation:

1. attendance rate ``a`` ~ Gamma(people + 1/2, 1 / registrations) (the Jeffreys posterior of a
   Poisson rate), attendees ``M`` ~ Poisson(N a): the new event's turnout varies too;
2. ``M`` people drawn with replacement from a bootstrap resample of this webinar's people
   (the resample carries the uncertainty of taking these people as typical), each with all of
   their session intervals, on this webinar's clock: peaks, joins at the start and reconnect
   storms are kept as they happened, scaled to the new audience;
3. the peak is the maximum over time of the drawn people's open sessions.

The interval is the ``level`` central quantile range of the draws: a prediction interval for
the next event's peak, not a confidence interval of a mean. Realtime connections add the
connections Billing metrics rows count beyond the open sessions (monitor sockets, other
clients), as observed; database connections scale the compute's ceiling by the projected peak
over the viewer threshold of a database capacity class (proportional use: no fixed base, which
errs on the high side).

Assumptions and the reasons not to trust a projection are returned as codes the report words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: Central prediction interval of the projected peak.
LEVEL = 0.90
#: Spare capacity required above the interval's upper end when a plan or compute is chosen:
#: projections come from one event, and other clients (dashboards, jobs) share the ceilings.
HEADROOM = 0.25
#: Simulated events per projection.
DRAWS = 2000
#: Evaluation grid of the concurrency curve: at most this many instants over the window.
MAX_GRID = 3600
#: Largest people x instants matrix kept in memory (float32: 16 MB); the grid coarsens above.
MAX_CELLS = 4_000_000
#: Random integers drawn per block of simulated events: a block's arrays stay a few MB, so
#: the next block reuses the memory one touched instead of faulting in fresh pages (a first
#: projection took 0.3-0.4 CPU s with blocks of MAX_CELLS integers, 0.1 with these).
STREAM_BLOCK = 1 << 18
#: Multiply-adds one projection may spend; a very large audience gets fewer draws (not < 200).
MAX_WORK = 2_000_000_000
#: Registration counts every plan carries besides the report's own N.
STANDARD_SIZES = (500, 2000)
#: Projections this many times larger (or smaller) than the observed event extrapolate.
EXTRAPOLATION_FACTOR = 4.0
#: Fewer people than this make the resampled audience too coarse to trust.
MIN_PEOPLE = 30
#: The monitor's peak and the sessions' peak should agree within this share.
MONITOR_AGREEMENT = 0.10


def build_units(
    sessions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[list[np.ndarray], int, int]:
    """Group a webinar's sessions into people: per person, the (join, leave) seconds.

    Sessions without a user are their own unit each (counted separately and returned as
    ``anonymous``); intervals are clipped to the window, open sessions end at its end.

    Returns
    -------
    units : list of numpy.ndarray
        One (k, 2) float array of [joined, left) seconds from ``start`` per person.
    people : int
        Identified people (distinct users).
    anonymous : int
        Sessions without a user.
    """
    span = (end - start).total_seconds()
    if sessions.empty:
        return [], 0, 0
    joined = ((sessions["joined_at"] - start).dt.total_seconds()).clip(0, span)
    left = (sessions["left_at"] - start).dt.total_seconds().fillna(span).clip(0, span)
    frame = pd.DataFrame(
        {"user": sessions["user"].astype("string"), "joined": joined, "left": left}
    ).dropna(subset=["joined"])
    frame = frame[frame["left"] > frame["joined"]]
    named = frame[frame["user"].notna()]
    anon = frame[frame["user"].isna()]
    codes, _ = pd.factorize(named["user"], sort=True)
    order = np.lexsort((named["left"].to_numpy(), named["joined"].to_numpy(), codes))
    values = named[["joined", "left"]].to_numpy(dtype=float)[order]
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    units = np.split(values, bounds) if len(values) else []
    # People in the order of their sessions, not of their pseudonyms: the resampling draws
    # units by index, so an order by pseudonym would make the intervals depend on the
    # pseudonym key (a secret, not an input). People with the same sessions are alike.
    units.sort(key=lambda unit: tuple(unit.ravel()))
    units += [row.reshape(1, 2) for row in anon[["joined", "left"]].to_numpy(dtype=float)]
    return units, int(codes.max() + 1) if len(codes) else 0, int(len(anon))


def open_matrix(units: Sequence[np.ndarray], span_s: float, max_grid: int = MAX_GRID) -> np.ndarray:
    """Open sessions of each unit at each grid instant: a (units, grid) float32 matrix.

    The grid is every ``span / max_grid`` seconds (at least one second), coarser when the
    matrix would exceed ``MAX_CELLS``; a session is open at t when joined <= t < left.
    """
    grid_size = max(min(max_grid, MAX_CELLS // max(len(units), 1)), 1)
    step = max(span_s / grid_size, 1.0)
    grid = np.arange(0.0, span_s, step)
    if not len(units):
        return np.zeros((0, len(grid)), dtype=np.float32)
    owner = np.repeat(np.arange(len(units)), [len(u) for u in units])
    intervals = np.concatenate(units)
    delta = np.zeros((len(units), len(grid) + 1), dtype=np.int32)
    np.add.at(delta, (owner, np.searchsorted(grid, intervals[:, 0], side="left")), 1)
    np.add.at(delta, (owner, np.searchsorted(grid, intervals[:, 1], side="left")), -1)
    return np.cumsum(delta[:, :-1], axis=1).astype(np.float32)


def connections_offset(billing: pd.DataFrame, all_sessions: pd.DataFrame) -> tuple[float, int]:
    """Median of Realtime's connected count minus the open sessions (all webinars) at each row.

    Parameters
    ----------
    billing : pandas.DataFrame
        ``Billing metrics`` rows with ``ts`` and ``connected``.
    all_sessions : pandas.DataFrame
        Every webinar's sessions (joined_at, left_at).

    Returns
    -------
    (offset, rows)
        0.0 and 0 when there is no billing row.
    """
    rows = billing.dropna(subset=["connected"]).sort_values("ts", kind="stable")
    if rows.empty:
        return 0.0, 0
    joins = np.sort(all_sessions["joined_at"].to_numpy(dtype="datetime64[ns]"))
    left = all_sessions["left_at"].dropna().to_numpy(dtype="datetime64[ns]")
    lefts = np.sort(left)
    ts = rows["ts"].to_numpy(dtype="datetime64[ns]")
    open_now = np.searchsorted(joins, ts, side="right") - np.searchsorted(lefts, ts, side="right")
    diff = rows["connected"].to_numpy(dtype=float) - open_now
    return float(np.median(diff)), int(len(rows))


def summarize_basis(
    units: Sequence[np.ndarray],
    people: int,
    anonymous: int,
    registrations: int,
    matrix: np.ndarray,
    monitor_peak: float | None,
) -> dict:
    """Observed quantities the projection rests on (for the report's 'from this webinar')."""
    curve = matrix.sum(axis=0) if len(units) else np.zeros(1)
    peak = float(curve.max()) if curve.size else 0.0
    mean = float(curve.mean()) if curve.size else 0.0
    sessions = int(sum(len(u) for u in units))
    attendees = people + anonymous
    return {
        "registrations": int(registrations),
        "people": int(people),
        "anonymous_sessions": int(anonymous),
        "sessions": sessions,
        "attendance_per_registration": attendees / registrations if registrations else None,
        "sessions_per_person": sessions / attendees if attendees else None,
        "mean_concurrent_sessions": mean,
        "mean_sessions_per_person": mean / attendees if attendees else None,
        "peak_sessions": peak,
        "peak_to_mean": peak / mean if mean > 0 else None,
        "monitor_peak": monitor_peak,
    }


def peak_candidates(matrix: np.ndarray) -> np.ndarray:
    """Instants (columns) of an open-sessions matrix where a drawn audience can peak.

    The people drawn count with weights >= 0, so an instant whose every person has no more
    sessions open than at a neighbouring instant never sums to more than that neighbour:
    repeats, and instants beside a join (or after a leave), are dropped. Following such
    neighbours always ends at an instant that is kept, so the maximum over the kept ones is
    the maximum over all.
    """
    keep = np.ones(matrix.shape[1], dtype=bool)
    if matrix.shape[1] < 2:
        return keep
    same = np.all(matrix[:, 1:] == matrix[:, :-1], axis=0)
    keep[1:] = ~same
    distinct = matrix[:, keep]
    rises = np.all(distinct[:, 1:] >= distinct[:, :-1], axis=0)  # column i <= column i + 1
    falls = np.all(distinct[:, 1:] <= distinct[:, :-1], axis=0)  # column i + 1 <= column i
    peak = np.ones(distinct.shape[1], dtype=bool)
    peak[:-1] &= ~rises
    peak[1:] &= ~falls
    keep[np.flatnonzero(keep)[~peak]] = False
    return keep


def simulate_peaks(
    matrix: np.ndarray, registrations: int, n: int, *, draws: int = DRAWS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of ``draws`` simulated events with ``n`` registrations, and their attendees.

    Each event draws ``units`` integers (its bootstrap population of people), then one per
    attendee (who comes, from that population). Consecutive calls of ``Generator.integers``
    with the same bounds continue one stream, so the events' integers are taken in blocks of
    events by one call each: the same numbers as one call per event, without a Python loop.
    Peaks are sums of whole numbers in float32, exact (in any order of summation) below
    2**24 open sessions, so only the instants that can hold a peak are summed
    (:func:`peak_candidates`).
    """
    draws = max(min(draws, MAX_WORK // max(matrix.size, 1)), 200)
    matrix = matrix[:, peak_candidates(matrix)]
    units, grid = matrix.shape
    rng = np.random.default_rng([seed, int(n)])
    rate = rng.gamma(units + 0.5, 1.0 / registrations, size=draws)
    attendees = rng.poisson(n * rate)
    peaks = np.empty(draws, dtype=float)
    taken = units + attendees
    # Events per chunk: their counts (events x units) and curves (events x instants) within
    # MAX_CELLS, and one product per chunk: matrix products of a few hundred events each cost
    # their BLAS threads' start and stop every time (13 products, 0.24-0.39 CPU s, for the
    # shipped webinar's 2,000-registration projection; one product, a few hundredths).
    chunk = max(MAX_CELLS // max(units, grid, 1), 1)
    for start in range(0, draws, chunk):
        stop = min(start + chunk, draws)
        counts = np.empty((stop - start, units), dtype=np.float32)
        first = start
        while first < stop:
            # Events per block: its integers within STREAM_BLOCK.
            cumulative = np.cumsum(taken[first:stop])
            size = max(int(np.searchsorted(cumulative, STREAM_BLOCK, side="right")), 1)
            block = slice(first, first + size)
            stream = rng.integers(0, units, size=int(cumulative[size - 1]))
            # The block's stream holds each event's population (units integers: people)
            # followed by its attendees' positions in that population. Offsetting every entry
            # by its event's row makes both a cell of the events x units table: attendees
            # counted per position, then each position's count added to the person drawn there.
            stream += np.repeat(np.arange(0, size * units, units), taken[block])
            lengths = np.empty(2 * size, dtype=np.int64)
            lengths[0::2] = units
            lengths[1::2] = attendees[block]
            population = np.repeat(np.tile(np.array([True, False]), size), lengths)
            per_position = np.bincount(stream[~population], minlength=size * units)
            counts[first - start : first - start + size] = np.bincount(
                stream[population], weights=per_position, minlength=size * units
            ).reshape(size, units)
            first += size
        peaks[start:stop] = (counts @ matrix).max(axis=1) if grid else 0.0
    return peaks, attendees


def interval(values: np.ndarray, level: float = LEVEL) -> dict:
    """Median and central ``level`` interval of simulated values."""
    tail = (1.0 - level) / 2.0
    low, mid, high = np.quantile(values, [tail, 0.5, 1.0 - tail])
    return {"low": float(low), "median": float(mid), "high": float(high)}


def choose_limit(
    limits: Sequence[Mapping], product: str, needed: float, headroom: float = HEADROOM
) -> dict:
    """Smallest tier of ``product`` whose limit stays above ``needed`` x (1 + headroom).

    Returns the chosen tier (None when even the largest is below), the next larger tier, and
    the headroom each leaves.
    """
    tiers = sorted(
        (lim for lim in limits if lim["product"] == product),
        key=lambda lim: (lim["limit"], lim["tier"]),
    )
    target = needed * (1.0 + headroom)
    chosen = next((t for t in tiers if t["limit"] >= target), None)
    after = None
    if chosen is not None:
        after = next((t for t in tiers if t["limit"] > chosen["limit"]), None)
    return {
        "product": product,
        "needed": needed,
        "target": target,
        "tier": None if chosen is None else chosen["tier"],
        "limit": None if chosen is None else chosen["limit"],
        "source": None if chosen is None else chosen["source"],
        "headroom": None if chosen is None or needed <= 0 else chosen["limit"] / needed - 1.0,
        "next_tier": None if after is None else after["tier"],
        "next_limit": None if after is None else after["limit"],
        "largest_limit": tiers[-1]["limit"] if tiers else None,
    }


def limit_in_effect(billing: pd.DataFrame) -> int | None:
    """Return the Realtime limit the first Billing metrics row of the window reports."""
    rows = billing.dropna(subset=["limit"]).sort_values("ts", kind="stable")
    return None if rows.empty else int(rows["limit"].iloc[0])


def plan_capacity(
    *,
    sessions: pd.DataFrame,
    all_sessions: pd.DataFrame,
    billing: pd.DataFrame,
    registrations: int | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    thresholds: Sequence[Mapping],
    limits: Sequence[Mapping],
    sizes: Sequence[int],
    monitor_peak: float | None = None,
    seed: int = 0,
    draws: int = DRAWS,
    level: float = LEVEL,
    headroom: float = HEADROOM,
    max_grid: int = MAX_GRID,
) -> dict:
    """Project peak Realtime and database connections for events of ``sizes`` registrations.

    Parameters
    ----------
    sessions : pandas.DataFrame
        The webinar's presence sessions (user, joined_at, left_at).
    all_sessions : pandas.DataFrame
        Every webinar's sessions, to compare with Realtime's connected counts.
    billing : pandas.DataFrame
        Realtime ``Billing metrics`` rows in the window (ts, connected, limit); may be empty.
    registrations : int or None
        The webinar's registrations; None when the export holds no registrations table.
    thresholds : sequence of mapping
        Capacity-driven classes: error_class, resource (``realtime``/``database``), k, k_low,
        k_high, weakly_identified.
    limits : sequence of mapping
        Published ceilings (``stats.SUPABASE_LIMITS``).
    sizes : sequence of int
        Registration counts to project.

    Returns
    -------
    dict
        ``available`` False with a ``reason`` code when nothing can be projected; else
        ``basis``, ``thresholds``, ``projections`` (one per size), ``assumptions``, ``trust``.
    """
    units, people, anonymous = build_units(sessions, start, end)
    settings = {"level": level, "headroom": headroom, "draws": draws}
    if registrations is None:
        return {"available": False, "reason": "registrations_not_exported", **settings}
    if not registrations:
        return {"available": False, "reason": "no_registrations", **settings}
    if not units:
        return {"available": False, "reason": "no_sessions", **settings}
    span = (end - start).total_seconds()
    matrix = open_matrix(units, span, max_grid)
    basis = summarize_basis(units, people, anonymous, registrations, matrix, monitor_peak)
    offset, billing_rows = connections_offset(billing, all_sessions)
    basis["connections_offset"] = offset
    basis["billing_rows"] = billing_rows
    rt_limit = limit_in_effect(billing)
    basis["realtime_limit_in_effect"] = rt_limit
    pg = sorted((lim for lim in limits if lim["product"] == "Postgres"), key=lambda x: x["limit"])
    db_ceiling = pg[0] if pg else None
    basis["compute_assumed"] = None if db_ceiling is None else db_ceiling["tier"]
    basis["db_connections_in_effect"] = None if db_ceiling is None else db_ceiling["limit"]
    db_classes = [
        t for t in thresholds if t.get("resource") == "database" and t.get("k") is not None
    ]
    # The most conservative database threshold: the lowest K.
    db_k = min(db_classes, key=lambda t: t["k"]) if db_classes else None
    projections = []
    for n in sizes:
        peaks, attendees = simulate_peaks(matrix, registrations, n, draws=draws, seed=seed)
        peak = interval(peaks, level)
        realtime = {k: v + offset for k, v in peak.items()}
        db = None
        if db_k is not None and db_ceiling is not None:
            k, k_low, k_high = db_k["k"], db_k.get("k_low") or db_k["k"], db_k.get("k_high")
            k_high = k_high or db_k["k"]
            scale = db_ceiling["limit"]
            db = {
                "low": scale * peak["low"] / k_high,
                "median": scale * peak["median"] / k,
                "high": scale * peak["high"] / max(k_low, 1.0),
                "error_class": db_k["error_class"],
            }
        breaches = [
            t["error_class"]
            for t in thresholds
            if t.get("k") is not None and peak["high"] > (t.get("k_low") or t["k"])
        ]
        plans = {
            "realtime_plan": choose_limit(limits, "Realtime", realtime["high"], headroom),
            "compute": None
            if db is None
            else choose_limit(limits, "Postgres", db["high"], headroom),
            "pooler": None
            if db is None
            else choose_limit(limits, "Supavisor pooler", db["high"], headroom),
        }
        for plan in plans.values():
            if plan is not None:
                plan["registrations_at_limit"] = registrations_at_limit(n, plan)
        projections.append(
            {
                "registrations": int(n),
                "draws": int(len(peaks)),
                "attendees": interval(attendees.astype(float), level),
                "peak_sessions": peak,
                "realtime_connections": realtime,
                "db_connections": db,
                **plans,
                "breaches": breaches,
            }
        )
    return {
        "available": True,
        **settings,
        "basis": basis,
        "thresholds": [dict(t) for t in thresholds],
        "projections": projections,
        "assumptions": list_assumptions(basis, db_k),
        "trust": assess_trust(basis, thresholds, sizes),
    }


def list_assumptions(basis: Mapping, db_threshold: Mapping | None) -> list[str]:
    """Codes of what the projection assumes (worded by the report)."""
    codes = ["same_behaviour", "attendance_poisson"]
    codes.append("offset_observed" if basis["billing_rows"] else "offset_none")
    if basis["anonymous_sessions"]:
        codes.append("anonymous_units")
    codes.append("db_proportional" if db_threshold is not None else "db_no_threshold")
    return codes


def assess_trust(basis: Mapping, thresholds: Sequence[Mapping], sizes: Sequence[int]) -> list[str]:
    """Codes of the reasons not to trust (parts of) the projection."""
    flags = []
    r = basis["registrations"]
    if any(n > EXTRAPOLATION_FACTOR * r or n * EXTRAPOLATION_FACTOR < r for n in sizes):
        flags.append("extrapolation")
    if basis["people"] + basis["anonymous_sessions"] < MIN_PEOPLE:
        flags.append("few_people")
    if any(t.get("weakly_identified") for t in thresholds):
        flags.append("threshold_weak")
    monitor = basis.get("monitor_peak")
    if monitor and not math.isclose(basis["peak_sessions"], monitor, rel_tol=MONITOR_AGREEMENT):
        flags.append("monitor_disagrees")
    return flags


def registrations_at_limit(n: int, plan: Mapping) -> int | None:
    """Registrations at which the projected upper end reaches the chosen tier's limit.

    Peaks scale about linearly with the audience, so that is ``n`` times the limit over the
    upper end projected for ``n`` (no headroom left).
    """
    if plan.get("limit") is None or not plan.get("needed"):
        return None
    return int(math.floor(n * plan["limit"] / plan["needed"]))
