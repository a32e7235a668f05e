"""Log sources the package does not analyse, however their rows look, are counted apart."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from analysis import ingest

WINDOW = {"window_start": "2026-02-20T09:00:00Z", "window_end": "2026-02-20T10:00:00Z"}
T0 = 1771578000000000  # 2026-02-20T09:00:00Z in microseconds


def _function_row(n: int) -> dict:
    # Edge Functions' invocation log (function_edge_logs) on a BigQuery project.
    url = "https://abcdefghijklmnopqrst.supabase.co/functions/v1/send-reminder"
    return {
        "id": f"d78a2e8b-f354-436d-a269-{n:012d}",
        "timestamp": T0 + n * 1_000_000,
        "event_message": f"POST | 201 | {url}",
        "metadata": [
            {
                "function_id": "5d2c1a9e-0000-4000-8000-00000000f00d",
                "execution_time_ms": 412,
                "deployment_id": "send-reminder_12",
                "request": [{"method": "POST", "url": url}],
                "response": [{"status_code": 201}],
            }
        ],
    }


def _auth_row(n: int) -> dict:
    # GoTrue's own log line (auth_logs): method, path and status, but not a gateway row.
    return {
        "id": f"a0a2e8b0-f354-436d-a269-{n:012d}",
        "timestamp": T0 + n * 1_000_000,
        "event_message": '{"level":"info","method":"POST","path":"/token","status":200}',
        "metadata": [{"level": "info", "method": "POST", "path": "/token", "status": 200}],
    }


def _gateway_row(n: int) -> dict:
    return {
        "id": f"e0a2e8b0-f354-436d-a269-{n:012d}",
        "timestamp": T0 + n * 1_000_000,
        "event_message": "POST | 201 | https://x.supabase.co/functions/v1/send-reminder",
        "metadata": [
            {
                "request": [{"method": "POST", "path": "/functions/v1/send-reminder"}],
                "response": [{"status_code": 201}],
            }
        ],
    }


def _write(root: Path, rel: str, rows: list[dict]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"result": rows, "error": None}).encode()
    path.write_bytes(gzip.compress(body, mtime=0) if rel.endswith(".gz") else body)


def _load(root: Path) -> ingest.Incident:
    (root / "incident.json").write_text(json.dumps({"name": "sources", **WINDOW}))
    return ingest.load_incident(root, use_cache=False)


def test_function_and_auth_pages_are_not_counted_as_gateway_requests(tmp_path):
    root = tmp_path / "inc"
    _write(root, "edge_logs/page-0001.json.gz", [_gateway_row(n) for n in range(5)])
    _write(root, "function_edge_logs/page-0001.json.gz", [_function_row(n) for n in range(7)])
    _write(root, "auth_logs/page-0001.json.gz", [_auth_row(n) for n in range(3)])
    inc = _load(root)
    assert len(inc.requests) == 5
    acc = inc.accounting.set_index("file")
    fn = acc.loc["function_edge_logs/page-0001.json.gz"]
    assert (fn["kind"], fn["read"], fn["accepted"], fn["rejected"]) == (
        "function_edge_logs",
        7,
        0,
        7,
    )
    assert fn["reason"] == "unsupported log source function_edge_logs: 7"
    auth = acc.loc["auth_logs/page-0001.json.gz"]
    assert (auth["read"], auth["rejected"]) == (3, 3)
    assert auth["reason"] == "unsupported log source auth_logs: 3"


def test_function_rows_are_told_by_their_keys_outside_their_directory(tmp_path):
    # An Explorer download over function_edge_logs saved beside the gateway's pages.
    root = tmp_path / "inc"
    _write(root, "edge_logs/page-0001.json.gz", [_gateway_row(n) for n in range(5)])
    _write(root, "exports/functions.json", [_function_row(n) for n in range(4)])
    inc = _load(root)
    assert len(inc.requests) == 5
    fn = inc.accounting.set_index("file").loc["exports/functions.json"]
    assert (fn["read"], fn["rejected"]) == (4, 4)
    assert fn["reason"] == "unsupported log source function_edge_logs: 4"


def test_a_supavisor_page_download_is_not_read_as_realtime(tmp_path):
    # Supavisor's product page selects id, timestamp and event_message; its lines mention
    # tenants and Postgrex as Realtime's do, but open with the pooler module's name.
    root = tmp_path / "inc"
    _write(root, "edge_logs/page-0001.json.gz", [_gateway_row(n) for n in range(5)])
    lines = [
        "ClientHandler: Tenant not found: abcdefghijklmnopqrst",
        "DbHandler: Connection failed ** (Postgrex.Error) FATAL 53300 (too_many_connections)",
        "SecretChecker: Starting secret checker",
    ]
    body = "id,timestamp,event_message\n" + "".join(
        f"5a0a2e8b-f354-436d-a269-{n:012d},{T0 + n * 1_000_000},{line}\n"
        for n, line in enumerate(lines)
    )
    (root / "exports").mkdir()
    (root / "exports" / "supabase-supavisor-logs-abcdefghijklmnopqrst.csv.csv").write_text(body)
    inc = _load(root)
    assert inc.realtime_events.empty
    row = inc.accounting.set_index("kind").loc["supavisor_logs"]
    assert (row["read"], row["rejected"]) == (3, 3)
    assert row["reason"] == "unsupported log source supavisor_logs: 3"


# Studio's log pages on a ClickHouse project select ``id, timestamp, event_message`` and
# then each source's attribute columns (Logs.utils.otel.ts, OTEL_SOURCES); the download is
# named ``supabase-<page>-<ref>.csv`` + the format (PreviewFilterPanel.tsx).
REF = "abcdefghijklmnopqrst"
PAGES = {
    "storage-logs": (["id", "timestamp", "event_message"], ["Object not found"]),
    # The pooler's lines without a module prefix (a shorter line format): the page says it.
    "pooler-logs": (["id", "timestamp", "event_message"], ["Max client connections reached"]),
    "auth-logs": (
        ["id", "timestamp", "event_message", "level", "status", "path", "msg", "error"],
        [
            '{"component":"api","level":"info","method":"POST","msg":"request completed",'
            '"path":"/token","status":429}',
            "info",
            "429",
            "/token",
            "over_request_rate_limit",
            "null",
        ],
    ),
    "edge-functions-logs": (
        ["id", "timestamp", "event_message", "status_code", "method", "pathname"]
        + ["function_id", "execution_id", "execution_time_ms", "deployment_id", "version"],
        [f"POST | 546 | https://{REF}.supabase.co/functions/v1/hello", "546", "POST"]
        + ["/functions/v1/hello", "fid", "eid", "150000", f"{REF}_fid_3", "3"],
    ),
}
SOURCES = {
    "storage-logs": "storage_logs",
    "pooler-logs": "supavisor_logs",
    "auth-logs": "auth_logs",
    "edge-functions-logs": "function_edge_logs",
}


def _page_download(root: Path, page: str, n: int) -> str:
    import csv
    import io

    header, cells = PAGES[page]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for i in range(n):
        writer.writerow([f"{page}-{i}", T0 + i * 1_000_000, *cells])
    rel = f"exports/supabase-{page}-{REF}.csv.csv"
    (root / "exports").mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(out.getvalue().rstrip("\r\n"))
    return rel


def test_studio_page_downloads_of_unread_sources_are_counted_under_their_page_s_source(tmp_path):
    root = tmp_path / "inc"
    _write(root, "edge_logs/page-0001.json.gz", [_gateway_row(n) for n in range(5)])
    rels = {page: _page_download(root, page, 3 + i) for i, page in enumerate(PAGES)}
    inc = _load(root)
    assert len(inc.requests) == 5 and inc.realtime_events.empty and inc.db_errors.empty
    acc = inc.accounting.set_index("file")
    for i, (page, rel) in enumerate(rels.items()):
        row, source = acc.loc[rel], SOURCES[page]
        assert (row["kind"], row["read"], row["rejected"]) == (source, 3 + i, 3 + i), page
        assert row["reason"] == f"unsupported log source {source}: {3 + i}"


def test_a_postgres_page_download_of_the_newer_studio_is_read(tmp_path):
    # The Postgres page on ClickHouse: no SQLSTATE column; it comes from the message.
    root = tmp_path / "inc"
    header = "id,timestamp,event_message,identifier,error_severity,detail,hint"
    rows = [
        f'p1,{T0},"duplicate key value violates unique constraint ""registrations_pkey""",'
        f'{REF},ERROR,"Key (webinar_id, user_id)=(1, 2) already exists.",null',
        f'p2,{T0 + 1000},"sorry, too many clients already",{REF},FATAL,null,null',
    ]
    (root / "exports").mkdir(parents=True)
    (root / "exports" / f"supabase-postgres-logs-{REF}.csv.csv").write_text(
        "\r\n".join([header, *rows])
    )
    inc = _load(root)
    got = inc.db_errors[["sql_state", "severity", "constraint"]].astype(object)
    assert got.where(got.notna(), None).values.tolist() == [
        ["23505", "ERROR", "registrations_pkey"],
        ["53300", "FATAL", None],
    ]


@pytest.mark.parametrize("gateway", [True, False])
def test_check_says_in_one_line_what_each_unread_source_is(tmp_path, capsys, gateway):
    from analysis.__main__ import main as cli

    root = tmp_path / "inc"
    if gateway:
        _write(root, "edge_logs/page-0001.json.gz", [_gateway_row(n) for n in range(5)])
    _write(root, "auth_logs/page-0001.json.gz", [_auth_row(n) for n in range(3)])
    _write(root, "auth_logs/page-0002.json.gz", [_auth_row(n) for n in range(3, 5)])
    _page_download(root, "pooler-logs", 4)
    (root / "incident.json").write_text(json.dumps({"name": "sources", **WINDOW}))
    assert cli(["check", f"--data={root}", "--no-cache"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("not read:")]
    assert len(lines) == 2
    auth, pooler = sorted(lines)
    assert auth.startswith(
        "not read: auth_logs, 5 row(s) in auth_logs/page-0001.json.gz and 1 more file(s):"
        " Auth's (GoTrue's) request and audit lines"
    )
    assert ("export the API gateway's logs too" in auth) is not gateway
    assert pooler.startswith(
        f"not read: supavisor_logs, 4 row(s) in exports/supabase-pooler-logs-{REF}.csv.csv:"
        " the shared pooler's (Supavisor's) lines"
    )
    assert "export the API gateway" not in pooler


@pytest.mark.parametrize(
    ("name", "source"),
    [
        (f"supabase-storage-logs-{REF}.csv.csv", "storage_logs"),
        (f"supabase-storage-logs-{REF}.csv.json", "storage_logs"),
        (f"supabase-dedicated-pooler-logs-{REF}.csv (1).csv", "pgbouncer_logs"),
        (f"supabase-pooler-logs-{REF}.csv.csv (2)", "supavisor_logs"),
        (f"supabase-pgcron-logs-{REF}.csv.csv", "postgres_logs"),
        # The Logs Explorer's download names no page; a page Studio does not have is no page.
        (f"supabase-logs-{REF}.csv.csv", None),
        (f"supabase-billing-logs-{REF}.csv.csv", None),
        ("supabase-storage-logs.csv", None),
        (f"my-supabase-storage-logs-{REF}.csv.csv", None),
    ],
)
def test_a_page_s_download_is_told_by_its_name(name, source):
    from analysis.ingest.sources import page_source

    assert page_source(Path(name)) == source
