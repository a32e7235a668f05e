"""Count-model machinery (vectorised; NB2 with variance mu + alpha mu^2, alpha = 0 is Poisson)."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special


def _nb_kernel(y, mu, alpha):
    """NB2 log-likelihood up to terms in y and alpha only (Poisson kernel when alpha = 0)."""
    a = np.maximum(alpha, 1e-10)
    return np.sum(y * np.log(mu) - (y + 1.0 / a) * np.log1p(a * mu), axis=-1)


def nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """Full NB2 log-likelihood (Poisson when alpha is 0)."""
    y = np.asarray(y, dtype=float)
    if alpha <= 1e-10:
        return float(np.sum(y * np.log(mu) - mu - special.gammaln(y + 1)))
    inv = 1.0 / alpha
    return float(
        np.sum(
            special.gammaln(y + inv)
            - special.gammaln(inv)
            - special.gammaln(y + 1)
            + y * np.log(alpha * mu / (1 + alpha * mu))
            - inv * np.log1p(alpha * mu)
        )
    )


def _moment_alpha(y, mu):
    """Moment estimate of NB2 alpha: sum((y-mu)^2 - mu) / sum(mu^2), clipped at 0."""
    den = np.sum(mu * mu, axis=-1)
    num = np.sum((y - mu) ** 2 - mu, axis=-1)
    return np.maximum(0.0, np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))


def _fit_flat(y, r, alpha, iters=30):
    """Flat rate per request, mu = b0 r, NB2 with fixed alpha; y (B, n) -> b0 (B,), ll (B,)."""
    b0 = y.sum(-1) / r.sum()
    b0 = np.maximum(b0, 1e-12)
    a = np.asarray(alpha, dtype=float)
    for _ in range(iters):
        mu = b0[:, None] * r
        w = 1.0 / (mu * (1 + a[..., None] * mu))
        step = np.sum((y - mu) * w * r, -1) / np.sum(w * r * r, -1)
        new = np.maximum(b0 + step, b0 / 10)
        if np.all(np.abs(new - b0) <= 1e-10 * b0):
            b0 = new
            break
        b0 = new
    return b0, _nb_kernel(y, b0[:, None] * r, a[..., None])


def _fit_loglinear(y, x, alpha, iters=30):
    """NB2 log-link fits of one y on S designs. y (n,), x (S, n, p) -> beta (S, p), HAC se, ok.

    Standard errors are Newey-West (Bartlett, floor(4 (n/100)^(2/9)) lags); they only scale the
    statistic, whose reference distribution comes from circular shifts.
    """
    s, n, p = x.shape
    beta = np.zeros((s, p))
    beta[:, 0] = np.log(max(y.mean(), 1e-3))
    ok = np.zeros(s, dtype=bool)
    for _ in range(iters):
        eta = np.einsum("snp,sp->sn", x, beta)
        mu = np.exp(np.clip(eta, -30, 30))
        w = mu / (1 + alpha * mu)
        z = eta + (y - mu) / mu
        xtw = x * w[..., None]
        info = np.einsum("snp,snq->spq", xtw, x)
        rhs = np.einsum("snp,sn->sp", xtw, z)
        new = np.linalg.solve(info + 1e-10 * np.eye(p), rhs[..., None])[..., 0]
        ok = np.all(np.abs(new - beta) < 1e-8 * (1 + np.abs(beta)), axis=1)
        beta = new
        if ok.all():
            break
    eta = np.einsum("snp,sp->sn", x, beta)
    mu = np.exp(np.clip(eta, -30, 30))
    info = np.einsum("snp,snq->spq", x * (mu / (1 + alpha * mu))[..., None], x)
    score = x * ((y - mu) / (1 + alpha * mu))[..., None]
    meat = np.einsum("snp,snq->spq", score, score)
    nlags = int(math.floor(4 * (n / 100) ** (2 / 9)))
    for j in range(1, nlags + 1):
        gamma = np.einsum("snp,snq->spq", score[:, j:], score[:, :-j])
        meat += (1 - j / (nlags + 1)) * (gamma + np.swapaxes(gamma, 1, 2))
    bread = np.linalg.inv(info + 1e-10 * np.eye(p))
    cov = bread @ meat @ bread
    se = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 1e-300))
    return beta, se, ok & np.all(np.isfinite(beta), axis=1)


def fit_flat_nb(y: np.ndarray, r: np.ndarray) -> tuple[float, float, bool]:
    """ML fit of errors ~ NB2(b0 x requests, alpha); returns (b0, alpha, converged).

    Falls back to Poisson (alpha = 0) at the boundary, where NB's MLE does not exist.
    """

    def negll(log_alpha):
        a = math.exp(log_alpha)
        b0, _ = _fit_flat(y[None, :], r, np.array([a]))
        return -nb_loglik(y, b0[0] * r, a)

    pois = y.sum() / r.sum()
    if _moment_alpha(y, pois * r) <= 0:
        return float(pois), 0.0, True
    res = optimize.minimize_scalar(negll, bounds=(math.log(1e-6), math.log(1e3)), method="bounded")
    alpha = math.exp(res.x)
    if alpha < 1e-5 or -res.fun < nb_loglik(y, pois * r, 0.0):
        return float(pois), 0.0, bool(res.success)
    b0, _ = _fit_flat(y[None, :], r, np.array([alpha]))
    return float(b0[0]), alpha, bool(res.success)


def simulate_nb(mu: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Draw NB2 counts (Poisson when alpha is 0) with the given means."""
    if alpha <= 0:
        return rng.poisson(mu)
    return rng.poisson(rng.gamma(1.0 / alpha, alpha * mu))


def _fit_cox_moments(y, mu):
    """AR(1)-Cox moments of residual burstiness: (sigma^2, phi) of the log-intensity.

    Variance from overdispersion, persistence from the lag-1 autocovariance of y / mu. A
    series can be persistent yet not overdispersed (counts of affected clients, capped at one
    per client and minute, in runs); a Cox process cannot, so when the autocovariance is
    significant (beyond two null standard errors) and exceeds the overdispersion, the variance
    is raised to it (phi at its cap), which keeps the runs in the null, conservatively.
    """
    alpha = float(_moment_alpha(y, mu))
    e = (y - mu) / mu
    c1 = float(np.mean(e[1:] * e[:-1]))
    # Only a lag-1 autocovariance beyond two of its null standard errors counts as runs.
    runs = c1 > 2 * float(np.mean(e * e)) / math.sqrt(max(len(y) - 1, 1))
    sigma2 = math.log1p(max(alpha, c1 if runs else 0.0, 0.0))
    if sigma2 <= 1e-6:
        return 0.0, 0.0
    phi = math.log1p(max(c1, -0.99)) / sigma2 if c1 > 0 else 0.0
    return sigma2, float(min(max(phi, 0.0), 0.95))


def _simulate_cox(mu, sigma2, phi, size, rng):
    n = mu.shape[-1]
    z = np.empty((size, n))
    z[:, 0] = rng.standard_normal(size)
    innov = rng.standard_normal((size, n)) * math.sqrt(1 - phi * phi)
    for t in range(1, n):
        z[:, t] = phi * z[:, t - 1] + innov[:, t]
    sd = math.sqrt(sigma2)
    return rng.poisson(mu * np.exp(sd * z - sigma2 / 2))
