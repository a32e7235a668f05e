"""Declarative schemas of the canonical tables (docs/contract.md section 2).

Each table has one :class:`pandera.pandas.DataFrameSchema`; ``ingest`` validates every table
it returns against it, so a violated schema is a bug in ingest or an unhandled kind of bad
input, reported as one :class:`~analysis.exceptions.SchemaError` line.

pandera is imported, and the schemas built, on first use (``SCHEMAS`` is resolved lazily):
only a fresh parse validates, and a report that reads ingest's cache never needs them
(importing pandera costs a report process and its kernel a quarter second each).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow

from analysis import vocabulary
from analysis.exceptions import SchemaError
from analysis.vocabulary import ERROR_SEVERITIES

if TYPE_CHECKING:
    import pandera.pandas as pa

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
STR = "string"

PSEUDONYM = r"^u_[0-9a-f]{12}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16)
_UUID_HEX_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
_KEY = np.dtype([("hi", ">u8"), ("lo", ">u8")])


def uuid_keys(values: pd.Series) -> np.ndarray | None:
    """Pack lower-case uuid strings into 16-byte keys, or None if any value is not one.

    Upper-case hex is left to the string path so equality stays exact string equality.

    Comparing ten million uuids as 16-byte keys takes a fraction of the memory of hashing
    them as strings, which is what bounds ingest's peak on very large exports.
    """
    arrow = pyarrow.array(values.array) if len(values) else None
    if arrow is None:
        return np.zeros(0, dtype=_KEY)
    chunks = arrow.chunks if isinstance(arrow, pyarrow.ChunkedArray) else [arrow]
    out = []
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        large = pyarrow.types.is_large_string(chunk.type)
        if chunk.null_count or not (large or pyarrow.types.is_string(chunk.type)):
            return None
        width = np.int64 if large else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[
            chunk.offset : chunk.offset + n + 1
        ]
        if not (np.diff(offsets) == 36).all():
            return None
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[0] + 36 * n]
        text = data.reshape(n, 36)
        if not (text[:, [8, 13, 18, 23]] == ord("-")).all():
            return None
        nibbles = _HEX[text[:, _UUID_HEX_POS]]
        if (nibbles == 255).any():
            return None
        packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
        out.append(np.ascontiguousarray(packed).view(_KEY).reshape(n))
    return np.concatenate(out) if out else np.zeros(0, dtype=_KEY)


def duplicated_first(values: pd.Series) -> np.ndarray:
    """Return a mask of the values that repeat an earlier one (the first copy is kept)."""
    keys = uuid_keys(values)
    if keys is None:
        return values.duplicated(keep="first").to_numpy()
    # Copies share their first half: only values whose first half repeats need the full
    # comparison (one 8-byte hash pass, then a handful of rows; three times faster).
    out = np.zeros(len(keys), dtype=bool)
    first = keys["hi"].astype(np.uint64)  # native byte order: pandas hashes nothing else
    maybe = np.flatnonzero(pd.Series(first).duplicated(keep=False).to_numpy())
    if len(maybe):
        halves = pd.DataFrame({"hi": first[maybe], "lo": keys["lo"][maybe].astype(np.uint64)})
        out[maybe[halves.duplicated(keep="first").to_numpy()]] = True
    return out


def _unique_check(values: pd.Series) -> bool:
    return not duplicated_first(values).any()


def _col(dtype, *, nullable: bool = False, unique: bool = False, checks=None) -> pa.Column:
    import pandera.pandas as pa

    checks = list(checks or [])
    if unique:
        # Same rule as pandera's ``unique=True``, with compact keys for uuid columns.
        checks.append(pa.Check(_unique_check, name="unique", error="values are not unique"))
    return pa.Column(dtype, nullable=nullable, checks=checks)


def _schema(name: str, columns: dict, checks=None) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    return pa.DataFrameSchema(columns, name=name, strict=True, ordered=True, checks=checks or [])


@functools.cache
def table_schemas() -> dict[str, pa.DataFrameSchema]:
    """Return table name -> its pandera schema (built once, on first use)."""
    import pandera.pandas as pa

    return {
        "requests": _schema(
            "requests",
            {
                "id": _col(STR, unique=True),
                "ts": _col(UTC_NS),
                "method": _col(STR, checks=[pa.Check.str_matches(r"^[A-Z]+$")]),
                "path": _col(STR, checks=[pa.Check.str_startswith("/")]),
                "search": _col(STR, nullable=True),
                "status": _col("int64", checks=[pa.Check.in_range(100, 599)]),
                "origin_time_ms": _col("float64", nullable=True, checks=[pa.Check.ge(0)]),
                "user": _col(STR, nullable=True, checks=[pa.Check.str_matches(PSEUDONYM)]),
                "endpoint": _col(STR),
                "client": _col(STR, nullable=True),
                "cf_ray": _col(STR, nullable=True),
            },
        ),
        "db_errors": _schema(
            "db_errors",
            {
                "id": _col(STR, unique=True),
                "ts": _col(UTC_NS),
                "sql_state": _col(
                    STR, nullable=True, checks=[pa.Check.str_matches(r"^[0-9A-Z]{5}$")]
                ),
                "sql_state_class": _col(STR, nullable=True, checks=[pa.Check.str_length(2, 2)]),
                "severity": _col(STR, checks=[pa.Check.isin(ERROR_SEVERITIES)]),
                "message": _col(STR),
                "constraint": _col(STR, nullable=True),
                "column": _col(STR, nullable=True),
                "relation": _col(STR, nullable=True),
                "user_name": _col(STR, nullable=True),
                "application_name": _col(STR, nullable=True),
                "command_tag": _col(STR, nullable=True),
                "detail": _col(STR, nullable=True),
                "query": _col(STR, nullable=True),
            },
            checks=[
                pa.Check(
                    lambda df: (
                        df["sql_state"].isna() | (df["sql_state"].str[:2] == df["sql_state_class"])
                    ),
                    name="sql_state_class is the first two characters of sql_state",
                )
            ],
        ),
        "realtime_events": _schema(
            "realtime_events",
            {
                "id": _col(STR, unique=True),
                "ts": _col(UTC_NS),
                "level": _col(STR, nullable=True),
                "message": _col(STR),
                # Read when validating, so a family added to the vocabulary is valid at once.
                "family": _col(
                    STR,
                    checks=[
                        pa.Check(
                            lambda s: s.isin(vocabulary.realtime_families()),
                            name="family is one of the vocabulary's Realtime families",
                        )
                    ],
                ),
                "connected": _col("Int64", nullable=True, checks=[pa.Check.ge(0)]),
                "limit": _col("Int64", nullable=True, checks=[pa.Check.ge(0)]),
            },
        ),
        "concurrency": _schema(
            "concurrency",
            {
                "ts": _col(UTC_NS),
                "webinar_id": _col(STR, checks=[pa.Check.str_matches(UUID)]),
                "viewers": _col("int64", checks=[pa.Check.ge(0)]),
            },
        ),
        "sessions": _schema(
            "sessions",
            {
                "session_id": _col(STR),
                "webinar_id": _col(STR, checks=[pa.Check.str_matches(UUID)]),
                "user": _col(STR, nullable=True, checks=[pa.Check.str_matches(PSEUDONYM)]),
                "joined_at": _col(UTC_NS),
                "left_at": _col(UTC_NS, nullable=True),
            },
            checks=[
                pa.Check(
                    lambda df: df["left_at"].isna() | (df["left_at"] >= df["joined_at"]),
                    name="left_at is not before joined_at",
                )
            ],
        ),
        "registrations": _schema(
            "registrations",
            {
                # The export's id, or one derived from the key (webinar_id, user_id).
                "id": _col(STR, unique=True),
                "ts": _col(UTC_NS),
                "webinar_id": _col(STR, checks=[pa.Check.str_matches(UUID)]),
                "user": _col(STR, nullable=True, checks=[pa.Check.str_matches(PSEUDONYM)]),
            },
        ),
        "webinars": _schema(
            "webinars",
            {
                "webinar_id": _col(STR, unique=True, checks=[pa.Check.str_matches(UUID)]),
                "title": _col(STR),
                "starts_at": _col(UTC_NS, nullable=True),
                "ends_at": _col(UTC_NS, nullable=True),
                "status": _col(STR, nullable=True),
            },
        ),
    }


def __getattr__(name: str):
    # ``SCHEMAS`` is kept as a module attribute for readers; it is built on first access.
    if name == "SCHEMAS":
        return table_schemas()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ACCOUNTING_COLUMNS = ("file", "kind", "read", "accepted", "rejected", "reason")


def validate_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate ``frame`` against the canonical schema ``name``; return it unchanged.

    Raises
    ------
    SchemaError
        One line naming the table, the column and check, and the first failing value.
    """
    import pandera.pandas as pa

    try:
        return table_schemas()[name].validate(frame)
    except pa.errors.SchemaError as exc:
        cases = exc.failure_cases
        found = None
        if isinstance(cases, pd.DataFrame) and len(cases):
            found = cases.iloc[0].get("failure_case")
        column = getattr(exc.schema, "name", None) if exc.schema is not None else None
        raise SchemaError(
            f"canonical table '{name}'",
            "schema violated",
            field=str(column) if column and column != name else None,
            expected=str(exc.check) if exc.check is not None else str(exc).splitlines()[0],
            found=found,
        ) from None


def column_dtypes(name: str) -> dict[str, object]:
    """Return column -> pandas dtype of canonical table ``name``.

    Text columns are ``pd.StringDtype()`` (missing = ``pd.NA``); pandera treats every string
    dtype alike, so the exact dtype is fixed here and cast by ``ingest``.
    """
    out = {}
    for col, spec in table_schemas()[name].columns.items():
        dtype = spec.dtype.type
        out[col] = pd.StringDtype() if isinstance(dtype, pd.StringDtype) else dtype
    return out


def empty_table(name: str) -> pd.DataFrame:
    """Return an empty frame with the columns and dtypes of canonical table ``name``."""
    return pd.DataFrame({col: pd.Series([], dtype=dt) for col, dt in column_dtypes(name).items()})
