"""Projected log records and table CSVs to the canonical columns (docs/contract.md section 2).

Log builders receive a batch already projected onto canonical field names (``method``,
``sql_state``, ``connected``, ...) by each part's shape; they coerce, derive (endpoint, client,
SQLSTATE from a message, Realtime family) and reject, never knowing which shape a row came
from. Privacy (pseudonyms, redaction) is applied here too, before any table leaves ingest.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from urllib.parse import unquote

import pandas as pd
import pyarrow.compute as pc

from analysis import addresses, privacy, vocabulary
from analysis._util import canonical_row_key
from analysis.ingest.cells import (
    Rejections,
    arrow_text,
    blank_to_na,
    map_unique,
    reject_nul,
    require,
    to_number,
    to_text,
)
from analysis.ingest.kinds import FilePart
from analysis.ingest.shapes import ADDRESS_HEADERS
from analysis.ingest.timestamps import parse_timestamps

_KEY_DETAIL_RE = re.compile(r"Key \(([^)]*)\)=\((.*)\)")
_UA_FAMILIES = (
    (r"\bEdg(?:e|A|iOS)?/", "Edge"),
    (r"\bOPR/", "Opera"),
    (r"\bSamsungBrowser/", "Samsung Internet"),
    (r"\bFirefox/|\bFxiOS/", "Firefox"),
    (r"\bChrome/|\bCriOS/", "Chrome"),
    (r"\bSafari/", "Safari"),
    (r"^curl/", "curl"),
    (r"^python-requests/|^python-httpx/|^aiohttp/", "python"),
    (r"^node|^undici|^axios/", "node"),
    (r"Dart/", "dart"),
)


def derived_id(prefix: str, key_text: str | None, key: bytes) -> str | None:
    """Return ``prefix`` + 16 hex of a keyed HMAC of ``key_text`` (an id made from a key)."""
    if key_text is None:
        return None
    return prefix + hmac.new(key, key_text.encode(), hashlib.sha256).hexdigest()[:16]


def derive_log_ids(frame: pd.DataFrame, times: pd.Series, kind: str, key: bytes) -> pd.Series:
    """Return ids for log rows exported without one (an Explorer projection without ``id``).

    The id is a keyed hash of the row's instant (``times``, parsed: the same event written
    ``2026-02-06 05:01:00`` by one download and ``2026-02-06T05:01:00.000Z`` or in
    microseconds by another is one row), its message, and its occurrence number among
    identical rows of the same file (``_file``), so the same export downloaded twice dedupes
    while two identical events in one file stay two rows. A row whose time could not be
    parsed (it is rejected) is keyed on the time's text. ``frame`` is projected.
    """
    instant = pd.Series(times.astype("datetime64[ns, UTC]").array.asi8, index=frame.index).astype(
        "string"
    )
    spelled = "?" + to_text(frame["timestamp"]).fillna("")
    when = instant.where(times.notna(), spelled)
    text = when + "\x1f" + to_text(frame["message"]).fillna("")
    occurrence = text.groupby([frame["_file"], text], sort=False, observed=True).cumcount()
    content = f"{kind}\x1f" + text + "\x1f" + occurrence.astype(str)
    return map_unique(content, lambda v: derived_id("x_", v, key))


# --------------------------------------------------------------------------------------------
# Log sources
# --------------------------------------------------------------------------------------------


def endpoint_of(path: str | None) -> str | None:
    """Return the endpoint of a path: ``/rest/v1/registrations`` -> ``rest/registrations``."""
    if path is None:
        return None
    m = re.match(
        r"^/(rest|auth|realtime|storage|functions|graphql|pg-meta|analytics)/v\d+/?(.*)$", path
    )
    if not m:
        return path.strip("/") or "/"
    parts = [p for p in m.group(2).split("/") if p]
    keep = parts[:2] if parts[:1] in (["rpc"], ["object"]) else parts[:1]
    # A table or function named in Korean reaches the gateway percent-encoded, as browsers
    # send it: its endpoint is the name (split first, so an encoded ``/`` adds no segment;
    # apply_privacy redacts the decoded text).
    return "/".join([m.group(1), *(unquote(p, errors="replace") for p in keep)])


def client_of(user_agent: str | None) -> str | None:
    """Return a coarse client family of a User-Agent (browser, tool), never the full string."""
    if not user_agent:
        return None
    for pattern, family in _UA_FAMILIES:
        if re.search(pattern, user_agent):
            return family
    return re.split(r"[/\s;(]", user_agent.strip(), maxsplit=1)[0][:40] or None


_EDGE_HEAD = r"^(?P<method>[A-Z]+) \| (?P<status>[^|]*?) \|"
_EDGE_URL = r"\| (?P<url>https?://[^ |]+)"
# The third field of the gateway's message, the client's address in the form that has one.
_EDGE_ADDRESS = r"^[A-Z]+ \| [^|]*? \| (?P<address>[^ |]+) \|"
_URL_PATH = r"^[a-z]+://[^/]+(?P<path>/[^?#]*)"
_URL_SEARCH = r"^[^?#]*(?P<search>\?[^#]*)"


def extract_groups(text: pd.Series, pattern: str) -> pd.DataFrame:
    r"""Return the named groups of ``pattern``'s first match in each value (``string``, or NA).

    pandas runs ``str.extract`` in Python row by row; on Arrow-backed text Arrow's RE2 does
    it. Only for patterns both engines read alike: no ``$`` (Python's also matches before a
    final newline), no ``\d``, ``\w``, ``\s`` or ```` (Unicode in Python, ASCII in RE2).
    """
    arr = arrow_text(text)
    if arr is None:
        return text.str.extract(pattern)
    found = pc.extract_regex(arr, pattern)
    return pd.DataFrame(
        {
            name: pd.array(pc.struct_field(found, name), dtype="string")
            for name in re.compile(pattern).groupindex
        },
        index=text.index,
    )


def split_edge_message(messages: pd.Series) -> pd.DataFrame:
    """Parse ``METHOD | STATUS | IP | RAY | URL | UA`` messages (IP and ray optional)."""
    text = messages.astype("string")
    head = extract_groups(text, _EDGE_HEAD)
    url = extract_groups(text, _EDGE_URL)["url"]
    return pd.DataFrame(
        {"method": head["method"], "status": head["status"].str.strip(), "url": url},
        index=messages.index,
    )


def split_url(urls: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (path, search incl. ``?``) of full URLs."""
    text = urls.astype("string")
    return extract_groups(text, _URL_PATH)["path"], extract_groups(text, _URL_SEARCH)["search"]


# A project's clients are few beside its requests, and the same in every batch: each spelling
# is parsed (and each address hashed) once per process, not once per batch.
_canonical_address = functools.lru_cache(maxsize=1 << 16)(addresses.canonical_address)
_address_pseudonym = functools.lru_cache(maxsize=1 << 16)(addresses.pseudonymise_address)


def client_addresses(frame: pd.DataFrame, messages: pd.Series) -> pd.Series:
    """Return each request's client address in its canonical spelling (NA where none).

    The headers are tried in the order they are trusted (:data:`ADDRESS_HEADERS`); one that
    names no address (``unknown``, a hostname, empty) gives way to the next, and a row with
    none takes the address of its message's third field when that field is one (the
    message's newer form has no address there). Never guessed: NA is "not exported".
    """
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    missing = pd.Series(True, index=frame.index)
    for name in ADDRESS_HEADERS:
        column = frame[f"address_{name}"]
        rows = missing & column.notna()
        if rows.all():
            # The common case, every row's first header: no row selection, no alignment.
            out = map_unique(to_text(column), _canonical_address)
        elif rows.any():
            # A number or JSON in the cell (a hostile export) is text naming no address.
            out = out.fillna(map_unique(to_text(column[rows]), _canonical_address))
        else:
            continue
        missing = out.isna()
        if not missing.any():
            return out
    rows = missing & messages.notna()
    if rows.any():
        field = extract_groups(to_text(messages[rows]), _EDGE_ADDRESS)["address"]
        out = out.fillna(map_unique(field, _canonical_address))
    return out


def canonical_requests(frame: pd.DataFrame, rej: Rejections) -> pd.DataFrame:
    """Projected edge_logs records -> ``requests`` columns (before privacy)."""
    method, path, status = frame["method"], frame["path"], frame["status"]
    url, search, msg = frame["url"], frame["search"], frame["message"]
    gaps = method.isna() | status.isna() | path.isna()
    if gaps.any():
        # Fill from the message text; mixed types are fine, to_number coerces afterwards.
        method, status, url = method.astype(object), status.astype(object), url.astype(object)
        parsed = split_edge_message(msg[gaps & msg.notna()])
        method = method.where(method.notna(), parsed["method"].reindex(frame.index))
        status = status.where(status.notna(), parsed["status"].reindex(frame.index))
        url = url.where(url.notna(), parsed["url"].reindex(frame.index))
    if (path.isna() & url.notna()).any():
        u_path, u_search = split_url(url)
        filled = path.isna() & url.notna()
        search = search.where(~filled | search.notna(), u_search)
        path = path.where(~filled, u_path)
    method = to_text(method).str.upper()
    path = to_text(path)
    require(method, rej, "method")
    rej.add(
        method.notna() & ~method.str.fullmatch(r"[A-Z]+").fillna(False),
        "bad method (expected an HTTP method such as GET)",
        method,
    )
    require(path, rej, "path")
    rej.add(
        path.notna() & ~path.str.startswith("/").fillna(False), "bad path (expected /...)", path
    )
    status_n = to_number(status, rej, "status", integer=True)
    require(status_n, rej, "status")
    rej.add(
        status_n.notna() & ((status_n < 100) | (status_n > 599)),
        "bad status (expected an HTTP code 100-599)",
        status,
    )
    origin = to_number(frame["origin_time"], rej, "origin_time", integer=False)
    rej.add(origin.notna() & (origin < 0), "bad origin_time (expected >= 0)", origin)
    client = to_text(frame["client_info"])
    ua_family = map_unique(to_text(frame["user_agent"]), client_of)
    ray = to_text(frame["cf_ray"]).str.replace(r"-[A-Z]{3}$", "", regex=True)
    search = to_text(search)
    return pd.DataFrame(
        {
            "method": method,
            "path": path,
            "search": blank_to_na(search),
            "status": status_n,
            "origin_time_ms": origin,
            "user": to_text(frame["user"]).str.strip().str.lower(),
            # The canonical spelling, pseudonymised with the users (apply_privacy).
            "address": client_addresses(frame, msg),
            "endpoint": map_unique(path, endpoint_of),
            "client": client.where(client.notna() & (client != ""), ua_family),
            "cf_ray": ray,
        },
        index=frame.index,
    )


def _message_objects_key(message: str | None) -> str:
    """Constraint, column and relation named in a message, joined for one vectorised split."""
    constraint, column, relation = vocabulary.name_message_objects(message)
    return f"c={constraint}\x1fcol={column}\x1frel={relation}"


def canonical_db_errors(frame: pd.DataFrame, rej: Rejections) -> pd.DataFrame:
    """Projected postgres_logs records -> ``db_errors`` columns (before privacy and filters)."""
    message = to_text(frame["message"])
    require(message, rej, "event_message")
    sql_state = to_text(frame["sql_state"]).str.strip().str.upper()
    from_message = map_unique(message, vocabulary.sqlstate_from_message)
    sql_state = sql_state.where(sql_state.notna() & (sql_state != ""), from_message)
    rej.add(
        sql_state.notna() & ~sql_state.str.fullmatch(r"[0-9A-Z]{5}").fillna(False),
        "bad sql_state (expected 5 characters [0-9A-Z])",
        sql_state,
    )
    severity = to_text(frame["severity"]).str.strip().str.upper()
    severity = severity.mask(severity.eq("").fillna(False))
    # A projection without error_severity: an error SQLSTATE gives the severity Postgres logs
    # it at; a non-error SQLSTATE is not an error (counted as such, not as malformed).
    unknown = severity.isna() & sql_state.notna()
    is_error = map_unique(sql_state, lambda s: "1" if vocabulary.is_error_sqlstate(s) else "")
    rej.add(
        unknown & is_error.eq("").fillna(False),
        "not an error (no error_severity; SQLSTATE class 00, 01 or 02)",
        sql_state,
    )
    severity = severity.where(~unknown, map_unique(sql_state, vocabulary.severity_of_error))
    require(severity, rej, "error_severity")
    parts = map_unique(message, _message_objects_key)
    constraint = parts.str.extract(r"^c=(.*?)\x1f", expand=False)
    column = parts.str.extract(r"\x1fcol=(.*?)\x1f", expand=False)
    relation = parts.str.extract(r"\x1frel=(.*)$", expand=False)
    return pd.DataFrame(
        {
            "sql_state": sql_state,
            "sql_state_class": sql_state.str[:2],
            "severity": severity,
            "message": message,
            "constraint": blank_to_na(constraint),
            "column": blank_to_na(column),
            "relation": blank_to_na(relation),
            "user_name": to_text(frame["user_name"]),
            "application_name": to_text(frame["application_name"]),
            "command_tag": to_text(frame["command_tag"]),
            "detail": to_text(frame["detail"]),
            "query": to_text(frame["query"]),
        },
        index=frame.index,
    )


def canonical_realtime(frame: pd.DataFrame, rej: Rejections) -> pd.DataFrame:
    """Projected realtime_logs records -> ``realtime_events`` columns (before privacy)."""
    message = to_text(frame["message"])
    require(message, rej, "event_message")
    connected = to_number(frame["connected"], rej, "measurements.connected", integer=True)
    limit = to_number(frame["limit"], rej, "measurements.limit", integer=True)
    rej.add(
        connected.notna() & (connected < 0), "bad measurements.connected (expected >= 0)", connected
    )
    return pd.DataFrame(
        {
            "level": to_text(frame["level"]).str.lower(),
            "message": message,
            "family": map_unique(message, vocabulary.family_of),
            "connected": connected,
            "limit": limit,
        },
        index=frame.index,
    )


#: Log source -> builder of its canonical columns.
LOG_BUILDERS = {
    "edge_logs": canonical_requests,
    "postgres_logs": canonical_db_errors,
    "realtime_logs": canonical_realtime,
}


# --------------------------------------------------------------------------------------------
# Table-editor CSVs
# --------------------------------------------------------------------------------------------


def canonical_table(part: FilePart, key: bytes) -> tuple[pd.DataFrame, Rejections]:
    """One table-editor CSV -> (canonical rows with ``_file``/``_reason``/``_key``, rejections)."""
    frame, kind = part.frame, part.kind
    rej = Rejections(frame)
    reject_nul(frame, rej)

    def ts(col: str, required: bool) -> pd.Series:
        # An end far in the future (9999-12-31) is how tables often say "no end".
        open_end = col in ("ends_at", "left_at")
        values = parse_timestamps(
            frame[col], rej, col, naive_is_utc=False, open_end=open_end, files=part.file
        )
        if required:
            require(values, rej, col)
        return values

    def row_key(col: str) -> pd.Series:
        # A uuid or a bigint identity key, in one canonical spelling for every table.
        text = to_text(frame[col])
        require(text, rej, col)
        values = map_unique(text, canonical_row_key)
        rej.add(
            text.str.strip().str.fullmatch(r"\d[.,]\d+[Ee]\+\d+").fillna(False),
            f"bad {col} (a spreadsheet's scientific notation: the digits are lost;"
            " export again without a spreadsheet)",
            frame[col],
        )
        rej.add(
            text.notna() & values.isna(),
            f"bad {col} (expected a uuid or an integer id)",
            frame[col],
        )
        return values.where(values.notna(), text.str.strip().str.lower())

    if kind == "webinars":
        wid = row_key("id")
        # A title is a label: a webinar saved without one is still the webinar, named by its id.
        title = to_text(frame["title"])
        title = title.where(title.str.strip().fillna("") != "", wid)
        table = pd.DataFrame(
            {
                "webinar_id": wid,
                "title": title,
                "starts_at": ts("starts_at", False),
                "ends_at": ts("ends_at", False),
                "status": to_text(frame["status"]),
            }
        )
        row_key = wid
    elif kind == "registrations":
        has_id = "id" in frame.columns
        user = to_text(frame["user_id"]).str.strip().str.lower()
        require(user, rej, "user_id")
        webinar = to_text(frame["webinar_id"]).str.strip().str.lower()
        derived = map_unique(webinar + "/" + user, lambda k: derived_id("r_", k, key))
        table = pd.DataFrame(
            {
                "id": row_key("id") if has_id else derived,
                "ts": ts("created_at", True),
                "webinar_id": row_key("webinar_id"),
                "user": user,
            }
        )
        # Without an id column the primary key (webinar_id, user_id) is the id.
        row_key = table["id"]
    elif kind == "webinar_live_presence":
        session = to_text(frame["session_id"]).str.strip()
        require(session, rej, "session_id")
        joined, left = ts("joined_at", True), ts("left_at", False)
        rej.add(
            left.notna() & joined.notna() & (left < joined),
            "left_at before joined_at",
            frame["left_at"],
        )
        table = pd.DataFrame(
            {
                "session_id": session,
                "webinar_id": row_key("webinar_id"),
                "user": to_text(frame["user_id"]).str.strip().str.lower(),
                "joined_at": joined,
                "left_at": left,
            }
        )
        row_key = to_text(frame["id"]).str.strip() if "id" in frame.columns else session
    else:
        viewers = to_number(frame["viewer_count"], rej, "viewer_count", integer=True)
        require(viewers, rej, "viewer_count")
        rej.add(
            viewers.notna() & (viewers < 0),
            "bad viewer_count (expected >= 0)",
            frame["viewer_count"],
        )
        table = pd.DataFrame(
            {"ts": ts("sampled_at", True), "webinar_id": row_key("webinar_id"), "viewers": viewers}
        )
        if "id" in frame.columns:
            row_key = to_text(frame["id"]).str.strip()
        else:
            # Without an id a sample is its webinar, instant and count: the same sample in two
            # exports (however each spells the time) is one; identical rows of one file stay
            # apart by their occurrence number, as id-less log rows do.
            instant = pd.Series(table["ts"].array.asi8, index=table.index).astype("string")
            instant = instant.where(table["ts"].notna(), "")
            sample = table["webinar_id"].fillna("") + "\x1f" + instant
            sample = sample + "\x1f" + viewers.astype("string").fillna("")
            row_key = sample + "\x1f" + sample.groupby(sample).cumcount().astype("string")
    table["_file"] = part.file
    table["_reason"] = rej.reason
    table["_key"] = (
        row_key if row_key is not None else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    return table, rej


# --------------------------------------------------------------------------------------------
# Privacy
# --------------------------------------------------------------------------------------------

#: Free-text columns of each kind that are redacted.
TEXT_COLUMNS = {
    "edge_logs": ("path", "search", "endpoint", "client", "cf_ray"),
    "postgres_logs": (
        "message",
        "constraint",
        "column",
        "relation",
        "detail",
        "query",
        "user_name",
        "application_name",
        "command_tag",
    ),
    "realtime_logs": ("message", "level"),
    "webinars": ("title", "status"),
    "webinar_live_presence": ("session_id",),
}
#: Redacted columns that hold identifiers (``privacy.redact_series(identifiers=True)``).
IDENTIFIER_TEXT = frozenset({"cf_ray"})
#: String columns that hold identifiers, not free text: no user id can hide in them.
ID_COLUMNS = ("id", "user", "address", "webinar_id")


def apply_privacy(
    table: pd.DataFrame, kind: str, key: bytes, users: dict[str, str], redactions: dict
) -> pd.DataFrame:
    """Pseudonymise user ids and redact free text of one canonical batch.

    ``users`` (raw id -> pseudonym) grows with every id seen; ``redactions`` is a bounded
    cache of redacted texts shared across batches.
    """
    out = table.copy(deep=False)  # columns are replaced, never written into (copy-on-write)
    if "user" in out.columns:
        raw = out["user"]
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        for u in uniques:
            if u not in users:
                users[u] = privacy.pseudonymise(u, key)
        lookup = pd.array([*[users[u] for u in uniques], None], dtype="string")
        out["user"] = pd.Series(lookup[codes], index=out.index, dtype="string")
    if "address" in out.columns:
        # Keyed like the users (analysis.addresses): an unkeyed hash of an IPv4 address is
        # reversed by trying all 2**32.
        out["address"] = map_unique(out["address"], lambda a: _address_pseudonym(a, key))
    if kind == "postgres_logs" and "detail" in out.columns:
        out["detail"] = map_unique(out["detail"], lambda d: _pseudonymise_key_detail(d, key))
    if len(redactions) > 500_000:
        redactions.clear()  # bound the cache on very large exports
    for col in TEXT_COLUMNS.get(kind, ()):
        # A ray id may be 16 decimal digits: there, digits alone are an id, not a card.
        ids = col in IDENTIFIER_TEXT
        out[col] = privacy.redact_series(out[col], users, cache=redactions, identifiers=ids)
    return out


def _pseudonymise_key_detail(detail: str | None, key: bytes) -> str | None:
    """Pseudonymise user-id values in ``Key (a, user_id)=(x, y) already exists.``."""
    if detail is None:
        return None
    m = _KEY_DETAIL_RE.search(detail)
    if not m:
        return detail
    cols = [c.strip() for c in m.group(1).split(",")]
    vals = [v.strip() for v in m.group(2).split(",")]
    if len(cols) != len(vals):
        return detail
    is_user = [("user" in c.lower() or c.lower() in ("sub", "subject")) for c in cols]
    new = [privacy.pseudonymise(v, key) if u else v for u, v in zip(is_user, vals, strict=True)]
    return detail[: m.start(2)] + ", ".join(new) + detail[m.end(2) :]
