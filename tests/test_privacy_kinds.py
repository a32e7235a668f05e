"""Every private kind of tests/_private_kinds.py is redacted, every look-alike kept.

Each planted text goes through the three ways ingest redacts: ``redact_text`` (one value),
``redact_values`` on 70 copies (so its RE2 gates and the plain-query path are on) and
``redact_series`` (the pre-filter first). The random-token rule is checked by simulation:
its miss rate on random base64 secrets and what it does to real identifiers.
"""

from __future__ import annotations

import base64
import random

import pandas as pd
import pytest
from _private_kinds import KEEP, PRIVATE

from analysis import privacy

CASES = [(kind, text, secret) for kind, pairs in PRIVATE.items() for text, secret in pairs]


def _three_ways(text: str) -> list[str]:
    return [
        privacy.redact_text(text),
        privacy.redact_values([text] * 70)[0],
        privacy.redact_series(pd.Series([text, None], dtype="string")).iloc[0],
    ]


@pytest.mark.parametrize(("kind", "text", "secret"), CASES, ids=[c[0] for c in CASES])
def test_a_planted_private_value_is_redacted(kind, text, secret):
    assert secret in text  # the case plants what it searches for
    for out in _three_ways(text):
        assert secret not in out, (kind, out)


@pytest.mark.parametrize("text", KEEP)
def test_a_look_alike_is_kept(text):
    for value in (text, f"at {text}, then"):
        assert _three_ways(value) == [value] * 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1112 no", "card 4111 1111 1111 1112 no"),  # fails Luhn
        ("card 1111 1111 1111 1117", "card 1111 1111 1111 1117"),  # no card starts with 1
        ("4012-8888-8888-1881", "[card]"),  # a whole value, with separators
        ("2511230705198522", "[card]"),  # a whole free-text field (a ray id: below)
        ("900101-1234567", "[id-number]"),
        ("901301-1234567", "901301-1234567"),  # month 13: no date
        ("%3D9f86d081884c7d659a2feaa0c55ad015", "%3D[secret]"),
        (
            "?x=%3Df257ce42-723a-4fad-a9a5-1bd8c154d7ce",
            "?x=%3Df257ce42-723a-4fad-a9a5-1bd8c154d7ce",
        ),
        (
            "ApiKeyF257CE42-723A-4FAD-A9A5-1BD8C154D7CE",
            "ApiKeyF257CE42-723A-4FAD-A9A5-1BD8C154D7CE",
        ),
        ('{"code":"23505","key":"presence-1"}', '{"code":"23505","key":"presence-1"}'),
        ('{"password":""}', '{"password":""}'),
        ('{"pin": 123456}', '{"pin": [redacted]}'),
        ("Authorization: Bearer [token]", "Authorization: Bearer [token]"),
        # Disguises: only the part whose decoding holds something changes, and to its view.
        ("?q=4111%201111%201111%201111&page=2", "?q=[card]&page=2"),
        ("?b=%7B%22password%22%3A%22x1%22%7D&n=%2A", '?b={"password":"[redacted]"}&n=%2A'),
        ("?state=a2ltQGV4YW1wbGUuY29t&n=1", "?state=[redacted]&n=1"),
        ("?state=bG9naW4tcGFnZQ&n=1", "?state=bG9naW4tcGFnZQ&n=1"),
        ("postgres://u:p@ss@db.example.com/x", "postgres://u:[redacted]@db.example.com/x"),
        ("kim\u200b@example.com \u2014 ok", "[email] - ok"),
        ("?t%3DeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", "?t%3D[jwt]"),
        ("\u0660\u0661\u0660-1234-5678", "[phone]"),
        # Python's \s holds the information separators: so does the vectorised path's gate.
        ("password\x1c: Z9abc123def", "password\x1c: [redacted]"),
        ("token: expired", "token: expired"),
    ],
)
def test_long_token_rules_at_their_edges(text, expected):
    assert _three_ways(text) == [expected] * 3


def test_digits_alone_are_an_id_in_a_column_of_ids():
    # The shipped incident has a Cloudflare ray id of 16 decimal digits that passes Luhn.
    ray = "2511230705198522"
    assert privacy.redact_text(ray, identifiers=True) == ray
    assert privacy.redact_values([ray] * 70, identifiers=True)[0] == ray
    series = pd.Series([ray, "4242424242424242 x"], dtype="string", name="cf_ray")
    out = privacy.redact_series(series, cache={ray: "[card]"}, identifiers=True)
    assert out.tolist() == [ray, "[card] x"]  # the free-text cache is not read


def _random_token(rng: random.Random, length: int) -> str:
    token = base64.b64encode(rng.randbytes(length)).decode()[:length]
    return token.replace("+", "-").replace("/", "_") if rng.random() < 0.5 else token


def test_random_base64_secrets_are_caught_by_simulation():
    # 32 characters is the shortest run the rule judges; random base64 changes character
    # class at about 0.64 per character, so few fall under MIN_RUN_CHANGES.
    rng = random.Random(12)
    tokens = [_random_token(rng, length) for length in (32, 40, 44, 64, 88) for _ in range(400)]
    missed = [t for t in tokens if "[secret]" not in privacy.redact_text(f"token {t} end")]
    assert len(missed) / len(tokens) < 0.02, missed[:5]


#: Names of the kind logs hold: functions, constraints, paths, classes, package files.
IDENTIFIERS = [
    "getRegistrationsForWebinarV2ByUser",
    "webinar_registrations_webinar_id_user_id_key",
    "/rest/v1/rpc/get_webinar_questions_with_votes_v2",
    "/storage/v1/object/public/avatars/F257CE42-723A-4FAD-A9A5-1BD8C154D7CE.png",
    "AbstractSingletonProxyFactoryBean2",
    "TestDataFrameQueryInWithColumnRefs",
    "PyArray_CreateMultiSortedStridePerm",
    "LocalUtilsAddStackToTracingNoReplyParams",
    "org/en-US/docs/Web/API/WebSocket/close",
    "/usr/share/zoneinfo/America/New_York",
    "Last_Saturday_of_the_month_at_fiscal_year_end",
    "com.supabase.realtime.ChannelSubscriptionManager",
    "RealtimeWeb.RealtimeChannel.handle_in/3",
    "pg_stat_statements_reset_v1_10_Query42",
]


@pytest.mark.parametrize("name", IDENTIFIERS)
def test_names_are_not_secrets(name):
    assert privacy.redact_text(f"in {name}: failed") == f"in {name}: failed"


def test_the_manifest_words_shown_are_redacted_and_the_rest_kept():
    manifest = {
        "name": "outage, ask kim.minji@example.com",
        "project_ref": "ref 010-2345-6789",
        "display_tz": "Asia/Seoul",
        "claims": [{"statement": "peak \uff08\uff10\uff11\uff10\uff09 4111%201111%201111%201111"}],
        "recommendations": [{"text": {"en": "call +82 10-1234-5678", "ko": "no secret"}}],
    }
    out = privacy.redact_manifest(manifest, key=b"k")
    assert out["name"] == "outage, ask [email]"
    assert out["project_ref"] == "ref [phone]"
    assert out["display_tz"] == "Asia/Seoul"
    assert "4111" not in out["claims"][0]["statement"]
    assert out["recommendations"][0]["text"] == {"en": "call [phone]", "ko": "no secret"}
    assert privacy.redact_manifest({"project_ref": "yqsayphssjznthrxpgfb"}, key=b"k") == {
        "project_ref": "yqsayphssjznthrxpgfb"
    }
