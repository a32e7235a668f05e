"""An incident directory's ``SHA256SUMS``: verify it, and say how to bring it up to date.

A directory handed over with a checksum manifest is meant to stay as it was written. Yet an
analyst has to edit ``incident.json`` to make ``make check`` pass (a window, a display zone, a
file to leave out), and an edited manifest then fails its checksum. Every error here names the
file by its path inside the data directory (the form ``SHA256SUMS`` and ``incident.json``'s
``files`` use) and says what to do: restore the file, or record its new digest with the command
given.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from analysis._util import parse_checksum_line
from analysis.exceptions import IngestError
from analysis.ingest.files import inside, read_text, sha256_of

SUMS = "SHA256SUMS"


def describe_digest_update(name: str) -> str:
    """Return how to record a file's new digest: the command, run in the data directory.

    ``name`` comes from the data: it is quoted for the shell the user will paste it into.
    """
    quoted = shlex.quote(name)
    return (
        f"run 'sha256sum {quoted}' in the data directory and put its output in place of"
        f" {name}'s line in {SUMS}"
    )


def lists_file(directory: Path, name: str) -> bool:
    """Return whether the directory's ``SHA256SUMS`` has a line for ``name``."""
    sums = directory / SUMS
    if not sums.is_file():
        return False
    for line in read_text(sums).splitlines():
        entry = parse_checksum_line(line) if line.strip() else None
        if entry is not None and entry[1] == name:
            return True
    return False


def add_manifest_step(exc: IngestError, directory: Path) -> IngestError:
    """Return ``exc``, its hint to edit ``incident.json`` followed by the checksum step.

    Only errors whose hint asks for an edit of ``incident.json`` (``exc.edits_manifest``)
    change, and only when the directory's ``SHA256SUMS`` lists ``incident.json``: the edit
    would otherwise stop the next run at the checksum.
    """
    if getattr(exc, "edits_manifest", False) and lists_file(directory, "incident.json"):
        step = describe_digest_update("incident.json")
        exc.args = (f"{exc.args[0]}; then, since {SUMS} lists incident.json, {step}",)
    return exc


def verify_checksums(directory: Path, checksums: dict[str, str]) -> None:
    """Check files against ``SHA256SUMS`` when the directory has one.

    Raises
    ------
    IngestError
        A malformed line or an entry outside the directory (naming the line); a listed file
        missing or changed, named by its path in the data directory, with what to do.
    """
    sums = directory / SUMS
    if not sums.exists():
        return
    for number, line in enumerate(read_text(sums).splitlines(), start=1):
        if not line.strip():
            continue
        entry = parse_checksum_line(line)
        if entry is None:
            raise IngestError(
                sums, "bad checksum line", row=number, expected="'<sha256>  <file>'", found=line
            )
        digest, name = entry
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not inside(directory, directory / name):
            raise IngestError(
                sums,
                "checksum entry outside the incident directory",
                row=number,
                expected="a path relative to the directory, without '..'",
                found=name,
            )
        actual = checksums.get(name) or (
            sha256_of(directory / name) if (directory / name).is_file() else None
        )
        if actual is None:
            raise IngestError(
                name,
                f"file listed in {SUMS} (line {number}, {digest[:16]}...) is missing from the"
                f" data directory; restore it, or, if it was left out on purpose, delete its"
                f" line from {SUMS}",
            )
        if actual != digest:
            raise IngestError(
                name,
                f"checksum mismatch: {SUMS} (line {number}) has {digest[:16]}..., the file"
                f" {actual[:16]}...; restore the file, or, if you changed it on purpose,"
                f" {describe_digest_update(name)}",
            )
