"""Action items come from the incident's data (analysis.actions), never from another incident."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import unseen_incidents as unseen

from analysis import actions, error_classes, naming, narrative, overview, report, vocabulary
from analysis.ingest import load_incident
from analysis.params import build_params
from analysis.simulate import incident as sim

#: Every identifier of the shipped incident's own action list: its tables, columns, constraints
#: and the words of its recommendations, in both languages.
SHIPPED_IDENTIFIERS = sorted(
    {
        "registrations.id",
        "registrations_pkey",
        "uq_marketing_stats_daily_key",
        "marketing_stats_daily",
        "PgBouncer",
        *(text for rec in sim.SHIPPED_RECOMMENDATIONS for text in rec["text"].values()),
    }
)
#: ... and its error classes' keys (generic codes, but absent from an incident without them).
SHIPPED_CLASSES = sorted({k for rec in sim.SHIPPED_RECOMMENDATIONS for k in rec["classes"]})


def _findings(classes, verdicts=(), capacity=(), lead=None):
    return {
        "error_classes": [
            {"key": k, "count": n, "rate": 0.01, "endpoint": None} for k, n in classes
        ],
        "verdicts": [{"error_class": k, "verdict": v} for k, v in verdicts],
        "capacity": list(capacity),
        "detection": {"lead_minutes": lead},
        "impact": {"errors_total": sum(n for _, n in classes)},
    }


def test_undefined_column_names_the_column_the_error_names():
    rows = pd.DataFrame(
        {
            "sql_state": ["42703"] * 2,
            "relation": [None, None],
            "constraint": [None, None],
            "column": [None, None],
            "message": ["column questions.is_pinned does not exist"] * 2,
        }
    )
    info = actions.describe_class(None, "42703", rows)
    assert info["column"] == "questions.is_pinned" and info["table"] == "questions"
    details = {"42703": {**info, "endpoints": ["rest/questions"]}}
    items = actions.build_action_items(_findings([("42703", 2)], [("42703", "traffic")]), details)
    keys = [i["key"] for i in items]
    # The semantics choose the action; a verdict-only item would repeat it.
    assert keys == ["undefined_column", "error_rate_monitoring"]
    assert items[0]["fields"]["column"] == "questions.is_pinned"
    assert items[0]["fields"]["endpoints"] == "rest/questions"
    assert items[0]["evidence"][0] == {
        "kind": "class",
        "error_class": "42703",
        "present": True,
        "count": 2,
        "rate": 0.01,
        "verdict": "traffic",
    }
    text = json.dumps(items)
    assert not [w for w in SHIPPED_IDENTIFIERS if w in text]


def test_a_not_null_violation_s_action_names_the_column_its_message_names():
    # deploy_minute_23 of tests/_unseen_agents.py: the class was named "Required value
    # missing (chat_messages.room_id)" while its action read "the column involved".
    message = (
        'null value in column "room_id" of relation "chat_messages" violates not-null constraint'
    )
    rows = pd.DataFrame(
        {"sql_state": ["23502"], "relation": [None], "constraint": [None], "column": [None],
         "message": [message]}
    )  # fmt: skip
    info = actions.describe_class(None, "23502", rows)
    assert info["column"] == "room_id" and info["table"] == "chat_messages", info
    details = {"23502": {**info, "endpoints": ["rest/chat_messages"]}}
    items = actions.build_action_items(_findings([("23502", 9)], [("23502", "unrelated")]), details)
    for lang in ("en", "ko"):
        said = narrative.action_text(items[0], narrative.load_locale(lang), lang)
        assert "<code>room&#95;id</code>" in said, said


def test_the_table_of_a_violation_comes_from_a_primary_key_or_the_one_endpoint():
    rows = pd.DataFrame(
        {
            "sql_state": ["23505"],
            "relation": [None],
            "constraint": ["orders_pkey"],
            "column": [None],
            "message": ['duplicate key value violates unique constraint "orders_pkey"'],
        }
    )
    assert actions.describe_class(None, "23505:orders_pkey", rows)["table"] == "orders"
    rows["constraint"] = "uq_daily_stats"
    on = actions.describe_class
    assert on(None, "23505:uq_daily_stats", rows, ["rest/daily_stats"])["table"] == "daily_stats"
    assert "table" not in on(None, "23505:uq_daily_stats", rows, ["rest/rpc/bump_stats"])
    assert "table" not in on(None, "23505:uq_daily_stats", rows, ["rest/a", "rest/b"])
    assert "table" not in on(None, "23505:uq_daily_stats", rows)


def test_values_from_data_that_are_not_identifiers_are_not_shown():
    rows = pd.DataFrame(
        {
            "sql_state": ["23505"],
            "relation": ["orders; DROP TABLE x"],
            "constraint": ["<script>"],
            "column": [None],
            "message": ["duplicate key"],
        }
    )
    info = actions.describe_class(None, "23505:x", rows)
    assert "table" not in info and "constraint" not in info and info["sql_state"] == "23505"


def test_identifiers_in_any_script_are_named_and_shown_escaped():
    # unicode_names of tests/_unseen_rooms.py: an ASCII-only identifier rule dropped every
    # Korean, emoji and Hebrew name, so the items read "the column involved".
    rows = pd.DataFrame(
        {
            "sql_state": ["42703", "42P01", "23505"],
            "relation": [None, "public.שאלות", None],
            "constraint": [None, None, "투표_사용자_키"],
            "column": [None] * 3,
            "message": [
                "column 질문.🔥_count does not exist",
                'relation "public.שאלות" does not exist',
                'duplicate key value violates unique constraint "투표_사용자_키"',
            ],
        }
    )
    column = actions.describe_class(None, "42703", rows.iloc[[0]])
    assert column["column"] == "질문.🔥_count" and column["table"] == "질문"
    assert actions.describe_class(None, "42P01", rows.iloc[[1]])["table"] == "public.שאלות"
    vote = actions.describe_class(None, "23505:투표_사용자_키", rows.iloc[[2]], ["rest/투표"])
    assert vote["constraint"] == "투표_사용자_키" and vote["table"] == "투표"
    details = {"42703": {**column, "endpoints": ["rest/질문"]}}
    items = actions.build_action_items(_findings([("42703", 2)], [("42703", "traffic")]), details)
    for lang in ("en", "ko"):
        said = narrative.action_text(items[0], narrative.load_locale(lang), lang)
        assert "<code>질문.🔥&#95;count</code>" in said, said
    # What is not an identifier stays out: spaces, quotes, markup, bidi controls, 64 bytes.
    for text in ("a b", '"x"', "<b>x</b>", "x\u202ey", "a.b.c.d", "1st", "가" * 22, "x@y.z"):
        assert not actions.is_identifier(text), text
    assert actions.is_identifier("가" * 21) and actions.is_identifier("👩\u200d💻_count")


def test_items_need_their_class_and_incident_items_are_kept_as_written():
    recs = (
        {"text": {"en": "Do A", "ko": "A 하기"}, "classes": ["23505:orders_pkey"]},
        {"text": {"en": "Do B"}, "classes": ["42P01"]},
        {"text": {"en": "Always C"}},
    )
    details = {"23505:orders_pkey": {"sql_state": "23505", "table": "orders"}}
    items = actions.build_action_items(
        _findings([("23505:orders_pkey", 3)]), details, recommendations=recs
    )
    own = [i for i in items if i["source"] == "incident"]
    assert [i["text"]["en"] for i in own] == ["Do A", "Always C"]
    assert own[0]["evidence"][0]["error_class"] == "23505:orders_pkey"
    assert [i["key"] for i in items if i["source"] == "catalogue"] == [
        "unique_violation",
        "error_rate_monitoring",
    ]
    assert actions.build_action_items(_findings([]), {}) == []


def test_capacity_verdict_brings_its_threshold():
    cap = {"error_class": "53300", "verdict": "capacity", "k": 210, "k_low": 200, "k_high": 220}
    items = actions.build_action_items(
        _findings([("53300", 40)], [("53300", "capacity")], [cap], lead=3),
        {"53300": {"sql_state": "53300", "endpoints": ["rest/a", "rest/b"]}},
    )
    assert [i["key"] for i in items] == [
        "out_of_connections_capacity",
        "alerting",
        "error_rate_monitoring",
    ]
    assert items[0]["fields"]["k"] == 210 and items[0]["fields"]["endpoints"] == "rest/a, rest/b"
    assert items[0]["evidence"][1]["kind"] == "threshold"


def test_a_statement_timeout_called_capacity_gets_query_work_not_a_bigger_pool():
    cap = {"error_class": "57014", "verdict": "capacity", "k": 120, "k_low": 90, "k_high": 150}
    findings = _findings([("57014", 400), ("42P01", 130)], [("57014", "capacity")], [cap])
    details = {
        "57014": {"sql_state": "57014", "endpoints": ["rest/rpc/search_talks"]},
        "42P01": {"sql_state": "42P01", "table": "speakers_v2", "endpoints": ["rest/speakers_v2"]},
    }
    items = actions.build_action_items(findings, details)
    assert [i["key"] for i in items] == [
        "undefined_table",
        "timeout_capacity",
        "error_rate_monitoring",
    ]
    timeout = items[1]
    assert (
        timeout["fields"]["endpoints"] == "rest/rpc/search_talks" and timeout["fields"]["k"] == 120
    )
    for lang in ("en", "ko"):
        text = narrative.action_text(timeout, narrative.load_locale(lang), lang)
        assert "statement_timeout" in text and "pg_stat_statements" in text and "120" in text
        assert "pool" not in text.lower() and "풀" not in text
    # Page one's first action for the largest class is the timeout's own.
    findings["action_items"] = items
    assert overview.rank_actions(findings)[0]["key"] == "timeout_capacity"
    # Without a capacity verdict the same action, without a threshold.
    plain = actions.build_action_items(_findings([("57014", 400)], [("57014", "traffic")]), details)
    assert [i["key"] for i in plain] == ["timeout", "error_rate_monitoring"]


def test_a_realtime_storm_in_one_stretch_of_time_gets_jitter_and_back_off_not_a_higher_limit():
    # An outage's reconnect storm: joins refused in minutes 32-35 only, the capacity hinge set
    # aside because the errors follow that stretch of time, not the audience.
    verdict = {"error_class": "realtime:rate_limit", "verdict": "unrelated"}
    doc = _findings([("realtime:rate_limit", 922), ("realtime:disconnect", 5)])
    doc["verdicts"] = [
        {**verdict, "hinge_set_aside": {"kind": "follows_time"}},
        {"error_class": "realtime:disconnect", "verdict": "unrelated"},
    ]
    details = {
        "realtime:rate_limit": {"family": "rate_limit"},
        "realtime:disconnect": {"family": "disconnect"},
    }
    items = actions.build_action_items(doc, details)
    assert [i["key"] for i in items][:2] == ["realtime_disconnect", "realtime_rate_episode"]
    for lang in ("en", "ko"):
        text = narrative.load_locale(lang)
        said = narrative.action_text(items[1], text, lang)
        assert "jitter" in said and ("back-off" in said or "백오프" in said), said
    # Without the stretch of time, the per-second limit's own advice stands.
    doc["verdicts"][0] = verdict
    assert actions.build_action_items(doc, details)[1]["key"] == "realtime_rate"


def test_a_class_without_a_semantic_rule_falls_back_to_its_verdict():
    cap = {"error_class": "F0000", "verdict": "capacity", "k": 50, "k_low": 40, "k_high": 60}
    findings = _findings(
        [("F0000", 30), ("F0001", 5)], [("F0000", "capacity"), ("F0001", "traffic")], [cap]
    )
    details = {"F0000": {"sql_state": "F0000"}, "F0001": {"sql_state": "F0001"}}
    items = actions.build_action_items(findings, details)
    assert [i["key"] for i in items] == ["capacity_plan", "fix_bug", "error_rate_monitoring"]


def test_corrupted_data_internal_foreign_and_custom_errors_have_their_own_actions():
    rows = [("XX001", 30), ("XX000", 5), ("HV00R", 9), ("PT402", 12)]
    verdicts = [(k, "unrelated") for k, _ in rows]
    details = {k: {"sql_state": k} for k, _ in rows}
    keys = [i["key"] for i in actions.build_action_items(_findings(rows, verdicts), details)]
    assert {"data_corrupted", "internal_error", "foreign_data", "custom_status"} <= set(keys)


@pytest.mark.parametrize(
    "family", [r.name for r in vocabulary.REALTIME_FAMILY_RULES if not r.telemetry]
)
def test_every_realtime_error_family_has_its_own_action(family):
    rule, key = actions.choose_rule({"family": family}, None, actions.load_catalogue())
    assert rule is not None and rule in actions.CATALOGUE, family


@pytest.mark.parametrize(
    "sql_state",
    sorted({s for _, s in vocabulary.MESSAGE_SQLSTATE} | set(vocabulary.FATAL_SQLSTATES)),
)
def test_every_sqlstate_the_vocabulary_knows_has_a_semantic_action(sql_state):
    rule, _ = actions.choose_rule({"sql_state": sql_state}, "capacity", actions.load_catalogue())
    assert rule in actions.CATALOGUE, sql_state


def test_every_item_key_has_its_words_in_every_locale():
    keys = {r.key for r in actions.CATALOGUE + actions.VERDICT_RULES}
    keys |= {"alerting", "error_rate_monitoring"}
    for lang in ("en", "ko"):
        catalogue = narrative.load_locale(lang)["actions"]["catalogue"]
        assert keys <= set(catalogue), keys - set(catalogue)
        for key in catalogue:
            base = re.sub(r"_(capacity|episode|capacity_pooler)$", "", key)
            assert base in keys, key
            if key.endswith(("_capacity", "_capacity_pooler")):
                assert "{threshold}" in catalogue[key], key
            if key.endswith("_pooler"):
                assert "{pooler}" in catalogue[key] and "{pooler_lines}" in catalogue[key], key


#: The shipped incident's directory: its action list is its ``incident.json`` recommendations
#: plus the catalogue items its error classes get.
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"
#: Identifier-like words inside a recommendation's text (``registrations.id``, ``snake_case``).
_CODE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(?:[._][A-Za-z0-9_$]+)+")


def shipped_action_identifiers(cache_dir: Path) -> list[str]:
    """Every identifier of the shipped incident's action list, read from its data.

    The recommendations of its ``incident.json`` (each text in every language, the code-like
    words in them, the classes they name) and what the catalogue would name for its error
    classes (class keys, tables, columns, constraints, REST endpoints). Words the report's own
    templates print on every incident (a table called ``registrations``) identify nothing.
    """
    manifest = json.loads((SHIPPED_DIR / "incident.json").read_text(encoding="utf-8"))
    words = set(SHIPPED_IDENTIFIERS)
    for rec in manifest["recommendations"]:
        for text in rec["text"].values():
            words |= {text, *_CODE_WORD.findall(text)}
        words |= set(rec.get("classes") or ())
    incident = load_incident(SHIPPED_DIR, cache_dir=cache_dir, progress=False)
    for cls in error_classes.define_error_classes(incident):
        rows = error_classes.select_class_rows(incident, cls)
        info = actions.describe_class(incident, cls.key, rows)
        words |= {cls.key, *(info.get(k) for k in ("table", "column", "constraint"))}
        # Supabase's own service endpoints (realtime/websocket, auth/user) are every project's.
        words |= {e for e in cls.endpoints if e.startswith("rest/")}
    templates = " ".join(
        text for lang in ("en", "ko") for text in _strings(narrative.load_locale(lang))
    )
    return sorted(w for w in words if w and w not in templates)


def _strings(node: object) -> list[str]:
    """Every string value of a locale (its keys are never printed)."""
    if isinstance(node, dict):
        return [t for v in node.values() for t in _strings(v)]
    if isinstance(node, list):
        return [t for v in node for t in _strings(v)]
    return [node] if isinstance(node, str) else []


@pytest.fixture(scope="module")
def foreign_report(tmp_path_factory):
    """``make report`` (HTML, Korean: the default) on an incident none of whose error classes
    the shipped incident has: statement timeouts, a missing table and Realtime throttling its
    database connects, written by ``tests/unseen_incidents.py`` (no code shared with the
    generator of the shipped data)."""
    root = tmp_path_factory.mktemp("foreign")
    directory = unseen.write_incident(root / "berlin_timeouts", "berlin_timeouts")
    out = root / "reports"
    run = build_params(unseen.webinar_of(directory), directory, output_dir=out, formats="html")
    report.run_report(run, progress=False)
    findings = json.loads(next(out.rglob("findings.json")).read_text(encoding="utf-8"))
    return next(out.rglob("postmortem.html")).read_text(encoding="utf-8"), findings


def test_report_on_another_incident_prints_nothing_of_the_shipped_action_list(
    foreign_report, shared_cache_dir
):
    html, findings = foreign_report
    shipped = {
        c.key
        for c in error_classes.define_error_classes(
            load_incident(SHIPPED_DIR, cache_dir=shared_cache_dir, progress=False)
        )
    }
    assert shipped and not shipped & {c["key"] for c in findings["error_classes"]}
    identifiers = shipped_action_identifiers(shared_cache_dir)
    # The list is the shipped one's: its constraints, its column, its own recommendations.
    assert {
        "registrations_pkey",
        "registrations.id",
        "rest/marketing_stats_daily",
        "42703",
        "22P02",
    } <= set(identifiers)
    found = [w for w in identifiers if w in html]
    assert not found, found
    # ... while the report does list this incident's own actions, by its own identifiers.
    assert findings["action_items"] and "speakers_v2" in html and "statement_timeout" in html


def test_server_errors_called_capacity_name_the_pooler_logs_the_export_holds():
    # pooler_night (tests/_unseen_stack.py): an Edge Function's 500s rise above K 138 while
    # Supavisor refuses its clients; the export's 4,067 supavisor_logs lines are counted as an
    # unsupported source. The item was "Find the server errors on functions/room-state in that
    # product's logs", with neither K nor the pooler.
    key = "http:500:functions/*"
    cap = {"error_class": key, "verdict": "capacity", "k": 138, "k_low": 136, "k_high": 140}
    doc = _findings([(key, 900)], [(key, "capacity")], [cap])
    doc["inputs"] = {
        "accounting": [
            {"file": f"supavisor_logs/page-{i}.json.gz", "kind": "supavisor_logs", "rejected": n}
            for i, n in enumerate((4000, 67))
        ]
        + [{"file": "edge_logs/page-1.json.gz", "kind": "edge_logs", "rejected": 0}]
    }
    details = {key: {"http_status": 500, "key": key, "endpoints": ["functions/room-state"]}}
    (item, *_) = actions.build_action_items(doc, details)
    assert item["key"] == "http_server_error_capacity_pooler", item
    assert item["fields"]["pooler"] == "supavisor_logs" and item["fields"]["pooler_lines"] == 4067
    assert {"kind": "unread_source", "source": "supavisor_logs", "rows": 4067} in item["evidence"]
    for lang in ("en", "ko"):
        said = html.unescape(narrative.action_text(item, narrative.load_locale(lang), lang))
        assert "supavisor_logs" in said and "4,067" in said and "138" in said, said
    # Without pooler lines in the export: K, and no pooler.
    doc["inputs"]["accounting"] = doc["inputs"]["accounting"][-1:]
    (item, *_) = actions.build_action_items(doc, details)
    assert item["key"] == "http_server_error_capacity" and "pooler" not in item["fields"]
    # Not a capacity call: the plain item, as before.
    doc["verdicts"], doc["capacity"] = [{"error_class": key, "verdict": "traffic"}], []
    assert actions.build_action_items(doc, details)[0]["key"] == "http_server_error"


@pytest.mark.parametrize(
    ("status", "endpoint", "key", "said"),
    [
        # PostgREST's 406 is PGRST116: one row asked for (.single()), none or several found.
        (406, "rest/profiles", "http_single_row_rest", "PGRST116"),
        (406, "storage/object/x", "http_not_acceptable", "Accept"),
        (413, "storage/object/recordings", "http_payload_too_large", "413"),
        (431, "auth/user", "http_headers_too_large", "431"),
        (400, "rest/profiles", "http_client_error", "rest/profiles"),
    ],
)
def test_client_errors_are_worded_by_what_their_status_means(status, endpoint, key, said):
    # dst_twenty of tests/_unseen_rooms.py: 431 (headers too large) and PostgREST's 406
    # were both "refused as malformed or not allowed".
    cls = f"http:{status}:{endpoint}"
    details = {cls: {"key": cls, "http_status": status, "endpoints": [endpoint]}}
    items = actions.build_action_items(_findings([(cls, 9)], [(cls, "traffic")]), details)
    assert items[0]["key"] == key
    for lang in ("en", "ko"):
        text = narrative.action_text(items[0], narrative.load_locale(lang), lang)
        assert said in text, text
        if lang == "en":
            assert ("malformed" in text) == (key == "http_client_error"), text
    for names in naming.load_templates().values():  # a name of its own, not "HTTP 431 ..."
        name = naming.name_error_class({"key": cls, "http_status": status}, names)
        assert str(status) in name and "HTTP" not in name, name


def test_korean_actions_put_no_fixed_particle_after_a_value_from_data():
    # isolates of tests/_unseen_isolates.py: '{class}가' printed '... (22001)가' (이만 이천일
    # ends in a consonant: 이). A particle after data is rephrased away or written paired.
    fixed = re.compile(
        r"\{(class|table|column|constraint|endpoints)\}(이|가|을|를|은|는|와|과)(?!\()"
    )
    catalogue = narrative.load_locale("ko")["actions"]["catalogue"]
    wrong = {key: t for key, t in catalogue.items() if fixed.search(t)}
    assert not wrong, wrong
