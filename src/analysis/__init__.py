"""Reproducible postmortems of Supabase incidents.

Stages, chained by ``pipeline``: ``ingest`` (raw exports to canonical tables), ``timeline``
(one webinar's hour as a frozen ``Timeline``, built from ``window``, ``concurrency``,
``error_classes`` on ``vocabulary``, ``matching`` and ``moments``), ``audit`` (what the data
cannot support), ``stats`` (does load drive errors, and where is the breaking point),
``findings`` (the findings.json document), ``narrative``/``plots`` and ``report`` (papermill
+ nbconvert). This module only re-exports; importing it does no work.
"""

from analysis.exceptions import AnalysisError

__all__ = ["AnalysisError", "__version__"]
__version__ = "0.1.0"
