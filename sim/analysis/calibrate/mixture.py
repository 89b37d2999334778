"""Night-level draws and predictive mixtures: beta quantile tables, normal-mixture
quantiles, the weighted interval score."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import special

_LOGIT_GRID = np.linspace(-8.0, 8.0, 65)
_NU_GRID = np.concatenate([[0.0], np.linspace(0.02, 0.96, 48)])


@cache
def beta_table(m: int) -> np.ndarray:
    """Beta quantiles at u = (j + 1/2) / m on a grid of logit(mean) x relative sd.

    The CDF is evaluated on a fine grid of logit(x) and inverted by interpolation (much faster
    than `betaincinv` for the concentrated betas at the grid's edges).
    """
    u = (np.arange(m) + 0.5) / m
    mean = special.expit(_LOGIT_GRID)[:, None]
    total = 1.0 / np.maximum(_NU_GRID, 1e-9) ** 2 - 1.0
    a, b = (mean * total)[..., None], ((1.0 - mean) * total)[..., None]
    x_logit = np.linspace(-16.0, 16.0, 1281)
    cdf = special.betainc(a, b, special.expit(x_logit)[None, None, :])
    table = np.empty((len(_LOGIT_GRID), len(_NU_GRID), m))
    for i in range(len(_LOGIT_GRID)):
        table[i, 0, :] = mean[i, 0]
        for j in range(1, len(_NU_GRID)):
            row = np.maximum.accumulate(cdf[i, j])
            table[i, j] = special.expit(np.interp(u, row, x_logit))
    return table


def frac_index(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and fraction of `x` on an increasing grid (clamped to its ends)."""
    x = np.clip(x, grid[0], grid[-1])
    i0 = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2)
    frac = (x - grid[i0]) / (grid[i0 + 1] - grid[i0])
    return i0, frac


def beta_draws(table: np.ndarray, mean: np.ndarray, rsd: float, idx: np.ndarray) -> np.ndarray:
    """(nights, M) beta draws: quantile j = idx[n, m] of beta(mean[n], rsd), interpolated."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (idx.shape[0],))
    mean = np.clip(mean, 1e-3, 1.0 - 1e-3)
    i0, f = frac_index(_LOGIT_GRID, special.logit(mean))
    v0, g = frac_index(_NU_GRID, np.array([rsd]))
    v0, g = int(v0[0]), float(g[0])
    rows = i0[:, None]
    f = f[:, None]
    low = (1 - g) * table[rows, v0, idx] + g * table[rows, v0 + 1, idx]
    high = (1 - g) * table[rows + 1, v0, idx] + g * table[rows + 1, v0 + 1, idx]
    return (1 - f) * low + f * high


def norm_logpdf(y: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * (y - mu) ** 2 / var - 0.5 * np.log(2 * np.pi * var)


def binom_logpmf(y: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return (
        special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
        + y * np.log(p) + (n - y) * np.log1p(-p)
    )  # fmt: skip


def logmeanexp(x: np.ndarray) -> np.ndarray:
    return special.logsumexp(x, axis=1) - np.log(x.shape[1])


QUANTILES = np.array([0.05, 0.5, 0.95])


def mixture_quantiles(
    mu: np.ndarray,
    var: np.ndarray,
    taus: np.ndarray = QUANTILES,
    top: np.ndarray | None = None,
    top_mass: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """(nights, taus) quantiles of normal mixtures (rows of mu, var; rows of `weights`, each
    summing to 1, or equal weights).

    With `top` and `top_mass`, the mixture has, in addition, a point mass `top_mass` at `top`
    (per night; the largest possible count). Newton's method from the moment-matched normal's
    quantiles, safeguarded by a bracket.
    """
    taus = np.asarray(taus, dtype=float)
    taus = np.broadcast_to(taus, (len(mu), taus.shape[-1]))
    if weights is None:
        weights = np.full(mu.shape, 1.0 / mu.shape[1])
    if top is not None and top_mass is not None:
        keep = (1.0 - top_mass)[:, None]
        scaled = np.minimum(taus / np.maximum(keep, 1e-9), 0.999999)
        quantiles = mixture_quantiles(mu, var, scaled, weights=weights)
        z = (top[:, None] - mu) / np.sqrt(var)
        below_top = (weights * special.ndtr(z)).sum(axis=1)[:, None]  # P(count <= top)
        return np.where(scaled < below_top, np.minimum(quantiles, top[:, None]), top[:, None])
    sd = np.sqrt(var)
    centre = (weights * mu).sum(axis=1)
    spread = np.sqrt((weights * (var + (mu - centre[:, None]) ** 2)).sum(axis=1))
    x = centre[:, None] + special.ndtri(taus) * spread[:, None]
    counted = weights > 0  # the bracket spans the components that have weight
    low = np.where(counted, mu - 8 * sd, np.inf).min(axis=1)
    high = np.where(counted, mu + 8 * sd, -np.inf).max(axis=1)
    low = np.broadcast_to(low[:, None], x.shape).copy()
    high = np.broadcast_to(high[:, None], x.shape).copy()
    for _ in range(12):
        z = (x[:, :, None] - mu[:, None, :]) / sd[:, None, :]
        w = weights[:, None, :]
        cdf = (w * special.ndtr(z)).sum(axis=2)
        pdf = (w * np.exp(-0.5 * z * z) / sd[:, None, :]).sum(axis=2) / math.sqrt(2 * math.pi)
        below = cdf < taus
        low = np.where(below, x, low)
        high = np.where(below, high, x)
        step = x - (cdf - taus) / np.maximum(pdf, 1e-300)
        inside = (step > low) & (step < high)
        x = np.where(inside, step, 0.5 * (low + high))
    return x


def wis(y: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Weighted interval score of the median and the 90 % interval, per night.

    (|y - median| / 2 + 0.05 * interval score at alpha 0.1) / 1.5: a proper score that the
    5 %, 50 % and 95 % quantiles of the true distribution minimise (Bracher et al. 2021).
    """
    low, median, high = quantiles[:, 0], quantiles[:, 1], quantiles[:, 2]
    interval = (high - low) + 20.0 * np.maximum(low - y, 0.0) + 20.0 * np.maximum(y - high, 0.0)
    return (0.5 * np.abs(y - median) + 0.05 * interval) / 1.5
