"""The causal model, one second at a time: audience, monitor samples, sessions, errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.exceptions import ParameterError
from analysis.simulate.incident.parameters import (
    DRIVERS,
    ERROR_KINDS,
    ErrorProcess,
    IncidentParams,
    WebinarSpec,
)
from analysis.simulate.records import (
    new_uuid4,
)


@dataclass(frozen=True)
class Session:
    """One presence session: a tab, device or reconnect of one user on one webinar."""

    webinar: int
    user: int
    joined: float
    left: float | None
    first_of_user: bool


@dataclass(frozen=True)
class ErrorEvent:
    """One realised error: class, time (seconds from window start), webinar and user index."""

    kind: str
    t: float
    webinar: int
    user: int


@dataclass(frozen=True)
class SimulatedIncident:
    """The simulated incident before serialisation (times in seconds from window start)."""

    params: IncidentParams
    users: tuple[tuple[str, ...], ...]
    samples: tuple[tuple[tuple[float, int], ...], ...]
    sessions: tuple[Session, ...]
    connections: np.ndarray
    audience: np.ndarray
    up: np.ndarray
    errors: tuple[ErrorEvent, ...]
    registered_at: tuple[dict, ...] = field(default_factory=tuple)


def _rng(params: IncidentParams, stream: int) -> np.random.Generator:
    # One independent stream per component: changing one part leaves the others' draws alone.
    return np.random.default_rng([params.seed, stream])


def _interp(knots: tuple[tuple[float, float], ...], minutes: np.ndarray) -> np.ndarray:
    xs = np.array([k[0] for k in knots], dtype=float)
    ys = np.array([k[1] for k in knots], dtype=float)
    return np.interp(minutes, xs, ys)


def _up_mask(params: IncidentParams, n_seconds: int) -> np.ndarray:
    up = np.ones(n_seconds, dtype=bool)
    for start, end in params.outages:
        up[int(np.floor(start * 60)) : int(np.ceil(end * 60))] = False
    return up


def _validate(params: IncidentParams) -> None:
    if params.window_start.tzinfo is None:
        raise ParameterError("window_start: expected a tz-aware UTC datetime, found naive")
    for err in params.errors:
        if err.kind not in ERROR_KINDS:
            raise ParameterError(f"errors.kind: expected one of {ERROR_KINDS}, found {err.kind!r}")
        if err.driver not in DRIVERS:
            raise ParameterError(f"errors.driver: expected one of {DRIVERS}, found {err.driver!r}")
        if err.link not in ("load", "none"):
            raise ParameterError(f"errors.link: expected 'load' or 'none', found {err.link!r}")
        if err.count is None and err.rate < 0:
            raise ParameterError(f"errors.rate of {err.kind}: expected >= 0, found {err.rate}")
    for web in params.webinars:
        if web.buckets is not None:
            expected = params.window_minutes // params.bucket_minutes
            if len(web.buckets) != expected:
                raise ParameterError(
                    f"webinar {web.id} buckets: expected {expected} rows, found {len(web.buckets)}"
                )
        if not 0 <= web.walk_ins <= min(web.users, web.registrations):
            raise ParameterError(
                f"webinar {web.id} walk_ins: expected 0..min(users, registrations), "
                f"found {web.walk_ins}"
            )


def _sample_times(
    params: IncidentParams, web: WebinarSpec, up: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Monitor sample times (seconds, fractional part in [0.6, 1)) for one webinar."""
    n_seconds = up.size
    times: list[float] = []
    if web.buckets is not None:
        width = params.bucket_minutes * 60
        for b, target in enumerate(web.buckets):
            lo, hi = b * width, (b + 1) * width
            seconds = np.arange(lo, hi)
            allowed = seconds[up[lo:hi]]
            # Up stretches are sampled on a jittered grid; a bucket wholly down gets its few
            # samples at random moments (the monitor's brief reconnections).
            if allowed.size >= target.samples * 4:
                a, z = float(allowed[0]), float(allowed[-1] + 1)
                step = (z - a) / target.samples
                picks = (
                    a + (np.arange(target.samples) + rng.uniform(0.2, 0.8, target.samples)) * step
                )
                picks = np.floor(picks)
            else:
                picks = np.sort(rng.choice(seconds, size=target.samples, replace=False))
            times.extend(float(s) for s in picks)
    else:
        first, last = web.sample_span or (0.0, params.window_minutes)
        t = first * 60 + rng.uniform(0, params.sample_every_s)
        while t < min(last * 60, n_seconds):
            s = int(t)
            if up[s] or rng.random() < 0.05:
                times.append(float(s))
            t += params.sample_every_s * rng.uniform(0.7, 1.3)
    secs = np.array(sorted(set(times)), dtype=float)
    return secs + rng.uniform(0.6, 0.99, secs.size)


def _sample_values(
    params: IncidentParams, web: WebinarSpec, times: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Viewer counts at the sample times: shape plus noise, bucket extremes pinned if given."""
    base = _interp(web.shape, times / 60.0)
    noisy = base * (1.0 + params.sample_noise * rng.standard_normal(times.size))
    if web.buckets is None:
        return np.maximum(np.rint(noisy), 0).astype(int)
    values = np.empty(times.size, dtype=int)
    width = params.bucket_minutes * 60
    index = (times // width).astype(int)
    for b, target in enumerate(web.buckets):
        sel = np.flatnonzero(index == b)
        if sel.size != target.samples:
            raise ParameterError(
                f"webinar {web.id} bucket {b}: expected {target.samples} samples, "
                f"found {sel.size} (outages leave too little room)"
            )
        raw = noisy[sel]
        if target.max == target.min:
            values[sel] = target.min
            continue
        if sel.size == 1:
            raise ParameterError(
                f"webinar {web.id} bucket {b}: one sample cannot have max {target.max} "
                f"and min {target.min}"
            )
        lo, hi = raw.min(), raw.max()
        scaled = target.min + (raw - lo) / max(hi - lo, 1e-9) * (target.max - target.min)
        values[sel] = np.clip(np.rint(scaled), target.min, target.max).astype(int)
        values[sel[np.argmin(raw)]] = target.min
        values[sel[np.argmax(raw)]] = target.max
    if web.peak_minute is not None:
        at = int(times[np.argmax(values)] // 60)
        if at != web.peak_minute:
            raise ParameterError(
                f"webinar {web.id}: expected the peak in minute {web.peak_minute}, "
                f"found it in minute {at}; adjust the shape knots or the seed"
            )
    return values


def _target_path(
    web: WebinarSpec, times: np.ndarray, values: np.ndarray, n_seconds: int, rng
) -> np.ndarray:
    """Open sessions per second: through every sample exactly, a noisy bridge in between."""
    seconds = np.arange(n_seconds, dtype=float)
    node_s = np.floor(times)
    # Outside the sampled span the presence shape holds (e.g. a test webinar starting late).
    before = [(s, v) for s, v in zip(seconds, _interp(web.shape, seconds / 60), strict=True)]
    nodes = {int(s): float(v) for s, v in before if not node_s[0] <= s <= node_s[-1]}
    for s, v in zip(node_s, values, strict=True):
        nodes[int(s)] = float(v)
    xs = np.array(sorted(nodes), dtype=float)
    ys = np.array([nodes[int(x)] for x in xs])
    path = np.interp(seconds, xs, ys)
    # Brownian bridge between consecutive samples: realistic wiggle, zero at every sample.
    noise = np.zeros(n_seconds)
    for a, b in zip(node_s[:-1].astype(int), node_s[1:].astype(int), strict=True):
        if b - a < 3:
            continue
        walk = np.cumsum(rng.standard_normal(b - a + 1)) * 0.35
        walk -= walk[0] + (walk[-1] - walk[0]) * np.linspace(0, 1, b - a + 1)
        noise[a : b + 1] = walk * np.sqrt(max(path[a], 1) / 100)
    target = np.maximum(np.rint(path + noise), 0).astype(int)
    target[node_s.astype(int)] = values
    return target


def _simulate_sessions(
    params: IncidentParams,
    w: int,
    web: WebinarSpec,
    target: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[Session], list[np.ndarray]]:
    """Births and deaths of presence sessions following ``target``; active users per second."""
    n_seconds = target.size
    weights = rng.gamma(1.5, 1.0, web.users)
    weights /= weights.sum()
    unseen = list(rng.permutation(web.users))
    seen: set[int] = set()
    reconnect: list[int] = []
    active: list[list] = []  # [user, joined, first_of_user]
    done: list[Session] = []
    snapshots: list[np.ndarray] = []
    lifetime = params.session_lifetime_min * 60

    def pick_user() -> int:
        if unseen:
            return int(unseen.pop())
        if reconnect and rng.random() < 0.9:
            return reconnect.pop(0)
        return int(rng.choice(web.users, p=weights))

    def birth(t: float) -> None:
        user = pick_user()
        active.append([user, t, user not in seen])
        seen.add(user)

    def death(t: float) -> None:
        k = int(rng.integers(len(active)))
        user, joined, first = active.pop(k)
        done.append(Session(w, user, joined, t, first))
        if rng.random() < params.reconnect_share:
            reconnect.append(user)

    for _ in range(int(target[0])):
        birth(-float(rng.uniform(60, 1800)))
    for s in range(n_seconds):
        churn = rng.poisson(len(active) / lifetime) if active else 0
        change = int(target[s]) - len(active)
        n_death = churn + max(-change, 0)
        n_birth = churn + max(change, 0)
        offsets = np.sort(rng.uniform(0.0, 0.5, n_death + n_birth))
        # Deaths first, then births, all inside [s, s + 0.5): a sample at s + 0.6 sees target[s].
        for off in offsets[:n_death]:
            death(s + float(off))
        for off in offsets[n_death:]:
            birth(s + float(off))
        snapshots.append(np.array([a[0] for a in active], dtype=int))
    if unseen:
        raise ParameterError(
            f"webinar {web.id}: expected {web.users} users among its sessions, only "
            f"{web.users - len(unseen)} got one; raise the shape or the turnover"
        )
    ghosts = set(rng.choice(len(active), size=min(web.ghost_sessions, len(active)), replace=False))
    for k, (user, joined, first) in enumerate(active):
        left = None if k in ghosts else n_seconds + float(rng.uniform(5, 600))
        done.append(Session(w, user, joined, left, first))
    done.sort(key=lambda x: (x.joined, x.user))
    return done, snapshots


def _draw_seconds(
    rng: np.random.Generator,
    intensity: np.ndarray,
    count: int | None,
    rate: float,
    what: str,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    """Seconds of ``count`` events (or Poisson with mean ``rate * sum(intensity)``).

    Times follow ``intensity``, or ``spread`` when given: a null incident keeps the size the
    load would give but places the events without regard to it.
    """
    total = float(intensity.sum())
    n = int(rng.poisson(rate * total)) if count is None else count
    if n == 0:
        return np.array([], dtype=int)
    where = intensity if spread is None else spread
    if float(where.sum()) <= 0:
        raise ParameterError(f"{what}: expected a driver that is positive somewhere, found none")
    return np.sort(rng.choice(where.size, size=n, p=where / where.sum()))


def simulate(params: IncidentParams) -> SimulatedIncident:
    """Run the causal model: samples, sessions, connections and errors, all seeded."""
    _validate(params)
    n_seconds = params.window_minutes * 60
    up = _up_mask(params, n_seconds)
    minutes = np.arange(n_seconds) / 60.0
    users, samples, sessions, snapshots_all, audience = [], [], [], [], np.zeros(n_seconds)
    id_rng = _rng(params, 1)
    for w, web in enumerate(params.webinars):
        rng = _rng(params, 10 + w)
        users.append(tuple(new_uuid4(id_rng) for _ in range(web.users)))
        times = _sample_times(params, web, up, rng)
        values = _sample_values(params, web, times, rng)
        target = _target_path(web, times, values, n_seconds, rng)
        sess, snaps = _simulate_sessions(params, w, web, target, rng)
        samples.append(tuple((float(t), int(v)) for t, v in zip(times, values, strict=True)))
        sessions.extend(sess)
        snapshots_all.append(snaps)
        audience += _interp(web.audience or web.shape, minutes)

    open_sessions = np.zeros(n_seconds, dtype=int)
    for snaps in snapshots_all:
        open_sessions += np.array([len(x) for x in snaps])
    connections = open_sessions + params.monitor_sockets

    upgrade_s = n_seconds if params.upgrade_at_min is None else int(params.upgrade_at_min * 60)
    after = np.arange(n_seconds) >= upgrade_s
    rt_limit = np.where(after, params.realtime_limit_after, params.realtime_limit)
    db_limit = np.where(after, params.db_max_connections_after, params.db_max_connections)
    # Connections as the 5-second billing tick sees them (the counter Realtime enforces).
    tick_conn = connections[(np.arange(n_seconds) // 5) * 5]
    db_used = params.db_base_connections + audience / params.tabs_per_db_connection

    births = [x for x in sessions if 0 <= x.joined < n_seconds]
    regs = _registration_times(params, sessions, id_rng)
    rng = _rng(params, 3)
    events: list[ErrorEvent] = []
    for err in params.errors:
        if err.driver == "session_start":
            events.extend(_session_errors(params, err, births, regs, n_seconds, rng))
            continue
        if err.driver == "realtime_excess":
            excess = np.maximum(tick_conn - rt_limit, 0).astype(float)
        else:
            excess = np.maximum(db_used - db_limit, 0.0)
        lag = int(round(err.lag_s))
        driver = np.zeros(n_seconds)
        if lag < n_seconds:
            driver[lag:] = excess[: n_seconds - lag]
        driver = driver * up  # nothing is connected while Realtime is down
        spread = up.astype(float) if err.link == "none" else None
        for s in _draw_seconds(rng, driver, err.count, err.rate, err.kind, spread):
            # After the tick at s + 0.55 so the logged connection count precedes the event.
            events.append(ErrorEvent(err.kind, float(s) + rng.uniform(0.56, 0.99), -1, -1))
    events.sort(key=lambda e: (e.t, e.kind))
    return SimulatedIncident(
        params=params,
        users=tuple(users),
        samples=tuple(samples),
        sessions=tuple(sessions),
        connections=connections,
        audience=audience,
        up=up,
        errors=tuple(events),
        registered_at=tuple(regs),
    )


def _registration_times(
    params: IncidentParams, sessions: list[Session], rng: np.random.Generator
) -> list[dict]:
    """Per webinar: user index -> registration time (s); walk-ins register at first session."""
    out = []
    for w, web in enumerate(params.webinars):
        firsts = {}
        for x in sessions:
            if x.webinar == w and x.user not in firsts:
                firsts[x.user] = x.joined
        viewers = sorted(firsts, key=lambda u: (firsts[u], u))
        in_window = [u for u in viewers if 0 <= firsts[u] < params.window_minutes * 60]
        walk = set(in_window[-web.walk_ins :]) if web.walk_ins else set()
        regs: dict[int, float] = {}
        registered_viewers = [u for u in viewers if u not in walk]
        room = web.registrations - len(walk)
        for u in registered_viewers[:room]:
            regs[u] = -float(rng.uniform(3_600, 10 * 86_400))
        for u in walk:
            regs[u] = firsts[u] + 1.5
        # No-shows: registered people who never opened the webinar (index >= users).
        for k in range(web.registrations - len(regs)):
            regs[web.users + k] = -float(rng.uniform(3_600, 10 * 86_400))
        out.append(regs)
    return out


def _session_errors(
    params: IncidentParams,
    err: ErrorProcess,
    births: list[Session],
    regs: list[dict],
    n_seconds: int,
    rng: np.random.Generator,
) -> list[ErrorEvent]:
    if err.kind == "registrations_pkey":
        # Only someone already registered can hit the primary key.
        pool = [b for b in births if regs[b.webinar].get(b.user, np.inf) < b.joined]
    else:
        pool = list(births)
    # Only starts whose error still falls inside the window, so an exact count stays exact.
    pool = [b for b in pool if b.joined + err.lag_s + 2.5 < n_seconds]
    if not pool:
        if err.count in (None, 0):
            return []
        raise ParameterError(f"{err.kind}: expected session starts to attach errors to, found none")
    n = int(rng.binomial(len(pool), min(err.rate, 1.0))) if err.count is None else err.count
    chosen = rng.choice(len(pool), size=n, replace=n > len(pool))
    out = []
    for k in np.sort(chosen):
        b = pool[int(k)]
        if err.link == "none":
            t = float(rng.uniform(0, n_seconds - 1))
        else:
            t = b.joined + err.lag_s + float(rng.uniform(0.3, 2.5))
        if 0 <= t < n_seconds:
            out.append(ErrorEvent(err.kind, t, b.webinar, b.user))
    return out
