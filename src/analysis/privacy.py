"""Pseudonymisation and redaction applied by ``ingest`` before any table leaves it.

User ids become ``u_`` + 12 hex digits of a keyed HMAC-SHA256. The key comes from the
environment variable ``EVENTLIVE_PSEUDONYM_KEY``; without it the documented default
:data:`DEFAULT_PSEUDONYM_KEY` is used, which is fine for the shipped (simulated) incident but
gives no protection for real data: anyone holding a list of user ids and this public default
can recompute the pseudonyms. Set your own key for real exports.

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
from collections.abc import Mapping

import pandas as pd

ENV_KEY = "EVENTLIVE_PSEUDONYM_KEY"
#: Public default key for the shipped, simulated incident (see the module docstring).
DEFAULT_PSEUDONYM_KEY = "eventlive-postmortem-public-default-key"

# Any value a pattern below can match contains one of these.
_TRIGGER_RE = r"[@%=.:_]|eyJ|AKIA|[Bb][Ee][Aa][Rr][Ee][Rr]|[Bb][Aa][Ss][Ii][Cc]"
_HEXISH_RE = re.compile(r"[0-9A-Fa-f-]*")
UUID_RE = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_SECRET_PARAM_RE = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(apikey|api_key|api-key|access_token|refresh_token|id_token|token"
    r"|key|secret|password|passwd|client_secret)=[^&\s#\"'|]*"
)
_API_KEY_RE = re.compile(
    r"\b(?:sb_(?:publishable|secret)_[A-Za-z0-9_-]{8,}"
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|sbp_[0-9a-f]{20,})"
)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d])"
)
# Candidates only; each is confirmed by ``ipaddress`` so clock times like 05:40:12 survive.
_IPV6_CANDIDATE_RE = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])"
)
# Parameters whose value is a user id: PostgREST filters like ``user_id=eq.<uuid>``.
_USER_PARAM_RE = re.compile(
    r"(?i)\b(user_id|userid|auth_user|subject|sub|uid)=((?:[a-z]+\.)?)([^&\s#\"'|,)]+)"
)


def pseudonym_key() -> bytes:
    """Return the HMAC key: ``$EVENTLIVE_PSEUDONYM_KEY`` or the documented default."""
    return os.environ.get(ENV_KEY, DEFAULT_PSEUDONYM_KEY).encode()


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
        ``[ip]`` placeholders and pseudonymised user ids.
    """
    out = text
    # Each pattern needs a tell-tale character; skipping absent ones keeps millions of
    # distinct values (ray ids, query strings) cheap.
    if _HEXISH_RE.fullmatch(out) is None:
        lower = out.lower()
        if "bearer" in lower or "basic" in lower:
            out = _BEARER_RE.sub(lambda m: f"{m.group(1)} [token]", out)
        if "eyJ" in out:
            out = _JWT_RE.sub("[jwt]", out)
        if "=" in out:
            out = _SECRET_PARAM_RE.sub(lambda m: f"{m.group(1)}=[redacted]", out)
        if "_" in out or "AKIA" in out:
            out = _API_KEY_RE.sub("[api-key]", out)
        if "@" in out or "%40" in out:
            out = _EMAIL_RE.sub("[email]", out)
        if "." in out:
            out = _IPV4_RE.sub("[ip]", out)
        if ":" in out:
            out = _IPV6_CANDIDATE_RE.sub(_ipv6_or_keep, out)
        if "=" in out:
            out = _USER_PARAM_RE.sub(lambda m: _user_param(m, users), out)
    if users and "-" in out:
        out = UUID_RE.sub(lambda m: users.get(m.group(0).lower(), m.group(0)), out)
    return out


def redact_series(
    values: pd.Series, users: Mapping[str, str] | None = None, cache: dict | None = None
) -> pd.Series:
    """Apply :func:`redact_text` to every distinct non-null value of ``values``.

    A vectorised pre-filter skips values with none of the characters any pattern needs;
    ``cache`` (text -> result) saves work when batches of one export repeat values.
    """
    text = values.astype("string")
    need = text.str.contains(_TRIGGER_RE, regex=True)
    if users:
        need = need | text.str.contains(r"[0-9a-fA-F]{8}-", regex=True)
    need = need.fillna(False).astype(bool)
    if not need.any():
        return text
    out = text.copy()
    memo = {} if cache is None else cache

    def redact(value):
        if value is None:
            return None
        text_value = str(value)
        if text_value not in memo:
            memo[text_value] = redact_text(text_value, users)
        return memo[text_value]

    out[need] = _map_unique(text[need], redact)
    return out


def replace_user_ids(
    values: pd.Series, users: Mapping[str, str], *, block: int = 1_000_000
) -> pd.Series:
    """Replace known raw user ids found inside text by their pseudonyms.

    ``ingest`` runs this last, once every user id of the incident is known, so an id that
    appears in a message before the row that reveals it as a user's is still replaced.
    Works block by block (results are zero-copy chunks) to bound memory on huge columns.
    """
    text = values.astype("string")
    if not users or not len(text):
        return text
    memo: dict[str, str] = {}

    def swap(value):
        if value is None:
            return None
        if value not in memo:
            memo[value] = UUID_RE.sub(lambda m: users.get(m.group(0).lower(), m.group(0)), value)
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
        if need.any():
            new = _map_unique(part[need], swap)
            if not new.equals(part[need]):
                part = part.copy()
                part[need] = new
                changed = True
        parts.append(part)
    return pd.concat(parts) if changed else text


def _user_param(match: re.Match, users: Mapping[str, str] | None) -> str:
    name, op, value = match.group(1), match.group(2), match.group(3)
    if value.startswith("u_") or value.startswith("["):
        return match.group(0)
    known = (users or {}).get(value.lower())
    # An unknown value in a user parameter is still a user identifier: hide it too.
    return f"{name}={op}{known or '[user]'}"


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
