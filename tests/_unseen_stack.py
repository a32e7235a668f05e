"""A sixth independent writer of Supabase incidents: errors from the layers behind the gateway.

No import from ``analysis``; nothing shared with ``analysis.simulate``,
``tests/unseen_incidents.py``, ``tests/_unseen_qa.py``, ``tests/_unseen_mech.py``,
``tests/_unseen_queue.py`` or ``tests/_unseen_agents.py``. Written from docs/contract.md and the
shapes Supabase exports.

The audience is a sum of *waves* (a crowd told to come at one time: arrivals Gamma-spread after
the call, stays log-normal) over a trickle of passers-by, so a window can hold two spikes and a
quiet night between them. Every viewer's requests are drawn in continuous time, per endpoint,
as a Poisson process over the seconds the viewer is present; the true audience is known to the
second. Failures come from components the package never reads directly:

- ``pooler``: an Edge Function reaches Postgres through Supavisor, whose client limit is met
  once the (lagged) audience passes K: the share of calls over the limit is refused
  (``ClientHandler: Max client connections reached`` in ``supavisor_logs``, the function's
  ``console.error`` in ``function_logs``, every invocation in ``function_edge_logs``) and the
  gateway logs a 500 on ``/functions/v1/...``. No Postgres line: the class is an HTTP one.
- ``slow_query``: an RPC whose latency is log-normal with a median that grows exponentially
  with the audience; past the role's ``statement_timeout`` Postgres cancels it (57014, 500).
  No connection limit anywhere: capacity by latency, so K is a band (where 0.5 % to 5 % of
  calls time out), and ``origin_time`` carries the latency of every call.
- ``uploads``: the host asks everyone to upload a worksheet at two moments; Storage answers
  503 to uploads beyond its per-second rate. Driven by the prompts, not by the audience.
- ``client_bug``: one client build's requests to one endpoint always fail (42703, 42501, 22P02):
  a flat rate per request.
- ``cron``: a ``pg_cron`` job failing every 15 minutes (23514 on a check constraint).
- ``rt_users``: Realtime's concurrent-user limit; refused sockets retry every ~12 s.
- ``bot``: one address hammering Auth's token endpoint in bursts at random minutes (429).
- ``webhook``: an outside service calling an Edge Function at a steady rate, failing in two
  stretches of its own (500): nothing to do with the audience.
- ``background``: a worker's lock timeouts (55P03) at an over-dispersed rate.
- ``transform``: Storage's image renderer timing out (504) over its concurrency, at 2,000
  viewers.

Load shapes the other writers never made: a monitor that samples every five minutes with two
samples missing and no presence table; a load known only from presence rows written by mobile
devices whose clocks are minutes off (beside the app's own event table, client-timed too;
``skewed_clocks``: ten minutes off); a churning audience (stays of minutes) in a null hour; logs
only from the Management API's analytics endpoint beside the webinar's row (no viewer table:
Realtime's billing count is the only trace of the audience); three hours with two spikes and a
quiet night between them; and a 2,000-viewer crowd arriving in five minutes (the last two and
``skewed_clocks`` are ``slow``).

``python tests/_unseen_stack.py OUT [case ...]`` writes cases under ``OUT/<name>`` and prints
``<dir> <webinar id>`` per case; ``--truth`` prints each case's truth as JSON.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import heapq
import io
import json
import math
import sys
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

PAGE_ROWS = 1000
#: Statuses PostgREST answers for the SQLSTATEs written here.
HTTP_OF = {"42703": 400, "42501": 403, "22P02": 400, "57014": 500}


@dataclass(frozen=True)
class Wave:
    """A crowd told to come at ``at`` minutes: ``n`` viewers, arrivals spread, stays log-normal."""

    at: float
    n: int
    spread: float
    stay: float


@dataclass(frozen=True)
class Case:
    """One incident: its window, audience, monitor, endpoints and failure mechanisms."""

    name: str
    start: str
    minutes: int
    display_tz: str
    seed: int
    waves: tuple[Wave, ...]
    #: passers-by: arrivals per minute and their mean stay (minutes)
    trickle: tuple[float, float]
    #: ``fine`` (every 10 s, with presence), ``snapshots`` (every 5 min, two missing, no
    #: presence), ``skewed`` (presence only, device clocks off), ``none``
    monitor: str
    #: endpoint -> (method, requests per viewer-minute)
    polls: dict
    mechanisms: dict
    title: str
    stay_sigma: float = 0.5
    extra: dict = field(default_factory=dict)


def _ids(case: str, what: str) -> str:
    digest = hashlib.sha256(f"stack/{case}/{what}".encode()).hexdigest()
    return str(uuid.UUID(digest[:32], version=4))


#: Phones carry the presence rows; skewed_clocks is the same launch with their clocks far off.
_SKEWED_PRESENCE = Case(
    name="skewed_presence",
    start="2026-06-18T09:00:00Z",
    minutes=60,
    display_tz="Australia/Sydney",
    seed=63,
    waves=(Wave(3, 280, 9, 42),),
    trickle=(0.4, 12),
    monitor="skewed",
    polls={"/rest/v1/questions": ("GET", 0.5), "/rest/v1/reactions": ("POST", 0.6)},
    mechanisms={
        "rt_users": {"k": 200, "retry_s": 12.0},
        "client_bug": {
            "endpoint": "/rest/v1/reactions",
            "build": "supabase-flutter/2.8.0",
            "share": 0.45,
            "sqlstate": "42501",
            "message": 'new row violates row-level security policy for table "reactions"',
        },
    },
    title="Mobile-first launch livestream",
    extra={"mobile_share": 0.45, "skew_sd_s": 150.0, "wrong_clock_share": 0.1},
)

CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case(
            name="pooler_night",
            start="2026-05-15T14:00:00Z",
            minutes=180,
            display_tz="Asia/Jakarta",
            seed=61,
            waves=(Wave(4, 230, 5, 40), Wave(118, 210, 4, 45)),
            trickle=(0.35, 8),
            monitor="fine",
            polls={
                "/functions/v1/room-state": ("POST", 1.0),
                "/rest/v1/questions": ("GET", 0.5),
                "/rest/v1/reactions": ("POST", 0.3),
            },
            mechanisms={
                "pooler": {"endpoint": "/functions/v1/room-state", "k": 130, "lag": 1},
                "client_bug": {
                    "endpoint": "/rest/v1/questions",
                    "build": "supabase-js-web/2.39.0",
                    "share": 0.25,
                    "sqlstate": "42703",
                    "message": "column questions.is_pinned does not exist",
                },
                "cron": {"every": 15, "offset": 7},
            },
            title="Late-night build stream: two drops",
        ),
        Case(
            name="snapshot_uploads",
            start="2026-06-09T09:00:00Z",
            minutes=60,
            display_tz="Europe/Lisbon",
            seed=62,
            waves=(Wave(2, 250, 7, 45),),
            trickle=(0.5, 10),
            monitor="snapshots",
            polls={
                "/rest/v1/rpc/get_leaderboard": ("POST", 1.0),
                "/rest/v1/questions": ("GET", 0.5),
                "/storage/v1/object/public/slides/deck.pdf": ("GET", 0.3),
            },
            mechanisms={
                "slow_query": {
                    "endpoint": "/rest/v1/rpc/get_leaderboard",
                    "median0_ms": 380.0,
                    "scale": 86.0,
                    "sigma": 0.5,
                    "timeout_ms": 8000.0,
                },
                "uploads": {"at": (17, 38), "share": 0.45, "per_second": 3, "mean_s": 25.0},
            },
            title="Worksheet workshop (quiz leaderboard)",
            extra={"missing": (25, 40)},
        ),
        _SKEWED_PRESENCE,
        replace(
            _SKEWED_PRESENCE,
            name="skewed_clocks",
            title="Mobile-first launch livestream (phones' clocks far off)",
            extra={"mobile_share": 0.45, "skew_sd_s": 600.0, "wrong_clock_share": 0.3},
        ),
        Case(
            name="noisy_null",
            start="2026-09-03T01:00:00Z",
            minutes=60,
            display_tz="America/Mexico_City",
            seed=64,
            waves=(),
            trickle=(14.0, 4),
            monitor="fine",
            polls={"/rest/v1/questions": ("GET", 1.0), "/rest/v1/chat": ("POST", 0.4)},
            mechanisms={
                "bot": {"bursts": 6, "per_burst": 25, "allowed": 10},
                "webhook": {"per_minute": 3.0, "stretches": ((12, 6), (41, 5)), "fail": 0.6},
                "background": {"mean": 0.8, "shape": 0.6},
            },
            title="Open office hours (drop-in)",
            extra={"churn_walk": 0.35},
        ),
        Case(
            name="api_only",
            start="2026-07-07T23:30:00Z",
            minutes=60,
            display_tz="America/Bogota",
            seed=66,
            waves=(Wave(6, 260, 6, 38),),
            trickle=(0.5, 10),
            monitor="none",
            polls={
                "/rest/v1/rpc/submit_answer": ("POST", 1.2),
                "/rest/v1/questions": ("GET", 0.5),
            },
            mechanisms={
                "pool_wait": {"endpoint": "/rest/v1/rpc/submit_answer", "k": 150, "lag": 2},
                "client_bug": {
                    "endpoint": "/rest/v1/questions",
                    "build": "supabase-js-web/2.41.0",
                    "share": 0.2,
                    "sqlstate": "42703",
                    "message": "column questions.answered_by does not exist",
                },
            },
            title="Live quiz night",
            extra={"billing_limit": 500, "no_tables": True},
        ),
        Case(
            name="crowd_2000",
            start="2026-10-20T11:00:00Z",
            minutes=60,
            display_tz="Asia/Singapore",
            seed=65,
            waves=(Wave(1, 2300, 5, 55),),
            trickle=(1.0, 15),
            monitor="fine",
            polls={
                "/rest/v1/questions": ("GET", 0.4),
                "/storage/v1/render/image/public/avatars/speaker.png": ("GET", 0.4),
            },
            mechanisms={
                "transform": {
                    "endpoint": "/storage/v1/render/image/public/avatars/speaker.png",
                    "k": 1500,
                    "lag": 0,
                },
                "client_bug": {
                    "endpoint": "/rest/v1/questions",
                    "build": "embed-widget/0.9.1",
                    "share": 0.05,
                    "sqlstate": "22P02",
                    "message": 'invalid input syntax for type uuid: "undefined"',
                },
            },
            title="Annual keynote (2,000 seats)",
        ),
    )
}

#: Analysed in make test; the rest are slow.
FAST = ("snapshot_uploads", "skewed_presence", "noisy_null", "api_only")


# --------------------------------------------------------------------------- audience


def _window(case: Case) -> tuple[datetime, int]:
    start = datetime.fromisoformat(case.start.replace("Z", "+00:00"))
    return start, case.minutes * 60


def draw_viewers(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return each viewer's join and leave (seconds from the window start), waves and trickle."""
    _, total = _window(case)
    joins, stays = [], []
    for wave in case.waves:
        shape = 2.0
        joins.append(wave.at * 60 + rng.gamma(shape, wave.spread * 60 / shape, wave.n))
        mu = math.log(wave.stay * 60) - case.stay_sigma**2 / 2
        stays.append(rng.lognormal(mu, case.stay_sigma, wave.n))
    rate, stay = case.trickle
    walk = case.extra.get("churn_walk")
    for minute in range(case.minutes):
        lam = rate
        if walk:
            # A drop-in room: the arrival rate wanders (log random walk), so the load is noisy.
            lam = rate * math.exp(walk * float(np.sum(_walk_steps(case)[: minute + 1])))
        n = rng.poisson(lam)
        joins.append(minute * 60 + rng.uniform(0, 60, n))
        stays.append(rng.exponential(stay * 60, n))
    join = np.concatenate(joins)
    leave = join + np.concatenate(stays)
    keep = join < total
    return np.round(join[keep], 3), np.round(np.minimum(leave[keep], total + 600), 3)


def _walk_steps(case: Case) -> np.ndarray:
    rng = np.random.default_rng(case.seed * 7)
    return rng.normal(0, 1, case.minutes) * 0.35


def audience(join: np.ndarray, leave: np.ndarray, total: int) -> np.ndarray:
    """Return the true audience at every whole second of the window (open: join <= t < leave)."""
    grid = np.arange(total)
    return np.searchsorted(np.sort(join), grid, side="right") - np.searchsorted(
        np.sort(leave), grid, side="right"
    )


# --------------------------------------------------------------------------- requests


@dataclass
class Rows:
    """Everything the export holds, as row dicts per source, plus the truth's counters."""

    edge: list = field(default_factory=list)
    pg: list = field(default_factory=list)
    realtime: list = field(default_factory=list)
    other: dict = field(default_factory=dict)


def _us(start: datetime, seconds: float) -> int:
    return int(round(start.timestamp() * 1000 + round(seconds * 1000))) * 1000


def _ip(i: int) -> str:
    return f"198.51.{100 + i % 2}.{(i * 37) % 250 + 1}" if i % 5 else f"2001:db8:51::{i:x}"


def _edge_row(case, start, t, method, path, status, origin, user, ip, client, search=""):
    host = f"{PROJECT[case.name]}.supabase.co"
    ray = hashlib.sha256(f"{case.name}{t}{path}{user}{ip}".encode()).hexdigest()[:16]
    agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/135.0"
    if "flutter" in client:
        agent = "Dart/3.6 (dart:io)"
    headers = {"cf_connecting_ip": ip, "cf_ray": ray, "user_agent": agent}
    if client:
        headers["x_client_info"] = client
    request = {
        "method": method,
        "path": path,
        "search": search,
        "host": host,
        "headers": [headers],
    }
    if user:
        request["sb"] = [{"auth_user": user}]
    message = f"{method} | {status} | {ip} | {ray} | https://{host}{path}{search} | {agent}"
    return {
        "id": _row_id(case, "edge", t, path, user, ip, status),
        "timestamp": _us(start, t),
        "event_message": message,
        "identifier": PROJECT[case.name],
        "metadata": [
            {
                "request": [request],
                "response": [{"status_code": int(status), "origin_time": int(origin)}],
            }
        ],
    }


_SEEN: dict = {}


def _row_id(case, *parts) -> str:
    key = "/".join(map(str, (case.name, *parts)))
    n = _SEEN.get(key, 0)
    _SEEN[key] = n + 1
    return _ids(case.name, f"{key}#{n}")


def _pg_row(case, start, t, sqlstate, message, *, user_name, app, command, query, severity="ERROR"):
    stamp = start + timedelta(seconds=round(t, 3))
    return {
        "id": _row_id(case, "pg", t, sqlstate, message),
        "timestamp": _us(start, t),
        "event_message": message,
        "identifier": PROJECT[case.name],
        "metadata": [
            {
                "host": f"db-{PROJECT[case.name]}",
                "parsed": [
                    {
                        "error_severity": severity,
                        "sql_state_code": sqlstate,
                        "user_name": user_name,
                        "application_name": app,
                        "command_tag": command,
                        "query": query,
                        "detail": None,
                        "hint": None,
                        "backend_type": "client backend",
                        "database_name": "postgres",
                        "process_id": 4000 + int(t) % 900,
                        "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S.")
                        + f"{stamp.microsecond // 1000:03d} UTC",
                    }
                ],
            }
        ],
    }


def _rt_row(case, start, t, message, level, measurements=None):
    meta = {"external_id": PROJECT[case.name], "project": PROJECT[case.name], "level": level}
    if measurements:
        meta["measurements"] = [measurements]
    return {
        "id": _row_id(case, "rt", t, message),
        "timestamp": _us(start, t),
        "event_message": message,
        "metadata": [meta],
    }


def _other_row(case, start, t, source, message, meta):
    return {
        "id": _row_id(case, source, t, message),
        "timestamp": _us(start, t),
        "event_message": message,
        "metadata": [meta],
    }


PROJECT = {name: "stk" + hashlib.sha256(name.encode()).hexdigest()[:17] for name in CASES}


def _lagged(aud: np.ndarray, t: np.ndarray, lag_s: int) -> np.ndarray:
    i = np.clip(np.floor(t).astype(int) - lag_s, 0, len(aud) - 1)
    return aud[i]


def simulate(name: str) -> tuple[Rows, dict]:
    """Return the rows of case ``name`` and its truth."""
    case = CASES[name]
    _SEEN.clear()
    rng = np.random.default_rng(case.seed)
    start, total = _window(case)
    join, leave = draw_viewers(case, rng)
    aud = audience(join, leave, total)
    n = len(join)
    users = [_ids(name, f"user{i}") for i in range(n)]
    bug = case.mechanisms.get("client_bug")
    mobile = rng.random(n) < case.extra.get("mobile_share", 0.0)
    builds = np.where(mobile, "supabase-flutter/2.8.0", "supabase-js-web/2.49.4")
    if bug:
        old = rng.random(n) < bug["share"]
        if bug["build"] in ("supabase-flutter/2.8.0",):
            old = mobile
        builds = np.where(old, bug["build"], builds)
    rows = Rows()
    truth: dict = {"classes": {}, "peak": int(aud.max()), "viewers": n}
    failed_here = {}
    # Every viewer signs in at arrival (Auth) and opens the socket (Realtime).
    for i in range(n):
        if join[i] >= 0:
            rows.edge.append(
                _edge_row(
                    case,
                    start,
                    join[i],
                    "GET",
                    "/auth/v1/user",
                    200,
                    12,
                    users[i],
                    _ip(i),
                    builds[i],
                )
            )
    rt = case.mechanisms.get("rt_users")
    if rt:
        _realtime_limit(case, start, total, join, leave, users, builds, rng, rows, rt)
    else:
        for i in range(n):
            t = max(join[i], 0.0) + 0.4
            if t < total:
                rows.edge.append(
                    _edge_row(
                        case,
                        start,
                        t,
                        "GET",
                        "/realtime/v1/websocket",
                        101,
                        3,
                        users[i],
                        _ip(i),
                        builds[i],
                        "?vsn=1.0.0",
                    )
                )
    limit = rt["k"] if rt else case.extra.get("billing_limit")
    for s in np.arange(1.0, total, 5.0) if limit else ():
        # Realtime's billing sample every 5 s: the sockets open (every viewer holds one).
        connected = int(min(aud[int(s)], limit))
        rows.realtime.append(
            _rt_row(
                case,
                start,
                s,
                "Billing metrics: [:realtime, :connections]",
                "info",
                {"connected": connected, "connected_cluster": connected, "limit": limit},
            )
        )
    if rt:
        truth["classes"]["realtime:too_many_connections"] = {
            "mechanism": "Realtime's concurrent-user limit; refused sockets retry every ~12 s",
            "expect": ["capacity"],
            "k": rt["k"],
            "lag": 0,
        }
    # Polls: a Poisson process per viewer and endpoint over the seconds present in the window.
    for path, (method, per_min) in case.polls.items():
        present = np.clip(np.minimum(leave, total) - np.maximum(join, 0), 0, None)
        counts = rng.poisson(per_min * present / 60)
        who = np.repeat(np.arange(n), counts)
        t = np.maximum(join[who], 0) + rng.uniform(0, 1, len(who)) * present[who]
        order = np.argsort(t, kind="stable")
        who, t = who[order], np.round(t[order], 3)
        status = np.full(len(t), 200 if method == "GET" else 201)
        origin = rng.gamma(3.0, 12.0, len(t)).round() + 4
        extra_pg: dict[int, dict] = {}
        for mech, spec in case.mechanisms.items():
            if spec.get("endpoint") != path:
                continue
            if mech in ("pooler", "transform", "pool_wait"):
                over = np.clip(
                    1.0 - spec["k"] / np.maximum(_lagged(aud, t, spec["lag"] * 60), 1), 0, 1
                )
                fail = rng.random(len(t)) < over
                code = 500 if mech == "pooler" else 504
                status = np.where(fail, code, status)
                if mech != "pooler":  # the gateway waited for the timeout
                    wait = 10000 if mech == "pool_wait" else 15000
                    origin = np.where(fail, wait + rng.integers(0, 900, len(t)), origin)
                failed_here[mech] = (t[fail], who[fail])
                product = path.split("/")[1]
                truth["classes"][f"http:{code}:{product}/*"] = {
                    "mechanism": {
                        "pooler": "Supavisor's client limit met by an Edge Function's calls",
                        "transform": "Storage's image renderer over its concurrency (504)",
                        "pool_wait": "PostgREST's pool: no connection within 10 s (PGRST003)",
                    }[mech],
                    "expect": ["capacity"],
                    "k": spec["k"],
                    "lag": spec["lag"],
                }
            elif mech == "slow_query":
                lagged = _lagged(aud, t, 0)
                median = spec["median0_ms"] * np.exp(lagged / spec["scale"])
                latency = rng.lognormal(np.log(median), spec["sigma"])
                fail = latency > spec["timeout_ms"]
                origin = np.where(
                    fail, spec["timeout_ms"] + rng.integers(1, 40, len(t)), np.round(latency)
                )
                status = np.where(fail, 500, status)
                for j in np.flatnonzero(fail):
                    extra_pg[j] = _pg_row(
                        case,
                        start,
                        t[j] + 0.003,
                        "57014",
                        "canceling statement due to statement timeout",
                        user_name="authenticator",
                        app="PostgREST 12.2.8",
                        command="SELECT",
                        query='select * from "public"."get_leaderboard"($1)',
                    )
                truth["classes"]["57014"] = {
                    "mechanism": "an RPC whose latency grows with the audience, cancelled at "
                    "statement_timeout (no connection limit)",
                    "expect": ["capacity"],
                    "k_band": list(_latency_band(spec)),
                    "lag": 0,
                }
            elif mech == "client_bug":
                fail = builds[who] == spec["build"]
                code = HTTP_OF[spec["sqlstate"]]
                status = np.where(fail, code, status)
                command = "SELECT" if method == "GET" else "INSERT"
                table = path.rsplit("/", 1)[1]
                for j in np.flatnonzero(fail):
                    extra_pg[j] = _pg_row(
                        case,
                        start,
                        t[j] + 0.002,
                        spec["sqlstate"],
                        spec["message"],
                        user_name="authenticator",
                        app="PostgREST 12.2.8",
                        command=command,
                        query=f'{command} ... FROM "public"."{table}" ...',
                    )
                truth["classes"][spec["sqlstate"]] = {
                    "mechanism": f"client build {spec['build']}: every request to {path} fails",
                    "expect": ["traffic"],
                }
        for j in range(len(t)):
            i = int(who[j])
            # A failed request's response time: the edge row's origin_time.
            if t[j] >= total:
                continue
            rows.edge.append(
                _edge_row(
                    case,
                    start,
                    t[j],
                    method,
                    path,
                    int(status[j]),
                    origin[j],
                    users[i],
                    _ip(i),
                    builds[i],
                )
            )
            if j in extra_pg:
                rows.pg.append(extra_pg[j])
    _pooler_sources(case, start, rows, failed_here, rng, users)
    _uploads(case, start, total, aud, join, leave, users, builds, rng, rows, truth)
    _outsiders(case, start, total, rng, rows, truth)
    rows.edge.sort(key=lambda r: (r["timestamp"], r["id"]))
    rows.pg.sort(key=lambda r: (r["timestamp"], r["id"]))
    rows.realtime.sort(key=lambda r: (r["timestamp"], r["id"]))
    if case.monitor == "none":
        # No audience exported: no verdict (the page says the load is unknown) is honest too;
        # Realtime's billing count of open sockets could measure it (every viewer holds one).
        for spec in truth["classes"].values():
            spec["expect"] = [*spec["expect"], None]
            if case.extra.get("no_tables") and "capacity" in spec["expect"]:
                # No viewer table at all: the capacity test cannot run, and errors outgrowing
                # their requests cannot be told from a limit (docs/verdicts.md, "No load series").
                spec["expect"] = [*spec["expect"], "undetermined"]
    truth["join"], truth["leave"], truth["users"] = join, leave, users
    return rows, truth


def _realtime_limit(case, start, total, join, leave, users, builds, rng, rows, rt):
    """Sockets over Realtime's user limit are refused; a refused client retries every ~12 s.

    Event by event: a slot frees when a connected viewer leaves, and the next retry takes it.
    """
    events = [(max(join[i], 0.0) + 0.4, 0, i) for i in range(len(join))]
    events += [(leave[i], 1, i) for i in range(len(join))]
    heapq.heapify(events)
    connected: set = set()
    while events:
        t, kind, i = heapq.heappop(events)
        if t >= total:
            break
        if kind == 1:
            connected.discard(i)
            continue
        if t >= leave[i]:
            continue
        if len(connected) < rt["k"]:
            connected.add(i)
            rows.edge.append(
                _edge_row(
                    case,
                    start,
                    t,
                    "GET",
                    "/realtime/v1/websocket",
                    101,
                    3,
                    users[i],
                    _ip(i),
                    builds[i],
                    "?vsn=1.0.0",
                )
            )
            continue
        rows.realtime.append(
            _rt_row(
                case,
                start,
                t + 0.005,
                "ConnectionRateLimitReached: Too many connected users",
                "error",
            )
        )
        heapq.heappush(events, (round(t + rt["retry_s"] + rng.uniform(-3, 3), 3), 0, i))


def _latency_band(spec: dict) -> tuple[int, int]:
    """Return the audiences at which 0.5 % and 5 % of the RPC's calls pass the timeout."""
    out = []
    for z in (2.5758, 1.6449):
        median = spec["timeout_ms"] * math.exp(-z * spec["sigma"])
        out.append(int(round(spec["scale"] * math.log(median / spec["median0_ms"]))))
    return out[0], out[1]


def _pooler_sources(case, start, rows, failed_here, rng, users):
    """Supavisor's refusals, the function's console lines and every invocation's own row."""
    spec = case.mechanisms.get("pooler")
    if not spec:
        return
    fid = _ids(case.name, "function")
    sup, flog, fedge = [], [], []
    for t, _ in zip(*failed_here["pooler"], strict=True):
        sup.append(
            _other_row(
                case,
                start,
                t - 0.004,
                "supavisor",
                "ClientHandler: Max client connections reached",
                {
                    "level": "error",
                    "project": PROJECT[case.name],
                    "user": "postgres",
                    "mode": "transaction",
                    "type": "single",
                    "app_name": "Supavisor",
                    "db_name": "postgres",
                    "peer_ip": "10.0.3.17",
                    "context": [{"application": "supavisor", "module": "Supavisor.ClientHandler"}],
                },
            )
        )
        flog.append(
            _other_row(
                case,
                start,
                t - 0.002,
                "function_logs",
                "Error: (EMAXCONNSESSION) max clients reached in transaction mode: 200",
                {
                    "function_id": fid,
                    "execution_id": _ids(case.name, f"x{t}"),
                    "level": "error",
                    "event_type": "Log",
                },
            )
        )
    for row in rows.edge:
        path = row["metadata"][0]["request"][0]["path"]
        if path != spec["endpoint"]:
            continue
        seconds = (row["timestamp"] / 1e6) - start.timestamp()
        fedge.append(
            _other_row(
                case,
                start,
                seconds + 0.001,
                "function_edge_logs",
                f"POST | {row['metadata'][0]['response'][0]['status_code']} | "
                f"https://{PROJECT[case.name]}.supabase.co{path}",
                {
                    "function_id": fid,
                    "execution_id": _ids(case.name, f"e{row['id']}"),
                    "deployment_id": f"{PROJECT[case.name]}_{fid}_7",
                    "request": [{"method": "POST", "url": path}],
                    "response": [{"status_code": row["metadata"][0]["response"][0]["status_code"]}],
                },
            )
        )
    rows.other = {"supavisor_logs": sup, "function_logs": flog, "function_edge_logs": fedge}


def _uploads(case, start, total, aud, join, leave, users, builds, rng, rows, truth):
    """Uploads at the host's prompts; Storage answers 503 past its per-second rate."""
    spec = case.mechanisms.get("uploads")
    if not spec:
        return
    for at in spec["at"]:
        t0 = at * 60.0
        present = np.flatnonzero((join <= t0) & (leave > t0))
        chosen = present[rng.random(len(present)) < spec["share"]]
        t = np.round(t0 + rng.exponential(spec["mean_s"], len(chosen)), 3)
        order = np.argsort(t, kind="stable")
        per_second: dict[int, int] = {}
        for j in order:
            if t[j] >= total or t[j] >= leave[chosen[j]]:
                continue
            sec = int(t[j])
            per_second[sec] = per_second.get(sec, 0) + 1
            status = 503 if per_second[sec] > spec["per_second"] else 200
            i = int(chosen[j])
            rows.edge.append(
                _edge_row(
                    case,
                    start,
                    t[j],
                    "POST",
                    f"/storage/v1/object/worksheets/{_ids(case.name, f'w{at}{i}')}.pdf",
                    status,
                    240 if status == 200 else 30,
                    users[i],
                    _ip(i),
                    builds[i],
                )
            )
    truth["classes"]["http:503:storage/*"] = {
        "mechanism": "uploads at two host prompts over Storage's per-second rate (an episode "
        "set by the prompts, not the audience)",
        "expect": ["unrelated", "undetermined", "insufficient"],
    }


def _outsiders(case, start, total, rng, rows, truth):
    """Requests and errors made by no viewer: a bot, a webhook, a worker, a cron job."""
    mech = case.mechanisms
    if "bot" in mech:
        spec = mech["bot"]
        minutes = rng.choice(np.arange(2, case.minutes - 2), spec["bursts"], replace=False)
        for m in sorted(minutes):
            t = np.sort(m * 60 + rng.uniform(0, 40, spec["per_burst"]))
            for k, s in enumerate(t):
                rows.edge.append(
                    _edge_row(
                        case,
                        start,
                        round(s, 3),
                        "POST",
                        "/auth/v1/token",
                        429 if k >= spec["allowed"] else 400,
                        6,
                        None,
                        "203.0.113.66",
                        "",
                        "?grant_type=password",
                    )
                )
        truth["classes"]["http:400:auth/token"] = {
            "mechanism": "the bot's wrong passwords: a fixed share of its own token requests, "
            "which are all of the endpoint's (a flat rate per request of the bot's traffic)",
            "expect": ["traffic", "unrelated", "undetermined", "insufficient"],
        }
        truth["classes"]["http:429:auth/*"] = {
            "mechanism": "one address hammering the token endpoint in six bursts",
            "expect": ["unrelated", "undetermined", "insufficient"],
        }
    if "webhook" in mech:
        spec = mech["webhook"]
        n = rng.poisson(spec["per_minute"] * case.minutes)
        t = np.sort(rng.uniform(0, total, n)).round(3)
        bad = np.zeros(n, bool)
        for at, length in spec["stretches"]:
            inside = (t >= at * 60) & (t < (at + length) * 60)
            bad |= inside & (rng.random(n) < spec["fail"])
        for s, b in zip(t, bad, strict=True):
            rows.edge.append(
                _edge_row(
                    case,
                    start,
                    s,
                    "POST",
                    "/functions/v1/payments-webhook",
                    500 if b else 200,
                    900 if b else 140,
                    None,
                    "203.0.113.21",
                    "",
                    "",
                )
            )
        truth["classes"]["http:500:functions/*"] = {
            "mechanism": "an outside webhook at a steady rate failing in two stretches",
            "expect": ["unrelated", "undetermined", "insufficient"],
        }
    if "background" in mech:
        spec = mech["background"]
        for m in range(case.minutes):
            lam = rng.gamma(spec["shape"], spec["mean"] / spec["shape"])
            for s in np.sort(m * 60 + rng.uniform(0, 60, rng.poisson(lam))):
                rows.pg.append(
                    _pg_row(
                        case,
                        start,
                        round(s, 3),
                        "55P03",
                        'could not obtain lock on row in relation "leaderboard"',
                        user_name="app_worker",
                        app="rollup-worker",
                        command="UPDATE",
                        query="update leaderboard set score = $1 where id = $2 nowait",
                    )
                )
        truth["classes"]["55P03"] = {
            "mechanism": "a worker's lock timeouts at an over-dispersed rate",
            "expect": ["unrelated", "undetermined", "insufficient"],
        }
    if "cron" in mech:
        spec = mech["cron"]
        for m in range(spec["offset"], case.minutes, spec["every"]):
            rows.pg.append(
                _pg_row(
                    case,
                    start,
                    m * 60 + 0.25,
                    "23514",
                    'new row for relation "daily_rollups" violates check constraint '
                    '"daily_rollups_viewers_check"',
                    user_name="postgres",
                    app="pg_cron",
                    command="INSERT",
                    query="insert into daily_rollups select ...",
                )
            )
        truth["classes"]["23514:daily_rollups_viewers_check"] = {
            "mechanism": "a pg_cron job failing every 15 minutes",
            "expect": ["unrelated", "undetermined", "insufficient"],
        }


# --------------------------------------------------------------------------- files


def _stamp(start: datetime, seconds: float) -> str:
    t = start + timedelta(seconds=float(seconds))
    return t.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _write_pages(directory: Path, source: str, rows: list) -> None:
    folder = directory / source
    folder.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["timestamp"], r["id"]))
    for k in range(0, max(len(rows), 1), PAGE_ROWS):
        body = json.dumps({"result": rows[k : k + PAGE_ROWS], "error": None}).encode()
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(body)
        (folder / f"page-{k // PAGE_ROWS + 1:04d}.json.gz").write_bytes(buf.getvalue())


def _write_csv(path: Path, header: list, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")


def webinar_id(name: str) -> str:
    """Return the webinar id of case ``name``."""
    return _ids(name, "webinar")


def write_incident(root: Path, name: str, *, hint_applied: bool = True) -> Path:
    """Write case ``name`` under ``root/name`` and return the directory.

    A case with the app's own event table names it ``ignore`` in incident.json ``files``, as
    ``make check``'s refusal of it asks; ``hint_applied=False`` writes it as exported.
    """
    case = CASES[name]
    rows, truth = simulate(name)
    directory = Path(root) / name
    directory.mkdir(parents=True, exist_ok=True)
    start, total = _window(case)
    end = start + timedelta(seconds=total)
    manifest = {
        "name": name,
        "project_ref": PROJECT[name],
        "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
        "flavour": "bigquery",
    }
    if case.monitor == "skewed" and hint_applied:
        manifest["files"] = {"tables/app_events.csv": {"kind": "ignore"}}
    (directory / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n")
    _write_csv(directory / "annotations.csv", ["time_utc", "label", "note"], [])
    _write_pages(directory, "edge_logs", rows.edge)
    if rows.pg:
        _write_pages(directory, "postgres_logs", rows.pg)
    if rows.realtime:
        _write_pages(directory, "realtime_logs", rows.realtime)
    for source, items in rows.other.items():
        _write_pages(directory, source, items)
    wid = webinar_id(name)
    tables = directory / "tables"
    _write_csv(
        tables / "webinars.csv",
        ["id", "title", "starts_at", "ends_at", "status", "created_at"],
        [
            [
                wid,
                case.title,
                _stamp(start, 0),
                _stamp(start, total),
                "ended",
                _stamp(start, -9 * 86400),
            ]
        ],
    )
    if case.extra.get("no_tables"):
        # Logs only from the Management API's analytics endpoint, and the webinar's row.
        _write_checksums(directory)
        return directory
    join, leave, users = truth["join"], truth["leave"], truth["users"]
    rng = np.random.default_rng(case.seed + 1000)
    _write_csv(
        tables / "registrations.csv",
        ["webinar_id", "user_id", "created_at"],
        [[wid, u, _stamp(start, -rng.uniform(3600, 6 * 86400))] for u in users],
    )
    if case.monitor in ("fine", "skewed"):
        _write_presence(case, tables, wid, start, join, leave, users, rng)
    if case.monitor in ("fine", "snapshots"):
        _write_monitor(case, tables, wid, start, total, join, leave)
    if case.monitor == "skewed":
        _write_app_events(case, tables, start, join, users, rng)
    _write_checksums(directory)
    return directory


def _write_checksums(directory: Path) -> None:
    """SHA256SUMS: every other file, ``<hex>  <relative path>``, sorted by path."""
    listing = {}
    for path in directory.rglob("*"):
        if path.is_file() and path.name != "SHA256SUMS":
            listing[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes())
    lines = [f"{listing[rel].hexdigest()}  {rel}" for rel in sorted(listing)]
    (directory / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def _write_presence(case, tables, wid, start, join, leave, users, rng):
    skew = np.zeros(len(join))
    if case.monitor == "skewed":
        # Mobile devices write joined_at/left_at from their own clocks: minutes off, and a
        # tenth of them set an hour-ish wrong (a manual clock).
        mobile = np.random.default_rng(case.seed).random(len(join)) < case.extra["mobile_share"]
        skew = np.where(mobile, rng.normal(0, case.extra["skew_sd_s"], len(join)), 0.0)
        wrong = mobile & (rng.random(len(join)) < case.extra["wrong_clock_share"])
        skew = np.where(wrong, skew + 420.0, skew)
    _, total = _window(case)
    rows = []
    for i in np.argsort(join, kind="stable"):
        left = "" if leave[i] > total + 300 else _stamp(start, leave[i] + skew[i])
        rows.append(
            [
                _ids(case.name, f"presence{i}"),
                wid,
                users[i],
                _ids(case.name, f"session{i}"),
                _stamp(start, join[i] + skew[i]),
                left,
            ]
        )
    _write_csv(
        tables / "webinar_live_presence.csv",
        ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"],
        rows,
    )


def _write_monitor(case, tables, wid, start, total, join, leave):
    if case.monitor == "snapshots":
        missing = case.extra.get("missing", ())
        samples = [m * 60 + 30.0 for m in range(0, case.minutes, 5) if m not in missing]
    else:
        samples = list(np.arange(2.0, total, 10.0))
    rows = []
    for k, s in enumerate(samples, 1):
        count = int(np.sum((join <= s) & (leave > s)))
        rows.append([k, wid, _stamp(start, s), count])
    _write_csv(
        tables / "webinar_viewer_counts.csv",
        ["id", "webinar_id", "sampled_at", "viewer_count"],
        rows,
    )


def _write_app_events(case, tables, start, join, users, rng):
    rows = []
    for i in np.argsort(join, kind="stable"):
        off = rng.normal(0, case.extra["skew_sd_s"])
        rows.append(
            [
                _ids(case.name, f"ev{i}"),
                users[i],
                "joined",
                _stamp(start, join[i] + off),
                "ios" if i % 3 else "android",
            ]
        )
    _write_csv(tables / "app_events.csv", ["id", "user_id", "kind", "client_ts", "device"], rows)


@functools.cache
def truth(name: str) -> dict:
    """Return case ``name``'s truth: webinar, peak, row counts per source, classes."""
    rows, t = simulate(name)
    return {
        "webinar_id": webinar_id(name),
        "peak": t["peak"],
        "viewers": t["viewers"],
        "rows": {
            "edge": len(rows.edge),
            "pg": len(rows.pg),
            "realtime": len(rows.realtime),
            **{source: len(items) for source, items in rows.other.items()},
        },
        "classes": t["classes"],
    }


def main(argv: list[str]) -> int:
    """Write the cases named in ``argv`` (all by default) under ``argv[0]``."""
    if argv and argv[0] == "--truth":
        print(json.dumps({n: truth(n) for n in (argv[1:] or CASES)}, indent=2))
        return 0
    root, names = Path(argv[0]), argv[1:] or list(CASES)
    for name in names:
        print(write_incident(root, name), webinar_id(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
