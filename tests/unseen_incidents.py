"""Incident directories the team never tuned to, written independently of ``analysis.simulate``.

The rows are written here by hand from ``docs/contract.md`` and ``docs/supabase-exports.md``
only (no import from ``analysis``): other webinars, other projects, other time zones, error
classes unlike the shipped ones and several export shapes (Management API pages of both
storage flavours, a Logs Explorer CSV download, table exports with extra and reordered
columns). ``python tests/unseen_incidents.py OUT`` writes every case under ``OUT/<name>``.

Cases (``CASES``):
- ``berlin_timeouts``: Europe/Berlin, BigQuery API pages; 57014 statement timeouts on an RPC
  under load, 42P01 on a table the client still queries, Realtime rate-limit lines.
- ``newyork_midnight``: America/New_York, a window crossing midnight UTC; ClickHouse API pages
  for the gateway and Realtime, a Logs Explorer CSV for Postgres; 53300 (FATAL, too many
  clients) with 503s on several endpoints and ``DatabaseLackOfConnections`` from Realtime.
- ``berlin_explorer``: the gateway rows as Logs Explorer CSV downloads (kind told by content).
- ``tokyo_quiet``: Asia/Tokyo, no error at all.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/138.0"


@dataclass(frozen=True)
class Fault:
    """One error process: which request fails how, and from which concurrency on."""

    path: str  # gateway path of the failing request
    method: str
    status: int
    sqlstate: str | None  # None: no Postgres line (e.g. a Realtime-only fault)
    severity: str
    message: str
    threshold: int  # open sessions from which the request fails
    share: float  # probability a request fails above the threshold
    relation: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    project_ref: str
    display_tz: str
    start: datetime
    minutes: int
    viewers: int
    title: str
    shape: str  # "bigquery" | "clickhouse+explorer"
    faults: tuple[Fault, ...] = ()
    realtime_fault: str | None = None  # a Realtime error line emitted above the peak threshold
    seed: int = 7
    billing: bool = True
    extra_table_columns: bool = False
    email_in_search: bool = True
    extra_webinars: tuple[str, ...] = field(default=())


#: 57014 under load on an RPC, 42P01 at a constant share on a table the client still queries.
BERLIN_FAULTS = (
    Fault(
        "/rest/v1/rpc/search_talks",
        "POST",
        500,
        "57014",
        "ERROR",
        "canceling statement due to statement timeout",
        threshold=22,
        share=0.6,
    ),
    Fault(
        "/rest/v1/speakers_v2",
        "GET",
        404,
        "42P01",
        "ERROR",
        'relation "public.speakers_v2" does not exist',
        threshold=0,
        share=0.15,
        relation="speakers_v2",
    ),
)

CASES = {
    "berlin_timeouts": Case(
        name="berlin_timeouts",
        project_ref="kqzvbnmlpoiuytrewqas",
        display_tz="Europe/Berlin",
        start=datetime(2026, 3, 12, 17, 0, tzinfo=UTC),
        minutes=75,
        viewers=34,
        title="Quarterly product briefing <b>&amp; Q&A</b>",
        shape="bigquery",
        faults=BERLIN_FAULTS,
        realtime_fault=(
            "DatabaseConnectionRateLimitReached: Too many connection attempts against the tenant"
            " database"
        ),
        extra_table_columns=True,
    ),
    "newyork_midnight": Case(
        name="newyork_midnight",
        project_ref="plmoknijbuhvygctfxrd",
        display_tz="America/New_York",
        start=datetime(2026, 4, 30, 23, 25, tzinfo=UTC),
        minutes=50,
        viewers=26,
        title="Town hall (late edition)",
        shape="clickhouse+explorer",
        faults=tuple(
            Fault(
                path,
                method,
                503,
                "53300",
                "FATAL",
                "sorry, too many clients already",
                threshold=18,
                share=0.5,
            )
            for path, method in (
                ("/rest/v1/sessions", "GET"),
                ("/rest/v1/rpc/cast_vote", "POST"),
                ("/rest/v1/questions", "POST"),
            )
        ),
        realtime_fault=(
            "DatabaseLackOfConnections: Only 0 available connections on the tenant database,"
            " the minimum is 1"
        ),
        seed=11,
        extra_webinars=("Internal rehearsal",),
    ),
    # The Berlin hour again, its gateway rows as Logs Explorer "Download CSV" files.
    "berlin_explorer": Case(
        name="berlin_explorer",
        project_ref="kqzvbnmlpoiuytrewqas",
        display_tz="Europe/Berlin",
        start=datetime(2026, 3, 12, 17, 0, tzinfo=UTC),
        minutes=75,
        viewers=34,
        title="Quarterly product briefing",
        shape="bigquery+explorer",
        faults=BERLIN_FAULTS,
        seed=5,
    ),
    "tokyo_quiet": Case(
        name="tokyo_quiet",
        project_ref="zaqxswcdevfrbgtnhymj",
        display_tz="Asia/Tokyo",
        start=datetime(2026, 5, 20, 3, 0, tzinfo=UTC),
        minutes=40,
        viewers=22,
        title="社内勉強会",
        shape="bigquery",
        billing=False,
        seed=3,
    ),
}


# ------------------------------------------------------------------ small writers


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _table_time(t: datetime | None) -> str:
    """timestamptz as the table editor exports it: ``2026-02-06 05:40:12.345678+00``."""
    if t is None:
        return ""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _micros(t: datetime) -> int:
    """Microseconds since the epoch, millisecond-precise like the log store."""
    return int(t.timestamp() * 1000) * 1000


def _ch_time(t: datetime) -> str:
    """ClickHouse text timestamp: UTC, no zone."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "000"


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """PapaParse-style: quotes only where needed, CRLF, empty cell = NULL."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")


def _write_pages(folder: Path, rows: list[dict]) -> None:
    """Management API envelopes, <= 1000 rows a page, gzip with mtime 0."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(0, max(len(rows), 1), 1000):
        body = json.dumps({"result": rows[i : i + 1000], "error": None}).encode()
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            gz.write(body)
        (folder / f"page-{i // 1000 + 1:04d}.json.gz").write_bytes(buf.getvalue())


# ------------------------------------------------------------------ the world


@dataclass
class _World:
    sessions: list[dict]  # user, session_id, joined, left (None = still there)
    samples: list[tuple[datetime, int]]
    requests: list[dict]  # t, method, path, search, status, user, origin_ms, ip, ray
    pg: list[dict]  # t, sqlstate, severity, message, relation
    realtime: list[dict]  # t, level, message, connected, limit
    users: list[str]
    webinar_id: str
    other_webinars: list[str]


def _open_at(sessions: list[dict], t: datetime) -> int:
    return sum(1 for s in sessions if s["joined"] <= t and (s["left"] is None or t < s["left"]))


def build_world(case: Case) -> _World:
    """Sessions, monitor samples, requests and log lines of one case (deterministic)."""
    rng = random.Random(case.seed)
    start, end = case.start, case.start + timedelta(minutes=case.minutes)
    webinar_id = _uuid(rng)
    others = [_uuid(rng) for _ in case.extra_webinars]
    users = [_uuid(rng) for _ in range(case.viewers)]
    sessions = []
    for user in users:
        # Arrivals bunch in the first third; a few leave early, a few reconnect once.
        joined = start + timedelta(seconds=rng.uniform(-120, case.minutes * 20))
        stay = rng.uniform(case.minutes * 25, case.minutes * 75)
        left = joined + timedelta(seconds=stay)
        left = None if left >= end and rng.random() < 0.5 else min(left, end - timedelta(seconds=1))
        sessions.append({"user": user, "session_id": _uuid(rng), "joined": joined, "left": left})
        if rng.random() < 0.2 and left is not None and left < end - timedelta(minutes=5):
            back = left + timedelta(seconds=rng.uniform(5, 60))
            sessions.append({"user": user, "session_id": _uuid(rng), "joined": back, "left": None})
    samples = []
    t = start + timedelta(seconds=rng.uniform(1, 9))
    while t < end:
        samples.append((t, _open_at(sessions, t)))
        t += timedelta(seconds=rng.uniform(20, 40))

    requests, pg, realtime = [], [], []
    fault_paths = [f.path for f in case.faults]
    for s in sessions:
        s_end = s["left"] or end
        t = max(s["joined"], start) + timedelta(seconds=rng.uniform(0, 3))
        ip = f"198.51.100.{rng.randint(2, 250)}"
        if t < s_end:
            requests.append(_req(rng, t, "GET", "/realtime/v1/websocket", 101, s["user"], ip))
            requests.append(_req(rng, t, "GET", "/auth/v1/user", 200, s["user"], ip))
        while t < s_end:
            open_now = _open_at(sessions, t)
            paths = ["/rest/v1/agenda", *fault_paths]
            path = rng.choice(paths)
            fault = next((f for f in case.faults if f.path == path), None)
            method = fault.method if fault else "GET"
            status = 200 if method == "GET" else 201
            if fault and open_now >= fault.threshold and rng.random() < fault.share:
                status = fault.status
                pg.append(
                    {
                        "t": t + timedelta(milliseconds=rng.randint(-40, -2)),
                        "sqlstate": fault.sqlstate,
                        "severity": fault.severity,
                        "message": fault.message,
                        "relation": fault.relation,
                        "path": path,
                    }
                )
            requests.append(_req(rng, t, method, path, status, s["user"], ip, case.email_in_search))
            t += timedelta(seconds=rng.uniform(25, 70))
    peak = max((n for _, n in samples), default=0)
    if case.billing or case.realtime_fault:
        t = start + timedelta(seconds=2)
        while t < end:
            n = _open_at(sessions, t)
            if case.billing:
                realtime.append(
                    {
                        "t": t,
                        "level": "info",
                        "message": "Billing metrics: [:realtime, :connections]",
                        "connected": n,
                        "limit": 200,
                    }
                )
            if case.realtime_fault and n >= max(peak - 4, 1) and rng.random() < 0.5:
                realtime.append(
                    {
                        "t": t + timedelta(milliseconds=700),
                        "level": "error",
                        "message": case.realtime_fault,
                        "connected": None,
                        "limit": None,
                    }
                )
            t += timedelta(seconds=5)
    requests.sort(key=lambda r: r["t"])
    pg.sort(key=lambda r: r["t"])
    realtime.sort(key=lambda r: r["t"])
    # Ids after sorting, so the pages are time ordered and ids unique.
    for rows in (requests, pg, realtime):
        for row in rows:
            row["id"] = _uuid(rng)
    return _World(sessions, samples, requests, pg, realtime, users, webinar_id, others)


def _req(rng, t, method, path, status, user, ip, email=False) -> dict:
    search = "?select=*"
    if email and path == "/rest/v1/agenda" and rng.random() < 0.1:
        search = "?select=*&owner_email=eq.viewer.one%40example.org"
    return {
        "t": t,
        "method": method,
        "path": path,
        "search": search if method == "GET" else "",
        "status": status,
        "user": user,
        "origin_ms": round(rng.uniform(8, 90) if status < 500 else rng.uniform(900, 8000), 1),
        "ip": ip,
        "ray": f"{rng.getrandbits(64):016x}",
    }


# ------------------------------------------------------------------ log rows by flavour


def _edge_message(case: Case, r: dict) -> str:
    url = f"https://{case.project_ref}.supabase.co{r['path']}{r['search']}"
    return f"{r['method']} | {r['status']} | {r['ip']} | {r['ray']} | {url} | {UA}"


def edge_bigquery(case: Case, r: dict) -> dict:
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": _edge_message(case, r),
        "identifier": case.project_ref,
        "metadata": [
            {
                "request": [
                    {
                        "method": r["method"],
                        "path": r["path"],
                        "search": r["search"] or None,
                        "host": f"{case.project_ref}.supabase.co",
                        "headers": [
                            {
                                "cf_connecting_ip": r["ip"],
                                "cf_ray": r["ray"],
                                "user_agent": UA,
                                "x_client_info": "supabase-js-web/2.50.0",
                                "x_real_ip": r["ip"],
                            }
                        ],
                        "sb": [{"auth_user": r["user"]}],
                    }
                ],
                "response": [{"status_code": r["status"], "origin_time": r["origin_ms"]}],
            }
        ],
    }


def edge_clickhouse(case: Case, r: dict) -> dict:
    return {
        "id": r["id"],
        "timestamp": _ch_time(r["t"]),
        "event_message": _edge_message(case, r),
        "severity_text": "INFO",
        "source": "edge_logs",
        "log_attributes": {
            "request.method": r["method"],
            "request.path": r["path"],
            "request.search": r["search"],
            "request.headers.cf_connecting_ip": r["ip"],
            "request.headers.cf_ray": r["ray"],
            "request.headers.user_agent": UA,
            "request.headers.x_client_info": "supabase-js-web/2.50.0",
            "request.sb.auth_user": r["user"],
            "response.status_code": str(r["status"]),
            "response.origin_time": str(r["origin_ms"]),
        },
    }


def postgres_bigquery(case: Case, r: dict) -> dict:
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": r["message"],
        "identifier": case.project_ref,
        "metadata": [
            {
                "host": f"db-{case.project_ref}",
                "parsed": [
                    {
                        "application_name": "PostgREST 13.0.4",
                        "command_tag": "SELECT",
                        "error_severity": r["severity"],
                        "sql_state_code": r["sqlstate"],
                        "user_name": "authenticator",
                        "query": "SELECT 1"
                        if r["relation"] is None
                        else f'SELECT "public"."{r["relation"]}".* FROM "public"."{r["relation"]}"',
                        "detail": None,
                        "hint": None,
                    }
                ],
            }
        ],
    }


def realtime_bigquery(case: Case, r: dict) -> dict:
    meta = {"level": r["level"], "external_id": case.project_ref, "project": case.project_ref}
    if r["connected"] is not None:
        meta["measurements"] = [
            {"connected": r["connected"], "connected_cluster": r["connected"], "limit": r["limit"]}
        ]
    else:
        meta["error_code"] = r["message"].split(":", 1)[0]
    return {
        "id": r["id"],
        "timestamp": _micros(r["t"]),
        "event_message": r["message"],
        "metadata": [meta],
    }


def realtime_clickhouse(case: Case, r: dict) -> dict:
    attrs = {"level": r["level"], "external_id": case.project_ref, "project": case.project_ref}
    if r["connected"] is not None:
        attrs |= {
            "measurements.connected": str(r["connected"]),
            "measurements.connected_cluster": str(r["connected"]),
            "measurements.limit": str(r["limit"]),
        }
    else:
        attrs["error_code"] = r["message"].split(":", 1)[0]
    return {
        "id": r["id"],
        "timestamp": _ch_time(r["t"]),
        "event_message": r["message"],
        "severity_text": r["level"].upper(),
        "source": "realtime_logs",
        "log_attributes": attrs,
    }


# ------------------------------------------------------------------ the directory


def write_incident(dest: Path | str, name: str) -> Path:
    """Write case ``name`` of CASES as an incident directory at ``dest``; return the path."""
    case = CASES[name]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    world = build_world(case)
    end = case.start + timedelta(minutes=case.minutes)
    manifest: dict = {
        "name": f"unseen-{case.name}",
        "project_ref": case.project_ref,
        "window_start": case.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
        "generator": "tests/unseen_incidents.py",
    }
    if case.shape == "bigquery+explorer":
        # Logs Explorer "Download CSV" of `select timestamp, id, event_message, metadata`:
        # objects as JSON text in one cell, at most 1000 rows a query, Studio's doubled .csv.
        rows = [edge_bigquery(case, r) for r in world.requests]
        for i in range(0, len(rows), 1000):
            _write_csv(
                dest / "explorer" / f"supabase-logs-{case.project_ref}-{i // 1000}.csv.csv",
                ["timestamp", "id", "event_message", "metadata"],
                [{**r, "metadata": json.dumps(r["metadata"])} for r in rows[i : i + 1000]],
            )
        _write_pages(dest / "postgres_logs", [postgres_bigquery(case, r) for r in world.pg])
        _write_pages(dest / "realtime_logs", [realtime_bigquery(case, r) for r in world.realtime])
    elif case.shape == "bigquery":
        _write_pages(dest / "edge_logs", [edge_bigquery(case, r) for r in world.requests])
        _write_pages(dest / "postgres_logs", [postgres_bigquery(case, r) for r in world.pg])
        _write_pages(dest / "realtime_logs", [realtime_bigquery(case, r) for r in world.realtime])
    else:
        manifest["flavour"] = "clickhouse"
        _write_pages(dest / "logs" / "edge", [edge_clickhouse(case, r) for r in world.requests])
        _write_pages(
            dest / "logs" / "realtime", [realtime_clickhouse(case, r) for r in world.realtime]
        )
        # Logs Explorer "Download CSV" of an analyst's projection over postgres_logs.
        rows = [
            {
                "timestamp": _micros(r["t"]),
                "id": r["id"],
                "event_message": r["message"],
                "error_severity": r["severity"],
                "sql_state_code": r["sqlstate"],
                "user_name": "authenticator",
                "detail": "null",
            }
            for r in world.pg
        ]
        _write_csv(
            dest / "explorer" / f"supabase-logs-{case.project_ref}.csv",
            [
                "timestamp",
                "id",
                "event_message",
                "error_severity",
                "sql_state_code",
                "user_name",
                "detail",
            ],
            rows,
        )
        manifest["files"] = {
            "logs/edge/*": {"kind": "edge_logs"},
            "logs/realtime/*": {"kind": "realtime_logs"},
            "explorer/*.csv": {"kind": "postgres_logs"},
        }
    _write_tables(dest / "tables", case, world)
    _write_csv(
        dest / "annotations.csv",
        ["time_utc", "label", "note"],
        [
            {
                "time_utc": (case.start + timedelta(minutes=case.minutes // 2)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "label": "Host shared the <slides> link",
                "note": "chat message",
            },
            {"time_utc": "", "label": "Pooler size raised", "note": "time not recorded"},
        ],
    )
    (dest / "incident.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _write_checksums(dest)
    return dest


def _write_tables(folder: Path, case: Case, world: _World) -> None:
    start = case.start
    webinars = [
        {
            "id": world.webinar_id,
            "title": case.title,
            "starts_at": _table_time(start),
            "ends_at": _table_time(start + timedelta(minutes=case.minutes)),
            "status": "ended",
            "created_at": _table_time(start - timedelta(days=9)),
            "host_id": world.users[0],
            "settings": '{"chat": true}',
        }
    ]
    for i, (title, wid) in enumerate(zip(case.extra_webinars, world.other_webinars, strict=True)):
        webinars.append(
            {
                "id": wid,
                "title": title,
                "starts_at": _table_time(start + timedelta(minutes=5 + i)),
                "ends_at": None,
                "status": "scheduled",
                "created_at": _table_time(start - timedelta(days=1)),
                "host_id": world.users[1],
                "settings": None,
            }
        )
    rng = random.Random(case.seed + 1)
    registrations = [
        {
            "webinar_id": world.webinar_id,
            "user_id": u,
            "created_at": _table_time(start - timedelta(hours=rng.uniform(1, 200))),
            "id": _uuid(rng),
            "source": rng.choice(["email", "link"]),
        }
        for u in world.users
    ]
    presence = [
        {
            "id": _uuid(rng),
            "webinar_id": world.webinar_id,
            "user_id": s["user"],
            "session_id": s["session_id"],
            "joined_at": _table_time(s["joined"]),
            "left_at": _table_time(s["left"]),
            "device": "desktop",
        }
        for s in world.sessions
    ]
    counts = [
        {
            "id": i + 1,
            "webinar_id": world.webinar_id,
            "sampled_at": _table_time(t),
            "viewer_count": n,
            "node": "web-1",
        }
        for i, (t, n) in enumerate(world.samples)
    ]
    if case.extra_table_columns:
        cols = {
            "webinars": [
                "status",
                "id",
                "host_id",
                "title",
                "settings",
                "ends_at",
                "starts_at",
                "created_at",
            ],
            "registrations": ["id", "created_at", "user_id", "source", "webinar_id"],
            "webinar_live_presence": [
                "session_id",
                "user_id",
                "webinar_id",
                "id",
                "device",
                "left_at",
                "joined_at",
            ],
            "webinar_viewer_counts": ["sampled_at", "viewer_count", "webinar_id", "node", "id"],
        }
    else:
        cols = {
            "webinars": ["id", "title", "starts_at", "ends_at", "status", "created_at"],
            "registrations": ["webinar_id", "user_id", "created_at"],
            "webinar_live_presence": [
                "id",
                "webinar_id",
                "user_id",
                "session_id",
                "joined_at",
                "left_at",
            ],
            "webinar_viewer_counts": ["id", "webinar_id", "sampled_at", "viewer_count"],
        }
    _write_csv(folder / "webinars.csv", cols["webinars"], webinars)
    _write_csv(folder / "registrations.csv", cols["registrations"], registrations)
    _write_csv(folder / "webinar_live_presence.csv", cols["webinar_live_presence"], presence)
    _write_csv(folder / "webinar_viewer_counts.csv", cols["webinar_viewer_counts"], counts)


def _write_checksums(dest: Path) -> None:
    lines = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        rel = path.relative_to(dest).as_posix()
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}")
    (dest / "SHA256SUMS").write_text("\n".join(sorted(lines, key=lambda s: s[66:])) + "\n")


def webinar_of(directory: Path | str) -> str:
    """The main webinar id of a written case (first row of its webinars export)."""
    with open(Path(directory) / "tables" / "webinars.csv", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    return row["id"]


def truth(name: str) -> dict:
    """What the generator knows about case ``name``: counts the report must agree with."""
    case = CASES[name]
    world = build_world(case)
    return {
        "requests": len(world.requests),
        "db_errors": len(world.pg),
        "db_errors_by_state": {
            s: sum(1 for r in world.pg if r["sqlstate"] == s)
            for s in {r["sqlstate"] for r in world.pg}
        },
        "realtime_errors": sum(1 for r in world.realtime if r["level"] == "error"),
        "error_responses": sum(1 for r in world.requests if r["status"] >= 400),
        "peak_viewers": max((n for _, n in world.samples), default=0),
        "unique_users": len({s["user"] for s in world.sessions}),
        "registrations": len(world.users),
        "webinar_id": world.webinar_id,
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for case_name in CASES:
        path = write_incident(out / case_name, case_name)
        print(path, webinar_of(path), json.dumps(truth(case_name)))
