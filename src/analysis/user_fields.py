"""User identifiers and personal columns recognised by structure, where a field names them.

A user id needs no shape of its own to be found: a PostgREST filter on a user column
(``user_id=eq.<v>``, ``or=(user_id.eq.<v>)``), a JSON field (``"user_id": "<v>"``) or a
unique violation's detail (``Key (webinar_id, user_id)=(…, <v>)``) names the value's column.
Such a value becomes its pseudonym when known, else ``[user]``; a personal column's value in a
key detail (an e-mail, a phone, a name) becomes ``[redacted]``, and a failing row's whole
content too. :mod:`analysis.privacy` applies these before the rules by shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Names of fields and columns whose value identifies a user (compared lower-case).
USER_FIELDS = frozenset(
    {
        "user_id", "userid", "user_uuid", "auth_user", "auth_uid", "auth_user_id", "uid",
        "sub", "subject", "profile_id", "member_id", "owner_id", "viewer_id", "account_id",
        "customer_id",
    }
)  # fmt: skip
USER_NAMES = (
    r"(?i:user_id|userid|user_uuid|auth_user_id|auth_user|auth_uid|uid|subject|sub"
    r"|profile_id|member_id|owner_id|viewer_id|account_id|customer_id)"
)
# A user field may carry a prefix of its own (``p_user_id``, ``target_user_id``: RPC and
# function parameters): still a user's identifier.
PREFIXED_USER_NAMES = rf"(?:[A-Za-z0-9]+_)*{USER_NAMES}"
# PostgREST filters on a user column: ``user_id=eq.<v>``, ``user_id=in.(a,b)``, and inside
# logical filters ``or=(user_id.eq.<v>,...)``, ``user_id.in.(a,b)``.
PGRST_OPS = (
    r"(?:not\.)?(?:eq|neq|gt|gte|lt|lte|like|ilike|match|imatch|in|is|isdistinct|cs|cd|ov"
    r"|sl|sr|nxl|nxr|adj|fts|plfts|phfts|wfts)\."
)
USER_FILTER_RE = re.compile(
    rf"(?<![A-Za-z0-9_])({PREFIXED_USER_NAMES})"
    rf"(?:(=|%3[Dd])((?:{PGRST_OPS})?)|(\.)({PGRST_OPS}))"
    r"(\([^)]*\)|[^&\s#\"'|,()]+)"
)
# JSON fields: ``"user_id": "<v>"`` (also escaped JSON inside a message, and numbers).
USER_JSON_RE = re.compile(rf"(\\?\"{PREFIXED_USER_NAMES}\\?\"\s*:\s*)(\\?\"[^\"\\]*\\?\"|-?\d+)")
# ``Key (a, b)=(x, y)`` details name their columns; personal columns lose their values.
# The column list may hold one level of parentheses: a unique index on an expression
# (``Key (lower(email::text))=(...)``) names its column inside a call.
KEY_DETAIL_RE = re.compile(r"Key \(((?:[^()]|\([^()]*\))*)\)=\((.*?)\)(?= already| is | does|$|\.)")
PERSONAL_COLUMN_RE = re.compile(r"(?i)e-?mail|phone|tel\b|mobile|address|name\b|^ip$|birth")
# A 23502/23514 detail prints the whole failing row: it is a user's data, by structure.
FAILING_ROW_RE = re.compile(r"(Failing row contains )\(.*\)")
LITERALS = frozenset({"null", "true", "false", "*", ""})


def hide_user_value(value: str, users: Mapping[str, str] | None) -> str:
    """Return a user identifier's pseudonym when known, else ``[user]``."""
    if value.lower() in LITERALS or value.startswith(("u_", "[")):
        return value
    # An unknown value in a user field is still a user identifier: hide it too.
    return (users or {}).get(value.lower()) or "[user]"


def redact_user_filter(match: re.Match, users: Mapping[str, str] | None) -> str:
    """Return a :data:`USER_FILTER_RE` match with its user values hidden (one or a list)."""
    name, eq, eq_op, dot, dot_op, value = match.groups()
    sep, op = (eq, eq_op) if eq else (dot, dot_op)
    if value.startswith("("):
        items = [v.strip() for v in value[1:-1].split(",")]
        value = "(" + ",".join(hide_user_value(v.strip("\"'"), users) for v in items) + ")"
    else:
        value = hide_user_value(value, users)
    return f"{name}{sep}{op}{value}"


def redact_user_json(match: re.Match, users: Mapping[str, str] | None) -> str:
    """Return a :data:`USER_JSON_RE` match with its value hidden, quoted as it was."""
    head, value = match.groups()
    if value[0].isdigit() or value[0] == "-":
        return head + hide_user_value(value, users)
    bare = value.replace('\\"', '"').strip('"')
    quote = '\\"' if value.startswith("\\") else '"'
    return f"{head}{quote}{hide_user_value(bare, users)}{quote}"


def redact_key_detail(match: re.Match, users: Mapping[str, str] | None) -> str:
    """Return a :data:`KEY_DETAIL_RE` match with its user and personal columns' values hidden."""
    columns = [c.strip().strip('"') for c in match.group(1).split(",")]
    values = [v.strip() for v in match.group(2).split(",")]
    if len(columns) != len(values):
        # Values with commas of their own: no way to tell which is which; hide them all.
        return f"Key ({match.group(1)})=([redacted])"
    out = []
    for column, value in zip(columns, values, strict=True):
        if is_user_field(column):
            value = hide_user_value(value, users)
        elif PERSONAL_COLUMN_RE.search(column):
            value = "[redacted]"
        out.append(value)
    return f"Key ({match.group(1)})=({', '.join(out)})"


def is_user_field(name: str) -> bool:
    """Tell whether a column or field name identifies a user (``user_id``, ``owner_user_id``)."""
    lower = name.lower()
    return lower in USER_FIELDS or any(lower.endswith("_" + field) for field in USER_FIELDS)
