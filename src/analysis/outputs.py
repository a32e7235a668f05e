"""A report's output directory: written aside, published whole, or left as it was.

A run writes everything (executed notebook, findings, figures, HTML, PDF) into a private staging
directory beside the output directory, ``.<name>.staging-<random>``, and publishes it by one
atomic directory exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, with
recovery at the next run). The output directory therefore always holds one complete run: the
previous one or the new one, never a mixture, and never a half-written file. A run that fails
or is killed leaves the previous run untouched; its staging directory is removed at once, or,
after a kill, by the next run that finds no live owner for it. Two runs at once each have their
own staging directory; publication is serialised by a lock file beside the output directory.
See docs/report-safety.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from analysis.exceptions import ReportError
from analysis.params import display_path

#: A file only a run's own outputs contain: a directory holding one may be replaced by a run.
REPORT_MARKERS = ("findings.json", "postmortem.ipynb")
#: Held (flock) by the live run that owns a staging directory; removed just before publication.
OWNER_FILE = ".owner"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def staging_prefix(target: Path) -> str:
    """Return the name prefix of ``target``'s staging directories."""
    return f".{target.name}.staging-"


def lock_path(target: Path) -> Path:
    """Return the lock file that serialises publication into ``target``."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def publish_lock(target: Path) -> Iterator[None]:
    """Hold the exclusive publication lock of ``target`` (waits for another run's publication)."""
    with open(lock_path(target), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_replaceable(target: Path) -> None:
    """Raise ReportError unless ``target`` is absent, empty, or a report's output directory.

    A run replaces its output directory whole, so a directory that holds anything else (say,
    ``--out`` pointing at a home directory) is refused rather than emptied.
    """
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ReportError(
            f"{display_path(target)}: not a directory; choose a new or empty output directory"
        )
    if not target.is_dir():
        return
    names = {p.name for p in target.iterdir()}
    if names and not names & set(REPORT_MARKERS):
        raise ReportError(
            f"{display_path(target)}: holds files that are not a report's outputs"
            f" ({', '.join(sorted(names)[:3])}{', ...' if len(names) > 3 else ''});"
            " choose a new or empty output directory"
        )


def clean_stale(target: Path) -> list[Path]:
    """Remove staging directories of ``target`` whose run is gone; return what was removed.

    A staging directory whose owner file can be locked has no live owner (the lock dies with
    its process). Called under :func:`publish_lock`, so a directory without an owner file is
    not being published either: it is the remains of a kill during publication (after a
    fallback rename, the previous run waiting to be put back or removed).
    """
    removed = []
    parent = target.parent
    if not parent.is_dir():
        return removed
    # A kill between the two renames of the fallback publication leaves no target and the
    # previous run under its ".old-" name: put it back.
    olds = sorted(parent.glob(f".{target.name}.old-*"))
    if olds and not target.exists():
        os.rename(olds.pop(), target)
    for stale in olds:
        shutil.rmtree(stale, ignore_errors=True)
        removed.append(stale)
    for stage in sorted(parent.glob(staging_prefix(target) + "*")):
        owner = stage / OWNER_FILE
        try:
            handle = open(owner, "r+b")
        except FileNotFoundError:
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(stage)
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live run's
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(stage)
    return removed


class Staging:
    """A private directory a run writes its outputs into, owned (locked) while it lives."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / (staging_prefix(target) + secrets.token_hex(6))
        self._owner = None

    def __enter__(self) -> Staging:
        """Create the staging directory and take ownership of it (stale ones are removed)."""
        self.target.parent.mkdir(parents=True, exist_ok=True)
        # Under the lock: another run's clean-up must never see this directory unowned.
        with publish_lock(self.target):
            clean_stale(self.target)
            self.path.mkdir(mode=0o755)
            self._owner = open(self.path / OWNER_FILE, "w+b")
            fcntl.flock(self._owner, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove what is left of the staging directory (all of it after a failure)."""
        self._release()
        shutil.rmtree(self.path, ignore_errors=True)

    def _release(self) -> None:
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def publish(self) -> None:
        """Replace the output directory by the staging directory in one step."""
        with publish_lock(self.target):
            check_replaceable(self.target)
            (self.path / OWNER_FILE).unlink()
            self._release()
            if not self.target.exists():
                os.rename(self.path, self.target)
                return
            if not _exchange(self.path, self.target):
                old = self.target.parent / f".{self.target.name}.old-{secrets.token_hex(6)}"
                os.rename(self.target, old)
                os.rename(self.path, self.target)
                shutil.rmtree(old, ignore_errors=True)
                return
            # The staging path now holds the previous run; __exit__ removes it.


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False when the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def describe_os_error(exc: OSError, where: Path) -> str:
    """Return one line for a write failure while making a report into ``where``."""
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EFBIG: "file too large for the file-size limit",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "read-only file system",
    }.get(exc.errno, exc.strerror or type(exc).__name__)
    return (
        f"{display_path(where)}: cannot write the report ({reason});"
        " the previous report there, if any, is unchanged"
    )
