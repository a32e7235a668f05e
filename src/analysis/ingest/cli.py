"""``python -m analysis check``: ingest an incident directory and print its accounting."""

from __future__ import annotations

import argparse

import pandas as pd

from analysis import config
from analysis._util import terminal_text
from analysis.ingest.incident import load_incident
from analysis.ingest.kinds import TABLE_NAMES
from analysis.ingest.sources import describe_unread


def format_accounting(accounting: pd.DataFrame) -> str:
    """Return the accounting as a plain-text table with a total line, then its notes.

    Files skipped as clearly not exports follow the table, one line each with the reason
    (``skipped: README.md: a Markdown document, not an export``), and so does every reading
    the files did not state themselves (``note: ...: timestamp read as seconds since the
    epoch (UTC)``), then one line per log source counted as not read, saying what its rows
    are and why (``not read: auth_logs, ...``).
    """
    notes = accounting["note"] if "note" in accounting.columns else None
    skipped = accounting["kind"] == "skipped"
    after = [
        f"{'skipped' if is_skipped else 'note'}: {file}: {note}"
        for file, is_skipped, note in zip(
            accounting["file"],
            skipped,
            [None] * len(accounting) if notes is None else notes,
            strict=True,
        )
        if isinstance(note, str) and note
    ]
    accounting = accounting[~skipped]
    after += describe_unread_sources(accounting)
    rows = [["file", "kind", "read", "accepted", "rejected", "reasons"]]
    for rec in accounting.itertuples(index=False):
        rows.append([rec.file, rec.kind, rec.read, rec.accepted, rec.rejected, rec.reason or ""])
    totals = [int(accounting[c].sum()) for c in ("read", "accepted", "rejected")]
    rows.append(["TOTAL", "", *totals, ""])
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        cells = [str(r[0]).ljust(widths[0]), str(r[1]).ljust(widths[1])]
        cells += [str(v).rjust(w) for v, w in zip(r[2:5], widths[2:5], strict=True)]
        lines.append("  ".join([*cells, str(r[5])]).rstrip())
    return "\n".join(lines + after)


def describe_unread_sources(accounting: pd.DataFrame) -> list[str]:
    """Return one line per log source whose rows were counted as not read, what it is and why.

    Read from the accounting's reasons (``unsupported log source <kind>: <rows>``), in the
    order the sources first appear.
    """
    found: dict[str, tuple[int, list[str]]] = {}
    for file, kind, reason in zip(
        accounting["file"], accounting["kind"], accounting["reason"], strict=True
    ):
        label = f"unsupported log source {kind}: "
        for pair in str(reason or "").split("; "):
            if pair.startswith(label) and pair[len(label) :].isdigit():
                rows, files = found.get(kind, (0, []))
                found[kind] = (rows + int(pair[len(label) :]), [*files, file])
    gateway = bool(accounting.loc[accounting["kind"] == "edge_logs", "read"].sum())
    return [
        describe_unread(kind, rows, files, gateway=gateway) for kind, (rows, files) in found.items()
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis check --data DIR``: ingest, validate, print the accounting."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis check", description="Ingest and validate an incident directory."
    )
    parser.add_argument(
        "--data", default=str(config.DEFAULT_INCIDENT_DIR), help="incident directory"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="parse even if a cache exists; write none"
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="parent of the Parquet cache (default: $POSTMORTEM_CACHE_DIR, else data/interim)",
    )
    args = parser.parse_args(argv)
    # The same cache as make report's (pipeline.read_settings is the one reader of the
    # environment), so a check never writes into the repository when the caller said not to.
    from analysis.pipeline import read_settings

    settings = read_settings()
    cache_dir = settings.cache_dir if args.cache_dir is None else args.cache_dir
    incident = load_incident(args.data, cache_dir=cache_dir, use_cache=not args.no_cache)
    # Names, file names and reasons come from the data: never let them drive the terminal.
    print(
        terminal_text(
            f"incident {incident.manifest['name']}: window {incident.window[0].isoformat()}"
            f" .. {incident.window[1].isoformat()}"
            f"{' (from cache)' if incident.from_cache else ''}"
        )
    )
    if not incident.manifest.get("display_tz"):
        # The report shows local times in this zone; a team elsewhere should know it chose none.
        print(
            terminal_text(
                f"note: times are shown in {incident.display_tz}, the default display zone"
                ' (incident.json names no "display_tz"; set it to the team\'s zone)'
            )
        )
    for line in format_accounting(incident.accounting).splitlines():
        print(terminal_text(line))
    sizes = ", ".join(f"{name} {len(getattr(incident, name))}" for name in TABLE_NAMES)
    print(f"tables: {sizes}")
    from analysis import rejections

    for describe in (
        rejections.describe_missing_tables,
        rejections.describe_unknown_webinars,
        rejections.describe_other_projects,
        rejections.describe_outside_window,
    ):
        for line in describe(incident):
            print(terminal_text(line))
    return 0
