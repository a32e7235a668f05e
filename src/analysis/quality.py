"""One data-quality issue, the unit every audit check returns (:mod:`analysis.audit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis._util import jsonable
from analysis.vocabulary import quote_literal


@dataclass(frozen=True)
class QualityIssue:
    """One data-quality issue: what the data cannot support, with its evidence.

    Attributes
    ----------
    code
        Stable identifier (``sampling_density_drop``, ``concurrency_exceeds_users``, ...).
    severity
        ``warning`` (limits a conclusion) or ``info``.
    what
        What was found, one English sentence with the numbers.
    limits
        How it limits the conclusions, one English sentence.
    source, filter
        Evidence: the canonical table(s) and the selection a reader can re-run.
    fields
        Numbers (and times as ISO text) from which ``what`` can be rendered in another language.
    webinar_id
        The webinar concerned, None for incident-wide issues.
    """

    code: str
    severity: str
    what: str
    limits: str
    source: str
    filter: str
    fields: dict = field(default_factory=dict)
    webinar_id: str | None = None

    def to_dict(self) -> dict:
        """JSON-serialisable view."""
        return {
            "code": self.code,
            "severity": self.severity,
            "webinar_id": self.webinar_id,
            "what": self.what,
            "limits": self.limits,
            "evidence": {"source": self.source, "filter": self.filter},
            "fields": jsonable(dict(self.fields)),
        }


def tabulate_issues(issues: tuple[QualityIssue, ...]) -> pd.DataFrame:
    """Return the issues as a table (one row each; fields kept as a dict column)."""
    cols = ["code", "severity", "webinar_id", "what", "limits", "source", "filter", "fields"]
    return pd.DataFrame(
        [
            {
                "code": f.code,
                "severity": f.severity,
                "webinar_id": f.webinar_id,
                "what": f.what,
                "limits": f.limits,
                "source": f.source,
                "filter": f.filter,
                "fields": dict(f.fields),
            }
            for f in issues
        ],
        columns=cols,
    )


def check_load_source(incident: object, webinar_id: str) -> tuple[QualityIssue, ...]:
    """Say so when the load was read from presence because no monitor sampled the window."""
    if getattr(incident, "load_source", "monitor") != "presence":
        return ()
    start, end = incident.window
    mine = incident.sessions[incident.sessions["webinar_id"] == webinar_id]
    left = mine["left_at"]
    n = int(((mine["joined_at"] < end) & (left.isna() | (left > start))).sum())
    return (
        QualityIssue(
            code="concurrency_from_presence",
            severity="info",
            webinar_id=webinar_id,
            what=f"No viewer-count monitor sampled the window: concurrency is read from the "
            f"{n} presence sessions (the sessions open at every join and leave, and every 15 s).",
            limits="It counts what the monitor counts (open sessions: tabs and reconnects "
            "included); a session whose leave was never written stays open to the window's end.",
            source="sessions",
            filter=f"webinar_id == {quote_literal(webinar_id)}",
            fields={"sessions": n},
        ),
    )
