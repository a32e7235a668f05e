"""Declarative schemas of the canonical tables (docs/contract.md section 2).

:data:`TABLES` declares each table once: its columns in order, their dtypes, which may be
missing, and the rules their values follow. ``ingest`` validates every table it returns
(:func:`validate_table`), so a violated schema is a bug in ingest or an unhandled kind of bad
input, reported as one :class:`~analysis.exceptions.SchemaError` line.

Two validations are built from the declaration: :func:`conforms`, the same checks computed
directly (a few milliseconds a table), and a :class:`pandera.pandas.DataFrameSchema` per table
(:func:`table_schemas`), which costs 15-40 ms a table whatever its size and words the error.
A table that conforms is accepted at once; anything else goes to pandera, so the error
messages are pandera's, and :func:`conforms` only has to be never more lenient than pandera
(tests/test_schemas.py checks that on every kind of violation). pandera is imported, and the
schemas built, only when a table does not conform (``SCHEMAS`` is resolved lazily): importing
it costs a process a quarter of a second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow

from analysis import vocabulary
from analysis._util import ROW_KEY_PATTERN
from analysis.exceptions import SchemaError
from analysis.vocabulary import ERROR_SEVERITIES

if TYPE_CHECKING:
    import pandera.pandas as pa

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
STR = "string"

PSEUDONYM = r"^u_[0-9a-f]{12}$"
#: A client address's pseudonym (analysis.addresses).
ADDRESS_PSEUDONYM = r"^a_[0-9a-f]{12}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: A webinar id (or a registration's own id): a uuid or a bigint, canonical (analysis._util).
ROW_KEY = ROW_KEY_PATTERN


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


@dataclass(frozen=True)
class Rule:
    """One check on a column's non-missing values, or on a whole table.

    ``kind`` is the pandera built-in it stands for (``str_matches``, ``str_startswith``,
    ``in_range``, ``ge``, ``isin``, ``str_length``, called with ``args``), or ``custom``: then
    ``test`` is called with the values (or the table) and returns booleans, under ``name``.
    """

    kind: str
    args: tuple = ()
    test: Callable | None = None
    name: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Field:
    """One column: its dtype (as pandera is given it), whether it may be missing, its rules."""

    dtype: object
    nullable: bool = False
    unique: bool = False
    rules: tuple[Rule, ...] = ()


def _custom(test: Callable, name: str, error: str | None = None) -> Rule:
    return Rule("custom", test=test, name=name, error=error)


#: Same rule as pandera's ``unique=True``, with compact keys for uuid columns.
UNIQUE = _custom(_unique_check, "unique", "values are not unique")


def _matches(pattern: str) -> Rule:
    return Rule("str_matches", (pattern,))


#: Canonical table -> (its columns in order, its table-wide rules): docs/contract.md section 2.
#: Both validations below are built from this one declaration.
TABLES: dict[str, tuple[dict[str, Field], tuple[Rule, ...]]] = {
    "requests": (
        {
            "id": Field(STR, unique=True),
            "ts": Field(UTC_NS),
            "method": Field(STR, rules=(_matches(r"^[A-Z]+$"),)),
            "path": Field(STR, rules=(Rule("str_startswith", ("/",)),)),
            "search": Field(STR, nullable=True),
            "status": Field("int64", rules=(Rule("in_range", (100, 599)),)),
            "origin_time_ms": Field("float64", nullable=True, rules=(Rule("ge", (0,)),)),
            "user": Field(STR, nullable=True, rules=(_matches(PSEUDONYM),)),
            "address": Field(STR, nullable=True, rules=(_matches(ADDRESS_PSEUDONYM),)),
            "endpoint": Field(STR),
            "client": Field(STR, nullable=True),
            "cf_ray": Field(STR, nullable=True),
        },
        (),
    ),
    "db_errors": (
        {
            "id": Field(STR, unique=True),
            "ts": Field(UTC_NS),
            "sql_state": Field(STR, nullable=True, rules=(_matches(r"^[0-9A-Z]{5}$"),)),
            "sql_state_class": Field(STR, nullable=True, rules=(Rule("str_length", (2, 2)),)),
            "severity": Field(STR, rules=(Rule("isin", (ERROR_SEVERITIES,)),)),
            "message": Field(STR),
            "constraint": Field(STR, nullable=True),
            "column": Field(STR, nullable=True),
            "relation": Field(STR, nullable=True),
            "user_name": Field(STR, nullable=True),
            "application_name": Field(STR, nullable=True),
            "command_tag": Field(STR, nullable=True),
            "detail": Field(STR, nullable=True),
            "query": Field(STR, nullable=True),
        },
        (
            _custom(
                # fillna(False): a sql_state whose class is missing must fail the rule, not
                # slip through as a missing comparison that ``all()`` skips.
                lambda df: (
                    df["sql_state"].isna()
                    | (df["sql_state"].str[:2] == df["sql_state_class"]).fillna(False)
                ),
                "sql_state_class is the first two characters of sql_state",
            ),
        ),
    ),
    "realtime_events": (
        {
            "id": Field(STR, unique=True),
            "ts": Field(UTC_NS),
            "level": Field(STR, nullable=True),
            "message": Field(STR),
            # Read when validating, so a family added to the vocabulary is valid at once.
            "family": Field(
                STR,
                rules=(
                    _custom(
                        lambda s: s.isin(vocabulary.realtime_families()),
                        "family is one of the vocabulary's Realtime families",
                    ),
                ),
            ),
            "connected": Field("Int64", nullable=True, rules=(Rule("ge", (0,)),)),
            "limit": Field("Int64", nullable=True, rules=(Rule("ge", (0,)),)),
        },
        (),
    ),
    "concurrency": (
        {
            "ts": Field(UTC_NS),
            "webinar_id": Field(STR, rules=(_matches(ROW_KEY),)),
            "viewers": Field("int64", rules=(Rule("ge", (0,)),)),
        },
        (),
    ),
    "sessions": (
        {
            "session_id": Field(STR),
            "webinar_id": Field(STR, rules=(_matches(ROW_KEY),)),
            "user": Field(STR, nullable=True, rules=(_matches(PSEUDONYM),)),
            "joined_at": Field(UTC_NS),
            "left_at": Field(UTC_NS, nullable=True),
        },
        (
            _custom(
                lambda df: df["left_at"].isna() | (df["left_at"] >= df["joined_at"]),
                "left_at is not before joined_at",
            ),
        ),
    ),
    "registrations": (
        {
            # The export's id, or one derived from the key (webinar_id, user_id).
            "id": Field(STR, unique=True),
            "ts": Field(UTC_NS),
            "webinar_id": Field(STR, rules=(_matches(ROW_KEY),)),
            "user": Field(STR, nullable=True, rules=(_matches(PSEUDONYM),)),
        },
        (),
    ),
    "webinars": (
        {
            "webinar_id": Field(STR, unique=True, rules=(_matches(ROW_KEY),)),
            "title": Field(STR),
            "starts_at": Field(UTC_NS, nullable=True),
            "ends_at": Field(UTC_NS, nullable=True),
            "status": Field(STR, nullable=True),
        },
        (),
    ),
}

#: The exact pandas dtype of each kind of column: what ``ingest`` casts to. pandera accepts
#: every string dtype alike; the canonical tables use ``pd.StringDtype()``.
CANONICAL_DTYPES = {
    STR: pd.StringDtype(),
    "int64": np.dtype("int64"),
    "float64": np.dtype("float64"),
    "Int64": pd.Int64Dtype(),
}


def _canonical_dtype(dtype: object) -> object:
    return UTC_NS if dtype == UTC_NS else CANONICAL_DTYPES[dtype]


def _pandera_check(rule: Rule) -> pa.Check:
    import pandera.pandas as pa

    if rule.kind == "custom":
        return pa.Check(rule.test, name=rule.name, error=rule.error)
    return getattr(pa.Check, rule.kind)(*rule.args)


@functools.cache
def table_schemas() -> dict[str, pa.DataFrameSchema]:
    """Return table name -> its pandera schema, built from :data:`TABLES` on first use."""
    import pandera.pandas as pa

    schemas = {}
    for name, (fields, rules) in TABLES.items():
        columns = {
            col: pa.Column(
                field.dtype,
                nullable=field.nullable,
                checks=[_pandera_check(r) for r in (*field.rules, *(UNIQUE,) * field.unique)],
            )
            for col, field in fields.items()
        }
        schemas[name] = pa.DataFrameSchema(
            columns,
            name=name,
            strict=True,
            ordered=True,
            checks=[_pandera_check(r) for r in rules],
        )
    return schemas


def __getattr__(name: str):
    # ``SCHEMAS`` is kept as a module attribute for readers; it is built on first access.
    if name == "SCHEMAS":
        return table_schemas()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ACCOUNTING_COLUMNS = ("file", "kind", "read", "accepted", "rejected", "reason")


def _all_true(result: object) -> bool:
    """Return True when a rule's outcome is True, or booleans all True (none missing)."""
    if isinstance(result, bool | np.bool_):
        return bool(result)
    if isinstance(result, pd.Series) and pd.api.types.is_bool_dtype(result.dtype):
        return not result.isna().any() and bool(result.all())
    return False  # another kind of outcome: pandera decides


def _rule_holds(rule: Rule, values: pd.Series) -> bool:
    """Whether ``rule`` holds for every one of ``values`` (non-missing), as pandera computes it.

    The built-ins are pandera's own pandas expressions. Those on text test each value alone,
    so they are computed once per distinct value: a column of 40,000 requests holds a few
    hundred paths and users.
    """
    kind, args = rule.kind, rule.args
    if kind == "custom":
        return _all_true(rule.test(values))
    if kind in ("str_matches", "str_startswith", "isin", "str_length"):
        values = pd.Series(values.unique(), dtype=values.dtype)
    if kind == "str_matches":
        return _all_true(values.str.match(args[0], na=False))
    if kind == "str_startswith":
        return _all_true(values.str.startswith(args[0], na=False))
    if kind == "isin":
        return _all_true(values.isin(args[0]))
    if kind == "str_length":
        lengths = values.str.len()
        return _all_true((lengths <= args[1]) & (lengths >= args[0]))
    if kind == "in_range":
        return _all_true((args[0] <= values) & (args[1] >= values))
    if kind == "ge":
        return _all_true(values >= args[0])
    return False  # a built-in not listed here: pandera decides


def conforms(name: str, frame: pd.DataFrame) -> bool:
    """Return True when ``frame`` passes every check of canonical table ``name``.

    The same checks as the pandera schema (:func:`table_schemas`, built from the same
    :data:`TABLES`) without pandera's machinery, which costs about 15-40 ms a table whatever
    its size: exact columns in order, exact dtypes, no missing value where none may be, each
    column's rules on its non-missing values, the table's rules. It is never more lenient
    than pandera: any doubt answers False, and :func:`validate_table` then asks pandera
    (tests/test_schemas.py compares the two on every kind of violation).
    """
    fields, rules = TABLES[name]
    if list(frame.columns) != list(fields):
        return False
    for col, field in fields.items():
        values = frame[col]
        if values.dtype != _canonical_dtype(field.dtype):
            return False
        missing = values.isna()
        if missing.any():
            if not field.nullable:
                return False
            values = values[~missing.to_numpy()]
        checks = (*field.rules, *(UNIQUE,) * field.unique)
        if not all(_rule_holds(rule, values) for rule in checks):
            return False
    return all(_all_true(rule.test(frame)) for rule in rules)


def validate_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate ``frame`` against the canonical schema ``name``; return it unchanged.

    A conforming frame (:func:`conforms`) is returned as it is; otherwise pandera validates
    it and words the error.

    Raises
    ------
    SchemaError
        One line naming the table, the column and check, and the first failing value.
    """
    if conforms(name, frame):
        return frame
    import pandera.pandas as pa

    try:
        return table_schemas()[name].validate(frame)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors) as error:
        # Columns out of order come as several errors at once even when not lazy: the first.
        exc = error.schema_errors[0] if isinstance(error, pa.errors.SchemaErrors) else error
        cases = exc.failure_cases
        found = None
        if isinstance(cases, pd.DataFrame) and len(cases):
            found = cases.iloc[0].get("failure_case")
        elif isinstance(cases, str):  # a column missing, out of order or not in the schema
            found = cases
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
    return {col: _canonical_dtype(field.dtype) for col, field in TABLES[name][0].items()}


def empty_table(name: str) -> pd.DataFrame:
    """Return an empty frame with the columns and dtypes of canonical table ``name``."""
    return pd.DataFrame({col: pd.Series([], dtype=dt) for col, dt in column_dtypes(name).items()})
