"""Frames that break each rule of the canonical schemas in one place (test helper).

:func:`violations` takes a valid table and yields ``(label, frame)`` pairs, each changed in
one way: a missing value, a value of another kind, a duplicated key, another dtype, the
columns moved, one dropped, one added, a table-wide rule broken. Some of the changes are
still valid (a value that happens to fit): the tests compare the two validations on all of
them, not an expected outcome.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from analysis.schemas import STR, TABLES, UTC_NS

#: Text put into one cell of a text column: near misses of every pattern and prefix.
TEXTS = (
    "",
    " ",
    "x",
    "GET",
    "get",
    "G3T",
    "/",
    "x/",
    " /x",
    "u_0123456789ab",
    "u_0123456789AB",
    "u_0123456789abc",
    "u_0123456789ab\n",
    "U_0123456789ab",
    "f257ce42-723a-4fad-a9a5-1bd8c154d7ce",
    "F257CE42-723A-4FAD-A9A5-1BD8C154D7CE",
    "f257ce42-723a-4fad-a9a5-1bd8c154d7ce\n",
    "f257ce42723a4fada9a51bd8c154d7ce",
    "23505",
    "2350",
    "23505x",
    "2350a",
    "23",
    "2",
    "ERROR",
    "error",
    "FATAL",
    "disconnect",
    "not_a_family",
    "\u0661\u0662\u0663\u0664\u0665",
)
#: Numbers put into one cell of a number column.
NUMBERS = (-1, 0, 1, 99, 100, 599, 600, 1e9, -0.5, float("inf"), float("-inf"))


def _with(frame: pd.DataFrame, col: str, row: int, value: object) -> pd.DataFrame:
    out = frame.copy()
    values = out[col].astype(object).to_numpy().copy()
    values[row] = value
    try:
        out[col] = pd.array(values, dtype=frame[col].dtype)
    except (TypeError, ValueError, OverflowError):
        return None
    return out


def _first_carrier(rules: tuple) -> tuple[str, str] | None:
    """The first table and column (in :data:`TABLES` order) that carries exactly ``rules``."""
    for table, (fields, _) in TABLES.items():
        for col, field in fields.items():
            if field.rules == rules:
                return table, col
    return None


def violations(name: str, frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(label, frame)``: ``frame`` (valid, non-empty) changed in one way each.

    Every text of :data:`TEXTS` goes into the first column that carries a given text rule
    (the pseudonym pattern of ``requests.user`` stands for ``sessions.user``'s); a column
    without rules, or whose rules were tried elsewhere, gets one text.
    """
    fields, _ = TABLES[name]
    last = len(frame) - 1
    yield "unchanged", frame
    for col, field in fields.items():
        missing = _with(frame, col, last, None)
        if missing is not None:
            yield f"{col} missing", missing
        if field.dtype == STR:
            full = field.rules and _first_carrier(field.rules) == (name, col)
            for text in TEXTS if full else TEXTS[2:3]:
                changed = _with(frame, col, last, text)
                if changed is not None:
                    yield f"{col} = {text!r}", changed
            if len(frame) > 1:
                twice = _with(frame, col, 1, frame[col].iloc[0])
                if twice is not None:
                    yield f"{col} repeats its first value", twice
            yield f"{col} as object", frame.assign(**{col: frame[col].astype(object)})
            yield (
                f"{col} as python strings",
                frame.assign(**{col: frame[col].astype(pd.StringDtype("python"))}),
            )
        elif field.dtype == UTC_NS:
            yield f"{col} in Seoul", frame.assign(**{col: frame[col].dt.tz_convert("Asia/Seoul")})
            yield f"{col} naive", frame.assign(**{col: frame[col].dt.tz_localize(None)})
            yield f"{col} in us", frame.assign(**{col: frame[col].astype("datetime64[us, UTC]")})
            early = _with(frame, col, last, pd.Timestamp("1970-01-01", tz="UTC"))
            if early is not None:
                yield f"{col} = 1970", early
        else:
            for number in NUMBERS:
                changed = _with(frame, col, last, number)
                if changed is not None:
                    yield f"{col} = {number!r}", changed
            yield f"{col} as float", frame.assign(**{col: frame[col].astype("float64")})
            yield f"{col} as object", frame.assign(**{col: frame[col].astype(object)})
        yield f"without {col}", frame.drop(columns=col)
    cols = list(frame.columns)
    yield "columns reversed", frame[cols[::-1]]
    yield "an extra column", frame.assign(extra=np.zeros(len(frame)))
    yield "index shifted", frame.set_axis(frame.index + 7)
    yield "empty", frame.iloc[:0]
