"""Privacy: keyed pseudonyms, redaction, and no personal data or secret in any ingest output."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest, privacy
from analysis.disguises import unwrap_view

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "incident"
W1 = "f257ce42-723a-4fad-a9a5-1bd8c154d7ce"
USERS = [
    "5d0c9e8a-1111-4a2b-9c3d-0e1f2a3b4c5d",
    "7a1b2c3d-2222-4e5f-8a9b-0c1d2e3f4a5b",
    "9e8d7c6b-3333-4a5b-9c8d-7e6f5a4b3c2d",
    "11111111-2222-4333-8444-555555555555",
]
SECRETS = [
    "198.51.100.77",
    "203.0.113.24",
    "2001:db8:85a3::8a2e:370:7334",
    "fe80::1ff:fe23:4567:890a",
    "jane.doe@example.com",
    "kim.minji@example.co.kr",
    "jane.doe%40example.com",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    "sb_secret_Zx81KqP0aLmN3vB7cD9eF2gH",
    "sb_publishable_AbCdEf0123456789xyz",
    "sk_live_51HxYzAbCdEfGhIjKlMn",
    "AKIAIOSFODNN7EXAMPLE",
    "supersecretpassword",
    "refresh-me-please-123",
    "c2lnbmF0dXJlLW9mLWEtZmFrZS10b2tlbg",
]
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZDBjOWU4YSIsInJvbGUiOiJhdXRoZW50aWNhdGVkIn0"
    ".c2lnbmF0dXJlLW9mLWEtZmFrZS10b2tlbg"
)
DIRTY = (
    f"from 198.51.100.77 and 2001:db8:85a3::8a2e:370:7334 (fe80::1ff:fe23:4567:890a) "
    f"jane.doe@example.com jane.doe%40example.com Bearer {JWT} "
    "key sb_secret_Zx81KqP0aLmN3vB7cD9eF2gH sb_publishable_AbCdEf0123456789xyz "
    "sk_live_51HxYzAbCdEfGhIjKlMn AKIAIOSFODNN7EXAMPLE "
    f"?apikey={JWT}&access_token=refresh-me-please-123&password=supersecretpassword "
    f"user {USERS[3]} kim.minji@example.co.kr 203.0.113.24"
)


def test_pseudonym_is_keyed_deterministic_and_shaped():
    key = b"k1"
    a = privacy.pseudonymise(USERS[0], key)
    assert re.fullmatch(r"u_[0-9a-f]{12}", a)
    assert privacy.pseudonymise(USERS[0].upper() + " ", key) == a
    assert privacy.pseudonymise(USERS[0], b"k2") != a
    assert privacy.pseudonymise(USERS[1], key) != a
    assert privacy.pseudonymise(None, key) is None and privacy.pseudonymise("", key) is None


def test_key_comes_from_the_environment_with_a_documented_default(monkeypatch):
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)
    monkeypatch.delenv(privacy.LEGACY_ENV_KEY, raising=False)
    assert privacy.pseudonym_key() == privacy.DEFAULT_PSEUDONYM_KEY.encode()
    monkeypatch.setenv(privacy.ENV_KEY, "site secret")
    assert privacy.pseudonym_key() == b"site secret"
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert privacy.ENV_KEY in readme and privacy.DEFAULT_PSEUDONYM_KEY in readme
    assert privacy.LEGACY_ENV_KEY in readme


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        (None, "old secret", b"old secret"),  # the earlier name alone still keys
        ("new secret", "old secret", b"new secret"),  # both set: the new name wins
        ("", "old secret", b"old secret"),  # empty is unset
        ("", "", privacy.DEFAULT_PSEUDONYM_KEY.encode()),
    ],
)
def test_the_earlier_key_variable_is_an_alias(monkeypatch, new, old, expected):
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)
    if new is not None:
        monkeypatch.setenv(privacy.ENV_KEY, new)
    monkeypatch.setenv(privacy.LEGACY_ENV_KEY, old)
    assert privacy.pseudonym_key() == expected


def test_the_default_key_names_no_incident():
    # Generic code carries no shipped incident's name (the old default named it).
    assert privacy.ENV_KEY == "POSTMORTEM_PSEUDONYM_KEY"
    assert "eventlive" not in privacy.DEFAULT_PSEUDONYM_KEY.lower()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?apikey=abc123&select=*", "GET /x?apikey=[redacted]&select=*"),
        ("/cb?access_token=abc.def&x=1", "/cb?access_token=[redacted]&x=1"),
        ("client 10.0.0.1 said hi", "client [ip] said hi"),
        ("mail a.b+c@example.org now", "mail [email] now"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer [token]"),
        (f"token {JWT} end", "token [jwt] end"),
        ("key sb_secret_Zx81KqP0aLmN3vB7cD9eF2gH", "key [api-key]"),
        ("host ::1 and 2001:db8::1", "host [ip] and [ip]"),
        ("?select=*&user_id=eq.someone", "?select=*&user_id=eq.[user]"),
    ],
)
def test_redact_text_examples(text, expected):
    assert privacy.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-06 05:40:12.345 UTC",
        "Postgrex.Protocol (#PID<0.48211.37>) disconnected",
        "supabase-js-web/2.45.0",
        "PostgREST 12.2.3",
        'duplicate key value violates unique constraint "registrations_pkey"',
        "?select=*&webinar_id=eq.f257ce42-723a-4fad-a9a5-1bd8c154d7ce&order=id.desc",
        "Key (id)=(42) already exists.",
    ],
)
def test_redaction_keeps_what_is_not_personal(text):
    assert privacy.redact_text(text) == text


def test_a_known_integer_id_in_a_prefixed_user_field_gets_its_pseudonym():
    users = {"12345": privacy.pseudonymise("12345", b"k")}
    text = "/rest/v1/rpc/get_user?p_user_id=12345"
    assert privacy.redact_text(text, users) == f"/rest/v1/rpc/get_user?p_user_id={users['12345']}"
    assert privacy.redact_values([text] * 70, users) == [privacy.redact_text(text, users)] * 70


def test_known_user_ids_inside_text_become_their_pseudonyms():
    users = {USERS[0]: "u_aaaaaaaaaaaa"}
    out = privacy.redact_text(f"Key (webinar_id, user_id)=({W1}, {USERS[0].upper()})", users)
    assert out == f"Key (webinar_id, user_id)=({W1}, u_aaaaaaaaaaaa)"


SHORT = {"42": "u_000000000042", "2026": "u_000000002026", "48213": "u_000000048213"}


@pytest.mark.parametrize(
    "text",
    [
        "/rest/v1/profiles?user_id=eq.42",
        "/rest/v1/rpc/get_feed?p_user_id=42",
        '{"owner_id": 42, "note": "x"}',
        "Key (webinar_id, user_id)=(7, 42) already exists.",
    ],
)
def test_a_short_integer_id_is_replaced_where_a_field_names_it_a_user_s(text):
    out = privacy.redact_text(text, SHORT)
    assert "u_000000000042" in out and not re.search(r"(?<!\d)42(?!\d)", out), out


@pytest.mark.parametrize(
    "text",
    [
        "DatabaseLackOfConnections: Only 42 available connections",
        "GET | 404 | https://x.supabase.co/rest/v1/webinars?limit=42",
        "/api/members/42",
    ],
)
def test_a_short_integer_id_standing_free_is_left_as_a_number(text):
    # Under four digits a number meets statuses, counts and limits more often than a user:
    # replacing it would falsify the evidence (docs/contract.md section 2).
    assert privacy.redact_text(text, SHORT) == text
    values = pd.Series([text], dtype="string")
    assert privacy.replace_user_ids(values, SHORT).iloc[0] == text


def test_titles_and_notes_lose_user_ids_but_keep_their_years():
    values = pd.Series(
        ["Onboarding call with 48213", "Kickoff 2026", "Room 2026-B", "2026 kickoff, user 48213"],
        dtype="string",
    )
    out = privacy.replace_user_ids(values, SHORT, keep_years=True).tolist()
    assert out == [
        "Onboarding call with u_000000048213",
        "Kickoff 2026",
        "Room 2026-B",
        "2026 kickoff, user u_000000048213",
    ]
    # Outside text typed by people a four-digit id is replaced like any other.
    assert privacy.replace_user_ids(values, SHORT).iloc[1] == "Kickoff u_000000002026"


def _incident_with_title(root: Path, title: str) -> Path:
    """An incident whose registrations name integer users 48213 and 2026."""
    (root / "tables").mkdir(parents=True)
    manifest = {
        "name": "title",
        "window_start": "2026-02-06T05:00:00Z",
        "window_end": "2026-02-06T06:00:00Z",
    }
    (root / "incident.json").write_text(json.dumps(manifest))
    (root / "tables/webinars.csv").write_text(
        "id,title,starts_at,ends_at,status,created_at\n"
        f'{W1},"{title}",2026-02-06 05:00:00+00,,ended,\n'
    )
    (root / "tables/registrations.csv").write_text(
        "webinar_id,user_id,created_at\n"
        f"{W1},48213,2026-01-27 05:30:19+00\n{W1},2026,2026-01-27 05:31:19+00\n"
    )
    return root


def test_a_webinar_title_naming_a_user_s_integer_id_reaches_no_table(tmp_path):
    root = _incident_with_title(tmp_path, "Onboarding call with 48213 (2026)")
    got = ingest.load_incident(root, use_cache=False)
    title = got.webinars["title"].iloc[0]
    assert "48213" not in title and title.endswith("(2026)"), title


def _edge(n: int, text: str, user: str) -> dict:
    return {
        "id": f"e0000000-0000-4000-8000-{n:012d}",
        "timestamp": 1770354000000000 + n * 1_000_000,
        "event_message": f"GET | 200 | {text}",
        "metadata": [
            {
                "request": [
                    {
                        "method": "GET",
                        "path": f"/rest/v1/profiles/{text.split()[5]}",
                        "search": f"?q={text}",
                        "url": f"https://x.supabase.co/rest/v1/profiles?{text}",
                        "headers": [
                            {
                                "user_agent": text,
                                "x_client_info": text,
                                "cf_ray": "abc",
                                "x_real_ip": "198.51.100.77",
                            }
                        ],
                        "sb": [{"auth_user": user}],
                    }
                ],
                "response": [{"status_code": 200, "origin_time": 3}],
            }
        ],
    }


def _write_dirty_incident(root: Path) -> None:
    (root / "tables").mkdir(parents=True)
    (root / "edge_logs").mkdir()
    (root / "postgres_logs").mkdir()
    (root / "realtime_logs").mkdir()
    manifest = {
        "name": "dirty",
        "window_start": "2026-02-06T05:00:00Z",
        "window_end": "2026-02-06T06:00:00Z",
    }
    (root / "incident.json").write_text(json.dumps(manifest))
    (root / "annotations.csv").write_text(f'time_utc,label,note\n,"{DIRTY}","{DIRTY}"\n')
    (root / "tables/webinars.csv").write_text(
        "id,title,starts_at,ends_at,status,created_at\n"
        f'{W1},"{DIRTY}",2026-02-06 05:00:00+00,,"{DIRTY}",\n'
    )
    (root / "tables/registrations.csv").write_text(
        "id,webinar_id,user_id,created_at\n"
        + "".join(
            f"a0000000-0000-4000-8000-00000000000{i},{W1},{u},2026-01-27 05:30:19+00\n"
            for i, u in enumerate(USERS[:3])
        )
    )
    (root / "tables/webinar_live_presence.csv").write_text(
        "id,webinar_id,user_id,session_id,joined_at,left_at\n"
        f'p1,{W1},{USERS[1]},"{DIRTY}",2026-02-06 05:01:00+00,\n'
    )
    rows = [_edge(i, DIRTY, USERS[i % 4]) for i in range(4)]
    (root / "edge_logs/page-0001.json.gz").write_bytes(
        gzip.compress(json.dumps({"result": rows, "error": None}).encode())
    )
    pg = [
        {
            "id": "d1",
            "timestamp": 1770354060000000,
            "event_message": f"duplicate key value violates unique constraint x {DIRTY}",
            "metadata": [
                {
                    "parsed": [
                        {
                            "error_severity": "ERROR",
                            "sql_state_code": "23505",
                            "detail": f"{KEY_DETAIL} {DIRTY}",
                            "query": f"select 1 -- {DIRTY}",
                            "user_name": DIRTY,
                            "application_name": DIRTY,
                        }
                    ]
                }
            ],
        }
    ]
    (root / "postgres_logs/page-0001.json").write_text(json.dumps({"result": pg, "error": None}))
    rt = [
        {
            "id": "r1",
            "timestamp": 1770354070000000,
            "event_message": f"Postgrex.Protocol disconnected {DIRTY}",
            "metadata": [{"level": "error", "project": "p"}],
        }
    ]
    (root / "realtime_logs/page-0001.json").write_text(json.dumps({"result": rt, "error": None}))


KEY_DETAIL = f"Key (webinar_id, user_id)=({W1}, {USERS[3]}) already exists."


def _all_cells(incident) -> list[str]:
    frames = [incident.table(n) for n in ingest.TABLE_NAMES]
    frames += [incident.annotations, incident.accounting]
    cells = []
    for frame in frames:
        for col in frame.columns:
            cells.extend(str(v) for v in frame[col].dropna().tolist())
    return cells


@pytest.mark.parametrize("fast", [True, False], ids=["fast-reader", "general-reader"])
def test_no_personal_data_or_secret_survives_in_any_output_table(tmp_path, monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(
            ingest.fast, "read_page_fast", lambda *a, **k: (_ for _ in ()).throw(ingest.NotFast())
        )
    root = tmp_path / "dirty"
    _write_dirty_incident(root)
    incident = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    assert len(incident.requests) == 4 and len(incident.db_errors) == 1
    assert len(incident.realtime_events) == 1 and len(incident.sessions) == 1
    cells = _all_cells(incident)
    blob = "\n".join(cells).lower()
    for secret in SECRETS + USERS:
        assert secret.lower() not in blob, secret
    assert "eyj" not in blob
    # Pseudonyms are consistent across tables: the same person has the same u_ everywhere.
    key = privacy.pseudonym_key()
    expected = {privacy.pseudonymise(u, key) for u in USERS}
    assert set(incident.requests["user"]) == expected
    assert set(incident.registrations["user"]) <= expected
    assert privacy.pseudonymise(USERS[3], key) in incident.db_errors["detail"].iloc[0]
    # And the cached copy is as clean as the returned one.
    cached = ingest.load_incident(root, cache_dir=tmp_path / "cache")
    assert cached.from_cache
    assert "\n".join(_all_cells(cached)).lower() == blob


def test_fixture_incident_is_clean_too():
    incident = ingest.load_incident(FIXTURE, use_cache=False)
    blob = "\n".join(_all_cells(incident)).lower()
    for secret in [
        "203.0.113.24",
        "2001:db8:85a3::8a2e:370:7334",
        "kim.minji@example.co.kr",
        "eyj",
        "sb_secret_",
    ]:
        assert secret not in blob, secret
    users = pd.Series(incident.requests["user"].dropna())
    assert users.str.fullmatch(r"u_[0-9a-f]{12}").all()


# Identifiers and credentials by structure, not only by pattern.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"?or=(user_id.eq.{USERS[0]},webinar_id.eq.{W1})",
            f"?or=(user_id.eq.[user],webinar_id.eq.{W1})",
        ),
        (f"?user_id=in.(u_0123456789ab,{USERS[1]})", "?user_id=in.(u_0123456789ab,[user])"),
        (f"?or=(uid.not.in.({USERS[0]},{USERS[1]}))", "?or=(uid.not.in.([user],[user]))"),
        (f'rejected {{"user_id": "{USERS[2]}", "n": 1}}', 'rejected {"user_id": "[user]", "n": 1}'),
        ('{\\"userId\\":\\"abc\\"}', '{\\"userId\\":\\"[user]\\"}'),
        ('{"user_id": 4711}', '{"user_id": [user]}'),
        ("mail alice.kim%2540example.com", "mail [email]"),
        ("mail 홍길동@회사.한국 now", "mail [email] now"),
        ("mail bob@bücher.example", "mail [email]"),
        ("t=eyJhbGciOiJIUzI1NiJ9%2EeyJzdWIiOiIxMjM0NTY3ODkwIn0%2Edozjgnlmsdf4wjjAB3cd", "t=[jwt]"),
        ("k AIzaSyD3xAmPlEkEy000000000000000000000000 x", "k [api-key] x"),
        ("k sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv x", "k [api-key] x"),
        ("k xoxb-123456789012-1234567890123-AbCdEfGhIjKl x", "k [api-key] x"),
        (
            "/auth/v1/callback?code=4f8c2a9e-7d1b&state=x",
            "/auth/v1/callback?code=[redacted]&state=x",
        ),
        ("?redirect=a%3Fcode%3Dsecretcode%26x%3D1", "?redirect=a%3Fcode%3D[redacted]%26x%3D1"),
        ("?my_api_token=abc&sort=id", "?my_api_token=[redacted]&sort=id"),
        ("Key (phone)=(010-2345-6789) already exists.", "Key (phone)=([redacted]) already exists."),
        (
            f"Key (email, user_id)=(x@y.example, {USERS[0]}) already exists.",
            "Key (email, user_id)=([redacted], [user]) already exists.",
        ),
        ("Failing row contains (7, Kim Minji, null).", "Failing row contains ([redacted])."),
        ("call +82 10-8765-4321 now", "call [phone] now"),
        ("tel (02) 3456-7890", "tel [phone]"),
        ("tel 01087654321.", "tel [phone]."),
        ("us (555) 123-4567", "us [phone]"),
        # User fields with a prefix of their own (RPC parameters, JSON, key details).
        ("/rest/v1/rpc/get_user?p_user_id=12345", "/rest/v1/rpc/get_user?p_user_id=[user]"),
        ("?target_user_id=eq.12345&x=1", "?target_user_id=eq.[user]&x=1"),
        ("?or=(owner_user_id.eq.77,a.eq.1)", "?or=(owner_user_id.eq.[user],a.eq.1)"),
        ('args {"p_user_id": 4711, "n": 2}', 'args {"p_user_id": [user], "n": 2}'),
        (
            "Key (webinar_id, invitee_user_id)=(7, 4711) already exists.",
            "Key (webinar_id, invitee_user_id)=(7, [user]) already exists.",
        ),
        # Supabase Auth's e-mail link credential.
        (
            "/auth/v1/verify?token_hash=pkce_abc123&type=email",
            "/auth/v1/verify?token_hash=[redacted]&type=email",
        ),
        (
            "?password_hash=x1&next=%2Fa%3Ftoken_hash%3Dy2",
            "?password_hash=[redacted]&next=%2Fa%3Ftoken_hash%3D[redacted]",
        ),
    ],
)
def test_structured_identifiers_and_credentials(text, expected):
    assert privacy.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "sub.domain.example auth_user.id",
        "?select=id&user_id=is.null",
        "limit=1000&offset=2000&order=created_at.desc",
        "session 69855ec5.2caf3 27/51607 pid 183027 at 2026-02-06 05:00:51.607 UTC",
        "viewers 1234 5678, version 1.2.3456",
        "uuid 01234567-0123-4567-8901-012345678901",
    ],
)
def test_structured_redaction_keeps_ordinary_text(text):
    assert privacy.redact_text(text) == text


def test_series_prefilter_passes_phone_only_values():
    values = pd.Series(["010-2345-6789", "01023456789", "+82 10 8765 4321", "plain"])
    assert privacy.redact_series(values).tolist() == ["[phone]", "[phone]", "[phone]", "plain"]


def test_vectorised_prefilter_selects_what_python_re_selects():
    # RE2 (pyarrow) and Python's re differ on \d and \s outside ASCII: the candidates must be
    # exactly those of the Python pattern, so redaction is the same whichever engine decides.
    rng = random.Random(7)
    alphabet = [*"aZ09-.:_@%=+()/?& \t\n\x0b\x0c\x1c\x1f", "٣", "\u00a0", "\u2003", "한", "eyJ"]
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    values += ["0٣٣ ٣٣٣ ٣٣٣٣", "x 010\u2003123\u20034567", "(02) 123 4567", "ab12cd34-", None]
    series = pd.Series(values, dtype="string")
    for users in (None, {"00000000-0000-4000-8000-000000000000": "u_000000000000"}):
        pattern = re.compile(privacy._TRIGGER_RE + ("|[0-9a-fA-F]{8}-" if users else ""))
        # Outside ASCII, also a value that reads otherwise (no-break spaces, other digits).
        expected = [
            v is not None and (pattern.search(v) is not None or unwrap_view(v) != v) for v in values
        ]
        assert privacy.needs_redaction(series, users).tolist() == expected
    assert privacy.needs_redaction(pd.Series([], dtype="string")).tolist() == []


def _fragments() -> list[str]:
    """Pieces that meet every step of redact_text, its gates and their edges (Unicode too)."""
    return [
        *SECRETS, JWT, USERS[0], USERS[1].upper(), W1, "u_0123456789ab", "[user]", "gh", "hf",
        "?", "&", "=", "%3D", "%3d", "%26", "%253D", ".", ":", "::", "-", "_", "@", "%40",
        "%2540", '"', '\\"', " ", "\t", "\x0b", "\x1c", "(", ")", ",", "/", "+", "#", "|",
        "user_id", "UID", "sub", "ſub", "Subject", "auth_user", "profile_id", "webinar_id",
        "session_id", "apikey", "API_KEY", "x-api-key", "my_token", "Password", "code", "pin",
        "redirect_to", "p_user_id", "target_USER_ID", "token_hash", "x-hash",
        "eq.", "in.(", "not.eq.", "is.null", "or=(", "select=*", "id=eq.",
        "Bearer ", "basic ", "Key (", "Key (email, user_id)=(", ") already exists.",
        "Failing row contains (", "\"user_id\": ", "\\\"sub\\\":\\\"", "10.0.0.1", "256.1.1.1",
        "1.2.3.4.5", "fe80::1", "2001:db8:1:2:3:4:5:6", "a:b:c", "05:40:12", "+82 10-8765-4321",
        "010-2345-6789", "(02) 3456-7890",
        "01087654321", "555.123.4567", "٣٣٣", "\u00a0", "\u2003", "한국", "K", "ghu_",
        "sb_secret_", "sk-", "sk-proj-", "AKIA", "xoxb-", "glpat-", "abcdefghij0123456789",
        "0123456789abcdef", "ffff-", "eyJ", "12345678-",
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_redact_values_equals_redact_text_value_by_value(seed):
    # The step-by-step, RE2-gated redaction must give exactly what redact_text gives.
    rng = random.Random(seed)
    pieces = _fragments()
    values = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 9))) for _ in range(4000)]
    values += pieces + [DIRTY, f"?user_id=eq.{USERS[0]}&next=%2Fx%3Fapikey%3Dabc"]
    # Python's \s holds \x0b and \x1c-\x1f, RE2's does not: phones spaced by them.
    values += ["tel 010\x0b2345\x0c6789", "x 02\x1c3456\x1f7890", "010\x0b2345\x0b6789"]
    users = {u.lower(): privacy.pseudonymise(u, b"k") for u in USERS[:3]}
    for known in (None, users):
        expected = [privacy.redact_text(v, known) for v in values]
        assert privacy.redact_values(values, known) == expected
        # A value Arrow cannot hold (a lone surrogate) sends the decisions to Python's re.
        odd = [*values, "x\ud800 user_id=eq.1"]
        assert privacy.redact_values(odd, known) == [*expected, privacy.redact_text(odd[-1], known)]


def test_redact_series_redacts_each_distinct_value_as_redact_text_does():
    rng = random.Random(11)
    pieces = _fragments()
    distinct = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(500)]
    values = [rng.choice(distinct) if rng.random() > 0.1 else None for _ in range(3000)]
    users = {u.lower(): privacy.pseudonymise(u, b"k") for u in USERS}
    series = pd.Series(values, dtype="string", index=range(5, 3005), name="search")
    out = privacy.redact_series(series, users, cache={})
    assert out.name == "search" and out.index.equals(series.index) and out.dtype == series.dtype
    expected = [None if v is None else privacy.redact_text(v, users) for v in values]
    assert [None if v is pd.NA else v for v in out] == expected


def test_text_redaction_does_not_depend_on_where_batches_end(tmp_path, monkeypatch):
    # A filter on a user seen only on a later page: with one batch per page it was redacted
    # before that user was known ([user]); it gets the pseudonym however rows are batched.
    root = tmp_path / "late-user"
    (root / "edge_logs").mkdir(parents=True)
    manifest = {"window_start": "2026-02-06T05:00:00Z", "window_end": "2026-02-06T06:00:00Z"}
    (root / "incident.json").write_text(json.dumps({"name": "late-user", **manifest}))
    late = USERS[2]
    pages = [
        [_edge(0, f"a b c d e f user_id=eq.{late}", USERS[0])],
        [_edge(1, "a b c d e f plain", late)],
    ]
    for number, rows in enumerate(pages, 1):
        (root / f"edge_logs/page-{number:04d}.json.gz").write_bytes(
            gzip.compress(json.dumps({"result": rows, "error": None}).encode())
        )
    tables = []
    for batch_rows in (1, 1_000_000):
        monkeypatch.setattr(ingest.assemble, "BATCH_ROWS", batch_rows)
        monkeypatch.setattr(ingest.assemble, "FAST_PAGES", min(batch_rows, 64))
        tables.append(ingest.load_incident(root, use_cache=False).requests)
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pseudonym = privacy.pseudonymise(late, privacy.pseudonym_key())
    assert f"user_id=eq.{pseudonym}" in tables[0]["search"].iloc[0]


def test_every_free_text_column_of_the_tables_is_redacted():
    """A string column of a canonical table is an identifier, held to a pattern or a set by
    its schema, or redacted (``canonical.TEXT_COLUMNS``): a new column must choose."""
    from analysis.ingest.canonical import ID_COLUMNS, TEXT_COLUMNS
    from analysis.ingest.kinds import LOG_KINDS, TABLE_KINDS
    from analysis.schemas import TABLES

    redacted = {(LOG_KINDS | TABLE_KINDS)[kind]: set(cols) for kind, cols in TEXT_COLUMNS.items()}
    loose = {
        (table, col)
        for table, (fields, _) in TABLES.items()
        for col, field in fields.items()
        if field.dtype == "string"
        and col not in ID_COLUMNS
        and not any(r.kind in ("str_matches", "isin", "str_length", "custom") for r in field.rules)
        and col not in redacted.get(table, set())
    }
    assert loose == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "could not connect: postgresql://job:s3cr%21t@db.example.com:6543/app",
            "could not connect: postgresql://job:[redacted]@db.example.com:6543/app",
        ),
        (
            "Key (lower(email::text))=(jane@corp.example) already exists.",
            "Key (lower(email::text))=([redacted]) already exists.",
        ),
        (
            "Key (tenant_id, lower(phone::text))=(7, 4155550100) already exists.",
            "Key (tenant_id, lower(phone::text))=(7, [redacted]) already exists.",
        ),
        # Nothing to take: a URL without userinfo, a user name without a password.
        ("GET https://x.supabase.co/rest/v1/a?b=c:d", "GET https://x.supabase.co/rest/v1/a?b=c:d"),
        ("ssh://deploy@10.0.0.5/app", "ssh://deploy@[ip]/app"),
    ],
)
def test_uri_passwords_and_expression_index_details_are_redacted(text, expected):
    assert privacy.redact_text(text) == expected
    assert privacy.redact_values([text] * 70) == [expected] * 70


def test_an_invitation_link_s_token_is_redacted():
    text = "/rest/v1/rpc/accept?invite=" + "ab12" * 16 + "&type=invite"
    expected = "/rest/v1/rpc/accept?invite=[redacted]&type=invite"
    assert privacy.redact_text(text) == expected
    assert privacy.redact_values([text] * 70) == [expected] * 70
