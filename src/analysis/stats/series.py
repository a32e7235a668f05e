"""The per-minute series the statistics read: validation, counts, exposure, lags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.exceptions import StatsError
from analysis.stats.constants import MIN_ERRORS, MIN_EXPOSURE, MIN_MINUTES


def extract_series(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Return (errors, requests, concurrency, minute labels) from a per-minute frame.

    Raises :class:`StatsError` naming the column and row of any missing, negative or
    non-integer value.
    """
    if not isinstance(frame, pd.DataFrame):
        raise StatsError(f"per-minute frame: expected a pandas DataFrame, found {type(frame)}")
    missing = [c for c in ("errors", "requests", "concurrency") if c not in frame.columns]
    if missing:
        raise StatsError(
            f"per-minute frame: missing column(s) {missing}; expected minute, requests, errors, "
            f"concurrency (docs/contract.md section 3), found {list(frame.columns)}"
        )
    out = []
    for col in ("errors", "requests", "concurrency"):
        values = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
        if bad.any():
            row = int(np.argmax(bad))
            raise StatsError(
                f"per-minute frame, row {row}, column '{col}': expected a count >= 0, "
                f"found {frame[col].iloc[row]}"
            )
        out.append(values)
    if len(frame) < MIN_MINUTES:
        raise StatsError(
            f"per-minute frame: expected at least {MIN_MINUTES} minutes, found {len(frame)}"
        )
    if "minute" in frame.columns:
        labels = [pd.Timestamp(m).isoformat() for m in frame["minute"]]
    else:
        labels = [str(i) for i in range(len(frame))]
    return out[0], out[1], out[2], labels


#: Fewest distinct addresses on a class's endpoints for its addresses to count as its sources:
#: four times the floor of sources (``MIN_SOURCES``), so that errors from fewer than the floor
#: are a small part of those who came. Below it the audience itself sits behind few addresses
#: (an office's NAT), and few addresses say nothing.
MANY_ADDRESSES = 4 * MIN_ERRORS

#: What :func:`find_sources` counted when the class's few error addresses carried at least half
#: of the signed-in users seen in the window: the users behind them, not the addresses.
SHARED_ADDRESS = "shared_address"

#: Optional per-minute columns of the class frame (docs/contract.md section 3) and what they are.
SIGNAL_COLUMNS = {
    "failed_requests": "the class's own failing requests among 'requests'",
    "users": "distinct pseudonymised users with an error of the class",
    "clients": "distinct clients with an error of the class",
    "endpoints": "distinct endpoints with an error of the class",
    "addresses": "distinct pseudonymised client addresses with an error of the class",
    "new_addresses": "addresses whose first error of the class in the window falls in the minute",
    "endpoint_addresses": "addresses first seen in the minute among all requests to its endpoints",
    "shared_users": "users first seen in the minute on any request from an address with an error",
    "window_users": "users first seen in the minute on any request",
    "new_users": "users whose first error of the class in the window falls in the minute",
    "user_onsets": "users with an error of the class in the minute and none in the minute before",
    "latency_ms": "median latency (origin_time) of the denominator's requests",
    "rt_connected": "Realtime connected (billing metrics, max in the minute)",
    "rt_limit": "Realtime connection limit (billing metrics)",
    "masked_requests": "requests among 'requests' answered by an earlier failure of another kind",
}


def extract_signals(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return the optional signal columns present in ``frame`` as float arrays (NaN = unknown).

    Raises :class:`StatsError` naming the column and row of a negative value.
    """
    out = {}
    for col in SIGNAL_COLUMNS:
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
        if np.isnan(values).all():
            continue
        bad = values < 0
        if bad.any():
            row = int(np.argmax(bad))
            raise StatsError(
                f"per-minute frame, row {row}, column '{col}': expected a value >= 0 "
                f"({SIGNAL_COLUMNS[col]}), found {frame[col].iloc[row]}"
            )
        out[col] = values
    return out


def interpolate_unsampled(concurrency: np.ndarray, samples: np.ndarray | None) -> np.ndarray:
    """Return concurrency with minutes that had no monitor sample interpolated linearly.

    A minute without a sample carries the last reading forward, which on a steep ramp is
    stale by the whole ramp's rise; the hinge would then put K below the truth. Interpolating
    between the sampled minutes on either side is the unbiased guess for a smooth audience.
    Minutes before the first or after the last sample keep their (carried) values.
    """
    c = np.asarray(concurrency, dtype=float)
    if samples is None:
        return c
    seen = np.asarray(samples, dtype=float) > 0
    if seen.sum() < 2 or seen.all():
        return c
    t = np.arange(len(c))
    out = c.copy()
    inside = (~seen) & (t > t[seen][0]) & (t < t[seen][-1])
    out[inside] = np.interp(t[inside], t[seen], c[seen])
    return out


def choose_counts(errors: np.ndarray, signals: dict) -> tuple[np.ndarray, str]:
    """Return the per-minute series the verdict models, and its unit.

    Affected users per minute when the frame has them (else clients): a capacity limit fails
    many users at once, while a retry loop or a misbehaving client repeats one failure many
    times; counting failing users keeps the second from posing as a surge. Users come first
    because a log's client is often a software family (one value for thousands of browsers).
    Minutes where the source is unknown (NaN) fall back to the error count. A column unknown
    at every minute with errors (no failing request names a user: an app without sign-in) is
    skipped, so the unit says what is counted. Without such columns: errors.
    """
    y = np.asarray(errors, dtype=float)
    for col, unit in (("users", "users with errors"), ("clients", "clients with errors")):
        if col in signals:
            units = signals[col]
            if np.isnan(units[y > 0]).all():
                continue
            return np.where(np.isnan(units), y, np.minimum(units, y)), unit
    return y, "errors"


def _count_first_seen(errors: np.ndarray, signals: dict, column: str) -> int | None:
    """Sum a first-seen column; None without it or where a minute with errors is NaN."""
    if column not in signals:
        return None
    new = np.asarray(signals[column], dtype=float)
    if np.isnan(new[np.asarray(errors, dtype=float) > 0]).any():
        return None
    return int(np.nansum(new))


def count_addresses(errors: np.ndarray, signals: dict) -> tuple[int, int] | None:
    """Return (addresses the class's errors came from, addresses on its endpoints), if known.

    Sums of ``new_addresses`` and ``endpoint_addresses``; None without them or when a minute
    with errors cannot name its addresses.
    """
    mine = _count_first_seen(errors, signals, "new_addresses")
    if mine is None or "endpoint_addresses" not in signals:
        return None
    return mine, int(round(float(np.nansum(signals["endpoint_addresses"]))))


def count_users_behind(errors: np.ndarray, signals: dict) -> tuple[int, int] | None:
    """Return (users seen behind the class's error addresses, users seen in the window), if known.

    Sums of ``shared_users`` and ``window_users`` (every request, signed-in users only); None
    without them or when no user was seen.
    """
    if "shared_users" not in signals or "window_users" not in signals:
        return None
    behind = float(np.nansum(signals["shared_users"]))
    seen = float(np.nansum(signals["window_users"]))
    return None if seen <= 0 else (int(round(behind)), int(round(seen)))


def describe_shared_addresses(errors: np.ndarray, signals: dict) -> str | None:
    """Return the reason's note when the class's few error addresses carried most of the users.

    Only where :func:`find_sources` returned :data:`SHARED_ADDRESS`; None otherwise.
    """
    sources, of = find_sources(errors, signals)
    if of != SHARED_ADDRESS:
        return None
    addresses = count_addresses(errors, signals)[0]
    seen = count_users_behind(errors, signals)[1]
    return (
        f"its errors came from {addresses} client address(es), fewer than {MIN_ERRORS}, but "
        f"{sources} of the {seen} distinct signed-in users seen in the window "
        f"({100 * sources / seen:.0f} %) made requests from them: a shared network (a venue's "
        "NAT) that carries most of the audience, not a few clients, so the few-sources rule "
        "does not apply"
    )


def count_sources(errors: np.ndarray, signals: dict) -> int | None:
    """Return how many distinct users the class's errors came from in the window, if known.

    The sum of ``new_users``; None without that column or when a minute with errors does not
    say (NaN: some of its errors could not be traced to a user).
    """
    return _count_first_seen(errors, signals, "new_users")


def find_sources(errors: np.ndarray, signals: dict) -> tuple[int | None, str]:
    """Return how many distinct sources the class's errors came from in the window, and which.

    Users (the sum of ``new_users``) where every minute with errors names them; else client
    addresses, where they are known and the requests to the class's endpoints came from at
    least ``MANY_ADDRESSES`` (sign-ins carry no user yet: a per-address limit met by a few
    shared addresses is then told from a project's limit, which refuses whoever arrives;
    docs/verdicts.md, "Who the errors came from"). Fewer than ``MIN_SOURCES`` addresses that
    carried at least half of the signed-in users seen in the window (``shared_users`` against
    ``window_users``), and at least ``MIN_SOURCES`` of them, count as the users behind them,
    ``SHARED_ADDRESS``: they are where the
    audience sat, so their errors cannot be set aside as a few clients' behaviour.
    ``(None, "user")`` when neither is known.
    """
    users = count_sources(errors, signals)
    if users is not None:
        return users, "user"
    spread = count_addresses(errors, signals)
    if spread is None or spread[1] < MANY_ADDRESSES:
        return None, "user"
    behind = count_users_behind(errors, signals)
    if (
        spread[0] < MIN_ERRORS  # the verdicts' MIN_SOURCES
        and behind is not None
        and behind[0] >= MIN_ERRORS
        and 2 * behind[0] >= behind[1]
    ):
        # docs/verdicts.md, "An address that carries the audience": errors from addresses
        # behind which most of the signed-in audience sat follow the audience's load.
        return behind[0], SHARED_ADDRESS
    return spread[0], "address"


def is_realtime_class(frame: pd.DataFrame) -> bool:
    """Whether the frame's class is a Realtime one (from ``attrs``: source or class key)."""
    attrs = frame.attrs
    return bool(
        attrs.get("source") == "realtime_events"
        or str(attrs.get("error_class", "")).startswith("realtime:")
    )


def exposure_of(
    requests: np.ndarray,
    signals: dict,
    viewers: np.ndarray | None = None,
    counted: np.ndarray | None = None,
) -> tuple[np.ndarray, str, int]:
    """Return (denominator per minute, its description, own failures excluded).

    The class's repeated failures are taken out of the denominator: a burst of N failing
    requests from one user would otherwise add N requests and manufacture a rise of errors with
    traffic. One request per failure counted in the numerator (``counted``: affected users or
    clients per minute) stays in, because it is the request that was at risk; so a flat bug
    without retries keeps all its requests, and a minute whose only requests failed still has
    an exposure. Without ``counted`` every failing request leaves. For a Realtime class
    (``viewers`` given) the units at risk are connections, not requests: a refused client
    reconnects in a loop, so websocket requests grow with the errors themselves; the
    denominator is then the concurrent viewers.
    """
    if viewers is not None:
        return np.asarray(viewers, dtype=float), "concurrent viewers (a Realtime class)", 0
    r = np.asarray(requests, dtype=float)
    failed = signals.get("failed_requests")
    if failed is None:
        return r, "requests (the class's own failures could not be identified)", 0
    failed = np.minimum(np.nan_to_num(failed), r)
    if counted is not None:
        failed = np.maximum(failed - np.asarray(counted, dtype=float), 0.0)
    text = "requests without the class's repeated failing requests"
    return r - failed, text, int(round(failed.sum()))


def split_own_failures(
    exposure: np.ndarray, without: np.ndarray, viewers: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (exposure, own failing requests in it) for the traffic/unrelated tests.

    ``exposure`` keeps one failing request per counted unit (:func:`exposure_of` with
    ``counted``); ``without`` is the same with every failing request out. Their difference is
    the class's own failures inside the exposure, which the likelihood ratio must not weigh
    minutes by (``verdicts.compare_traffic_to_unrelated``; docs/statistics.md section 5).
    Where no request but the class's own failing ones was logged (an endpoint that never
    answered otherwise, an export of error responses only), the requests measure the class,
    not the audience, and the concurrent viewers stand in, as when no request was logged.
    """
    x = np.asarray(exposure, dtype=float)
    own = x - np.asarray(without, dtype=float)
    if not np.any(own > 0):
        return x, None
    if not np.any(np.asarray(without, dtype=float) > 0):
        return np.asarray(viewers, dtype=float), None
    return x, own


def log_weights(traffic: np.ndarray) -> np.ndarray:
    """Return log(traffic / its mean) of each row, traffic floored at ``MIN_EXPOSURE``."""
    t = np.maximum(traffic, MIN_EXPOSURE)
    return np.log(t / t.mean(-1, keepdims=True))


def lag_padded(x: np.ndarray, lag: int) -> np.ndarray:
    """Return x[t - lag], the first ``lag`` minutes padded with x[0] (no data before the window)."""
    x = np.asarray(x, dtype=float)
    if lag == 0:
        return x
    return np.concatenate([np.full(lag, x[0]), x[:-lag]])
