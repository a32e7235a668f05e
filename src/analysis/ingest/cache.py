"""The Parquet cache of an ingest: keyed on everything that decides its tables, written atomically.

A slot is ``<cache root>/<incident name>-<16 hex of the key>/``. The key hashes the input
checksums (manifest included), the pseudonym key's fingerprint and the code that builds the
tables, so a slot is only ever read for exactly the inputs that made it. Up to
:data:`KEEP_SLOTS` slots of one incident name are kept, the most recently used (written or
read) ones: two versions of the code (a user switching branches) or two sets of inputs under
one name then each keep their slot instead of evicting each other's on every run.

Every run writes into its own temporary directory and renames it into place, so two runs at
once never share a temporary path and a reader never sees half a slot. The slot's ``complete``
file lists the SHA-256 of each table file: tables are validated against their schemas before
they are written, so a reader checks the digests instead of validating again. A slot that
cannot be read (truncated, corrupt, changed, deleted by another run while being read) is
discarded and rebuilt, with one line on stderr saying so.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from analysis import privacy
from analysis._util import format_checksums, parse_checksum_line, sha256_file
from analysis.ingest.kinds import TABLE_NAMES

#: Bump when the canonical tables change shape, to invalidate old caches.
CACHE_FORMAT = 4
#: Tables of a slot besides the canonical ones (and the aggregates, passed as ``names``).
_EXTRA = ("annotations", "accounting")
_SLOT_RE = re.compile(r"[0-9a-f]{16}")
#: Age after which a hidden temporary directory of a slot is taken as left by a killed run. A
#: write takes seconds; an hour leaves any live writer alone, even on a loaded machine.
ABANDONED_AFTER_S = 3600.0
#: Slots of one incident name kept (the most recently used): enough for a few code versions
#: or input sets used in turn, while an edited incident or package does not fill the disk.
KEEP_SLOTS = 4


def _code_files() -> list[Path]:
    """List the code whose change invalidates a cache: this package and what it applies."""
    package = Path(__file__).parent
    root = package.parent
    names = ("schemas.py", "privacy.py", "vocabulary.py", "postgrest_status.json")
    return sorted(package.glob("*.py")) + [root / name for name in names]


def cache_key(checksums: dict[str, str], key: bytes) -> str:
    """Return the cache key of an ingest: inputs (manifest included), pseudonym key, code."""
    digest = hashlib.sha256()
    digest.update(f"format {CACHE_FORMAT}\n".encode())
    for source in _code_files():
        digest.update(f"{sha256_file(source)}\n".encode())
    digest.update(privacy.key_fingerprint(key).encode())
    for name, value in sorted(checksums.items()):
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


def slot_for(root: Path, name: str, key: str) -> Path:
    """Return the slot directory of an incident name and cache key."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))[:60] or "incident"
    return root / f"{safe}-{key[:16]}"


def read_cache(slot: Path, others: tuple[str, ...] = ()) -> dict[str, pd.DataFrame] | None:
    """Return the cached tables of ``slot`` (plus annotations, accounting, ``others``), or None.

    None when there is no complete slot; a slot that exists but cannot be read, or whose
    files differ from the digests it was written with, is removed (so the caller rebuilds
    it) and one line on stderr says so.
    """
    return read_tables(slot, (*TABLE_NAMES, *_EXTRA, *others))


def read_tables(slot: Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame] | None:
    """Return the tables ``names`` of a complete ``slot`` (None as :func:`read_cache`)."""
    if not (slot / "complete").exists():
        return None
    try:
        digests = _written_digests(slot)
        tables = {}
        for name in names:
            path = slot / f"{name}.parquet"
            if digests.get(path.name) != sha256_file(path):
                raise ValueError(f"{path.name} differs from the file written")
            tables[name] = pd.read_parquet(path)
        _mark_used(slot)
    except Exception as exc:
        # pyarrow raises its own error types for a truncated or corrupt file; any failure
        # to read a cache means the same thing: it is not a cache.
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        print(f"cache {slot} unreadable ({reason}): discarded, rebuilding", file=sys.stderr)
        _discard(slot)
        return None
    return tables


def _written_digests(slot: Path) -> dict[str, str]:
    """Return file name -> SHA-256 as listed in the slot's ``complete`` file."""
    digests = {}
    for line in (slot / "complete").read_text(encoding="utf-8").splitlines():
        parsed = parse_checksum_line(line) if line.strip() else None
        if parsed is None:
            raise ValueError(f"complete: not a checksum line: {line[:40]!r}")
        digest, name = parsed
        digests[name] = digest
    return digests


def write_cache(slot: Path, incident, names: tuple[str, ...] = TABLE_NAMES) -> None:
    """Write an incident's tables into ``slot`` atomically; never fails the run.

    The tables go to a fresh temporary directory of this run, which is renamed into place
    only when complete; if another run put a complete slot there first, ours is dropped.
    A cache that cannot be written (read-only or full disk) is skipped with one line.
    """
    try:
        slot.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{slot.name}.", suffix=".tmp", dir=slot.parent))
    except OSError as exc:
        print(f"cache not written ({exc.strerror or exc}): {slot.parent}", file=sys.stderr)
        return
    try:
        digests = {}
        for name in (*names, *_EXTRA):
            path = tmp / f"{name}.parquet"
            getattr(incident, name).to_parquet(path, index=False)
            digests[path.name] = sha256_file(path)
        (tmp / "complete").write_text(format_checksums(digests), encoding="utf-8")
        if slot.exists() and not (slot / "complete").exists():
            _discard(slot)  # a slot left incomplete by an older version or by hand
        tmp.rename(slot)
    except OSError as exc:
        if not (slot / "complete").exists():
            print(f"cache not written ({exc.strerror or exc}): {slot}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    _mark_used(slot)
    _remove_stale(slot)
    _remove_abandoned(slot.parent)


def _mark_used(slot: Path) -> None:
    """Record that ``slot`` was just used: its ``complete`` file's time orders eviction."""
    try:
        (slot / "complete").touch()
    except OSError:
        pass  # a read-only cache is still read; it is never evicted from either


def _remove_abandoned(root: Path, now: float | None = None) -> None:
    """Remove temporary directories that runs killed mid-write left in the cache root.

    A killed run cannot clean up after itself: its ``.<slot>.*.tmp`` (being written) or
    ``.<slot>.*.old`` (being deleted) directory stays. Those older than
    :data:`ABANDONED_AFTER_S` are removed by the next run that writes a slot.
    """
    now = time.time() if now is None else now
    for entry in root.iterdir():
        name = entry.name
        if not (name.startswith(".") and name.endswith((".tmp", ".old"))):
            continue
        try:
            abandoned = now - entry.lstat().st_mtime > ABANDONED_AFTER_S
        except OSError:
            continue  # removed by another run meanwhile
        if abandoned and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def _discard(slot: Path) -> None:
    """Remove a slot without racing a reader: rename it aside first, then delete it."""
    try:
        aside = Path(tempfile.mkdtemp(prefix=f".{slot.name}.", suffix=".old", dir=slot.parent))
        slot.rename(aside / "slot")
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale(slot: Path) -> None:
    """Remove the least recently used slots of the same incident name beyond :data:`KEEP_SLOTS`.

    Other slots of the name hold other inputs or another version of the code, which may be
    used again (a branch switched back to): only the oldest by last use go; ``slot`` stays.
    """
    prefix = slot.name[: -len(slot.name.rsplit("-", 1)[1])]
    others = []
    for old in slot.parent.iterdir():
        name = old.name
        if old != slot and name.startswith(prefix) and _SLOT_RE.fullmatch(name[len(prefix) :]):
            try:
                used = (old / "complete").stat().st_mtime_ns
            except OSError:
                used = 0  # incomplete, or removed meanwhile: first to go
            others.append((used, name, old))
    others.sort(reverse=True)
    for _, _, old in others[KEEP_SLOTS - 1 :]:
        _discard(old)
