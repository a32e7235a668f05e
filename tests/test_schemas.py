"""The canonical schemas: the direct check agrees with pandera, and errors stay one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _schema_cases import violations

from analysis import schemas
from analysis.config import DEFAULT_INCIDENT_DIR
from analysis.exceptions import SchemaError


@pytest.fixture(scope="module")
def shipped(shared_cache_dir):
    from analysis.ingest import load_incident

    return load_incident(DEFAULT_INCIDENT_DIR, cache_dir=shared_cache_dir, progress=False)


def _pandera_accepts(name: str, frame: pd.DataFrame) -> bool:
    import pandera.pandas as pa

    try:
        schemas.table_schemas()[name].validate(frame)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors):
        return False
    return True


@pytest.mark.parametrize("name", list(schemas.TABLES))
def test_the_fixture_tables_conform_without_pandera(name, small_incident, shipped):
    # What ingest returns takes the direct path: pandera is not what validates them.
    for incident in (small_incident, shipped):
        table = incident.table(name)
        assert schemas.conforms(name, table)
        assert _pandera_accepts(name, table)
        assert schemas.validate_table(name, table) is table


@pytest.mark.parametrize("name", list(schemas.TABLES))
def test_the_direct_check_is_never_more_lenient_than_pandera(name, shipped):
    # Each kind of change to a valid table (a missing value, near misses of each pattern,
    # numbers out of range, duplicated keys, other dtypes and time zones, columns moved,
    # dropped or added, table-wide rules broken): whatever the direct check accepts, pandera
    # accepts. What it refuses goes to pandera, which decides and words the error.
    table = shipped.table(name).iloc[:3]
    accepted, refused = [], []
    for label, frame in violations(name, table):
        if schemas.conforms(name, frame):
            accepted.append(label)
            assert _pandera_accepts(name, frame), label
        else:
            refused.append(label)
    # Both kinds occur: the cases test something on each side.
    assert "unchanged" in accepted and len(refused) > len(schemas.TABLES[name][0]), refused


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("requests", lambda f: f.assign(method=f["method"].str.lower()), "field 'method'"),
        ("requests", lambda f: f.assign(status=f["status"] + 1000), "in_range(100, 599)"),
        ("requests", lambda f: f.assign(id=f["id"].iloc[0]), "values are not unique"),
        ("webinars", lambda f: f[f.columns[::-1]], "column_ordered"),
        ("webinars", lambda f: f.assign(extra=1), "found 'extra'"),
        ("webinars", lambda f: f.drop(columns="title"), "found 'title'"),
        ("sessions", lambda f: f.assign(left_at=f["joined_at"] - pd.Timedelta("1s")), "left_at"),
        ("db_errors", lambda f: f.assign(sql_state_class=pd.NA), "sql_state_class is the first"),
    ],
)
def test_a_violation_is_one_line_naming_the_table_and_the_check(name, change, words, shipped):
    with pytest.raises(SchemaError) as caught:
        schemas.validate_table(name, change(shipped.table(name)))
    message = str(caught.value)
    assert "\n" not in message and f"canonical table '{name}'" in message
    assert words in message, message


def test_a_fresh_parse_of_valid_exports_needs_no_pandera(monkeypatch):
    from analysis.ingest import load_incident

    def no_pandera():
        raise AssertionError("pandera's schemas were built")

    monkeypatch.setattr(schemas, "table_schemas", no_pandera)
    fixture = Path(__file__).parent / "fixtures" / "ingest" / "incident"
    incident = load_incident(fixture, use_cache=False, progress=False)
    assert not incident.from_cache and len(incident.requests)


def test_column_dtypes_are_the_dtypes_pandera_declares():
    for name, schema in schemas.table_schemas().items():
        declared = {}
        for col, spec in schema.columns.items():
            dtype = spec.dtype.type
            declared[col] = pd.StringDtype() if isinstance(dtype, pd.StringDtype) else dtype
        assert schemas.column_dtypes(name) == declared, name
        assert list(schema.columns) == list(schemas.TABLES[name][0])
