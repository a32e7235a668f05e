"""Files of an incident directory that are clearly not exports: skipped, and said so.

A directory handed to the analyst holds more than exports: a ``README.md`` or ``notes.txt``
of the team's own, a screenshot of a dashboard, Finder's ``.DS_Store``, a browser's second
download of the same file (``edge_logs (1).csv``). None of them is data, and stopping the run
on them asks the user to explain the obvious. A misnamed export, on the other hand, must never
be left out unseen. The rule (docs/supabase-exports.md, "Files that are not exports"):

- a hidden entry (its name starts with a dot) is skipped;
- a document, image or note is skipped when its extension says so *and* its first bytes
  agree: an image must open with its format's signature, and a text document must not look
  like data (JSON, JSON Lines, a delimited header of column names, gzip);
- a file named as a browser or a file manager names a second copy of another file, whose
  bytes are that file's, is skipped as the copy;
- anything else that is not of a data type still stops the run (``incident.list_exports``).

Every skipped file is listed with its reason: ``make check`` prints it and the report's
data-quality section names it.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Leading bytes of image and document formats, by extension.
SIGNATURES = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".webp": (b"RIFF",),
    ".heic": (b"\x00\x00\x00",),
    ".pdf": (b"%PDF-",),
    ".docx": (b"PK\x03\x04",),
    ".pptx": (b"PK\x03\x04",),
    ".odt": (b"PK\x03\x04",),
    ".key": (b"PK\x03\x04",),
    ".pages": (b"PK\x03\x04",),
    ".doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
}
#: What each skipped binary is, for its line.
BINARY_NAMES = {
    ".png": "an image (PNG)",
    ".jpg": "an image (JPEG)",
    ".jpeg": "an image (JPEG)",
    ".gif": "an image (GIF)",
    ".webp": "an image (WebP)",
    ".heic": "an image (HEIC)",
    ".pdf": "a PDF document",
    ".docx": "a Word document",
    ".doc": "a Word document",
    ".pptx": "a PowerPoint deck",
    ".odt": "a text document (ODF)",
    ".key": "a Keynote deck",
    ".pages": "a Pages document",
}
#: Text documents, by extension.
TEXT_NAMES = {
    ".md": "a Markdown document",
    ".markdown": "a Markdown document",
    ".txt": "a text note",
    ".rst": "a reStructuredText document",
    ".html": "an HTML page",
    ".htm": "an HTML page",
    ".log": "a text log",
    ".svg": "an image (SVG)",
    ".yaml": "a YAML file",
    ".yml": "a YAML file",
    ".toml": "a TOML file",
    ".py": "a Python script",
    ".sh": "a shell script",
    ".ipynb": "a Jupyter notebook",
}
#: A header line of column names: two or more identifiers split by a comma, semicolon or tab.
_HEADER = re.compile(r'^\ufeff?"?[A-Za-z_][\w.]*"?(?:\s*[,;\t]\s*"?[A-Za-z_][\w.]*"?)+\s*$')
#: How a browser, Finder, Windows or a Korean desktop names a second copy of ``name.ext``.
_COPY = re.compile(
    r"^(?P<stem>.+?)(?: \(\d+\)| copy(?: \d+)?| - Copy(?: \(\d+\))?| - 복사본(?: \(\d+\))?|"
    r" 사본(?: \d+)?)(?P<ext>(?:\.[A-Za-z0-9]+)+)$"
)


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


#: A line of ``supabase logs`` in text form: ``[<service>] <line>`` (the CLI's local stack).
_CLI_LOG_LINE = re.compile(r"^\[[A-Za-z0-9_.-]+\] ")


def looks_like_data(head: bytes) -> str | None:
    """Name what a file's first bytes look like if log data, else None.

    JSON, gzip, a header row of column names, or the CLI's local-stack log lines.
    """
    if head[:2] == b"\x1f\x8b":
        return "gzip data"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) >= 2 and sum(bool(_CLI_LOG_LINE.match(x)) for x in lines) * 2 > len(lines):
        # `supabase logs > x.txt`: the local stack's container output, not a project's export.
        return "the local stack's log lines of `supabase logs` ('[service] line')"
    if text[:1] in ("{", "["):
        return "JSON"
    first = text.split("\n", 1)[0].rstrip("\r")
    return "a header row of column names" if _HEADER.match(first) else None


def describe_misnamed(path: Path) -> str | None:
    """Say what a document-named file holds when it looks like an export's data, or None."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_NAMES and suffix not in SIGNATURES:
        return None
    try:
        found = looks_like_data(_head(path))
    except OSError:
        return None
    return None if found is None else f"{found} under a {suffix} name"


def describe_not_export(path: Path) -> str | None:
    """Return why ``path`` is clearly not an export (its line in the listing), or None.

    None means the file may hold data, or cannot be told from one: the caller refuses it.
    A hidden entry is told by :func:`describe_hidden`.
    """
    suffix = path.suffix.lower()
    try:
        head = _head(path)
    except OSError:
        return None
    if suffix in SIGNATURES:
        if head.startswith(SIGNATURES[suffix]):
            return f"{BINARY_NAMES[suffix]}, not an export"
        return None
    if suffix in TEXT_NAMES:
        if suffix == ".ipynb":
            return f"{TEXT_NAMES[suffix]}, not an export" if b'"cells"' in head else None
        if b"\x00" in head or looks_like_data(head) is not None:
            return None
        return f"{TEXT_NAMES[suffix]}, not an export"
    return None


def describe_hidden(name: str, is_dir: bool) -> str:
    """Return the listing's line for a hidden entry: a system's or a tool's, never an export."""
    what = "a hidden directory" if is_dir else "a hidden file"
    return f"{what} (a system's or a tool's own, such as .DS_Store), not an export"


def describe_copy(rel: str, path: Path, originals: dict[str, Path]) -> str | None:
    """Return why ``rel`` is skipped as a second copy of another file, or None.

    A copy bears the original's name with a copy's mark and holds the same bytes;
    ``originals`` maps relative names to paths. The reason names the mark, not the original:
    a file name may hold a person's address, and reasons are shown unredacted.
    """
    name = Path(rel).name
    match = _COPY.match(name)
    if match is None:
        return None
    original = Path(rel).with_name(match["stem"] + match["ext"]).as_posix()
    other = originals.get(original)
    if other is None:
        return None
    try:
        if other.stat().st_size != path.stat().st_size or other.read_bytes() != path.read_bytes():
            return None
    except OSError:
        return None
    mark = name[len(match["stem"]) : len(name) - len(match["ext"])]
    return f"a second copy, byte for byte, of the file of this name without {mark.strip()!r}"
