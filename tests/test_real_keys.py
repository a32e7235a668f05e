"""Integer (bigint identity) webinar ids and row ids, as many Supabase tables have them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest, privacy
from analysis._util import canonical_row_key
from analysis.exceptions import ParameterError
from analysis.params import build_params

U1 = "3beb26f2-602f-468c-ba04-fd517a2d53f2"
U2 = "fee62538-7b7b-4272-b858-2b50666ae7dd"
TS = "2026-02-20 09:00:07.61246+00"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("90210", "90210"),
        (" +90210 ", "90210"),
        ("090210", "90210"),
        (90210, "90210"),
        ("0", "0"),
        ("-5", "-5"),
        ("9223372036854775807", "9223372036854775807"),
        ("9223372036854775808", None),  # past bigint
        ("F257CE42-723A-4FAD-A9A5-1BD8C154D7CE", "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"),
        ("90210.0", None),
        ("webinar-1", None),
        ("", None),
        ("f257ce42", None),
    ],
)
def test_row_key_is_a_uuid_or_a_bigint_in_one_spelling(value, key):
    assert canonical_row_key(value) == key


def _incident(tmp_path: Path, registrations: str) -> ingest.Incident:
    root = tmp_path / "bigint"
    (root / "tables").mkdir(parents=True)
    manifest = {
        "name": "bigint",
        "window_start": "2026-02-20T09:00:00Z",
        "window_end": "2026-02-20T09:30:00Z",
    }
    (root / "incident.json").write_text(json.dumps(manifest))
    tables = {
        "webinars.csv": "id,title,starts_at,ends_at,status,created_at\r\n"
        f"90210,Roadmap,2026-02-20 09:00:00+00,2026-02-20 09:30:00+00,live,{TS}\r\n"
        f"90227,Breakout,2026-02-20 09:00:00+00,,live,{TS}",
        "registrations.csv": registrations,
        "webinar_live_presence.csv": "id,webinar_id,user_id,session_id,joined_at,left_at\r\n"
        f"1,90210,{U1},s1,{TS},\r\n2,090210,{U2},s2,{TS},",
        "webinar_viewer_counts.csv": "id,webinar_id,sampled_at,viewer_count\r\n"
        f"1,90210,{TS},2\r\n2,90227,{TS},0",
    }
    for name, text in tables.items():
        (root / "tables" / name).write_text(text)
    return ingest.load_incident(root, use_cache=False)


def test_bigint_webinar_and_registration_ids_are_read_and_joined(tmp_path):
    inc = _incident(
        tmp_path,
        "id,webinar_id,user_id,created_at\r\n"
        f"7,90210,{U1},{TS}\r\n8,+90210,{U2},{TS}\r\n9,webinar-1,{U2},{TS}\r\n"
        f"10,99999999999999999999,{U1},{TS}",
    )
    assert sorted(inc.webinars["webinar_id"]) == ["90210", "90227"]
    assert sorted(inc.registrations["id"]) == ["7", "8"]
    assert set(inc.registrations["webinar_id"]) == {"90210"}
    assert set(inc.sessions["webinar_id"]) == {"90210"}  # '090210' is the same webinar
    assert sorted(inc.concurrency["webinar_id"]) == ["90210", "90227"]
    # Users are still pseudonymised; the integer ids are keys, not people.
    assert inc.registrations["user"].str.fullmatch(r"u_[0-9a-f]{12}").all()
    acc = inc.accounting.set_index("kind").loc["registrations"]
    assert (acc["read"], acc["accepted"], acc["rejected"]) == (4, 2, 2)
    assert acc["reason"] == "bad webinar_id (expected a uuid or an integer id): 2"


def test_report_parameter_takes_an_integer_webinar_id(tmp_path):
    known = {"90210": "Roadmap"}
    assert build_params("090210", tmp_path, known_webinars=known).webinar_id == "90210"
    with pytest.raises(ParameterError, match="or an integer id like 90210") as err:
        build_params("90210; rm -rf /", tmp_path, known_webinars=known)
    assert "webinars in the data: 90210 (Roadmap)" in str(err.value)
    with pytest.raises(ParameterError, match="90211 is not in the data"):
        build_params("90211", tmp_path, known_webinars=known)


def test_integer_ids_in_log_text_survive_redaction():
    text = pd.Series(
        [
            "/rest/v1/webinar_live_presence?webinar_id=eq.90210&select=*",
            f"Key (webinar_id, user_id)=(90210, {U1}) already exists.",
        ],
        dtype="string",
    )
    out = privacy.redact_series(text).tolist()
    assert out[0] == text[0]
    assert out[1] == "Key (webinar_id, user_id)=(90210, [user]) already exists."
