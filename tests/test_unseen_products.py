"""Errors of Supabase's products the shipped incident never had, told apart as their product does.

Auth and Storage log in to Postgres with their own roles and answer a database failure with a
server error of their own (500, 503, 544), not at PostgREST's status for the SQLSTATE; the
responses to PostgREST's role are served on the REST and GraphQL endpoints only. Before, Auth's
53300 (FATAL, too many clients) paired with nothing and a PostgREST 57014 took Auth's 500s.
Realtime's replication stream (Postgres Changes) failing was read as clients disconnecting.
"""

from __future__ import annotations

import pandas as pd
import pytest
from _timeline_data import FakeIncident, db_errors_frame, requests_frame

from analysis import actions, error_classes, matching, naming, narrative, vocabulary

START, END = pd.Timestamp("2026-02-06 05:00", tz="UTC"), pd.Timestamp("2026-02-06 06:00", tz="UTC")


def _incident(reqs, errors, roles):
    db = db_errors_frame(errors)
    db["user_name"] = pd.Series(roles, dtype="string")
    return FakeIncident(requests=requests_frame(reqs), db_errors=db, window=(START, END))


def test_auth_s_own_errors_pair_with_auth_s_server_errors_and_postgrest_s_with_rest():
    reqs = [
        ("2026-02-06 05:01:00.004", "auth/token", 500),  # nearest to the 57014
        ("2026-02-06 05:01:00.020", "rest/questions", 500),
        ("2026-02-06 05:01:00.003", "rest/profiles", 503),  # nearest to the 53300
        ("2026-02-06 05:01:00.030", "auth/token", 500),
    ]
    errors = [
        ("2026-02-06 05:01:00.000", "57014", None, None),
        ("2026-02-06 05:01:00.001", "53300", None, None),
    ]
    inc = _incident(reqs, errors, ["authenticator", "supabase_auth_admin"])
    classes = {c.key: c for c in error_classes.define_error_classes(inc)}
    assert classes["57014"].endpoints == ("rest/questions",)
    assert (classes["53300"].endpoints, classes["53300"].http_status) == (("auth/token",), 500)
    pairs = matching.match_http_to_db(inc, tuple(classes.values()))
    got = sorted(zip(pairs["error_class"], pairs["endpoint"], pairs["status"], strict=True))
    assert got == [("53300", "auth/token", 500), ("57014", "rest/questions", 500)]


def test_storage_s_own_errors_pair_with_storage_s_error_responses_at_its_own_status():
    reqs = [
        ("2026-02-06 05:01:00.010", "storage/object/public", 544),
        ("2026-02-06 05:02:00.010", "storage/object/public", 500),
        ("2026-02-06 05:03:00.010", "rest/profiles", 500),  # PostgREST's: never Storage's
    ]
    errors = [(f"2026-02-06 05:0{m}:00.000", "57014", None, None) for m in (1, 2, 3)]
    inc = _incident(reqs, errors, ["supabase_storage_admin"] * 3)
    (cls,) = error_classes.define_error_classes(inc)
    pairs = matching.match_http_to_db(inc, (cls,))
    assert sorted(pairs["status"].tolist()) == [500, 544]
    assert cls.endpoints == ("storage/object/public",) and cls.http_status == 500


def test_an_upload_refused_by_row_level_security_is_one_class_with_its_403s():
    # Storage logs in as supabase_storage_admin and answers a policy violation (42501) with
    # 403 (or 400): one class, not a database class plus an unexplained http:403 class.
    reqs = [(f"2026-02-06 05:0{m}:00.020", "storage/object/avatars", 403) for m in range(1, 7)]
    errors = [(f"2026-02-06 05:0{m}:00.000", "42501", None, None) for m in range(1, 7)]
    inc = _incident(reqs, errors, ["supabase_storage_admin"] * 6)
    classes = error_classes.define_error_classes(inc)
    assert [(c.key, c.endpoints, c.http_status) for c in classes] == [
        ("42501", ("storage/object/avatars",), 403)
    ]


def test_an_error_whose_role_is_unknown_still_pairs_anywhere():
    # Exports without the role (a projection without user_name, another client's role) keep
    # the pairing by PostgREST's status on any endpoint.
    reqs = [("2026-02-06 05:01:00.010", "auth/token", 503)]
    errors = [("2026-02-06 05:01:00.000", "53300", None, None)]
    for roles in ([None], ["postgres"]):
        (cls,) = error_classes.define_error_classes(_incident(reqs, errors, roles))
        assert (cls.endpoints, cls.http_status) == (("auth/token",), 503)
    inc = FakeIncident(
        requests=requests_frame(reqs), db_errors=db_errors_frame(errors), window=(START, END)
    )
    (cls,) = error_classes.define_error_classes(inc)
    assert cls.endpoints == ("auth/token",)


def test_postgrest_s_errors_are_never_paired_off_its_endpoints():
    reqs = [("2026-02-06 05:01:00.001", "realtime/websocket", 400)]
    errors = [("2026-02-06 05:01:00.000", "42703", None, None)]
    (cls,) = error_classes.define_error_classes(_incident(reqs, errors, ["authenticator"]))
    assert (cls.endpoints, cls.endpoint_basis) == ((), "none")


@pytest.mark.parametrize(
    ("message", "family"),
    [
        ("ReplicationConnectionDown: replication connection lost", "replication"),
        ("ReplicationConnectionTimeout: timed out starting replication", "replication"),
        ("ReplicationSlotNotAlive: slot supabase_realtime_rls is not active", "replication"),
        ("ErrorStartingPostgresCDC: could not start", "replication"),
        ("ReplicationMaxWalSendersReached: max_wal_senders reached", "database_lacks_connections"),
        ("DatabaseConnectionDown: recovery window opened", "disconnect"),
        ("SubscriptionManagerConnectionFailed: tcp connect: econnrefused", "connect_failed"),
    ],
)
def test_realtime_s_replication_stream_is_a_family_of_its_own(message, family):
    # Realtime's replication stream (Postgres Changes) failing is neither clients dropping
    # (disconnect) nor Realtime failing to reach the database for its tenants.
    assert vocabulary.family_of(message) == family


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_replication_class_is_named_and_acted_on_as_such(lang):
    cls = {"key": "realtime:replication", "family": "replication"}
    text = narrative.load_locale(lang)
    rule, key = actions.choose_rule(cls, "unrelated", text["actions"]["catalogue"])
    assert (rule.key, key) == ("realtime_replication", "realtime_replication")
    assert "Postgres Changes" in text["actions"]["catalogue"][key]
    assert "Postgres Changes" in naming.name_error_class(cls, text["class_names"])
    # One replication stream per project, whatever the audience: no connection ceiling.
    assert naming.capacity_resource(cls) is None


@pytest.mark.parametrize(
    ("constraint", "endpoint", "name"),
    [
        # Postgres's default name: the table, the columns, the kind.
        ("answers_question_id_user_id_key", "rest/answers", "Duplicate insert into answers"),
        (
            "answers_question_id_user_id_key",
            None,
            "Duplicate insert into answers question id user id",
        ),
        (
            "answers_question_id_user_id_key",
            "rest/rpc/answer",
            "Duplicate insert into answers question id user id",
        ),
        ("registrations_pkey", "rest/registrations", "Duplicate insert into registrations"),
        (
            "uq_marketing_stats_daily_key",
            "rest/marketing_stats_daily",
            "Duplicate insert into marketing stats daily",
        ),
    ],
)
def test_a_default_constraint_name_gives_its_table_when_the_endpoint_tells_it(
    constraint, endpoint, name
):
    cls = {"key": f"23505:{constraint}", "sql_state": "23505", "constraint": constraint}
    templates = narrative.load_locale("en")["class_names"]
    assert naming.name_error_class({**cls, "endpoint": endpoint}, templates) == name


@pytest.mark.parametrize(
    ("endpoints", "key"),
    [
        (["auth/token"], "out_of_connections_service_capacity"),
        (["storage/object/public"], "out_of_connections_service_capacity"),
        (["rest/questions", "auth/token"], "out_of_connections_capacity"),
        ([], "out_of_connections_capacity"),
    ],
)
def test_auth_s_own_connections_refused_are_not_told_to_use_the_pooler_for_auth(endpoints, key):
    # Auth and Storage keep their own pools: the app's clients that took the slots move.
    cls = {"key": "53300", "sql_state": "53300", "endpoints": endpoints}
    catalogue = narrative.load_locale("en")["actions"]["catalogue"]
    assert actions.choose_rule(cls, "capacity", catalogue)[1] == key


@pytest.mark.parametrize(
    ("status", "endpoints", "key"),
    [
        (546, ["functions/send-reminder"], "http_function_limit"),
        (504, ["functions/send-reminder"], "http_function_timeout"),
        (504, ["rest/polls"], "http_timeout_rest"),
        (546, ["rest/polls"], "http_server_error"),
        (504, ["storage/object/public"], "http_timeout"),
        (503, ["rest/polls"], "http_unavailable_rest"),
        (503, ["storage/object/public"], "http_unavailable"),
    ],
)
def test_edge_functions_limits_are_told_apart_from_postgrest_s_timeouts(status, endpoints, key):
    # A 504 from an Edge Function is the gateway's idle timeout, not PostgREST's pool wait.
    cls = {"key": f"http:{status}:x", "http_status": status, "endpoints": endpoints}
    for lang in ("en", "ko"):
        text = narrative.load_locale(lang)
        assert actions.choose_rule(cls, "unrelated", text["actions"]["catalogue"])[1] == key
    name = naming.name_error_class(
        {"key": "http:546:functions/*", "http_status": 546},
        narrative.load_locale("en")["class_names"],
    )
    assert name == "Worker limit reached (546) on functions/*"


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("status", [503, 504])
def test_another_product_s_503_and_504_are_not_explained_by_postgrest(lang, status):
    # A Storage 503's action said "(for PostgREST: the database could not be reached, ...)".
    catalogue = narrative.load_locale(lang)["actions"]["catalogue"]
    for verdict in ("unrelated", "capacity"):
        storage = {"key": "http:x", "http_status": status, "endpoints": ["storage/object/public"]}
        rest = {"key": "http:x", "http_status": status, "endpoints": ["rest/polls"]}
        assert "PostgREST" not in catalogue[actions.choose_rule(storage, verdict, catalogue)[1]]
        assert "PGRST" in catalogue[actions.choose_rule(rest, verdict, catalogue)[1]] or (
            status == 503 and verdict == "capacity"
        )
