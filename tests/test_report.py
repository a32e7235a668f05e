"""The postmortem end to end: papermill execution, HTML and PDF exports, privacy, determinism.

Two notebook executions in all (module fixtures): ``make report``'s path (run_report with
explicit parameters into a temporary directory, HTML and PDF), and the notebook as an analyst
runs it in JupyterLab (papermill with no parameters at all, so every default is used).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from analysis import narrative, pipeline, report
from analysis.config import DEFAULT_INCIDENT_DIR, DEFAULT_WEBINAR_ID, KERNEL_NAME
from analysis.findings import dump_findings, validate_findings
from analysis.params import build_params

pytestmark = pytest.mark.notebook

KOREAN_TITLE = "AI 특허리서치 실무 활용 웨비나"
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
SECRET_PARAM = re.compile(r"(?i)(?:apikey|api_key|access_token|refresh_token|token)=([^&\s\"'|]+)")
USER_KEYS = {"user_id", "auth_user", "subject", "sub", "user"}
IP_KEYS = {"cf_connecting_ip", "x_real_ip", "x_forwarded_for", "client_ip", "ip"}


@pytest.fixture(scope="module")
def shipped_report(tmp_path_factory) -> Path:
    """``make report`` for the main webinar (HTML and PDF) into a temporary directory."""
    out = tmp_path_factory.mktemp("report")
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, output_dir=out)
    outcome = report.run_report(params, progress=False)
    assert outcome.webinar_id == DEFAULT_WEBINAR_ID
    return out


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """The notebook executed with no parameters: what an analyst gets from Run All in Lab.

    Its statistics come from the cache the other run wrote (same inputs, same seed): that the
    seeded computation itself repeats is tested on the small incident
    (test_findings_incident.py), without a second statistics run of the shipped hour here.
    """
    out = tmp_path_factory.mktemp("lab") / "postmortem.ipynb"
    pm.execute_notebook(
        str(report.NOTEBOOK),
        str(out),
        parameters={},
        kernel_name=KERNEL_NAME,
        progress_bar=False,
        cwd=str(report.NOTEBOOK.parent),
    )
    return out


def _raw_private_values(directory: Path) -> dict[str, set[str]]:
    """User ids, IPs, e-mails and tokens found in the raw inputs, read without the package."""
    found: dict[str, set[str]] = {"user": set(), "ip": set(), "email": set(), "token": set()}

    def scan_text(text: str) -> None:
        # Each pattern needs its literal ('@', '=', 'eyJ'): strings without it are skipped.
        if "@" in text:
            found["email"].update(EMAIL.findall(text))
        if "=" in text:
            found["token"].update(m for m in SECRET_PARAM.findall(text) if len(m) >= 8)
        if "eyJ" in text:
            found["token"].update(
                re.findall(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", text)
            )

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str):
            if key in USER_KEYS and len(node) >= 8:
                found["user"].add(node)
            if key in IP_KEYS:
                found["ip"].update(IPV4.findall(node))
            if key == "event_message" and " | " in node:
                found["ip"].update(IPV4.findall(node.split(" | ")[2]))
            scan_text(node)

    for path in sorted(directory.rglob("*.json.gz")):
        walk(json.loads(gzip.decompress(path.read_bytes())))
    import csv

    for path in sorted((directory / "tables").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                for k, v in row.items():
                    if k in USER_KEYS and v:
                        found["user"].add(v)
                    scan_text(v or "")
    return found


def test_outputs_are_written_beside_the_executed_record(shipped_report: Path):
    for name in ("postmortem.ipynb", "findings.json", "postmortem.html"):
        assert (shipped_report / name).stat().st_size > 0, name
    figures = sorted(p.name for p in (shipped_report / "figures").glob("*.png"))
    assert figures == ["concurrency.png", "dose.png", "heatmap.png", "lag.png"]
    executed = nbformat.read(shipped_report / "postmortem.ipynb", as_version=4)
    tags = [t for c in executed.cells for t in c.metadata.get("tags", [])]
    assert "injected-parameters" in tags  # the record keeps what was run with


def test_findings_match_the_raw_data_and_the_schema(shipped_report: Path):
    findings = json.loads((shipped_report / "findings.json").read_text(encoding="utf-8"))
    validate_findings(findings)
    assert findings["report"]["title"] == KOREAN_TITLE
    # Peak checked against the raw viewer-count export, read here with the csv module.
    import csv

    with (DEFAULT_INCIDENT_DIR / "tables" / "webinar_viewer_counts.csv").open(
        encoding="utf-8"
    ) as f:
        counts = [
            int(r["viewer_count"])
            for r in csv.DictReader(f)
            if r["webinar_id"] == DEFAULT_WEBINAR_ID
        ]
    assert findings["audience"]["peak"] == max(counts)
    assert len(findings["buckets"]) == 12
    items = findings["action_items"]
    assert all(item["owner"] == item["type"] == item["due"] == "" for item in items)
    # The catalogue's items name the shipped data's classes; the incident's own eleven follow.
    assert {i["key"] for i in items if i["source"] == "catalogue"} >= {
        "unique_violation",
        "undefined_column",
        "invalid_text",
    }
    assert sum(i["source"] == "incident" for i in items) == 11
    pkey = next(i for i in items if i["fields"].get("class") == "23505:registrations_pkey")
    assert pkey["fields"]["constraint"] == "registrations_pkey"
    verdicts = {v["verdict"] for v in findings["verdicts"]}
    assert verdicts <= {"capacity", "traffic", "unrelated", "undetermined", "insufficient"}
    assert verdicts
    checksums = findings["inputs"]["checksums"]
    assert "tables/webinars.csv" in checksums
    assert all(len(v) == 64 for v in checksums.values())


def test_html_has_no_code_no_prompts_no_parameters_and_embeds_every_image(shipped_report: Path):
    html = (shipped_report / "postmortem.html").read_text(encoding="utf-8")
    assert KOREAN_TITLE in html
    body = html.split("<body", 1)[1]  # the head holds lab's CSS, which names every class
    for marker in ("jp-InputArea", "jp-InputPrompt", "jp-OutputPrompt", "In&nbsp;[", "Out["):
        assert marker not in body, marker
    assert not re.search(r"webinar_id = (\"|&quot;)", body) and "Parameters" not in body
    assert "narrative.show(" not in body and "load_incident(" not in body
    images = re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", html)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"<(script|link|iframe)[^>]+(src|href)=\"(https?:)?//", html)
    assert str(report.NOTEBOOK.parents[1]) not in html  # no host path


@pytest.mark.skipif(report.find_chromium() is None, reason=report.SYSTEM_PACKAGES_HINT)
def test_html_makes_no_request_to_another_host(shipped_report: Path):
    from playwright.sync_api import sync_playwright

    page_file = shipped_report / "postmortem.html"
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=report.find_chromium(),
            args=[*report.CHROMIUM_ARGS, "--no-sandbox"],
        )
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri(), wait_until="networkidle")
        title = page.title()
        browser.close()
    others = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert others == []
    assert requests and requests[0].startswith("file:")  # the counter saw the page itself
    assert KOREAN_TITLE in title


@pytest.mark.skipif(report.find_chromium() is None, reason=report.SYSTEM_PACKAGES_HINT)
def test_pdf_keeps_the_korean_text(shipped_report: Path):
    pdf = shipped_report / "postmortem.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    # Dated by the incident (14:00 KST), not by the printing: two runs give the same bytes.
    assert b"/CreationDate (D:20260206050000+00'00')" in pdf.read_bytes()
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert KOREAN_TITLE in text
    assert "요약" in text and "조치 항목" in text
    # Narrow columns keep their words and numbers whole: a cell breakable anywhere was
    # squeezed to one character a line ("1/0", "확인/됨", "cap/acit/y" in the claims table).
    claims = json.loads((shipped_report / "findings.json").read_text(encoding="utf-8"))["claims"]
    confirmed = narrative.load_locale("ko")["claims"]["outcomes"]["confirmed"]
    # Counted as whole words: pdftotext may put a row's cells on one line ("capacity 확인됨");
    # the summary line ("확인됨 9건") is left out.
    words = [w for line in text.splitlines() if "건" not in line for w in line.split()]
    assert words.count(confirmed) >= sum(c["outcome"] == "confirmed" for c in claims) > 0


def test_no_private_value_from_the_raw_inputs_is_published(shipped_report: Path):
    private = _raw_private_values(DEFAULT_INCIDENT_DIR)
    assert private["user"] and private["ip"]  # the scan found what the inputs hold
    texts = {
        "html": (shipped_report / "postmortem.html").read_text(encoding="utf-8"),
        "ipynb": (shipped_report / "postmortem.ipynb").read_text(encoding="utf-8"),
        "findings": (shipped_report / "findings.json").read_text(encoding="utf-8"),
    }
    pdf = shipped_report / "postmortem.pdf"
    if pdf.exists() and shutil.which("pdftotext"):
        texts["pdf"] = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    leaks = [
        (where, kind, value)
        for where, text in texts.items()
        for kind, values in private.items()
        for value in values
        if value in text
    ]
    assert leaks == []


def test_two_runs_give_identical_findings_and_html(shipped_report: Path, default_run: Path):
    # The analyst's default run writes to <reports>/<webinar> (a scratch directory in the
    # tests, see conftest.py); same inputs, same bytes.
    reports_dir = pipeline.read_settings().reports_dir
    defaults = build_params(DEFAULT_WEBINAR_ID, reports_dir=reports_dir).output_dir
    defaults = defaults / "findings.json"
    first = json.loads((shipped_report / "findings.json").read_text(encoding="utf-8"))
    second = json.loads(defaults.read_text(encoding="utf-8"))
    assert dump_findings(first) == dump_findings(second)
    assert (shipped_report / "findings.json").read_bytes() == defaults.read_bytes()
    title = first["report"]["title"]
    nb = report.prepare_for_export(nbformat.read(default_run, as_version=4), title)
    html = report.export_html(nb, "ko")
    assert html == (shipped_report / "postmortem.html").read_text(encoding="utf-8")


def test_stage_cells_show_results_in_lab_and_leave_the_html_unchanged(shipped_report: Path):
    executed = nbformat.read(shipped_report / "postmortem.ipynb", as_version=4)
    stages = [c for c in executed.cells if "stage" in c.metadata.get("tags", [])]
    assert len(stages) >= 6
    # In JupyterLab every stage shows its table or object ...
    assert all(c.outputs and c.outputs[-1].output_type == "execute_result" for c in stages[:-1])
    assert "application/json" in stages[-1].outputs[-1].data
    # ... and none of it reaches the stakeholders' page, which is what the report cells make.
    html = (shipped_report / "postmortem.html").read_text(encoding="utf-8")
    body = html.split("<body", 1)[1]
    assert 'class="dataframe"' not in body and "application/json" not in body
    title = json.loads((shipped_report / "findings.json").read_text(encoding="utf-8"))
    without = nbformat.from_dict(
        {**executed, "cells": [c for c in executed.cells if c not in stages]}
    )
    nb = report.prepare_for_export(without, title["report"]["title"])
    assert report.export_html(nb, "ko") == html
    kept = report.prepare_for_export(executed, title["report"]["title"]).cells
    committed = nbformat.read(report.NOTEBOOK, as_version=4).cells
    hidden = set(report.HIDDEN_TAGS)
    assert [c.id for c in kept] == [
        c.id for c in committed if not set(c.metadata.get("tags", [])) & hidden
    ]


def test_english_report_has_the_same_sections_in_english(shipped_report: Path):
    from analysis import narrative

    findings = json.loads((shipped_report / "findings.json").read_text(encoding="utf-8"))
    en, ko = narrative.load_locale("en"), narrative.load_locale("ko")
    # Every string exists in both languages; Korean also words each audit finding (English
    # takes the audit's own sentences).
    assert _keys(en) == {k for k in _keys(ko) if not k.startswith("/audit/codes")}
    codes = ko["audit"]["codes"]
    for item in findings["data_quality"]:
        if item["code"] in codes:
            for part in ("what", "limits"):
                worded = narrative.sections._audit_text(item, part, ko, "Asia/Seoul")
                assert worded != narrative.escape(item[part]), (item["code"], part)
    pages = {name: render(findings, en) for name, render in narrative.SECTIONS.items()}
    assert pages["summary"].startswith("## Summary")
    assert "## Action items" in pages["actions"] and "## Appendix" in pages["appendix"]
    hangul = re.compile(r"[\uac00-\ud7a3]")
    data_values = {findings["report"]["title"], "[테스트] 149400 웨비나"}
    # claims are quoted as written (data, escaped in the page)
    data_values |= {narrative.escape(c["statement"]) for c in findings["claims"]}
    for name, page in pages.items():
        for value in data_values:
            page = page.replace(value, "")
        assert not hangul.search(page), (name, hangul.search(page))


def _keys(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        return {k for key, v in node.items() for k in _keys(v, f"{prefix}/{key}")} | {prefix}
    if isinstance(node, list):
        return {f"{prefix}[{len(node)}]"}
    return {prefix}


@pytest.fixture(scope="module")
def english_report(tmp_path_factory) -> Path:
    """``make report LANG=en`` for the main webinar (HTML and PDF)."""
    out = tmp_path_factory.mktemp("report_en")
    params = build_params(DEFAULT_WEBINAR_ID, DEFAULT_INCIDENT_DIR, lang="en", output_dir=out)
    report.run_report(params, progress=False)
    return out


def _page_one(pdf: Path) -> str:
    """Text of the PDF's first page with every whitespace removed (line breaks fall anywhere)."""
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.sub(r"\s+", "", text)


@pytest.mark.skipif(report.find_chromium() is None, reason=report.SYSTEM_PACKAGES_HINT)
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_page_one_tells_the_story_with_human_names(lang, request):
    from analysis import narrative
    from analysis.narrative import PAGE_ONE_NAMES

    out = request.getfixturevalue("shipped_report" if lang == "ko" else "english_report")
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    text = narrative.load_locale(lang)
    page = _page_one(out / "postmortem.pdf")

    def squeeze(value: object) -> str:
        return re.sub(r"\s+", "", str(value))

    o = findings["overview"]
    assert squeeze(text["headings"]["summary"]) in page
    # impact in people and minutes (the shipped hour: 62 of 141 people, 60 minutes)
    people, minutes = o["people"], o["minutes"]
    assert (people["affected"], people["audience"], minutes["error_period"]) == (62, 141, 60)
    said = [b for b in text["overview"]["impact"].split("**") if "{affected}" in b]
    said += [b for b in text["overview"]["period"].split("**") if "{minutes}" in b]
    assert len(said) == 2, said
    assert squeeze(said[0].format(affected=62, people=141)) in page
    assert squeeze(said[1].format(minutes=60)) in page
    # root causes by human name, the key in parentheses
    named = {c["key"]: c["name"][lang] for c in findings["error_classes"]}
    for group in o["causes"]:
        for cls in group["classes"][:PAGE_ONE_NAMES]:
            assert squeeze(f"{cls['name'][lang]} ({cls['key']})") in page, cls["key"]
    # the top actions, worded
    assert len(o["actions"]) == 3
    items = {i["number"]: i for i in findings["action_items"]}
    for action in o["actions"]:
        item = items[action["number"]]
        if item["source"] == "incident":
            worded = item["text"][lang]
        else:  # the catalogue's words up to the first value from the data
            worded = text["actions"]["catalogue"][item["key"]].split("{")[0]
        assert squeeze(worded) in page, worded
    # no class key on page one without its human name right before it
    for key, name in named.items():
        for hit in re.finditer(re.escape(squeeze(key)), page):
            before = page[: hit.start()]
            assert before.endswith(squeeze(f"{name}(")), (key, page[hit.start() - 60 : hit.end()])
    # the claims check starts on page two
    assert squeeze(text["headings"]["claims"]) not in page


def test_claims_and_capacity_plan_of_the_shipped_incident(shipped_report: Path):
    findings = json.loads((shipped_report / "findings.json").read_text(encoding="utf-8"))
    by_statement = {c["statement"]: c for c in findings["claims"]}
    peak = by_statement["최대 동시 접속자: 311명 (14:40 KST)"]
    assert peak["outcome"] == "misleading" and peak["reason"] == "sessions_not_people"
    assert peak["measured"] == {"peak": 311, "people": 141, "sessions": 1852}
    average = by_statement["평균 최대 동시 접속자: 약 181명"]
    assert average["outcome"] == "misleading"
    assert round(average["measured"]["mean_of_maxima"]) == 181
    assert average["measured"]["time_weighted_mean"] < 170
    assert by_statement["총 고유 사용자: 141명"]["outcome"] == "confirmed"
    assert by_statement["등록 건수: 176건"]["outcome"] == "confirmed"
    raised = by_statement["즉시 조치: Supabase 한도 상향 (완료)"]
    assert raised["outcome"] == "confirmed"
    assert (raised["measured"]["from_limit"], raised["measured"]["to_limit"]) == (200, 500)
    plan = findings["capacity_plan"]
    assert [p["registrations"] for p in plan["projections"]] == [176, 500, 2000]
    this = plan["projections"][0]["peak_sessions"]
    assert this["low"] <= 311 <= this["high"]
    html = (shipped_report / "postmortem.html").read_text(encoding="utf-8")
    assert "2,000" in html and findings["inputs"]["manifest_sha256"] in html
    # one digest in the report, the per-file list only in findings.json
    assert not any(digest in html for digest in findings["inputs"]["checksums"].values())
    assert "No description" not in html and html.count('src="data:image/png') == 4
    assert html.count("<img alt=") == 4
