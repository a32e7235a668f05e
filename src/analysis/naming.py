"""Human names of error classes, derived from what the error says about the schema.

An error class key (``23505:registrations_pkey``, ``42703``, ``realtime:disconnect``) is exact
but opaque to a stakeholder. :func:`name_error_class` builds a name in plain words from the
class's semantics: the SQLSTATE's meaning, the table behind a constraint, the column or type
named in the message, the Realtime family. Templates are the locale's ``class_names`` section
(one per language); the key itself always follows in parentheses, so analysts can still find
the rows. :func:`capacity_resource` says which connection ceiling a class signals, if any.

Nothing here knows a particular incident: names follow Postgres' and Supabase's documented
meanings of codes and families, and naming conventions for constraints (``<table>_pkey``,
``<table>_<cols>_key``, ``uq_<name>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources

#: Constraint-name affixes Postgres and common migration tools generate, mapped to the kind of
#: constraint. Postgres' defaults are ``<table>_pkey``, ``<table>_<cols>_key``,
#: ``<table>_<cols>_fkey``, ``<table>_<cols>_check``; tools add ``uq_``/``fk_``/``ck_`` prefixes.
_SUFFIX_KINDS = (
    ("_pkey", "primary"),
    ("_fkey", "foreign"),
    ("_check", "check"),
    ("_key", "unique"),
)
_PREFIX_KINDS = (("pk_", "primary"), ("uq_", "unique"), ("fk_", "foreign"), ("ck_", "check"))
_IDX_SUFFIXES = ("_idx", "_index", "_uniq", "_unique", "_uq")
#: Messages that name a column, relation or type (Postgres' English message templates). A
#: name's part runs to the next space, quote or dot: Postgres prints names in any script
#: (``column 질문.🔥_count``, ``relation "public.שאלות"``), not only ``\w`` ones.
_PART = r'[^\s".]+'
_COLUMN_RE = re.compile(
    rf'column "?(?:(?P<rel>{_PART})\.)?(?P<col>{_PART})"? '
    rf'(?:of relation "(?P<rel2>{_PART})" )?does not exist'
)
_RELATION_RE = re.compile(rf'relation "(?:{_PART}\.)?(?P<rel>{_PART})" does not exist')
_TYPE_RE = re.compile(
    r"invalid input (?:syntax|value) for (?:type )?(?:enum )?"
    r'(?P<type>[\w $]+?): "(?P<value>[^"]{0,40})"'
)
_NULL_COLUMN_RE = re.compile(
    rf'null value in column "(?P<col>{_PART})"(?: of relation "(?P<rel>{_PART})")?'
)
#: Which connection ceiling an error class signals when it is capacity-driven. Realtime's own
#: limits (by plan: concurrent users, per-second rates) versus Postgres connections (by compute
#: size): SQLSTATE 53300 (too many connections; the other class-53 errors, a full disk or
#: memory, are no connection ceiling), class 08 (connection exceptions), 57P03 (cannot
#: connect now), and the Realtime families that report the database's connections
#: (slots, Realtime's pool, its connection attempts) failing. Family names are
#: ``vocabulary.REALTIME_FAMILY_RULES``'s; each means one condition.
_DATABASE_FAMILIES = (
    "database_lacks_connections",
    "db_connect_throttled",
    "pool_exhausted",
    "connect_failed",
)
_REALTIME_FAMILIES = ("too_many_connections", "disconnect")
#: Realtime's per-second limits (messages, joins, channels, presence): set by plan too, but no
#: count of connections.
_REALTIME_RATE_FAMILIES = ("rate_limit",)


def split_constraint(name: str | None) -> tuple[str | None, str | None]:
    """Return ``(subject, kind)`` of a constraint name: the table-ish part and its kind.

    ``registrations_pkey`` gives ``("registrations", "primary")``;
    ``uq_marketing_stats_daily_key`` gives ``("marketing_stats_daily", "unique")``; a name
    that follows no convention is returned whole with kind None.
    """
    if not name:
        return None, None
    subject, kind = str(name), None
    for prefix, k in _PREFIX_KINDS:
        if subject.lower().startswith(prefix) and len(subject) > len(prefix):
            subject, kind = subject[len(prefix) :], k
            break
    for suffix, k in _SUFFIX_KINDS:
        if subject.lower().endswith(suffix) and len(subject) > len(suffix):
            subject, kind = subject[: -len(suffix)], kind or k
            break
    for suffix in _IDX_SUFFIXES:
        if subject.lower().endswith(suffix) and len(subject) > len(suffix):
            subject, kind = subject[: -len(suffix)], kind or "unique"
            break
    return subject, kind


def parse_subjects(message: str | None) -> dict:
    """Relation, column, type and value named by a Postgres error message (empty if none)."""
    text = "" if message is None else str(message)
    out: dict = {}
    if m := _COLUMN_RE.search(text):
        out["column"] = m["col"]
        if m["rel"] or m["rel2"]:
            out["relation"] = m["rel"] or m["rel2"]
    elif m := _NULL_COLUMN_RE.search(text):
        out["column"] = m["col"]
        if m["rel"]:
            out["relation"] = m["rel"]
    elif m := _RELATION_RE.search(text):
        out["relation"] = m["rel"]
    if m := _TYPE_RE.search(text):
        out["type"] = m["type"].strip()
        out["value"] = m["value"]
    return out


def _words(identifier: str | None) -> str:
    return "" if identifier is None else str(identifier).replace("_", " ").strip()


def _constraint_table(subject: str | None, endpoint: object) -> str | None:
    """Return the table a constraint's subject names, when the class's endpoint tells it.

    Postgres names a constraint ``<table>_<columns>_key`` by default
    (``answers_question_id_user_id_key``); underscores cannot say where the table ends, but
    the class's REST endpoint can (``rest/answers``).
    """
    where = str(endpoint or "")
    if not subject or not where.startswith("rest/"):
        return subject
    table = where.split("/", 1)[1]
    return table if subject.lower().startswith(table.lower() + "_") else subject


def _subject_fields(cls: Mapping) -> dict:
    """Template fields of a class: table, column, type, value, constraint kind, family."""
    parsed = parse_subjects(cls.get("message"))
    constraint = cls.get("constraint")
    table, kind = split_constraint(constraint)
    table = _constraint_table(table, cls.get("endpoint"))
    relation = cls.get("relation") or parsed.get("relation")
    column = cls.get("column") or parsed.get("column")
    return {
        "key": cls.get("key", ""),
        "sql_state": cls.get("sql_state") or "",
        "constraint": constraint or "",
        "constraint_kind": kind,
        "table": _words(relation or table),
        "table_raw": relation or table or "",
        "column": column or "",
        "target": ".".join(p for p in (relation, column) if p),
        "type": parsed.get("type", ""),
        "value": parsed.get("value"),
        "family": cls.get("family") or "",
        "family_words": _words(cls.get("family")),
        "status": cls.get("http_status") or "",
        # An HTTP class's scope: its endpoint, or its product (``rest/*``) when it spans many.
        "endpoint": str(cls.get("key", "")).split(":", 2)[2]
        if str(cls.get("key", "")).startswith("http:")
        else cls.get("endpoint") or "",
    }


def _pick_template(cls: Mapping, fields: Mapping, templates: Mapping) -> str:
    """Return the most specific template the class's fields can fill.

    A SQLSTATE entry is a string or a dict of variants: by constraint kind (``primary``,
    ``unique``, ``foreign``, ``check``), ``null_value`` (the literal "null" sent as a typed
    value), ``with_target`` (relation.column known), ``with_table``, ``with_type``, else
    ``default``. Unknown codes fall back to their two-character class, then to one name.
    """
    family = fields["family"]
    if str(cls.get("key", "")).startswith("http:"):
        # A product's own meaning of a status first (PostgREST's 406 is a single-row read).
        http = templates.get("http", {})
        product = str(fields["endpoint"]).split("/", 1)[0]
        status = str(fields["status"])
        return http.get(f"{status}_{product}") or http.get(status) or http["default"]
    if family or str(cls.get("key", "")).startswith("realtime:"):
        return templates.get("realtime", {}).get(family) or templates["realtime_other"]
    state = fields["sql_state"]
    entry = templates.get("sqlstate", {}).get(state)
    if entry is None:
        entry = templates.get("sqlstate_class", {}).get(state[:2])
    if entry is None:
        return templates["database_other"]
    if isinstance(entry, str):
        return entry
    value = fields["value"]
    wanted = (
        (fields["constraint_kind"], fields["constraint_kind"]),
        ("null_value", value is not None and value.strip().lower() == "null"),
        ("with_target", "." in fields["target"]),
        ("with_table", bool(fields["table"])),
        ("with_type", bool(fields["type"])),
    )
    for variant, present in wanted:
        if present and variant and variant in entry:
            return entry[variant]
    return entry["default"]


def name_error_class(cls: Mapping, templates: Mapping) -> str:
    """Return the plain-words name of an error class, without its key.

    Parameters
    ----------
    cls : Mapping
        The class's semantics: ``key``, ``sql_state``, ``constraint``, ``family`` and, when
        known, ``relation``, ``column`` and an example ``message``.
    templates : Mapping
        The locale's ``class_names`` section.

    Returns
    -------
    str
        e.g. "Duplicate registrations (primary key)" / "Realtime disconnects".
    """
    fields = _subject_fields(cls)
    if not templates.get("identifiers_as_words", True):
        # A language that does not read snake_case as its own words keeps the identifier as
        # the schema spells it ("marketing_stats_daily 중복 저장 시도", not English words).
        fields.update(table=fields["table_raw"], family_words=fields["family"])
    template = _pick_template(cls, fields, templates)
    kinds = templates.get("constraint_kinds", {})
    fields["kind"] = kinds.get(fields["constraint_kind"] or "", kinds.get("", ""))
    text = template.format(**fields)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:] if templates.get("capitalise") else text


def label_error_class(cls: Mapping, templates: Mapping) -> str:
    """Return the name followed by the key in parentheses, as the report shows it."""
    return f"{name_error_class(cls, templates)} ({cls.get('key', '')})"


@cache
def load_templates() -> dict[str, dict]:
    """Every locale's ``class_names`` templates, by language code (sorted)."""
    folder = resources.files("analysis").joinpath("locales")
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            names = json.loads(entry.read_text("utf-8")).get("class_names")
            if names:
                out[entry.name[: -len(".json")]] = names
    return out


def name_in_languages(cls: Mapping) -> dict[str, str]:
    """Return the class's name in every language that has templates: ``{"en": .., "ko": ..}``."""
    return {lang: name_error_class(cls, t) for lang, t in load_templates().items()}


def capacity_resource(cls: Mapping) -> str | None:
    """Which ceiling a capacity-driven class signals: a Realtime or database one, or None.

    Returns ``realtime``, ``realtime_rate``, ``database`` or None. Realtime families about
    its own connections point at the plan's Realtime connection limit, its per-second rate
    limits at the plan's rate limits (``realtime_rate``); SQLSTATE 53300, class 08, 57P03
    and the Realtime families about the database's connections (no free slot, pool
    exhausted, connects failing or throttled) point at Postgres connections (the compute
    size). Client bugs (constraint violations, syntax and schema errors) signal no ceiling,
    nor does Realtime's replication stream (``replication``: one connection per project,
    whatever the audience).
    """
    family = cls.get("family")
    if str(cls.get("key", "")).startswith("http:"):
        # PostgREST answers 503 when it cannot reach the database and 504 when no pool
        # connection came in time (PGRST000-PGRST003): its database connections.
        on_rest = str(cls.get("endpoint") or "").startswith("rest/")
        return "database" if on_rest and cls.get("http_status") in (503, 504) else None
    if family in _REALTIME_FAMILIES:
        return "realtime"
    if family in _REALTIME_RATE_FAMILIES:
        return "realtime_rate"
    if family in _DATABASE_FAMILIES:
        return "database"
    state = str(cls.get("sql_state") or "")
    if state[:2] == "08" or state in ("53300", "57P03"):
        return "database"
    return None


def deliberate_refusal(cls: Mapping) -> bool:
    """Whether a class's errors are the application refusing requests on purpose.

    A database function's ``RAISE EXCEPTION`` (SQLSTATE P0001) and PostgREST's custom status
    (``RAISE ... USING ERRCODE = 'PT402'``, answered with HTTP 402) are the app's own SQL
    saying no: a card declined, a quota reached. At a flat rate per request they grow with
    traffic as a bug's errors do, but "fix the code" would misread them.
    """
    state = str(cls.get("sql_state") or "")
    return state == "P0001" or (len(state) == 5 and state[:2] == "PT")


def collect_semantics(db_errors: object, realtime_events: object, classes: object) -> dict:
    """Per class key: its modal relation and column and one example message.

    Parameters
    ----------
    db_errors, realtime_events : pandas.DataFrame
        Canonical tables (docs/contract.md section 2).
    classes : iterable of error_classes.ErrorClass

    Returns
    -------
    dict of str to dict
        ``{key: {"relation", "column", "message"}}``; None where the rows name none. The
        example is the most frequent message (ties: the first in sort order), so it is stable.
    """
    from analysis.vocabulary import classify_db_errors, classify_realtime

    tables = {
        "db_errors": (db_errors, classify_db_errors),
        "realtime_events": (realtime_events, classify_realtime),
    }
    keys: dict = {}  # each table is classified once, however many classes it holds
    out: dict = {}
    for cls in classes:
        if cls.source not in tables:  # error responses: no message, relation or column
            out[cls.key] = {"relation": None, "column": None, "message": None}
            continue
        frame, classify = tables[cls.source]
        if cls.source not in keys:
            keys[cls.source] = classify(frame) if len(frame) else None
        found = keys[cls.source]
        rows = frame if found is None else frame[(found == cls.key).fillna(False)]
        info = {}
        for col in ("relation", "column", "message"):
            values = rows[col].dropna().astype(str) if col in rows else None
            if values is None or values.empty:
                info[col] = None
                continue
            counts = values.value_counts()
            info[col] = sorted(counts[counts == counts.max()].index)[0]
        out[cls.key] = info
    return out
