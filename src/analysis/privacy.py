"""Pseudonymisation and redaction applied by ``ingest`` before any table leaves it.

User ids become ``u_`` + 12 hex digits of a keyed HMAC-SHA256. The key comes from the
environment variable ``POSTMORTEM_PSEUDONYM_KEY`` (its earlier name ``EVENTLIVE_PSEUDONYM_KEY``
is still read when the new one is not set; :func:`analysis.settings.read_variable`); without
either the documented default :data:`DEFAULT_PSEUDONYM_KEY` is used, which is fine for the
shipped (simulated) incident but gives no protection for real data: anyone holding a list of
user ids and this public default can recompute the pseudonyms. Set your own key for real
exports.

Free text (URLs, query strings, messages, details, user agents) loses IP addresses, e-mail
addresses, JWTs, bearer tokens, API keys and secret query parameters (``apikey=``,
``access_token=``, ...), and any known user id found inside it is replaced by its pseudonym.
All functions work on the unique values of a column, so cost grows with cardinality, not rows.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Set

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis import settings
from analysis.disguises import RUN_HINT as _WRAPPED_RUN_HINT
from analysis.disguises import may_disguise, may_hold_run, unwrap, unwrap_many, unwrap_view
from analysis.long_tokens import DIGITS_HINT as _DIGITS_HINT
from analysis.long_tokens import HEX_HINT as _HEX_HINT
from analysis.long_tokens import LONG_HINT as _LONG_HINT
from analysis.long_tokens import LONG_HINT_RE as _LONG_HINT_RE
from analysis.long_tokens import RUN_HINT as _RUN_HINT
from analysis.long_tokens import UUID_TEXT as _UUID_TEXT
from analysis.long_tokens import redact_long_tokens
from analysis.user_fields import (
    FAILING_ROW_RE,
    KEY_DETAIL_RE,
    USER_FILTER_RE,
    USER_JSON_RE,
    USER_NAMES,
    redact_key_detail,
    redact_user_filter,
    redact_user_json,
)

#: The variable holding the pseudonym key.
ENV_KEY = settings.ENV_PSEUDONYM_KEY
#: Its earlier name, read only when :data:`ENV_KEY` is not set.
LEGACY_ENV_KEY = settings.ALIASES[ENV_KEY]
#: Public default key, for simulated data only (see the module docstring).
DEFAULT_PSEUDONYM_KEY = "supabase-postmortem-public-default-key"

# Phone candidates (no look-arounds: the vectorised pre-filter may run on RE2): a '+' or a
# national form that starts after neither a letter, a digit nor a dash (uuids never qualify).
# ``\s`` stands in brackets only: the RE2 twins spell it out as a class's ASCII content.
_PHONE_HINT = (
    r"\+\d|\(0\d|\(\d{3}\)"
    r"|(?:^|[^0-9A-Za-z-])(?:0\d{1,3}(?:[\s]?[.-][\s]?|[\s])\d{3,4}(?:[\s]?[.-][\s]?|[\s])\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}|01[016789]\d{7,8}|82(?:[\s]?[.-][\s]?|[\s])1[016789][\s.-]"
    r"|0\d{1,3}\)|00\d{0,2}[\s.-]?82[\s.-])"
)
# Any value a pattern below can match contains one of these.
_TRIGGER_RE = (
    r"[@%=.:_]|[\[({<][Aa][Tt][\])}>]|eyJ|AKIA|ASIA|AIza|sk-|xox"
    r"|[Bb][Ee][Aa][Rr][Ee][Rr]|[Bb][Aa][Ss][Ii][Cc]|"
    + _PHONE_HINT
    + "|"
    + _LONG_HINT
    + "|"
    + _WRAPPED_RUN_HINT
)
# The same trigger for RE2 (pyarrow), exact on ASCII text: Python's ``\d`` and ``\s`` are
# Unicode-aware and RE2's are not, so only ASCII values are tested by RE2 (with Python's ASCII
# meaning of both spelled out) and the rest by Python's ``re``.
_TRIGGER_ASCII_RE = _TRIGGER_RE.replace(r"\d", "[0-9]").replace(r"\s", r"\t\n\r\x0b\x0c\x1c-\x1f ")
_USER_ID_HINT = r"[0-9a-fA-F]{8}-"
_HEXISH_RE = re.compile(r"[0-9A-Fa-f-]*")
_ASCII_SPACE = r"\t\n\r\x0b\x0c\x1c-\x1f "
_PHONE_HINT_ASCII_RE = _PHONE_HINT.replace(r"\d", "[0-9]").replace(r"\s", _ASCII_SPACE)
UUID_RE = re.compile(rf"\b{_UUID_TEXT}\b")
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
    r"|A(?:KI|SI)A[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|sbp_[A-Za-z0-9_]{20,}"
    r"|AIza[0-9A-Za-z_-]{30,}"
    r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,})"
    r"|(?<![A-Za-z0-9])sk-(?:[A-Za-z]+-)?[A-Za-z0-9_-]{20,}"
)
# Unicode local parts and domains (Korean, IDN) and an ``@`` encoded once or twice; a local
# part whose ``@`` ends the value or a word (its domain sent in another field) is one too, and
# so is the other half: an ``@`` that starts the value or a word before a domain.
# An ``@`` may also be written as an HTML reference (``&#64;``, ``&commat;``), and by a person
# hiding it from harvesters as ``[at]`` (its dots as ``[dot]``); a local part may be quoted
# (``"kim minji"@...``, RFC 5322) and a domain an address literal (``kim@[192.0.2.1]``).
_AT = r"(?:@|%40|%2540|&\#0*64;|&\#[xX]0*40;|&commat;)"
_SPELT_AT = r"\s?[\[({<](?i:at)[\])}>]\s?"
_SPELT_DOT = r"(?:\.|\s?[\[({<](?i:dot)[\])}>]\s?)"
_DOMAIN = r"(?:[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\w*|\[(?:IPv6:)?[0-9A-Fa-f:.]+\])"
_EMAIL_RE = re.compile(
    # An image's scale in its file name (``icon@2x.png``, Storage objects) is no domain.
    rf"(?:[\w.%+-]+|\\?\"[^\"\\\r\n:,{{}}\[\]<>]{{1,64}}\\?\"){_AT}"
    r"(?!\d(?:\.\d)?x\.(?i:png|jpe?g|gif|webp|svg|avif|heic)(?![\w-]|\.\w))"
    rf"{_DOMAIN}"
    r"|(?<![\w.%+-])(?=[\w.+-]*[^\W\d_])\w[\w.+-]*@(?=[\s\"'<>,;]|$)"
    r"|(?<![^\s\"'<>(\[{,;:=|])(?:@|%40|%2540)[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\w*"
    rf"|[\w.+-]+{_SPELT_AT}[\w-]+(?:{_SPELT_DOT}[\w-]+)*{_SPELT_DOT}[^\W\d_]{{2,}}\b"
)
# Every value _EMAIL_RE can match holds one of these.
_EMAIL_TELL_RE = re.compile(r"@|%40|%2540|&#|&commat;|[\[({<](?i:at)[\])}>]")
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d])"
)
# Candidates only; each is confirmed by ``ipaddress`` so clock times like 05:40:12 survive.
_IPV6_CANDIDATE_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])"
)
# Phone numbers: international (+82 10 ..., also 82-10-... without its '+' or dialled from
# Korea, 0082-10-... or 001-82-...), Korean national forms (also with spaced dashes,
# ``010 - 1234 - 5678``, and the area code closed by a bracket, ``02)345-6789``) and North
# American ones.
# Candidates; a match is a phone only with 8 to 15 digits. Korean text touches a number with
# no space ("휴대폰010-...", "...5678로"), and an identifier may join one with underscores
# (a constraint ``uq_010-1234-5678_key``), so only ASCII letters and digits bound it; a colon
# after a letter ("tel:", "연락처:") does not, one after a digit or hex does (clock times, IPv6).
_PHONE_RE = re.compile(
    r"""(?<![\dA-Za-z.+/-])(?<![\dA-Fa-f]:)(?:
        \+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}
      | \(0\d{1,3}\)[\s.-]?\d{3,4}[\s.-]?\d{4}
      | 0\d{1,3}(?:\s?[.-]\s?|\s)\d{3,4}(?:\s?[.-]\s?|\s)\d{4}
      | 01[016789]\d{7,8}
      | (?:00(?:[1-9]\d?)?[\s.-]?)?82(?:\s?[.-]\s?|\s)1[016789](?:\s?[.-]\s?|\s)\d{3,4}
        (?:\s?[.-]\s?|\s)\d{4}
      | (?<!\()0\d{1,3}\)\s?\d{3,4}[\s.-]?\d{4}
      | \(\d{3}\)[\s.-]?\d{3}[\s.-]\d{4}
      | \d{3}[.-]\d{3}[.-]\d{4}
    )(?![\dA-Za-z-])""",
    re.VERBOSE,
)
_PHONE_HINT_RE = re.compile(_PHONE_HINT)
# Substrings every API key pattern and every user field name contains (cheap gates).
_API_KEY_HINTS = ("_", "AKIA", "ASIA", "AIza", "sk-", "xox", "xapp-", "glpat-")
_USER_FIELD_HINTS = ("user", "uid", "sub", "_id")
# A URI's userinfo password (``postgres://user:secret@host``): a credential in a log line.
# The password runs to the authority's last ``@`` (``p@ss`` is one password).
_URI_PASSWORD_RE = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#]*:)([^\s/?#]+)(@)")
#: JSON fields (also headers in a log's metadata) whose value is a credential; any field named
#: ``*token``, ``*secret``, ``*password``, ``*_key`` or ``*apikey`` too. Narrower than
#: :data:`SECRET_PARAMS`: in JSON ``code`` is an error's code and ``key`` a presence key.
JSON_SECRET_FIELDS = frozenset(
    {
        "apikey", "api_key", "api-key", "x-api-key", "authorization", "proxy-authorization",
        "cookie", "set-cookie", "secret", "client_secret", "password", "passwd", "pwd", "pass",
        "pin", "otp", "token", "jwt", "code_verifier", "signature", "private_key",
    }
)  # fmt: skip
# A JSON ``*_hash`` is a content digest far more often than a one-time credential.
_JSON_SECRET_SUFFIXES = tuple(s for s in _SECRET_SUFFIXES if not s.endswith("hash"))
_JSON_FIELD_HINT = "|".join(
    re.escape(n) for n in sorted({*JSON_SECRET_FIELDS, *_JSON_SECRET_SUFFIXES})
)
# ``"name": "value"`` (also escaped JSON inside a message, single quotes, and numbers).
_JSON_SECRET_RE = re.compile(
    r"""(\\?["'])([A-Za-z][A-Za-z0-9_.-]{0,63})\1(\s*:\s*)"""
    r"""(\\"(?:(?!\\").)*\\"|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|-?[0-9]+)"""
)
# A credential header written as text (``Authorization: Token abc``, ``apikey: abc``).
_HEADER_RE = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])(authorization|proxy-authorization|x-api-key|api[-_]?key)(\s*:\s*)"
    r"((?:bearer|basic|token|digest|negotiate)\s+)?([^\s,;\"'&]+)"
)
# A credential named in free text (a client's ``console.log("token:", t)``, a settings dump):
# ``password: <value>``, ``client_secret = <value>``; ``name=value`` is a parameter's. Only a
# value that looks like one is taken (:func:`_word_secret`): ``token: expired`` stays.
_WORD_SECRET_RE = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])((?:[a-z]+[-_])?(?:password|passwd|secret|token)|x-supabase-auth)"
    r"(\s*:\s*|\s+=\s*|=\s+)([^\s,;\"'&<>\[\](){}]+)"
)
_GATE_WORD_SECRET = rf"(?i)(?:passw|secret|token|supabase-auth)[A-Za-z]*[{_ASCII_SPACE}]*[:=]"
_WORD_SECRET_NAMES = ("passw", "secret", "token", "supabase-auth")
_CHUNK_RE = re.compile(r"\.[0-9]+$")


def pseudonym_key() -> bytes:
    """Return the HMAC key: ``$POSTMORTEM_PSEUDONYM_KEY``, its alias, or the public default.

    An empty variable counts as unset, as for every setting (``make`` passes unset ones empty).
    """
    return (settings.read_variable(os.environ, ENV_KEY)[1] or DEFAULT_PSEUDONYM_KEY).encode()


def key_fingerprint(key: bytes) -> str:
    """Return a short digest identifying ``key`` (for cache keys) without revealing it."""
    return hashlib.sha256(b"fingerprint:" + key).hexdigest()[:16]


def pseudonymise(value: str | None, key: bytes) -> str | None:
    """Return ``u_`` + 12 hex digits of HMAC-SHA256(key, value); ``None`` stays ``None``.

    Ids are lower-cased and stripped first so the same uuid written two ways maps to one
    pseudonym.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    return "u_" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:12]


def pseudonymise_series(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonymise every value of ``values`` (computed once per distinct value)."""
    return _map_unique(values, lambda v: pseudonymise(v, key))


def redact_text(
    text: str, users: Mapping[str, str] | None = None, *, identifiers: bool = False
) -> str:
    """Remove secrets and personal data from one string.

    Parameters
    ----------
    text
        A URL, query string, log message, header value, ...
    users
        Raw user id (lower-case) -> pseudonym; such ids found in the text are replaced.
    identifiers
        ``text`` stands in a column of identifiers (a ray id): a value made only of digits is
        an id there (a Cloudflare ray id may be 16 decimal digits), and a card number elsewhere.

    Returns
    -------
    str
        The text with ``[jwt]``, ``[token]``, ``[redacted]``, ``[api-key]``, ``[email]``,
        ``[ip]``, ``[phone]``, ``[card]``, ``[id-number]``, ``[secret]``, ``[user]``
        placeholders and pseudonymised user ids.
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
            out = KEY_DETAIL_RE.sub(lambda m: redact_key_detail(m, users), out)
        if "Failing row contains (" in out:
            out = FAILING_ROW_RE.sub(r"\1([redacted])", out)
        user_field = any(n in lower for n in _USER_FIELD_HINTS)
        if user_field and ("=" in out or "%3" in out or "." in out):
            out = USER_FILTER_RE.sub(lambda m: redact_user_filter(m, users), out)
        if user_field and '"' in out:
            out = USER_JSON_RE.sub(lambda m: redact_user_json(m, users), out)
        if ":" in out and ('"' in out or "'" in out):
            out = _JSON_SECRET_RE.sub(_json_secret, out)
        if ":" in out and ("authorization" in lower or "key" in lower):
            out = _HEADER_RE.sub(_header_secret, out)
        if (":" in out or "=" in out) and any(n in lower for n in _WORD_SECRET_NAMES):
            out = _WORD_SECRET_RE.sub(_word_secret, out)
        if "=" in out or "%3" in out:
            out = _PARAM_RE.sub(_secret_param, out)
        if any(h in out for h in _API_KEY_HINTS):
            out = _API_KEY_RE.sub("[api-key]", out)
        if _EMAIL_TELL_RE.search(out):
            out = _EMAIL_RE.sub("[email]", out)
        if "." in out:
            out = _IPV4_RE.sub("[ip]", out)
        if ":" in out:
            out = _IPV6_CANDIDATE_RE.sub(_ipv6_or_keep, out)
        if phone_like:
            out = _PHONE_RE.sub(_phone_or_keep, out)
    if _LONG_HINT_RE.search(out):
        out = redact_long_tokens(out, identifier=hexish and (identifiers or not out.isdigit()))
    if may_disguise(out):
        out = unwrap(out, lambda view: redact_text(view, users))
    if users and "-" in out:
        out = UUID_RE.sub(lambda m: users.get(m.group(0).lower(), m.group(0)), out)
    return out


def redact_manifest(
    manifest: Mapping, users: Set[str] = frozenset(), key: bytes | None = None
) -> dict:
    """Return a copy of ``incident.json``'s content with the words a report shows redacted.

    The name, the project's reference, each claim's ``statement`` and each recommendation's
    ``text`` (every language) are people's words, shown as written; they lose what
    :func:`redact_text` removes from log text, and a user id in them becomes its pseudonym
    (:func:`pseudonymise_known_ids`: ``users`` are the pseudonyms of the incident's tables,
    ``key`` the pseudonym key). Other
    keys, and values of another type than expected (left for the manifest's own validation
    to name), are kept as they are.
    """
    key = pseudonym_key() if key is None else key

    def clean(text: str) -> str:
        return pseudonymise_known_ids(redact_text(text), users, key)

    out = dict(manifest)
    # The project's reference is shown in the appendix as the analyst wrote it.
    for field in ("name", "project_ref"):
        if isinstance(out.get(field), str):
            out[field] = clean(out[field])
    for list_key, field in (("claims", "statement"), ("recommendations", "text")):
        items = out.get(list_key)
        if isinstance(items, list):
            out[list_key] = [_clean_field(item, field, clean) for item in items]
    return out


def _clean_field(item: object, field: str, clean) -> object:
    """Return ``item`` with its ``field`` (text, or language -> text) passed through ``clean``."""
    if not isinstance(item, Mapping):
        return item
    value = item.get(field)
    if isinstance(value, str):
        value = clean(value)
    elif isinstance(value, Mapping):
        value = {k: clean(v) if isinstance(v, str) else v for k, v in value.items()}
    return {**item, field: value}


def users_of(tables: Iterable[object]) -> frozenset[str]:
    """Return the pseudonyms in the ``user`` column of every DataFrame among ``tables``."""
    users: set[str] = set()
    for table in tables:
        if isinstance(table, pd.DataFrame) and "user" in table.columns:
            users.update(table["user"].dropna().astype(str))
    return frozenset(users)


def pseudonymise_known_ids(text: str, users: Set[str], key: bytes) -> str:
    """Replace every uuid or whole number in ``text`` whose pseudonym is one of ``users``.

    For text read after ingest, when only the pseudonyms are left: a token is a user's id
    when its pseudonym under ``key`` is a user of the tables. Numbers follow
    :func:`replace_user_ids` in text people type: 4 digits or more, a year kept.
    """
    if not users:
        return text

    def swap(match: re.Match) -> str:
        token = match.group(0)
        if _YEAR_RE.fullmatch(token):
            return token
        pseudonym = pseudonymise(token, key)
        return pseudonym if pseudonym in users else token

    return _NUMBER_RE.sub(swap, UUID_RE.sub(swap, text))


def redact_series(
    values: pd.Series,
    users: Mapping[str, str] | None = None,
    cache: dict | None = None,
    *,
    identifiers: bool = False,
) -> pd.Series:
    """Apply :func:`redact_text` to every distinct non-null value of ``values``.

    The column is dictionary-encoded; a vectorised pre-filter (:func:`needs_redaction`) on
    its distinct values skips those with none of the characters any pattern needs, the rest
    are redacted by :func:`redact_values`, and the rows take their value from the redacted
    dictionary. ``cache`` (text -> result) saves work when batches of one export repeat values;
    a column of ``identifiers`` (:func:`redact_text`) reads digits otherwise and keeps its own.
    """
    text = values.astype("string")
    arr = pa.array(text.array, type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = pc.dictionary_encode(arr)
    distinct = encoded.dictionary
    need = _needs(distinct, users)
    if not need.any():
        return text
    memo = {} if cache is None or identifiers else cache
    todo = distinct.filter(need).to_pylist()
    fresh = list(dict.fromkeys(v for v in todo if v not in memo))
    memo.update(zip(fresh, redact_values(fresh, users, identifiers=identifiers), strict=True))
    redacted = pa.array([memo[v] for v in todo], type=pa.large_string())
    out = pc.replace_with_mask(distinct, need, redacted).take(encoded.indices)
    return pd.Series(pd.array(out, dtype=text.dtype), index=text.index, name=text.name)


# RE2 gates of the costlier patterns: on ASCII text, a value any of whose (nested) matches
# could change it contains a match of its gate. A gate only skips substitutions that would
# change nothing; non-ASCII values (where RE2 and Python's ``re`` may disagree) always run.
_SECRET_NAMES = "|".join(re.escape(n) for n in sorted({*SECRET_PARAMS, *_SECRET_SUFFIXES}))
_GATE_USER_FILTER = USER_NAMES + r"(?:=|%3[Dd]|\.)"
_GATE_PARAM = rf"(?i)(?:{_SECRET_NAMES})(?:\.[0-9]+)?(?:=|%3d)"
_GATE_API_KEY = (
    r"sb_publishable_|sb_secret_|[spr]k_live_|[spr]k_test_|AKIA|ASIA|gh[pousr]_|github_pat_|sbp_"
    r"|AIza|xox[abposre]-|xapp-|glpat-|hf_|sk-"
)
_GATE_IPV4 = r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"
_GATE_JSON_SECRET = rf"(?i)(?:{_JSON_FIELD_HINT})\\?[\"']"
_GATE_HEADER = r"(?i)authorization|x-api-key|api[-_]?key"
_GATE_IPV6 = r":[0-9A-Fa-f]{0,4}:"
_GATE_WRAPPED = rf"=[A-Za-z0-9_-]{{12,}}(?:&|$)|{_WRAPPED_RUN_HINT}"
# ``any(hint in text for hint in hints)``, as one search.
_USER_FIELD_HINT_RE = re.compile("|".join(map(re.escape, _USER_FIELD_HINTS)))
_API_KEY_HINT_RE = re.compile("|".join(map(re.escape, _API_KEY_HINTS)))


def _gate(values: list[str], idx: list[int], pattern: str) -> list[int]:
    """Return the indices of ``idx`` whose value may match: RE2 on ASCII values, others kept."""
    if len(idx) < 64:  # too few to pay for the arrays
        return idx
    try:
        arr = pa.array([values[i] for i in idx], type=pa.string())
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: every value runs
        return idx
    keep = pc.or_(pc.match_substring_regex(arr, pattern), pc.invert(pc.string_is_ascii(arr)))
    return [i for i, k in zip(idx, keep.to_numpy(zero_copy_only=False), strict=True) if k]


def _may_hold_long_tokens(arr: pa.Array) -> pa.Array:
    """Return where :func:`redact_long_tokens` may change an ASCII value (RE2, vectorised).

    A 32-character run made only by a uuid (``eq.<uuid>``, in most query strings) changes
    nothing: the runs are looked for with every uuid out, as :func:`_secret_run_or_keep`
    judges only what is beside a uuid.
    """
    without_ids = pc.replace_substring_regex(arr, _UUID_TEXT, "~")
    return pc.or_(
        # A hex run may touch a uuid's last group: hex is looked for with the ids in.
        pc.match_substring_regex(arr, f"{_DIGITS_HINT}|{_HEX_HINT}"),
        pc.match_substring_regex(without_ids, _RUN_HINT),
    )


def _gate_long_tokens(values: list[str], idx: list[int]) -> list[int]:
    """Return the indices of ``idx`` whose value :func:`redact_long_tokens` may change."""
    if len(idx) < 64:
        return idx
    try:
        arr = pa.array([values[i] for i in idx], type=pa.string())
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: every value runs
        return idx
    keep = pc.or_(_may_hold_long_tokens(arr), pc.invert(pc.string_is_ascii(arr)))
    return [i for i, k in zip(idx, keep.to_numpy(zero_copy_only=False), strict=True) if k]


def _prelude(values: list[str]) -> tuple[dict[int, str], list[int]]:
    """Decide for every value at once what :func:`redact_text` decides before its patterns.

    Returns (index -> lower-cased text of the values whose patterns run, indices of the
    phone-like values). Hexish is tested by RE2 (its class is ASCII in both engines), the
    phone hint by RE2 on ASCII values and by Python's ``re`` on the others.
    """
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: Python decides
        return _prelude_python(values)
    hexish = pc.match_substring_regex(arr, r"^[0-9A-Fa-f-]*$").to_numpy(zero_copy_only=False)
    # Hexish text is ASCII, so ``replace("-", "").isdigit()`` is: digits and dashes, one digit.
    digits = pc.match_substring_regex(arr, r"^[0-9-]*[0-9][0-9-]*$")
    hint = pc.match_substring_regex(arr, _PHONE_HINT_ASCII_RE).to_numpy(zero_copy_only=False)
    ascii_ = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~ascii_):
        hint[i] = _PHONE_HINT_RE.search(values[i]) is not None
    phone_like = (~hexish | digits.to_numpy(zero_copy_only=False)) & hint
    chosen = np.flatnonzero(~hexish | phone_like)
    return {int(i): values[i].lower() for i in chosen}, [int(i) for i in np.flatnonzero(phone_like)]


def _prelude_python(values: list[str]) -> tuple[dict[int, str], list[int]]:
    """Decide :func:`_prelude` value by value, as :func:`redact_text` does."""
    lower: dict[int, str] = {}
    phone: list[int] = []
    for i, text in enumerate(values):
        hexish = _HEXISH_RE.fullmatch(text) is not None
        phone_like = (not hexish or text.replace("-", "").isdigit()) and bool(
            _PHONE_HINT_RE.search(text)
        )
        if not hexish or phone_like:
            lower[i] = text.lower()
            if phone_like:
                phone.append(i)
    return lower, phone


def redact_values(
    values: list[str], users: Mapping[str, str] | None = None, *, identifiers: bool = False
) -> list[str]:
    """Return ``[redact_text(v, users, identifiers=...) for v in values]``, all values at once.

    Plain query strings whose only change is a secret parameter's value are redacted by one
    RE2 replacement (:func:`_redact_simple_queries`); every other value goes through
    :func:`redact_text`'s steps, each on the values its own condition selects, the costlier
    patterns only where their RE2 gate finds a possible match. tests/test_privacy.py and
    tests/test_privacy_vectorised.py compare the result with ``redact_text`` value by value.
    """
    done = _redact_simple_queries(values, users)
    if not done:
        return _redact_steps(list(values), users, identifiers)
    rest = [i for i in range(len(values)) if i not in done]
    steps = _redact_steps([values[i] for i in rest], users, identifiers)
    for i, text in zip(rest, steps, strict=True):
        done[i] = text
    return [done[i] for i in range(len(values))]


# A plain query string: ``[?]name=value(&name=value)*``, ASCII, names as _PARAM_RE reads them
# (at most 64 characters), values of characters that can neither start a parameter of their
# own (no ``=``, ``%``, ``&``) nor a placeholder (``[``), nor hold a space, quote, ``@`` or
# ``:``. On such a string _PARAM_RE matches exactly each ``name=value`` pair, whole, and
# :func:`_secret_param` replaces a secret name's non-empty value and keeps every other pair.
_SIMPLE_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
_SIMPLE_VALUE = r"[A-Za-z0-9_.,*()-]*"
_SIMPLE_QUERY = rf"^\??{_SIMPLE_NAME}={_SIMPLE_VALUE}(?:&{_SIMPLE_NAME}={_SIMPLE_VALUE})*$"
_SECRET_SUFFIX_NAMES = "|".join(re.escape(n) for n in _SECRET_SUFFIXES)
_SIMPLE_SECRET = (
    rf"(^\?|^|&)((?i:{'|'.join(re.escape(n) for n in sorted(SECRET_PARAMS))})"
    rf"|[A-Za-z][A-Za-z0-9_.-]*(?i:{_SECRET_SUFFIX_NAMES})(?:\.[0-9]+)?)=[^&]+"
)


def _redact_simple_queries(values: list[str], users: Mapping[str, str] | None) -> dict[int, str]:
    """Redact the plain query strings among ``values`` with RE2; return index -> result.

    A value is taken when it is a plain query string (``_SIMPLE_QUERY``) on which no step of
    :func:`redact_text` but the secret parameters' can change anything: no phone hint (the
    phone step), no ``eyJ`` (JWTs), no user filter (its RE2 gate), and after the parameters'
    replacement no match of the API-key, IPv4 or (with ``users``) uuid gates. Bearer tokens,
    key details, failing rows, JSON user fields, e-mails and IPv6 each need a character such
    a string cannot hold (a space, ``"``, ``@``, ``%`` or ``:``). Every other value is left to
    the steps. Values are few or not representable in Arrow: nothing is taken.
    """
    if len(values) < 64:
        return {}
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate
        return {}

    def has(array, pattern):
        return pc.match_substring_regex(array, pattern)

    take = pc.and_(has(arr, _SIMPLE_QUERY), pc.invert(pc.match_substring(arr, "eyJ")))
    take = pc.and_not(take, pc.or_(has(arr, _PHONE_HINT_ASCII_RE), has(arr, _GATE_USER_FILTER)))
    index = np.flatnonzero(take.to_numpy(zero_copy_only=False))
    if not len(index):
        return {}
    redacted = pc.replace_substring_regex(arr.take(index), _SIMPLE_SECRET, r"\1\2=[redacted]")
    later = pc.or_(has(redacted, _GATE_API_KEY), has(redacted, _GATE_IPV4))
    later = pc.or_(later, _may_hold_long_tokens(redacted))
    # A value of base64 or hex alone may wrap text (analysis.disguises): the steps judge it.
    later = pc.or_(later, has(redacted, _GATE_WRAPPED))
    if users:
        later = pc.or_(later, has(redacted, _UUID_TEXT))
    keep = np.flatnonzero(~later.to_numpy(zero_copy_only=False))
    texts = redacted.take(keep).to_pylist()
    return dict(zip(index[keep].tolist(), texts, strict=True))


def _redact_steps(
    values: list[str], users: Mapping[str, str] | None, identifiers: bool = False
) -> list[str]:
    """Return ``[redact_text(v, users) for v in values]``, step by step over all values at once.

    Each step of :func:`redact_text` runs on the values its own condition selects, as there;
    the costlier patterns run only where their RE2 gate finds a possible match (a skipped
    substitution would have changed nothing).
    """
    out = list(values)
    n = len(out)
    lower, phone = _prelude(out)
    chosen = list(lower)

    def run(idx, pattern, repl, gate=None):
        if gate is not None:
            idx = _gate(out, idx, gate)
        for i in idx:
            out[i] = pattern.sub(repl, out[i])

    run([i for i in chosen if "bearer" in lower[i] or "basic" in lower[i]], _BEARER_RE,
        lambda m: f"{m.group(1)} [token]")  # fmt: skip
    run([i for i in chosen if "eyJ" in out[i]], _JWT_RE, "[jwt]")
    run([i for i in chosen if "://" in out[i]], _URI_PASSWORD_RE, r"\1[redacted]\3")
    run(
        [i for i in chosen if "Key (" in out[i]],
        KEY_DETAIL_RE,
        lambda m: redact_key_detail(m, users),
    )
    run([i for i in chosen if "Failing row contains (" in out[i]], FAILING_ROW_RE,
        r"\1([redacted])")  # fmt: skip
    fields = [i for i in chosen if _USER_FIELD_HINT_RE.search(lower[i])]
    run([i for i in fields if "=" in out[i] or "%3" in out[i] or "." in out[i]], USER_FILTER_RE,
        lambda m: redact_user_filter(m, users), _GATE_USER_FILTER)  # fmt: skip
    run([i for i in fields if '"' in out[i]], USER_JSON_RE, lambda m: redact_user_json(m, users))
    run([i for i in chosen if ":" in out[i] and ('"' in out[i] or "'" in out[i])],
        _JSON_SECRET_RE, _json_secret, _GATE_JSON_SECRET)  # fmt: skip
    run([i for i in chosen if ":" in out[i] and ("authorization" in lower[i] or "key" in lower[i])],
        _HEADER_RE, _header_secret, _GATE_HEADER)  # fmt: skip
    run([i for i in chosen if (":" in out[i] or "=" in out[i])
         and any(n in lower[i] for n in _WORD_SECRET_NAMES)], _WORD_SECRET_RE, _word_secret,
        _GATE_WORD_SECRET)  # fmt: skip
    run([i for i in chosen if "=" in out[i] or "%3" in out[i]], _PARAM_RE, _secret_param,
        _GATE_PARAM)  # fmt: skip
    run([i for i in chosen if _API_KEY_HINT_RE.search(out[i])], _API_KEY_RE,
        "[api-key]", _GATE_API_KEY)  # fmt: skip
    run([i for i in chosen if _EMAIL_TELL_RE.search(out[i])], _EMAIL_RE,
        "[email]")  # fmt: skip
    run([i for i in chosen if "." in out[i]], _IPV4_RE, "[ip]", _GATE_IPV4)
    run([i for i in chosen if ":" in out[i]], _IPV6_CANDIDATE_RE, _ipv6_or_keep, _GATE_IPV6)
    run(phone, _PHONE_RE, _phone_or_keep)
    for i in _gate_long_tokens(out, list(range(n))):
        if _LONG_HINT_RE.search(out[i]):
            identifier = _HEXISH_RE.fullmatch(values[i]) is not None and (
                identifiers or not values[i].isdigit()
            )
            out[i] = redact_long_tokens(out[i], identifier=identifier)
    plain = [may_disguise(text, runs=False) for text in out]
    runs = _gate(out, [i for i in range(n) if not plain[i]], _WRAPPED_RUN_HINT)
    runs = [i for i in runs if may_hold_run(out[i])]
    disguised = sorted([i for i in range(n) if plain[i]] + runs)
    if disguised:
        texts = unwrap_many([out[i] for i in disguised], lambda views: redact_values(views, users))
        for i, text in zip(disguised, texts, strict=True):
            out[i] = text
    if users:
        run([i for i in range(n) if "-" in out[i]], UUID_RE,
            lambda m: users.get(m.group(0).lower(), m.group(0)), _UUID_TEXT)  # fmt: skip
    return out


def needs_redaction(text: pd.Series, users: Mapping[str, str] | None = None) -> np.ndarray:
    r"""Return which values of a ``string`` series :func:`redact_text` may change (boolean array).

    A value is a candidate when it holds a character or token some pattern needs (or, when
    ``users`` are known, the start of a uuid). ASCII values are tested by pyarrow's compiled
    RE2 (millions a second); others, rare in logs, by Python's ``re``, whose ``\d`` and ``\s``
    are Unicode-aware, so the set of candidates is the same as Python's ``re`` gives.
    """
    if not len(text):
        return np.zeros(0, dtype=bool)
    return _needs(pa.array(text.array, type=pa.string()), users)


def _needs(arr: pa.Array | pa.ChunkedArray, users: Mapping[str, str] | None) -> np.ndarray:
    """Return :func:`needs_redaction` of the values of an Arrow text array (null: False)."""
    user_hint = f"|{_USER_ID_HINT}" if users else ""
    hit = pc.match_substring_regex(arr, _TRIGGER_ASCII_RE + user_hint)
    need = pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False)
    other = np.flatnonzero(~ascii_)
    if len(other):
        full = re.compile(_TRIGGER_RE + user_hint)
        # A value written with look-alikes (full-width digits, a zero-width space in an
        # e-mail) may hold a match only once read as it shows (analysis.disguises).
        need[other] = [
            full.search(v) is not None or unwrap_view(v) != v
            for v in (arr[int(i)].as_py() for i in other)
        ]
    return need


#: Fewest digits of an integer user id replaced wherever it stands in text: shorter numbers
#: (statuses, counts, limits) would meet a user's id too often.
MIN_ID_DIGITS = 4
# A whole number: not inside a word, a dash-joined run (a date, a uuid, a ray id) or a decimal.
_NUMBER_RE = re.compile(rf"(?<![\w-])(?<!\d\.)\d{{{MIN_ID_DIGITS},}}(?![\w-])(?!\.\d)")
# A year as people write it in a title or a note ("Kickoff 2026"): kept when asked to.
_YEAR_RE = re.compile(r"(?:19|20)\d\d")


def replace_user_ids(
    values: pd.Series,
    users: Mapping[str, str],
    *,
    block: int = 1_000_000,
    numbers: bool = True,
    keep_years: bool = False,
) -> pd.Series:
    """Replace known raw user ids found inside text by their pseudonyms.

    ``ingest`` runs this last, once every user id of the incident is known, so an id that
    appears in a message before the row that reveals it as a user's is still replaced.
    Integer ids (an app's own bigint users) of at least :data:`MIN_ID_DIGITS` digits are
    replaced where they stand as a whole number (``Key (author)=(12345)``, ``id=eq.12345``,
    ``user 12345``), unless ``numbers`` is false. ``keep_years`` keeps a four-digit number
    from 1900 to 2099 even when it is a user's id: in text typed by people (a title, a note)
    such a number is far more often a year ("Kickoff 2026") than a person (docs/contract.md
    section 2). Shorter integer ids are replaced only where a field names them a user's
    (:func:`redact_text`): a number under four digits is too often a status, a count or a
    limit. Works block by block (results are zero-copy chunks) to bound memory on huge columns.
    """
    text = values.astype("string")
    if not users or not len(text):
        return text
    memo: dict[str, str] = {}
    known = (
        {k for k in users if len(k) >= MIN_ID_DIGITS and k.isascii() and k.isdigit()}
        if numbers
        else set()
    )

    def number(m: re.Match) -> str:
        text = m.group(0)
        if text not in known or keep_years and _YEAR_RE.fullmatch(text):
            return text
        return users[text]

    def swap(value):
        if value is None:
            return None
        if value not in memo:
            out = UUID_RE.sub(lambda m: users.get(m.group(0).lower(), m.group(0)), value)
            memo[value] = _NUMBER_RE.sub(number, out) if known else out
        return memo[value]

    parts = []
    changed = False
    for first in range(0, len(text), block):
        part = text.iloc[first : first + block]
        # A literal test first (cheap), the uuid pattern only where a dash occurs.
        need = part.str.contains("-", regex=False).fillna(False).astype(bool)
        if need.any():
            hits = part[need].str.contains(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-", regex=True)
            need[need] = hits.fillna(False).astype(bool).to_numpy()
        if known:
            digits = part.str.contains(f"[0-9]{{{MIN_ID_DIGITS}}}", regex=True)
            need |= digits.fillna(False).astype(bool)
        if need.any():
            new = _map_unique(part[need], swap)
            if not new.equals(part[need]):
                part = part.copy()
                part[need] = new
                changed = True
        parts.append(part)
    return pd.concat(parts) if changed else text


def _secret_param(match: re.Match) -> str:
    name, sep, value = match.groups()
    # A cookie too long for one is split in numbered chunks (``sb-<ref>-auth-token.0``).
    lower = _CHUNK_RE.sub("", name.lower())
    if not value or value.startswith("["):
        return match.group(0)
    if lower in SECRET_PARAMS or lower.endswith(_SECRET_SUFFIXES):
        return f"{name}{sep}[redacted]"
    # A value may hold an encoded URL with parameters of its own (``redirect_to=...``).
    return f"{name}{sep}{_PARAM_RE.sub(_secret_param, value)}"


def _json_secret(match: re.Match) -> str:
    quote, name, sep, value = match.groups()
    lower = name.lower()
    if not (lower in JSON_SECRET_FIELDS or lower.endswith(_JSON_SECRET_SUFFIXES)):
        return match.group(0)
    if value[0] not in "\\\"'":  # a number
        return f"{quote}{name}{quote}{sep}[redacted]"
    mark = '\\"' if value.startswith("\\") else value[0]
    inner = value[len(mark) : -len(mark)]
    if not inner or inner.startswith("["):
        return match.group(0)
    return f"{quote}{name}{quote}{sep}{mark}[redacted]{mark}"


def _header_secret(match: re.Match) -> str:
    name, sep, scheme, value = match.groups()
    if value.startswith("["):
        return match.group(0)
    return f"{name}{sep}{scheme or ''}[redacted]"


def _word_secret(match: re.Match) -> str:
    name, sep, value = match.groups()
    # A credential is a PIN, mixes digits and letters, or is a long run of both cases; a
    # word (``expired``) or a dotted name (``self.token``) is no value of one.
    digits = sum(ch.isdigit() for ch in value)
    cased = value.lower() != value != value.upper()
    if not (
        (value.isdigit() and digits >= 4)
        or (0 < digits < len(value) and len(value) >= 6)
        or (len(value) >= 16 and cased and "." not in value)
    ):
        return match.group(0)
    return f"{name}{sep}[redacted]"


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


def _map_unique(values: pd.Series, func) -> pd.Series:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = [func(v) for v in uniques]
    lookup = pd.array([*mapped, None], dtype="string")
    # code -1 (missing) indexes the trailing None.
    return pd.Series(lookup[codes], index=values.index, dtype="string", name=values.name)
