"""Download Supabase logs through the Management API into an incident directory.

``python -m analysis fetch --project-ref REF --start ISO --end ISO [--out DIR]`` queries the
legacy ``logs.all`` (BigQuery) or the current ``logs`` (ClickHouse) endpoint with the raw-row
queries of ``analysis/queries``, and writes what ``analysis.ingest`` reads (docs/contract.md §1):
``<source>/page-NNNN.json.gz`` envelopes ``{"result": [...], "error": null}`` of at most 1000
rows, ``incident.json``, an empty ``annotations.csv``, ``fetch-manifest.json`` (queries, window,
row counts, checksums) and ``SHA256SUMS`` of the downloaded files.

The API answers at most 1000 rows per call over at most 24 hours and rounds its bounds to the
minute. The window is split into pieces of at most 23 hours; each is asked with whole-minute API
bounds a minute wider than the piece, while the query's own predicate selects ``[START, END)``
and pages by the key ``(timestamp, id)``. A count of each piece's rows, taken before and after
paging, is the only evidence of completeness: a mismatch discards the piece and stops (exit 2).
``--mode hybrid`` fetches the error rows raw and the traffic as per-minute aggregates under
``traffic/``. A state file records every finished page; an interrupted or killed fetch resumes
where it stopped. Rationale: docs/fetch.md.

The token comes from ``SUPABASE_ACCESS_TOKEN`` only, travels only in the ``Authorization``
header, and is scrubbed from every message this module produces.

Modules: ``client`` (the API client, retries and rate limits), ``window`` (bounds, pieces,
timestamps), ``queries`` (SQL building from ``analysis/queries``), ``pages`` (page files, the
resume state, atomic writes), ``fetcher`` (one run, raw and hybrid, with its checks and
manifest) and ``cli``.
"""

from analysis.fetch.cli import build_parser, main
from analysis.fetch.client import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    ENDPOINTS,
    TOKEN_ENV,
    ApiClient,
    RetryPolicy,
    parse_retry_after,
    validate_base_url,
)
from analysis.fetch.fetcher import HYBRID_HINT_ROWS, FetchPlan, FetchResult, fetch_incident
from analysis.fetch.pages import (
    ANNOTATIONS_HEADER,
    CHECKSUM_FILE,
    MANIFEST_FILE,
    STATE_FILE,
    TRAFFIC_DIR,
    encode_page,
    read_page,
)
from analysis.fetch.queries import (
    AGGREGATES,
    EVIDENCE_FILTERS,
    FLAVOURS,
    MODES,
    RAW_KINDS,
    ROW_CAP,
    SOURCES,
    count_sql,
    evidence_sql,
    load_query,
    load_sql,
    minute_count_sql,
    page_sql,
    split_sql,
    sql_string,
    sql_timestamp,
    strip_sql_comments,
    window_predicate,
)
from analysis.fetch.window import (
    DIAGNOSIS_PIECE,
    EPOCH,
    MAX_PIECE,
    MINUTE,
    api_bounds,
    parse_window_bound,
    row_timestamp,
    split_window,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "TOKEN_ENV",
    "BASE_URL_ENV",
    "ENDPOINTS",
    "RetryPolicy",
    "ApiClient",
    "validate_base_url",
    "parse_retry_after",
    "MINUTE",
    "MAX_PIECE",
    "DIAGNOSIS_PIECE",
    "EPOCH",
    "parse_window_bound",
    "split_window",
    "row_timestamp",
    "api_bounds",
    "ROW_CAP",
    "SOURCES",
    "FLAVOURS",
    "MODES",
    "EVIDENCE_FILTERS",
    "RAW_KINDS",
    "AGGREGATES",
    "evidence_sql",
    "load_query",
    "load_sql",
    "strip_sql_comments",
    "sql_timestamp",
    "sql_string",
    "window_predicate",
    "split_sql",
    "page_sql",
    "count_sql",
    "minute_count_sql",
    "TRAFFIC_DIR",
    "STATE_FILE",
    "MANIFEST_FILE",
    "CHECKSUM_FILE",
    "ANNOTATIONS_HEADER",
    "encode_page",
    "read_page",
    "HYBRID_HINT_ROWS",
    "FetchPlan",
    "FetchResult",
    "fetch_incident",
    "build_parser",
    "main",
]
