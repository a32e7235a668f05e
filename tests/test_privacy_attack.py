"""``make report``'s outputs hold no private value planted in any field of any export kind.

The incident is ``private_text`` of tests/_unseen_mech.py (an app whose user ids are integers;
its own messages, details and query strings carry ids, e-mails and tokens). The attack writer
(tests/_private_attack.py, no import from ``analysis``) then plants every private kind of
tests/_private_kinds.py, and a registered user's raw id, in every field: the gateway's path,
query string, headers (user agent, client info, referer, ray id, authorization, apikey,
cookie) and log line; Postgres' message, detail, hint, query and context; Realtime's message
and payload; the webinars' title and status, an extra registrations column, the presence
sessions' id, the annotations, incident.json's name, claims, recommendations and an extra key;
beyond text, the name of every constraint (part of an error class's key), a page file's name
and the incident directory's name.

One report per language (en, ko), HTML and PDF, as ``make report`` writes them (a ``slow``
twin attacks ClickHouse-flavoured exports with Edge Functions' log, in English); the HTML, the
PDF's text (pdftotext) and metadata (pdfinfo), findings.json and the executed notebook are
searched for every planted value and for the absolute path of the directory they were made
in. The search cannot pass by looking at nothing: every planted value is first found in the
raw input, and the fields the report shows (title,
annotations, the manifest's name, claim and recommendation, the constraint and the column in
their classes' keys) must reach the page, with the user's pseudonym in place of the id, and
the file's name findings.json.
"""

from __future__ import annotations

import csv
import gzip
import re
import shutil
import subprocess
import zlib
from pathlib import Path
from urllib.parse import unquote

import _private_attack as attack
import _private_stack
import _unseen_mech as mech
import _unseen_stack as stack
import pytest

from analysis import privacy, report
from analysis.ingest import load_incident
from analysis.ingest.kinds import TABLE_NAMES
from analysis.params import build_params

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)"
)

#: Fields whose marker must reach the page (the report shows these words).
SHOWN = (
    "title", "annotation_label", "annotation_note", "manifest_name", "claim_statement",
    "recommendation", "pg_constraint", "pg_column",
)  # fmt: skip
#: Fields whose marker findings.json holds (its input accounting names every file and source).
IN_FINDINGS = ("file_name", "log_type")


def _users(directory: Path) -> list[str]:
    with (directory / "tables" / "registrations.csv").open(encoding="utf-8") as handle:
        return sorted({row["user_id"] for row in csv.DictReader(handle)})


def _raw_ids(text: str, users: set[str]) -> list[str]:
    """Known user ids in ``text``: uuids anywhere, integers standing as whole numbers."""
    found = re.findall(r"(?<![\w.])\d{4,}(?![\w]|\.\d)", text)
    found += [u.lower() for u in re.findall(UUID, text)]
    return [m for m in found if m in users]


UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


#: The incident's directory is named with private values too (an analyst's download folder).
DIRECTORY = "kim.folder@private-mail.example 010-2888-7888"
DIRECTORY_SECRETS = ["kim.folder@", "2888-7888"]


def _plant_case(root: Path, case: str) -> tuple:
    """Write mech case ``case`` under ``root`` and plant the attack in it."""
    directory = mech.write_incident(root / DIRECTORY / case, case)
    users = _users(directory)
    webinar = mech.truth(case)["webinar_id"]
    secrets = attack.plant(directory, webinar, user=users[0])
    return directory, webinar, set(users), users[0], secrets


def _report_texts(
    directory: Path, webinar: str, lang: str, out: Path, formats: str = "html,pdf"
) -> dict[str, str]:
    """Make the report (HTML, and PDF when asked) and return output name -> its text."""
    params = build_params(
        webinar, directory, display_tz="UTC", lang=lang, output_dir=out, formats=formats
    )
    report.run_report(params, progress=False)
    texts = {
        path.name: path.read_text(encoding="utf-8", errors="replace")
        for path in out.rglob("*")
        if path.is_file() and path.suffix in (".html", ".json", ".ipynb")
    }
    if "pdf" not in formats:
        return texts
    pdf = next(out.rglob("postmortem.pdf"))
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    # The PDF's metadata (title, author, subject, keywords) is shown by every viewer.
    texts["postmortem.pdf metadata"] = subprocess.run(
        ["pdfinfo", "-enc", "UTF-8", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    # Lines are wrapped where the page ends: the PDF's words are searched joined both ways.
    texts["postmortem.pdf"] = " ".join(text.split()) + "\n" + "".join(text.split())
    # What no text extraction shows: bookmarks, link targets, metadata streams. The objects'
    # raw text is full of object numbers and offsets: only their strings are searched for ids.
    texts["postmortem.pdf objects"], texts["postmortem.pdf strings"] = _pdf_strings(
        pdf.read_bytes()
    )
    return texts


def _pdf_strings(data: bytes) -> tuple[str, str]:
    """The PDF's objects as text (every stream inflated), and its strings and names decoded.

    Bookmarks (the outline), link annotations and the metadata are PDF strings, often inside
    compressed object streams; the pages' own text is glyph ids (read by pdftotext instead).
    """
    # The file without its streams, and each stream inflated that is text (object streams,
    # page contents, metadata); images and fonts are binary and hold no string.
    parts = [re.sub(rb"stream\r?\n.*?endstream", b"", data, flags=re.S)]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            inflated = zlib.decompress(match.group(1))
        except zlib.error:
            continue  # an image's or a font's own filter: no text of the report
        if sum(32 <= b < 127 or b in b"\t\r\n" for b in inflated[:4096]) > 0.9 * min(
            len(inflated), 4096
        ):
            parts.append(inflated)
    raw = b"\n".join(parts)
    strings = []
    for hexed in re.findall(rb"<([0-9A-Fa-f\s]{4,})>", raw):
        digits = re.sub(rb"\s", b"", hexed).decode()
        octets = bytes.fromhex(digits[: len(digits) // 2 * 2])
        if octets.startswith(b"\xfe\xff"):
            strings.append(octets[2:].decode("utf-16-be", "replace"))
        else:
            strings.append(octets.decode("latin-1"))
    literal = raw.decode("latin-1")
    for lit in re.findall(r"\(((?:[^()\\]|\\.)*)\)", literal, re.S):
        unescaped = re.sub(r"\\(.)", r"\1", lit, flags=re.S)
        # A literal string may hold UTF-16 too (a byte-order mark, then two bytes a character).
        if unescaped.startswith("\xfe\xff"):
            unescaped = unescaped[2:].encode("latin-1").decode("utf-16-be", "replace")
        strings.append(unescaped)
    # Names (a heading's anchor as a named destination), with their #xx escapes read.
    for name in re.findall(r"/([^\s/<>\[\]()%{}]+)", literal):
        octets = re.sub(r"#([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), name)
        strings.append(octets.encode("latin-1").decode("utf-8", "replace"))
    return data.decode("latin-1") + "\n" + literal, "\n".join(strings)


def _leaks(texts: dict[str, str], users: set[str], secrets: dict[str, list[str]]) -> dict:
    """Return output name -> the planted values and raw user ids found in it.

    The directory's name is searched in every output, the executed notebook's parameters
    included (analysis.record_paths shows them as findings.json does).
    """
    planted = {s for ss in secrets.values() for s in ss}
    found = {
        name: sorted(
            {
                *(_raw_ids(text, users) if name != "postmortem.pdf objects" else ()),
                *(s for s in planted if s in text),
                *(s for s in DIRECTORY_SECRETS if s in text),
            }
        )
        for name, text in texts.items()
    }
    return {name: hits for name, hits in found.items() if hits}


@pytest.fixture(scope="module")
def planted_incident(tmp_path_factory):
    return _plant_case(tmp_path_factory.mktemp("attack"), "private_text")


@pytest.fixture(scope="module", params=["en", "ko"])
def planted_report(request, planted_incident, tmp_path_factory):
    directory, webinar, *_ = planted_incident
    out = tmp_path_factory.mktemp(f"reports-{request.param}")
    return _report_texts(directory, webinar, request.param, out)


def _raw_input(directory: Path) -> str:
    """Every input file's name and content."""
    return "\n".join(
        p.name
        + "\n"
        + (gzip.decompress(p.read_bytes()).decode() if p.suffix == ".gz" else p.read_text("utf-8"))
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in (".gz", ".csv", ".json")
    )


def _check_raw_input(directory: Path, user: str, secrets: dict[str, list[str]]) -> None:
    raw = _raw_input(directory)
    assert set(secrets) >= {*attack.FIELDS, *attack.NAMED} - set(attack.OPTIONAL)
    missing = {f: [s for s in ss if s not in raw] for f, ss in secrets.items()}
    assert {f: m for f, m in missing.items() if m} == {}
    for field in secrets:
        assert "mark" + field.replace("_", "") in raw, field
    assert f"user {user} ;" in raw


def _check_shown(texts: dict[str, str], user: str, secrets: dict[str, list[str]]) -> None:
    """Check that the markers of the fields a report shows reach it (fields planted only)."""
    expected = [f for f in SHOWN if f in secrets]
    for name in ("postmortem.html", "postmortem.pdf", "findings.json"):
        shown = [f for f in expected if "mark" + f.replace("_", "") in texts[name]]
        assert shown == expected, name
    for field in IN_FINDINGS:
        assert "mark" + field.replace("_", "") in texts["findings.json"], field
    # The PDF's strings are read: its title (the webinar's, in the metadata) is among them.
    assert "marktitle" in texts["postmortem.pdf strings"]
    pseudonym = privacy.pseudonymise(user, privacy.pseudonym_key())
    assert f"user {pseudonym}" in texts["postmortem.html"]


def test_every_planted_value_is_in_the_raw_input(planted_incident):
    directory, _, _, user, secrets = planted_incident
    _check_raw_input(directory, user, secrets)


def test_the_shown_fields_reach_the_page_with_the_pseudonym(planted_incident, planted_report):
    *_, user, secrets = planted_incident
    assert set(SHOWN) <= set(secrets)  # the fast case plants every field the report shows
    _check_shown(planted_report, user, secrets)


def test_no_output_holds_a_planted_value(planted_incident, planted_report):
    *_, users, _, secrets = planted_incident
    assert _leaks(planted_report, users, secrets) == {}


def _host_paths(texts: dict[str, str], root: Path) -> dict[str, int]:
    """Output name -> how often it names ``root``, the absolute directory everything is under."""
    counts = {name: text.count(str(root)) for name, text in texts.items()}
    return {name: n for name, n in counts.items() if n}


def test_no_output_names_a_host_path(planted_report, tmp_path_factory):
    # The incident and the outputs lie under pytest's base directory (which names the user
    # running the tests, as a home directory would): no output, the executed notebook's
    # parameters and papermill's metadata included, may name it.
    assert {"postmortem.ipynb", "findings.json", "postmortem.html"} <= set(planted_report)
    assert _host_paths(planted_report, tmp_path_factory.getbasetemp()) == {}


def test_no_figure_text_holds_a_planted_value(planted_incident, tmp_path):
    # The figures reach the page as PNGs, which no text search reads: their titles, axis
    # labels, tick labels and legends are read from the figures as the report builds them.
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from analysis import narrative, pipeline, plots
    from analysis.narrative.figures import build_figure

    directory, webinar, users, _, secrets = planted_incident
    settings = pipeline.read_settings()
    incident = pipeline.load_directory(directory, settings)
    params = build_params(webinar, directory, display_tz="UTC", lang="en", output_dir=tmp_path)
    timeline = pipeline.build_timeline(incident, params, settings)
    statistics = pipeline.run_statistics(timeline, params, settings)
    quality = pipeline.run_audit(incident, timeline, settings)
    result = pipeline.compile_findings(incident, timeline, statistics, quality, params, settings)
    text = narrative.load_locale("en")
    plots.configure_plots("en")
    texts = {}
    for name in pipeline.FIGURES:
        fig = build_figure(name, result, text)
        texts[name] = "\n".join(t.get_text() for t in fig.findobj(Text))
        plt.close(fig)
    assert _leaks(texts, users, secrets) == {}
    # The search reads what the figures show: a planted constraint's name, part of its
    # class's key, labels the classes in them.
    assert [n for n, t in texts.items() if "markpgconstraint" in t], texts


def test_no_table_of_the_ingest_holds_a_planted_value(planted_incident, tmp_path):
    directory, _, users, _, secrets = planted_incident
    planted = {s for ss in secrets.values() for s in ss}
    incident = load_incident(directory, cache_dir=tmp_path, progress=False)
    found = {}
    for name in (*TABLE_NAMES, "annotations"):
        table = getattr(incident, name)
        for col in table.columns:
            if str(table[col].dtype) != "string":
                continue
            values = table[col].dropna().unique()
            hits = [v for v in values if _raw_ids(v, users) or any(s in v for s in planted)]
            # Identifier columns hold pseudonyms or the tables' own ids, never text.
            if hits and col not in ("id", "webinar_id"):
                found[(name, col)] = hits[:2]
    assert found == {}
    assert len(incident.annotations) == 2


@pytest.mark.slow
def test_the_attack_on_clickhouse_exports_with_function_logs(tmp_path):
    # The fast tests' twin on another export: ClickHouse-flavoured pages (flat attributes),
    # uuid users, IPv6 clients and Edge Functions' own log source (case "products").
    directory, webinar, users, user, secrets = _plant_case(tmp_path, "products")
    assert {"fn_message", "fn_url"} <= set(secrets)
    _check_raw_input(directory, user, secrets)
    texts = _report_texts(directory, webinar, "en", tmp_path / "out")
    _check_shown(texts, user, secrets)
    assert _leaks(texts, users, secrets) == {}
    assert _host_paths(texts, tmp_path) == {}


#: A case of the sixth writer with Storage uploads; the attack adds the sources it lacks.
STACK_CASE = "snapshot_uploads"
#: An address's pseudonym (analysis.addresses): the page shows counts of addresses, never one.
ADDRESS_PSEUDONYM = re.compile(r"(?<![0-9A-Za-z_])a_[0-9a-f]{12}(?![0-9a-f])")


@pytest.fixture(scope="module")
def stack_incident(tmp_path_factory):
    directory = stack.write_incident(tmp_path_factory.mktemp("stack") / DIRECTORY, STACK_CASE)
    return directory, _private_stack.plant(directory)


@pytest.fixture(scope="module")
def stack_reports(stack_incident, tmp_path_factory):
    """The report of the attacked stack case: English HTML and PDF, Korean HTML."""
    directory, _ = stack_incident
    webinar = stack.webinar_id(STACK_CASE)
    out = tmp_path_factory.mktemp("stack-reports")
    texts = _report_texts(directory, webinar, "en", out / "en")
    korean = _report_texts(directory, webinar, "ko", out / "ko", formats="html")
    texts.update({f"ko {name}": text for name, text in korean.items()})
    return texts


def test_a_hostile_client_s_values_in_the_stack_s_exports_are_in_the_raw_input(stack_incident):
    directory, secrets = stack_incident
    # A percent-encoded value is planted as a client sends it; its decoding is searched too.
    raw = _raw_input(directory)
    raw += "\n" + unquote(raw)
    assert {k: len(v) for k, v in secrets.items() if not v} == {}
    assert {k: [s for s in v if s not in raw] for k, v in secrets.items()} == {
        k: [] for k in secrets
    }


def test_no_output_of_the_stack_report_holds_an_address_or_a_planted_value(
    stack_incident, stack_reports
):
    """Client addresses (headers, forwarded lists, Supavisor's peers, presence payloads),
    Storage object paths, Edge Functions' console lines and headers, Supavisor's user@db and
    presence payloads: none reaches the HTML (en, ko), the PDF, findings.json or the record.
    """
    _, secrets = stack_incident
    planted = {s for values in secrets.values() for s in values}
    found = {name: sorted(s for s in planted if s in text) for name, text in stack_reports.items()}
    assert {name: hits[:5] for name, hits in found.items() if hits} == {}
    shown = {name: ADDRESS_PSEUDONYM.findall(text) for name, text in stack_reports.items()}
    assert {name: hits[:3] for name, hits in shown.items() if hits} == {}
    # Not a search of nothing: the page is the stack case's, and its input accounting names
    # every source the attack added.
    assert "http:503:storage/*" in stack_reports["postmortem.html"]
    for source in _private_stack.ADDED:
        assert source in stack_reports["findings.json"], source


def test_no_table_of_the_ingest_holds_a_client_address_or_a_planted_value(stack_incident, tmp_path):
    directory, secrets = stack_incident
    planted = {s for values in secrets.values() for s in values}
    incident = load_incident(directory, cache_dir=tmp_path, progress=False)
    found = {}
    for name in (*TABLE_NAMES, "annotations", "accounting"):
        table = getattr(incident, name)
        for col in table.columns:
            if str(table[col].dtype) != "string":
                continue
            hits = [v for v in table[col].dropna().unique() if any(s in v for s in planted)]
            # A card alone in the ray id column is an id there (docs/report-safety.md).
            if (name, col) == ("requests", "cf_ray"):
                hits = [v for v in hits if v not in secrets["ray_card"]]
            if hits:
                found[(name, col)] = hits[:2]
    assert found == {}
    if "address" in incident.requests.columns:
        addresses = incident.requests["address"].dropna()
        assert len(addresses) and addresses.str.fullmatch(ADDRESS_PSEUDONYM.pattern).all()
