"""``make check`` on exports damaged the way other programs and accidents damage them.

A deterministic mutation fuzzer (tests/_ingest_fuzz.py): a small real-shape file of every route
of docs/supabase-exports.md §9, each mutation applied to it, run through ``make check``'s
command line. The answer must be one error line naming the file (and the row, line or field
where the damage has one) and no traceback, or an accounting in which the file's rows add up
to what it holds (read = accepted + rejected, nothing dropped unseen).

``make test`` runs every mutation on two routes and every route under some mutation (seed 0);
the ``slow`` test runs every route under every mutation with five seeds. The cases the fuzzer
found are kept below as plain tests.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re

import _ingest_fuzz as fz
import pytest

from analysis import ingest
from analysis.exceptions import IngestError

ROUTES = sorted(fz.routes())
MUTATIONS = list(fz.MUTATIONS)


def _fast_cases() -> list[tuple[str, str]]:
    """Each mutation on two routes, spread so that every route is met (seed 0)."""
    cases = []
    for i, mutation in enumerate(MUTATIONS):
        picked, j = 0, 0
        while picked < 2 and j < len(ROUTES):
            route = ROUTES[(i * 5 + picked * 8 + j) % len(ROUTES)]
            if fz.mutate(route, mutation, 0) is not None:
                cases.append((route, mutation))
                picked += 1
            else:
                j += 1
    for route in ROUTES:  # a route the spread missed: its first mutation that applies
        if all(r != route for r, _ in cases):
            mutation = next(m for m in MUTATIONS if fz.mutate(route, m, 0) is not None)
            cases.append((route, mutation))
    return cases


FAST = _fast_cases()


def test_the_fast_cases_meet_every_route_and_mutation():
    assert {r for r, _ in FAST} == set(ROUTES)
    assert {m for _, m in FAST} == set(MUTATIONS)
    assert len(ROUTES) >= 16  # every route of docs/supabase-exports.md §9


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_s_file_is_read_whole_before_any_mutation(tmp_path, route):
    r = fz.routes()[route]
    mutant = fz.Mutant(r.rel, {r.rel: r.stored()}, rows=r.rows, outcome="ok")
    answer, problems = fz.check_case(tmp_path / route, mutant)
    assert problems == [], (problems, answer.err)
    mine = answer.accounting[answer.accounting["file"] == r.rel]
    # Every row used, but a dump's auth.users, counted as a table the analysis does not read.
    set_aside = mine[mine["kind"] == "auth.users"]["read"].sum()
    assert mine["accepted"].sum() == r.rows - set_aside > 0, mine


@pytest.mark.parametrize(("route", "mutation"), FAST, ids=[f"{r}-{m}" for r, m in FAST])
def test_a_damaged_export_is_one_error_line_or_counted_whole(tmp_path, route, mutation):
    mutant = fz.mutate(route, mutation, 0)
    answer, problems = fz.check_case(tmp_path / "case", mutant)
    assert problems == [], (mutant.note, answer.err, answer.crash)


@pytest.mark.slow
@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("route", ROUTES)
def test_every_route_under_every_mutation_five_seeds(tmp_path, route, mutation):
    failures = []
    for seed in range(5):
        mutant = fz.mutate(route, mutation, seed)
        if mutant is None:
            continue
        answer, problems = fz.check_case(tmp_path / f"seed-{seed}", mutant)
        if problems:
            failures.append((seed, mutant.note, problems))
    assert failures == []


# --------------------------------------------------------------------------------------------
# What the fuzzer found (each was a traceback-free but wrong answer; fixed in ingest)
# --------------------------------------------------------------------------------------------


def _incident(tmp_path, files: dict[str, bytes | str]):
    root = tmp_path / "incident"
    for rel, data in {**fz.base_files(), **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def _read(root, rel: str):
    acc = ingest.load_incident(root, use_cache=False).accounting
    return acc[acc["file"] == rel].iloc[0]


def test_one_bad_time_in_a_zone_less_template_download_rejects_only_its_row(tmp_path):
    """A Logs Explorer template's zone-less times are UTC; one damaged cell made every other
    row a 'naive timestamp' and the run stopped."""
    text = (
        "timestamp,error_severity,event_message\r\n"
        "2026-02-06T05:41:00.123000,ERROR,deadlock detected\r\n"
        "twelve,ERROR,deadlock detected\r\n"
        "2026-02-06T05:42:00,ERROR,deadlock detected"
    )
    row = _read(_incident(tmp_path, {"exports/errors.csv": text}), "exports/errors.csv")
    assert (row["read"], row["accepted"], row["rejected"]) == (3, 2, 1)
    assert row["reason"].startswith("bad timestamp")


def test_a_method_that_is_no_http_method_is_a_rejected_row(tmp_path):
    """It reached the schema check, which stopped the run naming no file."""
    text = (
        "id,identifier,timestamp,event_message,method,path,search,status_code\r\n"
        "a1,yqsayphssjznthrxpgfb,1770356460000000,GET | 200,GET,/rest/v1/x,,200\r\n"
        "a2,yqsayphssjznthrxpgfb,1770356461000000,GET | 200,12345,/rest/v1/x,,200"
    )
    row = _read(_incident(tmp_path, {"exports/gateway.csv": text}), "exports/gateway.csv")
    assert (row["read"], row["accepted"], row["rejected"]) == (2, 1, 1)
    assert row["reason"] == "bad method (expected an HTTP method such as GET): 1"


@pytest.mark.parametrize("route", ["db-dump-inserts", "db-dump-copy"])
def test_a_dump_saved_with_cr_only_line_ends_is_read(tmp_path, route):
    """Its first ``--`` comment ran to the end of the file: 'no table rows'."""
    r = fz.routes()[route]
    data = r.payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    acc = ingest.load_incident(_incident(tmp_path, {r.rel: data}), use_cache=False).accounting
    assert acc[acc["file"] == r.rel]["read"].sum() == r.rows


def test_a_symlink_loop_is_named_a_loop(tmp_path):
    root = _incident(tmp_path, {})
    (root / "edge_logs").mkdir()
    (root / "edge_logs" / "page-0001.json.gz").symlink_to("page-0002.json.gz")
    (root / "edge_logs" / "page-0002.json.gz").symlink_to("page-0001.json.gz")
    with pytest.raises(IngestError, match=r"page-0001\.json\.gz: symlink loop; expected a link"):
        ingest.load_incident(root, use_cache=False)


@pytest.mark.parametrize(
    ("rel", "text", "field"),
    [
        (
            "tables/webinar_viewer_counts_rows.csv",
            "id,webinar_id,sampled,viewer_count\r\n1,w,2026-02-06 05:41:00+00,3",
            "sampled_at",
        ),
        (
            "tables/Supabase Snippet select registrations.json",
            json.dumps([{"webinar": "w", "user_id": "u", "created_at": "2026-01-01 00:00:00+00"}]),
            "webinar_id",
        ),
    ],
)
def test_a_table_export_with_a_renamed_column_names_the_column(tmp_path, rel, text, field):
    """Not recognised as a table, it was read as log rows: 'unknown log source'."""
    root = _incident(tmp_path, {rel: text})
    with pytest.raises(IngestError, match=rf"field '{field}': missing column for a"):
        ingest.load_incident(root, use_cache=False)


@pytest.mark.parametrize(
    ("route", "column"), [("explorer-csv", "metadata"), ("unified-csv", "logs")]
)
def test_a_json_cell_nested_too_deeply_is_a_rejected_row(tmp_path, route, column):
    """A RecursionError escaped as a traceback."""
    r = fz.routes()[route]
    records = list(csv.reader(io.StringIO(r.payload.decode(), newline="")))
    records[1][records[0].index(column)] = "[" * fz.DEPTH + "]" * fz.DEPTH
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(records)
    data = out.getvalue().encode()
    acc = ingest.load_incident(_incident(tmp_path, {r.rel: data}), use_cache=False).accounting
    mine = acc[acc["file"] == r.rel]
    assert mine["read"].sum() == r.rows and mine["rejected"].sum() == 1
    assert mine["reason"].str.contains(f"bad {column} cell \\(JSON nested too deeply\\)").any()


def test_a_gzipped_route_cut_anywhere_is_one_line(tmp_path):
    r = fz.routes()["api-bigquery"]
    data = gzip.compress(r.payload, mtime=0)
    for cut in (10, len(data) // 2, len(data) - 4):
        root = _incident(tmp_path / str(cut), {r.rel: data[:cut]})
        with pytest.raises(IngestError, match=r"page-0001\.json\.gz: corrupt or truncated gzip"):
            ingest.load_incident(root, use_cache=False)


def test_no_row_in_the_window_names_the_files_and_their_reasons(tmp_path):
    """The run stops before make check prints its accounting, so the line said only
    '9 rows, all rejected (see make check)' and named no file."""
    r = fz.routes()["unified-csv"]
    late = r.payload.replace(b"2026-02-06T05:4", b"2026-02-06T14:4")
    root = _incident(tmp_path, {r.rel: late})
    with pytest.raises(IngestError) as info:
        ingest.load_incident(root, use_cache=False)
    assert (
        "no log row inside the manifest window (exports/supabase_logs.csv: outside window 9)"
        in (str(info.value))
    )


@pytest.mark.parametrize("char", ["😀", "한", "é"])
def test_a_page_with_a_cut_multibyte_character_is_one_line_naming_the_byte(tmp_path, char):
    """Arrow's JSON reader kept the invalid bytes; a later step raised UnicodeDecodeError."""
    r = fz.routes()["api-bigquery"]
    at = r.payload.index(b"/rest/v1/") + 3
    data = r.payload[:at] + char.encode()[:-1] + r.payload[at:]
    root = _incident(tmp_path, {r.rel: gzip.compress(data, mtime=0)})
    with pytest.raises(IngestError, match=rf"page-0001\.json\.gz: not UTF-8 text.*offset {at}"):
        ingest.load_incident(root, use_cache=False)


def test_a_file_ending_in_nul_bytes_is_refused_but_zeros_after_a_gzip_stream_are_padding(
    tmp_path,
):
    r = fz.routes()["psql-copy-csv"]
    root = _incident(tmp_path / "csv", {r.rel: r.payload + b"\x00" * 512})
    with pytest.raises(IngestError, match=r"ends in NUL bytes.*512 NUL characters from"):
        ingest.load_incident(root, use_cache=False)
    r = fz.routes()["api-bigquery"]
    root = _incident(tmp_path / "gz", {r.rel: r.stored() + b"\x00" * 512})
    row = _read(root, r.rel)
    assert row["read"] == row["accepted"] == r.rows


@pytest.mark.parametrize(
    ("mutation", "seed", "named"),
    [
        ("duplicate-column", 0, r"field 'event_message': duplicated column in the Parquet file"),
        ("empty-file", 1, r"\.parquet: empty file"),
    ],
)
def test_a_damaged_s3_drain_batch_is_named_in_the_package_s_words(tmp_path, mutation, seed, named):
    """Arrow's own message ('Multiple matches for FieldRef.Name', 'Could not open Parquet
    input source') was shown instead."""
    mutant = fz.mutate("drain-s3", mutation, seed)
    answer, problems = fz.check_case(tmp_path / "case", mutant)
    assert problems == [] and answer.code == 2
    assert re.search(named, answer.err), answer.err


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (fz._zip({"x.csv": b"a,b\n"}), "a zip archive, not a text export; expected the export"),
        (
            fz._zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
            r"an Excel workbook \(xlsx\), not a text export; expected CSV text",
        ),
        (b"PGDMP\x01\x0e\x00" + bytes(64), r"a pg_dump custom-format archive.*pg_restore"),
    ],
)
def test_an_archive_under_an_export_s_name_is_named(tmp_path, data, named):
    """It was 'not UTF-8 text ... byte 0x.. on line 1'."""
    root = _incident(tmp_path, {"tables/registrations.csv": data})
    with pytest.raises(IngestError, match=rf"registrations\.csv: {named}"):
        ingest.load_incident(root, use_cache=False)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("display_tz", 9, r"field 'display_tz': unknown time zone"),
        ("display_tz", ["Asia/Seoul"], r"field 'display_tz': unknown time zone"),
        ("display_tz", "Asia/" + "x" * 300, r"field 'display_tz': unknown time zone"),
        (
            "files",
            {"edge_logs/*": {"kind": ["edge_logs"]}},
            r"field 'files\.edge_logs/\*\.kind': unknown kind",
        ),
    ],
)
def test_a_hand_edited_manifest_value_of_the_wrong_type_is_one_line(tmp_path, key, value, named):
    """A TypeError (or the file system's 'File name too long') escaped as a traceback."""
    manifest = json.loads(fz.base_files()["incident.json"])
    manifest[key] = value
    root = _incident(tmp_path, {"incident.json": json.dumps(manifest)})
    with pytest.raises(IngestError, match=rf"incident\.json, {named}"):
        ingest.load_incident(root, use_cache=False)


def test_an_insert_whose_values_keyword_is_damaged_is_one_line_not_skipped(tmp_path):
    """It was skipped as a statement holding no rows: 8 rows gone without a word."""
    r = fz.routes()["db-dump-inserts"]
    data = r.payload.replace(b'"viewer_count") VALUES', b'"viewer_count") VALUS', 1)
    root = _incident(tmp_path, {r.rel: data})
    with pytest.raises(IngestError, match=r"seed\.sql, line \d+: unreadable INSERT statement"):
        ingest.load_incident(root, use_cache=False)
    text = "INSERT INTO t (a) SELECT 1;\nINSERT INTO t DEFAULT VALUES;\n" + r.payload.decode()
    root = _incident(tmp_path / "q", {r.rel: text})
    acc = ingest.load_incident(root, use_cache=False).accounting
    assert acc[acc["file"] == r.rel]["read"].sum() == r.rows


@pytest.mark.parametrize(
    ("mutation", "seed", "named"),
    [
        (
            "cut-mid-row",
            0,
            r"JSON Lines cut short; expected one complete JSON object a line, found 'line \d+",
        ),
        ("deep-json", 0, r"JSON Lines with a damaged line; .*found 'line \d+: nested too deeply'"),
    ],
)
def test_a_damaged_ndjson_drain_batch_names_its_line(tmp_path, mutation, seed, named):
    """A batch cut short, or one line nested past any parser, was 'invalid JSON ... Extra data
    at line 2 column 1': the document's second line, not the damaged one."""
    mutant = fz.mutate("drain-ndjson", mutation, seed)
    answer, problems = fz.check_case(tmp_path / "case", mutant)
    assert problems == [] and answer.code == 2
    assert re.search(named, answer.err), answer.err


@pytest.mark.parametrize("route", ["drain-loki", "drain-datadog", "drain-ndjson"])
@pytest.mark.parametrize("how", ["seconds", "milliseconds", "nanoseconds", "seconds-float"])
def test_a_drain_payload_in_another_epoch_unit_is_read_whole(tmp_path, route, how):
    """A receiver of the user's own may rewrite the times in its unit: read, never refused."""
    r = fz.routes()[route]
    doc = fz._load(r)
    if isinstance(doc, dict) and "streams" in doc:
        for stream in doc["streams"]:
            for value in stream["values"]:
                value[0] = str(fz._retime(str(int(value[0]) // 1000), how))
    for row in fz._json_rows(doc):
        for holder in fz._time_holders(row):
            if "timestamp" in holder:
                holder["timestamp"] = fz._retime(holder["timestamp"], how)
    mutant = fz.Mutant(r.rel, {r.rel: gzip.compress(fz._dumps(r, doc).encode(), mtime=0)})
    answer, problems = fz.check_case(tmp_path / "case", mutant)
    assert problems == [] and answer.code == 0, answer.err
    mine = answer.accounting[answer.accounting["file"] == r.rel]
    assert mine["accepted"].sum() == r.rows
    unit = "seconds" if how == "seconds-float" else how
    if (route, how) != ("drain-loki", "nanoseconds"):  # Loki's own unit: nothing to state
        assert f"read as {unit} since the epoch" in answer.out
