"""What a class's rate is per: its numerator, its denominator, the minutes they do not measure."""

from __future__ import annotations

import numpy as np

from analysis.stats.series import exposure_of


def drop_masked_requests(requests: np.ndarray, signals: dict) -> tuple[np.ndarray, int]:
    """Return (the requests that could meet the class's failure, requests left out).

    A request gets one answer. One answered by another failure that comes earlier in a
    request's path (the frame's ``masked_requests``: a connection refused, a statement that
    never ran; ``analysis.signals.count_masked_requests``) never reached the point where this
    class fails. Left in, it dilutes the class's rate where that failure is frequent: a
    connection limit failing a third of the requests at the peak made a flat foreign-key bug
    on the same endpoint look less frequent at high load, and it read unrelated
    (docs/verdicts.md, "The denominator"). Everything downstream (the numerator's sample,
    the stand-in, the unmeasured minutes, every model) sees these requests.
    """
    r = np.asarray(requests, dtype=float)
    masked = signals.get("masked_requests")
    if masked is None:
        return r, 0
    masked = np.minimum(np.nan_to_num(np.asarray(masked, dtype=float)), r)
    return r - masked, int(round(float(masked.sum())))


def keep_logged_requests(
    errors: np.ndarray, requests: np.ndarray, signals: dict, realtime: bool
) -> tuple[np.ndarray, int]:
    """Return (the errors whose failing request is in the gateway export, errors left out).

    A rate per request divides errors by the requests the export holds, so its numerator must
    be the errors whose requests those are. When the database logs hold errors that the
    gateway export has no response for (the frame's ``failed_requests``, the class's errors
    paired with a logged response, fall short of its errors) while it does hold some, the
    export is sampled or partial: a fifth of the gateway's rows against every database error
    divides complete counts by a noisy fifth of their exposure, which flattens a flat bug's
    rate per request (the errors follow the requests that were made, not the ones that were
    kept). The paired errors are a sample of the errors with the same share, whatever it is,
    so they are the numerator. The full error count stays everywhere else in the report.
    Unchanged for a Realtime class, a class without the column, an export that logged no
    request of the class's endpoints (the viewers then stand in, :func:`choose_denominator`)
    and a class none of whose errors paired (nothing to sample from).
    """
    y = np.asarray(errors, dtype=float)
    failed = signals.get("failed_requests")
    if realtime or failed is None or not np.any(np.asarray(requests, dtype=float) > 0):
        return y, 0
    # Counted in the minute of its response, as the requests are (a Postgres clock ahead of
    # the gateway's moves a pair across a minute's edge, not out of the count).
    paired = np.nan_to_num(np.asarray(failed, dtype=float))
    left = int(round(float(y.sum() - paired.sum())))
    if left <= 0 or paired.sum() == 0:
        return y, 0
    return paired, left


def choose_denominator(
    requests: np.ndarray,
    signals: dict,
    concurrency: np.ndarray,
    realtime: bool,
    counted: np.ndarray | None = None,
) -> tuple[np.ndarray, str, int]:
    """Return (denominator per minute, its description, own failures excluded) of one class.

    :func:`exposure_of`, except where the class's endpoints logged no request at all in the
    window (an export of the database's logs without the gateway's), or none that was not one
    of the class's own failures (an export of error responses only, an endpoint that never
    answered otherwise): the concurrent viewers then stand in for the requests, as they do for
    a Realtime class, for the hinge, the threshold and the elasticity tests alike. A constant
    exposure would make any class whose errors follow the audience look like a rate per
    request that rises with load, which is what the hinge tests for (a flat 5 % deadlock rate
    was called capacity-driven that way); requests that are all the class's own failures are
    the errors themselves, and a rate of errors per error is flat whatever the load (a
    57014 limit on an errors-only export read unrelated that way; docs/verdicts.md, "The
    denominator").
    """
    kind = find_stand_in(requests, signals, realtime)
    if kind is not None:
        return np.asarray(concurrency, dtype=float), VIEWERS_STAND_IN[kind], 0
    return exposure_of(requests, signals, concurrency if realtime else None, counted)


#: Why the concurrent viewers stand in for a class's requests (:func:`choose_denominator`),
#: by ``Signals.denominator_kind``.
VIEWERS_STAND_IN = {
    "viewers_no_requests": "concurrent viewers (no request of this class's endpoints was logged)",
    "viewers_own_failures": (
        "concurrent viewers (every request logged on this class's endpoints is one of its own "
        "failures: an export of error responses only, or an endpoint that never answered "
        "otherwise)"
    ),
}


def find_stand_in(requests: np.ndarray, signals: dict, realtime: bool) -> str | None:
    """Return why the viewers must stand in for the class's requests (a key), else None."""
    if realtime:
        return None
    r = np.asarray(requests, dtype=float)
    if not np.any(r > 0):
        return "viewers_no_requests"
    failed = signals.get("failed_requests")
    if failed is None:
        return None
    if not np.any(r - np.minimum(np.nan_to_num(np.asarray(failed, dtype=float)), r) > 0):
        return "viewers_own_failures"
    return None


def find_unmeasured_minutes(y, requests, signals, realtime, raised) -> np.ndarray | None:
    """Return the minutes the set-aside checks leave out (None: none), beside ``raised``.

    A minute in which the class's endpoints logged no request (a gap in the gateway export)
    and no error was counted is not measured, not quiet: at a floor exposure it would expect
    errors from the fitted limit, and a gap at the peak would read as errors stopping above K.
    """
    if realtime or find_stand_in(requests, signals, realtime) is not None:
        return raised
    gap = (np.asarray(requests, dtype=float) == 0) & (np.asarray(y, dtype=float) == 0)
    if not gap.any():
        return raised
    return gap if raised is None else gap | raised
