"""Bottom-up audiences of a webinar: registrations -> people -> sessions, with known truth.

Where :mod:`analysis.simulate.incident` draws sessions to match a given concurrency curve, this
generator lets the curve emerge from people, so a projection from one event can be checked
against the peak of another event of a different size with the same behaviour:

- each registrant attends with probability ``attendance``; ``walk_in_share`` more people come
  unregistered (both binomial/Poisson);
- a person arrives near the start (share ``on_time``, half-normal delay of ``arrival_sd_min``)
  or uniformly later, and stays an exponential time (mean ``stay_min``), cut at the end;
- a person opens ``1 + Poisson(extra_tabs)`` parallel sessions (tabs, devices);
- every session reconnects as a Poisson process (``reconnects_per_hour``): the old session
  lingers ``ghost_s`` seconds after the new one opens (the overlap that makes peak sessions
  exceed people);
- at ``storm_at_min`` (if set) a share ``storm_share`` of the people present reconnect at once.

Everything is in seconds from the window start; :func:`to_sessions` gives the contract's
``sessions`` table shape (session_id, webinar_id, user, joined_at, left_at).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class AudienceParams:
    """Behaviour of an audience (the same for events of any size)."""

    attendance: float = 0.8
    walk_in_share: float = 0.03
    minutes: int = 60
    on_time: float = 0.75
    arrival_sd_min: float = 4.0
    stay_min: float = 45.0
    extra_tabs: float = 0.3
    reconnects_per_hour: float = 1.5
    ghost_s: float = 40.0
    storm_at_min: float | None = 40.0
    storm_share: float = 0.5


@dataclass(frozen=True)
class SimulatedAudience:
    """One simulated event: registrations, attendees and sessions (seconds from start)."""

    registrations: int
    people: int
    sessions: pd.DataFrame  # user (int), joined (s), left (s)
    peak: int


def simulate_audience(registrations: int, params: AudienceParams, seed: int) -> SimulatedAudience:
    """Simulate one event with ``registrations`` registrants under ``params``."""
    rng = np.random.default_rng(seed)
    span = params.minutes * 60.0
    people = int(rng.binomial(registrations, params.attendance))
    people += int(rng.poisson(params.walk_in_share * registrations))
    on_time = rng.random(people) < params.on_time
    arrive = np.where(
        on_time,
        np.abs(rng.normal(0.0, params.arrival_sd_min * 60.0, people)),
        rng.uniform(0.0, span, people),
    )
    arrive = np.minimum(arrive, span - 1.0)
    leave = np.minimum(arrive + rng.exponential(params.stay_min * 60.0, people), span)
    storm = None if params.storm_at_min is None else params.storm_at_min * 60.0
    users, joined, left = [], [], []
    for p in range(people):
        tabs = 1 + int(rng.poisson(params.extra_tabs))
        stormed = (
            storm is not None and arrive[p] < storm < leave[p] and rng.random() < params.storm_share
        )
        for _ in range(tabs):
            t = arrive[p]
            duration = leave[p] - arrive[p]
            n_re = int(rng.poisson(params.reconnects_per_hour * duration / 3600.0))
            cuts = sorted(rng.uniform(arrive[p], leave[p], n_re).tolist())
            if stormed:
                cuts = sorted([*cuts, storm])
            for cut in [*cuts, leave[p]]:
                end = cut if cut >= leave[p] else min(cut + params.ghost_s, leave[p])
                users.append(p)
                joined.append(t)
                left.append(end)
                t = cut
    sessions = pd.DataFrame({"user": users, "joined": joined, "left": left})
    return SimulatedAudience(registrations, people, sessions, peak_of(sessions))


def peak_of(sessions: pd.DataFrame) -> int:
    """Exact maximum of open sessions over time (joined <= t < left)."""
    if sessions.empty:
        return 0
    times = np.concatenate([sessions["joined"].to_numpy(), sessions["left"].to_numpy()])
    steps = np.concatenate([np.ones(len(sessions)), -np.ones(len(sessions))])
    order = np.lexsort((steps, times))  # a leave (-1) before a join (+1) at the same instant
    return int(np.cumsum(steps[order]).max())


def to_sessions(
    audience: SimulatedAudience, start: pd.Timestamp, webinar_id: str = "w"
) -> pd.DataFrame:
    """Return the contract's ``sessions`` table for a simulated audience."""
    s = audience.sessions
    return pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(len(s))],
            "webinar_id": webinar_id,
            "user": pd.array([f"u_{u:012x}" for u in s["user"]], dtype="string"),
            "joined_at": start + pd.to_timedelta(s["joined"], unit="s"),
            "left_at": start + pd.to_timedelta(s["left"], unit="s"),
        }
    )
