from fractions import Fraction

import numpy as np
import pytest

import cellscape as cs
from cellscape.constructions import linear_region_minimum, valley_path
from cellscape.exceptions import CellscapeError

PWL = "pwl:-1,1/2,2:1/10,1,-3/10,7/10:0"  # theory 7.2, He-1: breakpoints (-1, 0.5, 2), slopes (0.1, 1, -0.3, 0.7)


def _he1_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.stack([np.sin(2 * X[:, 0]) + X[:, 1] ** 2, np.abs(X[:, 2])], axis=1)
    return X, y


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber:1/2"])
def test_deep_general_activation_vector_output(loss):
    X, y = _he1_data()
    built = linear_region_minimum(X, y, hidden=[4, 5, 3], activation=PWL, loss=loss)
    # risk equals the best affine risk, computed independently
    assert built.risk == pytest.approx(built.affine_fit.risk, rel=1e-10)
    # every pre-activation lies strictly inside the chosen piece
    pattern = cs.activation_pattern(built.arch, built.params, X)
    assert all(np.all(p == built.piece) for p in pattern.pieces)
    assert built.certificate.is_minimum, built.certificate.message
    assert built.witness is not None and built.witness.risk < built.risk
    assert float(cs.risk(built.arch, built.witness.params, X, y, loss=loss)[0]) == built.witness.risk
    # the valley: other scales give the same outputs, pattern and risk
    path = valley_path(built, [built.alpha * f for f in (0.25, 0.5, 0.75, 1.0)])
    risks = [float(cs.risk(built.arch, cs.as_params(built.arch, layers), X, y, loss=loss)[0]) for layers in path]
    np.testing.assert_allclose(risks, built.risk, rtol=1e-12)
    cells = {cs.activation_pattern(built.arch, cs.as_params(built.arch, layers), X).cell(0) for layers in path}
    assert len(cells) == 1


@pytest.mark.parametrize("activation", ["relu", "leaky_relu:1/10", "abs", "hardtanh", "pwl:0,1:1,3,-1:0"])
def test_exact_one_hidden_layer_minima_and_witnesses(activation):
    data = cs.load_data("builtin:nonaffine", seed=0, n_samples=16)
    built = linear_region_minimum(data.X, data.y, hidden=[3], activation=activation, exact=True)
    exact_fit = cs.best_affine_fit(data.X, data.y, exact=True)
    assert built.risk_exact == exact_fit.risk_exact  # the best affine risk, exactly
    assert built.certificate.is_minimum and built.certificate.arithmetic.value == "exact"
    assert built.witness is not None and built.witness.risk_exact < built.risk_exact  # spurious, exactly
    path = valley_path(built, [Fraction(1, 64), Fraction(3, 128), built.alpha])
    assert {cs.risk_exact(built.arch, layers, data.X, data.y) for layers in path} == {built.risk_exact}


def test_three_point_set_half_sse_one_third_and_a_better_point():
    three = cs.load_data("builtin:three-point")
    built = linear_region_minimum(three.X_exact, three.y_exact, hidden=[2], exact=True)
    assert 3 * built.risk_exact == Fraction(1, 3)
    assert built.certificate.is_minimum and built.certificate.arithmetic.value == "exact"
    # the fitted values are all 1/3, so no kink of them helps: the witness comes from optimisation, checked
    assert built.witness is not None and built.witness.component == -1
    assert built.witness.risk_exact < built.risk_exact


@pytest.mark.parametrize(("loss", "name"), [("logistic", "spirals"), ("cross_entropy", "xor")])
def test_classification_losses_where_the_affine_optimum_is_attained(loss, name):
    data = cs.load_data(f"builtin:{name}", seed=0)
    y = data.y if loss == "logistic" else (data.y > 0.5).astype(float)
    if loss == "cross_entropy":
        y = y.astype(int).astype(float)  # class indices 0/1
    built = linear_region_minimum(data.X, y, hidden=[3], loss=loss)
    assert built.affine_fit.attained
    assert built.risk == pytest.approx(built.affine_fit.risk, rel=1e-8)
    assert built.certificate.is_minimum, built.certificate.message


def test_refusals_name_the_reason():
    data = cs.load_data("builtin:nonaffine", seed=0)
    with pytest.raises(CellscapeError, match="linear"):
        linear_region_minimum(data.X, data.y, hidden=[3], activation="identity")
    separable = cs.load_data("builtin:separable", seed=0)
    with pytest.raises(CellscapeError, match="not attained"):
        linear_region_minimum(separable.X, separable.y, hidden=[3], loss="logistic")
    with pytest.raises(CellscapeError, match="leaves the piece"):
        linear_region_minimum(data.X, data.y, hidden=[3], activation="hardtanh", alpha=100)
