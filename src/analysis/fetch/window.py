"""Time of a fetch: the window's bounds, its pieces, API bounds, ISO text and microseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analysis._util import format_utc
from analysis.exceptions import FetchError

MINUTE = timedelta(minutes=1)
# One API call covers at most 24 hours; a piece's API bounds are widened by a minute each side.
MAX_PIECE = timedelta(hours=23)
# Per-minute counts (1000-row cap) used only to name the minutes of a failed completeness check.
DIAGNOSIS_PIECE = timedelta(minutes=960)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
            f"window {format_utc(start)} .. {format_utc(end)}: expected END after START"
        )
    pieces, left = [], start
    while left < end:
        right = min(left + max_piece, end)
        pieces.append((left, right))
        left = right
    return pieces


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


def _minute_of(row: dict) -> datetime:
    """Return the whole minute in an aggregate row's ``minute`` (ValueError otherwise)."""
    minute = row_timestamp(row["minute"])
    if minute.second or minute.microsecond:
        raise ValueError("not a whole minute")
    return minute
