"""Run parameters of a postmortem: one validated, frozen object shared by CLI and notebook.

``make report``, ``python -m analysis report`` and the notebook's ``parameters`` cell all go
through :func:`build_params`, so a value is checked the same way wherever it comes from. Every
value stays a plain string, int or tuple until it is checked here; nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from analysis._util import ROW_KEY_PATTERN, canonical_row_key, parse_utc
from analysis.config import (
    DEFAULT_DISPLAY_TZ,
    DEFAULT_INCIDENT_DIR,
    DEFAULT_LANGUAGE,
    PROJECT_ROOT,
    REPORTS_DIR,
)
from analysis.exceptions import ParameterError
from analysis.languages import available_languages

#: A webinar id is a lower-case UUID or an integer id (a ``bigint`` identity key), written
#: as ``analysis._util.canonical_row_key`` writes it (the form ingest gives the tables).
WEBINAR_ID_PATTERN = re.compile(ROW_KEY_PATTERN)
FORMATS = ("html", "pdf")
DEFAULT_BUCKET = "5min"
#: Seed of a run given none whose incident directory has no readable window start (a directory
#: ingest will refuse anyway). Otherwise the seed is the incident's own (:func:`incident_seed`).
DEFAULT_SEED = 1


@dataclass(frozen=True)
class ReportParams:
    """Validated parameters of one postmortem run.

    Attributes
    ----------
    webinar_id : str
        Lower-case UUID or integer id of the webinar reported on.
    data_dir : pathlib.Path
        Incident directory (raw exports, see docs/contract.md).
    display_tz : str
        IANA zone for display only; everything inside stays UTC.
    window_start, window_end : pandas.Timestamp or None
        Analysis window in UTC; ``None`` means the incident manifest's window.
    bucket : str
        Bucket size as a pandas offset alias (``"5min"``), a whole number of minutes.
    lang : str
        Report language, one of ``languages.available_languages()``.
    seed : int
        Seed of every random draw (bootstraps, surrogate nulls).
    formats : tuple of str
        Exports to write, a subset of ``('html', 'pdf')``.
    output_dir : pathlib.Path
        Where findings.json, figures and the exports go.
    plan_registrations : int
        Registrations of the next event for the capacity plan; 0 means this webinar's.
    """

    webinar_id: str
    data_dir: Path
    display_tz: str = DEFAULT_DISPLAY_TZ
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    bucket: str = DEFAULT_BUCKET
    lang: str = DEFAULT_LANGUAGE
    seed: int = DEFAULT_SEED
    formats: tuple[str, ...] = FORMATS
    output_dir: Path = field(default=REPORTS_DIR)
    plan_registrations: int = 0

    @property
    def bucket_minutes(self) -> int:
        """Bucket size in whole minutes."""
        return int(pd.Timedelta(self.bucket) / pd.Timedelta("1min"))

    def to_notebook(self) -> dict[str, object]:
        """Return the notebook's parameters: strings and ints only, ready for papermill."""
        return {
            "webinar_id": self.webinar_id,
            "data_dir": str(self.data_dir),
            "display_tz": self.display_tz,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "bucket": self.bucket,
            "lang": self.lang,
            "seed": self.seed,
            "output_dir": str(self.output_dir),
            "plan_registrations": self.plan_registrations,
        }

    def describe(self) -> dict[str, object]:
        """Return the parameters as shown in the report: paths relative to the project."""
        shown = asdict(self)
        shown["data_dir"] = display_path(self.data_dir)
        # Where the files land and which exports follow are not part of the analysis (the
        # notebook never sees them): leaving them out keeps such runs byte-identical.
        shown.pop("output_dir")
        shown.pop("formats")
        shown["window_start"] = _iso(self.window_start) or None
        shown["window_end"] = _iso(self.window_end) or None
        return shown


def build_params(
    webinar_id: str,
    data_dir: str | Path = "",
    display_tz: str = DEFAULT_DISPLAY_TZ,
    window_start: str = "",
    window_end: str = "",
    bucket: str = DEFAULT_BUCKET,
    lang: str = DEFAULT_LANGUAGE,
    seed: int | str = "",
    formats: str | Iterable[str] = FORMATS,
    output_dir: str | Path = "",
    known_webinars: Mapping[str, str] | None = None,
    reports_dir: str | Path = REPORTS_DIR,
    plan_registrations: int | str = 0,
) -> ReportParams:
    """Check every run parameter and return them frozen.

    Parameters
    ----------
    webinar_id : str
        Webinar to report on (a UUID, upper case accepted and lowered, or an integer id).
    data_dir : str or pathlib.Path, optional
        Incident directory; empty means the shipped incident.
    display_tz : str, optional
        IANA time zone for display.
    window_start, window_end : str, optional
        ISO timestamps with an offset (or ``Z``); empty means the manifest's window.
    bucket : str, optional
        Bucket size, a whole number of minutes between 1 and 60 (``"5min"``).
    lang : str, optional
        Report language: the code of a locale file in ``src/analysis/locales/``.
    seed : int or str, optional
        Non-negative integer seed; empty means the incident's own (:func:`incident_seed`).
    formats : str or iterable of str, optional
        ``"html,pdf"`` or a subset.
    output_dir : str or pathlib.Path, optional
        Output directory; empty means ``<reports_dir>/<webinar_id>``.
    known_webinars : mapping of str to str, optional
        Webinars in the data (id -> title); when given, the id must be one of them.
    reports_dir : str or pathlib.Path, optional
        Parent of the default output directory (``reports/``; ``pipeline.read_settings``
        gives the one the environment names).
    plan_registrations : int or str, optional
        Registrations of the next event for the capacity plan (0 or empty: this webinar's).

    Returns
    -------
    ReportParams

    Raises
    ------
    ParameterError
        One line naming the parameter, what was expected and what was found.
    """
    wid = _check_webinar_id(webinar_id, known_webinars)
    directory = Path(data_dir) if str(data_dir).strip() else DEFAULT_INCIDENT_DIR
    if not directory.is_dir():
        raise ParameterError(
            f"parameter 'data_dir': expected an incident directory, found {_show(directory)}"
            " (no such directory)"
        )
    tz = _check_tz(display_tz)
    start = _check_time("window_start", window_start)
    end = _check_time("window_end", window_end)
    if (start is None) != (end is None):
        raise ParameterError(
            "parameters 'window_start'/'window_end': expected both or neither,"
            f" found {_show(window_start)} and {_show(window_end)}"
        )
    if start is not None and end is not None and not start < end:
        raise ParameterError(
            f"parameters 'window_start'/'window_end': expected start before end,"
            f" found {_iso(start)} >= {_iso(end)}"
        )
    out = Path(output_dir) if str(output_dir).strip() else Path(reports_dir) / wid
    return ReportParams(
        webinar_id=wid,
        data_dir=directory.resolve(),
        display_tz=tz,
        window_start=start,
        window_end=end,
        bucket=_check_bucket(bucket),
        lang=_check_lang(lang),
        seed=incident_seed(directory) if _is_empty(seed) else _check_seed(seed),
        formats=_check_formats(formats),
        output_dir=out.resolve(),
        plan_registrations=_check_registrations(plan_registrations),
    )


#: Largest event the capacity plan accepts (beyond it the projection is pure extrapolation).
MAX_PLAN_REGISTRATIONS = 10_000_000


def _check_registrations(value: int | str) -> int:
    text = str(value).strip()
    if text in ("", "0"):
        return 0
    if not text.isdigit() or not 0 < int(text) <= MAX_PLAN_REGISTRATIONS:
        raise ParameterError(
            "parameter 'plan_registrations': expected a whole number of registrations from 1"
            f" to {MAX_PLAN_REGISTRATIONS:,} (0 or empty: this webinar's), found {_show(value)}"
        )
    return int(text)


def display_path(path: Path) -> str:
    """Return ``path`` relative to the project root (reports must carry no host path)."""
    path = Path(path)
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.name


def _show(value: object) -> str:
    text = repr(str(value))
    return text if len(text) <= 80 else text[:77] + "...'"


def _iso(ts: pd.Timestamp | None) -> str:
    return "" if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_webinar_id(value: str, known: Mapping[str, str] | None) -> str:
    listing = ""
    if known is not None:
        listing = "; webinars in the data: " + ", ".join(
            f"{k} ({v})" if v else k for k, v in sorted(known.items())
        )
        if not known:
            listing = "; no webinar in the data: tables/webinars.csv is missing or empty"
            listing += " (its columns: docs/contract.md section 1)"
    wid = canonical_row_key(value)
    if wid is None:
        raise ParameterError(
            "parameter 'webinar_id': expected a UUID like"
            f" 01234567-89ab-cdef-0123-456789abcdef or an integer id like 90210,"
            f" found {_show(value)}{listing}"
        )
    if known is not None and wid not in known:
        raise ParameterError(f"parameter 'webinar_id': {wid} is not in the data{listing}")
    return wid


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterError(
            f"parameter 'display_tz': expected an IANA time zone such as Asia/Seoul,"
            f" found {_show(value)}"
        ) from None
    return str(value)


def _check_time(name: str, value: str | None) -> pd.Timestamp | None:
    if value is None or not str(value).strip():
        return None
    ts = parse_utc(str(value))
    if ts is None:
        raise ParameterError(
            f"parameter '{name}': expected an ISO timestamp with an offset such as"
            f" 2026-02-06T05:00:00Z, found {_show(value)}"
        )
    return ts


def _check_bucket(value: str) -> str:
    try:
        size = pd.Timedelta(str(value))
    except (ValueError, TypeError):
        size = None
    minutes = None if size is None else size / pd.Timedelta("1min")
    if minutes is None or minutes != int(minutes) or not 1 <= minutes <= 60:
        raise ParameterError(
            f"parameter 'bucket': expected a whole number of minutes from 1min to 60min,"
            f" found {_show(value)}"
        )
    return f"{int(minutes)}min"


def _check_lang(value: str) -> str:
    lang = str(value).strip()
    known = available_languages()
    # Codes are matched as written in the file names, ignoring case ("KO", "pt-br").
    match = [code for code in known if code.lower() == lang.lower()]
    if not match:
        raise ParameterError(
            f"parameter 'lang': expected one of {', '.join(known)}, found {_show(value)}"
        )
    lang = match[0]
    return lang


def _is_empty(value: object) -> bool:
    return isinstance(value, str) and not value.strip()


def incident_seed(directory: Path) -> int:
    """Return the seed of a run given none: the incident's window start date, as YYYYMMDD.

    Every incident gets a seed of its own, written in its own terms (the day its window opens,
    UTC, from ``incident.json``), so no incident's report carries another incident's number
    and the same directory always gives the same draws. A manifest without a readable window
    start (which ingest refuses, naming it) gives :data:`DEFAULT_SEED`.
    """
    import json

    try:
        manifest = json.loads((Path(directory) / "incident.json").read_text(encoding="utf-8"))
        start = parse_utc(str(manifest["window_start"]))
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_SEED
    return DEFAULT_SEED if start is None else int(start.strftime("%Y%m%d"))


def _check_seed(value: int | str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d{1,10}", text):
        raise ParameterError(
            f"parameter 'seed': expected a non-negative integer, found {_show(value)}"
        )
    return int(text)


def _check_formats(value: str | Iterable[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    chosen = [str(i).strip().lower() for i in items if str(i).strip()]
    bad = [i for i in chosen if i not in FORMATS]
    if bad or not chosen:
        raise ParameterError(
            f"parameter 'formats': expected a comma-separated subset of {','.join(FORMATS)},"
            f" found {_show(value if isinstance(value, str) else ','.join(items))}"
        )
    return tuple(f for f in FORMATS if f in chosen)
