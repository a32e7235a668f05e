"""An incident directory: manifest, exports, checksums, annotations, and the Parquet cache.

:func:`load_incident` is the entry point of the whole package: it reads ``incident.json``,
lists the exports, verifies ``SHA256SUMS``, ingests (or reads the cache keyed on the inputs,
the manifest, the pseudonym key's fingerprint and this code) and returns an :class:`Incident`.
"""

from __future__ import annotations

import glob
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from analysis import config, privacy
from analysis.exceptions import IngestError
from analysis.ingest.assemble import ingest_files, match_override
from analysis.ingest.files import check_columns, load_json, read_csv_rows, read_text, sha256_of
from analysis.ingest.kinds import (
    FLAVOURS,
    KIND_ALIASES,
    KINDS,
    LOG_KINDS,
    TABLE_NAMES,
    Override,
)
from analysis.ingest.timestamps import is_aware_text, iso_to_utc
from analysis.schemas import validate_table

#: Files of an incident directory that are not exports.
NON_EXPORTS = ("incident.json", "annotations.csv", "SHA256SUMS", "fetch-manifest.json")
DATA_SUFFIXES = (".json", ".json.gz", ".csv", ".csv.gz", ".gz")
#: Bump when the canonical tables change shape, to invalidate old caches.
CACHE_FORMAT = 1


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

    def table(self, name: str) -> pd.DataFrame:
        """Return the canonical table ``name``."""
        return getattr(self, name)


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
        bounds.append(pd.Timestamp(text).tz_convert("UTC").as_unit("ns"))
    if bounds[1] <= bounds[0]:
        raise IngestError(
            path,
            "empty window",
            field="window_end",
            expected=f"after {bounds[0].isoformat()}",
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
        kind = KIND_ALIASES.get(kind, kind)
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
        out[pattern] = Override(kind=kind, flavour=flavour)
    if manifest.get("flavour"):
        out.setdefault("*", Override(flavour=manifest["flavour"]))
    return out


def list_exports(directory: Path, overrides: dict[str, Override]) -> list[tuple[Path, str]]:
    """Return the export files of an incident directory, sorted, as (path, relative name)."""
    out = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if not path.is_file() or path.name.startswith(".") or rel in NON_EXPORTS:
            continue
        ov = match_override(rel, overrides)
        if ov.kind == "ignore":
            continue
        if not path.name.lower().endswith(DATA_SUFFIXES):
            raise IngestError(
                path,
                "unsupported file type",
                expected=f"one of {list(DATA_SUFFIXES)} (or kind 'ignore' in incident.json files)",
                found=path.suffix or path.name,
            )
        out.append((path, rel))
    return out


def verify_checksums(directory: Path, checksums: dict[str, str]) -> None:
    """Check files against ``SHA256SUMS`` when the directory has one."""
    sums = directory / "SHA256SUMS"
    if not sums.exists():
        return
    for number, line in enumerate(read_text(sums).splitlines(), start=1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
        if not m:
            raise IngestError(
                sums, "bad checksum line", row=number, expected="'<sha256>  <file>'", found=line
            )
        digest, name = m.groups()
        name = name.removeprefix("./")
        actual = checksums.get(name) or (
            sha256_of(directory / name) if (directory / name).is_file() else None
        )
        if actual is None:
            raise IngestError(
                directory / name,
                "file listed in SHA256SUMS is missing",
                expected=digest[:16],
                found=None,
            )
        if actual != digest:
            raise IngestError(
                directory / name, "checksum mismatch", expected=digest[:16], found=actual[:16]
            )


def read_annotations(directory: Path, users: dict[str, str] | None = None) -> pd.DataFrame:
    """Read ``annotations.csv`` (time_utc may be empty = time unknown); redacted like logs."""
    path = directory / "annotations.csv"
    empty = pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "label": pd.Series([], dtype="string"),
            "note": pd.Series([], dtype="string"),
        }
    )
    if not path.exists():
        return empty
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
    return pd.DataFrame(
        {
            "ts": ts,
            "label": privacy.redact_series(frame["label"].astype("string"), users),
            "note": privacy.redact_series(frame["note"].astype("string"), users),
        }
    )


def _code_files() -> list[Path]:
    """List the code whose change invalidates a cache: this package and what it applies."""
    package = Path(__file__).parent
    root = package.parent
    names = ("schemas.py", "privacy.py", "vocabulary.py", "postgrest_status.json")
    return sorted(package.glob("*.py")) + [root / name for name in names]


def cache_key(manifest_text: str, checksums: dict[str, str], key: bytes) -> str:
    """Return the cache key of an ingest: inputs, manifest, pseudonym key and this code."""
    digest = hashlib.sha256()
    digest.update(f"format {CACHE_FORMAT}\n".encode())
    for source in _code_files():
        digest.update(hashlib.sha256(source.read_bytes()).digest())
    digest.update(manifest_text.encode())
    digest.update(privacy.key_fingerprint(key).encode())
    for name, value in sorted(checksums.items()):
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


def load_incident(
    directory: Path | str = config.DEFAULT_INCIDENT_DIR,
    *,
    cache_dir: Path | str | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
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

    Raises
    ------
    IngestError
        One line naming the file, row or field, what was expected and what was found.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    manifest_path = directory / "incident.json"
    window = manifest_window(manifest, manifest_path)
    display_tz = manifest.get("display_tz") or config.DEFAULT_DISPLAY_TZ
    try:
        ZoneInfo(display_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise IngestError(
            manifest_path,
            "unknown time zone",
            field="display_tz",
            expected="an IANA zone",
            found=display_tz,
        ) from None
    overrides = manifest_overrides(manifest, manifest_path)
    files = list_exports(directory, overrides)
    checksums = {rel: sha256_of(path) for path, rel in files}
    for extra in ("incident.json", "annotations.csv"):
        if (directory / extra).exists():
            checksums[extra] = sha256_of(directory / extra)
    verify_checksums(directory, checksums)
    key = privacy.pseudonym_key()
    cache_root = Path(cache_dir) if cache_dir is not None else config.INTERIM_DIR
    digest = cache_key(manifest_path.read_text(encoding="utf-8"), checksums, key)
    slot = cache_root / f"{_safe_name(manifest['name'])}-{digest[:16]}"
    common = dict(manifest=manifest, window=window, display_tz=display_tz, checksums=checksums)
    if use_cache and (slot / "complete").exists():
        tables = {
            name: validate_table(name, pd.read_parquet(slot / f"{name}.parquet"))
            for name in TABLE_NAMES
        }
        return Incident(
            **tables,
            annotations=pd.read_parquet(slot / "annotations.parquet"),
            accounting=pd.read_parquet(slot / "accounting.parquet"),
            from_cache=True,
            **common,
        )
    result = ingest_files(
        files,
        window=window,
        overrides=overrides,
        key=key,
        progress=progress if progress is not None else len(files) > 200,
    )
    log_rows = sum(len(result.tables[name]) for name in LOG_KINDS.values())
    log_read = int(
        result.accounting.loc[result.accounting["kind"].isin(list(LOG_KINDS)), "read"].sum()
    )
    if log_read and not log_rows:
        raise IngestError(
            directory,
            "no log row inside the manifest window",
            expected=f"rows in [{window[0].isoformat()}, {window[1].isoformat()})",
            found=f"{log_read} rows, all rejected (see make check)",
        )
    incident = Incident(
        **result.tables,
        annotations=read_annotations(directory, result.users),
        accounting=result.accounting,
        **common,
    )
    if use_cache:
        write_cache(slot, incident)
    return incident


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))[:60] or "incident"


def write_cache(slot: Path, incident: Incident) -> None:
    """Write the canonical tables as Parquet, atomically (a partial cache is never read)."""
    tmp = slot.with_name(slot.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in TABLE_NAMES:
        getattr(incident, name).to_parquet(tmp / f"{name}.parquet", index=False)
    incident.annotations.to_parquet(tmp / "annotations.parquet", index=False)
    incident.accounting.to_parquet(tmp / "accounting.parquet", index=False)
    (tmp / "complete").write_text("ok\n")
    shutil.rmtree(slot, ignore_errors=True)
    tmp.rename(slot)
    # Older caches of the same incident are stale by construction: keep data/interim small.
    prefix = slot.name[: -len(slot.name.rsplit("-", 1)[1])]
    for old in slot.parent.glob(f"{glob.escape(prefix)}*"):
        if old != slot and re.fullmatch(r"[0-9a-f]{16}", old.name[len(prefix) :]):
            shutil.rmtree(old, ignore_errors=True)
