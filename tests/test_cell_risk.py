import jax
import numpy as np
import pytest

from cellscape import InvalidInputError, flatten_params, init_params, mlp, unflatten_params
from cellscape.cell_risk import restrict_to_cell
from cellscape.losses import risk, risk_exact


def _setup(loss="squared", hidden=(5, 4), d_out=2, seed=0, activation="leaky_relu:1/10"):
    rng = np.random.default_rng(seed)
    arch = mlp(3, list(hidden), d_out, activation=activation)
    params = init_params(arch, batch=2, seed=seed)
    X = rng.normal(size=(12, 3))
    if loss in ("hinge", "logistic"):
        y = rng.choice([-1.0, 1.0], size=(12, 1))
    elif loss in ("weston_watkins", "crammer_singer", "cross_entropy"):
        y = rng.integers(0, d_out, size=(12, 1)).astype(float)
    else:
        y = rng.normal(size=(12, d_out))
    return arch, params, X, y


LOSSES = ["squared", "absolute", "huber:1/2", "weston_watkins", "crammer_singer", "cross_entropy"]


@pytest.mark.parametrize("loss", LOSSES)
def test_cell_risk_equals_risk_gradient_and_exact_value(loss):
    arch, params, X, y = _setup(loss, d_out=3 if loss in LOSSES[3:] else 2)
    cr = restrict_to_cell(arch, params, X, y, loss=loss)
    np.testing.assert_allclose(cr(params), risk(arch, params, X, y, loss=loss), rtol=1e-13)
    true_grad = jax.grad(lambda p: risk(arch, p, X, y, loss=loss).sum())(params.numpy())
    np.testing.assert_allclose(flatten_params(arch, cr.grad(params)), flatten_params(arch, true_grad),
                               rtol=1e-12, atol=1e-14)
    if cr.loss.is_exact:
        for b in range(2):
            exact = cr.risk_exact(params, index=b)
            assert exact == risk_exact(arch, params[b], X, y, loss=loss)
            assert float(exact) == pytest.approx(float(cr(params)[b]), rel=1e-13)


@pytest.mark.parametrize("chunk_size", [1, 7, 10_000])
def test_chunked_hessian_matches_dense_autodiff(chunk_size):
    arch, params, X, y = _setup("squared", hidden=(3,), d_out=1)
    cr = restrict_to_cell(arch, params, X, y)
    H = cr.hessian(params, chunk_size=chunk_size)
    for b in range(2):
        cr_b = restrict_to_cell(arch, params[b], X, y)
        flat = np.asarray(flatten_params(arch, params[b].numpy()))[0]
        dense = jax.hessian(lambda t, f=cr_b: f(unflatten_params(arch, t[None]))[0])(flat)
        np.testing.assert_allclose(H[b], dense, rtol=1e-12, atol=1e-13)
        assert np.array_equal(H[b], H[b].T)


def test_cell_risk_is_the_polynomial_continuation_outside_the_cell():
    # along a line through the cell the restricted squared risk is a polynomial of degree <= 2L in the step,
    # while the true risk is not (it kinks when the line leaves the cell)
    arch, params, X, y = _setup("squared", hidden=(4,), d_out=1)
    cr = restrict_to_cell(arch, params[0], X, y)
    rng = np.random.default_rng(1)
    direction = rng.normal(size=arch.n_params)
    flat = np.asarray(flatten_params(arch, params[0].numpy()))[0]
    ts = np.linspace(-3, 3, 9)
    cell_values = [float(cr(unflatten_params(arch, (flat + t * direction)[None]))[0]) for t in ts]
    true_values = [float(risk(arch, unflatten_params(arch, (flat + t * direction)[None]), X, y)[0]) for t in ts]
    fit = np.polynomial.polynomial.Polynomial.fit(ts, cell_values, deg=4)
    np.testing.assert_allclose(fit(ts), cell_values, rtol=1e-9)
    assert not np.allclose(cell_values, true_values)  # the line leaves the cell


def test_hinge_cell_risk_is_harmonic():
    # LvB18: with ReLU and hinge loss the cell risk is multilinear, so its Laplacian (Hessian trace) is 0
    arch, params, X, y = _setup("hinge", hidden=(3,), d_out=1, activation="relu")
    cr = restrict_to_cell(arch, params, X, y, loss="hinge")
    H = cr.hessian(params)
    for b in range(2):
        assert abs(np.trace(H[b])) < 1e-13
        assert np.abs(H[b]).max() > 1e-3
        assert np.all(np.diag(H[b]) == 0)


def test_batch_size_mismatch():
    arch, params, X, y = _setup()
    cr = restrict_to_cell(arch, params, X, y)
    with pytest.raises(InvalidInputError, match="`params`"):
        cr(params[0])
