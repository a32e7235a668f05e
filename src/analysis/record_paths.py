"""Paths in the executed notebook as the report shows them: no host path travels with it.

The executed notebook (``postmortem.ipynb``, the record of a run) is published beside the HTML
and the PDF. papermill writes into it the absolute paths it was given: the incident directory
and the output directory among the injected parameters (a cell's source and
``metadata.papermill.parameters``), the notebook's own path and the record's path
(``metadata.papermill.input_path``/``output_path``). An absolute path names the analyst's home
directory (``~<user>/…`` on Linux or macOS) and whatever folders lead to the download; an
incident directory may itself be named after a person. The record therefore shows every such
path the way ``findings.json`` and the page show the incident directory: relative to the
project, or by its last name alone when it lies outside, and redacted like log text
(docs/report-safety.md). Any other mention of the project's root or the home directory in the
record (a library warning naming its file in the project's virtual environment) is shortened
to a relative path or ``~``.

The record is run again with ``make report`` and the same parameters, which the appendix of the
report lists; the record itself no longer holds the analyst's paths.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from analysis._util import visible_json
from analysis.config import PROJECT_ROOT
from analysis.params import ReportParams, display_path
from analysis.privacy import redact_text

#: The injected parameters that hold paths.
PATH_PARAMETERS = ("data_dir", "output_dir")
#: Where papermill keeps the paths it was called with.
PAPERMILL_PATHS = ("input_path", "output_path")


def show_path(path: str | Path) -> str:
    """Return ``path`` as stakeholder artefacts show it: project-relative or its name, redacted."""
    return redact_text(display_path(Path(path)))


def show_text(text: str) -> str:
    """Return a message as stakeholder pages show it: no host path, redacted like log text.

    The project's root reads ``.`` and the home directory ``~`` (whole path components);
    what is left is redacted (a failure's reason may quote an input's value).
    """
    prefixes = {PROJECT_ROOT: ".", **{home: "~" for home in _homes()}}
    return redact_text(_replace_prefixes(text, prefixes))


def publish_record(record: Path, params: ReportParams, stage: Path) -> None:
    """Rewrite the executed notebook ``record`` in place to show no absolute path.

    Parameters
    ----------
    record : pathlib.Path
        The notebook papermill wrote (inside ``stage``).
    params : ReportParams
        The run's parameters: ``output_dir`` is where the record is published.
    stage : pathlib.Path
        The staging directory the run wrote into (the notebook's ``output_dir`` as executed);
        it is shown as the published directory, which it becomes.
    """
    import nbformat

    nb = nbformat.read(record, as_version=4)
    shown = {"data_dir": show_path(params.data_dir), "output_dir": show_path(params.output_dir)}
    papermill = nb.metadata.get("papermill")
    if papermill is not None:
        values = papermill.get("parameters") or {}
        for name in PATH_PARAMETERS:
            if name in values:
                values[name] = shown[name]
        for name in PAPERMILL_PATHS:
            if papermill.get(name):
                papermill[name] = _shown_file(papermill[name], stage, params.output_dir)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = _rewrite_assignments(cell.source, shown)
    text = nbformat.writes(nb)
    prefixes = {
        stage: shown["output_dir"],
        params.data_dir: shown["data_dir"],
        params.output_dir: shown["output_dir"],
        PROJECT_ROOT: ".",
        **{home: "~" for home in _homes()},
    }
    text = visible_json(_replace_prefixes(text, prefixes))
    record.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def _shown_file(value: str, stage: Path, output_dir: Path) -> str:
    path = Path(value)
    if path.parent == stage:
        path = output_dir / path.name
    if path.is_relative_to(PROJECT_ROOT):
        return display_path(path)
    return f"{show_path(path.parent)}/{redact_text(path.name)}"


def _rewrite_assignments(source: str, shown: dict[str, str]) -> str:
    """Replace the values of the path assignments papermill injected (one per line)."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        name = line.partition(" = ")[0]
        if name in shown and line.startswith(f"{name} = "):
            lines[i] = f"{name} = {json.dumps(shown[name], ensure_ascii=False)}"
    return "\n".join(lines)


def _homes() -> list[Path]:
    """Return the analyst's home directory, as written and resolved; none when it is ``/``."""
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry
        return []
    return [h for h in dict.fromkeys((home, home.resolve())) if len(h.parts) > 1]


def _replace_prefixes(text: str, prefixes: dict[Path, str]) -> str:
    """Replace each absolute path where it stands whole or as a parent (JSON-escaped text).

    The longest paths go first, so a directory inside the project is shown by its own rule.
    """
    for path in sorted(prefixes, key=lambda p: len(str(p)), reverse=True):
        written = json.dumps(str(path), ensure_ascii=False)[1:-1]
        new = json.dumps(prefixes[path], ensure_ascii=False)[1:-1]
        # Whole path components only: a home "kim" is no prefix of "kimberly".
        pattern = re.compile(re.escape(written) + r"(?=/|\\|\"|'|\s|:|$)")
        text = pattern.sub(lambda _m, new=new: new, text)
    return text
