"""Small helpers every stage needs once: checksums, JSON values, UTC times.

Each was written separately in several modules; they live here so that one rule (what a
checksum covers, how a timestamp is written into JSON, what counts as a UTC time) holds
everywhere. Pure functions; no stage logic and no error vocabulary: callers raise their own
error with the file, row or parameter that was wrong.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# numpy and pandas are imported inside the functions that take their values: the fetch command
# shares the checksum and time helpers and must start without loading pandas.

#: A row key of an exported table: a uuid, or an integer (Postgres ``bigint``/``int`` identity
#: keys, which Supabase tables use as often as uuids), in canonical form.
ROW_KEY_PATTERN = (
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|-?(?:0|[1-9][0-9]{0,18}))$"
)
_ROW_KEY_RE = re.compile(ROW_KEY_PATTERN)
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,19}")
_INT64_MAX = 2**63 - 1


def canonical_row_key(value: object) -> str | None:
    """Return a table row key in canonical form, or None when it is neither a uuid nor an int64.

    A uuid is lower-cased; an integer is written as Postgres writes a ``bigint`` (no sign for
    positives, no leading zeros), so ``90210``, ``+90210`` and ``090210`` are one key. Spaces
    around the value are ignored.
    """
    text = str(value).strip().lower()
    if _INTEGER_RE.fullmatch(text):
        number = int(text)
        if -_INT64_MAX - 1 <= number <= _INT64_MAX:
            return str(number)
        return None
    return text if _ROW_KEY_RE.match(text) else None


#: The origin of the logs' integer timestamps (microseconds since 1970, BigQuery flavour).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Files are hashed in blocks so a large export never has to fit in memory.
_BLOCK = 1 << 20
#: One line of ``sha256sum`` output: the digest, a space, a space or ``*`` (binary mode), a path.
_CHECKSUM_LINE_RE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes (the digest ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def format_checksums(checksums: Mapping[str, str]) -> str:
    """Return ``{path: hex digest}`` as ``sha256sum`` prints it: ``<hex>  <path>`` lines by path."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))


def parse_checksum_line(line: str) -> tuple[str, str] | None:
    """Return (hex digest, path without a leading ``./``) of one ``sha256sum`` line, else None.

    The caller skips blank lines and raises its own error naming the file and line.
    """
    found = _CHECKSUM_LINE_RE.fullmatch(line.strip())
    if not found:
        return None
    digest, name = found.groups()
    return digest, name.removeprefix("./")


def epoch_us(moment: datetime) -> int:
    """Return microseconds since 1970-01-01 UTC of a tz-aware datetime (exact, no float)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_epoch_us(value: int) -> datetime:
    """Return the tz-aware UTC datetime of microseconds since 1970-01-01 UTC."""
    return _EPOCH + timedelta(microseconds=int(value))


def format_utc(value: object) -> str | None:
    """Return a time as UTC ISO 8601 with ``Z``, fractions only when not zero; None if missing.

    ``2026-02-06T05:00:00Z``, ``2026-02-06T05:00:00.250000Z``. A naive value is taken as UTC.
    """
    if type(value) is datetime:  # a plain datetime needs no pandas (the fetch command)
        ts = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    else:
        import pandas as pd

        if value is None or (not isinstance(value, str | datetime) and pd.isna(value)):
            return None
        ts = pd.Timestamp(value)
        if ts is pd.NaT:
            return None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


def parse_utc(value: object) -> pd.Timestamp | None:
    """Return ``value`` as a tz-aware UTC Timestamp, or None when it is not one.

    Accepts a Timestamp or datetime with a zone, or ISO 8601 text with ``Z`` or an offset.
    None for anything else: unparsable text, a missing value, or a time without a zone (whose
    meaning is ambiguous: incident reports mix local time and UTC). The caller raises its own
    one-line error naming the field.
    """
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, bool | int | float | np.number):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if ts is pd.NaT or ts.tzinfo is None:
        return None
    return ts.tz_convert("UTC")


def jsonable(value: object, time: Callable[[pd.Timestamp], object] | None = None):
    """Return nested numpy/pandas values as plain JSON types.

    Mappings (keys as text), lists, tuples and arrays are converted item by item; numpy scalars
    become Python numbers; NaN, infinities, ``pd.NA`` and ``NaT`` become None (JSON has no
    such values); Timestamps are written by ``time`` (ISO 8601 by default, :func:`format_utc`
    for the findings document). Anything else is returned as it is.
    """
    import numpy as np
    import pandas as pd

    return _jsonable(value, time or pd.Timestamp.isoformat, np, pd)


def _jsonable(value: object, time: Callable, np, pd):
    # numpy and pandas arrive as arguments: imported once per document, not once per value.
    if isinstance(value, dict):
        return {str(k): _jsonable(v, time, np, pd) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, time, np, pd) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v, time, np, pd) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return time(value)
    return value


#: Code points shown as U+FFFD wherever data reaches the page: C0 and C1 controls (ANSI
#: escapes, NUL) and the bidi overrides and isolates, which would reorder the text around a
#: value (an RLO in a title shows the rest of the sentence reversed). RTL text needs none.
#: Characters that draw nothing without joining anything are shown too, so two names that
#: differ by one read differently and no text hides in a value: the zero-width space, word
#: joiner and invisible operators, the byte-order mark, the soft hyphen, the Mongolian vowel
#: separator, the Hangul fillers (a "blank" name) and the tag characters (ASCII text that
#: draws nothing). The joiners (U+200C, U+200D: emoji sequences, Persian and Indic words),
#: the bidi marks and the variation selectors are letters' business and stay.
PAGE_CONTROLS = (
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0xAD,
    0x115F,
    0x1160,
    0x180E,
    0x200B,
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2065),
    *range(0x2066, 0x206A),
    0x3164,
    0xFEFF,
    0xFFA0,
    *range(0xE0000, 0xE0080),
)
_PAGE_CONTROLS = dict.fromkeys(PAGE_CONTROLS, "\ufffd")


def _json_escape(cp: int) -> str:
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    high, low = divmod(cp - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


# What a viewer of a JSON file (an editor, a terminal, a code host's diff) would act on rather
# than show: C1 controls (a terminal's CSI), the bidi controls and marks (text shown in
# another order than it is stored), the invisible characters of PAGE_CONTROLS, the line and
# paragraph separators. JSON's own escapes (C0) are json's business.
_JSON_HIDDEN = sorted(
    {*(c for c in PAGE_CONTROLS if c >= 0x7F), 0x61C, 0x200E, 0x200F, 0x2028, 0x2029}
)
_JSON_ESCAPES = {cp: _json_escape(cp) for cp in _JSON_HIDDEN}


def visible_json(text: str) -> str:
    r"""Return JSON text with each character a viewer would act on written as its ``\u`` escape.

    Such characters stand only inside JSON strings, where the escape reads as the same
    character: the document is the same, and ``findings.json`` or the executed notebook shows
    in an editor or a terminal in the order it holds.
    """
    return text.translate(_JSON_ESCAPES)


def cut_text(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` code points with an ellipsis (``text`` when it fits).

    The cut falls before a whole character: a combining mark, a joiner and what it joins, a
    variation selector, a skin tone, a tag or a flag's second half stays with its letter or
    goes with it.
    """
    if len(text) <= limit:
        return text
    return text[: _cut_at(text, limit)] + "\u2026"


def _cut_at(text: str, limit: int) -> int:
    """Return the largest index <= ``limit`` that starts a whole character of ``text``."""
    at = limit
    while at > 0:
        ch, before = text[at], text[at - 1]
        joined = (
            unicodedata.category(ch) in ("Mn", "Me", "Mc")
            or ch in "\u200c\u200d"
            or before in "\u200c\u200d"
            or 0x1F3FB <= ord(ch) <= 0x1F3FF  # a skin tone
            or 0xE0020 <= ord(ch) <= 0xE007F  # a tag (a flag's subdivision)
        )
        if not joined and _is_flag_half(text, at):
            joined = True
        if not joined:
            return at
        at -= 1
    return limit


def _is_flag_half(text: str, at: int) -> bool:
    """Whether ``text[at]`` is the second regional indicator of a flag (a pair)."""

    def regional(ch: str) -> bool:
        return 0x1F1E6 <= ord(ch) <= 0x1F1FF

    if not regional(text[at]):
        return False
    run = 0
    while at - run - 1 >= 0 and regional(text[at - run - 1]):
        run += 1
    return run % 2 == 1


def page_text(value: object) -> str:
    """Return data as one line of plain page text: whitespace runs one space, controls U+FFFD."""
    return " ".join(str(value).split()).translate(_PAGE_CONTROLS)


def terminal_text(value: object) -> str:
    """Return text safe to print on a terminal: control characters (ANSI escapes) escaped.

    Data (titles, file names, messages) reaches error lines and progress output; an escape
    sequence in it must show as text, not clear or recolour the user's terminal.
    """
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in str(value)
    )


def release_freed_memory() -> None:
    """Hand memory freed by this process back to the system (a long-lived process, a big input).

    Python frees objects into its C library's heap, which glibc keeps for reuse (the report's
    processes raise its trim threshold, docs/performance.md), and pyarrow keeps freed buffers in
    its own pool; a process that has dropped a large table and goes on for minutes (the report
    process waiting on its kernel, the prefetch computing the statistics) would hold them all
    that time. Only what is free is returned; nothing live is touched. No-op where glibc's
    ``malloc_trim`` is missing.
    """
    import ctypes
    import gc
    import sys

    gc.collect()
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass
