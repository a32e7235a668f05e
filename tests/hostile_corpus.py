"""Build hostile incident directories from the shipped incident (issue: faults and hostile dirs).

Each case is a function ``(dest: Path, outside: Path) -> Path`` that writes one incident
directory under ``dest`` derived from a small copy of ``data/raw/2026-02-06-eventlive`` (the
tables, the annotations and the first pages of each log source, with a matching
``SHA256SUMS``); ``outside`` is a scratch directory outside the incident for links to point
at. ``CASES`` maps a case name to its builder and what ``make check`` must do with it:
``ok`` (exit 0) or ``error`` (exit 2 with one line naming the problem, matched by the regex).

Shared with the report-side hostile tests: ``python tests/hostile_corpus.py OUT`` writes every
case under OUT.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"
#: Pages of each log source kept in the small copy.
PAGES = 2
#: Size the gzip bomb inflates to, MiB (past ingest's per-file cap of 512 MiB).
BOMB_MIB = 600


def small_copy(dest: Path) -> Path:
    """Copy the shipped incident's tables, annotations and first pages; rewrite SHA256SUMS."""
    dest.mkdir(parents=True)
    for name in ("incident.json", "annotations.csv"):
        shutil.copy(SHIPPED / name, dest / name)
    shutil.copytree(SHIPPED / "tables", dest / "tables")
    for source in ("edge_logs", "postgres_logs", "realtime_logs"):
        (dest / source).mkdir()
        for page in sorted((SHIPPED / source).glob("page-*.json.gz"))[:PAGES]:
            shutil.copy(page, dest / source / page.name)
    write_sums(dest)
    return dest


def write_sums(root: Path, extra: list[str] | None = None) -> None:
    """Write ``SHA256SUMS`` over the log pages under ``root`` (plus raw ``extra`` lines)."""
    lines = []
    for path in sorted(root.glob("*_logs/*.json.gz")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(root).as_posix()}")
    (root / "SHA256SUMS").write_text("\n".join([*lines, *(extra or [])]) + "\n")


def _manifest(root: Path, **changes) -> None:
    manifest = json.loads((root / "incident.json").read_text())
    manifest.update(changes)
    (root / "incident.json").write_text(json.dumps(manifest, ensure_ascii=False))


def plain(dest: Path, outside: Path) -> Path:
    return small_copy(dest / "plain")


def symlinked_source_dir(dest: Path, outside: Path) -> Path:
    """``edge_logs`` is a link to a directory inside the incident: read through it."""
    root = small_copy(dest / "symlinked-source-dir")
    (root / "edge_logs").rename(root / "edge_pages")
    (root / "edge_logs").symlink_to("edge_pages", target_is_directory=True)
    return root


def source_dir_linked_outside(dest: Path, outside: Path) -> Path:
    """``edge_logs`` is a link to a directory elsewhere on the machine: named, not read."""
    root = small_copy(dest / "source-dir-linked-outside")
    target = outside / "edge_elsewhere"
    shutil.move(root / "edge_logs", target)
    (root / "edge_logs").symlink_to(target, target_is_directory=True)
    return root


def symlink_loop(dest: Path, outside: Path) -> Path:
    """A link inside ``edge_logs`` pointing back at the incident: each directory read once."""
    root = small_copy(dest / "symlink-loop")
    (root / "edge_logs" / "again").symlink_to("..", target_is_directory=True)
    return root


def gzip_bomb(dest: Path, outside: Path) -> Path:
    """A gzip page of about 0.6 MiB that inflates to BOMB_MIB MiB of spaces."""
    root = small_copy(dest / "gzip-bomb")
    page = root / "edge_logs" / "page-0002.json.gz"
    block = b" " * (1 << 20)
    with gzip.open(page, "wb", compresslevel=9) as handle:
        for _ in range(BOMB_MIB):
            handle.write(block)
    write_sums(root)
    return root


def window_end_9999(dest: Path, outside: Path) -> Path:
    root = small_copy(dest / "window-end-9999")
    _manifest(root, window_end="9999-12-31T23:59:59Z")
    return root


def window_to_2200(dest: Path, outside: Path) -> Path:
    root = small_copy(dest / "window-to-2200")
    _manifest(root, window_end="2200-01-01T00:00:00Z")
    return root


def webinar_ends_9999(dest: Path, outside: Path) -> Path:
    """``webinars.ends_at = 9999-12-31``: a common "no end"; must read as no end."""
    root = small_copy(dest / "webinar-ends-9999")
    path = root / "tables" / "webinars.csv"
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    col = head.index("ends_at")
    cells = lines[2].split(",")
    cells[col] = "9999-12-31 23:59:59.999999+00"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return root


def data_path_with_space(dest: Path, outside: Path) -> Path:
    return small_copy(dest / "data path with space")


def checksum_entry_dotdot(dest: Path, outside: Path) -> Path:
    """A ``SHA256SUMS`` entry naming a file outside the directory through ``..``."""
    root = small_copy(dest / "checksum-dotdot")
    secret = outside / "secret.txt"
    secret.write_text("not yours\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    rel = os.path.relpath(secret, root)
    write_sums(root, [f"{digest}  {rel}"])
    return root


def annotations_linked_outside(dest: Path, outside: Path) -> Path:
    """``annotations.csv`` is a link to a file elsewhere: refused, its content never shown."""
    root = small_copy(dest / "annotations-linked-outside")
    secret = outside / "private-notes.csv"
    secret.write_text("time_utc,label,note\n,PRIVATE-KEY-MATERIAL,do not leak\n")
    (root / "annotations.csv").unlink()
    (root / "annotations.csv").symlink_to(secret)
    return root


def ansi_in_names(dest: Path, outside: Path) -> Path:
    """Escape sequences in the incident name and in a file name: never printed raw."""
    root = small_copy(dest / "ansi-in-names")
    _manifest(root, name="evil\x1b[2J\x1b[31mred")
    page = root / "edge_logs" / "page-0002.json.gz"
    page.rename(root / "edge_logs" / "page-\x1b[5mblink.json.gz")
    write_sums(root)
    return root


def named_pipe(dest: Path, outside: Path) -> Path:
    """A named pipe among the pages: reading it would block; it is refused by name."""
    root = small_copy(dest / "named-pipe")
    os.mkfifo(root / "edge_logs" / "page-0009.json")
    return root


@dataclass(frozen=True)
class Case:
    """A hostile directory and what ``make check`` must do with it."""

    build: Callable[[Path, Path], Path]
    outcome: str  # "ok" or "error"
    message: str = ""  # regex the one error line must match


CASES: dict[str, Case] = {
    "plain": Case(plain, "ok"),
    "symlinked-source-dir": Case(symlinked_source_dir, "ok"),
    "source-dir-linked-outside": Case(
        source_dir_linked_outside, "error", r"edge_logs: symlink leads outside"
    ),
    "symlink-loop": Case(symlink_loop, "ok"),
    "gzip-bomb": Case(gzip_bomb, "error", r"page-0002.json.gz: gzip file too large"),
    "window-end-9999": Case(
        window_end_9999, "error", r"window_end'?: window bound outside the supported range"
    ),
    "window-to-2200": Case(window_to_2200, "error", r"window too long.*at most 31 days"),
    "webinar-ends-9999": Case(webinar_ends_9999, "ok"),
    "data-path-with-space": Case(data_path_with_space, "ok"),
    "checksum-dotdot": Case(
        checksum_entry_dotdot, "error", r"SHA256SUMS, row \d+: checksum entry outside"
    ),
    "annotations-linked-outside": Case(
        annotations_linked_outside, "error", r"annotations.csv: symlink leads outside"
    ),
    "ansi-in-names": Case(ansi_in_names, "ok"),
    "named-pipe": Case(named_pipe, "error", r"page-0009.json: not a regular file.*named pipe"),
}


def main(argv: list[str]) -> int:
    """Write every case under ``argv[0]`` (scratch files for links under ``argv[0]/_outside``)."""
    out = Path(argv[0])
    outside = out / "_outside"
    outside.mkdir(parents=True, exist_ok=True)
    for name, case in CASES.items():
        print(name, case.build(out / "cases", outside))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
