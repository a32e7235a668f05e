"""A local stand-in for the Supabase Management API logs endpoints (tests only).

It follows the documented behaviour (docs/supabase-exports.md section 3):
``GET /v1/projects/{ref}/analytics/endpoints/logs.all`` (BigQuery SQL, one CTE per source) and
``.../logs`` (ClickHouse SQL, ``from logs where source = '...'``); bearer token; parameters
``sql``, ``iso_timestamp_start``, ``iso_timestamp_end`` **rounded to the nearest minute** (as
the docs say), then the start exclusive and the end inclusive; neither given → the last
minute, only one given → one minute from it; a range over 24 hours → 400 validation error; at
most 1000 rows per call; the envelope ``{"result": [...], "error": null}``; a gzip body when
the client sends ``Accept-Encoding: gzip``.

It runs the part of SQL the fetch client sends, no more: the source; the window predicate the
client writes (``timestamp >= <lit>``, ``timestamp < <lit>``, and the page key ``timestamp >
<lit> or (timestamp = <lit> and id > '<id>')``, with ``timestamp_micros(µs)`` or
``toDateTime64('…', 6, 'UTC')`` literals); ``order by timestamp asc, id asc`` (newest first
without it, as the endpoint's CTEs order); ``limit``; ``count(*)/count() as n`` and the
per-minute count; and for ClickHouse the ``nullIf(log_attributes['k'], '') as `k``` columns.

Misbehaviour, all documented or observed: ``page_size`` answers fewer rows than asked (a
short page that is not the end); ``rate_limit`` blocks for a minute after 60 calls in a minute
with a 429 and no ``Retry-After``; queued faults: a status (429 with ``Retry-After``, 5xx), a
connection dropped half-way through the body, a connection closed before any byte, an error
envelope, the log store's ``{"result": null, "error": "Backend error! Retry your query"}``.
The server binds 127.0.0.1 only, answers at most ``max_requests`` calls and shuts itself down
after ``lifetime`` seconds, so a runaway client loop cannot hang the suite.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import json
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

from analysis.simulate.clickhouse import clickhouse_row, project_row, selected_attributes

ROW_CAP = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PATH_RE = re.compile(r"^/v1/projects/([^/]+)/analytics/endpoints/(logs\.all|logs)$")


def to_us(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def parse_ts(value) -> datetime:
    """Row timestamp (int µs or ClickHouse string) or ISO parameter → UTC datetime."""
    if isinstance(value, int):
        return EPOCH + timedelta(microseconds=value)
    text = str(value).strip().replace(" ", "T", 1).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class Fault:
    """One scripted misbehaviour, applied to the next matching call.

    kind: ``status`` (send ``status`` with a JSON message, optional ``retry_after`` header),
    ``drop`` (200, full Content-Length, half the body, close), ``reset`` (close at once),
    ``error`` (200 with an error envelope), ``backend`` (200 with the log store's
    "Backend error! Retry your query"), ``empty`` (200 with no rows, as if the store lost them),
    ``html`` (an HTML page with ``status``: a proxy's, a captive portal's, a CDN's error page),
    ``repeat`` (200 with the rows of the previous page answered, as a server that ignores the
    page key).
    """

    kind: str
    status: int = 503
    retry_after: str | None = None
    message: str = "fake failure"
    headers: dict[str, str] = field(default_factory=dict)
    when: Callable[[dict], bool] = field(default=lambda call: True)


@dataclass
class Call:
    endpoint: str
    ref: str
    sql: str
    start: str | None
    end: str | None
    status: int = 0
    rows: int = 0
    fault: str | None = None
    gzip: bool = False
    bytes_sent: int = 0


class FakeClock:
    """Virtual time shared by a client (``sleep``/``now``) and the server's rate limit."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class FakeSupabaseApi:
    """Serve ``rows`` (source → list of rows) like the Management API, on 127.0.0.1.

    Use as a context manager; ``base_url`` is set on entry. ``calls`` records every request.
    """

    def __init__(
        self,
        rows: dict[str, list[dict]],
        *,
        project_ref: str,
        token: str,
        max_requests: int = 400,
        lifetime: float = 60.0,
        start_rounding: str | None = "nearest",
        page_size: int = ROW_CAP,
        rate_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.rows = rows
        # Rows of each source sorted by (timestamp, id), for the window and the page key.
        self._index = {}
        for source, held in rows.items():
            keyed = sorted(((parse_ts(r["timestamp"]), r["id"]), r) for r in held)
            self._index[source] = ([k for k, _ in keyed], [r for _, r in keyed])
        self.project_ref = project_ref
        self.token = token
        self.max_requests = max_requests
        self.lifetime = lifetime
        # The docs say the range "is rounded to the nearest minute" (both bounds); "floor" and
        # "ceil" model the other readings, None none at all.
        self.start_rounding = start_rounding
        self.page_size = page_size
        # (calls, seconds): more calls than that within the window block for one window.
        self.rate_limit = rate_limit
        self.clock = clock or (lambda: 0.0)
        self._accepted: list[float] = []
        self._blocked_until = float("-inf")
        self.faults: list[Fault] = []
        self._last_page: dict | None = None
        self.calls: list[Call] = []
        self.now = datetime.now(UTC)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self.base_url = ""

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeSupabaseApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def do_GET(self):  # noqa: N802 - http.server hook
                api._handle(self)

            def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self._server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def queue(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` calls it matches."""
        self.faults.extend([fault] * times)

    # -- request handling ------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        match = PATH_RE.match(url.path)
        call = Call(
            endpoint=match.group(2) if match else url.path,
            ref=match.group(1) if match else "",
            sql=query.get("sql", ""),
            start=query.get("iso_timestamp_start"),
            end=query.get("iso_timestamp_end"),
            gzip="gzip" in (handler.headers.get("Accept-Encoding") or ""),
        )
        with self._lock:
            self.calls.append(call)
            over_budget = len(self.calls) > self.max_requests
            blocked = self._rate_limited()
            fault = None
            if not over_budget and not blocked:
                for index, candidate in enumerate(self.faults):
                    if candidate.when(vars(call)):
                        fault = self.faults.pop(index)
                        break
        if over_budget:
            threading.Thread(target=self._server.shutdown, daemon=True).start()
            return self._send(handler, call, 503, {"message": "fake server: request budget spent"})
        if not match:
            return self._send(handler, call, 404, {"message": "Not Found"})
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(handler, call, 401, {"message": "Unauthorized"})
        if call.ref != self.project_ref:
            return self._send(handler, call, 404, {"message": "Project not found"})
        if blocked:
            call.fault = "rate_limit"
            return self._send(handler, call, 429, {"message": "Too many requests"})
        if fault is not None:
            call.fault = fault.kind
            if fault.kind == "status":
                headers = dict(fault.headers)
                if fault.retry_after:
                    headers["Retry-After"] = fault.retry_after
                return self._send(handler, call, fault.status, {"message": fault.message}, headers)
            if fault.kind == "error":
                envelope = {
                    "result": [],
                    "error": {
                        "code": 400,
                        "errors": [
                            {"domain": "global", "message": fault.message, "reason": "invalidQuery"}
                        ],
                        "message": fault.message,
                        "status": "INVALID_ARGUMENT",
                    },
                }
                return self._send(handler, call, 200, envelope)
            if fault.kind == "empty":
                return self._send(handler, call, 200, {"result": [], "error": None})
            if fault.kind == "backend":
                envelope = {"result": None, "error": "Backend error! Retry your query"}
                return self._send(handler, call, 200, envelope)
            if fault.kind == "reset":
                handler.close_connection = True
                return None
            if fault.kind == "drop":
                status, envelope = self._answer(call)
                return self._send(handler, call, status, envelope, cut=True)
            if fault.kind == "html":
                page = f"<html><head><title>{fault.message}</title></head><body>\n</body></html>"
                return self._send(handler, call, fault.status, page, {"Content-Type": "text/html"})
            if fault.kind == "repeat" and self._last_page is not None:
                return self._send(handler, call, 200, self._last_page)
            raise ValueError(f"unknown fault kind {fault.kind}")
        status, envelope = self._answer(call)
        if status == 200 and " as n" not in call.sql and envelope.get("result"):
            self._last_page = envelope
        return self._send(handler, call, status, envelope)

    def _rate_limited(self) -> bool:
        """Apply the documented limit (caller holds the lock): block a window when exceeded."""
        if self.rate_limit is None:
            return False
        calls, window = self.rate_limit
        now = self.clock()
        if now < self._blocked_until:
            return True
        self._accepted = [t for t in self._accepted if t > now - window]
        if len(self._accepted) >= calls:
            self._blocked_until = now + window
            return True
        self._accepted.append(now)
        return False

    def _answer(self, call: Call) -> tuple[int, dict]:
        try:
            start, end = self._window(call.start, call.end)
        except ValueError as exc:
            return 400, {"message": f"Invalid timestamp: {exc}"}
        if (end - start) > timedelta(hours=24):
            return 400, {
                "result": [],
                "error": {
                    "code": 400,
                    "message": "Timestamp range must be no more than 24 hours",
                    "status": "INVALID_ARGUMENT",
                },
            }
        source, problem = self._source(call)
        if problem:
            return 400, {"result": [], "error": {"code": 400, "message": problem}}
        sql = " ".join(call.sql.split())
        lowered = sql.lower()
        limit = re.search(r"\blimit\s+(\d+)\s*$", lowered)
        limit = min(int(limit.group(1)), ROW_CAP) if limit else ROW_CAP
        chosen = self._select(source, start, end, sql)
        for keep in self._filters(sql):
            chosen = [r for r in chosen if keep(r)]
        aggregate = self._aggregate(sql, chosen, call.endpoint == "logs.all")
        if aggregate is not None:
            return 200, {"result": aggregate[: min(limit, self.page_size)], "error": None}
        if re.search(r"\bcount\(\*?\) as n\b", lowered):
            if "as minute" in lowered:
                minutes: dict[datetime, int] = {}
                for row in chosen:
                    minute = parse_ts(row["timestamp"]).replace(second=0, microsecond=0)
                    minutes[minute] = minutes.get(minute, 0) + 1
                result = [
                    {"minute": to_us(m) if call.endpoint == "logs.all" else m.isoformat(), "n": n}
                    for m, n in sorted(minutes.items())
                ]
                return 200, {"result": result[: min(limit, self.page_size)], "error": None}
            return 200, {"result": [{"n": len(chosen)}], "error": None}
        if not re.search(r"order by [\w.]*timestamp asc", lowered):
            chosen = chosen[::-1]
        rows = [self._project(sql, r) for r in chosen[: min(limit, self.page_size)]]
        return 200, {"result": rows, "error": None}

    _LIT = r"(?:timestamp_micros\((\d+)\)|toDateTime64\('([^']+)', 6, 'UTC'\))"

    @classmethod
    def _literal(cls, groups: tuple) -> datetime:
        micros, text = groups
        return parse_ts(int(micros)) if micros else parse_ts(text)

    def _select(self, source: str, start: datetime, end: datetime, sql: str) -> list[dict]:
        """Rows in the API window ``(start, end]`` that the client's SQL predicate keeps."""
        keys, held = self._index.get(source, ([], []))
        lo = re.search(rf"timestamp >= {self._LIT}", sql)
        hi = re.search(rf"timestamp < {self._LIT}", sql)
        after = re.search(
            rf"\(\S*timestamp > {self._LIT} or \(\S*timestamp = {self._LIT} and \S*id > "
            r"'((?:[^'\\]|\\.)*)'\)\)",
            sql,
        )
        first = bisect.bisect_right(keys, (start, "\U0010ffff"))
        last = bisect.bisect_right(keys, (end, "\U0010ffff"))
        if lo:
            first = max(first, bisect.bisect_left(keys, (self._literal(lo.groups()), "")))
        if hi:
            last = min(last, bisect.bisect_left(keys, (self._literal(hi.groups()), "")))
        if after:
            g = after.groups()
            cursor = (self._literal(g[0:2]), re.sub(r"\\(.)", r"\1", g[4]))
            first = max(first, bisect.bisect_right(keys, cursor))
        return held[first:last] if first < last else []

    @staticmethod
    def _filters(sql: str) -> list[Callable[[dict], bool]]:
        """The row filters of the hybrid queries (status, severity, billing lines)."""
        found: list[Callable[[dict], bool]] = []
        if re.search(r"status_code'?\]?\)? >= 400", sql):
            found.append(lambda r: int(attribute(r, "response.status_code") or 0) >= 400)
        if re.search(r"error_severity'?\]? in \('ERROR', 'FATAL', 'PANIC'\)", sql):
            found.append(lambda r: attribute(r, "parsed.error_severity") in SEVERE)
        billing = re.search(
            r"(not )?(?:regexp_contains|startsWith)\(\S*event_message, '\^?Billing", sql
        )
        if billing:
            wanted = billing.group(1) is None
            found.append(lambda r: r["event_message"].startswith("Billing metrics") == wanted)
        return found

    @staticmethod
    def _aggregate(sql: str, rows: list[dict], bigquery: bool) -> list[dict] | None:
        """The hybrid aggregates (traffic, users, Realtime connections per minute)."""
        kind = next(
            (k for k in ("status_class", "users", "max_connected") if f"as {k}" in sql), None
        )
        if kind is None:
            return None
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            minute = parse_ts(row["timestamp"]).replace(second=0, microsecond=0)
            key: tuple = (minute,)
            if kind == "status_class":
                path = re.match(r"^((?:/[^/]*){1,4})", attribute(row, "request.path") or "")
                status = int(attribute(row, "response.status_code") or 0)
                key = (minute, path.group(1) if path else "", status // 100)
            groups.setdefault(key, []).append(row)
        out = []
        for key, members in sorted(groups.items()):
            minute = to_us(key[0]) if bigquery else key[0].strftime("%Y-%m-%d %H:%M:%S")
            if kind == "status_class":
                times = sorted(float(attribute(r, "response.origin_time")) for r in members)
                out.append(
                    {
                        "minute": minute,
                        "path": key[1],
                        "status_class": key[2],
                        "requests": len(members),
                        "max_origin_time_ms": times[-1],
                        "p95_origin_time_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
                    }
                )
            elif kind == "users":
                users = {attribute(r, "request.sb.auth_user") for r in members} - {None, ""}
                out.append({"minute": minute, "users": len(users), "requests": len(members)})
            else:
                connected = [int(attribute(r, "measurements.connected") or 0) for r in members]
                limits = [int(attribute(r, "measurements.limit") or 0) for r in members]
                out.append(
                    {
                        "minute": minute,
                        "samples": len(members),
                        "max_connected": max(connected),
                        "max_connected_cluster": max(connected),
                        "connection_limit": max(limits),
                    }
                )
        return out

    @staticmethod
    def _project(sql: str, row: dict) -> dict:
        """ClickHouse ``nullIf(log_attributes['k'], '') as `k``` columns; BigQuery's
        ``select t.a, t.b`` columns (a column the query does not name is not returned)."""
        selected = selected_attributes(sql)
        if selected and "log_attributes" in row:
            return project_row(row, selected)
        columns = re.match(r"select ((?:t\.\w+, )*t\.\w+) from ", sql)
        if columns is None or "log_attributes" in row:
            return row
        names = [name.removeprefix("t.") for name in columns.group(1).split(", ")]
        return {name: row[name] for name in names if name in row}

    def _window(self, start: str | None, end: str | None) -> tuple[datetime, datetime]:
        minute = timedelta(minutes=1)
        if start is None and end is None:
            return self.now - minute, self.now
        if end is None:
            return parse_ts(start), parse_ts(start) + minute
        if start is None:
            return parse_ts(end) - minute, parse_ts(end)
        return self._round(parse_ts(start)), self._round(parse_ts(end))

    def _round(self, value: datetime) -> datetime:
        minute = timedelta(minutes=1)
        floor = value.replace(second=0, microsecond=0)
        if self.start_rounding == "floor" or (
            self.start_rounding == "nearest" and value - floor < timedelta(seconds=30)
        ):
            return floor
        if self.start_rounding in ("ceil", "nearest") and value != floor:
            return floor + minute
        return value

    def _source(self, call: Call) -> tuple[str, str | None]:
        sql = call.sql
        if not sql:
            return "edge_logs", None  # documented: without sql only edge_logs is queried
        if call.endpoint == "logs.all":
            found = re.search(r"\bfrom\s+(\w+)", sql, re.I)
            if not found or found.group(1) == "logs":
                return "", "logs.all expects BigQuery SQL over a source table such as edge_logs"
            return found.group(1), None
        found = re.search(r"\bsource\s*=\s*'(\w+)'", sql)
        if not re.search(r"\bfrom\s+logs\b", sql, re.I) or not found:
            return "", "Code: 60. DB::Exception: Unknown table expression; use from logs"
        if re.search(r"count\(\*\)|select \*", sql):
            return "", "count(*) and select * are not supported; use count() and list columns"
        return found.group(1), None

    def _send(self, handler, call, status, payload, headers=None, cut=False) -> None:
        text = isinstance(payload, str)
        body = payload.encode() if text else json.dumps(payload).encode()
        call.status = status
        call.rows = len(payload.get("result") or []) if status == 200 and not text else 0
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "application/json")
        if call.gzip:
            # The fastest level: the client reads any gzip stream alike.
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        call.bytes_sent = len(body)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if cut:
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)


SEVERE = ("ERROR", "FATAL", "PANIC")


def attribute(row: dict, dotted: str):
    """A row's attribute by its ClickHouse key, from either flavour (None when absent)."""
    if "log_attributes" in row:
        return row["log_attributes"].get(dotted)
    value = row.get("metadata")
    for step in dotted.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value[0] if isinstance(value, list) and len(value) == 1 else value


# -- realistic rows (BigQuery and ClickHouse flavours) -------------------------------------
def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def edge_row(rng: random.Random, ts_us: int, ref: str) -> dict:
    status = rng.choice([200, 200, 200, 201, 400, 409])
    path = rng.choice(["/rest/v1/registrations", "/rest/v1/profiles", "/auth/v1/user"])
    ray = f"{rng.getrandbits(64):016x}"
    user = _uuid(rng)
    url = f"https://{ref}.supabase.co{path}?select=*"
    return {
        "id": _uuid(rng),
        "timestamp": ts_us,
        "event_message": f"POST | {status} | 203.0.113.24 | {ray} | {url} | Mozilla/5.0",
        "identifier": ref,
        "metadata": [
            {
                "load_balancer_redirect_identifier": None,
                "request": [
                    {
                        "headers": [
                            {
                                "cf_connecting_ip": "203.0.113.24",
                                "cf_ray": ray,
                                "user_agent": "Mozilla/5.0",
                                "x_client_info": "supabase-js-web/2.45.0",
                            }
                        ],
                        "host": f"{ref}.supabase.co",
                        "method": "POST",
                        "path": path,
                        "search": "?select=*",
                        "url": url,
                        "sb": [{"auth_user": user}],
                    }
                ],
                "response": [{"origin_time": rng.randint(5, 900), "status_code": status}],
            }
        ],
    }


def postgres_row(rng: random.Random, ts_us: int, ref: str) -> dict:
    state, message = rng.choice(
        [
            ("23505", 'duplicate key value violates unique constraint "registrations_pkey"'),
            ("42703", "column registrations.id does not exist"),
            ("22P02", 'invalid input syntax for type uuid: "null"'),
        ]
    )
    return {
        "id": _uuid(rng),
        "timestamp": ts_us,
        "event_message": message,
        "identifier": ref,
        "metadata": [
            {
                "host": f"db-{ref}",
                "parsed": [
                    {
                        "application_name": "PostgREST 12.2.3",
                        "command_tag": "INSERT",
                        "error_severity": "ERROR",
                        "sql_state_code": state,
                        "user_name": "authenticator",
                        "query_id": 4412763098123456789,
                        "detail": None,
                    }
                ],
            }
        ],
    }


def realtime_row(rng: random.Random, ts_us: int, ref: str) -> dict:
    if rng.random() < 0.5:
        message = "Billing metrics: [:realtime, :connections]"
        meta = {
            "level": "info",
            "project": ref,
            "measurements": [{"connected": rng.randint(1, 300), "limit": 500}],
        }
    else:
        message = (
            "Postgrex.Protocol (#PID<0.2612.0>) disconnected: ** (DBConnection.ConnectionError) "
            "client #PID<0.3001.0> exited"
        )
        meta = {"level": "error", "project": ref, "external_id": ref}
    return {"id": _uuid(rng), "timestamp": ts_us, "event_message": message, "metadata": [meta]}


ROW_MAKERS = {"edge_logs": edge_row, "postgres_logs": postgres_row, "realtime_logs": realtime_row}


def make_rows(
    source: str,
    start: datetime,
    end: datetime,
    n: int,
    *,
    ref: str,
    seed: int,
    tie: tuple[int, int] | None = None,
) -> list[dict]:
    """``n`` BigQuery-flavour rows of ``source`` with millisecond timestamps in ``(start, end]``.

    ``tie=(position, size)``: rows ``position .. position+size-1`` (in time order) share one
    timestamp, to put equal timestamps across a page boundary.
    """
    # Drawn once per set of arguments; each call gets rows of its own (a test may change them),
    # parsed by orjson: the same values as json's, in a quarter of the time.
    return orjson.loads(_rows_json(source, start, end, n, ref, seed, tie))


@functools.lru_cache(maxsize=64)
def _rows_json(
    source: str,
    start: datetime,
    end: datetime,
    n: int,
    ref: str,
    seed: int,
    tie: tuple[int, int] | None,
) -> str:
    """The rows of :func:`make_rows` as JSON text (every value in them is a JSON value)."""
    rng = random.Random(seed)
    lo, hi = to_us(start) // 1000 + 1, to_us(end) // 1000
    stamps = sorted(rng.randint(lo, hi) * 1000 for _ in range(n))
    if tie:
        position, size = tie
        stamps[position : position + size] = [stamps[position]] * size
        stamps.sort()
    return json.dumps([ROW_MAKERS[source](rng, ts, ref) for ts in stamps])


def to_clickhouse(row: dict, source: str) -> dict:
    """The ClickHouse-flavour view of a BigQuery-flavour row (string attributes, string time)."""
    return clickhouse_row(row, source)
