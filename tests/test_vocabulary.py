"""The error vocabulary: SQLSTATE rules, Realtime families, PostgREST statuses, class keys."""

from __future__ import annotations

import pytest

from analysis import vocabulary


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("23505", 409),
        ("23503", 409),
        ("42703", 400),
        ("22P02", 400),
        ("23502", 400),
        ("53300", 503),
        ("53400", 500),
        ("08006", 503),
        ("57014", 500),
        ("42P01", 404),
        ("42501", 403),
        ("P0001", 400),
        ("P0002", 500),
    ],
)
def test_postgrest_status_mapping(code, status):
    assert vocabulary.http_status_for_sqlstate(code) == status


def test_mapping_table_names_its_source():
    table = vocabulary.postgrest_status_table()
    assert "errors.rst" in table.attrs["source"]
    assert {"code", "status", "description"} <= set(table.columns)
    assert "23505" in vocabulary.sqlstates_for_status(409)
    assert "42703" in vocabulary.sqlstates_for_status(400)


def test_unknown_sqlstate_has_no_status():
    assert vocabulary.http_status_for_sqlstate(None) is None
    assert vocabulary.http_status_for_sqlstate(vocabulary.UNKNOWN_SQLSTATE) is None
