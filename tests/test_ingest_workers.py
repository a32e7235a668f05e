"""Forked page workers: the tables of one process, and a user's error as one process words it."""

from __future__ import annotations

import copy
import gzip
import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest
from analysis.exceptions import IngestError
from analysis.ingest import assemble
from analysis.schemas import SCHEMAS
from analysis.simulate.clickhouse import clickhouse_row, project_row, selected_attributes

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "incident"
#: A user id revealed (``request.sb.auth_user``) by a row of the LAST page only, and named in
#: a user filter of the FIRST page's query string: the two pages land in different workers.
USER = "7c4f1a2e-3b5d-4e6f-8a9b-0c1d2e3f4a5b"


def _page(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"result": rows, "error": None}).encode(), mtime=0))


def _edge_row(template: dict, number: int, search: str, user: str | None) -> dict:
    row = copy.deepcopy(template)
    row["id"] = f"e0000000-0000-4000-8000-0000000009{number:02d}"
    request = row["metadata"][0]["request"][0]
    request["search"] = search
    request["url"] = "https://yqsayphssjznthrxpgfb.supabase.co" + request["path"] + search
    request["sb"] = [{"auth_user": user}] if user else None
    row["event_message"] = f"GET | 200 | {request['url']}"
    return row


def _incident(root: Path, flavour: str) -> Path:
    """The ingest fixture (every shape, overlapping pages, rejected rows, an override) plus a
    first and a last page whose user id and user filter meet only across workers."""
    work = root / flavour
    shutil.copytree(FIXTURE, work)
    template = json.loads(
        gzip.decompress((FIXTURE / "edge_logs" / "page-0001.json.gz").read_bytes())
    )["result"][0]
    _page(
        work / "edge_logs" / "page-0000.json.gz",
        [_edge_row(template, 1, f"?select=*&user_id=eq.{USER}", None)],
    )
    _page(
        work / "zz_more_edge" / "page-0001.json.gz",
        [_edge_row(template, 2, "?select=*", USER)],
    )
    if flavour == "clickhouse":
        queries = Path(ingest.__file__).parents[1] / "queries"
        for source in ("edge_logs", "postgres_logs", "realtime_logs", "zz_more_edge"):
            kind = "edge_logs" if source == "zz_more_edge" else source
            selected = selected_attributes((queries / f"{kind}_raw.clickhouse.sql").read_text())
            for page in sorted((work / source).glob("page-*")):
                data = page.read_bytes()
                doc = json.loads(gzip.decompress(data) if page.suffix == ".gz" else data)
                rows = [project_row(clickhouse_row(r, kind), selected) for r in doc["result"]]
                page.write_bytes(
                    gzip.compress(json.dumps({"result": rows, "error": None}).encode())
                    if page.suffix == ".gz"
                    else json.dumps({"result": rows, "error": None}).encode()
                )
    return work


def _load(directory: Path, workers: int, monkeypatch) -> ingest.Incident:
    monkeypatch.setattr(assemble, "FORK_PAGES", 1)  # fork even for a handful of pages
    return ingest.load_incident(directory, use_cache=False, progress=False, workers=workers)


def _assert_same(one: ingest.Incident, other: ingest.Incident) -> None:
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(one.table(name), other.table(name))
    pd.testing.assert_frame_equal(one.accounting, other.accounting)
    pd.testing.assert_frame_equal(one.annotations, other.annotations)


@pytest.mark.parametrize("flavour", ["bigquery", "clickhouse"])
def test_forked_workers_give_the_tables_of_one_process(tmp_path, monkeypatch, flavour):
    directory = _incident(tmp_path, flavour)
    one = _load(directory, 1, monkeypatch)
    forked = []
    real = assemble.read_logs_forked

    def spy(*args, **kwargs):
        forked.append(args[-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(assemble, "read_logs_forked", spy)
    monkeypatch.setattr(assemble, "read_logs", None)  # no fallback to one process
    two, three = _load(directory, 2, monkeypatch), _load(directory, 3, monkeypatch)
    assert forked == [2, 3]
    _assert_same(one, two)
    _assert_same(one, three)
    # The case the workers must not get wrong: the filter's user is revealed in another
    # worker's share, and is still pseudonymised, not replaced by [user].
    search = two.requests.set_index("id")["search"]
    first = search["e0000000-0000-4000-8000-000000000901"]
    assert USER not in first and "[user]" not in first and "u_" in first
    assert not mp.active_children()


def test_a_bad_file_read_by_a_worker_is_the_error_one_process_gives(tmp_path, monkeypatch):
    directory = _incident(tmp_path, "clickhouse")
    page = directory / "zz_more_edge" / "page-0001.json.gz"
    rows = json.loads(gzip.decompress(page.read_bytes()))["result"]
    rows = [dict(row, timestamp="06/02/2026 05:00") for row in rows]
    _page(page, rows)
    messages = []
    for workers in (1, 2):
        with pytest.raises(IngestError) as error:
            _load(directory, workers, monkeypatch)
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "zz_more_edge/page-0001.json.gz" in messages[0]
    assert "\n" not in messages[0]
    assert not mp.active_children()


def test_a_worker_that_dies_leaves_the_work_to_the_parent(tmp_path, monkeypatch):
    directory = _incident(tmp_path, "bigquery")
    one = _load(directory, 1, monkeypatch)
    parent = os.getpid()
    real = assemble.read_share

    def dying(pages, ctx):
        if os.getpid() != parent:
            os._exit(3)  # as the kernel's OOM killer would end it
        return real(pages, ctx)

    monkeypatch.setattr(assemble, "read_share", dying)
    _assert_same(one, _load(directory, 2, monkeypatch))
    assert not mp.active_children()
