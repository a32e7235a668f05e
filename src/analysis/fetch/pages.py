"""What a fetch writes and resumes from: pages, the state file, atomic writes, checksums."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from pathlib import Path

from analysis.exceptions import FetchError

TRAFFIC_DIR = "traffic"


STATE_FILE = ".fetch-state.json"
MANIFEST_FILE = "fetch-manifest.json"
CHECKSUM_FILE = "SHA256SUMS"
ANNOTATIONS_HEADER = "time_utc,label,note\n"


_PAGE_RE = re.compile(r"(?:[a-z_]+_logs|traffic/[a-z_]+)/page-\d{4}\.json\.gz")


def _new_aggregate_state() -> dict:
    return {"piece": 0, "done": False, "pages": [], **_aggregate_piece_state()}


def _aggregate_piece_state() -> dict:
    """Return what an aggregate's state holds about its current piece (reset per piece)."""
    return {"phase": "total", "total": None, "basis": {}, "cursor": None}


def _is_count(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())


def _new_source_state() -> dict:
    return {"piece": 0, "done": False, "pages": [], "duplicates": 0, **_piece_state()}


def _piece_state() -> dict:
    """Return what a source's state holds about its current piece (reset per piece)."""
    return {"cursor": None, "expected": None, "received": 0, "exhausted": False, "recounts": 0}


def _remove_partial_writes(out: Path) -> None:
    """Delete what a killed write of ours left: a ``.part`` beside a file this module writes.

    Only those: anything else in the directory (an analyst's tables, notes) is not touched.
    """
    ours = {STATE_FILE, MANIFEST_FILE, CHECKSUM_FILE, "incident.json", "annotations.csv"}
    for part in out.rglob("*.part"):
        name = part.name.removesuffix(".part")
        top = part.parent == out
        page = _PAGE_RE.fullmatch(part.relative_to(out).as_posix().removesuffix(".part"))
        if part.is_file() and ((top and name in ours) or page):
            part.unlink()


def encode_page(rows: list[dict]) -> bytes:
    """Gzip a Management API envelope deterministically (mtime 0, no file name)."""
    payload = json.dumps(
        {"result": rows, "error": None}, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    return buffer.getvalue()


def read_page(path: Path) -> list[dict]:
    """Rows of a page written by :func:`encode_page` (used to rebuild the seen ids)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)["result"]
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(
            f"{path}: cannot read a page written earlier ({type(exc).__name__}); "
            "expected a gzipped logs envelope; delete the directory and fetch again"
        ) from None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FetchError(
            f"{path}: unreadable ({type(exc).__name__}); delete the directory and fetch again"
        ) from None
