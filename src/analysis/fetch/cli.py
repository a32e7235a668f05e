"""``python -m analysis fetch``: arguments, the plan, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analysis.config import DEFAULT_DISPLAY_TZ, RAW_DIR
from analysis.exceptions import FetchError
from analysis.fetch.client import BASE_URL_ENV, DEFAULT_BASE_URL, TOKEN_ENV, ApiClient, RetryPolicy
from analysis.fetch.fetcher import FetchPlan, fetch_incident
from analysis.fetch.pages import TRAFFIC_DIR
from analysis.fetch.queries import FLAVOURS, MODES, SOURCES
from analysis.fetch.window import parse_window_bound


def _default_out(project_ref: str, start: datetime) -> Path:
    return RAW_DIR / f"{project_ref}-{start:%Y-%m-%dT%H%MZ}"


class _ArgumentError(Exception):
    """A bad command-line option (turned into a FetchError by :func:`main`)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so errors stay one line and exit 2."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise _ArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m analysis fetch``."""
    parser = _Parser(
        prog="python -m analysis fetch",
        description=(
            f"Download edge, postgres and realtime logs through the Supabase Management API. "
            f"The token is read from {TOKEN_ENV}."
        ),
    )
    # An empty value means "not given": the Makefile passes every option, set or not.
    parser.add_argument("--project-ref", default="", help="project ref (<ref>.supabase.co)")
    parser.add_argument("--start", default="", help="window start, ISO with offset, e.g. Z")
    parser.add_argument("--end", default="", help="window end, ISO with offset")
    parser.add_argument(
        "--out", default="", help="incident directory (default data/raw/<ref>-<start>)"
    )
    parser.add_argument(
        "--flavour", choices=(*FLAVOURS, ""), default="", help="bigquery (default) or clickhouse"
    )
    parser.add_argument(
        "--mode", choices=(*MODES, ""), default="", help="raw (default) or hybrid (README.md)"
    )
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated sources")
    parser.add_argument("--name", default="", help="incident name (default: OUT's name)")
    parser.add_argument(
        "--display-tz", default="", help=f"zone for display (default {DEFAULT_DISPLAY_TZ})"
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
        help=f"API base URL (default ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--min-interval", type=float, default=1.0, help="seconds between calls")
    parser.add_argument("--max-attempts", type=int, default=RetryPolicy.max_attempts)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m analysis fetch``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _ArgumentError as exc:
        raise FetchError(f"fetch options: {exc}") from None
    missing = [
        name
        for name, value in (
            ("PROJECT_REF", args.project_ref),
            ("START", args.start),
            ("END", args.end),
        )
        if not value.strip()
    ]
    if missing:
        raise FetchError(
            f"{', '.join(missing)} not given; expected PROJECT_REF, START and END, e.g. make fetch "
            "PROJECT_REF=<ref> START=2026-02-06T05:00Z END=2026-02-06T06:00Z "
            f"(token in {TOKEN_ENV})"
        )
    args.flavour = args.flavour or "bigquery"
    args.display_tz = args.display_tz or DEFAULT_DISPLAY_TZ
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise FetchError(
            f"{TOKEN_ENV} is not set; expected a personal access token from "
            "https://supabase.com/dashboard/account/tokens in the environment"
        )
    try:
        ZoneInfo(args.display_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise FetchError(
            f"--display-tz {args.display_tz!r}: expected an IANA zone such as Asia/Seoul"
        ) from None
    if args.max_attempts < 1 or args.min_interval < 0 or args.timeout <= 0:
        raise FetchError("--max-attempts must be >= 1, --min-interval >= 0, --timeout > 0")
    start = parse_window_bound(args.start, "START")
    end = parse_window_bound(args.end, "END")
    plan = FetchPlan(
        project_ref=args.project_ref.strip(),
        start=start,
        end=end,
        out_dir=Path(args.out) if args.out else _default_out(args.project_ref.strip(), start),
        flavour=args.flavour,
        sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()),
        name=args.name,
        display_tz=args.display_tz,
        mode=args.mode or "raw",
    )
    client = ApiClient(
        project_ref=plan.project_ref,
        token=token,
        flavour=plan.flavour,
        base_url=args.base_url,
        timeout=args.timeout,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        min_interval=args.min_interval,
    )
    try:
        result = fetch_incident(plan, client, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; run the same command again to resume into {plan.out_dir}",
            file=sys.stderr,
        )
        return 130
    if result.already_complete:
        print(f"{result.out_dir}: already complete; pages verified, nothing downloaded")
    for source in plan.sources:
        print(
            f"{source}: {result.rows[source]} rows in {result.pages[source]} pages "
            f"({result.duplicates_dropped[source]} duplicates dropped)"
        )
    for name in (n for n in result.rows if n.startswith(f"{TRAFFIC_DIR}/")):
        print(f"{name}: {result.rows[name]} rows in {result.pages[name]} pages")
    resumed = ", resumed" if result.resumed else ""
    print(f"wrote {result.out_dir} ({result.requests} API calls{resumed})")
    if not any(result.rows.values()):
        # Not an error (a quiet window is possible), but the usual causes are mistakes.
        print(
            "note: no source holds a row in this window: check that START and END are UTC (or "
            "carry their offset) and the project ref; logs older than the plan's retention "
            "are gone",
            file=sys.stderr,
        )
    return 0
