"""Closed-form Gaussian teacher-student risk: against Monte Carlo, autodiff and finite differences."""

import jax
import numpy as np
import pytest

from cellscape.gaussian import (
    population_gradient,
    population_hessian,
    population_risk,
    relu_kernel,
    risk_and_gradient,
    trainable_risk,
)


def test_kernel_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1_000_000, 3))
    for _ in range(3):
        a, b = rng.normal(size=3), rng.normal(size=3)
        samples = np.maximum(x @ a, 0) * np.maximum(x @ b, 0)
        se = samples.std() / np.sqrt(len(samples))
        assert abs(float(relu_kernel(a, b)) - samples.mean()) < 5 * se
    assert np.isclose(float(relu_kernel(a, a)), a @ a / 2, rtol=1e-14)
    assert np.isclose(float(relu_kernel(a, -a)), 0.0, atol=1e-15)


def test_risk_matches_monte_carlo_of_the_networks():
    rng = np.random.default_rng(1)
    W, V = rng.normal(size=(3, 4)), np.eye(4)[:2]
    x = rng.standard_normal((1_000_000, 4))
    err = 0.5 * (np.maximum(x @ W.T, 0).sum(1) - np.maximum(x @ V.T, 0).sum(1)) ** 2
    assert abs(float(population_risk(W, V)) - err.mean()) < 5 * err.std() / np.sqrt(len(err))


def test_gradient_closed_form_autodiff_and_finite_differences_agree():
    rng = np.random.default_rng(2)
    V = np.eye(5)
    for _ in range(3):
        W = rng.normal(size=(6, 5)) / np.sqrt(5)
        closed = population_gradient(W, V)
        auto = np.asarray(jax.grad(lambda w: population_risk(w, V))(W))
        np.testing.assert_allclose(closed, auto, rtol=1e-12, atol=1e-14)
        h, E = 1e-6, np.zeros_like(W)
        E[2, 3] = 1.0
        fd = (float(population_risk(W + h * E, V)) - float(population_risk(W - h * E, V))) / (2 * h)
        assert np.isclose(fd, closed[2, 3], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("at_teacher", [False, True])
def test_hessian_matches_differences_of_the_gradient(at_teacher):
    """Also at the global minimum W = V, where every student unit is parallel to a teacher unit."""
    rng = np.random.default_rng(3)
    V = np.eye(4)
    W = V.copy() if at_teacher else rng.normal(size=(4, 4)) / 2
    H = population_hessian(W, V)
    assert np.all(np.isfinite(H)) and np.allclose(H, H.T, atol=1e-12)
    h = 1e-6
    for col in range(0, 16, 3):
        E = np.zeros(16)
        E[col] = h
        fd = (population_gradient(W + E.reshape(4, 4), V) - population_gradient(W - E.reshape(4, 4), V)) / (2 * h)
        np.testing.assert_allclose(H[:, col], fd.reshape(-1), rtol=1e-5, atol=1e-7)
    if at_teacher:
        assert float(population_risk(W, V)) == 0.0 and np.allclose(population_gradient(W, V), 0, atol=1e-15)
        assert np.linalg.eigvalsh(H).min() > 1e-3  # strongly convex at the global minimum when n = k


def test_batched_closed_form_matches_the_references():
    rng = np.random.default_rng(3)
    V = np.eye(4)
    W = rng.standard_normal((5, 6, 4))  # five students with n = 6 > k = 4
    F, G = risk_and_gradient(W, V)
    for b in range(5):
        assert float(F[b]) == pytest.approx(float(population_risk(W[b], V)), rel=1e-13)
        np.testing.assert_allclose(G[b], population_gradient(W[b], V), rtol=1e-12, atol=1e-14)
    auto = jax.grad(lambda w: population_risk(w, V).sum())(W)
    custom = jax.grad(lambda w: trainable_risk(w, V).sum())(W)
    np.testing.assert_allclose(custom, auto, rtol=1e-11, atol=1e-13)
    F32, G32 = risk_and_gradient(W.astype(np.float32), V)
    assert F32.dtype == np.float32 and G32.dtype == np.float32
    np.testing.assert_allclose(G32, G, rtol=1e-3, atol=1e-5)
