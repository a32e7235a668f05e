"""Action items from what the incident's data shows, not from any one incident's report.

A catalogue keyed by error semantics: each rule matches an error class by its SQLSTATE (or
SQLSTATE class) or its Realtime family, and names what the class's own rows name (table,
column, constraint, endpoints). What an error *is* chooses the action; the verdict only refines
its wording: a statement timeout wants query or index work and a look at ``statement_timeout``
whatever its verdict, and with a capacity verdict the same item also names the load it began
at (locale key ``<rule>_capacity`` when the locale has one). The first rule that matches a
class is its rule; a class no rule matches falls back to its verdict (plan capacity to the
threshold, or fix it as a bug). An item is built only for classes present in the window, each
with the evidence that motivates it. An incident directory may add its own
recommendations in ``incident.json`` under ``"recommendations"`` (a list of
``{"text": {"<lang>": ...}, "classes": [keys]}``); those are printed as the incident's own,
and only when the classes they name (if any) are present.

Rule texts live in the locales under ``actions.catalogue`` with ``{table}``, ``{column}``,
``{constraint}``, ``{endpoints}``, ``{k}`` ... placeholders; values from data are identifiers
only (:func:`is_identifier`), never free text from a log message.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

from analysis.exceptions import IngestError
from analysis.naming import parse_subjects

#: Unicode categories of the non-ASCII characters an identifier part may hold: letters, marks,
#: digits and symbols (Korean, Hebrew, emoji), and connector and dash punctuation. Postgres'
#: lexer takes every non-ASCII character into an unquoted identifier; these leave out the
#: spaces, controls and format characters (bidi overrides) that would change how the sentence
#: around the identifier reads.
_IDENTIFIER_CATEGORIES = ("L", "M", "N", "S", "Pc", "Pd")
#: The zero-width joiner inside emoji sequences (a format character, but one that only joins).
_JOINER = "\u200d"
#: Postgres truncates an identifier to NAMEDATALEN - 1 bytes.
_IDENTIFIER_BYTES = 63
#: A SQLSTATE: five digits or upper-case letters.
SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")
#: Postgres' message for 42703 names the column: ``column "x" does not exist`` or
#: ``column t.x does not exist``.
#: An identifier there is whatever runs to the next space or quote (Postgres prints unquoted
#: names in any script): :func:`is_identifier` decides what of it may be shown.
_UNDEFINED_COLUMN = re.compile(
    r'column\s+"?([^\s"]+)"?\s+(?:of relation\s+"?([^\s"]+)"?\s+)?does not exist'
)


@dataclass(frozen=True)
class Rule:
    """One catalogue entry: which classes it matches and the item's locale key."""

    key: str
    sql_states: tuple[str, ...] = ()
    sql_state_classes: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = ()
    #: HTTP statuses, and first digits of them, of a class of error responses (``http:``).
    statuses: tuple[int, ...] = ()
    status_classes: tuple[str, ...] = ()
    #: Products (``auth``, ``storage``) all of the class's endpoints are on; empty: any.
    products: tuple[str, ...] = ()

    def matches(self, cls: Mapping, verdict: str | None) -> bool:
        """Whether the class (a findings error-class row with its details) matches."""
        state = cls.get("sql_state") or ""
        status = cls.get("http_status") if str(cls.get("key", "")).startswith("http:") else None
        if self.verdicts and verdict not in self.verdicts:
            return False
        if self.products:
            where = {str(e).split("/")[0] for e in cls.get("endpoints") or ()}
            if not where or not where <= set(self.products):
                return False
        if self.statuses or self.status_classes:
            return status is not None and (
                status in self.statuses or str(status)[:1] in self.status_classes
            )
        if self.sql_states or self.sql_state_classes or self.families:
            return (
                state in self.sql_states
                or state[:2] in self.sql_state_classes
                or (cls.get("family") or "") in self.families
            )
        return True


#: The catalogue (semantics -> locale key), most specific first: a class takes the first rule
#: that matches it. Order is also the order items are printed in. Every Realtime family of
#: ``vocabulary.REALTIME_FAMILY_RULES`` that is an error has its rule (a test checks).
CATALOGUE = (
    Rule("unique_violation", sql_states=("23505",)),
    Rule("foreign_key", sql_states=("23503",)),
    Rule("not_null", sql_states=("23502",)),
    Rule("check_violation", sql_states=("23514",)),
    Rule("integrity", sql_state_classes=("23",)),
    Rule("undefined_column", sql_states=("42703",)),
    Rule("undefined_table", sql_states=("42P01",)),
    Rule("undefined_function", sql_states=("42883",)),
    Rule("privilege", sql_states=("42501",)),
    Rule("query_error", sql_state_classes=("42",)),
    Rule("invalid_text", sql_states=("22P02",)),
    Rule("data_exception", sql_state_classes=("22",)),
    Rule("raised_exception", sql_states=("P0001",)),
    Rule("timeout", sql_states=("57014",)),
    Rule("server_shutdown", sql_states=("57P01", "57P02", "57P03")),
    Rule("data_corrupted", sql_states=("XX001", "XX002")),
    Rule("internal_error", sql_state_classes=("XX",)),
    Rule("foreign_data", sql_state_classes=("HV",)),
    Rule("custom_status", sql_state_classes=("PT",)),
    Rule("deadlock", sql_states=("40P01",)),
    Rule("serialization", sql_state_classes=("40",)),
    # Auth's or Storage's own connections refused: the slots were taken by other clients, and
    # those services' pools are not the app's to move to the pooler.
    Rule("out_of_connections_service", sql_states=("53300",), products=("auth", "storage")),
    Rule("out_of_connections", sql_states=("53300",)),
    Rule("disk_full", sql_states=("53100",)),
    Rule("out_of_memory", sql_states=("53200",)),
    Rule("insufficient_resources", sql_state_classes=("53",)),
    Rule("connection_exception", sql_state_classes=("08",)),
    Rule("connection_settings", sql_state_classes=("28", "3D")),
    Rule("realtime_database_slots", families=("database_lacks_connections",)),
    Rule("realtime_limit", families=("too_many_connections",)),
    Rule("realtime_pool", families=("pool_exhausted",)),
    Rule("realtime_db_connect", families=("db_connect_throttled", "connect_failed")),
    Rule("realtime_disconnect", families=("disconnect",)),
    Rule("realtime_replication", families=("replication",)),
    Rule("realtime_rate", families=("rate_limit",)),
    Rule("realtime_unknown", families=("other",)),
    # Edge Functions: 546 is the runtime's WORKER_LIMIT (memory or CPU time), 504 the
    # gateway's request idle timeout (no response in 150 s); neither is PostgREST's pool wait.
    Rule("http_function_limit", statuses=(546,), products=("functions",)),
    Rule("http_function_timeout", statuses=(504,), products=("functions",)),
    # PostgREST's own codes name what its 503 and 504 mean; another product's say less.
    Rule("http_timeout_rest", statuses=(504,), products=("rest",)),
    Rule("http_timeout", statuses=(504,)),
    Rule("http_unavailable_rest", statuses=(503,), products=("rest",)),
    Rule("http_unavailable", statuses=(503,)),
    Rule("http_bad_gateway", statuses=(502,)),
    Rule("http_rate_limited", statuses=(429,)),
    # 406 from PostgREST: one object was asked for (``.single()``) and the filter matched no
    # row or several (PGRST116); elsewhere, no answer in the format the Accept header asks.
    Rule("http_single_row_rest", statuses=(406,), products=("rest",)),
    Rule("http_not_acceptable", statuses=(406,)),
    Rule("http_payload_too_large", statuses=(413,)),
    Rule("http_headers_too_large", statuses=(431,)),
    Rule("http_auth", statuses=(401, 403)),
    Rule("http_not_found", statuses=(404,)),
    Rule("http_server_error", status_classes=("5",)),
    Rule("http_client_error", status_classes=("4",)),
)
#: Rules on a class's verdict, for classes no semantic rule matches.
VERDICT_RULES = (
    Rule("capacity_plan", verdicts=("capacity",)),
    Rule("fix_bug", verdicts=("traffic",)),
)


#: Kinds of a set-aside capacity hinge that say the errors followed a stretch of time.
EPISODE_KINDS = ("follows_time",)
#: Connection poolers' log sources that ingest counts but does not read. A capacity class of
#: server errors behind them (an Edge Function's 500s when Supavisor refuses its clients)
#: has its explanation there: its item names the pooler and how many of its lines the export
#: holds (locale key ``<rule>_capacity_pooler`` where one exists).
POOLER_SOURCES = ("supavisor_logs", "pgbouncer_logs")


def count_unread_pooler_lines(findings: Mapping) -> dict[str, int]:
    """Return the lines of each pooler source the export holds and ingest did not read."""
    counts: dict[str, int] = {}
    for row in (findings.get("inputs") or {}).get("accounting") or ():
        if row.get("kind") in POOLER_SOURCES and row.get("rejected"):
            counts[row["kind"]] = counts.get(row["kind"], 0) + int(row["rejected"])
    return counts


def choose_rule(cls: Mapping, verdict: str | None, catalogue: Mapping[str, str] | None = None):
    """Return ``(rule, locale key)`` for a class: its semantics first, its verdict second.

    ``catalogue``: the locale's ``actions.catalogue`` (any language; the keys are the same in
    every locale), used to find a ``<rule>_<verdict>`` wording; without it the rule's own key.
    (None, None) when neither the semantics nor the verdict calls for an action.
    """
    for rule in CATALOGUE:
        if rule.matches(cls, verdict):
            variant = f"{rule.key}_{verdict}"
            return rule, variant if catalogue and variant in catalogue else rule.key
    for rule in VERDICT_RULES:
        if rule.matches(cls, verdict):
            return rule, rule.key
    return None, None


@cache
def load_catalogue() -> dict[str, str]:
    """Return the English locale's ``actions.catalogue`` (its keys are every locale's)."""
    text = resources.files("analysis").joinpath("locales", "en.json").read_text("utf-8")
    return dict(json.loads(text)["actions"]["catalogue"])


def _is_identifier_part(part: str) -> bool:
    if not part or len(part.encode("utf-8")) > _IDENTIFIER_BYTES or part[0] in "0123456789$":
        return False
    return all(
        (ch.isascii() and (ch.isalnum() or ch in "_$"))
        or (
            not ch.isascii()
            and (ch == _JOINER or unicodedata.category(ch).startswith(_IDENTIFIER_CATEGORIES))
        )
        for ch in part
    )


def is_identifier(text: str) -> bool:
    """Return whether ``text`` is a SQL identifier, up to ``catalog.schema.name``, to show.

    Each dot-separated part is what Postgres takes unquoted (ASCII letters, digits, ``_`` and
    ``$``, not leading with a digit or ``$``, at most 63 bytes) with its non-ASCII characters
    limited to :data:`_IDENTIFIER_CATEGORIES`, so ``질문.🔥_count`` and ``public.שאלות`` are
    shown while free text (spaces, quotes, markup, bidi controls) is not.
    """
    parts = text.split(".")
    return len(parts) <= 3 and all(_is_identifier_part(p) for p in parts)


def _identifier(value: object) -> str | None:
    text = None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text if text and is_identifier(text) else None


def describe_class(
    incident: object, key: str, rows: pd.DataFrame, endpoints: tuple[str, ...] | list = ()
) -> dict:
    """Return what the class's rows name: sql_state, table, column, constraint (identifiers).

    Postgres does not log the table of a unique or foreign-key violation; when the rows name
    none, a primary key's name gives it (Postgres names it ``<table>_pkey``), else the one
    REST endpoint the class's errors were answered on (``rest/<table>``, from
    ``endpoints``; an RPC names a function, not a table).
    """
    out: dict = {"key": key}
    if rows.empty:
        return out

    def mode(col):
        if col not in rows.columns:
            return None
        values = rows[col].dropna().astype(str)
        return _identifier(values.value_counts().index[0]) if len(values) else None

    states = rows["sql_state"].dropna().astype(str) if "sql_state" in rows.columns else []
    state = states.value_counts().index[0] if len(states) else None
    out["sql_state"] = state if state and SQLSTATE.match(state) else None
    out["table"] = mode("relation")
    out["constraint"] = mode("constraint")
    out["column"] = mode("column")
    out["family"] = mode("family")
    if out.get("column") is None and "message" in rows.columns:
        for message in rows["message"].dropna().astype(str):
            found = _UNDEFINED_COLUMN.search(message)
            if found:
                out["column"] = _identifier(found.group(1))
                if found.group(2) and not out.get("table"):
                    out["table"] = _identifier(found.group(2))
                break
    if out.get("column") is None and "message" in rows.columns:
        # Other messages that name their column ("null value in column "room_id" of relation
        # "chat_messages" ..."): the class's name already says it, so must its action.
        for message in rows["message"].dropna().astype(str):
            named = parse_subjects(message)
            if named.get("column"):
                out["column"] = _identifier(named["column"])
                out["table"] = out.get("table") or _identifier(named.get("relation"))
                break
    if out.get("column") and "." in out["column"] and not out.get("table"):
        out["table"] = out["column"].rsplit(".", 1)[0]
    constraint = out.get("constraint") or ""
    if not out.get("table") and constraint.endswith("_pkey") and len(constraint) > 5:
        out["table"] = _identifier(constraint[: -len("_pkey")])
    tables = {e[len("rest/") :] for e in endpoints if str(e).startswith("rest/")}
    if not out.get("table") and len(tables) == 1 and len(endpoints) == 1:
        (table,) = tables
        out["table"] = None if table.startswith("rpc/") else _identifier(table)
    return {k: v for k, v in out.items() if v is not None}


def read_recommendations(manifest: Mapping, path: object = "incident.json") -> tuple[dict, ...]:
    """Validate the manifest's ``recommendations`` list (module docstring: its form).

    Raises
    ------
    IngestError
        One line naming ``recommendations[i].<field>``, what was expected and what was found.
    """
    raw = manifest.get("recommendations")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise IngestError(
            path, "bad recommendations", field="recommendations", expected="a list", found=raw
        )
    for i, rec in enumerate(raw):
        where = f"recommendations[{i}]"
        if not isinstance(rec, Mapping):
            raise IngestError(
                path, "bad recommendation", field=where, expected="an object", found=rec
            )
        text = rec.get("text")
        if (
            not isinstance(text, Mapping)
            or not text
            or not all(isinstance(t, str) and t.strip() for t in text.values())
        ):
            raise IngestError(
                path,
                "bad recommendation",
                field=f"{where}.text",
                expected='an object of language -> text, e.g. {"en": "..."}',
                found=text,
            )
        classes = rec.get("classes")
        if classes is not None and not (
            isinstance(classes, list) and all(isinstance(k, str) for k in classes)
        ):
            raise IngestError(
                path,
                "bad recommendation",
                field=f"{where}.classes",
                expected="a list of error class keys",
                found=classes,
            )
    return tuple(raw)


def build_action_items(
    findings: Mapping,
    details: Mapping[str, dict],
    recommendations: list | tuple = (),
    variants: Mapping[str, str] | None = None,
) -> list[dict]:
    """Catalogue items for the classes present, then the incident's own recommendations.

    ``details``: class key -> :func:`describe_class` (plus ``endpoints``, a list).
    ``variants``: the locale catalogue whose ``<rule>_<verdict>`` keys exist (default: the
    English locale's, :func:`load_catalogue`); an item's ``key`` is the locale key. Each item:
    number, key, source (``catalogue`` or ``incident``), fields (identifiers for the text),
    text (the incident's own wording, by language; catalogue items take theirs from the
    locales), evidence, and owner/type/due left blank for the review.
    """
    variants = load_catalogue() if variants is None else variants
    classes = {r["key"]: r for r in findings["error_classes"] if r["count"]}
    verdicts = {v["error_class"]: v for v in findings["verdicts"]}
    capacity = {c["error_class"]: c for c in findings["capacity"] if c["verdict"] == "capacity"}
    items: list[dict] = []

    def add(key, source, fields, evidence, text=None):
        items.append(
            {
                "number": len(items) + 1,
                "key": key,
                "source": source,
                "fields": fields,
                "text": text,
                "evidence": evidence,
                "owner": "",
                "type": "",
                "due": "",
            }
        )

    def class_evidence(key):
        cls = classes[key]
        verdict = verdicts.get(key, {}).get("verdict", "insufficient")
        return {
            "kind": "class",
            "error_class": key,
            "present": True,
            "count": cls["count"],
            "rate": cls["rate"],
            "verdict": verdict,
        }

    pooler = count_unread_pooler_lines(findings)
    pooler_source = max(sorted(pooler), key=pooler.get, default=None)
    chosen = {}
    for key in sorted(classes):
        info = details.get(key, {})
        rule, name = choose_rule(info, verdicts.get(key, {}).get("verdict"), variants)
        if pooler_source and key in capacity and f"{name}_pooler" in variants:
            name = f"{name}_pooler"
        # Errors that follow one stretch of time, not the audience (a capacity hinge set
        # aside for it), are an episode: for a rate limit or dropped connections, every client
        # retrying at once (a reconnect storm after an outage), whose fix is jitter and
        # back-off, not a higher limit (locale key ``<rule>_episode`` where one exists).
        aside = verdicts.get(key, {}).get("hinge_set_aside") or {}
        if rule is not None and aside.get("kind") in EPISODE_KINDS:
            name = name if f"{rule.key}_episode" not in variants else f"{rule.key}_episode"
        chosen[key] = (rule, name)
    for rule in CATALOGUE + VERDICT_RULES:
        for key in sorted(classes):
            if chosen[key][0] is not rule:
                continue
            info = details.get(key, {})
            fields = {
                "class": key,
                "table": info.get("table") or "",
                "column": info.get("column") or "",
                "constraint": info.get("constraint") or "",
                "endpoints": ", ".join(info.get("endpoints") or ()) or "",
            }
            evidence = [class_evidence(key)]
            cap = capacity.get(key)
            if cap is not None:
                fields.update(k=cap["k"], k_low=cap["k_low"], k_high=cap["k_high"])
                evidence.append(
                    {
                        "kind": "threshold",
                        "error_class": key,
                        "k": cap["k"],
                        "k_low": cap["k_low"],
                        "k_high": cap["k_high"],
                    }
                )
            if chosen[key][1].endswith("_pooler"):
                lines = pooler[pooler_source]
                fields.update(pooler=pooler_source, pooler_lines=lines)
                evidence.append({"kind": "unread_source", "source": pooler_source, "rows": lines})
            add(chosen[key][1], "catalogue", fields, evidence)
    lead = (findings.get("detection") or {}).get("lead_minutes")
    if lead:
        add("alerting", "catalogue", {}, [{"kind": "detection", "lead_minutes": lead}])
    total = (findings.get("impact") or {}).get("errors_total") or 0
    if total:
        add("error_rate_monitoring", "catalogue", {}, [{"kind": "errors_total", "count": total}])
    for rec in recommendations or ():
        if not isinstance(rec, Mapping) or not isinstance(rec.get("text"), Mapping):
            continue
        wanted = [str(k) for k in rec.get("classes") or ()]
        if wanted and not any(k in classes for k in wanted):
            continue
        evidence = [class_evidence(k) for k in wanted if k in classes]
        text = {str(lang): str(t) for lang, t in rec["text"].items()}
        add("incident", "incident", {}, evidence, text=text)
    return items
