"""A set of export files to canonical tables, with every row used or counted as rejected.

Files are read (table CSVs first, their user ids feeding the redaction of log text), log parts
are projected through their shape's field map, canonicalised in bounded batches, filtered
(severity, window, duplicate id), sorted and validated. The accounting has one row per
(file, kind) with ``read == accepted + rejected``.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis import privacy
from analysis.exceptions import IngestError
from analysis.ingest import fast, shapes
from analysis.ingest import workers as workers_
from analysis.ingest.canonical import (
    ID_COLUMNS,
    LOG_BUILDERS,
    apply_privacy,
    canonical_table,
    derive_log_ids,
)
from analysis.ingest.cells import Rejections, has_any, pick, reject_nul, require, to_text
from analysis.ingest.kinds import (
    FILTER_REASONS,
    LOG_KINDS,
    SORT_KEYS,
    TABLE_KINDS,
    FilePart,
    Override,
    match_override,
)
from analysis.ingest.projects import reject_other_projects
from analysis.ingest.reader import foreign_source_dir, looks_like_log, parse_file
from analysis.ingest.timestamps import parse_timestamps
from analysis.schemas import (
    ACCOUNTING_COLUMNS,
    column_dtypes,
    duplicated_first,
    empty_table,
    validate_table,
)
from analysis.vocabulary import ERROR_SEVERITIES

#: Rows per canonicalisation batch: bounds memory on 10-million-row exports, and small enough
#: that batches are canonicalised while the thread pool still reads the pages after them.
BATCH_ROWS = 64_000
#: Management API pages parsed together by the fast reader (fewer, larger Arrow operations).
FAST_PAGES = 64
#: Pages from which the log pages are read by forked workers (:mod:`.workers`) rather than on
#: threads of this process: below it, starting the workers and sending the tables back costs
#: more than a second core gives.
FORK_PAGES = 96
#: Pages a forked worker reads and canonicalises as one batch: small enough that the last
#: batches keep both workers busy, large enough that pandas' per-batch work stays small.
FORK_BATCH_PAGES = 32


@dataclass(frozen=True)
class Ingested:
    """Canonical tables and accounting of a set of files (no manifest, no cache).

    ``users`` maps every raw user id seen to its pseudonym; it stays in memory (never cached
    or returned by :func:`~analysis.ingest.load_incident`) and serves to clean files read
    afterwards.
    """

    tables: dict[str, pd.DataFrame]
    accounting: pd.DataFrame
    users: dict[str, str] = field(default_factory=dict, repr=False)
    #: Project reference -> log rows naming it (:mod:`analysis.ingest.projects`).
    projects: dict[str, int] = field(default_factory=dict)


@dataclass
class Context:
    """State shared while ingesting one set of files."""

    key: bytes
    window: tuple[pd.Timestamp, pd.Timestamp] | None
    #: The incident's project (``incident.json``): rows naming another are set aside.
    project_ref: str | None = None
    projects: Counter = field(default_factory=Counter)  # project ref -> rows naming it
    users: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # (file, kind, reason) -> rows
    read: Counter = field(default_factory=Counter)  # (file, kind) -> rows
    shapes: dict = field(default_factory=dict)  # (file, kind) -> (shape, flavour)
    found: dict = field(default_factory=dict)  # (file, kind, reason) -> (row, value)
    readings: dict = field(default_factory=dict)  # (file, kind) -> {column: epoch unit}
    order: dict = field(default_factory=dict)  # file -> position in the input order
    file_dtype: pd.CategoricalDtype | None = None  # categories = files in input order
    redactions: dict = field(default_factory=dict)  # text -> redacted text (a bounded cache)
    # Log exports the table pass already parsed (CSV and small JSON outside *_logs dirs), so
    # the log pass takes their parts instead of reading them again.
    preparsed: dict = field(default_factory=dict, repr=False)  # file -> [FilePart]


@dataclass
class BatchSummary:
    """What a forked worker reports of a batch of pages; its canonical chunks stay with it."""

    read: Counter
    counts: Counter
    found: dict
    shapes: dict
    readings: dict
    projects: Counter
    left: list  # (path, name) pairs the general reader must read, in the parent
    users: dict  # kind -> raw user ids of its chunk, in order of appearance


# --------------------------------------------------------------------------------------------
# Log parts to canonical rows
# --------------------------------------------------------------------------------------------


def project_part(part: FilePart, kind: str) -> pd.DataFrame:
    """Project a part's flat records onto the canonical fields through its shape's field map.

    Raises
    ------
    IngestError
        The part has rows but no column for a required field.
    """
    shape = shapes.shape_named(part.shape)
    field_map = shape.field_map(kind)
    frame = part.frame
    for name in shapes.REQUIRED[kind]:
        names = shapes.required_names(field_map, name)
        if len(frame) and not has_any(frame, names):
            raise IngestError(
                part.file,
                f"missing column for {kind}",
                field=name,
                expected=f"one of {list(names)}",
                found=sorted(c for c in frame.columns if not c.startswith("_"))[:10],
            )
    out = pd.DataFrame({name: pick(frame, names) for name, names in field_map.items()})
    # Ids of rows exported without one are derived once their times are parsed.
    out["_derive"] = bool(len(frame)) and not has_any(frame, field_map["id"])
    for col in ("_row", "_reject", "_found", "_file"):
        if col in frame.columns:
            out[col] = frame[col]
    if part.file:
        out["_file"] = part.file
    out["_naive"] = part.flavour == "clickhouse" or part.naive_utc
    out["_shape"] = part.shape
    return out


def _per_file(parser, frame: pd.DataFrame) -> dict:
    """Return ``files=`` for a time parser that decides epoch units per file, else nothing.

    The default parser does; a shape's own (docs/extending.md) is called as its signature
    allows.
    """
    if parser is parse_timestamps or "files" in inspect.signature(parser).parameters:
        return {"files": frame["_file"]}
    return {}


def parse_times(frame: pd.DataFrame, rej: Rejections) -> pd.Series:
    """Parse the ``timestamp`` field of a batch with each row's shape's own parser."""
    names = frame["_shape"].unique()
    if len(names) == 1:
        parser = shapes.shape_named(names[0]).parse_time
        return parser(
            frame["timestamp"],
            rej,
            "timestamp",
            naive_is_utc=frame["_naive"],
            **_per_file(parser, frame),
        )
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    for name in names:
        mask = frame["_shape"] == name
        parser = shapes.shape_named(name).parse_time
        parsed = parser(
            frame["timestamp"].where(mask),
            rej,
            "timestamp",
            naive_is_utc=frame["_naive"],
            **_per_file(parser, frame),
        )
        out = out.where(~mask, parsed)
    return out


def canonicalise_logs(parts: list[FilePart], kind: str, ctx: Context) -> pd.DataFrame:
    """Turn a batch of flat log records of one kind into canonical rows (accepted only).

    Rejected rows are counted in ``ctx``; accepted rows keep ``_file`` for later filters.
    """
    projected = [project_part(p, kind) for p in parts]
    for part in projected:
        # One categorical dtype before the concat: parts of different pages have different
        # categories, which pandas would concatenate as text and recode row by row.
        part["_file"] = part["_file"].astype(ctx.file_dtype)
    frame = pd.concat(projected, ignore_index=True)
    rej = Rejections(frame)
    # Another project's rows first: whatever else is wrong with them is not this incident's.
    reject_other_projects(frame["project"], rej, ctx.project_ref, ctx.projects)
    reject_nul(frame, rej)
    ids = to_text(frame["id"]).str.strip()
    derive = frame["_derive"].to_numpy(dtype=bool)
    require(ids.mask(ids.eq("").fillna(False)).where(~derive, "derived"), rej, "id")
    ts = parse_times(frame, rej)
    require(ts, rej, "timestamp")
    if derive.any():
        made = derive_log_ids(frame[derive], ts[derive], kind, ctx.key)
        ids = ids.where(~derive, made.reindex(frame.index))
    body = LOG_BUILDERS[kind](frame, rej)
    table = pd.concat([pd.DataFrame({"id": ids, "ts": ts}, index=frame.index), body], axis=1)
    table["_file"] = frame["_file"]
    table["_row"] = frame["_row"].astype("int64")
    table["_reason"] = rej.reason
    count_rejections(ctx, table, kind, rej)
    for file in frame["_file"].unique():
        check_bad_file(ctx, file, kind)
    ok = rej.ok
    # Rows are rarely rejected: filtering would copy every column of the batch for nothing.
    return (table if ok.all() else table[ok]).drop(columns="_reason")


def count_rejections(ctx: Context, table: pd.DataFrame, kind: str, rej: Rejections) -> None:
    """Add read and rejected counts of a batch, and its times' epoch units, to the accounting."""
    for (file, column), unit in rej.readings.items():
        ctx.readings.setdefault((file, kind), {})[column] = unit
    for file, n in table.groupby("_file", sort=False, observed=True).size().items():
        ctx.read[(file, kind)] += int(n)
    rejected = table["_reason"].notna()
    if not rejected.any():
        return
    bad = table.loc[rejected, ["_file", "_reason"]]
    groups = bad.groupby(["_file", "_reason"], sort=False, observed=True).groups
    for (file, reason), idx in groups.items():
        ctx.counts[(file, kind, reason)] += len(idx)
        ctx.found.setdefault((file, kind, reason), rej.first(idx[0], reason))


def check_bad_file(ctx: Context, file: str, kind: str) -> None:
    """Raise if every row of ``file`` was rejected for one and the same malformation."""
    read = ctx.read.get((file, kind), 0)
    reasons = {r: n for (f, k, r), n in ctx.counts.items() if f == file and k == kind}
    if read and len(reasons) == 1:
        reason, n = next(iter(reasons.items()))
        if n == read and not reason.startswith(FILTER_REASONS):
            row, value = ctx.found.get((file, kind, reason), (None, None))
            raise IngestError(file, f"every row rejected: {reason}", row=row, found=value)


def filter_rows(
    ctx: Context, table: pd.DataFrame, kind: str, mask: pd.Series, reason: str
) -> pd.DataFrame:
    """Drop rows of ``mask`` from ``table``, counting them as ``reason`` per file."""
    mask = mask.fillna(False).astype(bool)
    if not mask.any():
        return table
    for file, n in table.loc[mask, "_file"].value_counts(sort=False).items():
        if n:
            ctx.counts[(file, kind, reason)] += int(n)
    return table[~mask]


def count_unsupported(ctx: Context, part: FilePart) -> None:
    """Count rows of a log source the analysis does not use (e.g. auth_logs) as rejected."""
    reasons = part.frame["_reject"] if "_reject" in part.frame.columns else pd.Series(dtype=object)
    ctx.read[(part.file, part.kind)] += len(part.frame)
    reasons = reasons.fillna("unknown log source")
    for reason, n in reasons.value_counts().items():
        ctx.counts[(part.file, part.kind, reason)] += int(n)
        first = reasons.index[reasons == reason][0]
        ctx.found.setdefault(
            (part.file, part.kind, reason), (int(part.frame.loc[first, "_row"]), None)
        )
    check_bad_file(ctx, part.file, part.kind)


# --------------------------------------------------------------------------------------------
# A set of files
# --------------------------------------------------------------------------------------------


def ingest_files(
    files: list[tuple[Path, str]],
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    overrides: dict[str, Override] | None = None,
    key: bytes | None = None,
    progress: bool = False,
    workers: int | None = None,
    project_ref: str | None = None,
) -> Ingested:
    """Ingest export files into canonical tables with per-file accounting.

    Parameters
    ----------
    files
        (path, name shown in errors and accounting) pairs; processed in this order, which is
        also the order that decides which copy of a duplicated id is kept.
    window
        (start, end) UTC; log rows and viewer-count samples outside ``[start, end)`` are
        rejected as ``outside window``. None keeps every row.
    overrides
        Glob (matched against the shown name) -> :class:`Override`.
    key
        Pseudonymisation key (default :func:`analysis.privacy.pseudonym_key`).
    progress
        Show a tqdm progress bar over files.
    workers
        Processes that read log pages when there are at least :data:`FORK_PAGES` (default 1:
        on threads of this process; on an idle machine the forked workers cost more CPU and
        memory than they saved in wall time, docs/performance.md "Ingest"). The tables are
        the same for any number.
    project_ref
        The incident's project: log rows that name another are rejected as
        ``another project (ref ...)`` (:mod:`analysis.ingest.projects`). None keeps every
        row; :attr:`Ingested.projects` then says which projects the rows name.

    Returns
    -------
    Ingested
        Canonical tables keyed by table name and the accounting frame.
    """
    if workers is not None and workers > 1:
        try:
            return _ingest(files, window, overrides or {}, key, progress, workers, project_ref)
        except (workers_.WorkerFailure, IngestError):
            # A bad file or a failed worker: read everything again in this process, so a
            # user's error is the one, worded and ordered as, a run without workers gives.
            pass
    return _ingest(files, window, overrides or {}, key, progress, 1, project_ref)


def _ingest(files, window, overrides, key, progress, workers, project_ref=None) -> Ingested:
    """:func:`ingest_files` with log pages read by ``workers`` forked processes (1: none)."""
    ctx = Context(key=key or privacy.pseudonym_key(), window=window, project_ref=project_ref)
    ctx.order = {rel: number for number, (_, rel) in enumerate(files)}
    ctx.file_dtype = pd.CategoricalDtype(list(ctx.order))
    table_parts: dict[str, list[FilePart]] = defaultdict(list)
    log_files: list[tuple[Path, str, Override]] = []

    # Tables first: their user ids feed the redaction of free text in the logs.
    for path, rel in files:
        ov = match_override(rel, overrides)
        if ov.kind == "ignore":
            continue
        if ov.kind in LOG_KINDS or (ov.kind is None and looks_like_log(path)):
            log_files.append((path, rel, ov))
            continue
        parts = parse_file(path, rel, ov)
        if rest := [part for part in parts if part.kind not in TABLE_KINDS]:
            # Log rows, or a SQL dump's other tables: counted with the logs (sort_parts).
            ctx.preparsed[rel] = rest
            log_files.append((path, rel, ov))
        for part in (part for part in parts if part.kind in TABLE_KINDS):
            table_parts[part.kind].append(part)
            ctx.shapes[(rel, part.kind)] = (part.shape, None)
            ctx.read[(rel, part.kind)] += 0
    tables = build_table_kinds(table_parts, ctx)
    pages = sum(ov.kind is None for _, _, ov in log_files)
    replaced: set[str] = set()
    if workers > 1 and pages >= FORK_PAGES:
        logs, replaced = read_logs_forked(log_files, ctx, overrides, progress, workers)
    else:
        logs = read_logs(log_files, ctx, overrides, progress)
    tables.update(logs)
    # Last pass, once every user id is known: an id seen in text before the row that
    # revealed it as a user's (or redacted from the cache earlier) is replaced too.
    for name, table in tables.items():
        if name in replaced:
            continue  # done chunk by chunk by the workers (read_logs_forked)
        for col in table.columns:
            if col not in ID_COLUMNS and isinstance(table[col].dtype, pd.StringDtype):
                # A title is typed by people: a year in it is no user's id.
                years = name == "webinars"
                table[col] = privacy.replace_user_ids(table[col], ctx.users, keep_years=years)
    return Ingested(
        tables=tables,
        accounting=accounting_frame(ctx),
        users=ctx.users,
        projects=dict(ctx.projects),
    )


class Batcher:
    """Log parts waiting for canonicalisation, in batches of :data:`BATCH_ROWS` per kind."""

    def __init__(self, ctx: Context, chunks: dict[str, list[pd.DataFrame]] | None = None) -> None:
        self.ctx = ctx
        self.pending: dict[str, list[FilePart]] = defaultdict(list)
        self.rows: Counter = Counter()
        self.chunks: dict[str, list[pd.DataFrame]] = defaultdict(list, chunks or {})

    def take(self, parts: list[FilePart]) -> None:
        """Queue ``parts`` (rows of sources the analysis does not use are counted rejected)."""
        for kind, queued in sort_parts(self.ctx, parts).items():
            for part in queued:
                self.pending[kind].append(part)
                self.rows[kind] += len(part.frame)
                if self.rows[kind] >= BATCH_ROWS:
                    self.flush(kind)

    def flush(self, kind: str) -> None:
        """Canonicalise the parts queued for ``kind``."""
        if self.pending[kind]:
            self.chunks[kind].append(canonicalise_logs(self.pending[kind], kind, self.ctx))
            self.pending[kind], self.rows[kind] = [], 0
            # Hand the canonical stage's freed Arrow buffers back: bounded memory on huge
            # exports (the page parser allocates from the system pool, fast._read_result).
            pa.default_memory_pool().release_unused()


def sort_parts(ctx: Context, parts: list[FilePart]) -> dict[str, list[FilePart]]:
    """Note each part's files in the accounting; return the log parts by kind.

    Rows of a log source the analysis does not use are counted as rejected here.
    """
    out: dict[str, list[FilePart]] = defaultdict(list)
    for part in parts:
        files_in = [part.file] if part.file else list(part.frame["_file"].unique())
        for rel in files_in:
            ctx.shapes[(rel, part.kind)] = (part.shape, part.flavour)
            ctx.read[(rel, part.kind)] += 0
        if part.kind not in LOG_KINDS:
            count_unsupported(ctx, part)
            continue
        out[part.kind].append(part)
    return out


def read_logs(
    log_files: list[tuple[Path, str, Override]],
    ctx: Context,
    overrides: dict[str, Override],
    progress: bool,
) -> dict[str, pd.DataFrame]:
    """Read and assemble the log files in this process; return the log tables by name."""
    batcher = Batcher(ctx)
    # Pages are parsed on a thread pool (pyarrow and zlib release the GIL), up to two
    # batches ahead of the batch being canonicalised, so parsing and pandas work overlap.
    from tqdm.auto import tqdm  # here: a cache hit never needs it (0.1 s of imports)

    reads: deque[tuple[Path, str, Future]] = deque()
    bar = tqdm(total=len(log_files), desc="ingest", unit="file", disable=not progress)

    def drain(count: int) -> None:
        batch = [reads.popleft() for _ in range(min(count, len(reads)))]
        files_, outcomes = [(p, r) for p, r, _ in batch], [f.result() for _, _, f in batch]
        parts, left = fast.parse_files_fast(files_, outcomes)
        batcher.take(parts)
        for path, rel in left:
            batcher.take(parse_file(path, rel, match_override(rel, overrides)))
        bar.update(len(batch))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for path, rel, ov in log_files:
            if ov.kind is None and foreign_source_dir(path) is None and rel not in ctx.preparsed:
                reads.append((path, rel, pool.submit(fast.try_read_page, path, ov.flavour)))
                if len(reads) >= 2 * FAST_PAGES:
                    drain(FAST_PAGES)
            else:
                batcher.take(ctx.preparsed.pop(rel, None) or parse_file(path, rel, ov))
                bar.update(1)
        while reads:
            drain(FAST_PAGES)
    bar.close()
    for kind in LOG_KINDS:
        batcher.flush(kind)
    tables = {}
    for kind, name in LOG_KINDS.items():
        private = privatise_logs(batcher.chunks.pop(kind, []), kind, ctx)
        tables[name] = assemble_logs(private, kind, name, ctx)
    return tables


def read_logs_forked(
    log_files: list[tuple[Path, str, Override]],
    ctx: Context,
    overrides: dict[str, Override],
    progress: bool,
    count: int,
) -> tuple[dict[str, pd.DataFrame], set[str]]:
    """Read the log pages in ``count`` processes (this one and forked workers).

    Returns the log tables by name, and the names of the tables whose user ids were already
    replaced by the last pass of :func:`_ingest` (see below).

    The pages are cut into ``count`` contiguous shares: this process reads the first, a
    forked worker each other one. Each reads and canonicalises its share (:func:`read_share`),
    keeps the chunks and reports their accounting and user ids; once every user id of a
    source is known, each pseudonymises and redacts its chunks (:func:`finish_chunks`, as
    :func:`privatise_logs` does) and the workers send theirs back. Files with a kind override
    and pages only the general reader reads are read here.
    """
    pages = [
        (path, rel, ov.flavour)
        for path, rel, ov in log_files
        if ov.kind is None and foreign_source_dir(path) is None and rel not in ctx.preparsed
    ]
    bounds = np.linspace(0, len(pages), count + 1).round().astype(int)
    shares = [pages[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    batcher = Batcher(ctx)
    tables, replaced = {}, set()
    pool = workers_.PageWorkers(
        count - 1,
        read=lambda share: read_share(share, ctx),
        finish=lambda state, *args: finish_chunks(state, *args, ctx=ctx),
    )
    from tqdm.auto import tqdm  # as in read_logs

    with pool:
        pool.start_read(shares[1:])
        bar = tqdm(total=len(log_files), desc="ingest", unit="file", disable=not progress)
        # This process's own share: it would otherwise wait, and its chunks need no sending.
        own, summary = read_share(shares[0], ctx)
        summaries = [summary]
        for path, rel, ov in log_files:
            if ov.kind is not None or foreign_source_dir(path) is not None or rel in ctx.preparsed:
                batcher.take(ctx.preparsed.pop(rel, None) or parse_file(path, rel, ov))
                bar.update(1)
        summaries += pool.collect_read()
        raw_users: dict[str, list] = defaultdict(list)
        for summary in summaries:
            ctx.read.update(summary.read)
            ctx.counts.update(summary.counts)
            for found_key, value in summary.found.items():
                ctx.found.setdefault(found_key, value)
            ctx.shapes.update(summary.shapes)
            for read_key, units in summary.readings.items():
                ctx.readings.setdefault(read_key, {}).update(units)
            ctx.projects.update(summary.projects)
            for kind, users in summary.users.items():
                raw_users[kind].extend(users)
            for path, rel in summary.left:
                batcher.take(parse_file(path, rel, match_override(rel, overrides)))
        bar.update(len(pages))
        bar.close()
        for kind in LOG_KINDS:
            batcher.flush(kind)
        # Every user id of every source, known before any is redacted: a source whose own
        # users complete the set gets the last replacement pass of ``_ingest`` here, chunk
        # by chunk (the pass replaces value by value, so chunks or table give the same).
        final = set(ctx.users)
        for kind in LOG_KINDS:
            final.update(raw_users[kind])
            final.update(user for chunk in batcher.chunks[kind] for user in chunk_users(chunk))
        for kind, name in LOG_KINDS.items():
            for user in raw_users.pop(kind, []):
                if user not in ctx.users:
                    ctx.users[user] = privacy.pseudonymise(user, ctx.key)
            local = batcher.chunks.pop(kind, [])
            add_users(local, ctx)
            columns = final_columns(name) if len(ctx.users) == len(final) else ()
            pool.start_finish(kind, ctx.users, columns)
            # This process finishes its share and the files it read meanwhile; shares go in
            # page order, those files last: the table's order does not depend on it
            # (duplicates go by file order, rows by time and id).
            private = list(finish_chunks(own, kind, ctx.users, columns, ctx=ctx))
            private += pool.collect()
            here = Batcher(ctx, {kind: local})
            private += finish_chunks(here, kind, ctx.users, columns, ctx=ctx)
            tables[name] = assemble_logs(private, kind, name, ctx)
            if columns:
                replaced.add(name)
    return tables, replaced


def final_columns(name: str) -> tuple[str, ...]:
    """Columns of table ``name`` the last replacement pass of :func:`_ingest` goes over."""
    return tuple(
        col
        for col, dtype in column_dtypes(name).items()
        if col not in ID_COLUMNS and isinstance(pd.api.types.pandas_dtype(dtype), pd.StringDtype)
    )


def chunk_users(chunk: pd.DataFrame) -> list:
    """Distinct raw user ids of a canonical chunk, in order of appearance."""
    return list(pd.unique(chunk["user"].dropna())) if "user" in chunk.columns else []


def read_share(pages: list[tuple[Path, str, str | None]], ctx: Context):
    """Read and canonicalise a share of the log pages (in a forked worker).

    Returns (the :class:`Batcher` holding the canonical chunks, :class:`BatchSummary`); the
    accounting of the share is counted apart from ``ctx`` and merged by the parent.
    """
    local = Context(
        key=ctx.key,
        window=ctx.window,
        project_ref=ctx.project_ref,
        order=ctx.order,
        file_dtype=ctx.file_dtype,
    )
    batcher = Batcher(local)
    left = []
    for start in range(0, len(pages), FAST_PAGES):
        batch = pages[start : start + FAST_PAGES]
        outcomes = [fast.try_read_page(path, flavour) for path, _, flavour in batch]
        parts, rest = fast.parse_files_fast([(path, rel) for path, rel, _ in batch], outcomes)
        batcher.take(parts)
        left.extend(rest)
    for kind in LOG_KINDS:
        batcher.flush(kind)
    users = {
        kind: list(dict.fromkeys(user for chunk in chunks for user in chunk_users(chunk)))
        for kind, chunks in batcher.chunks.items()
    }
    summary = BatchSummary(
        read=local.read,
        counts=local.counts,
        found=local.found,
        shapes=local.shapes,
        readings=local.readings,
        projects=local.projects,
        left=left,
        users=users,
    )
    return batcher, summary


def finish_chunks(
    batcher: Batcher, kind: str, users: dict, columns: tuple[str, ...], ctx: Context
) -> Iterator[pd.DataFrame]:
    """Pseudonymise and redact the chunks of ``kind`` (and replace user ids in ``columns``).

    Yields each chunk as it is done, emptying the batcher as it goes.
    """
    chunks = batcher.chunks.pop(kind, [])
    chunks.reverse()
    while chunks:
        chunk = apply_privacy(chunks.pop(), kind, ctx.key, users, ctx.redactions)
        for col in columns:
            chunk[col] = privacy.replace_user_ids(chunk[col], users)
        yield chunk


def privatise_logs(chunks: list[pd.DataFrame], kind: str, ctx: Context) -> list[pd.DataFrame]:
    """Pseudonymise and redact canonical batches, once every user id of the source is known.

    What a text is redacted to (a pseudonym or ``[user]``) then does not depend on where
    batches happen to end. ``chunks`` is emptied as it goes (bounded memory).
    """
    add_users(chunks, ctx)
    private = [apply_privacy(c, kind, ctx.key, ctx.users, ctx.redactions) for c in chunks]
    chunks.clear()
    return private


def assemble_logs(private: list[pd.DataFrame], kind: str, name: str, ctx: Context) -> pd.DataFrame:
    """Concatenate private canonical batches, apply the table-wide filters, sort, validate.

    Filters only build masks; the rows kept are taken once, already in output order, so a
    ten-million-row table is copied as few times as possible.
    """
    if private:
        table = pd.concat(private, ignore_index=True)
        private.clear()
    else:
        table = empty_table(name).assign(
            _file=pd.Series([], dtype=object), _row=pd.Series([], dtype="int64")
        )
    files = table["_file"].astype(ctx.file_dtype)
    drop = np.zeros(len(table), dtype=bool)

    def reject(mask: np.ndarray, reason: str) -> None:
        new = mask & ~drop
        if new.any():
            for file, n in files[new].value_counts(sort=False).items():
                if n:
                    ctx.counts[(file, kind, reason)] += int(n)
            drop[new] = True

    if kind == "postgres_logs":
        severity = table["severity"]
        for value in sorted(set(severity.dropna().unique()) - set(ERROR_SEVERITIES)):
            reject(
                (severity == value).to_numpy(dtype=bool, na_value=False),
                f"not an error (severity {value})",
            )
    if ctx.window is not None:
        ts = table["ts"]
        reject(((ts < ctx.window[0]) | (ts >= ctx.window[1])).to_numpy(), "outside window")
    # Duplicates: the first copy in file order wins, whatever order the readers finished in.
    alive = np.flatnonzero(~drop)
    file_order = files.cat.codes.to_numpy()  # categories are in input order
    by_file = alive[np.lexsort((table["_row"].to_numpy()[alive], file_order[alive]))]
    dup = duplicated_first(table["id"].take(by_file))
    dup_mask = np.zeros(len(table), dtype=bool)
    dup_mask[by_file[dup]] = True
    reject(dup_mask, "duplicate id")
    keep = np.flatnonzero(~drop)
    keys = SORT_KEYS[name]
    sort_table = pa.Table.from_pandas(table[keys].take(keep), preserve_index=False)
    order = pc.sort_indices(sort_table, sort_keys=[(k, "ascending") for k in keys])
    rows = keep[order.to_numpy()]
    # Exports are usually in time order already: then no column needs copying.
    in_order = len(rows) == len(table) and bool((rows == np.arange(len(rows))).all())
    # Column by column, dropping each source column as soon as it is copied: the peak is
    # one table plus one column, not two tables.
    out = {}
    for col in list(table.columns):
        if col.startswith("_"):
            del table[col]
            continue
        column = table[col] if in_order else table[col].take(rows)
        out[col] = column.reset_index(drop=True)
        del table[col]
        pa.default_memory_pool().release_unused()
    return finish(pd.DataFrame(out), name, sort=False)


def add_users(chunks: list[pd.DataFrame], ctx: Context) -> None:
    """Add the pseudonym of every raw user id of ``chunks`` (``user`` column) to ``ctx.users``."""
    for chunk in chunks:
        if "user" in chunk.columns:
            for user in pd.unique(chunk["user"].dropna()):
                if user not in ctx.users:
                    ctx.users[user] = privacy.pseudonymise(user, ctx.key)


def build_table_kinds(parts: dict[str, list[FilePart]], ctx: Context) -> dict[str, pd.DataFrame]:
    """Canonicalise the table-editor CSVs (webinars first: the others are checked against it)."""
    tables: dict[str, pd.DataFrame] = {}
    webinar_ids: set[str] | None = None
    for kind in ("webinars", "registrations", "webinar_live_presence", "webinar_viewer_counts"):
        name = TABLE_KINDS[kind]
        if kind != "webinars" and parts.get(kind) and webinar_ids is None:
            raise IngestError(
                parts[kind][0].file,
                "cannot check webinar ids",
                expected="a webinars table export",
                found="none",
            )
        frames = [accept_table_rows(p, ctx, webinar_ids) for p in parts.get(kind, [])]
        table = (
            pd.concat(frames, ignore_index=True)
            if frames
            else empty_table(name).assign(
                _file=pd.Series([], dtype=object), _key=pd.Series([], dtype="string")
            )
        )
        table = filter_rows(
            ctx,
            table,
            kind,
            table["_key"].notna() & table["_key"].duplicated(keep="first"),
            "duplicate id",
        )
        if kind == "webinar_viewer_counts" and ctx.window is not None:
            table = filter_rows(
                ctx,
                table,
                kind,
                (table["ts"] < ctx.window[0]) | (table["ts"] >= ctx.window[1]),
                "outside window",
            )
        if kind == "webinars" and parts.get(kind):
            webinar_ids = set(table["webinar_id"].dropna())
        private = apply_privacy(table, kind, ctx.key, ctx.users, ctx.redactions)
        tables[name] = finish(private.drop(columns="_key"), name)
    return tables


def accept_table_rows(part: FilePart, ctx: Context, webinar_ids: set[str] | None) -> pd.DataFrame:
    """One table-editor CSV -> accepted canonical rows (rejections and filters counted)."""
    table, rej = canonical_table(part, ctx.key)
    count_rejections(ctx, table, part.kind, rej)
    check_bad_file(ctx, part.file, part.kind)
    table = table[rej.ok].drop(columns="_reason")
    if part.kind != "webinars" and webinar_ids is not None:
        unknown = ~table["webinar_id"].isin(webinar_ids)
        table = filter_rows(ctx, table, part.kind, unknown, "unknown webinar")
    return table


def finish(table: pd.DataFrame, name: str, *, sort: bool = True) -> pd.DataFrame:
    """Drop bookkeeping columns, fix dtypes and order, validate against the schema."""
    table = table.drop(columns=[c for c in table.columns if c.startswith("_")])
    if sort:
        table = table.sort_values(SORT_KEYS[name], kind="stable")
    table = table.reset_index(drop=True)
    out = pd.DataFrame({col: table[col].astype(dt) for col, dt in column_dtypes(name).items()})
    return validate_table(name, out)


def accounting_frame(ctx: Context) -> pd.DataFrame:
    """Return the accounting: one row per (file, kind), ``read == accepted + rejected``."""
    rows = []
    for (file, kind), read in sorted(ctx.read.items()):
        reasons = sorted(
            ((r, n) for (f, k, r), n in ctx.counts.items() if f == file and k == kind),
            key=lambda x: (-x[1], x[0]),
        )
        rejected = sum(n for _, n in reasons)
        shape, flavour = ctx.shapes.get((file, kind), (None, None))
        units = ctx.readings.get((file, kind), {})
        # A source the analysis does not read is named by the export's own log type (data):
        # redacted like log text. File names stay: the analyst's terminal needs them; reports
        # redact them where they show them.
        rows.append(
            {
                "file": file,
                "kind": privacy.redact_text(kind),
                "read": read,
                "accepted": read - rejected,
                "rejected": rejected,
                "reason": "; ".join(f"{privacy.redact_text(r)}: {n}" for r, n in reasons),
                "shape": shape,
                "flavour": flavour,
                "note": "; ".join(
                    f"{col} read as {unit} since the epoch (UTC)"
                    for col, unit in sorted(units.items())
                )
                or None,
            }
        )
    frame = pd.DataFrame(rows, columns=[*ACCOUNTING_COLUMNS, "shape", "flavour", "note"])
    for col in ("read", "accepted", "rejected"):
        frame[col] = frame[col].astype("int64")
    for col in ("file", "kind", "reason", "shape", "flavour", "note"):
        frame[col] = frame[col].astype("string")
    return frame
