"""The error classes of one incident, each with the endpoints whose requests are its denominator.

The vocabulary (:mod:`analysis.vocabulary`) says what a class key is; this module finds the
classes present in an incident, finds where each one occurs (its table's REST endpoint, and
every endpoint whose responses carry its PostgREST status at the instants of its errors,
:func:`analysis.matching.pair_errors_with_responses`) and counts it per minute against the
requests to all of those endpoints. Error responses no database error explains (a 504 when
PostgREST waited too long for a pool connection, a 429 from Auth, a 502 from Storage) are
classes of their own, per status and endpoint, or per status and product for a 5xx or a 429
(:func:`plan_http_classes`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from analysis import traffic
from analysis._util import jsonable
from analysis.exceptions import TimelineError
from analysis.matching import (
    DEFAULT_TOLERANCE,
    PAIR_COLUMNS,
    SERVICE_ROLES,
    pair_errors_with_responses,
    serving_product,
)
from analysis.stats.constants import MIN_ERRORS
from analysis.vocabulary import (
    UNKNOWN_SQLSTATE,
    classify_db_errors,
    classify_realtime,
    db_class_filter,
    http_class_filter,
    http_class_key,
    http_status_for_sqlstate,
    realtime_class_filter,
)
from analysis.window import count_per_minute, parse_size

REALTIME_ENDPOINT = "realtime/websocket"
#: Fewest unexplained error responses of one status on one endpoint that make a class (the
#: statistics' floor); fewer are listed by the audit (``unexplained_error_responses``).
MIN_HTTP_CLASS = MIN_ERRORS
#: Endpoints of Supabase's products (``analysis.ingest.canonical.endpoint_of``): only their error
#: responses make classes; any other path (a scanner's ``/wp-login.php``) is the audit's.
PRODUCTS = ("rest", "auth", "realtime", "storage", "functions", "graphql")


def merges_across_endpoints(status: int) -> bool:
    """Whether error responses of ``status`` are one class across a product's endpoints.

    A 5xx or a 429 fails whichever request met the exhausted pool, the unreachable database or
    the rate limit, as a connection-limit error does (53300 is one class on every endpoint);
    split by endpoint, one outage would be dozens of small classes. Other 4xx are a client's
    mistake on one endpoint.
    """
    return int(status) >= 500 or int(status) == 429


def tabulate_db_errors(db_errors: pd.DataFrame) -> pd.DataFrame:
    """Database errors by SQLSTATE class, SQLSTATE, constraint, column and relation.

    Returns
    -------
    DataFrame: sql_state_class, sql_state, error_class, constraint, column, relation, severity,
    count, first_ts, last_ts, http_status (PostgREST's mapping), example (a message).
    """
    keys = ["sql_state_class", "sql_state", "error_class", "constraint", "column", "relation"]
    cols = [*keys, "severity", "count", "first_ts", "last_ts", "http_status", "example"]
    if db_errors.empty:
        return pd.DataFrame(columns=cols)
    frame = db_errors.assign(error_class=classify_db_errors(db_errors))
    grouped = frame.sort_values("ts", kind="stable").groupby(keys, dropna=False, sort=True)
    table = grouped.agg(
        severity=("severity", lambda s: ",".join(sorted(set(s.dropna().astype(str))))),
        count=("id", "size"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
        example=("message", "first"),
    ).reset_index()
    table["http_status"] = table["sql_state"].map(http_status_for_sqlstate).astype("Int64")
    table = table.sort_values(["count", "error_class"], ascending=[False, True], kind="stable")
    return table[cols].reset_index(drop=True)


def tabulate_realtime(realtime_events: pd.DataFrame) -> pd.DataFrame:
    """Realtime events by family and level: count, first and last time, an example message."""
    cols = ["family", "level", "error_class", "count", "first_ts", "last_ts", "example"]
    if realtime_events.empty:
        return pd.DataFrame(columns=cols)
    frame = realtime_events.assign(error_class=classify_realtime(realtime_events))
    grouped = frame.sort_values("ts", kind="stable").groupby(
        ["family", "level", "error_class"], dropna=False, sort=True
    )
    table = grouped.agg(
        count=("id", "size"),
        first_ts=("ts", "min"),
        last_ts=("ts", "max"),
        example=("message", "first"),
    ).reset_index()
    table = table.sort_values(["count", "family"], ascending=[False, True], kind="stable")
    return table[cols].reset_index(drop=True)


@dataclass(frozen=True)
class ErrorClass:
    """One error class the statistics consume, with the endpoints that are its denominator.

    Attributes
    ----------
    key
        ``23505:registrations_pkey``, ``42703``, ``realtime:disconnect``, ``http:504:rest/polls``
    source
        Canonical table the errors come from (``db_errors``, ``realtime_events``, or
        ``requests`` for error responses no database error explains).
    filter
        The selection on that table, as text a reader can re-run.
    endpoint
        The class's main endpoint (its table's, else where most of its errors were answered;
        None: it occurs on no known endpoint, and all requests are the denominator).
    endpoint_basis
        How the endpoint was chosen: ``relation`` (the error's table), ``matched`` (the modal
        endpoint of its paired same-status responses), ``realtime``, ``http`` (the
        responses' own endpoint) or ``none``.
    http_status
        Status PostgREST answers for this SQLSTATE, or the responses' own status (None for
        Realtime classes).
    endpoints
        Every endpoint where the class occurs: ``endpoint`` first, then every other endpoint
        where one of its errors was paired with a response, by pairs (descending), then name.
        The class's denominator is the requests to all of them.
    """

    key: str
    source: str
    filter: str
    count: int
    first_ts: pd.Timestamp
    last_ts: pd.Timestamp
    endpoint: str | None
    endpoint_basis: str
    http_status: int | None
    sql_state: str | None = None
    constraint: str | None = None
    family: str | None = None
    endpoints: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-serialisable view."""
        return {k: jsonable(v) for k, v in asdict(self).items()}


def define_error_classes(
    incident: object, *, tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE
) -> tuple[ErrorClass, ...]:
    """Every error class present in the incident, with the endpoints where it occurs.

    The classes of :func:`find_error_classes`, without the pairs they were found from.
    """
    return find_error_classes(incident, tolerance=tolerance)[0]


def find_error_classes(
    incident: object, *, tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE
) -> tuple[tuple[ErrorClass, ...], pd.DataFrame]:
    """Every error class present in the incident, and the pairs that say where each occurs.

    A database class occurs on ``rest/<relation>`` when its errors name a table with requests,
    and on every endpoint where one of its errors was answered with the class's PostgREST
    status within ``tolerance`` (errors and responses paired one to one, the classes of one
    status competing for its responses: :func:`analysis.matching.pair_errors_with_responses`).
    A connection-limit error fails whichever request needed a connection, so its class occurs
    on many endpoints and all of them are its denominator. Error responses no database error
    explains form classes by :func:`plan_http_classes`, on the endpoints where they occurred.
    Realtime classes occur on the Realtime websocket endpoint when it has requests. Ordered by
    count (descending), then key.

    Returns
    -------
    (classes, pairs)
        The classes, and the database errors paired with their HTTP responses (columns
        :data:`analysis.matching.PAIR_COLUMNS`): the pairing that
        :func:`analysis.matching.match_http_to_db` makes for these classes at this tolerance,
        made once, here, since the classes' endpoints come from it.
    """
    tol = parse_size(tolerance, "tolerance")
    requests = incident.requests
    endpoints = set(requests["endpoint"].dropna().astype(str)) | traffic.list_endpoints(
        traffic.find_traffic(incident)
    )
    classes: list[ErrorClass] = []
    pairs = pd.DataFrame(columns=list(PAIR_COLUMNS))
    db = incident.db_errors
    if not db.empty:
        db = db.assign(error_class=classify_db_errors(db))
        described = {}
        for key, rows in db.groupby("error_class", sort=True):
            state = rows["sql_state"].iloc[0]
            state = UNKNOWN_SQLSTATE if pd.isna(state) else str(state)
            constraint = rows["constraint"].dropna()
            constraint = str(constraint.iloc[0]) if len(constraint) else None
            relations = rows["relation"].dropna().astype(str).value_counts()
            own = f"rest/{relations.index[0]}" if len(relations) else None
            described[str(key)] = (rows, state, constraint, own if own in endpoints else None)
        statuses = {k: http_status_for_sqlstate(v[1]) for k, v in described.items()}
        status_of = {k: v for k, v in statuses.items() if v is not None}
        if status_of and not requests.empty:
            preferred = {k: v[3] for k, v in described.items() if v[3] is not None}
            pairs = pair_errors_with_responses(db, requests, status_of, preferred, tolerance=tol)
            settled = settle_endpoints(pairs, status_of, preferred)
            if settled:
                pairs = pair_errors_with_responses(
                    db, requests, status_of, {**preferred, **settled}, tolerance=tol
                )
        for key, (rows, state, constraint, own) in described.items():
            mine = pairs[pairs["error_class"] == key]
            hits = mine["endpoint"].astype(str).value_counts()
            ranked = sorted(hits.index, key=lambda e: (-hits[e], e))
            if own is not None:
                endpoint, basis = own, "relation"
            elif ranked:
                endpoint, basis = ranked[0], "matched"
            else:
                endpoint, basis = None, "none"
            where = tuple(dict.fromkeys([endpoint, *ranked])) if endpoint else ()
            classes.append(
                ErrorClass(
                    key=key,
                    source="db_errors",
                    filter=db_class_filter(state, constraint),
                    count=int(len(rows)),
                    first_ts=rows["ts"].min(),
                    last_ts=rows["ts"].max(),
                    endpoint=endpoint,
                    endpoint_basis=basis,
                    http_status=_answered_status(rows, mine, status_of.get(key)),
                    sql_state=state,
                    constraint=constraint,
                    endpoints=where,
                )
            )
    planned, _ = plan_http_classes(tabulate_unexplained_responses(requests, pairs))
    for spec in planned:
        classes.append(
            ErrorClass(
                key=http_class_key(spec["status"], spec["scope"]),
                source="requests",
                filter=http_class_filter(spec["status"], spec["endpoints"]),
                count=spec["count"],
                first_ts=spec["first_ts"],
                last_ts=spec["last_ts"],
                endpoint=spec["endpoints"][0],
                endpoint_basis="http",
                http_status=spec["status"],
                endpoints=spec["endpoints"],
            )
        )
    rt = incident.realtime_events
    if not rt.empty:
        rt = rt.assign(error_class=classify_realtime(rt)).dropna(subset=["error_class"])
        has_ws = REALTIME_ENDPOINT in endpoints
        for key, rows in rt.groupby("error_class", sort=True):
            family = str(rows["family"].iloc[0])
            classes.append(
                ErrorClass(
                    key=str(key),
                    source="realtime_events",
                    filter=realtime_class_filter(family),
                    count=int(len(rows)),
                    first_ts=rows["ts"].min(),
                    last_ts=rows["ts"].max(),
                    endpoint=REALTIME_ENDPOINT if has_ws else None,
                    endpoint_basis="realtime" if has_ws else "none",
                    http_status=None,
                    family=family,
                    endpoints=(REALTIME_ENDPOINT,) if has_ws else (),
                )
            )
    return tuple(sorted(classes, key=lambda c: (-c.count, c.key))), pairs


#: Share of a class's paired responses on one endpoint above which that endpoint is taken as
#: where the class occurs, and its errors are paired there first (:func:`settle_endpoints`).
SETTLED_SHARE = 0.9


def settle_endpoints(
    pairs: pd.DataFrame, status_of: dict[str, int], preferred: dict[str, str]
) -> dict[str, str]:
    """Endpoints where classes whose errors name no table plainly occur, to pair there first.

    Two classes answered with the same status at the same moments (two tables failing with
    500 at once) compete for each other's responses: pairing nearest first, an error now and
    then takes the other class's response, a few milliseconds nearer than its own, and each
    class would list the other's endpoint and count its requests in its denominator. A class
    that has such a competitor and whose pairs fall at least ``SETTLED_SHARE`` on one endpoint
    occurs there; paired again with that endpoint first, each error takes its own response. A
    class spread over endpoints (a connection limit) keeps pairing anywhere.

    Returns
    -------
    dict
        Class key -> its endpoint, for classes not in ``preferred`` that settle on one.
    """
    settled = {}
    for key, mine in pairs.groupby("error_class", sort=True):
        key = str(key)
        rivals = [k for k, v in status_of.items() if v == status_of.get(key) and k != key]
        if key in preferred or not rivals:
            continue
        hits = mine["endpoint"].astype(str).value_counts()
        top = sorted(hits.index, key=lambda e: (-hits[e], e))[0]
        if hits[top] < len(mine) and hits[top] >= SETTLED_SHARE * len(mine):
            settled[key] = top
    return settled


def _answered_status(rows: pd.DataFrame, pairs: pd.DataFrame, postgrest: int | None) -> int | None:
    """Return the status a class's errors were answered with.

    PostgREST's for its SQLSTATE, unless every error came from a service that answers on its
    own (Auth, Storage): its paired responses then say it (the most frequent; PostgREST's when
    none was paired).
    """
    served = serving_product(rows)
    if len(served) and all(p in SERVICE_ROLES.values() for p in served) and len(pairs):
        counts = pairs["status"].astype("int64").value_counts()
        return int(sorted(counts.index, key=lambda s: (-counts[s], s))[0])
    return postgrest


def tabulate_unexplained_responses(requests: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Error responses (status >= 400) that no database error explains, by status and endpoint.

    A status and endpoint some of whose responses were paired with a database error belong to
    that error's class (the rest of them are the audit's ``unmatched_status_pairs``), so only
    the groups none of whose responses was paired are kept. Responses without an endpoint are
    one group with endpoint NA (listed by the audit, never a class).

    Returns
    -------
    DataFrame: status (int), endpoint, count, first_ts, last_ts; by count (descending), then
    status and endpoint.
    """
    cols = ["status", "endpoint", "count", "first_ts", "last_ts"]
    if requests.empty:
        return pd.DataFrame(columns=cols)
    status = pd.to_numeric(requests["status"], errors="coerce")
    failed = requests[(status >= 400).fillna(False).to_numpy()]
    if failed.empty:
        return pd.DataFrame(columns=cols)
    keys = ["status", "endpoint"]
    frame = failed.assign(
        status=pd.to_numeric(failed["status"]).astype("int64"),
        endpoint=failed["endpoint"].astype("string"),
        paired=failed["id"].isin(pairs["request_id"]) if len(pairs) else False,
    )
    table = (
        frame.groupby(keys, dropna=False, sort=True)
        .agg(
            count=("id", "size"),
            first_ts=("ts", "min"),
            last_ts=("ts", "max"),
            paired=("paired", "any"),
        )
        .reset_index()
    )
    table = table[~table["paired"]].sort_values(
        ["count", "status", "endpoint"], ascending=[False, True, True], kind="stable"
    )
    return table[cols].reset_index(drop=True)


def plan_http_classes(groups: pd.DataFrame) -> tuple[list[dict], pd.DataFrame]:
    """Split unexplained response groups into HTTP classes and the rest (the audit's).

    ``groups``: :func:`tabulate_unexplained_responses`. Groups on a product's endpoint
    (:data:`PRODUCTS`) make classes: per status and product (scope ``<product>/*``) when
    :func:`merges_across_endpoints`, else per status and endpoint; a class needs
    :data:`MIN_HTTP_CLASS` responses in all. Returns the classes (status, scope, endpoints by
    count then name, count, first_ts, last_ts; by count, then key) and the groups no class holds.
    """
    if groups.empty:
        return [], groups
    product = groups["endpoint"].str.split("/").str[0]
    eligible = groups["endpoint"].notna() & product.isin(PRODUCTS).fillna(False)
    scope = groups["endpoint"].where(~groups["status"].map(merges_across_endpoints), product + "/*")
    specs: list[dict] = []
    held = pd.Series(False, index=groups.index)
    frame = groups[eligible].assign(scope=scope[eligible])
    for (status, where), rows in frame.groupby(["status", "scope"], sort=True):
        total = int(rows["count"].sum())
        if total < MIN_HTTP_CLASS:
            continue
        ranked = rows.sort_values(["count", "endpoint"], ascending=[False, True], kind="stable")
        specs.append(
            {
                "status": int(status),
                "scope": str(where),
                "endpoints": tuple(str(e) for e in ranked["endpoint"]),
                "count": total,
                "first_ts": rows["first_ts"].min(),
                "last_ts": rows["last_ts"].max(),
            }
        )
        held[rows.index] = True
    specs.sort(key=lambda s: (-s["count"], http_class_key(s["status"], s["scope"])))
    return specs, groups[~held].reset_index(drop=True)


def select_class_rows(incident: object, cls: ErrorClass) -> pd.DataFrame:
    """Rows of the class's source table that belong to the class."""
    if cls.source == "requests":
        req = incident.requests
        status = pd.to_numeric(req["status"], errors="coerce")
        mine = (status == cls.http_status) & req["endpoint"].isin(cls.endpoints)
        return req[mine.fillna(False).to_numpy()]
    if cls.source == "db_errors":
        db = incident.db_errors
        return db[classify_db_errors(db) == cls.key]
    rt = incident.realtime_events
    return rt[classify_realtime(rt) == cls.key]


def count_class_per_minute(
    incident: object, cls: ErrorClass, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """(errors, requests to the endpoints where the class occurs) per minute of ``[start, end)``.

    The requests are summed over :attr:`ErrorClass.endpoints` (all requests when it has none):
    every request to an endpoint where the class occurs was exposed to it. Weighting each
    endpoint by the share of the class's errors it holds was not chosen: it would build the
    denominator from the numerator. Requests come from the incident's per-minute traffic table
    (:mod:`analysis.traffic`), whether raw rows or the log store's aggregates made it; only a
    window that starts inside a minute is counted from the raw rows (the table's minutes are
    whole UTC minutes).
    """
    errors = count_per_minute(select_class_rows(incident, cls)["ts"], start, end)
    where = list(cls.endpoints) or [None]
    if traffic.is_whole_minute(start):
        table = traffic.find_traffic(incident)
        counts = [traffic.count_requests(table, start, end, e) for e in where]
        return errors, np.sum(counts, axis=0).astype("int64")
    store = getattr(incident, "traffic", None)
    if store is not None and len(store):
        # The log store's traffic exists only per whole minute and ``requests`` holds only the
        # error rows: counting those would make every class's rate about 100 %.
        raise TimelineError(
            f"window start {start.isoformat()}: this incident's traffic is per-minute "
            "aggregates from the log store (a hybrid fetch); start the window on a whole "
            "minute"
        )
    requests = incident.requests
    if cls.endpoints:
        requests = requests[requests["endpoint"].isin(where)]
    return errors, count_per_minute(requests["ts"], start, end)


def find_error_class(classes: tuple[ErrorClass, ...], key: str) -> ErrorClass:
    """Return the class named ``key``, else a TimelineError listing the classes present."""
    for cls in classes:
        if cls.key == key:
            return cls
    raise TimelineError(
        f"error_class: expected one of {', '.join(c.key for c in classes) or '(none)'}, "
        f"found {key!r}"
    )


def tabulate_classes(classes: tuple[ErrorClass, ...]) -> pd.DataFrame:
    """Return the error classes as a table, one row each (for inspection in a notebook)."""
    cols = [f.name for f in fields(ErrorClass)]
    return pd.DataFrame([asdict(c) for c in classes], columns=cols)
