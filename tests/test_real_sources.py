"""Log sources the package does not analyse, however their rows look, are counted apart."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

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
