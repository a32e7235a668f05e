"""The Management API fetch client against a local fake of the API (127.0.0.1 only)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fake_supabase_api import FakeClock, FakeSupabaseApi, Fault, make_rows, to_clickhouse

from analysis import __main__ as cli
from analysis import fetch
from analysis._util import epoch_us
from analysis.exceptions import FetchError

REF = "abcdefghijklmnopqrst"
TOKEN = "sbp_TEST0123456789abcdefSECRETtoken42"
START = datetime(2026, 2, 6, 5, 0, tzinfo=UTC)
END = datetime(2026, 2, 6, 6, 0, tzinfo=UTC)


def is_page(call) -> bool:
    """A call for rows (not a count)."""
    sql = call["sql"] if isinstance(call, dict) else call.sql
    return " as n" not in sql


def is_next_page(call) -> bool:
    """A call for rows after a page key (not the first page of a window)."""
    sql = call["sql"] if isinstance(call, dict) else call.sql
    return is_page(call) and "id > '" in sql


def incident_rows() -> dict[str, list[dict]]:
    # 2500 edge rows, with 40 sharing one timestamp across the first page boundary (row 1000).
    return {
        "edge_logs": make_rows("edge_logs", START, END, 2500, ref=REF, seed=1, tie=(980, 40)),
        "postgres_logs": make_rows("postgres_logs", START, END, 300, ref=REF, seed=2),
        "realtime_logs": make_rows("realtime_logs", START, END, 60, ref=REF, seed=3),
    }


class Sleeps(list):
    """Injected sleep: records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(api: FakeSupabaseApi, sleeps=None, flavour="bigquery", **kw) -> fetch.ApiClient:
    return fetch.ApiClient(
        project_ref=REF,
        token=kw.pop("token", TOKEN),
        flavour=flavour,
        base_url=api.base_url,
        timeout=5,
        min_interval=0,
        sleep=sleeps if sleeps is not None else Sleeps(),
        rng=random.Random(7),
        **kw,
    )


def run_fetch(api, out: Path, sleeps=None, flavour="bigquery", start=START, end=END, **kw):
    plan = fetch.FetchPlan(project_ref=REF, start=start, end=end, out_dir=out, flavour=flavour)
    return fetch.fetch_incident(plan, make_client(api, sleeps, flavour, **kw), progress=False)


def read_pages(out: Path, source: str) -> list[list[dict]]:
    """Plain JSON reading of what ingest will read: gzip envelopes in page order.

    orjson, not the package's reader: strict RFC 8259 (no NaN), and quicker than json.
    """
    pages = []
    for path in sorted((out / source).glob("page-*.json.gz")):
        envelope = orjson.loads(gzip.decompress(path.read_bytes()))
        assert set(envelope) == {"result", "error"} and envelope["error"] is None
        pages.append(envelope["result"])
    return pages


def assert_same_rows(
    out: Path, held: dict[str, list[dict]], start=START, end=END, mode="raw"
) -> None:
    for source, rows in held.items():
        expected = [r for r in rows if start <= fetch.row_timestamp(r["timestamp"]) < end]
        pages = read_pages(out, source)
        got = [row for page in pages for row in page]
        assert all(len(page) <= fetch.ROW_CAP for page in pages)
        assert len({r["id"] for r in got}) == len(got), f"{source}: duplicate ids written"
        # ClickHouse rows come back as the query's columns (only the attributes it selects).
        sql = fetch.load_query(source, "clickhouse", fetch.RAW_KINDS[mode][source])
        expected = [FakeSupabaseApi._project(sql, r) for r in expected]
        assert sorted(got, key=lambda r: r["id"]) == sorted(expected, key=lambda r: r["id"])


# -- pure helpers ------------------------------------------------------------------------------
def test_split_window_cuts_pieces_that_fit_one_call_with_their_margins():
    end = START + timedelta(hours=30)
    pieces = fetch.split_window(START, end)
    assert pieces == [(START, START + timedelta(hours=23)), (START + timedelta(hours=23), end)]
    for left, right in pieces:
        lo, hi = fetch.api_bounds(left, right)
        assert hi - lo <= timedelta(hours=24) and lo < left and hi > right
    assert fetch.split_window(START, END) == [(START, END)]
    with pytest.raises(FetchError, match="expected END after START"):
        fetch.split_window(END, START)


def test_window_bounds_need_an_offset_and_a_whole_minute():
    kst = fetch.parse_window_bound("2026-02-06T14:00:00+09:00", "START")
    assert kst == START and kst.tzinfo == UTC
    assert fetch.parse_window_bound("2026-02-06T05:00Z", "START") == START
    with pytest.raises(FetchError, match="explicit UTC offset"):
        fetch.parse_window_bound("2026-02-06T14:00:00", "START")
    with pytest.raises(FetchError, match="whole minute"):
        fetch.parse_window_bound("2026-02-06T05:00:30Z", "END")
    with pytest.raises(FetchError, match="ISO 8601"):
        fetch.parse_window_bound("yesterday", "END")


def test_row_timestamps_of_both_flavours():
    expected = datetime(2026, 2, 6, 5, 40, 12, 345000, tzinfo=UTC)
    assert fetch.row_timestamp(1770356412345000) == expected
    assert fetch.row_timestamp("2026-02-06T05:40:12.345000") == expected
    assert fetch.row_timestamp("2026-02-06 05:40:12.345000") == expected
    with pytest.raises(ValueError):
        fetch.row_timestamp(None)


def test_retry_after_accepts_seconds_and_http_dates():
    assert fetch.parse_retry_after("7") == 7.0
    assert fetch.parse_retry_after(None) is None
    later = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= fetch.parse_retry_after(later) <= 31


def test_pages_are_deterministic_gzip():
    rows = make_rows("postgres_logs", START, END, 5, ref=REF, seed=9)
    first, second = fetch.encode_page(rows), fetch.encode_page(rows)
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert json.loads(gzip.decompress(first)) == {"result": rows, "error": None}


def test_plain_http_is_refused_beyond_loopback():
    with pytest.raises(FetchError, match="expected https"):
        fetch.validate_base_url("http://api.supabase.com")
    assert fetch.validate_base_url("https://api.supabase.com/") == "https://api.supabase.com"


def test_queries_exist_for_each_source_flavour_and_kind():
    root = Path(fetch.__file__).parent.parent / "queries"
    for source in fetch.SOURCES:
        for flavour in fetch.FLAVOURS:
            for kind in ("raw", "per_minute"):
                sql = fetch.strip_sql_comments(fetch.load_query(source, flavour, kind))
                assert re.search(r"\blimit (\d+)$", sql), (source, flavour, kind)
                if kind == "raw":
                    assert re.search(r"order by [\w.]*timestamp asc", sql)
    assert (root / "README.md").exists()
    with pytest.raises(FetchError, match="no such file"):
        fetch.load_query("auth_logs", "bigquery")


def test_hybrid_evidence_is_the_raw_query_narrowed_by_one_condition():
    for source in fetch.SOURCES:
        for flavour in fetch.FLAVOURS:
            raw = fetch.split_sql(fetch.load_query(source, flavour))
            evidence = fetch.split_sql(fetch.load_query(source, flavour, "evidence"))
            joins, condition = fetch.EVIDENCE_FILTERS[source][flavour]
            for clause in ("select", "group", "order", "limit"):
                assert evidence[clause] == raw[clause], (source, flavour, clause)
            assert evidence["from"] == f"{raw['from']} {joins}".strip()
            assert evidence["where"].endswith(condition)
            assert (raw["where"] or "") in evidence["where"]


def test_every_query_has_both_flavours_and_stays_under_the_cap():
    root = Path(fetch.__file__).parent.parent / "queries"
    files = sorted(root.glob("*.sql"))
    names = {p.name.split(".")[0] for p in files}
    assert len(files) == 2 * len(names) >= 12
    for path in files:
        stem, flavour, _ = path.name.split(".")
        source = next(s for s in fetch.SOURCES if stem.startswith(s.split("_")[0]))
        sql = fetch.strip_sql_comments(path.read_text())
        assert int(re.search(r"\blimit (\d+)$", sql).group(1)) <= fetch.ROW_CAP, path.name
        if flavour == "bigquery":
            assert f"from {source} as t" in sql and "from logs" not in sql, path.name
            assert "count()" not in sql and "countIf" not in sql, path.name
        else:
            assert "from logs" in sql and f"source = '{source}'" in sql, path.name
            assert "count(*)" not in sql and "select *" not in sql, path.name  # rejected by CH


def test_realtime_families_of_the_aggregate_are_the_vocabulary_s_own():
    """Each family column is the vocabulary's rule, first match wins, in both flavours."""
    from analysis.vocabulary import REALTIME_FAMILY_RULES, family_of

    messages = [
        "Postgrex.Protocol (#PID<0.2612.0>) disconnected: ** (DBConnection.ConnectionError) "
        "client #PID<0.3001.0> exited",
        # Ingest counts a Postgres-side termination as a disconnect too (issue 13.8).
        "Postgrex.Protocol (#PID<0.3131.0>) disconnected: ** (Postgrex.Error) FATAL 57P01 "
        "(admin_shutdown) terminating connection due to administrator command",
        "** (DBConnection.ConnectionError) connection not available and request was dropped "
        "from queue after 10000ms.",
        "Postgrex.Protocol (#PID<0.512.0>) failed to connect: ** (Postgrex.Error) FATAL 53300 "
        "(too_many_connections) sorry, too many clients already",
        'UnableToConnectToTenantDatabase: %DBConnection.ConnectionError{message: "tcp connect '
        '(db.x.supabase.co:5432): timeout"}',
        "ClientJoinRateLimitReached: Too many joins per second",
        "IncreaseSubscriptionConnectionPool: Too many database timeouts",
        "Billing metrics: [:realtime, :connections]",
        "Stop tenant abc because of no connected users",
    ]
    for flavour, (count, test) in {
        "bigquery": ("countif", "regexp_contains(t.event_message, "),
        "clickhouse": ("countIf", "match(event_message, "),
    }.items():
        sql = fetch.load_query("realtime_logs", flavour, "per_minute")
        earlier: list[str] = []
        columns = {}
        for rule in REALTIME_FAMILY_RULES:
            expression = f"{test}'{rule.pattern}')"
            if earlier:
                expression += f" and not {test}'{'|'.join(earlier)}')"
            # After changing a family: .venv/bin/python scripts/realtime_per_minute_sql.py
            assert f"{count}({expression}) as {rule.name}" in sql, (flavour, rule.name)
            columns[rule.name] = (rule.pattern, "|".join(earlier))
            earlier.append(f"(?:{rule.pattern})")
        for message in messages:
            hits = [
                name
                for name, (pattern, before) in columns.items()
                if re.search(pattern, message) and not (before and re.search(before, message))
            ]
            family = family_of(message)
            assert hits == ([] if family == "other" else [family]), (flavour, message, hits)
    assert family_of(messages[1]) == "disconnect"


# -- against the fake API ----------------------------------------------------------------------
def test_fetch_writes_every_row_once_in_pages_ingest_reads(tmp_path):
    held = incident_rows()
    out = tmp_path / "incident"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        result = run_fetch(api, out)
        calls = list(api.calls)
    assert_same_rows(out, held)
    assert result.rows == {s: len(r) for s, r in held.items()}
    assert result.pages == {"edge_logs": 3, "postgres_logs": 1, "realtime_logs": 1}
    assert result.duplicates_dropped == {s: 0 for s in held}
    # API bounds are whole minutes a minute wide of the window; the SQL selects the rows:
    # a count, the pages keyed by the last row's (timestamp, id), a count again.
    edge = [c for c in calls if "from edge_logs" in c.sql]
    assert {(c.start, c.end) for c in calls} == {("2026-02-06T04:59:00Z", "2026-02-06T06:01:00Z")}
    assert [is_page(c) for c in edge] == [False, True, True, True, False]
    last = read_pages(out, "edge_logs")[0][-1]
    assert f"timestamp_micros({last['timestamp']})" in edge[2].sql and last["id"] in edge[2].sql
    assert "timestamp >= timestamp_micros(1770354000000000)" in edge[1].sql
    assert "timestamp < timestamp_micros(1770357600000000)" in edge[1].sql
    assert all(c.endpoint == "logs.all" and c.status == 200 for c in calls)
    assert not (out / fetch.STATE_FILE).exists()

    incident = json.loads((out / "incident.json").read_text())
    assert incident == {
        "name": "incident",
        "project_ref": REF,
        "window_start": "2026-02-06T05:00:00Z",
        "window_end": "2026-02-06T06:00:00Z",
        "display_tz": "Asia/Seoul",
        "flavour": "bigquery",
        "files": {"fetch-manifest.json": {"kind": "ignore"}},
    }
    assert (out / "annotations.csv").read_text() == "time_utc,label,note\n"
    manifest = json.loads((out / fetch.MANIFEST_FILE).read_text())
    for source, rows in held.items():
        entry = manifest["sources"][source]
        assert entry["rows"] == len(rows) == sum(p["rows"] for p in entry["pages"])
        assert f"from {source}" in entry["query"] and "--" not in entry["query"]
        for page in entry["pages"]:
            assert hashlib.sha256((out / page["file"]).read_bytes()).hexdigest() == page["sha256"]
    listed = {}
    for line in (out / fetch.CHECKSUM_FILE).read_text().splitlines():
        digest, name = line.split("  ")
        listed[name] = digest
    downloaded = {str(p.relative_to(out)) for p in out.rglob("page-*.json.gz")}
    assert set(listed) == downloaded | {"fetch-manifest.json"}
    assert all(hashlib.sha256((out / n).read_bytes()).hexdigest() == d for n, d in listed.items())


def test_fetched_gateway_and_postgres_rows_carry_their_project_and_address(tmp_path):
    """The BigQuery queries select ``identifier`` (the project's reference, a column beside
    ``metadata``); the fake server returns only the columns a query names."""
    held = incident_rows()
    out = tmp_path / "incident"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        run_fetch(api, out)
    for source in ("edge_logs", "postgres_logs"):
        rows = [r for page in read_pages(out, source) for r in page]
        assert rows and {r.get("identifier") for r in rows} == {REF}, source
    realtime = [r for page in read_pages(out, "realtime_logs") for r in page]
    assert "identifier" not in realtime[0] and realtime[0]["metadata"][0]["project"] == REF
    from analysis.ingest import load_incident

    requests = load_incident(out, cache_dir=tmp_path / "cache", progress=False).requests
    assert requests["address"].str.fullmatch(r"a_[0-9a-f]{12}").all()
    assert requests["address"].nunique() == 1  # the fake's one client


def test_the_same_fetch_writes_the_same_bytes(tmp_path):
    held = incident_rows()
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        run_fetch(api, tmp_path / "a")
        run_fetch(api, tmp_path / "b")
    pages_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("page-*"))
    pages_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("page-*"))
    assert pages_a == pages_b and len(pages_a) == 5
    for rel in pages_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_a_window_over_24_hours_is_split_and_nothing_is_lost_at_the_seam(tmp_path):
    end = START + timedelta(hours=30)
    seam = START + timedelta(hours=24)
    held = {"postgres_logs": make_rows("postgres_logs", START, end, 200, ref=REF, seed=4)}
    # Rows exactly on the seam, one microsecond either side, and on both ends of the window:
    # kept once each if inside [START, END), as ingest reads the window.
    for index, moment in enumerate(
        [
            seam,
            seam - timedelta(microseconds=1),
            seam + timedelta(microseconds=1),
            START,
            end,
            end - timedelta(microseconds=1),
        ]
    ):
        held["postgres_logs"][index]["timestamp"] = epoch_us(moment)
    plan = fetch.FetchPlan(
        project_ref=REF, start=START, end=end, out_dir=tmp_path / "o", sources=("postgres_logs",)
    )
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        fetch.fetch_incident(plan, make_client(api), progress=False)
        calls = list(api.calls)
    assert_same_rows(tmp_path / "o", held, START, end)
    kept = {
        row["timestamp"] for page in read_pages(tmp_path / "o", "postgres_logs") for row in page
    }
    assert epoch_us(START) in kept and epoch_us(end) not in kept
    assert {
        epoch_us(seam),
        epoch_us(seam) - 1,
        epoch_us(seam) + 1,
    } <= kept
    spans = [fetch.row_timestamp(c.end) - fetch.row_timestamp(c.start) for c in calls]
    assert sum(is_page(c) for c in calls) == 2 and max(spans) <= timedelta(hours=24)


def test_the_fake_api_refuses_a_window_over_24_hours_and_the_error_is_one_line():
    with FakeSupabaseApi({}, project_ref=REF, token=TOKEN) as api:
        client = make_client(api)
        with pytest.raises(FetchError) as info:
            client.query_logs(
                "select id from edge_logs limit 10", START, START + timedelta(hours=25), "probe"
            )
    message = str(info.value)
    assert "HTTP 400" in message and "no more than 24 hours" in message and "\n" not in message


def test_429_is_retried_after_the_time_the_server_asks(tmp_path):
    held = incident_rows()
    sleeps = Sleeps()
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("status", status=429, retry_after="7", message="Too many requests"), 2)
        run_fetch(api, tmp_path / "o", sleeps)
        statuses = [c.status for c in api.calls]
    assert statuses[:3] == [429, 429, 200]
    assert len(sleeps) == 2 and all(7 <= s <= 8 for s in sleeps)
    assert_same_rows(tmp_path / "o", held)


def test_5xx_backs_off_exponentially_with_jitter(tmp_path):
    held = incident_rows()
    sleeps = Sleeps()
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("status", status=503), 2)
        api.queue(Fault("status", status=502), 2)
        run_fetch(api, tmp_path / "o", sleeps)
    assert len(sleeps) == 4
    assert all(0 <= s <= 2 ** (k) for k, s in enumerate(sleeps))  # caps 1, 2, 4, 8 s
    assert len(set(sleeps)) == 4  # jittered, not a fixed schedule
    assert_same_rows(tmp_path / "o", held)


def test_a_connection_dropped_mid_page_is_retried_without_duplicates(tmp_path):
    held = incident_rows()
    sleeps = Sleeps()

    def second_edge_page(call):
        return "from edge_logs" in call["sql"] and is_next_page(call)

    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("drop", when=second_edge_page))
        api.queue(Fault("reset", when=lambda call: "from realtime_logs" in call["sql"]))
        api.queue(Fault("backend", when=lambda call: "from postgres_logs" in call["sql"]), 2)
        result = run_fetch(api, tmp_path / "o", sleeps)
        faults = [c.fault for c in api.calls if c.fault]
    assert faults == ["drop", "backend", "backend", "reset"] and len(sleeps) == 4
    assert result.duplicates_dropped["edge_logs"] == 0
    assert_same_rows(tmp_path / "o", held)


def test_redirects_are_not_followed_so_the_token_stays_home(tmp_path):
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        elsewhere = f"{api.base_url}/v1/projects/{REF}/analytics/endpoints/logs.all?moved=1"
        api.queue(Fault("status", status=302, headers={"Location": elsewhere}))
        with pytest.raises(FetchError, match="HTTP 302.*redirects are not followed"):
            run_fetch(api, tmp_path / "o")
        assert len(api.calls) == 1


@pytest.mark.parametrize("rounding", ["nearest", "floor", "ceil", None])
@pytest.mark.parametrize("flavour", ["bigquery", "clickhouse"])
def test_rows_on_the_window_edges_survive_any_minute_rounding(tmp_path, rounding, flavour):
    held = incident_rows()
    # Rows exactly at START (kept), just before it and exactly at END (both outside).
    edge = held["edge_logs"]
    for index, moment in enumerate(
        [START, START - timedelta(microseconds=1), END, END - timedelta(microseconds=1)]
    ):
        edge[index]["timestamp"] = epoch_us(moment)
    edge.sort(key=lambda r: r["timestamp"])
    if flavour == "clickhouse":
        held = {s: [to_clickhouse(r, s) for r in rows] for s, rows in held.items()}
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN, start_rounding=rounding) as api:
        result = run_fetch(api, tmp_path / "o", flavour=flavour)
    assert_same_rows(tmp_path / "o", held)
    assert result.rows["edge_logs"] == len(edge) - 2


@pytest.mark.parametrize("page_size", [1, 333, 999])
def test_a_server_answering_short_pages_still_gives_every_row_once(tmp_path, page_size):
    held = incident_rows()
    if page_size == 1:
        held = {s: rows[:40] for s, rows in held.items()}
    with FakeSupabaseApi(
        held, project_ref=REF, token=TOKEN, page_size=page_size, max_requests=2000
    ) as api:
        result = run_fetch(api, tmp_path / "o")
    assert_same_rows(tmp_path / "o", held)
    assert result.rows == {s: len(r) for s, r in held.items()}


def test_rows_the_server_does_not_return_stop_the_fetch_naming_them(tmp_path, monkeypatch, capsys):
    held = incident_rows()
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    out = tmp_path / "cli"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN, page_size=700) as api:
        # The third edge page comes back empty, as if the store had lost those rows.
        api.queue(Fault("empty", when=lambda c: "from edge_logs" in c["sql"] and is_page(c)))
        api.faults[0].when = _nth(lambda c: "from edge_logs" in c["sql"] and is_page(c), 3)
        assert cli.main(_cli_args(api, out, "--no-progress")) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: edge_logs [2026-02-06T05:00:00Z")
        assert "the log store counts 2500 rows, the API returned 1400 (1100 missing)" in err
        assert "minutes: 2026-02-06T05:" in err and "in the store, 0 fetched" in err
        # The window's pages were discarded; nothing half-fetched looks complete.
        assert not list((out / "edge_logs").glob("page-*")) and not (out / "SHA256SUMS").exists()
        assert cli.main(_cli_args(api, out, "--no-progress")) == 0
    assert_same_rows(out, held)


def _nth(predicate, n):
    """A fault condition true for the n-th call matching ``predicate`` only."""
    seen = {"n": 0}

    def when(call):
        if not predicate(call):
            return False
        seen["n"] += 1
        return seen["n"] == n

    return when


def test_the_documented_rate_limit_without_retry_after_is_outlasted(tmp_path):
    held = incident_rows()
    clock = FakeClock()
    with FakeSupabaseApi(
        held, project_ref=REF, token=TOKEN, page_size=30, rate_limit=(60, 60.0), clock=clock.now
    ) as api:
        plan = fetch.FetchPlan(project_ref=REF, start=START, end=END, out_dir=tmp_path / "o")
        client = fetch.ApiClient(
            project_ref=REF,
            token=TOKEN,
            base_url=api.base_url,
            timeout=5,
            min_interval=0,
            sleep=clock.sleep,
            clock=clock.now,
            rng=random.Random(3),
        )
        fetch.fetch_incident(plan, client, progress=False)
        blocked = [c for c in api.calls if c.fault == "rate_limit"]
    assert_same_rows(tmp_path / "o", held)
    assert len(api.calls) > 90 and blocked  # well over the 60 calls a minute allowed
    assert all(c.status == 429 for c in blocked)
    assert all(60 <= s <= 75 for s in clock.sleeps)
    assert len(clock.sleeps) == len(blocked)


def test_responses_arrive_gzipped_and_jitter_differs_per_process(tmp_path):
    held = incident_rows()
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        run_fetch(api, tmp_path / "o")
        calls = list(api.calls)
    assert all(c.gzip for c in calls)
    pages = [c for c in calls if is_page(c) and c.rows]
    raw = sum(len(gzip.decompress((p).read_bytes())) for p in (tmp_path / "o").rglob("page-*"))
    assert sum(c.bytes_sent for c in pages) * 3 < raw
    assert_same_rows(tmp_path / "o", held)
    first = fetch.ApiClient(project_ref=REF, token=TOKEN)
    second = fetch.ApiClient(project_ref=REF, token=TOKEN)
    assert [first.rng.random() for _ in range(3)] != [second.rng.random() for _ in range(3)]


def test_persistent_failure_gives_up_with_one_line(tmp_path):
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("status", status=500), 10)
        client = make_client(api, retry=fetch.RetryPolicy(max_attempts=3))
        plan = fetch.FetchPlan(project_ref=REF, start=START, end=END, out_dir=tmp_path / "o")
        with pytest.raises(FetchError, match=r"gave up after 3 attempts; last failure: HTTP 500"):
            fetch.fetch_incident(plan, client, progress=False)
        assert len(api.calls) == 3


def test_a_long_retry_after_stops_the_fetch_instead_of_blocking(tmp_path):
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("status", status=429, retry_after="3600"))
        with pytest.raises(FetchError, match="wait 3600 s"):
            run_fetch(api, tmp_path / "o")


def test_an_error_envelope_is_a_one_line_error(tmp_path):
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("error", message="Syntax error: Unexpected keyword\nat [3:1]"))
        with pytest.raises(FetchError) as info:
            run_fetch(api, tmp_path / "o")
    assert "the API answered with an error: Syntax error" in str(info.value)
    assert "\n" not in str(info.value)


def test_refusals_name_the_cause_and_never_the_token(tmp_path):
    with FakeSupabaseApi({}, project_ref=REF, token=TOKEN) as api:
        with pytest.raises(FetchError, match="HTTP 401.*Unauthorized.*valid personal"):
            run_fetch(api, tmp_path / "a", token="sbp_wrong")
        plan = fetch.FetchPlan(
            project_ref="zzzzzzzzzzzzzzzzzzzz", start=START, end=END, out_dir=tmp_path / "b"
        )
        client = make_client(api)
        client.project_ref = "zzzzzzzzzzzzzzzzzzzz"
        with pytest.raises(FetchError, match="HTTP 404.*Project not found.*project ref") as info:
            fetch.fetch_incident(plan, client, progress=False)
    assert TOKEN not in str(info.value)


def test_rows_out_of_order_are_refused_and_a_long_tie_is_paged_through(tmp_path, monkeypatch):
    held = {"realtime_logs": make_rows("realtime_logs", START, END, 30, ref=REF, seed=5)}
    plan = fetch.FetchPlan(
        project_ref=REF, start=START, end=END, out_dir=tmp_path / "a", sources=("realtime_logs",)
    )
    unordered = "select t.id, t.timestamp, t.event_message, t.metadata from realtime_logs as t"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        monkeypatch.setattr(fetch.fetcher, "load_query", lambda *a, **k: unordered + " limit 1000")
        with pytest.raises(FetchError, match="order by timestamp, id"):
            fetch.fetch_incident(plan, make_client(api), progress=False)
    monkeypatch.undo()
    same = make_rows("realtime_logs", START, END, 1001, ref=REF, seed=6, tie=(0, 1001))
    plan = fetch.FetchPlan(
        project_ref=REF, start=START, end=END, out_dir=tmp_path / "b", sources=("realtime_logs",)
    )
    with FakeSupabaseApi({"realtime_logs": same}, project_ref=REF, token=TOKEN) as api:
        fetch.fetch_incident(plan, make_client(api), progress=False)
        assert sum(is_page(c) for c in api.calls) == 2  # the page key (timestamp, id) moves on
    assert_same_rows(tmp_path / "b", {"realtime_logs": same})


def test_an_interrupted_fetch_resumes_without_downloading_finished_pages(tmp_path):
    held = incident_rows()
    out = tmp_path / "resumed"

    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        # The fourth edge call (count, page 1, page 2, page 3) is refused.
        third_page = _nth(lambda c: "from edge_logs" in c["sql"], 4)
        api.queue(Fault("status", status=403, message="Forbidden", when=third_page))
        with pytest.raises(FetchError, match="HTTP 403"):
            run_fetch(api, out)
        first_run = list(api.calls)
    state = json.loads((out / fetch.STATE_FILE).read_text())
    # Pages are keyed by (timestamp, id): the 40 tied rows across the boundary cost nothing.
    assert [p["rows"] for p in state["sources"]["edge_logs"]["pages"]] == [1000, 1000]
    assert not (out / fetch.MANIFEST_FILE).exists()
    finished = {
        p: (out / p).read_bytes()
        for p in ("edge_logs/page-0001.json.gz", "edge_logs/page-0002.json.gz")
    }

    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        result = run_fetch(api, out)
        second_run = list(api.calls)
    assert result.resumed
    # The resumed run asks only for what was missing: edge from the cursor, then the others.
    assert len(first_run) == 4 and first_run[3].status == 403
    assert second_run[0].sql == first_run[3].sql and is_next_page(second_run[0])
    assert [(c.sql.split("from ")[1].split()[0], is_page(c)) for c in second_run] == [
        ("edge_logs", True),
        ("edge_logs", False),
        *[(s, p) for s in ("postgres_logs", "realtime_logs") for p in (False, True, False)],
    ]
    assert all((out / p).read_bytes() == data for p, data in finished.items())
    assert_same_rows(out, held)

    # And the result is byte for byte what an uninterrupted fetch writes.
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        run_fetch(api, tmp_path / "straight")
    for page in sorted(out.rglob("page-*")):
        assert page.read_bytes() == (tmp_path / "straight" / page.relative_to(out)).read_bytes()


def test_a_finished_fetch_is_not_downloaded_again_and_other_parameters_are_refused(tmp_path):
    held = incident_rows()
    out = tmp_path / "o"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        run_fetch(api, out)
        before = len(api.calls)
        again = run_fetch(api, out)
        assert len(api.calls) == before and again.already_complete
        assert again.rows == {s: len(r) for s, r in held.items()}
        with pytest.raises(FetchError, match="other parameters"):
            run_fetch(api, out, end=END + timedelta(minutes=1))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        with pytest.raises(FetchError, match="holds no fetch in progress"):
            run_fetch(api, tmp_path / "other")
        assert api.calls == []


def test_clickhouse_flavour_uses_the_logs_endpoint(tmp_path):
    held = {
        source: [to_clickhouse(row, source) for row in rows]
        for source, rows in incident_rows().items()
    }
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        result = run_fetch(api, tmp_path / "o", flavour="clickhouse")
        assert {c.endpoint for c in api.calls} == {"logs"}
    assert_same_rows(tmp_path / "o", held)
    assert result.pages["edge_logs"] == 3
    assert json.loads((tmp_path / "o" / "incident.json").read_text())["flavour"] == "clickhouse"


def test_an_empty_source_still_gets_an_empty_page(tmp_path):
    held = {"realtime_logs": []}
    plan = fetch.FetchPlan(
        project_ref=REF, start=START, end=END, out_dir=tmp_path / "o", sources=("realtime_logs",)
    )
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        fetch.fetch_incident(plan, make_client(api), progress=False)
    assert read_pages(tmp_path / "o", "realtime_logs") == [[]]


# -- command line and the token --------------------------------------------------------------
def _cli_args(api, out, *extra):
    return [
        "fetch",
        "--project-ref",
        REF,
        "--start",
        "2026-02-06T14:00:00+09:00",
        "--end",
        "2026-02-06T06:00:00Z",
        "--out",
        str(out),
        "--base-url",
        api.base_url,
        "--min-interval",
        "0",
        "--timeout",
        "5",
        *extra,
    ]


def test_the_token_appears_in_no_file_and_no_output(tmp_path, monkeypatch, capsys):
    held = incident_rows()
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    out = tmp_path / "cli"
    outputs = []
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        # An interrupted run (state file on disk), an error message, then the finished run.
        api.queue(
            Fault(
                "status",
                status=403,
                message=f"Forbidden {TOKEN}",
                when=lambda call: "from postgres_logs" in call["sql"],
            )
        )
        assert cli.main(_cli_args(api, out)) == 2
        outputs.append(capsys.readouterr())
        assert (out / fetch.STATE_FILE).exists()
        state_text = (out / fetch.STATE_FILE).read_text()
        api.queue(Fault("drop"))
        assert cli.main(_cli_args(api, out, "--name", "my-incident")) == 0
        outputs.append(capsys.readouterr())
    error_lines = [line for line in outputs[0].err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "HTTP 403" in error_lines[0]
    assert "Forbidden <token>" in error_lines[0]
    assert "edge_logs: 2500 rows in 3 pages" in outputs[1].out
    assert_same_rows(out, held)
    assert json.loads((out / "incident.json").read_text())["name"] == "my-incident"
    texts = [state_text] + [o.out + o.err for o in outputs]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            texts.append(gzip.decompress(data).decode() if path.suffix == ".gz" else data.decode())
    assert len(texts) > 10
    assert not [t for t in texts if TOKEN in t or TOKEN[4:] in t]


def test_command_line_mistakes_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(fetch.TOKEN_ENV, raising=False)
    base = [
        "fetch",
        "--project-ref",
        REF,
        "--start",
        "2026-02-06T05:00Z",
        "--end",
        "2026-02-06T06:00Z",
        "--out",
        str(tmp_path / "o"),
    ]
    assert cli.main(base) == 2
    assert "SUPABASE_ACCESS_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    cases = {
        "explicit UTC offset": ["--start", "2026-02-06T14:00"],
        "expected END after START": ["--end", "2026-02-06T04:00Z"],
        "expected https": ["--base-url", "http://example.com"],
        "IANA zone": ["--display-tz", "Mars/Base"],
        "expected one or more of": ["--sources", "auth_logs"],
        "invalid choice": ["--flavour", "duckdb"],
        "expected the project ref": ["--project-ref", "../../etc"],
        "START not given": ["--start="],
        "PROJECT_REF, END not given": ["--project-ref=", "--end="],
    }
    for expected, extra in cases.items():
        assert cli.main(base + extra) == 2, expected
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and TOKEN not in err, (expected, err)
    assert not (tmp_path / "o").exists()


# -- round trip through ingest ------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["bigquery", "clickhouse"])
def test_what_fetch_writes_ingests_back_to_what_the_server_held(tmp_path, flavour):
    import pandas as pd

    from analysis.ingest import load_incident

    original = incident_rows()
    held = original
    if flavour == "clickhouse":
        held = {s: [to_clickhouse(r, s) for r in rows] for s, rows in original.items()}
    out = tmp_path / "incident"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("drop"))
        api.queue(Fault("status", status=429, retry_after="1"))
        run_fetch(api, out, flavour=flavour)
    # The analyst notes a moment (README step 2); the checksums must not forbid it.
    with (out / "annotations.csv").open("a") as handle:
        handle.write("2026-02-06T05:40:00Z,peak,311 viewers\n")
    incident = load_incident(out, cache_dir=tmp_path / "cache", use_cache=False, progress=False)
    assert list(incident.annotations["label"]) == ["peak"]

    assert incident.window == (pd.Timestamp(START), pd.Timestamp(END))
    assert incident.manifest["flavour"] == flavour
    accounting = incident.accounting
    assert sorted(accounting["file"]) == sorted(
        str(p.relative_to(out)) for p in out.rglob("page-*.json.gz")
    )
    assert (accounting["read"] == accounting["accepted"]).all()
    assert accounting["rejected"].sum() == 0
    manifest = json.loads((out / fetch.MANIFEST_FILE).read_text())
    for entry in manifest["sources"].values():
        for page in entry["pages"]:
            assert incident.checksums[page["file"]] == page["sha256"]

    def stamp(row):
        return pd.Timestamp(fetch.row_timestamp(row["timestamp"]))

    edge = {r["id"]: r["metadata"][0] for r in original["edge_logs"]}
    requests = incident.requests.set_index("id")
    assert sorted(requests.index) == sorted(edge)
    for row in original["edge_logs"]:
        got = requests.loc[row["id"]]
        meta = edge[row["id"]]
        assert got["ts"] == stamp(row)
        assert got["status"] == meta["response"][0]["status_code"]
        assert got["path"] == meta["request"][0]["path"]
        assert got["method"] == meta["request"][0]["method"]
        assert got["origin_time_ms"] == meta["response"][0]["origin_time"]

    errors = incident.db_errors.set_index("id")
    assert sorted(errors.index) == sorted(r["id"] for r in original["postgres_logs"])
    for row in original["postgres_logs"]:
        parsed = row["metadata"][0]["parsed"][0]
        assert errors.loc[row["id"], "sql_state"] == parsed["sql_state_code"]
        assert errors.loc[row["id"], "ts"] == stamp(row)

    events = incident.realtime_events.set_index("id")
    assert sorted(events.index) == sorted(r["id"] for r in original["realtime_logs"])
    for row in original["realtime_logs"]:
        measurements = row["metadata"][0].get("measurements")
        if measurements:
            assert events.loc[row["id"], "family"] == "billing_metrics"
            assert events.loc[row["id"], "connected"] == measurements[0]["connected"]
        else:
            assert events.loc[row["id"], "family"] == "disconnect"


def test_explorer_downloads_paged_by_hand_ingest_like_the_readme_says(tmp_path):
    """queries/README.md: save each raw download as is; overlapping pages need no editing."""
    import csv
    import io

    from analysis.ingest import load_incident

    rows = make_rows("edge_logs", START, END, 150, ref=REF, seed=11, tie=(95, 10))
    out = tmp_path / "manual"
    (out / "exports").mkdir(parents=True)
    (out / "incident.json").write_text(
        json.dumps(
            {
                "name": "manual",
                "project_ref": REF,
                "window_start": "2026-02-06T05:00:00Z",
                "window_end": "2026-02-06T06:00:00Z",
                "display_tz": "Asia/Seoul",
            }
        )
    )
    # Page 1: the first 100 rows (cut inside the tie); page 2: `>= last timestamp`, as a CSV
    # the way Studio writes it (JSON cells, CRLF); page 3 would be empty.
    first = rows[:100]
    second = [r for r in rows if r["timestamp"] >= first[-1]["timestamp"]]
    (out / "exports" / "edge-1.json").write_text(json.dumps(first, indent=2))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", "timestamp", "event_message", "metadata"])
    for row in second:
        writer.writerow(
            [row["id"], row["timestamp"], row["event_message"], json.dumps(row["metadata"])]
        )
    (out / "exports" / "edge-2.csv").write_text(buffer.getvalue())
    incident = load_incident(out, cache_dir=tmp_path / "cache", use_cache=False, progress=False)
    assert sorted(incident.requests["id"]) == sorted(r["id"] for r in rows)
    repeated = len(first) + len(second) - len(rows)
    assert repeated > 1  # the whole tie came back
    assert incident.accounting["rejected"].sum() == repeated


def test_ctrl_c_mid_fetch_keeps_the_finished_pages_and_the_rerun_completes(
    tmp_path, monkeypatch, capsys
):
    held = incident_rows()
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    out = tmp_path / "cli"
    write_page = fetch.fetcher._Fetcher._write_page
    written = []

    def interrupted_write(self, source, st, rows, start, end):
        if len(written) == 1:
            raise KeyboardInterrupt
        written.append(source)
        write_page(self, source, st, rows, start, end)

    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        monkeypatch.setattr(fetch.fetcher._Fetcher, "_write_page", interrupted_write)
        assert cli.main(_cli_args(api, out, "--no-progress")) == 130
        assert "run the same command again to resume" in capsys.readouterr().err
        state = json.loads((out / fetch.STATE_FILE).read_text())
        assert [p["file"] for p in state["sources"]["edge_logs"]["pages"]] == [
            "edge_logs/page-0001.json.gz"
        ]
        monkeypatch.setattr(fetch.fetcher._Fetcher, "_write_page", write_page)
        calls_before = len(api.calls)
        assert cli.main(_cli_args(api, out, "--no-progress")) == 0
        resumed_calls = api.calls[calls_before:]
    # The second page (never written) is asked again from page 1's key; page 1 is not.
    assert is_next_page(resumed_calls[0]) and "from edge_logs" in resumed_calls[0].sql
    assert_same_rows(out, held)
    assert not (out / fetch.STATE_FILE).exists()


# -- kills at any point --------------------------------------------------------------------------
# Runs the command line in a child process that SIGKILLs itself half-way through the n-th
# write of a chosen file (half its bytes in the .part), or just before the state file is removed.
_KILLER = """
import os, signal, sys
from analysis import __main__ as cli, fetch

target, nth = sys.argv[1], int(sys.argv[2])
seen = {"n": 0}
write, remove = fetch.fetcher._write_atomic, os.remove

def die_writing(path, data):
    if target in path.name:
        seen["n"] += 1
        if seen["n"] == nth:
            part = path.with_name(path.name + ".part")
            part.parent.mkdir(parents=True, exist_ok=True)
            part.write_bytes(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
    write(path, data)

def die_removing(path):
    if target == "remove-state":
        os.kill(os.getpid(), signal.SIGKILL)
    remove(path)

fetch.fetcher._write_atomic = die_writing
os.remove = die_removing
sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.mark.parametrize(
    ("target", "nth", "mode"),
    [
        (fetch.STATE_FILE, 1, "raw"),  # the very first write into the new directory
        ("page-", 2, "raw"),
        (fetch.STATE_FILE, 5, "raw"),
        ("incident.json", 1, "raw"),
        (fetch.MANIFEST_FILE, 1, "raw"),
        (fetch.CHECKSUM_FILE, 1, "raw"),
        ("remove-state", 1, "raw"),
        ("page-", 5, "hybrid"),  # a traffic page
        (fetch.STATE_FILE, 14, "hybrid"),  # amid the traffic's per-minute counts
        (fetch.CHECKSUM_FILE, 1, "hybrid"),
    ],
)
def test_a_kill_at_any_point_resumes_to_the_same_bytes(tmp_path, monkeypatch, target, nth, mode):
    import subprocess
    import sys

    held = incident_rows()
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    out, straight = tmp_path / "killed" / "incident", tmp_path / "straight" / "incident"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN, lifetime=600) as api:
        args = _cli_args(api, out, "--no-progress", f"--mode={mode}")
        killed = subprocess.run(
            [sys.executable, "-c", _KILLER, target, str(nth), *args],
            env={**os.environ, fetch.TOKEN_ENV: TOKEN},
            capture_output=True,
            timeout=120,
        )
        assert killed.returncode == -9, killed.stderr.decode()[-500:]
        assert cli.main(args) == 0
        assert cli.main(_cli_args(api, straight, "--no-progress", f"--mode={mode}")) == 0
    files = sorted(p.relative_to(straight) for p in straight.rglob("*") if p.is_file())
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == files
    assert fetch.CHECKSUM_FILE in {str(f) for f in files} and not list(out.rglob("*.part"))
    for name in files:
        assert (out / name).read_bytes() == (straight / name).read_bytes(), name
    if mode == "raw":
        assert_same_rows(out, held)
    else:
        assert any(str(f).startswith("traffic/edge_minutes/") for f in files)


@pytest.mark.slow  # ~40k rows decoded four times: about 30 s on the shared machine
def test_the_shipped_hour_through_a_hostile_api_comes_back_row_for_row(tmp_path):
    """Minute rounding, short pages, the 60-a-minute block, backend errors and gzip at once."""
    shipped = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"
    held = {
        source: [
            row
            for page in sorted((shipped / source).glob("page-*.json.gz"))
            for row in fetch.read_page(page)
        ]
        for source in fetch.SOURCES
    }
    incident = json.loads((shipped / "incident.json").read_text())
    start = fetch.parse_window_bound(incident["window_start"], "START")
    end = fetch.parse_window_bound(incident["window_end"], "END")
    clock = FakeClock()
    with FakeSupabaseApi(
        held,
        project_ref=incident["project_ref"],
        token=TOKEN,
        page_size=700,
        rate_limit=(60, 60.0),
        clock=clock.now,
        max_requests=1000,
        lifetime=600,
    ) as api:
        api.queue(Fault("backend"), 3)
        plan = fetch.FetchPlan(
            project_ref=incident["project_ref"], start=start, end=end, out_dir=tmp_path / "o"
        )
        client = fetch.ApiClient(
            project_ref=incident["project_ref"],
            token=TOKEN,
            base_url=api.base_url,
            timeout=30,
            min_interval=0,
            sleep=clock.sleep,
            clock=clock.now,
        )
        result = fetch.fetch_incident(plan, client, progress=False)
        faults = {c.fault for c in api.calls}
    assert {"backend", "rate_limit"} <= faults
    assert result.rows["edge_logs"] == len(held["edge_logs"]) > 40_000
    assert_same_rows(tmp_path / "o", held, start, end)


# -- hybrid mode: errors raw, traffic aggregated in the log store -------------------------------
def _local_traffic(held: dict[str, list[dict]]) -> dict[tuple, int]:
    """(minute µs, path prefix, status class) -> requests, computed here from the raw rows."""
    from fake_supabase_api import attribute

    out: dict[tuple, int] = {}
    for row in held["edge_logs"]:
        stamp = fetch.row_timestamp(row["timestamp"])
        if not START <= stamp < END:
            continue
        minute = epoch_us(stamp.replace(second=0, microsecond=0))
        path = re.match(r"^((?:/[^/]*){1,4})", attribute(row, "request.path")).group(1)
        key = (minute, path, int(attribute(row, "response.status_code")) // 100)
        out[key] = out.get(key, 0) + 1
    return out


@pytest.mark.parametrize(("flavour", "page_size"), [("bigquery", 1000), ("clickhouse", 7)])
def test_hybrid_fetch_keeps_errors_raw_and_traffic_per_minute(tmp_path, flavour, page_size):
    from fake_supabase_api import SEVERE, attribute

    held = incident_rows()
    if flavour == "clickhouse":
        held = {s: [to_clickhouse(r, s) for r in rows] for s, rows in held.items()}
    out = tmp_path / "hybrid"
    plan = fetch.FetchPlan(
        project_ref=REF, start=START, end=END, out_dir=out, flavour=flavour, mode="hybrid"
    )
    with FakeSupabaseApi(
        held, project_ref=REF, token=TOKEN, page_size=page_size, max_requests=3000
    ) as api:
        result = fetch.fetch_incident(plan, make_client(api, flavour=flavour), progress=False)
        calls = list(api.calls)
    errors = {
        "edge_logs": [
            r for r in held["edge_logs"] if int(attribute(r, "response.status_code")) >= 400
        ],
        "postgres_logs": [
            r for r in held["postgres_logs"] if attribute(r, "parsed.error_severity") in SEVERE
        ],
        "realtime_logs": [
            r for r in held["realtime_logs"] if not r["event_message"].startswith("Billing metrics")
        ],
    }
    assert 0 < len(errors["edge_logs"]) < len(held["edge_logs"])
    assert 0 < len(errors["realtime_logs"]) < len(held["realtime_logs"])
    assert_same_rows(out, errors, mode="hybrid")
    got = {s: {r["id"] for p in read_pages(out, s) for r in p} for s in errors}
    assert got == {s: {r["id"] for r in rows} for s, rows in errors.items()}

    traffic = [r for p in read_pages(out, "traffic/edge_minutes") for r in p]
    mine = {
        (epoch_us(fetch.row_timestamp(r["minute"])), r["path"], r["status_class"]): r["requests"]
        for r in traffic
    }
    assert mine == _local_traffic(held) and sum(mine.values()) == len(held["edge_logs"])
    users = [r for p in read_pages(out, "traffic/edge_users") for r in p]
    assert sum(r["requests"] for r in users) == len(held["edge_logs"])
    assert all(r["users"] <= r["requests"] for r in users)
    realtime = [r for p in read_pages(out, "traffic/realtime_minutes") for r in p]
    billing = len(held["realtime_logs"]) - len(errors["realtime_logs"])
    assert sum(r["samples"] for r in realtime) == billing
    assert result.rows["traffic/edge_minutes"] == len(traffic)

    incident = json.loads((out / "incident.json").read_text())
    assert incident["fetch_mode"] == "hybrid"
    assert incident["files"]["traffic/edge_minutes/*"] == {"kind": "edge_minutes"}
    listed = (out / fetch.CHECKSUM_FILE).read_text()
    assert "traffic/edge_users/page-0001.json.gz" in listed
    if page_size == 1000:
        # Far fewer calls than raw rows would take; every call under the cap.
        assert len(calls) < 25 and all(c.rows <= fetch.ROW_CAP for c in calls)
    # A second run with the same parameters downloads nothing; raw mode is refused there.
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        again = fetch.fetch_incident(plan, make_client(api, flavour=flavour), progress=False)
        assert again.already_complete and not api.calls
        with pytest.raises(FetchError, match="other parameters"):
            fetch.fetch_incident(
                fetch.FetchPlan(
                    project_ref=REF, start=START, end=END, out_dir=out, flavour=flavour
                ),
                make_client(api, flavour=flavour),
                progress=False,
            )


def test_hybrid_aggregates_that_do_not_add_up_stop_the_fetch(tmp_path):
    held = incident_rows()
    plan = fetch.FetchPlan(
        project_ref=REF,
        start=START,
        end=END,
        out_dir=tmp_path / "o",
        mode="hybrid",
        sources=("edge_logs",),
    )
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        # The traffic rows come back empty, as if the store lost them.
        api.queue(Fault("empty", when=lambda c: "as status_class" in c["sql"]))
        with pytest.raises(FetchError, match=r"minute 2026-02-06T05:00:00Z holds \d+ rows"):
            fetch.fetch_incident(plan, make_client(api), progress=False)
        # Run again: the finished pages are kept and the rest completes.
        fetch.fetch_incident(plan, make_client(api), progress=False)
    traffic = [r for p in read_pages(tmp_path / "o", "traffic/edge_minutes") for r in p]
    assert sum(r["requests"] for r in traffic) == len(held["edge_logs"])


def test_make_fetch_mode_hybrid_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        assert cli.main(_cli_args(api, tmp_path / "o", "--mode=hybrid", "--no-progress")) == 0
        assert cli.main(_cli_args(api, tmp_path / "p", "--mode=sampled")) == 2
    out, err = capsys.readouterr()
    assert "traffic/edge_minutes:" in out and "invalid choice: 'sampled'" in err


def test_a_big_raw_window_says_how_long_it_will_take_and_offers_hybrid(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(fetch.fetcher, "HYBRID_HINT_ROWS", 2000)
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        run_fetch(api, tmp_path / "o")
    err = capsys.readouterr().err
    assert "holds 2,500 rows: about 3 calls" in err and "MODE=hybrid" in err
    assert err.count("note:") == 1  # postgres (300) and realtime (60) rows are below it


@pytest.mark.slow  # one child process per write of the run: about a minute
@pytest.mark.parametrize("mode", ["raw", "hybrid"])
def test_a_kill_during_every_single_write_resumes_to_the_same_bytes(tmp_path, monkeypatch, mode):
    import subprocess
    import sys

    held = incident_rows()
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    with FakeSupabaseApi(
        held, project_ref=REF, token=TOKEN, max_requests=5000, lifetime=1200
    ) as api:
        straight = tmp_path / "straight" / "incident"
        assert cli.main(_cli_args(api, straight, "--no-progress", f"--mode={mode}")) == 0
        files = sorted(p.relative_to(straight) for p in straight.rglob("*") if p.is_file())
        nth = 0
        while True:
            nth += 1
            out = tmp_path / f"kill-{nth}" / "incident"
            args = _cli_args(api, out, "--no-progress", f"--mode={mode}")
            killed = subprocess.run(
                [sys.executable, "-c", _KILLER, "", str(nth), *args],
                env={**os.environ, fetch.TOKEN_ENV: TOKEN},
                capture_output=True,
                timeout=120,
            )
            if killed.returncode == 0:
                break  # the run has fewer writes than nth: every write was a kill point
            assert killed.returncode == -9, killed.stderr.decode()[-300:]
            assert cli.main(args) == 0, nth
            assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == files
            for name in files:
                assert (out / name).read_bytes() == (straight / name).read_bytes(), (nth, name)
    assert nth > 20


def test_hostile_ids_at_a_page_boundary_are_quoted_not_executed(tmp_path):
    """A row id comes from the API and goes back into the next page's SQL: it is escaped."""
    rows = make_rows("postgres_logs", START, END, 1500, ref=REF, seed=31)
    rows[999]["id"] = "x') or 1=1 --\\'; drop table logs; --"
    rows[1000]["id"] = "y\\\\' union select * from secrets --"
    held = {"postgres_logs": rows}
    plan = fetch.FetchPlan(
        project_ref=REF, start=START, end=END, out_dir=tmp_path / "o", sources=("postgres_logs",)
    )
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        fetch.fetch_incident(plan, make_client(api), progress=False)
        second = [c for c in api.calls if is_next_page(c)][0]
    assert fetch.sql_string(rows[999]["id"]) in second.sql
    assert "t.id > 'x\\') or 1=1 --\\\\\\'; drop table logs; --'" in second.sql
    assert_same_rows(tmp_path / "o", held)


def test_supabase_api_url_from_the_environment_is_the_base_url(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    with FakeSupabaseApi(incident_rows(), project_ref=REF, token=TOKEN) as api:
        monkeypatch.setenv(fetch.BASE_URL_ENV, api.base_url)
        args = _cli_args(api, tmp_path / "o", "--no-progress")
        at = args.index("--base-url")
        del args[at : at + 2]
        assert cli.main(args) == 0
        assert api.calls
    manifest = json.loads((tmp_path / "o" / fetch.MANIFEST_FILE).read_text())
    assert manifest["api"]["base_url"] == api.base_url
    monkeypatch.setenv(fetch.BASE_URL_ENV, "http://example.com")
    args[args.index("--out") + 1] = str(tmp_path / "p")
    assert cli.main(args) == 2
    assert "expected https" in capsys.readouterr().err


def test_a_rerun_removes_only_its_own_half_written_files(tmp_path):
    held = incident_rows()
    out = tmp_path / "o"
    with FakeSupabaseApi(held, project_ref=REF, token=TOKEN) as api:
        run_fetch(api, out)
        (out / "tables").mkdir()
        mine = [out / "tables" / "webinars.csv.part", out / "notes.part"]
        for path in mine:
            path.write_text("the analyst's")
        (out / "SHA256SUMS.part").write_text("half")
        (out / "edge_logs" / "page-0009.json.gz.part").write_bytes(b"half")
        assert run_fetch(api, out).already_complete
    assert all(p.read_text() == "the analyst's" for p in mine)
    assert not (out / "SHA256SUMS.part").exists()
    assert not (out / "edge_logs" / "page-0009.json.gz.part").exists()
