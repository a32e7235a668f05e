"""The Management API logs client: retries, rate limits, redirects refused, token scrubbed."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analysis._util import format_utc
from analysis.exceptions import FetchError

DEFAULT_BASE_URL = "https://api.supabase.com"
TOKEN_ENV = "SUPABASE_ACCESS_TOKEN"
BASE_URL_ENV = "SUPABASE_API_URL"


ENDPOINTS = {"bigquery": "logs.all", "clickhouse": "logs"}


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
            "iso_timestamp_start": format_utc(start),
            "iso_timestamp_end": format_utc(end),
        }
        url = f"{self.base_url}{self.endpoint_path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(
            url,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": "supabase-postmortem-fetch/0.1",
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
                    if (title := _html_title(body)) is not None:
                        # A page meant for a browser (a proxy's sign-in, a captive portal, a
                        # base URL that is a website): asking again will not make it JSON.
                        raise FetchError(
                            f"{what}: {self.endpoint_path} answered with an HTML page, not the "
                            f"API's JSON ({self._scrub(title)!r}); check the network's proxy "
                            f"and {BASE_URL_ENV}"
                        ) from None
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
                if (title := _html_title(payload)) is not None:
                    return f"an HTML page: {self._scrub(title)!r}"
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


_TITLE_RE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _html_title(body: bytes) -> str | None:
    """Return the title of an HTML page (``''`` if none); None when ``body`` is no HTML."""
    head = body[:512].lstrip().lower()
    if not head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return None
    found = _TITLE_RE.search(body[:65536])
    title = found.group(1).decode("utf-8", "replace") if found else ""
    return " ".join(title.split())[:120]


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
