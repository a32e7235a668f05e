"""What counts throw away: per-minute signals of an error class beside its error count.

:func:`add_class_signals` extends a class's per-minute frame (docs/contract.md section 3) with
the optional columns ``analysis.stats`` reads (``stats.SIGNAL_COLUMNS``):

- database classes are paired with the HTTP responses they caused
  (:func:`analysis.matching.match_http_to_db`: each error with the nearest response of the
  class's PostgREST status within the tolerance, on whichever endpoint it hit; a
  connection-limit error fails requests on many endpoints, not only the modal one). The
  paired requests give ``failed_requests``, and the distinct pseudonymised ``users``,
  ``clients`` and ``endpoints`` with errors per minute (NaN in a minute where an error was not
  paired or its request names no user/client: anonymous requests are not "nobody"), and
  ``new_users``: users whose first error of the class in the window falls in the minute (their
  sum is how many people the class's errors came from), and ``user_onsets``: users with an
  error of the class in the minute and none in the minute before (the first minute of each
  user's episode of errors; a retry loop that spans minutes is one onset); ``addresses``
  and ``new_addresses`` the same for the requests' pseudonymised client addresses, and
  ``endpoint_addresses`` the addresses first seen in the minute among every request to the
  class's endpoints (the audience's spread beside the errors'); ``shared_users`` the signed-in
  users first seen in the minute on any request from an address with an error of the class
  (who sat behind those addresses: a venue's NAT carries hundreds), ``window_users`` the same
  on any request from any address (everyone signed in who came);
- ``requests`` is already the requests to every endpoint where the class occurs
  (:attr:`ErrorClass.endpoints`, counted by the timeline from the traffic table);
- ``latency_ms``: median ``origin_time_ms`` of those requests in the minute (unknown, NaN,
  when a hybrid fetch left only the error rows);
- ``rt_connected`` / ``rt_limit``: Realtime billing metrics (max in the minute), project-wide,
  from the billing rows or, in a hybrid fetch, the log store's per-minute aggregate of them;
- ``masked_requests``: requests to the class's endpoints answered by a failure that comes
  earlier in a request's path than the class's own (:func:`count_masked_requests`): they
  never reached the point where the class fails, so they are not its exposure.

Nothing here decides anything: the statistics use the columns, the report shows them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import traffic
from analysis.error_classes import ErrorClass, select_class_rows
from analysis.matching import DEFAULT_TOLERANCE, match_http_to_db
from analysis.window import parse_size

#: Spread columns: distinct values per minute among the class's failing requests.
SPREAD = (
    ("users", "user"),
    ("clients", "client"),
    ("endpoints", "endpoint"),
    ("addresses", "address"),
)
#: Columns added (NaN where the incident does not say).
SIGNAL_COLUMNS = (
    "failed_requests",
    "users",
    "clients",
    "endpoints",
    "addresses",
    "new_addresses",
    "endpoint_addresses",
    "shared_users",
    "window_users",
    "new_users",
    "user_onsets",
    "latency_ms",
    "rt_connected",
    "rt_limit",
    "masked_requests",
)

#: Where in a request's path a failure happens (:func:`failure_stage`). ``refused``: no
#: database session (the server refused the connection or the login, or was shutting down);
#: ``rejected``: the statement never ran (the SQL does not compile or names what does not
#: exist); ``row``: while a row was formed and checked (input conversion, NOT NULL, CHECK,
#: unique and exclusion constraints); ``statement_end``: foreign keys, checked by triggers
#: after the statement's rows; ``executed``: anything else a running statement raises
#: (deadlocks, lock and statement timeouts, an application's own exceptions), whose moment
#: among the row's checks a code does not tell.
STAGES = ("refused", "rejected", "row", "statement_end", "executed")

#: SQLSTATEs and SQLSTATE classes (first two characters) by stage, the longest match deciding;
#: unlisted: ``executed``. 42501 (insufficient privilege) is also a row-level security check
#: on each row, so it is ``executed``, not ``rejected``.
_SQLSTATE_STAGES = {
    "refused": ("08", "28", "3D000", "53300", "57P01", "57P02", "57P03"),
    "rejected": ("42", "0A", "3F"),
    "row": ("22", "23"),
    "statement_end": ("23503",),
    "executed": ("42501",),
}


def failure_stage(sql_state: str | None) -> str | None:
    """Return where in a request's path a failure happens (:data:`STAGES`), None if unknown.

    From the SQLSTATE (the longest listed prefix decides); None without one. The status of
    an error response no database error explains does not say where it happened: a 504 may
    be a gateway's timeout after the statement ran, a 429 or 502 a proxy's whose place before
    or after the database an export does not show (qa's ``unheard_of``, whose bug is decided
    before its 429 limit, read capacity when a 429 was taken to come first).
    """
    if not sql_state:
        return None
    code = str(sql_state).upper()
    found = [
        (len(prefix), stage)
        for stage, prefixes in _SQLSTATE_STAGES.items()
        for prefix in prefixes
        if code.startswith(prefix)
    ]
    return max(found)[1] if found else "executed"


def comes_before(first: str | None, then: str | None) -> bool:
    """Whether a failure at stage ``first`` surely happens before one at stage ``then``.

    A refusal comes before anything that needs a session; a statement that never ran before
    anything a running statement raises; a row's checks before the foreign keys checked after
    the statement's rows. Nothing else is ordered (two failures of one stage, or an unknown).
    """
    if first is None or then is None or first == then:
        return False
    if first == "refused":
        return True
    if first == "rejected":
        return then in ("row", "statement_end", "executed")
    return first == "row" and then == "statement_end"


def stage_of_class(cls: ErrorClass) -> str | None:
    """Return :func:`failure_stage` of a database class (None for any other class)."""
    return failure_stage(cls.sql_state) if cls.source == "db_errors" else None


#: Products whose server is PostgREST: its own 503 (PGRST000-PGRST002, no usable database
#: connection) and 504 (PGRST003, no pool connection freed within its acquisition timeout)
#: answer a request before any statement of it ran.
POSTGREST_PRODUCTS = ("rest", "graphql")
POSTGREST_REFUSALS = (503, 504)


def is_postgrest_refusal(cls: ErrorClass) -> bool:
    """Whether an HTTP class is PostgREST's own answer for want of a database session.

    A 503 or 504 that no database error explains, on PostgREST's endpoints only. Such a
    request never reached the database. A statement that runs too long is cancelled by its
    role's ``statement_timeout`` (57014, a 500 paired with its line) well before the gateway
    gives up, so a PostgREST 504 is a pool wait, not a statement cut short (a role without a
    statement timeout, such as ``service_role``, is the exception an export cannot tell).
    Other products' and other statuses' unexplained responses keep an unknown stage.
    """
    if cls.source != "requests" or cls.http_status not in POSTGREST_REFUSALS:
        return False
    products = {str(e).split("/")[0] for e in cls.endpoints}
    return bool(products) and products <= set(POSTGREST_PRODUCTS)


def stage_failing_requests(incident: object, classes, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Return the failing responses whose stage is known (ts, endpoint, id, class, stage).

    Responses paired with a database error take its class and that class's stage
    (:func:`stage_of_class`); those of PostgREST's own refusals (:func:`is_postgrest_refusal`)
    are ``refused``. Other responses no database error explains are left out: their stage
    is unknown.
    """
    req = incident.requests
    cols = ["ts", "endpoint", "id", "error_class", "stage"]
    refusals = [c for c in classes if is_postgrest_refusal(c)]
    if req.empty or ((pairs is None or not len(pairs)) and not refusals):
        return pd.DataFrame(columns=cols)
    parts = []
    if pairs is not None and len(pairs):
        owner = pairs.drop_duplicates("request_id").set_index("request_id")["error_class"]
        failing = req.loc[req["id"].isin(owner.index), ["ts", "endpoint", "id"]].copy()
        failing["error_class"] = failing["id"].map(owner)
        by_key = {c.key: c for c in classes}
        failing["stage"] = [
            stage_of_class(by_key[k]) if k in by_key else failure_stage(str(k).split(":")[0])
            for k in failing["error_class"]
        ]
        parts.append(failing)
    for cls in refusals:
        rows = select_class_rows(incident, cls)[["ts", "endpoint", "id"]]
        parts.append(rows.assign(error_class=cls.key, stage="refused"))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    # A paired response keeps its database error's stage.
    return out.drop_duplicates("id", keep="first").reset_index(drop=True)[cols]


def count_masked_requests(
    failing: pd.DataFrame, cls: ErrorClass, start: pd.Timestamp, n: int
) -> np.ndarray:
    """Per minute, requests to the class's endpoints answered by an earlier failure.

    A request gets one answer. One answered by a failure that surely comes earlier in a
    request's path than the class's own (:func:`comes_before`: a connection refused, a
    statement that never ran) never reached the point where the class fails: it was not
    exposed to it, and left in the class's denominator it dilutes the class's rate wherever
    the earlier failure is frequent (a connection limit at the peak makes a flat bug's rate
    fall with load). Failures with no known order to the class's (two constraints of one
    row, a response no database error explains) stay in: the request may have passed the
    class's check first.
    """
    mine = stage_of_class(cls)
    endpoints = list(cls.endpoints)
    if mine is None or failing.empty or not endpoints:
        return np.zeros(n)
    earlier = np.array([comes_before(s, mine) for s in failing["stage"]], dtype=bool)
    other = (failing["error_class"] != cls.key).to_numpy()
    on = failing["endpoint"].isin(endpoints).to_numpy()
    rows = failing[earlier & other & on]
    k = _minute_index(rows["ts"], start, n)
    return np.bincount(k[k >= 0], minlength=n)[:n].astype(float)


def _minute_index(ts: pd.Series, start: pd.Timestamp, n: int) -> np.ndarray:
    k = ((ts - start) // pd.Timedelta(1, "min")).to_numpy(dtype="int64")
    return np.where((k >= 0) & (k < n), k, -1)


def pair_class_requests(
    incident: object,
    cls: ErrorClass,
    tolerance: pd.Timedelta,
    pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the requests the class's database errors were answered with, on any endpoint.

    ``pairs``: the incident's HTTP <-> database pairs (``Timeline.pairs``, where the classes
    of one status competed for its responses); None pairs this class alone.

    Returns the paired request rows (ts, endpoint, user, client, address, origin_time_ms;
    address where the requests carry one); empty for
    Realtime classes or classes without a PostgREST status. A class of error responses
    (source ``requests``) is its own failed requests.
    """
    cols = ["ts", "endpoint", "user", "client", "address", "origin_time_ms"]
    if cls.source == "requests":
        own = select_class_rows(incident, cls).sort_values(["ts", "id"], kind="stable")
        return own[[c for c in cols if c in own.columns]].reset_index(drop=True)
    requests = incident.requests
    if cls.source != "db_errors" or cls.http_status is None or requests.empty:
        return pd.DataFrame(columns=cols)
    if pairs is None:
        pairs = match_http_to_db(incident, (cls,), tolerance=tolerance)
    ids = pairs.loc[pairs["error_class"] == cls.key, "request_id"]
    picked = requests[requests["id"].isin(ids)].sort_values(["ts", "id"], kind="stable")
    return picked[[c for c in cols if c in picked.columns]].reset_index(drop=True)


def _distinct_per_minute(minutes: np.ndarray, values: pd.Series, n: int) -> np.ndarray:
    ok = (minutes >= 0) & values.notna().to_numpy()
    if not ok.any():
        return np.zeros(n)
    frame = pd.DataFrame({"m": minutes[ok], "v": values[ok].astype(str).to_numpy()})
    counts = frame.drop_duplicates().groupby("m").size()
    return counts.reindex(range(n), fill_value=0).to_numpy(dtype=float)


def realtime_connections(incident: object, start: pd.Timestamp, n: int) -> tuple:
    """Return Realtime's connected count and limit per minute (max), NaN where unknown.

    From the billing rows when they were fetched raw, else from the log store's per-minute
    aggregate of them (``incident.realtime_minutes``, a hybrid fetch).
    """
    rt = incident.realtime_events
    billing = rt[rt["family"] == "billing_metrics"] if not rt.empty else rt
    minutes = getattr(incident, "realtime_minutes", None)
    if len(billing) and {"connected", "limit"} <= set(billing.columns):
        ts, connected, limit = billing["ts"], billing["connected"], billing["limit"]
    elif minutes is not None and len(minutes):
        ts, connected, limit = (
            minutes["minute"],
            minutes["max_connected"],
            minutes["connection_limit"],
        )
    else:
        return np.nan, np.nan
    per = pd.DataFrame(
        {
            "m": _minute_index(ts, start, n),
            "c": pd.to_numeric(connected, errors="coerce").to_numpy(dtype=float),
            "l": pd.to_numeric(limit, errors="coerce").to_numpy(dtype=float),
        }
    )
    per = per[per["m"] >= 0].groupby("m").max()
    return (
        per["c"].reindex(range(n)).to_numpy(dtype=float),
        per["l"].reindex(range(n)).to_numpy(dtype=float),
    )


def _first_seen_per_minute(minutes: np.ndarray, values: pd.Series | None, n: int) -> np.ndarray:
    """Count, per minute, the values seen there for the first time in the window."""
    if values is None:
        return np.full(n, np.nan)
    ok = (minutes >= 0) & values.notna().to_numpy()
    frame = pd.DataFrame({"m": minutes[ok], "v": values[ok].astype(str).to_numpy()})
    first = frame.groupby("v")["m"].min()
    return np.bincount(first.to_numpy(dtype=np.int64), minlength=n)[:n].astype(float)


def _onsets_per_minute(minutes: np.ndarray, values: pd.Series | None, n: int) -> np.ndarray:
    """Count, per minute, the values seen there and not in the minute before (episode starts)."""
    if values is None:
        return np.full(n, np.nan)
    ok = (minutes >= 0) & values.notna().to_numpy()
    frame = pd.DataFrame({"v": values[ok].astype(str).to_numpy(), "m": minutes[ok]})
    frame = frame.drop_duplicates().sort_values(["v", "m"], kind="stable")
    v, m = frame["v"].to_numpy(), frame["m"].to_numpy(dtype=np.int64)
    start = np.ones(len(m), dtype=bool)
    start[1:] = (v[1:] != v[:-1]) | (m[1:] - m[:-1] > 1)
    return np.bincount(m[start], minlength=n)[:n].astype(float)


def _count_users_behind(
    requests: pd.DataFrame, paired: pd.DataFrame, start: pd.Timestamp, n: int, *, known: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return (users behind the class's error addresses, all users), each at its first minute.

    Users seen on any request in the window, not only the class's: the requests that fail at a
    per-address limit (a token refresh, a sign-in) often name no user, while the same address's
    other requests do. NaN (unknown) without addresses or users, or when the class's failing
    requests name no address.
    """
    unknown = np.full(n, np.nan)
    if not known or not len(paired) or "user" not in requests.columns:
        return unknown, unknown
    if "address" not in paired.columns:
        return unknown, unknown
    hit = paired["address"][_minute_index(paired["ts"], start, n) >= 0].dropna()
    if hit.empty:
        return unknown, unknown
    k = _minute_index(requests["ts"], start, n)
    users = requests["user"]
    behind = users.where(requests["address"].isin(set(hit)))
    return _first_seen_per_minute(k, behind, n), _first_seen_per_minute(k, users, n)


def add_class_signals(
    frame: pd.DataFrame,
    incident: object,
    cls: ErrorClass,
    *,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
    pairs: pd.DataFrame | None = None,
    realtime: tuple | None = None,
    failing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return ``frame`` (one class, one row per minute) with the signal columns.

    ``frame['requests']`` already counts every endpoint where the class occurs
    (:attr:`ErrorClass.endpoints`); ``attrs['endpoints']`` lists them and ``attrs['source']`` is
    the class's source table. ``pairs``: the timeline's HTTP <-> database pairs (None: the
    class is paired alone). ``realtime``: :func:`realtime_connections` over the frame's
    minutes when the caller has it (it is project-wide, the same for every class); None
    computes it here. ``failing``: :func:`stage_failing_requests` of the incident's classes
    (None: this class alone, so nothing else is staged).
    """
    tol = parse_size(tolerance, "tolerance")
    out = frame.copy()
    n = len(out)
    start = pd.Timestamp(out["minute"].iloc[0])
    if pairs is None and cls.source == "db_errors" and cls.http_status is not None:
        pairs = match_http_to_db(incident, (cls,), tolerance=tol)
    paired = pair_class_requests(incident, cls, tol, pairs)
    endpoints = list(cls.endpoints)  # ranked, main endpoint first, as everywhere
    requests = incident.requests
    # A hybrid fetch keeps only the error rows, and the log store's aggregates have neither a
    # median latency nor the addresses behind each count: both are unknown, not the errors'.
    aggregated = traffic.find_traffic(incident).attrs.get("source") == traffic.LOG_STORE_SOURCE
    if aggregated:
        out["latency_ms"] = np.nan
    elif endpoints and not requests.empty:
        mine = requests[requests["endpoint"].isin(endpoints)]
        k = _minute_index(mine["ts"], start, n)
        times = (
            pd.to_numeric(mine["origin_time_ms"], errors="coerce").to_numpy(dtype=float)
            if "origin_time_ms" in mine.columns
            else np.full(len(mine), np.nan)
        )
        lat = pd.DataFrame({"m": k, "t": times})
        lat = lat[(lat["m"] >= 0) & lat["t"].notna()].groupby("m")["t"].median()
        out["latency_ms"] = lat.reindex(range(n)).to_numpy(dtype=float)
    else:
        out["latency_ms"] = np.nan
    if len(paired):
        k = _minute_index(paired["ts"], start, n)
        out["failed_requests"] = np.bincount(k[k >= 0], minlength=n)[:n].astype(float)
        for col, src in SPREAD:
            out[col] = _distinct_per_minute(k, paired[src], n) if src in paired.columns else np.nan
        out["new_users"] = _first_seen_per_minute(k, paired.get("user"), n)
        out["new_addresses"] = _first_seen_per_minute(k, paired.get("address"), n)
        out["user_onsets"] = _onsets_per_minute(k, paired.get("user"), n)
        # A minute whose errors were not all paired has an unknown spread: leave it to the
        # error count rather than undercount it. So has a minute where a paired request names
        # no user (or client): anonymous requests would otherwise count as nobody.
        unpaired = out["failed_requests"].to_numpy() < out["errors"].to_numpy()
        for col, _ in SPREAD:
            out.loc[unpaired & (out[col] == 0), col] = np.nan
        for col, src in (("users", "user"), ("clients", "client"), ("addresses", "address")):
            if src in paired.columns:
                unnamed = np.bincount(k[(k >= 0) & paired[src].isna().to_numpy()], minlength=n)
                out.loc[unnamed[:n] > 0, col] = np.nan
        unknown = unpaired | out["users"].isna().to_numpy()
        out.loc[unknown, "new_users"] = np.nan
        out.loc[unknown, "user_onsets"] = np.nan
        out.loc[unpaired | out["addresses"].isna().to_numpy(), "new_addresses"] = np.nan
    else:
        for col in ("failed_requests", *(c for c, _ in SPREAD), "new_users", "user_onsets"):
            out[col] = np.nan
        out["new_addresses"] = np.nan
    # Every address that reached the class's endpoints, counted at its first minute: the
    # audience's own spread, beside which few addresses with errors mean a per-address limit.
    has_address = "address" in requests.columns and requests["address"].notna().any()
    if endpoints and has_address and not aggregated:
        mine = requests[requests["endpoint"].isin(endpoints)]
        k_all = _minute_index(mine["ts"], start, n)
        out["endpoint_addresses"] = _first_seen_per_minute(k_all, mine["address"], n)
    else:
        out["endpoint_addresses"] = np.nan
    out["shared_users"], out["window_users"] = _count_users_behind(
        requests, paired, start, n, known=has_address and not aggregated
    )
    if realtime is None:
        realtime = realtime_connections(incident, start, n)
    out["rt_connected"], out["rt_limit"] = realtime
    if failing is None:
        failing = stage_failing_requests(incident, (cls,), pairs)
    out["masked_requests"] = np.minimum(
        count_masked_requests(failing, cls, start, n), out["requests"].to_numpy(dtype=float)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        r = out["requests"].to_numpy(dtype=float)
        out["rate"] = np.where(
            r > 0, out["errors"].to_numpy(dtype=float) / np.maximum(r, 1), np.nan
        )
    out.attrs = {**frame.attrs, "endpoints": endpoints, "source": cls.source}
    return out


def add_signals(
    frames: dict,
    incident: object,
    classes,
    *,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
    pairs: pd.DataFrame | None = None,
) -> dict:
    """Return ``{key: frame with signals}`` for every class of ``classes`` that has a frame.

    Each frame goes through :func:`add_class_signals`; the project-wide Realtime series is
    computed once per window (start, minutes) instead of once per class.
    """
    shared: dict = {}
    out = {}
    classes = tuple(classes)
    failing = stage_failing_requests(incident, classes, pairs)
    for cls in classes:
        if cls.key not in frames:
            continue
        frame = frames[cls.key]
        window = (pd.Timestamp(frame["minute"].iloc[0]), len(frame))
        if window not in shared:
            shared[window] = realtime_connections(incident, *window)
        # Assigned as a column, the shared arrays are copied: frames keep their own columns.
        out[cls.key] = add_class_signals(
            frame,
            incident,
            cls,
            tolerance=tolerance,
            pairs=pairs,
            realtime=shared[window],
            failing=failing,
        )
    return out
