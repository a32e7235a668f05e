"""The shared helpers: one checksum, one JSON conversion, one reading of a UTC time."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from analysis._util import (
    format_checksums,
    format_utc,
    jsonable,
    parse_checksum_line,
    parse_utc,
    sha256_bytes,
    sha256_file,
)


def test_file_and_bytes_digests_agree_with_hashlib(tmp_path):
    data = b"x" * (3 << 20) + b"tail"  # more than one block
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected == sha256_bytes(data)
    assert sha256_file(str(path)) == expected
    assert sha256_bytes(b"") == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-06T05:00:00Z", "2026-02-06T05:00:00Z"),
        ("2026-02-06T14:00:00+09:00", "2026-02-06T05:00:00Z"),
        (pd.Timestamp("2026-02-06 05:00:00.25", tz="UTC"), "2026-02-06T05:00:00.250000Z"),
        (datetime(2026, 2, 6, 14, tzinfo=timezone(timedelta(hours=9))), "2026-02-06T05:00:00Z"),
        (datetime(2026, 2, 6, 5), "2026-02-06T05:00:00Z"),  # naive: UTC by convention
        (None, None),
        (pd.NaT, None),
        (float("nan"), None),
    ],
)
def test_format_utc(value, expected):
    assert format_utc(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-06T05:00:00Z",
        "2026-02-06T14:00:00+09:00",
        " 2026-02-06 05:00:00+00:00 ",
        pd.Timestamp("2026-02-06T05:00:00Z"),
        datetime(2026, 2, 6, 5, tzinfo=UTC),
    ],
)
def test_parse_utc_accepts_times_with_a_zone(value):
    ts = parse_utc(value)
    assert ts == pd.Timestamp("2026-02-06T05:00:00Z")
    assert str(ts.tz) == "UTC"


@pytest.mark.parametrize(
    "value",
    ["", "  ", "2026-02-06 05:00:00", "yesterday", "2026-13-40T00:00Z", None, pd.NaT, 17, True,
     datetime(2026, 2, 6, 5)],
)  # fmt: skip
def test_parse_utc_refuses_the_rest(value):
    assert parse_utc(value) is None


def test_jsonable_gives_plain_json_types():
    value = {
        1: np.int64(3),
        "f": np.float32(0.5),
        "nan": float("nan"),
        "inf": np.inf,
        "b": np.bool_(True),
        "arr": np.array([1, 2]),
        "t": (pd.Timestamp("2026-02-06T05:00:00Z"), pd.NaT, pd.NA, None),
        "s": "text",
    }
    out = jsonable(value)
    assert out == {
        "1": 3,
        "f": 0.5,
        "nan": None,
        "inf": None,
        "b": True,
        "arr": [1, 2],
        "t": ["2026-02-06T05:00:00+00:00", None, None, None],
        "s": "text",
    }
    assert type(out["1"]) is int and type(out["b"]) is bool and type(out["f"]) is float
    json.dumps(out, allow_nan=False)  # nothing JSON cannot hold


def test_jsonable_writes_timestamps_with_the_given_format():
    ts = pd.Timestamp("2026-02-06T05:00:00Z")
    assert jsonable([ts], time=format_utc) == ["2026-02-06T05:00:00Z"]


def test_checksums_are_written_and_read_as_sha256sum_does(tmp_path):
    a, b = "a" * 64, "0123456789abcdef" * 4
    text = format_checksums({"z/page.json.gz": a, "incident.json": b})
    assert text == f"{b}  incident.json\n{a}  z/page.json.gz\n"  # sorted by path
    assert [parse_checksum_line(line) for line in text.splitlines()] == [
        (b, "incident.json"),
        (a, "z/page.json.gz"),
    ]
    # sha256sum's binary marker and a ./ prefix are the same entry; anything else is not one
    assert parse_checksum_line(f"{a} *./x.csv\n") == (a, "x.csv")
    for bad in (f"{a} x.csv", f"{a[:-1]}  x.csv", f"{a.upper()}  x.csv", "", "  "):
        assert parse_checksum_line(bad) is None


def test_a_plain_datetime_is_formatted_like_a_timestamp():
    for value in (
        datetime(2026, 2, 6, 5, 0, tzinfo=UTC),
        datetime(2026, 2, 6, 14, 0, 0, 250000, tzinfo=timezone(timedelta(hours=9))),
        datetime(2026, 2, 6, 5, 0),  # naive: taken as UTC
    ):
        assert format_utc(value) == format_utc(pd.Timestamp(value))


def test_the_fetch_command_starts_without_pandas():
    # fetch shares _util's checksum and time helpers; pandas would add seconds to its start.
    code = "import sys, analysis.fetch; print(sorted({'pandas', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
