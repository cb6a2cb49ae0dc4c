"""The plane kernels: the row sweep equals the forward pass at every grid point (to rounding) and on every cell,
for every kind of network it takes; neither threads, batches, sample blocks nor BLAS blocking change a bit."""

import numpy as np
import pytest

import cellscape.plane_grid as plane_grid
from cellscape import init_params, mlp
from cellscape.losses import parse_loss, risk
from cellscape.networks import flatten_params, unflatten_params
from cellscape.plane_grid import evaluate_grid, evaluate_points, labels
from cellscape.slices import random_direction

RNG = np.random.default_rng(3)
X = RNG.normal(size=(15, 2))
Y = np.tanh(X[:, :1] - X[:, 1:])
LABELS = np.where(X[:, :1] > 0, 1.0, -1.0)
TARGETS_2 = np.stack([np.tanh(X[:, 0]), X[:, 1] ** 2], axis=1)
CLASSES = (X[:, :1] > 0).astype(float) + (X[:, 1:] > 0.5)


def plane(arch, seed=0, biases=True):
    theta = init_params(arch, seed=seed)
    d1, d2 = (random_direction(arch, theta, include_biases=biases, seed=seed + k) for k in (1, 2))
    return np.asarray(flatten_params(arch, theta))[0], d1, d2


def both(arch, loss, y, alpha, beta, vectors, **options):
    """The row sweep's and the point kernel's risk ``(rows, cols)`` and labels."""
    loss = parse_loss(loss)
    risk_sweep, codes = evaluate_grid(arch, loss, *vectors, X, y, alpha, beta, **options)
    A, B = np.meshgrid(alpha, beta)
    risk_points, point_codes = evaluate_points(arch, loss, *vectors, X, y, A.ravel(), B.ravel())
    return (risk_sweep, labels(codes.reshape(-1, 2))), (risk_points.reshape(A.shape), labels(point_codes))


@pytest.mark.parametrize("arch, loss, y", [
    (mlp(2, [6, 5], 1), "squared", Y),  # the fused path: ReLU second layer, one output
    (mlp(2, [6, 5], 2), "squared", TARGETS_2),
    (mlp(2, [4, 3], 2, activation=["leaky_relu:0.1", "pwl:-1,0.5:0.2,1,-0.5:0.1"], bias=[True, False, True]),
     "huber:1", TARGETS_2),
    (mlp(2, [5, 4], 1, activation=["hardtanh", "relu"], bias=[False, True, False]), "hinge", LABELS),
    (mlp(2, [7], 1), "squared", Y),  # one hidden layer: the second layer is the output
    (mlp(2, [5], 3, activation="hardtanh"), "crammer_singer", CLASSES),
    (mlp(2, [4, 2], 1, activation=["abs", "identity"]), "absolute", Y),
])
def test_the_sweep_equals_the_forward_pass_at_every_point_and_on_every_cell(arch, loss, y):
    alpha, beta = np.linspace(-2.0, 2.0, 23), np.linspace(-1.5, 1.5, 17)
    (r_sweep, l_sweep), (r_points, l_points) = both(arch, loss, y, alpha, beta, plane(arch))
    np.testing.assert_allclose(r_sweep, r_points, rtol=1e-12, atol=1e-14)
    assert np.array_equal(l_sweep, l_points)
    assert l_sweep.max() > 5  # the window crosses many boundaries
    A, B = np.meshgrid(alpha, beta)
    theta, d1, d2 = plane(arch)
    vectors = theta + A.ravel()[:, None] * d1 + B.ravel()[:, None] * d2
    expected = np.asarray(risk(arch, unflatten_params(arch, vectors), X, y, loss=loss))
    np.testing.assert_allclose(r_sweep.ravel(), expected, rtol=1e-12, atol=1e-14)


def test_unequal_spacing_a_single_row_and_deeper_networks():
    arch = mlp(2, [5, 4], 1)
    alpha = np.concatenate([-np.geomspace(3.0, 1e-3, 9), np.geomspace(1e-3, 3.0, 13)])
    (r_sweep, l_sweep), (r_points, l_points) = both(arch, "squared", Y, alpha, np.zeros(1), plane(arch))
    np.testing.assert_allclose(r_sweep, r_points, rtol=1e-12, atol=1e-14)
    assert np.array_equal(l_sweep, l_points) and l_sweep.max() > 3
    deep = mlp(2, [4, 3, 3], 1)  # three hidden layers: the forward-pass kernel, checked against risk
    theta, d1, d2 = plane(deep)
    grid, _ = evaluate_grid(deep, parse_loss("squared"), theta, d1, d2, X, Y, alpha[::2], alpha[::3])
    A, B = np.meshgrid(alpha[::2], alpha[::3])
    vectors = theta + A.ravel()[:, None] * d1 + B.ravel()[:, None] * d2
    expected = np.asarray(risk(deep, unflatten_params(deep, vectors), X, Y, loss="squared"))
    np.testing.assert_allclose(grid.ravel(), expected, rtol=1e-12, atol=1e-14)


def test_exact_zeros_stay_zero_so_a_dead_unit_draws_no_boundary():
    """A second-layer unit with zero weights and zero directions has pre-activation exactly 0 everywhere: the
    sweep's updates add exact zeros, so its bit never flickers and the cells are the forward pass's."""
    arch = mlp(2, [6, 4], 1)
    theta, d1, d2 = plane(arch)
    w_at = 6 * 2 + 6  # layer 2's weights, after layer 1's weights and biases
    for v in (theta, d1, d2):
        v[w_at:w_at + 6] = 0.0  # unit 0 of layer 2: no weights
        v[w_at + 24] = 0.0  # nor bias
    alpha, beta = np.linspace(-2.0, 2.0, 19), np.linspace(-2.0, 2.0, 19)
    (r_sweep, l_sweep), (r_points, l_points) = both(arch, "squared", Y, alpha, beta, (theta, d1, d2))
    assert np.array_equal(l_sweep, l_points)
    np.testing.assert_allclose(r_sweep, r_points, rtol=1e-12, atol=1e-14)


def test_threads_batches_sample_blocks_and_blas_blocks_do_not_change_a_bit(monkeypatch):
    arch = mlp(2, [6, 5], 2)
    vectors = plane(arch)
    alpha, beta = np.linspace(-2.0, 2.0, 13), np.linspace(-2.0, 2.0, 11)
    loss = parse_loss("squared")
    whole = evaluate_grid(arch, loss, *vectors, X, TARGETS_2, alpha, beta)
    runs = [evaluate_grid(arch, loss, *vectors, X, TARGETS_2, alpha, beta, chunk=c) for c in (1, 5, 1000)]
    monkeypatch.setattr(plane_grid, "_MAX_WORKERS", 1)  # one thread
    runs.append(evaluate_grid(arch, loss, *vectors, X, TARGETS_2, alpha, beta))
    monkeypatch.setattr(plane_grid, "_SWEEP_BLOCK_BYTES", 24 * 5 * 4)  # blocks of 4 samples
    runs.append(evaluate_grid(arch, loss, *vectors, X, TARGETS_2, alpha, beta, chunk=3))
    for risk_run, codes in runs:  # a row is computed by the same operations whatever its thread and batches
        assert np.array_equal(risk_run, whole[0])
        assert np.array_equal(codes, whole[1])
    assert labels(whole[1].reshape(-1, 2)).max() > 3
    monkeypatch.setattr(plane_grid, "_BLAS_BLOCK", 40)  # the row's products in blocks of one sample
    blocked, codes = evaluate_grid(arch, loss, *vectors, X, TARGETS_2, alpha, beta)
    np.testing.assert_allclose(blocked, whole[0], rtol=1e-13, atol=0)  # BLAS may sum a row otherwise
    assert np.array_equal(codes, whole[1])
