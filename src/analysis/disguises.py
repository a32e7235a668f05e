"""Private values in disguise: percent-encoded, Unicode look-alikes, base64 or hex wrapped.

One step of :func:`analysis.privacy.redact_text` (docs/report-safety.md, "Redaction"). The
shape rules read text as it stands; a value that is encoded (``4111%201111%201111%201111``,
``%7B%22password%22%3A%22...%22%7D``), written with full-width digits, an ``@`` look-alike or
a zero-width space inside, or wrapped in base64 or hex (``?state=<base64 of JSON>``) holds
the same shapes behind its writing. This step reads such a part as it would be shown once
decoded (its *view*) and redacts the view with the same rules (``redact``, passed in, so the
view's own disguises are read too: a double encoding is two views). Where the view holds
something private, its redacted text replaces the part; a part whose view holds nothing
private stays exactly as written, so encoded paths and queries read as they did.

Each view is built only where its tell-tale is: a percent escape (or ``+`` inside a query
parameter), a character outside ASCII, a query parameter whose whole value is base64 or hex,
or a run of base64 or hex standing alone (a path segment, a JSON string, a word).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote

# Invisible format characters: soft hyphen, Arabic letter mark, Mongolian vowel separator,
# zero-width space / non-joiner / joiner, left-to-right and right-to-left marks, the bidi
# embeddings, overrides and isolates, word joiner and invisible operators, the byte order
# mark, interlinear annotation marks and the tag characters. Inside an e-mail or a number
# they hide it from the shape rules and from a reader alike.
_INVISIBLE_RE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0001\U000e0020-\U000e007f]"
)
# Look-alikes NFKC leaves as they are: ideographic and halfwidth full stops read as a dot
# (as IDNA reads them in a domain), the Unicode dashes and minus sign as a hyphen.
_LOOKALIKES = str.maketrans(
    {
        "\u3002": ".", "\uff61": ".", "\u2010": "-", "\u2011": "-", "\u2012": "-",
        "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "\ufe58": "-",
        "\ufe63": "-", "\uff0d": "-",
    }
)  # fmt: skip
# Cyrillic and Greek letters a font draws like Latin ones (from Unicode's confusables). They
# are read as Latin only inside a word that also holds a Latin letter: a key's prefix with one
# Cyrillic letter (``sb_s\u0435cret_``) reads as the prefix, while Russian or Greek words,
# which hold no Latin letter, stay as they are.
_CONFUSABLES = str.maketrans(
    {
        "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c",
        "\u0443": "y", "\u0445": "x", "\u0455": "s", "\u0456": "i", "\u0458": "j",
        "\u04bb": "h", "\u0501": "d", "\u051b": "q", "\u051d": "w", "\u04cf": "l",
        "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M",
        "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T",
        "\u0425": "X", "\u0405": "S", "\u0406": "I", "\u0408": "J", "\u04ae": "Y",
        "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H",
        "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O",
        "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X", "\u03bf": "o",
    }
)  # fmt: skip
_CONFUSABLE_RE = re.compile("[" + "".join(map(chr, _CONFUSABLES)) + "]")
_WORD_RE = re.compile(r"\w+")
_LATIN_RE = re.compile("[A-Za-z]")
# A circled small a, which NFKC reads as the letter ``a``, standing for ``@`` before a domain.
_CIRCLED_AT_RE = re.compile(r"\u24d0(?=[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2})")
# A decimal digit of another script than ASCII (Python's ``\d`` is Unicode-aware).
_OTHER_DIGIT_RE = re.compile(r"(?![0-9])\d")
_ESCAPE_RE = re.compile(r"%[0-9A-Fa-f]{2}")
# A part of a URL or of text that a percent-encoding may hide a value in: up to whitespace or
# a separator of URL parts, which an encoded value holds only encoded.
_PART_RE = re.compile(r"[^\s&?#/]+")
# A query parameter whose whole value is a run of base64 or hex (``=`` padding, also encoded).
_WRAPPED_RE = re.compile(
    r"(=|%3[Dd])([A-Za-z0-9+/_-]{12,}(?:={1,2}|(?:%3[Dd]){1,2})?)(?=[&#\s\"']|$)"
)
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})+")
# A base64 or hex run standing alone (a path segment, a JSON string, a word of a message):
# bounded by characters no such run holds. A JSON string's whole value may be standard base64
# with its ``/``; elsewhere ``/`` separates path segments.
_RUN_RE = re.compile(
    r'(?<=")[A-Za-z0-9+/_-]{16,}={0,2}(?=\\?")'
    r"|(?<![A-Za-z0-9+_=-])[A-Za-z0-9+_-]{16,}={0,2}(?![A-Za-z0-9+_=-])"
)
# Standard base64 holds ``/``, which a path reads as a separator: a run of path segments of
# the base64 alphabet whose joined text may be one base64 value split by its ``/``.
_SLASHED_RE = re.compile(r"(?<![A-Za-z0-9+_=-])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+_=-])")
#: Cheap test for a run :func:`_run_spans` may decode (the same hint ingest's pre-filter uses,
#: :data:`RUN_HINT`): 16 base64 characters next to a capital, or 20 hex digits. Base64 of
#: text mixes capitals and small letters; camelCase words pass the hint and fail the decoding.
RUN_HINT = r"[A-Z][A-Za-z0-9+/_-]{15}|[A-Za-z0-9+/_-]{15}[A-Z]|[0-9A-Fa-f]{20}"
# Python's twin of the hint, cheaper on its backtracking engine and no narrower: a capital
# anywhere and a 16-character run, or 20 hex digits.
_RUN16_RE = re.compile(r"[A-Za-z0-9+/_-]{16}")
_HEX20_RE = re.compile(r"[0-9A-Fa-f]{20}")
_HEXISH_RE = re.compile(r"[0-9A-Fa-f-]+")
_CAPITAL_RE = re.compile("[A-Z]")
_SMALL_RE = re.compile("[a-z]")
#: The placeholder of an encoded value whose decoding holds something private.
ENCODED = "[redacted]"


def may_disguise(text: str, *, runs: bool = True) -> bool:
    """Tell whether :func:`unwrap` may change ``text`` (a cheap test of its tell-tales).

    ``runs=False`` leaves out the test for a lone base64 or hex run (:func:`may_hold_run`),
    which a caller holding many values makes at once with RE2 (:data:`RUN_HINT`).
    """
    return (
        not text.isascii()
        or "%" in text
        or ("=" in text and ("+" in text or _WRAPPED_RE.search(text) is not None))
        or (runs and may_hold_run(text))
    )


def unwrap_view(text: str) -> str:
    """Return ``text`` as it reads: invisible characters out, look-alikes as what they imitate.

    NFKC turns full-width digits and ``＠`` into ASCII ones; dots and dashes it keeps are
    mapped by hand (:data:`_LOOKALIKES`), digits of other scripts (``٠١٠``) to ASCII digits,
    a circled ``ⓐ`` before a domain to ``@``, and Cyrillic and Greek look-alikes of Latin
    letters to those letters inside words that hold a Latin letter (:data:`_CONFUSABLES`).
    """
    view = _CIRCLED_AT_RE.sub("@", _INVISIBLE_RE.sub("", text))
    view = unicodedata.normalize("NFKC", view).translate(_LOOKALIKES)
    view = _OTHER_DIGIT_RE.sub(lambda m: str(unicodedata.decimal(m.group(0))), view)
    if _CONFUSABLE_RE.search(view) is None:
        return view
    return _WORD_RE.sub(_latin_word, view)


def _latin_word(match: re.Match) -> str:
    word = match.group(0)
    return word.translate(_CONFUSABLES) if _LATIN_RE.search(word) else word


def unwrap(text: str, redact: Callable[[str], str]) -> str:
    """Return ``text`` with every disguised part whose view holds a private value redacted.

    Parameters
    ----------
    text
        Text the shape rules have already redacted as it stands.
    redact
        The shape rules (:func:`analysis.privacy.redact_text` with the incident's users).

    Returns
    -------
    str
        ``text``, where a Unicode view, a percent-decoded part or a base64/hex parameter value
        held something private: the redacted view in its place (a base64 or hex value
        becomes :data:`ENCODED`, its decoding being no text a reader could follow).
    """
    return unwrap_many([text], lambda views: [redact(v) for v in views])[0]


def unwrap_many(texts: list[str], redact_many: Callable[[list[str]], list[str]]) -> list[str]:
    """Return ``[unwrap(t, redact) for t in texts]``, redacting all views of a kind at once.

    ``redact_many(views)`` must equal ``[redact(v) for v in views]``
    (:func:`analysis.privacy.redact_values` is, and is much faster on many views). The views
    are taken in turn: the whole value as it reads (Unicode), its percent-encoded parts, its
    base64 or hex parameter values, each on the result of the one before.
    """
    out = list(texts)
    for spans_of, shown in (
        (_unicode_spans, None),
        (_percent_spans, None),
        (_wrapped_spans, ENCODED),
        (_slashed_spans, ENCODED),
    ):
        spans = {i: spans_of(text) for i, text in enumerate(out)}
        views = [view for parts in spans.values() for _, _, view in parts]
        lookup = dict(zip(views, _redact_unique(views, redact_many), strict=True))
        for i, parts in spans.items():
            for start, end, view in reversed(parts):
                if lookup[view] != view:
                    out[i] = out[i][:start] + (shown or lookup[view]) + out[i][end:]
    return out


def _unicode_spans(text: str) -> list[tuple[int, int, str]]:
    """Return the whole ``text`` as it reads, when that differs from how it is written."""
    if text.isascii():
        return []
    view = unwrap_view(text)
    return [(0, len(text), view)] if view != text else []


def _percent_spans(text: str) -> list[tuple[int, int, str]]:
    """Return the parts of ``text`` that percent-decoding changes, with their decoded text."""
    if not ("%" in text or ("+" in text and "=" in text)):
        return []
    parts = [(m.start(), m.end(), _decoded(m.group(0))) for m in _PART_RE.finditer(text)]
    return [(start, end, view) for start, end, view in parts if view is not None]


def _wrapped_spans(text: str) -> list[tuple[int, int, str]]:
    """Return the parameter values and lone runs of ``text`` that encode printable text."""
    values = []
    if "=" in text:
        values = [(m.start(2), m.end(2), _decode(m.group(2))) for m in _WRAPPED_RE.finditer(text)]
    if may_hold_run(text):
        taken = [(start, end) for start, end, _ in values]
        values += [
            (m.start(), m.end(), _decode(m.group(0)))
            for m in _RUN_RE.finditer(text)
            if _may_encode_text(m.group(0))
            and not any(start < m.end() and m.start() < end for start, end in taken)
        ]
        values.sort()
    return [(start, end, view) for start, end, view in values if view is not None]


def _slashed_spans(text: str) -> list[tuple[int, int, str]]:
    """Return the runs of 2+ path segments of ``text`` whose joined text encodes printable text.

    Standard base64 writes ``/`` for one value in 64, so a value of 24 bytes or more usually
    holds one, and a path or a message splits it there: each part alone decodes to garbage or
    to half of what was encoded (``a2ltQGdtYWlsLmNvbSDsmqrrm7`` + ``tjbk=``). From each
    segment on, the longest run of segments that decodes to printable text is taken (one
    segment alone is :func:`_wrapped_spans`' lone run).
    """
    if "/" not in text or not may_hold_run(text):
        return []
    spans = []
    for match in _SLASHED_RE.finditer(text):
        if "/" not in match.group(0).lstrip("/"):
            continue
        bounds, start = [], match.start()
        for part in match.group(0).split("/"):
            if part:
                bounds.append((start, start + len(part)))
            start += len(part) + 1
        i = 0
        while i < len(bounds):
            found = _joined_span(text, bounds, i)
            if found is not None:
                i, span = found
                spans.append(span)
            i += 1
    return spans


def _joined_span(
    text: str, bounds: list[tuple[int, int]], i: int
) -> tuple[int, tuple[int, int, str]] | None:
    """Return the longest run of segments from ``bounds[i]`` on that decodes to text.

    Returned: the index of its last segment, and its span (start, end, decoded text).

    A value may end with ``/`` (its last six bits all ones): a ``/`` after the last segment
    is tried as part of it. UTF-8 text never encodes to a value starting with ``/`` or ``+``.
    """
    last = bounds[-1][1]
    # Base64 decodes a prefix to a prefix: no run from here holds more text than the longest.
    limit = _text_bytes(text[bounds[i][0] : last + (text[last : last + 1] == "/")])
    if limit < 12:  # 16 characters decode to 12 bytes: no run from here is long enough
        return None
    for j in range(len(bounds) - 1, i - 1, -1):
        end = bounds[j][1]
        for tail in (1, 0) if text[end : end + 1] == "/" else (0,):
            if j == i and not tail:
                continue  # one segment alone: a lone run (_wrapped_spans)
            run = text[bounds[i][0] : end + tail]
            if len(run) < 16 or len(run.rstrip("=")) * 3 // 4 > limit:
                continue
            view = _decode(run) if _may_encode_text(run) else None
            if view is not None:
                return j, (bounds[i][0], end + tail, view)
    return None


def _text_bytes(run: str) -> int:
    """Return how many leading bytes of the base64 ``run`` decode to printable text.

    Its whole groups of four are decoded; a multi-byte character cut by their end, and the
    bytes of a last partial group, are not judged (counted as text).
    """
    bare = run.rstrip("=")
    try:
        data = base64.b64decode(bare[: len(bare) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return 0
    cut = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data[: exc.start].decode("utf-8")
        if exc.reason != "unexpected end of data":
            cut = exc.start
    bad = next((k for k, ch in enumerate(text) if not (ch.isprintable() or ch in "\t\n\r")), None)
    if bad is not None:
        return len(text[:bad].encode())
    return len(bare) * 3 // 4 if cut is None else cut


def may_hold_run(text: str) -> bool:
    """Tell whether ``text`` may hold a lone run that :func:`_wrapped_spans` decodes."""
    return _RUN16_RE.search(text) is not None and (
        not text.islower() or _HEX20_RE.search(text) is not None
    )


def _may_encode_text(run: str) -> bool:
    """Tell whether a lone run may be base64 or hex of text, not an id or a word.

    Identifiers of hex digits and dashes (uuids, ray ids) are ids, hex shorter than 20 digits
    is a ray id's or a counter's length, and a run of decimal digits is a number; base64 of
    text holds capitals and small letters.
    """
    bare = run.rstrip("=")
    if _HEXISH_RE.fullmatch(bare):
        return "-" not in bare and len(bare) >= 20 and not bare.isdigit()
    return _CAPITAL_RE.search(bare) is not None and _SMALL_RE.search(bare) is not None


def _redact_unique(views: list[str], redact_many: Callable[[list[str]], list[str]]) -> list[str]:
    """Return ``redact_many(views)``, each distinct view redacted once."""
    if not views:
        return []
    unique = list(dict.fromkeys(views))
    done = dict(zip(unique, redact_many(unique), strict=True))
    return [done[v] for v in views]


def _decoded(part: str) -> str | None:
    """Return ``part`` percent-decoded once, or ``None`` when that changes nothing.

    In a query parameter (a part holding ``=``) ``+`` is a space, as forms encode it.
    """
    query = "=" in part and "+" in part
    if not (query or _ESCAPE_RE.search(part)):
        return None
    view = unquote(part.replace("+", " ") if query else part)
    return view if view != part else None


def _decode(value: str) -> str | None:
    """Return the printable text ``value`` encodes in hex or base64, or ``None``."""
    bare = re.sub(r"(?:=|%3[Dd])+$", "", value)
    data = None
    if _HEX_RE.fullmatch(bare):
        data = bytes.fromhex(bare)
    elif len(bare) % 4 != 1 and not ("-" in bare or "_" in bare) & ("+" in bare or "/" in bare):
        altchars = b"-_" if "-" in bare or "_" in bare else None
        try:
            data = base64.b64decode(bare + "=" * (-len(bare) % 4), altchars, validate=True)
        except (binascii.Error, ValueError):
            return None
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Random bytes are rarely UTF-8 and almost never printable: only text is read further.
    if len(text) < 6 or not all(ch.isprintable() or ch in "\t\n\r" for ch in text):
        return None
    return text
