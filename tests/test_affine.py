"""Tests of cellscape.affine: the best affine predictor for every loss."""

from __future__ import annotations

import json
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings, strategies as st

from cellscape.affine import AffineFit, best_affine_fit, design_rank
from cellscape.exceptions import ExactArithmeticError, InvalidInputError
from cellscape.losses import parse_loss, risk
from cellscape.networks import mlp

THREE_X = [[1, 0], [0, 1], [Fraction(1, 2), Fraction(1, 2)]]
THREE_Y = [0, 0, 1]


def mean_risk(loss: str, X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The risks of a batch of affine maps (``W`` of shape ``(B, k, d)``, ``b`` of shape ``(B, k)``) through
    the network code: an affine net is ``mlp(d, [], k)``."""
    arch = mlp(X.shape[1], [], W.shape[1])
    return np.asarray(risk(arch, [(W, b)], X, y, loss=loss))


def assert_no_perturbation_lowers(fit: AffineFit, X, y, *, seed: int = 0, atol: float = 1e-12) -> None:
    """Evidence of optimality for a convex risk: random perturbations at several scales never lower it."""
    rng = np.random.default_rng(seed)
    scales = np.repeat([0.0, 1e-6, 1e-4, 1e-2, 1.0], 40)  # the first 40 are the fit itself
    dW = scales[:, None, None] * rng.standard_normal((scales.size, *fit.weights.shape))
    db = scales[:, None] * rng.standard_normal((scales.size, *fit.bias.shape))
    values = mean_risk(fit.loss, X, y, fit.weights + dW, fit.bias + db)
    np.testing.assert_allclose(values[0], fit.risk, rtol=1e-12, atol=1e-15)
    assert np.all(values >= values[0] - atol)


# -------------------------------------------------------------------------------- squared, exact
def test_three_point_exact():
    fit = best_affine_fit(THREE_X, THREE_Y, exact=True)
    assert fit.risk_exact == Fraction(1, 9)
    assert 3 * fit.risk_exact == Fraction(1, 3)  # half the sum of squared errors
    assert fit.rank == 2 and fit.weights_exact is not None and fit.bias_exact is not None
    # predictions of the exact fit: the constant 1/3 on the three collinear points
    for x in THREE_X:
        prediction = sum(w * xi for w, xi in zip(fit.weights_exact[0], x, strict=True)) + fit.bias_exact[0]
        assert prediction == Fraction(1, 3)
    assert abs(fit.risk - 1 / 9) < 1e-15


def test_three_point_float():
    fit = best_affine_fit(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), np.array([0.0, 0.0, 1.0]))
    assert fit.rank == 2 and fit.risk_exact is None
    np.testing.assert_allclose(fit.risk, 1 / 9, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.predict([[1.0, 0.0]]), [[1 / 3]], rtol=0, atol=1e-12)
    assert design_rank([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]) == 2
    # strings and floats mix in exact mode; floats are exact binary values
    mixed = best_affine_fit([[1.0, 0], [0, "1"], ["1/2", 0.5]], ["0", 0.0, 1], exact=True)
    assert mixed.risk_exact == Fraction(1, 9)
    X_jax, y_jax = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), jnp.asarray([0.0, 0.0, 1.0])
    jax_arrays = best_affine_fit(X_jax, y_jax, exact=True)
    assert jax_arrays.risk_exact == Fraction(1, 9)


@st.composite
def rational_problems(draw):
    """Small rational least-squares problems, sometimes with a repeated input column (rank deficient)."""
    n = draw(st.integers(1, 7))
    d = draw(st.integers(1, 3))
    k = draw(st.integers(1, 2))
    frac = st.builds(Fraction, st.integers(-9, 9), st.integers(1, 5))
    X = [[draw(frac) for _ in range(d)] for _ in range(n)]
    if draw(st.booleans()):
        X = [row + [2 * row[0]] for row in X]
    y = [[draw(frac) for _ in range(k)] for _ in range(n)]
    return X, y


@settings(max_examples=40, deadline=None)
@given(problem=rational_problems())
def test_exact_least_squares_normal_equations(problem):
    X, y = problem
    n, d, k = len(X), len(X[0]), len(y[0])
    fit = best_affine_fit(X, y, exact=True)
    B = [row + [Fraction(1)] for row in X]
    coef = [fit.weights_exact[o] + [fit.bias_exact[o]] for o in range(k)]
    residual = [[sum(b * c for b, c in zip(B[i], coef[o], strict=True)) - y[i][o] for o in range(k)]
                for i in range(n)]
    # normal equations B^T (B c - y) = 0, exactly
    for j in range(d + 1):
        for o in range(k):
            assert sum(B[i][j] * residual[i][o] for i in range(n)) == 0
    assert fit.risk_exact == sum(r * r for row in residual for r in row) / (2 * n)
    assert fit.rank == np.linalg.matrix_rank(np.array(B, dtype=float))
    # the float least squares finds the same risk and the same predictions
    Xf, yf = np.array(X, dtype=float), np.array(y, dtype=float)
    float_fit = best_affine_fit(Xf, yf)
    assert float_fit.rank == fit.rank
    np.testing.assert_allclose(float_fit.risk, float(fit.risk_exact), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float_fit.predict(Xf), fit.predict(Xf), rtol=1e-9, atol=1e-9)


def test_exact_from_floats_matches_float_fit():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    exact = best_affine_fit(X, y, exact=True)
    fit = best_affine_fit(X, y)
    assert exact.rank == fit.rank == 4
    np.testing.assert_allclose(fit.risk, float(exact.risk_exact), rtol=1e-12)
    np.testing.assert_allclose(fit.weights, exact.weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.bias, exact.bias, rtol=1e-10, atol=1e-12)
    summary = json.loads(json.dumps(exact.to_dict()))
    assert Fraction(summary["risk_exact"]) == exact.risk_exact


def test_exact_needs_squared_loss():
    with pytest.raises(ExactArithmeticError, match="squared loss"):
        best_affine_fit(THREE_X, THREE_Y, loss="absolute", exact=True)


# -------------------------------------------------------------------------------- linear programs
def test_absolute_constant_fit_is_the_median():
    y = np.array([0.0, 1.0, 5.0, 2.0, 9.0])
    fit = best_affine_fit(np.zeros((5, 1)), y, loss="absolute")
    np.testing.assert_allclose(fit.bias, [2.0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(fit.risk, np.mean(np.abs(y - 2.0)), rtol=1e-12)


def test_absolute_lp_is_optimal():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(25, 2))
    y = np.column_stack([X @ [1.0, -2.0] + rng.standard_t(2, size=25), rng.normal(size=25)])
    fit = best_affine_fit(X, y, loss="absolute")
    assert fit.attained and fit.weights.shape == (2, 2) and fit.bias.shape == (2,)
    assert_no_perturbation_lowers(fit, X, y)

    def objective(theta):  # the same risk, minimised from several starts by a derivative-free method
        W, b = theta[:4].reshape(2, 2), theta[4:]
        return np.mean(np.sum(np.abs(X @ W.T + b - y), axis=1))

    for start in rng.normal(size=(3, 6)):
        res = scipy.optimize.minimize(objective, start, method="Powell",
                                      options={"xtol": 1e-10, "ftol": 1e-12})
        assert fit.risk <= res.fun + 1e-12


def test_hinge_lp():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    separable = np.where(X @ [1.0, 0.5] + 0.2 > 0, 1.0, -1.0)
    assert abs(best_affine_fit(X, separable, loss="hinge").risk) < 1e-12
    noisy = np.where(rng.uniform(size=30) < 0.5, 1.0, -1.0)
    fit = best_affine_fit(X, noisy, loss="hinge")
    assert 0 < fit.risk <= 1.0 + 1e-12  # the zero map has risk 1
    assert_no_perturbation_lowers(fit, X, noisy)


@pytest.mark.parametrize("loss", ["weston_watkins", "crammer_singer"])
def test_multiclass_hinge_lp(loss):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(24, 2))
    labels = rng.integers(0, 3, size=24)
    fit = best_affine_fit(X, labels, loss=loss)
    assert fit.weights.shape == (3, 2)
    assert_no_perturbation_lowers(fit, X, labels)
    assert best_affine_fit(X, labels, loss=loss, n_classes=4).weights.shape == (4, 2)


# -------------------------------------------------------------------------------- smooth losses
def test_huber_between_absolute_and_squared():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 1))
    y = 2.0 * X[:, 0] + rng.standard_t(2, size=20)
    fit = best_affine_fit(X, y, loss="huber:0.5")
    assert fit.attained
    assert_no_perturbation_lowers(fit, X, y)
    # with a threshold above every residual, Huber is the squared loss
    wide = best_affine_fit(X, y, loss="huber:1000")
    np.testing.assert_allclose(wide.risk, best_affine_fit(X, y).risk, rtol=1e-10)


def test_logistic_attained_on_overlapping_data():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(30, 2))
    y = np.where(X[:, 0] + rng.normal(size=30) > 0, 1.0, -1.0)
    fit = best_affine_fit(X, y, loss="logistic")
    assert fit.attained and fit.direction is None and 0 < fit.risk < np.log(2)
    assert_no_perturbation_lowers(fit, X, y)


def test_logistic_separable_not_attained():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([-1.0, -1.0, 1.0, 1.0])
    fit = best_affine_fit(X, y, loss="logistic")
    assert not fit.attained and fit.risk == 0.0 and "separable" in fit.message
    direction = fit.direction
    assert direction.shape == (1, 2)
    assert np.all(y * (X[:, 0] * direction[0, 0] + direction[0, 1]) > 0)


def test_logistic_partly_separable_infimum():
    # samples on x2 = 0 overlap; the sample at x2 = 1 can be pushed to loss 0 along e_2
    X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    y = np.array([-1.0, 1.0, -1.0, 1.0, 1.0])
    fit = best_affine_fit(X, y, loss="logistic")
    assert not fit.attained and "partly separable" in fit.message
    overlap = best_affine_fit(X[:4, :1], y[:4], loss="logistic")
    np.testing.assert_allclose(fit.risk, 4 / 5 * overlap.risk, rtol=1e-9)
    dW, db = fit.direction[:, :-1], fit.direction[:, -1]
    t = np.array([0.0, 1.0, 3.0, 40.0])
    values = mean_risk("logistic", X, y, fit.weights + t[:, None, None] * dW, fit.bias + t[:, None] * db)
    assert values[0] > values[1] > values[2] > fit.risk
    np.testing.assert_allclose(values[3], fit.risk, rtol=1e-12)


def test_cross_entropy():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 2))
    labels = rng.integers(0, 3, size=30)
    fit = best_affine_fit(X, labels, loss="cross_entropy")
    assert fit.attained and fit.weights.shape == (3, 2)
    assert_no_perturbation_lowers(fit, X, labels)
    ordered = np.digitize(X[:, 0], [-0.5, 0.5])  # three classes separated along x_1
    separated = best_affine_fit(X, ordered, loss="cross_entropy")
    assert not separated.attained and separated.risk == 0.0


# -------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("X", "y", "kwargs", "param"),
    [
        (np.zeros(3), np.zeros(3), {}, "X"),
        (np.zeros((0, 1)), np.zeros(0), {}, "X"),
        (np.zeros((3, 1)), np.zeros(4), {}, "y"),
        (np.zeros((3, 1)), [0.0, np.nan, 1.0], {}, "y"),
        (np.zeros((3, 1)), [1.0, 0.0, -1.0], {"loss": "hinge"}, "y"),
        (np.zeros((3, 1)), [0, 1, 3], {"loss": "crammer_singer", "n_classes": 3}, "y"),
        (np.zeros((3, 1)), [0.0, 1.0, 1.0], {"n_classes": 2}, "n_classes"),
        (np.zeros((3, 1)), [0.0, 1.0, 1.0], {"loss": "quadratic"}, "loss"),
        ([["1/2"], ["x"], [1]], [0, 1, 1], {"exact": True}, "X"),
        ([[0.0], [1.0]], [0, 1], {"exact": "yes"}, "exact"),
    ],
)
def test_errors_name_the_parameter(X, y, kwargs, param):
    with pytest.raises(InvalidInputError, match=f"`{param}` of `(best_affine_fit|parse_loss|Loss)`") as info:
        best_affine_fit(X, y, **kwargs)
    assert "\n" not in str(info.value)


def test_fit_summary_and_predict():
    fit = best_affine_fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    summary = json.loads(json.dumps(fit.to_dict()))
    assert summary["loss"] == "squared" and summary["rank"] == 2 and summary["attained"]
    assert fit.d_in == 1 and fit.d_out == 1
    np.testing.assert_allclose(fit.predict([[3.0]]), [[7.0]], rtol=1e-12)
    with pytest.raises(InvalidInputError, match="`X` of `AffineFit.predict`"):
        fit.predict([[1.0, 2.0]])
    assert parse_loss(fit.loss).spec == "squared"
