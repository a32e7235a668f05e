"""Plant every private kind in every field an incident's exports and tables can carry.

No import from ``analysis``: the attack is written from docs/contract.md and the shapes of
Supabase's exports, on an incident written by tests/_unseen_mech.py (itself independent of
the package). :func:`plant` rewrites an incident directory in place: each field of each row
gets the text of every kind of tests/_private_kinds.py, with the easily varied kinds (e-mail,
IPv4, phone, card, resident number) made unique to the field, so a leak names its field, and a
harmless marker word (``mark<field>``) that shows whether the field reaches the page at all.

Fields: the gateway's path, query string, user agent, client info, referer, ray id,
``authorization``, ``apikey`` and ``cookie`` headers and its log line; Postgres' message,
detail, hint, query and context; Realtime's message and its payload; Edge Functions' log line
and URL (when the incident has that log); the webinars' title and status, an extra column of
registrations, the presence sessions' session id, the annotations' label and note;
incident.json's name, a claim's statement, a recommendation's text and an extra key. Log rows
may be BigQuery-shaped (nested one-element lists) or ClickHouse-shaped (flat
``log_attributes``): each field is written where that shape keeps it.

Beyond free text: the name of every constraint in Postgres' messages and of a missing column
(each becomes part of an error class's key: the invalid-uuid rows are rewritten as 42703 on a
column so named), the name of one page file of every log folder and the log type of a row
of a Logs Explorer download (a source the analysis does not read is counted under its name)
carry private values too (:data:`NAMED`), written as identifiers and file names can hold
them (joined by underscores, no slash, no quote).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

from _private_kinds import PRIVATE


def luhn_complete(digits: str) -> str:
    """Return ``digits`` followed by the Luhn check digit that makes it a valid card number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will stand right of it
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def field_private(n: int) -> list[tuple[str, str]]:
    """Return ``(text, secret)`` pairs of every kind for field number ``n`` (0-89).

    The first five (e-mail, IPv4, phone, card, resident number) are unique to the field.
    """
    card = luhn_complete(f"45390000{n:07d}")
    pairs = [
        (f"mail kim{n:02d}x@private-mail.example", f"kim{n:02d}x@private"),
        (f"from 203.0.113.{100 + n}", f"203.0.113.{100 + n}"),
        (f"call 010-{2100 + n}-7{n:03d}", f"{2100 + n}-7{n:03d}"),
        (f"paid {card[:4]} {card[4:8]} {card[8:12]} {card[12:]}", card[8:12] + " " + card[12:]),
        (f"rrn {80 + n % 20}0315-2{n:06d}", f"0315-2{n:06d}"),
    ]
    # Beside them every writing of every kind, the same in every field.
    for kind_pairs in PRIVATE.values():
        pairs += kind_pairs
    return pairs


def name_private(name: str, n: int) -> tuple[str, list[str]]:
    """Return a name for field ``name`` (number ``n``) holding private values, and its secrets.

    An identifier or a file name has no spaces between values: a phone, a card and a
    resident number are joined by underscores, the e-mail last (its local part would take
    the marker with it).
    """
    card = luhn_complete(f"45390000{n:07d}")
    phone = f"010{2100 + n}7{n:03d}"
    rrn = f"{80 + n % 20}0315-2{n:06d}"
    email = f"kim{n:02d}x@private-mail.example"
    text = f"mark{name.replace('_', '')}_{phone}_{card}_{rrn}:{email}"
    return text, [phone, card, rrn, email.split("@")[0] + "@"]


def field_text(name: str, n: int, user: str | None = None) -> tuple[str, list[str]]:
    """Return the text planted in field ``name`` (number ``n``) and the secrets it holds.

    ``user``: a raw user id written into the text too (``user <id>``); the caller searches
    for it itself (an integer id is a secret only where it stands as a whole number).
    """
    pairs = field_private(n)
    who = f"user {user} ; " if user else ""
    text = f"mark{name.replace('_', '')} {who}" + " ; ".join(text for text, _ in pairs)
    return text, sorted({secret for _, secret in pairs})


FIELDS = (
    "edge_path", "edge_search", "edge_user_agent", "edge_client_info", "edge_referer",
    "edge_cf_ray", "edge_authorization", "edge_apikey", "edge_cookie", "edge_message",
    "pg_message", "pg_detail", "pg_hint", "pg_query", "pg_context",
    "rt_message", "rt_payload",
    "title", "status", "registration_note", "session_id", "annotation_label", "annotation_note",
    "manifest_name", "claim_statement", "recommendation", "manifest_extra",
    "fn_message", "fn_url",
)  # fmt: skip
#: Fields that are names, not text (:func:`name_private`): numbered after :data:`FIELDS`.
NAMED = ("pg_constraint", "pg_column", "file_name", "log_type")
#: Fields of a log source the incident may lack (Edge Functions' own log), and a name that
#: needs a kind of row it may lack (an invalid-uuid error for the missing column).
OPTIONAL = ("fn_message", "fn_url", "pg_column")
#: Log field -> attribute path, as ClickHouse flattens it and BigQuery nests it.
ATTRIBUTES = {
    "edge_path": "request.path",
    "edge_search": "request.search",
    "edge_user_agent": "request.headers.user_agent",
    "edge_client_info": "request.headers.x_client_info",
    "edge_referer": "request.headers.referer",
    "edge_cf_ray": "request.headers.cf_ray",
    "edge_authorization": "request.headers.authorization",
    "edge_apikey": "request.headers.apikey",
    "edge_cookie": "request.headers.cookie",
    "pg_detail": "parsed.detail",
    "pg_hint": "parsed.hint",
    "pg_query": "parsed.query",
    "pg_context": "parsed.context",
    "rt_payload": "payload.text",
    "fn_url": "request.url",
}
#: Log kind (its folder's name) -> the fields planted in its rows.
LOG_FIELDS = {
    "edge_logs": (
        "edge_path", "edge_search", "edge_user_agent", "edge_client_info", "edge_referer",
        "edge_cf_ray", "edge_authorization", "edge_apikey", "edge_cookie", "edge_message",
    ),
    "postgres_logs": ("pg_message", "pg_detail", "pg_hint", "pg_query", "pg_context"),
    "realtime_logs": ("rt_message", "rt_payload"),
    "function_edge_logs": ("fn_message", "fn_url"),
}  # fmt: skip
#: How a planted text joins what the field held (a path goes on as a segment).
JOIN = {"edge_path": "/", "edge_search": "&q=", "fn_url": "?q="}


def _get(row: dict, path: str) -> object:
    """Return the attribute ``path`` of a log row (ClickHouse flat, or BigQuery nested)."""
    if "log_attributes" in row:
        return row["log_attributes"].get(path)
    node = row["metadata"][0]
    *parents, last = path.split(".")
    for part in parents:
        node = (node.get(part) or [{}])[0]
    return node.get(last)


def _put(row: dict, path: str, value: str) -> None:
    """Set the attribute ``path`` of a log row, creating BigQuery's one-element lists."""
    if "log_attributes" in row:
        row["log_attributes"][path] = value
        return
    node = row["metadata"][0]
    *parents, last = path.split(".")
    for part in parents:
        if not node.get(part):
            node[part] = [{}]
        node = node[part][0]
    node[last] = value


def _rewrite_pages(folder: Path, change) -> int:
    """Apply ``change`` to every row of the gzipped JSON pages in ``folder``; return rows."""
    rows = 0
    for page in sorted(folder.glob("*.json.gz")):
        body = json.loads(gzip.decompress(page.read_bytes()))
        for row in body["result"]:
            change(row)
            rows += 1
        page.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))
    return rows


def _plant_logs(directory: Path, t) -> set[str]:
    """Plant the log fields in every page folder of ``directory``; return the fields planted."""
    planted = set()
    constraint = name_private("pg_constraint", len(FIELDS) + NAMED.index("pg_constraint"))[0]
    column = name_private("pg_column", len(FIELDS) + NAMED.index("pg_column"))[0]
    for folder in sorted({p.parent for p in directory.rglob("*.json.gz")}):
        fields = LOG_FIELDS.get(folder.name)
        if fields is None:
            continue

        def change(row: dict, fields=fields) -> None:
            for field in fields:
                if field not in ATTRIBUTES:  # the log line
                    message = row.get("event_message") or ""
                    # A constraint's name is part of its error class's key.
                    if field == "pg_message" and 'constraint "' in message:
                        message = re.sub(
                            r'constraint "([^"]+)"', rf'constraint "\1_{constraint}"', message
                        )
                        planted.add("pg_constraint")
                    # So is a missing column's: the invalid uuids become a 42703 class.
                    if field == "pg_message" and message.startswith("invalid input syntax"):
                        message = f'column "{column}" of relation "answers" does not exist'
                        _put(row, "parsed.sql_state_code", "42703")
                        planted.add("pg_column")
                    row["event_message"] = f"{message} | {t(field)}"
                    continue
                held = _get(row, ATTRIBUTES[field])
                glue = JOIN.get(field, " ")
                text = f"Mozilla/5.0 ({t(field)})" if field == "edge_user_agent" else t(field)
                _put(row, ATTRIBUTES[field], f"{held}{glue}{text}" if held else text)

        if _rewrite_pages(folder, change) == 0:
            raise ValueError(f"{folder}: no rows to plant in")
        planted.update(fields)
        # A download keeps whatever name it was given: the first page's carries values too.
        first = sorted(folder.glob("*.json.gz"))[0]
        name = name_private("file_name", len(FIELDS) + NAMED.index("file_name"))[0]
        first.rename(first.with_name(f"{first.name[: -len('.json.gz')]}-{name}.json.gz"))
        planted.add("file_name")
    return planted


def unified_rows(date: str, timestamp: object, log_type: str) -> list[dict]:
    """Return two rows of a Logs Explorer (unified) download: a ``postgres`` one and one whose
    ``log_type`` is ``log_type`` (an invalid-uuid error at ``date``/``timestamp``)."""
    base = {
        "date": date,
        "timestamp": timestamp,
        "level": "error",
        "status": "22P02",
        "method": "",
        "pathname": "",
        "event_message": 'invalid input syntax for type uuid: "null"',
        "headers": {},
        "regions": [],
        "latency": 0,
        "log_count": None,
        "logs": [],
        "auth_user": None,
    }
    return [
        dict(base, id="b0000000-0000-4000-8000-000000000001", log_type="postgres"),
        dict(base, id="b0000000-0000-4000-8000-000000000002", log_type=log_type),
    ]


def _plant_unified_export(directory: Path, start: str, log_type: str) -> None:
    """Write a Logs Explorer download whose second row names its own log type.

    A source the analysis does not read is counted as rejected under its name, and the
    input accounting shows that name.
    """
    at = start.replace("00:00Z", "30:00.000Z")
    (directory / "exports").mkdir(exist_ok=True)
    rows = unified_rows(at, at, log_type)
    (directory / "exports" / "supabase_logs.json").write_text(json.dumps(rows), encoding="utf-8")


def _rewrite_csv(path: Path, change) -> None:
    """Apply ``change(header, row)`` to every data row of a CRLF CSV (header may grow)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header = rows[0]
    for row in rows[1:]:
        change(header, row)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def plant(directory: Path, webinar_id: str, user: str | None = None) -> dict[str, list[str]]:
    """Plant every kind in every field of the incident at ``directory``; return field -> secrets.

    Every log row gets the texts; table rows of the report's webinar keep their ids and times
    (so they stay usable) and get the texts in their text cells; ``user`` (a raw user id) is
    written into every text. Checksums are not written:
    the incidents of tests/_unseen_mech.py carry none.
    """
    texts = {name: field_text(name, n, user) for n, name in enumerate(FIELDS)}
    texts.update({name: name_private(name, len(FIELDS) + n) for n, name in enumerate(NAMED)})

    def t(name: str) -> str:
        return texts[name][0]

    planted = _plant_logs(directory, t)
    missing = [
        f
        for f in (*FIELDS, *NAMED)
        if f.startswith(("edge_", "pg_", "rt_")) and f not in planted and f not in OPTIONAL
    ]
    if missing:
        raise ValueError(f"{directory}: no log rows for {', '.join(missing)}")

    def webinars(header: list[str], row: list[str]) -> None:
        row[header.index("title")] += " " + t("title")
        row[header.index("status")] += " " + t("status")

    def registrations(header: list[str], row: list[str]) -> None:
        if "note" not in header:
            header.append("note")
        row.append(t("registration_note"))

    def presence(header: list[str], row: list[str]) -> None:
        row[header.index("session_id")] += " " + t("session_id")

    tables = directory / "tables"
    _rewrite_csv(tables / "webinars.csv", webinars)
    _rewrite_csv(tables / "registrations.csv", registrations)
    _rewrite_csv(tables / "webinar_live_presence.csv", presence)
    manifest_path = directory / "incident.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    _plant_unified_export(directory, manifest["window_start"], texts["log_type"][0])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        [
            ["time_utc", "label", "note"],
            [manifest["window_start"], t("annotation_label"), t("annotation_note")],
            ["", t("annotation_label"), t("annotation_note")],
        ]
    )
    (directory / "annotations.csv").write_text(out.getvalue(), encoding="utf-8")
    manifest["name"] = t("manifest_name")
    manifest["claims"] = [
        {
            "statement": t("claim_statement"),
            "measures": "unique_users",
            "figure": 1,
            "webinar_id": webinar_id,
        }
    ]
    manifest["recommendations"] = [{"text": {"en": t("recommendation"), "ko": t("recommendation")}}]
    manifest["provenance"] = t("manifest_extra")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {
        name: secrets
        for name, (_, secrets) in texts.items()
        if name not in OPTIONAL or name in planted
    }
