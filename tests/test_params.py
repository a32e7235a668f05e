"""Report parameters: every malformed value is refused with one line naming it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.exceptions import ParameterError
from analysis.params import ReportParams, build_params

WID = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
KNOWN = {WID: "AI 특허리서치 실무 활용 웨비나", "c9c7d93a-d775-4f8e-9243-8fdbb3618e2a": "[테스트]"}


def test_defaults_are_filled_and_frozen(tmp_path: Path):
    p = build_params(WID.upper(), tmp_path, known_webinars=KNOWN)
    assert p.webinar_id == WID
    assert p.lang == "ko" and p.display_tz == "Asia/Seoul" and p.bucket == "5min"
    assert p.bucket_minutes == 5
    assert p.formats == ("html", "pdf")
    assert p.output_dir.name == WID
    assert p.plan_registrations == 0  # the capacity plan's N: this webinar's registrations
    assert build_params(WID, tmp_path, plan_registrations="500").plan_registrations == 500
    with pytest.raises(AttributeError):
        p.lang = "en"  # type: ignore[misc]


def test_notebook_parameters_are_plain_strings_and_ints(tmp_path: Path):
    p = build_params(
        WID, tmp_path, window_start="2026-02-06T14:00:00+09:00", window_end="2026-02-06T06:00Z"
    )
    values = p.to_notebook()
    assert values["window_start"] == "2026-02-06T05:00:00Z"
    assert values["window_end"] == "2026-02-06T06:00:00Z"
    assert all(isinstance(v, str | int) for v in values.values())
    assert isinstance(values["seed"], int)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"webinar_id": "f257ce42"}, "'webinar_id'"),
        ({"webinar_id": "$(rm -rf /)"}, "'webinar_id'"),
        ({"webinar_id": WID + "0"}, "'webinar_id'"),
        ({"display_tz": "Mars/Olympus"}, "'display_tz'"),
        ({"window_start": "2026-02-06 05:00"}, "'window_start'"),  # naive: refused
        ({"window_start": "2026-02-06T05:00Z"}, "both or neither"),
        ({"window_start": "2026-02-06T06:00Z", "window_end": "2026-02-06T05:00Z"}, "before"),
        ({"bucket": "90s"}, "'bucket'"),
        ({"bucket": "2h"}, "'bucket'"),
        ({"bucket": "five"}, "'bucket'"),
        ({"lang": "fr"}, "'lang'"),
        ({"seed": "-1"}, "'seed'"),
        ({"seed": "1e3"}, "'seed'"),
        ({"formats": "html,docx"}, "'formats'"),
        ({"formats": ""}, "'formats'"),
        ({"plan_registrations": "-5"}, "'plan_registrations'"),
        ({"plan_registrations": "2k"}, "'plan_registrations'"),
        ({"plan_registrations": 10**8}, "'plan_registrations'"),
    ],
)
def test_bad_values_give_one_line_naming_the_parameter(tmp_path: Path, kwargs, fragment):
    args = {"webinar_id": WID, "data_dir": tmp_path, **kwargs}
    with pytest.raises(ParameterError) as err:
        build_params(**args)
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message


def test_unknown_webinar_lists_the_ones_that_exist(tmp_path: Path):
    other = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ParameterError) as err:
        build_params(other, tmp_path, known_webinars=KNOWN)
    message = str(err.value)
    assert other in message and "not in the data" in message
    for wid, title in KNOWN.items():
        assert wid in message and title in message


def test_malformed_id_with_known_webinars_lists_them_too(tmp_path: Path):
    with pytest.raises(ParameterError) as err:
        build_params("nope", tmp_path, known_webinars=KNOWN)
    assert WID in str(err.value)


def test_missing_data_dir_is_refused(tmp_path: Path):
    with pytest.raises(ParameterError, match="data_dir"):
        build_params(WID, tmp_path / "absent")


def test_formats_keep_a_fixed_order_and_drop_duplicates(tmp_path: Path):
    assert build_params(WID, tmp_path, formats="pdf, HTML,pdf").formats == ("html", "pdf")
    assert build_params(WID, tmp_path, formats=["pdf"]).formats == ("pdf",)


def test_describe_shows_no_host_path(tmp_path: Path):
    shown = build_params(WID, tmp_path).describe()
    assert str(tmp_path.parent) not in str(shown)
    assert shown["window_start"] is None


def test_params_dataclass_accepts_timestamps():
    p = ReportParams(WID, Path("."), window_start=pd.Timestamp("2026-02-06T05:00Z"))
    assert p.to_notebook()["window_start"] == "2026-02-06T05:00:00Z"


def test_the_default_output_directory_is_under_the_given_reports_dir(tmp_path: Path):
    from analysis.config import REPORTS_DIR

    assert build_params(WID, tmp_path).output_dir == REPORTS_DIR / WID
    moved = build_params(WID, tmp_path, reports_dir=tmp_path / "r")
    assert moved.output_dir == (tmp_path / "r" / WID).resolve()
    given = build_params(WID, tmp_path, output_dir=tmp_path / "o", reports_dir=tmp_path / "r")
    assert given.output_dir == (tmp_path / "o").resolve()
