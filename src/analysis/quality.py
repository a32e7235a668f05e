"""One data-quality issue, the unit every audit check returns (:mod:`analysis.audit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis._util import jsonable


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
