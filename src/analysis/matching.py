"""HTTP responses paired with the database errors behind them, one to one, nearest first.

PostgREST answers a failed statement with the status of its SQLSTATE mapping; the request and
the error are logged by different services, so pairs are made within a tolerance, per
(endpoint, status), nearest first and deterministically (ties broken by index).
"""

from __future__ import annotations

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
    used_a, used_b, pairs = set(), set(), []
    for i, j, _ in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((int(i), int(j)))
    return pairs


def match_http_to_db(
    incident: object,
    classes: tuple[ErrorClass, ...],
    *,
    tolerance: str | pd.Timedelta = DEFAULT_TOLERANCE,
) -> pd.DataFrame:
    """Pair each database error with a request of its PostgREST status on its endpoint.

    Errors and requests are grouped by (endpoint, status); within a group, pairs are made one to
    one, nearest first, within ``tolerance``.

    Returns
    -------
    DataFrame of pairs: db_error_id, request_id, error_class, endpoint, status, db_ts,
    request_ts, offset_s (request time minus database time).
    """
    tol = parse_size(tolerance, "tolerance")
    cols = [
        "db_error_id",
        "request_id",
        "error_class",
        "endpoint",
        "status",
        "db_ts",
        "request_ts",
        "offset_s",
    ]
    db = incident.db_errors
    if db.empty:
        return pd.DataFrame(columns=cols)
    db = db.assign(error_class=classify_db_errors(db))
    target = {c.key: (c.endpoint, c.http_status) for c in classes if c.source == "db_errors"}
    db = db[db["error_class"].isin([k for k, v in target.items() if None not in v])]
    db = db.assign(
        endpoint=db["error_class"].map(lambda k: target[k][0]),
        status=db["error_class"].map(lambda k: target[k][1]),
    )
    requests = incident.requests
    out = []
    for (endpoint, status), errs in db.groupby(["endpoint", "status"], sort=True):
        reqs = requests[(requests["endpoint"] == endpoint) & (requests["status"] == status)]
        reqs = reqs.sort_values(["ts", "id"], kind="stable")
        errs = errs.sort_values(["ts", "id"], kind="stable")
        if reqs.empty:
            continue
        origin = min(errs["ts"].min(), reqs["ts"].min())
        pairs = match_nearest(
            ns_since(errs["ts"], origin), ns_since(reqs["ts"], origin), tol // NANOSECOND
        )
        if not pairs:
            continue
        e = errs.iloc[[i for i, _ in pairs]]
        r = reqs.iloc[[j for _, j in pairs]]
        out.append(
            pd.DataFrame(
                {
                    "db_error_id": e["id"].to_numpy(),
                    "request_id": r["id"].to_numpy(),
                    "error_class": e["error_class"].to_numpy(),
                    "endpoint": endpoint,
                    "status": int(status),
                    "db_ts": e["ts"].to_numpy(),
                    "request_ts": r["ts"].to_numpy(),
                }
            )
        )
    if not out:
        return pd.DataFrame(columns=cols)
    pairs = pd.concat(out, ignore_index=True)
    pairs["db_ts"] = pd.to_datetime(pairs["db_ts"], utc=True)
    pairs["request_ts"] = pd.to_datetime(pairs["request_ts"], utc=True)
    pairs["offset_s"] = (pairs["request_ts"] - pairs["db_ts"]) / pd.Timedelta(1, "s")
    return pairs.sort_values(["db_ts", "db_error_id"], kind="stable")[cols].reset_index(drop=True)


def summarize_matches(
    incident: object, classes: tuple[ErrorClass, ...], pairs: pd.DataFrame
) -> pd.DataFrame:
    """Per (endpoint, status): database errors, requests, matched pairs, unmatched on each side.

    Returns
    -------
    DataFrame: endpoint, status, error_classes, db_errors, requests, matched, unmatched_db,
    unmatched_requests, median_offset_s.
    """
    rows = []
    groups: dict[tuple[str, int], list[ErrorClass]] = {}
    for c in classes:
        if c.source == "db_errors" and c.endpoint is not None and c.http_status is not None:
            groups.setdefault((c.endpoint, int(c.http_status)), []).append(c)
    requests = incident.requests
    for (endpoint, status), members in sorted(groups.items()):
        n_db = sum(c.count for c in members)
        n_req = int(((requests["endpoint"] == endpoint) & (requests["status"] == status)).sum())
        sel = pairs[(pairs["endpoint"] == endpoint) & (pairs["status"] == status)]
        rows.append(
            {
                "endpoint": endpoint,
                "status": status,
                "error_classes": ",".join(sorted(c.key for c in members)),
                "db_errors": n_db,
                "requests": n_req,
                "matched": int(len(sel)),
                "unmatched_db": n_db - int(len(sel)),
                "unmatched_requests": n_req - int(len(sel)),
                "median_offset_s": float(sel["offset_s"].median()) if len(sel) else float("nan"),
            }
        )
    cols = [
        "endpoint",
        "status",
        "error_classes",
        "db_errors",
        "requests",
        "matched",
        "unmatched_db",
        "unmatched_requests",
        "median_offset_s",
    ]
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
