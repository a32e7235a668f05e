"""``make report``'s outputs hold no private value planted in any free-text field of the input.

The incident is ``private_text`` of tests/_unseen_mech.py (an app whose user ids are integers;
its messages, details and query strings carry ids, e-mails and tokens). On top of what its
writer plants, every other free-text field an export or a table can carry gets a person's data
here: the annotations' label and note, the webinar's title, the gateway's query string, user
agent and ray id, Postgres' message, query and hint, Realtime's message and payload. The
report (HTML, findings.json, the executed notebook and the PDF's text, as ``make report
FORMATS=html,pdf`` writes them) is then searched for each planted value; each planted field is
first checked to hold its value in the raw input, and the annotation to reach the page
(pseudonymised), so the search cannot pass by looking at nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import _unseen_mech as mech
import pytest

from analysis import privacy, report
from analysis.ingest import load_incident
from analysis.ingest.kinds import TABLE_NAMES
from analysis.params import build_params

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)"
)

EMAIL = "jane.doe@private-mail.example"
IPV4 = "203.0.113.77"
IPV6 = "2001:db8:85a3::8a2e:370:7334"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX3BhcnQ"
KEY = "sb_secret_AbCdEf0123456789xyzQ"
#: What no output may hold (the integer ids are searched for separately).
#: The token's parts, each: a bare ``eyJ`` occurs in any base64 image of the page by chance.
PLANTED = (EMAIL, "private-mail", IPV4, IPV6, "8a2e:370:7334", *JWT.split("."), KEY, "AbCdEf01234")


def _private(user: str) -> str:
    return f"call {user} at {EMAIL} from {IPV4} / {IPV6}, token {JWT}, key {KEY}"


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


def _plant(directory: Path, user: str) -> None:
    """Put a person's data into every free-text field the writer leaves plain."""
    text = _private(user)

    def edge(row):
        request = row["metadata"][0]["request"][0]
        search = request.get("search") or "?"
        request["search"] = f"{search}&contact={EMAIL}&from={IPV6}&uid={user}&k={KEY}"
        request["headers"][0]["user_agent"] = f"Mozilla/5.0 ({text})"
        request["headers"][0]["cf_ray"] = f"8f1a2b3c4d5e6f70-ICN {EMAIL}"
        request["headers"][0].pop("x_client_info", None)  # the user agent is the client then

    def pg(row):
        row["event_message"] += f" (user {user}, {EMAIL}, {IPV4})"
        parsed = row["metadata"][0]["parsed"][0]
        parsed["query"] = f"select * from profiles where id = {user} and email = '{EMAIL}'"
        parsed["hint"] = text

    def rt(row):
        row["event_message"] += f" user {user} from {IPV6} ({EMAIL})"
        row["metadata"][0]["payload"] = [{"user_id": int(user), "email": EMAIL, "ip": IPV4}]

    for folder, change in (("edge_logs", edge), ("postgres_logs", pg), ("realtime_logs", rt)):
        assert _rewrite_pages(directory / folder, change) > 0
    webinars = directory / "tables" / "webinars.csv"
    rows = list(csv.reader(io.StringIO(webinars.read_text(encoding="utf-8"))))
    for row in rows[1:]:
        row[1] = f"{row[1]} (host {EMAIL}, {IPV4}, {KEY})"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    webinars.write_text(out.getvalue(), encoding="utf-8")
    manifest = json.loads((directory / "incident.json").read_text(encoding="utf-8"))
    start = datetime.fromisoformat(manifest["window_start"].replace("Z", "+00:00"))
    (directory / "annotations.csv").write_text(
        "time_utc,label,note\r\n"
        f'{(start + timedelta(minutes=10)).isoformat()},user {user} complained,"{text}"\r\n'
        f",{EMAIL} wrote in,{user}\r\n",
        encoding="utf-8",
    )


def _users(directory: Path) -> list[str]:
    with (directory / "tables" / "registrations.csv").open(encoding="utf-8") as handle:
        return sorted({row["user_id"] for row in csv.DictReader(handle)})


def _raw_ids(text: str, users: set[str]) -> list[str]:
    """Known integer user ids standing as whole numbers in ``text``."""
    return [m for m in re.findall(r"(?<![\w.])\d{4,}(?![\w]|\.\d)", text) if m in users]


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    directory = mech.write_incident(root / "private_text", "private_text")
    users = _users(directory)
    user = users[0]
    _plant(directory, user)
    out = root / "reports"
    params = build_params(
        mech.truth("private_text")["webinar_id"],
        directory,
        display_tz="UTC",
        lang="en",
        output_dir=out,
        formats="html,pdf",
    )
    report.run_report(params, progress=False)
    texts = {
        path: path.read_text(encoding="utf-8", errors="replace")
        for path in out.rglob("*")
        if path.is_file() and path.suffix in (".html", ".json", ".ipynb", ".md", ".txt", ".csv")
    }
    pdf = next(out.rglob("postmortem.pdf"))
    texts[pdf] = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return directory, set(users), user, texts


def test_every_planted_value_is_in_the_raw_input(planted_report):
    directory, _, user, _ = planted_report
    raw = "\n".join(
        gzip.decompress(p.read_bytes()).decode() if p.suffix == ".gz" else p.read_text("utf-8")
        for p in directory.rglob("*")
        if p.is_file() and p.suffix in (".gz", ".csv", ".json")
    )
    for value in (*PLANTED, f"user {user} complained", "user_agent", "hint", "payload"):
        assert value in raw, value


def test_the_report_shows_the_annotation_with_the_pseudonym(planted_report):
    _, _, user, texts = planted_report
    html = "\n".join(t for p, t in texts.items() if p.suffix == ".html")
    assert html, sorted(p.name for p in texts)
    pseudonym = privacy.pseudonymise(user, privacy.pseudonym_key())
    assert f"user {pseudonym} complained" in html
    pdf = next(t for p, t in texts.items() if p.suffix == ".pdf")
    assert f"user {pseudonym} complained" in " ".join(pdf.split())


def test_no_output_holds_a_planted_id_address_token_or_key(planted_report):
    _, users, _, texts = planted_report
    assert any(p.name == "findings.json" for p in texts)
    found = {
        p.name: sorted({*_raw_ids(t, users), *(v for v in PLANTED if v in t)})
        for p, t in texts.items()
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_no_table_of_the_ingest_holds_a_planted_value(planted_report, tmp_path):
    directory, users, _, _ = planted_report
    incident = load_incident(directory, cache_dir=tmp_path, progress=False)
    names = (*TABLE_NAMES, "annotations")
    found = {}
    for name in names:
        table = getattr(incident, name)
        for col in table.columns:
            if str(table[col].dtype) != "string":
                continue
            values = table[col].dropna().unique()
            hits = [v for v in values if _raw_ids(v, users) or any(p in v for p in PLANTED)]
            # Identifier columns hold pseudonyms or the tables' own ids, never text.
            if hits and col not in ("id", "webinar_id"):
                found[(name, col)] = hits[:2]
    assert found == {}
    assert (
        len(incident.annotations) == 2
        and incident.webinars["title"].str.contains("[email]", regex=False).all()
    )
