"""Tiny hand-made incidents in the canonical shapes of docs/contract.md section 2 (test helper)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

W1 = "f0000000-0000-4000-8000-000000000001"
W2 = "f0000000-0000-4000-8000-000000000002"


def ts(text: str) -> pd.Timestamp:
    """UTC timestamp from '2026-02-06 05:00:00'-like text."""
    return pd.Timestamp(text, tz="UTC")


def _times(values) -> pd.Series:
    parsed = pd.to_datetime(pd.Series(list(values), dtype="object"), utc=True, format="mixed")
    return parsed.astype("datetime64[ns, UTC]")


def requests_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (ts, endpoint, status)."""
    frame = pd.DataFrame(rows, columns=["ts", "endpoint", "status"])
    frame["ts"] = _times(frame["ts"])
    frame.insert(0, "id", [f"r{i:05d}" for i in range(len(frame))])
    frame["status"] = frame["status"].astype("int64")
    frame["method"] = "GET"
    frame["path"] = "/" + frame["endpoint"].str.replace("rest/", "rest/v1/", regex=False)
    frame["user"] = pd.Series([None] * len(frame), dtype="string")
    return frame


def db_errors_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (ts, sql_state, constraint, relation)."""
    frame = pd.DataFrame(rows, columns=["ts", "sql_state", "constraint", "relation"])
    frame["ts"] = _times(frame["ts"])
    frame.insert(0, "id", [f"e{i:05d}" for i in range(len(frame))])
    for col in ("sql_state", "constraint", "relation"):
        frame[col] = frame[col].astype("string")
    frame["sql_state_class"] = frame["sql_state"].str[:2]
    frame["severity"] = pd.Series(["ERROR"] * len(frame), dtype="string")
    frame["message"] = ("error " + frame["sql_state"]).astype("string")
    frame["column"] = pd.Series([None] * len(frame), dtype="string")
    return frame


def realtime_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (ts, family) or (ts, family, connected, limit)."""
    rows = [tuple(r) + (None, None) * (len(r) == 2) for r in rows]
    frame = pd.DataFrame(rows, columns=["ts", "family", "connected", "limit"])
    frame["connected"] = frame["connected"].astype("Int64")
    frame["limit"] = frame["limit"].astype("Int64")
    frame["ts"] = _times(frame["ts"])
    frame.insert(0, "id", [f"rt{i:05d}" for i in range(len(frame))])
    frame["family"] = frame["family"].astype("string")
    frame["level"] = pd.Series(["error"] * len(frame), dtype="string")
    frame["message"] = ("msg " + frame["family"]).astype("string")
    return frame


def concurrency_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (ts, webinar_id, viewers)."""
    frame = pd.DataFrame(rows, columns=["ts", "webinar_id", "viewers"])
    frame["ts"] = _times(frame["ts"])
    frame["webinar_id"] = frame["webinar_id"].astype("string")
    frame["viewers"] = frame["viewers"].astype("int64")
    return frame


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (webinar_id, user, joined_at, left_at or None)."""
    frame = pd.DataFrame(rows, columns=["webinar_id", "user", "joined_at", "left_at"])
    frame["joined_at"] = _times(frame["joined_at"])
    frame["left_at"] = _times(frame["left_at"])
    frame.insert(0, "session_id", [f"s{i}" for i in range(len(frame))])
    return frame


def registrations_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (ts, webinar_id, user)."""
    frame = pd.DataFrame(rows, columns=["ts", "webinar_id", "user"])
    frame["ts"] = _times(frame["ts"])
    frame.insert(0, "id", [f"g{i}" for i in range(len(frame))])
    return frame


def webinars_frame(ids=(W1, W2)) -> pd.DataFrame:
    return pd.DataFrame({"webinar_id": list(ids), "title": [f"title {i}" for i in ids]})


@dataclass(frozen=True)
class FakeIncident:
    """Duck-typed stand-in for ``analysis.ingest.Incident`` (same attribute names)."""

    requests: pd.DataFrame = field(default_factory=lambda: requests_frame([]))
    db_errors: pd.DataFrame = field(default_factory=lambda: db_errors_frame([]))
    realtime_events: pd.DataFrame = field(default_factory=lambda: realtime_frame([]))
    concurrency: pd.DataFrame = field(default_factory=lambda: concurrency_frame([]))
    sessions: pd.DataFrame = field(default_factory=lambda: sessions_frame([]))
    registrations: pd.DataFrame = field(default_factory=lambda: registrations_frame([]))
    webinars: pd.DataFrame = field(default_factory=webinars_frame)
    annotations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"ts": _times([]), "label": [], "note": []})
    )
    accounting: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["file", "kind", "read", "accepted", "rejected", "reason"]
        )
    )
    window: tuple = (ts("2026-02-06 05:00"), ts("2026-02-06 06:00"))
    display_tz: str = "Asia/Seoul"
    manifest: dict = field(default_factory=dict)
