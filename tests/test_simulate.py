"""The generator: deterministic, parameter-driven ground truth, and make data's verification."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis.exceptions import ParameterError
from analysis.simulate import (
    DataIntegrityError,
    generate_edge_log_volume,
    main,
    shipped_params,
    simulate,
    synthetic_params,
    verify_directory,
    write_incident,
)

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "raw" / "2026-02-06-eventlive"


def _rows(directory: Path, source: str) -> list[dict]:
    out = []
    for path in sorted((directory / source).glob("page-*.json.gz")):
        out.extend(json.loads(gzip.decompress(path.read_bytes()))["result"])
    return out


def _billing_and_disconnects(directory: Path):
    rows = _rows(directory, "realtime_logs")
    billing = sorted(
        (r["timestamp"], r["metadata"][0]["measurements"][0]["connected"])
        for r in rows
        if r["event_message"].startswith("Billing metrics")
    )
    disconnects = sorted(r["timestamp"] for r in rows if "disconnected" in r["event_message"])
    return billing, disconnects


def _connected_before(billing, t_us: int, lag_s: float = 0.0) -> int:
    times = [b[0] for b in billing]
    k = int(np.searchsorted(times, t_us - int(lag_s * 1_000_000), side="right")) - 1
    return billing[k][1]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two writes of the same small incident, and one with other parameters."""
    base = tmp_path_factory.mktemp("sim")
    params = synthetic_params(seed=3, minutes=20)
    a = write_incident(params, base / "a")
    b = write_incident(params, base / "b")
    return params, a, b, base


def test_same_seed_same_bytes(small):
    _, a, b, _ = small
    assert (a.directory / "SHA256SUMS").read_bytes() == (b.directory / "SHA256SUMS").read_bytes()
    for name in a.files:
        assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes(), name


def test_another_seed_other_bytes(small, tmp_path):
    params, a, _, _ = small
    c = write_incident(replace(params, seed=4), tmp_path / "c")
    assert (a.directory / "SHA256SUMS").read_bytes() != (c.directory / "SHA256SUMS").read_bytes()


@pytest.mark.slow  # two 20-minute incidents written: over 10 s
def test_threshold_is_ground_truth(tmp_path):
    """Disconnects happen above the limit the parameters set, and only there."""
    found = {}
    for limit in (180, 240):
        params = synthetic_params(seed=1, minutes=20, realtime_limit=limit)
        written = write_incident(params, tmp_path / str(limit))
        billing, disconnects = _billing_and_disconnects(written.directory)
        assert disconnects, limit
        assert all(_connected_before(billing, t) > limit for t in disconnects)
        assert any(c <= limit for _, c in billing)
        found[limit] = written.realised["realtime_disconnect"]
    assert found[180] > found[240]


def test_lag_is_ground_truth(tmp_path):
    params = synthetic_params(seed=2, minutes=20, realtime_limit=220, lag_s=90)
    out = write_incident(params, tmp_path / "lag").directory
    billing, disconnects = _billing_and_disconnects(out)
    assert disconnects
    # Every disconnect follows an excess 90 s earlier; not all of them sit on a current excess.
    assert all(_connected_before(billing, t, lag_s=90) > 220 for t in disconnects)
    assert any(_connected_before(billing, t) <= 220 for t in disconnects)


def test_bug_rate_is_ground_truth():
    for rate in (0.02, 0.08):
        sim = simulate(synthetic_params(seed=5, minutes=20, bug_rate=rate))
        starts = sum(1 for x in sim.sessions if 0 <= x.joined < 20 * 60)
        found = sum(1 for e in sim.errors if e.kind == "undefined_column")
        expected = rate * 0.5 * starts
        assert abs(found - expected) < 4 * np.sqrt(expected) + 2, (rate, found, expected)


def test_no_link_errors_ignore_load(tmp_path):
    """A null incident: as many disconnects, but they fall below the limit too."""
    linked = simulate(synthetic_params(seed=6, minutes=20))
    null = simulate(synthetic_params(seed=6, minutes=20, link="none"))

    def at_connections(sim, kind):
        return np.array([sim.connections[int(e.t)] for e in sim.errors if e.kind == kind])

    c_linked = at_connections(linked, "realtime_disconnect")
    c_null = at_connections(null, "realtime_disconnect")
    assert c_linked.size == c_null.size > 10
    assert (c_linked > 200).all()
    assert (c_null <= 200).mean() > 0.3
    # Client-bug errors: linked ones sit on session starts, null ones at random moments.
    starts = np.array(sorted(x.joined for x in linked.sessions))

    def gap_to_start(sim):
        ts = np.array([e.t for e in sim.errors if e.kind == "registrations_pkey"])
        k = np.searchsorted(starts, ts) - 1
        return ts - starts[np.clip(k, 0, None)]

    assert gap_to_start(linked).max() <= 2.5
    assert np.median(gap_to_start(null)) > 0


def test_bad_parameters_are_one_line_errors():
    bad = replace(
        shipped_params(),
        errors=(replace(shipped_params().errors[0], kind="nonsense"),),
    )
    with pytest.raises(ParameterError, match="errors.kind"):
        simulate(bad)


def test_verification_names_a_modified_file(small, tmp_path):
    _, a, b, _ = small
    copy = tmp_path / "copy"
    shutil.copytree(a.directory, copy)
    assert verify_directory(copy, b.directory) == len(a.files) - 1
    target = copy / "tables" / "webinar_viewer_counts.csv"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match="webinar_viewer_counts.csv"):
        verify_directory(copy, b.directory)


def test_verification_restores_a_missing_file(small, tmp_path):
    _, a, b, _ = small
    copy = tmp_path / "copy"
    shutil.copytree(a.directory, copy)
    (copy / "edge_logs" / "page-0002.json.gz").unlink()
    verify_directory(copy, b.directory)
    assert (copy / "edge_logs" / "page-0002.json.gz").read_bytes() == (
        a.directory / "edge_logs" / "page-0002.json.gz"
    ).read_bytes()


@pytest.mark.slow  # regenerates the whole shipped hour: over 15 s
@pytest.mark.skipif(not SHIPPED.is_dir(), reason="shipped data not generated")
def test_make_data_catches_a_modified_shipped_file(tmp_path):
    """The real command on a copy of the shipped directory with one byte changed fails."""
    copy = tmp_path / SHIPPED.name
    shutil.copytree(SHIPPED, copy)
    page = copy / "postgres_logs" / "page-0001.json.gz"
    data = bytearray(page.read_bytes())
    data[len(data) // 2] ^= 0x01
    page.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match=r"postgres_logs/page-0001\.json\.gz") as err:
        main(["--dir", str(copy)])
    assert "\n" not in str(err.value)


def test_edge_log_volume_streams_bounded_pages(tmp_path):
    out = generate_edge_log_volume(2500, tmp_path / "vol", seed=9)
    again = generate_edge_log_volume(2500, tmp_path / "vol2", seed=9)
    assert (out.n_rows, out.n_pages) == (2500, 3)
    pages = sorted((tmp_path / "vol" / "edge_logs").glob("page-*.json.gz"))
    sizes, stamps = [], []
    for path in pages:
        envelope = json.loads(gzip.decompress(path.read_bytes()))
        assert envelope["error"] is None
        sizes.append(len(envelope["result"]))
        stamps.extend(r["timestamp"] for r in envelope["result"])
        twin = tmp_path / "vol2" / "edge_logs" / path.name
        assert twin.read_bytes() == path.read_bytes()
    assert sizes == [1000, 1000, 500] and stamps == sorted(stamps)
    assert all(len(str(t)) == 16 for t in stamps)
    assert again.n_bytes == out.n_bytes
    assert json.loads((tmp_path / "vol" / "incident.json").read_text())["flavour"] == "bigquery"
    with pytest.raises(ParameterError, match="n_rows"):
        generate_edge_log_volume(0, tmp_path / "none")
