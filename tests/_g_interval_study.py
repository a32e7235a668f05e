"""How often g ± 1.96 HAC standard errors holds the true g on one hour of minutes (a study).

The report prints each class's elasticity g with this interval (findings.G_INTERVAL_Z); its
legend says what the interval is worth, from this study: 400 simulated 60-minute windows per
cell, three load shapes (a ramp, a plateau, a narrow 38-112 range), g = 0 and g = 1, Poisson
or bursty (AR(1)-Cox, sigma^2 = 0.8, phi = 0.5) errors at 0.5 and 5 a minute. Windows with
fewer than 10 errors (the package's MIN_ERRORS) or no converged fit are left out.

Run: ``.venv/bin/python tests/_g_interval_study.py`` (about a minute; not part of make test).
"""

import numpy as np

from analysis.findings import G_INTERVAL_Z
from analysis.stats.countmodels import _simulate_cox
from analysis.stats.elasticity import _elasticity_z

MINUTES = 60
WINDOWS = 400
_T = np.arange(MINUTES)
SHAPES = {
    "ramp": 200 + 1800 * _T / (MINUTES - 1),
    "plateau": 300 + 1500 / (1 + np.exp(-(_T - 15) / 3)),
    "narrow": 38 + (112 - 38) * (0.5 + 0.5 * np.sin(_T / 9)),
}


def cover(rng, base, g_true: float, bursty: bool, per_minute: float) -> tuple[int, int, float]:
    """Return (windows whose interval holds g_true, windows fitted, median interval width)."""
    hits = total = 0
    widths = []
    for _ in range(WINDOWS):
        x = base * rng.lognormal(0, 0.05, MINUTES)
        mu = (x / x.mean()) ** g_true * per_minute
        y = _simulate_cox(mu[None, :], 0.8, 0.5, 1, rng)[0] if bursty else rng.poisson(mu)
        if y.sum() < 10:
            continue
        lx = np.log(x) - np.log(x).mean()
        g, se, ok, _ = _elasticity_z(y.astype(float), lx[None, :], 0.0)
        if not ok[0] or not np.isfinite(se[0]):
            continue
        total += 1
        hits += bool(abs(g[0] - g_true) <= G_INTERVAL_Z * se[0])
        widths.append(2 * G_INTERVAL_Z * se[0])
    return hits, total, float(np.median(widths))


def main() -> None:
    rng = np.random.default_rng(12)
    print("shape     g  errors     per minute  coverage         median width")
    for name, base in SHAPES.items():
        for g_true in (0.0, 1.0):
            for bursty in (False, True):
                for per_minute in (0.5, 5.0):
                    hits, total, width = cover(rng, base, g_true, bursty, per_minute)
                    kind = "bursty " if bursty else "Poisson"
                    print(
                        f"{name:8s} {g_true:2.0f}  {kind}  {per_minute:10.1f}  "
                        f"{hits:3d}/{total:3d} = {hits / max(total, 1):.3f}  {width:12.2f}"
                    )


if __name__ == "__main__":
    main()
