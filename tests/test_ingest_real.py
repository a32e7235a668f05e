"""Real-shape exports read with every field right (fixtures and sources: tests/fixtures/real/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest, vocabulary
from analysis.ingest import reactcsv

REAL = Path(__file__).parent / "fixtures" / "real"
WINDOW = {"window_start": "2024-06-10T16:00:00Z", "window_end": "2024-06-10T17:00:00Z"}
T0 = pd.Timestamp("2024-06-10T16:02:00Z")


def _incident(tmp_path: Path, *files: str, overrides: dict | None = None) -> ingest.Incident:
    root = tmp_path / "incident"
    (root / "exports").mkdir(parents=True)
    manifest = {"name": "real", **WINDOW, **({"files": overrides} if overrides else {})}
    (root / "incident.json").write_text(json.dumps(manifest))
    for name in files:
        shutil.copy(REAL / name, root / "exports" / name)
    return ingest.load_incident(root, use_cache=False)


def _acc(inc: ingest.Incident, name: str, kind: str | None = None) -> pd.Series:
    acc = inc.accounting[inc.accounting["file"] == f"exports/{name}"]
    if kind is not None:
        acc = acc[acc["kind"] == kind]
    assert len(acc) == 1, acc
    return acc.iloc[0]


# The families Realtime's lines must get, in the order make_real.py writes them.
FAMILIES = [
    "billing_metrics",
    "disconnect",
    "pool_exhausted",
    "pool_exhausted",
    "pool_exhausted",
    "database_lacks_connections",
    "connect_failed",
    "db_connect_throttled",
    "other",
    "other",
    "other",
]


def test_realtime_page_with_a_line_no_rule_knows_is_read_whole(tmp_path):
    # 13.1: one unknown line ("Janitor finished") is a Realtime line of a Realtime export.
    inc = _incident(tmp_path, "realtime-page.csv")
    acc = _acc(inc, "realtime-page.csv")
    assert (acc["kind"], acc["read"], acc["accepted"], acc["rejected"]) == (
        "realtime_logs",
        11,
        11,
        0,
    )
    events = inc.realtime_events.sort_values("ts")
    assert list(events["family"]) == FAMILIES
    assert events["message"].iloc[-1] == "Janitor finished"


def test_an_unknown_line_in_a_file_of_mixed_sources_is_counted_not_fatal(tmp_path):
    page = (REAL / "realtime-page.csv").read_text().splitlines()
    mixed = [
        "id,timestamp,event_message,error_severity",
        *[f"{line},"[: len(line) + 1] for line in page[1:4]],
        "a9000000-0000-4000-8000-000000000000,1718035330000000,"
        "duplicate key value violates unique constraint x,ERROR",
        "a9000001-0000-4000-8000-000000000000,1718035331000000,some line,",
    ]
    root = tmp_path / "mixed"
    (root / "exports").mkdir(parents=True)
    (root / "incident.json").write_text(json.dumps({"name": "m", **WINDOW}))
    (root / "exports" / "mixed.csv").write_text("\n".join(mixed) + "\n")
    inc = ingest.load_incident(root, use_cache=False)
    acc = inc.accounting.set_index("kind")
    assert acc.loc["realtime_logs", "accepted"] == 3
    assert "unknown log source (file mixes sources): 1" in acc.loc["realtime_logs", "reason"]
    assert acc.loc["postgres_logs", "accepted"] == 1


def test_react_csv_download_with_unescaped_quotes_reads_every_field(tmp_path):
    # 13.2: BOM, every cell quoted, inner quotes not doubled, LF.
    raw = (REAL / "supabase_logs.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw and b'"{:error, "' not in raw
    inc = _incident(tmp_path, "supabase_logs.csv")
    acc = _acc(inc, "supabase_logs.csv")
    assert (acc["kind"], acc["read"], acc["accepted"], acc["rejected"]) == (
        "realtime_logs",
        8,
        8,
        0,
    )
    events = inc.realtime_events.set_index("id")
    tuple_row = events.loc["d0000006-0000-4000-8000-000000000000"]
    assert tuple_row["message"] == (
        'UnableToSetPolicies: {:error, "permission denied for table messages"}'
    )
    assert tuple_row["level"] == "error"
    pg_row = events.loc["d0000007-0000-4000-8000-000000000000"]
    assert pg_row["message"] == 'duplicate key value violates unique constraint "messages_pkey"'
    assert pd.isna(pg_row["level"])  # its metadata cell was JSON null
    assert events.loc["d0000002-0000-4000-8000-000000000000", "family"] == "pool_exhausted"
    assert events.loc["d0000000-0000-4000-8000-000000000000", "ts"] == T0


def test_react_csv_row_that_cannot_be_split_is_rejected_with_its_reason(tmp_path):
    inc = _incident(
        tmp_path,
        "ambiguous_logs.csv",
        overrides={"exports/ambiguous_logs.csv": {"kind": "realtime"}},
    )
    acc = _acc(inc, "ambiguous_logs.csv")
    assert (acc["read"], acc["accepted"], acc["rejected"]) == (3, 2, 1)
    assert acc["reason"] == f"{reactcsv.TWO_FITS}: 1"


def test_react_csv_split_uses_the_column_set():
    columns = ("id", "timestamp", "event_message", "metadata")
    body = 'x","1718035320000000","a "q","r" b","[{"k":"v","w":"z"}]'
    cells, why = reactcsv.split_row(body, columns)
    assert why is None
    assert cells == ["x", "1718035320000000", 'a "q","r" b', '[{"k":"v","w":"z"}]']
    assert reactcsv.split_row('x","1","only three', columns) == (None, reactcsv.NO_FIT)


def test_unified_auth_rows_carrying_a_request_are_requests(tmp_path):
    # 13.3: the auth row is the edge request that reached Auth (same id as its edge row).
    inc = _incident(tmp_path, "supabase_logs.json")
    req = inc.requests.set_index("id")
    assert (
        req.loc["f0000001-0000-4000-8000-000000000000", ["method", "path", "status"]]
    ).tolist() == [
        "POST",
        "/auth/v1/otp",
        400,
    ]
    assert req.loc["f0000000-0000-4000-8000-000000000000", "endpoint"] == "auth/token"
    edge = _acc(inc, "supabase_logs.json", "edge_logs")
    assert (edge["read"], edge["accepted"]) == (3, 2)
    assert edge["reason"] == "duplicate id: 1"
    auth = _acc(inc, "supabase_logs.json", "auth")
    assert (auth["read"], auth["rejected"], auth["reason"]) == (
        1,
        1,
        "unsupported log source auth: 1",
    )


def test_unified_postgres_severities_fatal_and_panic_are_right(tmp_path):
    # 13.4: FATAL is not stored as ERROR; PANIC (no level) is not rejected.
    inc = _incident(tmp_path, "supabase_logs.json")
    db = inc.db_errors.set_index("sql_state")
    assert db.loc["53300", "severity"] == "FATAL"
    assert db.loc["23505", "severity"] == "ERROR"
    assert db.loc["XX000", "severity"] == "PANIC"
    pg = _acc(inc, "supabase_logs.json", "postgres_logs")
    assert (pg["read"], pg["accepted"], pg["reason"]) == (4, 3, "not an error (severity LOG): 1")


@pytest.mark.parametrize(
    ("message", "family"),
    [
        ("IncreaseSubscriptionConnectionPool: Too many database timeouts", "pool_exhausted"),
        ("IncreaseConnectionPool: Too many database timeouts", "pool_exhausted"),
        ("UnableCheckoutConnection: Unable to checkout connection, please check", "pool_exhausted"),
        (
            "DatabaseLackOfConnections: Database can't accept more connections",
            "database_lacks_connections",
        ),
        (
            "Postgrex.Protocol (#PID<0.512.0>) failed to connect: ** (Postgrex.Error) FATAL 53300"
            " (too_many_connections) sorry, too many clients already",
            "database_lacks_connections",
        ),
        ("ConnectionRateLimitReached: Too many connected users", "too_many_connections"),
        (
            "DatabaseConnectionRateLimitReached: Too many connection attempts against the tenant"
            " database",
            "db_connect_throttled",
        ),
        ("ClientJoinRateLimitReached: Too many joins per second", "rate_limit"),
        ("MessagePerSecondRateLimitReached: Too many messages per second", "rate_limit"),
        ("UnableToConnectToTenantDatabase: tcp connect (db:5432): timeout", "connect_failed"),
        ("DatabaseConnectionDown: recovery window opened", "disconnect"),
        ("Stop tenant abcdefghijklmnopqrst because of no connected users", "other"),
    ],
)
def test_realtime_families_from_realtime_error_codes(message, family):
    # 13.5: recognised as Realtime without metadata, and in the right family.
    assert vocabulary.is_realtime_message(message)
    assert vocabulary.family_of(message) == family


def test_every_realtime_error_code_line_is_recognised_without_metadata():
    for code in vocabulary.REALTIME_ERROR_CODES:
        assert vocabulary.is_realtime_message(f"{code}: something happened"), code
    assert not vocabulary.is_realtime_message("GET | 200 | 1.2.3.4 | x | https://x/ | curl/8")


def test_explorer_projection_without_error_severity_reads(tmp_path):
    # 13.6: sql_state_code + user_name, no error_severity; no override needed, and one works.
    for overrides in (None, {"exports/explorer-projection.csv": {"kind": "postgres_logs"}}):
        work = tmp_path / ("plain" if overrides is None else "override")
        work.mkdir()
        inc = _incident(work, "explorer-projection.csv", overrides=overrides)
        db = inc.db_errors.set_index("sql_state")
        assert db.loc["53300", "severity"] == "FATAL"
        assert db.loc["23505", "severity"] == "ERROR"
        assert db.loc["23505", "constraint"] == "registrations_pkey"
        assert db.loc["23505", "user_name"] == "authenticator"
        acc = _acc(inc, "explorer-projection.csv")
        assert (acc["kind"], acc["read"], acc["accepted"]) == ("postgres_logs", 3, 2)
        assert acc["reason"].startswith("not an error (no error_severity")


def test_accounting_labels_of_page_csvs(tmp_path):
    # 13.7: a ClickHouse page is clickhouse; the Realtime page is a page, of unknown flavour.
    inc = _incident(
        tmp_path, "api-page-bigquery.csv", "api-page-clickhouse.csv", "realtime-page.csv"
    )
    labels = {
        f: (s, fl)
        for f, s, fl in zip(
            inc.accounting["file"], inc.accounting["shape"], inc.accounting["flavour"], strict=True
        )
    }
    assert labels["exports/api-page-bigquery.csv"] == ("page_csv", "bigquery")
    assert labels["exports/api-page-clickhouse.csv"] == ("page_csv", "clickhouse")
    shape, flavour = labels["exports/realtime-page.csv"]
    assert shape == "page_csv" and pd.isna(flavour)
    assert len(inc.requests) == 2


def test_the_fixture_files_are_what_the_writer_writes(tmp_path):
    # The committed fixtures are the script's output: nobody edited them by hand.
    import runpy

    script = REAL / "make_real.py"
    namespace = runpy.run_path(str(script))
    namespace["HERE"] = tmp_path
    for name in (
        "realtime_page",
        "realtime_react_csv",
        "ambiguous_react_csv",
        "unified_export",
        "explorer_projection",
        "page_csvs",
    ):
        namespace[name](tmp_path)
    for made in tmp_path.iterdir():
        assert made.read_bytes() == (REAL / made.name).read_bytes(), made.name
