"""Recover the cells of CSVs written by react-csv 2.x, which quotes every cell but never escapes.

Older Studio downloads (``supabase_logs.csv``, docs/contract.md section 1) were written by
react-csv 2.x: every cell is wrapped in ``"``, cells are joined by ``,`` and rows by LF, a BOM
comes first, and a quote *inside* a cell is written as is (not doubled). Any cell holding a
quote (a JSON ``metadata`` cell, a Postgres message naming a constraint, a Realtime
``{:error, "..."}``) breaks RFC 4180 parsing.

The header has no quotes inside its cells, so the column set is known; each row is the
concatenation ``"c1","c2",...,"cn"``. A row's cells are recovered by choosing, among the
``","`` sequences inside it, the ``n - 1`` that give every cell a value its column can hold:
JSON columns must parse, identifier-like columns cannot hold a quote, timestamps look like
timestamps, free text takes anything. A row is accepted only when exactly one choice fits;
otherwise it is rejected with the reason (no fit, or more than one). Rows are separated at
``"`` LF ``"``; the shortest run of lines that makes one row is taken.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pandas as pd

#: A header line written by react-csv: every cell quoted, no quote inside a cell.
HEADER_RE = re.compile(r'^"[^"\n]*"(?:,"[^"\n]*")*$')
#: Columns whose JSON text react-csv received already stringified.
_JSON_COLUMNS = ("metadata", "log_attributes", "headers", "regions", "logs")
#: Columns whose values never hold a double quote.
_PLAIN_COLUMNS = (
    "id",
    "identifier",
    "method",
    "status",
    "status_code",
    "level",
    "log_type",
    "latency",
    "log_count",
    "host",
    "error_severity",
    "sql_state_code",
    "auth_user",
    "severity_text",
    "source",
    "project",
    "external_id",
)
_TIME_COLUMNS = ("timestamp", "date", "ts")
_TIME_RE = re.compile(r"\d+|\d{4}-[0-9:T .Z+\-]*")
_MISSING = ("", "null", "undefined")
#: Longest run of physical lines one row may span (bounds the work on a broken file).
MAX_LINES_PER_ROW = 200
#: Reasons of a row whose cells cannot be recovered.
NO_FIT = "unrecoverable quoting (react-csv export: no split of the row fits its columns)"
TWO_FITS = "ambiguous quoting (react-csv export: more than one split of the row fits)"


def looks_like_react_csv(text: str) -> bool:
    """Return whether a CSV's header line is written the react-csv way (every cell quoted)."""
    return HEADER_RE.match(text.split("\n", 1)[0].rstrip("\r")) is not None


def _fits(column: str, cell: str) -> bool:
    """Return whether ``cell`` is a value column ``column`` can hold."""
    if column in _JSON_COLUMNS:
        if cell in _MISSING:
            return True
        try:
            json.loads(cell)
        except (ValueError, RecursionError):
            return False
        return True
    if column in _TIME_COLUMNS:
        return cell in _MISSING or _TIME_RE.fullmatch(cell) is not None
    if column in _PLAIN_COLUMNS:
        return '"' not in cell
    return True


def split_row(body: str, columns: tuple[str, ...]) -> tuple[list[str] | None, str | None]:
    """Split the inside of one row (outer quotes removed) into cells; (cells, None) or (None, why).

    Counts the splits that fit up to two: one is the row, none or two is a reason.
    """
    seps = [m.start() for m in re.finditer('","', body)]
    n = len(columns)

    @cache
    def count(cell: int, start: int) -> tuple[int, tuple[str, ...] | None]:
        # Number of fitting splits of body[start:] into columns[cell:], and the first one.
        if cell == n - 1:
            rest = body[start:]
            return (1, (rest,)) if _fits(columns[cell], rest) else (0, None)
        total, first = 0, None
        for sep in seps:
            if sep < start:
                continue
            value = body[start:sep]
            if not _fits(columns[cell], value):
                continue
            sub, cells = count(cell + 1, sep + 3)
            if sub:
                total += sub
                first = first or (value, *cells)
            if total > 1:
                break
        return total, first

    total, cells = count(0, 0)
    count.cache_clear()
    if total == 1:
        return list(cells), None
    return None, NO_FIT if total == 0 else TWO_FITS


def read_react_csv(text: str) -> pd.DataFrame:
    """Read a react-csv 2.x CSV into all-text cells; unrecoverable rows carry ``_reject``.

    Rows that cannot be split get empty cells, ``_reject`` (the reason) and ``_found`` (the
    start of the row), so they are counted as rejected like any malformed row.
    """
    header_line, _, rest = text.partition("\n")
    columns = tuple(h.strip() for h in header_line.rstrip("\r")[1:-1].split('","'))
    # Physical pieces between candidate row boundaries ("\n").
    pieces = rest.rstrip("\n").split('"\n"') if rest.strip() else []
    if pieces:
        pieces[0] = pieces[0][1:] if pieces[0].startswith('"') else pieces[0]
        pieces[-1] = pieces[-1][:-1] if pieces[-1].endswith('"') else pieces[-1]
    rows: list[list[str]] = []
    reasons: list[tuple[str | None, str | None]] = []
    i = 0
    while i < len(pieces):
        for j in range(i, min(len(pieces), i + MAX_LINES_PER_ROW)):
            cells, why = split_row('"\n"'.join(pieces[i : j + 1]), columns)
            if cells is not None:
                rows.append(cells)
                reasons.append((None, None))
                i = j + 1
                break
        else:
            # No run of lines from here makes a row: this line alone is the rejected row.
            cells, why = split_row(pieces[i], columns)
            rows.append([""] * len(columns))
            reasons.append((why, pieces[i][:60]))
            i += 1
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    if any(r for r, _ in reasons):
        frame["_reject"] = [r for r, _ in reasons]
        frame["_found"] = [f for _, f in reasons]
    return frame
