"""The canonical per-minute traffic table: requests per minute, endpoint and status class.

The timeline's denominators (requests to a class's endpoint per minute) and everything the
statistics see are read from this one table, whichever way the traffic reached the machine:

- **raw edge rows** (``make fetch`` in raw mode, or any raw export): :func:`aggregate_requests`
  groups the ``requests`` table by minute, endpoint and status class (a pandas groupby, one
  pass in compiled code; no Python loop over rows);
- **log-store aggregates** (hybrid fetch): the log store returned the same groups per minute
  and the reader of those pages builds the table with the same columns.

Columns (:data:`TRAFFIC_COLUMNS`): ``minute`` (UTC, left edge), ``endpoint`` (as
``ingest.canonical.endpoint_of``), ``status_class`` (``status // 100``: 1-5), ``requests``
(int64), ``max_origin_time_ms`` and ``p95_origin_time_ms`` (float, NaN where unknown). One row
per non-empty group, sorted by minute, endpoint, status class, so equal inputs give equal
frames byte for byte. ``attrs['source']`` says where the counts came from.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

#: The table's columns, in order, with their dtypes.
TRAFFIC_DTYPES = {
    "minute": "datetime64[ns, UTC]",
    "endpoint": "string",
    "status_class": "int64",
    "requests": "int64",
    "max_origin_time_ms": "float64",
    "p95_origin_time_ms": "float64",
}
TRAFFIC_COLUMNS = tuple(TRAFFIC_DTYPES)
#: ``attrs['source']`` of a table aggregated here from raw edge rows.
RAW_SOURCE = "raw edge rows, aggregated per minute locally"
#: ``attrs['source']`` of the hybrid fetch's table: the log store aggregated it with this query
#: (``queries/edge_logs_traffic_per_minute.<flavour>.sql``).
LOG_STORE_SOURCE = "log-store aggregates (query edge_logs_traffic_per_minute)"
#: Raw aggregations by id of their ``requests`` table (weakly: gone with the table).
_AGGREGATED: dict[int, tuple] = {}
_MINUTE = pd.Timedelta(1, "min")


def empty_traffic(source: str = RAW_SOURCE) -> pd.DataFrame:
    """Return a traffic table without rows (the right dtypes)."""
    out = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in TRAFFIC_DTYPES.items()})
    out.attrs["source"] = source
    return out


def aggregate_requests(requests: pd.DataFrame, source: str = RAW_SOURCE) -> pd.DataFrame:
    """Aggregate raw request rows into the traffic table (see the module docstring).

    Parameters
    ----------
    requests : pandas.DataFrame
        The canonical ``requests`` table (``ts``, ``endpoint``, ``status``, and
        ``origin_time_ms`` when present).
    source : str
        Text kept in ``attrs['source']``.

    Notes
    -----
    p95 is the exact 95th percentile (linear interpolation) of the group's latencies; the log
    store's own p95 is approximate, which is why no statistic reads the latency columns for a
    verdict.
    """
    if requests.empty:
        return empty_traffic(source)
    # A hand-built table may lack latencies: its groups then have none (NaN), as the log
    # store's do where origin_time is missing.
    latency = requests.get("origin_time_ms", pd.Series(np.nan, index=requests.index))
    keys = pd.DataFrame(
        {
            "minute": requests["ts"].dt.floor("min"),
            "endpoint": requests["endpoint"].astype("string"),
            "status_class": (requests["status"].to_numpy(dtype="int64") // 100),
            "latency": pd.to_numeric(latency, errors="coerce").astype("float64"),
        }
    )
    grouped = keys.groupby(["minute", "endpoint", "status_class"], sort=True, observed=True)
    latency = grouped["latency"]
    out = pd.DataFrame(
        {
            "requests": grouped.size().astype("int64"),
            "max_origin_time_ms": latency.max().astype("float64"),
            "p95_origin_time_ms": latency.quantile(0.95).astype("float64"),
        }
    ).reset_index()
    out = out[list(TRAFFIC_COLUMNS)].reset_index(drop=True)
    out.attrs["source"] = source
    return out


def find_traffic(incident: object) -> pd.DataFrame:
    """Return the incident's traffic table, whichever way its traffic was fetched.

    A hybrid fetch's incident carries the log store's aggregates (``incident.traffic``) and
    only error rows in ``requests``; a raw one carries every request, aggregated here (once per
    ``requests`` table: the result is kept while that table lives).
    """
    table = getattr(incident, "traffic", None)
    if table is not None and len(table):
        if table.attrs.get("source") != LOG_STORE_SOURCE:
            table = table.copy()
            table.attrs["source"] = LOG_STORE_SOURCE
        return table
    requests = incident.requests
    key = id(requests)
    kept = _AGGREGATED.get(key)
    if kept is not None and kept[0]() is requests:
        return kept[1]
    table = aggregate_requests(requests)
    _AGGREGATED[key] = (weakref.ref(requests, lambda _, key=key: _AGGREGATED.pop(key, None)), table)
    return table


def count_requests(
    traffic: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    endpoint: str | None = None,
) -> np.ndarray:
    """Return requests per minute of ``[start, end)`` to ``endpoint`` (None: every endpoint).

    The table's minutes are whole UTC minutes, so ``start`` must be one (see
    :func:`is_whole_minute`); minute k of the result is ``start + k`` minutes.
    """
    n = int(np.ceil((end - start) / _MINUTE))
    if endpoint is not None:
        traffic = traffic[traffic["endpoint"] == endpoint]
    minute = traffic["minute"]
    inside = (minute >= start) & (minute < end)
    k = ((minute[inside] - start) // _MINUTE).to_numpy(dtype="int64")
    weights = traffic.loc[inside, "requests"].to_numpy(dtype="int64")
    return np.bincount(k, weights=weights, minlength=n)[:n].astype("int64")


def is_whole_minute(ts: pd.Timestamp) -> bool:
    """Whether ``ts`` is a whole UTC minute (the table's grid)."""
    return ts == ts.floor("min")


def list_endpoints(traffic: pd.DataFrame) -> set[str]:
    """Every endpoint with at least one request in the table."""
    return set(traffic.loc[traffic["requests"] > 0, "endpoint"].dropna().astype(str))
