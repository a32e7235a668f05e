"""The stages one at a time (analysis.pipeline): settings from the environment, the statistics
cache, and a Timeline that audit, stats and findings all read."""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _timeline_data import (
    W1,
    FakeIncident,
    concurrency_frame,
    db_errors_frame,
    requests_frame,
    ts,
)

from analysis import pipeline, stats
from analysis import timeline as tl
from analysis.config import INTERIM_DIR
from analysis.params import build_params

START, END = ts("2026-02-06 05:00"), ts("2026-02-06 06:00")


def _frames(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    minutes = pd.date_range("2026-02-06T05:00Z", periods=30, freq="1min")
    frame = pd.DataFrame(
        {
            "minute": minutes,
            "requests": rng.integers(5, 20, 30),
            "errors": rng.integers(0, 3, 30),
            "concurrency": rng.integers(50, 300, 30).astype(float),
        }
    )
    return {"42703": frame}


def test_settings_come_from_the_environment_only_when_asked():
    default = pipeline.read_settings({})
    assert (default.cache_dir, default.stats_cache) == (INTERIM_DIR, True)
    assert default.workers >= 1
    env = {
        pipeline.ENV_CACHE_DIR: "/tmp/x",
        pipeline.ENV_NO_STATS_CACHE: "1",
        pipeline.ENV_WORKERS: "2",
    }
    assert pipeline.read_settings(env) == pipeline.Settings(Path("/tmp/x"), False, 2)
    assert pipeline.read_settings({pipeline.ENV_NO_STATS_CACHE: "0"}).stats_cache


def test_statistics_cache_key_follows_inputs_and_seed():
    a, b = _frames(1), _frames(2)
    assert pipeline.statistics_key(a, 7) == pipeline.statistics_key(_frames(1), 7)
    assert pipeline.statistics_key(a, 7) != pipeline.statistics_key(b, 7)
    assert pipeline.statistics_key(a, 7) != pipeline.statistics_key(a, 8)
    assert pipeline.statistics_key(a, 7, 19) != pipeline.statistics_key(a, 7, 199)


def test_cached_statistics_are_the_computed_ones(tmp_path, monkeypatch):
    calls = []
    real = stats.analyse_webinar

    def counted(frames, seed, n_boot, workers):
        calls.append(seed)
        return real(frames, seed=seed, n_boot=n_boot, workers=workers)

    monkeypatch.setattr(pipeline.stats, "analyse_webinar", counted)
    first = pipeline.cached_statistics(_frames(1), 7, tmp_path, n_boot=19)
    second = pipeline.cached_statistics(_frames(1), 7, tmp_path, n_boot=19)
    assert calls == [7]  # computed once, then read
    assert first == second and isinstance(second, stats.WebinarStatistics)
    uncached = pipeline.cached_statistics(_frames(1), 7, None, n_boot=19)
    assert calls == [7, 7] and uncached == first
    assert len(list(tmp_path.iterdir())) == 1


def _incident() -> FakeIncident:
    minute = pd.Timedelta(minutes=1)
    samples = [(START + k * pd.Timedelta(seconds=20), W1, 100 + k) for k in range(180)]
    errs = [(START + 30 * minute + k * pd.Timedelta(seconds=7), "23505", "registrations_pkey",
             "registrations") for k in range(12)]  # fmt: skip
    reqs = [(START + k * pd.Timedelta(seconds=10), "rest/registrations", 201) for k in range(360)]
    reqs += [(t, "rest/registrations", 409) for t, *_ in errs]
    return FakeIncident(
        requests=requests_frame(reqs),
        db_errors=db_errors_frame(errs),
        concurrency=concurrency_frame(samples),
        window=(START, END),
    )


def test_one_timeline_feeds_audit_stats_and_findings(tmp_path):
    incident = _incident()
    params = build_params(W1, "", bucket="10min", output_dir=str(tmp_path))
    timeline = pipeline.build_timeline(incident, params)
    assert isinstance(timeline, tl.Timeline)
    assert len(timeline.buckets) == 6 and timeline.bucket == pd.Timedelta("10min")
    assert [c.key for c in timeline.classes] == ["23505:registrations_pkey"]
    assert int(timeline.frames["23505:registrations_pkey"]["errors"].sum()) == 12
    assert len(timeline.pairs) == 12  # every 23505 has its 409
    settings = pipeline.Settings(cache_dir=tmp_path, stats_cache=False)
    statistics = pipeline.run_statistics(timeline, params, settings)
    assert set(statistics.classes) == {"23505:registrations_pkey"}
    assert not (tmp_path / "stats").exists()
    quality = pipeline.run_audit(incident, timeline)
    result = pipeline.compile_findings(incident, timeline, statistics, quality, params)
    doc = result.findings
    assert doc["report"]["bucket_minutes"] == 10
    assert [b["max"] for b in doc["buckets"]] == list(timeline.buckets["max"])
    assert (
        doc["verdicts"][0]["verdict"]
        == statistics.classes["23505:registrations_pkey"].verdict.label
    )
    assert result.timeline is timeline and result.statistics is statistics


def test_a_window_without_errors_has_no_statistics(tmp_path):
    incident = FakeIncident(concurrency=concurrency_frame([(START, W1, 5)]), window=(START, END))
    params = build_params(W1, "", output_dir=str(tmp_path))
    timeline = pipeline.build_timeline(incident, params)
    assert timeline.classes == () and timeline.frames == {}
    assert pipeline.run_statistics(timeline, params) is None
    with pytest.raises(AttributeError):
        timeline.webinar_id = "x"  # frozen


def test_statistics_cache_key_covers_every_stats_module(monkeypatch):
    # A key over only some of the package's modules would reuse stale results silently.
    hashed = {name for name, _ in pipeline.statistics_sources()}
    modules = {f"{m.name}.py" for m in pkgutil.iter_modules(stats.__path__)}
    assert modules | {"__init__.py"} <= hashed
    loaded = [m for name, m in sys.modules.items() if name.startswith("analysis.stats.")]
    assert loaded and {Path(m.__file__).name for m in loaded} <= hashed
    frames = _frames(1)
    base = pipeline.statistics_key(frames, 7)
    sources = pipeline.statistics_sources()
    for i, (name, code) in enumerate(sources):
        edited = [*sources[:i], (name, code + b"\n# an edit\n"), *sources[i + 1 :]]
        monkeypatch.setattr(pipeline, "statistics_sources", lambda edited=edited: edited)
        assert pipeline.statistics_key(frames, 7) != base, name
