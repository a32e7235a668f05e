"""Exports analysts make by routes other than Studio: psql, DBeaver/pgAdmin, Excel re-saves,
JSON Lines, gzip. Each is read to the same tables as a Studio export, or refused in one line
that names the file, the row or field and what was expected."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest
from analysis.exceptions import IngestError

W1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
U1 = "3beb26f2-602f-468c-ba04-fd517a2d53f2"
U2 = "fee62538-7b7b-4272-b858-2b50666ae7dd"
T0 = 1770354000000000  # 2026-02-06T05:00:00Z
TITLE = "AI 특허리서치, 실무 웨비나"
#: The tables as Studio's table editor writes them (PapaParse: CRLF, quotes where needed).
STUDIO = {
    "webinars.csv": "id,title,starts_at,ends_at,status,created_at\r\n"
    f'{W1},"{TITLE}",2026-02-06 05:00:00+00,2026-02-06 06:00:00+00,ended,'
    "2026-01-26 04:15:10.058473+00",
    "registrations.csv": "webinar_id,user_id,created_at\r\n"
    f"{W1},{U1},2026-01-27 05:30:19.905906+00\r\n{W1},{U2},2026-01-27 06:35:21.64289+00",
    "webinar_live_presence.csv": "id,webinar_id,user_id,session_id,joined_at,left_at\r\n"
    f"1,{W1},{U1},s1,2026-02-06 04:30:18.531617+00,2026-02-06 05:05:06.06+00\r\n"
    f"2,{W1},{U2},s2,2026-02-06 05:01:00+00,",
    "webinar_viewer_counts.csv": "id,webinar_id,sampled_at,viewer_count\r\n"
    f"1,{W1},2026-02-06 05:00:08.724982+00,2\r\n2,{W1},2026-02-06 05:00:20.68176+00,1",
}


def _edge(n: int) -> dict:
    return {
        "id": f"0b3f6c1e-2a7d-4c55-9a1e-{n:012d}",
        "timestamp": T0 + n * 1_000_000,
        "event_message": "GET | 200 | https://x.supabase.co/rest/v1/webinars",
        "metadata": [
            {
                "request": [{"method": "GET", "path": "/rest/v1/webinars", "search": ""}],
                "response": [{"status_code": 200, "origin_time": 12}],
            }
        ],
    }


ROWS = [_edge(n) for n in range(6)]
PAGE = json.dumps({"result": ROWS, "error": None}).encode()


def _write(root: Path, files: dict[str, bytes | str]) -> Path:
    manifest = {
        "name": "routes",
        "window_start": "2026-02-06T05:00:00Z",
        "window_end": "2026-02-06T06:00:00Z",
    }
    everything = {
        "incident.json": json.dumps(manifest),
        "edge_logs/page-0001.json.gz": gzip.compress(PAGE, mtime=0),
        **{f"tables/{name}": text for name, text in STUDIO.items()},
        **files,
    }
    for rel, data in everything.items():
        if data is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def _load(root: Path) -> ingest.Incident:
    return ingest.load_incident(root, use_cache=False)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return _load(_write(tmp_path_factory.mktemp("studio") / "inc", {}))


def _same(got: ingest.Incident, want: ingest.Incident) -> None:
    for name, key in (
        ("webinars", "webinar_id"),
        ("registrations", "id"),
        ("sessions", "session_id"),
        ("concurrency", "ts"),
        ("requests", "id"),
    ):
        g = getattr(got, name).sort_values(key).reset_index(drop=True)
        e = getattr(want, name).sort_values(key).reset_index(drop=True)
        assert len(e) > 0
        pd.testing.assert_frame_equal(g, e, obj=name)
    assert (got.accounting["rejected"] == 0).all(), got.accounting


def _psql(text: str) -> str:
    # psql \copy ... to 'x.csv' csv header: LF line ends, NULL as an empty unquoted cell.
    return text.replace("\r\n", "\n") + "\n"


def _resave(text: str, delimiter: str) -> str:
    # A spreadsheet's re-save: the same cells, another delimiter, quotes where it needs them.
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(csv.reader(io.StringIO(text, newline="")))
    return out.getvalue()


ROUTES = {
    "psql-copy": {f"tables/{n}": _psql(t) for n, t in STUDIO.items()},
    "psql-booleans-and-extra-columns": {
        "tables/webinars.csv": "id,title,starts_at,ends_at,status,created_at,is_public\n"
        f'{W1},"{TITLE}",2026-02-06 05:00:00+00,2026-02-06 06:00:00+00,ended,'
        "2026-01-26 04:15:10.058473+00,t\n"
    },
    "excel-korean-cp949": {"tables/webinars.csv": STUDIO["webinars.csv"].encode("cp949")},
    "excel-unicode-text-utf16-tab": {
        "tables/webinars.csv": _resave(STUDIO["webinars.csv"], "\t").encode("utf-16")
    },
    "utf16-le-comma": {
        "tables/webinars.csv": STUDIO["webinars.csv"].encode("utf-16-le").join([b"\xff\xfe", b""])
    },
    "excel-semicolons": {f"tables/{n}": _resave(t, ";") for n, t in STUDIO.items()},
    "excel-utf8-bom-all-quoted": {
        "tables/webinar_viewer_counts.csv": "\ufeff"
        + "\r\n".join(
            ",".join(f'"{c}"' for c in line.split(","))
            for line in STUDIO["webinar_viewer_counts.csv"].split("\r\n")
        )
    },
    "pgadmin-quoted-strings": {
        "tables/registrations.csv": '"webinar_id","user_id","created_at"\n'
        f'"{W1}","{U1}","2026-01-27 05:30:19.905906+00"\n'
        f'"{W1}","{U2}","2026-01-27 06:35:21.64289+00"\n'
    },
    "upper-case-header": {
        "tables/webinar_viewer_counts.csv": STUDIO["webinar_viewer_counts.csv"].replace(
            "id,webinar_id,sampled_at,viewer_count", "ID,WEBINAR_ID,SAMPLED_AT,VIEWER_COUNT"
        )
    },
    "excel-macintosh-cr-line-ends": {
        "tables/webinar_viewer_counts.csv": STUDIO["webinar_viewer_counts.csv"].replace(
            "\r\n", "\r"
        )
    },
    "json-lines": {
        "edge_logs/page-0001.json.gz": None,
        "edge_logs/rows.jsonl": "\n".join(json.dumps(r) for r in ROWS) + "\n",
    },
    "json-lines-gzip-named-json": {
        "edge_logs/page-0001.json.gz": gzip.compress(
            "\n".join(json.dumps(r) for r in ROWS).encode(), mtime=0
        ),
    },
    "json-array-plain": {
        "edge_logs/page-0001.json.gz": None,
        "exports/rows.json": json.dumps(ROWS),
    },
    "csv-gzip": {
        "tables/webinars.csv": None,
        "tables/webinars.csv.gz": gzip.compress(STUDIO["webinars.csv"].encode(), mtime=0),
    },
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_route_gives_the_same_tables_as_studio(studio, tmp_path, route):
    got = _load(_write(tmp_path / "inc", ROUTES[route]))
    _same(got, studio)


def test_duplicate_pages_are_counted_never_doubled(studio, tmp_path):
    # A second download under the browser's copy name, byte for byte: skipped as the copy.
    got = _load(
        _write(tmp_path / "inc", {"edge_logs/page-0001 (1).json.gz": gzip.compress(PAGE, mtime=0)})
    )
    assert len(got.requests) == len(studio.requests)
    edge = got.accounting[got.accounting["kind"] == "edge_logs"]
    assert edge["read"].sum() == len(ROWS)
    skipped = got.accounting[got.accounting["kind"] == "skipped"]
    assert list(skipped["note"]) == [
        "a second copy, byte for byte, of the file of this name without '(1)'"
    ]
    # The same rows in other bytes (gzipped again with another time): read, each row once.
    got = _load(
        _write(tmp_path / "inc2", {"edge_logs/page-0001 (1).json.gz": gzip.compress(PAGE, mtime=1)})
    )
    assert len(got.requests) == len(studio.requests)
    edge = got.accounting[got.accounting["kind"] == "edge_logs"]
    assert edge["read"].sum() == 2 * len(ROWS)
    assert edge["rejected"].sum() == len(ROWS)
    assert edge["reason"].str.contains(f"duplicate id: {len(ROWS)}").any()


def test_header_only_table_is_read_as_no_rows(tmp_path):
    got = _load(
        _write(tmp_path / "inc", {"tables/registrations.csv": "webinar_id,user_id,created_at\r\n"})
    )
    assert len(got.registrations) == 0
    acc = got.accounting.set_index("kind").loc["registrations"]
    assert (acc["read"], acc["accepted"], acc["rejected"]) == (0, 0, 0)


REFUSED = {
    "latin-1": (
        {
            "tables/webinars.csv": STUDIO["webinars.csv"]
            .replace(TITLE, "Café, live")
            .encode("latin-1")
        },
        r"webinars\.csv: not UTF-8 text; expected UTF-8 \(or UTF-16 with its BOM, or Korean"
        r" Windows CP949\), found 'byte 0xe9 on line 2 \(offset \d+\)'",
    ),
    "utf-32": (
        {"tables/webinars.csv": STUDIO["webinars.csv"].encode("utf-32")},
        r"webinars\.csv: wrong text encoding; expected UTF-8 or UTF-16, found 'a UTF-32 BOM'",
    ),
    "truncated-gzip": (
        {"edge_logs/page-0002.json.gz": gzip.compress(PAGE)[:-40]},
        r"page-0002\.json\.gz: corrupt or truncated gzip",
    ),
    "empty-file": (
        {"edge_logs/page-0002.json": b""},
        r"page-0002\.json: empty file; expected an export, found '0 bytes'",
    ),
    "excel-dates-without-seconds-or-zone": (
        {
            "tables/webinar_viewer_counts.csv": "id,webinar_id,sampled_at,viewer_count\r\n"
            f"1,{W1},2026-02-06 05:00,2\r\n2,{W1},2026-02-06 05:01,1"
        },
        r"webinar_viewer_counts\.csv, row 1: every row rejected: bad sampled_at \(expected ISO"
        r" 8601 or an epoch time\), found '2026-02-06 05:00'",
    ),
    "dbeaver-local-times-without-zone": (
        {
            "tables/webinar_viewer_counts.csv": "id,webinar_id,sampled_at,viewer_count\r\n"
            f"1,{W1},2026-02-06 14:00:08.724,2\r\n2,{W1},2026-02-06 14:00:20.681,1"
        },
        r"webinar_viewer_counts\.csv, row 1: every row rejected: naive timestamp in sampled_at"
        r" \(expected a time zone or offset\), found '2026-02-06 14:00:08\.724'",
    ),
    "excel-bigint-in-scientific-notation": (
        {
            "tables/webinar_viewer_counts.csv": "id,webinar_id,sampled_at,viewer_count\r\n"
            "1,1.23457E+15,2026-02-06 05:00:08.724982+00,2"
        },
        r"webinar_viewer_counts\.csv, row 1: every row rejected: bad webinar_id \(a spreadsheet's"
        r" scientific notation: the digits are lost; export again without a spreadsheet\), found"
        r" '1\.23457E\+15'",
    ),
    "explorer-csv-re-saved-by-excel": (
        {
            "edge_logs/explorer.csv": "id;timestamp;event_message;metadata\r\n"
            '0b3f6c1e-2a7d-4c55-9a1e-000000000099;1,77035E+15;"GET | 200 | https://x";'
            '"[{""request"":[{""method"":""GET"",""path"":""/rest/v1/a""}]}]"\r\n'
        },
        r"explorer\.csv, row 1: every row rejected: bad timestamp \(a spreadsheet's scientific"
        r" notation: the digits are lost; export again without a spreadsheet\), found"
        r" '1,77035E\+15'",
    ),
    "json-lines-with-a-broken-line": (
        {"edge_logs/rows.jsonl": json.dumps(ROWS[0]) + '\n{"id": \n'},
        r"rows\.jsonl: JSON Lines cut short; expected one complete JSON object a line, found"
        r" 'line 2: Expecting value'",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_in_one_line_naming_file_and_what_was_expected(tmp_path, case):
    files, message = REFUSED[case]
    with pytest.raises(IngestError, match=message) as err:
        _load(_write(tmp_path / "inc", files))
    assert "\n" not in str(err.value)
