"""Bytes to text, JSON and CSV cells: the checks every export file passes before its shape is read.

Nothing here knows about log sources; each function raises one :class:`IngestError` line
naming the file and what was wrong with it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis._util import sha256_file
from analysis.exceptions import IngestError
from analysis.ingest import reactcsv

#: Largest decompressed size of one gzip file. A page of the Management API is a few MB and a
#: Studio download at most tens of MB; a file that inflates past this is refused (a gzip bomb
#: of 1 MB can inflate to GBs), before it can take the machine's memory.
MAX_GUNZIP_BYTES = 512 * 1024 * 1024
#: Largest CSV cell (Postgres logs events up to 100,000 characters; JSON cells hold more).
MAX_CSV_FIELD = 64 * 1024 * 1024


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file; an unreadable file is one :class:`IngestError`."""
    try:
        return sha256_file(path)
    except OSError as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: OSError) -> IngestError:
    """Return the one-line error of a file or directory the system will not let us read."""
    return IngestError(
        path, "cannot read", expected="a readable file", found=exc.strerror or type(exc).__name__
    )


def read_bytes(path: Path) -> bytes:
    """Return a file's bytes; an unreadable file is one :class:`IngestError`."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise unreadable(path, exc) from None


def gunzip(path: Path, data: bytes, limit: int | None = None) -> bytes:
    """Decompress gzip ``data`` (every member), refusing to inflate past ``limit`` bytes.

    Raises
    ------
    IngestError
        Corrupt or truncated gzip, or more than ``limit`` (default
        :data:`MAX_GUNZIP_BYTES`) bytes once decompressed.
    """
    limit = MAX_GUNZIP_BYTES if limit is None else limit
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=47)
            chunk = inflater.decompress(rest, limit + 1 - size)
            while True:
                size += len(chunk)
                out.append(chunk)
                if size > limit:
                    raise IngestError(
                        path,
                        "gzip file too large once decompressed",
                        expected=f"at most {limit // (1024 * 1024)} MiB per file",
                        found=f"more than that from {len(data)} compressed bytes",
                    )
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                chunk = inflater.decompress(inflater.unconsumed_tail, limit + 1 - size)
            if not inflater.eof:
                raise zlib.error("incomplete or truncated stream")
            rest = inflater.unused_data
            # Trailing zero padding after the last member (tar-style) is not another member.
            if not rest.strip(b"\x00"):
                break
    except zlib.error as exc:
        raise IngestError(
            path, "corrupt or truncated gzip", expected="a complete gzip stream", found=str(exc)
        ) from None
    return b"".join(out)


def require_list(value, path: Path, *, field: str, problem: str, expected: str) -> list:
    """Return ``value`` if it is a list; else raise naming the file, the field and the type.

    Raises
    ------
    IngestError
        ``value`` is not a list.
    """
    if not isinstance(value, list):
        raise IngestError(path, problem, field=field, expected=expected, found=type(value).__name__)
    return value


def describe_archive(data: bytes) -> tuple[str, str] | None:
    """Name a binary container saved under an export's name, and what to do; None if none.

    A spreadsheet's "Save" writes a workbook, a download button can give a zip, and
    ``pg_dump -Fc`` writes its custom format: each is refused by name rather than as bytes
    that are not UTF-8.
    """
    if data.startswith(b"PK\x03\x04"):
        if b"[Content_Types].xml" in data[:4096] or b"xl/" in data[:4096]:
            return "an Excel workbook (xlsx)", "CSV text (Excel: Save As, CSV UTF-8)"
        return "a zip archive", "the export itself (unzip it first)"
    if data.startswith(b"PGDMP"):
        return (
            "a pg_dump custom-format archive",
            "SQL text (pg_restore --data-only -f data.sql ARCHIVE writes it)",
        )
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "an Excel 97-2003 workbook (xls)", "CSV text (Excel: Save As, CSV UTF-8)"
    if data[257:262] == b"ustar":
        return "a tar archive", "the export itself (unpack it first)"
    if data.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "a 7-Zip archive", "the export itself (unpack it first)"
    return None


def read_text(path: Path) -> str:
    """Return a file's text: gunzipped if gzip, never empty.

    UTF-8 (with or without a BOM), UTF-16 behind its BOM (Excel's "Unicode text") and Korean
    Windows CP949 (Excel's CSV in a Korean locale; :func:`decode_korean_windows`).

    Raises
    ------
    IngestError
        Unreadable or empty file, ``.gz`` that is not gzip, truncated gzip or one that
        inflates past :data:`MAX_GUNZIP_BYTES`, UTF-32, or bytes in none of those encodings
        (naming the line).
    """
    data = read_bytes(path)
    if not data:
        raise IngestError(path, "empty file", expected="an export", found="0 bytes")
    if (archive := describe_archive(data)) is not None:
        raise IngestError(
            path, f"{archive[0]}, not a text export", expected=archive[1], found=data[:8].hex(" ")
        )
    is_gzip = data[:2] == b"\x1f\x8b"
    if path.name.endswith(".gz") and not is_gzip:
        raise IngestError(
            path, "not a gzip file", expected="gzip magic bytes 1f 8b", found=data[:8].hex(" ")
        )
    if is_gzip:
        data = gunzip(path, data)
        if not data.strip():
            raise IngestError(path, "empty file", expected="an export", found="empty gzip content")
        if (archive := describe_archive(data)) is not None:
            # A .tar.gz of exports inflates to a tar, whose zero padding would otherwise be
            # taken for a crash's NUL tail.
            raise IngestError(
                path, f"{archive[0]} (gzipped), not a text export", expected=archive[1]
            )
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise IngestError(
            path, "wrong text encoding", expected="UTF-8 or UTF-16", found="a UTF-32 BOM"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" (and other Windows tools) write UTF-16 behind a BOM, which
        # says the encoding without doubt.
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(
                path,
                "not UTF-16 text after a UTF-16 BOM",
                expected="UTF-16",
                found=f"bytes {data[exc.start : exc.start + 2].hex(' ')} at offset {exc.start}",
            ) from None
    else:
        if data.startswith(b"\xef\xbb\xbf"):
            # Spreadsheet round-trips add a UTF-8 BOM; it is not part of the first column name.
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = decode_korean_windows(path, data, exc)
    if not text.strip():
        raise IngestError(path, "empty file", expected="an export", found="only whitespace")
    zeros = len(text) - len(text.rstrip("\x00"))
    if zeros:
        # No export ends in NUL characters: a file system fills what a crash kept it from
        # writing with zeros, so the rows that belonged there are lost, not merely padded.
        raise IngestError(
            path,
            "the file ends in NUL bytes (a write cut short by a crash?)",
            expected="text to the end of the file",
            found=f"{zeros} NUL characters from character {len(text) - zeros}",
        )
    return text


#: Hangul syllables: a CP949 file re-saved by a Korean Excel holds them.
_HANGUL_RE = re.compile("[\uac00-\ud7a3]")
#: Bytes UTF-8 could not decode, as the ``surrogateescape`` handler leaves them.
_UNDECODED_RE = re.compile("[\udc80-\udcff]")
#: Characters beyond ASCII (with the undecoded bytes among them).
_BEYOND_ASCII_RE = re.compile("[^\x00-\x7f]")
#: Least share of a CP949 reading's double-byte characters that must be of KS X 1001.
CP949_WANSUNG_SHARE = 0.9


#: Files a spreadsheet saves (the only writers of CP949 among the routes); JSON and SQL come
#: from programs that write UTF-8, where a stray byte is damage, not another encoding.
_SPREADSHEET_SUFFIXES = (".csv", ".tsv", ".txt")


def is_korean_windows(data: bytes, text: str) -> bool:
    """Tell, from the whole file, whether bytes that are not UTF-8 are Korean Windows text.

    ``text`` is ``data`` decoded strictly as CP949. Two tests over every non-ASCII byte
    (docs/supabase-exports.md section 8):

    - UTF-8 loses: more bytes fail UTF-8 than there are UTF-8 characters beyond ASCII. A
      UTF-8 file with one damaged character has one to three bad bytes among its many good
      characters; in CP949 Korean few byte pairs happen to be UTF-8 (its common syllables
      start with 0xB0-0xC8, and 0xB0-0xC1 cannot start a UTF-8 character).
    - the characters are Korean Windows text: it holds a Hangul syllable, and at least
      :data:`CP949_WANSUNG_SHARE` of its double-byte characters are of KS X 1001 (both bytes
      0xA1-0xFE: every common syllable, symbol and hanja). A UTF-8 lead byte cut from its
      character and followed by an ASCII letter reads as one of CP949's extension
      syllables (trail byte 0x41-0x7A), which are rare in text.
    """
    utf8 = data.decode("utf-8", errors="surrogateescape")
    undecoded = len(_UNDECODED_RE.findall(utf8))
    beyond_ascii = len(_BEYOND_ASCII_RE.findall(utf8)) - undecoded
    if undecoded <= beyond_ascii or not _HANGUL_RE.search(text):
        return False
    counts = {ch: n for ch, n in Counter(text).items() if ch > "\x7f"}
    wansung = sum(
        n for ch, n in counts.items() if min(ch.encode("cp949", errors="replace")) >= 0xA1
    )
    return wansung >= CP949_WANSUNG_SHARE * sum(counts.values())


def decode_korean_windows(path: Path, data: bytes, exc: UnicodeDecodeError) -> str:
    """Return CP949 text (a CSV saved by Excel in a Korean locale), or raise the UTF-8 error.

    CP949 (EUC-KR and its extension) is taken only for a spreadsheet's file (a CSV) that
    decodes strictly as CP949 and whose bytes, over the whole file, read as Korean Windows
    text rather than as UTF-8 with a damaged character (:func:`is_korean_windows`); anything
    else is refused with the line and byte that are not UTF-8. A JSON or SQL file is never
    CP949.
    """
    text = None
    if path.name.lower().removesuffix(".gz").endswith(_SPREADSHEET_SUFFIXES):
        try:
            text = data.decode("cp949")
        except UnicodeDecodeError:
            text = None
    if text is not None and is_korean_windows(data, text):
        return text
    line = data.count(b"\n", 0, exc.start) + 1
    raise IngestError(
        path,
        "not UTF-8 text",
        row=None,
        expected="UTF-8 (or UTF-16 with its BOM, or Korean Windows CP949)",
        found=f"byte {data[exc.start]:#04x} on line {line} (offset {exc.start})",
    ) from None


class KeyTwice(dict):
    """A JSON object in which a key was given twice with different values (``key``).

    JSON parsers keep the last value, but which one the writer meant cannot be known (no
    Supabase writer gives a key twice), so a row holding such an object is rejected
    (:func:`twice_reason`), never read with a guess.
    """

    __slots__ = ("key",)


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    first: dict = {}
    for key, value in pairs:
        if key in first and first[key] != value:
            twice = KeyTwice(obj)
            twice.key = key
            return twice
        first.setdefault(key, value)
    return obj  # the same value twice: nothing to choose between


def parse_json(text: str):
    """Parse JSON; an object with a key given twice (different values) is a :class:`KeyTwice`."""
    return json.loads(text, object_pairs_hook=_object)


def twice_reason(key: str) -> str:
    """Return the rejection reason of a row holding an object with ``key`` given twice."""
    return f"key given twice with different values ({key[:40]})"


def load_json(path: Path, text: str):
    """Parse JSON text; a syntax error (e.g. truncation) is one :class:`IngestError` line."""
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and (rows := json_lines(text, path)) is not None:
            return rows
        raise IngestError(
            path,
            "invalid JSON",
            expected="a complete JSON document",
            found=f"{exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except RecursionError:
        raise IngestError(
            path, "JSON nested too deeply", expected="an export's rows", found="deeper nesting"
        ) from None


def json_lines(text: str, path: Path | None = None) -> list | None:
    """Rows of JSON Lines text, or None.

    One object a line (BigQuery's and log drains' export), or one list of objects a line: a
    log drain's receiver that appends each POST body (a list of events) as a line.

    Raises
    ------
    IngestError
        With ``path``: a line after whole ones is no JSON (a batch cut short, a damaged line,
        a value nested past any parser): named by its number, not as the document's "extra
        data" on line 2.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            if path is None or not rows:
                return None
            last = isinstance(exc, json.JSONDecodeError) and not any(
                rest.strip() for rest in text.splitlines()[number:]
            )
            raise IngestError(
                path,
                "JSON Lines " + ("cut short" if last else "with a damaged line"),
                expected="one complete JSON object a line",
                found=f"line {number}: "
                + (exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"),
            ) from None
        if isinstance(row, list) and all(isinstance(item, dict) for item in row):
            rows.extend(row)
        elif isinstance(row, dict):
            rows.append(row)
        else:
            return None
    return rows


def api_error_message(error) -> str:
    """Return the human message of a Management API / Logflare ``error`` value."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        parts = [str(error.get("message") or error.get("status") or "")]
        for item in error.get("errors") or []:
            if isinstance(item, dict) and item.get("message") and item["message"] not in parts:
                parts.append(f"{item['message']} ({item.get('reason', '')})".replace(" ()", ""))
        if error.get("code"):
            parts.insert(0, f"code {error['code']}:")
        return " ".join(p for p in parts if p) or json.dumps(error)[:120]
    return json.dumps(error)[:120]


def read_csv_rows(path: Path, text: str) -> pd.DataFrame:
    """Read a CSV export as all-text cells (RFC 4180 quoting, CRLF, multi-line cells).

    A file that breaks RFC 4180 but is written the react-csv 2.x way (every cell quoted, inner
    quotes not doubled: older Studio downloads) is read by recovering its cells from the
    column set (:mod:`analysis.ingest.reactcsv`); rows that cannot be recovered carry a
    ``_reject`` reason.

    Raises
    ------
    IngestError
        Unterminated or stray quotes, ragged rows, a missing or duplicated header.
    """
    try:
        header, rows, written = _read_rfc4180(path, text, sniff_delimiter(text))
        frame = pd.DataFrame(rows, columns=header, dtype=object)
    except IngestError:
        if not reactcsv.looks_like_react_csv(text):
            raise
        frame = reactcsv.read_react_csv(text)
        header = written = [c for c in frame.columns if not c.startswith("_")]
    if not header or not any(header):
        raise IngestError(path, "no header row", expected="a CSV header", found=text[:40])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise IngestError(
            path,
            "duplicated column in header",
            field=dupes[0],
            expected="unique column names",
            found=header,
        )
    mark_repeated_headers(frame, written)
    return frame


#: Reason counted for a data row that is the file's header again.
REPEATED_HEADER = "repeated header row (two exports joined into one file)"


def mark_repeated_headers(frame: pd.DataFrame, written: list[str]) -> None:
    """Reject, in place, the rows that repeat the header (downloads joined with ``cat``).

    Two downloads of the same query joined into one file carry the second one's header as a
    data row. It holds no event; read as one it would be rejected for whatever its first
    unparsable cell is, which names the wrong cause. ``written`` is the header as the file
    spells it: one writer writes it the same way twice, and comparing the first cell as is
    keeps the check to one comparison a row (case folding every cell cost 12 % of reading a
    200,000-row CSV).
    """
    if frame.empty or not written:
        return
    first = frame.iloc[:, 0].to_numpy() == written[0]
    if not first.any():
        return
    candidates = frame.iloc[np.flatnonzero(first), : len(written)]
    repeated = candidates.index[(candidates == written).all(axis=1).to_numpy()]
    if len(repeated):
        frame["_reject"] = None
        frame.loc[repeated, "_reject"] = REPEATED_HEADER


def joined_exports(path: Path, text: str, row: int) -> IngestError | None:
    """Return the error for two CSV exports joined without a line break, if that is the case.

    Studio's CSV writer ends its file without a line break, so ``cat a.csv b.csv`` puts
    the second file's header on the same line as the first one's last row. That line is
    ragged or breaks the quoting; saying what happened is more useful than either.
    """
    header = text.split("\n", 1)[0].rstrip("\r")
    at = text.find(header, len(header))
    while at != -1 and text[at - 1] in "\r\n":
        at = text.find(header, at + 1)
    if len(header) < 8 or at == -1:
        return None
    return IngestError(
        path,
        "two exports joined without a line break",
        row=row,
        expected="one export per file, or the second one's header on a line of its own",
        found=f"its header inside line {text.count(chr(10), 0, at) + 1}",
    )


def sniff_delimiter(text: str) -> str:
    """Return the header line's delimiter: ``,`` unless it has none and ``;`` or a tab instead.

    Excel writes ``;`` in locales whose decimal mark is a comma, and a tab in its "Unicode
    text"; a header with a comma outside quotes is always read with commas.
    """
    header = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0])
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in (";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_rfc4180(
    path: Path, text: str, delimiter: str = ","
) -> tuple[list[str], list[list[str]], list[str]]:
    """Return (header, rows, header as written) of RFC 4180 CSV text.

    Raises
    ------
    IngestError
        Bad quoting or a ragged row.
    """
    # A Postgres query or a metadata cell can exceed the csv module's default 128 KiB field.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    rows: list[list[str]] = []
    header: list[str] = []
    written: list[str] = []
    try:
        # Postgres folds unquoted names to lower case; a tool that shows them upper-cased
        # (or a hand-edited header) names the same columns.
        written = next(reader, [])
        header = [h.strip().lower() for h in written]
        for row in reader:
            if not row:
                continue  # blank line (e.g. a trailing newline)
            if len(row) != len(header):
                raise joined_exports(path, text, len(rows) + 1) or IngestError(
                    path,
                    "ragged CSV row",
                    row=len(rows) + 1,
                    expected=f"{len(header)} fields",
                    found=f"{len(row)} fields",
                )
            rows.append(row)
    except csv.Error as exc:
        raise joined_exports(path, text, len(rows) + 1) or IngestError(
            path,
            "malformed CSV",
            row=len(rows) + 1,
            expected="RFC 4180 quoting",
            found=str(exc),
        ) from None
    return header, rows, written


def check_columns(path: Path, columns: Iterable[str], required: Iterable[str], kind: str) -> None:
    """Raise if a table CSV lacks a required column."""
    missing = [c for c in required if c not in set(columns)]
    if missing:
        raise IngestError(
            path,
            f"missing column for a {kind} table",
            field=missing[0],
            expected=f"columns {list(required)}",
            found=sorted(columns),
        )


def inside(directory: Path, path: Path) -> bool:
    """Return whether ``path``, symlinks resolved, lies inside ``directory``."""
    try:
        path.resolve().relative_to(directory.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True
