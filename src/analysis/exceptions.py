"""Exceptions of the package: one base class, one subclass per stage.

Every error a user can cause (a bad file, a bad parameter) is one of these, and its ``str`` is
the one line shown to the user: the file, the row or field, what was expected, what was found.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """Base class: a user-facing error whose message is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ParameterError(AnalysisError):
    """A run parameter (webinar id, window, language, ...) is malformed or unknown."""


class IngestError(AnalysisError):
    """A raw file cannot be read as any supported export."""

    def __init__(
        self,
        path: object,
        problem: str,
        *,
        row: int | None = None,
        field: str | None = None,
        expected: str | None = None,
        found: object = None,
    ) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        text = f"{where}: {problem}"
        if expected is not None:
            text += f"; expected {expected}"
        if found is not None:
            shown = repr(found)
            text += f", found {shown[:80]}{'...' if len(shown) > 80 else ''}"
        self.path, self.row, self.field = path, row, field
        super().__init__(text)


class SchemaError(IngestError):
    """A canonical table violates its declared schema."""


class TimelineError(AnalysisError):
    """The timeline cannot be built for the requested webinar or window."""


class StatsError(AnalysisError):
    """A statistical model cannot be fitted on the data given."""


class ReportError(AnalysisError):
    """The report cannot be executed or exported."""


class FetchError(AnalysisError):
    """The Management API refused or failed a log download."""


class DataIntegrityError(AnalysisError):
    """A raw data file does not match its checksum manifest, or cannot be regenerated."""
