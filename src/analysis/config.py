"""Project-wide constants: paths, time zones, the Jupyter kernel name. Pure constants, no I/O."""

from __future__ import annotations

from pathlib import Path

#: Repository root when the package is installed in development mode (``pip install -e .``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
INTERIM_DIR = DATA_DIR / "interim"
REPORTS_DIR = PROJECT_ROOT / "reports"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: The shipped incident and its main webinar (``make report`` without WEBINAR=).
DEFAULT_INCIDENT_DIR = RAW_DIR / "2026-02-06-eventlive"
DEFAULT_WEBINAR_ID = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"

#: Report language when none is given (a locale file in src/analysis/locales/).
DEFAULT_LANGUAGE = "ko"

#: Everything inside the package is UTC; this zone is for display only.
CANONICAL_TZ = "UTC"
DEFAULT_DISPLAY_TZ = "Asia/Seoul"

#: Named kernel registered inside .venv by ``make setup``; papermill and nbconvert always use it,
#: so a stray ``python3`` kernelspec elsewhere on the machine cannot break a run.
KERNEL_NAME = "supabase-postmortem"
