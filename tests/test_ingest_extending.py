"""A new export shape and a new error family are each one entry in one place (docs/extending.md).

The toy shape is a CSV from an imagined gateway (``when, verb, route, code``, day-first
timestamps); the toy family is a Realtime line ``ToyOverload: ...``. Each test registers its
entry exactly as docs/extending.md says and checks the whole path: recognition, flattening,
field map, timestamps, schema, accounting and the error class the statistics would test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest, timeline, vocabulary
from analysis.exceptions import IngestError
from analysis.ingest import shapes
from analysis.ingest.cells import Rejections, require

WINDOW = {"window_start": "2026-02-06T05:00:00Z", "window_end": "2026-02-06T06:00:00Z"}


def _incident(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    (root / "incident.json").write_text(json.dumps({"name": "toy", **WINDOW}))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _parse_day_first(values: pd.Series, rej: Rejections, name: str, *, naive_is_utc) -> pd.Series:
    """The toy gateway writes ``06/02/2026 05:10:00`` in UTC."""
    parsed = pd.to_datetime(values, format="%d/%m/%Y %H:%M:%S", utc=True, errors="coerce")
    rej.add(values.notna() & parsed.isna(), f"bad {name} (expected DD/MM/YYYY HH:MM:SS)", values)
    return parsed.astype("datetime64[ns, UTC]")


TOY_SHAPE = shapes.Shape(
    name="toy_gateway_csv",
    container="csv",
    recognise=lambda cols, path: {"when", "verb", "route", "code"} <= set(cols),
    rows=shapes.csv_records,
    flatten=shapes.flatten_csv_row,
    fields={
        "edge_logs": {
            "timestamp": ("when",),
            "method": ("verb",),
            "path": ("route",),
            "status": ("code",),
        }
    },
    parse_time=_parse_day_first,
    timestamp="DD/MM/YYYY HH:MM:SS, UTC",
    source="edge_logs",
)
TOY_CSV = (
    "id,when,verb,route,code\n"
    "t1,06/02/2026 05:10:00,POST,/rest/v1/registrations,409\n"
    "t2,06/02/2026 05:11:30,GET,/rest/v1/webinars,200\n"
    "t3,2026-02-06T05:12:00Z,GET,/rest/v1/webinars,200\n"
    "t4,06/02/2026 07:00:00,GET,/rest/v1/webinars,200\n"
)


def test_an_unregistered_shape_is_one_clear_error(tmp_path):
    root = _incident(tmp_path / "inc", {"exports/gateway.csv": TOY_CSV})
    with pytest.raises(IngestError, match=r"not a table the analysis reads \(columns id, when,"):
        ingest.load_incident(root, use_cache=False)


def test_a_new_export_shape_is_one_registry_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "SHAPES", (TOY_SHAPE, *shapes.SHAPES))
    root = _incident(tmp_path / "inc", {"exports/gateway.csv": TOY_CSV})
    inc = ingest.load_incident(root, use_cache=False)
    acc = inc.accounting.set_index("file").loc["exports/gateway.csv"]
    assert (acc["kind"], acc["shape"]) == ("edge_logs", "toy_gateway_csv")
    assert (acc["read"], acc["accepted"], acc["rejected"]) == (4, 2, 2)
    assert "bad timestamp (expected DD/MM/YYYY HH:MM:SS): 1" in acc["reason"]
    assert "outside window: 1" in acc["reason"]
    req = inc.requests
    assert list(req["id"]) == ["t1", "t2"]
    assert list(req["ts"]) == [
        pd.Timestamp("2026-02-06T05:10:00Z"),
        pd.Timestamp("2026-02-06T05:11:30Z"),
    ]
    assert list(req["status"]) == [409, 200]
    assert list(req["endpoint"]) == ["rest/registrations", "rest/webinars"]


def test_a_shape_mixes_with_others_in_one_batch(tmp_path, monkeypatch):
    # Rows of two shapes land in one canonicalisation batch; each keeps its own timestamp parser.
    monkeypatch.setattr(shapes, "SHAPES", (TOY_SHAPE, *shapes.SHAPES))
    page = "id,timestamp,event_message,method,path,search,status_code\n"
    page += "p1,1770354900000000,x,GET,/rest/v1/webinars,,200\n"
    root = _incident(
        tmp_path / "inc", {"exports/gateway.csv": TOY_CSV, "exports/api-page.csv": page}
    )
    inc = ingest.load_incident(root, use_cache=False)
    assert set(inc.requests["id"]) == {"t1", "t2", "p1"}
    shapes_seen = dict(zip(inc.accounting["file"], inc.accounting["shape"], strict=True))
    assert shapes_seen == {
        "exports/api-page.csv": "page_csv",
        "exports/gateway.csv": "toy_gateway_csv",
    }


REALTIME_PAGE = (
    "id,timestamp,event_message\n"
    "r1,1770354600000000,ToyOverload: tenant queue is full\n"
    "r2,1770354660000000,ToyOverload: tenant queue is full\n"
    "r3,1770354720000000,ToyHeartbeat: 42 sockets\n"
    "r4,1770354780000000,Postgrex.Protocol (#PID<0.1.0>) disconnected: "
    "** (DBConnection.ConnectionError) closed\n"
)


def _realtime_incident(tmp_path: Path) -> ingest.Incident:
    root = _incident(tmp_path / "inc", {"realtime_logs/page.csv": REALTIME_PAGE})
    return ingest.load_incident(root, use_cache=False)


def test_an_unregistered_family_is_other(tmp_path):
    inc = _realtime_incident(tmp_path)
    assert list(inc.realtime_events["family"]) == ["other", "other", "other", "disconnect"]
    keys = {c.key for c in timeline.define_error_classes(inc)}
    assert keys == {"realtime:disconnect"}


def test_a_new_error_family_is_one_vocabulary_entry(tmp_path, monkeypatch):
    rules = (
        vocabulary.RealtimeFamily("toy_overload", r"^ToyOverload:"),
        vocabulary.RealtimeFamily("toy_heartbeat", r"^ToyHeartbeat:", telemetry=True),
        *vocabulary.REALTIME_FAMILY_RULES,
    )
    monkeypatch.setattr(vocabulary, "REALTIME_FAMILY_RULES", rules)
    inc = _realtime_incident(tmp_path)
    families = list(inc.realtime_events["family"])
    assert families == ["toy_overload", "toy_overload", "toy_heartbeat", "disconnect"]
    classes = {c.key: c for c in timeline.define_error_classes(inc)}
    # A telemetry family is never an error class; an error family is, with its filter text.
    assert set(classes) == {"realtime:toy_overload", "realtime:disconnect"}
    assert classes["realtime:toy_overload"].count == 2
    assert classes["realtime:toy_overload"].filter == "family == 'toy_overload'"
    assert "toy_heartbeat" in vocabulary.non_error_families()


def test_the_schema_takes_its_families_from_the_vocabulary(monkeypatch):
    from analysis.exceptions import SchemaError
    from analysis.schemas import empty_table, validate_table

    row = empty_table("realtime_events")
    row.loc[0] = ["x", pd.Timestamp("2026-02-06T05:00Z"), "error", "m", "toy_overload", None, None]
    row = row.astype(empty_table("realtime_events").dtypes.to_dict())
    with pytest.raises(SchemaError, match="family"):
        validate_table("realtime_events", row)
    rules = (vocabulary.RealtimeFamily("toy_overload", "x"), *vocabulary.REALTIME_FAMILY_RULES)
    monkeypatch.setattr(vocabulary, "REALTIME_FAMILY_RULES", rules)
    assert list(validate_table("realtime_events", row)["family"]) == ["toy_overload"]


def test_require_is_what_a_shape_parser_may_lean_on():
    # A shape's own timestamp parser only converts; missing values are rejected by the caller.
    frame = pd.DataFrame({"_row": [1, 2]})
    rej = Rejections(frame)
    parsed = _parse_day_first(
        pd.Series(["06/02/2026 05:10:00", None]), rej, "timestamp", naive_is_utc=False
    )
    require(parsed, rej, "timestamp")
    assert list(rej.reason.fillna("")) == ["", "missing timestamp"]
