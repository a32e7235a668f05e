"""An eighth independent writer of Supabase incidents: a serverless project, closed-loop clients.

No import from ``analysis``; nothing shared with ``analysis.simulate``,
``tests/unseen_incidents.py``, ``tests/_unseen_qa.py``, ``tests/_unseen_mech.py``,
``tests/_unseen_queue.py``, ``tests/_unseen_agents.py``, ``tests/_unseen_stack.py`` or
``tests/_unseen_rooms.py``. Written from docs/contract.md and the shapes Supabase's own code
writes (Supavisor's errors, Auth's limiter, Studio's queries of ``function_edge_logs``).

The other writers' clients send requests on their own clock (a poll period, a Poisson process):
the load offered does not care how the project answers. Here every viewer's client is a
*closed loop*: it sends the next call only after the last one answered (plus a think time), and
it reacts to failures the way supabase-js and an app's own code do (a retry a few seconds after
a 546, a refresh tried again at every 30-second tick after a 429). So the requests a failure
causes are in the logs, and a slow answer lowers the traffic. The failing parts are the products
the other writers left aside:

- ``isolates``: an Edge Function (``live-captions``) served by a fixed number of isolates;
  each call in flight holds memory, and a call that arrives at an isolate already holding
  ``per_isolate`` calls takes it past 256 MB: the runtime kills the isolate and *every* call in
  it is answered 546 (``WORKER_LIMIT``) at once. Failures come in clumps, and their share rises
  steeply, without a written threshold, with the calls in flight (Poisson in the audience).
  Truth: capacity, K the band of audience where 0.5 % to 5 % of calls fail, measured by the same
  mechanism run at a steady audience (:func:`steady_band`).
- ``upstream``: an Edge Function (``ask-ai``) forwarding viewers' questions to an upstream model
  with ``slots`` concurrent calls, first come first served; the gateway answers 504 when the
  function has not responded in 150 s (the request idle timeout). The queue fills while the
  audience asks more than the slots serve and drains after: errors start minutes after the
  audience passes K and go on after it falls (a backlog, not a lag). Truth: capacity, K between
  the saturation point and the peak, a lag of up to a quarter of an hour.
- ``pooler``: an Edge Function (``save-progress``) reaching Postgres through Supavisor. In
  session mode each call holds a pooler client while it runs and clients are limited to
  ``pool_size``: the next is refused at once (``EMAXCONNSESSION``, supavisor
  ``max_connections_error.ex``) and the function answers 500 (a loss system: no queue, no
  latency before the refusals). In transaction mode the same calls hold a client too but the
  limit is ``max_clients`` (``EMAXCONN``), far above them: nothing fails (the study's control).
  Truth: capacity, K the band where 0.5 % to 5 % of calls are refused (:func:`steady_band`).
- ``hall``: a hybrid event whose in-room audience shares the venue's one public address. Auth's
  limiter on ``/token`` is a token bucket per address (150 per 5 minutes, burst 30; supabase/auth
  ``api.go``); every client refreshes its session when it loads and again about 525 s later (JWT
  expiry 600 s, supabase-js's 30-second tick and 3-tick margin), so the address's refresh rate
  follows the *concurrent* room audience; past it, Auth answers 429 and each refused client
  retries at every tick: a retry storm that outlives the crowd. One address, many users.
- ``chat_bug``: one client build (a fifth of the viewers) sends chat lines without cutting them
  to the column's 280 characters; a fixed share of its lines fail (22001, 400): a flat rate.
- ``brownout``: Storage's backend unreachable for two stretches of about a minute at times of
  its own; slide downloads (every viewer fetches the new slide when the host moves on) meet
  503s whatever the audience.

Audience and export shapes the other writers did not make: a load known only from Realtime's
billing samples (``connected``; no viewer-count monitor and no presence table: ``billing_only``);
one limit met twice, by two waves of the same audience two hours apart in a window across UTC
midnight (``two_waves``); and the sources the package does not analyse written beside the
gateway as Supabase stores them (``function_edge_logs`` for every invocation, ``function_logs``
with each isolate's shutdown, ``auth_logs`` with Auth's own line for each 429), each row to be
counted as read and rejected, never dropped.

``python tests/_unseen_isolates.py OUT [case ...]`` writes cases under ``OUT/<name>`` and
prints ``<dir> <webinar id>`` per case; ``--truth`` prints each case's truth as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import hashlib
import heapq
import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

PAGE_ROWS = 1000
#: Verdicts a correct analysis may give errors that do not depend on the audience.
NULL_EXPECT = ["unrelated", "undetermined", "insufficient"]
#: The venue's one public address (TEST-NET-1) behind which the room's audience signs in.
HALL_ADDRESS = "192.0.2.44"
#: Edge Functions' memory per isolate and what the runtime itself holds (MB).
ISOLATE_MB, ISOLATE_BASE_MB = 256, 40
#: Auth's token endpoint limiter (supabase/auth: RateLimitTokenRefresh / (60 * 5), burst 30).
AUTH_RATE, AUTH_BURST = 150 / 300, 30
#: supabase-js: the session is refreshed at the first 30 s tick within 90 s of the JWT's expiry.
JWT_EXPIRY_S, TICK_S, MARGIN_S = 600, 30, 90
#: The gateway's request idle timeout for Edge Functions.
IDLE_TIMEOUT_S = 150


@dataclasses.dataclass(frozen=True)
class Case:
    """One incident: a window, crowds of viewers, the mechanisms that fail, the export shape."""

    name: str
    seed: int
    start: str
    minutes: int
    display_tz: str
    #: (minute the crowd is called, size, spread of arrivals in minutes, median stay in minutes)
    crowds: tuple
    mechanisms: dict
    load: str = "monitor"
    integer_id: bool = False


CASES: dict[str, Case] = {}


def register(case: Case) -> Case:
    """Add ``case`` to :data:`CASES` (the study registers its redrawn cases this way)."""
    CASES[case.name] = case
    if "truth" in globals():
        truth.cache_clear()
        simulate.cache_clear()
    return case


_ISOLATES = {
    "isolates": 2,
    "per_isolate": 6,
    "median_s": 1.6,
    "sigma": 0.45,
    "think": (40, 80),
    "retry_s": 5.0,
}
register(
    Case(
        "isolates",
        seed=11,
        start="2026-05-19T12:00:00Z",
        minutes=60,
        display_tz="Europe/Lisbon",
        crowds=((4, 420, 9, 45),),
        mechanisms={"isolates": _ISOLATES, "chat_bug": {"share": 0.2, "long": 0.3}},
    )
)
register(
    Case(
        "upstream",
        seed=12,
        start="2026-05-21T01:00:00Z",
        minutes=60,
        display_tz="Asia/Seoul",
        crowds=((3, 300, 6, 28), (24, 260, 5, 22)),
        mechanisms={
            "upstream": {"slots": 5, "service_s": 7.0, "ask_every_s": 300, "retry_s": 12},
            "brownout": {"at": (17.4, 44.1), "length_s": (150, 110), "slides_every": (50, 110)},
        },
        integer_id=True,
    )
)
register(
    Case(
        "hall",
        seed=13,
        start="2026-06-02T07:30:00Z",
        minutes=60,
        display_tz="Europe/Madrid",
        crowds=((2, 520, 25, 50),),
        mechanisms={"hall": {"share": 0.7}, "chat_bug": {"share": 0.2, "long": 0.3}},
    )
)
register(
    Case(
        "billing_only",
        seed=14,
        start="2026-05-19T12:00:00Z",
        minutes=60,
        display_tz="Europe/Lisbon",
        crowds=((4, 420, 9, 45),),
        mechanisms={"isolates": _ISOLATES},
        load="billing",
    )
)
register(
    Case(
        "two_waves",
        seed=15,
        start="2026-07-31T23:00:00Z",
        minutes=120,
        display_tz="America/Sao_Paulo",
        crowds=((3, 380, 6, 30), (68, 400, 6, 32)),
        mechanisms={"isolates": _ISOLATES, "chat_bug": {"share": 0.2, "long": 0.3}},
        integer_id=True,
    )
)

register(
    Case(
        "session_pool",
        seed=16,
        start="2026-03-29T00:30:00Z",
        minutes=60,
        display_tz="Europe/London",
        crowds=((3, 420, 10, 45),),
        mechanisms={
            "pooler": {
                "mode": "session",
                "pool_size": 9,
                "max_clients": 200,
                "median_s": 0.9,
                "sigma": 0.5,
                "think": (30, 60),
                "retry_s": 3.0,
            },
            "chat_bug": {"share": 0.2, "long": 0.3},
        },
    )
)

FAST = ("isolates", "hall")
SLOW = ("upstream", "billing_only", "two_waves", "session_pool")


def _hex(*parts) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _uuid(*parts) -> str:
    h = _hex(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def project_ref(name: str) -> str:
    """Return case ``name``'s 20-letter project reference."""
    return "".join("abcdefghijklmnopqrstuvwxyz"[int(c, 16) % 26] for c in _hex("ref", name)[:20])


def webinar_id(name: str) -> str:
    """Return the id of case ``name``'s webinar (the report's)."""
    if CASES[name].integer_id:
        return str(int(_hex("webinar", name)[:10], 16) % 900_000 + 100_000)
    return _uuid("webinar", name)


def _start(case: Case) -> datetime:
    return datetime.fromisoformat(case.start.replace("Z", "+00:00")).astimezone(UTC)


# -- the audience --------------------------------------------------------------------------


def draw_audience(case: Case, rng: np.random.Generator) -> dict:
    """Return every viewer's join and leave second, and whether they sit in the hall."""
    total = case.minutes * 60.0
    join, leave, hall = [], [], []
    for at, size, spread, stay in case.crowds:
        arrive = at * 60.0 + rng.gamma(2.0, spread * 30.0, size)
        join.append(arrive)
        leave.append(arrive + rng.lognormal(math.log(stay * 60.0), 0.45, size))
        # In ``hall`` a share of every crowd sits in the room (one address), the rest online.
        share = case.mechanisms.get("hall", {}).get("share", 0.0)
        hall.append(rng.random(size) < share)
    trickle = rng.poisson(0.25 * case.minutes)
    arrive = rng.uniform(0, total, trickle)
    join.append(arrive)
    leave.append(arrive + rng.exponential(300.0, trickle))
    hall.append(np.zeros(trickle, bool))
    join, leave, hall = (np.concatenate(x) for x in (join, leave, hall))
    keep = join < total - 5
    order = np.argsort(join[keep], kind="stable")
    return {
        "join": np.round(join[keep][order], 3),
        "leave": np.round(leave[keep][order], 3),
        "hall": hall[keep][order],
    }


def open_at(aud: dict, t: float) -> int:
    """Return the viewers present at second ``t``."""
    return int(np.sum((aud["join"] <= t) & (aud["leave"] > t)))


# -- the failing parts ---------------------------------------------------------------------


class Isolates:
    """An Edge Function's isolates: a call past ``per_isolate`` in flight kills its isolate."""

    def __init__(self, spec: dict, rng: np.random.Generator):
        self.n, self.cap = spec["isolates"], spec["per_isolate"]
        self.median, self.sigma = spec["median_s"], spec["sigma"]
        self.rng = rng
        self.flight: list[list] = [[] for _ in range(self.n)]
        self.kills: list[tuple[float, int, int]] = []

    def call(self, t: float, ticket: dict) -> None:
        """Start ``ticket`` at ``t``; it ends ``ok`` at ``t + duration`` unless killed first."""
        k = int(self.rng.integers(self.n))
        self.flight[k] = [c for c in self.flight[k] if c["end"] > t and not c.get("failed")]
        ticket["end"] = t + float(self.rng.lognormal(math.log(self.median), self.sigma))
        ticket["isolate"] = k
        if len(self.flight[k]) >= self.cap:
            # Memory past 256 MB: the supervisor terminates the isolate; every call in it
            # (this one too) is answered 546 now, and the next call boots a fresh isolate.
            for c in [*self.flight[k], ticket]:
                c["failed"], c["end"] = True, t + 0.02
            self.kills.append((t, k, len(self.flight[k]) + 1))
            self.flight[k] = []
            return
        self.flight[k].append(ticket)


class Upstream:
    """An upstream model with ``slots`` concurrent calls, first come first served."""

    def __init__(self, spec: dict, rng: np.random.Generator):
        self.free = [0.0] * spec["slots"]
        self.service = spec["service_s"]
        self.rng = rng

    def call(self, t: float) -> float:
        """Return the second the answer is ready for a call arriving at ``t``."""
        begin = max(t, heapq.heappop(self.free))
        done = begin + float(self.rng.exponential(self.service))
        heapq.heappush(self.free, done)
        return done


class Bucket:
    """Auth's token bucket for one address."""

    def __init__(self):
        self.level, self.at = float(AUTH_BURST), 0.0

    def take(self, t: float) -> bool:
        self.level = min(AUTH_BURST, self.level + (t - self.at) * AUTH_RATE)
        self.at = t
        if self.level >= 1.0:
            self.level -= 1.0
            return True
        return False


class Pooler:
    """Supavisor in front of Postgres: each call holds a client connection while it runs.

    In session mode a client keeps its server connection for the whole session, so the clients
    are limited to ``pool_size`` and the next is refused at once (``EMAXCONNSESSION``). In
    transaction mode the server connection is held per transaction and the clients are limited
    to ``max_clients`` only (``EMAXCONN``), far above what these calls open.
    """

    def __init__(self, spec: dict, rng: np.random.Generator):
        self.mode = spec["mode"]
        self.limit = spec["pool_size"] if self.mode == "session" else spec["max_clients"]
        self.median, self.sigma = spec["median_s"], spec["sigma"]
        self.rng = rng
        self.open: list[float] = []

    def call(self, t: float, ticket: dict) -> None:
        """Start ``ticket`` at ``t``: refused now when ``limit`` clients hold a connection."""
        self.open = [end for end in self.open if end > t]
        if len(self.open) >= self.limit:
            ticket["failed"], ticket["end"] = True, t + 0.03
            return
        ticket["end"] = t + float(self.rng.lognormal(math.log(self.median), self.sigma))
        self.open.append(ticket["end"])

    def log_message(self) -> str:
        """Supavisor's own line for a refusal (supavisor ``max_connections_error.ex``)."""
        if self.mode == "session":
            return (
                "(EMAXCONNSESSION) max clients reached in session mode - max clients are "
                f"limited to pool_size: {self.limit}"
            )
        return f"(EMAXCONN) max client connections reached in transaction mode, limit: {self.limit}"


_PARTS = {"isolates": Isolates, "pooler": Pooler}


@functools.cache
def steady_band(part: str, spec_items: tuple) -> tuple[int, int]:
    """Return the steady audiences at which 0.5 % and 5 % of the part's calls fail.

    The same closed loop and the same part, run for 15 minutes at each audience of a grid
    (a fixed seed), the share of failing calls interpolated on the audience.
    """
    spec = dict(spec_items)
    think, retry = spec["think"], spec["retry_s"]
    grid = np.arange(20, 1500, 20)
    shares = []
    for a in grid:
        rng = np.random.default_rng(int(a))
        unit, heap, calls, failed = _PARTS[part](spec, rng), [], 0, 0
        for i in range(a):
            heapq.heappush(heap, (float(rng.uniform(0, think[1])), i))
        while heap:
            t, i = heapq.heappop(heap)
            if t > 900:
                break
            ticket: dict = {}
            unit.call(t, ticket)
            calls += t > 120
            failed += bool(ticket.get("failed")) and t > 120
            pause = retry if ticket.get("failed") else float(rng.uniform(*think))
            heapq.heappush(heap, (ticket["end"] + pause, i))
        shares.append(failed / max(calls, 1))
        if shares[-1] > 0.08:
            break
    shares = np.maximum.accumulate(np.array(shares))
    low = float(np.interp(0.005, shares, grid[: len(shares)]))
    high = float(np.interp(0.05, shares, grid[: len(shares)]))
    return int(round(low)), int(round(high))


# -- the simulation ------------------------------------------------------------------------


@dataclasses.dataclass
class Log:
    """Rows of every source, and the counts the truth is made of."""

    edge: list = dataclasses.field(default_factory=list)
    pg: list = dataclasses.field(default_factory=list)
    realtime: list = dataclasses.field(default_factory=list)
    other: dict = dataclasses.field(default_factory=dict)


def _us(start: datetime, seconds: float) -> int:
    return int(round(start.timestamp() * 1000 + seconds * 1000)) * 1000


def _address(name: str, i: int) -> str:
    b = bytes.fromhex(_hex("addr", name, i)[:8])
    return f"{81 + b[0] % 120}.{b[1]}.{b[2]}.{1 + b[3] % 250}"


_INSERT = (
    'WITH pgrst_source AS (INSERT INTO "public"."chat_messages"("body", "webinar_id") '
    'SELECT ... RETURNING "public"."chat_messages".*)'
)
_BUILDS = ("supabase-js-web/2.45.4", "supabase-flutter/2.5.1")
_AGENT = {
    _BUILDS[0]: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    _BUILDS[1]: "Dart/3.4 (dart:io)",
}


class World:
    """Everything one case's clients do, in time order; rows are written as requests happen."""

    def __init__(self, case: Case):
        self.case, self.name = case, case.name
        self.start, self.total = _start(case), case.minutes * 60.0
        self.rng = rng_of(case)
        self.aud = draw_audience(case, self.rng)
        n = len(self.aud["join"])
        self.users = [_uuid("user", case.name, i) for i in range(n)]
        self.addresses = [
            HALL_ADDRESS if self.aud["hall"][i] else _address(case.name, i) for i in range(n)
        ]
        bug = case.mechanisms.get("chat_bug", {}).get("share", 0.0)
        self.builds = [_BUILDS[int(self.rng.random() < bug)] for _ in range(n)]
        self.ref = project_ref(case.name)
        self.log = Log()
        self.heap: list = []
        self.seq = 0
        self.counts: dict = {}
        self.func_rows: list = []
        self.func_logs: list = []
        self.auth_rows: list = []
        self.buckets: dict = {}
        m = case.mechanisms
        self.iso = Isolates(m["isolates"], self.rng) if "isolates" in m else None
        self.up = Upstream(m["upstream"], self.rng) if "upstream" in m else None
        self.pool = Pooler(m["pooler"], self.rng) if "pooler" in m else None
        self.pooler_rows: list = []
        self.waiting = set()

    # ---- rows
    def _edge(self, t, i, method, path, search, status, origin_ms, user=True):
        ip, build = self.addresses[i], self.builds[i]
        ray = _hex("ray", self.name, self.seq)[:16]
        self.seq += 1
        url = f"https://{self.ref}.supabase.co{path}{search}"
        request = {
            "method": method,
            "path": path,
            "search": search,
            "url": url,
            "host": f"{self.ref}.supabase.co",
            "headers": [
                {
                    "cf_connecting_ip": ip,
                    "x_forwarded_for": ip,
                    "user_agent": _AGENT[build],
                    "x_client_info": build,
                    "cf_ray": ray,
                }
            ],
        }
        if user:
            request["sb"] = [{"auth_user": self.users[i]}]
        row = {
            "id": _uuid("edge", self.name, self.seq),
            "timestamp": _us(self.start, t),
            "event_message": f"{method} | {status} | {ip} | {ray} | {url} | {_AGENT[build]}",
            "identifier": self.ref,
            "metadata": [
                {
                    "request": [request],
                    "response": [{"status_code": status, "origin_time": int(round(origin_ms))}],
                }
            ],
        }
        self.log.edge.append(row)
        return row

    def _count(self, key: str, failed: bool, t: float) -> None:
        c = self.counts.setdefault(key, {"calls": 0, "failed": 0, "minutes": {}})
        c["calls"] += 1
        c["failed"] += failed
        if failed:
            m = int(t // 60)
            c["minutes"][m] = c["minutes"].get(m, 0) + 1

    def push(self, t: float, i: int, kind: str) -> None:
        if t < self.total and t < self.aud["leave"][i]:
            heapq.heappush(self.heap, (round(t, 3), self.seq_push(), i, kind))

    def seq_push(self) -> int:
        self.seq += 1
        return self.seq

    # ---- the clients' loops
    def run(self) -> None:
        case, rng = self.case, self.rng
        for i, at in enumerate(self.aud["join"]):
            at = max(float(at), 0.0)
            self.push(at, i, "socket")
            self.push(at + rng.uniform(0.5, 3), i, "poll")
            self.push(at + rng.exponential(180), i, "chat")
            # A widget's first call falls anywhere in its first period (it starts on the next
            # slide, the next answer), so a crowd walking in adds no calls of its own and the
            # steady band is the truth on a ramp too.
            for part, kind in (("isolates", "captions"), ("pooler", "progress")):
                if part in case.mechanisms:
                    self.push(at + rng.uniform(0, case.mechanisms[part]["think"][1]), i, kind)
            if self.up:
                every = case.mechanisms["upstream"]["ask_every_s"]
                self.push(at + rng.exponential(every), i, "ask")
            if "hall" in case.mechanisms:
                self.push(at + rng.uniform(0.2, 1.5), i, "refresh")
        self._slides()
        while self.heap:
            t, _, i, kind = heapq.heappop(self.heap)
            getattr(self, f"_{kind}")(t, i)

    def _socket(self, t, i):
        self._edge(t, i, "GET", "/realtime/v1/websocket", "?vsn=1.0.0", 101, 0.0, user=False)

    def _poll(self, t, i):
        ms = float(self.rng.lognormal(math.log(28), 0.35))
        self._edge(t, i, "GET", "/rest/v1/questions", "?select=*&order=created_at.desc", 200, ms)
        self.push(t + ms / 1000 + self.rng.uniform(50, 70), i, "poll")

    def _chat(self, t, i):
        spec = self.case.mechanisms.get("chat_bug")
        failed = bool(spec) and self.builds[i] == _BUILDS[1] and self.rng.random() < spec["long"]
        ms = float(self.rng.lognormal(math.log(35), 0.3))
        self._edge(t, i, "POST", "/rest/v1/chat_messages", "?select=*", 400 if failed else 201, ms)
        if spec:
            self._count("22001", failed, t)
        if failed:
            self._pg(t + ms / 2000, "22001", "value too long for type character varying(280)")
        self.push(t + self.rng.exponential(180), i, "chat")

    def _progress(self, t, i):
        ticket: dict = {}
        self.pool.call(t, ticket)
        refused = bool(ticket.get("failed"))
        status = 500 if refused else 200
        self._count("http:500:functions/*", refused, t)
        took = ticket["end"] - t
        row = self._edge(t, i, "POST", "/functions/v1/save-progress", "", status, took * 1000)
        self._invocation(t, row, "save-progress", status, took)
        if refused:
            self._pooler_line(t, row)
        spec = self.case.mechanisms["pooler"]
        pause = spec["retry_s"] if refused else float(self.rng.uniform(*spec["think"]))
        self.push(ticket["end"] + pause, i, "progress")

    def _captions(self, t, i):
        ticket: dict = {}
        self.iso.call(t, ticket)
        killed = bool(ticket.get("failed"))
        status = 546 if killed else 200
        self._count("http:546:functions/*", killed, t)
        row = self._edge(
            t, i, "POST", "/functions/v1/live-captions", "", status, (ticket["end"] - t) * 1000
        )
        self._invocation(t, row, "live-captions", status, ticket["end"] - t)
        spec = self.case.mechanisms["isolates"]
        pause = spec["retry_s"] if killed else float(self.rng.uniform(*spec["think"]))
        self.push(ticket["end"] + pause, i, "captions")

    def _ask(self, t, i):
        spec = self.case.mechanisms["upstream"]
        ready = self.up.call(t)
        late = ready - t > IDLE_TIMEOUT_S
        took = IDLE_TIMEOUT_S if late else ready - t
        status = 504 if late else 200
        self._count("http:504:functions/*", late, t)
        row = self._edge(t, i, "POST", "/functions/v1/ask-ai", "", status, took * 1000)
        self._invocation(t, row, "ask-ai", status, took)
        # A 504 shows a "try again" button most viewers press; an answer ends the question.
        if late and self.rng.random() < 0.7:
            self.push(t + took + spec["retry_s"] + self.rng.exponential(8), i, "ask")
        else:
            self.push(t + took + self.rng.exponential(spec["ask_every_s"]), i, "ask")

    def _refresh(self, t, i):
        ip = self.addresses[i]
        ok = self.buckets.setdefault(ip, Bucket()).take(t)
        ms = float(self.rng.lognormal(math.log(45), 0.3)) if ok else 1.0
        status = 200 if ok else 429
        self._edge(t, i, "POST", "/auth/v1/token", "?grant_type=refresh_token", status, ms, False)
        self._count("http:429:auth/*", not ok, t)
        if not ok:
            self._auth_line(t, ip)
        # supabase-js ticks every 30 s; a session is refreshed on the first tick within 90 s of
        # the JWT's expiry, and a refused refresh is tried again at the next tick.
        ticks = math.ceil((JWT_EXPIRY_S - MARGIN_S) / TICK_S) * TICK_S
        self.push(t + (ticks if ok else TICK_S) + self.rng.uniform(-15, 15), i, "refresh")

    def _slides(self):
        spec = self.case.mechanisms.get("brownout")
        if not spec:
            return
        t, k = 30.0, 0
        outs = [(a * 60.0, a * 60.0 + n) for a, n in zip(spec["at"], spec["length_s"], strict=True)]
        while t < self.total:
            present = np.flatnonzero((self.aud["join"] <= t) & (self.aud["leave"] > t))
            for i in present:
                at = t + float(self.rng.exponential(2.0))
                if at >= self.total:
                    continue
                down = any(lo <= at < hi for lo, hi in outs)
                failed = down and self.rng.random() < 0.9
                path = f"/storage/v1/object/public/slides/deck-{k:03d}.webp"
                ms = 30000.0 if failed else float(self.rng.lognormal(math.log(60), 0.4))
                self._edge(at, i, "GET", path, "", 503 if failed else 200, ms)
                self._count("http:503:storage/*", failed, at)
            t += float(self.rng.uniform(*spec["slides_every"]))
            k += 1

    # ---- the sources the package does not analyse
    def _invocation(self, t, row, function, status, took):
        fid = _uuid("function", self.name, function)
        exe = _uuid("execution", self.name, row["id"])
        self.func_rows.append(
            {
                "id": _uuid("fedge", row["id"]),
                "timestamp": _us(self.start, t + took),
                "event_message": f"POST | {status} | https://{self.ref}.supabase.co"
                f"/functions/v1/{function}",
                "metadata": [
                    {
                        "function_id": fid,
                        "execution_id": exe,
                        "execution_time_ms": int(took * 1000),
                        "deployment_id": f"{self.ref}_{fid}_14",
                        "version": "14",
                        "project_ref": self.ref,
                        "request": [
                            {
                                "method": "POST",
                                "pathname": f"/functions/v1/{function}",
                                "url": f"https://{self.ref}.supabase.co/functions/v1/{function}",
                                "search": "",
                                "host": f"{self.ref}.supabase.co",
                            }
                        ],
                        "response": [{"status_code": status}],
                    }
                ],
            }
        )
        if status == 546 and row is not None:
            self.func_logs.append(
                {
                    "id": _uuid("flog", row["id"]),
                    "timestamp": _us(self.start, t + took),
                    "event_message": "Memory limit exceeded: isolate terminated (256 MB)",
                    "metadata": [
                        {
                            "function_id": fid,
                            "execution_id": exe,
                            "level": "error",
                            "event_type": "Shutdown",
                            "project_ref": self.ref,
                        }
                    ],
                }
            )

    def _pooler_line(self, t, row):
        """Supavisor's refusal, and the function's console.error of the driver's error."""
        text = self.pool.log_message()
        self.pooler_rows.append(
            {
                "id": _uuid("supavisor", row["id"]),
                "timestamp": _us(self.start, t + 0.004),
                "event_message": f"ClientHandler: {text}",
                "metadata": [
                    {
                        "level": "error",
                        "project": self.ref,
                        "mode": self.pool.mode,
                        "type": "single",
                        "user": "postgres",
                        "db_name": "postgres",
                        "app_name": "Supavisor",
                        "peer_ip": "10.12.0.7",
                        "context": [{"application": "supavisor", "module": "ClientHandler"}],
                    }
                ],
            }
        )
        self.func_logs.append(
            {
                "id": _uuid("flog", row["id"]),
                "timestamp": _us(self.start, t + 0.02),
                "event_message": f"error: {text}\n    at Connection.parseE (postgres/connection)",
                "metadata": [
                    {
                        "function_id": _uuid("function", self.name, "save-progress"),
                        "execution_id": _uuid("execution", self.name, row["id"]),
                        "level": "error",
                        "event_type": "Log",
                        "project_ref": self.ref,
                    }
                ],
            }
        )

    def _auth_line(self, t, ip):
        body = {
            "component": "api",
            "error": "429: Request rate limit reached",
            "error_code": "over_request_rate_limit",
            "level": "info",
            "method": "POST",
            "msg": "request completed",
            "path": "/token",
            "remote_addr": ip,
            "status": 429,
        }
        self.auth_rows.append(
            {
                "id": _uuid("auth", self.name, len(self.auth_rows)),
                "timestamp": _us(self.start, t + 0.001),
                "event_message": json.dumps(body, separators=(",", ":")),
                "metadata": [{**body, "project": self.ref}],
            }
        )

    def _pg(self, t, state, message):
        self.log.pg.append(
            {
                "id": _uuid("pg", self.name, len(self.log.pg)),
                "timestamp": _us(self.start, t),
                "event_message": message,
                "identifier": self.ref,
                "metadata": [
                    {
                        "parsed": [
                            {
                                "error_severity": "ERROR",
                                "sql_state_code": state,
                                "user_name": "authenticator",
                                "application_name": "PostgREST 12.2.3",
                                "command_tag": "INSERT",
                                "query": _INSERT,
                                "detail": None,
                                "hint": None,
                            }
                        ]
                    }
                ],
            }
        )

    def billing(self) -> None:
        """Realtime's billing sample every 5 s: the sockets open, the cluster's, the limit."""
        join, leave = self.aud["join"], self.aud["leave"]
        for k, t in enumerate(np.arange(2.5, self.total, 5.0)):
            n = int(np.sum((join <= t) & (leave > t)))
            self.log.realtime.append(
                {
                    "id": _uuid("rt", self.name, k),
                    "timestamp": _us(self.start, float(t)),
                    "event_message": "Billing metrics: [:realtime, :connections]",
                    "metadata": [
                        {
                            "level": "info",
                            "project": self.ref,
                            "external_id": self.ref,
                            "measurements": [
                                {"connected": n, "connected_cluster": 3 * n + 211, "limit": 500}
                            ],
                        }
                    ],
                }
            )


@functools.cache
def simulate(name: str) -> tuple[Log, dict]:
    """Run case ``name``: the rows of every source and the truth behind them."""
    case = CASES[name]
    world = World(case)
    world.run()
    world.billing()
    log = world.log
    log.edge.sort(key=lambda r: (r["timestamp"], r["id"]))
    log.pg.sort(key=lambda r: (r["timestamp"], r["id"]))
    log.other = {
        "function_edge_logs": sorted(world.func_rows, key=lambda r: (r["timestamp"], r["id"])),
        "function_logs": sorted(world.func_logs, key=lambda r: (r["timestamp"], r["id"])),
        "auth_logs": sorted(world.auth_rows, key=lambda r: (r["timestamp"], r["id"])),
        "supavisor_logs": sorted(world.pooler_rows, key=lambda r: (r["timestamp"], r["id"])),
    }
    return log, _classes(case, world)


def _peak(aud: dict, total: float) -> int:
    return max(open_at(aud, t) for t in np.arange(0, total, 15.0))


def _classes(case: Case, world: World) -> dict:
    """The truth of each class the mechanisms made (only classes with at least 5 errors)."""
    aud, m = world.aud, case.mechanisms
    out: dict = {}
    if "isolates" in m:
        s = m["isolates"]
        band = steady_band("isolates", tuple(sorted(s.items())))
        out["http:546:functions/*"] = {
            "mechanism": f"{s['isolates']} isolates of live-captions, each killed (546, every "
            f"call in it) when a call arrives with {s['per_isolate']} in flight",
            "expect": ["capacity"],
            "k_band": band,
            "lag": 0,
        }
    if "pooler" in m and m["pooler"]["mode"] == "session":
        s = m["pooler"]
        out["http:500:functions/*"] = {
            "mechanism": f"save-progress holds a Supavisor client in session mode while it "
            f"runs: past pool_size {s['pool_size']} at once the next is refused "
            "(EMAXCONNSESSION) and the function answers 500 (a loss system, Erlang-B-like)",
            "expect": ["capacity"],
            "k_band": steady_band("pooler", tuple(sorted(s.items()))),
            "lag": 0,
        }
    if "upstream" in m:
        s = m["upstream"]
        saturation = s["slots"] / s["service_s"] * s["ask_every_s"]
        out["http:504:functions/*"] = {
            "mechanism": f"ask-ai's upstream serves {s['slots']} calls at once, "
            f"{s['service_s']} s each: saturated past {saturation:.0f} viewers; a backlog "
            "past 150 s is answered 504",
            "expect": ["capacity"],
            "k_band": (int(saturation), _peak(aud, world.total)),
            "lag_range": (0, 15),
        }
    if "hall" in m:
        share = m["hall"]["share"]
        period = math.ceil((JWT_EXPIRY_S - MARGIN_S) / TICK_S) * TICK_S
        hall_k = AUTH_RATE * period
        joins = aud["join"][aud["hall"]]
        arrivals = np.histogram(joins, bins=np.arange(0, world.total + 60, 60))[0].max() / 60
        out["http:429:auth/*"] = {
            "mechanism": f"the room's audience ({share:.0%} of the webinar's, one address) "
            f"refreshes its sessions at its size / {period} s; Auth's bucket gives "
            f"{AUTH_RATE}/s: past {hall_k:.0f} in the room, a retry storm",
            "expect": ["capacity"],
            # Each arrival refreshes once on loading, so while the room fills the bucket is
            # met between (rate - arrivals) * period and rate * period viewers in the room;
            # the room is a fixed share of the webinar's audience, the load the package reads.
            "k_band": (int((AUTH_RATE - arrivals) * period / share), int(hall_k / share)),
            "lag_range": (0, 3),
        }
    if "chat_bug" in m:
        out["22001"] = {
            "mechanism": "one build's chat lines past 280 characters: a flat share per request",
            "expect": ["traffic"],
        }
    if "brownout" in m:
        out["http:503:storage/*"] = {
            "mechanism": "Storage's backend unreachable for two stretches of its own",
            "expect": NULL_EXPECT,
        }
    return {k: v for k, v in out.items() if world.counts.get(k, {}).get("failed", 0) >= 5}


# -- the files -----------------------------------------------------------------------------


def _studio_time(start: datetime, seconds: float) -> str:
    return (start + timedelta(seconds=float(seconds))).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _write_pages(folder: Path, rows: list) -> None:
    """Management API pages of at most 1000 rows, gzipped with no time in the header."""
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [rows[k : k + PAGE_ROWS] for k in range(0, len(rows), PAGE_ROWS)] or [[]]
    for n, chunk in enumerate(chunks, 1):
        envelope = json.dumps({"result": chunk, "error": None}).encode()
        (folder / f"page-{n:04d}.json.gz").write_bytes(gzip.compress(envelope, mtime=0))


def _write_csv(path: Path, header: list, rows: list) -> None:
    """A table as Studio's export writes it: commas, CRLF between rows, quotes when needed."""

    def cell(v) -> str:
        v = "" if v is None else str(v)
        return f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in ',"\r\n') else v

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\r\n".join(",".join(map(cell, r)) for r in [header, *rows]).encode())


def rng_of(case: Case) -> np.random.Generator:
    """Return the generator whose first draws are the case's audience."""
    return np.random.default_rng(case.seed)


def _tables(case: Case, start: datetime, aud: dict) -> dict[str, tuple[list, list]]:
    """Return each table export's header and rows (no monitor, no presence for ``billing``)."""
    wid, total, name = webinar_id(case.name), case.minutes * 60.0, case.name
    stamp = functools.partial(_studio_time, start)
    join, leave = aud["join"], aud["leave"]
    users = [_uuid("user", name, i) for i in range(len(join))]
    rng = np.random.default_rng(case.seed + 1)
    signed_up = [*users, *(_uuid("no-show", name, k) for k in range(len(users) // 4))]
    out = {
        "webinars.csv": (
            ["id", "title", "starts_at", "ends_at", "status", "created_at"],
            [[wid, f"Serverless live: {name}", stamp(0), stamp(total), "ended", stamp(-777600)]],
        ),
        "registrations.csv": (
            ["webinar_id", "user_id", "created_at"],
            sorted(
                ([wid, u, stamp(-float(rng.uniform(3600, 518400)))] for u in signed_up),
                key=lambda row: row[2],
            ),
        ),
    }
    if case.load == "billing":
        return out
    sessions = sorted(
        (
            _uuid("presence", name, i),
            wid,
            users[i],
            _uuid("session", name, i),
            stamp(max(join[i], 0.0)),
            stamp(leave[i]) if leave[i] < total else "",
        )
        for i in range(len(users))
    )
    out["webinar_live_presence.csv"] = (
        ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"],
        sorted(sessions, key=lambda row: row[4]),
    )
    every_15s = np.arange(0.0, total, 15.0)
    out["webinar_viewer_counts.csv"] = (
        ["id", "webinar_id", "sampled_at", "viewer_count"],
        [[k, wid, stamp(t), open_at(aud, t)] for k, t in enumerate(every_15s, 1)],
    )
    return out


def write_incident(root: Path, name: str) -> Path:
    """Write case ``name`` under ``root/name`` and return the directory."""
    case = CASES[name]
    log, _ = simulate(name)
    start = _start(case)
    directory = Path(root) / name
    directory.mkdir(parents=True, exist_ok=True)
    end = start + timedelta(minutes=case.minutes)
    manifest = {
        "name": f"{name} (eighth writer)",
        "project_ref": project_ref(name),
        "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
    }
    (directory / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n")
    _write_csv(directory / "annotations.csv", ["time_utc", "label", "note"], [])
    sources = {"edge_logs": log.edge, "postgres_logs": log.pg, "realtime_logs": log.realtime}
    for source, rows in {**sources, **log.other}.items():
        if rows or source in sources:
            _write_pages(directory / source, rows)
    for table, (header, rows) in _tables(case, start, draw_audience(case, rng_of(case))).items():
        _write_csv(directory / "tables" / table, header, rows)
    sums = {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    }
    (directory / "SHA256SUMS").write_text("".join(f"{h}  {p}\n" for p, h in sorted(sums.items())))
    return directory


@functools.cache
def truth(name: str) -> dict:
    """Return case ``name``'s truth: webinar, peak, rows per source, classes and counts."""
    case = CASES[name]
    log, classes = simulate(name)
    aud = draw_audience(case, rng_of(case))
    return {
        "webinar_id": webinar_id(name),
        "peak": _peak(aud, case.minutes * 60.0),
        "rows": {"edge": len(log.edge), "pg": len(log.pg), "realtime": len(log.realtime)},
        "unsupported": {k: len(v) for k, v in log.other.items() if v},
        "classes": classes,
        "load": case.load,
    }


def main(argv: list[str]) -> int:
    """Write the cases named in ``argv`` (all by default), or print their truth."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="directory to write the cases under")
    parser.add_argument("cases", nargs="*", default=[], help="case names (default: every case)")
    parser.add_argument("--truth", action="store_true", help="print the truth as JSON instead")
    args = parser.parse_args(argv)
    picked = args.cases or list(CASES)
    if args.truth:
        if args.out is not None:
            picked = [str(args.out), *args.cases]
        json.dump({n: truth(n) for n in picked}, sys.stdout, indent=2, default=list)
        print()
        return 0
    if args.out is None:
        parser.error("give the directory to write under")
    for name in picked:
        print(write_incident(args.out, name), webinar_id(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
