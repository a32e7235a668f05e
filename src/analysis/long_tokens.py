"""Long tokens in free text: card numbers, resident registration numbers, bare secrets.

One step of :func:`analysis.privacy.redact_text` (its docs: docs/report-safety.md,
"Redaction"), kept apart from the structural rules: these tokens are recognised by their
shape alone, wherever they stand. The hints are RE2-safe (ASCII classes, no look-arounds) so
:mod:`analysis.privacy` gates the step on pyarrow's RE2 before Python's patterns run.
"""

from __future__ import annotations

import re

#: A uuid (any case), as the ids of rows and requests are written.
UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# Long tokens: 13+ digits (a card number, spaced or dashed), a resident registration number,
# 32+ characters of base64 (hex included). Every match of _CARD_RE, _RRN_RE, _HEX_SECRET_RE
# and _RUN_RE contains one of these; ASCII classes only, so RE2 and Python's ``re`` read
# them alike.
DIGITS_HINT = r"[0-9](?:[ -]?[0-9]){12}|[0-9]{6} *- *[0-9][0-9*]{6}"
RUN_HINT = r"[A-Za-z0-9+/_-]{32}"
LONG_HINT = f"{DIGITS_HINT}|{RUN_HINT}"

# A payment card number: 13 to 19 digits, bare or in groups of 3 to 6 split by a space or a
# dash. Only a number that starts as cards do (2-6: Mastercard, Visa, Amex, JCB, Discover,
# UnionPay) and passes the Luhn check is one, so epoch times (1...), counts and ids survive.
_CARD_RE = re.compile(
    r"(?<![0-9A-Za-z.+-])[2-6][0-9]{2,5}(?:[ -]?[0-9]{3,6}){1,5}(?![0-9A-Za-z-]|\.[0-9])"
)
# A Korean resident registration number: YYMMDD-NNNNNNN (a real month and day; the first
# digit after the dash is the century and sex, 1-8). Korean text may touch it without a space.
# A space may stand for the dash, and a form that masks the last six digits
# (``900101-2******``, as Korean services print one) still shows a birth date and sex.
_RRN_DATE = r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_RRN_RE = re.compile(rf"(?<![0-9.-]){_RRN_DATE}(?: *- *| +)[1-8](?:[0-9]{{6}}|\*{{6}})(?![0-9*-])")
# Without a separator only a number that passes the check digit every number issued before
# October 2020 carries (one random number in ten does; epoch milliseconds of 2025 and 2026
# have no month there, and a card number is taken by its own rule), and never inside a word
# of ASCII letters and digits (a ray id of hex digits: Korean text may touch it).
_RRN_BARE_RE = re.compile(rf"(?<![0-9A-Za-z.-]){_RRN_DATE}[1-8][0-9]{{6}}(?![0-9A-Za-z-])")
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# A bare secret: 32+ hex digits (a session id, an API key, a digest of a password), or a run
# of 32+ base64 characters that reads as random (:func:`_secret_run_or_keep`).
# A run may start after a percent-escape (``%3D<secret>``), never on its two hex digits.
_AFTER_ESCAPE = r"(?<=%[0-9A-Fa-f]{2})"
_HEX_SECRET_RE = re.compile(
    rf"(?:(?<![0-9A-Za-z%])|{_AFTER_ESCAPE})[0-9A-Fa-f]{{32,}}(?![0-9A-Za-z])"
)
_RUN_RE = re.compile(
    rf"(?:(?<![A-Za-z0-9+/_%-])|{_AFTER_ESCAPE})[A-Za-z0-9+/_-]{{32,}}={{0,2}}(?![A-Za-z0-9+/_-])"
)
#: Fewest class changes (upper, lower, digit, other) per character of a random-looking run:
#: random base64 changes class at about 0.64 per character, words in camelCase or snake_case
#: about 0.2-0.35 (docs/report-safety.md, "Redaction", gives the measurement).
MIN_RUN_CHANGES = 0.4
LONG_HINT_RE = re.compile(LONG_HINT)
_DIGITS_HINT_RE = re.compile(DIGITS_HINT)
HEX_HINT = "[0-9A-Fa-f]{32}"
_HEX_HINT_RE = re.compile(HEX_HINT)
_CAPITAL_RE = re.compile("[A-Z]")
_UUID_ANY_RE = re.compile(f"({UUID_TEXT})")  # split() keeps the uuids
_SMALL_RE = re.compile("[a-z]")
_DIGIT_RE = re.compile("[0-9]")
_RUN_SEPARATORS_RE = re.compile(r"[+/_-]")


def redact_long_tokens(text: str, *, identifier: bool = False) -> str:
    """Replace card numbers, resident registration numbers and bare secrets in ``text``.

    Card numbers (card prefixes, Luhn-valid) become ``[card]``, Korean resident registration
    numbers ``[id-number]``, 32+ hex digits and random-looking base64 runs ``[secret]``.
    ``identifier``: ``text`` is made only of hex digits and dashes, as a row's, a ray's or a
    session's id is (a Cloudflare ray id may be 16 decimal digits); then only the numbers
    written with separators, which no such id has, are replaced.
    """
    if _DIGITS_HINT_RE.search(text):
        text = _RRN_RE.sub("[id-number]", text)
        if not identifier:
            text = _RRN_BARE_RE.sub(_rrn_or_keep, text)
        card = _card_with_separators_or_keep if identifier else _card_or_keep
        text = _CARD_RE.sub(card, text)
    if identifier:
        return text
    if _HEX_HINT_RE.search(text):
        text = _HEX_SECRET_RE.sub(_hex_or_keep, text)
    return _RUN_RE.sub(_secret_run_or_keep, text)


def _rrn_or_keep(match: re.Match) -> str:
    digits = [int(ch) for ch in match.group(0)]
    check = (11 - sum(w * d for w, d in zip(_RRN_WEIGHTS, digits, strict=False)) % 11) % 10
    return "[id-number]" if check == digits[12] else match.group(0)


def _card_with_separators_or_keep(match: re.Match) -> str:
    return _card_or_keep(match) if not match.group(0).isdigit() else match.group(0)


def _card_or_keep(match: re.Match) -> str:
    text = match.group(0)
    digits = [int(ch) for ch in text if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return text
    # Luhn: double every second digit from the right; a card's digits sum to 0 mod 10.
    total = sum(
        d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits[::-1])
    )
    return "[card]" if total % 10 == 0 else text


def _hex_or_keep(match: re.Match) -> str:
    text = match.group(0)
    # All digits is a number, all letters a word ("deadbeef..." has digits in practice).
    if text.isdigit() or not any(ch.isdigit() for ch in text):
        return text
    return "[secret]"


def _secret_run_or_keep(match: re.Match) -> str:
    """Return the run of ``match`` with its random-looking parts as ``[secret]``."""
    run = match.group(0)
    if not _CAPITAL_RE.search(run):  # a secret has capitals (hex ones are found before)
        return run
    if "-" not in run or not _UUID_ANY_RE.search(run):
        return _secret_run(run)
    # A uuid is an id (a request's, a row's), not a secret: only the rest is judged.
    parts = _UUID_ANY_RE.split(run)
    return "".join(p if i % 2 or len(p) < 32 else _secret_run(p) for i, p in enumerate(parts))


def _secret_run(run: str) -> str:
    """Return ``run`` with its random-looking part as ``[secret]``, or ``run`` itself.

    A run may be a path (``/storage/v1/object/sign/<token>``): its leading and trailing
    segments without a capital (``rest``, ``v1``, ``avatars``) stay. The rest is a secret when
    it is 32+ characters, mixes capitals, small letters and digits, and changes character
    class at least :data:`MIN_RUN_CHANGES` per character (camelCase and snake_case names do
    not).
    """
    segments = run.rstrip("=").split("/")
    first, last = 0, len(segments)
    while first < last and not _CAPITAL_RE.search(segments[first]):
        first += 1
    while last > first and not _CAPITAL_RE.search(segments[last - 1]):
        last -= 1
    core = "/".join(segments[first:last])
    letters = _RUN_SEPARATORS_RE.sub("", core)
    if len(core) < 32 or not (
        _CAPITAL_RE.search(letters) and _SMALL_RE.search(letters) and _DIGIT_RE.search(letters)
    ):
        return run
    kinds = [_char_class(ch) for ch in letters]
    changes = sum(a != b for a, b in zip(kinds, kinds[1:], strict=False))
    if changes < MIN_RUN_CHANGES * (len(letters) - 1):
        return run
    tail = run[len(run.rstrip("=")) :]
    return "/".join([*segments[:first], "[secret]", *segments[last:]]) + tail


def _char_class(ch: str) -> int:
    return 0 if ch.isupper() else 1 if ch.islower() else 2
