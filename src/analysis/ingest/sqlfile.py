r"""Table rows saved as SQL: Studio's table editor "Export as SQL" and ``supabase db dump``.

Both write what Postgres would run to insert the rows (docs/supabase-exports.md §8): Studio one
``INSERT INTO <table> (<columns>) VALUES (...), (...);`` per table, the CLI's ``pg_dump`` one
``INSERT`` per 100,000 rows of every table of the database (or, with ``--use-copy``, a
``COPY <table> (<columns>) FROM stdin;`` block of tab-separated lines ended by ``\.``). The rows
are returned as the text a CSV export of the same table holds, so the table readers treat
them alike. Every other statement (``SET``, ``SELECT pg_catalog.setval``, ...) holds no row and
is skipped; psql meta-commands (a line starting with a backslash) too.

Values are not evaluated: a string literal is its text, a number or ``true`` its spelling,
``NULL`` and ``DEFAULT`` an empty cell, and any other expression (``ARRAY[...]``, a function
call) its SQL text. Anything that is not an ``INSERT`` the reader can follow is one
:class:`IngestError` naming the file, the line and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from analysis.exceptions import IngestError

_IDENT = r'"(?:[^"]|"")+"|[A-Za-z_][\w$]*'
_REL = rf"(?P<rel>(?:{_IDENT})(?:\s*\.\s*(?:{_IDENT}))?)"
_COLS = r'\(\s*(?P<cols>(?:"(?:[^"]|"")*"|[^)"])*)\)'
_INSERT_RE = re.compile(
    rf"INSERT\s+INTO\s+{_REL}\s*(?:{_COLS}\s*)?"
    r"(?:OVERRIDING\s+(?:SYSTEM|USER)\s+VALUE\s+)?VALUES\b\s*",
    re.IGNORECASE,
)
#: An INSERT's head, to tell one whose rows cannot be read from one that holds none.
_INSERT_HEAD_RE = re.compile(rf"INSERT\s+INTO\s+{_REL}\s*(?:{_COLS}\s*)?", re.IGNORECASE)
#: What may follow an INSERT's head when its rows are not in the file (a query's result).
_NO_ROWS_RE = re.compile(r"(?:SELECT|WITH|DEFAULT\s+VALUES|TABLE|ON\b)", re.IGNORECASE)
_COPY_RE = re.compile(
    rf"COPY\s+{_REL}\s*(?:{_COLS}\s*)?FROM\s+stdin\b(?P<opts>[^;\r\n]*);[ \t]*(?:\r\n|\r|\n|$)",
    re.IGNORECASE,
)
_IDENT_RE = re.compile(_IDENT)
# A comment ends at a CR as well as at a LF (Postgres's lexer): a file saved with CR-only
# line ends (classic Mac OS) must not turn into one comment.
_SPACE_RE = re.compile(r"(?:\s+|--[^\r\n]*|/\*.*?\*/)+", re.DOTALL)
_LINE_END_RE = re.compile(r"\r\n|\r|\n")
_STRING_RE = re.compile(r"'((?:[^']|'')*)'")
_ESTRING_RE = re.compile(r"[Ee]'((?:[^'\\]|\\.|'')*)'", re.DOTALL)
_DOLLAR_RE = re.compile(r"\$([A-Za-z_][\w]*)?\$")
_CAST_RE = re.compile(r'(?:\s*::\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\[\s*\])*)*')
_BARE_RE = re.compile(r"[^,()\[\]\s'\"$;]+")
_E_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_COPY_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
#: Words a bare value may be that stand for no value at all.
_EMPTY_WORDS = ("null", "default")


@dataclass
class SqlTable:
    """The rows one SQL file holds for one table, as text cells (None: NULL or DEFAULT).

    ``line`` is the line of the table's first statement, for messages; a table inserted by
    several statements (``pg_dump`` writes one per 100,000 rows) is one :class:`SqlTable`.
    """

    schema: str | None
    name: str
    columns: list[str]
    line: int
    rows: list[list[str | None]] = field(default_factory=list)
    #: Rows read; a table the caller does not keep (:func:`read_sql_tables`) only counts them.
    count: int = 0
    keep: bool = True

    def add(self, row: list[str | None]) -> None:
        """Count a row, keeping its values when the table is kept."""
        self.count += 1
        if self.keep:
            self.rows.append(row)

    @property
    def qualified(self) -> str:
        """``schema.name``, or ``name`` alone for ``public`` and an unqualified table."""
        return self.name if self.schema in (None, "public") else f"{self.schema}.{self.name}"


def unquote_ident(text: str) -> str:
    """Return a SQL identifier's name: quotes removed, an unquoted name folded to lower case."""
    text = text.strip()
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def split_relation(text: str) -> tuple[str | None, str]:
    """Return (schema, table) of ``schema.table`` or ``table`` (quoted or not)."""
    parts = [unquote_ident(m.group(0)) for m in _IDENT_RE.finditer(text)]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def split_columns(text: str | None) -> list[str] | None:
    """Return the names of a column list's text (None when the statement has none)."""
    if text is None:
        return None
    return [unquote_ident(m.group(0)) for m in _IDENT_RE.finditer(text)]


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    try:
        if code[0] in "xuU" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
    except ValueError:  # past the last code point: kept as written
        return match.group(0)
    # Any other escaped character stands for itself (``\\`` is one backslash).
    return _ESCAPES.get(code, code)


def line_of(text: str, pos: int) -> int:
    """Return the 1-based line number of offset ``pos``."""
    return len(_LINE_END_RE.findall(text, 0, pos)) + 1


class _Scanner:
    """Walks the statements of one SQL file, collecting the rows of each table."""

    def __init__(self, path: Path, text: str, keep=None) -> None:
        self.path, self.text, self.pos = path, text, 0
        self.keep = keep
        self.tables: dict[tuple[str | None, str], SqlTable] = {}

    def fail(self, problem: str, expected: str, pos: int | None = None) -> IngestError:
        pos = self.pos if pos is None else pos
        snippet = _LINE_END_RE.split(self.text[pos : pos + 40], maxsplit=1)[0]
        return IngestError(
            f"{self.path}, line {line_of(self.text, pos)}",
            problem,
            expected=expected,
            found=snippet or "the end of the file",
        )

    def skip_space(self) -> None:
        m = _SPACE_RE.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def table(self, rel: str, cols: str | None, pos: int) -> SqlTable:
        schema, name = split_relation(rel)
        columns = split_columns(cols)
        if columns is None:
            raise self.fail(
                f"rows of {name} without column names",
                "INSERT INTO table (columns) VALUES ... (pg_dump --column-inserts, "
                "Studio's Export as SQL) or COPY table (columns) FROM stdin",
                pos,
            )
        found = self.tables.get((schema, name))
        if found is None:
            found = self.tables[(schema, name)] = SqlTable(
                schema, name, columns, line_of(self.text, pos)
            )
            found.keep = self.keep is None or bool(self.keep(name, columns))
        elif found.columns != columns:
            raise self.fail(
                f"rows of {name} with other columns than its first statement's",
                f"the columns {found.columns}",
                pos,
            )
        return found

    def scan(self) -> list[SqlTable]:
        text = self.text
        while True:
            self.skip_space()
            if self.pos >= len(text):
                return list(self.tables.values())
            if text.startswith("\\", self.pos):
                # A psql meta-command (\connect, \restrict ...) runs to the end of its line.
                m = _LINE_END_RE.search(text, self.pos)
                self.pos = len(text) if m is None else m.end()
                continue
            if m := _COPY_RE.match(text, self.pos):
                self.read_copy(m)
            elif m := _INSERT_RE.match(text, self.pos):
                self.read_insert(m)
            elif (m := _INSERT_HEAD_RE.match(text, self.pos)) and not _NO_ROWS_RE.match(
                text, m.end()
            ):
                # Skipped as a statement without rows, a damaged INSERT would lose its rows.
                raise self.fail(
                    "unreadable INSERT statement",
                    "INSERT INTO table (columns) VALUES (...)",
                    m.end(),
                )
            else:
                self.skip_statement()

    def skip_statement(self) -> None:
        """Move past the next ``;`` that is outside quotes (a statement holding no rows)."""
        text, start = self.text, self.pos
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == ";":
                self.pos += 1
                return
            if ch == "'":
                m = _STRING_RE.match(text, self.pos)
                if not m:
                    raise self.fail("unterminated string", "a closing quote")
                self.pos = m.end()
            elif ch == '"':
                end = text.find('"', self.pos + 1)
                if end < 0:
                    raise self.fail("unterminated quoted name", 'a closing "')
                self.pos = end + 1
            elif ch == "$" and (m := _DOLLAR_RE.match(text, self.pos)):
                end = text.find(m.group(0), m.end())
                if end < 0:
                    raise self.fail("unterminated dollar-quoted string", m.group(0))
                self.pos = end + len(m.group(0))
            elif text.startswith("--", self.pos) or text.startswith("/*", self.pos):
                self.skip_space()
            else:
                self.pos += 1
        if text[start:].strip():
            raise self.fail("statement without an ending ';'", "SQL statements ended by ';'", start)

    # ---------------------------------------------------------------------------- INSERT

    def read_insert(self, m: re.Match) -> None:
        table = self.table(m.group("rel"), m.group("cols"), m.start())
        self.pos = m.end()
        text = self.text
        while True:
            self.skip_space()
            if not text.startswith("(", self.pos):
                raise self.fail(f"unreadable row of {table.name}", "a row '(' after VALUES")
            start = self.pos
            self.pos += 1
            row = self.read_tuple(table)
            if len(row) != len(table.columns):
                raise self.fail(
                    f"a row of {table.name} has {len(row)} values",
                    f"{len(table.columns)}, one per column {table.columns}",
                    start,
                )
            table.add(row)
            self.skip_space()
            if text.startswith(",", self.pos):
                self.pos += 1
                continue
            if text.startswith(";", self.pos):
                self.pos += 1
                return
            if re.match(r"(?:ON\s+CONFLICT|RETURNING)\b", text[self.pos : self.pos + 20], re.I):
                self.skip_statement()
                return
            if self.pos >= len(text):
                raise self.fail(
                    f"INSERT into {table.name} not ended", "';' after its last row (a cut file?)"
                )
            raise self.fail(f"unreadable INSERT into {table.name}", "',' or ';' after a row")

    def read_tuple(self, table: SqlTable) -> list[str | None]:
        values: list[str | None] = []
        text = self.text
        while True:
            self.skip_space()
            values.append(self.read_value(table))
            self.skip_space()
            if text.startswith(",", self.pos):
                self.pos += 1
            elif text.startswith(")", self.pos):
                self.pos += 1
                return values
            else:
                raise self.fail(f"unreadable value in a row of {table.name}", "',' or ')'")

    def read_value(self, table: SqlTable) -> str | None:
        text, pos = self.text, self.pos
        ch = text[pos : pos + 1]
        value: str | None
        if not ch:
            raise self.fail(f"row of {table.name} cut short", "a SQL value (a cut file?)")
        if ch == "'":
            m = _STRING_RE.match(text, pos)
            if not m:
                raise self.fail(f"unterminated string in a row of {table.name}", "a closing '")
            value, self.pos = m.group(1).replace("''", "'"), m.end()
        elif ch in "Ee" and text.startswith("'", pos + 1):
            m = _ESTRING_RE.match(text, pos)
            if not m:
                raise self.fail(f"unterminated string in a row of {table.name}", "a closing '")
            value = _E_ESCAPE_RE.sub(_unescape, m.group(1).replace("''", "'"))
            self.pos = m.end()
        elif ch == "$" and (m := _DOLLAR_RE.match(text, pos)):
            end = text.find(m.group(0), m.end())
            if end < 0:
                raise self.fail(f"unterminated string in a row of {table.name}", m.group(0))
            value, self.pos = text[m.end() : end], end + len(m.group(0))
        elif ch in "([" or text[pos : pos + 6].upper() == "ARRAY[":
            value = self.read_expression(table)
        else:
            m = _BARE_RE.match(text, pos)
            if not m:
                raise self.fail(f"unreadable value in a row of {table.name}", "a SQL value")
            value, self.pos = m.group(0), m.end()
            if text.startswith("(", self.pos):  # a function call: its SQL text
                self.pos = pos
                value = self.read_expression(table)
            elif value.lower() in _EMPTY_WORDS:
                value = None
        cast = _CAST_RE.match(text, self.pos)
        self.pos = cast.end()
        return value

    def read_expression(self, table: SqlTable) -> str:
        """Return the SQL text of a bracketed expression (``ARRAY[...]``, ``f(...)``, ``(...)``)."""
        text, start = self.text, self.pos
        m = _BARE_RE.match(text, self.pos)
        if m:
            self.pos = m.end()
        depth = 0
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return text[start : self.pos]
            elif ch == "'":
                m = _STRING_RE.match(text, self.pos)
                if not m:
                    break
                self.pos = m.end()
                continue
            elif ch == "$" and (m := _DOLLAR_RE.match(text, self.pos)):
                end = text.find(m.group(0), m.end())
                if end < 0:
                    break
                self.pos = end + len(m.group(0))
                continue
            self.pos += 1
        raise self.fail(f"unbalanced brackets in a row of {table.name}", "a closing bracket", start)

    # ------------------------------------------------------------------------------ COPY

    def read_copy(self, m: re.Match) -> None:
        table = self.table(m.group("rel"), m.group("cols"), m.start())
        if m.group("opts").strip():
            raise self.fail(
                f"COPY of {table.name} with options {m.group('opts').strip()!r}",
                "pg_dump's text format (COPY table (columns) FROM stdin;)",
                m.start(),
            )
        text = self.text
        self.pos = m.end()
        while True:
            if self.pos >= len(text):
                raise self.fail(
                    f"COPY data of {table.name} not ended",
                    "a line '\\.' after its rows (a cut file?)",
                    m.start(),
                )
            # COPY's text format escapes a CR in a value (\r), so a bare CR ends a line too.
            found = _LINE_END_RE.search(text, self.pos)
            end = len(text) if found is None else found.start()
            line = text[self.pos : end]
            start, self.pos = self.pos, len(text) + 1 if found is None else found.end()
            if line == "\\.":
                return
            cells = line.split("\t")
            if len(cells) != len(table.columns):
                raise self.fail(
                    f"a COPY row of {table.name} has {len(cells)} fields",
                    f"{len(table.columns)} tab-separated, one per column {table.columns}",
                    start,
                )
            table.add([None if c == "\\N" else _COPY_ESCAPE_RE.sub(_unescape, c) for c in cells])


def read_sql_tables(path: Path, text: str, keep=None) -> list[SqlTable]:
    """Return the tables whose rows a SQL file inserts, in order of their first statement.

    ``keep(name, columns) -> bool`` chooses the tables whose values are kept; the others'
    rows are only counted (a whole-database dump's other tables can be far larger).

    Raises
    ------
    IngestError
        A statement the reader cannot follow (naming the file's line): rows without a column
        list, a row with more or fewer values than columns, an unterminated string, a cut
        file, COPY in another format than pg_dump's.
    """
    return _Scanner(path, text, keep).scan()
