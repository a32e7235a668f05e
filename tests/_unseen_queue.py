"""A fourth independent writer of Supabase incidents: every request queues for a pool connection.

No import from ``analysis``; nothing shared with ``analysis.simulate``,
``tests/unseen_incidents.py``, ``tests/_unseen_qa.py`` or ``tests/_unseen_mech.py``. Written from
docs/contract.md and the shapes Supabase exports. Where the other writers decide from a
threshold which requests fail, here no threshold is written down: every viewer's client polls
its endpoints on its own clock, every REST request waits in one FIFO queue for one of the
``pool`` connections PostgREST holds, and what fails follows from the queue:

- a request that waits longer than PostgREST's acquisition timeout (10 s) is answered 504
  (PGRST003) and leaves no Postgres line;
- a CPU-heavy RPC runs slower the more connections are busy when it starts (``busy / cores``);
  past the role's ``statement_timeout`` it is cancelled (57014, answered 500);
- latency (``origin_time``) is the wait plus the hold, so it rises before anything fails.

The capacity threshold is emergent; its truth is the audience at which the offered work
reaches the pool: ``pool / W`` where ``W`` is the connection-seconds one viewer asks for per
second with the pool full (heavy holds stretched by ``pool / cores``, capped by the timeout),
averaged by a fixed-seed Monte Carlo draw (:func:`saturation`).

Beside the queue, mechanisms whose truth is known: a flat client bug (one client version's
requests to one endpoint always fail, 42703), a cron job failing every few minutes (42501,
load-independent), a PostgREST restart (a deploy: every REST request of 45 s answered 503),
a Storage outage (503 on slide downloads for a stretch), Auth's sign-in rate limit hit by a
walk-in crowd (429 driven by the join *rate*, not the audience), Realtime's concurrent-user
limit (``ConnectionRateLimitReached``, a refused client retrying every ~10 s) and a reconnect
storm after a Realtime node restart (``ClientJoinRateLimitReached`` for a minute).

``python tests/_unseen_queue.py OUT [case ...]`` writes cases under ``OUT/<name>`` and prints
``<dir> <webinar id of the report>`` per case.
"""

from __future__ import annotations

import bisect
import csv
import functools
import gzip
import hashlib
import heapq
import io
import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ACQUIRE_TIMEOUT_S = 10.0  # PostgREST's db-pool-acquisition-timeout default
WEB_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
APP_UA = "Dart/3.5 (dart:io)"
WEB_CLIENT = "supabase-js-web/2.47.10"


@dataclass(frozen=True)
class Route:
    """One endpoint a viewer's client calls on its own clock."""

    method: str
    path: str
    search: str  # with '?', ``{w}`` the webinar id, ``{u}`` the user id
    every_s: float  # mean seconds between two calls (0: once, at join)
    hold_ms: float  # median connection hold (lognormal)
    sigma: float = 0.5
    heavy: bool = False  # CPU-bound: slowed by busy / cores, may hit statement_timeout


ROUTES = (
    Route("GET", "/rest/v1/webinars", "?select=*&id=eq.{w}", 0, 4),
    Route("GET", "/rest/v1/profiles", "?select=display_name&id=eq.{u}", 0, 3),
    Route("GET", "/rest/v1/questions", "?select=*&webinar_id=eq.{w}&order=created_at.desc", 20, 30),
    Route("POST", "/rest/v1/rpc/rank_questions", "", 120, 450, 0.7, heavy=True),
    Route("POST", "/rest/v1/reactions", "?columns=webinar_id,emoji_code", 90, 12),
)


@dataclass(frozen=True)
class Webinar:
    title: str
    start_min: float  # minutes after the window's start
    end_min: float
    peak: int
    shape: str  # ramp | plateau | bell | tiny


@dataclass(frozen=True)
class Case:
    name: str
    start: datetime  # window start, UTC
    minutes: int
    display_tz: str
    webinars: tuple[Webinar, ...]
    seed: int
    sources: tuple[str, ...] = ("edge", "postgres", "realtime")
    pool: int = 0  # PostgREST pool connections; 0: the queue never binds
    cores: int = 2
    statement_timeout_s: float = 8.0
    app_share: float = 0.25  # share of sessions on the mobile app (the flat bug's client)
    flat_bug: bool = False  # the app's reactions POST names a dropped column: 42703
    cron_every: int = 0  # minutes between a pg_cron job's failures (42501); 0: none
    deploy_at: float | None = None  # window minute PostgREST restarts (45 s of 503)
    storage_outage: tuple[float, float] | None = None  # window minutes of Storage 503s
    signin_limit: int = 0  # Auth sign-ins per rolling minute before 429; 0: none
    rt_limit: int = 0  # Realtime concurrent users; 0: never binds (billing limit 10000)
    rt_restart_at: float | None = None  # window minute a Realtime node restarts
    rt_join_per_s: int = 25  # tenant joins per second before ClientJoinRateLimitReached
    deadlocks: int = 0  # 40P01 at random minutes (load-independent)
    double_submits: int = 0  # 23505 registrations_pkey at random minutes
    poll_scale: float = 1.0  # multiplies every route's interval (big audiences poll less)
    truth: dict = field(default_factory=dict)  # class key -> {"expect": {...}, "k", "lag"}


# -- the simulation ----------------------------------------------------------------------


@dataclass
class Session:
    sid: str
    user: str
    webinar: int
    joined: float  # seconds after the window start
    left: float  # seconds; may be past the window (still there)
    app: bool
    ip: str
    first: bool  # the user's first session (signs in)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def _curve(w: Webinar, minute: float) -> float:
    """Target audience of ``w`` at ``minute`` of the window (0 outside its time)."""
    if minute < w.start_min or minute >= w.end_min:
        return 0.0
    x = (minute - w.start_min) / max(w.end_min - w.start_min, 1)
    if w.shape == "ramp":  # steady climb to the peak at the end
        return w.peak * (0.08 + 0.92 * x)
    if w.shape == "plateau":  # fast walk-in, a long top, a slow leave
        return w.peak * min(1.0, x / 0.15, max(0.2, (1 - x) / 0.2))
    if w.shape == "rush":  # everyone arrives in the first four minutes
        return w.peak * min(1.0, 0.05 + (minute - w.start_min) / 4)
    if w.shape == "bell":
        return w.peak * math.exp(-(((x - 0.5) / 0.22) ** 2))
    return float(w.peak)  # tiny: a constant handful


def draw_sessions(case: Case, rng: random.Random) -> list[Session]:
    """Sessions following each webinar's curve in 10 s steps, with churn and reloads."""
    sessions: list[Session] = []
    for wi, w in enumerate(case.webinars):
        people = [_uuid(rng) for _ in range(int(w.peak * 1.6) + 3)]
        open_: list[Session] = []
        watching: set[str] = set()
        signed_in: set[str] = set()
        step = 10.0
        t = max(0.0, w.start_min * 60 - 60)
        end = min(case.minutes * 60.0, w.end_min * 60 + 60)
        while t < end:
            target = round(_curve(w, t / 60))
            # churn: 1 % of open sessions per step leave; a third reload into a new session
            for s in [s for s in open_ if rng.random() < 0.01]:
                s.left = t + rng.uniform(0, step)
                open_.remove(s)
                watching.discard(s.user)
                if rng.random() < 0.33 and len(open_) < target:
                    open_.append(_session(rng, s.user, wi, s.left + 1.5, case, False, s.ip))
                    watching.add(s.user)
                    sessions.append(open_[-1])
            while len(open_) < target:
                user = people[rng.randrange(len(people))]
                tries = 0
                while user in watching and tries < 20:
                    user, tries = people[rng.randrange(len(people))], tries + 1
                if user in watching:
                    user = _uuid(rng)
                first = user not in signed_in
                signed_in.add(user)
                watching.add(user)
                open_.append(_session(rng, user, wi, t + rng.uniform(0, step), case, first))
                sessions.append(open_[-1])
            while len(open_) > target:
                s = open_.pop(rng.randrange(len(open_)))
                watching.discard(s.user)
                s.left = t + rng.uniform(0, step)
            t += step
        for s in open_:
            s.left = w.end_min * 60 + rng.uniform(0, 50)
    return sessions


def _session(rng, user, wi, joined, case: Case, first, ip=None) -> Session:
    app = rng.random() < case.app_share
    if ip is None:
        ip = (
            f"198.51.100.{rng.randrange(1, 255)}"
            if rng.random() < 0.7
            else (f"2001:db8:{rng.randrange(1, 9999):x}::{rng.randrange(1, 9999):x}")
        )
    return Session(_uuid(rng), user, wi, joined, float("inf"), app, ip, first)


class Counter:
    """Intervals open at a time, by bisection (the monitor and billing samples ask often)."""

    def __init__(self, spans: list[tuple[float, float]]):
        self.starts = sorted(a for a, _ in spans)
        self.ends = sorted(b for _, b in spans)

    def at(self, t: float) -> int:
        return bisect.bisect_right(self.starts, t) - bisect.bisect_right(self.ends, t)


def saturation(case: Case) -> float:
    """The audience at which the offered work fills the pool (the truth of K).

    ``W`` = connection-seconds per viewer per second with every connection busy: heavy holds
    stretched by ``pool / cores`` and cut at the statement timeout. Fixed-seed Monte Carlo.
    """
    rng = random.Random(12345)
    work = 0.0
    for r in ROUTES:
        if not r.every_s:
            continue
        stretch = max(1.0, case.pool / case.cores) if r.heavy else 1.0
        draws = [
            min(
                r.hold_ms / 1000 * math.exp(rng.gauss(0, r.sigma)) * stretch,
                case.statement_timeout_s if r.heavy else 1e9,
            )
            for _ in range(20000)
        ]
        work += (sum(draws) / len(draws)) / (r.every_s * case.poll_scale)
    return case.pool / work


@dataclass
class World:
    case: Case
    webinar_ids: list[str]
    sessions: list[Session]
    edge: list[dict] = field(default_factory=list)
    pg: list[dict] = field(default_factory=list)
    rt: list[dict] = field(default_factory=list)
    samples: list[tuple[int, float, int]] = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # class key -> errors written


def _count(w: World, key: str) -> None:
    w.counts[key] = w.counts.get(key, 0) + 1


@functools.lru_cache(maxsize=2)
def world(name: str) -> World:
    """The simulated world of case ``name`` (kept: writing and truth share one draw)."""
    return simulate(CASES[name])


def simulate(case: Case) -> World:
    rng = random.Random(case.seed)
    ids = [_uuid(rng) for _ in case.webinars]
    sessions = draw_sessions(case, rng)
    w = World(case, ids, sessions)
    horizon = case.minutes * 60.0
    # every session's requests, on its own clock
    reqs: list[tuple[float, int, Session, Route]] = []
    n = 0
    for s in sessions:
        if s.joined >= horizon:
            continue
        end = min(s.left, horizon)
        w.edge.append(_req(w, rng, s, s.joined, "GET", "/auth/v1/user", "", 200, 18))
        _websocket(w, rng, s, s.joined + 0.4)
        for r in ROUTES:
            if not r.every_s:
                reqs.append((s.joined + rng.uniform(0.2, 1.5), n, s, r))
                n += 1
                continue
            every = r.every_s * case.poll_scale
            t = s.joined + rng.uniform(0, every)
            while t < end:
                reqs.append((t, n, s, r))
                n += 1
                t += every * rng.uniform(0.7, 1.3)
        t = s.joined + rng.uniform(1, 4)
        while t < end:
            _storage(w, rng, s, t)
            t += rng.uniform(240, 420) * case.poll_scale
    _signins(w, rng, [s for s in sessions if s.first and s.joined < horizon])
    reqs.sort(key=lambda x: (x[0], x[1]))
    _queue(w, rng, reqs)
    _background(w, rng)
    _realtime(w, rng)
    _monitor(w, rng)
    return w


def _queue(w: World, rng: random.Random, reqs) -> None:
    case = w.case
    pool = case.pool or 10_000
    free = [0.0] * min(pool, 10_000)
    heapq.heapify(free)
    big = not case.pool
    for t, _, s, r in reqs:
        search = r.search.replace("{w}", w.webinar_ids[s.webinar]).replace("{u}", s.user)
        if case.deploy_at is not None and case.deploy_at * 60 <= t < case.deploy_at * 60 + 45:
            w.edge.append(_req(w, rng, s, t, r.method, r.path, search, 503, 2))
            _count(w, "http:503:rest/*")
            continue
        hold = r.hold_ms / 1000 * math.exp(rng.gauss(0, r.sigma))
        if big:
            start = t
            busy = 0
        else:
            first = heapq.heappop(free)
            start = max(t, first)
            if start - t > ACQUIRE_TIMEOUT_S:
                heapq.heappush(free, first)  # never taken: the next in line gets it
                w.edge.append(
                    _req(w, rng, s, t, r.method, r.path, search, 504, ACQUIRE_TIMEOUT_S * 1000)
                )
                _count(w, "http:504:rest/*")
                continue
            busy = 1 + sum(1 for f in free if f > start)
        bug = case.flat_bug and s.app and r.path == "/rest/v1/reactions"
        if bug:
            hold = 0.002
        cancelled = False
        if r.heavy:
            hold *= max(1.0, busy / case.cores)
            if hold > case.statement_timeout_s:
                hold = case.statement_timeout_s
                cancelled = True
        if not big:
            heapq.heappush(free, start + hold)
        done = start + hold
        wait_ms = (start - t) * 1000
        if cancelled:
            w.edge.append(_req(w, rng, s, t, r.method, r.path, search, 500, wait_ms + hold * 1000))
            _pg(
                w,
                rng,
                done,
                "57014",
                "ERROR",
                "canceling statement due to statement timeout",
                "authenticator",
                "PostgREST 12.2.3",
                "SELECT",
                'SELECT "public"."rank_questions"($1)',
                None,
            )
            _count(w, "57014")
        elif bug:
            w.edge.append(_req(w, rng, s, t, r.method, r.path, search, 400, wait_ms + 2))
            _pg(
                w,
                rng,
                done,
                "42703",
                "ERROR",
                'column "emoji_code" of relation "reactions" does not exist',
                "authenticator",
                "PostgREST 12.2.3",
                "INSERT",
                'INSERT INTO "public"."reactions"("emoji_code", "webinar_id") SELECT ...',
                None,
            )
            _count(w, "42703")
        else:
            status = 201 if r.method == "POST" and "rpc" not in r.path else 200
            w.edge.append(
                _req(w, rng, s, t, r.method, r.path, search, status, wait_ms + hold * 1000)
            )


def _signins(w: World, rng: random.Random, first: list[Session]) -> None:
    """Each user's sign-in before their first session; past Auth's rolling per-minute limit
    the answer is 429 and the client retries 5-15 s later (at most three times)."""
    limit = w.case.signin_limit
    attempts = [(max(0.0, s.joined - rng.uniform(2, 8)), i, s, 0) for i, s in enumerate(first)]
    heapq.heapify(attempts)
    granted: list[float] = []
    while attempts:
        t, i, s, tries = heapq.heappop(attempts)
        recent = sum(1 for x in granted[-(limit or 1) * 2 :] if t - 60 < x <= t)
        if not limit or recent < limit:
            granted.append(t)
            w.edge.append(
                _req(w, rng, s, t, "POST", "/auth/v1/token", "?grant_type=password", 200, 90)
            )
            continue
        w.edge.append(_req(w, rng, s, t, "POST", "/auth/v1/token", "?grant_type=password", 429, 3))
        _count(w, "http:429:auth/*")
        if tries < 3:
            heapq.heappush(attempts, (t + rng.uniform(5, 15), i, s, tries + 1))


def _websocket(w: World, rng: random.Random, s: Session, t: float) -> None:
    w.edge.append(_req(w, rng, s, t, "GET", "/realtime/v1/websocket", "?vsn=1.0.0", 101, 40))


def _storage(w: World, rng: random.Random, s: Session, t: float) -> None:
    out = w.case.storage_outage
    path = f"/storage/v1/object/public/slides/{w.webinar_ids[s.webinar]}/deck.pdf"
    if out is not None and out[0] * 60 <= t < out[1] * 60:
        w.edge.append(_req(w, rng, s, t, "GET", path, "", 503, 30_000))
        _count(w, "http:503:storage/*")
    else:
        w.edge.append(_req(w, rng, s, t, "GET", path, "", 200, 60))


def _background(w: World, rng: random.Random) -> None:
    case = w.case
    horizon = case.minutes * 60
    if case.cron_every:
        t = rng.uniform(0, 60)
        while t < horizon:
            _pg(
                w,
                rng,
                t,
                "42501",
                "ERROR",
                "permission denied for table audit_log",
                "postgres",
                "pg_cron scheduler",
                "DELETE",
                "DELETE FROM audit_log WHERE created_at < now() - interval '30 days'",
                None,
            )
            _count(w, "42501")
            t += case.cron_every * 60
    for _ in range(case.deadlocks):
        t = rng.uniform(0, horizon)
        _pg(
            w,
            rng,
            t,
            "40P01",
            "ERROR",
            "deadlock detected",
            "authenticator",
            "PostgREST 12.2.3",
            "UPDATE",
            'UPDATE "public"."questions" SET "votes" = "votes" + 1 WHERE id = $1',
            "Process 4121 waits for ShareLock on transaction 918; blocked by process 4133.",
        )
        _count(w, "40P01")
    for _ in range(case.double_submits):
        t = rng.uniform(0, horizon)
        s = rng.choice(w.sessions)
        _pg(
            w,
            rng,
            t,
            "23505",
            "ERROR",
            'duplicate key value violates unique constraint "registrations_pkey"',
            "authenticator",
            "PostgREST 12.2.3",
            "INSERT",
            'INSERT INTO "public"."registrations" ...',
            f"Key (webinar_id, user_id)=({w.webinar_ids[s.webinar]}, {s.user}) already exists.",
        )
        _count(w, "23505:registrations_pkey")
        if "edge" in case.sources:
            w.edge.append(_req(w, rng, s, t - 0.004, "POST", "/rest/v1/registrations", "", 409, 6))


def _realtime(w: World, rng: random.Random) -> None:
    """Billing samples every 5 s; refusals at the user limit; a restart's reconnect storm."""
    case = w.case
    horizon = case.minutes * 60
    limit = case.rt_limit or 10_000
    # sockets in time order: at the limit a client is refused and retries with a backoff
    # (10 s doubling to 60 s) until a slot frees or its viewer leaves
    tries = [(s.joined, i, 0) for i, s in enumerate(w.sessions) if s.joined < horizon]
    heapq.heapify(tries)
    ends: list[float] = []
    admitted: list[tuple[float, float]] = []
    while tries:
        t, i, n = heapq.heappop(tries)
        s = w.sessions[i]
        if t >= min(s.left, horizon):
            continue
        while ends and ends[0] <= t:
            heapq.heappop(ends)
        if len(ends) < limit:
            heapq.heappush(ends, s.left)
            admitted.append((t, s.left))
            continue
        _rt(
            w,
            rng,
            t,
            "error",
            "ConnectionRateLimitReached: Too many connected users",
            "ConnectionRateLimitReached",
        )
        _count(w, "realtime:too_many_connections")
        heapq.heappush(tries, (t + min(60.0, 10.0 * 2**n) * rng.uniform(0.8, 1.2), i, n + 1))
    if case.rt_restart_at is not None:
        t0 = case.rt_restart_at * 60
        _rt(
            w,
            rng,
            t0,
            "error",
            "RealtimeNodeDisconnected: node realtime@10.0.3.17 disconnected",
            "RealtimeNodeDisconnected",
        )
        _count(w, "realtime:disconnect")
        per_second: dict[int, int] = {}
        for a, b in admitted:
            if not a <= t0 < b:
                continue
            t = t0 + rng.expovariate(1 / 6)
            for _ in range(6):
                sec = int(t)
                if per_second.get(sec, 0) < case.rt_join_per_s:
                    per_second[sec] = per_second.get(sec, 0) + 1
                    break
                _rt(
                    w,
                    rng,
                    t,
                    "error",
                    "ClientJoinRateLimitReached: Too many joins per second",
                    "ClientJoinRateLimitReached",
                )
                _count(w, "realtime:rate_limit")
                t += rng.uniform(1, 4)
    live = Counter(admitted)
    t = rng.uniform(0, 5)
    while t < horizon:
        n = live.at(t)
        _rt(
            w,
            rng,
            t,
            "info",
            "Billing metrics: [:realtime, :connections]",
            None,
            {"connected": n, "connected_cluster": n, "limit": limit},
        )
        t += 5


def _monitor(w: World, rng: random.Random) -> None:
    """The app's viewer-count monitor: every 8-16 s per live webinar, the open sessions."""
    for wi, web in enumerate(w.case.webinars):
        live = Counter([(s.joined, s.left) for s in w.sessions if s.webinar == wi])
        t = max(0.0, web.start_min * 60) + rng.uniform(0, 5)
        while t < min(web.end_min * 60, w.case.minutes * 60):
            w.samples.append((wi, t, live.at(t)))
            t += rng.uniform(8, 16)


# -- rows ----------------------------------------------------------------------------------


def _at(case: Case, t: float) -> datetime:
    return case.start + timedelta(milliseconds=round(t * 1000))


def _micros(dt: datetime) -> int:
    return int(dt.timestamp() * 1000) * 1000


def _ref(case: Case) -> str:
    return (
        hashlib.sha256(case.name.encode())
        .hexdigest()[:20]
        .translate(str.maketrans("0123456789", "abcdefghij"))
    )


def _req(w, rng, s: Session, t, method, path, search, status, origin_ms) -> dict:
    case = w.case
    ray = f"{rng.getrandbits(64):016x}"
    host = f"{_ref(case)}.supabase.co"
    ua = APP_UA if s.app else WEB_UA
    client = "supabase-flutter/2.5.6" if s.app else WEB_CLIENT
    # The gateway's worker logs after the response: its row's time is the answer's, the
    # request's arrival plus the origin time (a Postgres line falls just before it).
    url = f"https://{host}{path}{search}"
    return {
        "id": _uuid(rng),
        "timestamp": _micros(_at(case, t + origin_ms / 1000)),
        "event_message": f"{method} | {status} | {s.ip} | {ray} | {url} | {ua}",
        "identifier": _ref(case),
        "metadata": [
            {
                "request": [
                    {
                        "method": method,
                        "path": path,
                        "search": search or None,
                        "host": host,
                        "headers": [
                            {
                                "cf_connecting_ip": s.ip,
                                "cf_ray": ray,
                                "user_agent": ua,
                                "x_client_info": client,
                            }
                        ],
                        "sb": [{"auth_user": s.user}],
                    }
                ],
                "response": [{"status_code": status, "origin_time": round(origin_ms)}],
            }
        ],
    }


def _pg(w, rng, t, state, severity, message, role, app, tag, query, detail) -> None:
    if "postgres" not in w.case.sources:
        return
    at = _at(w.case, t)
    w.pg.append(
        {
            "id": _uuid(rng),
            "timestamp": _micros(at),
            "event_message": message,
            "identifier": _ref(w.case),
            "metadata": [
                {
                    "host": f"db-{_ref(w.case)}",
                    "parsed": [
                        {
                            "error_severity": severity,
                            "sql_state_code": state,
                            "user_name": role,
                            "application_name": app,
                            "command_tag": tag,
                            "query": query,
                            "detail": detail,
                            "hint": None,
                            "backend_type": "client backend",
                            "database_name": "postgres",
                            "process_id": rng.randrange(1000, 99999),
                            "timestamp": at.strftime("%Y-%m-%d %H:%M:%S.")
                            + f"{at.microsecond // 1000:03d} UTC",
                        }
                    ],
                }
            ],
        }
    )


def _rt(w, rng, t, level, message, code, measurements=None) -> None:
    meta = {"external_id": _ref(w.case), "project": _ref(w.case), "level": level}
    if code:
        meta["error_code"] = code
    if measurements:
        meta["measurements"] = [measurements]
    w.rt.append(
        {
            "id": _uuid(rng),
            "timestamp": _micros(_at(w.case, t)),
            "event_message": message,
            "metadata": [meta],
        }
    )


def _gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def _pages(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["timestamp"], r["id"]))
    for i in range(0, max(len(rows), 1), 1000):
        body = json.dumps({"result": rows[i : i + 1000], "error": None}, separators=(",", ":"))
        (folder / f"page-{i // 1000 + 1:04d}.json.gz").write_bytes(_gz(body.encode()))


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _table(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(header)
    out.writerows(["" if v is None else v for v in row] for row in rows)
    path.write_bytes(buf.getvalue().encode())


def write_incident(dest: Path | str, name: str) -> Path:
    """Write case ``name`` under ``dest/name``; return the directory."""
    case = CASES[name]
    w = world(name)
    root = Path(dest) / name
    root.mkdir(parents=True, exist_ok=True)
    horizon = case.minutes * 60
    if "edge" in case.sources:
        _pages(root / "edge_logs", _inside(case, w.edge))
    if "postgres" in case.sources:
        _pages(root / "postgres_logs", _inside(case, w.pg))
    if "realtime" in case.sources:
        _pages(root / "realtime_logs", w.rt)
    end = case.start + timedelta(minutes=case.minutes)
    (root / "incident.json").write_text(
        json.dumps(
            {
                "name": case.name,
                "project_ref": _ref(case),
                "window_start": case.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "display_tz": case.display_tz,
                "flavour": "bigquery",
            },
            indent=2,
        )
        + "\n"
    )
    (root / "annotations.csv").write_bytes(b"time_utc,label,note\r\n")
    _table(
        root / "tables/webinars.csv",
        ["id", "title", "starts_at", "ends_at", "status", "created_at"],
        [
            [
                w.webinar_ids[i],
                web.title,
                _ts(_at(case, web.start_min * 60)),
                _ts(_at(case, web.end_min * 60)),
                "ended",
                _ts(case.start - timedelta(days=9, minutes=17 * i)),
            ]
            for i, web in enumerate(case.webinars)
        ],
    )
    users = sorted({(s.webinar, s.user) for s in w.sessions})
    rng = random.Random(case.seed + 1)
    _table(
        root / "tables/registrations.csv",
        ["webinar_id", "user_id", "created_at"],
        [
            [w.webinar_ids[wi], u, _ts(case.start - timedelta(hours=rng.uniform(1, 200)))]
            for wi, u in users
        ],
    )
    _table(
        root / "tables/webinar_live_presence.csv",
        ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"],
        [
            [
                _uuid(rng),
                w.webinar_ids[s.webinar],
                s.user,
                s.sid,
                _ts(_at(case, s.joined)),
                None if s.left > horizon + 3600 else _ts(_at(case, s.left)),
            ]
            for s in sorted(w.sessions, key=lambda s: (s.joined, s.sid))
            if s.joined < horizon
        ],
    )
    samples = sorted(w.samples, key=lambda x: x[1])
    _table(
        root / "tables/webinar_viewer_counts.csv",
        ["id", "webinar_id", "sampled_at", "viewer_count"],
        [[i + 1, w.webinar_ids[wi], _ts(_at(case, t)), n] for i, (wi, t, n) in enumerate(samples)],
    )
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    (root / "SHA256SUMS").write_text(
        "".join(
            f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n"
            for p in files
        )
    )
    return root


def truth(name: str) -> dict:
    """What the writer knows: webinar id, counts per class, and each class's truth."""
    case = CASES[name]
    w = world(name)
    classes = {}
    for key, t in case.truth.items():
        t = dict(t)
        if t.get("k") == "pool":
            t["k"] = round(saturation(case))
        t["count"] = w.counts.get(key, 0)
        classes[key] = t
    edge = len(_inside(case, w.edge)) if "edge" in case.sources else 0
    pg = len(_inside(case, w.pg)) if "postgres" in case.sources else 0
    rows = {
        "edge": len(w.edge),
        "pg": len(w.pg),
        "rt": len(w.rt),
        "edge_in_window": edge,
        "pg_in_window": pg,
    }
    return {
        "webinar_id": w.webinar_ids[0],
        "webinar_ids": w.webinar_ids,
        "classes": classes,
        "counts": dict(w.counts),
        "rows": rows,
    }


def _inside(case: Case, rows: list[dict]) -> list[dict]:
    """The rows an export of the window holds (the gateway logs some answers past its end)."""
    lo = _micros(case.start)
    hi = _micros(case.start + timedelta(minutes=case.minutes))
    return [r for r in rows if lo <= r["timestamp"] < hi]


# -- the cases -----------------------------------------------------------------------------

#: A queue's failures: capacity at the pool's saturation. The lag is how long the queue takes
#: to fill past the timeout once the load passes the saturation: minutes on a slow ramp.
CAP = {"expect": {"capacity"}, "k": "pool", "lag": (0, 3)}
#: Statement timeouts start below saturation (a heavy query slows with every busy connection),
#: so their onset is soft: capacity, with no threshold to hold K to.
SOFT = {"expect": {"capacity"}}
TRAFFIC = {"expect": {"traffic"}}
FLAT_TIME = {"expect": {"unrelated", "undetermined"}}  # load-independent
NOT_CAP = {"expect": {"unrelated", "undetermined", "traffic", "insufficient"}}
FEW = {"expect": {"unrelated", "undetermined", "insufficient"}}
#: A window under the statistics' minimum: no verdict at all is the honest answer.
UNTESTED = {"expect": {None}}

CASES: dict[str, Case] = {
    # Asia/Kolkata (+05:30): a ramp through the pool's saturation; a flat app bug; a cron job.
    "kolkata_pool": Case(
        "kolkata_pool",
        datetime(2026, 4, 14, 8, 30, tzinfo=UTC),
        60,
        "Asia/Kolkata",
        (Webinar("Quarterly townhall - Q&A", 0, 60, 720, "ramp"),),
        seed=11,
        pool=12,
        flat_bug=True,
        cron_every=4,
        truth={"http:504:rest/*": CAP, "57014": SOFT, "42703": TRAFFIC, "42501": FLAT_TIME},
    ),
    # America/New_York on its spring-forward day, five hours, two webinars that overlap; a
    # Realtime user limit on the project's load; a walk-in crowd over Auth's sign-in limit; a
    # Storage outage of twelve minutes.
    "newyork_dst": Case(
        "newyork_dst",
        datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
        300,
        "America/New_York",
        (
            Webinar("Night shift briefing", 20, 170, 260, "bell"),
            Webinar("Morning product launch", 120, 290, 380, "rush"),
        ),
        seed=23,
        rt_limit=330,
        signin_limit=40,
        storage_outage=(200.0, 212.0),
        poll_scale=3.0,
        truth={
            "realtime:too_many_connections": {"expect": {"capacity"}, "k": 330, "lag": (0, 1)},
            "http:429:auth/*": NOT_CAP,
            "http:503:storage/*": FLAT_TIME,
        },
    ),
    # The same spring-forward night in ninety minutes (the fast twin of ``newyork_dst``): the
    # launch webinar ends ten minutes before the window does, its monitor with it.
    "dst_two_rooms": Case(
        "dst_two_rooms",
        datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
        90,
        "America/New_York",
        (
            Webinar("Night shift briefing", 0, 60, 150, "bell"),
            Webinar("Morning product launch", 20, 80, 260, "rush"),
        ),
        seed=29,
        rt_limit=220,
        poll_scale=4.0,
        truth={"realtime:too_many_connections": {"expect": {"capacity"}, "k": 220, "lag": (0, 1)}},
    ),
    # A speakers' room of three reported beside a community call of 900 (the project's load);
    # Pacific/Marquesas (-09:30); a Realtime node restarts at minute 31 and every client
    # reconnects at once into the tenant's join rate; the app's flat bug with a pool that
    # never fills (nothing masks it).
    "storm_hour": Case(
        "storm_hour",
        datetime(2026, 5, 19, 19, 30, tzinfo=UTC),
        60,
        "Pacific/Marquesas",
        (
            Webinar("Speaker green room", 5, 55, 3, "tiny"),
            Webinar("Community call", 0, 60, 900, "bell"),
        ),
        seed=61,
        flat_bug=True,
        rt_restart_at=31.2,
        rt_join_per_s=20,
        poll_scale=3.0,
        truth={"42703": TRAFFIC, "realtime:rate_limit": FEW, "realtime:disconnect": FEW},
    ),
    # Only Realtime's logs (and the tables), fifteen minutes, Australia/Adelaide (+10:30):
    # a node restart's reconnect storm meets the tenant's join rate.
    "realtime_only": Case(
        "realtime_only",
        datetime(2026, 6, 2, 23, 45, tzinfo=UTC),
        15,
        "Australia/Adelaide",
        (Webinar("Ops standup", 0, 15, 240, "tiny"),),
        seed=37,
        sources=("realtime",),
        rt_restart_at=7.3,
        rt_join_per_s=12,
        truth={"realtime:rate_limit": UNTESTED, "realtime:disconnect": UNTESTED},
    ),
    # Only Postgres' logs, a webinar of three, St. John's (-02:30 in summer): a few deadlocks
    # and double submits.
    "postgres_only_three": Case(
        "postgres_only_three",
        datetime(2026, 7, 21, 14, 0, tzinfo=UTC),
        60,
        "America/St_Johns",
        (Webinar("Board prep (3 people)", 0, 60, 3, "tiny"),),
        seed=41,
        sources=("postgres",),
        deadlocks=4,
        double_submits=3,
        truth={"40P01": FEW, "23505:registrations_pkey": FEW},
    ),
    # 2,000 viewers on a plateau past the pool's saturation; a deploy restarts PostgREST
    # mid-window; the flat app bug.
    "big_plateau": Case(
        "big_plateau",
        datetime(2026, 9, 30, 1, 0, tzinfo=UTC),
        60,
        "Asia/Kolkata",
        (Webinar("All-hands 2,000", 0, 60, 2000, "plateau"),),
        seed=53,
        pool=14,
        flat_bug=True,
        deploy_at=33.0,
        poll_scale=3.0,
        truth={
            "http:504:rest/*": CAP,
            "57014": SOFT,
            "42703": TRAFFIC,
            "http:503:rest/*": FLAT_TIME,
        },
    ),
}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for name in sys.argv[2:] or list(CASES):
        d = write_incident(out, name)
        print(d, truth(name)["webinar_id"])
