"""Human names of error classes: derived from SQLSTATE, constraint, message and family."""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd
import pytest

from analysis import naming


def templates(lang: str) -> dict:
    path = resources.files("analysis").joinpath("locales", f"{lang}.json")
    return json.loads(path.read_text("utf-8"))["class_names"]


@pytest.mark.parametrize(
    ("name", "subject", "kind"),
    [
        ("registrations_pkey", "registrations", "primary"),
        ("uq_marketing_stats_daily_key", "marketing_stats_daily", "unique"),
        ("orders_customer_id_fkey", "orders_customer_id", "foreign"),
        ("price_positive_check", "price_positive", "check"),
        ("weird", "weird", None),
        (None, None, None),
    ],
)
def test_split_constraint(name, subject, kind):
    assert naming.split_constraint(name) == (subject, kind)


def test_parse_subjects_reads_postgres_templates():
    assert naming.parse_subjects("column registrations.id does not exist") == {
        "relation": "registrations",
        "column": "id",
    }
    assert naming.parse_subjects('column "nme" of relation "users" does not exist') == {
        "relation": "users",
        "column": "nme",
    }
    got = naming.parse_subjects('invalid input syntax for type uuid: "null"')
    assert got == {"type": "uuid", "value": "null"}
    assert naming.parse_subjects(None) == {}


def test_parse_subjects_reads_names_in_any_script():
    # Postgres prints unquoted names in any script; a \w-only pattern lost the emoji's column.
    got = naming.parse_subjects("column 질문.🔥_count does not exist")
    assert got == {"relation": "질문", "column": "🔥_count"}
    assert naming.parse_subjects('relation "public.שאלות" does not exist') == {"relation": "שאלות"}
    got = naming.parse_subjects('null value in column "사용자" of relation "투표" violates')
    assert got == {"relation": "투표", "column": "사용자"}


@pytest.mark.parametrize(
    ("cls", "en", "ko"),
    [
        (
            {"key": "23505:seats_pkey", "sql_state": "23505", "constraint": "seats_pkey"},
            "Duplicate insert into seats",
            "seats 중복 저장 시도",
        ),
        (
            {"key": "42703", "sql_state": "42703", "message": "column talks.slug does not exist"},
            "Query for a missing column talks.slug",
            "존재하지 않는 컬럼 조회 (talks.slug)",
        ),
        (
            {
                "key": "22P02",
                "sql_state": "22P02",
                "message": 'invalid input syntax for type uuid: "null"',
            },
            '"null" sent as a uuid value',
            '"null" 문자열이 uuid 값으로 전달됨',
        ),
        (
            {
                "key": "22P02",
                "sql_state": "22P02",
                "message": 'invalid input syntax for type integer: "x"',
            },
            "Malformed integer value",
            "잘못된 형식의 integer 값",
        ),
        ({"key": "22P02", "sql_state": "22P02"}, "Malformed input value", "잘못된 형식의 입력 값"),
        ({"key": "53999", "sql_state": "53999"}, "Database out of resources", "DB 자원 부족"),
        (
            {"key": "unknown", "sql_state": "unknown"},
            "Unclassified database error",
            "분류되지 않은 DB 오류",
        ),
        (
            {"key": "realtime:disconnect", "family": "disconnect"},
            "Realtime disconnects",
            "Realtime 연결 끊김",
        ),
        (
            {
                "key": "realtime:database_lacks_connections",
                "family": "database_lacks_connections",
                "message": "DatabaseLackOfConnections: Only 2 available connections.",
            },
            "No database slot for Realtime",
            "Realtime용 DB 연결 슬롯 없음",
        ),
        (
            {
                "key": "realtime:too_many_connections",
                "family": "too_many_connections",
                "message": "ConnectionRateLimitReached: Too many connected users",
            },
            "Realtime refused clients at its concurrent-user limit",
            "Realtime 동시 접속자 한도로 연결 거부",
        ),
        (
            {
                "key": "realtime:db_connect_throttled",
                "family": "db_connect_throttled",
                "message": "DatabaseConnectionRateLimitReached: Too many connection attempts",
            },
            "Realtime throttled its failing database connects",
            "Realtime의 DB 연결 재시도 제한 (연결 실패 반복)",
        ),
        (
            {"key": "realtime:odd_new", "family": "odd_new"},
            "Realtime odd new errors",
            "Realtime odd_new 오류",  # Korean keeps the identifier as it is
        ),
    ],
)
def test_names_in_both_languages(cls, en, ko):
    assert naming.name_error_class(cls, templates("en")) == en
    assert naming.name_error_class(cls, templates("ko")) == ko
    assert naming.label_error_class(cls, templates("en")) == f"{en} ({cls['key']})"


def test_locales_cover_the_same_codes():
    en, ko = templates("en"), templates("ko")
    for section in ("sqlstate", "sqlstate_class", "realtime", "constraint_kinds"):
        assert set(en[section]) == set(ko[section]), section


@pytest.mark.parametrize(
    ("cls", "resource"),
    [
        ({"family": "disconnect"}, "realtime"),
        ({"family": "too_many_connections"}, "realtime"),
        ({"family": "rate_limit"}, "realtime_rate"),
        ({"family": "database_lacks_connections"}, "database"),
        ({"family": "db_connect_throttled"}, "database"),
        ({"family": "pool_exhausted"}, "database"),
        ({"sql_state": "53300"}, "database"),
        ({"sql_state": "08006"}, "database"),
        ({"sql_state": "23505"}, None),
    ],
)
def test_capacity_resource(cls, resource):
    assert naming.capacity_resource(cls) == resource


def test_collect_semantics_takes_the_modal_values():
    from analysis.error_classes import ErrorClass

    ts = pd.Timestamp("2026-01-01", tz="UTC")
    db = pd.DataFrame(
        {
            "ts": [ts] * 3,
            "sql_state": ["42703"] * 3,
            "constraint": [None] * 3,
            "relation": ["talks", "talks", None],
            "column": ["slug", "slug", "slug"],
            "message": ["column talks.slug does not exist"] * 2 + ["column slug does not exist"],
        }
    ).astype({"constraint": "string", "relation": "string"})
    rt = pd.DataFrame({"ts": [], "family": [], "message": []})
    cls = ErrorClass("42703", "db_errors", "", 3, ts, ts, None, "none", 400, "42703")
    got = naming.collect_semantics(db, rt, [cls])
    assert got == {
        "42703": {
            "relation": "talks",
            "column": "slug",
            "message": "column talks.slug does not exist",
        }
    }
