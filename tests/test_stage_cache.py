"""The timeline and findings caches: read back only where computing again gives the same."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from analysis import findings, pipeline


def _settings(tmp_path, **kwargs):
    return pipeline.Settings(cache_dir=tmp_path, **kwargs)


def _stage_files(tmp_path, stage: str) -> list:
    return sorted((tmp_path / "stages").glob(f"{stage}-*"))


def test_a_second_run_reads_what_the_first_computed(small_incident, small_params, tmp_path):
    settings = _settings(tmp_path)
    first = pipeline.analyse(small_incident, small_params, settings)
    assert len(_stage_files(tmp_path, "timeline")) == 1
    assert len(_stage_files(tmp_path, "findings")) == 1
    again = pipeline.analyse(small_incident, small_params, settings)
    assert findings.dump_findings(again.findings) == findings.dump_findings(first.findings)
    for name, frame in first.timeline.frames.items():
        pd.testing.assert_frame_equal(again.timeline.frames[name], frame)
        assert again.timeline.frames[name].attrs == frame.attrs
    assert again.timeline.classes == first.timeline.classes
    # Uncached, the same document: the cache changes nothing a run shows.
    plain = pipeline.analyse(small_incident, small_params, _settings(tmp_path, stats_cache=False))
    assert findings.dump_findings(plain.findings) == findings.dump_findings(first.findings)


def test_the_cache_is_read_back(small_incident, small_params, tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    built = pipeline.build_timeline(small_incident, small_params, settings)
    monkeypatch.setattr(pipeline, "_build_timeline", lambda *a: pytest.fail("built again"))
    assert pipeline.build_timeline(small_incident, small_params, settings).classes == built.classes


def test_the_audit_is_read_back_and_keyed_on_its_timeline(
    small_incident, small_params, tmp_path, monkeypatch
):
    settings = _settings(tmp_path)
    built = pipeline.build_timeline(small_incident, small_params, settings)
    first = pipeline.run_audit(small_incident, built, settings)
    assert first == pipeline.audit.audit_incident(small_incident, built) and first
    assert len(_stage_files(tmp_path, "audit")) == 1
    real = pipeline.audit.audit_incident
    monkeypatch.setattr(pipeline.audit, "audit_incident", lambda *a: pytest.fail("audited again"))
    assert pipeline.run_audit(small_incident, built, settings) == first
    # Another timeline of the same incident is audited anew.
    name, frame = next(iter(built.frames.items()))
    edited = frame.copy()
    edited.loc[edited.index[0], "errors"] += 1
    other = dataclasses.replace(built, frames={**built.frames, name: edited})
    monkeypatch.setattr(pipeline.audit, "audit_incident", real)
    pipeline.run_audit(small_incident, other, settings)
    assert len(_stage_files(tmp_path, "audit")) == 2


def test_every_input_is_in_the_key(small_incident, small_params, small_analysis, tmp_path):
    tl = small_analysis.timeline
    base = pipeline.stage_key("timeline", small_incident, small_params)
    assert base == pipeline.stage_key("timeline", small_incident, small_params)
    # One cell of one table, one parameter, the table's attrs, its dtype: each a new key.
    requests = small_incident.requests.copy()
    requests.loc[requests.index[0], "status"] += 1
    changed = [
        dataclasses.replace(small_incident, requests=requests),
        dataclasses.replace(small_params, seed=small_params.seed + 1),
        dataclasses.replace(small_params, bucket="10min"),
        dataclasses.replace(small_params, plan_registrations=500),
    ]
    keys = {
        pipeline.stage_key("timeline", *_pair(v, small_incident, small_params)) for v in changed
    }
    relabelled = small_incident.requests.copy()
    relabelled.attrs = {"source": "other"}
    keys.add(
        pipeline.stage_key(
            "timeline", dataclasses.replace(small_incident, requests=relabelled), small_params
        )
    )
    recast = small_incident.requests.astype({"status": "float64"})
    keys.add(
        pipeline.stage_key(
            "timeline", dataclasses.replace(small_incident, requests=recast), small_params
        )
    )
    assert base not in keys and len(keys) == 6
    # A changed frame of the timeline keys the findings anew.
    name, frame = next(iter(tl.frames.items()))
    edited = frame.copy()
    edited.loc[edited.index[0], "errors"] += 1
    other = dataclasses.replace(tl, frames={**tl.frames, name: edited})
    assert pipeline.stage_key("findings", small_incident, tl) != pipeline.stage_key(
        "findings", small_incident, other
    )
    # Where the files go is not an input of the stages; how the tables were read is not either.
    assert pipeline._stage_path(
        "t", _settings(tmp_path), small_incident, small_params, suffix=""
    ) == pipeline._stage_path(
        "t",
        _settings(tmp_path),
        dataclasses.replace(small_incident, from_cache=not small_incident.from_cache),
        dataclasses.replace(small_params, output_dir=small_params.output_dir / "x", formats=()),
        suffix="",
    )


def _pair(value, incident, params):
    return (value, params) if isinstance(value, type(incident)) else (incident, value)


def test_the_package_code_is_in_the_key(small_incident, small_params, monkeypatch):
    base = pipeline.stage_key("timeline", small_incident, small_params)
    sources = pipeline.package_sources()
    edited = [(n, b + b"\n# edited") if n == "timeline.py" else (n, b) for n, b in sources]
    monkeypatch.setattr(pipeline, "package_sources", lambda: edited)
    assert pipeline.stage_key("timeline", small_incident, small_params) != base


def test_a_value_it_cannot_hash_is_computed_uncached(small_incident, small_params, tmp_path):
    assert pipeline.stage_key("timeline", small_incident, object()) is None
    odd = pd.DataFrame({"cell": [[1, 2]]})  # a list in a cell: no content hash
    assert pipeline.stage_key("timeline", odd) is None


def test_an_unreadable_entry_is_discarded_and_rebuilt(
    small_incident, small_params, tmp_path, capsys
):
    settings = _settings(tmp_path)
    built = pipeline.build_timeline(small_incident, small_params, settings)
    (path,) = _stage_files(tmp_path, "timeline")
    path.write_bytes(path.read_bytes()[:100])  # a kill mid-write by another writer
    again = pipeline.build_timeline(small_incident, small_params, settings)
    assert again.classes == built.classes
    assert "stage cache" in capsys.readouterr().err and path.is_file()
    statistics = pipeline.run_statistics(built, small_params, settings)
    quality = pipeline.run_audit(small_incident, built)
    args = (small_incident, built, statistics, quality, small_params, settings)
    doc = pipeline.compile_findings(*args).findings
    (path,) = _stage_files(tmp_path, "findings")
    path.write_text('{"truncated', encoding="utf-8")
    assert pipeline.compile_findings(*args).findings == doc
    assert "stage cache" in capsys.readouterr().err


def test_no_cache_without_settings_or_with_caches_off(small_incident, small_params, tmp_path):
    pipeline.build_timeline(small_incident, small_params)
    built = pipeline.build_timeline(
        small_incident, small_params, _settings(tmp_path, stats_cache=False)
    )
    pipeline.run_audit(small_incident, built, _settings(tmp_path, stats_cache=False))
    assert not (tmp_path / "stages").exists()
