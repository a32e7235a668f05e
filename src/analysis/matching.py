"""HTTP responses paired with the database errors behind them, one to one, nearest first.

PostgREST answers a failed statement with the status of its SQLSTATE mapping; the request and
the error are logged by different services, so pairs are made within a tolerance, per status
(on whichever endpoint the response was served), nearest first and deterministically (ties
broken by index).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.vocabulary import classify_db_errors, sqlstates_for_status
from analysis.window import NANOSECOND, ns_since, parse_size

if TYPE_CHECKING:
    from analysis.error_classes import ErrorClass

DEFAULT_TOLERANCE = "1s"


def _nearest_candidates(a_ns: np.ndarray, b_ns: np.ndarray, tol_ns: int) -> np.ndarray:
    """All (i, j, |a_i - b_j|) with ``|a_i - b_j| <= tol``; ``b_ns`` sorted ascending."""
    lo = np.searchsorted(b_ns, a_ns - tol_ns, side="left")
    hi = np.searchsorted(b_ns, a_ns + tol_ns, side="right")
    counts = hi - lo
    i = np.repeat(np.arange(len(a_ns)), counts)
    j = np.concatenate([np.arange(x, y) for x, y in zip(lo, hi, strict=True)]) if len(i) else i
    return np.column_stack([i, j, np.abs(a_ns[i] - b_ns[j])]).astype("int64")


def match_nearest(a_ns: np.ndarray, b_ns: np.ndarray, tol_ns: int) -> list[tuple[int, int]]:
    """One-to-one matching of two time lists, nearest pairs first, within a tolerance.

    ``b_ns`` must be sorted. Deterministic: ties are broken by index.
    """
    if len(a_ns) == 0 or len(b_ns) == 0:
        return []
    cand = _nearest_candidates(np.asarray(a_ns), np.asarray(b_ns), tol_ns)
    if len(cand) == 0:
        return []
    cand = cand[np.lexsort((cand[:, 1], cand[:, 0], cand[:, 2]))]
    # The greedy pass over the sorted candidates, in rounds rather than one candidate at a
    # time (a big incident's audit has millions): a candidate that comes first among the
    # remaining ones of both its i and its j is one the greedy pass takes (no earlier
    # candidate can claim either), so each round takes all of those and drops every candidate
    # that touches a taken i or j. Same pairs, same order.
    i, j, pos = cand[:, 0], cand[:, 1], np.arange(len(cand))
    taken = []
    while len(pos):
        first_a = np.full(len(a_ns), len(cand))
        np.minimum.at(first_a, i, pos)
        first_b = np.full(len(b_ns), len(cand))
        np.minimum.at(first_b, j, pos)
        take = (first_a[i] == pos) & (first_b[j] == pos)
        taken.append(pos[take])
        used_a = np.zeros(len(a_ns), dtype=bool)
        used_a[i[take]] = True
        used_b = np.zeros(len(b_ns), dtype=bool)
        used_b[j[take]] = True
        keep = ~used_a[i] & ~used_b[j]
        i, j, pos = i[keep], j[keep], pos[keep]
    order = np.sort(np.concatenate(taken))
    return [(int(x), int(y)) for x, y in cand[order, :2]]


PAIR_COLUMNS = (
    "db_error_id",
    "request_id",
    "error_class",
    "endpoint",
    "status",
    "db_ts",
    "request_ts",
    "offset_s",
)


def _match_frames(errs: pd.DataFrame, reqs: pd.DataFrame, tol_ns: int) -> list[tuple[int, int]]:
    """Positional one-to-one pairs of two (ts, id)-sorted frames, nearest first."""
    if errs.empty or reqs.empty:
        return []
    origin = min(errs["ts"].min(), reqs["ts"].min())
    return match_nearest(ns_since(errs["ts"], origin), ns_since(reqs["ts"], origin), tol_ns)


#: Postgres roles of Supabase's services that answer on their own endpoints. A database failure
#: of theirs reaches the client as that product's error response, at its own status (Auth and
#: Storage answer a lost connection with 500, 503 or 544, a row-level security refusal on an
#: upload with 400 or 403), not at PostgREST's status for the SQLSTATE.
SERVICE_ROLES = {"supabase_auth_admin": "auth", "supabase_storage_admin": "storage"}
#: The role PostgREST logs in as: its errors are answered on the REST and GraphQL endpoints only.
POSTGREST_ROLE = "authenticator"
POSTGREST_PRODUCTS = ("rest", "graphql")


def _ns(ts: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch of a tz-aware time column."""
    return (
        ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64")
    )


def serving_product(errors: pd.DataFrame) -> np.ndarray:
    """Return the product that answered each database error, from its role (``""``: unknown).

    ``rest`` for PostgREST's role, ``auth``/``storage`` for those services' roles; any other
    role (a direct connection, a cron job) or none leaves the error free to pair anywhere.
    """
    if "user_name" not in errors.columns:
        return np.full(len(errors), "", dtype=object)
    role = errors["user_name"].astype("string").fillna("")
    product = role.map(lambda r: "rest" if r == POSTGREST_ROLE else SERVICE_ROLES.get(r, ""))
    return product.to_numpy(dtype=object)


def _pair_steps(
    errs: pd.DataFrame, reqs: pd.DataFrame, steps: list, tol_ns: int
) -> tuple[list[int], list[int]]:
    """Positions of the pairs made step by step (each step: an error mask, a response mask)."""
    free_e = np.ones(len(errs), dtype=bool)
    free_r = np.ones(len(reqs), dtype=bool)
    got_e: list[int] = []
    got_r: list[int] = []
    for want_e, want_r in steps:
        ie = np.flatnonzero(want_e & free_e)
        ir = np.flatnonzero(want_r & free_r)
        if not len(ie) or not len(ir):
            continue
        for i, j in _match_frames(errs.iloc[ie], reqs.iloc[ir], tol_ns):
            free_e[ie[i]] = free_r[ir[j]] = False
            got_e.append(ie[i])
            got_r.append(ir[j])
    return got_e, got_r


#: How far apart the two logs' clocks may be for their offset to be found (either way), the
#: width of the histogram's bins, and a bound on the differences it counts (errors are thinned
#: evenly beyond it).
CLOCK_SEARCH = pd.Timedelta("30s")
CLOCK_BIN = pd.Timedelta("250ms")
MAX_DIFFERENCES = 2_000_000


def estimate_clock_offset(
    groups: list[tuple[np.ndarray, np.ndarray]],
    *,
    search: pd.Timedelta = CLOCK_SEARCH,
    bin_width: pd.Timedelta = CLOCK_BIN,
) -> int | None:
    """Return the offset (ns) of the gateway's clock from Postgres', or None when none shows.

    An error reaches Postgres' log a few milliseconds before the response it caused reaches
    the gateway's; a constant skew between the two clocks moves every such difference by the
    same amount, while differences to unrelated responses spread evenly over the search
    window. The offset is the peak of the histogram of all response-minus-error differences
    within ``search`` (``groups``: sorted error and response times in ns, pooled), refined as
    the median of the differences within one bin of the peak. None when the peak is not clearly
    above the flat background (fewer than 5 differences, or within 5 standard deviations of
    the mean bin).
    """
    search_ns, bin_ns = search // NANOSECOND, bin_width // NANOSECOND
    parts = []
    total = sum(
        int(
            (
                np.searchsorted(r, e + search_ns, side="right")
                - np.searchsorted(r, e - search_ns, side="left")
            ).sum()
        )
        for e, r in groups
    )
    step = max(1, -(-total // MAX_DIFFERENCES))
    for err_ns, req_ns in groups:
        err_ns = err_ns[::step]
        lo = np.searchsorted(req_ns, err_ns - search_ns, side="left")
        hi = np.searchsorted(req_ns, err_ns + search_ns, side="right")
        counts = hi - lo
        if not counts.sum():
            continue
        i = np.repeat(np.arange(len(err_ns)), counts)
        j = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        parts.append(req_ns[np.repeat(lo, counts) + j] - err_ns[i])
    if not parts:
        return None
    diffs = np.concatenate(parts)
    bins = int(2 * search_ns // bin_ns)
    hist, edges = np.histogram(diffs, bins=bins, range=(-search_ns, search_ns))
    peak = int(np.argmax(hist))
    background = (hist.sum() - hist[peak]) / max(bins - 1, 1)
    if hist[peak] < 5 or hist[peak] <= background + 5 * np.sqrt(max(background, 1.0)):
        return None
    centre = (edges[peak] + edges[peak + 1]) / 2
    near = diffs[np.abs(diffs - centre) <= bin_ns]
    return int(np.median(near))


def pair_errors_with_responses(
    errors: pd.DataFrame,
    requests: pd.DataFrame,
    status_of: Mapping[str, int],
    preferred: Mapping[str, str] | None = None,
    *,
    tolerance: pd.Timedelta,
) -> pd.DataFrame:
    """Pair database errors one to one with the HTTP responses they caused, on any endpoint.

    A class's errors compete with every class of the same PostgREST status for that status's
    responses, wherever they were served: an error that fails whichever request needed it (a
    connection limit) is answered on many endpoints, and the pairs say which. An error whose
    class names its table (``preferred``: class key -> ``rest/<table>``) is first paired on that
    endpoint; what stays unpaired is then paired on any endpoint. Within each step pairs are
    made nearest first within ``tolerance``, deterministically (ties by (ts, id) order). A
    constant offset between Postgres' clock and the gateway's that the data shows
    (:func:`estimate_clock_offset`) is taken out of the database times first when it exceeds
    half the tolerance (or 0.5 s); the pairs keep the logged times.

    The role that met the error (``user_name``, :func:`serving_product`) says which product
    answered it: PostgREST's errors pair only with REST and GraphQL responses; Auth's and
    Storage's own errors (their service roles) pair with that product's error responses (any
    status >= 400), since those services do not answer at PostgREST's status; an error of
    another or unknown role may pair on any endpoint.

    Parameters
    ----------
    errors : DataFrame
        id, ts, error_class (classified database errors); user_name when known.
    requests : DataFrame
        id, ts, endpoint, status.
    status_of : mapping
        Class key -> the status PostgREST answers it with (classes without one are not paired).

    Returns
    -------
    DataFrame of :data:`PAIR_COLUMNS`, ordered by database time.
    """
    preferred = preferred or {}
    tol_ns = tolerance // NANOSECOND
    parts = []
    errors = errors[errors["error_class"].isin(list(status_of))]
    errors = errors.assign(_product=serving_product(errors))
    products = requests["endpoint"].astype("string").str.split("/").str[0].fillna("")
    codes = pd.to_numeric(requests["status"], errors="coerce")
    groups = [
        (errors["_product"] == product, (products == product) & (codes >= 400))
        for product in sorted(set(SERVICE_ROLES.values()))
    ]
    served = errors["_product"].isin(list(SERVICE_ROLES.values()))
    for status in sorted({int(v) for v in status_of.values()}):
        keys = [k for k, v in status_of.items() if int(v) == status]
        groups.append((errors["error_class"].isin(keys) & ~served, codes == status))
    sides = []
    for err_mask, req_mask in groups:
        errs = errors[err_mask].sort_values(["ts", "id"], kind="stable")
        reqs = requests[req_mask.fillna(False).to_numpy()].sort_values(["ts", "id"], kind="stable")
        sides.append((errs, reqs))
    # Two services' clocks: a skew wider than the tolerance would leave every error unpaired
    # (or paired with a stranger). The offset the data shows is taken out before pairing.
    offset = estimate_clock_offset(
        [(_ns(e["ts"]), _ns(r["ts"])) for e, r in sides if len(e) and len(r)]
    )
    if offset is None or abs(offset) <= min(tol_ns / 2, 500_000_000):
        offset = 0
    for errs, reqs in sides:
        if errs.empty or reqs.empty:
            continue
        aligned = errs.assign(ts=errs["ts"] + pd.Timedelta(offset, "ns")) if offset else errs
        err_pref = np.array([preferred.get(k, "") for k in errs["error_class"].astype(str)])
        req_endpoint = reqs["endpoint"].astype("string").fillna("").to_numpy(dtype=str)
        req_product = np.array([e.split("/")[0] for e in req_endpoint], dtype=object)
        postgrest = (errs["_product"] == "rest").to_numpy()
        on_postgrest = np.isin(req_product, POSTGREST_PRODUCTS)
        anywhere = np.ones(len(reqs), dtype=bool)
        steps = []
        for e in sorted(set(preferred.values())):
            steps.append((err_pref == e, req_endpoint == e))
        # PostgREST's own errors first, on its endpoints; then the rest anywhere.
        steps.append((postgrest, on_postgrest))
        steps.append((~postgrest, anywhere))
        got_e, got_r = _pair_steps(aligned, reqs, steps, tol_ns)
        if not got_e:
            continue
        e, r = errs.iloc[got_e], reqs.iloc[got_r]
        parts.append(
            pd.DataFrame(
                {
                    "db_error_id": e["id"].to_numpy(),
                    "request_id": r["id"].to_numpy(),
                    "error_class": e["error_class"].astype(str).to_numpy(),
                    "endpoint": r["endpoint"].astype(str).to_numpy(),
                    "status": pd.to_numeric(r["status"]).astype("int64").to_numpy(),
                    "db_ts": e["ts"].to_numpy(),
                    "request_ts": r["ts"].to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=list(PAIR_COLUMNS))
    pairs = pd.concat(parts, ignore_index=True)
    pairs["db_ts"] = pd.to_datetime(pairs["db_ts"], utc=True)
    pairs["request_ts"] = pd.to_datetime(pairs["request_ts"], utc=True)
    pairs["offset_s"] = (pairs["request_ts"] - pairs["db_ts"]) / pd.Timedelta(1, "s")
    order = pairs.sort_values(["db_ts", "db_error_id"], kind="stable")
    return order[list(PAIR_COLUMNS)].reset_index(drop=True)


def match_http_to_db(
    incident: object,
    classes: tuple[ErrorClass, ...],
    *,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
) -> pd.DataFrame:
    """Pair each database error with a response of its PostgREST status, on any endpoint.

    The pairing of :func:`pair_errors_with_responses`: classes of one status compete for its
    responses; a class named after a table is paired on its table's endpoint first.

    Returns
    -------
    DataFrame of pairs: db_error_id, request_id, error_class, endpoint, status, db_ts,
    request_ts, offset_s (request time minus database time).
    """
    tol = parse_size(tolerance, "tolerance")
    db = incident.db_errors
    status_of = {
        c.key: int(c.http_status)
        for c in classes
        if c.source == "db_errors" and c.http_status is not None
    }
    if db.empty or not status_of or incident.requests.empty:
        return pd.DataFrame(columns=list(PAIR_COLUMNS))
    preferred = {
        c.key: c.endpoint for c in classes if c.key in status_of and c.endpoint_basis == "relation"
    }
    return pair_errors_with_responses(
        db.assign(error_class=classify_db_errors(db)),
        incident.requests,
        status_of,
        preferred,
        tolerance=tol,
    )


def summarize_matches(
    incident: object, classes: tuple[ErrorClass, ...], pairs: pd.DataFrame
) -> pd.DataFrame:
    """Per status: database errors, responses, matched pairs, unmatched on each side.

    The classes of one PostgREST status compete for its responses, so they are summarised
    together, over every endpoint where any of them occurs (:attr:`ErrorClass.endpoints`).

    Returns
    -------
    DataFrame: endpoints (a tuple, sorted), status, error_classes, db_errors, requests, matched,
    unmatched_db, unmatched_requests, median_offset_s.
    """
    cols = [
        "endpoints",
        "status",
        "error_classes",
        "db_errors",
        "requests",
        "matched",
        "unmatched_db",
        "unmatched_requests",
        "median_offset_s",
    ]
    groups: dict[int, list[ErrorClass]] = {}
    for c in classes:
        if c.source == "db_errors" and c.endpoints and c.http_status is not None:
            groups.setdefault(int(c.http_status), []).append(c)
    requests = incident.requests
    rows = []
    for status, members in sorted(groups.items()):
        endpoints = sorted({e for c in members for e in c.endpoints})
        keys = {c.key for c in members}
        n_db = sum(c.count for c in members)
        n_req = int((requests["endpoint"].isin(endpoints) & (requests["status"] == status)).sum())
        sel = pairs[
            (pairs["status"] == status)
            & pairs["error_class"].isin(keys)
            & pairs["endpoint"].isin(endpoints)
        ]
        rows.append(
            {
                "endpoints": tuple(endpoints),
                "status": status,
                "error_classes": ",".join(sorted(keys)),
                "db_errors": n_db,
                "requests": n_req,
                "matched": int(len(sel)),
                "unmatched_db": n_db - int(len(sel)),
                "unmatched_requests": n_req - int(len(sel)),
                "median_offset_s": float(sel["offset_s"].median()) if len(sel) else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def tabulate_http_status(requests: pd.DataFrame, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """HTTP status per endpoint, explained through PostgREST's SQLSTATE mapping.

    Returns
    -------
    DataFrame: endpoint, status, requests, share (of the endpoint's requests), postgrest_meaning
    (SQLSTATEs PostgREST maps to that status; errors >= 400 only), matched_db_errors,
    explained_by (matched classes with counts).
    """
    cols = [
        "endpoint",
        "status",
        "requests",
        "share",
        "postgrest_meaning",
        "matched_db_errors",
        "explained_by",
    ]
    if requests.empty:
        return pd.DataFrame(columns=cols)
    table = requests.groupby(["endpoint", "status"], sort=True).size().rename("requests")
    table = table.reset_index()
    totals = table.groupby("endpoint")["requests"].transform("sum")
    table["share"] = table["requests"] / totals
    table["postgrest_meaning"] = [
        sqlstates_for_status(s) if s >= 400 else "" for s in table["status"]
    ]
    pairs = (
        pairs if pairs is not None else pd.DataFrame(columns=["endpoint", "status", "error_class"])
    )
    matched, explained = [], []
    for endpoint, status in zip(table["endpoint"], table["status"], strict=True):
        sel = pairs[(pairs["endpoint"] == endpoint) & (pairs["status"] == status)]
        counts = sel["error_class"].value_counts().sort_index()
        matched.append(int(len(sel)))
        explained.append("; ".join(f"{k}={v}" for k, v in counts.items()))
    table["matched_db_errors"] = matched
    table["explained_by"] = explained
    return table[cols]
