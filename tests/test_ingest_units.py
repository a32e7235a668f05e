"""Epoch times in any unit their size names, and files that are clearly not exports.

Two things a careful user expects of ``make check`` (docs/supabase-exports.md, "Epoch units"
and "Files that are not exports"): a file whose times are seconds, milliseconds or nanoseconds
since the epoch (a drain receiver of their own, a notebook, a BI tool) is read, with the
reading stated; and a README, a note, a screenshot or a browser's second copy of a download
beside the exports is listed as skipped instead of stopping the run, while a file that looks
like data under another name still stops it.
"""

from __future__ import annotations

import gzip
import json
import re
from importlib import resources

import pandas as pd
import pytest

from analysis import ingest
from analysis.exceptions import IngestError
from analysis.ingest.cli import main as check_main
from analysis.narrative.sections import _audit_text
from analysis.rejections import check_ingest_notes
from tests.test_ingest_bad_inputs import T0, base_files, edge, envelope, write

#: 2026-02-06T05:03:00.123456Z in every unit (the microseconds the exports would hold).
MICROS = T0 + 180_123_456
IN_UNITS = {
    "seconds": MICROS / 1e6,
    "milliseconds": MICROS // 1000,
    "nanoseconds": MICROS * 1000 + 789,
}


def _one_page(ts) -> dict[str, bytes]:
    return {**base_files(), "exports/drain.json": envelope([edge(7, ts=ts)])}


@pytest.mark.parametrize("unit", sorted(IN_UNITS))
@pytest.mark.parametrize("as_text", [False, True])
def test_an_epoch_unit_is_read_by_its_size_and_stated(tmp_path, unit, as_text):
    value = IN_UNITS[unit]
    if as_text:
        value = f"{value:.6f}" if isinstance(value, float) else str(value)
    incident = ingest.load_incident(write(tmp_path, _one_page(value)), use_cache=False)
    row = incident.requests.set_index("id").loc["e0000000-0000-4000-8000-000000000007"]
    want = pd.Timestamp(MICROS, unit="us", tz="UTC")
    if unit == "milliseconds":
        want = want.floor("ms")
    assert row["ts"] == want
    acc = incident.accounting.set_index("file").loc["exports/drain.json"]
    assert acc["note"] == f"timestamp read as {unit} since the epoch (UTC)"
    # Supabase's own microseconds need no note.
    assert pd.isna(incident.accounting.set_index("file").loc["edge_logs/page-0001.json.gz", "note"])


def test_nineteen_digits_are_divided_exactly_not_as_floats(tmp_path):
    # 2**53 < 1.77e18: as a float the nanoseconds would lose their last digits.
    ns = "1770354180123456999"
    files = {**base_files(), "exports/n.csv": f"id,timestamp,event_message\nn1,{ns},x\n".encode()}
    files["incident.json"] = json.dumps(
        {**json.loads(files["incident.json"]), "files": {"exports/n.csv": {"kind": "realtime"}}}
    ).encode()
    incident = ingest.load_incident(write(tmp_path, files), use_cache=False)
    assert incident.realtime_events["ts"].iloc[0] == pd.Timestamp("2026-02-06T05:03:00.123456Z")


def test_each_file_has_its_own_unit(tmp_path):
    files = {
        **base_files(),
        "exports/seconds.json": envelope([edge(7, ts=(T0 + 240_000_000) // 1_000_000)]),
        "exports/millis.json": envelope([edge(8, ts=(T0 + 300_000_000) // 1000)]),
    }
    incident = ingest.load_incident(write(tmp_path, files), use_cache=False)
    assert len(incident.requests) == 4
    notes = incident.accounting.set_index("file")["note"]
    assert "seconds" in notes["exports/seconds.json"]
    assert "milliseconds" in notes["exports/millis.json"]


def test_a_table_column_in_two_units_is_refused_naming_the_row(tmp_path):
    header = "id,webinar_id,user_id,created_at\n"
    w1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
    rows = [
        f"a0000000-0000-4000-8000-00000000000{i},{w1},u{i},{ts}\n"
        for i, ts in enumerate((1770354060, 1770354061, 1770354062000), start=1)
    ]
    files = {**base_files(), "tables/registrations.csv": (header + "".join(rows)).encode()}
    with pytest.raises(IngestError) as info:
        ingest.load_incident(write(tmp_path, files), use_cache=False)
    assert str(info.value) == (
        "tables/registrations.csv, row 3, field 'created_at': epoch times in two units in one"
        " column; expected one unit a column (seconds, as row 1), found '1770354062000'"
    )


def test_check_prints_the_reading_and_the_audit_names_it(tmp_path, capsys):
    root = write(tmp_path, _one_page(IN_UNITS["milliseconds"]))
    assert check_main(["--data", str(root), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "note: exports/drain.json: timestamp read as milliseconds since the epoch (UTC)" in out
    incident = ingest.load_incident(root, use_cache=False)
    (issue,) = check_ingest_notes(incident.accounting)
    assert (issue.code, issue.severity, issue.fields["unit"]) == (
        "ingest_epoch_unit",
        "info",
        "milliseconds",
    )
    assert "exports/drain.json" in issue.what
    ko = json.loads(resources.files("analysis").joinpath("locales", "ko.json").read_text("utf-8"))
    shown = _audit_text(issue.to_dict(), "what", ko, "Asia/Seoul")
    assert "밀리초" in shown and "exports/drain.json" in shown


# --------------------------------------------------------------------------------------------
# Files that are not exports
# --------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _cluttered() -> dict[str, bytes]:
    files = base_files()
    return {
        **files,
        "README.md": b"# Incident 2026-02-06\n\nExports from the dashboard, see notes.\n",
        "notes.txt": b"Timeline, as we saw it:\n14:05 chat froze\n",
        ".DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(32),
        "edge_logs/screenshot.png": PNG,
        # A browser's second download of the same page: the same bytes.
        "edge_logs/page-0001 (1).json.gz": files["edge_logs/page-0001.json.gz"],
    }


def test_files_that_are_not_exports_are_skipped_and_listed(tmp_path):
    incident = ingest.load_incident(write(tmp_path, _cluttered()), use_cache=False)
    assert len(incident.requests) == 2
    acc = incident.accounting
    skipped = acc[acc["kind"] == "skipped"].set_index("file")["note"].to_dict()
    assert skipped == {
        ".DS_Store": "a hidden file (a system's or a tool's own, such as .DS_Store), not an export",
        "README.md": "a Markdown document, not an export",
        "edge_logs/page-0001 (1).json.gz": (
            "a second copy, byte for byte, of the file of this name without '(1)'"
        ),
        "edge_logs/screenshot.png": "an image (PNG), not an export",
        "notes.txt": "a text note, not an export",
    }
    assert (acc.loc[acc["kind"] == "skipped", ["read", "accepted", "rejected"]] == 0).all().all()


def test_check_lists_the_skipped_files_and_the_audit_names_them(tmp_path, capsys):
    root = write(tmp_path, _cluttered())
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert check_main(["--data", str(root), *cache]) == 0
    first = capsys.readouterr().out
    assert "skipped: README.md: a Markdown document, not an export" in first
    assert not re.search(r"^README\.md\s", first, re.M)  # not a row of the table
    # From the cache too: the list is made afresh, a note added later is listed.
    (root / "more-notes.md").write_bytes(b"more\n")
    assert check_main(["--data", str(root), *cache]) == 0
    second = capsys.readouterr().out
    assert "(from cache)" in second and "skipped: more-notes.md" in second
    incident = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    (issue,) = check_ingest_notes(incident.accounting)
    assert issue.code == "ingest_files_skipped" and issue.fields["count"] == 6


@pytest.mark.parametrize(
    ("name", "data", "pattern"),
    [
        ("shot.png", b"hello", r"shot\.png: unsupported file type"),
        ("shot.png", b"id,timestamp\n", r"shot\.png: looks like an export under another"),
        ("notes.md", gzip.compress(b"{}", mtime=0), r"notes\.md: looks like an export .*gzip data"),
        ("data.txt", b"\xef\xbb\xbfid;timestamp;event_message\n", r"data\.txt: looks like"),
        ("page.tsv", b"id\ttimestamp\n", r"page\.tsv: unsupported file type"),
    ],
    ids=["png-text", "png-csv", "md-gzip", "txt-csv", "tsv"],
)
def test_a_file_that_may_be_data_still_stops_the_run(tmp_path, name, data, pattern):
    with pytest.raises(IngestError, match=pattern):
        ingest.load_incident(write(tmp_path, {**base_files(), name: data}), use_cache=False)


def test_a_copy_with_other_bytes_is_read_not_skipped(tmp_path):
    files = {**base_files(), "edge_logs/page-0001 (1).json": envelope([edge(5, minute=3)])}
    incident = ingest.load_incident(write(tmp_path, files), use_cache=False)
    assert len(incident.requests) == 3
    assert "skipped" not in set(incident.accounting["kind"])


def test_a_skipped_file_kind_ignore_is_not_listed(tmp_path):
    files = _cluttered()
    files["incident.json"] = json.dumps(
        {**json.loads(files["incident.json"]), "files": {"*.md": {"kind": "ignore"}}}
    ).encode()
    acc = ingest.load_incident(write(tmp_path, files), use_cache=False).accounting
    assert "README.md" not in set(acc["file"])


# `supabase logs` (supabase/cli apps/cli/src/next/commands/logs/logs.handler.ts, 740f0b4):
# the local stack's container output, as text or as stream-json events.
CLI_TEXT = (
    b"[postgres] 2026-02-06 05:40:01 UTC LOG: checkpoint starting\n[auth] level=info msg=ok\n"
)
CLI_EVENTS = (
    b'{"type":"log-entry","timestamp":"2026-02-06T05:40:01.000Z","service":"postgres",'
    b'"stream":"stderr","line":"LOG: checkpoint starting","source":"history"}\n'
    b'{"type":"log-entry","timestamp":"2026-02-06T05:40:02.000Z","service":"auth",'
    b'"stream":"stdout","line":"level=info msg=ok","source":"live"}\n'
)


@pytest.mark.parametrize(
    ("name", "data", "pattern"),
    [
        ("local.txt", CLI_TEXT, r"local\.txt: the local stack's logs \(supabase logs\), not a"),
        (
            "local.jsonl",
            CLI_EVENTS,
            r"local\.jsonl: the local stack's logs \(supabase logs --output-format stream-json\)",
        ),
    ],
    ids=["text", "stream-json"],
)
def test_the_cli_s_local_stack_logs_are_refused_by_name(tmp_path, name, data, pattern):
    with pytest.raises(IngestError, match=pattern) as info:
        ingest.load_incident(write(tmp_path, {**base_files(), name: data}), use_cache=False)
    assert "\n" not in str(info.value)
