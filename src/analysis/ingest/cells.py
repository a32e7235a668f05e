"""Cell coercion with per-row rejection: text, numbers, required fields, first-non-null picks.

Every coercion that fails gives its row a reason in a :class:`Rejections`; the first reason a
row gets is the one counted in the accounting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Text that pandas reads as an integer and Arrow's cast reads the same (no ``+``, no overflow).
_INT_TEXT = r"^-?[0-9]{1,18}$"
#: Text of a number both readers agree on, digit for digit (Arrow's parser rounds correctly).
_NUMBER_TEXT = r"^-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"


class Rejections:
    """Per-row rejection reasons of a batch; the first reason a row gets is the one counted."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.reason = pd.Series(pd.NA, index=frame.index, dtype=object)
        self.values: dict[str, pd.Series | None] = {}
        # (file, column) -> the epoch unit its times were read in, when not microseconds.
        self.readings: dict[tuple[str, str], str] = {}
        self.rows = frame["_row"]
        if "_reject" in frame.columns:
            mask = frame["_reject"].notna()
            self.reason[mask] = frame.loc[mask, "_reject"]
            found = frame["_found"] if "_found" in frame.columns else None
            for reason in frame.loc[mask, "_reject"].unique():
                self.values[reason] = found

    def add(self, mask: pd.Series, reason: str, values: pd.Series | None = None) -> None:
        """Give ``reason`` to the rows of ``mask`` that have none yet."""
        mask = mask.fillna(False).astype(bool) & self.reason.isna()
        if mask.any():
            self.reason[mask] = reason
            self.values.setdefault(reason, values)

    def first(self, index, reason: str) -> tuple[int, object]:
        """Return (row number, offending value) of the row at ``index``."""
        values = self.values.get(reason)
        value = None if values is None else values.get(index)
        if isinstance(value, np.generic):
            value = value.item()
        elif value is not None and not isinstance(value, (str, int, float)):
            value = str(value)
        return int(self.rows.loc[index]), None if value is pd.NA else value

    @property
    def ok(self) -> pd.Series:
        """Rows without a reason."""
        return self.reason.isna()


def has_nul(values: pd.Series) -> pd.Series | None:
    """Rows whose value is text holding a NUL character; None when no value does."""
    arr = arrow_text(values)
    if arr is not None:
        # The characters of every value lie in one data buffer a chunk: a byte search over it
        # (memchr) clears a column at once; Arrow's per-value search runs only on a hit.
        buffers = [chunk.buffers()[2] for chunk in arr.chunks]
        if not any(b"\x00" in buf.to_pybytes() for buf in buffers if buf is not None):
            return None
        found = pc.fill_null(pc.match_substring(arr, "\x00"), False)
        if not pc.any(found).as_py():
            return None
        return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)
    if isinstance(values.dtype, pd.StringDtype):
        found = values.str.contains("\x00", regex=False).fillna(False).astype(bool)
    elif values.dtype == object:
        found = values.map(lambda v: isinstance(v, str) and "\x00" in v).astype(bool)
    else:
        return None
    return found if found.any() else None


def reject_nul(frame: pd.DataFrame, rej: Rejections) -> None:
    """Reject rows with a NUL character in any field (``_`` columns aside).

    No Supabase writer puts one in a value (Postgres text cannot hold it; HTTP keeps it out
    of header and URL text), so a NUL is damage: a byte run zeroed by a disk or a sync, or
    another program's string end. The value around it is not the value written.
    """
    for name in frame.columns:
        if name.startswith("_"):
            continue
        found = has_nul(frame[name])
        if found is not None:
            rej.add(found, f"NUL character in {name} (a damaged value)", frame[name])


def pick(frame: pd.DataFrame, aliases: Iterable[str]) -> pd.Series:
    """Return the first non-null value across the alias columns present in ``frame``."""
    out = None
    for name in aliases:
        if name in frame.columns:
            col = frame[name]
            out = col if out is None else out.where(out.notna(), col)
    if out is None:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return out


def has_any(frame: pd.DataFrame, aliases: Iterable[str]) -> bool:
    """Return whether any alias column exists in ``frame``."""
    return any(a in frame.columns for a in aliases)


def to_text(values: pd.Series) -> pd.Series:
    """Return values as pandas ``string`` (non-string scalars stringified, containers as JSON)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values
    if values.dtype == object and values.map(lambda v: isinstance(v, (dict, list))).any():
        values = values.map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
    return values.astype("string")


def arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """Return the Arrow array behind a pyarrow-backed text Series with a value (else None)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arr = pa.array(values.array)
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    return arr if arr.null_count < len(arr) else None


def all_match(arr: pa.ChunkedArray, pattern: str) -> bool:
    """Return whether every non-null value of ``arr`` matches the RE2 ``pattern``."""
    return bool(pc.all(pc.match_substring_regex(arr, pattern)).as_py())


def _numbers_fast(values: pd.Series) -> pd.Series | None:
    """Numbers from text in which every value is a plain number, by Arrow's cast; else None.

    The general path's result exactly: all-integer text is read as integers first (pandas
    does, so ``-0`` is 0), other text as doubles, both rounded correctly. Anything else
    (signs, spaces, words, overflow) is left to the general path, which rejects per row.
    """
    arr = arrow_text(values)
    if arr is None:
        return None
    try:
        if all_match(arr, _INT_TEXT):
            nums = pc.cast(pc.cast(arr, pa.int64()), pa.float64(), safe=False)
        elif all_match(arr, _NUMBER_TEXT):
            nums = pc.cast(arr, pa.float64())
        else:
            return None
    except pa.ArrowInvalid:
        return None
    out = nums.to_pandas(types_mapper={pa.float64(): pd.Float64Dtype()}.get)
    return pd.Series(out.array, index=values.index)


def blank_to_na(values: pd.Series) -> pd.Series:
    """Return ``values`` as ``string`` with empty strings as missing."""
    text = values.astype("string")
    return text.mask(text.eq("").fillna(False))


def to_number(values: pd.Series, rej: Rejections, name: str, *, integer: bool) -> pd.Series:
    """Coerce to numbers; values that are present but not numbers are rejected."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        nums = values.astype("Float64")
    elif (fast := _numbers_fast(values)) is not None:
        nums = fast
    else:
        text = to_text(values).str.strip()
        nums = pd.to_numeric(
            text.where(text.str.fullmatch(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")), errors="coerce"
        ).astype("Float64")
    bad = values.notna() & nums.isna()
    if integer:
        bad |= nums.notna() & (nums != nums.round())
    rej.add(bad, f"bad {name} (expected {'an integer' if integer else 'a number'})", values)
    return nums.round().astype("Int64") if integer else nums.astype("float64")


def require(values: pd.Series, rej: Rejections, name: str) -> None:
    """Reject rows where a required field is missing."""
    rej.add(values.isna(), f"missing {name}")


def map_unique(values: pd.Series, func) -> pd.Series:
    """Apply ``func`` once per distinct value (missing stays missing); return ``string``."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = pd.array([*[func(v) for v in uniques], None], dtype="string")
    return pd.Series(lookup[codes], index=values.index, dtype="string")
