"""Timestamps of every export to ``datetime64[ns, UTC]``: the one place ingest parses time.

Encodings met in Supabase exports (docs/contract.md section 1): 16-digit integer microseconds
(BigQuery ``timestamp``), ISO 8601 with ``Z``, an offset or `` UTC`` (Explorer casts, unified
``date``), and ClickHouse's zone-less ``YYYY-MM-DD[T ]HH:MM:SS.ffffff`` which is UTC by
definition. An export shape may bring its own parser (``Shape.parse_time``); this is the
default one.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.exceptions import IngestError
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

#: Epoch units an all-digit time may be in: (name, lowest, highest, microseconds a unit).
#: Each band spans 2001-09-09 to past 2262 and no two overlap, so within any plausible date
#: the size of the number names its unit; a number in no band (a 12-digit one: seconds in
#: 5138 or milliseconds in 1975) is refused rather than guessed.
UNITS = (
    ("microseconds", 1e15, 1e16, 1.0),
    ("milliseconds", 1e12, 1e13, 1e3),
    ("seconds", 1e9, 1e10, 1e6),
    ("nanoseconds", 1e18, 1e19, 1e-3),
)
AMBIGUOUS = (
    "an epoch time whose size names no unit: expected 10, 13, 16 or 19 digits"
    " (seconds, milliseconds, microseconds, nanoseconds)"
)


def files_of(files, index: pd.Index) -> np.ndarray:
    """Return the file of each row: ``files`` is a Series (one per row), a name, or None."""
    if isinstance(files, pd.Series):
        return files.astype(object).to_numpy()
    return np.full(len(index), "" if files is None else str(files), dtype=object)


def epoch_units(nums: pd.Series, files, rej: Rejections, name: str, values: pd.Series):
    """Return each row's unit (1-based index into :data:`UNITS`, 0 for none) by magnitude.

    Raises
    ------
    IngestError
        The rows of one file imply two units: one writer writes one unit, so such a column
        is two exports joined or a damaged one, and which reading is right cannot be known.
    """
    arr = nums.to_numpy(dtype="float64", na_value=np.nan)
    code = np.zeros(len(arr), dtype=np.int8)
    for i, (_, low, high, _) in enumerate(UNITS, start=1):
        code[(arr >= low) & (arr < high)] = i
    if np.count_nonzero(np.bincount(code, minlength=len(UNITS) + 1)[1:]) < 2:
        return code
    labels = files_of(files, nums.index)
    for file in pd.unique(labels[code > 0]):
        here = np.flatnonzero((labels == file) & (code > 0))
        odd = here[code[here] != code[here[0]]]
        if len(odd):
            found = values.iloc[odd[0]]
            raise IngestError(
                file or name,
                "epoch times in two units in one column",
                row=int(rej.rows.iloc[odd[0]]),
                field=name,
                expected=f"one unit a column ({UNITS[code[here[0]] - 1][0]}, as row"
                f" {int(rej.rows.iloc[here[0]])})",
                found=found.item() if isinstance(found, np.generic) else found,
            )
    return code


def _to_micros(nums: pd.Series, code: np.ndarray, exact) -> pd.Series:
    """Return the microseconds (float, NaN where no unit) of each row's number."""
    factor = np.array([np.nan, *(u[3] for u in UNITS)])[code]
    micros = np.round(nums.to_numpy(dtype="float64", na_value=np.nan) * factor)
    nano = code == len(UNITS)
    if nano.any() and exact is not None:
        whole = exact.iloc[np.flatnonzero(nano)]
        if pd.api.types.is_integer_dtype(whole.dtype):
            micros[nano] = whole.to_numpy() // 1000
        else:  # 19 digits of text: the last three are below a microsecond
            done = whole.notna().to_numpy()
            micros[np.flatnonzero(nano)[done]] = whole[done].str[:-3].astype("int64")
    return pd.Series(micros, index=nums.index)


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
    values: pd.Series,
    rej: Rejections,
    name: str,
    *,
    naive_is_utc,
    open_end: bool = False,
    files=None,
) -> pd.Series:
    """Parse mixed timestamp values to ``datetime64[ns, UTC]``; bad ones are rejected.

    Accepted: epoch times (numbers or digit strings, a fraction allowed) in the unit their
    size names (:data:`UNITS`: Supabase's 16-digit microseconds, or seconds, milliseconds,
    nanoseconds as other writers give them; one unit for the rows of one file of ``files``,
    and each unit other than microseconds recorded in ``rej.readings`` so that it is stated),
    ISO 8601 strings with ``Z``/an offset/`` UTC``, and, where ``naive_is_utc`` is true for
    the row, ClickHouse's zone-less ``YYYY-MM-DD[T ]HH:MM:SS.ffffff``. A number of no unit is
    rejected, and so are well-formed times outside the years the tables can hold
    (:data:`RANGE`), except that with ``open_end`` a time past them (``9999-12-31``, a common
    "no end") or Postgres's ``infinity`` reads as missing: no end. A cell holding the word
    ``null`` (any case) is missing.

    Parameters
    ----------
    files
        The file of each row (a Series), of every row (a name), or None: the unit is decided
        per file.
    """
    if (fast := _naive_fast(values, naive_is_utc)) is not None:
        return fast
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_numeric_dtype(values.dtype):
        nums = values.astype("Float64")
        text = pd.Series(pd.NA, index=values.index, dtype="string")
        # Nanoseconds past 2**53 lose digits as floats: integers are divided exactly.
        exact = values if pd.api.types.is_integer_dtype(values.dtype) else None
    else:
        text = to_text(values).str.strip()
        # Studio writes a NULL as an empty cell, other exporters as the word; an open end may
        # be Postgres's own 'infinity', which a timestamptz column holds and prints as such.
        words = ("null", "infinity", "+infinity") if open_end else ("null",)
        text = text.mask(text.str.lower().isin(words).fillna(False))
        # A fraction is how a notebook or a BI tool writes seconds (``time.time()``).
        digits = text.str.fullmatch(r"\d+(?:\.\d+)?").fillna(False)
        nums = pd.to_numeric(text.where(digits), errors="coerce").astype("Float64")
        exact = text.where(digits & text.str.fullmatch(r"\d{19}").fillna(False))
        text = text.where(~digits)
    is_num = nums.notna()
    code = epoch_units(nums, files, rej, name, values)
    matched = pd.Series(code > 0, index=values.index)
    micros = _to_micros(nums, code, exact)
    for unit in np.unique(code[code > 1]):
        # Supabase writes microseconds; any other unit is a reading worth stating.
        for file in pd.Series(files_of(files, values.index)[code == unit]).unique():
            rej.readings[(str(file), name)] = UNITS[unit - 1][0]
    ok = matched & micros.notna() & (micros <= _MAX_MICROS)
    if ok.any():
        out[ok] = pd.to_datetime(micros[ok].astype("int64").to_numpy(), unit="us", utc=True).astype(
            "datetime64[ns, UTC]"
        )
    rej.add(is_num & ~matched, f"bad {name} ({AMBIGUOUS})", values)
    if not open_end:
        rej.add(
            matched & (micros > _MAX_MICROS).fillna(False), f"bad {name} ({RANGE_TEXT})", values
        )
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
            has_text & ~aware & ~naive, f"bad {name} (expected ISO 8601 or an epoch time)", values
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
                    f"bad {name} (expected ISO 8601 or an epoch time)",
                    values,
                )
                out[mask] = parsed
    return out
