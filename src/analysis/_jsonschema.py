"""jsonschema without the grammar compilation of its IRI format checker.

On import, jsonschema registers an ``iri`` format checker when ``rfc3987-syntax`` is installed
(Jupyter's dependencies install it), and importing that package compiles 38 Lark grammars: one
to several seconds in every process that imports jsonschema, nbformat or nbconvert, which is
more than the rest of the validation machinery together. Neither the findings schema nor
nbformat's schemas check an ``iri`` format, so the report's processes do without that checker
(docs/performance.md, "The report around the statistics").
"""

from __future__ import annotations

import sys

#: The module whose import compiles the grammars.
IRI_SYNTAX_MODULE = "rfc3987_syntax"


def skip_iri_grammars() -> None:
    """Keep this process from importing rfc3987-syntax when jsonschema is imported later.

    A ``None`` entry in ``sys.modules`` makes the import raise ImportError, which jsonschema
    expects for an optional checker. No effect once jsonschema is imported (its checkers are
    then already registered) or when the module was imported on purpose.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault(IRI_SYNTAX_MODULE, None)
