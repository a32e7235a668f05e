"""The command line of the postmortem: ``python -m analysis report`` and ``... reports``.

Parses the options, picks the webinar when none is given (the data's busiest, as the notebook
does), checks the parameters against the data and runs :func:`analysis.report.run_report`.
Every step of a run lives in :mod:`analysis.report`; its functions are called through that
module so that one replaced there (a test's stand-in) is the one the command line runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from analysis import report
from analysis._util import release_freed_memory, terminal_text
from analysis.config import DEFAULT_LANGUAGE, DEFAULT_WEBINAR_ID
from analysis.exceptions import AnalysisError
from analysis.languages import available_languages
from analysis.listing import write_listing
from analysis.params import FORMATS, build_params, display_path
from analysis.settings import Settings

if TYPE_CHECKING:  # ingest's import waits for a run that needs it
    from analysis.ingest import Description


def _parser(prog: str, *, one: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=report.__doc__.splitlines()[0])
    if one:
        p.add_argument(
            "--webinar",
            default="",
            help="webinar id (UUID or integer; default: the data's busiest webinar)",
        )
    p.add_argument("--data", default="", help="incident directory (default: the shipped one)")
    p.add_argument(
        "--lang",
        default=DEFAULT_LANGUAGE,
        help=f"report language: {' or '.join(available_languages())}",
    )
    p.add_argument("--formats", default=",".join(FORMATS), help="html,pdf or a subset")
    p.add_argument("--out", default="", help="output directory (default: reports/<webinar>)")
    p.add_argument(
        "--registrations",
        default="",
        help="registrations of the next event for the capacity plan (default: this webinar's)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so a run's staging directory is removed on the way out."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: Iterable[str] | None = None) -> int:
    """Run ``python -m analysis report``; return the exit code."""
    args = _parser("python -m analysis report", one=True).parse_args(
        None if argv is None else list(argv)
    )
    _stop_on_sigterm()
    from analysis.settings import read_settings

    settings = read_settings()
    # Without a webinar, the busiest is chosen from ingest's cache when it holds this directory
    # (its webinars and load tables only, not the logs): the prefetch is then forked for that
    # webinar, or not at all when the caches hold its statistics, as with WEBINAR given.
    described = None if args.webinar else _describe_from_cache(args, settings)
    early = args.webinar or (_busiest(described) if described is not None else "")
    prefetch = _fork_early(args, settings, early)
    try:
        # Everything that needs no data first; then the id, against the webinars in the data,
        # so a malformed or unknown id both get the list of the ones that exist.
        data_dir = build_params(
            DEFAULT_WEBINAR_ID, args.data, lang=args.lang, formats=args.formats
        ).data_dir
        # Times are shown in the zone the incident's own incident.json names.
        if described is not None:
            webinars, display_tz = report.webinar_titles(described.webinars), described.display_tz
        else:
            webinars, display_tz = report.describe_incident(data_dir, settings.cache_dir)
        # Without ingest's cache the directory was ingested here; this process then only waits
        # for the kernel, for as long as the report takes (minutes on a long window).
        release_freed_memory()
        webinar = args.webinar or choose_webinar(data_dir, webinars, settings, described)
        params = build_params(
            webinar,
            data_dir,
            display_tz=display_tz,
            lang=args.lang,
            formats=args.formats,
            output_dir=args.out,
            known_webinars=webinars,
            reports_dir=settings.reports_dir,
            plan_registrations=args.registrations,
        )
        outcome = report.run_report(params, progress=not args.no_progress, prefetch=prefetch)
        report._print_outcome(outcome)
    finally:
        if prefetch is not None:
            prefetch.stop()
    return 0


def choose_webinar(
    data_dir: Path,
    webinars: dict[str, str],
    settings: Settings,
    described: Description | None = None,
) -> str:
    """Return the webinar to report on when none was given: the data's busiest.

    The one with the highest peak of concurrent viewers in the window (as the notebook picks
    with an empty ``webinar_id``), never a fixed id: another team's data holds none of the
    shipped incident's webinars. Read from the webinars and load tables alone (``described``,
    else ingest's cache of the directory, which the parameter check has just written), never
    the whole incident. One line on stderr names it and how to pick another.
    """
    if len(webinars) == 1:
        (chosen,) = webinars
    else:
        if described is None:
            from analysis.ingest import describe_load

            described = describe_load(data_dir, cache_dir=settings.cache_dir)
        chosen = _busiest(described)
    print(
        f"note: webinar {chosen} ({terminal_text(webinars.get(chosen, ''))}), the busiest of"
        f" {len(webinars)} in the data; WEBINAR=<id> reports on another",
        file=sys.stderr,
    )
    return chosen


def _busiest(described: Description) -> str:
    from analysis.concurrency import busiest_webinar

    return busiest_webinar(described)


def _describe_from_cache(args: argparse.Namespace, settings: Settings) -> Description | None:
    """Return the incident's :class:`~analysis.ingest.Description` when the cache holds it.

    None when it does not (the parameter check below ingests the directory) or when the
    command line or the directory is wrong (the checks below say why, in one line).
    """
    try:
        from analysis.ingest import describe_load

        data_dir = build_params(
            DEFAULT_WEBINAR_ID, args.data, lang=args.lang, formats=args.formats
        ).data_dir
        described = describe_load(data_dir, cache_dir=settings.cache_dir, cached_only=True)
        if described is not None:
            _busiest(described)  # a directory without any webinar: the checks below say so
        return described
    except AnalysisError:
        return None


def _fork_early(
    args: argparse.Namespace, settings: Settings, webinar: str
) -> report.Prefetch | None:
    """Fork the run's prefetch before the data is read, when the command line is well formed.

    Its imports then run while this process checks the parameters against the data; a
    command line that fails here is left to the checks below, which say why. Without a
    webinar (the data's busiest, known only once the directory is ingested) the fork is made
    all the same: the run hands it its parameters later, or stops it when the caches hold them.
    """
    try:
        params = build_params(
            webinar or DEFAULT_WEBINAR_ID,
            args.data,
            lang=args.lang,
            formats=args.formats,
            output_dir=args.out,
            reports_dir=settings.reports_dir,
            plan_registrations=args.registrations,
        )
    except AnalysisError:
        return None
    if not webinar:
        return report.Prefetch(settings)
    return report.fork_prefetch(params, settings)


def main_all(argv: Iterable[str] | None = None) -> int:
    """Run ``python -m analysis reports`` (every webinar of an incident); return the exit code.

    One webinar's failure does not stop the others; the summary names each failure and why.
    Exit code 0 when all succeeded, 1 otherwise.
    """
    args = _parser("python -m analysis reports", one=False).parse_args(
        None if argv is None else list(argv)
    )
    _stop_on_sigterm()
    from analysis.settings import read_settings

    settings = read_settings()
    first = build_params(DEFAULT_WEBINAR_ID, args.data, lang=args.lang, formats=args.formats)
    webinars, display_tz = report.describe_incident(first.data_dir, settings.cache_dir)
    if not webinars:
        print(
            "error: no webinar in the data: tables/webinars.csv is missing or empty"
            " (its columns: docs/contract.md section 1)",
            file=sys.stderr,
        )
        return 2
    failures: dict[str, str] = {}
    done: list[str] = []
    outputs: dict[str, Path] = {}
    for wid in sorted(webinars):
        out = Path(args.out) / wid if args.out else ""
        print(f"== {wid} ({terminal_text(webinars[wid])})")
        try:
            params = build_params(
                wid,
                first.data_dir,
                display_tz=display_tz,
                lang=args.lang,
                formats=args.formats,
                output_dir=out,
                known_webinars=webinars,
                reports_dir=settings.reports_dir,
                plan_registrations=args.registrations,
            )
            report._print_outcome(report.run_report(params, progress=not args.no_progress))
            done.append(wid)
            outputs[wid] = params.output_dir
        except AnalysisError as exc:
            failures[wid] = str(exc)
        except Exception as exc:  # noqa: BLE001 - one webinar's crash must not stop the others
            failures[wid] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    # Only here: the narrative package imports the plotting libraries (seconds).
    from analysis.narrative import load_locale

    print(f"reports: {len(done)} of {len(webinars)} written")
    root = Path(args.out) if args.out else Path(settings.reports_dir)
    index = write_listing(root, outputs, failures, webinars, load_locale(first.lang))
    print(f"reports: index of the webinars in {display_path(index)}")
    for wid, why in failures.items():
        print(f"failed {wid}: {terminal_text(why)}")
    return 1 if failures else 0
