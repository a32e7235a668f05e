"""The columnar reader: Management API pages parsed by pyarrow's JSON reader.

A fast path of the ``api_envelope`` shape (:mod:`analysis.ingest.shapes`) for the common case
of many large pages, in both flavours:

- BigQuery: a fixed Arrow schema of the fields the analysis uses, one-element lists unwrapped
  without copies, the log source told per row from which metadata record is present;
- ClickHouse: the flat projection of the package's own raw queries
  (``queries/*_raw.clickhouse.sql``: every attribute a text column, the source in ``source``),
  read column by column instead of row by row. (msgspec decodes these flat pages in half
  the CPU time, but holds the interpreter lock, so the pages no longer decode beside the
  canonical stage: measured slower in wall time, docs/performance.md.)

Anything the fixed schemas cannot represent exactly raises :class:`NotFast`, and the general
reader (:mod:`analysis.ingest.reader`) reads that file and reports what is wrong with it; the
tables are the same either way (tests/test_ingest.py compares them).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from analysis.exceptions import IngestError
from analysis.ingest import shapes
from analysis.ingest.files import gunzip
from analysis.ingest.kinds import FUNCTION_KEYS, LOG_KINDS, FilePart


def _lst(t):
    return pa.list_(t)


def _st(**fields):
    return pa.struct(list(fields.items()))


# Large strings: what pandas' ``string`` dtype holds, so no column is cast (copied) again.
_S = pa.large_string()
_FAST_ROW = _st(
    id=_S,
    timestamp=pa.int64(),
    event_message=_S,
    identifier=_S,
    metadata=_lst(
        _st(
            request=_lst(
                _st(
                    method=_S,
                    path=_S,
                    search=_S,
                    url=_S,
                    headers=_lst(
                        _st(
                            x_client_info=_S,
                            user_agent=_S,
                            cf_ray=_S,
                            **dict.fromkeys(shapes.ADDRESS_HEADERS, _S),
                        )
                    ),
                    sb=_lst(_st(auth_user=_S)),
                )
            ),
            response=_lst(
                _st(status_code=pa.int64(), origin_time=pa.float64(), headers=_lst(_st(cf_ray=_S)))
            ),
            parsed=_lst(
                _st(
                    sql_state_code=_S,
                    error_severity=_S,
                    user_name=_S,
                    application_name=_S,
                    command_tag=_S,
                    detail=_S,
                    query=_S,
                )
            ),
            level=_S,
            external_id=_S,
            project=_S,
            measurements=_lst(_st(connected=pa.int64(), limit=pa.int64())),
        )
    ),
)
_FAST_SCHEMA = pa.schema([("result", _lst(_FAST_ROW)), ("error", _S)])
_FAST_OPTIONS = pj.ParseOptions(
    newlines_in_values=True, explicit_schema=_FAST_SCHEMA, unexpected_field_behavior="ignore"
)
#: Flat column -> path inside the row struct (each step through a one-element list).
_FAST_COLUMNS = {
    "edge_logs": {
        "request.method": ("request", "method"),
        "request.path": ("request", "path"),
        "request.search": ("request", "search"),
        "request.url": ("request", "url"),
        "request.headers.x_client_info": ("request", "headers", "x_client_info"),
        "request.headers.user_agent": ("request", "headers", "user_agent"),
        "request.headers.cf_ray": ("request", "headers", "cf_ray"),
        **{
            f"request.headers.{name}": ("request", "headers", name)
            for name in shapes.ADDRESS_HEADERS
        },
        "request.sb.auth_user": ("request", "sb", "auth_user"),
        "response.status_code": ("response", "status_code"),
        "response.origin_time": ("response", "origin_time"),
        "response.headers.cf_ray": ("response", "headers", "cf_ray"),
    },
    "postgres_logs": {
        f"parsed.{name}": ("parsed", name)
        for name in (
            "sql_state_code",
            "error_severity",
            "user_name",
            "application_name",
            "command_tag",
            "detail",
            "query",
        )
    },
    "realtime_logs": {
        "level": ("level",),
        "project": ("project",),
        "external_id": ("external_id",),
        "measurements.connected": ("measurements", "connected"),
        "measurements.limit": ("measurements", "limit"),
    },
}


#: Columns of the package's raw ClickHouse queries, every one text (a test checks the queries).
PROJECTION_COLUMNS = (
    "id",
    "timestamp",
    "event_message",
    "severity_text",
    "source",
    "identifier",
    "project",
    "request.method",
    "request.path",
    "request.search",
    "request.url",
    "request.headers.x_client_info",
    "request.headers.user_agent",
    "request.headers.cf_ray",
    *(f"request.headers.{name}" for name in shapes.ADDRESS_HEADERS),
    "request.sb.auth_user",
    "request.sb.jwt.authorization.payload.subject",
    "response.status_code",
    "response.origin_time",
    "response.headers.cf_ray",
    "parsed.sql_state_code",
    "parsed.error_severity",
    "parsed.user_name",
    "parsed.application_name",
    "parsed.command_tag",
    "parsed.detail",
    "parsed.query",
    "level",
    "measurements.connected",
    "measurements.limit",
)
_PROJECTION_ROW = pa.struct([(name, _S) for name in PROJECTION_COLUMNS])
# A key outside the projection is an error, not ignored: the general reader would keep it.
_PROJECTION_OPTIONS = pj.ParseOptions(
    newlines_in_values=True,
    explicit_schema=pa.schema([("result", _lst(_PROJECTION_ROW)), ("error", _S)]),
    unexpected_field_behavior="error",
)


class NotFast(Exception):
    """The fast reader cannot represent this file exactly; use the general path."""


def _one(arr: pa.Array) -> pa.Array:
    """Unwrap a list array whose lists hold exactly one element (null lists stay null)."""
    lengths = pc.list_value_length(arr)
    if pc.any(pc.not_equal(lengths, 1)).as_py():
        raise NotFast
    if arr.null_count == 0:
        return arr.flatten()  # zero-copy: one child per list, in order
    return pc.list_element(arr, 0)


def _field(arr: pa.StructArray, name: str) -> pa.Array:
    """Return a struct child; zero-copy unless the parent has nulls to propagate."""
    return arr.field(name) if arr.null_count == 0 else pc.struct_field(arr, name)


def _page_bytes(path: Path) -> bytes:
    """Return a page's JSON bytes (gunzipped); NotFast for what only the general reader reads."""
    try:
        data = path.read_bytes()
    except OSError:
        raise NotFast from None
    is_gzip = data[:2] == b"\x1f\x8b"
    if is_gzip != path.name.endswith(".gz") or (not is_gzip and data.lstrip()[:1] != b"{"):
        raise NotFast
    try:
        data = gunzip(path, data) if is_gzip else data
        # Arrow's JSON reader keeps invalid UTF-8 in its strings (a cut multibyte character)
        # and fails later, outside any file's context; the general reader names the byte.
        # About 1 % of a page's parse time.
        data.decode("utf-8")
    except (OSError, EOFError, IngestError, UnicodeDecodeError):
        raise NotFast from None
    return data


def _read_result(raw: bytes, options: pj.ParseOptions) -> pa.Array:
    """Parse an envelope with ``options``; return its non-empty ``result`` (a 1-long list array)."""
    try:
        # One thread per page: pages are already parsed in parallel, nested pools only
        # contend. One block per page: a page split in blocks parses 25 % slower.
        read = pj.ReadOptions(use_threads=False, block_size=len(raw) + 1)
        # The system allocator reuses the freed memory of earlier pages: mimalloc (Arrow's
        # default here) handed it back and faulted it in again, page after page (at 1M rows:
        # 755k page faults and 3.3 s of system time, against 144k and 1.8 s; peak +9 %).
        table = pj.read_json(
            io.BytesIO(raw),
            read_options=read,
            parse_options=options,
            memory_pool=pa.system_memory_pool(),
        )
    except (pa.lib.ArrowException, OSError):
        raise NotFast from None
    if table.num_rows != 1 or table.column("error").null_count != 1:
        raise NotFast
    result = table.column("result").combine_chunks()
    if result.null_count or pc.list_value_length(result)[0].as_py() == 0:
        raise NotFast
    return result


def read_page_fast(path: Path, raw: bytes | None = None) -> pa.Array:
    """Read one BigQuery-flavour page with pyarrow; return its ``result`` as a 1-long list array.

    Raises ``NotFast`` for anything the fixed schema cannot represent exactly (an error
    envelope, other value types, a ``.gz`` that is not gzip, ...): the general reader then
    reads the file and reports what is wrong with it. ``raw``: the page's bytes, if read.
    """
    return _read_result(_page_bytes(path) if raw is None else raw, _FAST_OPTIONS)


def read_projection_page(
    path: Path, flavour: str | None = None, raw: bytes | None = None
) -> list[tuple]:
    """Read one page of the package's ClickHouse projection; return its rows by log source.

    Returns ``[(kind, flavour, columns as an Arrow table, 1-based row numbers), ...]``, joined
    with other pages' by :func:`extract_projection`. The general reader would give these rows
    the same columns (every key of a projection is in every row, null or not), so where a key
    the analysis cannot do without is null in every row of a source (absent, perhaps) the
    page is left to it (``NotFast``), and so is a row whose ``source`` is not a log source
    the analysis reads. ``raw``: the page's bytes, if read.
    """
    raw = _page_bytes(path) if raw is None else raw
    rows = _read_result(raw, _PROJECTION_OPTIONS).flatten()
    if rows.null_count:
        raise NotFast
    source = pc.struct_field(rows, "source")
    number = np.arange(1, len(rows) + 1)
    out, seen = [], 0
    for kind in LOG_KINDS:
        mask = pc.fill_null(pc.equal(source, kind), False)
        count = pc.sum(mask).as_py() or 0
        if not count:
            continue
        seen += count
        every = count == len(rows)
        sub = rows if every else rows.filter(mask)
        columns = sub.flatten()  # offsets and parent nulls accounted for
        present = {
            name
            for name, col in zip(PROJECTION_COLUMNS, columns, strict=True)
            if col.null_count < count
        }
        field_map = shapes.shape_named("api_envelope").field_map(kind)
        needed = [shapes.required_names(field_map, name) for name in shapes.REQUIRED[kind]]
        needed.append(field_map["id"])
        if any(not present & set(names) for names in needed):
            raise NotFast
        table = pa.Table.from_arrays(columns, names=list(PROJECTION_COLUMNS))
        rows_kept = number if every else number[mask.to_numpy(zero_copy_only=False)]
        out.append((kind, flavour or "clickhouse", table, rows_kept))
    if seen != len(rows):
        raise NotFast
    return out


def extract_projection(pages: list[list[tuple]], rels: list[str]) -> list[FilePart]:
    """Join pages read by :func:`read_projection_page` into one part per (kind, flavour).

    Every part's frame carries ``_file`` (categorical) and ``_row`` (1-based row in its file),
    as :func:`extract_fast`'s do: one frame for many pages keeps the per-part work of the
    canonical stage (a few dozen pandas operations) from being paid once per page.
    """
    groups: dict[tuple[str, str], list[tuple[int, pa.Table, np.ndarray]]] = {}
    for code, page in enumerate(pages):
        for kind, flavour, table, rows in page:
            groups.setdefault((kind, flavour), []).append((code, table, rows))
    parts = []
    for (kind, flavour), items in groups.items():
        table = pa.concat_tables([table for _, table, _ in items])
        frame = table.to_pandas(types_mapper=_arrow_types)
        codes = np.concatenate([np.full(len(rows), code) for code, _, rows in items])
        frame["_file"] = pd.Categorical.from_codes(codes, categories=rels)
        frame["_row"] = np.concatenate([rows for _, _, rows in items])
        parts.append(FilePart("", kind, "api_envelope", flavour, frame))
    return parts


def extract_fast(results: list[pa.Array], rels: list[str]) -> list[FilePart]:
    """Turn pages read by :func:`read_page_fast` into flat records, one part per kind.

    Every part's frame carries ``_file`` (categorical) and ``_row`` (1-based row in its file).
    Raises ``NotFast`` when a row cannot be represented exactly.
    """
    pages = pa.concat_arrays(results)
    lengths = pc.list_value_length(pages).to_numpy()
    rows = pages.flatten()
    if rows.null_count:
        raise NotFast
    meta = _one(_field(rows, "metadata"))
    if meta.null_count:
        raise NotFast
    present = {
        name: pc.is_valid(_field(meta, name))
        for name in (
            "request",
            "response",
            "parsed",
            "measurements",
            "level",
            "external_id",
            "project",
        )
    }
    is_edge = pc.or_(present["request"], present["response"])
    is_pg = pc.and_(pc.invert(is_edge), present["parsed"])
    rt_any = pc.or_(
        pc.or_(present["measurements"], present["level"]),
        pc.or_(present["external_id"], present["project"]),
    )
    is_rt = pc.and_(pc.and_(pc.invert(is_edge), pc.invert(is_pg)), rt_any)
    detected = sum(pc.sum(m).as_py() or 0 for m in (is_edge, is_pg, is_rt))
    if detected != len(rows):
        raise NotFast
    file_codes = np.repeat(np.arange(len(rels)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    row_numbers = np.arange(len(rows)) - starts + 1
    parts = []
    for kind, mask in (("edge_logs", is_edge), ("postgres_logs", is_pg), ("realtime_logs", is_rt)):
        if not pc.any(mask).as_py():
            continue
        every = pc.all(mask).as_py()
        sub_rows, sub_meta = (rows, meta) if every else (rows.filter(mask), meta.filter(mask))
        columns = {
            name: _field(sub_rows, name)
            for name in ("id", "timestamp", "event_message", "identifier")
        }
        cache: dict[tuple, pa.Array] = {}
        for flat, steps in _FAST_COLUMNS[kind].items():
            arr = sub_meta
            for depth, step in enumerate(steps):
                key = steps[: depth + 1]
                if key not in cache:
                    child = _field(arr, step)
                    # Every step but the last is a one-element list (nulls allowed).
                    last = depth == len(steps) - 1 and not pa.types.is_list(child.type)
                    cache[key] = child if last else _one(child)
                arr = cache[key]
            columns[flat] = arr
        frame = pa.table(columns).to_pandas(types_mapper=_arrow_types)
        keep = mask.to_numpy(zero_copy_only=False)
        frame["_file"] = pd.Categorical.from_codes(file_codes[keep], categories=rels)
        frame["_row"] = row_numbers[keep]
        parts.append(FilePart("", kind, "api_envelope", "bigquery", frame))
    return parts


def try_read_page(path: Path, flavour: str | None = None) -> pa.Array | list | None:
    """Read a page by the columnar reader; None when the general reader must.

    A BigQuery page comes back as its ``result`` (an Arrow array, extracted in batches by
    :func:`extract_fast`), a page of the ClickHouse projection as a list (joined in batches by
    :func:`extract_projection`). The page is read and decompressed once for both readers.
    """
    try:
        raw = _page_bytes(path)
    except NotFast:
        return None
    # Every row of a BigQuery page the columnar reader takes holds ``metadata``: without the
    # word, that reader could only fail, after parsing the whole page (a key spelled with
    # escapes goes to the general reader, which gives the same rows).
    # Edge Functions' own rows look like requests; the general reader counts them apart.
    if any(b'"' + key.encode() + b'"' in raw for key in FUNCTION_KEYS):
        return None
    if flavour == "bigquery" or (flavour is None and b'"metadata"' in raw):
        try:
            return read_page_fast(path, raw)
        except NotFast:
            pass
    if flavour != "bigquery":
        try:
            return read_projection_page(path, flavour, raw)
        except NotFast:
            pass
    return None


def parse_files_fast(
    files: list[tuple[Path, str]], outcomes: list | None = None
) -> tuple[list[FilePart], list[tuple[Path, str]]]:
    """Read many BigQuery pages at once; return (parts, files left for the general reader).

    ``outcomes`` are the pages already read by :func:`try_read_page` (``ingest_files``
    reads ahead on a thread pool); without them the pages are read here.
    """
    results, rels, left, projected, projected_rels = [], [], [], [], []
    if outcomes is None:
        outcomes = [try_read_page(path) for path, _ in files]
    for (path, rel), result in zip(files, outcomes, strict=True):
        if result is None:
            left.append((path, rel))
        elif isinstance(result, list):
            projected.append(result)
            projected_rels.append(rel)
        else:
            results.append(result)
            rels.append(rel)
    ready = extract_projection(projected, projected_rels) if projected else []
    if not results:
        return ready, left
    try:
        return [*ready, *extract_fast(results, rels)], left
    except NotFast:
        pass
    # Some page holds a row the fixed schema cannot represent: retry page by page.
    parts = ready
    by_rel = dict(zip(rels, results, strict=True))
    for path, rel in files:
        if rel not in by_rel:
            continue
        try:
            parts.extend(extract_fast([by_rel[rel]], [rel]))
        except NotFast:
            left.append((path, rel))
    return parts, left


def parse_file_fast(path: Path, rel: str) -> list[FilePart]:
    """Read one BigQuery-flavour Management API page with pyarrow (see :func:`read_page_fast`)."""
    parts = extract_fast([read_page_fast(path)], [rel])
    for part in parts:
        part.file = rel
    return parts


def _arrow_types(dtype: pa.DataType):
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.StringDtype()
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    return None
