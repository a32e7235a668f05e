"""Values as safe Markdown: escaping, tables, times, numbers, class and source names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

import pandas as pd

from analysis import languages
from analysis._util import PAGE_CONTROLS, cut_text

TIME_FORMAT = "%H:%M"
TIME_FORMAT_SECONDS = "%H:%M:%S"
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def load_locale(lang: str) -> dict:
    """Return the report's strings for ``lang`` (its file in ``locales/``)."""
    return languages.load_locale(lang)


# Every character Markdown (with nbconvert's plugins: tables, math, bare-URL links,
# strikethrough, task lists, definition lists) or HTML gives a meaning to becomes a numeric
# character reference. The parser decodes a reference to a plain character and the HTML
# renderer escapes it again, so a value is shown exactly as written and can never open a tag,
# a code span, a link, a math span or a table cell. See docs/report-safety.md.
_MARKUP_CHARS = "&<>\"'|\\`*_[]()!#$~:{}+=^"
_ENTITIES = {ord(ch): f"&#{ord(ch)};" for ch in _MARKUP_CHARS}
# Controls (ANSI escapes, NUL, bidi overrides, ...) are shown as U+FFFD; line breaks and tabs
# become spaces so a value stays inside its table row or list item.
_ENTITIES.update(dict.fromkeys(PAGE_CONTROLS, "\ufffd"))
_ENTITIES.update({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "})
_ENTITIES.update({0x2028: " ", 0x2029: " "})
# JupyterLab shows the executed notebook's Markdown outputs through MathJax, which typesets
# the decoded text, where a reference is a plain "$" or "\" again; MathJax reads text only up
# to the next element (docs/report-safety.md), so each of the two in an element of its own
# keeps a value out of maths without changing what it shows.
_ENTITIES.update({ord("$"): "<span>&#36;</span>", ord("\\"): "<span>&#92;</span>"})


# Right-to-left letters (Hebrew, Arabic, Syriac, Thaana, N'Ko, ... and their presentation
# forms; the right-to-left and Arabic letter marks): a value holding one is isolated from the
# sentence around it, or the sentence's own spaces, brackets and numbers next to it would be
# drawn right to left with it ("/rest/v1/שאלות (23 %)" would show its share before the name).
_RTL_RE = re.compile(
    "[\u0590-\u08ff\u200f\ufb1d-\ufdff\ufe70-\ufefc\U00010800-\U00010fff\U0001e800-\U0001efff]"
)
#: Longest value (in code points) a page shows whole: an identifier or a title beyond it is
#: cut with an ellipsis (findings.json keeps it whole).
MAX_SHOWN = 300
# No more than MAX_MARKS marks stacked on one letter are shown: "Zalgo" text would draw over
# the lines above and below it.
MAX_MARKS = 4


def escape(value: object) -> str:
    """Return a data value as Markdown text that renders exactly as written.

    Safe anywhere inline: paragraphs, list items, headings, table cells and inside the
    ``<code>`` element :func:`code` makes. Never pass already escaped text (it would show the
    references). A value with right-to-left letters comes in a ``<bdi>`` element (isolated
    from the text around it); marks stacked beyond :data:`MAX_MARKS` on one letter are
    shown as one U+FFFD.
    """
    text = str(value)
    if not text.isascii():
        text = _unstack(text)
    text = text.translate(_ENTITIES)
    return f"<bdi>{text}</bdi>" if _RTL_RE.search(text) else text


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """Return a data value cut to ``limit`` code points with an ellipsis, then escaped.

    The cut falls before a whole character: a combining mark, a joiner and what it joins, a
    variation selector, a skin tone or a flag's second half stays with its letter or goes
    with it.
    """
    return escape(cut_text(str(value), limit))


def code(value: object) -> str:
    """Return a data value as an inline code element that shows it exactly as written.

    A Markdown code span cannot hold every value (backticks close it, pipes split table cells,
    its content is not decoded), so data is wrapped in an HTML ``<code>`` element whose content
    is :func:`escape`-d text. Whitespace runs collapse to one space, as in a code span; a value
    longer than :data:`MAX_SHOWN` is cut (:func:`shown`).
    """
    return f"<code>{shown(' '.join(str(value).split()))}</code>"


def _unstack(text: str) -> str:
    """Return ``text`` with each run of over :data:`MAX_MARKS` marks cut to that many + U+FFFD."""
    out, run = [], 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me"):
            run += 1
            if run > MAX_MARKS:
                if run == MAX_MARKS + 1:
                    out.append("\ufffd")
                continue
        else:
            run = 0
        out.append(ch)
    return "".join(out)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return a Markdown table; cell values are escaped, empty cells stay empty."""
    head = "| " + " | ".join(escape(h) for h in headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def _offset_label(local: pd.Timestamp) -> str:
    """Return the offset's label of a local time: its abbreviation (``EDT``), else ``UTC-03``."""
    abbr = local.strftime("%Z")
    if abbr and not abbr.startswith(("+", "-")):
        return abbr
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def is_ambiguous(local: pd.Timestamp) -> bool:
    """Return whether a local time's clock reading happened twice (a fall-back's hour).

    The zone gives the wall-clock reading two offsets (``fold`` 0 and 1) only inside the hour
    a clock change repeats; a time read from an instant never lies in a spring-forward gap.
    """
    zone = ZoneInfo(str(local.tz))
    wall = local.tz_localize(None).to_pydatetime(warn=False)
    return (
        wall.replace(tzinfo=zone, fold=0).utcoffset()
        != wall.replace(tzinfo=zone, fold=1).utcoffset()
    )


def _clock(local: pd.Timestamp, fmt: str, offset: bool = False) -> str:
    """Format a local time, with its offset's label when asked or when the reading is ambiguous.

    ``01:30`` on a fall-back night names two instants an hour apart: ``01:30 EDT`` and
    ``01:30 EST`` do not. Zones without a change (Asia/Seoul) never get a label this way.
    """
    text = local.strftime(fmt)
    if "%H" in fmt and (offset or is_ambiguous(local)):
        return f"{text} {_offset_label(local)}"
    return text


def local_time(
    value: str | None, tz: str, fmt: str = TIME_FORMAT, text: Mapping | None = None
) -> str:
    """Format an ISO UTC time in the display zone ('time unknown' text for None).

    A clock reading the zone repeats (a fall-back's hour) carries its offset's label.
    """
    if value is None:
        return "" if text is None else text["time_unknown"]
    return _clock(pd.Timestamp(value).tz_convert(tz), fmt)


def local_pair(
    first: str | None, last: str | None, tz: str, text: Mapping | None = None
) -> tuple[str, str]:
    """Return two local times that bound a stretch, both labelled if an offset change lies between.

    ``01:30–03:29`` across a spring-forward is 60 minutes, not two hours: ``01:30 IST``–``03:29
    IDT`` says so. Without a change each is :func:`local_time` (labelled only if ambiguous).
    """
    if first is None or last is None:
        return local_time(first, tz, text=text), local_time(last, tz, text=text)
    a, b = pd.Timestamp(first).tz_convert(tz), pd.Timestamp(last).tz_convert(tz)
    changes = a.utcoffset() != b.utcoffset()
    return _clock(a, TIME_FORMAT, changes), _clock(b, TIME_FORMAT, changes)


def local_span(start: str, end: str, tz: str) -> tuple[str, str, str]:
    """Return ``(day, start, end)`` of a window in the display zone, for "{day} {start}–{end}".

    The end carries its own date when the window's last instant falls on another local day
    (``2026-12-31``, ``23:30``, ``2027-01-01 01:00``): across midnight, a bare ``01:00`` would
    read as earlier the same day. A window ending exactly at midnight keeps ``00:00``. A
    window across a clock change labels both ends with their offsets (``01:55 EDT``–``01:15
    EST``, 20 minutes that would read as ending 40 minutes before they start).
    """
    first = pd.Timestamp(start).tz_convert(tz)
    last = (pd.Timestamp(end) - pd.Timedelta(1, "ns")).tz_convert(tz)
    fmt = TIME_FORMAT if first.date() == last.date() else "%Y-%m-%d " + TIME_FORMAT
    changes = first.utcoffset() != last.utcoffset()
    closing = pd.Timestamp(end).tz_convert(tz)
    return (
        first.strftime("%Y-%m-%d"),
        _clock(first, TIME_FORMAT, changes),
        _clock(closing, fmt, changes),
    )


def utc_time(value: str | None, fmt: str = TIME_FORMAT) -> str:
    """Format an ISO UTC time as UTC clock time."""
    return "" if value is None else pd.Timestamp(value).tz_convert("UTC").strftime(fmt)


def zone_name(tz: str, at: str, until: str | None = None) -> str:
    """Return the zone's abbreviation at a time (``KST``), else its name.

    With ``until``, the abbreviation must hold up to then: a window across a change of
    daylight saving time (``GMT`` to ``BST``) is labelled by the zone's name, so no local time
    in it carries the other offset's label.
    """
    abbr = pd.Timestamp(at).tz_convert(tz).strftime("%Z")
    if until is not None and pd.Timestamp(until).tz_convert(tz).strftime("%Z") != abbr:
        return tz
    return abbr if abbr and not abbr.startswith(("+", "-")) else tz


def fmt_number(value: object, digits: int = 0) -> str:
    """Format a number with thousands separators; '–' for a missing value."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if digits == 0:
        return f"{round(float(value)):,}"
    return f"{float(value):,.{digits}f}"


class Grouped:
    """A number that a locale template formats with thousands separators ('12,345').

    Templates format data fields themselves (``{rows}``, ``{mean:.2f}``, ``{share:.0%}``);
    wrapped in this, ``{rows}`` reads 12,345 and ``{mean:.2f}`` 2,168.00, in every language.
    A format of its own (a width, an alignment, grouping already) is applied as written.
    """

    __slots__ = ("value",)
    _SIMPLE = re.compile(r"(\.\d+)?[dfgeE%]?")

    def __init__(self, value: int | float) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        if self._SIMPLE.fullmatch(spec):
            return format(self.value, "," + spec)
        return format(self.value, spec)

    def __str__(self) -> str:
        return format(self, "")


def grouped_fields(fields: Mapping) -> dict:
    """Return ``fields`` with each number (not a bool) wrapped in :class:`Grouped`."""
    return {
        k: Grouped(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in fields.items()
    }


def fmt_interval(low: object, high: object, open_low: bool = False, open_high: bool = False) -> str:
    """Format an interval '[low, high]'; an open end (K may lie beyond it) reads '≤low'/'≥high'."""
    left = ("≤" if open_low else "") + fmt_number(low)
    right = ("≥" if open_high else "") + fmt_number(high)
    return f"[{left}, {right}]"


def fmt_rate(value: object) -> str:
    """Format a rate per request as a percentage with two significant decimals."""
    if value is None:
        return "–"
    return f"{100 * float(value):.2f}%"


def fmt_bayes_factor(value: object) -> str:
    """Format a Bayes factor: three significant digits, '> 1000' / '< 0.001' beyond those."""
    if value is None:
        return "–"
    value = float(value)
    if value >= 1000:
        return "> 1000"
    if value <= 0.001:
        return "< 0.001"
    return f"{value:.3g}"


def fmt_p(value: object) -> str:
    """Format a p-value (three decimals, '< 0.001' below that)."""
    if value is None:
        return "–"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _verdicts(findings: Mapping) -> dict:
    return {v["error_class"]: v for v in findings["verdicts"]}


def verdict_label(verdict: str, cls: Mapping | None) -> str:
    """Return the locale key of a class's verdict words (``causes.verdicts``).

    A traffic-proportional class the application's own SQL raises on purpose (P0001,
    PostgREST's PTxxx: :func:`analysis.naming.deliberate_refusal`) is a refusal, not a bug.
    """
    from analysis.naming import deliberate_refusal

    if verdict == "traffic" and cls is not None and deliberate_refusal(cls):
        return "refusal"
    return verdict


def tier_name(tier: str, text: Mapping) -> str:
    """Return a Supabase tier (``Pro plan``, ``Nano compute``) in the report's language."""
    name, _, kind = str(tier).rpartition(" ")
    words = text["supabase_limits"]["tiers"]
    return escape(words[kind].format(name=name) if name and kind in words else tier)


def limit_name(limit: Mapping, text: Mapping) -> str:
    """Return a published limit's name (product, quantity, tier) in the report's language."""
    t = text["supabase_limits"]
    return t["limit"].format(
        product=escape(t["products"].get(limit["product"], limit["product"])),
        quantity=escape(t["quantities"].get(limit["quantity"], limit["quantity"])),
        tier=tier_name(limit["tier"], text),
    )


def _capacity(findings: Mapping) -> dict:
    return {c["error_class"]: c for c in findings["capacity"]}


def _tz(findings: Mapping) -> tuple[str, str]:
    tz = findings["report"]["display_tz"]
    window = findings["report"]["window"]
    return tz, zone_name(tz, window["start"], window["end"])


def class_names(findings: Mapping, lang: str) -> dict[str, str]:
    """Human name of each error class in the report's language (key -> name)."""
    return {
        c["key"]: c["name"].get(lang, c["key"])
        for c in findings.get("error_classes", [])
        if isinstance(c.get("name"), Mapping)
    }


def class_name(findings: Mapping, key: str, text: Mapping) -> str:
    """Return a class's human name followed by its key: ``Realtime disconnects (<code>..)``.

    The name is the findings' name in the report's language (escaped data: it may hold table
    and column names); the key stays in parentheses for analysts.
    """
    row = next((c for c in findings["error_classes"] if c["key"] == key), None)
    name = (row or {}).get("name", {}).get(text.get("lang", ""))
    return f"{escape(name)} ({code(key)})" if name else code(key)


def _names(findings: Mapping, keys: Sequence[str], text: Mapping) -> str:
    return text["list_sep"].join(class_name(findings, k, text) for k in keys)


def _source_name(source: str, text: Mapping) -> str:
    names = text["overview"]["sources"]
    for prefix, name in names.items():
        if source.startswith(prefix):
            return name
    return escape(source)


def _share(value: float | None) -> str:
    """Return a share as a whole percentage, "<1%" or ">99%" where rounding would misstate it.

    1 person of 409 is not "0%", nor 408 of 409 "100%".
    """
    if value is None:
        return "–"
    shown = f"{100 * value:,.0f}"
    if shown == "0" and value > 0:
        return "<1%"
    if shown == "100" and value < 1:
        return ">99%"
    return f"{shown}%"
