"""A simulated incident written as raw Supabase exports: log pages, tables, manifest."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from analysis._util import epoch_us, format_checksums, sha256_file
from analysis.exceptions import ParameterError
from analysis.simulate.incident.model import SimulatedIncident, _interp, _rng, simulate
from analysis.simulate.incident.parameters import ERROR_KINDS, IncidentParams
from analysis.simulate.records import (
    edge_row,
    format_csv_ts,
    new_uuid4,
    new_uuid4s,
    postgres_row,
    realtime_row,
    write_pages,
)

_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Mobile Safari/537.36",
)
_ANON_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6Inlxc2F5cGhzc2p6bnRo"
    "cnhwZ2ZiIiwicm9sZSI6ImFub24iLCJpYXQiOjE3MzY0MDAwMDAsImV4cCI6MjA1MTk3NjAwMH0.c2ltdWxhdGVk"
    "LWFub24ta2V5LXNpZ25hdHVyZQ"
)
_REFERER = "https://eventlive.example.kr/webinars/{webinar}/live"
_CLIENT = "supabase-js-web/2.49.4"
_POSTGREST = "PostgREST 12.2.3"
_PG_QUERIES = {
    "registrations_pkey": (
        'WITH pgrst_source AS (INSERT INTO "public"."registrations"("user_id", "webinar_id") '
        'SELECT "pgrst_body"."user_id", "pgrst_body"."webinar_id" FROM (SELECT $1 AS json_data) '
        'pgrst_payload, LATERAL (SELECT "user_id", "webinar_id" FROM json_populate_record(null::'
        '"public"."registrations", json_data)) pgrst_body  RETURNING "public"."registrations".*) '
        "SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        "array[]::text[] AS header, coalesce(json_agg(_postgrest_t), '[]') AS body "
        "FROM (SELECT * FROM pgrst_source) _postgrest_t"
    ),
    "undefined_column": (
        'WITH pgrst_source AS ( SELECT "public"."registrations"."id" FROM "public"."registrations"'
        '  WHERE  "public"."registrations"."webinar_id" = $1 AND  "public"."registrations".'
        '"user_id" = $2   ) SELECT null::bigint AS total_result_set, pg_catalog.count('
        "_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]') AS body "
        "FROM ( SELECT * FROM pgrst_source ) _postgrest_t"
    ),
    "marketing_stats": (
        'WITH pgrst_source AS (INSERT INTO "public"."marketing_stats_daily"("metric", '
        '"stat_date", "value", "webinar_id") SELECT "pgrst_body"."metric", "pgrst_body".'
        '"stat_date", "pgrst_body"."value", "pgrst_body"."webinar_id" FROM (SELECT $1 AS '
        "json_data) pgrst_payload, LATERAL (SELECT * FROM json_populate_record(null::"
        '"public"."marketing_stats_daily", json_data)) pgrst_body  RETURNING 1) '
        "SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total "
        "FROM (SELECT * FROM pgrst_source) _postgrest_t"
    ),
    "uuid_null": (
        'WITH pgrst_source AS (INSERT INTO "public"."webinar_live_presence"("session_id", '
        '"user_id", "webinar_id") SELECT "pgrst_body"."session_id", "pgrst_body"."user_id", '
        '"pgrst_body"."webinar_id" FROM (SELECT $1 AS json_data) pgrst_payload, LATERAL '
        '(SELECT * FROM json_populate_record(null::"public"."webinar_live_presence", '
        "json_data)) pgrst_body  RETURNING 1) SELECT '' AS total_result_set, "
        "pg_catalog.count(_postgrest_t) AS page_total FROM (SELECT * FROM pgrst_source) "
        "_postgrest_t"
    ),
}


class _Writer:
    """Turns a ``SimulatedIncident`` into rows; one seeded stream for all serial draws."""

    def __init__(self, sim: SimulatedIncident) -> None:
        self.sim = sim
        self.p = sim.params
        self.rng = _rng(self.p, 4)
        self.t0 = epoch_us(self.p.window_start)
        self.ref = self.p.project_ref
        # Per user: IP, user agent, country (Korean audience, a few abroad).
        self.people = []
        for w, ids in enumerate(sim.users):
            for u, _ in enumerate(ids):
                a, b, c = (int(x) for x in self.rng.integers(1, 255, 3))
                first = int(self.rng.choice([1, 14, 39, 58, 59, 61, 106, 112, 121, 175, 211, 220]))
                self.people.append(((w, u), f"{first}.{a}.{b}.{c}", self._ua(), "KR"))
        self.person = {key: (ip, ua, cc) for key, ip, ua, cc in self.people}

    def _ua(self) -> str:
        return _UAS[int(self.rng.choice(len(_UAS), p=[0.45, 0.2, 0.15, 0.12, 0.08]))]

    def us(self, t: float) -> int:
        """Seconds from window start to a millisecond-precise µs timestamp."""
        return self.t0 + int(round(t * 1000)) * 1000

    def edge(
        self,
        t: float,
        w: int,
        u: int | None,
        method: str,
        path: str,
        search: str,
        status: int,
        extra: dict | None = None,
        anonymous: bool = False,
    ) -> dict:
        """One edge row by user ``u`` of webinar ``w`` (``None``: the service-role monitor).

        ``anonymous``: the user's browser without a user JWT (the websocket upgrade).
        """
        web = self.p.webinars[w]
        if u is None:
            ip, ua, cc = (
                "34.64.118.23",
                "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
                "KR",
            )
            user = None
        else:
            ip, ua, cc = self.person[(w, u)]
            user = self.sim.users[w][u]
        origin = int(self.rng.gamma(2.0, 18.0)) + 4
        if status >= 400:
            origin = int(self.rng.gamma(2.0, 6.0)) + 2
        return edge_row(
            row_id="",
            ts_us=self.us(t),
            ref=self.ref,
            method=method,
            path=path,
            search=search,
            status=status,
            ip=ip,
            ray=self.rng.bytes(8).hex(),
            user_agent=ua,
            country=cc,
            colo="ICN",
            origin_ms=origin,
            user=None if anonymous else user,
            client_info=_CLIENT if u is not None else None,
            referer=_REFERER.format(webinar=web.id) if u is not None else None,
            extra_headers=extra,
            apikey_role="service_role" if u is None else "anon",
        )

    def edge_rows(self) -> list[dict]:
        sim, p, rng = self.sim, self.p, self.rng
        n_seconds = p.window_minutes * 60
        rows: list[dict] = []
        wid = [web.id for web in p.webinars]
        # Requests of every session start: websocket, auth, webinar, own profile, presence row.
        for x in sim.sessions:
            if not 0 <= x.joined < n_seconds:
                continue
            w, u, t = x.webinar, x.user, x.joined
            uid = sim.users[w][u]
            ws = f"?apikey={_ANON_JWT}&vsn=1.0.0"
            rows.append(
                self.edge(t, w, u, "GET", "/realtime/v1/websocket", ws, 101, anonymous=True)
            )
            bearer = {"authorization": "Bearer " + self._user_jwt(uid)}
            rows.append(self.edge(t + 0.05, w, u, "GET", "/auth/v1/user", "", 200, bearer))
            rows.append(
                self.edge(
                    t + 0.12, w, u, "GET", "/rest/v1/webinars", f"?select=*&id=eq.{wid[w]}", 200
                )
            )
            rows.append(
                self.edge(t + 0.15, w, u, "GET", "/rest/v1/profiles", f"?select=*&id=eq.{uid}", 200)
            )
            rows.append(
                self.edge(
                    t + 3.1,
                    w,
                    u,
                    "POST",
                    "/rest/v1/webinar_live_presence",
                    "?columns=%22session_id%22,%22user_id%22,%22webinar_id%22",
                    201,
                )
            )
        # Walk-in registrations (201) at their first session.
        for w, regs in enumerate(sim.registered_at):
            for u, t in regs.items():
                if 0 <= t < n_seconds and u < p.webinars[w].users:
                    rows.append(
                        self.edge(t, w, u, "POST", "/rest/v1/registrations", "?select=*", 201)
                    )
        # Polling, Poisson in the true audience; requests go to users present at that second.
        rates = dict(p.rest_rates_per_min)
        for w, web in enumerate(p.webinars):
            aud = _interp(web.audience or web.shape, np.arange(n_seconds) / 60.0)
            present = self._presence_by_second(w, n_seconds)
            for name, per_min in rates.items():
                counts = rng.poisson(aud * per_min / 60.0)
                for s in np.flatnonzero(counts):
                    for _ in range(int(counts[s])):
                        here = present[s]
                        if here.size and here.size >= 0.5 * aud[s]:
                            u = int(here[rng.integers(here.size)])
                        else:
                            u = int(rng.integers(web.users))
                        rows.append(self._poll(name, float(s) + rng.uniform(0, 1), w, u))
        # The monitor's writes (service role, no user) at each sample.
        for w, samp in enumerate(sim.samples):
            for t, _ in samp:
                rows.append(
                    self.edge(t + 0.08, w, None, "POST", "/rest/v1/webinar_viewer_counts", "", 201)
                )
        # Client-bug failures: one edge row each, at the moment of the Postgres error.
        failing = {
            "registrations_pkey": ("POST", "/rest/v1/registrations", "?select=*", 409),
            "undefined_column": (
                "GET",
                "/rest/v1/registrations",
                "?select=id&webinar_id=eq.{w}&user_id=eq.{u}",
                400,
            ),
            "marketing_stats": ("POST", "/rest/v1/marketing_stats_daily", "", 409),
            "uuid_null": (
                "POST",
                "/rest/v1/webinar_live_presence",
                "?columns=%22session_id%22,%22user_id%22,%22webinar_id%22",
                400,
            ),
        }
        for e in sim.errors:
            if e.kind in failing:
                method, path, search, status = failing[e.kind]
                search = search.format(w=wid[e.webinar], u=sim.users[e.webinar][e.user])
                rows.append(self.edge(e.t, e.webinar, e.user, method, path, search, status))
        return rows

    def _user_jwt(self, uid: str) -> str:
        import base64

        payload = json.dumps(
            {"aud": "authenticated", "role": "authenticated", "sub": uid, "exp": 1770357600},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + body + "." + uid.replace("-", "")[:22]

    def _presence_by_second(self, w: int, n_seconds: int) -> list[np.ndarray]:
        spans = [(x.joined, x.left, x.user) for x in self.sim.sessions if x.webinar == w]
        by_second: list[list[int]] = [[] for _ in range(n_seconds)]
        for joined, left, user in spans:
            lo = max(int(np.ceil(joined)), 0)
            hi = n_seconds if left is None else min(int(np.floor(left)) + 1, n_seconds)
            for s in range(lo, hi):
                by_second[s].append(user)
        return [np.unique(np.array(x, dtype=int)) for x in by_second]

    def _poll(self, name: str, t: float, w: int, u: int) -> dict:
        wid = self.p.webinars[w].id
        uid = self.sim.users[w][u]
        if name == "profiles":
            other = self.sim.users[w][int(self.rng.integers(len(self.sim.users[w])))]
            return self.edge(
                t,
                w,
                u,
                "GET",
                "/rest/v1/profiles",
                f"?select=id,nickname,avatar_url&id=eq.{other}",
                200,
            )
        if name == "questions":
            return self.edge(
                t,
                w,
                u,
                "GET",
                "/rest/v1/questions",
                "?select=*&webinar_id=eq." + wid + "&order=created_at.desc",
                200,
            )
        if name == "presence_heartbeat":
            return self.edge(
                t,
                w,
                u,
                "PATCH",
                "/rest/v1/webinar_live_presence",
                f"?webinar_id=eq.{wid}&user_id=eq.{uid}",
                204,
            )
        if name == "auth_user":
            bearer = {"authorization": "Bearer " + self._user_jwt(uid)}
            return self.edge(t, w, u, "GET", "/auth/v1/user", "", 200, bearer)
        if name == "webinars":
            return self.edge(t, w, u, "GET", "/rest/v1/webinars", f"?select=*&id=eq.{wid}", 200)
        raise ParameterError(f"rest_rates_per_min: unknown endpoint {name!r}")

    def postgres_rows(self) -> list[dict]:
        sim, rng = self.sim, self.rng
        rows = []
        messages = {
            "registrations_pkey": (
                "23505",
                'duplicate key value violates unique constraint "registrations_pkey"',
                "INSERT",
            ),
            "undefined_column": ("42703", "column registrations.id does not exist", "SELECT"),
            "marketing_stats": (
                "23505",
                'duplicate key value violates unique constraint "uq_marketing_stats_daily_key"',
                "INSERT",
            ),
            "uuid_null": ("22P02", 'invalid input syntax for type uuid: "null"', "INSERT"),
        }
        day = self.p.window_start.strftime("%Y-%m-%d")
        for e in sim.errors:
            if e.kind not in messages:
                continue
            state, message, tag = messages[e.kind]
            wid, uid = self.p.webinars[e.webinar].id, sim.users[e.webinar][e.user]
            detail = hint = None
            if e.kind == "registrations_pkey":
                detail = f"Key (webinar_id, user_id)=({wid}, {uid}) already exists."
            elif e.kind == "marketing_stats":
                detail = (
                    f"Key (stat_date, webinar_id, metric)=({day}, {wid}, viewers) already exists."
                )
            elif e.kind == "undefined_column":
                hint = 'Perhaps you meant to reference the column "registrations.user_id".'
            pid = int(rng.integers(180_000, 190_000))
            rows.append(
                postgres_row(
                    row_id="",
                    # The statement fails a few ms before the gateway logs the response.
                    ts_us=self.us(e.t) - int(rng.integers(2, 9)) * 1000,
                    ref=self.ref,
                    message=message,
                    severity="ERROR",
                    sql_state=state,
                    user_name="authenticator",
                    application_name=_POSTGREST,
                    command_tag=tag,
                    process_id=pid,
                    session_start_us=self.t0 - int(rng.integers(600, 7200)) * 1_000_000,
                    detail=detail,
                    hint=hint,
                    query=_PG_QUERIES[e.kind],
                    connection_from=f"::1:{int(rng.integers(40000, 60000))}",
                )
            )
        return rows

    def _pid(self) -> str:
        return f"<0.{int(self.rng.integers(2000, 60000))}.{int(self.rng.integers(1, 40))}>"

    def realtime_rows(self) -> list[dict]:
        sim, p, rng = self.sim, self.p, self.rng
        n_seconds = p.window_minutes * 60
        rows = []
        upgrade_s = n_seconds if p.upgrade_at_min is None else p.upgrade_at_min * 60
        for s in range(0, n_seconds, 5):
            if not sim.up[s]:
                continue
            limit = p.realtime_limit_after if s >= upgrade_s else p.realtime_limit
            conn = int(sim.connections[s])
            rows.append(
                self._realtime(
                    s + 0.55,
                    message="Billing metrics: [:realtime, :connections]",
                    level="info",
                    measurements={"connected": conn, "connected_cluster": conn, "limit": limit},
                )
            )
        for e in sim.errors:
            if e.kind == "realtime_disconnect":
                pid = self._pid()
                client = self._pid()
                rows.append(
                    self._realtime(
                        e.t,
                        message=(
                            f"Postgrex.Protocol (#PID{pid}) disconnected: ** "
                            f"(DBConnection.ConnectionError) client #PID{client} exited"
                        ),
                        level="error",
                        pid=pid,
                        application_name="realtime_rls",
                    )
                )
            elif e.kind == "pool_exhausted":
                rows.append(
                    self._realtime(
                        e.t,
                        message=(
                            "** (DBConnection.ConnectionError) connection not available and "
                            "request was dropped from queue after 10000ms. This means requests "
                            "are coming in and your connection pool cannot serve them fast "
                            "enough. You can address this by:\n\n  1. Ensuring your database is "
                            "available and that you can connect to it\n  2. Tracking down slow "
                            "queries and making sure they are running fast enough\n  3. "
                            "Increasing the pool_size (although this increases resource "
                            "consumption)\n  4. Allowing requests to wait longer by increasing "
                            ":queue_target and :queue_interval\n\nSee DBConnection.start_link/2 "
                            "for more information\n"
                        ),
                        level="error",
                        pid=self._pid(),
                        module="Elixir.DBConnection.ConnectionPool",
                        file="lib/db_connection/connection_pool.ex",
                        application_name="realtime_subscription_manager",
                    )
                )
        # While Realtime is down it retries its tenant connection and is refused each time.
        for start, end in p.outages:
            t = start * 60 + float(rng.uniform(1, 5))
            while t < end * 60:
                available = int(rng.integers(0, 4))
                rows.append(
                    self._realtime(
                        t,
                        message=(
                            f"DatabaseLackOfConnections: Only {available} available connections. "
                            "At least 6 connections are required."
                        ),
                        level="error",
                        pid=self._pid(),
                        module="Elixir.Realtime.Tenants.Connect",
                        file="lib/realtime/tenants/connect.ex",
                    )
                )
                t += p.outage_retry_s * float(rng.uniform(0.8, 1.2))
        return rows

    def _realtime(self, t: float, **fields) -> dict:
        """One realtime_logs row at ``t`` seconds into the window (its id comes in finish)."""
        return realtime_row(row_id="", ts_us=self.us(t), ref=self.ref, **fields)

    def finish(self, rows: list[dict]) -> list[dict]:
        """Order rows as an export does (by time) and give each its uuid."""
        rows.sort(key=lambda r: r["timestamp"])
        for row, rid in zip(rows, new_uuid4s(self.rng, len(rows)), strict=True):
            row["id"] = rid
        return rows


def _csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _tables(sim: SimulatedIncident, writer: _Writer) -> dict[str, str]:
    p, rng = sim.params, _rng(sim.params, 5)
    t0 = epoch_us(p.window_start)
    n_seconds = p.window_minutes * 60

    def ts(t: float) -> str:
        return format_csv_ts(t0 + int(round(t * 1_000_000)))

    webinars = []
    for web in p.webinars:
        created = ts(-float(rng.uniform(7, 20)) * 86_400)
        ended = web.ends_at_min * 60 <= n_seconds
        webinars.append(
            [
                web.id,
                web.title,
                ts(web.starts_at_min * 60),
                ts(web.ends_at_min * 60),
                "ended" if ended else "live",
                created,
            ]
        )
    registrations = []
    no_show_ids = {}
    for w, regs in enumerate(sim.registered_at):
        for u, t in sorted(regs.items(), key=lambda kv: (kv[1], kv[0])):
            if u < p.webinars[w].users:
                uid = sim.users[w][u]
            else:
                uid = no_show_ids.setdefault((w, u), new_uuid4(rng))
            registrations.append([p.webinars[w].id, uid, ts(t)])
    registrations.sort(key=lambda r: r[2])
    presence = []
    for x in sim.sessions:
        presence.append(
            [
                new_uuid4(rng),
                p.webinars[x.webinar].id,
                sim.users[x.webinar][x.user],
                new_uuid4(rng),
                ts(x.joined),
                "" if x.left is None else ts(x.left),
            ]
        )
    counts = []
    rows = [(t, w, v) for w, samp in enumerate(sim.samples) for t, v in samp]
    for k, (t, w, v) in enumerate(sorted(rows), start=1):
        counts.append([k, p.webinars[w].id, ts(t), v])
    return {
        "webinars.csv": _csv_text(
            ["id", "title", "starts_at", "ends_at", "status", "created_at"], webinars
        ),
        "registrations.csv": _csv_text(["webinar_id", "user_id", "created_at"], registrations),
        "webinar_live_presence.csv": _csv_text(
            ["id", "webinar_id", "user_id", "session_id", "joined_at", "left_at"], presence
        ),
        "webinar_viewer_counts.csv": _csv_text(
            ["id", "webinar_id", "sampled_at", "viewer_count"], counts
        ),
    }


@dataclass(frozen=True)
class WrittenIncident:
    """What ``write_incident`` wrote, with the realised counts (for tests and validation)."""

    directory: Path
    files: tuple[str, ...]
    realised: dict
    params: IncidentParams


def write_incident(params: IncidentParams, out_dir: Path | str) -> WrittenIncident:
    """Simulate an incident and write its raw directory (the contract's section 1 layout).

    The directory gets the log pages, table CSVs, ``annotations.csv``, ``incident.json`` and
    ``SHA256SUMS``. Same parameters, same bytes. Ground truth is not written: it is
    ``params`` (returned, with the realised event counts).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ParameterError(f"{out}: expected an empty or new directory, found files")
    sim = simulate(params)
    writer = _Writer(sim)
    out.mkdir(parents=True, exist_ok=True)
    edge = writer.finish(writer.edge_rows())
    pg = writer.finish(writer.postgres_rows())
    rt = writer.finish(writer.realtime_rows())
    write_pages(edge, out / "edge_logs")
    write_pages(pg, out / "postgres_logs")
    write_pages(rt, out / "realtime_logs")
    (out / "tables").mkdir()
    for name, text in _tables(sim, writer).items():
        (out / "tables" / name).write_bytes(text.encode("utf-8"))
    (out / "annotations.csv").write_bytes(
        _csv_text(["time_utc", "label", "note"], [list(a) for a in params.annotations]).encode()
    )
    end = params.window_start + timedelta(minutes=params.window_minutes)
    manifest = {
        "name": params.name,
        "project_ref": params.project_ref,
        "window_start": params.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_tz": params.display_tz,
        "flavour": "bigquery",
        "provenance": "reconstruction by analysis.simulate (see data/README.md), not a real export",
    }
    if params.claims:
        manifest["claims"] = [dict(c) for c in params.claims]
    if params.recommendations:
        manifest["recommendations"] = [dict(r) for r in params.recommendations]
    (out / "incident.json").write_bytes(
        (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    )
    files = sorted(
        str(f.relative_to(out)) for f in out.rglob("*") if f.is_file() and f.name != "SHA256SUMS"
    )
    (out / "SHA256SUMS").write_text(
        format_checksums({f: sha256_file(out / f) for f in files}), encoding="utf-8"
    )
    realised: dict = {k: 0 for k in ERROR_KINDS}
    for e in sim.errors:
        realised[e.kind] += 1
    realised["edge_rows"], realised["postgres_rows"], realised["realtime_rows"] = (
        len(edge),
        len(pg),
        len(rt),
    )
    realised["sessions"] = len(sim.sessions)
    return WrittenIncident(out, tuple(files) + ("SHA256SUMS",), realised, params)


def truth_of(params: IncidentParams) -> dict:
    """Ground truth of a simulated incident as plain data (never written beside the data)."""
    out = asdict(params)
    out["window_start"] = params.window_start.isoformat()
    return out
