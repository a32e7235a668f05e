"""A frozen copy of ``analysis.privacy.redact_text`` as it was at 30276b0 (session 8's start).

The reference the vectorised redaction (``privacy.redact_values``) is compared with in
tests/test_privacy_vectorised.py: a speed-up of the package's redaction must give these bytes,
value by value. Patterns and helpers are copied verbatim; only what ``redact_text`` needs is
kept. A deliberate change of what is redacted updates this copy in the same commit: since
30276b0, prefixed user fields (``p_user_id``, ``target_user_id``) and ``*_hash`` parameters
(``token_hash``) are redacted (session 8); since session 11 also a URI's userinfo password,
the personal columns of an expression index's key detail (``Key (lower(phone::text))=(...)``)
and an invitation link's ``invite``, ``invite_code`` or ``invitation`` parameter. Since
session 12 the step that redacts long tokens (cards, resident registration numbers, bare hex
and base64 secrets) is the package's own ``redact_long_tokens``, called where
``redact_text`` calls it, and a numbered cookie chunk (``sb-<ref>-auth-token.0``) is named as
its cookie; a phone number may touch Korean text and follow a letter's colon (``tel:``).
Since session 13: Korean phones written ``82-10-...`` or with spaced dashes, a URI password
up to the authority's last ``@``, ``sbp_`` keys of any alphabet, a JWT right after a percent
escape, a value made only of digits read as a card where it is no identifier, and the
package's own step for disguised values (``analysis.disguises.unwrap``), and a phone
between underscores (in a constraint's name).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from analysis import privacy

# Phone candidates (no look-arounds: the vectorised pre-filter may run on RE2): a '+' or a
# national form that starts after neither a letter, a digit nor a dash (uuids never qualify).
_PHONE_HINT = (
    r"\+\d|\(0\d|\(\d{3}\)"
    r"|(?:^|[^0-9A-Za-z-])(?:0\d{1,3}(?:[\s]?[.-][\s]?|[\s])\d{3,4}(?:[\s]?[.-][\s]?|[\s])\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}|01[016789]\d{7,8}|82(?:[\s]?[.-][\s]?|[\s])1[016789][\s.-])"
)
# Any value a pattern below can match contains one of these.
_TRIGGER_RE = (
    r"[@%=.:_]|eyJ|AKIA|AIza|sk-|xox|[Bb][Ee][Aa][Rr][Ee][Rr]|[Bb][Aa][Ss][Ii][Cc]|" + _PHONE_HINT
)
# The same trigger for RE2 (pyarrow), exact on ASCII text: Python's ``\d`` and ``\s`` are
# Unicode-aware and RE2's are not, so only ASCII values are tested by RE2 (with Python's ASCII
# meaning of both spelled out) and the rest by Python's ``re``.
_TRIGGER_ASCII_RE = _TRIGGER_RE.replace(r"\d", "[0-9]").replace(r"\s", r"\t\n\r\x0b\x0c\x1c-\x1f ")
_USER_ID_HINT = r"[0-9a-fA-F]{8}-"
_HEXISH_RE = re.compile(r"[0-9A-Fa-f-]*")
_ASCII_SPACE = r"\t\n\r\x0b\x0c\x1c-\x1f "
_PHONE_HINT_ASCII_RE = _PHONE_HINT.replace(r"\d", "[0-9]").replace(r"\s", _ASCII_SPACE)
UUID_RE = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
# A dot may arrive URL-encoded once or twice (``%2E``, ``%252E``).
_DOT = r"(?:\.|%2[Ee]|%252[Ee])"
# A token may follow a percent escape (``?t%3DeyJ...``): the escape's digits are no word.
_JWT_START = r"(?:\b|(?<=%[0-9A-Fa-f]{2}))eyJ"
_JWT_RE = re.compile(
    rf"{_JWT_START}[A-Za-z0-9_-]{{5,}}{_DOT}[A-Za-z0-9_-]{{5,}}{_DOT}[A-Za-z0-9_-]*"
    # A lone JWT header or payload segment is still a token's part.
    rf"|{_JWT_START}[A-Za-z0-9_-]{{10,}}"
)
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=%-]{8,}")
#: Query parameters whose value is a credential (OAuth/PKCE codes, signatures, sessions, ...)
#: or personal; any parameter named ``*token``, ``*secret``, ``*password`` or ``*key`` too.
SECRET_PARAMS = frozenset(
    {
        "apikey", "api_key", "api-key", "key", "access_token", "refresh_token", "id_token",
        "token", "secret", "client_secret", "password", "passwd", "pwd", "pass", "pin",
        "code", "code_verifier", "code_challenge", "auth_code", "authorization", "auth",
        "otp", "nonce", "signature", "sig", "x-amz-signature", "x-amz-credential",
        "x-amz-security-token", "session", "session_id", "sessionid", "sid", "jwt",
        "private_key", "email", "phone", "phone_number", "tel", "mobile", "invite",
        "invite_code", "invitation",
    }
)  # fmt: skip
# ``*_hash``: Supabase Auth's e-mail links carry their one-time credential as ``token_hash``.
_SECRET_SUFFIXES = ("token", "secret", "password", "_key", "-key", "apikey", "_hash", "-hash")
_PARAM_RE = re.compile(
    r"(?:(?<=%3[Ff])|(?<=%26)|(?<![A-Za-z0-9_.-]))"
    r"([A-Za-z][A-Za-z0-9_.-]{0,63})(=|%3[Dd])((?:(?!%26)[^&\s#\"'|<>])*)"
)
_API_KEY_RE = re.compile(
    r"\b(?:sb_(?:publishable|secret)_[A-Za-z0-9_-]{8,}"
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|sbp_[A-Za-z0-9_]{20,}"
    r"|AIza[0-9A-Za-z_-]{30,}"
    r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,})"
    r"|(?<![A-Za-z0-9])sk-(?:[A-Za-z]+-)?[A-Za-z0-9_-]{20,}"
)
# Unicode local parts and domains (Korean, IDN) and an ``@`` encoded once or twice.
_EMAIL_RE = re.compile(r"[\w.%+-]+(?:@|%40|%2540)[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\w*")
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d])"
)
# Candidates only; each is confirmed by ``ipaddress`` so clock times like 05:40:12 survive.
_IPV6_CANDIDATE_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])"
)
# Phone numbers: international (+82 10 ...), Korean and North American national forms.
# Candidates; a match is a phone only with 8 to 15 digits.
_PHONE_RE = re.compile(
    r"""(?<![\dA-Za-z.+/-])(?<![\dA-Fa-f]:)(?:
        \+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}
      | \(0\d{1,3}\)[\s.-]?\d{3,4}[\s.-]?\d{4}
      | 0\d{1,3}(?:\s?[.-]\s?|\s)\d{3,4}(?:\s?[.-]\s?|\s)\d{4}
      | 01[016789]\d{7,8}
      | 82(?:\s?[.-]\s?|\s)1[016789](?:\s?[.-]\s?|\s)\d{3,4}(?:\s?[.-]\s?|\s)\d{4}
      | \(\d{3}\)[\s.-]?\d{3}[\s.-]\d{4}
      | \d{3}[.-]\d{3}[.-]\d{4}
    )(?![\dA-Za-z-])""",
    re.VERBOSE,
)
_PHONE_HINT_RE = re.compile(_PHONE_HINT)
# Substrings every API key pattern and every user field name contains (cheap gates).
_API_KEY_HINTS = ("_", "AKIA", "AIza", "sk-", "xox", "xapp-", "glpat-")
_USER_FIELD_HINTS = ("user", "uid", "sub", "_id")
#: Names of fields and columns whose value identifies a user (compared lower-case).
USER_FIELDS = frozenset(
    {
        "user_id", "userid", "user_uuid", "auth_user", "auth_uid", "auth_user_id", "uid",
        "sub", "subject", "profile_id", "member_id", "owner_id", "viewer_id", "account_id",
        "customer_id",
    }
)  # fmt: skip
_USER_NAMES = (
    r"(?i:user_id|userid|user_uuid|auth_user_id|auth_user|auth_uid|uid|subject|sub"
    r"|profile_id|member_id|owner_id|viewer_id|account_id|customer_id)"
)
# A user field may carry a prefix of its own (``p_user_id``, ``target_user_id``: RPC and
# function parameters): still a user's identifier.
_PREFIXED_USER_NAMES = rf"(?:[A-Za-z0-9]+_)*{_USER_NAMES}"
# PostgREST filters on a user column: ``user_id=eq.<v>``, ``user_id=in.(a,b)``, and inside
# logical filters ``or=(user_id.eq.<v>,...)``, ``user_id.in.(a,b)``.
_PGRST_OPS = (
    r"(?:not\.)?(?:eq|neq|gt|gte|lt|lte|like|ilike|match|imatch|in|is|isdistinct|cs|cd|ov"
    r"|sl|sr|nxl|nxr|adj|fts|plfts|phfts|wfts)\."
)
_USER_FILTER_RE = re.compile(
    rf"(?<![A-Za-z0-9_])({_PREFIXED_USER_NAMES})"
    rf"(?:(=|%3[Dd])((?:{_PGRST_OPS})?)|(\.)({_PGRST_OPS}))"
    r"(\([^)]*\)|[^&\s#\"'|,()]+)"
)
# JSON fields: ``"user_id": "<v>"`` (also escaped JSON inside a message, and numbers).
_USER_JSON_RE = re.compile(rf"(\\?\"{_PREFIXED_USER_NAMES}\\?\"\s*:\s*)(\\?\"[^\"\\]*\\?\"|-?\d+)")
# ``Key (a, b)=(x, y)`` details name their columns; personal columns lose their values.
# The column list may hold one level of parentheses: a unique index on an expression
# (``Key (lower(email::text))=(...)``) names its column inside a call.
_KEY_DETAIL_RE = re.compile(
    r"Key \(((?:[^()]|\([^()]*\))*)\)=\((.*?)\)(?= already| is | does|$|\.)"
)
# A URI's userinfo password (``postgres://user:secret@host``): a credential in a log line.
_URI_PASSWORD_RE = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#]*:)([^\s/?#]+)(@)")
_PERSONAL_COLUMN_RE = re.compile(r"(?i)e-?mail|phone|tel\b|mobile|address|name\b|^ip$|birth")
# A 23502/23514 detail prints the whole failing row: it is a user's data, by structure.
_FAILING_ROW_RE = re.compile(r"(Failing row contains )\(.*\)")
_LITERALS = frozenset({"null", "true", "false", "*", ""})


def redact_text(text: str, users: Mapping[str, str] | None = None) -> str:
    """Remove secrets and personal data from one string.

    Parameters
    ----------
    text
        A URL, query string, log message, header value, ...
    users
        Raw user id (lower-case) -> pseudonym; such ids found in the text are replaced.

    Returns
    -------
    str
        The text with ``[jwt]``, ``[token]``, ``[redacted]``, ``[api-key]``, ``[email]``,
        ``[ip]``, ``[phone]``, ``[user]`` placeholders and pseudonymised user ids.
    """
    out = text
    # Each pattern needs a tell-tale character; skipping absent ones keeps millions of
    # distinct values (ray ids, query strings) cheap.
    hexish = _HEXISH_RE.fullmatch(out) is not None
    # Ids and ray ids are hex with dashes; a phone in that alphabet is digits and dashes.
    phone_like = (not hexish or out.replace("-", "").isdigit()) and bool(_PHONE_HINT_RE.search(out))
    if not hexish or phone_like:
        lower = out.lower()
        if "bearer" in lower or "basic" in lower:
            out = _BEARER_RE.sub(lambda m: f"{m.group(1)} [token]", out)
        if "eyJ" in out:
            out = _JWT_RE.sub("[jwt]", out)
        if "://" in out:
            out = _URI_PASSWORD_RE.sub(r"\1[redacted]\3", out)
        if "Key (" in out:
            out = _KEY_DETAIL_RE.sub(lambda m: _key_detail(m, users), out)
        if "Failing row contains (" in out:
            out = _FAILING_ROW_RE.sub(r"\1([redacted])", out)
        user_field = any(n in lower for n in _USER_FIELD_HINTS)
        if user_field and ("=" in out or "%3" in out or "." in out):
            out = _USER_FILTER_RE.sub(lambda m: _user_filter(m, users), out)
        if user_field and '"' in out:
            out = _USER_JSON_RE.sub(lambda m: _user_json(m, users), out)
        if "=" in out or "%3" in out:
            out = _PARAM_RE.sub(_secret_param, out)
        if any(h in out for h in _API_KEY_HINTS):
            out = _API_KEY_RE.sub("[api-key]", out)
        if "@" in out or "%40" in out or "%2540" in out:
            out = _EMAIL_RE.sub("[email]", out)
        if "." in out:
            out = _IPV4_RE.sub("[ip]", out)
        if ":" in out:
            out = _IPV6_CANDIDATE_RE.sub(_ipv6_or_keep, out)
        if phone_like:
            out = _PHONE_RE.sub(_phone_or_keep, out)
    # Session 12: card numbers, resident registration numbers and bare secrets, by the
    # package's own step (its rules are tested on planted values in tests/test_privacy_kinds.py).
    out = privacy.redact_long_tokens(out, identifier=hexish and not out.isdigit())
    # Session 13: disguised values (percent-encoded, Unicode look-alikes, base64 or hex
    # wrapped) by the package's own step, which reads each view with this redact_text.
    if privacy.may_disguise(out):
        out = privacy.unwrap(out, lambda view: redact_text(view, users))
    if users and "-" in out:
        out = UUID_RE.sub(lambda m: users.get(m.group(0).lower(), m.group(0)), out)
    return out


def _user_value(value: str, users: Mapping[str, str] | None) -> str:
    """Return a user identifier's pseudonym when known, else ``[user]``."""
    if value.lower() in _LITERALS or value.startswith(("u_", "[")):
        return value
    # An unknown value in a user field is still a user identifier: hide it too.
    return (users or {}).get(value.lower()) or "[user]"


def _user_filter(match: re.Match, users: Mapping[str, str] | None) -> str:
    name, eq, eq_op, dot, dot_op, value = match.groups()
    sep, op = (eq, eq_op) if eq else (dot, dot_op)
    if value.startswith("("):
        items = [v.strip() for v in value[1:-1].split(",")]
        value = "(" + ",".join(_user_value(v.strip("\"'"), users) for v in items) + ")"
    else:
        value = _user_value(value, users)
    return f"{name}{sep}{op}{value}"


def _user_json(match: re.Match, users: Mapping[str, str] | None) -> str:
    head, value = match.groups()
    if value[0].isdigit() or value[0] == "-":
        return head + _user_value(value, users)
    bare = value.replace('\\"', '"').strip('"')
    quote = '\\"' if value.startswith("\\") else '"'
    return f"{head}{quote}{_user_value(bare, users)}{quote}"


def _key_detail(match: re.Match, users: Mapping[str, str] | None) -> str:
    columns = [c.strip().strip('"') for c in match.group(1).split(",")]
    values = [v.strip() for v in match.group(2).split(",")]
    if len(columns) != len(values):
        # Values with commas of their own: no way to tell which is which; hide them all.
        return f"Key ({match.group(1)})=([redacted])"
    out = []
    for column, value in zip(columns, values, strict=True):
        if _is_user_field(column):
            value = _user_value(value, users)
        elif _PERSONAL_COLUMN_RE.search(column):
            value = "[redacted]"
        out.append(value)
    return f"Key ({match.group(1)})=({', '.join(out)})"


def _is_user_field(name: str) -> bool:
    """Tell whether a column or field name identifies a user (``user_id``, ``owner_user_id``)."""
    lower = name.lower()
    return lower in USER_FIELDS or any(lower.endswith("_" + field) for field in USER_FIELDS)


def _secret_param(match: re.Match) -> str:
    name, sep, value = match.groups()
    lower = re.sub(r"\.[0-9]+$", "", name.lower())
    if not value or value.startswith("["):
        return match.group(0)
    if lower in SECRET_PARAMS or lower.endswith(_SECRET_SUFFIXES):
        return f"{name}{sep}[redacted]"
    # A value may hold an encoded URL with parameters of its own (``redirect_to=...``).
    return f"{name}{sep}{_PARAM_RE.sub(_secret_param, value)}"


def _phone_or_keep(match: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[phone]" if 8 <= digits <= 15 else match.group(0)


def _ipv6_or_keep(match: re.Match) -> str:
    text = match.group(0)
    try:
        ipaddress.IPv6Address(text.split("%")[0])
    except ValueError:
        return text
    return "[ip]"
