"""Incidents of a sixth writer (tests/_unseen_stack.py), each read against its truth.

Errors there come from the layers behind the gateway: Supavisor's client limit met by an Edge
Function (its lines only in ``supavisor_logs``, which the package does not read), an RPC whose
latency grows with the audience until ``statement_timeout`` cancels it, Storage refusing uploads
past its per-second rate at two host prompts, Realtime's user limit; and load measured coarsely:
a monitor sampling every five minutes with two samples missing and no presence, presence rows
written by mobile devices whose clocks are minutes off, a churning drop-in audience, logs
without any viewer table, three hours with two spikes and a quiet night, and 2,000 viewers.
"""

from __future__ import annotations

import _unseen_stack as stack
import pytest
from _check_output import read_check_output
from _mech_runs import analyse_written, index_fits, index_verdicts

from analysis.__main__ import main as cli

#: Analysed in make test; the three-hour night and the 2,000-viewer keynote in test-slow.
FAST = stack.FAST
SLOW = ("pooler_night", "crowd_2000", "skewed_clocks")
#: Sources written beside the three the package reads, whose rows it counts as rejected.
UNREAD = ("supavisor_logs", "function_logs", "function_edge_logs")
#: Verdicts known to be wrong, and why (handed to their owner in the coordination log). The
#: tests assert that exactly these are wrong: a fix shows as a failure asking to remove one.
KNOWN_WRONG: dict[tuple[str, str], str] = {}


def _analyse(root, directory, name, cache_dir):
    truth = stack.truth(name)
    _, findings = analyse_written(
        root, directory, truth["webinar_id"], stack.CASES[name].display_tz, cache_dir
    )
    return truth, findings


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    return {name: stack.write_incident(root, name) for name in FAST}


@pytest.fixture(scope="module")
def analyse(tmp_path_factory, written, shared_cache_dir):
    done: dict = {}

    def run(name: str):
        if name not in done:
            done[name] = _analyse(
                tmp_path_factory.mktemp(name), written[name], name, shared_cache_dir
            )
        return done[name]

    return run


def _check_rows(directory, truth, capsys) -> str:
    """Run ``check``: every row read is accepted or rejected, and the tables hold the truth's."""
    assert cli(["check", f"--data={directory}"]) == 0
    out = capsys.readouterr().out
    read, accepted, rejected, tables = read_check_output(out)
    unread = sum(truth["rows"].get(source, 0) for source in UNREAD)
    assert read == accepted + rejected
    assert rejected == unread
    assert f"requests {truth['rows']['edge']}," in tables
    assert f"db_errors {truth['rows']['pg']}," in tables
    assert f"realtime_events {truth['rows']['realtime']}," in tables
    return out


def _check_truth(name: str, truth: dict, findings: dict) -> None:
    """Every class of the truth: made, a verdict it allows, K and lag where it has them."""
    wrong = {}
    verdicts, fits = index_verdicts(findings), index_fits(findings)
    keys = {c["key"] for c in findings["error_classes"]}
    for key, t in truth["classes"].items():
        assert key in keys, f"{name}: class {key} not made ({sorted(keys)})"
        got = verdicts.get(key, {}).get("verdict")
        if got not in t["expect"]:
            wrong[key] = f"{got}, truth {t['expect']}"
            continue
        if got != "capacity":
            continue
        fit = fits[key]
        low, high = t["k_band"] if "k_band" in t else (t["k"], t["k"])
        # A limit met by a share over it, read from each minute's highest sample: 5 % of slack.
        if fit["k_high"] * 1.05 < low or fit["k_low"] * 0.95 > high:
            wrong[key] = f"K [{fit['k_low']}, {fit['k_high']}] misses [{low}, {high}]"
        elif abs(fit["lag_minutes"] - t["lag"]) > 1:
            wrong[key] = f"lag {fit['lag_minutes']}, truth {t['lag']}"
    assert set(verdicts) <= set(truth["classes"]), f"{name}: classes the writer did not make"
    # Exactly the known wrong ones: a fix shows as a failure asking to remove its entry.
    assert set(wrong) == {key for case, key in KNOWN_WRONG if case == name}, wrong


@pytest.mark.parametrize("name", FAST)
def test_check_reads_every_row(written, name, capsys):
    _check_rows(written[name], stack.truth(name), capsys)


@pytest.mark.parametrize("name", FAST)
def test_each_class_gets_a_verdict_its_truth_allows(analyse, name):
    truth, findings = analyse(name)
    _check_truth(name, truth, findings)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_cases_read_every_row_and_get_verdicts_their_truth_allows(
    tmp_path_factory, name, capsys
):
    root = tmp_path_factory.mktemp("stack-slow")
    directory = stack.write_incident(root, name)
    truth = stack.truth(name)
    out = _check_rows(directory, truth, capsys)
    for source in UNREAD:
        if truth["rows"].get(source):
            assert f"unsupported log source {source}" in out
    truth, findings = _analyse(root, directory, name, root / "cache")
    _check_truth(name, truth, findings)


def test_a_timeout_driven_by_latency_shows_its_latency_rising_with_the_load(analyse):
    # No connection limit: the RPC slows with the audience until statement_timeout; every
    # call's origin_time carries it, so the latency signal must see the load.
    _, findings = analyse("snapshot_uploads")
    signals = index_verdicts(findings)["57014"]["signals"]
    assert signals["latency_load_rho"] > 0.5


def test_a_five_minute_monitor_with_two_missing_samples_is_flagged(analyse):
    _, findings = analyse("snapshot_uploads")
    gaps = [d for d in findings["data_quality"] if d["code"] == "sampling_density_drop"]
    assert [g["fields"]["start"][11:16] for g in gaps] == ["09:25", "09:40"]


def test_the_app_s_own_table_stops_check_in_one_line_naming_it(tmp_path, capsys):
    # tables/app_events.csv as exported (no `ignore` in incident.json): refused, not read as
    # something else, in one line that names the file and the fix.
    directory = stack.write_incident(tmp_path, "skewed_presence", hint_applied=False)
    assert cli(["check", f"--data={directory}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "tables/app_events.csv" in err[0] and "incident.json" in err[0]
    # It is a table, not a log source: say so, name its columns and how to leave it out.
    assert "unknown log source" not in err[0]
    assert "not a table the analysis reads (columns id, user_id, kind, client_ts, device)" in err[0]
    assert '"files": {"tables/app_events.csv": {"kind": "ignore"}}' in err[0]


def test_logs_without_any_viewer_table_say_the_load_is_unknown(analyse):
    # Only the analytics endpoint's logs and the webinar's row: nothing may be called a
    # capacity limit against a load nobody measured, and findings say the capacity test did
    # not run; the flat 42703 (a fifth of the clients' requests to one endpoint) needs only
    # its requests to be told a flat rate per request (docs/verdicts.md, "No load series").
    _, findings = analyse("api_only")
    assert "no_concurrency_samples" in {d["code"] for d in findings["data_quality"]}
    verdicts = index_verdicts(findings)
    assert all(v["load_unknown"] and v["hinge_p_value"] is None for v in verdicts.values())
    assert findings["capacity"] == []
    assert verdicts["42703"]["verdict"] == "traffic", verdicts["42703"]["reason"]
    assert "capacity not tested" in verdicts["42703"]["reason"]
    causes = {
        c["key"]: (g["kind"], c.get("why"))
        for g in findings["overview"]["causes"]
        for c in g["classes"]
    }
    assert causes == {"42703": ("traffic", None), "http:504:rest/*": ("undecided", "not_measured")}


def test_presence_written_by_skewed_device_clocks_still_finds_the_realtime_limit(analyse):
    # No monitor: the load is the open sessions, 45 % of them timed by phones minutes off.
    truth, findings = analyse("skewed_presence")
    fit = index_fits(findings)["realtime:too_many_connections"]
    assert fit["k_low"] <= truth["classes"]["realtime:too_many_connections"]["k"] <= fit["k_high"]
    codes = {d["code"] for d in findings["data_quality"]}
    assert {"concurrency_from_presence", "realtime_at_limit"} <= codes


#: Defects of the page found on these incidents (handed to their owner in the coordination log).
def test_a_limit_read_on_a_five_minute_monitor_is_a_capacity_cause_on_page_one(analyse):
    # Was a page defect (five_minute_monitor): the monitor's regular unsampled minutes are how it
    # measures (findings.share_errors_unmeasured judges gaps against its own spacing).
    from analysis.overview import group_causes

    _, findings = analyse("snapshot_uploads")
    causes = {c["key"]: group["kind"] for group in group_causes(findings) for c in group["classes"]}
    assert causes["57014"] == "capacity"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_audience_not_exported_is_unknown_not_zero(analyse, lang):
    # Was a page defect (no_presence): without a presence table page one said '(0 people, 287
    # registrations)', Impact 'Unique users 0', and a warning that the peak of 251 exceeds 0
    # distinct users.
    import html

    from analysis import narrative

    _, findings = analyse("snapshot_uploads")
    assert findings["audience"]["sessions"] is None
    assert findings["audience"]["unique_users"] is None
    assert findings["overview"]["people"]["audience"] is None
    assert "concurrency_exceeds_users" not in {i["code"] for i in findings["data_quality"]}
    text = narrative.load_locale(lang)
    summary = html.unescape(narrative.SECTIONS["summary"](findings, text))
    assert text["overview"]["audience_no_presence"].split("{")[0] in summary
    impact = html.unescape(narrative.SECTIONS["impact"](findings, text))
    assert impact.count(text["impact"]["not_exported_presence"]) == 2
