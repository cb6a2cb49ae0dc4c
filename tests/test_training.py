import numpy as np
import pytest

from cellscape import InvalidInputError, flatten_params, init_params, mlp
from cellscape.training import gradient_descent


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    return X, np.abs(X) + 0.1 * rng.normal(size=(n, 1))


def test_affine_model_reaches_least_squares():
    X, y = _data()
    arch = mlp(1, [], 1)
    result = gradient_descent(arch, init_params(arch, batch=3, seed=0), X, y, lr=0.2, steps=3000)
    A = np.hstack([X, np.ones_like(X)])
    coef, *_ = np.linalg.lstsq(A, y[:, 0], rcond=None)
    best = 0.5 * np.mean((A @ coef - y[:, 0]) ** 2)
    np.testing.assert_allclose(result.risk, best, rtol=1e-10)
    assert np.all(result.grad_norm < 1e-8)


def test_batch_equals_networks_trained_alone_and_is_reproducible():
    X, y = _data()
    arch = mlp(1, [6], 1)
    params = init_params(arch, batch=4, seed=3)
    together = gradient_descent(arch, params, X, y, lr=0.05, steps=300, chunk=70)
    again = gradient_descent(arch, params, X, y, lr=0.05, steps=300, chunk=70)
    assert np.array_equal(flatten_params(arch, together.params), flatten_params(arch, again.params))
    for b in range(4):
        alone = gradient_descent(arch, params[b], X, y, lr=0.05, steps=300)
        np.testing.assert_allclose(flatten_params(arch, alone.params)[0],
                                   flatten_params(arch, together.params)[b], rtol=1e-11, atol=1e-13)
    assert np.all(together.steps == 300)


def test_gtol_stops_networks_individually():
    X, y = _data()
    arch = mlp(1, [], 1)
    result = gradient_descent(arch, init_params(arch, batch=2, seed=0), X, y, lr=0.2, steps=5000, gtol=1e-6)
    assert np.all(result.converged) and np.all(result.steps < 5000) and np.all(result.grad_norm <= 1e-6)


def test_divergence_is_reported_not_hidden():
    X, y = _data()
    arch = mlp(1, [4], 1)
    result = gradient_descent(arch, init_params(arch, batch=2, seed=0), X, y, lr=100.0, steps=200)
    assert np.all(result.diverged)
    assert np.all(np.isfinite(flatten_params(arch, result.params)))


def test_bad_step_size():
    X, y = _data()
    arch = mlp(1, [2], 1)
    with pytest.raises(InvalidInputError, match="`lr`"):
        gradient_descent(arch, init_params(arch), X, y, lr=0.0)
