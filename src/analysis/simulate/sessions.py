"""Per-session incident simulation: viewers, their devices, their requests and what fails.

A second generator, built independently of :mod:`analysis.simulate.minutes` (it shares no code
with it): instead of drawing per-minute counts from a formula, it follows every viewer session
through the hour. Sessions join and leave around an audience curve; each session belongs to a
pseudonymous user and runs on one client (device); every minute it sends requests to several
endpoints; failures come from mechanisms acting on individual requests, sessions or clients:

- ``capacity_db``: a connection limit (FATAL 53300) fails requests on every REST endpoint once
  the lagged true audience exceeds K; failed requests are retried; latency rises with the excess;
- ``capacity_realtime``: connections beyond the Realtime ``limit`` (billing metric ``connected``
  counts the webinar plus other project traffic) are refused and clients reconnect in a loop.
  Both also fail at a small baseline rate per request (per session for Realtime) below the
  limit; where the limit is never reached inside the window, that baseline is all the class
  holds, and its truth is recorded as ``traffic`` (``limit_reached`` False), not capacity;
- ``bug_flat``: a client version fails a fixed share of its requests to one endpoint;
- ``bug_retry``: the same, but each failure starts a retry loop in the failing client (bursty);
- ``registration``: walk-ins register on join and a share of them collide with an earlier
  registration (errors follow joins, the registration endpoint is the denominator);
- ``client_burst``: one client at a time loops on an error for a few minutes, at random minutes;
- ``background_job``: a server-side job fails at a steady rate whatever the audience does;
- ``outage_episodes``: short upstream outages at random minutes fail a fixed number of calls per
  minute from whichever users are online (bursty, independent of load, many users).

The monitor that reports concurrency is noisy and gappy (random sample times, some silent
minutes, a small multiplicative error); the per-minute frame carries its readings, never the
true audience. :meth:`SessionIncident.class_frame` returns, per class, the per-minute frame of
docs/contract.md section 3 plus the signals counts throw away: the class's failed requests
inside its denominator, distinct users, clients and endpoints with errors, users seen for the
first time, users starting an episode of errors (none in the minute before), median latency of
the denominator's requests, and Realtime ``connected``/``limit``. Ground truth (verdict, K in
viewers and in connections, lag) lives in :attr:`SessionIncident.truth` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Audience shapes (scenario families of the verdict benchmark).
SHAPES = ("double_peak", "plateau", "steep_ramp", "low_load", "walk_in")
#: REST endpoints viewers call, with the share of a session's requests each gets.
REST_ENDPOINTS = ("rest/questions", "rest/profiles", "rest/webinars", "rest/chat_messages")
REST_MIX = np.array([0.35, 0.25, 0.15, 0.25])
REGISTRATION_ENDPOINT = "rest/registrations"
REALTIME_ENDPOINT = "realtime/websocket"
ENDPOINTS = (*REST_ENDPOINTS, REGISTRATION_ENDPOINT, REALTIME_ENDPOINT)
#: Error mechanisms and the verdict each should get.
MECHANISM_TRUTH = {
    "capacity_db": "capacity",
    "capacity_realtime": "capacity",
    "bug_flat": "traffic",
    "bug_retry": "traffic",
    "registration": "traffic",
    "client_burst": "unrelated",
    "background_job": "unrelated",
    "outage_episodes": "unrelated",
}
#: Minutes simulated before the window so lagged load exists at the window's start.
WARMUP = 5


@dataclass
class _Events:
    """Error events of one class: one row per (minute, session, endpoint) with a count."""

    minute: list = field(default_factory=list)
    session: list = field(default_factory=list)
    endpoint: list = field(default_factory=list)
    count: list = field(default_factory=list)

    def add(self, minute, sessions, endpoint, counts):
        sessions = np.atleast_1d(np.asarray(sessions, dtype=np.int64))
        counts = np.broadcast_to(np.asarray(counts, dtype=np.int64), sessions.shape)
        keep = counts > 0
        self.minute.append(np.full(int(keep.sum()), minute, dtype=np.int64))
        self.session.append(sessions[keep])
        self.endpoint.append(
            np.broadcast_to(np.asarray(endpoint, dtype=np.int64), sessions.shape)[keep]
        )
        self.count.append(counts[keep])

    def arrays(self):
        if not self.minute:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(4))
        parts = (self.minute, self.session, self.endpoint, self.count)
        return tuple(np.concatenate(x) for x in parts)


@dataclass(frozen=True)
class SessionIncident:
    """One simulated hour: per-minute observables of every class plus the ground truth."""

    n_minutes: int
    concurrency: np.ndarray  # what the monitor reported (max sample, carried forward)
    samples: np.ndarray
    true_audience: np.ndarray
    requests: np.ndarray  # (minutes, endpoints): all requests, failures and retries included
    latency_ms: np.ndarray  # (minutes, endpoints): median latency
    rt_connected: np.ndarray
    rt_limit: np.ndarray
    classes: dict  # name -> dict(events arrays, endpoints, failed (minutes, endpoints))
    users_of_session: np.ndarray
    clients_of_session: np.ndarray
    truth: dict
    #: Sessions online in each minute of the window (for mechanisms added afterwards).
    active_sessions: tuple = ()

    def class_frame(self, name: str, start: str = "2026-02-06T05:00:00Z") -> pd.DataFrame:
        """Per-minute frame of one class with its extra signals (see module docstring).

        ``requests`` counts every request to the endpoints where the class occurs (as a log
        query would, failures included); ``failed_requests`` is the class's own failing
        requests among them.
        """
        cls = self.classes[name]
        minute, session, endpoint, count = cls["events"]
        n = self.n_minutes
        eps = sorted(set(endpoint.tolist())) or [cls["home"]]
        errors = np.bincount(minute, weights=count, minlength=n)[:n].astype(np.int64)
        req = self.requests[:, eps].sum(1)
        failed = cls["failed"][:, eps].sum(1) if cls["failed"] is not None else np.zeros(n)
        lat = np.array(
            [
                np.average(self.latency_ms[t, eps], weights=np.maximum(self.requests[t, eps], 1))
                for t in range(n)
            ]
        )

        def distinct(ids):
            if len(minute) == 0:
                return np.zeros(n, dtype=np.int64)
            pairs = np.unique(np.stack([minute, ids]), axis=1)
            return np.bincount(pairs[0], minlength=n)[:n].astype(np.int64)

        def first_seen(ids):
            if len(minute) == 0:
                return np.zeros(n, dtype=np.int64)
            first = pd.Series(minute).groupby(ids).min().to_numpy(dtype=np.int64)
            return np.bincount(first, minlength=n)[:n].astype(np.int64)

        def onsets(ids):
            # Per id, a minute with errors after a minute without: the start of an episode.
            if len(minute) == 0:
                return np.zeros(n, dtype=np.int64)
            pairs = np.unique(np.stack([ids, minute]), axis=1)  # sorted by id, then minute
            start = np.ones(pairs.shape[1], dtype=bool)
            start[1:] = (pairs[0, 1:] != pairs[0, :-1]) | (pairs[1, 1:] - pairs[1, :-1] > 1)
            return np.bincount(pairs[1, start], minlength=n)[:n].astype(np.int64)

        frame = pd.DataFrame(
            {
                "minute": pd.date_range(pd.Timestamp(start), periods=n, freq="min"),
                "requests": req.astype(np.int64),
                "errors": errors,
                "concurrency": self.concurrency.astype(float),
                "samples": self.samples.astype(np.int64),
                "failed_requests": np.minimum(failed, req).astype(np.int64),
                "users": distinct(self.users_of_session[session]),
                "clients": distinct(self.clients_of_session[session]),
                "endpoints": distinct(endpoint),
                "new_users": first_seen(self.users_of_session[session]),
                "user_onsets": onsets(self.users_of_session[session]),
                "latency_ms": np.round(lat, 1),
                "rt_connected": self.rt_connected.astype(np.int64),
                "rt_limit": self.rt_limit.astype(np.int64),
                # Each mechanism here draws its failures from all of its endpoint's requests,
                # so none of a class's requests was answered by another failure first
                # (tests/_unseen_mech.py writes incidents where a limit's refusals do).
                "masked_requests": np.zeros(n, dtype=np.int64),
            }
        )
        frame.attrs.update(
            error_class=name,
            endpoints=[ENDPOINTS[e] for e in eps],
            source="realtime_events" if cls["realtime"] else "db_errors",
        )
        return frame


# --------------------------------------------------------------------------------------------
# Audience
# --------------------------------------------------------------------------------------------


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width, x[0]), x, np.full(width, x[-1])])
    return np.convolve(padded, kernel, mode="same")[width:-width]


def draw_audience(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Target audience per minute (n minutes) of a named shape; the sessions follow it."""
    t = np.arange(n, dtype=float)
    if shape == "double_peak":
        base = rng.uniform(20, 70)
        a = np.full(n, base)
        for centre, height in (
            (rng.uniform(0.15, 0.4) * n, rng.uniform(200, 340)),
            (rng.uniform(0.6, 0.85) * n, rng.uniform(200, 340)),
        ):
            width = rng.uniform(4, 10)
            a = np.maximum(a, base + (height - base) * np.exp(-0.5 * ((t - centre) / width) ** 2))
    elif shape == "plateau":
        start, length = rng.uniform(3, 15), rng.uniform(20, 40)
        rise = rng.uniform(2, 8)
        level, low = rng.uniform(220, 340), rng.uniform(20, 80)
        up = np.clip((t - start) / rise, 0, 1)
        down = np.clip((start + length - t) / rng.uniform(2, 10), 0, 1)
        a = low + (level - low) * np.minimum(up, down)
    elif shape == "steep_ramp":
        start = rng.uniform(3, 20)
        slope = rng.uniform(8, 25)  # viewers per minute
        low, top = rng.uniform(10, 60), rng.uniform(250, 360)
        a = np.clip(low + slope * (t - start), low, top)
        if rng.random() < 0.5:  # some hours fall again at the end
            fall = rng.uniform(0.75, 0.9) * n
            a = np.where(t > fall, np.maximum(low, a - slope * (t - fall)), a)
    elif shape == "low_load":
        level = rng.uniform(45, 90)
        walk = np.cumsum(rng.normal(0, 4, n))
        a = np.clip(level + walk - walk.mean(), 38, 112)
    elif shape == "walk_in":
        a = np.full(n, rng.uniform(30, 90))
        for _ in range(int(rng.integers(2, 5))):  # walk-in waves: a jump, then slow attrition
            at = int(rng.integers(2, n - 5))
            a[at:] += rng.uniform(50, 110) * np.exp(-(t[at:] - at) / rng.uniform(15, 60))
        a = np.minimum(a, 360)
    else:
        raise ValueError(f"unknown audience shape {shape!r}; expected one of {SHAPES}")
    a = a * np.exp(0.03 * _smooth(rng.standard_normal(n), 3))
    return np.maximum(a, 3.0)


def run_sessions(audience: np.ndarray, rng: np.random.Generator):
    """Follow sessions through the hour around a target audience.

    Returns (active sessions per minute, joins per minute, user of each session, client of each
    session, request rate of each session).
    """
    active: list[int] = []
    per_minute, joins = [], []
    users, clients, rates = [], [], []
    n_users = n_clients = 0
    for target in audience:
        # Everyone leaves at a small hazard; extra departures follow a falling audience.
        stay = rng.random(len(active)) > 0.03
        active = [s for s, k in zip(active, stay, strict=True) if k]
        excess = len(active) - target
        if excess > 0:
            drop = set(rng.choice(len(active), int(min(len(active), 0.6 * excess)), replace=False))
            active = [s for i, s in enumerate(active) if i not in drop]
        new = int(rng.poisson(max(0.0, target - len(active)) * 0.8 + 0.02 * target))
        joined = []
        for _ in range(new):
            sid = len(users)
            if users and rng.random() < 0.12:  # a second device or a reconnecting user
                uid = int(users[int(rng.integers(len(users)))])
                if rng.random() < 0.5:  # the same device again
                    cid = int(clients[users.index(uid)])
                else:
                    cid, n_clients = n_clients, n_clients + 1
            else:
                uid, n_users = n_users, n_users + 1
                cid, n_clients = n_clients, n_clients + 1
            users.append(uid)
            clients.append(cid)
            rates.append(float(rng.lognormal(np.log(3.0), 0.5)))
            joined.append(sid)
        active = active + joined
        per_minute.append(np.array(active, dtype=np.int64))
        joins.append(np.array(joined, dtype=np.int64))
    return per_minute, joins, np.array(users), np.array(clients), np.array(rates)


def read_monitor(true_audience: np.ndarray, rng: np.random.Generator):
    """Read the app's concurrency monitor: a few noisy samples a minute, some minutes silent.

    Returns (concurrency per minute: max sample, carried forward over silent minutes; samples).
    """
    n = len(true_audience)
    samples = rng.poisson(2.0, n)
    gap_rate = rng.uniform(0.0, 0.15)
    samples[rng.random(n) < gap_rate] = 0
    if rng.random() < 0.3:  # a stall of several minutes
        at = int(rng.integers(0, n - 6))
        samples[at : at + int(rng.integers(3, 7))] = 0
    samples[0] = max(samples[0], 1)
    out = np.empty(n)
    last = float(true_audience[0])
    for t in range(n):
        if samples[t]:
            noise = np.exp(rng.normal(0, 0.04, samples[t]))
            last = float(np.max(np.round(true_audience[t] * noise)))
        out[t] = last
    return out, samples


# --------------------------------------------------------------------------------------------
# One incident
# --------------------------------------------------------------------------------------------


def _lagged(x: np.ndarray, lag: int) -> np.ndarray:
    return x if lag == 0 else np.concatenate([np.full(lag, x[0]), x[:-lag]])


def draw_mechanisms(shape: str, rng: np.random.Generator, null: bool) -> tuple[str, ...]:
    """Choose an incident's error classes.

    A capacity class (not in null incidents, not on low-load audiences), two bugs, walk-in
    registrations on walk-in audiences, and the load-independent classes.
    """
    out = ["bug_flat", "bug_retry", "client_burst", "background_job", "outage_episodes"]
    if null:
        out = ["client_burst", "background_job", "outage_episodes"]
    elif shape != "low_load":
        out.insert(0, "capacity_db" if rng.random() < 0.5 else "capacity_realtime")
    if shape == "walk_in" and not null:
        out.append("registration")
    return tuple(out)


def simulate_session_incident(
    shape: str,
    rng: np.random.Generator,
    *,
    n: int = 60,
    null: bool = False,
    mechanisms: tuple[str, ...] | None = None,
    choose_k: Callable[[np.ndarray, np.random.Generator], float] | None = None,
) -> SessionIncident:
    """Simulate one incident hour of the given audience shape (see the module docstring).

    ``null``: no class is linked to load (only load-independent mechanisms). ``mechanisms``
    replaces the drawn set of classes; ``choose_k(lagged true audience, rng)`` replaces the
    draw of the capacity threshold K (threshold studies spread K over the load's range). With
    both None the random stream is the one drawn without them.
    """
    total = n + WARMUP
    audience_target = draw_audience(shape, total, rng)
    active, joins, users, clients, rates = run_sessions(audience_target, rng)
    true_aud = np.array([len(a) for a in active], dtype=float)
    n_ep = len(ENDPOINTS)
    i_reg, i_rt = ENDPOINTS.index(REGISTRATION_ENDPOINT), ENDPOINTS.index(REALTIME_ENDPOINT)
    if mechanisms is None:
        mechanisms = draw_mechanisms(shape, rng, null)
    truth: dict = {"shape": shape, "null": null, "classes": {}}

    # Project-wide Realtime connections: this webinar's sessions plus other traffic.
    background = np.maximum(0, 15 + 12 * _smooth(rng.standard_normal(total), 8)).round()
    connected = true_aud + background
    limit = np.full(total, 500.0)
    lag = int(rng.integers(0, 4))
    k_viewers = None
    if "capacity_db" in mechanisms or "capacity_realtime" in mechanisms:
        lagged_aud = _lagged(true_aud, lag)[WARMUP:]
        # K in 180-260 viewers and below the peak, so some minutes exceed it.
        top = float(np.quantile(lagged_aud, 0.95))
        if choose_k is None:
            k_viewers = float(rng.uniform(180, max(181.0, min(260.0, top - 5))))
        else:
            k_viewers = float(choose_k(lagged_aud, rng))
        if "capacity_realtime" in mechanisms:
            limit[:] = round(k_viewers + background.mean())
    requests = np.zeros((total, n_ep), dtype=np.int64)
    latency = np.zeros((total, n_ep))
    classes = {
        m: {"events": _Events(), "failed": np.zeros((total, n_ep), dtype=np.int64)}
        for m in mechanisms
    }
    # Per-mechanism parameters.
    p_cap = rng.uniform(0.005, 0.05)  # failure probability per request per 20 viewers of excess
    bug_ep, retry_ep, burst_ep, job_ep, out_ep = (int(v) for v in rng.integers(0, 4, 5))
    buggy_share = rng.uniform(0.3, 1.0)
    buggy_client = rng.random(len(users)) < buggy_share
    p_bug = rng.uniform(0.004, 0.03)
    p_retry = rng.uniform(0.002, 0.01)
    retry_mean = rng.uniform(3, 15)
    p_dup = rng.uniform(0.2, 0.6)
    job_rate = rng.uniform(0.5, 3.0)
    job_clients = rng.integers(0, len(users), 2)
    episodes = np.zeros(total)
    for _ in range(int(rng.integers(1, 4))):
        at, width = int(rng.integers(WARMUP, total - 3)), int(rng.integers(2, 8))
        episodes[at : at + width] = rng.uniform(3, 12)
    burst_minutes = np.zeros(total, dtype=np.int64) - 1  # which session loops, per minute
    for _ in range(int(rng.integers(2, 6))):
        at, width = int(rng.integers(WARMUP, total - 2)), int(rng.integers(2, 7))
        if len(active[at]):
            burst_minutes[at : at + width] = int(rng.choice(active[at]))
    burst_level = rng.uniform(5, 40)
    excess = np.maximum(0.0, _lagged(true_aud, lag) - (k_viewers or np.inf))
    excess_rt = np.maximum(0.0, _lagged(connected, lag) - limit)
    for t in range(total):
        sess = active[t]
        lam = rates[sess][:, None] * REST_MIX[None, :]
        rest = rng.poisson(lam)  # (sessions, 4)
        # Capacity (database): every REST request fails with a probability rising past K.
        p_fail = 0.0
        if "capacity_db" in classes and k_viewers is not None:
            p_fail = min(0.6, 2e-4 + p_cap * excess[t] / 20.0)
            fails = rng.binomial(rest, p_fail)
            retries = rng.binomial(fails, 0.6)  # a retried request fails again the same way
            refail = rng.binomial(retries, p_fail)
            rest = rest + retries
            fails = fails + refail
            ev = classes["capacity_db"]
            for e in range(4):
                ev["events"].add(t, sess, e, fails[:, e])
                ev["failed"][t, e] += int(fails[:, e].sum())
        requests[t, :4] += rest.sum(0)
        latency[t, :4] = (
            35.0
            * (1 + 3.0 * excess[t] / max(k_viewers or 1.0, 1.0))
            * np.exp(rng.normal(0, 0.08, 4))
        )
        latency[t, 4:] = 50.0 * np.exp(rng.normal(0, 0.08, 2))
        # Registration on join; a share of walk-ins collide with an earlier registration.
        joined = joins[t]
        requests[t, i_reg] += len(joined)
        if "registration" in classes and len(joined):
            dup = rng.random(len(joined)) < p_dup
            retry = dup & (rng.random(len(joined)) < 0.5)  # a double submit fails twice
            counts = dup.astype(int) + retry
            requests[t, i_reg] += int(retry.sum())
            classes["registration"]["events"].add(t, joined, i_reg, counts)
            classes["registration"]["failed"][t, i_reg] += int(counts.sum())
        # Realtime: a connect per join; beyond the limit, refused and retried every ~10-20 s.
        requests[t, i_rt] += len(joined) + int(rng.poisson(0.05 * len(sess)))
        if "capacity_realtime" in classes:
            ev = classes["capacity_realtime"]
            n_out = int(min(len(sess), round(excess_rt[t])))
            base = rng.random(len(sess)) < 2e-4 * 20
            if n_out or base.any():
                refused = np.zeros(len(sess), dtype=np.int64)
                if n_out:
                    refused[rng.choice(len(sess), n_out, replace=False)] = rng.poisson(
                        rng.uniform(3, 6), n_out
                    )
                refused += base
                requests[t, i_rt] += int(refused.sum())
                ev["events"].add(t, sess, i_rt, refused)
                ev["failed"][t, i_rt] += int(refused.sum())
        # Client bug at a flat rate per request on one endpoint (buggy client versions only).
        if "bug_flat" in classes:
            fails = rng.binomial(rest[:, bug_ep], p_bug * buggy_client[sess])
            classes["bug_flat"]["events"].add(t, sess, bug_ep, fails)
            classes["bug_flat"]["failed"][t, bug_ep] += int(fails.sum())
        # Client bug with a retry loop: each failure is retried a geometric number of times.
        if "bug_retry" in classes:
            first = rng.binomial(rest[:, retry_ep], p_retry)
            loops = np.where(first > 0, rng.geometric(1 / (1 + retry_mean), len(sess)) - 1, 0)
            counts = first + loops
            requests[t, retry_ep] += int(loops.sum())
            classes["bug_retry"]["events"].add(t, sess, retry_ep, counts)
            classes["bug_retry"]["failed"][t, retry_ep] += int(counts.sum())
        # One client at a time loops on an error for a few minutes.
        if "client_burst" in classes and burst_minutes[t] >= 0:
            k = int(rng.poisson(burst_level))
            requests[t, burst_ep] += k
            classes["client_burst"]["events"].add(t, [burst_minutes[t]], burst_ep, [k])
            classes["client_burst"]["failed"][t, burst_ep] += k
        # A server-side job fails at a steady rate (its requests are its own).
        if "background_job" in classes:
            k = int(rng.poisson(job_rate))
            if k:
                who = rng.choice(job_clients, k)
                requests[t, job_ep] += k
                uniq, cnt = np.unique(who, return_counts=True)
                classes["background_job"]["events"].add(t, uniq, job_ep, cnt)
                classes["background_job"]["failed"][t, job_ep] += k
        # Upstream outage episodes: a fixed number of failures per minute, whoever is online.
        if "outage_episodes" in classes:
            k = int(rng.poisson(episodes[t] + 0.3))
            if k and len(sess):
                who = rng.choice(sess, k)
                uniq, cnt = np.unique(who, return_counts=True)
                classes["outage_episodes"]["events"].add(t, uniq, out_ep, cnt)
                classes["outage_episodes"]["failed"][t, out_ep] += k
    home = {
        "capacity_db": 0,
        "capacity_realtime": i_rt,
        "bug_flat": bug_ep,
        "bug_retry": retry_ep,
        "registration": i_reg,
        "client_burst": burst_ep,
        "background_job": job_ep,
        "outage_episodes": out_ep,
    }
    out_classes = {}
    for m in mechanisms:
        minute, session, endpoint, count = classes[m]["events"].arrays()
        keep = minute >= WARMUP
        out_classes[m] = {
            "events": (minute[keep] - WARMUP, session[keep], endpoint[keep], count[keep]),
            "failed": classes[m]["failed"][WARMUP:],
            "home": home[m],
            "realtime": m == "capacity_realtime",
        }
        entry = {"verdict": MECHANISM_TRUTH[m]}
        if MECHANISM_TRUTH[m] == "capacity":
            lagged_aud = _lagged(true_aud, lag)[WARMUP:]
            over_limit = (excess_rt >= 0.5 if m == "capacity_realtime" else excess > 0)[WARMUP:]
            if not over_limit.any():
                # The limit never bound inside the window: every error of the class is its
                # baseline failure at a flat rate per request (per session for Realtime), so
                # what the data hold is traffic-proportional, and that is the truth recorded.
                entry["verdict"] = "traffic"
            entry["limit_reached"] = bool(over_limit.any())
            k_range = (k_viewers, k_viewers)
            if m == "capacity_realtime":
                # In viewers the limit moves with the project's other connections: the true K
                # is a range, limit minus the background seen while the limit was exceeded.
                over = _lagged(connected, lag)[WARMUP:] > limit[WARMUP:]
                bg = _lagged(background, lag)[WARMUP:][over] if over.any() else background
                k_range = (float(limit[0] - bg.max()), float(limit[0] - bg.min()))
            entry.update(
                k=k_viewers,
                k_range=k_range,
                lag=lag,
                minutes_above_k=int(np.sum(lagged_aud > k_viewers)),
                k_connections=float(limit[0]) if m == "capacity_realtime" else None,
            )
        truth["classes"][m] = entry
    conc, samples = read_monitor(true_aud[WARMUP:], rng)
    return SessionIncident(
        n_minutes=n,
        concurrency=conc,
        samples=samples,
        true_audience=true_aud[WARMUP:],
        requests=requests[WARMUP:],
        latency_ms=latency[WARMUP:],
        # Realtime refuses connections past the limit, so the metric never exceeds it.
        rt_connected=np.minimum(connected, limit)[WARMUP:],
        rt_limit=limit[WARMUP:],
        classes=out_classes,
        users_of_session=users,
        clients_of_session=clients,
        truth=truth,
        active_sessions=tuple(active[WARMUP:]),
    )


def spread_retries(
    incident: SessionIncident,
    name: str,
    rng: np.random.Generator,
    gap_seconds: tuple[float, float] = (10.0, 40.0),
) -> SessionIncident:
    """Return the incident with class ``name``'s retries spread over minutes (a back-off loop).

    The generator puts a loop's retries in the minute of its first failure. Here each event's
    first failure stays at a random second of its minute and the rest follow every
    ``gap_seconds`` (drawn per loop), so a long loop spans several minutes; retries past the
    window are dropped, and the requests and failed requests move with the errors. Used by
    the verdict study's back-off experiment (docs/verdicts.md, "Bursty bugs").
    """
    cls = incident.classes[name]
    minute, session, endpoint, count = cls["events"]
    n = incident.n_minutes
    requests, failed = incident.requests.copy(), cls["failed"].copy()
    out: list[list[int]] = [[], [], [], []]
    for m, s, e, c in zip(minute, session, endpoint, count, strict=True):
        times = rng.uniform(0, 60) + rng.uniform(*gap_seconds) * np.arange(c)
        minutes = m + (times // 60).astype(np.int64)
        kept, per = np.unique(minutes[minutes < n], return_counts=True)
        for x, k in zip(kept.tolist(), per.tolist(), strict=True):
            out[0].append(x)
            out[1].append(int(s))
            out[2].append(int(e))
            out[3].append(k)
        moved = int(c) - int(per[kept == m].sum())
        requests[m, e] -= moved
        failed[m, e] -= moved
        later = kept != m
        np.add.at(requests[:, e], kept[later], per[later])
        np.add.at(failed[:, e], kept[later], per[later])
    events = tuple(np.asarray(v, dtype=np.int64) for v in out)
    classes = {**incident.classes, name: {**cls, "events": events, "failed": failed}}
    return dataclasses.replace(incident, requests=requests, classes=classes)


def add_outage(
    incident: SessionIncident,
    name: str,
    rng: np.random.Generator,
    width: tuple[int, int] = (5, 20),
) -> SessionIncident:
    """Return the incident with a deploy-style outage added as class ``name`` (truth unrelated).

    One REST endpoint breaks for ``width`` minutes (drawn inclusive; (1, 1) is a one-minute
    burst) starting at a random minute, whatever the audience does: each request to it fails
    with a probability drawn in 0.3-1.0, from whichever sessions are online. Failed requests
    are among the endpoint's requests (nothing is retried). Used by the verdict study's extra
    classes (docs/verdicts.md, "A capacity call needs a threshold in the data").
    """
    n = incident.n_minutes
    ep = int(rng.integers(0, len(REST_ENDPOINTS)))
    w = int(rng.integers(width[0], width[1] + 1))
    start = int(rng.integers(0, n - w + 1))
    share = rng.uniform(0.3, 1.0)
    out: list[list[int]] = [[], [], [], []]
    failed = np.zeros((n, len(ENDPOINTS)), dtype=np.int64)
    for t in range(start, start + w):
        online = incident.active_sessions[t]
        k = int(rng.binomial(int(incident.requests[t, ep]), share))
        if k == 0 or len(online) == 0:
            continue
        who, cnt = np.unique(rng.choice(online, k), return_counts=True)
        out[0] += [t] * len(who)
        out[1] += who.tolist()
        out[2] += [ep] * len(who)
        out[3] += cnt.tolist()
        failed[t, ep] = k
    events = tuple(np.asarray(v, dtype=np.int64) for v in out)
    cls = {"events": events, "failed": failed, "home": ep, "realtime": False}
    truth = {
        **incident.truth,
        "classes": {
            **incident.truth["classes"],
            name: {"verdict": "unrelated", "start": start, "width": w, "share": share},
        },
    }
    return dataclasses.replace(incident, classes={**incident.classes, name: cls}, truth=truth)
