"""Two projects' rows in one incident directory: only incident.json's project is analysed.

Every export shape that carries the project's reference (the gateway's and Postgres'
``identifier``, Realtime's ``metadata.project``/``external_id``; ``log_attributes`` on a
ClickHouse project; the drains' event bodies) is written with the shipped slice's rows and a
copy of them relabelled as another project. The tables must be those of the shipped rows
alone, and every other row must be counted as ``another project (ref ...)``.
"""

from __future__ import annotations

import gzip
import json
import shutil
import uuid
from pathlib import Path

import _sql_writers as sw
import _studio_writers as w
import pandas as pd
import pytest
from test_real_writers import (
    SLICE,
    SOURCES,
    _base,
    _load,
    assert_same_tables,
    chunks,
    shipped_rows,
    write_api_pages,
    write_clickhouse_pages,
)

from analysis import ingest, rejections
from analysis.exceptions import IngestError
from analysis.ingest import assemble, fast, projects
from analysis.simulate.clickhouse import clickhouse_row, project_row, selected_attributes

OURS = "yqsayphssjznthrxpgfb"
OTHER = "mzxibjqkwplvtrcdoaue"
LOG_TABLES = ("requests", "db_errors", "realtime_events")


def relabel(row: dict, ref: str = OTHER) -> dict:
    """The same event as another project logs it: its own id, its own reference."""
    out = json.loads(json.dumps(row))
    out["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ref}/{row['id']}"))
    if "identifier" in out:
        out["identifier"] = ref
    for meta in out.get("metadata") or []:
        for key in ("project", "external_id"):
            if key in meta:
                meta[key] = ref
    return out


def mixed_rows() -> tuple[dict[str, list[dict]], int]:
    """Every source's shipped rows and their other-project copies, in time order."""
    rows = shipped_rows(SLICE)
    out = {
        source: sorted(
            [*source_rows, *(relabel(r) for r in source_rows)],
            key=lambda r: (r["timestamp"], r["id"]),
        )
        for source, source_rows in rows.items()
    }
    return out, sum(len(v) for v in rows.values())


def drain_batches(rows: dict[str, list[dict]], size: int = 250) -> list[list[dict]]:
    every = sorted((r for v in rows.values() for r in v), key=lambda r: (r["timestamp"], r["id"]))
    return [every[i : i + size] for i in range(0, len(every), size)]


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")


def write_projection_pages(root: Path, rows: dict[str, list[dict]]) -> None:
    """Pages of the package's raw ClickHouse queries (``make fetch FLAVOUR=clickhouse``)."""
    queries = Path(ingest.__file__).parents[1] / "queries"
    for source, source_rows in rows.items():
        selected = selected_attributes((queries / f"{source}_raw.clickhouse.sql").read_text())
        (root / source).mkdir()
        for n, chunk in enumerate(chunks(source_rows), start=1):
            result = [project_row(clickhouse_row(r, source), selected) for r in chunk]
            body = json.dumps({"result": result, "error": None}).encode()
            (root / source / f"page-{n:04d}.json.gz").write_bytes(gzip.compress(body, mtime=0))


def write_explorer(root: Path, rows: dict[str, list[dict]], ext: str) -> None:
    """Logs Explorer downloads of ``select id, identifier, timestamp, event_message, metadata``
    (Realtime's table has no ``identifier``: its rows name the project in ``metadata``)."""
    texts = []
    for source in SOURCES:
        for chunk in chunks(rows[source]):
            keys = ("id", "identifier", "timestamp", "event_message", "metadata")
            projected = [{k: r[k] for k in keys if k in r} for r in chunk]
            texts.append(w.results_csv(projected) if ext == "csv" else w.results_json(projected))
    names = w.repeated_download_names(w.explorer_file_name(OURS, ext), len(texts))
    _write(root, {f"exports/{n}": t for n, t in zip(names, texts, strict=True)})


def write_otlp(root: Path, rows: dict[str, list[dict]]) -> None:
    source_of = {r["id"]: s for s, v in rows.items() for r in v}
    files = {}
    for n, batch in enumerate(drain_batches(rows)):
        lines = [
            json.dumps(sw.otlp_logs_request([r for r in batch if source_of[r["id"]] == s], s))
            for s in SOURCES
            if any(source_of[r["id"]] == s for r in batch)
        ]
        files[f"otel/logs-{n:04d}.jsonl.gz"] = gzip.compress("\n".join(lines).encode(), mtime=0)
    _write(root, files)


def write_loki(root: Path, rows: dict[str, list[dict]]) -> None:
    source_of = {r["id"]: s for s, v in rows.items() for r in v}
    files = {}
    for n, batch in enumerate(drain_batches(rows)):
        streams: dict[str, list[dict]] = {}
        for r in batch:
            streams.setdefault(source_of[r["id"]], []).append(r)
        files[f"loki/push-{n:04d}.json.gz"] = sw.loki_push(streams)
    _write(root, files)


ROUTES = {
    "api-pages": write_api_pages,
    "api-pages-general-reader": write_api_pages,
    "clickhouse-api-pages": write_clickhouse_pages,
    "clickhouse-projection-pages": write_projection_pages,
    "explorer-csv": lambda root, rows: write_explorer(root, rows, "csv"),
    "explorer-json": lambda root, rows: write_explorer(root, rows, "json"),
    "http-drain": lambda root, rows: _write(
        root,
        {
            f"drain/b-{n:04d}.json.gz": sw.http_drain_batch(b)
            for n, b in enumerate(drain_batches(rows))
        },
    ),
    "ndjson-drain": lambda root, rows: _write(
        root,
        {
            f"drain/b-{n:04d}.ndjson.gz": sw.ndjson_drain_batch(b)
            for n, b in enumerate(drain_batches(rows, 1000))
        },
    ),
    "s3-drain": lambda root, rows: _write(
        root,
        {
            f"s3/{source}/{b[0]['timestamp']}.parquet": sw.s3_drain_parquet(b)
            for source, v in rows.items()
            for b in drain_batches({source: v}, 500)
        },
    ),
    "datadog-drain": lambda root, rows: _write(
        root,
        {
            f"datadog/b-{n:04d}.json.gz": sw.datadog_batch(b, "supabase")
            for n, b in enumerate(drain_batches(rows))
        },
    ),
    "loki-drain": write_loki,
    "otlp-drain": write_otlp,
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = _base(tmp_path_factory.mktemp("ref") / "pages", SLICE)
    write_api_pages(root, shipped_rows(SLICE))
    return _load(root)


def other_rows(incident: ingest.Incident) -> int:
    """Rows the accounting counts as another project's (any reference)."""
    found = (
        incident.accounting["reason"]
        .fillna("")
        .str.extractall(r"another project \(ref mzxibj…\): (\d+)")
    )
    return int(found[0].astype(int).sum()) if len(found) else 0


@pytest.mark.parametrize("route", list(ROUTES))
def test_rows_of_another_project_are_set_aside_in_every_shape(
    reference, tmp_path, monkeypatch, route
):
    rows, ours = mixed_rows()
    root = _base(tmp_path / route, SLICE)
    ROUTES[route](root, rows)
    if route == "api-pages-general-reader":
        monkeypatch.setattr(fast, "try_read_page", lambda path, flavour=None: None)
    got = _load(root)
    assert_same_tables(got, reference, LOG_TABLES)
    assert other_rows(got) == sum(len(v) for v in rows.values()) - ours
    logs = got.accounting[got.accounting["kind"].isin(SOURCES)]
    assert int(logs["rejected"].sum()) == other_rows(got)  # nothing else rejected
    # The report's accounting never holds the other project's whole reference.
    assert not got.accounting.astype(str).apply(lambda c: c.str.contains(OTHER)).any().any()


def test_forked_workers_set_the_same_rows_aside(reference, tmp_path, monkeypatch):
    rows, _ = mixed_rows()
    root = _base(tmp_path / "forked", SLICE)
    write_api_pages(root, rows)
    one = _load(root)
    monkeypatch.setattr(assemble, "FORK_PAGES", 1)
    monkeypatch.setattr(assemble, "read_logs", None)  # no fallback to one process
    two = ingest.load_incident(root, use_cache=False, progress=False, workers=2)
    for name in LOG_TABLES:
        pd.testing.assert_frame_equal(one.table(name), two.table(name))
    pd.testing.assert_frame_equal(one.accounting, two.accounting)
    assert other_rows(two) > 0


def _two_project_dir(tmp_path: Path, manifest_ref: object) -> Path:
    rows, _ = mixed_rows()
    root = _base(tmp_path / "two", SLICE)
    manifest = json.loads((root / "incident.json").read_text())
    if manifest_ref is None:
        manifest.pop("project_ref")
    else:
        manifest["project_ref"] = manifest_ref
    (root / "incident.json").write_text(json.dumps(manifest))
    write_api_pages(root, rows)
    return root


def test_two_projects_without_project_ref_stop_with_both_refs_named(tmp_path):
    root = _two_project_dir(tmp_path, None)
    with pytest.raises(IngestError) as err:
        _load(root)
    text = str(err.value)
    assert "incident.json" in text and "field 'project_ref'" in text
    assert OURS in text and OTHER in text and "4,959 rows" in text
    assert "\n" not in text


def test_a_project_ref_no_row_names_is_refused(tmp_path):
    root = _two_project_dir(tmp_path, "abcdefghijklmnopqrst")
    with pytest.raises(IngestError, match=f"no row of project abcdefghijklmnopqrst; .*{OURS}"):
        _load(root)


def test_a_project_ref_that_is_not_text_is_refused(tmp_path):
    root = _two_project_dir(tmp_path, 42)
    with pytest.raises(IngestError, match="field 'project_ref': bad project_ref; expected"):
        _load(root)


def test_one_project_without_project_ref_is_read_whole(reference, tmp_path):
    root = _base(tmp_path / "one", SLICE)
    manifest = json.loads((root / "incident.json").read_text())
    del manifest["project_ref"]
    (root / "incident.json").write_text(json.dumps(manifest))
    write_api_pages(root, shipped_rows(SLICE))
    got = _load(root)
    assert_same_tables(got, reference, LOG_TABLES)
    assert int(got.accounting["rejected"].sum()) == int(reference.accounting["rejected"].sum())


def test_make_check_names_the_other_project_and_its_rows(tmp_path, capsys):
    rows, ours = mixed_rows()
    root = _base(tmp_path / "check", SLICE)
    write_api_pages(root, rows)
    from analysis.__main__ import main as cli

    assert cli(["check", f"--data={root}", "--no-cache"]) == 0
    out = capsys.readouterr().out
    per_source = {s: len(v) // 2 for s, v in rows.items()}
    assert (
        f"set aside: {ours:,} rows of another project (ref mzxibj…: edge_logs "
        f"{per_source['edge_logs']:,}, postgres_logs {per_source['postgres_logs']:,}, "
        f"realtime_logs {per_source['realtime_logs']:,}): incident.json's project_ref is {OURS}"
    ) in out
    assert OTHER not in out


def test_a_reference_is_shown_shortened_and_anything_else_not_at_all():
    assert projects.other_project_reason(OTHER) == "another project (ref mzxibj…)"
    assert projects.other_project_reason("abc") == "another project (ref abc)"
    hostile = "a@b.example <script>"
    assert hostile not in projects.other_project_reason(hostile)


def test_no_reason_describes_no_other_project(reference):
    assert rejections.describe_other_projects(reference) == ()


def test_the_raw_clickhouse_queries_select_the_project(tmp_path):
    queries = Path(ingest.__file__).parents[1] / "queries"
    for source, key in (
        ("edge_logs", "identifier"),
        ("postgres_logs", "identifier"),
        ("realtime_logs", "project"),
    ):
        selected = dict(selected_attributes((queries / f"{source}_raw.clickhouse.sql").read_text()))
        assert selected.get(key) == key, source
    shutil.rmtree(tmp_path, ignore_errors=True)


def _without_reference(row: dict) -> dict:
    out = json.loads(json.dumps(row))
    out.pop("identifier", None)
    for meta in out.get("metadata") or []:
        meta.pop("project", None)
        meta.pop("external_id", None)
    return out


def _otlp_line(rows: dict[str, list[dict]], **kw) -> str:
    return "\n".join(json.dumps(sw.otlp_logs_request(rows[s], s, **kw)) for s in SOURCES)


def _stripped(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {s: [_without_reference(r) for r in v] for s, v in rows.items()}


@pytest.mark.parametrize(
    "resource",
    [
        {"project": OURS},
        {"project": None},
        # Logflare 39356b6 to 9d4eae2 described itself: no project in the resource.
        {
            "resource": [
                {"key": "name", "value": {"stringValue": "Logflare"}},
                {"key": "node", "value": {"stringValue": ":'logflare@10.0.0.1'"}},
                {"key": "cluster", "value": {"stringValue": "prod-c"}},
            ]
        },
    ],
    ids=["namespace-ours", "no-namespace", "older-logflare"],
)
def test_otlp_records_without_a_reference_are_read_as_the_incident_s(reference, tmp_path, resource):
    root = _base(tmp_path / "otlp", SLICE)
    _write(root, {"otel/logs.jsonl": _otlp_line(_stripped(shipped_rows(SLICE)), **resource)})
    got = _load(root)
    assert other_rows(got) == 0
    assert_same_tables(got, reference, LOG_TABLES)


def test_otlp_records_without_a_reference_take_their_resource_s_namespace(reference, tmp_path):
    """Logflare's OTLP formatter (Logflare/logflare
    ``lib/logflare/backends/adaptor/otlp_adaptor/protobuf_formatter.ex``, 533ca9f on) names the
    log drain's project as the resource's ``service.namespace``; a record that does not name
    its project itself is that project's: another drain's records are set aside."""
    ours = shipped_rows(SLICE)
    theirs = {s: [relabel(r) for r in v] for s, v in ours.items()}
    root = _base(tmp_path / "otlp", SLICE)
    lines = [
        _otlp_line(_stripped(ours), project=OURS),
        _otlp_line(_stripped(theirs), project=OTHER),
    ]
    _write(root, {"otel/logs.jsonl": "\n".join(lines)})
    got = _load(root)
    assert other_rows(got) == sum(len(v) for v in theirs.values())
    assert_same_tables(got, reference, LOG_TABLES)


def test_a_record_s_own_reference_wins_over_its_resource_s(reference, tmp_path):
    root = _base(tmp_path / "own", SLICE)
    _write(root, {"otel/logs.jsonl": _otlp_line(shipped_rows(SLICE), project=OTHER)})
    got = _load(root)
    assert other_rows(got) == 0
    assert_same_tables(got, reference, LOG_TABLES)
