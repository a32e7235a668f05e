"""Timestamps of every export to ``datetime64[ns, UTC]``: the one place ingest parses time.

Encodings met in Supabase exports (docs/contract.md section 1): 16-digit integer microseconds
(BigQuery ``timestamp``), ISO 8601 with ``Z``, an offset or `` UTC`` (Explorer casts, unified
``date``), and ClickHouse's zone-less ``YYYY-MM-DD[T ]HH:MM:SS.ffffff`` which is UTC by
definition. An export shape may bring its own parser (``Shape.parse_time``); this is the
default one.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.ingest.cells import Rejections, all_match, arrow_text, to_text

#: Years a ``datetime64[ns]`` column holds whole (pandas' range is 1677-09-21 .. 2262-04-11).
RANGE = (1678, 2261)
RANGE_TEXT = f"outside the years {RANGE[0]}-{RANGE[1]} the tables can hold"
_MAX_MICROS = pd.Timestamp.max.value // 1000
#: ClickHouse's zone-less DateTime64 text.
NAIVE_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$"
#: ISO 8601 with a zone (``Z`` or an offset).
AWARE_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
#: :data:`NAIVE_RE` for Arrow's RE2, ASCII digits only and no surrounding space.
_NAIVE_ASCII = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{1,9})?$"


def iso_to_utc(text: pd.Series) -> pd.Series:
    """Parse ISO 8601 text to UTC (zone-less text is taken as UTC); unparsable -> NaT."""
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return pd.Series(parsed, index=text.index).astype("datetime64[ns, UTC]")


def is_aware_text(text: str) -> bool:
    """Return whether ``text`` is ISO 8601 with a zone (``Z``, an offset or `` UTC``)."""
    return re.fullmatch(AWARE_RE, text.replace(" UTC", "Z")) is not None


def _naive_fast(values: pd.Series, naive_is_utc) -> pd.Series | None:
    """ClickHouse's zone-less UTC text parsed by Arrow's cast when every value is one; else None.

    Only when the general path would accept every value: each matches :data:`NAIVE_RE`, is
    UTC for its row, lies within :data:`RANGE` and is a real calendar time (Arrow's cast
    refuses ``02-30`` or ``24:00``; the general path then rejects those rows one by one).
    """
    utc = naive_is_utc.all() if isinstance(naive_is_utc, pd.Series) else bool(naive_is_utc)
    arr = arrow_text(values) if utc else None
    if arr is None or not all_match(arr, _NAIVE_ASCII):
        return None
    years = pc.cast(pc.utf8_slice_codeunits(arr, 0, 4), pa.int64())
    if pc.min(years).as_py() < RANGE[0] or pc.max(years).as_py() > RANGE[1]:
        return None
    try:
        stamps = pc.cast(arr, pa.timestamp("ns")).cast(pa.timestamp("ns", tz="UTC"))
    except pa.ArrowInvalid:
        return None
    return pd.Series(stamps.to_pandas().array, index=values.index).astype("datetime64[ns, UTC]")


def parse_timestamps(
    values: pd.Series, rej: Rejections, name: str, *, naive_is_utc, open_end: bool = False
) -> pd.Series:
    """Parse mixed timestamp values to ``datetime64[ns, UTC]``; bad ones are rejected.

    Accepted: 16-digit integer microseconds (numbers or digit strings), ISO 8601 strings with
    ``Z``/an offset/`` UTC``, and, where ``naive_is_utc`` is true for the row, ClickHouse's
    zone-less ``YYYY-MM-DD[T ]HH:MM:SS.ffffff``. Milliseconds, seconds or nanoseconds where
    microseconds belong are rejected with their own reason, and so are well-formed times
    outside the years the tables can hold (:data:`RANGE`), except that with ``open_end`` a
    time past them (``9999-12-31``, a common "no end") or Postgres's ``infinity`` reads as
    missing: no end. A cell holding the word ``null`` (any case) is missing.
    """
    if (fast := _naive_fast(values, naive_is_utc)) is not None:
        return fast
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_numeric_dtype(values.dtype):
        nums = values.astype("Float64")
        text = pd.Series(pd.NA, index=values.index, dtype="string")
    else:
        text = to_text(values).str.strip()
        # Studio writes a NULL as an empty cell, other exporters as the word; an open end may
        # be Postgres's own 'infinity', which a timestamptz column holds and prints as such.
        words = ("null", "infinity", "+infinity") if open_end else ("null",)
        text = text.mask(text.str.lower().isin(words).fillna(False))
        digits = text.str.fullmatch(r"\d+").fillna(False)
        nums = pd.to_numeric(text.where(digits), errors="coerce").astype("Float64")
        text = text.where(~digits)
    units = (
        ((1e15, 1e16), None),
        ((1e12, 1e13), "milliseconds, expected 16-digit microseconds"),
        ((1e9, 1e10), "seconds, expected 16-digit microseconds"),
        ((1e18, 1e19), "nanoseconds, expected 16-digit microseconds"),
    )
    is_num = nums.notna()
    matched = pd.Series(False, index=values.index)
    for (low, high), problem in units:
        band = is_num & (nums >= low) & (nums < high)
        matched |= band
        if problem:
            rej.add(band, f"bad {name} ({problem})", values)
        elif band.any():
            band &= nums <= _MAX_MICROS
            micros = nums[band].astype("int64")
            out[band] = pd.to_datetime(micros.to_numpy(), unit="us", utc=True).astype(
                "datetime64[ns, UTC]"
            )
    rej.add(is_num & ~matched, f"bad {name} (expected microseconds since the epoch)", values)
    too_late = is_num & (nums > _MAX_MICROS) & (nums < 1e16)
    if not open_end:
        rej.add(too_late, f"bad {name} ({RANGE_TEXT})", values)
    has_text = text.notna() & ~is_num
    if has_text.any():
        t = text.where(has_text).str.replace(r" UTC$", "Z", regex=True)
        aware = t.str.fullmatch(AWARE_RE).fillna(False)
        naive = t.str.fullmatch(NAIVE_RE).fillna(False)
        naive_ok = naive & (
            naive_is_utc if isinstance(naive_is_utc, pd.Series) else bool(naive_is_utc)
        )
        rej.add(
            naive & ~naive_ok, f"naive timestamp in {name} (expected a time zone or offset)", values
        )
        # A spreadsheet shows 16-digit microseconds as 1.77035E+15 and saves what it shows:
        # the digits are gone, so the row cannot be read, only named for what happened.
        rej.add(
            has_text & t.str.fullmatch(r"\d[.,]\d+[Ee]\+\d+").fillna(False),
            f"bad {name} (a spreadsheet's scientific notation: the digits are lost;"
            " export again without a spreadsheet)",
            values,
        )
        rej.add(
            has_text & ~aware & ~naive, f"bad {name} (expected ISO 8601 or microseconds)", values
        )
        year = pd.to_numeric(t.str[:4], errors="coerce")
        late = (aware | naive_ok) & (year > RANGE[1]).fillna(False)
        early = (aware | naive_ok) & (year < RANGE[0]).fillna(False)
        rej.add(early | (late & (not open_end)), f"bad {name} ({RANGE_TEXT})", values)
        for mask, fix in ((aware & ~late & ~early, t), (naive_ok & ~late & ~early, t + "Z")):
            if mask.any():
                parsed = iso_to_utc(fix[mask])
                rej.add(
                    parsed.isna().reindex(values.index, fill_value=False),
                    f"bad {name} (expected ISO 8601 or microseconds)",
                    values,
                )
                out[mask] = parsed
    return out
