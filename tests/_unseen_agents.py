"""A fifth independent writer of Supabase incidents: every viewer is an agent, every error emerges.

No import from ``analysis``; nothing shared with ``analysis.simulate``,
``tests/unseen_incidents.py``, ``tests/_unseen_qa.py``, ``tests/_unseen_mech.py`` or
``tests/_unseen_queue.py``. Written from docs/contract.md and the shapes Supabase exports.

Each viewer is a small state machine driven by one event queue: arrive, sign in through Auth,
open the Realtime socket, join the webinar's channel (presence starts there), then watch
(poll the questions, post to the chat, send reactions), drop the socket now and then and
reconnect with a back-off, and leave. Nothing is decided per minute: errors come from limits
the agents share, checked request by request:

- **Realtime's messages per second.** Every chat line and reaction is broadcast to every
  subscriber of the channel, and Realtime counts the *delivered* messages, so the tenant's
  load is ``broadcasts x subscribers``, quadratic in the audience. A broadcast that would take
  the second past ``msg_limit`` is dropped and logged ``MessagePerSecondRateLimitReached``.
  The truth of K is ``sqrt(msg_limit / broadcasts per viewer-second)`` (lag 0).
- **Auth's per-IP limit.** A third of the audience signs in from three office NATs; Auth
  answers 429 ``over_request_rate_limit`` when one address has made more than ``auth_limit``
  token requests in five minutes, and the clients retry. Driven by the arrival *rate* per
  address, not by the audience: never a capacity on concurrency.
- **Realtime's joins per second.** Channel joins beyond ``join_limit`` in one second are
  refused (``ClientJoinRateLimitReached``) and retried.

And mechanisms with a clock of their own: a migration deployed at minute ``deploy_minute`` that
makes every chat insert fail from then on (23502, a regime change: nothing before, a flat rate
after), a ``pg_cron`` refresh every ten minutes that locks the leaderboard for 70 s (the
app's polls of it time out, 57014: periodic, whatever the audience), a 30-second Realtime
outage after which every client reconnects on the same un-jittered back-off (a retry storm
against the join limit), a mobile client version whose reaction log always fails (22P02, a
flat client bug) and a monitoring script on one address calling a missing function (42883,
one source). Export shapes: two projects' rows mixed in one directory, forty webinars of which
three overlap the window, a load known only from presence (no viewer-count monitor).

``python tests/_unseen_agents.py OUT [case ...]`` writes cases under ``OUT/<name>`` and prints
``<dir> <webinar id>`` per case; ``--truth`` prints each case's truth as JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import heapq
import io
import json
import math
import shutil
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

PAGE_ROWS = 1000
ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiIsImlzcyI6InN1cGFiYXNlIn0."
    "q8Zt3mV0rX1cKpN2wY7uB4sE9hJ6fL5dA0gT3iR8oWk"
)
WEB_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/133.0.0.0 Safari/537.36"
)
MOBILE_UA = "okhttp/4.12.0"
POSTGREST = "PostgREST 12.2.8"
LEADERBOARD_QUERY = (
    'SELECT "public"."leaderboard".* FROM "public"."leaderboard" '
    'WHERE "public"."leaderboard"."webinar_id" = $1 LIMIT 20'
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One incident: its audience, the limits its agents share and its export's shape."""

    name: str
    seed: int
    start: str = "2026-03-12T10:00:00Z"
    minutes: int = 60
    display_tz: str = "Europe/Berlin"
    peak: int = 420
    shape: str = "bell"  # bell | ramp | two_waves
    msg_limit: int | None = 2500
    reaction_rate: float = 1 / 40  # broadcasts per viewer-second (reactions and chat)
    chat_share: float = 0.25
    auth_limit: int | None = None
    join_limit: int = 60
    deploy_minute: int | None = None
    cron_every: int | None = None
    outage_minute: float | None = None
    mobile_bug: bool = True
    # False: the bug fails a fifth of every client's reactions instead of every reaction of a
    # fifth of the clients (the study's control: no drifting share of affected users).
    bug_by_client: bool = True
    monitor_script: bool = True
    other_project: bool = False
    webinars: int = 1  # webinars in the table; 40 gives the catalogue case
    live_webinars: int = 1
    monitor: bool = True


CASES = {
    c.name: c
    for c in (
        Case("fanout_bell", seed=11, auth_limit=10),
        Case("deploy_minute_23", seed=23, msg_limit=None, deploy_minute=23, shape="ramp", peak=300),
        Case("cron_locks", seed=31, msg_limit=None, cron_every=10, peak=260, auth_limit=None),
        Case("outage_storm", seed=41, msg_limit=None, outage_minute=31.0, join_limit=25, peak=380),
        Case("two_projects", seed=51, other_project=True, peak=360),
        Case("forty_webinars", seed=61, webinars=40, live_webinars=3, peak=450, auth_limit=10),
        Case("presence_only", seed=71, monitor=False, shape="two_waves", peak=400, msg_limit=1600),
    )
}


# ---------------------------------------------------------------------------------- helpers


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _ref(rng: np.random.Generator) -> str:
    return "".join(chr(ord("a") + int(i)) for i in rng.integers(0, 26, 20))


def _pg_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _micros(t: datetime) -> int:
    # Supabase's log timestamps are microseconds, millisecond-precise.
    return int(t.timestamp() * 1000) * 1000


def _audience_density(case: Case, minute: np.ndarray) -> np.ndarray:
    """Relative arrival intensity per minute of the simulation (pre-roll included)."""
    m = minute.astype(float)
    if case.shape == "ramp":
        return np.clip((m + 10) / (case.minutes * 0.8), 0.05, 1.0) ** 2
    if case.shape == "two_waves":
        a = np.exp(-0.5 * ((m - 12) / 6) ** 2)
        b = 1.3 * np.exp(-0.5 * ((m - 42) / 5) ** 2)
        return a + b + 0.05
    return np.exp(-0.5 * ((m - case.minutes * 0.45) / (case.minutes * 0.2)) ** 2) + 0.05


# ------------------------------------------------------------------------------- the agents


@dataclasses.dataclass
class Agent:
    """One viewer: identity, where it connects from and its state."""

    user: str
    ip: str
    mobile: bool
    webinar: str
    arrive: float
    leave: float
    state: str = "away"
    gen: int = 0
    attempts: int = 0
    session: dict | None = None


class World:
    """Everything the agents share: limits, clocks, and the rows the exports will hold."""

    def __init__(self, case: Case, rng: np.random.Generator, ref: str, webinar_ids: list[str]):
        self.case, self.rng, self.ref = case, rng, ref
        self.t0 = _utc(case.start)
        self.end = case.minutes * 60.0
        self.webinar_ids = webinar_ids
        self.edge: list[dict] = []
        self.pg: list[dict] = []
        self.rt: list[dict] = []
        self.sessions: list[dict] = []
        self.registrations: list[dict] = []
        self.queue: list[tuple] = []
        self.seq = 0
        self.subscribed: dict[str, int] = {}
        self.sockets = 0
        self.fanout: dict[int, int] = {}
        self.joins: dict[int, int] = {}
        self.auth_hits: dict[str, list[float]] = {}
        self.truth_counts: dict[str, int] = {}
        self.backend = 190_000
        self.other_rows = (0, 0)  # rows of a second project mixed in: (edge, postgres)
        self.other_ref: str | None = None

    # -- the clock
    def at(self, t: float) -> datetime:
        return self.t0 + timedelta(seconds=t)

    def schedule(self, t: float, kind: str, agent: Agent | None, gen: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (t, self.seq, kind, agent, gen))

    def count(self, key: str) -> None:
        self.truth_counts[key] = self.truth_counts.get(key, 0) + 1

    def in_window(self, t: float) -> bool:
        return 0 <= t < self.end

    # -- the rows
    def request(self, t, agent, method, path, search, status, origin_ms, error_code=None):
        """Append one gateway row (only inside the window: the export's bounds)."""
        if not self.in_window(t):
            return
        when = self.at(t)
        ray = self.rng.bytes(8).hex()
        host = f"{self.ref}.supabase.co"
        url = f"https://{host}{path}{search}"
        ua = MOBILE_UA if agent is not None and agent.mobile else WEB_UA
        ip = agent.ip if agent is not None else "192.0.2.77"
        client = (
            "supabase-flutter/2.8.1"
            if agent is not None and agent.mobile
            else "supabase-js-web/2.49.8"
        )
        if agent is None:
            ua, client = "python-requests/2.32.3", None
        user = agent.user if agent is not None else None
        auth = [{"invalid": None, "payload": [{"role": "anon"}]}]
        if user is not None and not path.startswith("/auth/"):
            auth = [{"invalid": None, "payload": [{"role": "authenticated", "subject": user}]}]
        self.edge.append(
            {
                "id": _uuid(self.rng),
                "timestamp": _micros(when),
                "event_message": f"{method} | {status} | {ip} | {ray} | {url} | {ua}",
                "identifier": self.ref,
                "metadata": [
                    {
                        "load_balancer_redirect_identifier": None,
                        "logflare_worker": [{"worker_id": "W" + ray[:5].upper()}],
                        "request": [
                            {
                                "cf": [{"colo": "FRA", "country": "DE", "httpProtocol": "HTTP/2"}],
                                "headers": [
                                    {
                                        "accept": "application/json",
                                        "cf_connecting_ip": ip,
                                        "cf_ipcountry": "DE",
                                        "cf_ray": ray,
                                        "host": host,
                                        "user_agent": ua,
                                        "x_client_info": client,
                                        "x_forwarded_proto": "https",
                                        "x_real_ip": ip,
                                    }
                                ],
                                "host": host,
                                "method": method,
                                "path": path,
                                "protocol": "https:",
                                "sb": [
                                    {
                                        "auth_user": user
                                        if not path.startswith("/auth/")
                                        else None,
                                        "jwt": [
                                            {
                                                "apikey": [
                                                    {"invalid": None, "payload": [{"role": "anon"}]}
                                                ],
                                                "authorization": auth,
                                            }
                                        ],
                                    }
                                ],
                                "search": search,
                                "url": url,
                            }
                        ],
                        "response": [
                            {
                                "headers": [
                                    {
                                        "cf_cache_status": "DYNAMIC",
                                        "cf_ray": f"{ray}-FRA",
                                        "content_type": "application/json; charset=utf-8",
                                        "date": when.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                                        "x_sb_error_code": error_code,
                                    }
                                ],
                                "origin_time": int(origin_ms),
                                "status_code": status,
                            }
                        ],
                    }
                ],
            }
        )

    def db_error(
        self,
        t,
        sqlstate,
        message,
        query,
        command,
        detail=None,
        role="authenticator",
        app=POSTGREST,
        severity="ERROR",
    ):
        """Append one Postgres line, a few milliseconds before the response it causes."""
        if not self.in_window(t):
            return
        when = self.at(t)
        self.backend += int(self.rng.integers(1, 40))
        self.pg.append(
            {
                "id": _uuid(self.rng),
                "timestamp": _micros(when),
                "event_message": message,
                "identifier": self.ref,
                "metadata": [
                    {
                        "host": f"db-{self.ref}",
                        "parsed": [
                            {
                                "application_name": app,
                                "backend_type": "client backend",
                                "command_tag": command,
                                "connection_from": f"::1:{40000 + self.backend % 20000}",
                                "context": None,
                                "database_name": "postgres",
                                "detail": detail,
                                "error_severity": severity,
                                "hint": None,
                                "internal_query": None,
                                "process_id": self.backend,
                                "query": query,
                                "session_id": f"{self.backend:x}.{self.backend % 4096:x}",
                                "session_line_num": int(self.rng.integers(1, 300)),
                                "session_start_time": (self.t0 - timedelta(hours=2)).strftime(
                                    "%Y-%m-%d %H:%M:%S UTC"
                                ),
                                "sql_state_code": sqlstate,
                                "timestamp": when.strftime("%Y-%m-%d %H:%M:%S.")
                                + f"{when.microsecond // 1000:03d} UTC",
                                "transaction_id": 0,
                                "user_name": role,
                                "virtual_transaction_id": f"{self.backend % 64}/{self.backend}",
                            }
                        ],
                    }
                ],
            }
        )

    def realtime(
        self, t, message, level="error", measurements=None, module="RealtimeWeb.RealtimeChannel"
    ):
        if not self.in_window(t):
            return
        when = self.at(t)
        meta = {"external_id": self.ref, "level": level, "project": self.ref}
        if measurements is not None:
            meta["measurements"] = [measurements]
        else:
            meta["context"] = [
                {
                    "application": "realtime",
                    "domain": ["elixir"],
                    "module": f"Elixir.{module}",
                    "pid": f"<0.{self.rng.integers(1000, 60000)}.{self.rng.integers(0, 40)}>",
                    "time": _micros(when),
                    "vm": [{"node": "realtime-prod@fdaa:2:7b1:a7b:c1:9:44d0:2"}],
                }
            ]
        self.rt.append(
            {
                "id": _uuid(self.rng),
                "timestamp": _micros(when),
                "event_message": message,
                "metadata": [meta],
            }
        )


def _backoff(agent: Agent, jitter: bool, rng: np.random.Generator) -> float:
    base = min(2.0**agent.attempts, 30.0)
    return base * (0.5 + rng.random()) if jitter else base


def _simulate(case: Case, world: World, agents: list[Agent]) -> None:
    """Run every agent's state machine over the pre-roll and the window."""
    rng, c = world.rng, case
    for a in agents:
        world.schedule(a.arrive, "arrive", a)
    # Realtime's billing metrics, every 5 s while Realtime is up.
    for k in range(int(world.end // 5)):
        world.schedule(k * 5.0 + 0.4, "billing", None)
    if c.cron_every:
        for m in range(0, c.minutes, c.cron_every):
            world.schedule(m * 60.0 + 2.0, "cron", None)
    if c.monitor_script:
        for k in range(int(world.end // 20)):
            world.schedule(k * 20.0 + 7.3, "script", None)
    outage = (c.outage_minute * 60.0, c.outage_minute * 60.0 + 30.0) if c.outage_minute else None
    if outage:
        world.schedule(outage[0], "outage", None)
    cron_until = -1.0
    while world.queue:
        t, _, kind, a, gen = heapq.heappop(world.queue)
        if t >= world.end:
            break
        if a is not None and kind not in ("arrive",) and gen != a.gen:
            continue  # an event of a socket that has since dropped
        down = outage is not None and outage[0] <= t < outage[1]
        sec = int(math.floor(t))
        if kind == "billing":
            if not down:
                world.realtime(
                    t,
                    "Billing metrics: [:realtime, :connections]",
                    level="info",
                    measurements={
                        "connected": world.sockets,
                        "connected_cluster": world.sockets,
                        "limit": 500,
                    },
                )
        elif kind == "script":
            # One monitoring script on one address calls a function nobody deployed.
            world.db_error(
                t,
                "42883",
                "function public.healthcheck() does not exist",
                "SELECT public.healthcheck()",
                "SELECT",
            )
            world.request(t + 0.004, None, "POST", "/rest/v1/rpc/healthcheck", "", 404, 6)
            world.count("42883")
        elif kind == "cron":
            # pg_cron's refresh takes an exclusive lock on the leaderboard for 70 s.
            cron_until = t + 70.0
            world.count("cron_runs")
        elif kind == "outage":
            for b in agents:
                if b.state in ("joined", "socket"):
                    _drop(world, b, t + rng.random() * 0.5, jitter=False)
        elif kind == "arrive":
            a.state = "signing_in"
            a.attempts = 0
            if a.arrive > -300 and rng.random() < 0.3:
                # A walk-in registers a minute before it joins.
                world.registrations.append({"webinar": a.webinar, "user": a.user, "t": t - 40})
                world.request(t - 40, a, "POST", "/rest/v1/registrations", "", 201, 14)
            world.schedule(t, "signin", a, a.gen)
        elif kind == "signin":
            hits = world.auth_hits.setdefault(a.ip, [])
            hits[:] = [h for h in hits if h > t - 300]
            hits.append(t)
            limited = c.auth_limit is not None and len(hits) > c.auth_limit
            if limited:
                world.request(
                    t,
                    a,
                    "POST",
                    "/auth/v1/token",
                    "?grant_type=password",
                    429,
                    2,
                    "over_request_rate_limit",
                )
                world.count("http:429:auth")
                a.attempts += 1
                if a.attempts <= 6:
                    world.schedule(t + _backoff(a, True, rng) * 4, "signin", a, a.gen)
                else:
                    a.state = "gave_up"
            else:
                world.request(
                    t,
                    a,
                    "POST",
                    "/auth/v1/token",
                    "?grant_type=password",
                    200,
                    60 + rng.gamma(2, 20),
                )
                a.attempts = 0
                world.schedule(t + 0.5 + rng.random(), "connect", a, a.gen)
        elif kind == "connect":
            if t >= a.leave:
                a.state = "left"
                continue
            search = f"?apikey={ANON_KEY}&vsn=1.0.0"
            if down:
                world.request(t, a, "GET", "/realtime/v1/websocket", search, 503, 1)
                world.count("http:503:realtime")
                a.attempts += 1
                world.schedule(t + _backoff(a, False, rng), "connect", a, a.gen)
                continue
            world.request(t, a, "GET", "/realtime/v1/websocket", search, 101, 30 + rng.gamma(2, 10))
            world.sockets += 1
            a.state = "socket"
            world.schedule(t + 0.05 + rng.random() * 0.1, "join", a, a.gen)
        elif kind == "join":
            if t >= a.leave:
                # Gave up on the channel and closed the tab before it ever joined.
                _close(world, a, t)
                a.state, a.gen = "left", a.gen + 1
                continue
            n = world.joins.get(sec, 0)
            if n >= c.join_limit:
                world.realtime(
                    t, "ClientJoinRateLimitReached: Too many joins per second", level="error"
                )
                world.count("realtime:rate_limit:join")
                a.attempts += 1
                world.schedule(t + _backoff(a, outage is None, rng), "join", a, a.gen)
                continue
            world.joins[sec] = n + 1
            a.state, a.attempts = "joined", 0
            world.subscribed[a.webinar] = world.subscribed.get(a.webinar, 0) + 1
            a.session = {
                "id": _uuid(rng),
                "webinar": a.webinar,
                "user": a.user,
                "sid": _uuid(rng),
                "in": t,
                "out": None,
            }
            world.sessions.append(a.session)
            world.request(
                t + 0.02, a, "GET", "/rest/v1/webinars", f"?select=*&id=eq.{a.webinar}", 200, 9
            )
            world.schedule(t + rng.random() * 30, "poll", a, a.gen)
            world.schedule(t + rng.exponential(1 / c.reaction_rate), "act", a, a.gen)
            end = min(a.leave, t + rng.exponential(1800))
            world.schedule(max(end, t + 1.0), "drop_or_leave", a, a.gen)
        elif kind == "poll":
            world.request(
                t,
                a,
                "GET",
                "/rest/v1/questions",
                f"?select=*&webinar_id=eq.{a.webinar}&order=created_at.desc",
                200,
                8 + rng.gamma(2, 4),
            )
            if c.cron_every:
                lb = t + 0.3
                if lb < cron_until:
                    q = LEADERBOARD_QUERY
                    world.db_error(
                        lb + 8.0,
                        "57014",
                        "canceling statement due to statement timeout",
                        q,
                        "SELECT",
                    )
                    world.request(
                        lb + 8.006,
                        a,
                        "GET",
                        "/rest/v1/leaderboard",
                        f"?select=*&webinar_id=eq.{a.webinar}&limit=20",
                        500,
                        8006,
                    )
                    world.count("57014")
                else:
                    world.request(
                        lb,
                        a,
                        "GET",
                        "/rest/v1/leaderboard",
                        f"?select=*&webinar_id=eq.{a.webinar}&limit=20",
                        200,
                        12 + rng.gamma(2, 4),
                    )
            world.schedule(t + 30 + rng.normal(0, 1), "poll", a, a.gen)
        elif kind == "act":
            _act(world, a, t, sec)
            world.schedule(t + rng.exponential(1 / c.reaction_rate), "act", a, a.gen)
        elif kind == "drop_or_leave":
            if t >= a.leave:
                _close(world, a, t)
                a.state = "left"
                a.gen += 1
            else:
                _drop(world, a, t, jitter=True)


def _close(world: World, a: Agent, t: float) -> None:
    if a.state == "joined":
        world.subscribed[a.webinar] -= 1
        a.session["out"] = t
    if a.state in ("joined", "socket"):
        world.sockets -= 1


def _drop(world: World, a: Agent, t: float, jitter: bool) -> None:
    """The socket drops: presence ends, the client reconnects on its back-off."""
    _close(world, a, t)
    a.gen += 1
    a.state, a.attempts = "reconnecting", 1
    world.schedule(t + _backoff(a, jitter, world.rng), "connect", a, a.gen)


def _act(world: World, a: Agent, t: float, sec: int) -> None:
    """A chat line or a reaction: a broadcast to every subscriber, maybe a table insert."""
    c, rng = world.case, world.rng
    if rng.random() < c.chat_share:
        q = (
            'WITH pgrst_source AS (INSERT INTO "public"."chat_messages"'
            '("body", "user_id", "webinar_id") '
            'SELECT "pgrst_body"."body", "pgrst_body"."user_id", "pgrst_body"."webinar_id" FROM '
            "(SELECT $1 AS json_data) pgrst_payload, LATERAL "
            '(SELECT "body", "user_id", "webinar_id" '
            'FROM json_populate_record(null::"public"."chat_messages", json_data)) pgrst_body '
            "RETURNING 1) SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS "
            "page_total FROM (SELECT * FROM pgrst_source) _postgrest_t"
        )
        if c.deploy_minute is not None and t >= c.deploy_minute * 60:
            world.db_error(
                t,
                "23502",
                'null value in column "room_id" of relation "chat_messages" '
                "violates not-null constraint",
                q,
                "INSERT",
                detail=f"Failing row contains ({_uuid(rng)}, null, {a.webinar}, {a.user}, hi).",
            )
            world.request(t + 0.005, a, "POST", "/rest/v1/chat_messages", "", 400, 5)
            world.count("23502")
            return
        world.request(t, a, "POST", "/rest/v1/chat_messages", "", 201, 11 + rng.gamma(2, 3))
    elif a.mobile if c.bug_by_client else (c.mobile_bug and rng.random() < 0.2):
        # The Android build logs every reaction with the literal string 'undefined' as its id.
        q = (
            'INSERT INTO "public"."reaction_log"("reaction_id", "user_id") '
            "SELECT ... FROM json_populate_record(...)"
        )
        world.db_error(t, "22P02", 'invalid input syntax for type uuid: "undefined"', q, "INSERT")
        world.request(t + 0.004, a, "POST", "/rest/v1/reaction_log", "", 400, 4)
        world.count("22P02")
    if world.case.msg_limit is None:
        return
    load = world.fanout.get(sec, 0) + world.subscribed[a.webinar]
    if load > world.case.msg_limit:
        world.realtime(
            t + 0.001,
            "MessagePerSecondRateLimitReached: Too many messages per second",
            level="error",
        )
        world.count("realtime:rate_limit:msg")
        return
    world.fanout[sec] = load


# ------------------------------------------------------------------------------ the writing


def _agents(case: Case, rng: np.random.Generator, webinar_ids: list[str]) -> list[Agent]:
    """Draw the audience: arrival minute from the shape, a stay, an address, a device."""
    minutes = np.arange(-10, case.minutes)
    dens = _audience_density(case, minutes)
    # Mean stay ~ 25 min, so concurrency ~ arrivals/min x 25 at the top.
    stay_mean = 25.0
    per_min = dens / dens.max() * case.peak / stay_mean
    nats = ["198.51.100.23", "198.51.100.87", "203.0.113.140"]
    agents = []
    for m, lam in zip(minutes, per_min, strict=True):
        for _ in range(int(rng.poisson(lam))):
            arrive = (m + rng.random()) * 60.0
            stay = rng.gamma(3.0, stay_mean / 3.0) * 60.0
            ip = (
                nats[int(rng.integers(0, 3))]
                if rng.random() < 0.33
                else (f"100.{rng.integers(64, 128)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}")
            )
            share = [0.7, 0.2, 0.1][: case.live_webinars]
            w = webinar_ids[int(rng.choice(len(share), p=np.array(share) / sum(share)))]
            if case.live_webinars > 2 and w == webinar_ids[2] and arrive < 35 * 60:
                arrive = 35 * 60 + rng.random() * 600  # the third webinar starts at minute 35
            agents.append(
                Agent(
                    _uuid(rng),
                    ip,
                    bool(rng.random() < 0.2) if case.mobile_bug and case.bug_by_client else False,
                    w,
                    arrive,
                    arrive + stay,
                )
            )
    return agents


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def _write_pages(directory: Path, rows: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["timestamp"], r["id"]))
    for i in range(0, max(len(rows), 1), PAGE_ROWS):
        body = json.dumps(
            {"result": rows[i : i + PAGE_ROWS], "error": None}, ensure_ascii=False
        ).encode()
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(body)
        (directory / f"page-{i // PAGE_ROWS + 1:04d}.json.gz").write_bytes(buf.getvalue())


def _k_truth(case: Case) -> tuple[float, float] | None:
    """The band of audiences where dropped broadcasts become visible: 1 per 10 min to 1 per min.

    A second's broadcasts are Poisson with mean ``rate x N``; each is delivered to N
    subscribers, so those past ``msg_limit // N`` are dropped. Below the mean-field
    ``sqrt(msg_limit / rate)`` the Poisson tail already drops some, so a soft limit's K is a
    band, not a point: from the audience whose expected drops reach one in ten minutes to the
    one whose drops reach one a minute. With several live channels the tenant's load is a sum
    of squares: no one K.
    """
    if case.msg_limit is None or case.live_webinars > 1:
        return None
    from scipy.stats import poisson

    def drops(n: int) -> float:
        cap = case.msg_limit // n
        ks = np.arange(cap + 1, cap + 200)
        return float(((ks - cap) * poisson.pmf(ks, case.reaction_rate * n)).sum())

    onset = next(n for n in range(10, 5000) if drops(n) >= 1 / 600)
    visible = next(n for n in range(onset, 5000) if drops(n) >= 1 / 60)
    return float(onset), float(visible)


def write_incident(root: Path, name: str, case: Case | None = None) -> Path:
    """Write case ``name`` (or ``case``, a variant named ``name``) under ``root / name``."""
    case = case or CASES[name]
    rng = np.random.default_rng(case.seed)
    ref = _ref(rng)
    directory = Path(root) / name
    if directory.exists():
        shutil.rmtree(directory)  # a case is written whole, never over an older one
    t0 = _utc(case.start)
    n_webinars = max(case.webinars, case.live_webinars)
    webinar_ids = [_uuid(rng) for _ in range(n_webinars)]
    world = World(case, rng, ref, webinar_ids[: case.live_webinars])
    agents = _agents(case, rng, webinar_ids)
    _simulate(case, world, agents)
    if case.other_project:
        _mix_other_project(case, world, rng)
    _write_pages(directory / "edge_logs", world.edge)
    _write_pages(directory / "postgres_logs", world.pg)
    _write_pages(directory / "realtime_logs", world.rt)
    tables = directory / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    titles = ["Spring product launch", "Quarterly all-hands", "Onboarding clinic"]
    wrows = []
    for i, wid in enumerate(webinar_ids):
        if i < case.live_webinars:
            s = t0 + timedelta(minutes=35 if i == 2 else 0)
            e = t0 + timedelta(minutes=case.minutes)
            title, status = titles[i], "ended"
        else:
            # The catalogue: past and future webinars, none in the window.
            day = int(rng.integers(3, 60)) * (1 if i % 2 else -1)
            s = t0 + timedelta(days=day, hours=int(rng.integers(-3, 5)))
            e = s + timedelta(minutes=60)
            title, status = f"Weekly clinic #{i}", "ended" if day < 0 else "scheduled"
        wrows.append(
            [
                wid,
                title,
                _pg_time(s),
                _pg_time(e),
                status,
                _pg_time(t0 - timedelta(days=30 - i % 20)),
            ]
        )
    (tables / "webinars.csv").write_bytes(
        _csv_bytes(["id", "title", "starts_at", "ends_at", "status", "created_at"], wrows)
    )
    regs = {(a.webinar, a.user): t0 - timedelta(days=float(rng.uniform(1, 14))) for a in agents}
    for r in world.registrations:
        regs[(r["webinar"], r["user"])] = world.at(r["t"])
    (tables / "registrations.csv").write_bytes(
        _csv_bytes(
            ["webinar_id", "user_id", "created_at"],
            [[w, u, _pg_time(t)] for (w, u), t in sorted(regs.items(), key=lambda kv: kv[1])],
        )
    )
    prows = []
    for s in world.sessions:
        if s["out"] is not None and s["out"] < 0:
            continue
        out = "" if s["out"] is None else _pg_time(world.at(s["out"]))
        prows.append([s["id"], s["webinar"], s["user"], s["sid"], _pg_time(world.at(s["in"])), out])
    (tables / "webinar_live_presence.csv").write_bytes(
        _csv_bytes(["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"], prows)
    )
    if case.monitor:
        (tables / "webinar_viewer_counts.csv").write_bytes(_monitor(case, world, rng))
    (directory / "annotations.csv").write_bytes(
        _csv_bytes(["time_utc", "label", "note"], _annotations(case, world))
    )
    manifest = {
        "name": f"agents-{name}",
        "project_ref": ref,
        "window_start": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": (t0 + timedelta(minutes=case.minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
    }
    (directory / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n")
    sums = []
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != "SHA256SUMS":
            rel = p.relative_to(directory).as_posix()
            sums.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {rel}")
    (directory / "SHA256SUMS").write_text(
        "\n".join(sorted(sums, key=lambda s: s.split("  ")[1])) + "\n"
    )
    _TRUTH[name] = _truth(case, world, webinar_ids, ref)
    return directory


def _monitor(case: Case, world: World, rng: np.random.Generator) -> bytes:
    """The app's viewer-count monitor: every ~15 s, the open presence sessions per webinar."""
    rows, n = [], 0
    for wid in world.webinar_ids:
        ins = np.array(sorted(s["in"] for s in world.sessions if s["webinar"] == wid))
        outs = np.array(
            sorted(s["out"] for s in world.sessions if s["webinar"] == wid and s["out"] is not None)
        )
        t = 3.0 + rng.random() * 5
        while t < world.end:
            # Open at t: joined_at <= t < left_at.
            count = int(
                np.searchsorted(ins, t, side="right") - np.searchsorted(outs, t, side="right")
            )
            rows.append((t, wid, count))
            t += 15.0 + rng.normal(0, 0.8)
    rows.sort()
    out = []
    for t, wid, count in rows:
        n += 1
        out.append([n, wid, _pg_time(world.at(t)), count])
    return _csv_bytes(["id", "webinar_id", "sampled_at", "viewer_count"], out)


def _annotations(case: Case, world: World) -> list[list]:
    rows = []
    if case.deploy_minute is not None:
        rows.append(
            [
                world.at(case.deploy_minute * 60).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Migration 0042 deployed",
                "adds chat_messages.room_id",
            ]
        )
    if case.outage_minute is not None:
        rows.append(
            [
                world.at(case.outage_minute * 60).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Realtime unavailable",
                "about 30 s",
            ]
        )
    rows.append(["", "Post-event review", "time unknown"])
    return rows


def _mix_other_project(case: Case, world: World, rng: np.random.Generator) -> None:
    """Rows of a second project (another ref, its own errors) in the same export files."""
    other = _ref(rng)
    world.other_ref = other
    keep_ref, keep_edge, keep_pg = world.ref, len(world.edge), len(world.pg)
    world.ref = other
    ghost = Agent(_uuid(rng), "100.99.1.1", False, _uuid(rng), 0, 0)
    for k in range(600):
        t = k * 6.0 + rng.random()
        status = 409 if k % 5 == 0 else 200
        if status == 409:
            world.db_error(
                t,
                "23505",
                'duplicate key value violates unique constraint "orders_pkey"',
                'INSERT INTO "public"."orders" ...',
                "INSERT",
                detail="Key (id)=(4411) already exists.",
            )
        world.request(t + 0.003, ghost, "POST", "/rest/v1/orders", "", status, 7)
    world.other_rows = (len(world.edge) - keep_edge, len(world.pg) - keep_pg)
    world.ref = keep_ref


_TRUTH: dict[str, dict] = {}


def _truth(case: Case, world: World, webinar_ids: list[str], ref: str) -> dict:
    """What the writer knows: each class's mechanism, the verdicts it allows, K and lag."""
    counts = world.truth_counts
    classes: dict[str, dict] = {}
    if counts.get("realtime:rate_limit:msg", 0) + counts.get("realtime:rate_limit:join", 0):
        if case.msg_limit is not None and counts.get("realtime:rate_limit:msg", 0) > counts.get(
            "realtime:rate_limit:join", 0
        ):
            few = counts["realtime:rate_limit:msg"] < 30  # a limit barely met: too few to test
            classes["realtime:rate_limit"] = {
                "mechanism": "capacity: messages per second, quadratic fan-out",
                "expect": ["capacity", "insufficient"] if few else ["capacity"],
                "k_band": _k_truth(case),
                "lag": 0,
            }
        elif case.outage_minute is not None:
            classes["realtime:rate_limit"] = {
                "mechanism": "episode: reconnect storm after a 30 s outage",
                "expect": ["unrelated", "undetermined"],
            }
        else:
            classes["realtime:rate_limit"] = {
                "mechanism": "join limit at arrival peaks",
                "expect": ["unrelated", "undetermined", "capacity", "traffic", "insufficient"],
            }
    if counts.get("http:429:auth", 0) >= 5:
        classes["http:429:auth/*"] = {
            "mechanism": "per-address sign-in limit: arrival rate, not audience",
            "expect": ["unrelated", "undetermined", "traffic", "insufficient"],
        }
    if counts.get("http:503:realtime", 0) >= 5:
        classes["http:503:realtime/*"] = {
            "mechanism": "episode: 30 s outage",
            "expect": ["unrelated", "undetermined"],
        }
    if counts.get("22P02"):
        classes["22P02"] = {"mechanism": "flat client bug (one app build)", "expect": ["traffic"]}
    if counts.get("42883"):
        classes["42883"] = {
            "mechanism": "one script, one address, every 20 s",
            "expect": ["unrelated"],
        }
    if counts.get("23502"):
        classes["23502"] = {
            "mechanism": f"regime: deploy at minute {case.deploy_minute}, flat after",
            "expect": ["traffic", "undetermined"],
        }
    if counts.get("57014"):
        classes["57014"] = {
            "mechanism": f"periodic: cron lock every {case.cron_every} min",
            "expect": ["unrelated", "undetermined"],
        }
    return {
        "webinar_id": webinar_ids[0],
        "project_ref": ref,
        "classes": classes,
        "counts": dict(sorted(counts.items())),
        "rows": {
            "edge": len(world.edge) - world.other_rows[0],
            "pg": len(world.pg) - world.other_rows[1],
            "realtime": len(world.rt),
            "other_edge": world.other_rows[0],
            "other_pg": world.other_rows[1],
        },
        "other_ref": world.other_ref,
        "sessions": len(world.sessions),
        "peak": _peak(world, webinar_ids[0]),
        "people": len({s["user"] for s in world.sessions}),
    }


def _peak(world: World, webinar: str) -> int:
    """The most open presence sessions of the webinar at any whole second of the window."""
    ins = np.sort([s["in"] for s in world.sessions if s["webinar"] == webinar])
    outs = np.sort(
        [s["out"] for s in world.sessions if s["webinar"] == webinar and s["out"] is not None]
    )
    grid = np.arange(0.0, world.end, 1.0)
    return int(
        (np.searchsorted(ins, grid, side="right") - np.searchsorted(outs, grid, side="right")).max()
    )


def truth(name: str) -> dict:
    """The truth of a case written in this process (written first if it was not)."""
    if name not in _TRUTH:
        import tempfile

        write_incident(Path(tempfile.mkdtemp()), name)
    return _TRUTH[name]


def main(argv: list[str]) -> int:
    show = "--truth" in argv
    args = [a for a in argv if a != "--truth"]
    root = Path(args[0])
    for name in args[1:] or list(CASES):
        directory = write_incident(root, name)
        print(directory, _TRUTH[name]["webinar_id"])
        if show:
            print(json.dumps(_TRUTH[name], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
