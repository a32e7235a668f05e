"""An incident directory: manifest, exports, checksums, annotations, and the Parquet cache.

:func:`load_incident` is the entry point of the whole package: it reads ``incident.json``,
lists the exports, verifies ``SHA256SUMS``, ingests (or reads the cache keyed on the inputs,
the manifest, the pseudonym key's fingerprint and this code) and returns an :class:`Incident`.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from analysis import config, privacy
from analysis._util import parse_utc
from analysis.actions import read_recommendations
from analysis.claims import read_claims
from analysis.exceptions import IngestError
from analysis.ingest import aggregates, cache, projects
from analysis.ingest.checksums import add_manifest_step, verify_checksums
from analysis.ingest.files import (
    KeyTwice,
    check_columns,
    describe_archive,
    inside,
    load_json,
    read_csv_rows,
    read_text,
    sha256_of,
    unreadable,
)
from analysis.ingest.kinds import (
    AGGREGATE_KINDS,
    FLAVOURS,
    KIND_ALIASES,
    KINDS,
    LOG_KINDS,
    TABLE_NAMES,
    Override,
    match_override,
)
from analysis.ingest.skipped import (
    describe_copy,
    describe_hidden,
    describe_misnamed,
    describe_not_export,
)
from analysis.ingest.timestamps import RANGE, is_aware_text, iso_to_utc
from analysis.schemas import column_dtypes, validate_table

#: Files of an incident directory that are not exports.
NON_EXPORTS = ("incident.json", "annotations.csv", "SHA256SUMS", "fetch-manifest.json")
DATA_SUFFIXES = (
    ".json",
    ".json.gz",
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".ndjson.gz",
    ".csv",
    ".csv.gz",
    ".sql",
    ".sql.gz",
    ".parquet",
    ".gz",
    # A saved OTLP drain request (analysis.ingest.otlp_proto.SUFFIXES).
    ".pb",
    ".binpb",
    ".protobuf",
)
#: Longest incident window. The analysis works on per-minute frames of the whole window;
#: 31 days is 44,640 minutes, far beyond any incident hour yet small enough for memory, while
#: a window to 2200 would ask for 90 million minutes.
MAX_WINDOW = pd.Timedelta(days=31)


@dataclass(frozen=True)
class Incident:
    """An ingested incident: canonical tables plus what it took to build them.

    Attributes are the tables of docs/contract.md section 2; ``accounting`` has one row per
    (file, kind) with ``read == accepted + rejected`` and the rejection reasons with counts.
    """

    requests: pd.DataFrame
    db_errors: pd.DataFrame
    realtime_events: pd.DataFrame
    concurrency: pd.DataFrame
    sessions: pd.DataFrame
    registrations: pd.DataFrame
    webinars: pd.DataFrame
    manifest: dict
    window: tuple[pd.Timestamp, pd.Timestamp]
    display_tz: str
    annotations: pd.DataFrame
    accounting: pd.DataFrame
    checksums: dict[str, str]
    from_cache: bool = False
    #: Per-minute aggregates of a hybrid fetch (empty otherwise): minute x endpoint x status
    #: class requests, distinct users per minute, Realtime connections per minute.
    traffic: pd.DataFrame = field(default_factory=lambda: aggregates.empty_tables()["traffic"])
    traffic_users: pd.DataFrame = field(
        default_factory=lambda: aggregates.empty_tables()["traffic_users"]
    )
    realtime_minutes: pd.DataFrame = field(
        default_factory=lambda: aggregates.empty_tables()["realtime_minutes"]
    )
    #: Where ``concurrency`` comes from: ``monitor`` (the viewer-count table) or ``presence``
    #: (no monitor sample in the window: the open presence sessions, :func:`read_load`).
    load_source: str = "monitor"

    @property
    def traffic_source(self) -> str:
        """Where the per-minute traffic comes from: the log store's aggregates, or none."""
        return "log-store aggregates" if len(self.traffic) else "none"

    def table(self, name: str) -> pd.DataFrame:
        """Return the canonical table ``name``."""
        return getattr(self, name)


def key_given_twice(value, prefix: str = "") -> str | None:
    """Return the dotted name of the first key given twice with different values, or None."""
    if isinstance(value, KeyTwice):
        return prefix + value.key
    if not isinstance(value, (dict, list)):
        return None
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        if (found := key_given_twice(item, f"{prefix}{key}.")) is not None:
            return found
    return None


def read_manifest(directory: Path) -> dict:
    """Read and check ``incident.json``."""
    path = directory / "incident.json"
    if not directory.is_dir():
        raise IngestError(
            directory, "no such incident directory", expected="a directory", found="nothing"
        )
    if not path.exists():
        raise IngestError(
            path, "missing manifest", expected="incident.json with name and window", found="no file"
        )
    manifest = load_json(path, read_text(path))
    if not isinstance(manifest, dict):
        raise IngestError(
            path, "bad manifest", expected="a JSON object", found=type(manifest).__name__
        )
    if (twice := key_given_twice(manifest)) is not None:
        raise IngestError(
            path,
            "key given twice with different values",
            field=twice,
            expected="each key once (which value was meant cannot be known)",
            found="two values",
        )
    for name in ("name", "window_start", "window_end"):
        if not manifest.get(name):
            raise IngestError(
                path, "missing manifest field", field=name, expected="a value", found=None
            )
    flavour = manifest.get("flavour")
    if flavour is not None and flavour not in FLAVOURS:
        raise IngestError(
            path, "bad flavour", field="flavour", expected=f"one of {list(FLAVOURS)}", found=flavour
        )
    # What the report reads from the manifest is checked here, so `make check` finds it.
    projects.read_project_ref(manifest, path)
    read_claims(manifest, path)
    read_recommendations(manifest, path)
    return manifest


def manifest_window(manifest: dict, path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the manifest window as tz-aware UTC timestamps (zone required)."""
    bounds = []
    for name in ("window_start", "window_end"):
        text = str(manifest[name])
        if not is_aware_text(text):
            raise IngestError(
                path,
                "bad window bound",
                field=name,
                expected="ISO 8601 UTC with Z or offset",
                found=text,
            )
        ts = parse_utc(text.replace(" UTC", "Z"))
        try:
            ts = None if ts is None else ts.as_unit("ns")
        except (OverflowError, ValueError):  # pandas' OutOfBoundsDatetime is a ValueError
            ts = None
        if ts is None:
            raise IngestError(
                path,
                "window bound outside the supported range",
                field=name,
                expected=f"a time in the years {RANGE[0]}-{RANGE[1]}",
                found=text,
            )
        bounds.append(ts)
    if bounds[1] <= bounds[0]:
        raise IngestError(
            path,
            "empty window",
            field="window_end",
            expected=f"after {bounds[0].isoformat()}",
            found=str(manifest["window_end"]),
        )
    if bounds[1] - bounds[0] > MAX_WINDOW:
        raise IngestError(
            path,
            "window too long",
            field="window_end",
            expected=f"at most {MAX_WINDOW.days} days after window_start (split a longer period)",
            found=str(manifest["window_end"]),
        )
    return bounds[0], bounds[1]


def manifest_overrides(manifest: dict, path: Path) -> dict[str, Override]:
    """Return the per-glob overrides of ``incident.json`` (plus the global flavour)."""
    out: dict[str, Override] = {}
    files = manifest.get("files") or {}
    if not isinstance(files, dict):
        raise IngestError(
            path,
            "bad files overrides",
            field="files",
            expected="an object {glob: {kind, flavour}}",
            found=files,
        )
    for pattern, spec in files.items():
        if not isinstance(spec, dict):
            raise IngestError(
                path,
                "bad files override",
                field=f"files.{pattern}",
                expected="an object",
                found=spec,
            )
        kind = spec.get("kind")
        kind = KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
        if kind is not None and kind not in KINDS:
            raise IngestError(
                path,
                "unknown kind",
                field=f"files.{pattern}.kind",
                expected=f"one of {list(KINDS)}",
                found=spec.get("kind"),
            )
        flavour = spec.get("flavour", manifest.get("flavour"))
        if flavour is not None and flavour not in FLAVOURS:
            raise IngestError(
                path,
                "bad flavour",
                field=f"files.{pattern}.flavour",
                expected=f"one of {list(FLAVOURS)}",
                found=flavour,
            )
        out[pattern] = Override(kind=kind, flavour=flavour, default="flavour" not in spec)
    if manifest.get("flavour"):
        out.setdefault("*", Override(flavour=manifest["flavour"], default=True))
    return out


def check_inside(directory: Path, path: Path) -> None:
    """Raise if ``path`` is a symlink that leads outside the incident directory.

    A directory handed to the analyst may come from anyone: a link to a file elsewhere on
    their machine (a key, a password file) would be read, echoed in an error line or shown
    in the report. Links that stay inside the directory are followed.
    """
    try:
        path.resolve()
    except (RuntimeError, OSError) as exc:
        # Python raises RuntimeError (3.11) or ELOOP (3.13) for a link that leads back to itself.
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            raise IngestError(
                path,
                "symlink loop",
                expected="a link that leads to a file or directory",
                found=f"a link to {os.readlink(path)} that leads back to itself",
            ) from None
    if not inside(directory, path):
        raise IngestError(
            path,
            "symlink leads outside the incident directory",
            expected=f"a file or directory inside {directory}",
            found=f"a link to {os.path.realpath(path)}",
        )


def walk_files(directory: Path) -> tuple[list[Path], list[tuple[Path, bool]]]:
    """Every entry under ``directory`` but directories, following links inside it, sorted.

    Entries that are not regular files (a named pipe, a socket, a device) are returned too, so
    that the caller names them instead of skipping them unseen. Hidden entries (a name that
    starts with a dot) are not entered: they come second, as (path, is a directory).

    Raises
    ------
    IngestError
        A directory that cannot be read, or a link that leads outside the directory.
    """
    out: list[Path] = []
    hidden: list[tuple[Path, bool]] = []
    seen: set[tuple[int, int]] = set()
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            info = current.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue  # a loop of links, or two links to one directory: read it once
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            raise unreadable(current, exc) from None
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                hidden.append((path, entry.is_dir()))
                continue
            if entry.is_symlink():
                check_inside(directory, path)
            try:
                is_dir = entry.is_dir()
            except OSError as exc:
                raise unreadable(path, exc) from None
            if is_dir:
                pending.append(path)
            else:
                out.append(path)
    return sorted(out), sorted(hidden)


def describe_special(path: Path) -> str:
    """Name the kind of a directory entry that is not a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a link to nothing" if path.is_symlink() else "an entry that cannot be read"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def describe_container(path: Path) -> tuple[str, str] | None:
    """Name the archive or workbook a file of another type is, from its first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    gzipped = head[:2] == b"\x1f\x8b"
    if gzipped:
        try:
            head = zlib.decompressobj(31).decompress(head, 1024)
        except zlib.error:
            return None
    found = describe_archive(head)
    if found is None:
        return None
    kind, wanted = found
    if kind in ("a zip archive", "a tar archive", "a 7-Zip archive"):
        wanted = "its exports unpacked into the incident directory (then remove the archive)"
    return kind + (" (gzipped)" if gzipped else ""), wanted


def list_exports(
    directory: Path, overrides: dict[str, Override]
) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Return the export files of a directory and the files skipped as clearly not exports.

    Exports come sorted as (path, relative name), skipped files as (relative name, why)
    (:mod:`analysis.ingest.skipped`).

    Raises
    ------
    IngestError
        A file that is not of a data type and not clearly something else: a misnamed export
        is never left out unseen.
    """
    out = []
    files, hidden = walk_files(directory)
    skipped = [
        (path.relative_to(directory).as_posix(), describe_hidden(path.name, is_dir))
        for path, is_dir in hidden
        if path.relative_to(directory).as_posix() != FETCH_STATE_FILE
    ]
    for path in files:
        rel = path.relative_to(directory).as_posix()
        if rel in NON_EXPORTS:
            continue
        ov = match_override(rel, overrides)
        if ov.kind == "ignore":
            continue
        if not path.is_file():
            # Reading a named pipe would block the run, and a socket or device holds no export.
            raise IngestError(
                path,
                "not a regular file",
                expected="an export file (or kind 'ignore' in incident.json files)",
                found=describe_special(path),
            )
        if not path.name.lower().endswith(DATA_SUFFIXES):
            if ov.kind is None and (why := describe_not_export(path)) is not None:
                skipped.append((rel, why))
                continue
            container = describe_container(path)
            if container is not None:
                # A zip of exports (or a workbook) beside them: say what it is and what to do.
                raise IngestError(path, container[0], expected=container[1])
            if (found := describe_misnamed(path)) is not None:
                if found.startswith("the local stack"):
                    raise IngestError(
                        path,
                        "the local stack's logs (supabase logs), not a hosted project's export",
                        expected="the project's log exports (docs/supabase-exports.md §2), or"
                        " kind 'ignore' in incident.json files",
                        found=found,
                    )
                # Never left out: an export saved under a note's name would vanish unseen.
                raise IngestError(
                    path,
                    "looks like an export under another file type",
                    expected="the export's own extension (.csv, .json, .jsonl) or its kind in"
                    " incident.json files ('ignore' if it is no export)",
                    found=found,
                )
            raise IngestError(
                path,
                "unsupported file type",
                expected=f"one of {list(DATA_SUFFIXES)} (or kind 'ignore' in incident.json files)",
                found=path.suffix or path.name,
            )
        out.append((path, rel))
    originals = {rel: path for path, rel in out}
    copies = {
        rel: why
        for path, rel in out
        if match_override(rel, overrides).kind is None
        and (why := describe_copy(rel, path, originals)) is not None
    }
    skipped += list(copies.items())
    return [(p, r) for p, r in out if r not in copies], sorted(skipped)


def read_annotations(directory: Path, users: dict[str, str] | None = None) -> pd.DataFrame:
    """Read ``annotations.csv`` (time_utc may be empty = time unknown); redacted like logs.

    Label and note are people's words: redacted, then every known user id in them (uuid or
    integer, :func:`~analysis.privacy.replace_user_ids`) becomes its pseudonym.
    """
    path = directory / "annotations.csv"
    empty = pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "label": pd.Series([], dtype="string"),
            "note": pd.Series([], dtype="string"),
        }
    )
    if not path.exists() and not path.is_symlink():
        return empty
    check_inside(directory, path)
    frame = read_csv_rows(path, read_text(path))
    check_columns(path, frame.columns, ("time_utc", "label", "note"), "annotations")
    text = frame["time_utc"].str.strip()
    # The column is named UTC: a zone-less time in it is UTC by the column's definition.
    ts = iso_to_utc(text.where(text != ""))
    bad = (text != "") & ts.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise IngestError(
            path,
            "bad time",
            row=row,
            field="time_utc",
            expected="ISO 8601 or empty",
            found=text[bad].iloc[0],
        )
    users = users or {}
    # As the last pass of the tables: redaction, then every known user id (integers too).
    return pd.DataFrame(
        {
            "ts": ts,
            **{
                col: privacy.replace_user_ids(
                    privacy.redact_series(frame[col].astype("string"), users),
                    users,
                    keep_years=True,
                )
                for col in ("label", "note")
            },
        }
    )


#: The state file ``make fetch`` keeps while a download is unfinished and removes last
#: (``analysis.fetch.pages.STATE_FILE``; not imported: ingest does not load the fetcher).
FETCH_STATE_FILE = ".fetch-state.json"


def _read_inputs(directory: Path) -> tuple:
    """Return (manifest, window, display_tz, overrides, files, checksums, skipped) of a dir."""
    state = directory / FETCH_STATE_FILE
    if state.exists():
        # Its pages are a part of the window: read as complete, they would undercount.
        raise IngestError(
            state,
            "an interrupted make fetch: the download of this directory is not finished",
            expected="a finished fetch (run the same make fetch again to resume it)",
            found="the fetch's state file",
        )
    manifest = read_manifest(directory)
    manifest_path = directory / "incident.json"
    window = manifest_window(manifest, manifest_path)
    display_tz = manifest.get("display_tz") or config.DEFAULT_DISPLAY_TZ
    try:
        if not isinstance(display_tz, str):
            raise ValueError(display_tz)
        ZoneInfo(display_tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        raise IngestError(
            manifest_path,
            "unknown time zone",
            field="display_tz",
            expected="an IANA zone",
            found=display_tz,
        ) from None
    overrides = manifest_overrides(manifest, manifest_path)
    files, skipped = list_exports(directory, overrides)
    checksums = {rel: sha256_of(path) for path, rel in files}
    for extra in ("incident.json", "annotations.csv"):
        if (directory / extra).exists():
            checksums[extra] = sha256_of(directory / extra)
    verify_checksums(directory, checksums)
    return manifest, window, display_tz, overrides, files, checksums, skipped


def skipped_accounting(skipped: list[tuple[str, str]], like: pd.DataFrame) -> pd.DataFrame:
    """Accounting rows of kind ``skipped`` for the files that are clearly not exports.

    No row of them is read; their reason is the ``note``. They are listed afresh on every run
    (not cached): a note added beside the exports changes no table, only this list.
    """
    rows = pd.DataFrame(
        {
            "file": [rel for rel, _ in skipped],
            "kind": "skipped",
            "read": 0,
            "accepted": 0,
            "rejected": 0,
            "note": [why for _, why in skipped],
        },
        columns=list(like.columns),
    )
    if not skipped:
        return like
    rows = rows.astype(like.dtypes.to_dict())
    return pd.concat([like, rows], ignore_index=True)


def _slot(manifest: dict, checksums: dict[str, str], key: bytes, cache_dir) -> Path:
    """Return the cache slot of an incident's inputs."""
    cache_root = Path(cache_dir) if cache_dir is not None else config.INTERIM_DIR
    return cache.slot_for(cache_root, manifest["name"], cache.cache_key(checksums, key))


def describe_directory(
    directory: Path | str = config.DEFAULT_INCIDENT_DIR, *, cache_dir: Path | str | None = None
) -> tuple[pd.DataFrame, str]:
    """Return (the ``webinars`` table, ``display_tz``) of an incident directory, cheaply.

    Reads only the webinars table of a complete cache slot of exactly these inputs; without
    one, ingests the directory as :func:`load_incident` does (writing the cache).
    """
    directory = Path(directory)
    manifest, _, display_tz, _, _, checksums, _ = _read_inputs(directory)
    slot = _slot(manifest, checksums, privacy.pseudonym_key(), cache_dir)
    cached = cache.read_tables(slot, ("webinars",))
    if cached is not None:
        return cached["webinars"], display_tz
    return load_incident(directory, cache_dir=cache_dir).webinars, display_tz


@dataclass(frozen=True)
class Description:
    """What choosing a webinar needs of an incident: its webinars, zone, window and load."""

    webinars: pd.DataFrame
    display_tz: str
    window: tuple[pd.Timestamp, pd.Timestamp]
    #: The load as :func:`read_load` reads it (the monitor, else the open presence sessions).
    concurrency: pd.DataFrame


def describe_load(
    directory: Path | str = config.DEFAULT_INCIDENT_DIR,
    *,
    cache_dir: Path | str | None = None,
    cached_only: bool = False,
) -> Description | None:
    """Return an incident directory's :class:`Description`, cheaply.

    Reads only the webinars and concurrency tables of a complete cache slot of exactly these
    inputs (and the sessions, when no monitor sample lies in the window); without one, ingests
    the directory as :func:`load_incident` does (writing the cache), or returns None when
    ``cached_only``.
    """
    directory = Path(directory)
    manifest, window, display_tz, _, _, checksums, _ = _read_inputs(directory)
    slot = _slot(manifest, checksums, privacy.pseudonym_key(), cache_dir)
    cached = cache.read_tables(slot, ("webinars", "concurrency"))
    if cached is not None and not _monitor_sampled(cached["concurrency"], window):
        # The sessions only now: a monitor's samples are all the load needs.
        sessions = cache.read_tables(slot, ("sessions",))
        presence = _presence_load(sessions["sessions"], window) if sessions else None
        if sessions is None:
            cached = None
        elif presence is not None:
            cached["concurrency"] = presence
    if cached is not None:
        return Description(cached["webinars"], display_tz, window, cached["concurrency"])
    if cached_only:
        return None
    incident = load_incident(directory, cache_dir=cache_dir)
    return Description(incident.webinars, display_tz, incident.window, incident.concurrency)


def load_incident(
    directory: Path | str = config.DEFAULT_INCIDENT_DIR,
    *,
    cache_dir: Path | str | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
    workers: int | None = None,
) -> Incident:
    """Ingest an incident directory (docs/contract.md section 1) into an :class:`Incident`.

    Parameters
    ----------
    directory
        The incident directory (``incident.json``, exports, optional ``SHA256SUMS``).
    cache_dir
        Parent of the Parquet cache (default ``data/interim``).
    use_cache
        Read the cache when the inputs are unchanged, and write it after a parse.
    progress
        Show a progress bar (default: only when more than 200 files are read).
    workers
        Processes that read the log pages of a large export (default one;
        :func:`~analysis.ingest.assemble.ingest_files`). The tables do not depend on it.

    Raises
    ------
    IngestError
        One line naming the file, row or field, what was expected and what was found.
    """
    directory = Path(directory)
    manifest, window, display_tz, overrides, files, checksums, skipped = _read_inputs(directory)
    project_ref = projects.read_project_ref(manifest, directory / "incident.json")
    key = privacy.pseudonym_key()
    slot = _slot(manifest, checksums, key, cache_dir)
    common = dict(manifest=manifest, window=window, display_tz=display_tz, checksums=checksums)
    cached = cache.read_cache(slot, tuple(aggregates.TABLES)) if use_cache else None
    if cached is not None:
        cached["accounting"] = skipped_accounting(skipped, cached["accounting"])
        return read_load(Incident(**cached, from_cache=True, **common))
    # The readers are imported here: a cache hit never needs them (0.2 s of imports).
    from analysis.ingest.assemble import ingest_files

    kinds = {rel: match_override(rel, overrides).kind for _, rel in files}
    pages = [(path, rel, kinds[rel]) for path, rel in files if kinds[rel] in AGGREGATE_KINDS]
    files = [(path, rel) for path, rel in files if kinds[rel] not in AGGREGATE_KINDS]
    minutes, minutes_accounting = aggregates.read_aggregates(pages, window)
    try:
        result = ingest_files(
            files,
            window=window,
            overrides=overrides,
            key=key,
            progress=progress if progress is not None else len(files) > 200,
            workers=workers,
            project_ref=project_ref,
        )
    except IngestError as exc:
        raise add_manifest_step(exc, directory) from None
    projects.check_projects(Counter(result.projects), project_ref, directory / "incident.json")
    log_rows = sum(len(result.tables[name]) for name in LOG_KINDS.values())
    log_read = int(
        result.accounting.loc[result.accounting["kind"].isin(list(LOG_KINDS)), "read"].sum()
    )
    if log_read and not log_rows:
        # The run stops before the accounting is printed: name the files and their reasons.
        logs = result.accounting[result.accounting["kind"].isin(list(LOG_KINDS))]
        per_file: dict[str, dict[str, int]] = {}
        for rec in logs.itertuples():
            counts = per_file.setdefault(rec.file, {})
            for pair in filter(None, str(rec.reason or "").split("; ")):
                reason, _, n = pair.rpartition(": ")
                counts[reason] = counts.get(reason, 0) + int(n)
        ranked = sorted(per_file.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        shown = "; ".join(
            f"{file}: " + ", ".join(f"{reason} {n}" for reason, n in counts.items())
            for file, counts in ranked[:2]
        )
        more = f"; {len(ranked) - 2} more files" if len(ranked) > 2 else ""
        raise IngestError(
            directory,
            f"no log row inside the manifest window ({shown}{more})",
            expected=f"rows in [{window[0].isoformat()}, {window[1].isoformat()})",
            found=f"{log_read} rows, all rejected",
        )
    incident = Incident(
        **result.tables,
        annotations=read_annotations(directory, result.users),
        accounting=aggregates.merge_accounting(result.accounting, minutes_accounting),
        **aggregates.privatise(minutes, result.users),
        **common,
    )
    if use_cache:
        cache.write_cache(slot, incident, (*TABLE_NAMES, *aggregates.TABLES))
    if skipped:
        incident = dataclasses.replace(
            incident, accounting=skipped_accounting(skipped, incident.accounting)
        )
    return read_load(incident)


def read_load(incident: Incident) -> Incident:
    """Return ``incident`` with its load read from presence when no monitor sampled the window.

    The contract's monitor reports the open presence sessions; an export without it (or with
    no sample in the window) but with the sessions still holds the load exactly
    (:func:`analysis.concurrency.count_open_sessions`), so it is read from them rather than
    left unmeasured. A monitor with any sample in the window is kept as it is.
    """
    if _monitor_sampled(incident.concurrency, incident.window):
        return incident
    table = _presence_load(incident.sessions, incident.window)
    if table is None:
        return incident
    return dataclasses.replace(incident, concurrency=table, load_source="presence")


def _monitor_sampled(concurrency: pd.DataFrame, window: tuple) -> bool:
    """Whether the viewer-count table holds a sample inside the window."""
    start, end = window
    return bool(((concurrency["ts"] >= start) & (concurrency["ts"] < end)).any())


def _presence_load(sessions: pd.DataFrame, window: tuple) -> pd.DataFrame | None:
    """Return the open presence sessions as a ``concurrency`` table (None: no session)."""
    from analysis.concurrency import count_open_sessions

    if sessions.empty:
        return None
    samples = count_open_sessions(sessions, *window)
    if samples.empty:
        return None
    return validate_table("concurrency", samples.astype(column_dtypes("concurrency")))
