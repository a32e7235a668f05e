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
from types import ModuleType

#: The module whose import compiles the grammars.
IRI_SYNTAX_MODULE = "rfc3987_syntax"
#: Optional modules jsonschema imports to register format checkers (dates, URIs, colours,
#: JSON pointers, host names, durations): 0.1-0.25 s of imports (arrow among them) that a
#: validation without a format checker never uses.
FORMAT_MODULES = (
    "fqdn",
    "isoduration",
    "jsonpointer",
    "rfc3339_validator",
    "rfc3986_validator",
    "rfc3987",
    "uri_template",
    "webcolors",
)


def skip_iri_grammars() -> None:
    """Keep this process from importing rfc3987-syntax when jsonschema is imported later.

    A ``None`` entry in ``sys.modules`` makes the import raise ImportError, which jsonschema
    expects for an optional checker. No effect once jsonschema is imported (its checkers are
    then already registered) or when the module was imported on purpose.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault(IRI_SYNTAX_MODULE, None)


def import_without_formats() -> ModuleType:
    """Import jsonschema without the modules of its optional format checkers; return it.

    For a process whose only use of jsonschema validates without a format checker (the
    findings in the report's kernel: their schema names no ``format``). The modules are held
    back only while jsonschema is imported, so later code may still import them; jsonschema's
    ``FormatChecker`` then lacks those formats in this process. When jsonschema is already
    imported, it is returned as it is.
    """
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    skip_iri_grammars()
    held = [name for name in FORMAT_MODULES if name not in sys.modules]
    for name in held:
        sys.modules[name] = None  # ImportError, which jsonschema expects for these
    try:
        import jsonschema
    finally:
        for name in held:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return jsonschema
