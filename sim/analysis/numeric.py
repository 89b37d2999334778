"""Numerical helpers the fits share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_hessian(
    f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray
) -> np.ndarray:
    """Central-difference Hessian of a scalar function at `x`, with step `steps[i]` along
    parameter i (for the standard errors of a few fitted parameters)."""
    n = len(x)
    h = np.zeros((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = steps[i]
        h[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / steps[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = steps[j]
            h[i, j] = h[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * steps[i] * steps[j])
    return h
