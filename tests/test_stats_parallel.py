"""Speed mechanics keep the numbers: worker count, hinge-grid halving, vectorised PELT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import pipeline, stats
from analysis.exceptions import ParameterError, StatsError


def _frame(seed: int, capacity: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    conc = np.round(np.concatenate([np.linspace(40, 400, 30), np.linspace(400, 60, 30)]))
    req = rng.poisson(50, 60)
    rate = 0.01 + (0.002 * np.maximum(0, conc - 250) if capacity else 0)
    return pd.DataFrame(
        {
            "minute": pd.date_range("2026-02-06T05:00Z", periods=60, freq="1min"),
            "requests": req,
            "errors": rng.poisson(req * rate),
            "concurrency": conc,
        }
    )


def test_workers_do_not_change_the_statistics():
    frames = {"cap": _frame(1, True), "flat": _frame(2, False), "cap2": _frame(3, True)}
    one = stats.analyse_webinar(frames, seed=5, n_boot=19, workers=1)
    two = stats.analyse_webinar(frames, seed=5, n_boot=19, workers=2)
    assert json.dumps(one.to_dict()) == json.dumps(two.to_dict())
    assert list(two.classes) == ["cap", "cap2", "flat"]


def test_a_worker_error_names_its_class():
    bad = _frame(1, True)
    bad.loc[3, "errors"] = -1
    with pytest.raises(StatsError, match="error class 'bad'.*row 3"):
        stats.analyse_webinar({"ok": _frame(2, False), "bad": bad}, seed=1, n_boot=9, workers=2)


@pytest.mark.parametrize(("iters", "tol"), [(8, 1e-7), (40, 1e-8)])
def test_hinge_grid_fit_matches_the_plain_formulation(iters, tol):
    # The reference: every cell recomputed at every step and halving until all converged. The
    # fit iterates only the cells still moving (and halves only those that fell), so a cell
    # may stop up to ``tol`` earlier: values agree to the fit's precision, the grid's maximum
    # (the test statistic) and the converged flags exactly as far as they can.
    rng = np.random.default_rng(0)
    conc = np.linspace(30, 300, 60)
    r = rng.poisson(40, 60).astype(float)
    y = rng.poisson(r * (0.02 + 0.001 * np.maximum(0, conc - 150)), (12, 60)).astype(float)
    hinge, _, _ = stats.build_hinge_grid(conc, np.linspace(20, 300, 30, endpoint=False))
    alpha = stats.countmodels._moment_alpha(y, (y.sum(-1) / r.sum())[:, None] * r)
    got = stats.threshold._fit_hinge_grid(y, r, hinge, alpha, iters=iters, tol=tol)
    rows = [
        _plain_hinge_grid(y[i : i + 1], r, hinge, alpha[i : i + 1], iters, tol) for i in range(12)
    ]
    want = [np.concatenate(parts) for parts in zip(*rows, strict=True)]
    assert got[0].shape == want[0].shape == (12, len(hinge))
    assert np.allclose(got[0], want[0], rtol=0, atol=1e-7)
    assert np.allclose(got[0].max(1), want[0].max(1), rtol=0, atol=1e-9)
    # Coefficients where the likelihood is flat move more than it does (a 1e-7 change in ll).
    assert np.allclose(got[1], want[1], rtol=0, atol=1e-5)
    assert np.allclose(got[2], want[2], rtol=0, atol=1e-5)
    assert got[3].mean() >= want[3].mean() - 0.01


def test_a_grid_fitted_in_blocks_of_cells_keeps_its_numbers(monkeypatch):
    # Long windows fit a series' grid a block of cells at a time (cache-sized arrays); a block
    # stops iterating on its own, so values move by less than the convergence tolerance.
    rng = np.random.default_rng(1)
    conc = np.tile(np.linspace(30, 300, 60), 3)
    r = rng.poisson(40, 180).astype(float)
    y = rng.poisson(r * (0.02 + 0.001 * np.maximum(0, conc - 150)), (3, 180)).astype(float)
    hinge, _, _ = stats.build_hinge_grid(conc, np.linspace(20, 300, 30, endpoint=False))
    alpha = np.full(3, 0.2)
    whole = stats.threshold._fit_hinge_grid(y, r, hinge, alpha)
    monkeypatch.setattr(stats.threshold, "CELL_BLOCK", 7 * 180)
    monkeypatch.setattr(stats.threshold, "SPLIT_ABOVE", 7 * 180)
    blocks = stats.threshold._fit_hinge_grid(y, r, hinge, alpha)
    assert blocks[0].shape == whole[0].shape == (3, len(hinge))
    assert np.allclose(blocks[0], whole[0], rtol=0, atol=1e-6)
    assert np.array_equal(np.argmax(blocks[0], 1), np.argmax(whole[0], 1))
    assert blocks[3].all() and whole[3].all()


def _plain_hinge_grid(y, r, hinge, alpha, iters, tol):
    yb = y[:, None, :]
    a = np.asarray(alpha, dtype=float).reshape(-1, 1, 1) * np.ones((y.shape[0], 1, 1))
    rh = r * hinge
    b0 = (y.sum(-1) / r.sum())[:, None, None] * np.ones((1, hinge.shape[0], 1))
    b0 = np.maximum(b0, 1e-12)
    excess = np.sum(yb * hinge, -1, keepdims=True) - b0 * np.sum(rh * hinge, -1, keepdims=True)
    b1 = np.maximum(excess / np.maximum(np.sum(rh * hinge * hinge, -1, keepdims=True), 1e-12), 0)
    b1 = np.maximum(b1, 1e-3 * b0 / np.maximum(hinge.max(-1, keepdims=True), 1.0))
    mu = r * b0 + rh * b1
    ll = stats.countmodels._nb_kernel(yb, mu, a)
    done = np.zeros(ll.shape, dtype=bool)
    for _ in range(iters):
        w = 1.0 / (mu * (1 + a * mu))
        rw = r * w
        a00 = np.sum(rw * r, -1, keepdims=True)
        a01 = np.sum(rw * rh, -1, keepdims=True)
        a11 = np.sum(rw * rh * hinge, -1, keepdims=True)
        res = (yb - mu) * rw
        g0 = np.sum(res, -1, keepdims=True)
        g1 = np.sum(res * hinge, -1, keepdims=True)
        det = np.maximum(a00 * a11 - a01 * a01, 1e-300)
        d0 = (a11 * g0 - a01 * g1) / det
        d1 = (a00 * g1 - a01 * g0) / det
        at_bound = b1 + d1 <= 0
        d0 = np.where(at_bound, g0 / a00, d0)
        d1 = np.where(at_bound, -b1, d1)
        new0 = np.maximum(b0 + d0, b0 / 10)
        new1 = b1 + d1
        new_mu = r * new0 + rh * new1
        new_ll = stats.countmodels._nb_kernel(yb, new_mu, a)
        for _ in range(6):
            bad = new_ll < ll - 1e-12
            if not bad.any():
                break
            new0 = np.where(bad[..., None], 0.5 * (new0 + b0), new0)
            new1 = np.where(bad[..., None], 0.5 * (new1 + b1), new1)
            new_mu = r * new0 + rh * new1
            new_ll = np.where(bad, stats.countmodels._nb_kernel(yb, new_mu, a), new_ll)
        bad = new_ll < ll
        new0 = np.where(bad[..., None], b0, new0)
        new1 = np.where(bad[..., None], b1, new1)
        new_ll = np.where(bad, ll, new_ll)
        done = np.abs(new_ll - ll) < tol
        b0, b1, ll, mu = new0, new1, new_ll, r * new0 + rh * new1
        if done.all():
            break
    return ll, b0[..., 0], b1[..., 0], done


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_worker_count_is_a_one_line_error(value):
    with pytest.raises(ParameterError, match="POSTMORTEM_WORKERS: expected a whole number"):
        pipeline.read_settings({pipeline.ENV_WORKERS: value})


def test_settings_take_plain_strings_as_paths(tmp_path):
    settings = pipeline.Settings(cache_dir=str(tmp_path), reports_dir=str(tmp_path / "r"))
    assert settings.cache_dir == tmp_path and isinstance(settings.reports_dir, Path)
    assert settings == pipeline.Settings(cache_dir=tmp_path, reports_dir=tmp_path / "r")


def test_vectorised_pelt_finds_ruptures_breakpoints():
    import ruptures  # dev extra: the reference, so this test can never be skipped

    rng = np.random.default_rng(11)
    for _ in range(12):
        n = int(rng.integers(17, 150))
        lam = rng.choice([0.3, 1.0, 5.0, 20.0])
        y = rng.poisson(lam * np.exp(np.cumsum(rng.normal(0, 0.3, n))))
        signal = 2 * np.sqrt(y + 3 / 8)
        algo = ruptures.Pelt(model="l2", min_size=2, jump=1).fit(signal.reshape(-1, 1))
        for pen in (0.5, 2.0, 8.0):
            assert stats.segment_pelt(signal, pen) == algo.predict(pen=pen)


def test_pelt_finds_a_plain_step():
    signal = np.r_[np.zeros(20), np.full(20, 5.0)]
    assert stats.segment_pelt(signal, 1.0) == [20, 40]


_KILLED_PARENT = """
import os, pathlib, signal, sys, time
from analysis.stats.webinar import start_fork_pool
pool = start_fork_pool(2)
list(pool.map(time.sleep, [0.1, 0.1]))
pathlib.Path(sys.argv[1]).write_text(' '.join(str(p) for p in pool._processes))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_pool_workers_end_when_their_parent_is_killed(tmp_path):
    # A SIGKILLed report takes its kernel down; the kernel's forked workers must not stay.
    listed = tmp_path / "pids"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_PARENT, str(listed)], stdout=subprocess.DEVNULL, timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    pids = [int(p) for p in listed.read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _running(p)]
    for pid in alive:  # leave no process behind, even when failing
        os.kill(pid, signal.SIGKILL)
    assert alive == [], f"pool workers outlived their parent: {alive}"


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()  # a zombie (state Z) has ended
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
