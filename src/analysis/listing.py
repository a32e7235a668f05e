"""The batch view: ``reports/index.html``, one row per webinar of a ``make reports`` run.

Each row is read from that webinar's ``findings.json`` (title, window, peak, people, the verdict
of every error class by its human name) and links to its report; a webinar whose report failed
gets a row with the reason. The page is self-contained like the reports (inline style, no
script, a policy that forbids loading anything) and every value from the data is escaped.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis._util import page_text
from analysis.params import display_path
from analysis.record_paths import show_text

_STYLE = """
body { font-family: "Noto Sans CJK KR", "Noto Sans KR", system-ui, sans-serif; margin: 24px 32px; color: #111827; }
table { border-collapse: collapse; font-size: 13px; }
th { background: #f3f4f6; text-align: left; }
td, th { border: 1px solid #d1d5db; padding: 4px 10px; vertical-align: top; }
td ul { margin: 0; padding-left: 16px; }
.failed { color: #b91c1c; }
"""  # noqa: E501 - one CSS rule per line


def _e(value: object) -> str:
    return html.escape("" if value is None else page_text(value), quote=True)


def _number(value: object) -> str:
    """Return a count as the reports print it: '12,345'; '–' when missing."""
    # Here, not at import: the narrative package imports the plotting libraries.
    from analysis.narrative.formatting import fmt_number

    return fmt_number(value)


def _people_value(row: Mapping, t: Mapping) -> str:
    """``221 people, 40 registrations``; a table the export lacks is said to be missing.

    Without a registrations table the registrations are unknown, without a presence table the
    people (``people`` None): either would misread as 0.
    """
    key = "people_value" if row["registrations"] is not None else "people_value_not_exported"
    if row["people"] is None:
        key = (
            "people_value_no_presence"
            if row["registrations"] is not None
            else ("people_value_none_exported")
        )
    return t[key].format(people=_number(row["people"]), registrations=_number(row["registrations"]))


def summarize_row(findings: Mapping, lang: str) -> dict:
    """Return one webinar's row: title, window, peak, people, verdict per class (named)."""
    # Here, not at import: the narrative package imports the plotting libraries.
    from analysis.narrative import zone_name  # the report page's label, for the same window
    from analysis.narrative.formatting import local_span, verdict_label

    rep, aud = findings["report"], findings["audience"]
    tz = rep["display_tz"]
    day, first, last = local_span(rep["window"]["start"], rep["window"]["end"], tz)
    names = {c["key"]: (c.get("name") or {}).get(lang) for c in findings["error_classes"]}
    counts = {c["key"]: c["count"] for c in findings["error_classes"]}
    classes = {c["key"]: c for c in findings["error_classes"]}
    return {
        "webinar_id": rep["webinar_id"],
        "title": rep["title"],
        "window": f"{day} {first}–{last} "
        + zone_name(tz, rep["window"]["start"], rep["window"]["end"]),
        "peak": aud.get("peak"),
        "peak_at": None
        if aud.get("peak_ts") is None
        else f"{pd.Timestamp(aud['peak_ts']).tz_convert(tz):%H:%M}",
        "people": aud.get("unique_users"),
        "registrations": aud.get("registrations"),
        "display_tz": tz,
        "display_tz_default": bool(rep.get("display_tz_default")),
        "verdicts": [
            {
                "key": v["error_class"],
                "name": names.get(v["error_class"]),
                # as on page one: a verdict against load nobody measured is undecided, and
                # the app's own refusals are not called bugs
                "verdict": "undecided"
                if v.get("measurement_caveat")
                else verdict_label(v["verdict"], classes.get(v["error_class"])),
                "count": counts.get(v["error_class"], 0),
            }
            for v in findings["verdicts"]
        ],
    }


def _zone_lines(rows: Sequence[Mapping], t: Mapping) -> list[str]:
    """Say which zone the page's times are in and where it came from, once per zone.

    The zone is the incident's ``display_tz`` or, when incident.json names none, the default
    (each report's title block says the same).
    """
    zones = sorted({(r["display_tz"], r["display_tz_default"]) for r in rows})
    return [
        f"<p>{_e(t['zone_default' if default else 'zone_incident'].format(zone=tz))}</p>"
        for tz, default in zones
    ]


def render_listing(
    rows: Sequence[Mapping], failures: Mapping[str, str], titles: Mapping[str, str], text: Mapping
) -> str:
    """Return the index page: a table of the webinars' rows, then the failed webinars."""
    t = text["listing"]
    verdicts = {**text["overview"]["cause_names"], **text["causes"]["verdicts"]}
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(text["lang"])}">',
        '<head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
        f"<title>{_e(t['title'])}</title>",
        f"<style>{_STYLE}</style></head>",
        f"<body><h1>{_e(t['title'])}</h1>",
        *_zone_lines(rows, t),
        "<table><thead><tr>"
        + "".join(
            f"<th>{_e(t[k])}</th>"
            for k in ("webinar", "window", "peak", "people", "verdicts", "report")
        )
        + "</tr></thead><tbody>",
    ]
    for row in sorted(rows, key=lambda r: r["webinar_id"]):
        items = "".join(
            f"<li>{_e(v['name'] or v['key'])} (<code>{_e(v['key'])}</code>, "
            f"{_e(_number(v['count']))}): "
            f"{_e(verdicts.get(v['verdict'], v['verdict']))}</li>"
            for v in row["verdicts"]
        )
        wid = _e(row["webinar_id"])
        lines.append(
            "<tr>"
            f"<td>{_e(row['title'])}<br><small><code>{wid}</code></small></td>"
            f"<td>{_e(row['window'])}</td>"
            f"<td>{_e(_number(row['peak']))}"
            f"{'' if row['peak_at'] is None else ' (' + _e(row['peak_at']) + ')'}</td>"
            f"<td>{_e(_people_value(row, t))}</td>"
            f"<td><ul>{items}</ul></td>"
            f'<td><a href="{_e(row["href"])}">{_e(t["open"])}</a></td>'
            "</tr>"
        )
    for wid, why in sorted(failures.items()):
        lines.append(
            f'<tr class="failed"><td>{_e(titles.get(wid, wid))}<br><small><code>{_e(wid)}'
            f'</code></small></td><td colspan="5">{_e(t["failed"])}: {_e(show_text(why))}</td>'
            "</tr>"
        )
    lines.append("</tbody></table></body></html>")
    return "\n".join(lines) + "\n"


def _relative(path: Path, directory: Path) -> str:
    """Return ``path`` relative to the index's ``directory``, or as reports show paths.

    A path outside the directory would name the host's folders (``../../home/<user>/…``).
    """
    relative = Path(os.path.relpath(path, directory)).as_posix()
    return relative if not relative.startswith("../") else display_path(Path(path))


def write_listing(
    directory: Path,
    outputs: Mapping[str, Path],
    failures: Mapping[str, str],
    titles: Mapping[str, str],
    text: Mapping,
) -> Path:
    """Write ``index.html`` in ``directory`` from each webinar's output folder.

    Parameters
    ----------
    outputs : mapping of str to pathlib.Path
        Webinar id -> its output directory (holding findings.json and the exports).
    failures : mapping of str to str
        Webinar id -> why its report failed.
    """
    rows, failures = [], dict(failures)
    for wid, folder in sorted(outputs.items()):
        folder = Path(folder)
        try:
            findings = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
            row = summarize_row(findings, text["lang"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            shown = _relative(folder / "findings.json", directory)
            failures[wid] = f"{shown}: unreadable ({type(exc).__name__})"
            continue
        page = folder / "postmortem.html"
        target = page if page.exists() else folder / "findings.json"
        row["href"] = _relative(target, directory)
        rows.append(row)
    path = Path(directory) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a reader never sees half a page.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_listing(rows, failures, titles, text), encoding="utf-8")
    tmp.replace(path)
    return path
