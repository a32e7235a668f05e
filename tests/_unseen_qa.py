"""A second independent writer of Supabase-shaped incidents (no import from ``analysis``).

Written from ``docs/contract.md`` and ``docs/supabase-exports.md`` and Supabase Studio's own
download code, sharing nothing with ``analysis.simulate`` or ``tests/unseen_incidents.py``: other
dates and window lengths, windows crossing midnight in UTC and in the display zone, other
webinar ids and table shapes, error classes the shipped incident never had (57014, 40P01,
53100, PGRST003 504s without a Postgres line, 429s and 401s on auth, 5xx on storage),
incidents with only one log source, and every export shape a user can produce (Management API
pages of both storage flavours, Logs Explorer CSV and "Copy as JSON", the product pages' CSVs,
the unified Logs page's CSV and JSON). Tables come as Studio writes them and as other tools
do (BOM, LF, every cell quoted, ISO ``T`` times, extra and reordered columns).

``python tests/_unseen_qa.py OUT`` writes every case of ``CASES`` under ``OUT/<name>`` and
prints ``<dir> <webinar id>`` per case.
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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

UAS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "okhttp/4.12.0",
    "Dart/3.4 (dart:io)",
)


@dataclass(frozen=True)
class Fault:
    """A way a request fails: on ``path`` with ``status``; optional Postgres or Realtime line."""

    path: str
    method: str
    status: int
    share: float  # probability a request on path fails while the fault is active
    threshold: int = 0  # open sessions from which it is active (0: always)
    sqlstate: str | None = None  # a Postgres line with this SQLSTATE, None: none
    severity: str = "ERROR"
    message: str = ""
    detail: str | None = None
    during: tuple[int, int] | None = None  # active only in these minutes of the window


@dataclass(frozen=True)
class Case:
    name: str
    start: datetime
    minutes: int
    display_tz: str
    viewers: int
    title: str
    faults: tuple[Fault, ...] = ()
    realtime_lines: tuple[tuple[str, str, int], ...] = ()  # (message, level, threshold)
    billing: bool = True
    edge: str = "api-bq"  # api-bq|api-ch|explorer-csv|explorer-json|unified-json|unified-csv|none
    postgres: str = "api-bq"  # api-bq|api-ch|explorer-csv|page-csv|unified|none
    realtime: str = "api-bq"  # api-bq|api-ch|page-csv|explorer-json|unified|none
    tables: str = "studio"  # studio|bom-lf|quoted|iso|reordered
    project_ref: str = "vbnmqwertyuiopasdfgh"
    seed: int = 1
    hostile: bool = False
    annotations: bool = True
    manifest_extra: dict = field(default_factory=dict)


DEADLOCK = Fault(
    "/rest/v1/rpc/claim_seat",
    "POST",
    500,
    0.05,
    sqlstate="40P01",
    message="deadlock detected",
    detail="Process 4711 waits for ShareLock on transaction 99812; blocked by process 4712.",
)
TIMEOUT = Fault(
    "/rest/v1/polls",
    "GET",
    500,
    0.5,
    threshold=30,
    sqlstate="57014",
    message="canceling statement due to statement timeout",
)
DISK_FULL = Fault(
    "/rest/v1/chat_messages",
    "POST",
    503,
    0.9,
    sqlstate="53100",
    message='could not extend file "base/16384/2619": No space left on device',
    during=(40, 52),
)
POOL_TIMEOUT = Fault("/rest/v1/polls", "GET", 504, 0.4, threshold=34)  # PGRST003, no pg line
AUTH_429 = Fault("/auth/v1/token", "POST", 429, 0.3, threshold=25)
AUTH_401 = Fault("/auth/v1/user", "GET", 401, 0.03)
STORAGE_5XX = Fault("/storage/v1/object/public/slides/deck.pdf", "GET", 502, 0.7, during=(10, 16))

HOSTILE_TITLE = (
    "<script>alert(1)</script> [x](http://evil.example) `code` | pipe $x$ "
    "![i](http://evil.example/i.png) <img src=x onerror=alert(2)> *em* _u_ {{7*7}} "
    "javascript:alert(3) \u202ertl\u202c \x1b[31m"
)

CASES: dict[str, Case] = {
    # 90 minutes across midnight KST (15:00Z), shown in Kolkata time; Postgres classes the
    # shipped incident never had, gateway-only classes, unified JSON for the gateway.
    "kolkata_unified": Case(
        name="kolkata_unified",
        start=datetime(2026, 8, 19, 14, 20, tzinfo=UTC),
        minutes=90,
        display_tz="Asia/Kolkata",
        viewers=48,
        title="Monsoon release AMA",
        faults=(DEADLOCK, TIMEOUT, DISK_FULL, POOL_TIMEOUT, AUTH_429, AUTH_401, STORAGE_5XX),
        realtime_lines=(("ChannelRateLimitReached: Too many channels", "error", 40),),
        edge="unified-json",
        postgres="api-ch",
        realtime="api-ch",
        tables="bom-lf",
    ),
    # Realtime only: no gateway, no Postgres logs at all; Logs Explorer "Copy as JSON".
    "realtime_only": Case(
        name="realtime_only",
        start=datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
        minutes=45,
        display_tz="Pacific/Auckland",
        viewers=40,
        title="New Year countdown",
        realtime_lines=(
            ("TooManyConnections: Too many connected users", "error", 30),
            ("ClientJoinRateLimitReached: Too many joins per second", "warning", 36),
        ),
        edge="none",
        postgres="none",
        realtime="explorer-json",
        tables="quoted",
        seed=2,
    ),
    # Postgres only through the Postgres page's CSV and a Logs Explorer CSV; no gateway.
    "postgres_only": Case(
        name="postgres_only",
        start=datetime(2026, 10, 4, 22, 15, tzinfo=UTC),
        minutes=60,
        display_tz="America/St_Johns",
        viewers=30,
        title="Évènement « spécial »",
        faults=(DEADLOCK, TIMEOUT),
        edge="none",
        postgres="page-csv",
        realtime="none",
        billing=False,
        tables="iso",
        seed=3,
    ),
    # ClickHouse pages everywhere, reordered/extra table columns, hostile text everywhere.
    "hostile_clickhouse": Case(
        name="hostile_clickhouse",
        start=datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
        minutes=30,
        display_tz="UTC",
        viewers=25,
        title=HOSTILE_TITLE,
        faults=(
            Fault(
                "/rest/v1/answers",
                "POST",
                400,
                0.2,
                sqlstate="23514",
                message='new row for relation "answers" violates check constraint '
                '"answers_<b>len</b>_check"',
                detail="Failing row contains (7, alice@example.com, +1 415 555 0100).",
            ),
            AUTH_429,
        ),
        realtime_lines=(("ConnectionRateLimitReached: <img src=x onerror=alert(4)>", "error", 20),),
        edge="api-ch",
        postgres="api-ch",
        realtime="api-ch",
        tables="reordered",
        hostile=True,
        seed=4,
    ),
    # Logs Explorer CSV downloads for everything (BigQuery metadata cells), unified CSV tables.
    "explorer_all": Case(
        name="explorer_all",
        start=datetime(2026, 3, 29, 0, 40, tzinfo=UTC),
        minutes=50,
        display_tz="Europe/London",
        viewers=35,
        title="Spring all-hands",
        faults=(TIMEOUT, AUTH_401),
        realtime_lines=(("UnableToConnectToTenantDatabase: tcp connect: timeout", "error", 32),),
        edge="explorer-csv",
        postgres="explorer-csv",
        realtime="page-csv",
        seed=5,
    ),
    # The unified Logs page's CSV for every source at once.
    "unified_csv": Case(
        name="unified_csv",
        start=datetime(2026, 9, 9, 9, 0, tzinfo=UTC),
        minutes=40,
        display_tz="Australia/Adelaide",
        viewers=30,
        title="Partner sync",
        faults=(TIMEOUT, AUTH_429),
        edge="unified-csv",
        postgres="unified",
        realtime="unified",
        seed=6,
    ),
}


# ------------------------------------------------------------------ helpers


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _us(t: datetime) -> int:
    return int(round(t.timestamp() * 1000)) * 1000


def _ch(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _iso_z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _csv_text(columns: list[str], rows: list[list], *, quote_all=False, eol="\r\n") -> str:
    out = io.StringIO()
    writer = csv.writer(
        out, lineterminator=eol, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
        fh.write(data)
    return buf.getvalue()


# ------------------------------------------------------------------ the world


@dataclass
class World:
    webinar_id: str
    users: list[str]
    sessions: list[dict]
    samples: list[tuple[datetime, int]]
    requests: list[dict]
    pg: list[dict]
    rt: list[dict]


def _open(sessions: list[dict], t: datetime) -> int:
    return sum(1 for s in sessions if s["joined"] <= t and (s["left"] is None or t < s["left"]))


def build(case: Case) -> World:
    rng = random.Random(1000 + case.seed)
    start = case.start
    end = start + timedelta(minutes=case.minutes)
    webinar = _uuid(rng)
    users = [_uuid(rng) for _ in range(case.viewers)]
    sessions = []
    for i, user in enumerate(users):
        # A ramp to a plateau in the middle third, then people leave.
        joined = start + timedelta(
            seconds=rng.triangular(-60, case.minutes * 40, case.minutes * 15)
        )
        left = joined + timedelta(seconds=rng.uniform(case.minutes * 20, case.minutes * 60))
        left = None if left >= end and i % 2 else min(left, end - timedelta(seconds=2))
        sessions.append({"user": user, "sid": _uuid(rng), "joined": joined, "left": left})
    samples = []
    t = start + timedelta(seconds=3)
    while t < end:
        samples.append((t, _open(sessions, t)))
        t += timedelta(seconds=rng.choice((15, 30, 30, 45)))
    requests, pg, rt = [], [], []
    paths = sorted({f.path for f in case.faults} | {"/rest/v1/agenda"})
    for s in sessions:
        s_end = s["left"] or end
        t = max(s["joined"], start) + timedelta(seconds=rng.uniform(0.5, 4))
        ip = f"203.0.113.{rng.randint(1, 254)}"
        ua = rng.choice(UAS)
        while t < s_end:
            path = rng.choice(paths)
            faults = [f for f in case.faults if f.path == path]
            method = faults[0].method if faults else "GET"
            status = 201 if method == "POST" else 200
            minute = int((t - start).total_seconds() // 60)
            for fault in faults:
                active = _open(sessions, t) >= fault.threshold and (
                    fault.during is None or fault.during[0] <= minute < fault.during[1]
                )
                if active and rng.random() < fault.share:
                    status = fault.status
                    if fault.sqlstate:
                        pg.append({"t": t - timedelta(milliseconds=rng.randint(3, 30)), "f": fault})
                    break
            requests.append(
                {
                    "t": t,
                    "method": method,
                    "path": path,
                    "search": "?select=*&email=eq.someone%40example.net"
                    if method == "GET" and rng.random() < 0.05
                    else ("?select=*" if method == "GET" else ""),
                    "status": status,
                    "user": s["user"],
                    "ip": ip,
                    "ua": ua if not case.hostile else ua + " <svg onload=alert(5)>",
                    "ms": round(rng.uniform(5, 60) if status < 500 else rng.uniform(2000, 9000), 1),
                    "ray": f"{rng.getrandbits(60):015x}-ICN",
                }
            )
            t += timedelta(seconds=rng.uniform(20, 80))
    t = start + timedelta(seconds=1)
    while t < end:
        n = _open(sessions, t)
        if case.billing:
            rt.append(
                {
                    "t": t,
                    "msg": "Billing metrics: [:realtime, :connections]",
                    "level": "info",
                    "connected": n,
                    "limit": 200,
                }
            )
        for msg, level, threshold in case.realtime_lines:
            if n >= threshold and rng.random() < 0.4:
                rt.append(
                    {
                        "t": t + timedelta(milliseconds=rng.randint(1, 900)),
                        "msg": msg,
                        "level": level,
                        "connected": None,
                        "limit": None,
                    }
                )
        t += timedelta(seconds=5)
    for rows in (requests, pg, rt):
        rows.sort(key=lambda r: r["t"])
        for row in rows:
            row["id"] = _uuid(rng)
    return World(webinar, users, sessions, samples, requests, pg, rt)


# ------------------------------------------------------------------ log rows


def _url(case: Case, r: dict) -> str:
    return f"https://{case.project_ref}.supabase.co{r['path']}{r['search']}"


def _edge_message(case: Case, r: dict) -> str:
    return f"{r['method']} | {r['status']} | {r['ip']} | {r['ray']} | {_url(case, r)} | {r['ua']}"


def edge_bq(case: Case, r: dict) -> dict:
    return {
        "id": r["id"],
        "timestamp": _us(r["t"]),
        "event_message": _edge_message(case, r),
        "identifier": case.project_ref,
        "metadata": [
            {
                "request": [
                    {
                        "method": r["method"],
                        "path": r["path"],
                        "search": r["search"] or None,
                        "headers": [
                            {
                                "cf_connecting_ip": r["ip"],
                                "user_agent": r["ua"],
                                "x_client_info": "supabase-flutter/2.8.0",
                            }
                        ],
                        "sb": [{"auth_user": r["user"]}],
                    }
                ],
                "response": [{"status_code": r["status"], "origin_time": r["ms"]}],
            }
        ],
    }


def edge_ch(case: Case, r: dict) -> dict:
    return {
        "id": r["id"],
        "timestamp": _ch(r["t"]),
        "event_message": _edge_message(case, r),
        "severity_text": "INFO" if r["status"] < 400 else "ERROR",
        "source": "edge_logs",
        "log_attributes": {
            "request.method": r["method"],
            "request.path": r["path"],
            "request.search": r["search"],
            "request.headers.cf_connecting_ip": r["ip"],
            "request.headers.user_agent": r["ua"],
            "request.headers.x_client_info": "supabase-flutter/2.8.0",
            "request.sb.auth_user": r["user"],
            "response.status_code": str(r["status"]),
            "response.origin_time": str(r["ms"]),
        },
    }


def pg_bq(case: Case, r: dict) -> dict:
    f = r["f"]
    return {
        "id": r["id"],
        "timestamp": _us(r["t"]),
        "event_message": f.message,
        "identifier": case.project_ref,
        "metadata": [
            {
                "parsed": [
                    {
                        "error_severity": f.severity,
                        "sql_state_code": f.sqlstate,
                        "user_name": "authenticator",
                        "application_name": "postgrest",
                        "detail": f.detail,
                        "hint": None,
                        "command_tag": "UPDATE",
                        "query": f"-- {f.path}",
                    }
                ]
            }
        ],
    }


def pg_ch(case: Case, r: dict) -> dict:
    f = r["f"]
    attrs = {
        "parsed.error_severity": f.severity,
        "parsed.sql_state_code": f.sqlstate,
        "parsed.user_name": "authenticator",
        "parsed.application_name": "postgrest",
        "parsed.command_tag": "UPDATE",
        "parsed.query": f"-- {f.path}",
    }
    if f.detail:
        attrs["parsed.detail"] = f.detail
    return {
        "id": r["id"],
        "timestamp": _ch(r["t"]),
        "event_message": f.message,
        "severity_text": f.severity,
        "source": "postgres_logs",
        "log_attributes": attrs,
    }


def rt_bq(case: Case, r: dict) -> dict:
    meta = {"level": r["level"], "project": case.project_ref, "external_id": case.project_ref}
    if r["connected"] is not None:
        meta["measurements"] = [
            {"connected": r["connected"], "connected_cluster": r["connected"], "limit": r["limit"]}
        ]
    return {"id": r["id"], "timestamp": _us(r["t"]), "event_message": r["msg"], "metadata": [meta]}


def rt_ch(case: Case, r: dict) -> dict:
    attrs = {"level": r["level"], "project": case.project_ref, "external_id": case.project_ref}
    if r["connected"] is not None:
        attrs |= {
            "measurements.connected": str(r["connected"]),
            "measurements.connected_cluster": str(r["connected"]),
            "measurements.limit": str(r["limit"]),
        }
    return {
        "id": r["id"],
        "timestamp": _ch(r["t"]),
        "event_message": r["msg"],
        "severity_text": r["level"].upper(),
        "source": "realtime_logs",
        "log_attributes": attrs,
    }


def unified(case: Case, source: str, r: dict) -> dict:
    """One row of the unified Logs page's download (Studio reshapes every source to this)."""
    base = {
        "id": r["id"],
        "date": _iso_z(r["t"]),
        "timestamp": _us(r["t"]),
        "level": None,
        "status": None,
        "method": None,
        "host": None,
        "pathname": None,
        "event_message": None,
        "headers": {},
        "regions": [],
        "log_type": None,
        "latency": 0,
        "log_count": None,
        "logs": [],
        "auth_user": None,
    }
    if source == "edge":
        path = r["path"]
        log_type = (
            "postgrest"
            if path.startswith("/rest/")
            else ("storage" if path.startswith("/storage/") else "edge")
        )
        level = "success" if r["status"] < 400 else ("warning" if r["status"] < 500 else "error")
        return base | {
            "level": level,
            "status": str(r["status"]),
            "method": r["method"],
            "host": f"{case.project_ref}.supabase.co",
            "pathname": path,
            "event_message": _edge_message(case, r),
            "log_type": log_type,
            "latency": r["ms"],
            "auth_user": r["user"],
        }
    if source == "postgres":
        f = r["f"]
        return base | {
            "level": "error",
            "status": f.sqlstate,
            "event_message": f.message,
            "log_type": "postgres",
        }
    level = {"info": "success", "warning": "warning", "error": "error"}[r["level"]]
    return base | {"level": level, "event_message": r["msg"], "log_type": "realtime"}


def _pages(dest: Path, folder: str, rows: list[dict]) -> None:
    for i in range(0, max(len(rows), 1), 1000):
        body = json.dumps({"result": rows[i : i + 1000], "error": None}).encode()
        _write(dest / folder / f"page-{i // 1000 + 1:04d}.json.gz", _gz(body))


def _explorer_csv(rows: list[dict]) -> str:
    """Studio's Logs Explorer download: objects JSON-stringified, missing values ``null``."""
    cols = list(rows[0])
    return _csv_text(
        cols,
        [
            [
                json.dumps(v) if isinstance(v, (dict, list)) else ("null" if v is None else v)
                for v in (row.get(c) for c in cols)
            ]
            for row in rows
        ],
    )


# ------------------------------------------------------------------ the directory


def write_incident(dest: Path | str, name: str | Case) -> Path:
    """Write case ``name`` of :data:`CASES` (or a :class:`Case`) as an incident directory."""
    case = name if isinstance(name, Case) else CASES[name]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    w = build(case)
    end = case.start + timedelta(minutes=case.minutes)
    manifest = {
        "name": f"qa-{case.name}",
        "project_ref": case.project_ref,
        "window_start": case.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": case.display_tz,
        **case.manifest_extra,
    }
    files: dict = {}
    unified_rows: list[dict] = []

    # edge
    if case.edge == "api-bq":
        _pages(dest, "edge_logs", [edge_bq(case, r) for r in w.requests])
    elif case.edge == "api-ch":
        _pages(dest, "ch/edge", [edge_ch(case, r) for r in w.requests])
        files["ch/edge/*"] = {"kind": "edge_logs", "flavour": "clickhouse"}
    elif case.edge == "explorer-csv":
        rows = [edge_bq(case, r) for r in w.requests]
        for i in range(0, len(rows), 1000):
            _write(
                dest / "downloads" / f"supabase-logs-{case.project_ref}-edge{i}.csv.csv",
                _explorer_csv(
                    [
                        {k: r[k] for k in ("timestamp", "id", "event_message", "metadata")}
                        for r in rows[i : i + 1000]
                    ]
                ),
            )
    elif case.edge == "explorer-json":
        rows = [edge_bq(case, r) for r in w.requests]
        _write(dest / "downloads" / "edge.json", json.dumps(rows, indent=2))
    elif case.edge in ("unified-json", "unified-csv"):
        unified_rows += [unified(case, "edge", r) for r in w.requests]

    # postgres
    if case.postgres == "api-bq":
        _pages(dest, "postgres_logs", [pg_bq(case, r) for r in w.pg])
    elif case.postgres == "api-ch":
        _pages(dest, "ch/postgres", [pg_ch(case, r) for r in w.pg])
        files["ch/postgres/*"] = {"kind": "postgres_logs", "flavour": "clickhouse"}
    elif case.postgres == "explorer-csv":
        rows = [pg_bq(case, r) for r in w.pg]
        _write(
            dest / "downloads" / f"supabase-logs-{case.project_ref}-pg.csv",
            _explorer_csv(
                [{k: r[k] for k in ("timestamp", "id", "event_message", "metadata")} for r in rows]
            ),
        )
    elif case.postgres == "page-csv":
        # The Postgres page: identifier, timestamp, id, event_message, error_severity, detail, hint
        _write(
            dest / "downloads" / "postgres.csv",
            _csv_text(
                [
                    "identifier",
                    "timestamp",
                    "id",
                    "event_message",
                    "error_severity",
                    "detail",
                    "hint",
                ],
                [
                    [
                        case.project_ref,
                        _us(r["t"]),
                        r["id"],
                        r["f"].message,
                        r["f"].severity,
                        r["f"].detail or "null",
                        "null",
                    ]
                    for r in w.pg
                ],
            ),
        )
    elif case.postgres == "unified":
        unified_rows += [unified(case, "postgres", r) for r in w.pg]

    # realtime
    if case.realtime == "api-bq":
        _pages(dest, "realtime_logs", [rt_bq(case, r) for r in w.rt])
    elif case.realtime == "api-ch":
        _pages(dest, "ch/realtime", [rt_ch(case, r) for r in w.rt])
        files["ch/realtime/*"] = {"kind": "realtime_logs", "flavour": "clickhouse"}
    elif case.realtime == "explorer-json":
        _write(
            dest / "downloads" / "realtime.json",
            json.dumps([rt_bq(case, r) for r in w.rt], indent=2),
        )
    elif case.realtime == "page-csv":
        _write(
            dest / "downloads" / "realtime.csv",
            _csv_text(
                ["id", "timestamp", "event_message"],
                [[r["id"], _us(r["t"]), r["msg"]] for r in w.rt],
            ),
        )
    elif case.realtime == "unified":
        unified_rows += [unified(case, "realtime", r) for r in w.rt]

    if unified_rows:
        unified_rows.sort(key=lambda r: (r["timestamp"], r["id"]))
        if case.edge == "unified-csv":
            cols = list(unified_rows[0])
            _write(
                dest / "supabase_logs.csv",
                _csv_text(
                    cols,
                    [
                        [
                            json.dumps(v)
                            if isinstance(v, (dict, list))
                            else ("null" if v is None else v)
                            for v in (row[c] for c in cols)
                        ]
                        for row in unified_rows
                    ],
                ),
            )
        else:
            _write(dest / "supabase_logs.json", json.dumps(unified_rows, indent=2))
    if files:
        manifest["files"] = files
    _write_tables(dest / "tables", case, w)
    if case.annotations:
        label = "Pool size raised <i>live</i>" if not case.hostile else HOSTILE_TITLE
        _write(
            dest / "annotations.csv",
            _csv_text(
                ["time_utc", "label", "note"],
                [
                    [
                        _iso_z(case.start + timedelta(minutes=case.minutes // 3)),
                        label,
                        "by ops@example.com from 10.1.2.3",
                    ],
                    ["", "Status page updated", ""],
                ],
            ),
        )
    _write(dest / "incident.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return dest


def _tt(t: datetime | None, style: str) -> str | None:
    if t is None:
        return None
    if style == "iso":
        return t.astimezone(UTC).isoformat()
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _write_tables(folder: Path, case: Case, w: World) -> None:
    style = case.tables
    start, end = case.start, case.start + timedelta(minutes=case.minutes)
    rng = random.Random(case.seed)
    tables = {
        "webinars": (
            ["id", "title", "starts_at", "ends_at", "status", "created_at"],
            [
                [
                    w.webinar_id,
                    case.title,
                    _tt(start, style),
                    _tt(end, style),
                    "ended",
                    _tt(start - timedelta(days=3), style),
                ],
            ],
        ),
        "registrations": (
            ["webinar_id", "user_id", "created_at"],
            [
                [w.webinar_id, u, _tt(start - timedelta(minutes=rng.uniform(5, 9000)), style)]
                for u in w.users
            ],
        ),
        "webinar_live_presence": (
            ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"],
            [
                [
                    _uuid(rng),
                    w.webinar_id,
                    s["user"],
                    s["sid"],
                    _tt(s["joined"], style),
                    _tt(s["left"], style),
                ]
                for s in w.sessions
            ],
        ),
        "webinar_viewer_counts": (
            ["id", "webinar_id", "sampled_at", "viewer_count"],
            [[i + 1, w.webinar_id, _tt(t, style), n] for i, (t, n) in enumerate(w.samples)],
        ),
    }
    for name, (cols, rows) in tables.items():
        if style == "reordered":
            order = list(reversed(range(len(cols))))
            cols = [cols[i] for i in order] + ["inserted_by"]
            rows = [[row[i] for i in order] + ["ops"] for row in rows]
        if style == "bom-lf":
            data = "\ufeff" + _csv_text(cols, rows, eol="\n")
        elif style == "quoted":
            data = _csv_text(cols, rows, quote_all=True)
        else:
            data = _csv_text(cols, rows)
        _write(folder / f"{name}.csv", data)


def truth(name: str | Case) -> dict:
    """What the writer knows of a case: counts the reading must agree with."""
    case = name if isinstance(name, Case) else CASES[name]
    w = build(case)
    return {
        "webinar_id": w.webinar_id,
        "requests": len(w.requests) if case.edge != "none" else 0,
        "db_errors": len(w.pg) if case.postgres != "none" else 0,
        "db_by_state": {
            s: sum(1 for r in w.pg if r["f"].sqlstate == s)
            for s in sorted({r["f"].sqlstate for r in w.pg})
        },
        "realtime_rows": len(w.rt) if case.realtime != "none" else 0,
        "realtime_errors": sum(1 for r in w.rt if r["connected"] is None),
        "error_responses": sum(1 for r in w.requests if r["status"] >= 400),
        "peak": max((n for _, n in w.samples), default=0),
        "users": w.users,
    }


def sha256sums(dest: Path) -> None:
    """Pin every file (optional for a user; written by cases that want it)."""
    lines = sorted(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(dest).as_posix()}"
        for p in dest.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    )
    (dest / "SHA256SUMS").write_text("\n".join(lines) + "\n")


__all__ = ["CASES", "Case", "Fault", "build", "replace", "truth", "write_incident"]

if __name__ == "__main__":
    out = Path(sys.argv[1])
    for case_name in sys.argv[2:] or CASES:
        path = write_incident(out / case_name, case_name)
        print(path, truth(case_name)["webinar_id"])
