"""Integer user ids inside free text: replaced where they stand as a whole number.

An app whose users are integers (its own bigint ids) writes them into messages, details, query
strings and Realtime lines. ``privacy.replace_user_ids`` replaces every known id of at least
``MIN_ID_DIGITS`` digits standing alone, and nothing else: not a number inside a word, a date,
a uuid or a decimal, not a shorter number (a status, a count), not an unknown number.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import privacy

USERS = {"12345": "u_aaaaaaaaaaaa", "2026": "u_bbbbbbbbbbbb", "503": "u_cccccccccccc"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Key (author)=(12345) is not present", "Key (author)=(u_aaaaaaaaaaaa) is not present"),
        ("?id=eq.12345&select=*", "?id=eq.u_aaaaaaaaaaaa&select=*"),
        ('uuid: "12345"', 'uuid: "u_aaaaaaaaaaaa"'),
        ("/rest/v1/profiles/12345", "/rest/v1/profiles/u_aaaaaaaaaaaa"),
        ("user 12345 (12345,67890)", "user u_aaaaaaaaaaaa (u_aaaaaaaaaaaa,67890)"),
        # Not a whole number, or not a known id, or too short to tell from a status.
        ("price 12345.5 v1.12345 x123456 a-12345 12345-b", None),
        ("date 2026-03-12, ray 8f1a-2026-ICN", None),
        ("upstream answered 503 after 99999 ms", None),
    ],
)  # fmt: skip
def test_known_integer_ids_are_replaced_where_they_stand_alone(text, expected):
    got = privacy.replace_user_ids(pd.Series([text, None], dtype="string"), USERS)
    assert got.iloc[0] == (text if expected is None else expected)
    assert got.isna().iloc[1]


def test_text_people_type_can_keep_its_numbers():
    title = pd.Series(["Kickoff 2026"], dtype="string")
    assert privacy.replace_user_ids(title, USERS, numbers=False).iloc[0] == "Kickoff 2026"
    assert privacy.replace_user_ids(title, USERS).iloc[0] == "Kickoff u_bbbbbbbbbbbb"


#: Text apps and Postgres write that still carries a person's data or a credential after
#: redaction (each checked against privacy.redact_text; strict: a fix shows here).
LEFT_IN_TEXT = [
    # A unique index on an expression (lower(phone), lower(full_name)): the detail names a
    # personal column inside parentheses, which the Key (...) rule does not reach.
    ("Key (lower(phone::text))=(4155550100) already exists.", "4155550100"),
    ("Key (lower(full_name::text))=(jane doe) already exists.", "jane doe"),
    # A connection URI's password (an app's or a job's own log line).
    # (a host name with a dot is taken for an e-mail domain, an address is not).
    ("connect to postgres://app_user:hunter2@10.0.0.5:5432/app failed", "hunter2"),
]


@pytest.mark.parametrize(("text", "private"), LEFT_IN_TEXT)
def test_expression_index_details_and_uri_passwords_are_redacted(text, private):
    assert private not in privacy.redact_text(text)
