"""A hostile incident, built from the shipped one: markup and secrets planted in every text field.

:func:`build_hostile_incident` copies the shipped incident directory and plants, in every text
field that can reach the report, a payload that would become live HTML (a script handler, an
external image, an iframe on a local file, a link, Markdown code-span, table and math syntax) if
any step lost the escaping; :data:`SECRETS` are planted beside them for the privacy tests.
The checksum manifest is rewritten so the copy is a valid incident.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
from _private_attack import unified_rows

from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID

#: A host that cannot exist: a request to it means a value became an element.
EVIL_HOST = "evil.invalid"
#: A local file the PDF must never show.
LOCAL_SECRET_TEXT = "LOCAL-FILE-MUST-NOT-BE-PRINTED"


def payload(field: str, *, quote: bool = True) -> str:
    """Return the payload planted in ``field``: markup in every syntax the report parses.

    ``quote`` False leaves out ``"`` (a Postgres identifier quoted in its message).
    """
    q = '"' if quote else ""
    return (
        f"``</code><img src=x onerror=pwned('{field}')>` "
        f"<img src={q}http://{EVIL_HOST}/{field}.png{q}> "
        f"<iframe src=file:///etc/hostname></iframe> "
        f"[link](http://{EVIL_HOST}) http://{EVIL_HOST}/bare "
        f"$x^2$ $\\frac{{$ | *{field}* _u_ ~~s~~ &amp; {{}}"
    )


#: A file name cannot hold ``/``: markup without it.
FILE_NAME = "``<img src=x onerror=pwned('file_name')>` [a](javascript:pwned()) $x^2$ | *f* &amp;"

#: Field -> planted text. The untimed annotation label keeps a colon inside (it must not be cut).
PAYLOADS = {
    "title": payload("title"),
    "annotation_label": payload("annotation_label"),
    "annotation_note": payload("annotation_note"),
    "untimed_label": "Step 1: " + payload("untimed_label"),
    "pg_message": payload("pg_message"),
    "pg_detail": payload("pg_detail"),
    "pg_constraint": payload("pg_constraint", quote=False),
    "pg_column": payload("pg_column", quote=False),
    "path": "/rest/v1/" + payload("path").replace(" ", "%20"),
    "query": "select=" + payload("query").replace(" ", "+"),
    "user_agent": payload("user_agent"),
    "realtime_message": payload("realtime_message"),
    "log_type": payload("log_type"),
    "file_name": FILE_NAME,
}

#: Secrets and personal data planted beside the payloads; none may reach an output or cache.
SECRETS = {
    "or_filter_user": "0a1b2c3d-1111-4aaa-8bbb-000000000001",
    "in_list_user": "0a1b2c3d-1111-4aaa-8bbb-000000000002",
    "json_user": "0a1b2c3d-1111-4aaa-8bbb-000000000003",
    "double_encoded_email": "alice.kim%2540example.com",
    "korean_email": "홍길동@회사.한국",
    "idn_email": "bob@bücher.example",
    "jwt_encoded_dots": "eyJhbGciOiJIUzI1NiJ9%2EeyJzdWIiOiIxMjM0NTY3ODkwIn0%2Edozjgnlmsdf4wjjAB3cd",
    "google_key": "AIzaSyD3xAmPlEkEy000000000000000000000000",
    "openai_key": "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv",
    "slack_key": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "pkce_code": "4f8c2a9e-pkce-code-7d1b3e6f0a2c",
    "phone_detail": "010-2345-6789",
    "phone_title": "+82 10 8765 4321",
    "phone_annotation": "(02) 3456-7890",
}


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _read_page(path: Path) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def _write_page(path: Path, records: list[dict]) -> None:
    body = json.dumps({"result": records, "error": None}, ensure_ascii=False).encode()
    path.write_bytes(gzip.compress(body, mtime=0))


def _edge_rows(template: dict, ts: int) -> list[dict]:
    rows = []
    for i, (path, query, agent) in enumerate(
        [
            (PAYLOADS["path"], "select=*", "Mozilla/5.0"),
            ("/rest/v1/webinars", PAYLOADS["query"], "Mozilla/5.0"),
            ("/rest/v1/webinars", "select=*", PAYLOADS["user_agent"]),
            (
                "/rest/v1/registrations",
                f"select=*&or=(user_id.eq.{SECRETS['or_filter_user']},webinar_id.eq.x)"
                f"&user_id=in.(u_000000000000,{SECRETS['in_list_user']})",
                "Mozilla/5.0",
            ),
            (
                "/auth/v1/callback",
                f"code={SECRETS['pkce_code']}&email={SECRETS['double_encoded_email']}"
                f"&t={SECRETS['jwt_encoded_dots']}&k={SECRETS['google_key']}",
                "Mozilla/5.0",
            ),
        ]
    ):
        rec = json.loads(json.dumps(template))
        rec["id"] = f"e0000000-0000-4000-8000-{i:012d}"
        rec["timestamp"] = ts + i * 1000
        req = rec["metadata"][0]["request"][0]
        req["path"] = path
        req["search"] = "?" + query
        req["url"] = f"https://{req['host']}{path}?{query}"
        req["headers"][0]["user_agent"] = agent
        rec["event_message"] = f"GET | 200 | 10.0.0.1 | ray | {req['url']} | {agent}"
        rows.append(rec)
    return rows


def _postgres_rows(template: dict, ts: int) -> list[dict]:
    cases = [
        # The caller's invalid input comes back verbatim in a 22P02, constraint and all.
        (
            "22P02",
            f'invalid input syntax for type uuid: "{PAYLOADS["pg_message"]}"',
            None,
        ),
        (
            "22P02",
            f'invalid input syntax for type uuid: "x" (constraint "{PAYLOADS["pg_constraint"]}")',
            None,
        ),
        ("42703", f'column "{PAYLOADS["pg_column"]}" does not exist', None),
        (
            "23505",
            'duplicate key value violates unique constraint "registrations_pkey"',
            PAYLOADS["pg_detail"],
        ),
        (
            "23505",
            'duplicate key value violates unique constraint "profiles_phone_key"',
            f"Key (phone)=({SECRETS['phone_detail']}) already exists.",
        ),
        (
            "P0001",
            f'new row rejected: {{"user_id": "{SECRETS["json_user"]}",'
            f' "email": "{SECRETS["korean_email"]}", "contact": "{SECRETS["idn_email"]}",'
            f' "keys": "{SECRETS["openai_key"]} {SECRETS["slack_key"]}"}}',
            None,
        ),
    ]
    rows = []
    for i, (state, message, detail) in enumerate(cases):
        rec = json.loads(json.dumps(template))
        rec["id"] = f"d0000000-0000-4000-8000-{i:012d}"
        rec["timestamp"] = ts + i * 1000
        rec["event_message"] = message
        parsed = rec["metadata"][0]["parsed"][0]
        parsed["sql_state_code"] = state
        parsed["detail"] = detail
        parsed["error_severity"] = "ERROR"
        rows.append(rec)
    return rows


def _realtime_rows(template: dict, ts: int) -> list[dict]:
    rec = json.loads(json.dumps(template))
    rec["id"] = "c0000000-0000-4000-8000-000000000000"
    rec["timestamp"] = ts
    rec["event_message"] = PAYLOADS["realtime_message"]
    rec["metadata"][0]["level"] = "error"
    rec["metadata"][0].pop("measurements", None)
    return [rec]


def build_hostile_incident(dest: Path, source: Path = DEFAULT_INCIDENT_DIR) -> Path:
    """Copy ``source`` to ``dest`` and plant :data:`PAYLOADS` and :data:`SECRETS` in it.

    Returns
    -------
    pathlib.Path
        ``dest``, a complete incident directory with its ``SHA256SUMS`` rewritten.
    """
    shutil.copytree(source, dest)
    manifest = json.loads((dest / "incident.json").read_text(encoding="utf-8"))
    start_us = pd.Timestamp(manifest["window_start"]).value // 1000 + 20 * 60 * 1_000_000

    webinars = list(csv.reader(io.StringIO((dest / "tables/webinars.csv").read_text("utf-8"))))
    header, rows = webinars[0], webinars[1:]
    for row in rows:
        if row[0] == DEFAULT_WEBINAR_ID:
            row[1] = f"{PAYLOADS['title']} call {SECRETS['phone_title']}"
    (dest / "tables/webinars.csv").write_text(_csv_text(header, rows), encoding="utf-8")

    notes = list(csv.reader(io.StringIO((dest / "annotations.csv").read_text("utf-8"))))
    notes += [
        [
            manifest["window_start"].replace("00:00Z", "25:00Z"),
            PAYLOADS["annotation_label"],
            f"{PAYLOADS['annotation_note']} tel {SECRETS['phone_annotation']}",
        ],
        ["", PAYLOADS["untimed_label"], "no time"],
    ]
    (dest / "annotations.csv").write_text(_csv_text(notes[0], notes[1:]), encoding="utf-8")

    edge = _read_page(dest / "edge_logs/page-0001.json.gz")["result"][0]
    _write_page(dest / "edge_logs/page-9001.json.gz", _edge_rows(edge, start_us))
    pg = _read_page(dest / "postgres_logs/page-0001.json.gz")["result"][0]
    _write_page(dest / "postgres_logs/page-9001.json.gz", _postgres_rows(pg, start_us))
    rt = _read_page(dest / "realtime_logs/page-0001.json.gz")["result"][0]
    _write_page(dest / "realtime_logs/page-9001.json.gz", _realtime_rows(rt, start_us))
    # A hostile file name: an edge page whose rows repeat page 9001 (counted as duplicates).
    (dest / "edge_logs" / f"page-{PAYLOADS['file_name']}.json.gz").write_bytes(
        (dest / "edge_logs/page-9001.json.gz").read_bytes()
    )
    (dest / "exports").mkdir(exist_ok=True)
    iso = manifest["window_start"].replace("00:00Z", "30:00.000Z")
    (dest / "exports/supabase_logs.json").write_text(
        json.dumps(
            unified_rows(iso, start_us + 600_000_000, PAYLOADS["log_type"]), ensure_ascii=False
        ),
        encoding="utf-8",
    )

    files = sorted(
        p.relative_to(dest).as_posix()
        for p in dest.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    )
    lines = [f"{hashlib.sha256((dest / f).read_bytes()).hexdigest()}  {f}" for f in files]
    (dest / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest
