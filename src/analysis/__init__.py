"""Reproducible postmortems of Supabase incidents.

Stages, one module each: ``ingest`` (raw exports to canonical tables), ``timeline``
(buckets, error taxonomy, key moments, data-quality audit), ``stats`` (does load drive
errors, and where is the breaking point), ``plots`` and ``report`` (papermill + nbconvert).
This module only re-exports; importing it does no work.
"""

from analysis.exceptions import AnalysisError

__all__ = ["AnalysisError", "__version__"]
__version__ = "0.1.0"
