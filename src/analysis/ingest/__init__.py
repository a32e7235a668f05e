"""Ingest: raw Supabase exports of an incident directory to validated canonical tables.

The only package that reads raw files. It accepts every shape an analyst gets out of Supabase
(docs/contract.md section 1), each one an entry of :data:`analysis.ingest.shapes.SHAPES`:
Management API envelopes (one or many pages, gzip or plain), Logs Explorer CSV and "Copy as
JSON", the per-product log pages' CSVs, the unified Logs page's CSV and JSON, both storage
flavours (BigQuery and ClickHouse), and the table-editor CSVs. The shape, the log source and
the flavour of each file are detected from its content; ``incident.json`` may override them per
file (``"files": {"<glob>": {"kind": .., "flavour": ..}}``).

Policies (each counted in the accounting, never silent):

- A file that cannot be read as any export stops the run with one :class:`IngestError` line;
  so does a file whose every row fails the same check (a systematic error, e.g. millisecond
  timestamps throughout), and a Management API envelope whose ``error`` is not null.
- A bad row inside a good file is rejected with a reason. Filters are rejections too:
  ``outside window`` (log rows and viewer-count samples outside the manifest window
  ``[window_start, window_end)``), ``duplicate id`` (pages overlap; the first occurrence in
  file order wins), ``not an error`` for Postgres rows that are not ERROR/FATAL/PANIC, and
  ``unknown webinar`` for registrations, presence and viewer-count rows whose webinar is not
  in ``webinars.csv``, and ``another project (ref ...)`` for log rows naming another project
  than ``incident.json``'s ``project_ref`` (:mod:`analysis.ingest.projects`; without one,
  rows of two projects stop the run).
- Naive timestamps are accepted only from ClickHouse-flavour logs, whose documented format is
  UTC without a zone; anywhere else they are rejected (``naive timestamp``).

Modules: ``files`` (bytes to text, JSON, CSV cells), ``shapes`` (the registry of export
shapes), ``reader`` (one file to flat records), ``fast`` (the columnar reader of API pages),
``timestamps``, ``cells`` (coercion with rejection), ``canonical`` (canonical columns and
privacy), ``assemble`` (a set of files to tables and accounting), ``incident`` (a directory,
its manifest and cache), ``checksums`` (``SHA256SUMS`` and how to update it), ``cli``. The
error vocabulary lives in :mod:`analysis.vocabulary`.
"""

from analysis.ingest.incident import (
    Description,
    Incident,
    describe_directory,
    describe_load,
    load_incident,
    manifest_window,
    read_annotations,
    read_manifest,
)
from analysis.ingest.kinds import (
    FLAVOURS,
    KINDS,
    LOG_KINDS,
    TABLE_KINDS,
    TABLE_NAMES,
    FilePart,
    Override,
)

# The readers are re-exported on first use (PEP 562): a report whose tables come from the
# cache never imports them (0.2 s of imports, tqdm's among them).
_LAZY = {
    "Ingested": "assemble",
    "ingest_files": "assemble",
    "format_accounting": "cli",
    "main": "cli",
    "NotFast": "fast",
    "parse_file_fast": "fast",
    "parse_file": "reader",
    "SHAPES": "shapes",
    "Shape": "shapes",
}
#: Modules of the package, imported on first use as attributes too (``ingest.assemble``).
_MODULES = (
    *("aggregates", "assemble", "cache", "canonical", "cells", "cli", "fast", "files"),
    *("incident", "kinds", "reactcsv", "reader", "shapes", "timestamps", "traffic_pages"),
    "workers",
)


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f"analysis.ingest.{_LAZY[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"analysis.ingest.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_MODULES})


__all__ = [
    "FLAVOURS",
    "KINDS",
    "LOG_KINDS",
    "SHAPES",
    "TABLE_KINDS",
    "TABLE_NAMES",
    "FilePart",
    "Description",
    "Incident",
    "Ingested",
    "NotFast",
    "Override",
    "Shape",
    "describe_directory",
    "describe_load",
    "format_accounting",
    "ingest_files",
    "load_incident",
    "main",
    "manifest_window",
    "parse_file",
    "parse_file_fast",
    "read_annotations",
    "read_manifest",
]
