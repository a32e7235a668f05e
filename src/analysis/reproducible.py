"""What makes two report runs on the same inputs give the same bytes.

Every file format that records a time is given the incident's own time instead of the run's:
the kernel runs with ``SOURCE_DATE_EPOCH`` (matplotlib honours it), and the PDF, whose printer
(Chromium's Skia) records when it printed, gets that time written over its dates.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from analysis.exceptions import AnalysisError

#: The dates of a PDF's information dictionary as Skia writes them: ``D:`` 14 digits and a zone
#: of seven bytes (``+00'00'``). Same-length replacement keeps the cross-reference offsets valid.
_PDF_DATE_RE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[+-]\d\d'\d\d'\)")


def source_date_epoch(data_dir: Path) -> str:
    """Return the start of the incident's window in seconds since 1970 (``SOURCE_DATE_EPOCH``).

    A directory whose manifest cannot be read gets 0: the run fails on that manifest with its
    own error anyway.
    """
    from analysis.ingest import manifest_window, read_manifest

    try:
        start = manifest_window(read_manifest(data_dir), data_dir / "incident.json")[0]
    except AnalysisError:
        return "0"
    return str(int(start.timestamp()))


def pin_pdf_dates(pdf: bytes, epoch: str) -> bytes:
    """Return ``pdf`` with its creation and modification dates set to ``epoch`` (UTC).

    A PDF without dates in Skia's form, or an ``epoch`` that is not a whole number of seconds,
    is returned as it is.
    """
    try:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(int(epoch))).encode("ascii")
    except (ValueError, OverflowError, OSError):
        return pdf
    return _PDF_DATE_RE.sub(lambda m: b"/" + m[1] + b" (D:" + stamp + b"+00'00')", pdf)
