"""Supabase log rows and table cells in the shapes a real BigQuery-era export has.

Shapes follow docs/supabase-exports.md (sections 1, 4 and 5): a top-level ``timestamp`` in
microseconds since the epoch (16 digits), ``metadata`` as a list of one record whose nested
objects are also one-element lists, and ``event_message`` in each source's real format. Pages
are Management API responses ``{"result": [...], "error": null}`` of at most 1000 rows,
gzip-compressed with a zero mtime and a fixed level so the same rows always give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np

from analysis._util import from_epoch_us

#: Management API row cap per call (Logflare ``logs.all`` ``max_limit``).
PAGE_ROWS = 1000
#: zlib level of every page: fixed, so the bytes depend on the rows only.
GZIP_LEVEL = 6


def format_pg_ts(ts_us: int) -> str:
    """Format like Postgres csvlog ``log_time``: ``2026-02-06 05:40:12.345 UTC``."""
    moment = from_epoch_us(ts_us)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def format_pg_session_start(ts_us: int) -> str:
    """Format like csvlog ``session_start_time``: ``2026-02-06 05:35:21 UTC``."""
    return from_epoch_us(ts_us).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_csv_ts(ts_us: int) -> str:
    """Format a timestamptz cell like Supabase's table-editor CSV: ``... 05:40:12.345678+00``."""
    moment = from_epoch_us(ts_us)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond:06d}+00"


def format_http_date(ts_us: int) -> str:
    """Format an RFC 1123 ``Date`` response header."""
    return from_epoch_us(ts_us).strftime("%a, %d %b %Y %H:%M:%S GMT")


def new_uuid4(rng: np.random.Generator) -> str:
    """Return a version-4 UUID string drawn from ``rng`` (deterministic under a seed)."""
    raw = bytearray(rng.bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_uuid4s(rng: np.random.Generator, count: int) -> list[str]:
    """Return ``count`` version-4 UUID strings drawn from ``rng`` in one go."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    out = []
    for i in range(0, 32 * count, 32):
        h = text[i : i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def new_hex(rng: np.random.Generator, nbytes: int) -> str:
    """Return ``2 * nbytes`` lower-case hex digits drawn from ``rng``."""
    return rng.bytes(nbytes).hex()


def edge_row(
    *,
    row_id: str,
    ts_us: int,
    ref: str,
    method: str,
    path: str,
    search: str,
    status: int,
    ip: str,
    ray: str,
    user_agent: str,
    country: str,
    colo: str,
    origin_ms: int,
    user: str | None,
    client_info: str | None,
    referer: str | None,
    extra_headers: dict | None = None,
    apikey_role: str = "anon",
) -> dict:
    """Build one ``edge_logs`` row (API gateway) in the BigQuery flavour.

    ``search`` is the query string including its ``?`` (empty for none). ``user`` is the JWT
    subject (``request.sb.auth_user``); ``None`` for apikey-only requests, whose key has
    ``apikey_role`` (``anon`` or ``service_role``).
    """
    host = f"{ref}.supabase.co"
    url = f"https://{host}{path}{search}"
    headers = {
        "accept": "application/json" if not path.startswith("/realtime") else None,
        "cf_connecting_ip": ip,
        "cf_ipcountry": country,
        "cf_ray": ray,
        "host": host,
        "prefer": None,
        "referer": referer,
        "user_agent": user_agent,
        "x_client_info": client_info,
        "x_forwarded_proto": "https",
        "x_real_ip": ip,
    }
    if extra_headers:
        headers.update(extra_headers)
    if user is None:
        jwt = [{"apikey": [{"invalid": None, "payload": [{"role": apikey_role}]}]}]
    else:
        jwt = [
            {
                "apikey": [{"invalid": None, "payload": [{"role": "anon"}]}],
                "authorization": [
                    {"invalid": None, "payload": [{"role": "authenticated", "subject": user}]}
                ],
            }
        ]
    return {
        "id": row_id,
        "timestamp": ts_us,
        "event_message": f"{method} | {status} | {ip} | {ray} | {url} | {user_agent}",
        "identifier": ref,
        "metadata": [
            {
                "load_balancer_redirect_identifier": None,
                "logflare_worker": [{"worker_id": "PPR" + ray[-3:].upper()}],
                "request": [
                    {
                        "cf": [{"colo": colo, "country": country, "httpProtocol": "HTTP/2"}],
                        "headers": [headers],
                        "host": host,
                        "method": method,
                        "path": path,
                        "protocol": "https:",
                        "sb": [{"auth_user": user, "jwt": jwt}],
                        "search": search,
                        "url": url,
                    }
                ],
                "response": [
                    {
                        "headers": [
                            {
                                "cf_cache_status": "DYNAMIC",
                                "cf_ray": f"{ray}-{colo}",
                                "content_type": "application/json; charset=utf-8",
                                "date": format_http_date(ts_us),
                                "x_sb_error_code": None,
                            }
                        ],
                        "origin_time": origin_ms,
                        "status_code": status,
                    }
                ],
            }
        ],
    }


def postgres_row(
    *,
    row_id: str,
    ts_us: int,
    ref: str,
    message: str,
    severity: str,
    sql_state: str,
    user_name: str,
    application_name: str,
    command_tag: str,
    process_id: int,
    session_start_us: int,
    detail: str | None,
    hint: str | None,
    query: str | None,
    connection_from: str,
) -> dict:
    """Build one ``postgres_logs`` row: the bare Postgres message plus csvlog ``parsed`` fields."""
    return {
        "id": row_id,
        "timestamp": ts_us,
        "event_message": message,
        "identifier": ref,
        "metadata": [
            {
                "host": f"db-{ref}",
                "parsed": [
                    {
                        "application_name": application_name,
                        "backend_type": "client backend",
                        "command_tag": command_tag,
                        "connection_from": connection_from,
                        "context": None,
                        "database_name": "postgres",
                        "detail": detail,
                        "error_severity": severity,
                        "hint": hint,
                        "internal_query": None,
                        "process_id": process_id,
                        "query": query,
                        "session_id": f"{session_start_us // 1_000_000:x}.{process_id:x}",
                        "session_line_num": 1 + (ts_us // 1_000_000) % 97,
                        "session_start_time": format_pg_session_start(session_start_us),
                        "sql_state_code": sql_state,
                        "timestamp": format_pg_ts(ts_us),
                        "transaction_id": 0,
                        "user_name": user_name,
                        "virtual_transaction_id": f"{process_id % 40}/{ts_us // 1000 % 100000}",
                    }
                ],
            }
        ],
    }


def realtime_row(
    *,
    row_id: str,
    ts_us: int,
    ref: str,
    message: str,
    level: str,
    pid: str | None = None,
    module: str = "Elixir.DBConnection.Connection",
    file: str = "lib/db_connection/connection.ex",
    application_name: str | None = None,
    measurements: dict | None = None,
    node: str = "realtime-prod@fdaa:0:cc:a7b:bada:5:2795:2",
) -> dict:
    """Build one ``realtime_logs`` row: an Elixir Logger event with its metadata."""
    meta: dict = {"external_id": ref, "level": level, "project": ref}
    if application_name is not None:
        meta["application_name"] = application_name
    if measurements is not None:
        meta["measurements"] = [measurements]
    else:
        meta["context"] = [
            {
                "application": "db_connection",
                "domain": ["elixir"],
                "file": file,
                "module": module,
                "pid": pid,
                "time": ts_us,
                "vm": [{"node": node}],
            }
        ]
    return {"id": row_id, "timestamp": ts_us, "event_message": message, "metadata": [meta]}


def page_bytes(rows: list[dict]) -> bytes:
    """Serialise rows as one gzip Management API page, deterministically."""
    if len(rows) > PAGE_ROWS:
        raise ValueError(f"a page holds at most {PAGE_ROWS} rows, got {len(rows)}")
    text = json.dumps({"result": rows, "error": None}, ensure_ascii=False, separators=(",", ":"))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def write_pages(rows: list[dict], directory: Path) -> list[Path]:
    """Write rows (already in export order) as ``page-NNNN.json.gz`` files; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, first in enumerate(range(0, max(len(rows), 1), PAGE_ROWS), start=1):
        path = directory / f"page-{number:04d}.json.gz"
        path.write_bytes(page_bytes(rows[first : first + PAGE_ROWS]))
        paths.append(path)
    return paths
