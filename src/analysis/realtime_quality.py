"""Data-quality checks on Realtime's own lines: its limit, refusals below it, unknown lines.

Part of the audit (:func:`analysis.audit.audit_incident` runs them); each takes the canonical
``realtime_events`` table and the window and returns a tuple of
:class:`~analysis.quality.QualityIssue`.
"""

from __future__ import annotations

import pandas as pd

from analysis.quality import QualityIssue
from analysis.vocabulary import OTHER_FAMILY, quote_list, quote_literal
from analysis.window import to_utc


def check_realtime_limit(
    realtime_events: pd.DataFrame, start: object, end: object
) -> tuple[QualityIssue, ...]:
    """Flag Realtime ``Billing metrics`` rows whose connected sockets reached the tenant limit.

    One finding per limit value that was reached inside the window.
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    if realtime_events.empty or not {"connected", "limit"} <= set(realtime_events.columns):
        return ()
    rows = realtime_events[
        (realtime_events["family"] == "billing_metrics")
        & realtime_events["connected"].notna()
        & realtime_events["limit"].notna()
        & (realtime_events["ts"] >= start)
        & (realtime_events["ts"] < end)
    ]
    out = []
    for limit, group in rows.groupby(rows["limit"].astype("int64"), sort=True):
        hit = group[group["connected"].astype("int64") >= limit].sort_values("ts")
        if hit.empty:
            continue
        first, last = hit["ts"].iloc[0], hit["ts"].iloc[-1]
        fields = {
            "limit": int(limit), "rows_at_limit": int(len(hit)), "rows": int(len(group)),
            "first_ts": first, "last_ts": last,
            "max_connected": int(group["connected"].max()),
        }  # fmt: skip
        out.append(
            QualityIssue(
                code="realtime_at_limit",
                severity="warning",
                what=(
                    f"Realtime reported {len(hit):,} of {len(group):,} usage samples at or above "
                    f"its connection limit of {limit:,} (up to {fields['max_connected']:,} "
                    f"connected), from {first.isoformat()} to {last.isoformat()}."
                ),
                limits=(
                    "At the limit Realtime refuses or drops connections, so concurrency measured "
                    "through Realtime is capped by the plan there, not by demand; load in that "
                    "period is a lower bound."
                ),
                source="realtime_events",
                filter=f"family == 'billing_metrics' and limit == {limit} and connected >= limit",
                fields=fields,
            )  # fmt: skip
        )
    return tuple(out)


#: Refusals "at the limit" while the usage samples stay below this share of the reported
#: limit are not the reported limit at work (Realtime's own binding check counts >= 95 %).
REFUSAL_SHARE_OF_LIMIT = 0.8


def check_refusals_below_limit(realtime_events, start, end) -> tuple[QualityIssue, ...]:
    """Flag Realtime refusing clients at its user limit while its usage samples show room.

    When, in the minutes with ``too_many_connections`` lines, the ``Billing metrics`` samples
    stay below :data:`REFUSAL_SHARE_OF_LIMIT` of the limit they report, another limit refused
    the clients (a tenant setting below the plan's, connections counted elsewhere).
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    if realtime_events.empty or not {"connected", "limit"} <= set(realtime_events.columns):
        return ()
    rows = realtime_events[(realtime_events["ts"] >= start) & (realtime_events["ts"] < end)]
    minutes = rows.loc[rows["family"] == "too_many_connections", "ts"].dt.floor("min")
    during = rows[
        (rows["family"] == "billing_metrics")
        & rows["limit"].notna()
        & rows["ts"].dt.floor("min").isin(set(minutes))
    ]
    if during.empty or during["connected"].isna().all():
        return ()
    connected, limit = int(during["connected"].max()), int(during["limit"].max())
    if limit <= 0 or connected >= REFUSAL_SHARE_OF_LIMIT * limit:
        return ()
    n, m = len(minutes), minutes.nunique()
    return (
        QualityIssue(
            code="realtime_refusals_below_limit",
            severity="warning",
            what=(
                f"Realtime refused clients at its concurrent-user limit {n:,} times in {m:,} "
                f"minutes, while its usage samples in those minutes showed at most {connected:,} "
                f"connected of a reported limit of {limit:,} ({connected / limit:.0%})."
            ),
            limits=(
                "The limit that refused these clients is not the one the samples report (a "
                "tenant's max_concurrent_users set below the plan's, or connections counted "
                "elsewhere): plan against the load at which refusals began (the class's K), "
                "not against the reported limit, and check the project's Realtime settings."
            ),
            source="realtime_events",
            filter="family in ['too_many_connections', 'billing_metrics']",
            fields={
                "refusals": n,
                "minutes": m,
                "max_connected": connected,
                "limit": limit,
                "share": connected / limit,
            },
        ),  # fmt: skip
    )


def check_unclassified_realtime(
    realtime_events: pd.DataFrame, start: object, end: object, *, shown: int = 5
) -> tuple[QualityIssue, ...]:
    """Name the Realtime lines logged as errors or warnings that belong to no family.

    Their family is ``other`` (``vocabulary.OTHER_FAMILY``): a token that failed validation
    (``JwtSignatureError``), a replication slot in use; those logged as errors are the one class
    ``realtime:other`` (``vocabulary.classify_realtime``), warnings no class. They are
    counted here by the code Realtime writes before the first colon (or the message's first
    words), the ``shown`` most frequent named, so none of them goes unmentioned.
    """
    start, end = to_utc(start, "window start"), to_utc(end, "window end")
    if realtime_events.empty or "level" not in realtime_events.columns:
        return ()
    rt = realtime_events
    level = rt["level"].astype("string").str.lower()
    rows = rt[
        (rt["family"] == OTHER_FAMILY)
        & level.isin(["error", "warning", "warn", "critical", "alert", "emergency"]).fillna(False)
        & (rt["ts"] >= start)
        & (rt["ts"] < end)
    ]
    if rows.empty:
        return ()
    head = rows["message"].astype("string").fillna("").str.split(":", n=1).str[0].str.strip()
    head = head.str.slice(0, 60).replace("", "(empty)")
    counts = head.value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    top = [(str(k), int(v)) for k, v in counts.head(shown).items()]
    listed = ", ".join(f"{k} x{v:,}" for k, v in top)
    more = len(counts) - len(top)
    return (
        QualityIssue(
            code="unclassified_realtime_errors",
            severity="warning",
            what=(
                f"Realtime logged {len(rows):,} errors or warnings that belong to no error family: "
                f"{listed}" + (f" and {more} more kinds" if more else "") + "."
            ),
            limits=(
                "Those logged as errors are counted together as one class, realtime:other, "
                "whatever each means, so its verdict is only as good as that grouping; warnings "
                "are in no class. Read them in the Realtime logs."
            ),
            source="realtime_events",
            filter=f"family == {quote_literal(OTHER_FAMILY)} and level in "
            + quote_list(("error", "warning")),
            fields={"rows": int(len(rows)), "kinds": int(len(counts))},
        ),
    )


# --------------------------------------------------------------------------------------------
# All checks for one webinar
# --------------------------------------------------------------------------------------------
