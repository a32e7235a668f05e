"""Command line: ``python -m analysis <command> [options]``; what the Makefile calls.

Each command lives in its stage's module as ``main(argv) -> int``. A user's mistake (an
``AnalysisError``) prints one line on stderr and exits 2, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

from analysis._jsonschema import skip_iri_grammars
from analysis.exceptions import AnalysisError

COMMANDS = {
    "data": (
        "analysis.simulate",
        "main",
        "regenerate the shipped incident's raw data and verify it",
    ),
    "check": ("analysis.ingest", "main", "ingest and validate an incident directory"),
    "report": ("analysis.report_cli", "main", "execute and export the postmortem of one webinar"),
    "reports": ("analysis.report_cli", "main_all", "postmortems of every webinar of an incident"),
    "fetch": ("analysis.fetch", "main", "download logs through the Management API"),
    "print-fonts": (
        "analysis.print_fonts",
        "main",
        "TrueType copies of the report's fonts for the PDF printer (make setup)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command's ``main``; return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m analysis {" + ",".join(COMMANDS) + "} [options]", file=sys.stderr)
        for name, (_, _, text) in COMMANDS.items():
            print(f"  {name:8} {text}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[argv[0]]
    # Before nbformat/jsonschema are imported by any command (seconds per process).
    skip_iri_grammars()
    try:
        return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
    except AnalysisError as exc:
        from analysis._util import terminal_text

        print(f"error: {terminal_text(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (``make check | head``): what is left to print has nowhere to go.
        # Point stdout at /dev/null so the interpreter's own flush at exit is silent too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
