"""The shipped incident ingests cleanly and its accounting matches independent row counts."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from analysis import config, ingest

DATA = config.DEFAULT_INCIDENT_DIR

pytestmark = pytest.mark.skipif(
    not (DATA / "incident.json").exists(), reason="shipped incident not generated yet"
)


def count_rows(path) -> int:
    """Count rows without the ingest code: JSON envelopes by ``result``, CSVs by csv rows."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    if path.name.endswith((".json", ".json.gz")):
        return len(json.loads(data)["result"])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    return sum(1 for row in rows[1:] if row)


@pytest.fixture(scope="module")
def incident(shared_cache_dir):
    return ingest.load_incident(DATA, cache_dir=shared_cache_dir)


def test_accounting_read_equals_independent_row_counts(incident):
    a = incident.accounting
    listed = set(a["file"])
    on_disk = {
        p.relative_to(DATA).as_posix()
        for p in DATA.rglob("*")
        if p.is_file() and p.name not in ("incident.json", "annotations.csv", "SHA256SUMS")
    }
    assert listed == on_disk
    counts = {f: count_rows(DATA / f) for f in on_disk}
    for rec in a.itertuples():
        assert rec.read == counts[rec.file], rec.file
        assert rec.read == rec.accepted + rec.rejected, rec.file
    assert a["read"].sum() == sum(counts.values())


def test_accepted_rows_are_the_tables(incident):
    a = incident.accounting
    kinds = {**ingest.LOG_KINDS, **ingest.TABLE_KINDS}
    for kind, name in kinds.items():
        assert a.loc[a["kind"] == kind, "accepted"].sum() == len(incident.table(name)), kind


def test_shipped_tables_are_pseudonymised_and_utc(incident):
    for name in ("requests", "registrations", "sessions"):
        users = incident.table(name)["user"].dropna()
        assert len(users) and users.str.fullmatch(r"u_[0-9a-f]{12}").all(), name
    assert str(incident.requests["ts"].dt.tz) == "UTC"
    start, end = incident.window
    assert incident.requests["ts"].between(start, end, inclusive="left").all()
    assert incident.display_tz == "Asia/Seoul"
