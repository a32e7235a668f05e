"""The vectorised redaction gives, value by value, the bytes of the reference ``redact_text``.

``privacy.redact_values`` takes plain query strings through one RE2 replacement and every
other value through ``redact_text``'s steps behind RE2 gates. Both are compared here with a
frozen copy of ``redact_text`` (tests/_privacy_reference.py) and with the package's own
``redact_text``, on generated values built to reach every decision of the RE2 path: secret
names in any case, names at and past _PARAM_RE's 64-character limit, values that hold a
phone, a JWT, an API key, an IPv4 address, a (known) user id, a placeholder, an encoded
separator, a space, a quote, Korean text or markup, and strings just outside the plain
query grammar.
"""

from __future__ import annotations

import random

import _privacy_reference as reference
import pytest

from analysis import privacy

USERS = [
    "1f0e9c52-7d4b-4a8e-9f1a-2b3c4d5e6f70",
    "A1B2C3D4-E5F6-4789-8ABC-DEF012345678",
    "00000000-0000-4000-8000-000000000000",
]
KNOWN = {u.lower(): privacy.pseudonymise(u, b"k") for u in USERS[:2]}

NAMES = [
    *sorted(privacy.SECRET_PARAMS),
    *("ApiKey", "ACCESS_TOKEN", "Code", "PIN", "X-Amz-Signature", "SESSION_ID", "Email"),
    *("my_api_token", "client-secret", "db_password", "stripe_key", "x-key", "xapikey"),
    *("monkey", "keys", "tokens", "secrets", "passwordless", "key_id", "sessions", "codes"),
    *("select", "order", "limit", "offset", "id", "webinar_id", "session", "type", "a.b", "a-b"),
    *("user_id", "uid", "sub", "subject", "profile_id", "owner_id", "p_user_id", "auth_user"),
    "t" * 63 + "token",  # 68 characters: past _PARAM_RE's name limit
    "a" * 59 + "token",  # 64: at the limit
    "a" * 60 + "token",  # 65
    "k" * 64,
]
VALUES = [
    "", "1", "eq.14c6fcf7", "eq.true", "in.(1,2,3)", "id.desc", "*", "id,nickname,avatar_url",
    f"eq.{USERS[0]}", f"eq.{USERS[1]}", f"eq.{USERS[1].lower()}", f"eq.{USERS[2]}", USERS[0],
    "010-2345-6789", "01023456789", "(02)3456-7890", "555.123.4567", "+82", "1.2.3.4",
    "10.0.0.1", "256.1.1.1", "1.2.3", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdef",
    "eyJhbGciOiJIUzI1NiJ9xx", "sk_live_abcdefgh12345678", "AKIA0123456789ABCDEF", "sk-",
    "sk-proj-AbCdEf0123456789GhIjKl", "ghp_" + "a" * 24, "hf_" + "b" * 30, "sb_secret_abcdefgh",
    "[redacted]", "[x", "u_0123456789ab", "%3D", "a%26b", "x@y.example", "a:b", "fe80::1",
    "a b", 'a"b', "한국", "<b>x</b>", "bearer", "Basic", "x.y-z_w", "(a,b)", "ſ",
]  # fmt: skip
PLAIN = [v for v in VALUES if all(c.isascii() and (c.isalnum() or c in "_.,*()-") for c in v)]
ODD_SEPARATORS = ["?", "", "&&", "%26", "#", " "]


def _query(rng: random.Random) -> str:
    """A query string, usually plain, sometimes just outside the plain grammar."""

    def odd(p: float) -> bool:
        return rng.random() < p

    pairs = [
        rng.choice(NAMES)
        + (rng.choice(["%3D", "", "=="]) if odd(0.05) else "=")
        + rng.choice(VALUES if odd(0.3) else PLAIN)
        for _ in range(rng.randint(1, 4))
    ]
    text = pairs[0]
    for pair in pairs[1:]:
        text += (rng.choice(ODD_SEPARATORS) if odd(0.05) else "&") + pair
    return (rng.choice(["", "/rest/v1/x?", "??"]) if odd(0.1) else "?") + text


def _values(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = [_query(rng) for _ in range(n)]
    # The common case many times over: one secret or plain pair a row.
    out += [f"?session_id=eq.{rng.getrandbits(32):08x}" for _ in range(200)]
    out += [f"?select=*&id=eq.{rng.choice(USERS)}&order=id.desc" for _ in range(50)]
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("users", [None, KNOWN], ids=["no-users", "known-users"])
def test_redact_values_gives_the_reference_bytes(seed, users):
    values = _values(seed, 3000)
    expected = [reference.redact_text(v, users) for v in values]
    assert [privacy.redact_text(v, users) for v in values] == expected
    got = privacy.redact_values(values, users)
    wrong = [(v, g, e) for v, g, e in zip(values, got, expected, strict=True) if g != e]
    assert not wrong, wrong[:5]


def test_the_re2_path_takes_plain_queries_and_leaves_the_rest():
    # Not vacuous: most generated plain query strings are decided by the RE2 path, secrets
    # among them; and what it must not decide (phones, JWTs, user filters, keys, IPs, known
    # ids, long names, anything outside the grammar) it leaves to the steps.
    values = _values(0, 3000)
    taken = privacy._redact_simple_queries(values, KNOWN)
    assert len(taken) > len(values) // 4
    assert sum("[redacted]" in text for text in taken.values()) > len(taken) // 4
    left = [
        f"?a=1&b={v}"
        for v in (
            "010-2345-6789", "eyJhbGciOiJIUzI1NiJ9xx", "sk_live_abcdefgh12345678", "10.0.0.1",
            f"eq.{USERS[0]}", "a b", "x@y.example", "a:b", "%3D", "[redacted]", "한국",
        )
    ] + ["?user_id=eq.1", "?" + "k" * 65 + "=1", "?a=1&&b=2", "a=1#x"]  # fmt: skip
    padding = [f"?n={i}" for i in range(64)]
    taken = privacy._redact_simple_queries(left + padding, KNOWN)
    assert not set(taken) & set(range(len(left)))
    assert set(taken) == set(range(len(left), len(left) + 64))


def test_a_name_past_the_64_character_limit_keeps_its_value_as_python_does():
    # _PARAM_RE reads at most 64 characters of a name: a longer secret-looking name is not a
    # parameter to it, so its value stays. The RE2 path must agree (it leaves such values).
    long_name = "x" * 60 + "token"
    values = [f"?{long_name}=abc&token=def"] + [f"?token={i}" for i in range(64)]
    assert privacy.redact_values(values)[0] == reference.redact_text(values[0])
    assert reference.redact_text(values[0]) == f"?{long_name}=abc&token=[redacted]"


def test_redact_series_of_many_distinct_query_strings_equals_the_reference():
    import pandas as pd

    values = _values(9, 2000)
    series = pd.Series(values * 2 + [None], dtype="string", name="search")
    out = privacy.redact_series(series, KNOWN, cache={})
    expected = [reference.redact_text(v, KNOWN) for v in values] * 2 + [None]
    assert [None if v is pd.NA else v for v in out] == expected
