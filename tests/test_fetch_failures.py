"""``make fetch`` when the Management API fails part-way: one clear line, and nothing left that a
later ``make check`` would take for a complete download.

Each case runs the command line (``python -m analysis fetch``'s ``main``) against the local fake
API (tests/fake_supabase_api.py) with one failure scripted for the middle of the paging (after
the first page of rows is on disk), then runs ``make check``'s command line on what the fetch
left. What tests/test_fetch.py already checks (the retries themselves, backoff, resume after a
kill) is not repeated; this file is about the message and the directory a failure leaves.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

import pytest
from fake_supabase_api import FakeSupabaseApi, Fault, make_rows

from analysis import __main__ as cli
from analysis import fetch

REF = "abcdefghijklmnopqrst"
TOKEN = "sbp_TEST0123456789abcdefSECRETtoken42"
START = datetime(2026, 2, 6, 5, 0, tzinfo=UTC)
END = datetime(2026, 2, 6, 6, 0, tzinfo=UTC)


@functools.cache
def held() -> dict[str, list[dict]]:
    # Three pages of edge rows: a failure after the first page leaves one page on disk.
    return {
        "edge_logs": make_rows("edge_logs", START, END, 2200, ref=REF, seed=11),
        "postgres_logs": make_rows("postgres_logs", START, END, 40, ref=REF, seed=12),
        "realtime_logs": make_rows("realtime_logs", START, END, 30, ref=REF, seed=13),
    }


def second_page(call: dict) -> bool:
    """A call for rows after the first page (the cursor is in the SQL)."""
    return " as n" not in call["sql"] and "id > '" in call["sql"]


@pytest.fixture
def no_waiting(monkeypatch):
    """The command line's client, with its sleeps recorded instead of slept."""
    sleeps: list[float] = []
    real = fetch.cli.ApiClient
    monkeypatch.setattr(
        fetch.cli, "ApiClient", functools.partial(real, sleep=sleeps.append, min_interval=0)
    )
    monkeypatch.setenv(fetch.TOKEN_ENV, TOKEN)
    return sleeps


def run(api, out, capsys, *extra: str) -> tuple[int, str, str]:
    code = cli.main(
        [
            "fetch",
            "--project-ref",
            REF,
            "--start",
            "2026-02-06T05:00Z",
            "--end",
            "2026-02-06T06:00Z",
            "--out",
            str(out),
            "--base-url",
            api.base_url,
            "--no-progress",
            "--max-attempts",
            "3",
            *extra,
        ]
    )
    got = capsys.readouterr()
    return code, got.out, got.err


def check(out, capsys) -> tuple[int, str]:
    code = cli.main(["check", "--data", str(out), "--no-cache"])
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and TOKEN not in err
    return lines[0]


def assert_left_incomplete(out, capsys) -> None:
    """What a failed fetch leaves is refused by make check, naming the interrupted fetch."""
    assert (out / fetch.STATE_FILE).exists() or not out.exists()
    if not out.exists():
        return
    code, err = check(out, capsys)
    assert code == 2
    assert "interrupted make fetch" in one_line(err), err


CASES = {
    # name: (fault, where it strikes, pattern of the one line)
    "401-bad-token": (
        Fault("status", status=401, message="Unauthorized"),
        lambda call: True,
        r"HTTP 401 .*Unauthorized; check that SUPABASE_ACCESS_TOKEN is a valid personal",
    ),
    "403-no-permission": (
        Fault("status", status=403, message="Forbidden resource"),
        second_page,
        r"HTTP 403 .*Forbidden resource; the token needs the analytics_logs_read permission",
    ),
    "404-project": (
        Fault("status", status=404, message="Project not found"),
        lambda call: True,
        r"HTTP 404 .*Project not found; check the project ref",
    ),
    "5xx-mid-paging": (
        Fault("status", status=502, message="upstream failed"),
        second_page,
        r"edge_logs .* after .*gave up after 3 attempts; last failure: HTTP 502 \(upstream failed\)"
        r"; run the same command again to resume",
    ),
    "error-object-in-a-200": (
        Fault("error", message="Query exceeded resources"),
        second_page,
        r"the API answered with an error: Query exceeded resources",
    ),
    "html-page-in-a-200": (
        Fault("html", status=200, message="Sign in to the guest Wi-Fi"),
        second_page,
        r"an HTML page, not the API's JSON \('Sign in to the guest Wi-Fi'\)",
    ),
    "html-502-from-a-proxy": (
        Fault("html", status=502, message="502 Bad Gateway"),
        second_page,
        r"gave up after 3 attempts; last failure: HTTP 502 \(an HTML page: '502 Bad Gateway'\)",
    ),
    "page-repeats-the-previous-one": (
        Fault("repeat"),
        second_page,
        r"the API returned rows already fetched \(the page before again\?\)",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_failure_mid_fetch_is_one_line_and_leaves_nothing_check_takes_as_complete(
    tmp_path, capsys, no_waiting, name
):
    fault, when, pattern = CASES[name]
    out = tmp_path / "o"
    times = 1 if fault.kind in ("repeat", "error") or fault.status in (401, 403, 404) else 3
    with FakeSupabaseApi(held(), project_ref=REF, token=TOKEN) as api:
        api.queue(Fault(**{**vars(fault), "when": when}), times)
        code, _, err = run(api, out, capsys)
    assert code == 2, err
    assert re.search(pattern, one_line(err)), err
    assert_left_incomplete(out, capsys)


def test_429_without_retry_after_waits_the_minute_out_then_finishes(tmp_path, capsys, no_waiting):
    out = tmp_path / "o"
    with FakeSupabaseApi(held(), project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("status", status=429, message="Too many requests", when=second_page), 2)
        code, stdout, err = run(api, out, capsys)
    assert code == 0, err
    assert sorted(no_waiting)[-2] >= 60  # the documented block is a minute
    code, _ = check(out, capsys)
    assert code == 0


def test_429_whose_retry_after_is_too_long_stops_and_the_rerun_completes(
    tmp_path, capsys, no_waiting
):
    out = tmp_path / "o"
    with FakeSupabaseApi(held(), project_ref=REF, token=TOKEN) as api:
        api.queue(Fault("status", status=429, retry_after="3600", when=second_page))
        code, _, err = run(api, out, capsys)
        assert code == 2
        assert "asks to wait 3600 s (Retry-After)" in one_line(err)
        assert_left_incomplete(out, capsys)
        code, stdout, err = run(api, out, capsys)
    assert code == 0, err
    assert "resumed" in stdout
    code, err = check(out, capsys)
    assert code == 0, err


def test_an_empty_window_is_fetched_as_empty_pages_and_check_says_there_is_nothing(
    tmp_path, capsys, no_waiting
):
    out = tmp_path / "o"
    with FakeSupabaseApi({}, project_ref=REF, token=TOKEN) as api:
        code, stdout, err = run(api, out, capsys)
    assert code == 0, err
    assert "edge_logs: 0 rows in 1 pages" in stdout
    assert err.startswith("note: no source holds a row in this window: check that START")
    assert err.count("\n") == 1
    code = cli.main(["check", "--data", str(out), "--no-cache"])
    got = capsys.readouterr()
    assert code == 0, got.err
    assert "TOTAL" in got.out and "Traceback" not in got.out + got.err


def test_ingest_knows_the_fetch_s_state_file_by_its_name():
    from analysis.ingest import incident

    assert incident.FETCH_STATE_FILE == fetch.STATE_FILE
