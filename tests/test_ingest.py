"""Ingest: every export shape, canonical dtypes, accounting, cache, CLI (fixture incident)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import ingest
from analysis.__main__ import main as cli
from analysis.exceptions import IngestError
from analysis.schemas import SCHEMAS, column_dtypes
from analysis.simulate.clickhouse import clickhouse_row, project_row, selected_attributes

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "incident"
W1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    return ingest.load_incident(FIXTURE, cache_dir=tmp_path_factory.mktemp("cache"))


def acc(incident, file, kind=None):
    rows = incident.accounting[incident.accounting["file"] == file]
    if kind is not None:
        rows = rows[rows["kind"] == kind]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_every_table_has_the_contract_columns_and_dtypes(incident):
    for name, schema in SCHEMAS.items():
        table = incident.table(name)
        assert list(table.columns) == list(schema.columns), name
        for col, dtype in column_dtypes(name).items():
            assert table[col].dtype == dtype, (name, col, table[col].dtype)
    for name in ("requests", "db_errors", "realtime_events", "registrations"):
        assert str(incident.table(name)["ts"].dt.tz) == "UTC"
        assert incident.table(name)["id"].is_unique


def test_accounting_balances_per_file_and_matches_tables(incident):
    a = incident.accounting
    assert (a["read"] == a["accepted"] + a["rejected"]).all()
    kinds = {**ingest.LOG_KINDS, **ingest.TABLE_KINDS}
    for kind, name in kinds.items():
        assert a.loc[a["kind"] == kind, "accepted"].sum() == len(incident.table(name)), kind
    # Reasons add up to the rejected count of each file.
    for rec in a.itertuples():
        parts = [p for p in (rec.reason or "").split("; ") if p]
        assert sum(int(p.rsplit(": ", 1)[1]) for p in parts) == rec.rejected


def test_management_api_pages_gzip_and_plain_with_overlap(incident):
    assert acc(incident, "edge_logs/page-0001.json.gz")["accepted"] == 3
    page2 = acc(incident, "edge_logs/page-0002.json.gz")
    assert (page2["read"], page2["accepted"]) == (2, 0)
    assert "duplicate id: 1" in page2["reason"] and "outside window: 1" in page2["reason"]
    pg = acc(incident, "postgres_logs/page-0001.json")  # plain JSON, not gzip
    assert (pg["read"], pg["accepted"]) == (4, 3)
    assert "not an error (severity LOG): 1" in pg["reason"]
    assert pg["shape"] == "api_envelope" and pg["flavour"] == "bigquery"


def test_bigquery_nested_arrays_become_dotted_columns(incident):
    r = incident.requests.set_index("id").loc["e0000000-0000-4000-8000-000000000002"]
    assert (r["method"], r["path"], r["status"], r["origin_time_ms"]) == (
        "POST",
        "/rest/v1/registrations",
        409,
        41.0,
    )
    assert r["ts"] == pd.Timestamp("2026-02-06T05:02:00Z")
    assert r["endpoint"] == "rest/registrations" and r["client"] == "Chrome"
    assert r["cf_ray"] == "8a1f2c3d4e5f6a7b"
    e = incident.db_errors.set_index("id").loc["d0000000-0000-4000-8000-000000000002"]
    assert (e["sql_state"], e["sql_state_class"], e["column"], e["relation"]) == (
        "42703",
        "42",
        "id",
        "registrations",
    )
    assert e["user_name"] == "authenticator" and e["application_name"] == "PostgREST 12.2.3"
    rt = incident.realtime_events.set_index("id")
    billing = rt.loc["r0000000-0000-4000-8000-000000000002"]
    assert (billing["family"], billing["connected"], billing["limit"]) == (
        "billing_metrics",
        311,
        500,
    )
    assert rt.loc["r0000000-0000-4000-8000-000000000001", "family"] == "disconnect"


def test_clickhouse_flavour_string_map_and_naive_utc(incident):
    a = acc(incident, "exports/clickhouse-page.json", "postgres_logs")
    assert a["flavour"] == "clickhouse"
    e = incident.db_errors.set_index("id").loc["c0000000-0000-4000-8000-000000000001"]
    assert e["ts"] == pd.Timestamp("2026-02-06T05:20:00.215Z")
    assert e["constraint"] == "uq_marketing_stats_daily_key" and e["sql_state"] == "23505"
    r = incident.requests.set_index("id").loc["c0000000-0000-4000-8000-000000000002"]
    # "2026-02-06 05:21:00.000000" (space form) and string status "200".
    assert r["ts"] == pd.Timestamp("2026-02-06T05:21:00Z") and r["status"] == 200
    assert r["origin_time_ms"] == 12.0
    auth = acc(incident, "exports/clickhouse-page.json", "auth_logs")
    assert auth["reason"] == "unsupported log source auth_logs: 1"


def test_logs_explorer_csv_json_cells_null_literal_crlf(incident):
    a = acc(incident, "exports/logs-explorer-download.csv.csv")
    assert (a["read"], a["accepted"], a["rejected"]) == (4, 2, 2)
    assert "bad metadata cell (expected JSON): 1" in a["reason"]
    assert "missing timestamp: 1" in a["reason"]  # the literal null
    r = incident.requests.set_index("id").loc["e1000000-0000-4000-8000-000000000001"]
    assert r["path"] == "/rest/v1/questions" and r["ts"] == pd.Timestamp("2026-02-06T05:10:00Z")


def test_unified_logs_json_and_csv(incident):
    kinds = incident.accounting[incident.accounting["file"] == "exports/supabase_logs.json"]
    # The auth row carries the edge request that reached Auth: it is read as a request.
    assert set(kinds["kind"]) == {"edge_logs", "postgres_logs"}
    auth = incident.requests.set_index("id").loc["f0000000-0000-4000-8000-000000000003"]
    assert (auth["method"], auth["path"], auth["status"]) == ("GET", "/auth/v1/token", 200)
    r = incident.requests.set_index("id").loc["f0000000-0000-4000-8000-000000000001"]
    assert (r["method"], r["path"], r["status"], r["client"]) == (
        "POST",
        "/rest/v1/registrations",
        409,
        "supabase-js-web/2.45.0",
    )
    e = incident.db_errors.set_index("id").loc["f0000000-0000-4000-8000-000000000002"]
    assert (e["sql_state"], e["severity"]) == ("22P02", "ERROR")
    assert acc(incident, "exports/supabase_logs.csv")["accepted"] == 1
    assert "f1000000-0000-4000-8000-000000000001" in set(incident.requests["id"])


def test_product_page_csvs_multiline_and_sqlstate_from_message(incident):
    e = incident.db_errors.set_index("id").loc["b0000000-0000-4000-8000-000000000001"]
    assert e["sql_state"] == "23505" and e["constraint"] == "registrations_pkey"
    assert "\nsecond line" in e["detail"]
    api = acc(incident, "exports/api-page.csv")
    assert (api["accepted"], api["rejected"]) == (1, 2)
    assert "bad status (expected an integer): 1" in api["reason"]
    assert "bad timestamp (an epoch time whose size names no unit" in api["reason"]


def test_manifest_override_sets_kind_of_an_ambiguous_file(incident):
    a = acc(incident, "exports/ambiguous-page.csv")
    assert a["kind"] == "realtime_logs" and a["accepted"] == 1
    assert acc(incident, "exports/copy-as-json.json")["shape"] == "explorer_json"


def test_tables_unknown_webinar_duplicates_window(incident):
    reg = acc(incident, "tables/registrations.csv")
    assert (reg["read"], reg["accepted"]) == (6, 3)
    for reason in ("duplicate id: 1", "unknown webinar: 1", "naive timestamp in created_at"):
        assert reason in reg["reason"]
    counts = acc(incident, "tables/webinar_viewer_counts.csv")
    assert "outside window: 1" in counts["reason"] and "bad viewer_count" in counts["reason"]
    assert incident.concurrency["viewers"].max() == 311
    assert list(incident.sessions["left_at"].isna()) == [False, True]
    assert incident.webinars.set_index("webinar_id").loc[W1, "title"].startswith("AI 특허")


def test_window_display_zone_annotations(incident):
    assert incident.window == (
        pd.Timestamp("2026-02-06T05:00:00Z"),
        pd.Timestamp("2026-02-06T06:00:00Z"),
    )
    assert incident.display_tz == "Asia/Seoul"
    ann = incident.annotations
    assert list(ann["label"]) == ["peak", "limits raised"]
    assert ann["ts"].isna().tolist() == [False, True]
    assert set(incident.checksums) >= {"incident.json", "edge_logs/page-0001.json.gz"}


def test_second_run_reads_the_cache_without_parsing(tmp_path, monkeypatch):
    first = ingest.load_incident(FIXTURE, cache_dir=tmp_path)
    assert not first.from_cache

    def boom(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(ingest.assemble, "ingest_files", boom)
    second = ingest.load_incident(FIXTURE, cache_dir=tmp_path)
    assert second.from_cache
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(first.table(name), second.table(name))
    pd.testing.assert_frame_equal(first.accounting, second.accounting)
    pd.testing.assert_frame_equal(first.annotations, second.annotations)


def test_a_cache_read_needs_no_schema_library_and_no_reader(tmp_path):
    # Only a fresh parse validates and reads exports: a report that reads ingest's cache (its
    # own process and its kernel) must not pay for importing pandera, the readers or tqdm.
    ingest.load_incident(FIXTURE, cache_dir=tmp_path)
    unused = ["pandera", "tqdm", "analysis.ingest.assemble", "analysis.ingest.fast"]
    code = (
        "import sys; from pathlib import Path; from analysis import ingest; "
        f"got = ingest.load_incident(Path({str(FIXTURE)!r}), cache_dir=Path({str(tmp_path)!r})); "
        f"print(got.from_cache, *(m in sys.modules for m in {unused!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", *["False"] * len(unused)]
    # The readers are still re-exported, on first use.
    code = "from analysis import ingest; print(ingest.ingest_files.__module__, ingest.assemble)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("analysis.ingest.assemble <module")


def test_changed_input_or_key_invalidates_the_cache(tmp_path, monkeypatch):
    work = tmp_path / "incident"
    shutil.copytree(FIXTURE, work)
    ingest.load_incident(work, cache_dir=tmp_path / "cache")
    page = work / "realtime_logs" / "page-0001.json.gz"
    doc = json.loads(gzip.decompress(page.read_bytes()))
    doc["result"] = doc["result"][:1]
    page.write_bytes(gzip.compress(json.dumps(doc).encode()))
    again = ingest.load_incident(work, cache_dir=tmp_path / "cache")
    assert not again.from_cache and len(again.realtime_events) == 3
    monkeypatch.setenv("EVENTLIVE_PSEUDONYM_KEY", "another key")
    other = ingest.load_incident(work, cache_dir=tmp_path / "cache")
    assert not other.from_cache
    assert set(other.requests["user"].dropna()).isdisjoint(set(again.requests["user"].dropna()))


def test_fast_reader_and_general_reader_agree(tmp_path, monkeypatch):
    fast = ingest.load_incident(FIXTURE, use_cache=False)

    def no_fast(*args, **kwargs):
        raise ingest.NotFast

    monkeypatch.setattr(ingest.fast, "read_page_fast", no_fast)
    slow = ingest.load_incident(FIXTURE, use_cache=False)
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(fast.table(name), slow.table(name))
    pd.testing.assert_frame_equal(
        fast.accounting.drop(columns="shape"), slow.accounting.drop(columns="shape")
    )


def test_fast_reader_is_used_for_bigquery_pages():
    parts = ingest.parse_file_fast(FIXTURE / "edge_logs" / "page-0001.json.gz", "p")
    assert [(p.kind, len(p.frame)) for p in parts] == [("edge_logs", 3)]
    general = ingest.parse_file(FIXTURE / "edge_logs" / "page-0001.json.gz", "p", ingest.Override())
    for col in parts[0].frame.columns.drop("_file"):
        # The fixed schema has a column for every header it reads, held or not (this page
        # has no X-Forwarded-For); the general reader has the page's own keys.
        assert col in general[0].frame.columns or parts[0].frame[col].isna().all(), col
    assert "request.headers.cf_connecting_ip" in general[0].frame.columns
    assert parts[0].frame["request.headers.cf_connecting_ip"].notna().all()
    assert set(parts[0].frame["_file"]) == {"p"}
    assert list(parts[0].frame["_row"]) == [1, 2, 3]


def test_cli_prints_the_accounting_and_exits_zero(tmp_path, capsys):
    # In this process; the next test runs the command line in a process of its own.
    code = cli(["check", "--data", str(FIXTURE), "--cache-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "tables/registrations.csv" in out.out and "TOTAL" in out.out
    total = [line for line in out.out.splitlines() if line.startswith("TOTAL")][0].split()
    assert int(total[1]) == int(total[2]) + int(total[3])


def test_cli_says_which_zone_times_are_shown_in_when_the_manifest_names_none(tmp_path, capsys):
    work = tmp_path / "incident"
    shutil.copytree(FIXTURE, work)
    manifest = json.loads((work / "incident.json").read_text())
    lines = []
    for zone in ("America/Denver", None):
        manifest.pop("display_tz", None)
        if zone is not None:
            manifest["display_tz"] = zone
        (work / "incident.json").write_text(json.dumps(manifest))
        assert cli(["check", "--data", str(work), "--no-cache"]) == 0
        lines.append(
            [x for x in capsys.readouterr().out.splitlines() if x.startswith("note: times")]
        )
    assert lines[0] == []
    assert lines[1] == [
        "note: times are shown in Asia/Seoul, the default display zone (incident.json names no"
        ' "display_tz"; set it to the team\'s zone)'
    ]


def test_cli_bad_directory_is_one_line_exit_two(tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURE, bad)
    (bad / "edge_logs" / "page-0001.json.gz").write_bytes(b"not gzip at all")
    out = subprocess.run(
        [sys.executable, "-m", "analysis", "check", "--data", str(bad), "--no-cache"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "page-0001.json.gz" in lines[0] and "not a gzip file" in lines[0]


def test_load_incident_missing_directory_is_an_ingest_error(tmp_path):
    with pytest.raises(IngestError, match="no such incident directory"):
        ingest.load_incident(tmp_path / "nope", use_cache=False)


def test_registrations_without_id_column_are_keyed_by_webinar_and_user(tmp_path):
    work = tmp_path / "incident"
    shutil.copytree(FIXTURE, work)
    u1, u2 = "5d0c9e8a-1111-4a2b-9c3d-0e1f2a3b4c5d", "7a1b2c3d-2222-4e5f-8a9b-0c1d2e3f4a5b"
    (work / "tables" / "registrations.csv").write_text(
        "webinar_id,user_id,created_at\n"
        f"{W1},{u1},2026-01-27 05:30:19.905906+00\n"
        f"{W1},{u2},2026-01-27 06:30:19.905906+00\n"
        f"{W1},{u1},2026-01-27 07:30:19.905906+00\n"
    )
    inc = ingest.load_incident(work, use_cache=False)
    reg = acc(inc, "tables/registrations.csv")
    assert (reg["read"], reg["accepted"], reg["reason"]) == (3, 2, "duplicate id: 1")
    assert inc.registrations["id"].str.fullmatch(r"r_[0-9a-f]{16}").all()
    assert inc.registrations["id"].is_unique
    assert inc.registrations["user"].str.fullmatch(r"u_[0-9a-f]{12}").all()


def write_incident(root: Path, files: dict[str, str]) -> Path:
    (root / "tables").mkdir(parents=True)
    (root / "incident.json").write_text(
        json.dumps(
            {
                "name": "t",
                "window_start": "2026-02-06T05:00:00Z",
                "window_end": "2026-02-06T06:00:00Z",
            }
        )
    )
    (root / "tables" / "webinars.csv").write_text(
        f"id,title,starts_at,ends_at,status,created_at\n{W1},W,,,ended,\n"
    )
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_clickhouse_explorer_csv_with_log_attributes_cell(tmp_path):
    attrs = json.dumps(
        {
            "parsed.sql_state_code": "42703",
            "parsed.error_severity": "ERROR",
            "parsed.user_name": "authenticator",
        }
    ).replace('"', '""')
    root = write_incident(
        tmp_path / "i",
        {
            "exports/ch.csv": "id,timestamp,event_message,severity_text,source,log_attributes\r\n"
            "x1,2026-02-06 05:10:00.123000,column registrations.id does not exist,"
            f'ERROR,postgres_logs,"{attrs}"\r\n'
        },
    )
    inc = ingest.load_incident(root, use_cache=False)
    e = inc.db_errors.iloc[0]
    assert (e["sql_state"], e["column"], e["relation"]) == ("42703", "id", "registrations")
    assert e["ts"] == pd.Timestamp("2026-02-06T05:10:00.123Z")
    assert acc(inc, "exports/ch.csv")["flavour"] == "clickhouse"


def test_explorer_projection_without_id_gets_derived_ids_that_dedupe_across_files(tmp_path):
    line = (
        '2026-02-06T05:01:00.000Z,"duplicate key value violates unique constraint '
        '""registrations_pkey""",23505,ERROR\n'
    )
    body = "ts,event_message,sql_state_code,error_severity\n" + line + line
    root = write_incident(
        tmp_path / "i", {"postgres_logs/run1.csv": body, "postgres_logs/run2.csv": body}
    )
    inc = ingest.load_incident(root, use_cache=False)
    assert len(inc.db_errors) == 2  # two identical events in one export stay two rows
    assert inc.db_errors["id"].str.fullmatch(r"x_[0-9a-f]{16}").all()
    assert acc(inc, "postgres_logs/run2.csv")["reason"] == "duplicate id: 2"


def _label(directory: Path, label: str) -> None:
    (directory / "annotations.csv").write_text(f"time_utc,label,note\n,{label},\n")


def test_changed_inputs_get_their_own_slot_and_the_least_recently_used_go(tmp_path):
    from analysis.ingest import cache

    work, root = tmp_path / "incident", tmp_path / "cache"
    shutil.copytree(FIXTURE, work)
    for n in range(cache.KEEP_SLOTS + 1):
        _label(work, f"v{n}")
        inc = ingest.load_incident(work, cache_dir=root)
        assert not inc.from_cache and list(inc.annotations["label"]) == [f"v{n}"]
        if n == 1:  # v0 used again: now v1 is the least recently used
            _label(work, "v0")
            assert ingest.load_incident(work, cache_dir=root).from_cache
    assert len(list(root.iterdir())) == cache.KEEP_SLOTS
    for label, cached in (("v0", True), (f"v{cache.KEEP_SLOTS}", True), ("v1", False)):
        _label(work, label)
        assert ingest.load_incident(work, cache_dir=root).from_cache is cached, label


def test_two_versions_used_in_turn_each_read_their_own_slot(tmp_path, monkeypatch):
    """A user switching branches (another code: another cache key) back and forth, or two
    exports under one incident name, read the cache on every run after the first two."""
    from analysis.ingest import cache

    work, root = tmp_path / "incident", tmp_path / "cache"
    shutil.copytree(FIXTURE, work)
    hits = []
    for turn in range(4):
        monkeypatch.setattr(cache, "CACHE_FORMAT", 100 + turn % 2)  # the code's version
        hits.append(ingest.load_incident(work, cache_dir=root).from_cache)
    assert hits == [False, False, True, True]
    assert len(list(root.iterdir())) == 2


def test_progress_bar_is_shown_on_request(capsys):
    ingest.load_incident(FIXTURE, use_cache=False, progress=True)
    assert "ingest" in capsys.readouterr().err
    ingest.load_incident(FIXTURE, use_cache=False, progress=False)
    assert "ingest" not in capsys.readouterr().err


def test_compact_uuid_dedup_agrees_with_pandas():
    from analysis.schemas import duplicated_first, uuid_keys

    rng = np.random.default_rng(3)
    # Half the pool shares first halves (8 bytes) with other values: equal first halves with
    # different second halves are not copies.
    pool = [
        f"{rng.integers(0, 2 ** (32 if n % 2 else 2)):08x}-1111-4a2b-9c3d-"
        f"{rng.integers(0, 2**40):012x}"
        for n in range(50)
    ]
    values = pd.Series(rng.choice(pool, 400), dtype="string")
    chunked = pd.concat([values[:150], values[150:]])  # arrow chunks with offsets
    assert uuid_keys(chunked) is not None
    expected = values.duplicated(keep="first").to_numpy()
    assert (duplicated_first(chunked) == expected).all()
    # Anything but lower-case uuids takes the exact string path.
    mixed = pd.Series(
        ["A0000000-0000-4000-8000-000000000001", "a0000000-0000-4000-8000-000000000001"],
        dtype="string",
    )
    assert uuid_keys(mixed) is None and not duplicated_first(mixed).any()
    # Short columns too (a webinars table of one or two rows, an empty table).
    for few in ([], pool[:1], pool[:2], [pool[0], pool[0]]):
        expected = pd.Series(few, dtype="string").duplicated(keep="first").tolist()
        assert duplicated_first(pd.Series(few, dtype="string")).tolist() == expected
    assert list(duplicated_first(pd.Series(["d1", "d2", "d1"], dtype="string"))) == [
        False,
        False,
        True,
    ]


def _projection_row(row: dict, source: str) -> dict:
    """A BigQuery-flavour row as the package's raw ClickHouse query returns it (flat, text)."""
    sql = (
        Path(ingest.__file__).parents[1] / "queries" / f"{source}_raw.clickhouse.sql"
    ).read_text()
    return project_row(clickhouse_row(row, source), selected_attributes(sql))


def test_projection_columns_are_those_of_the_raw_clickhouse_queries():
    queries = sorted((Path(ingest.__file__).parents[1] / "queries").glob("*_raw.clickhouse.sql"))
    wanted = {"id", "timestamp", "event_message", "severity_text", "source"}
    for path in queries:
        wanted |= set(re.findall(r"log_attributes\['([^']+)'\]", path.read_text()))
    assert len(queries) >= 3 and wanted == set(ingest.fast.PROJECTION_COLUMNS)


def test_clickhouse_projection_pages_read_by_columns_as_the_general_reader_reads_them(
    tmp_path, monkeypatch
):
    work = tmp_path / "incident"
    shutil.copytree(FIXTURE, work, ignore=shutil.ignore_patterns("exports"))
    manifest = json.loads((work / "incident.json").read_text())
    manifest["files"] = {}
    (work / "incident.json").write_text(json.dumps(manifest))
    for source in ("edge_logs", "postgres_logs", "realtime_logs"):
        for page in sorted((work / source).glob("page-*")):
            data = page.read_bytes()
            doc = json.loads(gzip.decompress(data) if page.suffix == ".gz" else data)
            rows = [_projection_row(r, source) for r in doc["result"]]
            page.unlink()
            target = page.with_name(page.name.split(".")[0] + ".json.gz")
            target.write_bytes(gzip.compress(json.dumps({"result": rows, "error": None}).encode()))
    edge = sorted((work / "edge_logs").glob("*.gz"))
    assert isinstance(ingest.fast.try_read_page(edge[0]), list)  # the columnar reader reads it
    # A page mixing sources, with a null attribute and a malformed id: still columnar.
    doc = json.loads(gzip.decompress(edge[1].read_bytes()))
    doc["result"][0]["request.headers.user_agent"] = None
    doc["result"][1]["id"] = " "
    doc["result"].append(
        _projection_row(
            json.loads(
                gzip.decompress((FIXTURE / "realtime_logs" / "page-0001.json.gz").read_bytes())
            )["result"][0],
            "realtime_logs",
        )
    )
    edge[1].write_bytes(gzip.compress(json.dumps(doc).encode()))
    parts, left = ingest.fast.parse_files_fast([(edge[0], "a"), (edge[1], "b")])
    assert not left and sorted(p.kind for p in parts) == ["edge_logs", "realtime_logs"]
    assert {p.flavour for p in parts} == {"clickhouse"}
    assert set(parts[0].frame["_file"]) == {"a", "b"}
    assert parts[1].frame["_row"].tolist() == [len(doc["result"])]
    # An unknown key or an unknown source: the general reader's, not the columnar one's.
    extra = dict(doc, result=[dict(doc["result"][0], unknown_key="x")])
    odd = dict(doc, result=[dict(doc["result"][0], source="auth_logs")])
    for name, body in (("extra", extra), ("odd", odd)):
        path = tmp_path / f"{name}.json.gz"
        path.write_bytes(gzip.compress(json.dumps(body).encode()))
        assert ingest.fast.try_read_page(path) is None

    columnar = ingest.load_incident(work, use_cache=False)
    assert len(columnar.requests) and len(columnar.realtime_events) and len(columnar.db_errors)
    assert set(columnar.accounting["flavour"].dropna()) == {"clickhouse"}

    def no_fast(*args, **kwargs):
        raise ingest.NotFast

    monkeypatch.setattr(ingest.fast, "read_projection_page", no_fast)
    general = ingest.load_incident(work, use_cache=False)
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(columnar.table(name), general.table(name))
    pd.testing.assert_frame_equal(columnar.accounting, general.accounting)


def test_projection_pages_the_columnar_reader_leaves_to_the_general_one(tmp_path):
    rows = json.loads(gzip.decompress((FIXTURE / "edge_logs" / "page-0001.json.gz").read_bytes()))
    good = [_projection_row(r, "edge_logs") for r in rows["result"][:3]]
    cases = {
        "number": {"result": [dict(good[0], **{"response.status_code": 200})], "error": None},
        "null-row": {"result": [good[0], None], "error": None},
        "error": {"result": good, "error": "Backend error! Retry your query"},
        "error-object": {"result": good, "error": {"code": 400}},
        "extra-envelope-key": {"result": good, "error": None, "next": 2},
        "empty": {"result": [], "error": None},
        "not-an-object": [good],
    }
    # A key given twice (json.loads keeps the last value; the columnar reader refuses it).
    twice = json.dumps({"result": good, "error": None}).replace(
        '"request.method": "', '"request.method": "PUT", "request.method": "', 1
    )
    for name, body in [*cases.items(), ("twice", twice)]:
        path = tmp_path / f"{name}.json.gz"
        text = body if isinstance(body, str) else json.dumps(body)
        path.write_bytes(gzip.compress(text.encode()))
        assert ingest.fast.try_read_page(path, "clickhouse") is None, name
