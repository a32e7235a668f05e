"""Damage ingest once read as data: a NUL inside a value, a stray byte read as Korean Windows
text, a JSON key given twice, the same id-less row written with another time spelling.

Each is counted (a rejected row with its reason) or refused in one line naming the file and
the row, line or field; the undamaged forms are still read.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest
from analysis.exceptions import IngestError
from analysis.ingest.files import KeyTwice, is_korean_windows, parse_json

W1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
W2 = "c9c7d93a-0000-4000-8000-000000000002"
T0 = 1770354000000000  # 2026-02-06T05:00:00Z
TITLE = "AI 특허리서치, 실무 웨비나"
WEBINARS = (
    "id,title,starts_at,ends_at,status\r\n"
    f'{W1},"{TITLE}",2026-02-06 05:00:00+00,2026-02-06 06:00:00+00,ended\r\n'
)


def _edge(n: int, **request) -> dict:
    return {
        "id": f"0b3f6c1e-2a7d-4c55-9a1e-{n:012d}",
        "timestamp": T0 + n * 1_000_000,
        "event_message": "GET | 200 | https://x.supabase.co/rest/v1/webinars",
        "metadata": [
            {
                "request": [{"method": "GET", "path": "/rest/v1/webinars", **request}],
                "response": [{"status_code": 200, "origin_time": 12}],
            }
        ],
    }


def _write(root: Path, files: dict[str, bytes | str]) -> Path:
    manifest = {
        "name": "defects",
        "window_start": "2026-02-06T05:00:00Z",
        "window_end": "2026-02-06T06:00:00Z",
    }
    for rel, data in {"incident.json": json.dumps(manifest), **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def _load(root: Path) -> ingest.Incident:
    return ingest.load_incident(root, use_cache=False)


def _acc(incident: ingest.Incident, file: str):
    rows = incident.accounting[incident.accounting["file"] == file]
    assert len(rows) == 1, incident.accounting
    return rows.iloc[0]


def _page(rows: list[dict]) -> bytes:
    return gzip.compress(json.dumps({"result": rows, "error": None}).encode(), mtime=0)


# --- a. a NUL inside a value ----------------------------------------------------------------


def test_a_nul_inside_a_page_value_rejects_its_row_on_the_columnar_path(tmp_path):
    rows = [_edge(n) for n in range(4)]
    rows[2]["metadata"][0]["request"][0]["path"] = "/rest/v1/web\x00inars"
    got = _load(_write(tmp_path / "i", {"edge_logs/page-0001.json.gz": _page(rows)}))
    a = _acc(got, "edge_logs/page-0001.json.gz")
    assert (a["read"], a["accepted"], a["rejected"]) == (4, 3, 1)
    assert a["reason"] == "NUL character in path (a damaged value): 1"
    assert not got.requests["path"].str.contains("\x00", regex=False).any()


def test_a_nul_inside_a_csv_cell_rejects_its_row_and_a_table_row_too(tmp_path):
    body = (
        "id,timestamp,event_message,method,path,status_code\r\n"
        f"a1,{T0},GET | 200,GET,/rest/v1/webinars,200\r\n"
        f"a2,{T0 + 1},GET | 200,GET,/rest/v1/regis\x00trations,200\r\n"
    )
    webinars = WEBINARS + f"{W1[:-1]}0,Second\x00 talk,,,ended\r\n"
    got = _load(
        _write(tmp_path / "i", {"edge_logs/gateway.csv": body, "tables/webinars.csv": webinars})
    )
    a = _acc(got, "edge_logs/gateway.csv")
    assert (a["read"], a["accepted"]) == (2, 1)
    assert a["reason"] == "NUL character in path (a damaged value): 1"
    w = _acc(got, "tables/webinars.csv")
    assert (w["read"], w["accepted"]) == (2, 1)
    assert w["reason"] == "NUL character in title (a damaged value): 1"
    assert list(got.webinars["webinar_id"]) == [W1]


def test_a_nul_in_every_row_stops_the_run_naming_the_file_and_row(tmp_path):
    rows = [_edge(n, search="?a=\x00") for n in range(3)]
    root = _write(tmp_path / "i", {"edge_logs/page-0001.json.gz": _page(rows)})
    with pytest.raises(
        IngestError,
        match=r"page-0001\.json\.gz, row 1: every row rejected: NUL character in search",
    ):
        _load(root)


# --- b. Korean Windows text, told by evidence over the whole file -----------------------------


def test_a_korean_windows_csv_is_still_read_as_cp949(tmp_path):
    # Korean Excel's "CSV": CP949, common syllables, and one of the rare extension syllables.
    webinars = WEBINARS.replace(TITLE, TITLE + " 똠방각하")
    got = _load(_write(tmp_path / "i", {"tables/webinars.csv": webinars.encode("cp949")}))
    assert list(got.webinars["title"]) == [TITLE + " 똠방각하"]


@pytest.mark.parametrize(
    "title",
    ["Cafe ABC", "café crème, " * 20 + "Cafe ABC"],
    ids=["ascii", "utf8-latin"],
)
def test_a_byte_cut_out_of_a_utf8_csv_is_refused_not_read_as_korean(tmp_path, title):
    # 0xc3 (the lead byte of 'é') before 'A' decodes as a CP949 extension syllable, and every
    # 'é' of the file as a common one: the old rule (strict CP949 + one Hangul syllable) read
    # these files as Korean Windows text.
    data = WEBINARS.replace(TITLE, title).encode().replace(b"Cafe A", b"Caf\xc3A")
    old_rule = data.decode("cp949")  # the old rule's test passed: strict, and Hangul in it
    assert any("\uac00" <= ch <= "\ud7a3" for ch in old_rule)
    root = _write(tmp_path / "i", {"tables/webinars.csv": data})
    with pytest.raises(
        IngestError, match=r"webinars\.csv: not UTF-8 text.*found 'byte 0xc3 on line 2"
    ):
        _load(root)


def test_the_evidence_counts_bytes_over_the_whole_file():
    korean = ("제목,설명\n" + "실시간 웨비나 장애 보고서\n" * 5).encode("cp949")
    assert is_korean_windows(korean, korean.decode("cp949"))
    # More bytes forming UTF-8 characters than failing it: UTF-8 with damage.
    latin = "é".encode() * 3 + b"\xc3A"
    assert not is_korean_windows(latin, latin.decode("cp949"))
    # UTF-8 loses, but the characters are not Korean Windows text (extension syllables only).
    assert not is_korean_windows(b"x\xc3Ay\xc3Bz", b"x\xc3Ay\xc3Bz".decode("cp949"))


# --- c. a JSON key given twice ---------------------------------------------------------------


def test_parse_json_marks_objects_with_a_key_given_twice_with_different_values():
    doc = parse_json('[{"a": 1, "a": 2}, {"a": 1, "a": 1}, {"b": {"c": 1, "c": null}}]')
    assert isinstance(doc[0], KeyTwice) and doc[0].key == "a" and doc[0] == {"a": 2}
    assert type(doc[1]) is dict  # the same value twice: nothing to choose between
    assert isinstance(doc[2]["b"], KeyTwice) and doc[2]["b"].key == "c"


def test_a_key_given_twice_rejects_its_row_in_every_json_route(tmp_path):
    page = json.dumps({"result": [_edge(n) for n in range(3)], "error": None})
    # The second row's status given twice, inside metadata (the columnar reader refuses the
    # page; the general reader reads it).
    twice = page.replace('"status_code": 200', '"status_code": 200, "status_code": 500', 2)
    twice = twice.replace('"status_code": 200, "status_code": 500', '"status_code": 200', 1)
    explorer = [
        {
            "id": f"r{n}",
            "timestamp": T0 + n,
            "event_message": "GET | 200 | x",
            "method": "GET",
            "path": "/rest/v1/webinars",
            "status_code": 200,
        }
        for n in range(3)
    ]
    explorer_text = json.dumps(explorer, indent=2).replace(
        '"id": "r1",', '"id": "r1",\n    "path": "/rest/v1/other",', 1
    )
    table = json.dumps(
        [
            {"id": W1, "title": "One", "starts_at": None, "ends_at": None, "status": "ended"},
            {"id": W2, "title": "Two", "starts_at": None, "ends_at": None, "status": "ended"},
        ]
    ).replace('"title": "Two"', '"title": "Two", "title": "Three"')
    root = _write(
        tmp_path / "i",
        {
            "edge_logs/page-0001.json.gz": gzip.compress(twice.encode(), mtime=0),
            "exports/supabase-logs-x.csv.json": explorer_text,
            "tables/webinars_rows.json": table,
        },
    )
    got = _load(root)
    page_acc = _acc(got, "edge_logs/page-0001.json.gz")
    assert (page_acc["read"], page_acc["accepted"]) == (3, 2)
    assert page_acc["reason"] == "key given twice with different values (response.status_code): 1"
    ex = _acc(got, "exports/supabase-logs-x.csv.json")
    assert (ex["read"], ex["accepted"]) == (3, 2)
    assert ex["reason"] == "key given twice with different values (path): 1"
    assert set(got.requests["status"]) == {200}
    assert "/rest/v1/other" not in set(got.requests["path"])
    w = _acc(got, "tables/webinars_rows.json")
    assert (w["read"], w["accepted"]) == (2, 1)
    assert w["reason"] == "key given twice with different values (title): 1"
    assert list(got.webinars["webinar_id"]) == [W1]


def test_a_table_json_whose_every_row_has_a_key_twice_stops_the_run(tmp_path):
    table = json.dumps(
        [
            {"id": W1, "title": "One", "starts_at": None, "ends_at": None, "status": "ended"},
            {"id": W2, "title": "Two", "starts_at": None, "ends_at": None, "status": "ended"},
        ]
    ).replace('"title": "', '"title": "0", "title": "')
    root = _write(tmp_path / "i", {"tables/webinars_rows.json": table})
    with pytest.raises(
        IngestError,
        match=r"webinars_rows\.json, row 1: every row rejected: key given twice with different"
        r" values \(title\)",
    ):
        _load(root)


def test_a_manifest_key_given_twice_is_one_line(tmp_path):
    root = _write(tmp_path / "i", {"tables/webinars.csv": WEBINARS})
    text = (root / "incident.json").read_text()
    text = text.replace('"name": "defects"', '"name": "a", "name": "b"')
    (root / "incident.json").write_text(text)
    with pytest.raises(IngestError, match=r"incident\.json, field 'name': key given twice"):
        _load(root)


# --- d. rows without ids: the same row under another time spelling ---------------------------


def test_id_less_rows_dedupe_on_the_instant_not_on_how_the_time_is_written(tmp_path):
    line = '{ts},"duplicate key value violates unique constraint ""pkey""",23505,ERROR\n'
    head = "ts,event_message,sql_state_code,error_severity\n"
    spellings = [
        "2026-02-06T05:01:00.000Z",
        "2026-02-06 05:01:00+00",
        "2026-02-06T14:01:00+09:00",
        str(T0 + 60_000_000),
    ]
    files = {
        f"postgres_logs/run{n}.csv": head + line.format(ts=ts) + line.format(ts=ts)
        for n, ts in enumerate(spellings)
    }
    got = _load(_write(tmp_path / "i", files))
    assert len(got.db_errors) == 2  # two identical events in one export stay two rows
    assert _acc(got, "postgres_logs/run0.csv")["accepted"] == 2
    for n in range(1, len(spellings)):
        assert _acc(got, f"postgres_logs/run{n}.csv")["reason"] == "duplicate id: 2", n


def test_id_less_rows_at_other_instants_stay_apart(tmp_path):
    head = "ts,event_message,sql_state_code,error_severity\n"
    row = 'T,"deadlock detected",40P01,ERROR\n'
    files = {
        "postgres_logs/a.csv": head + row.replace("T", "2026-02-06T05:01:00.000Z"),
        "postgres_logs/b.csv": head + row.replace("T", "2026-02-06T05:01:00.001Z"),
    }
    got = _load(_write(tmp_path / "i", files))
    assert len(got.db_errors) == 2 and got.db_errors["id"].is_unique


def test_id_less_viewer_counts_dedupe_on_webinar_instant_and_count(tmp_path):
    # Two SQL editor downloads of the same samples without the id column, one in UTC text,
    # one in Seoul's offset: the overlap is one set of samples, not two (it was counted
    # twice: without an id nothing was compared). Identical rows of one file stay apart.
    head = "webinar_id,sampled_at,viewer_count\n"
    a = head + f"{W1},2026-02-06 05:01:00+00,10\n{W1},2026-02-06 05:02:00+00,12\n"
    a += f"{W1},2026-02-06 05:02:00+00,12\n"
    b = head + f"{W1},2026-02-06T14:02:00+09:00,12\n{W1},2026-02-06T14:03:00+09:00,15\n"
    files = {"tables/webinars.csv": WEBINARS, "tables/a.csv": a, "tables/b.csv": b}
    files["incident.json"] = json.dumps(
        {
            "name": "counts",
            "window_start": "2026-02-06T05:00:00Z",
            "window_end": "2026-02-06T06:00:00Z",
            "files": {"tables/?.csv": {"kind": "webinar_viewer_counts"}},
        }
    )
    got = _load(_write(tmp_path / "i", files))
    assert _acc(got, "tables/a.csv")["accepted"] == 3
    b_acc = _acc(got, "tables/b.csv")
    assert (b_acc["read"], b_acc["accepted"], b_acc["reason"]) == (2, 1, "duplicate id: 1")
    assert list(got.concurrency["viewers"]) == [10, 12, 12, 15]


def test_a_hybrid_traffic_page_rejects_rows_with_a_key_twice_or_a_nul(tmp_path):
    from analysis.ingest import traffic_pages as tp

    good = {
        "minute": "2026-02-06 05:01:00",
        "path": "/rest/v1/registrations",
        "status_class": 2,
        "requests": 10,
        "max_origin_time_ms": 80.0,
        "p95_origin_time_ms": 40.0,
    }
    rows = [good, {**good, "minute": "2026-02-06 05:02:00", "path": "/rest/v1/re\x00g"}]
    rows.append({**good, "minute": "2026-02-06 05:03:00"})
    text = json.dumps({"result": rows, "error": None})
    text = text.replace('"requests": 10, "max', '"requests": 10, "requests": 99, "max', 1)
    path = tmp_path / "page-0001.json.gz"
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    window = (pd.Timestamp("2026-02-06T05:00Z"), pd.Timestamp("2026-02-06T06:00Z"))
    frame, accounting = tp.read_traffic_page(path, "t.json.gz", "edge_minutes", window)
    assert (accounting["read"], accounting["accepted"]) == (3, 1)
    assert accounting["reason"] == (
        "NUL character in path (a damaged value): 1; "
        "key given twice with different values (requests): 1"
    )
    assert list(frame["requests"]) == [10]
