"""Ingest's cell coercions: the Arrow fast paths give exactly what the general path gives.

Numbers and ClickHouse timestamps that arrive as Arrow-backed text are read by Arrow's casts
when every value is well formed; the general path (pandas, per-row rejection) reads the same
values as plain Python objects. Both must give the same values and the same rejections.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from analysis.ingest import canonical, cells, timestamps
from analysis.ingest.cells import Rejections, to_number
from analysis.ingest.timestamps import parse_timestamps


def _both(values: list, func):
    """Run ``func(series, rejections)`` on Arrow text and on objects; return both outcomes."""
    out = []
    for dtype in ("string", object):
        series = pd.Series(values, dtype=dtype)
        frame = pd.DataFrame({"_row": np.arange(1, len(values) + 1)})
        rej = Rejections(frame)
        result = func(series, rej)
        out.append((result, rej.reason.tolist()))
    return out


def _same(fast, general) -> None:
    (a, reasons_a), (b, reasons_b) = fast, general
    assert reasons_a == reasons_b
    pd.testing.assert_series_equal(a, b)
    if a.dtype == "float64":  # -0.0 and 0.0 compare equal; their bytes do not
        assert np.array_equal(np.signbit(a.to_numpy()), np.signbit(b.to_numpy()))


def _random_number(rng: random.Random) -> str:
    text = str(rng.randint(0, 10 ** rng.randint(1, 19)))
    if rng.random() < 0.5:
        text += "." + str(rng.randint(0, 10**6)).zfill(rng.randint(1, 6))
    if rng.random() < 0.1:
        text += f"e{rng.randint(-320, 320)}"
    return ("-" if rng.random() < 0.2 else "") + text


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize(
    "values",
    [
        ["200", "404", None, "503"],
        ["-0", "5", None],
        ["-0", "5.5"],
        ["00012", "7"],
        ["24", "24.5", "1e3", "1E-2", "-3.25"],
        ["1e400", "1"],
        ["1" * 400, "2"],  # hostile lengths: the same overflow and underflow on both paths
        ["1" * 5000 + ".5", "2"],
        ["0." + "0" * 400 + "1", "2"],
        ["1e99999999999", "1"],
        ["123456789012345678", "1"],
        ["99999999999999999999", "1"],
        ["+5", "6"],
        [" 7", "8"],
        ["7 ", "abc", None],
        ["0x10", "1"],
        ["１２", "3"],
        ["nan", "1"],
        ["", "1"],
        [None, None],
    ],
)
def test_numbers_from_text_same_on_both_paths(values, integer):
    runs = _both(values, lambda s, r: to_number(s, r, "status", integer=integer))
    _same(*runs)


def test_numbers_from_random_text_same_on_both_paths():
    rng = random.Random(15)
    for _ in range(20):
        values = [_random_number(rng) for _ in range(500)]
        for integer in (True, False):
            _same(*_both(values, lambda s, r, i=integer: to_number(s, r, "x", integer=i)))
    # The fast path did read them (no fallback): Arrow's cast parsed every value.
    assert cells._numbers_fast(pd.Series(values, dtype="string")) is not None


NAIVE = [
    "2026-02-06T05:00:00.012000",
    "2026-02-06 05:00:01",
    "2026-02-06T05:00:00.123456789",
    "2026-02-06T05:00:00.1",
    None,
]


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["2026-02-30T00:00:00"],  # no such day
        ["2026-02-06T24:00:00"],
        ["2026-02-06T23:59:60"],
        ["1677-12-31T00:00:00"],  # outside the years a table holds
        ["2262-01-01T00:00:00"],
        ["9999-12-31T23:59:59"],
        ["2026-02-06T05:00:00Z"],  # a zone among zone-less text
        ["2026-02-06T05:00:00+09:00"],
        [" 2026-02-06T05:00:00"],
        ["2026-02-06T05:00:00.1234567891"],
        ["1770354000012000"],  # microseconds as text
        ["yesterday"],
        ["２０２６-02-06T05:00:00"],
    ],
)
@pytest.mark.parametrize("naive_is_utc", [True, False, "series"])
@pytest.mark.parametrize("open_end", [False, True])
def test_clickhouse_text_times_same_on_both_paths(extra, naive_is_utc, open_end):
    values = NAIVE + extra
    if naive_is_utc == "series":
        naive_is_utc = pd.Series([True] * (len(values) - 1) + [False])

    def parse(series, rej):
        return parse_timestamps(
            series, rej, "timestamp", naive_is_utc=naive_is_utc, open_end=open_end
        )

    _same(*_both(values, parse))


def test_clickhouse_text_times_take_the_fast_path():
    series = pd.Series(NAIVE, dtype="string")
    fast = timestamps._naive_fast(series, True)
    assert fast is not None and fast.dtype == "datetime64[ns, UTC]"
    assert fast[2] == pd.Timestamp("2026-02-06T05:00:00.123456789Z") and pd.isna(fast[4])
    assert timestamps._naive_fast(series, False) is None
    assert timestamps._naive_fast(pd.Series(["2026-02-30T00:00:00"], dtype="string"), True) is None


URLS = [
    "https://abc.supabase.co/rest/v1/t?select=*&id=eq.1",
    "http://localhost:54321/auth/v1/user",
    "https://x.supabase.co/rest/v1/한글?q=é",
    "https://",
    "ftp://x/y",
    "https://x.co/a b",
    "https://x.co",
    "https://x.co/",
    "https://x.co/p?q#f",
    "https://x.co/p#f?q",
    "HTTPS://X.CO/p?q",
    "x?y",
    "https://x.co/p?a\nb",
]


def _random_message(rng: random.Random) -> str | None:
    pieces = [
        rng.choice(["GET", "POST", "get", "PATCH", "", "G3T", "DELETE"]),
        rng.choice(["200", " 409 ", "", "5xx", "101", "  "]),
        rng.choice(["203.0.113.24", "2001:db8::1", ""]),
        rng.choice(["8a1f2c3d4e5f6a7b", "8a1f2c3d4e5f6a7b-ICN", ""]),
        rng.choice(URLS),
        rng.choice(["Mozilla/5.0 (X11; Linux)", "curl/8.0", "", "a|b"]),
    ]
    if rng.random() < 0.3:  # the newer form without IP and ray
        del pieces[2:4]
    sep = rng.choice([" | ", " | ", "|", " |\n"])
    text = sep.join(pieces)
    if rng.random() < 0.05:
        return None
    return text if rng.random() > 0.05 else "\n" + text


def test_edge_messages_split_alike_by_arrow_and_by_pandas(monkeypatch):
    rng = random.Random(7)
    messages = pd.Series([_random_message(rng) for _ in range(3000)], dtype="string")
    by_arrow = canonical.split_edge_message(messages)
    assert by_arrow["method"].notna().sum() > 500 and by_arrow["url"].notna().sum() > 500
    monkeypatch.setattr(canonical, "arrow_text", lambda values: None)
    by_pandas = canonical.split_edge_message(messages)
    pd.testing.assert_frame_equal(by_arrow, by_pandas)


def test_urls_split_alike_by_arrow_and_by_pandas(monkeypatch):
    rng = random.Random(8)
    tails = ["", "/more", "?x=1", "#top"]
    values = [rng.choice(URLS) + rng.choice(tails) for _ in range(1000)]
    urls = pd.Series([*values, None], dtype="string")
    by_arrow = canonical.split_url(urls)
    assert by_arrow[0].notna().sum() > 200 and by_arrow[1].notna().sum() > 200
    monkeypatch.setattr(canonical, "arrow_text", lambda values: None)
    by_pandas = canonical.split_url(urls)
    for a, b in zip(by_arrow, by_pandas, strict=True):
        pd.testing.assert_series_equal(a, b)
