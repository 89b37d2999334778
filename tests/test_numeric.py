"""The central-difference Hessian the fits use for standard errors, against closed forms."""

from __future__ import annotations

import numpy as np

from sim.analysis.numeric import central_hessian


def test_central_hessian_of_a_quadratic_is_its_matrix() -> None:
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]])
    b = np.array([1.0, -2.0, 0.5])

    def f(x: np.ndarray) -> float:
        return float(0.5 * x @ a @ x + b @ x)

    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(central_hessian(f, x, np.full(3, 1e-3)), a, atol=1e-6)


def test_central_hessian_of_a_normal_log_likelihood_gives_its_standard_error() -> None:
    # -log L of n normal draws in mu (sigma known): d2/dmu2 = n / sigma^2, so se = sigma / sqrt(n)
    rng = np.random.default_rng(3)
    y = rng.normal(2.0, 1.5, 400)

    def nll(theta: np.ndarray) -> float:
        return float(0.5 * np.sum((y - theta[0]) ** 2) / 1.5**2)

    h = central_hessian(nll, np.array([y.mean()]), np.array([1e-3]))
    assert abs(float(np.sqrt(1 / h[0, 0])) - 1.5 / np.sqrt(400)) < 1e-6
