"""Mechanisms the package had not met, each read as a careful user would (``PROBES``).

Cases of tests/_unseen_mech.py: a limit whose failures follow the load by six minutes (past
the lag grid), a limit at about 20 sessions, one above the peak, a deploy that starts a flat
bug (a step in time, not in load), one client re-sending a failing insert fifty times in a
minute, a limit on Realtime channel joins, PostgREST's pool and Realtime's users limited in
the same hour, a webinar that ends early while a job's errors go on, six hours with two
episodes, tables timed without a zone or in ISO ``Z``, error text carrying e-mails, IPv6
addresses and tokens, two HTTP-500 classes on different tables at once, Edge Functions at
their worker limit, the same two limits in ClickHouse-era pages, and a 320-viewer ramp.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import _unseen_mech as mech
import pytest
from _check_output import read_check_output
from _mech_runs import (
    index_fits,
    index_verdicts,
    interval_covers,
    make_analyser,
    render_pages,
    render_section,
)

from analysis import narrative, report
from analysis.__main__ import main as cli
from analysis.params import build_params

#: Analysed in make test; in make test-slow: six_hours (a 360-minute window's statistics),
#: big_ramp (320 viewers) and the ClickHouse-era copy of pool_and_realtime. naive_tables is
#: refused by make check.
SLOW = ("six_hours", "big_ramp", "pool_and_realtime_ch")
FAST = [n for n in mech.PROBES if n not in SLOW and n != "naive_tables"]
#: Known wrong, handed to their owner in the landing log (strict: a fix shows here).
KNOWN_WRONG: dict[str, str] = {}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    return {name: mech.write_incident(root / name, name) for name in FAST}


@pytest.fixture(scope="module")
def analyse(tmp_path_factory, written, shared_cache_dir):
    return make_analyser(tmp_path_factory, written, mech.PROBES, shared_cache_dir)


@pytest.mark.parametrize("name", FAST)
def test_check_reads_every_row(written, name, capsys):
    truth = mech.truth(name)
    assert cli(["check", f"--data={written[name]}"]) == 0
    out = capsys.readouterr().out
    read, accepted, rejected, tables = read_check_output(out)
    # The Edge Functions' own log is counted, not read (the gateway logged the same requests).
    assert (read, rejected) == (accepted + rejected, truth["function_rows"])
    assert f"requests {truth['requests']}," in tables
    assert f"db_errors {truth['db_errors']}," in tables
    assert "warning:" not in out


# ------------------------------------------------------------------ limits


def test_a_limit_six_minutes_behind_the_load_is_found_near_its_threshold(analyse):
    _, truth, findings = analyse("lag_six")
    (m,) = truth["mechs"]
    assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity"
    fit = index_fits(findings)[m["key"]]
    assert interval_covers(fit, m["threshold"]), fit
    assert fit["lag_minutes"] >= 4, fit


def test_a_lag_at_the_end_of_the_grid_is_said_to_be_open(analyse):
    _, truth, findings = analyse("lag_six")
    fit = index_fits(findings)[truth["mechs"][0]["key"]]
    assert fit["lag_high"] == fit["lag_minutes"] == 5, fit  # the longest lag searched
    assert fit.get("lag_open_high") is True, fit
    assert fit["weakly_identified"], fit  # K's interval holds only the lags searched
    for lang, words in (("en", "or longer"), ("ko", "또는 그 이상")):
        causes = narrative.render_causes(findings, narrative.load_locale(lang))
        assert f"5 ({words}" in causes


def test_a_limit_at_twenty_sessions_is_capacity_with_an_interval_that_holds_it(analyse):
    _, truth, findings = analyse("k_twenty")
    (m,) = truth["mechs"]
    assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity"
    fit = index_fits(findings)[m["key"]]
    assert interval_covers(fit, m["threshold"])
    # Too few minutes below the limit to bound it there: page one says so, not "0–80".
    assert fit["k_open_low"], fit
    en, ko = render_section(findings, "summary", "en"), render_section(findings, "summary", "ko")
    high = f"{fit['k_high']:,.0f}"
    assert f"anywhere up to {high}: too few minutes lie below it" in en, en
    assert f"({fit['k_low']:,.0f}–" not in en, en
    assert f"{high} 이하 어디든" in ko, ko


def test_a_limit_above_the_peak_and_a_job_s_timeouts_make_no_capacity_call(analyse):
    # The limit is never reached (no failure); the job's statement timeouts come at a
    # constant rate: "the data cannot tell" is honest, capacity is not.
    _, truth, findings = analyse("k_above_peak")
    assert truth["peak"] < truth["mechs"][0]["threshold"]
    verdicts = index_verdicts(findings)
    assert set(verdicts) == {"57014"}
    assert verdicts["57014"]["verdict"] in {"unrelated", "undetermined"}
    assert [g["kind"] for g in findings["overview"]["causes"]] != ["capacity"]
    assert "capacity" not in {g["kind"] for g in findings["overview"]["causes"]}


def test_a_deploy_that_starts_a_flat_bug_is_not_capacity(analyse):
    # A step in time after the first peak: no failure at the first peak's load, then a flat
    # share of requests at any load. The operator's note is on the timeline.
    _, truth, findings = analyse("deploy_step")
    v = index_verdicts(findings)["42703"]
    assert v["verdict"] in {"traffic", "undetermined", "unrelated"}, v["reason"]
    page = render_section(findings, "timeline", "en")
    assert "Deploy web v2.31" in page
    # The deploy came before the first error: it started the errors, it did not answer them.
    assert findings["detection"]["first_human_action"] is None, findings["detection"]
    assert "First human action" not in render_section(findings, "detection", "en")


def test_a_realtime_join_limit_without_database_errors_is_capacity(analyse):
    _, truth, findings = analyse("rt_join_limit")
    (m,) = truth["mechs"]
    assert truth["db_errors"] == 0
    assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity"
    assert interval_covers(index_fits(findings)[m["key"]], m["threshold"])
    # No request failed, yet viewers' joins were refused: not "0 of 226 people (0%)".
    refused = sum(r["level"] == "error" for r in mech.build(mech.PROBES["rt_join_limit"]).rt)
    en, ko = render_section(findings, "summary", "en"), render_section(findings, "summary", "ko")
    assert "0 of" not in en and f"Realtime logged **{refused} errors**" in en, en
    assert f"Realtime이 **오류 {refused}건**" in ko, ko


def _two_limits(truth, findings):
    fits = index_fits(findings)
    for m in truth["mechs"]:
        assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity", m["key"]
        assert interval_covers(fits[m["key"]], m["threshold"]), (m["key"], fits[m["key"]])
    pool, rt = (fits[m["key"]]["k"] for m in truth["mechs"])
    assert pool < rt


def test_two_limits_in_one_hour_keep_their_own_thresholds(analyse):
    # PostgREST's pool (504, no Postgres line) at 75 and Realtime's users at 115.
    _two_limits(*analyse("pool_and_realtime")[1:])


def _slow_run(tmp_path_factory, shared_cache_dir, name: str):
    root = tmp_path_factory.mktemp(name)
    directory = mech.write_incident(root / name, name)
    assert cli(["check", f"--data={directory}"]) == 0
    written = {name: directory}
    return make_analyser(tmp_path_factory, written, mech.PROBES, shared_cache_dir)(name)


@pytest.mark.slow
def test_two_limits_in_clickhouse_era_pages_keep_their_own_thresholds(
    tmp_path_factory, shared_cache_dir
):
    _two_limits(*_slow_run(tmp_path_factory, shared_cache_dir, "pool_and_realtime_ch")[1:])


@pytest.mark.slow
def test_a_big_audience_s_limit_bugs_and_burst_each_get_their_reading(
    tmp_path_factory, shared_cache_dir
):
    # 320 viewers on a steep ramp, a connection limit at 220 three minutes behind the load.
    _, truth, findings = _slow_run(tmp_path_factory, shared_cache_dir, "big_ramp")
    verdicts = index_verdicts(findings)
    expected = {"capacity": {"capacity"}, "traffic": {"traffic"}, "unrelated": {"unrelated"}}
    for m in truth["mechs"]:
        assert verdicts[m["key"]]["verdict"] in expected[m["expect"]], (m, verdicts[m["key"]])
    fit = index_fits(findings)["53300"]
    assert interval_covers(fit, 220) and abs(fit["lag_minutes"] - 3) <= 1, fit


def test_edge_functions_at_their_worker_limit_are_capacity(analyse):
    _, truth, findings = analyse("function_limit")
    (m,) = truth["mechs"]
    assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity"
    assert interval_covers(index_fits(findings)[m["key"]], m["threshold"])
    codes = {q["code"]: q for q in findings["data_quality"]}
    # The functions' own log rows repeat the gateway's: set aside, nothing missing.
    assert "ingest_rows_rejected" not in codes, codes["ingest_rows_rejected"]["what"]
    assert codes["ingest_rows_set_aside"]["severity"] == "info"


@pytest.mark.slow
def test_six_hours_with_two_episodes_are_one_limit_and_two_surges(
    tmp_path_factory, shared_cache_dir
):
    _, truth, findings = _slow_run(tmp_path_factory, shared_cache_dir, "six_hours")
    (m,) = truth["mechs"]
    assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity"
    fit = index_fits(findings)[m["key"]]
    assert interval_covers(fit, m["threshold"]) and not fit["weakly_identified"], fit
    surges = [r for r in findings["timeline"] if r["kind"] == "error_surge"]
    assert len(surges) == 2, surges


# ------------------------------------------------------------------ not load


def test_one_client_s_retry_storm_is_neither_capacity_nor_traffic(analyse):
    _, truth, findings = analyse("retry_storm")
    v = index_verdicts(findings)["23505:answers_pkey"]
    assert v["verdict"] in {"unrelated", "insufficient"}, v["reason"]
    assert "users" in v["reason"]  # why: the errors' sources, not their count
    assert findings["overview"]["people"]["users_with_errors"] == 1


def test_a_retry_storm_is_not_called_too_few_errors_on_page_one(analyse):
    # Too little to judge because one user sent them all, not because they were few.
    _, _, findings = analyse("retry_storm")
    groups = [g["kind"] for g in findings["overview"]["causes"]]
    assert groups == ["few_sources"], groups
    en, ko = render_section(findings, "summary", "en"), render_section(findings, "summary", "ko")
    assert "Too few errors to judge" not in en and "From too few people to judge" in en, en
    assert "one client's behaviour" in en and "Few-user errors last at" in en, en
    assert "판단하기에 사용자가 너무 적음" in ko and "오류가 너무 적음" not in ko, ko


def test_errors_that_go_on_after_the_audience_left_are_not_load(analyse):
    # The webinar ends early: a job's timeouts go on at their rate (unrelated), the flat bug
    # falls with the requests (traffic).
    _, truth, findings = analyse("ends_early")
    verdicts = index_verdicts(findings)
    assert verdicts["57014"]["verdict"] in {"unrelated", "undetermined"}, verdicts["57014"]
    assert verdicts["23505:answers_pkey"]["verdict"] in {"traffic", "undetermined"}
    assert "capacity" not in {v["verdict"] for v in verdicts.values()}


# ------------------------------------------------------------------ where errors occur


def test_two_500_classes_at_once_keep_their_own_endpoints(analyse):
    # Neither message names a table; nearest-first pairing used to hand each class a few of
    # the other's responses (and their endpoint, and its requests in the denominator).
    _, truth, findings = analyse("two_500s")
    classes = {c["key"]: c for c in findings["error_classes"]}
    assert classes["XX001"]["endpoints"] == ["rest/invoices"]
    assert classes["XX000"]["endpoints"] == ["rest/fx_rates"]
    assert not [k for k in classes if k.startswith("http:")], sorted(classes)


# ------------------------------------------------------------------ inputs


def test_tables_in_iso_z_read_as_the_offset_form(analyse):
    _, truth, findings = analyse("iso_z_tables")
    (m,) = truth["mechs"]
    assert findings["audience"]["registrations"] > 0
    assert index_verdicts(findings)[m["key"]]["verdict"] == "capacity"


def test_tables_without_a_zone_are_refused_in_one_line(tmp_path, capsys):
    directory = mech.write_incident(tmp_path / "naive", "naive_tables")
    assert cli(["check", f"--data={directory}", "--no-cache"]) == 2
    captured = capsys.readouterr()
    err = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    (line,) = [x for x in err if "naive timestamp" in x]
    assert "tables/webinars.csv" in line and "row 1" in line, line
    assert "expected a time zone or offset" in line, line
    assert "Traceback" not in captured.out + captured.err


# ------------------------------------------------------------------ privacy

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}")


def test_messages_carrying_emails_addresses_and_tokens_reach_no_page(analyse):
    import json

    _, truth, findings = analyse("private_messages")
    texts = {"findings": json.dumps(findings, default=str)}
    for lang in ("en", "ko"):
        texts[lang] = render_pages(findings, lang)
    for where, text in texts.items():
        assert not [u for u in truth["users"] if u in text], where
        assert not [ip for ip in truth["ips"] if ip in text], where
        assert not _EMAIL.findall(text), (where, _EMAIL.findall(text)[:3])
        assert not [x for x in _IPV4.findall(text) if not x.startswith("0.")], where
        assert not _JWT.findall(text), where
    # The operator's note keeps its sentence, its person and address replaced by name.
    assert "&#91;email&#93; from &#91;ip&#93; says the player froze" in texts["en"]


def _private_left(text: str, truth: dict) -> list[str]:
    found = [u for u in truth["users"] if u in text] + [i for i in truth["ips"] if i in text]
    found += _EMAIL.findall(text) + _JWT.findall(text)
    return found + [x for x in _IPV4.findall(text) if not x.startswith("0.")]


@pytest.mark.slow
@pytest.mark.skipif(report.find_chromium() is None, reason=report.SYSTEM_PACKAGES_HINT)
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils' pdftotext")
def test_the_printed_report_of_private_messages_carries_nothing_private(tmp_path):
    # The whole report as make report writes it (Korean, HTML and PDF), read back.
    directory = mech.write_incident(tmp_path / "private", "private_messages")
    truth = mech.truth("private_messages")
    out = tmp_path / "out"
    params = build_params(truth["webinar_id"], directory, output_dir=out, formats="html,pdf")
    report.run_report(params, progress=False)
    pdf = next(out.rglob("postmortem.pdf"))
    printed = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Quarterly roadmap live" in printed  # the text layer is there to be read
    for path in (*out.rglob("*.html"), *out.rglob("*.json"), *out.rglob("*.ipynb")):
        assert not _private_left(path.read_text(encoding="utf-8"), truth), path.name
    assert not _private_left(printed, truth)


def test_page_one_does_not_blame_a_realtime_limit_that_refused_nobody(analyse):
    # Realtime refused users at ~115 while its samples reported a limit of 500: the audit
    # says another limit refused them, and page one must not read "the limit was 500".
    _, _, findings = analyse("pool_and_realtime")
    codes = {q["code"] for q in findings["data_quality"]}
    assert "realtime_refusals_below_limit" in codes
    for lang in ("en", "ko"):
        text = narrative.load_locale(lang)["overview"]
        page = render_section(findings, "summary", lang)
        assert text["limit_in_effect"].split("{")[0] not in page, page
        assert text["limit_not_binding"].split("{")[0] in page, page
