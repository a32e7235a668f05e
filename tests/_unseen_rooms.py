"""A seventh independent writer of Supabase incidents: a project whose rooms keep a timetable.

No import from ``analysis``; nothing shared with ``analysis.simulate``,
``tests/unseen_incidents.py``, ``tests/_unseen_qa.py``, ``tests/_unseen_mech.py``,
``tests/_unseen_queue.py``, ``tests/_unseen_agents.py`` or ``tests/_unseen_stack.py``. Written
from docs/contract.md and the shapes Supabase exports.

The other writers draw one webinar's audience. Here a project hosts *rooms* (webinars) on a
timetable, several of them live at once: each room opens at a scheduled minute with a queue
at the door that walks in within a minute (a step, not a ramp), takes stragglers after, and
closes at its scheduled end. Time runs second by second: every second each room's open
viewers send Poisson counts of requests per endpoint, each request given to one of them. What
fails is decided request by request against *project-wide* resources, so a limit is met by the
sum of the rooms' audiences while the report is about one room, and the other room's errors
and requests are in the same logs:

- ``pool``: Postgres' ``max_connections`` (FATAL 53300, 503 on whichever REST endpoint the
  request hit) once the lagged project audience passes K; K may change mid-window (``fix``:
  the pool is raised and the errors stop while the audience stays);
- ``timeout``: one RPC cancelled by ``statement_timeout`` (57014, 500) past K;
- ``contention``: transactions on one hot row, each ``hold`` seconds long; a transaction fails
  (40001 serialization failure, 40P01 deadlock) when another one started within ``hold``
  before it. No threshold is written down: the failing share is ``1 - exp(-rate * hold)``,
  rising with the load; its truth is the band of audience where 0.5 % to 5 % fail;
- ``flat``: one client build's requests to one endpoint always fail (Postgres errors with
  Korean, emoji and right-to-left identifiers; PostgREST's own PGRST116, 406, with no Postgres
  line);
- ``cookies``: a fixed share of users whose cookies are too large: every request of theirs to
  Auth is answered 431 (a flat rate per request);
- ``uploader``: three users retrying an upload over Storage's size limit (413) every ~20 s for
  minutes of their own (load-independent);
- ``crash``: an Edge Function crashing after a deploy: every call answered 502 for some
  minutes (an episode);
- ``cron``: a pg_cron job at UTC midnight failing on a lock (55P03) every 30 s for 20 minutes.

Windows the others never wrote: 20 minutes across a daylight-saving change, a window across
both UTC midnight and Israel's spring-forward, six hours with two sessions. The viewer-count
monitor samples when a room's count changes (at most every 5 s) and once a minute otherwise.

``python tests/_unseen_rooms.py OUT [case ...]`` writes cases under ``OUT/<name>`` and prints
``<dir> <webinar id>`` per case; ``--truth`` prints each case's truth as JSON.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import math
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np

PAGE_ROWS = 1000
NULL_EXPECT = ["unrelated", "undetermined", "insufficient"]


@dataclass(frozen=True)
class Room:
    """One webinar of the timetable; minutes count from the window's start."""

    title: str
    opens: float
    queue: int
    late: int
    late_mean: float
    closes: float
    stay_mean: float = 90.0
    builds: tuple = ("supabase-js-web/2.45.1", "supabase-js-web/2.44.0", "supabase-flutter/2.6.0")
    build_weights: tuple = (0.55, 0.3, 0.15)
    polls: tuple = (
        ("GET", "/rest/v1/questions", 1 / 45),
        ("POST", "/rest/v1/rpc/cast_vote", 1 / 60),
        ("GET", "/rest/v1/profiles", 1 / 400),
        ("GET", "/auth/v1/user", 1 / 180),
    )


@dataclass(frozen=True)
class Case:
    """One incident: its window, rooms (the first is the report's), mechanisms, zone."""

    name: str
    start: str
    minutes: int
    display_tz: str
    seed: int
    rooms: tuple
    mechanisms: tuple = ()
    extra: dict = field(default_factory=dict)


def _hex(*parts) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def _uuid(*parts) -> str:
    return str(uuid.UUID(_hex(*parts), version=4))


CASES: dict[str, Case] = {
    "twin_rooms": Case(
        name="twin_rooms",
        start="2026-05-14T16:00:00Z",
        minutes=60,
        display_tz="America/Mexico_City",
        seed=71,
        rooms=(
            Room(
                "Keynote: la hoja de ruta 2027", opens=5, queue=210, late=90, late_mean=8, closes=58
            ),
            Room(
                "Workshop B (same project)",
                opens=24,
                queue=170,
                late=70,
                late_mean=6,
                closes=56,
                builds=("breakout-app/1.4.2", "supabase-js-web/2.45.1"),
                build_weights=(0.4, 0.6),
                polls=(
                    ("GET", "/rest/v1/questions", 1 / 45),
                    ("POST", "/rest/v1/rpc/cast_vote", 1 / 60),
                    ("GET", "/rest/v1/breakout_notes", 1 / 90),
                    ("GET", "/auth/v1/user", 1 / 180),
                ),
            ),
        ),
        mechanisms=(
            {"kind": "pool", "k": 380, "lag": 1},
            {
                "kind": "contention",
                "path": "/rest/v1/rpc/cast_vote",
                "hold": 0.012,
                "sqlstate": "40001",
                "message": "could not serialize access due to concurrent update",
            },
            {
                "kind": "flat",
                "build": "breakout-app/1.4.2",
                "path": "/rest/v1/breakout_notes",
                "sqlstate": "42P01",
                "status": 404,
                "message": 'relation "public.breakout_notes" does not exist',
            },
        ),
    ),
    "dst_twenty": Case(
        name="dst_twenty",
        # America/New_York falls back at 06:00Z (02:00 EDT -> 01:00 EST) inside the window.
        start="2026-11-01T05:55:00Z",
        minutes=20,
        display_tz="America/New_York",
        seed=72,
        rooms=(
            Room(
                "Night shift all-hands (01:00 sharp)",
                opens=5,
                queue=500,
                late=60,
                late_mean=3,
                closes=30,
                stay_mean=200,
                builds=("supabase-swift/2.5.0", "supabase-js-web/2.45.1"),
                build_weights=(0.35, 0.65),
                polls=(
                    ("GET", "/rest/v1/questions", 1 / 30),
                    ("POST", "/rest/v1/rpc/get_leaderboard", 1 / 40),
                    ("GET", "/rest/v1/profiles", 1 / 60),
                    ("GET", "/auth/v1/user", 1 / 90),
                ),
            ),
        ),
        mechanisms=(
            {"kind": "timeout", "path": "/rest/v1/rpc/get_leaderboard", "k": 300, "lag": 0},
            {
                "kind": "flat",
                "build": "supabase-swift/2.5.0",
                "path": "/rest/v1/profiles",
                "status": 406,
                "pgrst": "PGRST116",
            },
            {"kind": "cookies", "path": "/auth/v1/user", "share": 0.06},
        ),
        extra={"early": 40},
    ),
    "unicode_names": Case(
        name="unicode_names",
        # Israel springs forward at 00:00Z on 27 March 2026: UTC midnight and DST at once.
        start="2026-03-26T23:30:00Z",
        minutes=60,
        display_tz="Asia/Jerusalem",
        seed=73,
        rooms=(
            Room(
                'שאלות ותשובות 🔥 <b>질문</b> & "live"',
                opens=-20,
                queue=150,
                late=90,
                late_mean=15,
                closes=75,
                stay_mean=50,
                builds=("supabase-js-web/2.45.1", "supabase-js-web/2.41.0-he", "kr-app/3.0.1"),
                build_weights=(0.5, 0.25, 0.25),
                polls=(
                    ("GET", "/rest/v1/질문", 1 / 40),
                    ("POST", "/rest/v1/투표", 1 / 120),
                    ("GET", "/rest/v1/שאלות", 1 / 90),
                    ("GET", "/storage/v1/object/public/slides/deck.pdf", 1 / 600),
                    ("POST", "/functions/v1/render-certificate", 1 / 500),
                ),
            ),
        ),
        mechanisms=(
            {
                "kind": "flat",
                "build": "kr-app/3.0.1",
                "path": "/rest/v1/질문",
                "sqlstate": "42703",
                "status": 400,
                "message": "column 질문.🔥_count does not exist",
            },
            {
                "kind": "flat",
                "build": "supabase-js-web/2.41.0-he",
                "path": "/rest/v1/שאלות",
                "sqlstate": "42P01",
                "status": 404,
                "message": 'relation "public.שאלות" does not exist',
            },
            {
                "kind": "double",
                "path": "/rest/v1/투표",
                "share": 0.08,
                "constraint": "투표_사용자_키",
            },
            {"kind": "uploader", "users": 3, "every": 20, "minutes": ((8, 9), (31, 6), (47, 4))},
            {"kind": "crash", "path": "/functions/v1/render-certificate", "at": 38, "length": 7},
        ),
        extra={"no_realtime": True},
    ),
    "six_hours": Case(
        name="six_hours",
        start="2026-09-18T20:00:00Z",
        minutes=360,
        display_tz="Asia/Kolkata",
        seed=74,
        rooms=(
            Room(
                "Hackathon day: morning keynote",
                opens=10,
                queue=320,
                late=80,
                late_mean=10,
                closes=120,
                stay_mean=80,
                polls=(
                    ("GET", "/rest/v1/questions", 1 / 90),
                    ("POST", "/rest/v1/rpc/award_points", 1 / 120),
                    ("GET", "/auth/v1/user", 1 / 300),
                ),
            ),
            Room(
                "Hackathon day: demos",
                opens=210,
                queue=460,
                late=120,
                late_mean=15,
                closes=345,
                stay_mean=100,
                polls=(
                    ("GET", "/rest/v1/questions", 1 / 90),
                    ("POST", "/rest/v1/rpc/award_points", 1 / 120),
                    ("GET", "/auth/v1/user", 1 / 300),
                ),
            ),
        ),
        mechanisms=(
            {"kind": "pool", "k": 260, "lag": 0, "fix": 150, "k_after": 900},
            {
                "kind": "contention",
                "path": "/rest/v1/rpc/award_points",
                "hold": 0.03,
                "sqlstate": "40P01",
                "message": "deadlock detected",
            },
            {"kind": "cron", "at": 240, "length": 20},
        ),
        extra={"same_webinar": True},
    ),
}
FAST = ("twin_rooms", "dst_twenty", "unicode_names")
SLOW = ("six_hours",)

PROJECT = {name: "rms" + _hex("project", name)[:17] for name in CASES}


def register(case: Case) -> None:
    """Add a drawn case (a study's) to ``CASES``, with its own project reference."""
    CASES[case.name] = case
    PROJECT[case.name] = "rms" + _hex("project", case.name)[:17]


def _window(case: Case) -> tuple[datetime, int]:
    start = datetime.fromisoformat(case.start.replace("Z", "+00:00")).astimezone(UTC)
    return start, case.minutes * 60


def draw_rooms(case: Case, rng: np.random.Generator) -> list[dict]:
    """Return each room's viewers: join and leave seconds, user uuid, build and address."""
    rooms = []
    for r, room in enumerate(case.rooms):
        door = room.opens * 60 + rng.uniform(0, 55, room.queue)
        late = room.opens * 60 + 60 + rng.exponential(room.late_mean * 60, room.late)
        early = room.opens * 60 - rng.uniform(0, 300, case.extra.get("early", 0))
        join = np.concatenate([door, late, early])
        stay = rng.exponential(room.stay_mean * 60, len(join))
        close = room.closes * 60 + rng.uniform(0, 90, len(join))
        leave = np.minimum(join + 30 + stay, close)
        keep = leave > join
        join, leave = join[keep], leave[keep]
        builds = rng.choice(len(room.builds), len(join), p=room.build_weights)
        users = [_uuid(case.name, "user", r, i) for i in range(len(join))]
        rooms.append({"join": join, "leave": leave, "users": users, "builds": builds})
    return rooms


def open_counts(room: dict, total: int) -> np.ndarray:
    """Return the room's open viewers at every second of the window."""
    grid = np.arange(total)
    return np.searchsorted(np.sort(room["join"]), grid, side="right") - np.searchsorted(
        np.sort(room["leave"]), grid, side="right"
    )


def _us(start: datetime, seconds: float) -> int:
    return int(round(start.timestamp() * 1000 + round(seconds * 1000))) * 1000


def _addr(r: int, i: int) -> str:
    return f"203.0.{113 + r}.{i % 250 + 1}" if i % 7 else f"2001:db8:{r + 7}::{i:x}"


class Log:
    """Rows per source, with ids unique per content and occurrence."""

    def __init__(self, case: Case):
        self.case = case
        self.start, self.total = _window(case)
        self.edge: list = []
        self.pg: list = []
        self.realtime: list = []
        self.seen: dict = {}

    def _id(self, *parts) -> str:
        key = "/".join(map(str, parts))
        self.seen[key] = self.seen.get(key, 0) + 1
        return _uuid(self.case.name, key, self.seen[key])

    def request(self, t, method, path, status, origin, user, ip, build):
        ref = PROJECT[self.case.name]
        host = f"{ref}.supabase.co"
        ray = _hex(self.case.name, "ray", t, path, ip)[:16]
        agent = "Dart/3.5 (dart:io)" if "flutter" in build else "Mozilla/5.0 (Macintosh) Safari/17"
        wire = quote(path, safe="/")
        headers = {
            "cf_connecting_ip": ip,
            "cf_ray": ray,
            "user_agent": agent,
            "x_client_info": build,
        }
        req = {"method": method, "path": wire, "search": "", "host": host, "headers": [headers]}
        if user:
            req["sb"] = [{"auth_user": user}]
        message = f"{method} | {status} | {ip} | {ray} | https://{host}{wire} | {agent}"
        self.edge.append(
            {
                "id": self._id("edge", t, path, ip),
                "timestamp": _us(self.start, t),
                "event_message": message,
                "identifier": ref,
                "metadata": [
                    {
                        "request": [req],
                        "response": [{"status_code": int(status), "origin_time": int(origin)}],
                    }
                ],
            }
        )

    def db_error(
        self,
        t,
        sqlstate,
        message,
        *,
        severity="ERROR",
        user_name="authenticator",
        app="postgrest",
        command="SELECT",
        query=None,
        detail=None,
    ):
        ref = PROJECT[self.case.name]
        stamp = self.start + timedelta(seconds=round(t, 3))
        self.pg.append(
            {
                "id": self._id("pg", t, sqlstate),
                "timestamp": _us(self.start, t),
                "event_message": message,
                "identifier": ref,
                "metadata": [
                    {
                        "host": f"db-{ref}",
                        "parsed": [
                            {
                                "error_severity": severity,
                                "sql_state_code": sqlstate,
                                "user_name": user_name,
                                "application_name": app,
                                "command_tag": command,
                                "query": query,
                                "detail": detail,
                                "backend_type": "client backend",
                                "database_name": "postgres",
                                "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S.")
                                + f"{stamp.microsecond // 1000:03d} UTC",
                            }
                        ],
                    }
                ],
            }
        )

    def billing(self, t, connected, limit):
        ref = PROJECT[self.case.name]
        self.realtime.append(
            {
                "id": self._id("rt", t),
                "timestamp": _us(self.start, t),
                "event_message": "Billing metrics: [:realtime, :connections]",
                "metadata": [
                    {
                        "external_id": ref,
                        "project": ref,
                        "level": "info",
                        "measurements": [
                            {
                                "connected": int(connected),
                                "connected_cluster": int(connected),
                                "limit": int(limit),
                            }
                        ],
                    }
                ],
            }
        )


def _k_at(spec: dict, t: float) -> float:
    return spec["k_after"] if "fix" in spec and t >= spec["fix"] * 60 else spec["k"]


def _lagged(load: np.ndarray, t: float, lag_min: int) -> int:
    return int(load[max(int(t) - 60 * lag_min, 0)])


def _table_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def simulate(name: str) -> tuple[Log, dict]:
    """Return case ``name``'s rows and truth (classes with the verdicts they allow)."""
    case = CASES[name]
    rng = np.random.default_rng(case.seed)
    log = Log(case)
    total = log.total
    rooms = draw_rooms(case, rng)
    counts = [open_counts(room, total) for room in rooms]
    load = np.sum(counts, axis=0)
    by_kind = {m["kind"]: m for m in case.mechanisms}
    truth: dict = {
        "classes": {},
        "peak": int(load.max()),
        "room_peaks": [int(c.max()) for c in counts],
    }
    cookies = set()
    if "cookies" in by_kind:
        for room in rooms:
            pick = rng.random(len(room["users"])) < by_kind["cookies"]["share"]
            cookies |= {room["users"][i] for i in np.flatnonzero(pick)}
    hot: list = []  # (t, room, viewer, method, path) of contention requests, decided after
    crash = by_kind.get("crash")
    for s in range(total):
        for r, (room, spec) in enumerate(zip(rooms, case.rooms, strict=True)):
            present = np.flatnonzero((room["join"] <= s) & (room["leave"] > s))
            if not len(present):
                continue
            for method, path, rate in spec.polls:
                n = rng.poisson(len(present) * rate)
                for i in rng.choice(present, n) if n else ():
                    t = s + float(rng.random())
                    _request(
                        case,
                        log,
                        rng,
                        t,
                        r,
                        int(i),
                        method,
                        path,
                        rooms,
                        load,
                        by_kind,
                        cookies,
                        crash,
                        hot,
                    )
        if s % 5 == 0 and not case.extra.get("no_realtime"):
            log.billing(s + 0.25, load[s], 10_000)
    _contention(case, log, rng, rooms, load, by_kind, hot, truth)
    _outsiders(case, log, rng, rooms, by_kind, truth)
    _write_truth(case, by_kind, truth)
    for rows in (log.edge, log.pg, log.realtime):
        rows.sort(key=lambda row: (row["timestamp"], row["id"]))
    truth["rooms"] = rooms
    return log, truth


def _request(case, log, rng, t, r, i, method, path, rooms, load, by_kind, cookies, crash, hot):
    room = rooms[r]
    user, build = room["users"][i], case.rooms[r].builds[room["builds"][i]]
    ip = _addr(r, i)
    pool = by_kind.get("pool")
    origin = 18 + rng.exponential(12)
    if pool and path.startswith("/rest/"):
        n, k = _lagged(load, t, pool["lag"]), _k_at(pool, t)
        # Waiting for a free connection: latency climbs as the pool fills.
        origin += 120 * min(n / k, 1.5) ** 4
        if n > k and rng.random() < 1 - k / n:
            log.db_error(
                t + 0.004,
                "53300",
                "sorry, too many clients already",
                severity="FATAL",
                command="authentication",
            )
            log.request(t, method, path, 503, origin / 4, user, ip, build)
            return
    flat = next(
        (
            m
            for m in case.mechanisms
            if m["kind"] == "flat" and m["path"] == path and m["build"] == build
        ),
        None,
    )
    if flat:
        if "sqlstate" in flat:
            log.db_error(
                t + 0.003,
                flat["sqlstate"],
                flat["message"],
                query=f'SELECT * FROM "{_table_of(path)}" WHERE webinar_id = $1',
            )
        log.request(t, method, path, flat["status"], origin, user, ip, build)
        return
    cook = by_kind.get("cookies")
    if cook and path == cook["path"] and user in cookies:
        log.request(t, method, path, 431, 0, user, ip, build)
        return
    tmo = by_kind.get("timeout")
    if tmo and path == tmo["path"]:
        n = _lagged(load, t, tmo["lag"])
        origin += 40 * (n / tmo["k"]) ** 3
        if n > tmo["k"] and rng.random() < 1 - tmo["k"] / n:
            log.db_error(
                t + 8.0,
                "57014",
                "canceling statement due to statement timeout",
                query="select * from get_leaderboard($1)",
            )
            log.request(t, method, path, 500, 8000, user, ip, build)
            return
    dbl = by_kind.get("double")
    if dbl and path == dbl["path"] and rng.random() < dbl["share"]:
        # A double submit: the first insert lands, the second hits the unique key.
        log.request(t, method, path, 201, origin, user, ip, build)
        log.db_error(
            t + 0.31,
            "23505",
            f'duplicate key value violates unique constraint "{dbl["constraint"]}"',
            command="INSERT",
            query='INSERT INTO "투표" (poll_id, user_id) VALUES ($1, $2)',
            detail=f"Key (poll_id, user_id)=(7, {user}) already exists.",
        )
        log.request(t + 0.3, method, path, 409, origin, user, ip, build)
        return
    if (
        crash
        and path == crash["path"]
        and crash["at"] * 60 <= t < (crash["at"] + crash["length"]) * 60
    ):
        log.request(t, method, path, 502, 2, user, ip, build)
        return
    con = by_kind.get("contention")
    if con and path == con["path"]:
        hot.append((t, r, i, method, path, origin))
        return
    status = 201 if method == "POST" and "/rpc/" not in path else 200
    log.request(t, method, path, status, origin, user, ip, build)


def _contention(case, log, rng, rooms, load, by_kind, hot, truth):
    """A transaction fails when another started within ``hold`` seconds before it."""
    con = by_kind.get("contention")
    if not con:
        return
    hot.sort()
    last = -1e9
    for t, r, i, method, path, origin in hot:
        room = rooms[r]
        user, build = room["users"][i], case.rooms[r].builds[room["builds"][i]]
        clash = t - last < con["hold"]
        last = t
        if clash:
            log.db_error(
                t + con["hold"],
                con["sqlstate"],
                con["message"],
                command="SELECT",
                query=f"select {_table_of(path)}($1, $2)",
                detail="Process 4242 waits for ShareLock on transaction 991; blocked by "
                "process 4243."
                if con["sqlstate"] == "40P01"
                else None,
            )
            log.request(t, method, path, 500, origin + 1000 * con["hold"], user, _addr(r, i), build)
        else:
            log.request(t, method, path, 200, origin + 1000 * con["hold"], user, _addr(r, i), build)
    # The failing share at audience n is 1 - exp(-n * rate * hold): the band where 0.5 % to
    # 5 % of the transactions fail is the truth's K band.
    rate = sum(sum(rt for _, p, rt in room.polls if p == con["path"]) for room in case.rooms[:1])
    low, high = (-math.log(1 - p) / (rate * con["hold"]) for p in (0.005, 0.05))
    truth["classes"][con["sqlstate"]] = {
        "mechanism": f"transactions on one hot row, {con['hold'] * 1000:.0f} ms each, fail when "
        "another started within that time: a share rising with the load, no threshold",
        "expect": ["capacity", "traffic"],
        "k_band": [int(low), int(high)],
        "lag": 0,
    }


def _outsiders(case, log, rng, rooms, by_kind, truth):
    """Requests and errors that no viewer's load makes: a retrying uploader, a cron job."""
    up = by_kind.get("uploader")
    if up:
        room = rooms[0]
        for u in range(up["users"]):
            user = room["users"][u * 11]
            for at, length in up["minutes"]:
                t = at * 60 + rng.uniform(0, 30)
                while t < (at + length) * 60:
                    path = f"/storage/v1/object/recordings/{_hex(case.name, 'rec', u)[:8]}.mp4"
                    log.request(
                        t, "POST", path, 413, 40, user, _addr(0, u * 11), "supabase-js-web/2.45.1"
                    )
                    t += up["every"] + rng.uniform(-4, 4)
        truth["classes"]["http:413:storage/object/recordings"] = {
            "mechanism": "three users retrying an upload over Storage's size limit every ~20 s "
            "in stretches of their own",
            "expect": NULL_EXPECT,
        }
    cron = by_kind.get("cron")
    if cron:
        t = cron["at"] * 60 + 0.5
        while t < (cron["at"] + cron["length"]) * 60:
            log.db_error(
                t,
                "55P03",
                'could not obtain lock on relation "leaderboard"',
                user_name="postgres",
                app="pg_cron",
                command="LOCK TABLE",
                query="lock table leaderboard in access exclusive mode nowait",
            )
            t += 30
        truth["classes"]["55P03"] = {
            "mechanism": "a pg_cron job at UTC midnight failing on a lock every 30 s for 20 min",
            "expect": NULL_EXPECT,
        }


def _write_truth(case, by_kind, truth):
    classes = truth["classes"]
    if "pool" in by_kind:
        pool = by_kind["pool"]
        fixed = f"; raised to {pool['k_after']} at minute {pool['fix']}" if "fix" in pool else ""
        classes["53300"] = {
            "mechanism": f"max_connections met by the project's audience (every room) past "
            f"{pool['k']} with {pool['lag']} min lag{fixed}",
            "expect": ["capacity"],
            "k": pool["k"],
            "lag": pool["lag"],
        }
    if "timeout" in by_kind:
        tmo = by_kind["timeout"]
        classes["57014"] = {
            "mechanism": f"an RPC cancelled past {tmo['k']} viewers (a step of 500 at the door)",
            "expect": ["capacity"],
            "k": tmo["k"],
            "lag": tmo["lag"],
        }
    for m in case.mechanisms:
        if m["kind"] == "flat":
            key = (
                m["sqlstate"]
                if "sqlstate" in m
                else f"http:{m['status']}:rest/{_table_of(m['path'])}"
            )
            classes[key] = {
                "mechanism": f"client build {m['build']} always fails on {m['path']}",
                "expect": ["traffic"],
            }
    if "double" in by_kind:
        classes[f"23505:{by_kind['double']['constraint']}"] = {
            "mechanism": "8 % of votes double-submitted: a flat share per request",
            "expect": ["traffic"],
        }
    if "cookies" in by_kind:
        classes["http:431:auth/user"] = {
            "mechanism": "6 % of users carry cookies too large: all their Auth requests fail",
            "expect": ["traffic"],
        }
    if "crash" in by_kind:
        classes["http:502:functions/*"] = {
            "mechanism": "an Edge Function crashing for minutes after a deploy",
            "expect": NULL_EXPECT,
        }


def _stamp(start: datetime, seconds: float) -> str:
    return (start + timedelta(seconds=float(seconds))).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _pages(directory: Path, source: str, rows: list) -> None:
    folder = directory / source
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(0, max(len(rows), 1), PAGE_ROWS):
        body = json.dumps({"result": rows[k : k + PAGE_ROWS], "error": None}, ensure_ascii=False)
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(body.encode("utf-8"))
        (folder / f"page-{k // PAGE_ROWS + 1:04d}.json.gz").write_bytes(buf.getvalue())


def _csv(path: Path, header: list, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    path.write_text(out.getvalue(), encoding="utf-8", newline="")


def webinar_ids(name: str) -> list[str]:
    """Return the webinar id of each room of case ``name`` (the first is the report's)."""
    case = CASES[name]
    if case.extra.get("same_webinar"):
        return [_uuid(name, "webinar", 0)] * len(case.rooms)
    return [_uuid(name, "webinar", r) for r in range(len(case.rooms))]


def _samples(join: np.ndarray, leave: np.ndarray, total: int) -> list[tuple[float, int]]:
    """A monitor sampling when the count changes (at most every 5 s), else once a minute."""
    edges = np.sort(
        np.concatenate([join[(join >= 0) & (join < total)], leave[(leave >= 0) & (leave < total)]])
    )
    out, last = [], -1e9
    candidates = sorted(set(np.concatenate([edges, np.arange(1.0, total, 60.0)]).tolist()))
    for s in candidates:
        if s - last < 5 and (s - 1) % 60:
            continue
        out.append((s, int(np.sum((join <= s) & (leave > s)))))
        last = s
    return out


def write_incident(root: Path, name: str) -> Path:
    """Write case ``name`` under ``root/name`` and return the directory."""
    case = CASES[name]
    log, truth = simulate(name)
    directory = Path(root) / name
    directory.mkdir(parents=True, exist_ok=True)
    start, total = _window(case)
    manifest = {
        "name": name,
        "project_ref": PROJECT[name],
        "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": (start + timedelta(seconds=total)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
    }
    (directory / "incident.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    )
    _csv(directory / "annotations.csv", ["time_utc", "label", "note"], [])
    _pages(directory, "edge_logs", log.edge)
    if log.pg:
        _pages(directory, "postgres_logs", log.pg)
    if log.realtime:
        _pages(directory, "realtime_logs", log.realtime)
    wids = webinar_ids(name)
    tables = directory / "tables"
    rows, seen = [], set()
    for r, room in enumerate(case.rooms):
        if wids[r] in seen:
            continue
        seen.add(wids[r])
        last = max(rm.closes for k, rm in enumerate(case.rooms) if wids[k] == wids[r])
        rows.append(
            [
                wids[r],
                room.title,
                _stamp(start, room.opens * 60),
                _stamp(start, last * 60),
                "ended",
                _stamp(start, -7 * 86400),
            ]
        )
    _csv(
        tables / "webinars.csv",
        ["id", "title", "starts_at", "ends_at", "status", "created_at"],
        rows,
    )
    rng = np.random.default_rng(case.seed + 99)
    regs, presence, monitor = [], [], []
    for r, room in enumerate(truth["rooms"]):
        for i, user in enumerate(room["users"]):
            regs.append([wids[r], user, _stamp(start, -rng.uniform(600, 5 * 86400))])
            presence.append(
                [
                    _uuid(name, "presence", r, i),
                    wids[r],
                    user,
                    _uuid(name, "session", r, i),
                    _stamp(start, room["join"][i]),
                    "" if room["leave"][i] >= total else _stamp(start, room["leave"][i]),
                ]
            )
        for k in range(len(room["users"]) // 3):
            regs.append(
                [wids[r], _uuid(name, "no-show", r, k), _stamp(start, -rng.uniform(600, 5 * 86400))]
            )
    if case.extra.get("same_webinar"):
        join = np.concatenate([room["join"] for room in truth["rooms"]])
        leave = np.concatenate([room["leave"] for room in truth["rooms"]])
        monitor = [(wids[0], s, c) for s, c in _samples(join, leave, total)]
    else:
        for r, room in enumerate(truth["rooms"]):
            monitor += [(wids[r], s, c) for s, c in _samples(room["join"], room["leave"], total)]
    monitor.sort(key=lambda m: (m[1], m[0]))
    _csv(
        tables / "registrations.csv",
        ["webinar_id", "user_id", "created_at"],
        sorted(regs, key=lambda row: row[2]),
    )
    presence.sort(key=lambda row: row[4])
    _csv(
        tables / "webinar_live_presence.csv",
        ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"],
        presence,
    )
    _csv(
        tables / "webinar_viewer_counts.csv",
        ["id", "webinar_id", "sampled_at", "viewer_count"],
        [[k, w, _stamp(start, s), c] for k, (w, s, c) in enumerate(monitor, 1)],
    )
    listing = {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    (directory / "SHA256SUMS").write_text("".join(f"{listing[k]}  {k}\n" for k in sorted(listing)))
    return directory


@functools.cache
def truth(name: str) -> dict:
    """Return case ``name``'s truth: webinar, peaks, row counts per source, classes."""
    log, t = simulate(name)
    low, high = _us(log.start, 0), _us(log.start, log.total)

    def inside(rows: list) -> int:
        return sum(low <= row["timestamp"] < high for row in rows)

    # A statement cancelled by statement_timeout in the window's last seconds is logged after
    # it: read, and counted as rejected ("outside window").
    sources = {"edge": log.edge, "pg": log.pg, "realtime": log.realtime}
    return {
        "webinar_id": webinar_ids(name)[0],
        "peak": t["peak"],
        "room_peaks": t["room_peaks"],
        "rows": {key: inside(rows) for key, rows in sources.items()},
        "outside": sum(len(rows) - inside(rows) for rows in sources.values()),
        "classes": t["classes"],
    }


def main(argv: list[str]) -> int:
    """Write the cases named in ``argv`` (all by default) under ``argv[0]``."""
    if argv and argv[0] == "--truth":
        print(json.dumps({n: truth(n) for n in (argv[1:] or CASES)}, indent=2, ensure_ascii=False))
        return 0
    root, names = Path(argv[0]), argv[1:] or list(CASES)
    for name in names:
        print(write_incident(root, name), webinar_ids(name)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
