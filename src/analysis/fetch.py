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
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tqdm import tqdm

from analysis.config import DEFAULT_DISPLAY_TZ, RAW_DIR
from analysis.exceptions import FetchError

DEFAULT_BASE_URL = "https://api.supabase.com"
TOKEN_ENV = "SUPABASE_ACCESS_TOKEN"
BASE_URL_ENV = "SUPABASE_API_URL"
ROW_CAP = 1000
MINUTE = timedelta(minutes=1)
# One API call covers at most 24 hours; a piece's API bounds are widened by a minute each side.
MAX_PIECE = timedelta(hours=23)
# Per-minute counts (1000-row cap) used only to name the minutes of a failed completeness check.
DIAGNOSIS_PIECE = timedelta(minutes=960)
SOURCES = ("edge_logs", "postgres_logs", "realtime_logs")
FLAVOURS = ("bigquery", "clickhouse")
MODES = ("raw", "hybrid")
# Which query fetches each source's raw rows, per mode (queries/<source>_<kind>.<flavour>.sql).
RAW_KINDS = {
    "raw": {source: "raw" for source in SOURCES},
    "hybrid": {
        "edge_logs": "errors_raw",
        "postgres_logs": "errors_raw",
        "realtime_logs": "events_raw",
    },
}
# Hybrid mode's aggregates: name -> (source, query file stem, the column counting the rows that
# went into a row). Each minute's rows must sum to the log store's count of that minute.
AGGREGATES = {
    "edge_minutes": ("edge_logs", "edge_logs_traffic_per_minute", "requests"),
    "edge_users": ("edge_logs", "edge_logs_users_per_minute", "requests"),
    "realtime_minutes": ("realtime_logs", "realtime_connections_per_minute", "samples"),
}
TRAFFIC_DIR = "traffic"
# Above this many raw rows in one window, raw mode says how long it will take and offers hybrid.
HYBRID_HINT_ROWS = 100_000
ENDPOINTS = {"bigquery": "logs.all", "clickhouse": "logs"}
STATE_FILE = ".fetch-state.json"
MANIFEST_FILE = "fetch-manifest.json"
CHECKSUM_FILE = "SHA256SUMS"
ANNOTATIONS_HEADER = "time_utc,label,note\n"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REF_RE = re.compile(r"^[a-z0-9]{1,40}$")
_PAGE_RE = re.compile(r"(?:[a-z_]+_logs|traffic/[a-z_]+)/page-\d{4}\.json\.gz")
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed call.

    Attempt ``k`` (1-based) that fails waits a uniformly random time in ``[0, min(max_delay,
    base_delay * 2**(k-1))]`` (full jitter), or ``Retry-After`` plus up to ``base_delay`` of
    jitter when the server sends one. A 429 without ``Retry-After`` waits ``rate_window``
    plus up to a quarter of it: the documented limit (60 calls a minute) blocks until its
    minute has passed, which a short exponential schedule would not outlast. A
    ``Retry-After`` above ``max_retry_after`` ends the fetch (it resumes when run again)
    instead of blocking for that long.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0
    rate_window: float = 60.0


@dataclass(frozen=True)
class FetchPlan:
    """What to download and where to write it."""

    project_ref: str
    start: datetime
    end: datetime
    out_dir: Path
    flavour: str = "bigquery"
    sources: tuple[str, ...] = SOURCES
    name: str = ""
    display_tz: str = DEFAULT_DISPLAY_TZ
    mode: str = "raw"


@dataclass(frozen=True)
class FetchResult:
    """What a fetch wrote: rows and pages per source, calls made, whether it resumed."""

    out_dir: Path
    rows: dict[str, int]
    pages: dict[str, int]
    duplicates_dropped: dict[str, int]
    requests: int
    resumed: bool
    already_complete: bool = False


@dataclass
class ApiClient:
    """Minimal Management API logs client on the standard library.

    Parameters
    ----------
    project_ref, token, flavour
        Project, access token and which endpoint (``bigquery`` → ``logs.all``,
        ``clickhouse`` → ``logs``).
    base_url
        ``https://api.supabase.com`` unless overridden (the tests' local server).
    sleep, clock, rng
        Injected so tests run without waiting. The jitter's generator is seeded from the
        system's entropy by default, so clients that fail together do not retry together.
    min_interval
        Seconds between two calls (the API allows about 60 calls per minute).
    """

    project_ref: str
    token: str = field(repr=False)
    flavour: str = "bigquery"
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 60.0
    retry: RetryPolicy = RetryPolicy()
    min_interval: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    requests: int = 0
    _last_call: float | None = None
    _opener: urllib.request.OpenerDirector | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise FetchError(f"{TOKEN_ENV} is empty; expected a Supabase personal access token")
        self.base_url = validate_base_url(self.base_url)
        handlers: list = [_RefuseRedirects()]
        if urllib.parse.urlsplit(self.base_url).hostname in _LOOPBACK:
            handlers.append(urllib.request.ProxyHandler({}))  # a proxy must not see local calls
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def endpoint_path(self) -> str:
        """Path of the logs endpoint for this project and flavour."""
        ref = urllib.parse.quote(self.project_ref, safe="")
        return f"/v1/projects/{ref}/analytics/endpoints/{ENDPOINTS[self.flavour]}"

    def query_logs(self, sql: str, start: datetime, end: datetime, what: str) -> list[dict]:
        """Run ``sql`` with the API window ``(start, end]``; return the rows.

        Transient failures are retried: connection errors, 408/425/429/5xx, a body cut short,
        and the log store's "Backend error! Retry your query" inside a 200. ``what`` names the
        call in error messages (source and window).
        """
        params = {
            "sql": sql,
            "iso_timestamp_start": format_iso(start),
            "iso_timestamp_end": format_iso(end),
        }
        url = f"{self.base_url}{self.endpoint_path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(
            url,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": "eventlive-postmortem-fetch/0.1",
            },
        )
        last = "no attempt made"
        for attempt in range(1, self.retry.max_attempts + 1):
            self._pace()
            self.requests += 1
            retry_after: float | None = None
            rate_limited = False
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    body = response.read()
                    encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
            except urllib.error.HTTPError as exc:
                detail = self._api_message(_decode_body(_read_quietly(exc), exc.headers))
                if exc.code not in _RETRYABLE_STATUS:
                    raise FetchError(
                        f"{what}: HTTP {exc.code} from {self.endpoint_path}: {detail}"
                        f"{_hint(exc.code)}"
                    ) from None
                last = f"HTTP {exc.code} ({detail})"
                retry_after = parse_retry_after(exc.headers.get("Retry-After"))
                rate_limited = exc.code == 429
            except (OSError, http.client.HTTPException) as exc:
                # A reset, a refused connection or a body cut short mid-page: all transient.
                last = f"connection failed ({type(exc).__name__}: {self._scrub(str(exc))})"
            else:
                try:
                    if encoding == "gzip":
                        body = gzip.decompress(body)
                    elif encoding not in ("", "identity"):
                        raise FetchError(
                            f"{what}: response in Content-Encoding {encoding[:20]!r}; "
                            "expected gzip or none"
                        )
                    envelope = json.loads(body)
                except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError):
                    last = f"response is not JSON ({len(body)} bytes; truncated?)"
                else:
                    if not _is_transient_error(envelope):
                        return self._rows(envelope, what)
                    last = f"the log store asked to retry ({self._api_message(envelope)})"
            if attempt == self.retry.max_attempts:
                break
            self.sleep(self._delay(attempt, retry_after, what, rate_limited))
        raise FetchError(
            f"{what}: gave up after {self.retry.max_attempts} attempts; last failure: {last}; "
            "run the same command again to resume"
        )

    def _rows(self, envelope: object, what: str) -> list[dict]:
        """Check the ``{"result": [...], "error": null}`` envelope; return its rows."""
        if not isinstance(envelope, dict) or "result" not in envelope:
            raise FetchError(
                f"{what}: response from {self.endpoint_path} is not a logs envelope; "
                f"expected an object with 'result' and 'error', found {self._preview(envelope)}"
            )
        if envelope.get("error") not in (None, "", [], {}):
            raise FetchError(
                f"{what}: the API answered with an error: {self._api_message(envelope)}"
            )
        rows = envelope["result"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise FetchError(
                f"{what}: field 'result' of the response is not a list of rows; "
                f"found {self._preview(rows)}"
            )
        return rows

    def _delay(
        self, attempt: int, retry_after: float | None, what: str, rate_limited: bool = False
    ) -> float:
        policy = self.retry
        if retry_after is not None:
            if retry_after > policy.max_retry_after:
                raise FetchError(
                    f"{what}: the API asks to wait {retry_after:.0f} s (Retry-After), more than "
                    f"{policy.max_retry_after:.0f} s; run the same command later to resume"
                )
            return retry_after + self.rng.uniform(0, policy.base_delay)
        if rate_limited:
            return policy.rate_window + self.rng.uniform(0, policy.rate_window / 4)
        return self.rng.uniform(0, min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)))

    def _pace(self) -> None:
        if self._last_call is not None and self.min_interval > 0:
            wait = self.min_interval - (self.clock() - self._last_call)
            if wait > 0:
                self.sleep(wait)
        self._last_call = self.clock()

    def _api_message(self, payload: object) -> str:
        """Best one-line message out of an error body or envelope, token scrubbed."""
        if isinstance(payload, bytes):
            try:
                payload = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError):
                text = payload.decode("utf-8", "replace").strip()
                return self._scrub(text[:300]) or "no message"
        if isinstance(payload, dict):
            inner = payload.get("error") or payload
            if isinstance(inner, dict):
                message = inner.get("message") or inner.get("msg") or json.dumps(inner)[:300]
            else:
                message = inner if isinstance(inner, str) else json.dumps(inner)[:300]
            return self._scrub(str(message)[:300])
        return self._preview(payload)

    def _preview(self, value: object) -> str:
        text = repr(value)
        return self._scrub(text[:80] + ("..." if len(text) > 80 else ""))

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "<token>") if self.token else text


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would resend the Authorization header to its target."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HINTS = {
    401: "; check that SUPABASE_ACCESS_TOKEN is a valid personal access token",
    403: "; the token needs the analytics_logs_read permission on this project",
    404: "; check the project ref",
}


def _hint(status: int) -> str:
    if 300 <= status < 400:
        return "; redirects are not followed (the token would be sent along); check the base URL"
    return _HINTS.get(status, "")


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except (OSError, http.client.HTTPException):
        return b""


def _decode_body(body: bytes, headers) -> bytes:
    """Return an error body as sent, gunzipped when the server compressed it."""
    if (headers.get("Content-Encoding") or "").strip().lower() == "gzip":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError):
            return b""
    return body


# The log store's own "try again" answers arrive inside a 200 envelope.
_TRANSIENT_ERROR_RE = re.compile(r"retry your query|backend error|try again", re.IGNORECASE)


def _is_transient_error(envelope: object) -> bool:
    """Tell whether an envelope's error says to retry (``"Backend error! Retry your query"``)."""
    if not isinstance(envelope, dict) or envelope.get("error") in (None, "", [], {}):
        return False
    error = envelope["error"]
    text = error if isinstance(error, str) else json.dumps(error)
    return bool(_TRANSIENT_ERROR_RE.search(text))


def validate_base_url(base_url: str) -> str:
    """Return ``base_url`` without a trailing slash; refuse plain http beyond this machine.

    The token would travel in clear text otherwise.
    """
    parsed = urllib.parse.urlsplit(base_url)
    loopback = parsed.hostname in _LOOPBACK
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise FetchError(f"base URL {base_url!r}: expected https://host, found no usable URL")
    if parsed.scheme == "http" and not loopback:
        raise FetchError(
            f"base URL {base_url!r}: expected https (plain http only to 127.0.0.1 or localhost)"
        )
    return base_url.rstrip("/")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_window_bound(text: str, name: str) -> datetime:
    """Parse START/END: ISO 8601 with an explicit offset, on a whole minute; return UTC.

    An offset is required because the incident reports mix local time (KST) and UTC; the API
    rounds windows to the minute, so a bound inside a minute would be silently moved.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FetchError(
            f"{name} {text!r}: expected an ISO 8601 time such as 2026-02-06T05:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise FetchError(
            f"{name} {text!r}: expected an explicit UTC offset (…Z or …+09:00), found none"
        )
    if value.second or value.microsecond:
        raise FetchError(
            f"{name} {text!r}: expected a whole minute (the API rounds windows to the minute)"
        )
    return value.astimezone(UTC)


def split_window(
    start: datetime, end: datetime, max_piece: timedelta = MAX_PIECE
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into consecutive pieces of at most ``max_piece``."""
    if end <= start:
        raise FetchError(
            f"window {format_iso(start)} .. {format_iso(end)}: expected END after START"
        )
    pieces, left = [], start
    while left < end:
        right = min(left + max_piece, end)
        pieces.append((left, right))
        left = right
    return pieces


def format_iso(value: datetime) -> str:
    """UTC ISO 8601 with a ``Z`` (microseconds only when not zero)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def row_timestamp(value: object) -> datetime:
    """Convert a log row's ``timestamp`` to a UTC datetime.

    BigQuery rows carry integer microseconds since the epoch; ClickHouse rows a UTC string
    ``YYYY-MM-DDTHH:MM:SS.ffffff`` (or with a space, no zone). Raises ValueError otherwise.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return EPOCH + timedelta(microseconds=int(value))
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1).replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"unsupported type {type(value).__name__}")


def load_query(source: str, flavour: str, kind: str = "raw") -> str:
    """Return the text of ``queries/<source>_<kind>.<flavour>.sql``."""
    return load_sql(f"{source}_{kind}", flavour)


def load_sql(stem: str, flavour: str) -> str:
    """Return the text of ``queries/<stem>.<flavour>.sql``."""
    name = f"{stem}.{flavour}.sql"
    try:
        return resources.files("analysis").joinpath("queries", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FetchError(
            f"query {name}: no such file in analysis/queries; expected a source among "
            f"{', '.join(SOURCES)} and a flavour among {', '.join(FLAVOURS)}"
        ) from None


def strip_sql_comments(sql: str) -> str:
    """Drop ``--`` comment lines and blank lines; the API receives only the statement."""
    lines = [line.rstrip() for line in sql.splitlines()]
    return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("--"))


def api_bounds(left: datetime, right: datetime) -> tuple[datetime, datetime]:
    """Return the API window for ``[left, right)``: whole minutes, a minute wider each side.

    The API rounds its bounds to the minute and treats the start as exclusive; bounds already
    on a whole minute and a minute wide of the rows make both harmless. The query's own
    timestamp predicate keeps exactly ``[left, right)``.
    """
    floor = left.replace(second=0, microsecond=0)
    ceil = right.replace(second=0, microsecond=0)
    if ceil < right:
        ceil += MINUTE
    return floor - MINUTE, ceil + MINUTE


def sql_timestamp(flavour: str, value: datetime) -> str:
    """Return a timestamp literal the flavour compares with its ``timestamp`` column."""
    if flavour == "bigquery":
        return f"timestamp_micros({_to_us(value)})"
    return f"toDateTime64('{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


def sql_string(value: str) -> str:
    """Return a single-quoted string literal (ids come from the API, so they are escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def window_predicate(
    flavour: str, left: datetime, right: datetime, after: tuple[int, str] | None = None
) -> str:
    """Return the SQL condition for rows in ``[left, right)`` after the key ``after = (µs, id)``."""
    column, ident = ("t.timestamp", "t.id") if flavour == "bigquery" else ("timestamp", "id")
    parts = [
        f"{column} >= {sql_timestamp(flavour, left)}",
        f"{column} < {sql_timestamp(flavour, right)}",
    ]
    if after is not None:
        stamp = sql_timestamp(flavour, _from_us(after[0]))
        parts.append(
            f"({column} > {stamp} or ({column} = {stamp} and {ident} > {sql_string(after[1])}))"
        )
    return " and ".join(parts)


_SQL_PARTS_RE = re.compile(
    r"^\s*select\s+(?P<select>.+?)\s+from\s+(?P<from>.+?)"
    r"(?:\s+where\s+(?P<where>.+?))?(?:\s+group\s+by\s+(?P<group>.+?))?"
    r"(?:\s+order\s+by\s+(?P<order>.+?))?\s+limit\s+(?P<limit>\d+)\s*$",
    re.IGNORECASE | re.DOTALL,
)


def split_sql(sql: str) -> dict[str, str | None]:
    """Return the clauses of one of our queries (select, from, where, group, order, limit)."""
    found = _SQL_PARTS_RE.match(strip_sql_comments(sql))
    if not found:
        raise FetchError(
            "query: expected select ... from ... [where ...] [group by ...] [order by ...] "
            f"limit N, found {strip_sql_comments(sql)[:80]!r}"
        )
    return found.groupdict()


def _join_sql(parts: dict[str, str | None], predicate: str) -> str:
    where = f"({parts['where']}) and {predicate}" if parts["where"] else predicate
    lines = [f"select {parts['select']}", f"from {parts['from']}", f"where {where}"]
    if parts["group"]:
        lines.append(f"group by {parts['group']}")
    if parts["order"]:
        lines.append(f"order by {parts['order']}")
    lines.append(f"limit {parts['limit']}")
    return "\n".join(lines)


def page_sql(
    sql: str,
    flavour: str,
    left: datetime,
    right: datetime,
    after: tuple[int, str] | None = None,
) -> str:
    """Restrict ``sql`` to ``[left, right)`` and to rows after the key ``after``."""
    return _join_sql(split_sql(sql), window_predicate(flavour, left, right, after))


def count_sql(sql: str, flavour: str, left: datetime, right: datetime) -> str:
    """Count the rows ``sql`` selects in ``[left, right)``, as one row ``{"n": ...}``."""
    parts = split_sql(sql)
    count = "count(*)" if flavour == "bigquery" else "count()"
    return _join_sql(
        {**parts, "select": f"{count} as n", "group": None, "order": None, "limit": "1"},
        window_predicate(flavour, left, right),
    )


def minute_count_sql(sql: str, flavour: str, left: datetime, right: datetime) -> str:
    """Count the rows of ``sql`` per minute in ``[left, right)`` (at most 1000 minutes)."""
    parts = split_sql(sql)
    if flavour == "bigquery":
        select, group = "timestamp_trunc(t.timestamp, minute) as minute, count(*) as n", "minute"
    else:
        select, group = "toStartOfMinute(timestamp) as minute, count() as n", "minute"
    return _join_sql(
        {**parts, "select": select, "group": group, "order": "minute", "limit": str(ROW_CAP)},
        window_predicate(flavour, left, right),
    )


def _minute_of(row: dict) -> datetime:
    """Return the whole minute in an aggregate row's ``minute`` (ValueError otherwise)."""
    minute = row_timestamp(row["minute"])
    if minute.second or minute.microsecond:
        raise ValueError("not a whole minute")
    return minute


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


def _from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plan_key(plan: FetchPlan, queries: dict[str, str], aggregates: dict[str, str]) -> dict:
    """Return the parameters a resumed fetch must share with the interrupted one."""
    return {
        "project_ref": plan.project_ref,
        "window_start": format_iso(plan.start),
        "window_end": format_iso(plan.end),
        "flavour": plan.flavour,
        "mode": plan.mode,
        "sources": list(plan.sources),
        "queries": {s: _sha256(q.encode()) for s, q in {**queries, **aggregates}.items()},
    }


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FetchError(
            f"{path}: unreadable ({type(exc).__name__}); delete the directory and fetch again"
        ) from None


class _Fetcher:
    """One fetch run: state, pages and progress for every source of a plan.

    Each source's window is cut into pieces of at most :data:`MAX_PIECE`. A piece is asked
    with API bounds widened to whole minutes around it (the API rounds its bounds to the
    minute) while the SQL's own predicate selects exactly ``[left, right)``; rows are paged by
    the key ``(timestamp, id)``, so no row is asked twice and a page shorter than the cap says
    nothing about the end. A count of the piece's rows taken before and after the paging is
    the only evidence of completeness: a mismatch discards the piece's pages and stops with
    what is missing.
    """

    def __init__(self, plan: FetchPlan, client: ApiClient, progress: bool) -> None:
        self.plan, self.client, self.progress = plan, client, progress
        self.pieces = split_window(plan.start, plan.end)
        kinds = RAW_KINDS[plan.mode]
        self.queries = {
            s: strip_sql_comments(load_query(s, plan.flavour, kinds[s])) for s in plan.sources
        }
        self.aggregates = {
            name: strip_sql_comments(load_sql(stem, plan.flavour))
            for name, (source, stem, _) in AGGREGATES.items()
            if plan.mode == "hybrid" and source in plan.sources
        }
        self.key = _plan_key(plan, self.queries, self.aggregates)
        self.state_path = plan.out_dir / STATE_FILE
        self.state: dict = {"plan": self.key, "sources": {}, "traffic": {}}

    def run(self) -> FetchResult:
        out = self.plan.out_dir
        manifest_path = out / MANIFEST_FILE
        if out.exists():
            _remove_partial_writes(out)
        resumed = self.state_path.exists()
        if not resumed and manifest_path.exists():
            return self._already_complete(manifest_path)
        if resumed:
            self.state = _load_json(self.state_path)
            if self.state.get("plan") != self.key:
                raise FetchError(
                    f"{self.state_path}: holds an interrupted fetch with other parameters "
                    f"({self.state.get('plan')}); expected {self.key}; choose another OUT"
                )
        elif out.exists() and any(out.iterdir()):
            raise FetchError(
                f"{out}: directory exists and holds no fetch in progress; "
                "expected a new or empty directory"
            )
        out.mkdir(parents=True, exist_ok=True)
        self._save_state()
        for source in self.plan.sources:
            self._fetch_source(source)
        for name in self.aggregates:
            self._fetch_aggregate(name)
        # The state file goes last: until then a rerun resumes and rewrites every final file.
        self._finish()
        os.remove(self.state_path)
        return self._result(resumed)

    def _fetch_source(self, source: str) -> None:
        st = self.state["sources"].setdefault(source, _new_source_state())
        seen = self._seen_ids(source, st)
        total_minutes = int((self.plan.end - self.plan.start).total_seconds() // 60)
        bar = tqdm(
            total=total_minutes,
            desc=f"{source:14}",
            unit="min",
            disable=not self.progress,
            file=sys.stderr,
            leave=True,
        )
        try:
            bar.update(self._minutes_done(st))
            bar.set_postfix(rows=sum(p["rows"] for p in st["pages"]))
            while not st["done"]:
                before = self._minutes_done(st)
                self._step(source, st, seen)
                bar.set_postfix(rows=sum(p["rows"] for p in st["pages"]), refresh=False)
                bar.update(self._minutes_done(st) - before)
        finally:
            bar.close()

    def _fetch_aggregate(self, name: str) -> None:
        st = self.state["traffic"].setdefault(name, _new_aggregate_state())
        for page in st["pages"]:
            self._verify_page(page)
        total_minutes = int((self.plan.end - self.plan.start).total_seconds() // 60)
        bar = tqdm(
            total=total_minutes,
            desc=f"{name:14}",
            unit="min",
            disable=not self.progress,
            file=sys.stderr,
            leave=True,
        )
        try:
            done = self._aggregate_minutes_done(st)
            bar.update(done)
            while not st["done"]:
                self._aggregate_step(name, st)
                now = self._aggregate_minutes_done(st)
                bar.update(now - done)
                done = now
        finally:
            bar.close()

    def _aggregate_minutes_done(self, st: dict) -> int:
        if st["done"]:
            return int((self.plan.end - self.plan.start).total_seconds() // 60)
        reached = self.pieces[st["piece"]][0]
        if st["phase"] == "rows" and st["cursor"] is not None:
            reached = _from_us(st["cursor"])
        return max(0, int((reached - self.plan.start).total_seconds() // 60))

    def _aggregate_step(self, name: str, st: dict) -> None:
        """One API call for an aggregate: its total, its per-minute counts, or a page of rows.

        The per-minute counts of the rows the aggregate reads (checked against the total) say
        how many rows each minute holds; a minute's aggregate rows are kept only when their
        counts add up to it, so a cut or short page costs a repeat, never a silent gap.
        """
        sql, flavour = self.aggregates[name], self.plan.flavour
        left, right = self.pieces[st["piece"]]
        label = f"{TRAFFIC_DIR}/{name} [{format_iso(left)}, {format_iso(right)})"
        bounds = api_bounds(left, right)
        if st["total"] is None:
            rows = self.client.query_logs(count_sql(sql, flavour, left, right), *bounds, label)
            if len(rows) != 1 or not _is_count(rows[0].get("n")):
                raise FetchError(f"{label} count: expected one row with an integer 'n'")
            st.update(total=int(rows[0]["n"]), phase="minutes", basis={}, cursor=_to_us(left))
        elif st["phase"] == "minutes":
            counted = sum(st["basis"].values())
            if counted == st["total"]:
                st.update(phase="rows", cursor=_to_us(left))
            else:
                start = _from_us(st["cursor"])
                what = f"{label} per-minute count from {format_iso(start)}"
                found = self.client.query_logs(
                    minute_count_sql(sql, flavour, start, right), *bounds, what
                )
                if not found:
                    raise FetchError(
                        f"{what}: the log store counts {st['total']} rows but its per-minute "
                        f"counts stop at {counted}; run the same command again"
                    )
                for minute, n in self._minute_rows(found, start, right, what, "n"):
                    st["basis"][str(_to_us(minute))] = int(n)
                st["cursor"] = _to_us(minute) + _to_us(EPOCH + MINUTE)
        else:
            self._aggregate_page(name, st, label, left, right)
        if st["phase"] == "rows" and not self._remaining_minutes(st):
            st.update(piece=st["piece"] + 1, **_aggregate_piece_state())
            if st["piece"] == len(self.pieces):
                st["done"] = True
                if not st["pages"]:
                    self._write_page(
                        f"{TRAFFIC_DIR}/{name}", st, [], self.plan.start, self.plan.end
                    )
        self._save_state()

    def _remaining_minutes(self, st: dict) -> list[int]:
        return sorted(int(m) for m, n in st["basis"].items() if n > 0 and int(m) >= st["cursor"])

    def _aggregate_page(
        self, name: str, st: dict, label: str, left: datetime, right: datetime
    ) -> None:
        _, _, column = AGGREGATES[name]
        start = _from_us(st["cursor"])
        what = f"{label} rows from {format_iso(start)}"
        sql = page_sql(self.aggregates[name], self.plan.flavour, start, right)
        rows = self.client.query_logs(sql, *api_bounds(left, right), what)
        sums: dict[int, int] = {}
        for minute, n in self._minute_rows(rows, start, right, what, column):
            sums[_to_us(minute)] = sums.get(_to_us(minute), 0) + int(n)
        complete: list[int] = []
        for minute in self._remaining_minutes(st):
            if sums.get(minute) != st["basis"][str(minute)]:
                break
            complete.append(minute)
        if not complete:
            first = self._remaining_minutes(st)[0]
            raise FetchError(
                f"{what}: minute {format_iso(_from_us(first))} holds {st['basis'][str(first)]} "
                f"rows in the log store but its aggregate rows count {sums.get(first, 0)} "
                f"(more than {ROW_CAP} groups in one minute, or rows the API did not return); "
                "stopped (the pages so far are kept; run the same command again)"
            )
        last = complete[-1]
        kept = [r for r in rows if _to_us(_minute_of(r)) <= last]
        for chunk in range(0, len(kept), ROW_CAP):
            self._write_page(
                f"{TRAFFIC_DIR}/{name}", st, kept[chunk : chunk + ROW_CAP], left, right
            )
        st["cursor"] = last + _to_us(EPOCH + MINUTE)

    def _minute_rows(
        self, rows: list[dict], start: datetime, right: datetime, what: str, column: str
    ) -> list[tuple[datetime, object]]:
        """Each row's whole minute in ``[start, right)``, ascending, and its count ``column``."""
        out: list[tuple[datetime, object]] = []
        for index, row in enumerate(rows):
            try:
                minute = _minute_of(row)
            except (KeyError, ValueError, OverflowError):
                raise FetchError(
                    f"{what}, row {index}, field 'minute': expected a whole minute, found "
                    f"{str(row.get('minute'))[:40]!r}"
                ) from None
            if not start <= minute < right or (out and minute < out[-1][0]):
                raise FetchError(
                    f"{what}, row {index}, field 'minute': expected ascending minutes in "
                    f"[{format_iso(start)}, {format_iso(right)}), found {format_iso(minute)}"
                )
            if not _is_count(row.get(column)):
                raise FetchError(
                    f"{what}, row {index}, field {column!r}: expected a count, found "
                    f"{str(row.get(column))[:40]!r}"
                )
            out.append((minute, row[column]))
        return out

    def _window_text(self, source: str, left: datetime, right: datetime) -> str:
        return f"{source} [{format_iso(left)}, {format_iso(right)})"

    def _count(self, source: str, left: datetime, right: datetime) -> int:
        what = f"{self._window_text(source, left, right)} count"
        sql = count_sql(self.queries[source], self.plan.flavour, left, right)
        rows = self.client.query_logs(sql, *api_bounds(left, right), what)
        if len(rows) != 1 or not _is_count(rows[0].get("n")):
            raise FetchError(
                f"{what}: expected one row with an integer 'n', found {str(rows)[:80]}"
            )
        return int(rows[0]["n"])

    def _step(self, source: str, st: dict, seen: set[str]) -> None:
        """One API call for ``source``: a count, or a page of rows written to disk."""
        left, right = self.pieces[st["piece"]]
        if st["expected"] is None:
            st["expected"] = self._count(source, left, right)
            self._save_state()
            if self.plan.mode == "raw" and st["expected"] > HYBRID_HINT_ROWS:
                calls = -(-st["expected"] // ROW_CAP)
                tqdm.write(
                    f"note: {self._window_text(source, left, right)} holds {st['expected']:,} "
                    f"rows: about {calls:,} calls ({calls / 60:.0f} min at 60 calls a minute); "
                    "MODE=hybrid fetches only the errors raw and the traffic per minute",
                    file=sys.stderr,
                )
            return
        if st["received"] < st["expected"] and not st["exhausted"]:
            self._page(source, st, seen, left, right)
            return
        # Paging reached the count (or an empty page): count again to know nothing was missed.
        recount = self._count(source, left, right)
        if recount == st["received"]:
            self._next_piece(source, st)
        elif recount > st["received"] and not st["exhausted"] and st["recounts"] < 3:
            # Rows logged late, after the first count: keep paging from the cursor.
            st["expected"], st["recounts"] = recount, st["recounts"] + 1
        else:
            self._mismatch(source, st, left, right, recount)
        self._save_state()

    def _page(self, source: str, st: dict, seen: set[str], left: datetime, right: datetime) -> None:
        after = None if st["cursor"] is None else (st["cursor"][0], st["cursor"][1])
        what = self._window_text(source, left, right)
        if after is not None:
            what += f" after {format_iso(_from_us(after[0]))}"
        sql = page_sql(self.queries[source], self.plan.flavour, left, right, after)
        rows = self.client.query_logs(sql, *api_bounds(left, right), what)
        keys = self._check_rows(rows, left, right, after, what)
        if not rows:
            st["exhausted"] = True
            self._save_state()
            return
        fresh = []
        for row in rows:
            if row["id"] in seen:
                st["duplicates"] += 1  # the same id logged twice: kept once
                continue
            seen.add(row["id"])
            fresh.append(row)
        if fresh:
            self._write_page(source, st, fresh, left, right)
        st["received"] += len(rows)
        st["cursor"] = list(keys[-1])
        self._save_state()

    def _next_piece(self, source: str, st: dict) -> None:
        st.update(piece=st["piece"] + 1, **_piece_state())
        if st["piece"] == len(self.pieces):
            st["done"] = True
            if not st["pages"]:
                # An empty page says "fetched, nothing there", unlike a missing directory.
                self._write_page(source, st, [], self.plan.start, self.plan.end)

    def _mismatch(
        self, source: str, st: dict, left: datetime, right: datetime, recount: int
    ) -> None:
        """Discard the piece's pages and stop, naming the minutes whose rows are missing."""
        mine = [p for p in st["pages"] if p.get("piece") == st["piece"]]
        have: dict[datetime, int] = {}
        for page in mine:
            for row in read_page(self.plan.out_dir / page["file"]):
                minute = row_timestamp(row["timestamp"]).replace(second=0, microsecond=0)
                have[minute] = have.get(minute, 0) + 1
        detail = self._minute_differences(source, left, right, have)
        for page in mine:
            (self.plan.out_dir / page["file"]).unlink(missing_ok=True)
        received = st["received"]
        st["pages"] = [p for p in st["pages"] if p.get("piece") != st["piece"]]
        st.update(_piece_state())
        self._save_state()
        raise FetchError(
            f"{self._window_text(source, left, right)}: the log store counts {recount} rows, "
            f"the API returned {received}"
            f" ({abs(recount - received)} {'missing' if recount > received else 'extra'})"
            f"{detail}; the pages of this window were discarded; run the same command again "
            "to fetch it again"
        )

    def _minute_differences(
        self, source: str, left: datetime, right: datetime, have: dict[datetime, int]
    ) -> str:
        """``; minutes: 05:03 (700 in the store, 388 fetched), ...`` from per-minute counts."""
        store: dict[datetime, int] = {}
        try:
            for a, b in split_window(left, right, DIAGNOSIS_PIECE):
                sql = minute_count_sql(self.queries[source], self.plan.flavour, a, b)
                what = f"{self._window_text(source, a, b)} per-minute count"
                for row in self.client.query_logs(sql, *api_bounds(a, b), what):
                    minute = row_timestamp(row["minute"]).replace(second=0, microsecond=0)
                    store[minute] = int(row["n"])
        except (FetchError, KeyError, TypeError, ValueError):
            return ""  # the totals above still say what is wrong
        wrong = sorted(m for m in set(store) | set(have) if store.get(m, 0) != have.get(m, 0))
        if not wrong:
            return ""
        shown = ", ".join(
            f"{format_iso(m)} ({store.get(m, 0)} in the store, {have.get(m, 0)} fetched)"
            for m in wrong[:5]
        )
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        return f"; minutes: {shown}{more}"

    def _check_rows(
        self,
        rows: list[dict],
        left: datetime,
        right: datetime,
        after: tuple[int, str] | None,
        what: str,
    ) -> list[tuple[int, str]]:
        """Each row has an id and a timestamp in ``[left, right)``, after the cursor, in order."""
        keys: list[tuple[int, str]] = []
        previous = after
        for index, row in enumerate(rows):
            where = f"{what}, row {index}"
            if not isinstance(row.get("id"), str) or not row["id"]:
                raise FetchError(
                    f"{where}, field 'id': expected a non-empty string, found {row.get('id')!r}"
                )
            try:
                stamp = row_timestamp(row.get("timestamp"))
            except (ValueError, OverflowError):
                raise FetchError(
                    f"{where}, field 'timestamp': expected integer microseconds or an ISO time, "
                    f"found {str(row.get('timestamp'))[:40]!r}"
                ) from None
            if not left <= stamp < right:
                raise FetchError(
                    f"{where}, field 'timestamp': expected a time in [{format_iso(left)}, "
                    f"{format_iso(right)}) (the query's own predicate), found {format_iso(stamp)}"
                )
            key = (_to_us(stamp), row["id"])
            if previous is not None and key <= previous:
                raise FetchError(
                    f"{where}: expected rows after ({format_iso(_from_us(previous[0]))}, "
                    f"{previous[1]}) in (timestamp, id) order (the query must end with order by "
                    f"timestamp, id), found ({format_iso(stamp)}, {row['id']})"
                )
            keys.append(key)
            previous = key
        return keys

    def _write_page(
        self, directory: str, st: dict, rows: list[dict], start: datetime, end: datetime
    ) -> None:
        number = len(st["pages"]) + 1
        relative = f"{directory}/page-{number:04d}.json.gz"
        data = encode_page(rows)
        _write_atomic(self.plan.out_dir / relative, data)
        stamps = [row_timestamp(r["timestamp"] if "timestamp" in r else r["minute"]) for r in rows]
        st["pages"].append(
            {
                "file": relative,
                "rows": len(rows),
                "sha256": _sha256(data),
                "piece": st["piece"],
                "window_start": format_iso(start),
                "window_end": format_iso(end),
                "first_timestamp": format_iso(stamps[0]) if stamps else None,
                "last_timestamp": format_iso(stamps[-1]) if stamps else None,
            }
        )

    def _seen_ids(self, source: str, st: dict) -> set[str]:
        """Ids of the pages already written, each page checked against its recorded sha256."""
        seen: set[str] = set()
        for page in st["pages"]:
            seen.update(row["id"] for row in read_page(self._verify_page(page)))
        return seen

    def _verify_page(self, page: dict) -> Path:
        path = self.plan.out_dir / page["file"]
        if not path.exists() or _sha256(path.read_bytes()) != page["sha256"]:
            raise FetchError(
                f"{path}: changed or missing since it was fetched; expected sha256 "
                f"{page['sha256'][:12]}...; delete the directory and fetch again"
            )
        return path

    def _minutes_done(self, st: dict) -> int:
        if st["done"]:
            return int((self.plan.end - self.plan.start).total_seconds() // 60)
        reached = self.pieces[st["piece"]][0]
        if st["cursor"] is not None:
            reached = _from_us(st["cursor"][0])
        return max(0, int((reached - self.plan.start).total_seconds() // 60))

    def _save_state(self) -> None:
        _write_atomic(self.state_path, json.dumps(self.state, indent=1).encode())

    def _finish(self) -> None:
        """Write incident.json, annotations.csv, the fetch manifest and SHA256SUMS."""
        out, plan = self.plan.out_dir, self.plan
        incident = {
            "name": plan.name or out.name,
            "project_ref": plan.project_ref,
            "window_start": format_iso(plan.start),
            "window_end": format_iso(plan.end),
            "display_tz": plan.display_tz,
            "flavour": plan.flavour,
            # The fetch manifest is provenance, not an export: tell ingest to skip it.
            "files": {MANIFEST_FILE: {"kind": "ignore"}},
        }
        if plan.mode == "hybrid":
            # Raw rows are the errors only; the traffic around them is in traffic/.
            incident["fetch_mode"] = "hybrid"
            for name in self.aggregates:
                incident["files"][f"{TRAFFIC_DIR}/{name}/*"] = {"kind": name}
        _write_atomic(out / "incident.json", (json.dumps(incident, indent=2) + "\n").encode())
        if not (out / "annotations.csv").exists():
            _write_atomic(out / "annotations.csv", ANNOTATIONS_HEADER.encode())
        manifest = {
            "tool": "analysis.fetch",
            "project_ref": plan.project_ref,
            "api": {
                "base_url": self.client.base_url,
                "endpoint": self.client.endpoint_path,
                "flavour": plan.flavour,
            },
            "window": {
                "start": format_iso(plan.start),
                "end": format_iso(plan.end),
                "semantics": (
                    "[start, end): each piece's rows are selected by the query's own timestamp "
                    "predicate; the API bounds are whole minutes one minute wider each side, "
                    "because the API rounds them to the minute and its start is exclusive"
                ),
                "pieces": [[format_iso(a), format_iso(b)] for a, b in self.pieces],
            },
            "row_cap": ROW_CAP,
            "mode": plan.mode,
            "traffic": {
                name: {"query": self.aggregates[name], "pages": st["pages"]}
                for name, st in self.state["traffic"].items()
            },
            "sources": {
                source: {
                    "query": self.queries[source],
                    "rows": sum(p["rows"] for p in st["pages"]),
                    "duplicates_dropped": st["duplicates"],
                    "pages": st["pages"],
                }
                for source, st in self.state["sources"].items()
            },
        }
        _write_atomic(out / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
        self._write_checksums()

    def _write_checksums(self) -> None:
        """SHA256SUMS of what was downloaded.

        Only that: incident.json and annotations.csv are the analyst's to edit (overrides,
        display zone, known moments), and a listed file may not change.
        """
        out = self.plan.out_dir
        files = [MANIFEST_FILE]
        for group in ("sources", "traffic"):
            files += [p["file"] for st in self.state[group].values() for p in st["pages"]]
        lines = [f"{_sha256((out / f).read_bytes())}  {f}\n" for f in sorted(files)]
        _write_atomic(out / CHECKSUM_FILE, "".join(lines).encode())

    def _already_complete(self, manifest_path: Path) -> FetchResult:
        """Verify the pages of a finished fetch with the same parameters; download nothing."""
        manifest = _load_json(manifest_path)
        found = {
            "project_ref": manifest.get("project_ref"),
            "window_start": manifest.get("window", {}).get("start"),
            "window_end": manifest.get("window", {}).get("end"),
            "flavour": manifest.get("api", {}).get("flavour"),
            "mode": manifest.get("mode", "raw"),
            "sources": list(manifest.get("sources", {})),
            "queries": {
                s: _sha256(v.get("query", "").encode())
                for group in ("sources", "traffic")
                for s, v in manifest.get(group, {}).items()
            },
        }
        if found != self.key:
            raise FetchError(
                f"{manifest_path}: a finished fetch with other parameters; expected "
                f"{self.key['window_start']} .. {self.key['window_end']} "
                f"{self.key['flavour']} {self.key['mode']} {self.key['sources']}; "
                "choose another OUT"
            )
        for source, entry in manifest["sources"].items():
            self.state["sources"][source] = {
                "pages": entry["pages"],
                "duplicates": entry["duplicates_dropped"],
            }
            self._seen_ids(source, self.state["sources"][source])
        for name, entry in manifest.get("traffic", {}).items():
            self.state["traffic"][name] = {"pages": entry["pages"]}
            for page in entry["pages"]:
                self._verify_page(page)
        if not (self.plan.out_dir / CHECKSUM_FILE).exists():
            # Only a directory written by an older version can lack it (the state file, removed
            # after SHA256SUMS, makes a killed run resume instead); the pages were just verified.
            self._write_checksums()
        return self._result(resumed=False, already_complete=True)

    def _result(self, resumed: bool, already_complete: bool = False) -> FetchResult:
        sources = self.state["sources"]
        traffic = {f"{TRAFFIC_DIR}/{n}": st for n, st in self.state["traffic"].items()}
        return FetchResult(
            out_dir=self.plan.out_dir,
            rows={
                s: sum(p["rows"] for p in st["pages"]) for s, st in {**sources, **traffic}.items()
            },
            pages={s: len(st["pages"]) for s, st in {**sources, **traffic}.items()},
            duplicates_dropped={s: st["duplicates"] for s, st in sources.items()},
            requests=self.client.requests,
            resumed=resumed,
            already_complete=already_complete,
        )


def _to_us(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def fetch_incident(plan: FetchPlan, client: ApiClient, *, progress: bool = True) -> FetchResult:
    """Download every source of ``plan`` into ``plan.out_dir`` (resuming if interrupted).

    Raises
    ------
    FetchError
        On a refused or failed call (after retries), a malformed response, or an output
        directory that holds something else.
    """
    if plan.flavour not in FLAVOURS:
        raise FetchError(f"flavour {plan.flavour!r}: expected one of {', '.join(FLAVOURS)}")
    if plan.mode not in MODES:
        raise FetchError(f"MODE {plan.mode!r}: expected one of {', '.join(MODES)}")
    if client.flavour != plan.flavour:
        raise FetchError(
            f"flavour: the client queries {client.flavour!r} but the plan asks {plan.flavour!r}"
        )
    if not _REF_RE.match(plan.project_ref):
        raise FetchError(
            f"PROJECT_REF {plan.project_ref!r}: expected the project ref (lower-case letters and "
            "digits, e.g. the subdomain of <ref>.supabase.co)"
        )
    unknown = [s for s in plan.sources if s not in SOURCES]
    if unknown or not plan.sources:
        raise FetchError(
            f"sources {list(plan.sources)}: expected one or more of {', '.join(SOURCES)}"
        )
    return _Fetcher(plan, client, progress).run()


def _default_out(project_ref: str, start: datetime) -> Path:
    return RAW_DIR / f"{project_ref}-{start:%Y-%m-%dT%H%MZ}"


class _ArgumentError(Exception):
    """A bad command-line option (turned into a FetchError by :func:`main`)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so errors stay one line and exit 2."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise _ArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m analysis fetch``."""
    parser = _Parser(
        prog="python -m analysis fetch",
        description=(
            f"Download edge, postgres and realtime logs through the Supabase Management API. "
            f"The token is read from {TOKEN_ENV}."
        ),
    )
    # An empty value means "not given": the Makefile passes every option, set or not.
    parser.add_argument("--project-ref", default="", help="project ref (<ref>.supabase.co)")
    parser.add_argument("--start", default="", help="window start, ISO with offset, e.g. Z")
    parser.add_argument("--end", default="", help="window end, ISO with offset")
    parser.add_argument(
        "--out", default="", help="incident directory (default data/raw/<ref>-<start>)"
    )
    parser.add_argument(
        "--flavour", choices=(*FLAVOURS, ""), default="", help="bigquery (default) or clickhouse"
    )
    parser.add_argument(
        "--mode", choices=(*MODES, ""), default="", help="raw (default) or hybrid (README.md)"
    )
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated sources")
    parser.add_argument("--name", default="", help="incident name (default: OUT's name)")
    parser.add_argument(
        "--display-tz", default="", help=f"zone for display (default {DEFAULT_DISPLAY_TZ})"
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
        help=f"API base URL (default ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--min-interval", type=float, default=1.0, help="seconds between calls")
    parser.add_argument("--max-attempts", type=int, default=RetryPolicy.max_attempts)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m analysis fetch``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _ArgumentError as exc:
        raise FetchError(f"fetch options: {exc}") from None
    missing = [
        name
        for name, value in (
            ("PROJECT_REF", args.project_ref),
            ("START", args.start),
            ("END", args.end),
        )
        if not value.strip()
    ]
    if missing:
        raise FetchError(
            f"{', '.join(missing)} not given; expected PROJECT_REF, START and END, e.g. make fetch "
            "PROJECT_REF=<ref> START=2026-02-06T05:00Z END=2026-02-06T06:00Z "
            f"(token in {TOKEN_ENV})"
        )
    args.flavour = args.flavour or "bigquery"
    args.display_tz = args.display_tz or DEFAULT_DISPLAY_TZ
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise FetchError(
            f"{TOKEN_ENV} is not set; expected a personal access token from "
            "https://supabase.com/dashboard/account/tokens in the environment"
        )
    try:
        ZoneInfo(args.display_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise FetchError(
            f"--display-tz {args.display_tz!r}: expected an IANA zone such as Asia/Seoul"
        ) from None
    if args.max_attempts < 1 or args.min_interval < 0 or args.timeout <= 0:
        raise FetchError("--max-attempts must be >= 1, --min-interval >= 0, --timeout > 0")
    start = parse_window_bound(args.start, "START")
    end = parse_window_bound(args.end, "END")
    plan = FetchPlan(
        project_ref=args.project_ref.strip(),
        start=start,
        end=end,
        out_dir=Path(args.out) if args.out else _default_out(args.project_ref.strip(), start),
        flavour=args.flavour,
        sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()),
        name=args.name,
        display_tz=args.display_tz,
        mode=args.mode or "raw",
    )
    client = ApiClient(
        project_ref=plan.project_ref,
        token=token,
        flavour=plan.flavour,
        base_url=args.base_url,
        timeout=args.timeout,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        min_interval=args.min_interval,
    )
    try:
        result = fetch_incident(plan, client, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; run the same command again to resume into {plan.out_dir}",
            file=sys.stderr,
        )
        return 130
    if result.already_complete:
        print(f"{result.out_dir}: already complete; pages verified, nothing downloaded")
    for source in plan.sources:
        print(
            f"{source}: {result.rows[source]} rows in {result.pages[source]} pages "
            f"({result.duplicates_dropped[source]} duplicates dropped)"
        )
    for name in (n for n in result.rows if n.startswith(f"{TRAFFIC_DIR}/")):
        print(f"{name}: {result.rows[name]} rows in {result.pages[name]} pages")
    resumed = ", resumed" if result.resumed else ""
    print(f"wrote {result.out_dir} ({result.requests} API calls{resumed})")
    return 0
