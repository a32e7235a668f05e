# ruff: noqa: E501  (a table of test inputs: one case per line reads best)
"""A corpus of bad inputs: each gives one clear error line or a counted rejection."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from pathlib import Path

import pytest

from analysis import ingest
from analysis.exceptions import IngestError

W1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
W_UNKNOWN = "00000000-0000-4000-8000-000000000000"
U1 = "5d0c9e8a-1111-4a2b-9c3d-0e1f2a3b4c5d"
T0 = 1770354000000000  # 2026-02-06T05:00:00Z
MANIFEST = {
    "name": "bad-input",
    "project_ref": "yqsayphssjznthrxpgfb",
    "window_start": "2026-02-06T05:00:00Z",
    "window_end": "2026-02-06T06:00:00Z",
    "display_tz": "Asia/Seoul",
}
WEBINARS = (
    "id,title,starts_at,ends_at,status,created_at\n"
    f"{W1},Webinar,2026-02-06 05:00:00+00,2026-02-06 06:00:00+00,ended,2026-01-01 00:00:00+00\n"
)


def edge(n: int, *, minute: float = 1, status=200, ts=None, **meta_overrides) -> dict:
    request = {
        "method": "GET",
        "path": "/rest/v1/profiles",
        "search": "?select=*",
        "sb": [{"auth_user": U1}],
    }
    metadata = {"request": [request], "response": [{"status_code": status, "origin_time": 10}]}
    metadata.update(meta_overrides)
    return {
        "id": f"e0000000-0000-4000-8000-{n:012d}",
        "timestamp": T0 + int(minute * 60e6) if ts is None else ts,
        "event_message": f"GET | {status} | 1.2.3.4 | ray | https://x.supabase.co/rest/v1/profiles | ua",
        "metadata": [metadata],
    }


def envelope(rows, error=None) -> bytes:
    return json.dumps({"result": rows, "error": error}).encode()


def base_files() -> dict[str, bytes]:
    return {
        "incident.json": json.dumps(MANIFEST).encode(),
        "tables/webinars.csv": WEBINARS.encode(),
        "edge_logs/page-0001.json.gz": gzip.compress(envelope([edge(1), edge(2, minute=2)])),
    }


def write(tmp_path: Path, files: dict[str, bytes | None]) -> Path:
    root = tmp_path / "incident"
    for rel, data in files.items():
        if data is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def page(rows) -> bytes:
    return gzip.compress(envelope(rows))


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A gzipped tar of ``members`` (what ``tar czf`` makes of a directory of exports)."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def manifest(**changes) -> bytes:
    m = copy.deepcopy(MANIFEST)
    for key, value in changes.items():
        if value is None:
            m.pop(key, None)
        else:
            m[key] = value
    return json.dumps(m).encode()


REG_HEADER = "id,webinar_id,user_id,created_at\n"
PRESENCE_HEADER = "id,webinar_id,user_id,session_id,joined_at,left_at\n"
COUNTS_HEADER = "id,webinar_id,sampled_at,viewer_count\n"
GOOD_TS = "2026-02-06 05:10:00+00"

# (case id, files, expected error regex) -- the run stops with one line naming the file.
ERRORS = [
    (
        "truncated-json",
        {"edge_logs/page-0002.json": envelope([edge(3)])[:-25]},
        r"page-0002\.json: invalid JSON",
    ),
    (
        "error-envelope-object",
        {
            "edge_logs/page-0002.json": envelope(
                [],
                {
                    "code": 400,
                    "errors": [
                        {
                            "domain": "global",
                            "message": "Query exceeded resources",
                            "reason": "resourcesExceeded",
                        }
                    ],
                    "message": "Bad query",
                    "status": "INVALID_ARGUMENT",
                },
            )
        },
        r"Management API returned an error: code 400: Bad query Query exceeded resources \(resourcesExceeded\)",
    ),
    (
        "error-envelope-string",
        {"edge_logs/page-0002.json.gz": gzip.compress(envelope([], "Rate limit exceeded"))},
        r"page-0002\.json\.gz: the Management API returned an error: Rate limit exceeded",
    ),
    (
        "error-envelope-with-rows",
        {"edge_logs/page-0002.json": envelope([edge(3)], {"message": "partial result"})},
        r"returned an error: partial result",
    ),
    (
        "rows-not-a-list",
        {"edge_logs/page-0002.json": json.dumps({"result": {"id": 1}, "error": None}).encode()},
        r"field 'result': rows are not a list; expected a list of rows, found 'dict'",
    ),
    (
        "unknown-json-document",
        {"edge_logs/page-0002.json": b'{"data": []}'},
        r"unknown JSON document",
    ),
    ("empty-file", {"edge_logs/page-0002.json": b""}, r"page-0002\.json: empty file"),
    ("empty-gzip", {"edge_logs/page-0002.json.gz": gzip.compress(b"")}, r"empty file"),
    (
        "gz-not-gzip",
        {"edge_logs/page-0002.json.gz": envelope([edge(3)])},
        r"not a gzip file; expected gzip magic bytes 1f 8b",
    ),
    (
        "truncated-gzip",
        {"edge_logs/page-0002.json.gz": gzip.compress(envelope([edge(3)]))[:-30]},
        r"corrupt or truncated gzip",
    ),
    (
        "utf32-bom",  # UTF-16 behind its BOM is read (tests/test_real_routes.py)
        {"tables/webinars.csv": WEBINARS.encode("utf-32")},
        r"webinars\.csv: wrong text encoding; expected UTF-8 or UTF-16, found 'a UTF-32 BOM'",
    ),
    (
        "not-utf8",
        {"tables/webinars.csv": WEBINARS.replace("Webinar", "Caf\xe9").encode("latin-1")},
        r"not UTF-8 text",
    ),
    (
        "all-rows-wrong-type",
        {"edge_logs/page-0002.json": envelope([edge(3, status="abc"), edge(4, status="n/a")])},
        r"page-0002\.json, row 1: every row rejected: bad status \(expected an integer\), found 'abc'",
    ),
    (
        # One writer writes one unit: microseconds then milliseconds is two files joined.
        "two-epoch-units-in-one-page",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, ts=T0 // 1000)])},
        r"page-0002\.json, row 2, field 'timestamp': epoch times in two units in one column; expected one unit a column \(microseconds, as row 1\), found 1770354000000",
    ),
    (
        "all-rows-of-no-epoch-unit",
        {"edge_logs/page-0002.json": envelope([edge(3, ts=T0 // 10_000), edge(4, ts=17)])},
        r"every row rejected: bad timestamp \(an epoch time whose size names no unit: expected 10, 13, 16 or 19 digits",
    ),
    (
        "missing-table-column",
        {"tables/registrations.csv": f"id,webinar_id,created_at\nr1,{W1},{GOOD_TS}\n".encode()},
        r"registrations\.csv, field 'user_id': missing column",
    ),
    (
        "missing-log-column",
        {"exports/api.csv": b"id,timestamp,method\nx1,1770354060000000,GET\n"},
        r"api\.csv, field 'path': missing column for edge_logs",
    ),
    (
        "unterminated-quote",
        {"exports/e.csv": b'id,timestamp,event_message\nx,1770354060000000,"GET | 200\n'},
        r"e\.csv, row 1: malformed CSV",
    ),
    (
        "ragged-csv-row",
        {"tables/registrations.csv": f"{REG_HEADER}r1,{W1},{U1},{GOOD_TS},extra\n".encode()},
        r"row 1: ragged CSV row; expected 4 fields, found '5 fields'",
    ),
    (
        "duplicated-header",
        {"tables/registrations.csv": b"id,id,webinar_id,user_id,created_at\n"},
        r"field 'id': duplicated column in header",
    ),
    (
        "window-with-no-rows",
        {"edge_logs/page-0001.json.gz": page([edge(1, minute=-30), edge(2, minute=90)])},
        r"no log row inside the manifest window",
    ),
    (
        "no-webinars-table",
        {
            "tables/webinars.csv": None,
            "tables/registrations.csv": f"{REG_HEADER}a0000000-0000-4000-8000-000000000001,{W1},{U1},{GOOD_TS}\n".encode(),
        },
        r"cannot check webinar ids",
    ),
    (
        "unsupported-file-type",
        {"edge_logs/notes.dat": b"hello"},
        r"notes\.dat: unsupported file type",
    ),
    (
        # A note is skipped, but an export saved under a note's name is never left out.
        "csv-under-a-txt-name",
        {"exports/edge.txt": b"id,timestamp,event_message\nx,1770354060000000,GET | 200\n"},
        r"edge\.txt: looks like an export under another file type; .*found 'a header row of column names under a \.txt name'",
    ),
    (
        "json-lines-under-a-log-name",
        {"exports/drain.log": b'{"id": "x", "timestamp": 1770354060000000}\n'},
        r"drain\.log: looks like an export under another file type; .*found 'JSON under a \.log name'",
    ),
    (
        "manifest-missing-window",
        {"incident.json": manifest(window_end=None)},
        r"incident\.json, field 'window_end': missing manifest field",
    ),
    (
        "manifest-naive-window",
        {"incident.json": manifest(window_start="2026-02-06T14:00:00")},
        r"field 'window_start': bad window bound; expected ISO 8601 UTC",
    ),
    (
        "manifest-reversed-window",
        {"incident.json": manifest(window_end="2026-02-06T04:00:00Z")},
        r"empty window",
    ),
    (
        "manifest-unknown-kind",
        {"incident.json": manifest(files={"exports/*.csv": {"kind": "metrics"}})},
        r"unknown kind; expected one of",
    ),
    ("manifest-bad-flavour", {"incident.json": manifest(flavour="snowflake")}, r"bad flavour"),
    (
        "manifest-bad-zone",
        {"incident.json": manifest(display_tz="Mars/Olympus")},
        r"unknown time zone",
    ),
    (
        "unknown-log-source",
        {"misc.csv": b"id,timestamp,event_message\nx1,1770354060000000,hello\n"},
        r"misc\.csv, row 1: every row rejected: unknown log source",
    ),
    (
        "unknown-csv",
        {"exports/other.csv": b"a,b\n1,2\n"},
        r"other\.csv: not a table the analysis reads \(columns a, b\), nor a log export",
    ),
    (
        # Studio's CSV ends without a line break: `cat a.csv b.csv` glues b's header to a's
        # last row (a ragged row for plain cells, broken quoting after a quoted one).
        "joined-without-line-break",
        {
            "tables/registrations.csv": f"{REG_HEADER}r1,{W1},{U1},{GOOD_TS}{REG_HEADER}r2,{W1},{U1},{GOOD_TS}".replace(
                "\n", "\r\n"
            ).encode()
        },
        r"registrations\.csv, row 1: two exports joined without a line break; .*found 'its header inside line 2'",
    ),
    (
        "joined-after-a-quoted-cell",
        {
            "exports/explorer.csv": b'id,timestamp,event_message\r\nx1,1770354060000000,"GET | 200, ok"id,timestamp,event_message\r\nx2,1770354061000000,GET | 200'
        },
        r"explorer\.csv, row 1: two exports joined without a line break",
    ),
    (
        # Logflare's endpoint answers an error as {"error": ...} with no result at all.
        "error-envelope-alone",
        {
            "edge_logs/page-0002.json": json.dumps(
                {"error": {"code": 502, "message": "Bad gateway"}}
            ).encode()
        },
        r"page-0002\.json: the Management API returned an error: code 502: Bad gateway",
    ),
    (
        # A tar inflates to zero padding, which read as text looked like a crash's NUL tail.
        "tar-gz-of-exports",
        {"exports.tar.gz": tar_gz({"edge_logs/page-0002.json": envelope([edge(3)])})},
        r"exports\.tar\.gz: a tar archive \(gzipped\), not a text export; expected the export itself",
    ),
    (
        "tgz-beside-the-exports",
        {"exports.tgz": tar_gz({"edge_logs/page-0002.json": envelope([edge(3)])})},
        r"exports\.tgz: a tar archive \(gzipped\); expected its exports unpacked into the incident",
    ),
    (
        "zip-beside-the-exports",
        {"exports.zip": b"PK\x03\x04" + bytes(40)},
        r"exports\.zip: a zip archive; expected its exports unpacked into the incident directory",
    ),
]


@pytest.mark.parametrize(("case", "changes", "pattern"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_file_stops_with_one_clear_line(tmp_path, case, changes, pattern):
    root = write(tmp_path, {**base_files(), **changes})
    with pytest.raises(IngestError, match=pattern) as info:
        ingest.load_incident(root, use_cache=False)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    assert len(text) < 400


def test_checksum_mismatch_is_an_error(tmp_path):
    files = base_files()
    digest = hashlib.sha256(b"something else").hexdigest()
    files["SHA256SUMS"] = f"{digest}  edge_logs/page-0001.json.gz\n".encode()
    root = write(tmp_path, files)
    with pytest.raises(IngestError, match=r"page-0001\.json\.gz: checksum mismatch"):
        ingest.load_incident(root, use_cache=False)


def test_checksums_that_match_pass(tmp_path):
    files = base_files()
    lines = [
        f"{hashlib.sha256(v).hexdigest()}  {k}" for k, v in files.items() if k != "incident.json"
    ]
    files["SHA256SUMS"] = ("\n".join(lines) + "\n").encode()
    root = write(tmp_path, files)
    assert len(ingest.load_incident(root, use_cache=False).requests) == 2


def sums_of(files: dict[str, bytes]) -> bytes:
    return "".join(
        f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in sorted(files.items())
    ).encode()


def test_a_changed_file_is_named_in_the_data_directory_with_the_command_that_records_it(tmp_path):
    files = base_files()
    files["SHA256SUMS"] = sums_of(files)
    files["incident.json"] = json.dumps({**MANIFEST, "display_tz": "UTC"}).encode()
    root = write(tmp_path, files)
    with pytest.raises(IngestError) as info:
        ingest.load_incident(root, use_cache=False)
    text = str(info.value)
    # The path as SHA256SUMS and incident.json's "files" write it, not where the directory is.
    assert text.startswith("incident.json: checksum mismatch") and str(tmp_path) not in text
    assert "run 'sha256sum incident.json' in the data directory" in text
    # Doing what it says makes the directory pass.
    fresh = sums_of({k: v for k, v in files.items() if k != "SHA256SUMS"})
    (root / "SHA256SUMS").write_bytes(fresh)
    assert len(ingest.load_incident(root, use_cache=False).requests) == 2


def test_a_missing_listed_file_says_to_restore_it_or_delete_its_line(tmp_path):
    files = base_files()
    files["SHA256SUMS"] = sums_of({**files, "tables/registrations.csv": b"x"})
    root = write(tmp_path, files)
    with pytest.raises(IngestError) as info:
        ingest.load_incident(root, use_cache=False)
    text = str(info.value)
    assert text.startswith("tables/registrations.csv: file listed in SHA256SUMS")
    assert "delete its line from SHA256SUMS" in text and str(tmp_path) not in text


@pytest.mark.parametrize("listed", [True, False])
def test_the_hint_for_an_app_table_adds_the_checksum_step_when_sums_list_the_manifest(
    tmp_path, listed
):
    files = base_files()
    if listed:
        files["SHA256SUMS"] = sums_of(files)
    files["tables/app_events.csv"] = b"id,user_id,kind\n1,u1,click\n"
    root = write(tmp_path, files)
    with pytest.raises(IngestError) as info:
        ingest.load_incident(root, use_cache=False)
    text = str(info.value)
    assert text.startswith("tables/app_events.csv: not a table the analysis reads")
    assert str(tmp_path) not in text and "\n" not in text
    step = "then, since SHA256SUMS lists incident.json, run 'sha256sum incident.json'"
    assert (step in text) is listed
    # Both steps done as written: the table is left out and the run passes.
    manifest = {**MANIFEST, "files": {"tables/app_events.csv": {"kind": "ignore"}}}
    (root / "incident.json").write_text(json.dumps(manifest))
    if listed:
        kept = {k: (root / k).read_bytes() for k in files if k not in ("SHA256SUMS",)}
        kept.pop("tables/app_events.csv")
        (root / "SHA256SUMS").write_bytes(sums_of(kept))
    assert len(ingest.load_incident(root, use_cache=False).requests) == 2


# (case id, files, file, kind, reason, count) -- the row is rejected and counted; the run goes on.
REJECTIONS = [
    (
        # Two downloads joined with a line break between them: the second header is a row.
        "header-repeated-mid-table",
        {
            "tables/registrations.csv": f"{REG_HEADER}a0000000-0000-4000-8000-000000000001,{W1},{U1},{GOOD_TS}\n{REG_HEADER}a0000000-0000-4000-8000-000000000002,{W1},{U1},{GOOD_TS}\n".encode()
        },
        "tables/registrations.csv",
        "registrations",
        "repeated header row (two exports joined into one file)",
        1,
    ),
    (
        "header-repeated-mid-log-csv",
        {
            "exports/explorer.csv": b"id,timestamp,event_message\r\nx1,1770354060000000,GET | 200 | 1.2.3.4 | r | https://x.supabase.co/rest/v1/a | ua\r\nid,timestamp,event_message\r\nx2,1770354061000000,GET | 200 | 1.2.3.4 | r | https://x.supabase.co/rest/v1/a | ua"
        },
        "exports/explorer.csv",
        "edge_logs",
        "repeated header row (two exports joined into one file)",
        1,
    ),
    (
        "row-not-an-object",
        {"edge_logs/page-0002.json": envelope([edge(3), 42])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "row is not an object",
        1,
    ),
    (
        "one-wrong-type",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, status="abc")])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "bad status (expected an integer)",
        1,
    ),
    (
        "status-out-of-range",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, status=999)])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "bad status (expected an HTTP code 100-599)",
        1,
    ),
    (
        # 12 digits: seconds in 5138 or milliseconds in 1975; refused rather than guessed.
        "twelve-digit-timestamp",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, ts=T0 // 10_000)])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "bad timestamp (an epoch time whose size names no unit: expected 10, 13, 16 or 19 digits (seconds, milliseconds, microseconds, nanoseconds))",
        1,
    ),
    (
        "naive-timestamp-bigquery",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, ts="2026-02-06T05:10:00")])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "naive timestamp in timestamp (expected a time zone or offset)",
        1,
    ),
    (
        "garbage-timestamp",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, ts="yesterday")])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "bad timestamp (expected ISO 8601 or an epoch time)",
        1,
    ),
    (
        "missing-id",
        {
            "edge_logs/page-0002.json": envelope(
                [edge(3), {k: v for k, v in edge(4).items() if k != "id"}]
            )
        },
        "edge_logs/page-0002.json",
        "edge_logs",
        "missing id",
        1,
    ),
    (
        "duplicate-ids-in-a-page",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(3), edge(3)])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "duplicate id",
        2,
    ),
    (
        "duplicate-ids-across-pages",
        {"edge_logs/page-0002.json": envelope([edge(2, minute=2), edge(3)])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "duplicate id",
        1,
    ),
    (
        "metadata-two-elements",
        {"edge_logs/page-0002.json": envelope([edge(3), {**edge(4), "metadata": [{}, {}]}])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "bad metadata (expected a one-element list of objects, found 2)",
        1,
    ),
    (
        "outside-window",
        {"edge_logs/page-0002.json": envelope([edge(3), edge(4, minute=75)])},
        "edge_logs/page-0002.json",
        "edge_logs",
        "outside window",
        1,
    ),
    (
        "bad-json-cell",
        {
            "exports/explorer.csv": b'id,timestamp,event_message,metadata\nx1,1770354060000000,GET | 200,"[{""request"": [{""method"": ""GET"", ""path"": ""/rest/v1/a""}], ""response"": [{""status_code"": 200}]}]"\nx2,1770354060000000,GET | 200,"[{""request"""\n'
        },
        "exports/explorer.csv",
        "edge_logs",
        "bad metadata cell (expected JSON)",
        1,
    ),
    (
        "unknown-webinar-registration",
        {
            "tables/registrations.csv": f"{REG_HEADER}a0000000-0000-4000-8000-000000000001,{W1},{U1},{GOOD_TS}\na0000000-0000-4000-8000-000000000002,{W_UNKNOWN},{U1},{GOOD_TS}\n".encode()
        },
        "tables/registrations.csv",
        "registrations",
        "unknown webinar",
        1,
    ),
    (
        "unknown-webinar-presence",
        {
            "tables/webinar_live_presence.csv": f"{PRESENCE_HEADER}p1,{W1},{U1},s1,{GOOD_TS},\np2,{W_UNKNOWN},{U1},s2,{GOOD_TS},\n".encode()
        },
        "tables/webinar_live_presence.csv",
        "webinar_live_presence",
        "unknown webinar",
        1,
    ),
    (
        "naive-table-timestamp",
        {
            "tables/registrations.csv": f"{REG_HEADER}a0000000-0000-4000-8000-000000000001,{W1},{U1},{GOOD_TS}\na0000000-0000-4000-8000-000000000002,{W1},{U1},2026-02-06 14:10:00\n".encode()
        },
        "tables/registrations.csv",
        "registrations",
        "naive timestamp in created_at (expected a time zone or offset)",
        1,
    ),
    (
        "left-before-joined",
        {
            "tables/webinar_live_presence.csv": f"{PRESENCE_HEADER}p1,{W1},{U1},s1,{GOOD_TS},\np2,{W1},{U1},s2,{GOOD_TS},2026-02-06 05:00:00+00\n".encode()
        },
        "tables/webinar_live_presence.csv",
        "webinar_live_presence",
        "left_at before joined_at",
        1,
    ),
    (
        "negative-viewer-count",
        {
            "tables/webinar_viewer_counts.csv": f"{COUNTS_HEADER}1,{W1},{GOOD_TS},5\n2,{W1},{GOOD_TS},-1\n".encode()
        },
        "tables/webinar_viewer_counts.csv",
        "webinar_viewer_counts",
        "bad viewer_count (expected >= 0)",
        1,
    ),
    (
        "fractional-viewer-count",
        {
            "tables/webinar_viewer_counts.csv": f"{COUNTS_HEADER}1,{W1},{GOOD_TS},5\n2,{W1},{GOOD_TS},2.5\n".encode()
        },
        "tables/webinar_viewer_counts.csv",
        "webinar_viewer_counts",
        "bad viewer_count (expected an integer)",
        1,
    ),
    (
        "bad-webinar-uuid",
        {
            "tables/registrations.csv": f"{REG_HEADER}a0000000-0000-4000-8000-000000000001,{W1},{U1},{GOOD_TS}\na0000000-0000-4000-8000-000000000002,webinar-1,{U1},{GOOD_TS}\n".encode()
        },
        "tables/registrations.csv",
        "registrations",
        "bad webinar_id (expected a uuid or an integer id)",
        1,
    ),
    (
        "bad-sql-state",
        {
            "postgres_logs/page-0001.json": envelope(
                [
                    {
                        "id": "d1",
                        "timestamp": T0 + 60_000_000,
                        "event_message": "boom",
                        "metadata": [
                            {"parsed": [{"error_severity": "ERROR", "sql_state_code": "23505"}]}
                        ],
                    },
                    {
                        "id": "d2",
                        "timestamp": T0 + 60_000_000,
                        "event_message": "boom",
                        "metadata": [
                            {"parsed": [{"error_severity": "ERROR", "sql_state_code": "2350"}]}
                        ],
                    },
                ]
            )
        },
        "postgres_logs/page-0001.json",
        "postgres_logs",
        "bad sql_state (expected 5 characters [0-9A-Z])",
        1,
    ),
    (
        "non-error-severity",
        {
            "postgres_logs/page-0001.json": envelope(
                [
                    {
                        "id": "d1",
                        "timestamp": T0 + 60_000_000,
                        "event_message": "boom",
                        "metadata": [
                            {"parsed": [{"error_severity": "ERROR", "sql_state_code": "23505"}]}
                        ],
                    },
                    {
                        "id": "d2",
                        "timestamp": T0 + 60_000_000,
                        "event_message": "checkpoint",
                        "metadata": [
                            {"parsed": [{"error_severity": "LOG", "sql_state_code": "00000"}]}
                        ],
                    },
                ]
            )
        },
        "postgres_logs/page-0001.json",
        "postgres_logs",
        "not an error (severity LOG)",
        1,
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "file", "kind", "reason", "count"),
    REJECTIONS,
    ids=[r[0] for r in REJECTIONS],
)
def test_bad_row_is_rejected_and_counted(tmp_path, case, changes, file, kind, reason, count):
    root = write(tmp_path, {**base_files(), **changes})
    incident = ingest.load_incident(root, use_cache=False)
    a = incident.accounting
    row = a[(a["file"] == file) & (a["kind"] == kind)]
    assert len(row) == 1, a
    row = row.iloc[0]
    assert f"{reason}: {count}" in row["reason"].split("; "), row["reason"]
    assert row["read"] == row["accepted"] + row["rejected"]
    assert row["rejected"] >= count


def test_utf8_bom_is_stripped_not_read_into_the_first_column(tmp_path):
    root = write(
        tmp_path, {**base_files(), "tables/webinars.csv": b"\xef\xbb\xbf" + WEBINARS.encode()}
    )
    incident = ingest.load_incident(root, use_cache=False)
    assert list(incident.webinars["webinar_id"]) == [W1]


def test_empty_result_page_is_counted_as_zero_rows(tmp_path):
    root = write(tmp_path, {**base_files(), "edge_logs/page-0002.json": envelope([])})
    a = ingest.load_incident(root, use_cache=False).accounting
    row = a[a["file"] == "edge_logs/page-0002.json"].iloc[0]
    assert (row["read"], row["accepted"], row["rejected"]) == (0, 0, 0)


def test_corpus_is_at_least_25_cases():
    assert len(ERRORS) + len(REJECTIONS) + 3 >= 25


def test_metadata_as_json_text_in_a_json_export_is_read_like_a_csv_cell(tmp_path):
    # A query that selects TO_JSON_STRING(metadata) (or ClickHouse's toJSONString of
    # log_attributes) and downloads JSON: the nested record arrives as text, as in a CSV cell.
    rows = [edge(3), edge(4), edge(5)]
    rows[0]["metadata"] = json.dumps(rows[0]["metadata"])
    rows[1]["metadata"] = json.dumps(rows[1]["metadata"][0])
    rows[2]["metadata"] = '[{"request": [{"method": "GET"'
    attrs = {
        "id": "c1",
        "timestamp": "2026-02-06T05:03:00.000000",
        "event_message": "GET | 200",
        "source": "edge_logs",
        "log_attributes": json.dumps(
            {"request.method": "GET", "request.path": "/rest/v1/a", "response.status_code": "200"}
        ),
    }
    root = write(
        tmp_path,
        {
            **base_files(),
            "exports/rows.json": json.dumps(rows, indent=2).encode(),
            "exports/attrs.json": json.dumps([attrs], indent=2).encode(),
        },
    )
    incident = ingest.load_incident(root, use_cache=False)
    a = incident.accounting.set_index("file")
    assert (a.loc["exports/rows.json", "accepted"], a.loc["exports/rows.json", "rejected"]) == (
        2,
        1,
    )
    assert a.loc["exports/rows.json", "reason"] == "bad metadata cell (expected JSON): 1"
    assert a.loc["exports/attrs.json", "accepted"] == 1
    assert {"e0000000-0000-4000-8000-000000000003", "c1"} <= set(incident.requests["id"])
